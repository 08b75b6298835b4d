//! The seven WhatsApp events as the office planned them (issue 25), walked over simulated weeks
//! with an injected clock through the real signing workflow, document store and router: each
//! message's recipient, count, variables and link — and every link opened over HTTP (200, or the
//! plain "dokumen ini telah dicabut" page). Covers: approval required and the "pending > 24 h"
//! reminder to the officials who must act (every 24 h up to the configured count, on the
//! document's own waiting time, a failed signing attempt not restarting it); status changes
//! (approved / rejected with its reason / signed and published / revoked with its reason) to the
//! submitting staff and the applicant; a SICANTIK status change without a signing case; permit
//! ready after publication and on import; the prompt (hourly) signature notice and the daily
//! digest (quiet hours, a stale digest superseded, none when nothing waits); the renewal notice
//! (validity, download link, the consented number of the renewed permit; the renewal form's
//! check); STOP as people type it and a help text once; office-day counting and limits; the
//! words of a message that failed for good.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use common::{Call, Harness, harness_with_signing, session_for};
use companion_db::testing::execute_raw;
use companion_db::{MessageQuery, WaMessage};
use companion_domain::{IncomingPermit, PermitStatus, Role, plan_page};
use companion_notify::providers::{
    Accepted, FailureKind, OutgoingMessage, Provider, SendError, SendOutcome, WebhookError,
    WebhookEvent, WebhookRequest,
};
use companion_notify::service::PermitReadyTrigger;
use companion_notify::{Clock, ManualClock, Notifier, NotifyConfig};
use companion_web::notices::DocumentLinks;

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

const BASE: &str = "http://127.0.0.1:8080";
const STAFF_PHONE: &str = "+6281100000010";
const OFFICIAL_PHONE: &str = "+6281100000020";
const P1: &str = "0142307703072025"; // seeded: issued, IZIN USAHA TOKO
const P1_PHONE: &str = "+6281211110001";
const P2: &str = "0150300102102025"; // seeded: in process
const P3: &str = "0300000001012026";
const P3_PHONE: &str = "+6281233330003";
const P4: &str = "0400000001012031";
const NOT_ON_WA: &str = "+6281299990000";

/// Records what it sends, at the injected clock's time; numbers ending in 0000 are "not on
/// WhatsApp".
struct Phone {
    clock: Arc<ManualClock>,
    sent: Mutex<Vec<(DateTime<Utc>, OutgoingMessage)>>,
}

// `Provider` is an `async_trait`; written out in the form the macro produces.
impl Provider for Phone {
    fn name(&self) -> &'static str {
        "telepon"
    }
    fn uses_templates(&self) -> bool {
        true
    }
    fn send<'life0, 'life1, 'async_trait>(
        &'life0 self,
        message: &'life1 OutgoingMessage,
    ) -> Boxed<'async_trait, Result<Accepted, SendError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            if message.to.ends_with("0000") {
                return Err(SendError {
                    provider: "telepon",
                    kind: FailureKind::NotOnWhatsApp,
                    code: Some("131026".into()),
                    detail: "recipient not on WhatsApp".into(),
                    outcome: SendOutcome::NotSent,
                });
            }
            let mut sent = self.sent.lock().expect("lock");
            sent.push((self.clock.now(), message.clone()));
            Ok(Accepted {
                provider_id: format!("t-{}", sent.len()),
            })
        })
    }
    fn verify_webhook(&self, _: &WebhookRequest<'_>) -> Result<(), WebhookError> {
        Ok(())
    }
    fn parse_webhook(&self, _: &WebhookRequest<'_>) -> Result<Vec<WebhookEvent>, WebhookError> {
        Ok(Vec::new())
    }
}

struct World {
    h: Harness,
    clock: Arc<ManualClock>,
    phone: Arc<Phone>,
    /// Permit ready on publication (the default).
    n: Notifier,
    /// Permit ready on import.
    import: Notifier,
    /// How many sent messages were looked at already.
    seen: usize,
}

impl World {
    /// Plans events, runs the schedules and dispatches everything due.
    async fn tick(&self) {
        self.n.plan().await.expect("plan");
        self.n.run_schedules().await.expect("schedules");
        for _ in 0..20 {
            if self.n.dispatch_once().await.expect("dispatch").claimed == 0 {
                break;
            }
        }
    }

    fn at(&self, t: DateTime<Utc>) {
        self.clock.set(t);
    }

    /// Messages sent since the last call.
    fn new_messages(&mut self) -> Vec<(DateTime<Utc>, OutgoingMessage)> {
        let all = self.phone.sent.lock().expect("lock").clone();
        let out = all[self.seen..].to_vec();
        self.seen = all.len();
        out
    }

    async fn step(&self, case: i64, role: Role, body: serde_json::Value) -> serde_json::Value {
        let r = Call::new("POST", &format!("/api/v1/signing/cases/{case}/steps"))
            .bearer(&self.h.tokens[&role])
            .json(body)
            .send(&self.h.router)
            .await;
        assert!(r.status.is_success(), "{}", r.body);
        r.json()
    }

    /// Staff upload a letter for `permit` and submit it: the case id.
    async fn submit(&self, permit: &str, number: &str) -> i64 {
        let doc = self.upload(permit, number).await;
        let r = Call::new("POST", "/api/v1/signing/cases")
            .bearer(&self.h.tokens[&Role::Staff])
            .json(serde_json::json!({"document_id": doc}))
            .send(&self.h.router)
            .await;
        let id = r.json()["id"].as_i64().expect("case");
        // Submitted now on the simulated clock (the workflow wrote the real time).
        case_times(&self.h, id, "submitted_at", self.clock.now()).await;
        id
    }

    async fn upload(&self, permit: &str, number: &str) -> i64 {
        let mut letter = companion_pdf::letter::PermitLetter::example();
        letter.permit_number = number.to_string();
        let up = Call::new("POST", &format!("/api/v1/permits/{permit}/documents"))
            .bearer(&self.h.tokens[&Role::Staff])
            .files(vec![(
                format!("{permit}.pdf"),
                companion_pdf::letter::render(&letter, 0),
            )])
            .send(&self.h.router)
            .await;
        up.json()["files"][0]["document"]["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("upload: {}", up.body))
    }

    /// Opens a message's link over HTTP as `role` (None: the applicant, no account): status and
    /// body.
    async fn open(&self, link: &str, role: Option<Role>) -> (u16, String) {
        let path = link
            .strip_prefix(BASE)
            .unwrap_or_else(|| panic!("a link of ours: {link}"));
        let mut call = Call::new("GET", path);
        if let Some(role) = role {
            let (sid, _) = session_for(&self.h.t.db, &self.h.users[&role]).await;
            call = call.cookie(format!("sc_session={sid}"));
        }
        let r = call.send(&self.h.router).await;
        (r.status.as_u16(), r.body)
    }

    async fn messages(&self, event: &str) -> Vec<WaMessage> {
        self.h
            .t
            .db
            .list_messages(&MessageQuery {
                event: Some(event.into()),
                limit: 500,
                ..Default::default()
            })
            .await
            .expect("list")
    }
}

/// The one link in a text.
fn link_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("http"))
        .map(|w| w.trim_end_matches(['.', ',', ')']).to_string())
        .unwrap_or_else(|| panic!("no link in {text:?}"))
}

fn to<'a>(
    msgs: &'a [(DateTime<Utc>, OutgoingMessage)],
    phone: &str,
) -> Vec<&'a (DateTime<Utc>, OutgoingMessage)> {
    msgs.iter().filter(|(_, m)| m.to == phone).collect()
}

fn text(m: &(DateTime<Utc>, OutgoingMessage)) -> String {
    m.1.content.text().to_string()
}

async fn add_permit(h: &Harness, id: &str, holder: &str, kind: &str, number: Option<&str>) {
    let rows = vec![IncomingPermit {
        pendaftaran_id: id.into(),
        status: PermitStatus::InProcess,
        applicant_name: Some(holder.into()),
        permit_type_name: Some(kind.into()),
        permit_number: number.map(str::to_string),
        flags: Default::default(),
    }];
    let plan = plan_page(&rows, &Default::default());
    h.t.db
        .apply_page(&plan, None, &[], &[])
        .await
        .expect("permit");
}

/// SICANTIK issues a permit (the sync's status change and its domain event).
async fn issue(h: &Harness, id: &str, holder: &str, kind: &str, number: &str) {
    let current = h.t.db.get_permit(id).await.expect("get").expect("permit");
    let mut known = std::collections::HashMap::new();
    known.insert(
        id.to_string(),
        companion_domain::StoredPermit {
            pendaftaran_id: id.to_string(),
            status: current.status,
            applicant_name: current.applicant_name.clone(),
            permit_type_name: current.permit_type_name.clone(),
            permit_number: current.permit_number.clone(),
            flags: current.flags.clone(),
        },
    );
    let rows = vec![IncomingPermit {
        pendaftaran_id: id.into(),
        status: PermitStatus::Issued,
        applicant_name: Some(holder.into()),
        permit_type_name: Some(kind.into()),
        permit_number: Some(number.into()),
        flags: Default::default(),
    }];
    let plan = plan_page(&rows, &known);
    h.t.db
        .apply_page(&plan, None, &[], &[])
        .await
        .expect("issue");
}

async fn dates(h: &Harness, id: &str, issued: &str, expires: &str) {
    execute_raw(
        &h.t.db,
        &format!(
            "UPDATE permits SET issue_date = '{issued}', expiry_date = '{expires}' WHERE pendaftaran_id = '{id}'"
        ),
    )
    .await
    .expect("dates");
}

/// A timestamp as both backends store it (sqlx writes RFC 3339 on SQLite).
fn sql_time(at: DateTime<Utc>) -> String {
    format!(
        "'{}'",
        at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
    )
}

/// Moves a case's own timestamps to the simulated time (the workflow writes the real time).
async fn case_times(h: &Harness, case: i64, column: &str, at: DateTime<Utc>) {
    let v = sql_time(at);
    execute_raw(
        &h.t.db,
        &format!("UPDATE signing_cases SET {column} = {v}, updated_at = {v} WHERE id = {case}"),
    )
    .await
    .expect("case time");
}

/// Moves a permit's documents' import time to the simulated time.
async fn import_time(h: &Harness, permit: &str, at: DateTime<Utc>) {
    execute_raw(
        &h.t.db,
        &format!(
            "UPDATE documents SET created_at = {} WHERE pendaftaran_id = '{permit}'",
            sql_time(at)
        ),
    )
    .await
    .expect("import time");
}

async fn consent(h: &Harness, permit: &str, phone: &str, at: DateTime<Utc>) {
    h.t.db
        .set_permit_contact(permit, phone, "staff", Some("uji.staff"), at)
        .await
        .expect("contact");
    h.t.db
        .record_consent(phone, "opt_in", "loket", Some("uji.staff"), at)
        .await
        .expect("consent");
}

fn office(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&chrono_tz::Asia::Jakarta).date_naive()
}

companion_db::on_both_backends!(seven_events_over_simulated_weeks);

async fn seven_events_over_simulated_weeks(backend: &str) {
    let h = harness_with_signing(backend).await;
    // Monday 08:00 WIB on the day after tomorrow (the workflow's own timestamps are real time;
    // those the test depends on are moved to the simulated time).
    let tomorrow = (Utc::now() + Duration::days(2)).date_naive();
    let t0 = Utc
        .from_utc_datetime(&tomorrow.and_hms_opt(1, 0, 0).expect("time"))
        .with_timezone(&Utc);
    let clock = Arc::new(ManualClock::new(t0));
    let phone = Arc::new(Phone {
        clock: clock.clone(),
        sent: Mutex::default(),
    });
    let config = NotifyConfig {
        public_base_url: BASE.into(),
        renewal_url: format!("{BASE}/bantuan"),
        per_minute: 0,
        per_day: 0,
        pending_reminders: 2,
        ..Default::default()
    };
    let links = Arc::new(DocumentLinks::new(h.documents.clone(), BASE));
    let n = Notifier::new(h.t.db.clone(), phone.clone(), config.clone(), clock.clone())
        .with_links(links.clone());
    let import = Notifier::new(
        h.t.db.clone(),
        phone.clone(),
        NotifyConfig {
            permit_ready_on: PermitReadyTrigger::Import,
            ..config.clone()
        },
        clock.clone(),
    )
    .with_links(links);
    for (role, number) in [(Role::Staff, STAFF_PHONE), (Role::Official, OFFICIAL_PHONE)] {
        h.t.db
            .set_user_phone(h.users[&role].id, Some(number))
            .await
            .expect("phone");
    }
    dates(&h, P1, "2026-01-05", "2036-01-05").await;
    consent(&h, P1, P1_PHONE, t0).await;
    let mut w = World {
        h,
        clock,
        phone,
        n,
        import,
        seen: 0,
    };
    w.tick().await;
    w.new_messages();

    // --- Day 0, 08:00: staff submit P1's letter → event 3 to the official, with its link.
    let case1 = w.submit(P1, "503/0112/IUT/DPM-PTSP/2024").await;
    case_times(&w.h, case1, "submitted_at", t0).await;
    w.tick().await;
    let m = w.new_messages();
    assert_eq!(m.len(), 1, "{m:#?}");
    assert_eq!(m[0].1.to, OFFICIAL_PHONE);
    let t = text(&m[0]);
    assert!(
        t.contains("menunggu persetujuan") && t.contains("IZIN USAHA TOKO"),
        "{t}"
    );
    let link = link_in(&t);
    assert_eq!(link, format!("{BASE}/izin/{P1}"));
    assert_eq!(w.open(&link, Some(Role::Official)).await.0, 200);

    // --- Pending for approval: reminded to the official (not the submitting staff) after 24 h
    // and again after 48 h, then no more (WHATSAPP_PENDING_REMINDERS = 2); hourly runs between.
    let mut reminders = Vec::new();
    for hour in 1..=80 {
        w.at(t0 + Duration::hours(hour));
        w.tick().await;
        reminders.extend(w.new_messages());
    }
    assert_eq!(reminders.len(), 2, "{reminders:#?}");
    assert!(reminders.iter().all(|r| r.1.to == OFFICIAL_PHONE));
    assert!(
        text(&reminders[0]).contains("24 jam menunggu persetujuan"),
        "{}",
        text(&reminders[0])
    );
    assert!(text(&reminders[1]).contains("48 jam menunggu persetujuan"));
    assert_eq!(reminders[0].0, t0 + Duration::hours(24));
    assert_eq!(reminders[1].0, t0 + Duration::hours(48));
    let r_link = link_in(&text(&reminders[0]));
    assert_eq!(w.open(&r_link, Some(Role::Official)).await.0, 200);

    // Office time: day `d` (day 0 is t0's office date) at hh:mm WIB.
    let wib = |d: i64, h: i64, m: i64| {
        t0 + Duration::days(d) + Duration::hours(h - 8) + Duration::minutes(m)
    };

    // --- Day 4, 09:00: approved → the submitting staff hears it (event 4); the letter now
    // waits for signature → the prompt notice (event 2) at once, and — 09:00 is past the
    // digest's 08:00 and nothing was sent today — day 4's digest.
    let day4 = wib(4, 9, 0);
    w.at(day4);
    w.step(
        case1,
        Role::Official,
        serde_json::json!({"action": "approve"}),
    )
    .await;
    case_times(&w.h, case1, "decided_at", day4).await;
    w.tick().await;
    let m = w.new_messages();
    let staff = to(&m, STAFF_PHONE);
    assert_eq!(staff.len(), 3, "approval, signature notice, digest: {m:#?}");
    let approved = staff
        .iter()
        .find(|x| text(x).contains("disetujui pejabat"))
        .expect("approved status");
    let t = text(approved);
    assert!(
        t.contains("menunggu persetujuan → disetujui pejabat"),
        "{t}"
    );
    assert!(t.contains(P1) && t.contains("WIB"), "{t}");
    assert_eq!(w.open(&link_in(&t), Some(Role::Staff)).await.0, 200);
    let notice = staff
        .iter()
        .find(|x| text(x).contains("menunggu tanda tangan elektronik"))
        .expect("signature notice");
    let t = text(notice);
    assert!(
        t.contains("ada 1 dokumen") && t.contains(&format!("No: {P1}")),
        "{t}"
    );
    assert_eq!(w.open(&link_in(&t), Some(Role::Staff)).await.0, 200);
    // Submitted 20 minutes later: the official is asked; no second signature notice.
    w.at(day4 + Duration::minutes(20));
    let p2_case = w.submit(P2, "503/0200/X/2026").await;
    w.tick().await;
    let m = w.new_messages();
    assert!(to(&m, STAFF_PHONE).is_empty(), "{m:#?}");
    assert_eq!(to(&m, OFFICIAL_PHONE).len(), 1, "P2 approval required");
    // Rejected with a reason: the submitting staff gets the reason.
    w.step(
        p2_case,
        Role::Official,
        serde_json::json!({"action": "reject", "reason": "Nomor surat salah"}),
    )
    .await;
    w.tick().await;
    let m = w.new_messages();
    assert_eq!(m.len(), 1, "{m:#?}");
    let t = text(&m[0]);
    assert_eq!(m[0].1.to, STAFF_PHONE);
    assert!(
        t.contains("ditolak pejabat") && t.contains("Keterangan: Nomor surat salah"),
        "{t}"
    );

    // --- Days 5–7, hourly: a failed signing attempt (day 4, 20:00) does not restart the
    // clock; the "waiting for signature" reminder goes to the approving official 24 h and
    // 48 h after the approval. The digest: day 5 at 08:00; on day 6 the server is down until
    // 22:00 (quiet hours: no digest that day) and day 5's digest still queued (a limit held
    // it) is superseded, not sent; day 7 at 08:00.
    let mut later = Vec::new();
    for hour in 1..=14 {
        w.at(day4 + Duration::hours(hour));
        if hour == 11 {
            w.h.t
                .db
                .set_signing_error(case1, Some("BSrE tidak tersedia"))
                .await
                .expect("error");
        }
        w.tick().await;
        later.extend(w.new_messages());
    }
    for hour in 15..=30 {
        w.at(day4 + Duration::hours(hour));
        w.tick().await;
        later.extend(w.new_messages());
    }
    let stale = companion_db::NewMessage {
        dedup_key: "digest:stale".into(),
        event: "awaiting_signature".into(),
        subject_id: Some(format!("digest:{}", office(wib(5, 8, 0)))),
        audience: "staff".into(),
        phone: STAFF_PHONE.into(),
        language: "id".into(),
        template: "izin_menunggu_tte".into(),
        parameters: "[]".into(),
        body: "ringkasan kemarin".into(),
        state: "queued".into(),
        failure_detail: None,
        next_attempt_at: wib(5, 23, 0),
    };
    w.h.t.db.enqueue_messages(&[stale]).await.expect("stale");
    w.at(wib(6, 22, 0));
    w.tick().await;
    later.extend(w.new_messages());
    for (h, m) in [(7, 0), (7, 30), (8, 0)] {
        w.at(wib(7, h, m));
        w.tick().await;
        later.extend(w.new_messages());
    }
    let sign_reminders: Vec<_> = later
        .iter()
        .filter(|x| text(x).contains("jam menunggu tanda tangan"))
        .collect();
    assert_eq!(sign_reminders.len(), 2, "{later:#?}");
    assert!(sign_reminders.iter().all(|x| x.1.to == OFFICIAL_PHONE));
    assert_eq!(sign_reminders[0].0, wib(5, 9, 0), "24 h after the approval");
    assert!(
        text(sign_reminders[0]).contains("sudah 24 jam"),
        "{}",
        text(sign_reminders[0])
    );
    // The second (48 h) fell due at 22:00 on day 6, in quiet hours: sent when they ended.
    assert_eq!(sign_reminders[1].0, wib(7, 7, 0));
    let digests: Vec<(String, String)> = w
        .messages("awaiting_signature")
        .await
        .into_iter()
        .filter(|m| {
            m.subject_id
                .as_deref()
                .is_some_and(|s| s.starts_with("digest:"))
        })
        .map(|m| (m.subject_id.unwrap_or_default(), m.state))
        .collect();
    let day = |d: i64| format!("digest:{}", office(wib(d, 8, 0)));
    assert!(digests.contains(&(day(4), "sent".into())), "{digests:?}");
    assert!(digests.contains(&(day(5), "sent".into())), "{digests:?}");
    assert!(
        digests.contains(&(day(5), "skipped".into())),
        "the stale one: {digests:?}"
    );
    assert!(
        !digests.iter().any(|(s, _)| *s == day(6)),
        "none in quiet hours: {digests:?}"
    );
    assert!(digests.contains(&(day(7), "sent".into())), "{digests:?}");
    let sent_digests: Vec<_> = later
        .iter()
        .filter(|x| text(x).contains("ada 1 dokumen izin menunggu"))
        .collect();
    assert_eq!(sent_digests.len(), 2, "days 5 and 7: {later:#?}");
    assert_eq!(sent_digests[0].0, wib(5, 8, 0));
    assert_eq!(sent_digests[1].0, wib(7, 8, 0));
    assert!(
        later
            .iter()
            .all(|x| x.0 != wib(6, 22, 0) || x.1.to != STAFF_PHONE)
    );

    // --- Day 7, 09:00: signed and published → the staff hears it; the applicant gets
    // "permit ready" (event 1) with the signed letter's link, which serves the PDF.
    w.at(wib(7, 9, 0));
    w.step(case1, Role::Official, serde_json::json!({"action": "sign"}))
        .await;
    w.tick().await;
    let m = w.new_messages();
    let staff = to(&m, STAFF_PHONE);
    assert_eq!(staff.len(), 1, "{m:#?}");
    assert!(
        text(staff[0]).contains("ditandatangani oleh"),
        "{}",
        text(staff[0])
    );
    let ready = to(&m, P1_PHONE);
    assert_eq!(ready.len(), 1, "{m:#?}");
    let t = text(ready[0]);
    assert!(
        t.contains("telah selesai diproses") && t.contains("05-01-2026"),
        "{t}"
    );
    let download = link_in(&t);
    assert!(download.ends_with("/unduh"), "{download}");
    let (status, _) = w.open(&download, None).await;
    assert_eq!(status, 200);
    // Nothing waits for signature any more: no digest the next morning.
    w.at(wib(8, 8, 0));
    w.tick().await;
    assert!(w.new_messages().is_empty());

    // --- Day 14: revoked with a reason → the staff and the applicant, whose old link now
    // answers "dokumen ini telah dicabut" (410, not 404).
    let day14 = t0 + Duration::days(14) + Duration::hours(2);
    w.at(day14);
    w.step(
        case1,
        Role::Official,
        serde_json::json!({"action": "revoke", "reason": "Data pemohon keliru"}),
    )
    .await;
    w.tick().await;
    let m = w.new_messages();
    assert_eq!(m.len(), 2, "{m:#?}");
    for who in [STAFF_PHONE, P1_PHONE] {
        let x = to(&m, who);
        assert_eq!(x.len(), 1, "{who}: {m:#?}");
        let t = text(x[0]);
        assert!(
            t.contains("→ dicabut") && t.contains("Data pemohon keliru"),
            "{t}"
        );
    }
    let t = text(to(&m, P1_PHONE)[0]);
    assert_eq!(link_in(&t), download);
    let (status, body) = w.open(&download, None).await;
    assert_eq!(status, 410);
    assert!(body.contains("Dokumen ini telah dicabut") && body.contains("Data pemohon keliru"));

    // --- A SICANTIK status change without a signing case reaches the staff (and the
    // applicant with consent); with import as the trigger, the imported letter of the issued
    // permit is announced (event 1) with an applicant link that serves it.
    add_permit(&w.h, P3, "Rina Sembiring", "IZIN REKLAME", None).await;
    consent(&w.h, P3, P3_PHONE, day14).await;
    w.tick().await;
    w.new_messages();
    let day15 = day14 + Duration::days(1);
    w.at(day15);
    dates(&w.h, P3, "2026-01-10", "2036-01-10").await;
    issue(
        &w.h,
        P3,
        "Rina Sembiring",
        "IZIN REKLAME",
        "503/0300/REK/2026",
    )
    .await;
    w.tick().await;
    let m = w.new_messages();
    assert_eq!(m.len(), 2, "{m:#?}");
    let s = text(to(&m, STAFF_PHONE)[0]);
    assert!(
        s.contains("sedang diproses → izin telah terbit") && s.contains(P3),
        "{s}"
    );
    assert_eq!(w.open(&link_in(&s), Some(Role::Staff)).await.0, 200);
    let a = text(to(&m, P3_PHONE)[0]);
    assert!(a.contains("izin telah terbit"), "{a}");
    // No letter in the companion yet: the applicant's own signed tracking link, naming P3.
    let track = link_in(&a);
    let token = track
        .strip_prefix(&format!("{BASE}/lacak/"))
        .unwrap_or_else(|| panic!("a tracking link: {track}"));
    assert_eq!(w.h.documents.open_tracking_token(token).as_deref(), Ok(P3));
    w.upload(P3, "503/0300/REK/2026").await;
    import_time(&w.h, P3, day15).await;
    // Publication stays the default trigger: nothing for the import there.
    w.tick().await;
    assert!(w.new_messages().is_empty());
    assert_eq!(w.import.permit_ready_on_import().await.expect("import"), 1);
    w.tick().await;
    let m = w.new_messages();
    assert_eq!(m.len(), 1, "{m:#?}");
    assert_eq!(m[0].1.to, P3_PHONE);
    let t = text(&m[0]);
    assert!(
        t.contains("503/0300/REK/2026") && t.contains("10-01-2026"),
        "{t}"
    );
    let scan = link_in(&t);
    assert!(scan.contains("/unduh/"), "{scan}");
    let (status, body) = w.open(&scan, None).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("%PDF"));
    // Once only.
    w.at(day15 + Duration::hours(3));
    assert_eq!(w.import.permit_ready_on_import().await.expect("import"), 0);

    // --- Renewal (event 7): P4 renews P3 (newer, same holder and type). P4 has only
    // SICANTIK's free-text number (no consent): the notice goes to P3's consented number once
    // P4's letter is published, with the validity and the download link.
    add_permit(&w.h, P4, "RINA  SEMBIRING", "Izin Reklame", None).await;
    execute_raw(
        &w.h.t.db,
        &format!(
            "UPDATE permits SET applicant_phone = '0812 4444 0004' WHERE pendaftaran_id = '{P4}'"
        ),
    )
    .await
    .expect("phone");
    dates(&w.h, P4, "2032-01-01", "2036-12-31").await;
    issue(
        &w.h,
        P4,
        "RINA  SEMBIRING",
        "Izin Reklame",
        "503/0400/REK/2031",
    )
    .await;
    let (sid, csrf) = session_for(&w.h.t.db, &w.h.users[&Role::Staff]).await;
    let form = |pairs: &[(&str, &str)]| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("csrf", &csrf);
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        s.finish()
    };
    // The older permit as the "renewal" of the newer one is refused without a reason.
    let r = Call::new("POST", "/pesan/perpanjangan/konfirmasi")
        .cookie(format!("sc_session={sid}"))
        .form(form(&[("baru", P3), ("lama", P4)]))
        .send(&w.h.router)
        .await;
    assert!(
        r.location().contains("tidak+tampak") || r.location().contains("tidak%20tampak"),
        "{}",
        r.location()
    );
    assert!(
        w.h.t
            .db
            .list_renewals(Some("confirmed"))
            .await
            .expect("r")
            .is_empty()
    );
    let r = Call::new("POST", "/pesan/perpanjangan/konfirmasi")
        .cookie(format!("sc_session={sid}"))
        .form(form(&[("baru", P4), ("lama", P3)]))
        .send(&w.h.router)
        .await;
    assert!(r.location().contains("dikonfirmasi"), "{}", r.location());
    w.tick().await;
    let m = w.new_messages();
    assert!(
        m.iter()
            .all(|x| !text(x).contains("Perpanjangan") && !text(x).contains("perpanjangan")),
        "no notice before the new letter is there: {m:#?}"
    );
    let case4 = w.submit(P4, "503/0400/REK/2031").await;
    w.step(
        case4,
        Role::Official,
        serde_json::json!({"action": "approve"}),
    )
    .await;
    w.step(case4, Role::Official, serde_json::json!({"action": "sign"}))
        .await;
    w.tick().await;
    let m = w.new_messages();
    let renewal: Vec<_> = m
        .iter()
        .filter(|x| text(x).contains("perpanjangan izin"))
        .collect();
    assert_eq!(renewal.len(), 1, "{m:#?}");
    assert_eq!(
        renewal[0].1.to, P3_PHONE,
        "the renewed permit's consented number"
    );
    let t = text(renewal[0]);
    for part in [
        "503/0400/REK/2031",
        "01-01-2032 s/d 31-12-2036",
        "masa berlaku 5 tahun",
        "503/0300/REK/2026",
    ] {
        assert!(t.contains(part), "{part}: {t}");
    }
    let l = link_in(&t);
    assert!(l.ends_with("/unduh"), "{l}");
    assert_eq!(w.open(&l, None).await.0, 200);
    // P4's own "permit ready" waited for consent at SICANTIK's number: kept as skipped.
    let ready = w.messages("permit_ready").await;
    assert!(
        ready
            .iter()
            .any(|m| m.subject_id.as_deref() == Some(P4) && m.state == "skipped"),
        "{ready:#?}"
    );
    assert!(m.iter().all(|x| x.1.to != "+6281244440004"));
    w.tick().await;
    assert!(w.new_messages().is_empty(), "the renewal notice once");

    // --- STOP as people type it; an unknown command gets a short help once.
    let inbound = |text: &str, id: &str| WebhookEvent::Inbound {
        from: P3_PHONE.into(),
        text: text.into(),
        provider_message_id: id.into(),
        at: None,
    };
    w.n.handle_webhook(vec![inbound("halo, apa kabar?", "in-1")])
        .await
        .expect("inbound");
    w.n.handle_webhook(vec![inbound("bagaimana cara daftar", "in-2")])
        .await
        .expect("inbound");
    w.tick().await;
    let m = w.new_messages();
    assert_eq!(m.len(), 1, "help once: {m:#?}");
    assert!(text(&m[0]).contains("DAFTAR <nomor pendaftaran>"));
    w.n.handle_webhook(vec![inbound("  Stop. ", "in-3")])
        .await
        .expect("stop");
    let c =
        w.h.t
            .db
            .contact(P3_PHONE)
            .await
            .expect("c")
            .expect("contact");
    assert!(!c.may_receive(), "\"Stop.\" opts out");
    w.tick().await;
    let m = w.new_messages();
    assert_eq!(m.len(), 1);
    assert!(text(&m[0]).contains("tidak akan menerima pesan lagi"));

    // --- Office days: the per-day limit counts the office's calendar day (not a rolling 24 h),
    // and so does /pesan's per-day table.
    let limited = Notifier::new(
        w.h.t.db.clone(),
        w.phone.clone(),
        NotifyConfig {
            per_day: 1,
            per_minute: 0,
            ..config.clone()
        },
        w.clock.clone(),
    );
    // 22:30 WIB one message (the day's only one), 23:30 the next waits for the limit; at 00:05
    // the next office day it goes (a rolling 24 h would hold it until 22:30).
    let late = wib(45, 23, 30);
    let staffmsg = |key: &str, at: DateTime<Utc>| companion_db::NewMessage {
        dedup_key: key.into(),
        event: "approval_required".into(),
        subject_id: Some(P1.into()),
        audience: "official".into(),
        phone: OFFICIAL_PHONE.into(),
        language: "id".into(),
        template: "izin_perlu_persetujuan".into(),
        parameters: "[]".into(),
        body: format!("pesan {key}"),
        state: "queued".into(),
        failure_detail: None,
        next_attempt_at: at,
    };
    w.at(late - Duration::hours(1));
    w.h.t
        .db
        .enqueue_messages(&[staffmsg("d1", late - Duration::hours(1))])
        .await
        .expect("q");
    assert_eq!(limited.dispatch_once().await.expect("d").sent, 1);
    w.at(late);
    w.h.t
        .db
        .enqueue_messages(&[staffmsg("d2", late)])
        .await
        .expect("q");
    assert_eq!(
        limited.dispatch_once().await.expect("d").claimed,
        0,
        "the day's limit"
    );
    let midnight = late + Duration::minutes(35); // 00:05 WIB, 17:05 UTC the day before
    w.at(midnight);
    assert_eq!(
        limited.dispatch_once().await.expect("d").sent,
        1,
        "a new office day"
    );
    // /pesan's per-day figures: a message made at 00:05 WIB counts on that office day,
    // not on its UTC date.
    w.h.t
        .db
        .enqueue_messages(&[staffmsg("d3", midnight)])
        .await
        .expect("q");
    let days =
        w.h.t
            .db
            .message_days(late - Duration::days(2), office)
            .await
            .expect("days");
    assert_ne!(office(midnight), midnight.date_naive());
    let on = |d: NaiveDate| {
        days.iter()
            .filter(|x| x.day == d.format("%Y-%m-%d").to_string() && x.event == "approval_required")
            .map(|x| x.messages)
            .sum::<i64>()
    };
    assert_eq!(on(office(late)), 2, "d1, d2: {days:#?}");
    assert_eq!(on(office(midnight)), 1, "d3: {days:#?}");
    let page = Call::new("GET", "/pesan")
        .cookie(format!("sc_session={sid}"))
        .send(&w.h.router)
        .await;
    assert_eq!(page.status, 200);
    w.tick().await;
    w.new_messages();

    // --- A message that failed for good says it will not be tried again, and why.
    w.h.t
        .db
        .enqueue_messages(&[companion_db::NewMessage {
            phone: NOT_ON_WA.into(),
            ..staffmsg("gagal", midnight + Duration::hours(1))
        }])
        .await
        .expect("q");
    w.at(midnight + Duration::hours(1));
    w.tick().await;
    let failed = w.messages("approval_required").await;
    let f = failed
        .iter()
        .find(|m| m.dedup_key == "gagal")
        .expect("failed");
    assert_eq!(f.state, "failed");
    let why = f.failure_detail.as_deref().unwrap_or("");
    assert!(
        why.contains("Tidak akan dicoba lagi") && !why.contains("nanti"),
        "{why}"
    );

    // Every message had one recipient and one send: nothing sent twice.
    let all = w.phone.sent.lock().expect("lock").clone();
    let mut refs: Vec<&str> = all.iter().map(|(_, m)| m.reference.as_str()).collect();
    refs.sort();
    let total = refs.len();
    refs.dedup();
    assert_eq!(refs.len(), total, "a message sent twice");
    w.h.t.cleanup().await.expect("cleanup");
}
