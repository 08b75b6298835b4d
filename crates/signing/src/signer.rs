//! The signers behind one interface: the office's local certificate (`SIGNER=local`) or the
//! national BSrE service (`SIGNER=bsre`), each official with their own NIK.

use std::sync::Arc;

use companion_pdf::keys::SigningIdentity;

use crate::bsre::BsreClient;

#[derive(Debug, Clone)]
pub enum Signer {
    /// A key and chain from `KEYS_DIR`; signs here, no passphrase.
    Local(Arc<SigningIdentity>),
    /// BSrE signs with the official's NIK and passphrase.
    Bsre(BsreClient),
}

impl From<SigningIdentity> for Signer {
    fn from(identity: SigningIdentity) -> Self {
        Signer::Local(Arc::new(identity))
    }
}

impl From<BsreClient> for Signer {
    fn from(client: BsreClient) -> Self {
        Signer::Bsre(client)
    }
}

impl Signer {
    /// Whether the official types a passphrase for each signing or batch.
    pub fn needs_passphrase(&self) -> bool {
        matches!(self, Signer::Bsre(_))
    }

    /// How staff see the signer.
    pub fn label(&self) -> &'static str {
        match self {
            Signer::Local(_) => "sertifikat lokal kantor",
            Signer::Bsre(_) => "BSrE (sertifikat elektronik tiap pejabat)",
        }
    }

    /// A local signer is the one kind a crash can interrupt without any effect outside.
    pub fn is_local(&self) -> bool {
        matches!(self, Signer::Local(_))
    }
}
