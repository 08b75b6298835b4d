//! Accounts, sessions, tokens and the audit chain on SQLite and PostgreSQL.

use companion_db::testing::TestDb;
use companion_db::{DbError, NewSession};
use companion_domain::audit::ChainBreak;
use companion_domain::{AuditRecord, Role};

companion_db::on_both_backends!(
    sessions_and_tokens_die_with_their_user,
    audit_verify_detects_edits_and_deletions,
    concurrent_audit_appends_keep_one_chain
);

fn record(action: &str, target: &str) -> AuditRecord {
    AuditRecord {
        actor_id: None,
        actor: "cli".into(),
        action: action.into(),
        target_kind: Some("user".into()),
        target_id: Some(target.into()),
        source: "cli".into(),
        details: serde_json::json!({ "note": "x" }),
    }
}

async fn sessions_and_tokens_die_with_their_user(backend: &str) {
    let t = TestDb::new(backend).await.expect("test db");
    let db = &t.db;
    let u = db
        .create_user("budi", "Budi", Role::Staff, "$argon2id$fake")
        .await
        .expect("create");
    assert!(matches!(
        db.create_user("budi", "Other", Role::Admin, "h").await,
        Err(DbError::Duplicate("username"))
    ));
    let expires = chrono::Utc::now() + chrono::Duration::hours(8);
    db.create_session(&NewSession {
        id_digest: "s1",
        user_id: u.id,
        csrf_token: "c1",
        expires_at: expires,
        client_addr: "127.0.0.1",
        user_agent: "test",
    })
    .await
    .expect("session");
    let s = db.session("s1").await.expect("lookup").expect("live");
    assert_eq!(s.user.role, Role::Staff);
    assert_eq!(s.csrf_token, "c1");
    let token = db
        .create_api_token(u.id, "ci", "d1", "abcd")
        .await
        .expect("token");
    assert!(db.token_user("d1").await.expect("lookup").is_some());

    // Disabled: neither resolves; enabled again: the token works, the session stays gone.
    assert!(db.set_user_disabled(u.id, true).await.expect("disable"));
    assert!(db.session("s1").await.expect("lookup").is_none());
    assert!(db.token_user("d1").await.expect("lookup").is_none());
    assert!(db.set_user_disabled(u.id, false).await.expect("enable"));
    assert!(db.token_user("d1").await.expect("lookup").is_some());
    assert!(db.session("s1").await.expect("lookup").is_none());

    // Revoked token stops; revoking twice says so.
    assert!(db.revoke_api_token(token.id).await.expect("revoke"));
    assert!(!db.revoke_api_token(token.id).await.expect("revoke again"));
    assert!(db.token_user("d1").await.expect("lookup").is_none());

    // An expired session does not resolve.
    db.create_session(&NewSession {
        id_digest: "old",
        user_id: u.id,
        csrf_token: "c",
        expires_at: chrono::Utc::now() - chrono::Duration::seconds(1),
        client_addr: "x",
        user_agent: "x",
    })
    .await
    .expect("session");
    assert!(db.session("old").await.expect("lookup").is_none());
    assert_eq!(db.delete_expired_sessions().await.expect("sweep"), 1);

    // Deleted user: everything goes with it.
    db.create_api_token(u.id, "ci2", "d2", "efgh")
        .await
        .expect("token");
    assert!(db.delete_user(u.id).await.expect("delete"));
    assert!(db.token_user("d2").await.expect("lookup").is_none());
    t.cleanup().await.expect("cleanup");
}

async fn tamper(t: &TestDb, sql: &str) {
    companion_db::testing::execute_raw(&t.db, sql)
        .await
        .expect("tamper");
}

async fn audit_verify_detects_edits_and_deletions(backend: &str) {
    let t = TestDb::new(backend).await.expect("test db");
    let db = &t.db;
    assert_eq!(db.verify_audit().await.expect("verify"), Ok(0));
    for i in 1..=6 {
        db.append_audit(&record("user.create", &i.to_string()))
            .await
            .expect("append");
    }
    assert_eq!(db.verify_audit().await.expect("verify"), Ok(6));
    let (page, total) = db
        .list_audit(&companion_db::AuditQuery {
            action: Some("user.".into()),
            page: 1,
            per_page: 2,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(total, 6);
    assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), vec![6, 5]);

    // Edit one field of entry 3 in place.
    tamper(&t, "UPDATE audit_log SET actor = 'mallory' WHERE id = 3").await;
    assert_eq!(
        db.verify_audit().await.expect("verify"),
        Err(ChainBreak::Altered { id: 3 })
    );
    tamper(&t, "UPDATE audit_log SET actor = 'cli' WHERE id = 3").await;
    assert_eq!(db.verify_audit().await.expect("verify"), Ok(6));

    // Delete entry 4: entry 5 no longer links.
    tamper(&t, "DELETE FROM audit_log WHERE id = 4").await;
    let broken = db.verify_audit().await.expect("verify");
    assert_eq!(broken, Err(ChainBreak::Missing { id: 5 }));
    assert!(broken.expect_err("broken").to_string().contains("#5"));

    t.cleanup().await.expect("cleanup");
    let t = TestDb::new(backend).await.expect("test db");
    for i in 1..=3 {
        t.db.append_audit(&record("user.create", &i.to_string()))
            .await
            .expect("append");
    }
    // Delete the newest entry: only the head knows it existed.
    tamper(&t, "DELETE FROM audit_log WHERE id = 3").await;
    assert_eq!(
        t.db.verify_audit().await.expect("verify"),
        Err(ChainBreak::TailMissing {
            last_present: 2,
            head_id: 3
        })
    );
    t.cleanup().await.expect("cleanup");
}

async fn concurrent_audit_appends_keep_one_chain(backend: &str) {
    let t = TestDb::new(backend).await.expect("test db");
    let tasks: Vec<_> = (0..8)
        .map(|w| {
            let db = t.db.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    db.append_audit(&record("sync.start", &format!("{w}-{i}")))
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("join");
    }
    assert_eq!(t.db.verify_audit().await.expect("verify"), Ok(80));
    t.cleanup().await.expect("cleanup");
}
