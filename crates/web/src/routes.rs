//! The whole URL map in one place, each route with its access rule. A route is added only
//! through [`Routes::add`], which installs the access check, so none can exist without a rule;
//! the role × route matrix test walks [`routes`] to check every rule.

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn;
use axum::routing::{MethodRouter, delete, get, patch, post};
use companion_domain::Permission;

use crate::{AppState, Shared, api, auth, health, portal, static_files, survey, ui, webhooks};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (login form, health, public documents).
    Public,
    /// Static files: no lookup of the caller at all.
    Asset,
    /// Operations data (`/metrics`): callers on this machine (a loopback socket with no proxy
    /// header), or anyone with `Authorization: Bearer <METRICS_TOKEN>` when that is set; no
    /// account lookup.
    Local,
    /// A provider's webhook: authenticated by the provider's signature (or secret token),
    /// checked by the handler on the raw body. No account lookup, no CSRF: an `Authorization`
    /// header here is the provider's (Vonage sends its signed JWT as a bearer), never an API
    /// token.
    Webhook,
    /// A signed-in user whose role grants the permission.
    Signed(Permission),
}

/// A page answers unauthenticated callers with a redirect to the login form and errors as HTML;
/// an API route answers with JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Page,
    Api,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub kind: RouteKind,
}

struct Routes {
    router: Router<Shared>,
    specs: Vec<RouteSpec>,
}

impl Routes {
    fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        access: Access,
        handler: MethodRouter<Shared>,
    ) -> Self {
        let kind = if path.starts_with("/api/") {
            RouteKind::Api
        } else {
            RouteKind::Page
        };
        let spec = RouteSpec {
            method,
            path,
            access,
            kind,
        };
        self.specs.push(spec.clone());
        let handler: MethodRouter<Shared> = handler
            .layer::<_, std::convert::Infallible>(from_fn(auth::authorize))
            .layer::<_, std::convert::Infallible>(axum::Extension(spec));
        self.router = self.router.route(path, handler);
        self
    }
}

use Access::{Asset, Local, Public, Signed, Webhook};
use Permission::{
    DecideDocuments as Decide, ManageDocuments as Docs, ManageOwnAccount as Own, ManageUsers,
    RunSync, ViewAudit, ViewPermits as View, WorkflowSteps,
};

/// The largest upload request (several PDFs at once); each file is also held to `MAX_PDF_MB`.
pub const UPLOAD_BODY_LIMIT: usize = 256 * 1024 * 1024;

fn upload_route(handler: MethodRouter<Shared>) -> MethodRouter<Shared> {
    handler.layer(axum::extract::DefaultBodyLimit::max(UPLOAD_BODY_LIMIT))
}

fn build() -> Routes {
    Routes {
        router: Router::new(),
        specs: Vec::new(),
    }
    // Operations.
    .add("GET", "/healthz", Public, get(health::healthz))
    .add("GET", "/readyz", Public, get(health::readyz))
    .add("GET", "/metrics", Local, get(health::metrics))
    .add("GET", "/static/{file}", Asset, get(static_files::serve))
    // WhatsApp provider webhooks (signature or secret token checked in the handler).
    .add(
        "GET",
        "/webhooks/whatsapp",
        Webhook,
        get(webhooks::handshake),
    )
    .add(
        "POST",
        "/webhooks/whatsapp",
        Webhook,
        post(webhooks::receive),
    )
    // Staff application (pages).
    .add("GET", "/masuk", Public, get(ui::login::form))
    .add("POST", "/masuk", Public, post(ui::login::submit))
    .add("POST", "/keluar", Signed(Own), post(ui::login::logout))
    .add("GET", "/", Signed(View), get(ui::dashboard::page))
    .add("GET", "/izin", Signed(View), get(ui::permits::list))
    .add("GET", "/izin.csv", Signed(View), get(ui::permits::csv))
    .add("GET", "/izin/{id}", Signed(View), get(ui::permits::detail))
    .add(
        "POST",
        "/izin/{id}/berkas",
        Signed(Docs),
        upload_route(post(ui::documents::upload)),
    )
    .add(
        "GET",
        "/berkas/{id}",
        Signed(View),
        get(ui::documents::page),
    )
    .add(
        "GET",
        "/berkas/{id}/isi",
        Signed(View),
        get(ui::documents::inline),
    )
    .add(
        "GET",
        "/berkas/{id}/unduh",
        Signed(View),
        get(ui::documents::download),
    )
    .add(
        "POST",
        "/berkas/{id}/tautan",
        Signed(Docs),
        post(ui::documents::create_link),
    )
    .add(
        "POST",
        "/tautan/{id}/cabut",
        Signed(Docs),
        post(ui::documents::revoke_link),
    )
    .add(
        "GET",
        "/dokumen",
        Signed(View),
        get(ui::documents::overview),
    )
    .add("GET", "/tte", Signed(View), get(ui::signing::queues))
    .add(
        "POST",
        "/berkas/{id}/ajukan",
        Signed(Docs),
        post(ui::signing::submit),
    )
    .add(
        "POST",
        "/tte/{id}/ajukan-ulang",
        Signed(Docs),
        post(ui::signing::step),
    )
    .add(
        "POST",
        "/tte/{id}/{step}",
        Signed(Decide),
        post(ui::signing::step),
    )
    .add(
        "POST",
        "/tte/tandatangani",
        Signed(Decide),
        post(ui::signing_jobs::start),
    )
    .add(
        "GET",
        "/tte/pekerjaan/{id}",
        Signed(View),
        get(ui::signing_jobs::page),
    )
    .add(
        "POST",
        "/tte/pekerjaan/{id}/lanjutkan",
        Signed(Decide),
        post(ui::signing_jobs::resume),
    )
    .add(
        "POST",
        "/tte/pekerjaan/{id}/batalkan",
        Signed(Decide),
        post(ui::signing_jobs::cancel),
    )
    .add(
        "POST",
        "/tte/butir/{id}/ulang",
        Signed(Decide),
        post(ui::signing_jobs::retry),
    )
    .add(
        "POST",
        "/dokumen/periksa",
        Signed(Docs),
        post(ui::documents::run_check),
    )
    .add(
        "POST",
        "/dokumen/kotak-masuk/pindai",
        Signed(Docs),
        post(ui::documents::scan_inbox),
    )
    .add(
        "POST",
        "/dokumen/kotak-masuk/{id}/tetapkan",
        Signed(Docs),
        post(ui::documents::assign),
    )
    .add(
        "POST",
        "/dokumen/kotak-masuk/{id}/buang",
        Signed(Docs),
        post(ui::documents::discard),
    )
    // The applicant's download link: no account, the signed token decides.
    .add(
        "GET",
        "/unduh/{token}",
        Public,
        get(ui::documents::applicant_download),
    )
    // The public verification portal.
    .add("GET", "/v/{id}", Public, get(portal::qr_page))
    .add(
        "GET",
        "/v/{id}/unduh",
        Public,
        get(crate::notices::signed_download),
    )
    .add("GET", "/periksa", Public, get(portal::check_page))
    .add("GET", "/logo-kantor", Asset, get(portal::logo))
    .add("GET", "/pindai", Public, get(portal::scan_page))
    .add("GET", "/bantuan", Public, get(portal::help_page))
    .add(
        "POST",
        "/periksa",
        Public,
        upload_route(post(portal::check_upload)),
    )
    // The office CAs' revocation data and certificates (named in the certificates' CDP/AIA).
    .add(
        "GET",
        "/pki/ocsp/{*request}",
        Public,
        get(crate::pki::ocsp_get),
    )
    .add(
        "POST",
        "/pki/ocsp",
        Public,
        post(crate::pki::ocsp_post).layer(axum::extract::DefaultBodyLimit::max(
            crate::pki::OCSP_BODY_LIMIT,
        )),
    )
    .add("GET", "/pki/{file}", Public, get(crate::pki::file))
    // The satisfaction survey: the applicant's link (the token decides) and the staff report.
    .add("GET", "/survei/{token}", Public, get(survey::show))
    .add("POST", "/survei/{token}", Public, post(survey::submit))
    // Public application tracking: number + the phone's last four digits, or a signed link.
    .add("GET", "/lacak", Public, get(crate::lacak::page))
    .add("POST", "/lacak", Public, post(crate::lacak::submit))
    .add("GET", "/lacak/{token}", Public, get(crate::lacak::link))
    .add("GET", "/skm", Signed(View), get(ui::skm::page))
    .add("GET", "/skm.csv", Signed(View), get(ui::skm::csv))
    .add("GET", "/skm.pdf", Signed(View), get(ui::skm::pdf))
    .add("GET", "/skm/cetak", Signed(View), get(ui::skm::print))
    .add(
        "GET",
        "/verifikasi",
        Signed(View),
        get(ui::verifications::page),
    )
    .add(
        "GET",
        "/verifikasi.csv",
        Signed(View),
        get(ui::verifications::csv),
    )
    .add("GET", "/jenis-izin", Signed(View), get(ui::permits::types))
    .add("GET", "/sinkronisasi", Signed(View), get(ui::sync::page))
    .add(
        "POST",
        "/sinkronisasi",
        Signed(RunSync),
        post(ui::sync::start),
    )
    .add("GET", "/audit", Signed(ViewAudit), get(ui::audit::page))
    .add("GET", "/akun", Signed(Own), get(ui::account::page))
    .add(
        "POST",
        "/akun/kata-sandi",
        Signed(Own),
        post(ui::account::change_password),
    )
    .add(
        "POST",
        "/akun/token",
        Signed(Own),
        post(ui::account::create_token),
    )
    .add(
        "POST",
        "/akun/token/{id}/cabut",
        Signed(Own),
        post(ui::account::revoke_token),
    )
    .add(
        "GET",
        "/pengguna",
        Signed(ManageUsers),
        get(ui::users::page),
    )
    .add(
        "POST",
        "/pengguna",
        Signed(ManageUsers),
        post(ui::users::create),
    )
    .add(
        "POST",
        "/pengguna/{id}",
        Signed(ManageUsers),
        post(ui::users::update),
    )
    // WhatsApp (staff pages)
    .add("GET", "/pesan", Signed(View), get(ui::messages::log))
    .add(
        "POST",
        "/pesan/{id}/ulang",
        Signed(Permission::ManageNotifications),
        post(ui::messages::retry),
    )
    .add(
        "POST",
        "/pesan/{id}/batal",
        Signed(Permission::ManageNotifications),
        post(ui::messages::cancel),
    )
    .add(
        "GET",
        "/pesan/templat",
        Signed(View),
        get(ui::messages::templates_page),
    )
    .add(
        "POST",
        "/pesan/templat",
        Signed(Permission::ManageNotifications),
        post(ui::messages::save_template),
    )
    .add(
        "GET",
        "/pesan/kontak",
        Signed(View),
        get(ui::messages::contacts),
    )
    .add(
        "POST",
        "/pesan/kontak",
        Signed(Permission::ManageNotifications),
        post(ui::messages::set_contact),
    )
    .add(
        "POST",
        "/pesan/kontak/impor",
        Signed(Permission::ManageNotifications),
        post(ui::messages::import),
    )
    .add(
        "POST",
        "/pesan/kontak/aksi",
        Signed(Permission::ManageNotifications),
        post(ui::messages::contact_action),
    )
    .add(
        "POST",
        "/pesan/kontak/daftar",
        Signed(Permission::ManageNotifications),
        post(ui::messages::decide_daftar),
    )
    .add(
        "GET",
        "/pesan/penyedia",
        Signed(Permission::ManageNotifications),
        get(ui::messages::provider),
    )
    .add(
        "POST",
        "/pesan/penyedia/templat",
        Signed(Permission::ManageNotifications),
        post(ui::messages::refresh_templates),
    )
    .add(
        "POST",
        "/pesan/penyedia/uji",
        Signed(Permission::ManageNotifications),
        post(ui::messages::send_test),
    )
    .add(
        "GET",
        "/pesan/perpanjangan",
        Signed(View),
        get(ui::messages::renewals),
    )
    .add(
        "POST",
        "/pesan/perpanjangan/konfirmasi",
        Signed(Permission::ManageNotifications),
        post(ui::messages::confirm_renewal),
    )
    .add(
        "POST",
        "/pesan/perpanjangan/tolak",
        Signed(Permission::ManageNotifications),
        post(ui::messages::reject_renewal),
    )
    // REST API.
    .add(
        "GET",
        "/api/v1/openapi.json",
        Public,
        get(api::openapi::document),
    )
    .add("GET", "/api/v1/me", Signed(Own), get(api::account::me))
    .add(
        "POST",
        "/api/v1/me/password",
        Signed(Own),
        post(api::account::change_password),
    )
    .add(
        "GET",
        "/api/v1/tokens",
        Signed(Own),
        get(api::account::list_tokens),
    )
    .add(
        "POST",
        "/api/v1/tokens",
        Signed(Own),
        post(api::account::create_token),
    )
    .add(
        "DELETE",
        "/api/v1/tokens/{id}",
        Signed(Own),
        delete(api::account::revoke_token),
    )
    .add(
        "GET",
        "/api/v1/permits",
        Signed(View),
        get(api::permits::list),
    )
    .add(
        "GET",
        "/api/v1/permits/{id}",
        Signed(View),
        get(api::permits::detail),
    )
    .add(
        "GET",
        "/api/v1/exports/permits.csv",
        Signed(View),
        get(api::permits::csv),
    )
    .add(
        "GET",
        "/api/v1/permits/{id}/documents",
        Signed(View),
        get(api::documents::list_for_permit),
    )
    .add(
        "POST",
        "/api/v1/permits/{id}/documents",
        Signed(Docs),
        upload_route(post(api::documents::upload)),
    )
    .add(
        "GET",
        "/api/v1/documents/integrity",
        Signed(View),
        get(api::documents::integrity),
    )
    .add(
        "POST",
        "/api/v1/documents/integrity",
        Signed(Docs),
        post(api::documents::run_integrity),
    )
    .add(
        "GET",
        "/api/v1/documents/{id}",
        Signed(View),
        get(api::documents::detail),
    )
    .add(
        "GET",
        "/api/v1/documents/{id}/content",
        Signed(View),
        get(api::documents::content),
    )
    .add(
        "GET",
        "/api/v1/documents/{id}/links",
        Signed(View),
        get(api::documents::list_links),
    )
    .add(
        "POST",
        "/api/v1/documents/{id}/links",
        Signed(Docs),
        post(api::documents::create_link),
    )
    .add(
        "DELETE",
        "/api/v1/links/{id}",
        Signed(Docs),
        delete(api::documents::revoke_link),
    )
    .add(
        "GET",
        "/api/v1/signing/cases",
        Signed(View),
        get(api::signing::list),
    )
    .add(
        "POST",
        "/api/v1/signing/cases",
        Signed(Docs),
        post(api::signing::submit),
    )
    .add(
        "GET",
        "/api/v1/signing/cases/{id}",
        Signed(View),
        get(api::signing::detail),
    )
    // Staff (resubmit) and officials (the rest) both take steps; the workflow decides which.
    .add(
        "POST",
        "/api/v1/signing/cases/{id}/steps",
        Signed(WorkflowSteps),
        post(api::signing::step),
    )
    .add(
        "GET",
        "/api/v1/signing/batches",
        Signed(View),
        get(api::signing::list_batches),
    )
    .add(
        "POST",
        "/api/v1/signing/batches",
        Signed(Decide),
        post(api::signing::start_batch),
    )
    .add(
        "GET",
        "/api/v1/signing/batches/{id}",
        Signed(View),
        get(api::signing::get_batch),
    )
    .add(
        "POST",
        "/api/v1/signing/batches/{id}/resume",
        Signed(Decide),
        post(api::signing::resume_batch),
    )
    .add(
        "POST",
        "/api/v1/signing/batches/{id}/cancel",
        Signed(Decide),
        post(api::signing::cancel_batch),
    )
    .add(
        "POST",
        "/api/v1/signing/items/{id}/retry",
        Signed(Decide),
        post(api::signing::retry_item),
    )
    .add(
        "GET",
        "/api/v1/inbox",
        Signed(Docs),
        get(api::documents::inbox),
    )
    .add(
        "POST",
        "/api/v1/inbox/{id}/assign",
        Signed(Docs),
        post(api::documents::assign),
    )
    .add(
        "DELETE",
        "/api/v1/inbox/{id}",
        Signed(Docs),
        delete(api::documents::discard),
    )
    .add(
        "GET",
        "/api/v1/permit-types",
        Signed(View),
        get(api::permits::types),
    )
    .add(
        "GET",
        "/api/v1/dashboard",
        Signed(View),
        get(api::permits::dashboard),
    )
    .add(
        "GET",
        "/api/v1/sync/runs",
        Signed(View),
        get(api::sync::list_runs),
    )
    .add(
        "POST",
        "/api/v1/sync/runs",
        Signed(RunSync),
        post(api::sync::start),
    )
    .add(
        "GET",
        "/api/v1/sync/runs/{id}",
        Signed(View),
        get(api::sync::get_run),
    )
    .add(
        "GET",
        "/api/v1/sync/calls",
        Signed(View),
        get(api::sync::list_calls),
    )
    .add(
        "GET",
        "/api/v1/sync/status",
        Signed(View),
        get(api::sync::status),
    )
    .add(
        "GET",
        "/api/v1/audit",
        Signed(ViewAudit),
        get(api::audit::list),
    )
    .add(
        "GET",
        "/api/v1/users",
        Signed(ManageUsers),
        get(api::users::list),
    )
    .add(
        "POST",
        "/api/v1/users",
        Signed(ManageUsers),
        post(api::users::create),
    )
    .add(
        "PATCH",
        "/api/v1/users/{id}",
        Signed(ManageUsers),
        patch(api::users::update),
    )
}

/// Every route with its rule, one entry per method.
pub fn routes() -> Vec<RouteSpec> {
    build().specs
}

/// The application's router.
pub fn router(state: AppState) -> Router {
    let state: Shared = Arc::new(state);
    build()
        .router
        .fallback(ui::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::portal::security_headers,
        ))
        .layer(axum::middleware::from_fn(crate::http_metrics::record))
        // `authorize` finds the state here (route layers run inside this one).
        .layer(axum::Extension(state.clone()))
        .with_state(state)
}
