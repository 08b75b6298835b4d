//! Documents over the API: a permit's files, upload, content with ranges, applicant links, the
//! inbox's held files and the integrity check. The `do_*` operations are shared with the pages.

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use companion_db::{Document, DocumentLink, InboxFile, IntegrityCheck};
use companion_documents::{Actor, Documents, ImportError, ImportSource};
use companion_domain::documents::DocumentKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Json, Path};
use crate::auth::{ClientAddr, Principal};
use crate::files::{Disposition, documents, read_uploads_noted, serve_document};
use crate::ui::{Client, Me};
use crate::{ApiError, AppState, ErrorBody, Shared};

pub fn actor(me: &Principal, client: &ClientAddr) -> Actor {
    Actor {
        user_id: Some(me.user.id),
        name: me.user.username.clone(),
        source: client.0.clone(),
    }
}

pub fn import_error(e: ImportError) -> ApiError {
    match &e {
        ImportError::UnknownPermit(_) => ApiError::not_found(e.pesan()),
        ImportError::OtherPermit(_) | ImportError::Revoked | ImportError::OfficeDocument(_) => {
            ApiError::new(StatusCode::CONFLICT, e.code(), e.pesan())
        }
        ImportError::OverrideNoteRequired => ApiError::bad_request(e.pesan()),
        ImportError::Rejected(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.pesan())
        }
        ImportError::Storage(s) => {
            tracing::error!(error = %s, "object store error");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.pesan())
        }
        ImportError::Db(d) => {
            tracing::error!(error = %d, "database error");
            ApiError::internal()
        }
    }
}

/// The outcome of one uploaded file.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadResult {
    pub file: String,
    /// `stored`, `duplicate` (the same bytes were stored already) or `refused`.
    pub outcome: String,
    pub document: Option<Document>,
    /// Why it was refused (Bahasa Indonesia), with a stable code.
    pub error: Option<crate::errors::ErrorDetail>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadReport {
    pub stored: usize,
    pub duplicates: usize,
    pub refused: usize,
    pub files: Vec<UploadResult>,
}

/// The form field with which a person keeps an original that carries this office's seal or
/// signature (the note says why; audited).
pub const OVERRIDE_NOTE_FIELD: &str = "catatan_override";

/// Imports every file of an upload form for one permit. Refused files are reported, not fatal;
/// a storage or database failure is. A file carrying this office's QR seal or signature is
/// refused unless the form's `catatan_override` says why it is kept.
pub async fn do_upload(
    state: &AppState,
    me: &Principal,
    client: &ClientAddr,
    pendaftaran_id: &str,
    form: Multipart,
    source: ImportSource,
) -> Result<UploadReport, ApiError> {
    let docs = documents(state)?;
    if state.db.get_permit(pendaftaran_id).await?.is_none() {
        return Err(ApiError::not_found("Izin tidak ditemukan."));
    }
    let (uploads, note) =
        read_uploads_noted(form, docs.max_pdf_bytes(), None, OVERRIDE_NOTE_FIELD).await?;
    let who = actor(me, client);
    let mut report = UploadReport {
        stored: 0,
        duplicates: 0,
        refused: 0,
        files: Vec::new(),
    };
    for up in uploads {
        let result = match up.bytes {
            Err(problem) => Err(ImportError::Rejected(problem)),
            Ok(bytes) => match &note {
                Some(note) => {
                    docs.import_original_overriding(
                        pendaftaran_id,
                        bytes,
                        Some(&up.name),
                        source,
                        &who,
                        note,
                    )
                    .await
                }
                None => {
                    docs.import(
                        pendaftaran_id,
                        bytes,
                        Some(&up.name),
                        DocumentKind::Original,
                        source,
                        &who,
                    )
                    .await
                }
            },
        };
        let item = match result {
            Ok(i) if i.already_stored => {
                report.duplicates += 1;
                UploadResult {
                    file: up.name,
                    outcome: "duplicate".into(),
                    document: Some(i.document),
                    error: None,
                }
            }
            Ok(i) => {
                report.stored += 1;
                UploadResult {
                    file: up.name,
                    outcome: "stored".into(),
                    document: Some(i.document),
                    error: None,
                }
            }
            Err(e) if e.is_user_error() => {
                report.refused += 1;
                UploadResult {
                    file: up.name,
                    outcome: "refused".into(),
                    document: None,
                    error: Some(crate::errors::ErrorDetail {
                        code: e.code().into(),
                        message: e.pesan(),
                    }),
                }
            }
            Err(e) => return Err(import_error(e)),
        };
        report.files.push(item);
    }
    if report.stored > 0 {
        state.dashboard_cache.clear().await;
    }
    Ok(report)
}

/// A document by id, or 404.
pub async fn find_document(state: &AppState, id: i64) -> Result<Document, ApiError> {
    state
        .db
        .get_document(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Dokumen tidak ditemukan."))
}

/// A link as the API shows it: with its public URL.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkView {
    #[serde(flatten)]
    pub link: DocumentLink,
    pub url: String,
    /// `active`, `expired` or `revoked`.
    pub state: String,
}

pub fn link_view(state: &AppState, docs: &Documents, link: DocumentLink) -> LinkView {
    let url = format!(
        "{}/unduh/{}",
        state.config.public_base_url,
        docs.link_token(&link)
    );
    let st = if link.revoked_at.is_some() {
        "revoked"
    } else if link.expires_at <= chrono::Utc::now() {
        "expired"
    } else {
        "active"
    };
    LinkView {
        link,
        url,
        state: st.into(),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewLinkBody {
    /// Days the link stays valid (1–365, default 30).
    pub days: Option<i64>,
    /// A note for staff (e.g. who it was sent to).
    pub note: Option<String>,
}

pub async fn do_create_link(
    state: &AppState,
    me: &Principal,
    client: &ClientAddr,
    document_id: i64,
    days: i64,
    note: &str,
) -> Result<LinkView, ApiError> {
    let docs = documents(state)?;
    let doc = find_document(state, document_id).await?;
    if !(1..=companion_documents::MAX_LINK_DAYS).contains(&days) {
        return Err(ApiError::bad_request(format!(
            "Masa berlaku tautan 1–{} hari.",
            companion_documents::MAX_LINK_DAYS
        )));
    }
    let new = docs
        .create_link(&doc, days, note, &actor(me, client))
        .await
        .map_err(import_error)?;
    Ok(link_view(state, docs, new.link))
}

pub async fn do_revoke_link(
    state: &AppState,
    me: &Principal,
    client: &ClientAddr,
    link_id: i64,
) -> Result<DocumentLink, ApiError> {
    let docs = documents(state)?;
    let link = state
        .db
        .get_link(link_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Tautan tidak ditemukan."))?;
    if !docs
        .revoke_link(link_id, &actor(me, client))
        .await
        .map_err(import_error)?
        && link.revoked_at.is_none()
    {
        return Err(ApiError::not_found("Tautan tidak ditemukan."));
    }
    Ok(state.db.get_link(link_id).await?.unwrap_or(link))
}

pub async fn do_assign(
    state: &AppState,
    me: &Principal,
    client: &ClientAddr,
    inbox_id: i64,
    pendaftaran_id: &str,
) -> Result<Document, ApiError> {
    let docs = documents(state)?;
    let pendaftaran_id = pendaftaran_id.trim();
    if pendaftaran_id.is_empty() {
        return Err(ApiError::bad_request("Isi nomor pendaftaran izin."));
    }
    let imported = docs
        .assign_held(inbox_id, pendaftaran_id, &actor(me, client))
        .await
        .map_err(import_error)?
        .ok_or_else(|| ApiError::not_found("Berkas kotak masuk tidak ditemukan."))?;
    state.dashboard_cache.clear().await;
    Ok(imported.document)
}

pub async fn do_discard(
    state: &AppState,
    me: &Principal,
    client: &ClientAddr,
    inbox_id: i64,
) -> Result<(), ApiError> {
    let docs = documents(state)?;
    if docs
        .discard_held(inbox_id, &actor(me, client))
        .await
        .map_err(import_error)?
    {
        Ok(())
    } else {
        Err(ApiError::not_found("Berkas kotak masuk tidak ditemukan."))
    }
}

pub async fn do_check(state: &AppState) -> Result<IntegrityCheck, ApiError> {
    let check = documents(state)?
        .check_integrity()
        .await
        .map_err(import_error)?;
    state.dashboard_cache.clear().await;
    Ok(check)
}

// ---- JSON handlers ----

/// A permit's files, newest version first.
#[utoipa::path(get, path = "/api/v1/permits/{id}/documents", tag = "documents",
    params(("id" = String, Path, description = "Registration id (pendaftaran_id)")),
    responses((status = 403, body = ErrorBody), (status = 401, body = ErrorBody), (status = 400, body = ErrorBody), (status = 200, body = Vec<Document>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_for_permit(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<Document>>, ApiError> {
    if state.db.get_permit(&id).await?.is_none() {
        return Err(ApiError::not_found("Izin tidak ditemukan."));
    }
    Ok(axum::Json(state.db.documents_for_permit(&id).await?))
}

/// Uploads one or more PDFs (multipart, any field name) for a permit. Each file is checked
/// (PDF, not encrypted, within the size limit); refused files are listed with a reason and
/// nothing of them is stored.
#[utoipa::path(post, path = "/api/v1/permits/{id}/documents", tag = "documents",
    params(("id" = String, Path, description = "Registration id (pendaftaran_id)")),
    request_body(content_type = "multipart/form-data", content = String, description = "One or more PDF file fields"),
    responses((status = 403, body = ErrorBody), (status = 401, body = ErrorBody), (status = 200, body = UploadReport), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(id): Path<String>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<axum::Json<UploadReport>, ApiError> {
    let form =
        form.map_err(|_| ApiError::bad_request("Kirim berkas sebagai multipart/form-data."))?;
    Ok(axum::Json(
        do_upload(&state, &me, &client, &id, form, ImportSource::Api).await?,
    ))
}

#[utoipa::path(operation_id = "get_document", get, path = "/api/v1/documents/{id}", tag = "documents",
    params(("id" = i64, Path, description = "Document id")),
    responses((status = 403, body = ErrorBody), (status = 401, body = ErrorBody), (status = 400, body = ErrorBody), (status = 200, body = Document), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn detail(
    State(state): State<Shared>,
    Path(id): Path<i64>,
) -> Result<axum::Json<Document>, ApiError> {
    Ok(axum::Json(find_document(&state, id).await?))
}

/// The PDF itself; single byte ranges are honoured (206).
#[utoipa::path(get, path = "/api/v1/documents/{id}/content", tag = "documents",
    params(("id" = i64, Path, description = "Document id")),
    responses((status = 403, body = ErrorBody), (status = 401, body = ErrorBody), (status = 400, body = ErrorBody), (status = 200, content_type = "application/pdf", body = String), (status = 206, description = "A byte range"), (status = 404, body = ErrorBody), (status = 416, description = "Range not satisfiable")),
    security(("bearer" = [])))]
pub async fn content(
    State(state): State<Shared>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let docs = documents(&state)?;
    let doc = find_document(&state, id).await?;
    serve_document(docs, &doc, &headers, Disposition::Attachment).await
}

#[utoipa::path(get, path = "/api/v1/documents/{id}/links", tag = "documents",
    params(("id" = i64, Path, description = "Document id")),
    responses((status = 403, body = ErrorBody), (status = 401, body = ErrorBody), (status = 400, body = ErrorBody), (status = 200, body = Vec<LinkView>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_links(
    State(state): State<Shared>,
    Path(id): Path<i64>,
) -> Result<axum::Json<Vec<LinkView>>, ApiError> {
    let docs = documents(&state)?;
    find_document(&state, id).await?;
    let links = state.db.links_for_document(id).await?;
    Ok(axum::Json(
        links
            .into_iter()
            .map(|l| link_view(&state, docs, l))
            .collect(),
    ))
}

/// Creates a link the applicant can open without an account.
#[utoipa::path(post, path = "/api/v1/documents/{id}/links", tag = "documents",
    params(("id" = i64, Path, description = "Document id")),
    request_body = NewLinkBody,
    responses((status = 403, body = ErrorBody), (status = 401, body = ErrorBody), (status = 201, body = LinkView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_link(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(id): Path<i64>,
    Json(body): Json<NewLinkBody>,
) -> Result<Response, ApiError> {
    let view = do_create_link(
        &state,
        &me,
        &client,
        id,
        body.days.unwrap_or(30),
        body.note.as_deref().unwrap_or(""),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(view)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/links/{id}", tag = "documents",
    params(("id" = i64, Path, description = "Link id")),
    responses((status = 403, body = ErrorBody), (status = 401, body = ErrorBody), (status = 400, body = ErrorBody), (status = 200, body = DocumentLink), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_link(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(id): Path<i64>,
) -> Result<axum::Json<DocumentLink>, ApiError> {
    Ok(axum::Json(do_revoke_link(&state, &me, &client, id).await?))
}

/// Files the inbox could not match or accept, waiting for a person.
#[utoipa::path(get, path = "/api/v1/inbox", tag = "documents",
    responses((status = 403, body = ErrorBody), (status = 401, body = ErrorBody), (status = 200, body = Vec<InboxFile>)),
    security(("bearer" = [])))]
pub async fn inbox(State(state): State<Shared>) -> Result<axum::Json<Vec<InboxFile>>, ApiError> {
    let docs = documents(&state)?;
    Ok(axum::Json(docs.held_files().await.map_err(import_error)?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AssignBody {
    pub pendaftaran_id: String,
}

/// Imports a held inbox file for the given permit.
#[utoipa::path(post, path = "/api/v1/inbox/{id}/assign", tag = "documents",
    params(("id" = i64, Path, description = "Inbox file id")),
    request_body = AssignBody,
    responses((status = 403, body = ErrorBody), (status = 401, body = ErrorBody), (status = 400, body = ErrorBody), (status = 200, body = Document), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn assign(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(id): Path<i64>,
    Json(body): Json<AssignBody>,
) -> Result<axum::Json<Document>, ApiError> {
    Ok(axum::Json(
        do_assign(&state, &me, &client, id, &body.pendaftaran_id).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/inbox/{id}", tag = "documents",
    params(("id" = i64, Path, description = "Inbox file id")),
    responses((status = 403, body = ErrorBody), (status = 401, body = ErrorBody), (status = 400, body = ErrorBody), (status = 204, description = "Discarded"), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn discard(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    do_discard(&state, &me, &client, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The latest integrity check of the store against the database (`null` before the first).
#[utoipa::path(get, path = "/api/v1/documents/integrity", tag = "documents",
    responses((status = 403, body = ErrorBody), (status = 401, body = ErrorBody), (status = 200, body = Option<IntegrityCheck>)),
    security(("bearer" = [])))]
pub async fn integrity(
    State(state): State<Shared>,
) -> Result<axum::Json<Option<IntegrityCheck>>, ApiError> {
    Ok(axum::Json(state.db.latest_integrity_check().await?))
}

/// Runs the integrity check now (hashes every stored object).
#[utoipa::path(post, path = "/api/v1/documents/integrity", tag = "documents",
    responses((status = 403, body = ErrorBody), (status = 401, body = ErrorBody), (status = 200, body = IntegrityCheck)),
    security(("bearer" = [])))]
pub async fn run_integrity(
    State(state): State<Shared>,
) -> Result<axum::Json<IntegrityCheck>, ApiError> {
    Ok(axum::Json(do_check(&state).await?))
}
