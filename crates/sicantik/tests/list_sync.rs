//! The list sync against the SICANTIK simulator, on SQLite and PostgreSQL: full pagination,
//! idempotence, status changes, and one test per upstream quirk (shared/spec/sicantik-api.md §9).

mod common;

use std::time::Duration;

use common::*;
use companion_domain::RunOutcome;
use companion_sicantik::SyncMode;
use companion_simulators::{SicantikSimConfig, SimFault};

companion_db::on_both_backends!(
    full_pagination_stores_every_permit_once,
    resync_changes_nothing,
    status_change_is_detected_once,
    xml_answers_sync_the_same_data,
    end_of_list_as_empty_list,
    rows_without_usable_id_are_skipped_and_logged,
    junk_fields_are_kept_empty_and_flagged,
    rows_shifting_while_paging_lose_nothing,
    permits_leaving_the_list_while_paging_are_not_missed,
    html_page_with_status_200_is_retried,
    truncated_and_empty_bodies_are_retried,
    server_errors_and_timeouts_are_retried,
    php_warnings_before_payload_are_tolerated,
    faults_at_20_percent_converge_to_the_full_data_set,
    incremental_poll_stops_after_quiet_pages,
    every_call_is_logged_with_the_run,
    persistent_outage_fails_the_run_without_damage,
);

async fn full_pagination_stores_every_permit_once(backend: &str) {
    let env = setup(backend, sim_config(2345)).await;
    let report = sync(&env, SyncMode::Full, 100).await;
    assert_eq!(report.outcome, RunOutcome::Succeeded);
    let stored = stored(env.db()).await;
    assert_eq!(stored.len(), 2345);
    assert_matches_ground_truth(&env.sim, &stored);
    assert_eq!(report.summary.inserted, 2345);
    assert_eq!(report.summary.errors, 0);
    // Every row is accounted for: fetched = inserted + updated + unchanged + skipped.
    let s = report.summary;
    assert_eq!(
        s.fetched,
        s.inserted + s.updated + s.unchanged + s.skipped_invalid
    );
    // One creation event and one history row per permit.
    assert_eq!(env.db().table_count("domain_events").await.unwrap(), 2345);
    assert_eq!(
        env.db().table_count("permit_status_history").await.unwrap(),
        2345
    );
    // The side-effecting endpoint is never touched.
    assert_eq!(env.sim.requests("duedatenotification"), 0);
    env.finish().await;
}

async fn resync_changes_nothing(backend: &str) {
    let env = setup(backend, sim_config(700)).await;
    sync(&env, SyncMode::Full, 100).await;
    let before = stored(env.db()).await;
    let events = env.db().table_count("domain_events").await.unwrap();
    let report = sync(&env, SyncMode::Full, 100).await;
    assert_eq!(
        (report.summary.inserted, report.summary.updated),
        (0, 0),
        "{:?}",
        report.summary
    );
    assert_eq!(env.db().table_count("domain_events").await.unwrap(), events);
    let after = stored(env.db()).await;
    for (id, p) in &before {
        assert_eq!(after[id].updated_at, p.updated_at, "{id} was rewritten");
    }
    env.finish().await;
}

async fn status_change_is_detected_once(backend: &str) {
    let env = setup(backend, sim_config(600)).await;
    sync(&env, SyncMode::Full, 100).await;
    let issued = env.sim.issue(5);
    assert_eq!(issued.len(), 5);
    let events_before = env.db().table_count("domain_events").await.unwrap();
    let report = sync(&env, SyncMode::Full, 100).await;
    assert_eq!(report.summary.updated, 5, "{:?}", report.summary);
    assert_eq!(
        env.db().table_count("domain_events").await.unwrap(),
        events_before + 5
    );
    let events = env.db().list_events(events_before, 100).await.unwrap();
    for e in &events {
        assert_eq!(e.kind, "permit.status_changed");
        assert!(issued.contains(&e.subject_id));
        let payload: serde_json::Value = serde_json::from_str(&e.payload).unwrap();
        assert_eq!(payload["from"], "in_process");
        assert_eq!(payload["to"], "issued");
    }
    for id in &issued {
        let history = env.db().status_history(id).await.unwrap();
        assert_eq!(history.len(), 2, "{history:?}");
        assert_eq!(history[1].from_status.as_deref(), Some("in_process"));
        assert_eq!(history[1].to_status, "issued");
    }
    // Detected once: the next sync sees nothing new.
    let again = sync(&env, SyncMode::Full, 100).await;
    assert_eq!((again.summary.inserted, again.summary.updated), (0, 0));
    assert_eq!(
        env.db().table_count("domain_events").await.unwrap(),
        events_before + 5
    );
    env.finish().await;
}

async fn xml_answers_sync_the_same_data(backend: &str) {
    let env = setup(
        backend,
        SicantikSimConfig {
            permits: 450,
            force_xml: true,
            ..Default::default()
        },
    )
    .await;
    let report = sync(&env, SyncMode::Full, 100).await;
    assert_eq!(report.outcome, RunOutcome::Succeeded);
    assert_matches_ground_truth(&env.sim, &stored(env.db()).await);
    env.finish().await;
}

async fn end_of_list_as_empty_list(backend: &str) {
    // 500 permits, page 100, no overlap: the last page is full, so the end is only seen as an
    // empty list (this server variant) rather than the usual 404.
    let env = setup(
        backend,
        SicantikSimConfig {
            permits: 500,
            quirks: false,
            end_with_empty_list: true,
            ..Default::default()
        },
    )
    .await;
    let opts = companion_sicantik::SyncOptions {
        page_size: 100,
        overlap: 0,
        ..Default::default()
    };
    let report = companion_sicantik::run_list_sync(&env.client, env.db(), &opts, &|_| {})
        .await
        .unwrap();
    assert_eq!(report.outcome, RunOutcome::Succeeded);
    assert_eq!(stored(env.db()).await.len(), 500);
    env.finish().await;
}

async fn rows_without_usable_id_are_skipped_and_logged(backend: &str) {
    let env = setup(backend, sim_config(1200)).await;
    let bad = env.sim.bad_rows();
    assert!(bad >= 3, "the data set has junk rows");
    let report = sync(&env, SyncMode::Full, 100).await;
    assert_eq!(report.summary.skipped_invalid, bad as u64);
    let skipped = env
        .db()
        .list_skipped_rows(Some(report.run_id), 100)
        .await
        .unwrap();
    assert_eq!(skipped.len(), bad);
    for row in &skipped {
        assert!(row.reason.contains("pendaftaran_id"), "{row:?}");
        assert!(
            row.raw.contains("n_pemohon"),
            "the raw row is kept: {row:?}"
        );
    }
    assert_eq!(stored(env.db()).await.len(), 1200);
    env.finish().await;
}

async fn junk_fields_are_kept_empty_and_flagged(backend: &str) {
    let env = setup(backend, sim_config(3000)).await;
    sync(&env, SyncMode::Full, 100).await;
    let stored = stored(env.db()).await;
    let truth = env.sim.permits();
    let junk: Vec<_> = truth
        .iter()
        .filter(|p| expected_name(p).is_none())
        .collect();
    assert!(!junk.is_empty(), "the data set has junk names");
    for p in junk {
        let s = &stored[&p.pendaftaran_id];
        assert_eq!(s.applicant_name, None);
        let flag = s.flags.get("applicant_name").map(String::as_str);
        assert!(matches!(flag, Some("missing") | Some("junk:0")), "{flag:?}");
    }
    // Double spaces in type names are folded, so one type stays one type.
    assert!(stored.values().all(|p| {
        p.permit_type_name
            .as_deref()
            .is_none_or(|t| !t.contains("  "))
    }));
    assert!(
        stored
            .values()
            .any(|p| p.permit_type_name.as_deref() == Some("IZIN GANGGUAN USAHA (HO)"))
    );
    // Non-ASCII names arrive intact (JSON \u escapes, XML entities).
    assert!(stored.values().any(|p| {
        p.applicant_name
            .as_deref()
            .is_some_and(|n| n.starts_with("JOSÉ"))
    }));
    env.finish().await;
}

async fn rows_shifting_while_paging_lose_nothing(backend: &str) {
    let env = setup(backend, sim_config(1500)).await;
    // New permits arrive at the head after every few page requests: later pages shift and
    // rows appear twice.
    for after in [3, 6, 9, 12] {
        env.sim.schedule_arrivals(after, 7);
    }
    let report = sync(&env, SyncMode::Full, 100).await;
    assert_eq!(report.outcome, RunOutcome::Succeeded);
    let stored = stored(env.db()).await;
    // Every permit that existed when the sync started is there (new ones may come next poll).
    let truth = env.sim.permits();
    let new_ids: std::collections::HashSet<_> = truth
        .iter()
        .rev()
        .take(28)
        .map(|p| p.pendaftaran_id.clone())
        .collect();
    for p in &truth {
        assert!(
            stored.contains_key(&p.pendaftaran_id) || new_ids.contains(&p.pendaftaran_id),
            "{} missed",
            p.pendaftaran_id
        );
    }
    // No duplicates: one creation event per stored permit.
    assert_eq!(
        env.db().table_count("domain_events").await.unwrap(),
        stored.len() as i64
    );
    // The next poll picks up the newcomers.
    sync(&env, SyncMode::Incremental, 100).await;
    assert_matches_ground_truth(&env.sim, &crate::common::stored(env.db()).await);
    env.finish().await;
}

async fn permits_leaving_the_list_while_paging_are_not_missed(backend: &str) {
    // Many in-process permits; while the client pages through that list, some are issued and
    // leave it, pulling later rows into pages already read. The page overlap covers that.
    let env = setup(
        backend,
        SicantikSimConfig {
            permits: 4000,
            ..Default::default()
        },
    )
    .await;
    sync(&env, SyncMode::Full, 100).await;
    for _ in 0..40 {
        env.sim.arrive(10);
    }
    for after in [2, 3, 4] {
        env.sim.schedule_issues(after, 3);
    }
    let report = sync(&env, SyncMode::Full, 50).await;
    assert_eq!(report.outcome, RunOutcome::Succeeded);
    assert_matches_ground_truth(&env.sim, &stored(env.db()).await);
    env.finish().await;
}

fn faulty(permits: usize, rate: f64, faults: Vec<SimFault>) -> SicantikSimConfig {
    SicantikSimConfig {
        permits,
        fault_rate: rate,
        faults,
        slow_fault: Duration::from_millis(2500),
        ..Default::default()
    }
}

async fn assert_recovers(backend: &str, config: SicantikSimConfig) {
    let env = setup(backend, config).await;
    let report = sync(&env, SyncMode::Full, 100).await;
    assert_eq!(report.outcome, RunOutcome::Succeeded, "{report:?}");
    assert_matches_ground_truth(&env.sim, &stored(env.db()).await);
    let failed_attempts = env
        .db()
        .list_calls(Some(report.run_id), 10_000)
        .await
        .unwrap()
        .iter()
        .filter(|c| c.error.is_some() && c.http_status != Some(404))
        .count();
    assert!(failed_attempts > 0, "faults were injected and logged");
    env.finish().await;
}

async fn html_page_with_status_200_is_retried(backend: &str) {
    assert_recovers(backend, faulty(800, 0.3, vec![SimFault::HtmlPage])).await;
}

async fn truncated_and_empty_bodies_are_retried(backend: &str) {
    assert_recovers(
        backend,
        faulty(800, 0.3, vec![SimFault::Truncated, SimFault::EmptyBody]),
    )
    .await;
}

async fn server_errors_and_timeouts_are_retried(backend: &str) {
    assert_recovers(
        backend,
        faulty(
            600,
            0.3,
            vec![SimFault::ServerError, SimFault::Unavailable, SimFault::Slow],
        ),
    )
    .await;
}

async fn php_warnings_before_payload_are_tolerated(backend: &str) {
    let env = setup(backend, faulty(500, 1.0, vec![SimFault::PhpNoise])).await;
    let report = sync(&env, SyncMode::Full, 100).await;
    assert_eq!(report.outcome, RunOutcome::Succeeded);
    assert_eq!(report.summary.errors, 0);
    assert_matches_ground_truth(&env.sim, &stored(env.db()).await);
    env.finish().await;
}

async fn faults_at_20_percent_converge_to_the_full_data_set(backend: &str) {
    let env = setup(
        backend,
        SicantikSimConfig {
            slow_fault: Duration::from_millis(2500),
            ..faulty(2000, 0.2, companion_simulators::FAULTS.to_vec())
        },
    )
    .await;
    let report = sync(&env, SyncMode::Full, 100).await;
    assert_ne!(report.outcome, RunOutcome::Failed);
    // Extra junk rows injected by faults are skipped; nothing else is lost or corrupted.
    assert_matches_ground_truth(&env.sim, &stored(env.db()).await);
    assert_eq!(env.db().table_count("domain_events").await.unwrap(), 2000);
    env.finish().await;
}

async fn incremental_poll_stops_after_quiet_pages(backend: &str) {
    let env = setup(backend, sim_config(3000)).await;
    sync(&env, SyncMode::Full, 100).await;
    env.sim.arrive(15);
    let before = env.sim.total_requests();
    let report = sync(&env, SyncMode::Incremental, 100).await;
    let used = env.sim.total_requests() - before;
    assert_eq!(report.summary.inserted, 15);
    // In-process list: news on page 1, quiet page 2 (+ margin page 3); issued list: 2 quiet pages.
    assert!(used <= 6, "incremental poll read {used} pages");
    assert_matches_ground_truth(&env.sim, &stored(env.db()).await);
    env.finish().await;
}

async fn every_call_is_logged_with_the_run(backend: &str) {
    let env = setup(backend, sim_config(350)).await;
    let before = env.sim.total_requests();
    let report = sync(&env, SyncMode::Full, 100).await;
    let made = env.sim.total_requests() - before;
    let calls = env
        .db()
        .list_calls(Some(report.run_id), 1000)
        .await
        .unwrap();
    assert_eq!(calls.len() as u64, made);
    // The end of each list is a logged 404 or a short page.
    for list in ["listpermohonanterbit", "listpermohonanproses"] {
        let last = calls
            .iter()
            .find(|c| c.endpoint == list)
            .expect("list called");
        assert!(
            last.http_status == Some(404) || last.row_count.unwrap_or(0) < 100,
            "{last:?}"
        );
    }
    assert!(calls.iter().all(|c| c.params.contains("limit=100")));
    let run = env.db().get_run(report.run_id).await.unwrap().unwrap();
    assert_eq!(run.outcome, "succeeded");
    assert!(run.finished_at.is_some());
    assert_eq!(run.inserted, 350);
    env.finish().await;
}

async fn persistent_outage_fails_the_run_without_damage(backend: &str) {
    let env = setup(backend, sim_config(300)).await;
    sync(&env, SyncMode::Full, 100).await;
    let before = stored(env.db()).await;
    env.sim.set_fault_kinds(&[
        SimFault::ServerError,
        SimFault::Unavailable,
        SimFault::HtmlPage,
    ]);
    env.sim.set_fault_rate(1.0);
    let report = sync(&env, SyncMode::Full, 100).await;
    assert_eq!(report.outcome, RunOutcome::Failed);
    assert!(report.summary.errors > 0);
    let after = stored(env.db()).await;
    assert_eq!(before.len(), after.len());
    for (id, p) in &before {
        assert_eq!(after[id].applicant_name, p.applicant_name);
        assert_eq!(after[id].updated_at, p.updated_at);
    }
    env.finish().await;
}
