//! Twilio Programmable Messaging, WhatsApp channel (`whatsapp:+…` addresses, Content API
//! templates).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha1::Sha1;

use super::http_util::{
    self, ConfigError, RawResponse, ct_eq, execute, header, safe_detail, string_or_number,
};
use super::{
    Accepted, Content, DeliveryStatus, FailureKind, Lookup, OutgoingMessage, Provider, Secret,
    SendError, SendOutcome, WebhookError, WebhookEvent, WebhookRequest,
};

const NAME: &str = "twilio";

#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// `https://api.twilio.com` in production.
    pub base_url: String,
    /// `AC…`
    pub account_sid: String,
    pub auth_token: Secret,
    /// Our WhatsApp sender in E.164 (`+62…`); used when `messaging_service_sid` is not set.
    pub from: Option<String>,
    /// `MG…`: send through a Messaging Service instead of one sender.
    pub messaging_service_sid: Option<String>,
    /// Where Twilio posts status callbacks for each message.
    pub status_callback_url: Option<String>,
    /// Template name → Content SID (`HX…`). A key `name:language` wins over a plain `name`.
    pub content_sids: HashMap<String, String>,
    pub timeout: Duration,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        TwilioConfig {
            base_url: "https://api.twilio.com".into(),
            account_sid: String::new(),
            auth_token: Secret::default(),
            from: None,
            messaging_service_sid: None,
            status_callback_url: None,
            content_sids: HashMap::new(),
            timeout: http_util::DEFAULT_TIMEOUT,
        }
    }
}

pub struct TwilioProvider {
    config: TwilioConfig,
    base: String,
    client: reqwest::Client,
}

impl TwilioProvider {
    pub fn new(config: TwilioConfig) -> Result<Self, ConfigError> {
        let invalid = |reason: &str| ConfigError::Invalid {
            provider: NAME,
            reason: reason.into(),
        };
        if config.account_sid.trim().is_empty() {
            return Err(invalid("account_sid is empty"));
        }
        let has = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        if !has(&config.from) && !has(&config.messaging_service_sid) {
            return Err(invalid("either from or messaging_service_sid is required"));
        }
        let client = http_util::build_client(NAME, config.timeout)?;
        Ok(TwilioProvider {
            base: http_util::trim_base(&config.base_url),
            config,
            client,
        })
    }

    fn secrets(&self) -> [&Secret; 1] {
        [&self.config.auth_token]
    }

    fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base, self.config.account_sid
        )
    }

    fn content_sid(&self, name: &str, language: &str) -> Option<&str> {
        self.config
            .content_sids
            .get(&format!("{name}:{language}"))
            .or_else(|| self.config.content_sids.get(name))
            .map(String::as_str)
    }

    /// The form fields of a send, in the order Twilio documents them.
    pub fn form_fields(
        &self,
        message: &OutgoingMessage,
    ) -> Result<Vec<(String, String)>, SendError> {
        let mut fields = vec![("To".to_string(), whatsapp_address(&message.to))];
        match self
            .config
            .messaging_service_sid
            .as_deref()
            .filter(|s| !s.is_empty())
        {
            Some(service) => fields.push(("MessagingServiceSid".into(), service.into())),
            None => {
                let from = self.config.from.as_deref().unwrap_or_default();
                fields.push(("From".into(), whatsapp_address(from)));
            }
        }
        match &message.content {
            Content::Text { body } => fields.push(("Body".into(), body.clone())),
            Content::Template {
                name,
                language,
                parameters,
                ..
            } => {
                let Some(sid) = self.content_sid(name, language) else {
                    return Err(SendError {
                        provider: NAME,
                        kind: FailureKind::TemplateNotApproved,
                        code: None,
                        detail: format!(
                            "no Content SID configured for template {name} ({language})"
                        ),
                        outcome: SendOutcome::NotSent,
                    });
                };
                fields.push(("ContentSid".into(), sid.to_string()));
                let variables: Map<String, Value> = parameters
                    .iter()
                    .enumerate()
                    .map(|(i, p)| ((i + 1).to_string(), Value::String(p.clone())))
                    .collect();
                fields.push((
                    "ContentVariables".into(),
                    Value::Object(variables).to_string(),
                ));
            }
        }
        if let Some(callback) = self
            .config
            .status_callback_url
            .as_deref()
            .filter(|s| !s.is_empty())
        {
            fields.push(("StatusCallback".into(), callback.into()));
        }
        Ok(fields)
    }

    fn error_from(&self, response: &RawResponse) -> SendError {
        let Some(error) = response.json().filter(|v| v.get("code").is_some()) else {
            return http_util::http_status_error(NAME, response, &self.secrets());
        };
        let code = string_or_number(error.get("code"));
        let kind = if response.status.is_server_error() {
            FailureKind::ProviderUnavailable
        } else {
            code.as_deref()
                .and_then(failure_kind)
                .unwrap_or(match response.status.as_u16() {
                    401 | 403 => FailureKind::Unauthorized,
                    429 => FailureKind::RateLimited,
                    _ => FailureKind::Other,
                })
        };
        SendError {
            provider: NAME,
            kind,
            code,
            detail: safe_detail(
                error.get("message").and_then(Value::as_str).unwrap_or(""),
                &self.secrets(),
            ),
            outcome: SendOutcome::NotSent,
        }
    }
}

fn whatsapp_address(number: &str) -> String {
    format!("whatsapp:{}", http_util::e164(number))
}

/// Twilio error codes (API errors and WhatsApp `ErrorCode`s of callbacks) in our terms.
pub fn failure_kind(code: &str) -> Option<FailureKind> {
    Some(match code.trim() {
        "21211" | "21212" | "21606" | "63007" => FailureKind::InvalidRequest,
        "21614" | "63003" | "63024" => FailureKind::NotOnWhatsApp,
        "63016" => FailureKind::WindowClosed,
        "20429" | "63018" | "63038" => FailureKind::RateLimited,
        "20003" => FailureKind::Unauthorized,
        _ => return None,
    })
}

/// `X-Twilio-Signature`: Base64(HMAC-SHA1(auth token, url + each POST parameter's name and value,
/// sorted by name)).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut data = url.to_string();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| unreachable!());
    mac.update(data.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// The URL with and without its scheme's default port: Twilio signs whichever form it called, and
/// a proxy may report the other one. (`url` drops a default port when parsing, so both forms are
/// rebuilt by hand.)
fn port_variants(url: &str) -> Vec<String> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Vec::new();
    };
    let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
        return Vec::new();
    };
    let rest = &parsed[url::Position::BeforePath..];
    let scheme = parsed.scheme();
    vec![
        format!("{scheme}://{host}{rest}"),
        format!("{scheme}://{host}:{port}{rest}"),
    ]
}

fn form_params(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

#[async_trait]
impl Provider for TwilioProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn uses_templates(&self) -> bool {
        true
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Accepted, SendError> {
        let fields = self.form_fields(message)?;
        let request = self
            .client
            .post(self.messages_url())
            .basic_auth(
                &self.config.account_sid,
                Some(self.config.auth_token.expose()),
            )
            .form(&fields);
        let response = execute(NAME, request, &self.secrets()).await?;
        if !response.status.is_success() {
            return Err(self.error_from(&response));
        }
        match response.json().and_then(|v| string_or_number(v.get("sid"))) {
            Some(provider_id) => Ok(Accepted { provider_id }),
            None => Err(http_util::unreadable_success(
                NAME,
                &response,
                &self.secrets(),
            )),
        }
    }

    fn verify_webhook(&self, request: &WebhookRequest<'_>) -> Result<(), WebhookError> {
        let token = self.config.auth_token.expose();
        if token.is_empty() {
            return Err(WebhookError::Unauthorized("no auth token configured"));
        }
        let given = header(request.headers, "x-twilio-signature")
            .filter(|s| !s.is_empty())
            .ok_or(WebhookError::Unauthorized("X-Twilio-Signature missing"))?;
        let given = BASE64
            .decode(given)
            .map_err(|_| WebhookError::Unauthorized("X-Twilio-Signature malformed"))?;
        // JSON bodies: the URL carries `bodySHA256` and only the URL is signed.
        let body_hash = http_util::query_pairs(request.url)
            .into_iter()
            .find(|(k, _)| k == "bodySHA256")
            .map(|(_, v)| v);
        let params = if body_hash.is_some() {
            Vec::new()
        } else {
            form_params(request.body)
        };
        let matches = |url: &str| {
            let expected = BASE64
                .decode(signature(token, url, &params))
                .unwrap_or_default();
            ct_eq(&given, &expected)
        };
        let url_ok = matches(request.url) || port_variants(request.url).iter().any(|u| matches(u));
        if !url_ok {
            return Err(WebhookError::Unauthorized("X-Twilio-Signature mismatch"));
        }
        if let Some(hash) = body_hash {
            let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(request.body));
            if !ct_eq(actual.as_bytes(), hash.to_ascii_lowercase().as_bytes()) {
                return Err(WebhookError::Unauthorized("bodySHA256 mismatch"));
            }
        }
        Ok(())
    }

    fn parse_webhook(
        &self,
        request: &WebhookRequest<'_>,
    ) -> Result<Vec<WebhookEvent>, WebhookError> {
        let params: HashMap<String, String> = form_params(request.body).into_iter().collect();
        let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let sid = get("MessageSid")
            .or_else(|| get("SmsMessageSid"))
            .ok_or_else(|| WebhookError::Malformed("no MessageSid".into()))?;
        let message_status = get("MessageStatus");
        let inbound = match message_status {
            Some(status) => status == "received",
            None => get("SmsStatus").is_none_or(|s| s == "received"),
        };
        if inbound {
            let from = get("From").ok_or_else(|| WebhookError::Malformed("no From".into()))?;
            return Ok(vec![WebhookEvent::Inbound {
                from: http_util::e164(from),
                text: get("Body").unwrap_or("").to_string(),
                provider_message_id: sid.to_string(),
                at: None,
            }]);
        }
        let status = match message_status.or_else(|| get("SmsStatus")).unwrap_or("") {
            "sent" => DeliveryStatus::Sent,
            "delivered" => DeliveryStatus::Delivered,
            "read" => DeliveryStatus::Read,
            "failed" | "undelivered" => DeliveryStatus::Failed,
            // queued, sending, accepted, scheduled…: nothing a receipt should record.
            _ => return Ok(Vec::new()),
        };
        let failure = (status == DeliveryStatus::Failed).then(|| {
            let code = get("ErrorCode").map(str::to_string);
            (
                code.as_deref()
                    .and_then(failure_kind)
                    .unwrap_or(FailureKind::Other),
                code,
                http_util::truncate(get("ErrorMessage").unwrap_or(""), http_util::MAX_DETAIL),
            )
        });
        Ok(vec![WebhookEvent::Status {
            provider_id: sid.to_string(),
            // Twilio has no client reference field to echo.
            reference: None,
            status,
            at: None,
            failure,
        }])
    }

    /// Lists messages to the recipient sent since `since` and matches the body text.
    async fn lookup(
        &self,
        message: &OutgoingMessage,
        since: DateTime<Utc>,
    ) -> Result<Lookup, SendError> {
        let query = [
            ("To", whatsapp_address(&message.to)),
            // Twilio's range filter is literally the parameter name `DateSent>`.
            ("DateSent>", since.format("%Y-%m-%d").to_string()),
            ("PageSize", "50".to_string()),
        ];
        let request = self
            .client
            .get(self.messages_url())
            .basic_auth(
                &self.config.account_sid,
                Some(self.config.auth_token.expose()),
            )
            .query(&query);
        let response = execute(NAME, request, &self.secrets()).await?;
        if !response.status.is_success() {
            return Err(self.error_from(&response));
        }
        let page = response
            .json()
            .ok_or_else(|| http_util::http_status_error(NAME, &response, &self.secrets()))?;
        let wanted = message.content.text().trim();
        let found = page
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|m| m.get("body").and_then(Value::as_str).map(str::trim) == Some(wanted))
            .and_then(|m| string_or_number(m.get("sid")));
        Ok(match found {
            Some(provider_id) => Lookup::Found(Accepted { provider_id }),
            None => Lookup::NotFound,
        })
    }
}
