//! The public portal without a login: the QR page's verdicts (ASLI, KEDALUWARSA, DICABUT, TIDAK
//! DIKENAL, a forged seal), the signed PDF's download, and PDF uploads judged cryptographically
//! and against the records (our signed file, one changed byte, an unsigned letter, a file signed
//! by a foreign certificate, a revoked document, an oversized request); every check logged.

mod common;

use common::{Call, harness_with_signing};
use companion_domain::Role;

const ISSUED: &str = "0142307703072025";

/// A letter of the seeded permit carried through the API to published: (case, signed bytes).
async fn published(h: &common::Harness) -> (serde_json::Value, Vec<u8>) {
    let id = common::approved_case(h, ISSUED, "503/0142/DPMPTSP/2025").await;
    let r = Call::new("POST", &format!("/api/v1/signing/cases/{id}/steps"))
        .bearer(&h.tokens[&Role::Official])
        .json(serde_json::json!({"action": "sign"}))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 200, "sign: {}", r.body);
    let case = r.json();
    assert_eq!(case["state"], "published");
    let vid = case["verification_id"].as_str().expect("vid").to_string();
    let pdf = Call::new("GET", &format!("/v/{vid}/unduh"))
        .send(&h.router)
        .await;
    assert_eq!(pdf.status, 200);
    assert_eq!(
        pdf.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/pdf")
    );
    (case, pdf.bytes.clone())
}

fn verdict(body: &str) -> String {
    body.split("data-verdict=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string()
}

async fn upload(h: &common::Harness, bytes: Vec<u8>) -> common::Reply {
    Call::new("POST", "/periksa")
        .files(vec![("izin.pdf".into(), bytes)])
        .send(&h.router)
        .await
}

companion_db::on_both_backends!(qr_pages_and_uploads_tell_the_truth);

async fn qr_pages_and_uploads_tell_the_truth(backend: &str) {
    let h = harness_with_signing(backend).await;
    let (case, signed) = published(&h).await;
    let vid = case["verification_id"].as_str().expect("vid").to_string();

    // The QR's page: valid, with the facts and the security headers.
    let p = Call::new("GET", &format!("/v/{vid}")).send(&h.router).await;
    assert_eq!(p.status, 200);
    assert_eq!(verdict(&p.body), "ASLI", "{}", p.body);
    assert!(p.body.contains("Pejabat Uji") || p.body.contains("Penanda tangan"));
    assert!(p.body.contains("/unduh"));
    let csp = p
        .headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert_eq!(
        p.headers
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    // Lower case and spaces in a typed code still find it; an unknown code does not.
    let p = Call::new("GET", &format!("/periksa?kode={}", vid.to_lowercase()))
        .send(&h.router)
        .await;
    assert_eq!(p.location(), format!("/v/{vid}"));
    let p = Call::new("GET", "/v/ZZZZZZZZZZZZ").send(&h.router).await;
    assert_eq!(p.status, 404);
    assert_eq!(verdict(&p.body), "TIDAK DIKENAL");
    // The QR's own address: its seal verifies, and the page carries the offline check.
    let qr = case["qr_text"].as_str().expect("qr text");
    let path = &qr[qr.find("/v/").expect("portal path")..];
    let p = Call::new("GET", path).send(&h.router).await;
    assert_eq!(verdict(&p.body), "ASLI", "{}", p.body);
    assert!(p.body.contains("Segel pada kode QR sah"), "{}", p.body);
    assert!(p.body.contains("id=\"seal-offline\""));
    assert!(p.body.contains("/static/portal.js"));
    // A QR whose seal was forged.
    let p = Call::new("GET", &format!("/v/{vid}?d=QUJD&s=QUJD"))
        .send(&h.router)
        .await;
    assert_eq!(verdict(&p.body), "TIDAK ASLI", "{}", p.body);

    // Uploads: our signed file matches the records.
    let r = upload(&h, signed.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(verdict(&r.body), "ASLI", "{}", r.body);
    for check in [
        "Keutuhan",
        "Cakupan seluruh berkas",
        "Rantai sertifikat",
        "Cap waktu",
        "Pencabutan",
        "Catatan kantor",
    ] {
        assert!(
            r.body.contains(&format!("data-check=\"{check}\"")),
            "{check}"
        );
    }
    assert!(
        r.body.contains("Sama persis dengan dokumen terbit"),
        "{}",
        r.body
    );
    // A newline after %%EOF (a mail program's) is no change: the same answer as the file.
    let mut newline = signed.clone();
    newline.extend_from_slice(b"\r\n");
    let r = upload(&h, newline).await;
    assert_eq!(verdict(&r.body), "ASLI", "{}", r.body);
    // An incremental update after the office's signature that adds page content.
    let mut overlay = signed.clone();
    overlay.extend_from_slice(
        b"\n99 0 obj\n<< /Length 10 >>\nstream\nBT (x) Tj ET\nendstream\nendobj\n%%EOF\n",
    );
    let r = upload(&h, overlay).await;
    assert_eq!(verdict(&r.body), "TIDAK ASLI", "{}", r.body);
    // One changed byte.
    let mut changed = signed.clone();
    changed[200] ^= 0x01;
    let r = upload(&h, changed).await;
    assert_eq!(verdict(&r.body), "TIDAK ASLI", "{}", r.body);
    // Not signed at all.
    let unsigned =
        companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 1);
    let r = upload(&h, unsigned).await;
    assert_eq!(verdict(&r.body), "TIDAK ASLI");
    assert!(r.body.contains("tidak bertanda tangan"));
    // Signed by someone this office does not know.
    let foreign = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../pdf/tests/fixtures/signed-by-other.pdf"),
    )
    .expect("fixture");
    let r = upload(&h, foreign).await;
    assert_eq!(verdict(&r.body), "TIDAK DAPAT DIPASTIKAN", "{}", r.body);
    // Too large, refused from its declared length before reading.
    let r = Call::new("POST", "/periksa")
        .header("content-type", "multipart/form-data; boundary=x")
        .header("content-length", (200u64 * 1024 * 1024).to_string())
        .send(&h.router)
        .await;
    assert_eq!(r.status, 413);

    // Expired: the permit's validity ended yesterday.
    companion_db::testing::execute_raw(
        &h.t.db,
        &format!("UPDATE permits SET expiry_date = '2020-01-01' WHERE pendaftaran_id = '{ISSUED}'"),
    )
    .await
    .expect("expire");
    let p = Call::new("GET", &format!("/v/{vid}")).send(&h.router).await;
    assert_eq!(verdict(&p.body), "KEDALUWARSA");
    // One file, one answer: the same file uploaded says what its QR page says.
    let r = upload(&h, signed.clone()).await;
    assert_eq!(verdict(&r.body), "KEDALUWARSA", "{}", r.body);
    assert!(r.body.contains("01-01-2020"), "{}", r.body);

    // Revoked: the page says so and the same file no longer passes.
    let id = case["id"].as_i64().expect("id");
    let r = Call::new("POST", &format!("/api/v1/signing/cases/{id}/steps"))
        .bearer(&h.tokens[&Role::Official])
        .json(serde_json::json!({"action": "revoke", "reason": "Izin dicabut atas permintaan pemegang"}))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = Call::new("GET", &format!("/v/{vid}")).send(&h.router).await;
    assert_eq!(verdict(&p.body), "DICABUT");
    assert!(p.body.contains("atas permintaan pemegang"));
    assert!(!p.body.contains("Unduh PDF"));
    let r = upload(&h, signed).await;
    assert_eq!(verdict(&r.body), "DICABUT", "{}", r.body);
    assert!(r.body.contains("atas permintaan pemegang"));

    // Every check was logged, by method and result (written in batches: wait until it settles).
    let log = settled_log(&h.t.db).await;
    let count = |method: &str, result: &str| {
        log.iter()
            .filter(|e| e.method == method && e.result == result)
            .map(|e| e.checks)
            .sum::<i64>()
    };
    // (the file, and the file with a newline; the overlay, a changed byte, an unsigned letter)
    assert_eq!(count("upload", "asli"), 2);
    assert_eq!(count("upload", "tidak_asli"), 3);
    assert_eq!(count("upload", "kedaluwarsa"), 1);
    assert_eq!(count("upload", "dicabut"), 1);
    assert_eq!(count("upload", "tidak_dapat_dipastikan"), 1);
    assert_eq!(count("qr", "tidak_asli"), 1);
    assert_eq!(count("qr", "asli"), 1);
    assert_eq!(count("code", "dicabut"), 1);
    assert_eq!(count("code", "tidak_dikenal"), 1);
    assert!(
        log.iter().all(|e| e.device == "other"),
        "no browser in this test"
    );

    // Staff see the statistics and export them without client addresses; the dashboard counts.
    let (sid, _) = common::session_for(&h.t.db, &h.users[&Role::Auditor]).await;
    let stats = Call::new("GET", "/verifikasi")
        .cookie(format!("sc_session={sid}"))
        .send(&h.router)
        .await;
    assert_eq!(stats.status, 200);
    assert!(stats.body.contains("id=\"top-reasons\""), "{}", stats.body);
    assert!(stats.body.contains("TIDAK DAPAT DIPASTIKAN"));
    let csv = Call::new("GET", "/verifikasi.csv")
        .cookie(format!("sc_session={sid}"))
        .send(&h.router)
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.body.lines().count(), log.len() + 1, "{}", csv.body);
    assert!(log.iter().all(|e| e.checks >= 1));
    let ip = h.t.db.recent_verifications(1).await.expect("log");
    assert!(!ip.is_empty());
    assert!(
        !csv.body.contains("127.0.0.1"),
        "no client address in the export"
    );
    let dash = Call::new("GET", "/")
        .cookie(format!("sc_session={sid}"))
        .send(&h.router)
        .await;
    assert!(
        dash.body.contains("id=\"verification-totals\""),
        "{}",
        dash.body
    );
    // Client addresses are cleared after the retention period.
    let cleared =
        h.t.db
            .forget_verification_addresses(chrono::Utc::now() + chrono::Duration::seconds(1))
            .await
            .expect("forget");
    assert_eq!(cleared as usize, log.len());
    h.t.cleanup().await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_limit_is_told_to_wait() {
    let h = harness_with_signing("sqlite").await;
    // Ten PDF checks a minute per client by default; the eleventh waits.
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(upload(&h, b"bukan pdf".to_vec()).await.status);
    }
    assert!(
        statuses[..10].iter().all(|s| s.as_u16() == 200),
        "{statuses:?}"
    );
    let last = upload(&h, b"bukan pdf".to_vec()).await;
    assert_eq!(last.status, 429);
    assert_eq!(
        last.headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("60")
    );
    h.t.cleanup().await.expect("cleanup");
}

/// The verification log once the portal's background writer has caught up.
async fn settled_log(db: &companion_db::Database) -> Vec<companion_db::VerificationEntry> {
    // The writer flushes 50 ms after the last check (at the latest a second after the first).
    let (mut last, mut stable) = (usize::MAX, 0);
    for _ in 0..100 {
        let log = db.recent_verifications(1000).await.expect("log");
        stable = if log.len() == last { stable + 1 } else { 0 };
        if stable == 3 {
            return log;
        }
        last = log.len();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the verification log never settled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_are_logged_with_a_coarse_region_when_a_geoip_database_is_configured() {
    let mut h = harness_with_signing("sqlite").await;
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/geoip-test.mmdb");
    let mut state = h.state.clone();
    state.geoip = Some(std::sync::Arc::new(
        companion_web::geoip::GeoIp::open(&fixture).expect("fixture"),
    ));
    state.config.trust_forwarded_for = true;
    h.router = companion_web::router(state);
    for (addr, code) in [
        ("192.0.2.17", "AAAABBBBCCCC"),
        ("198.51.100.5", "AAAABBBBCCCD"),
        ("203.0.113.9", "AAAABBBBCCCE"),
    ] {
        let r = Call::new("GET", &format!("/v/{code}"))
            .header("x-forwarded-for", addr)
            .send(&h.router)
            .await;
        assert_eq!(r.status, 404, "{}", r.body);
    }
    let log = settled_log(&h.t.db).await;
    let region = |id: &str| {
        log.iter()
            .find(|e| e.verification_id.as_deref() == Some(id))
            .map(|e| e.region.clone())
            .unwrap_or_else(|| panic!("no entry for {id}: {log:?}"))
    };
    assert_eq!(region("AAAABBBBCCCC").as_deref(), Some("North Sumatra, ID"));
    assert_eq!(region("AAAABBBBCCCD").as_deref(), Some("Singapore"));
    assert_eq!(region("AAAABBBBCCCE"), None, "not in the database");
    // Staff see the regions in the statistics.
    let (sid, _) = common::session_for(&h.t.db, &h.users[&Role::Auditor]).await;
    let stats = Call::new("GET", "/verifikasi")
        .cookie(format!("sc_session={sid}"))
        .send(&h.router)
        .await;
    assert!(stats.body.contains("North Sumatra, ID"), "{}", stats.body);
    h.t.cleanup().await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_help_page_explains_each_verdict() {
    let h = harness_with_signing("sqlite").await;
    let r = Call::new("GET", "/bantuan").send(&h.router).await;
    assert_eq!(r.status, 200);
    for word in [
        "ASLI",
        "TIDAK ASLI",
        "TIDAK DAPAT DIPASTIKAN",
        "DICABUT",
        "KEDALUWARSA",
        "TIDAK DIKENAL",
    ] {
        assert!(r.body.contains(word), "no {word} on /bantuan");
    }
    assert!(
        r.body.contains("<h2>"),
        "the text is rendered, not raw markdown"
    );
    assert!(r.headers.contains_key("content-security-policy"));
    h.t.cleanup().await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_switches_to_english_and_remembers_it() {
    let h = harness_with_signing("sqlite").await;
    let (case, signed) = published(&h).await;
    let vid = case["verification_id"].as_str().expect("vid").to_string();
    // Bahasa Indonesia by default, with a link to the English page.
    let id_page = Call::new("GET", &format!("/v/{vid}")).send(&h.router).await;
    assert!(id_page.body.contains("lang=\"id\""));
    assert!(
        id_page
            .body
            .contains(&format!("href=\"/v/{vid}?bahasa=en\"")),
        "{}",
        id_page.body
    );
    // The switch: English, remembered in a cookie; the verdict's key stays the same.
    let en = Call::new("GET", &format!("/v/{vid}?bahasa=en"))
        .send(&h.router)
        .await;
    assert_eq!(en.status, 200);
    assert!(en.body.contains("lang=\"en\""));
    assert!(
        en.body.contains("AUTHENTIC") && en.body.contains("Permit number"),
        "{}",
        en.body
    );
    assert_eq!(verdict(&en.body), "ASLI");
    let cookie = en.set_cookie("bahasa").expect("language cookie");
    assert_eq!(cookie, "en");
    // Other pages follow the cookie, including an upload's check lines.
    let check = Call::new("GET", "/periksa")
        .cookie("bahasa=en".into())
        .send(&h.router)
        .await;
    assert!(check.body.contains("Check a document"), "{}", check.body);
    let result = Call::new("POST", "/periksa")
        .cookie("bahasa=en".into())
        .files(vec![("izin.pdf".into(), signed.clone())])
        .send(&h.router)
        .await;
    assert_eq!(verdict(&result.body), "ASLI");
    assert!(
        result.body.contains("The signature covers the whole file."),
        "{}",
        result.body
    );
    assert!(
        result.body.contains("data-check=\"Keutuhan\""),
        "stable keys stay"
    );
    assert!(
        !result
            .body
            .contains("Tanda tangan mencakup seluruh berkas.")
    );
    // And back: `?bahasa=id` wins over the cookie.
    let back = Call::new("GET", "/periksa?bahasa=id")
        .cookie("bahasa=en".into())
        .send(&h.router)
        .await;
    assert!(back.body.contains("Periksa keaslian dokumen"));
    assert_eq!(back.set_cookie("bahasa").as_deref(), Some("id"));
    // The log keeps its reasons in Bahasa whatever the page's language.
    let log = settled_log(&h.t.db).await;
    assert!(
        log.iter()
            .all(|e| e.reason.as_deref().is_none_or(|r| !r.contains("the ")))
    );
    h.t.cleanup().await.expect("cleanup");
}

/// Issue 23: the portal looks like the office — its name, a logo slot (`PORTAL_LOGO`: the
/// configured file, else the built-in mark, also when the file cannot be read or is no image),
/// and the header links to the portal's own start page, never to the staff login at `/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_wears_the_office_name_and_logo() {
    let h = harness_with_signing("sqlite").await;
    for path in ["/periksa", "/pindai", "/bantuan", "/v/ZZZZZZZZZZZZ"] {
        let r = Call::new("GET", path).send(&h.router).await;
        assert!(r.body.contains("Pemerintah Kabupaten Karo"), "{path}");
        assert!(r.body.contains("DPMPTSP"), "{path}");
        assert!(
            r.body.contains("id=\"portal-home\" href=\"/periksa\""),
            "{path}: {}",
            r.body
        );
        assert!(
            !r.body.contains("class=\"brand\" href=\"/\""),
            "{path}: a link to the staff login"
        );
        assert!(r.body.contains("src=\"/logo-kantor\""), "{path}");
    }
    // The built-in mark.
    let r = Call::new("GET", "/logo-kantor").send(&h.router).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "image/svg+xml");
    assert!(r.body.starts_with("<svg"));
    // A configured PNG.
    let dir = tempfile::tempdir().expect("tmp");
    let png = dir.path().join("logo.PNG");
    let bytes = b"\x89PNG\r\n\x1a\n-logo-kantor-".to_vec();
    std::fs::write(&png, &bytes).expect("write");
    let with = |path: std::path::PathBuf| {
        let mut state = h.state.clone();
        state.config.portal_logo = Some(path);
        companion_web::router(state)
    };
    let r = Call::new("GET", "/logo-kantor").send(&with(png)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "image/png");
    assert_eq!(r.bytes, bytes);
    // Missing, or not an image by its name: the built-in mark, never an error page.
    for bad in [dir.path().join("hilang.png"), dir.path().join("logo.exe")] {
        std::fs::write(dir.path().join("logo.exe"), b"MZ").expect("write");
        let r = Call::new("GET", "/logo-kantor")
            .send(&with(bad.clone()))
            .await;
        assert_eq!(r.status, 200, "{bad:?}");
        assert_eq!(r.headers["content-type"], "image/svg+xml", "{bad:?}");
    }
    h.t.cleanup().await.expect("cleanup");
}
