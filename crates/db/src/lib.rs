//! Persistence for SQLite (the embedded default) and PostgreSQL (production), behind one type.
//!
//! Most SQL is written once: both engines accept `$N` placeholders, `ON CONFLICT … DO UPDATE`
//! and `RETURNING`, so [`on_backend!`] expands one body for each concrete pool. Where the engines
//! differ (column types, locking) each backend has its own migrations and, rarely, its own branch.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub mod accounts;
pub mod archive;
pub mod audit;
pub mod backup;
pub mod certificate_revocations;
pub mod dashboard;
pub mod documents;
pub mod expiry;
pub mod jobs;
pub mod notifications;
pub mod office_certificates;
pub mod permits;
pub mod provider_aliases;
pub mod retention;
pub mod signing;
pub mod signing_batches;
pub mod surveys;
pub mod sync_runs;
pub mod testing;
pub mod tracking;
pub mod types;
pub mod verifications;

pub use accounts::{ApiToken, NewSession, SessionInfo, User};
pub use audit::AuditQuery;
pub use dashboard::{Dashboard, ExpiryBuckets, MonthCount, TypeCount};
pub use documents::{
    Document, DocumentLink, DocumentObject, InboxFile, InsertDocumentError, IntegrityCheck,
    IntegrityProblem, NewDocument, PermitForImport,
};
pub use expiry::{ExpiryDue, ExpiryOutcome, ExpiryTask};
pub use notifications::{
    Claim, ConsentEntry, Contact, DaftarRequest, ExpiringPermit, ImportedLetter, MessageDay,
    MessageQuery, NewMessage, Receipt, Renewal, TemplateOverride, WaMessage, WaitingCase,
};
pub use permits::{EventRow, HistoryEntry, PermitQuery, PermitSort, StatusCounts};
pub use signing::{CaseChanges, SigningCase};
pub use signing_batches::{BatchItem, SigningBatch};
pub use sync_runs::{ApiCallRecord, SkippedRow, SyncRun};
pub use verifications::{IssuedDocument, NewVerification, VerificationEntry, VerificationStats};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported DATABASE_URL scheme in {0:?}: use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("could not create the database folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("a record with this {0} already exists")]
    Duplicate(&'static str),
    #[error("corrupt stored value in {column}: {detail}")]
    Corrupt {
        column: &'static str,
        detail: String,
    },
}

pub type Result<T, E = DbError> = std::result::Result<T, E>;

#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The application's database: a pool on one of the two backends.
#[derive(Clone, Debug)]
pub struct Database {
    pub(crate) backend: Backend,
}

/// Runs `$body` with `$pool` bound to the concrete pool and `DB` naming the sqlx database type.
macro_rules! on_backend {
    ($db:expr, $pool:ident => $body:expr) => {
        match &$db.backend {
            $crate::Backend::Sqlite($pool) => {
                #[allow(unused)]
                type DB = sqlx::Sqlite;
                $body
            }
            $crate::Backend::Postgres($pool) => {
                #[allow(unused)]
                type DB = sqlx::Postgres;
                $body
            }
        }
    };
}
pub(crate) use on_backend;

/// Timestamps are kept at microsecond precision, what PostgreSQL stores, so a value read back
/// compares equal to the one written on both backends.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    truncate_micros(chrono::Utc::now())
}

pub fn truncate_micros(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// The SQLite file and its folder are private to the service's account: a new folder is made
/// 0700 and a new file 0600 before SQLite opens it (SQLite gives its `-wal` and `-shm` files the
/// database file's mode), and an existing file readable by others is narrowed to 0600: it holds
/// password hashes, sessions and personal data.
fn private_sqlite_file(file: &std::path::Path) -> Result<()> {
    let folder_error = |path: &std::path::Path, source| DbError::Folder {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(parent)
            .map_err(|e| folder_error(parent, e))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(file)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                for suffix in ["", "-wal", "-shm"] {
                    let path = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
                    let Ok(meta) = std::fs::metadata(&path) else {
                        continue;
                    };
                    if meta.permissions().mode() & 0o077 != 0 {
                        match std::fs::set_permissions(
                            &path,
                            std::fs::Permissions::from_mode(0o600),
                        ) {
                            Ok(()) => {
                                tracing::warn!(file = %path.display(), "the database file was readable by others: now 0600")
                            }
                            Err(e) => {
                                tracing::warn!(file = %path.display(), error = %e, "the database file is readable by others and cannot be narrowed")
                            }
                        }
                    }
                }
            }
            Err(e) => return Err(folder_error(file, e)),
        }
    }
    Ok(())
}

impl Database {
    /// Opens (and for SQLite creates) the database named by `url`.
    pub async fn connect(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                // WAL lets readers run beside the one writer; NORMAL is crash-safe in WAL mode
                // (a kill -9 loses nothing committed), trading only the last commits on power loss.
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
                // 64 MiB of page cache per connection (the default is 2 MiB): the bulk sync
                // touches every index of a table that soon outgrows 2 MiB.
                .pragma("cache_size", "-65536");
            let file = opts.get_filename().to_path_buf();
            if file.to_str() != Some(":memory:") && !file.as_os_str().is_empty() {
                private_sqlite_file(&file)?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(opts)
                .await?;
            Ok(Self {
                backend: Backend::Sqlite(pool),
            })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            // random_page_cost 1.1 is the usual setting for SSD/RAM-resident data. With the
            // default 4 the planner prefers a sequential scan to a few hundred primary-key
            // look-ups once the permits table is large (the sync's per-page read became O(n²)).
            let opts = PgConnectOptions::from_str(url)?.options([("random_page_cost", "1.1")]);
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            Ok(Self {
                backend: Backend::Postgres(pool),
            })
        } else {
            Err(DbError::UnsupportedUrl(redact_url(url)))
        }
    }

    /// Applies the backend's pending migrations. Each runs in a transaction: a failed one leaves
    /// the database as it was.
    pub async fn migrate(&self) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Backend::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        on_backend!(self, pool => { sqlx::query("SELECT 1").execute(pool).await?; });
        Ok(())
    }

    /// Whether the database takes writes (readiness): a row written in a transaction that is
    /// rolled back. A read-only database (a read-only file or mount, a PostgreSQL standby or
    /// `default_transaction_read_only`) fails here while `SELECT 1` still answers.
    pub async fn ping_write(&self) -> Result<()> {
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO kv (key, value, updated_at) VALUES ('readyz.probe', 'probe', $1) \
                 ON CONFLICT (key) DO UPDATE SET updated_at = excluded.updated_at",
            )
            .bind(now())
            .execute(&mut *tx)
            .await?;
            tx.rollback().await?;
        });
        Ok(())
    }

    pub async fn close(&self) {
        on_backend!(self, pool => pool.close().await)
    }
}

/// `url` with any password replaced, safe for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub(crate) fn json_map(column: &'static str, raw: &str) -> Result<companion_domain::DataFlags> {
    serde_json::from_str(raw).map_err(|e| DbError::Corrupt {
        column,
        detail: e.to_string(),
    })
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    // Serialising plain maps and JSON values cannot fail.
    serde_json::to_string(v).unwrap_or_else(|_| "{}".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
