//! `keys init`: the files it writes load as a signing identity and a seal key, secrets are
//! owner-only, and existing material is not replaced without --force.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sicantik-companion");

fn keys(dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(["keys", "init", "--dir"])
        .arg(dir)
        .args(extra)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("run")
}

#[test]
fn keys_init_writes_usable_material_once() {
    let dir = std::env::temp_dir().join(format!("companion-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = keys(&dir, &["--signer-name", "Pejabat Uji"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("PRIVATE KEY"), "a key was printed");

    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect(f);
    let signer = companion_pdf::keys::SigningIdentity::from_pem(
        &read("signer-key.pem"),
        &read("signer-chain.pem"),
    )
    .expect("identity");
    assert!(
        signer
            .certificate
            .tbs_certificate
            .subject
            .to_string()
            .contains("Pejabat Uji")
    );
    assert_eq!(
        signer.chain.len(),
        2,
        "the chain holds the issuing CA and the root"
    );
    let seal = companion_domain::seal::seal_key_from_hex(&read("seal.key")).expect("seal");
    let public = companion_domain::seal::seal_public_from_hex(&read("seal.pub")).expect("pub");
    assert_eq!(seal.verifying_key(), public);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for secret in [
            "ca-key.pem",
            "issuing-ca-key.pem",
            "ocsp-key.pem",
            "signer-key.pem",
            "seal.key",
        ] {
            let mode = std::fs::metadata(dir.join(secret))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{secret} is readable by others: {mode:o}");
        }
    }

    // A second run keeps what is there.
    let again = keys(&dir, &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(
        read("seal.key"),
        companion_domain::seal::seal_key_hex(&seal) + "\n"
    );
    let forced = keys(&dir, &["--force"]);
    assert!(forced.status.success());
    assert_ne!(
        read("seal.key"),
        companion_domain::seal::seal_key_hex(&seal) + "\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
