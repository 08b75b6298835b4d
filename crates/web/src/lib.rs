//! The HTTP layer: translates requests into calls on the crates below and results into JSON or
//! HTML. No SQL and no business rules here.

mod api;
mod errors;
mod health;
mod pages;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use companion_db::Database;
use metrics_exporter_prometheus::PrometheusHandle;

pub use errors::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub metrics: Option<PrometheusHandle>,
    /// Times on pages are shown in the office's zone (`TZ_OFFICE`).
    pub office_tz: chrono_tz::Tz,
}

impl AppState {
    pub fn office_time(&self, t: chrono::DateTime<chrono::Utc>) -> String {
        t.with_timezone(&self.office_tz)
            .format("%d-%m-%Y %H:%M")
            .to_string()
    }
}

/// The whole URL map in one place.
pub fn router(state: AppState) -> Router {
    let state = Arc::new(state);
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/", get(pages::home))
        .route("/izin/{id}", get(pages::permit))
        .route("/api/v1/permits", get(api::list_permits))
        .route("/api/v1/permits/{id}", get(api::get_permit))
        .route("/api/v1/permit-types", get(api::list_types))
        .route("/api/v1/sync/runs", get(api::list_runs))
        .route("/api/v1/sync/runs/{id}", get(api::get_run))
        .route("/api/v1/sync/calls", get(api::list_calls))
        .route("/api/v1/stats", get(api::stats))
        .fallback(errors::not_found)
        .with_state(state)
}

pub type Shared = Arc<AppState>;
