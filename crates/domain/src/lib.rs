//! Domain model of SICANTIK Companion: permits, their status history, the sync plan that turns an
//! upstream page into inserts/updates, the expiry-retry policy and the domain events that later
//! capabilities (documents, signing, notifications) consume. Nothing here does I/O.

pub mod accounts;
pub mod archive;
pub mod audit;
pub mod documents;
pub mod events;
pub mod expiry;
pub mod footer;
pub mod permits;
pub mod renewals;
pub mod retention;
pub mod seal;
pub mod security;
pub mod survey;
pub mod sync_plan;
pub mod sync_runs;
pub mod text;
pub mod tracking;
pub mod verdict;
pub mod workflow;

pub use accounts::{Permission, Role};
pub use audit::{AuditEntry, AuditRecord};
pub use documents::DocumentKind;
pub use events::{DomainEvent, EventKind, StoredEventKind};
pub use permits::{DataFlags, IncomingPermit, PermitStatus, StoredPermit};
pub use sync_plan::{PagePlan, RecentPermits, StatusTransition, SyncSummary, plan_page};
pub use sync_runs::{ListCoverage, ListGoal, RunDetails, RunOutcome, run_outcome};
