//! Plumbing shared by the adapters: one HTTP client per provider, turning transport failures into
//! [`SendError`]s with the right [`SendOutcome`], safe error details, constant-time comparisons
//! and small parsing helpers for webhooks.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::{FailureKind, Secret, SendError, SendOutcome};

/// Longest `detail` we keep from a provider's answer (characters).
pub const MAX_DETAIL: usize = 300;

/// Default request timeout: long enough for a slow provider, short enough for the dispatcher.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// A provider could not be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{provider}: invalid configuration: {reason}")]
    Invalid {
        provider: &'static str,
        reason: String,
    },
    #[error("{provider}: HTTP client could not be built: {reason}")]
    Client {
        provider: &'static str,
        reason: String,
    },
}

pub(crate) fn build_client(
    provider: &'static str,
    timeout: Duration,
) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .timeout(timeout)
        // The connect phase gets its own, shorter limit so a dead host is a clean "not sent".
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("sicantik-companion/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConfigError::Client {
            provider,
            reason: e.to_string(),
        })
}

/// `base_url` without a trailing slash, so `format!("{base}/path")` never doubles it.
pub(crate) fn trim_base(base: &str) -> String {
    base.trim_end_matches('/').to_string()
}

/// Cut `text` to at most [`MAX_DETAIL`] characters (on a char boundary), collapse whitespace and
/// blank out every credential that might have been echoed back.
pub fn safe_detail(text: &str, secrets: &[&Secret]) -> String {
    let mut cleaned = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for secret in secrets {
        // Very short "secrets" would blank out ordinary words; real credentials are long.
        if secret.expose().len() >= 4 {
            cleaned = cleaned.replace(secret.expose(), "***");
        }
    }
    truncate(&cleaned, MAX_DETAIL)
}

/// At most `max` characters, with `…` when something was cut.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// Constant-time equality of two byte strings (the length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// HMAC-SHA256 of `data` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    // HMAC takes keys of any length, so `new_from_slice` cannot fail.
    let mut mac =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `+6281…` / `6281…` / `whatsapp:+6281…` → `6281…`.
pub(crate) fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// Anything holding a phone number → E.164 with the plus sign.
pub(crate) fn e164(number: &str) -> String {
    format!("+{}", digits(number))
}

/// An answer as it came back, before any provider-specific reading.
pub(crate) struct RawResponse {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn looks_like_html(&self) -> bool {
        // JSON never starts with `<`; HTML and XML error pages from proxies do.
        String::from_utf8_lossy(&self.body[..self.body.len().min(64)])
            .trim_start()
            .starts_with('<')
    }
}

/// Send a request and read the whole answer. Transport failures become [`SendError`]s:
/// a failed connect means nothing was written (NotSent); anything after that — a timeout, a cut
/// connection, a body that could not be read — may have been taken (Unknown).
pub(crate) async fn execute(
    provider: &'static str,
    request: reqwest::RequestBuilder,
    secrets: &[&Secret],
) -> Result<RawResponse, SendError> {
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(provider, &e, secrets))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(provider, &e, secrets))?;
    Ok(RawResponse {
        status,
        body: body.to_vec(),
    })
}

pub(crate) fn transport_error(
    provider: &'static str,
    error: &reqwest::Error,
    secrets: &[&Secret],
) -> SendError {
    // reqwest's Display never includes headers, but URLs may carry a token in some APIs.
    let detail = safe_detail(&error_chain(error), secrets);
    if error.is_connect() {
        SendError {
            provider,
            kind: FailureKind::ProviderUnavailable,
            code: None,
            detail,
            outcome: SendOutcome::NotSent,
        }
    } else if error.is_builder() {
        // The request was never built, so it certainly did not leave.
        SendError {
            provider,
            kind: FailureKind::InvalidRequest,
            code: None,
            detail,
            outcome: SendOutcome::NotSent,
        }
    } else {
        // Timeout, reset, truncated answer: the provider may have taken the message.
        SendError {
            provider,
            kind: FailureKind::Timeout,
            code: None,
            detail,
            outcome: SendOutcome::Unknown,
        }
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// An error answer that carries no usable provider error object: decide from the HTTP status.
pub(crate) fn http_status_error(
    provider: &'static str,
    response: &RawResponse,
    secrets: &[&Secret],
) -> SendError {
    let kind = match response.status.as_u16() {
        401 | 403 => FailureKind::Unauthorized,
        429 => FailureKind::RateLimited,
        // 5xx, HTML from a proxy, garbage: the provider did not take it.
        _ => FailureKind::ProviderUnavailable,
    };
    let body = if response.looks_like_html() {
        "HTML page".to_string()
    } else {
        response.text()
    };
    SendError {
        provider,
        kind,
        code: None,
        detail: safe_detail(
            &format!("HTTP {}: {body}", response.status.as_u16()),
            secrets,
        ),
        outcome: SendOutcome::NotSent,
    }
}

/// A 2xx answer we cannot read an id from: the provider most likely took the message, so it must
/// not be resent blindly.
pub(crate) fn unreadable_success(
    provider: &'static str,
    response: &RawResponse,
    secrets: &[&Secret],
) -> SendError {
    SendError {
        provider,
        kind: FailureKind::ProviderUnavailable,
        code: None,
        detail: safe_detail(
            &format!(
                "HTTP {} without a message id: {}",
                response.status.as_u16(),
                response.text()
            ),
            secrets,
        ),
        outcome: SendOutcome::Unknown,
    }
}

/// A JSON value that may be a string or a number (ids, codes, timestamps) as a string.
pub(crate) fn string_or_number(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Unix seconds given as a string (Meta) or a number.
pub(crate) fn unix_seconds(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let text = string_or_number(value)?;
    let seconds: i64 = text.trim().parse().ok()?;
    Utc.timestamp_opt(seconds, 0).single()
}

/// An RFC 3339 / ISO-8601 timestamp.
pub(crate) fn iso8601(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let text = value?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The query pairs of a full or relative URL.
pub(crate) fn query_pairs(url: &str) -> Vec<(String, String)> {
    let query = match url.split_once('?') {
        Some((_, q)) => q.split('#').next().unwrap_or_default(),
        None => return Vec::new(),
    };
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

pub(crate) fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_char_boundary_and_redacts() {
        let secret = Secret::new("s3cr3t-token");
        let text = format!("bad token s3cr3t-token {}", "é".repeat(400));
        let detail = safe_detail(&text, &[&secret]);
        assert!(!detail.contains("s3cr3t"));
        assert!(detail.chars().count() <= MAX_DETAIL + 1);
        assert!(detail.ends_with('…'));
    }

    #[test]
    fn numbers_normalise() {
        assert_eq!(digits("whatsapp:+62 812-3456"), "628123456");
        assert_eq!(e164("6281234"), "+6281234");
    }
}
