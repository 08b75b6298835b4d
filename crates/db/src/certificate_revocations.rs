//! Revocations by the office's own CAs (migration 0020): written once by `keys revoke`, read by
//! the CRL and OCSP routes and by the local signer before it signs.

use chrono::{DateTime, Utc};

use crate::{Database, Result, on_backend};

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRevocation {
    /// SHA-1 of the issuer's subjectPublicKey, hex.
    pub issuer_key_id: String,
    /// Serial number (hex of the INTEGER's content bytes).
    pub serial: String,
    pub subject: String,
    /// RFC 5280 CRLReason code.
    pub reason: i64,
    pub revoked_at: DateTime<Utc>,
    pub revoked_by: String,
}

type Row = (String, String, String, i64, DateTime<Utc>, String);

fn from_row(r: Row) -> CertificateRevocation {
    CertificateRevocation {
        issuer_key_id: r.0,
        serial: r.1,
        subject: r.2,
        reason: r.3,
        revoked_at: r.4,
        revoked_by: r.5,
    }
}

const COLUMNS: &str =
    "issuer_key_id, serial, subject, CAST(reason AS BIGINT), revoked_at, revoked_by";

impl Database {
    /// Records a revocation; `false` when that certificate was already revoked (the first
    /// record stands, with its time and reason).
    pub async fn record_certificate_revocation(&self, r: &CertificateRevocation) -> Result<bool> {
        let done = on_backend!(self, pool => {
            sqlx::query(
                "INSERT INTO certificate_revocations \
                 (issuer_key_id, serial, subject, reason, revoked_at, revoked_by) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (issuer_key_id, serial) DO NOTHING",
            )
            .bind(&r.issuer_key_id)
            .bind(&r.serial)
            .bind(&r.subject)
            .bind(r.reason as i32)
            .bind(crate::truncate_micros(r.revoked_at))
            .bind(&r.revoked_by)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Every revocation, oldest first.
    pub async fn certificate_revocations(&self) -> Result<Vec<CertificateRevocation>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM certificate_revocations ORDER BY revoked_at, issuer_key_id, serial"
        );
        let rows: Vec<Row> = on_backend!(self, pool => {
            sqlx::query_as(&sql).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// The revocation of one certificate, if any.
    pub async fn certificate_revocation(
        &self,
        issuer_key_id: &str,
        serial: &str,
    ) -> Result<Option<CertificateRevocation>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM certificate_revocations WHERE issuer_key_id = $1 AND serial = $2"
        );
        let row: Option<Row> = on_backend!(self, pool => {
            sqlx::query_as(&sql)
                .bind(issuer_key_id)
                .bind(serial)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(from_row))
    }
}
