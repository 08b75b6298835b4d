//! The HTTP layer over a real loopback server, on SQLite and PostgreSQL.

use companion_db::testing::TestDb;
use companion_domain::{DataFlags, IncomingPermit, PermitStatus, plan_page};
use companion_web::{AppState, router};

companion_db::on_both_backends!(health_api_and_pages);

async fn serve(db: companion_db::Database) -> String {
    let app = router(AppState {
        db,
        metrics: None,
        office_tz: chrono_tz::Asia::Jakarta,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn get_json(http: &reqwest::Client, url: String) -> serde_json::Value {
    let response = http.get(&url).send().await.expect("request");
    response.json().await.expect("JSON body")
}

async fn get_text(http: &reqwest::Client, url: String) -> String {
    let response = http.get(&url).send().await.expect("request");
    response.text().await.expect("text body")
}

async fn health_api_and_pages(backend: &str) {
    let t = TestDb::new(backend).await.unwrap();
    let mut flags = DataFlags::new();
    flags.insert("applicant_name".into(), "junk:0".into());
    let rows = vec![
        IncomingPermit {
            pendaftaran_id: "0142307703072025".into(),
            status: PermitStatus::Issued,
            applicant_name: Some("<script>alert(1)</script> GINTING".into()),
            permit_type_name: Some("IZIN USAHA TOKO".into()),
            permit_number: Some("503/0112/IUT/DPM-PTSP/2024".into()),
            flags: DataFlags::new(),
        },
        IncomingPermit {
            pendaftaran_id: "0150300102102025".into(),
            status: PermitStatus::InProcess,
            applicant_name: None,
            permit_type_name: Some("IZIN USAHA MIKRO KECIL".into()),
            permit_number: None,
            flags,
        },
    ];
    let plan = plan_page(&rows, &Default::default());
    t.db.apply_page(&plan, None, &[], &[]).await.unwrap();
    let base = serve(t.db.clone()).await;
    let http = reqwest::Client::new();

    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let list: serde_json::Value =
        get_json(&http, format!("{base}/api/v1/permits?status=issued")).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["pendaftaran_id"], "0142307703072025");

    let one: serde_json::Value =
        get_json(&http, format!("{base}/api/v1/permits/0150300102102025")).await;
    assert_eq!(one["permit"]["flags"]["applicant_name"], "junk:0");
    assert_eq!(one["status_history"][0]["to_status"], "in_process");

    let missing = http
        .get(format!("{base}/api/v1/permits/999"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    let bad = http
        .get(format!("{base}/api/v1/permits?status=bogus"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "bad_request"
    );

    let page = get_text(&http, format!("{base}/?q=ginting")).await;
    assert!(page.contains("&lt;script&gt;"), "names are escaped");
    assert!(!page.contains("<script>alert"));
    assert!(page.contains("Izin terbit"));
    let detail = get_text(&http, format!("{base}/izin/0150300102102025")).await;
    assert!(
        detail.contains("Nama pemohon tidak wajar di SICANTIK"),
        "flags are explained"
    );

    let stats: serde_json::Value = get_json(&http, format!("{base}/api/v1/stats")).await;
    assert_eq!(stats["permits"]["issued"], 1);
    t.cleanup().await.unwrap();
}
