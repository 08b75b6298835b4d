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

    pub fn parse(s: &str) -> Option<Self> {
        [EventKind::PermitCreated, EventKind::PermitStatusChanged]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Any kind a stored domain event may have, typed: the sync's permit events, and the signing
/// workflow's `document.<state>` (written by every case transition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredEventKind {
    Permit(EventKind),
    /// A signing case entered this state.
    Document(crate::workflow::DocState),
}

impl StoredEventKind {
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(state) = s.strip_prefix("document.") {
            return crate::workflow::DocState::parse(state).map(StoredEventKind::Document);
        }
        EventKind::parse(s).map(StoredEventKind::Permit)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DomainEvent {
    pub kind: EventKind,
    /// The record the event is about (a permit's `pendaftaran_id`).
    pub subject_id: String,
    pub payload: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::DocState;

    #[test]
    fn stored_kinds_parse_typed() {
        assert_eq!(
            StoredEventKind::parse("document.revoked"),
            Some(StoredEventKind::Document(DocState::Revoked))
        );
        assert_eq!(
            StoredEventKind::parse("permit.status_changed"),
            Some(StoredEventKind::Permit(EventKind::PermitStatusChanged))
        );
        assert_eq!(StoredEventKind::parse("document.unknown"), None);
        assert_eq!(StoredEventKind::parse("other"), None);
    }
}
