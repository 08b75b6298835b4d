//! The acceptance run for batch signing, with the real binary and BSrE (simulated, wire v1):
//! 200 documents ready to sign, one passphrase, `kill -9` of the server in the middle, a
//! restart, the passphrase again — and every document signed exactly once, none missing. The
//! passphrase is in no log line and nowhere in the database file.

mod common;
use common::free_port;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use companion_db::testing::TestDb;
use companion_documents::Actor;
use companion_domain::Role;
use companion_signing::Participant;
use companion_simulators::{BsreSim, BsreSimConfig, BsreSimUser};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_sicantik-companion");
const DOCUMENTS: usize = 200;
const PASSPHRASE: &str = "Tanah-Karo#Simalem-2026";
const NIK: &str = "1207010101800001";

struct Env {
    vars: Vec<(&'static str, String)>,
}

impl Env {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    fn serve(&self, log: &std::path::Path) -> Child {
        let log = std::fs::File::create(log).expect("log file");
        self.command(&["serve"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("serve")
    }
}

/// `n` permits with an imported letter each, submitted and approved (stamped), prepared through
/// the library on the server's database, store and seal key.
async fn ready_documents(t: &TestDb, objects: &std::path::Path, keys: &std::path::Path, n: usize) {
    let (docs, service) = companion_signing::testing::local_services(&t.db, objects, keys)
        .await
        .expect("services");
    let who = |role, name: &str| Participant {
        actor: Actor {
            user_id: None,
            name: name.into(),
            source: "test".into(),
        },
        role,
        display_name: name.into(),
    };
    let (staff, official) = (who(Role::Staff, "petugas"), who(Role::Official, "pejabat"));
    for i in 0..n {
        companion_signing::testing::ready_to_sign(
            &service,
            &docs,
            &staff,
            &official,
            &format!("09{i:012}"),
            &format!("503/{i:04}/DPMPTSP/2026"),
        )
        .await
        .expect("ready to sign");
    }
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

/// Polls the job until `done` says so (or the server is unreachable for too long).
async fn wait_for(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = call(http, reqwest::Method::GET, url, token, None).await;
        if status == 200 && done(&body["batch"]) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "timed out waiting for {what}: last answer {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_batch_then_restart_signs_every_document_exactly_once() {
    let dir = tempfile::tempdir().expect("dir");
    let (objects, keys) = (dir.path().join("objects"), dir.path().join("keys"));
    let t = TestDb::new("sqlite").await.expect("db");
    let sim = BsreSim::start(
        "127.0.0.1:0".parse().expect("addr"),
        BsreSimConfig {
            username: "karo-client".into(),
            password: "kredensial-uji".into(),
            users: vec![BsreSimUser {
                nik: NIK.into(),
                name: "Kepala DPMPTSP (uji)".into(),
                passphrase: PASSPHRASE.into(),
                status: "ISSUE".into(),
            }],
            latency: Duration::from_millis(40),
        },
    )
    .await
    .expect("bsre");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = Env {
        vars: vec![
            ("DATABASE_URL", t.url.clone()),
            ("STORAGE_URL", format!("file://{}", objects.display())),
            ("KEYS_DIR", keys.display().to_string()),
            ("INBOX_DIR", String::new()),
            ("LISTEN", format!("127.0.0.1:{port}")),
            ("PUBLIC_BASE_URL", base.clone()),
            ("SICANTIK_BASE_URL", "http://127.0.0.1:9".into()),
            ("SIGNER", "bsre".into()),
            ("BSRE_BASE_URL", sim.url()),
            ("BSRE_API_VERSION", "v1".into()),
            ("BSRE_USERNAME", "karo-client".into()),
            ("BSRE_PASSWORD", "kredensial-uji".into()),
            ("SIGNING_LEASE_SECONDS", "3".into()),
            ("RUST_LOG", "debug".into()),
        ],
    };
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    ok(env.command(&["keys", "init"]).output().expect("keys init"));
    ready_documents(&t, &objects, &keys, DOCUMENTS).await;
    t.db.create_user("pejabat", "Kepala DPMPTSP (uji)", Role::Official, "x")
        .await
        .expect("user");
    ok(env
        .command(&["user", "nik", "pejabat", NIK])
        .output()
        .expect("nik"));
    let token = ok(env
        .command(&["user", "token", "pejabat"])
        .output()
        .expect("token"));

    let http = reqwest::Client::new();
    let mut server = env.serve(&dir.path().join("serve-1.log"));
    let started = Instant::now();
    let batch_id = loop {
        let (status, body) = call(
            &http,
            reqwest::Method::POST,
            &format!("{base}/api/v1/signing/batches"),
            &token,
            Some(json!({"all_ready": true, "passphrase": PASSPHRASE})),
        )
        .await;
        if status == 202 {
            assert_eq!(body["total"], DOCUMENTS as u64);
            break body["id"].as_i64().expect("id");
        }
        assert!(status == 0, "start refused: {status} {body}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let job = format!("{base}/api/v1/signing/batches/{batch_id}");

    // Part of the way through, the server dies without warning.
    let before_kill = wait_for(&http, &job, &token, "progress", |b| {
        b["signed"].as_i64() >= Some(50)
    })
    .await;
    server.kill().expect("kill -9");
    server.wait().expect("wait");
    let signed_before = before_kill["batch"]["signed"].as_i64().expect("signed");
    assert!(
        signed_before < DOCUMENTS as i64,
        "killed too late to prove anything"
    );

    // Restarted, the server notices the orphaned job and pauses it: the passphrase is gone.
    let mut server = env.serve(&dir.path().join("serve-2.log"));
    let paused = wait_for(&http, &job, &token, "the pause", |b| b["state"] == "paused").await;
    assert!(
        paused["batch"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("passphrase"))
    );
    // Resuming without the passphrase is refused; with it, the job runs on.
    let (status, _) = call(
        &http,
        reqwest::Method::POST,
        &format!("{job}/resume"),
        &token,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = call(
        &http,
        reqwest::Method::POST,
        &format!("{job}/resume"),
        &token,
        Some(json!({"passphrase": PASSPHRASE})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let mut finished = wait_for(&http, &job, &token, "the end", |b| b["state"] == "finished").await;

    // A document in flight at the kill may have been signed by BSrE: it waits for a person, who
    // queues it again; then the passphrase once more.
    let attention: Vec<i64> = finished["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["state"] == "attention")
        .filter_map(|i| i["id"].as_i64())
        .collect();
    assert!(
        attention.len() <= 1,
        "at most the one in flight: {attention:?}"
    );
    if !attention.is_empty() {
        for item in &attention {
            let (status, body) = call(
                &http,
                reqwest::Method::POST,
                &format!("{base}/api/v1/signing/items/{item}/retry"),
                &token,
                None,
            )
            .await;
            assert_eq!(status, 200, "{body}");
        }
        let (status, body) = call(
            &http,
            reqwest::Method::POST,
            &format!("{job}/resume"),
            &token,
            Some(json!({"passphrase": PASSPHRASE})),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        finished = wait_for(&http, &job, &token, "the end after the retry", |b| {
            b["state"] == "finished"
        })
        .await;
    }
    server.kill().expect("stop");
    server.wait().expect("wait");

    let batch = &finished["batch"];
    assert_eq!(batch["signed"], DOCUMENTS as u64, "{batch}");
    assert_eq!(
        (batch["failed"].as_i64(), batch["attention"].as_i64()),
        (Some(0), Some(0))
    );

    // Every case published with exactly one signed file, which carries exactly one signature.
    let storage = companion_storage::Storage::from_url(&format!("file://{}", objects.display()))
        .expect("store");
    let cases =
        t.db.signing_cases_in("published", 1000)
            .await
            .expect("cases");
    assert_eq!(cases.len(), DOCUMENTS);
    for (n, case) in cases.iter().enumerate() {
        let signed: Vec<_> =
            t.db.documents_for_permit(&case.pendaftaran_id)
                .await
                .expect("docs")
                .into_iter()
                .filter(|d| d.kind == "signed")
                .collect();
        assert_eq!(
            signed.len(),
            1,
            "{} has {} signed files",
            case.pendaftaran_id,
            signed.len()
        );
        assert_eq!(case.signed_document_id, Some(signed[0].id));
        let bytes = storage
            .get_bytes(&signed[0].storage_key)
            .await
            .expect("bytes");
        let signatures = bytes.windows(10).filter(|w| w == b"/ByteRange").count();
        assert_eq!(
            signatures, 1,
            "{} carries {signatures} signatures",
            case.pendaftaran_id
        );
        if n % 50 == 0 {
            let path = dir.path().join("check.pdf");
            std::fs::write(&path, &bytes).expect("write");
            let out = Command::new("pdfsig")
                .arg(&path)
                .output()
                .expect("pdfsig (run scripts/test.sh)");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("Signature is Valid"), "{text}");
        }
    }
    // BSrE signed each document once, except at most the one whose answer the kill cut off.
    assert!(sim.max_signatures_per_document() <= 2);
    assert!(sim.sign_calls() <= DOCUMENTS as u64 + attention.len() as u64);
    assert!(sim.sign_calls() >= DOCUMENTS as u64);

    // The passphrase reached no log line and no database row.
    for log in ["serve-1.log", "serve-2.log"] {
        let text = std::fs::read_to_string(dir.path().join(log)).expect("log");
        // Checked at start-up, before anyone signs.
        assert!(text.contains("BSrE certificate usable"), "{log}: {text}");
        assert!(
            text.contains("INFO") || text.contains("DEBUG"),
            "{log} was written"
        );
        assert!(!text.contains(PASSPHRASE), "{log} shows the passphrase");
    }
    let db_file = t.url.strip_prefix("sqlite://").expect("sqlite").to_string();
    for suffix in ["", "-wal"] {
        if let Ok(bytes) = std::fs::read(format!("{db_file}{suffix}")) {
            assert!(
                !bytes
                    .windows(PASSPHRASE.len())
                    .any(|w| w == PASSPHRASE.as_bytes())
            );
        }
    }
    t.cleanup().await.expect("cleanup");
}
