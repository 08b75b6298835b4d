//! The second half of the adversarial corpus (the first is `adversarial.rs`): files made by other
//! programs' signers — OpenSSL's CMS without signed attributes, with a SubjectKeyIdentifier signer
//! id, with encapsulated content; pyHanko's own PAdES B-LTA with its DSS and document timestamp —
//! and structural forgeries: `/Contents` empty or null, `/ByteRange` missing or negative, objects
//! hidden in the signature's padding, and the shadow attacks (hide, replace, hide-and-replace)
//! as incremental updates after the office's signature.
//!
//! pyHanko is the reference: each file also goes through `pyhanko sign validate` and
//! `pyhanko sign adesverify` (trusting the same roots), the table of verdicts is printed, and the
//! test fails wherever ours is more lenient than pyHanko's or calls a file pyHanko finds VALID
//! TIDAK ASLI.

use std::path::Path;
use std::process::Command;

use companion_pdf::keys::{SigningIdentity, issue_signer, issue_tsa, new_ca};
use companion_pdf::sign::{CmsSigner, SignatureInfo, prepare_signature_with_dss};
use companion_pdf::validate::{Outcome, Policy, Report, validate_with};
use der::Encode;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::pkey::PKey;
use openssl::stack::Stack;
use openssl::x509::X509;
use x509_cert::Certificate;

struct Parties {
    ca: SigningIdentity,
    office: SigningIdentity,
    tsa_ca: SigningIdentity,
    tsa: SigningIdentity,
}

impl Parties {
    fn new() -> Self {
        let ca = new_ca("Korpus CA", 20).expect("ca");
        let office = issue_signer(&ca, "Kepala DPMPTSP Kabupaten Karo", 700).expect("office");
        let tsa_ca = new_ca("Korpus TSA CA", 20).expect("tsa ca");
        let tsa = issue_tsa(&tsa_ca, "Korpus TSA", 3000).expect("tsa");
        Self {
            ca,
            office,
            tsa_ca,
            tsa,
        }
    }

    fn ours(&self, pdf: &[u8]) -> Report {
        let anchors = [self.ca.certificate.clone()];
        let tsa_anchors = [self.tsa_ca.certificate.clone()];
        let office = [self.office.certificate.clone()];
        let policy = Policy {
            signer_anchors: &anchors,
            tsa_anchors: &tsa_anchors,
            office: Some(&office),
        };
        validate_with(pdf, &policy, chrono::Utc::now())
    }

    /// PEM files for pyHanko: the two roots, and the office's and the TSA's key and certificate.
    fn write_pems(&self, dir: &Path) {
        let pem = |c: &Certificate| x509(c).to_pem().expect("pem");
        std::fs::write(dir.join("ca.pem"), pem(&self.ca.certificate)).expect("write");
        std::fs::write(dir.join("tsa-ca.pem"), pem(&self.tsa_ca.certificate)).expect("write");
        for (name, id) in [("office", &self.office), ("tsa", &self.tsa)] {
            std::fs::write(dir.join(format!("{name}.pem")), pem(&id.certificate)).expect("write");
            std::fs::write(
                dir.join(format!("{name}-key.pem")),
                id.key_pem().expect("key"),
            )
            .expect("write");
        }
    }
}

fn x509(c: &Certificate) -> X509 {
    X509::from_der(&c.to_der().expect("der")).expect("x509")
}

fn letter() -> Vec<u8> {
    companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0)
}

/// The file with an empty signature placeholder, and where its `/Contents` hex string lies.
fn placeholder(pdf: &[u8], p: &Parties) -> (Vec<u8>, usize, usize) {
    let info = SignatureInfo {
        name: "Korpus".into(),
        reason: "Penerbitan surat izin".into(),
        location: "Kabanjahe".into(),
        time: chrono::Utc::now().fixed_offset(),
        visible: None,
    };
    let chain = p.office.chain_der().expect("chain");
    let bytes = prepare_signature_with_dss(pdf, 1, &info, &chain)
        .expect("prepare")
        .finish(&[])
        .expect("finish");
    let [_, b, c, _] = byte_range(&bytes).expect("a byte range");
    (bytes, b as usize, c as usize)
}

fn byte_range(pdf: &[u8]) -> Option<[i64; 4]> {
    let at = pdf.windows(10).rposition(|w| w == b"/ByteRange")?;
    let open = at + pdf[at..].iter().position(|&b| b == b'[')?;
    let close = open + pdf[open..].iter().position(|&b| b == b']')?;
    let n: Vec<i64> = std::str::from_utf8(&pdf[open + 1..close])
        .ok()?
        .split_ascii_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    Some([*n.first()?, *n.get(1)?, *n.get(2)?, *n.get(3)?])
}

/// Signs with OpenSSL's CMS implementation (not ours) and `flags` on top of DETACHED|BINARY
/// (without DETACHED when `encapsulate`).
fn openssl_signed(p: &Parties, flags: CMSOptions, encapsulate: bool) -> Vec<u8> {
    let (mut bytes, start, end) = placeholder(&letter(), p);
    let mut content = bytes[..start].to_vec();
    content.extend_from_slice(&bytes[end..]);
    let key = PKey::private_key_from_pem(p.office.key_pem().expect("pem").as_bytes()).expect("key");
    let mut chain = Stack::new().expect("stack");
    chain.push(x509(&p.ca.certificate)).expect("push");
    let mut flags = flags | CMSOptions::BINARY;
    if !encapsulate {
        flags |= CMSOptions::DETACHED;
    }
    let cms = CmsContentInfo::sign(
        Some(&x509(&p.office.certificate)),
        Some(&key),
        Some(&chain),
        Some(&content),
        flags,
    )
    .expect("cms")
    .to_der()
    .expect("der");
    let hex = hex::encode_upper(&cms);
    assert!(
        hex.len() <= end - start - 2,
        "the placeholder is large enough"
    );
    bytes[start + 1..start + 1 + hex.len()].copy_from_slice(hex.as_bytes());
    bytes
}

/// The genuine permit, signed by the office with a signature timestamp (the product's signer).
fn genuine(p: &Parties) -> Vec<u8> {
    sign_with_product(&letter(), p, true)
}

/// The signature's `/Contents` value replaced by `value`, padded with spaces to the same length
/// so every offset stays.
fn contents_replaced(pdf: &[u8], value: &[u8]) -> Vec<u8> {
    let [_, b, c, _] = byte_range(pdf).expect("byte range");
    let (b, c) = (b as usize, c as usize);
    let mut out = pdf.to_vec();
    let mut v = value.to_vec();
    v.resize(c - b, b' ');
    out[b..c].copy_from_slice(&v);
    out
}

/// `/ByteRange` renamed (the key is gone) or given `value`, padded to the same length.
fn byte_range_text(pdf: &[u8], value: Option<&str>) -> Vec<u8> {
    let at = pdf
        .windows(10)
        .rposition(|w| w == b"/ByteRange")
        .expect("byte range");
    let mut out = pdf.to_vec();
    match value {
        None => out[at + 9] = b'X',
        Some(v) => {
            let open = at + out[at..].iter().position(|&b| b == b'[').expect("[");
            let close = open + out[open..].iter().position(|&b| b == b']').expect("]");
            let mut v = v.as_bytes().to_vec();
            assert!(v.len() < close - open);
            v.resize(close - open - 1, b' ');
            out[open + 1..close].copy_from_slice(&v);
        }
    }
    out
}

/// Objects written into the signature's unsigned padding (after the CMS, before `>`), and an
/// incremental update whose cross-reference points the page's content stream at them.
fn objects_in_padding(pdf: &[u8]) -> Vec<u8> {
    let [_, _, c, _] = byte_range(pdf).expect("byte range");
    let content = page_content_id(pdf);
    let body = format!(
        ">\n{} 0 obj\n<< /Length 44 >>\nstream\nBT /F1 24 Tf 72 400 Td (PT PENIPU) Tj ET    \nendstream\nendobj\n<",
        content.0
    );
    let mut out = pdf.to_vec();
    let at = c as usize - 1 - body.len();
    out[at..at + body.len()].copy_from_slice(body.as_bytes());
    let offset = at + 2;
    append_update(&out, &[(content, Some(offset))], "")
}

/// The object id of page 1's (first) content stream.
fn page_content_id(pdf: &[u8]) -> lopdf::ObjectId {
    let doc = lopdf::Document::load_mem(pdf).expect("lopdf");
    let page = *doc.get_pages().get(&1).expect("page 1");
    let dict = doc.get_dictionary(page).expect("page");
    match dict.get(b"Contents").expect("contents") {
        lopdf::Object::Reference(r) => *r,
        lopdf::Object::Array(a) => a
            .first()
            .and_then(|o| o.as_reference().ok())
            .expect("a reference"),
        other => panic!("unexpected /Contents {other:?}"),
    }
}

fn page_id(pdf: &[u8]) -> lopdf::ObjectId {
    let doc = lopdf::Document::load_mem(pdf).expect("lopdf");
    *doc.get_pages().get(&1).expect("page 1")
}

/// An incremental update: `objects` (text of whole `n g obj … endobj` definitions) appended,
/// then a classic cross-reference section mapping `entries` (object id → offset, or the offset
/// of the matching definition in `objects` when None) and a trailer that chains to the last one.
fn append_update(
    pdf: &[u8],
    entries: &[(lopdf::ObjectId, Option<usize>)],
    objects: &str,
) -> Vec<u8> {
    let doc = lopdf::Document::load_mem(pdf).expect("lopdf");
    let root = doc.trailer.get(b"Root").expect("root").clone();
    let size = doc.max_id + 1;
    let prev = {
        let at = pdf
            .windows(9)
            .rposition(|w| w == b"startxref")
            .expect("startxref");
        std::str::from_utf8(&pdf[at + 9..])
            .expect("ascii")
            .split_ascii_whitespace()
            .next()
            .and_then(|x| x.parse::<usize>().ok())
            .expect("offset")
    };
    let mut out = pdf.to_vec();
    out.extend_from_slice(b"\n");
    let body_at = out.len();
    out.extend_from_slice(objects.as_bytes());
    let xref_at = out.len();
    let mut xref = String::from("xref\n");
    for ((num, generation), offset) in entries {
        let offset = offset.unwrap_or_else(|| {
            let head = format!("{num} {generation} obj");
            body_at + objects.find(&head).expect("the object is in the update")
        });
        xref.push_str(&format!("{num} 1\n{offset:010} {generation:05} n \n"));
    }
    let root = match root {
        lopdf::Object::Reference((n, g)) => format!("{n} {g} R"),
        other => panic!("root {other:?}"),
    };
    xref.push_str(&format!(
        "trailer\n<< /Size {size} /Root {root} /Prev {prev} >>\nstartxref\n{xref_at}\n%%EOF\n"
    ));
    out.extend_from_slice(xref.as_bytes());
    out
}

/// Shadow "replace": the update redefines the page's content stream (same object number).
fn shadow_replace(pdf: &[u8]) -> Vec<u8> {
    let (n, g) = page_content_id(pdf);
    let text = "BT /F1 24 Tf 72 400 Td (PEMEGANG: PT PENIPU) Tj ET";
    let obj = format!(
        "{n} {g} obj\n<< /Length {} >>\nstream\n{text}\nendstream\nendobj\n",
        text.len()
    );
    append_update(pdf, &[((n, g), None)], &obj)
}

/// Shadow "hide": the update redefines page 1 without its content (what covered the overlay, or
/// the letter itself, is gone).
fn shadow_hide(pdf: &[u8]) -> Vec<u8> {
    let doc = lopdf::Document::load_mem(pdf).expect("lopdf");
    let (n, g) = page_id(pdf);
    let mut page = doc.get_dictionary((n, g)).expect("page").clone();
    page.remove(b"Contents");
    let mut text = Vec::new();
    lopdf::Writer::write_object(&mut text, &lopdf::Object::Dictionary(page)).expect("write");
    let obj = format!(
        "{n} {g} obj\n{}\nendobj\n",
        String::from_utf8(text).expect("ascii")
    );
    append_update(pdf, &[((n, g), None)], &obj)
}

/// Shadow "hide-and-replace": the signed file already holds a second definition of the content
/// stream's object number (dead, outside every cross-reference); the attacker's update is a
/// cross-reference section only, pointing the object at that definition.
fn shadow_hide_and_replace(p: &Parties) -> Vec<u8> {
    let base = letter();
    let (n, g) = page_content_id(&base);
    let text = "BT /F1 24 Tf 72 400 Td (PEMEGANG: PT PENIPU) Tj ET";
    let dead = format!(
        "\n{n} {g} obj\n<< /Length {} >>\nstream\n{text}\nendstream\nendobj\n",
        text.len()
    );
    // Between the letter's last `%%EOF` and the signature's revision: bytes no cross-reference
    // names, signed with everything else.
    let mut with_dead = base.clone();
    let dead_at = with_dead.len() + 1;
    with_dead.extend_from_slice(dead.as_bytes());
    let signed = sign_with_product(&with_dead, p, true);
    append_update(&signed, &[((n, g), Some(dead_at))], "")
}

/// Signs `pdf` as the office with the product's signer (B-B, or B-T with `timestamp`).
fn sign_with_product(pdf: &[u8], p: &Parties, timestamp: bool) -> Vec<u8> {
    use companion_pdf::timestamp::{
        add_timestamp, request, respond, signature_imprint, token_from_response,
    };
    let (bytes, start, end) = placeholder(pdf, p);
    let mut h = sha2::Sha256::default();
    sha2::Digest::update(&mut h, &bytes[..start]);
    sha2::Digest::update(&mut h, &bytes[end..]);
    let digest: [u8; 32] = sha2::Digest::finalize(h).into();
    let mut cms = p.office.sign_digest(&digest).expect("cms");
    if timestamp {
        let imprint = signature_imprint(&cms).expect("imprint");
        let req = request(&imprint, 7).expect("request");
        let resp = respond(&p.tsa, &req, 1, std::time::SystemTime::now()).expect("respond");
        let token = token_from_response(&resp, &imprint, 7).expect("token");
        cms = add_timestamp(&cms, &token).expect("timestamp");
    }
    let mut out = bytes;
    let hex = hex::encode_upper(&cms);
    out[start + 1..start + 1 + hex.len()].copy_from_slice(hex.as_bytes());
    out
}

/// pyHanko's own PAdES B-LTA: its signer, its DSS (indirect arrays), its document timestamp.
fn pyhanko_lta(dir: &Path) -> Option<Vec<u8>> {
    const SCRIPT: &str = r#"
import sys
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers, fields
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko.keys import load_cert_from_pemder, load_private_key_from_pemder
from pyhanko_certvalidator.registry import SimpleCertificateStore
d = sys.argv[1]
ca = load_cert_from_pemder(d + '/ca.pem')
tsa_ca = load_cert_from_pemder(d + '/tsa-ca.pem')
signer = signers.SimpleSigner(
    signing_cert=load_cert_from_pemder(d + '/office.pem'),
    signing_key=load_private_key_from_pemder(d + '/office-key.pem', None),
    cert_registry=SimpleCertificateStore.from_certs([ca]))
tsa = DummyTimeStamper(
    tsa_cert=load_cert_from_pemder(d + '/tsa.pem'),
    tsa_key=load_private_key_from_pemder(d + '/tsa-key.pem', None),
    certs_to_embed=SimpleCertificateStore.from_certs([tsa_ca]))
vc = ValidationContext(trust_roots=[ca, tsa_ca], allow_fetching=False, revocation_mode='soft-fail')
meta = signers.PdfSignatureMetadata(field_name='Signature1', subfilter=fields.SigSeedSubFilter.PADES,
    embed_validation_info=True, use_pades_lta=True, validation_context=vc)
with open(d + '/letter.pdf', 'rb') as f:
    out = signers.PdfSigner(meta, signer=signer, timestamper=tsa).sign_pdf(IncrementalPdfFileWriter(f))
open(d + '/lta.pdf', 'wb').write(out.getbuffer())
"#;
    std::fs::write(dir.join("letter.pdf"), letter()).expect("write");
    let run = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(dir)
        .output()
        .expect("python3");
    if !run.status.success() {
        eprintln!(
            "pyHanko could not make a B-LTA file: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        return None;
    }
    std::fs::read(dir.join("lta.pdf")).ok()
}

/// pyHanko's two verdicts: `sign validate` (exit status) and `sign adesverify` (its summary).
fn pyhanko(dir: &Path, name: &str, pdf: &[u8]) -> (bool, String) {
    let file = dir.join(format!("{name}.pdf"));
    std::fs::write(&file, pdf).expect("write");
    let trust = [dir.join("ca.pem"), dir.join("tsa-ca.pem")];
    let mut validate = Command::new("pyhanko");
    validate.args([
        "sign",
        "validate",
        "--no-revocation-check",
        "--trust-replace",
    ]);
    let mut ades = Command::new("pyhanko");
    ades.args([
        "sign",
        "adesverify",
        "--no-revocation-check",
        "--trust-replace",
        "--executive-summary",
    ]);
    for t in &trust {
        validate.arg("--trust").arg(t);
        ades.arg("--trust").arg(t);
    }
    let valid = validate
        .arg(&file)
        .output()
        .expect("pyhanko is installed by scripts/test.sh")
        .status
        .success();
    // `--executive-summary` prints one `field:hash:VERDICT` line per signature on stdout.
    let out = ades.arg(&file).output().expect("pyhanko");
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.rsplit(':').next().unwrap_or(l).trim().to_string())
        .collect();
    let summary = if lines.is_empty() {
        format!("error (exit {:?})", out.status.code())
    } else {
        lines.join(", ")
    };
    (valid, summary)
}

#[test]
fn pyhanko_is_the_reference_for_other_signers_and_structural_forgeries() {
    let p = Parties::new();
    // CORPUS_OUT keeps the files (and the roots) for a look by hand.
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = std::env::var_os("CORPUS_OUT").map_or_else(|| tmp.path().to_path_buf(), Into::into);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    let dir = dir.as_path();
    p.write_pems(dir);
    let genuine = genuine(&p);
    assert_eq!(
        p.ours(&genuine).outcome,
        Outcome::Passed,
        "the genuine permit"
    );

    // (name, file, must never be ASLI whatever pyHanko says)
    let mut corpus: Vec<(&str, Vec<u8>, bool)> = vec![
        ("genuine", genuine.clone(), false),
        (
            "openssl CMS, no signed attributes",
            openssl_signed(&p, CMSOptions::NOATTR, false),
            false,
        ),
        (
            "openssl CMS, SubjectKeyIdentifier signer id",
            openssl_signed(&p, CMSOptions::USE_KEYID, false),
            false,
        ),
        (
            "openssl CMS, encapsulated content",
            openssl_signed(&p, CMSOptions::empty(), true),
            false,
        ),
        ("/Contents empty", contents_replaced(&genuine, b"<>"), true),
        ("/Contents null", contents_replaced(&genuine, b"null"), true),
        ("/ByteRange missing", byte_range_text(&genuine, None), true),
        (
            "/ByteRange negative",
            byte_range_text(&genuine, Some("0 -10 -20 30")),
            true,
        ),
        ("objects in the padding", objects_in_padding(&genuine), true),
        ("shadow replace", shadow_replace(&genuine), true),
        ("shadow hide", shadow_hide(&genuine), true),
        ("shadow hide-and-replace", shadow_hide_and_replace(&p), true),
    ];
    if let Some(lta) = pyhanko_lta(dir) {
        corpus.push(("pyHanko PAdES B-LTA", lta, false));
    } else if std::env::var_os("CI").is_some() {
        panic!("pyHanko must be able to make its B-LTA file in CI");
    }

    let mut table = Vec::new();
    let mut wrong = Vec::new();
    for (i, (name, pdf, forged)) in corpus.iter().enumerate() {
        let ours = p.ours(pdf);
        let (valid, ades) = pyhanko(dir, &format!("c{i}"), pdf);
        table.push(format!(
            "{name}: ours {:?} ({}); pyHanko validate {}; adesverify: {ades}",
            ours.outcome,
            ours.reason,
            if valid { "VALID" } else { "not valid" }
        ));
        let ades_valid = ades.split(", ").all(|v| v == "VALID");
        if ours.outcome == Outcome::Passed && (*forged || !valid || !ades_valid) {
            wrong.push(format!("more lenient than pyHanko on {name}"));
        }
        if valid && ours.outcome == Outcome::Failed {
            wrong.push(format!("TIDAK ASLI where pyHanko says VALID on {name}"));
        }
    }
    eprintln!("{}", table.join("\n"));
    assert!(wrong.is_empty(), "{wrong:#?}\n{}", table.join("\n"));
}
