//! PDF handling: the acceptance check every imported file passes ([`inspect`]) and the permit
//! letter renderer the SICANTIK simulator prints with ([`letter`]). QR stamping and PAdES
//! signing join this crate with the signing issue.

pub mod keys;
pub mod letter;
pub mod pki;
pub mod placement;
pub mod report;
pub mod revisions;
pub mod revocation;
pub mod sign;
pub mod stamp;
pub mod timestamp;
pub mod validate;

use lopdf::{Document, Object};

/// What an accepted PDF looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfInfo {
    pub pages: u32,
    /// The header version, e.g. `1.7`.
    pub version: String,
}

/// Why a file is not accepted as a permit PDF. `Display` is English (logs, CLI); [`Self::pesan`]
/// is the Bahasa Indonesia message shown to staff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfProblem {
    #[error("the file is empty")]
    Empty,
    #[error("the file is {size} bytes, above the limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error("not a PDF (no %PDF- header)")]
    NotPdf,
    #[error("the PDF is truncated (no %%EOF marker at the end)")]
    Truncated,
    #[error("the PDF is encrypted or password-protected")]
    Encrypted,
    #[error("the PDF cannot be read: {0}")]
    Malformed(String),
    #[error("the PDF has no pages")]
    NoPages,
}

impl PdfProblem {
    /// A stable machine code for APIs.
    pub fn code(&self) -> &'static str {
        match self {
            PdfProblem::Empty => "empty",
            PdfProblem::TooLarge { .. } => "too_large",
            PdfProblem::NotPdf => "not_pdf",
            PdfProblem::Truncated => "truncated",
            PdfProblem::Encrypted => "encrypted",
            PdfProblem::Malformed(_) => "malformed",
            PdfProblem::NoPages => "no_pages",
        }
    }

    /// The message for staff, in Bahasa Indonesia.
    pub fn pesan(&self) -> String {
        match self {
            PdfProblem::Empty => "Berkas kosong.".into(),
            PdfProblem::TooLarge { size, limit } => format!(
                "Berkas terlalu besar ({}); batasnya {}.",
                human_size(*size),
                human_size(*limit)
            ),
            PdfProblem::NotPdf => {
                "Berkas ini bukan PDF (mungkin hanya berganti nama menjadi .pdf).".into()
            }
            PdfProblem::Truncated => {
                "PDF terpotong (tidak lengkap); unggah ulang berkas yang utuh.".into()
            }
            PdfProblem::Encrypted => {
                "PDF dienkripsi atau berkata sandi; simpan ulang tanpa kata sandi lalu unggah lagi."
                    .into()
            }
            PdfProblem::Malformed(_) => "PDF rusak dan tidak dapat dibaca.".into(),
            PdfProblem::NoPages => "PDF tidak memiliki halaman.".into(),
        }
    }
}

/// `1.5 MB`-style sizes for messages.
pub fn human_size(bytes: u64) -> String {
    const KB: f64 = 1000.0;
    let b = bytes as f64;
    if b >= KB * KB {
        format!("{:.1} MB", b / (KB * KB))
    } else if b >= KB {
        format!("{:.0} KB", b / KB)
    } else {
        format!("{bytes} B")
    }
}

/// How far from the end `%%EOF` may sit (trailing whitespace and junk written by some tools).
const EOF_WINDOW: usize = 2048;
/// How far into the file `%PDF-` may start (some generators put bytes before it).
const HEADER_WINDOW: usize = 1024;

/// Checks that `bytes` is a whole, unencrypted PDF with at least one page, within `limit` bytes.
pub fn inspect(bytes: &[u8], limit: u64) -> Result<PdfInfo, PdfProblem> {
    if bytes.is_empty() {
        return Err(PdfProblem::Empty);
    }
    if bytes.len() as u64 > limit {
        return Err(PdfProblem::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    let head = &bytes[..bytes.len().min(HEADER_WINDOW)];
    let Some(start) = find(head, b"%PDF-") else {
        return Err(PdfProblem::NotPdf);
    };
    let version: String = bytes[start + 5..]
        .iter()
        .take(3)
        .map(|&b| b as char)
        .filter(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    // lopdf rebuilds a lost cross-reference table by scanning, so a file cut short can still
    // "load"; the end marker is what tells a complete file from a truncated one.
    let tail = &bytes[bytes.len().saturating_sub(EOF_WINDOW)..];
    if find(tail, b"%%EOF").is_none() {
        return Err(PdfProblem::Truncated);
    }
    let doc = match Document::load_mem(bytes) {
        Ok(doc) => doc,
        Err(lopdf::Error::Decryption(_)) | Err(lopdf::Error::AlreadyEncrypted) => {
            return Err(PdfProblem::Encrypted);
        }
        Err(e) => {
            // An encrypted file whose password is not empty fails to load in several ways.
            if find(bytes, b"/Encrypt").is_some() {
                return Err(PdfProblem::Encrypted);
            }
            return Err(PdfProblem::Malformed(e.to_string()));
        }
    };
    if doc.was_encrypted() || doc.trailer.get(b"Encrypt").is_ok() {
        return Err(PdfProblem::Encrypted);
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(PdfProblem::NoPages);
    }
    // Every page must resolve to a page dictionary: a reconstructed file with dangling page
    // references is damaged even if its tree loads.
    for id in pages.values() {
        match doc.get_object(*id) {
            Ok(Object::Dictionary(_)) => {}
            _ => return Err(PdfProblem::Malformed(format!("page object {id:?} missing"))),
        }
    }
    Ok(PdfInfo {
        pages: pages.len() as u32,
        version,
    })
}

/// Text for the standard fonts (WinAnsi): Latin-1 as is, anything else as '?'.
pub(crate) fn latin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| if (c as u32) < 256 { c as u8 } else { b'?' })
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        letter::render(&letter::PermitLetter::example(), 0)
    }

    #[test]
    fn a_rendered_letter_passes() {
        let info = inspect(&sample(), 20_000_000).expect("valid");
        assert_eq!(info.pages, 2);
        assert_eq!(info.version, "1.7");
    }

    #[test]
    fn bad_files_are_named() {
        let pdf = sample();
        assert_eq!(inspect(b"", 100), Err(PdfProblem::Empty));
        assert_eq!(
            inspect(&pdf, 100),
            Err(PdfProblem::TooLarge {
                size: pdf.len() as u64,
                limit: 100
            })
        );
        assert_eq!(
            inspect(b"PK\x03\x04 a zip file", 1000),
            Err(PdfProblem::NotPdf)
        );
        assert_eq!(
            inspect(&pdf[..pdf.len() / 2], 20_000_000),
            Err(PdfProblem::Truncated)
        );
        let mut garbage = b"%PDF-1.4\n".to_vec();
        garbage.extend_from_slice(&[0x55; 300]);
        garbage.extend_from_slice(b"\n%%EOF\n");
        assert!(matches!(
            inspect(&garbage, 20_000_000),
            Err(PdfProblem::Malformed(_)) | Err(PdfProblem::NoPages)
        ));
    }

    #[test]
    fn messages_are_bahasa() {
        assert!(PdfProblem::Encrypted.pesan().contains("kata sandi"));
        assert!(
            PdfProblem::TooLarge {
                size: 25_000_000,
                limit: 20_000_000
            }
            .pesan()
            .contains("25.0 MB")
        );
    }
}
