//! REST API under `/api/v1` (JSON). Read-only in this stage; authentication arrives with the
//! staff application.

use axum::Json;
use axum::extract::{Path, Query, State};
use companion_db::{PermitQuery, PermitSort};
use companion_domain::PermitStatus;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ApiError, Shared};

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    pub q: Option<String>,
    pub status: Option<String>,
    #[serde(rename = "type")]
    pub permit_type: Option<String>,
    pub expiring_within_days: Option<i64>,
    pub sort: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

impl ListParams {
    pub fn to_query(&self) -> Result<PermitQuery, ApiError> {
        let status = match self.status.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(
                PermitStatus::parse(s)
                    .ok_or_else(|| ApiError::bad_request(format!("Status tidak dikenal: {s}")))?,
            ),
        };
        let sort = match self.sort.as_deref().filter(|s| !s.is_empty()) {
            None | Some("newest") => PermitSort::Newest,
            Some("expiry") => PermitSort::Expiry,
            Some("applicant") => PermitSort::Applicant,
            Some("id") => PermitSort::Id,
            Some(s) => return Err(ApiError::bad_request(format!("Urutan tidak dikenal: {s}"))),
        };
        Ok(PermitQuery {
            q: self.q.clone(),
            status,
            permit_type: self.permit_type.clone(),
            expiring_within_days: self.expiring_within_days,
            today: None,
            sort,
            page: self.page.unwrap_or(1).max(1),
            per_page: self.per_page.unwrap_or(50).clamp(1, 500),
        })
    }
}

pub async fn list_permits(
    State(state): State<Shared>,
    Query(params): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let query = params.to_query()?;
    let (items, total) = state.db.list_permits(&query).await?;
    Ok(Json(
        json!({ "items": items, "total": total, "page": query.page, "per_page": query.per_page }),
    ))
}

pub async fn get_permit(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let permit = state
        .db
        .get_permit(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("Izin tidak ditemukan."))?;
    let history = state.db.status_history(&id).await?;
    Ok(Json(json!({ "permit": permit, "status_history": history })))
}

pub async fn list_types(State(state): State<Shared>) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "items": state.db.types_with_counts().await? }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct LimitParams {
    pub limit: Option<i64>,
    pub run_id: Option<i64>,
}

pub async fn list_runs(
    State(state): State<Shared>,
    Query(p): Query<LimitParams>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "items": state.db.list_runs(p.limit.unwrap_or(20).clamp(1, 500)).await? }),
    ))
}

pub async fn get_run(
    State(state): State<Shared>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let run = state
        .db
        .get_run(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Sinkronisasi tidak ditemukan."))?;
    let skipped = state.db.list_skipped_rows(Some(id), 100).await?;
    Ok(Json(json!({ "run": run, "skipped_rows": skipped })))
}

pub async fn list_calls(
    State(state): State<Shared>,
    Query(p): Query<LimitParams>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "items": state.db.list_calls(p.run_id, p.limit.unwrap_or(50).clamp(1, 1000)).await? }),
    ))
}

pub async fn stats(State(state): State<Shared>) -> Result<Json<Value>, ApiError> {
    let counts = state.db.status_counts().await?;
    let expiry = state.db.expiry_status_counts().await?;
    let upstream_types = state
        .db
        .get_kv("sicantik.jumlah_perizinan")
        .await?
        .map(|(v, _)| v);
    let known_types = state.db.list_types().await?.len();
    Ok(Json(json!({
        "permits": counts,
        "expiry_status": expiry.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        "permit_types": { "known": known_types, "sicantik_jumlah_perizinan": upstream_types },
    })))
}
