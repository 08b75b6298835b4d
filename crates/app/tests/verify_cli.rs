//! `verify` as an outside checker uses it: a file signed with the keys `keys init` made is ASLI
//! (exit 0, JSON lines per check), one changed byte TIDAK ASLI (exit 1), without the office's CA
//! as anchor TIDAK DAPAT DIPASTIKAN (exit 1); `verify --qr` accepts the office's seal and refuses
//! a changed fact.

use std::process::{Command, Output};

use companion_pdf::sign::{SignatureInfo, sign_pdf};

const BIN: &str = env!("CARGO_BIN_EXE_sicantik-companion");

/// The binary with `keys` and a database beside them (`verify` reads the office's records and
/// its CAs' revocations there; it never creates one, `migrate` does).
fn companion(keys: &std::path::Path, args: &[&str]) -> Output {
    let db = keys.with_extension("db");
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KEYS_DIR", keys)
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .output()
        .expect("run")
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

#[test]
fn verify_a_signed_pdf_and_a_qr_seal() {
    let dir = tempfile::tempdir().expect("dir");
    let keys = dir.path().join("keys");
    let out = companion(&keys, &["keys", "init"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(companion(&keys, &["migrate"]).status.success());
    let read = |f: &str| std::fs::read_to_string(keys.join(f)).expect("key file");
    let signer = companion_pdf::keys::SigningIdentity::from_pem(
        &read("signer-key.pem"),
        &read("signer-chain.pem"),
    )
    .expect("identity");
    let letter = companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0);
    let info = SignatureInfo {
        name: "Kepala DPMPTSP".into(),
        reason: "Penerbitan surat izin".into(),
        location: "Kabanjahe".into(),
        time: chrono::Utc::now().fixed_offset(),
        visible: None,
    };
    let signed = sign_pdf(&letter, 1, &info, &signer).expect("sign");
    let path = dir.path().join("izin.pdf");
    std::fs::write(&path, &signed).expect("write");
    let file = path.to_str().expect("path");

    let out = companion(&keys, &["verify", file, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = json(&out);
    assert_eq!(report["verdict"], "ASLI");
    let checks = &report["signatures"][0]["checks"];
    for line in ["integrity", "coverage", "chain", "timestamp", "revocation"] {
        assert_eq!(checks[line]["outcome"], "passed", "{line}: {report}");
    }
    // The human form names each check.
    let out = companion(&keys, &["verify", file]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("ASLI:") && text.contains("keutuhan"),
        "{text}"
    );

    let mut tampered = signed.clone();
    tampered[letter.len() / 2] ^= 0x01;
    let bad = dir.path().join("diubah.pdf");
    std::fs::write(&bad, &tampered).expect("write");
    let out = companion(&keys, &["verify", bad.to_str().expect("path"), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["verdict"], "TIDAK ASLI");

    // Another office's keys: the signature is intact but its issuer unknown here.
    let other = dir.path().join("other-keys");
    assert!(companion(&other, &["keys", "init"]).status.success());
    assert!(companion(&other, &["migrate"]).status.success());
    let out = companion(&other, &["verify", file, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!(report["verdict"], "TIDAK DAPAT DIPASTIKAN");
    assert_eq!(
        report["signatures"][0]["checks"]["integrity"]["outcome"],
        "passed"
    );

    // The QR's seal.
    let seal = companion_domain::seal::seal_key_from_hex(&read("seal.key")).expect("seal key");
    let facts = companion_domain::seal::SealedFacts {
        permit_number: "503/0142/DPMPTSP/2025".into(),
        holder: "Rasmita br Ginting".into(),
        permit_type: "Izin Mendirikan Bangunan".into(),
        issue_date: "2025-07-03".into(),
        expiry_date: "2030-07-03".into(),
    };
    let qr = companion_domain::seal::seal_url(
        &seal,
        "https://izin.karokab.go.id",
        "ACDEFGHJKLMN",
        &facts,
    );
    let out = companion(&keys, &["verify", "--qr", &qr, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["valid"], true);
    assert_eq!(v["facts"]["holder"], "Rasmita br Ginting");
    // A changed fact: the facts of another URL with this URL's signature.
    let longer = companion_domain::seal::SealedFacts {
        expiry_date: "2040-07-03".into(),
        ..facts.clone()
    };
    let other_url = companion_domain::seal::seal_url(
        &seal,
        "https://izin.karokab.go.id",
        "ACDEFGHJKLMN",
        &longer,
    );
    let data = |u: &str| u.split("&s=").next().unwrap_or_default().to_string();
    let signature = |u: &str| u.split("&s=").nth(1).unwrap_or_default().to_string();
    let forged = format!("{}&s={}", data(&other_url), signature(&qr));
    assert_ne!(data(&other_url), data(&qr));
    let out = companion(&keys, &["verify", "--qr", &forged]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("SEGEL TIDAK SAH"));
    let out = companion(&other, &["verify", "--qr", &qr]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "another office's key refuses it"
    );

    // Without the office's database its CAs' revocations are unknown: not ASLI, and said so.
    let moved = keys.with_extension("db-away");
    std::fs::rename(keys.with_extension("db"), &moved).expect("move the database away");
    let out = companion(&keys, &["verify", file, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!(report["verdict"], "TIDAK DAPAT DIPASTIKAN", "{report}");
    std::fs::rename(&moved, keys.with_extension("db")).expect("move it back");

    // `keys revoke` (key compromise): the unstamped signature can no longer be trusted.
    let out = companion(&keys, &["keys", "revoke", "--reason", "keyCompromise"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = companion(&keys, &["verify", file, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_ne!(report["verdict"], "ASLI", "{report}");
    assert_eq!(
        report["signatures"][0]["checks"]["revocation"]["outcome"], "failed",
        "{report}"
    );
}
