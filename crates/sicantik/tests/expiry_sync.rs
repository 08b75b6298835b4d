//! The expiry workaround (`cekperizinan`, fallback `cekperizinanizin`) against the simulator, on
//! SQLite and PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use common::*;
use companion_domain::RunOutcome;
use companion_sicantik::expiry::no_izin;
use companion_sicantik::{ExpiryOptions, SyncMode, run_expiry_sync};
use companion_simulators::{SicantikSimConfig, SimFault};

companion_db::on_both_backends!(
    expiry_dates_and_contacts_are_filled,
    misses_are_not_asked_again_until_their_backoff,
    base64_with_plus_slash_and_padding_is_url_encoded,
    a_limited_run_resumes_where_it_stopped,
    faults_during_expiry_sync_lose_nothing,
    rate_limit_is_respected,
);

fn opts(concurrency: usize) -> ExpiryOptions {
    ExpiryOptions {
        concurrency,
        ..Default::default()
    }
}

async fn expiry_dates_and_contacts_are_filled(backend: &str) {
    let env = setup(backend, sim_config(900)).await;
    sync(&env, SyncMode::Full, 100).await;
    let report = run_expiry_sync(&env.client, env.db(), &opts(8), &|_, _| {})
        .await
        .unwrap();
    assert_eq!(report.outcome, RunOutcome::Succeeded);
    let stored = stored(env.db()).await;
    let mut via_fallback = 0;
    let mut flagged_dates = 0;
    for p in &issued_with_number(&env.sim) {
        let s = &stored[&p.pendaftaran_id];
        if p.registered() {
            assert_eq!(
                s.expiry_date,
                p.expected_expiry(),
                "expiry of {}",
                p.pendaftaran_id
            );
            let want = if p.expected_expiry().is_some() {
                "found"
            } else {
                "no_expiry"
            };
            assert_eq!(s.expiry_status, want);
            assert_eq!(s.applicant_phone, p.telp_pemohon, "phone kept as given");
            assert_eq!(s.applicant_address, p.a_pemohon);
            assert_eq!(s.issue_date, p.tgl_surat);
            if !p.base64_stored {
                via_fallback += 1;
            }
            if let Some(raw) = p
                .d_berlaku_izin
                .as_deref()
                .filter(|_| p.expected_expiry().is_none())
            {
                assert_eq!(s.flags.get("expiry_date"), Some(&format!("invalid:{raw}")));
                flagged_dates += 1;
            }
        } else {
            assert_eq!(s.expiry_status, "not_registered", "{}", p.pendaftaran_id);
            assert_eq!(s.expiry_date, None);
        }
    }
    assert!(
        via_fallback > 0,
        "some permits are only found through cekperizinanizin"
    );
    assert!(flagged_dates > 0, "the data set has impossible dates");
    assert_eq!(report.processed, report.total_due as u64);
    assert_eq!(env.sim.requests("duedatenotification"), 0);
    env.finish().await;
}

async fn misses_are_not_asked_again_until_their_backoff(backend: &str) {
    let env = setup(backend, sim_config(300)).await;
    sync(&env, SyncMode::Full, 100).await;
    let first = run_expiry_sync(&env.client, env.db(), &opts(4), &|_, _| {})
        .await
        .unwrap();
    assert!(first.not_registered > 0);
    let calls_before = env.sim.requests("cekperizinan") + env.sim.requests("cekperizinanizin");
    let second = run_expiry_sync(&env.client, env.db(), &opts(4), &|_, _| {})
        .await
        .unwrap();
    assert_eq!(second.processed, 0, "{second:?}");
    assert_eq!(
        env.sim.requests("cekperizinan") + env.sim.requests("cekperizinanizin"),
        calls_before
    );
    let stored = stored(env.db()).await;
    assert!(
        stored
            .values()
            .filter(|p| p.expiry_status == "not_registered")
            .all(|p| p.expiry_attempts == 1)
    );
    assert!(
        stored
            .values()
            .filter(|p| p.expiry_status == "found")
            .all(|p| p.expiry_attempts == 0)
    );
    env.finish().await;
}

async fn base64_with_plus_slash_and_padding_is_url_encoded(backend: &str) {
    let env = setup(backend, sim_config(200)).await;
    let target = env
        .sim
        .permits()
        .into_iter()
        .find(|p| p.issued && p.registered() && p.base64_stored)
        .unwrap();
    // '>' and '?' at these positions give '+' and '/' in Base64; the length gives '=' padding.
    let number = "50?/0>/IUT/DPM-PTSP/2024~";
    let encoded = no_izin(number);
    assert!(
        encoded.contains('+') && encoded.contains('/') && encoded.ends_with('='),
        "{encoded}"
    );
    assert!(env.sim.set_permit_number(&target.pendaftaran_id, number));
    sync(&env, SyncMode::Full, 100).await;
    run_expiry_sync(&env.client, env.db(), &opts(4), &|_, _| {})
        .await
        .unwrap();
    let p = env
        .db()
        .get_permit(&target.pendaftaran_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.permit_number.as_deref(), Some(number));
    assert_ne!(
        p.expiry_status, "not_registered",
        "found through cekperizinan with the exact Base64"
    );
    assert_eq!(env.sim.cek_requests(&encoded), 1, "no fallback needed");
    env.finish().await;
}

async fn a_limited_run_resumes_where_it_stopped(backend: &str) {
    let env = setup(backend, sim_config(500)).await;
    sync(&env, SyncMode::Full, 100).await;
    let mut o = opts(4);
    o.limit = Some(120);
    let first = run_expiry_sync(&env.client, env.db(), &o, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(first.processed, 120);
    let rest = run_expiry_sync(&env.client, env.db(), &opts(4), &|_, _| {})
        .await
        .unwrap();
    assert_eq!(rest.processed as i64, first.total_due - 120);
    // No permit was asked more than once per endpoint.
    for p in env.sim.permits().iter().filter(|p| p.issued) {
        if let Some(b64) = p.no_izin() {
            assert!(
                env.sim.cek_requests(&b64) <= 2,
                "{} asked {} times",
                p.pendaftaran_id,
                env.sim.cek_requests(&b64)
            );
        }
    }
    assert!(
        stored(env.db())
            .await
            .values()
            .filter(|p| p.status.as_str() == "issued" && p.permit_number.is_some())
            .all(|p| p.expiry_status != "unknown")
    );
    env.finish().await;
}

async fn faults_during_expiry_sync_lose_nothing(backend: &str) {
    let env = setup(
        backend,
        SicantikSimConfig {
            permits: 400,
            slow_fault: Duration::from_millis(2500),
            ..Default::default()
        },
    )
    .await;
    sync(&env, SyncMode::Full, 100).await;
    env.sim.set_fault_kinds(&[
        SimFault::ServerError,
        SimFault::HtmlPage,
        SimFault::Truncated,
        SimFault::EmptyBody,
        SimFault::Slow,
    ]);
    env.sim.set_fault_rate(0.2);
    let report = run_expiry_sync(&env.client, env.db(), &opts(8), &|_, _| {})
        .await
        .unwrap();
    assert_eq!(report.processed as i64, report.total_due);
    let stored = stored(env.db()).await;
    for p in &issued_with_number(&env.sim) {
        let s = &stored[&p.pendaftaran_id];
        match s.expiry_status.as_str() {
            "found" => assert_eq!(s.expiry_date, p.expected_expiry()),
            "not_registered" => assert!(
                !p.registered(),
                "{} wrongly not registered",
                p.pendaftaran_id
            ),
            "no_expiry" => assert!(p.expected_expiry().is_none()),
            // Retries exhausted: kept for a later run, nothing written over.
            "error" => assert_eq!(s.expiry_date, None),
            other => panic!("unexpected status {other}"),
        }
    }
    env.finish().await;
}

async fn rate_limit_is_respected(backend: &str) {
    let env = setup(backend, sim_config(150)).await;
    sync(&env, SyncMode::Full, 100).await;
    let mut config = env.client.config().clone();
    config.rate_limit_per_sec = 40;
    let client = companion_sicantik::SicantikClient::new(config).unwrap();
    let mut o = opts(8);
    o.limit = Some(40);
    let started = Instant::now();
    let report = run_expiry_sync(&client, env.db(), &o, &|_, _| {})
        .await
        .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    // Evenly spaced calls: n calls need at least (n - 1) / rate seconds.
    let floor = (report.calls as f64 - 1.0) / 40.0;
    assert!(
        elapsed >= floor * 0.95,
        "{} calls in {elapsed:.2}s exceed 40/s",
        report.calls
    );
    env.finish().await;
}
