//! Test and benchmark helpers: batches of queued messages as the planner would write them.

use std::ops::Range;

use companion_db::NewMessage;

use crate::templates::{Event, parameters};

/// Queued staff messages for `event` with its sample values, one per index in `range`:
/// dedup keys `<prefix>:<i>`, numbers `<phone_prefix><i, 8 digits>` (e.g. `+62812`).
pub fn queued_messages(
    event: Event,
    prefix: &str,
    phone_prefix: &str,
    range: Range<usize>,
) -> Vec<NewMessage> {
    let values = event.sample();
    let params = serde_json::to_string(&parameters(event, &values)).unwrap_or_default();
    let now = companion_db::now();
    range
        .map(|i| NewMessage {
            dedup_key: format!("{prefix}:{i}"),
            event: event.key().into(),
            subject_id: None,
            audience: "staff".into(),
            phone: format!("{phone_prefix}{i:08}"),
            language: "id".into(),
            template: event.provider_template().into(),
            parameters: params.clone(),
            body: format!("pesan {i}"),
            state: "queued".into(),
            failure_detail: None,
            next_attempt_at: now,
        })
        .collect()
}
