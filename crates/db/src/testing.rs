//! Throw-away databases for tests: a SQLite file in a temporary folder, or a fresh PostgreSQL
//! database (created and dropped by the test) on the server named by `TEST_POSTGRES_URL`
//! (default: the local server, user postgres, trust auth).

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::{Database, Result};

/// Runs an `async fn name(backend: &str)` test body once per backend, as the tests
/// `name::sqlite` and `name::postgres` (the crate using it needs tokio as a dev-dependency).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { super::$name("sqlite").await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { super::$name("postgres").await }
        }
    )* };
}

pub const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A test database that removes itself with [`TestDb::cleanup`].
pub struct TestDb {
    pub db: Database,
    pub url: String,
    admin_url: Option<String>,
    name: Option<String>,
    _dir: Option<tempfile_dir::Dir>,
}

/// A minimal temporary directory (avoids a dependency for the library build).
mod tempfile_dir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl TestDb {
    pub async fn sqlite() -> Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("companion-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(|source| crate::DbError::Folder {
            path: dir.display().to_string(),
            source,
        })?;
        let url = format!("sqlite://{}/test.db", dir.display());
        let db = Database::connect(&url).await?;
        db.migrate().await?;
        Ok(Self {
            db,
            url,
            admin_url: None,
            name: None,
            _dir: Some(tempfile_dir::Dir(dir)),
        })
    }

    pub async fn postgres() -> Result<Self> {
        let admin_url = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_TEST_POSTGRES_URL.to_string());
        let name = format!("companion_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let url = match admin_url.rfind('/') {
            Some(i)
                if admin_url[..i].contains("://") && i > admin_url.find("://").unwrap_or(0) + 2 =>
            {
                let (base, rest) = admin_url.split_at(i);
                let query = rest.find('?').map(|q| &rest[q..]).unwrap_or("");
                format!("{base}/{name}{query}")
            }
            _ => format!("{admin_url}/{name}"),
        };
        let db = Database::connect(&url).await?;
        db.migrate().await?;
        Ok(Self {
            db,
            url,
            admin_url: Some(admin_url),
            name: Some(name),
            _dir: None,
        })
    }

    /// Either backend by name: `sqlite` or `postgres`.
    pub async fn new(backend: &str) -> Result<Self> {
        match backend {
            "postgres" => Self::postgres().await,
            _ => Self::sqlite().await,
        }
    }

    pub async fn cleanup(self) -> Result<()> {
        self.db.close().await;
        if let (Some(admin_url), Some(name)) = (&self.admin_url, &self.name) {
            let mut admin = PgConnection::connect(admin_url).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await?;
            admin.close().await?;
        }
        Ok(())
    }
}

/// Runs raw SQL on the database behind the application's back (tests that tamper with rows).
pub async fn execute_raw(db: &Database, sql: &str) -> Result<u64> {
    Ok(crate::on_backend!(db, pool => {
        sqlx::query(sql).execute(pool).await?.rows_affected()
    }))
}

/// Sets a run's heartbeat (to play a process that died at `at`).
pub async fn set_run_heartbeat(
    db: &Database,
    run_id: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    crate::on_backend!(db, pool => {
        sqlx::query("UPDATE sync_runs SET heartbeat_at = $1 WHERE id = $2")
            .bind(at)
            .bind(run_id)
            .execute(pool)
            .await?;
    });
    Ok(())
}
