//! `sicantik-companion`: the command line, configuration and wiring of every capability.

mod accounts_cmd;
mod archive_cmd;
mod backup_cmd;
mod config;
mod documents_cmd;
mod keys_cmd;
mod scheduler;
mod server;
mod simulate;
mod surveys;
mod sync_cmd;
mod telemetry;
mod verify_cmd;
mod whatsapp;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;

#[derive(Parser)]
#[command(
    name = "sicantik-companion",
    version,
    about = "Companion to SICANTIK for DPMPTSP Kabupaten Karo"
)]
struct Cli {
    /// TOML configuration file (keys as in the configuration reference; the environment wins).
    #[arg(long, global = true, env = "COMPANION_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything offline on the embedded default: SQLite, local folder, simulators, seeded data.
    Demo {
        /// Permits in the simulated SICANTIK.
        #[arg(long, default_value_t = 1500)]
        permits: usize,
    },
    /// The production server from configuration.
    Serve,
    /// Apply database migrations.
    Migrate,
    /// Sync from SICANTIK.
    Sync(sync_cmd::SyncArgs),
    /// Run one simulator alone.
    Simulate(simulate::SimulateArgs),
    /// Validate a signed PDF offline (signing capability).
    Verify {
        file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        qr: Option<String>,
    },
    /// Documents: import PDFs, check the store's integrity, scan the inbox.
    Documents(documents_cmd::DocumentsArgs),
    /// Staff accounts: add, list, disable/enable, password, API token.
    User(accounts_cmd::UserArgs),
    /// Local signing material: `keys init` makes a root CA, an issuing CA, a signer certificate
    /// and the seal key; `keys revoke` revokes the signer certificate.
    Keys(keys_cmd::KeysArgs),
    /// Long-term validity: `archive renew` renews the archive timestamps that are due.
    Archive(archive_cmd::ArchiveArgs),
    /// The audit trail: `audit verify` checks its hash chain.
    Audit(accounts_cmd::AuditArgs),
    /// A consistent backup (database snapshot, documents, signing keys, manifest) into DIR.
    Backup {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Restore a backup into an empty system, then check it (figures, hashes, audit chain).
    Restore {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

/// Exit codes of the contract: 1 for a user error, 2 for an internal one.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    User(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<config::ConfigError> for CliError {
    fn from(e: config::ConfigError) -> Self {
        CliError::User(e.to_string())
    }
}

impl From<companion_db::DbError> for CliError {
    fn from(e: companion_db::DbError) -> Self {
        match e {
            companion_db::DbError::UnsupportedUrl(_) => CliError::User(e.to_string()),
            other => CliError::Internal(anyhow::Error::new(other).context("database")),
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Demo { permits } => {
            let _guard = telemetry::init(&settings);
            server::demo(settings, permits).await
        }
        Command::Serve => {
            let _guard = telemetry::init(&settings);
            server::serve(settings).await
        }
        Command::Migrate => {
            let _guard = telemetry::init(&settings);
            let db = server::open_database(&settings).await?;
            db.close().await;
            eprintln!("migrations applied ({})", db.backend_name());
            Ok(())
        }
        Command::Sync(args) => {
            let _guard = telemetry::init(&settings);
            sync_cmd::run(settings, args).await
        }
        Command::Simulate(args) => {
            let _guard = telemetry::init(&settings);
            simulate::run(args).await
        }
        Command::Verify { file, json, qr } => verify_cmd::run(&settings, file, json, qr).await,
        Command::Documents(args) => {
            let _guard = telemetry::init(&settings);
            let db = server::open_database(&settings).await?;
            let docs = server::open_documents(&settings, &db).await?;
            let result = documents_cmd::run(&docs, args).await;
            db.close().await;
            result
        }
        Command::User(args) => {
            let db = server::open_database(&settings).await?;
            let result = accounts_cmd::run_user(&db, args).await;
            db.close().await;
            result
        }
        Command::Keys(args) => keys_cmd::run(&settings, args).await,
        Command::Archive(args) => {
            let _guard = telemetry::init(&settings);
            archive_cmd::run(&settings, args).await
        }
        Command::Backup { dir, json } => backup_cmd::backup(&settings, &dir, json).await,
        Command::Restore { dir, json } => backup_cmd::restore(&settings, &dir, json).await,
        Command::Audit(args) => {
            let db = server::open_database(&settings).await?;
            let result = accounts_cmd::run_audit(&db, args).await;
            db.close().await;
            result
        }
    }
}

/// glibc's allocator raises its mmap threshold after each large free (up to 32 MB), so a
/// burst of 19 MB portal uploads ends up in heap arenas that are never given back. A fixed
/// threshold keeps every buffer of a megabyte or more in its own mapping, returned on free.
fn allocator_gives_memory_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called once, before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn main() -> ExitCode {
    allocator_gives_memory_back();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::User(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
        Err(CliError::Internal(e)) => {
            eprintln!("internal error: {e:#}");
            ExitCode::from(2)
        }
    }
}
