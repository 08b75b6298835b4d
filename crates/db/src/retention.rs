//! The retention policy applied to the logs: the SICANTIK call log, the WhatsApp messages and
//! receipts, settled `DAFTAR` requests and the portal's client addresses. The audit trail, the
//! consent log (the proof of each opt-in) and the documents are never touched here.

use companion_domain::retention::{RetentionCutoffs, RetentionReport};

use crate::{Backend, Database, Result, on_backend};

/// States after which a message no longer changes (receipts only move it forward from `sent`).
const FINISHED: &str = "('sent','delivered','read','failed','cancelled','skipped')";

impl Database {
    /// Removes (or, for WhatsApp messages, strips) what is older than each cut-off. Idempotent;
    /// safe to run on several instances at once.
    pub async fn apply_retention(&self, cutoffs: &RetentionCutoffs) -> Result<RetentionReport> {
        let mut report = RetentionReport::default();
        if let Some(before) = cutoffs.sicantik_calls {
            report.sicantik_calls_deleted = on_backend!(self, pool => {
                sqlx::query("DELETE FROM api_calls WHERE called_at < $1")
                    .bind(before)
                    .execute(pool)
                    .await?
                    .rows_affected()
            });
        }
        if let Some(before) = cutoffs.whatsapp {
            // The text and parameters go; the number keeps its last three digits (the same rule
            // as `retention::masked_phone`); event, audience, state and times stay for statistics.
            let strip = format!(
                "UPDATE wa_messages SET body = '', parameters = '[]', phone = {mask}, updated_at = $2 \
                 WHERE created_at < $1 AND state IN {FINISHED} AND (body <> '' OR phone NOT LIKE '***%')",
                mask = match &self.backend {
                    Backend::Sqlite(_) => "'***' || substr(phone, -3)",
                    Backend::Postgres(_) => "'***' || right(phone, 3)",
                }
            );
            let now = crate::now();
            report.whatsapp_messages_redacted = on_backend!(self, pool => {
                sqlx::query(&strip).bind(before).bind(now).execute(pool).await?.rows_affected()
            });
            report.whatsapp_receipts_deleted = on_backend!(self, pool => {
                sqlx::query("DELETE FROM wa_receipts WHERE at < $1")
                    .bind(before)
                    .execute(pool)
                    .await?
                    .rows_affected()
            });
            // Fonnte's stateid → message pairings go with the receipts they served.
            report.whatsapp_receipts_deleted += self.prune_provider_aliases(before).await?;
            report.daftar_requests_deleted = on_backend!(self, pool => {
                sqlx::query(
                    "DELETE FROM wa_daftar_requests WHERE state <> 'pending' AND requested_at < $1",
                )
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected()
            });
        }
        if let Some(before) = cutoffs.verification_addresses {
            report.verification_addresses_cleared =
                self.forget_verification_addresses(before).await?;
        }
        Ok(report)
    }
}
