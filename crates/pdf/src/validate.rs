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
}

impl Report {
    /// The signature that decides: the last one (it must cover the whole file).
    pub fn last(&self) -> Option<&SignatureReport> {
        self.signatures.last()
    }
}

/// Validates every signature of `pdf` against `anchors` (root certificates trusted for both
/// signers and timestamp authorities) at `now`.
pub fn validate(pdf: &[u8], anchors: &[Certificate], now: chrono::DateTime<chrono::Utc>) -> Report {
    let sha256 = hex::encode(Sha256::digest(pdf));
    let found = find_signatures(pdf);
    let mut signatures: Vec<SignatureReport> = found
        .iter()
        .map(|s| check_signature(pdf, s, anchors, now))
        .collect();
    let (outcome, reason) = verdict(&mut signatures);
    Report {
        sha256,
        signatures,
        outcome,
        reason,
    }
}

fn verdict(signatures: &mut [SignatureReport]) -> (Outcome, String) {
    let Some(last) = signatures.last() else {
        return (
            Outcome::Failed,
            "Berkas ini tidak bertanda tangan elektronik.".into(),
        );
    };
    // Any broken signature makes the document untrustworthy, wherever it is.
    if let Some(broken) = signatures
        .iter()
        .find(|s| s.integrity.outcome == Outcome::Failed)
    {
        return (Outcome::Failed, broken.integrity.detail.clone());
    }
    for check in last.checks() {
        if check.outcome == Outcome::Failed {
            return (Outcome::Failed, check.detail.clone());
        }
    }
    for check in last.checks() {
        if check.outcome == Outcome::Indeterminate {
            return (Outcome::Indeterminate, check.detail.clone());
        }
    }
    (
        Outcome::Passed,
        "Tanda tangan utuh, mencakup seluruh berkas, dan diterbitkan oleh penerbit tepercaya."
            .into(),
    )
}

/// A signature's place in the file: its byte ranges and its `/Contents` DER.
struct Found {
    ranges: [usize; 4],
    claimed_time: Option<String>,
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
            });
        }
    }
    out
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
        SignerIdentifier::SubjectKeyIdentifier(_) => certs.first(),
    }
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
    let alg = if si.signature_algorithm.oid == RSA_ENCRYPTION {
        si.digest_alg.oid
    } else {
        si.signature_algorithm.oid
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

/// Walks from `cert` up to an anchor through `pool`, each link's signature verified and each
/// certificate valid at `at`.
fn chain_to_anchor(
    cert: &Certificate,
    pool: &[Certificate],
    anchors: &[Certificate],
    at: chrono::DateTime<chrono::Utc>,
) -> Check {
    let mut current = cert.clone();
    for _ in 0..8 {
        let validity = &current.tbs_certificate.validity;
        if at < time(validity.not_before) || at > time(validity.not_after) {
            return Check::failed(format!(
                "Sertifikat {} tidak berlaku pada waktu penandatanganan.",
                current.tbs_certificate.subject
            ));
        }
        if anchors.iter().any(|a| a == &current) {
            return Check::passed(format!(
                "Rantai sertifikat sampai ke akar tepercaya ({}).",
                current.tbs_certificate.subject
            ));
        }
        let Ok(tbs) = current.tbs_certificate.to_der() else {
            return Check::failed("Sertifikat rusak.");
        };
        // Several certificates may carry the issuer's name; the issuer is the one whose key
        // verifies this certificate. A name without such a key is an unknown issuer, not proof
        // of forgery (ETSI: no chain found, indeterminate).
        let mut unsupported = false;
        let issuer = anchors.iter().chain(pool).find(|c| {
            if c.tbs_certificate.subject != current.tbs_certificate.issuer || *c == &current {
                return false;
            }
            match current
                .signature
                .as_bytes()
                .and_then(|sig| rsa_verify(c, &current.signature_algorithm.oid, &tbs, sig))
            {
                Some(ok) => ok,
                None => {
                    unsupported = true;
                    false
                }
            }
        });
        let Some(issuer) = issuer else {
            if unsupported {
                return Check::indeterminate("Algoritme sertifikat tidak didukung.");
            }
            return Check::indeterminate(format!(
                "Penerbit sertifikat tidak dikenal ({}): keasliannya tidak dapat dipastikan.",
                current.tbs_certificate.issuer
            ));
        };
        current = issuer.clone();
    }
    Check::indeterminate("Rantai sertifikat terlalu panjang.")
}

/// The timestamp token over the signature value: imprint, token signature, TSA chain.
fn check_timestamp(
    si: &SignerInfo,
    anchors: &[Certificate],
    now: chrono::DateTime<chrono::Utc>,
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
    let bad = |d: &str| (Check::failed(format!("Cap waktu tidak sah: {d}.")), None);
    let Ok(ci) = token.decode_as::<ContentInfo>() else {
        return bad("token rusak");
    };
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
    let Ok(tst) = x509_tsp::TstInfo::from_der(tst_der.as_bytes()) else {
        return bad("isi token rusak");
    };
    let imprint = digest(
        &tst.message_imprint.hash_algorithm.oid,
        &[si.signature.as_bytes()],
    );
    if imprint.as_deref() != Some(tst.message_imprint.hashed_message.as_bytes()) {
        return bad("cap waktu bukan untuk tanda tangan ini");
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
    let at = chrono::DateTime::<chrono::Utc>::from(tst.gen_time.to_system_time());
    let chain = chain_to_anchor(tsa_cert, &certs, anchors, at.min(now));
    let tsa = tsa_cert.tbs_certificate.subject.to_string();
    match chain.outcome {
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

fn check_signature(
    pdf: &[u8],
    found: &Found,
    anchors: &[Certificate],
    now: chrono::DateTime<chrono::Utc>,
) -> SignatureReport {
    let [_, b, c, d] = found.ranges;
    let coverage = if c + d == pdf.len() {
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
    };
    let Some(der) = unhex(&pdf[b + 1..c - 1]) else {
        return report;
    };
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
    let (timestamp, at) = check_timestamp(si, anchors, now);
    report.timestamp = timestamp;
    report.timestamp_time = at;
    // Without a trusted time the certificate must be valid now.
    report.chain = chain_to_anchor(cert, &certs, anchors, at.unwrap_or(now));
    report.revocation = revocation(cert);
    report
}

/// Offline: a certificate that names no revocation service has nothing to check; one that does
/// cannot be checked without going online.
fn revocation(cert: &Certificate) -> Check {
    let publishes = cert
        .tbs_certificate
        .extensions
        .as_ref()
        .is_some_and(|exts| {
            exts.iter().any(|e| {
                e.extn_id == ID_CRL_DISTRIBUTION_POINTS || e.extn_id == ID_AUTHORITY_INFO_ACCESS
            })
        });
    if publishes {
        Check::indeterminate(
            "Penerbit sertifikat menerbitkan data pencabutan yang tidak diperiksa secara luring.",
        )
    } else {
        Check::passed(
            "Penerbit sertifikat tidak menerbitkan daftar pencabutan; sertifikat tidak dicabut menurut penerbitnya.",
        )
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
pub fn english(text: &str) -> String {
    const FIXED: &[(&str, &str)] = &[
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
    ];
    if let Some((_, en)) = FIXED.iter().find(|(id, _)| *id == text) {
        return (*en).to_string();
    }
    // Sentences with a name or time inside: (Bahasa before, Bahasa after, English before,
    // English after), the inner part kept (and itself translated when it is one of ours).
    const FRAMED: &[(&str, &str, &str, &str)] = &[
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
