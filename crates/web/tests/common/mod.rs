//! Shared set-up for the web tests: a database with one user per role, their API tokens,
//! sessions made on demand, and requests sent through the real router.

#![allow(dead_code)]

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use companion_db::User;
use companion_db::testing::TestDb;
use companion_domain::accounts::{hash_password, random_secret, secret_digest};
use companion_domain::{DataFlags, IncomingPermit, PermitStatus, Role, plan_page};
use companion_web::{AppState, router};
use tower::ServiceExt;

pub const PASSWORD: &str = "kata-sandi-uji-1";

pub struct Harness {
    pub t: TestDb,
    /// The documents' local object store (removed on drop).
    pub store: companion_storage::testing::LocalStore,
    pub documents: companion_documents::Documents,
    pub router: Router,
    /// The state behind `router`, for tests that build a router with other settings.
    pub state: AppState,
    pub users: HashMap<Role, User>,
    pub tokens: HashMap<Role, String>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    /// The body as sent (binary files).
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
    /// The value of a cookie this reply sets.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

/// A browser session for `user`, made directly in the database: (cookie value, CSRF token).
pub async fn session_for(db: &companion_db::Database, user: &User) -> (String, String) {
    let sid = random_secret();
    let csrf = random_secret();
    db.create_session(&companion_db::NewSession {
        id_digest: &secret_digest(&sid),
        user_id: user.id,
        csrf_token: &csrf,
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        client_addr: "test",
        user_agent: "test",
    })
    .await
    .expect("session");
    (sid, csrf)
}

pub async fn harness(backend: &str) -> Harness {
    harness_with(backend, false).await
}

/// The harness with the signing workflow (a throw-away CA and seal key, no TSA).
pub async fn harness_with_signing(backend: &str) -> Harness {
    harness_with(backend, true).await
}

async fn harness_with(backend: &str, signing: bool) -> Harness {
    let t = TestDb::new(backend).await.expect("test db");
    let hash = hash_password(PASSWORD).expect("hash");
    let mut users = HashMap::new();
    let mut tokens = HashMap::new();
    for role in Role::ALL {
        let u =
            t.db.create_user(&format!("uji.{}", role.as_str()), "Uji", role, &hash)
                .await
                .expect("user");
        let secret = companion_domain::accounts::new_api_token();
        t.db.create_api_token(u.id, "test", &secret_digest(&secret), "test")
            .await
            .expect("token");
        tokens.insert(role, secret);
        users.insert(role, u);
    }
    seed_permits(&t.db).await;
    let store = companion_storage::testing::LocalStore::new().expect("object store");
    let documents = companion_documents::Documents::new(
        t.db.clone(),
        store.storage.clone(),
        companion_documents::DocumentsConfig {
            max_pdf_bytes: 200_000,
            ..Default::default()
        },
    )
    .await
    .expect("documents");
    let mut state = AppState::new(t.db.clone(), chrono_tz::Asia::Jakarta);
    // Pages change under the tests' feet (direct SQL): no reuse of rendered QR pages.
    state.config.portal_page_cache = std::time::Duration::ZERO;
    state.documents = Some(documents.clone());
    if signing {
        // A seal states both dates (issue 21): the issued permit has them, as SICANTIK's
        // expiry look-up would have filled them.
        companion_db::testing::execute_raw(
            &t.db,
            "UPDATE permits SET issue_date = '2024-06-03', expiry_date = '2029-06-03' WHERE pendaftaran_id = '0142307703072025'",
        )
        .await
        .expect("dates");
        let ca = companion_pdf::keys::new_ca("Uji CA", 1).expect("ca");
        let signer = companion_pdf::keys::issue_signer(&ca, "Pejabat Uji", 30).expect("signer");
        state.trust_anchors = std::sync::Arc::new(vec![ca.certificate.clone()]);
        state.signing = Some(companion_signing::SigningService::new(
            t.db.clone(),
            documents.clone(),
            signer,
            companion_domain::seal::new_seal_key(),
            companion_signing::SigningConfig {
                public_base_url: "http://127.0.0.1:8080".into(),
                placement: companion_pdf::stamp::Placement::default(),
                location: "Kabanjahe".into(),
                tsa: None,
                visible_role: None,
                utc_offset: chrono::FixedOffset::east_opt(7 * 3600).expect("offset"),
            },
        ));
    }
    let router = router(state.clone());
    Harness {
        t,
        store,
        documents,
        router,
        state,
        users,
        tokens,
    }
}

pub async fn seed_permits(db: &companion_db::Database) {
    let mut flags = DataFlags::new();
    flags.insert("applicant_name".into(), "junk:0".into());
    let rows = vec![
        IncomingPermit {
            pendaftaran_id: "0142307703072025".into(),
            status: PermitStatus::Issued,
            applicant_name: Some("<script>alert(1)</script> GINTING".into()),
            permit_type_name: Some("IZIN USAHA TOKO".into()),
            permit_number: Some("503/0112/IUT/DPM-PTSP/2024".into()),
            flags: DataFlags::new(),
        },
        IncomingPermit {
            pendaftaran_id: "0150300102102025".into(),
            status: PermitStatus::InProcess,
            applicant_name: None,
            permit_type_name: Some("IZIN USAHA MIKRO KECIL".into()),
            permit_number: None,
            flags,
        },
    ];
    let plan = plan_page(&rows, &Default::default());
    db.apply_page(&plan, None, &[], &[]).await.expect("seed");
}

/// A request through the router. `cookie` is a raw Cookie header; `form` an urlencoded body;
/// `json` a JSON body.
pub struct Call<'a> {
    pub method: Method,
    pub path: &'a str,
    pub cookie: Option<String>,
    pub bearer: Option<&'a str>,
    pub form: Option<String>,
    pub json: Option<serde_json::Value>,
    pub csrf_header: Option<&'a str>,
    pub multipart: Option<Vec<(String, Vec<u8>)>>,
    pub headers: Vec<(&'static str, String)>,
    /// Raw body bytes (content type set with `header`).
    pub raw: Option<Vec<u8>>,
    /// The socket's peer, as the server's `ConnectInfo` gives it (none when unset).
    pub peer: Option<std::net::SocketAddr>,
}

const BOUNDARY: &str = "companion-test-boundary-7d1f";

/// A multipart/form-data body with one `berkas` file field per (name, bytes).
pub fn multipart_body(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"berkas\"; filename=\"{name}\"\r\nContent-Type: application/pdf\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

impl<'a> Call<'a> {
    pub fn new(method: &str, path: &'a str) -> Self {
        Self {
            method: method.parse().expect("method"),
            path,
            cookie: None,
            bearer: None,
            form: None,
            json: None,
            csrf_header: None,
            multipart: None,
            headers: Vec::new(),
            raw: None,
            peer: None,
        }
    }
    pub fn peer(mut self, addr: &str) -> Self {
        self.peer = Some(addr.parse().expect("socket address"));
        self
    }
    pub fn body(mut self, bytes: Vec<u8>) -> Self {
        self.raw = Some(bytes);
        self
    }
    pub fn files(mut self, files: Vec<(String, Vec<u8>)>) -> Self {
        self.multipart = Some(files);
        self
    }
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub fn cookie(mut self, c: String) -> Self {
        self.cookie = Some(c);
        self
    }
    pub fn bearer(mut self, t: &'a str) -> Self {
        self.bearer = Some(t);
        self
    }
    pub fn form(mut self, f: impl Into<String>) -> Self {
        self.form = Some(f.into());
        self
    }
    pub fn json(mut self, j: serde_json::Value) -> Self {
        self.json = Some(j);
        self
    }
    pub fn csrf_header(mut self, c: &'a str) -> Self {
        self.csrf_header = Some(c);
        self
    }

    pub async fn send(self, router: &Router) -> Reply {
        let mut req = Request::builder().method(self.method).uri(self.path);
        if let Some(c) = &self.cookie {
            req = req.header(header::COOKIE, c);
        }
        if let Some(b) = self.bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {b}"));
        }
        if let Some(c) = self.csrf_header {
            req = req.header("x-csrf-token", c);
        }
        for (k, v) in &self.headers {
            req = req.header(*k, v);
        }
        let body = if let Some(files) = &self.multipart {
            req = req.header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            );
            Body::from(multipart_body(files))
        } else if let Some(f) = self.form {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(f)
        } else if let Some(j) = self.json {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(j.to_string())
        } else if let Some(b) = self.raw {
            Body::from(b)
        } else {
            Body::empty()
        };
        let mut req = req.body(body).expect("request");
        if let Some(peer) = self.peer {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
        }
        let response = router.clone().oneshot(req).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 50 << 20)
            .await
            .expect("body");
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes: bytes.to_vec(),
        }
    }
}

/// Logs in through the form like a browser: returns the session cookie value.
pub async fn login(router: &Router, username: &str, password: &str) -> Reply {
    let form = Call::new("GET", "/masuk").send(router).await;
    let csrf = form.set_cookie("sc_login").expect("login csrf cookie");
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf)
        .append_pair("username", username)
        .append_pair("password", password)
        .finish();
    Call::new("POST", "/masuk")
        .cookie(format!("sc_login={csrf}"))
        .form(body)
        .send(router)
        .await
}

/// A letter numbered `number` for permit `permit`, uploaded by staff, submitted, and approved by
/// the official through the API: the case id, stamped and ready to sign.
#[allow(dead_code)] // not every test file signs
pub async fn approved_case(h: &Harness, permit: &str, number: &str) -> i64 {
    let mut letter = companion_pdf::letter::PermitLetter::example();
    letter.permit_number = number.to_string();
    let up = Call::new("POST", &format!("/api/v1/permits/{permit}/documents"))
        .bearer(&h.tokens[&Role::Staff])
        .files(vec![(
            "surat.pdf".into(),
            companion_pdf::letter::render(&letter, 0),
        )])
        .send(&h.router)
        .await;
    let doc = up.json()["files"][0]["document"]["id"]
        .as_i64()
        .expect("doc");
    let r = Call::new("POST", "/api/v1/signing/cases")
        .bearer(&h.tokens[&Role::Staff])
        .json(serde_json::json!({"document_id": doc}))
        .send(&h.router)
        .await;
    let id = r.json()["id"].as_i64().expect("case");
    let r = Call::new("POST", &format!("/api/v1/signing/cases/{id}/steps"))
        .bearer(&h.tokens[&Role::Official])
        .json(serde_json::json!({"action": "approve"}))
        .send(&h.router)
        .await;
    assert_eq!(r.json()["state"], "stamped", "{}", r.body);
    id
}
