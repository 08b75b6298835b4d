//! A BSrE "Esign Client Service" simulator (`shared/spec/bsre-api.md`): both wire variants
//! (v1 multipart answering the raw signed PDF, v2 JSON with base64 files and bulk signing), the
//! user-status endpoints, HTTP Basic client credentials, the known error codes (2011 user not
//! registered / certificate not active, 2031 wrong passphrase) and the reported quirks (v2 wants
//! an `imageBase64` even for invisible signatures; a 500 whose body still carries the file).
//! Signatures are real PAdES from the simulator's own CA, timestamped by its own TSA.
//!
//! Its PKI is shaped like BSrE's: a root ("Root CA Indonesia" in real life) over an issuing CA
//! (BSrE's "OSD" CAs) that issues each official's certificate, and a TSA under the root. Every
//! certificate below the root names a CRL distribution point and an OCSP responder (AIA), as
//! real BSrE certificates do; the simulator serves them itself at `/pki/osd.crl`,
//! `/pki/ca.crl`, `/pki/osd.crt`, `/pki/ca.crt` and `/pki/ocsp` (the real hosts and paths are
//! not in the spec: only the shape is modelled). `BsreSim::revoke` revokes an official's
//! certificate there.

// The helpers return the HTTP answer itself as their error; a test double, not a hot path.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use companion_pdf::keys::SigningIdentity;
use companion_pdf::pki::{CaEntry, CrlReason, LeafKind, Pki, PkiUrls};
use companion_pdf::sign::{CmsSigner, SignatureInfo, VisibleSignature, prepare_signature};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A signer known to the simulated service.
#[derive(Debug, Clone)]
pub struct BsreSimUser {
    pub nik: String,
    pub name: String,
    pub passphrase: String,
    /// `ISSUE` (usable), or e.g. `EXPIRED`, `REVOKED`, `UNVERIFIED`.
    pub status: String,
}

#[derive(Debug, Clone)]
pub struct BsreSimConfig {
    /// The client application's Basic-auth credentials.
    pub username: String,
    pub password: String,
    pub users: Vec<BsreSimUser>,
    /// Added to every sign call (real signing takes seconds).
    pub latency: Duration,
}

/// What the next sign calls do instead of signing normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BsreFault {
    None,
    /// Never answer: the client's timeout fires and the outcome is unknown to it.
    Hang,
    /// HTTP 500 with a JSON error and no file.
    ServerError,
    /// HTTP 500 whose JSON still carries the signed file (reported by the earlier attempt).
    ServerErrorWithFile,
    /// 503 with an HTML page, as a proxy in front of a stopped service answers.
    Unavailable,
}

impl BsreFault {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Self::None,
            "hang" => Self::Hang,
            "error500" => Self::ServerError,
            "error500-with-file" => Self::ServerErrorWithFile,
            "unavailable" => Self::Unavailable,
            _ => return None,
        })
    }
}

/// The URL name of the issuing CA (`/pki/osd.crl`).
const ISSUING: &str = "osd";

struct BsreState {
    config: BsreSimConfig,
    ca: SigningIdentity,
    /// Issues the officials' certificates (under `ca`).
    issuing: SigningIdentity,
    urls: PkiUrls,
    pki: Arc<crate::revocation::SimPki>,
    tsa: SigningIdentity,
    /// One certificate per signer, issued on first use (RSA key generation is slow).
    identities: Mutex<HashMap<String, Arc<SigningIdentity>>>,
    fault: Mutex<BsreFault>,
    sign_calls: AtomicU64,
    /// How often each input document (by SHA-256) was signed: tests prove "never twice".
    signed: Mutex<HashMap<[u8; 32], u32>>,
    /// v1 keeps the signed files for `/api/sign/download/{id_dokumen}`.
    downloads: Mutex<HashMap<String, Vec<u8>>>,
    serial: AtomicU64,
}

/// A BSrE business error: HTTP 400 with `{"error", "status_code"}`.
fn business(code: u32, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": message, "status_code": code})),
    )
        .into_response()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"esign\"")],
        Json(json!({"error": "Unauthorized", "status_code": 401})),
    )
        .into_response()
}

impl BsreState {
    fn authorised(&self, headers: &HeaderMap) -> bool {
        let expected = format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.config.username, self.config.password))
        );
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == expected)
    }

    fn user(&self, nik: &str) -> Option<&BsreSimUser> {
        self.config.users.iter().find(|u| u.nik == nik)
    }

    /// The checks BSrE makes before signing, as business errors.
    fn authorise_signer(&self, nik: &str, passphrase: &str) -> Result<&BsreSimUser, Response> {
        let Some(user) = self.user(nik) else {
            return Err(business(2011, "User tidak terdaftar"));
        };
        if user.status != "ISSUE" {
            // Expired or revoked certificates answer with the same code (spec §6).
            return Err(business(2011, "User tidak terdaftar"));
        }
        if user.passphrase != passphrase {
            return Err(business(2031, "Passphrase anda salah"));
        }
        Ok(user)
    }

    fn identity(&self, user: &BsreSimUser) -> Result<Arc<SigningIdentity>, String> {
        let mut ids = self.identities.lock().map_err(|e| e.to_string())?;
        if let Some(id) = ids.get(&user.nik) {
            return Ok(id.clone());
        }
        let id = Arc::new(
            companion_pdf::pki::issue_leaf(
                &self.issuing,
                &user.name,
                730,
                LeafKind::Signer,
                Some((&self.urls, ISSUING)),
            )
            .map_err(|e| e.to_string())?,
        );
        self.pki.add_issued(ISSUING, &id.certificate);
        ids.insert(user.nik.clone(), id.clone());
        Ok(id)
    }

    /// A real PAdES B-T signature over `pdf`.
    fn sign(
        &self,
        user: &BsreSimUser,
        pdf: &[u8],
        visible: Option<VisibleSignature>,
        page: u32,
        reason: &str,
        location: &str,
    ) -> Result<Vec<u8>, Response> {
        let bad_doc = |e: &dyn std::fmt::Display| {
            tracing::debug!(error = %e, "BSrE simulator: unusable document");
            business(2002, "Dokumen tidak valid atau rusak")
        };
        let identity = self
            .identity(user)
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e).into_response())?;
        let info = SignatureInfo {
            name: user.name.clone(),
            reason: reason.to_string(),
            location: location.to_string(),
            time: chrono::Utc::now().fixed_offset(),
            visible,
        };
        let prepared = prepare_signature(pdf, page.max(1), &info).map_err(|e| bad_doc(&e))?;
        let cms = identity
            .sign_digest(&prepared.digest)
            .map_err(|e| bad_doc(&e))?;
        let cms = self.timestamp(&cms).map_err(|e| bad_doc(&e))?;
        let signed = prepared.finish(&cms).map_err(|e| bad_doc(&e))?;
        self.sign_calls.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut seen) = self.signed.lock() {
            *seen.entry(Sha256::digest(pdf).into()).or_default() += 1;
        }
        Ok(signed)
    }

    fn timestamp(&self, cms: &[u8]) -> Result<Vec<u8>, String> {
        use companion_pdf::timestamp as ts;
        let imprint = ts::signature_imprint(cms).map_err(|e| e.to_string())?;
        let nonce = self.serial.fetch_add(1, Ordering::Relaxed);
        let request = ts::request(&imprint, nonce).map_err(|e| e.to_string())?;
        let reply = ts::respond(&self.tsa, &request, nonce, std::time::SystemTime::now())
            .map_err(|e| e.to_string())?;
        let token = ts::token_from_response(&reply, &imprint, nonce).map_err(|e| e.to_string())?;
        ts::add_timestamp(cms, &token).map_err(|e| e.to_string())
    }

    /// Latency and injected faults before a sign call answers. `Some` is the answer to give
    /// instead of the normal one (the document may still have been signed, as in reality).
    async fn before_answer(&self) -> Option<Response> {
        tokio::time::sleep(self.config.latency).await;
        let fault = self.fault.lock().map(|f| *f).unwrap_or(BsreFault::None);
        match fault {
            BsreFault::None | BsreFault::ServerErrorWithFile => None,
            BsreFault::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                None
            }
            BsreFault::ServerError => Some(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"error": "Internal Server Error", "status_code": 500})),
                )
                    .into_response(),
            ),
            BsreFault::Unavailable => Some(
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::CONTENT_TYPE, "text/html")],
                    "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
                )
                    .into_response(),
            ),
        }
    }

    fn fault(&self) -> BsreFault {
        self.fault.lock().map(|f| *f).unwrap_or(BsreFault::None)
    }
}

type Shared = Arc<BsreState>;

fn field_str(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(v: Option<String>) -> Option<f32> {
    v.and_then(|s| s.trim().parse::<f32>().ok())
}

/// The box of a visible signature from x, y, width and height (all required).
fn visible_box(fields: [Option<String>; 4]) -> Result<VisibleSignature, Response> {
    let [Some(x), Some(y), Some(w), Some(h)] = fields.map(number) else {
        return Err(business(2000, "Koordinat tanda tangan visible wajib diisi"));
    };
    Ok(VisibleSignature {
        rect: [x, y, x + w, y + h],
        role: "Ditandatangani secara elektronik".into(),
    })
}

/// `POST /api/sign/pdf` (v1, multipart).
async fn sign_v1(State(state): State<Shared>, headers: HeaderMap, mut form: Multipart) -> Response {
    if !state.authorised(&headers) {
        return unauthorized();
    }
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut file: Option<Vec<u8>> = None;
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                match field.bytes().await {
                    Ok(bytes) if name == "file" => file = Some(bytes.to_vec()),
                    Ok(bytes) => {
                        fields.insert(name, String::from_utf8_lossy(&bytes).into_owned());
                    }
                    Err(_) => return business(2000, "Permintaan tidak lengkap"),
                }
            }
            Ok(None) => break,
            Err(_) => return business(2000, "Permintaan tidak lengkap"),
        }
    }
    let get = |k: &str| fields.get(k).cloned();
    let (Some(pdf), Some(nik), Some(passphrase)) = (file, get("nik"), get("passphrase")) else {
        return business(2000, "Parameter file, nik dan passphrase wajib diisi");
    };
    let user = match state.authorise_signer(&nik, &passphrase) {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    let visible = match get("tampilan").as_deref().map(str::to_ascii_lowercase) {
        Some(t) if t == "visible" => {
            match visible_box([get("xAxis"), get("yAxis"), get("width"), get("height")]) {
                Ok(v) => Some(v),
                Err(r) => return r,
            }
        }
        Some(t) if t == "invisible" => None,
        _ => return business(2000, "Parameter tampilan tidak valid"),
    };
    if let Some(r) = state.before_answer().await {
        return r;
    }
    let page = get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let reason = get("reason").unwrap_or_default();
    let location = get("location").unwrap_or_default();
    let signer = state.clone();
    let signed = tokio::task::spawn_blocking(move || {
        signer.sign(&user, &pdf, visible, page, &reason, &location)
    })
    .await;
    let signed = match signed {
        Ok(Ok(s)) => s,
        Ok(Err(r)) => return r,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let id = format!("{:032x}", rand::random::<u128>());
    if let Ok(mut d) = state.downloads.lock() {
        d.insert(id.clone(), signed.clone());
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::HeaderName::from_static("id_dokumen"), id),
        ],
        signed,
    )
        .into_response()
}

/// `GET /api/sign/download/{id_dokumen}` (v1).
async fn download_v1(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !state.authorised(&headers) {
        return unauthorized();
    }
    let file = state
        .downloads
        .lock()
        .ok()
        .and_then(|d| d.get(&id).cloned());
    match file {
        Some(f) => ([(header::CONTENT_TYPE, "application/pdf")], f).into_response(),
        None => business(2004, "Dokumen tidak ditemukan"),
    }
}

/// `POST /api/v2/sign/pdf` (v2, JSON; several files sign in one call).
async fn sign_v2(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !state.authorised(&headers) {
        return unauthorized();
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return business(2000, "Format JSON tidak valid");
    };
    let started = std::time::Instant::now();
    let nik = field_str(&request, "nik").unwrap_or_default();
    let Some(passphrase) = field_str(&request, "passphrase") else {
        return business(2000, "Parameter passphrase wajib diisi");
    };
    let files: Vec<String> = request
        .get("file")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let props: Vec<Value> = request
        .get("signatureProperties")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if files.is_empty() || props.len() != files.len() {
        return business(
            2000,
            "Jumlah file dan signatureProperties harus sama dan tidak kosong",
        );
    }
    // The reported quirk: an empty imageBase64 is refused, even for invisible signatures.
    if props
        .iter()
        .any(|p| field_str(p, "imageBase64").is_none_or(|s| s.is_empty()))
    {
        return business(2000, "imageBase64 wajib diisi");
    }
    let user = match state.authorise_signer(&nik, &passphrase) {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    let mut jobs = Vec::with_capacity(files.len());
    for (file, prop) in files.iter().zip(&props) {
        let Ok(pdf) = STANDARD.decode(file.trim()) else {
            return business(2000, "File bukan base64 yang valid");
        };
        let visible = match field_str(prop, "tampilan").as_deref() {
            Some("VISIBLE") => {
                match visible_box(
                    ["originX", "originY", "width", "height"].map(|k| field_str(prop, k)),
                ) {
                    Ok(v) => Some(v),
                    Err(r) => return r,
                }
            }
            Some("INVISIBLE") => None,
            _ => return business(2000, "tampilan harus VISIBLE atau INVISIBLE"),
        };
        let page = field_str(prop, "page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let text = |k| {
            field_str(prop, k)
                .filter(|s| s != "null")
                .unwrap_or_default()
        };
        jobs.push((pdf, visible, page, text("reason"), text("location")));
    }
    if let Some(r) = state.before_answer().await {
        return r;
    }
    let signer = state.clone();
    let signed = tokio::task::spawn_blocking(move || {
        jobs.into_iter()
            .map(|(pdf, visible, page, reason, location)| {
                signer.sign(&user, &pdf, visible, page, &reason, &location)
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await;
    let signed = match signed {
        Ok(Ok(s)) => s,
        Ok(Err(r)) => return r,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let status = if state.fault() == BsreFault::ServerErrorWithFile {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    (
        status,
        Json(json!({
            "time": started.elapsed().as_millis() as u64,
            "file": signed.iter().map(|s| STANDARD.encode(s)).collect::<Vec<_>>(),
        })),
    )
        .into_response()
}

fn status_of(state: &BsreState, nik: &str) -> Response {
    match state.user(nik) {
        Some(u) => Json(json!({
            "status_code": 1111,
            "status": u.status,
            "message": if u.status == "ISSUE" { "Sertifikat aktif" } else { "Sertifikat tidak aktif" },
        }))
        .into_response(),
        None => business(1110, "User tidak terdaftar"),
    }
}

/// `GET /api/user/status/{nik}` (v1).
async fn status_v1(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(nik): Path<String>,
) -> Response {
    if !state.authorised(&headers) {
        return unauthorized();
    }
    status_of(&state, &nik)
}

/// `POST /api/v2/user/check/status` with `{"nik"}` (v2).
async fn status_v2(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !state.authorised(&headers) {
        return unauthorized();
    }
    let nik = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| field_str(&v, "nik"))
        .unwrap_or_default();
    status_of(&state, &nik)
}

/// `POST /_sim/fault/{mode}`: none, hang, error500, error500-with-file, unavailable.
async fn set_fault(State(state): State<Shared>, Path(mode): Path<String>) -> Response {
    match BsreFault::parse(&mode) {
        Some(f) => {
            if let Ok(mut g) = state.fault.lock() {
                *g = f;
            }
            StatusCode::NO_CONTENT.into_response()
        }
        None => (StatusCode::BAD_REQUEST, "unknown fault").into_response(),
    }
}

/// `GET /_sim/stats`: sign calls and the most times one document was signed.
async fn stats(State(state): State<Shared>) -> Json<Value> {
    let (documents, max) = state
        .signed
        .lock()
        .map(|s| (s.len(), s.values().copied().max().unwrap_or(0)))
        .unwrap_or_default();
    Json(json!({
        "sign_calls": state.sign_calls.load(Ordering::Relaxed),
        "documents_signed": documents,
        "max_signatures_per_document": max,
    }))
}

/// `GET /_sim/ca.pem`: the simulator's root, to trust its signatures.
async fn ca_pem(State(state): State<Shared>) -> Response {
    match state.ca.certs_pem() {
        Ok(p) => ([(header::CONTENT_TYPE, "application/x-pem-file")], p).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// A running BSrE simulator. Dropping it stops the server.
pub struct BsreSim {
    addr: SocketAddr,
    state: Shared,
    server: JoinHandle<()>,
}

impl Drop for BsreSim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl BsreSim {
    /// Creates the simulator's CA and TSA (RSA-2048, a second or two) and serves on `listen`.
    pub async fn start(listen: SocketAddr, config: BsreSimConfig) -> anyhow::Result<Self> {
        // Bound first: the certificates name this address.
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let urls = PkiUrls::new(&format!("http://{addr}"));
        let for_keys = urls.clone();
        let (ca, issuing, tsa) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let ca = companion_pdf::pki::new_root("Simulator BSrE Root CA", 10)?;
            let issuing = companion_pdf::pki::issue_ca(
                &ca,
                "ca",
                "Simulator BSrE OSD",
                10,
                Some(0),
                &for_keys,
            )?;
            let tsa = companion_pdf::pki::issue_leaf(
                &ca,
                "Simulator Timestamp Authority BSrE",
                3650,
                LeafKind::Tsa,
                Some((&for_keys, "ca")),
            )?;
            Ok((ca, issuing, tsa))
        })
        .await??;
        let pki = crate::revocation::SimPki::new(Pki {
            cas: vec![
                CaEntry {
                    name: "ca".into(),
                    ca: ca.clone(),
                    responder: None,
                    issued: vec![issuing.certificate.clone(), tsa.certificate.clone()],
                },
                CaEntry {
                    name: ISSUING.into(),
                    ca: issuing.clone(),
                    responder: None,
                    issued: Vec::new(),
                },
            ],
        });
        let state = Arc::new(BsreState {
            config,
            ca,
            issuing,
            urls,
            pki: pki.clone(),
            tsa,
            identities: Mutex::new(HashMap::new()),
            fault: Mutex::new(BsreFault::None),
            sign_calls: AtomicU64::new(0),
            signed: Mutex::new(HashMap::new()),
            downloads: Mutex::new(HashMap::new()),
            serial: AtomicU64::new(1),
        });
        let app = Router::new()
            .route("/api/sign/pdf", post(sign_v1))
            .route("/api/sign/download/{id}", get(download_v1))
            .route("/api/user/status/{nik}", get(status_v1))
            .route("/api/v2/sign/pdf", post(sign_v2))
            .route("/api/v2/user/check/status", post(status_v2))
            .route("/_sim/fault/{mode}", post(set_fault))
            .route("/_sim/stats", get(stats))
            .route("/_sim/ca.pem", get(ca_pem))
            .layer(axum::extract::DefaultBodyLimit::max(256 * 1024 * 1024))
            .with_state(state.clone())
            .merge(crate::revocation::routes(pki));
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "BSrE simulator stopped");
            }
        });
        Ok(Self {
            addr,
            state,
            server,
        })
    }

    /// The base URL to configure as `BSRE_BASE_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> &BsreSimConfig {
        &self.state.config
    }

    /// The simulator's root certificate (PEM): trust it to validate its signatures.
    pub fn root_pem(&self) -> anyhow::Result<String> {
        Ok(self.state.ca.certs_pem()?)
    }

    /// Revokes the certificate of the official `nik` (made on their first signature; `false`
    /// when they have none yet): the simulator's CRL lists it and its OCSP answers revoked.
    pub fn revoke(&self, nik: &str, reason: CrlReason) -> bool {
        let Some(id) = self
            .state
            .identities
            .lock()
            .ok()
            .and_then(|ids| ids.get(nik).cloned())
        else {
            return false;
        };
        self.state
            .pki
            .revoke(&id.certificate, &self.state.issuing.certificate, reason);
        true
    }

    pub fn set_fault(&self, fault: BsreFault) {
        if let Ok(mut f) = self.state.fault.lock() {
            *f = fault;
        }
    }

    /// Signatures made (successful sign calls, each file of a bulk call counted).
    pub fn sign_calls(&self) -> u64 {
        self.state.sign_calls.load(Ordering::Relaxed)
    }

    /// The most times any one input document was signed.
    pub fn max_signatures_per_document(&self) -> u32 {
        self.state
            .signed
            .lock()
            .map(|s| s.values().copied().max().unwrap_or(0))
            .unwrap_or(0)
    }
}
