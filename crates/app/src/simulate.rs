//! `simulate <service>`: one simulator alone, for manual testing or another tool's tests.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use companion_simulators::{SicantikSim, SicantikSimConfig};

use crate::CliError;

#[derive(Clone, Copy, ValueEnum)]
pub enum Service {
    Sicantik,
    Bsre,
    Tsa,
    Whatsapp,
}

#[derive(Args)]
pub struct SimulateArgs {
    service: Service,
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// SICANTIK: permits in the data set.
    #[arg(long, default_value_t = 2000)]
    permits: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Added to every response.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share of requests with an injected fault (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// How long an injected "slow" fault stalls, in milliseconds.
    #[arg(long, default_value_t = 35_000)]
    slow_fault_ms: u64,
    /// Clean data: no junk rows, names or dates.
    #[arg(long)]
    no_quirks: bool,
    /// Every N seconds a few permits arrive and a few are issued.
    #[arg(long)]
    advance_every_secs: Option<u64>,
}

pub async fn run(args: SimulateArgs) -> Result<(), CliError> {
    match args.service {
        Service::Sicantik => {}
        Service::Tsa => {
            let sim = companion_simulators::TsaSim::start(args.listen)
                .await
                .map_err(|e| {
                    CliError::User(format!("cannot start the TSA on {}: {e}", args.listen))
                })?;
            println!("TSA simulator (RFC 3161): {}", sim.url());
            println!("  POST application/timestamp-query; its root certificate:");
            print!("{}", sim.root_pem());
            tokio::signal::ctrl_c()
                .await
                .map_err(|e| CliError::Internal(e.into()))?;
            return Ok(());
        }
        Service::Bsre | Service::Whatsapp => {
            return Err(CliError::User(
                "this simulator is not yet available: it arrives with its capability".into(),
            ));
        }
    }
    if !(0.0..=1.0).contains(&args.fault_rate) {
        return Err(CliError::User(
            "--fault-rate must be between 0 and 1".into(),
        ));
    }
    let config = SicantikSimConfig {
        permits: args.permits,
        seed: args.seed,
        latency: Duration::from_millis(args.latency_ms),
        fault_rate: args.fault_rate,
        slow_fault: Duration::from_millis(args.slow_fault_ms),
        quirks: !args.no_quirks,
        advance_every: args.advance_every_secs.map(Duration::from_secs),
        ..Default::default()
    };
    let sim = SicantikSim::start(config, args.listen)
        .await
        .map_err(|e| CliError::User(format!("cannot listen on {}: {e}", args.listen)))?;
    println!("SICANTIK simulator: {}", sim.base_url());
    println!(
        "  e.g. {}/listpermohonanterbit?limit=10&offset=0&format=json",
        sim.base_url()
    );
    println!(
        "  control: POST http://{}/_sim/arrive?count=N, /_sim/issue?count=N, /_sim/faults?rate=F; GET /_sim/stats",
        sim.addr()
    );
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| CliError::Internal(e.into()))?;
    Ok(())
}
