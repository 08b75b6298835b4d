//! Every provider's webhook over the real HTTP stack: a server on a loopback port (the router
//! with `ConnectInfo`, as `serve` runs it), requests built the way each provider documents them
//! — headers included — with signatures computed here from the providers' documented schemes
//! (not with the adapters' own helpers). A correct signature is accepted and its effect is
//! visible (receipt recorded, STOP opts the number out); a wrong or missing one gets 401 and
//! changes nothing. The API on the same server still refuses a wrong bearer token.
//!
//! - Meta Cloud API: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, body)>`, and the
//!   GET verification handshake.
//! - Twilio: form posts, `X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL + sorted
//!   name/value pairs))`.
//! - Vonage: `Authorization: Bearer <JWT>`, HS256 with the signature secret, `payload_hash` =
//!   hex SHA-256 of the body (the case that was refused by the API-token check before).
//! - Bird: `messagebird-signature: base64(HMAC-SHA256(signing key, timestamp \n URL \n
//!   SHA-256(body)))` with `messagebird-request-timestamp`; failures `delivery_failed` with
//!   `failure.code`/`failure.source`; "read" as a `whatsapp.interaction`.
//! - Fonnte: the secret token in the URL and Fonnte's webhook secret; `stateid`-only updates.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD as B64URL};
use common::{Harness, harness};
use companion_db::NewMessage;
use companion_domain::Role;
use companion_notify::providers::{
    BirdConfig, BirdProvider, FonnteConfig, FonnteProvider, MetaConfig, MetaProvider, Provider,
    Secret, TwilioConfig, TwilioProvider, VonageAuth, VonageConfig, VonageProvider,
};
use companion_notify::{Notifier, NotifyConfig, SystemClock};
use hmac::{Hmac, Mac};
use sha2::Digest;

const PHONE: &str = "+6281234567890";

fn hmac_sha256(key: &str, data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha1(key: &str, data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// A server on a loopback port with `provider` behind `/webhooks/whatsapp`.
struct Server {
    h: Harness,
    provider: &'static str,
    base: String,
    http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(backend: &str, provider: impl FnOnce(&str) -> Arc<dyn Provider>) -> Server {
        let h = harness(backend).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let provider = provider(&base);
        let name = provider.name();
        let mut state = h.state.clone();
        // The public address the provider calls (Twilio and Bird sign it).
        state.config.public_base_url = base.clone();
        state.notifier = Some(Arc::new(Notifier::new(
            h.t.db.clone(),
            provider,
            NotifyConfig::default(),
            Arc::new(SystemClock),
        )));
        let app = companion_web::router(state).into_make_service_with_connect_info::<SocketAddr>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Server {
            h,
            provider: name,
            base,
            http,
            task,
        }
    }

    fn hook(&self) -> String {
        format!("{}/webhooks/whatsapp", self.base)
    }

    /// A message of ours, sent with `provider_id`, waiting for its receipts: its id.
    async fn sent(&self, n: i64, provider_id: &str) -> i64 {
        let db = &self.h.t.db;
        let now = companion_db::now();
        db.enqueue_messages(&[NewMessage {
            dedup_key: format!("hook:{n}"),
            event: "permit_ready".into(),
            subject_id: None,
            audience: "staff".into(),
            phone: PHONE.into(),
            language: "id".into(),
            template: "izin_selesai_diproses".into(),
            parameters: "{}".into(),
            body: "pesan".into(),
            state: "queued".into(),
            failure_detail: None,
            next_attempt_at: now,
        }])
        .await
        .expect("enqueue");
        // A fresh database numbers messages from 1.
        let msg = db.message(n).await.expect("get").expect("message");
        assert_eq!(msg.dedup_key, format!("hook:{n}"));
        // The provider took it (as the dispatcher records its answer).
        let sql = format!(
            "UPDATE wa_messages SET state = 'sent', provider = '{}', provider_id = '{provider_id}', \
             sent_at = updated_at, attempts = 1 WHERE id = {n}",
            self.provider
        );
        companion_db::testing::execute_raw(db, &sql)
            .await
            .expect("sent");
        assert_eq!(self.state(n).await, "sent");
        n
    }

    async fn state(&self, id: i64) -> String {
        self.h
            .t
            .db
            .message(id)
            .await
            .expect("get")
            .expect("message")
            .state
    }

    async fn opted_in(&self) {
        self.h
            .t
            .db
            .record_consent(PHONE, "opt_in", "loket", None, companion_db::now())
            .await
            .expect("consent");
    }

    async fn may_receive(&self) -> bool {
        self.h
            .t
            .db
            .contact(PHONE)
            .await
            .expect("contact")
            .is_some_and(|c| c.may_receive())
    }

    /// The API on this server: a valid token works, a wrong bearer is still refused.
    async fn api_still_checks_tokens(&self) {
        let url = format!("{}/api/v1/permits", self.base);
        let ok = self
            .http
            .get(&url)
            .bearer_auth(&self.h.tokens[&Role::Staff])
            .send()
            .await
            .expect("api");
        assert_eq!(ok.status(), 200);
        let wrong = self
            .http
            .get(&url)
            .bearer_auth("bukan-token")
            .send()
            .await
            .expect("api");
        assert_eq!(wrong.status(), 401);
    }

    async fn stop(self) {
        self.task.abort();
        self.h.t.cleanup().await.expect("cleanup");
    }
}

async fn status_and_text(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

companion_db::on_both_backends!(
    meta_webhooks_over_http,
    twilio_webhooks_over_http,
    vonage_webhooks_over_http,
    bird_webhooks_over_http,
    fonnte_webhooks_over_http
);

// --- Meta -----------------------------------------------------------------------------------

const META_SECRET: &str = "rahasia-aplikasi-meta";

fn meta_body(value: serde_json::Value) -> Vec<u8> {
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "200000000000002", "changes": [{"field": "messages", "value": value}]}]
    })
    .to_string()
    .into_bytes()
}

async fn meta_webhooks_over_http(backend: &str) {
    let s = Server::start(backend, |_| {
        Arc::new(
            MetaProvider::new(MetaConfig {
                base_url: "http://127.0.0.1:9".into(),
                phone_number_id: "100000000000001".into(),
                waba_id: "200000000000002".into(),
                access_token: Secret::new("token"),
                app_secret: Secret::new(META_SECRET),
                verify_token: Secret::new("verifikasi-kantor"),
                ..Default::default()
            })
            .expect("meta"),
        )
    })
    .await;
    // The verification handshake (GET with hub.* query parameters).
    let handshake = |token: &str| {
        s.http
            .get(s.hook())
            .query(&[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", token),
                ("hub.challenge", "1158201444"),
            ])
            .send()
    };
    assert_eq!(
        status_and_text(handshake("verifikasi-kantor").await.expect("get")).await,
        (200, "1158201444".to_string())
    );
    assert_eq!(handshake("salah").await.expect("get").status(), 403);

    let id = s.sent(1, "wamid.HBgMNjI4MTIzNDU2Nzg5MBUCABEYEjdBRjQ").await;
    let body = meta_body(serde_json::json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "6281100000001", "phone_number_id": "100000000000001"},
        "statuses": [{"id": "wamid.HBgMNjI4MTIzNDU2Nzg5MBUCABEYEjdBRjQ", "status": "delivered",
            "timestamp": "1764550000", "recipient_id": "6281234567890",
            "conversation": {"id": "c0ffee", "origin": {"type": "utility"}},
            "pricing": {"billable": true, "pricing_model": "CBP", "category": "utility"}}]
    }));
    let post = |body: Vec<u8>, signature: Option<String>| {
        let mut r = s
            .http
            .post(s.hook())
            .header("content-type", "application/json")
            .header("user-agent", "facebookexternalua")
            .body(body);
        if let Some(sig) = signature {
            r = r.header("x-hub-signature-256", sig);
        }
        r.send()
    };
    let sign = |key: &str, body: &[u8]| format!("sha256={}", hex::encode(hmac_sha256(key, body)));
    let mut changed = body.clone();
    let at = changed.len() - 12;
    changed[at] ^= 1;
    for (b, sig) in [
        (body.clone(), None),
        (body.clone(), Some(sign("kunci-lain", &body))),
        (changed, Some(sign(META_SECRET, &body))),
    ] {
        let (code, text) = status_and_text(post(b, sig).await.expect("post")).await;
        assert_eq!(code, 401, "{text}");
        assert_eq!(s.state(id).await, "sent");
    }
    let (code, text) = status_and_text(
        post(body.clone(), Some(sign(META_SECRET, &body)))
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(s.state(id).await, "delivered");

    // STOP from the applicant: unsigned changes nothing, signed opts out.
    s.opted_in().await;
    let stop = meta_body(serde_json::json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "6281100000001", "phone_number_id": "100000000000001"},
        "contacts": [{"profile": {"name": "Budi"}, "wa_id": "6281234567890"}],
        "messages": [{"from": "6281234567890", "id": "wamid.MASUK1", "timestamp": "1764550001",
            "type": "text", "text": {"body": "STOP"}}]
    }));
    assert_eq!(post(stop.clone(), None).await.expect("post").status(), 401);
    assert!(s.may_receive().await);
    let r = post(stop.clone(), Some(sign(META_SECRET, &stop)))
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    assert!(!s.may_receive().await);
    s.api_still_checks_tokens().await;
    s.stop().await;
}

// --- Twilio ---------------------------------------------------------------------------------

const TWILIO_TOKEN: &str = "twilio-auth-token-uji";
const TWILIO_SID: &str = "AC00000000000000000000000000000001";

/// Twilio's documented scheme: the full URL, then every POST parameter sorted by name, each
/// name followed by its value; HMAC-SHA1 with the auth token; Base64.
fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    BASE64.encode(hmac_sha1(token, data.as_bytes()))
}

async fn twilio_webhooks_over_http(backend: &str) {
    let s = Server::start(backend, |base| {
        Arc::new(
            TwilioProvider::new(TwilioConfig {
                base_url: "http://127.0.0.1:9".into(),
                account_sid: TWILIO_SID.into(),
                auth_token: Secret::new(TWILIO_TOKEN),
                from: Some("whatsapp:+14155238886".into()),
                status_callback_url: Some(format!("{base}/webhooks/whatsapp")),
                ..Default::default()
            })
            .expect("twilio"),
        )
    })
    .await;
    let id = s.sent(1, "SM0123456789abcdef0123456789abcdef").await;
    let receipt: Vec<(&str, &str)> = vec![
        ("SmsSid", "SM0123456789abcdef0123456789abcdef"),
        ("SmsStatus", "delivered"),
        ("MessageStatus", "delivered"),
        ("ChannelToAddress", "+6281234567890"),
        ("To", "whatsapp:+6281234567890"),
        ("ChannelPrefix", "whatsapp"),
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("AccountSid", TWILIO_SID),
        ("From", "whatsapp:+14155238886"),
        ("ApiVersion", "2010-04-01"),
        ("ChannelInstallSid", "XE00000000000000000000000000000001"),
    ];
    let hook = s.hook();
    let post = |params: &[(&str, &str)], signature: Option<String>| {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let mut r = s
            .http
            .post(&hook)
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            )
            .header("user-agent", "TwilioProxy/1.1")
            .header("i-twilio-idempotency-token", "b2c5f4a0-uji")
            .body(body);
        if let Some(sig) = signature {
            r = r.header("x-twilio-signature", sig);
        }
        r.send()
    };
    let mut tampered = receipt.clone();
    tampered[2] = ("MessageStatus", "read");
    for (params, sig) in [
        (receipt.clone(), None),
        (
            receipt.clone(),
            Some(twilio_signature("token-lain", &hook, &receipt)),
        ),
        (
            tampered,
            Some(twilio_signature(TWILIO_TOKEN, &hook, &receipt)),
        ),
        // Signed for another URL.
        (
            receipt.clone(),
            Some(twilio_signature(
                TWILIO_TOKEN,
                "https://lain.example/webhooks/whatsapp",
                &receipt,
            )),
        ),
    ] {
        let (code, text) = status_and_text(post(&params, sig).await.expect("post")).await;
        assert_eq!(code, 401, "{text}");
        assert_eq!(s.state(id).await, "sent");
    }
    let r = post(
        &receipt,
        Some(twilio_signature(TWILIO_TOKEN, &hook, &receipt)),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 200);
    assert_eq!(s.state(id).await, "delivered");

    // An incoming WhatsApp message (Twilio's inbound webhook form).
    s.opted_in().await;
    let inbound: Vec<(&str, &str)> = vec![
        ("SmsMessageSid", "SM9999999999999999999999999999999a"),
        ("NumMedia", "0"),
        ("ProfileName", "Budi"),
        ("MessageType", "text"),
        ("SmsSid", "SM9999999999999999999999999999999a"),
        ("WaId", "6281234567890"),
        ("SmsStatus", "received"),
        ("Body", "STOP"),
        ("To", "whatsapp:+14155238886"),
        ("NumSegments", "1"),
        ("ReferralNumMedia", "0"),
        ("MessageSid", "SM9999999999999999999999999999999a"),
        ("AccountSid", TWILIO_SID),
        ("From", "whatsapp:+6281234567890"),
        ("ApiVersion", "2010-04-01"),
    ];
    assert_eq!(post(&inbound, None).await.expect("post").status(), 401);
    assert!(s.may_receive().await);
    let r = post(
        &inbound,
        Some(twilio_signature(TWILIO_TOKEN, &hook, &inbound)),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 200);
    assert!(!s.may_receive().await);
    s.api_still_checks_tokens().await;
    s.stop().await;
}

// --- Vonage ---------------------------------------------------------------------------------

const VONAGE_SECRET: &str = "vonage-signature-secret-uji";

/// A signed-webhook JWT as Vonage documents it, built by hand: HS256 over
/// `base64url(header).base64url(claims)` with the signature secret.
fn vonage_jwt(secret: &str, claims: serde_json::Value) -> String {
    let input = format!(
        "{}.{}",
        B64URL.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        B64URL.encode(claims.to_string())
    );
    let sig = B64URL.encode(hmac_sha256(secret, input.as_bytes()));
    format!("{input}.{sig}")
}

fn vonage_claims(body: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "iat": chrono::Utc::now().timestamp(),
        "jti": "c5ba8f24-1a14-4c10-bfdf-3fbe8ce511b5",
        "iss": "Vonage",
        "payload_hash": hex::encode(sha2::Sha256::digest(body)),
        "api_key": "abcd1234",
        "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    })
}

async fn vonage_webhooks_over_http(backend: &str) {
    let s = Server::start(backend, |_| {
        Arc::new(
            VonageProvider::new(VonageConfig {
                base_url: "http://127.0.0.1:9".into(),
                from: "14157386102".into(),
                auth: VonageAuth::Basic {
                    api_key: "abcd1234".into(),
                    api_secret: Secret::new("api-secret"),
                },
                signature_secret: Secret::new(VONAGE_SECRET),
                ..Default::default()
            })
            .expect("vonage"),
        )
    })
    .await;
    let id = s.sent(1, "aaaaaaaa-bbbb-cccc-dddd-0123456789ab").await;
    let body = serde_json::json!({
        "message_uuid": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        "to": "6281234567890",
        "from": "14157386102",
        "timestamp": "2025-12-01T10:00:05.000Z",
        "status": "delivered",
        "channel": "whatsapp",
        "usage": {"currency": "EUR", "price": "0.0333"},
    })
    .to_string()
    .into_bytes();
    let post = |body: Vec<u8>, authorization: Option<String>| {
        let mut r = s
            .http
            .post(s.hook())
            .header("content-type", "application/json")
            .header("user-agent", "Vonage")
            .body(body);
        if let Some(a) = authorization {
            r = r.header("authorization", a);
        }
        r.send()
    };
    let now = chrono::Utc::now().timestamp();
    let mut expired = vonage_claims(&body);
    expired["exp"] = serde_json::json!(now - 3600);
    let mut changed = body.clone();
    let at = changed.len() - 5;
    changed[at] ^= 1;
    let none_alg = format!(
        "{}.{}.",
        B64URL.encode(r#"{"alg":"none","typ":"JWT"}"#),
        B64URL.encode(vonage_claims(&body).to_string())
    );
    for (b, auth) in [
        (body.clone(), None),
        (
            body.clone(),
            Some(format!(
                "Bearer {}",
                vonage_jwt("rahasia-lain", vonage_claims(&body))
            )),
        ),
        (
            body.clone(),
            Some(format!("Bearer {}", vonage_jwt(VONAGE_SECRET, expired))),
        ),
        (body.clone(), Some(format!("Bearer {none_alg}"))),
        (
            changed,
            Some(format!(
                "Bearer {}",
                vonage_jwt(VONAGE_SECRET, vonage_claims(&body))
            )),
        ),
        // A valid API token of ours is not Vonage's signature.
        (
            body.clone(),
            Some(format!("Bearer {}", s.h.tokens[&Role::Admin])),
        ),
    ] {
        let (code, text) = status_and_text(post(b, auth).await.expect("post")).await;
        assert_eq!(code, 401, "{text}");
        assert_eq!(s.state(id).await, "sent");
    }
    let (code, text) = status_and_text(
        post(
            body.clone(),
            Some(format!(
                "Bearer {}",
                vonage_jwt(VONAGE_SECRET, vonage_claims(&body))
            )),
        )
        .await
        .expect("post"),
    )
    .await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(s.state(id).await, "delivered");

    // Inbound STOP (Messages API inbound webhook, signed the same way).
    s.opted_in().await;
    let stop = serde_json::json!({
        "channel": "whatsapp",
        "message_uuid": "bbbbbbbb-cccc-dddd-eeee-0123456789ab",
        "to": "14157386102",
        "from": "6281234567890",
        "timestamp": "2025-12-01T10:01:00Z",
        "profile": {"name": "Budi"},
        "message_type": "text",
        "text": "STOP",
    })
    .to_string()
    .into_bytes();
    let wrong = format!(
        "Bearer {}",
        vonage_jwt("rahasia-lain", vonage_claims(&stop))
    );
    assert_eq!(
        post(stop.clone(), Some(wrong))
            .await
            .expect("post")
            .status(),
        401
    );
    assert!(s.may_receive().await);
    let good = format!("Bearer {}", vonage_jwt(VONAGE_SECRET, vonage_claims(&stop)));
    let r = post(stop.clone(), Some(good)).await.expect("post");
    assert_eq!(r.status(), 200);
    assert!(!s.may_receive().await);
    s.api_still_checks_tokens().await;
    s.stop().await;
}

// --- Bird -----------------------------------------------------------------------------------

const BIRD_KEY: &str = "bird-signing-key-uji";

/// Bird's documented scheme: Base64(HMAC-SHA256(signing key, timestamp + "\n" + URL + "\n" +
/// raw SHA-256 digest of the body)).
fn bird_signature(key: &str, timestamp: &str, url: &str, body: &[u8]) -> String {
    let mut data = format!("{timestamp}\n{url}\n").into_bytes();
    data.extend_from_slice(&sha2::Sha256::digest(body));
    BASE64.encode(hmac_sha256(key, &data))
}

async fn bird_webhooks_over_http(backend: &str) {
    let s = Server::start(backend, |_| {
        Arc::new(
            BirdProvider::new(BirdConfig {
                base_url: "http://127.0.0.1:9".into(),
                workspace_id: "ws-1".into(),
                channel_id: "52ad151f-f7b4-46f9-a5c6-d3318e650c84".into(),
                access_key: Secret::new("bird-access-key"),
                signing_key: Secret::new(BIRD_KEY),
                ..Default::default()
            })
            .expect("bird"),
        )
    })
    .await;
    let delivered_id = s.sent(1, "0f5c3d7e-8a53-4b3e-9d4e-1b2c3d4e5f60").await;
    let failed_id = s.sent(2, "1a2b3c4d-0000-4b3e-9d4e-1b2c3d4e5f61").await;
    let hook = s.hook();
    let post = |body: &[u8], headers: Vec<(&'static str, String)>| {
        let mut r = s
            .http
            .post(&hook)
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (k, v) in headers {
            r = r.header(k, v);
        }
        r.send()
    };
    let signed = |body: &[u8], key: &str, timestamp: i64, url: &str| {
        let ts = timestamp.to_string();
        vec![
            ("messagebird-signature", bird_signature(key, &ts, url, body)),
            ("messagebird-request-timestamp", ts),
        ]
    };
    let now = chrono::Utc::now().timestamp();
    let outbound = serde_json::json!({
        "service": "channels",
        "event": "whatsapp.outbound",
        "payload": {
            "id": "0f5c3d7e-8a53-4b3e-9d4e-1b2c3d4e5f60",
            "channelId": "52ad151f-f7b4-46f9-a5c6-d3318e650c84",
            "sender": {"connector": {"id": "60bf59d6-fc6f-4511-89c4-75d9127d7a7c", "identifierValue": "+6281100000001"}},
            "receiver": {"contacts": [{"id": "d4e8935a-5f48-45a5-95a5-ee7ba1e2c5b4",
                "identifierKey": "phonenumber", "identifierValue": "+6281234567890"}]},
            "reference": "",
            "status": "delivered",
            "reason": "",
            "direction": "outgoing",
            "lastStatusAt": "2025-12-01T10:00:05.000Z",
            "createdAt": "2025-12-01T10:00:00.000Z",
            "updatedAt": "2025-12-01T10:00:05.120Z"
        }
    })
    .to_string()
    .into_bytes();
    let mut changed = outbound.clone();
    let at = changed.len() - 8;
    changed[at] ^= 1;
    for (body, headers) in [
        (outbound.clone(), vec![]),
        (
            outbound.clone(),
            signed(&outbound, "kunci-lain", now, &hook),
        ),
        // Signed for another URL, or long ago (a replay).
        (
            outbound.clone(),
            signed(&outbound, BIRD_KEY, now, "https://lain.example/hook"),
        ),
        (
            outbound.clone(),
            signed(&outbound, BIRD_KEY, now - 3 * 3600, &hook),
        ),
        (changed.clone(), signed(&outbound, BIRD_KEY, now, &hook)),
    ] {
        let (code, text) = status_and_text(post(&body, headers).await.expect("post")).await;
        assert_eq!(code, 401, "{text}");
        assert_eq!(s.state(delivered_id).await, "sent");
    }
    let r = post(&outbound, signed(&outbound, BIRD_KEY, now, &hook))
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    assert_eq!(s.state(delivered_id).await, "delivered");

    // "read" comes as a separate whatsapp.interaction naming the message.
    let read = serde_json::json!({
        "service": "channels",
        "event": "whatsapp.interaction",
        "payload": {
            "id": "7e1c4b9a-2d3f-4a5b-8c6d-9e0f1a2b3c4d",
            "channelId": "52ad151f-f7b4-46f9-a5c6-d3318e650c84",
            "type": "read",
            "messageId": "0f5c3d7e-8a53-4b3e-9d4e-1b2c3d4e5f60",
            "createdAt": "2025-12-01T10:02:00.000Z"
        }
    })
    .to_string()
    .into_bytes();
    assert_eq!(
        post(&read, signed(&read, "kunci-lain", now, &hook))
            .await
            .expect("post")
            .status(),
        401
    );
    assert_eq!(s.state(delivered_id).await, "delivered");
    let r = post(&read, signed(&read, BIRD_KEY, now, &hook))
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    assert_eq!(s.state(delivered_id).await, "read");

    // A delivery failure as Bird reports it.
    let failure = serde_json::json!({
        "service": "channels",
        "event": "whatsapp.outbound",
        "payload": {
            "id": "1a2b3c4d-0000-4b3e-9d4e-1b2c3d4e5f61",
            "channelId": "52ad151f-f7b4-46f9-a5c6-d3318e650c84",
            "status": "delivery_failed",
            "reason": "Message undeliverable",
            "details": "The recipient is not a WhatsApp user",
            "failure": {"code": 7, "source": {"name": "whatsapp", "code": "131026"}},
            "direction": "outgoing",
            "lastStatusAt": "2025-12-01T10:03:00.000Z",
            "createdAt": "2025-12-01T10:00:00.000Z",
            "updatedAt": "2025-12-01T10:03:00.000Z"
        }
    })
    .to_string()
    .into_bytes();
    let r = post(&failure, signed(&failure, BIRD_KEY, now, &hook))
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let m =
        s.h.t
            .db
            .message(failed_id)
            .await
            .expect("get")
            .expect("msg");
    assert_eq!(m.state, "failed");
    assert_eq!(m.failure_kind.as_deref(), Some("not_on_whatsapp"));
    assert_eq!(m.failure_code.as_deref(), Some("7"));

    // Inbound STOP (Bird's whatsapp.inbound shape).
    s.opted_in().await;
    let stop = serde_json::json!({
        "service": "channels",
        "event": "whatsapp.inbound",
        "payload": {
            "id": "404544c5-9920-45f1-8990-0855634ab7ac",
            "channelId": "52ad151f-f7b4-46f9-a5c6-d3318e650c84",
            "sender": {"contact": {"id": "d4e8935a-5f48-45a5-95a5-ee7ba1e2c5b4",
                "identifierKey": "phonenumber", "identifierValue": "+6281234567890"}},
            "receiver": {"connector": {"id": "60bf59d6-fc6f-4511-89c4-75d9127d7a7c", "identifierValue": ""}},
            "body": {"type": "text", "text": {"text": "STOP"}},
            "meta": {"extraInformation": {"timestamp": "1764583260"}},
            "reference": "",
            "parts": [{"platformReference": "wamid.HBgMNjI4MTIzNDU2Nzg5MBUCABIYIEFDMzg0MjVGNTA5Q0JFNUIyRjUzN0Q5RDY4NDkyRjA4AA=="}],
            "status": "delivered",
            "reason": "",
            "direction": "incoming",
            "lastStatusAt": "2025-12-01T10:01:00.858Z",
            "createdAt": "2025-12-01T10:01:00.858Z",
            "updatedAt": "2025-12-01T10:01:01.063Z"
        }
    })
    .to_string()
    .into_bytes();
    assert_eq!(post(&stop, vec![]).await.expect("post").status(), 401);
    assert!(s.may_receive().await);
    let r = post(&stop, signed(&stop, BIRD_KEY, now, &hook))
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    assert!(!s.may_receive().await);
    s.api_still_checks_tokens().await;
    s.stop().await;
}

// --- Fonnte ---------------------------------------------------------------------------------

const FONNTE_URL_TOKEN: &str = "token-url-rahasia-0123456789";
const FONNTE_SECRET: &str = "fonnte-secret-dashboard";

async fn fonnte_webhooks_over_http(backend: &str) {
    let s = Server::start(backend, |_| {
        Arc::new(
            FonnteProvider::new(FonnteConfig {
                base_url: "http://127.0.0.1:9".into(),
                token: Secret::new("device-token"),
                webhook_token: Secret::new(FONNTE_URL_TOKEN),
                webhook_secret: Secret::new(FONNTE_SECRET),
                ..Default::default()
            })
            .expect("fonnte"),
        )
    })
    .await;
    let first = s.sent(1, "142223099").await;
    let second = s.sent(2, "142223100").await;
    let good_url = format!("{}?token={FONNTE_URL_TOKEN}", s.hook());
    let post = |url: String, body: serde_json::Value| {
        s.http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    // Fonnte's status webhook: `device`, `id`, `stateid`, `status`, `state` (and the secret).
    let update = serde_json::json!({
        "device": "6281100000001", "id": 142223099, "stateid": "A1B2C3D4E5F6",
        "status": "sent", "state": "delivered", "secret": FONNTE_SECRET
    });
    let mut no_secret = update.clone();
    if let Some(o) = no_secret.as_object_mut() {
        o.remove("secret");
    }
    let mut wrong_secret = update.clone();
    wrong_secret["secret"] = serde_json::json!("salah");
    for (url, body) in [
        (s.hook(), update.clone()),
        (format!("{}?token=salah", s.hook()), update.clone()),
        (good_url.clone(), no_secret),
        (good_url.clone(), wrong_secret),
    ] {
        let (code, text) = status_and_text(post(url, body).await.expect("post")).await;
        assert_eq!(code, 401, "{text}");
        assert_eq!(s.state(first).await, "sent");
    }
    let (code, text) = status_and_text(post(good_url.clone(), update).await.expect("post")).await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(s.state(first).await, "delivered");
    // The later "read" carries only the stateid: applied, not refused.
    let read = serde_json::json!({
        "device": "6281100000001", "stateid": "A1B2C3D4E5F6", "state": "read",
        "secret": FONNTE_SECRET
    });
    let (code, text) = status_and_text(post(good_url.clone(), read).await.expect("post")).await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(s.state(first).await, "read");

    // Out of order: a stateid-only update before the one pairing it is kept, then applied.
    let early = serde_json::json!({
        "device": "6281100000001", "stateid": "FFEEDDCCBBAA", "state": "read",
        "secret": FONNTE_SECRET
    });
    assert_eq!(
        post(good_url.clone(), early).await.expect("post").status(),
        200
    );
    assert_eq!(s.state(second).await, "sent");
    let pairing = serde_json::json!({
        "device": "6281100000001", "id": "142223100", "stateid": "FFEEDDCCBBAA",
        "status": "sent", "secret": FONNTE_SECRET
    });
    assert_eq!(
        post(good_url.clone(), pairing)
            .await
            .expect("post")
            .status(),
        200
    );
    assert_eq!(s.state(second).await, "read");

    // Inbound STOP ("Webhook Reply Message" shape).
    s.opted_in().await;
    let stop = serde_json::json!({
        "device": "6281100000001", "sender": "6281234567890", "message": "STOP",
        "member": "", "name": "Budi", "location": "", "url": "", "filename": "",
        "extension": "", "timestamp": 1764583260, "inboxid": 987654321,
        "secret": FONNTE_SECRET
    });
    let mut unsigned = stop.clone();
    unsigned["secret"] = serde_json::json!("salah");
    assert_eq!(
        post(good_url.clone(), unsigned)
            .await
            .expect("post")
            .status(),
        401
    );
    assert!(s.may_receive().await);
    assert_eq!(
        post(good_url.clone(), stop).await.expect("post").status(),
        200
    );
    assert!(!s.may_receive().await);
    s.api_still_checks_tokens().await;
    s.stop().await;
}
