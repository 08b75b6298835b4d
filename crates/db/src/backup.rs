//! What `backup` and `restore` need from the database: a consistent SQLite snapshot, the
//! SQLite file behind a URL, whether a database is empty, and the figures compared after a
//! restore. PostgreSQL is dumped and restored with its own tools (`pg_dump`/`pg_restore`).

use std::path::PathBuf;
use std::str::FromStr;

use serde::Serialize;

use crate::{Database, Result, on_backend};

/// Row counts of the tables a restore must bring back, for the backup's manifest and the check
/// after a restore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Figures {
    pub permits: i64,
    pub documents: i64,
    pub signing_cases: i64,
    pub audit_entries: i64,
    pub messages: i64,
    pub users: i64,
    pub verification_checks: i64,
}

/// The tables counted, in the order of [`Figures`]' fields.
const FIGURE_TABLES: [&str; 7] = [
    "permits",
    "documents",
    "signing_cases",
    "audit_log",
    "wa_messages",
    "users",
    "verification_log",
];

impl Figures {
    fn from_counts(c: &[i64]) -> Self {
        let at = |i: usize| c.get(i).copied().unwrap_or(0);
        Figures {
            permits: at(0),
            documents: at(1),
            signing_cases: at(2),
            audit_entries: at(3),
            messages: at(4),
            users: at(5),
            verification_checks: at(6),
        }
    }
}

/// The file a `sqlite:` URL names (`None` for other URLs or in-memory databases).
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let path = opts.get_filename();
    (!path.as_os_str().is_empty() && path.to_str() != Some(":memory:")).then(|| path.to_path_buf())
}

impl Database {
    /// A consistent copy of the whole SQLite database into `path` (`VACUUM INTO`: one read
    /// transaction, so writers may go on meanwhile). Not for PostgreSQL.
    pub async fn sqlite_snapshot(&self, path: &std::path::Path) -> Result<bool> {
        match &self.backend {
            crate::Backend::Sqlite(pool) => {
                sqlx::query("VACUUM INTO $1")
                    .bind(path.display().to_string())
                    .execute(pool)
                    .await?;
                Ok(true)
            }
            crate::Backend::Postgres(_) => Ok(false),
        }
    }

    /// No user table at all (a database `restore` may fill).
    pub async fn is_blank(&self) -> Result<bool> {
        let tables: i64 = on_backend!(self, pool => {
            match <DB as sqlx::Database>::NAME {
                "SQLite" => sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                    .fetch_one(pool)
                    .await?,
                _ => sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()")
                    .fetch_one(pool)
                    .await?,
            }
        });
        Ok(tables == 0)
    }

    pub async fn figures(&self) -> Result<Figures> {
        let mut counts = Vec::with_capacity(FIGURE_TABLES.len());
        for table in FIGURE_TABLES {
            counts.push(on_backend!(self, pool => {
                sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
                    .fetch_one(pool)
                    .await?
            }));
        }
        Ok(Figures::from_counts(&counts))
    }
}

/// A PostgreSQL transaction whose snapshot is exported, so `pg_dump --snapshot` dumps exactly
/// what this transaction sees — and the figures and object list read here match the dump.
pub struct PgSnapshot {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    pub id: String,
}

impl PgSnapshot {
    pub async fn figures(&mut self) -> Result<Figures> {
        let mut counts = Vec::with_capacity(FIGURE_TABLES.len());
        for table in FIGURE_TABLES {
            counts.push(
                sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
                    .fetch_one(&mut *self.tx)
                    .await?,
            );
        }
        Ok(Figures::from_counts(&counts))
    }

    pub async fn document_objects(&mut self) -> Result<Vec<crate::DocumentObject>> {
        Ok(sqlx::query_as(
            "SELECT id, storage_key, sha256, size_bytes FROM documents ORDER BY storage_key",
        )
        .fetch_all(&mut *self.tx)
        .await?)
    }

    /// Ends the snapshot (after `pg_dump` finished with it).
    pub async fn finish(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

impl Database {
    /// `Some` on PostgreSQL: a repeatable-read transaction with its snapshot exported.
    pub async fn pg_export_snapshot(&self) -> Result<Option<PgSnapshot>> {
        let crate::Backend::Postgres(pool) = &self.backend else {
            return Ok(None);
        };
        let mut tx = pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *tx)
            .await?;
        Ok(Some(PgSnapshot { tx, id }))
    }
}
