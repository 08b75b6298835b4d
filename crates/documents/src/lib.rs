//! Documents: every PDF enters through [`Documents::import`] — staff upload, the API, the watched
//! inbox, the command line and the demo all call it — so every file gets the same checks, the same
//! versioning and the same audit entry. Also here: the inbox scanner, applicant download links and
//! the integrity check of the store against the database.

mod inbox;
mod integrity;
mod links;
pub mod office;

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use chrono::Datelike;
use companion_db::{Database, DbError, Document, InsertDocumentError, NewDocument};
use companion_domain::AuditRecord;
use companion_domain::documents::{DocumentKind, object_key};
use companion_pdf::PdfProblem;
use companion_storage::{Labels, Storage, StorageError, StoredObject};
use sha2::{Digest, Sha256};

pub use inbox::{InboxOutcome, InboxReport};
pub use links::{LinkError, MAX_LINK_DAYS, NewLink};
pub use office::OfficeMarks;

/// The default size limit of an imported PDF (20 MB).
pub const DEFAULT_MAX_PDF_BYTES: u64 = 20 * 1000 * 1000;

#[derive(Debug, Clone)]
pub struct DocumentsConfig {
    /// Larger files are refused (`MAX_PDF_MB`).
    pub max_pdf_bytes: u64,
    /// The watched folder (`INBOX_DIR`); `None` turns the inbox off.
    pub inbox_dir: Option<PathBuf>,
    /// The key that signs applicant links (`LINK_SECRET`); when unset, one is generated once and
    /// kept in the database, so every instance shares it.
    pub link_secret: Option<String>,
    /// Inbox files younger than this are left alone: they may still be being copied in.
    pub inbox_settle: std::time::Duration,
}

impl Default for DocumentsConfig {
    fn default() -> Self {
        Self {
            max_pdf_bytes: DEFAULT_MAX_PDF_BYTES,
            inbox_dir: None,
            link_secret: None,
            inbox_settle: std::time::Duration::from_secs(2),
        }
    }
}

/// Who does something, for the audit trail.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub name: String,
    /// The client address, or `cli`, `inbox`, `demo`, `scheduler`.
    pub source: String,
}

impl Actor {
    /// The system itself (inbox scanner, demo, scheduler).
    pub fn system(source: &str) -> Self {
        Actor {
            user_id: None,
            name: "sistem".into(),
            source: source.into(),
        }
    }

    /// The audit record of this actor doing `action` (shared by every capability that acts
    /// through an [`Actor`]).
    pub fn record(
        &self,
        action: &str,
        target: Option<(&str, String)>,
        details: serde_json::Value,
    ) -> AuditRecord {
        AuditRecord {
            actor_id: self.user_id,
            actor: self.name.clone(),
            action: action.into(),
            target_kind: target.as_ref().map(|(k, _)| k.to_string()),
            target_id: target.map(|(_, id)| id),
            source: self.source.clone(),
            details,
        }
    }
}

/// How a file arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportSource {
    Upload,
    Api,
    Inbox,
    Cli,
    Demo,
    /// A stamped or signed version made by the signing workflow.
    Signing,
}

impl ImportSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportSource::Upload => "upload",
            ImportSource::Api => "api",
            ImportSource::Inbox => "inbox",
            ImportSource::Cli => "cli",
            ImportSource::Demo => "demo",
            ImportSource::Signing => "signing",
        }
    }
}

/// A file that was accepted.
#[derive(Debug, Clone)]
pub struct Imported {
    pub document: Document,
    /// The same bytes were stored already for this permit: nothing new was written.
    pub already_stored: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Rejected(PdfProblem),
    #[error("no permit with registration id {0:?}")]
    UnknownPermit(String),
    #[error("these bytes are already stored for permit {0}")]
    OtherPermit(String),
    /// The document belongs to a revoked signing case: no new applicant link.
    #[error("the document was revoked")]
    Revoked,
    /// The file already carries this office's QR seal or signature: a processed letter, not a
    /// new original (one letter, one case). A person may override with a note.
    #[error("the file already carries this office's seal or signature")]
    OfficeDocument(OfficeMarks),
    #[error("an override needs a note")]
    OverrideNoteRequired,
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("database: {0}")]
    Db(#[from] DbError),
}

impl ImportError {
    /// A stable code for APIs.
    pub fn code(&self) -> &'static str {
        match self {
            ImportError::Rejected(p) => p.code(),
            ImportError::UnknownPermit(_) => "unknown_permit",
            ImportError::OtherPermit(_) => "belongs_to_other_permit",
            ImportError::Revoked => "document_revoked",
            ImportError::OfficeDocument(_) => "carries_office_marks",
            ImportError::OverrideNoteRequired => "override_note_required",
            ImportError::Storage(_) => "storage_unavailable",
            ImportError::Db(_) => "database_error",
        }
    }

    /// Whether the file is at fault (a 4xx), rather than the system (a 5xx).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, ImportError::Storage(_) | ImportError::Db(_))
    }

    /// The message for staff, in Bahasa Indonesia.
    pub fn pesan(&self) -> String {
        match self {
            ImportError::Rejected(p) => p.pesan(),
            ImportError::UnknownPermit(id) => {
                format!("Izin dengan nomor pendaftaran {id} tidak ditemukan.")
            }
            ImportError::OtherPermit(id) => {
                format!("Berkas yang sama persis sudah tersimpan untuk izin {id}.")
            }
            ImportError::Revoked => {
                "Dokumen ini sudah dicabut; tautan unduhan untuk pemohon tidak dapat dibuat lagi."
                    .into()
            }
            ImportError::OfficeDocument(marks) => marks.pesan(),
            ImportError::OverrideNoteRequired => {
                "Untuk tetap memakai berkas ini, tulis catatan alasannya.".into()
            }
            ImportError::Storage(_) => {
                "Penyimpanan berkas sedang tidak dapat dihubungi; coba lagi nanti.".into()
            }
            ImportError::Db(_) => "Basis data sedang bermasalah; coba lagi nanti.".into(),
        }
    }
}

/// A version key that stays taken (an object left by a crash before its row was written, or a
/// number an older instance took) moves the import to the next number; this many tries at most.
const VERSION_ATTEMPTS: i64 = 8;

/// The documents service. Cheap to clone.
#[derive(Clone)]
pub struct Documents {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    storage: Storage,
    config: DocumentsConfig,
    link_secret: Vec<u8>,
}

impl std::fmt::Debug for Documents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Documents")
            .field("storage", &self.inner.storage)
            .field("max_pdf_bytes", &self.inner.config.max_pdf_bytes)
            .field("inbox_dir", &self.inner.config.inbox_dir)
            .finish()
    }
}

impl Documents {
    /// Sets up the service; reads (or creates once) the link-signing key.
    pub async fn new(
        db: Database,
        storage: Storage,
        config: DocumentsConfig,
    ) -> Result<Self, DbError> {
        let secret = match config.link_secret.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => s.as_bytes().to_vec(),
            None => db
                .kv_get_or_init(
                    "documents.link_secret",
                    &companion_domain::accounts::random_secret(),
                )
                .await?
                .into_bytes(),
        };
        if let Some(dir) = &config.inbox_dir {
            inbox::prepare(dir);
        }
        // Whether the store refuses a second writer of a key decides the key scheme; found out
        // now, so the log says so at start-up (and again at the first write if it fails now).
        let probe = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            storage.conditional_writes(),
        )
        .await;
        match probe {
            Ok(Ok(true)) => {
                tracing::debug!(
                    store = storage.describe(),
                    "the object store honours create-only writes"
                )
            }
            Ok(Ok(false)) => tracing::warn!(
                store = storage.describe(),
                "the object store ignores create-only writes (If-None-Match): every new object gets a key of its own (v<n>-<kind>-<random>.pdf), recorded in the database"
            ),
            Ok(Err(e)) => {
                tracing::warn!(store = storage.describe(), error = %e, "could not probe the object store for create-only writes; probed again at the first write")
            }
            Err(_) => tracing::warn!(
                store = storage.describe(),
                "the object store did not answer the create-only probe within 10 s; probed again at the first write"
            ),
        }
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                storage,
                config,
                link_secret: secret,
            }),
        })
    }

    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    pub fn db(&self) -> &Database {
        &self.inner.db
    }

    pub fn max_pdf_bytes(&self) -> u64 {
        self.inner.config.max_pdf_bytes
    }

    pub fn inbox_dir(&self) -> Option<&std::path::Path> {
        self.inner.config.inbox_dir.as_deref()
    }

    /// The one import path. Checks the PDF, stores it under the permit's next version unless the
    /// same bytes are stored already, records the row and an audit entry.
    pub async fn import(
        &self,
        pendaftaran_id: &str,
        bytes: Bytes,
        original_name: Option<&str>,
        kind: DocumentKind,
        source: ImportSource,
        actor: &Actor,
    ) -> Result<Imported, ImportError> {
        self.import_checked(
            pendaftaran_id,
            bytes,
            original_name,
            kind,
            source,
            actor,
            None,
        )
        .await
    }

    /// [`Documents::import`] of an original that a person decided to keep although it carries
    /// this office's seal or signature (`note` says why; audited with what was found).
    pub async fn import_original_overriding(
        &self,
        pendaftaran_id: &str,
        bytes: Bytes,
        original_name: Option<&str>,
        source: ImportSource,
        actor: &Actor,
        note: &str,
    ) -> Result<Imported, ImportError> {
        let note = note.trim();
        if note.is_empty() {
            return Err(ImportError::OverrideNoteRequired);
        }
        self.import_checked(
            pendaftaran_id,
            bytes,
            original_name,
            DocumentKind::Original,
            source,
            actor,
            Some(note),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn import_checked(
        &self,
        pendaftaran_id: &str,
        bytes: Bytes,
        original_name: Option<&str>,
        kind: DocumentKind,
        source: ImportSource,
        actor: &Actor,
        override_note: Option<&str>,
    ) -> Result<Imported, ImportError> {
        let result = self
            .import_inner(
                pendaftaran_id,
                bytes,
                original_name,
                kind,
                source,
                actor,
                override_note,
            )
            .await;
        let outcome = match &result {
            Ok(i) if i.already_stored => "duplicate",
            Ok(_) => "stored",
            Err(e) => e.code(),
        };
        metrics::counter!("companion_documents_imported_total", "source" => source.as_str(), "result" => outcome)
            .increment(1);
        if let Err(e) = &result {
            tracing::info!(permit = pendaftaran_id, file = original_name.unwrap_or(""), source = source.as_str(), error = %e, "document refused");
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn import_inner(
        &self,
        pendaftaran_id: &str,
        bytes: Bytes,
        original_name: Option<&str>,
        kind: DocumentKind,
        source: ImportSource,
        actor: &Actor,
        override_note: Option<&str>,
    ) -> Result<Imported, ImportError> {
        let db = &self.inner.db;
        let info = companion_pdf::inspect(&bytes, self.inner.config.max_pdf_bytes)
            .map_err(ImportError::Rejected)?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let permit = db
            .find_permit_for_import(&[pendaftaran_id.to_string()])
            .await?
            .filter(|p| p.pendaftaran_id == pendaftaran_id)
            .ok_or_else(|| ImportError::UnknownPermit(pendaftaran_id.to_string()))?;
        if let Some(existing) = db.document_by_sha256(&sha256).await? {
            return same_bytes(existing, pendaftaran_id);
        }
        // One letter, one case: an original must not be a letter this office already sealed or
        // signed (case A's signed permit, a byte appended, as case B's original).
        let mut overridden = None;
        if kind == DocumentKind::Original {
            let marks = office::marks_in(self, &bytes).await?;
            if !marks.is_empty() {
                match override_note {
                    None => return Err(ImportError::OfficeDocument(marks)),
                    Some(note) => overridden = Some((marks, note.to_string())),
                }
            }
        }
        let year = permit
            .issue_date
            .map(|d| d.year())
            .unwrap_or_else(|| chrono::Utc::now().year());
        let original_name = original_name.map(clean_file_name);
        let labels = Labels::new("application/pdf")
            .with("permit-id", pendaftaran_id)
            .with("kind", kind.as_str());
        for _ in 0..VERSION_ATTEMPTS {
            // The number is this import's alone (claimed in the database), so no other import
            // of this system writes its key; the store's create-only write (or a key of its own
            // on a store without one) keeps anything else that is there untouched.
            let version = db.claim_document_version(pendaftaran_id).await?;
            let key = object_key(year, pendaftaran_id, version, kind);
            let labels = labels.clone().with("version", version.to_string());
            let stored = match self
                .inner
                .storage
                .put_new(&key, bytes.clone(), &labels)
                .await
            {
                Ok(stored) => stored,
                Err(StorageError::Exists(_)) => {
                    // An object left by a crash between object and row (or written by someone
                    // else): never overwritten, never deleted; the claim stays, so the number is
                    // skipped for good, and the leftover shows up as an orphan in the integrity
                    // check.
                    continue;
                }
                Err(e) => {
                    self.release_claim(pendaftaran_id, version).await;
                    return Err(e.into());
                }
            };
            let row = NewDocument {
                pendaftaran_id,
                kind: kind.as_str(),
                version,
                storage_key: &stored.key,
                sha256: &sha256,
                size_bytes: bytes.len() as i64,
                pages: i64::from(info.pages),
                content_type: "application/pdf",
                original_name: original_name.as_deref(),
                source: source.as_str(),
                created_by_id: actor.user_id,
                created_by: &actor.name,
            };
            let inserted = db.insert_document(&row).await;
            self.release_claim(pendaftaran_id, version).await;
            match inserted {
                Ok(document) => {
                    let record = actor.record(
                        "document.import",
                        Some(("permit", pendaftaran_id.to_string())),
                        serde_json::json!({
                            "document_id": document.id,
                            "version": document.version,
                            "kind": document.kind,
                            "sha256": document.sha256,
                            "size": document.size_bytes,
                            "pages": document.pages,
                            "key": document.storage_key,
                            "via": source.as_str(),
                            "file": document.original_name,
                        }),
                    );
                    db.append_audit(&record).await?;
                    if let Some((marks, note)) = &overridden {
                        db.append_audit(&actor.record(
                            "document.import_override",
                            Some(("permit", pendaftaran_id.to_string())),
                            serde_json::json!({
                                "document_id": document.id,
                                "note": note,
                                "sealed_for": marks.sealed_for,
                                "signed_by": marks.signed_by,
                            }),
                        ))
                        .await?;
                    }
                    return Ok(Imported {
                        document,
                        already_stored: false,
                    });
                }
                Err(InsertDocumentError::VersionTaken) => {
                    // A writer that does not claim numbers (an older instance during an
                    // upgrade) took it: remove this import's object, claim the next.
                    self.remove_own_object(&stored).await;
                }
                Err(InsertDocumentError::SameBytes) => {
                    self.remove_own_object(&stored).await;
                    let existing =
                        db.document_by_sha256(&sha256)
                            .await?
                            .ok_or_else(|| DbError::Corrupt {
                                column: "documents.sha256",
                                detail: "duplicate reported but not found".into(),
                            })?;
                    return same_bytes(existing, pendaftaran_id);
                }
                Err(InsertDocumentError::Db(e)) => {
                    self.remove_own_object(&stored).await;
                    return Err(e.into());
                }
            }
        }
        Err(ImportError::Storage(StorageError::Exists(format!(
            "{pendaftaran_id}: {VERSION_ATTEMPTS} version keys in a row were taken"
        ))))
    }

    /// Removes an object this import stored a moment ago and that no row will point to — only
    /// when it is provably still the one this import wrote (same ETag and SHA-256); anything
    /// else under its key is left alone.
    async fn remove_own_object(&self, stored: &StoredObject) {
        match self.inner.storage.delete_own(stored).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(key = %stored.key, "an unreferenced object is not this import's own any more (or is gone); left alone");
            }
            Err(e) => {
                tracing::warn!(key = %stored.key, error = %e, "could not remove an unreferenced object; the integrity check will list it");
            }
        }
    }

    async fn release_claim(&self, pendaftaran_id: &str, version: i64) {
        if let Err(e) = self
            .inner
            .db
            .release_document_version(pendaftaran_id, version)
            .await
        {
            // A claim left behind only skips its number.
            tracing::warn!(permit = pendaftaran_id, version, error = %e, "could not release a version claim");
        }
    }
}

fn same_bytes(existing: Document, pendaftaran_id: &str) -> Result<Imported, ImportError> {
    if existing.pendaftaran_id == pendaftaran_id {
        Ok(Imported {
            document: existing,
            already_stored: true,
        })
    } else {
        Err(ImportError::OtherPermit(existing.pendaftaran_id))
    }
}

/// Keeps only the last path component and printable characters of a client-supplied name.
pub fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if cleaned.trim().is_empty() {
        "berkas.pdf".into()
    } else {
        cleaned
    }
}
