//! CSS, JavaScript and icons, compiled into the binary (no CDN: the office's network is slow and
//! the pages must work offline on the local network).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/app.js"),
    ),
    (
        "portal.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/portal.js"),
    ),
    (
        "noble-ed25519.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/vendor/noble-ed25519.js"),
    ),
    (
        "sha512.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/vendor/sha512.js"),
    ),
    (
        "jsQR.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/vendor/jsQR.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../static/favicon.svg"),
    ),
];

/// A version tag for cache-busting URLs: changes whenever an asset changes.
pub fn asset_version() -> &'static str {
    static V: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    V.get_or_init(|| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (_, _, body) in FILES {
            body.hash(&mut h);
        }
        format!("{:x}", h.finish() & 0xffff_ffff)
    })
}

pub async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, mime, body)) => (
            [
                (header::CONTENT_TYPE, *mime),
                // URLs carry the asset version, so a year of caching is safe.
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
