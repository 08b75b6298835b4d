//! The public verification log and the look-up of a case by its verification id.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::signing::SigningCase;
use crate::{Database, Result, on_backend};

/// One public check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct VerificationEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub method: String,
    pub result: String,
    pub reason: Option<String>,
    pub verification_id: Option<String>,
    pub device: String,
    pub region: Option<String>,
    /// How many identical checks this row stands for (same second, client, result…).
    pub checks: i64,
}

/// What a check records.
#[derive(Debug, Clone, Default)]
pub struct NewVerification {
    /// When it happened (now when `None`).
    pub at: Option<DateTime<Utc>>,
    /// `qr`, `code` or `upload` (fixed words: no allocation per check).
    pub method: &'static str,
    pub result: &'static str,
    pub reason: Option<String>,
    pub verification_id: Option<String>,
    pub client_ip: Option<String>,
    pub device: &'static str,
    pub region: Option<String>,
    /// Identical checks this entry stands for (0 counts as 1).
    pub checks: i64,
}

impl Database {
    /// The case whose QR points to `/v/<verification_id>`.
    pub async fn signing_case_by_verification_id(
        &self,
        verification_id: &str,
    ) -> Result<Option<SigningCase>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!(
                "SELECT {} FROM signing_cases WHERE verification_id = $1",
                crate::signing::COLUMNS
            ))
            .bind(verification_id)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Several checks in one statement (the portal's log writer batches them).
    pub async fn log_verifications(&self, entries: &[NewVerification]) -> Result<()> {
        // 8 values per row; SQLite allows 32,766 bound values per statement.
        for chunk in entries.chunks(1000) {
            on_backend!(self, pool => {
                let mut qb = sqlx::QueryBuilder::<DB>::new(
                    "INSERT INTO verification_log (at, method, result, reason, verification_id, client_ip, device, region, checks) ",
                );
                qb.push_values(chunk, |mut row, v| {
                    row.push_bind(v.at.unwrap_or_else(crate::now))
                        .push_bind(v.method)
                        .push_bind(v.result)
                        .push_bind(v.reason.clone())
                        .push_bind(v.verification_id.clone())
                        .push_bind(v.client_ip.clone())
                        .push_bind(v.device)
                        .push_bind(v.region.clone())
                        .push_bind(v.checks.max(1));
                });
                qb.build().execute(pool).await?;
            });
        }
        Ok(())
    }

    /// The newest checks first.
    pub async fn recent_verifications(&self, limit: i64) -> Result<Vec<VerificationEntry>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(
                "SELECT id, at, method, result, reason, verification_id, device, region, checks \
                 FROM verification_log ORDER BY id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Checks per result since `since`.
    pub async fn verification_counts(
        &self,
        since: DateTime<Utc>,
    ) -> Result<std::collections::BTreeMap<String, i64>> {
        let rows: Vec<(String, i64)> = on_backend!(self, pool => {
            sqlx::query_as("SELECT result, CAST(SUM(checks) AS BIGINT) FROM verification_log WHERE at >= $1 GROUP BY result")
                .bind(since)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().collect())
    }

    /// Clears client addresses older than `before` (privacy retention); returns how many.
    pub async fn forget_verification_addresses(&self, before: DateTime<Utc>) -> Result<u64> {
        Ok(on_backend!(self, pool => {
            sqlx::query("UPDATE verification_log SET client_ip = NULL WHERE client_ip IS NOT NULL AND at < $1")
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}

/// Counts for the staff's statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct VerificationStats {
    /// (day in the office's zone `YYYY-MM-DD`, result, count), oldest first.
    pub per_day: Vec<(String, String, i64)>,
    /// (method, result, count).
    pub by_method: Vec<(String, String, i64)>,
    /// The most frequent reasons of checks that did not pass: (reason, count).
    pub top_reasons: Vec<(String, i64)>,
    /// (region or "tidak diketahui", count).
    pub by_region: Vec<(String, i64)>,
    /// (device class, count).
    pub by_device: Vec<(String, i64)>,
}

impl Database {
    /// Statistics of the checks since `since`; days are counted `offset_secs` east of UTC.
    pub async fn verification_stats(
        &self,
        since: DateTime<Utc>,
        offset_secs: i32,
    ) -> Result<VerificationStats> {
        let per_day: Vec<(String, String, i64)> = match &self.backend {
            crate::Backend::Sqlite(pool) => {
                sqlx::query_as(
                    "SELECT substr(datetime(at, $2 || ' seconds'), 1, 10) AS d, result, CAST(SUM(checks) AS BIGINT) \
                     FROM verification_log WHERE at >= $1 GROUP BY d, result ORDER BY d, result",
                )
                .bind(since)
                .bind(format!("{offset_secs:+}"))
                .fetch_all(pool)
                .await?
            }
            crate::Backend::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT to_char((at AT TIME ZONE 'UTC') + make_interval(secs => $2), 'YYYY-MM-DD') AS d, \
                     result, CAST(SUM(checks) AS BIGINT) FROM verification_log WHERE at >= $1 GROUP BY d, result ORDER BY d, result",
                )
                .bind(since)
                .bind(f64::from(offset_secs))
                .fetch_all(pool)
                .await?
            }
        };
        let (by_method, top_reasons, by_region, by_device) = on_backend!(self, pool => {
            let by_method: Vec<(String, String, i64)> = sqlx::query_as(
                "SELECT method, result, CAST(SUM(checks) AS BIGINT) FROM verification_log WHERE at >= $1 \
                 GROUP BY method, result ORDER BY method, result",
            )
            .bind(since)
            .fetch_all(pool)
            .await?;
            let top_reasons: Vec<(String, i64)> = sqlx::query_as(
                "SELECT reason, CAST(SUM(checks) AS BIGINT) AS n FROM verification_log WHERE at >= $1 AND result <> 'asli' \
                 AND reason IS NOT NULL GROUP BY reason ORDER BY n DESC, reason LIMIT 10",
            )
            .bind(since)
            .fetch_all(pool)
            .await?;
            let by_region: Vec<(String, i64)> = sqlx::query_as(
                "SELECT COALESCE(region, 'tidak diketahui') AS r, CAST(SUM(checks) AS BIGINT) AS n FROM verification_log \
                 WHERE at >= $1 GROUP BY r ORDER BY n DESC, r LIMIT 20",
            )
            .bind(since)
            .fetch_all(pool)
            .await?;
            let by_device: Vec<(String, i64)> = sqlx::query_as(
                "SELECT device, CAST(SUM(checks) AS BIGINT) AS n FROM verification_log WHERE at >= $1 \
                 GROUP BY device ORDER BY n DESC, device",
            )
            .bind(since)
            .fetch_all(pool)
            .await?;
            (by_method, top_reasons, by_region, by_device)
        });
        Ok(VerificationStats {
            per_day,
            by_method,
            top_reasons,
            by_region,
            by_device,
        })
    }

    /// Every check since `since`, oldest first, for the CSV export (no client addresses).
    pub async fn verifications_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<VerificationEntry>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(
                "SELECT id, at, method, result, reason, verification_id, device, region, checks \
                 FROM verification_log WHERE at >= $1 ORDER BY id LIMIT 1000000",
            )
            .bind(since)
            .fetch_all(pool)
            .await?)
        })
    }
}

/// A signed file the office issued, found by its bytes: the case it belongs to and its
/// permit's validity (what the portal's upload and `verify` judge the file's record by).
#[derive(Debug, Clone)]
pub struct IssuedDocument {
    pub case: SigningCase,
    pub expiry: Option<chrono::NaiveDate>,
}

impl Database {
    /// The case whose signed file has exactly these bytes (SHA-256, lower-case hex), if any.
    pub async fn issued_document(&self, sha256: &str) -> Result<Option<IssuedDocument>> {
        let Some(doc) = self.document_by_sha256(sha256).await?.filter(|d| {
            companion_domain::DocumentKind::parse(&d.kind)
                == Some(companion_domain::DocumentKind::Signed)
        }) else {
            return Ok(None);
        };
        // The case's signed file, or an earlier version of it that an archive renewal extended
        // (a copy downloaded before the renewal is the same letter).
        let renewed_for = self.case_of_renewed_document(doc.id).await?;
        let case = self
            .signing_cases_for_permit(&doc.pendaftaran_id)
            .await?
            .into_iter()
            .find(|c| c.signed_document_id == Some(doc.id) || renewed_for == Some(c.id));
        let Some(case) = case else {
            return Ok(None);
        };
        let expiry = self
            .get_permit(&case.pendaftaran_id)
            .await?
            .and_then(|p| p.expiry_date);
        Ok(Some(IssuedDocument { case, expiry }))
    }
}
