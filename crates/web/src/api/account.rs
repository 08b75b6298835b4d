//! The caller's own account: who am I, password change, API tokens.

use axum::extract::State;
use axum::http::StatusCode;
use companion_db::{ApiToken, User};
use companion_domain::Permission;
use companion_domain::accounts::{
    hash_new_password, new_api_token, secret_digest, token_hint, verify_password,
};
use serde::{Deserialize, Serialize};

use super::{Json, Path};
use crate::auth::{ClientAddr, Principal, audit_record};
use crate::ui::{Client, Me};
use crate::{ApiError, ErrorBody, Shared};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeResponse {
    pub user: User,
    /// What this account may do, by permission name.
    pub may_run_sync: bool,
    pub may_view_audit: bool,
    pub may_manage_users: bool,
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "account",
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn me(Me(me): Me) -> axum::Json<MeResponse> {
    axum::Json(MeResponse {
        may_run_sync: me.may(Permission::RunSync),
        may_view_audit: me.may(Permission::ViewAudit),
        may_manage_users: me.may(Permission::ManageUsers),
        user: me.user,
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    #[schema(min_length = 1, max_length = 1024)]
    pub current_password: String,
    #[schema(min_length = 10, max_length = 1024)]
    pub new_password: String,
}

/// Checks the current password, sets the new one and ends the user's other sessions.
pub async fn do_change_password(
    state: &Shared,
    me: &Principal,
    addr: &ClientAddr,
    current: &str,
    new: &str,
) -> Result<(), ApiError> {
    let Some((_, hash)) = state.db.user_for_login(&me.user.username).await? else {
        return Err(ApiError::unauthenticated());
    };
    if !verify_password(current, &hash) {
        tracing::warn!(username = %me.user.username, "password change refused: wrong current password");
        return Err(ApiError::bad_request("Kata sandi saat ini salah."));
    }
    let hash = hash_new_password(new)?;
    state
        .db
        .set_password(me.user.id, &hash, me.session_digest())
        .await?;
    state
        .audit(audit_record(
            Some(&me.user),
            addr,
            "user.password_change",
            Some(("user", me.user.id.to_string())),
            serde_json::json!({}),
        ))
        .await;
    Ok(())
}

/// Change the caller's password (other sessions of the account end).
#[utoipa::path(post, path = "/api/v1/me/password", tag = "account", request_body = PasswordChange,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn change_password(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Json(body): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    do_change_password(
        &state,
        &me,
        &addr,
        &body.current_password,
        &body.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenList {
    pub items: Vec<ApiToken>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewToken {
    /// What the token is for, e.g. "laporan bulanan".
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub label: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub token: ApiToken,
    /// The secret, shown this once: send it as `Authorization: Bearer …`.
    pub secret: String,
}

pub async fn do_create_token(
    state: &Shared,
    me: &Principal,
    addr: &ClientAddr,
    label: &str,
) -> Result<CreatedToken, ApiError> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 100 {
        return Err(ApiError::bad_request(
            "Nama token wajib diisi (maksimal 100 karakter).",
        ));
    }
    let secret = new_api_token();
    let hint = token_hint(&secret);
    let token = state
        .db
        .create_api_token(me.user.id, label, &secret_digest(&secret), &hint)
        .await?;
    state
        .audit(audit_record(
            Some(&me.user),
            addr,
            "token.create",
            Some(("api_token", token.id.to_string())),
            serde_json::json!({ "label": label }),
        ))
        .await;
    Ok(CreatedToken { token, secret })
}

/// Revokes a token of the caller (an administrator may revoke anyone's).
pub async fn do_revoke_token(
    state: &Shared,
    me: &Principal,
    addr: &ClientAddr,
    id: i64,
) -> Result<(), ApiError> {
    let token = state
        .db
        .get_api_token(id)
        .await?
        .filter(|t| t.user_id == me.user.id || me.may(Permission::ManageUsers))
        .ok_or_else(|| ApiError::not_found("Token tidak ditemukan."))?;
    if !state.db.revoke_api_token(token.id).await? {
        return Err(ApiError::conflict("Token ini sudah dicabut."));
    }
    state
        .audit(audit_record(
            Some(&me.user),
            addr,
            "token.revoke",
            Some(("api_token", token.id.to_string())),
            serde_json::json!({ "owner": token.user_id }),
        ))
        .await;
    Ok(())
}

/// The caller's API tokens (secrets are never shown again).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "account",
    responses((status = 200, body = TokenList), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_tokens(
    State(state): State<Shared>,
    Me(me): Me,
) -> Result<axum::Json<TokenList>, ApiError> {
    Ok(axum::Json(TokenList {
        items: state.db.list_api_tokens(me.user.id).await?,
    }))
}

/// Create an API token for the caller.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "account", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_token(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Json(body): Json<NewToken>,
) -> Result<(StatusCode, axum::Json<CreatedToken>), ApiError> {
    let created = do_create_token(&state, &me, &addr, &body.label).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// Revoke an API token.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "account",
    params(("id" = i64, Path, description = "Token id")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    do_revoke_token(&state, &me, &addr, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
