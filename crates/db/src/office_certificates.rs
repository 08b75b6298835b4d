//! The office's signing certificates (see migration 0010) and the scan that finds them in the
//! signed files the signing workflow stored.

use crate::{Database, Result, on_backend};

/// One certificate to record: SHA-256 of its DER (hex), the DER, its subject, where first seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeCertificate {
    pub fingerprint: String,
    pub der: Vec<u8>,
    pub subject: String,
    pub first_document_id: Option<i64>,
}

/// Where the scan of signed files stands (the last document id it read).
pub const SCANNED_UP_TO_KEY: &str = "office_certificates.scanned_document_id";

impl Database {
    /// Records certificates (known ones are left as they are).
    pub async fn record_office_certificates(&self, certs: &[OfficeCertificate]) -> Result<()> {
        let now = crate::now();
        on_backend!(self, pool => {
            for c in certs {
                sqlx::query(
                    "INSERT INTO office_certificates (fingerprint, der, subject, first_document_id, recorded_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (fingerprint) DO NOTHING",
                )
                .bind(&c.fingerprint)
                .bind(&c.der)
                .bind(&c.subject)
                .bind(c.first_document_id)
                .bind(now)
                .execute(pool)
                .await?;
            }
        });
        Ok(())
    }

    /// Every recorded certificate's DER.
    pub async fn office_certificates(&self) -> Result<Vec<Vec<u8>>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_scalar("SELECT der FROM office_certificates ORDER BY recorded_at, fingerprint")
                .fetch_all(pool)
                .await?
        }))
    }

    /// Signed files the signing workflow stored, after document `after_id`: (id, storage key).
    pub async fn workflow_signed_documents_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT id, storage_key FROM documents WHERE kind = 'signed' AND source = 'signing' \
                 AND id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }
}
