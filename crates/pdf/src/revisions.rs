//! What a file's later revisions changed after a signed revision: the difference analysis that
//! decides whether a signature still speaks for the document. After the office's signature only
//! long-term-validation updates are permitted (as pyHanko's difference analysis treats them):
//! a DSS with its VRI, certificates, CRLs and OCSP responses, document timestamps and other
//! signatures as invisible signature fields, the catalog gaining /DSS or /AcroForm, the form's
//! field list growing, a page's /Annots gaining those invisible widgets, xref and object
//! streams, the /Info dictionary. Anything else — changed page content, a new visible
//! annotation, a page added or removed, a changed font or image — is a change to the document.
//! Stricter than pyHanko in one place: a later *visible* signature field is refused, since its
//! appearance can be drawn over the letter.

use std::collections::BTreeSet;

use lopdf::{Dictionary, Document, Object, ObjectId};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaterChange {
    /// The revisions could not be read (a damaged or unusual file): no claim either way.
    #[error("later revisions cannot be read: {0}")]
    Unreadable(String),
    /// A change that is not a long-term-validation update.
    #[error("{0}")]
    NotPermitted(String),
}

/// Checks that everything `pdf` holds after its first `signed_end` bytes is a permitted
/// long-term-validation update. Returns the kinds of update found.
pub fn permitted_after(pdf: &[u8], signed_end: usize) -> Result<Vec<&'static str>, LaterChange> {
    let unreadable = |e: lopdf::Error| LaterChange::Unreadable(e.to_string());
    let appended = pdf.get(signed_end..).unwrap_or_default();
    let trimmed_end = appended
        .iter()
        .rposition(|b| !b.is_ascii_whitespace() && *b != 0)
        .map_or(0, |i| i + 1);
    // A later revision ends in `%%EOF` and its `startxref` points into the appended part (its own
    // cross-reference section); anything else is bytes outside any revision.
    let last_xref = last_startxref(pdf);
    if !appended[..trimmed_end].ends_with(b"%%EOF") || last_xref.is_none_or(|x| x < signed_end) {
        return Err(LaterChange::NotPermitted(
            "ada data yang ditambahkan di luar revisi PDF".into(),
        ));
    }
    let before = Document::load_mem(pdf.get(..signed_end).unwrap_or(pdf)).map_err(unreadable)?;
    let after = Document::load_mem(pdf).map_err(unreadable)?;
    let mut kinds = BTreeSet::new();
    let root_before = reference(&before.trailer, b"Root");
    let root_after = reference(&after.trailer, b"Root");
    let info_after = reference(&after.trailer, b"Info");
    let catalog_after = root_after.and_then(|r| after.get_dictionary(r).ok());
    let acroform_after = catalog_after.and_then(|c| reference(c, b"AcroForm"));
    // The DSS (and its arrays when they are indirect) may grow: validation data is added to
    // it, never taken away.
    let dss_after = catalog_after.and_then(|c| reference(c, b"DSS"));
    let dss_arrays: Vec<ObjectId> = dss_after
        .and_then(|d| after.get_dictionary(d).ok())
        .map(|d| {
            [&b"Certs"[..], b"OCSPs", b"CRLs"]
                .iter()
                .filter_map(|k| reference(d, k))
                .collect()
        })
        .unwrap_or_default();
    let pages_before: BTreeSet<ObjectId> = before.get_pages().into_values().collect();
    let pages_after: BTreeSet<ObjectId> = after.get_pages().into_values().collect();
    if pages_before != pages_after {
        return Err(LaterChange::NotPermitted(
            "halaman ditambahkan atau dihapus".into(),
        ));
    }

    // Every object written after the signature must be one a reader sees (in the cross-
    // reference table): an object hidden outside it (in padding, shadowed by a second copy) is
    // a change no check below would look at.
    for id in object_headers(appended) {
        if !after.objects.contains_key(&id) {
            return Err(LaterChange::NotPermitted(format!(
                "objek {} {} tersembunyi di luar tabel rujukan",
                id.0, id.1
            )));
        }
    }
    for (id, obj) in &after.objects {
        let old = before.objects.get(id);
        if old == Some(obj) {
            continue;
        }
        let what = || format!("objek {} {}", id.0, id.1);
        if Some(*id) == root_after {
            let old_catalog = root_before.and_then(|r| before.get_dictionary(r).ok());
            let new_catalog = obj.as_dict().map_err(|_| {
                LaterChange::NotPermitted(format!("katalog dokumen ({}) rusak", what()))
            })?;
            match old_catalog {
                Some(old)
                    if same_except(old, new_catalog, &[b"DSS", b"AcroForm", b"Extensions"]) =>
                {
                    kinds.insert("katalog (DSS/formulir)");
                    continue;
                }
                _ => {
                    return Err(LaterChange::NotPermitted("katalog dokumen diubah".into()));
                }
            }
        }
        if Some(*id) == dss_after {
            let ok = match (old.and_then(|o| o.as_dict().ok()), obj.as_dict()) {
                (Some(o), Ok(n)) => {
                    same_except(o, n, &[b"Certs", b"OCSPs", b"CRLs", b"VRI"])
                        && [&b"Certs"[..], b"OCSPs", b"CRLs"]
                            .iter()
                            .all(|k| grows(o, n, k))
                }
                (None, Ok(_)) => true,
                _ => false,
            };
            if !ok {
                return Err(dss_shrank());
            }
            kinds.insert("DSS");
            continue;
        }
        if dss_arrays.contains(id) {
            let grew = match (old, obj) {
                (Some(Object::Array(o)), Object::Array(n)) => o.iter().all(|x| n.contains(x)),
                (None, Object::Array(_)) => true,
                _ => false,
            };
            if !grew {
                return Err(dss_shrank());
            }
            kinds.insert("DSS");
            continue;
        }
        if Some(*id) == info_after {
            kinds.insert("informasi berkas");
            continue;
        }
        if Some(*id) == acroform_after {
            let new_form = obj
                .as_dict()
                .map_err(|_| LaterChange::NotPermitted("formulir dokumen rusak".into()))?;
            if let Some(old_form) = old.and_then(|o| o.as_dict().ok())
                && (!same_except(old_form, new_form, &[b"Fields", b"SigFlags", b"DR", b"DA"])
                    || !grows(old_form, new_form, b"Fields"))
            {
                return Err(LaterChange::NotPermitted("formulir dokumen diubah".into()));
            }
            check_new_fields(&after, new_form, old.and_then(|o| o.as_dict().ok()))?;
            kinds.insert("formulir (bidang tanda tangan)");
            continue;
        }
        if pages_after.contains(id) {
            let (Some(old_page), Ok(new_page)) =
                (old.and_then(|o| o.as_dict().ok()), obj.as_dict())
            else {
                return Err(LaterChange::NotPermitted(format!(
                    "halaman ({}) diubah",
                    what()
                )));
            };
            if !same_except(old_page, new_page, &[b"Annots"])
                || !grows(old_page, new_page, b"Annots")
            {
                return Err(LaterChange::NotPermitted(format!(
                    "isi halaman ({}) diubah",
                    what()
                )));
            }
            for annot in added(old_page, new_page, b"Annots") {
                check_invisible_signature_widget(&after, &annot)?;
            }
            kinds.insert("anotasi tanda tangan tak terlihat");
            continue;
        }
        if old.is_some() {
            return Err(LaterChange::NotPermitted(format!(
                "{} yang sudah ditandatangani diubah",
                what()
            )));
        }
        // A new object: harmless unless it is content a page could show.
        if let Some(kind) = forbidden_new_object(obj) {
            return Err(LaterChange::NotPermitted(format!(
                "{kind} ditambahkan ({})",
                what()
            )));
        }
        kinds.insert(new_object_kind(obj));
    }
    Ok(kinds.into_iter().collect())
}

/// The indirect reference `d[key]` holds, if it holds one.
fn reference(d: &Dictionary, key: &[u8]) -> Option<ObjectId> {
    d.get(key).and_then(Object::as_reference).ok()
}

fn dict_of(obj: &Object) -> Option<&Dictionary> {
    match obj {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

fn name<'a>(d: &'a Dictionary, key: &[u8]) -> Option<&'a [u8]> {
    d.get(key).and_then(Object::as_name).ok()
}

/// Whether two dictionaries are equal but for `keys`.
fn same_except(old: &Dictionary, new: &Dictionary, keys: &[&[u8]]) -> bool {
    let strip = |d: &Dictionary| {
        d.iter()
            .filter(|(k, _)| !keys.contains(&k.as_slice()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    let (mut a, mut b) = (strip(old), strip(new));
    a.sort_by(|x, y| x.0.cmp(&y.0));
    b.sort_by(|x, y| x.0.cmp(&y.0));
    a == b
}

fn array_of(d: &Dictionary, key: &[u8]) -> Vec<Object> {
    match d.get(key) {
        Ok(Object::Array(a)) => a.clone(),
        _ => Vec::new(),
    }
}

/// Whether `new[key]` keeps every element `old[key]` had (an array that only grew).
fn grows(old: &Dictionary, new: &Dictionary, key: &[u8]) -> bool {
    let (o, n) = (array_of(old, key), array_of(new, key));
    o.iter().all(|x| n.contains(x))
}

fn added(old: &Dictionary, new: &Dictionary, key: &[u8]) -> Vec<Object> {
    let o = array_of(old, key);
    array_of(new, key)
        .into_iter()
        .filter(|x| !o.contains(x))
        .collect()
}

fn resolve<'a>(doc: &'a Document, obj: &'a Object) -> Option<&'a Object> {
    match obj {
        Object::Reference(r) => doc.objects.get(r),
        other => Some(other),
    }
}

fn check_new_fields(
    doc: &Document,
    new_form: &Dictionary,
    old_form: Option<&Dictionary>,
) -> Result<(), LaterChange> {
    let empty = Dictionary::new();
    for field in added(old_form.unwrap_or(&empty), new_form, b"Fields") {
        let Some(d) = resolve(doc, &field).and_then(dict_of) else {
            return Err(LaterChange::NotPermitted("bidang formulir rusak".into()));
        };
        if name(d, b"FT") != Some(b"Sig") {
            return Err(LaterChange::NotPermitted(
                "bidang formulir selain tanda tangan ditambahkan".into(),
            ));
        }
    }
    Ok(())
}

/// A widget added after the office's signature must belong to a signature field and draw
/// nothing (a zero-area rectangle, or the hidden flag).
fn check_invisible_signature_widget(doc: &Document, annot: &Object) -> Result<(), LaterChange> {
    let Some(d) = resolve(doc, annot).and_then(dict_of) else {
        return Err(LaterChange::NotPermitted(
            "anotasi rusak ditambahkan".into(),
        ));
    };
    let is_sig = name(d, b"FT") == Some(b"Sig")
        || d.get(b"Parent")
            .ok()
            .and_then(|p| resolve(doc, p))
            .and_then(dict_of)
            .is_some_and(|p| name(p, b"FT") == Some(b"Sig"));
    if name(d, b"Subtype") != Some(b"Widget") || !is_sig {
        return Err(LaterChange::NotPermitted(
            "anotasi yang terlihat ditambahkan pada halaman".into(),
        ));
    }
    let hidden = d
        .get(b"F")
        .and_then(Object::as_i64)
        .is_ok_and(|f| f & 2 != 0);
    let rect: Vec<f32> = array_of(d, b"Rect")
        .iter()
        .filter_map(|v| v.as_float().ok())
        .collect();
    let zero_area =
        rect.len() == 4 && ((rect[2] - rect[0]).abs() < 0.01 || (rect[3] - rect[1]).abs() < 0.01);
    if hidden || zero_area || rect.is_empty() {
        Ok(())
    } else {
        Err(LaterChange::NotPermitted(
            "tanda tangan lain yang terlihat ditambahkan pada halaman".into(),
        ))
    }
}

/// New objects that could carry visible content (reachable only through changes refused above,
/// but refused here too so a dangling one cannot be made reachable by a reader's repair).
fn forbidden_new_object(obj: &Object) -> Option<&'static str> {
    let d = dict_of(obj)?;
    match name(d, b"Type") {
        Some(b"Page") | Some(b"Pages") => return Some("halaman"),
        Some(b"Font") => return Some("huruf"),
        _ => {}
    }
    match name(d, b"Subtype") {
        Some(b"Image") => Some("gambar"),
        _ => None,
    }
}

fn new_object_kind(obj: &Object) -> &'static str {
    let Some(d) = dict_of(obj) else {
        return "data";
    };
    match name(d, b"Type") {
        Some(b"DSS") => "DSS",
        Some(b"DocTimeStamp") => "cap waktu dokumen",
        Some(b"Sig") => "tanda tangan",
        Some(b"XRef") | Some(b"ObjStm") => "tabel objek",
        Some(b"Annot") => "anotasi tanda tangan tak terlihat",
        _ => "data validasi",
    }
}

/// The `N G obj` headers written in `bytes` (at a line start or after whitespace).
fn object_headers(bytes: &[u8]) -> Vec<ObjectId> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(pos) = bytes[i..].windows(3).position(|w| w == b"obj") {
        let at = i + pos;
        i = at + 3;
        // "endobj" is not a header.
        if at >= 3 && &bytes[at - 3..at] == b"end" {
            continue;
        }
        let head = &bytes[at.saturating_sub(24)..at];
        let text = String::from_utf8_lossy(head);
        let parts: Vec<&str> = text.split_ascii_whitespace().collect();
        if parts.len() >= 2
            && let (Ok(n), Ok(g)) = (
                parts[parts.len() - 2]
                    .trim_start_matches(|c: char| !c.is_ascii_digit())
                    .parse::<u32>(),
                parts[parts.len() - 1].parse::<u16>(),
            )
            && text.ends_with(|c: char| c.is_ascii_whitespace())
        {
            out.push((n, g));
        }
    }
    out
}

fn dss_shrank() -> LaterChange {
    LaterChange::NotPermitted("data validasi (DSS) dihapus atau diganti".into())
}

/// The offset the file's last `startxref` names.
fn last_startxref(pdf: &[u8]) -> Option<usize> {
    let at = pdf.windows(9).rposition(|w| w == b"startxref")?;
    let rest = &pdf[at + 9..];
    let text: String = rest
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| b as char)
        .collect();
    text.parse().ok()
}
