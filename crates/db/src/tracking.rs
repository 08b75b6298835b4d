//! The tracking cache (migration 0019, issue 24): per permit, the last good answer of SICANTIK's
//! tracking endpoint with its time, so `/lacak` shows the last known state when SICANTIK is down.

use chrono::{DateTime, Utc};
use companion_domain::tracking::SicantikStep;

use crate::{Database, DbError, Result, on_backend};

/// The last good tracking answer of one permit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingCache {
    pub pendaftaran_id: String,
    pub permit_type_name: Option<String>,
    /// The only part of the applicant's phone kept: what the digits check compares.
    pub phone_last4: Option<String>,
    pub steps: Vec<SicantikStep>,
    pub fetched_at: DateTime<Utc>,
    /// When a chain first showed the permit collected.
    pub collected_at: Option<DateTime<Utc>>,
}

type Row = (
    String,
    Option<String>,
    Option<String>,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

impl Database {
    /// Stores a good answer; `collected_at` keeps its first value once set.
    pub async fn save_tracking(
        &self,
        pendaftaran_id: &str,
        permit_type_name: Option<&str>,
        phone_last4: Option<&str>,
        steps: &[SicantikStep],
        fetched_at: DateTime<Utc>,
        collected: bool,
    ) -> Result<()> {
        let steps = crate::to_json(&steps);
        let at = crate::truncate_micros(fetched_at);
        let collected_at = collected.then_some(at);
        on_backend!(self, pool => {
            sqlx::query(
                "INSERT INTO tracking_cache (pendaftaran_id, permit_type_name, phone_last4, steps, fetched_at, collected_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (pendaftaran_id) DO UPDATE SET \
                 permit_type_name = excluded.permit_type_name, phone_last4 = excluded.phone_last4, \
                 steps = excluded.steps, fetched_at = excluded.fetched_at, \
                 collected_at = COALESCE(tracking_cache.collected_at, excluded.collected_at)",
            )
            .bind(pendaftaran_id)
            .bind(permit_type_name)
            .bind(phone_last4)
            .bind(&steps)
            .bind(at)
            .bind(collected_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Issued permits whose collection is not known yet and whose applicant has a number at the
    /// office (the survey invites them once collected): not looked up at all, or not since
    /// `asked_before`; never one already invited. Least recently asked first.
    pub async fn tracking_collection_due(
        &self,
        asked_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<String>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_scalar(
                "SELECT p.pendaftaran_id FROM permits p \
                 LEFT JOIN tracking_cache t ON t.pendaftaran_id = p.pendaftaran_id \
                 WHERE p.status = 'issued' \
                 AND (t.pendaftaran_id IS NULL OR (t.collected_at IS NULL AND t.fetched_at < $1)) \
                 AND EXISTS (SELECT 1 FROM permit_contacts c WHERE c.pendaftaran_id = p.pendaftaran_id) \
                 AND NOT EXISTS (SELECT 1 FROM survey_invitations i WHERE i.pendaftaran_id = p.pendaftaran_id) \
                 ORDER BY CASE WHEN t.fetched_at IS NULL THEN 0 ELSE 1 END, t.fetched_at, p.pendaftaran_id LIMIT $2",
            )
            .bind(crate::truncate_micros(asked_before))
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The last good answer for a permit, if SICANTIK ever gave one.
    pub async fn tracking_cache(&self, pendaftaran_id: &str) -> Result<Option<TrackingCache>> {
        let row: Option<Row> = on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT pendaftaran_id, permit_type_name, phone_last4, steps, fetched_at, collected_at \
                 FROM tracking_cache WHERE pendaftaran_id = $1",
            )
            .bind(pendaftaran_id)
            .fetch_optional(pool)
            .await?
        });
        row.map(
            |(pendaftaran_id, permit_type_name, phone_last4, steps, fetched_at, collected_at)| {
                let steps = serde_json::from_str(&steps).map_err(|e| DbError::Corrupt {
                    column: "tracking_cache.steps",
                    detail: e.to_string(),
                })?;
                Ok(TrackingCache {
                    pendaftaran_id,
                    permit_type_name,
                    phone_last4,
                    steps,
                    fetched_at,
                    collected_at,
                })
            },
        )
        .transpose()
    }
}
