//! Signing (TTE). So far: the RFC 3161 client that turns a CMS signature into PAdES B-T. The
//! signers (local certificate, BSrE), the workflow service and the durable batch jobs build on
//! `companion_domain::workflow` and `companion_pdf::sign` next.

pub mod service;
pub mod tsa;

pub use service::{Participant, SigningConfig, SigningError, SigningService};
pub use tsa::{TsaClient, TsaClientError};
