//! Sync run records, the SICANTIK API call log and skipped upstream rows.

use chrono::{DateTime, Utc};
use companion_domain::{RunDetails, RunOutcome, SyncSummary};
use serde::{Deserialize, Serialize};

use crate::{Database, Result, on_backend};

/// One call to SICANTIK, as logged.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApiCallRecord {
    pub endpoint: String,
    pub params: String,
    pub http_status: Option<i64>,
    pub duration_ms: i64,
    pub row_count: Option<i64>,
    pub error: Option<String>,
    pub called_at: DateTime<Utc>,
}

/// An upstream row that could not be used (no usable registration id), kept for a person to see.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SkippedRow {
    pub endpoint: String,
    pub reason: String,
    /// The row as received, as JSON.
    pub raw: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SyncRun {
    pub id: i64,
    pub kind: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub heartbeat_at: DateTime<Utc>,
    pub outcome: String,
    pub fetched: i64,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub skipped_invalid: i64,
    pub errors: i64,
    pub progress_done: i64,
    pub progress_total: i64,
    pub message: Option<String>,
    /// [`companion_domain::RunDetails`] as JSON (list runs since migration 0008).
    pub details: Option<String>,
}

impl SyncRun {
    /// The outcome as a typed value (an unknown stored word is corrupt data).
    pub fn outcome(&self) -> crate::Result<RunOutcome> {
        RunOutcome::parse(&self.outcome).ok_or_else(|| crate::DbError::Corrupt {
            column: "sync_runs.outcome",
            detail: self.outcome.clone(),
        })
    }

    /// The run's details, if it recorded any readable ones.
    pub fn details(&self) -> Option<RunDetails> {
        self.details
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
    }
}

macro_rules! insert_api_calls {
    ($db:ty, $conn:expr, $run_id:expr, $calls:expr) => {{
        let calls: &[$crate::sync_runs::ApiCallRecord] = $calls;
        for chunk in calls.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "INSERT INTO api_calls (sync_run_id, endpoint, params, http_status, duration_ms, row_count, error, called_at) ",
            );
            qb.push_values(chunk, |mut b, c| {
                b.push_bind($run_id)
                    .push_bind(c.endpoint.as_str())
                    .push_bind(c.params.as_str())
                    .push_bind(c.http_status)
                    .push_bind(c.duration_ms)
                    .push_bind(c.row_count)
                    .push_bind(c.error.as_deref())
                    .push_bind(c.called_at);
            });
            qb.build().execute($conn).await?;
        }
    }};
}
pub(crate) use insert_api_calls;

macro_rules! insert_skipped_rows {
    ($db:ty, $conn:expr, $run_id:expr, $rows:expr, $now:expr) => {{
        let rows: &[$crate::sync_runs::SkippedRow] = $rows;
        for chunk in rows.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "INSERT INTO sync_skipped_rows (sync_run_id, endpoint, reason, raw, created_at) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind($run_id)
                    .push_bind(r.endpoint.as_str())
                    .push_bind(r.reason.as_str())
                    .push_bind(r.raw.as_str())
                    .push_bind($now);
            });
            qb.build().execute($conn).await?;
        }
    }};
}
pub(crate) use insert_skipped_rows;

/// A run still `running` whose heartbeat is older than this is shown as `interrupted` at once
/// (its process died); the scheduler also closes such runs for good.
pub const STALE_RUN_AFTER: std::time::Duration = std::time::Duration::from_secs(45);
/// How often a live run proves it is alive (well inside [`STALE_RUN_AFTER`]).
pub const RUN_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(10);

/// The columns of a run; `$STALE` is the bind parameter holding the stale threshold.
const RUN_COLUMNS: &str = "id, kind, started_at, finished_at, heartbeat_at, \
     CASE WHEN outcome = 'running' AND heartbeat_at < $STALE THEN 'interrupted' ELSE outcome END AS outcome, \
     fetched, inserted, updated, unchanged, skipped_invalid, errors, progress_done, progress_total, \
     CASE WHEN outcome = 'running' AND heartbeat_at < $STALE THEN 'process stopped before the run finished' ELSE message END AS message, \
     details";

fn run_columns(stale_param: usize) -> String {
    RUN_COLUMNS.replace("$STALE", &format!("${stale_param}"))
}

fn stale_before() -> DateTime<Utc> {
    crate::now() - chrono::Duration::from_std(STALE_RUN_AFTER).unwrap_or_default()
}

impl Database {
    /// Opens a run record in state `running`.
    pub async fn start_run(&self, kind: &str) -> Result<i64> {
        let now = crate::now();
        Ok(on_backend!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO sync_runs (kind, started_at, heartbeat_at, outcome) VALUES ($1, $2, $2, 'running') RETURNING id",
            )
            .bind(kind)
            .bind(now)
            .fetch_one(pool)
            .await?
        }))
    }

    /// Records progress (and proves the run is alive).
    pub async fn run_progress(
        &self,
        run_id: i64,
        summary: &SyncSummary,
        done: i64,
        total: i64,
    ) -> Result<()> {
        let now = crate::now();
        on_backend!(self, pool => {
            sqlx::query(
                "UPDATE sync_runs SET heartbeat_at = $2, fetched = $3, inserted = $4, updated = $5, unchanged = $6, \
                 skipped_invalid = $7, errors = $8, progress_done = $9, progress_total = $10 WHERE id = $1",
            )
            .bind(run_id)
            .bind(now)
            .bind(summary.fetched as i64)
            .bind(summary.inserted as i64)
            .bind(summary.updated as i64)
            .bind(summary.unchanged as i64)
            .bind(summary.skipped_invalid as i64)
            .bind(summary.errors as i64)
            .bind(done)
            .bind(total)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Proves a run is alive without touching its counts (a ticker calls it every
    /// [`RUN_HEARTBEAT`] while the run works, also while a page waits for its retries).
    pub async fn touch_run(&self, run_id: i64) -> Result<()> {
        let now = crate::now();
        on_backend!(self, pool => {
            sqlx::query("UPDATE sync_runs SET heartbeat_at = $2 WHERE id = $1 AND outcome = 'running'")
                .bind(run_id)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Closes a run with its counts, outcome and (list runs) details.
    pub async fn finish_run(
        &self,
        run_id: i64,
        summary: &SyncSummary,
        outcome: RunOutcome,
        message: Option<&str>,
        details: Option<&RunDetails>,
    ) -> Result<()> {
        let now = crate::now();
        let details = details.and_then(|d| serde_json::to_string(d).ok());
        on_backend!(self, pool => {
            sqlx::query(
                "UPDATE sync_runs SET finished_at = $2, heartbeat_at = $2, outcome = $3, message = $4, fetched = $5, \
                 inserted = $6, updated = $7, unchanged = $8, skipped_invalid = $9, errors = $10, details = $11 WHERE id = $1",
            )
            .bind(run_id)
            .bind(now)
            .bind(outcome.as_str())
            .bind(message)
            .bind(summary.fetched as i64)
            .bind(summary.inserted as i64)
            .bind(summary.updated as i64)
            .bind(summary.unchanged as i64)
            .bind(summary.skipped_invalid as i64)
            .bind(summary.errors as i64)
            .bind(details.as_deref())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Marks runs whose process died (no heartbeat since `stale_before`) as `interrupted`, so no
    /// run shows "running" forever.
    pub async fn close_stale_runs(&self, stale_before: DateTime<Utc>) -> Result<u64> {
        let now = crate::now();
        Ok(on_backend!(self, pool => {
            sqlx::query(
                "UPDATE sync_runs SET outcome = 'interrupted', finished_at = $1, \
                 message = 'process stopped before the run finished' \
                 WHERE outcome = 'running' AND heartbeat_at < $2",
            )
            .bind(now)
            .bind(stale_before)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }

    /// Logs API calls and skipped rows outside a page transaction (failed pages, end of run).
    pub async fn record_calls(
        &self,
        run_id: Option<i64>,
        calls: &[ApiCallRecord],
        skipped: &[SkippedRow],
    ) -> Result<()> {
        if calls.is_empty() && skipped.is_empty() {
            return Ok(());
        }
        let now = crate::now();
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            insert_api_calls!(DB, &mut *tx, run_id, calls);
            insert_skipped_rows!(DB, &mut *tx, run_id, skipped, now);
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn list_runs(&self, limit: i64) -> Result<Vec<SyncRun>> {
        let sql = format!(
            "SELECT {} FROM sync_runs ORDER BY id DESC LIMIT $1",
            run_columns(2)
        );
        let stale = stale_before();
        Ok(
            on_backend!(self, pool => sqlx::query_as(&sql).bind(limit).bind(stale).fetch_all(pool).await?),
        )
    }

    pub async fn get_run(&self, id: i64) -> Result<Option<SyncRun>> {
        let sql = format!("SELECT {} FROM sync_runs WHERE id = $1", run_columns(2));
        let stale = stale_before();
        Ok(
            on_backend!(self, pool => sqlx::query_as(&sql).bind(id).bind(stale).fetch_optional(pool).await?),
        )
    }

    /// The newest run of `kind` that ended with `outcome` (e.g. the last complete full sync).
    pub async fn last_run_with(&self, kind: &str, outcome: RunOutcome) -> Result<Option<SyncRun>> {
        let sql = format!(
            "SELECT {} FROM sync_runs WHERE kind = $1 AND outcome = $2 ORDER BY id DESC LIMIT 1",
            run_columns(3)
        );
        let stale = stale_before();
        Ok(on_backend!(self, pool => {
            sqlx::query_as(&sql)
                .bind(kind)
                .bind(outcome.as_str())
                .bind(stale)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// The newest `limit` runs of `kind`, newest first (a running one included).
    pub async fn newest_runs_of(&self, kind: &str, limit: i64) -> Result<Vec<SyncRun>> {
        let sql = format!(
            "SELECT {} FROM sync_runs WHERE kind = $1 ORDER BY id DESC LIMIT $2",
            run_columns(3)
        );
        let stale = stale_before();
        Ok(on_backend!(self, pool => {
            sqlx::query_as(&sql)
                .bind(kind)
                .bind(limit)
                .bind(stale)
                .fetch_all(pool)
                .await?
        }))
    }

    /// The newest API calls, optionally of one run.
    pub async fn list_calls(&self, run_id: Option<i64>, limit: i64) -> Result<Vec<ApiCallRecord>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT endpoint, params, http_status, duration_ms, row_count, error, called_at FROM api_calls \
                 WHERE ($1 IS NULL OR sync_run_id = $1) ORDER BY id DESC LIMIT $2",
            )
            .bind(run_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Number of logged calls per endpoint (for tests and statistics).
    pub async fn count_calls(&self, endpoint: &str, params: Option<&str>) -> Result<i64> {
        Ok(on_backend!(self, pool => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM api_calls WHERE endpoint = $1 AND ($2 IS NULL OR params = $2)",
            )
            .bind(endpoint)
            .bind(params)
            .fetch_one(pool)
            .await?
        }))
    }

    /// Row count of one of the application's tables (for statistics and tests).
    pub async fn table_count(&self, table: &str) -> Result<i64> {
        const TABLES: &[&str] = &[
            "permits",
            "permit_status_history",
            "permit_types",
            "domain_events",
            "sync_runs",
            "api_calls",
            "sync_skipped_rows",
        ];
        if !TABLES.contains(&table) {
            return Err(crate::DbError::Corrupt {
                column: "table_count",
                detail: format!("unknown table {table}"),
            });
        }
        let sql = format!("SELECT COUNT(*) FROM {table}");
        Ok(on_backend!(self, pool => sqlx::query_scalar(&sql).fetch_one(pool).await?))
    }

    pub async fn list_skipped_rows(
        &self,
        run_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<SkippedRow>> {
        let rows: Vec<(String, String, String)> = on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT endpoint, reason, raw FROM sync_skipped_rows \
                 WHERE ($1 IS NULL OR sync_run_id = $1) ORDER BY id DESC LIMIT $2",
            )
            .bind(run_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(endpoint, reason, raw)| SkippedRow {
                endpoint,
                reason,
                raw,
            })
            .collect())
    }
}
