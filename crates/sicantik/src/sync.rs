//! The list sync: pages through `listpermohonanproses` then `listpermohonanterbit` (newest
//! first), validates rows, plans each page against the database and applies it in one transaction.
//!
//! Paging by offset over a list that changes while it is read: new permits at the head push rows
//! to later pages (seen twice: the second sight is "unchanged"), and permits leaving the
//! in-process list pull rows to earlier pages (which would be missed). Consecutive pages therefore
//! overlap by `overlap` rows. Fetching, planning and writing overlap (see `sync_list`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use companion_db::{ApiCallRecord, Database, DbError, SkippedRow};
use companion_domain::{
    IncomingPermit, PagePlan, PermitStatus, RecentPermits, SyncSummary, plan_page,
};
use serde::{Deserialize, Serialize};

use crate::client::{Answer, ApiError, SicantikClient};
use crate::rows::list_row;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Every page of both lists.
    Full,
    /// Newest pages only, until a page brings nothing new, plus one page of margin.
    Incremental,
}

impl SyncMode {
    pub fn run_kind(self) -> &'static str {
        match self {
            SyncMode::Full => "list_full",
            SyncMode::Incremental => "list_incremental",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub mode: SyncMode,
    pub page_size: u32,
    /// Rows each page re-reads from the previous one (see the module notes).
    pub overlap: u32,
    /// Give up on a list after this many consecutive pages failed even after retries.
    pub max_consecutive_failures: u32,
    /// Safety stop for a runaway upstream that never signals the end.
    pub max_pages: u32,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            mode: SyncMode::Full,
            page_size: 100,
            overlap: 10,
            max_consecutive_failures: 3,
            max_pages: 100_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncReport {
    pub run_id: i64,
    pub outcome: String,
    pub summary: SyncSummary,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Db(#[from] DbError),
}

#[derive(Clone, Copy)]
struct ListSpec {
    endpoint: &'static str,
    status: PermitStatus,
}

const LISTS: [ListSpec; 2] = [
    ListSpec {
        endpoint: "listpermohonanproses",
        status: PermitStatus::InProcess,
    },
    ListSpec {
        endpoint: "listpermohonanterbit",
        status: PermitStatus::Issued,
    },
];

struct Page {
    offset: u64,
    result: Result<Answer, ApiError>,
    calls: Vec<ApiCallRecord>,
}

async fn fetch_page(client: &SicantikClient, endpoint: &str, offset: u64, limit: u32) -> Page {
    let mut calls = Vec::new();
    let params = [("limit", limit.to_string()), ("offset", offset.to_string())];
    let result = client.get(endpoint, &params, &mut calls).await;
    Page {
        offset,
        result,
        calls,
    }
}

/// Runs one list sync and records it as a sync run. `on_progress` sees the running totals after
/// every page.
pub async fn run_list_sync(
    client: &SicantikClient,
    db: &Database,
    opts: &SyncOptions,
    on_progress: &(dyn Fn(&SyncSummary) + Send + Sync),
) -> Result<SyncReport, SyncError> {
    let started = Instant::now();
    let run_id = db.start_run(opts.mode.run_kind()).await?;
    let mut summary = SyncSummary::default();
    let mut failure: Option<String> = None;
    for list in LISTS {
        if let Err(e) = sync_list(client, db, opts, list, run_id, &mut summary, on_progress).await {
            // A database failure ends the run; what was committed page by page stays.
            summary.errors += 1;
            failure = Some(format!("{}: {e}", list.endpoint));
            break;
        }
    }
    summary.duration_ms = started.elapsed().as_millis() as u64;
    let outcome = match (&failure, summary.errors) {
        (Some(_), _) => "failed",
        (None, 0) => "succeeded",
        (None, _) if summary.fetched > 0 => "partial",
        (None, _) => "failed",
    };
    let message = failure
        .clone()
        .or_else(|| (summary.errors > 0).then(|| format!("{} page(s) failed", summary.errors)));
    db.finish_run(run_id, &summary, outcome, message.as_deref())
        .await?;
    for (label, n) in [
        ("inserted", summary.inserted),
        ("updated", summary.updated),
        ("unchanged", summary.unchanged),
        ("skipped_invalid", summary.skipped_invalid),
    ] {
        metrics::counter!("companion_sync_permits_total", "result" => label).increment(n);
    }
    metrics::counter!("companion_sync_runs_total", "kind" => opts.mode.run_kind(), "outcome" => outcome).increment(1);
    tracing::info!(run_id, outcome, ?summary, "list sync finished");
    Ok(SyncReport {
        run_id,
        outcome: outcome.to_string(),
        summary,
    })
}

async fn sync_list(
    client: &SicantikClient,
    db: &Database,
    opts: &SyncOptions,
    list: ListSpec,
    run_id: i64,
    summary: &mut SyncSummary,
    on_progress: &(dyn Fn(&SyncSummary) + Send + Sync),
) -> Result<(), DbError> {
    // Three stages overlap: fetching page n+1, planning page n, writing page n-1. The writer
    // gets a bounded queue, so a slow database slows the reader instead of filling memory.
    let (queue, mut pending) = tokio::sync::mpsc::channel::<PageWrite>(WRITE_QUEUE);
    // The writer is its own task, so encoding the next statements and the database's work run
    // beside the reader's parsing on the other core.
    let writer_db = db.clone();
    let writer = tokio::spawn(async move {
        let db = writer_db;
        // Group commit: whatever pages queued up while the last batch was written go into one
        // transaction. Fewer commits rewrite the same index pages less often.
        while let Some(first) = pending.recv().await {
            let mut batch = WriteBatch::default();
            batch.add(first);
            while batch.pages < MAX_BATCH_PAGES {
                match pending.try_recv() {
                    Ok(write) => batch.add(write),
                    Err(_) => break,
                }
            }
            db.apply_page(&batch.plan, Some(run_id), &batch.calls, &batch.skipped)
                .await?;
            if let Some(summary) = batch.heartbeat {
                db.run_progress(run_id, &summary, 0, 0).await?;
            }
        }
        Ok::<(), DbError>(())
    });
    let reader = read_list(client, db, opts, list, summary, on_progress, queue);
    let read = reader.await;
    // A write error is the root cause when both failed (the reader only saw the queue close).
    match writer.await {
        Ok(written) => written?,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
    read
}

/// Pages the reader may plan ahead of the writer.
const WRITE_QUEUE: usize = 8;
/// Most pages written in one transaction.
const MAX_BATCH_PAGES: usize = WRITE_QUEUE;
/// Pages whose planned state the reader keeps: more than can be planned but not committed
/// (the queue plus the batch being written).
const RECENT_PAGES: usize = WRITE_QUEUE + MAX_BATCH_PAGES + 2;

enum PageWrite {
    Page {
        plan: PagePlan,
        calls: Vec<ApiCallRecord>,
        skipped: Vec<SkippedRow>,
    },
    Calls(Vec<ApiCallRecord>),
    Heartbeat(SyncSummary),
}

#[derive(Default)]
struct WriteBatch {
    pages: usize,
    plan: PagePlan,
    calls: Vec<ApiCallRecord>,
    skipped: Vec<SkippedRow>,
    heartbeat: Option<SyncSummary>,
}

impl WriteBatch {
    fn add(&mut self, write: PageWrite) {
        match write {
            PageWrite::Page {
                plan,
                calls,
                skipped,
            } => {
                self.pages += 1;
                self.plan.absorb(plan);
                self.calls.extend(calls);
                self.skipped.extend(skipped);
            }
            PageWrite::Calls(calls) => self.calls.extend(calls),
            PageWrite::Heartbeat(summary) => self.heartbeat = Some(summary),
        }
    }
}

async fn read_list(
    client: &SicantikClient,
    db: &Database,
    opts: &SyncOptions,
    list: ListSpec,
    summary: &mut SyncSummary,
    on_progress: &(dyn Fn(&SyncSummary) + Send + Sync),
    queue: tokio::sync::mpsc::Sender<PageWrite>,
) -> Result<(), DbError> {
    let limit = opts.page_size.max(1);
    let step = u64::from(limit.saturating_sub(opts.overlap.min(limit / 2)).max(1));
    let mut recent = RecentPermits::new(RECENT_PAGES);
    let mut page = fetch_page(client, list.endpoint, 0, limit).await;
    let mut consecutive_failures = 0;
    let mut quiet_pages = 0;
    let mut last_heartbeat = Instant::now();
    for page_no in 0..opts.max_pages {
        // Whether a page follows this one is only known for a full page or a failed one; fetch it
        // while this page is planned.
        let may_continue = match &page.result {
            Ok(Answer::Rows(rows)) => rows.len() as u64 >= u64::from(limit),
            Ok(Answer::NotFound(_)) => false,
            Err(_) => true,
        };
        let next_offset = page.offset
            + if page.result.is_ok() {
                step
            } else {
                u64::from(limit)
            };
        // Its own task: parsing a page then runs beside the planning of this one.
        let prefetch = (may_continue && page_no + 1 < opts.max_pages).then(|| {
            let client = client.clone();
            tokio::spawn(
                async move { fetch_page(&client, list.endpoint, next_offset, limit).await },
            )
        });
        let prefetch = async {
            match prefetch {
                Some(task) => Some(task.await),
                None => None,
            }
        };
        let (next, planned) = tokio::join!(prefetch, plan(db, list, page, summary, &mut recent));
        let (write, brought_news) = planned?;
        if queue.send(write).await.is_err() {
            // The writer stopped on an error, which `sync_list` reports.
            return Ok(());
        }
        on_progress(summary);
        if last_heartbeat.elapsed() >= Duration::from_secs(1) {
            if queue.send(PageWrite::Heartbeat(*summary)).await.is_err() {
                return Ok(());
            }
            last_heartbeat = Instant::now();
        }
        if brought_news == Some(false) {
            quiet_pages += 1;
        } else if brought_news == Some(true) {
            quiet_pages = 0;
        }
        if brought_news.is_none() {
            consecutive_failures += 1;
            if consecutive_failures >= opts.max_consecutive_failures {
                tracing::error!(
                    endpoint = list.endpoint,
                    "too many consecutive failed pages, giving up on this list"
                );
                return Ok(());
            }
        } else {
            consecutive_failures = 0;
        }
        // Incremental: stop after a quiet page plus one more quiet page of margin.
        if opts.mode == SyncMode::Incremental && quiet_pages >= 2 {
            return Ok(());
        }
        match next {
            Some(Ok(n)) => page = n,
            Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
            None => return Ok(()),
        }
    }
    tracing::warn!(
        endpoint = list.endpoint,
        max_pages = opts.max_pages,
        "page cap reached"
    );
    Ok(())
}

/// Plans one page. Besides the write, returns `Some(true)` if it inserts or updates anything,
/// `Some(false)` if it brings nothing new, `None` if the page could not be read.
async fn plan(
    db: &Database,
    list: ListSpec,
    page: Page,
    summary: &mut SyncSummary,
    recent: &mut RecentPermits,
) -> Result<(PageWrite, Option<bool>), DbError> {
    let rows = match page.result {
        Ok(Answer::Rows(rows)) => rows,
        Ok(Answer::NotFound(_)) => return Ok((PageWrite::Calls(page.calls), Some(false))),
        Err(e) => {
            summary.errors += 1;
            tracing::error!(endpoint = list.endpoint, offset = page.offset, error = %e, "page failed after retries; skipped");
            return Ok((PageWrite::Calls(page.calls), None));
        }
    };
    summary.fetched += rows.len() as u64;
    let mut valid: Vec<IncomingPermit> = Vec::with_capacity(rows.len());
    let mut skipped = Vec::new();
    for raw in &rows {
        match list_row(raw, list.status) {
            Ok(p) => valid.push(p),
            Err(reason) => {
                tracing::warn!(endpoint = list.endpoint, offset = page.offset, %reason, "row skipped");
                skipped.push(SkippedRow {
                    endpoint: list.endpoint.to_string(),
                    reason,
                    raw: serde_json::to_string(raw).unwrap_or_default(),
                });
            }
        }
    }
    summary.skipped_invalid += skipped.len() as u64;
    // Ids a recent page planned come from the overlay (their write may not have committed);
    // the rest from the database.
    let mut existing = HashMap::new();
    let mut missing = Vec::new();
    for p in &valid {
        match recent.get(&p.pendaftaran_id) {
            Some(known) => {
                existing.insert(p.pendaftaran_id.clone(), known.clone());
            }
            None => missing.push(p.pendaftaran_id.clone()),
        }
    }
    existing.extend(db.load_permits(&missing).await?);
    let plan = plan_page(&valid, &existing);
    recent.remember(&plan, &existing);
    summary.add_plan(&plan);
    let news = !plan.inserts.is_empty() || !plan.updates.is_empty();
    let write = PageWrite::Page {
        plan,
        calls: page.calls,
        skipped,
    };
    Ok((write, Some(news)))
}

/// A run that died without closing (kill -9) shows as interrupted once its heartbeat is this old.
pub const STALE_RUN_AFTER: Duration = Duration::from_secs(600);
