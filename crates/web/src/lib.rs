//! The HTTP layer: translates requests into calls on the crates below and results into HTML
//! (the staff application, in Bahasa Indonesia) or JSON (the REST API under `/api/v1`).
//! No SQL and no business rules here; who may do what is `companion_domain::Role::may`.
//!
//! Rooms: `routes.rs` is the whole URL map with each route's access rule; `auth.rs` sessions,
//! tokens, CSRF and login throttling; `ui/` the pages; `api/` the JSON API and its OpenAPI
//! document; `charts.rs` server-rendered SVG charts; `health.rs` health and metrics
//! (`http_metrics.rs` per request, `state_metrics.rs` the gauges read at each scrape).

pub mod api;
pub mod auth;
pub mod charts;
pub mod csv_out;
mod errors;
pub mod files;
pub mod geoip;
mod health;
mod http_metrics;
pub mod lacak;
pub mod notices;
pub mod pki;
pub mod portal;
pub mod routes;
pub mod state_metrics;
mod static_files;
pub mod survey;
pub mod ui;
pub mod upload_gate;
pub mod webhooks;

use std::sync::Arc;

use companion_db::Database;
use companion_domain::AuditRecord;
use metrics_exporter_prometheus::PrometheusHandle;

pub use errors::{ApiError, ErrorBody};
pub use routes::{Access, RouteSpec, router, routes};

/// Which SICANTIK job a person can start by hand.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SyncKind {
    /// New and changed permits (the newest pages).
    Incremental,
    /// Every page of both lists.
    Full,
    /// The permit-type master list.
    Types,
    /// The per-permit expiry workaround (`cekperizinan`).
    Expiry,
}

impl SyncKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "incremental" => Some(Self::Incremental),
            "full" => Some(Self::Full),
            "types" => Some(Self::Types),
            "expiry" => Some(Self::Expiry),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incremental => "incremental",
            Self::Full => "full",
            Self::Types => "types",
            Self::Expiry => "expiry",
        }
    }
}

/// Starts background jobs on behalf of the web layer (implemented by the app's scheduler).
pub trait JobControl: Send + Sync {
    /// Starts `kind` in the background; `Err` with a reason (in Bahasa Indonesia) when it cannot
    /// start, e.g. because the same job is already running.
    fn start_sync(&self, kind: SyncKind) -> futures::future::BoxFuture<'_, Result<(), String>>;
}

/// Settings the web layer needs.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Adds `Secure` (and the `__Host-` prefix) to cookies; on whenever the public URL is https.
    pub cookie_secure: bool,
    /// Idle lifetime of a browser session.
    pub session_idle: chrono::Duration,
    /// Take the client address from `X-Forwarded-For` (its last entry, the one the proxy added).
    /// Only behind a reverse proxy that sets it; otherwise a client could forge its address.
    pub trust_forwarded_for: bool,
    /// The address the public reaches this server at (`PUBLIC_BASE_URL`), for applicant links.
    pub public_base_url: String,
    /// Portal pages per client and minute (`PORTAL_REQUESTS_PER_MINUTE`).
    pub portal_requests_per_minute: u32,
    /// Portal PDF checks per client and minute (`PORTAL_UPLOADS_PER_MINUTE`).
    pub portal_uploads_per_minute: u32,
    /// How long a rendered QR page is reused (`PORTAL_PAGE_CACHE_SECONDS`; 0: never).
    pub portal_page_cache: std::time::Duration,
    /// Bytes large portal uploads may hold at once (`PORTAL_UPLOAD_BUDGET_MB`).
    pub portal_upload_budget: u64,
    /// Portal validations running at once (`PORTAL_CHECKS_AT_ONCE`; 0: one per core).
    pub portal_checks_at_once: usize,
    /// `/metrics` for callers not on this machine, with `Authorization: Bearer <token>`
    /// (`METRICS_TOKEN`); `None`: loopback only.
    pub metrics_token: Option<String>,
    /// The portal header's logo file (`PORTAL_LOGO`); `None`: the built-in mark.
    pub portal_logo: Option<std::path::PathBuf>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            cookie_secure: false,
            session_idle: chrono::Duration::hours(8),
            trust_forwarded_for: false,
            public_base_url: "http://127.0.0.1:8080".into(),
            portal_requests_per_minute: 300,
            portal_uploads_per_minute: 10,
            portal_page_cache: std::time::Duration::from_secs(5),
            portal_upload_budget: 64 * 1024 * 1024,
            portal_checks_at_once: 0,
            metrics_token: None,
            portal_logo: None,
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub metrics: Option<PrometheusHandle>,
    /// Times on pages are shown in the office's zone (`TZ_OFFICE`).
    pub office_tz: chrono_tz::Tz,
    pub config: WebConfig,
    pub jobs: Option<Arc<dyn JobControl>>,
    /// Documents and their object store (checked by `/readyz`); `None` runs without them.
    pub documents: Option<companion_documents::Documents>,
    /// The signing workflow; `None` when no signer is configured (`keys init`).
    pub signing: Option<companion_signing::SigningService>,
    pub throttle: Arc<auth::LoginThrottle>,
    /// The dashboard's figures (they scan every permit), reused for [`FIGURES_TTL`].
    pub dashboard_cache: Arc<TtlCache<companion_db::Dashboard>>,
    /// Permit type names for filter lists, reused for [`FIGURES_TTL`].
    pub type_names_cache: Arc<TtlCache<Vec<String>>>,
    /// The audit chain's last check (it reads every entry), reused for [`FIGURES_TTL`].
    pub audit_chain_cache: Arc<TtlCache<Result<u64, companion_domain::audit::ChainBreak>>>,
    /// The roots the portal trusts when it validates a PDF (the local CA, BSrE's root, …).
    pub trust_anchors: Arc<Vec<x509_cert::Certificate>>,
    /// Per-client limits of the public portal, made from `config` on first use.
    pub portal_limits: Arc<std::sync::OnceLock<portal::PortalLimits>>,
    /// Admission of portal uploads (bytes held, checks at once), made from `config` on first use.
    pub upload_gate: Arc<std::sync::OnceLock<upload_gate::UploadGate>>,
    /// The portal's log writer: checks are queued and written in batches, so a busy portal does
    /// not wait on one database write per page (started on first use).
    pub verification_log: Arc<std::sync::OnceLock<portal::LogWriter>>,
    /// Rendered QR pages for a few seconds (cleared by every workflow step).
    pub portal_pages: Arc<portal::PageCache>,
    /// Each signed document's validation, by document id: a stored file never changes.
    pub portal_reports:
        Arc<std::sync::Mutex<std::collections::HashMap<i64, Arc<companion_pdf::validate::Report>>>>,
    /// Coarse regions for the verification log (`GEOIP_DATABASE`); `None`: "tidak diketahui".
    pub geoip: Option<Arc<geoip::GeoIp>>,
    /// WhatsApp notifications; `None` runs without them (webhooks answer 404).
    pub notifier: Option<Arc<companion_notify::Notifier>>,
    /// Public application tracking (`/lacak`); `None`: the page says it is not available.
    pub tracker: Option<Arc<companion_sicantik::Tracker>>,
    /// The office CAs' CRLs, certificates and OCSP responder (`/pki/...`); `None`: 404.
    pub pki: Option<Arc<companion_signing::pki::PkiService>>,
    /// Online revocation look-ups for verification (`REVOCATION_FETCH`); `None`: offline.
    pub revocation_fetcher: Option<companion_signing::revocation::RevocationFetcher>,
}

/// A value recomputed at most once per time-to-live. One caller recomputes while the others
/// wait for it, instead of all hitting the database at once.
pub struct TtlCache<T> {
    slot: tokio::sync::Mutex<Option<(std::time::Instant, T)>>,
}

impl<T> Default for TtlCache<T> {
    fn default() -> Self {
        Self {
            slot: tokio::sync::Mutex::new(None),
        }
    }
}

impl<T: Clone> TtlCache<T> {
    /// Forgets the cached value (after a change the figures should show at once).
    pub async fn clear(&self) {
        *self.slot.lock().await = None;
    }

    pub async fn get_or_load<E, F>(&self, ttl: std::time::Duration, load: F) -> Result<T, E>
    where
        F: std::future::Future<Output = Result<T, E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((at, value)) = slot.as_ref()
            && at.elapsed() < ttl
        {
            return Ok(value.clone());
        }
        let value = load.await?;
        *slot = Some((std::time::Instant::now(), value.clone()));
        Ok(value)
    }
}

/// How long dashboard figures and filter lists may be reused.
pub const FIGURES_TTL: std::time::Duration = std::time::Duration::from_secs(30);

impl AppState {
    pub fn new(db: Database, office_tz: chrono_tz::Tz) -> Self {
        Self {
            db,
            metrics: None,
            office_tz,
            config: WebConfig::default(),
            jobs: None,
            documents: None,
            signing: None,
            throttle: Arc::default(),
            dashboard_cache: Arc::default(),
            type_names_cache: Arc::default(),
            audit_chain_cache: Arc::default(),
            trust_anchors: Arc::default(),
            portal_limits: Arc::default(),
            upload_gate: Arc::default(),
            verification_log: Arc::default(),
            portal_pages: Arc::default(),
            portal_reports: Arc::default(),
            geoip: None,
            notifier: None,
            tracker: None,
            pki: None,
            revocation_fetcher: None,
        }
    }

    /// After a workflow step: the dashboard's figures and the portal's rendered pages are stale.
    pub async fn workflow_changed(&self) {
        self.dashboard_cache.clear().await;
        self.portal_pages.clear();
    }

    /// The dashboard's figures, from the cache when fresh.
    pub async fn dashboard(&self) -> Result<companion_db::Dashboard, companion_db::DbError> {
        self.dashboard_cache
            .get_or_load(FIGURES_TTL, self.db.dashboard(self.office_today()))
            .await
    }

    /// Permit type names for filter lists, from the cache when fresh.
    pub async fn type_names(&self) -> Result<Vec<String>, companion_db::DbError> {
        self.type_names_cache
            .get_or_load(FIGURES_TTL, self.db.type_names())
            .await
    }

    pub fn office_time(&self, t: chrono::DateTime<chrono::Utc>) -> String {
        t.with_timezone(&self.office_tz)
            .format("%d-%m-%Y %H:%M")
            .to_string()
    }

    pub fn office_today(&self) -> chrono::NaiveDate {
        chrono::Utc::now()
            .with_timezone(&self.office_tz)
            .date_naive()
    }

    /// Appends to the audit trail; a failure is logged loudly but does not undo the action
    /// that already happened.
    pub async fn audit(&self, record: AuditRecord) {
        if let Err(e) = self.db.append_audit(&record).await {
            tracing::error!(error = %e, action = %record.action, "could not write the audit trail");
        }
    }
}

pub type Shared = Arc<AppState>;
