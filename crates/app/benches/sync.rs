//! Connector benchmark (`cargo bench -p sicantik-companion --bench sync`).
//!
//! Everything runs side by side in one process and one run, so the figures are comparable:
//! 1. list sync of `BENCH_PERMITS` (default 100,000) permits from the simulator at zero latency,
//!    into SQLite and into PostgreSQL, next to a fetch-and-parse-only pass over the same pages
//!    (the ceiling set by HTTP and parsing, with no database at all);
//! 2. the expiry workaround over `BENCH_EXPIRY` (default 5,000) issued permits at 50 ms simulated
//!    latency, next to the ideal the rate limit allows (calls ÷ rate).
//!
//! Set `BENCH_BACKENDS=sqlite` to skip PostgreSQL.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use companion_db::testing::TestDb;
use companion_domain::RunOutcome;
use companion_sicantik::{
    Answer, ClientConfig, ExpiryOptions, SicantikClient, SyncMode, SyncOptions, run_expiry_sync,
    run_list_sync,
};
use companion_simulators::{SicantikSim, SicantikSimConfig};

const PAGE_SIZE: u32 = 500;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn client(base_url: String, rate: u32) -> Result<SicantikClient> {
    Ok(SicantikClient::new(ClientConfig {
        base_url,
        timeout: Duration::from_secs(10),
        rate_limit_per_sec: rate,
        max_retries: 3,
        retry_base_delay: Duration::from_millis(10),
        retry_max_delay: Duration::from_millis(100),
    })?)
}

fn list_options() -> SyncOptions {
    SyncOptions {
        mode: SyncMode::Full,
        page_size: PAGE_SIZE,
        overlap: PAGE_SIZE / 10,
        ..Default::default()
    }
}

/// Fetches and parses every page the sync would fetch, storing nothing.
async fn fetch_only(client: &SicantikClient) -> Result<(u64, Duration)> {
    let started = Instant::now();
    let step = u64::from(PAGE_SIZE - PAGE_SIZE / 10);
    let mut rows = 0u64;
    for endpoint in ["listpermohonanproses", "listpermohonanterbit"] {
        let mut offset = 0u64;
        loop {
            let mut calls = Vec::new();
            let params = [
                ("limit", PAGE_SIZE.to_string()),
                ("offset", offset.to_string()),
            ];
            match client.get(endpoint, &params, &mut calls).await? {
                // As the sync does: a short page is confirmed by asking the next offset once.
                Answer::Rows(page) if !page.is_empty() => rows += page.len() as u64,
                _ => break,
            }
            offset += step;
        }
    }
    Ok((rows, started.elapsed()))
}

struct ListFigure {
    label: String,
    permits: u64,
    elapsed: Duration,
}

impl ListFigure {
    fn per_sec(&self) -> f64 {
        self.permits as f64 / self.elapsed.as_secs_f64()
    }
}

async fn list_sync_into(backend: &str, sim: &SicantikSim) -> Result<ListFigure> {
    let test_db = TestDb::new(backend)
        .await
        .with_context(|| format!("{backend} test database"))?;
    let client = client(sim.base_url(), 1_000_000)?;
    let started = Instant::now();
    let report = run_list_sync(&client, &test_db.db, &list_options(), &|_| {}).await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        report.outcome == RunOutcome::Succeeded,
        "{backend} list sync ended {}",
        report.outcome
    );
    let stored = test_db.db.count_permits(&Default::default()).await? as u64;
    test_db.cleanup().await?;
    Ok(ListFigure {
        label: format!("list sync into {backend}"),
        permits: stored,
        elapsed,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let permits = env_usize("BENCH_PERMITS", 100_000);
    let expiry_permits = env_usize("BENCH_EXPIRY", 5_000);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());

    // --- 1. List sync at zero latency.
    println!("== list sync: {permits} permits, zero latency, page size {PAGE_SIZE}");
    let sim = SicantikSim::start(
        SicantikSimConfig {
            permits,
            ..Default::default()
        },
        "127.0.0.1:0".parse()?,
    )
    .await?;
    let (rows, fetch_elapsed) = fetch_only(&client(sim.base_url(), 1_000_000)?).await?;
    let fetch = ListFigure {
        label: "fetch + parse only (no database)".into(),
        permits: rows,
        elapsed: fetch_elapsed,
    };
    let mut figures = vec![];
    for backend in backends.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        figures.push(list_sync_into(backend, &sim).await?);
    }
    println!(
        "{:<36} {:>9} {:>9} {:>12} {:>14}",
        "", "permits", "seconds", "permits/s", "vs fetch-only"
    );
    for f in std::iter::once(&fetch).chain(&figures) {
        println!(
            "{:<36} {:>9} {:>9.2} {:>12.0} {:>13.2}x",
            f.label,
            f.permits,
            f.elapsed.as_secs_f64(),
            f.per_sec(),
            f.per_sec() / fetch.per_sec()
        );
    }
    for f in &figures {
        let verdict = if f.per_sec() >= 50_000.0 {
            "meets"
        } else {
            "MISSES"
        };
        println!(
            "goal >= 50,000 permits/s: {} {verdict} it ({:.2}x the goal)",
            f.label,
            f.per_sec() / 50_000.0
        );
    }
    drop(sim);
    if expiry_permits == 0 {
        return Ok(());
    }

    // --- 2. Expiry workaround at 50 ms latency under a rate limit.
    let rate: u32 = env_usize("BENCH_EXPIRY_RATE", 200) as u32;
    let concurrency = env_usize("BENCH_EXPIRY_CONCURRENCY", 16);
    println!(
        "\n== expiry sync: {expiry_permits} issued permits, 50 ms latency, rate {rate}/s, concurrency {concurrency}"
    );
    // Enough permits that at least `expiry_permits` are issued.
    let sim = SicantikSim::start(
        SicantikSimConfig {
            permits: expiry_permits * 2,
            ..Default::default()
        },
        "127.0.0.1:0".parse()?,
    )
    .await?;
    let test_db = TestDb::new("sqlite").await?;
    run_list_sync(
        &client(sim.base_url(), 1_000_000)?,
        &test_db.db,
        &list_options(),
        &|_| {},
    )
    .await?;
    sim.set_latency(Duration::from_millis(50));
    let detail_calls =
        |s: &SicantikSim| s.requests("cekperizinan") + s.requests("cekperizinanizin");
    let before = detail_calls(&sim);
    let opts = ExpiryOptions {
        concurrency,
        limit: Some(expiry_permits),
        ..Default::default()
    };
    let started = Instant::now();
    let report = run_expiry_sync(
        &client(sim.base_url(), rate)?,
        &test_db.db,
        &opts,
        &|_, _| {},
    )
    .await?;
    let elapsed = started.elapsed();
    let calls = detail_calls(&sim) - before;
    // With a burst of one, n calls need (n - 1) intervals of 1/rate.
    let ideal = Duration::from_secs_f64(calls.saturating_sub(1) as f64 / f64::from(rate));
    let ratio = elapsed.as_secs_f64() / ideal.as_secs_f64();
    println!(
        "permits {}  calls {calls}  (found {}, no expiry {}, not registered {}, errors {})",
        report.processed, report.found, report.no_expiry, report.not_registered, report.errors
    );
    println!(
        "duration {:.2} s  ideal at the rate limit {:.2} s  ratio {ratio:.3}  -> {}",
        elapsed.as_secs_f64(),
        ideal.as_secs_f64(),
        if ratio <= 1.10 {
            "within 10 % of the ideal"
        } else {
            "MORE than 10 % over the ideal"
        }
    );
    let one_at_a_time = Duration::from_millis(50) * calls as u32;
    println!(
        "(one call at a time at this latency would take {:.1} s: {:.1}x longer)",
        one_at_a_time.as_secs_f64(),
        one_at_a_time.as_secs_f64() / elapsed.as_secs_f64()
    );
    test_db.cleanup().await?;
    Ok(())
}
