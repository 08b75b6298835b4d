//! The office CAs' public revocation data (`/pki/...`): CRLs, CA certificates (AIA caIssuers)
//! and the OCSP responder (RFC 6960 POST, RFC 5019 GET). No session; answers are cacheable for a
//! few minutes (a revocation shows within that). The work is `companion_signing::pki`'s.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::Shared;

/// The largest OCSP request accepted (a request for a few certificates is a few hundred bytes).
pub const OCSP_BODY_LIMIT: usize = 16 * 1024;

/// How long a client or proxy may reuse an answer.
const MAX_AGE: u64 = 300;

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "tidak ditemukan").into_response()
}

fn http_date(t: std::time::SystemTime) -> Option<HeaderValue> {
    let t: chrono::DateTime<chrono::Utc> = t.into();
    HeaderValue::from_str(&t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).ok()
}

fn cacheable(mut response: Response, max_age: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    response
}

/// `GET /pki/{file}`: `<ca>.crl` (DER CRL) or `<ca>.crt` (DER certificate).
pub async fn file(State(state): State<Shared>, Path(file): Path<String>) -> Response {
    let Some(pki) = state.pki.as_ref() else {
        return not_found();
    };
    if let Some(name) = file.strip_suffix(".crl") {
        return match pki.crl(name).await {
            Ok(Some(crl)) => {
                let mut r = (
                    [(header::CONTENT_TYPE, "application/pkix-crl")],
                    crl.der.as_ref().clone(),
                )
                    .into_response();
                let h = r.headers_mut();
                if let Some(v) = http_date(crl.this_update) {
                    h.insert(header::LAST_MODIFIED, v);
                }
                if let Some(v) = http_date(crl.next_update) {
                    h.insert(header::EXPIRES, v);
                }
                cacheable(r, MAX_AGE)
            }
            Ok(None) => not_found(),
            Err(e) => {
                tracing::warn!(error = %e, ca = name, "CRL not available");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "daftar pencabutan sedang tidak tersedia",
                )
                    .into_response()
            }
        };
    }
    if let Some(name) = file.strip_suffix(".crt")
        && let Some(der) = pki.ca_certificate(name)
    {
        let r = ([(header::CONTENT_TYPE, "application/pkix-cert")], der).into_response();
        return cacheable(r, 86_400);
    }
    not_found()
}

fn ocsp_response(der: Vec<u8>) -> Response {
    let r = ([(header::CONTENT_TYPE, "application/ocsp-response")], der).into_response();
    cacheable(r, MAX_AGE)
}

/// `POST /pki/ocsp` with `application/ocsp-request`.
pub async fn ocsp_post(
    State(state): State<Shared>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let Some(pki) = state.pki.as_ref() else {
        return not_found();
    };
    let typed = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().starts_with("application/ocsp-request"));
    if !typed {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "kirim application/ocsp-request",
        )
            .into_response();
    }
    // A POST answer is not for shared caches (RFC 5019 §5: caching is for GET).
    let mut r = ocsp_response(pki.ocsp(body.to_vec()).await);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /pki/ocsp/{request}`: the DER request in base64 (URL-encoded; RFC 5019 §5).
pub async fn ocsp_get(State(state): State<Shared>, Path(encoded): Path<String>) -> Response {
    // A wildcard route: an unencoded "/" of the base64 alphabet stays part of it.
    let Some(pki) = state.pki.as_ref() else {
        return not_found();
    };
    let der = companion_signing::pki::decode_get_request(&encoded);
    ocsp_response(pki.ocsp(der).await)
}
