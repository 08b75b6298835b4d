//! Survey invitations (issue 24) through the real dispatcher on both databases: one invitation
//! per published permit and only to opted-in applicants, sent as the approved template with the
//! `/survei/<token>` link, held in quiet hours, and not sent after STOP.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use companion_db::Database;
use companion_db::testing::{TestDb, execute_raw};
use companion_notify::providers::{
    Accepted, Content, OutgoingMessage, Provider, SendError, WebhookError, WebhookEvent,
    WebhookRequest,
};
use companion_notify::{ManualClock, Notifier, NotifyConfig};

#[derive(Default)]
struct Recorder(Mutex<Vec<OutgoingMessage>>);

#[async_trait]
impl Provider for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn uses_templates(&self) -> bool {
        true
    }
    async fn send(&self, m: &OutgoingMessage) -> Result<Accepted, SendError> {
        let mut sent = self.0.lock().expect("sent");
        sent.push(m.clone());
        Ok(Accepted {
            provider_id: format!("rec-{}", sent.len()),
        })
    }
    fn verify_webhook(&self, _: &WebhookRequest<'_>) -> Result<(), WebhookError> {
        Ok(())
    }
    fn parse_webhook(&self, _: &WebhookRequest<'_>) -> Result<Vec<WebhookEvent>, WebhookError> {
        Ok(Vec::new())
    }
}

async fn published(db: &Database, id: &str, phone: &str) {
    execute_raw(
        db,
        &format!(
            "INSERT INTO permits (pendaftaran_id, status, applicant_name, permit_type_name, permit_number, \
             applicant_phone, first_seen_at, updated_at) VALUES ('{id}', 'issued', 'Pemohon {id}', \
             'Izin Usaha', 'N/{id}', '{phone}', '2026-01-05T00:00:00Z', '2026-01-05T00:00:00Z')"
        ),
    )
    .await
    .expect("permit");
    execute_raw(
        db,
        &format!(
            "INSERT INTO documents (pendaftaran_id, kind, version, storage_key, sha256, size_bytes, pages, \
             content_type, source, created_by, created_at) VALUES ('{id}', 'original', 1, 'k/{id}', 'sha-{id}', \
             1, 1, 'application/pdf', 'test', 'test', '2026-01-05T00:00:00Z')"
        ),
    )
    .await
    .expect("document");
    execute_raw(
        db,
        &format!(
            "INSERT INTO signing_cases (pendaftaran_id, original_document_id, state, verification_id, updated_at) \
             VALUES ('{id}', (SELECT id FROM documents WHERE pendaftaran_id = '{id}'), 'published', 'V{id}', \
             '2026-01-05T00:00:00Z')"
        ),
    )
    .await
    .expect("case");
}

async fn dispatch_all(n: &Notifier) {
    for _ in 0..20 {
        if n.dispatch_once().await.expect("dispatch").claimed == 0 {
            return;
        }
    }
}

companion_db::on_both_backends!(one_invitation_per_published_permit_to_opted_in_applicants);

async fn one_invitation_per_published_permit_to_opted_in_applicants(backend: &str) {
    let t = TestDb::new(backend).await.expect("db");
    let db = &t.db;
    // 22:00 in Kabanjahe (15:00 UTC): quiet hours.
    let night: DateTime<Utc> = Utc
        .with_ymd_and_hms(2026, 12, 1, 15, 0, 0)
        .single()
        .expect("t");
    let clock = Arc::new(ManualClock::new(night));
    let rec = Arc::new(Recorder::default());
    let n = Notifier::new(
        db.clone(),
        rec.clone(),
        NotifyConfig::default(),
        clock.clone(),
    );

    published(db, "1000000000000001", "0812 1111 0001").await;
    published(db, "1000000000000002", "0812 1111 0002").await; // never opted in
    published(db, "1000000000000003", "0812 1111 0003").await; // opts out after being invited
    for p in ["+6281211110001", "+6281211110003"] {
        db.record_consent(p, "opt_in", "loket", Some("staff"), night)
            .await
            .expect("consent");
    }
    let base = "https://izin.example";
    assert_eq!(
        companion_notify::survey::invite(db, base, night, 100)
            .await
            .expect("invite"),
        2
    );
    // One invitation per permit, however often the job runs.
    assert_eq!(
        companion_notify::survey::invite(db, base, night, 100)
            .await
            .expect("invite"),
        0
    );

    // Quiet hours: nothing goes out at night.
    dispatch_all(&n).await;
    assert!(rec.0.lock().expect("sent").is_empty());

    db.record_consent("+6281211110003", "opt_out", "stop", None, night)
        .await
        .expect("stop");
    // 08:00 in Kabanjahe.
    clock.set(
        Utc.with_ymd_and_hms(2026, 12, 2, 1, 0, 0)
            .single()
            .expect("t"),
    );
    dispatch_all(&n).await;
    let sent = rec.0.lock().expect("sent").clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].to, "+6281211110001");
    match &sent[0].content {
        Content::Template {
            name, parameters, ..
        } => {
            assert_eq!(name, "izin_survei_kepuasan");
            assert_eq!(parameters[0], "Pemohon 1000000000000001");
            assert!(
                parameters[2].starts_with("https://izin.example/survei/"),
                "{parameters:?}"
            );
            // The link's token opens the invitation.
            let token = parameters[2].rsplit('/').next().expect("token");
            let inv = db
                .survey_invitation(&companion_domain::survey::token_hash(token))
                .await
                .expect("lookup")
                .expect("invitation");
            assert_eq!(inv.pendaftaran_id, "1000000000000001");
        }
        other => panic!("not a template: {other:?}"),
    }
    t.cleanup().await.expect("cleanup");
}
