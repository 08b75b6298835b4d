//! The HTTP layer over a real loopback server, on SQLite and PostgreSQL: health, the JSON API
//! with a bearer token, escaping on pages, the OpenAPI document and CSV export.

mod common;

use common::{harness, session_for};
use companion_domain::Role;

companion_db::on_both_backends!(
    health_api_and_pages,
    readiness_needs_a_writable_database_and_store
);

async fn health_api_and_pages(backend: &str) {
    let h = harness(backend).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = h.router.clone();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let token = h.tokens[&Role::Staff].clone();
    let get = |path: &str| http.get(format!("{base}{path}")).bearer_auth(&token).send();

    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .expect("req")
            .text()
            .await
            .expect("body"),
        "ok"
    );
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .expect("req")
            .status(),
        200
    );

    let list: serde_json::Value = get("/api/v1/permits?status=issued")
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["pendaftaran_id"], "0142307703072025");

    let one: serde_json::Value = get("/api/v1/permits/0150300102102025")
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(one["permit"]["flags"]["applicant_name"], "junk:0");
    assert_eq!(one["status_history"][0]["to_status"], "in_process");

    let missing = get("/api/v1/permits/999").await.expect("req");
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<serde_json::Value>().await.expect("json")["error"]["code"],
        "not_found"
    );
    for bad in [
        "/api/v1/permits?status=bogus",
        "/api/v1/permits?page=0",
        "/api/v1/permits?per_page=100000",
        "/api/v1/permits?expiring_within_days=99999999999999999999",
        "/api/v1/permits?issued_from=2026-02-30",
        "/api/v1/sync/runs/abc",
        "/api/v1/audit?from=kemarin",
    ] {
        let r = get(bad).await.expect("req");
        let status = r.status();
        let body: serde_json::Value = r.json().await.expect("json error body");
        assert!(status == 400 || status == 403, "{bad}: {status}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{bad}"
        );
    }
    // Without credentials the API answers 401 in JSON, a page redirects to the login form.
    let anon = http
        .get(format!("{base}/api/v1/permits"))
        .send()
        .await
        .expect("req");
    assert_eq!(anon.status(), 401);
    let anon_page = http
        .get(format!("{base}/izin?q=x"))
        .send()
        .await
        .expect("req");
    assert_eq!(anon_page.status(), 303);
    assert_eq!(
        anon_page.headers()["location"],
        "/masuk?next=%2Fizin%3Fq%3Dx"
    );
    let forged = http
        .get(format!("{base}/api/v1/me"))
        .bearer_auth("sct_forged")
        .send()
        .await
        .expect("req");
    assert_eq!(forged.status(), 401);

    // Pages escape what SICANTIK sends.
    let (sid, _) = session_for(&h.t.db, &h.users[&Role::Staff]).await;
    let page = |path: String| {
        http.get(format!("{base}{path}"))
            .header("cookie", format!("sc_session={sid}"))
            .send()
    };
    let list_page = page("/izin?q=ginting".into())
        .await
        .expect("req")
        .text()
        .await
        .expect("body");
    assert!(list_page.contains("&lt;script&gt;"), "names are escaped");
    assert!(!list_page.contains("<script>alert"));
    let detail = page("/izin/0150300102102025".into())
        .await
        .expect("req")
        .text()
        .await
        .expect("body");
    assert!(
        detail.contains("Nama pemohon tidak wajar di SICANTIK"),
        "flags are explained"
    );
    let dashboard = page("/".into())
        .await
        .expect("req")
        .text()
        .await
        .expect("body");
    assert!(
        dashboard.matches("<svg class=\"chart\"").count() >= 4,
        "charts drawn"
    );
    assert!(dashboard.contains("data-role-badge=\"staff\""));

    // CSV: every match, spreadsheet-friendly.
    let csv = get("/api/v1/exports/permits.csv").await.expect("req");
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.expect("body");
    assert!(csv.starts_with('\u{feff}'));
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(
        csv.contains("\"<script>alert(1)</script> GINTING\"")
            || csv.contains("<script>alert(1)</script> GINTING")
    );

    // Static assets are served from the binary with long caching.
    let css = http
        .get(format!("{base}/static/app.css"))
        .send()
        .await
        .expect("req");
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["cache-control"]
            .to_str()
            .unwrap_or("")
            .contains("immutable")
    );

    // The OpenAPI document describes every /api/v1 route the router has.
    let doc: serde_json::Value = http
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for r in companion_web::routes()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v1/") && r.path != "/api/v1/openapi.json")
    {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        assert!(
            op.is_object(),
            "{} {} missing from openapi.json",
            r.method,
            r.path
        );
    }
    // Every operation has its own stable operationId (generated clients name methods by it).
    let mut ids = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            assert!(!id.is_empty(), "{method} {path} has no operationId");
            if let Some(other) = ids.insert(id.clone(), format!("{method} {path}")) {
                panic!("operationId {id} is used by {other} and {method} {path}");
            }
        }
    }
    // And an independent validator accepts the document as served (scripts/test.sh installs
    // openapi-spec-validator from PyPI).
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).expect("json")).expect("write");
    let out = std::process::Command::new("openapi-spec-validator")
        .arg(&file)
        .output()
        .expect("openapi-spec-validator is installed by scripts/test.sh");
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    h.t.cleanup().await.expect("cleanup");
}

#[tokio::test]
async fn readiness_reports_database_and_storage() {
    let t = companion_db::testing::TestDb::new("sqlite")
        .await
        .expect("db");
    let local = companion_storage::testing::LocalStore::new().expect("store");
    let mut state = companion_web::AppState::new(t.db.clone(), chrono_tz::Asia::Jakarta);
    state.documents = Some(
        companion_documents::Documents::new(
            t.db.clone(),
            local.storage.clone(),
            Default::default(),
        )
        .await
        .expect("documents"),
    );
    let router = companion_web::router(state);
    let r = common::Call::new("GET", "/readyz").send(&router).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"status": "ready", "database": "ok", "storage": "ok"})
    );
    // The database gone: not ready, and the answer says which part.
    t.db.close().await;
    let r = common::Call::new("GET", "/readyz").send(&router).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["database"], "unreachable", "{}", r.body);
    assert_eq!(r.json()["reason"], "database unreachable", "{}", r.body);
    t.cleanup().await.expect("cleanup");
}

/// Issue 18 (10): a database that still answers `SELECT 1` but takes no writes, or an object
/// folder that is gone, is not ready (the old check said ready while every request failed).
async fn readiness_needs_a_writable_database_and_store(backend: &str) {
    let t = companion_db::testing::TestDb::new(backend)
        .await
        .expect("db");
    let local = companion_storage::testing::LocalStore::new().expect("store");
    let documents = companion_documents::Documents::new(
        t.db.clone(),
        local.storage.clone(),
        Default::default(),
    )
    .await
    .expect("documents");
    let router_on = |db: &companion_db::Database| {
        let mut state = companion_web::AppState::new(db.clone(), chrono_tz::Asia::Jakarta);
        state.documents = Some(documents.clone());
        companion_web::router(state)
    };
    let router = router_on(&t.db);
    let r = common::Call::new("GET", "/readyz").send(&router).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        local.storage.list("").await.expect("list").is_empty(),
        "the probe object is removed"
    );

    // The same database opened read-only: reads work, writes do not.
    let sep = if t.url.contains('?') { '&' } else { '?' };
    let read_only_url = match backend {
        "postgres" => format!(
            "{}{sep}options=-c%20default_transaction_read_only%3Don",
            t.url
        ),
        _ => format!("{}{sep}mode=ro", t.url),
    };
    let ro = companion_db::Database::connect(&read_only_url)
        .await
        .expect("read-only");
    ro.ping().await.expect("reads still work");
    let r = common::Call::new("GET", "/readyz")
        .send(&router_on(&ro))
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["database"], "not writable", "{}", r.body);
    assert_eq!(r.json()["reason"], "database not writable");
    ro.close().await;

    // The object folder removed: not ready, and the check does not make a new empty one.
    std::fs::remove_dir_all(&local.dir).expect("remove");
    let r = common::Call::new("GET", "/readyz").send(&router).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["storage"], "failing", "{}", r.body);
    assert_eq!(r.json()["database"], "ok");
    assert_eq!(r.json()["reason"], "storage failing");
    assert!(!local.dir.exists());
    t.cleanup().await.expect("cleanup");
}
