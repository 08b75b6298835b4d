//! The binary as the office and other tools use it: exit codes, `sync --once --json`, and a
//! kill -9 in the middle of the expiry sync, on SQLite and PostgreSQL.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use companion_db::testing::TestDb;
use companion_sicantik::{ClientConfig, SicantikClient, SyncOptions, run_list_sync};
use companion_simulators::{SicantikSim, SicantikSimConfig};

const BIN: &str = env!("CARGO_BIN_EXE_sicantik-companion");

companion_db::on_both_backends!(
    sync_once_json_prints_the_contract_summary,
    kill_9_during_expiry_sync_then_restart,
    an_unreadable_page_makes_the_sync_partial_and_exit_non_zero,
    a_killed_sync_reads_interrupted_within_a_minute
);

/// A command with only the given configuration (the developer's environment does not leak in).
fn companion(args: &[&str], env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

async fn start_sim(config: SicantikSimConfig) -> SicantikSim {
    SicantikSim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn sync_once_json_prints_the_contract_summary(backend: &str) {
    let sim = start_sim(SicantikSimConfig {
        permits: 640,
        ..Default::default()
    })
    .await;
    let t = TestDb::new(backend).await.unwrap();
    let env = [
        ("DATABASE_URL", t.url.clone()),
        ("SICANTIK_BASE_URL", sim.base_url()),
        ("SICANTIK_RATE_LIMIT", "1000".to_string()),
    ];
    let out = tokio::task::spawn_blocking(move || {
        companion(&["sync", "--once", "--json"], &env)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    let mut keys: Vec<_> = summary.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "duration_ms",
            "errors",
            "fetched",
            "inserted",
            "lists",
            "outcome",
            "skipped_invalid",
            "unchanged",
            "updated"
        ]
    );
    assert_eq!(summary["outcome"], "succeeded");
    assert_eq!(summary["inserted"], 640);
    assert_eq!(summary["errors"], 0);
    assert_eq!(summary["skipped_invalid"], sim.bad_rows());
    assert_eq!(
        t.db.status_counts().await.unwrap().issued + t.db.status_counts().await.unwrap().in_process,
        640
    );
    t.cleanup().await.unwrap();
}

async fn kill_9_during_expiry_sync_then_restart(backend: &str) {
    let sim = start_sim(SicantikSimConfig {
        permits: 900,
        latency: Duration::from_millis(5),
        ..Default::default()
    })
    .await;
    let t = TestDb::new(backend).await.unwrap();
    let client = SicantikClient::new(ClientConfig {
        base_url: sim.base_url(),
        rate_limit_per_sec: 10_000,
        ..Default::default()
    })
    .unwrap();
    run_list_sync(&client, &t.db, &SyncOptions::default(), &|_| {})
        .await
        .unwrap();
    let env = vec![
        ("DATABASE_URL", t.url.clone()),
        ("SICANTIK_BASE_URL", sim.base_url()),
        ("SICANTIK_RATE_LIMIT", "150".to_string()),
        ("EXPIRY_CONCURRENCY", "4".to_string()),
    ];
    let args = ["sync", "--once", "--skip-list", "--expiry", "--json"];
    let mut child = companion(&args, &env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Let it finish part of the work, then kill it without warning.
    let started = Instant::now();
    loop {
        let done = checked(&t.db).await.len();
        if done >= 150 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "expiry sync made no progress"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // What was finished before the kill, and how often SICANTIK was asked about each.
    let finished = checked(&t.db).await;
    assert!(!finished.is_empty());
    let asked: Vec<(String, u64)> = finished
        .iter()
        .map(|(id, number)| (id.clone(), sim.cek_requests(&b64(number))))
        .collect();

    let out = tokio::task::spawn_blocking(move || companion(&args, &env).output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "restart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["expiry"]["processed"].as_u64().unwrap() > 0);

    // Nothing skipped: every issued permit with a number has been looked up.
    let all = companion_db::PermitQuery {
        status: Some(companion_domain::PermitStatus::Issued),
        page: 1,
        per_page: 500,
        ..Default::default()
    };
    let mut page = 1;
    loop {
        let (items, _) =
            t.db.list_permits(&companion_db::PermitQuery {
                page,
                ..all.clone()
            })
            .await
            .unwrap();
        if items.is_empty() {
            break;
        }
        for p in items.iter().filter(|p| p.permit_number.is_some()) {
            assert_ne!(
                p.expiry_status, "unknown",
                "{} was skipped",
                p.pendaftaran_id
            );
        }
        page += 1;
    }
    // No call repeated for permits finished before the kill.
    let numbers: std::collections::HashMap<_, _> = finished.into_iter().collect();
    for (id, before) in asked {
        assert_eq!(
            sim.cek_requests(&b64(&numbers[&id])),
            before,
            "{id} was asked again after the restart"
        );
    }
    t.cleanup().await.unwrap();
}

fn b64(number: &str) -> String {
    companion_sicantik::expiry::no_izin(number)
}

/// Permits whose expiry look-up is recorded: (id, permit number).
async fn checked(db: &companion_db::Database) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let q = companion_db::PermitQuery {
            status: Some(companion_domain::PermitStatus::Issued),
            page,
            per_page: 500,
            ..Default::default()
        };
        let (items, _) = db.list_permits(&q).await.unwrap();
        if items.is_empty() {
            break;
        }
        out.extend(
            items
                .into_iter()
                .filter(|p| p.expiry_checked_at.is_some())
                .filter_map(|p| p.permit_number.map(|n| (p.pendaftaran_id, n))),
        );
        page += 1;
    }
    out
}

#[test]
fn user_errors_exit_1_with_a_message() {
    let out = companion(&["sync", "--once"], &[("DATABASE_URL", "mysql://x".into())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"));
    let out = companion(&["verify", "/nonexistent/x.pdf"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    let out = companion(&["serve", "--config", "/nonexistent/companion.toml"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = companion(&["sync"], &[("TZ_OFFICE", "Nowhere/Town".into())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TZ_OFFICE"));
}

#[test]
fn unreachable_upstream_is_an_internal_error_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/c.db", dir.path().display());
    let out = companion(
        &["sync", "--once", "--json"],
        &[
            ("DATABASE_URL", url),
            (
                "SICANTIK_BASE_URL",
                "http://127.0.0.1:9/backoffice/api".into(),
            ),
            ("SICANTIK_MAX_RETRIES", "0".into()),
            ("SICANTIK_TIMEOUT_SECS", "1".into()),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A page that stays broken through every retry: the run says `partial`, names the offset, exits
/// non-zero, and the next run completes the copy and exits 0.
async fn an_unreadable_page_makes_the_sync_partial_and_exit_non_zero(backend: &str) {
    let sim = start_sim(SicantikSimConfig {
        permits: 800,
        ..Default::default()
    })
    .await;
    sim.break_offset("listpermohonanterbit", 90, 10_000);
    let t = TestDb::new(backend).await.unwrap();
    let env = vec![
        ("DATABASE_URL", t.url.clone()),
        ("SICANTIK_BASE_URL", sim.base_url()),
        ("SICANTIK_RATE_LIMIT", "1000".to_string()),
        ("SICANTIK_MAX_RETRIES", "1".to_string()),
        ("SICANTIK_PAGE_SIZE", "100".to_string()),
    ];
    let run = |env: Vec<(&'static str, String)>| {
        tokio::task::spawn_blocking(move || {
            companion(&["sync", "--once", "--json"], &env)
                .output()
                .unwrap()
        })
    };
    let out = run(env.clone()).await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(summary["outcome"], "partial");
    let terbit = summary["lists"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["endpoint"] == "listpermohonanterbit")
        .unwrap();
    assert_eq!(terbit["failed_offsets"], serde_json::json!([90]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("partial"));

    sim.break_offset("listpermohonanterbit", 90, 0);
    let out = run(env).await.unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["outcome"], "succeeded");
    let counts = t.db.status_counts().await.unwrap();
    assert_eq!(counts.issued + counts.in_process, 800);
    t.cleanup().await.unwrap();
}

/// A sync killed with kill -9 shows as interrupted within a minute (its heartbeat goes stale),
/// not as running for ten.
async fn a_killed_sync_reads_interrupted_within_a_minute(backend: &str) {
    let sim = start_sim(SicantikSimConfig {
        permits: 2000,
        latency: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let t = TestDb::new(backend).await.unwrap();
    let env = vec![
        ("DATABASE_URL", t.url.clone()),
        ("SICANTIK_BASE_URL", sim.base_url()),
        ("SICANTIK_RATE_LIMIT", "1000".to_string()),
        ("SICANTIK_PAGE_SIZE", "20".to_string()),
    ];
    let mut child = companion(&["sync", "--once", "--json"], &env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let run_id = loop {
        let runs = t.db.list_runs(5).await.unwrap();
        if let Some(r) = runs.iter().find(|r| r.outcome == "running") {
            break r.id;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no run started"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed = Instant::now();
    loop {
        let run = t.db.get_run(run_id).await.unwrap().unwrap();
        if run.outcome == "interrupted" {
            break;
        }
        assert_eq!(run.outcome, "running");
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "still 'running' a minute after kill -9"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    t.cleanup().await.unwrap();
}
