//! The watched inbox folder. Files dropped into it are matched to a permit by their name
//! (registration id or permit number) and imported through the one import path; an imported file
//! leaves the folder (the store has it). Files that cannot be imported move to `held/` and are
//! listed for a person, who assigns them to a permit or discards them.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use companion_db::{Document, InboxFile};
use companion_domain::documents::{DocumentKind, inbox_name_candidates};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Actor, Documents, ImportError, ImportSource};

const HELD: &str = "held";

pub(crate) fn prepare(dir: &Path) {
    if let Err(e) = std::fs::create_dir_all(dir.join(HELD)) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot create the inbox folder");
    }
}

/// What happened to one file.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum InboxOutcome {
    Imported {
        file: String,
        pendaftaran_id: String,
        document_id: i64,
        version: i64,
    },
    /// The same bytes were stored already for the matched permit; the file was removed.
    Duplicate {
        file: String,
        pendaftaran_id: String,
        document_id: i64,
    },
    Held {
        file: String,
        problem: String,
        message: String,
    },
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct InboxReport {
    pub files: Vec<InboxOutcome>,
}

impl Documents {
    /// Looks at every settled file in the inbox once. Errors of the store or database leave the
    /// file where it is for the next scan.
    pub async fn scan_inbox(&self) -> Result<InboxReport, ImportError> {
        let Some(dir) = self.inner.config.inbox_dir.clone() else {
            return Ok(InboxReport::default());
        };
        let mut report = InboxReport::default();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read the inbox folder");
                return Ok(report);
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                // Hidden files and partial copies (`.part`, `.tmp`, `~`) are not ready.
                !(name.starts_with('.')
                    || name.ends_with(".part")
                    || name.ends_with(".tmp")
                    || name.ends_with('~'))
            })
            .collect();
        files.sort();
        let actor = Actor::system("inbox");
        for path in files {
            if !self.settled(&path) {
                continue;
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = match tokio::fs::read(&path).await {
                Ok(b) => Bytes::from(b),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot read an inbox file");
                    continue;
                }
            };
            let candidates = inbox_name_candidates(&name);
            let permit = self.inner.db.find_permit_for_import(&candidates).await?;
            let Some(permit) = permit else {
                let held = self
                    .hold(
                        &dir,
                        &path,
                        &name,
                        &bytes,
                        "unmatched",
                        "Nama berkas tidak cocok dengan nomor pendaftaran atau nomor izin mana pun.",
                    )
                    .await?;
                report.files.push(held);
                continue;
            };
            match self
                .import(
                    &permit.pendaftaran_id,
                    bytes.clone(),
                    Some(&name),
                    DocumentKind::Original,
                    ImportSource::Inbox,
                    &actor,
                )
                .await
            {
                Ok(imported) => {
                    remove(&path);
                    report.files.push(outcome_for(
                        &name,
                        &imported.document,
                        imported.already_stored,
                    ));
                }
                Err(e) if e.is_user_error() => {
                    let held = self
                        .hold(&dir, &path, &name, &bytes, e.code(), &e.pesan())
                        .await?;
                    report.files.push(held);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    fn settled(&self, path: &Path) -> bool {
        let settle = self.inner.config.inbox_settle;
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map(|t| {
                SystemTime::now()
                    .duration_since(t)
                    .map(|age| age >= settle)
                    .unwrap_or(false)
            })
            .unwrap_or(false)
    }

    async fn hold(
        &self,
        dir: &Path,
        path: &Path,
        name: &str,
        bytes: &[u8],
        problem: &str,
        message: &str,
    ) -> Result<InboxOutcome, ImportError> {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f");
        let held_rel = format!("{HELD}/{stamp}-{}", crate::clean_file_name(name));
        let target = dir.join(&held_rel);
        std::fs::rename(path, &target)
            .map_err(|e| ImportError::Storage(companion_storage::StorageError::Source(e)))?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        let row = self
            .inner
            .db
            .hold_inbox_file(
                name,
                &held_rel,
                bytes.len() as i64,
                &sha256,
                problem,
                message,
            )
            .await;
        if let Err(e) = row {
            // Put it back so the next scan sees it again instead of losing track of it.
            let _ = std::fs::rename(&target, path);
            return Err(e.into());
        }
        tracing::info!(file = name, problem, "inbox file held for a person");
        Ok(InboxOutcome::Held {
            file: name.to_string(),
            problem: problem.to_string(),
            message: message.to_string(),
        })
    }

    /// The files waiting for a person.
    pub async fn held_files(&self) -> Result<Vec<InboxFile>, ImportError> {
        Ok(self.inner.db.inbox_files().await?)
    }

    /// Imports a held file for the permit a person chose; on success the file leaves the inbox.
    pub async fn assign_held(
        &self,
        id: i64,
        pendaftaran_id: &str,
        actor: &Actor,
    ) -> Result<Option<crate::Imported>, ImportError> {
        let (Some(dir), Some(held)) = (
            self.inner.config.inbox_dir.as_ref(),
            self.inner.db.get_inbox_file(id).await?,
        ) else {
            return Ok(None);
        };
        let path = dir.join(&held.held_path);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| ImportError::Storage(companion_storage::StorageError::Source(e)))?;
        let imported = self
            .import(
                pendaftaran_id,
                Bytes::from(bytes),
                Some(&held.file_name),
                DocumentKind::Original,
                ImportSource::Inbox,
                actor,
            )
            .await?;
        self.inner.db.delete_inbox_file(id).await?;
        remove(&path);
        Ok(Some(imported))
    }

    /// Deletes a held file a person judged useless.
    pub async fn discard_held(&self, id: i64, actor: &Actor) -> Result<bool, ImportError> {
        let (Some(dir), Some(held)) = (
            self.inner.config.inbox_dir.as_ref(),
            self.inner.db.get_inbox_file(id).await?,
        ) else {
            return Ok(false);
        };
        self.inner.db.delete_inbox_file(id).await?;
        remove(&dir.join(&held.held_path));
        self.inner
            .db
            .append_audit(&actor.record(
                "inbox.discard",
                Some(("inbox_file", id.to_string())),
                serde_json::json!({"file": held.file_name, "sha256": held.sha256, "problem": held.problem}),
            ))
            .await?;
        Ok(true)
    }
}

fn outcome_for(name: &str, d: &Document, duplicate: bool) -> InboxOutcome {
    if duplicate {
        InboxOutcome::Duplicate {
            file: name.to_string(),
            pendaftaran_id: d.pendaftaran_id.clone(),
            document_id: d.id,
        }
    } else {
        InboxOutcome::Imported {
            file: name.to_string(),
            pendaftaran_id: d.pendaftaran_id.clone(),
            document_id: d.id,
            version: d.version,
        }
    }
}

fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(file = %path.display(), error = %e, "cannot remove an imported inbox file");
    }
}
