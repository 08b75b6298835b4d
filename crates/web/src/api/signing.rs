//! The signing workflow over the API: the same service and rules as the pages.

use axum::extract::State;
use axum::http::StatusCode;
use companion_db::{BatchItem, SigningBatch, SigningCase};
use companion_domain::workflow::{Action, DocState};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Json, Path, Query};
use crate::ui::signing::{participant, service, signing_error};
use crate::ui::signing_jobs::passphrase_of;
use crate::ui::{Client, Me};
use crate::{ApiError, ErrorBody, Shared};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseListParams {
    /// `submitted`, `approved`, `rejected`, `stamped`, `signed`, `published` or `revoked`.
    pub state: Option<String>,
    /// Registration id: that permit's cases instead.
    pub permit: Option<String>,
}

/// Signing cases in one state (oldest first, up to 500), or one permit's cases.
#[utoipa::path(operation_id = "list_signing_cases", get, path = "/api/v1/signing/cases", tag = "signing", params(CaseListParams),
    responses((status = 200, body = Vec<SigningCase>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Shared>,
    Query(p): Query<CaseListParams>,
) -> Result<axum::Json<Vec<SigningCase>>, ApiError> {
    if let Some(permit) = p.permit.as_deref().filter(|s| !s.is_empty()) {
        return Ok(axum::Json(state.db.signing_cases_for_permit(permit).await?));
    }
    let st = match p.state.as_deref() {
        None | Some("") => DocState::Submitted,
        Some(s) => DocState::parse(s)
            .ok_or_else(|| ApiError::bad_request(format!("Status tidak dikenal: {s}")))?,
    };
    Ok(axum::Json(
        state.db.signing_cases_in(st.as_str(), 500).await?,
    ))
}

#[utoipa::path(operation_id = "get_signing_case", get, path = "/api/v1/signing/cases/{id}", tag = "signing",
    params(("id" = i64, Path, description = "Case id")),
    responses((status = 200, body = SigningCase), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn detail(
    State(state): State<Shared>,
    Path(id): Path<i64>,
) -> Result<axum::Json<SigningCase>, ApiError> {
    state
        .db
        .get_signing_case(id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("Kasus penandatanganan tidak ditemukan."))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SubmitBody {
    /// The imported original to submit.
    pub document_id: i64,
}

/// Staff submit an imported original for approval.
#[utoipa::path(post, path = "/api/v1/signing/cases", tag = "signing", request_body = SubmitBody,
    responses((status = 201, body = SigningCase), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn submit(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Json(body): Json<SubmitBody>,
) -> Result<(StatusCode, axum::Json<SigningCase>), ApiError> {
    let case = service(&state)?
        .submit(body.document_id, &participant(&me, &client))
        .await
        .map_err(signing_error)?;
    Ok((StatusCode::CREATED, axum::Json(case)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StepBody {
    /// `submit` (again, after a rejection), `approve`, `reject`, `sign`, `revoke`; for an
    /// approved case whose stamp failed, `stamp` (again) or `return` (to `submitted`).
    pub action: String,
    /// Required to reject, to revoke and to return.
    pub reason: Option<String>,
    /// To approve a permit whose issue date SICANTIK does not know (`YYYY-MM-DD`).
    #[schema(value_type = Option<String>)]
    pub issue_date: Option<chrono::NaiveDate>,
    /// To approve a permit whose expiry SICANTIK does not know: `{"kind":"until","date":"YYYY-MM-DD"}`
    /// or, confirmed, `{"kind":"none"}` (no end of validity).
    #[schema(value_type = Option<Object>)]
    pub expiry: Option<companion_domain::seal::Expiry>,
    /// To sign with BSrE: the official's passphrase (used for this call only, never stored).
    pub passphrase: Option<String>,
}

/// One workflow step on a case. Approval is followed by the QR stamp, signing by publication.
#[utoipa::path(post, path = "/api/v1/signing/cases/{id}/steps", tag = "signing",
    params(("id" = i64, Path, description = "Case id")),
    request_body = StepBody,
    responses((status = 200, body = SigningCase), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn step(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(id): Path<i64>,
    Json(body): Json<StepBody>,
) -> Result<axum::Json<SigningCase>, ApiError> {
    let svc = service(&state)?;
    let who = participant(&me, &client);
    let reason = body.reason.unwrap_or_default();
    let case = match Action::parse(&body.action) {
        Some(Action::Submit) => svc.resubmit(id, &who).await,
        Some(Action::Approve) => {
            let confirm = companion_signing::DateConfirmation {
                issue_date: body.issue_date,
                expiry: body.expiry,
            };
            svc.approve_with(id, &who, confirm).await
        }
        Some(Action::Stamp) => svc.restamp(id, &who).await,
        Some(Action::Return) => svc.return_to_submitted(id, &who, &reason).await,
        Some(Action::Reject) => svc.reject(id, &who, &reason).await,
        Some(Action::Sign) => svc.sign_now(id, &who, passphrase_of(body.passphrase)).await,
        Some(Action::Revoke) => svc.revoke(id, &who, &reason).await,
        // Publishing is the system's step.
        Some(Action::Publish) | None => {
            return Err(ApiError::bad_request(format!(
                "Langkah tidak dikenal: {} (submit, approve, reject, sign, revoke, stamp, return)",
                body.action
            )));
        }
    }
    .map_err(signing_error)?;
    state.workflow_changed().await;
    Ok(axum::Json(case))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct BatchBody {
    /// The stamped cases to sign, in order. Leave out (or empty) with `all_ready: true`.
    #[serde(default)]
    pub case_ids: Vec<i64>,
    /// Sign every case ready to sign (up to 1,000).
    #[serde(default)]
    pub all_ready: bool,
    /// BSrE only: the official's passphrase, kept in memory for this job only.
    pub passphrase: Option<String>,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct BatchDetail {
    pub batch: SigningBatch,
    pub items: Vec<BatchItem>,
}

async fn batch_detail(state: &crate::AppState, id: i64) -> Result<BatchDetail, ApiError> {
    let batch = service(state)?.batch(id).await.map_err(signing_error)?;
    let items = state.db.signing_batch_items(id).await?;
    Ok(BatchDetail { batch, items })
}

/// Recent signing jobs, newest first.
#[utoipa::path(get, path = "/api/v1/signing/batches", tag = "signing",
    responses((status = 200, body = Vec<SigningBatch>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_batches(
    State(state): State<Shared>,
) -> Result<axum::Json<Vec<SigningBatch>>, ApiError> {
    Ok(axum::Json(state.db.recent_signing_batches(100).await?))
}

/// Starts a background job signing many cases with one passphrase; poll its progress.
#[utoipa::path(post, path = "/api/v1/signing/batches", tag = "signing", request_body = BatchBody,
    responses((status = 202, body = SigningBatch), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn start_batch(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Json(body): Json<BatchBody>,
) -> Result<(StatusCode, axum::Json<SigningBatch>), ApiError> {
    let svc = service(&state)?;
    let cases = if body.all_ready {
        svc.ready_case_ids(1000).await.map_err(signing_error)?
    } else {
        body.case_ids
    };
    if cases.is_empty() || cases.len() > 5000 {
        return Err(ApiError::bad_request(
            "Sebutkan 1–5000 case_ids atau all_ready: true.",
        ));
    }
    let (batch, _worker) = svc
        .start_batch(
            &cases,
            &participant(&me, &client),
            passphrase_of(body.passphrase),
        )
        .await
        .map_err(signing_error)?;
    Ok((StatusCode::ACCEPTED, axum::Json(batch)))
}

/// A signing job with each document's state.
#[utoipa::path(get, path = "/api/v1/signing/batches/{id}", tag = "signing",
    params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, body = BatchDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_batch(
    State(state): State<Shared>,
    Path(id): Path<i64>,
) -> Result<axum::Json<BatchDetail>, ApiError> {
    Ok(axum::Json(batch_detail(&state, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResumeBody {
    /// BSrE only: the passphrase again (it was never stored).
    pub passphrase: Option<String>,
}

/// The job's official resumes a paused job.
#[utoipa::path(post, path = "/api/v1/signing/batches/{id}/resume", tag = "signing",
    params(("id" = i64, Path, description = "Job id")), request_body = ResumeBody,
    responses((status = 202, body = SigningBatch), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn resume_batch(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(id): Path<i64>,
    Json(body): Json<ResumeBody>,
) -> Result<(StatusCode, axum::Json<SigningBatch>), ApiError> {
    let (batch, _worker) = service(&state)?
        .resume_batch(
            id,
            &participant(&me, &client),
            passphrase_of(body.passphrase),
        )
        .await
        .map_err(signing_error)?;
    Ok((StatusCode::ACCEPTED, axum::Json(batch)))
}

/// Ends a paused job; its queued documents return to "ready to sign".
#[utoipa::path(post, path = "/api/v1/signing/batches/{id}/cancel", tag = "signing",
    params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, body = SigningBatch), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel_batch(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(id): Path<i64>,
) -> Result<axum::Json<SigningBatch>, ApiError> {
    Ok(axum::Json(
        service(&state)?
            .cancel_batch(id, &participant(&me, &client))
            .await
            .map_err(signing_error)?,
    ))
}

/// Queues again a document whose signing outcome was unknown (after checking BSrE).
#[utoipa::path(post, path = "/api/v1/signing/items/{id}/retry", tag = "signing",
    params(("id" = i64, Path, description = "Job item id")),
    responses((status = 200, body = BatchItem), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn retry_item(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(id): Path<i64>,
) -> Result<axum::Json<BatchItem>, ApiError> {
    Ok(axum::Json(
        service(&state)?
            .retry_item(id, &participant(&me, &client))
            .await
            .map_err(signing_error)?,
    ))
}
