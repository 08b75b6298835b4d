//! Keys and certificates for the local signer: a signing identity (RSA key, certificate, chain)
//! loaded from PEM, and the small CA that `keys init` makes for the demo and the tests.

use std::str::FromStr;
use std::time::Duration;

use der::EncodePem;
use rsa::RsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use sha2::Sha256;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the key or certificate: {0}")]
    Parse(String),
    #[error("cannot create the key or certificate: {0}")]
    Create(String),
}

/// A private key with its certificate and the chain up to (and including) the root.
#[derive(Clone)]
pub struct SigningIdentity {
    pub key: RsaPrivateKey,
    pub certificate: Certificate,
    pub chain: Vec<Certificate>,
    /// The same key in OpenSSL's form, made on first use: signing is one RSA operation per
    /// document, and OpenSSL's is the fastest available here (about 1.7× ring's, several times
    /// the pure-Rust one's); the benchmark measures against `openssl speed rsa2048`.
    fast: std::sync::Arc<std::sync::OnceLock<Result<FastRsa, String>>>,
    /// The CMS of this signer with the per-document parts marked (made on first use): a
    /// signature then costs one RSA operation and a copy (`crate::sign::CmsTemplate`).
    pub(crate) cms_template: std::sync::Arc<std::sync::OnceLock<Option<crate::sign::CmsTemplate>>>,
}

/// RSA PKCS#1 v1.5 with SHA-256 through OpenSSL, presented to the CMS builder like the `rsa`
/// crate's signing key.
#[derive(Clone)]
pub(crate) struct FastRsa {
    key: openssl::pkey::PKey<openssl::pkey::Private>,
    verifying: rsa::pkcs1v15::VerifyingKey<Sha256>,
}

impl signature::Keypair for FastRsa {
    type VerifyingKey = rsa::pkcs1v15::VerifyingKey<Sha256>;
    fn verifying_key(&self) -> Self::VerifyingKey {
        self.verifying.clone()
    }
}

impl spki::DynSignatureAlgorithmIdentifier for FastRsa {
    fn signature_algorithm_identifier(&self) -> spki::Result<spki::AlgorithmIdentifierOwned> {
        self.verifying.signature_algorithm_identifier()
    }
}

impl signature::Signer<rsa::pkcs1v15::Signature> for FastRsa {
    fn try_sign(&self, msg: &[u8]) -> Result<rsa::pkcs1v15::Signature, signature::Error> {
        let mut signer =
            openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &self.key)
                .map_err(|_| signature::Error::new())?;
        let out = signer
            .sign_oneshot_to_vec(msg)
            .map_err(|_| signature::Error::new())?;
        rsa::pkcs1v15::Signature::try_from(out.as_slice())
    }
}

impl std::fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("SigningIdentity")
            .field(
                "subject",
                &self.certificate.tbs_certificate.subject.to_string(),
            )
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

fn create(e: impl std::fmt::Display) -> KeyError {
    KeyError::Create(e.to_string())
}

fn parse(e: impl std::fmt::Display) -> KeyError {
    KeyError::Parse(e.to_string())
}

impl SigningIdentity {
    pub fn new(key: RsaPrivateKey, certificate: Certificate, chain: Vec<Certificate>) -> Self {
        Self {
            key,
            certificate,
            chain,
            fast: Default::default(),
            cms_template: Default::default(),
        }
    }

    /// The key in OpenSSL's form (built once).
    pub(crate) fn fast(&self) -> Result<&FastRsa, String> {
        self.fast
            .get_or_init(|| {
                let der = self.key.to_pkcs8_der().map_err(|e| e.to_string())?;
                let key = openssl::pkey::PKey::private_key_from_pkcs8(der.as_bytes())
                    .map_err(|e| e.to_string())?;
                Ok(FastRsa {
                    key,
                    verifying: rsa::pkcs1v15::VerifyingKey::<Sha256>::new(self.key.to_public_key()),
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// From a PKCS#8 PEM key and a PEM bundle (the signer's certificate first, then its chain).
    pub fn from_pem(key_pem: &str, certs_pem: &str) -> Result<Self, KeyError> {
        let key = RsaPrivateKey::from_pkcs8_pem(key_pem).map_err(parse)?;
        let mut certs = Certificate::load_pem_chain(certs_pem.as_bytes()).map_err(parse)?;
        if certs.is_empty() {
            return Err(KeyError::Parse("no certificate in the bundle".into()));
        }
        let certificate = certs.remove(0);
        Ok(Self::new(key, certificate, certs))
    }

    /// The signer's certificate and its chain, DER-encoded (for the DSS).
    pub fn chain_der(&self) -> Result<Vec<Vec<u8>>, KeyError> {
        use der::Encode;
        std::iter::once(&self.certificate)
            .chain(&self.chain)
            .map(|c| c.to_der().map_err(create))
            .collect()
    }

    pub fn key_pem(&self) -> Result<String, KeyError> {
        Ok(self
            .key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(create)?
            .to_string())
    }

    /// The certificate and its chain, PEM.
    pub fn certs_pem(&self) -> Result<String, KeyError> {
        let mut out = String::new();
        for c in std::iter::once(&self.certificate).chain(&self.chain) {
            out.push_str(&c.to_pem(LineEnding::LF).map_err(create)?);
        }
        Ok(out)
    }

    /// The certificate's end of validity.
    pub fn not_after(&self) -> std::time::SystemTime {
        self.certificate
            .tbs_certificate
            .validity
            .not_after
            .to_system_time()
    }
}

/// A new RSA-2048 key, generated by OpenSSL (several times faster than the pure-Rust search
/// for primes, which matters for `keys init`'s four keys and the tests' many).
pub fn new_rsa_key() -> Result<RsaPrivateKey, KeyError> {
    let rsa = openssl::rsa::Rsa::generate(2048).map_err(create)?;
    let pkey = openssl::pkey::PKey::from_rsa(rsa).map_err(create)?;
    let der = pkey.private_key_to_pkcs8().map_err(create)?;
    RsaPrivateKey::from_pkcs8_der(&der).map_err(create)
}

/// A random positive 127-bit serial (RFC 5280: unique per CA, at most 20 octets).
pub(crate) fn random_serial() -> Result<SerialNumber, KeyError> {
    serial()
}

fn serial() -> Result<SerialNumber, KeyError> {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes[0] &= 0x7f; // positive
    SerialNumber::new(&bytes).map_err(create)
}

fn spki_of(key: &RsaPrivateKey) -> Result<SubjectPublicKeyInfoOwned, KeyError> {
    SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).map_err(create)
}

/// A self-signed root CA valid for `years`.
pub fn new_ca(common_name: &str, years: u64) -> Result<SigningIdentity, KeyError> {
    let key = new_rsa_key()?;
    let subject = Name::from_str(&format!("CN={common_name},O=DPMPTSP Kabupaten Karo,C=ID"))
        .map_err(create)?;
    let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone());
    let builder = CertificateBuilder::new(
        Profile::Root,
        serial()?,
        Validity::from_now(Duration::from_secs(years * 365 * 86_400)).map_err(create)?,
        subject,
        spki_of(&key)?,
        &signer,
    )
    .map_err(create)?;
    let certificate = builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(create)?;
    Ok(SigningIdentity::new(key, certificate, Vec::new()))
}

/// A signer certificate for `common_name` issued by `ca`, valid for `days`.
pub fn issue_signer(
    ca: &SigningIdentity,
    common_name: &str,
    days: u64,
) -> Result<SigningIdentity, KeyError> {
    issue(ca, common_name, days, false)
}

fn issue(
    ca: &SigningIdentity,
    common_name: &str,
    days: u64,
    timestamping: bool,
) -> Result<SigningIdentity, KeyError> {
    let key = new_rsa_key()?;
    let subject = Name::from_str(&format!("CN={common_name},O=DPMPTSP Kabupaten Karo,C=ID"))
        .map_err(create)?;
    let ca_signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(ca.key.clone());
    let builder = CertificateBuilder::new(
        Profile::Leaf {
            issuer: ca.certificate.tbs_certificate.subject.clone(),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        },
        serial()?,
        Validity::from_now(Duration::from_secs(days * 86_400)).map_err(create)?,
        subject,
        spki_of(&key)?,
        &ca_signer,
    )
    .map_err(create)?;
    let mut builder = builder;
    if timestamping {
        // Critical, as RFC 3161 requires (the extension marks itself critical).
        builder
            .add_extension(&x509_cert::ext::pkix::ExtendedKeyUsage(vec![
                const_oid::db::rfc5280::ID_KP_TIME_STAMPING,
            ]))
            .map_err(create)?;
    }
    let certificate = builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(create)?;
    let mut chain = vec![ca.certificate.clone()];
    chain.extend(ca.chain.iter().cloned());
    Ok(SigningIdentity::new(key, certificate, chain))
}

/// A TSA certificate (critical extended key usage timeStamping) issued by `ca`.
pub fn issue_tsa(
    ca: &SigningIdentity,
    common_name: &str,
    days: u64,
) -> Result<SigningIdentity, KeyError> {
    issue(ca, common_name, days, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_and_no_key_in_debug() {
        let ca = new_ca("Uji CA", 1).expect("ca");
        let signer = issue_signer(&ca, "Pejabat Uji", 30).expect("signer");
        let again = SigningIdentity::from_pem(
            &signer.key_pem().expect("key"),
            &signer.certs_pem().expect("certs"),
        )
        .expect("load");
        assert_eq!(again.certificate, signer.certificate);
        assert_eq!(again.chain, vec![ca.certificate.clone()]);
        let debug = format!("{again:?}");
        assert!(debug.contains("Pejabat Uji") && !debug.contains("PRIVATE"));
    }
}
