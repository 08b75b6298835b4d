//! WhatsApp notifications.
//!
//! - [`providers`]: one interface ([`providers::Provider`]) over Meta Cloud API, Twilio, Fonnte,
//!   Bird/MessageBird and Vonage, each speaking its real wire format, with webhook verification
//!   and parsing into one normalised model.
//! - [`templates`]: the seven events, their variables, default texts (Bahasa Indonesia and
//!   English), validation at edit time and rendering.
//! - [`phone`]: numbers to E.164.
//! - [`survey`]: the satisfaction survey's one invitation per published permit.
//! - [`security`]: security alerts (login floods, privileged role grants) to administrators and
//!   officials.
//! - [`service`]: the [`Notifier`] — planner (events → outbox), dispatcher (leases, rate limits,
//!   retries, reconciliation), schedules (reminders, digest) and webhook handling.

pub mod aliases;
pub mod phone;
pub mod providers;
pub mod security;
pub mod service;
pub mod survey;
pub mod templates;
pub mod testing;

pub use service::{Clock, DispatchReport, ManualClock, Notifier, NotifyConfig, SystemClock};
pub use templates::Event;
