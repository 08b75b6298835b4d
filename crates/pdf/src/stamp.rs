//! The QR stamp, drawn before signing so the signature covers it. The page's existing content is
//! kept byte for byte: the stamp is an incremental update that wraps the old content streams in
//! `q … Q` and draws a Form XObject (the QR as filled squares on a white quiet zone, and a short
//! caption) at the configured place. The Form XObject also carries the QR's text under
//! `/SCSeal`, so a stamped file is recognised when it comes back ([`seal_texts`]).

use lopdf::{Document, IncrementalDocument, Object, ObjectId, Stream, dictionary};
use qrcode::{Color, EcLevel, QrCode};

/// Where the stamp goes (PDF points, from the bottom-left corner).
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// 1-based page number.
    pub page: u32,
    pub x: f64,
    pub y: f64,
    /// Width and height of the QR including its quiet zone. The sealed URL is about 280
    /// characters (a version-14 code); 120 pt (4.2 cm) gives modules of 1.5 pt, which a phone
    /// reads and `zbarimg` decodes from a 150 dpi render.
    pub size: f64,
}

impl Default for Placement {
    /// The bottom-left margin of the first page, above the footer line.
    fn default() -> Self {
        Placement {
            page: 1,
            x: 56.0,
            y: 72.0,
            size: 120.0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StampError {
    #[error("the PDF cannot be read: {0}")]
    Read(String),
    #[error("the PDF has no page {0}")]
    NoPage(u32),
    #[error("the QR text is too long: {0}")]
    Qr(String),
    #[error("writing the stamped revision failed: {0}")]
    Write(String),
}

fn read_err(e: lopdf::Error) -> StampError {
    StampError::Read(e.to_string())
}

/// The QR's modules (true = dark), `width` × `width`, without quiet zone.
pub fn qr_modules(text: &str) -> Result<(usize, Vec<bool>), StampError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| StampError::Qr(e.to_string()))?;
    let width = code.width();
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == Color::Dark)
        .collect();
    Ok((width, dark))
}

/// The Form XObject's drawing, in a box of `size` × (`size` + caption) points.
fn stamp_content(width: usize, dark: &[bool], size: f64, caption: &str) -> Vec<u8> {
    const QUIET: usize = 4;
    let modules = (width + 2 * QUIET) as f64;
    let m = size / modules;
    let mut s = String::with_capacity(width * width * 24);
    // White quiet zone, then black modules (rows from the top).
    s.push_str(&format!("q 1 g 0 0 {size:.2} {size:.2} re f 0 g\n"));
    for row in 0..width {
        for col in 0..width {
            if dark[row * width + col] {
                let x = (col + QUIET) as f64 * m;
                let y = size - (row + QUIET + 1) as f64 * m;
                s.push_str(&format!("{x:.3} {y:.3} {m:.3} {m:.3} re\n"));
            }
        }
    }
    s.push_str("f Q\n");
    let text: String = caption
        .chars()
        .map(|c| match c {
            '(' | ')' | '\\' => ' ',
            '\n' => '\n',
            c if (c as u32) < 128 && !c.is_control() => c,
            _ => '?',
        })
        .collect();
    // One line per `\n`, 7 pt apart, under the QR.
    for (i, line) in text.split('\n').enumerate() {
        s.push_str(&format!(
            "BT /F1 6 Tf 0 g 2 {:.2} Td ({line}) Tj ET\n",
            -7.0 - 7.0 * i as f64
        ));
    }
    s.into_bytes()
}

/// Draws the QR for `qr_text` with `caption` under it (one line per `\n`) at `placement`;
/// returns the new file.
pub fn stamp_qr(
    pdf: &[u8],
    qr_text: &str,
    caption: &str,
    placement: &Placement,
) -> Result<Vec<u8>, StampError> {
    let (width, dark) = qr_modules(qr_text)?;
    let prev = Document::load_mem(pdf).map_err(read_err)?;
    let page_id = *prev
        .get_pages()
        .get(&placement.page)
        .ok_or(StampError::NoPage(placement.page))?;
    let old_contents = content_refs(&prev, page_id);
    let mut inc = IncrementalDocument::create_from(pdf.to_vec(), prev);
    inc.new_document.trailer.remove(b"XRefStm");

    let font = inc.new_document.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let size = placement.size;
    let caption_lines = caption.matches('\n').count() as f32;
    let mut form = Stream::new(
        dictionary! {
            "Type" => "XObject",
            "Subtype" => "Form",
            "BBox" => vec![0.into(), Object::Real(-9.0 - 7.0 * caption_lines), Object::Real(size as f32), Object::Real(size as f32)],
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
            SEAL_KEY => Object::string_literal(qr_text),
        },
        stamp_content(width, &dark, size, caption),
    );
    let _ = form.compress();
    let form_id = inc.new_document.add_object(form);
    let name = format!("SCQr{}", form_id.0);
    inc.add_xobject(page_id, name.as_bytes(), form_id)
        .map_err(read_err)?;

    // Whatever state the old content leaves behind is undone before the stamp is drawn.
    let open = inc
        .new_document
        .add_object(Stream::new(dictionary! {}, b"q\n".to_vec()));
    let draw = inc.new_document.add_object(Stream::new(
        dictionary! {},
        format!(
            "Q\nq 1 0 0 1 {:.2} {:.2} cm /{name} Do Q\n",
            placement.x, placement.y
        )
        .into_bytes(),
    ));
    let mut contents: Vec<Object> = vec![Object::Reference(open)];
    contents.extend(old_contents.into_iter().map(Object::Reference));
    contents.push(Object::Reference(draw));
    inc.new_document
        .get_dictionary_mut(page_id)
        .map_err(read_err)?
        .set("Contents", Object::Array(contents));

    let mut out = Vec::with_capacity(pdf.len() + 64 * 1024);
    inc.save_to(&mut out)
        .map_err(|e| StampError::Write(e.to_string()))?;
    Ok(out)
}

/// The Form XObject key holding the QR's text.
const SEAL_KEY: &str = "SCSeal";

/// The QR texts of every stamp this product drew into `pdf` (any revision, any page); empty for
/// a file it never stamped or one it cannot read.
pub fn seal_texts(pdf: &[u8]) -> Vec<String> {
    let Ok(doc) = Document::load_mem(pdf) else {
        return Vec::new();
    };
    let mut texts: Vec<String> = doc
        .objects
        .values()
        .filter_map(|o| match o {
            Object::Stream(st) => st.dict.get(SEAL_KEY.as_bytes()).ok(),
            _ => None,
        })
        .filter_map(|v| v.as_str().ok())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    texts.sort();
    texts.dedup();
    texts
}

/// The page's content streams as references, whatever form `/Contents` takes.
fn content_refs(doc: &Document, page_id: ObjectId) -> Vec<ObjectId> {
    let Ok(page) = doc.get_dictionary(page_id) else {
        return Vec::new();
    };
    match page.get(b"Contents") {
        Ok(Object::Reference(id)) => match doc.get_object(*id) {
            Ok(Object::Array(items)) => {
                items.iter().filter_map(|o| o.as_reference().ok()).collect()
            }
            _ => vec![*id],
        },
        Ok(Object::Array(items)) => items.iter().filter_map(|o| o.as_reference().ok()).collect(),
        _ => Vec::new(),
    }
}
