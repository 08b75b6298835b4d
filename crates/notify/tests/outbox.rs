//! The outbox end to end on both databases, with an injected clock and a recording provider:
//! reminders over a simulated year, rate limits, retries and backoff, uncertain sends settled by
//! receipts, receipts that come late/twice/out of order, consent by DAFTAR and STOP, and the
//! planner turning each domain event into messages exactly once.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Timelike, Utc};
use companion_db::testing::{TestDb, execute_raw};
use companion_db::{Database, MessageQuery};
use companion_notify::providers::{
    Accepted, DeliveryStatus, FailureKind, OutgoingMessage, Provider, SendError, SendOutcome,
    WebhookError, WebhookEvent, WebhookRequest,
};
use companion_notify::service::reference;
use companion_notify::{ManualClock, Notifier, NotifyConfig};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Accept,
    Fail(FailureKind),
    Timeout,
}

struct Fake {
    clock: Arc<ManualClock>,
    sent: Mutex<Vec<(DateTime<Utc>, OutgoingMessage)>>,
    mode: Mutex<Mode>,
    calls: Mutex<u32>,
}

impl Fake {
    fn new(clock: Arc<ManualClock>) -> Arc<Self> {
        Arc::new(Fake {
            clock,
            sent: Mutex::default(),
            mode: Mutex::new(Mode::Accept),
            calls: Mutex::new(0),
        })
    }
    fn set(&self, m: Mode) {
        *self.mode.lock().expect("mode") = m;
    }
    fn sent(&self) -> Vec<(DateTime<Utc>, OutgoingMessage)> {
        self.sent.lock().expect("sent").clone()
    }
    fn calls(&self) -> u32 {
        *self.calls.lock().expect("calls")
    }
}

#[async_trait]
impl Provider for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn uses_templates(&self) -> bool {
        true
    }
    async fn send(&self, m: &OutgoingMessage) -> Result<Accepted, SendError> {
        *self.calls.lock().expect("calls") += 1;
        let mode = *self.mode.lock().expect("mode");
        let err = |kind, outcome| SendError {
            provider: "fake",
            kind,
            code: Some("x".into()),
            detail: "fake says no".into(),
            outcome,
        };
        match mode {
            Mode::Accept => {
                let mut sent = self.sent.lock().expect("sent");
                sent.push((self.clock.now_for_tests(), m.clone()));
                Ok(Accepted {
                    provider_id: format!("fake-{}", sent.len()),
                })
            }
            Mode::Fail(kind) => Err(err(kind, SendOutcome::NotSent)),
            Mode::Timeout => {
                // Taken by the provider, but the answer never came back.
                self.sent
                    .lock()
                    .expect("sent")
                    .push((self.clock.now_for_tests(), m.clone()));
                Err(err(FailureKind::Timeout, SendOutcome::Unknown))
            }
        }
    }
    fn verify_webhook(&self, _: &WebhookRequest<'_>) -> Result<(), WebhookError> {
        Ok(())
    }
    fn parse_webhook(&self, _: &WebhookRequest<'_>) -> Result<Vec<WebhookEvent>, WebhookError> {
        Ok(Vec::new())
    }
}

trait NowForTests {
    fn now_for_tests(&self) -> DateTime<Utc>;
}
impl NowForTests for ManualClock {
    fn now_for_tests(&self) -> DateTime<Utc> {
        companion_notify::Clock::now(self)
    }
}

fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .expect("time")
}

struct Setup {
    t: TestDb,
    clock: Arc<ManualClock>,
    fake: Arc<Fake>,
    notifier: Notifier,
}

async fn setup(backend: &str, start: DateTime<Utc>, config: NotifyConfig) -> Setup {
    let t = TestDb::new(backend).await.expect("db");
    let clock = Arc::new(ManualClock::new(start));
    let fake = Fake::new(clock.clone());
    let notifier = Notifier::new(t.db.clone(), fake.clone(), config, clock.clone());
    Setup {
        t,
        clock,
        fake,
        notifier,
    }
}

async fn permit(db: &Database, id: &str, number: &str, expiry: NaiveDate, phone: Option<&str>) {
    let phone = phone
        .map(|p| format!("'{p}'"))
        .unwrap_or_else(|| "NULL".into());
    execute_raw(
        db,
        &format!(
            "INSERT INTO permits (pendaftaran_id, status, applicant_name, permit_type_name, permit_number, \
             issue_date, expiry_date, applicant_phone, first_seen_at, updated_at) VALUES ('{id}', 'issued', \
             'Pemohon {id}', 'Izin Usaha', '{number}', '2020-01-01', '{expiry}', {phone}, \
             '2026-01-05T00:00:00Z', '2026-01-05T00:00:00Z')"
        ),
    )
    .await
    .expect("permit");
}

/// A published signing case (with its original letter) for a permit, written directly.
async fn published_letter(db: &Database, id: &str) {
    execute_raw(
        db,
        &format!(
            "INSERT INTO documents (pendaftaran_id, kind, version, storage_key, sha256, size_bytes, pages, \
             content_type, source, created_by, created_at) VALUES ('{id}', 'original', 1, 'k/{id}', 'sha-{id}', \
             1, 1, 'application/pdf', 'test', 'test', '2027-01-01T00:00:00Z')"
        ),
    )
    .await
    .expect("document");
    execute_raw(
        db,
        &format!(
            "INSERT INTO signing_cases (pendaftaran_id, original_document_id, state, verification_id, updated_at) \
             VALUES ('{id}', (SELECT id FROM documents WHERE pendaftaran_id = '{id}'), 'published', 'V{id}', \
             '2027-01-01T00:00:00Z')"
        ),
    )
    .await
    .expect("case");
}

async fn dispatch_all(n: &Notifier) {
    for _ in 0..50 {
        let r = n.dispatch_once().await.expect("dispatch");
        if r.claimed == 0 {
            return;
        }
    }
}

companion_db::on_both_backends!(
    reminders_over_a_simulated_year,
    rate_limits_hold_per_minute_and_per_day,
    retries_back_off_and_uncertain_sends_are_reconciled,
    receipts_only_move_forward,
    daftar_opts_in_and_stop_opts_out_at_once,
    daftar_from_another_number_waits_for_a_person,
    each_event_is_planned_once,
);

/// Day by day over a year, schedules and the dispatcher run three times a day (one of them in
/// quiet hours): each opted-in permit gets its 90, 60 and 30-day reminder exactly once, none
/// after expiry or renewal, none in quiet hours, none without opt-in.
async fn reminders_over_a_simulated_year(backend: &str) {
    let config = NotifyConfig {
        per_minute: 0,
        per_day: 0,
        ..NotifyConfig::default()
    };
    let start = utc(2027, 1, 1, 0);
    let s = setup(backend, start, config).await;
    let db = &s.t.db;
    let d = |days: i64| (start + Duration::days(days)).date_naive();
    // (id, expiry, phone, consent)
    permit(db, "P-FULL", "503/1/2027", d(200), Some("0812 1111 0001")).await;
    permit(db, "P-LATE", "503/2/2027", d(45), Some("0812-1111-0002")).await;
    permit(
        db,
        "P-NOCONSENT",
        "503/3/2027",
        d(120),
        Some("081211110003"),
    )
    .await;
    permit(
        db,
        "P-RENEWED",
        "503/4/2027",
        d(150),
        Some("+62 812 1111 0004"),
    )
    .await;
    permit(db, "P-NOPHONE", "503/5/2027", d(100), None).await;
    permit(db, "P-BADPHONE", "503/6/2027", d(100), Some("tidak ada")).await;
    for p in ["+6281211110001", "+6281211110002", "+6281211110004"] {
        db.record_consent(p, "opt_in", "loket", Some("petugas"), start)
            .await
            .expect("consent");
    }
    let mut renewed = false;
    for day in 0..365 {
        for hour in [0u32, 6, 18] {
            // 07:00, 13:00 and 01:00 (quiet) office time.
            s.clock
                .set(start + Duration::days(day) + Duration::hours(hour as i64));
            if !renewed && day == 70 {
                // P-RENEWED (150 days) got its 90-day reminder at day 60; renewed at day 70.
                permit(db, "P-RENEWAL", "503/4b/2027", d(1900), None).await;
                // The renewal's signed letter is published: its notice carries the link.
                published_letter(db, "P-RENEWAL").await;
                db.confirm_renewal(
                    "P-RENEWAL",
                    "P-RENEWED",
                    "petugas",
                    None,
                    s.clock.now_for_tests(),
                )
                .await
                .expect("renewal");
                renewed = true;
            }
            s.notifier.run_schedules().await.expect("schedules");
            dispatch_all(&s.notifier).await;
        }
    }
    let sent = s.fake.sent();
    let office = chrono_tz::Asia::Jakarta;
    for (at, m) in &sent {
        let h = at.with_timezone(&office).hour();
        assert!((7..21).contains(&h), "sent in quiet hours at {at}: {m:?}");
    }
    let reminders = |phone: &str| -> Vec<(DateTime<Utc>, String)> {
        sent.iter()
            .filter(|(_, m)| m.to == phone)
            .filter(|(_, m)| m.content.text().contains("berakhir pada"))
            .map(|(at, m)| (*at, m.content.text().to_string()))
            .collect()
    };
    let full = reminders("+6281211110001");
    assert_eq!(full.len(), 3, "{full:#?}");
    for (i, days) in [90, 60, 30].into_iter().enumerate() {
        assert!(
            full[i].1.contains(&format!("({days} hari lagi)")),
            "reminder {i} should be the {days}-day one: {}",
            full[i].1
        );
        assert_eq!(
            (full[i].0.date_naive() - start.date_naive()).num_days(),
            200 - days,
            "sent on its day"
        );
    }
    // First seen 45 days before expiry: the 60-day reminder (late, at once) and the 30-day one.
    let late = reminders("+6281211110002");
    assert_eq!(late.len(), 2, "{late:#?}");
    assert!(late[0].1.contains("(45 hari lagi)"), "{}", late[0].1);
    assert!(late[1].1.contains("(30 hari lagi)"), "{}", late[1].1);
    assert!(
        reminders("+6281211110003").is_empty(),
        "no opt-in, no message"
    );
    let renewed_msgs = reminders("+6281211110004");
    assert_eq!(
        renewed_msgs.len(),
        1,
        "only the 90-day one before the renewal: {renewed_msgs:#?}"
    );
    // The renewal's own notice went to the applicant once.
    let renewal_notices: Vec<_> = sent
        .iter()
        .filter(|(_, m)| m.to == "+6281211110004" && m.content.text().contains("disetujui"))
        .collect();
    assert_eq!(renewal_notices.len(), 1, "{renewal_notices:#?}");
    assert!(
        renewal_notices[0]
            .1
            .content
            .text()
            .contains("/v/VP-RENEWAL/unduh"),
        "the renewal notice carries the new letter's download link: {renewal_notices:#?}"
    );
    // Nothing sent after a permit's expiry.
    assert!(
        sent.iter()
            .all(|(at, m)| m.to != "+6281211110002" || at.date_naive() <= d(45)),
        "a reminder after expiry"
    );
    // Without consent the reminder is kept as skipped, with the reason, for staff.
    let skipped = db
        .list_messages(&MessageQuery {
            state: Some("skipped".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("list");
    assert!(
        skipped.iter().any(|m| m.phone == "+6281211110003"
            && m.failure_detail
                .as_deref()
                .unwrap_or("")
                .contains("persetujuan")),
        "{skipped:#?}"
    );
    s.t.cleanup().await.expect("cleanup");
}

async fn staff_messages(db: &Database, n: usize, now: DateTime<Utc>) {
    let mut msgs = companion_notify::testing::queued_messages(
        companion_notify::Event::PendingReminder,
        "test",
        "+6281200",
        0..n,
    );
    for m in &mut msgs {
        m.next_attempt_at = now;
    }
    assert_eq!(db.enqueue_messages(&msgs).await.expect("enqueue"), n as u64);
    // The same again: nothing new.
    assert_eq!(db.enqueue_messages(&msgs).await.expect("enqueue"), 0);
}

/// Never more than the limit in any minute or any office day, whatever the dispatcher's rhythm.
async fn rate_limits_hold_per_minute_and_per_day(backend: &str) {
    let config = NotifyConfig {
        per_minute: 5,
        per_day: 12,
        batch: 50,
        ..NotifyConfig::default()
    };
    let start = utc(2027, 3, 1, 2);
    let s = setup(backend, start, config).await;
    staff_messages(&s.t.db, 30, start).await;
    // Every 10 s while messages go out; five minutes at a time while the limits hold them.
    for _ in 0..5000 {
        let r = s.notifier.dispatch_once().await.expect("dispatch");
        let step = if r.sent > 0 {
            Duration::seconds(10)
        } else {
            Duration::minutes(5)
        };
        s.clock.advance(step);
        if s.fake.sent().len() == 30 {
            break;
        }
    }
    let times: Vec<DateTime<Utc>> = s.fake.sent().iter().map(|(t, _)| *t).collect();
    assert_eq!(times.len(), 30, "all sent in the end");
    for (i, t) in times.iter().enumerate() {
        let in_minute = times[i..]
            .iter()
            .filter(|u| **u < *t + Duration::seconds(60))
            .count();
        // The day limit is per office calendar day (TZ_OFFICE), not a rolling 24 hours.
        let office = |u: &DateTime<Utc>| u.with_timezone(&chrono_tz::Asia::Jakarta).date_naive();
        let in_day = times.iter().filter(|u| office(u) == office(t)).count();
        assert!(in_minute <= 5, "{in_minute} in a minute from {t}");
        assert!(in_day <= 12, "{in_day} on the office day of {t}");
    }
    s.t.cleanup().await.expect("cleanup");
}

async fn retries_back_off_and_uncertain_sends_are_reconciled(backend: &str) {
    let config = NotifyConfig {
        per_minute: 0,
        per_day: 0,
        reconcile_after: Duration::minutes(15),
        ..NotifyConfig::default()
    };
    let start = utc(2027, 3, 1, 2);
    let s = setup(backend, start, config).await;
    let db = &s.t.db;
    staff_messages(db, 3, start).await;
    let all = |db: &Database| {
        let db = db.clone();
        async move {
            let mut v = db
                .list_messages(&MessageQuery {
                    limit: 100,
                    ..Default::default()
                })
                .await
                .expect("list");
            v.sort_by_key(|m| m.id);
            v
        }
    };
    let ids: Vec<i64> = all(db).await.iter().map(|m| m.id).collect();
    // 1. Rate limited by the provider: attempts at +0, +300 s, +900 s, then failed for good.
    for id in &ids[1..] {
        db.cancel_message(*id, start).await.expect("hold");
    }
    s.fake.set(Mode::Fail(FailureKind::RateLimited));
    let mut attempts_at = Vec::new();
    for _ in 0..(20 * 60 / 10) {
        let before = s.fake.calls();
        s.notifier.dispatch_once().await.expect("dispatch");
        if s.fake.calls() > before {
            attempts_at.push(s.clock.now_for_tests());
        }
        s.clock.advance(Duration::seconds(10));
    }
    let gaps: Vec<i64> = attempts_at
        .windows(2)
        .map(|w| (w[1] - w[0]).num_seconds())
        .collect();
    assert_eq!(attempts_at.len(), 3, "{attempts_at:?}");
    assert!(
        (300..=310).contains(&gaps[0]) && (600..=610).contains(&gaps[1]),
        "{gaps:?}"
    );
    let m = db.message(ids[0]).await.expect("get").expect("msg");
    assert_eq!(m.state, "failed");
    assert!(
        m.failure_detail
            .as_deref()
            .unwrap_or("")
            .contains("Dibatasi penyedia"),
        "{m:?}"
    );
    // 2. Not on WhatsApp: failed at once, in plain words.
    db.retry_message(ids[1], s.clock.now_for_tests())
        .await
        .expect("retry");
    s.fake.set(Mode::Fail(FailureKind::NotOnWhatsApp));
    s.notifier.dispatch_once().await.expect("dispatch");
    let m = db.message(ids[1]).await.expect("get").expect("msg");
    assert_eq!((m.state.as_str(), m.attempts), ("failed", 1));
    assert!(
        m.failure_detail
            .as_deref()
            .unwrap_or("")
            .contains("tidak terdaftar di WhatsApp")
    );
    // 3. A timeout: the provider took it but we don't know. Never resent blindly; its receipt
    // (with our reference) settles it as sent.
    db.retry_message(ids[2], s.clock.now_for_tests())
        .await
        .expect("retry");
    s.fake.set(Mode::Timeout);
    s.notifier.dispatch_once().await.expect("dispatch");
    let calls = s.fake.calls();
    s.fake.set(Mode::Accept);
    for _ in 0..10 {
        s.clock.advance(Duration::seconds(30));
        s.notifier.dispatch_once().await.expect("dispatch");
    }
    assert_eq!(
        s.fake.calls(),
        calls,
        "an uncertain send is not repeated within the window"
    );
    s.notifier
        .handle_webhook(vec![WebhookEvent::Status {
            provider_id: "wamid.late".into(),
            reference: Some(reference(ids[2])),
            status: DeliveryStatus::Delivered,
            at: Some(s.clock.now_for_tests()),
            failure: None,
        }])
        .await
        .expect("receipt");
    let m = db.message(ids[2]).await.expect("get").expect("msg");
    assert_eq!(m.state, "delivered", "{m:?}");
    assert_eq!(m.provider_id.as_deref(), Some("wamid.late"));
    for _ in 0..40 {
        s.clock.advance(Duration::minutes(1));
        s.notifier.dispatch_once().await.expect("dispatch");
    }
    assert_eq!(s.fake.calls(), calls, "settled: never sent again");
    // 4. A timeout with no receipt at all: queued again only after the window, sent once more.
    db.retry_message(ids[1], s.clock.now_for_tests())
        .await
        .expect("retry");
    s.fake.set(Mode::Timeout);
    s.notifier.dispatch_once().await.expect("dispatch");
    s.fake.set(Mode::Accept);
    let t0 = s.clock.now_for_tests();
    let mut resent_at = None;
    for _ in 0..40 {
        s.clock.advance(Duration::minutes(1));
        let before = s.fake.calls();
        s.notifier.dispatch_once().await.expect("dispatch");
        if s.fake.calls() > before && resent_at.is_none() {
            resent_at = Some(s.clock.now_for_tests());
        }
    }
    let resent_at = resent_at.expect("resent after the window");
    assert!(
        resent_at - t0 >= Duration::minutes(15),
        "{}",
        resent_at - t0
    );
    assert_eq!(
        db.message(ids[1]).await.expect("get").expect("m").state,
        "sent"
    );
    s.t.cleanup().await.expect("cleanup");
}

async fn receipts_only_move_forward(backend: &str) {
    let start = utc(2027, 3, 1, 2);
    let s = setup(backend, start, NotifyConfig::default()).await;
    let db = &s.t.db;
    staff_messages(db, 1, start).await;
    s.notifier.dispatch_once().await.expect("dispatch");
    let m = &db
        .list_messages(&MessageQuery {
            limit: 1,
            ..Default::default()
        })
        .await
        .expect("l")[0];
    assert_eq!(m.state, "sent");
    let pid = m.provider_id.clone().expect("provider id");
    let status = |st: DeliveryStatus, failure: Option<(FailureKind, Option<String>, String)>| {
        WebhookEvent::Status {
            provider_id: pid.clone(),
            reference: None,
            status: st,
            at: Some(start + Duration::minutes(1)),
            failure,
        }
    };
    // Read arrives before delivered; then sent again; then read twice; then a stray failure.
    for e in [
        status(DeliveryStatus::Read, None),
        status(DeliveryStatus::Delivered, None),
        status(DeliveryStatus::Sent, None),
        status(DeliveryStatus::Read, None),
        status(
            DeliveryStatus::Failed,
            Some((
                FailureKind::NotOnWhatsApp,
                Some("131026".into()),
                "x".into(),
            )),
        ),
    ] {
        s.notifier.handle_webhook(vec![e]).await.expect("receipt");
        let now = db.message(m.id).await.expect("get").expect("m");
        assert_eq!(now.state, "read");
    }
    let m = db.message(m.id).await.expect("get").expect("m");
    assert!(m.delivered_at.is_some() && m.read_at.is_some());
    // A receipt for a message we don't know changes nothing and is no error.
    s.notifier
        .handle_webhook(vec![WebhookEvent::Status {
            provider_id: "unknown".into(),
            reference: Some("wa-999999".into()),
            status: DeliveryStatus::Read,
            at: None,
            failure: None,
        }])
        .await
        .expect("unknown receipt");
    s.t.cleanup().await.expect("cleanup");
}

async fn daftar_opts_in_and_stop_opts_out_at_once(backend: &str) {
    let start = utc(2027, 3, 1, 3); // 10:00 office time
    let s = setup(backend, start, NotifyConfig::default()).await;
    let db = &s.t.db;
    permit(
        db,
        "0142307703072025",
        "503/9/2027",
        (start + Duration::days(80)).date_naive(),
        Some("0813-7777-0000"),
    )
    .await;
    let inbound = |text: &str, id: &str| WebhookEvent::Inbound {
        from: "+6281377770000".into(),
        text: text.into(),
        provider_message_id: id.into(),
        at: None,
    };
    s.notifier
        .handle_webhook(vec![inbound("daftar 0142307703072025", "in-1")])
        .await
        .expect("daftar");
    let c = db
        .contact("+6281377770000")
        .await
        .expect("c")
        .expect("contact");
    assert!(c.may_receive());
    assert_eq!(c.opt_in_source.as_deref(), Some("daftar"));
    assert_eq!(
        db.permit_phone("0142307703072025").await.expect("p"),
        Some(("+6281377770000".into(), "daftar".into()))
    );
    // The same inbound message delivered twice gives one reply.
    s.notifier
        .handle_webhook(vec![inbound("daftar 0142307703072025", "in-1")])
        .await
        .expect("again");
    s.notifier.run_schedules().await.expect("schedules");
    // The expiry reminder is queued; then the person writes STOP before it goes out.
    s.notifier
        .handle_webhook(vec![inbound("STOP", "in-2")])
        .await
        .expect("stop");
    dispatch_all(&s.notifier).await;
    let texts: Vec<String> = s
        .fake
        .sent()
        .iter()
        .map(|(_, m)| m.content.text().to_string())
        .collect();
    assert_eq!(texts.len(), 2, "two replies, no reminder: {texts:#?}");
    assert!(texts.iter().any(|t| t.contains("terdaftar")), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains("tidak akan menerima")),
        "{texts:?}"
    );
    let reminder = db
        .list_messages(&MessageQuery {
            event: Some("expiry_reminder".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(reminder.len(), 1);
    assert_eq!(
        reminder[0].state, "skipped",
        "consent checked again when sending"
    );
    let log = db.consent_log("+6281377770000").await.expect("log");
    assert_eq!(
        log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["opt_in", "opt_out"]
    );
    // An unknown registration id: a helpful reply, no consent.
    s.notifier
        .handle_webhook(vec![WebhookEvent::Inbound {
            from: "+6281377770001".into(),
            text: "DAFTAR 999".into(),
            provider_message_id: "in-3".into(),
            at: None,
        }])
        .await
        .expect("unknown");
    assert!(
        !db.contact("+6281377770001")
            .await
            .expect("c")
            .expect("c")
            .may_receive()
    );
    s.t.cleanup().await.expect("cleanup");
}

/// Issue 18 (2): a registration id is printed on receipts, so `DAFTAR <id>` from a number the
/// office does not hold for that permit records no consent and changes no number; it waits for
/// a person. SICANTIK's own number is accepted, but never replaces a number staff recorded at
/// the counter.
async fn daftar_from_another_number_waits_for_a_person(backend: &str) {
    let start = utc(2027, 3, 1, 3);
    let s = setup(backend, start, NotifyConfig::default()).await;
    let db = &s.t.db;
    let expiry = (start + Duration::days(80)).date_naive();
    permit(db, "P-OWN", "503/10/2027", expiry, Some("0812 4444 0001")).await;
    permit(db, "P-NONE", "503/11/2027", expiry, None).await;
    permit(db, "P-LOKET", "503/12/2027", expiry, Some("0812 4444 0003")).await;
    let inbound = |from: &str, text: &str, id: &str| WebhookEvent::Inbound {
        from: from.into(),
        text: text.into(),
        provider_message_id: id.into(),
        at: None,
    };
    const THIEF: &str = "+6281399990000";
    // Someone else's number, for a permit with a number and one without.
    s.notifier
        .handle_webhook(vec![
            inbound(THIEF, "DAFTAR P-OWN", "h-1"),
            inbound(THIEF, "DAFTAR P-NONE", "h-2"),
        ])
        .await
        .expect("hijack");
    let c = db.contact(THIEF).await.expect("c").expect("contact");
    assert!(!c.may_receive(), "no consent for a stranger: {c:?}");
    assert!(db.consent_log(THIEF).await.expect("log").is_empty());
    assert_eq!(db.permit_contact("P-OWN").await.expect("pc"), None);
    assert_eq!(db.permit_contact("P-NONE").await.expect("pc"), None);
    assert_eq!(
        db.permit_phone("P-OWN").await.expect("p"),
        Some(("0812 4444 0001".into(), "sicantik".into()))
    );
    let held = db.daftar_requests("pending", 10).await.expect("held");
    assert_eq!(
        held.iter()
            .map(|r| (r.pendaftaran_id.as_str(), r.phone.as_str()))
            .collect::<Vec<_>>(),
        [("P-OWN", THIEF), ("P-NONE", THIEF)]
    );
    // The number SICANTIK holds (written differently) is accepted.
    s.notifier
        .handle_webhook(vec![inbound("6281244440001", "daftar P-OWN", "h-3")])
        .await
        .expect("owner");
    assert!(
        db.contact("+6281244440001")
            .await
            .expect("c")
            .expect("c")
            .may_receive()
    );
    assert_eq!(
        db.permit_phone("P-OWN").await.expect("p"),
        Some(("+6281244440001".into(), "daftar".into()))
    );
    // A number recorded at the counter is not replaced, not even by SICANTIK's number.
    db.set_permit_contact("P-LOKET", "+6281255556666", "staff", Some("loket1"), start)
        .await
        .expect("counter");
    db.record_consent("+6281255556666", "opt_in", "loket", Some("loket1"), start)
        .await
        .expect("consent");
    s.notifier
        .handle_webhook(vec![
            inbound("+6281244440003", "DAFTAR P-LOKET", "h-4"),
            inbound(THIEF, "DAFTAR P-LOKET", "h-5"),
        ])
        .await
        .expect("loket");
    assert_eq!(
        db.permit_phone("P-LOKET").await.expect("p"),
        Some(("+6281255556666".into(), "staff".into()))
    );
    assert!(
        db.consent_log("+6281244440003")
            .await
            .expect("l")
            .is_empty()
    );
    assert_eq!(db.daftar_requests("pending", 10).await.expect("h").len(), 4);
    // Each sender got one polite answer; the stranger's names no permit.
    dispatch_all(&s.notifier).await;
    let to_thief: Vec<String> = s
        .fake
        .sent()
        .iter()
        .filter(|(_, m)| m.to == THIEF)
        .map(|(_, m)| m.content.text().to_string())
        .collect();
    assert_eq!(to_thief.len(), 3, "{to_thief:?}");
    assert!(
        to_thief
            .iter()
            .all(|t| t.contains("petugas") && !t.contains("Izin Usaha")),
        "{to_thief:?}"
    );
    s.t.cleanup().await.expect("cleanup");
}

async fn each_event_is_planned_once(backend: &str) {
    let start = utc(2027, 3, 1, 3);
    let s = setup(backend, start, NotifyConfig::default()).await;
    let db = &s.t.db;
    permit(
        db,
        "PX",
        "503/7/2027",
        (start + Duration::days(500)).date_naive(),
        Some("0812 5555 0000"),
    )
    .await;
    db.record_consent("+6281255550000", "opt_in", "loket", None, start)
        .await
        .expect("consent");
    for i in 0..3 {
        execute_raw(
            db,
            &format!(
                "INSERT INTO domain_events (kind, subject_id, payload, created_at) VALUES \
                 ('permit.status_changed', 'PX', '{{\"from\":\"in_process\",\"to\":\"issued\",\"n\":{i}}}', '2027-03-01T03:00:00Z')"
            ),
        )
        .await
        .expect("event");
    }
    // Two planners at once (two instances): every event planned exactly once.
    let other = Notifier::new(
        db.clone(),
        s.fake.clone(),
        NotifyConfig::default(),
        s.clock.clone(),
    );
    let (a, b) = tokio::join!(s.notifier.plan(), other.plan());
    assert_eq!(a.expect("a") + b.expect("b"), 3);
    assert_eq!(s.notifier.plan().await.expect("again"), 0);
    let msgs = db
        .list_messages(&MessageQuery {
            event: Some("status_changed".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(msgs.len(), 3, "one per event and recipient");
    assert!(
        msgs.iter().all(|m| m.body.contains("izin telah terbit")),
        "{msgs:#?}"
    );
    s.t.cleanup().await.expect("cleanup");
}
