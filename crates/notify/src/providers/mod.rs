//! Providers behind one interface. Each adapter speaks its provider's real API (method, path,
//! headers, body) and turns its webhooks into [`WebhookEvent`]s. Nothing here touches the
//! database: the dispatcher decides what to do with an outcome.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use zeroize::Zeroize;

pub mod bird;
pub mod fonnte;
pub mod http_util;
pub mod jwt;
pub mod meta;
pub mod twilio;
pub mod vonage;

pub use bird::{BirdConfig, BirdProvider};
pub use fonnte::{FonnteConfig, FonnteProvider};
pub use http_util::ConfigError;
pub use meta::{MetaConfig, MetaProvider};
pub use twilio::{TwilioConfig, TwilioProvider};
pub use vonage::{VonageAuth, VonageConfig, VonageProvider};

/// A credential read from configuration. Never printed: `Debug` shows `***`.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// One message to one recipient, as the dispatcher hands it to a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    /// Our own id of the message (outbox row), sent as the provider's client reference where its
    /// API has one (Meta `biz_opaque_callback_data`, Bird/Vonage `client_ref`…), so receipts and
    /// reconciliation can find the message even when its provider id was never recorded.
    pub reference: String,
    /// E.164 with the plus sign, e.g. `+6281234567890`.
    pub to: String,
    pub content: Content,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Free-form text: only allowed inside the 24-hour customer-service window (Meta rules).
    Text { body: String },
    /// An approved template. `parameters` are the body parameters in order ({{1}}, {{2}}, …);
    /// `rendered` is the same message as plain text, for providers without templates (Fonnte).
    Template {
        name: String,
        language: String,
        parameters: Vec<String>,
        rendered: String,
    },
}

impl Content {
    /// The text a person would read (for logs of the message, the simulator's phone page…).
    pub fn text(&self) -> &str {
        match self {
            Content::Text { body } => body,
            Content::Template { rendered, .. } => rendered,
        }
    }
}

/// The provider took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub provider_id: String,
}

/// Why a message was not (or may not have been) sent, in the provider's terms and in plain words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The number has no WhatsApp account (Meta 131026, Twilio 63003/63024, Fonnte `invalid`).
    NotOnWhatsApp,
    /// Free-form text outside the 24-hour window (Meta 131047, Twilio 63016).
    WindowClosed,
    /// The template does not exist or is not approved in that language (Meta 132001).
    TemplateNotApproved,
    /// The template's parameters do not match (Meta 132000).
    TemplateParameters,
    /// Too many messages: throughput, pair rate, HTTP 429 (Meta 130429/131056, Twilio 20429).
    RateLimited,
    /// The credentials were refused (Meta 190, HTTP 401/403, Fonnte "token invalid").
    Unauthorized,
    /// A payment problem on the business account (Meta 131042).
    Payment,
    /// The number or another parameter was refused as invalid (Meta 131009, Twilio 21211).
    InvalidRequest,
    /// The provider answered 5xx, HTML or garbage, or could not be reached: not taken.
    ProviderUnavailable,
    /// No answer in time: the message may or may not have been taken.
    Timeout,
    /// Any other refusal, with the provider's own words in `detail`.
    Other,
}

impl FailureKind {
    /// Worth another attempt later (with backoff)?
    pub fn retryable(self) -> bool {
        matches!(
            self,
            FailureKind::RateLimited | FailureKind::ProviderUnavailable | FailureKind::Timeout
        )
    }

    /// Plain words for staff, in Bahasa Indonesia.
    pub fn describe(self) -> &'static str {
        match self {
            FailureKind::NotOnWhatsApp => "Nomor tidak terdaftar di WhatsApp",
            FailureKind::WindowClosed => {
                "Jendela 24 jam tertutup: di luar jendela hanya templat yang disetujui boleh dikirim"
            }
            FailureKind::TemplateNotApproved => {
                "Templat belum disetujui (atau tidak ada) untuk bahasa ini"
            }
            FailureKind::TemplateParameters => "Jumlah parameter templat tidak cocok",
            FailureKind::RateLimited => {
                "Dibatasi penyedia: terlalu banyak pesan, dicoba lagi nanti"
            }
            FailureKind::Unauthorized => {
                "Kredensial penyedia ditolak (token salah atau kedaluwarsa)"
            }
            FailureKind::Payment => "Masalah pembayaran pada akun WhatsApp Business",
            FailureKind::InvalidRequest => {
                "Permintaan ditolak penyedia: nomor atau parameter tidak sah"
            }
            FailureKind::ProviderUnavailable => {
                "Layanan penyedia tidak tersedia, dicoba lagi nanti"
            }
            FailureKind::Timeout => {
                "Penyedia tidak menjawab tepat waktu: status pengiriman belum pasti"
            }
            FailureKind::Other => "Ditolak penyedia",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::NotOnWhatsApp => "not_on_whatsapp",
            FailureKind::WindowClosed => "window_closed",
            FailureKind::TemplateNotApproved => "template_not_approved",
            FailureKind::TemplateParameters => "template_parameters",
            FailureKind::RateLimited => "rate_limited",
            FailureKind::Unauthorized => "unauthorized",
            FailureKind::Payment => "payment",
            FailureKind::InvalidRequest => "invalid_request",
            FailureKind::ProviderUnavailable => "provider_unavailable",
            FailureKind::Timeout => "timeout",
            FailureKind::Other => "other",
        }
    }
}

/// Whether a failed send may have reached the provider anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Certainly not taken (an error answer, a refused connection): safe to try again later.
    NotSent,
    /// May have been taken (timeout, connection cut after the request went out): never resend
    /// blindly — reconcile through receipts or [`Provider::lookup`].
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{provider}: {} ({}){}", kind.describe(), code.as_deref().unwrap_or("-"), if detail.is_empty() { String::new() } else { format!(": {detail}") })]
pub struct SendError {
    pub provider: &'static str,
    pub kind: FailureKind,
    /// The provider's own error code, when it gave one (`131026`, `63016`, …).
    pub code: Option<String>,
    /// The provider's own words (truncated), never a credential.
    pub detail: String,
    pub outcome: SendOutcome,
}

/// Receipt states, in the order a message moves through them. A message keeps its highest state:
/// receipts may arrive late, twice or out of order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryStatus {
    /// The inverse of [`DeliveryStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sent" => DeliveryStatus::Sent,
            "delivered" => DeliveryStatus::Delivered,
            "read" => DeliveryStatus::Read,
            "failed" => DeliveryStatus::Failed,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// What a webhook call told us, normalised.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    Status {
        provider_id: String,
        /// Our reference, when the provider echoes it back.
        reference: Option<String>,
        status: DeliveryStatus,
        at: Option<DateTime<Utc>>,
        /// For `Failed`: why, in the provider's terms.
        failure: Option<(FailureKind, Option<String>, String)>,
    },
    Inbound {
        /// E.164 with the plus sign.
        from: String,
        text: String,
        provider_message_id: String,
        at: Option<DateTime<Utc>>,
    },
    /// The provider will name message `provider_id` also by `alias` in later receipts
    /// (Fonnte's `stateid`): remember the pairing.
    Alias { provider_id: String, alias: String },
    /// A receipt naming the message only by an alias an earlier webhook paired with it (Fonnte's
    /// delivered/read updates with a `stateid` and no `id`).
    StatusByAlias {
        alias: String,
        status: DeliveryStatus,
        at: Option<DateTime<Utc>>,
        failure: Option<(FailureKind, Option<String>, String)>,
    },
}

/// A webhook request as it reached us, before any parsing.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// The full public URL the provider called (scheme, host, port, path, query) — Twilio signs it.
    pub url: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Missing or wrong signature/token: answer 401, change nothing.
    #[error("webhook signature missing or invalid: {0}")]
    Unauthorized(&'static str),
    /// Signed correctly but not understood: answer 400.
    #[error("webhook payload not understood: {0}")]
    Malformed(String),
}

/// An approved template as the provider's account lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateInfo {
    pub name: String,
    pub language: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, … as the provider says.
    pub status: String,
    pub category: Option<String>,
    /// Number of body parameters ({{1}}…{{n}}).
    pub parameter_count: usize,
}

/// Result of asking the provider whether a message of ours was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Accepted),
    NotFound,
    /// The provider has no way to ask; wait for receipts instead.
    Unsupported,
}

#[async_trait]
pub trait Provider: Send + Sync {
    /// `meta`, `twilio`, `fonnte`, `messagebird`, `vonage`, `simulator`.
    fn name(&self) -> &'static str;

    /// Whether the provider has approved templates (Meta and the BSPs wrapping it). Without them
    /// (Fonnte) the rendered text is sent.
    fn uses_templates(&self) -> bool;

    async fn send(&self, message: &OutgoingMessage) -> Result<Accepted, SendError>;

    /// Check the webhook's signature or secret token. Must run on the raw body before parsing.
    fn verify_webhook(&self, request: &WebhookRequest<'_>) -> Result<(), WebhookError>;

    /// Parse a verified webhook into events (several statuses may come in one call).
    fn parse_webhook(
        &self,
        request: &WebhookRequest<'_>,
    ) -> Result<Vec<WebhookEvent>, WebhookError>;

    /// Meta's GET verification handshake: `Some(Ok(challenge))` when the token matches,
    /// `Some(Err(..))` when it does not, `None` for providers without a handshake.
    fn webhook_handshake(
        &self,
        _query: &[(String, String)],
    ) -> Option<Result<String, WebhookError>> {
        None
    }

    /// Ask the provider whether `message` (sent at or after `since`) was taken.
    async fn lookup(
        &self,
        _message: &OutgoingMessage,
        _since: DateTime<Utc>,
    ) -> Result<Lookup, SendError> {
        Ok(Lookup::Unsupported)
    }

    /// The templates approved on the account (Meta: `GET /{WABA_ID}/message_templates`).
    async fn approved_templates(&self) -> Result<Option<Vec<TemplateInfo>>, SendError> {
        Ok(None)
    }
}
