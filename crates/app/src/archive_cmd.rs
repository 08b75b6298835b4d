//! `archive renew [--at TIME] [--limit N] [--json]`: one run of the archive-timestamp renewal
//! (issue 20) from the shell, the same the server runs hourly — for an operator who wants it now,
//! and for tests (`--at` looks at the schedule as of another moment; the new timestamps are
//! still made now, by the TSA).

use clap::{Args, Subcommand};

use crate::CliError;
use crate::config::Settings;

#[derive(Args)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    pub command: ArchiveCommand,
}

#[derive(Subcommand)]
pub enum ArchiveCommand {
    /// Renew the archive timestamps that are due. Exit 1 when any renewal failed.
    Renew {
        /// The moment to judge what is due at (RFC 3339); now by default.
        #[arg(long)]
        at: Option<String>,
        /// Cases to look at in this run.
        #[arg(long, default_value_t = 10_000)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(settings: &Settings, args: ArchiveArgs) -> Result<(), CliError> {
    let ArchiveCommand::Renew { at, limit, json } = args.command;
    let now = match at.as_deref() {
        None => chrono::Utc::now(),
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|e| CliError::User(format!("--at {t:?}: {e}")))?
            .with_timezone(&chrono::Utc),
    };
    let db = crate::server::open_database(settings).await?;
    let documents = crate::server::open_documents(settings, &db).await?;
    let Some(signing) = crate::server::open_signing(settings, &db, &documents)? else {
        db.close().await;
        return Err(CliError::User(
            "signing is not set up here (run `keys init`): nothing to renew".into(),
        ));
    };
    let report = signing
        .renew_archives(now, limit.max(1))
        .await
        .map_err(|e| CliError::Internal(anyhow::Error::new(e).context("archive renewal")));
    db.close().await;
    let report = report?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| CliError::Internal(e.into()))?
        );
    } else {
        println!(
            "checked {}, renewed {}, resumed {}, scheduled {}, stopped {}, failed {}",
            report.checked,
            report.renewed,
            report.resumed,
            report.scheduled,
            report.stopped,
            report.failed
        );
    }
    if report.failed > 0 {
        return Err(CliError::User(format!(
            "{} renewal(s) failed; see /tte or the log",
            report.failed
        )));
    }
    Ok(())
}
