//! JSON Web Tokens through the `jsonwebtoken` crate (header, claims, Base64url, the `alg` check,
//! `exp`/leeway validation), with its cryptography supplied here: RS256 from OpenSSL (the RSA
//! stack the rest of the product signs with) and HS256 from the `hmac` crate, compared in
//! constant time. Every other algorithm is refused, so a token can never pick `none`, a public
//! key as an HMAC secret, or anything we did not ask for.
//!
//! `jsonwebtoken` takes its cryptography from one process-wide provider; [`install`] puts ours
//! in place once (every function of this module calls it first).

use std::sync::Once;

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer as OpensslSigner;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory,
    verifier_factory,
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Makes this module's provider `jsonwebtoken`'s process-wide one (once; later calls do nothing).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if PROVIDER.install_default().is_err() {
            // Someone installed a provider first: theirs signs and verifies. Still correct
            // (jsonwebtoken's algorithms are standard), only not through OpenSSL.
            tracing::debug!("jsonwebtoken already had a crypto provider; keeping it");
        }
    });
}

fn signer_factory(
    alg: &Algorithm,
    key: &EncodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    match alg {
        Algorithm::HS256 => {
            let mac = HmacSha256::new_from_slice(key.try_get_hmac_secret()?)
                .map_err(|_| Error::from(ErrorKind::InvalidKeyFormat))?;
            Ok(Box::new(Hs256(mac)))
        }
        Algorithm::RS256 => {
            let pkey = PKey::private_key_from_der(key.inner())
                .map_err(|e| Error::from(ErrorKind::InvalidRsaKey(e.to_string())))?;
            if pkey.rsa().is_err() {
                return Err(ErrorKind::InvalidRsaKey("not an RSA key".into()).into());
            }
            Ok(Box::new(Rs256(pkey)))
        }
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn verifier_factory(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    match alg {
        Algorithm::HS256 => {
            let mac = HmacSha256::new_from_slice(key.try_get_hmac_secret()?)
                .map_err(|_| Error::from(ErrorKind::InvalidKeyFormat))?;
            Ok(Box::new(Hs256(mac)))
        }
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

struct Hs256(HmacSha256);

impl signature::Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut mac = self.0.clone();
        mac.update(msg);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl signature::Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        let mut mac = self.0.clone();
        mac.update(msg);
        // `verify_slice` compares in constant time.
        mac.verify_slice(signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

/// RSASSA-PKCS1-v1_5 with SHA-256 (RS256) through OpenSSL.
struct Rs256(PKey<Private>);

impl signature::Signer<Vec<u8>> for Rs256 {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut signer = OpensslSigner::new(MessageDigest::sha256(), &self.0)
            .map_err(signature::Error::from_source)?;
        signer.update(msg).map_err(signature::Error::from_source)?;
        signer.sign_to_vec().map_err(signature::Error::from_source)
    }
}

impl JwtSigner for Rs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

/// An RSA private key in PEM (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`, as Vonage's
/// dashboard hands it out) as the key `jsonwebtoken` signs RS256 with. Parsed by OpenSSL.
pub fn rsa_encoding_key(pem: &str) -> Result<EncodingKey, String> {
    install();
    let key = PKey::private_key_from_pem(pem.as_bytes())
        .map_err(|_| "private_key_pem is not a PEM private key".to_string())?;
    let rsa = key
        .rsa()
        .map_err(|_| "private_key_pem is not an RSA private key".to_string())?;
    if rsa.size() < 256 {
        return Err("private_key_pem: RSA keys shorter than 2048 bits are refused".into());
    }
    let der = key
        .private_key_to_der()
        .map_err(|e| format!("private_key_pem cannot be encoded: {e}"))?;
    Ok(EncodingKey::from_rsa_der(&der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Header, Validation, decode, encode};

    #[test]
    fn hs256_round_trip_and_other_algorithms_refused() {
        install();
        let claims = serde_json::json!({"sub": "x", "exp": 4_102_444_800u64});
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"kunci"),
        )
        .expect("encode");
        let data = decode::<serde_json::Value>(
            &token,
            &DecodingKey::from_secret(b"kunci"),
            &Validation::new(Algorithm::HS256),
        )
        .expect("decode");
        assert_eq!(data.claims["sub"], "x");
        assert!(
            decode::<serde_json::Value>(
                &token,
                &DecodingKey::from_secret(b"lain"),
                &Validation::new(Algorithm::HS256),
            )
            .is_err()
        );
        assert!(
            encode(
                &Header::new(Algorithm::HS512),
                &claims,
                &EncodingKey::from_secret(b"kunci"),
            )
            .is_err()
        );
    }

    #[test]
    fn rsa_keys_are_checked() {
        assert!(rsa_encoding_key("not pem").is_err());
        let small = openssl::rsa::Rsa::generate(1024).expect("rsa");
        let pem = String::from_utf8(small.private_key_to_pem().expect("pem")).expect("utf8");
        assert!(rsa_encoding_key(&pem).is_err());
        let ec = openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                .expect("group"),
        )
        .expect("ec");
        let pem = String::from_utf8(
            PKey::from_ec_key(ec)
                .expect("pkey")
                .private_key_to_pem_pkcs8()
                .expect("pem"),
        )
        .expect("utf8");
        assert!(rsa_encoding_key(&pem).is_err());
    }
}
