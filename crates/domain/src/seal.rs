//! The seal in a permit's QR code: the portal address of the document plus a compact Ed25519
//! signature by the office's seal key over the permit's key facts, so the QR can be checked
//! offline, even when the portal is down. The QR text is
//! `<base>/v/<verification id>?d=<facts>&s=<signature>` (both base64url, no padding); the facts
//! are `SCV1|number|holder|type|issue|expiry` (dates `YYYY-MM-DD`; a permit confirmed to have no
//! end of validity reads `tanpa masa berlaku`), and the signature covers the verification id and
//! the facts.
//!
//! Every fact is stated: seals are made from [`SealDates`] (both dates known or confirmed by an
//! official), never from empty values. A value too long for a readable QR (a 20,000-character
//! holder name) is sealed shortened, as its beginning, `…#` and a digest of the full value
//! ([`fit_field`]); [`field_matches`] checks a full value against it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const VERSION: &str = "SCV1";

/// What a seal says of a permit confirmed to have no end of validity.
pub const NO_EXPIRY: &str = "tanpa masa berlaku";

/// A sealed text value longer than this (bytes, UTF-8) is shortened: three long fields at this
/// size keep the QR text near 450 characters, a code a phone and `zbarimg` read at print size.
pub const MAX_FIELD_BYTES: usize = 64;
/// Bytes of the value kept before the digest when shortened.
const KEPT_BYTES: usize = 40;
/// Characters of the digest (base64url of SHA-256; 96 bits).
const DIGEST_CHARS: usize = 16;

/// The end of a permit's validity as a seal states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "date")]
pub enum Expiry {
    Until(NaiveDate),
    /// Confirmed: the permit has no end of validity.
    None,
}

impl Expiry {
    fn sealed(self) -> String {
        match self {
            Expiry::Until(d) => d.to_string(),
            Expiry::None => NO_EXPIRY.into(),
        }
    }
}

/// Where the sealed dates came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DateSource {
    /// SICANTIK's record (synced, or looked up at approval).
    Sicantik,
    /// The approving official entered or confirmed them (audited).
    Official { by: String },
}

/// The dates a seal states, fixed at approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealDates {
    pub issue_date: NaiveDate,
    pub expiry: Expiry,
    pub source: DateSource,
}

fn digest_of(full: &str) -> String {
    let d = URL_SAFE_NO_PAD.encode(Sha256::digest(full.as_bytes()));
    d[..DIGEST_CHARS].to_string()
}

/// The form of `value` a seal carries: the value itself when short enough, else its beginning,
/// `…#` and a digest of the whole value (so the seal still binds the full value).
pub fn fit_field(value: &str) -> String {
    let clean = value.replace('|', "/");
    if clean.len() <= MAX_FIELD_BYTES {
        return clean;
    }
    let mut end = KEPT_BYTES;
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…#{}", clean[..end].trim_end(), digest_of(value))
}

/// Whether `sealed` (a field as a seal carries it) vouches for the full value `full`.
pub fn field_matches(sealed: &str, full: &str) -> bool {
    sealed == fit_field(full)
}

/// The facts a seal vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedFacts {
    pub permit_number: String,
    pub holder: String,
    pub permit_type: String,
    pub issue_date: String,
    pub expiry_date: String,
}

impl SealedFacts {
    /// The facts of a permit, every value fitted for the QR ([`fit_field`]).
    pub fn new(permit_number: &str, holder: &str, permit_type: &str, dates: &SealDates) -> Self {
        SealedFacts {
            permit_number: fit_field(permit_number),
            holder: fit_field(holder),
            permit_type: fit_field(permit_type),
            issue_date: dates.issue_date.to_string(),
            expiry_date: dates.expiry.sealed(),
        }
    }

    fn encode(&self) -> String {
        // `|` separates fields; one inside a value would be ambiguous, so it becomes `/`.
        let clean = |s: &str| s.replace('|', "/");
        format!(
            "{VERSION}|{}|{}|{}|{}|{}",
            clean(&self.permit_number),
            clean(&self.holder),
            clean(&self.permit_type),
            clean(&self.issue_date),
            clean(&self.expiry_date)
        )
    }

    fn decode(s: &str) -> Option<Self> {
        let mut parts = s.split('|');
        if parts.next()? != VERSION {
            return None;
        }
        let facts = SealedFacts {
            permit_number: parts.next()?.into(),
            holder: parts.next()?.into(),
            permit_type: parts.next()?.into(),
            issue_date: parts.next()?.into(),
            expiry_date: parts.next()?.into(),
        };
        parts.next().is_none().then_some(facts)
    }
}

fn message(verification_id: &str, encoded_facts: &str) -> Vec<u8> {
    format!("sicantik-companion/seal/v1\n{verification_id}\n{encoded_facts}").into_bytes()
}

/// The QR text for a document.
pub fn seal_url(
    key: &SigningKey,
    base_url: &str,
    verification_id: &str,
    facts: &SealedFacts,
) -> String {
    let encoded = facts.encode();
    let signature = key.sign(&message(verification_id, &encoded));
    format!(
        "{}/v/{verification_id}?d={}&s={}",
        base_url.trim_end_matches('/'),
        URL_SAFE_NO_PAD.encode(encoded.as_bytes()),
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

/// Why a QR text is not an authentic seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("not a document QR code of this office")]
    Malformed,
    #[error("the seal does not match the facts (forged or altered)")]
    BadSignature,
}

/// Checks a QR text against the office's public seal key; returns the verification id and the
/// facts it vouches for.
pub fn verify_seal(key: &VerifyingKey, qr_text: &str) -> Result<(String, SealedFacts), SealError> {
    let (_, rest) = qr_text.split_once("/v/").ok_or(SealError::Malformed)?;
    let (vid, query) = rest.split_once('?').ok_or(SealError::Malformed)?;
    let mut d = None;
    let mut s = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("d", v)) => d = Some(v),
            Some(("s", v)) => s = Some(v),
            _ => {}
        }
    }
    let encoded = URL_SAFE_NO_PAD
        .decode(d.ok_or(SealError::Malformed)?)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(SealError::Malformed)?;
    let sig_bytes: [u8; 64] = URL_SAFE_NO_PAD
        .decode(s.ok_or(SealError::Malformed)?)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SealError::Malformed)?;
    let facts = SealedFacts::decode(&encoded).ok_or(SealError::Malformed)?;
    key.verify(&message(vid, &encoded), &Signature::from_bytes(&sig_bytes))
        .map_err(|_| SealError::BadSignature)?;
    Ok((vid.to_string(), facts))
}

/// A new seal key.
pub fn new_seal_key() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}

/// The seal key's file form: its 32-byte seed in hex (keep it secret).
pub fn seal_key_hex(key: &SigningKey) -> String {
    hex::encode(key.to_bytes())
}

/// The public half, hex: what verifiers need.
pub fn seal_public_hex(key: &SigningKey) -> String {
    verifying_key_hex(&key.verifying_key())
}

/// A public seal key in hex (as the portal's pages carry it for the offline check).
pub fn verifying_key_hex(key: &VerifyingKey) -> String {
    hex::encode(key.to_bytes())
}

/// Reads a seal key file (hex seed, surrounding whitespace ignored).
pub fn seal_key_from_hex(text: &str) -> Option<SigningKey> {
    let seed: [u8; 32] = hex::decode(text.trim()).ok()?.try_into().ok()?;
    Some(SigningKey::from_bytes(&seed))
}

/// Reads a public seal key (hex).
pub fn seal_public_from_hex(text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(text.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> SealedFacts {
        SealedFacts {
            permit_number: "503/0142/DPMPTSP/2025".into(),
            holder: "Rasmita br Ginting".into(),
            permit_type: "Izin Mendirikan Bangunan".into(),
            issue_date: "2025-07-03".into(),
            expiry_date: "2030-07-03".into(),
        }
    }

    #[test]
    fn a_seal_verifies_and_a_changed_fact_does_not() {
        let key = new_seal_key();
        let url = seal_url(&key, "https://izin.karokab.go.id/", "K7Q2M9", &facts());
        assert!(url.starts_with("https://izin.karokab.go.id/v/K7Q2M9?d="));
        let (vid, got) = verify_seal(&key.verifying_key(), &url).expect("valid");
        assert_eq!((vid.as_str(), got), ("K7Q2M9", facts()));

        let mut changed = facts();
        changed.expiry_date = "2035-07-03".into();
        let forged_d = URL_SAFE_NO_PAD.encode(changed.encode());
        let (head, tail) = url.split_once("?d=").expect("d");
        let sig = tail.split_once("&s=").expect("s").1;
        let forged = format!("{head}?d={forged_d}&s={sig}");
        assert_eq!(
            verify_seal(&key.verifying_key(), &forged),
            Err(SealError::BadSignature)
        );
        // Another document id with the same facts and seal: refused too.
        let moved = url.replace("/v/K7Q2M9", "/v/K7Q2M8");
        assert_eq!(
            verify_seal(&key.verifying_key(), &moved),
            Err(SealError::BadSignature)
        );
        // Another office's key.
        assert_eq!(
            verify_seal(&new_seal_key().verifying_key(), &url),
            Err(SealError::BadSignature)
        );
        assert_eq!(
            verify_seal(&key.verifying_key(), "https://contoh.id/"),
            Err(SealError::Malformed)
        );
        let again = seal_key_from_hex(&format!("{}\n", seal_key_hex(&key))).expect("key");
        assert_eq!(again.to_bytes(), key.to_bytes());
        let public = seal_public_from_hex(&seal_public_hex(&key)).expect("public");
        assert!(verify_seal(&public, &url).is_ok());
    }

    #[test]
    fn long_values_are_sealed_shortened_with_a_digest_and_dates_are_always_stated() {
        let key = new_seal_key();
        let holder = "Koperasi Serba Usaha Sejahtera Bersama ".repeat(520);
        assert!(holder.len() > 20_000);
        let dates = SealDates {
            issue_date: NaiveDate::from_ymd_opt(2026, 1, 5).expect("date"),
            expiry: Expiry::None,
            source: DateSource::Official {
                by: "pejabat".into(),
            },
        };
        let facts = SealedFacts::new("503/1/DPMPTSP/2026", &holder, "Izin Usaha", &dates);
        assert!(facts.holder.len() <= MAX_FIELD_BYTES, "{}", facts.holder);
        assert!(facts.holder.starts_with("Koperasi Serba Usaha"));
        assert!(facts.holder.contains("…#"));
        assert!(field_matches(&facts.holder, &holder));
        // One character changed anywhere in the full value: no longer vouched for.
        let mid = holder.len() / 2;
        let other = format!("{}X{}", &holder[..mid], &holder[mid + 1..]);
        let last_changed = format!("{}x", &holder[..holder.len() - 1]);
        assert!(!field_matches(&facts.holder, &other));
        assert!(!field_matches(&facts.holder, &last_changed));
        assert_eq!(facts.expiry_date, NO_EXPIRY);
        assert_eq!(facts.issue_date, "2026-01-05");
        let url = seal_url(&key, "https://izin.karokab.go.id", "K7Q2M9K7Q2M9", &facts);
        assert!(url.len() < 520, "{} characters", url.len());
        let (_, got) = verify_seal(&key.verifying_key(), &url).expect("verifies");
        assert_eq!(got, facts);
        // Multi-byte text is cut on a character boundary.
        let name = "Ñ".repeat(100);
        let fitted = fit_field(&name);
        assert!(fitted.starts_with("ÑÑ") && field_matches(&fitted, &name));
        // Short values stay as they are (a `|` becomes `/`).
        assert_eq!(fit_field("A|B"), "A/B");
    }
}
