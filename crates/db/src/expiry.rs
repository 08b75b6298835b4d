//! Storage side of the expiry workaround: which permits are due for a `cekperizinan` look-up,
//! and recording each look-up's result as it completes (so a killed run resumes where it stopped).

use chrono::{DateTime, NaiveDate, Utc};
use companion_domain::DataFlags;
use companion_domain::expiry::ExpiryStatus;
use serde::{Deserialize, Serialize};

use crate::sync_runs::{ApiCallRecord, insert_api_calls};
use crate::{Database, Result, on_backend, to_json};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ExpiryTask {
    pub pendaftaran_id: String,
    pub permit_number: String,
    pub expiry_attempts: i64,
}

/// What one look-up produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryOutcome {
    pub status: ExpiryStatus,
    pub expiry_date: Option<NaiveDate>,
    pub issue_date: Option<NaiveDate>,
    pub received_date: Option<NaiveDate>,
    pub applicant_address: Option<String>,
    pub applicant_phone: Option<String>,
    pub company_name: Option<String>,
    pub detail_flags: DataFlags,
}

impl ExpiryOutcome {
    /// An outcome with no detail row (not registered, or an error).
    pub fn without_detail(status: ExpiryStatus) -> Self {
        Self {
            status,
            expiry_date: None,
            issue_date: None,
            received_date: None,
            applicant_address: None,
            applicant_phone: None,
            company_name: None,
            detail_flags: DataFlags::new(),
        }
    }
}

/// Which permits a run should look up.
#[derive(Debug, Clone, Copy)]
pub struct ExpiryDue {
    pub now: DateTime<Utc>,
    /// A found expiry date checked before this is refreshed.
    pub stale_before: DateTime<Utc>,
    /// Permits already checked since this instant (by this run) are never picked again.
    pub run_started: DateTime<Utc>,
}

const DUE_WHERE: &str = " FROM permits WHERE status = 'issued' AND permit_number IS NOT NULL \
     AND (expiry_checked_at IS NULL OR expiry_checked_at < $3) \
     AND (expiry_status = 'unknown' \
          OR (expiry_status = 'found' AND expiry_checked_at < $2) \
          OR (expiry_status IN ('no_expiry', 'not_registered', 'error') \
              AND (expiry_next_attempt_at IS NULL OR expiry_next_attempt_at <= $1)))";

impl Database {
    pub async fn count_expiry_due(&self, due: &ExpiryDue) -> Result<i64> {
        let sql = format!("SELECT COUNT(*){DUE_WHERE}");
        Ok(on_backend!(self, pool => {
            sqlx::query_scalar(&sql).bind(due.now).bind(due.stale_before).bind(due.run_started).fetch_one(pool).await?
        }))
    }

    /// The next due permits after `after_id`, ordered by registration id so a run can walk the
    /// set in chunks while results are being written.
    pub async fn expiry_due(
        &self,
        due: &ExpiryDue,
        after_id: &str,
        limit: i64,
    ) -> Result<Vec<ExpiryTask>> {
        let sql = format!(
            "SELECT pendaftaran_id, permit_number, expiry_attempts{DUE_WHERE} AND pendaftaran_id > $4 \
             ORDER BY pendaftaran_id LIMIT $5"
        );
        Ok(on_backend!(self, pool => {
            sqlx::query_as(&sql)
                .bind(due.now)
                .bind(due.stale_before)
                .bind(due.run_started)
                .bind(after_id)
                .bind(limit)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Stores one look-up's result together with its API calls, atomically.
    pub async fn record_expiry(
        &self,
        task: &ExpiryTask,
        outcome: &ExpiryOutcome,
        next_attempt_at: Option<DateTime<Utc>>,
        run_id: Option<i64>,
        calls: &[ApiCallRecord],
    ) -> Result<()> {
        let now = crate::now();
        let has_detail = matches!(outcome.status, ExpiryStatus::Found | ExpiryStatus::NoExpiry);
        let attempts = if outcome.status == ExpiryStatus::Found {
            0
        } else {
            task.expiry_attempts + 1
        };
        let detail_flags = to_json(&outcome.detail_flags);
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            if has_detail {
                sqlx::query(
                    "UPDATE permits SET expiry_status = $2, expiry_attempts = $3, expiry_checked_at = $4, \
                     expiry_next_attempt_at = $5, expiry_date = $6, issue_date = COALESCE($7, issue_date), \
                     received_date = COALESCE($8, received_date), applicant_address = COALESCE($9, applicant_address), \
                     applicant_phone = COALESCE($10, applicant_phone), company_name = COALESCE($11, company_name), \
                     detail_flags = $12, updated_at = $4 WHERE pendaftaran_id = $1",
                )
                .bind(&task.pendaftaran_id)
                .bind(outcome.status.as_str())
                .bind(attempts)
                .bind(now)
                .bind(next_attempt_at)
                .bind(outcome.expiry_date)
                .bind(outcome.issue_date)
                .bind(outcome.received_date)
                .bind(outcome.applicant_address.as_deref())
                .bind(outcome.applicant_phone.as_deref())
                .bind(outcome.company_name.as_deref())
                .bind(&detail_flags)
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query(
                    "UPDATE permits SET expiry_status = $2, expiry_attempts = $3, expiry_checked_at = $4, \
                     expiry_next_attempt_at = $5, updated_at = $4 WHERE pendaftaran_id = $1",
                )
                .bind(&task.pendaftaran_id)
                .bind(outcome.status.as_str())
                .bind(attempts)
                .bind(now)
                .bind(next_attempt_at)
                .execute(&mut *tx)
                .await?;
            }
            insert_api_calls!(DB, &mut *tx, run_id, calls);
            tx.commit().await?;
        });
        Ok(())
    }

    /// How many issued permits have each expiry status (for progress pages and the dashboard).
    pub async fn expiry_status_counts(&self) -> Result<Vec<(String, i64)>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT expiry_status, COUNT(*) FROM permits WHERE status = 'issued' GROUP BY expiry_status ORDER BY 1",
            )
            .fetch_all(pool)
            .await?
        }))
    }
}
