//! A PKI shaped like a real one, for the demo, the tests and small offices: a root CA, an issuing
//! CA under it, end-entity certificates (document signer, TSA, delegated OCSP responder) that
//! name a CRL distribution point and an OCSP responder (AIA), CRLs (RFC 5280) and OCSP responses
//! (RFC 6960). Certificates come from `x509-cert`'s builder, OCSP types and responses from
//! `x509-ocsp`, signatures from OpenSSL (the same RSA key as everywhere else); nothing here parses
//! or validates a path — validation is OpenSSL's (`crate::validate`).
//!
//! The folder layout `keys init` writes (names below) is read by [`Pki::load_dir`].

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280::{
    ID_AD_CA_ISSUERS, ID_AD_OCSP, ID_KP_OCSP_SIGNING, ID_KP_TIME_STAMPING,
};
use der::asn1::{Ia5String, OctetString};
use der::{Decode, Encode};
use sha2::Sha256;
use spki::DynSignatureAlgorithmIdentifier;
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, CrlDistributionPoints,
    CrlNumber, ExtendedKeyUsage,
};
use x509_cert::ext::{AsExtension, Extension};
use x509_cert::name::Name;
use x509_cert::time::{Time, Validity};
use x509_ocsp::{
    CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse, RevokedInfo, SingleResponse,
};

pub use x509_cert::ext::pkix::crl::CrlReason;

use crate::keys::{KeyError, SigningIdentity, new_rsa_key};

/// Files of the key folder (besides the signer's and the seal's, named in the app).
pub mod files {
    /// The root CA (the trust anchor; the name predates the layered PKI and is kept).
    pub const ROOT_CERT: &str = "ca.pem";
    pub const ROOT_KEY: &str = "ca-key.pem";
    /// The issuing CA under the root; absent in folders from before the layered PKI.
    pub const ISSUING_CERT: &str = "issuing-ca.pem";
    pub const ISSUING_KEY: &str = "issuing-ca-key.pem";
    /// The delegated OCSP responder for the issuing CA's certificates.
    pub const OCSP_KEY: &str = "ocsp-key.pem";
    pub const OCSP_CHAIN: &str = "ocsp-chain.pem";
    /// Every certificate this folder's CAs issued (PEM bundle): OCSP answers `unknown` for any
    /// serial not in it.
    pub const ISSUED: &str = "issued.pem";
    pub const SIGNER_KEY: &str = "signer-key.pem";
    pub const SIGNER_CHAIN: &str = "signer-chain.pem";
}

/// The URL names of the two CAs (`/pki/<name>.crl`, `/pki/<name>.crt`).
pub const ROOT_NAME: &str = "ca";
pub const ISSUING_NAME: &str = "issuing-ca";

/// How long a CRL is valid (nextUpdate − thisUpdate), and after how long it is re-issued anyway.
pub const CRL_VALIDITY: Duration = Duration::from_secs(7 * 86_400);
pub const CRL_REISSUE_AFTER: Duration = Duration::from_secs(86_400);
/// How long an OCSP answer is valid (nextUpdate − thisUpdate).
pub const OCSP_VALIDITY: Duration = Duration::from_secs(86_400);

/// id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): a responder certificate is not itself checked.
pub const ID_PKIX_OCSP_NOCHECK: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.5");

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("cannot encode: {0}")]
    Encode(String),
    #[error("cannot sign: {0}")]
    Sign(String),
    #[error("{0}")]
    Files(String),
}

fn enc(e: impl std::fmt::Display) -> PkiError {
    PkiError::Encode(e.to_string())
}

/// RFC 5280's names for the reasons (`keys revoke --reason`).
pub fn reason_name(reason: CrlReason) -> &'static str {
    match reason {
        CrlReason::Unspecified => "unspecified",
        CrlReason::KeyCompromise => "keyCompromise",
        CrlReason::CaCompromise => "cACompromise",
        CrlReason::AffiliationChanged => "affiliationChanged",
        CrlReason::Superseded => "superseded",
        CrlReason::CessationOfOperation => "cessationOfOperation",
        CrlReason::CertificateHold => "certificateHold",
        CrlReason::RemoveFromCRL => "removeFromCRL",
        CrlReason::PrivilegeWithdrawn => "privilegeWithdrawn",
        CrlReason::AaCompromise => "aACompromise",
    }
}

/// The reasons one may revoke with (certificateHold and removeFromCRL are not offered: a
/// revocation here is final).
pub const REASONS: [CrlReason; 8] = [
    CrlReason::Unspecified,
    CrlReason::KeyCompromise,
    CrlReason::CaCompromise,
    CrlReason::AffiliationChanged,
    CrlReason::Superseded,
    CrlReason::CessationOfOperation,
    CrlReason::PrivilegeWithdrawn,
    CrlReason::AaCompromise,
];

/// A reason by its RFC 5280 name (case-insensitive).
pub fn parse_reason(s: &str) -> Option<CrlReason> {
    REASONS
        .into_iter()
        .find(|r| reason_name(*r).eq_ignore_ascii_case(s.trim()))
}

/// The reason's RFC 5280 code (stored in the database).
pub fn reason_code(reason: CrlReason) -> u8 {
    reason as u32 as u8
}

pub fn reason_from_code(code: i64) -> Option<CrlReason> {
    [
        CrlReason::Unspecified,
        CrlReason::KeyCompromise,
        CrlReason::CaCompromise,
        CrlReason::AffiliationChanged,
        CrlReason::Superseded,
        CrlReason::CessationOfOperation,
        CrlReason::CertificateHold,
        CrlReason::RemoveFromCRL,
        CrlReason::PrivilegeWithdrawn,
        CrlReason::AaCompromise,
    ]
    .into_iter()
    .find(|r| i64::from(reason_code(*r)) == code)
}

/// One revoked certificate: its issuer (by [`key_id`]), its serial (the DER INTEGER's content
/// bytes, as in the certificate), when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    pub issuer_key_id: Vec<u8>,
    pub serial: Vec<u8>,
    pub revoked_at: SystemTime,
    pub reason: CrlReason,
}

/// The key identifier this module uses for a CA: SHA-1 of its subjectPublicKey bits (RFC 5280
/// §4.2.1.2 method 1, and what an OCSP request's issuerKeyHash carries with SHA-1).
pub fn key_id(cert: &Certificate) -> Vec<u8> {
    let bits = cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    openssl::sha::sha1(bits).to_vec()
}

/// A certificate's serial (content bytes of the INTEGER).
pub fn serial_of(cert: &Certificate) -> Vec<u8> {
    cert.tbs_certificate.serial_number.as_bytes().to_vec()
}

/// Where the product serves its revocation data and CA certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiUrls {
    base: String,
}

impl PkiUrls {
    /// `base` is the public address (`PUBLIC_BASE_URL`); the paths are `/pki/...`.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim().trim_end_matches('/').to_string(),
        }
    }
    pub fn crl(&self, ca_name: &str) -> String {
        format!("{}/pki/{ca_name}.crl", self.base)
    }
    pub fn cert(&self, ca_name: &str) -> String {
        format!("{}/pki/{ca_name}.crt", self.base)
    }
    pub fn ocsp(&self) -> String {
        format!("{}/pki/ocsp", self.base)
    }
}

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafKind {
    /// Signs documents: digitalSignature + nonRepudiation, no EKU.
    Signer,
    /// Signs timestamps: EKU timeStamping (critical).
    Tsa,
    /// Signs OCSP answers for its issuer: EKU OCSPSigning, id-pkix-ocsp-nocheck.
    OcspResponder,
}

/// id-pkix-ocsp-nocheck's value is NULL.
struct OcspNoCheck;

impl const_oid::AssociatedOid for OcspNoCheck {
    const OID: ObjectIdentifier = ID_PKIX_OCSP_NOCHECK;
}

impl der::Encode for OcspNoCheck {
    fn encoded_len(&self) -> der::Result<der::Length> {
        der::asn1::Null.encoded_len()
    }
    fn encode(&self, encoder: &mut impl der::Writer) -> der::Result<()> {
        der::asn1::Null.encode(encoder)
    }
}

impl AsExtension for OcspNoCheck {
    fn critical(&self, _: &Name, _: &[Extension]) -> bool {
        false
    }
}

fn uri(s: &str) -> Result<GeneralName, PkiError> {
    Ok(GeneralName::UniformResourceIdentifier(
        Ia5String::new(s).map_err(enc)?,
    ))
}

/// Where the issuer `issuer_name` publishes revocation data and its certificate.
fn revocation_pointers(
    urls: &PkiUrls,
    issuer_name: &str,
) -> Result<(CrlDistributionPoints, AuthorityInfoAccessSyntax), PkiError> {
    let cdp = CrlDistributionPoints(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![uri(
            &urls.crl(issuer_name)
        )?])),
        reasons: None,
        crl_issuer: None,
    }]);
    let aia = AuthorityInfoAccessSyntax(vec![
        AccessDescription {
            access_method: ID_AD_OCSP,
            access_location: uri(&urls.ocsp())?,
        },
        AccessDescription {
            access_method: ID_AD_CA_ISSUERS,
            access_location: uri(&urls.cert(issuer_name))?,
        },
    ]);
    Ok((cdp, aia))
}

fn name(common_name: &str) -> Result<Name, PkiError> {
    // Commas and plus signs would split the RDN string.
    let cn = common_name.replace([',', '+', '=', '"', '\\'], " ");
    Name::from_str(&format!("CN={cn},O=DPMPTSP Kabupaten Karo,C=ID")).map_err(enc)
}

fn validity(days: u64, cap: Option<&Certificate>) -> Result<Validity, PkiError> {
    let mut v = Validity::from_now(Duration::from_secs(days * 86_400)).map_err(enc)?;
    // Never beyond the issuer's own end.
    if let Some(issuer) = cap {
        let end = issuer.tbs_certificate.validity.not_after;
        if end.to_unix_duration() < v.not_after.to_unix_duration() {
            v.not_after = end;
        }
    }
    Ok(v)
}

/// A self-signed root CA (basicConstraints cA critical, keyCertSign + cRLSign, SKI).
pub fn new_root(common_name: &str, years: u64) -> Result<SigningIdentity, PkiError> {
    let key = new_rsa_key()?;
    let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone());
    let spki = spki::SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).map_err(enc)?;
    let builder = CertificateBuilder::new(
        Profile::Root,
        crate::keys::random_serial()?,
        validity(years * 365, None)?,
        name(common_name)?,
        spki,
        &signer,
    )
    .map_err(enc)?;
    let certificate = builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(|e| PkiError::Sign(e.to_string()))?;
    Ok(SigningIdentity::new(key, certificate, Vec::new()))
}

/// An intermediate CA issued by `parent` (published as `parent_name`): cA critical with
/// `path_len`, keyCertSign + cRLSign, AKI/SKI, CDP and AIA to the parent's data at `urls`.
pub fn issue_ca(
    parent: &SigningIdentity,
    parent_name: &str,
    common_name: &str,
    years: u64,
    path_len: Option<u8>,
    urls: &PkiUrls,
) -> Result<SigningIdentity, PkiError> {
    let key = new_rsa_key()?;
    let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(parent.key.clone());
    let spki = spki::SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).map_err(enc)?;
    let mut builder = CertificateBuilder::new(
        Profile::SubCA {
            issuer: parent.certificate.tbs_certificate.subject.clone(),
            path_len_constraint: path_len,
        },
        crate::keys::random_serial()?,
        validity(years * 365, Some(&parent.certificate))?,
        name(common_name)?,
        spki,
        &signer,
    )
    .map_err(enc)?;
    let (cdp, aia) = revocation_pointers(urls, parent_name)?;
    builder.add_extension(&cdp).map_err(enc)?;
    builder.add_extension(&aia).map_err(enc)?;
    let certificate = builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(|e| PkiError::Sign(e.to_string()))?;
    let mut chain = vec![parent.certificate.clone()];
    chain.extend(parent.chain.iter().cloned());
    Ok(SigningIdentity::new(key, certificate, chain))
}

/// An end-entity certificate issued by `ca` (cA false, digitalSignature + nonRepudiation,
/// AKI/SKI), with CDP and AIA to `ca`'s data when `pointers` names where (`ca_name` at `urls`).
pub fn issue_leaf(
    ca: &SigningIdentity,
    common_name: &str,
    days: u64,
    kind: LeafKind,
    pointers: Option<(&PkiUrls, &str)>,
) -> Result<SigningIdentity, PkiError> {
    let key = new_rsa_key()?;
    let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(ca.key.clone());
    let spki = spki::SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).map_err(enc)?;
    let mut builder = CertificateBuilder::new(
        Profile::Leaf {
            issuer: ca.certificate.tbs_certificate.subject.clone(),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        },
        crate::keys::random_serial()?,
        validity(days, Some(&ca.certificate))?,
        name(common_name)?,
        spki,
        &signer,
    )
    .map_err(enc)?;
    match kind {
        LeafKind::Signer => {}
        LeafKind::Tsa => builder
            .add_extension(&ExtendedKeyUsage(vec![ID_KP_TIME_STAMPING]))
            .map_err(enc)?,
        LeafKind::OcspResponder => {
            builder
                .add_extension(&ExtendedKeyUsage(vec![ID_KP_OCSP_SIGNING]))
                .map_err(enc)?;
            builder.add_extension(&OcspNoCheck).map_err(enc)?;
        }
    }
    // A responder certificate carries no pointers: nobody checks it (ocsp-nocheck).
    if let (Some((urls, ca_name)), false) = (pointers, kind == LeafKind::OcspResponder) {
        let (cdp, aia) = revocation_pointers(urls, ca_name)?;
        builder.add_extension(&cdp).map_err(enc)?;
        builder.add_extension(&aia).map_err(enc)?;
    }
    let certificate = builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(|e| PkiError::Sign(e.to_string()))?;
    let mut chain = vec![ca.certificate.clone()];
    chain.extend(ca.chain.iter().cloned());
    Ok(SigningIdentity::new(key, certificate, chain))
}

fn time(t: SystemTime) -> Result<Time, PkiError> {
    // Whole seconds: DER times have no fractions here.
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(enc)?
        .as_secs();
    Time::try_from(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)).map_err(enc)
}

fn gtime(t: SystemTime) -> Result<OcspGeneralizedTime, PkiError> {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(enc)?
        .as_secs();
    OcspGeneralizedTime::try_from(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)).map_err(enc)
}

/// A CRL (v2, DER) by `ca` listing `revoked` (entries of other issuers are left out), with the
/// CRL number `number`, AKI, thisUpdate and nextUpdate; each entry with its reason (none for
/// unspecified, as RFC 5280 §5.3.1 asks).
pub fn build_crl(
    ca: &SigningIdentity,
    revoked: &[Revoked],
    this_update: SystemTime,
    next_update: SystemTime,
    number: u64,
) -> Result<Vec<u8>, PkiError> {
    let fast = ca.fast().map_err(PkiError::Sign)?;
    let signature_algorithm = fast.signature_algorithm_identifier().map_err(enc)?;
    let issuer_id = key_id(&ca.certificate);
    let mut entries = Vec::new();
    for r in revoked.iter().filter(|r| r.issuer_key_id == issuer_id) {
        let extensions = if r.reason == CrlReason::Unspecified {
            None
        } else {
            Some(vec![
                r.reason
                    .to_extension(&ca.certificate.tbs_certificate.subject, &[])
                    .map_err(enc)?,
            ])
        };
        entries.push(RevokedCert {
            serial_number: x509_cert::serial_number::SerialNumber::new(&r.serial).map_err(enc)?,
            revocation_date: time(r.revoked_at)?,
            crl_entry_extensions: extensions,
        });
    }
    let subject = &ca.certificate.tbs_certificate.subject;
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(ski_or_key_id(&ca.certificate)).map_err(enc)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let crl_number = CrlNumber(der::asn1::Uint::new(&number.to_be_bytes()).map_err(enc)?);
    let tbs = TbsCertList {
        version: x509_cert::Version::V2,
        signature: signature_algorithm.clone(),
        issuer: subject.clone(),
        this_update: time(this_update)?,
        next_update: Some(time(next_update)?),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(vec![
            aki.to_extension(subject, &[]).map_err(enc)?,
            crl_number.to_extension(subject, &[]).map_err(enc)?,
        ]),
    };
    let tbs_der = tbs.to_der().map_err(enc)?;
    let signature = signature::Signer::<rsa::pkcs1v15::Signature>::try_sign(fast, &tbs_der)
        .map_err(|e| PkiError::Sign(e.to_string()))?;
    let signature = spki::SignatureBitStringEncoding::to_bitstring(&signature).map_err(enc)?;
    CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm,
        signature,
    }
    .to_der()
    .map_err(enc)
}

/// The CA's SubjectKeyIdentifier when it has one (so a CRL's AKI matches what path builders
/// compare), else [`key_id`].
fn ski_or_key_id(cert: &Certificate) -> Vec<u8> {
    use x509_cert::ext::pkix::SubjectKeyIdentifier;
    cert.tbs_certificate
        .get::<SubjectKeyIdentifier>()
        .ok()
        .flatten()
        .map(|(_, ski)| ski.0.as_bytes().to_vec())
        .unwrap_or_else(|| key_id(cert))
}

/// An OCSPResponse `tryLater` (the revocation records cannot be read just now).
pub fn ocsp_try_later() -> Vec<u8> {
    OcspResponse::try_later().to_der().unwrap_or_default()
}

/// An OCSPResponse `internalError`.
pub fn ocsp_internal_error() -> Vec<u8> {
    OcspResponse::internal_error().to_der().unwrap_or_default()
}

/// One CA as the responder and the CRL issuer see it.
#[derive(Clone)]
pub struct CaEntry {
    /// Its URL name (`/pki/<name>.crl`).
    pub name: String,
    /// Certificate and key.
    pub ca: SigningIdentity,
    /// A delegated OCSP responder (certificate issued by `ca` with OCSPSigning); `ca` answers
    /// itself without one, or once it has expired.
    pub responder: Option<SigningIdentity>,
    /// Every certificate `ca` issued that the responder knows (others are `unknown`).
    pub issued: Vec<Certificate>,
}

impl std::fmt::Debug for CaEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaEntry")
            .field("name", &self.name)
            .field("ca", &self.ca)
            .field("issued", &self.issued.len())
            .finish_non_exhaustive()
    }
}

/// What the responder says about one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertState {
    Good,
    Revoked { at: SystemTime, reason: CrlReason },
    Unknown,
}

/// The CAs of one key folder (or simulator).
#[derive(Debug, Clone, Default)]
pub struct Pki {
    pub cas: Vec<CaEntry>,
}

fn hash_for(alg: &ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    use openssl::hash::{MessageDigest, hash};
    let md = match alg.to_string().as_str() {
        "1.3.14.3.2.26" => MessageDigest::sha1(),
        "2.16.840.1.101.3.4.2.1" => MessageDigest::sha256(),
        "2.16.840.1.101.3.4.2.2" => MessageDigest::sha384(),
        "2.16.840.1.101.3.4.2.3" => MessageDigest::sha512(),
        _ => return None,
    };
    hash(md, data).ok().map(|d| d.to_vec())
}

impl Pki {
    pub fn ca(&self, name: &str) -> Option<&CaEntry> {
        self.cas.iter().find(|c| c.name == name)
    }

    /// The CA an OCSP CertID names (issuerNameHash and issuerKeyHash under its hash).
    fn ca_for(&self, id: &CertId) -> Option<&CaEntry> {
        let alg = &id.hash_algorithm.oid;
        self.cas.iter().find(|c| {
            let tbs = &c.ca.certificate.tbs_certificate;
            let Ok(name_der) = tbs.subject.to_der() else {
                return false;
            };
            let key = tbs.subject_public_key_info.subject_public_key.raw_bytes();
            hash_for(alg, &name_der).as_deref() == Some(id.issuer_name_hash.as_bytes())
                && hash_for(alg, key).as_deref() == Some(id.issuer_key_hash.as_bytes())
        })
    }

    /// The state of the certificate `serial` issued by `ca` given the revocations `revoked`.
    pub fn state(ca: &CaEntry, serial: &[u8], revoked: &[Revoked]) -> CertState {
        let issuer = key_id(&ca.ca.certificate);
        if let Some(r) = revoked
            .iter()
            .find(|r| r.issuer_key_id == issuer && r.serial == serial)
        {
            return CertState::Revoked {
                at: r.revoked_at,
                reason: r.reason,
            };
        }
        if ca.issued.iter().any(|c| serial_of(c) == serial) {
            CertState::Good
        } else {
            CertState::Unknown
        }
    }

    /// The CRL of the CA named `name` at `now` (number = `now` in Unix seconds, so later CRLs
    /// from any instance carry larger numbers).
    pub fn crl(
        &self,
        name: &str,
        revoked: &[Revoked],
        now: SystemTime,
    ) -> Option<Result<Vec<u8>, PkiError>> {
        let ca = self.ca(name)?;
        let number = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Some(build_crl(&ca.ca, revoked, now, now + CRL_VALIDITY, number))
    }

    /// The DER OCSPResponse to an OCSPRequest (DER): `malformedRequest` when it does not parse
    /// or asks nothing, `unauthorized` when it names none of our CAs, else one signed answer
    /// per request (good / revoked with time and reason / unknown), thisUpdate = `now`,
    /// nextUpdate = `now` + [`OCSP_VALIDITY`], the nonce echoed. Requests for another CA than
    /// the first's are answered `unknown` (one responder signs one response).
    pub fn ocsp(&self, request: &[u8], revoked: &[Revoked], now: SystemTime) -> Vec<u8> {
        let fallback = |r: OcspResponse| r.to_der().unwrap_or_default();
        let Ok(req) = OcspRequest::from_der(request) else {
            return fallback(OcspResponse::malformed_request());
        };
        let list = &req.tbs_request.request_list;
        let Some(first) = list.first() else {
            return fallback(OcspResponse::malformed_request());
        };
        let Some(ca) = self.ca_for(&first.req_cert) else {
            return fallback(OcspResponse::unauthorized());
        };
        match self.answer(ca, &req, revoked, now) {
            Ok(der) => der,
            Err(_) => fallback(OcspResponse::internal_error()),
        }
    }

    fn answer(
        &self,
        ca: &CaEntry,
        req: &OcspRequest,
        revoked: &[Revoked],
        now: SystemTime,
    ) -> Result<Vec<u8>, PkiError> {
        let this_update = gtime(now)?;
        let next_update = gtime(now + OCSP_VALIDITY)?;
        // The delegated responder while it is valid, else the CA itself.
        let responder = ca
            .responder
            .as_ref()
            .filter(|r| {
                let v = &r.certificate.tbs_certificate.validity;
                v.not_before.to_system_time() <= now && now < v.not_after.to_system_time()
            })
            .unwrap_or(&ca.ca);
        let mut builder = x509_ocsp::builder::OcspResponseBuilder::new(
            responder.certificate.tbs_certificate.subject.clone(),
        );
        for r in &req.tbs_request.request_list {
            let id = &r.req_cert;
            let state = if self.ca_for(id).is_some_and(|c| c.name == ca.name) {
                Self::state(ca, id.serial_number.as_bytes(), revoked)
            } else {
                CertState::Unknown
            };
            let status = match state {
                CertState::Good => CertStatus::good(),
                CertState::Unknown => CertStatus::unknown(),
                CertState::Revoked { at, reason } => CertStatus::revoked(RevokedInfo {
                    revocation_time: gtime(at)?,
                    revocation_reason: Some(reason),
                }),
            };
            builder = builder.with_single_response(
                SingleResponse::new(id.clone(), status, this_update).with_next_update(next_update),
            );
        }
        if let Some(nonce) = req.nonce() {
            builder = builder.with_extension(nonce).map_err(enc)?;
        }
        let mut signer = responder.fast().map_err(PkiError::Sign)?.clone();
        let certs = (!std::ptr::eq(responder, &ca.ca)).then(|| vec![responder.certificate.clone()]);
        let response = builder
            .sign::<_, rsa::pkcs1v15::Signature>(&mut signer, certs, this_update)
            .map_err(|e| PkiError::Sign(e.to_string()))?;
        response.to_der().map_err(enc)
    }

    /// The CAs of a key folder: the root (`ca.pem` + `ca-key.pem`) and, when present, the
    /// issuing CA with its delegated responder. `issued.pem` and the signer's certificate make
    /// the list of issued certificates. A CA without its key is left out (its data cannot be
    /// signed here).
    pub fn load_dir(dir: &Path) -> Result<Pki, PkiError> {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
        let files_err = |f: &str, e: &dyn std::fmt::Display| {
            PkiError::Files(format!("{}: {e}", dir.join(f).display()))
        };
        let mut known: Vec<Certificate> = Vec::new();
        for f in [files::ISSUED, files::SIGNER_CHAIN, files::OCSP_CHAIN] {
            if let Some(pem) = read(f) {
                let certs =
                    Certificate::load_pem_chain(pem.as_bytes()).map_err(|e| files_err(f, &e))?;
                known.extend(certs);
            }
        }
        let mut pki = Pki::default();
        let load = |cert: &str, key: &str| -> Result<Option<SigningIdentity>, PkiError> {
            match (read(key), read(cert)) {
                (Some(k), Some(c)) => SigningIdentity::from_pem(&k, &c)
                    .map(Some)
                    .map_err(|e| files_err(cert, &e)),
                _ => Ok(None),
            }
        };
        let responder = load(files::OCSP_CHAIN, files::OCSP_KEY)?;
        for (name, cert, key) in [
            (ROOT_NAME, files::ROOT_CERT, files::ROOT_KEY),
            (ISSUING_NAME, files::ISSUING_CERT, files::ISSUING_KEY),
        ] {
            let Some(ca) = load(cert, key)? else { continue };
            known.push(ca.certificate.clone());
            let subject = &ca.certificate.tbs_certificate.subject;
            let mut issued: Vec<Certificate> = Vec::new();
            for c in &known {
                if &c.tbs_certificate.issuer == subject
                    && c != &ca.certificate
                    && !issued.contains(c)
                {
                    issued.push(c.clone());
                }
            }
            let responder = responder
                .clone()
                .filter(|r| r.certificate.tbs_certificate.issuer == *subject);
            pki.cas.push(CaEntry {
                name: name.into(),
                ca,
                responder,
                issued,
            });
        }
        // The issuing CA is issued by the root: list it under the root now that both are read.
        if let Some(issuing) = pki.ca(ISSUING_NAME).map(|c| c.ca.certificate.clone())
            && let Some(root) = pki.cas.iter_mut().find(|c| c.name == ROOT_NAME)
            && issuing.tbs_certificate.issuer == root.ca.certificate.tbs_certificate.subject
            && !root.issued.contains(&issuing)
        {
            root.issued.push(issuing);
        }
        Ok(pki)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip() {
        for r in REASONS {
            assert_eq!(parse_reason(reason_name(r)), Some(r));
            assert_eq!(reason_from_code(reason_code(r).into()), Some(r));
        }
        assert_eq!(
            parse_reason("KEYCOMPROMISE"),
            Some(CrlReason::KeyCompromise)
        );
        assert_eq!(parse_reason("removeFromCRL"), None);
        assert_eq!(parse_reason(""), None);
    }

    #[test]
    fn garbage_ocsp_is_malformed() {
        let pki = Pki::default();
        for junk in [
            &b""[..],
            b"\x30\x00",
            b"not der at all",
            &[0x30, 0x84, 0xff, 0xff],
        ] {
            let der = pki.ocsp(junk, &[], SystemTime::now());
            let r = OcspResponse::from_der(&der).expect("a response");
            assert_eq!(
                r.response_status,
                x509_ocsp::OcspResponseStatus::MalformedRequest
            );
        }
    }
}
