//! The retention policy on both backends: old log entries go (or lose their personal data),
//! recent ones and unfinished messages stay, the audit trail and the consent log are untouched.

use chrono::{DateTime, Duration, Utc};
use companion_db::testing::TestDb;
use companion_domain::AuditRecord;
use companion_domain::retention::RetentionPolicy;

companion_db::on_both_backends!(old_entries_go_recent_ones_and_the_audit_trail_stay);

/// Rows written with the same encoding the application uses (dates bound by sqlx).
macro_rules! seed {
    ($pool:expr, $old:expr, $new:expr) => {{
        let pool = $pool;
        for (at, endpoint) in [($old, "old"), ($new, "new")] {
            sqlx::query(
                "INSERT INTO api_calls (endpoint, params, duration_ms, called_at) VALUES ($1, '{}', 5, $2)",
            )
            .bind(endpoint)
            .bind(at)
            .execute(&pool)
            .await
            .unwrap();
        }
        for (key, state, at) in [
            ("old-read", "read", $old),
            ("old-failed", "failed", $old),
            ("old-queued", "queued", $old),
            ("new-read", "read", $new),
        ] {
            sqlx::query(
                "INSERT INTO wa_messages (dedup_key, event, audience, phone, language, template, parameters, body, state, next_attempt_at, created_at, updated_at) \
                 VALUES ($1, 'document.published', 'applicant', '+6281234567890', 'id', 'izin_siap', '{\"nama\":\"Budi\"}', 'Halo Budi, izin Anda siap', $2, $3, $3, $3)",
            )
            .bind(key)
            .bind(state)
            .bind(at)
            .execute(&pool)
            .await
            .unwrap();
        }
        for (id, at) in [("wamid.old", $old), ("wamid.new", $new)] {
            sqlx::query("INSERT INTO wa_receipts (provider_id, status, at) VALUES ($1, 'read', $2)")
                .bind(id)
                .bind(at)
                .execute(&pool)
                .await
                .unwrap();
        }
        for (id, state) in [("P-1", "confirmed"), ("P-2", "pending")] {
            sqlx::query(
                "INSERT INTO wa_daftar_requests (pendaftaran_id, phone, state, requested_at) VALUES ($1, '+6281234567890', $2, $3)",
            )
            .bind(id)
            .bind(state)
            .bind($old)
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;
    }};
}

macro_rules! rows {
    ($pool:expr) => {{
        let pool = $pool;
        let calls: Vec<(String,)> =
            sqlx::query_as("SELECT endpoint FROM api_calls ORDER BY endpoint")
                .fetch_all(&pool)
                .await
                .unwrap();
        let messages: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT dedup_key, phone, body, state FROM wa_messages ORDER BY dedup_key",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let receipts: Vec<(String,)> =
            sqlx::query_as("SELECT provider_id FROM wa_receipts ORDER BY provider_id")
                .fetch_all(&pool)
                .await
                .unwrap();
        let daftar: Vec<(String,)> =
            sqlx::query_as("SELECT pendaftaran_id FROM wa_daftar_requests ORDER BY pendaftaran_id")
                .fetch_all(&pool)
                .await
                .unwrap();
        pool.close().await;
        (calls, messages, receipts, daftar)
    }};
}

async fn old_entries_go_recent_ones_and_the_audit_trail_stay(backend: &str) {
    let t = TestDb::new(backend).await.unwrap();
    let now = Utc::now();
    let old: DateTime<Utc> = now - Duration::days(400);
    let new: DateTime<Utc> = now - Duration::days(2);
    let sqlite = backend == "sqlite";
    if sqlite {
        seed!(sqlx::SqlitePool::connect(&t.url).await.unwrap(), old, new);
    } else {
        seed!(sqlx::PgPool::connect(&t.url).await.unwrap(), old, new);
    }
    for action in ["user.create", "document.sign"] {
        t.db.append_audit(&AuditRecord {
            actor_id: None,
            actor: "admin".into(),
            action: action.into(),
            target_kind: None,
            target_id: None,
            source: "cli".into(),
            details: serde_json::json!({}),
        })
        .await
        .unwrap();
    }

    let policy = RetentionPolicy::from_days(90, 365, 30);
    let report = t.db.apply_retention(&policy.cutoffs(now)).await.unwrap();
    assert_eq!(report.sicantik_calls_deleted, 1);
    assert_eq!(
        report.whatsapp_messages_redacted, 2,
        "read and failed, not queued"
    );
    assert_eq!(report.whatsapp_receipts_deleted, 1);
    assert_eq!(
        report.daftar_requests_deleted, 1,
        "a pending request waits for a person"
    );

    let (calls, messages, receipts, daftar) = if sqlite {
        rows!(sqlx::SqlitePool::connect(&t.url).await.unwrap())
    } else {
        rows!(sqlx::PgPool::connect(&t.url).await.unwrap())
    };
    assert_eq!(calls, vec![("new".to_string(),)]);
    let by_key = |k: &str| messages.iter().find(|m| m.0 == k).unwrap().clone();
    for k in ["old-read", "old-failed"] {
        let m = by_key(k);
        assert_eq!(
            (m.1.as_str(), m.2.as_str()),
            ("***890", ""),
            "{k} keeps no text or number"
        );
    }
    for k in ["old-queued", "new-read"] {
        let m = by_key(k);
        assert_eq!(m.1, "+6281234567890", "{k} is still needed");
        assert!(!m.2.is_empty());
    }
    assert_eq!(receipts, vec![("wamid.new".to_string(),)]);
    assert_eq!(daftar, vec![("P-2".to_string(),)]);

    // A second run finds nothing more; the audit chain is whole.
    let again = t.db.apply_retention(&policy.cutoffs(now)).await.unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(t.db.verify_audit().await.unwrap(), Ok(2));

    // 0 days keeps the two logs for ever.
    let keep = RetentionPolicy::from_days(0, 0, 30);
    let none =
        t.db.apply_retention(&keep.cutoffs(now + Duration::days(5000)))
            .await
            .unwrap();
    assert_eq!(
        none.sicantik_calls_deleted + none.whatsapp_messages_redacted,
        0
    );
    t.cleanup().await.unwrap();
}
