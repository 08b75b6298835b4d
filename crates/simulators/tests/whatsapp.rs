//! The WhatsApp Cloud API simulator, driven as a client and a webhook receiver would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use companion_simulators::whatsapp::signature;
use companion_simulators::{SimTemplate, WhatsappFault, WhatsappSim, WhatsappSimConfig};
use serde_json::{Value, json};

const LOCAL: &str = "127.0.0.1:0";

#[derive(Default)]
struct Received {
    /// (X-Hub-Signature-256, raw body) of each POST answered 200.
    posts: Mutex<Vec<(Option<String>, Bytes)>>,
    /// POSTs to answer 500 before accepting.
    fail_first: AtomicU32,
    /// Every POST, failed ones included.
    attempts: AtomicU32,
}

impl Received {
    fn bodies(&self) -> Vec<Value> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| serde_json::from_slice(b).unwrap())
            .collect()
    }

    /// `(wamid, status, reference)` of the status webhooks, in arrival order.
    fn statuses(&self) -> Vec<(String, String, Option<String>)> {
        self.bodies()
            .iter()
            .flat_map(|b| {
                b["entry"][0]["changes"][0]["value"]["statuses"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|s| {
                (
                    s["id"].as_str().unwrap().to_string(),
                    s["status"].as_str().unwrap().to_string(),
                    s["biz_opaque_callback_data"].as_str().map(str::to_string),
                )
            })
            .collect()
    }
}

async fn receive(State(r): State<Arc<Received>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.attempts.fetch_add(1, Ordering::SeqCst);
    if r.fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let sig = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    r.posts.lock().unwrap().push((sig, body));
    StatusCode::OK
}

async fn verify(Query(q): Query<HashMap<String, String>>) -> (StatusCode, String) {
    if q.get("hub.mode").map(String::as_str) == Some("subscribe")
        && q.get("hub.verify_token").map(String::as_str) == Some("sim-verify-token")
    {
        (
            StatusCode::OK,
            q.get("hub.challenge").cloned().unwrap_or_default(),
        )
    } else {
        (StatusCode::FORBIDDEN, String::new())
    }
}

/// A local webhook receiver; returns its URL and what it got.
async fn receiver(fail_first: u32) -> (String, Arc<Received>) {
    let received = Arc::new(Received::default());
    received.fail_first.store(fail_first, Ordering::SeqCst);
    let app = Router::new()
        .route("/webhook", post(receive).get(verify))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind(LOCAL).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/webhook"), received)
}

fn templates() -> Vec<SimTemplate> {
    vec![
        SimTemplate::approved(
            "izin_selesai_diproses",
            "id",
            "Yth. {{1}}, izin {{2}} Anda telah selesai diproses.",
        ),
        SimTemplate {
            status: "PENDING".into(),
            ..SimTemplate::approved("izin_baru", "id", "Yth. {{1}}")
        },
    ]
}

async fn sim(config: WhatsappSimConfig) -> WhatsappSim {
    let listen: SocketAddr = LOCAL.parse().unwrap();
    WhatsappSim::start(
        listen,
        WhatsappSimConfig {
            templates: templates(),
            receipt_delay_ms: 10,
            ..config
        },
    )
    .await
    .unwrap()
}

fn template_body(to: &str, name: &str, params: &[&str], reference: Option<&str>) -> Value {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": "id"},
            "components": [{
                "type": "body",
                "parameters": params.iter().map(|p| json!({"type": "text", "text": p})).collect::<Vec<_>>(),
            }],
        },
    });
    if let Some(r) = reference {
        body["biz_opaque_callback_data"] = json!(r);
    }
    body
}

fn text_body(to: &str, text: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "to": to,
        "type": "text",
        "text": {"body": text, "preview_url": false},
    })
}

async fn send(
    client: &reqwest::Client,
    sim: &WhatsappSim,
    token: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut req = client
        .post(format!("{}/v21.0/100000000000001/messages", sim.url()))
        .json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

const TOKEN: Option<&str> = Some("sim-access-token");

#[tokio::test]
async fn send_answers_like_the_cloud_api() {
    let sim = sim(WhatsappSimConfig::default()).await;
    let client = reqwest::Client::new();

    let body = template_body(
        "+6281234567890",
        "izin_selesai_diproses",
        &["Budi", "503/0457/IUT/2024"],
        Some("outbox-1"),
    );
    let (status, answer) = send(&client, &sim, TOKEN, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["messaging_product"], "whatsapp");
    assert_eq!(answer["contacts"][0]["input"], "+6281234567890");
    assert_eq!(answer["contacts"][0]["wa_id"], "6281234567890");
    let wamid = answer["messages"][0]["id"].as_str().unwrap();
    assert!(wamid.starts_with("wamid."), "{wamid}");
    assert_eq!(answer["messages"][0]["message_status"], "accepted");

    // Without or with a wrong token: 401, Meta code 190.
    let (status, answer) = send(&client, &sim, None, &body).await;
    assert_eq!(status, 401);
    assert_eq!(answer["error"]["code"], 190);
    assert_eq!(answer["error"]["type"], "OAuthException");
    let (status, _) = send(&client, &sim, Some("wrong"), &body).await;
    assert_eq!(status, 401);

    // Unknown, pending, or wrong-language templates: 132001.
    for (name, lang) in [
        ("tidak_ada", "id"),
        ("izin_baru", "id"),
        ("izin_selesai_diproses", "en"),
    ] {
        let mut b = template_body("6281234567890", name, &["Budi"], None);
        b["template"]["language"]["code"] = json!(lang);
        let (status, answer) = send(&client, &sim, TOKEN, &b).await;
        assert_eq!(status, 400);
        assert_eq!(answer["error"]["code"], 132001, "{name}/{lang}");
        assert_eq!(
            answer["error"]["error_data"]["messaging_product"],
            "whatsapp"
        );
        assert!(answer["error"]["fbtrace_id"].is_string());
    }

    // Parameter count must match the placeholders.
    let b = template_body("6281234567890", "izin_selesai_diproses", &["Budi"], None);
    let (status, answer) = send(&client, &sim, TOKEN, &b).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], 132000);

    // Free-form text outside the 24-hour window: 131047; inside it after an inbound message: ok.
    let (status, answer) = send(&client, &sim, TOKEN, &text_body("6281234567890", "Halo")).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], 131047);
    sim.inbound("6281234567890", "Halo, izin saya bagaimana?")
        .unwrap();
    let (status, answer) = send(&client, &sim, TOKEN, &text_body("6281234567890", "Halo")).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["messages"][0].get("message_status").is_none());
    // The window is per number.
    let (_, answer) = send(&client, &sim, TOKEN, &text_body("6281299999999", "Halo")).await;
    assert_eq!(answer["error"]["code"], 131047);

    // Malformed bodies: 100.
    for bad in [
        json!({"to": "6281234567890", "type": "text", "text": {"body": "x"}}),
        json!({"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}),
        json!({"messaging_product": "whatsapp", "to": "6281234567890", "type": "template"}),
        json!("not an object"),
    ] {
        let (status, answer) = send(&client, &sim, TOKEN, &bad).await;
        assert_eq!(status, 400);
        assert_eq!(answer["error"]["code"], 100, "{bad}");
    }
    let resp = client
        .post(format!("{}/v21.0/100000000000001/messages", sim.url()))
        .bearer_auth("sim-access-token")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], 100);

    // References are counted per accepted message.
    send(&client, &sim, TOKEN, &body).await;
    assert_eq!(sim.count_for_reference("outbox-1"), 2);
    assert_eq!(sim.count_for_reference("outbox-2"), 0);
    assert_eq!(sim.max_per_reference(), 2);
    assert_eq!(sim.accepted(), 3);

    let messages = sim.messages();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0].wamid, wamid);
    assert_eq!(
        messages[0].template.as_deref(),
        Some("izin_selesai_diproses")
    );
    assert_eq!(
        messages[0].text,
        "Yth. Budi, izin 503/0457/IUT/2024 Anda telah selesai diproses."
    );

    let stats: Value = client
        .get(format!("{}/_sim/stats", sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["accepted"], 3);
    assert_eq!(stats["max_per_reference"], 2);
    assert_eq!(stats["references"], 1);
    assert!(stats["rejected"].as_u64().unwrap() >= 10, "{stats}");
    let listed: Vec<Value> = client
        .get(format!("{}/_sim/messages", sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0]["reference"], "outbox-1");
    assert_eq!(listed[0]["type"], "template");
    assert_eq!(listed[1]["type"], "text");
}

#[tokio::test]
async fn templates_are_listed() {
    let sim = sim(WhatsappSimConfig::default()).await;
    let client = reqwest::Client::new();
    let url = format!("{}/v21.0/200000000000002/message_templates", sim.url());
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let list: Value = client
        .get(&url)
        .bearer_auth("sim-access-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["name"], "izin_selesai_diproses");
    assert_eq!(data[0]["status"], "APPROVED");
    assert_eq!(data[0]["category"], "UTILITY");
    assert_eq!(data[0]["components"][0]["type"], "BODY");
    assert!(
        data[0]["components"][0]["text"]
            .as_str()
            .unwrap()
            .contains("{{2}}")
    );
    assert_eq!(data[1]["status"], "PENDING");
    assert!(list["paging"]["cursors"].is_object());
}

#[tokio::test]
async fn receipts_arrive_in_order_signed_with_the_reference() {
    let (hook, received) = receiver(0).await;
    let sim = sim(WhatsappSimConfig {
        webhook_url: Some(hook),
        ..Default::default()
    })
    .await;
    sim.subscribe().await.unwrap();
    let client = reqwest::Client::new();
    let body = template_body(
        "6281234567890",
        "izin_selesai_diproses",
        &["Budi", "X"],
        Some("ref-42"),
    );
    let (_, answer) = send(&client, &sim, TOKEN, &body).await;
    let wamid = answer["messages"][0]["id"].as_str().unwrap().to_string();

    wait_until("three receipts", || received.statuses().len() == 3).await;
    let statuses = received.statuses();
    let order: Vec<&str> = statuses.iter().map(|(_, s, _)| s.as_str()).collect();
    assert_eq!(order, ["sent", "delivered", "read"]);
    assert!(
        statuses
            .iter()
            .all(|(id, _, r)| *id == wamid && r.as_deref() == Some("ref-42"))
    );

    for (sig, body) in received.posts.lock().unwrap().iter() {
        assert_eq!(
            sig.as_deref(),
            Some(signature("sim-app-secret", body).as_str())
        );
    }
    let first = &received.bodies()[0];
    assert_eq!(first["object"], "whatsapp_business_account");
    assert_eq!(first["entry"][0]["id"], "200000000000002");
    let change = &first["entry"][0]["changes"][0];
    assert_eq!(change["field"], "messages");
    assert_eq!(
        change["value"]["metadata"]["phone_number_id"],
        "100000000000001"
    );
    let status = &change["value"]["statuses"][0];
    assert!(status["timestamp"].as_str().unwrap().parse::<i64>().is_ok());
    assert_eq!(status["recipient_id"], "6281234567890");
    assert_eq!(status["conversation"]["origin"]["type"], "utility");
    assert_eq!(status["pricing"]["category"], "utility");

    wait_until("read status", || sim.messages()[0].status == "read").await;
    wait_until("nothing pending", || sim.webhooks_pending() == 0).await;
    assert_eq!(sim.webhooks_delivered(), 3);
}

#[tokio::test]
async fn signature_is_hmac_sha256_hex() {
    // RFC 4231 test case 2.
    assert_eq!(
        signature("Jefe", b"what do ya want for nothing?"),
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[tokio::test]
async fn undeliverable_numbers_fail_asynchronously() {
    let (hook, received) = receiver(0).await;
    let sim = sim(WhatsappSimConfig {
        webhook_url: Some(hook),
        undeliverable_suffix: Some("0000".into()),
        ..Default::default()
    })
    .await;
    let client = reqwest::Client::new();
    let body = template_body(
        "6281200000000",
        "izin_selesai_diproses",
        &["Budi", "X"],
        Some("ref-dead"),
    );
    let (status, answer) = send(&client, &sim, TOKEN, &body).await;
    assert_eq!(status, 200, "accepted first, as Meta does");
    assert!(answer["messages"][0]["id"].is_string());

    wait_until("two receipts", || received.statuses().len() == 2).await;
    let order: Vec<String> = received.statuses().into_iter().map(|s| s.1).collect();
    assert_eq!(order, ["sent", "failed"]);
    let failed = &received.bodies()[1]["entry"][0]["changes"][0]["value"]["statuses"][0];
    assert_eq!(failed["errors"][0]["code"], 131026);
    assert_eq!(failed["errors"][0]["title"], "Message undeliverable");
    assert_eq!(failed["biz_opaque_callback_data"], "ref-dead");
    assert_eq!(sim.messages()[0].status, "failed");
    assert_eq!(sim.messages()[0].error_code, Some(131026));
}

#[tokio::test]
async fn failed_webhooks_are_retried() {
    let (hook, received) = receiver(2).await;
    let sim = sim(WhatsappSimConfig {
        webhook_url: Some(hook),
        read_receipts: false,
        ..Default::default()
    })
    .await;
    let client = reqwest::Client::new();
    let body = template_body(
        "6281234567890",
        "izin_selesai_diproses",
        &["Budi", "X"],
        Some("ref-r"),
    );
    send(&client, &sim, TOKEN, &body).await;
    wait_until("receipts after retries", || received.statuses().len() == 2).await;
    let order: Vec<String> = received.statuses().into_iter().map(|s| s.1).collect();
    assert_eq!(order, ["sent", "delivered"], "order kept across retries");
    assert_eq!(received.attempts.load(Ordering::SeqCst), 4);
    wait_until("nothing pending", || sim.webhooks_pending() == 0).await;
}

#[tokio::test]
async fn receipts_survive_a_receiver_that_is_down() {
    // The companion is down while the message is sent and comes back later on the same URL.
    let listener = tokio::net::TcpListener::bind(LOCAL).await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let sim = sim(WhatsappSimConfig {
        webhook_url: Some(format!("http://{addr}/webhook")),
        read_receipts: false,
        ..Default::default()
    })
    .await;
    let client = reqwest::Client::new();
    let body = template_body("6281234567890", "izin_selesai_diproses", &["A", "B"], None);
    send(&client, &sim, TOKEN, &body).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.webhooks_delivered(), 0);

    let received = Arc::new(Received::default());
    let app = Router::new()
        .route("/webhook", post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    wait_until("receipts after restart", || received.statuses().len() == 2).await;
}

#[tokio::test]
async fn shuffled_receipts_repeat_and_come_out_of_order() {
    let (hook, received) = receiver(0).await;
    let sim = sim(WhatsappSimConfig {
        webhook_url: Some(hook),
        shuffle_receipts: true,
        ..Default::default()
    })
    .await;
    let client = reqwest::Client::new();
    let body = template_body("6281234567890", "izin_selesai_diproses", &["A", "B"], None);
    send(&client, &sim, TOKEN, &body).await;
    wait_until("six receipts", || received.statuses().len() == 6).await;
    let order: Vec<String> = received.statuses().into_iter().map(|s| s.1).collect();
    assert_eq!(
        order,
        ["delivered", "sent", "read", "delivered", "sent", "read"]
    );
    assert_eq!(sim.messages()[0].status, "read");
}

#[tokio::test]
async fn faults() {
    let sim = sim(WhatsappSimConfig::default()).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let body = |r: &str| {
        template_body(
            "6281234567890",
            "izin_selesai_diproses",
            &["A", "B"],
            Some(r),
        )
    };

    sim.set_fault(WhatsappFault::Http500);
    let resp = client
        .post(format!("{}/v21.0/100000000000001/messages", sim.url()))
        .bearer_auth("sim-access-token")
        .json(&body("f1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert!(resp.text().await.unwrap().contains("<html"));

    sim.set_fault(WhatsappFault::RateLimited);
    let (status, answer) = send(&client, &sim, TOKEN, &body("f2")).await;
    assert_eq!(status, 429);
    assert_eq!(answer["error"]["code"], 130429);
    assert_eq!(sim.accepted(), 0, "nothing accepted under 500/429");

    sim.set_fault(WhatsappFault::Hang);
    let err = client
        .post(format!("{}/v21.0/100000000000001/messages", sim.url()))
        .bearer_auth("sim-access-token")
        .json(&body("f3"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(sim.accepted(), 1, "the hanging send was taken");
    assert_eq!(sim.count_for_reference("f3"), 1);

    sim.set_fault(WhatsappFault::None);
    let (status, _) = send(&client, &sim, TOKEN, &body("f3")).await;
    assert_eq!(status, 200);
    assert_eq!(
        sim.count_for_reference("f3"),
        2,
        "a blind resend is counted twice"
    );
    assert_eq!(sim.max_per_reference(), 2);
}

#[tokio::test]
async fn phone_page_shows_chats_and_takes_citizen_messages() {
    let (hook, received) = receiver(0).await;
    let sim = sim(WhatsappSimConfig {
        webhook_url: Some(hook),
        ..Default::default()
    })
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let body = template_body(
        "6281234567890",
        "izin_selesai_diproses",
        &["<script>alert(1)</script>", "503/0457/IUT/2024"],
        None,
    );
    send(&client, &sim, TOKEN, &body).await;

    // A citizen answers from the form: a redirect back to the page, and an inbound webhook.
    let resp = client
        .post(format!("{}/telepon/kirim", sim.url()))
        .form(&[
            ("from", "0812-3456-7890"),
            ("text", "Terima kasih <b>pak</b>"),
        ])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection());
    assert_eq!(resp.headers()["location"], "/");
    wait_until("inbound webhook", || {
        received
            .bodies()
            .iter()
            .any(|b| b["entry"][0]["changes"][0]["value"]["messages"].is_array())
    })
    .await;
    let (sig, raw) = received
        .posts
        .lock()
        .unwrap()
        .iter()
        .find(|(_, b)| String::from_utf8_lossy(b).contains("\"messages\""))
        .cloned()
        .unwrap();
    assert_eq!(sig.unwrap(), signature("sim-app-secret", &raw));
    let inbound: Value = serde_json::from_slice(&raw).unwrap();
    let value = &inbound["entry"][0]["changes"][0]["value"];
    assert_eq!(value["messages"][0]["from"], "6281234567890");
    assert_eq!(value["messages"][0]["type"], "text");
    assert_eq!(
        value["messages"][0]["text"]["body"],
        "Terima kasih <b>pak</b>"
    );
    assert!(
        value["messages"][0]["timestamp"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .is_ok()
    );
    assert!(
        value["messages"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("wamid.")
    );
    assert_eq!(value["contacts"][0]["wa_id"], "6281234567890");
    assert!(value["contacts"][0]["profile"]["name"].is_string());

    // The form opened the window: free-form text is now allowed.
    let (status, _) = send(
        &client,
        &sim,
        TOKEN,
        &text_body("6281234567890", "Sama-sama"),
    )
    .await;
    assert_eq!(status, 200);

    wait_until("read", || sim.messages()[0].status == "read").await;
    let page = client.get(sim.url()).send().await.unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = page.text().await.unwrap();
    assert!(page.contains("Kirim pesan sebagai warga"));
    assert!(page.contains("+6281234567890"));
    assert!(page.contains("Yth. &lt;script&gt;alert(1)&lt;/script&gt;, izin 503/0457/IUT/2024"));
    assert!(!page.contains("<script>"), "user text is escaped");
    assert!(page.contains("Terima kasih &lt;b&gt;pak&lt;/b&gt;"));
    assert!(page.contains("Sama-sama"));
    assert!(page.contains("dibaca"), "blue ticks for the read template");

    // A bad number is refused back to the page with a message.
    let resp = client
        .post(format!("{}/telepon/kirim", sim.url()))
        .form(&[("from", "abc"), ("text", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["location"], "/?galat=nomor");
    let page = client
        .get(format!("{}/?galat=nomor", sim.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Nomor tidak sah"));
}

#[tokio::test]
async fn webhook_url_can_be_set_after_start() {
    let sim = sim(WhatsappSimConfig {
        receipt_delay_ms: 200,
        ..Default::default()
    })
    .await;
    assert!(sim.subscribe().await.is_err(), "no URL yet");
    let (hook, received) = receiver(0).await;
    sim.set_webhook_url(Some(hook));
    sim.subscribe().await.unwrap();
    let client = reqwest::Client::new();
    let body = template_body("6281234567890", "izin_selesai_diproses", &["A", "B"], None);
    send(&client, &sim, TOKEN, &body).await;
    wait_until("receipts", || received.statuses().len() == 3).await;
    assert_eq!(sim.config().phone_number_id, "100000000000001");
}
