//! Revocation data served by a simulated CA (the TSA's, BSrE's): `/pki/<ca>.crl`,
//! `/pki/<ca>.crt` and an OCSP responder at `/pki/ocsp` (POST, and GET per RFC 5019), built by
//! `companion_pdf::pki` like the product's own. Revocations are kept in memory (tests set them).

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use companion_pdf::pki::{CrlReason, Pki, Revoked, key_id, serial_of};
use der::Encode;
use x509_cert::Certificate;

/// The CAs of one simulator and what they revoked.
pub struct SimPki {
    pki: std::sync::RwLock<Pki>,
    revoked: Mutex<Vec<Revoked>>,
}

impl SimPki {
    pub fn new(pki: Pki) -> Arc<Self> {
        Arc::new(Self {
            pki: std::sync::RwLock::new(pki),
            revoked: Mutex::new(Vec::new()),
        })
    }

    /// Revokes `cert` (issued by `issuer`) as of now.
    pub fn revoke(&self, cert: &Certificate, issuer: &Certificate, reason: CrlReason) {
        if let Ok(mut r) = self.revoked.lock() {
            let serial = serial_of(cert);
            let issuer_key_id = key_id(issuer);
            if !r
                .iter()
                .any(|x| x.serial == serial && x.issuer_key_id == issuer_key_id)
            {
                r.push(Revoked {
                    issuer_key_id,
                    serial,
                    revoked_at: SystemTime::now(),
                    reason,
                });
            }
        }
    }

    /// Records a certificate the CA `ca_name` issued (OCSP answers `unknown` for others).
    pub fn add_issued(&self, ca_name: &str, cert: &Certificate) {
        if let Ok(mut pki) = self.pki.write()
            && let Some(ca) = pki.cas.iter_mut().find(|c| c.name == ca_name)
            && !ca.issued.contains(cert)
        {
            ca.issued.push(cert.clone());
        }
    }

    fn crl(&self, name: &str) -> Option<Result<Vec<u8>, companion_pdf::pki::PkiError>> {
        let pki = self.pki.read().ok()?;
        pki.crl(name, &self.revoked(), SystemTime::now())
    }

    fn ca_der(&self, name: &str) -> Option<Vec<u8>> {
        let pki = self.pki.read().ok()?;
        pki.ca(name).and_then(|c| c.ca.certificate.to_der().ok())
    }

    fn ocsp(&self, der: &[u8]) -> Vec<u8> {
        match self.pki.read() {
            Ok(pki) => pki.ocsp(der, &self.revoked(), SystemTime::now()),
            Err(_) => companion_pdf::pki::ocsp_internal_error(),
        }
    }

    fn revoked(&self) -> Vec<Revoked> {
        self.revoked.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

async fn file(State(sim): State<Arc<SimPki>>, Path(file): Path<String>) -> Response {
    if let Some(name) = file.strip_suffix(".crl") {
        return match sim.crl(name) {
            Some(Ok(der)) => {
                ([(header::CONTENT_TYPE, "application/pkix-crl")], der).into_response()
            }
            Some(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    if let Some(name) = file.strip_suffix(".crt")
        && let Some(der) = sim.ca_der(name)
    {
        return ([(header::CONTENT_TYPE, "application/pkix-cert")], der).into_response();
    }
    StatusCode::NOT_FOUND.into_response()
}

fn ocsp_answer(sim: &SimPki, der: &[u8]) -> Response {
    let answer = sim.ocsp(der);
    (
        [(header::CONTENT_TYPE, "application/ocsp-response")],
        answer,
    )
        .into_response()
}

async fn ocsp_post(State(sim): State<Arc<SimPki>>, body: Bytes) -> Response {
    ocsp_answer(&sim, &body)
}

async fn ocsp_get(State(sim): State<Arc<SimPki>>, Path(encoded): Path<String>) -> Response {
    use base64::Engine;
    let cleaned: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .unwrap_or_default();
    ocsp_answer(&sim, &der)
}

/// The `/pki/...` routes over `sim`.
pub fn routes(sim: Arc<SimPki>) -> Router {
    Router::new()
        .route("/pki/ocsp", post(ocsp_post))
        .route("/pki/ocsp/{*request}", get(ocsp_get))
        .route("/pki/{file}", get(file))
        .with_state(sim)
}
