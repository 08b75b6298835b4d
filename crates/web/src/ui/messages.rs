//! WhatsApp for staff: the message log (retry, cancel), the message texts per event and
//! language, applicants' numbers and consent (form, CSV import, opt-out and blacklist), the
//! provider's settings (approved templates, a test message) and renewal links. Reading is for
//! everyone who sees permits; changing needs `ManageNotifications`. No credential is ever shown.

use axum::Form;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use companion_db::{Contact, MessageQuery, WaMessage};
use companion_domain::Permission;
use companion_domain::permits::PermitView;
use companion_notify::providers::FailureKind;
use companion_notify::templates::{self, Event, LANGUAGES, TemplateSet};
use companion_notify::{Notifier, phone};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Client, Me, Nav, PageError, PageResult, layout, notice, num, redirect_with_notice};
use crate::api::{Path, Query};
use crate::auth::{ClientAddr, Principal, audit_record};
use crate::{AppState, Shared};

/// Messages per page of the log.
const PAGE_SIZE: i64 = 50;
/// Days in the per-day table.
const DAYS: i64 = 14;
/// Contacts listed at once.
const CONTACTS: i64 = 200;
/// Lines a CSV import may have.
const MAX_IMPORT_LINES: usize = 5000;

const STATES: [&str; 8] = [
    "queued",
    "sending",
    "sent",
    "delivered",
    "read",
    "failed",
    "cancelled",
    "skipped",
];

pub fn state_label(s: &str) -> &str {
    match s {
        "queued" => "Dalam antrean",
        "sending" => "Sedang dikirim",
        "sent" => "Terkirim",
        "delivered" => "Diterima",
        "read" => "Dibaca",
        "failed" => "Gagal",
        "cancelled" => "Dibatalkan",
        "skipped" => "Dilewati",
        other => other,
    }
}

/// CSS classes for a state: `wa-state wa-<state>` plus the stylesheet's colours.
fn state_class(s: &str) -> String {
    let colour = match s {
        "failed" => "outcome failed",
        "sent" | "delivered" | "read" => "status issued",
        "queued" | "sending" => "status in_process",
        _ => "muted",
    };
    format!("wa-state wa-{s} {colour}")
}

fn event_label(key: &str) -> &str {
    use companion_notify::templates::MessageKind;
    match MessageKind::parse(key) {
        MessageKind::Event(e) => e.label(),
        MessageKind::SurveyInvitation => "Undangan survei kepuasan",
        MessageKind::Security(s) => s.label(),
        MessageKind::Reply => key,
    }
}

fn audience_label(a: &str) -> &str {
    match a {
        "applicant" => "Pemohon",
        "staff" => "Staf",
        "official" => "Pejabat",
        other => other,
    }
}

const FAILURE_KINDS: [FailureKind; 11] = [
    FailureKind::NotOnWhatsApp,
    FailureKind::WindowClosed,
    FailureKind::TemplateNotApproved,
    FailureKind::TemplateParameters,
    FailureKind::RateLimited,
    FailureKind::Unauthorized,
    FailureKind::Payment,
    FailureKind::InvalidRequest,
    FailureKind::ProviderUnavailable,
    FailureKind::Timeout,
    FailureKind::Other,
];

/// Why a message failed or was skipped, in plain words.
fn failure_text(m: &WaMessage) -> String {
    if let Some(d) = m.failure_detail.as_deref().filter(|d| !d.is_empty()) {
        return d.to_string();
    }
    m.failure_kind
        .as_deref()
        .map(|k| {
            FAILURE_KINDS
                .iter()
                .find(|f| f.as_str() == k)
                .map(|f| f.describe().to_string())
                .unwrap_or_else(|| k.to_string())
        })
        .unwrap_or_default()
}

fn when(state: &AppState, t: Option<DateTime<Utc>>) -> String {
    t.map(|t| state.office_time(t))
        .unwrap_or_else(|| "—".into())
}

/// The notifier's clock when there is one (tests move it), else the system's.
fn now(state: &AppState) -> DateTime<Utc> {
    state
        .notifier
        .as_ref()
        .map(|n| n.now())
        .unwrap_or_else(Utc::now)
}

fn may_manage(me: &Principal) -> bool {
    me.may(Permission::ManageNotifications)
}

fn not_configured() -> Markup {
    html! {
        div.notice.warn #whatsapp-not-configured role="status" {
            "WhatsApp belum dikonfigurasi di server ini: pesan tidak dikirim. Data di bawah tetap dapat dilihat."
        }
    }
}

fn tabs(me: &Principal, active: &str) -> Markup {
    let items = [
        ("/pesan", "Log pesan", true),
        ("/pesan/templat", "Templat", true),
        ("/pesan/kontak", "Kontak & persetujuan", true),
        ("/pesan/perpanjangan", "Perpanjangan", true),
        ("/pesan/penyedia", "Penyedia", may_manage(me)),
    ];
    html! {
        p.tabs #whatsapp-tabs {
            @for (i, (href, label, shown)) in items.iter().enumerate() {
                @if *shown {
                    @if i > 0 { " · " }
                    @if *href == active { b { (label) } } @else { a href=(href) { (label) } }
                }
            }
        }
    }
}

async fn audit(
    state: &AppState,
    me: &Principal,
    addr: &ClientAddr,
    action: &str,
    target: Option<(&str, String)>,
    details: serde_json::Value,
) {
    state
        .audit(audit_record(Some(&me.user), addr, action, target, details))
        .await;
}

fn page(me: &Principal, title: &str, content: Markup) -> Response {
    layout(me, Nav::Messages, title, content).into_response()
}

fn csrf_field(me: &Principal) -> Markup {
    html! { input type="hidden" name="csrf" value=(me.csrf()); }
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        s.append_pair(k, v);
    }
    s.finish()
}

// --- the message log ----------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    pub keadaan: Option<String>,
    pub peristiwa: Option<String>,
    pub telepon: Option<String>,
    pub hal: Option<String>,
    pub pesan: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Per day and event: (sent or further, delivered or further, read, failed).
type DayRow = (String, String, [i64; 4]);

fn day_rows(days: &[companion_db::MessageDay]) -> Vec<DayRow> {
    let mut rows: Vec<DayRow> = Vec::new();
    for d in days {
        if !rows
            .last()
            .is_some_and(|(day, event, _)| *day == d.day && *event == d.event)
        {
            rows.push((d.day.clone(), d.event.clone(), [0; 4]));
        }
        if let Some((_, _, n)) = rows.last_mut() {
            match d.state.as_str() {
                "sent" => n[0] += d.messages,
                "delivered" => {
                    n[0] += d.messages;
                    n[1] += d.messages;
                }
                "read" => {
                    n[0] += d.messages;
                    n[1] += d.messages;
                    n[2] += d.messages;
                }
                "failed" => n[3] += d.messages,
                _ => {}
            }
        }
    }
    rows.reverse();
    rows
}

/// `GET /pesan`: counts, the last days, and the log with filters.
pub async fn log(State(state): State<Shared>, Me(me): Me, Query(q): Query<LogQuery>) -> PageResult {
    let filter_state = nonempty(&q.keadaan).filter(|s| STATES.contains(&s.as_str()));
    let filter_event = nonempty(&q.peristiwa).filter(|e| Event::parse(e).is_some());
    let filter_phone = nonempty(&q.telepon).map(|p| {
        // "0812…" finds "+62812…": search by the digits after the country code or trunk zero.
        let digits: String = p.chars().filter(char::is_ascii_digit).collect();
        digits
            .strip_prefix('0')
            .or_else(|| digits.strip_prefix("62"))
            .map(str::to_string)
            .unwrap_or(digits)
    });
    let page_no = q
        .hal
        .as_deref()
        .and_then(|h| h.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1);
    let mut rows = state
        .db
        .list_messages(&MessageQuery {
            state: filter_state.clone(),
            event: filter_event.clone(),
            phone: filter_phone.clone().filter(|p| !p.is_empty()),
            limit: PAGE_SIZE + 1,
            offset: (page_no - 1) * PAGE_SIZE,
        })
        .await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let counts = state.db.message_counts().await?;
    let days = day_rows(
        &state
            .db
            .message_days(now(&state) - chrono::Duration::days(DAYS), |t| {
                t.with_timezone(&state.office_tz).date_naive()
            })
            .await?,
    );
    let manage = may_manage(&me);
    let fs = filter_state.clone().unwrap_or_default();
    let fe = filter_event.clone().unwrap_or_default();
    let fp = nonempty(&q.telepon).unwrap_or_default();
    let link = |page: i64| {
        format!(
            "/pesan?{}",
            query_string(&[
                ("keadaan", &fs),
                ("peristiwa", &fe),
                ("telepon", &fp),
                ("hal", &page.to_string()),
            ])
        )
    };
    let content = html! {
        h1 { "Pesan WhatsApp" }
        (tabs(&me, "/pesan"))
        (notice(q.pesan.as_deref()))
        @if state.notifier.is_none() { (not_configured()) }
        section.card #message-counts { h2 { "Menurut keadaan" }
            @if counts.is_empty() { p.muted { "Belum ada pesan." } }
            ul { @for (s, n) in &counts {
                li data-state=(s) { a href={ "/pesan?keadaan=" (s) } { span class=(state_class(s)) { (state_label(s)) } } ": " b { (num(*n)) } }
            } }
        }
        section.card #message-days { h2 { "Per hari (" (DAYS) " hari terakhir)" }
            p.muted { "Terkirim termasuk yang sudah diterima atau dibaca; diterima termasuk yang sudah dibaca. Hari menurut waktu kantor (" (office_zone(&state)) ")." }
            @if days.is_empty() { p.muted { "Belum ada pesan dalam periode ini." } } @else {
                div.table-wrap { table #message-days-table {
                    thead { tr { th { "Tanggal" } th { "Peristiwa" } th { "Terkirim" } th { "Diterima" } th { "Dibaca" } th { "Gagal" } } }
                    tbody { @for (day, event, n) in &days { tr {
                        td { (day_month_year(day)) } td { (event_label(event)) }
                        td { (num(n[0])) } td { (num(n[1])) } td { (num(n[2])) } td { (num(n[3])) }
                    } } }
                } }
            }
        }
        section.card { h2 { "Log pesan" }
            form.filters method="get" action="/pesan" {
                select name="keadaan" aria-label="Keadaan" {
                    option value="" { "Semua keadaan" }
                    @for s in STATES { option value=(s) selected[fs == s] { (state_label(s)) } }
                }
                select name="peristiwa" aria-label="Peristiwa" {
                    option value="" { "Semua peristiwa" }
                    @for e in Event::ALL { option value=(e.key()) selected[fe == e.key()] { (e.label()) } }
                }
                input name="telepon" value=(fp) placeholder="Cari nomor telepon" aria-label="Nomor telepon";
                button type="submit" { "Saring" }
            }
            @if rows.is_empty() { p.muted #no-messages { "Tidak ada pesan yang cocok." } } @else {
                div.table-wrap { table #messages {
                    thead { tr {
                        th { "Waktu" } th { "Peristiwa" } th { "Penerima" } th { "Nomor" } th { "Keadaan" }
                        th { "Percobaan" } th { "ID penyedia" } th { "Alasan" } th { "Terkirim" } th { "Diterima" } th { "Dibaca" }
                        @if manage { th {} }
                    } }
                    tbody { @for m in &rows { tr data-message-id=(m.id) data-state=(m.state) {
                        td { (state.office_time(m.created_at)) }
                        td { (event_label(&m.event)) @if let Some(s) = &m.subject_id { br; small.muted { (s) } } }
                        td { (audience_label(&m.audience)) }
                        td { (m.phone) }
                        td { span class=(state_class(&m.state)) { (state_label(&m.state)) } }
                        td { (m.attempts) }
                        td { (m.provider_id.as_deref().unwrap_or("—")) }
                        td.reason { (failure_text(m)) }
                        td { (when(&state, m.sent_at)) }
                        td { (when(&state, m.delivered_at)) }
                        td { (when(&state, m.read_at)) }
                        @if manage { td {
                            @if matches!(m.state.as_str(), "failed" | "cancelled" | "skipped") {
                                form.inline method="post" action={ "/pesan/" (m.id) "/ulang" } {
                                    (csrf_field(&me)) button.link type="submit" { "Kirim ulang" } }
                            }
                            @if m.state == "queued" {
                                form.inline method="post" action={ "/pesan/" (m.id) "/batal" } {
                                    (csrf_field(&me)) button.link.danger type="submit" { "Batalkan" } }
                            }
                        } }
                    } } }
                } }
            }
            p.pager {
                @if page_no > 1 { a href=(link(page_no - 1)) { "← Sebelumnya" } " " }
                "Halaman " (page_no)
                @if more { " " a href=(link(page_no + 1)) { "Berikutnya →" } }
            }
        }
    };
    Ok(page(&me, "Pesan WhatsApp", content))
}

/// `2026-12-02` → `02-12-2026`, like every other date staff see.
fn day_month_year(iso: &str) -> String {
    chrono::NaiveDate::parse_from_str(iso, "%Y-%m-%d")
        .map(|d| d.format("%d-%m-%Y").to_string())
        .unwrap_or_else(|_| iso.to_string())
}

/// The office's zone as staff know it (WIB for Asia/Jakarta).
fn office_zone(state: &AppState) -> String {
    now(state)
        .with_timezone(&state.office_tz)
        .format("%Z")
        .to_string()
}

fn message_id(id: &str) -> Option<i64> {
    id.parse().ok()
}

/// A staff action on one message: retry (`ulang`) or cancel (`batal`).
#[derive(Clone, Copy)]
enum MessageAction {
    Retry,
    Cancel,
}

/// `?ke=izin` on a message action: back to the message's permit page instead of `/pesan`.
#[derive(Debug, Default, Deserialize)]
pub struct BackTo {
    pub ke: Option<String>,
}

async fn message_action(
    state: &AppState,
    me: &Principal,
    addr: &ClientAddr,
    id: &str,
    action: MessageAction,
    back: &BackTo,
) -> PageResult {
    let Some(id) = message_id(id) else {
        return Ok(redirect_with_notice("/pesan", "Pesan tidak ditemukan."));
    };
    // Only ever a permit page of this server (the subject of the message), never a given URL.
    let back_path = match back.ke.as_deref() {
        Some("izin") => state
            .db
            .message(id)
            .await?
            .and_then(|m| m.subject_id)
            .map(|s| permit_path(&s))
            .unwrap_or_else(|| "/pesan".into()),
        _ => "/pesan".into(),
    };
    let (done, audit_action, refused, notice) = match action {
        MessageAction::Retry => (
            state.db.retry_message(id, now(state)).await?,
            "whatsapp.retry",
            "Pesan ini tidak dapat dikirim ulang: hanya pesan yang gagal, dibatalkan atau dilewati.",
            format!("Pesan #{id} dimasukkan kembali ke antrean."),
        ),
        MessageAction::Cancel => (
            state.db.cancel_message(id, now(state)).await?,
            "whatsapp.cancel",
            "Pesan ini tidak dapat dibatalkan: hanya pesan yang masih dalam antrean.",
            format!("Pesan #{id} dibatalkan."),
        ),
    };
    if !done {
        return Ok(redirect_with_notice(&back_path, refused));
    }
    audit(
        state,
        me,
        addr,
        audit_action,
        Some(("wa_message", id.to_string())),
        serde_json::json!({}),
    )
    .await;
    Ok(redirect_with_notice(&back_path, &notice))
}

/// `POST /pesan/{id}/ulang`: a failed, cancelled or skipped message is queued again.
pub async fn retry(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Path(id): Path<String>,
    Query(back): Query<BackTo>,
) -> PageResult {
    message_action(&state, &me, &addr, &id, MessageAction::Retry, &back).await
}

/// `POST /pesan/{id}/batal`: a queued message is not sent.
pub async fn cancel(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Path(id): Path<String>,
    Query(back): Query<BackTo>,
) -> PageResult {
    message_action(&state, &me, &addr, &id, MessageAction::Cancel, &back).await
}

// --- templates ------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    pub pesan: Option<String>,
}

/// A refused template text, shown again in its form.
struct TemplateRefusal {
    event: Event,
    language: String,
    text: String,
    error: String,
}

fn language_label(l: &str) -> &str {
    match l {
        "id" => "Bahasa Indonesia",
        "en" => "English",
        other => other,
    }
}

async fn templates_view(
    state: &AppState,
    me: &Principal,
    msg: Option<&str>,
    refusal: Option<&TemplateRefusal>,
) -> Result<Markup, PageError> {
    let overrides = state.db.template_overrides().await?;
    let set =
        TemplateSet::with_edits(overrides.iter().filter_map(|t| {
            Event::parse(&t.event).map(|e| (e, t.language.clone(), t.body.clone()))
        }));
    let manage = may_manage(me);
    Ok(html! {
        h1 { "Templat pesan WhatsApp" }
        (tabs(me, "/pesan/templat"))
        (notice(msg))
        @if state.notifier.is_none() { (not_configured()) }
        p.muted { "Teks memakai variabel dalam kurung kurawal, misalnya " code { "{nama}" } ". Hanya variabel yang tercantum untuk peristiwa itu yang boleh dipakai. "
            "Untuk penyedia dengan templat yang disetujui (Meta dan mitranya), teks yang berlaku adalah templat yang disetujui; teks di sini dipakai untuk penyedia tanpa templat dan untuk pratinjau." }
        @for e in Event::ALL {
            section.card.template id={ "templat-" (e.key()) } {
                h2 { (e.label()) }
                p.muted { "Templat penyedia: " code { (e.provider_template()) }
                    " · Penerima: " @if e.to_applicant() { "pemohon" } @else { "staf/pejabat" } }
                details { summary { "Variabel yang boleh dipakai" }
                    ul.variables { @for v in e.variables() { li { code { "{" (v.name) "}" } " — " (v.label) } } } }
                @for lang in LANGUAGES {
                    @let refused = refusal.filter(|r| r.event == e && r.language == lang);
                    @let text = refused.map(|r| r.text.clone()).unwrap_or_else(|| set.text(e, lang).to_string());
                    @let edited = overrides.iter().find(|t| t.event == e.key() && t.language == lang);
                    div.template-lang id={ "templat-" (e.key()) "-" (lang) } {
                        h3 { (language_label(lang)) }
                        @if let Some(t) = edited { p.muted { "Diubah oleh " (t.updated_by.as_deref().unwrap_or("—")) " pada " (state.office_time(t.updated_at)) } }
                        @else { p.muted { "Teks bawaan." } }
                        @if let Some(r) = refused { div.error role="alert" { "Tidak disimpan: " (r.error) } }
                        form method="post" action="/pesan/templat" {
                            (csrf_field(me))
                            input type="hidden" name="peristiwa" value=(e.key());
                            input type="hidden" name="bahasa" value=(lang);
                            textarea name="teks" rows="4" cols="80" aria-label={ "Teks " (e.label()) " " (language_label(lang)) } readonly[!manage] { (text) }
                            @if manage { br; button.primary type="submit" { "Simpan" } }
                        }
                        @if refused.is_none() {
                            div.preview { b { "Pratinjau: " }
                                @match templates::render(&text, &e.sample()) {
                                    Ok(p) => span.preview-text { (p) },
                                    Err(err) => span.danger { (err.to_string()) },
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// `GET /pesan/templat`.
pub async fn templates_page(
    State(state): State<Shared>,
    Me(me): Me,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let content = templates_view(&state, &me, q.pesan.as_deref(), None).await?;
    Ok(page(&me, "Templat pesan", content))
}

#[derive(Debug, Default, Deserialize)]
pub struct TemplateForm {
    #[serde(default)]
    pub peristiwa: String,
    #[serde(default)]
    pub bahasa: String,
    #[serde(default)]
    pub teks: String,
}

/// `POST /pesan/templat`: validated before saving; a refused text comes back with the reason.
pub async fn save_template(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Form(f): Form<TemplateForm>,
) -> PageResult {
    let Some(event) = Event::parse(&f.peristiwa) else {
        return Ok(redirect_with_notice(
            "/pesan/templat",
            "Peristiwa tidak dikenal.",
        ));
    };
    if !LANGUAGES.contains(&f.bahasa.as_str()) {
        return Ok(redirect_with_notice(
            "/pesan/templat",
            "Bahasa tidak dikenal.",
        ));
    }
    // Browsers send CRLF in textareas; keep the text as typed otherwise.
    let text = f.teks.replace("\r\n", "\n");
    if let Err(e) = templates::validate(event, &text) {
        let refusal = TemplateRefusal {
            event,
            language: f.bahasa.clone(),
            text,
            error: e.to_string(),
        };
        let content = templates_view(&state, &me, None, Some(&refusal)).await?;
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            page(&me, "Templat pesan", content),
        )
            .into_response());
    }
    // The provider template name is not edited here: keep whatever is stored.
    let provider_template = state
        .db
        .template_overrides()
        .await?
        .into_iter()
        .find(|t| t.event == event.key() && t.language == f.bahasa)
        .and_then(|t| t.provider_template);
    state
        .db
        .save_template(
            event.key(),
            &f.bahasa,
            &text,
            provider_template.as_deref(),
            &me.user.username,
            now(&state),
        )
        .await?;
    if let Some(n) = &state.notifier
        && let Err(e) = n.reload_templates().await
    {
        tracing::error!(error = %e, "templates saved but not reloaded");
    }
    audit(
        &state,
        &me,
        &addr,
        "whatsapp.template_save",
        Some(("wa_template", format!("{}/{}", event.key(), f.bahasa))),
        serde_json::json!({ "length": text.chars().count() }),
    )
    .await;
    Ok(redirect_with_notice(
        "/pesan/templat",
        &format!(
            "Templat \"{}\" ({}) disimpan.",
            event.label(),
            language_label(&f.bahasa)
        ),
    ))
}

// --- contacts and consent -------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct ContactsQuery {
    pub cari: Option<String>,
    /// A number whose consent history is shown.
    pub riwayat: Option<String>,
    pub pesan: Option<String>,
}

/// The contact form's values and error, when it is shown again.
#[derive(Default)]
struct ContactFormState {
    pendaftaran_id: String,
    phone: String,
    consent: bool,
    error: Option<String>,
}

/// One CSV line's outcome.
struct ImportLine {
    line: usize,
    pendaftaran_id: String,
    outcome: Result<String, String>,
}

fn consent_state(c: &Contact) -> (&'static str, &'static str) {
    if c.blacklisted {
        ("blacklisted", "Diblokir")
    } else if c.may_receive() {
        ("opted_in", "Setuju")
    } else if c.opted_out_at.is_some() {
        ("opted_out", "Berhenti berlangganan")
    } else {
        ("none", "Belum ada persetujuan")
    }
}

fn consent_action_label(a: &str) -> &str {
    match a {
        "opt_in" => "Setuju menerima pesan",
        "opt_out" => "Berhenti berlangganan",
        "blacklist" => "Diblokir",
        "unblacklist" => "Blokir dicabut",
        other => other,
    }
}

fn source_label(s: &str) -> &str {
    match s {
        "loket" => "formulir di loket",
        "daftar" => "pesan DAFTAR dari pemohon",
        "csv" => "impor CSV",
        "staff" => "staf",
        "user" => "pemilik nomor",
        "sicantik" => "SICANTIK",
        other => other,
    }
}

async fn contacts_view(
    state: &AppState,
    me: &Principal,
    q: &ContactsQuery,
    form: &ContactFormState,
    report: Option<&[ImportLine]>,
) -> Result<Markup, PageError> {
    let search = nonempty(&q.cari);
    let contacts = state.db.list_contacts(search.as_deref(), CONTACTS).await?;
    let history_phone = nonempty(&q.riwayat).map(|p| phone::normalize(&p).unwrap_or(p));
    let history = match &history_phone {
        Some(p) => Some(state.db.consent_log(p).await?),
        None => None,
    };
    let held = state.db.daftar_requests("pending", CONTACTS).await?;
    let manage = may_manage(me);
    let import_action = format!(
        "/pesan/kontak/impor?{}",
        query_string(&[("csrf", me.csrf())])
    );
    Ok(html! {
        h1 { "Kontak & persetujuan WhatsApp" }
        (tabs(me, "/pesan/kontak"))
        (notice(q.pesan.as_deref()))
        @if state.notifier.is_none() { (not_configured()) }
        p.muted { "Nomor dari SICANTIK bukan persetujuan: pesan ke pemohon hanya dikirim setelah pemohon menyetujui (formulir di loket, impor, atau pesan DAFTAR)." }
        @if let Some(report) = report {
            section.card #import-report { h2 { "Hasil impor" }
                p { (report.iter().filter(|l| l.outcome.is_ok()).count()) " baris diimpor, "
                    (report.iter().filter(|l| l.outcome.is_err()).count()) " baris ditolak." }
                ul { @for l in report {
                    @match &l.outcome {
                        Ok(m) => li.imported data-line=(l.line) { "Baris " (l.line) " (" (l.pendaftaran_id) "): diimpor — " (m) },
                        Err(e) => li.refused.danger data-line=(l.line) { "Baris " (l.line) " (" (l.pendaftaran_id) "): ditolak — " (e) },
                    }
                } }
            }
        }
        @if manage {
            section.card #permit-contact { h2 { "Nomor pemohon untuk izin" }
                @if let Some(e) = &form.error { div.error role="alert" { (e) } }
                form method="post" action="/pesan/kontak" {
                    (csrf_field(me))
                    label { "Nomor pendaftaran " input name="pendaftaran_id" value=(form.pendaftaran_id) required; }
                    " "
                    label { "Nomor WhatsApp " input name="telepon" value=(form.phone) placeholder="08… atau +62…" inputmode="tel" required; }
                    " "
                    label { input type="checkbox" name="persetujuan" value="ya" checked[form.consent]; " Pemohon menandatangani persetujuan di loket" }
                    " "
                    button.primary type="submit" { "Simpan" }
                }
            }
            section.card #contact-import { h2 { "Impor CSV" }
                p.muted { "Kolom dengan baris judul: " code { "pendaftaran_id,telepon,persetujuan" } ". Persetujuan: " code { "ya" } " atau " code { "tidak" }
                    ". Baris yang salah dilewati dan dilaporkan; baris lain tetap diimpor." }
                form method="post" action=(import_action) enctype="multipart/form-data" {
                    input type="file" name="berkas" accept=".csv,text/csv" aria-label="Berkas CSV";
                    " " button type="submit" { "Impor berkas" }
                }
                form method="post" action="/pesan/kontak/impor" {
                    (csrf_field(me))
                    textarea name="csv" rows="4" cols="60" aria-label="Isi CSV" placeholder="pendaftaran_id,telepon,persetujuan" {}
                    br; button type="submit" { "Impor teks" }
                }
            }
        }
        @if !held.is_empty() {
            section.card #daftar-requests { h2 { "Permintaan DAFTAR menunggu pemeriksaan" }
                p.muted { "Pesan DAFTAR dari nomor yang tidak tercatat untuk izin itu (nomor SICANTIK atau nomor dari loket) belum berlaku. "
                    "Setujui hanya bila pemohon memastikan nomor ini miliknya (misalnya lewat telepon ke nomor yang tercatat atau datang ke loket)." }
                div.table-wrap { table #daftar {
                    thead { tr { th { "Diterima" } th { "Nomor pengirim" } th { "Pendaftaran" } th { "Pemohon" } th { "Nomor di SICANTIK" } th {} } }
                    tbody { @for r in &held {
                        tr data-request=(r.id) data-phone=(r.phone) {
                            td { (state.office_time(r.requested_at)) }
                            td { (r.phone) }
                            td { a href={ "/izin/" (r.pendaftaran_id) } { (r.pendaftaran_id) } }
                            td { (r.applicant_name.as_deref().unwrap_or("—")) }
                            td { (r.applicant_phone.as_deref().unwrap_or("—")) }
                            td { @if manage {
                                @for (action, text) in [("confirm", "Setujui"), ("reject", "Tolak")] {
                                    form.inline method="post" action="/pesan/kontak/daftar" {
                                        (csrf_field(me))
                                        input type="hidden" name="id" value=(r.id);
                                        input type="hidden" name="aksi" value=(action);
                                        " " button.link.danger[action == "reject"] type="submit" { (text) }
                                    }
                                }
                            } }
                        }
                    } }
                } }
            }
        }
        @if let (Some(p), Some(h)) = (&history_phone, &history) {
            section.card #consent-history { h2 { "Riwayat persetujuan " (p) }
                @if h.is_empty() { p.muted { "Belum ada catatan." } }
                ul { @for c in h { li { (state.office_time(c.at)) " — " (consent_action_label(&c.action)) " (" (source_label(&c.source))
                    @if let Some(a) = &c.actor { ", oleh " (a) } ")" } } }
            }
        }
        section.card { h2 { "Kontak" }
            form.filters method="get" action="/pesan/kontak" {
                input name="cari" value=(search.clone().unwrap_or_default()) placeholder="Cari nomor atau nama" aria-label="Cari";
                button type="submit" { "Cari" }
            }
            @if contacts.is_empty() { p.muted { "Belum ada kontak." } } @else {
                div.table-wrap { table #contacts {
                    thead { tr { th { "Nomor" } th { "Nama" } th { "Persetujuan" } th { "Berhenti" } th { "Diblokir" } th { "Pesan masuk terakhir" } th {} } }
                    tbody { @for c in &contacts {
                        @let (key, label) = consent_state(c);
                        tr data-phone=(c.phone) data-consent=(key) {
                            td { (c.phone) } td { (c.name.as_deref().unwrap_or("—")) }
                            td { (label)
                                @if let Some(at) = c.opted_in_at { br; small.muted { (source_label(c.opt_in_source.as_deref().unwrap_or("—"))) ", " (state.office_time(at)) } } }
                            td { (when(state, c.opted_out_at)) }
                            td { @if c.blacklisted { "Ya" } @else { "Tidak" } }
                            td { (when(state, c.last_inbound_at)) }
                            td {
                                a href={ "/pesan/kontak?" (query_string(&[("riwayat", &c.phone)])) } { "Riwayat" }
                                @if manage {
                                    @for (action, text) in [("opt_out", "Berhenti"), ("blacklist", "Blokir"), ("unblacklist", "Cabut blokir")] {
                                        @let shown = match action {
                                            "opt_out" => c.may_receive(),
                                            "blacklist" => !c.blacklisted,
                                            _ => c.blacklisted,
                                        };
                                        @if shown {
                                            form.inline method="post" action="/pesan/kontak/aksi" {
                                                (csrf_field(me))
                                                input type="hidden" name="telepon" value=(c.phone);
                                                input type="hidden" name="aksi" value=(action);
                                                " " button.link.danger[action != "unblacklist"] type="submit" { (text) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    } }
                } }
            }
        }
    })
}

/// `GET /pesan/kontak`.
pub async fn contacts(
    State(state): State<Shared>,
    Me(me): Me,
    Query(q): Query<ContactsQuery>,
) -> PageResult {
    let content = contacts_view(&state, &me, &q, &ContactFormState::default(), None).await?;
    Ok(page(&me, "Kontak WhatsApp", content))
}

async fn contacts_refused(state: &AppState, me: &Principal, form: ContactFormState) -> PageResult {
    let content = contacts_view(state, me, &ContactsQuery::default(), &form, None).await?;
    Ok((
        StatusCode::UNPROCESSABLE_ENTITY,
        page(me, "Kontak WhatsApp", content),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct ContactForm {
    #[serde(default)]
    pub pendaftaran_id: String,
    #[serde(default)]
    pub telepon: String,
    pub persetujuan: Option<String>,
    /// `izin`: the form was sent from the permit page, go back there.
    pub ke: Option<String>,
    /// With consent: queue again this permit's applicant messages skipped for lack of it.
    pub kirim_ulang: Option<String>,
}

fn ticked(v: Option<&str>) -> bool {
    v.is_some_and(|v| !v.is_empty())
}

/// Applies one applicant number: the permit's contact, and consent when given.
async fn apply_contact(
    state: &AppState,
    me: &Principal,
    permit: &PermitView,
    phone: &str,
    consent: bool,
    source: &str,
    consent_source: &str,
) -> Result<(), companion_db::DbError> {
    let at = now(state);
    state
        .db
        .set_permit_contact(
            &permit.pendaftaran_id,
            phone,
            source,
            Some(&me.user.username),
            at,
        )
        .await?;
    state
        .db
        .upsert_contact(phone, permit.applicant_name.as_deref(), None, at)
        .await?;
    if consent {
        state
            .db
            .record_consent(phone, "opt_in", consent_source, Some(&me.user.username), at)
            .await?;
    }
    Ok(())
}

/// `POST /pesan/kontak`: an applicant's number for a permit, with the counter's consent.
pub async fn set_contact(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Form(f): Form<ContactForm>,
) -> PageResult {
    let consent = ticked(f.persetujuan.as_deref());
    let mut form = ContactFormState {
        pendaftaran_id: f.pendaftaran_id.trim().to_string(),
        phone: f.telepon.trim().to_string(),
        consent,
        error: None,
    };
    let permit = if form.pendaftaran_id.is_empty() {
        None
    } else {
        state.db.get_permit(&form.pendaftaran_id).await?
    };
    let Some(permit) = permit else {
        form.error = Some(format!(
            "Izin dengan nomor pendaftaran \"{}\" tidak ditemukan. Tidak ada yang disimpan.",
            form.pendaftaran_id
        ));
        return contacts_refused(&state, &me, form).await;
    };
    let phone = match phone::normalize(&form.phone) {
        Ok(p) => p,
        Err(e) => {
            form.error = Some(format!(
                "{}. Tidak ada yang disimpan.",
                capitalize(&e.to_string())
            ));
            return contacts_refused(&state, &me, form).await;
        }
    };
    apply_contact(&state, &me, &permit, &phone, consent, "staff", "loket").await?;
    audit(
        &state,
        &me,
        &addr,
        "whatsapp.contact_set",
        Some(("permit", permit.pendaftaran_id.clone())),
        serde_json::json!({ "phone": phone, "consent": consent }),
    )
    .await;
    let mut msg = if consent {
        format!(
            "Nomor {phone} disimpan untuk izin {} dengan persetujuan dari loket.",
            permit.pendaftaran_id
        )
    } else {
        format!(
            "Nomor {phone} disimpan untuk izin {} (belum ada persetujuan).",
            permit.pendaftaran_id
        )
    };
    let from_permit = f.ke.as_deref() == Some("izin");
    if consent && from_permit && ticked(f.kirim_ulang.as_deref()) {
        let requeued = requeue_skipped(&state, &me, &addr, &permit.pendaftaran_id, &phone).await?;
        if requeued > 0 {
            msg.push_str(&format!(
                " {requeued} pesan yang dilewati dimasukkan kembali ke antrean."
            ));
        }
    }
    let back = if from_permit {
        permit_path(&permit.pendaftaran_id)
    } else {
        "/pesan/kontak".into()
    };
    Ok(redirect_with_notice(&back, &msg))
}

/// `/izin/{id}` with the id escaped for a path.
fn permit_path(pendaftaran_id: &str) -> String {
    format!(
        "/izin/{}",
        url::form_urlencoded::byte_serialize(pendaftaran_id.as_bytes()).collect::<String>()
    )
}

/// The permit's applicant messages to `phone` that were skipped, queued again (each audited as
/// a retry, as the button on `/pesan` would); the dispatcher checks consent again when sending.
async fn requeue_skipped(
    state: &AppState,
    me: &Principal,
    addr: &ClientAddr,
    pendaftaran_id: &str,
    phone: &str,
) -> Result<usize, companion_db::DbError> {
    let mut n = 0;
    for m in state.db.messages_for_subject(pendaftaran_id, 100).await? {
        if m.state == "skipped"
            && m.audience == "applicant"
            && m.phone == phone
            && state.db.retry_message(m.id, now(state)).await?
        {
            audit(
                state,
                me,
                addr,
                "whatsapp.retry",
                Some(("wa_message", m.id.to_string())),
                serde_json::json!({ "after": "consent" }),
            )
            .await;
            n += 1;
        }
    }
    Ok(n)
}

/// What the permit page shows about WhatsApp: the applicant's consent (with the counter form
/// when it is missing, for those who may record it) and the permit's real messages.
pub struct PermitWhatsApp {
    /// At the top of the page: the applicant gets no message; empty when consent is there.
    pub prompt: Markup,
    /// The "Notifikasi WhatsApp" section.
    pub section: Markup,
}

pub async fn permit_whatsapp(
    state: &AppState,
    me: &Principal,
    permit: &PermitView,
) -> Result<PermitWhatsApp, PageError> {
    let id = &permit.pendaftaran_id;
    let messages = state.db.messages_for_subject(id, 50).await?;
    let raw_phone = state.db.permit_phone(id).await?.map(|(p, _)| p);
    let phone = raw_phone.as_deref().and_then(|p| phone::normalize(p).ok());
    let contact = match &phone {
        Some(p) => state.db.contact(p).await?,
        None => None,
    };
    let (consent_key, consent_text) = match &contact {
        Some(c) => consent_state(c),
        None => ("none", "Belum ada persetujuan"),
    };
    let manage = may_manage(me);
    let skipped: Vec<&WaMessage> = messages
        .iter()
        .filter(|m| m.state == "skipped" && m.audience == "applicant")
        .collect();
    let prompt = if consent_key == "opted_in" {
        html! {}
    } else {
        html! {
            section.card.attention #consent-prompt data-consent=(consent_key) {
                h2 { "Pemohon belum dapat menerima WhatsApp" }
                p {
                    @match (&phone, consent_key) {
                        (None, _) => { "Belum ada nomor WhatsApp pemohon untuk izin ini." }
                        (Some(p), "blacklisted") => { "Nomor " (p) " diblokir." }
                        (Some(p), "opted_out") => { "Pemilik nomor " (p) " memilih berhenti (STOP)." }
                        (Some(p), _) => { "Nomor " (p) " belum menyetujui pesan WhatsApp." }
                    }
                    " Kabar bahwa izin sudah selesai tidak akan dikirim ke pemohon."
                }
                @for m in &skipped {
                    p.warning data-skipped-message=(m.id) {
                        "Pesan \"" (event_label(&m.event)) "\" dilewati pada " (state.office_time(m.created_at)) ": " (failure_text(m)) "."
                    }
                }
                @if manage && consent_key != "blacklisted" {
                    form.stack #consent-form method="post" action="/pesan/kontak" {
                        (csrf_field(me))
                        input type="hidden" name="pendaftaran_id" value=(id);
                        input type="hidden" name="ke" value="izin";
                        label { "Nomor WhatsApp pemohon"
                            input name="telepon" value=(phone.clone().or(raw_phone.clone()).unwrap_or_default()) placeholder="08… atau +62…" inputmode="tel" required; }
                        label.inline { input type="checkbox" name="persetujuan" value="ya" required; " Pemohon menandatangani persetujuan di loket" }
                        @if !skipped.is_empty() {
                            label.inline { input type="checkbox" name="kirim_ulang" value="ya" checked; " Kirim ulang pesan yang dilewati" }
                        }
                        button.primary type="submit" { "Simpan persetujuan" }
                    }
                } @else if !manage {
                    p.muted { "Petugas loket dapat mencatat persetujuan pemohon di halaman ini." }
                }
            }
        }
    };
    let section = html! {
        section.card #notifikasi data-consent=(consent_key) {
            h2 { "Notifikasi WhatsApp" }
            p #wa-consent data-consent=(consent_key) data-phone=(phone.clone().unwrap_or_default()) {
                "Pemohon: " (phone.clone().or(raw_phone).unwrap_or_else(|| "tanpa nomor".into())) " · " (consent_text)
                " · " a href={ "/pesan/kontak?" (query_string(&[("riwayat", phone.as_deref().unwrap_or(""))])) } { "Riwayat persetujuan" }
            }
            @if messages.is_empty() { p.muted #no-permit-messages { "Belum ada pesan untuk izin ini." } } @else {
                div.table-wrap { table #permit-messages {
                    thead { tr { th { "Waktu" } th { "Peristiwa" } th { "Penerima" } th { "Keadaan" } th { "Alasan" } @if manage { th {} } } }
                    tbody { @for m in &messages { tr data-message-id=(m.id) data-state=(m.state) {
                        td { (state.office_time(m.created_at)) }
                        td { (event_label(&m.event)) }
                        td { (audience_label(&m.audience)) br; small.muted { (m.phone) } }
                        td { span class=(state_class(&m.state)) { (state_label(&m.state)) }
                            @if let Some(t) = m.read_at.or(m.delivered_at).or(m.sent_at) { br; small.muted { (state.office_time(t)) } } }
                        td.reason { (failure_text(m)) }
                        @if manage { td.actions {
                            @if matches!(m.state.as_str(), "failed" | "cancelled" | "skipped") {
                                form.inline method="post" action={ "/pesan/" (m.id) "/ulang?ke=izin" } {
                                    (csrf_field(me)) button type="submit" data-resend=(m.id) { "Kirim ulang" } }
                            }
                        } }
                    } } }
                } }
            }
            p { a href={ "/pesan?" (query_string(&[("telepon", phone.as_deref().unwrap_or(""))])) } { "Semua pesan ke nomor ini" } }
        }
    };
    Ok(PermitWhatsApp { prompt, section })
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `ya`/`tidak` and the usual variants; `None` for anything else.
fn parse_consent(v: &str) -> Option<bool> {
    match v.trim().to_lowercase().as_str() {
        "ya" | "y" | "1" | "true" | "setuju" | "yes" => Some(true),
        "" | "tidak" | "t" | "n" | "0" | "false" | "no" => Some(false),
        _ => None,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ImportForm {
    #[serde(default)]
    pub csv: String,
}

/// The CSV text from a file upload (`berkas`) or a textarea (`csv`).
async fn import_text(state: &Shared, req: Request) -> Result<String, String> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if multipart {
        let mut m = Multipart::from_request(req, state)
            .await
            .map_err(|_| "Berkas tidak dapat dibaca.".to_string())?;
        while let Some(field) = m
            .next_field()
            .await
            .map_err(|_| "Berkas tidak dapat dibaca.".to_string())?
        {
            if matches!(field.name(), Some("berkas") | Some("csv")) {
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|_| "Berkas tidak dapat dibaca.".to_string())?;
                let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
                return String::from_utf8(bytes.to_vec())
                    .map_err(|_| "Berkas bukan teks UTF-8.".to_string());
            }
        }
        Err("Tidak ada berkas CSV yang dikirim.".into())
    } else {
        let Form(f) = Form::<ImportForm>::from_request(req, state)
            .await
            .map_err(|_| "Isian formulir tidak dapat dibaca.".to_string())?;
        Ok(f.csv)
    }
}

/// A checked CSV line, ready to apply.
struct ValidLine {
    line: usize,
    permit: PermitView,
    phone: String,
    consent: bool,
}

/// Checks every line first; only the good ones are written.
async fn check_csv(
    state: &AppState,
    text: &str,
) -> Result<(Vec<ValidLine>, Vec<ImportLine>), String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|_| "Baris judul CSV tidak dapat dibaca.".to_string())?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(c_id), Some(c_phone)) = (col("pendaftaran_id"), col("telepon")) else {
        return Err(
            "Baris judul harus memuat kolom pendaftaran_id, telepon dan persetujuan.".into(),
        );
    };
    let c_consent = col("persetujuan");
    let mut good = Vec::new();
    let mut refused = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        if i >= MAX_IMPORT_LINES {
            return Err(format!(
                "Terlalu banyak baris: paling banyak {MAX_IMPORT_LINES} per impor. Tidak ada yang disimpan."
            ));
        }
        let record = match record {
            Ok(r) => r,
            Err(_) => {
                refused.push(ImportLine {
                    line,
                    pendaftaran_id: "—".into(),
                    outcome: Err("baris tidak dapat dibaca".into()),
                });
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        let id = record.get(c_id).unwrap_or("").to_string();
        let refuse = |why: String| ImportLine {
            line,
            pendaftaran_id: if id.is_empty() {
                "—".into()
            } else {
                id.clone()
            },
            outcome: Err(why),
        };
        if id.is_empty() {
            refused.push(refuse("nomor pendaftaran kosong".into()));
            continue;
        }
        let consent = match parse_consent(c_consent.and_then(|c| record.get(c)).unwrap_or("")) {
            Some(c) => c,
            None => {
                refused.push(refuse(
                    "kolom persetujuan harus \"ya\" atau \"tidak\"".into(),
                ));
                continue;
            }
        };
        let phone = match phone::normalize(record.get(c_phone).unwrap_or("")) {
            Ok(p) => p,
            Err(e) => {
                refused.push(refuse(e.to_string()));
                continue;
            }
        };
        if !seen.insert(id.clone()) {
            refused.push(refuse(
                "nomor pendaftaran sudah ada di baris sebelumnya".into(),
            ));
            continue;
        }
        let permit = state.db.get_permit(&id).await.map_err(|e| {
            tracing::error!(error = %e, "CSV import");
            "Basis data tidak dapat dibaca. Tidak ada yang disimpan.".to_string()
        })?;
        let Some(permit) = permit else {
            refused.push(refuse(
                "izin dengan nomor pendaftaran ini tidak ditemukan".into(),
            ));
            continue;
        };
        good.push(ValidLine {
            line,
            permit,
            phone,
            consent,
        });
    }
    Ok((good, refused))
}

/// `POST /pesan/kontak/impor`: applicants' numbers from a CSV file or text.
pub async fn import(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    req: Request,
) -> PageResult {
    let text = match import_text(&state, req).await {
        Ok(t) => t,
        Err(e) => return Ok(redirect_with_notice("/pesan/kontak", &e)),
    };
    if text.trim().is_empty() {
        return Ok(redirect_with_notice(
            "/pesan/kontak",
            "CSV kosong: tidak ada yang diimpor.",
        ));
    }
    let (good, mut report) = match check_csv(&state, &text).await {
        Ok(v) => v,
        Err(e) => return Ok(redirect_with_notice("/pesan/kontak", &e)),
    };
    for l in &good {
        let outcome =
            match apply_contact(&state, &me, &l.permit, &l.phone, l.consent, "csv", "csv").await {
                Ok(()) if l.consent => Ok(format!("{} dengan persetujuan", l.phone)),
                Ok(()) => Ok(format!("{} tanpa persetujuan", l.phone)),
                Err(e) => {
                    tracing::error!(error = %e, line = l.line, "CSV import line");
                    Err("tidak dapat disimpan ke basis data".to_string())
                }
            };
        report.push(ImportLine {
            line: l.line,
            pendaftaran_id: l.permit.pendaftaran_id.clone(),
            outcome,
        });
    }
    report.sort_by_key(|l| l.line);
    let imported = report.iter().filter(|l| l.outcome.is_ok()).count();
    audit(
        &state,
        &me,
        &addr,
        "whatsapp.contacts_import",
        None,
        serde_json::json!({ "imported": imported, "refused": report.len() - imported }),
    )
    .await;
    let content = contacts_view(
        &state,
        &me,
        &ContactsQuery::default(),
        &ContactFormState::default(),
        Some(&report),
    )
    .await?;
    Ok(page(&me, "Kontak WhatsApp", content))
}

#[derive(Debug, Default, Deserialize)]
pub struct ContactActionForm {
    #[serde(default)]
    pub telepon: String,
    #[serde(default)]
    pub aksi: String,
}

/// `POST /pesan/kontak/aksi`: opt-out, blacklist or lift the blacklist.
pub async fn contact_action(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Form(f): Form<ContactActionForm>,
) -> PageResult {
    let action = f.aksi.as_str();
    if !matches!(action, "opt_out" | "blacklist" | "unblacklist") {
        return Ok(redirect_with_notice(
            "/pesan/kontak",
            "Tindakan tidak dikenal.",
        ));
    }
    let phone = match phone::normalize(&f.telepon) {
        Ok(p) => p,
        Err(e) => {
            return Ok(redirect_with_notice(
                "/pesan/kontak",
                &capitalize(&e.to_string()),
            ));
        }
    };
    state
        .db
        .record_consent(
            &phone,
            action,
            "staff",
            Some(&me.user.username),
            now(&state),
        )
        .await?;
    audit(
        &state,
        &me,
        &addr,
        &format!("whatsapp.contact_{action}"),
        Some(("wa_contact", phone.clone())),
        serde_json::json!({}),
    )
    .await;
    let path = format!("/pesan/kontak?{}", query_string(&[("riwayat", &phone)]));
    let msg = format!("{phone}: {}.", consent_action_label(action));
    Ok(
        axum::response::Redirect::to(&format!("{path}&{}", query_string(&[("pesan", &msg)])))
            .into_response(),
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct DaftarForm {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub aksi: String,
}

/// `POST /pesan/kontak/daftar`: a person confirms or rejects a held `DAFTAR` request. Confirming
/// records the sender's number for the permit and their consent, in the staff member's name.
pub async fn decide_daftar(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Form(f): Form<DaftarForm>,
) -> PageResult {
    let decision = match f.aksi.as_str() {
        "confirm" => "confirmed",
        "reject" => "rejected",
        _ => {
            return Ok(redirect_with_notice(
                "/pesan/kontak",
                "Tindakan tidak dikenal.",
            ));
        }
    };
    let Ok(id) = f.id.trim().parse::<i64>() else {
        return Ok(redirect_with_notice(
            "/pesan/kontak",
            "Permintaan tidak dikenal.",
        ));
    };
    let at = now(&state);
    let Some(r) = state
        .db
        .decide_daftar_request(id, decision, &me.user.username, at)
        .await?
    else {
        return Ok(redirect_with_notice(
            "/pesan/kontak",
            "Permintaan ini sudah diputuskan atau tidak ada lagi.",
        ));
    };
    if decision == "confirmed" {
        state
            .db
            .set_permit_contact(
                &r.pendaftaran_id,
                &r.phone,
                "daftar",
                Some(&me.user.username),
                at,
            )
            .await?;
        state
            .db
            .upsert_contact(&r.phone, r.applicant_name.as_deref(), None, at)
            .await?;
        state
            .db
            .record_consent(&r.phone, "opt_in", "daftar", Some(&me.user.username), at)
            .await?;
    }
    audit(
        &state,
        &me,
        &addr,
        &format!("whatsapp.daftar_{decision}"),
        Some(("permit", r.pendaftaran_id.clone())),
        serde_json::json!({ "phone": r.phone, "request": r.id }),
    )
    .await;
    let msg = if decision == "confirmed" {
        format!(
            "Nomor {} disimpan untuk izin {} dengan persetujuan (DAFTAR, diperiksa petugas).",
            r.phone, r.pendaftaran_id
        )
    } else {
        format!(
            "Permintaan DAFTAR dari {} untuk izin {} ditolak.",
            r.phone, r.pendaftaran_id
        )
    };
    Ok(redirect_with_notice("/pesan/kontak", &msg))
}

// --- the provider -------------------------------------------------------------------------

/// The office's own WhatsApp number (`WHATSAPP_OFFICE_NUMBER`).
fn office_whatsapp(n: &Notifier) -> Option<String> {
    n.config().office_number.clone()
}

/// `GET /pesan/penyedia`.
pub async fn provider(
    State(state): State<Shared>,
    Me(me): Me,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let webhook = format!(
        "{}/webhooks/whatsapp",
        state.config.public_base_url.trim_end_matches('/')
    );
    let content = html! {
        h1 { "Penyedia WhatsApp" }
        (tabs(&me, "/pesan/penyedia"))
        (notice(q.pesan.as_deref()))
        @match &state.notifier {
            None => (not_configured()),
            Some(n) => {
                section.card #provider-info { h2 { "Penyedia" }
                    p { "Penyedia: " b #provider-name { (n.provider().name()) } }
                    p { "Tanda terima dan pesan masuk diharapkan di " code { (webhook) } " (GET untuk jabat tangan Meta, POST untuk tanda terima)." }
                    p { "Templat yang disetujui: "
                        @if n.provider().uses_templates() { "dipakai (pesan di luar jendela 24 jam memakai templat)." }
                        @else { "tidak dipakai penyedia ini; teks yang dirender dikirim." } }
                    @if let Some(office) = office_whatsapp(n) {
                        @let example = phone::click_to_chat(&office, "DAFTAR 0142307703072025");
                        p #click-to-chat { "Pemohon mendaftar dengan mengirim DAFTAR dan nomor pendaftarannya ke " (office) ", misalnya: "
                            a href=(example) { (example) } }
                    }
                    p.muted { "Kredensial penyedia diatur di konfigurasi server dan tidak pernah ditampilkan." }
                }
                section.card #approved-templates { h2 { "Templat yang disetujui" }
                    form method="post" action="/pesan/penyedia/templat" {
                        (csrf_field(&me)) button type="submit" { "Ambil templat yang disetujui" } }
                }
                section.card #test-message { h2 { "Kirim pesan uji" }
                    p.muted { "Pesan teks bebas: untuk penyedia dengan aturan Meta, penerima harus mengirim pesan ke kantor dalam 24 jam terakhir." }
                    form method="post" action="/pesan/penyedia/uji" {
                        (csrf_field(&me))
                        input name="telepon" placeholder="08… atau +62…" inputmode="tel" required aria-label="Nomor tujuan";
                        " " button.primary type="submit" { "Kirim pesan uji" }
                    }
                }
            }
        }
    };
    Ok(page(&me, "Penyedia WhatsApp", content))
}

/// `POST /pesan/penyedia/templat`: asks the provider which templates are approved.
pub async fn refresh_templates(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
) -> PageResult {
    let Some(n) = &state.notifier else {
        return Ok(redirect_with_notice(
            "/pesan/penyedia",
            "WhatsApp belum dikonfigurasi.",
        ));
    };
    let result = n.refresh_approved_templates().await;
    audit(
        &state,
        &me,
        &addr,
        "whatsapp.templates_refresh",
        None,
        serde_json::json!({ "ok": result.is_ok() }),
    )
    .await;
    let msg = match result {
        Ok(Some(count)) => format!("{count} templat yang disetujui ditemukan di akun penyedia."),
        Ok(None) => "Penyedia ini tidak memiliki daftar templat yang disetujui.".to_string(),
        Err(e) => format!("Daftar templat tidak dapat diambil: {e}"),
    };
    Ok(redirect_with_notice("/pesan/penyedia", &msg))
}

#[derive(Debug, Default, Deserialize)]
pub struct TestForm {
    #[serde(default)]
    pub telepon: String,
}

/// `POST /pesan/penyedia/uji`: one free-form test message.
pub async fn send_test(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Form(f): Form<TestForm>,
) -> PageResult {
    let Some(n) = &state.notifier else {
        return Ok(redirect_with_notice(
            "/pesan/penyedia",
            "WhatsApp belum dikonfigurasi.",
        ));
    };
    let result = n.send_test(&f.telepon).await;
    audit(
        &state,
        &me,
        &addr,
        "whatsapp.test_message",
        None,
        serde_json::json!({ "ok": result.is_ok() }),
    )
    .await;
    let msg = match result {
        Ok(id) => format!("Pesan uji diterima penyedia (ID penyedia: {id})."),
        Err(e) => format!("Pesan uji gagal: {}", capitalize(&e)),
    };
    Ok(redirect_with_notice("/pesan/penyedia", &msg))
}

// --- renewals -----------------------------------------------------------------------------

fn permit_summary(id: &str, p: Option<&PermitView>) -> Markup {
    html! {
        a href={ "/izin/" (id) } { (id) }
        @match p {
            Some(p) => { br; small { (p.permit_number.as_deref().unwrap_or("(belum bernomor)")) " · "
                (p.applicant_name.as_deref().unwrap_or("—")) " · " (p.permit_type_name.as_deref().unwrap_or("—")) } },
            None => { br; small.danger { "izin tidak ditemukan" } },
        }
    }
}

/// `GET /pesan/perpanjangan`: suggested and confirmed renewal links.
pub async fn renewals(
    State(state): State<Shared>,
    Me(me): Me,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let suggested = state.db.list_renewals(Some("suggested")).await?;
    let confirmed = state.db.list_renewals(Some("confirmed")).await?;
    let mut permits = std::collections::HashMap::new();
    for r in suggested.iter().chain(confirmed.iter().take(50)) {
        for id in [&r.renewal_id, &r.renews_id] {
            if !permits.contains_key(id) {
                let p = state.db.get_permit(id).await?;
                permits.insert(id.clone(), p);
            }
        }
    }
    let get = |id: &str| permits.get(id).and_then(|p| p.as_ref());
    let manage = may_manage(&me);
    let content = html! {
        h1 { "Perpanjangan izin" }
        (tabs(&me, "/pesan/perpanjangan"))
        (notice(q.pesan.as_deref()))
        @if state.notifier.is_none() { (not_configured()) }
        p.muted { "Izin baru yang memperpanjang izin lama. Setelah dikonfirmasi, pemohon diberi tahu lewat WhatsApp bila izin baru sudah terbit dan pemohon telah menyetujui." }
        section.card #suggested-renewals { h2 { "Usulan" }
            @if suggested.is_empty() { p.muted { "Tidak ada usulan." } } @else {
                div.table-wrap { table {
                    thead { tr { th { "Izin baru" } th { "Memperpanjang" } th { "Diusulkan" } @if manage { th {} } } }
                    tbody { @for r in &suggested { tr data-renewal=(r.renewal_id) {
                        td { (permit_summary(&r.renewal_id, get(&r.renewal_id))) }
                        td { (permit_summary(&r.renews_id, get(&r.renews_id))) }
                        td { (state.office_time(r.updated_at)) }
                        @if manage { td {
                            form.inline method="post" action="/pesan/perpanjangan/konfirmasi" {
                                (csrf_field(&me))
                                input type="hidden" name="baru" value=(r.renewal_id);
                                input type="hidden" name="lama" value=(r.renews_id);
                                button.link type="submit" { "Konfirmasi" } }
                            " "
                            form.inline method="post" action="/pesan/perpanjangan/tolak" {
                                (csrf_field(&me))
                                input type="hidden" name="baru" value=(r.renewal_id);
                                button.link.danger type="submit" { "Tolak" } }
                        } }
                    } } }
                } }
            }
        }
        @if manage {
            section.card #manual-renewal { h2 { "Tautkan secara manual" }
                form.filters method="post" action="/pesan/perpanjangan/konfirmasi" {
                    (csrf_field(&me))
                    input name="baru" placeholder="Nomor pendaftaran izin baru" required aria-label="Izin baru";
                    input name="lama" placeholder="Nomor pendaftaran izin lama" required aria-label="Izin lama";
                    input name="alasan" placeholder="Alasan (wajib bila izin baru tidak lebih baru, atau pemegang/jenisnya berbeda)" aria-label="Alasan";
                    button.primary type="submit" { "Tautkan" }
                }
            }
        }
        section.card #confirmed-renewals { h2 { "Sudah dikonfirmasi" }
            @if confirmed.is_empty() { p.muted { "Belum ada." } } @else {
                div.table-wrap { table {
                    thead { tr { th { "Izin baru" } th { "Memperpanjang" } th { "Oleh" } th { "Waktu" } } }
                    tbody { @for r in confirmed.iter().take(50) { tr data-renewal=(r.renewal_id) {
                        td { (permit_summary(&r.renewal_id, get(&r.renewal_id))) }
                        td { (permit_summary(&r.renews_id, get(&r.renews_id))) }
                        td { (r.decided_by.as_deref().unwrap_or("—"))
                            @if let Some(why) = &r.reason { br; small.muted { "Alasan: " (why) } } }
                        td { (state.office_time(r.updated_at)) }
                    } } }
                } }
            }
        }
    };
    Ok(page(&me, "Perpanjangan izin", content))
}

#[derive(Debug, Default, Deserialize)]
pub struct RenewalForm {
    #[serde(default)]
    pub baru: String,
    #[serde(default)]
    pub lama: String,
    /// Why, when the pair is not an obvious renewal (older, another holder or type).
    #[serde(default)]
    pub alasan: String,
}

/// `POST /pesan/perpanjangan/konfirmasi`: confirms a suggestion or sets a link by hand.
pub async fn confirm_renewal(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Form(f): Form<RenewalForm>,
) -> PageResult {
    const BACK: &str = "/pesan/perpanjangan";
    let (new_id, old_id) = (f.baru.trim(), f.lama.trim());
    if new_id.is_empty() || old_id.is_empty() {
        return Ok(redirect_with_notice(
            BACK,
            "Isi nomor pendaftaran izin baru dan izin lama.",
        ));
    }
    if new_id == old_id {
        return Ok(redirect_with_notice(
            BACK,
            "Izin tidak dapat memperpanjang dirinya sendiri.",
        ));
    }
    let (Some(new), Some(old)) = (
        state.db.get_permit(new_id).await?,
        state.db.get_permit(old_id).await?,
    ) else {
        let missing = if state.db.get_permit(new_id).await?.is_none() {
            new_id
        } else {
            old_id
        };
        return Ok(redirect_with_notice(
            BACK,
            &format!("Izin dengan nomor pendaftaran \"{missing}\" tidak ditemukan."),
        ));
    };
    // A renewal is newer and of the same holder and type; anything else only with a reason.
    let doubts = companion_domain::renewals::renewal_doubts(&new, &old);
    let reason: String = f
        .alasan
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    let reason = reason.trim();
    if !doubts.is_empty() && reason.is_empty() {
        let why: Vec<&str> = doubts.iter().map(|d| d.pesan()).collect();
        return Ok(redirect_with_notice(
            BACK,
            &format!(
                "Izin {new_id} tidak tampak sebagai perpanjangan izin {old_id} ({}). Bila memang benar, tuliskan alasannya.",
                why.join("; ")
            ),
        ));
    }
    let reason = (!doubts.is_empty()).then_some(reason);
    state
        .db
        .confirm_renewal(new_id, old_id, &me.user.username, reason, now(&state))
        .await?;
    audit(
        &state,
        &me,
        &addr,
        "whatsapp.renewal_confirm",
        Some(("permit", new_id.to_string())),
        serde_json::json!({ "renews": old_id, "reason": reason }),
    )
    .await;
    let mut msg = format!("Izin {new_id} dikonfirmasi sebagai perpanjangan izin {old_id}.");
    if let Some(n) = &state.notifier {
        match n.renewal_notices().await {
            Ok(0) => {}
            Ok(k) => msg.push_str(&format!(" {k} pemberitahuan WhatsApp diantrekan.")),
            Err(e) => {
                tracing::error!(error = %e, "renewal notices");
                msg.push_str(
                    " Pemberitahuan WhatsApp belum dapat diantrekan; akan dicoba lagi oleh jadwal.",
                );
            }
        }
    }
    Ok(redirect_with_notice(BACK, &msg))
}

/// `POST /pesan/perpanjangan/tolak`: drops a suggestion.
pub async fn reject_renewal(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Form(f): Form<RenewalForm>,
) -> PageResult {
    const BACK: &str = "/pesan/perpanjangan";
    let new_id = f.baru.trim();
    if !state
        .db
        .reject_renewal(new_id, &me.user.username, now(&state))
        .await?
    {
        return Ok(redirect_with_notice(
            BACK,
            "Usulan tidak ditemukan atau sudah diputuskan.",
        ));
    }
    audit(
        &state,
        &me,
        &addr,
        "whatsapp.renewal_reject",
        Some(("permit", new_id.to_string())),
        serde_json::json!({}),
    )
    .await;
    Ok(redirect_with_notice(
        BACK,
        &format!("Usulan perpanjangan untuk izin {new_id} ditolak."),
    ))
}

/// The dashboard's WhatsApp section: counts by state (one query).
pub async fn dashboard_section(state: &AppState) -> Result<Markup, PageError> {
    let counts = state.db.message_counts().await?;
    let get = |s: &str| {
        counts
            .iter()
            .find(|(k, _)| k == s)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    Ok(html! {
        section.card #whatsapp-totals { h2 { "Notifikasi WhatsApp" }
            @if state.notifier.is_none() { p.muted { "WhatsApp belum dikonfigurasi." } }
            @if counts.is_empty() { p.muted { "Belum ada pesan." } } @else {
                p { @for (i, (s, n)) in counts.iter().enumerate() {
                    @if i > 0 { " · " }
                    span data-state=(s) { (state_label(s)) ": " b { (num(*n)) } }
                } }
                @if get("failed") > 0 { p.danger { a href="/pesan?keadaan=failed" { (num(get("failed"))) " pesan gagal" } } }
            }
            p { a href="/pesan" { "Log pesan" } }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_values() {
        assert_eq!(parse_consent("Ya"), Some(true));
        assert_eq!(parse_consent(""), Some(false));
        assert_eq!(parse_consent("tidak"), Some(false));
        assert_eq!(parse_consent("mungkin"), None);
    }

    #[test]
    fn day_rows_count_further_states() {
        let d = |day: &str, state: &str, n| companion_db::MessageDay {
            day: day.into(),
            event: "permit_ready".into(),
            state: state.into(),
            messages: n,
        };
        let rows = day_rows(&[
            d("2026-01-01", "read", 2),
            d("2026-01-01", "sent", 1),
            d("2026-01-02", "failed", 3),
        ]);
        assert_eq!(
            rows[0],
            ("2026-01-02".into(), "permit_ready".into(), [0, 0, 0, 3])
        );
        assert_eq!(rows[1].2, [3, 2, 2, 0]);
    }
}
