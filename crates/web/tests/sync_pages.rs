//! What the dashboard and the sync page tell staff about how complete the copy of SICANTIK is:
//! the last complete full sync and its age, shortfalls, unread pages, interrupted runs.

mod common;

use common::{Call, harness, session_for};
use companion_domain::{ListCoverage, Role, RunDetails, RunOutcome, SyncSummary};

companion_db::on_both_backends!(completeness_is_shown_plainly);

async fn page(h: &common::Harness, cookie: &str, path: &'static str) -> String {
    let r = Call::new("GET", path)
        .cookie(cookie.to_string())
        .send(&h.router)
        .await;
    assert_eq!(r.status, 200, "{path}");
    r.body
}

async fn completeness_is_shown_plainly(backend: &str) {
    let h = harness(backend).await;
    let (sid, _) = session_for(&h.t.db, &h.users[&Role::Staff]).await;
    let cookie = format!("sc_session={sid}");
    let db = &h.t.db;

    // No full sync yet: said on the dashboard.
    let dash = page(&h, &cookie, "/").await;
    assert!(
        dash.contains("Belum ada sinkronisasi lengkap yang berhasil"),
        "{dash}"
    );
    assert!(dash.contains("id=\"sync-stale\""));

    // A partial run that could not read one page and found a shortfall.
    let mut terbit = ListCoverage::new("listpermohonanterbit");
    terbit.reached_end = true;
    terbit.failed_offsets = vec![270];
    terbit.seen = 1_330;
    terbit.compare(2_347);
    let details = RunDetails {
        lists: vec![terbit],
        ..Default::default()
    };
    let id = db.start_run("list_full").await.unwrap();
    db.finish_run(
        id,
        &SyncSummary::default(),
        RunOutcome::Partial,
        Some("listpermohonanterbit: pages at offset 270 failed"),
        Some(&details),
    )
    .await
    .unwrap();
    let dash = page(&h, &cookie, "/").await;
    assert!(
        dash.contains("1.017 izin yang tersimpan di sini tidak muncul lagi"),
        "{dash}"
    );
    assert!(dash.contains("1 halaman gagal dibaca"));
    assert!(dash.contains("Belum ada sinkronisasi lengkap yang berhasil"));
    let sync = page(&h, &cookie, "/sinkronisasi").await;
    assert!(sync.contains("Sebagian"));
    assert!(sync.contains("1.017 izin"));

    // A complete run: its time is shown, the staleness warning goes.
    let mut done = ListCoverage::new("listpermohonanterbit");
    done.reached_end = true;
    done.seen = 2_347;
    done.compare(2_347);
    let id = db.start_run("list_full").await.unwrap();
    db.finish_run(
        id,
        &SyncSummary::default(),
        RunOutcome::Succeeded,
        None,
        Some(&RunDetails {
            lists: vec![done],
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let dash = page(&h, &cookie, "/").await;
    assert!(dash.contains("Sinkronisasi lengkap terakhir"), "{dash}");
    assert!(!dash.contains("id=\"sync-stale\""));
    assert!(!dash.contains("halaman gagal dibaca"));

    // A run whose process died reads "Terputus" within the stale limit, not "Berjalan".
    let dead = db.start_run("list_incremental").await.unwrap();
    companion_db::testing::set_run_heartbeat(
        db,
        dead,
        chrono::Utc::now() - chrono::Duration::seconds(60),
    )
    .await
    .unwrap();
    let sync = page(&h, &cookie, "/sinkronisasi").await;
    assert!(sync.contains("Terputus"), "{sync}");
    h.t.cleanup().await.unwrap();
}
