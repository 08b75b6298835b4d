//! `/lacak` over the real router against the SICANTIK simulator (its `permohonan2`, its
//! CodeIgniter error pages), on SQLite and PostgreSQL: the right number and digits, wrong digits
//! and an unknown number answered alike, hostile ids that never reach SICANTIK, SICANTIK down
//! with and without a cached answer, a database error page with status 200, signed links
//! (valid, expired, tampered), the per-number and per-client limits, and a published letter's
//! download link.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Call, Harness, harness_with_signing};
use companion_domain::Role;
use companion_sicantik::{ClientConfig, SicantikClient, Tracker, TrackingConfig};
use companion_simulators::{SicantikSim, SicantikSimConfig, SimFault, SimPermit};

async fn sim() -> SicantikSim {
    SicantikSim::start(
        SicantikSimConfig {
            permits: 200,
            quirks: false,
            ..Default::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator")
}

fn tracker(h: &Harness, sim: &SicantikSim, max_failures: u32) -> Tracker {
    let client = SicantikClient::new(ClientConfig {
        base_url: sim.base_url(),
        timeout: Duration::from_secs(2),
        rate_limit_per_sec: 100,
        max_retries: 0,
        retry_base_delay: Duration::from_millis(10),
        retry_max_delay: Duration::from_millis(20),
    })
    .expect("client");
    Tracker::new(
        client,
        h.t.db.clone(),
        TrackingConfig {
            budget: Duration::from_secs(3),
            timeout: Duration::from_secs(1),
            retries: 0,
            fresh_for: Duration::ZERO,
            max_failures,
            attempt_window: Duration::from_secs(3600),
        },
    )
}

fn router_with(h: &Harness, tracker: Tracker, uploads_per_minute: u32) -> axum::Router {
    let mut state = h.state.clone();
    state.tracker = Some(Arc::new(tracker));
    state.config.portal_uploads_per_minute = uploads_per_minute;
    state.portal_limits = Arc::default();
    companion_web::router(state)
}

/// Permits with a phone on SICANTIK: (permit, its last four digits).
fn with_phone(sim: &SicantikSim) -> Vec<(SimPermit, String)> {
    sim.permits()
        .into_iter()
        .filter_map(|p| {
            let four = companion_domain::tracking::last_four(p.telp_pemohon.as_deref()?)?;
            Some((p, four))
        })
        .collect()
}

fn wrong(four: &str) -> String {
    let n: u32 = four.parse().unwrap_or(0);
    format!("{:04}", (n + 1) % 10_000)
}

async fn post(router: &axum::Router, nomor: &str, digits: &str) -> common::Reply {
    let form = format!("nomor={}&telepon={}", url_encode(nomor), url_encode(digits));
    Call::new("POST", "/lacak").form(form).send(router).await
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn marker<'a>(body: &'a str, attr: &str) -> Option<&'a str> {
    let key = format!("{attr}=\"");
    let at = body.find(&key)? + key.len();
    body[at..].split('"').next()
}

/// The neutral answer with the typed number taken out (the form shows it back).
fn neutral(body: &str, nomor: &str) -> String {
    body.replace(nomor, "")
}

async fn tracking_tells_the_truth(backend: &str) {
    let h = harness_with_signing(backend).await;
    let sim = sim().await;
    let router = router_with(&h, tracker(&h, &sim, 1000), 1000);
    let permits = with_phone(&sim);
    let (p, four) = permits[0].clone();

    // Right number and digits: the chain with the step SICANTIK marks current.
    let r = post(&router, &p.pendaftaran_id, &four).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(marker(&r.body, "data-lacak"), Some("ditemukan"));
    assert_eq!(marker(&r.body, "data-sicantik"), Some("langsung"));
    let (current, chain) = sim.tracking_chain(&p.pendaftaran_id).expect("chain");
    assert!(r.body.contains(&current), "{}", r.body);
    for step in &chain {
        assert!(r.body.contains(step.as_str()), "step {step} missing");
    }
    assert!(r.body.contains(p.type_name()));
    assert!(r.body.contains(" WIB"), "time in the office's zone");
    assert_eq!(
        r.headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    // Nothing beyond the receipt: no address, phone or name.
    for secret in [
        p.a_pemohon.clone(),
        p.telp_pemohon.clone(),
        p.n_pemohon.clone(),
    ]
    .into_iter()
    .flatten()
    {
        assert!(!r.body.contains(&secret), "{secret} shown");
    }
    // Typed with the receipt's spaces: the same permit.
    let spaced = format!("{} {}", &p.pendaftaran_id[..5], &p.pendaftaran_id[5..]);
    let r = post(&router, &spaced, &four).await;
    assert_eq!(marker(&r.body, "data-lacak"), Some("ditemukan"));

    // Wrong digits and an unknown number: the same answer.
    let bad = post(&router, &p.pendaftaran_id, &wrong(&four)).await;
    let unknown_id = "9999900101012020";
    let unknown = post(&router, unknown_id, &four).await;
    assert_eq!(bad.status, 404);
    assert_eq!(unknown.status, 404);
    assert_eq!(marker(&bad.body, "data-lacak"), Some("tidak-cocok"));
    assert_eq!(
        neutral(&bad.body, &p.pendaftaran_id),
        neutral(&unknown.body, unknown_id),
        "wrong digits and an unknown number must read alike"
    );
    // Digits that are not four digits never match.
    for digits in ["", "12345", "abcd", &four[..3]] {
        let r = post(&router, &p.pendaftaran_id, digits).await;
        assert_eq!(r.status, 404, "{digits:?}");
    }

    // Hostile ids: the neutral answer, and SICANTIK never asked.
    let asked = sim.requests("permohonan2");
    for hostile in [
        "1 OR 1=1",
        "0142307703072025' OR '1'='1",
        "1;DROP TABLE tmpermohonan",
        "1)--",
        "<script>",
    ] {
        let r = post(&router, hostile, &four).await;
        assert_eq!(r.status, 404, "{hostile}");
        assert_eq!(marker(&r.body, "data-lacak"), Some("tidak-cocok"));
        assert!(!r.body.contains("<script>"), "echoed unescaped");
    }
    assert_eq!(
        sim.requests("permohonan2"),
        asked,
        "a hostile id reached SICANTIK"
    );

    // SICANTIK answers CodeIgniter's database error page with status 200: the last good answer,
    // with its time, never an error page.
    sim.set_down(Some(SimFault::DatabaseError200));
    let r = post(&router, &p.pendaftaran_id, &four).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(marker(&r.body, "data-sicantik"), Some("tersimpan"));
    assert!(r.body.contains(&current));
    assert!(r.body.contains(" WIB"));
    // Down (503) the same.
    sim.set_down(Some(SimFault::Unavailable));
    let r = post(&router, &p.pendaftaran_id, &four).await;
    assert_eq!(marker(&r.body, "data-sicantik"), Some("tersimpan"));
    // A permit never looked up while SICANTIK is down: the neutral answer in plain words, the
    // same for a known and an unknown number.
    let (q, q_four) = permits[1].clone();
    let r = post(&router, &q.pendaftaran_id, &q_four).await;
    assert_eq!(r.status, 404);
    assert_eq!(marker(&r.body, "data-sicantik"), Some("terputus"));
    let u = post(&router, unknown_id, &q_four).await;
    assert_eq!(
        neutral(&r.body, &q.pendaftaran_id),
        neutral(&u.body, unknown_id)
    );
    sim.set_down(None);

    // A signed link: valid, tampered, expired.
    let token = h.documents.tracking_token(&p.pendaftaran_id, 90);
    let r = Call::new("GET", &format!("/lacak/{token}"))
        .send(&router)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(marker(&r.body, "data-lacak"), Some("ditemukan"));
    assert!(r.body.contains(&current));
    let other = &permits[2].0.pendaftaran_id;
    let tampered = token.replacen(&p.pendaftaran_id, other, 1);
    let r = Call::new("GET", &format!("/lacak/{tampered}"))
        .send(&router)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(marker(&r.body, "data-lacak"), Some("tautan-tidak-sah"));
    let mut mac_changed = token.clone();
    let last = mac_changed.pop().expect("char");
    mac_changed.push(if last == 'A' { 'B' } else { 'A' });
    let r = Call::new("GET", &format!("/lacak/{mac_changed}"))
        .send(&router)
        .await;
    assert_eq!(r.status, 404);
    let secret =
        h.t.db
            .kv_get_or_init("documents.link_secret", "unused")
            .await
            .expect("secret");
    let expired = companion_domain::tracking::link_token(
        secret.as_bytes(),
        &p.pendaftaran_id,
        chrono::Utc::now().timestamp() - 60,
    );
    let r = Call::new("GET", &format!("/lacak/{expired}"))
        .send(&router)
        .await;
    assert_eq!(r.status, 410);
    assert_eq!(marker(&r.body, "data-lacak"), Some("kedaluwarsa"));
    for junk in [
        "x",
        "1%20OR%201=1.1.AAAAAAAAAAAAAAAAAAAAAA",
        "..%2F..%2Fetc",
    ] {
        let r = Call::new("GET", &format!("/lacak/{junk}"))
            .send(&router)
            .await;
        assert_eq!(r.status, 404, "{junk}");
    }

    // The companion's own steps and the download link once the letter is published.
    let issued = "0142307703072025";
    let id = common::approved_case(&h, issued, "503/0142/DPMPTSP/2025").await;
    let signed = Call::new("POST", &format!("/api/v1/signing/cases/{id}/steps"))
        .bearer(&h.tokens[&Role::Official])
        .json(serde_json::json!({"action": "sign"}))
        .send(&h.router)
        .await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    let vid = signed.json()["verification_id"]
        .as_str()
        .expect("vid")
        .to_string();
    let token = h.documents.tracking_token(issued, 90);
    let r = Call::new("GET", &format!("/lacak/{token}"))
        .send(&router)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Not in SICANTIK's tracking (the simulator does not know it): said so, the rest shown.
    assert_eq!(marker(&r.body, "data-sicantik"), Some("kosong"));
    for kind in ["PdfReceived", "Approved", "Signed", "Published"] {
        assert!(
            r.body
                .contains(&format!("class=\"done\" data-companion=\"{kind}\"")),
            "{kind} not done: {}",
            r.body
        );
    }
    let href = format!("/v/{vid}/unduh");
    assert!(r.body.contains(&href));
    let pdf = Call::new("GET", &href).send(&h.router).await;
    assert_eq!(pdf.status, 200);
    assert!(pdf.bytes.starts_with(b"%PDF-"));

    // English.
    let r = Call::new("GET", "/lacak?bahasa=en").send(&router).await;
    assert!(r.body.contains("Track an application"));
    assert!(r.body.contains("lang=\"en\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_on_sqlite() {
    tracking_tells_the_truth("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_on_postgres() {
    tracking_tells_the_truth("postgres").await;
}

async fn limits(backend: &str) {
    let h = harness_with_signing(backend).await;
    let sim = sim().await;
    let permits = with_phone(&sim);
    let (p, four) = permits[0].clone();
    // Per number: after three failures the number is locked, known or not alike — and the right
    // digits do not open it either.
    let router = router_with(&h, tracker(&h, &sim, 3), 1000);
    let unknown = "9999900101012020";
    for _ in 0..3 {
        assert_eq!(
            post(&router, &p.pendaftaran_id, &wrong(&four)).await.status,
            404
        );
        assert_eq!(post(&router, unknown, &four).await.status, 404);
    }
    let known = post(&router, &p.pendaftaran_id, &four).await;
    let other = post(&router, unknown, &four).await;
    assert_eq!(known.status, 429);
    assert_eq!(other.status, 429);
    assert_eq!(marker(&known.body, "data-lacak"), Some("terlalu-banyak"));
    assert_eq!(known.body, other.body);
    // Another number is not affected.
    let (q, q_four) = permits[1].clone();
    assert_eq!(post(&router, &q.pendaftaran_id, &q_four).await.status, 200);

    // Per client: the portal's upload limit (here 2 a minute) holds for look-ups.
    let router = router_with(&h, tracker(&h, &sim, 1000), 2);
    assert_eq!(post(&router, &q.pendaftaran_id, &q_four).await.status, 200);
    assert_eq!(post(&router, &q.pendaftaran_id, &q_four).await.status, 200);
    let r = post(&router, &q.pendaftaran_id, &q_four).await;
    assert_eq!(r.status, 429);
    assert!(r.headers.get("retry-after").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_on_sqlite() {
    limits("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_on_postgres() {
    limits("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_tracker_the_page_says_so() {
    let h = harness_with_signing("sqlite").await;
    let r = post(&h.router, "0142307703072025", "1234").await;
    assert_eq!(r.status, 503);
    assert_eq!(marker(&r.body, "data-lacak"), Some("tidak-tersedia"));
    let r = Call::new("GET", "/lacak").send(&h.router).await;
    assert_eq!(r.status, 200);
}

/// Collection (issue 24 item 4): the invitation job's check asks SICANTIK's chain for issued
/// permits with a number at the office; a permit handed over ("Penyerahan Izin" reached)
/// becomes a survey candidate, one that is only ready for collection does not; none is asked
/// twice in a day.
async fn collection(backend: &str) {
    let h = harness_with_signing(backend).await;
    let sim = sim().await;
    let issued: Vec<SimPermit> = sim.permits().into_iter().filter(|p| p.issued).collect();
    let collected = issued
        .iter()
        .find(|p| {
            sim.tracking_chain(&p.pendaftaran_id)
                .is_some_and(|(c, _)| c == "Penyerahan Izin")
        })
        .expect("a collected permit")
        .clone();
    let ready = issued
        .iter()
        .find(|p| {
            sim.tracking_chain(&p.pendaftaran_id)
                .is_some_and(|(c, _)| c == "Izin Selesai, Siap Diambil")
        })
        .expect("a permit ready for collection")
        .clone();
    let rows: Vec<companion_domain::IncomingPermit> = [&collected, &ready]
        .iter()
        .map(|p| companion_domain::IncomingPermit {
            pendaftaran_id: p.pendaftaran_id.clone(),
            status: companion_domain::PermitStatus::Issued,
            applicant_name: p.n_pemohon.clone(),
            permit_type_name: Some(p.type_name().into()),
            permit_number: p.no_surat.clone(),
            flags: Default::default(),
        })
        .collect();
    let plan = companion_domain::plan_page(&rows, &Default::default());
    h.t.db
        .apply_page(&plan, None, &[], &[])
        .await
        .expect("permits");
    let now = chrono::Utc::now();
    for (i, p) in [&collected, &ready].iter().enumerate() {
        h.t.db
            .set_permit_contact(
                &p.pendaftaran_id,
                &format!("+62812000000{i}"),
                "counter",
                None,
                now,
            )
            .await
            .expect("contact");
    }
    let t = tracker(&h, &sim, 10);
    let asked = sim.requests("permohonan2");
    assert_eq!(t.refresh_collections(10).await.expect("refresh"), 1);
    assert_eq!(sim.requests("permohonan2"), asked + 2);
    // Asked today already: not again.
    assert_eq!(t.refresh_collections(10).await.expect("refresh"), 0);
    assert_eq!(sim.requests("permohonan2"), asked + 2);
    let candidates: Vec<String> =
        h.t.db
            .survey_candidates(100)
            .await
            .expect("candidates")
            .into_iter()
            .map(|c| c.pendaftaran_id)
            .collect();
    assert!(candidates.contains(&collected.pendaftaran_id));
    assert!(!candidates.contains(&ready.pendaftaran_id));
    let cache =
        h.t.db
            .tracking_cache(&collected.pendaftaran_id)
            .await
            .expect("cache")
            .expect("row");
    assert!(cache.collected_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_on_sqlite() {
    collection("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_on_postgres() {
    collection("postgres").await;
}

/// `/skm.pdf`: a PDF the server draws, whose text (read by poppler's `pdftotext`) carries the
/// IKM, the grade and every element's NRR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_skm_report_is_a_real_pdf() {
    use companion_db::surveys::SurveyAnswer;
    use companion_domain::survey::Scores;
    let h = harness_with_signing("sqlite").await;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 10).expect("day");
    for s in [[4, 3, 4, 3, 4, 4, 3, 3, 4], [3, 3, 3, 3, 4, 3, 3, 3, 3]] {
        let a = SurveyAnswer {
            scores: Some(Scores::new(s).expect("scores")),
            comment: Some("Pelayanan cepat, terima kasih.".into()),
            ..Default::default()
        };
        h.t.db
            .seed_survey_response(day, Some("IZIN REKLAME"), &a)
            .await
            .expect("seed");
    }
    let (sid, _) = common::session_for(&h.t.db, &h.users[&Role::Staff]).await;
    let r = Call::new("GET", "/skm.pdf?periode=bulan&tahun=2026&bulan=3")
        .cookie(format!("sc_session={sid}"))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/pdf")
    );
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("skm.pdf");
    std::fs::write(&file, &r.bytes).expect("write");
    let out = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed by scripts/test.sh");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    // Sums 7,6,7,6,8,7,6,6,7 of two answers: NRR 3,50 3,00 3,50 3,00 4,00 3,50 3,00 3,00 3,50;
    // mean 29/9 = 3,3333…; IKM 83,33 — grade B.
    for expected in [
        "LAPORAN SURVEI KEPUASAN MASYARAKAT",
        "Maret 2026",
        "IKM = rata-rata NRR x 25 = 83,33",
        "Mutu pelayanan: B",
        "NRR 3,50",
        "NRR 4,00",
        "Rata-rata NRR: 3,33",
        "IZIN REKLAME",
        "Pelayanan cepat",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
}
