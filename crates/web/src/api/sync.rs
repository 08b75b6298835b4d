//! SICANTIK sync: runs, the API call log, live status, and starting a run by hand.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use companion_db::{ApiCallRecord, SkippedRow, SyncRun};
use serde::{Deserialize, Serialize};

use super::{Json, Path, Query};
use crate::auth::audit_record;
use crate::ui::{Client, Me};
use crate::{ApiError, ErrorBody, Shared, SyncKind};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitParams {
    /// How many (1–1000; default 20 runs or 50 calls).
    pub limit: Option<String>,
    /// Only calls of this run.
    pub run_id: Option<String>,
}

fn limit(v: &Option<String>, default: i64) -> Result<i64, ApiError> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "Nilai limit tidak valid: {s}"
            ))),
        },
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunList {
    pub items: Vec<SyncRun>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunDetail {
    pub run: SyncRun,
    pub skipped_rows: Vec<SkippedRow>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallList {
    pub items: Vec<ApiCallRecord>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SyncStatus {
    /// Runs still in progress (with `progress_done` / `progress_total`).
    pub running: Vec<SyncRun>,
    /// The newest run of each kind.
    pub latest: Vec<SyncRun>,
    /// Issued permits by expiry lookup status: how far the expiry workaround has come.
    pub expiry: BTreeMap<String, i64>,
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
pub struct StartSync {
    pub kind: SyncKind,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Started {
    pub kind: SyncKind,
    pub message: String,
}

/// Recent sync runs, newest first.
#[utoipa::path(get, path = "/api/v1/sync/runs", tag = "sync", params(LimitParams),
    responses((status = 200, body = RunList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_runs(
    State(state): State<Shared>,
    Query(p): Query<LimitParams>,
) -> Result<axum::Json<RunList>, ApiError> {
    Ok(axum::Json(RunList {
        items: state.db.list_runs(limit(&p.limit, 20)?).await?,
    }))
}

/// One run with the upstream rows it had to skip.
#[utoipa::path(get, path = "/api/v1/sync/runs/{id}", tag = "sync",
    params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, body = RunDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_run(
    State(state): State<Shared>,
    Path(id): Path<i64>,
) -> Result<axum::Json<RunDetail>, ApiError> {
    let run = state
        .db
        .get_run(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Sinkronisasi tidak ditemukan."))?;
    let skipped_rows = state.db.list_skipped_rows(Some(id), 100).await?;
    Ok(axum::Json(RunDetail { run, skipped_rows }))
}

/// The SICANTIK API call log, newest first.
#[utoipa::path(get, path = "/api/v1/sync/calls", tag = "sync", params(LimitParams),
    responses((status = 200, body = CallList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_calls(
    State(state): State<Shared>,
    Query(p): Query<LimitParams>,
) -> Result<axum::Json<CallList>, ApiError> {
    let run_id = match p.run_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("Nilai run_id tidak valid: {s}")))?,
        ),
    };
    Ok(axum::Json(CallList {
        items: state.db.list_calls(run_id, limit(&p.limit, 50)?).await?,
    }))
}

/// How many recent runs the status looks at for running ones and the newest of each kind.
pub const STATUS_RUNS: i64 = 50;

/// The status from the newest runs (the caller has read them, newest first).
pub async fn sync_status(state: &Shared, runs: &[SyncRun]) -> Result<SyncStatus, ApiError> {
    let running = runs
        .iter()
        .filter(|r| r.outcome().ok() == Some(companion_domain::RunOutcome::Running))
        .cloned()
        .collect();
    let mut seen = std::collections::HashSet::new();
    let latest = runs
        .iter()
        .filter(|r| seen.insert(r.kind.clone()))
        .cloned()
        .collect();
    let expiry = state.db.expiry_status_counts().await?.into_iter().collect();
    Ok(SyncStatus {
        running,
        latest,
        expiry,
    })
}

/// What is running now and how far the expiry workaround has come (polled by the sync page).
#[utoipa::path(get, path = "/api/v1/sync/status", tag = "sync",
    responses((status = 200, body = SyncStatus), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn status(State(state): State<Shared>) -> Result<axum::Json<SyncStatus>, ApiError> {
    let runs = state.db.list_runs(STATUS_RUNS).await?;
    Ok(axum::Json(sync_status(&state, &runs).await?))
}

/// Starts a run and records who asked. Shared by the page's button and the API.
pub async fn start_kind(
    state: &Shared,
    me: &crate::auth::Principal,
    addr: &crate::auth::ClientAddr,
    kind: SyncKind,
) -> Result<(), ApiError> {
    let jobs = state
        .jobs
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("Penjadwal tidak berjalan di server ini."))?;
    jobs.start_sync(kind).await.map_err(ApiError::conflict)?;
    state
        .audit(audit_record(
            Some(&me.user),
            addr,
            "sync.start",
            Some(("sync", kind.as_str().to_string())),
            serde_json::json!({}),
        ))
        .await;
    Ok(())
}

/// Starts a sync now (in the background); poll `/api/v1/sync/status` for progress.
#[utoipa::path(post, path = "/api/v1/sync/runs", tag = "sync", request_body = StartSync,
    responses((status = 202, body = Started), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn start(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Json(body): Json<StartSync>,
) -> Result<(StatusCode, axum::Json<Started>), ApiError> {
    start_kind(&state, &me, &addr, body.kind).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Started {
            kind: body.kind,
            message: "Sinkronisasi dimulai.".into(),
        }),
    ))
}
