//! Bird (the platform that replaced MessageBird): Channels API, WhatsApp channel.
//!
//! Follows Bird's published documentation: `POST /workspaces/{ws}/channels/{ch}/messages`, the
//! webhook signature ("Verifying a webhook subscription"), message statuses ("Message status and
//! interactions": failures are `sending_failed` / `delivery_failed` with `failure.code` and
//! `failure.source`; "read" is a separate `whatsapp.interaction` event naming
//! `payload.messageId`) and template parameters keyed by the variable names defined in Bird
//! Studio.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::http_util::{
    self, ConfigError, RawResponse, ct_eq, execute, header, hmac_sha256, safe_detail,
    string_or_number,
};
use super::{
    Accepted, Content, DeliveryStatus, FailureKind, OutgoingMessage, Provider, Secret, SendError,
    SendOutcome, WebhookError, WebhookEvent, WebhookRequest,
};

const NAME: &str = "messagebird";

#[derive(Debug, Clone)]
pub struct BirdConfig {
    /// `https://api.bird.com` in production.
    pub base_url: String,
    pub workspace_id: String,
    /// The WhatsApp channel's id.
    pub channel_id: String,
    pub access_key: Secret,
    /// Key of the webhook HMAC.
    pub signing_key: Secret,
    /// Template name → (projectId, version) of the approved template in Bird Studio.
    pub template_project_ids: HashMap<String, (String, String)>,
    /// Template name → the names of its variables as defined in Bird Studio (`nama`,
    /// `nomor_izin`…), in the order of our parameters ({{1}}, {{2}}, …). Bird keys template
    /// parameters by these names, not by position.
    pub template_variables: HashMap<String, Vec<String>>,
    pub timeout: Duration,
}

/// How far `messagebird-request-timestamp` may be from our clock: an older signed request is
/// a replay and refused.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 15 * 60;

impl Default for BirdConfig {
    fn default() -> Self {
        BirdConfig {
            base_url: "https://api.bird.com".into(),
            workspace_id: String::new(),
            channel_id: String::new(),
            access_key: Secret::default(),
            signing_key: Secret::default(),
            template_project_ids: HashMap::new(),
            template_variables: HashMap::new(),
            timeout: http_util::DEFAULT_TIMEOUT,
        }
    }
}

pub struct BirdProvider {
    config: BirdConfig,
    base: String,
    client: reqwest::Client,
}

impl BirdProvider {
    pub fn new(config: BirdConfig) -> Result<Self, ConfigError> {
        if config.workspace_id.trim().is_empty() || config.channel_id.trim().is_empty() {
            return Err(ConfigError::Invalid {
                provider: NAME,
                reason: "workspace_id and channel_id are required".into(),
            });
        }
        let client = http_util::build_client(NAME, config.timeout)?;
        Ok(BirdProvider {
            base: http_util::trim_base(&config.base_url),
            config,
            client,
        })
    }

    fn secrets(&self) -> [&Secret; 2] {
        [&self.config.access_key, &self.config.signing_key]
    }

    /// The JSON body of a send.
    pub fn message_body(&self, message: &OutgoingMessage) -> Result<Value, SendError> {
        let mut body = json!({
            "receiver": { "contacts": [{ "identifierValue": http_util::e164(&message.to) }] },
            // Bird echoes the reference in its webhooks.
            "reference": message.reference,
        });
        match &message.content {
            Content::Text { body: text } => {
                body["body"] = json!({ "type": "text", "text": { "text": text } });
            }
            Content::Template {
                name,
                language,
                parameters,
                ..
            } => {
                let Some((project_id, version)) = self.config.template_project_ids.get(name) else {
                    return Err(SendError {
                        provider: NAME,
                        kind: FailureKind::TemplateNotApproved,
                        code: None,
                        detail: format!("no Bird template project configured for {name}"),
                        outcome: SendOutcome::NotSent,
                    });
                };
                let names = self
                    .config
                    .template_variables
                    .get(name)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                if names.len() != parameters.len() {
                    return Err(SendError {
                        provider: NAME,
                        kind: FailureKind::TemplateParameters,
                        code: None,
                        detail: format!(
                            "template {name} has {} parameters but {} Bird Studio variable names \
                             are configured (WHATSAPP_BIRD_TEMPLATES {name}=projectId:version:{})",
                            parameters.len(),
                            names.len(),
                            (1..=parameters.len().max(1))
                                .map(|i| format!("var{i}"))
                                .collect::<Vec<_>>()
                                .join("+")
                        ),
                        outcome: SendOutcome::NotSent,
                    });
                }
                let parameters: Vec<Value> = names
                    .iter()
                    .zip(parameters)
                    .map(|(key, p)| json!({ "type": "string", "key": key, "value": p }))
                    .collect();
                body["template"] = json!({
                    "projectId": project_id,
                    "version": version,
                    "locale": language,
                    "parameters": parameters,
                });
            }
        }
        Ok(body)
    }

    fn error_from(&self, response: &RawResponse) -> SendError {
        let Some(error) = response.json().filter(Value::is_object) else {
            return http_util::http_status_error(NAME, response, &self.secrets());
        };
        let kind = match response.status.as_u16() {
            401 | 403 => FailureKind::Unauthorized,
            429 => FailureKind::RateLimited,
            400 | 404 | 409 | 422 => FailureKind::InvalidRequest,
            s if s >= 500 => FailureKind::ProviderUnavailable,
            _ => FailureKind::Other,
        };
        let message = error
            .get("message")
            .or_else(|| error.get("description"))
            .and_then(Value::as_str)
            .unwrap_or("");
        SendError {
            provider: NAME,
            kind,
            code: string_or_number(error.get("code")),
            detail: safe_detail(message, &self.secrets()),
            outcome: SendOutcome::NotSent,
        }
    }
}

/// `messagebird-signature`: Base64(HMAC-SHA256(signing key, timestamp + "\n" + url + "\n" +
/// SHA-256(body))) with the raw 32-byte digest, as in Bird's verification examples.
pub fn signature(signing_key: &str, timestamp: &str, url: &str, body: &[u8]) -> String {
    BASE64.encode(signature_bytes(
        signing_key,
        timestamp,
        url,
        &Sha256::digest(body),
    ))
}

fn signature_bytes(signing_key: &str, timestamp: &str, url: &str, body_hash: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(timestamp.len() + url.len() + body_hash.len() + 2);
    data.extend_from_slice(timestamp.as_bytes());
    data.push(b'\n');
    data.extend_from_slice(url.as_bytes());
    data.push(b'\n');
    data.extend_from_slice(body_hash);
    hmac_sha256(signing_key.as_bytes(), &data)
}

#[async_trait]
impl Provider for BirdProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn uses_templates(&self) -> bool {
        true
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Accepted, SendError> {
        let body = self.message_body(message)?;
        let url = format!(
            "{}/workspaces/{}/channels/{}/messages",
            self.base, self.config.workspace_id, self.config.channel_id
        );
        let request = self
            .client
            .post(url)
            .header(
                reqwest::header::AUTHORIZATION,
                format!("AccessKey {}", self.config.access_key.expose()),
            )
            .json(&body);
        let response = execute(NAME, request, &self.secrets()).await?;
        if !response.status.is_success() {
            return Err(self.error_from(&response));
        }
        match response.json().and_then(|v| string_or_number(v.get("id"))) {
            Some(provider_id) => Ok(Accepted { provider_id }),
            None => Err(http_util::unreadable_success(
                NAME,
                &response,
                &self.secrets(),
            )),
        }
    }

    /// Bird's scheme ("Verifying a webhook subscription"): Base64 HMAC-SHA256 with the signing
    /// key over `timestamp \n url \n sha256(body)` with the raw digest (a hex digest is accepted
    /// too, as some of Bird's older examples show it), and the timestamp no further than
    /// [`TIMESTAMP_TOLERANCE_SECS`] from our clock (seconds, or milliseconds).
    fn verify_webhook(&self, request: &WebhookRequest<'_>) -> Result<(), WebhookError> {
        let key = self.config.signing_key.expose();
        if key.is_empty() {
            return Err(WebhookError::Unauthorized("no signing key configured"));
        }
        let given = header(request.headers, "messagebird-signature")
            .filter(|s| !s.is_empty())
            .ok_or(WebhookError::Unauthorized("messagebird-signature missing"))?;
        let timestamp = header(request.headers, "messagebird-request-timestamp")
            .filter(|s| !s.is_empty())
            .ok_or(WebhookError::Unauthorized(
                "messagebird-request-timestamp missing",
            ))?;
        let given = BASE64
            .decode(given)
            .map_err(|_| WebhookError::Unauthorized("messagebird-signature malformed"))?;
        let sent_at = timestamp
            .trim()
            .parse::<i64>()
            .map_err(|_| WebhookError::Unauthorized("messagebird-request-timestamp malformed"))?;
        let sent_at = if sent_at > 100_000_000_000 {
            sent_at / 1000
        } else {
            sent_at
        };
        if Utc::now().timestamp().abs_diff(sent_at) > TIMESTAMP_TOLERANCE_SECS.unsigned_abs() {
            return Err(WebhookError::Unauthorized(
                "messagebird-request-timestamp too far from now (replay?)",
            ));
        }
        let digest = Sha256::digest(request.body);
        let raw = signature_bytes(key, timestamp, request.url, &digest);
        let hexed = signature_bytes(key, timestamp, request.url, hex::encode(digest).as_bytes());
        if ct_eq(&given, &raw) || ct_eq(&given, &hexed) {
            Ok(())
        } else {
            Err(WebhookError::Unauthorized("messagebird-signature mismatch"))
        }
    }

    fn parse_webhook(
        &self,
        request: &WebhookRequest<'_>,
    ) -> Result<Vec<WebhookEvent>, WebhookError> {
        let json: Value = serde_json::from_slice(request.body)
            .map_err(|e| WebhookError::Malformed(format!("not JSON: {e}")))?;
        let payload = json
            .get("payload")
            .ok_or_else(|| WebhookError::Malformed("no payload".into()))?;
        // Some events wrap the message: accept `payload.message.*` as well as `payload.*`.
        let message = payload
            .get("message")
            .filter(|m| m.is_object())
            .unwrap_or(payload);
        let event = json.get("event").and_then(Value::as_str).unwrap_or("");
        if event.ends_with(".interaction") {
            return Ok(interaction_event(payload).into_iter().collect());
        }
        let direction = message
            .get("direction")
            .and_then(Value::as_str)
            .unwrap_or("");
        if event.ends_with(".inbound") || direction == "incoming" {
            return Ok(inbound_event(message).into_iter().collect());
        }
        let provider_id = string_or_number(message.get("id"))
            .ok_or_else(|| WebhookError::Malformed("no message id".into()))?;
        let status = match message.get("status").and_then(Value::as_str).unwrap_or("") {
            "sent" => DeliveryStatus::Sent,
            "delivered" => DeliveryStatus::Delivered,
            // Bird sends "read" as a `whatsapp.interaction`; a status of read is taken too.
            "read" => DeliveryStatus::Read,
            "sending_failed" | "delivery_failed" => DeliveryStatus::Failed,
            // accepted, processing, sending, scheduled…: not a receipt.
            _ => return Ok(Vec::new()),
        };
        let failure = (status == DeliveryStatus::Failed).then(|| failure_of(message));
        Ok(vec![WebhookEvent::Status {
            provider_id,
            reference: message
                .get("reference")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            status,
            at: http_util::iso8601(message.get("lastStatusAt"))
                .or_else(|| http_util::iso8601(message.get("updatedAt")))
                .or_else(|| http_util::iso8601(message.get("createdAt"))),
            failure,
        }])
    }
}

/// A failed message's `failure` (`code`, `source {name, code}`), `reason` and `details` in our
/// terms. When the source is WhatsApp itself, its code is Meta's (`131026`…) and says more.
fn failure_of(message: &Value) -> (FailureKind, Option<String>, String) {
    let code = string_or_number(message.pointer("/failure/code"));
    let source_name = message
        .pointer("/failure/source/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let source_code = string_or_number(message.pointer("/failure/source/code"));
    let kind = source_code
        .as_deref()
        .and_then(|c| c.parse::<i64>().ok())
        .and_then(super::meta::failure_kind)
        .unwrap_or(FailureKind::Other);
    let mut words: Vec<String> = ["reason", "details"]
        .iter()
        .filter_map(|k| message.get(*k).and_then(Value::as_str))
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
        .collect();
    if !source_name.is_empty() || source_code.is_some() {
        words.push(
            format!(
                "source {} {}",
                source_name,
                source_code.as_deref().unwrap_or("")
            )
            .trim_end()
            .to_string(),
        );
    }
    (
        kind,
        code.or(source_code),
        http_util::truncate(&words.join("; "), http_util::MAX_DETAIL),
    )
}

/// `whatsapp.interaction`: the recipient read our message (`payload.type` `read`,
/// `payload.messageId` the message Bird's send answered with). Other interactions (reactions,
/// clicks) are not receipts.
fn interaction_event(payload: &Value) -> Option<WebhookEvent> {
    if payload.get("type").and_then(Value::as_str) != Some("read") {
        return None;
    }
    Some(WebhookEvent::Status {
        provider_id: string_or_number(payload.get("messageId"))?,
        reference: None,
        status: DeliveryStatus::Read,
        at: http_util::iso8601(payload.get("createdAt")),
        failure: None,
    })
}

fn inbound_event(message: &Value) -> Option<WebhookEvent> {
    let from = message
        .pointer("/sender/contact/identifierValue")
        .or_else(|| message.pointer("/sender/contacts/0/identifierValue"))
        .and_then(Value::as_str)?;
    Some(WebhookEvent::Inbound {
        from: http_util::e164(from),
        text: message
            .pointer("/body/text/text")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        provider_message_id: string_or_number(message.get("id"))?,
        at: http_util::iso8601(message.get("createdAt")),
    })
}
