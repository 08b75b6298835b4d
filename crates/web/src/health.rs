//! Liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::Shared;

pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database and the object store answer.
pub async fn readyz(State(state): State<Shared>) -> impl IntoResponse {
    let database = match state.db.ping().await {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            "unreachable"
        }
    };
    let storage = match state.documents.as_ref().map(|d| d.storage()) {
        None => "not configured",
        Some(s) => match s.ping().await {
            Ok(()) => "ok",
            Err(e) => {
                tracing::warn!(error = %e, storage = s.describe(), "readiness: object store unreachable");
                "unreachable"
            }
        },
    };
    let ready = database == "ok" && storage != "unreachable";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        format!(
            "{}: database {database}, storage {storage}\n",
            if ready { "ready" } else { "not ready" }
        ),
    )
}

pub async fn metrics(State(state): State<Shared>) -> impl IntoResponse {
    let body = state
        .metrics
        .as_ref()
        .map(|m| m.render())
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
