//! Which certificates this office signs with: the signer certificates of the signed files the
//! signing workflow stored. The portal and `verify` call an office document only what one of
//! these signed; the scan is incremental (new signed files since the last one it read).

use companion_db::DbError;
use companion_db::office_certificates::{OfficeCertificate, SCANNED_UP_TO_KEY};
use der::Encode;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use crate::Documents;

/// This office's marks found in a file offered as an original.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfficeMarks {
    /// The permits (registration ids) whose case's QR seal the file carries.
    pub sealed_for: Vec<String>,
    /// The subjects of this office's certificates that signed the file.
    pub signed_by: Vec<String>,
}

impl OfficeMarks {
    pub fn is_empty(&self) -> bool {
        self.sealed_for.is_empty() && self.signed_by.is_empty()
    }

    /// Why the file is refused, for staff.
    pub fn pesan(&self) -> String {
        let mut what = Vec::new();
        if !self.sealed_for.is_empty() {
            what.push(format!(
                "kode QR kantor ini untuk izin {}",
                self.sealed_for.join(", ")
            ));
        }
        if !self.signed_by.is_empty() {
            what.push(format!(
                "tanda tangan elektronik kantor ini ({})",
                self.signed_by.join("; ")
            ));
        }
        format!(
            "Berkas ini sudah memuat {}: ini surat yang sudah diproses, bukan surat asli baru, dan satu surat hanya untuk satu kasus. Unggah surat asli dari SICANTIK. Jika berkas ini memang harus dipakai, unggah ulang dengan catatan alasannya (dicatat dalam jejak audit).",
            what.join(" dan ")
        )
    }
}

/// The marks of this office in `pdf`: QR seals whose text is exactly a case's (a seal of the
/// office, whatever was appended to the file), and signatures by a certificate the office signs
/// with.
pub async fn marks_in(documents: &Documents, pdf: &[u8]) -> Result<OfficeMarks, DbError> {
    let mut marks = OfficeMarks::default();
    for text in companion_pdf::stamp::seal_texts(pdf) {
        let Some(vid) = text
            .split_once("/v/")
            .map(|(_, rest)| rest.split(['?', '#']).next().unwrap_or(rest))
        else {
            continue;
        };
        if let Some(case) = documents.db().signing_case_by_verification_id(vid).await?
            && case.qr_text.as_deref() == Some(text.as_str())
            && !marks.sealed_for.contains(&case.pendaftaran_id)
        {
            marks.sealed_for.push(case.pendaftaran_id);
        }
    }
    let signers = companion_pdf::validate::signer_certificates(pdf);
    if !signers.is_empty() {
        let office: Vec<String> = refresh(documents)
            .await?
            .iter()
            .filter_map(|c| record_of(c, None))
            .map(|r| r.fingerprint)
            .collect();
        for cert in signers {
            if let Some(r) = record_of(&cert, None)
                && office.contains(&r.fingerprint)
                && !marks.signed_by.contains(&r.subject)
            {
                marks.signed_by.push(r.subject);
            }
        }
    }
    Ok(marks)
}

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
