//! Accounts, for administrators.

use axum::extract::State;
use axum::http::StatusCode;
use companion_db::User;
use companion_domain::Role;
use companion_domain::accounts::{generate_password, hash_new_password, normalize_username};
use serde::{Deserialize, Serialize};

use super::{Json, Path};
use crate::auth::{ClientAddr, Principal, audit_record};
use crate::ui::{Client, Me};
use crate::{ApiError, ErrorBody, Shared};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    pub items: Vec<User>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    /// 3–32 characters: lowercase letters, digits, `.`, `_`, `-`.
    #[schema(pattern = r"^[a-z0-9._-]{3,32}$")]
    pub username: String,
    pub display_name: Option<String>,
    /// Omitted: `staff`, the least role.
    #[serde(default)]
    pub role: Role,
    /// At least 10 characters; omit to have one generated (returned once).
    #[schema(min_length = 10, max_length = 1024)]
    pub password: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedUser {
    pub user: User,
    /// The generated password, when none was given (shown this once).
    pub generated_password: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UserChange {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    /// An official's 16-digit NIK for BSrE signing; an empty string clears it.
    #[schema(max_length = 16)]
    pub nik: Option<String>,
}

pub async fn do_create_user(
    state: &Shared,
    me: &Principal,
    addr: &ClientAddr,
    body: NewUser,
) -> Result<CreatedUser, ApiError> {
    let username = normalize_username(&body.username)?;
    let (password, generated) = match body.password.filter(|p| !p.is_empty()) {
        Some(p) => (p, None),
        None => {
            let p = generate_password();
            (p.clone(), Some(p))
        }
    };
    let hash = hash_new_password(&password)?;
    let display = body
        .display_name
        .map(|d| d.trim().chars().take(100).collect::<String>())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| username.clone());
    let user = state
        .db
        .create_user(&username, &display, body.role, &hash)
        .await?;
    state
        .audit(audit_record(
            Some(&me.user),
            addr,
            "user.create",
            Some(("user", user.id.to_string())),
            serde_json::json!({ "username": user.username, "role": user.role }),
        ))
        .await;
    Ok(CreatedUser {
        user,
        generated_password: generated,
    })
}

pub async fn do_update_user(
    state: &Shared,
    me: &Principal,
    addr: &ClientAddr,
    id: i64,
    change: UserChange,
) -> Result<User, ApiError> {
    let user = state
        .db
        .get_user(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Pengguna tidak ditemukan."))?;
    // An administrator cannot lock themselves out.
    if user.id == me.user.id
        && (change.disabled == Some(true) || change.role.is_some_and(|r| r != Role::Admin))
    {
        return Err(ApiError::bad_request(
            "Anda tidak dapat menonaktifkan atau menurunkan peran akun Anda sendiri.",
        ));
    }
    let mut changed = serde_json::Map::new();
    if let Some(role) = change.role.filter(|r| *r != user.role) {
        state.db.set_user_role(id, role).await?;
        changed.insert(
            "role".into(),
            serde_json::json!({ "from": user.role, "to": role }),
        );
    }
    if let Some(disabled) = change.disabled.filter(|d| *d != user.disabled) {
        state.db.set_user_disabled(id, disabled).await?;
        changed.insert("disabled".into(), serde_json::json!(disabled));
    }
    if let Some(name) = change
        .display_name
        .map(|d| d.trim().chars().take(100).collect::<String>())
        .filter(|d| !d.is_empty() && *d != user.display_name)
    {
        state.db.set_display_name(id, &name).await?;
        changed.insert("display_name".into(), serde_json::json!(name));
    }
    if let Some(nik) = change.nik.map(|n| n.trim().to_string()) {
        if !nik.is_empty() && (nik.len() != 16 || !nik.bytes().all(|b| b.is_ascii_digit())) {
            return Err(ApiError::bad_request("NIK terdiri dari 16 angka."));
        }
        state
            .db
            .set_user_nik(&user.username, Some(nik.as_str()).filter(|n| !n.is_empty()))
            .await?;
        // Whether it is set, not the number itself (personal data).
        changed.insert("nik_set".into(), serde_json::json!(!nik.is_empty()));
    }
    if !changed.is_empty() {
        state
            .audit(audit_record(
                Some(&me.user),
                addr,
                "user.update",
                Some(("user", id.to_string())),
                serde_json::Value::Object(changed),
            ))
            .await;
    }
    state
        .db
        .get_user(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Pengguna tidak ditemukan."))
}

/// All accounts.
#[utoipa::path(operation_id = "list_users", get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = UserList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(State(state): State<Shared>) -> Result<axum::Json<UserList>, ApiError> {
    Ok(axum::Json(UserList {
        items: state.db.list_users().await?,
    }))
}

/// Create an account.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = CreatedUser), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, axum::Json<CreatedUser>), ApiError> {
    let created = do_create_user(&state, &me, &addr, body).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// Change an account's role, name, or disable/enable it (disabling ends its sessions and
/// stops its tokens at once).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UserChange,
    params(("id" = i64, Path, description = "User id")),
    responses((status = 200, body = User), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Path(id): Path<i64>,
    Json(change): Json<UserChange>,
) -> Result<axum::Json<User>, ApiError> {
    Ok(axum::Json(
        do_update_user(&state, &me, &addr, id, change).await?,
    ))
}
