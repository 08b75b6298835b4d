//! Offline validation of a PDF's signatures, with no trust in the file's own claims: each
//! signature's byte ranges, its CMS (message digest, the RSA signature over the signed
//! attributes), the signer's chain up to a configured trust anchor, the RFC 3161 timestamp (its
//! imprint, its signature, its own chain) and whether the last signature covers the whole file.
//! Every check is its own line with a verdict in the three values of ETSI EN 319 102-1: passed,
//! failed, indeterminate. Pure: bytes and anchors in, a report out.
//!
//! Signatures are found by their `/ByteRange` arrays in the raw bytes (no object parsing), so a
//! broken or hostile file costs one linear scan and some DER decoding, never a full PDF parse.

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Decode, Encode};
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::Certificate;

/// The outcome of one check, or of the whole validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Indeterminate,
}

impl Outcome {
    /// The verdict as the public reads it.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Passed => "ASLI",
            Outcome::Failed => "TIDAK ASLI",
            Outcome::Indeterminate => "TIDAK DAPAT DIPASTIKAN",
        }
    }

    /// The verdict as the verification log stores it.
    pub fn key(self) -> &'static str {
        match self {
            Outcome::Passed => "asli",
            Outcome::Failed => "tidak_asli",
            Outcome::Indeterminate => "tidak_dapat_dipastikan",
        }
    }
}

/// One line of the report: the outcome and what it means, in Bahasa Indonesia.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub outcome: Outcome,
    pub detail: String,
}

impl Check {
    fn passed(d: impl Into<String>) -> Self {
        Check {
            outcome: Outcome::Passed,
            detail: d.into(),
        }
    }
    fn failed(d: impl Into<String>) -> Self {
        Check {
            outcome: Outcome::Failed,
            detail: d.into(),
        }
    }
    fn indeterminate(d: impl Into<String>) -> Self {
        Check {
            outcome: Outcome::Indeterminate,
            detail: d.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SignatureReport {
    /// The signer certificate's subject (`CN=…,O=…`), when the CMS carries it.
    pub signer: Option<String>,
    pub signer_common_name: Option<String>,
    pub issuer: Option<String>,
    pub certificate_valid_from: Option<chrono::DateTime<chrono::Utc>>,
    pub certificate_valid_to: Option<chrono::DateTime<chrono::Utc>>,
    /// The time from a valid timestamp, if any.
    pub timestamp_time: Option<chrono::DateTime<chrono::Utc>>,
    /// The signing time the signer claims in the signature dictionary (`/M`), as written.
    pub claimed_time: Option<String>,
    pub integrity: Check,
    pub coverage: Check,
    pub chain: Check,
    pub timestamp: Check,
    pub revocation: Check,
    /// "Tanda tangan mendukung LTV": the file carries what validation years later needs (the
    /// chain, revocation data, a timestamp), and whether a document timestamp protects it.
    /// Informational: the verdict stands on the other lines (which already demand long-term
    /// evidence once a certificate has expired).
    pub ltv: Check,
    /// When a later document timestamp (whose own chain still stands) proves this signature
    /// existed: the moment up to which its certificates had to stay valid.
    pub proven_by_document_timestamp: Option<chrono::DateTime<chrono::Utc>>,
    /// Made with one of this office's signing certificates (always true when the policy names
    /// none).
    pub office: bool,
    /// A document timestamp (`/SubFilter /ETSI.RFC3161`), not a person's signature.
    pub document_timestamp: bool,
    /// Where the signed bytes end.
    pub signed_end: usize,
}

impl SignatureReport {
    fn checks(&self) -> [&Check; 5] {
        [
            &self.integrity,
            &self.coverage,
            &self.chain,
            &self.timestamp,
            &self.revocation,
        ]
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    /// SHA-256 of the whole file (hex).
    pub sha256: String,
    pub signatures: Vec<SignatureReport>,
    pub outcome: Outcome,
    /// The main reason for the outcome, in Bahasa Indonesia.
    pub reason: String,
    /// The signature the verdict is about (the office's last one), when there is one.
    pub decisive: Option<usize>,
    /// Set when the file is validly signed, but by nobody of this office: who signed it.
    pub foreign_signer: Option<String>,
}

impl Report {
    /// The signature the verdict is about: the office's last signature, else the last one.
    pub fn last(&self) -> Option<&SignatureReport> {
        match self.decisive {
            Some(i) => self.signatures.get(i),
            None => self.signatures.last(),
        }
    }
}

/// What the validator trusts.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    /// Roots trusted for document signers.
    pub signer_anchors: &'a [Certificate],
    /// Roots trusted for timestamp authorities (a separate store: a TSA root does not vouch
    /// for signers, nor the reverse).
    pub tsa_anchors: &'a [Certificate],
    /// This office's signing certificates. `Some`: only a signature by one of them makes the
    /// document ASLI; `None`: not known here (any trusted signer counts).
    pub office: Option<&'a [Certificate]>,
}

/// Validates every signature of `pdf` against `anchors` (roots trusted for both signers and
/// timestamp authorities) at `now`, with no list of the office's certificates.
pub fn validate(pdf: &[u8], anchors: &[Certificate], now: chrono::DateTime<chrono::Utc>) -> Report {
    validate_with(
        pdf,
        &Policy {
            signer_anchors: anchors,
            tsa_anchors: anchors,
            office: None,
        },
        now,
    )
}

/// Validates every signature of `pdf` under `policy` at `now` (the validation time: tests and
/// "how will this read in 2037" inject a later one).
pub fn validate_with(
    pdf: &[u8],
    policy: &Policy<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> Report {
    validate_with_evidence(pdf, policy, now, &crate::revocation::Evidence::default())
}

/// [`validate_with`], with revocation data got from outside the file (fetched online by the
/// caller; checked here like the file's own). It decides the revocation line only where the
/// file carries nothing for a certificate, or when it records a revocation; the LTV line
/// stands on the file's own evidence alone.
pub fn validate_with_evidence(
    pdf: &[u8],
    policy: &Policy<'_>,
    now: chrono::DateTime<chrono::Utc>,
    online: &crate::revocation::Evidence,
) -> Report {
    let sha256 = hex::encode(Sha256::digest(pdf));
    let found = find_signatures(pdf);
    let end = effective_end(pdf);
    let dss = if found.is_empty() {
        crate::revocation::Evidence::default()
    } else {
        crate::revocation::Evidence::from_dss(pdf)
    };
    // Document timestamps first, from the last: each one's proof is the earliest later
    // document timestamp that covers it and stands; then the signatures, each proven by the
    // earliest standing document timestamp over its revision (ETSI EN 319 102-1 §5.6.2.3).
    let mut slots: Vec<Option<SignatureReport>> = vec![None; found.len()];
    let proof = |slots: &[Option<SignatureReport>], i: usize| {
        let signed_end = found[i].ranges[2] + found[i].ranges[3];
        slots
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.document_timestamp && f.ranges[1] >= signed_end)
            .filter_map(|(r, _)| r.as_ref().and_then(|r| r.timestamp_time))
            .min()
    };
    for i in (0..found.len())
        .rev()
        .filter(|&i| found[i].document_timestamp)
    {
        let p = proof(&slots, i);
        slots[i] = Some(check_signature(
            pdf,
            &found[i],
            policy,
            now,
            p,
            end,
            (&dss, online),
        ));
    }
    for i in (0..found.len()).filter(|&i| !found[i].document_timestamp) {
        let p = proof(&slots, i);
        slots[i] = Some(check_signature(
            pdf,
            &found[i],
            policy,
            now,
            p,
            end,
            (&dss, online),
        ));
    }
    let mut signatures: Vec<SignatureReport> = slots.into_iter().flatten().collect();
    let verdict = verdict(pdf, end, &mut signatures, policy);
    Report {
        sha256,
        signatures,
        outcome: verdict.outcome,
        reason: verdict.reason,
        decisive: verdict.decisive,
        foreign_signer: verdict.foreign_signer,
    }
}

/// The signer certificates of the file's signatures (document timestamps excluded), as the CMS
/// names them. No validation: for recording which certificates the office signs with.
pub fn signer_certificates(pdf: &[u8]) -> Vec<Certificate> {
    let mut out: Vec<Certificate> = Vec::new();
    for found in find_signatures(pdf) {
        if found.document_timestamp {
            continue;
        }
        let [_, b, c, _] = found.ranges;
        let Some(der) = unhex(&pdf[b + 1..c - 1]) else {
            continue;
        };
        let Ok(ci) = ContentInfo::from_der(trim_der(&der)) else {
            continue;
        };
        let Ok(sd) = ci.content.decode_as::<SignedData>() else {
            continue;
        };
        let certs = certificates(&sd);
        if let Some(cert) = sd
            .signer_infos
            .0
            .iter()
            .next()
            .and_then(|si| signer_certificate(si, &certs))
            && !out.contains(cert)
        {
            out.push(cert.clone());
        }
    }
    out
}

/// What long-term validation of one signature needs, as the file carries it (no validation:
/// for choosing what revocation data to fetch and where its VRI entry goes).
#[derive(Debug, Clone)]
pub struct SignatureMaterial {
    /// The `/Contents` bytes as stored, padding included (the VRI key's source).
    pub contents: Vec<u8>,
    pub document_timestamp: bool,
    /// The signer's certificate (a document timestamp's: its TSA's).
    pub signer: Option<Certificate>,
    /// The certificates its CMS carries.
    pub certs: Vec<Certificate>,
    /// The signature timestamp's TSA certificate and the token's certificates.
    pub tsa: Option<Certificate>,
    pub tsa_certs: Vec<Certificate>,
}

/// Every signature's [`SignatureMaterial`], in file order.
pub fn signature_material(pdf: &[u8]) -> Vec<SignatureMaterial> {
    let signer_of = |sd: &SignedData| {
        let certs = certificates(sd);
        let signer = sd
            .signer_infos
            .0
            .iter()
            .next()
            .and_then(|si| signer_certificate(si, &certs))
            .cloned();
        (signer, certs)
    };
    let mut out = Vec::new();
    for found in find_signatures(pdf) {
        let [_, b, c, _] = found.ranges;
        let Some(contents) = unhex(&pdf[b + 1..c - 1]) else {
            continue;
        };
        let Some(sd) = ContentInfo::from_der(trim_der(&contents))
            .ok()
            .and_then(|ci| ci.content.decode_as::<SignedData>().ok())
        else {
            continue;
        };
        let (signer, certs) = signer_of(&sd);
        let token = sd.signer_infos.0.iter().next().and_then(|si| {
            attribute(si.unsigned_attrs.as_ref(), ID_TIMESTAMP_TOKEN)
                .and_then(|t| t.decode_as::<ContentInfo>().ok())
                .and_then(|ci| ci.content.decode_as::<SignedData>().ok())
        });
        let (tsa, tsa_certs) = token.as_ref().map(signer_of).unwrap_or_default();
        out.push(SignatureMaterial {
            contents,
            document_timestamp: found.document_timestamp,
            signer,
            certs,
            tsa,
            tsa_certs,
        });
    }
    out
}

/// The file's end for coverage: whitespace after the last `%%EOF` is not a change (peers
/// tolerate a newline appended by a mail program or an editor).
fn effective_end(pdf: &[u8]) -> usize {
    let trimmed = pdf
        .iter()
        .rposition(|b| !b.is_ascii_whitespace() && *b != 0)
        .map_or(0, |i| i + 1);
    if pdf[..trimmed].ends_with(b"%%EOF") {
        trimmed
    } else {
        pdf.len()
    }
}

struct Verdict {
    outcome: Outcome,
    reason: String,
    decisive: Option<usize>,
    foreign_signer: Option<String>,
}

fn verdict(
    pdf: &[u8],
    end: usize,
    signatures: &mut [SignatureReport],
    policy: &Policy<'_>,
) -> Verdict {
    let plain = |outcome, reason: String, decisive| Verdict {
        outcome,
        reason,
        decisive,
        foreign_signer: None,
    };
    if signatures.is_empty() {
        return plain(
            Outcome::Failed,
            "Berkas ini tidak bertanda tangan elektronik.".into(),
            None,
        );
    }
    let n = signatures.len();
    let name_of = |i: usize, s: &SignatureReport| {
        let who = s
            .signer_common_name
            .clone()
            .unwrap_or_else(|| "tanpa nama".into());
        if n > 1 {
            format!("Tanda tangan ke-{} ({who})", i + 1)
        } else {
            format!("Tanda tangan ({who})")
        }
    };
    // Any broken signature makes the document untrustworthy, wherever it is.
    if let Some((i, broken)) = signatures
        .iter()
        .enumerate()
        .find(|(_, s)| s.integrity.outcome == Outcome::Failed)
    {
        let reason = if n > 1 {
            format!("{}: {}", name_of(i, broken), broken.integrity.detail)
        } else {
            broken.integrity.detail.clone()
        };
        return plain(Outcome::Failed, reason, Some(i));
    }
    // The verdict is about the office's last signature (a person's, not a document timestamp).
    let office = signatures
        .iter()
        .rposition(|s| s.office && !s.document_timestamp);
    let Some(o) = office else {
        let valid_other = signatures.iter().rposition(|s| {
            !s.document_timestamp
                && s.integrity.outcome == Outcome::Passed
                && s.chain.outcome == Outcome::Passed
        });
        if let (Some(_), Some(i)) = (policy.office, valid_other) {
            let who = signatures[i]
                .signer_common_name
                .clone()
                .or_else(|| signatures[i].signer.clone())
                .unwrap_or_else(|| "penanda tangan lain".into());
            return Verdict {
                outcome: Outcome::Failed,
                reason: format!(
                    "Ditandatangani secara sah oleh {who}, tetapi bukan dokumen yang diterbitkan DPMPTSP Kabupaten Karo."
                ),
                decisive: Some(i),
                foreign_signer: Some(who),
            };
        }
        // Nobody of the office signed; say why the last signature does not stand.
        let last = n - 1;
        return decide(
            &signatures[last],
            last,
            &name_of(last, &signatures[last]),
            n,
        );
    };
    // Everything after the office's signature must be a long-term-validation update.
    let s = &mut signatures[o];
    if s.signed_end < end {
        match crate::revisions::permitted_after(pdf, s.signed_end) {
            Ok(kinds) => {
                s.coverage = Check::passed(format!(
                    "Setelah tanda tangan ini hanya ditambahkan data validasi ({}).",
                    kinds.join(", ")
                ));
            }
            Err(crate::revisions::LaterChange::NotPermitted(what)) => {
                s.coverage = Check::failed(format!(
                    "Berkas diubah setelah tanda tangan kantor: {what}."
                ));
            }
            Err(crate::revisions::LaterChange::Unreadable(_)) => {
                s.coverage = Check::indeterminate(
                    "Bagian yang ditambahkan setelah tanda tangan kantor tidak dapat diperiksa.",
                );
            }
        }
    }
    let name = name_of(o, &signatures[o]);
    decide(&signatures[o], o, &name, n)
}

/// The verdict from one signature's lines: a failed line fails, an indeterminate one leaves it
/// open, else it stands.
fn decide(s: &SignatureReport, index: usize, name: &str, n: usize) -> Verdict {
    let with_name = |d: &str| {
        if n > 1 {
            format!("{name}: {d}")
        } else {
            d.to_string()
        }
    };
    for check in s.checks() {
        if check.outcome == Outcome::Failed {
            return Verdict {
                outcome: Outcome::Failed,
                reason: with_name(&check.detail),
                decisive: Some(index),
                foreign_signer: None,
            };
        }
    }
    for check in s.checks() {
        if check.outcome == Outcome::Indeterminate {
            return Verdict {
                outcome: Outcome::Indeterminate,
                reason: with_name(&check.detail),
                decisive: Some(index),
                foreign_signer: None,
            };
        }
    }
    Verdict {
        outcome: Outcome::Passed,
        reason:
            "Tanda tangan utuh, mencakup seluruh berkas, dan diterbitkan oleh penerbit tepercaya."
                .into(),
        decisive: Some(index),
        foreign_signer: None,
    }
}

/// A signature's place in the file: its byte ranges and its `/Contents` DER.
struct Found {
    ranges: [usize; 4],
    claimed_time: Option<String>,
    /// `/SubFilter /ETSI.RFC3161` in the same dictionary: a document timestamp.
    document_timestamp: bool,
}

const MAX_SIGNATURES: usize = 32;

/// Every well-formed `/ByteRange [0 b c d]` whose gap holds a hex string.
fn find_signatures(pdf: &[u8]) -> Vec<Found> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = find(&pdf[from..], b"/ByteRange").map(|i| i + from) {
        from = at + 10;
        let Some(ranges) = parse_ranges(&pdf[from..]) else {
            continue;
        };
        let [a, b, c, d] = ranges;
        let fits = a == 0
            && b < c
            && c.checked_add(d).is_some_and(|end| end <= pdf.len())
            && pdf.get(b) == Some(&b'<')
            && pdf.get(c - 1) == Some(&b'>');
        // A real file has a handful; a hostile one with thousands is cut short.
        if out.len() >= MAX_SIGNATURES {
            break;
        }
        if fits && !out.iter().any(|f: &Found| f.ranges == ranges) {
            // The dictionary's other keys sit near the ByteRange or right after the Contents.
            out.push(Found {
                ranges,
                claimed_time: claimed_time(pdf, at).or_else(|| claimed_time(pdf, c)),
                document_timestamp: in_dictionary(pdf, at, c, b"/ETSI.RFC3161"),
            });
        }
    }
    out
}

/// Whether `needle` stands in the signature dictionary whose `/ByteRange` is at `at` and whose
/// `/Contents` ends at `contents_end`: from the object's start (`obj`, at most 2 KB before) to
/// its `endobj` (at most 2 KB after the contents).
fn in_dictionary(pdf: &[u8], at: usize, contents_end: usize, needle: &[u8]) -> bool {
    let from = at.saturating_sub(2048);
    let start = pdf[from..at]
        .windows(3)
        .rposition(|w| w == b"obj")
        .map_or(from, |i| from + i);
    let to = (contents_end + 2048).min(pdf.len());
    let end = find(&pdf[contents_end.min(to)..to], b"endobj").map_or(to, |i| contents_end + i);
    find(&pdf[start..at], needle).is_some()
        || find(&pdf[contents_end.min(end)..end], needle).is_some()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_ranges(after: &[u8]) -> Option<[usize; 4]> {
    let window = &after[..after.len().min(120)];
    let open = window.iter().position(|&b| b == b'[')?;
    if window[..open].iter().any(|b| !b.is_ascii_whitespace()) {
        return None;
    }
    let close = window[open..].iter().position(|&b| b == b']')? + open;
    let text = std::str::from_utf8(&window[open + 1..close]).ok()?;
    let numbers: Vec<usize> = text
        .split_ascii_whitespace()
        .map(|n| n.parse().ok())
        .collect::<Option<_>>()?;
    numbers.try_into().ok()
}

/// The `/M (D:…)` near a `/ByteRange` (the same dictionary, in practice within a few hundred
/// bytes either side), as written.
fn claimed_time(pdf: &[u8], at: usize) -> Option<String> {
    let start = at.saturating_sub(600);
    let end = (at + 600).min(pdf.len());
    let window = &pdf[start..end];
    let m = find(window, b"/M (D:").or_else(|| find(window, b"/M(D:"))?;
    let rest = &window[m..];
    let open = rest.iter().position(|&b| b == b'(')?;
    let close = rest.iter().position(|&b| b == b')')?;
    (close > open)
        .then(|| String::from_utf8_lossy(&rest[open + 1..close]).into_owned())
        .filter(|t| t.len() < 40)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The hex string's bytes (whitespace allowed, odd length padded as PDF says).
fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .map(hex_value)
        .collect::<Option<_>>()?;
    Some(
        digits
            .chunks(2)
            .map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(0))
            .collect(),
    )
}

const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_TIMESTAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ID_CRL_DISTRIBUTION_POINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.31");
const ID_AUTHORITY_INFO_ACCESS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.1");

fn digest(alg: &ObjectIdentifier, parts: &[&[u8]]) -> Option<Vec<u8>> {
    fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut h = D::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().to_vec()
    }
    match *alg {
        ID_SHA256 => Some(run::<Sha256>(parts)),
        ID_SHA384 => Some(run::<Sha384>(parts)),
        ID_SHA512 => Some(run::<Sha512>(parts)),
        _ => None,
    }
}

/// Verifies an RSA PKCS#1 v1.5 signature by `cert`'s key over `message` with the hash `alg`
/// names (a digest OID, or a `…WithRSAEncryption` OID). `None`: not a supported algorithm.
fn rsa_verify(
    cert: &Certificate,
    alg: &ObjectIdentifier,
    message: &[u8],
    sig: &[u8],
) -> Option<bool> {
    use rsa::pkcs8::DecodePublicKey;
    use signature::Verifier;
    let spki = cert.tbs_certificate.subject_public_key_info.to_der().ok()?;
    if cert.tbs_certificate.subject_public_key_info.algorithm.oid != RSA_ENCRYPTION {
        return None;
    }
    let key = rsa::RsaPublicKey::from_public_key_der(&spki).ok()?;
    let signature = rsa::pkcs1v15::Signature::try_from(sig).ok()?;
    Some(match *alg {
        ID_SHA256 | SHA256_WITH_RSA => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key)
            .verify(message, &signature)
            .is_ok(),
        ID_SHA384 | SHA384_WITH_RSA => rsa::pkcs1v15::VerifyingKey::<Sha384>::new(key)
            .verify(message, &signature)
            .is_ok(),
        ID_SHA512 | SHA512_WITH_RSA => rsa::pkcs1v15::VerifyingKey::<Sha512>::new(key)
            .verify(message, &signature)
            .is_ok(),
        _ => return None,
    })
}

fn certificates(sd: &SignedData) -> Vec<Certificate> {
    sd.certificates
        .as_ref()
        .map(|set| {
            set.0
                .iter()
                .filter_map(|c| match c {
                    cms::cert::CertificateChoices::Certificate(c) => Some(c.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn signer_certificate<'a>(si: &SignerInfo, certs: &'a [Certificate]) -> Option<&'a Certificate> {
    match &si.sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => certs.iter().find(|c| {
            c.tbs_certificate.issuer == ias.issuer
                && c.tbs_certificate.serial_number == ias.serial_number
        }),
        SignerIdentifier::SubjectKeyIdentifier(ski) => certs
            .iter()
            .find(|c| subject_key_id(c).is_some_and(|id| id.as_slice() == ski.0.as_bytes())),
    }
}

/// The certificate's SubjectKeyIdentifier extension, else RFC 5280's method 1 (SHA-1 of the
/// public key bits), which is what signers without the extension use.
fn subject_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    use x509_cert::ext::pkix::SubjectKeyIdentifier;
    let from_ext = cert
        .tbs_certificate
        .extensions
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER)
        .and_then(|e| SubjectKeyIdentifier::from_der(e.extn_value.as_bytes()).ok())
        .map(|k| k.0.as_bytes().to_vec());
    from_ext.or_else(|| {
        let bits = cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        Some(openssl::sha::sha1(bits).to_vec())
    })
}

fn attribute(
    attrs: Option<&x509_cert::attr::Attributes>,
    oid: ObjectIdentifier,
) -> Option<&der::Any> {
    attrs?.iter().find(|a| a.oid == oid)?.values.iter().next()
}

fn time(t: x509_cert::time::Time) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::<chrono::Utc>::from(t.to_system_time())
}

fn common_name(subject: &str) -> Option<String> {
    subject
        .split(',')
        .find_map(|p| p.trim().strip_prefix("CN="))
        .map(str::to_string)
}

/// Checks a CMS signer: the digest attribute against `content_digest` input, the signature over
/// the signed attributes. `Err` is the failed or indeterminate check.
fn check_signer(si: &SignerInfo, cert: &Certificate, content: &[&[u8]]) -> Result<(), Check> {
    let attrs = si.signed_attrs.as_ref();
    let Some(expected) = digest(&si.digest_alg.oid, content) else {
        return Err(Check::indeterminate(
            "Algoritme hash tanda tangan tidak didukung.",
        ));
    };
    let alg = if si.signature_algorithm.oid == RSA_ENCRYPTION {
        si.digest_alg.oid
    } else {
        si.signature_algorithm.oid
    };
    if attrs.is_none() {
        // CMS without signed attributes (RFC 5652 §5.4): the signature is over the content
        // itself.
        let message = content.concat();
        return match rsa_verify(cert, &alg, &message, si.signature.as_bytes()) {
            Some(true) => Ok(()),
            Some(false) => Err(Check::failed(
                "Isi berkas tidak sama dengan yang ditandatangani: berkas telah diubah.",
            )),
            None => Err(Check::indeterminate(
                "Algoritme tanda tangan tidak didukung oleh pemeriksa ini.",
            )),
        };
    }
    let stated = attribute(attrs, ID_MESSAGE_DIGEST)
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .map(|o| o.as_bytes().to_vec());
    if stated.as_deref() != Some(expected.as_slice()) {
        return Err(Check::failed(
            "Isi berkas tidak sama dengan yang ditandatangani: berkas telah diubah.",
        ));
    }
    let Some(signed) = si.signed_attrs.as_ref().and_then(|a| a.to_der().ok()) else {
        return Err(Check::failed("Atribut tanda tangan tidak ada."));
    };
    match rsa_verify(cert, &alg, &signed, si.signature.as_bytes()) {
        Some(true) => Ok(()),
        Some(false) => Err(Check::failed(
            "Nilai tanda tangan tidak cocok dengan sertifikat penanda tangan.",
        )),
        None => Err(Check::indeterminate(
            "Algoritme tanda tangan tidak didukung oleh pemeriksa ini.",
        )),
    }
}

/// What a certificate is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Usage {
    /// Signing documents: keyUsage digitalSignature or nonRepudiation, not a TSA certificate.
    Document,
    /// Signing timestamps: extended key usage timeStamping (RFC 3161).
    Timestamp,
}

const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

/// RFC 5280 path validation by OpenSSL's verifier (`X509_verify_cert`, strict), from `cert`
/// through the certificates the file carries up to one of `anchors`, at the time `at`:
/// basicConstraints and path length, keyUsage keyCertSign for issuers, unknown critical
/// extensions, name chaining, every signature, validity of every certificate. The purpose is
/// checked as well (a timestamp authority's certificate for timestamps, a document signer's for
/// documents, never the one for the other). Returns the check and the validated chain
/// (leaf first) when it passed.
fn verify_path(
    cert: &Certificate,
    pool: &[Certificate],
    anchors: &[Certificate],
    at: chrono::DateTime<chrono::Utc>,
    usage: Usage,
) -> (Check, Vec<Certificate>) {
    use openssl::stack::Stack;
    use openssl::x509::store::X509StoreBuilder;
    use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
    use openssl::x509::{X509, X509PurposeId, X509StoreContext};

    let subject = cert.tbs_certificate.subject.to_string();
    if let Err(problem) = usage_problem(cert, usage) {
        return (Check::failed(problem), Vec::new());
    }
    let to_openssl = |c: &Certificate| c.to_der().ok().and_then(|d| X509::from_der(&d).ok());
    let run = |strict: bool| -> Result<(bool, i32, String, Vec<Certificate>), openssl::error::ErrorStack> {
        let mut store = X509StoreBuilder::new()?;
        for a in anchors {
            if let Some(x) = to_openssl(a) {
                // A duplicate anchor is not an error worth failing for.
                let _ = store.add_cert(x);
            }
        }
        let mut param = X509VerifyParam::new()?;
        if strict {
            param.set_flags(X509VerifyFlags::X509_STRICT)?;
        }
        param.set_time(at.timestamp() as _);
        param.set_depth(8);
        param.set_purpose(match usage {
            Usage::Document => X509PurposeId::ANY,
            Usage::Timestamp => X509PurposeId::TIMESTAMP_SIGN,
        })?;
        store.set_param(&param)?;
        let store = store.build();
        let mut untrusted = Stack::new()?;
        for c in pool {
            if let Some(x) = to_openssl(c) {
                untrusted.push(x)?;
            }
        }
        let Some(leaf) = to_openssl(cert) else {
            return Ok((false, -1, "certificate cannot be read".into(), Vec::new()));
        };
        let mut ctx = X509StoreContext::new()?;
        ctx.init(&store, &leaf, &untrusted, |c| {
            let ok = c.verify_cert()?;
            let err = c.error();
            let chain = c
                .chain()
                .map(|chain| {
                    chain
                        .iter()
                        .filter_map(|x| x.to_der().ok())
                        .filter_map(|d| Certificate::from_der(&d).ok())
                        .collect()
                })
                .unwrap_or_default();
            Ok((ok, err.as_raw(), err.error_string().to_string(), chain))
        })
    };
    // Strict first (RFC 5280's profile: key identifiers, critical basic constraints, …); a
    // chain that fails only the strict profile is no proof of forgery (peers such as pyHanko
    // accept it), so it is indeterminate, with the reason.
    let result = match run(true) {
        Ok((false, _, strict_text, _)) => match run(false) {
            Ok((true, _, _, _)) => {
                return (
                    Check::indeterminate(format!(
                        "Sertifikat dalam rantai {subject} tidak memenuhi profil RFC 5280 ({strict_text}); keasliannya tidak dapat dipastikan."
                    )),
                    Vec::new(),
                );
            }
            other => other,
        },
        other => other,
    };
    match result {
        Ok((true, _, _, chain)) => {
            let root = chain
                .last()
                .map(|c: &Certificate| c.tbs_certificate.subject.to_string())
                .unwrap_or_default();
            (
                Check::passed(format!(
                    "Rantai sertifikat sampai ke akar tepercaya ({root})."
                )),
                chain,
            )
        }
        Ok((false, code, text, _)) => (path_failure(code, &text, &subject), Vec::new()),
        Err(e) => (
            Check::indeterminate(format!("Rantai sertifikat tidak dapat diperiksa ({e}).")),
            Vec::new(),
        ),
    }
}

/// Why a path failed, as ETSI EN 319 102-1 classes it: no chain to a trusted root or a
/// certificate outside its validity is indeterminate (not proof of forgery); a broken
/// signature or constraint on the chain (an end-entity certificate used as a CA, a missing
/// keyCertSign, an unknown critical extension, a wrong purpose) is a failure.
fn path_failure(code: i32, text: &str, subject: &str) -> Check {
    use openssl_sys as ffi;
    match code {
        ffi::X509_V_ERR_CERT_HAS_EXPIRED | ffi::X509_V_ERR_CERT_NOT_YET_VALID => {
            Check::indeterminate(format!(
                "Sertifikat dalam rantai {subject} tidak berlaku pada waktu yang terbukti ({text}); perlu data validasi jangka panjang."
            ))
        }
        ffi::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
        | ffi::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        | ffi::X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
        | ffi::X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
        | ffi::X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
        | ffi::X509_V_ERR_CERT_CHAIN_TOO_LONG => Check::indeterminate(format!(
            "Penerbit sertifikat tidak dikenal ({subject}): keasliannya tidak dapat dipastikan."
        )),
        _ => Check::failed(format!("Rantai sertifikat tidak sah ({subject}): {text}.")),
    }
}

/// A document signer must be allowed to sign (keyUsage digitalSignature or nonRepudiation when
/// the extension is present) and must not be a timestamp authority; a TSA certificate must carry
/// timeStamping (OpenSSL's purpose check enforces the rest).
fn usage_problem(cert: &Certificate, usage: Usage) -> Result<(), String> {
    use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages};
    let exts = cert.tbs_certificate.extensions.as_deref().unwrap_or(&[]);
    let find = |oid: ObjectIdentifier| exts.iter().find(|e| e.extn_id == oid);
    let eku = find(const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE)
        .and_then(|e| ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok());
    let timestamping = eku
        .as_ref()
        .is_some_and(|u| u.0.contains(&ID_KP_TIME_STAMPING));
    let subject = cert.tbs_certificate.subject.to_string();
    match usage {
        Usage::Document => {
            if timestamping {
                return Err(format!(
                    "Sertifikat {subject} adalah sertifikat otoritas cap waktu, bukan untuk menandatangani dokumen."
                ));
            }
            if let Some(ext) = find(const_oid::db::rfc5280::ID_CE_KEY_USAGE) {
                let ku = KeyUsage::from_der(ext.extn_value.as_bytes())
                    .map_err(|_| format!("Penggunaan kunci sertifikat {subject} rusak."))?;
                if !(ku.0.contains(KeyUsages::DigitalSignature)
                    || ku.0.contains(KeyUsages::NonRepudiation))
                {
                    return Err(format!(
                        "Sertifikat {subject} tidak diizinkan untuk tanda tangan elektronik (penggunaan kunci)."
                    ));
                }
            }
            Ok(())
        }
        Usage::Timestamp if !timestamping => Err(format!(
            "Sertifikat {subject} bukan sertifikat otoritas cap waktu."
        )),
        Usage::Timestamp => Ok(()),
    }
}

/// The first certificate of `chain` (leaf first) that has expired by `now`, if any: once one has,
/// a signature stands only on long-term validation evidence.
fn expired_in(chain: &[Certificate], now: chrono::DateTime<chrono::Utc>) -> Option<&Certificate> {
    chain
        .iter()
        .find(|c| now > time(c.tbs_certificate.validity.not_after))
}

/// The timestamp token over the signature value: imprint, token signature, TSA chain.
fn check_timestamp(
    si: &SignerInfo,
    anchors: &[Certificate],
    now: chrono::DateTime<chrono::Utc>,
    standing: chrono::DateTime<chrono::Utc>,
) -> (Check, Option<chrono::DateTime<chrono::Utc>>) {
    let Some(token) = attribute(si.unsigned_attrs.as_ref(), ID_TIMESTAMP_TOKEN) else {
        // B-B: still a valid signature, checked against the present time instead.
        return (
            Check::passed(
                "Tanpa cap waktu (PAdES B-B): waktu penandatanganan hanya menurut penanda tangan; sertifikat diperiksa pada waktu sekarang.",
            ),
            None,
        );
    };
    let Ok(ci) = token.decode_as::<ContentInfo>() else {
        return (Check::failed("Cap waktu tidak sah: token rusak."), None);
    };
    verify_token(&ci, &[si.signature.as_bytes()], anchors, now, standing)
}

/// An RFC 3161 token (a CMS SignedData over a TSTInfo): its imprint over `imprinted`, its
/// signature, its TSA's chain at the token's time, still unexpired at `standing` (now, or when
/// a later document timestamp proves the token existed). Returns the proven time when it
/// stands.
fn verify_token(
    ci: &ContentInfo,
    imprinted: &[&[u8]],
    anchors: &[Certificate],
    now: chrono::DateTime<chrono::Utc>,
    standing: chrono::DateTime<chrono::Utc>,
) -> (Check, Option<chrono::DateTime<chrono::Utc>>) {
    let bad = |d: &str| (Check::failed(format!("Cap waktu tidak sah: {d}.")), None);
    let Ok(sd) = ci.content.decode_as::<SignedData>() else {
        return bad("token rusak");
    };
    let Some(tst_der) = sd
        .encap_content_info
        .econtent
        .as_ref()
        .and_then(|e| e.decode_as::<OctetString>().ok())
    else {
        return bad("token tanpa isi");
    };
    let Ok(tst) = crate::timestamp::tst_essentials(tst_der.as_bytes()) else {
        return bad("isi token rusak");
    };
    let imprint = digest(&tst.message_imprint.hash_algorithm.oid, imprinted);
    if imprint.as_deref() != Some(tst.message_imprint.hashed_message.as_bytes()) {
        return bad("cap waktu bukan untuk isi ini");
    }
    let certs = certificates(&sd);
    let Some(tsa_si) = sd.signer_infos.0.iter().next() else {
        return bad("token tanpa penanda tangan");
    };
    let Some(tsa_cert) = signer_certificate(tsa_si, &certs) else {
        return (
            Check::indeterminate("Sertifikat otoritas cap waktu tidak ada di token."),
            None,
        );
    };
    if let Err(c) = check_signer(tsa_si, tsa_cert, &[tst_der.as_bytes()]) {
        return (
            Check {
                detail: format!("Cap waktu: {}", c.detail),
                ..c
            },
            None,
        );
    }
    let at = tst.gen_time;
    if at > now {
        return bad("waktu cap waktu di masa depan");
    }
    let (chain, validated) = verify_path(tsa_cert, &certs, anchors, at, Usage::Timestamp);
    let tsa = tsa_cert.tbs_certificate.subject.to_string();
    match chain.outcome {
        // The timestamp proves the time only while its own chain still stands, or stood when
        // a later document timestamp proved the token existed.
        Outcome::Passed if expired_in(&validated, standing).is_some() => (
            Check::indeterminate(format!(
                "Sertifikat otoritas cap waktu ({tsa}) sudah kedaluwarsa; perlu data validasi jangka panjang."
            )),
            None,
        ),
        Outcome::Passed => (
            Check::passed(format!(
                "Cap waktu sah dari {} pada {} UTC.",
                tsa,
                at.format("%Y-%m-%d %H:%M:%S")
            )),
            Some(at),
        ),
        _ => (
            Check {
                outcome: chain.outcome,
                detail: format!("Otoritas cap waktu ({tsa}): {}", chain.detail),
            },
            None,
        ),
    }
}

/// A document timestamp (`/SubFilter /ETSI.RFC3161`): its token's imprint is over the byte
/// ranges, like a signature's digest; it names a TSA, not a person.
fn check_document_timestamp(
    mut report: SignatureReport,
    der: &[u8],
    content: &[&[u8]],
    policy: &Policy<'_>,
    now: chrono::DateTime<chrono::Utc>,
    standing: chrono::DateTime<chrono::Utc>,
) -> SignatureReport {
    report.office = false;
    let Ok(ci) = ContentInfo::from_der(trim_der(der)) else {
        return report;
    };
    let (check, at) = verify_token(&ci, content, policy.tsa_anchors, now, standing);
    report.signer_common_name = Some("cap waktu dokumen".into());
    report.integrity = match check.outcome {
        // A token whose imprint or signature fails is a broken seal over the file.
        Outcome::Failed if check.detail.contains("bukan untuk isi ini") => Check::failed(
            "Isi berkas tidak sama dengan yang diberi cap waktu dokumen: berkas telah diubah.",
        ),
        _ => Check::passed("Isi berkas sama persis dengan yang diberi cap waktu dokumen."),
    };
    report.chain = Check {
        outcome: check.outcome,
        detail: check.detail.clone(),
    };
    report.timestamp = check;
    report.timestamp_time = at;
    report.revocation = Check::passed("Cap waktu dokumen: tidak ada sertifikat penanda tangan.");
    report.ltv = Check::passed("Cap waktu dokumen: melindungi data validasi sebelumnya.");
    report
}

/// The DER value without the zero padding that fills the rest of `/Contents`.
fn trim_der(der: &[u8]) -> &[u8] {
    let mut reader = match der::SliceReader::new(der) {
        Ok(r) => r,
        Err(_) => return der,
    };
    match der::Header::decode(&mut reader) {
        Ok(h) => {
            let len = u32::from(h.length) as usize
                + u32::from(h.encoded_len().unwrap_or_default()) as usize;
            &der[..len.min(der.len())]
        }
        Err(_) => der,
    }
}

fn check_signature(
    pdf: &[u8],
    found: &Found,
    policy: &Policy<'_>,
    now: chrono::DateTime<chrono::Utc>,
    proof: Option<chrono::DateTime<chrono::Utc>>,
    end: usize,
    // The file's own revocation evidence and what the caller fetched.
    (dss, online): (&crate::revocation::Evidence, &crate::revocation::Evidence),
) -> SignatureReport {
    let [_, b, c, d] = found.ranges;
    let coverage = if c + d >= end {
        Check::passed("Tanda tangan mencakup seluruh berkas.")
    } else {
        Check::failed("Ada bagian yang ditambahkan setelah tanda tangan: berkas telah diubah.")
    };
    let mut report = SignatureReport {
        signer: None,
        signer_common_name: None,
        issuer: None,
        certificate_valid_from: None,
        certificate_valid_to: None,
        timestamp_time: None,
        claimed_time: found.claimed_time.clone(),
        integrity: Check::failed("Tanda tangan tidak dapat dibaca."),
        coverage,
        chain: Check::indeterminate("Rantai sertifikat tidak diperiksa."),
        timestamp: Check::indeterminate("Cap waktu tidak diperiksa."),
        revocation: Check::indeterminate("Status pencabutan tidak diperiksa."),
        ltv: Check::indeterminate("Data validasi jangka panjang tidak diperiksa."),
        proven_by_document_timestamp: proof,
        office: policy.office.is_none(),
        document_timestamp: found.document_timestamp,
        signed_end: c + d,
    };
    let Some(der) = unhex(&pdf[b + 1..c - 1]) else {
        return report;
    };
    if found.document_timestamp {
        return check_document_timestamp(
            report,
            &der,
            &[&pdf[..b], &pdf[c..c + d]],
            policy,
            now,
            proof.unwrap_or(now),
        );
    }
    let mut reader = match der::SliceReader::new(&der) {
        Ok(r) => r,
        Err(_) => return report,
    };
    let Ok(ci) = <ContentInfo as der::Decode>::decode(&mut reader) else {
        return report;
    };
    let Ok(sd) = ci.content.decode_as::<SignedData>() else {
        return report;
    };
    // A PDF signature is detached (ISO 32000, ETSI EN 319 142-1): content carried inside the
    // CMS is not what the file shows, so such a signature is not judged (pyHanko refuses it too).
    if sd.encap_content_info.econtent.is_some() {
        report.integrity = Check::indeterminate(ENCAPSULATED);
        return report;
    }
    let certs = certificates(&sd);
    let Some(si) = sd.signer_infos.0.iter().next() else {
        return report;
    };
    let Some(cert) = signer_certificate(si, &certs) else {
        report.integrity = Check::indeterminate("Sertifikat penanda tangan tidak ada di berkas.");
        return report;
    };
    let subject = cert.tbs_certificate.subject.to_string();
    report.signer_common_name = common_name(&subject);
    report.signer = Some(subject);
    report.issuer = Some(cert.tbs_certificate.issuer.to_string());
    report.certificate_valid_from = Some(time(cert.tbs_certificate.validity.not_before));
    report.certificate_valid_to = Some(time(cert.tbs_certificate.validity.not_after));
    report.integrity = match check_signer(si, cert, &[&pdf[..b], &pdf[c..c + d]]) {
        Ok(()) => Check::passed("Isi berkas sama persis dengan yang ditandatangani."),
        Err(check) => check,
    };
    // What must still stand is judged at `standing`: now, or the time a later document
    // timestamp proves the signature (and its timestamp) existed.
    let standing = proof.unwrap_or(now);
    let (timestamp, at) = check_timestamp(si, policy.tsa_anchors, now, standing);
    report.timestamp = timestamp;
    report.timestamp_time = at;
    // Certificates are judged at the time the signature is proven to exist: the timestamp's,
    // else now. Once one of them has expired by `standing`, the signature has no proof of
    // existence from while they were valid: indeterminate, not valid.
    let (chain, validated) = verify_path(
        cert,
        &certs,
        policy.signer_anchors,
        at.unwrap_or(now),
        Usage::Document,
    );
    report.chain = match (chain.outcome, expired_in(&validated, standing)) {
        (Outcome::Passed, Some(expired)) => Check::indeterminate(format!(
            "Sertifikat {} sudah kedaluwarsa; tanpa data validasi jangka panjang keabsahan tanda tangan tidak dapat dipastikan.",
            expired.tbs_certificate.subject
        )),
        _ => chain,
    };
    report.office = match policy.office {
        None => true,
        Some(office) => office.iter().any(|o| o == cert),
    };
    let mut evidence = dss.clone();
    evidence.add_cms(&sd, si);
    let (line, from_online) = revocation(cert, &validated, &evidence, online, at.unwrap_or(now));
    report.revocation = line;
    report.ltv = ltv_line(&report, dss, from_online);
    report
}

/// "Tanda tangan mendukung LTV": a timestamped signature whose chain and revocation status the
/// file itself proves (the evidence read above), protected or not by a document timestamp.
fn ltv_line(r: &SignatureReport, dss: &crate::revocation::Evidence, from_online: bool) -> Check {
    let stands = |c: &Check| c.outcome == Outcome::Passed;
    if r.timestamp_time.is_none() {
        return Check::indeterminate("Tanda tangan tidak mendukung LTV: tanpa cap waktu yang sah.");
    }
    if !(stands(&r.integrity) && stands(&r.chain) && stands(&r.revocation)) {
        return Check::indeterminate(
            "Tanda tangan tidak mendukung LTV: rantai sertifikat atau status pencabutan tidak terbukti dari berkas.",
        );
    }
    if from_online || (dss.is_empty() && !r.revocation.detail.contains("tidak menerbitkan")) {
        return Check::indeterminate(
            "Tanda tangan tidak mendukung LTV: tidak ada data pencabutan di berkas.",
        );
    }
    match r.proven_by_document_timestamp {
        Some(t) => Check::passed(format!(
            "Tanda tangan mendukung LTV: data validasi di berkas, dilindungi cap waktu dokumen ({}).",
            t.format("%Y-%m-%d %H:%M:%S UTC")
        )),
        None => Check::passed(
            "Tanda tangan mendukung LTV: data validasi (sertifikat, status pencabutan) ada di berkas.",
        ),
    }
}

fn publishes_revocation(cert: &Certificate) -> bool {
    cert.tbs_certificate
        .extensions
        .as_ref()
        .is_some_and(|exts| {
            exts.iter().any(|e| {
                e.extn_id == ID_CRL_DISTRIBUTION_POINTS || e.extn_id == ID_AUTHORITY_INFO_ACCESS
            })
        })
}

/// Revocation of every certificate of the validated `chain` (signer first, the anchor itself
/// excepted) at the moment the signature is proven to exist, from the evidence in the file.
/// Revoked before that moment fails; revoked later is shown and the signature stands; a
/// certificate that names a revocation service with no evidence here is indeterminate; one
/// whose issuer publishes nothing is said to be so.
fn revocation(
    cert: &Certificate,
    chain: &[Certificate],
    evidence: &crate::revocation::Evidence,
    online: &crate::revocation::Evidence,
    moment: chrono::DateTime<chrono::Utc>,
) -> (Check, bool) {
    let mut used_online = false;
    let line = revocation_line(cert, chain, evidence, online, moment, &mut used_online);
    (line, used_online)
}

fn revocation_line(
    cert: &Certificate,
    chain: &[Certificate],
    evidence: &crate::revocation::Evidence,
    online: &crate::revocation::Evidence,
    moment: chrono::DateTime<chrono::Utc>,
    used_online: &mut bool,
) -> Check {
    use crate::revocation::{Source, Status};
    use openssl::x509::X509;
    let x509 = |c: &Certificate| c.to_der().ok().and_then(|d| X509::from_der(&d).ok());
    if chain.len() < 2 {
        // No validated path: nothing to look up the issuer's evidence with.
        return if publishes_revocation(cert) {
            Check::indeterminate(
                "Penerbit sertifikat menerbitkan data pencabutan yang tidak diperiksa secara luring.",
            )
        } else {
            Check::passed(
                "Penerbit sertifikat tidak menerbitkan daftar pencabutan; sertifikat tidak dicabut menurut penerbitnya.",
            )
        };
    }
    let trusted: Vec<X509> = chain[1..].iter().filter_map(x509).collect();
    let when = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let mut leaf = None;
    for pair in chain.windows(2) {
        let (c, issuer) = (&pair[0], &pair[1]);
        let subject = c.tbs_certificate.subject.to_string();
        let (Some(xc), Some(xi)) = (x509(c), x509(issuer)) else {
            return Check::indeterminate("Status pencabutan tidak diperiksa.");
        };
        // The file's evidence first; what was fetched fills a gap, and a revocation either
        // records stands (both are verified the same way).
        let in_file = evidence.status(&xc, &xi, &trusted, moment);
        let fetched = online.status(&xc, &xi, &trusted, moment);
        let status = match (in_file, fetched) {
            (Some(r @ Status::Revoked { .. }), _) => Some(r),
            (_, Some(r @ Status::Revoked { .. })) => {
                *used_online = true;
                Some(r)
            }
            (Some(g), _) => Some(g),
            (None, Some(g)) => {
                *used_online = true;
                return_good_online(&mut leaf, g);
                continue;
            }
            (None, None) => None,
        };
        let line = match status {
            Some(Status::Revoked { at, .. }) if at <= moment => {
                return Check::failed(format!(
                    "Sertifikat dicabut sebelum tanda tangan terbukti dibuat ({subject}, {}).",
                    when(at)
                ));
            }
            Some(Status::Revoked { at, .. }) => Check::passed(format!(
                "Sertifikat dicabut setelah tanda tangan dibuat; tanda tangan tetap sah ({subject}, {}).",
                when(at)
            )),
            Some(Status::Good { source }) => Check::passed(format!(
                "Sertifikat tidak dicabut menurut data pencabutan di berkas ({}).",
                match source {
                    Source::Crl => "CRL",
                    Source::Ocsp => "OCSP",
                }
            )),
            None if publishes_revocation(c) => {
                return if leaf.is_none() {
                    Check::indeterminate(
                        "Penerbit sertifikat menerbitkan data pencabutan yang tidak diperiksa secara luring.",
                    )
                } else {
                    Check::indeterminate(format!(
                        "Tidak ada data pencabutan di berkas untuk sertifikat {subject}; statusnya tidak dapat dipastikan secara luring."
                    ))
                };
            }
            None => Check::passed(
                "Penerbit sertifikat tidak menerbitkan daftar pencabutan; sertifikat tidak dicabut menurut penerbitnya.",
            ),
        };
        leaf.get_or_insert(line);
    }
    leaf.unwrap_or_else(|| Check::indeterminate("Status pencabutan tidak diperiksa."))
}

/// The line for a certificate whose status only fetched data gives.
fn return_good_online(leaf: &mut Option<Check>, status: crate::revocation::Status) {
    use crate::revocation::{Source, Status};
    if let Status::Good { source } = status {
        leaf.get_or_insert(Check::passed(format!(
            "Sertifikat tidak dicabut menurut data pencabutan daring ({}).",
            match source {
                Source::Crl => "CRL",
                Source::Ocsp => "OCSP",
            }
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_are_read_strictly() {
        assert_eq!(
            parse_ranges(b" [0 10 20 30] /Contents"),
            Some([0, 10, 20, 30])
        );
        assert_eq!(parse_ranges(b"[ 0 10 20 30 ]"), Some([0, 10, 20, 30]));
        assert_eq!(parse_ranges(b" [0 10 20]"), None);
        assert_eq!(parse_ranges(b" [0 -1 20 30]"), None);
        assert_eq!(parse_ranges(b" x [0 1 2 3]"), None);
        assert_eq!(unhex(b"30 8\n2"), Some(vec![0x30, 0x82]));
        assert_eq!(unhex(b"3"), Some(vec![0x30]));
        assert_eq!(unhex(b"zz"), None);
    }

    #[test]
    fn an_unsigned_or_garbage_file_fails_without_panicking() {
        let now = chrono::Utc::now();
        let letter = crate::letter::render(&crate::letter::PermitLetter::example(), 0);
        let r = validate(&letter, &[], now);
        assert_eq!(r.outcome, Outcome::Failed);
        assert!(r.reason.contains("tidak bertanda tangan"));
        for junk in [
            &b""[..],
            b"/ByteRange [0 5 9 1]",
            b"/ByteRange [0 3 6 0]<>",
            b"%PDF /ByteRange [0 99999999999999999999 1 1]",
        ] {
            let r = validate(junk, &[], now);
            assert_eq!(r.outcome, Outcome::Failed, "{junk:?}");
        }
    }
}

/// The English of a report line or reason made here (the portal's English pages). Texts are
/// made only in this module, so each Bahasa sentence has its counterpart below; names and
/// times inside them are kept. An unknown text is returned as it is.
const ENCAPSULATED: &str = "Bentuk tanda tangan tidak didukung: isi yang ditandatangani tertanam di dalam tanda tangan, bukan isi berkas.";

pub fn english(text: &str) -> String {
    const FIXED: &[(&str, &str)] = &[
        (
            ENCAPSULATED,
            "Unsupported signature form: the signed content is embedded in the signature, not the file's content.",
        ),
        (
            "Berkas ini tidak bertanda tangan elektronik.",
            "This file carries no electronic signature.",
        ),
        (
            "Tanda tangan utuh, mencakup seluruh berkas, dan diterbitkan oleh penerbit tepercaya.",
            "The signature is intact, covers the whole file and was issued by a trusted issuer.",
        ),
        (
            "Algoritme hash tanda tangan tidak didukung.",
            "The signature's hash algorithm is not supported.",
        ),
        (
            "Isi berkas tidak sama dengan yang ditandatangani: berkas telah diubah.",
            "The file's content differs from what was signed: the file has been changed.",
        ),
        (
            "Atribut tanda tangan tidak ada.",
            "The signed attributes are missing.",
        ),
        (
            "Nilai tanda tangan tidak cocok dengan sertifikat penanda tangan.",
            "The signature value does not match the signer's certificate.",
        ),
        (
            "Algoritme tanda tangan tidak didukung oleh pemeriksa ini.",
            "The signature algorithm is not supported by this checker.",
        ),
        ("Sertifikat rusak.", "A certificate is damaged."),
        (
            "Algoritme sertifikat tidak didukung.",
            "The certificate's algorithm is not supported.",
        ),
        (
            "Rantai sertifikat terlalu panjang.",
            "The certificate chain is too long.",
        ),
        (
            "Tanpa cap waktu (PAdES B-B): waktu penandatanganan hanya menurut penanda tangan; sertifikat diperiksa pada waktu sekarang.",
            "No timestamp (PAdES B-B): the signing time is only the signer's claim; certificates were checked at the current time.",
        ),
        (
            "Sertifikat otoritas cap waktu tidak ada di token.",
            "The timestamp authority's certificate is not in the token.",
        ),
        (
            "Tanda tangan mencakup seluruh berkas.",
            "The signature covers the whole file.",
        ),
        (
            "Ada bagian yang ditambahkan setelah tanda tangan: berkas telah diubah.",
            "Something was added after the signature: the file has been changed.",
        ),
        (
            "Tanda tangan tidak dapat dibaca.",
            "The signature cannot be read.",
        ),
        (
            "Rantai sertifikat tidak diperiksa.",
            "The certificate chain was not checked.",
        ),
        (
            "Cap waktu tidak diperiksa.",
            "The timestamp was not checked.",
        ),
        (
            "Status pencabutan tidak diperiksa.",
            "The revocation status was not checked.",
        ),
        (
            "Sertifikat penanda tangan tidak ada di berkas.",
            "The signer's certificate is not in the file.",
        ),
        (
            "Isi berkas sama persis dengan yang ditandatangani.",
            "The file's content is exactly what was signed.",
        ),
        (
            "Penerbit sertifikat menerbitkan data pencabutan yang tidak diperiksa secara luring.",
            "The certificate's issuer publishes revocation data that is not checked offline.",
        ),
        (
            "Penerbit sertifikat tidak menerbitkan daftar pencabutan; sertifikat tidak dicabut menurut penerbitnya.",
            "The certificate's issuer publishes no revocation list; the certificate is not revoked according to its issuer.",
        ),
        ("token rusak", "damaged token"),
        ("token tanpa isi", "token without content"),
        ("isi token rusak", "damaged token content"),
        (
            "cap waktu bukan untuk tanda tangan ini",
            "the timestamp is not for this signature",
        ),
        ("token tanpa penanda tangan", "token without a signer"),
        (
            "cap waktu bukan untuk isi ini",
            "the timestamp is not for this content",
        ),
        (
            "waktu cap waktu di masa depan",
            "the timestamp's time lies in the future",
        ),
        (
            "Isi berkas sama persis dengan yang diberi cap waktu dokumen.",
            "The file's content is exactly what the document timestamp covers.",
        ),
        (
            "Isi berkas tidak sama dengan yang diberi cap waktu dokumen: berkas telah diubah.",
            "The file's content differs from what the document timestamp covers: the file has been changed.",
        ),
        (
            "Cap waktu dokumen: tidak ada sertifikat penanda tangan.",
            "Document timestamp: there is no signer certificate.",
        ),
        (
            "Bagian yang ditambahkan setelah tanda tangan kantor tidak dapat diperiksa.",
            "What was added after the office's signature cannot be checked.",
        ),
        (
            "Data validasi jangka panjang tidak diperiksa.",
            "Long-term validation data was not checked.",
        ),
        (
            "Tanda tangan tidak mendukung LTV: tanpa cap waktu yang sah.",
            "The signature does not support LTV: no valid timestamp.",
        ),
        (
            "Tanda tangan tidak mendukung LTV: rantai sertifikat atau status pencabutan tidak terbukti dari berkas.",
            "The signature does not support LTV: the file does not prove the certificate chain or the revocation status.",
        ),
        (
            "Tanda tangan tidak mendukung LTV: tidak ada data pencabutan di berkas.",
            "The signature does not support LTV: the file carries no revocation data.",
        ),
        (
            "Tanda tangan mendukung LTV: data validasi (sertifikat, status pencabutan) ada di berkas.",
            "The signature supports LTV: the validation data (certificates, revocation status) is in the file.",
        ),
        (
            "Cap waktu dokumen: melindungi data validasi sebelumnya.",
            "Document timestamp: protects the validation data before it.",
        ),
    ];
    if let Some((_, en)) = FIXED.iter().find(|(id, _)| *id == text) {
        return (*en).to_string();
    }
    // Sentences with a name or time inside: (Bahasa before, Bahasa after, English before,
    // English after), the inner part kept (and itself translated when it is one of ours).
    const FRAMED: &[(&str, &str, &str, &str)] = &[
        (
            "Sertifikat tidak dicabut menurut data pencabutan daring (",
            ").",
            "The certificate is not revoked according to revocation data fetched online (",
            ").",
        ),
        (
            "Tanda tangan mendukung LTV: data validasi di berkas, dilindungi cap waktu dokumen (",
            ").",
            "The signature supports LTV: validation data in the file, protected by a document timestamp (",
            ").",
        ),
        (
            "Sertifikat ",
            " tidak berlaku pada waktu penandatanganan.",
            "Certificate ",
            " was not valid at signing time.",
        ),
        (
            "Rantai sertifikat sampai ke akar tepercaya (",
            ").",
            "The certificate chain reaches a trusted root (",
            ").",
        ),
        (
            "Penerbit sertifikat tidak dikenal (",
            "): keasliannya tidak dapat dipastikan.",
            "Unknown certificate issuer (",
            "): authenticity cannot be established.",
        ),
        ("Cap waktu tidak sah: ", ".", "Invalid timestamp: ", "."),
        (
            "Cap waktu sah dari ",
            " UTC.",
            "Valid timestamp from ",
            " UTC.",
        ),
        ("Cap waktu: ", "", "Timestamp: ", ""),
        (
            "Sertifikat dalam rantai ",
            "; perlu data validasi jangka panjang.",
            "A certificate in the chain of ",
            "; long-term validation data is needed.",
        ),
        (
            "Rantai sertifikat tidak dapat diperiksa (",
            ").",
            "The certificate chain cannot be checked (",
            ").",
        ),
        (
            "Sertifikat dalam rantai ",
            "; keasliannya tidak dapat dipastikan.",
            "A certificate in the chain of ",
            "; authenticity cannot be established.",
        ),
        (
            "Sertifikat otoritas cap waktu (",
            ") sudah kedaluwarsa; perlu data validasi jangka panjang.",
            "The timestamp authority's certificate (",
            ") has expired; long-term validation data is needed.",
        ),
        (
            "Sertifikat ",
            " sudah kedaluwarsa; tanpa data validasi jangka panjang keabsahan tanda tangan tidak dapat dipastikan.",
            "Certificate ",
            " has expired; without long-term validation data the signature's validity cannot be established.",
        ),
        (
            "Sertifikat ",
            " adalah sertifikat otoritas cap waktu, bukan untuk menandatangani dokumen.",
            "Certificate ",
            " is a timestamp authority's certificate, not one for signing documents.",
        ),
        (
            "Sertifikat ",
            " tidak diizinkan untuk tanda tangan elektronik (penggunaan kunci).",
            "Certificate ",
            " is not allowed to make electronic signatures (key usage).",
        ),
        (
            "Sertifikat ",
            " bukan sertifikat otoritas cap waktu.",
            "Certificate ",
            " is not a timestamp authority's certificate.",
        ),
        (
            "Penggunaan kunci sertifikat ",
            " rusak.",
            "The key usage of certificate ",
            " is damaged.",
        ),
        (
            "Setelah tanda tangan ini hanya ditambahkan data validasi (",
            ").",
            "After this signature only validation data was added (",
            ").",
        ),
        (
            "Berkas diubah setelah tanda tangan kantor: ",
            ".",
            "The file was changed after the office's signature: ",
            ".",
        ),
        (
            "Sertifikat dicabut sebelum tanda tangan terbukti dibuat (",
            ").",
            "The certificate was revoked before the signature is proven to exist (",
            ").",
        ),
        (
            "Sertifikat dicabut setelah tanda tangan dibuat; tanda tangan tetap sah (",
            ").",
            "The certificate was revoked after the signature was made; the signature stands (",
            ").",
        ),
        (
            "Sertifikat tidak dicabut menurut data pencabutan di berkas (",
            ").",
            "The certificate is not revoked according to the revocation data in the file (",
            ").",
        ),
        (
            "Tidak ada data pencabutan di berkas untuk sertifikat ",
            "; statusnya tidak dapat dipastikan secara luring.",
            "The file carries no revocation data for certificate ",
            "; its status cannot be established offline.",
        ),
        (
            "Ditandatangani secara sah oleh ",
            ", tetapi bukan dokumen yang diterbitkan DPMPTSP Kabupaten Karo.",
            "Validly signed by ",
            ", but not a document issued by DPMPTSP Kabupaten Karo.",
        ),
    ];
    for (pre, post, en_pre, en_post) in FRAMED {
        if let Some(inner) = text.strip_prefix(pre).and_then(|t| t.strip_suffix(post)) {
            let inner = if *pre == "Cap waktu sah dari " {
                inner.replacen(" pada ", " at ", 1)
            } else {
                english(inner)
            };
            return format!("{en_pre}{inner}{en_post}");
        }
    }
    if let Some(rest) = text.strip_prefix("Rantai sertifikat tidak sah (")
        && let Some((subject, detail)) = rest.split_once("): ")
    {
        return format!("Invalid certificate chain ({subject}): {detail}");
    }
    if let Some(rest) = text.strip_prefix("Tanda tangan ke-")
        && let Some((head, detail)) = rest.split_once("): ")
        && let Some((n, who)) = head.split_once(" (")
    {
        return format!("Signature {n} ({who}): {}", english(detail));
    }
    if let Some(rest) = text.strip_prefix("Otoritas cap waktu (")
        && let Some((tsa, detail)) = rest.split_once("): ")
    {
        return format!("Timestamp authority ({tsa}): {}", english(detail));
    }
    text.to_string()
}

#[cfg(test)]
mod english_tests {
    use super::english;

    #[test]
    fn every_sentence_has_its_english() {
        assert_eq!(
            english("Ada bagian yang ditambahkan setelah tanda tangan: berkas telah diubah."),
            "Something was added after the signature: the file has been changed."
        );
        assert_eq!(
            english(
                "Penerbit sertifikat tidak dikenal (CN=Lain): keasliannya tidak dapat dipastikan."
            ),
            "Unknown certificate issuer (CN=Lain): authenticity cannot be established."
        );
        assert_eq!(
            english("Cap waktu tidak sah: token rusak."),
            "Invalid timestamp: damaged token."
        );
        assert_eq!(
            english("Cap waktu sah dari CN=TSA pada 2026-12-01 02:00:00 UTC."),
            "Valid timestamp from CN=TSA at 2026-12-01 02:00:00 UTC."
        );
        assert_eq!(
            english("Otoritas cap waktu (CN=TSA): Rantai sertifikat terlalu panjang."),
            "Timestamp authority (CN=TSA): The certificate chain is too long."
        );
        assert_eq!(english("tak dikenal"), "tak dikenal");
    }

    /// Every Bahasa text literal handed to a check in this module has an English counterpart.
    #[test]
    fn no_sentence_is_left_untranslated() {
        let source = include_str!("validate.rs");
        let body = source.split("pub fn english(").next().unwrap_or("");
        for call in [
            "Check::passed(",
            "Check::failed(",
            "Check::indeterminate(",
            "bad(",
        ] {
            for part in body.split(call).skip(1) {
                let Some(lit) = part.trim_start().strip_prefix('"') else {
                    continue; // format!(…): covered by the framed sentences
                };
                let Some(end) = lit.find('"') else { continue };
                let text = &lit[..end];
                assert_ne!(english(text), text, "no English for {text:?}");
            }
        }
    }
}
