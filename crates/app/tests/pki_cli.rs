//! The office's PKI end to end, checked with OpenSSL against a running server over real HTTP:
//! `keys init` makes root → issuing CA → signer with correct profiles and revocation pointers;
//! the served CRLs make `openssl verify -crl_check_all` pass; `openssl ocsp` gets good, then
//! (after `keys revoke`) revoked with the reason, and the CRL lists the serial; an unknown serial
//! is unknown, garbage is malformedRequest; `keys upgrade` brings a flat folder from before.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use companion_db::testing::TestDb;

mod common;
use common::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_sicantik-companion");

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(args: &[&str], cwd: &Path) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("openssl");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn first_pem(bundle: &str) -> String {
    let end = "-----END CERTIFICATE-----";
    let i = bundle.find(end).expect("a certificate") + end.len();
    format!("{}\n", &bundle[..i])
}

companion_db::on_both_backends!(pki_served_and_revocation_seen_by_openssl);

async fn pki_served_and_revocation_seen_by_openssl(backend: &str) {
    let t = TestDb::new(backend).await.expect("db");
    let dir = tempfile::tempdir().expect("dir");
    let keys = dir.path().join("keys");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let command = |args: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &t.url)
            // Nothing listens there: the scheduler's SICANTIK calls fail fast and stay local.
            .env("SICANTIK_BASE_URL", "http://127.0.0.1:9/api")
            .env(
                "STORAGE_URL",
                format!("file://{}", dir.path().join("objects").display()),
            )
            .env("KEYS_DIR", &keys)
            .env("DATA_DIR", dir.path())
            .env("INBOX_DIR", "")
            .env("LISTEN", format!("127.0.0.1:{port}"))
            .env("PUBLIC_BASE_URL", &base)
            .env("RUST_LOG", "warn");
        cmd
    };
    let run = |args: &[&str]| {
        let out = command(args).output().expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, _, err) = run(&["keys", "init", "--signer-name", "Pejabat Uji"]);
    assert_eq!(code, Some(0), "{err}");

    // Profiles, as OpenSSL reads them.
    let chain = std::fs::read_to_string(keys.join("signer-chain.pem")).expect("chain");
    std::fs::write(keys.join("signer.pem"), first_pem(&chain)).expect("signer");
    let text = |f: &str| openssl(&["x509", "-in", f, "-noout", "-text"], &keys).1;
    let root = text("ca.pem");
    assert!(root.contains("CA:TRUE") && root.contains("Certificate Sign, CRL Sign"));
    assert!(root.contains("Subject Key Identifier"));
    let issuing = text("issuing-ca.pem");
    assert!(
        issuing.contains("critical\n                CA:TRUE, pathlen:0"),
        "{issuing}"
    );
    assert!(issuing.contains("Certificate Sign, CRL Sign"));
    assert!(issuing.contains("Authority Key Identifier"));
    assert!(issuing.contains(&format!("URI:{base}/pki/ca.crl")));
    assert!(issuing.contains(&format!("CA Issuers - URI:{base}/pki/ca.crt")));
    let signer = text("signer.pem");
    assert!(signer.contains("CA:FALSE"), "{signer}");
    assert!(signer.contains("Digital Signature, Non Repudiation"));
    assert!(!signer.contains("Certificate Sign"));
    assert!(
        signer.contains("Subject Key Identifier") && signer.contains("Authority Key Identifier")
    );
    assert!(signer.contains(&format!("URI:{base}/pki/issuing-ca.crl")));
    assert!(signer.contains(&format!("OCSP - URI:{base}/pki/ocsp")));
    assert!(signer.contains(&format!("CA Issuers - URI:{base}/pki/issuing-ca.crt")));
    let responder = text("ocsp-chain.pem");
    assert!(responder.contains("OCSP Signing") && responder.contains("OCSP No Check"));
    let purpose = openssl(
        &["x509", "-in", "issuing-ca.pem", "-noout", "-purpose"],
        &keys,
    )
    .1;
    assert!(purpose.contains("S/MIME signing CA : Yes"), "{purpose}");
    let purpose = openssl(&["x509", "-in", "signer.pem", "-noout", "-purpose"], &keys).1;
    assert!(purpose.contains("S/MIME signing : Yes"), "{purpose}");
    assert!(purpose.contains("S/MIME signing CA : No"), "{purpose}");

    let _server = Server(
        command(&["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let started = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "server up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fetch = |path: &'static str| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let r = http.get(&url).send().await.expect("get");
            assert_eq!(r.status(), 200, "{url}");
            let ctype = r.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .expect("ct")
                .to_string();
            let cache = r.headers()[reqwest::header::CACHE_CONTROL]
                .to_str()
                .expect("cc")
                .to_string();
            assert!(cache.starts_with("public"), "{url}: {cache}");
            (ctype, r.bytes().await.expect("body").to_vec())
        }
    };
    let fetch_crls = || async {
        for (path, file) in [
            ("/pki/ca.crl", "root.crl"),
            ("/pki/issuing-ca.crl", "issuing.crl"),
        ] {
            let (ctype, der) = fetch(path).await;
            assert_eq!(ctype, "application/pkix-crl");
            std::fs::write(keys.join(file), der).expect("crl");
        }
    };
    fetch_crls().await;
    for path in ["/pki/ca.crt", "/pki/issuing-ca.crt"] {
        let (ctype, der) = fetch(path).await;
        assert_eq!(ctype, "application/pkix-cert");
        assert!(!der.is_empty());
    }
    let verify = || {
        openssl(
            &[
                "verify",
                "-crl_check_all",
                "-CRLfile",
                "root.crl",
                "-CRLfile",
                "issuing.crl",
                "-CAfile",
                "ca.pem",
                "-untrusted",
                "issuing-ca.pem",
                "signer.pem",
            ],
            &keys,
        )
    };
    let (ok, out) = verify();
    assert!(ok && out.contains("signer.pem: OK"), "{out}");
    let crl = openssl(
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "issuing.crl",
            "-noout",
            "-text",
        ],
        &keys,
    )
    .1;
    assert!(
        crl.contains("X509v3 CRL Number") && crl.contains("Next Update"),
        "{crl}"
    );
    assert!(crl.contains("No Revoked Certificates"), "{crl}");

    let url = format!("{base}/pki/ocsp");
    let ocsp = |target: &[&str]| {
        let mut args = vec![
            "ocsp",
            "-issuer",
            "issuing-ca.pem",
            "-url",
            &url,
            "-CAfile",
            "ca.pem",
            "-verify_other",
            "issuing-ca.pem",
        ];
        args.extend_from_slice(target);
        openssl(&args, &keys)
    };
    let (_, out) = ocsp(&["-cert", "signer.pem"]);
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(out.contains("signer.pem: good"), "{out}");
    assert!(
        out.contains("This Update") && out.contains("Next Update"),
        "{out}"
    );
    let (_, out) = ocsp(&["-serial", "0x1234567890"]);
    assert!(out.contains(": unknown"), "{out}");
    // The issuing CA's own status, answered by the root.
    let root_ocsp = openssl(
        &[
            "ocsp",
            "-issuer",
            "ca.pem",
            "-cert",
            "issuing-ca.pem",
            "-url",
            &url,
            "-CAfile",
            "ca.pem",
        ],
        &keys,
    )
    .1;
    assert!(root_ocsp.contains("issuing-ca.pem: good"), "{root_ocsp}");

    // GET per RFC 5019 (base64 of the DER request, URL-encoded), nonce echoed.
    let (ok, out) = openssl(
        &[
            "ocsp",
            "-issuer",
            "issuing-ca.pem",
            "-cert",
            "signer.pem",
            "-reqout",
            "req.der",
        ],
        &keys,
    );
    assert!(ok, "{out}");
    let req = std::fs::read(keys.join("req.der")).expect("req");
    let (ok, b64) = openssl(&["base64", "-A", "-in", "req.der"], &keys);
    assert!(ok, "{b64}");
    let encoded = b64
        .trim()
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let r = http
        .get(format!("{base}/pki/ocsp/{encoded}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()[reqwest::header::CONTENT_TYPE],
        "application/ocsp-response"
    );
    std::fs::write(keys.join("resp.der"), r.bytes().await.expect("body")).expect("resp");
    // The request's nonce checked against the answer (OpenSSL says "Nonce Verify error" else).
    let (_, out) = openssl(
        &[
            "ocsp",
            "-reqin",
            "req.der",
            "-respin",
            "resp.der",
            "-CAfile",
            "ca.pem",
            "-verify_other",
            "issuing-ca.pem",
        ],
        &keys,
    );
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(
        !out.contains("Nonce Verify error") && !out.contains("WARNING"),
        "{out}"
    );
    let (_, out) = openssl(
        &["ocsp", "-respin", "resp.der", "-resp_text", "-noverify"],
        &keys,
    );
    assert!(
        out.contains("Cert Status: good") && out.contains("OCSP Nonce"),
        "{out}"
    );
    assert!(
        out.contains("CN = DPMPTSP Kabupaten Karo OCSP Responder"),
        "{out}"
    );

    // Hostile requests: malformedRequest (DER 30 03 0a 01 01), never a crash or a guess.
    for body in [&b"garbage"[..], b"", &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]] {
        let r = http
            .post(&url)
            .header("content-type", "application/ocsp-request")
            .body(body.to_vec())
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.bytes().await.expect("b").as_ref(),
            &[0x30, 0x03, 0x0a, 0x01, 0x01]
        );
    }
    let r = http
        .get(format!("{base}/pki/ocsp/%%%"))
        .send()
        .await
        .expect("get");
    assert!(r.status() == 200 || r.status() == 400, "{}", r.status());
    let r = http
        .post(&url)
        .body(req.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 415, "an untyped POST is refused");
    // Its own connection: the server closes it after refusing the body unread.
    let r = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/ocsp-request")
        .body(vec![0u8; 64 * 1024])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 413, "an oversized request is refused");
    for path in [
        "/pki/nope.crl",
        "/pki/..%2Fca-key.pem",
        "/pki/ca-key.pem",
        "/pki/ca.pem",
    ] {
        let r = http.get(format!("{base}{path}")).send().await.expect("get");
        assert_eq!(r.status(), 404, "{path}");
    }

    // Revoke: recorded once, audited, seen by CRL and OCSP at once.
    let (code, out, err) = run(&["keys", "revoke", "--reason", "keyCompromise"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("revoked the signer certificate"), "{out}");
    let (code, out, _) = run(&["keys", "revoke", "--reason", "superseded"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("already revoked") && out.contains("keyCompromise"),
        "{out}"
    );
    let (code, _, err) = run(&["keys", "revoke", "--reason", "removeFromCRL"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("unknown reason"), "{err}");
    let (code, out, _) = run(&["keys", "status"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("REVOKED") && out.contains("keyCompromise"),
        "{out}"
    );
    let (code, out, err) = run(&["audit", "verify"]);
    assert_eq!(code, Some(0), "{out}{err}");

    let (_, out) = ocsp(&["-cert", "signer.pem"]);
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(out.contains("signer.pem: revoked"), "{out}");
    assert!(out.contains("Reason: keyCompromise"), "{out}");
    assert!(out.contains("Revocation Time"), "{out}");
    fetch_crls().await;
    let serial = openssl(&["x509", "-in", "signer.pem", "-noout", "-serial"], &keys).1;
    let serial = serial.trim().trim_start_matches("serial=").to_uppercase();
    let crl = openssl(
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "issuing.crl",
            "-noout",
            "-text",
        ],
        &keys,
    )
    .1;
    assert!(
        crl.contains(&format!("Serial Number: {serial}")),
        "{serial} in {crl}"
    );
    assert!(crl.contains("Key Compromise"), "{crl}");
    let (ok, out) = verify();
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    drop(_server);
    let _ = t.cleanup().await;
}

/// A folder from before the layered PKI (one CA that issued the signer directly) keeps working
/// and `keys upgrade` adds the issuing CA under the same root, archiving the old signer.
#[test]
fn flat_folder_keeps_signing_and_upgrades_under_the_same_root() {
    let dir = tempfile::tempdir().expect("dir");
    let keys = dir.path();
    let ca = companion_pdf::keys::new_ca("DPMPTSP Kabupaten Karo Local CA", 10).expect("ca");
    let old = companion_pdf::keys::issue_signer(&ca, "Pejabat Lama", 700).expect("signer");
    std::fs::write(keys.join("ca.pem"), ca.certs_pem().expect("pem")).expect("w");
    std::fs::write(keys.join("ca-key.pem"), ca.key_pem().expect("pem")).expect("w");
    std::fs::write(keys.join("signer-key.pem"), old.key_pem().expect("pem")).expect("w");
    std::fs::write(keys.join("signer-chain.pem"), old.certs_pem().expect("pem")).expect("w");
    let keys_cmd = |args: &[&str]| {
        Command::new(BIN)
            .arg("keys")
            .args(args)
            .arg("--dir")
            .arg(keys)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PUBLIC_BASE_URL", "https://izin.example.go.id")
            .output()
            .expect("run")
    };
    // The old layout still loads as the local signer and as a PKI (its one CA).
    let pki = companion_pdf::pki::Pki::load_dir(keys).expect("pki");
    assert_eq!(pki.cas.len(), 1);
    assert_eq!(pki.cas[0].issued, vec![old.certificate.clone()]);
    // init refuses to replace it and names the way forward.
    let out = keys_cmd(&["init"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keys upgrade"));

    let out = keys_cmd(&["upgrade"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |f: &str| std::fs::read_to_string(keys.join(f)).expect(f);
    assert_eq!(read("ca.pem"), ca.certs_pem().expect("pem"), "same root");
    let new = companion_pdf::keys::SigningIdentity::from_pem(
        &read("signer-key.pem"),
        &read("signer-chain.pem"),
    )
    .expect("new signer");
    assert!(
        new.certificate
            .tbs_certificate
            .subject
            .to_string()
            .contains("Pejabat Lama")
    );
    assert_eq!(new.chain.len(), 2, "issuing CA and root");
    assert_eq!(new.chain[1], ca.certificate);
    // The old signer is archived, not deleted, and the root still answers good for it.
    let retired: Vec<_> = std::fs::read_dir(keys.join("retired"))
        .expect("retired")
        .flatten()
        .collect();
    assert_eq!(retired.len(), 1);
    assert!(retired[0].path().join("signer-key.pem").exists());
    let pki = companion_pdf::pki::Pki::load_dir(keys).expect("pki");
    let root = pki.ca("ca").expect("root");
    assert_eq!(
        companion_pdf::pki::Pki::state(root, &companion_pdf::pki::serial_of(&old.certificate), &[]),
        companion_pdf::pki::CertState::Good
    );
    let issuing = pki.ca("issuing-ca").expect("issuing");
    assert!(issuing.responder.is_some());
    assert_eq!(
        companion_pdf::pki::Pki::state(
            issuing,
            &companion_pdf::pki::serial_of(&new.certificate),
            &[]
        ),
        companion_pdf::pki::CertState::Good
    );
    let (ok, out) = openssl(
        &[
            "verify",
            "-CAfile",
            "ca.pem",
            "-untrusted",
            "issuing-ca.pem",
            "signer-chain.pem",
        ],
        keys,
    );
    assert!(ok, "{out}");
    // A second upgrade has nothing to do.
    let out = keys_cmd(&["upgrade"]);
    assert_eq!(out.status.code(), Some(1));
}
