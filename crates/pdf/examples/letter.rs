//! Writes the example permit letter to the path given (or `letter.pdf`):
//! `cargo run -p companion-pdf --example letter -- out.pdf`
fn main() -> std::io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "letter.pdf".into());
    let pdf = companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0);
    std::fs::write(&path, pdf)
}
