//! Signs a PDF with a throw-away CA (for trying validators by hand):
//! `cargo run -p companion-pdf --example sign -- in.pdf out.pdf ca.pem`
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (input, output, ca_out) = (&args[1], &args[2], &args[3]);
    let ca = companion_pdf::keys::new_ca("Uji CA", 1)?;
    let signer = companion_pdf::keys::issue_signer(&ca, "Pejabat Uji", 30)?;
    std::fs::write(ca_out, ca.certs_pem()?)?;
    let info = companion_pdf::sign::SignatureInfo {
        name: "Pejabat Uji".into(),
        reason: "Persetujuan izin".into(),
        location: "Kabanjahe".into(),
        time: chrono::Utc::now().fixed_offset(),
        visible: None,
    };
    let signed = companion_pdf::sign::sign_pdf(&std::fs::read(input)?, 1, &info, &signer)?;
    std::fs::write(output, signed)?;
    Ok(())
}
