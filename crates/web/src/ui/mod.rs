//! The staff application: server-rendered pages in Bahasa Indonesia (maud templates escape
//! every value), one module per area, sharing the layout below.

pub mod account;
pub mod audit;
pub mod dashboard;
pub mod documents;
pub mod login;
pub mod messages;
pub mod permits;
pub mod signing;
pub mod signing_jobs;
pub mod skm;
pub mod sync;
pub mod users;
pub mod verifications;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};
use companion_domain::permits::PermitView;
use companion_domain::{Permission, PermitStatus};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::ApiError;
use crate::auth::{ClientAddr, Principal};
use crate::static_files::asset_version;

/// The signed-in user (routes with `Access::Signed` always have one).
pub struct Me(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Me {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Option<Principal>>()
            .cloned()
            .flatten()
            .map(Me)
            .ok_or_else(ApiError::unauthenticated)
    }
}

/// The caller's address, for the audit trail.
pub struct Client(pub ClientAddr);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Client(
            parts
                .extensions
                .get::<ClientAddr>()
                .cloned()
                .unwrap_or(ClientAddr("unknown".into())),
        ))
    }
}

/// Which menu entry is active.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Dashboard,
    Permits,
    Documents,
    Signing,
    Types,
    Sync,
    Messages,
    Verifications,
    Skm,
    Audit,
    Users,
    Account,
    None,
}

fn head(title: &str) -> Markup {
    let v = asset_version();
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width,initial-scale=1";
            meta name="referrer" content="same-origin";
            title { (title) " — SICANTIK Companion" }
            link rel="icon" href={ "/static/favicon.svg?v=" (v) } type="image/svg+xml";
            link rel="stylesheet" href={ "/static/app.css?v=" (v) };
            script src={ "/static/app.js?v=" (v) } defer {}
        }
    }
}

/// The page frame: header with the menu for the user's role, the content, a footer.
pub fn layout(me: &Principal, nav: Nav, title: &str, content: Markup) -> Html<String> {
    let u = &me.user;
    let items: [(Nav, &str, &str, bool); 12] = [
        (Nav::Dashboard, "/", "Dasbor", true),
        (Nav::Permits, "/izin", "Izin", true),
        (Nav::Documents, "/dokumen", "Dokumen", true),
        (Nav::Signing, "/tte", "TTE", true),
        (Nav::Types, "/jenis-izin", "Jenis izin", true),
        (Nav::Sync, "/sinkronisasi", "Sinkronisasi", true),
        (Nav::Messages, "/pesan", "Pesan WhatsApp", true),
        (Nav::Verifications, "/verifikasi", "Verifikasi", true),
        // Every role reads the satisfaction report (`/skm` is Signed(View)).
        (Nav::Skm, "/skm", "SKM", true),
        (
            Nav::Audit,
            "/audit",
            "Jejak audit",
            me.may(Permission::ViewAudit),
        ),
        (
            Nav::Users,
            "/pengguna",
            "Pengguna",
            me.may(Permission::ManageUsers),
        ),
        (Nav::Account, "/akun", "Akun saya", true),
    ];
    Html(
        html! {
            (DOCTYPE)
            html lang="id" {
                (head(title))
                body {
                    header.top {
                        a.brand href="/" { "SICANTIK " span { "Companion" } }
                        input #menu-toggle type="checkbox" hidden;
                        label.menu-button for="menu-toggle" aria-label="Menu" { "☰" }
                        nav.menu {
                            @for (key, href, label, shown) in items {
                                @if shown {
                                    a href=(href) class=[(key == nav).then_some("active")] { (label) }
                                }
                            }
                        }
                        div.who {
                            span.badge data-role-badge=(u.role.as_str()) title=(u.role.label()) {
                                // Role first: when space runs out the name is cut, not the role.
                                (u.role.label()) " · " (u.display_name)
                            }
                            form method="post" action="/keluar" {
                                input type="hidden" name="csrf" value=(me.csrf());
                                button #logout.link type="submit" { "Keluar" }
                            }
                        }
                    }
                    main { (content) }
                    footer { "DPMPTSP Kabupaten Karo · SICANTIK Companion" }
                }
            }
        }
        .into_string(),
    )
}

/// A bare page for visitors who are not signed in (login, errors).
pub fn bare(title: &str, content: Markup) -> Html<String> {
    bare_in("id", title, content)
}

/// [`bare`] in another language (`lang` is the page's BCP 47 code: `id`, `en`).
pub fn bare_in(lang: &str, title: &str, content: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang=(lang) {
                (head(title))
                body.bare {
                    header.top { a.brand href="/" { "SICANTIK " span { "Companion" } } }
                    main { (content) }
                    footer { "DPMPTSP Kabupaten Karo" }
                }
            }
        }
        .into_string(),
    )
}

/// The public portal's frame: the office's name and logo (`/logo-kantor`, the configured
/// `PORTAL_LOGO` or the built-in mark), linking to the portal's own start page — never to the
/// staff login at `/`.
pub fn portal_frame(lang: &str, title: &str, content: Markup) -> Html<String> {
    let en = lang == "en";
    Html(
        html! {
            (DOCTYPE)
            html lang=(lang) {
                (head(title))
                body.bare.portal-body {
                    header.top.office {
                        a.office-brand #portal-home href="/periksa" {
                            img.office-logo src="/logo-kantor" alt="" width="44" height="44";
                            span.office-name {
                                span.gov { "Pemerintah Kabupaten Karo" }
                                span.unit { (if en { "DPMPTSP · Document verification" } else { "DPMPTSP · Verifikasi dokumen" }) }
                            }
                        }
                    }
                    main { (content) }
                    footer {
                        "Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu (DPMPTSP) Kabupaten Karo"
                    }
                }
            }
        }
        .into_string(),
    )
}

pub fn error_page(status: StatusCode, message: &str) -> Response {
    let title = match status {
        StatusCode::FORBIDDEN => "Akses ditolak",
        StatusCode::NOT_FOUND => "Tidak ditemukan",
        _ => "Terjadi kesalahan",
    };
    (
        status,
        bare(
            title,
            html! { section.card { h1 { (title) } p { (message) } p { a href="/" { "← Kembali ke dasbor" } } } },
        ),
    )
        .into_response()
}

pub async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "Halaman yang Anda cari tidak ada.")
}

/// A page handler's error: shown as an HTML page, not JSON.
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}
impl From<companion_db::DbError> for PageError {
    fn from(e: companion_db::DbError) -> Self {
        Self(e.into())
    }
}
impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(self.0.status, &self.0.message)
    }
}

pub type PageResult = Result<Response, PageError>;

pub fn status_label(s: PermitStatus) -> &'static str {
    match s {
        PermitStatus::Issued => "Terbit",
        PermitStatus::InProcess => "Dalam proses",
    }
}

pub fn date(d: Option<chrono::NaiveDate>) -> String {
    d.map(|d| d.format("%d-%m-%Y").to_string())
        .unwrap_or_else(|| "—".into())
}

pub fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("—")
}

pub fn flag_label(field: &str, problem: &str) -> String {
    let what = match field {
        "applicant_name" => "Nama pemohon",
        "permit_type_name" => "Jenis izin",
        "permit_number" => "Nomor izin",
        "expiry_date" => "Tanggal berlaku",
        "issue_date" => "Tanggal surat",
        "received_date" => "Tanggal terima berkas",
        other => other,
    };
    let why = if problem == "missing" {
        "kosong di SICANTIK".to_string()
    } else if let Some(v) = problem.strip_prefix("junk:") {
        format!("tidak wajar di SICANTIK (\"{v}\")")
    } else if let Some(v) = problem.strip_prefix("invalid:") {
        format!("tidak valid di SICANTIK (\"{v}\")")
    } else {
        problem.to_string()
    };
    format!("{what} {why}")
}

pub fn flags(p: &PermitView) -> Markup {
    html! { @for (f, v) in &p.flags { div.flag { "⚠ " (flag_label(f, v)) } } }
}

pub fn expiry_note(status: &str) -> &'static str {
    match status {
        "found" => "",
        "unknown" => "belum diperiksa ke SICANTIK",
        "not_registered" => "SICANTIK tidak mengenali nomor izin ini",
        "no_expiry" => "SICANTIK tidak mencantumkan tanggal berlaku",
        _ => "pemeriksaan gagal, akan dicoba lagi",
    }
}

/// The short name of an expiry look-up result.
pub fn expiry_status_label(s: &str) -> &str {
    match s {
        "found" => "Diketahui",
        "unknown" => "Belum diperiksa",
        "not_registered" => "Tidak dikenal SICANTIK",
        "no_expiry" => "Tanpa tanggal berlaku",
        "error" => "Gagal, dicoba lagi",
        other => other,
    }
}

/// Thousands with Indonesian separators.
pub fn num(n: i64) -> String {
    crate::charts::format_thousands(n)
}

/// Back to `path` with a one-time notice (shown by [`notice`]).
pub fn redirect_with_notice(path: &str, msg: &str) -> Response {
    axum::response::Redirect::to(&format!(
        "{path}?pesan={}",
        url::form_urlencoded::byte_serialize(msg.as_bytes()).collect::<String>()
    ))
    .into_response()
}

/// A form action's result as a redirect with a notice: success or a client error's message go
/// back to the page; a server error becomes an error page.
pub fn notice_or_error(path: &str, result: Result<String, ApiError>) -> PageResult {
    match result {
        Ok(msg) => Ok(redirect_with_notice(path, &msg)),
        Err(e) if e.status.is_client_error() => Ok(redirect_with_notice(path, &e.message)),
        Err(e) => Err(e.into()),
    }
}

/// A one-time notice carried in the query string after a redirect (`?pesan=…`).
pub fn notice(msg: Option<&str>) -> Markup {
    html! { @if let Some(m) = msg.filter(|m| !m.is_empty()) { div.notice role="status" { (m) } } }
}

/// Inline SVG is trusted markup produced by `charts.rs` (which escapes every label).
pub fn svg(s: String) -> PreEscaped<String> {
    PreEscaped(s)
}
