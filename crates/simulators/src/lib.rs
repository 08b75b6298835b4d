//! HTTP fakes of the upstream services, for the demo and the tests. Each behaves like the real
//! service as described in `shared/spec/`, pitfalls included, and is deterministic by seed.

pub mod bsre;
pub mod codeigniter;
pub mod revocation;
pub mod sicantik;
mod sicantik_data;
mod sicantik_wire;
pub mod tsa;
pub mod whatsapp;

pub use bsre::{BsreFault, BsreSim, BsreSimConfig, BsreSimUser};
pub use sicantik::{
    CODEIGNITER_FAULTS, FAULTS, LetterPrinter, SicantikSim, SicantikSimConfig, SimFault,
};
pub use sicantik_data::{RowKind, SimPermit};
pub use tsa::TsaSim;
pub use whatsapp::{
    SimInbound, SimMessage, SimTemplate, WhatsappFault, WhatsappSim, WhatsappSimConfig,
};
