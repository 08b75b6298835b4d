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
//!   digest, renewal notices, security alerts to administrators and officials (`security`).
//! - **Webhooks**: receipts move messages forward only; inbound "DAFTAR <id>" opts in when it
//!   comes from the number held for that permit (else it waits for staff on `/pesan/kontak`),
//!   "STOP"/"BERHENTI" opts out at once.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use companion_db::{Database, DbError, NewMessage, Receipt, WaMessage};
use companion_domain::workflow::DocState;
use companion_domain::{EventKind, PermitStatus, StoredEventKind};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::phone;
use crate::providers::{
    Content, DeliveryStatus, FailureKind, Lookup, OutgoingMessage, Provider, SendOutcome,
    WebhookEvent,
};
use crate::templates::{Event, MessageKind, TemplateSet, Values, parameters};

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

/// When the applicant hears that the permit is ready (event 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PermitReadyTrigger {
    /// When the electronically signed letter is published (the signing workflow).
    #[default]
    Published,
    /// When the final PDF of an issued permit is imported (an office that scans the signed
    /// paper letter instead of signing electronically).
    Import,
}

impl PermitReadyTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            PermitReadyTrigger::Published => "published",
            PermitReadyTrigger::Import => "import",
        }
    }

    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "published" | "" => Ok(PermitReadyTrigger::Published),
            "import" => Ok(PermitReadyTrigger::Import),
            other => Err(format!(
                "WHATSAPP_PERMIT_READY_ON {other:?}: expected published or import"
            )),
        }
    }
}

/// A link the applicant can open without an account, for an imported letter (the companion's
/// signed, revocable applicant links, `/unduh/<token>`). Given to the notifier by the wiring,
/// which owns the document store.
pub trait ApplicantLinks: Send + Sync {
    fn link(&self, document_id: i64) -> LinkFuture<'_>;

    /// The applicant's signed tracking link (`/lacak/<token>`) for a registration, when the
    /// wiring can make one.
    fn tracking(&self, _pendaftaran_id: &str) -> Option<String> {
        None
    }
}

pub type LinkFuture<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<String, String>> + Send + 'a>>;

/// Who a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Applicant,
    Staff,
    Official,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Applicant => "applicant",
            Audience::Staff => "staff",
            Audience::Official => "official",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Audience::Applicant, Audience::Staff, Audience::Official]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// What an inbound message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// STOP, BERHENTI, BATAL (and UNSUBSCRIBE), in any case, with punctuation around.
    Stop,
    /// DAFTAR (MULAI, START) with the registration id that follows, if any.
    Daftar(String),
    /// Anything else.
    Unknown,
}

impl Command {
    /// Reads a message as people type it: "Stop.", " berhenti!! ", "Daftar: 0142…".
    pub fn parse(text: &str) -> Command {
        let rest = text.trim_start_matches(|c: char| !c.is_alphanumeric());
        let end = rest
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(rest.len());
        let (word, after) = rest.split_at(end);
        match word.to_uppercase().as_str() {
            "STOP" | "BERHENTI" | "BATAL" | "UNSUBSCRIBE" => Command::Stop,
            "DAFTAR" | "MULAI" | "START" => Command::Daftar(
                after
                    .split_whitespace()
                    .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
                    .find(|w| !w.is_empty())
                    .unwrap_or("")
                    .to_string(),
            ),
            _ => Command::Unknown,
        }
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
    /// When "permit ready" is sent: on publication after signing, or on import.
    pub permit_ready_on: PermitReadyTrigger,
    /// How many "pending > 24 h" reminders a waiting document gives (one per 24 h of waiting).
    pub pending_reminders: i64,
    /// The prompt notice of documents newly waiting for signature goes out at most this often.
    pub signature_notice_every: Duration,
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
            permit_ready_on: PermitReadyTrigger::Published,
            pending_reminders: 3,
            signature_notice_every: Duration::hours(1),
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
    /// Applicant links for imported letters (none: such letters are not announced).
    links: Option<Arc<dyn ApplicantLinks>>,
}

/// The kv key of the prompt signature notice's state.
const SIGNATURE_NOTICE_KEY: &str = "whatsapp.signature_notice";

/// What the prompt signature notice has told already.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SignatureNoticeState {
    last_at: Option<DateTime<Utc>>,
    /// Cases already announced (and still waiting).
    notified: BTreeSet<i64>,
}

/// The subject of a day's staff digest (`digest:YYYY-MM-DD`, the office's date).
fn digest_subject(day: NaiveDate) -> String {
    format!("digest:{day}")
}

fn digest_day(subject: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(subject.strip_prefix("digest:")?, "%Y-%m-%d").ok()
}

const SUPERSEDED: &str =
    "Digantikan ringkasan hari berikutnya: ringkasan hari yang sudah lewat tidak dikirim";

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
            links: None,
        }
    }

    /// Gives the notifier a way to make applicant links (for letters announced on import and
    /// renewals whose letter was imported).
    pub fn with_links(mut self, links: Arc<dyn ApplicantLinks>) -> Self {
        self.links = Some(links);
        self
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

    /// The office's calendar date of `at` (`TZ_OFFICE`).
    pub fn office_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.config.office_tz).date_naive()
    }

    /// The start of the office's calendar day that `at` falls on.
    pub fn office_day_start(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let day = self.office_date(at);
        self.config
            .office_tz
            .from_local_datetime(&day.and_time(NaiveTime::MIN))
            .earliest()
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or(at - Duration::days(1))
    }

    /// `at` in office time, for message texts (`02-12-2026 09:15 WIB`).
    fn office_time(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.config.office_tz)
            .format("%d-%m-%Y %H:%M %Z")
            .to_string()
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
        audience: Audience,
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
            audience: audience.as_str().into(),
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

    /// The applicant's number for a permit (the one recorded here, else SICANTIK's),
    /// normalised; `None` without a usable one.
    async fn applicant_number(&self, pendaftaran_id: &str) -> Result<Option<String>> {
        let Some((raw, _source)) = self.db.permit_phone(pendaftaran_id).await? else {
            return Ok(None);
        };
        match phone::normalize(&raw) {
            Ok(p) => Ok(Some(p)),
            Err(_) => {
                metrics::counter!("companion_whatsapp_invalid_numbers_total").increment(1);
                Ok(None)
            }
        }
    }

    /// Whether `phone` may get an applicant message now (opted in, not opted out, not
    /// blacklisted).
    async fn consented(&self, phone: &str) -> Result<bool> {
        Ok(refusal(self.db.contact(phone).await?.as_ref(), true).is_none())
    }

    /// A message to the applicant at `phone`. Without consent the message is kept as
    /// `skipped`, with the reason, for the staff's log.
    async fn to_applicant_at(
        &self,
        event: Event,
        subject: &str,
        phone: &str,
        dedup: &str,
        values: &Values,
    ) -> Result<Option<NewMessage>> {
        let contact = self.db.contact(phone).await?;
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
            subject,
            dedup,
            Audience::Applicant,
            phone,
            &language,
            values,
            state,
        ))
    }

    /// A message to a permit's applicant, or `None` without a usable number.
    async fn to_applicant(
        &self,
        event: Event,
        pendaftaran_id: &str,
        dedup: &str,
        values: &Values,
    ) -> Result<Option<NewMessage>> {
        let Some(phone) = self.applicant_number(pendaftaran_id).await? else {
            return Ok(None);
        };
        self.to_applicant_at(event, pendaftaran_id, &phone, dedup, values)
            .await
    }

    /// A message to a staff member or official by their own number.
    #[allow(clippy::too_many_arguments)]
    fn to_user(
        &self,
        event: Event,
        subject: &str,
        dedup: &str,
        audience: Audience,
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

    /// Messages to every enabled user of `audience`'s role with a number.
    async fn to_role(
        &self,
        event: Event,
        subject: &str,
        dedup: &str,
        audience: Audience,
        values: &Values,
    ) -> Result<Vec<NewMessage>> {
        let role = match audience {
            Audience::Official => "official",
            _ => "staff",
        };
        Ok(self
            .db
            .users_with_phone(role)
            .await?
            .into_iter()
            .filter_map(|(_, name, phone)| {
                self.to_user(
                    event,
                    subject,
                    dedup,
                    audience,
                    &name,
                    &phone,
                    values.clone(),
                )
            })
            .collect())
    }

    /// A message to one user by username, when they have a number.
    async fn to_username(
        &self,
        event: Event,
        subject: &str,
        dedup: &str,
        audience: Audience,
        username: &str,
        values: &Values,
    ) -> Result<Option<NewMessage>> {
        let Some((name, phone)) = self.db.user_phone(username).await? else {
            return Ok(None);
        };
        Ok(self.to_user(
            event,
            subject,
            dedup,
            audience,
            &name,
            &phone,
            values.clone(),
        ))
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
        v.insert("tanggal_terbit".into(), Self::date(p.issue_date));
        v.insert("keterangan".into(), "—".into());
        Ok(Some((v, p)))
    }

    /// The download link of a permit's letter for the applicant, by the configured trigger:
    /// the published signed letter (`/v/<id>/unduh`), or an applicant link to the latest
    /// imported original. `None` while there is none yet.
    async fn letter_link(&self, pendaftaran_id: &str) -> Result<Option<String>> {
        match self.config.permit_ready_on {
            PermitReadyTrigger::Published => {
                let cases = self.db.signing_cases_for_permit(pendaftaran_id).await?;
                Ok(cases
                    .iter()
                    .find(|c| DocState::parse(&c.state) == Some(DocState::Published))
                    .map(|c| self.link(&format!("/v/{}/unduh", c.verification_id))))
            }
            PermitReadyTrigger::Import => {
                let docs = self.db.documents_for_permit(pendaftaran_id).await?;
                let Some(doc) = docs
                    .iter()
                    .filter(|d| {
                        companion_domain::DocumentKind::parse(&d.kind)
                            == Some(companion_domain::DocumentKind::Original)
                    })
                    .max_by_key(|d| d.id)
                else {
                    return Ok(None);
                };
                self.applicant_link(doc.id).await
            }
        }
    }

    async fn applicant_link(&self, document_id: i64) -> Result<Option<String>> {
        let Some(links) = &self.links else {
            tracing::warn!(
                "no applicant links in this notifier: an imported letter cannot be announced"
            );
            return Ok(None);
        };
        match links.link(document_id).await {
            Ok(l) => Ok(Some(l)),
            Err(e) => {
                tracing::warn!(document = document_id, error = %e, "applicant link not made");
                Ok(None)
            }
        }
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
        let Some(kind) = StoredEventKind::parse(&e.kind) else {
            return Ok(out);
        };
        // Most events (a full sync's "permit.created") send nothing: no look-ups for them.
        let doc_state = match kind {
            StoredEventKind::Permit(EventKind::PermitStatusChanged) => None,
            StoredEventKind::Document(
                s @ (DocState::Submitted
                | DocState::Approved
                | DocState::Rejected
                | DocState::Published
                | DocState::Revoked),
            ) => Some(s),
            _ => return Ok(out),
        };
        let payload: serde_json::Value = serde_json::from_str(&e.payload).unwrap_or_default();
        let pid = e.subject_id.as_str();
        let Some((mut values, permit)) = self.permit_values(pid).await? else {
            return Ok(out);
        };
        let dedup = format!("ev{}", e.id);
        values.insert("waktu".into(), self.office_time(e.created_at));
        let case = match payload.get("case_id").and_then(|v| v.as_i64()) {
            Some(id) => self.db.get_signing_case(id).await?,
            None => None,
        };
        let staff_link = self.link(&format!("/izin/{pid}"));
        let Some(state) = doc_state else {
            // A SICANTIK status change: the applicant, and the staff concerned.
            let word = |s: Option<&str>| match s.and_then(PermitStatus::parse) {
                Some(PermitStatus::Issued) => "izin telah terbit",
                Some(PermitStatus::InProcess) => "sedang diproses",
                None => "—",
            };
            let to = payload.get("to").and_then(|v| v.as_str());
            let from = payload.get("from").and_then(|v| v.as_str());
            values.insert("status".into(), word(to).into());
            values.insert("status_lama".into(), word(from).into());
            let cases = self.db.signing_cases_for_permit(pid).await?;
            // An issued letter's public page when there is one; else the applicant's own
            // tracking link, which shows the steps done and to come.
            let issued = to.and_then(PermitStatus::parse) == Some(PermitStatus::Issued);
            let tracking = self.links.as_ref().and_then(|l| l.tracking(pid));
            let public = match (cases.first(), tracking) {
                (Some(c), _) if issued => self.link(&format!("/v/{}", c.verification_id)),
                (_, Some(t)) => t,
                (Some(c), None) => self.link(&format!("/v/{}", c.verification_id)),
                (None, None) => self.config.renewal_url.clone(),
            };
            values.insert("tautan".into(), public);
            out.extend(
                self.to_applicant(Event::StatusChanged, pid, &dedup, &values)
                    .await?,
            );
            values.insert("tautan".into(), staff_link);
            // The staff concerned: whoever submitted the letter for signing, else whoever
            // imported it, else every staff member with a number (an issued permit without
            // its letter is their task).
            let concerned = match cases.iter().find_map(|c| c.submitted_by.clone()) {
                Some(by) => Some(by),
                None => self.db.latest_document_importer(pid).await?,
            };
            let one = match &concerned {
                Some(by) => {
                    self.to_username(
                        Event::StatusChanged,
                        pid,
                        &dedup,
                        Audience::Staff,
                        by,
                        &values,
                    )
                    .await?
                }
                None => None,
            };
            match one {
                Some(m) => out.push(m),
                None => out.extend(
                    self.to_role(Event::StatusChanged, pid, &dedup, Audience::Staff, &values)
                        .await?,
                ),
            }
            return Ok(out);
        };
        let Some(case) = case else {
            return Ok(out);
        };
        let reason = payload
            .get("reason")
            .and_then(|v| v.as_str())
            .filter(|r| !r.trim().is_empty())
            .map(str::to_string)
            .or_else(|| case.reason.clone());
        if let Some(r) = &reason {
            values.insert("keterangan".into(), r.clone());
        }
        let from = payload
            .get("from")
            .and_then(|v| v.as_str())
            .and_then(DocState::parse);
        values.insert("status_lama".into(), doc_words(from).into());
        values.insert("status".into(), doc_words(Some(state)).into());
        values.insert("tautan".into(), staff_link.clone());
        let submitter = case.submitted_by.clone();
        let to_submitter = |values: Values| {
            let submitter = submitter.clone();
            let dedup = dedup.clone();
            async move {
                match submitter {
                    Some(by) => {
                        self.to_username(
                            Event::StatusChanged,
                            pid,
                            &dedup,
                            Audience::Staff,
                            &by,
                            &values,
                        )
                        .await
                    }
                    None => Ok(None),
                }
            }
        };
        match state {
            DocState::Submitted => {
                out.extend(
                    self.to_role(
                        Event::ApprovalRequired,
                        pid,
                        &dedup,
                        Audience::Official,
                        &values,
                    )
                    .await?,
                );
            }
            DocState::Approved | DocState::Rejected => {
                out.extend(to_submitter(values.clone()).await?);
            }
            DocState::Published => {
                if let Some(signer) = &case.signer_name {
                    values.insert(
                        "status".into(),
                        format!("ditandatangani oleh {signer} dan diterbitkan"),
                    );
                }
                out.extend(to_submitter(values.clone()).await?);
                if self.config.permit_ready_on == PermitReadyTrigger::Published {
                    values.insert(
                        "tautan".into(),
                        self.link(&format!("/v/{}/unduh", case.verification_id)),
                    );
                    out.extend(
                        self.to_applicant(Event::PermitReady, pid, &dedup, &values)
                            .await?,
                    );
                }
            }
            DocState::Revoked => {
                out.extend(to_submitter(values.clone()).await?);
                // The applicant holds a download link: it now answers "dokumen ini telah
                // dicabut"; they hear it here first, with the reason.
                if permit.status == PermitStatus::Issued || case.signed_document_id.is_some() {
                    values.insert(
                        "tautan".into(),
                        self.link(&format!("/v/{}/unduh", case.verification_id)),
                    );
                    out.extend(
                        self.to_applicant(Event::StatusChanged, pid, &dedup, &values)
                            .await?,
                    );
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

    /// Documents waiting more than 24 hours for a person: a reminder to whoever must act — the
    /// officials for a document waiting for approval, the approving official (else every
    /// official) for one waiting for signature — again after every further 24 hours of
    /// waiting, at most `pending_reminders` times, counted from when the document entered its
    /// state (a failed signing attempt does not restart the clock). A missed day sends only the
    /// reminder now due.
    pub async fn pending_reminders(&self) -> Result<u64> {
        let now = self.now();
        let max = self.config.pending_reminders;
        if max <= 0 {
            return Ok(0);
        }
        let mut out = Vec::new();
        for c in self.db.cases_waiting(now - Duration::hours(24)).await? {
            let Some(state) = DocState::parse(&c.state) else {
                continue;
            };
            let hours = (now - c.since).num_hours();
            let n = (hours / 24).min(max);
            if n < 1 {
                continue;
            }
            let Some((mut values, _)) = self.permit_values(&c.pendaftaran_id).await? else {
                continue;
            };
            let words = match state {
                DocState::Submitted => "menunggu persetujuan",
                _ => "menunggu tanda tangan",
            };
            values.insert("status".into(), words.into());
            values.insert("jam".into(), hours.to_string());
            values.insert("sejak".into(), self.office_time(c.since));
            values.insert(
                "tautan".into(),
                self.link(&format!("/izin/{}", c.pendaftaran_id)),
            );
            let dedup = format!(
                "pending:{}:{}:{}:{n}",
                c.id,
                state.as_str(),
                c.since.timestamp()
            );
            let signer = match (state, &c.decided_by) {
                (DocState::Approved | DocState::Stamped, Some(by)) => {
                    self.to_username(
                        Event::PendingReminder,
                        &c.pendaftaran_id,
                        &dedup,
                        Audience::Official,
                        by,
                        &values,
                    )
                    .await?
                }
                _ => None,
            };
            match signer {
                Some(m) => out.push(m),
                None => out.extend(
                    self.to_role(
                        Event::PendingReminder,
                        &c.pendaftaran_id,
                        &dedup,
                        Audience::Official,
                        &values,
                    )
                    .await?,
                ),
            }
        }
        Ok(self.db.enqueue_messages(&out).await?)
    }

    /// Cases waiting for signature (approved, stamped), oldest first.
    async fn waiting_for_signature(&self) -> Result<Vec<companion_db::SigningCase>> {
        let mut cases = Vec::new();
        for state in [DocState::Approved, DocState::Stamped] {
            cases.extend(self.db.signing_cases_in(state.as_str(), 1000).await?);
        }
        cases.sort_by_key(|c| (c.updated_at, c.id));
        Ok(cases)
    }

    /// The "1. jenis - pemohon No: id; 2. …" list of a notice (at most five, then a count).
    async fn case_list(&self, cases: &[&companion_db::SigningCase]) -> Result<String> {
        let mut items = Vec::new();
        for (i, c) in cases.iter().take(5).enumerate() {
            let p = self.db.get_permit(&c.pendaftaran_id).await?;
            let kind = p
                .as_ref()
                .and_then(|p| p.permit_type_name.clone())
                .unwrap_or_else(|| "izin".into());
            let holder = p
                .as_ref()
                .and_then(|p| p.applicant_name.clone())
                .unwrap_or_else(|| "—".into());
            items.push(format!(
                "{}. {kind} - {holder} No: {}",
                i + 1,
                c.pendaftaran_id
            ));
        }
        if cases.len() > 5 {
            items.push(format!("dan {} lainnya", cases.len() - 5));
        }
        Ok(items.join("; "))
    }

    /// The staff's daily digest (documents awaiting signature, with the "PDF belum diunggah"
    /// count beside), once a day from `digest_at` office time, outside quiet hours, only when a
    /// document awaits signature. Today's digest supersedes one of an earlier day still queued
    /// (a rate limit held it): a stale count is not sent.
    pub async fn daily_digest(&self) -> Result<u64> {
        let now = self.now();
        let local = now.with_timezone(&self.config.office_tz);
        if local.time() < self.config.digest_at || self.quiet_until(now).is_some() {
            return Ok(0);
        }
        let subject = digest_subject(local.date_naive());
        self.db.supersede_digests(&subject, SUPERSEDED, now).await?;
        let waiting = self.waiting_for_signature().await?;
        if waiting.is_empty() {
            return Ok(0);
        }
        let no_pdf = self.db.permits_waiting_for_pdf().await?;
        let mut values = Values::new();
        values.insert("jumlah".into(), waiting.len().to_string());
        values.insert(
            "daftar".into(),
            self.case_list(&waiting.iter().collect::<Vec<_>>()).await?,
        );
        values.insert("belum_diunggah".into(), no_pdf.to_string());
        values.insert("tautan".into(), self.link("/tte"));
        let out = self
            .to_role(
                Event::AwaitingSignature,
                &subject,
                &subject,
                Audience::Staff,
                &values,
            )
            .await?;
        Ok(self.db.enqueue_messages(&out).await?)
    }

    /// The prompt notice of documents newly waiting for signature: those not announced yet, in
    /// one message at most every `signature_notice_every` (and not in quiet hours: they wait
    /// for the next notice).
    pub async fn signature_notices(&self) -> Result<u64> {
        let now = self.now();
        let mut state: SignatureNoticeState = match self.db.get_kv(SIGNATURE_NOTICE_KEY).await? {
            Some((json, _)) => serde_json::from_str(&json).unwrap_or_default(),
            None => SignatureNoticeState::default(),
        };
        let waiting = self.waiting_for_signature().await?;
        let ids: BTreeSet<i64> = waiting.iter().map(|c| c.id).collect();
        let fresh: Vec<&companion_db::SigningCase> = waiting
            .iter()
            .filter(|c| !state.notified.contains(&c.id))
            .collect();
        let due = state
            .last_at
            .is_none_or(|t| now - t >= self.config.signature_notice_every);
        if fresh.is_empty() || !due || self.quiet_until(now).is_some() {
            // Forget cases no longer waiting (signed, rejected), so the state stays small.
            if state.notified.iter().any(|id| !ids.contains(id)) {
                state.notified.retain(|id| ids.contains(id));
                self.save_notice_state(&state).await?;
            }
            return Ok(0);
        }
        let no_pdf = self.db.permits_waiting_for_pdf().await?;
        let mut values = Values::new();
        values.insert("jumlah".into(), fresh.len().to_string());
        values.insert("daftar".into(), self.case_list(&fresh).await?);
        values.insert("belum_diunggah".into(), no_pdf.to_string());
        values.insert("tautan".into(), self.link("/tte"));
        let dedup = format!("signnotice:{}", now.timestamp());
        let out = self
            .to_role(
                Event::AwaitingSignature,
                "tte",
                &dedup,
                Audience::Staff,
                &values,
            )
            .await?;
        let n = self.db.enqueue_messages(&out).await?;
        state.last_at = Some(now);
        state.notified = ids;
        self.save_notice_state(&state).await?;
        Ok(n)
    }

    async fn save_notice_state(&self, state: &SignatureNoticeState) -> Result<()> {
        let json = serde_json::to_string(state)
            .map_err(|e| NotifyError::Invalid(format!("signature notice state: {e}")))?;
        self.db.set_kv(SIGNATURE_NOTICE_KEY, &json).await?;
        Ok(())
    }

    /// "Permit ready" on import (`PermitReadyTrigger::Import`): an issued permit whose final
    /// letter was imported in the last 7 days and that has had no "permit ready" message gets
    /// one with an applicant link to the letter (a permit imported while still in process is
    /// announced once SICANTIK issues it).
    pub async fn permit_ready_on_import(&self) -> Result<u64> {
        if self.config.permit_ready_on != PermitReadyTrigger::Import {
            return Ok(0);
        }
        let since = self.now() - Duration::days(7);
        let mut out = Vec::new();
        for l in self.db.imported_letters_unannounced(since, 200).await? {
            let Some(phone) = self.applicant_number(&l.pendaftaran_id).await? else {
                continue;
            };
            let Some((mut values, _)) = self.permit_values(&l.pendaftaran_id).await? else {
                continue;
            };
            // A link is made only for a message that will go (none for the log of a skip).
            let link = if self.consented(&phone).await? {
                match self.applicant_link(l.document_id).await? {
                    Some(link) => link,
                    None => continue,
                }
            } else {
                "—".to_string()
            };
            values.insert("tautan".into(), link);
            let dedup = format!("ready:{}:{}", l.pendaftaran_id, l.document_id);
            out.extend(
                self.to_applicant_at(
                    Event::PermitReady,
                    &l.pendaftaran_id,
                    &phone,
                    &dedup,
                    &values,
                )
                .await?,
            );
        }
        Ok(self.db.enqueue_messages(&out).await?)
    }

    /// Renewal notices for confirmed renewals whose new permit is issued and whose letter can
    /// be downloaded (by the configured trigger: published after signing, or imported). They go
    /// to the new permit's number when it has consent, else to the renewed permit's consented
    /// number (the applicant who asked for the renewal), else — for the log — skipped at the new
    /// permit's number (or the old one's).
    pub async fn renewal_notices(&self) -> Result<u64> {
        use companion_domain::renewals::RenewalState;
        let mut out = Vec::new();
        for r in self
            .db
            .list_renewals(Some(RenewalState::Confirmed.as_str()))
            .await?
        {
            let dedup = format!("renewal:{}", r.renewal_id);
            let Some((mut values, new)) = self.permit_values(&r.renewal_id).await? else {
                continue;
            };
            if new.status != PermitStatus::Issued {
                continue;
            }
            let new_number = self.applicant_number(&r.renewal_id).await?;
            let old_number = self.applicant_number(&r.renews_id).await?;
            let mut phone = None;
            for n in [&new_number, &old_number].into_iter().flatten() {
                if self.consented(n).await? {
                    phone = Some(n.clone());
                    break;
                }
            }
            let consented = phone.is_some();
            let Some(phone) = phone.or(new_number).or(old_number) else {
                continue;
            };
            if self.db.message_exists(&format!("{dedup}:{phone}")).await? {
                continue;
            }
            // Not announced before the letter is there (no link made for a skip's record).
            let link = if consented {
                match self.letter_link(&r.renewal_id).await? {
                    Some(l) => l,
                    None => continue,
                }
            } else {
                "—".into()
            };
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
            values.insert("berlaku_mulai".into(), Self::date(new.issue_date));
            values.insert(
                "masa_berlaku".into(),
                validity_years(new.issue_date, new.expiry_date)
                    .map(|y| y.to_string())
                    .unwrap_or_else(|| "—".into()),
            );
            values.insert("tautan".into(), link);
            out.extend(
                self.to_applicant_at(
                    Event::RenewalApproved,
                    &r.renewal_id,
                    &phone,
                    &dedup,
                    &values,
                )
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
            + self.signature_notices().await?
            + self.permit_ready_on_import().await?
            + self.renewal_notices().await?
            + self.security_alerts().await?)
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
                day_start: self.office_day_start(now),
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
        let kind = MessageKind::parse(&m.event);
        let event = kind.event();
        let to_applicant = Audience::parse(&m.audience) == Some(Audience::Applicant);
        // A row of no known kind is a reply to the person's own message. The survey invitation
        // (issue 24) is an applicant message like the events — consent, quiet hours, the
        // approved template; a security alert is a templated staff message.
        let is_reply = kind == MessageKind::Reply;
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
        // A digest of an earlier day (held by a limit, or quiet hours) is stale: today's
        // replaces it, or none when nothing waits any more.
        if event == Some(Event::AwaitingSignature)
            && let Some(day) = m.subject_id.as_deref().and_then(digest_day)
            && day < self.office_date(now)
        {
            self.db
                .message_deferred(m.id, &self.owner, None, SUPERSEDED, now)
                .await?;
            return Ok(Outcome::Skipped);
        }
        // A security alert only to a number that is still an enabled administrator's or
        // official's (the role may have been taken back since it was queued).
        if matches!(kind, MessageKind::Security(_))
            && !crate::security::still_privileged(&self.db, &m.phone).await?
        {
            self.db
                .message_deferred(
                    m.id,
                    &self.owner,
                    None,
                    "Penerima bukan lagi administrator atau pejabat aktif",
                    now,
                )
                .await?;
            return Ok(Outcome::Skipped);
        }
        // Quiet hours: applicants, and the staff's scheduled messages (digest, notices,
        // reminders) — not a reply, nor an event a person is waiting on. Security alerts are
        // not held either: rare (once per grant, once a day per attacked account) and urgent.
        let scheduled = matches!(
            event,
            Some(Event::AwaitingSignature | Event::PendingReminder)
        );
        if (to_applicant || scheduled)
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
                        &final_failure(
                            FailureKind::TemplateNotApproved,
                            &format!("{} ({})", m.template, m.language),
                            NoRetry::Permanent,
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
                let detail = if retry {
                    format!("{} — {}", e.kind.describe(), e.detail)
                } else {
                    let why = if e.kind.retryable() {
                        NoRetry::AttemptsUsed(m.attempts)
                    } else {
                        NoRetry::Permanent
                    };
                    final_failure(e.kind, &e.detail, why)
                };
                self.db
                    .message_failed(
                        m.id,
                        Some(&self.owner),
                        e.kind.as_str(),
                        e.code.as_deref(),
                        &detail,
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
                            Some(final_failure(k, &d, NoRetry::ReportedAfterSending)),
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
        let mut dedup_key = dedup_key;
        let reply = match Command::parse(text) {
            Command::Stop => {
                self.db
                    .record_consent(&phone, "opt_out", "whatsapp", None, now)
                    .await?;
                Some("Anda tidak akan menerima pesan lagi dari DPMPTSP Kabupaten Karo. Kirim DAFTAR <nomor pendaftaran> untuk berlangganan kembali.".to_string())
            }
            Command::Daftar(id) => {
                let permit = if id.is_empty() {
                    None
                } else {
                    self.db.get_permit(&id).await?
                };
                match permit {
                    Some(p) => Some(self.daftar(&p, &phone, now).await?),
                    None => Some("Nomor pendaftaran tidak ditemukan. Kirim DAFTAR diikuti nomor pendaftaran pada tanda terima Anda.".to_string()),
                }
            }
            Command::Unknown => {
                // A short help, once per number (its key is the number's, not the message's).
                dedup_key = format!("help:{phone}");
                Some(format!(
                    "Pesan ini dikirim otomatis oleh DPMPTSP Kabupaten Karo. Perintah yang dikenal: DAFTAR <nomor pendaftaran> untuk menerima pemberitahuan izin, STOP untuk berhenti. Pertanyaan lain: {}.",
                    self.config.office_contact
                ))
            }
        };
        if let Some(body) = reply {
            // A free-form reply: the person just wrote, so the 24-hour window is open.
            let m = NewMessage {
                dedup_key,
                event: "reply".into(),
                subject_id: None,
                audience: Audience::Applicant.as_str().into(),
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

/// Why a failed message is not tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoRetry {
    /// The failure does not pass with time (not on WhatsApp, template not approved…).
    Permanent,
    /// A passing failure, but every attempt was used.
    AttemptsUsed(i64),
    /// The provider took the message and reported it failed later (a receipt).
    ReportedAfterSending,
}

/// The staff's words for a message that failed for good: what went wrong, that it will not
/// be tried again, and why (the failure does not pass with time, or every attempt was used).
pub fn final_failure(kind: FailureKind, detail: &str, why: NoRetry) -> String {
    let what = match kind {
        FailureKind::RateLimited => "Dibatasi penyedia: terlalu banyak pesan",
        FailureKind::ProviderUnavailable => "Layanan penyedia tidak tersedia",
        FailureKind::Timeout => "Penyedia tidak menjawab tepat waktu",
        other => other.describe(),
    };
    let why = match why {
        NoRetry::AttemptsUsed(n) => {
            format!("sudah dicoba {n} kali (batas WHATSAPP_MAX_ATTEMPTS)")
        }
        NoRetry::Permanent => "kesalahan ini tidak hilang dengan mencoba ulang; perbaiki penyebabnya lalu pilih \"Kirim ulang\"".to_string(),
        NoRetry::ReportedAfterSending => {
            "penyedia melaporkan pesan gagal setelah menerimanya; mengirim lagi bisa menggandakannya".to_string()
        }
    };
    let detail = detail.trim();
    if detail.is_empty() {
        format!("{what}. Tidak akan dicoba lagi: {why}.")
    } else {
        format!("{what} — {detail}. Tidak akan dicoba lagi: {why}.")
    }
}

/// A signing state in the words of a status message.
fn doc_words(state: Option<DocState>) -> &'static str {
    match state {
        Some(DocState::Imported) => "berkas diunggah",
        Some(DocState::Submitted) => "menunggu persetujuan",
        Some(DocState::Approved) => "disetujui pejabat",
        Some(DocState::Rejected) => "ditolak pejabat",
        Some(DocState::Stamped) => "menunggu tanda tangan",
        Some(DocState::Signed) => "ditandatangani",
        Some(DocState::Published) => "ditandatangani dan diterbitkan",
        Some(DocState::Revoked) => "dicabut",
        None => "—",
    }
}

/// Whole years from `from` to `to` (a permit's validity), rounded to the nearest year.
fn validity_years(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Option<i64> {
    let days = (to? - from?).num_days();
    (days > 0).then(|| ((days as f64) / 365.25).round().max(1.0) as i64)
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
    fn commands_are_read_as_people_type_them() {
        for t in [
            "stop",
            "Stop.",
            "  STOP!! ",
            "berhenti",
            "Batal.",
            "*stop*\n",
        ] {
            assert_eq!(Command::parse(t), Command::Stop, "{t:?}");
        }
        assert_eq!(
            Command::parse("Daftar: 0142307703072025."),
            Command::Daftar("0142307703072025".into())
        );
        assert_eq!(Command::parse("DAFTAR"), Command::Daftar(String::new()));
        for t in ["", "halo", "stopp", "terima kasih", "batalkan"] {
            assert_eq!(Command::parse(t), Command::Unknown, "{t:?}");
        }
    }

    #[test]
    fn a_final_failure_says_it_will_not_be_retried_and_why() {
        let t = final_failure(FailureKind::RateLimited, "429", NoRetry::AttemptsUsed(3));
        assert!(!t.contains("dicoba lagi nanti"), "{t}");
        assert!(
            t.contains("Tidak akan dicoba lagi") && t.contains("3 kali"),
            "{t}"
        );
        let t = final_failure(FailureKind::NotOnWhatsApp, "", NoRetry::Permanent);
        assert!(t.contains("tidak hilang dengan mencoba ulang"), "{t}");
        assert_eq!(
            validity_years(
                NaiveDate::from_ymd_opt(2026, 1, 1),
                NaiveDate::from_ymd_opt(2030, 12, 31)
            ),
            Some(5)
        );
        assert_eq!(
            digest_day(&digest_subject(NaiveDate::MIN)),
            Some(NaiveDate::MIN)
        );
    }

    #[test]
    fn references_round_trip() {
        assert_eq!(parse_reference(&reference(42)), Some(42));
        assert_eq!(parse_reference("test-1"), None);
        assert_eq!(parse_reference("wa-x"), None);
    }
}
