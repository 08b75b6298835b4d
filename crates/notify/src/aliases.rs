//! Receipts that name a message by an alias (Fonnte's `stateid`): [`resolve`] records the
//! pairings a webhook brings and turns aliased receipts into ordinary ones before the notifier
//! applies them. A receipt whose alias is not known yet is kept (under
//! [`companion_db::provider_aliases::alias_receipt_key`]) and applied when the pairing arrives,
//! so order does not matter and the provider never gets an error to retry.

use chrono::{DateTime, Utc};
use companion_db::Database;
use companion_db::provider_aliases::alias_receipt_key;

use crate::providers::{DeliveryStatus, WebhookEvent};

/// `events` with every [`WebhookEvent::Alias`] recorded (followed by the receipts that had
/// waited for it) and every [`WebhookEvent::StatusByAlias`] turned into a
/// [`WebhookEvent::Status`] of the message it names.
pub async fn resolve(
    db: &Database,
    provider: &str,
    events: Vec<WebhookEvent>,
    now: DateTime<Utc>,
) -> Result<Vec<WebhookEvent>, companion_db::DbError> {
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        match e {
            WebhookEvent::Alias { provider_id, alias } => {
                let early = db
                    .record_provider_alias(provider, &alias, &provider_id, now)
                    .await?;
                out.extend(early.into_iter().filter_map(|(status, at)| {
                    Some(WebhookEvent::Status {
                        provider_id: provider_id.clone(),
                        reference: None,
                        status: DeliveryStatus::parse(&status)?,
                        at: Some(at),
                        failure: None,
                    })
                }));
            }
            WebhookEvent::StatusByAlias {
                alias,
                status,
                at,
                failure,
            } => {
                let provider_id = match db.provider_alias(provider, &alias).await? {
                    Some(id) => id,
                    None => {
                        tracing::info!(%alias, "receipt for an alias not paired yet; kept until it is");
                        alias_receipt_key(provider, &alias)
                    }
                };
                out.push(WebhookEvent::Status {
                    provider_id,
                    reference: None,
                    status,
                    at,
                    failure,
                });
            }
            other => out.push(other),
        }
    }
    Ok(out)
}
