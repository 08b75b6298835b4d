//! A Meta WhatsApp Cloud API simulator (`shared/spec/whatsapp-providers.md` §0–§1): the send
//! endpoint with Bearer auth, Meta's error shape and codes (190, 100, 131009, 131047, 131051,
//! 132000, 132001, 130429), the template list, signed status and inbound webhooks retried with
//! backoff like Meta's, and a "phone page" in Bahasa Indonesia that shows what citizens received
//! and lets a tester answer as a citizen (which opens that number's 24-hour window).
//!
//! Receipts go out from background tasks, never from the request: a send answers at once (or
//! after `latency_ms`), then `sent`, `delivered`, `read` (or `sent`, `failed`) follow.

// The helpers return the HTTP answer itself as their error; a test double, not a hot path.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

/// First pause before retrying a webhook delivery; doubles up to [`RETRY_MAX_PAUSE`].
const RETRY_FIRST_PAUSE: Duration = Duration::from_millis(200);
const RETRY_MAX_PAUSE: Duration = Duration::from_secs(30);
/// Meta retries for days; ten minutes covers a companion restart in the demo and the tests.
const RETRY_GIVE_UP: Duration = Duration::from_secs(600);
/// Deliveries in flight at once, so a batch of 1,000 sends does not open 3,000 connections.
const MAX_CONCURRENT_DELIVERIES: usize = 32;
/// The phone page shows at most this many messages per conversation (the newest).
const PAGE_MESSAGES_PER_CHAT: usize = 50;

/// A message template as registered in WhatsApp Manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimTemplate {
    pub name: String,
    /// Language code, e.g. `id`.
    pub language: String,
    /// `APPROVED`, `PENDING` or `REJECTED`: only approved templates can be sent.
    pub status: String,
    /// `UTILITY`, `MARKETING` or `AUTHENTICATION`.
    pub category: String,
    /// The body with positional placeholders: `Yth. {{1}}, izin {{2}} …`.
    pub body: String,
}

impl SimTemplate {
    /// An approved UTILITY template.
    pub fn approved(name: &str, language: &str, body: &str) -> Self {
        Self {
            name: name.into(),
            language: language.into(),
            status: "APPROVED".into(),
            category: "UTILITY".into(),
            body: body.into(),
        }
    }

    /// The number of distinct `{{n}}` placeholders: what Meta checks the parameters against.
    pub fn parameter_count(&self) -> usize {
        let mut seen: Vec<usize> = placeholders(&self.body).map(|(_, n, _)| n).collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }

    /// The body with `{{n}}` replaced by the n-th parameter (as the citizen's phone shows it).
    pub fn render(&self, parameters: &[String]) -> String {
        let mut out = String::with_capacity(self.body.len());
        let mut last = 0;
        for (start, n, end) in placeholders(&self.body) {
            out.push_str(&self.body[last..start]);
            match n.checked_sub(1).and_then(|i| parameters.get(i)) {
                Some(p) => out.push_str(p),
                None => out.push_str(&self.body[start..end]),
            }
            last = end;
        }
        out.push_str(&self.body[last..]);
        out
    }
}

/// `(start, n, end)` of every `{{n}}` in `body` (byte offsets).
fn placeholders(body: &str) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let mut from = 0;
    std::iter::from_fn(move || {
        while let Some(rel) = body[from..].find("{{") {
            let start = from + rel;
            let digits_start = start + 2;
            let digits = body[digits_start..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(body.len(), |i| digits_start + i);
            if digits > digits_start && body[digits..].starts_with("}}") {
                from = digits + 2;
                if let Ok(n) = body[digits_start..digits].parse() {
                    return Some((start, n, from));
                }
            } else {
                from = digits_start;
            }
        }
        None
    })
}

#[derive(Debug, Clone)]
pub struct WhatsappSimConfig {
    pub phone_number_id: String,
    pub waba_id: String,
    /// The business number shown in webhooks' `metadata.display_phone_number`.
    pub display_phone_number: String,
    pub access_token: String,
    /// Key of the `X-Hub-Signature-256` HMAC on webhooks.
    pub app_secret: String,
    /// Sent in the subscription handshake ([`WhatsappSim::subscribe`]).
    pub verify_token: String,
    /// Where receipts and inbound messages are POSTed (can be set later).
    pub webhook_url: Option<String>,
    /// Added before every API answer.
    pub latency_ms: u64,
    /// Pause before each receipt webhook of a message.
    pub receipt_delay_ms: u64,
    /// Whether `read` receipts follow `delivered` (people can turn them off).
    pub read_receipts: bool,
    pub templates: Vec<SimTemplate>,
    /// Numbers ending with it are accepted, then get a `failed` receipt with 131026.
    pub undeliverable_suffix: Option<String>,
    /// Send every receipt twice, `delivered` before `sent`: receivers must be idempotent.
    pub shuffle_receipts: bool,
}

impl Default for WhatsappSimConfig {
    fn default() -> Self {
        Self {
            phone_number_id: "100000000000001".into(),
            waba_id: "200000000000002".into(),
            display_phone_number: "6281100000001".into(),
            access_token: "sim-access-token".into(),
            app_secret: "sim-app-secret".into(),
            verify_token: "sim-verify-token".into(),
            webhook_url: None,
            latency_ms: 0,
            receipt_delay_ms: 50,
            read_receipts: true,
            templates: Vec::new(),
            undeliverable_suffix: None,
            shuffle_receipts: false,
        }
    }
}

/// What the send endpoint does instead of its normal answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhatsappFault {
    None,
    /// 500 with an HTML page; nothing accepted.
    Http500,
    /// 429 with Meta code 130429; nothing accepted.
    RateLimited,
    /// The message is accepted (and its receipts go out) but the request never gets an answer.
    Hang,
}

impl WhatsappFault {
    /// Names used by `POST /_sim/fault/{mode}`: none, error500, rate-limited, hang.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Self::None,
            "error500" => Self::Http500,
            "rate-limited" => Self::RateLimited,
            "hang" => Self::Hang,
            _ => return None,
        })
    }
}

/// A message the simulator accepted, as `GET /_sim/messages` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimMessage {
    pub wamid: String,
    /// Digits only (the `wa_id`).
    pub to: String,
    /// `biz_opaque_callback_data`: the sender's own message reference.
    pub reference: Option<String>,
    /// `text` or `template`.
    #[serde(rename = "type")]
    pub kind: String,
    pub template: Option<String>,
    pub language: Option<String>,
    pub parameters: Vec<String>,
    /// What the phone shows: the text body, or the template body filled with the parameters.
    pub text: String,
    /// `accepted`, `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    pub accepted_at: DateTime<Utc>,
    /// The error code of a `failed` receipt.
    pub error_code: Option<u32>,
}

/// A message a citizen sent to the business (phone form or [`WhatsappSim::inbound`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimInbound {
    pub id: String,
    pub from: String,
    pub name: String,
    pub text: String,
    pub received_at: DateTime<Utc>,
}

#[derive(Default)]
struct Store {
    messages: Vec<SimMessage>,
    by_wamid: HashMap<String, usize>,
    per_reference: HashMap<String, u32>,
    inbound: Vec<SimInbound>,
    /// Last inbound message per number: the 24-hour customer-service window.
    last_inbound: HashMap<String, DateTime<Utc>>,
    /// One conversation id per number, as in the receipts' `conversation.id`.
    conversations: HashMap<String, String>,
}

struct WaState {
    config: WhatsappSimConfig,
    webhook_url: Mutex<Option<String>>,
    fault: Mutex<WhatsappFault>,
    store: Mutex<Store>,
    accepted: AtomicU64,
    rejected: AtomicU64,
    webhooks_delivered: AtomicU64,
    webhooks_pending: AtomicU64,
    webhooks_abandoned: AtomicU64,
    http: reqwest::Client,
    deliveries: Semaphore,
    /// Flips to `true` on stop: background receipts and hanging requests end.
    stop: watch::Sender<bool>,
    /// Lets `inbound` (a plain fn) spawn its webhook.
    runtime: tokio::runtime::Handle,
}

type Shared = Arc<WaState>;

/// `sha256=<hex HMAC-SHA256(app_secret, body)>`: the `X-Hub-Signature-256` header value.
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(app_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    let mut out = String::from("sha256=");
    for b in mac.finalize().into_bytes() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn random_token(len: usize) -> String {
    use rand::Rng;
    use rand::distributions::Alphanumeric;
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A `wamid.` id like Meta's: base64 of the number and a random tail.
fn new_wamid(number: &str) -> String {
    let mut raw = format!("{number}\u{15}\u{2}\u{0}\u{11}\u{18}\u{12}").into_bytes();
    raw.extend(random_token(20).to_uppercase().bytes());
    format!("wamid.{}", STANDARD.encode(raw))
}

fn unix_string(t: DateTime<Utc>) -> String {
    t.timestamp().to_string()
}

/// Meta's error answer.
fn meta_error(
    status: StatusCode,
    code: u32,
    subcode: Option<u32>,
    message: &str,
    details: Option<&str>,
) -> Response {
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": random_token(27),
    });
    if let Some(sub) = subcode {
        error["error_subcode"] = json!(sub);
    }
    if let Some(details) = details {
        error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
    }
    (status, Json(json!({ "error": error }))).into_response()
}

fn invalid_parameter(details: &str) -> Response {
    meta_error(
        StatusCode::BAD_REQUEST,
        100,
        None,
        "(#100) Invalid parameter",
        Some(details),
    )
}

/// Digits of a phone number as Meta's `to` accepts it (an optional leading `+`).
fn wa_digits(to: &str) -> Option<String> {
    let digits = to.trim().strip_prefix('+').unwrap_or(to.trim());
    (digits.len() >= 8 && digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.to_string())
}

/// A number typed by a person on the phone page: spaces, dashes, `+62` or `08…`.
fn typed_digits(input: &str) -> Option<String> {
    let cleaned: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let cleaned = match cleaned.strip_prefix('0') {
        Some(rest) => format!("62{rest}"),
        None => cleaned,
    };
    wa_digits(&cleaned)
}

fn is_api_version(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let Some((major, minor)) = rest.split_once('.') else {
        return false;
    };
    [major, minor]
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// What a send request asked for, once validated.
enum Content {
    Text(String),
    Template {
        name: String,
        language: String,
        parameters: Vec<String>,
    },
}

struct SendRequest {
    input: String,
    to: String,
    reference: Option<String>,
    content: Content,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// Parses a send body the way the Cloud API does; errors are the API's answers.
fn parse_send(body: &[u8]) -> Result<SendRequest, Response> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Err(invalid_parameter("Request body is not valid JSON"));
    };
    if !v.is_object() {
        return Err(invalid_parameter("Request body must be a JSON object"));
    }
    if str_at(&v, &["messaging_product"]) != Some("whatsapp") {
        return Err(invalid_parameter(
            "The parameter messaging_product is required and must be \"whatsapp\"",
        ));
    }
    let Some(input) = str_at(&v, &["to"]) else {
        return Err(invalid_parameter("The parameter to is required"));
    };
    let Some(to) = wa_digits(input) else {
        return Err(meta_error(
            StatusCode::BAD_REQUEST,
            131009,
            None,
            "(#131009) Parameter value is not valid",
            Some("Recipient phone number is not a valid number"),
        ));
    };
    let reference = match v.get("biz_opaque_callback_data") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 512 => Some(s.clone()),
        Some(_) => {
            return Err(invalid_parameter(
                "biz_opaque_callback_data must be a string of at most 512 characters",
            ));
        }
    };
    let content = match str_at(&v, &["type"]).unwrap_or("text") {
        "text" => match str_at(&v, &["text", "body"]) {
            Some(b) if !b.trim().is_empty() && b.chars().count() <= 4096 => {
                Content::Text(b.to_string())
            }
            _ => {
                return Err(invalid_parameter(
                    "The parameter text['body'] is required (1 to 4096 characters)",
                ));
            }
        },
        "template" => {
            let (Some(name), Some(language)) = (
                str_at(&v, &["template", "name"]),
                str_at(&v, &["template", "language", "code"]),
            ) else {
                return Err(invalid_parameter(
                    "The parameters template['name'] and template['language']['code'] are required",
                ));
            };
            let mut parameters = Vec::new();
            let components = match v.get("template").and_then(|t| t.get("components")) {
                None | Some(Value::Null) => &[][..],
                Some(Value::Array(a)) => &a[..],
                Some(_) => {
                    return Err(invalid_parameter("template['components'] must be an array"));
                }
            };
            for component in components {
                let kind = str_at(component, &["type"]).unwrap_or_default();
                if !kind.eq_ignore_ascii_case("body") {
                    continue;
                }
                let params = match component.get("parameters") {
                    None => &[][..],
                    Some(Value::Array(a)) => &a[..],
                    Some(_) => {
                        return Err(invalid_parameter(
                            "components['parameters'] must be an array",
                        ));
                    }
                };
                for p in params {
                    match (str_at(p, &["type"]), str_at(p, &["text"])) {
                        (Some("text"), Some(text)) => parameters.push(text.to_string()),
                        _ => {
                            return Err(invalid_parameter(
                                "Each body parameter needs type \"text\" and a text value",
                            ));
                        }
                    }
                }
            }
            Content::Template {
                name: name.to_string(),
                language: language.to_string(),
                parameters,
            }
        }
        other => {
            return Err(meta_error(
                StatusCode::BAD_REQUEST,
                131051,
                None,
                "(#131051) Unsupported message type",
                Some(&format!(
                    "Message type {other} is not supported by this simulator"
                )),
            ));
        }
    };
    Ok(SendRequest {
        input: input.to_string(),
        to,
        reference,
        content,
    })
}

/// Rank of a status: a message only moves forward.
fn rank(status: &str) -> u8 {
    match status {
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        "failed" => 4,
        _ => 0,
    }
}

impl WaState {
    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic elsewhere must not take the simulator down with it.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fault(&self) -> WhatsappFault {
        *self.fault.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn webhook_url(&self) -> Option<String> {
        self.webhook_url
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn authorised(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| t.trim() == self.config.access_token)
    }

    fn template(&self, name: &str, language: &str) -> Option<&SimTemplate> {
        self.config
            .templates
            .iter()
            .find(|t| t.name == name && t.language == language && t.status == "APPROVED")
    }

    fn window_open(&self, number: &str) -> bool {
        self.store()
            .last_inbound
            .get(number)
            .is_some_and(|t| Utc::now() - *t < chrono::TimeDelta::hours(24))
    }

    /// Sleeps for `d`; `false` when the simulator stopped meanwhile.
    async fn pause(&self, d: Duration) -> bool {
        let mut stop = self.stop.subscribe();
        if *stop.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = stop.wait_for(|s| *s) => false,
        }
    }

    fn metadata(&self) -> Value {
        json!({
            "display_phone_number": self.config.display_phone_number,
            "phone_number_id": self.config.phone_number_id,
        })
    }

    fn envelope(&self, value: Value) -> Vec<u8> {
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": self.config.waba_id,
                "changes": [{"value": value, "field": "messages"}],
            }],
        });
        body.to_string().into_bytes()
    }

    fn status_webhook(&self, message: &SimMessage, status: &str, conversation: &str) -> Vec<u8> {
        let now = Utc::now();
        let category = match message.kind.as_str() {
            "template" => self
                .config
                .templates
                .iter()
                .find(|t| Some(&t.name) == message.template.as_ref())
                .map_or("utility".to_string(), |t| t.category.to_lowercase()),
            _ => "service".to_string(),
        };
        let mut s = json!({
            "id": message.wamid,
            "status": status,
            "timestamp": unix_string(now),
            "recipient_id": message.to,
        });
        if status == "failed" {
            // Meta sends no conversation or pricing with a failure, only the error.
            s["errors"] = json!([{
                "code": 131026,
                "title": "Message undeliverable",
                "message": "Message undeliverable",
                "error_data": {"details": "Message Undeliverable."},
            }]);
        } else {
            let mut conv = json!({"id": conversation, "origin": {"type": category}});
            if status == "sent" {
                conv["expiration_timestamp"] =
                    json!(unix_string(now + chrono::TimeDelta::hours(24)));
            }
            s["conversation"] = conv;
            s["pricing"] = json!({
                "billable": category != "service",
                "pricing_model": "CBP",
                "category": category,
            });
        }
        if let Some(r) = &message.reference {
            s["biz_opaque_callback_data"] = json!(r);
        }
        self.envelope(json!({
            "messaging_product": "whatsapp",
            "metadata": self.metadata(),
            "statuses": [s],
        }))
    }

    fn inbound_webhook(&self, m: &SimInbound) -> Vec<u8> {
        self.envelope(json!({
            "messaging_product": "whatsapp",
            "metadata": self.metadata(),
            "contacts": [{"profile": {"name": m.name}, "wa_id": m.from}],
            "messages": [{
                "from": m.from,
                "id": m.id,
                "timestamp": unix_string(m.received_at),
                "type": "text",
                "text": {"body": m.text},
            }],
        }))
    }

    /// POSTs one signed webhook, retrying with backoff like Meta until a 2xx or giving up.
    async fn deliver(&self, body: Vec<u8>) {
        let sig = signature(&self.config.app_secret, &body);
        let started = Instant::now();
        let mut pause = RETRY_FIRST_PAUSE;
        // Read on every try: the demo sets the URL once it knows its own port. No URL means
        // nobody is subscribed, and Meta drops the event.
        while let Some(url) = self.webhook_url() {
            if *self.stop.borrow() {
                break;
            }
            let delivered = match self.deliveries.acquire().await {
                Ok(_permit) => self
                    .http
                    .post(&url)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header("X-Hub-Signature-256", &sig)
                    .header(header::USER_AGENT, "facebookexternalua")
                    .body(body.clone())
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success()),
                Err(_) => break,
            };
            if delivered {
                self.webhooks_delivered.fetch_add(1, Ordering::Relaxed);
                break;
            }
            if started.elapsed() + pause > RETRY_GIVE_UP {
                tracing::debug!(%url, "WhatsApp simulator: webhook abandoned");
                self.webhooks_abandoned.fetch_add(1, Ordering::Relaxed);
                break;
            }
            if !self.pause(pause).await {
                break;
            }
            pause = (pause * 2).min(RETRY_MAX_PAUSE);
        }
        self.webhooks_pending.fetch_sub(1, Ordering::Relaxed);
    }

    /// Records an accepted message and starts its receipts in the background.
    fn accept(self: &Arc<Self>, request: SendRequest) -> SimMessage {
        let (kind, template, language, parameters, text) = match request.content {
            Content::Text(body) => ("text", None, None, Vec::new(), body),
            Content::Template {
                name,
                language,
                parameters,
            } => {
                let text = self
                    .template(&name, &language)
                    .map(|t| t.render(&parameters))
                    .unwrap_or_default();
                ("template", Some(name), Some(language), parameters, text)
            }
        };
        let message = SimMessage {
            wamid: new_wamid(&request.to),
            to: request.to,
            reference: request.reference,
            kind: kind.into(),
            template,
            language,
            parameters,
            text,
            status: "accepted".into(),
            accepted_at: Utc::now(),
            error_code: None,
        };
        let conversation = {
            let mut store = self.store();
            let index = store.messages.len();
            store.by_wamid.insert(message.wamid.clone(), index);
            store.messages.push(message.clone());
            if let Some(r) = &message.reference {
                *store.per_reference.entry(r.clone()).or_default() += 1;
            }
            store
                .conversations
                .entry(message.to.clone())
                .or_insert_with(|| format!("{:032x}", rand::random::<u128>()))
                .clone()
        };
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.spawn_receipts(message.clone(), conversation);
        message
    }

    fn receipt_plan(&self, to: &str) -> Vec<&'static str> {
        let undeliverable = self
            .config
            .undeliverable_suffix
            .as_deref()
            .is_some_and(|s| !s.is_empty() && to.ends_with(s));
        let mut plan = if undeliverable {
            vec!["sent", "failed"]
        } else if self.config.read_receipts {
            vec!["sent", "delivered", "read"]
        } else {
            vec!["sent", "delivered"]
        };
        if self.config.shuffle_receipts {
            if plan.len() >= 2 {
                plan.swap(0, 1);
            }
            plan.extend(plan.clone());
        }
        plan
    }

    /// One task per message walks its receipts; each webhook is chained after the previous one
    /// so a receiver that is down gets them in order once it is back.
    fn spawn_receipts(self: &Arc<Self>, message: SimMessage, conversation: String) {
        let plan = self.receipt_plan(&message.to);
        self.webhooks_pending
            .fetch_add(plan.len() as u64, Ordering::Relaxed);
        let state = self.clone();
        self.runtime.spawn(async move {
            let delay = Duration::from_millis(state.config.receipt_delay_ms);
            let mut previous: Option<JoinHandle<()>> = None;
            for (i, status) in plan.iter().enumerate() {
                if !state.pause(delay).await {
                    let left = (plan.len() - i) as u64;
                    state.webhooks_pending.fetch_sub(left, Ordering::Relaxed);
                    return;
                }
                {
                    let mut store = state.store();
                    if let Some(&idx) = store.by_wamid.get(&message.wamid)
                        && let Some(m) = store.messages.get_mut(idx)
                        && rank(status) > rank(&m.status)
                    {
                        m.status = (*status).into();
                        if *status == "failed" {
                            m.error_code = Some(131026);
                        }
                    }
                }
                let body = state.status_webhook(&message, status, &conversation);
                let deliverer = state.clone();
                let before = previous.take();
                previous = Some(tokio::spawn(async move {
                    if let Some(before) = before {
                        let _ = before.await;
                    }
                    deliverer.deliver(body).await;
                }));
            }
        });
    }

    fn record_inbound(self: &Arc<Self>, from: &str, name: &str, text: &str) -> SimInbound {
        let m = SimInbound {
            id: new_wamid(from),
            from: from.to_string(),
            name: name.to_string(),
            text: text.to_string(),
            received_at: Utc::now(),
        };
        {
            let mut store = self.store();
            store.last_inbound.insert(m.from.clone(), m.received_at);
            store.inbound.push(m.clone());
        }
        let body = self.inbound_webhook(&m);
        self.webhooks_pending.fetch_add(1, Ordering::Relaxed);
        let state = self.clone();
        self.runtime.spawn(async move { state.deliver(body).await });
        m
    }
}

/// `POST /{version}/{phone_number_id}/messages`.
async fn send_message(
    State(state): State<Shared>,
    Path((version, phone_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = send_answer(&state, &version, &phone_id, &headers, &body).await;
    if !answer.status().is_success() {
        state.rejected.fetch_add(1, Ordering::Relaxed);
    }
    answer
}

async fn send_answer(
    state: &Shared,
    version: &str,
    phone_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if state.config.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(state.config.latency_ms)).await;
    }
    if !is_api_version(version) {
        return meta_error(
            StatusCode::BAD_REQUEST,
            2500,
            None,
            &format!("Unknown path components: /{version}"),
            None,
        );
    }
    if !state.authorised(headers) {
        return meta_error(
            StatusCode::UNAUTHORIZED,
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
            None,
        );
    }
    if phone_id != state.config.phone_number_id {
        return meta_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(33),
            &format!(
                "Unsupported post request. Object with ID '{phone_id}' does not exist, cannot be \
                 loaded due to missing permissions, or does not support this operation."
            ),
            None,
        );
    }
    match state.fault() {
        WhatsappFault::Http500 => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<html><head><title>500 Internal Server Error</title></head>\
                 <body><h1>Internal Server Error</h1></body></html>",
            )
                .into_response();
        }
        WhatsappFault::RateLimited => {
            return meta_error(
                StatusCode::TOO_MANY_REQUESTS,
                130429,
                None,
                "(#130429) Rate limit hit",
                Some("Cloud API message throughput has been reached."),
            );
        }
        WhatsappFault::None | WhatsappFault::Hang => {}
    }
    let request = match parse_send(body) {
        Ok(r) => r,
        Err(answer) => return answer,
    };
    match &request.content {
        Content::Template {
            name,
            language,
            parameters,
        } => {
            let Some(template) = state.template(name, language) else {
                return meta_error(
                    StatusCode::BAD_REQUEST,
                    132001,
                    None,
                    "(#132001) Template name does not exist in the translation",
                    Some(&format!(
                        "template name ({name}) does not exist in {language} or is not approved"
                    )),
                );
            };
            let expected = template.parameter_count();
            if parameters.len() != expected {
                return meta_error(
                    StatusCode::BAD_REQUEST,
                    132000,
                    None,
                    "(#132000) Number of parameters does not match the expected number of params",
                    Some(&format!(
                        "body: number of localizable_params ({}) does not match the expected \
                         number of params ({expected})",
                        parameters.len()
                    )),
                );
            }
        }
        Content::Text(_) => {
            if !state.window_open(&request.to) {
                return meta_error(
                    StatusCode::BAD_REQUEST,
                    131047,
                    None,
                    "(#131047) Re-engagement message",
                    Some(
                        "Message failed to send because more than 24 hours have passed since \
                         the customer last replied to this number.",
                    ),
                );
            }
        }
    }
    let input = request.input.clone();
    let message = state.accept(request);
    if state.fault() == WhatsappFault::Hang {
        // Taken and sent, but the answer is lost: the client cannot know.
        state.pause(Duration::from_secs(24 * 3600)).await;
        return StatusCode::GATEWAY_TIMEOUT.into_response();
    }
    let mut entry = json!({"id": message.wamid});
    if message.kind == "template" {
        entry["message_status"] = json!("accepted");
    }
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": input, "wa_id": message.to}],
        "messages": [entry],
    }))
    .into_response()
}

#[derive(Deserialize)]
struct TemplateQuery {
    name: Option<String>,
}

/// `GET /{version}/{waba_id}/message_templates`.
async fn list_templates(
    State(state): State<Shared>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(query): Query<TemplateQuery>,
    headers: HeaderMap,
) -> Response {
    if state.config.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(state.config.latency_ms)).await;
    }
    if !is_api_version(&version) {
        return meta_error(
            StatusCode::BAD_REQUEST,
            2500,
            None,
            &format!("Unknown path components: /{version}"),
            None,
        );
    }
    if !state.authorised(&headers) {
        return meta_error(
            StatusCode::UNAUTHORIZED,
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
            None,
        );
    }
    if waba_id != state.config.waba_id {
        return meta_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(33),
            &format!("Unsupported get request. Object with ID '{waba_id}' does not exist"),
            None,
        );
    }
    let data: Vec<Value> = state
        .config
        .templates
        .iter()
        .enumerate()
        .filter(|(_, t)| query.name.as_ref().is_none_or(|n| *n == t.name))
        .map(|(i, t)| {
            json!({
                "name": t.name,
                "language": t.language,
                "status": t.status,
                "category": t.category,
                "components": [{"type": "BODY", "text": t.body}],
                "id": (300_000_000_000_000u64 + i as u64).to_string(),
            })
        })
        .collect();
    Json(json!({"data": data, "paging": {"cursors": {"before": "", "after": ""}}})).into_response()
}

fn stats_json(state: &WaState) -> Value {
    let (references, max) = {
        let store = state.store();
        (
            store.per_reference.len(),
            store.per_reference.values().copied().max().unwrap_or(0),
        )
    };
    json!({
        "accepted": state.accepted.load(Ordering::Relaxed),
        "rejected": state.rejected.load(Ordering::Relaxed),
        "max_per_reference": max,
        "references": references,
        "webhooks_delivered": state.webhooks_delivered.load(Ordering::Relaxed),
        "webhooks_pending": state.webhooks_pending.load(Ordering::Relaxed),
        "webhooks_abandoned": state.webhooks_abandoned.load(Ordering::Relaxed),
    })
}

/// `GET /_sim/stats`.
async fn stats(State(state): State<Shared>) -> Json<Value> {
    Json(stats_json(&state))
}

/// `GET /_sim/messages`.
async fn list_messages(State(state): State<Shared>) -> Json<Vec<SimMessage>> {
    Json(state.store().messages.clone())
}

/// `POST /_sim/fault/{mode}`: none, error500, rate-limited, hang.
async fn set_fault(State(state): State<Shared>, Path(mode): Path<String>) -> Response {
    match WhatsappFault::parse(&mode) {
        Some(f) => {
            *state.fault.lock().unwrap_or_else(|e| e.into_inner()) = f;
            StatusCode::NO_CONTENT.into_response()
        }
        None => (StatusCode::BAD_REQUEST, "unknown fault").into_response(),
    }
}

#[derive(Deserialize)]
struct PhoneForm {
    #[serde(default)]
    from: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    nama: String,
}

/// `POST /telepon/kirim`: a citizen writes to the business.
async fn phone_send(State(state): State<Shared>, Form(form): Form<PhoneForm>) -> Redirect {
    let Some(from) = typed_digits(&form.from) else {
        return Redirect::to("/?galat=nomor");
    };
    let text = form.text.trim();
    if text.is_empty() {
        return Redirect::to("/?galat=teks");
    }
    let name = match form.nama.trim() {
        "" => "Warga".to_string(),
        n => n.to_string(),
    };
    state.record_inbound(&from, &name, text);
    Redirect::to("/")
}

#[derive(Deserialize)]
struct PageQuery {
    galat: Option<String>,
    segar: Option<u32>,
}

fn wib(t: DateTime<Utc>) -> String {
    // Western Indonesia Time (UTC+7), the offices' zone.
    (t + chrono::TimeDelta::hours(7))
        .format("%d/%m %H:%M")
        .to_string()
}

enum Bubble<'a> {
    Out(&'a SimMessage),
    In(&'a SimInbound),
}

impl Bubble<'_> {
    fn at(&self) -> DateTime<Utc> {
        match self {
            Bubble::Out(m) => m.accepted_at,
            Bubble::In(m) => m.received_at,
        }
    }
    fn text(&self) -> &str {
        match self {
            Bubble::Out(m) => &m.text,
            Bubble::In(m) => &m.text,
        }
    }
}

const PAGE_CSS: &str = "\
*{box-sizing:border-box}body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;\
background:#e5ddd5;color:#111}.hp{max-width:480px;margin:0 auto;min-height:100vh;background:#efeae2}\
header{background:#075e54;color:#fff;padding:12px 16px;position:sticky;top:0;z-index:1}\
header h1{margin:0;font-size:18px}header p{margin:2px 0 0;font-size:12px;opacity:.85}\
header a{color:#fff}.galat{background:#fdecea;color:#b71c1c;padding:8px 16px;font-size:14px}\
details{background:#fff;border-bottom:1px solid #ddd;overflow:hidden}summary{list-style:none;display:flex;gap:10px;\
align-items:center;padding:10px 16px;cursor:pointer}summary::-webkit-details-marker{display:none}\
.av{flex:none;width:42px;height:42px;border-radius:50%;background:#cfd8dc;display:flex;\
align-items:center;justify-content:center;font-weight:600;color:#455a64}.ringkas{flex:1;min-width:0;overflow:hidden}\
.nomor{font-weight:600}.pratinjau{font-size:13px;color:#667;white-space:nowrap;overflow:hidden;\
text-overflow:ellipsis}.jam{font-size:12px;color:#667}.obrolan{background:#efeae2;padding:8px 10px}\
.b{max-width:85%;margin:6px 0;padding:6px 9px 4px;border-radius:8px;box-shadow:0 1px 1px rgba(0,0,0,.1);\
white-space:pre-wrap;word-wrap:break-word;font-size:15px}.keluar{background:#d9fdd3;margin-left:auto}\
.masuk{background:#fff}.meta{display:block;text-align:right;font-size:11px;color:#667;margin-top:2px}\
.tpl{display:block;font-size:11px;color:#075e54;margin-bottom:2px}.c{letter-spacing:-3px;margin-left:4px}\
.c.dibaca{color:#34b7f1}.c.gagal{color:#d32f2f;letter-spacing:0}.gagal-t{color:#d32f2f;font-size:12px}\
form{background:#fff;padding:12px 16px;margin-top:8px}form h2{font-size:16px;margin:0 0 8px}\
label{display:block;font-size:13px;margin:8px 0 2px}input,textarea{width:100%;padding:8px;font:inherit;\
border:1px solid #bbb;border-radius:6px}button{margin-top:10px;width:100%;padding:10px;border:0;\
border-radius:20px;background:#25d366;color:#fff;font-weight:600;font-size:15px}\
.kosong{padding:24px 16px;text-align:center;color:#667}";

fn ticks(status: &str) -> &'static str {
    match status {
        "sent" => "<span class=\"c\" title=\"Terkirim\">✓</span>",
        "delivered" => "<span class=\"c\" title=\"Diterima\">✓✓</span>",
        "read" => "<span class=\"c dibaca\" title=\"Dibaca\">✓✓</span>",
        "failed" => "<span class=\"c gagal\" title=\"Gagal\">✕</span>",
        _ => "<span class=\"c\" title=\"Menunggu\">🕓</span>",
    }
}

fn render_page(state: &WaState, query: &PageQuery) -> String {
    let store = state.store();
    let mut chats: HashMap<&str, Vec<Bubble<'_>>> = HashMap::new();
    for m in &store.messages {
        chats.entry(&m.to).or_default().push(Bubble::Out(m));
    }
    for m in &store.inbound {
        chats.entry(&m.from).or_default().push(Bubble::In(m));
    }
    let mut chats: Vec<(&str, Vec<Bubble<'_>>)> = chats.into_iter().collect();
    for (_, bubbles) in &mut chats {
        bubbles.sort_by_key(Bubble::at);
    }
    // Newest conversation first, as on a phone.
    chats.sort_by_key(|(_, b)| std::cmp::Reverse(b.last().map(Bubble::at)));

    let esc = |s: &str| html_escape::encode_text(s).into_owned();
    let mut h = String::with_capacity(4096);
    h.push_str("<!DOCTYPE html><html lang=\"id\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    if let Some(s) = query.segar.filter(|s| (1..=600).contains(s)) {
        let _ = write!(h, "<meta http-equiv=\"refresh\" content=\"{s}\">");
    }
    let _ = write!(
        h,
        "<title>Simulator WhatsApp</title><style>{PAGE_CSS}</style></head><body><div class=\"hp\">"
    );
    let _ = write!(
        h,
        "<header><h1>WhatsApp (simulator)</h1><p>Akun bisnis +{} · {} pesan diterima · \
         <a href=\"/\">Muat ulang</a> · <a href=\"/?segar=3\">Muat ulang otomatis</a></p></header>",
        esc(&state.config.display_phone_number),
        state.accepted.load(Ordering::Relaxed),
    );
    match query.galat.as_deref() {
        Some("nomor") => h.push_str(
            "<div class=\"galat\">Nomor tidak sah: tulis 8–15 angka, mis. 081234567890.</div>",
        ),
        Some("teks") => h.push_str("<div class=\"galat\">Pesan tidak boleh kosong.</div>"),
        _ => {}
    }
    if chats.is_empty() {
        h.push_str("<p class=\"kosong\">Belum ada percakapan.</p>");
    }
    for (i, (number, bubbles)) in chats.iter().enumerate() {
        let last = bubbles.last();
        let preview = last.map(Bubble::text).unwrap_or_default();
        let preview: String = preview.chars().take(80).collect();
        let tail: String = number
            .chars()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let _ = write!(
            h,
            "<details{}><summary><span class=\"av\">{}</span><span class=\"ringkas\">\
             <span class=\"nomor\">+{}</span><span class=\"pratinjau\">{}</span></span>\
             <span class=\"jam\">{}</span></summary><div class=\"obrolan\">",
            if i < 5 { " open" } else { "" },
            esc(&tail),
            esc(number),
            esc(&preview),
            last.map(|b| wib(b.at())).unwrap_or_default(),
        );
        let skipped = bubbles.len().saturating_sub(PAGE_MESSAGES_PER_CHAT);
        if skipped > 0 {
            let _ = write!(
                h,
                "<p class=\"jam\">{skipped} pesan lebih lama tidak ditampilkan.</p>"
            );
        }
        for b in &bubbles[skipped..] {
            match b {
                Bubble::Out(m) => {
                    h.push_str("<div class=\"b keluar\">");
                    if let Some(t) = &m.template {
                        let _ = write!(h, "<span class=\"tpl\">Templat: {}</span>", esc(t));
                    }
                    h.push_str(&esc(&m.text));
                    if m.status == "failed" {
                        let _ = write!(
                            h,
                            "<span class=\"gagal-t\"><br>Gagal terkirim ({})</span>",
                            m.error_code.unwrap_or(0)
                        );
                    }
                    let _ = write!(
                        h,
                        "<span class=\"meta\">{}{}</span></div>",
                        wib(m.accepted_at),
                        ticks(&m.status)
                    );
                }
                Bubble::In(m) => {
                    let _ = write!(
                        h,
                        "<div class=\"b masuk\">{}<span class=\"meta\">{} · {}</span></div>",
                        esc(&m.text),
                        esc(&m.name),
                        wib(m.received_at)
                    );
                }
            }
        }
        h.push_str("</div></details>");
    }
    h.push_str(
        "<form method=\"post\" action=\"/telepon/kirim\"><h2>Kirim pesan sebagai warga</h2>\
         <label for=\"from\">Nomor WhatsApp warga</label>\
         <input id=\"from\" name=\"from\" inputmode=\"tel\" required placeholder=\"081234567890\">\
         <label for=\"nama\">Nama (opsional)</label>\
         <input id=\"nama\" name=\"nama\" placeholder=\"Warga\">\
         <label for=\"text\">Pesan</label>\
         <textarea id=\"text\" name=\"text\" rows=\"3\" required placeholder=\"Halo, bagaimana status izin saya?\"></textarea>\
         <button type=\"submit\">Kirim</button></form></div></body></html>",
    );
    h
}

/// `GET /`: the phone page.
async fn phone_page(State(state): State<Shared>, Query(query): Query<PageQuery>) -> Html<String> {
    Html(render_page(&state, &query))
}

/// A running WhatsApp Cloud API simulator. Dropping it (or [`WhatsappSim::stop`]) stops the
/// server and the pending receipts.
pub struct WhatsappSim {
    addr: SocketAddr,
    state: Shared,
    server: JoinHandle<()>,
}

impl Drop for WhatsappSim {
    fn drop(&mut self) {
        self.stop();
    }
}

impl WhatsappSim {
    /// Serves on `listen` (port 0 picks one; see [`WhatsappSim::url`]).
    pub async fn start(listen: SocketAddr, config: WhatsappSimConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .build()?;
        let (stop, _) = watch::channel(false);
        let state = Arc::new(WaState {
            webhook_url: Mutex::new(config.webhook_url.clone()),
            config,
            fault: Mutex::new(WhatsappFault::None),
            store: Mutex::new(Store::default()),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            webhooks_delivered: AtomicU64::new(0),
            webhooks_pending: AtomicU64::new(0),
            webhooks_abandoned: AtomicU64::new(0),
            http,
            deliveries: Semaphore::new(MAX_CONCURRENT_DELIVERIES),
            stop,
            runtime: tokio::runtime::Handle::current(),
        });
        let app = Router::new()
            .route("/", get(phone_page))
            .route("/telepon/kirim", post(phone_send))
            .route("/{version}/{id}/messages", post(send_message))
            .route("/{version}/{id}/message_templates", get(list_templates))
            .route("/_sim/stats", get(stats))
            .route("/_sim/messages", get(list_messages))
            .route("/_sim/fault/{mode}", post(set_fault))
            .with_state(state.clone());
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "WhatsApp simulator stopped");
            }
        });
        Ok(Self {
            addr,
            state,
            server,
        })
    }

    /// The base URL, standing in for `https://graph.facebook.com`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> &WhatsappSimConfig {
        &self.state.config
    }

    /// Where receipts and inbound messages go from now on (also for webhooks being retried).
    pub fn set_webhook_url(&self, url: Option<String>) {
        *self
            .state
            .webhook_url
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = url;
    }

    pub fn set_fault(&self, fault: WhatsappFault) {
        *self.state.fault.lock().unwrap_or_else(|e| e.into_inner()) = fault;
    }

    /// Messages accepted (each send counted, duplicates included).
    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::Relaxed)
    }

    /// Send requests answered with an error.
    pub fn rejected(&self) -> u64 {
        self.state.rejected.load(Ordering::Relaxed)
    }

    /// How many accepted messages carried this `biz_opaque_callback_data`.
    pub fn count_for_reference(&self, reference: &str) -> u32 {
        self.state
            .store()
            .per_reference
            .get(reference)
            .copied()
            .unwrap_or(0)
    }

    /// The most times any one reference was accepted: 1 means "never sent twice".
    pub fn max_per_reference(&self) -> u32 {
        self.state
            .store()
            .per_reference
            .values()
            .copied()
            .max()
            .unwrap_or(0)
    }

    pub fn messages(&self) -> Vec<SimMessage> {
        self.state.store().messages.clone()
    }

    pub fn inbound_messages(&self) -> Vec<SimInbound> {
        self.state.store().inbound.clone()
    }

    /// Webhooks delivered with a 2xx answer.
    pub fn webhooks_delivered(&self) -> u64 {
        self.state.webhooks_delivered.load(Ordering::Relaxed)
    }

    /// Webhooks not yet delivered (waiting for their time or being retried).
    pub fn webhooks_pending(&self) -> u64 {
        self.state.webhooks_pending.load(Ordering::Relaxed)
    }

    /// The `/_sim/stats` document.
    pub fn stats(&self) -> Value {
        stats_json(&self.state)
    }

    /// A citizen writes `text` from `from` (as the phone form does): opens the number's 24-hour
    /// window and POSTs the inbound webhook in the background. Returns the message's id.
    pub fn inbound(&self, from: &str, text: &str) -> anyhow::Result<String> {
        let Some(from) = typed_digits(from) else {
            anyhow::bail!("not a phone number: {from:?}");
        };
        Ok(self.state.record_inbound(&from, "Warga", text).id)
    }

    /// Meta's subscription handshake: `GET webhook_url?hub.mode=subscribe&hub.verify_token=…
    /// &hub.challenge=…`, which must answer 200 with the challenge as the body.
    pub async fn subscribe(&self) -> anyhow::Result<()> {
        let Some(url) = self.state.webhook_url() else {
            anyhow::bail!("no webhook URL set");
        };
        let challenge = format!("{}", rand::random::<u32>());
        let answer = self
            .state
            .http
            .get(&url)
            .query(&[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", self.state.config.verify_token.as_str()),
                ("hub.challenge", challenge.as_str()),
            ])
            .send()
            .await?;
        let status = answer.status();
        let body = answer.text().await?;
        if !status.is_success() {
            anyhow::bail!("webhook verification answered {status}");
        }
        if body.trim() != challenge {
            anyhow::bail!("webhook verification did not echo the challenge");
        }
        Ok(())
    }

    /// Stops the server, hanging requests and receipts not yet delivered.
    pub fn stop(&self) {
        self.server.abort();
        self.state.stop.send_replace(true);
    }
}
