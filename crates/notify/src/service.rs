//! The notifier: turns domain events and schedules into outbox messages, and dispatches the
//! outbox through the configured provider.
//!
//! - **Planner**: reads `domain_events` after its stored position and, in one transaction with
//!   moving that position, writes the messages they cause. An event is planned exactly once;
//!   `dedup_key` (event + recipient) keeps a message from being written twice in any case.
//! - **Dispatcher**: claims due messages with a lease inside the rate limits (counted in the
//!   database, so they hold across instances), checks consent, blacklist, quiet hours and the
//!   template's approval at the moment of sending, sends, and records the provider's answer.
//!   Retryable failures go back with exponential backoff; a send whose outcome is unknown
//!   (timeout, a crash) is reconciled through the provider's lookup or its receipts, never
//!   resent blindly.
//! - **Schedules**: expiry reminders (90/60/30 days), documents pending > 24 h, the staff's daily
//!   digest, renewal notices.
//! - **Webhooks**: receipts move messages forward only; inbound "DAFTAR <id>" opts in when it
//!   comes from the number held for that permit (else it waits for staff on `/pesan/kontak`),
//!   "STOP"/"BERHENTI" opts out at once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use companion_db::{Database, DbError, NewMessage, Receipt, WaMessage};
use futures::StreamExt;

use crate::phone;
use crate::providers::{
    Content, DeliveryStatus, FailureKind, Lookup, OutgoingMessage, Provider, SendOutcome,
    WebhookEvent,
};
use crate::templates::{Event, TemplateSet, Values, parameters};

/// The time, injectable so reminders and rate limits can be tested over a simulated year.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        companion_db::now()
    }
}

/// A clock tests move by hand.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(at))
    }
    pub fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut t) = self.0.lock() {
            *t = at;
        }
    }
    pub fn advance(&self, by: Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|t| *t).unwrap_or_else(|_| Utc::now())
    }
}

#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// The portal's public address, for links in messages.
    pub public_base_url: String,
    /// The office's contact line in expiry reminders.
    pub office_contact: String,
    /// Where applicants apply for renewal.
    pub renewal_url: String,
    /// The office's WhatsApp number (E.164), for DAFTAR click-to-chat links.
    pub office_number: Option<String>,
    pub office_tz: chrono_tz::Tz,
    /// No messages to applicants between these office times (start > end wraps midnight).
    pub quiet_hours: Option<(NaiveTime, NaiveTime)>,
    /// Messages per minute and per day over every instance (0: no limit).
    pub per_minute: i64,
    pub per_day: i64,
    /// Attempts before a retryable failure is final; the first retry waits `retry_base`, then
    /// twice as long each time.
    pub max_attempts: i64,
    pub retry_base: Duration,
    /// How long a claimed message is ours; renewed while sending.
    pub lease: Duration,
    /// Messages claimed per round and sent at once.
    pub batch: i64,
    pub concurrency: usize,
    /// An uncertain send with no receipt after this long was not taken (providers that always
    /// send a "sent" receipt for what they took: Meta and the simulator).
    pub reconcile_after: Duration,
    /// The staff digest goes out once a day from this office time.
    pub digest_at: NaiveTime,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            public_base_url: "http://127.0.0.1:8080".into(),
            office_contact: "DPMPTSP Kabupaten Karo".into(),
            renewal_url: "https://perizinan.karokab.go.id".into(),
            office_number: None,
            office_tz: chrono_tz::Asia::Jakarta,
            quiet_hours: Some((hm(21, 0), hm(7, 0))),
            per_minute: 60,
            per_day: 1000,
            max_attempts: 3,
            retry_base: Duration::seconds(300),
            lease: Duration::seconds(60),
            batch: 20,
            concurrency: 4,
            reconcile_after: Duration::minutes(15),
            digest_at: hm(8, 0),
        }
    }
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

/// Parses `21:00-07:00` (or empty/`off` for none).
pub fn parse_quiet_hours(s: &str) -> std::result::Result<Option<(NaiveTime, NaiveTime)>, String> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("quiet hours {s:?}: expected HH:MM-HH:MM"))?;
    let t = |x: &str| {
        NaiveTime::parse_from_str(x.trim(), "%H:%M")
            .map_err(|_| format!("quiet hours {s:?}: {x:?} is not HH:MM"))
    };
    Ok(Some((t(a)?, t(b)?)))
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, NotifyError>;

/// What one dispatch round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchReport {
    pub claimed: usize,
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    pub deferred: usize,
    pub skipped: usize,
    pub uncertain: usize,
}

/// Our reference for a message id, as sent to providers and echoed in their receipts.
pub fn reference(id: i64) -> String {
    format!("wa-{id}")
}

fn parse_reference(r: &str) -> Option<i64> {
    r.strip_prefix("wa-")?.parse().ok()
}

pub struct Notifier {
    db: Database,
    provider: Arc<dyn Provider>,
    config: NotifyConfig,
    clock: Arc<dyn Clock>,
    /// This process's name in leases.
    owner: String,
    templates: Mutex<TemplateSet>,
    /// The provider's approved (name, language) pairs, when it can list them.
    approved: Mutex<Option<HashSet<(String, String)>>>,
}

impl Notifier {
    pub fn new(
        db: Database,
        provider: Arc<dyn Provider>,
        config: NotifyConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Notifier {
            db,
            provider,
            config,
            clock,
            owner: format!("notify-{}-{}", std::process::id(), rand_suffix()),
            templates: Mutex::new(TemplateSet::default()),
            approved: Mutex::new(None),
        }
    }

    pub fn provider(&self) -> &Arc<dyn Provider> {
        &self.provider
    }

    pub fn config(&self) -> &NotifyConfig {
        &self.config
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn today(&self) -> NaiveDate {
        self.now()
            .with_timezone(&self.config.office_tz)
            .date_naive()
    }

    /// Reloads staff's template edits from the database.
    pub async fn reload_templates(&self) -> Result<()> {
        let edits = self.db.template_overrides().await?;
        let set = TemplateSet::with_edits(
            edits
                .into_iter()
                .filter_map(|t| Event::parse(&t.event).map(|e| (e, t.language, t.body))),
        );
        if let Ok(mut t) = self.templates.lock() {
            *t = set;
        }
        Ok(())
    }

    pub fn template_set(&self) -> TemplateSet {
        self.templates.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Asks the provider which templates are approved (where it can tell).
    pub async fn refresh_approved_templates(&self) -> std::result::Result<Option<usize>, String> {
        match self.provider.approved_templates().await {
            Ok(Some(list)) => {
                let set: HashSet<(String, String)> = list
                    .into_iter()
                    .filter(|t| t.status.eq_ignore_ascii_case("approved"))
                    .map(|t| (t.name, t.language))
                    .collect();
                let n = set.len();
                if let Ok(mut a) = self.approved.lock() {
                    *a = Some(set);
                }
                Ok(Some(n))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    // --- building messages ---------------------------------------------------------------

    #[allow(clippy::too_many_arguments)] // one message's fields; a struct would only rename them
    fn message(
        &self,
        event: Event,
        subject: &str,
        dedup: &str,
        audience: &str,
        phone: &str,
        language: &str,
        values: &Values,
        state: (&str, Option<String>),
    ) -> Option<NewMessage> {
        // Rendered under the lock: no copy of every template per message.
        let rendered = match self.templates.lock() {
            Ok(t) => t.render(event, language, values),
            Err(_) => TemplateSet::default().render(event, language, values),
        };
        let body = match rendered {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(event = event.key(), error = %e, "message not rendered");
                return None;
            }
        };
        Some(NewMessage {
            dedup_key: format!("{dedup}:{phone}"),
            event: event.key().into(),
            subject_id: Some(subject.to_string()),
            audience: audience.into(),
            phone: phone.into(),
            language: language.into(),
            template: event.provider_template().into(),
            parameters: serde_json::to_string(&parameters(event, values)).unwrap_or_default(),
            body,
            state: state.0.into(),
            failure_detail: state.1,
            next_attempt_at: self.now(),
        })
    }

    /// A message to a permit's applicant, or `None` without a usable number. Without consent
    /// the message is kept as `skipped`, with the reason, for the staff's log.
    async fn to_applicant(
        &self,
        event: Event,
        pendaftaran_id: &str,
        dedup: &str,
        values: &Values,
    ) -> Result<Option<NewMessage>> {
        let Some((raw, _source)) = self.db.permit_phone(pendaftaran_id).await? else {
            return Ok(None);
        };
        let Ok(phone) = phone::normalize(&raw) else {
            metrics::counter!("companion_whatsapp_invalid_numbers_total").increment(1);
            return Ok(None);
        };
        let contact = self.db.contact(&phone).await?;
        let language = contact
            .as_ref()
            .map(|c| c.language.clone())
            .unwrap_or_else(|| "id".into());
        let state = match refusal(contact.as_ref(), true) {
            None => ("queued", None),
            Some(why) => ("skipped", Some(why.to_string())),
        };
        Ok(self.message(
            event,
            pendaftaran_id,
            dedup,
            "applicant",
            &phone,
            &language,
            values,
            state,
        ))
    }

    /// A message to a staff member or official by their own number.
    #[allow(clippy::too_many_arguments)]
    fn to_user(
        &self,
        event: Event,
        subject: &str,
        dedup: &str,
        audience: &str,
        name: &str,
        raw_phone: &str,
        mut values: Values,
    ) -> Option<NewMessage> {
        let phone = phone::normalize(raw_phone).ok()?;
        values.insert("nama".into(), name.into());
        self.message(
            event,
            subject,
            dedup,
            audience,
            &phone,
            "id",
            &values,
            ("queued", None),
        )
    }

    fn link(&self, path: &str) -> String {
        format!(
            "{}{path}",
            self.config.public_base_url.trim_end_matches('/')
        )
    }

    fn date(d: Option<NaiveDate>) -> String {
        d.map(|d| d.format("%d-%m-%Y").to_string())
            .unwrap_or_else(|| "—".into())
    }

    async fn permit_values(
        &self,
        pendaftaran_id: &str,
    ) -> Result<Option<(Values, companion_domain::permits::PermitView)>> {
        let Some(p) = self.db.get_permit(pendaftaran_id).await? else {
            return Ok(None);
        };
        let mut v = permit_facts(
            p.applicant_name.as_deref(),
            p.permit_type_name.as_deref(),
            p.permit_number.as_deref(),
        );
        v.insert("nomor_pendaftaran".into(), p.pendaftaran_id.clone());
        v.insert("berlaku_sampai".into(), Self::date(p.expiry_date));
        Ok(Some((v, p)))
    }

    // --- the planner -------------------------------------------------------------------------

    /// Plans messages for the domain events after the stored position. Returns how many events
    /// were read.
    pub async fn plan(&self) -> Result<usize> {
        let from = self.db.planner_position().await?;
        let events = self.db.list_events(from, 500).await?;
        let Some(last) = events.last().map(|e| e.id) else {
            return Ok(0);
        };
        let mut messages = Vec::new();
        for e in &events {
            messages.extend(self.messages_for_event(e).await?);
        }
        if !self.db.commit_plan(from, last, &messages).await? {
            // Another instance planned these events first.
            return Ok(0);
        }
        Ok(events.len())
    }

    async fn messages_for_event(&self, e: &companion_db::EventRow) -> Result<Vec<NewMessage>> {
        let mut out = Vec::new();
        // Most events (a full sync's "permit.created") send nothing: no look-ups for them.
        if !matches!(
            e.kind.as_str(),
            "document.published"
                | "document.submitted"
                | "document.rejected"
                | "document.revoked"
                | "permit.status_changed"
        ) {
            return Ok(out);
        }
        let payload: serde_json::Value = serde_json::from_str(&e.payload).unwrap_or_default();
        let pid = e.subject_id.as_str();
        let Some((mut values, _)) = self.permit_values(pid).await? else {
            return Ok(out);
        };
        let dedup = format!("ev{}", e.id);
        let case = match payload.get("case_id").and_then(|v| v.as_i64()) {
            Some(id) => self.db.get_signing_case(id).await?,
            None => None,
        };
        match e.kind.as_str() {
            "document.published" => {
                if let Some(c) = &case {
                    values.insert(
                        "tautan".into(),
                        self.link(&format!("/v/{}/unduh", c.verification_id)),
                    );
                    out.extend(
                        self.to_applicant(Event::PermitReady, pid, &dedup, &values)
                            .await?,
                    );
                }
            }
            "document.submitted" => {
                values.insert("tautan".into(), self.link(&format!("/izin/{pid}")));
                for (_, name, phone) in self.db.users_with_phone("official").await? {
                    out.extend(self.to_user(
                        Event::ApprovalRequired,
                        pid,
                        &dedup,
                        "official",
                        &name,
                        &phone,
                        values.clone(),
                    ));
                }
            }
            "document.rejected" | "document.revoked" => {
                let status = if e.kind.ends_with("rejected") {
                    "dokumen ditolak pejabat"
                } else {
                    "dokumen dicabut"
                };
                values.insert("status".into(), status.into());
                if let Some(by) = case.as_ref().and_then(|c| c.submitted_by.clone())
                    && let Some((name, phone)) = self.db.user_phone(&by).await?
                {
                    out.extend(self.to_user(
                        Event::StatusChanged,
                        pid,
                        &dedup,
                        "staff",
                        &name,
                        &phone,
                        values.clone(),
                    ));
                }
            }
            "permit.status_changed" => {
                let to = payload.get("to").and_then(|v| v.as_str()).unwrap_or("");
                let status = match to {
                    "issued" => "izin telah terbit",
                    "in_process" => "sedang diproses",
                    other => other,
                };
                values.insert("status".into(), status.into());
                out.extend(
                    self.to_applicant(Event::StatusChanged, pid, &dedup, &values)
                        .await?,
                );
                // The responsible staff: whoever submitted the permit's letter for signing.
                let cases = self.db.signing_cases_for_permit(pid).await?;
                if let Some(by) = cases.iter().rev().find_map(|c| c.submitted_by.clone())
                    && let Some((name, phone)) = self.db.user_phone(&by).await?
                {
                    out.extend(self.to_user(
                        Event::StatusChanged,
                        pid,
                        &dedup,
                        "staff",
                        &name,
                        &phone,
                        values.clone(),
                    ));
                }
            }
            _ => {}
        }
        Ok(out)
    }

    // --- schedules ------------------------------------------------------------------------------

    /// Expiry reminders due today: each permit gets its 90, 60 and 30-day reminder once — the
    /// smallest threshold not yet passed, so a day the job did not run is caught up the next
    /// day, and a permit first seen 40 days before expiry gets only the 60-day one. None after
    /// expiry or after a confirmed renewal. Returns the number of new messages.
    pub async fn expiry_reminders(&self) -> Result<u64> {
        let today = self.today();
        let permits = self
            .db
            .expiring_permits(today, today + Duration::days(90))
            .await?;
        let mut out = Vec::new();
        for p in permits {
            if p.renewed {
                continue;
            }
            let days = (p.expiry_date - today).num_days();
            let Some(threshold) = [30i64, 60, 90].into_iter().find(|t| days <= *t) else {
                continue;
            };
            // A 90-day reminder is not sent when fewer than 60 days are left, and so on.
            let mut values = permit_facts(
                p.applicant_name.as_deref(),
                p.permit_type_name.as_deref(),
                p.permit_number.as_deref(),
            );
            values.insert("berlaku_sampai".into(), Self::date(Some(p.expiry_date)));
            values.insert("sisa_hari".into(), days.to_string());
            values.insert(
                "tautan_perpanjangan".into(),
                self.config.renewal_url.clone(),
            );
            values.insert("kontak_kantor".into(), self.config.office_contact.clone());
            let dedup = format!("expiry:{}:{}:{threshold}", p.pendaftaran_id, p.expiry_date);
            out.extend(
                self.to_applicant(Event::ExpiryReminder, &p.pendaftaran_id, &dedup, &values)
                    .await?,
            );
        }
        Ok(self.db.enqueue_messages(&out).await?)
    }

    /// Documents waiting more than 24 hours for a step: a reminder to whoever submitted them.
    pub async fn pending_reminders(&self) -> Result<u64> {
        let cutoff = self.now() - Duration::hours(24);
        let mut out = Vec::new();
        for (state, words) in [
            ("submitted", "menunggu persetujuan"),
            ("approved", "menunggu tanda tangan"),
            ("stamped", "menunggu tanda tangan"),
        ] {
            for (case_id, pid, by, since) in self.db.cases_waiting(state, cutoff).await? {
                let Some(by) = by else { continue };
                let Some((name, phone)) = self.db.user_phone(&by).await? else {
                    continue;
                };
                let Some((mut values, _)) = self.permit_values(&pid).await? else {
                    continue;
                };
                values.insert("status".into(), words.into());
                values.insert("jam".into(), (self.now() - since).num_hours().to_string());
                values.insert("tautan".into(), self.link(&format!("/izin/{pid}")));
                let dedup = format!("pending:{case_id}:{state}:{}", since.timestamp());
                out.extend(self.to_user(
                    Event::PendingReminder,
                    &pid,
                    &dedup,
                    "staff",
                    &name,
                    &phone,
                    values,
                ));
            }
        }
        Ok(self.db.enqueue_messages(&out).await?)
    }

    /// The staff's daily digest (documents awaiting signature, PDFs not uploaded), once a day
    /// from `digest_at` office time, only when something waits.
    pub async fn daily_digest(&self) -> Result<u64> {
        let local = self.now().with_timezone(&self.config.office_tz);
        if local.time() < self.config.digest_at {
            return Ok(0);
        }
        let counts = self.db.signing_state_counts().await?;
        let waiting = counts.get("approved").copied().unwrap_or(0)
            + counts.get("stamped").copied().unwrap_or(0);
        let no_pdf = self.db.permits_waiting_for_pdf().await?;
        if waiting == 0 && no_pdf == 0 {
            return Ok(0);
        }
        let mut values = Values::new();
        values.insert("jumlah".into(), waiting.to_string());
        values.insert("belum_diunggah".into(), no_pdf.to_string());
        values.insert("tautan".into(), self.link("/tte"));
        let dedup = format!("digest:{}", local.date_naive());
        let out: Vec<NewMessage> = self
            .db
            .users_with_phone("staff")
            .await?
            .into_iter()
            .filter_map(|(_, name, phone)| {
                self.to_user(
                    Event::AwaitingSignature,
                    "digest",
                    &dedup,
                    "staff",
                    &name,
                    &phone,
                    values.clone(),
                )
            })
            .collect();
        Ok(self.db.enqueue_messages(&out).await?)
    }

    /// Renewal notices for confirmed renewals whose new permit is issued.
    pub async fn renewal_notices(&self) -> Result<u64> {
        let mut out = Vec::new();
        for r in self.db.list_renewals(Some("confirmed")).await? {
            let Some((mut values, new)) = self.permit_values(&r.renewal_id).await? else {
                continue;
            };
            if new.status != companion_domain::PermitStatus::Issued {
                continue;
            }
            let old = self.db.get_permit(&r.renews_id).await?;
            values.insert(
                "nomor_izin_baru".into(),
                new.permit_number.clone().unwrap_or_else(|| "—".into()),
            );
            values.insert(
                "nomor_izin_lama".into(),
                old.and_then(|o| o.permit_number)
                    .unwrap_or_else(|| "—".into()),
            );
            // The old permit's contact (the applicant who asked for the renewal) when the new
            // one has none yet.
            let subject = if self.db.permit_phone(&r.renewal_id).await?.is_some() {
                r.renewal_id.clone()
            } else {
                r.renews_id.clone()
            };
            let dedup = format!("renewal:{}", r.renewal_id);
            out.extend(
                self.to_applicant(Event::RenewalApproved, &subject, &dedup, &values)
                    .await?,
            );
        }
        Ok(self.db.enqueue_messages(&out).await?)
    }

    /// Every schedule in one call (the scheduler runs it every few minutes; all idempotent).
    pub async fn run_schedules(&self) -> Result<u64> {
        self.db.suggest_renewals(self.now()).await?;
        Ok(self.expiry_reminders().await?
            + self.pending_reminders().await?
            + self.daily_digest().await?
            + self.renewal_notices().await?)
    }

    // --- the dispatcher -------------------------------------------------------------------------

    /// When quiet hours are on at `at`, the end of them (else `None`).
    pub fn quiet_until(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (start, end) = self.config.quiet_hours?;
        let local = at.with_timezone(&self.config.office_tz);
        let t = local.time();
        let quiet = if start <= end {
            t >= start && t < end
        } else {
            t >= start || t < end
        };
        if !quiet {
            return None;
        }
        let mut day = local.date_naive();
        if t >= end {
            day += Duration::days(1);
        }
        self.config
            .office_tz
            .from_local_datetime(&day.and_time(end))
            .earliest()
            .map(|d| d.with_timezone(&Utc))
    }

    /// One dispatch round: reconcile orphaned sends, claim due messages and send them.
    pub async fn dispatch_once(&self) -> Result<DispatchReport> {
        let mut report = DispatchReport::default();
        self.reconcile().await?;
        let now = self.now();
        let claimed = self
            .db
            .claim_messages(&companion_db::Claim {
                owner: &self.owner,
                provider: self.provider.name(),
                now,
                lease_until: now + self.config.lease,
                limit: self.config.batch,
                per_minute: self.config.per_minute,
                per_day: self.config.per_day,
            })
            .await?;
        report.claimed = claimed.len();
        let outcomes: Vec<Result<Outcome>> = futures::stream::iter(claimed)
            .map(|m| self.send_one(m))
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        for o in outcomes {
            match o? {
                Outcome::Sent => report.sent += 1,
                Outcome::Retry => report.retried += 1,
                Outcome::Failed => report.failed += 1,
                Outcome::Deferred => report.deferred += 1,
                Outcome::Skipped => report.skipped += 1,
                Outcome::Uncertain => report.uncertain += 1,
            }
        }
        Ok(report)
    }

    async fn send_one(&self, m: WaMessage) -> Result<Outcome> {
        let now = self.now();
        let event = Event::parse(&m.event);
        let to_applicant = m.audience == "applicant";
        let is_reply = m.event == "reply";
        // Consent and blacklist are checked again now, not only when queued (a reply to the
        // person's own message needs no opt-in; a blacklisted number gets nothing).
        let contact = self.db.contact(&m.phone).await?;
        if let Some(why) = refusal(contact.as_ref(), to_applicant && !is_reply) {
            self.db
                .message_deferred(m.id, &self.owner, None, why, now)
                .await?;
            return Ok(Outcome::Skipped);
        }
        if event == Some(Event::ExpiryReminder)
            && let Some(pid) = &m.subject_id
            && self.db.is_renewed(pid).await?
        {
            self.db
                .message_deferred(m.id, &self.owner, None, "Izin sudah diperpanjang", now)
                .await?;
            return Ok(Outcome::Skipped);
        }
        if to_applicant
            && !is_reply
            && let Some(until) = self.quiet_until(now)
        {
            self.db
                .message_deferred(
                    m.id,
                    &self.owner,
                    Some(until),
                    "Jam tenang: dikirim setelahnya",
                    now,
                )
                .await?;
            return Ok(Outcome::Deferred);
        }
        let content = if is_reply || !self.provider.uses_templates() {
            Content::Text {
                body: m.body.clone(),
            }
        } else {
            let approved = self.approved.lock().ok().and_then(|a| {
                a.as_ref()
                    .map(|s| s.contains(&(m.template.clone(), m.language.clone())))
            });
            if approved == Some(false) {
                self.db
                    .message_failed(
                        m.id,
                        Some(&self.owner),
                        FailureKind::TemplateNotApproved.as_str(),
                        None,
                        &format!(
                            "{}: {} ({})",
                            FailureKind::TemplateNotApproved.describe(),
                            m.template,
                            m.language
                        ),
                        None,
                        now,
                    )
                    .await?;
                metrics::counter!("companion_whatsapp_messages_total", "status" => "failed")
                    .increment(1);
                return Ok(Outcome::Failed);
            }
            Content::Template {
                name: m.template.clone(),
                language: m.language.clone(),
                parameters: serde_json::from_str(&m.parameters).unwrap_or_default(),
                rendered: m.body.clone(),
            }
        };
        let outgoing = OutgoingMessage {
            reference: reference(m.id),
            to: m.phone.clone(),
            content,
        };
        match self.provider.send(&outgoing).await {
            Ok(accepted) => {
                self.db
                    .message_sent(m.id, &self.owner, &accepted.provider_id, self.now())
                    .await?;
                metrics::counter!("companion_whatsapp_messages_total", "status" => "sent")
                    .increment(1);
                Ok(Outcome::Sent)
            }
            Err(e) if e.outcome == SendOutcome::Unknown => {
                tracing::warn!(message = m.id, error = %e, "send outcome unknown; reconciling later");
                self.db
                    .message_uncertain(
                        m.id,
                        &self.owner,
                        e.kind.as_str(),
                        &e.to_string(),
                        self.now(),
                    )
                    .await?;
                Ok(Outcome::Uncertain)
            }
            Err(e) => {
                let retry = e.kind.retryable() && m.attempts < self.config.max_attempts;
                let retry_at = retry.then(|| {
                    let factor = 1i32 << (m.attempts - 1).clamp(0, 16);
                    self.now() + self.config.retry_base * factor
                });
                self.db
                    .message_failed(
                        m.id,
                        Some(&self.owner),
                        e.kind.as_str(),
                        e.code.as_deref(),
                        &format!("{} — {}", e.kind.describe(), e.detail),
                        retry_at,
                        self.now(),
                    )
                    .await?;
                if retry {
                    Ok(Outcome::Retry)
                } else {
                    metrics::counter!("companion_whatsapp_messages_total", "status" => "failed")
                        .increment(1);
                    Ok(Outcome::Failed)
                }
            }
        }
    }

    /// Settles messages whose send may or may not have happened (a timeout, or the process
    /// died mid-send): the provider is asked where it can be; otherwise its receipt (matched
    /// by our reference) decides, and only when none came within `reconcile_after` is the
    /// message queued again.
    pub async fn reconcile(&self) -> Result<usize> {
        let now = self.now();
        let mut settled = 0;
        for m in self.db.orphaned_messages(now, 100).await? {
            if !self
                .db
                .adopt_message(m.id, &self.owner, now, now + self.config.lease)
                .await?
            {
                continue;
            }
            let since = m.attempted_at.unwrap_or(m.updated_at);
            let outgoing = OutgoingMessage {
                reference: reference(m.id),
                to: m.phone.clone(),
                content: Content::Text {
                    body: m.body.clone(),
                },
            };
            match self.provider.lookup(&outgoing, since).await {
                Ok(Lookup::Found(a)) => {
                    self.db
                        .message_sent(m.id, &self.owner, &a.provider_id, now)
                        .await?;
                    settled += 1;
                }
                Ok(Lookup::NotFound) => {
                    self.db.requeue_message(m.id, &self.owner, now).await?;
                    settled += 1;
                }
                Ok(Lookup::Unsupported) | Err(_) => {
                    if now - since >= self.config.reconcile_after {
                        tracing::info!(
                            message = m.id,
                            "no receipt for an uncertain send; queued again"
                        );
                        self.db.requeue_message(m.id, &self.owner, now).await?;
                        settled += 1;
                    } else {
                        // Look again when this lease runs out; a receipt may settle it first.
                        self.db
                            .message_uncertain(
                                m.id,
                                &self.owner,
                                m.failure_kind.as_deref().unwrap_or("timeout"),
                                m.failure_detail
                                    .as_deref()
                                    .unwrap_or("menunggu tanda terima penyedia"),
                                now + self.config.lease.min(Duration::seconds(30)),
                            )
                            .await?;
                    }
                }
            }
        }
        Ok(settled)
    }

    // --- webhooks ---------------------------------------------------------------------------------

    /// Applies a verified webhook's events: receipts, and inbound commands.
    pub async fn handle_webhook(&self, events: Vec<WebhookEvent>) -> Result<()> {
        // Aliased receipts (Fonnte's `stateid`) become ordinary ones first.
        let events =
            crate::aliases::resolve(&self.db, self.provider.name(), events, self.now()).await?;
        for e in events {
            match e {
                WebhookEvent::Status {
                    provider_id,
                    reference,
                    status,
                    at,
                    failure,
                } => {
                    let (kind, code, detail) = match failure {
                        Some((k, c, d)) => (
                            Some(k.as_str().to_string()),
                            c,
                            Some(if d.is_empty() {
                                k.describe().to_string()
                            } else {
                                format!("{} — {d}", k.describe())
                            }),
                        ),
                        None => (None, None, None),
                    };
                    let receipt = Receipt {
                        provider_id,
                        message_id: reference.as_deref().and_then(parse_reference),
                        status: status.as_str().into(),
                        at: at.unwrap_or_else(|| self.now()),
                        failure_kind: kind,
                        failure_code: code,
                        failure_detail: detail,
                    };
                    if self.db.apply_receipt(&receipt).await?.is_some()
                        && status != DeliveryStatus::Sent
                    {
                        metrics::counter!("companion_whatsapp_messages_total", "status" => status.as_str()).increment(1);
                    }
                }
                WebhookEvent::Inbound {
                    from,
                    text,
                    provider_message_id,
                    at,
                } => self.inbound(&from, &text, &provider_message_id, at).await?,
                // Resolved above.
                WebhookEvent::Alias { .. } | WebhookEvent::StatusByAlias { .. } => {}
            }
        }
        Ok(())
    }

    async fn inbound(
        &self,
        from: &str,
        text: &str,
        message_id: &str,
        at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let Ok(phone) = phone::normalize(from) else {
            return Ok(());
        };
        let now = self.now();
        let dedup_key = format!("reply:{message_id}");
        if self.db.message_exists(&dedup_key).await? {
            // The provider delivered this inbound message again: already handled.
            return Ok(());
        }
        self.db.mark_inbound(&phone, at.unwrap_or(now)).await?;
        let words: Vec<&str> = text.split_whitespace().collect();
        let command = words.first().map(|w| w.to_uppercase()).unwrap_or_default();
        let reply = match command.as_str() {
            "STOP" | "BERHENTI" | "UNSUBSCRIBE" => {
                self.db
                    .record_consent(&phone, "opt_out", "whatsapp", None, now)
                    .await?;
                Some("Anda tidak akan menerima pesan lagi dari DPMPTSP Kabupaten Karo. Kirim DAFTAR <nomor pendaftaran> untuk berlangganan kembali.".to_string())
            }
            "DAFTAR" | "MULAI" | "START" => {
                let id = words
                    .get(1)
                    .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
                    .unwrap_or("");
                let permit = if id.is_empty() {
                    None
                } else {
                    self.db.get_permit(id).await?
                };
                match permit {
                    Some(p) => Some(self.daftar(&p, &phone, now).await?),
                    None => Some("Nomor pendaftaran tidak ditemukan. Kirim DAFTAR diikuti nomor pendaftaran pada tanda terima Anda.".to_string()),
                }
            }
            _ => None,
        };
        if let Some(body) = reply {
            // A free-form reply: the person just wrote, so the 24-hour window is open.
            let m = NewMessage {
                dedup_key,
                event: "reply".into(),
                subject_id: None,
                audience: "applicant".into(),
                phone: phone.clone(),
                language: "id".into(),
                template: "reply".into(),
                parameters: "[]".into(),
                body,
                state: "queued".into(),
                failure_detail: None,
                next_attempt_at: now,
            };
            self.db.enqueue_messages(&[m]).await?;
        }
        Ok(())
    }

    /// `DAFTAR <id>` for a known permit. Only the number the office holds for the permit opts
    /// in by message: SICANTIK's number (normalised), or the number already recorded for it.
    /// Any other number (anyone can read a registration id off a receipt) is held for a person
    /// on `/pesan/kontak`, and so is SICANTIK's number when staff recorded another one at the
    /// counter: a recorded number is never replaced without a person.
    async fn daftar(
        &self,
        p: &companion_domain::permits::PermitView,
        from: &str,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let sicantik = p
            .applicant_phone
            .as_deref()
            .and_then(|t| phone::normalize(t).ok());
        let recorded = self.db.permit_contact(&p.pendaftaran_id).await?;
        let accepted = match &recorded {
            // The number recorded for the permit itself (e.g. subscribing again after STOP).
            Some((number, _)) if number == from => true,
            // Only an earlier DAFTAR recorded a number: SICANTIK's own number may replace it.
            Some((_, source)) if source != "daftar" => false,
            _ => sicantik.as_deref() == Some(from),
        };
        if !accepted {
            self.db
                .add_daftar_request(&p.pendaftaran_id, from, now)
                .await?;
            tracing::warn!(
                permit = %p.pendaftaran_id,
                from = %from,
                "DAFTAR from a number not held for the permit: held for staff confirmation"
            );
            metrics::counter!("companion_whatsapp_daftar_total", "outcome" => "held").increment(1);
            return Ok("Permintaan Anda sudah kami terima. Nomor ini belum tercatat untuk pendaftaran tersebut, sehingga petugas DPMPTSP Kabupaten Karo akan memeriksanya terlebih dahulu. Pemberitahuan dikirim ke nomor ini setelah petugas menyetujuinya.".to_string());
        }
        if recorded.as_ref().is_none_or(|(number, _)| number != from) {
            self.db
                .set_permit_contact(&p.pendaftaran_id, from, "daftar", None, now)
                .await?;
        }
        self.db
            .record_consent(from, "opt_in", "daftar", None, now)
            .await?;
        metrics::counter!("companion_whatsapp_daftar_total", "outcome" => "accepted").increment(1);
        Ok(format!(
            "Terima kasih. Nomor ini terdaftar untuk pemberitahuan izin {} (pendaftaran {}). Balas STOP untuk berhenti.",
            p.permit_type_name.as_deref().unwrap_or("Anda"),
            p.pendaftaran_id
        ))
    }

    /// A test message from the provider settings page (a free-form text: the recipient must
    /// have written to the office within 24 hours for providers with Meta's rules).
    pub async fn send_test(&self, to: &str) -> std::result::Result<String, String> {
        let phone = phone::normalize(to).map_err(|e| e.to_string())?;
        let msg = OutgoingMessage {
            reference: format!("test-{}", self.now().timestamp()),
            to: phone,
            content: Content::Text {
                body: "Pesan uji dari SICANTIK Companion (DPMPTSP Kabupaten Karo).".into(),
            },
        };
        self.provider
            .send(&msg)
            .await
            .map(|a| a.provider_id)
            .map_err(|e| format!("{} — {}", e.kind.describe(), e.detail))
    }
}

/// Why a number may not get a message now (`None`: it may): blacklisted, or — when the message
/// needs consent — opted out or never opted in.
fn refusal(contact: Option<&companion_db::Contact>, needs_consent: bool) -> Option<&'static str> {
    match contact {
        Some(c) if c.blacklisted => Some("Nomor diblokir"),
        _ if !needs_consent => None,
        Some(c) if c.may_receive() => None,
        Some(c) if c.opted_out_at.is_some() => Some("Penerima memilih berhenti (STOP)"),
        _ => Some("Belum ada persetujuan (opt-in) dari penerima"),
    }
}

/// The facts of a permit every applicant message names (with polite stand-ins for gaps).
fn permit_facts(holder: Option<&str>, kind: Option<&str>, number: Option<&str>) -> Values {
    let mut v = Values::new();
    v.insert("nama".into(), holder.unwrap_or("Bapak/Ibu").to_string());
    v.insert("pemohon".into(), holder.unwrap_or("—").to_string());
    v.insert("jenis_izin".into(), kind.unwrap_or("izin").to_string());
    v.insert("nomor_izin".into(), number.unwrap_or("—").to_string());
    v
}

enum Outcome {
    Sent,
    Retry,
    Failed,
    Deferred,
    Skipped,
    Uncertain,
}

fn rand_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:08x}", h.finish() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_wrap_midnight_in_office_time() {
        assert_eq!(
            parse_quiet_hours("21:00-07:00"),
            Ok(Some((hm(21, 0), hm(7, 0))))
        );
        assert_eq!(parse_quiet_hours("off"), Ok(None));
        assert!(parse_quiet_hours("21-7").is_err());
    }

    #[test]
    fn references_round_trip() {
        assert_eq!(parse_reference(&reference(42)), Some(42));
        assert_eq!(parse_reference("test-1"), None);
        assert_eq!(parse_reference("wa-x"), None);
    }
}
