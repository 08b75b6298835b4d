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
    /// BSrE: the client credentials (HTTP Basic) it accepts; generated and printed if not given.
    #[arg(long, env = "BSRE_SIM_USERNAME")]
    username: Option<String>,
    #[arg(long, env = "BSRE_SIM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// BSrE: a signer `NIK:PASSPHRASE:STATUS:NAME` (repeatable); STATUS ISSUE is usable. Without
    /// any, one usable demo signer with a generated passphrase, one EXPIRED and one REVOKED.
    #[arg(long = "user")]
    users: Vec<String>,
    /// WhatsApp: where receipts and inbound messages are posted (our `/webhooks/whatsapp`).
    #[arg(long)]
    webhook: Option<String>,
    /// WhatsApp: the app secret that signs webhooks (X-Hub-Signature-256).
    #[arg(long, env = "WHATSAPP_SIM_APP_SECRET", hide_env_values = true)]
    app_secret: Option<String>,
    /// WhatsApp: the access token it accepts.
    #[arg(long, env = "WHATSAPP_SIM_ACCESS_TOKEN", hide_env_values = true)]
    access_token: Option<String>,
    /// WhatsApp: delay before each receipt, in milliseconds.
    #[arg(long, default_value_t = 300)]
    receipt_delay_ms: u64,
}

async fn run_whatsapp(args: &SimulateArgs) -> Result<(), CliError> {
    let mut config = companion_simulators::WhatsappSimConfig {
        webhook_url: args.webhook.clone(),
        latency_ms: args.latency_ms,
        receipt_delay_ms: args.receipt_delay_ms,
        templates: [
            crate::whatsapp::simulator_templates(),
            crate::surveys::simulator_templates(),
        ]
        .concat(),
        undeliverable_suffix: Some("0000".into()),
        ..Default::default()
    };
    if let Some(s) = &args.app_secret {
        config.app_secret = s.clone();
    }
    if let Some(t) = &args.access_token {
        config.access_token = t.clone();
    }
    let sim = companion_simulators::WhatsappSim::start(args.listen, config)
        .await
        .map_err(|e| CliError::User(format!("cannot listen on {}: {e}", args.listen)))?;
    let c = sim.config();
    println!(
        "WhatsApp simulator (Meta Cloud API wire format): {}",
        sim.url()
    );
    println!("  phone page: {}/", sim.url());
    println!(
        "  companion settings: WHATSAPP_PROVIDER=simulator WHATSAPP_BASE_URL={} WHATSAPP_META_PHONE_NUMBER_ID={} WHATSAPP_META_WABA_ID={}",
        sim.url(),
        c.phone_number_id,
        c.waba_id
    );
    println!(
        "  (and WHATSAPP_META_ACCESS_TOKEN / WHATSAPP_META_APP_SECRET as given, or the defaults sim-access-token / sim-app-secret)"
    );
    println!(
        "  numbers ending in 0000 are not on WhatsApp; GET /_sim/stats, /_sim/messages; POST /_sim/fault/<none|error500|rate-limited|hang>"
    );
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| CliError::Internal(e.into()))?;
    Ok(())
}

fn parse_bsre_user(spec: &str) -> Result<companion_simulators::BsreSimUser, CliError> {
    let mut parts = spec.splitn(4, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(nik), Some(pass), Some(status), name) if !nik.is_empty() => {
            Ok(companion_simulators::BsreSimUser {
                nik: nik.into(),
                passphrase: pass.into(),
                status: status.to_ascii_uppercase(),
                name: name.unwrap_or("Pejabat Simulasi").into(),
            })
        }
        _ => Err(CliError::User(format!(
            "--user wants NIK:PASSPHRASE:STATUS[:NAME] (got {spec:?})"
        ))),
    }
}

async fn run_bsre(args: &SimulateArgs) -> Result<(), CliError> {
    use companion_domain::accounts::generate_password;
    let mut users = args
        .users
        .iter()
        .map(|u| parse_bsre_user(u))
        .collect::<Result<Vec<_>, _>>()?;
    let generated = users.is_empty();
    if generated {
        for (nik, status) in [
            ("1207010101800001", "ISSUE"),
            ("1207010101800002", "EXPIRED"),
            ("1207010101800003", "REVOKED"),
        ] {
            users.push(companion_simulators::BsreSimUser {
                nik: nik.into(),
                passphrase: generate_password(),
                status: status.into(),
                name: "Pejabat Simulasi".into(),
            });
        }
    }
    let config = companion_simulators::BsreSimConfig {
        username: args
            .username
            .clone()
            .unwrap_or_else(|| "esign-client".into()),
        password: args.password.clone().unwrap_or_else(generate_password),
        users,
        latency: Duration::from_millis(args.latency_ms),
    };
    let sim = companion_simulators::BsreSim::start(args.listen, config)
        .await
        .map_err(|e| {
            CliError::User(format!(
                "cannot start the BSrE simulator on {}: {e}",
                args.listen
            ))
        })?;
    println!("BSrE Esign Client simulator: {}", sim.url());
    println!("  v1 POST /api/sign/pdf (multipart), GET /api/user/status/{{nik}}");
    println!("  v2 POST /api/v2/sign/pdf (JSON), POST /api/v2/user/check/status");
    println!(
        "  faults: POST /_sim/fault/{{none|hang|error500|error500-with-file|unavailable}}; counts: GET /_sim/stats; root: GET /_sim/ca.pem"
    );
    println!("  client: BSRE_USERNAME={}", sim.config().username);
    if args.password.is_none() {
        println!("          BSRE_PASSWORD={}", sim.config().password);
    }
    if generated {
        for u in &sim.config().users {
            println!(
                "  signer NIK {} status {} passphrase {}",
                u.nik, u.status, u.passphrase
            );
        }
    }
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| CliError::Internal(e.into()))?;
    Ok(())
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
        Service::Bsre => return run_bsre(&args).await,
        Service::Whatsapp => return run_whatsapp(&args).await,
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
