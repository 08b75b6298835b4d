//! One error type that is the HTTP body: a stable code and a message in Bahasa Indonesia.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// The JSON shape of every error: `{"error": {"code": "…", "message": "…"}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `forbidden`, `bad_request`.
    pub code: String,
    /// A human message in Bahasa Indonesia.
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Silakan masuk terlebih dahulu (sesi atau token API tidak berlaku).",
        )
    }
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Peran Anda tidak diizinkan melakukan tindakan ini.",
        )
    }
    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "Token keamanan formulir tidak cocok. Muat ulang halaman lalu coba lagi.",
        )
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Terjadi kesalahan pada server. Silakan coba lagi.",
        )
    }
}

impl From<companion_domain::accounts::AccountError> for ApiError {
    fn from(e: companion_domain::accounts::AccountError) -> Self {
        use companion_domain::accounts::{AccountError, MIN_PASSWORD_LEN};
        match e {
            AccountError::BadUsername => Self::bad_request(
                "Nama pengguna 3–32 karakter: huruf kecil, angka, titik, garis bawah atau tanda hubung.",
            ),
            AccountError::PasswordTooShort | AccountError::PasswordTooLong => Self::bad_request(
                format!("Kata sandi minimal {MIN_PASSWORD_LEN} karakter (maksimal 1024)."),
            ),
            AccountError::Hash(detail) => {
                tracing::error!(error = %detail, "password hashing failed");
                Self::internal()
            }
        }
    }
}

impl From<companion_db::DbError> for ApiError {
    fn from(e: companion_db::DbError) -> Self {
        match e {
            companion_db::DbError::Duplicate(what) => {
                Self::conflict(format!("Data dengan {what} yang sama sudah ada."))
            }
            other => {
                // The detail goes to the log, never to the client.
                tracing::error!(error = %other, "database error in request");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}
