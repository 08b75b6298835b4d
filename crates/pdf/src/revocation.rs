//! Revocation evidence carried by a signed PDF — the DSS (`/CRLs`, `/OCSPs`), the CMS's own
//! revocation choices and Adobe's revocation archival attribute — and what it says about one
//! certificate at one moment. Signatures and responder authority are checked by OpenSSL (CRL
//! signature, `OCSP_basic_verify`); this module only picks the evidence and compares dates.

use chrono::{DateTime, NaiveDateTime, Utc};
use cms::signed_data::{SignedData, SignerInfo};
use const_oid::ObjectIdentifier;
use der::asn1::Any;
use der::{Decode, Encode};
use openssl::hash::MessageDigest;
use openssl::ocsp::{OcspCertId, OcspCertStatus, OcspFlag, OcspResponse, OcspResponseStatus};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{CrlStatus, X509, X509Crl};

/// Adobe's `adbe-revocationInfoArchival` signed attribute.
const ADBE_REVOCATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113583.1.1.8");
/// `id-ri-ocsp-response`: an OCSP response among the CMS's revocation choices (RFC 5940).
const RI_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.16.2");

/// `RevocationInfoArchival ::= SEQUENCE { crl [0] EXPLICIT SEQUENCE OF CRL OPTIONAL,
/// ocsp [1] EXPLICIT SEQUENCE OF OCSPResponse OPTIONAL, otherRevInfo [2] … OPTIONAL }`.
#[derive(der::Sequence)]
struct RevocationInfoArchival {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    crl: Option<Vec<Any>>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    ocsp: Option<Vec<Any>>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    other: Option<Any>,
}

/// CRLs and OCSP responses found in a file, DER as stored.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    crls: Vec<Vec<u8>>,
    ocsps: Vec<Vec<u8>>,
}

/// What the evidence says about a certificate at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Not revoked, by a CRL or an OCSP response that covers the moment.
    Good { source: Source },
    /// Revoked at `at` (which may be after the moment: then the signature made before stands).
    Revoked { at: DateTime<Utc>, source: Source },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Crl,
    Ocsp,
}

impl Evidence {
    pub fn is_empty(&self) -> bool {
        self.crls.is_empty() && self.ocsps.is_empty()
    }

    /// The document-level store (`/DSS` of the file's last revision), when the file has one.
    pub fn from_dss(pdf: &[u8]) -> Self {
        let mut e = Self::default();
        if !pdf.windows(4).any(|w| w == b"/DSS") {
            return e;
        }
        let Ok(doc) = lopdf::Document::load_mem(pdf) else {
            return e;
        };
        let deref = |o: &lopdf::Object| -> Option<lopdf::Object> {
            match o {
                lopdf::Object::Reference(id) => doc.get_object(*id).ok().cloned(),
                other => Some(other.clone()),
            }
        };
        let Some(dss) = doc
            .trailer
            .get(b"Root")
            .ok()
            .and_then(deref)
            .and_then(|root| {
                root.as_dict()
                    .ok()
                    .and_then(|d| d.get(b"DSS").ok().cloned())
            })
            .and_then(|d| deref(&d))
        else {
            return e;
        };
        let Ok(dss) = dss.as_dict() else {
            return e;
        };
        for (key, out) in [(&b"CRLs"[..], &mut e.crls), (b"OCSPs", &mut e.ocsps)] {
            let Some(items) = dss.get(key).ok().and_then(deref) else {
                continue;
            };
            let Ok(items) = items.as_array() else {
                continue;
            };
            for item in items {
                if let Some(lopdf::Object::Stream(s)) = deref(item) {
                    let bytes = s
                        .decompressed_content()
                        .unwrap_or_else(|_| s.content.clone());
                    out.push(bytes);
                }
            }
        }
        e
    }

    /// Adds what the signature's CMS carries: its `crls` choices and Adobe's attribute.
    pub fn add_cms(&mut self, sd: &SignedData, si: &SignerInfo) {
        if let Some(choices) = &sd.crls {
            for choice in choices.0.iter() {
                match choice {
                    cms::revocation::RevocationInfoChoice::Crl(crl) => {
                        if let Ok(der) = crl.to_der() {
                            self.crls.push(der);
                        }
                    }
                    cms::revocation::RevocationInfoChoice::Other(other)
                        if other.other_format.oid == RI_OCSP =>
                    {
                        if let Ok(der) = other.other.to_der() {
                            self.ocsps.push(der);
                        }
                    }
                    _ => {}
                }
            }
        }
        let archival = si
            .signed_attrs
            .iter()
            .flat_map(|attrs| attrs.iter())
            .filter(|a| a.oid == ADBE_REVOCATION)
            .flat_map(|a| a.values.iter());
        for value in archival {
            let Ok(der) = value.to_der() else { continue };
            let Ok(info) = RevocationInfoArchival::from_der(&der) else {
                continue;
            };
            for (list, out) in [(info.crl, &mut self.crls), (info.ocsp, &mut self.ocsps)] {
                for item in list.unwrap_or_default() {
                    if let Ok(der) = item.to_der() {
                        out.push(der);
                    }
                }
            }
        }
    }

    /// What the evidence says of `cert` (issued by `issuer`) at `at`: a revocation any CRL or
    /// OCSP response of its issuer records (whenever it happened), else "good" when one that
    /// covers `at` says so; `None` when nothing here speaks for that moment. `trusted` are the
    /// certificates an OCSP responder may chain to (the issuer and the anchors).
    pub fn status(
        &self,
        cert: &X509,
        issuer: &X509,
        trusted: &[X509],
        at: DateTime<Utc>,
    ) -> Option<Status> {
        let mut good = None;
        for der in &self.crls {
            match crl_status(der, cert, issuer, at) {
                Some(s @ Status::Revoked { .. }) => return Some(s),
                Some(s) => good = Some(s),
                None => {}
            }
        }
        for der in &self.ocsps {
            match ocsp_status(der, cert, issuer, trusted, at) {
                Some(s @ Status::Revoked { .. }) => return Some(s),
                Some(s) => good = good.or(Some(s)),
                None => {}
            }
        }
        good
    }
}

fn asn1_time(t: &openssl::asn1::Asn1TimeRef) -> Option<DateTime<Utc>> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let d = epoch.diff(t).ok()?;
    DateTime::from_timestamp(i64::from(d.days) * 86_400 + i64::from(d.secs), 0)
}

/// OpenSSL prints a GeneralizedTime as `Dec  2 03:21:04 2026 GMT` (seconds may carry a
/// fraction); there is no other accessor for it.
fn generalized_time(t: &openssl::asn1::Asn1GeneralizedTimeRef) -> Option<DateTime<Utc>> {
    let text = t.to_string();
    ["%b %e %H:%M:%S %Y GMT", "%b %e %H:%M:%S%.f %Y GMT"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&text, f).ok())
        .map(|n| n.and_utc())
}

/// A CRL speaks for `at` when it was issued at or after it, or is still current then.
fn covers(
    this_update: Option<DateTime<Utc>>,
    next_update: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> bool {
    this_update.is_some_and(|t| t >= at) || next_update.is_some_and(|n| n >= at)
}

fn crl_status(der: &[u8], cert: &X509, issuer: &X509, at: DateTime<Utc>) -> Option<Status> {
    let crl = X509Crl::from_der(der).ok()?;
    let same_issuer = crl.issuer_name().to_der().ok()? == issuer.subject_name().to_der().ok()?;
    if !same_issuer || !crl.verify(issuer.public_key().ok()?.as_ref()).ok()? {
        return None;
    }
    match crl.get_by_cert(cert) {
        CrlStatus::Revoked(entry) => Some(Status::Revoked {
            at: asn1_time(entry.revocation_date())?,
            source: Source::Crl,
        }),
        CrlStatus::NotRevoked | CrlStatus::RemoveFromCrl(_) => {
            let this = asn1_time(crl.last_update());
            let next = crl.next_update().and_then(asn1_time);
            covers(this, next, at).then_some(Status::Good {
                source: Source::Crl,
            })
        }
    }
}

fn ocsp_status(
    der: &[u8],
    cert: &X509,
    issuer: &X509,
    trusted: &[X509],
    at: DateTime<Utc>,
) -> Option<Status> {
    let response = OcspResponse::from_der(der).ok()?;
    if response.status() != OcspResponseStatus::SUCCESSFUL {
        return None;
    }
    let basic = response.basic().ok()?;
    let mut store = X509StoreBuilder::new().ok()?;
    for c in trusted.iter().chain(std::iter::once(issuer)) {
        let _ = store.add_cert(c.clone());
    }
    // The responder's certificate is judged when the response says it answered, not today.
    let mut param = openssl::x509::verify::X509VerifyParam::new().ok()?;
    param.set_time(at.timestamp() as _);
    store.set_param(&param).ok()?;
    let store = store.build();
    // The responder is the issuer itself or a delegate the response carries; responses that
    // leave out the issuer's certificate are found through this list.
    let mut certs = Stack::<X509>::new().ok()?;
    certs.push(issuer.clone()).ok()?;
    basic.verify(&certs, &store, OcspFlag::empty()).ok()?;
    let id = OcspCertId::from_cert(MessageDigest::sha1(), cert, issuer).ok()?;
    let status = basic.find_status(&id)?;
    if status.status == OcspCertStatus::REVOKED {
        return Some(Status::Revoked {
            at: status.revocation_time.and_then(generalized_time)?,
            source: Source::Ocsp,
        });
    }
    if status.status != OcspCertStatus::GOOD {
        return None;
    }
    let this = generalized_time(status.this_update);
    let next = status.next_update().and_then(generalized_time);
    covers(this, next, at).then_some(Status::Good {
        source: Source::Ocsp,
    })
}

/// `id-ad-ocsp` in an authorityInfoAccess.
const ID_AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");

impl Evidence {
    /// Evidence from CRLs and OCSP responses (DER) got elsewhere, e.g. fetched online.
    pub fn from_parts(crls: Vec<Vec<u8>>, ocsps: Vec<Vec<u8>>) -> Self {
        Self { crls, ocsps }
    }

    /// Adds what `other` holds.
    pub fn extend(&mut self, other: &Evidence) {
        for (from, to) in [
            (&other.crls, &mut self.crls),
            (&other.ocsps, &mut self.ocsps),
        ] {
            for item in from {
                if !to.contains(item) {
                    to.push(item.clone());
                }
            }
        }
    }

    pub fn crls(&self) -> &[Vec<u8>] {
        &self.crls
    }

    pub fn ocsps(&self) -> &[Vec<u8>] {
        &self.ocsps
    }
}

fn extension(
    cert: &x509_cert::Certificate,
    oid: ObjectIdentifier,
) -> Option<&x509_cert::ext::Extension> {
    cert.tbs_certificate
        .extensions
        .as_deref()?
        .iter()
        .find(|e| e.extn_id == oid)
}

fn uri(name: &x509_cert::ext::pkix::name::GeneralName) -> Option<String> {
    match name {
        x509_cert::ext::pkix::name::GeneralName::UniformResourceIdentifier(u) => {
            let s = u.as_str();
            (s.starts_with("http://") || s.starts_with("https://")).then(|| s.to_string())
        }
        _ => None,
    }
}

/// The OCSP responders a certificate names (authorityInfoAccess, http(s) only).
pub fn ocsp_urls(cert: &x509_cert::Certificate) -> Vec<String> {
    use x509_cert::ext::pkix::AuthorityInfoAccessSyntax;
    extension(cert, const_oid::db::rfc5280::ID_PE_AUTHORITY_INFO_ACCESS)
        .and_then(|e| AuthorityInfoAccessSyntax::from_der(e.extn_value.as_bytes()).ok())
        .map(|aia| {
            aia.0
                .iter()
                .filter(|d| d.access_method == ID_AD_OCSP)
                .filter_map(|d| uri(&d.access_location))
                .collect()
        })
        .unwrap_or_default()
}

/// The CRL distribution points a certificate names (full names, http(s) only).
pub fn crl_urls(cert: &x509_cert::Certificate) -> Vec<String> {
    use x509_cert::ext::pkix::CrlDistributionPoints;
    use x509_cert::ext::pkix::name::DistributionPointName;
    extension(cert, const_oid::db::rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS)
        .and_then(|e| CrlDistributionPoints::from_der(e.extn_value.as_bytes()).ok())
        .map(|points| {
            points
                .0
                .iter()
                .filter_map(|p| match &p.distribution_point {
                    Some(DistributionPointName::FullName(names)) => {
                        Some(names.iter().filter_map(uri).collect::<Vec<_>>())
                    }
                    _ => None,
                })
                .flatten()
                .collect()
        })
        .unwrap_or_default()
}

/// A DER OCSPRequest for `cert` issued by `issuer` (SHA-1 CertID, as RFC 6960 responders
/// expect; no nonce, so the answer can be cached until its nextUpdate).
pub fn ocsp_request(cert: &X509, issuer: &X509) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let id = OcspCertId::from_cert(MessageDigest::sha1(), cert, issuer)?;
    let mut req = openssl::ocsp::OcspRequest::new()?;
    req.add_id(id)?;
    req.to_der()
}

/// Until when a CRL speaks (its nextUpdate), if it says.
pub fn crl_next_update(der: &[u8]) -> Option<DateTime<Utc>> {
    X509Crl::from_der(der)
        .ok()?
        .next_update()
        .and_then(asn1_time)
}

/// Until when an OCSP response about `cert` speaks (its nextUpdate), if it says.
pub fn ocsp_next_update(der: &[u8], cert: &X509, issuer: &X509) -> Option<DateTime<Utc>> {
    let basic = OcspResponse::from_der(der).ok()?.basic().ok()?;
    let id = OcspCertId::from_cert(MessageDigest::sha1(), cert, issuer).ok()?;
    let status = basic.find_status(&id)?;
    status.next_update().and_then(generalized_time)
}

/// `OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, responseBytes [0] EXPLICIT
/// ResponseBytes OPTIONAL }`, read only as far as the certificates it carries.
#[derive(der::Sequence)]
struct OcspResponseShell {
    status: Any,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    bytes: Option<ResponseBytes>,
}

#[derive(der::Sequence)]
struct ResponseBytes {
    kind: ObjectIdentifier,
    response: der::asn1::OctetString,
}

#[derive(der::Sequence)]
struct BasicResponseShell {
    tbs: Any,
    algorithm: Any,
    signature: Any,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    certs: Option<Vec<Any>>,
}

/// The certificates (DER) an OCSP response carries: its responder's, for the DSS.
pub fn ocsp_certificates(der: &[u8]) -> Vec<Vec<u8>> {
    let Some(bytes) = OcspResponseShell::from_der(der).ok().and_then(|r| r.bytes) else {
        return Vec::new();
    };
    BasicResponseShell::from_der(bytes.response.as_bytes())
        .ok()
        .and_then(|b| b.certs)
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.to_der().ok())
        .collect()
}
