//! Which certificates this office signs with: the signer certificates of the signed files the
//! signing workflow stored. The portal and `verify` call an office document only what one of
//! these signed; the scan is incremental (new signed files since the last one it read).

use companion_db::DbError;
use companion_db::office_certificates::{OfficeCertificate, SCANNED_UP_TO_KEY};
use der::Encode;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use crate::Documents;

/// Reads the signed files stored since the last scan and records their signer certificates.
/// Returns every known office certificate.
pub async fn refresh(documents: &Documents) -> Result<Vec<Certificate>, DbError> {
    let db = documents.db();
    let mut after: i64 = db
        .get_kv(SCANNED_UP_TO_KEY)
        .await?
        .and_then(|(v, _)| v.parse().ok())
        .unwrap_or(0);
    loop {
        let batch = db.workflow_signed_documents_after(after, 200).await?;
        if batch.is_empty() {
            break;
        }
        let mut found = Vec::new();
        for (id, key) in &batch {
            // A file that cannot be read now is skipped, not fatal: the integrity check reports it.
            let Ok(bytes) = documents.storage().get_bytes(key).await else {
                tracing::warn!(
                    document = id,
                    "signed file unreadable while listing office certificates"
                );
                continue;
            };
            for cert in companion_pdf::validate::signer_certificates(&bytes) {
                found.push(record_of(&cert, Some(*id)));
            }
        }
        db.record_office_certificates(&found.into_iter().flatten().collect::<Vec<_>>())
            .await?;
        after = batch.last().map_or(after, |(id, _)| *id);
        db.set_kv(SCANNED_UP_TO_KEY, &after.to_string()).await?;
    }
    known(documents).await
}

/// The recorded office certificates.
pub async fn known(documents: &Documents) -> Result<Vec<Certificate>, DbError> {
    use der::Decode;
    Ok(documents
        .db()
        .office_certificates()
        .await?
        .iter()
        .filter_map(|d| Certificate::from_der(d).ok())
        .collect())
}

/// Records `cert` as one of the office's (the local signer's certificate at start-up).
pub async fn record(documents: &Documents, cert: &Certificate) -> Result<(), DbError> {
    let records: Vec<OfficeCertificate> = record_of(cert, None).into_iter().collect();
    documents.db().record_office_certificates(&records).await?;
    Ok(())
}

fn record_of(cert: &Certificate, document: Option<i64>) -> Option<OfficeCertificate> {
    let der = cert.to_der().ok()?;
    Some(OfficeCertificate {
        fingerprint: hex::encode(Sha256::digest(&der)),
        subject: cert.tbs_certificate.subject.to_string(),
        der,
        first_document_id: document,
    })
}
