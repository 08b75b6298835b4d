//! Durable signing jobs. A batch holds items (one per case) that move queued → signing →
//! signed | failed | attention. Every move is a conditional update, and a case can be in only one
//! unfinished item (a partial unique index), so no two workers or batches ever sign it twice.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{Database, Result, on_backend};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SigningBatch {
    pub id: i64,
    pub official_user_id: Option<i64>,
    /// The official's username: only they may resume the batch (BSrE signs with their NIK).
    pub official: String,
    /// `running`, `paused` (waits for the official's passphrase) or `finished`.
    pub state: String,
    pub total: i64,
    /// Why the batch paused, in Bahasa Indonesia.
    pub note: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub queued: i64,
    pub signing: i64,
    pub signed: i64,
    pub failed: i64,
    pub attention: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct BatchItem {
    pub id: i64,
    pub batch_id: i64,
    pub case_id: i64,
    pub pendaftaran_id: String,
    pub position: i64,
    /// `queued`, `signing`, `signed`, `failed` or `attention` (outcome unknown: a person decides).
    pub state: String,
    pub error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

const BATCH_COLUMNS: &str = "b.id, b.official_user_id, b.official, b.state, b.total, b.note, b.lease_until, \
     b.created_at, b.updated_at, \
     (SELECT COUNT(*) FROM signing_batch_items i WHERE i.batch_id = b.id AND i.state = 'queued') AS queued, \
     (SELECT COUNT(*) FROM signing_batch_items i WHERE i.batch_id = b.id AND i.state = 'signing') AS signing, \
     (SELECT COUNT(*) FROM signing_batch_items i WHERE i.batch_id = b.id AND i.state = 'signed') AS signed, \
     (SELECT COUNT(*) FROM signing_batch_items i WHERE i.batch_id = b.id AND i.state = 'failed') AS failed, \
     (SELECT COUNT(*) FROM signing_batch_items i WHERE i.batch_id = b.id AND i.state = 'attention') AS attention";

const ITEM_SELECT: &str = "SELECT i.id, i.batch_id, i.case_id, c.pendaftaran_id, i.position, i.state, \
     i.error, i.started_at, i.finished_at \
     FROM signing_batch_items i JOIN signing_cases c ON c.id = i.case_id";

impl Database {
    /// A running batch for `case_ids` (in that order) leased until `lease_until`. Cases already
    /// in another unfinished job are left out; `None` if none is left.
    pub async fn create_signing_batch(
        &self,
        official_user_id: Option<i64>,
        official: &str,
        case_ids: &[i64],
        lease_until: DateTime<Utc>,
    ) -> Result<Option<SigningBatch>> {
        let now = crate::now();
        let id: i64 = on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO signing_batches (official_user_id, official, state, lease_until, created_at, updated_at) \
                 VALUES ($1, $2, 'running', $3, $4, $4) RETURNING id",
            )
            .bind(official_user_id)
            .bind(official)
            .bind(lease_until)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let mut added = 0i64;
            for (position, case_id) in case_ids.iter().enumerate() {
                added += sqlx::query(
                    "INSERT INTO signing_batch_items (batch_id, case_id, position, state) \
                     VALUES ($1, $2, $3, 'queued') ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(*case_id)
                .bind(position as i64)
                .execute(&mut *tx)
                .await?
                .rows_affected() as i64;
            }
            if added == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            sqlx::query("UPDATE signing_batches SET total = $1 WHERE id = $2")
                .bind(added)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            id
        });
        self.get_signing_batch(id).await
    }

    pub async fn get_signing_batch(&self, id: i64) -> Result<Option<SigningBatch>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!("SELECT {BATCH_COLUMNS} FROM signing_batches b WHERE b.id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// The newest batches first.
    pub async fn recent_signing_batches(&self, limit: i64) -> Result<Vec<SigningBatch>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!(
                "SELECT {BATCH_COLUMNS} FROM signing_batches b ORDER BY b.id DESC LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    pub async fn signing_batch_items(&self, batch_id: i64) -> Result<Vec<BatchItem>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!(
                "{ITEM_SELECT} \
                 WHERE i.batch_id = $1 ORDER BY i.position"
            ))
            .bind(batch_id)
            .fetch_all(pool)
            .await?)
        })
    }

    pub async fn get_batch_item(&self, id: i64) -> Result<Option<BatchItem>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!(
                "{ITEM_SELECT} \
                 WHERE i.id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Items in `state` across all batches, oldest start first (stall alarms, attention lists).
    pub async fn batch_items_in(&self, state: &str, limit: i64) -> Result<Vec<BatchItem>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!(
                "{ITEM_SELECT} \
                 WHERE i.state = $1 ORDER BY i.started_at, i.id LIMIT $2"
            ))
            .bind(state)
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Takes the batch's next queued item (queued → signing); `None` when the queue is empty.
    pub async fn claim_batch_item(&self, batch_id: i64) -> Result<Option<BatchItem>> {
        loop {
            let next: Option<(i64,)> = on_backend!(self, pool => {
                sqlx::query_as(
                    "SELECT id FROM signing_batch_items WHERE batch_id = $1 AND state = 'queued' \
                     ORDER BY position LIMIT 1",
                )
                .bind(batch_id)
                .fetch_optional(pool)
                .await?
            });
            let Some((id,)) = next else { return Ok(None) };
            if self.move_batch_item(id, "queued", "signing", None).await? {
                return self.get_batch_item(id).await;
            }
        }
    }

    /// Moves an item `from` → `to` (conditional); `false` if it was no longer in `from`.
    pub async fn move_batch_item(
        &self,
        id: i64,
        from: &str,
        to: &str,
        error: Option<&str>,
    ) -> Result<bool> {
        let now = crate::now();
        let (started, finished) = match to {
            "signing" => (Some(now), None),
            "signed" | "failed" | "attention" => (None, Some(now)),
            _ => (None, None),
        };
        let moved = on_backend!(self, pool => {
            sqlx::query(
                "UPDATE signing_batch_items SET state = $1, error = $2, \
                 started_at = COALESCE($3, started_at), finished_at = $4 \
                 WHERE id = $5 AND state = $6",
            )
            .bind(to)
            .bind(error)
            .bind(started)
            .bind(finished)
            .bind(id)
            .bind(from)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(moved == 1)
    }

    /// Moves a batch `from` → `to` with a note and a new lease (conditional).
    pub async fn move_signing_batch(
        &self,
        id: i64,
        from: &str,
        to: &str,
        note: Option<&str>,
        lease_until: Option<DateTime<Utc>>,
    ) -> Result<bool> {
        let now = crate::now();
        let moved = on_backend!(self, pool => {
            sqlx::query(
                "UPDATE signing_batches SET state = $1, note = $2, lease_until = $3, updated_at = $4 \
                 WHERE id = $5 AND state = $6",
            )
            .bind(to)
            .bind(note)
            .bind(lease_until)
            .bind(now)
            .bind(id)
            .bind(from)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(moved == 1)
    }

    /// The worker's heartbeat: extends a running batch's lease.
    pub async fn renew_signing_batch(&self, id: i64, lease_until: DateTime<Utc>) -> Result<bool> {
        let moved = on_backend!(self, pool => {
            sqlx::query("UPDATE signing_batches SET lease_until = $1 WHERE id = $2 AND state = 'running'")
                .bind(lease_until)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(moved == 1)
    }

    /// Running batches whose worker stopped renewing the lease before `now`.
    pub async fn orphaned_signing_batches(&self, now: DateTime<Utc>) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT id FROM signing_batches WHERE state = 'running' AND (lease_until IS NULL OR lease_until < $1)",
            )
            .bind(now)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Stores the official's NIK for BSrE (`None` clears it). `false` if there is no such user.
    pub async fn set_user_nik(&self, username: &str, nik: Option<&str>) -> Result<bool> {
        let changed = on_backend!(self, pool => {
            sqlx::query("UPDATE users SET nik = $1 WHERE username = $2")
                .bind(nik)
                .bind(username)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(changed == 1)
    }

    pub async fn user_nik(&self, user_id: i64) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> = on_backend!(self, pool => {
            sqlx::query_as("SELECT nik FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.and_then(|(n,)| n))
    }

    /// Signed documents of a permit stored at or after `since` that no case points to: what a
    /// worker stored just before it died, to adopt instead of signing again.
    pub async fn unclaimed_signed_documents(
        &self,
        pendaftaran_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT d.id FROM documents d WHERE d.pendaftaran_id = $1 AND d.kind = 'signed' \
                 AND d.created_at >= $2 \
                 AND NOT EXISTS (SELECT 1 FROM signing_cases c WHERE c.signed_document_id = d.id) \
                 AND NOT EXISTS (SELECT 1 FROM archive_renewals r WHERE r.from_document_id = d.id) \
                 ORDER BY d.id",
            )
            .bind(pendaftaran_id)
            .bind(since)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}
