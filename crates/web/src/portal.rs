//! The public verification portal (no login, Bahasa Indonesia with an English switch —
//! `?bahasa=en`, kept in a cookie —, mobile-first, nothing loaded from elsewhere): `/v/<verification id>` — the QR's target — with the verdict ASLI, DICABUT,
//! KEDALUWARSA or TIDAK DIKENAL and the permit's facts; `/periksa` — enter a code or upload a
//! PDF, validated cryptographically (`companion_pdf::validate`) and matched with our records,
//! answered ASLI, TIDAK ASLI or TIDAK DAPAT DIPASTIKAN with one line per check. Every check is
//! logged (`verification_log`) and counted (`companion_verifications_total{result}`).

use std::sync::Arc;

use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use companion_db::{NewVerification, SigningCase};
use companion_domain::verdict::{Proof, Record, Verdict, verdict};
use companion_domain::workflow::DocState;
use companion_pdf::validate::{Check, Outcome, Report};
use maud::{Markup, html};
use serde::Deserialize;

use crate::api::Path;
use crate::ui::{Client, bare};
use crate::{AppState, Shared};

/// The portal's language: Bahasa Indonesia, or English when the visitor switched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Id,
    En,
}

impl Lang {
    /// The text in this language.
    pub fn t<'a>(self, id: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Id => id,
            Lang::En => en,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Lang::Id => "id",
            Lang::En => "en",
        }
    }

    /// A text made by the validator, in this language.
    fn validator(self, text: &str) -> String {
        match self {
            Lang::Id => text.to_string(),
            Lang::En => companion_pdf::validate::english(text),
        }
    }
}

const LANG_COOKIE: &str = "bahasa";

/// The language asked for: `?bahasa=en|id` (then remembered in a cookie), else the cookie.
/// The second value is the choice to remember, when the query made one.
pub(crate) fn lang_of(uri: &axum::http::Uri, headers: &HeaderMap) -> (Lang, Option<Lang>) {
    let parse = |v: &str| match v {
        "en" => Some(Lang::En),
        "id" => Some(Lang::Id),
        _ => None,
    };
    let asked = uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == LANG_COOKIE)
            .and_then(|(_, v)| parse(&v))
    });
    if let Some(l) = asked {
        return (l, Some(l));
    }
    let cookie = crate::auth::cookie_value(headers, LANG_COOKIE).and_then(|v| parse(&v));
    (cookie.unwrap_or(Lang::Id), None)
}

/// The address of the same page in the other language (other query parameters kept).
pub(crate) fn switch_href(uri: &axum::http::Uri, to: Lang) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if let Some(query) = uri.query() {
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            if k != LANG_COOKIE {
                q.append_pair(&k, &v);
            }
        }
    }
    q.append_pair(LANG_COOKIE, to.code());
    format!("{}?{}", uri.path(), q.finish())
}

/// [`secured`], and the language choice remembered when the visitor just made one.
pub(crate) fn answer(state: &AppState, remember: Option<Lang>, response: Response) -> Response {
    let mut response = secured(state, response);
    if let Some(l) = remember {
        response.headers_mut().append(
            header::SET_COOKIE,
            crate::auth::set_cookie(
                LANG_COOKIE,
                l.code(),
                Some(365 * 24 * 3600),
                state.config.cookie_secure,
            ),
        );
    }
    response
}

/// The largest PDF the portal accepts for checking.
pub const PORTAL_MAX_PDF: u64 = 20 * 1024 * 1024;

/// Per-client request limits (in this process; several instances each count their own).
pub struct PortalLimits {
    pages: governor::DefaultKeyedRateLimiter<String>,
    uploads: governor::DefaultKeyedRateLimiter<String>,
}

impl PortalLimits {
    fn new(pages_per_minute: u32, uploads_per_minute: u32) -> Self {
        let quota = |n: u32| {
            governor::Quota::per_minute(
                std::num::NonZeroU32::new(n.max(1)).unwrap_or(std::num::NonZeroU32::MIN),
            )
        };
        PortalLimits {
            pages: governor::RateLimiter::keyed(quota(pages_per_minute)),
            uploads: governor::RateLimiter::keyed(quota(uploads_per_minute)),
        }
    }
}

/// The 429 answer when `client` is over its limit.
pub(crate) fn over_limit(
    state: &AppState,
    client: &crate::auth::ClientAddr,
    upload: bool,
) -> Option<Response> {
    let limits = state.portal_limits.get_or_init(|| {
        PortalLimits::new(
            state.config.portal_requests_per_minute,
            state.config.portal_uploads_per_minute,
        )
    });
    let limiter = if upload {
        &limits.uploads
    } else {
        &limits.pages
    };
    if limiter.len() > 100_000 {
        // Forget clients whose allowance is full again, so the table cannot grow without end.
        limiter.retain_recent();
    }
    match limiter.check_key(&client.0) {
        Ok(()) => None,
        Err(_) => {
            metrics::counter!("companion_portal_rate_limited_total").increment(1);
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                bare(
                    "Terlalu banyak permintaan",
                    html! { h1 { "Terlalu banyak permintaan" } p { "Tunggu sebentar, lalu coba lagi." } },
                ),
            )
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            Some(secured(state, r))
        }
    }
}

fn upload_gate(state: &AppState) -> &crate::upload_gate::UploadGate {
    state.upload_gate.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let checks = match state.config.portal_checks_at_once {
            0 => cores,
            n => n,
        };
        crate::upload_gate::UploadGate::new(
            state.config.portal_upload_budget,
            PORTAL_MAX_PDF,
            checks,
            std::time::Duration::from_secs(10),
        )
    })
}

/// Reads a refused upload's body away without keeping it (at most 30 s), so the visitor's
/// browser gets to see the answer instead of a broken connection.
async fn discard(form: &mut Multipart) {
    let drain = async {
        while let Ok(Some(mut field)) = form.next_field().await {
            while let Ok(Some(_)) = field.chunk().await {}
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), drain).await;
}

/// Too many checks at once: a clear "try again" (503 with `Retry-After`), nothing kept.
fn busy(state: &AppState, lang: Lang, switch: &str) -> Response {
    metrics::counter!("companion_portal_uploads_refused_total", "reason" => "busy").increment(1);
    let title = lang.t("Sedang banyak pemeriksaan", "Many checks at the moment");
    let mut r = (
        StatusCode::SERVICE_UNAVAILABLE,
        portal_page(
            lang,
            switch,
            title,
            html! {
                h1 { (title) }
                p.notice.warn data-busy="1" { (lang.t(
                    "Layanan sedang memeriksa banyak berkas. Berkas Anda belum diperiksa dan tidak disimpan; coba lagi dalam satu menit.",
                    "The service is checking many files. Your file was not checked and not kept; try again in a minute.",
                )) }
                (check_form(lang))
            },
        ),
    )
        .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    secured(state, r)
}

/// A verification code as typed or scanned: letters and digits only, upper case, at most 32.
fn normalize_code(code: &str) -> String {
    code.trim()
        .to_ascii_uppercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(32)
        .collect()
}

/// The portal's words for the office's one verdict (`companion_domain::verdict`).
trait Shown {
    /// The verdict's word for the visitor.
    fn word_in(self, lang: Lang) -> &'static str;
    /// The key of the log, the metrics and the page's CSS class.
    fn key(self) -> &'static str;
}

impl Shown for Verdict {
    fn word_in(self, lang: Lang) -> &'static str {
        lang.t(self.word(), self.word_en())
    }
    fn key(self) -> &'static str {
        match self {
            Verdict::Asli => "asli",
            Verdict::Dicabut => "dicabut",
            Verdict::Kedaluwarsa => "kedaluwarsa",
            Verdict::TidakDikenal => "tidak_dikenal",
            Verdict::TidakAsli => "tidak_asli",
            Verdict::TidakDapatDipastikan => "tidak_dapat_dipastikan",
        }
    }
}

/// What the validator's report proves, for the office's verdict.
fn proof_of(report: Option<&Report>) -> Proof {
    match report.map(|r| r.outcome) {
        Some(Outcome::Passed) => Proof::Holds,
        Some(Outcome::Failed) => Proof::Broken,
        Some(Outcome::Indeterminate) | None => Proof::Unknown,
    }
}

/// A case's record for the verdict: its state, and its permit's validity.
fn record_of(case: Option<&SigningCase>, expiry: Option<chrono::NaiveDate>) -> Record {
    case.and_then(|c| DocState::parse(&c.state))
        .map_or(Record::None, |state| Record::of_case(state, expiry))
}

/// Security headers for every answer (portal, staff pages, API): nothing from elsewhere, no
/// framing, no sniffing, HSTS under https. The router applies it to everything as
/// [`security_headers`]; portal handlers also call it on the answers they build.
pub(crate) fn secured(state: &AppState, mut response: Response) -> Response {
    let https = state.config.cookie_secure || state.config.public_base_url.starts_with("https://");
    let h = response.headers_mut();
    // An answer that states its own framing rule keeps it (a stored PDF may be framed by this
    // origin's document page, see `files`); every other answer gets the strict one.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::X_FRAME_OPTIONS) {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// [`secured`] as a router layer: every response of the application gets the headers.
pub(crate) async fn security_headers(
    axum::extract::State(state): axum::extract::State<crate::Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    secured(&state, next.run(req).await)
}

fn device_class(headers: &HeaderMap) -> &'static str {
    let ua = headers
        .get(header::USER_AGENT)
        .map(|v| v.as_bytes())
        .unwrap_or(b"");
    // Case-insensitive substring search without allocating a lower-case copy per request.
    let has = |needle: &[u8]| {
        ua.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    if has(b"mobile") || has(b"android") || has(b"iphone") {
        "mobile"
    } else if has(b"mozilla") {
        "desktop"
    } else {
        "other"
    }
}

fn log(
    state: &AppState,
    method: &'static str,
    result: &'static str,
    reason: Option<String>,
    verification_id: Option<String>,
    client: &crate::auth::ClientAddr,
    headers: &HeaderMap,
) {
    metrics::counter!("companion_verifications_total", "result" => result).increment(1);
    let entry = NewVerification {
        at: Some(chrono::Utc::now()),
        method,
        result,
        reason,
        verification_id,
        client_ip: Some(client.0.to_string()),
        device: device_class(headers),
        region: None,
        checks: 1,
    };
    state
        .verification_log
        .get_or_init(|| LogWriter::start(state.db.clone(), state.geoip.clone()))
        .send(entry);
}

/// Identical checks within one second become one entry with their number. Under load the
/// identical ones arrive one after another, so each is compared with the previous row only.
fn aggregate(entries: Vec<NewVerification>) -> Vec<NewVerification> {
    use chrono::Timelike;
    let mut rows: Vec<NewVerification> = Vec::with_capacity(entries.len());
    for mut e in entries {
        e.at = e.at.map(|t| t.with_nanosecond(0).unwrap_or(t));
        e.checks = e.checks.max(1);
        match rows.last_mut() {
            Some(last)
                if last.at == e.at
                    && last.method == e.method
                    && last.result == e.result
                    && last.reason == e.reason
                    && last.verification_id == e.verification_id
                    && last.client_ip == e.client_ip
                    && last.device == e.device
                    && last.region == e.region =>
            {
                last.checks += e.checks;
            }
            _ => rows.push(e),
        }
    }
    rows
}

/// Writes queued checks in batches: whatever arrives within one second (at most 5,000; sooner
/// when the portal is quiet) goes in one transaction, identical checks folded into one row. Regions are looked up here, off the request
/// path, once per row. A crash loses at most the last second of the log, never a verdict.
pub struct LogWriter {
    tx: tokio::sync::mpsc::Sender<NewVerification>,
}

const LOG_BATCH: usize = 5_000;

impl LogWriter {
    fn start(db: companion_db::Database, geoip: Option<Arc<crate::geoip::GeoIp>>) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<NewVerification>(20_000);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(LOG_BATCH);
            while rx.recv_many(&mut batch, LOG_BATCH).await > 0 {
                // Under load: one transaction a second. When quiet: written 50 ms after the last.
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
                while batch.len() < LOG_BATCH {
                    let idle = tokio::time::Instant::now() + std::time::Duration::from_millis(50);
                    let room = LOG_BATCH - batch.len();
                    let wait = rx.recv_many(&mut batch, room);
                    match tokio::time::timeout_at(deadline.min(idle), wait).await {
                        Ok(0) | Err(_) => break, // closed, quiet, or the second is over
                        Ok(_) => {}
                    }
                }
                let mut rows = aggregate(std::mem::take(&mut batch));
                if let Some(geoip) = &geoip {
                    for row in &mut rows {
                        row.region = row.client_ip.as_deref().and_then(|ip| geoip.region(ip));
                    }
                }
                if let Err(e) = db.log_verifications(&rows).await {
                    tracing::warn!(error = %e, entries = rows.len(), "verifications not logged");
                }
            }
        });
        LogWriter { tx }
    }

    fn send(&self, entry: NewVerification) {
        // A full queue (the database far behind) drops the entry rather than slowing the portal.
        if self.tx.try_send(entry).is_err() {
            metrics::counter!("companion_verification_log_dropped_total").increment(1);
        }
    }
}

/// The certificates this office signs with (see `companion_documents::office`), or `None` when
/// this instance keeps no documents (then any trusted signer counts, as the report says).
async fn office_certificates(state: &AppState) -> Option<Arc<Vec<x509_cert::Certificate>>> {
    let documents = state.documents.as_ref()?;
    match companion_documents::office::refresh(documents).await {
        Ok(certs) => Some(Arc::new(certs)),
        Err(e) => {
            tracing::warn!(error = %e, "office certificates unavailable");
            // Unknown is not "anyone": an empty list makes no signature the office's.
            Some(Arc::new(Vec::new()))
        }
    }
}

/// One validator for the QR page, the upload page and `verify`: the trust anchors for signers
/// and timestamp authorities, the office's certificates, the present time, and revocation
/// data from outside the file (`evidence`).
fn validate_file(
    bytes: &[u8],
    anchors: &[x509_cert::Certificate],
    office: Option<Arc<Vec<x509_cert::Certificate>>>,
    evidence: &companion_pdf::revocation::Evidence,
) -> Report {
    companion_pdf::validate::validate_with_evidence(
        bytes,
        &companion_pdf::validate::Policy {
            signer_anchors: anchors,
            tsa_anchors: anchors,
            office: office.as_deref().map(Vec::as_slice),
        },
        chrono::Utc::now(),
        evidence,
    )
}

fn sources(state: &AppState) -> companion_signing::revocation::VerificationSources {
    companion_signing::revocation::VerificationSources {
        own: state.pki.clone(),
        fetcher: state.revocation_fetcher.clone(),
    }
}

/// When the file and the office's own CRLs leave the answer open, the revocation services
/// its trusted chains name are asked online (within 8 s in all) and the file checked again;
/// `None` when nothing more was found (the first answer stands).
async fn online_recheck(
    state: &AppState,
    bytes: bytes::Bytes,
    first: &Report,
    own: companion_pdf::revocation::Evidence,
    office: Option<Arc<Vec<x509_cert::Certificate>>>,
) -> Option<Report> {
    if first.outcome != Outcome::Indeterminate || state.revocation_fetcher.is_none() {
        return None;
    }
    let anchors = state.trust_anchors.clone();
    let online = tokio::time::timeout(
        std::time::Duration::from_secs(8),
        sources(state).online(&bytes, &anchors, chrono::Utc::now()),
    )
    .await
    .ok()?;
    if online.is_empty() {
        return None;
    }
    let mut evidence = own;
    evidence.extend(&online);
    tokio::task::spawn_blocking(move || validate_file(&bytes, &anchors, office, &evidence))
        .await
        .ok()
}

/// The stored signed file's validation, computed once per document (the file never changes).
async fn signed_report(state: &AppState, case: &SigningCase) -> Option<Arc<Report>> {
    let id = case.signed_document_id?;
    if let Some(r) = state.portal_reports.lock().ok()?.get(&id) {
        return Some(r.clone());
    }
    let doc = state.db.get_document(id).await.ok()??;
    let bytes = state
        .documents
        .as_ref()?
        .storage()
        .get_bytes(&doc.storage_key)
        .await
        .ok()?;
    let anchors = state.trust_anchors.clone();
    let office = office_certificates(state).await;
    let own = sources(state).own().await;
    let (data, own_copy, office_copy) = (bytes.clone(), own.clone(), office.clone());
    let report = tokio::task::spawn_blocking(move || validate_file(&data, &anchors, office, &own))
        .await
        .ok()?;
    // An answer that needed the network is not kept: it can change.
    if let Some(again) = online_recheck(state, bytes, &report, own_copy, office_copy).await {
        return Some(Arc::new(again));
    }
    let report = Arc::new(report);
    if let Ok(mut cache) = state.portal_reports.lock() {
        cache.insert(id, report.clone());
    }
    Some(report)
}

/// The verdict: `data-verdict` carries the Bahasa word whatever the page's language (a stable
/// key for scripts and tests); the visitor reads `shown`.
fn verdict_banner(word: &str, shown: &str, class: &str, text: &str) -> Markup {
    html! {
        section #verdict class={ "verdict " (class) } data-verdict=(word) role="status" {
            p.word { (shown) }
            p { (text) }
        }
    }
}

/// A certificate's distinguished name as a person would say it: its common name (else the
/// organisation); the full name stays folded in a `<details>` for whoever wants it.
fn plain_name(dn: &str) -> String {
    let parts: Vec<&str> = dn.split([',', '/']).map(str::trim).collect();
    let attr = |key: &str| {
        parts.iter().find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case(key)
                .then(|| v.trim().to_string())
        })
    };
    attr("CN")
        .or_else(|| attr("O"))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| dn.to_string())
}

/// The signed file's PAdES level and when its archive timestamp is next renewed (issue 20).
fn archive_facts(state: &AppState, lang: Lang, c: &companion_db::SigningCase) -> Markup {
    use companion_domain::archive::{SignatureLevel, Stop};
    let Some(level) = c.signature_level.as_deref().and_then(SignatureLevel::parse) else {
        return html! {};
    };
    let stopped = c.archive_stopped.as_deref().and_then(Stop::parse);
    html! {
        dt { (lang.t("Tingkat tanda tangan", "Signature level")) } dd #signature-level data-level=(level.name()) { (lang.t(level.label(), level.label_en())) }
        @if let Some(s) = stopped {
            dt { (lang.t("Cap waktu arsip", "Archive timestamp")) } dd #archive-next { (lang.t(s.label(), s.label_en())) }
        } @else if let Some(t) = c.archive_due_at {
            dt { (lang.t("Cap waktu arsip diperbarui", "Archive timestamp renewed")) } dd #archive-next { (lang.t("paling lambat ", "by ")) (t.with_timezone(&state.office_tz).format("%d-%m-%Y")) }
        }
    }
}

/// The technical details (full certificate names, the file's SHA-256), folded.
fn technical_details(lang: Lang, issuer: Option<&str>, sha256: Option<&str>) -> Markup {
    html! {
        @if issuer.is_some() || sha256.is_some() {
            details.technical {
                summary { (lang.t("Rincian teknis", "Technical details")) }
                dl.facts {
                    @if let Some(i) = issuer { dt { (lang.t("Nama lengkap penerbit sertifikat", "Certificate issuer, full name")) } dd { code { (i) } } }
                    @if let Some(h) = sha256 { dt { (lang.t("Sidik jari berkas (SHA-256)", "File fingerprint (SHA-256)")) } dd { code.hash { (h) } } }
                }
            }
        }
    }
}

/// One check's line: `data-check` is the Bahasa label (stable), the text in the language.
fn line(lang: Lang, label: (&str, &str), c: &Check) -> Markup {
    let (mark, class) = match c.outcome {
        Outcome::Passed => ("✓", "ok"),
        Outcome::Failed => ("✗", "danger"),
        Outcome::Indeterminate => ("?", "warn"),
    };
    html! {
        li class=(class) data-check=(label.0) { span.mark aria-hidden="true" { (mark) } " " strong { (lang.t(label.0, label.1)) } ": " (lang.validator(&c.detail)) }
    }
}

/// A portal page: its content, the links every page has, and the switch to the other language
/// (`switch` is the address of this page in it).
fn portal_html(lang: Lang, switch: &str, title: &str, content: Markup) -> String {
    crate::ui::portal_frame(
        lang.code(),
        title,
        html! {
            div.portal {
                (content)
                nav.portal-links {
                    a href="/periksa" { (lang.t("Periksa dokumen lain", "Check another document")) }
                    " · "
                    a href="/bantuan" { (lang.t("Bantuan", "Help")) }
                    " · "
                    a #lang-switch href=(switch) hreflang=(lang.t("en", "id")) { (lang.t("English", "Bahasa Indonesia")) }
                }
            }
        },
    )
    .0
}

pub(crate) fn portal_page(lang: Lang, switch: &str, title: &str, content: Markup) -> Response {
    Html(portal_html(lang, switch, title, content)).into_response()
}

pub(crate) fn other(lang: Lang) -> Lang {
    match lang {
        Lang::Id => Lang::En,
        Lang::En => Lang::Id,
    }
}

#[derive(Debug, Deserialize)]
pub struct SealParams {
    pub d: Option<String>,
    pub s: Option<String>,
}

/// A rendered QR page, as cached for a few seconds.
pub struct RenderedPage {
    status: StatusCode,
    verdict: Verdict,
    reason: Option<String>,
    method: &'static str,
    body: axum::body::Bytes,
}

/// Rendered QR pages by (id, seal): a busy page is built once per `portal_page_cache`, while every
/// visit is still logged. Any workflow step clears it, so a revocation shows at once.
#[derive(Default)]
pub struct PageCache {
    pages: std::sync::Mutex<
        std::collections::HashMap<String, (std::time::Instant, Arc<RenderedPage>)>,
    >,
}

impl PageCache {
    fn get(&self, key: &str, ttl: std::time::Duration) -> Option<Arc<RenderedPage>> {
        let pages = self.pages.lock().ok()?;
        let (at, page) = pages.get(key)?;
        (at.elapsed() < ttl).then(|| page.clone())
    }

    fn put(&self, key: String, page: Arc<RenderedPage>) {
        if let Ok(mut pages) = self.pages.lock() {
            if pages.len() > 10_000 {
                pages.clear();
            }
            pages.insert(key, (std::time::Instant::now(), page));
        }
    }

    /// Forgets every page (after a workflow step).
    pub fn clear(&self) {
        if let Ok(mut pages) = self.pages.lock() {
            pages.clear();
        }
    }
}

/// `GET /v/{id}`: the QR's target.
pub async fn qr_page(
    State(state): State<Shared>,
    Client(client): Client,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Path(id): Path<String>,
    Query(seal): Query<SealParams>,
) -> Response {
    if let Some(r) = over_limit(&state, &client, false) {
        return r;
    }
    let (lang, remember) = lang_of(&uri, &headers);
    let id = normalize_code(&id);
    let key = format!(
        "{id}?{}&{}&{}",
        seal.d.as_deref().unwrap_or(""),
        seal.s.as_deref().unwrap_or(""),
        lang.code()
    );
    let ttl = state.config.portal_page_cache;
    let page = match state.portal_pages.get(&key, ttl) {
        Some(p) => p,
        None => {
            let switch = switch_href(&uri, other(lang));
            let p = Arc::new(render_qr_page(&state, &id, &seal, lang, &switch).await);
            if !ttl.is_zero() {
                state.portal_pages.put(key, p.clone());
            }
            p
        }
    };
    log(
        &state,
        page.method,
        page.verdict.key(),
        page.reason.clone(),
        Some(id),
        &client,
        &headers,
    );
    // The cached bytes are shared, not copied.
    let mut response = Html(page.body.clone()).into_response();
    *response.status_mut() = page.status;
    answer(&state, remember, response)
}

async fn render_qr_page(
    state: &AppState,
    id: &str,
    seal: &SealParams,
    lang: Lang,
    switch: &str,
) -> RenderedPage {
    let id = id.to_string();
    let case = state
        .db
        .signing_case_by_verification_id(&id)
        .await
        .ok()
        .flatten();
    let permit = match &case {
        Some(c) => state.db.get_permit(&c.pendaftaran_id).await.ok().flatten(),
        None => None,
    };
    let record = record_of(case.as_ref(), permit.as_ref().and_then(|p| p.expiry_date));
    // The stored signed file is checked as an upload would be: one file, one answer.
    let report = match record {
        Record::None => None,
        _ => match &case {
            Some(c) => signed_report(state, c).await,
            None => None,
        },
    };
    let mut verdict = match record {
        Record::None => Verdict::TidakDikenal,
        _ => verdict(record, proof_of(report.as_deref()), state.office_today()),
    };
    // The QR's own seal, when the full QR address was opened.
    let mut seal_line = None;
    if let (Some(d), Some(s), Some(svc)) = (&seal.d, &seal.s, &state.signing) {
        let text = format!("/v/{id}?d={d}&s={s}");
        match companion_domain::seal::verify_seal(&svc.seal_public(), &text) {
            Ok((vid, _)) if vid == id => {
                seal_line = Some(Check {
                    outcome: Outcome::Passed,
                    detail: lang
                        .t(
                            "Segel pada kode QR sah: diterbitkan oleh kantor ini dan tidak diubah.",
                            "The QR code's seal is valid: issued by this office and not changed.",
                        )
                        .into(),
                });
            }
            _ => {
                verdict = Verdict::TidakAsli;
                seal_line = Some(Check {
                    outcome: Outcome::Failed,
                    detail: lang
                        .t(
                            "Segel pada kode QR tidak sah: isi kode QR telah diubah atau dipalsukan.",
                            "The QR code's seal is not valid: its content was changed or forged.",
                        )
                        .into(),
                });
            }
        }
    }
    let method = if seal.d.is_some() { "qr" } else { "code" };
    let forged = seal_line
        .as_ref()
        .is_some_and(|l| l.outcome == Outcome::Failed);
    let report = report.filter(|_| !forged);
    // (class, Bahasa text — also the log's reason —, English text)
    let (class, text, text_en) = match verdict {
        Verdict::Asli => (
            "asli",
            "Dokumen ini diterbitkan dan ditandatangani secara elektronik oleh DPMPTSP Kabupaten Karo dan masih berlaku.",
            "This document was issued and electronically signed by DPMPTSP Kabupaten Karo and is still valid.",
        ),
        Verdict::Dicabut => (
            "dicabut",
            "Dokumen ini pernah diterbitkan, tetapi telah DICABUT dan tidak berlaku lagi.",
            "This document was issued, but it has been REVOKED and is no longer valid.",
        ),
        Verdict::Kedaluwarsa => (
            "kedaluwarsa",
            "Dokumen ini asli, tetapi masa berlakunya telah habis.",
            "This document is authentic, but its validity has ended.",
        ),
        Verdict::TidakDikenal => (
            "tidak-dikenal",
            "Kode verifikasi ini tidak dikenal: tidak ada dokumen terbit dari DPMPTSP Kabupaten Karo dengan kode ini.",
            "This verification code is unknown: DPMPTSP Kabupaten Karo issued no document with it.",
        ),
        Verdict::TidakAsli if forged => (
            "tidak-asli",
            "Kode QR ini dipalsukan: jangan percayai dokumen yang memuatnya.",
            "This QR code is forged: do not trust the document that carries it.",
        ),
        Verdict::TidakAsli => (
            "tidak-asli",
            "Tanda tangan elektronik dokumen ini tidak sah: jangan percayai dokumen ini. Rinciannya ada di bawah.",
            "This document's electronic signature is not valid: do not trust it. The details are below.",
        ),
        Verdict::TidakDapatDipastikan => (
            "tidak_dapat_dipastikan",
            "Dokumen ini ada di catatan kantor, tetapi keabsahan tanda tangannya saat ini tidak dapat dipastikan. Rinciannya ada di bawah.",
            "This document is in the office's records, but its signature's validity cannot be established now. The details are below.",
        ),
    };
    let sig = report.as_ref().and_then(|r| r.last().cloned());
    let fmt_date = |d: Option<chrono::NaiveDate>| {
        d.map(|d| d.format("%d-%m-%Y").to_string())
            .unwrap_or_else(|| "—".into())
    };
    let content = html! {
        h1 { (lang.t("Verifikasi dokumen", "Document verification")) }
        (verdict_banner(verdict.word(), verdict.word_in(lang), class, lang.t(text, text_en)))
        @if let (Some(c), Some(p)) = (&case, &permit) {
            @if matches!(verdict, Verdict::Asli | Verdict::Kedaluwarsa | Verdict::Dicabut | Verdict::TidakDapatDipastikan) {
                section.card {
                    h2 { (lang.t("Data izin", "Permit")) }
                    dl.facts {
                        dt { (lang.t("Jenis izin", "Permit type")) } dd { (p.permit_type_name.as_deref().unwrap_or("—")) }
                        dt { (lang.t("Nomor izin", "Permit number")) } dd #permit-number { (p.permit_number.as_deref().unwrap_or("—")) }
                        dt { (lang.t("Pemegang", "Holder")) } dd { (p.applicant_name.as_deref().unwrap_or("—")) }
                        dt { (lang.t("Tanggal terbit", "Issued on")) } dd { (fmt_date(p.issue_date)) }
                        dt { (lang.t("Berlaku sampai", "Valid until")) } dd { (fmt_date(p.expiry_date)) }
                        @if verdict == Verdict::Dicabut {
                            dt { (lang.t("Dicabut", "Revoked")) } dd { (c.revoked_at.map(|t| state.office_time(t)).unwrap_or_default())
                                @if let Some(r) = &c.reason { " — " (r) } }
                        }
                    }
                }
                section.card {
                    h2 { (lang.t("Tanda tangan elektronik", "Electronic signature")) }
                    dl.facts {
                        dt { (lang.t("Penanda tangan", "Signed by")) } dd { (c.signer_name.as_deref().unwrap_or("—")) }
                        dt { (lang.t("Waktu tanda tangan", "Signed at")) } dd { (c.signed_at.map(|t| state.office_time(t)).unwrap_or_default()) }
                        @if let Some(s) = &sig {
                            dt { (lang.t("Sertifikat dari", "Certificate from")) } dd #issuer-name { (s.issuer.as_deref().map(plain_name).unwrap_or_else(|| "—".into())) }
                            dt { (lang.t("Sertifikat berlaku", "Certificate valid")) } dd {
                                (fmt_date(s.certificate_valid_from.map(|t| t.with_timezone(&state.office_tz).date_naive()))) (lang.t(" s.d. ", " to "))
                                (fmt_date(s.certificate_valid_to.map(|t| t.with_timezone(&state.office_tz).date_naive()))) }
                            dt { (lang.t("Cap waktu", "Timestamp")) } dd { @if let Some(t) = s.timestamp_time { (state.office_time(t)) " WIB" } @else { (lang.t("tanpa cap waktu resmi", "no trusted timestamp")) } }
                        }
                        (archive_facts(state, lang, c))
                    }
                    (technical_details(lang, sig.as_ref().and_then(|s| s.issuer.as_deref()), report.as_ref().map(|r| r.sha256.as_str())))
                    @if report.is_some() && verdict != Verdict::Dicabut {
                        p { a.button href={ "/v/" (id) "/unduh" } { (lang.t("Unduh PDF bertanda tangan", "Download the signed PDF")) } }
                    }
                }
            }
        }
        @if let Some(l) = &seal_line { ul.checks { (line(lang, ("Segel QR", "QR seal"), l)) } }
        @if let Some(key) = seal_key(state) {
            // Filled by portal.js from the address itself, with no request to the server.
            section.card #seal-offline hidden data-public-key=(key) data-verdict=(verdict.word()) {
                h2 { (lang.t("Pemeriksaan segel di perangkat ini", "Seal check on this device")) }
                @if verdict != Verdict::Asli {
                    // A valid seal only says the QR is the office's own; the verdict above stands.
                    p.seal-explain { (lang.t(
                        "Segel yang sah hanya berarti kode QR ini memang dibuat oleh kantor ini dan isinya tidak diubah. Itu tidak membuat dokumen berlaku: hasil di atas tetap berlaku.",
                        "A valid seal only means this QR code was made by this office and was not changed. It does not make the document valid: the result above stands.")) }
                }
                div.seal-result {}
                button type="button" { (lang.t("Periksa ulang", "Check again")) }
            }
            script type="module" src={ "/static/portal.js?v=" (crate::static_files::asset_version()) } {}
        }
        p.muted { (lang.t("Kode verifikasi: ", "Verification code: ")) code { (id) } }
    };
    let status = match verdict {
        Verdict::TidakDikenal => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    };
    RenderedPage {
        status,
        verdict,
        reason: (verdict != Verdict::Asli).then(|| text.to_string()),
        method,
        body: portal_html(
            lang,
            switch,
            lang.t("Verifikasi dokumen", "Document verification"),
            content,
        )
        .into(),
    }
}

/// The mark shown when `PORTAL_LOGO` is empty (a neutral shield, not the regency's arms).
const DEFAULT_LOGO: &str = include_str!("../static/logo-kantor.svg");

/// `GET /logo-kantor`: the portal header's logo — the file `PORTAL_LOGO` names (PNG, JPEG,
/// WebP or SVG, chosen by its extension), else the built-in mark. A configured file that
/// cannot be read is logged and the built-in mark shown, so the header never breaks.
pub async fn logo(State(state): State<Shared>) -> Response {
    let builtin = || {
        (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            DEFAULT_LOGO,
        )
            .into_response()
    };
    let Some(path) = state.config.portal_logo.as_ref() else {
        return builtin();
    };
    let kind = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("svg") => "image/svg+xml",
        _ => {
            tracing::warn!(path = %path.display(), "PORTAL_LOGO is not a .png, .jpg, .webp or .svg file; showing the built-in mark");
            return builtin();
        }
    };
    match tokio::fs::read(path).await {
        Ok(bytes) if bytes.len() <= 1024 * 1024 => (
            [
                (header::CONTENT_TYPE, kind),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        Ok(_) => {
            tracing::warn!(path = %path.display(), "PORTAL_LOGO is over 1 MB; showing the built-in mark");
            builtin()
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "PORTAL_LOGO cannot be read; showing the built-in mark");
            builtin()
        }
    }
}

/// The office's public seal key (hex), for the in-browser check.
fn seal_key(state: &AppState) -> Option<String> {
    state
        .signing
        .as_ref()
        .map(|s| companion_domain::seal::verifying_key_hex(&s.seal_public()))
}

/// The public help text (`docs/bantuan-publik.md`), rendered once.
fn help_html() -> &'static str {
    static HTML: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HTML.get_or_init(|| {
        let text = include_str!("../../../docs/bantuan-publik.md");
        let mut out = String::new();
        // The text is ours (in the repository), but raw HTML in it is dropped all the same.
        let events = pulldown_cmark::Parser::new(text).filter(|e| {
            !matches!(
                e,
                pulldown_cmark::Event::Html(_) | pulldown_cmark::Event::InlineHtml(_)
            )
        });
        pulldown_cmark::html::push_html(&mut out, events);
        out
    })
}

/// `GET /bantuan`: how to check a permit and what each verdict means.
pub async fn help_page(
    State(state): State<Shared>,
    Client(client): Client,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if let Some(r) = over_limit(&state, &client, false) {
        return r;
    }
    let (lang, remember) = lang_of(&uri, &headers);
    let content = html! {
        @if lang == Lang::En {
            p.notice { "This help is written in Bahasa Indonesia. In short: AUTHENTIC (ASLI) — issued, signed and unchanged; NOT AUTHENTIC (TIDAK ASLI) — changed after signing, a broken or missing signature, or a forged QR; CANNOT BE DETERMINED (TIDAK DAPAT DIPASTIKAN) — intact but the signer's issuer or the time cannot be established; REVOKED (DICABUT) and EXPIRED (KEDALUWARSA) — issued, but no longer valid; UNKNOWN (TIDAK DIKENAL) — no document with that code." }
        }
        article.card #bantuan lang="id" { (maud::PreEscaped(help_html())) }
    };
    answer(
        &state,
        remember,
        portal_page(
            lang,
            &switch_href(&uri, other(lang)),
            lang.t("Bantuan", "Help"),
            content,
        ),
    )
}

/// `GET /pindai`: scan a QR with the phone's camera (or a photo of it); the seal is checked in
/// the browser and the portal's own page for the code is offered.
pub async fn scan_page(
    State(state): State<Shared>,
    Client(client): Client,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if let Some(r) = over_limit(&state, &client, false) {
        return r;
    }
    let (lang, remember) = lang_of(&uri, &headers);
    let content = html! {
        h1 { (lang.t("Pindai kode QR", "Scan the QR code")) }
        section.card #scan data-public-key=(seal_key(&state).unwrap_or_default()) {
            p #scan-status { (lang.t("Tekan \"Mulai kamera\" lalu arahkan ke kode QR pada dokumen.", "Press \"Start camera\" and point it at the QR code on the document.")) }
            video #camera playsinline muted hidden {}
            p { button #scan-start type="button" { (lang.t("Mulai kamera", "Start camera")) } }
            p { label { (lang.t("atau pilih foto kode QR: ", "or choose a photo of the QR code: ")) input #scan-photo type="file" accept="image/*" capture="environment"; } }
            div #scan-result hidden {}
            p { a #scan-open.button href="/periksa" hidden { (lang.t("Buka halaman verifikasi dokumen", "Open the document's verification page")) } }
        }
        (check_form(lang))
        script type="module" src={ "/static/portal.js?v=" (crate::static_files::asset_version()) } {}
    };
    answer(
        &state,
        remember,
        portal_page(
            lang,
            &switch_href(&uri, other(lang)),
            lang.t("Pindai kode QR", "Scan the QR code"),
            content,
        ),
    )
}

/// `GET /v/{id}/unduh`: the signed PDF of a valid (or expired) document.
pub async fn download(
    State(state): State<Shared>,
    Client(client): Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = over_limit(&state, &client, false) {
        return r;
    }
    let found = async {
        let case = state
            .db
            .signing_case_by_verification_id(id.trim())
            .await
            .ok()??;
        if !matches!(
            DocState::parse(&case.state),
            Some(DocState::Signed | DocState::Published)
        ) {
            return None;
        }
        let doc = state
            .db
            .get_document(case.signed_document_id?)
            .await
            .ok()??;
        Some(doc)
    }
    .await;
    let (Some(doc), Some(docs)) = (found, state.documents.as_ref()) else {
        return secured(
            &state,
            crate::ui::error_page(StatusCode::NOT_FOUND, "Dokumen tidak ditemukan."),
        );
    };
    match crate::files::serve_document(docs, &doc, &headers, crate::files::Disposition::Attachment)
        .await
    {
        Ok(r) => secured(&state, r),
        Err(e) => secured(
            &state,
            crate::ui::error_page(StatusCode::SERVICE_UNAVAILABLE, &e.message),
        ),
    }
}

#[derive(Debug, Deserialize)]
pub struct CodeParams {
    pub kode: Option<String>,
}

fn check_form(lang: Lang) -> Markup {
    html! {
        section.card {
            h2 { (lang.t("Masukkan kode verifikasi", "Enter the verification code")) }
            form method="get" action="/periksa" {
                input name="kode" inputmode="text" autocapitalize="characters" placeholder=(lang.t("mis. ACDEFGHJKLMN", "e.g. ACDEFGHJKLMN")) aria-label=(lang.t("Kode verifikasi", "Verification code")) required;
                button type="submit" { (lang.t("Periksa", "Check")) }
            }
        }
        section.card {
            h2 { (lang.t("Unggah PDF", "Upload a PDF")) }
            p.muted { (lang.t("Berkas diperiksa secara kriptografis: keutuhan, cakupan tanda tangan, rantai sertifikat, cap waktu, pencabutan, dan kecocokan dengan catatan kantor. Paling besar 20 MB.", "The file is checked cryptographically: integrity, signature coverage, certificate chain, timestamp, revocation, and the office's records. At most 20 MB.")) }
            form method="post" action="/periksa" enctype="multipart/form-data" {
                input type="file" name="berkas" accept="application/pdf,.pdf" required aria-label=(lang.t("Berkas PDF", "PDF file"));
                button type="submit" { (lang.t("Periksa berkas", "Check the file")) }
            }
        }
    }
}

/// `GET /periksa`: enter a code (redirects to its page) or upload a PDF.
pub async fn check_page(
    State(state): State<Shared>,
    Client(client): Client,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Query(p): Query<CodeParams>,
) -> Response {
    if let Some(r) = over_limit(&state, &client, false) {
        return r;
    }
    let (lang, remember) = lang_of(&uri, &headers);
    if let Some(code) = p.kode.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        let code = normalize_code(code);
        return secured(
            &state,
            axum::response::Redirect::to(&format!("/v/{code}")).into_response(),
        );
    }
    let title = lang.t(
        "Periksa keaslian dokumen",
        "Check a document's authenticity",
    );
    answer(
        &state,
        remember,
        portal_page(
            lang,
            &switch_href(&uri, other(lang)),
            title,
            html! {
                h1 { (title) } p { a.button href="/pindai" { (lang.t("Pindai kode QR dengan kamera", "Scan the QR code with the camera")) } } (check_form(lang))
                // Applicants also come here to follow their application (issue 24).
                section.card #lacak-link { h2 { (lang.t("Lacak permohonan", "Track an application")) } p { (lang.t("Sampai di mana permohonan izin Anda? Masukkan nomor pendaftaran dari tanda terima.", "How far has your permit application come? Enter the registration number from your receipt.")) " " a href="/lacak" { (lang.t("Lacak permohonan", "Track an application")) } } }
            },
        ),
    )
}

/// The "office records" line of an upload: what our records say of the file.
fn records_check(case: &Option<SigningCase>, outcome: Outcome, lang: Lang) -> Check {
    match (case, outcome) {
        (Some(c), _) if c.state == DocState::Revoked.as_str() => Check {
            outcome: Outcome::Failed,
            detail: format!(
                "{}{}.",
                lang.t(
                    "Dokumen ini ada di catatan kantor, tetapi telah DICABUT",
                    "This document is in the office's records, but it has been REVOKED"
                ),
                c.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
        },
        (Some(c), _) => Check {
            outcome: Outcome::Passed,
            detail: format!(
                "{} {}).",
                lang.t(
                    "Sama persis dengan dokumen terbit di catatan kantor (kode verifikasi",
                    "Exactly the document issued in the office's records (verification code"
                ),
                c.verification_id
            ),
        },
        (None, Outcome::Failed) => Check {
            outcome: Outcome::Failed,
            detail: lang
                .t(
                    "Tidak cocok dengan dokumen mana pun di catatan kantor.",
                    "Matches no document in the office's records.",
                )
                .into(),
        },
        (None, _) => Check {
            outcome: Outcome::Indeterminate,
            detail: lang
                .t(
                    "Tidak ditemukan di catatan kantor (mungkin diterbitkan oleh instansi lain).",
                    "Not found in the office's records (perhaps issued by another agency).",
                )
                .into(),
        },
    }
}

/// `POST /periksa`: a PDF validated and matched with our records.
pub async fn check_upload(
    State(state): State<Shared>,
    Client(client): Client,
    headers: HeaderMap,
    uri: axum::http::Uri,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    if let Some(r) = over_limit(&state, &client, true) {
        return r;
    }
    let (lang, _) = lang_of(&uri, &headers);
    let switch = switch_href(&uri, other(lang));
    // Refused before reading when the request says it is too large.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > PORTAL_MAX_PDF + 64 * 1024) {
        return secured(&state, (
                StatusCode::PAYLOAD_TOO_LARGE,
                portal_page(
                    lang,
                    &switch,
                    lang.t("Berkas terlalu besar", "File too large"),
                    html! { h1 { (lang.t("Berkas terlalu besar", "File too large")) } p { (lang.t("Paling besar 20 MB.", "At most 20 MB.")) } (check_form(lang)) },
                ),
            )
                .into_response());
    }
    let bad = |msg: &str| {
        secured(&state, (
                StatusCode::BAD_REQUEST,
                portal_page(
                    lang,
                    &switch,
                    lang.t("Periksa keaslian dokumen", "Check a document's authenticity"),
                    html! { h1 { (lang.t("Periksa keaslian dokumen", "Check a document's authenticity")) } p.notice.warn { (msg) } (check_form(lang)) },
                ),
            )
                .into_response())
    };
    let Ok(mut form) = form else {
        return bad(lang.t("Unggah satu berkas PDF.", "Upload one PDF file."));
    };
    // Room for the bytes before they are read; a full gate asks the visitor to try again.
    let gate = upload_gate(&state);
    let Ok(admission) = gate.admit(declared, PORTAL_MAX_PDF).await else {
        discard(&mut form).await;
        return busy(&state, lang, &switch);
    };
    let files = match crate::files::read_uploads_sized(form, PORTAL_MAX_PDF, declared).await {
        Ok(f) => f,
        Err(e) => return bad(&e.message),
    };
    let Some(Ok(bytes)) = files.into_iter().next().map(|f| f.bytes) else {
        return bad(lang.t(
            "Berkas terlalu besar (paling besar 20 MB).",
            "The file is too large (at most 20 MB).",
        ));
    };
    let Ok(slot) = gate.check_slot().await else {
        return busy(&state, lang, &switch);
    };
    let anchors = state.trust_anchors.clone();
    let office = office_certificates(&state).await;
    let own = sources(&state).own().await;
    let (own_copy, office_copy) = (own.clone(), office.clone());
    let data = bytes.clone();
    // Bounded in time: validation is linear in the file, but a pathological one must not hold
    // a worker (the blocking thread finishes on its own; the visitor gets an answer now). The
    // bytes and the turn stay reserved until the check has really ended.
    let report = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::task::spawn_blocking(move || {
            let _held = (admission, slot);
            validate_file(&data, &anchors, office, &own)
        }),
    )
    .await;
    let Ok(Ok(report)) = report else {
        return bad(lang.t(
            "Berkas tidak dapat diperiksa (terlalu rumit atau rusak).",
            "The file cannot be checked (too complex or damaged).",
        ));
    };
    let report = online_recheck(&state, bytes.clone(), &report, own_copy, office_copy)
        .await
        .unwrap_or(report);
    // Our records: the same bytes as a signed file we issued, and that case's state.
    let issued = state
        .db
        .issued_document(&report.sha256)
        .await
        .ok()
        .flatten();
    let expiry = issued.as_ref().and_then(|i| i.expiry);
    let case = issued.map(|i| i.case);
    // In Bahasa for the verdict and the log; in the page's language for the visitor.
    let records = records_check(&case, report.outcome, Lang::Id);
    let records_shown = records_check(&case, report.outcome, lang);
    // The office's one verdict, as the QR page gives it for the same file.
    let verdict = verdict(
        record_of(case.as_ref(), expiry),
        proof_of(Some(&report)),
        state.office_today(),
    );
    let ended = |lang: Lang| {
        format!(
            "{} {}.",
            lang.t(
                "Dokumen ini asli, tetapi masa berlakunya telah habis pada",
                "This document is authentic, but its validity ended on"
            ),
            expiry
                .map(|d| d.format("%d-%m-%Y").to_string())
                .unwrap_or_default()
        )
    };
    let reason = match verdict {
        Verdict::Dicabut => records.detail.clone(),
        Verdict::Kedaluwarsa => ended(Lang::Id),
        _ => report.reason.clone(),
    };
    let shown_reason = match verdict {
        Verdict::Dicabut => records_shown.detail.clone(),
        Verdict::Kedaluwarsa => ended(lang),
        _ => lang.validator(&reason),
    };
    let (word, key) = (verdict.word(), verdict.key());
    log(
        &state,
        "upload",
        key,
        (verdict != Verdict::Asli).then(|| reason.clone()),
        case.as_ref().map(|c| c.verification_id.clone()),
        &client,
        &headers,
    );
    let sig = report.last();
    let content = html! {
        h1 { (lang.t("Hasil pemeriksaan berkas", "Result of the file check")) }
        (verdict_banner(word, verdict.word_in(lang), key, &shown_reason))
        @if let Some(s) = sig {
            section.card {
                h2 { (lang.t("Tanda tangan", "Signature")) }
                dl.facts {
                    dt { (lang.t("Penanda tangan", "Signed by")) } dd { (s.signer_common_name.as_deref().unwrap_or("—")) }
                    dt { (lang.t("Sertifikat dari", "Certificate from")) } dd #issuer-name { (s.issuer.as_deref().map(plain_name).unwrap_or_else(|| "—".into())) }
                    @if let Some(t) = s.timestamp_time { dt { (lang.t("Cap waktu", "Timestamp")) } dd { (state.office_time(t)) " WIB" } }
                }
                ul.checks #checks {
                    (line(lang, ("Keutuhan", "Integrity"), &s.integrity))
                    (line(lang, ("Cakupan seluruh berkas", "Covers the whole file"), &s.coverage))
                    (line(lang, ("Rantai sertifikat", "Certificate chain"), &s.chain))
                    (line(lang, ("Cap waktu", "Timestamp"), &s.timestamp))
                    (line(lang, ("Pencabutan", "Revocation"), &s.revocation))
                    (line(lang, ("Catatan kantor", "Office records"), &records_shown))
                }
            }
        } @else {
            ul.checks #checks { (line(lang, ("Catatan kantor", "Office records"), &records_shown)) }
        }
        (technical_details(lang, sig.and_then(|s| s.issuer.as_deref()), Some(report.sha256.as_str())))
    };
    secured(
        &state,
        portal_page(
            lang,
            &switch,
            lang.t("Hasil pemeriksaan", "Check result"),
            content,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_checks_in_one_second_become_one_row() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00.250Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let check = |ms: i64, result: &'static str| NewVerification {
            at: Some(at + chrono::Duration::milliseconds(ms)),
            method: "code",
            result,
            device: "mobile",
            checks: 1,
            ..Default::default()
        };
        let rows = aggregate(vec![
            check(0, "asli"),
            check(300, "asli"),
            check(700, "asli"),
            check(500, "tidak_dikenal"),
        ]);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].result, rows[0].checks), ("asli", 3));
        assert_eq!((rows[1].result, rows[1].checks), ("tidak_dikenal", 1));
        // The next second is another row.
        assert_eq!(
            aggregate(vec![check(0, "asli"), check(700, "asli")]).len(),
            1
        );
        assert_eq!(
            aggregate(vec![check(0, "asli"), check(800, "asli")]).len(),
            2
        );
    }
}
