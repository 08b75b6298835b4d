//! Configuration: every key declared once here with its default. Values come from the defaults,
//! then a TOML file (`--config FILE`), then the environment (upper-case key names, e.g.
//! `DATABASE_URL`). Secrets are only read from the environment or files and never printed.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `sqlite://data/companion.db` (embedded default) or `postgres://…`.
    pub database_url: String,
    /// `file://data/objects` (default) or `s3://bucket` (documents capability).
    pub storage_url: String,
    /// SICANTIK API base, without trailing slash.
    pub sicantik_base_url: String,
    /// Seconds before one SICANTIK call times out.
    pub sicantik_timeout_secs: u64,
    /// Requests per second to SICANTIK (shared by every job of this process).
    pub sicantik_rate_limit: u32,
    /// Retries of a failed SICANTIK call (timeouts, 5xx, malformed answers).
    pub sicantik_max_retries: usize,
    /// Rows per list page.
    pub sicantik_page_size: u32,
    /// Rows each list page re-reads from the previous one (lists shift while they are read).
    pub sicantik_page_overlap: u32,
    /// `cekperizinan` calls in flight at once during the expiry sync.
    pub expiry_concurrency: usize,
    /// A found expiry date is looked up again after this many days.
    pub expiry_max_age_days: i64,
    /// First retry delay (days) after a look-up without an expiry date; doubles per miss.
    pub expiry_retry_base_days: i64,
    /// Longest delay (days) between look-ups of a permit SICANTIK keeps missing.
    pub expiry_retry_max_days: i64,
    /// Incremental list poll interval in minutes.
    pub schedule_list_sync_minutes: u64,
    /// Daily full list sync, office time `HH:MM`.
    pub schedule_full_sync_at: String,
    /// Daily permit-type sync, office time `HH:MM`.
    pub schedule_types_sync_at: String,
    /// Daily expiry sync, office time `HH:MM`.
    pub schedule_expiry_sync_at: String,
    /// `local` or `bsre` (signing capability).
    pub signer: String,
    pub bsre_base_url: String,
    pub tsa_url: String,
    /// `meta`, `twilio`, `fonnte`, `messagebird`, `vonage` or `simulator`.
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_provider: String,
    /// Public URL of the portal (QR codes point here).
    pub public_base_url: String,
    /// Address the web server listens on.
    pub listen: String,
    /// The office's time zone for schedules and pages.
    pub tz_office: String,
    /// Folder for the embedded default's data.
    pub data_dir: String,
    /// `text` or `json` (JSON lines).
    pub log_format: String,
    /// `auto` (Secure cookies when PUBLIC_BASE_URL is https), `true` or `false`.
    pub cookie_secure: String,
    /// A staff session ends after this many hours without activity.
    pub session_idle_hours: i64,
    /// Behind a reverse proxy: take client addresses from `X-Forwarded-For`.
    pub trust_proxy_headers: bool,
    /// Largest accepted PDF, in MB (1 MB = 1,000,000 bytes).
    pub max_pdf_mb: u64,
    /// The watched inbox folder (empty turns the inbox off).
    pub inbox_dir: String,
    /// Seconds between two scans of the inbox.
    pub schedule_inbox_scan_seconds: u64,
    /// Daily integrity check of the document store, office time `HH:MM`.
    pub schedule_integrity_check_at: String,
    /// Key that signs applicant download links. A secret: set it from the environment; when
    /// empty, one is generated once and kept in the database.
    pub link_secret: String,
    /// `SIGNER=local`: the folder `keys init` wrote (signer-key.pem, signer-chain.pem, seal.key).
    pub keys_dir: String,
    /// Printed in signatures as the place of signing.
    pub signature_location: String,
    /// Signatures show a box (name, role, time) on the first page; `false` signs invisibly.
    pub signature_visible: bool,
    /// The role line in the visible signature box.
    pub signature_role: String,
    /// The TTE footer under the stamp: `auto` (by `SIGNER`), `bsre`, `local` or `none`.
    pub stamp_footer: String,
    /// The footer's English paragraph under the Bahasa one.
    pub stamp_footer_english: bool,
    /// The office as the local-CA footer names it.
    pub office_name: String,
    /// `SIGNER=bsre`: `v1` (multipart) or `v2` (JSON, bulk) — whichever the agency's Esign
    /// Client speaks.
    pub bsre_api_version: String,
    /// BSrE client credentials (HTTP Basic). Secrets: set them from the environment.
    pub bsre_username: String,
    pub bsre_password: String,
    pub bsre_timeout_seconds: u64,
    /// A signing job's lease; a running job whose worker stops renewing it is paused.
    pub signing_lease_seconds: u64,
    /// A document signing longer than this raises the alarm.
    pub signing_stall_seconds: u64,
    /// `B-T`, `B-LT` or `B-LTA` (default): the layers added after the signature timestamp.
    pub signature_level: String,
    /// `on` (default) or `off`: fetch CRLs and OCSP answers online (signing and verification).
    pub revocation_fetch: String,
    /// Seconds before one CRL download or OCSP request times out.
    pub revocation_timeout_seconds: u64,
    /// Days before the TSA certificate of a permit's last timestamp ends that its archive
    /// timestamp is renewed.
    pub archive_renewal_margin_days: i64,
    /// A PEM bundle of extra trust anchors for verification (e.g. BSrE's root); the local CA in
    /// `KEYS_DIR` and `KEYS_DIR/trusted/*.pem` are trusted as well.
    pub trust_anchors: String,
    /// Days the verification log keeps a client's address (then cleared).
    pub verification_ip_retention_days: i64,
    /// Days the SICANTIK call log keeps a call (0: for ever).
    pub retention_sicantik_calls_days: i64,
    /// Days a finished WhatsApp message keeps its text and number; its receipts and settled
    /// `DAFTAR` requests are deleted then (0: for ever).
    pub retention_whatsapp_days: i64,
    /// Public portal pages per client and minute; PDF checks per client and minute.
    pub portal_requests_per_minute: u32,
    pub portal_uploads_per_minute: u32,
    /// Seconds a rendered QR page is reused (0: never); workflow steps clear it at once.
    pub portal_page_cache_seconds: u64,
    /// Megabytes that large portal uploads (over 4 MB) may hold at once; more wait, then are
    /// asked to try again. Ordinary uploads have their own room.
    pub portal_upload_budget_mb: u64,
    /// Portal PDF validations running at once (0: one per processor core).
    pub portal_checks_at_once: usize,
    /// The office's logo in the public portal's header: a PNG, JPEG, WebP or SVG file of at
    /// most 1 MB (empty: a built-in neutral mark).
    pub portal_logo: String,
    /// Bearer token that opens `/metrics` to callers not on this machine (empty: loopback only).
    /// A secret: set it from the environment.
    #[serde(deserialize_with = "lenient_string")]
    pub metrics_token: String,
    /// A MaxMind-format database (GeoLite2/GeoIP2 City or Country, DB-IP Lite) for the coarse
    /// region in the verification log; empty: regions are "tidak diketahui".
    pub geoip_database: String,
    /// WhatsApp: the provider's API address when not its public one (a proxy, the simulator).
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_base_url: String,
    pub whatsapp_timeout_seconds: u64,
    /// Meta Cloud API (also the simulator, which speaks it).
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_meta_phone_number_id: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_meta_waba_id: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_meta_access_token: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_meta_app_secret: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_meta_verify_token: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_meta_api_version: String,
    /// Twilio: `WHATSAPP_TWILIO_CONTENT_SIDS` maps template names to Content SIDs
    /// (`izin_selesai_diproses=HX…,izin_peringatan_berlaku=HX…`).
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_twilio_account_sid: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_twilio_auth_token: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_twilio_from: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_twilio_messaging_service_sid: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_twilio_content_sids: String,
    /// Fonnte: the device token; the webhook URL must carry `?token=<WHATSAPP_WEBHOOK_TOKEN>`.
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_fonnte_token: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_webhook_token: String,
    /// Fonnte's own webhook secret (its dashboard): when set, every Fonnte webhook must carry it
    /// in the JSON field (or header) `WHATSAPP_FONNTE_SECRET_FIELD` names.
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_fonnte_webhook_secret: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_fonnte_secret_field: String,
    /// Bird (MessageBird): `WHATSAPP_BIRD_TEMPLATES` maps names to
    /// `projectId:version[:var1+var2…]`, the variables named as in Bird Studio, in the order of
    /// the template's parameters.
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_bird_workspace_id: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_bird_channel_id: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_bird_access_key: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_bird_signing_key: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_bird_templates: String,
    /// Vonage: Basic (`API_KEY`/`API_SECRET`) or an application JWT (`APPLICATION_ID` +
    /// `PRIVATE_KEY_FILE`; needed for signed webhooks).
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_vonage_from: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_vonage_api_key: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_vonage_api_secret: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_vonage_application_id: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_vonage_private_key_file: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_vonage_signature_secret: String,
    /// Outbox limits over every instance, retries and reconciliation.
    pub whatsapp_rate_per_minute: i64,
    pub whatsapp_rate_per_day: i64,
    pub whatsapp_max_attempts: i64,
    pub whatsapp_retry_base_seconds: i64,
    pub whatsapp_reconcile_seconds: i64,
    /// How long a claimed message belongs to its instance (at least the send timeout).
    pub whatsapp_lease_seconds: i64,
    /// No messages to applicants in these office hours (`21:00-07:00`; `off`).
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_quiet_hours: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_digest_at: String,
    /// When the applicant hears "permit ready": `published` (after signing) or `import` (when
    /// an issued permit's final PDF is imported, e.g. a scan of the signed paper letter).
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_permit_ready_on: String,
    /// How many "pending > 24 h" reminders a waiting document gives (one per 24 h; 0: none).
    pub whatsapp_pending_reminders: i64,
    /// The prompt notice of documents newly waiting for signature, at most this often.
    pub whatsapp_signature_notice_minutes: i64,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_office_contact: String,
    /// The office's WhatsApp number (for the DAFTAR click-to-chat link on receipts).
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_office_number: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_renewal_url: String,
    /// How often the dispatcher looks for due messages.
    pub whatsapp_dispatch_seconds: u64,
}

/// Every key, for the environment provider (and the configuration reference).
pub const KEYS: &[&str] = &[
    "database_url",
    "storage_url",
    "sicantik_base_url",
    "sicantik_timeout_secs",
    "sicantik_rate_limit",
    "sicantik_max_retries",
    "sicantik_page_size",
    "sicantik_page_overlap",
    "expiry_concurrency",
    "expiry_max_age_days",
    "expiry_retry_base_days",
    "expiry_retry_max_days",
    "schedule_list_sync_minutes",
    "schedule_full_sync_at",
    "schedule_types_sync_at",
    "schedule_expiry_sync_at",
    "signer",
    "bsre_base_url",
    "tsa_url",
    "whatsapp_provider",
    "public_base_url",
    "listen",
    "tz_office",
    "data_dir",
    "log_format",
    "cookie_secure",
    "session_idle_hours",
    "trust_proxy_headers",
    "max_pdf_mb",
    "inbox_dir",
    "schedule_inbox_scan_seconds",
    "schedule_integrity_check_at",
    "link_secret",
    "keys_dir",
    "signature_location",
    "signature_visible",
    "signature_role",
    "stamp_footer",
    "stamp_footer_english",
    "office_name",
    "bsre_api_version",
    "bsre_username",
    "bsre_password",
    "bsre_timeout_seconds",
    "signing_lease_seconds",
    "signing_stall_seconds",
    "signature_level",
    "revocation_fetch",
    "revocation_timeout_seconds",
    "archive_renewal_margin_days",
    "trust_anchors",
    "verification_ip_retention_days",
    "retention_sicantik_calls_days",
    "retention_whatsapp_days",
    "portal_requests_per_minute",
    "portal_uploads_per_minute",
    "portal_page_cache_seconds",
    "portal_upload_budget_mb",
    "portal_checks_at_once",
    "portal_logo",
    "metrics_token",
    "geoip_database",
    "whatsapp_base_url",
    "whatsapp_timeout_seconds",
    "whatsapp_meta_phone_number_id",
    "whatsapp_meta_waba_id",
    "whatsapp_meta_access_token",
    "whatsapp_meta_app_secret",
    "whatsapp_meta_verify_token",
    "whatsapp_meta_api_version",
    "whatsapp_twilio_account_sid",
    "whatsapp_twilio_auth_token",
    "whatsapp_twilio_from",
    "whatsapp_twilio_messaging_service_sid",
    "whatsapp_twilio_content_sids",
    "whatsapp_fonnte_token",
    "whatsapp_webhook_token",
    "whatsapp_fonnte_webhook_secret",
    "whatsapp_fonnte_secret_field",
    "whatsapp_bird_workspace_id",
    "whatsapp_bird_channel_id",
    "whatsapp_bird_access_key",
    "whatsapp_bird_signing_key",
    "whatsapp_bird_templates",
    "whatsapp_vonage_from",
    "whatsapp_vonage_api_key",
    "whatsapp_vonage_api_secret",
    "whatsapp_vonage_application_id",
    "whatsapp_vonage_private_key_file",
    "whatsapp_vonage_signature_secret",
    "whatsapp_rate_per_minute",
    "whatsapp_rate_per_day",
    "whatsapp_max_attempts",
    "whatsapp_retry_base_seconds",
    "whatsapp_reconcile_seconds",
    "whatsapp_lease_seconds",
    "whatsapp_quiet_hours",
    "whatsapp_digest_at",
    "whatsapp_permit_ready_on",
    "whatsapp_pending_reminders",
    "whatsapp_signature_notice_minutes",
    "whatsapp_office_contact",
    "whatsapp_office_number",
    "whatsapp_renewal_url",
    "whatsapp_dispatch_seconds",
];

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: "sqlite://data/companion.db".into(),
            storage_url: "file://data/objects".into(),
            sicantik_base_url: "https://perizinan.karokab.go.id/backoffice/api".into(),
            sicantik_timeout_secs: 30,
            sicantik_rate_limit: 5,
            sicantik_max_retries: 4,
            sicantik_page_size: 100,
            sicantik_page_overlap: 10,
            expiry_concurrency: 4,
            expiry_max_age_days: 90,
            expiry_retry_base_days: 1,
            expiry_retry_max_days: 60,
            schedule_list_sync_minutes: 15,
            schedule_full_sync_at: "01:00".into(),
            schedule_types_sync_at: "03:00".into(),
            schedule_expiry_sync_at: "02:00".into(),
            signer: "local".into(),
            bsre_base_url: String::new(),
            tsa_url: String::new(),
            whatsapp_provider: "simulator".into(),
            public_base_url: "http://127.0.0.1:8080".into(),
            listen: "127.0.0.1:8080".into(),
            tz_office: "Asia/Jakarta".into(),
            data_dir: "data".into(),
            log_format: "text".into(),
            cookie_secure: "auto".into(),
            session_idle_hours: 8,
            trust_proxy_headers: false,
            max_pdf_mb: 20,
            inbox_dir: "data/inbox".into(),
            schedule_inbox_scan_seconds: 30,
            schedule_integrity_check_at: "04:00".into(),
            link_secret: String::new(),
            keys_dir: "data/keys".into(),
            signature_location: "Kabanjahe".into(),
            signature_visible: true,
            signature_role: "Kepala DPMPTSP Kabupaten Karo".into(),
            stamp_footer: "auto".into(),
            stamp_footer_english: false,
            office_name: "DPMPTSP Kabupaten Karo".into(),
            bsre_api_version: "v2".into(),
            bsre_username: String::new(),
            bsre_password: String::new(),
            bsre_timeout_seconds: 90,
            signing_lease_seconds: 30,
            signing_stall_seconds: 180,
            signature_level: "B-LTA".into(),
            revocation_fetch: "on".into(),
            revocation_timeout_seconds: 10,
            archive_renewal_margin_days: companion_signing::archive::DEFAULT_MARGIN_DAYS,
            trust_anchors: String::new(),
            verification_ip_retention_days: 30,
            retention_sicantik_calls_days: 90,
            retention_whatsapp_days: 365,
            portal_requests_per_minute: 300,
            portal_uploads_per_minute: 10,
            portal_page_cache_seconds: 5,
            portal_upload_budget_mb: 64,
            portal_checks_at_once: 0,
            portal_logo: String::new(),
            metrics_token: String::new(),
            geoip_database: String::new(),
            whatsapp_base_url: String::new(),
            whatsapp_timeout_seconds: 20,
            whatsapp_meta_phone_number_id: String::new(),
            whatsapp_meta_waba_id: String::new(),
            whatsapp_meta_access_token: String::new(),
            whatsapp_meta_app_secret: String::new(),
            whatsapp_meta_verify_token: String::new(),
            whatsapp_meta_api_version: "v21.0".into(),
            whatsapp_twilio_account_sid: String::new(),
            whatsapp_twilio_auth_token: String::new(),
            whatsapp_twilio_from: String::new(),
            whatsapp_twilio_messaging_service_sid: String::new(),
            whatsapp_twilio_content_sids: String::new(),
            whatsapp_fonnte_token: String::new(),
            whatsapp_webhook_token: String::new(),
            whatsapp_fonnte_webhook_secret: String::new(),
            whatsapp_fonnte_secret_field: "secret".into(),
            whatsapp_bird_workspace_id: String::new(),
            whatsapp_bird_channel_id: String::new(),
            whatsapp_bird_access_key: String::new(),
            whatsapp_bird_signing_key: String::new(),
            whatsapp_bird_templates: String::new(),
            whatsapp_vonage_from: String::new(),
            whatsapp_vonage_api_key: String::new(),
            whatsapp_vonage_api_secret: String::new(),
            whatsapp_vonage_application_id: String::new(),
            whatsapp_vonage_private_key_file: String::new(),
            whatsapp_vonage_signature_secret: String::new(),
            whatsapp_rate_per_minute: 60,
            whatsapp_rate_per_day: 1000,
            whatsapp_max_attempts: 3,
            whatsapp_retry_base_seconds: 300,
            whatsapp_reconcile_seconds: 900,
            whatsapp_lease_seconds: 60,
            whatsapp_quiet_hours: "21:00-07:00".into(),
            whatsapp_digest_at: "08:00".into(),
            whatsapp_permit_ready_on: "published".into(),
            whatsapp_pending_reminders: 3,
            whatsapp_signature_notice_minutes: 60,
            whatsapp_office_contact: "DPMPTSP Kabupaten Karo".into(),
            whatsapp_office_number: String::new(),
            whatsapp_renewal_url: "https://perizinan.karokab.go.id".into(),
            whatsapp_dispatch_seconds: 2,
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field(
                "database_url",
                &companion_db::redact_url(&self.database_url),
            )
            .field("storage_url", &companion_db::redact_url(&self.storage_url))
            .field("sicantik_base_url", &self.sicantik_base_url)
            .field("signer", &self.signer)
            .field("whatsapp_provider", &self.whatsapp_provider)
            .field("listen", &self.listen)
            .field("tz_office", &self.tz_office)
            .finish_non_exhaustive()
    }
}

/// Environment values that look like numbers (phone-number ids, sender numbers) arrive as
/// numbers from the environment provider; these keys are text whatever they look like.
fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct Text;
    impl serde::de::Visitor<'_> for Text {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("text")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(Text)
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(String),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Defaults ← optional TOML file ← environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.display().to_string()));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(
            Env::raw()
                .filter(|k| KEYS.contains(&k.as_str().to_ascii_lowercase().as_str()))
                .lowercase(true),
        );
        let settings: Settings = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if !(self.database_url.starts_with("sqlite:") || self.database_url.starts_with("postgres"))
        {
            return bad(format!(
                "DATABASE_URL must start with sqlite:// or postgres:// (got {})",
                companion_db::redact_url(&self.database_url)
            ));
        }
        if !matches!(
            self.cookie_secure.as_str(),
            "auto" | "true" | "false" | "1" | "0" | "yes" | "no"
        ) {
            return bad(format!(
                "COOKIE_SECURE must be auto, true or false (got {:?})",
                self.cookie_secure
            ));
        }
        if self.office_tz().is_none() {
            return bad(format!(
                "TZ_OFFICE {:?} is not a known time zone",
                self.tz_office
            ));
        }
        for (key, value) in [
            ("SCHEDULE_FULL_SYNC_AT", &self.schedule_full_sync_at),
            ("SCHEDULE_TYPES_SYNC_AT", &self.schedule_types_sync_at),
            ("SCHEDULE_EXPIRY_SYNC_AT", &self.schedule_expiry_sync_at),
            (
                "SCHEDULE_INTEGRITY_CHECK_AT",
                &self.schedule_integrity_check_at,
            ),
        ] {
            if chrono::NaiveTime::parse_from_str(value, "%H:%M").is_err() {
                return bad(format!("{key} must be HH:MM (got {value:?})"));
            }
        }
        if !(1..=1000).contains(&self.max_pdf_mb) {
            return bad(format!(
                "MAX_PDF_MB must be 1–1000 (got {})",
                self.max_pdf_mb
            ));
        }
        if !self.metrics_token.trim().is_empty() && self.metrics_token.trim().len() < 16 {
            return bad(
                "METRICS_TOKEN must be at least 16 characters (or empty for loopback only)".into(),
            );
        }
        if !self.link_secret.is_empty() && self.link_secret.len() < 32 {
            return bad(
                "LINK_SECRET must be at least 32 characters (or empty to generate one)".into(),
            );
        }
        if self.sicantik_rate_limit == 0
            || self.sicantik_page_size == 0
            || self.expiry_concurrency == 0
        {
            return bad(
                "SICANTIK_RATE_LIMIT, SICANTIK_PAGE_SIZE and EXPIRY_CONCURRENCY must be at least 1"
                    .into(),
            );
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return bad(format!(
                "LISTEN must be an address like 127.0.0.1:8080 (got {:?})",
                self.listen
            ));
        }
        if !["local", "bsre"].contains(&self.signer.as_str()) {
            return bad(format!(
                "SIGNER must be local or bsre (got {:?})",
                self.signer
            ));
        }
        if companion_signing::BsreApi::parse(&self.bsre_api_version).is_none() {
            return bad(format!(
                "BSRE_API_VERSION must be v1 or v2 (got {:?})",
                self.bsre_api_version
            ));
        }
        if companion_signing::ltv::SignatureLevel::parse_configured(&self.signature_level).is_none()
        {
            return bad(format!(
                "SIGNATURE_LEVEL must be B-T, B-LT or B-LTA (got {:?})",
                self.signature_level
            ));
        }
        if self.revocation_fetch().is_none()
            || !(1..=120).contains(&self.revocation_timeout_seconds)
        {
            return bad(
                "REVOCATION_FETCH must be on or off and REVOCATION_TIMEOUT_SECONDS 1 to 120".into(),
            );
        }
        if self.footer_preset().is_none() {
            return bad(format!(
                "STAMP_FOOTER must be auto, bsre, local or none (got {:?})",
                self.stamp_footer
            ));
        }
        if !(1..=3650).contains(&self.archive_renewal_margin_days) {
            return bad(format!(
                "ARCHIVE_RENEWAL_MARGIN_DAYS must be 1 to 3650 (got {})",
                self.archive_renewal_margin_days
            ));
        }
        if self.signing_lease_seconds < 2 || self.signing_stall_seconds < 10 {
            return bad(
                "SIGNING_LEASE_SECONDS must be at least 2 and SIGNING_STALL_SECONDS at least 10"
                    .into(),
            );
        }
        if ![
            "meta",
            "twilio",
            "fonnte",
            "messagebird",
            "vonage",
            "simulator",
            "off",
        ]
        .contains(&self.whatsapp_provider.as_str())
        {
            return bad(format!(
                "WHATSAPP_PROVIDER must be meta, twilio, fonnte, messagebird, vonage, simulator or off (got {:?})",
                self.whatsapp_provider
            ));
        }
        if let Err(e) = companion_notify::service::parse_quiet_hours(&self.whatsapp_quiet_hours) {
            return bad(format!("WHATSAPP_QUIET_HOURS: {e}"));
        }
        if let Err(e) =
            companion_notify::service::PermitReadyTrigger::parse(&self.whatsapp_permit_ready_on)
        {
            return bad(e);
        }
        if self.whatsapp_pending_reminders < 0 || self.whatsapp_signature_notice_minutes < 1 {
            return bad(
                "WHATSAPP_PENDING_REMINDERS must be 0 or more and WHATSAPP_SIGNATURE_NOTICE_MINUTES at least 1".into(),
            );
        }
        if chrono::NaiveTime::parse_from_str(&self.whatsapp_digest_at, "%H:%M").is_err() {
            return bad(format!(
                "WHATSAPP_DIGEST_AT must be HH:MM (got {:?})",
                self.whatsapp_digest_at
            ));
        }
        if !["text", "json"].contains(&self.log_format.as_str()) {
            return bad(format!(
                "LOG_FORMAT must be text or json (got {:?})",
                self.log_format
            ));
        }
        Ok(())
    }

    /// Whether cookies get `Secure` (and the `__Host-` prefix).
    pub fn cookie_secure(&self) -> bool {
        match self.cookie_secure.as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => self.public_base_url.starts_with("https://"),
        }
    }

    pub fn web_config(&self) -> companion_web::WebConfig {
        companion_web::WebConfig {
            cookie_secure: self.cookie_secure(),
            session_idle: chrono::Duration::hours(self.session_idle_hours.clamp(1, 24 * 30)),
            trust_forwarded_for: self.trust_proxy_headers,
            public_base_url: self.public_base_url.trim_end_matches('/').to_string(),
            portal_requests_per_minute: self.portal_requests_per_minute,
            portal_uploads_per_minute: self.portal_uploads_per_minute,
            portal_page_cache: std::time::Duration::from_secs(self.portal_page_cache_seconds),
            portal_upload_budget: self.portal_upload_budget_mb.saturating_mul(1024 * 1024),
            portal_checks_at_once: self.portal_checks_at_once,
            metrics_token: Some(self.metrics_token.trim().to_string()).filter(|t| !t.is_empty()),
            portal_logo: Some(self.portal_logo.trim())
                .filter(|p| !p.is_empty())
                .map(std::path::PathBuf::from),
        }
    }

    pub fn documents_config(&self) -> companion_documents::DocumentsConfig {
        companion_documents::DocumentsConfig {
            max_pdf_bytes: self.max_pdf_mb * 1_000_000,
            inbox_dir: Some(self.inbox_dir.trim())
                .filter(|d| !d.is_empty())
                .map(std::path::PathBuf::from),
            link_secret: Some(self.link_secret.clone()).filter(|s| !s.is_empty()),
            ..Default::default()
        }
    }

    pub fn retention_policy(&self) -> companion_domain::retention::RetentionPolicy {
        companion_domain::retention::RetentionPolicy::from_days(
            self.retention_sicantik_calls_days,
            self.retention_whatsapp_days,
            self.verification_ip_retention_days,
        )
    }

    /// `STAMP_FOOTER` as a preset (`None`: not a known one).
    pub fn footer_preset(&self) -> Option<companion_domain::footer::FooterPreset> {
        companion_domain::footer::FooterPreset::parse(&self.stamp_footer, self.signer == "bsre")
    }

    /// The footer text stamped on letters, if any.
    pub fn footer_text(&self) -> Option<String> {
        let base = self.public_base_url.trim_end_matches('/');
        let host = base.split_once("://").map_or(base, |(_, h)| h);
        self.footer_preset()?
            .text(&self.office_name, host, self.stamp_footer_english)
    }

    /// `REVOCATION_FETCH` as a switch (`None`: neither on nor off).
    pub fn revocation_fetch(&self) -> Option<bool> {
        match self.revocation_fetch.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "1" => Some(true),
            "off" | "false" | "0" => Some(false),
            _ => None,
        }
    }

    /// The online revocation fetcher the configuration asks for.
    pub fn revocation_fetcher(
        &self,
    ) -> Result<
        companion_signing::revocation::RevocationFetcher,
        companion_signing::revocation::FetchError,
    > {
        companion_signing::revocation::RevocationFetcher::new(
            self.revocation_fetch().unwrap_or(true),
            std::time::Duration::from_secs(self.revocation_timeout_seconds),
        )
    }

    pub fn office_tz(&self) -> Option<chrono_tz::Tz> {
        self.tz_office.parse().ok()
    }

    pub fn client_config(&self) -> companion_sicantik::ClientConfig {
        companion_sicantik::ClientConfig {
            base_url: self.sicantik_base_url.clone(),
            timeout: std::time::Duration::from_secs(self.sicantik_timeout_secs.max(1)),
            rate_limit_per_sec: self.sicantik_rate_limit,
            max_retries: self.sicantik_max_retries,
            ..Default::default()
        }
    }

    pub fn sync_options(
        &self,
        mode: companion_sicantik::SyncMode,
    ) -> companion_sicantik::SyncOptions {
        companion_sicantik::SyncOptions {
            mode,
            page_size: self.sicantik_page_size,
            overlap: self.sicantik_page_overlap,
            ..Default::default()
        }
    }

    pub fn expiry_options(&self) -> companion_sicantik::ExpiryOptions {
        companion_sicantik::ExpiryOptions {
            concurrency: self.expiry_concurrency,
            max_age: chrono::Duration::days(self.expiry_max_age_days.max(0)),
            retry: companion_domain::expiry::ExpiryRetryPolicy {
                base: chrono::Duration::days(self.expiry_retry_base_days.max(1)),
                cap: chrono::Duration::days(self.expiry_retry_max_days.max(1)),
            },
            limit: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_debug_hides_passwords() {
        let mut s = Settings::default();
        assert!(s.validate().is_ok());
        s.database_url = "postgres://app:hunter2@db/companion".into();
        s.bsre_password = "bsre-hunter3".into();
        s.link_secret = "link-secret-hunter4-0123456789abcdef".into();
        s.metrics_token = "metrics-hunter5-0123456789".into();
        assert!(s.validate().is_ok());
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("hunter3"), "{shown}");
        assert!(!shown.contains("hunter4"), "{shown}");
        assert!(!shown.contains("hunter5"), "{shown}");
        assert_eq!(
            s.web_config().metrics_token.as_deref(),
            Some("metrics-hunter5-0123456789")
        );
        s.metrics_token = "short".into();
        assert!(
            s.validate().is_err(),
            "a guessable metrics token is refused"
        );
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closure returns its own error type
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "sicantik_rate_limit = 9\nlisten = \"127.0.0.1:9999\"\n",
        )
        .unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("SICANTIK_PAGE_SIZE", "250");
            let s = Settings::load(Some(&path)).map_err(|e| e.to_string())?;
            assert_eq!(s.sicantik_rate_limit, 9);
            assert_eq!(s.sicantik_page_size, 250);
            assert_eq!(s.listen, "127.0.0.1:9999");
            // Numeric-looking text stays text (a Meta phone-number id, a sender number).
            jail.set_env("WHATSAPP_META_PHONE_NUMBER_ID", "100000000000001");
            jail.set_env("WHATSAPP_VONAGE_FROM", "6281100000001");
            let s = Settings::load(Some(&path)).map_err(|e| e.to_string())?;
            assert_eq!(s.whatsapp_meta_phone_number_id, "100000000000001");
            assert_eq!(s.whatsapp_vonage_from, "6281100000001");
            // The footer follows the signer unless chosen; an unknown preset is refused.
            let s = Settings::load(Some(&path)).map_err(|e| e.to_string())?;
            let footer = s.footer_text().unwrap_or_default();
            assert!(footer.contains("DPMPTSP Kabupaten Karo") && !footer.contains("BSrE"));
            jail.set_env("STAMP_FOOTER", "none");
            let s = Settings::load(Some(&path)).map_err(|e| e.to_string())?;
            assert_eq!(s.footer_text(), None);
            jail.set_env("STAMP_FOOTER", "kop");
            assert!(Settings::load(Some(&path)).is_err());
            jail.set_env("STAMP_FOOTER", "auto");
            jail.set_env("TZ_OFFICE", "Mars/Olympus");
            assert!(Settings::load(Some(&path)).is_err());
            Ok(())
        });
    }

    /// The README's configuration table is the reference: every key in it exists, and every
    /// key the code reads is in it.
    #[test]
    fn the_configuration_reference_matches_the_code() {
        let readme = include_str!("../../../README.md");
        let section = readme
            .split("\n## Configuration\n")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("a Configuration section");
        let mut documented = std::collections::BTreeSet::new();
        for row in section.lines().filter(|l| l.starts_with("| `")) {
            let first = row.split('|').nth(1).unwrap_or("");
            for name in first.split('`').skip(1).step_by(2) {
                if name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                {
                    documented.insert(name.to_ascii_lowercase());
                }
            }
        }
        let code: std::collections::BTreeSet<String> = KEYS.iter().map(|k| k.to_string()).collect();
        let undocumented: Vec<_> = code.difference(&documented).collect();
        let unknown: Vec<_> = documented.difference(&code).collect();
        assert!(
            undocumented.is_empty(),
            "keys missing from the README's table: {undocumented:?}"
        );
        assert!(
            unknown.is_empty(),
            "README documents keys the code does not read: {unknown:?}"
        );
    }

    #[test]
    fn every_field_is_a_key() {
        let value = serde_json::to_value(Settings::default()).unwrap();
        let fields: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        let mut keys: Vec<String> = KEYS.iter().map(|k| k.to_string()).collect();
        let mut sorted = fields.clone();
        sorted.sort();
        keys.sort();
        assert_eq!(sorted, keys);
    }
}
