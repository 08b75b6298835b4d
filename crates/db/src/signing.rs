//! Signing cases: one per submitted original, in the states of `companion_domain::workflow`.
//! Every state change is a conditional update (`WHERE state = <from>`), so two requests racing on
//! one case cannot both succeed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::QueryBuilder;

use crate::{Database, DbError, Result, on_backend};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SigningCase {
    pub id: i64,
    pub pendaftaran_id: String,
    pub original_document_id: i64,
    pub stamped_document_id: Option<i64>,
    pub signed_document_id: Option<i64>,
    /// A `companion_domain::workflow::DocState`.
    pub state: String,
    pub verification_id: String,
    pub submitted_by: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// Why it was rejected or revoked.
    pub reason: Option<String>,
    pub signer_name: Option<String>,
    pub signed_at: Option<DateTime<Utc>>,
    /// Whether the signature carries an RFC 3161 timestamp (B-T) or not (B-B).
    pub timestamped: bool,
    /// The last signing attempt's failure, shown until a retry succeeds.
    pub signing_error: Option<String>,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The QR's exact text (portal address with the seal), set when stamped.
    pub qr_text: Option<String>,
    /// The dates the seal states, fixed at approval (JSON of `companion_domain::seal::SealDates`).
    pub sealed_dates: Option<String>,
    /// The signed file's PAdES level (a `companion_domain::archive::SignatureLevel` name).
    pub signature_level: Option<String>,
    /// When its archive timestamp is next renewed.
    pub archive_due_at: Option<DateTime<Utc>>,
    /// Why renewal stopped (a `companion_domain::archive::Stop` key).
    pub archive_stopped: Option<String>,
    /// The last renewal attempt's failure, until one succeeds.
    pub archive_error: Option<String>,
    /// Why the QR stamp covers the letter's content (no free place on the page), if it does.
    pub stamp_warning: Option<String>,
}

pub(crate) const COLUMNS: &str = "id, pendaftaran_id, original_document_id, stamped_document_id, signed_document_id, \
     state, verification_id, submitted_by, submitted_at, decided_by, decided_at, reason, signer_name, \
     signed_at, timestamped, signing_error, revoked_by, revoked_at, updated_at, qr_text, sealed_dates, \
     signature_level, archive_due_at, archive_stopped, archive_error, stamp_warning";

/// The columns a transition sets besides the state (None = unchanged).
#[derive(Debug, Default, Clone)]
pub struct CaseChanges {
    pub submitted_by: Option<String>,
    pub decided_by: Option<String>,
    pub reason: Option<String>,
    pub stamped_document_id: Option<i64>,
    pub signed_document_id: Option<i64>,
    pub signer_name: Option<String>,
    pub timestamped: Option<bool>,
    /// `Some(None)` clears it.
    pub signing_error: Option<Option<String>>,
    pub revoked_by: Option<String>,
    pub qr_text: Option<String>,
    pub sealed_dates: Option<String>,
    /// `Some(None)` clears it.
    pub stamp_warning: Option<Option<String>>,
}

impl Database {
    /// Opens a case in state `state` for an original (one case per original) and writes the
    /// domain event `document.<state>` with it.
    pub async fn create_signing_case(
        &self,
        pendaftaran_id: &str,
        original_document_id: i64,
        verification_id: &str,
        state: &str,
        submitted_by: &str,
    ) -> Result<SigningCase> {
        let now = crate::now();
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let case: SigningCase = sqlx::query_as(&format!(
                "INSERT INTO signing_cases (pendaftaran_id, original_document_id, state, verification_id, \
                 submitted_by, submitted_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {COLUMNS}"
            ))
            .bind(pendaftaran_id)
            .bind(original_document_id)
            .bind(state)
            .bind(verification_id)
            .bind(submitted_by)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match e.as_database_error() {
                Some(d) if d.is_unique_violation() => DbError::Duplicate("document"),
                _ => DbError::Sqlx(e),
            })?;
            sqlx::query("INSERT INTO domain_events (kind, subject_id, payload, created_at) VALUES ($1, $2, $3, $4)")
                .bind(format!("document.{state}"))
                .bind(pendaftaran_id)
                .bind(serde_json::json!({"case_id": case.id, "document_id": original_document_id}).to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(case)
        })
    }

    pub async fn get_signing_case(&self, id: i64) -> Result<Option<SigningCase>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM signing_cases WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// A permit's cases, newest first.
    pub async fn signing_cases_for_permit(&self, pendaftaran_id: &str) -> Result<Vec<SigningCase>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM signing_cases WHERE pendaftaran_id = $1 ORDER BY id DESC"
            ))
            .bind(pendaftaran_id)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Cases in `state`, oldest first (a queue).
    pub async fn signing_cases_in(&self, state: &str, limit: i64) -> Result<Vec<SigningCase>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM signing_cases WHERE state = $1 ORDER BY updated_at, id LIMIT $2"
            ))
            .bind(state)
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// How many cases are in each state.
    pub async fn signing_state_counts(&self) -> Result<std::collections::BTreeMap<String, i64>> {
        let rows: Vec<(String, i64)> = on_backend!(self, pool => {
            sqlx::query_as("SELECT state, COUNT(*) FROM signing_cases GROUP BY state")
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().collect())
    }

    /// Moves a case from `from` to `to` with `changes` and writes the domain event
    /// `document.<to>` (subject: the permit) in the same transaction; `false` if the case was no
    /// longer in `from`.
    pub async fn transition_signing_case(
        &self,
        id: i64,
        from: &str,
        to: &str,
        changes: &CaseChanges,
        pendaftaran_id: &str,
        event_payload: &serde_json::Value,
    ) -> Result<bool> {
        let now = crate::now();
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut qb = QueryBuilder::<DB>::new("UPDATE signing_cases SET state = ");
            qb.push_bind(to.to_string());
            qb.push(", updated_at = ").push_bind(now);
            if let Some(v) = &changes.submitted_by {
                qb.push(", submitted_by = ").push_bind(v.clone());
                qb.push(", submitted_at = ").push_bind(now);
            }
            if let Some(v) = &changes.decided_by {
                qb.push(", decided_by = ").push_bind(v.clone());
                qb.push(", decided_at = ").push_bind(now);
            }
            if let Some(v) = &changes.reason {
                qb.push(", reason = ").push_bind(v.clone());
            }
            if let Some(v) = changes.stamped_document_id {
                qb.push(", stamped_document_id = ").push_bind(v);
            }
            if let Some(v) = changes.signed_document_id {
                qb.push(", signed_document_id = ").push_bind(v);
                qb.push(", signed_at = ").push_bind(now);
            }
            if let Some(v) = &changes.signer_name {
                qb.push(", signer_name = ").push_bind(v.clone());
            }
            if let Some(v) = changes.timestamped {
                qb.push(", timestamped = ").push_bind(v);
            }
            if let Some(v) = &changes.signing_error {
                qb.push(", signing_error = ").push_bind(v.clone());
            }
            if let Some(v) = &changes.revoked_by {
                qb.push(", revoked_by = ").push_bind(v.clone());
                qb.push(", revoked_at = ").push_bind(now);
            }
            if let Some(v) = &changes.qr_text {
                qb.push(", qr_text = ").push_bind(v.clone());
            }
            if let Some(v) = &changes.sealed_dates {
                qb.push(", sealed_dates = ").push_bind(v.clone());
            }
            if let Some(v) = &changes.stamp_warning {
                qb.push(", stamp_warning = ").push_bind(v.clone());
            }
            qb.push(" WHERE id = ").push_bind(id);
            qb.push(" AND state = ").push_bind(from.to_string());
            if qb.build().execute(&mut *tx).await?.rows_affected() != 1 {
                return Ok(false);
            }
            sqlx::query("INSERT INTO domain_events (kind, subject_id, payload, created_at) VALUES ($1, $2, $3, $4)")
                .bind(format!("document.{to}"))
                .bind(pendaftaran_id)
                .bind(event_payload.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Records a failed signing attempt without changing the state.
    pub async fn set_signing_error(&self, id: i64, error: Option<&str>) -> Result<()> {
        let now = crate::now();
        on_backend!(self, pool => {
            sqlx::query("UPDATE signing_cases SET signing_error = $1, updated_at = $2 WHERE id = $3")
                .bind(error)
                .bind(now)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
