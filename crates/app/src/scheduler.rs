//! Background jobs inside `serve` (and `demo`): the incremental list poll, the nightly full sync,
//! the daily permit-type sync and the nightly expiry sync. Each job runs in its own loop, so it
//! never overlaps itself, and takes a database lease before it runs, so with several instances on
//! one database only one runs it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use companion_db::Database;
use companion_sicantik::{
    SicantikClient, SyncMode, run_expiry_sync, run_list_sync, run_types_sync,
};
use tokio::sync::watch;

use crate::config::Settings;

/// How a job is timed.
#[derive(Debug, Clone, Copy)]
pub enum Every {
    /// A fixed interval; the first run is immediate when `run_at_start`.
    Interval(Duration),
    /// Daily at an office-time wall-clock time.
    DailyAt(NaiveTime),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    ListIncremental,
    ListFull,
    Types,
    Expiry,
    /// Import what was dropped into the inbox folder.
    DocumentsInbox,
    /// Check every stored document against its row.
    DocumentsIntegrity,
}

impl Job {
    pub fn name(self) -> &'static str {
        match self {
            Job::ListIncremental => "sicantik.list_incremental",
            Job::ListFull => "sicantik.list_full",
            Job::Types => "sicantik.types",
            Job::Expiry => "sicantik.expiry",
            Job::DocumentsInbox => "documents.inbox",
            Job::DocumentsIntegrity => "documents.integrity",
        }
    }

    /// The lease a job needs. Both list syncs write the same rows, so they share one lease and
    /// never run at the same time.
    pub fn lease(self) -> &'static str {
        match self {
            Job::ListIncremental | Job::ListFull => "sicantik.list",
            Job::Types => "sicantik.types",
            Job::Expiry => "sicantik.expiry",
            Job::DocumentsInbox => "documents.inbox",
            Job::DocumentsIntegrity => "documents.integrity",
        }
    }
}

/// A lease holder's identity: `host:pid:random`, so a lease left by a killed process on this
/// host can be recognised and taken over at once instead of waiting for it to expire.
fn holder_id() -> String {
    format!(
        "{}:{}:{}",
        hostname(),
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn holder_is_dead_local(holder: &str) -> bool {
    let mut parts = holder.split(':');
    match (
        parts.next(),
        parts.next().and_then(|p| p.parse::<u32>().ok()),
    ) {
        (Some(host), Some(pid)) if host == hostname() && pid != std::process::id() => {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => false,
    }
}

/// The next instant strictly after `now` at wall-clock `at` in `tz`.
/// The period a scheduled run belongs to: the interval's slot since the epoch, or the office
/// date of a daily job.
pub fn period_of(every: Every, now: chrono::DateTime<Utc>, tz: Tz) -> String {
    match every {
        Every::Interval(d) => {
            let secs = d.as_secs().max(1) as i64;
            format!("i{}", now.timestamp().div_euclid(secs))
        }
        Every::DailyAt(_) => format!("d{}", now.with_timezone(&tz).date_naive()),
    }
}

pub fn next_daily(now: chrono::DateTime<Utc>, at: NaiveTime, tz: Tz) -> chrono::DateTime<Utc> {
    let local_now = now.with_timezone(&tz);
    let mut date = local_now.date_naive();
    for _ in 0..3 {
        if let Some(candidate) = tz.from_local_datetime(&date.and_time(at)).earliest() {
            let candidate = candidate.with_timezone(&Utc);
            if candidate > now {
                return candidate;
            }
        }
        date = date.succ_opt().unwrap_or(date);
    }
    now + chrono::Duration::days(1)
}

#[derive(Clone)]
pub struct Scheduler {
    pub db: Database,
    pub client: SicantikClient,
    pub settings: Arc<Settings>,
    /// This instance's identity in job leases.
    pub holder: String,
    /// The document jobs run only when documents are set up.
    pub documents: Option<companion_documents::Documents>,
}

const LEASE_TTL: chrono::Duration = chrono::Duration::seconds(120);
const LEASE_RENEW: Duration = Duration::from_secs(30);

impl Scheduler {
    pub fn new(db: Database, client: SicantikClient, settings: Arc<Settings>) -> Self {
        Self {
            db,
            client,
            settings,
            holder: holder_id(),
            documents: None,
        }
    }

    /// Adds the document jobs (inbox scan, integrity check).
    pub fn with_documents(mut self, documents: companion_documents::Documents) -> Self {
        self.documents = Some(documents);
        self
    }

    pub fn plan(&self) -> Vec<(Job, Every, bool)> {
        let s = &self.settings;
        let at = |v: &str| NaiveTime::parse_from_str(v, "%H:%M").unwrap_or(NaiveTime::MIN);
        let mut plan = vec![
            (
                Job::Types,
                Every::DailyAt(at(&s.schedule_types_sync_at)),
                false,
            ),
            (
                Job::ListIncremental,
                Every::Interval(Duration::from_secs(
                    s.schedule_list_sync_minutes.max(1) * 60,
                )),
                true,
            ),
            (
                Job::ListFull,
                Every::DailyAt(at(&s.schedule_full_sync_at)),
                false,
            ),
            (
                Job::Expiry,
                Every::DailyAt(at(&s.schedule_expiry_sync_at)),
                false,
            ),
        ];
        if let Some(docs) = &self.documents {
            if docs.inbox_dir().is_some() {
                plan.push((
                    Job::DocumentsInbox,
                    Every::Interval(Duration::from_secs(s.schedule_inbox_scan_seconds.max(1))),
                    true,
                ));
            }
            plan.push((
                Job::DocumentsIntegrity,
                Every::DailyAt(at(&s.schedule_integrity_check_at)),
                false,
            ));
        }
        plan
    }

    /// Starts every job loop; they stop when `shutdown` turns true.
    pub fn spawn_all(&self, shutdown: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        self.plan()
            .into_iter()
            .map(|(job, every, at_start)| {
                let me = self.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move { me.job_loop(job, every, at_start, shutdown).await })
            })
            .collect()
    }

    async fn job_loop(
        self,
        job: Job,
        every: Every,
        run_at_start: bool,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let tz = self
            .settings
            .office_tz()
            .unwrap_or(chrono_tz::Asia::Jakarta);
        let mut first = true;
        loop {
            let wait = if first && run_at_start {
                Duration::ZERO
            } else {
                match every {
                    Every::Interval(d) => d,
                    Every::DailyAt(at) => (next_daily(Utc::now(), at, tz) - Utc::now())
                        .to_std()
                        .unwrap_or(Duration::ZERO),
                }
            };
            first = false;
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
            let period = period_of(every, Utc::now(), tz);
            if let Err(e) = self.run_once_in_period(job, &period).await {
                tracing::error!(job = job.name(), error = %e, "scheduled job failed");
            }
        }
    }

    /// A scheduled run: under the job's lease, and only if no instance ran this period yet.
    pub async fn run_once_in_period(&self, job: Job, period: &str) -> anyhow::Result<bool> {
        if !self.acquire(job.lease()).await? {
            tracing::info!(
                job = job.name(),
                "another instance holds the lease; skipping"
            );
            return Ok(false);
        }
        if !self.db.claim_period(job.name(), period).await? {
            tracing::debug!(job = job.name(), period, "already run in this period");
            self.db.release_lease(job.lease(), &self.holder).await?;
            return Ok(false);
        }
        self.holding(job.lease(), self.run_measured(job))
            .await
            .map(|_| true)
    }

    /// Takes `lease` if free, expired, ours, or left by a dead process on this host.
    pub async fn acquire(&self, lease: &str) -> anyhow::Result<bool> {
        if self
            .db
            .try_acquire_lease(lease, &self.holder, LEASE_TTL)
            .await?
        {
            return Ok(true);
        }
        if let Some(current) = self
            .db
            .get_lease(lease)
            .await?
            .filter(|l| holder_is_dead_local(&l.holder))
        {
            tracing::warn!(lease, holder = %current.holder, "taking over the lease of a process that died");
            return Ok(self
                .db
                .steal_lease(lease, &current.holder, &self.holder, LEASE_TTL)
                .await?);
        }
        Ok(false)
    }

    /// Runs `job` if this instance gets its lease; returns whether it ran.
    pub async fn run_with_lease(&self, job: Job) -> anyhow::Result<bool> {
        if !self.acquire(job.lease()).await? {
            tracing::info!(
                job = job.name(),
                "another instance holds the lease; skipping"
            );
            return Ok(false);
        }
        self.holding(job.lease(), self.run_measured(job))
            .await
            .map(|_| true)
    }

    /// Starts `job` in the background if its lease is free; `Ok(false)` when it is already
    /// running here or on another instance.
    pub async fn start_in_background(&self, job: Job) -> anyhow::Result<bool> {
        if !self.acquire(job.lease()).await? {
            return Ok(false);
        }
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.holding(job.lease(), me.run_measured(job)).await {
                tracing::error!(job = job.name(), error = %e, "job started by hand failed");
            }
        });
        Ok(true)
    }

    /// [`Scheduler::run`] with job metrics (`companion_job_runs_total`, duration).
    async fn run_measured(&self, job: Job) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        let result = self.run(job).await;
        let outcome = if result.is_ok() {
            "succeeded"
        } else {
            "failed"
        };
        metrics::counter!("companion_job_runs_total", "job" => job.name(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("companion_job_duration_seconds", "job" => job.name())
            .record(started.elapsed().as_secs_f64());
        result
    }

    /// Waits (up to `patience`) for `lease`, then runs `work` under it.
    pub async fn wait_and_run<T>(
        &self,
        lease: &'static str,
        patience: Duration,
        work: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let started = std::time::Instant::now();
        while !self.acquire(lease).await? {
            if started.elapsed() > patience {
                anyhow::bail!("another process is still running {lease}; try again later");
            }
            tracing::info!(lease, "waiting for another process to finish");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        self.holding(lease, work).await
    }

    /// Runs `work` while renewing `lease` (already acquired), then releases it.
    async fn holding<T>(
        &self,
        lease: &'static str,
        work: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let renewer = {
            let db = self.db.clone();
            let holder = self.holder.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(LEASE_RENEW).await;
                    match db.renew_lease(lease, &holder, LEASE_TTL).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(lease, "lease lost while running"),
                        Err(e) => tracing::warn!(lease, error = %e, "lease renewal failed"),
                    }
                }
            })
        };
        let result = work.await;
        renewer.abort();
        self.db.release_lease(lease, &self.holder).await?;
        result
    }

    /// Runs one job now, without a lease (the CLI's `sync --once`).
    pub async fn run(&self, job: Job) -> anyhow::Result<()> {
        let _ = self
            .db
            .close_stale_runs(
                Utc::now() - chrono::Duration::from_std(companion_sicantik::sync::STALE_RUN_AFTER)?,
            )
            .await;
        let quiet = |_: &companion_domain::SyncSummary| {};
        match job {
            Job::ListIncremental => {
                run_list_sync(
                    &self.client,
                    &self.db,
                    &self.settings.sync_options(SyncMode::Incremental),
                    &quiet,
                )
                .await?;
            }
            Job::ListFull => {
                run_list_sync(
                    &self.client,
                    &self.db,
                    &self.settings.sync_options(SyncMode::Full),
                    &quiet,
                )
                .await?;
            }
            Job::Types => {
                run_types_sync(&self.client, &self.db).await?;
            }
            Job::Expiry => {
                run_expiry_sync(
                    &self.client,
                    &self.db,
                    &self.settings.expiry_options(),
                    &|_, _| {},
                )
                .await?;
            }
            Job::DocumentsInbox => {
                if let Some(docs) = &self.documents {
                    let report = docs.scan_inbox().await?;
                    if !report.files.is_empty() {
                        tracing::info!(files = report.files.len(), "inbox scanned");
                    }
                }
            }
            Job::DocumentsIntegrity => {
                if let Some(docs) = &self.documents {
                    docs.check_integrity().await?;
                }
            }
        }
        Ok(())
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "instance".into())
}

impl companion_web::JobControl for Scheduler {
    fn start_sync(
        &self,
        kind: companion_web::SyncKind,
    ) -> futures::future::BoxFuture<'_, Result<(), String>> {
        use companion_web::SyncKind;
        let job = match kind {
            SyncKind::Incremental => Job::ListIncremental,
            SyncKind::Full => Job::ListFull,
            SyncKind::Types => Job::Types,
            SyncKind::Expiry => Job::Expiry,
        };
        Box::pin(async move {
            match self.start_in_background(job).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(
                    "Sinkronisasi sejenis sedang berjalan. Tunggu sampai selesai lalu coba lagi."
                        .to_string(),
                ),
                Err(e) => {
                    tracing::error!(job = job.name(), error = %e, "could not start a job");
                    Err("Sinkronisasi tidak dapat dimulai (basis data tidak menjawab).".to_string())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use companion_db::testing::TestDb;
    use companion_simulators::{SicantikSim, SicantikSimConfig};

    async fn two_instances(backend: &str) -> (TestDb, SicantikSim, Scheduler, Scheduler) {
        let config = SicantikSimConfig {
            permits: 400,
            latency: Duration::from_millis(20),
            ..Default::default()
        };
        let sim = SicantikSim::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let t = TestDb::new(backend).await.unwrap();
        let settings = Arc::new(Settings {
            sicantik_base_url: sim.base_url(),
            sicantik_rate_limit: 1000,
            ..Default::default()
        });
        let make = || {
            Scheduler::new(
                t.db.clone(),
                SicantikClient::new(settings.client_config()).unwrap(),
                settings.clone(),
            )
        };
        let (a, b) = (make(), make());
        (t, sim, a, b)
    }

    async fn one_runner_per_job(backend: &str) {
        let (t, _sim, a, b) = two_instances(backend).await;
        assert_ne!(a.holder, b.holder);
        let (ra, rb) = tokio::join!(
            a.run_with_lease(Job::ListFull),
            b.run_with_lease(Job::ListIncremental)
        );
        let ran = [ra.unwrap(), rb.unwrap()];
        assert_eq!(
            ran.iter().filter(|r| **r).count(),
            1,
            "the two list syncs share one lease: {ran:?}"
        );
        assert_eq!(t.db.list_runs(10).await.unwrap().len(), 1);
        // Released afterwards: the next run goes ahead.
        assert!(b.run_with_lease(Job::ListIncremental).await.unwrap());
        // A lease left by a process that died on this host is taken over at once.
        let dead = format!("{}:{}:deadbeef", hostname(), u32::MAX - 1);
        assert!(
            t.db.try_acquire_lease(Job::Types.lease(), &dead, chrono::Duration::minutes(5))
                .await
                .unwrap()
        );
        assert!(a.acquire(Job::Types.lease()).await.unwrap());
        // A live holder elsewhere is respected.
        assert!(
            t.db.try_acquire_lease(
                Job::Expiry.lease(),
                "other-host:1:x",
                chrono::Duration::minutes(5)
            )
            .await
            .unwrap()
        );
        assert!(!a.acquire(Job::Expiry.lease()).await.unwrap());
        t.cleanup().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_runner_per_job_sqlite() {
        one_runner_per_job("sqlite").await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_runner_per_job_postgres() {
        one_runner_per_job("postgres").await
    }

    /// Two instances, one scheduled period: the job runs once; the next period runs again.
    async fn once_per_period(backend: &str) {
        let (t, _sim, a, b) = two_instances(backend).await;
        let (ra, rb) = tokio::join!(
            a.run_once_in_period(Job::ListIncremental, "i100"),
            b.run_once_in_period(Job::ListIncremental, "i100")
        );
        let ran = [ra.unwrap(), rb.unwrap()];
        assert_eq!(ran.iter().filter(|r| **r).count(), 1, "{ran:?}");
        // After the first finished: still the same period, so nobody runs it again.
        assert!(
            !b.run_once_in_period(Job::ListIncremental, "i100")
                .await
                .unwrap()
        );
        assert!(
            !a.run_once_in_period(Job::ListIncremental, "i100")
                .await
                .unwrap()
        );
        assert_eq!(t.db.list_runs(10).await.unwrap().len(), 1);
        // The next period runs, on whichever instance comes first.
        assert!(
            b.run_once_in_period(Job::ListIncremental, "i101")
                .await
                .unwrap()
        );
        assert_eq!(t.db.list_runs(10).await.unwrap().len(), 2);
        t.cleanup().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn once_per_period_sqlite() {
        once_per_period("sqlite").await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn once_per_period_postgres() {
        once_per_period("postgres").await
    }

    #[test]
    fn periods_are_interval_slots_or_office_dates() {
        let now = Utc.with_ymd_and_hms(2026, 1, 10, 18, 30, 0).unwrap();
        let quarter = Every::Interval(Duration::from_secs(900));
        assert_eq!(
            period_of(quarter, now, chrono_tz::Asia::Jakarta),
            period_of(
                quarter,
                now + chrono::Duration::minutes(14),
                chrono_tz::Asia::Jakarta
            )
        );
        assert_ne!(
            period_of(quarter, now, chrono_tz::Asia::Jakarta),
            period_of(
                quarter,
                now + chrono::Duration::minutes(15),
                chrono_tz::Asia::Jakarta
            )
        );
        let daily = Every::DailyAt(NaiveTime::from_hms_opt(2, 0, 0).unwrap());
        // 18:30 UTC is already the 11th in Jakarta.
        assert_eq!(
            period_of(daily, now, chrono_tz::Asia::Jakarta),
            "d2026-01-11"
        );
    }

    #[test]
    fn daily_time_is_office_time() {
        // 2026-01-10 18:30 UTC is 01:30 on the 11th in Jakarta (UTC+7); 02:00 Jakarta → 19:00 UTC.
        let now = Utc.with_ymd_and_hms(2026, 1, 10, 18, 30, 0).unwrap();
        let at = NaiveTime::from_hms_opt(2, 0, 0).unwrap();
        assert_eq!(
            next_daily(now, at, chrono_tz::Asia::Jakarta),
            Utc.with_ymd_and_hms(2026, 1, 10, 19, 0, 0).unwrap()
        );
        // Just after: the next day.
        let later = Utc.with_ymd_and_hms(2026, 1, 10, 19, 0, 1).unwrap();
        assert_eq!(
            next_daily(later, at, chrono_tz::Asia::Jakarta),
            Utc.with_ymd_and_hms(2026, 1, 11, 19, 0, 0).unwrap()
        );
    }
}
