//! SICANTIK connector: the HTTP client (rate limit, retries, call log), the wire formats (JSON and
//! the server's default XML), row validation, the list sync (full and incremental), permit types,
//! and the expiry workaround through `cekperizinan`.
//!
//! Facts about the upstream are in `shared/spec/sicantik-api.md`; every quirk handled here is
//! named there.

pub mod client;
pub mod expiry;
pub mod rows;
pub mod sync;
pub mod tracking;
pub mod types;
pub mod wire;

pub use client::{Answer, ApiError, CallPolicy, ClientConfig, SicantikClient};
pub use expiry::{ExpiryOptions, ExpiryReport, run_expiry_sync};
pub use sync::{SyncMode, SyncOptions, SyncReport, run_list_sync};
pub use tracking::{Lookup, Tracker, TrackingConfig, TrackingView};
pub use types::{TypesReport, run_types_sync};
