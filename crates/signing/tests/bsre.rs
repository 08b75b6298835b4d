//! The BSrE client against the BSrE simulator over HTTP, both wire variants: signing (checked
//! by pdfsig), bulk signing, the user-status check, every known error, a timeout (an unknown
//! outcome, never re-sent), the 500-with-file quirk, and that the passphrase never shows in an
//! error.

use std::time::Duration;

use companion_signing::bsre::{BsreAppearance, BsreSignOptions};
use companion_signing::{BsreApi, BsreClient, BsreConfig, BsreError, Passphrase};
use companion_simulators::{BsreFault, BsreSim, BsreSimConfig, BsreSimUser};

const PASSPHRASE: &str = "Rahasia#Pejabat-2026";
const NIK: &str = "1207010101800001";

async fn sim(latency: Duration) -> BsreSim {
    BsreSim::start(
        "127.0.0.1:0".parse().expect("addr"),
        BsreSimConfig {
            username: "karo-client".into(),
            password: "uji-kredensial".into(),
            users: vec![
                BsreSimUser {
                    nik: NIK.into(),
                    name: "Pejabat Uji".into(),
                    passphrase: PASSPHRASE.into(),
                    status: "ISSUE".into(),
                },
                BsreSimUser {
                    nik: "1207010101800002".into(),
                    name: "Pejabat Kedaluwarsa".into(),
                    passphrase: PASSPHRASE.into(),
                    status: "EXPIRED".into(),
                },
            ],
            latency,
        },
    )
    .await
    .expect("bsre sim")
}

fn client(sim: &BsreSim, api: BsreApi, timeout: Duration) -> BsreClient {
    BsreClient::new(BsreConfig {
        base_url: sim.url(),
        api,
        username: sim.config().username.clone(),
        password: sim.config().password.clone(),
        timeout,
    })
    .expect("client")
}

fn options(visible: bool) -> BsreSignOptions {
    BsreSignOptions {
        visible: visible.then_some(BsreAppearance {
            page: 1,
            rect: [370.0, 60.0, 170.0, 46.0],
        }),
        reason: "Penerbitan surat izin".into(),
        location: "Kabanjahe".into(),
        image_png: vec![0x89, b'P', b'N', b'G', 13, 10, 26, 10, 0, 0, 0, 0],
    }
}

fn letter() -> Vec<u8> {
    companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0)
}

/// pdfsig's verdict: the number of signatures and whether every one is intact.
fn pdfsig(pdf: &[u8]) -> (usize, bool) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("signed.pdf");
    std::fs::write(&path, pdf).expect("write");
    let out = std::process::Command::new("pdfsig")
        .arg(&path)
        .output()
        .expect("pdfsig is not installed: run scripts/test.sh");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let count = text.matches("Signature #").count();
    let valid = text.matches("Signature is Valid").count();
    (count, count > 0 && valid == count)
}

fn pass() -> Passphrase {
    Passphrase::new(PASSPHRASE.into())
}

#[tokio::test]
async fn both_wire_variants_sign_a_pdf_that_pdfsig_accepts() {
    let sim = sim(Duration::ZERO).await;
    for api in [BsreApi::V1, BsreApi::V2] {
        let c = client(&sim, api, Duration::from_secs(30));
        for visible in [false, true] {
            let original = letter();
            let signed = c
                .sign(original.clone(), NIK, &pass(), &options(visible))
                .await
                .unwrap_or_else(|e| panic!("{api:?} visible={visible}: {e}"));
            assert!(
                signed.starts_with(&original),
                "an incremental update keeps the original bytes"
            );
            assert_eq!(pdfsig(&signed), (1, true), "{api:?} visible={visible}");
        }
        assert_eq!(c.user_status(NIK).await.expect("status"), "ISSUE");
        c.ensure_usable(NIK).await.expect("usable");
    }
    assert_eq!(sim.sign_calls(), 4);
}

#[tokio::test]
async fn v2_bulk_signs_several_files_in_one_call() {
    let sim = sim(Duration::ZERO).await;
    let c = client(&sim, BsreApi::V2, Duration::from_secs(30));
    let mut letters = Vec::new();
    for i in 0..3 {
        let mut l = companion_pdf::letter::PermitLetter::example();
        l.permit_number = format!("503/{i:04}/DPMPTSP/2026");
        letters.push(companion_pdf::letter::render(&l, 0));
    }
    let signed = c
        .sign_bulk(letters.clone(), NIK, &pass(), &options(false))
        .await
        .expect("bulk");
    assert_eq!(signed.len(), 3);
    for (s, o) in signed.iter().zip(&letters) {
        assert!(
            s.starts_with(o),
            "each answer belongs to its file, in order"
        );
        assert_eq!(pdfsig(s), (1, true));
    }
    assert_eq!(sim.max_signatures_per_document(), 1);
}

#[tokio::test]
async fn each_known_error_becomes_its_own_case_with_a_message_in_bahasa() {
    let sim = sim(Duration::ZERO).await;
    for api in [BsreApi::V1, BsreApi::V2] {
        let c = client(&sim, api, Duration::from_secs(30));
        let wrong = Passphrase::new("salah-ketik".into());
        let e = c
            .sign(letter(), NIK, &wrong, &options(false))
            .await
            .expect_err("wrong passphrase");
        assert!(matches!(e, BsreError::WrongPassphrase), "{api:?}: {e:?}");
        assert!(e.pesan().contains("Passphrase salah"));
        assert!(!e.outcome_unknown());

        let e = c
            .sign(letter(), "1207999999999999", &pass(), &options(false))
            .await
            .expect_err("unknown NIK");
        assert!(matches!(e, BsreError::NotRegistered), "{api:?}: {e:?}");
        assert!(e.pesan().contains("tidak terdaftar"));

        // An expired certificate: the status check says so before any passphrase is sent.
        let e = c
            .ensure_usable("1207010101800002")
            .await
            .expect_err("expired");
        assert!(
            matches!(&e, BsreError::CertificateNotUsable(s) if s == "EXPIRED"),
            "{e:?}"
        );
        assert!(e.pesan().contains("EXPIRED"));
        assert!(matches!(
            c.ensure_usable("1207999999999999").await,
            Err(BsreError::NotRegistered)
        ));

        // Wrong client credentials.
        let bad = BsreClient::new(BsreConfig {
            base_url: sim.url(),
            api,
            username: "karo-client".into(),
            password: "keliru".into(),
            timeout: Duration::from_secs(10),
        })
        .expect("client");
        let e = bad
            .sign(letter(), NIK, &pass(), &options(false))
            .await
            .expect_err("401");
        assert!(matches!(e, BsreError::ClientCredentials), "{e:?}");
        assert!(matches!(
            bad.user_status(NIK).await,
            Err(BsreError::ClientCredentials)
        ));

        // A broken document is the document's problem, not the service's.
        let e = c
            .sign(b"%PDF-1.7 rusak".to_vec(), NIK, &pass(), &options(false))
            .await
            .expect_err("broken pdf");
        assert!(matches!(e, BsreError::Rejected { .. }), "{e:?}");
        assert!(!format!("{e} {e:?} {}", e.pesan()).contains(PASSPHRASE));
    }
    // Nothing above produced a signature.
    assert_eq!(sim.sign_calls(), 0);
}

#[tokio::test]
async fn service_faults_timeouts_and_the_500_with_a_file() {
    let sim = sim(Duration::ZERO).await;
    for api in [BsreApi::V1, BsreApi::V2] {
        let c = client(&sim, api, Duration::from_secs(2));

        sim.set_fault(BsreFault::ServerError);
        let e = c
            .sign(letter(), NIK, &pass(), &options(false))
            .await
            .expect_err("500");
        assert!(matches!(e, BsreError::Unavailable(_)), "{api:?}: {e:?}");
        assert!(e.pesan().contains("belum ditandatangani"));

        sim.set_fault(BsreFault::Unavailable);
        let e = c
            .sign(letter(), NIK, &pass(), &options(false))
            .await
            .expect_err("503 html");
        assert!(matches!(e, BsreError::Unavailable(_)), "{api:?}: {e:?}");

        // No answer within the timeout: the outcome is unknown; the client does not re-send.
        sim.set_fault(BsreFault::Hang);
        let before = sim.sign_calls();
        let started = std::time::Instant::now();
        let e = c
            .sign(letter(), NIK, &pass(), &options(false))
            .await
            .expect_err("timeout");
        assert!(e.outcome_unknown(), "{api:?}: {e:?}");
        assert!(e.pesan().contains("mungkin sudah ditandatangani"));
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            sim.sign_calls(),
            before,
            "the client sent it once, not again"
        );
        sim.set_fault(BsreFault::None);
    }

    // v2: an HTTP 500 whose body still carries the signed file is a success (spec §8).
    let c = client(&sim, BsreApi::V2, Duration::from_secs(10));
    sim.set_fault(BsreFault::ServerErrorWithFile);
    let signed = c
        .sign(letter(), NIK, &pass(), &options(false))
        .await
        .expect("500 with file");
    assert_eq!(pdfsig(&signed), (1, true));
    sim.set_fault(BsreFault::None);

    // Nobody listening: certainly not sent.
    let closed = BsreClient::new(BsreConfig {
        base_url: "http://127.0.0.1:9".into(),
        api: BsreApi::V2,
        username: "x".into(),
        password: "y".into(),
        timeout: Duration::from_secs(5),
    })
    .expect("client");
    let e = closed
        .sign(letter(), NIK, &pass(), &options(false))
        .await
        .expect_err("refused");
    assert!(matches!(e, BsreError::Unavailable(_)), "{e:?}");
    assert!(!e.outcome_unknown());
}
