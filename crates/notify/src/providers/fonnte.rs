//! Fonnte: an Indonesian gateway driving a phone linked by QR code. No Meta templates (the
//! rendered text is sent) and no webhook signature: a secret token in our webhook URL, and
//! Fonnte's own webhook secret checked as well when it is configured.
//!
//! Status updates come in three shapes (Fonnte's sample handler): `id` + `stateid` (status and
//! state; the pairing is recorded), `id` only (status), and `stateid` only (a later
//! delivered/read state of the message the first update paired it with).

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::http_util::{self, ConfigError, ct_eq, execute, safe_detail, string_or_number};
use super::{
    Accepted, DeliveryStatus, FailureKind, OutgoingMessage, Provider, Secret, SendError,
    SendOutcome, WebhookError, WebhookEvent, WebhookRequest,
};

const NAME: &str = "fonnte";

#[derive(Debug, Clone)]
pub struct FonnteConfig {
    /// `https://api.fonnte.com` in production.
    pub base_url: String,
    /// The device token (sent raw in `Authorization`).
    pub token: Secret,
    /// Secret our webhook URL carries (`?token=…` or its last path segment): Fonnte signs nothing.
    pub webhook_token: Secret,
    /// Fonnte's webhook secret (set on the device in Fonnte's dashboard): when not empty, every
    /// webhook must carry it, in the JSON field (or header) named by `webhook_secret_field`.
    pub webhook_secret: Secret,
    /// Where Fonnte puts its secret; Fonnte has not published the name, `secret` by default.
    pub webhook_secret_field: String,
    /// `countryCode` field: Fonnte replaces a leading 0 with it (`62`).
    pub country_code: String,
    pub timeout: Duration,
}

/// Where Fonnte's webhook secret is looked for unless configured otherwise.
pub const DEFAULT_SECRET_FIELD: &str = "secret";

impl Default for FonnteConfig {
    fn default() -> Self {
        FonnteConfig {
            base_url: "https://api.fonnte.com".into(),
            token: Secret::default(),
            webhook_token: Secret::default(),
            webhook_secret: Secret::default(),
            webhook_secret_field: DEFAULT_SECRET_FIELD.into(),
            country_code: "62".into(),
            timeout: http_util::DEFAULT_TIMEOUT,
        }
    }
}

pub struct FonnteProvider {
    config: FonnteConfig,
    base: String,
    client: reqwest::Client,
}

impl FonnteProvider {
    pub fn new(config: FonnteConfig) -> Result<Self, ConfigError> {
        let client = http_util::build_client(NAME, config.timeout)?;
        Ok(FonnteProvider {
            base: http_util::trim_base(&config.base_url),
            config,
            client,
        })
    }

    fn secrets(&self) -> [&Secret; 3] {
        [
            &self.config.token,
            &self.config.webhook_token,
            &self.config.webhook_secret,
        ]
    }

    /// Fonnte's own webhook secret, when configured: in the JSON body's field (a string or a
    /// number) or a header of that name; compared in constant time.
    fn check_secret(&self, request: &WebhookRequest<'_>) -> Result<(), WebhookError> {
        let expected = self.config.webhook_secret.expose();
        if expected.is_empty() {
            return Ok(());
        }
        let field = match self.config.webhook_secret_field.trim() {
            "" => DEFAULT_SECRET_FIELD,
            f => f,
        };
        let from_body = serde_json::from_slice::<Value>(request.body)
            .ok()
            .and_then(|v| string_or_number(v.get(field)));
        let given = from_body
            .or_else(|| http_util::header(request.headers, field).map(str::to_string))
            .filter(|s| !s.is_empty())
            .ok_or(WebhookError::Unauthorized("Fonnte webhook secret missing"))?;
        if ct_eq(given.as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err(WebhookError::Unauthorized("Fonnte webhook secret mismatch"))
        }
    }
}

/// A `status:false` answer's `reason` in our terms.
pub fn reason_kind(reason: &str) -> FailureKind {
    let reason = reason.to_lowercase();
    let has = |w: &str| reason.contains(w);
    if has("token") {
        FailureKind::Unauthorized
    } else if has("disconnect") {
        // Our phone is offline: Fonnte cannot send now, later it may.
        FailureKind::ProviderUnavailable
    } else if has("quota") || has("limit") {
        FailureKind::RateLimited
    } else if has("not registered") || has("target invalid") || has("invalid target") {
        FailureKind::NotOnWhatsApp
    } else if has("invalid") || has("required") || has("empty") {
        FailureKind::InvalidRequest
    } else {
        FailureKind::Other
    }
}

#[async_trait]
impl Provider for FonnteProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn uses_templates(&self) -> bool {
        false
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Accepted, SendError> {
        let form = [
            ("target", http_util::digits(&message.to)),
            // Templates arrive here already rendered; Fonnte has no template parameter.
            ("message", message.content.text().to_string()),
            ("countryCode", self.config.country_code.clone()),
        ];
        let request = self
            .client
            .post(format!("{}/send", self.base))
            .header(reqwest::header::AUTHORIZATION, self.config.token.expose())
            .form(&form);
        let response = execute(NAME, request, &self.secrets()).await?;
        let json = response.json().filter(|v| v.get("status").is_some());
        let Some(json) = json else {
            if response.status.is_success() {
                return Err(http_util::unreadable_success(
                    NAME,
                    &response,
                    &self.secrets(),
                ));
            }
            return Err(http_util::http_status_error(
                NAME,
                &response,
                &self.secrets(),
            ));
        };
        // Fonnte answers HTTP 200 for both outcomes; the boolean `status` decides.
        if json.get("status").and_then(Value::as_bool) == Some(true) {
            // `id` is an array (one per target); accept a scalar too.
            let id = match json.get("id") {
                Some(Value::Array(ids)) => string_or_number(ids.first()),
                other => string_or_number(other),
            };
            return match id {
                Some(provider_id) => Ok(Accepted { provider_id }),
                None => Err(http_util::unreadable_success(
                    NAME,
                    &response,
                    &self.secrets(),
                )),
            };
        }
        let reason = json
            .get("reason")
            .or_else(|| json.get("detail"))
            .and_then(Value::as_str)
            .unwrap_or("status false without reason");
        let kind = match response.status.as_u16() {
            s if s >= 500 => FailureKind::ProviderUnavailable,
            401 | 403 => FailureKind::Unauthorized,
            429 => FailureKind::RateLimited,
            _ => reason_kind(reason),
        };
        Err(SendError {
            provider: NAME,
            kind,
            code: None,
            detail: safe_detail(reason, &self.secrets()),
            outcome: SendOutcome::NotSent,
        })
    }

    fn verify_webhook(&self, request: &WebhookRequest<'_>) -> Result<(), WebhookError> {
        let expected = self.config.webhook_token.expose();
        if expected.is_empty() {
            return Err(WebhookError::Unauthorized("no webhook token configured"));
        }
        let from_query = http_util::query_pairs(request.url)
            .into_iter()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v);
        let from_path = || {
            let path = request.url.split(['?', '#']).next().unwrap_or_default();
            path.trim_end_matches('/')
                .rsplit('/')
                .next()
                .map(str::to_string)
        };
        let given = from_query
            .or_else(from_path)
            .filter(|t| !t.is_empty())
            .ok_or(WebhookError::Unauthorized("webhook token missing"))?;
        if !ct_eq(given.as_bytes(), expected.as_bytes()) {
            return Err(WebhookError::Unauthorized("webhook token mismatch"));
        }
        self.check_secret(request)
    }

    fn parse_webhook(
        &self,
        request: &WebhookRequest<'_>,
    ) -> Result<Vec<WebhookEvent>, WebhookError> {
        let json: Value = serde_json::from_slice(request.body)
            .map_err(|e| WebhookError::Malformed(format!("not JSON: {e}")))?;
        if json.get("sender").is_some() && json.get("message").is_some() {
            return inbound_event(&json, request.body).map(|e| vec![e]);
        }
        let id = match json.get("id") {
            Some(Value::Array(ids)) => string_or_number(ids.first()),
            other => string_or_number(other),
        }
        .filter(|s| !s.is_empty());
        let stateid = string_or_number(json.get("stateid")).filter(|s| !s.is_empty());
        let mut events = Vec::new();
        let mut push = |status: DeliveryStatus, failure| match (&id, &stateid) {
            (Some(id), _) => events.push(WebhookEvent::Status {
                provider_id: id.clone(),
                reference: None,
                status,
                at: None,
                failure,
            }),
            (None, Some(alias)) => events.push(WebhookEvent::StatusByAlias {
                alias: alias.clone(),
                status,
                at: None,
                failure,
            }),
            (None, None) => {}
        };
        let status = json
            .get("status")
            .and_then(Value::as_str)
            .map(|s| s.trim().to_lowercase());
        match status.as_deref() {
            Some("sent") => push(DeliveryStatus::Sent, None),
            Some(failed @ ("invalid" | "expired" | "url unreachable")) => {
                let kind = match failed {
                    "invalid" => FailureKind::NotOnWhatsApp,
                    "expired" => FailureKind::ProviderUnavailable,
                    _ => FailureKind::InvalidRequest,
                };
                push(
                    DeliveryStatus::Failed,
                    Some((kind, None, failed.to_string())),
                );
            }
            // pending, waiting, processing, unknown: not a receipt.
            _ => {}
        }
        // [U] the exact `state` values are undocumented; these are the ones seen in practice.
        let state = json
            .get("state")
            .and_then(Value::as_str)
            .map(|s| s.trim().to_lowercase());
        match state.as_deref() {
            Some("delivered") => push(DeliveryStatus::Delivered, None),
            Some("read" | "played") => push(DeliveryStatus::Read, None),
            _ => {}
        }
        match (id, stateid) {
            // The first update pairs them: later ones name the message by `stateid` alone.
            (Some(provider_id), Some(alias)) => {
                events.insert(0, WebhookEvent::Alias { provider_id, alias });
            }
            (None, None) => return Err(WebhookError::Malformed("no id or stateid".into())),
            _ => {}
        }
        Ok(events)
    }
}

fn inbound_event(json: &Value, body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let sender = string_or_number(json.get("sender"))
        .ok_or_else(|| WebhookError::Malformed("no sender".into()))?;
    // Newer payloads carry `inboxid`; otherwise a hash of the body keeps redeliveries idempotent.
    let provider_message_id = string_or_number(json.get("inboxid"))
        .or_else(|| string_or_number(json.get("id")))
        .unwrap_or_else(|| format!("fonnte-{}", &hex::encode(Sha256::digest(body))[..32]));
    Ok(WebhookEvent::Inbound {
        from: http_util::e164(&sender),
        text: json
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        provider_message_id,
        at: http_util::unix_seconds(json.get("timestamp")),
    })
}
