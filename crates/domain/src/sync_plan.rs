//! Turns one page of validated upstream rows plus what the database already holds into a plan:
//! which permits to insert, which to update, which are unchanged, the status transitions to record
//! and the domain events to emit. Pure, so every rule of the upsert is testable without a database.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::events::{DomainEvent, EventKind};
use crate::permits::{IncomingPermit, PermitStatus, StoredPermit};

/// A status transition for the history table; `from` is `None` when the permit is first seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusTransition {
    pub pendaftaran_id: String,
    pub from: Option<PermitStatus>,
    pub to: PermitStatus,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct PagePlan {
    pub inserts: Vec<StoredPermit>,
    pub updates: Vec<StoredPermit>,
    /// Ids seen again with nothing new (including repeats of a row within the same run).
    pub unchanged: Vec<String>,
    pub transitions: Vec<StatusTransition>,
    pub events: Vec<DomainEvent>,
}

/// The summary object of one sync run (contract: printed by `sync --once --json`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSummary {
    pub fetched: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped_invalid: u64,
    pub errors: u64,
    pub duration_ms: u64,
}

impl SyncSummary {
    pub fn add_plan(&mut self, plan: &PagePlan) {
        self.inserted += plan.inserts.len() as u64;
        self.updated += plan.updates.len() as u64;
        self.unchanged += plan.unchanged.len() as u64;
    }

    pub fn add(&mut self, other: &SyncSummary) {
        self.fetched += other.fetched;
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.skipped_invalid += other.skipped_invalid;
        self.errors += other.errors;
    }
}

/// Combines what is stored with a newly observed row. A value the upstream now sends empty does
/// not erase a good stored value, the status never moves backwards, and a field's flag is dropped
/// once the field holds a value.
pub fn merge(stored: &StoredPermit, incoming: &IncomingPermit) -> StoredPermit {
    let applicant_name = incoming
        .applicant_name
        .clone()
        .or_else(|| stored.applicant_name.clone());
    let permit_type_name = incoming
        .permit_type_name
        .clone()
        .or_else(|| stored.permit_type_name.clone());
    let permit_number = incoming
        .permit_number
        .clone()
        .or_else(|| stored.permit_number.clone());
    let mut flags = incoming.flags.clone();
    for (field, value) in [
        ("applicant_name", &applicant_name),
        ("permit_type_name", &permit_type_name),
        ("permit_number", &permit_number),
    ] {
        if value.is_some() {
            flags.remove(field);
        }
    }
    StoredPermit {
        pendaftaran_id: stored.pendaftaran_id.clone(),
        status: stored.status.advance(incoming.status),
        applicant_name,
        permit_type_name,
        permit_number,
        flags,
    }
}

fn new_permit(incoming: &IncomingPermit) -> StoredPermit {
    StoredPermit {
        pendaftaran_id: incoming.pendaftaran_id.clone(),
        status: incoming.status,
        applicant_name: incoming.applicant_name.clone(),
        permit_type_name: incoming.permit_type_name.clone(),
        permit_number: incoming.permit_number.clone(),
        flags: incoming.flags.clone(),
    }
}

fn permit_payload(p: &StoredPermit) -> serde_json::Value {
    json!({
        "pendaftaran_id": p.pendaftaran_id,
        "permit_number": p.permit_number,
        "applicant_name": p.applicant_name,
        "permit_type_name": p.permit_type_name,
        "status": p.status,
    })
}

/// Plans one page. `existing` holds the stored permits for (at least) the ids on the page.
pub fn plan_page(
    incoming: &[IncomingPermit],
    existing: &HashMap<String, StoredPermit>,
) -> PagePlan {
    let mut plan = PagePlan::default();
    // The state of every id this page touched, so a row repeated within the page merges into
    // the first one instead of producing a second insert.
    let mut touched: HashMap<&str, (StoredPermit, bool)> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();

    for row in incoming {
        let id = row.pendaftaran_id.as_str();
        let (current, is_new) = match touched.get(id) {
            Some((p, is_new)) => (Some(p.clone()), *is_new),
            None => (existing.get(id).cloned(), false),
        };
        match current {
            None => {
                let permit = new_permit(row);
                plan.transitions.push(StatusTransition {
                    pendaftaran_id: permit.pendaftaran_id.clone(),
                    from: None,
                    to: permit.status,
                });
                plan.events.push(DomainEvent {
                    kind: EventKind::PermitCreated,
                    subject_id: permit.pendaftaran_id.clone(),
                    payload: permit_payload(&permit),
                });
                order.push(id);
                touched.insert(id, (permit, true));
            }
            Some(before) => {
                let after = merge(&before, row);
                if after.status != before.status {
                    plan.transitions.push(StatusTransition {
                        pendaftaran_id: after.pendaftaran_id.clone(),
                        from: Some(before.status),
                        to: after.status,
                    });
                    let mut payload = permit_payload(&after);
                    payload["from"] = json!(before.status);
                    payload["to"] = json!(after.status);
                    plan.events.push(DomainEvent {
                        kind: EventKind::PermitStatusChanged,
                        subject_id: after.pendaftaran_id.clone(),
                        payload,
                    });
                }
                let first_touch = !touched.contains_key(id);
                if first_touch {
                    order.push(id);
                }
                if after == before {
                    if first_touch {
                        touched.insert(id, (after, false));
                    } else {
                        // A repeat within the page with nothing new.
                        plan.unchanged.push(id.to_string());
                    }
                } else {
                    touched.insert(id, (after, is_new));
                }
            }
        }
    }

    for id in order {
        let Some((after, is_new)) = touched.remove(id) else {
            continue;
        };
        if is_new {
            plan.inserts.push(after);
        } else if existing.get(id) == Some(&after) {
            plan.unchanged.push(id.to_string());
        } else {
            plan.updates.push(after);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permits::DataFlags;

    fn row(id: &str, status: PermitStatus, name: Option<&str>) -> IncomingPermit {
        let mut flags = DataFlags::new();
        if name.is_none() {
            flags.insert("applicant_name".into(), "missing".into());
        }
        IncomingPermit {
            pendaftaran_id: id.into(),
            status,
            applicant_name: name.map(Into::into),
            permit_type_name: Some("IZIN USAHA TOKO".into()),
            permit_number: Some(format!("503/{id}")),
            flags,
        }
    }

    fn stored(r: &IncomingPermit) -> StoredPermit {
        new_permit(r)
    }

    #[test]
    fn new_rows_are_inserted_with_history_and_event() {
        let plan = plan_page(
            &[row("1", PermitStatus::InProcess, Some("A"))],
            &HashMap::new(),
        );
        assert_eq!(plan.inserts.len(), 1);
        assert_eq!(plan.transitions[0].from, None);
        assert_eq!(plan.events[0].kind, EventKind::PermitCreated);
    }

    #[test]
    fn same_row_again_is_unchanged_and_emits_nothing() {
        let r = row("1", PermitStatus::Issued, Some("A"));
        let existing = HashMap::from([("1".to_string(), stored(&r))]);
        let plan = plan_page(&[r], &existing);
        assert_eq!(plan.unchanged, vec!["1".to_string()]);
        assert!(plan.inserts.is_empty() && plan.updates.is_empty() && plan.events.is_empty());
    }

    #[test]
    fn status_change_is_detected_once() {
        let before = row("1", PermitStatus::InProcess, Some("A"));
        let existing = HashMap::from([("1".to_string(), stored(&before))]);
        let now = row("1", PermitStatus::Issued, Some("A"));
        let plan = plan_page(&[now.clone(), now], &existing);
        assert_eq!(plan.updates.len(), 1);
        assert_eq!(plan.transitions.len(), 1);
        assert_eq!(plan.events.len(), 1);
        assert_eq!(plan.events[0].kind, EventKind::PermitStatusChanged);
        assert_eq!(
            plan.unchanged.len(),
            1,
            "the repeat within the page counts as unchanged"
        );
    }

    #[test]
    fn issued_permit_seen_in_process_list_stays_issued() {
        let issued = row("1", PermitStatus::Issued, Some("A"));
        let existing = HashMap::from([("1".to_string(), stored(&issued))]);
        let plan = plan_page(&[row("1", PermitStatus::InProcess, Some("A"))], &existing);
        assert_eq!(plan.unchanged.len(), 1);
        assert!(plan.transitions.is_empty());
    }

    #[test]
    fn empty_upstream_value_does_not_erase_a_good_one() {
        let good = row("1", PermitStatus::Issued, Some("BUDI"));
        let existing = HashMap::from([("1".to_string(), stored(&good))]);
        let plan = plan_page(&[row("1", PermitStatus::Issued, None)], &existing);
        assert_eq!(plan.unchanged.len(), 1, "{plan:?}");
    }

    #[test]
    fn duplicate_new_row_in_one_page_is_one_insert() {
        let r = row("1", PermitStatus::InProcess, Some("A"));
        let plan = plan_page(&[r.clone(), r], &HashMap::new());
        assert_eq!(plan.inserts.len(), 1);
        assert_eq!(plan.unchanged.len(), 1);
        assert_eq!(plan.events.len(), 1);
    }

    #[test]
    fn flagged_field_filled_later_is_an_update_without_flag() {
        let junk = row("1", PermitStatus::Issued, None);
        let existing = HashMap::from([("1".to_string(), stored(&junk))]);
        let plan = plan_page(&[row("1", PermitStatus::Issued, Some("SITI"))], &existing);
        assert_eq!(plan.updates.len(), 1);
        assert!(plan.updates[0].flags.is_empty());
    }
}
