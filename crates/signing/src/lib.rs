//! Signing (TTE): the workflow service over `companion_domain::workflow`, the signers behind one
//! interface (a local certificate or BSrE), the RFC 3161 TSA client, and durable batch jobs.

pub mod archive;
pub mod batch;
pub mod bsre;
pub mod ltv;
pub mod passphrase;
pub mod pki;
pub mod revocation;
pub mod service;
pub mod signer;
mod specimen;
pub mod telemetry;
pub mod testing;
pub mod tsa;

pub use bsre::{BsreApi, BsreClient, BsreConfig, BsreError};
pub use passphrase::Passphrase;
pub use service::{
    DateConfirmation, JobTimings, MissingDates, Participant, STAMP_COVERS_CONTENT, SigningConfig,
    SigningError, SigningService,
};
pub use signer::Signer;
pub use tsa::{TsaClient, TsaClientError};
