//! Issue 21 item 7 with the real binary: an approval over the API whose QR stamp cannot finish
//! (the original's object is a FIFO nobody writes, so reading it hangs), `kill -9` of the server
//! while the case is approved and not stamped, the object back, a restart — and the start-up
//! resume stamps the case; its seal verifies and vouches for the 20,000-character holder name.

mod common;
use common::free_port;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use companion_db::testing::{TestDb, execute_raw};
use companion_documents::{Actor, ImportSource};
use companion_domain::Role;
use companion_domain::documents::DocumentKind;
use companion_signing::Participant;

const BIN: &str = env!("CARGO_BIN_EXE_sicantik-companion");
const PERMIT: &str = "0912345678901";

companion_db::on_both_backends!(kill_9_between_approval_and_stamping_then_restart);

fn command(vars: &[(&str, String)], args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

fn serve(vars: &[(&str, String)], log: &std::path::Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    command(vars, &["serve"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("serve")
}

async fn case_state(db: &companion_db::Database, id: i64) -> companion_db::SigningCase {
    db.get_signing_case(id).await.expect("get").expect("case")
}

async fn kill_9_between_approval_and_stamping_then_restart(backend: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let (objects, keys) = (dir.path().join("objects"), dir.path().join("keys"));
    let t = TestDb::new(backend).await.expect("db");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let vars = vec![
        ("DATABASE_URL", t.url.clone()),
        ("STORAGE_URL", format!("file://{}", objects.display())),
        ("KEYS_DIR", keys.display().to_string()),
        ("INBOX_DIR", String::new()),
        ("LISTEN", format!("127.0.0.1:{port}")),
        ("PUBLIC_BASE_URL", base.clone()),
        ("SICANTIK_BASE_URL", "http://127.0.0.1:9".into()),
        ("RUST_LOG", "info".into()),
    ];
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    ok(command(&vars, &["migrate"]).output().expect("migrate"));
    ok(command(&vars, &["keys", "init"])
        .output()
        .expect("keys init"));
    let (docs, service) = companion_signing::testing::local_services(&t.db, &objects, &keys)
        .await
        .expect("services");

    // An issued permit whose holder name is 20,000 characters, its letter submitted by staff.
    let holder = "KOPERASI PRODUSEN KOPI ARABIKA GAYO KARO ".repeat(488);
    assert!(holder.len() >= 20_000);
    execute_raw(
        &t.db,
        &format!(
            "INSERT INTO permits (pendaftaran_id, status, applicant_name, permit_type_name, permit_number, \
             issue_date, expiry_date, first_seen_at, updated_at) VALUES ('{PERMIT}', 'issued', '{holder}', \
             'Izin Usaha', '503/0777/DPMPTSP/2026', '2026-01-05', '2031-01-05', '2026-01-05T00:00:00Z', '2026-01-05T00:00:00Z')"
        ),
    )
    .await
    .expect("permit");
    let staff = Participant {
        actor: Actor {
            user_id: None,
            name: "petugas".into(),
            source: "test".into(),
        },
        role: Role::Staff,
        display_name: "petugas".into(),
    };
    let mut letter = companion_pdf::letter::PermitLetter::example();
    letter.registration_id = PERMIT.into();
    let original = docs
        .import(
            PERMIT,
            companion_pdf::letter::render(&letter, 0).into(),
            Some("surat.pdf"),
            DocumentKind::Original,
            ImportSource::Upload,
            &staff.actor,
        )
        .await
        .expect("import")
        .document;
    let case = service.submit(original.id, &staff).await.expect("submit");
    t.db.create_user("pejabat", "Kepala DPMPTSP (uji)", Role::Official, "x")
        .await
        .expect("user");
    let token = ok(command(&vars, &["user", "token", "pejabat"])
        .output()
        .expect("token"));

    // The original's object becomes a FIFO: reading it for the stamp blocks.
    let object = objects.join(&original.storage_key);
    let saved = std::fs::read(&object).expect("object");
    std::fs::remove_file(&object).expect("remove");
    let made = Command::new("mkfifo")
        .arg(&object)
        .status()
        .expect("mkfifo");
    assert!(made.success());

    let mut server = serve(&vars, &dir.path().join("serve-1.log"));
    let http = reqwest::Client::new();
    let url = format!("{base}/api/v1/signing/cases/{}/steps", case.id);
    let started = Instant::now();
    // Wait for the server, then approve (the answer never comes: the stamp hangs).
    loop {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no server");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let approve = {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(token)
                .json(&serde_json::json!({"action": "approve"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    loop {
        let c = case_state(&t.db, case.id).await;
        if c.state == "approved" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never approved: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c = case_state(&t.db, case.id).await;
    assert_eq!(
        (c.state.as_str(), c.stamped_document_id),
        ("approved", None),
        "between approval and stamping"
    );
    server.kill().expect("kill -9"); // SIGKILL
    server.wait().expect("wait");
    assert!(
        !matches!(approve.await.expect("task"), Ok(200)),
        "the approval never answered 200"
    );

    // The object is back; a restart resumes the stamp.
    std::fs::remove_file(&object).expect("remove fifo");
    std::fs::write(&object, &saved).expect("restore");
    let mut server = serve(&vars, &dir.path().join("serve-2.log"));
    let restarted = Instant::now();
    let stamped = loop {
        let c = case_state(&t.db, case.id).await;
        if c.state == "stamped" {
            break c;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(45),
            "not resumed: {c:?}; log: {}",
            std::fs::read_to_string(dir.path().join("serve-2.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (_, facts) = companion_domain::seal::verify_seal(
        &service.seal_public(),
        stamped.qr_text.as_deref().expect("qr"),
    )
    .expect("seal");
    assert!(companion_domain::seal::field_matches(
        &facts.holder,
        &holder
    ));
    assert_eq!(
        (facts.issue_date.as_str(), facts.expiry_date.as_str()),
        ("2026-01-05", "2031-01-05")
    );
    // The way on is open: the official signs it.
    let r = http
        .post(&url)
        .bearer_auth(&token)
        .json(&serde_json::json!({"action": "sign"}))
        .send()
        .await
        .expect("sign");
    assert_eq!(r.status().as_u16(), 200);
    server.kill().expect("kill");
    server.wait().expect("wait");
    t.cleanup().await.expect("cleanup");
}
