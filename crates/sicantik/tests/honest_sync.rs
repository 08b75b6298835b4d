//! Sync that never claims more than it knows, against a simulator that behaves like SICANTIK's
//! CodeIgniter server: error views at random pages (status 200 and 500, before, after and instead
//! of the payload), truncated bodies, pages of junk rows, a page that stays broken, a server that
//! caps the page size, permits that vanish, and issuances deep in the issued list. On SQLite and
//! PostgreSQL.

mod common;

use std::time::Duration;

use common::*;
use companion_db::{PermitQuery, PermitSort};
use companion_domain::{PermitStatus, RunOutcome};
use companion_sicantik::{ExpiryOptions, SyncMode, run_expiry_sync};
use companion_simulators::{CODEIGNITER_FAULTS, SicantikSimConfig, SimFault};

companion_db::on_both_backends!(
    one_full_sync_survives_codeigniter_error_views,
    one_expiry_sync_fills_every_date_despite_error_views,
    an_unrecoverable_page_is_partial_and_the_next_run_completes_it,
    a_capped_page_size_is_not_the_end_of_the_list,
    vanished_permits_are_reported_as_a_shortfall,
    an_issuance_deep_in_the_list_is_seen_by_the_next_poll,
    a_dead_run_reads_interrupted_within_a_minute,
    newest_first_uses_the_permits_own_dates,
);

fn codeigniter_sim(permits: usize, rate: f64) -> SicantikSimConfig {
    let mut faults = CODEIGNITER_FAULTS.to_vec();
    faults.push(SimFault::JunkRows);
    SicantikSimConfig {
        permits,
        fault_rate: rate,
        faults,
        slow_fault: Duration::from_millis(2500),
        ..Default::default()
    }
}

async fn one_full_sync_survives_codeigniter_error_views(backend: &str) {
    let env = setup(backend, codeigniter_sim(2347, 0.3)).await;
    let report = sync(&env, SyncMode::Full, 100).await;
    assert_eq!(report.outcome, RunOutcome::Succeeded, "{report:?}");
    let stored = stored(env.db()).await;
    assert_eq!(stored.len(), 2347, "every permit, in one run");
    assert_matches_ground_truth(&env.sim, &stored);
    // Each exactly once: one creation event per permit.
    assert_eq!(env.db().table_count("domain_events").await.unwrap(), 2347);
    for list in &report.details.lists {
        assert!(list.reached_end, "{list:?}");
        assert!(list.failed_offsets.is_empty(), "{list:?}");
        assert_eq!(list.missing, Some(0), "{list:?}");
    }
    // The error views were really served and are visible in the call log.
    let calls = env
        .db()
        .list_calls(Some(report.run_id), 100_000)
        .await
        .unwrap();
    assert!(
        calls.iter().any(|c| c
            .error
            .as_deref()
            .is_some_and(|e| e.contains("CodeIgniter"))),
        "error views were logged as such"
    );
    env.finish().await;
}

async fn one_expiry_sync_fills_every_date_despite_error_views(backend: &str) {
    let env = setup(
        backend,
        SicantikSimConfig {
            permits: 400,
            ..Default::default()
        },
    )
    .await;
    sync(&env, SyncMode::Full, 100).await;
    env.sim.set_fault_kinds(&CODEIGNITER_FAULTS);
    env.sim.set_fault_rate(0.3);
    let opts = ExpiryOptions {
        concurrency: 8,
        ..Default::default()
    };
    let report = run_expiry_sync(&env.client, env.db(), &opts, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(report.outcome, RunOutcome::Succeeded, "{report:?}");
    assert_eq!(report.errors, 0);
    let stored = stored(env.db()).await;
    for p in &issued_with_number(&env.sim) {
        let s = &stored[&p.pendaftaran_id];
        // The date the server has: none for a permit its look-ups cannot find.
        let has = p.expected_expiry().filter(|_| p.registered());
        assert_eq!(
            s.expiry_date,
            has,
            "{} {} registered={}",
            p.pendaftaran_id,
            s.expiry_status,
            p.registered()
        );
        let want = if !p.registered() {
            "not_registered"
        } else if p.expected_expiry().is_some() {
            "found"
        } else {
            "no_expiry"
        };
        assert_eq!(s.expiry_status, want, "{}", p.pendaftaran_id);
    }
    env.finish().await;
}

async fn an_unrecoverable_page_is_partial_and_the_next_run_completes_it(backend: &str) {
    let env = setup(backend, sim_config(1200)).await;
    // Offset 270 of the issued list (page 4 at 100 rows with an overlap of 10) answers with
    // CodeIgniter's database error page more often than any retry allows.
    env.sim.break_offset("listpermohonanterbit", 270, 10_000);
    let first = sync(&env, SyncMode::Full, 100).await;
    assert_eq!(first.outcome, RunOutcome::Partial, "{first:?}");
    let terbit = first
        .details
        .lists
        .iter()
        .find(|l| l.endpoint == "listpermohonanterbit")
        .unwrap();
    assert_eq!(terbit.failed_offsets, vec![270]);
    let run = env.db().get_run(first.run_id).await.unwrap().unwrap();
    assert_eq!(run.outcome().unwrap(), RunOutcome::Partial);
    assert!(
        run.message.as_deref().unwrap_or("").contains("offset 270"),
        "{:?}",
        run.message
    );
    // Rows 270..360 of the issued list were read by no page (the neighbours overlap by 10).
    assert!(stored(env.db()).await.len() < 1200);

    env.sim.break_offset("listpermohonanterbit", 270, 0);
    let before = env.sim.total_requests();
    let second = sync(&env, SyncMode::Incremental, 100).await;
    assert_eq!(second.outcome, RunOutcome::Succeeded, "{second:?}");
    // The failed offset was asked first, so even an incremental poll closes the gap.
    assert_matches_ground_truth(&env.sim, &stored(env.db()).await);
    assert!(env.sim.total_requests() - before < 12);
    env.finish().await;
}

async fn a_capped_page_size_is_not_the_end_of_the_list(backend: &str) {
    let env = setup(backend, sim_config(900)).await;
    env.sim.set_max_limit(Some(40));
    let report = sync(&env, SyncMode::Full, 100).await;
    assert_eq!(report.outcome, RunOutcome::Succeeded, "{report:?}");
    assert_matches_ground_truth(&env.sim, &stored(env.db()).await);
    env.finish().await;
}

async fn vanished_permits_are_reported_as_a_shortfall(backend: &str) {
    let env = setup(backend, sim_config(1500)).await;
    sync(&env, SyncMode::Full, 100).await;
    let gone = env.sim.vanish_issued(40);
    let report = sync(&env, SyncMode::Full, 100).await;
    let terbit = report
        .details
        .lists
        .iter()
        .find(|l| l.endpoint == "listpermohonanterbit")
        .unwrap();
    assert_eq!(terbit.missing, Some(gone.len() as i64), "{terbit:?}");
    assert!(terbit.shortfall().is_some());
    assert!(
        report
            .details
            .warnings
            .iter()
            .any(|w| w.contains("40 stored permit(s)")),
        "{:?}",
        report.details.warnings
    );
    // Stored as the run's details, for the dashboard and the sync page.
    let run = env.db().get_run(report.run_id).await.unwrap().unwrap();
    assert_eq!(run.details().unwrap().shortfalls().len(), 1);
    env.finish().await;
}

async fn an_issuance_deep_in_the_list_is_seen_by_the_next_poll(backend: &str) {
    let env = setup(backend, sim_config(3000)).await;
    sync(&env, SyncMode::Full, 100).await;
    // The oldest in-process permits get issued: received long ago, so they sit deep in the
    // issued list (ordered by reception date), far beyond an incremental poll's first pages.
    let issued = env.sim.issue(3);
    assert_eq!(issued.len(), 3);
    let report = sync(&env, SyncMode::Incremental, 100).await;
    assert_eq!(report.outcome, RunOutcome::Succeeded, "{report:?}");
    assert!(report.details.left_unsettled.is_empty(), "{report:?}");
    let stored = stored(env.db()).await;
    for id in &issued {
        assert_eq!(stored[id].status, PermitStatus::Issued, "{id}");
    }
    assert_matches_ground_truth(&env.sim, &stored);
    // Settled in this poll, with their status change recorded once each.
    let changes = env
        .db()
        .list_events(0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "permit.status_changed")
        .count();
    assert_eq!(changes, 3);
    // Nothing left the list since: the next poll reads only its usual few pages.
    let before = env.sim.total_requests();
    sync(&env, SyncMode::Incremental, 100).await;
    assert!(env.sim.total_requests() - before <= 6);
    env.finish().await;
}

async fn a_dead_run_reads_interrupted_within_a_minute(backend: &str) {
    let env = setup(backend, sim_config(10)).await;
    let db = env.db();
    let id = db.start_run("list_full").await.unwrap();
    assert_eq!(
        db.get_run(id).await.unwrap().unwrap().outcome().unwrap(),
        RunOutcome::Running
    );
    // The process dies: no heartbeat for longer than the stale limit (45 s).
    let old = chrono::Utc::now() - chrono::Duration::seconds(50);
    companion_db::testing::set_run_heartbeat(db, id, old)
        .await
        .unwrap();
    let run = db.get_run(id).await.unwrap().unwrap();
    assert_eq!(run.outcome().unwrap(), RunOutcome::Interrupted);
    assert!(run.message.unwrap_or_default().contains("stopped"));
    let listed = db.list_runs(5).await.unwrap();
    assert_eq!(listed[0].outcome().unwrap(), RunOutcome::Interrupted);
    env.finish().await;
}

async fn newest_first_uses_the_permits_own_dates(backend: &str) {
    let env = setup(backend, sim_config(600)).await;
    sync(&env, SyncMode::Full, 100).await;
    let (page, _) = env
        .db()
        .list_permits(&PermitQuery {
            sort: PermitSort::Newest,
            per_page: 20,
            page: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    // Every permit was first seen at the same moment; "newest" must still mean the newest
    // permits: the newest registration year-month of the data set comes first.
    let year_month =
        |id: &str| format!("{}{}", &id[id.len() - 4..], &id[id.len() - 6..id.len() - 4]);
    let newest = env
        .sim
        .permits()
        .iter()
        .map(|p| year_month(&p.pendaftaran_id))
        .max()
        .unwrap();
    assert_eq!(year_month(&page[0].pendaftaran_id), newest, "{:?}", page[0]);
    env.finish().await;
}
