//! Meta WhatsApp Cloud API (Graph API). Also used, under the name `simulator`, for our own
//! WhatsApp simulator, which speaks the same wire format.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::http_util::{
    self, ConfigError, RawResponse, ct_eq, execute, header, hmac_sha256, safe_detail,
    string_or_number, unix_seconds,
};
use super::{
    Accepted, Content, DeliveryStatus, FailureKind, OutgoingMessage, Provider, Secret, SendError,
    SendOutcome, TemplateInfo, WebhookError, WebhookEvent, WebhookRequest,
};

/// How many pages of templates we follow (100 each): far more than a permit office has.
const MAX_TEMPLATE_PAGES: usize = 5;

#[derive(Debug, Clone)]
pub struct MetaConfig {
    /// `https://graph.facebook.com` in production; the simulator's address otherwise.
    pub base_url: String,
    /// Graph API version, e.g. `v21.0`.
    pub api_version: String,
    pub phone_number_id: String,
    /// WhatsApp Business Account id (for the template list).
    pub waba_id: String,
    /// System-user access token.
    pub access_token: Secret,
    /// Key of the `X-Hub-Signature-256` webhook signature.
    pub app_secret: Secret,
    /// Our string for the GET verification handshake.
    pub verify_token: Secret,
    pub timeout: Duration,
    /// Report the name `simulator` instead of `meta` (same wire format, our own simulator).
    pub simulator: bool,
}

impl Default for MetaConfig {
    fn default() -> Self {
        MetaConfig {
            base_url: "https://graph.facebook.com".into(),
            api_version: "v21.0".into(),
            phone_number_id: String::new(),
            waba_id: String::new(),
            access_token: Secret::default(),
            app_secret: Secret::default(),
            verify_token: Secret::default(),
            timeout: http_util::DEFAULT_TIMEOUT,
            simulator: false,
        }
    }
}

pub struct MetaProvider {
    config: MetaConfig,
    base: String,
    name: &'static str,
    client: reqwest::Client,
}

impl MetaProvider {
    pub fn new(config: MetaConfig) -> Result<Self, ConfigError> {
        let name = if config.simulator {
            "simulator"
        } else {
            "meta"
        };
        if config.phone_number_id.trim().is_empty() {
            return Err(ConfigError::Invalid {
                provider: name,
                reason: "phone_number_id is empty".into(),
            });
        }
        let client = http_util::build_client(name, config.timeout)?;
        Ok(MetaProvider {
            base: http_util::trim_base(&config.base_url),
            config,
            name,
            client,
        })
    }

    /// The same adapter reporting itself as `simulator`.
    pub fn simulator(mut config: MetaConfig) -> Result<Self, ConfigError> {
        config.simulator = true;
        Self::new(config)
    }

    fn secrets(&self) -> [&Secret; 3] {
        [
            &self.config.access_token,
            &self.config.app_secret,
            &self.config.verify_token,
        ]
    }

    fn error_from(&self, response: &RawResponse) -> SendError {
        error_from_response(self.name, response, &self.secrets())
    }
}

/// The JSON body of a send, exactly as the Cloud API documents it.
pub fn message_body(message: &OutgoingMessage) -> Value {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": http_util::digits(&message.to),
        // Meta echoes this in status webhooks, so receipts find the outbox row even without a wamid.
        "biz_opaque_callback_data": message.reference,
    });
    match &message.content {
        Content::Text { body: text } => {
            body["type"] = json!("text");
            body["text"] = json!({ "body": text, "preview_url": false });
        }
        Content::Template {
            name,
            language,
            parameters,
            ..
        } => {
            let parameters: Vec<Value> = parameters
                .iter()
                .map(|p| json!({ "type": "text", "text": p }))
                .collect();
            let mut template = json!({ "name": name, "language": { "code": language } });
            // A template without variables is sent without components.
            if !parameters.is_empty() {
                template["components"] = json!([{ "type": "body", "parameters": parameters }]);
            }
            body["type"] = json!("template");
            body["template"] = template;
        }
    }
    body
}

/// `sha256=<hex>` as Meta puts it in `X-Hub-Signature-256`: HMAC-SHA256(app secret, raw body).
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(app_secret.as_bytes(), body))
    )
}

/// Meta's error codes in our terms (`None`: not one we know).
pub fn failure_kind(code: i64) -> Option<FailureKind> {
    Some(match code {
        131047 => FailureKind::WindowClosed,
        131026 => FailureKind::NotOnWhatsApp,
        131042 => FailureKind::Payment,
        // Pair rate, throughput, spam rate, app/WABA call limits.
        131056 | 130429 | 131048 | 4 | 80007 => FailureKind::RateLimited,
        132000 => FailureKind::TemplateParameters,
        132001 => FailureKind::TemplateNotApproved,
        // Expired/invalid token; permission errors.
        190 | 10 | 200 => FailureKind::Unauthorized,
        131009 | 131051 | 100 => FailureKind::InvalidRequest,
        _ => return None,
    })
}

pub(crate) fn error_from_response(
    provider: &'static str,
    response: &RawResponse,
    secrets: &[&Secret],
) -> SendError {
    let error = response
        .json()
        .and_then(|v| v.get("error").cloned())
        .filter(Value::is_object);
    let Some(error) = error else {
        return http_util::http_status_error(provider, response, secrets);
    };
    let code = error.get("code").and_then(Value::as_i64);
    let status = response.status.as_u16();
    let kind = if response.status.is_server_error() {
        FailureKind::ProviderUnavailable
    } else {
        code.and_then(failure_kind).unwrap_or(match status {
            401 | 403 => FailureKind::Unauthorized,
            429 => FailureKind::RateLimited,
            _ => FailureKind::Other,
        })
    };
    let message = error.get("message").and_then(Value::as_str).unwrap_or("");
    let details = error
        .pointer("/error_data/details")
        .and_then(Value::as_str)
        .unwrap_or("");
    let text = if details.is_empty() || details == message {
        message.to_string()
    } else {
        format!("{message} — {details}")
    };
    SendError {
        provider,
        kind,
        code: code.map(|c| c.to_string()),
        detail: safe_detail(&text, secrets),
        outcome: SendOutcome::NotSent,
    }
}

#[async_trait]
impl Provider for MetaProvider {
    fn name(&self) -> &'static str {
        self.name
    }

    fn uses_templates(&self) -> bool {
        true
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Accepted, SendError> {
        let url = format!(
            "{}/{}/{}/messages",
            self.base, self.config.api_version, self.config.phone_number_id
        );
        let request = self
            .client
            .post(url)
            .bearer_auth(self.config.access_token.expose())
            .json(&message_body(message));
        let response = execute(self.name, request, &self.secrets()).await?;
        if !response.status.is_success() {
            return Err(self.error_from(&response));
        }
        let id = response
            .json()
            .and_then(|v| string_or_number(v.pointer("/messages/0/id")));
        match id {
            Some(provider_id) => Ok(Accepted { provider_id }),
            None => Err(http_util::unreadable_success(
                self.name,
                &response,
                &self.secrets(),
            )),
        }
    }

    fn verify_webhook(&self, request: &WebhookRequest<'_>) -> Result<(), WebhookError> {
        if self.config.app_secret.is_empty() {
            return Err(WebhookError::Unauthorized("no app secret configured"));
        }
        let given = header(request.headers, "x-hub-signature-256")
            .ok_or(WebhookError::Unauthorized("X-Hub-Signature-256 missing"))?;
        let hex_part = given
            .strip_prefix("sha256=")
            .ok_or(WebhookError::Unauthorized("X-Hub-Signature-256 malformed"))?;
        let given = hex::decode(hex_part)
            .map_err(|_| WebhookError::Unauthorized("X-Hub-Signature-256 malformed"))?;
        let expected = hmac_sha256(self.config.app_secret.expose().as_bytes(), request.body);
        if ct_eq(&given, &expected) {
            Ok(())
        } else {
            Err(WebhookError::Unauthorized("X-Hub-Signature-256 mismatch"))
        }
    }

    fn parse_webhook(
        &self,
        request: &WebhookRequest<'_>,
    ) -> Result<Vec<WebhookEvent>, WebhookError> {
        parse_webhook_body(request.body)
    }

    fn webhook_handshake(
        &self,
        query: &[(String, String)],
    ) -> Option<Result<String, WebhookError>> {
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if get("hub.mode") != Some("subscribe") {
            return Some(Err(WebhookError::Unauthorized("hub.mode is not subscribe")));
        }
        let expected = self.config.verify_token.expose();
        let given = get("hub.verify_token").unwrap_or("");
        // An empty configured token must never match an empty or absent one.
        if expected.is_empty() || !ct_eq(given.as_bytes(), expected.as_bytes()) {
            return Some(Err(WebhookError::Unauthorized("hub.verify_token mismatch")));
        }
        Some(Ok(get("hub.challenge").unwrap_or("").to_string()))
    }

    async fn approved_templates(&self) -> Result<Option<Vec<TemplateInfo>>, SendError> {
        let mut templates = Vec::new();
        let first = format!(
            "{}/{}/{}/message_templates",
            self.base, self.config.api_version, self.config.waba_id
        );
        let mut request = self.client.get(&first).query(&[("limit", "100")]);
        for _ in 0..MAX_TEMPLATE_PAGES {
            let response = execute(
                self.name,
                request.bearer_auth(self.config.access_token.expose()),
                &self.secrets(),
            )
            .await?;
            if !response.status.is_success() {
                return Err(self.error_from(&response));
            }
            let page = response.json().ok_or_else(|| {
                http_util::http_status_error(self.name, &response, &self.secrets())
            })?;
            let data = page.get("data").and_then(Value::as_array);
            templates.extend(data.into_iter().flatten().filter_map(template_info));
            let next = page.pointer("/paging/next").and_then(Value::as_str);
            match next {
                // Only follow pages on the same host: the token must not go anywhere else.
                Some(next) if next.starts_with(&format!("{}/", self.base)) => {
                    request = self.client.get(next);
                }
                _ => break,
            }
        }
        Ok(Some(templates))
    }
}

fn template_info(item: &Value) -> Option<TemplateInfo> {
    let text = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_string);
    let body_text = item
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| {
            c.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("body"))
        })
        .and_then(|c| c.get("text").and_then(Value::as_str))
        .unwrap_or("");
    Some(TemplateInfo {
        name: text("name")?,
        language: text("language").unwrap_or_default(),
        status: text("status").unwrap_or_default(),
        category: text("category"),
        parameter_count: count_placeholders(body_text),
    })
}

/// Distinct `{{1}}`… (or named `{{nama}}`) placeholders in a template text.
pub fn count_placeholders(text: &str) -> usize {
    let mut seen = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            seen.insert(name.to_string());
        }
        rest = &after[end + 2..];
    }
    seen.len()
}

/// Parse a Cloud API webhook body (`entry[].changes[].value.{statuses,messages}`). Pure, so our
/// simulator and tests can use it too.
pub fn parse_webhook_body(body: &[u8]) -> Result<Vec<WebhookEvent>, WebhookError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("not JSON: {e}")))?;
    let entries = root
        .get("entry")
        .and_then(Value::as_array)
        .ok_or_else(|| WebhookError::Malformed("no entry array".into()))?;
    let mut events = Vec::new();
    let values = entries
        .iter()
        .filter_map(|e| e.get("changes").and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.get("value"));
    for value in values {
        for status in value
            .get("statuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(event) = status_event(status) {
                events.push(event);
            }
        }
        for message in value
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(event) = inbound_event(message) {
                events.push(event);
            }
        }
    }
    Ok(events)
}

fn status_event(status: &Value) -> Option<WebhookEvent> {
    let provider_id = string_or_number(status.get("id"))?;
    let state = match status.get("status").and_then(Value::as_str)? {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        // `deleted`, `warning`, future values: not a receipt we track.
        _ => return None,
    };
    let failure = (state == DeliveryStatus::Failed).then(|| {
        let error = status.pointer("/errors/0");
        let code = error.and_then(|e| e.get("code")).and_then(Value::as_i64);
        let words = error
            .and_then(|e| {
                e.pointer("/error_data/details")
                    .or_else(|| e.get("title"))
                    .or_else(|| e.get("message"))
            })
            .and_then(Value::as_str)
            .unwrap_or("");
        (
            code.and_then(failure_kind).unwrap_or(FailureKind::Other),
            code.map(|c| c.to_string()),
            http_util::truncate(words, http_util::MAX_DETAIL),
        )
    });
    Some(WebhookEvent::Status {
        provider_id,
        reference: status
            .get("biz_opaque_callback_data")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        status: state,
        at: unix_seconds(status.get("timestamp")),
        failure,
    })
}

fn inbound_event(message: &Value) -> Option<WebhookEvent> {
    let from = message.get("from").and_then(Value::as_str)?;
    let provider_message_id = string_or_number(message.get("id"))?;
    // Text, quick-reply buttons, interactive replies and media captions all carry words.
    let text = [
        "/text/body",
        "/button/text",
        "/interactive/button_reply/title",
        "/interactive/list_reply/title",
        "/image/caption",
        "/document/caption",
        "/video/caption",
    ]
    .iter()
    .find_map(|p| message.pointer(p).and_then(Value::as_str))
    .unwrap_or("")
    .to_string();
    Some(WebhookEvent::Inbound {
        from: http_util::e164(from),
        text,
        provider_message_id,
        at: unix_seconds(message.get("timestamp")),
    })
}
