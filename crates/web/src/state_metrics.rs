//! The gauges `/metrics` reads from the database at each scrape (see `docs/metrics.md`): how
//! complete the copy of SICANTIK is, the expiry dates still unknown, the signer certificates' end
//! of validity, stalled signing items, the WhatsApp outbox and the last integrity check.
//!
//! They describe shared state, not this process: every instance of a scale-out reports the same
//! values (dashboards take `max`), and they are right from the first scrape after a restart.
//! A part that cannot be read within the time limit keeps its previous value and is logged.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use companion_db::SyncRun;
use companion_domain::RunOutcome;

use crate::AppState;

/// The run kinds the sync records (`sync_runs.kind`).
pub const RUN_KINDS: &[&str] = &["list_full", "list_incremental", "types", "expiry"];

/// How long one scrape may spend on the database.
const SCRAPE_BUDGET: Duration = Duration::from_secs(5);

fn unix_seconds(t: chrono::DateTime<chrono::Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn system_seconds(t: SystemTime) -> f64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// Sets every database-derived gauge; called by the `/metrics` handler before it renders.
pub async fn refresh(state: &AppState) {
    match tokio::time::timeout(SCRAPE_BUDGET, collect(state)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: a gauge could not be read"),
        Err(_) => tracing::warn!("metrics: the database gauges took longer than 5 s"),
    }
}

async fn collect(state: &AppState) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    sync_runs(state).await?;
    for (status, n) in state.db.expiry_status_counts().await? {
        metrics::gauge!("companion_issued_permits", "expiry_status" => status).set(n as f64);
    }
    for (s, n) in state.db.message_counts().await? {
        metrics::gauge!("companion_whatsapp_outbox_messages", "state" => s).set(n as f64);
    }
    if let Some(check) = state.db.latest_integrity_check().await? {
        metrics::gauge!("companion_documents_integrity_problems")
            .set((check.missing + check.mismatched + check.orphaned) as f64);
        metrics::gauge!("companion_documents_integrity_check_timestamp_seconds")
            .set(unix_seconds(check.finished_at));
    }
    signing(state).await?;
    Ok(())
}

/// The newest run of `kind` that is over (not running), from its newest few.
fn settled(runs: &[SyncRun]) -> Option<&SyncRun> {
    runs.iter()
        .find(|r| r.outcome().is_ok_and(|o| o != RunOutcome::Running))
}

async fn sync_runs(state: &AppState) -> Result<(), companion_db::DbError> {
    let mut newest_list: Option<SyncRun> = None;
    let mut newest_full: Option<SyncRun> = None;
    for kind in RUN_KINDS {
        let runs = state.db.newest_runs_of(kind, 3).await?;
        let Some(run) = settled(&runs) else { continue };
        let ended = run.finished_at.unwrap_or(run.heartbeat_at);
        let complete = run.outcome().is_ok_and(|o| o == RunOutcome::Succeeded);
        metrics::gauge!("companion_sync_last_run_timestamp_seconds", "kind" => *kind)
            .set(unix_seconds(ended));
        metrics::gauge!("companion_sync_last_run_complete", "kind" => *kind).set(if complete {
            1.0
        } else {
            0.0
        });
        if kind.starts_with("list_") && newest_list.as_ref().is_none_or(|n| n.id < run.id) {
            newest_list = Some(run.clone());
        }
        if *kind == "list_full" {
            newest_full = Some(run.clone());
        }
    }
    if let Some(last) = state
        .db
        .last_run_with("list_full", RunOutcome::Succeeded)
        .await?
    {
        metrics::gauge!("companion_sync_last_complete_full_timestamp_seconds")
            .set(unix_seconds(last.finished_at.unwrap_or(last.started_at)));
    }
    // Pages still unread after the newest list run of either kind; permits the newest full run
    // found stored here but no longer in SICANTIK's list.
    if let Some(details) = newest_list.as_ref().and_then(|r| r.details()) {
        for l in &details.lists {
            metrics::gauge!("companion_sync_failed_pages", "list" => l.endpoint.clone())
                .set(l.failed_offsets.len() as f64);
        }
    }
    if let Some(details) = newest_full.as_ref().and_then(|r| r.details()) {
        for l in &details.lists {
            if let Some(missing) = l.missing {
                metrics::gauge!("companion_sync_missing_permits", "list" => l.endpoint.clone())
                    .set(missing.max(0) as f64);
            }
        }
    }
    Ok(())
}

async fn signing(state: &AppState) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let Some(signing) = &state.signing else {
        return Ok(());
    };
    const GAUGE: &str = "companion_signer_certificate_not_after_timestamp_seconds";
    match signing.signer_certificate() {
        // The local signer: the one certificate it signs with.
        Some((subject, not_after)) => {
            metrics::gauge!(GAUGE, "signer" => "local", "subject" => subject)
                .set(unix_seconds(not_after));
        }
        // BSrE: each official's certificate, as learned from the files it signed (the newest
        // certificate of each subject: a renewed one replaces the old).
        None => {
            if let Some(documents) = &state.documents {
                let mut newest: BTreeMap<String, f64> = BTreeMap::new();
                for cert in companion_documents::office::known(documents).await? {
                    let subject = cert.tbs_certificate.subject.to_string();
                    let end =
                        system_seconds(cert.tbs_certificate.validity.not_after.to_system_time());
                    let slot = newest.entry(subject).or_insert(end);
                    *slot = slot.max(end);
                }
                for (subject, end) in newest {
                    metrics::gauge!(GAUGE, "signer" => "bsre", "subject" => subject).set(end);
                }
            }
        }
    }
    let stalled = signing.stalled_items().await?;
    metrics::gauge!("companion_signing_items_stalled").set(stalled.len() as f64);
    Ok(())
}
