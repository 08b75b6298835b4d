//! Staff accounts, browser sessions and API tokens. Only digests of session ids and tokens are
//! stored; a disabled or deleted user's sessions and tokens stop resolving at once because every
//! lookup joins the user and checks `disabled`.

use chrono::{DateTime, Utc};
use companion_domain::Role;
use serde::{Deserialize, Serialize};

use crate::{Database, DbError, Result, on_backend};

/// An account as shown (never with its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub password_changed_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    display_name: String,
    role: String,
    disabled: bool,
    created_at: DateTime<Utc>,
    password_changed_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = DbError;
    fn try_from(r: UserRow) -> Result<Self> {
        let role = Role::parse(&r.role).ok_or_else(|| DbError::Corrupt {
            column: "users.role",
            detail: r.role.clone(),
        })?;
        Ok(User {
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            role,
            disabled: r.disabled,
            created_at: r.created_at,
            password_changed_at: r.password_changed_at,
        })
    }
}

const USER_COLUMNS: &str =
    "u.id, u.username, u.display_name, u.role, u.disabled, u.created_at, u.password_changed_at";

/// A signed-in browser session, resolved.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// An API token as listed (the secret itself is shown once, at creation, and never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub label: String,
    /// The last characters of the token, to tell tokens apart.
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub struct NewSession<'a> {
    pub id_digest: &'a str,
    pub user_id: i64,
    pub csrf_token: &'a str,
    pub expires_at: DateTime<Utc>,
    pub client_addr: &'a str,
    pub user_agent: &'a str,
}

fn unique_violation(e: sqlx::Error, what: &'static str) -> DbError {
    match e.as_database_error() {
        Some(d) if d.is_unique_violation() => DbError::Duplicate(what),
        _ => DbError::Sqlx(e),
    }
}

impl Database {
    /// Creates an account; a taken username is [`DbError::Duplicate`].
    pub async fn create_user(
        &self,
        username: &str,
        display_name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<User> {
        let now = crate::now();
        let id: i64 = on_backend!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO users (username, display_name, role, password_hash, created_at, password_changed_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            )
            .bind(username)
            .bind(display_name)
            .bind(role.as_str())
            .bind(password_hash)
            .bind(now)
            .fetch_one(pool)
            .await
            .map_err(|e| unique_violation(e, "username"))?
        });
        self.get_user(id).await?.ok_or(DbError::Corrupt {
            column: "users.id",
            detail: format!("user {id} vanished after insert"),
        })
    }

    pub async fn get_user(&self, id: i64) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1");
        let row: Option<UserRow> = on_backend!(self, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        row.map(User::try_from).transpose()
    }

    pub async fn get_user_by_name(&self, username: &str) -> Result<Option<User>> {
        Ok(self.user_for_login(username).await?.map(|(user, _)| user))
    }

    /// The user and their password hash, for checking a login.
    pub async fn user_for_login(&self, username: &str) -> Result<Option<(User, String)>> {
        let sql =
            format!("SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.username = $1");
        let row: Option<(String, UserRow)> = on_backend!(self, pool => {
            use sqlx::Row;
            match sqlx::query(&sql).bind(username).fetch_optional(pool).await? {
                None => None,
                Some(r) => {
                    let hash: String = r.try_get("password_hash")?;
                    Some((hash, <UserRow as sqlx::FromRow<_>>::from_row(&r)?))
                }
            }
        });
        row.map(|(hash, r)| User::try_from(r).map(|u| (u, hash)))
            .transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.username");
        let rows: Vec<UserRow> = on_backend!(self, pool => {
            sqlx::query_as(&sql).fetch_all(pool).await?
        });
        rows.into_iter().map(User::try_from).collect()
    }

    /// Disables or enables an account. Disabling ends its sessions at once.
    pub async fn set_user_disabled(&self, id: i64, disabled: bool) -> Result<bool> {
        let changed = on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query("UPDATE users SET disabled = $2 WHERE id = $1")
                .bind(id)
                .bind(disabled)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if disabled {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            n
        });
        Ok(changed > 0)
    }

    pub async fn set_user_role(&self, id: i64, role: Role) -> Result<bool> {
        let n = on_backend!(self, pool => {
            sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
                .bind(id)
                .bind(role.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Sets a new password hash and ends every other session of the user (`keep_session` is the
    /// digest of the session that made the change, if any).
    pub async fn set_password(
        &self,
        id: i64,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> Result<bool> {
        let now = crate::now();
        let n = on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query("UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1")
                .bind(id)
                .bind(password_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_digest <> $2")
                .bind(id)
                .bind(keep_session.unwrap_or(""))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            n
        });
        Ok(n > 0)
    }

    pub async fn delete_user(&self, id: i64) -> Result<bool> {
        let n = on_backend!(self, pool => {
            sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(pool).await?.rows_affected()
        });
        Ok(n > 0)
    }

    pub async fn create_session(&self, s: &NewSession<'_>) -> Result<()> {
        let now = crate::now();
        on_backend!(self, pool => {
            sqlx::query(
                "INSERT INTO sessions (id_digest, user_id, csrf_token, created_at, last_seen_at, expires_at, client_addr, user_agent) \
                 VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
            )
            .bind(s.id_digest)
            .bind(s.user_id)
            .bind(s.csrf_token)
            .bind(now)
            .bind(s.expires_at)
            .bind(s.client_addr)
            .bind(s.user_agent)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The live session with this digest, if its user is enabled and it has not expired.
    pub async fn session(&self, id_digest: &str) -> Result<Option<SessionInfo>> {
        let now = crate::now();
        let sql = format!(
            "SELECT {USER_COLUMNS}, s.csrf_token, s.expires_at, s.last_seen_at FROM sessions s \
             JOIN users u ON u.id = s.user_id \
             WHERE s.id_digest = $1 AND s.expires_at > $2 AND u.disabled = $3"
        );
        let row = on_backend!(self, pool => {
            use sqlx::Row;
            match sqlx::query(&sql).bind(id_digest).bind(now).bind(false).fetch_optional(pool).await? {
                None => None,
                Some(r) => Some((
                    <UserRow as sqlx::FromRow<_>>::from_row(&r)?,
                    r.try_get::<String, _>("csrf_token")?,
                    r.try_get::<DateTime<Utc>, _>("expires_at")?,
                    r.try_get::<DateTime<Utc>, _>("last_seen_at")?,
                )),
            }
        });
        match row {
            None => Ok(None),
            Some((u, csrf_token, expires_at, last_seen_at)) => Ok(Some(SessionInfo {
                user: User::try_from(u)?,
                csrf_token,
                expires_at,
                last_seen_at,
            })),
        }
    }

    /// Slides a session's expiry forward (called at most once a minute per session).
    pub async fn touch_session(&self, id_digest: &str, expires_at: DateTime<Utc>) -> Result<()> {
        let now = crate::now();
        on_backend!(self, pool => {
            sqlx::query("UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id_digest = $1")
                .bind(id_digest)
                .bind(now)
                .bind(expires_at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn delete_session(&self, id_digest: &str) -> Result<()> {
        on_backend!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE id_digest = $1").bind(id_digest).execute(pool).await?;
        });
        Ok(())
    }

    pub async fn delete_expired_sessions(&self) -> Result<u64> {
        let now = crate::now();
        Ok(on_backend!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(pool).await?.rows_affected()
        }))
    }

    pub async fn create_api_token(
        &self,
        user_id: i64,
        label: &str,
        token_digest: &str,
        hint: &str,
    ) -> Result<ApiToken> {
        let now = crate::now();
        Ok(on_backend!(self, pool => {
            sqlx::query_as(
                "INSERT INTO api_tokens (user_id, label, token_digest, hint, created_at) VALUES ($1, $2, $3, $4, $5) \
                 RETURNING id, user_id, label, hint, created_at, last_used_at, revoked_at",
            )
            .bind(user_id)
            .bind(label)
            .bind(token_digest)
            .bind(hint)
            .bind(now)
            .fetch_one(pool)
            .await?
        }))
    }

    /// The enabled user owning this unrevoked token, with the token's id and last use.
    pub async fn token_user(
        &self,
        token_digest: &str,
    ) -> Result<Option<(User, i64, Option<DateTime<Utc>>)>> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, t.id AS token_id, t.last_used_at FROM api_tokens t \
             JOIN users u ON u.id = t.user_id \
             WHERE t.token_digest = $1 AND t.revoked_at IS NULL AND u.disabled = $2"
        );
        let row = on_backend!(self, pool => {
            use sqlx::Row;
            match sqlx::query(&sql).bind(token_digest).bind(false).fetch_optional(pool).await? {
                None => None,
                Some(r) => Some((
                    <UserRow as sqlx::FromRow<_>>::from_row(&r)?,
                    r.try_get::<i64, _>("token_id")?,
                    r.try_get::<Option<DateTime<Utc>>, _>("last_used_at")?,
                )),
            }
        });
        row.map(|(u, id, used)| User::try_from(u).map(|u| (u, id, used)))
            .transpose()
    }

    pub async fn mark_token_used(&self, token_id: i64) -> Result<()> {
        let now = crate::now();
        on_backend!(self, pool => {
            sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                .bind(token_id)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn list_api_tokens(&self, user_id: i64) -> Result<Vec<ApiToken>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT id, user_id, label, hint, created_at, last_used_at, revoked_at FROM api_tokens \
                 WHERE user_id = $1 ORDER BY id DESC",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?
        }))
    }

    pub async fn get_api_token(&self, id: i64) -> Result<Option<ApiToken>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT id, user_id, label, hint, created_at, last_used_at, revoked_at FROM api_tokens WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Revokes a token; false if it does not exist or was already revoked.
    pub async fn revoke_api_token(&self, id: i64) -> Result<bool> {
        let now = crate::now();
        let n = on_backend!(self, pool => {
            sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }
}

impl Database {
    pub async fn set_display_name(&self, id: i64, name: &str) -> Result<bool> {
        let n = on_backend!(self, pool => {
            sqlx::query("UPDATE users SET display_name = $2 WHERE id = $1")
                .bind(id)
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }
}
