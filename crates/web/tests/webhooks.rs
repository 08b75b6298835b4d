//! `/webhooks/whatsapp` over HTTP with the Meta adapter: the verification handshake; a receipt
//! with a valid `X-Hub-Signature-256` moves its message forward; a wrong, missing or replayed
//! signature (the same body with one byte changed) gets 401 and changes nothing; an inbound
//! "STOP" opts the number out.

mod common;

use std::sync::Arc;

use common::{Call, harness};
use companion_db::NewMessage;
use companion_notify::providers::meta::signature;
use companion_notify::providers::{MetaConfig, MetaProvider, Secret};
use companion_notify::{Notifier, NotifyConfig, SystemClock};

const SECRET: &str = "rahasia-aplikasi-meta";

fn status_body(wamid: &str, status: &str) -> Vec<u8> {
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "200000000000002", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "6281100000001", "phone_number_id": "100000000000001"},
            "statuses": [{"id": wamid, "status": status, "timestamp": "1764550000",
                "recipient_id": "6281234567890"}]
        }}]}]
    })
    .to_string()
    .into_bytes()
}

companion_db::on_both_backends!(signed_receipts_only);

async fn signed_receipts_only(backend: &str) {
    let mut h = harness(backend).await;
    let provider = MetaProvider::new(MetaConfig {
        base_url: "http://127.0.0.1:9".into(),
        phone_number_id: "100000000000001".into(),
        waba_id: "200000000000002".into(),
        access_token: Secret::new("token"),
        app_secret: Secret::new(SECRET),
        verify_token: Secret::new("verifikasi-kantor"),
        ..Default::default()
    })
    .expect("provider");
    let notifier = Arc::new(Notifier::new(
        h.t.db.clone(),
        Arc::new(provider),
        NotifyConfig::default(),
        Arc::new(SystemClock),
    ));
    let mut state = h.state.clone();
    state.notifier = Some(notifier);
    h.router = companion_web::router(state);

    // Meta's handshake: the challenge back only with our verify token.
    let ok = Call::new(
        "GET",
        "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=verifikasi-kantor&hub.challenge=8142",
    )
    .send(&h.router)
    .await;
    assert_eq!((ok.status.as_u16(), ok.body.as_str()), (200, "8142"));
    let bad = Call::new(
        "GET",
        "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=salah&hub.challenge=8142",
    )
    .send(&h.router)
    .await;
    assert_eq!(bad.status, 403);

    // A sent message waiting for its receipts.
    let now = companion_db::now();
    h.t.db
        .enqueue_messages(&[NewMessage {
            dedup_key: "hook:1".into(),
            event: "permit_ready".into(),
            subject_id: None,
            audience: "staff".into(),
            phone: "+6281234567890".into(),
            language: "id".into(),
            template: "izin_selesai_diproses".into(),
            parameters: "[]".into(),
            body: "pesan".into(),
            state: "queued".into(),
            failure_detail: None,
            next_attempt_at: now,
        }])
        .await
        .expect("enqueue");
    let claimed =
        h.t.db
            .claim_messages(&companion_db::Claim {
                owner: "t",
                provider: "meta",
                now,
                lease_until: now + chrono::Duration::seconds(60),
                limit: 1,
                per_minute: 0,
                per_day: 0,
                day_start: now,
            })
            .await
            .expect("claim");
    let id = claimed[0].id;
    assert!(
        h.t.db
            .message_sent(id, "t", "wamid.UJI1", now)
            .await
            .expect("sent")
    );
    let state = |h: &common::Harness| {
        let db = h.t.db.clone();
        async move { db.message(id).await.expect("get").expect("msg").state }
    };

    let body = status_body("wamid.UJI1", "delivered");
    let post = |body: Vec<u8>, sig: Option<String>| {
        let mut c = Call::new("POST", "/webhooks/whatsapp")
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = sig {
            c = c.header("x-hub-signature-256", s);
        }
        c
    };
    // Missing, wrong, and the right signature over a body with one byte changed: 401, nothing.
    let mut changed = body.clone();
    let at = changed.len() - 10;
    changed[at] = if changed[at] == b'1' { b'2' } else { b'1' };
    for (b, sig) in [
        (body.clone(), None),
        (body.clone(), Some(signature("kunci-lain", &body))),
        (body.clone(), Some("sha256=zz".to_string())),
        (changed, Some(signature(SECRET, &body))),
    ] {
        let r = post(b, sig).send(&h.router).await;
        assert_eq!(r.status, 401, "{}", r.body);
        assert_eq!(state(&h).await, "sent");
    }
    // Signed: applied; the same receipt again changes nothing more.
    for _ in 0..2 {
        let r = post(body.clone(), Some(signature(SECRET, &body)))
            .send(&h.router)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(state(&h).await, "delivered");
    }
    // Signed but not JSON: 400, nothing changed.
    let junk = b"{not json".to_vec();
    let r = post(junk.clone(), Some(signature(SECRET, &junk)))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 400);

    // An inbound STOP through the same webhook opts the number out.
    h.t.db
        .record_consent("+6281234567890", "opt_in", "loket", None, now)
        .await
        .expect("consent");
    let stop = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "200000000000002", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "6281100000001", "phone_number_id": "100000000000001"},
            "contacts": [{"profile": {"name": "Budi"}, "wa_id": "6281234567890"}],
            "messages": [{"from": "6281234567890", "id": "wamid.MASUK1", "timestamp": "1764550001",
                "type": "text", "text": {"body": "BERHENTI"}}]
        }}]}]
    })
    .to_string()
    .into_bytes();
    let r = post(stop.clone(), Some(signature(SECRET, &stop)))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let c =
        h.t.db
            .contact("+6281234567890")
            .await
            .expect("c")
            .expect("contact");
    assert!(!c.may_receive() && c.opted_out_at.is_some(), "{c:?}");
    h.t.cleanup().await.expect("cleanup");
}
