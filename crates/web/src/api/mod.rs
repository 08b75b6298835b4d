//! The REST API under `/api/v1`: JSON, bearer-token (or session) authentication, errors as
//! [`crate::ErrorBody`], and an OpenAPI document generated from these handlers.

pub mod account;
pub mod audit;
pub mod documents;
pub mod openapi;
pub mod permits;
pub mod signing;
pub mod sync;
pub mod users;

use serde::{Deserialize, Serialize};

/// Page metadata shared by list responses.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PageInfo {
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

/// Query extraction failures answer in our error shape, not axum's plain text.
pub struct Query<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = crate::ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| {
                crate::ApiError::bad_request(format!("Parameter tidak valid: {}", e.body_text()))
            })
    }
}

/// JSON bodies likewise.
pub struct Json<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = crate::ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|j| Json(j.0))
            .map_err(|e| {
                crate::ApiError::bad_request(format!(
                    "Isi permintaan tidak valid: {}",
                    e.body_text()
                ))
            })
    }
}

/// Path parameters likewise.
pub struct Path<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = crate::ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| {
                crate::ApiError::bad_request(format!("Alamat tidak valid: {}", e.body_text()))
            })
    }
}
