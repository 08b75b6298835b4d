//! A second id a provider names one of our messages by (see migration 0013): Fonnte's later
//! delivered/read updates carry only the `stateid` its first update paired with the message id.
//! A receipt naming an alias not yet known is kept in `wa_receipts` under
//! [`alias_receipt_key`] and moved to the message's provider id when the alias arrives.

use chrono::{DateTime, Utc};

use crate::{Database, Result, on_backend};

/// The `wa_receipts` key of a receipt that names a message only by an alias not yet recorded.
pub fn alias_receipt_key(provider: &str, alias: &str) -> String {
    format!("alias:{provider}:{alias}")
}

impl Database {
    /// Records that `provider` names message `provider_id` also by `alias` (the first pairing
    /// stays). Returns the receipts that arrived under the alias before it was known, now moved
    /// to the message's provider id: (status, at), to be applied by the caller.
    pub async fn record_provider_alias(
        &self,
        provider: &str,
        alias: &str,
        provider_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>> {
        let key = alias_receipt_key(provider, alias);
        let early: Vec<(String, DateTime<Utc>)> = on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO wa_provider_aliases (provider, alias, provider_id, recorded_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (provider, alias) DO NOTHING",
            )
            .bind(provider)
            .bind(alias)
            .bind(provider_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let early: Vec<(String, DateTime<Utc>)> =
                sqlx::query_as("SELECT status, at FROM wa_receipts WHERE provider_id = $1")
                    .bind(&key)
                    .fetch_all(&mut *tx)
                    .await?;
            sqlx::query("DELETE FROM wa_receipts WHERE provider_id = $1")
                .bind(&key)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            early
        });
        Ok(early)
    }

    /// The provider id `provider` paired with `alias`, if it did.
    pub async fn provider_alias(&self, provider: &str, alias: &str) -> Result<Option<String>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_scalar(
                "SELECT provider_id FROM wa_provider_aliases WHERE provider = $1 AND alias = $2",
            )
            .bind(provider)
            .bind(alias)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Forgets aliases recorded before `before` (their messages' receipts are long settled).
    pub async fn prune_provider_aliases(&self, before: DateTime<Utc>) -> Result<u64> {
        Ok(on_backend!(self, pool => {
            sqlx::query("DELETE FROM wa_provider_aliases WHERE recorded_at < $1")
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}
