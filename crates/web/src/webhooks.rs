//! WhatsApp provider webhooks: `GET /webhooks/whatsapp` answers Meta's verification handshake,
//! `POST /webhooks/whatsapp` takes receipts and inbound messages. The signature (or secret token)
//! is checked on the raw body before anything is parsed; a bad one gets 401 and changes nothing.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::Shared;
use companion_notify::providers::{WebhookError, WebhookRequest};

fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

/// The public URL the provider called (Twilio signs it): the configured public address plus
/// the path and query as received.
fn public_url(state: &crate::AppState, uri: &Uri) -> String {
    let base = state.config.public_base_url.trim_end_matches('/');
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    format!("{base}{pq}")
}

pub async fn handshake(State(state): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let Some(notifier) = &state.notifier else {
        return plain(StatusCode::NOT_FOUND, "not configured");
    };
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    match notifier.provider().webhook_handshake(&pairs) {
        Some(Ok(challenge)) => (StatusCode::OK, challenge).into_response(),
        Some(Err(_)) => plain(StatusCode::FORBIDDEN, "verify token mismatch"),
        None => plain(StatusCode::NOT_FOUND, "no handshake for this provider"),
    }
}

pub async fn receive(
    State(state): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(notifier) = &state.notifier else {
        return plain(StatusCode::NOT_FOUND, "not configured");
    };
    let url = public_url(&state, &uri);
    let request = WebhookRequest {
        url: &url,
        headers: &headers,
        body: &body,
    };
    let provider = notifier.provider();
    if let Err(e) = provider.verify_webhook(&request) {
        metrics::counter!("companion_whatsapp_webhooks_total", "result" => "unauthorized")
            .increment(1);
        tracing::warn!(error = %e, "WhatsApp webhook refused");
        return plain(StatusCode::UNAUTHORIZED, "invalid signature");
    }
    let events = match provider.parse_webhook(&request) {
        Ok(events) => events,
        Err(WebhookError::Malformed(why)) => {
            tracing::warn!(%why, "WhatsApp webhook not understood");
            return plain(StatusCode::BAD_REQUEST, "payload not understood");
        }
        Err(WebhookError::Unauthorized(_)) => {
            return plain(StatusCode::UNAUTHORIZED, "invalid signature");
        }
    };
    match notifier.handle_webhook(events).await {
        Ok(()) => {
            metrics::counter!("companion_whatsapp_webhooks_total", "result" => "ok").increment(1);
            plain(StatusCode::OK, "ok")
        }
        Err(e) => {
            // 5xx: the provider retries later, so nothing is lost while the database is away.
            tracing::error!(error = %e, "WhatsApp webhook not applied");
            plain(StatusCode::SERVICE_UNAVAILABLE, "try again later")
        }
    }
}
