//! Aggregates for the staff dashboard, computed in the database (one round trip each).

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::{Backend, Database, Result, StatusCounts, on_backend};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MonthCount {
    /// `YYYY-MM`.
    pub month: String,
    pub count: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExpiryBuckets {
    /// Issued permits whose expiry date is already past.
    pub expired: i64,
    /// Expiring between today and today + 30 days (inclusive); 60 and 90 include the shorter.
    pub within_30: i64,
    pub within_60: i64,
    pub within_90: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TypeCount {
    pub name: String,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Dashboard {
    pub issued: i64,
    pub in_process: i64,
    /// Permit types known here (SICANTIK's master list plus names seen on permits).
    pub permit_types_known: i64,
    /// SICANTIK's own `jumlahPerizinan`, when it has been fetched.
    pub sicantik_jumlah_perizinan: Option<String>,
    /// Issued per month for the last 12 months (oldest first, months without permits as 0).
    pub issued_per_month: Vec<MonthCount>,
    pub top_types: Vec<TypeCount>,
    pub expiring: ExpiryBuckets,
    /// Issued permits by expiry lookup status (`found`, `unknown`, `not_registered`, …).
    pub expiry_status: std::collections::BTreeMap<String, i64>,
    /// Issued permits whose PDF is not in the document store yet ("PDF belum diunggah").
    pub waiting_for_pdf: i64,
    /// Files stored (all versions).
    pub documents: i64,
}

/// The 12 months ending with `today`'s, as `YYYY-MM`.
pub fn last_12_months(today: NaiveDate) -> Vec<String> {
    let mut y = today.year();
    let mut m = today.month() as i32;
    let mut out = Vec::with_capacity(12);
    for _ in 0..12 {
        out.push(format!("{y:04}-{m:02}"));
        m -= 1;
        if m == 0 {
            m = 12;
            y -= 1;
        }
    }
    out.reverse();
    out
}

impl Database {
    pub async fn dashboard(&self, today: NaiveDate) -> Result<Dashboard> {
        let StatusCounts { issued, in_process } = self.status_counts().await?;
        let months = last_12_months(today);
        let first =
            NaiveDate::parse_from_str(&format!("{}-01", months[0]), "%Y-%m-%d").unwrap_or(today);
        let per_month: Vec<(String, i64)> = match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query_as(
                    "SELECT substr(issue_date, 1, 7) AS m, COUNT(*) FROM permits \
                 WHERE status = 'issued' AND issue_date >= $1 GROUP BY m",
                )
                .bind(first)
                .fetch_all(pool)
                .await?
            }
            Backend::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT to_char(issue_date, 'YYYY-MM') AS m, COUNT(*) FROM permits \
                 WHERE status = 'issued' AND issue_date >= $1 GROUP BY m",
                )
                .bind(first)
                .fetch_all(pool)
                .await?
            }
        };
        let per_month: std::collections::HashMap<String, i64> = per_month.into_iter().collect();
        let issued_per_month = months
            .into_iter()
            .map(|month| MonthCount {
                count: per_month.get(&month).copied().unwrap_or(0),
                month,
            })
            .collect();

        let (top_types, expiring, expiry_status) = on_backend!(self, pool => {
            let top: Vec<(String, i64)> = sqlx::query_as(
                "SELECT permit_type_name, COUNT(*) AS n FROM permits WHERE permit_type_name IS NOT NULL \
                 GROUP BY permit_type_name ORDER BY n DESC, permit_type_name LIMIT 10",
            )
            .fetch_all(pool)
            .await?;
            let day = |d: i64| today + chrono::Duration::days(d);
            let b: (i64, i64, i64, i64) = sqlx::query_as(
                "SELECT \
                   COALESCE(SUM(CASE WHEN expiry_date < $1 THEN 1 ELSE 0 END), 0), \
                   COALESCE(SUM(CASE WHEN expiry_date >= $1 AND expiry_date <= $2 THEN 1 ELSE 0 END), 0), \
                   COALESCE(SUM(CASE WHEN expiry_date >= $1 AND expiry_date <= $3 THEN 1 ELSE 0 END), 0), \
                   COALESCE(SUM(CASE WHEN expiry_date >= $1 AND expiry_date <= $4 THEN 1 ELSE 0 END), 0) \
                 FROM permits WHERE status = 'issued' AND expiry_date IS NOT NULL",
            )
            .bind(today)
            .bind(day(30))
            .bind(day(60))
            .bind(day(90))
            .fetch_one(pool)
            .await?;
            let st: Vec<(String, i64)> = sqlx::query_as(
                "SELECT expiry_status, COUNT(*) FROM permits WHERE status = 'issued' GROUP BY expiry_status",
            )
            .fetch_all(pool)
            .await?;
            (top, b, st)
        });
        let permit_types_known = self.types_with_counts().await?.len() as i64;
        let sicantik_jumlah_perizinan = self
            .get_kv("sicantik.jumlah_perizinan")
            .await?
            .map(|(v, _)| v);
        Ok(Dashboard {
            issued,
            in_process,
            permit_types_known,
            sicantik_jumlah_perizinan,
            issued_per_month,
            top_types: top_types
                .into_iter()
                .map(|(name, count)| TypeCount { name, count })
                .collect(),
            expiring: ExpiryBuckets {
                expired: expiring.0,
                within_30: expiring.1,
                within_60: expiring.2,
                within_90: expiring.3,
            },
            expiry_status: expiry_status.into_iter().collect(),
            waiting_for_pdf: self.permits_waiting_for_pdf().await?,
            documents: self.document_count().await?,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn twelve_months_cross_the_year() {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 2, 10).expect("date");
        let m = super::last_12_months(d);
        assert_eq!(m.len(), 12);
        assert_eq!(m[0], "2025-03");
        assert_eq!(m[11], "2026-02");
    }
}
