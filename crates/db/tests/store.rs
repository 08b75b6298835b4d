//! The persistence layer on SQLite and PostgreSQL: migrations, the page upsert, queries, expiry
//! due selection and job leases.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};
use companion_db::testing::TestDb;
use companion_db::{ExpiryDue, ExpiryOutcome, PermitQuery, PermitSort};
use companion_domain::expiry::ExpiryStatus;
use companion_domain::{DataFlags, IncomingPermit, PermitStatus, plan_page};

companion_db::on_both_backends!(
    migrations_are_idempotent,
    page_upsert_round_trips_every_field,
    search_filter_sort_and_paging,
    expiry_due_selection_follows_the_policy,
    leases_are_exclusive_and_expire,
    unknown_table_names_are_refused,
);

fn incoming(id: &str, status: PermitStatus, name: &str) -> IncomingPermit {
    IncomingPermit {
        pendaftaran_id: id.into(),
        status,
        applicant_name: Some(name.into()),
        permit_type_name: Some("IZIN USAHA TOKO".into()),
        permit_number: (status == PermitStatus::Issued).then(|| format!("503/{id}/IUT/2024")),
        flags: DataFlags::new(),
    }
}

async fn seed(db: &companion_db::Database, rows: &[IncomingPermit]) {
    let ids: Vec<String> = rows.iter().map(|r| r.pendaftaran_id.clone()).collect();
    let existing = db.load_permits(&ids).await.unwrap();
    let plan = plan_page(rows, &existing);
    db.apply_page(&plan, None, &[], &[]).await.unwrap();
}

async fn migrations_are_idempotent(backend: &str) {
    let t = TestDb::new(backend).await.unwrap();
    t.db.migrate().await.unwrap();
    t.db.migrate().await.unwrap();
    t.db.ping().await.unwrap();
    assert_eq!(t.db.backend_name(), backend);
    t.cleanup().await.unwrap();
}

async fn page_upsert_round_trips_every_field(backend: &str) {
    let t = TestDb::new(backend).await.unwrap();
    let mut junk = incoming("0000100001012025", PermitStatus::Issued, "x");
    junk.applicant_name = None;
    junk.flags.insert("applicant_name".into(), "junk:0".into());
    let rows = vec![
        incoming("0142307703072025", PermitStatus::InProcess, "JOSÉ GINTING"),
        junk.clone(),
    ];
    seed(&t.db, &rows).await;
    let loaded =
        t.db.load_permits(&[
            "0142307703072025".into(),
            junk.pendaftaran_id.clone(),
            "missing".into(),
        ])
        .await
        .unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(
        loaded["0142307703072025"].applicant_name.as_deref(),
        Some("JOSÉ GINTING")
    );
    assert_eq!(loaded[&junk.pendaftaran_id].flags, junk.flags);
    // Leading zeros survive.
    let view = t.db.get_permit("0000100001012025").await.unwrap().unwrap();
    assert_eq!(view.pendaftaran_id, "0000100001012025");
    assert_eq!(view.expiry_status, "unknown");
    let counts = t.db.status_counts().await.unwrap();
    assert_eq!((counts.issued, counts.in_process), (1, 1));
    t.cleanup().await.unwrap();
}

async fn search_filter_sort_and_paging(backend: &str) {
    let t = TestDb::new(backend).await.unwrap();
    let rows: Vec<_> = (0..30)
        .map(|i| {
            incoming(
                &format!("{:05}040010{}2024", i, i % 9 + 1),
                if i % 3 == 0 {
                    PermitStatus::InProcess
                } else {
                    PermitStatus::Issued
                },
                &format!("PEMOHON {i:02} SEMBIRING"),
            )
        })
        .collect();
    seed(&t.db, &rows).await;
    let q = |f: fn(&mut PermitQuery)| {
        let mut q = PermitQuery {
            page: 1,
            per_page: 10,
            sort: PermitSort::Applicant,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let (items, total) = t.db.list_permits(&q(|_| {})).await.unwrap();
    assert_eq!((items.len(), total), (10, 30));
    assert_eq!(
        items[0].applicant_name.as_deref(),
        Some("PEMOHON 00 SEMBIRING")
    );
    let (page3, _) = t.db.list_permits(&q(|q| q.page = 3)).await.unwrap();
    assert_eq!(
        page3[9].applicant_name.as_deref(),
        Some("PEMOHON 29 SEMBIRING")
    );
    let (_, issued) =
        t.db.list_permits(&q(|q| q.status = Some(PermitStatus::Issued)))
            .await
            .unwrap();
    assert_eq!(issued, 20);
    let (found, n) =
        t.db.list_permits(&q(|q| q.q = Some("pemohon 07".into())))
            .await
            .unwrap();
    assert_eq!(n, 1, "case-insensitive name search");
    assert_eq!(
        found[0].applicant_name.as_deref(),
        Some("PEMOHON 07 SEMBIRING")
    );
    let (_, by_number) =
        t.db.list_permits(&q(|q| q.q = Some("/iut/".into())))
            .await
            .unwrap();
    assert_eq!(by_number, 20);
    let (_, wildcard) =
        t.db.list_permits(&q(|q| q.q = Some("%".into())))
            .await
            .unwrap();
    assert_eq!(
        wildcard, 30,
        "wildcards typed into the search are ignored, not interpreted"
    );
    // Expiring within N days.
    let task = t.db.expiry_due(&due_now(), "", 1).await.unwrap().remove(0);
    let soon = NaiveDate::from_ymd_opt(2026, 1, 20).unwrap();
    let mut outcome = ExpiryOutcome::without_detail(ExpiryStatus::Found);
    outcome.expiry_date = Some(soon);
    t.db.record_expiry(&task, &outcome, None, None, &[])
        .await
        .unwrap();
    let expiring = |days| PermitQuery {
        expiring_within_days: Some(days),
        today: NaiveDate::from_ymd_opt(2026, 1, 1),
        page: 1,
        per_page: 10,
        ..Default::default()
    };
    assert_eq!(t.db.count_permits(&expiring(30)).await.unwrap(), 1);
    assert_eq!(t.db.count_permits(&expiring(10)).await.unwrap(), 0);
    t.cleanup().await.unwrap();
}

fn due_now() -> ExpiryDue {
    let now = companion_db::now();
    ExpiryDue {
        now,
        stale_before: now - Duration::days(90),
        run_started: now,
    }
}

async fn expiry_due_selection_follows_the_policy(backend: &str) {
    let t = TestDb::new(backend).await.unwrap();
    let rows: Vec<_> = (1..=4)
        .map(|i| incoming(&format!("0000{i}040010{i}2024"), PermitStatus::Issued, "A"))
        .chain([incoming("0000904001092024", PermitStatus::InProcess, "B")])
        .collect();
    seed(&t.db, &rows).await;
    let due = due_now();
    assert_eq!(
        t.db.count_expiry_due(&due).await.unwrap(),
        4,
        "only issued permits with a number"
    );
    let tasks = t.db.expiry_due(&due, "", 10).await.unwrap();
    let by_id: HashMap<_, _> = tasks
        .iter()
        .map(|t| (t.pendaftaran_id.clone(), t.clone()))
        .collect();
    let ids: Vec<_> = by_id
        .keys()
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // found, a miss with a future retry, a miss whose retry is due, an error due now.
    let mut found = ExpiryOutcome::without_detail(ExpiryStatus::Found);
    found.expiry_date = NaiveDate::from_ymd_opt(2030, 1, 1);
    t.db.record_expiry(&by_id[&ids[0]], &found, None, None, &[])
        .await
        .unwrap();
    t.db.record_expiry(
        &by_id[&ids[1]],
        &ExpiryOutcome::without_detail(ExpiryStatus::NotRegistered),
        Some(due.now + Duration::days(1)),
        None,
        &[],
    )
    .await
    .unwrap();
    t.db.record_expiry(
        &by_id[&ids[2]],
        &ExpiryOutcome::without_detail(ExpiryStatus::NotRegistered),
        Some(due.now - Duration::seconds(1)),
        None,
        &[],
    )
    .await
    .unwrap();
    // Within the same run nothing is picked twice.
    assert_eq!(
        t.db.count_expiry_due(&due).await.unwrap(),
        1,
        "only the never-checked one"
    );
    // A later run: the due miss and the unchecked one; not the found one or the future miss.
    let later = ExpiryDue {
        run_started: companion_db::now() + Duration::seconds(1),
        now: companion_db::now() + Duration::seconds(1),
        ..due
    };
    let next: Vec<_> =
        t.db.expiry_due(&later, "", 10)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.pendaftaran_id)
            .collect();
    assert_eq!(next, vec![ids[2].clone(), ids[3].clone()]);
    // A found date older than the maximum age is refreshed.
    let much_later = ExpiryDue {
        stale_before: companion_db::now() + Duration::days(1),
        ..later
    };
    assert!(
        t.db.expiry_due(&much_later, "", 10)
            .await
            .unwrap()
            .iter()
            .any(|t| t.pendaftaran_id == ids[0])
    );
    // Paging by id.
    let after = t.db.expiry_due(&later, &ids[2], 10).await.unwrap();
    assert_eq!(after.len(), 1);
    t.cleanup().await.unwrap();
}

async fn leases_are_exclusive_and_expire(backend: &str) {
    let t = TestDb::new(backend).await.unwrap();
    let ttl = Duration::seconds(60);
    assert!(t.db.try_acquire_lease("job", "a", ttl).await.unwrap());
    assert!(
        !t.db.try_acquire_lease("job", "b", ttl).await.unwrap(),
        "held by a"
    );
    assert!(
        t.db.try_acquire_lease("job", "a", ttl).await.unwrap(),
        "re-entrant for its holder"
    );
    assert!(t.db.renew_lease("job", "a", ttl).await.unwrap());
    assert!(!t.db.renew_lease("job", "b", ttl).await.unwrap());
    assert!(
        !t.db
            .steal_lease("job", "someone-else", "b", ttl)
            .await
            .unwrap()
    );
    t.db.release_lease("job", "a").await.unwrap();
    assert!(
        t.db.try_acquire_lease("job", "b", Duration::seconds(-1))
            .await
            .unwrap(),
        "free after release"
    );
    assert!(
        t.db.try_acquire_lease("job", "c", ttl).await.unwrap(),
        "an expired lease can be taken"
    );
    assert!(t.db.steal_lease("job", "c", "d", ttl).await.unwrap());
    assert_eq!(t.db.get_lease("job").await.unwrap().unwrap().holder, "d");
    // Concurrent contenders: exactly one wins.
    let contenders = (0..8).map(|i| {
        let db = t.db.clone();
        tokio::spawn(async move {
            db.try_acquire_lease("race", &format!("h{i}"), Duration::seconds(60))
                .await
                .unwrap()
        })
    });
    let wins = futures_count(contenders).await;
    assert_eq!(wins, 1);
    t.cleanup().await.unwrap();
}

async fn futures_count(handles: impl Iterator<Item = tokio::task::JoinHandle<bool>>) -> usize {
    let mut n = 0;
    for h in handles {
        if h.await.unwrap() {
            n += 1;
        }
    }
    n
}

async fn unknown_table_names_are_refused(backend: &str) {
    let t = TestDb::new(backend).await.unwrap();
    assert!(
        t.db.table_count("permits; DROP TABLE permits")
            .await
            .is_err()
    );
    assert_eq!(t.db.table_count("permits").await.unwrap(), 0);
    t.cleanup().await.unwrap();
}
