//! `sync`: one run from the command line (`--once`), or the sync jobs on their schedule.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use companion_domain::RunOutcome;
use companion_sicantik::{
    SicantikClient, SyncMode, run_expiry_sync, run_list_sync, run_types_sync,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::config::Settings;
use crate::scheduler::{Job, Scheduler};
use crate::{CliError, server};

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// One run, then exit (otherwise: keep syncing on the configured schedule).
    #[arg(long)]
    once: bool,
    /// Only the newest pages, until nothing new appears (default for --once: every page).
    #[arg(long)]
    incremental: bool,
    /// Also run the expiry workaround (cekperizinan) for permits that need it.
    #[arg(long)]
    expiry: bool,
    /// Skip the list sync (e.g. `--skip-list --expiry` to resume an expiry sync).
    #[arg(long)]
    skip_list: bool,
    /// Also sync permit types and SICANTIK's type count.
    #[arg(long)]
    types: bool,
    /// Look up at most N permits in the expiry sync.
    #[arg(long)]
    expiry_limit: Option<usize>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub async fn run(settings: Settings, args: SyncArgs) -> Result<(), CliError> {
    crate::telemetry::metrics();
    let db = server::open_database(&settings).await?;
    let client =
        SicantikClient::new(settings.client_config()).map_err(|e| CliError::Internal(e.into()))?;
    let scheduler = Scheduler::new(db.clone(), client.clone(), Arc::new(settings.clone()));
    // A run from the command line takes the same leases as the scheduler, so it never overlaps
    // a scheduled run of another process.
    let patience = Duration::from_secs(600);
    if !args.once {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let jobs = scheduler.spawn_all(rx);
        eprintln!("syncing on schedule; Ctrl-C stops");
        let _ = tokio::signal::ctrl_c().await;
        let _ = tx.send(true);
        for j in jobs {
            let _ = j.await;
        }
        return Ok(());
    }

    let mut out = serde_json::Map::new();
    // Every run's outcome: the command succeeds only when each one did.
    let mut outcomes: Vec<(&str, RunOutcome)> = Vec::new();
    if args.types {
        let report = scheduler
            .wait_and_run(Job::Types.lease(), patience, async {
                Ok(run_types_sync(&client, &db).await?)
            })
            .await?;
        outcomes.push(("permit types", report.outcome));
        if !args.json {
            eprintln!(
                "permit types: {:?}, SICANTIK jumlahPerizinan = {:?}",
                report.counts, report.upstream_type_count
            );
        }
    }
    if !args.skip_list {
        let mode = if args.incremental {
            SyncMode::Incremental
        } else {
            SyncMode::Full
        };
        let spinner = ProgressBar::new_spinner();
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let on_progress = |s: &companion_domain::SyncSummary| {
            spinner.set_message(format!(
                "{} rows, {} new, {} changed",
                s.fetched, s.inserted, s.updated
            ));
            spinner.tick();
        };
        let opts = settings.sync_options(mode);
        let report = scheduler
            .wait_and_run(Job::ListFull.lease(), patience, async {
                Ok(run_list_sync(&client, &db, &opts, &on_progress).await?)
            })
            .await?;
        spinner.finish_and_clear();
        outcomes.push(("list sync", report.outcome));
        if let serde_json::Value::Object(m) =
            serde_json::to_value(report.summary).map_err(anyhow::Error::from)?
        {
            out.extend(m);
        }
        out.insert("outcome".into(), json!(report.outcome));
        out.insert(
            "lists".into(),
            serde_json::to_value(&report.details.lists).map_err(anyhow::Error::from)?,
        );
        if !report.details.warnings.is_empty() {
            out.insert("warnings".into(), json!(report.details.warnings));
        }
        if !args.json {
            eprintln!(
                "list sync {} (run {}): {:?}",
                report.outcome, report.run_id, report.summary
            );
            for l in &report.details.lists {
                if !l.failed_offsets.is_empty() {
                    eprintln!(
                        "  {}: pages at offsets {:?} could not be read; the next run asks them first",
                        l.endpoint, l.failed_offsets
                    );
                }
                if let Some(why) = &l.stopped {
                    eprintln!("  {}: {why}", l.endpoint);
                }
            }
            for w in &report.details.warnings {
                eprintln!("  warning: {w}");
            }
        }
    }
    if args.expiry {
        let mut opts = settings.expiry_options();
        opts.limit = args.expiry_limit;
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("expiry {bar:40} {pos}/{len} ({per_sec}, eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let on_progress = |done: u64, total: u64| {
            bar.set_length(total);
            bar.set_position(done);
        };
        let report = scheduler
            .wait_and_run(Job::Expiry.lease(), patience, async {
                Ok(run_expiry_sync(&client, &db, &opts, &on_progress).await?)
            })
            .await?;
        bar.finish_and_clear();
        outcomes.push(("expiry sync", report.outcome));
        if !args.json {
            eprintln!(
                "expiry sync {}: {} looked up, {} found, {} without expiry, {} not registered, {} errors, {} calls",
                report.outcome,
                report.processed,
                report.found,
                report.no_expiry,
                report.not_registered,
                report.errors,
                report.calls
            );
        }
        out.insert(
            "expiry".into(),
            serde_json::to_value(&report).map_err(anyhow::Error::from)?,
        );
    }
    if args.json {
        println!("{}", serde_json::Value::Object(out));
    } else if out.is_empty() {
        eprintln!(
            "{}",
            json!({"note": "nothing to do: pass --types, --expiry or drop --skip-list"})
        );
    }
    db.close().await;
    let incomplete: Vec<String> = outcomes
        .iter()
        .filter(|(_, o)| *o != RunOutcome::Succeeded)
        .map(|(what, o)| format!("{what} {o}"))
        .collect();
    if !incomplete.is_empty() {
        return Err(CliError::Internal(anyhow::anyhow!(
            "sync did not complete ({}): SICANTIK could not be read in full (see the API call log)",
            incomplete.join(", ")
        )));
    }
    Ok(())
}
