//! Who is calling and whether they may: browser sessions (cookie), API tokens (bearer), CSRF
//! tokens on every state-changing browser request, and login throttling.
//!
//! Every route passes through [`authorize`] with its [`RouteSpec`], so a route cannot exist
//! without an access rule (see `routes.rs`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use companion_db::User;
use companion_domain::accounts::{random_secret, secret_digest};
use companion_domain::{AuditRecord, Permission};

use crate::routes::{Access, RouteKind, RouteSpec};
use crate::{ApiError, Shared};

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum AuthVia {
    /// A browser session; `digest` identifies it in the database.
    Session { digest: String, csrf: String },
    /// An API token (bearer).
    Token { id: i64 },
}

/// The signed-in caller, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub via: AuthVia,
}

impl Principal {
    pub fn may(&self, p: Permission) -> bool {
        self.user.role.may(p)
    }
    /// The CSRF token to put in forms (empty for token callers, who send no forms).
    pub fn csrf(&self) -> &str {
        match &self.via {
            AuthVia::Session { csrf, .. } => csrf,
            AuthVia::Token { .. } => "",
        }
    }
    pub fn session_digest(&self) -> Option<&str> {
        match &self.via {
            AuthVia::Session { digest, .. } => Some(digest),
            AuthVia::Token { .. } => None,
        }
    }
}

/// The client's address as seen by this server (or `unknown` in in-process tests).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

/// An audit record for an action by `who` (`None`: not signed in) from `from`.
pub fn audit_record(
    who: Option<&User>,
    from: &ClientAddr,
    action: &str,
    target: Option<(&str, String)>,
    details: serde_json::Value,
) -> AuditRecord {
    AuditRecord {
        actor_id: who.map(|u| u.id),
        actor: who
            .map(|u| u.username.clone())
            .unwrap_or_else(|| "anonim".into()),
        action: action.into(),
        target_kind: target.as_ref().map(|(k, _)| k.to_string()),
        target_id: target.map(|(_, id)| id),
        source: from.0.clone(),
        details,
    }
}

pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-sc_session"
    } else {
        "sc_session"
    }
}

/// The anonymous CSRF cookie guarding the login form (double-submit).
pub fn login_csrf_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-sc_login"
    } else {
        "sc_login"
    }
}

pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    axum_extra::extract::cookie::CookieJar::from_headers(headers)
        .get(name)
        .map(|c| c.value().to_string())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, and Secure when configured.
pub fn set_cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// Resolves the caller from a bearer token or the session cookie. `Err` for a bearer token that
/// is present but invalid (the API answers 401 rather than treating the call as anonymous).
async fn resolve(state: &Shared, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    if let Some(token) = bearer(headers) {
        let Some((user, id, last_used)) = state.db.token_user(&secret_digest(token)).await? else {
            return Err(ApiError::unauthenticated());
        };
        if last_used.is_none_or(|t| chrono::Utc::now() - t > chrono::Duration::minutes(1)) {
            state.db.mark_token_used(id).await?;
        }
        return Ok(Some(Principal {
            user,
            via: AuthVia::Token { id },
        }));
    }
    let Some(sid) = cookie_value(headers, session_cookie_name(state.config.cookie_secure)) else {
        return Ok(None);
    };
    let digest = secret_digest(&sid);
    let Some(session) = state.db.session(&digest).await? else {
        return Ok(None);
    };
    // Sliding expiry, written at most once a minute per session.
    if chrono::Utc::now() - session.last_seen_at > chrono::Duration::minutes(1) {
        state
            .db
            .touch_session(&digest, chrono::Utc::now() + state.config.session_idle)
            .await?;
    }
    Ok(Some(Principal {
        user: session.user,
        via: AuthVia::Session {
            digest,
            csrf: session.csrf_token,
        },
    }))
}

/// `Access::Local`: the socket's peer is a loopback address and no proxy header says the
/// request came from further away (a reverse proxy on this machine forwards from 127.0.0.1),
/// or the request carries the configured metrics token. Missing peer information is not local.
fn local_or_token(state: &Shared, req: &Request) -> Result<(), ApiError> {
    let proxied = ["x-forwarded-for", "forwarded", "x-real-ip"]
        .iter()
        .any(|h| req.headers().contains_key(*h));
    let loopback = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|c| match c.0.ip() {
            std::net::IpAddr::V4(ip) => ip.is_loopback(),
            // `::ffff:127.0.0.1` from a dual-stack socket counts as loopback too.
            std::net::IpAddr::V6(ip) => {
                ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        });
    if loopback && !proxied {
        return Ok(());
    }
    let Some(expected) = state.config.metrics_token.as_deref() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Hanya dapat dibuka dari server ini (METRICS_TOKEN belum diatur).",
        ));
    };
    match bearer(req.headers()) {
        Some(given) if constant_time_eq(given, expected) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Token metrik tidak ada atau tidak berlaku.",
        )),
    }
}

/// The address the nearest proxy saw: the last valid IP in `X-Forwarded-For`.
fn forwarded_for(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        .next_back()
        .map(|ip| ip.to_string())
}

fn is_unsafe(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The login form always uses the double-submit cookie, even when a session exists (logging in
/// again replaces that session).
pub const LOGIN_PATH: &str = "/masuk";

/// The largest form body read to find the CSRF field.
const FORM_LIMIT: usize = 1 << 20;

fn is_multipart(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}

/// Reads the `csrf` field of an urlencoded form, putting the body back for the handler.
async fn form_csrf(req: Request) -> Result<(Request, Option<String>), ApiError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((req, None));
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "Isian formulir terlalu besar.",
        )
    })?;
    let token = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned());
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}

/// The access check every route passes through (installed by `routes.rs` with the route's spec).
pub async fn authorize(mut req: Request, next: Next) -> Response {
    let (Some(spec), Some(state)) = (
        req.extensions().get::<RouteSpec>().cloned(),
        req.extensions().get::<Shared>().cloned(),
    ) else {
        return ApiError::internal().into_response();
    };
    let forwarded = state
        .config
        .trust_forwarded_for
        .then(|| forwarded_for(req.headers()))
        .flatten();
    let addr = forwarded.unwrap_or_else(|| {
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "unknown".into())
    });
    req.extensions_mut().insert(ClientAddr(addr));
    if spec.access == Access::Asset {
        return next.run(req).await;
    }
    if spec.access == Access::Webhook {
        // The provider's signature is the only credential here, checked by the handler on the
        // raw body: a bearer is the provider's (Vonage's signed JWT), not an API token, and is
        // never looked up as one. No session, so no CSRF either.
        return next.run(req).await;
    }
    if spec.access == Access::Local {
        return match local_or_token(&state, &req) {
            Ok(()) => next.run(req).await,
            Err(e) => e.into_response(),
        };
    }
    let deny = |e: ApiError| -> Response {
        if spec.kind == RouteKind::Page && e.status != StatusCode::UNAUTHORIZED {
            crate::ui::error_page(e.status, &e.message).into_response()
        } else {
            e.into_response()
        }
    };
    let principal = match resolve(&state, req.headers()).await {
        Ok(p) => p,
        Err(e) => return deny(e),
    };
    if let Access::Signed(permission) = spec.access {
        match &principal {
            None if spec.kind == RouteKind::Page => {
                let next_url = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".into());
                let target = format!(
                    "/masuk?next={}",
                    url::form_urlencoded::byte_serialize(next_url.as_bytes()).collect::<String>()
                );
                return Redirect::to(&target).into_response();
            }
            None => return ApiError::unauthenticated().into_response(),
            Some(p) if !p.may(permission) => return deny(ApiError::forbidden()),
            Some(_) => {}
        }
    }
    // CSRF: a state-changing request riding on the session cookie must carry the session's
    // token (form field `csrf` or header `X-CSRF-Token`); an anonymous form (the login) must
    // echo its double-submit cookie. Bearer-token calls carry no ambient credential. Other
    // public forms (the verification portal's upload) act on no account, so they are exempt.
    let login_form = spec.path == LOGIN_PATH;
    if is_unsafe(req.method()) && (spec.access != crate::routes::Access::Public || login_form) {
        let expected = match principal.as_ref().map(|p| &p.via) {
            Some(AuthVia::Session { csrf, .. }) if !login_form => Some(csrf.clone()),
            Some(AuthVia::Token { .. }) => None,
            _ if spec.kind == RouteKind::Page => Some(
                cookie_value(
                    req.headers(),
                    login_csrf_cookie_name(state.config.cookie_secure),
                )
                .unwrap_or_default(),
            ),
            _ => None,
        };
        if let Some(expected) = expected {
            let header_token = req
                .headers()
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let (r, form_token) = match form_csrf(req).await {
                Ok(v) => v,
                Err(e) => return deny(e),
            };
            req = r;
            // A file upload form (multipart) cannot be read here without buffering the files, so
            // it carries the token in its action URL instead.
            let query_token = is_multipart(req.headers())
                .then(|| {
                    req.uri().query().and_then(|q| {
                        url::form_urlencoded::parse(q.as_bytes())
                            .find(|(k, _)| k == "csrf")
                            .map(|(_, v)| v.into_owned())
                    })
                })
                .flatten();
            let given = header_token
                .or(form_token)
                .or(query_token)
                .unwrap_or_default();
            if !constant_time_eq(&given, &expected) {
                tracing::warn!(path = %spec.path, "request refused: CSRF token missing or wrong");
                return deny(ApiError::csrf());
            }
        }
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// Starts a fresh session for `user` (never reusing an id the client sent: no fixation) and
/// returns the `Set-Cookie` header.
pub async fn start_session(
    state: &Shared,
    user: &User,
    addr: &ClientAddr,
    user_agent: &str,
) -> Result<HeaderValue, ApiError> {
    let sid = random_secret();
    let digest = secret_digest(&sid);
    let csrf = random_secret();
    state
        .db
        .create_session(&companion_db::NewSession {
            id_digest: &digest,
            user_id: user.id,
            csrf_token: &csrf,
            expires_at: chrono::Utc::now() + state.config.session_idle,
            client_addr: &addr.0,
            user_agent: &user_agent.chars().take(200).collect::<String>(),
        })
        .await?;
    Ok(set_cookie(
        session_cookie_name(state.config.cookie_secure),
        &sid,
        Some(state.config.session_idle.num_seconds()),
        state.config.cookie_secure,
    ))
}

/// Ends the session named by the request's cookie, if any.
pub async fn end_session(state: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(sid) = cookie_value(headers, session_cookie_name(state.config.cookie_secure)) {
        state.db.delete_session(&secret_digest(&sid)).await?;
    }
    Ok(())
}

/// Failed logins slow further attempts: after [`FREE_FAILURES`] failures for one username from
/// one client address, or [`FREE_FAILURES_PER_ADDRESS`] from one address whatever the username,
/// each attempt must wait twice as long as the last (capped), counted from the last failure.
/// Never per username alone: failures from one address must not lock the account for everyone
/// else (its owner signs in from their own desk). Kept in memory: a restart forgives, which is
/// acceptable for this office.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Free failures for one username from one address.
pub const FREE_FAILURES: u32 = 5;
/// Free failures from one address over all usernames (an office behind one NAT address shares
/// it, hence more).
pub const FREE_FAILURES_PER_ADDRESS: u32 = 20;
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);

/// The throttle keys of a login attempt: this username from this address, then this address.
pub fn login_keys(username: &str, client: &str) -> [String; 2] {
    [
        format!("user:{username}|ip:{client}"),
        format!("ip:{client}"),
    ]
}

impl LoginThrottle {
    fn wait_for(key: &str, count: u32) -> Duration {
        let free = if key.starts_with("ip:") {
            FREE_FAILURES_PER_ADDRESS
        } else {
            FREE_FAILURES
        };
        if count < free {
            return Duration::ZERO;
        }
        let exp = (count - free).min(16);
        Duration::from_secs(1u64 << exp).min(MAX_WAIT)
    }

    /// How long the caller must still wait before another attempt for these keys.
    pub fn must_wait(&self, keys: &[String]) -> Option<Duration> {
        let map = self.failures.lock().ok()?;
        keys.iter()
            .filter_map(|k| map.get(k).map(|v| (k, v)))
            .filter_map(|(k, (count, last))| Self::wait_for(k, *count).checked_sub(last.elapsed()))
            .filter(|d| !d.is_zero())
            .max()
    }

    /// Records a failure; returns the new failure count (the highest among the keys).
    pub fn failed(&self, keys: &[String]) -> u32 {
        let Ok(mut map) = self.failures.lock() else {
            return 0;
        };
        map.retain(|_, (_, last)| last.elapsed() < FORGET_AFTER);
        keys.iter()
            .map(|k| {
                let e = map.entry(k.clone()).or_insert((0, Instant::now()));
                e.0 += 1;
                e.1 = Instant::now();
                e.0
            })
            .max()
            .unwrap_or(0)
    }

    /// A successful login forgets the failures of that username from that address (the
    /// address's own count stays: one good account must not reset a guesser's budget).
    pub fn succeeded(&self, pair_key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(pair_key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_waits_double_after_free_failures() {
        let t = LoginThrottle::default();
        let keys = login_keys("budi", "1.2.3.4");
        for _ in 0..FREE_FAILURES - 1 {
            t.failed(&keys);
        }
        assert_eq!(t.must_wait(&keys), None);
        assert_eq!(t.failed(&keys), FREE_FAILURES);
        assert!(
            t.must_wait(&keys)
                .is_some_and(|d| d <= Duration::from_secs(1))
        );
        t.failed(&keys);
        assert!(
            t.must_wait(&keys)
                .is_some_and(|d| d > Duration::from_secs(1))
        );
        // The same user from another address, and another user from this one, are not slowed.
        assert_eq!(t.must_wait(&login_keys("budi", "5.6.7.8")), None);
        assert_eq!(t.must_wait(&login_keys("ani", "1.2.3.4")), None);
        t.succeeded(&keys[0]);
        assert_eq!(t.must_wait(&keys), None);
        assert_eq!(LoginThrottle::wait_for("user:x|ip:y", 100), MAX_WAIT);
    }

    #[test]
    fn one_address_trying_many_usernames_is_slowed() {
        let t = LoginThrottle::default();
        for i in 0..FREE_FAILURES_PER_ADDRESS {
            let keys = login_keys(&format!("akun{i}"), "9.9.9.9");
            assert_eq!(t.must_wait(&keys), None, "attempt {i}");
            t.failed(&keys);
        }
        assert!(t.must_wait(&login_keys("akun.baru", "9.9.9.9")).is_some());
        // Nobody else is.
        assert_eq!(t.must_wait(&login_keys("akun1", "8.8.8.8")), None);
    }

    #[test]
    fn forwarded_for_takes_the_proxys_entry() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 10.0.0.7"),
        );
        assert_eq!(forwarded_for(&h).as_deref(), Some("10.0.0.7"));
        h.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(forwarded_for(&h), None);
        assert_eq!(forwarded_for(&HeaderMap::new()), None);
    }

    #[test]
    fn cookies_are_parsed_and_set_safely() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; sc_session=xyz; b=2"),
        );
        assert_eq!(cookie_value(&h, "sc_session").as_deref(), Some("xyz"));
        assert_eq!(cookie_value(&h, "sc"), None);
        let c = set_cookie("sc_session", "v", Some(60), true);
        let c = c.to_str().unwrap_or_default();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Secure"));
        assert!(!constant_time_eq("", ""));
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
    }
}
