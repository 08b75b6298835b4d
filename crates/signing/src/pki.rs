//! The office's own CAs at work: revoking a certificate (recorded in the database, so every
//! instance sees it and it survives restarts), the CRLs and OCSP answers the product serves
//! (`/pki/...`), and the check the local signer makes before it signs. The cryptography is in
//! `companion_pdf::pki`; this holds the state around it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use companion_db::Database;
use companion_db::certificate_revocations::CertificateRevocation;
use companion_pdf::keys::SigningIdentity;
use companion_pdf::pki::{self, CrlReason, Pki, PkiError, Revoked};
use der::Encode;
use x509_cert::Certificate;

#[derive(Debug, thiserror::Error)]
pub enum PkiServiceError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("database: {0}")]
    Db(#[from] companion_db::DbError),
    #[error("{0}")]
    Internal(String),
}

/// A revocation as the signer and the status pages tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationStatus {
    pub reason: CrlReason,
    pub revoked_at: chrono::DateTime<chrono::Utc>,
    pub revoked_by: String,
}

fn revoked_of(r: &CertificateRevocation) -> Option<Revoked> {
    Some(Revoked {
        issuer_key_id: hex::decode(&r.issuer_key_id).ok()?,
        serial: hex::decode(&r.serial).ok()?,
        revoked_at: SystemTime::from(r.revoked_at),
        reason: pki::reason_from_code(r.reason).unwrap_or(CrlReason::Unspecified),
    })
}

/// Every revocation the database holds, as the CRL and OCSP builders take them.
pub async fn revocations(db: &Database) -> Result<Vec<Revoked>, PkiServiceError> {
    Ok(db
        .certificate_revocations()
        .await?
        .iter()
        .filter_map(revoked_of)
        .collect())
}

/// Whether `identity`'s certificate (issued by `identity.chain[0]`) is revoked.
pub async fn revocation_of(
    db: &Database,
    identity: &SigningIdentity,
) -> Result<Option<RevocationStatus>, PkiServiceError> {
    let Some(issuer) = identity.chain.first() else {
        return Ok(None);
    };
    let row = db
        .certificate_revocation(
            &hex::encode(pki::key_id(issuer)),
            &hex::encode(pki::serial_of(&identity.certificate)),
        )
        .await?;
    Ok(row.map(|r| RevocationStatus {
        reason: pki::reason_from_code(r.reason).unwrap_or(CrlReason::Unspecified),
        revoked_at: r.revoked_at,
        revoked_by: r.revoked_by,
    }))
}

/// Records that `cert` (issued by `issuer`) is revoked for `reason` as of now. `Ok(false)`:
/// it already was (the first record stands).
pub async fn revoke(
    db: &Database,
    cert: &Certificate,
    issuer: &Certificate,
    reason: CrlReason,
    actor: &str,
) -> Result<bool, PkiServiceError> {
    let row = CertificateRevocation {
        issuer_key_id: hex::encode(pki::key_id(issuer)),
        serial: hex::encode(pki::serial_of(cert)),
        subject: cert.tbs_certificate.subject.to_string(),
        reason: i64::from(pki::reason_code(reason)),
        revoked_at: companion_db::now(),
        revoked_by: actor.to_string(),
    };
    Ok(db.record_certificate_revocation(&row).await?)
}

struct CachedCrl {
    der: Arc<Vec<u8>>,
    issued: SystemTime,
    /// The revocations it lists (a new one makes a new CRL at once).
    listed: Vec<Revoked>,
}

/// The CRLs, CA certificates and OCSP responder of one key folder.
pub struct PkiService {
    pki: Arc<Pki>,
    db: Database,
    crls: Mutex<HashMap<String, CachedCrl>>,
}

impl std::fmt::Debug for PkiService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PkiService")
            .field("cas", &self.pki.cas.len())
            .finish_non_exhaustive()
    }
}

/// One CRL with the times the HTTP layer puts in its headers.
#[derive(Debug, Clone)]
pub struct Published {
    pub der: Arc<Vec<u8>>,
    pub this_update: SystemTime,
    pub next_update: SystemTime,
}

impl PkiService {
    /// The CAs of `dir` whose keys are there; `None` when there is none (no `keys init` yet, or
    /// the keys were moved offline).
    pub fn open(dir: &Path, db: Database) -> Result<Option<Self>, PkiServiceError> {
        let pki = Pki::load_dir(dir)?;
        if pki.cas.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self::new(pki, db)))
    }

    pub fn new(pki: Pki, db: Database) -> Self {
        Self {
            pki: Arc::new(pki),
            db,
            crls: Mutex::new(HashMap::new()),
        }
    }

    /// The URL names of the CAs served.
    pub fn ca_names(&self) -> Vec<String> {
        self.pki.cas.iter().map(|c| c.name.clone()).collect()
    }

    /// The CA certificate `name` (DER), for AIA caIssuers.
    pub fn ca_certificate(&self, name: &str) -> Option<Vec<u8>> {
        self.pki
            .ca(name)
            .and_then(|c| c.ca.certificate.to_der().ok())
    }

    /// The current CRL of CA `name`: the cached one while it lists every revocation and is
    /// younger than a day, else a new one.
    pub async fn crl(&self, name: &str) -> Result<Option<Published>, PkiServiceError> {
        let Some(ca) = self.pki.ca(name) else {
            return Ok(None);
        };
        let issuer = pki::key_id(&ca.ca.certificate);
        let mut listed: Vec<Revoked> = revocations(&self.db)
            .await?
            .into_iter()
            .filter(|r| r.issuer_key_id == issuer)
            .collect();
        listed.sort_by(|a, b| a.serial.cmp(&b.serial));
        let now = SystemTime::now();
        if let Ok(cache) = self.crls.lock()
            && let Some(c) = cache.get(name)
            && c.listed == listed
            && now
                .duration_since(c.issued)
                .is_ok_and(|age| age < pki::CRL_REISSUE_AFTER)
        {
            return Ok(Some(Published {
                der: c.der.clone(),
                this_update: c.issued,
                next_update: c.issued + pki::CRL_VALIDITY,
            }));
        }
        let pki = self.pki.clone();
        let name_owned = name.to_string();
        let for_crl = listed.clone();
        let der = tokio::task::spawn_blocking(move || pki.crl(&name_owned, &for_crl, now))
            .await
            .map_err(|e| PkiServiceError::Internal(e.to_string()))?
            .ok_or_else(|| PkiServiceError::Internal("CA vanished".into()))??;
        // Whole seconds, as in the CRL.
        let issued = SystemTime::UNIX_EPOCH
            + std::time::Duration::from_secs(
                now.duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
            );
        let der = Arc::new(der);
        if let Ok(mut cache) = self.crls.lock() {
            cache.insert(
                name.to_string(),
                CachedCrl {
                    der: der.clone(),
                    issued,
                    listed,
                },
            );
        }
        Ok(Some(Published {
            der,
            this_update: issued,
            next_update: issued + pki::CRL_VALIDITY,
        }))
    }

    /// The DER OCSPResponse to a DER OCSPRequest (garbage gets `malformedRequest`; a database
    /// failure `tryLater`, never a guess).
    pub async fn ocsp(&self, request: Vec<u8>) -> Vec<u8> {
        let revoked = match revocations(&self.db).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "OCSP: revocations unreadable, answering tryLater");
                return pki::ocsp_try_later();
            }
        };
        let pki = self.pki.clone();
        tokio::task::spawn_blocking(move || pki.ocsp(&request, &revoked, SystemTime::now()))
            .await
            .unwrap_or_else(|_| pki::ocsp_internal_error())
    }
}

/// `Err(CertificateRevoked)` when the local signer's certificate is revoked.
pub(crate) async fn refuse_revoked(
    db: &Database,
    identity: &SigningIdentity,
) -> Result<(), crate::SigningError> {
    match revocation_of(db, identity).await {
        Ok(None) => Ok(()),
        Ok(Some(r)) => {
            tracing::error!(
                reason = pki::reason_name(r.reason),
                "the local signer certificate is revoked: signing refused"
            );
            Err(crate::SigningError::CertificateRevoked(pki::reason_name(
                r.reason,
            )))
        }
        Err(PkiServiceError::Db(e)) => Err(e.into()),
        Err(e) => Err(crate::SigningError::Sign(e.to_string())),
    }
}

/// The DER request of an RFC 5019 GET (`/pki/ocsp/{base64}`, already percent-decoded): the
/// standard alphabet with or without padding, or the URL-safe one some clients use; anything
/// else is empty (answered `malformedRequest`).
pub fn decode_get_request(encoded: &str) -> Vec<u8> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let cleaned: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(cleaned.as_bytes())
        .or_else(|_| STANDARD_NO_PAD.decode(cleaned.as_bytes()))
        .or_else(|_| URL_SAFE_NO_PAD.decode(cleaned.trim_end_matches('=')))
        .unwrap_or_default()
}
