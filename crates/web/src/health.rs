//! Liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::Shared;

pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database answers (and, once documents exist, the object store).
pub async fn readyz(State(state): State<Shared>) -> impl IntoResponse {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready: database ok\n"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: database unreachable\n",
            )
        }
    }
}

pub async fn metrics(State(state): State<Shared>) -> impl IntoResponse {
    let body = state
        .metrics
        .as_ref()
        .map(|m| m.render())
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
