//! Signing in and out.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use companion_domain::accounts::{dummy_hash, random_secret, verify_password};
use maud::html;
use serde::Deserialize;

use super::{Client, Me, PageResult, bare};
use crate::Shared;
use crate::auth::{
    audit_record, end_session, login_csrf_cookie_name, session_cookie_name, set_cookie,
    start_session,
};

#[derive(Debug, Default, Deserialize)]
pub struct NextParam {
    pub next: Option<String>,
}

/// Only a path on this site: an open redirect would help phishing. The value is checked as a
/// browser would read it after percent-decoding (repeatedly, so `%252F` counts as `/`): it must
/// start with one `/` followed by neither `/` nor `\`, and hold no backslash and no control
/// character (browsers drop TAB and newlines, so `/%09/evil` would become `//evil`). Anything
/// else, schemes included, goes to `/`. Spaces and non-ASCII are sent percent-encoded, so the
/// `Location` header is always valid.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    let Some(raw) = next else {
        return "/".into();
    };
    let mut seen = raw.to_string();
    for _ in 0..4 {
        if !is_local_path(&seen) {
            return "/".into();
        }
        let decoded = percent_decode(&seen);
        if decoded == seen {
            break;
        }
        seen = decoded;
    }
    if !is_local_path(&seen) || (seen.contains('%') && percent_decode(&seen) != seen) {
        return "/".into();
    }
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_graphic() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn is_local_path(p: &str) -> bool {
    let mut chars = p.chars();
    chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && !p.contains('\\')
        && !p.chars().any(char::is_control)
}

/// `%XX` sequences decoded (invalid ones kept as they are); `+` is left alone.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = (hex(h), hex(l))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn render(state: &Shared, next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let csrf = random_secret();
    let page = bare(
        "Masuk",
        html! {
            section.card.login {
                h1 { "Masuk" }
                p.muted { "Aplikasi pendamping SICANTIK untuk petugas DPMPTSP Kabupaten Karo." }
                @if let Some(e) = error { div.error role="alert" { (e) } }
                form method="post" action="/masuk" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="next" value=(next);
                    label { "Nama pengguna" input name="username" autocomplete="username" required autofocus; }
                    label { "Kata sandi" input name="password" type="password" autocomplete="current-password" required; }
                    button.primary type="submit" { "Masuk" }
                }
            }
        },
    );
    let cookie = set_cookie(
        login_csrf_cookie_name(state.config.cookie_secure),
        &csrf,
        Some(3600),
        state.config.cookie_secure,
    );
    (status, [(header::SET_COOKIE, cookie)], page).into_response()
}

pub async fn form(
    State(state): State<Shared>,
    axum::Extension(me): axum::Extension<Option<crate::auth::Principal>>,
    Query(p): Query<NextParam>,
) -> Response {
    let next = safe_next(p.next.as_deref());
    if me.is_some() {
        return Redirect::to(&next).into_response();
    }
    render(&state, &next, None, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    pub next: Option<String>,
}

pub async fn submit(
    State(state): State<Shared>,
    Client(addr): Client,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> PageResult {
    let next = safe_next(f.next.as_deref());
    let username = f.username.trim().to_lowercase();
    let keys = crate::auth::login_keys(&username, &addr.0);
    if let Some(wait) = state.throttle.must_wait(&keys) {
        tracing::warn!(username = %username, client = %addr.0, "login refused: throttled after repeated failures");
        let msg = format!(
            "Terlalu banyak percobaan masuk yang gagal. Coba lagi dalam {} detik.",
            wait.as_secs().max(1)
        );
        return Ok(render(
            &state,
            &next,
            Some(&msg),
            StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    let found = state.db.user_for_login(&username).await?;
    // Verify against a dummy hash when the user does not exist, so timing does not tell.
    let hash = found
        .as_ref()
        .map(|(_, h)| h.as_str())
        .unwrap_or(dummy_hash());
    let password_ok = verify_password(&f.password, hash);
    let user = match found {
        Some((user, _)) if password_ok && !user.disabled => user,
        other => {
            let count = state.throttle.failed(&keys);
            let reason = match other {
                Some((u, _)) if u.disabled && password_ok => "disabled",
                Some(_) => "wrong_password",
                None => "unknown_user",
            };
            tracing::warn!(username = %username, client = %addr.0, failures = count, reason, "login failed");
            state
                .audit(audit_record(
                    None,
                    &addr,
                    "auth.login_failed",
                    Some(("user", username.clone())),
                    serde_json::json!({ "reason": reason, "failures": count }),
                ))
                .await;
            // The same answer whatever the reason: a disabled account with its right password
            // must not tell a guesser that the password is right (the reason is in the trail).
            let msg = "Nama pengguna atau kata sandi salah.";
            return Ok(render(&state, &next, Some(msg), StatusCode::UNAUTHORIZED));
        }
    };
    state.throttle.succeeded(&keys[0]);
    // A session id the browser already had is dropped, never promoted (no fixation).
    end_session(&state, &headers).await?;
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let cookie = start_session(&state, &user, &addr, agent).await?;
    tracing::info!(username = %user.username, client = %addr.0, "signed in");
    state
        .audit(audit_record(
            Some(&user),
            &addr,
            "auth.login",
            Some(("user", user.id.to_string())),
            serde_json::json!({}),
        ))
        .await;
    let clear_login_csrf = set_cookie(
        login_csrf_cookie_name(state.config.cookie_secure),
        "",
        Some(0),
        state.config.cookie_secure,
    );
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear_login_csrf);
    Ok(response)
}

pub async fn logout(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    headers: HeaderMap,
) -> PageResult {
    end_session(&state, &headers).await?;
    state
        .audit(audit_record(
            Some(&me.user),
            &addr,
            "auth.logout",
            None,
            serde_json::json!({}),
        ))
        .await;
    let clear = set_cookie(
        session_cookie_name(state.config.cookie_secure),
        "",
        Some(0),
        state.config.cookie_secure,
    );
    Ok(([(header::SET_COOKIE, clear)], Redirect::to("/masuk")).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_is_local_only() {
        assert_eq!(super::safe_next(Some("/izin?q=a")), "/izin?q=a");
        assert_eq!(super::safe_next(Some("//evil.example")), "/");
        assert_eq!(super::safe_next(Some("https://evil.example")), "/");
        assert_eq!(super::safe_next(Some("/\\evil")), "/");
        assert_eq!(super::safe_next(None), "/");
        for bad in [
            "/\n/evil.example",
            "/\t/evil.example",
            "/\r/x",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/%5Cevil.example",
            "/%252F/evil.example",
            "/%09/evil.example",
            "/%0A/x",
            "/%0D/x",
            "/izin\\..",
            "javascript:alert(1)",
            "http:/evil.example",
            " /izin",
            "",
        ] {
            assert_eq!(super::safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(super::safe_next(Some("/izin?q=a b")), "/izin?q=a%20b");
        assert_eq!(super::safe_next(Some("/izin?q=é")), "/izin?q=%C3%A9");
        assert_eq!(
            super::safe_next(Some("/izin/0142?x=%41")),
            "/izin/0142?x=%41"
        );
    }
}
