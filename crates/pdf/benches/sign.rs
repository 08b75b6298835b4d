//! Signing benchmark: a typical 2-page permit letter signed with the local RSA-2048 signer, one
//! core, next to pyHanko signing the same PDF with the same key in the same run (its Python API,
//! in one process, so interpreter start-up is not counted) and to `openssl speed rsa2048` (the
//! ceiling: one private-key operation per signature).
//! Run: `cargo bench -p companion-pdf --bench sign` (`BENCH_DOCS`, default 300; pyHanko and
//! openssl are skipped with a note when missing).

use std::process::Command;
use std::time::Instant;

use companion_pdf::keys::{issue_signer, new_ca};
use companion_pdf::sign::{SignatureInfo, sign_pdf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::var("BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let pdf = companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0);
    let ca = new_ca("Bench CA", 1)?;
    let signer = issue_signer(&ca, "Bench Signer", 30)?;
    let info = SignatureInfo {
        name: "Bench Signer".into(),
        reason: "Benchmark".into(),
        location: "Kabanjahe".into(),
        time: chrono::Utc::now().fixed_offset(),
        visible: None,
    };
    // Warm up, then measure.
    sign_pdf(&pdf, 1, &info, &signer)?;
    let started = Instant::now();
    for _ in 0..n {
        std::hint::black_box(sign_pdf(&pdf, 1, &info, &signer)?);
    }
    let ours = n as f64 / started.elapsed().as_secs_f64();
    // Where the time goes: the PDF work alone, the CMS (one RSA operation) alone.
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(companion_pdf::sign::prepare_signature(&pdf, 1, &info)?);
    }
    let prepare_per_s = n as f64 / t.elapsed().as_secs_f64();
    let digest = [7u8; 32];
    let t = Instant::now();
    for _ in 0..n {
        use companion_pdf::sign::CmsSigner;
        std::hint::black_box(signer.sign_digest(&digest)?);
    }
    let cms_per_s = n as f64 / t.elapsed().as_secs_f64();

    let dir = std::env::temp_dir().join(format!("companion-sign-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("letter.pdf"), &pdf)?;
    std::fs::write(dir.join("key.pem"), signer.key_pem()?)?;
    std::fs::write(dir.join("cert.pem"), {
        use der::EncodePem;
        signer.certificate.to_pem(der::pem::LineEnding::LF)?
    })?;
    std::fs::write(dir.join("ca.pem"), ca.certs_pem()?)?;
    let script = r#"
import io, sys, time
from pyhanko.sign import signers
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
d, n = sys.argv[1], int(sys.argv[2])
signer = signers.SimpleSigner.load(d + "/key.pem", d + "/cert.pem", ca_chain_files=(d + "/ca.pem",), key_passphrase=None)
data = open(d + "/letter.pdf", "rb").read()
meta = signers.PdfSignatureMetadata(field_name="Bench")
def one():
    signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data)), meta, signer=signer)
one()
t = time.time()
for _ in range(n):
    one()
print(n / (time.time() - t))
"#;
    let pyhanko_n = (n / 10).max(10);
    let pyhanko = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&dir)
        .arg(pyhanko_n.to_string())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        });
    let openssl = Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa2048"])
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            // "rsa 2048 bits 0.001170s 0.000033s    854.7  30303.0" → sign/s is the 6th field.
            text.lines()
                .find(|l| l.trim_start().starts_with("rsa 2048 bits"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(5)
                        .and_then(|v| v.parse::<f64>().ok())
                })
        });
    let _ = std::fs::remove_dir_all(&dir);

    println!("{} bytes, 2 pages; {n} signatures, one core\n", pdf.len());
    println!("| signer | documents/s | ratio to openssl rsa2048 sign/s |");
    println!("|---|---:|---:|");
    let ratio = |v: f64| {
        openssl
            .map(|o| format!("{:.2}", v / o))
            .unwrap_or_else(|| "–".into())
    };
    println!(
        "| companion (lopdf, CMS template, OpenSSL RSA) | {ours:.0} | {} |",
        ratio(ours)
    );
    match pyhanko {
        Some(p) => println!(
            "| pyHanko (Python API, same key, {pyhanko_n} documents) | {p:.1} | {} |",
            ratio(p)
        ),
        None => println!("| pyHanko | not installed | – |"),
    }
    match openssl {
        Some(o) => {
            println!("| openssl speed rsa2048 (bare signatures, the ceiling) | {o:.0} | 1.00 |")
        }
        None => println!("| openssl | not available | – |"),
    }
    println!("\nparts alone: PDF preparation {prepare_per_s:.0}/s, CMS {cms_per_s:.0}/s");
    if let Some(p) = pyhanko {
        println!("companion / pyHanko: {:.0}×", ours / p);
    }
    Ok(())
}
