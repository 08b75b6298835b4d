//! PAdES signatures (ETSI.CAdES.detached): the PDF gets a signature field and a signature
//! dictionary as an incremental update (the signed revision stays byte for byte in the file, so
//! signatures already in it stay valid), the byte ranges around the `/Contents` placeholder are
//! hashed with SHA-256, and a CMS SignedData with the signed attributes PAdES baseline asks for
//! (content-type, message-digest, signing-certificate-v2) is written into the placeholder.
//!
//! The signer is anything that can produce the CMS for a digest ([`CmsSigner`]): the local
//! certificate here, the BSrE service later.

use crate::latin1;
use der::asn1::{OctetString, SetOfVec};
use der::{Decode, Encode};
use lopdf::{
    Dictionary, Document, IncrementalDocument, Object, ObjectId, Stream, StringFormat, dictionary,
};
use sha2::{Digest, Sha256};

use crate::keys::SigningIdentity;

/// Room reserved for the CMS blob (bytes). A 2048-bit RSA signature with a two-certificate chain
/// is about 2.5 KB; a timestamp token adds about 5 KB.
pub const CMS_RESERVED: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the PDF cannot be read: {0}")]
    Read(String),
    #[error("the PDF has no page {0}")]
    NoPage(u32),
    #[error("writing the signed revision failed: {0}")]
    Write(String),
    #[error("building the CMS signature failed: {0}")]
    Cms(String),
    #[error("the CMS signature ({0} bytes) does not fit the reserved space")]
    TooLarge(usize),
}

/// What is written into the signature dictionary.
#[derive(Debug, Clone)]
pub struct SignatureInfo {
    /// The signer's name (`/Name`).
    pub name: String,
    /// `/Reason`, e.g. "Persetujuan izin".
    pub reason: String,
    /// `/Location`.
    pub location: String,
    /// `/M`, the claimed signing time.
    pub time: chrono::DateTime<chrono::FixedOffset>,
    /// A visible box on the signed page (name, role, time); `None` for an invisible signature.
    pub visible: Option<VisibleSignature>,
}

/// Where and how the signature shows on the page.
#[derive(Debug, Clone, PartialEq)]
pub struct VisibleSignature {
    /// The preferred box, `[x1, y1, x2, y2]` in points from the bottom-left corner of the page as
    /// displayed; moved to the nearest free place when content is there.
    pub rect: [f32; 4],
    /// The signer's position, e.g. "Kepala DPMPTSP Kabupaten Karo".
    pub role: String,
}

impl VisibleSignature {
    /// Bottom right of the page, above the margin, 6 cm × 1.6 cm.
    pub fn bottom_right(role: &str) -> Self {
        VisibleSignature {
            rect: [370.0, 60.0, 540.0, 106.0],
            role: role.to_string(),
        }
    }
}

/// Where the visible box goes on page `page_id`: its `/Rect` in user space and the appearance's
/// `/Matrix` that keeps it upright on a turned page; `None` when the page has no free place.
fn box_spot(
    doc: &Document,
    page_id: ObjectId,
    v: &VisibleSignature,
) -> Option<([f64; 4], [f64; 6])> {
    use crate::placement::{Spot, find_spot, page_marks, page_view};
    let view = page_view(doc, page_id);
    let w = f64::from((v.rect[2] - v.rect[0]).abs());
    let h = f64::from((v.rect[3] - v.rect[1]).abs());
    let spot = find_spot(
        &view,
        &page_marks(doc, page_id),
        w,
        h,
        f64::from(v.rect[0].min(v.rect[2])),
        f64::from(v.rect[1].min(v.rect[3])),
    );
    if let Spot::Covering { .. } = spot {
        return None;
    }
    let (x, y) = spot.at();
    let r = view.user_rect(x, y, w, h);
    let m = view.draw_at(x, y).0;
    Some(([r.x0, r.y0, r.x1, r.y1], [m[0], m[1], m[2], m[3], 0.0, 0.0]))
}

/// The widget's appearance: a thin frame and three lines of text, turned by `turn` (the
/// appearance `/Matrix`) so it reads upright on the page as displayed.
fn appearance(
    inc: &mut IncrementalDocument,
    info: &SignatureInfo,
    v: &VisibleSignature,
    turn: [f64; 6],
) -> ObjectId {
    let w = (v.rect[2] - v.rect[0]).abs();
    let h = (v.rect[3] - v.rect[1]).abs();
    let font = inc.new_document.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let esc = |t: &str| -> String {
        latin1(t)
            .into_iter()
            .map(|b| match b {
                b'(' | b')' | b'\\' => ' ',
                b => b as char,
            })
            .collect()
    };
    let lines = [
        format!("Ditandatangani secara elektronik oleh {}", info.name),
        v.role.clone(),
        format!(
            "{} {}",
            info.location,
            info.time.format("%d-%m-%Y %H:%M %:z")
        ),
    ];
    let mut content = format!(
        "q 0.2 0.3 0.5 RG 0.6 w 0.5 0.5 {:.1} {:.1} re S Q\n",
        w - 1.0,
        h - 1.0
    );
    let size = 6.5;
    for (i, line) in lines.iter().enumerate() {
        let y = h - 12.0 - i as f32 * (size + 4.0);
        content.push_str(&format!(
            "BT /F1 {size} Tf 0 g 4 {y:.1} Td ({}) Tj ET\n",
            esc(line)
        ));
    }
    inc.new_document.add_object(Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Form",
            "BBox" => vec![0.into(), 0.into(), Object::Real(w), Object::Real(h)],
            "Matrix" => turn.iter().map(|&c| Object::Real(c as f32)).collect::<Vec<_>>(),
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
        },
        content.into_bytes(),
    ))
}

/// Produces a detached CMS SignedData (DER) over the given SHA-256 digest of the byte ranges.
pub trait CmsSigner {
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, SignError>;
}

/// `D:YYYYMMDDHHmmSS+HH'mm'`.
fn pdf_date(t: &chrono::DateTime<chrono::FixedOffset>) -> String {
    let offset = t.offset().local_minus_utc();
    let sign = if offset < 0 { '-' } else { '+' };
    let offset = offset.abs();
    format!(
        "D:{}{}{:02}'{:02}'",
        t.format("%Y%m%d%H%M%S"),
        sign,
        offset / 3600,
        (offset % 3600) / 60
    )
}

fn read_err(e: lopdf::Error) -> SignError {
    SignError::Read(e.to_string())
}

/// A `/ByteRange` placeholder that lopdf writes as plain integers of fixed width; replaced in
/// place once the offsets are known.
const BYTE_RANGE_PLACEHOLDER: [i64; 4] = [0, 1_111_111_111, 2_222_222_222, 3_333_333_333];

/// Signs `pdf` (page `page`, 1-based, carries the invisible field) and returns the new file.
pub fn sign_pdf(
    pdf: &[u8],
    page: u32,
    info: &SignatureInfo,
    signer: &dyn CmsSigner,
) -> Result<Vec<u8>, SignError> {
    let prepared = prepare_signature(pdf, page, info)?;
    let cms = signer.sign_digest(&prepared.digest)?;
    prepared.finish(&cms)
}

/// A PDF with its signature placeholder, waiting for the CMS. Signing in steps lets the caller
/// get the CMS from anywhere (a local key, BSrE) and add a timestamp before finishing.
#[derive(Debug)]
pub struct PreparedSignature {
    bytes: Vec<u8>,
    contents_start: usize,
    contents_end: usize,
    /// SHA-256 over the byte ranges: what the CMS must sign.
    pub digest: [u8; 32],
}

/// Step one: the incremental update with placeholders, and the digest to sign.
pub fn prepare_signature(
    pdf: &[u8],
    page: u32,
    info: &SignatureInfo,
) -> Result<PreparedSignature, SignError> {
    prepare_signature_with_dss(pdf, page, info, &[])
}

/// Step one with a Document Security Store (`/DSS /Certs`) in the same revision: the signer's
/// certificate chain (DER), so a validator years later finds it in the file (LTV). Written
/// before the signature, it is covered by it and the signature still spans the whole file.
/// (Revocation data would join it here when the CA publishes any; the local CA does not.)
pub fn prepare_signature_with_dss(
    pdf: &[u8],
    page: u32,
    info: &SignatureInfo,
    dss_certs: &[Vec<u8>],
) -> Result<PreparedSignature, SignError> {
    let bytes = prepare(pdf, page, Kind::Signature(info), dss_certs)?;
    placeholder_filled(bytes)
}

/// A document timestamp's revision (PAdES B-LTA, ETSI EN 319 142-1 §5.4.3): an invisible
/// field on page 1 whose value is a `/Type /DocTimeStamp` dictionary with `/SubFilter
/// /ETSI.RFC3161`. Its `digest` is what the TSA is asked to stamp (the token's message
/// imprint); [`PreparedSignature::finish`] takes the token itself.
pub fn prepare_document_timestamp(pdf: &[u8]) -> Result<PreparedSignature, SignError> {
    let bytes = prepare(pdf, 1, Kind::DocumentTimestamp, &[])?;
    placeholder_filled(bytes)
}

fn placeholder_filled(mut bytes: Vec<u8>) -> Result<PreparedSignature, SignError> {
    let (contents_start, contents_end) = locate(&mut bytes)?;
    let digest: [u8; 32] = {
        let mut h = Sha256::new();
        h.update(&bytes[..contents_start]);
        h.update(&bytes[contents_end..]);
        h.finalize().into()
    };
    Ok(PreparedSignature {
        bytes,
        contents_start,
        contents_end,
        digest,
    })
}

impl PreparedSignature {
    /// Step two: the CMS goes into the placeholder.
    pub fn finish(mut self, cms: &[u8]) -> Result<Vec<u8>, SignError> {
        // Two hex digits per byte, inside the angle brackets.
        let room = self.contents_end - self.contents_start - 2;
        if cms.len() * 2 > room {
            return Err(SignError::TooLarge(cms.len()));
        }
        let hex = hex::encode_upper(cms);
        let at = self.contents_start + 1;
        self.bytes[at..at + hex.len()].copy_from_slice(hex.as_bytes());
        Ok(self.bytes)
    }
}

/// What the new field holds.
enum Kind<'a> {
    Signature(&'a SignatureInfo),
    DocumentTimestamp,
}

/// Appends the signature field and dictionary with placeholders.
fn prepare(
    pdf: &[u8],
    page: u32,
    kind: Kind<'_>,
    dss_certs: &[Vec<u8>],
) -> Result<Vec<u8>, SignError> {
    let prev = Document::load_mem(pdf).map_err(read_err)?;
    let page_id = *prev.get_pages().get(&page).ok_or(SignError::NoPage(page))?;
    let root_id = prev
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(read_err)?;
    let existing_fields = count_signature_fields(&prev, root_id);
    // A visible box goes where the page as displayed has room (upright, inside the CropBox);
    // with no room it is left out, and the signature is invisible rather than over the letter.
    let visible_at = match &kind {
        Kind::Signature(SignatureInfo {
            visible: Some(v), ..
        }) => box_spot(&prev, page_id, v),
        _ => None,
    };
    let mut inc = IncrementalDocument::create_from(pdf.to_vec(), prev);
    // A hybrid file's /XRefStm belongs to its own revision only.
    inc.new_document.trailer.remove(b"XRefStm");

    let mut sig = dictionary! {
        "Type" => "Sig",
        "Filter" => "Adobe.PPKLite",
        "SubFilter" => "ETSI.CAdES.detached",
        "ByteRange" => BYTE_RANGE_PLACEHOLDER.iter().map(|&v| Object::Integer(v)).collect::<Vec<_>>(),
        // Written as a literal of '0's, which lopdf copies in one write (a hex string costs one
        // formatted write per byte); `locate` turns its parentheses into angle brackets, which
        // keeps every offset.
        "Contents" => Object::String(vec![b'0'; CMS_RESERVED * 2], StringFormat::Literal),
    };
    let info = match kind {
        Kind::Signature(info) => {
            sig.set("M", Object::string_literal(pdf_date(&info.time)));
            sig.set("Name", Object::string_literal(latin1(&info.name)));
            sig.set("Reason", Object::string_literal(latin1(&info.reason)));
            sig.set("Location", Object::string_literal(latin1(&info.location)));
            Some(info)
        }
        Kind::DocumentTimestamp => {
            sig.set("Type", "DocTimeStamp");
            sig.set("SubFilter", "ETSI.RFC3161");
            None
        }
    };
    let sig_id = inc.new_document.add_object(sig);
    let field_name = match info {
        Some(_) => format!("Tandatangan{}", existing_fields + 1),
        None => format!("CapWaktuDokumen{}", existing_fields + 1),
    };
    let mut widget = dictionary! {
        "Type" => "Annot",
        "Subtype" => "Widget",
        "FT" => "Sig",
        "T" => Object::string_literal(field_name),
        "V" => sig_id,
        "F" => 132,
        "Rect" => vec![0.into(), 0.into(), 0.into(), 0.into()],
        "P" => page_id,
    };
    if let (Some(info), Some((rect, turn))) = (info, visible_at)
        && let Some(v) = &info.visible
    {
        let ap = appearance(&mut inc, info, v, turn);
        widget.set(
            "Rect",
            rect.iter()
                .map(|&c| Object::Real(c as f32))
                .collect::<Vec<_>>(),
        );
        widget.set("AP", dictionary! { "N" => ap });
    }
    let widget_id = inc.new_document.add_object(widget);
    add_to_array(&mut inc, page_id, b"Annots", widget_id)?;
    add_to_acroform(&mut inc, root_id, widget_id)?;
    if !dss_certs.is_empty() {
        // Beside any DSS an earlier signer left (its entries stay).
        let dss_id = catalog_dict(&mut inc, root_id, b"DSS")?;
        for der in dss_certs {
            let cert = inc
                .new_document
                .add_object(lopdf::Stream::new(dictionary! {}, der.clone()));
            add_to_array(&mut inc, dss_id, b"Certs", cert)?;
        }
    }

    let mut out = Vec::with_capacity(pdf.len() + 2 * CMS_RESERVED + 4096);
    inc.save_to(&mut out)
        .map_err(|e| SignError::Write(e.to_string()))?;
    Ok(out)
}

/// Signature fields already in the form (to name ours uniquely).
fn count_signature_fields(doc: &Document, root_id: ObjectId) -> usize {
    let fields = doc
        .get_dictionary(root_id)
        .ok()
        .and_then(|root| root.get(b"AcroForm").ok())
        .and_then(|af| deref_dict(doc, af))
        .and_then(|af| af.get(b"Fields").ok().cloned())
        .and_then(|f| match f {
            Object::Reference(id) => doc.get_object(id).ok().cloned(),
            other => Some(other),
        });
    match fields {
        Some(Object::Array(items)) => items.len(),
        _ => 0,
    }
}

fn deref_dict<'a>(doc: &'a Document, obj: &'a Object) -> Option<&'a Dictionary> {
    match obj {
        Object::Dictionary(d) => Some(d),
        Object::Reference(id) => doc.get_dictionary(*id).ok(),
        _ => None,
    }
}

/// Appends `item` to the array under `key` of the dictionary object `owner`, wherever that array
/// lives (inline or its own object), copying what changes into the new revision.
fn add_to_array(
    inc: &mut IncrementalDocument,
    owner: ObjectId,
    key: &[u8],
    item: ObjectId,
) -> Result<(), SignError> {
    inc.opt_clone_object_to_new_document(owner)
        .map_err(read_err)?;
    let current = inc
        .new_document
        .get_dictionary(owner)
        .map_err(read_err)?
        .get(key)
        .ok()
        .cloned();
    match current {
        Some(Object::Reference(array_id)) => {
            inc.opt_clone_object_to_new_document(array_id)
                .map_err(read_err)?;
            match inc
                .new_document
                .get_object_mut(array_id)
                .map_err(read_err)?
            {
                Object::Array(a) => a.push(Object::Reference(item)),
                other => {
                    *other = Object::Array(vec![Object::Reference(item)]);
                }
            }
        }
        Some(Object::Array(mut a)) => {
            a.push(Object::Reference(item));
            inc.new_document
                .get_dictionary_mut(owner)
                .map_err(read_err)?
                .set(key.to_vec(), Object::Array(a));
        }
        _ => {
            inc.new_document
                .get_dictionary_mut(owner)
                .map_err(read_err)?
                .set(key.to_vec(), Object::Array(vec![Object::Reference(item)]));
        }
    }
    Ok(())
}

/// Adds the field to the catalog's AcroForm (creating it if needed) and sets SigFlags 3
/// (signatures exist, append only).
fn add_to_acroform(
    inc: &mut IncrementalDocument,
    root_id: ObjectId,
    widget_id: ObjectId,
) -> Result<(), SignError> {
    let form_id = catalog_dict(inc, root_id, b"AcroForm")?;
    add_to_array(inc, form_id, b"Fields", widget_id)?;
    inc.new_document
        .get_dictionary_mut(form_id)
        .map_err(read_err)?
        .set("SigFlags", 3);
    Ok(())
}

/// The catalog's dictionary under `key` as an object of the new revision (an inline one moved
/// into its own object, a missing one created empty), ready to change.
fn catalog_dict(
    inc: &mut IncrementalDocument,
    root_id: ObjectId,
    key: &[u8],
) -> Result<ObjectId, SignError> {
    inc.opt_clone_object_to_new_document(root_id)
        .map_err(read_err)?;
    let current = inc
        .new_document
        .get_dictionary(root_id)
        .map_err(read_err)?
        .get(key)
        .ok()
        .cloned();
    let id = match current {
        Some(Object::Reference(id)) => {
            inc.opt_clone_object_to_new_document(id).map_err(read_err)?;
            return Ok(id);
        }
        Some(Object::Dictionary(d)) => inc.new_document.add_object(Object::Dictionary(d)),
        _ => inc.new_document.add_object(dictionary! {}),
    };
    inc.new_document
        .get_dictionary_mut(root_id)
        .map_err(read_err)?
        .set(key.to_vec(), id);
    Ok(id)
}

/// Validation data for one signature: its `/VRI` entry in the DSS, keyed by the upper-case hex
/// SHA-1 of the signature's `/Contents` bytes (ETSI EN 319 142-1 §5.4.2.2).
#[derive(Debug, Clone, Default)]
pub struct Vri {
    /// The signature's `/Contents` bytes as stored, padding included (what the key hashes).
    pub contents: Vec<u8>,
    pub certs: Vec<Vec<u8>>,
    pub ocsps: Vec<Vec<u8>>,
    pub crls: Vec<Vec<u8>>,
}

/// What a DSS update adds (DER each): certificates, OCSP responses, CRLs, and per-signature
/// VRI entries (whose items join the document-wide lists as well).
#[derive(Debug, Clone, Default)]
pub struct Ltv {
    pub certs: Vec<Vec<u8>>,
    pub ocsps: Vec<Vec<u8>>,
    pub crls: Vec<Vec<u8>>,
    pub vri: Vec<Vri>,
}

impl Vri {
    /// The `/VRI` key: upper-case hex SHA-1 of the `/Contents` bytes.
    pub fn key(&self) -> String {
        hex::encode_upper(openssl::sha::sha1(&self.contents))
    }
}

const DSS_KEYS: [&[u8]; 3] = [b"Certs", b"OCSPs", b"CRLs"];

/// Appends a revision that adds `ltv` to the file's Document Security Store (PAdES B-LT, ETSI
/// EN 319 142-1 §5.4.2): nothing signed changes, the DSS only grows (items it already holds are
/// referenced, not written twice). Pure: bytes in, bytes out.
pub fn add_dss(pdf: &[u8], ltv: &Ltv) -> Result<Vec<u8>, SignError> {
    let prev = Document::load_mem(pdf).map_err(read_err)?;
    let root_id = prev
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(read_err)?;
    let mut known: std::collections::HashMap<(usize, Vec<u8>), ObjectId> = Default::default();
    if let Some(dss) = prev
        .get_dictionary(root_id)
        .ok()
        .and_then(|r| r.get(b"DSS").ok())
        .and_then(|d| deref_dict(&prev, d))
    {
        for (k, key) in DSS_KEYS.iter().enumerate() {
            let items = match dss.get(key) {
                Ok(Object::Reference(id)) => {
                    prev.get_object(*id).ok().and_then(|o| o.as_array().ok())
                }
                Ok(Object::Array(a)) => Some(a),
                _ => None,
            };
            for item in items.into_iter().flatten() {
                if let Ok(id) = item.as_reference()
                    && let Ok(Object::Stream(st)) = prev.get_object(id)
                {
                    let bytes = st
                        .decompressed_content()
                        .unwrap_or_else(|_| st.content.clone());
                    known.insert((k, bytes), id);
                }
            }
        }
    }
    let mut inc = IncrementalDocument::create_from(pdf.to_vec(), prev);
    inc.new_document.trailer.remove(b"XRefStm");
    let dss_id = catalog_dict(&mut inc, root_id, b"DSS")?;
    let mut put =
        |inc: &mut IncrementalDocument, k: usize, der: &[u8]| -> Result<ObjectId, SignError> {
            if let Some(id) = known.get(&(k, der.to_vec())) {
                return Ok(*id);
            }
            let id = inc
                .new_document
                .add_object(Stream::new(dictionary! {}, der.to_vec()));
            add_to_array(inc, dss_id, DSS_KEYS[k], id)?;
            known.insert((k, der.to_vec()), id);
            Ok(id)
        };
    for (k, list) in [&ltv.certs, &ltv.ocsps, &ltv.crls].into_iter().enumerate() {
        for der in list {
            put(&mut inc, k, der)?;
        }
    }
    let mut entries = Vec::new();
    for vri in &ltv.vri {
        let mut entry = Dictionary::new();
        for (k, (list, name)) in [
            (&vri.certs, "Cert"),
            (&vri.ocsps, "OCSP"),
            (&vri.crls, "CRL"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut refs = Vec::new();
            for der in list {
                refs.push(Object::Reference(put(&mut inc, k, der)?));
            }
            if !refs.is_empty() {
                entry.set(name, Object::Array(refs));
            }
        }
        let id = inc.new_document.add_object(entry);
        entries.push((vri.key(), id));
    }
    if !entries.is_empty() {
        let current = inc
            .new_document
            .get_dictionary(dss_id)
            .map_err(read_err)?
            .get(b"VRI")
            .ok()
            .cloned();
        match current {
            Some(Object::Reference(vri_id)) => {
                inc.opt_clone_object_to_new_document(vri_id)
                    .map_err(read_err)?;
                let vri = inc
                    .new_document
                    .get_dictionary_mut(vri_id)
                    .map_err(read_err)?;
                for (key, id) in entries {
                    vri.set(key.into_bytes(), id);
                }
            }
            other => {
                let mut vri = match other {
                    Some(Object::Dictionary(d)) => d,
                    _ => Dictionary::new(),
                };
                for (key, id) in entries {
                    vri.set(key.into_bytes(), id);
                }
                inc.new_document
                    .get_dictionary_mut(dss_id)
                    .map_err(read_err)?
                    .set("VRI", vri);
            }
        }
    }
    let mut out = Vec::with_capacity(pdf.len() + 16 * 1024);
    inc.save_to(&mut out)
        .map_err(|e| SignError::Write(e.to_string()))?;
    Ok(out)
}

/// Finds our placeholders in the last revision, fills in `/ByteRange` and returns the bounds of
/// the `/Contents` hex string (including its angle brackets).
fn locate(out: &mut [u8]) -> Result<(usize, usize), SignError> {
    let placeholder = format!(
        "[{} {} {} {}]",
        BYTE_RANGE_PLACEHOLDER[0],
        BYTE_RANGE_PLACEHOLDER[1],
        BYTE_RANGE_PLACEHOLDER[2],
        BYTE_RANGE_PLACEHOLDER[3]
    );
    let br_at = rfind(out, placeholder.as_bytes())
        .ok_or_else(|| SignError::Write("ByteRange placeholder not found".into()))?;
    // A short prefix to find, then the whole run checked: a naive search for the full 32 KB
    // needle cost more than the signature itself.
    let mut prefix = b"(".to_vec();
    prefix.extend_from_slice(&[b'0'; 64]);
    let contents_start = rfind(&out[br_at..], &prefix)
        .map(|i| i + br_at)
        .or_else(|| rfind(&out[..br_at], &prefix))
        .ok_or_else(|| SignError::Write("Contents placeholder not found".into()))?;
    let run = &out[contents_start + 1..];
    let whole = run.len() > CMS_RESERVED * 2
        && run[..CMS_RESERVED * 2].iter().all(|&b| b == b'0')
        && run[CMS_RESERVED * 2] == b')';
    if !whole {
        return Err(SignError::Write("Contents placeholder is damaged".into()));
    }
    let needle_len = CMS_RESERVED * 2 + 2;
    let contents_end = contents_start + needle_len;
    out[contents_start] = b'<';
    out[contents_end - 1] = b'>';
    let ranges = [
        0,
        contents_start as i64,
        contents_end as i64,
        (out.len() - contents_end) as i64,
    ];
    let text = format!("[{} {} {} {}]", ranges[0], ranges[1], ranges[2], ranges[3]);
    if text.len() > placeholder.len() {
        return Err(SignError::Write(
            "the file is too large for the ByteRange".into(),
        ));
    }
    let mut padded = text.into_bytes();
    padded.resize(placeholder.len(), b' ');
    // Keep the closing bracket last: pad inside the array.
    if let Some(pos) = padded.iter().position(|&b| b == b']') {
        padded[pos] = b' ';
        let last = padded.len() - 1;
        padded[last] = b']';
    }
    out[br_at..br_at + placeholder.len()].copy_from_slice(&padded);
    Ok((contents_start, contents_end))
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len())
        .rev()
        .find(|&i| &hay[i..i + needle.len()] == needle)
}

/// The local signer: an RSA key and its certificate chain.
impl CmsSigner for SigningIdentity {
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, SignError> {
        let template = self
            .cms_template
            .get_or_init(|| CmsTemplate::build(self).ok());
        match template {
            Some(t) => t.sign(self, digest),
            None => detached_cms(self, digest),
        }
    }
}

/// The detached CMS built field by field (the reference the template is cut from).
fn detached_cms(identity: &SigningIdentity, digest: &[u8; 32]) -> Result<Vec<u8>, SignError> {
    let econtent = cms::signed_data::EncapsulatedContentInfo {
        econtent_type: const_oid::db::rfc5911::ID_DATA,
        econtent: None,
    };
    let content = signed_data(identity, &econtent, Some(digest))?;
    content.to_der().map_err(|e| SignError::Cms(e.to_string()))
}

/// A signer's detached CMS with the two parts that change per document located: the
/// message-digest value and the RSA signature. Everything else (certificates, attributes,
/// algorithm identifiers) is the same DER every time, so it is encoded once. The signed
/// attributes' order in their DER SET depends on their OIDs only, and an RSA PKCS#1 v1.5
/// signature always has the modulus' length, so the positions never move.
#[derive(Debug, Clone)]
pub(crate) struct CmsTemplate {
    der: Vec<u8>,
    digest_at: usize,
    /// The signed attributes as they sit in the SignerInfo (`[0] IMPLICIT`).
    attrs: std::ops::Range<usize>,
    signature: std::ops::Range<usize>,
}

/// Finds `needle` in `hay` exactly once.
fn find_once(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let mut found = hay
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i);
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

impl CmsTemplate {
    fn build(identity: &SigningIdentity) -> Result<Self, SignError> {
        let cms_err = |e: &dyn std::fmt::Display| SignError::Cms(e.to_string());
        let marker = [0xA5u8; 32];
        let der = detached_cms(identity, &marker)?;
        let ci = cms::content_info::ContentInfo::from_der(&der).map_err(|e| cms_err(&e))?;
        let sd: cms::signed_data::SignedData = ci.content.decode_as().map_err(|e| cms_err(&e))?;
        let si = sd
            .signer_infos
            .0
            .iter()
            .next()
            .ok_or_else(|| SignError::Cms("no signer".into()))?;
        let attrs_der = si
            .signed_attrs
            .as_ref()
            .ok_or_else(|| SignError::Cms("no signed attributes".into()))?
            .to_der()
            .map_err(|e| cms_err(&e))?;
        let missing = || SignError::Cms("template parts not found once".into());
        let digest_at = find_once(&der, &marker).ok_or_else(missing)?;
        // The same bytes after the tag: SET (0x31) in the encoding, [0] (0xA0) in the CMS.
        let attrs_start = find_once(&der, &attrs_der[1..]).ok_or_else(missing)? - 1;
        if der[attrs_start] != 0xA0 {
            return Err(missing());
        }
        let sig = si.signature.as_bytes();
        let sig_at = find_once(&der, sig).ok_or_else(missing)?;
        let template = CmsTemplate {
            digest_at,
            attrs: attrs_start..attrs_start + attrs_der.len(),
            signature: sig_at..sig_at + sig.len(),
            der,
        };
        if !(template.attrs.contains(&digest_at) && template.signature.start >= template.attrs.end)
        {
            return Err(missing());
        }
        Ok(template)
    }

    fn sign(&self, identity: &SigningIdentity, digest: &[u8; 32]) -> Result<Vec<u8>, SignError> {
        use signature::Signer;
        let mut der = self.der.clone();
        der[self.digest_at..self.digest_at + 32].copy_from_slice(digest);
        // What is signed is the attributes' DER as a SET.
        let mut attrs = der[self.attrs.clone()].to_vec();
        attrs[0] = 0x31;
        let signature = identity
            .fast()
            .map_err(SignError::Cms)?
            .try_sign(&attrs)
            .map_err(|e| SignError::Cms(e.to_string()))?;
        let bytes = signature::SignatureEncoding::to_bytes(&signature);
        if bytes.len() != self.signature.len() {
            return detached_cms(identity, digest);
        }
        der[self.signature.clone()].copy_from_slice(&bytes);
        Ok(der)
    }
}

/// A CMS SignedData by `identity` over `econtent` (or, detached, over `external_digest`), with
/// SHA-256, RSA PKCS#1 v1.5, the certificates, and the signed attributes content-type,
/// message-digest and signing-certificate-v2.
pub(crate) fn signed_data(
    identity: &SigningIdentity,
    econtent: &cms::signed_data::EncapsulatedContentInfo,
    external_digest: Option<&[u8]>,
) -> Result<cms::content_info::ContentInfo, SignError> {
    use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
    use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
    use cms::signed_data::SignerIdentifier;
    use spki::AlgorithmIdentifierOwned;
    use x509_cert::attr::{Attribute, AttributeValue};

    let cms_err = |e: &dyn std::fmt::Display| SignError::Cms(e.to_string());
    let cert = &identity.certificate;
    let sha256 = AlgorithmIdentifierOwned {
        oid: const_oid::db::rfc5912::ID_SHA_256,
        parameters: None,
    };
    let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: cert.tbs_certificate.issuer.clone(),
        serial_number: cert.tbs_certificate.serial_number.clone(),
    });
    let signing_key = identity.fast().map_err(SignError::Cms)?;
    let mut signer_info =
        SignerInfoBuilder::new(signing_key, sid, sha256.clone(), econtent, external_digest)
            .map_err(|e| cms_err(&e))?;
    // signing-certificate-v2 (RFC 5035): binds the signer's certificate into the signature.
    let cert_der = cert.to_der().map_err(|e| cms_err(&e))?;
    let ess = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            cert_hash: OctetString::new(Sha256::digest(&cert_der).to_vec())
                .map_err(|e| cms_err(&e))?,
        }],
    };
    let value = AttributeValue::from_der(&ess.to_der().map_err(|e| cms_err(&e))?)
        .map_err(|e| cms_err(&e))?;
    let mut values = SetOfVec::new();
    values.insert(value).map_err(|e| cms_err(&e))?;
    signer_info
        .add_signed_attribute(Attribute {
            oid: ID_AA_SIGNING_CERTIFICATE_V2,
            values,
        })
        .map_err(|e| cms_err(&e))?;
    let mut builder = SignedDataBuilder::new(econtent);
    builder
        .add_digest_algorithm(sha256)
        .map_err(|e| cms_err(&e))?;
    for c in std::iter::once(cert).chain(identity.chain.iter()) {
        builder
            .add_certificate(CertificateChoices::Certificate(c.clone()))
            .map_err(|e| cms_err(&e))?;
    }
    builder
        .add_signer_info::<_, rsa::pkcs1v15::Signature>(signer_info)
        .map_err(|e| cms_err(&e))?;
    builder.build().map_err(|e| cms_err(&e))
}

const ID_AA_SIGNING_CERTIFICATE_V2: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

#[derive(der::Sequence)]
struct EssCertIdV2 {
    // hashAlgorithm DEFAULT sha256 is omitted; issuerSerial is optional.
    cert_hash: OctetString,
}

#[derive(der::Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_gives_the_same_cms_as_building_it_field_by_field() {
        // RSA PKCS#1 v1.5 is deterministic, so both paths must agree to the byte.
        let ca = crate::keys::new_ca("Uji CA", 1).expect("ca");
        let signer = crate::keys::issue_signer(&ca, "Pejabat Uji", 30).expect("signer");
        for seed in [0u8, 0xA5, 0xFF, 17] {
            let digest = [seed; 32];
            let fast = signer.sign_digest(&digest).expect("template");
            let reference = detached_cms(&signer, &digest).expect("reference");
            assert_eq!(fast, reference, "digest {seed:#x}");
        }
        assert!(signer.cms_template.get().is_some_and(Option::is_some));
    }
}
