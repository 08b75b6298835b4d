//! Documents over HTTP: upload from the permit page and the API (several files, bad ones
//! refused with a reason), download with ranges and validators, applicant links (valid, tampered,
//! expired, revoked), the "PDF belum diunggah" task and the integrity check.

mod common;

use common::{Call, harness, session_for};
use companion_domain::Role;
use companion_pdf::letter::{PermitLetter, render};

const ISSUED: &str = "0142307703072025";

fn letter(seed: &str) -> Vec<u8> {
    let mut l = PermitLetter::example();
    l.applicant_name = seed.into();
    render(&l, 0)
}

fn encrypted() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pdf/tests/fixtures/encrypted-aes256.pdf"
    ))
    .expect("fixture")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_upload_from_the_permit_page() {
    let h = harness("sqlite").await;
    let staff = &h.users[&Role::Staff];
    let (sid, csrf) = session_for(&h.t.db, staff).await;
    let cookie = format!("sc_session={sid}");

    // Before: the permit page and the dashboard show the task.
    let page = Call::new("GET", &format!("/izin/{ISSUED}"))
        .cookie(cookie.clone())
        .send(&h.router)
        .await;
    assert!(page.body.contains("PDF belum diunggah"), "{}", page.body);
    assert!(page.body.contains("enctype=\"multipart/form-data\""));

    // Without the CSRF token in the action URL the upload is refused.
    let path = format!("/izin/{ISSUED}/berkas");
    let r = Call::new("POST", &path)
        .cookie(cookie.clone())
        .files(vec![("surat.pdf".into(), letter("a"))])
        .send(&h.router)
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(h.t.db.document_count().await.expect("count"), 0);

    // Two files at once: one stored, one refused with its reason.
    let with_csrf = format!("{path}?csrf={csrf}");
    let r = Call::new("POST", &with_csrf)
        .cookie(cookie.clone())
        .files(vec![
            ("surat.pdf".into(), letter("a")),
            ("foto.pdf".into(), b"\xff\xd8\xff\xe0 JFIF".to_vec()),
        ])
        .send(&h.router)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let notice = urlencoding_decode(r.location());
    assert!(
        notice.contains("surat.pdf: tersimpan sebagai versi 1"),
        "{notice}"
    );
    assert!(
        notice.contains("foto.pdf: ditolak — Berkas ini bukan PDF"),
        "{notice}"
    );

    let page = Call::new("GET", &format!("/izin/{ISSUED}"))
        .cookie(cookie.clone())
        .send(&h.router)
        .await;
    assert!(page.body.contains("data-version=\"1\""), "{}", page.body);
    assert!(!page.body.contains("PDF belum diunggah"));
    let dash = Call::new("GET", "/api/v1/dashboard")
        .bearer(&h.tokens[&Role::Staff])
        .send(&h.router)
        .await;
    assert_eq!(dash.json()["waiting_for_pdf"], 0, "{}", dash.body);
    assert_eq!(dash.json()["documents"], 1);
    h.t.cleanup().await.expect("cleanup");
}

fn urlencoding_decode(location: &str) -> String {
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "pesan")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_upload_download_ranges_and_links() {
    let h = harness("postgres").await;
    let token = &h.tokens[&Role::Staff];
    let path = format!("/api/v1/permits/{ISSUED}/documents");
    let valid = letter("b");
    let r = Call::new("POST", &path)
        .bearer(token)
        .files(vec![
            ("izin.pdf".into(), valid.clone()),
            ("rahasia.pdf".into(), encrypted()),
            (
                "besar.pdf".into(),
                render(&PermitLetter::example(), 300_000),
            ),
        ])
        .send(&h.router)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let report = r.json();
    assert_eq!(
        (report["stored"].as_u64(), report["refused"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(report["files"][1]["error"]["code"], "encrypted");
    assert_eq!(report["files"][2]["error"]["code"], "too_large");
    let id = report["files"][0]["document"]["id"].as_i64().expect("id");
    // The seeded permit has no letter date, so its files go under the import year.
    use chrono::Datelike;
    let year = chrono::Utc::now().year();
    assert_eq!(
        report["files"][0]["document"]["storage_key"],
        format!("permits/{year}/{ISSUED}/v1-original.pdf")
    );

    // The same bytes again: a duplicate, not a second document.
    let again = Call::new("POST", &path)
        .bearer(token)
        .files(vec![("lagi.pdf".into(), valid.clone())])
        .send(&h.router)
        .await;
    assert_eq!(again.json()["duplicates"], 1, "{}", again.body);
    // Not multipart: a clear 400.
    let bad = Call::new("POST", &path)
        .bearer(token)
        .json(serde_json::json!({}))
        .send(&h.router)
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["code"], "bad_request");

    // Download: whole, ranges, validators.
    let content = format!("/api/v1/documents/{id}/content");
    let whole = Call::new("GET", &content)
        .bearer(token)
        .send(&h.router)
        .await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.headers["accept-ranges"], "bytes");
    assert_eq!(whole.headers["content-type"], "application/pdf");
    assert_eq!(whole.bytes, valid);
    let part = Call::new("GET", &content)
        .bearer(token)
        .header("range", "bytes=0-99")
        .send(&h.router)
        .await;
    assert_eq!(part.status, 206);
    assert_eq!(
        part.headers["content-range"],
        format!("bytes 0-99/{}", valid.len())
    );
    assert_eq!(part.bytes, &valid[..100]);
    let tail = Call::new("GET", &content)
        .bearer(token)
        .header("range", "bytes=-16")
        .send(&h.router)
        .await;
    assert_eq!(tail.status, 206);
    assert!(tail.body.contains("%%EOF"));
    let beyond = Call::new("GET", &content)
        .bearer(token)
        .header("range", format!("bytes={}-", valid.len()))
        .send(&h.router)
        .await;
    assert_eq!(beyond.status, 416);
    let etag = whole.headers["etag"].to_str().expect("etag").to_string();
    let cached = Call::new("GET", &content)
        .bearer(token)
        .header("if-none-match", etag)
        .send(&h.router)
        .await;
    assert_eq!(cached.status, 304);

    // Applicant link: opens without login, with ranges too.
    let link = Call::new("POST", &format!("/api/v1/documents/{id}/links"))
        .bearer(token)
        .json(serde_json::json!({"days": 7, "note": "WA pemohon"}))
        .send(&h.router)
        .await;
    assert_eq!(link.status, 201, "{}", link.body);
    let url = link.json()["url"].as_str().expect("url").to_string();
    let public = url
        .split_once("8080")
        .map(|(_, p)| p.to_string())
        .expect("path");
    let opened = Call::new("GET", &public).send(&h.router).await;
    assert_eq!(opened.status, 200, "{}", opened.body);
    assert_eq!(opened.bytes, valid);
    let ranged = Call::new("GET", &public)
        .header("range", "bytes=0-4")
        .send(&h.router)
        .await;
    assert_eq!(
        (ranged.status.as_u16(), ranged.body.as_str()),
        (206, "%PDF-")
    );

    // Tampered: refused with a Bahasa page, no file.
    let tampered = format!("{}x", &public[..public.len() - 1]);
    let r = Call::new("GET", &tampered).send(&h.router).await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("Tautan ini tidak sah"), "{}", r.body);

    // Expired.
    let old =
        h.t.db
            .create_link(
                id,
                chrono::Utc::now() - chrono::Duration::minutes(5),
                "",
                "uji",
            )
            .await
            .expect("old");
    let r = Call::new("GET", &format!("/unduh/{}", h.documents.link_token(&old)))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 410);
    assert!(r.body.contains("kedaluwarsa"));

    // Revoked: the same URL stops working.
    let link_id = link.json()["id"].as_i64().expect("link id");
    let revoke = Call::new("DELETE", &format!("/api/v1/links/{link_id}"))
        .bearer(token)
        .send(&h.router)
        .await;
    assert_eq!(revoke.status, 200, "{}", revoke.body);
    let r = Call::new("GET", &public).send(&h.router).await;
    assert_eq!(r.status, 410);
    assert!(r.body.contains("dicabut"));

    // The auditor may read but not share.
    let r = Call::new("POST", &format!("/api/v1/documents/{id}/links"))
        .bearer(&h.tokens[&Role::Auditor])
        .json(serde_json::json!({"days": 7}))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 403);
    h.t.cleanup().await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrity_check_shows_a_missing_file() {
    let h = harness("sqlite").await;
    let token = &h.tokens[&Role::Admin];
    let r = Call::new("POST", &format!("/api/v1/permits/{ISSUED}/documents"))
        .bearer(token)
        .files(vec![("izin.pdf".into(), letter("c"))])
        .send(&h.router)
        .await;
    let key = r.json()["files"][0]["document"]["storage_key"]
        .as_str()
        .expect("key")
        .to_string();
    let clean = Call::new("POST", "/api/v1/documents/integrity")
        .bearer(token)
        .send(&h.router)
        .await;
    assert_eq!(clean.json()["missing"], 0, "{}", clean.body);
    std::fs::remove_file(h.store.dir.join(&key)).expect("remove object");
    let check = Call::new("POST", "/api/v1/documents/integrity")
        .bearer(token)
        .send(&h.router)
        .await;
    assert_eq!(check.json()["missing"], 1, "{}", check.body);
    let latest = Call::new("GET", "/api/v1/documents/integrity")
        .bearer(token)
        .send(&h.router)
        .await;
    assert_eq!(latest.json()["id"], check.json()["id"]);
    // The documents page and the dashboard say so; the download says the file is missing.
    let (sid, _) = session_for(&h.t.db, &h.users[&Role::Staff]).await;
    let page = Call::new("GET", "/dokumen")
        .cookie(format!("sc_session={sid}"))
        .send(&h.router)
        .await;
    assert!(
        page.body.contains("Berkas hilang") && page.body.contains(&key),
        "{}",
        page.body
    );
    let dash = Call::new("GET", "/")
        .cookie(format!("sc_session={sid}"))
        .send(&h.router)
        .await;
    assert!(dash.body.contains("data-clean=\"false\""));
    let id = r.json()["files"][0]["document"]["id"].as_i64().expect("id");
    let gone = Call::new("GET", &format!("/api/v1/documents/{id}/content"))
        .bearer(token)
        .send(&h.router)
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["error"]["code"], "object_missing");
    h.t.cleanup().await.expect("cleanup");
}
