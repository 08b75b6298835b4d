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

impl PagePlan {
    /// Appends a later page's plan, so several pages can be written in one transaction. A permit
    /// both plans upsert keeps only its later state (one statement may not upsert a row twice).
    pub fn absorb(&mut self, later: PagePlan) {
        {
            let later_ids: std::collections::HashSet<&str> = later
                .inserts
                .iter()
                .chain(&later.updates)
                .map(|p| p.pendaftaran_id.as_str())
                .collect();
            if !later_ids.is_empty() {
                self.inserts
                    .retain(|p| !later_ids.contains(p.pendaftaran_id.as_str()));
                self.updates
                    .retain(|p| !later_ids.contains(p.pendaftaran_id.as_str()));
            }
        }
        self.inserts.extend(later.inserts);
        self.updates.extend(later.updates);
        self.unchanged.extend(later.unchanged);
        self.transitions.extend(later.transitions);
        self.events.extend(later.events);
    }
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

/// The state the last few planned pages left behind, for planning the next page while earlier
/// pages are still being written. Pages overlap and rows shift between them, so an id on the
/// next page may belong to a page whose write has not committed yet; its planned state here is
/// the truth, the database's is stale. Keeps `window` pages, so memory stays bounded.
#[derive(Debug)]
pub struct RecentPermits {
    window: usize,
    next_page: u64,
    by_id: HashMap<String, (u64, StoredPermit)>,
    pages: std::collections::VecDeque<(u64, Vec<String>)>,
}

impl RecentPermits {
    /// `window` must exceed the number of pages that can be planned but not yet committed.
    pub fn new(window: usize) -> Self {
        Self {
            window: window.max(1),
            next_page: 0,
            by_id: HashMap::new(),
            pages: Default::default(),
        }
    }

    pub fn get(&self, id: &str) -> Option<&StoredPermit> {
        self.by_id.get(id).map(|(_, p)| p)
    }

    /// Records the state a planned page leaves: its inserts and updates, plus the unchanged
    /// permits as `existing` had them.
    pub fn remember(&mut self, plan: &PagePlan, existing: &HashMap<String, StoredPermit>) {
        let page = self.next_page;
        self.next_page += 1;
        let mut ids = Vec::with_capacity(plan.inserts.len() + plan.updates.len());
        for p in plan.inserts.iter().chain(&plan.updates) {
            self.by_id
                .insert(p.pendaftaran_id.clone(), (page, p.clone()));
            ids.push(p.pendaftaran_id.clone());
        }
        for id in &plan.unchanged {
            if let Some(p) = existing.get(id) {
                self.by_id.insert(id.clone(), (page, p.clone()));
                ids.push(id.clone());
            }
        }
        self.pages.push_back((page, ids));
        while self.pages.len() > self.window {
            let Some((old, ids)) = self.pages.pop_front() else {
                break;
            };
            for id in ids {
                // Only if no later page has touched it since.
                if self.by_id.get(&id).is_some_and(|(p, _)| *p == old) {
                    self.by_id.remove(&id);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
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

    #[test]
    fn recent_permits_remember_the_latest_plan_and_forget_old_pages() {
        let mut recent = RecentPermits::new(2);
        let a = row("1", PermitStatus::InProcess, Some("A"));
        let plan = plan_page(std::slice::from_ref(&a), &HashMap::new());
        recent.remember(&plan, &HashMap::new());
        assert_eq!(
            recent.get("1").map(|p| p.status),
            Some(PermitStatus::InProcess)
        );

        // Page 2 issues permit 1: the overlay must hand the next page the issued state, which
        // the database may not have committed yet.
        let issued = row("1", PermitStatus::Issued, Some("A"));
        let existing = HashMap::from([("1".to_string(), recent.get("1").cloned().unwrap())]);
        let plan = plan_page(std::slice::from_ref(&issued), &existing);
        recent.remember(&plan, &existing);
        assert_eq!(
            recent.get("1").map(|p| p.status),
            Some(PermitStatus::Issued)
        );

        // Page 1 falls out of the window, but permit 1 was touched again on page 2 and stays.
        let b = row("2", PermitStatus::InProcess, Some("B"));
        recent.remember(&plan_page(&[b], &HashMap::new()), &HashMap::new());
        assert!(
            recent.get("1").is_some(),
            "still within the window via page 2"
        );
        let c = row("3", PermitStatus::InProcess, Some("C"));
        recent.remember(&plan_page(&[c], &HashMap::new()), &HashMap::new());
        assert!(recent.get("1").is_none(), "page 2 left the window");
        assert_eq!(recent.len(), 2);
    }

    #[test]
    fn absorbing_a_later_plan_keeps_one_upsert_per_permit_with_the_later_state() {
        let first = plan_page(
            &[row("1", PermitStatus::InProcess, Some("A"))],
            &HashMap::new(),
        );
        let existing = HashMap::from([("1".to_string(), first.inserts[0].clone())]);
        let second = plan_page(
            &[
                row("1", PermitStatus::Issued, Some("A")),
                row("2", PermitStatus::InProcess, Some("B")),
            ],
            &existing,
        );
        let mut batch = first;
        batch.absorb(second);
        let upserts: Vec<_> = batch.inserts.iter().chain(&batch.updates).collect();
        assert_eq!(upserts.len(), 2);
        let one = upserts.iter().find(|p| p.pendaftaran_id == "1").unwrap();
        assert_eq!(one.status, PermitStatus::Issued);
        // Both transitions and events of permit 1 survive: created, then issued.
        assert_eq!(batch.transitions.len(), 3);
        assert_eq!(batch.events.len(), 3);
    }
}
