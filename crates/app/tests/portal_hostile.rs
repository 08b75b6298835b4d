//! The portal under hostile input, through the real binary over HTTP: 1,000 PDFs mutated from a
//! valid signed one are uploaded (random bytes changed, cut short, garbage and fake signature
//! dictionaries inserted); the server neither crashes nor hangs and each answer carries a
//! verdict. A request announcing 200 MB is refused before its body is read.

mod common;
use common::free_port;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use companion_db::testing::TestDb;
use companion_documents::Actor;
use companion_domain::Role;
use companion_signing::Participant;
use rand::{Rng, SeedableRng};

const BIN: &str = env!("CARGO_BIN_EXE_sicantik-companion");

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn mutate(rng: &mut rand::rngs::StdRng, pdf: &[u8]) -> Vec<u8> {
    let mut m = pdf.to_vec();
    match rng.gen_range(0..6) {
        0 => {
            for _ in 0..rng.gen_range(1..20) {
                let at = rng.gen_range(0..m.len());
                m[at] = rng.r#gen();
            }
        }
        1 => m.truncate(rng.gen_range(0..m.len())),
        2 => {
            let at = rng.gen_range(0..m.len());
            let junk: Vec<u8> = (0..rng.gen_range(1..4000)).map(|_| rng.r#gen()).collect();
            m.splice(at..at, junk);
        }
        3 => {
            let at = rng.gen_range(0..m.len());
            let fake = format!(
                "/ByteRange [0 {} {} {}] /Contents <3082{}>",
                rng.gen_range(0..m.len()),
                rng.gen_range(0..m.len()),
                rng.gen_range(0..m.len()),
                "ff".repeat(rng.gen_range(0..300))
            );
            m.splice(at..at, fake.into_bytes());
        }
        4 => {
            // Many signature dictionaries.
            let extra = "/ByteRange [0 10 20 30] ".repeat(rng.gen_range(100..3000));
            m.extend_from_slice(extra.as_bytes());
        }
        _ => {
            let a = rng.gen_range(0..m.len());
            let b = rng.gen_range(a..m.len());
            m.drain(a..b);
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_mutated_pdfs_and_an_oversized_request() {
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
    };
    let mut init = Command::new(BIN);
    env(&mut init);
    assert!(
        init.args(["keys", "init"])
            .status()
            .expect("keys")
            .success()
    );

    // One signed document, made through the library on the server's database and store.
    let (docs, service) = companion_signing::testing::local_services(&t.db, &objects, &keys)
        .await
        .expect("services");
    // Two people: the submitter never approves their own submission.
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
        "0900000000001",
        "503/0001/DPMPTSP/2026",
    )
    .await
    .expect("ready");
    let case = service
        .sign(case.id, &who(Role::Official))
        .await
        .expect("sign");

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut serve = Command::new(BIN);
    env(&mut serve);
    let _server = Server(
        serve
            .arg("serve")
            .env("LISTEN", format!("127.0.0.1:{port}"))
            .env("PUBLIC_BASE_URL", &base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let started = Instant::now();
    let signed = loop {
        match http
            .get(format!("{base}/v/{}/unduh", case.verification_id))
            .send()
            .await
        {
            Ok(r) if r.status() == 200 => break r.bytes().await.expect("pdf").to_vec(),
            _ => {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "the server did not come up"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    let verdicts = ["ASLI", "TIDAK ASLI", "TIDAK DAPAT DIPASTIKAN"];
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    let mut seen = std::collections::BTreeMap::new();
    let started = Instant::now();
    for i in 0..1000 {
        let body = mutate(&mut rng, &signed);
        let form = reqwest::multipart::Form::new().part(
            "berkas",
            reqwest::multipart::Part::bytes(body).file_name("izin.pdf"),
        );
        let r = http
            .post(format!("{base}/periksa"))
            .multipart(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload {i}: no answer: {e}"));
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        assert!(status == 200 || status == 400, "upload {i}: HTTP {status}");
        let verdict = text
            .split("data-verdict=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(str::to_string);
        if status == 200 {
            let v = verdict.unwrap_or_else(|| panic!("upload {i}: no verdict"));
            assert!(verdicts.contains(&v.as_str()), "upload {i}: {v}");
            *seen.entry(v).or_insert(0) += 1;
        } else {
            *seen.entry("400".to_string()).or_insert(0) += 1;
        }
    }
    let took = started.elapsed();
    eprintln!("1000 mutated uploads in {took:?}: {seen:?}");
    assert!(!seen.contains_key("ASLI") || seen["ASLI"] < 50, "{seen:?}");
    assert!(took < Duration::from_secs(240));

    // 200 MB announced: refused from the headers, long before such a body could arrive.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let asked = Instant::now();
    write!(
        s,
        "POST /periksa HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: {}\r\n\r\n",
        200u64 * 1024 * 1024
    )
    .expect("write");
    s.write_all(&[b'x'; 4096]).expect("write");
    let mut answer = [0u8; 64];
    let n = s.read(&mut answer).expect("an answer before the body");
    let line = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(line.starts_with("HTTP/1.1 413"), "{line}");
    assert!(asked.elapsed() < Duration::from_secs(3));

    // Still serving.
    let r = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);
    t.cleanup().await.expect("cleanup");
}
