//! Signing jobs in the staff application: an official signs many ready documents with one
//! passphrase, watches the progress, resumes an interrupted job (passphrase again), cancels it,
//! and settles documents whose outcome was unknown. The passphrase field is shown only for BSrE;
//! it is passed to the job and never stored or echoed.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use companion_db::{BatchItem, SigningBatch};
use companion_domain::Permission;
use companion_signing::{Passphrase, SigningService};
use maud::{Markup, html};

use super::account::Notice;
use super::signing::{participant, service, signing_error};
use super::{Client, Me, Nav, PageResult, layout, notice, notice_or_error};
use crate::api::{Path, Query};
use crate::auth::Principal;
use crate::{ApiError, AppState, Shared};

/// The passphrase input, when the signer needs one.
pub fn passphrase_field(svc: &SigningService) -> Markup {
    html! {
        @if svc.signer().needs_passphrase() {
            label.inline { "Passphrase BSrE "
                input type="password" name="passphrase" autocomplete="off" required aria-label="Passphrase BSrE"; }
        }
    }
}

/// A passphrase from a form or JSON body (empty = none).
pub fn passphrase_of(text: Option<String>) -> Option<Passphrase> {
    text.filter(|p| !p.is_empty()).map(Passphrase::new)
}

pub fn item_state_label(s: &str) -> &'static str {
    match s {
        "queued" => "dalam antrean",
        "signing" => "sedang ditandatangani",
        "signed" => "ditandatangani",
        "failed" => "gagal",
        "attention" => "perlu perhatian",
        _ => "?",
    }
}

pub fn batch_state_label(s: &str) -> &'static str {
    match s {
        "running" => "berjalan",
        "paused" => "dijeda — perlu passphrase",
        "finished" => "selesai",
        _ => "?",
    }
}

/// Alarms for `/tte` and the dashboard: documents stuck signing past the limit, paused jobs,
/// documents needing a decision.
pub async fn alarms(state: &AppState) -> Result<Markup, ApiError> {
    let Some(svc) = &state.signing else {
        return Ok(html! {});
    };
    let stalled = svc.stalled_items().await.map_err(signing_error)?;
    let attention = state.db.batch_items_in("attention", 100).await?;
    let paused: Vec<SigningBatch> = state
        .db
        .recent_signing_batches(50)
        .await?
        .into_iter()
        .filter(|b| b.state == "paused")
        .collect();
    let archive = state
        .db
        .archive_overview(chrono::Utc::now(), chrono::Duration::days(1))
        .await?;
    Ok(html! {
        @if archive.failing > 0 || archive.overdue > 0 {
            p.notice.warn #archive-alarm data-failing=(archive.failing) data-overdue=(archive.overdue) {
                "Peringatan: pembaruan cap waktu arsip "
                @if archive.failing > 0 { "gagal untuk " (archive.failing) " dokumen" }
                @if archive.failing > 0 && archive.overdue > 0 { "; " }
                @if archive.overdue > 0 { (archive.overdue) " dokumen terlambat diperbarui lebih dari sehari" }
                ". Tanpa pembaruan, tanda tangannya tidak dapat dibuktikan lagi setelah sertifikat TSA berakhir. "
                a href="/tte#published" { "Lihat daftar" }
            }
        }
        @if !stalled.is_empty() {
            p.notice.warn #signing-stalled data-count=(stalled.len()) {
                "Peringatan: " (stalled.len()) " dokumen sedang ditandatangani lebih dari "
                (svc.timings().stall_after.as_secs() / 60) " menit. Periksa layanan penandatanganan."
                @for i in &stalled { " " a href={ "/tte/pekerjaan/" (i.batch_id) } { "#" (i.batch_id) } }
            }
        }
        @if !paused.is_empty() {
            p.notice.warn #signing-paused data-count=(paused.len()) {
                (paused.len()) " pekerjaan tanda tangan dijeda dan menunggu passphrase pejabatnya:"
                @for b in &paused { " " a href={ "/tte/pekerjaan/" (b.id) } { "#" (b.id) " (" (b.official) ")" } }
            }
        }
        @if !attention.is_empty() {
            p.notice.warn #signing-attention data-count=(attention.len()) {
                (attention.len()) " dokumen perlu perhatian (hasil penandatanganan tidak diketahui):"
                @for i in &attention { " " a href={ "/tte/pekerjaan/" (i.batch_id) } { (i.pendaftaran_id) } }
            }
        }
    })
}

/// Recent jobs, for `/tte`.
pub fn batches_table(batches: &[SigningBatch]) -> Markup {
    html! {
        @if !batches.is_empty() {
            section.card #pekerjaan {
                h2 { "Pekerjaan tanda tangan" }
                div.table-wrap { table {
                    thead { tr { th { "No." } th { "Pejabat" } th { "Status" } th { "Kemajuan" } } }
                    tbody { @for b in batches { tr data-batch-state=(b.state) {
                        td { a href={ "/tte/pekerjaan/" (b.id) } { "#" (b.id) } }
                        td { (b.official) }
                        td { (batch_state_label(&b.state)) }
                        td { (b.signed) " dari " (b.total) " ditandatangani"
                            @if b.failed > 0 { ", " (b.failed) " gagal" }
                            @if b.attention > 0 { ", " (b.attention) " perlu perhatian" } }
                    } } }
                } }
            }
        }
    }
}

/// The "sign selected / sign all ready" form around the ready queue.
pub fn ready_form(me: &Principal, svc: &SigningService, rows: Markup) -> Markup {
    html! {
        form #form-tandatangani method="post" action="/tte/tandatangani" {
            input type="hidden" name="csrf" value=(me.csrf());
            (rows)
            p.actions {
                (passphrase_field(svc))
                button type="submit" name="pilihan" value="dipilih" data-step="tandatangani-dipilih" { "Tandatangani yang dipilih" }
                " "
                button type="submit" name="pilihan" value="semua" data-step="tandatangani-semua" { "Tandatangani semua yang siap" }
            }
        }
    }
}

/// `POST /tte/tandatangani`: starts a job for the ticked cases (`kasus`, repeated) or all ready.
pub async fn start(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    body: Bytes,
) -> PageResult {
    let mut cases = Vec::new();
    let mut all = false;
    let mut passphrase = None;
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "kasus" => {
                if let Ok(id) = v.parse::<i64>() {
                    cases.push(id);
                }
            }
            "pilihan" => all = v == "semua",
            "passphrase" => passphrase = passphrase_of(Some(v.into_owned())),
            _ => {}
        }
    }
    let result = async {
        let svc = service(&state)?;
        if all {
            cases = svc.ready_case_ids(1000).await.map_err(signing_error)?;
        }
        if cases.is_empty() {
            return Err(ApiError::bad_request(
                "Pilih dokumen yang akan ditandatangani.",
            ));
        }
        let (batch, _worker) = svc
            .start_batch(&cases, &participant(&me, &client), passphrase)
            .await
            .map_err(signing_error)?;
        Ok(batch)
    }
    .await;
    match result {
        Ok(b) => notice_or_error(
            &format!("/tte/pekerjaan/{}", b.id),
            Ok(format!(
                "Penandatanganan {} dokumen dimulai di latar belakang.",
                b.total
            )),
        ),
        Err(e) => notice_or_error("/tte", Err(e)),
    }
}

fn item_row(me: &Principal, item: &BatchItem, may_decide: bool) -> Markup {
    html! {
        tr data-item-state=(item.state) {
            td { (item.position + 1) }
            td { a href={ "/izin/" (item.pendaftaran_id) "#tanda-tangan" } { (item.pendaftaran_id) } }
            td { (item_state_label(&item.state))
                @if let Some(e) = &item.error { br; span.danger { (e) } } }
            td.actions {
                @if may_decide && item.state == "attention" {
                    form.inline method="post" action={ "/tte/butir/" (item.id) "/ulang" } {
                        input type="hidden" name="csrf" value=(me.csrf());
                        button type="submit" data-step="ulang" { "Tandatangani ulang" }
                    }
                }
            }
        }
    }
}

/// `GET /tte/pekerjaan/{id}`: a job's progress; reloads itself while it runs.
pub async fn page(
    State(state): State<Shared>,
    Me(me): Me,
    Path(id): Path<i64>,
    Query(n): Query<Notice>,
) -> PageResult {
    let svc = service(&state)?;
    let batch = svc.batch(id).await.map_err(signing_error)?;
    let items = state.db.signing_batch_items(id).await?;
    let mine = batch.official == me.user.username;
    let decide = me.may(Permission::DecideDocuments);
    let done = batch.signed + batch.failed + batch.attention;
    let content = html! {
        h1 { "Pekerjaan tanda tangan #" (batch.id) }
        (notice(n.pesan.as_deref()))
        p #batch-status data-state=(batch.state) data-signed=(batch.signed) data-total=(batch.total) {
            "Status: " strong { (batch_state_label(&batch.state)) } " — " (batch.signed) " dari " (batch.total)
            " ditandatangani" @if batch.failed > 0 { ", " (batch.failed) " gagal" }
            @if batch.attention > 0 { ", " (batch.attention) " perlu perhatian" }
            ". Pejabat: " (batch.official) "."
        }
        progress max=(batch.total) value=(done) aria-label="Kemajuan" {}
        @if let Some(note) = &batch.note { p.notice.warn { (note) } }
        @if batch.state == "paused" && mine {
            form #form-lanjutkan method="post" action={ "/tte/pekerjaan/" (batch.id) "/lanjutkan" } {
                input type="hidden" name="csrf" value=(me.csrf());
                (passphrase_field(svc))
                button type="submit" data-step="lanjutkan" { "Lanjutkan" }
            }
        }
        @if batch.state == "paused" && decide {
            form.inline method="post" action={ "/tte/pekerjaan/" (batch.id) "/batalkan" } {
                input type="hidden" name="csrf" value=(me.csrf());
                button type="submit" data-step="batalkan" { "Batalkan sisa antrean" }
            }
        }
        div.table-wrap { table #batch-items {
            thead { tr { th { "No." } th { "Izin" } th { "Status" } th { "" } } }
            tbody { @for i in &items { (item_row(&me, i, decide)) } }
        } }
        p { a href="/tte" { "Kembali ke antrean tanda tangan" } }
    };
    let mut response = layout(&me, Nav::Signing, "Pekerjaan tanda tangan", content).into_response();
    if batch.state == "running" {
        // Live progress without script: the browser reloads every two seconds while it runs.
        response
            .headers_mut()
            .insert(header::REFRESH, header::HeaderValue::from_static("2"));
    }
    Ok(response)
}

#[derive(Debug, serde::Deserialize)]
pub struct PassphraseForm {
    pub passphrase: Option<String>,
}

/// `POST /tte/pekerjaan/{id}/lanjutkan`.
pub async fn resume(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<PassphraseForm>,
) -> PageResult {
    let result = async {
        let (batch, _worker) = service(&state)?
            .resume_batch(id, &participant(&me, &client), passphrase_of(f.passphrase))
            .await
            .map_err(signing_error)?;
        Ok(format!("Pekerjaan #{} dilanjutkan.", batch.id))
    }
    .await;
    notice_or_error(&format!("/tte/pekerjaan/{id}"), result)
}

/// `POST /tte/pekerjaan/{id}/batalkan`.
pub async fn cancel(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(id): Path<i64>,
) -> PageResult {
    let result = async {
        service(&state)?
            .cancel_batch(id, &participant(&me, &client))
            .await
            .map_err(signing_error)?;
        Ok("Sisa antrean dibatalkan; dokumennya kembali siap ditandatangani.".to_string())
    }
    .await;
    notice_or_error(&format!("/tte/pekerjaan/{id}"), result)
}

/// `POST /tte/butir/{id}/ulang`: queue an unknown-outcome document again.
pub async fn retry(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(id): Path<i64>,
) -> PageResult {
    let result = async {
        service(&state)?
            .retry_item(id, &participant(&me, &client))
            .await
            .map_err(signing_error)
    }
    .await;
    let back = match state.db.get_batch_item(id).await {
        Ok(Some(i)) => format!("/tte/pekerjaan/{}", i.batch_id),
        _ => "/tte".into(),
    };
    notice_or_error(
        &back,
        result.map(|_| {
            "Dokumen masuk antrean lagi. Lanjutkan pekerjaan dengan passphrase Anda.".to_string()
        }),
    )
}
