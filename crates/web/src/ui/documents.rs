//! Documents in the staff application: a permit's files (versions, upload by drag and drop),
//! a file's page (preview, download, applicant links), the documents overview (files waiting,
//! the inbox's held files, the integrity check) and the public applicant download.

use axum::Form;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use companion_db::{Document, IntegrityCheck};
use companion_documents::{ImportSource, LinkError};
use companion_domain::Permission;
use companion_domain::documents::DocumentKind;
use companion_pdf::human_size;
use maud::{Markup, html};
use serde::Deserialize;

use super::account::Notice;
use super::{Client, Me, Nav, PageResult, bare, layout, notice, notice_or_error, num};
use crate::api::documents::{
    do_assign, do_check, do_create_link, do_discard, do_revoke_link, do_upload, find_document,
    link_view,
};
use crate::api::{Path, Query};
use crate::auth::Principal;
use crate::files::{Disposition, documents, serve_document};
use crate::{ApiError, AppState, Shared};

fn kind_label(kind: &str) -> &'static str {
    DocumentKind::parse(kind).map(|k| k.label()).unwrap_or("?")
}

/// The "Dokumen" section of a permit's page, from the permit's files (newest first).
pub fn permit_section(
    state: &AppState,
    me: &Principal,
    pendaftaran_id: &str,
    issued: bool,
    docs: &[Document],
) -> Markup {
    let may_upload = me.may(Permission::ManageDocuments) && state.documents.is_some();
    let limit = state
        .documents
        .as_ref()
        .map(|d| d.max_pdf_bytes())
        .unwrap_or(0);
    html! {
        section.card #dokumen {
            h2 { "Dokumen" }
            @if docs.is_empty() {
                @if issued {
                    p.notice.warn #pdf-belum { "PDF belum diunggah. Izin ini sudah terbit tetapi suratnya belum tersimpan di sini." }
                } @else {
                    p.muted { "Belum ada dokumen untuk izin ini." }
                }
            } @else {
                div.table-wrap {
                    table #documents {
                        thead { tr { th { "Versi" } th { "Jenis" } th { "Berkas" } th.num { "Ukuran" } th.num { "Hal." } th { "Diunggah" } th { "" } } }
                        tbody {
                            @for d in docs {
                                tr data-version=(d.version) {
                                    td { "v" (d.version) }
                                    td { (kind_label(&d.kind)) }
                                    td { (d.original_name.as_deref().unwrap_or("—")) br; code.hash title=(d.sha256) { (d.sha256[..12.min(d.sha256.len())]) "…" } }
                                    td.num { (human_size(d.size_bytes.max(0) as u64)) }
                                    td.num { (d.pages) }
                                    td { (state.office_time(d.created_at)) br; span.muted { (d.created_by) } }
                                    td.actions {
                                        a.open-doc href={ "/berkas/" (d.id) } { "Lihat" } " · "
                                        a href={ "/berkas/" (d.id) "/unduh" } download { "Unduh" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if may_upload {
                form.upload #upload method="post" enctype="multipart/form-data"
                    action={ "/izin/" (pendaftaran_id) "/berkas?csrf=" (me.csrf()) } {
                    label.dropzone for="berkas" {
                        strong { "Tarik berkas PDF ke sini" } " atau pilih berkas"
                        span.muted { " (boleh beberapa sekaligus, maks. " (human_size(limit)) " per berkas)" }
                        input #berkas type="file" name="berkas" accept="application/pdf,.pdf" multiple required;
                    }
                    // One letter, one case: a file already sealed or signed by this office is
                    // refused unless a note says why it must be used (audited).
                    details.override-note {
                        summary { "Berkas ditolak karena sudah memuat kode QR atau tanda tangan kantor ini?" }
                        label for="catatan_override" { "Catatan alasan tetap memakai berkas ini (dicatat dalam jejak audit)" }
                        textarea #catatan_override name=(crate::api::documents::OVERRIDE_NOTE_FIELD) rows="2" maxlength="2000" {}
                    }
                    button type="submit" { "Unggah" }
                }
            }
        }
    }
}

fn upload_summary(r: &crate::api::documents::UploadReport) -> String {
    let mut parts = Vec::new();
    for f in &r.files {
        let line = match (f.outcome.as_str(), &f.document, &f.error) {
            ("stored", Some(d), _) => format!("{}: tersimpan sebagai versi {}.", f.file, d.version),
            ("duplicate", Some(d), _) => format!(
                "{}: berkas yang sama sudah tersimpan (versi {}).",
                f.file, d.version
            ),
            (_, _, Some(e)) => format!("{}: ditolak — {}", f.file, e.message),
            _ => format!("{}: ?", f.file),
        };
        parts.push(line);
    }
    parts.join(" ")
}

/// Upload form target (drag and drop submits the same form).
pub async fn upload(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(id): Path<String>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> PageResult {
    let back = format!("/izin/{}", url_segment(&id));
    let result = match form {
        Err(_) => Err(ApiError::bad_request("Pilih berkas PDF untuk diunggah.")),
        Ok(form) => do_upload(&state, &me, &client, &id, form, ImportSource::Upload)
            .await
            .map(|r| upload_summary(&r)),
    };
    notice_or_error(&back, result)
}

fn url_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A file's page: preview, facts, download, applicant links.
pub async fn page(
    State(state): State<Shared>,
    Me(me): Me,
    Path(id): Path<i64>,
    Query(n): Query<Notice>,
) -> PageResult {
    let doc = find_document(&state, id).await?;
    let docs = documents(&state)?;
    let links = state.db.links_for_document(id).await?;
    let may_share = me.may(Permission::ManageDocuments);
    let permit = state.db.get_permit(&doc.pendaftaran_id).await?;
    let content = html! {
        p { a href={ "/izin/" (url_segment(&doc.pendaftaran_id)) "#dokumen" } { "← Kembali ke izin" } }
        h1 { "Dokumen v" (doc.version) " — " (kind_label(&doc.kind)) }
        (notice(n.pesan.as_deref()))
        div.doc-layout {
            section.card.preview {
                object #pdf-preview data={ "/berkas/" (doc.id) "/isi" } type="application/pdf" {
                    p { "Pratinjau tidak tersedia di peramban ini. " a href={ "/berkas/" (doc.id) "/unduh" } { "Unduh PDF" } }
                }
            }
            section.card {
                (facts(&state, &doc, permit.as_ref().and_then(|p| p.permit_number.clone())))
                p { a.button href={ "/berkas/" (doc.id) "/unduh" } download { "Unduh PDF" } " " a href={ "/berkas/" (doc.id) "/isi" } target="_blank" rel="noopener" { "Buka di tab baru" } }
            }
        }
        section.card #tautan {
            h2 { "Tautan untuk pemohon" }
            p.muted { "Tautan tanpa login, bertanda tangan dan berbatas waktu; dapat dicabut kapan saja." }
            @if links.is_empty() { p.muted { "Belum ada tautan." } } @else {
                div.table-wrap { table #links {
                    thead { tr { th { "Tautan" } th { "Berlaku s.d." } th { "Status" } th.num { "Dibuka" } th { "Catatan" } th { "" } } }
                    tbody { @for l in links {
                        @let v = link_view(&state, docs, l);
                        tr data-state=(v.state) {
                            td { input.link-url type="text" readonly value=(v.url) aria-label="Tautan"; }
                            td { (state.office_time(v.link.expires_at)) }
                            td { (match v.state.as_str() { "active" => "Aktif", "expired" => "Kedaluwarsa", _ => "Dicabut" }) }
                            td.num { (v.link.uses) }
                            td { (v.link.note) }
                            td { @if may_share && v.state == "active" {
                                form method="post" action={ "/tautan/" (v.link.id) "/cabut" } {
                                    input type="hidden" name="csrf" value=(me.csrf());
                                    button.link.danger type="submit" { "Cabut" }
                                }
                            } }
                        }
                    } }
                } }
            }
            @if may_share {
                form.inline #new-link method="post" action={ "/berkas/" (doc.id) "/tautan" } {
                    input type="hidden" name="csrf" value=(me.csrf());
                    label { "Berlaku " select name="hari" { option value="7" { "7 hari" } option value="30" selected { "30 hari" } option value="90" { "90 hari" } } }
                    label { "Catatan " input name="catatan" type="text" maxlength="200" placeholder="mis. dikirim ke pemohon"; }
                    button type="submit" { "Buat tautan" }
                }
            }
        }
    };
    Ok(layout(&me, Nav::Documents, "Dokumen", content).into_response())
}

fn facts(state: &AppState, d: &Document, permit_number: Option<String>) -> Markup {
    html! {
        dl.facts {
            dt { "Izin" } dd { a href={ "/izin/" (url_segment(&d.pendaftaran_id)) } { (d.pendaftaran_id) } @if let Some(n) = permit_number { " · " (n) } }
            dt { "Versi" } dd { "v" (d.version) " (" (kind_label(&d.kind)) ")" }
            dt { "Nama berkas" } dd { (d.original_name.as_deref().unwrap_or("—")) }
            dt { "Ukuran" } dd { (human_size(d.size_bytes.max(0) as u64)) " · " (d.pages) " halaman" }
            dt { "SHA-256" } dd { code.hash { (d.sha256) } }
            dt { "Kunci penyimpanan" } dd { code { (d.storage_key) } }
            dt { "Diunggah" } dd { (state.office_time(d.created_at)) " oleh " (d.created_by) " (" (d.source) ")" }
        }
    }
}

/// The PDF for the preview frame.
pub async fn inline(
    State(state): State<Shared>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let doc = find_document(&state, id).await?;
    serve_document(documents(&state)?, &doc, &headers, Disposition::Inline).await
}

/// The PDF as a download.
pub async fn download(
    State(state): State<Shared>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let doc = find_document(&state, id).await?;
    serve_document(documents(&state)?, &doc, &headers, Disposition::Attachment).await
}

#[derive(Debug, Deserialize)]
pub struct LinkForm {
    pub hari: Option<i64>,
    pub catatan: Option<String>,
}

pub async fn create_link(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(id): Path<i64>,
    Form(f): Form<LinkForm>,
) -> PageResult {
    let result = do_create_link(
        &state,
        &me,
        &client,
        id,
        f.hari.unwrap_or(30),
        f.catatan.as_deref().unwrap_or(""),
    )
    .await
    .map(|v| format!("Tautan dibuat: {}", v.url));
    notice_or_error(&format!("/berkas/{id}"), result)
}

pub async fn revoke_link(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(id): Path<i64>,
) -> PageResult {
    let result = do_revoke_link(&state, &me, &client, id).await;
    let back = match &result {
        Ok(l) => format!("/berkas/{}", l.document_id),
        Err(_) => "/dokumen".into(),
    };
    notice_or_error(&back, result.map(|_| "Tautan dicabut.".into()))
}

/// The documents overview: waiting permits, the inbox's held files, the integrity check.
pub async fn overview(
    State(state): State<Shared>,
    Me(me): Me,
    Query(n): Query<Notice>,
) -> PageResult {
    let figures = state.dashboard().await?;
    let check = state.db.latest_integrity_check().await?;
    let held = state.db.inbox_files().await?;
    let may_manage = me.may(Permission::ManageDocuments) && state.documents.is_some();
    let store = state
        .documents
        .as_ref()
        .map(|d| d.storage().describe().to_string());
    let inbox = state
        .documents
        .as_ref()
        .and_then(|d| d.inbox_dir().map(|p| p.display().to_string()));
    let content = html! {
        h1 { "Dokumen" }
        (notice(n.pesan.as_deref()))
        div.tiles {
            a.tile href="/izin?status=issued&berkas=belum" { span.big #waiting-pdf { (num(figures.waiting_for_pdf)) } span { "izin terbit: PDF belum diunggah" } }
            div.tile { span.big { (num(figures.documents)) } span { "berkas tersimpan (semua versi)" } }
            div.tile { span.big #held-count { (held.len()) } span { "berkas di kotak masuk menunggu" } }
        }
        section.card #kotak-masuk {
            h2 { "Kotak masuk" }
            p.muted {
                @if let Some(dir) = &inbox { "Letakkan PDF di folder " code { (dir) } " dengan nama nomor pendaftaran (mis. 0142307703072025.pdf) atau nomor izin (garis miring diganti tanda minus). Berkas yang tidak cocok ditahan di sini." }
                @else { "Kotak masuk tidak aktif (INBOX_DIR kosong)." }
            }
            @if may_manage && inbox.is_some() {
                form.inline method="post" action="/dokumen/kotak-masuk/pindai" {
                    input type="hidden" name="csrf" value=(me.csrf());
                    button type="submit" { "Pindai sekarang" }
                }
            }
            @if held.is_empty() { p.muted { "Tidak ada berkas yang menunggu." } } @else {
                div.table-wrap { table #held {
                    thead { tr { th { "Berkas" } th { "Masalah" } th { "Diterima" } th { "" } } }
                    tbody { @for h in &held {
                        tr {
                            td { (h.file_name) br; span.muted { (human_size(h.size_bytes.max(0) as u64)) } }
                            td { (h.message) }
                            td { (state.office_time(h.found_at)) }
                            td { @if may_manage {
                                form.inline method="post" action={ "/dokumen/kotak-masuk/" (h.id) "/tetapkan" } {
                                    input type="hidden" name="csrf" value=(me.csrf());
                                    input name="pendaftaran_id" type="text" required placeholder="No. pendaftaran" aria-label="Nomor pendaftaran";
                                    button type="submit" { "Tetapkan" }
                                }
                                form.inline method="post" action={ "/dokumen/kotak-masuk/" (h.id) "/buang" } {
                                    input type="hidden" name="csrf" value=(me.csrf());
                                    button.link.danger type="submit" { "Buang" }
                                }
                            } }
                        }
                    } }
                } }
            }
        }
        section.card #integritas {
            h2 { "Pemeriksaan integritas" }
            @if let Some(s) = &store { p.muted { "Penyimpanan: " code { (s) } } }
            (integrity_summary(&state, check.as_ref()))
            @if let Some(c) = &check { @if !c.problems.is_empty() {
                div.table-wrap { table #problems {
                    thead { tr { th { "Masalah" } th { "Kunci" } th { "Keterangan" } } }
                    tbody { @for p in &c.problems {
                        tr { td { (problem_label(&p.kind)) } td { code { (p.key) } } td { (p.detail) } }
                    } }
                } }
            } }
            @if may_manage {
                form.inline method="post" action="/dokumen/periksa" {
                    input type="hidden" name="csrf" value=(me.csrf());
                    button type="submit" { "Periksa sekarang" }
                }
            }
        }
    };
    Ok(layout(&me, Nav::Documents, "Dokumen", content).into_response())
}

fn problem_label(kind: &str) -> &'static str {
    match kind {
        "missing" => "Berkas hilang",
        "mismatch" => "Isi berubah",
        "orphan" => "Tanpa catatan",
        _ => "Tidak terbaca",
    }
}

/// One line on the integrity check, for this page and the dashboard.
pub fn integrity_summary(state: &AppState, check: Option<&IntegrityCheck>) -> Markup {
    html! {
        @match check {
            None => p.muted #integrity-state { "Belum pernah diperiksa." },
            Some(c) if c.is_clean() => p.ok #integrity-state data-clean="true" {
                "Utuh: " (num(c.documents)) " berkas cocok dengan catatannya (" (state.office_time(c.finished_at)) ")."
            },
            Some(c) => p.notice.warn #integrity-state data-clean="false" {
                "Ditemukan masalah (" (state.office_time(c.finished_at)) "): "
                (c.missing) " hilang, " (c.mismatched) " berubah isi, " (c.orphaned) " tanpa catatan."
                @if let Some(e) = &c.error { " " (e) }
            },
        }
    }
}

pub async fn run_check(State(state): State<Shared>) -> PageResult {
    let result = do_check(&state).await.map(|c| {
        if c.is_clean() {
            format!("Pemeriksaan selesai: {} berkas utuh.", c.documents)
        } else {
            format!(
                "Pemeriksaan selesai: {} hilang, {} berubah isi, {} tanpa catatan.",
                c.missing, c.mismatched, c.orphaned
            )
        }
    });
    notice_or_error("/dokumen", result)
}

pub async fn scan_inbox(State(state): State<Shared>) -> PageResult {
    let result = async {
        let docs = documents(&state)?;
        let report = docs
            .scan_inbox()
            .await
            .map_err(crate::api::documents::import_error)?;
        state.dashboard_cache.clear().await;
        Ok(format!(
            "Kotak masuk dipindai: {} berkas diproses.",
            report.files.len()
        ))
    }
    .await;
    notice_or_error("/dokumen", result)
}

#[derive(Debug, Deserialize)]
pub struct AssignForm {
    pub pendaftaran_id: String,
}

pub async fn assign(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(id): Path<i64>,
    Form(f): Form<AssignForm>,
) -> PageResult {
    let result = do_assign(&state, &me, &client, id, &f.pendaftaran_id)
        .await
        .map(|d| {
            format!(
                "Berkas ditetapkan ke izin {} sebagai versi {}.",
                d.pendaftaran_id, d.version
            )
        });
    notice_or_error("/dokumen", result)
}

pub async fn discard(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(id): Path<i64>,
) -> PageResult {
    let result = do_discard(&state, &me, &client, id)
        .await
        .map(|_| "Berkas dibuang dari kotak masuk.".to_string());
    notice_or_error("/dokumen", result)
}

/// The applicant's download: no login, the link's signature, expiry and revocation decide.
pub async fn applicant_download(
    State(state): State<Shared>,
    axum::extract::Path(token): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let refuse = |status: StatusCode, message: &str| {
        (
            status,
            bare(
                "Tautan unduhan",
                html! { section.card { h1 { "Tautan tidak dapat dibuka" } p { (message) } } },
            ),
        )
            .into_response()
    };
    let Some(docs) = state.documents.as_ref() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "Layanan unduhan sedang tidak tersedia.",
        );
    };
    match docs.open_link(&token).await {
        Ok((doc, link)) => {
            metrics::counter!("companion_document_link_downloads_total", "result" => "ok")
                .increment(1);
            // Range requests from a PDF viewer would count as many opens; count the first.
            if !headers.contains_key(axum::http::header::RANGE)
                && let Err(e) = state.db.record_link_use(link.id).await
            {
                tracing::warn!(error = %e, "could not count a link use");
            }
            match serve_document(docs, &doc, &headers, Disposition::Inline).await {
                Ok(r) => r,
                Err(e) => refuse(e.status, &e.message),
            }
        }
        Err(e) => {
            let (status, label) = match &e {
                LinkError::Refused(companion_domain::documents::LinkRefusal::Expired) => {
                    (StatusCode::GONE, "expired")
                }
                LinkError::Refused(companion_domain::documents::LinkRefusal::Revoked)
                | LinkError::DocumentRevoked => (StatusCode::GONE, "revoked"),
                LinkError::Refused(_) | LinkError::Gone => (StatusCode::NOT_FOUND, "invalid"),
                LinkError::Other(_) => (StatusCode::SERVICE_UNAVAILABLE, "error"),
            };
            metrics::counter!("companion_document_link_downloads_total", "result" => label)
                .increment(1);
            refuse(status, e.pesan())
        }
    }
}
