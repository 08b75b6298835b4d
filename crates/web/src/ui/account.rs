//! "Akun saya": password change and personal API tokens.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Client, Me, Nav, PageResult, layout, notice};
use crate::Shared;
use crate::api::Query;
use crate::api::account::{do_change_password, do_create_token, do_revoke_token};
use crate::auth::Principal;

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    pub pesan: Option<String>,
}

fn back(msg: &str) -> axum::response::Response {
    super::redirect_with_notice("/akun", msg)
}

async fn render(
    state: &Shared,
    me: &Principal,
    msg: Option<&str>,
    new_secret: Option<&str>,
) -> PageResult {
    let tokens = state.db.list_api_tokens(me.user.id).await?;
    let secret: Markup = html! {
        @if let Some(s) = new_secret {
            div.notice.ok role="status" {
                "Token baru (hanya ditampilkan sekali, simpan sekarang): " br; code #new-token { (s) }
            }
        }
    };
    let content = html! {
        h1 { "Akun saya" }
        (notice(msg))
        (secret)
        section.card {
            h2 { "Profil" }
            dl.facts { dt { "Nama pengguna" } dd { (me.user.username) } dt { "Nama" } dd { (me.user.display_name) } dt { "Peran" } dd { (me.user.role.label()) } }
        }
        section.card {
            h2 { "Ganti kata sandi" }
            form.stack method="post" action="/akun/kata-sandi" {
                input type="hidden" name="csrf" value=(me.csrf());
                label { "Kata sandi saat ini" input type="password" name="current_password" autocomplete="current-password" required; }
                label { "Kata sandi baru (minimal 10 karakter)" input type="password" name="new_password" autocomplete="new-password" minlength="10" required; }
                button.primary type="submit" { "Simpan kata sandi" }
            }
        }
        section.card {
            h2 { "Token API" }
            p.muted { "Untuk mengakses REST API (/api/v1): kirim sebagai header " code { "Authorization: Bearer …" } ". Dokumentasi: " a href="/api/v1/openapi.json" { "openapi.json" } }
            form.filters method="post" action="/akun/token" {
                input type="hidden" name="csrf" value=(me.csrf());
                input name="label" placeholder="Nama token, mis. laporan bulanan" required maxlength="100" aria-label="Nama token";
                button.primary type="submit" { "Buat token" }
            }
            div.table-wrap { table.tokens {
                thead { tr { th { "Nama" } th { "Akhiran" } th { "Dibuat" } th.hide-sm { "Terakhir dipakai" } th { "Status" } th {} } }
                tbody { @for t in &tokens {
                    tr {
                        td { (t.label) } td { code { "…" (t.hint) } } td { (state.office_time(t.created_at)) }
                        td.hide-sm { (t.last_used_at.map(|x| state.office_time(x)).unwrap_or_else(|| "—".into())) }
                        td { @if t.revoked_at.is_some() { "Dicabut" } @else { "Aktif" } }
                        td { @if t.revoked_at.is_none() {
                            form method="post" action={ "/akun/token/" (t.id) "/cabut" } {
                                input type="hidden" name="csrf" value=(me.csrf());
                                button.link.danger type="submit" { "Cabut" }
                            }
                        } }
                    }
                } }
            } }
        }
    };
    Ok(layout(me, Nav::Account, "Akun saya", content).into_response())
}

pub async fn page(State(state): State<Shared>, Me(me): Me, Query(n): Query<Notice>) -> PageResult {
    render(&state, &me, n.pesan.as_deref(), None).await
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    pub current_password: String,
    #[serde(default)]
    pub new_password: String,
}

pub async fn change_password(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    Ok(
        match do_change_password(&state, &me, &addr, &f.current_password, &f.new_password).await {
            Ok(()) => back("Kata sandi diganti. Sesi lain akun ini telah diakhiri."),
            Err(e) if e.status.is_client_error() => back(&e.message),
            Err(e) => return Err(e.into()),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    pub label: String,
}

pub async fn create_token(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Form(f): Form<TokenForm>,
) -> PageResult {
    match do_create_token(&state, &me, &addr, &f.label).await {
        // Rendered directly (not redirected) so the secret never lands in a URL or history.
        Ok(created) => render(&state, &me, Some("Token dibuat."), Some(&created.secret)).await,
        Err(e) if e.status.is_client_error() => Ok(back(&e.message)),
        Err(e) => Err(e.into()),
    }
}

pub async fn revoke_token(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Path(id): Path<String>,
) -> PageResult {
    let Ok(id) = id.parse::<i64>() else {
        return Ok(back("Token tidak ditemukan."));
    };
    let result = do_revoke_token(&state, &me, &addr, id).await;
    super::notice_or_error("/akun", result.map(|()| "Token dicabut.".to_string()))
}
