//! One file, one answer: for every signed permit of a running demo, the QR page (`/v/<code>`),
//! an upload of the same file on `/periksa` (over HTTP, as a browser posts it) and `verify` on
//! the same installation give the same verdict — ASLI, KEDALUWARSA or DICABUT — and a changed
//! copy gets the same TIDAK ASLI from the upload and from `verify`.

mod common;
use common::free_port;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sicantik-companion");

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn verdict(body: &str) -> String {
    body.split("data-verdict=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string()
}

/// `verify FILE --json` on the demo's own database, store and keys.
fn verify(dir: &std::path::Path, file: &std::path::Path) -> (String, serde_json::Value) {
    let out = Command::new(BIN)
        .args(["verify", file.to_str().expect("path"), "--json"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/companion.db", dir.display()),
        )
        .env("STORAGE_URL", format!("file://{}/objects", dir.display()))
        .env("KEYS_DIR", dir.join("keys"))
        .output()
        .expect("verify");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let word = json["verdict"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        out.status.success(),
        word == "ASLI",
        "exit status 0 only for ASLI: {json}"
    );
    (word, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_qr_page_an_upload_and_verify_agree_on_every_signed_permit() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("server.log");
    let child = Command::new(BIN)
        .args(["demo", "--permits", "40"])
        .env("DATA_DIR", dir.path())
        .env("LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/companion.db", dir.path().display()),
        )
        .env("PUBLIC_BASE_URL", &base)
        .env("PORTAL_UPLOADS_PER_MINUTE", "100000")
        .env("PORTAL_PAGE_CACHE_SECONDS", "0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("demo");
    let _server = Server(child);
    let started = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("demo data ready")
    {
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "the demo never got ready: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // The signed permits, from the demo's own database.
    let pool =
        sqlx::SqlitePool::connect(&format!("sqlite://{}/companion.db", dir.path().display()))
            .await
            .expect("db");
    let signed: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.verification_id, d.storage_key FROM signing_cases c \
         JOIN documents d ON d.id = c.signed_document_id ORDER BY c.id",
    )
    .fetch_all(&pool)
    .await
    .expect("cases");
    pool.close().await;
    assert!(!signed.is_empty(), "the demo signs permits");

    let http = reqwest::Client::new();
    let upload = |bytes: Vec<u8>| {
        let http = http.clone();
        let url = format!("{base}/periksa");
        async move {
            let form = reqwest::multipart::Form::new().part(
                "berkas",
                reqwest::multipart::Part::bytes(bytes)
                    .file_name("izin.pdf")
                    .mime_str("application/pdf")
                    .expect("mime"),
            );
            let r = http
                .post(url)
                .header("user-agent", "Mozilla/5.0 (Linux; Android 13) Chrome/120")
                .multipart(form)
                .send()
                .await
                .expect("upload");
            let status = r.status();
            let body = r.text().await.expect("body");
            let word = verdict(&body);
            assert!(
                !word.is_empty(),
                "upload answered {status} without a verdict: {body}"
            );
            word
        }
    };
    let mut seen = std::collections::BTreeMap::new();
    for (code, key) in &signed {
        let page = http
            .get(format!("{base}/v/{code}"))
            .send()
            .await
            .expect("qr page")
            .text()
            .await
            .expect("body");
        let qr = verdict(&page);
        let bytes = std::fs::read(dir.path().join("objects").join(key)).expect("stored file");
        let uploaded = upload(bytes.clone()).await;
        let file = dir.path().join(format!("{code}.pdf"));
        std::fs::write(&file, &bytes).expect("write");
        let (verified, json) = verify(dir.path(), &file);
        assert_eq!(
            (qr.as_str(), uploaded.as_str()),
            (verified.as_str(), verified.as_str()),
            "{code}: QR page, upload and verify disagree; verify said {json}"
        );
        assert_eq!(json["record"]["verification_id"], code.as_str(), "{json}");
        *seen.entry(verified).or_insert(0) += 1;

        // A changed copy: not the record's bytes, and its signature is broken.
        let mut changed = bytes;
        let at = changed.len() / 3;
        changed[at] ^= 0x01;
        let uploaded = upload(changed.clone()).await;
        std::fs::write(&file, &changed).expect("write");
        let (verified, json) = verify(dir.path(), &file);
        assert_eq!(uploaded, "TIDAK ASLI", "{code}: a changed copy");
        assert_eq!(verified, "TIDAK ASLI", "{code}: {json}");
        assert!(json["record"].is_null());
    }
    eprintln!("verdicts of the demo's signed permits: {seen:?}");
    assert!(seen.contains_key("ASLI"), "{seen:?}");
}
