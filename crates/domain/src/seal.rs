//! The seal in a permit's QR code: the portal address of the document plus a compact Ed25519
//! signature by the office's seal key over the permit's key facts, so the QR can be checked
//! offline, even when the portal is down. The QR text is
//! `<base>/v/<verification id>?d=<facts>&s=<signature>` (both base64url, no padding); the facts
//! are `SCV1|number|holder|type|issue|expiry` (dates `YYYY-MM-DD`, an empty expiry for permits
//! without one), and the signature covers the verification id and the facts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

const VERSION: &str = "SCV1";

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
}
