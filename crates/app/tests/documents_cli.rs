//! `documents import`, `documents check` and `documents inbox` as run from the shell: files are
//! matched by name or `--permit`, bad ones refused with exit 1 and a reason, the check's exit code
//! follows what it finds.

use std::process::{Command, Output};

use companion_db::testing::{TestDb, execute_raw};

const BIN: &str = env!("CARGO_BIN_EXE_sicantik-companion");

fn companion(db_url: &str, dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("DATABASE_URL", db_url)
        .env("STORAGE_URL", format!("file://{}/objects", dir.display()))
        .env("INBOX_DIR", dir.join("inbox"))
        .output()
        .expect("run")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_commands() {
    let t = TestDb::new("sqlite").await.expect("db");
    execute_raw(
        &t.db,
        "INSERT INTO permits (pendaftaran_id, status, permit_number, issue_date, first_seen_at, updated_at) \
         VALUES ('0142307703072025', 'issued', '503/0142/SIPD-DPM/2025', '2025-07-03', '2025-07-03T00:00:00Z', '2025-07-03T00:00:00Z')",
    )
    .await
    .expect("permit");
    let dir = std::env::temp_dir().join(format!("companion-docs-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let letter = companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0);
    let by_number = dir.join("503-0142-SIPD-DPM-2025.pdf");
    std::fs::write(&by_number, &letter).expect("letter");
    let junk = dir.join("junk.pdf");
    std::fs::write(&junk, b"hello").expect("junk");
    let url = t.url.clone();
    let d = dir.clone();
    let run = move |args: Vec<String>| {
        let url = url.clone();
        let d = d.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            companion(&url, &d, &args)
        })
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    // Matched by its permit number: stored as v1 under the readable key.
    let out = run(s(&[
        "documents",
        "import",
        by_number.to_str().expect("path"),
    ]))
    .await
    .expect("join");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("permits/2025/0142307703072025/v1-original.pdf"),
        "{}",
        text(&out)
    );
    // A non-PDF with --permit: refused, exit 1, the reason on stderr.
    let out = run(s(&[
        "documents",
        "import",
        "--permit",
        "0142307703072025",
        junk.to_str().expect("path"),
    ]))
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not_pdf"), "{}", text(&out));
    // The same file again, as JSON: a duplicate, exit 0.
    let out = run(s(&[
        "documents",
        "import",
        "--json",
        by_number.to_str().expect("path"),
    ]))
    .await
    .expect("join");
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json[0]["outcome"], "duplicate");

    // Check: clean (exit 0), then with the object gone (exit 1, named).
    let out = run(s(&["documents", "check", "--json"]))
        .await
        .expect("join");
    assert!(out.status.success(), "{}", text(&out));
    let check: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (check["documents"].as_i64(), check["missing"].as_i64()),
        (Some(1), Some(0))
    );
    std::fs::remove_file(dir.join("objects/permits/2025/0142307703072025/v1-original.pdf"))
        .expect("rm");
    let out = run(s(&["documents", "check"])).await.expect("join");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("missing"), "{}", text(&out));

    // Inbox: an unmatched file is held.
    std::fs::create_dir_all(dir.join("inbox")).expect("inbox");
    std::fs::write(dir.join("inbox/tanpa-nama.pdf"), &letter).expect("drop");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = run(s(&["documents", "inbox", "--json"]))
        .await
        .expect("join");
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["files"][0]["outcome"], "held", "{report}");
    let _ = std::fs::remove_dir_all(&dir);
    t.cleanup().await.expect("cleanup");
}
