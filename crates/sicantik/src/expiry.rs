//! The expiry workaround: SICANTIK's lists carry no expiry date, so each issued permit is looked
//! up through `cekperizinan?no_izin=<base64(no_surat)>`, with `cekperizinanizin` (which decodes
//! the value and matches the number itself) as the fallback when the first says "not registered".
//!
//! Each result is committed as it arrives, together with its API calls, so a run killed at any
//! point resumes with the permits it had not finished; finished ones are never asked again in the
//! same period. Throughput is bounded only by the shared rate limit (concurrency keeps enough
//! calls in flight to use it).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use companion_db::expiry::ExpiryDue;
use companion_db::{Database, DbError, ExpiryOutcome, ExpiryTask};
use companion_domain::expiry::{ExpiryRetryPolicy, ExpiryStatus};
use companion_domain::{RunOutcome, SyncSummary};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};

use crate::client::{Answer, ApiError, SicantikClient};
use crate::rows::detail_rows;

#[derive(Debug, Clone)]
pub struct ExpiryOptions {
    /// Calls in flight at once (the rate limit still applies on top).
    pub concurrency: usize,
    /// A found expiry date is refreshed after this long.
    pub max_age: chrono::Duration,
    pub retry: ExpiryRetryPolicy,
    /// Stop after this many permits (None: every due permit).
    pub limit: Option<usize>,
}

impl Default for ExpiryOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            max_age: chrono::Duration::days(90),
            retry: ExpiryRetryPolicy::default(),
            limit: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExpiryReport {
    pub run_id: i64,
    pub outcome: RunOutcome,
    pub total_due: i64,
    pub processed: u64,
    pub found: u64,
    pub no_expiry: u64,
    pub not_registered: u64,
    pub errors: u64,
    pub calls: u64,
    pub duration_ms: u64,
}

/// `no_izin` as SICANTIK stores it: standard Base64 with padding of the UTF-8 permit number.
/// (URL-encoding happens when the query string is built, so `+`, `/` and `=` survive.)
pub fn no_izin(permit_number: &str) -> String {
    STANDARD.encode(permit_number.as_bytes())
}

async fn look_up(
    client: &SicantikClient,
    task: &ExpiryTask,
    log: &mut Vec<companion_db::ApiCallRecord>,
) -> Result<ExpiryOutcome, ApiError> {
    let params = [("no_izin", no_izin(&task.permit_number))];
    for endpoint in ["cekperizinan", "cekperizinanizin"] {
        match client.get(endpoint, &params, log).await? {
            Answer::Rows(rows) if !rows.is_empty() => {
                return Ok(detail_rows(
                    &rows,
                    &task.permit_number,
                    &task.pendaftaran_id,
                ));
            }
            // Only the server's clean "No Izin tidak Terdaftar!" sends us to the fallback.
            Answer::NotRegistered => continue,
            // "Tidak ada data.." or an empty list is not an answer about this permit.
            Answer::NoData | Answer::Rows(_) => {
                return Ok(ExpiryOutcome::without_detail(ExpiryStatus::Error));
            }
        }
    }
    Ok(ExpiryOutcome::without_detail(ExpiryStatus::NotRegistered))
}

/// Runs the expiry workaround over every due permit. `on_progress(done, total)` after each one.
pub async fn run_expiry_sync(
    client: &SicantikClient,
    db: &Database,
    opts: &ExpiryOptions,
    on_progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<ExpiryReport, DbError> {
    let started = Instant::now();
    let now = companion_db::now();
    let due = ExpiryDue {
        now,
        stale_before: now - opts.max_age,
        run_started: now,
    };
    let total_due = db.count_expiry_due(&due).await?;
    let target = opts
        .limit
        .map_or(total_due as u64, |l| (l as u64).min(total_due as u64));
    let run_id = db.start_run("expiry").await?;
    let heartbeat = crate::sync::RunHeartbeat::start(db, run_id);
    db.run_progress(run_id, &SyncSummary::default(), 0, target as i64)
        .await?;

    let mut report = ExpiryReport {
        run_id,
        total_due,
        ..Default::default()
    };
    let mut last_beat = Instant::now();
    let mut failure = None;
    // Due permits are read in chunks, walking forward by id, while up to `concurrency`
    // look-ups are in flight.
    let mut queue: VecDeque<ExpiryTask> = VecDeque::new();
    let mut after = String::new();
    let mut exhausted = false;
    let mut scheduled: u64 = 0;
    let mut in_flight = FuturesUnordered::new();
    loop {
        while in_flight.len() < opts.concurrency.max(1) && scheduled < target && failure.is_none() {
            if queue.is_empty() && !exhausted {
                match db.expiry_due(&due, &after, 200).await {
                    Ok(batch) if batch.is_empty() => exhausted = true,
                    Ok(batch) => {
                        after = batch
                            .last()
                            .map(|t| t.pendaftaran_id.clone())
                            .unwrap_or_default();
                        queue.extend(batch);
                    }
                    Err(e) => failure = Some(e),
                }
            }
            match queue.pop_front() {
                Some(task) => {
                    // Each look-up runs as its own task: a future merely stored here would not
                    // be polled while this loop awaits the database, and on SQLite a look-up
                    // paused inside its write transaction would hold the write lock against
                    // that very await (a deadlock until the busy timeout).
                    let (client, db, opts) = (client.clone(), db.clone(), opts.clone());
                    let work = tokio::spawn(async move {
                        process(&client, &db, &opts, Some(run_id), task).await
                    });
                    in_flight.push(async move {
                        work.await.unwrap_or_else(|e| {
                            tracing::error!(error = %e, "expiry look-up task failed");
                            Ok((ExpiryStatus::Error, 0))
                        })
                    });
                    scheduled += 1;
                }
                None => break,
            }
        }
        let Some(result) = in_flight.next().await else {
            break;
        };
        let (status, calls) = match result {
            Ok(r) => r,
            Err(e) => {
                failure = Some(e);
                continue;
            }
        };
        report.processed += 1;
        report.calls += calls;
        match status {
            ExpiryStatus::Found => report.found += 1,
            ExpiryStatus::NoExpiry => report.no_expiry += 1,
            ExpiryStatus::NotRegistered => report.not_registered += 1,
            ExpiryStatus::Error | ExpiryStatus::Unknown => report.errors += 1,
        }
        on_progress(report.processed, target);
        if last_beat.elapsed() >= Duration::from_secs(1) {
            last_beat = Instant::now();
            db.run_progress(
                run_id,
                &summary_of(&report),
                report.processed as i64,
                target as i64,
            )
            .await?;
        }
    }

    report.duration_ms = started.elapsed().as_millis() as u64;
    report.outcome = match (&failure, report.errors) {
        (Some(_), _) => RunOutcome::Failed,
        (None, 0) => RunOutcome::Succeeded,
        (None, _) if report.processed > report.errors => RunOutcome::Partial,
        (None, _) => RunOutcome::Failed,
    };
    let summary = summary_of(&report);
    db.run_progress(run_id, &summary, report.processed as i64, target as i64)
        .await?;
    let message = failure.as_ref().map(|e| e.to_string());
    heartbeat.stop().await;
    let message = message.or_else(|| {
        (report.errors > 0).then(|| {
            format!(
                "{} look-up(s) failed (no clean answer); asked again soon",
                report.errors
            )
        })
    });
    db.finish_run(run_id, &summary, report.outcome, message.as_deref(), None)
        .await?;
    metrics::counter!("companion_expiry_lookups_total", "result" => "found")
        .increment(report.found);
    metrics::counter!("companion_expiry_lookups_total", "result" => "not_registered")
        .increment(report.not_registered);
    metrics::counter!("companion_expiry_lookups_total", "result" => "no_expiry")
        .increment(report.no_expiry);
    metrics::counter!("companion_expiry_lookups_total", "result" => "error")
        .increment(report.errors);
    if let Some(e) = failure {
        return Err(e);
    }
    tracing::info!(?report, "expiry sync finished");
    Ok(report)
}

/// Looks up one permit now — an approval whose seal needs the dates — through the same client
/// (its rate limit and retries), recorded like a run's look-up (with no run).
pub async fn look_up_now(
    client: &SicantikClient,
    db: &Database,
    task: ExpiryTask,
) -> Result<ExpiryStatus, DbError> {
    let (status, _) = process(client, db, &ExpiryOptions::default(), None, task).await?;
    metrics::counter!("companion_expiry_lookups_total", "result" => match status {
        ExpiryStatus::Found => "found",
        ExpiryStatus::NoExpiry => "no_expiry",
        ExpiryStatus::NotRegistered => "not_registered",
        ExpiryStatus::Error | ExpiryStatus::Unknown => "error",
    })
    .increment(1);
    Ok(status)
}

async fn process(
    client: &SicantikClient,
    db: &Database,
    opts: &ExpiryOptions,
    run_id: Option<i64>,
    task: ExpiryTask,
) -> Result<(ExpiryStatus, u64), DbError> {
    let mut log = Vec::new();
    let mut outcome = ExpiryOutcome::without_detail(ExpiryStatus::Error);
    // An answer that was neither a clean hit nor a clean miss is asked once more in this run
    // (the client has already retried transport and wire failures with backoff).
    for _ in 0..2 {
        outcome = match look_up(client, &task, &mut log).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(pendaftaran_id = %task.pendaftaran_id, error = %e, "expiry look-up failed");
                ExpiryOutcome::without_detail(ExpiryStatus::Error)
            }
        };
        if outcome.status != ExpiryStatus::Error {
            break;
        }
    }
    let now = companion_db::now();
    let next = match outcome.status {
        ExpiryStatus::Found => None,
        // A failure says nothing about the permit: ask again soon, not after a miss's backoff.
        ExpiryStatus::Error => Some(opts.retry.after_failure(now, task.expiry_attempts + 1)),
        _ => Some(opts.retry.next_attempt(now, task.expiry_attempts + 1)),
    };
    db.record_expiry(&task, &outcome, next, run_id, &log)
        .await?;
    Ok((outcome.status, log.len() as u64))
}

fn summary_of(r: &ExpiryReport) -> SyncSummary {
    SyncSummary {
        fetched: r.processed,
        inserted: 0,
        updated: r.found + r.no_expiry,
        unchanged: r.not_registered,
        skipped_invalid: 0,
        errors: r.errors,
        duration_ms: r.duration_ms,
    }
}
