//! The audit trail, for auditors and administrators.

use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use companion_db::AuditQuery;
use companion_domain::AuditEntry;
use serde::{Deserialize, Serialize};

use super::{PageInfo, Query};
use crate::{ApiError, ErrorBody, Shared};

#[derive(Debug, Default, Clone, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Username of the actor.
    pub actor: Option<String>,
    /// Exact action (`user.create`) or a prefix ending in `.` (`auth.`).
    pub action: Option<String>,
    /// The record acted on.
    pub target_id: Option<String>,
    /// From this day (YYYY-MM-DD, office time zone), inclusive.
    pub from: Option<String>,
    /// Up to this day (YYYY-MM-DD), inclusive.
    pub to: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    #[serde(flatten)]
    pub page: PageInfo,
}

impl AuditParams {
    pub fn to_query(&self, tz: chrono_tz::Tz) -> Result<AuditQuery, ApiError> {
        let s = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let day = |v: &Option<String>,
                   name: &str,
                   plus: i64|
         -> Result<Option<DateTime<Utc>>, ApiError> {
            match s(v) {
                None => Ok(None),
                Some(d) => {
                    let d = NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| {
                        ApiError::bad_request(format!(
                            "Tanggal {name} tidak valid (YYYY-MM-DD): {d}"
                        ))
                    })?;
                    let d = d + chrono::Duration::days(plus);
                    Ok(d.and_hms_opt(0, 0, 0)
                        .and_then(|t| t.and_local_timezone(tz).earliest())
                        .map(|t| t.with_timezone(&Utc)))
                }
            }
        };
        let num =
            |v: &Option<String>, name: &str, max: u32, default: u32| -> Result<u32, ApiError> {
                match s(v) {
                    None => Ok(default),
                    Some(x) => match x.parse::<u32>() {
                        Ok(n) if (1..=max).contains(&n) => Ok(n),
                        _ => Err(ApiError::bad_request(format!(
                            "Nilai {name} tidak valid: {x}"
                        ))),
                    },
                }
            };
        Ok(AuditQuery {
            actor: s(&self.actor),
            action: s(&self.action),
            target_id: s(&self.target_id),
            from: day(&self.from, "from", 0)?,
            to: day(&self.to, "to", 1)?,
            page: num(&self.page, "page", 1_000_000, 1)?,
            per_page: num(&self.per_page, "per_page", 500, 50)?,
        })
    }
}

/// Browse the audit trail, newest first.
#[utoipa::path(operation_id = "list_audit_entries", get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Shared>,
    Query(p): Query<AuditParams>,
) -> Result<axum::Json<AuditPage>, ApiError> {
    let q = p.to_query(state.office_tz)?;
    let (items, total) = state.db.list_audit(&q).await?;
    Ok(axum::Json(AuditPage {
        items,
        page: PageInfo {
            total,
            page: q.page,
            per_page: q.per_page,
        },
    }))
}
