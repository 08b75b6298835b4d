//! The QR stamp, drawn before signing so the signature covers it. The page's existing content is
//! kept byte for byte: the stamp is an incremental update that wraps the old content streams in
//! `q … Q` and draws a Form XObject (the QR as filled squares on a white quiet zone, and a short
//! caption) upright where the page has room ([`crate::placement`]). The Form XObject also carries the QR's text under
//! `/SCSeal`, so a stamped file is recognised when it comes back ([`seal_texts`]).

use crate::placement::{Spot, find_spot, find_spot_within, page_marks, page_view};
use lopdf::{Document, IncrementalDocument, Object, ObjectId, Stream, dictionary};
use qrcode::{Color, EcLevel, QrCode};

/// Where the stamp should go: the bottom-left corner of its box (QR and caption), in points from
/// the bottom-left corner of the page as displayed (its CropBox, turned by `/Rotate`).
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
    /// The bottom-left margin of the first page.
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

/// The Form XObject's drawing: the QR in `size` × `size` points, the caption lines under it.
fn stamp_content(width: usize, dark: &[bool], size: f64, lines: &[String]) -> Vec<u8> {
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
    for (i, line) in lines.iter().enumerate() {
        s.push_str(&format!(
            "BT /F1 {CAPTION_PT} Tf 0 g 2 {:.2} Td ({}) Tj ET\n",
            -CAPTION_LINE - CAPTION_LINE * i as f64,
            pdf_string(line)
        ));
    }
    s.into_bytes()
}

/// Helvetica's advance widths (thousandths of an em) for ASCII 32–126, from its AFM.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // ' '..'/'
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584,
    556, // '0'..'?'
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722,
    778, // '@'..'O'
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
    556, // 'P'..'_'
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556,
    556, // '`'..'o'
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // 'p'..'~'
];

/// Caption text size and line pitch (points).
const CAPTION_PT: f64 = 6.0;
const CAPTION_LINE: f64 = 7.0;

/// The caption as drawn: ASCII only (the font is not embedded).
fn caption_lines(caption: &str) -> Vec<String> {
    caption
        .split('\n')
        .map(|line| {
            line.chars()
                .map(|c| match c {
                    c if (c as u32) < 128 && !c.is_control() => c,
                    _ => '?',
                })
                .collect()
        })
        .collect()
}

/// A literal string's body: its delimiters and backslash escaped.
fn pdf_string(line: &str) -> String {
    line.replace('\\', "\\\\")
        .replace('(', "\\(")
        .replace(')', "\\)")
}

/// The width of a caption line at [`CAPTION_PT`].
fn line_width(line: &str) -> f64 {
    let em: u32 = line
        .bytes()
        .map(|b| {
            u32::from(
                HELVETICA
                    .get(usize::from(b.saturating_sub(32)))
                    .copied()
                    .unwrap_or(556),
            )
        })
        .sum();
    f64::from(em) / 1000.0 * CAPTION_PT
}

/// Wraps `text` (paragraphs split by `\n`) into caption lines no wider than `width` points.
fn wrap(text: &str, width: f64) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in caption_lines(text) {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if line_width(&candidate) > width && !line.is_empty() {
                lines.push(std::mem::replace(&mut line, word.to_string()));
            } else {
                line = candidate;
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}

/// A stamped file and where its stamp went.
#[derive(Debug, Clone)]
pub struct Stamped {
    pub pdf: Vec<u8>,
    /// The stamp box's bottom-left corner on the page as displayed, and whether it had to move or
    /// covers content.
    pub spot: Spot,
    /// How much of the footer was drawn.
    pub footer_drawn: FooterDrawn,
}

/// How much of the footer found room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FooterDrawn {
    /// All of it (every language).
    Whole,
    /// Its first paragraph (Bahasa Indonesia) only.
    FirstParagraph,
    /// None: not asked for, or no free place.
    Omitted,
}

/// A footer column's preferred width and where it may go (the lowest part of the page).
const FOOTER_MAX_WIDTH: f64 = 480.0;
const FOOTER_BAND: f64 = 0.3;

/// The footer's Form XObject drawing: `lines` from the top of a `h`-point box.
fn footer_content(lines: &[String], h: f64) -> Vec<u8> {
    let mut s = String::new();
    for (i, line) in lines.iter().enumerate() {
        s.push_str(&format!(
            "BT /F1 {CAPTION_PT} Tf 0 g 0 {:.2} Td ({}) Tj ET\n",
            h - CAPTION_LINE * (i + 1) as f64 + 1.5,
            pdf_string(line)
        ));
    }
    s.into_bytes()
}

/// Draws the QR for `qr_text` with `caption` under it (one line per `\n`) upright on the page as
/// the reader sees it (CropBox and `/Rotate` honoured): at `placement` when that area is free,
/// else at the nearest free area of the page's lower half, else at `placement` over the content
/// ([`Spot::Covering`], for the caller to warn about). `footer` (the standard TTE footer,
/// `companion_domain::footer`) is wrapped and drawn in the free space of the page's lowest part,
/// clear of the stamp; with no room there it is left out ([`Stamped::footer_drawn`]).
pub fn stamp_qr(
    pdf: &[u8],
    qr_text: &str,
    caption: &str,
    footer: Option<&str>,
    placement: &Placement,
) -> Result<Stamped, StampError> {
    let (width, dark) = qr_modules(qr_text)?;
    let prev = Document::load_mem(pdf).map_err(read_err)?;
    let page_id = *prev
        .get_pages()
        .get(&placement.page)
        .ok_or(StampError::NoPage(placement.page))?;
    let old_contents = content_refs(&prev, page_id);
    let view = page_view(&prev, page_id);
    let mut marks = page_marks(&prev, page_id);
    let lines = caption_lines(caption);
    let size = placement.size;
    let caption_h = 2.0 + CAPTION_LINE * lines.len() as f64;
    let box_w = lines
        .iter()
        .map(|l| line_width(l) + 4.0)
        .fold(size, f64::max);
    let spot = find_spot(
        &view,
        &marks,
        box_w,
        size + caption_h,
        placement.x,
        placement.y,
    );
    let (x, y) = spot.at();
    let cm = view.draw_at(x, y + caption_h).0;
    // The footer: clear of the letter and of the stamp.
    // Tried whole (every language), then its first paragraph (Bahasa Indonesia) alone; each
    // from the page's full width down to a narrow column.
    let mut footer_at = None;
    if let Some(text) = footer {
        let (pw, _) = view.size();
        marks.push(view.user_rect(x, y, box_w, size + caption_h));
        let first = text.split('\n').next().unwrap_or(text);
        let texts = [
            Some((text, FooterDrawn::Whole)),
            (first != text).then_some((first, FooterDrawn::FirstParagraph)),
        ];
        'search: for (text, kind) in texts.into_iter().flatten() {
            for width in [pw - 112.0, FOOTER_MAX_WIDTH, 360.0, 240.0] {
                if width > pw - 112.0 || width < 100.0 {
                    continue;
                }
                let lines = wrap(text, width);
                if lines.is_empty() {
                    break 'search;
                }
                let w = lines.iter().map(|l| line_width(l)).fold(0.0, f64::max) + 2.0;
                let h = CAPTION_LINE * lines.len() as f64 + 2.0;
                let at = find_spot_within(&view, &marks, w, h, placement.x, 0.0, FOOTER_BAND);
                if !matches!(at, Spot::Covering { .. }) {
                    let (fx, fy) = at.at();
                    footer_at = Some((lines, w, h, view.draw_at(fx, fy).0, kind));
                    break 'search;
                }
            }
        }
    }

    let mut inc = IncrementalDocument::create_from(pdf.to_vec(), prev);
    inc.new_document.trailer.remove(b"XRefStm");
    let font = inc.new_document.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let mut form = Stream::new(
        dictionary! {
            "Type" => "XObject",
            "Subtype" => "Form",
            "BBox" => vec![0.into(), Object::Real(-caption_h as f32), Object::Real(box_w as f32), Object::Real(size as f32)],
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
            SEAL_KEY => Object::string_literal(qr_text),
        },
        stamp_content(width, &dark, size, &lines),
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
    let mut drawing = format!(
        "Q\nq {:.4} {:.4} {:.4} {:.4} {:.2} {:.2} cm /{name} Do Q\n",
        cm[0], cm[1], cm[2], cm[3], cm[4], cm[5]
    );
    let footer_drawn = footer_at.as_ref().map_or(FooterDrawn::Omitted, |f| f.4);
    if let Some((lines, w, h, fm, _)) = footer_at {
        let mut form = Stream::new(
            dictionary! {
                "Type" => "XObject",
                "Subtype" => "Form",
                "BBox" => vec![0.into(), 0.into(), Object::Real(w as f32), Object::Real(h as f32)],
                "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
            },
            footer_content(&lines, h),
        );
        let _ = form.compress();
        let id = inc.new_document.add_object(form);
        let footer_name = format!("SCFooter{}", id.0);
        inc.add_xobject(page_id, footer_name.as_bytes(), id)
            .map_err(read_err)?;
        drawing.push_str(&format!(
            "q {:.4} {:.4} {:.4} {:.4} {:.2} {:.2} cm /{footer_name} Do Q\n",
            fm[0], fm[1], fm[2], fm[3], fm[4], fm[5]
        ));
    }
    let draw = inc
        .new_document
        .add_object(Stream::new(dictionary! {}, drawing.into_bytes()));
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
    Ok(Stamped {
        pdf: out,
        spot,
        footer_drawn,
    })
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
