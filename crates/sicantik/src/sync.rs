//! The list sync: pages through `listpermohonanproses` then `listpermohonanterbit` (newest
//! first), validates rows, plans each page against the database and applies it in one transaction.
//!
//! Paging by offset over a list that changes while it is read: new permits at the head push rows
//! to later pages (seen twice: the second sight is "unchanged"), and permits leaving the
//! in-process list pull rows to earlier pages (which would be missed). Consecutive pages therefore
//! overlap by `overlap` rows. Fetching, planning and writing overlap (see `sync_list`).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use companion_db::{ApiCallRecord, Database, DbError, SkippedRow};
use companion_domain::{
    IncomingPermit, ListCoverage, ListGoal, PagePlan, PermitStatus, RecentPermits, RunDetails,
    RunOutcome, SyncSummary, plan_page, run_outcome,
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
    pub outcome: RunOutcome,
    pub summary: SyncSummary,
    pub details: RunDetails,
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

const PROSES: ListSpec = ListSpec {
    endpoint: "listpermohonanproses",
    status: PermitStatus::InProcess,
};
const TERBIT: ListSpec = ListSpec {
    endpoint: "listpermohonanterbit",
    status: PermitStatus::Issued,
};

/// Where the offsets a run could not read wait for the next run (JSON list of numbers).
fn pending_key(endpoint: &str) -> String {
    format!("sync.pending_offsets.{endpoint}")
}
/// Permits that left the in-process list and were looked for in a whole read of the issued list
/// without being found (rejected, most likely): not chased again by every poll.
const LEFT_UNFOUND_KEY: &str = "sync.left_unfound";

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

/// What the run knows while it reads: the final planned status of every permit it has seen, and
/// the permits that left the in-process list and are still to be found.
#[derive(Default)]
struct RunState {
    summary: SyncSummary,
    /// The latest planned status of every permit seen in any list.
    status_of: HashMap<String, PermitStatus>,
    /// The permits each list showed.
    seen_in: HashMap<&'static str, HashSet<String>>,
    unsettled: HashSet<String>,
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
    let heartbeat = RunHeartbeat::start(db, run_id);
    let mut state = RunState::default();
    let mut details = RunDetails::default();
    let mut failure: Option<String> = None;
    let mut goals = Vec::new();

    // The in-process list is short and read whole on every run, so a permit that leaves it is
    // noticed by the very next poll.
    let proses = sync_list(
        client,
        db,
        opts,
        PROSES,
        ListGoal::Whole,
        run_id,
        &mut state,
        on_progress,
    )
    .await;
    match proses {
        Ok(coverage) => {
            if coverage.reached_end && coverage.failed_offsets.is_empty() {
                match left_in_process(db, &coverage_ids(&state, PROSES)).await {
                    Ok(left) => state.unsettled = left,
                    Err(e) => failure = Some(format!("{}: {e}", PROSES.endpoint)),
                }
            } else {
                details.warnings.push(
                    "the in-process list was not read whole: permits that left it are not settled"
                        .into(),
                );
            }
            goals.push(ListGoal::Whole);
            details.lists.push(coverage);
        }
        Err(e) => failure = Some(format!("{}: {e}", PROSES.endpoint)),
    }
    if failure.is_none() {
        let goal = match opts.mode {
            SyncMode::Full => ListGoal::Whole,
            SyncMode::Incremental => ListGoal::Newest,
        };
        match sync_list(
            client,
            db,
            opts,
            TERBIT,
            goal,
            run_id,
            &mut state,
            on_progress,
        )
        .await
        {
            Ok(coverage) => {
                if coverage.reached_end && coverage.failed_offsets.is_empty() {
                    // Looked for in the whole issued list: remember them as not found.
                    details.left_unsettled = state.unsettled.iter().cloned().collect();
                    details.left_unsettled.sort();
                    if let Err(e) = remember_unfound(db, &details.left_unsettled).await {
                        failure = Some(format!("{}: {e}", TERBIT.endpoint));
                    }
                } else if !state.unsettled.is_empty() {
                    details.left_unsettled = state.unsettled.iter().cloned().collect();
                    details.left_unsettled.sort();
                }
                goals.push(goal);
                details.lists.push(coverage);
            }
            Err(e) => failure = Some(format!("{}: {e}", TERBIT.endpoint)),
        }
    }
    if failure.is_none()
        && let Err(e) = compare_with_database(db, opts.mode, &state, &mut details).await
    {
        failure = Some(format!("completeness check: {e}"));
    }
    if !details.left_unsettled.is_empty() {
        details.warnings.push(format!(
            "{} permit(s) left the in-process list and were not found among the issued permits",
            details.left_unsettled.len()
        ));
    }
    let shortfalls: Vec<(String, i64)> = details
        .shortfalls()
        .into_iter()
        .map(|(e, m)| (e.to_string(), m))
        .collect();
    for (endpoint, missing) in shortfalls {
        details.warnings.push(format!(
            "{endpoint}: {missing} stored permit(s) were not in SICANTIK's list"
        ));
        tracing::warn!(%endpoint, missing, "sync completeness: SICANTIK's list is shorter than the database");
    }

    let mut summary = state.summary;
    summary.duration_ms = started.elapsed().as_millis() as u64;
    let outcome = if failure.is_some() {
        summary.errors += 1;
        RunOutcome::Failed
    } else {
        let lists: Vec<_> = goals.iter().copied().zip(details.lists.iter()).collect();
        run_outcome(&lists, summary.fetched > 0)
    };
    let message = failure.clone().or_else(|| describe_gaps(&details));
    heartbeat.stop().await;
    db.finish_run(
        run_id,
        &summary,
        outcome,
        message.as_deref(),
        Some(&details),
    )
    .await?;
    record_metrics(opts.mode, outcome, &summary);
    tracing::info!(run_id, %outcome, ?summary, warnings = ?details.warnings, "list sync finished");
    Ok(SyncReport {
        run_id,
        outcome,
        summary,
        details,
    })
}

/// One line for the run's message naming what is missing (None when nothing is).
fn describe_gaps(details: &RunDetails) -> Option<String> {
    let mut parts = Vec::new();
    for l in &details.lists {
        if !l.failed_offsets.is_empty() {
            let offsets: Vec<String> = l.failed_offsets.iter().map(u64::to_string).collect();
            parts.push(format!(
                "{}: pages at offset {} failed",
                l.endpoint,
                offsets.join(", ")
            ));
        }
        if let Some(why) = &l.stopped {
            parts.push(format!("{}: {why}", l.endpoint));
        }
    }
    parts.extend(details.warnings.iter().cloned());
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn record_metrics(mode: SyncMode, outcome: RunOutcome, summary: &SyncSummary) {
    for (label, n) in [
        ("inserted", summary.inserted),
        ("updated", summary.updated),
        ("unchanged", summary.unchanged),
        ("skipped_invalid", summary.skipped_invalid),
    ] {
        metrics::counter!("companion_sync_permits_total", "result" => label).increment(n);
    }
    metrics::counter!("companion_sync_runs_total", "kind" => mode.run_kind(), "outcome" => outcome.as_str()).increment(1);
    // The completeness gauges (failed pages, missing permits, the last complete run) are read
    // from the recorded runs at each scrape: companion_web::state_metrics.
}

/// Ids the list showed in this run.
fn coverage_ids(state: &RunState, list: ListSpec) -> HashSet<String> {
    state
        .seen_in
        .get(list.endpoint)
        .cloned()
        .unwrap_or_default()
}

/// Permits the database holds as in process that the complete in-process list did not show,
/// less those already looked for in a whole issued list before.
async fn left_in_process(
    db: &Database,
    seen: &HashSet<String>,
) -> Result<HashSet<String>, DbError> {
    let unfound: HashSet<String> = kv_json(db, LEFT_UNFOUND_KEY).await?;
    Ok(db
        .permit_ids_with_status(PermitStatus::InProcess)
        .await?
        .into_iter()
        .filter(|id| !seen.contains(id) && !unfound.contains(id))
        .collect())
}

async fn remember_unfound(db: &Database, ids: &[String]) -> Result<(), DbError> {
    let known: HashSet<String> = kv_json(db, LEFT_UNFOUND_KEY).await?;
    // Only ids still in process matter; the set shrinks as they move on.
    let still: HashSet<String> = db
        .permit_ids_with_status(PermitStatus::InProcess)
        .await?
        .into_iter()
        .collect();
    let now: HashSet<String> = known
        .iter()
        .chain(ids)
        .filter(|id| still.contains(*id))
        .cloned()
        .collect();
    if now != known {
        set_kv_json(db, LEFT_UNFOUND_KEY, &now).await?;
    }
    Ok(())
}

/// A JSON value kept under `key` (the type's default when absent or unreadable: these are
/// hints for the next run, never the only copy of anything).
async fn kv_json<T: serde::de::DeserializeOwned + Default>(
    db: &Database,
    key: &str,
) -> Result<T, DbError> {
    Ok(db
        .get_kv(key)
        .await?
        .and_then(|(v, _)| serde_json::from_str(&v).ok())
        .unwrap_or_default())
}

async fn set_kv_json<T: Serialize>(db: &Database, key: &str, value: &T) -> Result<(), DbError> {
    let text = serde_json::to_string(value).unwrap_or_default();
    db.set_kv(key, &text).await
}

/// After a full run that read a list to its end: the database's count for that status beside the
/// distinct permits the list showed.
async fn compare_with_database(
    db: &Database,
    mode: SyncMode,
    state: &RunState,
    details: &mut RunDetails,
) -> Result<(), DbError> {
    let counts = db.status_counts().await?;
    for l in &mut details.lists {
        let Some(status) = companion_domain::sync_runs::list_status(&l.endpoint) else {
            continue;
        };
        l.seen = state.seen_in.get(l.endpoint.as_str()).map_or(0, |ids| {
            ids.iter()
                .filter(|id| state.status_of.get(*id) == Some(&status))
                .count()
        }) as u64;
        let complete = l.reached_end && l.failed_offsets.is_empty();
        let applies = status == PermitStatus::InProcess || mode == SyncMode::Full;
        if complete && applies {
            l.compare(match status {
                PermitStatus::InProcess => counts.in_process,
                PermitStatus::Issued => counts.issued,
            });
        }
    }
    Ok(())
}

/// Keeps a run's heartbeat fresh while it works, also while a page waits out its retries, so a
/// killed run shows as interrupted within [`STALE_RUN_AFTER`].
pub(crate) struct RunHeartbeat {
    task: tokio::task::JoinHandle<()>,
}

impl RunHeartbeat {
    pub(crate) fn start(db: &Database, run_id: i64) -> Self {
        let db = db.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(companion_db::sync_runs::RUN_HEARTBEAT).await;
                if let Err(e) = db.touch_run(run_id).await {
                    tracing::warn!(run_id, error = %e, "run heartbeat failed");
                }
            }
        });
        Self { task }
    }

    pub(crate) async fn stop(self) {
        // Dropping aborts the ticker; a touch still in flight changes nothing once the run is
        // closed (it only touches running runs).
        drop(self);
    }
}

impl Drop for RunHeartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[allow(clippy::too_many_arguments)]
async fn sync_list(
    client: &SicantikClient,
    db: &Database,
    opts: &SyncOptions,
    list: ListSpec,
    goal: ListGoal,
    run_id: i64,
    state: &mut RunState,
    on_progress: &(dyn Fn(&SyncSummary) + Send + Sync),
) -> Result<ListCoverage, DbError> {
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
    let mut reader = Reader {
        client,
        db,
        opts,
        list,
        state,
        on_progress,
        queue,
        recent: RecentPermits::new(RECENT_PAGES),
        coverage: ListCoverage::new(list.endpoint),
        last_heartbeat: Instant::now(),
    };
    let read = reader.read(goal).await;
    let coverage = std::mem::take(&mut reader.coverage);
    drop(reader);
    // A write error is the root cause when both failed (the reader only saw the queue close).
    match writer.await {
        Ok(written) => written?,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
    read?;
    // Offsets still failing wait for the next run, which asks them first.
    set_kv_json(db, &pending_key(list.endpoint), &coverage.failed_offsets).await?;
    Ok(coverage)
}

/// Pages the reader may plan ahead of the writer.
const WRITE_QUEUE: usize = 8;
/// Most pages written in one transaction.
const MAX_BATCH_PAGES: usize = WRITE_QUEUE;
/// Pages whose planned state the reader keeps: more than can be planned but not committed
/// (the queue plus the batch being written).
const RECENT_PAGES: usize = WRITE_QUEUE + MAX_BATCH_PAGES + 2;
/// How often a page whose rows mostly fail validation is asked again before it is believed.
const SUSPECT_REFETCHES: usize = 2;

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

/// A page as the reader understands it.
enum Checked {
    /// Rows, validated.
    Data {
        valid: Vec<IncomingPermit>,
        skipped: Vec<SkippedRow>,
        rows: usize,
    },
    /// The server's own end signal.
    End,
    /// Not data, after every retry.
    Failed(String),
}

fn check(list: ListSpec, page: &Page) -> Checked {
    match &page.result {
        Ok(answer) if answer.ends_list() => Checked::End,
        Ok(Answer::Rows(rows)) => {
            let mut valid = Vec::with_capacity(rows.len());
            let mut skipped = Vec::new();
            for raw in rows {
                match list_row(raw, list.status) {
                    Ok(p) => valid.push(p),
                    Err(reason) => skipped.push(SkippedRow {
                        endpoint: list.endpoint.to_string(),
                        reason,
                        raw: serde_json::to_string(raw).unwrap_or_default(),
                    }),
                }
            }
            Checked::Data {
                valid,
                skipped,
                rows: rows.len(),
            }
        }
        Ok(other) => Checked::Failed(format!("unexpected answer {other:?}")),
        Err(e) => Checked::Failed(e.to_string()),
    }
}

/// A page whose rows mostly fail validation (a broken join, a mangled body that still parsed) is
/// not believed at once.
fn suspect(checked: &Checked) -> bool {
    match checked {
        Checked::Data { skipped, rows, .. } => !skipped.is_empty() && skipped.len() * 2 >= *rows,
        _ => false,
    }
}

struct Reader<'a> {
    client: &'a SicantikClient,
    db: &'a Database,
    opts: &'a SyncOptions,
    list: ListSpec,
    state: &'a mut RunState,
    on_progress: &'a (dyn Fn(&SyncSummary) + Send + Sync),
    queue: tokio::sync::mpsc::Sender<PageWrite>,
    recent: RecentPermits,
    coverage: ListCoverage,
    last_heartbeat: Instant,
}

/// Whether the writer is still taking pages (it stops only on an error `sync_list` reports).
type Open = bool;

impl Reader<'_> {
    fn limit(&self) -> u32 {
        self.opts.page_size.max(1)
    }

    /// Asks a suspect page again; the first answer that is not suspect wins, else the last one.
    async fn settle(&self, mut page: Page) -> (Page, Checked) {
        let mut checked = check(self.list, &page);
        for _ in 0..SUSPECT_REFETCHES {
            if !suspect(&checked) {
                break;
            }
            tracing::warn!(
                endpoint = self.list.endpoint,
                offset = page.offset,
                "most rows of the page are unusable; asking again"
            );
            let again =
                fetch_page(self.client, self.list.endpoint, page.offset, self.limit()).await;
            let mut calls = std::mem::take(&mut page.calls);
            let again_checked = check(self.list, &again);
            if matches!(again_checked, Checked::Failed(_)) {
                calls.extend(again.calls);
                page.calls = calls;
                continue;
            }
            calls.extend(again.calls);
            page = Page { calls, ..again };
            checked = again_checked;
        }
        (page, checked)
    }

    async fn read(&mut self, goal: ListGoal) -> Result<(), DbError> {
        // Offsets the last run could not read come first.
        let pending: Vec<u64> = kv_json(self.db, &pending_key(self.list.endpoint)).await?;
        for offset in pending {
            let page = fetch_page(self.client, self.list.endpoint, offset, self.limit()).await;
            let (page, checked) = self.settle(page).await;
            if !self.take(page, checked).await?.0 {
                return Ok(());
            }
        }
        // What the pending pass learned is no claim about the list (an old offset may lie past
        // today's end); offsets it still could not read stay pending unless the walk covers them.
        let still_failing = std::mem::take(&mut self.coverage.failed_offsets);
        self.coverage = ListCoverage::new(self.list.endpoint);
        let walked_to = self.walk(goal).await?;
        self.second_chance().await?;
        if !self.coverage.reached_end {
            self.coverage
                .failed_offsets
                .extend(still_failing.into_iter().filter(|o| *o > walked_to));
        }
        Ok(())
    }

    /// Reads the list from offset 0 to its end signal (or, for [`ListGoal::Newest`], until two
    /// pages bring nothing new and no permit that left the in-process list is still unfound).
    /// Returns the highest offset it read.
    async fn walk(&mut self, goal: ListGoal) -> Result<u64, DbError> {
        let limit = self.limit();
        let step = u64::from(
            limit
                .saturating_sub(self.opts.overlap.min(limit / 2))
                .max(1),
        );
        let mut page = fetch_page(self.client, self.list.endpoint, 0, limit).await;
        let mut consecutive_failures = 0;
        let mut quiet_pages = 0;
        let mut walked_to = 0;
        for page_no in 0..self.opts.max_pages {
            let (settled, checked) = self.settle(page).await;
            let offset = settled.offset;
            walked_to = walked_to.max(offset);
            // Data continues at the next offset (a short page is confirmed by asking the next
            // offset once: only the server's end signal ends a list); a failed page is skipped,
            // recorded and asked again at the end.
            let next_offset = match &checked {
                Checked::Data { rows, .. } if *rows as u64 >= u64::from(limit) => {
                    Some(offset + step)
                }
                Checked::Data { rows, .. } => Some(offset + *rows as u64),
                Checked::End => None,
                Checked::Failed(_) => Some(offset + u64::from(limit)),
            };
            let last_allowed = page_no + 1 < self.opts.max_pages;
            // Its own task: parsing the next page runs beside the planning of this one.
            let prefetch = next_offset.filter(|_| last_allowed).map(|next| {
                let client = self.client.clone();
                let endpoint = self.list.endpoint;
                tokio::spawn(async move { fetch_page(&client, endpoint, next, limit).await })
            });
            let (open, news) = self.take(settled, checked).await?;
            if !open {
                if let Some(task) = prefetch {
                    task.abort();
                }
                return Ok(walked_to);
            }
            match news {
                None => {
                    consecutive_failures += 1;
                    if consecutive_failures >= self.opts.max_consecutive_failures {
                        tracing::error!(
                            endpoint = self.list.endpoint,
                            offset,
                            "too many consecutive failed pages, giving up on this list"
                        );
                        self.coverage.stopped = Some(format!(
                            "stopped after {consecutive_failures} consecutive failed pages at offset {offset}"
                        ));
                        if let Some(task) = prefetch {
                            task.abort();
                        }
                        return Ok(walked_to);
                    }
                }
                Some(true) => {
                    consecutive_failures = 0;
                    quiet_pages = 0;
                }
                Some(false) => {
                    consecutive_failures = 0;
                    quiet_pages += 1;
                }
            }
            if goal == ListGoal::Newest && quiet_pages >= 2 && self.state.unsettled.is_empty() {
                if let Some(task) = prefetch {
                    task.abort();
                }
                return Ok(walked_to);
            }
            match prefetch {
                Some(task) => match task.await {
                    Ok(next) => page = next,
                    Err(e) => std::panic::resume_unwind(e.into_panic()),
                },
                None => {
                    if next_offset.is_some() {
                        tracing::warn!(
                            endpoint = self.list.endpoint,
                            max_pages = self.opts.max_pages,
                            "page cap reached"
                        );
                        self.coverage.stopped =
                            Some(format!("page cap of {} reached", self.opts.max_pages));
                    }
                    return Ok(walked_to);
                }
            }
        }
        Ok(walked_to)
    }

    /// Failed offsets are asked once more after the walk (the server may have recovered).
    async fn second_chance(&mut self) -> Result<(), DbError> {
        let failed = std::mem::take(&mut self.coverage.failed_offsets);
        for offset in failed {
            let page = fetch_page(self.client, self.list.endpoint, offset, self.limit()).await;
            let (page, checked) = self.settle(page).await;
            if !self.take(page, checked).await?.0 {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Plans a checked page and queues its write. Returns whether the writer is still open, and
    /// `Some(true)` if the page inserts or updates anything, `Some(false)` if it brings nothing
    /// new, `None` if it failed (its offset is then recorded).
    async fn take(
        &mut self,
        page: Page,
        checked: Checked,
    ) -> Result<(Open, Option<bool>), DbError> {
        let (write, news) = match checked {
            Checked::End => {
                self.coverage.reached_end = true;
                (PageWrite::Calls(page.calls), Some(false))
            }
            Checked::Failed(why) => {
                self.state.summary.errors += 1;
                self.coverage.failed_offsets.push(page.offset);
                tracing::error!(endpoint = self.list.endpoint, offset = page.offset, error = %why, "page failed after retries");
                (PageWrite::Calls(page.calls), None)
            }
            Checked::Data {
                valid,
                skipped,
                rows,
            } => {
                self.coverage.pages += 1;
                let news = self.plan(&valid, rows, &skipped).await?;
                let write = PageWrite::Page {
                    plan: news.0,
                    calls: page.calls,
                    skipped,
                };
                (write, Some(news.1))
            }
        };
        if self.queue.send(write).await.is_err() {
            return Ok((false, news));
        }
        (self.on_progress)(&self.state.summary);
        if self.last_heartbeat.elapsed() >= Duration::from_secs(1) {
            if self
                .queue
                .send(PageWrite::Heartbeat(self.state.summary))
                .await
                .is_err()
            {
                return Ok((false, news));
            }
            self.last_heartbeat = Instant::now();
        }
        Ok((true, news))
    }

    /// Plans validated rows against what recent pages planned and the database holds.
    async fn plan(
        &mut self,
        valid: &[IncomingPermit],
        rows: usize,
        skipped: &[SkippedRow],
    ) -> Result<(PagePlan, bool), DbError> {
        let summary = &mut self.state.summary;
        summary.fetched += rows as u64;
        for s in skipped {
            tracing::warn!(endpoint = self.list.endpoint, reason = %s.reason, "row skipped");
        }
        summary.skipped_invalid += skipped.len() as u64;
        // Ids a recent page planned come from the overlay (their write may not have committed);
        // the rest from the database.
        let mut existing = HashMap::new();
        let mut missing = Vec::new();
        for p in valid {
            match self.recent.get(&p.pendaftaran_id) {
                Some(known) => {
                    existing.insert(p.pendaftaran_id.clone(), known.clone());
                }
                None => missing.push(p.pendaftaran_id.clone()),
            }
        }
        existing.extend(self.db.load_permits(&missing).await?);
        let plan = plan_page(valid, &existing);
        self.recent.remember(&plan, &existing);
        self.state.summary.add_plan(&plan);
        let seen = self.state.seen_in.entry(self.list.endpoint).or_default();
        for p in valid {
            if let Some(planned) = self.recent.get(&p.pendaftaran_id) {
                self.state
                    .status_of
                    .insert(p.pendaftaran_id.clone(), planned.status);
            }
            seen.insert(p.pendaftaran_id.clone());
            if self.list.status == PermitStatus::Issued {
                self.state.unsettled.remove(&p.pendaftaran_id);
            }
        }
        let news = !plan.inserts.is_empty() || !plan.updates.is_empty();
        Ok((plan, news))
    }
}

/// A run that died without closing (kill -9) shows as interrupted once its heartbeat is this old.
pub const STALE_RUN_AFTER: Duration = companion_db::sync_runs::STALE_RUN_AFTER;
