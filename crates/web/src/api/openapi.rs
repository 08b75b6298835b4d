//! The OpenAPI document, generated from the handlers' annotations and the types they return.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{account, audit, documents, permits, signing, sync, users};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description = Some(
            "A personal API token (`sct_…`) from the account page or `sicantik-companion user token`.".into(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SICANTIK Companion API",
        description = "Permits synced from SICANTIK (DPMPTSP Kabupaten Karo), sync control, accounts and the audit trail. \
                       Errors are `{\"error\": {\"code\", \"message\"}}` with a stable code and a message in Bahasa Indonesia.",
    ),
    paths(
        account::me, account::change_password, account::list_tokens, account::create_token, account::revoke_token,
        permits::list, permits::detail, permits::csv, permits::types, permits::dashboard,
        sync::list_runs, sync::start, sync::get_run, sync::list_calls, sync::status,
        audit::list,
        users::list, users::create, users::update,
        documents::list_for_permit, documents::upload, documents::detail, documents::content,
        documents::list_links, documents::create_link, documents::revoke_link,
        documents::inbox, documents::assign, documents::discard,
        documents::integrity, documents::run_integrity,
        signing::list, signing::detail, signing::submit, signing::step,
        signing::list_batches, signing::start_batch, signing::get_batch, signing::resume_batch, signing::cancel_batch, signing::retry_item,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "permits", description = "Permits, permit types, dashboard figures"),
        (name = "sync", description = "SICANTIK synchronisation"),
        (name = "account", description = "The caller's own account and API tokens"),
        (name = "users", description = "Accounts (administrators)"),
        (name = "documents", description = "Permit PDFs: upload, versions, download, applicant links, inbox, integrity"),
        (name = "signing", description = "The signing workflow (TTE): submit, approve/reject, sign, revoke"),
        (name = "audit", description = "The hash-chained audit trail (auditors, administrators)"),
    )
)]
pub struct ApiDoc;

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
