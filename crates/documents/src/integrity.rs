//! The integrity check: every row has its object with the recorded size and SHA-256, and every
//! object under `permits/` has a row. Run by `documents check` and by the scheduler; the latest
//! result shows on the dashboard.

use std::collections::HashSet;

use companion_db::{IntegrityCheck, IntegrityProblem};
use companion_storage::StorageError;
use futures::StreamExt;

use crate::{Documents, ImportError};

/// Findings kept per check (the counters are always complete).
const MAX_LISTED: usize = 500;
/// Objects hashed at once.
const PARALLEL: usize = 8;

impl Documents {
    /// Runs the check and stores its result.
    pub async fn check_integrity(&self) -> Result<IntegrityCheck, ImportError> {
        let started_at = companion_db::now();
        let rows = self.inner.db.document_objects().await?;
        let mut check = IntegrityCheck {
            id: 0,
            started_at,
            finished_at: started_at,
            documents: rows.len() as i64,
            objects: 0,
            missing: 0,
            mismatched: 0,
            orphaned: 0,
            problems: Vec::new(),
            error: None,
        };
        let storage = self.inner.storage.clone();
        let mut results = futures::stream::iter(rows.iter().cloned())
            .map(|row| {
                let storage = storage.clone();
                async move {
                    let found = storage.sha256_of(&row.storage_key).await;
                    (row, found)
                }
            })
            .buffer_unordered(PARALLEL);
        let mut problems = Vec::new();
        while let Some((row, found)) = results.next().await {
            match found {
                Ok(sha) if sha == row.sha256 => {}
                Ok(sha) => {
                    check.mismatched += 1;
                    problems.push(IntegrityProblem {
                        kind: "mismatch".into(),
                        key: row.storage_key,
                        document_id: Some(row.id),
                        detail: format!("SHA-256 is {sha}, recorded {}", row.sha256),
                    });
                }
                Err(StorageError::NotFound(_)) => {
                    check.missing += 1;
                    problems.push(IntegrityProblem {
                        kind: "missing".into(),
                        key: row.storage_key,
                        document_id: Some(row.id),
                        detail: "object not found".into(),
                    });
                }
                Err(e) => {
                    check.missing += 1;
                    problems.push(IntegrityProblem {
                        kind: "unreadable".into(),
                        key: row.storage_key,
                        document_id: Some(row.id),
                        detail: e.to_string(),
                    });
                }
            }
        }
        match self.inner.storage.list("permits").await {
            Ok(objects) => {
                check.objects = objects.len() as i64;
                let known: HashSet<&str> = rows.iter().map(|r| r.storage_key.as_str()).collect();
                for o in objects {
                    if !known.contains(o.key.as_str()) {
                        check.orphaned += 1;
                        problems.push(IntegrityProblem {
                            kind: "orphan".into(),
                            key: o.key,
                            document_id: None,
                            detail: format!("{} bytes, no database row", o.size),
                        });
                    }
                }
            }
            Err(e) => check.error = Some(format!("listing the store failed: {e}")),
        }
        problems.sort_by(|a, b| a.key.cmp(&b.key));
        problems.truncate(MAX_LISTED);
        check.problems = problems;
        check.finished_at = companion_db::now();
        check.id = self.inner.db.save_integrity_check(&check).await?;
        metrics::gauge!("companion_documents_integrity_problems")
            .set((check.missing + check.mismatched + check.orphaned) as f64);
        if check.is_clean() {
            tracing::info!(documents = check.documents, "integrity check clean");
        } else {
            tracing::warn!(missing = check.missing, mismatched = check.mismatched, orphaned = check.orphaned, error = ?check.error, "integrity check found problems");
        }
        Ok(check)
    }
}
