//! PAdES signatures checked by two independent validators, poppler's `pdfsig` and pyHanko, on
//! PDFs from several writers (ours, cairo, qpdf with object streams, a linearized file, Chromium's
//! print, a file already signed by someone else, whose signature must stay valid). A changed byte
//! makes both report the signature broken. `scripts/test.sh` installs both validators.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use companion_pdf::keys::{SigningIdentity, issue_signer, new_ca};
use companion_pdf::sign::{SignatureInfo, sign_pdf};

struct Setup {
    signer: SigningIdentity,
    tsa: SigningIdentity,
    dir: PathBuf,
    trust: PathBuf,
    tsa_ca: PathBuf,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let ca = new_ca("Uji CA DPMPTSP", 1).expect("ca");
        let signer = issue_signer(&ca, "Pejabat Uji", 30).expect("signer");
        // The TSA has its own CA, as a real one would.
        let tsa_root = new_ca("Uji TSA Root", 1).expect("tsa ca");
        let tsa = companion_pdf::keys::issue_tsa(&tsa_root, "Uji TSA", 30).expect("tsa");
        // Kept for inspection under target/tmp (replaced by the next run).
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("signing");
        std::fs::create_dir_all(&dir).expect("dir");
        // Trust our test CA and the other signer's self-signed certificate.
        let trust = dir.join("trust.pem");
        let other = std::fs::read_to_string(fixture_path("other-signer-cert.pem")).expect("other");
        let tsa_ca = dir.join("tsa-ca.pem");
        let tsa_ca_pem = tsa_root.certs_pem().expect("pem");
        std::fs::write(&tsa_ca, &tsa_ca_pem).expect("tsa ca");
        std::fs::write(
            &trust,
            format!("{}{other}{tsa_ca_pem}", ca.certs_pem().expect("pem")),
        )
        .expect("trust");
        Setup {
            signer,
            tsa,
            dir,
            trust,
            tsa_ca,
        }
    })
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tool(name: &str) -> Command {
    let probe = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .expect("sh");
    assert!(
        probe.status.success(),
        "{name} is not installed: run scripts/test.sh (it installs poppler-utils and pyHanko)"
    );
    Command::new(name)
}

fn info() -> SignatureInfo {
    SignatureInfo {
        name: "Pejabat Uji".into(),
        reason: "Persetujuan izin".into(),
        location: "Kabanjahe".into(),
        time: chrono::Utc::now().fixed_offset(),
        visible: None,
    }
}

/// pdfsig's verdicts: (field, whole file covered, valid) per signature.
fn pdfsig(path: &Path) -> Vec<(String, bool, bool)> {
    let out = tool("pdfsig").arg(path).output().expect("pdfsig");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut sigs: Vec<(String, bool, bool)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("- Signature Field Name: ") {
            sigs.push((name.to_string(), false, false));
        } else if let Some(last) = sigs.last_mut() {
            if line == "- Total document signed" {
                last.1 = true;
            } else if line == "- Signature Validation: Signature is Valid." {
                last.2 = true;
            }
        }
    }
    sigs
}

/// pyHanko's summary lines `field:hash:INTACT:TRUSTED,…`, and its exit status.
fn pyhanko(path: &Path) -> (bool, Vec<String>) {
    let out = tool("pyhanko")
        .args(["sign", "validate", "--trust-replace", "--trust"])
        .arg(&setup().trust)
        .arg(path)
        .output()
        .expect("pyhanko");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.success(),
        text.lines().map(str::to_string).collect(),
    )
}

fn sign_and_validate(name: &str, input: Vec<u8>, earlier_signatures: usize) {
    let s = setup();
    let signed = sign_pdf(&input, 1, &info(), &s.signer).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        signed.starts_with(&input),
        "{name}: the signed revision must be kept byte for byte"
    );
    let path = s.dir.join(format!("signed-{name}"));
    std::fs::write(&path, &signed).expect("write");

    let sigs = pdfsig(&path);
    assert_eq!(sigs.len(), earlier_signatures + 1, "{name}: {sigs:?}");
    assert!(
        sigs.iter().all(|(_, _, valid)| *valid),
        "{name}: pdfsig: {sigs:?}"
    );
    let ours = sigs.last().expect("ours");
    assert!(
        ours.1,
        "{name}: our signature must cover the whole file: {sigs:?}"
    );

    let (ok, lines) = pyhanko(&path);
    assert!(ok, "{name}: pyHanko: {lines:?}");
    assert_eq!(lines.len(), earlier_signatures + 1, "{name}: {lines:?}");
    assert!(
        lines.iter().all(|l| l.contains(":INTACT:TRUSTED")),
        "{name}: {lines:?}"
    );
    assert!(
        lines.last().is_some_and(|l| l.contains("UNTOUCHED")),
        "{name}: {lines:?}"
    );

    // One changed byte in the signed part: both validators call it broken.
    let mut tampered = signed.clone();
    let at = input.len() / 2;
    tampered[at] = if tampered[at] == b'7' { b'8' } else { b'7' };
    let bad = s.dir.join(format!("tampered-{name}"));
    std::fs::write(&bad, &tampered).expect("write");
    let sigs = pdfsig(&bad);
    assert!(
        sigs.last().is_some_and(|(_, _, valid)| !valid),
        "{name}: pdfsig accepted a changed file: {sigs:?}"
    );
    let (ok, lines) = pyhanko(&bad);
    assert!(
        !ok || !lines.last().is_some_and(|l| l.contains(":INTACT:")),
        "{name}: pyHanko accepted a changed file: {lines:?}"
    );
}

#[test]
fn our_letter() {
    let pdf = companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0);
    sign_and_validate("letter.pdf", pdf, 0);
}

#[test]
fn pdfs_from_other_writers() {
    for name in [
        "cairo.pdf",
        "qpdf-object-streams.pdf",
        "linearized.pdf",
        "chromium-print.pdf",
    ] {
        sign_and_validate(name, std::fs::read(fixture_path(name)).expect("fixture"), 0);
    }
}

#[test]
fn an_earlier_signature_stays_valid() {
    let pdf = std::fs::read(fixture_path("signed-by-other.pdf")).expect("fixture");
    sign_and_validate("signed-by-other.pdf", pdf, 1);
}

#[test]
fn signing_twice_adds_a_second_field() {
    let s = setup();
    let pdf = companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0);
    let once = sign_pdf(&pdf, 1, &info(), &s.signer).expect("once");
    sign_and_validate("twice.pdf", once, 1);
}

/// Renders page 1 at 150 dpi with pdftoppm and decodes every QR on it with zbarimg.
fn decode_qr(pdf: &Path) -> Vec<String> {
    let prefix = pdf.with_extension("page1");
    let status = tool("pdftoppm")
        .args(["-r", "150", "-f", "1", "-l", "1", "-png", "-singlefile"])
        .arg(pdf)
        .arg(&prefix)
        .status()
        .expect("pdftoppm");
    assert!(status.success(), "pdftoppm failed on {}", pdf.display());
    let out = tool("zbarimg")
        // Only QR codes: zbar can take a run of text for a linear barcode.
        .args(["--raw", "-q", "-Sdisable", "-Sqrcode.enable"])
        .arg(pdf.with_extension("page1.png"))
        .output()
        .expect("zbarimg");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn stamped_qr_is_readable_sealed_and_signed_over() {
    use companion_domain::seal::{SealError, SealedFacts, new_seal_key, seal_url, verify_seal};
    use companion_pdf::stamp::{Placement, stamp_qr};
    let s = setup();
    let seal = new_seal_key();
    let facts = SealedFacts {
        permit_number: "503/0142/DPMPTSP/2025".into(),
        holder: "Rasmita br Ginting".into(),
        permit_type: "Izin Mendirikan Bangunan".into(),
        issue_date: "2025-07-03".into(),
        expiry_date: "2030-07-03".into(),
    };
    let text = seal_url(&seal, "https://izin.karokab.go.id", "K7Q2M9AB", &facts);
    for name in ["cairo.pdf", "chromium-print.pdf", "qpdf-object-streams.pdf"] {
        let original = std::fs::read(fixture_path(name)).expect("fixture");
        let stamped = stamp_qr(
            &original,
            &text,
            "Pindai untuk memeriksa keaslian",
            None,
            &Placement::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .pdf;
        assert!(
            stamped.starts_with(&original),
            "{name}: the original revision is kept"
        );
        assert_eq!(
            companion_pdf::inspect(&stamped, 20_000_000)
                .expect("still a PDF")
                .pages,
            companion_pdf::inspect(&original, 20_000_000)
                .expect("pdf")
                .pages
        );
        // Signed after stamping: the signature covers the QR.
        let signed = sign_pdf(&stamped, 1, &info(), &s.signer).expect("sign");
        let path = s.dir.join(format!("stamped-signed-{name}"));
        std::fs::write(&path, &signed).expect("write");
        let sigs = pdfsig(&path);
        assert!(
            sigs.len() == 1 && sigs[0].1 && sigs[0].2,
            "{name}: {sigs:?}"
        );
        let decoded = decode_qr(&path);
        assert_eq!(
            decoded,
            vec![text.clone()],
            "{name}: zbarimg read {decoded:?}"
        );
        let (vid, got) = verify_seal(&seal.verifying_key(), &decoded[0]).expect("seal verifies");
        assert_eq!((vid.as_str(), &got), ("K7Q2M9AB", &facts));
    }
    // A QR whose facts were changed does not verify.
    let forged = text.replacen("?d=", "?d=X", 1);
    assert!(verify_seal(&seal.verifying_key(), &forged).is_err());
    let _ = SealError::Malformed;
}

#[test]
fn b_t_signature_with_an_rfc3161_timestamp() {
    use companion_pdf::sign::{CmsSigner, prepare_signature};
    use companion_pdf::timestamp::{
        add_timestamp, request, respond, signature_imprint, token_from_response,
    };
    let s = setup();
    let pdf = std::fs::read(fixture_path("cairo.pdf")).expect("fixture");
    let prepared = prepare_signature(&pdf, 1, &info()).expect("prepare");
    let cms = s.signer.sign_digest(&prepared.digest).expect("cms");
    let imprint = signature_imprint(&cms).expect("imprint");
    let nonce = 0x1234_5678_9abc;
    let req = request(&imprint, nonce).expect("request");
    let resp = respond(&s.tsa, &req, 42, std::time::SystemTime::now()).expect("respond");
    // A token for another imprint or nonce is refused.
    assert!(token_from_response(&resp, &[0u8; 32], nonce).is_err());
    assert!(token_from_response(&resp, &imprint, nonce + 1).is_err());
    let token = token_from_response(&resp, &imprint, nonce).expect("token");
    let signed = prepared
        .finish(&add_timestamp(&cms, &token).expect("add"))
        .expect("finish");
    let path = s.dir.join("signed-b-t.pdf");
    std::fs::write(&path, &signed).expect("write");

    let sigs = pdfsig(&path);
    assert!(sigs.len() == 1 && sigs[0].1 && sigs[0].2, "{sigs:?}");
    let out = tool("pyhanko")
        .args([
            "sign",
            "validate",
            "--pretty-print",
            "--trust-replace",
            "--trust",
        ])
        .arg(&s.trust)
        .arg(&path)
        .output()
        .expect("pyhanko");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("The signature is judged VALID"), "{text}");
    assert!(
        text.contains("The timestamp token is cryptographically sound.")
            && text.contains("The TSA certificate is trusted."),
        "pyHanko saw no valid timestamp: {text}"
    );

    // The token also verifies with OpenSSL against the TSA's root and the imprint.
    let token_path = s.dir.join("token.der");
    std::fs::write(&token_path, &token).expect("token");
    let out = tool("openssl")
        .args(["ts", "-verify", "-token_in", "-in"])
        .arg(&token_path)
        .args(["-digest", &hex::encode(imprint), "-CAfile"])
        .arg(&s.tsa_ca)
        .output()
        .expect("openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("Verification: OK"),
        "{text}"
    );
}

#[test]
fn a_visible_signature_box_validates_too() {
    let s = setup();
    let pdf = std::fs::read(fixture_path("chromium-print.pdf")).expect("fixture");
    let mut with_box = info();
    with_box.visible = Some(companion_pdf::sign::VisibleSignature::bottom_right(
        "Kepala DPMPTSP Kabupaten Karo",
    ));
    let signed = sign_pdf(&pdf, 1, &with_box, &s.signer).expect("sign");
    let text = String::from_utf8_lossy(&signed);
    assert!(text.contains("/AP") && text.contains("Ditandatangani secara elektronik oleh"));
    let path = s.dir.join("signed-visible.pdf");
    std::fs::write(&path, &signed).expect("write");
    let sigs = pdfsig(&path);
    assert!(sigs.len() == 1 && sigs[0].1 && sigs[0].2, "{sigs:?}");
    let (ok, lines) = pyhanko(&path);
    assert!(ok && lines[0].contains(":INTACT:TRUSTED"), "{lines:?}");
}

#[test]
fn the_chain_goes_into_the_dss_and_the_signature_still_covers_the_whole_file() {
    use companion_pdf::sign::{CmsSigner, prepare_signature_with_dss};
    let s = setup();
    let letter = companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0);
    let chain = s.signer.chain_der().expect("chain");
    assert_eq!(chain.len(), 2, "signer and root");
    let prepared = prepare_signature_with_dss(&letter, 1, &info(), &chain).expect("prepare");
    let cms = s.signer.sign_digest(&prepared.digest).expect("cms");
    let signed = prepared.finish(&cms).expect("finish");
    let path = s.dir.join("signed-with-dss.pdf");
    std::fs::write(&path, &signed).expect("write");

    let sigs = pdfsig(&path);
    assert_eq!(sigs.len(), 1, "{sigs:?}");
    assert!(sigs[0].1 && sigs[0].2, "valid and whole file: {sigs:?}");
    let (ok, lines) = pyhanko(&path);
    assert!(ok, "{lines:?}");
    assert!(
        lines[0].contains(":INTACT:TRUSTED") && lines[0].contains("UNTOUCHED"),
        "{lines:?}"
    );

    // The catalog's DSS holds exactly the chain, byte for byte.
    let doc = lopdf::Document::load_mem(&signed).expect("load");
    let root = doc
        .trailer
        .get(b"Root")
        .and_then(lopdf::Object::as_reference)
        .expect("root");
    let dss = doc
        .get_dictionary(root)
        .and_then(|r| r.get(b"DSS"))
        .and_then(lopdf::Object::as_reference)
        .and_then(|id| doc.get_dictionary(id))
        .expect("DSS");
    let certs = dss
        .get(b"Certs")
        .and_then(lopdf::Object::as_array)
        .expect("Certs");
    let stored: Vec<Vec<u8>> = certs
        .iter()
        .map(|c| {
            let id = c.as_reference().expect("ref");
            doc.get_object(id)
                .and_then(lopdf::Object::as_stream)
                .expect("stream")
                .content
                .clone()
        })
        .collect();
    assert_eq!(stored, chain);
}
