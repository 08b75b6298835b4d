//! Permits, permit types, the dashboard figures and the CSV export.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use companion_db::types::TypeWithCount;
use companion_db::{Dashboard, HistoryEntry, PermitQuery, PermitSort};
use companion_domain::PermitStatus;
use companion_domain::permits::PermitView;
use serde::{Deserialize, Serialize};

use super::{PageInfo, Path, Query};
use crate::{ApiError, ErrorBody, Shared};

/// Search, filters, sorting and paging of the permit list (the UI's form uses the same names).
#[derive(Debug, Default, Clone, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Applicant name, permit number or registration id (substring, case-insensitive).
    pub q: Option<String>,
    /// `issued` or `in_process`.
    pub status: Option<String>,
    /// Exact permit type name.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub permit_type: Option<String>,
    /// Only permits expiring between today and today + N days (0–3650).
    pub expiring_within_days: Option<String>,
    /// Letter date from (YYYY-MM-DD, inclusive).
    pub issued_from: Option<String>,
    /// Letter date to (YYYY-MM-DD, inclusive).
    pub issued_to: Option<String>,
    /// `newest` (default), `issued`, `expiry`, `applicant` or `id`.
    pub sort: Option<String>,
    /// 1-based page (default 1).
    pub page: Option<String>,
    /// Rows per page, 1–500 (default 50).
    pub per_page: Option<String>,
    /// `ada` (with a stored PDF) or `belum` (without one yet).
    pub berkas: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn int<T: std::str::FromStr + PartialOrd>(
    v: &Option<String>,
    name: &str,
    range: std::ops::RangeInclusive<T>,
) -> Result<Option<T>, ApiError> {
    match non_empty(v) {
        None => Ok(None),
        Some(s) => match s.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::bad_request(format!(
                "Nilai {name} tidak valid: {s}"
            ))),
        },
    }
}

fn day(v: &Option<String>, name: &str) -> Result<Option<NaiveDate>, ApiError> {
    match non_empty(v) {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| {
                ApiError::bad_request(format!("Tanggal {name} tidak valid (YYYY-MM-DD): {s}"))
            }),
    }
}

impl ListParams {
    /// Validates and converts; every bad value is a 400 with a message, never a 500.
    pub fn to_query(&self, today: NaiveDate) -> Result<PermitQuery, ApiError> {
        let status = match non_empty(&self.status) {
            None => None,
            Some(s) => Some(
                PermitStatus::parse(s)
                    .ok_or_else(|| ApiError::bad_request(format!("Status tidak dikenal: {s}")))?,
            ),
        };
        let sort = match non_empty(&self.sort) {
            None | Some("newest") => PermitSort::Newest,
            Some("issued") => PermitSort::Issued,
            Some("expiry") => PermitSort::Expiry,
            Some("applicant") => PermitSort::Applicant,
            Some("id") => PermitSort::Id,
            Some(s) => return Err(ApiError::bad_request(format!("Urutan tidak dikenal: {s}"))),
        };
        Ok(PermitQuery {
            q: non_empty(&self.q).map(str::to_string),
            status,
            permit_type: non_empty(&self.permit_type).map(str::to_string),
            expiring_within_days: int(
                &self.expiring_within_days,
                "expiring_within_days",
                0..=3650,
            )?,
            issued_from: day(&self.issued_from, "issued_from")?,
            issued_to: day(&self.issued_to, "issued_to")?,
            today: Some(today),
            has_pdf: match non_empty(&self.berkas) {
                None => None,
                Some("ada") => Some(true),
                Some("belum") => Some(false),
                Some(s) => {
                    return Err(ApiError::bad_request(format!(
                        "Nilai berkas tidak dikenal: {s} (ada atau belum)"
                    )));
                }
            },
            sort,
            page: int(&self.page, "page", 1..=1_000_000)?.unwrap_or(1),
            per_page: int(&self.per_page, "per_page", 1..=500)?.unwrap_or(50),
        })
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PermitPage {
    pub items: Vec<PermitView>,
    #[serde(flatten)]
    pub page: PageInfo,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PermitDetail {
    pub permit: PermitView,
    pub status_history: Vec<HistoryEntry>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TypeList {
    pub items: Vec<TypeWithCount>,
    /// SICANTIK's own count of permit types (`jumlahPerizinan`), when fetched.
    pub sicantik_jumlah_perizinan: Option<String>,
}

/// List permits.
#[utoipa::path(operation_id = "list_permits", get, path = "/api/v1/permits", tag = "permits", params(ListParams),
    responses((status = 200, body = PermitPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Shared>,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<PermitPage>, ApiError> {
    let query = params.to_query(state.office_today())?;
    let (items, total) = state.db.list_permits(&query).await?;
    Ok(axum::Json(PermitPage {
        items,
        page: PageInfo {
            total,
            page: query.page,
            per_page: query.per_page,
        },
    }))
}

/// One permit with its status history.
#[utoipa::path(operation_id = "get_permit", get, path = "/api/v1/permits/{id}", tag = "permits",
    params(("id" = String, Path, description = "SICANTIK registration id (pendaftaran_id)")),
    responses((status = 200, body = PermitDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn detail(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<axum::Json<PermitDetail>, ApiError> {
    let permit = state
        .db
        .get_permit(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("Izin tidak ditemukan."))?;
    let status_history = state.db.status_history(&id).await?;
    Ok(axum::Json(PermitDetail {
        permit,
        status_history,
    }))
}

/// Permit types with their permit counts, next to SICANTIK's `jumlahPerizinan`.
#[utoipa::path(get, path = "/api/v1/permit-types", tag = "permits",
    responses((status = 200, body = TypeList), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn types(State(state): State<Shared>) -> Result<axum::Json<TypeList>, ApiError> {
    Ok(axum::Json(TypeList {
        items: state.db.types_with_counts().await?,
        sicantik_jumlah_perizinan: state
            .db
            .get_kv("sicantik.jumlah_perizinan")
            .await?
            .map(|(v, _)| v),
    }))
}

/// The dashboard's figures.
#[utoipa::path(get, path = "/api/v1/dashboard", tag = "permits",
    responses((status = 200, body = Dashboard), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn dashboard(State(state): State<Shared>) -> Result<axum::Json<Dashboard>, ApiError> {
    Ok(axum::Json(state.dashboard().await?))
}

/// Every permit matching the filters as CSV (UTF-8 with BOM, so spreadsheet programs read it).
pub async fn csv_body(state: &Shared, params: &ListParams) -> Result<Vec<u8>, ApiError> {
    let mut query = params.to_query(state.office_today())?;
    query.per_page = 500;
    let mut out = crate::csv_out::CsvOut::new("permits");
    out.row([
        "pendaftaran_id",
        "status",
        "pemohon",
        "jenis_izin",
        "nomor_izin",
        "tanggal_surat",
        "berlaku_sampai",
        "status_tanggal_berlaku",
        "perusahaan",
        "alamat",
    ])?;
    for page in 1.. {
        query.page = page;
        let (items, _) = state.db.list_permits(&query).await?;
        for p in &items {
            let d = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
            out.row([
                p.pendaftaran_id.as_str(),
                p.status.as_str(),
                p.applicant_name.as_deref().unwrap_or(""),
                p.permit_type_name.as_deref().unwrap_or(""),
                p.permit_number.as_deref().unwrap_or(""),
                &d(p.issue_date),
                &d(p.expiry_date),
                &p.expiry_status,
                p.company_name.as_deref().unwrap_or(""),
                p.applicant_address.as_deref().unwrap_or(""),
            ])?;
        }
        if items.len() < query.per_page as usize {
            break;
        }
    }
    out.finish()
}

pub fn csv_response(body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"izin.csv\"",
            ),
        ],
        body,
    )
        .into_response()
}

/// Permits matching the filters as CSV (all pages).
#[utoipa::path(get, path = "/api/v1/exports/permits.csv", tag = "permits", params(ListParams),
    responses((status = 200, content_type = "text/csv", body = String), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn csv(
    State(state): State<Shared>,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    Ok(csv_response(csv_body(&state, &params).await?))
}
