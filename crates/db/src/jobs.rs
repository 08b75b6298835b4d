//! Job leases: one runner per scheduled job across every instance on the same database. A lease
//! expires on its own, so a killed instance never blocks a job for longer than the lease time.

use chrono::{DateTime, Duration, Utc};

use crate::{Database, Result, on_backend};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Lease {
    pub job: String,
    pub holder: String,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Database {
    /// Takes the lease on `job` for `ttl` if it is free, expired, or already ours. Returns whether
    /// `holder` now holds it. Atomic on both backends (a conditional upsert).
    pub async fn try_acquire_lease(&self, job: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let now = crate::now();
        let expires = now + ttl;
        let got: Option<String> = on_backend!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO job_leases (job, holder, acquired_at, expires_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, acquired_at = excluded.acquired_at, \
                 expires_at = excluded.expires_at \
                 WHERE job_leases.expires_at < $3 OR job_leases.holder = $2 \
                 RETURNING holder",
            )
            .bind(job)
            .bind(holder)
            .bind(now)
            .bind(expires)
            .fetch_optional(pool)
            .await?
        });
        Ok(got.as_deref() == Some(holder))
    }

    /// Marks `period` of a scheduled job as run; false when some instance already ran that
    /// period (so each scheduled job runs once per period across every instance).
    pub async fn claim_period(&self, job: &str, period: &str) -> Result<bool> {
        let key = format!("period:{job}");
        let got: Option<String> = on_backend!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO kv (key, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at \
                 WHERE kv.value <> excluded.value RETURNING key",
            )
            .bind(&key)
            .bind(period)
            .bind(crate::now())
            .fetch_optional(pool)
            .await?
        });
        Ok(got.is_some())
    }

    /// Extends a lease we hold; false if it was lost (expired and taken by another holder).
    pub async fn renew_lease(&self, job: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let expires = crate::now() + ttl;
        let n = on_backend!(self, pool => {
            sqlx::query("UPDATE job_leases SET expires_at = $3 WHERE job = $1 AND holder = $2")
                .bind(job)
                .bind(holder)
                .bind(expires)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// Takes over a lease from `old_holder` (known to be dead), only if it still holds it.
    pub async fn steal_lease(
        &self,
        job: &str,
        old_holder: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let now = crate::now();
        let n = on_backend!(self, pool => {
            sqlx::query("UPDATE job_leases SET holder = $3, acquired_at = $4, expires_at = $5 WHERE job = $1 AND holder = $2")
                .bind(job)
                .bind(old_holder)
                .bind(holder)
                .bind(now)
                .bind(now + ttl)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    pub async fn release_lease(&self, job: &str, holder: &str) -> Result<()> {
        on_backend!(self, pool => {
            sqlx::query("DELETE FROM job_leases WHERE job = $1 AND holder = $2")
                .bind(job)
                .bind(holder)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn get_lease(&self, job: &str) -> Result<Option<Lease>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as("SELECT job, holder, acquired_at, expires_at FROM job_leases WHERE job = $1")
                .bind(job)
                .fetch_optional(pool)
                .await?
        }))
    }
}
