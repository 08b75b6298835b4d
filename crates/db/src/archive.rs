//! The archive-timestamp renewal's records (issue 20): each published case's level and next
//! renewal, and one row per renewal linking the signed file it extended to the new version. The
//! rule lives in `companion_domain::archive`; the work in `companion_signing::archive`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::signing::{COLUMNS, SigningCase};
use crate::{Database, Result, on_backend};

/// The schedule a check leaves on a case.
#[derive(Debug, Clone, Default)]
pub struct ArchiveSchedule {
    /// A `companion_domain::archive::SignatureLevel` name.
    pub level: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    /// A `companion_domain::archive::Stop` key.
    pub stopped: Option<String>,
    pub error: Option<String>,
}

/// What the dashboard and `/tte` show of the renewal.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ArchiveOverview {
    /// Published cases whose last renewal attempt failed.
    pub failing: i64,
    /// Published cases more than the grace past their date (not yet renewed).
    pub overdue: i64,
    /// Published cases never checked yet (signed before the renewal existed, or just now).
    pub unchecked: i64,
    pub renewed_total: i64,
    pub next_due: Option<DateTime<Utc>>,
}

impl Database {
    /// Published cases to look at now: never checked, or due at or before `now`; not stopped.
    /// Oldest due first.
    pub async fn archive_candidates(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<SigningCase>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM signing_cases WHERE state = 'published' \
                 AND archive_stopped IS NULL AND (archive_due_at IS NULL OR archive_due_at <= $1) \
                 ORDER BY archive_due_at IS NOT NULL, archive_due_at, id LIMIT $2"
            ))
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Writes what a check found, when the case still holds `signed_document_id` (a renewal
    /// elsewhere may have replaced it meanwhile).
    pub async fn set_archive_schedule(
        &self,
        case_id: i64,
        signed_document_id: i64,
        s: &ArchiveSchedule,
    ) -> Result<bool> {
        on_backend!(self, pool => {
            Ok(sqlx::query(
                "UPDATE signing_cases SET signature_level = $1, archive_due_at = $2, \
                 archive_stopped = $3, archive_error = $4 WHERE id = $5 AND signed_document_id = $6",
            )
            .bind(s.level.clone())
            .bind(s.due_at)
            .bind(s.stopped.clone())
            .bind(s.error.clone())
            .bind(case_id)
            .bind(signed_document_id)
            .execute(pool)
            .await?
            .rows_affected() == 1)
        })
    }

    /// Records a renewal: `to` replaces `from` as the case's signed file, with its schedule, in
    /// one transaction. `false` when the case no longer holds `from` or `from` was renewed
    /// already (nothing is written then).
    pub async fn record_archive_renewal(
        &self,
        case_id: i64,
        from: i64,
        to: i64,
        next: &ArchiveSchedule,
    ) -> Result<bool> {
        let now = crate::now();
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let moved = sqlx::query(
                "UPDATE signing_cases SET signed_document_id = $1, signature_level = $2, \
                 archive_due_at = $3, archive_stopped = $4, archive_error = $5 \
                 WHERE id = $6 AND signed_document_id = $7 AND state = 'published'",
            )
            .bind(to)
            .bind(next.level.clone())
            .bind(next.due_at)
            .bind(next.stopped.clone())
            .bind(next.error.clone())
            .bind(case_id)
            .bind(from)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved != 1 {
                return Ok(false);
            }
            let inserted = sqlx::query(
                "INSERT INTO archive_renewals (case_id, from_document_id, to_document_id, renewed_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(case_id)
            .bind(from)
            .bind(to)
            .bind(now)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {
                    return Ok(false);
                }
                Err(e) => return Err(e.into()),
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The case whose earlier signed file `document_id` was, before a renewal replaced it.
    pub async fn case_of_renewed_document(&self, document_id: i64) -> Result<Option<i64>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_scalar(
                "SELECT case_id FROM archive_renewals WHERE from_document_id = $1",
            )
            .bind(document_id)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// How many renewals a case has had.
    pub async fn archive_renewal_count(&self, case_id: i64) -> Result<i64> {
        on_backend!(self, pool => {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM archive_renewals WHERE case_id = $1")
                .bind(case_id)
                .fetch_one(pool)
                .await?)
        })
    }

    /// The renewal's state over all published cases; a case counts as overdue once it is
    /// `grace` past its date (the job runs hourly).
    pub async fn archive_overview(
        &self,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> Result<ArchiveOverview> {
        let late = now - grace;
        on_backend!(self, pool => {
            let (failing, overdue, unchecked): (i64, i64, i64) = sqlx::query_as(
                "SELECT \
                   COALESCE(SUM(CASE WHEN archive_error IS NOT NULL THEN 1 ELSE 0 END), 0), \
                   COALESCE(SUM(CASE WHEN archive_stopped IS NULL AND archive_due_at <= $1 THEN 1 ELSE 0 END), 0), \
                   COALESCE(SUM(CASE WHEN archive_stopped IS NULL AND archive_due_at IS NULL AND archive_error IS NULL THEN 1 ELSE 0 END), 0) \
                 FROM signing_cases WHERE state = 'published'",
            )
            .bind(late)
            .fetch_one(pool)
            .await?;
            let next_due: Option<DateTime<Utc>> = sqlx::query_scalar(
                "SELECT MIN(archive_due_at) FROM signing_cases WHERE state = 'published' \
                 AND archive_stopped IS NULL AND archive_due_at > $1",
            )
            .bind(now)
            .fetch_one(pool)
            .await?;
            let renewed_total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM archive_renewals")
                .fetch_one(pool)
                .await?;
            Ok(ArchiveOverview { failing, overdue, unchecked, renewed_total, next_due })
        })
    }
}
