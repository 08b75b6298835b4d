//! WhatsApp notifications.
//!
//! - [`providers`]: one interface ([`providers::Provider`]) over Meta Cloud API, Twilio, Fonnte,
//!   Bird/MessageBird and Vonage, each speaking its real wire format, with webhook verification
//!   and parsing into one normalised model.

pub mod providers;
