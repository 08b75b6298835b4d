//! Domain events, written in the same transaction as the state change they describe
//! (transactional outbox). Notifications and other consumers read them later.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "permit.created")]
    PermitCreated,
    #[serde(rename = "permit.status_changed")]
    PermitStatusChanged,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PermitCreated => "permit.created",
            EventKind::PermitStatusChanged => "permit.status_changed",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DomainEvent {
    pub kind: EventKind,
    /// The record the event is about (a permit's `pendaftaran_id`).
    pub subject_id: String,
    pub payload: Value,
}
