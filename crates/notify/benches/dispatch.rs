//! `cargo bench -p companion-notify --bench dispatch`: 10,000 messages enqueued and dispatched
//! through the Meta wire format to the WhatsApp simulator (zero latency, no receipts, limits
//! off), on SQLite and PostgreSQL in the same run. Prints messages/s for each and their ratio.
//! PostgreSQL is `TEST_POSTGRES_URL` (default: the local server); `BENCH_MESSAGES` overrides
//! the count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use companion_db::testing::TestDb;
use companion_notify::providers::{MetaConfig, MetaProvider, Secret};
use companion_notify::templates::{Event, numbered};
use companion_notify::{Notifier, NotifyConfig, SystemClock};
use companion_simulators::{SimTemplate, WhatsappSim, WhatsappSimConfig};

struct Figures {
    enqueue_per_s: f64,
    dispatch_per_s: f64,
}

async fn run(backend: &str, n: usize) -> anyhow::Result<Figures> {
    let t = TestDb::new(backend).await?;
    let event = Event::PermitReady;
    let sim = WhatsappSim::start(
        "127.0.0.1:0".parse()?,
        WhatsappSimConfig {
            latency_ms: 0,
            read_receipts: false,
            templates: vec![SimTemplate::approved(
                event.provider_template(),
                "id",
                &numbered(event, event.default_text("id")),
            )],
            ..Default::default()
        },
    )
    .await?;
    let c = sim.config();
    let provider = MetaProvider::simulator(MetaConfig {
        base_url: sim.url(),
        phone_number_id: c.phone_number_id.clone(),
        waba_id: c.waba_id.clone(),
        access_token: Secret::new(c.access_token.clone()),
        app_secret: Secret::new(c.app_secret.clone()),
        timeout: Duration::from_secs(10),
        ..Default::default()
    })?;
    let config = NotifyConfig {
        per_minute: 0,
        per_day: 0,
        quiet_hours: None,
        batch: 500,
        concurrency: 32,
        ..Default::default()
    };
    let notifier = Notifier::new(
        t.db.clone(),
        Arc::new(provider),
        config,
        Arc::new(SystemClock),
    );
    let messages = companion_notify::testing::queued_messages(event, "bench", "+62812", 0..n);
    let started = Instant::now();
    for chunk in messages.chunks(1000) {
        t.db.enqueue_messages(chunk).await?;
    }
    let enqueue = started.elapsed();
    let started = Instant::now();
    loop {
        let r = notifier.dispatch_once().await?;
        if r.claimed == 0 {
            break;
        }
    }
    let dispatch = started.elapsed();
    anyhow::ensure!(
        sim.accepted() == n as u64 && sim.max_per_reference() == 1,
        "{backend}: the simulator took {} messages (max {} per message), want {n} once each",
        sim.accepted(),
        sim.max_per_reference()
    );
    t.cleanup().await?;
    Ok(Figures {
        enqueue_per_s: n as f64 / enqueue.as_secs_f64(),
        dispatch_per_s: n as f64 / dispatch.as_secs_f64(),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let sqlite = run("sqlite", n).await?;
    let postgres = run("postgres", n).await?;
    println!("{n} messages, WhatsApp simulator at zero latency, limits off, 2 cores");
    println!("| database | enqueue (msg/s) | dispatch (msg/s) |");
    println!("|---|---:|---:|");
    for (name, f) in [("SQLite", &sqlite), ("PostgreSQL", &postgres)] {
        println!(
            "| {name} | {:.0} | {:.0} |",
            f.enqueue_per_s, f.dispatch_per_s
        );
    }
    println!(
        "dispatch PostgreSQL / SQLite: {:.2}",
        postgres.dispatch_per_s / sqlite.dispatch_per_s
    );
    Ok(())
}
