//! Vonage Messages API (v1), WhatsApp channel.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::http_util::{
    self, ConfigError, RawResponse, ct_eq, execute, header, safe_detail, string_or_number,
};
use super::jwt;
use super::{
    Accepted, Content, DeliveryStatus, FailureKind, OutgoingMessage, Provider, Secret, SendError,
    SendOutcome, WebhookError, WebhookEvent, WebhookRequest,
};

const NAME: &str = "vonage";

/// Lifetime of the JWTs we mint per request: short, as Vonage recommends.
const JWT_LIFETIME_SECS: i64 = 300;

/// Clock skew tolerated on a webhook JWT's `exp`.
const EXP_LEEWAY_SECS: i64 = 60;

#[derive(Debug, Clone)]
pub enum VonageAuth {
    /// `api_key:api_secret`. Sending works; status webhooks need an Application (JWT).
    Basic { api_key: String, api_secret: Secret },
    /// Application id + its RSA private key (PEM, PKCS#8 or PKCS#1): RS256 JWT per request.
    Jwt {
        application_id: String,
        private_key_pem: Secret,
    },
}

#[derive(Debug, Clone)]
pub struct VonageConfig {
    /// `https://api.nexmo.com` in production.
    pub base_url: String,
    /// Our WhatsApp number, digits only.
    pub from: String,
    pub auth: VonageAuth,
    /// Key of the HS256 JWT that signs webhooks.
    pub signature_secret: Secret,
    pub timeout: Duration,
}

impl Default for VonageConfig {
    fn default() -> Self {
        VonageConfig {
            base_url: "https://api.nexmo.com".into(),
            from: String::new(),
            auth: VonageAuth::Basic {
                api_key: String::new(),
                api_secret: Secret::default(),
            },
            signature_secret: Secret::default(),
            timeout: http_util::DEFAULT_TIMEOUT,
        }
    }
}

enum Signer {
    Basic {
        api_key: String,
        api_secret: Secret,
    },
    Jwt {
        application_id: String,
        key: EncodingKey,
    },
}

pub struct VonageProvider {
    config: VonageConfig,
    base: String,
    signer: Signer,
    client: reqwest::Client,
}

impl VonageProvider {
    pub fn new(config: VonageConfig) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            provider: NAME,
            reason,
        };
        // Parse the private key once, so a bad key fails at start-up and not at the first send.
        let signer = match &config.auth {
            VonageAuth::Basic {
                api_key,
                api_secret,
            } => Signer::Basic {
                api_key: api_key.clone(),
                api_secret: api_secret.clone(),
            },
            VonageAuth::Jwt {
                application_id,
                private_key_pem,
            } => Signer::Jwt {
                application_id: application_id.clone(),
                key: jwt::rsa_encoding_key(private_key_pem.expose()).map_err(invalid)?,
            },
        };
        let client = http_util::build_client(NAME, config.timeout)?;
        Ok(VonageProvider {
            base: http_util::trim_base(&config.base_url),
            config,
            signer,
            client,
        })
    }

    fn secrets(&self) -> Vec<&Secret> {
        let mut secrets = vec![&self.config.signature_secret];
        match &self.config.auth {
            VonageAuth::Basic { api_secret, .. } => secrets.push(api_secret),
            VonageAuth::Jwt {
                private_key_pem, ..
            } => secrets.push(private_key_pem),
        }
        secrets
    }

    /// The JSON body of a send.
    pub fn message_body(&self, message: &OutgoingMessage) -> Value {
        let mut body = json!({
            "channel": "whatsapp",
            "to": http_util::digits(&message.to),
            "from": http_util::digits(&self.config.from),
            // Vonage echoes `client_ref` in its status webhooks.
            "client_ref": message.reference,
        });
        match &message.content {
            Content::Text { body: text } => {
                body["message_type"] = json!("text");
                body["text"] = json!(text);
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
                let mut template = json!({
                    "name": name,
                    "language": { "policy": "deterministic", "code": language },
                });
                if !parameters.is_empty() {
                    template["components"] = json!([{ "type": "body", "parameters": parameters }]);
                }
                body["message_type"] = json!("custom");
                body["custom"] = json!({ "type": "template", "template": template });
            }
        }
        body
    }

    fn authorize(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, SendError> {
        match &self.signer {
            Signer::Basic {
                api_key,
                api_secret,
            } => Ok(request.basic_auth(api_key, Some(api_secret.expose()))),
            Signer::Jwt {
                application_id,
                key,
            } => {
                let token = application_jwt(application_id, key).ok_or(SendError {
                    provider: NAME,
                    kind: FailureKind::Other,
                    code: None,
                    detail: "could not sign the request JWT".into(),
                    outcome: SendOutcome::NotSent,
                })?;
                Ok(request.bearer_auth(token))
            }
        }
    }

    fn error_from(&self, response: &RawResponse) -> SendError {
        let secrets = self.secrets();
        let problem = response
            .json()
            .filter(|v| v.get("title").is_some() || v.get("type").is_some());
        let Some(problem) = problem else {
            return http_util::http_status_error(NAME, response, &secrets);
        };
        let code = problem_code(&problem);
        let kind = match response.status.as_u16() {
            401 | 403 => FailureKind::Unauthorized,
            402 => FailureKind::Payment,
            429 => FailureKind::RateLimited,
            s if s >= 500 => FailureKind::ProviderUnavailable,
            s => code.as_deref().and_then(failure_kind).unwrap_or(match s {
                400 | 422 => FailureKind::InvalidRequest,
                _ => FailureKind::Other,
            }),
        };
        SendError {
            provider: NAME,
            kind,
            code,
            detail: safe_detail(&problem_words(&problem), &secrets),
            outcome: SendOutcome::NotSent,
        }
    }
}

/// Vonage Messages error codes (from the fragment of the problem `type`) in our terms.
pub fn failure_kind(code: &str) -> Option<FailureKind> {
    Some(match code.trim() {
        "1000" => FailureKind::RateLimited,
        "1010" | "1020" => FailureKind::InvalidRequest,
        // "Not part of the provider network": no WhatsApp account.
        "1300" => FailureKind::NotOnWhatsApp,
        "1340" => FailureKind::WindowClosed,
        _ => return None,
    })
}

/// `https://developer.vonage.com/api-errors/messages#1340` → `1340`; else a numeric `title`.
fn problem_code(problem: &Value) -> Option<String> {
    problem
        .get("type")
        .and_then(Value::as_str)
        .and_then(|t| t.rsplit_once('#'))
        .map(|(_, code)| code.to_string())
        .filter(|c| !c.is_empty())
        .or_else(|| string_or_number(problem.get("title")).filter(|t| t.parse::<u32>().is_ok()))
}

fn problem_words(problem: &Value) -> String {
    let title = string_or_number(problem.get("title")).unwrap_or_default();
    let detail = string_or_number(problem.get("detail")).unwrap_or_default();
    match (title.is_empty(), detail.is_empty()) {
        (false, false) => format!("{title}: {detail}"),
        (true, _) => detail,
        (false, true) => title,
    }
}

/// RS256 JWT with the claims Vonage requires (`application_id`, `iat`, `jti`, `exp`).
fn application_jwt(application_id: &str, key: &EncodingKey) -> Option<String> {
    let mut jti = [0u8; 16];
    openssl::rand::rand_bytes(&mut jti).ok()?;
    let now = Utc::now().timestamp();
    let claims = json!({
        "application_id": application_id,
        "iat": now,
        "exp": now + JWT_LIFETIME_SECS,
        "jti": hex::encode(jti),
    });
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, key).ok()
}

/// A webhook JWT as Vonage signs it: HS256 with the signature secret, the claims Vonage's signed
/// webhooks carry (`iat`, `jti`, `iss`, `payload_hash` = hex SHA-256 of the body, `api_key`,
/// `application_id`). For tests and our simulator.
pub fn webhook_token(signature_secret: &str, body: &[u8], issued_at: i64) -> String {
    jwt::install();
    let claims = json!({
        "iat": issued_at,
        "jti": format!("{:x}", Sha256::digest(issued_at.to_be_bytes())),
        "iss": "Vonage",
        "payload_hash": hex::encode(Sha256::digest(body)),
        "api_key": "abcd1234",
        "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(signature_secret.as_bytes()),
    )
    // HS256 with a byte secret cannot fail; an empty token is refused by any verifier.
    .unwrap_or_default()
}

/// Check an HS256 webhook JWT (signature, `exp` when present, `payload_hash`) against the raw
/// body. Only HS256 is accepted: the token cannot choose `none` or another algorithm.
pub fn verify_webhook_token(
    signature_secret: &str,
    token: &str,
    body: &[u8],
) -> Result<(), WebhookError> {
    jwt::install();
    let bad = WebhookError::Unauthorized;
    let mut validation = Validation::new(Algorithm::HS256);
    // Vonage's webhook JWTs carry `iat` but no `exp`: an `exp`, when there, is still checked.
    validation.required_spec_claims.clear();
    validation.validate_exp = true;
    validation.leeway = EXP_LEEWAY_SECS as u64;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_secret(signature_secret.as_bytes()),
        &validation,
    )
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => bad("JWT signature mismatch"),
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => bad("JWT expired"),
        jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => bad("JWT algorithm is not HS256"),
        _ => bad("JWT malformed"),
    })?;
    let hash = data
        .claims
        .get("payload_hash")
        .and_then(Value::as_str)
        .ok_or(bad("JWT payload_hash missing"))?;
    let actual = hex::encode(Sha256::digest(body));
    if ct_eq(hash.to_ascii_lowercase().as_bytes(), actual.as_bytes()) {
        Ok(())
    } else {
        Err(bad("payload_hash does not match the body"))
    }
}

#[async_trait]
impl Provider for VonageProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn uses_templates(&self) -> bool {
        true
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Accepted, SendError> {
        let request = self
            .client
            .post(format!("{}/v1/messages", self.base))
            .json(&self.message_body(message));
        let request = self.authorize(request)?;
        let secrets = self.secrets();
        let response = execute(NAME, request, &secrets).await?;
        if !response.status.is_success() {
            return Err(self.error_from(&response));
        }
        match response
            .json()
            .and_then(|v| string_or_number(v.get("message_uuid")))
        {
            Some(provider_id) => Ok(Accepted { provider_id }),
            None => Err(http_util::unreadable_success(NAME, &response, &secrets)),
        }
    }

    fn verify_webhook(&self, request: &WebhookRequest<'_>) -> Result<(), WebhookError> {
        let secret = self.config.signature_secret.expose();
        if secret.is_empty() {
            return Err(WebhookError::Unauthorized("no signature secret configured"));
        }
        let token = header(request.headers, "authorization")
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(WebhookError::Unauthorized(
                "Authorization Bearer JWT missing",
            ))?;
        verify_webhook_token(secret, token, request.body)
    }

    fn parse_webhook(
        &self,
        request: &WebhookRequest<'_>,
    ) -> Result<Vec<WebhookEvent>, WebhookError> {
        let json: Value = serde_json::from_slice(request.body)
            .map_err(|e| WebhookError::Malformed(format!("not JSON: {e}")))?;
        let id = string_or_number(json.get("message_uuid"))
            .ok_or_else(|| WebhookError::Malformed("no message_uuid".into()))?;
        let at = http_util::iso8601(json.get("timestamp"));
        let Some(status) = json.get("status").and_then(Value::as_str) else {
            // No status: an inbound message.
            let from = json
                .get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| WebhookError::Malformed("no from".into()))?;
            let text = ["/text", "/reply/title", "/button/text", "/image/caption"]
                .iter()
                .find_map(|p| json.pointer(p).and_then(Value::as_str))
                .unwrap_or("")
                .to_string();
            return Ok(vec![WebhookEvent::Inbound {
                from: http_util::e164(from),
                text,
                provider_message_id: id,
                at,
            }]);
        };
        let status = match status {
            "submitted" => DeliveryStatus::Sent,
            "delivered" => DeliveryStatus::Delivered,
            "read" => DeliveryStatus::Read,
            "rejected" | "undeliverable" => DeliveryStatus::Failed,
            _ => return Ok(Vec::new()),
        };
        let failure = (status == DeliveryStatus::Failed).then(|| {
            let error = json.get("error").cloned().unwrap_or(Value::Null);
            let code = problem_code(&error);
            (
                code.as_deref()
                    .and_then(failure_kind)
                    .unwrap_or(FailureKind::Other),
                code,
                http_util::truncate(&problem_words(&error), http_util::MAX_DETAIL),
            )
        });
        Ok(vec![WebhookEvent::Status {
            provider_id: id,
            reference: json
                .get("client_ref")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            status,
            at,
            failure,
        }])
    }
}
