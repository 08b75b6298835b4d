//! Stored documents (one row per PDF version), files held in the inbox, applicant download links
//! and integrity check results.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::QueryBuilder;

use crate::{Database, DbError, Result, on_backend};

/// One stored file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Document {
    pub id: i64,
    pub pendaftaran_id: String,
    /// `original`, `stamped` or `signed`.
    pub kind: String,
    /// 1, 2, 3… per permit, across kinds.
    pub version: i64,
    pub storage_key: String,
    /// Lower-case hex.
    pub sha256: String,
    pub size_bytes: i64,
    pub pages: i64,
    pub content_type: String,
    pub original_name: Option<String>,
    /// `upload`, `api`, `inbox`, `cli` or `demo`.
    pub source: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

const DOCUMENT_COLUMNS: &str = "id, pendaftaran_id, kind, version, storage_key, sha256, size_bytes, pages, \
     content_type, original_name, source, created_by, created_at";

pub struct NewDocument<'a> {
    pub pendaftaran_id: &'a str,
    pub kind: &'a str,
    pub version: i64,
    pub storage_key: &'a str,
    pub sha256: &'a str,
    pub size_bytes: i64,
    pub pages: i64,
    pub content_type: &'a str,
    pub original_name: Option<&'a str>,
    pub source: &'a str,
    pub created_by_id: Option<i64>,
    pub created_by: &'a str,
}

/// Why an insert was refused.
#[derive(Debug)]
pub enum InsertDocumentError {
    /// These bytes are stored already (possibly just now, by a concurrent import).
    SameBytes,
    /// Another import took this version number first.
    VersionTaken,
    Db(DbError),
}

/// A file the inbox could not import, held for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct InboxFile {
    pub id: i64,
    pub file_name: String,
    pub held_path: String,
    pub size_bytes: i64,
    pub sha256: String,
    /// `unmatched`, or the PDF check's code (`not_pdf`, `encrypted`, …).
    pub problem: String,
    pub message: String,
    pub found_at: DateTime<Utc>,
}

/// An applicant download link as stored (the token is derived, never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DocumentLink {
    pub id: i64,
    pub document_id: i64,
    pub expires_at: DateTime<Utc>,
    pub note: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    pub uses: i64,
    pub last_used_at: Option<DateTime<Utc>>,
}

const LINK_COLUMNS: &str = "id, document_id, expires_at, note, created_by, created_at, revoked_at, \
     revoked_by, uses, last_used_at";

/// One finding of an integrity check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IntegrityProblem {
    /// `missing` (row without object), `mismatch` (hash or size differs), `orphan` (object
    /// without row) or `unreadable`.
    pub kind: String,
    pub key: String,
    pub document_id: Option<i64>,
    pub detail: String,
}

/// The result of one integrity check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IntegrityCheck {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub documents: i64,
    pub objects: i64,
    pub missing: i64,
    pub mismatched: i64,
    pub orphaned: i64,
    pub problems: Vec<IntegrityProblem>,
    /// Set when the check could not run to the end (e.g. the store was unreachable).
    pub error: Option<String>,
}

impl IntegrityCheck {
    pub fn is_clean(&self) -> bool {
        self.error.is_none() && self.missing == 0 && self.mismatched == 0 && self.orphaned == 0
    }
}

#[derive(sqlx::FromRow)]
struct IntegrityRow {
    id: i64,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    documents: i64,
    objects: i64,
    missing: i64,
    mismatched: i64,
    orphaned: i64,
    problems: String,
    error: Option<String>,
}

/// What the integrity check compares: a row's key, hash and size.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DocumentObject {
    pub id: i64,
    pub storage_key: String,
    pub sha256: String,
    pub size_bytes: i64,
}

/// A permit's facts the import needs (for the key's year and for messages).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PermitForImport {
    pub pendaftaran_id: String,
    pub permit_number: Option<String>,
    pub applicant_name: Option<String>,
    pub status: String,
    pub issue_date: Option<chrono::NaiveDate>,
}

impl Database {
    /// The permit with this registration id, or with one of these permit numbers.
    pub async fn find_permit_for_import(
        &self,
        candidates: &[String],
    ) -> Result<Option<PermitForImport>> {
        if candidates.is_empty() {
            return Ok(None);
        }
        const COLUMNS: &str = "SELECT pendaftaran_id, permit_number, applicant_name, status, issue_date FROM permits WHERE ";
        on_backend!(self, pool => {
            let mut qb = QueryBuilder::<DB>::new(COLUMNS);
            qb.push("pendaftaran_id = ").push_bind(candidates[0].clone());
            qb.push(" LIMIT 1");
            if let Some(p) = qb.build_query_as::<PermitForImport>().fetch_optional(pool).await? {
                return Ok(Some(p));
            }
            let mut qb = QueryBuilder::<DB>::new(COLUMNS);
            qb.push("permit_number IN (");
            let mut sep = qb.separated(", ");
            for c in candidates {
                sep.push_bind(c.clone());
            }
            // Ambiguous numbers (two permits printed with one number) match nothing.
            qb.push(") LIMIT 2");
            let found: Vec<PermitForImport> = qb.build_query_as().fetch_all(pool).await?;
            if !found.is_empty() {
                return Ok(if found.len() == 1 { found.into_iter().next() } else { None });
            }
            // Numbers hold `-` of their own ("503/0004/SIPD-DPM-PTSP/2021"), so a file name with
            // every separator turned into `-` is compared with the number normalised the same
            // way. A scan of the table, but only for inbox names that matched nothing else.
            let mut qb = QueryBuilder::<DB>::new(COLUMNS);
            qb.push(
                "UPPER(REPLACE(REPLACE(REPLACE(REPLACE(permit_number, '/', '-'), '_', '-'), '.', '-'), ' ', '-')) = ",
            )
            .push_bind(companion_domain::documents::normalize_permit_number(&candidates[0]));
            qb.push(" LIMIT 2");
            let found: Vec<PermitForImport> = qb.build_query_as().fetch_all(pool).await?;
            Ok(if found.len() == 1 { found.into_iter().next() } else { None })
        })
    }

    pub async fn document_by_sha256(&self, sha256: &str) -> Result<Option<Document>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE sha256 = $1"))
                .bind(sha256)
                .fetch_optional(pool)
                .await?)
        })
    }

    pub async fn get_document(&self, id: i64) -> Result<Option<Document>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// A permit's files, newest version first.
    pub async fn documents_for_permit(&self, pendaftaran_id: &str) -> Result<Vec<Document>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!(
                "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE pendaftaran_id = $1 ORDER BY version DESC"
            ))
            .bind(pendaftaran_id)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Claims the permit's next version number for an import about to write its object: one
    /// above every stored version and every open claim. The claim's primary key makes this
    /// race-free on both backends — of concurrent claims of one number one wins, the others
    /// (a unique violation) claim again. Release it with [`Database::release_document_version`]
    /// once the row is written or the import gives up.
    pub async fn claim_document_version(&self, pendaftaran_id: &str) -> Result<i64> {
        const ATTEMPTS: usize = 64;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let now = crate::now();
            let claimed: std::result::Result<i64, sqlx::Error> = on_backend!(self, pool => {
                sqlx::query_scalar(
                    "INSERT INTO document_version_claims (pendaftaran_id, version, claimed_at) \
                     SELECT $1, COALESCE(MAX(v), 0) + 1, $2 FROM ( \
                       SELECT version AS v FROM documents WHERE pendaftaran_id = $1 \
                       UNION ALL \
                       SELECT version AS v FROM document_version_claims WHERE pendaftaran_id = $1 \
                     ) AS taken RETURNING version",
                )
                .bind(pendaftaran_id)
                .bind(now)
                .fetch_one(pool)
                .await
            });
            match claimed {
                Ok(v) => return Ok(v),
                Err(e)
                    if e.as_database_error()
                        .is_some_and(|d| d.is_unique_violation()) =>
                {
                    last = Some(e);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.map(DbError::Sqlx).unwrap_or(DbError::Corrupt {
            column: "document_version_claims",
            detail: "no version could be claimed".into(),
        }))
    }

    /// Ends a claim made by [`Database::claim_document_version`].
    pub async fn release_document_version(&self, pendaftaran_id: &str, version: i64) -> Result<()> {
        on_backend!(self, pool => {
            sqlx::query("DELETE FROM document_version_claims WHERE pendaftaran_id = $1 AND version = $2")
                .bind(pendaftaran_id)
                .bind(version)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The version number the permit's next file gets (a look only: imports claim theirs with
    /// [`Database::claim_document_version`]).
    pub async fn next_document_version(&self, pendaftaran_id: &str) -> Result<i64> {
        let max: Option<i64> = on_backend!(self, pool => {
            sqlx::query_scalar("SELECT MAX(version) FROM documents WHERE pendaftaran_id = $1")
                .bind(pendaftaran_id)
                .fetch_one(pool)
                .await?
        });
        Ok(max.unwrap_or(0) + 1)
    }

    pub async fn insert_document(
        &self,
        d: &NewDocument<'_>,
    ) -> std::result::Result<Document, InsertDocumentError> {
        let now = crate::now();
        let inserted: std::result::Result<Document, sqlx::Error> = on_backend!(self, pool => {
            sqlx::query_as(&format!(
                "INSERT INTO documents (pendaftaran_id, kind, version, storage_key, sha256, size_bytes, pages, \
                 content_type, original_name, source, created_by_id, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {DOCUMENT_COLUMNS}"
            ))
            .bind(d.pendaftaran_id)
            .bind(d.kind)
            .bind(d.version)
            .bind(d.storage_key)
            .bind(d.sha256)
            .bind(d.size_bytes)
            .bind(d.pages)
            .bind(d.content_type)
            .bind(d.original_name)
            .bind(d.source)
            .bind(d.created_by_id)
            .bind(d.created_by)
            .bind(now)
            .fetch_one(pool)
            .await
        });
        inserted.map_err(|e| match e.as_database_error() {
            Some(db) if db.is_unique_violation() => {
                let msg = format!("{} {}", db.message(), db.constraint().unwrap_or(""));
                if msg.contains("sha256") {
                    InsertDocumentError::SameBytes
                } else {
                    InsertDocumentError::VersionTaken
                }
            }
            _ => InsertDocumentError::Db(DbError::Sqlx(e)),
        })
    }

    /// Every document's key, hash and size, for the integrity check.
    pub async fn document_objects(&self) -> Result<Vec<DocumentObject>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as("SELECT id, storage_key, sha256, size_bytes FROM documents ORDER BY storage_key")
                .fetch_all(pool)
                .await?)
        })
    }

    pub async fn document_count(&self) -> Result<i64> {
        on_backend!(self, pool => {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM documents").fetch_one(pool).await?)
        })
    }

    /// Issued permits that have no file yet ("PDF belum diunggah").
    pub async fn permits_waiting_for_pdf(&self) -> Result<i64> {
        on_backend!(self, pool => {
            Ok(sqlx::query_scalar(
                "SELECT COUNT(*) FROM permits p WHERE p.status = 'issued' \
                 AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.pendaftaran_id = p.pendaftaran_id)",
            )
            .fetch_one(pool)
            .await?)
        })
    }

    // ---- inbox ----

    pub async fn hold_inbox_file(
        &self,
        file_name: &str,
        held_path: &str,
        size_bytes: i64,
        sha256: &str,
        problem: &str,
        message: &str,
    ) -> Result<InboxFile> {
        let now = crate::now();
        on_backend!(self, pool => {
            Ok(sqlx::query_as(
                "INSERT INTO inbox_files (file_name, held_path, size_bytes, sha256, problem, message, found_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 RETURNING id, file_name, held_path, size_bytes, sha256, problem, message, found_at",
            )
            .bind(file_name)
            .bind(held_path)
            .bind(size_bytes)
            .bind(sha256)
            .bind(problem)
            .bind(message)
            .bind(now)
            .fetch_one(pool)
            .await?)
        })
    }

    pub async fn inbox_files(&self) -> Result<Vec<InboxFile>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(
                "SELECT id, file_name, held_path, size_bytes, sha256, problem, message, found_at \
                 FROM inbox_files ORDER BY found_at DESC, id DESC",
            )
            .fetch_all(pool)
            .await?)
        })
    }

    pub async fn get_inbox_file(&self, id: i64) -> Result<Option<InboxFile>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(
                "SELECT id, file_name, held_path, size_bytes, sha256, problem, message, found_at \
                 FROM inbox_files WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?)
        })
    }

    pub async fn delete_inbox_file(&self, id: i64) -> Result<bool> {
        on_backend!(self, pool => {
            Ok(sqlx::query("DELETE FROM inbox_files WHERE id = $1").bind(id).execute(pool).await?.rows_affected() == 1)
        })
    }

    // ---- links ----

    pub async fn create_link(
        &self,
        document_id: i64,
        expires_at: DateTime<Utc>,
        note: &str,
        created_by: &str,
    ) -> Result<DocumentLink> {
        let now = crate::now();
        let expires_at = crate::truncate_micros(expires_at);
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!(
                "INSERT INTO document_links (document_id, expires_at, note, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING {LINK_COLUMNS}"
            ))
            .bind(document_id)
            .bind(expires_at)
            .bind(note)
            .bind(created_by)
            .bind(now)
            .fetch_one(pool)
            .await?)
        })
    }

    pub async fn get_link(&self, id: i64) -> Result<Option<DocumentLink>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!("SELECT {LINK_COLUMNS} FROM document_links WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// A document's links, newest first.
    pub async fn links_for_document(&self, document_id: i64) -> Result<Vec<DocumentLink>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!(
                "SELECT {LINK_COLUMNS} FROM document_links WHERE document_id = $1 ORDER BY id DESC"
            ))
            .bind(document_id)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Revokes a link; `false` when it does not exist or was revoked already.
    pub async fn revoke_link(&self, id: i64, by: &str) -> Result<bool> {
        let now = crate::now();
        on_backend!(self, pool => {
            Ok(sqlx::query("UPDATE document_links SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL")
                .bind(now)
                .bind(by)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected() == 1)
        })
    }

    /// Whether the document is a file of a revoked signing case (its original, stamped or
    /// signed version, or a signed version an archive renewal replaced): no applicant link may
    /// serve it any more.
    pub async fn document_revoked(&self, document_id: i64) -> Result<bool> {
        on_backend!(self, pool => {
            let hit: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM signing_cases c WHERE state = 'revoked' \
                 AND (original_document_id = $1 OR stamped_document_id = $2 OR signed_document_id = $3 \
                      OR EXISTS (SELECT 1 FROM archive_renewals r WHERE r.case_id = c.id AND r.from_document_id = $4)) LIMIT 1",
            )
            .bind(document_id)
            .bind(document_id)
            .bind(document_id)
            .bind(document_id)
            .fetch_optional(pool)
            .await?;
            Ok(hit.is_some())
        })
    }

    /// Revokes every open link to the files of signing case `case_id`; returns the link ids.
    pub async fn revoke_links_of_case(&self, case_id: i64, by: &str) -> Result<Vec<i64>> {
        let now = crate::now();
        on_backend!(self, pool => {
            Ok(sqlx::query_scalar(
                "UPDATE document_links SET revoked_at = $1, revoked_by = $2 \
                 WHERE revoked_at IS NULL AND document_id IN ( \
                   SELECT original_document_id FROM signing_cases WHERE id = $3 \
                   UNION SELECT stamped_document_id FROM signing_cases WHERE id = $4 \
                   UNION SELECT signed_document_id FROM signing_cases WHERE id = $5 \
                   UNION SELECT from_document_id FROM archive_renewals WHERE case_id = $6) \
                 RETURNING id",
            )
            .bind(now)
            .bind(by)
            .bind(case_id)
            .bind(case_id)
            .bind(case_id)
            .bind(case_id)
            .fetch_all(pool)
            .await?)
        })
    }

    pub async fn record_link_use(&self, id: i64) -> Result<()> {
        let now = crate::now();
        on_backend!(self, pool => {
            sqlx::query("UPDATE document_links SET uses = uses + 1, last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    // ---- integrity ----

    pub async fn save_integrity_check(&self, c: &IntegrityCheck) -> Result<i64> {
        let problems = crate::to_json(&c.problems);
        on_backend!(self, pool => {
            Ok(sqlx::query_scalar(
                "INSERT INTO integrity_checks (started_at, finished_at, documents, objects, missing, mismatched, \
                 orphaned, problems, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(crate::truncate_micros(c.started_at))
            .bind(crate::truncate_micros(c.finished_at))
            .bind(c.documents)
            .bind(c.objects)
            .bind(c.missing)
            .bind(c.mismatched)
            .bind(c.orphaned)
            .bind(problems)
            .bind(c.error.as_deref())
            .fetch_one(pool)
            .await?)
        })
    }

    pub async fn latest_integrity_check(&self) -> Result<Option<IntegrityCheck>> {
        let row: Option<IntegrityRow> = on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT id, started_at, finished_at, documents, objects, missing, mismatched, orphaned, problems, error \
                 FROM integrity_checks ORDER BY id DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await?
        });
        row.map(|r| {
            let problems = serde_json::from_str(&r.problems).map_err(|e| DbError::Corrupt {
                column: "integrity_checks.problems",
                detail: e.to_string(),
            })?;
            Ok(IntegrityCheck {
                id: r.id,
                started_at: r.started_at,
                finished_at: r.finished_at,
                documents: r.documents,
                objects: r.objects,
                missing: r.missing,
                mismatched: r.mismatched,
                orphaned: r.orphaned,
                problems,
                error: r.error,
            })
        })
        .transpose()
    }
}
