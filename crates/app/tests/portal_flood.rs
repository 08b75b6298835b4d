//! The portal under a flood of large uploads, through the real binary over HTTP: many 19 MB
//! PDFs carrying 32 signatures each are posted at once. The server holds a bounded number of
//! bytes and checks (the rest are told "coba lagi", 503 with `Retry-After`), its memory stays
//! under 300 MB and is given back afterwards, and a citizen's genuine permit checked in the
//! middle of the flood still gets its verdict, ASLI.
//!
//! `FLOOD_UPLOADS` (default 24) sets the flood's size; `scripts/bench-portal-flood.sh` runs it
//! with the issue's 64 in a release build.

mod common;
use common::free_port;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use companion_db::testing::TestDb;
use companion_documents::Actor;
use companion_domain::Role;
use companion_pdf::sign::{CmsSigner, SignatureInfo, prepare_signature_with_dss};
use companion_signing::Participant;
use rand::{RngCore, SeedableRng};

const BIN: &str = env!("CARGO_BIN_EXE_sicantik-companion");

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A one-page PDF carrying an image stream of `size` random (incompressible) bytes.
fn big_pdf(size: usize) -> Vec<u8> {
    let mut noise = vec![0u8; size];
    rand::rngs::StdRng::seed_from_u64(64).fill_bytes(&mut noise);
    let mut out: Vec<u8> = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    let content = b"q 100 0 0 100 50 600 cm /Im1 Do Q BT /F1 12 Tf 50 560 Td (Lampiran) Tj ET";
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /XObject << /Im1 5 0 R >> /Font << /F1 6 0 R >> >> >>".to_vec(),
        [
            format!("<< /Length {} >>\nstream\n", content.len()).into_bytes(),
            content.to_vec(),
            b"\nendstream".to_vec(),
        ]
        .concat(),
        [
            format!(
                "<< /Type /XObject /Subtype /Image /Width {w} /Height {w} /ColorSpace /DeviceGray /BitsPerComponent 8 /Length {size} >>\nstream\n",
                w = (size as f64).sqrt() as usize
            )
            .into_bytes(),
            noise,
            b"\nendstream".to_vec(),
        ]
        .concat(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ];
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        writeln!(out, "{} 0 obj", i + 1).expect("write");
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    write!(out, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).expect("write");
    for o in offsets {
        writeln!(out, "{o:010} 00000 n ").expect("write");
    }
    write!(
        out,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    )
    .expect("write");
    out
}

/// `pdf` signed `times` times in turn (each an incremental revision) by a throw-away signer.
fn signed_many(mut pdf: Vec<u8>, times: usize) -> Vec<u8> {
    let ca = companion_pdf::keys::new_ca("Flood CA", 1).expect("ca");
    let signer = companion_pdf::keys::issue_signer(&ca, "Flood Signer", 1).expect("signer");
    let chain = signer.chain_der().expect("chain");
    for i in 0..times {
        let info = SignatureInfo {
            name: format!("Penanda tangan {i}"),
            reason: "Uji beban".into(),
            location: "Kabanjahe".into(),
            time: chrono::Utc::now().fixed_offset(),
            visible: None,
        };
        let prepared = prepare_signature_with_dss(&pdf, 1, &info, &chain).expect("prepare");
        let cms = signer.sign_digest(&prepared.digest).expect("cms");
        pdf = prepared.finish(&cms).expect("finish");
    }
    pdf
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn verdict(html: &str) -> Option<String> {
    html.split("data-verdict=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_large_uploads_is_bounded_and_a_genuine_check_still_gets_its_verdict() {
    let uploads: usize = std::env::var("FLOOD_UPLOADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let dir = tempfile::tempdir().expect("dir");
    let (objects, keys) = (dir.path().join("objects"), dir.path().join("keys"));
    let t = TestDb::new("sqlite").await.expect("db");
    let env = |cmd: &mut Command| {
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &t.url)
            .env("STORAGE_URL", format!("file://{}", objects.display()))
            .env("KEYS_DIR", &keys)
            .env("INBOX_DIR", "")
            .env("SICANTIK_BASE_URL", "http://127.0.0.1:9")
            .env("PORTAL_UPLOADS_PER_MINUTE", "100000")
            .env("RUST_LOG", "warn");
        // For comparisons (scripts/bench-portal-flood.sh): the gate opened wide.
        for key in ["PORTAL_UPLOAD_BUDGET_MB", "PORTAL_CHECKS_AT_ONCE"] {
            if let Ok(v) = std::env::var(key) {
                cmd.env(key, v);
            }
        }
    };
    let mut init = Command::new(BIN);
    env(&mut init);
    assert!(
        init.args(["keys", "init"])
            .status()
            .expect("keys")
            .success()
    );

    let (docs, service) = companion_signing::testing::local_services(&t.db, &objects, &keys)
        .await
        .expect("services");
    let who = |role| Participant {
        actor: Actor {
            user_id: None,
            name: if role == Role::Staff {
                "petugas"
            } else {
                "pejabat"
            }
            .into(),
            source: "test".into(),
        },
        role,
        display_name: "Pejabat Uji".into(),
    };
    let case = companion_signing::testing::ready_to_sign(
        &service,
        &docs,
        &who(Role::Staff),
        &who(Role::Official),
        "0900000000064",
        "503/0064/DPMPTSP/2026",
    )
    .await
    .expect("ready");
    let case = service
        .sign(case.id, &who(Role::Official))
        .await
        .expect("sign");

    let flood = Arc::new(signed_many(big_pdf(19 * 1024 * 1024 - 200_000), 32));
    assert!(flood.len() < 20 * 1024 * 1024, "{}", flood.len());

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut serve = Command::new(BIN);
    env(&mut serve);
    let server = Server(
        serve
            .arg("serve")
            .env("LISTEN", format!("127.0.0.1:{port}"))
            .env("PUBLIC_BASE_URL", &base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let pid = server.0.id();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let started = Instant::now();
    let genuine = loop {
        match http
            .get(format!("{base}/v/{}/unduh", case.verification_id))
            .send()
            .await
        {
            Ok(r) if r.status() == 200 => break r.bytes().await.expect("pdf").to_vec(),
            _ => {
                assert!(started.elapsed() < Duration::from_secs(30), "no server");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let check = |body: Vec<u8>| {
        let http = http.clone();
        let url = format!("{base}/periksa");
        async move {
            let form = reqwest::multipart::Form::new().part(
                "berkas",
                reqwest::multipart::Part::bytes(body).file_name("izin.pdf"),
            );
            let r = http
                .post(url)
                .multipart(form)
                .send()
                .await
                .expect("an answer");
            let status = r.status().as_u16();
            let retry = r.headers().get("retry-after").is_some();
            (status, retry, r.text().await.expect("body"))
        }
    };

    // Memory as the flood goes: sampled every 20 ms.
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let before = rss_kib(pid);
    let floods: Vec<_> = (0..uploads)
        .map(|_| tokio::spawn(check(flood.to_vec())))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = Instant::now();
    let (status, _, page) = check(genuine).await;
    let genuine_took = asked.elapsed();
    assert_eq!(status, 200, "{page}");
    assert_eq!(verdict(&page).as_deref(), Some("ASLI"), "{page}");

    let (mut checked, mut busy) = (0, 0);
    for f in floods {
        let (status, retry, page) = f.await.expect("task");
        match status {
            200 => {
                assert!(verdict(&page).is_some(), "a verdict");
                checked += 1;
            }
            503 => {
                assert!(retry && page.contains("coba lagi"), "{page}");
                busy += 1;
            }
            other => panic!("HTTP {other}: {page}"),
        }
    }
    sampling.store(false, Ordering::Relaxed);
    sampler.await.expect("sampler");
    let peak_mib = peak.load(Ordering::Relaxed) / 1024;
    // Given back: within a few seconds of the flood the server is near where it started.
    let mut after = rss_kib(pid);
    for _ in 0..50 {
        if after < before + 48 * 1024 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = rss_kib(pid);
    }
    eprintln!(
        "flood of {uploads}: {checked} checked, {busy} asked to retry; RSS {} MiB before, peak {peak_mib} MiB, {} MiB after; genuine check answered in {genuine_took:?}",
        before / 1024,
        after / 1024
    );
    assert!(checked >= 1, "some of the flood is checked");
    assert!(peak_mib < 300, "peak RSS {peak_mib} MiB");
    assert!(
        after < before + 48 * 1024,
        "memory given back: RSS {} MiB after the flood, {} MiB before",
        after / 1024,
        before / 1024
    );
    t.cleanup().await.expect("cleanup");
}
