//! Files from other PDF writers are accepted or refused for the right reason.

use companion_pdf::{PdfProblem, inspect};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const LIMIT: u64 = 20_000_000;

#[test]
fn pdfs_from_cairo_and_qpdf_are_accepted() {
    for name in ["cairo.pdf", "qpdf-object-streams.pdf"] {
        let info = inspect(&fixture(name), LIMIT).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(info.pages, 2, "{name}");
    }
}

#[test]
fn encrypted_pdfs_are_refused_with_or_without_a_user_password() {
    for name in ["encrypted-aes256.pdf", "encrypted-empty-user-password.pdf"] {
        assert_eq!(
            inspect(&fixture(name), LIMIT),
            Err(PdfProblem::Encrypted),
            "{name}"
        );
    }
}

#[test]
fn a_cut_file_from_another_writer_is_truncated() {
    let pdf = fixture("cairo.pdf");
    for cut in [pdf.len() - 10, pdf.len() * 3 / 4, 100] {
        assert_eq!(
            inspect(&pdf[..cut], LIMIT),
            Err(PdfProblem::Truncated),
            "cut at {cut}"
        );
    }
}
