//! Provider adapters against a local recording server: exact wire format out, parsing and error
//! mapping in, webhook signatures and payloads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD as B64URL};
use chrono::{TimeZone, Utc};
use companion_notify::providers::*;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Recording server

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
    fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
    fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }
}

#[derive(Clone)]
struct Canned {
    status: u16,
    content_type: &'static str,
    body: String,
    delay: Duration,
}

fn json_reply(status: u16, body: Value) -> Canned {
    Canned {
        status,
        content_type: "application/json",
        body: body.to_string(),
        delay: Duration::ZERO,
    }
}

fn html_reply(status: u16) -> Canned {
    Canned {
        status,
        content_type: "text/html",
        body: "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>".into(),
        delay: Duration::ZERO,
    }
}

fn slow_reply() -> Canned {
    Canned {
        delay: Duration::from_secs(3),
        ..json_reply(200, json!({}))
    }
}

struct Shared {
    /// The server's own address: `{BASE}` in a canned body is replaced by it (paging links).
    url: String,
    replies: Vec<Canned>,
    recorded: Mutex<Vec<Recorded>>,
}

struct Mock {
    url: String,
    shared: Arc<Shared>,
}

impl Mock {
    fn requests(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().unwrap().clone()
    }
    fn only_request(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "expected exactly one request");
        requests[0].clone()
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let index = {
        let mut recorded = shared.recorded.lock().unwrap();
        recorded.push(Recorded {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or("").to_string(),
            headers: parts.headers.clone(),
            body: body.to_vec(),
        });
        recorded.len() - 1
    };
    // Answers in order; the last one repeats.
    let reply = shared.replies[index.min(shared.replies.len() - 1)].clone();
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = Response::new(Body::from(reply.body.replace("{BASE}", &shared.url)));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static(reply.content_type));
    response
}

async fn mock(replies: Vec<Canned>) -> Mock {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shared = Arc::new(Shared {
        url: url.clone(),
        replies,
        recorded: Mutex::new(Vec::new()),
    });
    let app = Router::new().fallback(handle).with_state(shared.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Mock { url, shared }
}

/// An address nobody listens on: connection refused.
async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

const SHORT: Duration = Duration::from_millis(400);

fn text_message(body: &str) -> OutgoingMessage {
    OutgoingMessage {
        reference: "outbox-42".into(),
        to: "+6281234567890".into(),
        content: Content::Text { body: body.into() },
    }
}

fn template_message() -> OutgoingMessage {
    OutgoingMessage {
        reference: "outbox-42".into(),
        to: "+6281234567890".into(),
        content: Content::Template {
            name: "izin_peringatan_berlaku".into(),
            language: "id".into(),
            parameters: vec!["BUDI".into(), "503/0457/IUT/2024".into()],
            rendered: "Yth. BUDI, izin 503/0457/IUT/2024 segera berakhir.".into(),
        },
    }
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn assert_error(
    result: Result<Accepted, SendError>,
    kind: FailureKind,
    outcome: SendOutcome,
) -> SendError {
    let error = result.expect_err("send should fail");
    assert_eq!(error.kind, kind, "{error:?}");
    assert_eq!(error.outcome, outcome, "{error:?}");
    assert!(error.detail.chars().count() <= 301, "{error:?}");
    error
}

fn flip_one_byte(body: &[u8]) -> Vec<u8> {
    let mut changed = body.to_vec();
    let middle = changed.len() / 2;
    changed[middle] ^= 0x01;
    changed
}

// ---------------------------------------------------------------------------------------------
// Meta

fn meta_config(base_url: &str) -> MetaConfig {
    MetaConfig {
        base_url: base_url.into(),
        phone_number_id: "109876543210".into(),
        waba_id: "WABA777".into(),
        access_token: Secret::new("EAAG-meta-token"),
        app_secret: Secret::new("app-secret-123"),
        verify_token: Secret::new("verify-me"),
        timeout: SHORT,
        ..MetaConfig::default()
    }
}

fn meta(base_url: &str) -> MetaProvider {
    MetaProvider::new(meta_config(base_url)).unwrap()
}

#[tokio::test]
async fn meta_sends_template_exactly_as_documented() {
    let server = mock(vec![json_reply(
        200,
        json!({"messaging_product":"whatsapp","contacts":[{"input":"6281234567890","wa_id":"6281234567890"}],
               "messages":[{"id":"wamid.HBgM123","message_status":"accepted"}]}),
    )])
    .await;
    let provider = meta(&server.url);
    assert_eq!(provider.name(), "meta");
    assert!(provider.uses_templates());

    let accepted = provider.send(&template_message()).await.unwrap();
    assert_eq!(accepted.provider_id, "wamid.HBgM123");

    let request = server.only_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v21.0/109876543210/messages");
    assert_eq!(request.header("authorization"), "Bearer EAAG-meta-token");
    assert!(
        request
            .header("content-type")
            .starts_with("application/json")
    );
    assert_eq!(
        request.json(),
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "6281234567890",
            "type": "template",
            "biz_opaque_callback_data": "outbox-42",
            "template": {
                "name": "izin_peringatan_berlaku",
                "language": {"code": "id"},
                "components": [{"type": "body", "parameters": [
                    {"type": "text", "text": "BUDI"},
                    {"type": "text", "text": "503/0457/IUT/2024"}
                ]}]
            }
        })
    );
}

#[tokio::test]
async fn meta_sends_text_without_preview() {
    let server = mock(vec![json_reply(
        200,
        json!({"messages":[{"id":"wamid.TEXT"}]}),
    )])
    .await;
    let accepted = meta(&server.url).send(&text_message("Halo")).await.unwrap();
    assert_eq!(accepted.provider_id, "wamid.TEXT");
    let body = server.only_request().json();
    assert_eq!(body["type"], "text");
    assert_eq!(body["text"], json!({"body": "Halo", "preview_url": false}));
    assert_eq!(body["to"], "6281234567890");
    assert_eq!(body["biz_opaque_callback_data"], "outbox-42");
}

fn meta_error(code: i64, message: &str) -> Value {
    json!({"error":{"message":message,"type":"OAuthException","code":code,
                    "error_data":{"messaging_product":"whatsapp","details":"details here"},
                    "fbtrace_id":"AbC"}})
}

#[tokio::test]
async fn meta_maps_error_codes() {
    let cases = [
        (400, 131047, FailureKind::WindowClosed),
        (400, 131026, FailureKind::NotOnWhatsApp),
        (400, 131042, FailureKind::Payment),
        (400, 131056, FailureKind::RateLimited),
        (400, 130429, FailureKind::RateLimited),
        (400, 132000, FailureKind::TemplateParameters),
        (404, 132001, FailureKind::TemplateNotApproved),
        (401, 190, FailureKind::Unauthorized),
        (400, 131009, FailureKind::InvalidRequest),
        (400, 131051, FailureKind::InvalidRequest),
        (400, 999999, FailureKind::Other),
        (429, 999999, FailureKind::RateLimited),
    ];
    for (status, code, kind) in cases {
        let server = mock(vec![json_reply(status, meta_error(code, "Refused"))]).await;
        let error = assert_error(
            meta(&server.url).send(&template_message()).await,
            kind,
            SendOutcome::NotSent,
        );
        assert_eq!(error.provider, "meta");
        assert_eq!(error.code.as_deref(), Some(code.to_string().as_str()));
        assert!(error.detail.contains("Refused"), "{error:?}");
    }
}

#[tokio::test]
async fn meta_never_leaks_the_token_and_truncates() {
    let long = format!(
        "Invalid OAuth access token EAAG-meta-token {}",
        "x".repeat(1000)
    );
    let server = mock(vec![json_reply(401, meta_error(190, &long))]).await;
    let error = assert_error(
        meta(&server.url).send(&text_message("Halo")).await,
        FailureKind::Unauthorized,
        SendOutcome::NotSent,
    );
    assert!(!error.detail.contains("EAAG-meta-token"));
    assert!(!error.to_string().contains("EAAG-meta-token"));
}

#[tokio::test]
async fn meta_html_500_timeout_refused_and_garbage() {
    let server = mock(vec![html_reply(502)]).await;
    let error = assert_error(
        meta(&server.url).send(&text_message("Halo")).await,
        FailureKind::ProviderUnavailable,
        SendOutcome::NotSent,
    );
    assert!(error.detail.contains("502"));

    let server = mock(vec![json_reply(
        500,
        meta_error(131000, "Something went wrong"),
    )])
    .await;
    assert_error(
        meta(&server.url).send(&text_message("Halo")).await,
        FailureKind::ProviderUnavailable,
        SendOutcome::NotSent,
    );

    let server = mock(vec![slow_reply()]).await;
    assert_error(
        meta(&server.url).send(&text_message("Halo")).await,
        FailureKind::Timeout,
        SendOutcome::Unknown,
    );

    assert_error(
        meta(&dead_url().await).send(&text_message("Halo")).await,
        FailureKind::ProviderUnavailable,
        SendOutcome::NotSent,
    );

    // 200 without an id: probably taken, so never "safe to resend".
    let server = mock(vec![Canned {
        content_type: "text/plain",
        body: "ok".into(),
        ..json_reply(200, json!({}))
    }])
    .await;
    assert_error(
        meta(&server.url).send(&text_message("Halo")).await,
        FailureKind::ProviderUnavailable,
        SendOutcome::Unknown,
    );
}

const META_STATUS_WEBHOOK: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"WABA777","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"6281100000000","phone_number_id":"109876543210"},"statuses":[{"id":"wamid.HBgM123","status":"delivered","timestamp":"1730000000","recipient_id":"6281234567890","biz_opaque_callback_data":"outbox-42","conversation":{"id":"c1","origin":{"type":"utility"}},"pricing":{"billable":true,"pricing_model":"CBP","category":"utility"}},{"id":"wamid.HBgM999","status":"failed","timestamp":"1730000100","recipient_id":"6281999","errors":[{"code":131026,"title":"Message undeliverable"}]},{"id":"wamid.HBgM555","status":"deleted","timestamp":"1730000200"}]}}]}]}"#;

const META_INBOUND_WEBHOOK: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"WABA777","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"6281100000000","phone_number_id":"109876543210"},"contacts":[{"profile":{"name":"Budi"},"wa_id":"6281234567890"}],"messages":[{"from":"6281234567890","id":"wamid.IN1","timestamp":"1730000300","type":"text","text":{"body":"STOP"}}]}}]}]}"#;

fn meta_request<'a>(body: &'a [u8], headers: &'a HeaderMap) -> WebhookRequest<'a> {
    WebhookRequest {
        url: "https://companion.example.go.id/webhooks/whatsapp/meta",
        headers,
        body,
    }
}

#[tokio::test]
async fn meta_webhook_signature() {
    let provider = meta("http://unused");
    // Known answer computed independently (Python hmac).
    assert_eq!(
        meta::signature(
            "app-secret-123",
            br#"{"object":"whatsapp_business_account"}"#
        ),
        "sha256=dbc74863d4cd49044ec08695c8e2eb2b18119ff8d1e681226a93be56fc391aac"
    );
    let body = META_STATUS_WEBHOOK.as_bytes();
    let good = headers(&[(
        "x-hub-signature-256",
        &meta::signature("app-secret-123", body),
    )]);
    assert_eq!(provider.verify_webhook(&meta_request(body, &good)), Ok(()));

    let wrong = headers(&[("x-hub-signature-256", &meta::signature("other", body))]);
    let malformed = headers(&[("x-hub-signature-256", "md5=abc")]);
    let not_hex = headers(&[("x-hub-signature-256", "sha256=zz")]);
    let none = HeaderMap::new();
    let changed = flip_one_byte(body);
    for (body, headers) in [
        (body, &wrong),
        (body, &malformed),
        (body, &not_hex),
        (body, &none),
        (changed.as_slice(), &good),
    ] {
        assert!(matches!(
            provider.verify_webhook(&meta_request(body, headers)),
            Err(WebhookError::Unauthorized(_))
        ));
    }
}

#[tokio::test]
async fn meta_webhook_statuses_and_inbound() {
    let provider = meta("http://unused");
    let none = HeaderMap::new();
    let events = provider
        .parse_webhook(&meta_request(META_STATUS_WEBHOOK.as_bytes(), &none))
        .unwrap();
    assert_eq!(
        events,
        vec![
            WebhookEvent::Status {
                provider_id: "wamid.HBgM123".into(),
                reference: Some("outbox-42".into()),
                status: DeliveryStatus::Delivered,
                at: Utc.timestamp_opt(1_730_000_000, 0).single(),
                failure: None,
            },
            WebhookEvent::Status {
                provider_id: "wamid.HBgM999".into(),
                reference: None,
                status: DeliveryStatus::Failed,
                at: Utc.timestamp_opt(1_730_000_100, 0).single(),
                failure: Some((
                    FailureKind::NotOnWhatsApp,
                    Some("131026".into()),
                    "Message undeliverable".into()
                )),
            },
        ]
    );

    let events = provider
        .parse_webhook(&meta_request(META_INBOUND_WEBHOOK.as_bytes(), &none))
        .unwrap();
    assert_eq!(
        events,
        vec![WebhookEvent::Inbound {
            from: "+6281234567890".into(),
            text: "STOP".into(),
            provider_message_id: "wamid.IN1".into(),
            at: Utc.timestamp_opt(1_730_000_300, 0).single(),
        }]
    );

    assert!(matches!(
        provider.parse_webhook(&meta_request(b"<html>", &none)),
        Err(WebhookError::Malformed(_))
    ));
}

#[tokio::test]
async fn meta_handshake() {
    let provider = meta("http://unused");
    let query = |mode: &str, token: &str| {
        vec![
            ("hub.mode".to_string(), mode.to_string()),
            ("hub.verify_token".to_string(), token.to_string()),
            ("hub.challenge".to_string(), "1158201444".to_string()),
        ]
    };
    assert_eq!(
        provider.webhook_handshake(&query("subscribe", "verify-me")),
        Some(Ok("1158201444".to_string()))
    );
    assert!(matches!(
        provider.webhook_handshake(&query("subscribe", "verify-m3")),
        Some(Err(WebhookError::Unauthorized(_)))
    ));
    assert!(matches!(
        provider.webhook_handshake(&query("unsubscribe", "verify-me")),
        Some(Err(WebhookError::Unauthorized(_)))
    ));
    assert!(matches!(
        provider.webhook_handshake(&[]),
        Some(Err(WebhookError::Unauthorized(_)))
    ));
    // No configured token: nothing matches, not even an empty one.
    let open = MetaProvider::new(MetaConfig {
        verify_token: Secret::default(),
        ..meta_config("http://unused")
    })
    .unwrap();
    assert!(matches!(
        open.webhook_handshake(&query("subscribe", "")),
        Some(Err(WebhookError::Unauthorized(_)))
    ));
}

#[tokio::test]
async fn meta_approved_templates_follow_paging() {
    let page1 = json!({"data":[
        {"name":"izin_peringatan_berlaku","language":"id","status":"APPROVED","category":"UTILITY",
         "components":[{"type":"HEADER","format":"TEXT","text":"Peringatan {{1}}"},
                       {"type":"BODY","text":"Yth. {{1}}, izin {{2}} berakhir pada {{3}}. {{1}}"},
                       {"type":"FOOTER","text":"DPMPTSP"}],"id":"1"},
        {"name":"izin_update_status","language":"en_US","status":"REJECTED","category":"MARKETING",
         "components":[{"type":"BODY","text":"No variables"}],"id":"3"}],
        "paging":{"cursors":{"before":"a","after":"b"},
                  "next":"{BASE}/v21.0/WABA777/message_templates?limit=100&after=b"}});
    let page2 = json!({"data":[{"name":"izin_selesai_diproses","language":"id","status":"PENDING",
        "category":"UTILITY","components":[{"type":"BODY","text":"Izin {{1}} selesai."}],"id":"2"}],
        "paging":{"cursors":{"before":"b","after":"c"}}});
    let server = mock(vec![json_reply(200, page1), json_reply(200, page2)]).await;

    let templates = meta(&server.url)
        .approved_templates()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        templates,
        vec![
            TemplateInfo {
                name: "izin_peringatan_berlaku".into(),
                language: "id".into(),
                status: "APPROVED".into(),
                category: Some("UTILITY".into()),
                parameter_count: 3,
            },
            TemplateInfo {
                name: "izin_update_status".into(),
                language: "en_US".into(),
                status: "REJECTED".into(),
                category: Some("MARKETING".into()),
                parameter_count: 0,
            },
            TemplateInfo {
                name: "izin_selesai_diproses".into(),
                language: "id".into(),
                status: "PENDING".into(),
                category: Some("UTILITY".into()),
                parameter_count: 1,
            },
        ]
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/v21.0/WABA777/message_templates");
    assert_eq!(requests[0].query, "limit=100");
    assert_eq!(requests[1].query, "limit=100&after=b");
    for request in &requests {
        assert_eq!(request.header("authorization"), "Bearer EAAG-meta-token");
    }
}

#[tokio::test]
async fn meta_templates_never_follow_a_foreign_next_link() {
    let page = json!({"data":[], "paging":{"next":"https://evil.example/steal"}});
    let server = mock(vec![json_reply(200, page)]).await;
    let templates = meta(&server.url).approved_templates().await.unwrap();
    assert_eq!(templates, Some(vec![]));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn meta_simulator_name() {
    let provider = MetaProvider::simulator(meta_config("http://127.0.0.1:1")).unwrap();
    assert_eq!(provider.name(), "simulator");
}

// ---------------------------------------------------------------------------------------------
// Twilio

fn twilio_config(base_url: &str) -> TwilioConfig {
    TwilioConfig {
        base_url: base_url.into(),
        account_sid: "AC0123456789abcdef".into(),
        auth_token: Secret::new("twilio-token-xyz"),
        from: Some("+14155238886".into()),
        status_callback_url: Some(
            "https://companion.example.go.id/webhooks/whatsapp/twilio".into(),
        ),
        content_sids: HashMap::from([(
            "izin_peringatan_berlaku".to_string(),
            "HX0123456789abcdef0123456789abcdef".to_string(),
        )]),
        timeout: SHORT,
        ..TwilioConfig::default()
    }
}

fn twilio(base_url: &str) -> TwilioProvider {
    TwilioProvider::new(twilio_config(base_url)).unwrap()
}

fn twilio_created(sid: &str) -> Canned {
    json_reply(
        201,
        json!({"sid":sid,"status":"queued","to":"whatsapp:+6281234567890","from":"whatsapp:+14155238886",
               "body":"Halo","date_created":"Thu, 24 Oct 2024 10:00:00 +0000","error_code":null,
               "error_message":null,"num_segments":"1","price":null,
               "uri":"/2010-04-01/Accounts/AC0123456789abcdef/Messages/SM1.json"}),
    )
}

#[tokio::test]
async fn twilio_sends_template_through_content_api() {
    let server = mock(vec![twilio_created("SM0123456789abcdef0123456789abcdef")]).await;
    let accepted = twilio(&server.url).send(&template_message()).await.unwrap();
    assert_eq!(accepted.provider_id, "SM0123456789abcdef0123456789abcdef");

    let request = server.only_request();
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        "/2010-04-01/Accounts/AC0123456789abcdef/Messages.json"
    );
    let basic = BASE64.encode("AC0123456789abcdef:twilio-token-xyz");
    assert_eq!(request.header("authorization"), format!("Basic {basic}"));
    assert_eq!(
        request.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    let form = request.form();
    assert_eq!(form["To"], "whatsapp:+6281234567890");
    assert_eq!(form["From"], "whatsapp:+14155238886");
    assert_eq!(form["ContentSid"], "HX0123456789abcdef0123456789abcdef");
    let variables: Value = serde_json::from_str(&form["ContentVariables"]).unwrap();
    assert_eq!(variables, json!({"1":"BUDI","2":"503/0457/IUT/2024"}));
    assert_eq!(
        form["StatusCallback"],
        "https://companion.example.go.id/webhooks/whatsapp/twilio"
    );
    assert!(!form.contains_key("Body"));
}

#[tokio::test]
async fn twilio_sends_text_with_messaging_service() {
    let server = mock(vec![twilio_created("SM1")]).await;
    let provider = TwilioProvider::new(TwilioConfig {
        messaging_service_sid: Some("MG0123".into()),
        status_callback_url: None,
        ..twilio_config(&server.url)
    })
    .unwrap();
    provider.send(&text_message("Halo")).await.unwrap();
    let form = server.only_request().form();
    assert_eq!(form["Body"], "Halo");
    assert_eq!(form["MessagingServiceSid"], "MG0123");
    assert!(!form.contains_key("From"));
    assert!(!form.contains_key("StatusCallback"));
}

#[tokio::test]
async fn twilio_template_without_content_sid_is_not_sent() {
    let server = mock(vec![twilio_created("SM1")]).await;
    let mut message = template_message();
    if let Content::Template { name, .. } = &mut message.content {
        *name = "unknown_template".into();
    }
    assert_error(
        twilio(&server.url).send(&message).await,
        FailureKind::TemplateNotApproved,
        SendOutcome::NotSent,
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn twilio_maps_errors() {
    let cases = [
        (400, 21211, FailureKind::InvalidRequest),
        (400, 63016, FailureKind::WindowClosed),
        (400, 63003, FailureKind::NotOnWhatsApp),
        (429, 20429, FailureKind::RateLimited),
        (401, 20003, FailureKind::Unauthorized),
        (400, 12345, FailureKind::Other),
    ];
    for (status, code, kind) in cases {
        let server = mock(vec![json_reply(
            status,
            json!({"code":code,"message":"Refused by Twilio","more_info":"https://www.twilio.com/docs/errors/x","status":status}),
        )])
        .await;
        let error = assert_error(
            twilio(&server.url).send(&text_message("Halo")).await,
            kind,
            SendOutcome::NotSent,
        );
        assert_eq!(error.code.as_deref(), Some(code.to_string().as_str()));
        assert_eq!(error.detail, "Refused by Twilio");
    }
    let server = mock(vec![html_reply(503)]).await;
    assert_error(
        twilio(&server.url).send(&text_message("Halo")).await,
        FailureKind::ProviderUnavailable,
        SendOutcome::NotSent,
    );
    let server = mock(vec![slow_reply()]).await;
    assert_error(
        twilio(&server.url).send(&text_message("Halo")).await,
        FailureKind::Timeout,
        SendOutcome::Unknown,
    );
}

const TWILIO_URL: &str = "https://example.com/webhooks/twilio?x=1";

fn form_body(pairs: &[(&str, &str)]) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

fn pairs_owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn twilio_webhook_signature() {
    let provider = twilio("http://unused");
    let pairs = [
        ("To", "whatsapp:+6281234567890"),
        ("MessageStatus", "delivered"),
        ("MessageSid", "SM123"),
    ];
    // Known answer computed independently (Python hmac/sha1).
    let signature = twilio::signature("twilio-token-xyz", TWILIO_URL, &pairs_owned(&pairs));
    assert_eq!(signature, "fT3C5WuV2suFZjdYtXgljuR4eLg=");

    let body = form_body(&pairs);
    let good = headers(&[("x-twilio-signature", &signature)]);
    let request = |body: &[u8], headers: &HeaderMap, url: &str| {
        provider.verify_webhook(&WebhookRequest { url, headers, body })
    };
    assert_eq!(request(&body, &good, TWILIO_URL), Ok(()));
    // Twilio may have called the URL with the explicit default port.
    assert_eq!(
        request(&body, &good, "https://example.com:443/webhooks/twilio?x=1"),
        Ok(())
    );

    let wrong = headers(&[(
        "x-twilio-signature",
        &twilio::signature("other", TWILIO_URL, &pairs_owned(&pairs)),
    )]);
    let none = HeaderMap::new();
    let changed = flip_one_byte(&body);
    for (body, headers, url) in [
        (&body, &wrong, TWILIO_URL),
        (&body, &none, TWILIO_URL),
        (&changed, &good, TWILIO_URL),
        (&body, &good, "https://example.com/webhooks/twilio?x=2"),
    ] {
        assert!(matches!(
            request(body, headers, url),
            Err(WebhookError::Unauthorized(_))
        ));
    }
}

#[tokio::test]
async fn twilio_webhook_statuses_and_inbound() {
    let provider = twilio("http://unused");
    let none = HeaderMap::new();
    let parse = |pairs: &[(&str, &str)]| {
        let body = form_body(pairs);
        provider.parse_webhook(&WebhookRequest {
            url: TWILIO_URL,
            headers: &none,
            body: &body,
        })
    };
    let delivered = parse(&[
        ("SmsSid", "SM123"),
        ("SmsStatus", "delivered"),
        ("MessageStatus", "delivered"),
        ("To", "whatsapp:+6281234567890"),
        ("MessageSid", "SM123"),
        ("AccountSid", "AC0123456789abcdef"),
        ("From", "whatsapp:+14155238886"),
        ("ApiVersion", "2010-04-01"),
        ("ChannelPrefix", "whatsapp"),
    ])
    .unwrap();
    assert_eq!(
        delivered,
        vec![WebhookEvent::Status {
            provider_id: "SM123".into(),
            reference: None,
            status: DeliveryStatus::Delivered,
            at: None,
            failure: None,
        }]
    );
    let failed = parse(&[
        ("MessageStatus", "undelivered"),
        ("MessageSid", "SM124"),
        ("ErrorCode", "63016"),
        ("ErrorMessage", "Outside the allowed window"),
    ])
    .unwrap();
    assert_eq!(
        failed,
        vec![WebhookEvent::Status {
            provider_id: "SM124".into(),
            reference: None,
            status: DeliveryStatus::Failed,
            at: None,
            failure: Some((
                FailureKind::WindowClosed,
                Some("63016".into()),
                "Outside the allowed window".into()
            )),
        }]
    );
    assert_eq!(
        parse(&[("MessageStatus", "queued"), ("MessageSid", "SM125")]).unwrap(),
        vec![]
    );
    let inbound = parse(&[
        ("SmsMessageSid", "SM200"),
        ("NumMedia", "0"),
        ("ProfileName", "Budi"),
        ("SmsStatus", "received"),
        ("Body", "Halo, status izin saya?"),
        ("To", "whatsapp:+14155238886"),
        ("MessageSid", "SM200"),
        ("WaId", "6281234567890"),
        ("From", "whatsapp:+6281234567890"),
    ])
    .unwrap();
    assert_eq!(
        inbound,
        vec![WebhookEvent::Inbound {
            from: "+6281234567890".into(),
            text: "Halo, status izin saya?".into(),
            provider_message_id: "SM200".into(),
            at: None,
        }]
    );
    assert!(matches!(
        parse(&[("Foo", "bar")]),
        Err(WebhookError::Malformed(_))
    ));
}

#[tokio::test]
async fn twilio_lookup_matches_body() {
    let list = json!({"messages":[
        {"sid":"SM900","body":"Another message","to":"whatsapp:+6281234567890","status":"delivered"},
        {"sid":"SM901","body":"Halo","to":"whatsapp:+6281234567890","status":"sent"}],
        "next_page_uri":null,"page":0,"page_size":50});
    let server = mock(vec![json_reply(200, list)]).await;
    let since = Utc.with_ymd_and_hms(2024, 10, 24, 8, 0, 0).unwrap();
    let provider = twilio(&server.url);
    let found = provider.lookup(&text_message("Halo"), since).await.unwrap();
    assert_eq!(
        found,
        Lookup::Found(Accepted {
            provider_id: "SM901".into()
        })
    );
    let request = server.only_request();
    assert_eq!(request.method, "GET");
    assert_eq!(
        request.path,
        "/2010-04-01/Accounts/AC0123456789abcdef/Messages.json"
    );
    assert_eq!(
        request.query_pairs(),
        pairs_owned(&[
            ("To", "whatsapp:+6281234567890"),
            ("DateSent>", "2024-10-24"),
            ("PageSize", "50")
        ])
    );
    assert!(request.header("authorization").starts_with("Basic "));
    let missing = provider
        .lookup(&text_message("Never sent"), since)
        .await
        .unwrap();
    assert_eq!(missing, Lookup::NotFound);
}

// ---------------------------------------------------------------------------------------------
// Fonnte

fn fonnte(base_url: &str) -> FonnteProvider {
    FonnteProvider::new(FonnteConfig {
        base_url: base_url.into(),
        token: Secret::new("fonnte-device-token"),
        webhook_token: Secret::new("hook-secret-abc"),
        timeout: SHORT,
        ..FonnteConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn fonnte_sends_rendered_text() {
    let server = mock(vec![json_reply(
        200,
        json!({"detail":"success! message in queue","id":["80367170"],"process":"pending",
               "requestid":2937124,"status":true,"target":["6281234567890"]}),
    )])
    .await;
    let provider = fonnte(&server.url);
    assert!(!provider.uses_templates());
    let accepted = provider.send(&template_message()).await.unwrap();
    assert_eq!(accepted.provider_id, "80367170");

    let request = server.only_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/send");
    assert_eq!(request.header("authorization"), "fonnte-device-token");
    assert_eq!(
        request.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    let form = request.form();
    assert_eq!(form["target"], "6281234567890");
    assert_eq!(
        form["message"],
        "Yth. BUDI, izin 503/0457/IUT/2024 segera berakhir."
    );
    assert_eq!(form["countryCode"], "62");
    assert!(!form.contains_key("template"));
}

#[tokio::test]
async fn fonnte_accepts_scalar_id() {
    let server = mock(vec![json_reply(200, json!({"status":true,"id":80367171}))]).await;
    let accepted = fonnte(&server.url)
        .send(&text_message("Halo"))
        .await
        .unwrap();
    assert_eq!(accepted.provider_id, "80367171");
}

#[tokio::test]
async fn fonnte_maps_status_false_and_failures() {
    let cases = [
        ("token invalid", FailureKind::Unauthorized),
        ("target invalid", FailureKind::NotOnWhatsApp),
        ("insufficient quota", FailureKind::RateLimited),
        (
            "request invalid on disconnected device",
            FailureKind::ProviderUnavailable,
        ),
        ("something odd", FailureKind::Other),
    ];
    for (reason, kind) in cases {
        // HTTP 200 for a refusal: only `status:false` tells.
        let server = mock(vec![json_reply(
            200,
            json!({"reason":reason,"status":false}),
        )])
        .await;
        let error = assert_error(
            fonnte(&server.url).send(&text_message("Halo")).await,
            kind,
            SendOutcome::NotSent,
        );
        assert_eq!(error.detail, reason);
    }
    let server = mock(vec![html_reply(500)]).await;
    assert_error(
        fonnte(&server.url).send(&text_message("Halo")).await,
        FailureKind::ProviderUnavailable,
        SendOutcome::NotSent,
    );
    let server = mock(vec![slow_reply()]).await;
    assert_error(
        fonnte(&server.url).send(&text_message("Halo")).await,
        FailureKind::Timeout,
        SendOutcome::Unknown,
    );
}

#[tokio::test]
async fn fonnte_webhook_token() {
    let provider = fonnte("http://unused");
    let none = HeaderMap::new();
    let body =
        br#"{"device":"6281100000000","id":"80367170","stateid":"s1","status":"sent","state":""}"#;
    let verify = |url: &str| {
        provider.verify_webhook(&WebhookRequest {
            url,
            headers: &none,
            body,
        })
    };
    assert_eq!(
        verify("https://x.go.id/webhooks/whatsapp/fonnte?token=hook-secret-abc"),
        Ok(())
    );
    assert_eq!(
        verify("https://x.go.id/webhooks/whatsapp/fonnte/hook-secret-abc"),
        Ok(())
    );
    for url in [
        "https://x.go.id/webhooks/whatsapp/fonnte?token=hook-secret-abd",
        "https://x.go.id/webhooks/whatsapp/fonnte?token=",
        "https://x.go.id/webhooks/whatsapp/fonnte",
        "https://x.go.id/webhooks/whatsapp/fonnte/hook-secret-ab",
    ] {
        assert!(
            matches!(verify(url), Err(WebhookError::Unauthorized(_))),
            "{url}"
        );
    }
}

#[tokio::test]
async fn fonnte_webhook_statuses_and_inbound() {
    let provider = fonnte("http://unused");
    let none = HeaderMap::new();
    let parse = |body: &str| {
        provider.parse_webhook(&WebhookRequest {
            url: "https://x.go.id/hook?token=hook-secret-abc",
            headers: &none,
            body: body.as_bytes(),
        })
    };
    let status = |id: &str, status, failure| WebhookEvent::Status {
        provider_id: id.into(),
        reference: None,
        status,
        at: None,
        failure,
    };
    assert_eq!(
        parse(
            r#"{"device":"6281100000000","id":"80367170","stateid":"","status":"sent","state":""}"#
        )
        .unwrap(),
        vec![status("80367170", DeliveryStatus::Sent, None)]
    );
    assert_eq!(
        parse(
            r#"{"device":"6281100000000","id":80367171,"stateid":"","status":"invalid","state":""}"#
        )
        .unwrap(),
        vec![status(
            "80367171",
            DeliveryStatus::Failed,
            Some((FailureKind::NotOnWhatsApp, None, "invalid".into()))
        )]
    );
    assert_eq!(
        parse(r#"{"device":"6281100000000","id":"80367172","stateid":"","status":"pending","state":""}"#)
            .unwrap(),
        vec![]
    );
    // `id` + `stateid`: the pairing first, then the receipts.
    let alias = |id: &str, alias: &str| WebhookEvent::Alias {
        provider_id: id.into(),
        alias: alias.into(),
    };
    assert_eq!(
        parse(r#"{"device":"6281100000000","id":"80367170","stateid":"ABCD","status":"","state":"READ"}"#)
            .unwrap(),
        vec![
            alias("80367170", "ABCD"),
            status("80367170", DeliveryStatus::Read, None)
        ]
    );
    assert_eq!(
        parse(r#"{"device":"6281100000000","id":[142223099],"stateid":"ABCE","status":"sent","state":"delivered"}"#)
            .unwrap(),
        vec![
            alias("142223099", "ABCE"),
            status("142223099", DeliveryStatus::Sent, None),
            status("142223099", DeliveryStatus::Delivered, None)
        ]
    );
    // `stateid` only (Fonnte's later delivered/read updates): a receipt by alias, not an error.
    assert_eq!(
        parse(r#"{"device":"6281100000000","stateid":"ABCE","state":"read"}"#).unwrap(),
        vec![WebhookEvent::StatusByAlias {
            alias: "ABCE".into(),
            status: DeliveryStatus::Read,
            at: None,
            failure: None,
        }]
    );
    assert!(matches!(
        parse(r#"{"device":"6281100000000","state":"read"}"#),
        Err(WebhookError::Malformed(_))
    ));
    let inbound = parse(
        r#"{"device":"6281100000000","sender":"6281234567890","message":"info izin","member":"","name":"Budi","location":"","url":"","filename":"","extension":"","inboxid":"55501"}"#,
    )
    .unwrap();
    assert_eq!(
        inbound,
        vec![WebhookEvent::Inbound {
            from: "+6281234567890".into(),
            text: "info izin".into(),
            provider_message_id: "55501".into(),
            at: None,
        }]
    );
    assert!(matches!(parse("not json"), Err(WebhookError::Malformed(_))));
}

#[test]
fn fonnte_webhook_secret_when_configured() {
    let with_secret = |field: &str| {
        FonnteProvider::new(FonnteConfig {
            webhook_token: Secret::new("hook-secret-abc"),
            webhook_secret: Secret::new("rahasia-fonnte"),
            webhook_secret_field: field.into(),
            ..FonnteConfig::default()
        })
        .unwrap()
    };
    let url = "https://x.go.id/webhooks/whatsapp?token=hook-secret-abc";
    let verify = |p: &FonnteProvider, headers: &HeaderMap, body: &str| {
        p.verify_webhook(&WebhookRequest {
            url,
            headers,
            body: body.as_bytes(),
        })
    };
    let none = HeaderMap::new();
    let p = with_secret("");
    assert_eq!(
        verify(
            &p,
            &none,
            r#"{"id":"1","status":"sent","secret":"rahasia-fonnte"}"#
        ),
        Ok(())
    );
    for body in [
        r#"{"id":"1","status":"sent"}"#,
        r#"{"id":"1","status":"sent","secret":"rahasia-fonnta"}"#,
        r#"{"id":"1","status":"sent","secret":""}"#,
        "not json",
    ] {
        assert!(
            matches!(verify(&p, &none, body), Err(WebhookError::Unauthorized(_))),
            "{body}"
        );
    }
    // Another field name, or a header of that name.
    let p = with_secret("webhook_key");
    assert_eq!(
        verify(&p, &none, r#"{"id":"1","webhook_key":"rahasia-fonnte"}"#),
        Ok(())
    );
    let h = headers(&[("webhook_key", "rahasia-fonnte")]);
    assert_eq!(verify(&p, &h, r#"{"id":"1"}"#), Ok(()));
    // Without a secret configured, the URL token alone decides (as before).
    assert_eq!(
        verify(&fonnte("http://unused"), &none, r#"{"id":"1"}"#),
        Ok(())
    );
}

// ---------------------------------------------------------------------------------------------
// Bird

fn bird(base_url: &str) -> BirdProvider {
    BirdProvider::new(BirdConfig {
        base_url: base_url.into(),
        workspace_id: "ws-1".into(),
        channel_id: "ch-wa".into(),
        access_key: Secret::new("bird-access-key"),
        signing_key: Secret::new("bird-signing-key"),
        template_project_ids: HashMap::from([(
            "izin_peringatan_berlaku".to_string(),
            ("proj-123".to_string(), "ver-7".to_string()),
        )]),
        template_variables: HashMap::from([(
            "izin_peringatan_berlaku".to_string(),
            vec!["nama".to_string(), "nomor_izin".to_string()],
        )]),
        timeout: SHORT,
    })
    .unwrap()
}

#[tokio::test]
async fn bird_sends_template_and_text() {
    let server = mock(vec![json_reply(
        202,
        json!({"id":"0f5c3d7e-bird-msg","channelId":"ch-wa","status":"accepted","reference":"outbox-42"}),
    )])
    .await;
    let provider = bird(&server.url);
    assert_eq!(provider.name(), "messagebird");
    let accepted = provider.send(&template_message()).await.unwrap();
    assert_eq!(accepted.provider_id, "0f5c3d7e-bird-msg");
    provider.send(&text_message("Halo")).await.unwrap();

    let requests = server.requests();
    let template = &requests[0];
    assert_eq!(template.method, "POST");
    assert_eq!(template.path, "/workspaces/ws-1/channels/ch-wa/messages");
    assert_eq!(
        template.header("authorization"),
        "AccessKey bird-access-key"
    );
    assert!(
        template
            .header("content-type")
            .starts_with("application/json")
    );
    assert_eq!(
        template.json(),
        json!({
            "receiver": {"contacts": [{"identifierValue": "+6281234567890"}]},
            "reference": "outbox-42",
            "template": {"projectId": "proj-123", "version": "ver-7", "locale": "id",
                "parameters": [
                    {"type": "string", "key": "nama", "value": "BUDI"},
                    {"type": "string", "key": "nomor_izin", "value": "503/0457/IUT/2024"}
                ]}
        })
    );
    assert_eq!(
        requests[1].json()["body"],
        json!({"type": "text", "text": {"text": "Halo"}})
    );

    // Without the template's Bird Studio variable names nothing is sent (Bird keys parameters
    // by name; "1", "2" would be refused).
    let unnamed = BirdProvider::new(BirdConfig {
        base_url: server.url.clone(),
        workspace_id: "ws-1".into(),
        channel_id: "ch-wa".into(),
        template_project_ids: HashMap::from([(
            "izin_peringatan_berlaku".to_string(),
            ("proj-123".to_string(), "ver-7".to_string()),
        )]),
        timeout: SHORT,
        ..BirdConfig::default()
    })
    .unwrap();
    let error = assert_error(
        unnamed.send(&template_message()).await,
        FailureKind::TemplateParameters,
        SendOutcome::NotSent,
    );
    assert!(
        error.detail.contains("WHATSAPP_BIRD_TEMPLATES"),
        "{}",
        error.detail
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn bird_maps_errors() {
    let server = mock(vec![json_reply(
        401,
        json!({"code":"Unauthorized","message":"invalid access key"}),
    )])
    .await;
    let error = assert_error(
        bird(&server.url).send(&text_message("Halo")).await,
        FailureKind::Unauthorized,
        SendOutcome::NotSent,
    );
    assert_eq!(error.code.as_deref(), Some("Unauthorized"));
    let server = mock(vec![json_reply(
        422,
        json!({"code":"InvalidPayload","message":"receiver is invalid"}),
    )])
    .await;
    assert_error(
        bird(&server.url).send(&text_message("Halo")).await,
        FailureKind::InvalidRequest,
        SendOutcome::NotSent,
    );
    let server = mock(vec![html_reply(503)]).await;
    assert_error(
        bird(&server.url).send(&text_message("Halo")).await,
        FailureKind::ProviderUnavailable,
        SendOutcome::NotSent,
    );
    let server = mock(vec![slow_reply()]).await;
    assert_error(
        bird(&server.url).send(&text_message("Halo")).await,
        FailureKind::Timeout,
        SendOutcome::Unknown,
    );
}

const BIRD_URL: &str = "https://companion.example.go.id/webhooks/whatsapp/bird";
const BIRD_WEBHOOK: &str = r#"{"service":"channels","event":"whatsapp.outbound","payload":{"id":"0f5c3d7e-bird-msg","channelId":"ch-wa","reference":"outbox-42","status":"delivered","direction":"outgoing","createdAt":"2024-10-24T10:00:00.000Z","updatedAt":"2024-10-24T10:00:05.000Z"}}"#;

#[tokio::test]
async fn bird_webhook_signature_and_parse() {
    let provider = bird("http://unused");
    let body = BIRD_WEBHOOK.as_bytes();
    let now = Utc::now().timestamp();
    let ts = now.to_string();
    let sig = bird::signature("bird-signing-key", &ts, BIRD_URL, body);
    let good = headers(&[
        ("messagebird-signature", &sig),
        ("messagebird-request-timestamp", &ts),
    ]);
    let request = |body: &[u8], headers: &HeaderMap| {
        provider.verify_webhook(&WebhookRequest {
            url: BIRD_URL,
            headers,
            body,
        })
    };
    assert_eq!(request(body, &good), Ok(()));
    // Milliseconds are read too.
    let ms = format!("{now}000");
    let in_ms = headers(&[
        (
            "messagebird-signature",
            &bird::signature("bird-signing-key", &ms, BIRD_URL, body),
        ),
        ("messagebird-request-timestamp", &ms),
    ]);
    assert_eq!(request(body, &in_ms), Ok(()));
    let other_ts = (now + 1).to_string();
    let other_time = headers(&[
        ("messagebird-signature", &sig),
        ("messagebird-request-timestamp", &other_ts),
    ]);
    // Correctly signed, but an hour old: a replay.
    let old_ts = (now - 3600).to_string();
    let replayed = headers(&[
        (
            "messagebird-signature",
            &bird::signature("bird-signing-key", &old_ts, BIRD_URL, body),
        ),
        ("messagebird-request-timestamp", &old_ts),
    ]);
    // An absurd timestamp is refused, not an arithmetic overflow.
    let absurd = i64::MIN.to_string();
    let absurd_time = headers(&[
        (
            "messagebird-signature",
            &bird::signature("bird-signing-key", &absurd, BIRD_URL, body),
        ),
        ("messagebird-request-timestamp", &absurd),
    ]);
    let no_time = headers(&[("messagebird-signature", &sig)]);
    let wrong = headers(&[
        (
            "messagebird-signature",
            &bird::signature("other", &ts, BIRD_URL, body),
        ),
        ("messagebird-request-timestamp", &ts),
    ]);
    let changed = flip_one_byte(body);
    for (body, headers) in [
        (body, &other_time),
        (body, &replayed),
        (body, &absurd_time),
        (body, &no_time),
        (body, &wrong),
        (body, &HeaderMap::new()),
        (changed.as_slice(), &good),
    ] {
        assert!(matches!(
            request(body, headers),
            Err(WebhookError::Unauthorized(_))
        ));
    }

    let events = provider
        .parse_webhook(&WebhookRequest {
            url: BIRD_URL,
            headers: &good,
            body,
        })
        .unwrap();
    assert_eq!(
        events,
        vec![WebhookEvent::Status {
            provider_id: "0f5c3d7e-bird-msg".into(),
            reference: Some("outbox-42".into()),
            status: DeliveryStatus::Delivered,
            at: Utc.with_ymd_and_hms(2024, 10, 24, 10, 0, 5).single(),
            failure: None,
        }]
    );

    // Failures as Bird documents them ("Message Failure Codes/Sources"): `sending_failed` /
    // `delivery_failed` with `failure.code` and `failure.source {name, code}`, `reason`,
    // `details`; no `failure.description`.
    let parse = |body: &[u8]| {
        provider.parse_webhook(&WebhookRequest {
            url: BIRD_URL,
            headers: &good,
            body,
        })
    };
    let failed = br#"{"service":"channels","event":"whatsapp.outbound","payload":{"id":"m2","channelId":"ch-wa","status":"delivery_failed","reason":"Message undeliverable","details":"Recipient is not a WhatsApp user","failure":{"code":7,"source":{"name":"whatsapp","code":"131026"}},"direction":"outgoing","lastStatusAt":"2024-10-24T10:03:00.000Z","updatedAt":"2024-10-24T10:03:00.100Z"}}"#;
    assert_eq!(
        parse(failed).unwrap(),
        vec![WebhookEvent::Status {
            provider_id: "m2".into(),
            reference: None,
            status: DeliveryStatus::Failed,
            at: Utc.with_ymd_and_hms(2024, 10, 24, 10, 3, 0).single(),
            failure: Some((
                FailureKind::NotOnWhatsApp,
                Some("7".into()),
                "Message undeliverable; Recipient is not a WhatsApp user; source whatsapp 131026"
                    .into()
            )),
        }]
    );
    let sending_failed = br#"{"service":"channels","event":"whatsapp.outbound","payload":{"id":"m3","status":"sending_failed","reason":"template not found","failure":{"code":12,"source":{"name":"bird"}},"direction":"outgoing"}}"#;
    assert!(matches!(
        parse(sending_failed).unwrap().as_slice(),
        [WebhookEvent::Status { provider_id, status: DeliveryStatus::Failed,
            failure: Some((FailureKind::Other, Some(code), detail)), .. }]
            if provider_id == "m3" && code == "12" && detail.contains("template not found")
    ));
    // The words the old adapter looked for are not Bird's: not receipts.
    for word in [
        "failed",
        "rejected",
        "undeliverable",
        "accepted",
        "processing",
    ] {
        let body = format!(
            r#"{{"service":"channels","event":"whatsapp.outbound","payload":{{"id":"m4","status":"{word}","direction":"outgoing"}}}}"#
        );
        assert_eq!(parse(body.as_bytes()).unwrap(), vec![], "{word}");
    }
    // "read" is a separate interaction naming the message.
    let read = br#"{"service":"channels","event":"whatsapp.interaction","payload":{"id":"int-1","channelId":"ch-wa","type":"read","messageId":"0f5c3d7e-bird-msg","createdAt":"2024-10-24T10:05:00.000Z"}}"#;
    assert_eq!(
        parse(read).unwrap(),
        vec![WebhookEvent::Status {
            provider_id: "0f5c3d7e-bird-msg".into(),
            reference: None,
            status: DeliveryStatus::Read,
            at: Utc.with_ymd_and_hms(2024, 10, 24, 10, 5, 0).single(),
            failure: None,
        }]
    );
    let reaction = br#"{"service":"channels","event":"whatsapp.interaction","payload":{"id":"int-2","type":"reaction","messageId":"0f5c3d7e-bird-msg"}}"#;
    assert_eq!(parse(reaction).unwrap(), vec![]);
}

// ---------------------------------------------------------------------------------------------
// Vonage

fn vonage_basic(base_url: &str) -> VonageProvider {
    VonageProvider::new(VonageConfig {
        base_url: base_url.into(),
        from: "14157386102".into(),
        auth: VonageAuth::Basic {
            api_key: "abcd1234".into(),
            api_secret: Secret::new("vonage-api-secret"),
        },
        signature_secret: Secret::new("vonage-signature-secret"),
        timeout: SHORT,
    })
    .unwrap()
}

const TEST_KEY: &str = include_str!("fixtures/vonage_test_key.pem");

#[tokio::test]
async fn vonage_sends_text_with_basic_auth() {
    let server = mock(vec![json_reply(
        202,
        json!({"message_uuid":"aaaaaaaa-bbbb-cccc-dddd-0123456789ab"}),
    )])
    .await;
    let accepted = vonage_basic(&server.url)
        .send(&text_message("Halo"))
        .await
        .unwrap();
    assert_eq!(accepted.provider_id, "aaaaaaaa-bbbb-cccc-dddd-0123456789ab");
    let request = server.only_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/messages");
    let basic = BASE64.encode("abcd1234:vonage-api-secret");
    assert_eq!(request.header("authorization"), format!("Basic {basic}"));
    assert!(
        request
            .header("content-type")
            .starts_with("application/json")
    );
    assert_eq!(
        request.json(),
        json!({"channel":"whatsapp","message_type":"text","to":"6281234567890",
               "from":"14157386102","text":"Halo","client_ref":"outbox-42"})
    );
}

#[tokio::test]
async fn vonage_sends_template_with_application_jwt() {
    let server = mock(vec![json_reply(
        202,
        json!({"message_uuid":"11111111-2222-3333-4444-555555555555"}),
    )])
    .await;
    let provider = VonageProvider::new(VonageConfig {
        base_url: server.url.clone(),
        from: "+14157386102".into(),
        auth: VonageAuth::Jwt {
            application_id: "app-0001".into(),
            private_key_pem: Secret::new(TEST_KEY),
        },
        signature_secret: Secret::new("vonage-signature-secret"),
        timeout: SHORT,
    })
    .unwrap();
    provider.send(&template_message()).await.unwrap();
    let request = server.only_request();
    assert_eq!(
        request.json(),
        json!({"channel":"whatsapp","message_type":"custom","to":"6281234567890",
               "from":"14157386102","client_ref":"outbox-42",
               "custom":{"type":"template","template":{"name":"izin_peringatan_berlaku",
                   "language":{"policy":"deterministic","code":"id"},
                   "components":[{"type":"body","parameters":[
                       {"type":"text","text":"BUDI"},{"type":"text","text":"503/0457/IUT/2024"}]}]}}})
    );

    // The bearer token is an RS256 JWT that verifies with the key's public half.
    let token = request
        .header("authorization")
        .strip_prefix("Bearer ")
        .expect("bearer token")
        .to_string();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&B64URL.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    let claims: Value = serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["application_id"], "app-0001");
    let iat = claims["iat"].as_i64().unwrap();
    let exp = claims["exp"].as_i64().unwrap();
    assert!((Utc::now().timestamp() - iat).abs() < 60);
    assert!(exp > iat && exp - iat <= 900);
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));

    // Checked with OpenSSL directly, not through the code under test.
    let key = openssl::pkey::PKey::private_key_from_pem(TEST_KEY.as_bytes()).unwrap();
    let public =
        openssl::pkey::PKey::public_key_from_pem(&key.public_key_to_pem().unwrap()).unwrap();
    let signed = format!("{}.{}", parts[0], parts[1]);
    let mut verifier =
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &public).unwrap();
    verifier.update(signed.as_bytes()).unwrap();
    assert!(
        verifier.verify(&B64URL.decode(parts[2]).unwrap()).unwrap(),
        "RS256 signature verifies"
    );
}

#[test]
fn vonage_rejects_a_bad_private_key() {
    let result = VonageProvider::new(VonageConfig {
        from: "14157386102".into(),
        auth: VonageAuth::Jwt {
            application_id: "app".into(),
            private_key_pem: Secret::new(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            ),
        },
        ..VonageConfig::default()
    });
    assert!(matches!(result, Err(ConfigError::Invalid { .. })));
}

#[tokio::test]
async fn vonage_maps_problem_errors() {
    let cases = [
        (401, "Unauthorized", FailureKind::Unauthorized),
        (422, "Invalid params", FailureKind::InvalidRequest),
        (429, "Rate Limit Hit", FailureKind::RateLimited),
        (402, "Low balance", FailureKind::Payment),
    ];
    for (status, title, kind) in cases {
        let server = mock(vec![Canned {
            content_type: "application/problem+json",
            ..json_reply(
                status,
                json!({"type":"https://developer.vonage.com/api-errors#x","title":title,
                       "detail":"Problem detail","instance":"bf0ca0bf927b3b52e3cb03217e1a1ddf"}),
            )
        }])
        .await;
        let error = assert_error(
            vonage_basic(&server.url).send(&text_message("Halo")).await,
            kind,
            SendOutcome::NotSent,
        );
        assert_eq!(error.detail, format!("{title}: Problem detail"));
    }
    let server = mock(vec![html_reply(500)]).await;
    assert_error(
        vonage_basic(&server.url).send(&text_message("Halo")).await,
        FailureKind::ProviderUnavailable,
        SendOutcome::NotSent,
    );
    let server = mock(vec![slow_reply()]).await;
    assert_error(
        vonage_basic(&server.url).send(&text_message("Halo")).await,
        FailureKind::Timeout,
        SendOutcome::Unknown,
    );
}

const VONAGE_STATUS: &str = r#"{"message_uuid":"aaaaaaaa-bbbb-cccc-dddd-0123456789ab","to":"6281234567890","from":"14157386102","timestamp":"2024-10-24T10:00:05.000Z","status":"delivered","channel":"whatsapp","client_ref":"outbox-42","usage":{"currency":"EUR","price":"0.0333"}}"#;

fn hs256(secret: &str, claims: Value, alg: &str) -> String {
    use hmac::{Hmac, Mac};
    let input = format!(
        "{}.{}",
        B64URL.encode(json!({"alg":alg,"typ":"JWT"}).to_string()),
        B64URL.encode(claims.to_string())
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", B64URL.encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn vonage_webhook_signature() {
    use sha2::Digest;
    let provider = vonage_basic("http://unused");
    let body = VONAGE_STATUS.as_bytes();
    let verify = |body: &[u8], token: Option<&str>| {
        let headers = match token {
            Some(t) => headers(&[("authorization", &format!("Bearer {t}"))]),
            None => HeaderMap::new(),
        };
        provider.verify_webhook(&WebhookRequest {
            url: "https://companion.example.go.id/webhooks/whatsapp/vonage",
            headers: &headers,
            body,
        })
    };
    let now = Utc::now().timestamp();
    let good = vonage::webhook_token("vonage-signature-secret", body, now);
    assert_eq!(verify(body, Some(&good)), Ok(()));

    let hash = hex::encode(sha2::Sha256::digest(body));
    let with_exp = hs256(
        "vonage-signature-secret",
        json!({"iat":now,"exp":now + 300,"payload_hash":hash}),
        "HS256",
    );
    assert_eq!(verify(body, Some(&with_exp)), Ok(()));

    let wrong = vonage::webhook_token("other-secret", body, now);
    let expired = hs256(
        "vonage-signature-secret",
        json!({"iat":now - 7200,"exp":now - 3600,"payload_hash":hash}),
        "HS256",
    );
    let no_hash = hs256("vonage-signature-secret", json!({"iat":now}), "HS256");
    let alg_none = format!(
        "{}.{}.",
        B64URL.encode(r#"{"alg":"none"}"#),
        B64URL.encode(json!({"payload_hash":hash}).to_string())
    );
    let changed = flip_one_byte(body);
    for (body, token) in [
        (body, Some(wrong.as_str())),
        (body, None),
        (body, Some("not-a-jwt")),
        (body, Some(expired.as_str())),
        (body, Some(no_hash.as_str())),
        (body, Some(alg_none.as_str())),
        (changed.as_slice(), Some(good.as_str())),
    ] {
        assert!(
            matches!(verify(body, token), Err(WebhookError::Unauthorized(_))),
            "{token:?}"
        );
    }
}

#[tokio::test]
async fn vonage_webhook_statuses_and_inbound() {
    let provider = vonage_basic("http://unused");
    let none = HeaderMap::new();
    let parse = |body: &str| {
        provider.parse_webhook(&WebhookRequest {
            url: "https://x",
            headers: &none,
            body: body.as_bytes(),
        })
    };
    assert_eq!(
        parse(VONAGE_STATUS).unwrap(),
        vec![WebhookEvent::Status {
            provider_id: "aaaaaaaa-bbbb-cccc-dddd-0123456789ab".into(),
            reference: Some("outbox-42".into()),
            status: DeliveryStatus::Delivered,
            at: Utc.with_ymd_and_hms(2024, 10, 24, 10, 0, 5).single(),
            failure: None,
        }]
    );
    let rejected = parse(
        r#"{"message_uuid":"m-2","to":"6281","from":"1415","timestamp":"2024-10-24T10:00:05Z","status":"rejected","channel":"whatsapp","error":{"type":"https://developer.nexmo.com/api-errors/messages-olympus#1340","title":1340,"detail":"Outside the allowed window","instance":"i"}}"#,
    )
    .unwrap();
    assert_eq!(
        rejected,
        vec![WebhookEvent::Status {
            provider_id: "m-2".into(),
            reference: None,
            status: DeliveryStatus::Failed,
            at: Utc.with_ymd_and_hms(2024, 10, 24, 10, 0, 5).single(),
            failure: Some((
                FailureKind::WindowClosed,
                Some("1340".into()),
                "1340: Outside the allowed window".into()
            )),
        }]
    );
    assert_eq!(
        parse(r#"{"message_uuid":"m-3","status":"submitted","timestamp":"2024-10-24T10:00:00Z"}"#)
            .unwrap()
            .len(),
        1
    );
    let inbound = parse(
        r#"{"channel":"whatsapp","message_uuid":"in-1","to":"14157386102","from":"6281234567890","timestamp":"2024-10-24T11:00:00Z","message_type":"text","text":"Halo","profile":{"name":"Budi"}}"#,
    )
    .unwrap();
    assert_eq!(
        inbound,
        vec![WebhookEvent::Inbound {
            from: "+6281234567890".into(),
            text: "Halo".into(),
            provider_message_id: "in-1".into(),
            at: Utc.with_ymd_and_hms(2024, 10, 24, 11, 0, 0).single(),
        }]
    );
    assert!(matches!(parse("{}"), Err(WebhookError::Malformed(_))));
}
