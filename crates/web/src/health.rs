//! Liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::Shared;

pub async fn healthz() -> &'static str {
    "ok"
}

/// How long each readiness check may take (a SQLite writer holding the lock makes the write
/// check wait).
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Ready only when the database takes writes (a write in a transaction that is rolled back) and
/// the object store takes, gives back and deletes a probe object (a local folder must still
/// exist). 503 otherwise, with a short reason; details go to the log.
pub async fn readyz(State(state): State<Shared>) -> impl IntoResponse {
    let database = match tokio::time::timeout(CHECK_TIMEOUT, state.db.ping()).await {
        Err(_) => "timeout",
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            "unreachable"
        }
        Ok(Ok(())) => match tokio::time::timeout(CHECK_TIMEOUT, state.db.ping_write()).await {
            Err(_) => "timeout",
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: the database does not take writes");
                "not writable"
            }
            Ok(Ok(())) => "ok",
        },
    };
    let storage = match state.documents.as_ref().map(|d| d.storage()) {
        None => "not configured",
        Some(s) => match tokio::time::timeout(CHECK_TIMEOUT, s.probe()).await {
            Err(_) => "timeout",
            Ok(Err(e)) => {
                tracing::warn!(error = %e, storage = s.describe(), "readiness: object store check failed");
                "failing"
            }
            Ok(Ok(())) => "ok",
        },
    };
    let ready = database == "ok" && matches!(storage, "ok" | "not configured");
    let mut body = serde_json::json!({
        "status": if ready { "ready" } else { "not ready" },
        "database": database,
        "storage": storage,
    });
    if !ready {
        let reason = match (database, storage) {
            ("ok", s) => format!("storage {s}"),
            (d, "ok" | "not configured") => format!("database {d}"),
            (d, s) => format!("database {d}, storage {s}"),
        };
        body["reason"] = reason.into();
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body))
}

pub async fn metrics(State(state): State<Shared>) -> impl IntoResponse {
    if state.metrics.is_some() {
        crate::state_metrics::refresh(&state).await;
    }
    let body = state
        .metrics
        .as_ref()
        .map(|m| m.render())
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
