//! A plain report as a PDF (the SKM report, issue 24): the office's letterhead, then lines of
//! text in Helvetica, onto as many A4 pages as they need. Drawn with the letter's page builder
//! (`letter.rs`), standard fonts only, so any reader (and `pdftotext`) shows the figures.

use lopdf::{Document, Object, dictionary};

use crate::latin1;
use crate::letter::{A4, Page, letterhead};

/// How a line is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Title,
    Heading,
    Body,
    /// Two columns: the text up to the first tab, then the rest at a fixed indent.
    Columns,
    Small,
}

/// Renders `lines` with the letterhead on every page; `title` is the document's title.
pub fn render(title: &str, lines: &[(Style, String)]) -> Vec<u8> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let regular = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let bold = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica-Bold",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => regular, "F2" => bold },
    });
    let top = 720;
    let bottom = 60;
    let mut pages = vec![Page::new()];
    let mut y = top;
    if let Some(p) = pages.last_mut() {
        letterhead(p);
    }
    for (style, text) in lines {
        let (font, size, step) = match style {
            Style::Title => ("F2", 13, 22),
            Style::Heading => ("F2", 11, 20),
            Style::Body | Style::Columns => ("F1", 10, 14),
            Style::Small => ("F1", 8, 12),
        };
        if y - step < bottom {
            let mut p = Page::new();
            letterhead(&mut p);
            pages.push(p);
            y = top;
        }
        let Some(page) = pages.last_mut() else { break };
        // Long lines are cut into pieces that fit the width (about 95 characters at 10 pt).
        let width = match size {
            13 => 70,
            11 => 85,
            8 => 120,
            _ => 95,
        };
        match (style, text.split_once('\t')) {
            (Style::Columns, Some((left, right))) => {
                page.text(font, size, 60, y, left);
                page.text(font, size, 300, y, right);
                y -= step;
            }
            (Style::Title, _) => {
                page.centred(font, size, y, text);
                y -= step;
            }
            _ => {
                for piece in wrap(text, width) {
                    if y - step < bottom {
                        break;
                    }
                    page.text(font, size, 60, y, &piece);
                    y -= step;
                }
            }
        }
    }
    let mut kids = Vec::new();
    let count = pages.len();
    for (i, mut page) in pages.into_iter().enumerate() {
        page.text(
            "F1",
            8,
            60,
            40,
            &format!("{title} - halaman {} dari {count}", i + 1),
        );
        let content_id = doc.add_object(page.into_stream());
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), A4.0.into(), A4.1.into()],
        });
        kids.push(Object::from(page_id));
    }
    let n = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => n }),
    );
    let info = doc.add_object(dictionary! {
        "Title" => Object::string_literal(latin1(title)),
        "Producer" => Object::string_literal("SICANTIK Companion"),
    });
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    doc.trailer.set("Info", info);
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = doc.save_to(&mut out);
    out
}

/// Words onto lines of at most `width` characters (a longer word stands alone, cut).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let word: String = word.chars().take(width).collect();
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_lines_make_several_pages_and_a_loadable_pdf() {
        let lines: Vec<(Style, String)> = (0..120)
            .map(|i| {
                (
                    Style::Body,
                    format!("Baris {i} dengan teks yang cukup panjang"),
                )
            })
            .collect();
        let pdf = render("Laporan uji", &lines);
        let doc = Document::load_mem(&pdf).expect("loads");
        assert!(doc.get_pages().len() >= 3);
        assert_eq!(wrap("a b c", 3), vec!["a b", "c"]);
    }
}
