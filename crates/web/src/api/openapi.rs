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

/// The API reference (`docs/api-reference.md`), generated from the OpenAPI document: every
/// path and method with its summary, parameters, request body and answers. A test keeps the
/// file in step with the code.
pub fn reference_markdown() -> String {
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").trim().to_string();
    let schema_name = |v: &serde_json::Value| -> String {
        let v = if v.get("items").is_some() {
            &v["items"]
        } else {
            v
        };
        match v.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => r.rsplit('/').next().unwrap_or(r).to_string(),
            None => text(&v["type"]),
        }
    };
    let mut out = String::new();
    out.push_str("# SICANTIK Companion API reference\n\n");
    out.push_str(
        "Generated from the OpenAPI document (`GET /api/v1/openapi.json`) by \
         `UPDATE_API_REFERENCE=1 cargo test -p companion-web --test api_reference`; do not edit by hand.\n\n",
    );
    out.push_str(&format!("{}\n\n", text(&doc["info"]["description"])));
    out.push_str(
        "Authentication: `Authorization: Bearer <token>` (a personal API token, `sct_…`). \
         Errors: `{\"error\": {\"code\", \"message\"}}`.\n",
    );
    let Some(paths) = doc["paths"].as_object() else {
        return out;
    };
    let mut by_tag: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (path, item) in paths {
        let Some(methods) = item.as_object() else {
            continue;
        };
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = methods.get(method) else {
                continue;
            };
            let mut s = format!("### `{} {path}`\n\n", method.to_uppercase());
            let summary = text(&op["summary"]);
            if !summary.is_empty() {
                s.push_str(&format!("{summary}\n\n"));
            }
            let description = text(&op["description"]);
            if !description.is_empty() && description != summary {
                s.push_str(&format!("{description}\n\n"));
            }
            if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
                s.push_str(
                    "| parameter | in | required | type | meaning |\n|---|---|---|---|---|\n",
                );
                for p in params {
                    s.push_str(&format!(
                        "| `{}` | {} | {} | {} | {} |\n",
                        text(&p["name"]),
                        text(&p["in"]),
                        if p["required"].as_bool().unwrap_or(false) {
                            "yes"
                        } else {
                            "no"
                        },
                        schema_name(&p["schema"]),
                        text(&p["description"])
                            .replace('\n', " ")
                            .replace('|', "\\|"),
                    ));
                }
                s.push('\n');
            }
            if let Some(content) = op["requestBody"]["content"].as_object() {
                for (ctype, body) in content {
                    s.push_str(&format!(
                        "Request body: `{ctype}` {}\n\n",
                        schema_name(&body["schema"])
                    ));
                }
            }
            if let Some(responses) = op["responses"].as_object() {
                s.push_str("| answer | meaning |\n|---|---|\n");
                for (code, r) in responses {
                    let mut meaning = text(&r["description"])
                        .replace('\n', " ")
                        .replace('|', "\\|");
                    if meaning.is_empty() {
                        meaning = status_meaning(code).to_string();
                    }
                    if let Some(schema) = r["content"]
                        .as_object()
                        .and_then(|c| c.values().next())
                        .map(|c| schema_name(&c["schema"]))
                        .filter(|n| !n.is_empty())
                    {
                        meaning.push_str(&format!(" — `{schema}`"));
                    }
                    s.push_str(&format!("| {code} | {meaning} |\n"));
                }
                s.push('\n');
            }
            let tag = op["tags"][0].as_str().unwrap_or("other").to_string();
            by_tag.entry(tag).or_default().push(s);
        }
    }
    for (tag, ops) in by_tag {
        out.push_str(&format!("\n## {tag}\n\n"));
        for op in ops {
            out.push_str(&op);
        }
    }
    out
}

/// What an answer's status means, where the handler gave no words of its own.
fn status_meaning(code: &str) -> &'static str {
    match code {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted: running in the background",
        "204" => "Done (no body)",
        "400" => "A parameter or the body is not valid (`error.code` says which)",
        "401" => "No valid token",
        "403" => "The caller's role may not do this",
        "404" => "Not found",
        "409" => "Conflicts with the current state (e.g. a step not allowed now)",
        "413" => "Too large",
        "422" => "Refused (e.g. not a valid PDF)",
        "429" => "Too many requests: wait (`Retry-After`)",
        "503" => "A dependency (database, store, signer) is not available",
        _ => "",
    }
}
