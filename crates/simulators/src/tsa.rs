//! An RFC 3161 time-stamping authority for the demo and the tests: `POST /` with
//! `application/timestamp-query` answers `application/timestamp-reply`, signed by a TSA
//! certificate from its own root (exposed as PEM so tests and the demo can trust it). Like a
//! real TSA's, the certificate names a CRL and an OCSP responder, served here under `/pki/`
//! (`/pki/ca.crl`, `/pki/ca.crt`, `/pki/ocsp`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use companion_pdf::keys::SigningIdentity;
use companion_pdf::pki::{CaEntry, CrlReason, LeafKind, Pki, PkiUrls};

use crate::revocation::SimPki;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

struct TsaState {
    tsa: SigningIdentity,
    serial: AtomicU64,
    /// Requests answered (tests count calls).
    requests: AtomicU64,
}

async fn stamp(State(state): State<Arc<TsaState>>, headers: HeaderMap, body: Bytes) -> Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let query = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/timestamp-query"));
    if !query {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send application/timestamp-query",
        )
            .into_response();
    }
    let serial = state.serial.fetch_add(1, Ordering::Relaxed);
    match companion_pdf::timestamp::respond(&state.tsa, &body, serial, std::time::SystemTime::now())
    {
        Ok(reply) => (
            [(header::CONTENT_TYPE, "application/timestamp-reply")],
            reply,
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// A running TSA simulator. Dropping it stops the server.
pub struct TsaSim {
    addr: SocketAddr,
    root_pem: String,
    root: SigningIdentity,
    pki: Arc<SimPki>,
    state: Arc<TsaState>,
    server: JoinHandle<()>,
}

impl Drop for TsaSim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TsaSim {
    /// Creates a root and a TSA certificate (RSA-2048, a second or two) and serves on `listen`.
    pub async fn start(listen: SocketAddr) -> anyhow::Result<Self> {
        // Bound first: the certificates name this address.
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let urls = PkiUrls::new(&format!("http://{addr}"));
        let (root, tsa) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let root = companion_pdf::pki::new_root("Simulator TSA Root", 10)?;
            let tsa = companion_pdf::pki::issue_leaf(
                &root,
                "Simulator TSA",
                3650,
                LeafKind::Tsa,
                Some((&urls, "ca")),
            )?;
            Ok((root, tsa))
        })
        .await??;
        let pki = SimPki::new(Pki {
            cas: vec![CaEntry {
                name: "ca".into(),
                ca: root.clone(),
                responder: None,
                issued: vec![tsa.certificate.clone()],
            }],
        });
        let state = Arc::new(TsaState {
            tsa,
            serial: AtomicU64::new(1),
            requests: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/", post(stamp))
            .with_state(state.clone())
            .merge(crate::revocation::routes(pki.clone()));
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "TSA simulator stopped");
            }
        });
        Ok(Self {
            addr,
            root_pem: root.certs_pem()?,
            root,
            pki,
            state,
            server,
        })
    }

    /// Revokes the TSA certificate (tests: a timestamp by a revoked TSA).
    pub fn revoke_tsa(&self, reason: CrlReason) {
        self.pki
            .revoke(&self.state.tsa.certificate, &self.root.certificate, reason);
    }

    /// The TSA's certificate and its root (DER), for DSS material.
    pub fn chain_der(&self) -> anyhow::Result<Vec<Vec<u8>>> {
        Ok(self.state.tsa.chain_der()?)
    }

    /// The URL to configure as `TSA_URL`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The TSA's root certificate (PEM), to trust its tokens.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }
}
