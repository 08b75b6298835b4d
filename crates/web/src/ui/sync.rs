//! The SICANTIK sync page: runs with live progress, "sync now", the expiry workaround's progress,
//! the API call log and errors.

use axum::Form;
use axum::extract::State;
use axum::response::IntoResponse;
use companion_db::SyncRun;
use companion_domain::Permission;
use companion_domain::RunOutcome;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Client, Me, Nav, PageResult, expiry_status_label, layout, notice, num};
use crate::api::Query;
use crate::api::sync::{STATUS_RUNS, start_kind, sync_status};
use crate::{ApiError, Shared, SyncKind};

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    pub pesan: Option<String>,
}

fn kind_label(kind: &str) -> &str {
    match kind {
        "list_incremental" | "incremental" => "Perubahan terbaru",
        "list_full" | "full" => "Lengkap",
        "types" => "Jenis izin",
        "expiry" => "Tanggal berlaku",
        other => other,
    }
}

fn outcome_label(o: &str) -> &str {
    match RunOutcome::parse(o) {
        Some(known) => known.label(),
        None => o,
    }
}

fn list_label(endpoint: &str) -> &str {
    match endpoint {
        "listpermohonanproses" => "Dalam proses",
        "listpermohonanterbit" => "Terbit",
        other => other,
    }
}

/// A full sync older than this (or none) is a warning: the copy may be missing permits.
const COMPLETE_SYNC_MAX_AGE_HOURS: i64 = 24;

/// What staff must know about how complete the copy is: the last complete full sync, its age,
/// and the shortfalls and unread pages of the newest list runs. Shown on the dashboard and on
/// the sync page.
/// `recent`: the newest runs (the caller's read of them, newest first).
pub async fn completeness(state: &Shared, recent: &[SyncRun]) -> Result<Markup, ApiError> {
    let last_complete = state
        .db
        .last_run_with("list_full", RunOutcome::Succeeded)
        .await?;
    let newest_full = recent
        .iter()
        .find(|r| r.kind == "list_full" && r.finished_at.is_some());
    let stale = last_complete.as_ref().is_none_or(|r| {
        chrono::Utc::now() - r.finished_at.unwrap_or(r.started_at)
            > chrono::Duration::hours(COMPLETE_SYNC_MAX_AGE_HOURS)
    });
    let details = newest_full.as_ref().and_then(|r| r.details());
    let shortfalls: Vec<(String, i64)> = details
        .as_ref()
        .map(|d| {
            d.shortfalls()
                .into_iter()
                .map(|(e, m)| (list_label(e).to_string(), m))
                .collect()
        })
        .unwrap_or_default();
    let unread: Vec<(String, usize)> = details
        .as_ref()
        .map(|d| {
            d.lists
                .iter()
                .filter(|l| !l.failed_offsets.is_empty())
                .map(|l| (list_label(&l.endpoint).to_string(), l.failed_offsets.len()))
                .collect()
        })
        .unwrap_or_default();
    let unsettled = details.as_ref().map_or(0, |d| d.left_unsettled.len());
    let attention = stale || !shortfalls.is_empty() || !unread.is_empty();
    Ok(html! {
        section.card #sync-completeness class=[attention.then_some("attention")] {
            h2 { "Kelengkapan salinan SICANTIK" }
            @match &last_complete {
                Some(r) => p { "Sinkronisasi lengkap terakhir: " b.last-complete { (state.office_time(r.finished_at.unwrap_or(r.started_at))) } "." },
                None => p { "Belum ada sinkronisasi lengkap yang berhasil." },
            }
            @if stale {
                p.warning #sync-stale { "Tidak ada sinkronisasi lengkap yang berhasil dalam "
                    (COMPLETE_SYNC_MAX_AGE_HOURS) " jam terakhir: salinan izin mungkin belum lengkap." }
            }
            @for (list, missing) in &shortfalls {
                p.warning.shortfall { "Daftar " (list) ": " (num(*missing))
                    " izin yang tersimpan di sini tidak muncul lagi di daftar SICANTIK." }
            }
            @for (list, pages) in &unread {
                p.warning.unread { "Daftar " (list) ": " (num(*pages as i64))
                    " halaman gagal dibaca; sinkronisasi berikutnya membacanya lebih dulu." }
            }
            @if unsettled > 0 {
                p.muted { (num(unsettled as i64)) " izin keluar dari daftar dalam proses tetapi tidak ditemukan di daftar izin terbit (mungkin ditolak)." }
            }
            p { a href="/sinkronisasi" { "Riwayat sinkronisasi" } }
        }
    })
}

pub async fn page(State(state): State<Shared>, Me(me): Me, Query(n): Query<Notice>) -> PageResult {
    // One read serves the table (newest 20) and the status (running runs among the newest 50).
    let recent = state.db.list_runs(STATUS_RUNS).await?;
    let runs = &recent[..recent.len().min(20)];
    let calls = state.db.list_calls(None, 50).await?;
    let skipped = state.db.list_skipped_rows(None, 20).await?;
    let status = sync_status(&state, &recent).await?;
    let completeness = completeness(&state, &recent).await?;
    let expiry_total: i64 = status.expiry.values().sum();
    let expiry_done: i64 = status
        .expiry
        .iter()
        .filter(|(k, _)| k.as_str() != "unknown")
        .map(|(_, v)| *v)
        .sum();
    let content = html! {
        h1 { "Sinkronisasi SICANTIK" }
        (notice(n.pesan.as_deref()))
        @if me.may(Permission::RunSync) {
            form.filters method="post" action="/sinkronisasi" {
                input type="hidden" name="csrf" value=(me.csrf());
                select name="kind" aria-label="Jenis sinkronisasi" {
                    option value="incremental" { "Perubahan terbaru" }
                    option value="full" { "Lengkap (semua halaman)" }
                    option value="types" { "Jenis izin" }
                    option value="expiry" { "Tanggal berlaku (cekperizinan)" }
                }
                button.primary #sync-now type="submit" { "Sinkronkan sekarang" }
            }
        }
        (completeness)
        section.card {
            h2 { "Pemeriksaan tanggal berlaku" }
            p { (num(expiry_done)) " dari " (num(expiry_total)) " izin terbit sudah diperiksa ke SICANTIK." }
            progress #expiry-progress value=(expiry_done) max=(expiry_total.max(1)) {}
            ul.inline-list { @for (k, v) in &status.expiry { li { (expiry_status_label(k)) ": " (num(*v)) } } }
        }
        h2 { "Riwayat sinkronisasi" }
        div.table-wrap { table #runs data-live=(if status.running.is_empty() { "" } else { "/api/v1/sync/status" }) {
            thead { tr { th { "#" } th { "Jenis" } th { "Mulai" } th { "Hasil" } th { "Kemajuan" } th.num { "Diambil" } th.num.hide-sm { "Baru" } th.num.hide-sm { "Berubah" } th.num.hide-sm { "Dilewati" } th.num { "Galat" } } }
            tbody {
                @for r in runs {
                    tr data-run-id=(r.id) {
                        td { (r.id) }
                        td { (kind_label(&r.kind)) }
                        td { (state.office_time(r.started_at)) }
                        td { span class={ "outcome " (r.outcome) } { (outcome_label(&r.outcome)) }
                             @if let Some(m) = &r.message { br; small.muted { (m) } } }
                        td {
                            @if r.progress_total > 0 || r.outcome().ok() == Some(RunOutcome::Running) {
                                progress value=(r.progress_done) max=(r.progress_total.max(1)) {} " "
                                span.progress-text { (num(r.progress_done)) "/" (num(r.progress_total)) }
                            } @else { "—" }
                        }
                        td.num.fetched { (num(r.fetched)) }
                        td.num.hide-sm { (num(r.inserted)) }
                        td.num.hide-sm { (num(r.updated)) }
                        td.num.hide-sm { (num(r.skipped_invalid)) }
                        td.num { (num(r.errors)) }
                    }
                }
                @if runs.is_empty() { tr { td colspan="10" { "Belum pernah sinkronisasi." } } }
            }
        } }
        h2 { "Baris SICANTIK yang dilewati" }
        @if skipped.is_empty() { p.muted { "Tidak ada." } } @else {
            div.table-wrap { table #skipped-rows { thead { tr { th { "Daftar SICANTIK" } th { "Alasan" } th { "Data asli" } } }
                tbody { @for s in &skipped { tr { td { (s.endpoint) } td { (s.reason) }
                    td { details { summary { "Lihat data dari SICANTIK" } code { (s.raw.chars().take(160).collect::<String>()) } } } } } } } }
        }
        h2 { "Log panggilan API SICANTIK" }
        div.table-wrap { table.calls {
            thead { tr { th { "Waktu" } th { "Endpoint" } th.hide-sm { "Parameter" } th { "HTTP" } th.num { "ms" } th.num.hide-sm { "Baris" } th { "Galat" } } }
            tbody { @for c in &calls {
                tr class=[c.error.as_ref().map(|_| "failed")] {
                    td { (state.office_time(c.called_at)) }
                    td { (c.endpoint) }
                    td.hide-sm { code { (c.params) } }
                    td { (c.http_status.map(|s| s.to_string()).unwrap_or_else(|| "—".into())) }
                    td.num { (c.duration_ms) }
                    td.num.hide-sm { (c.row_count.map(|s| s.to_string()).unwrap_or_else(|| "—".into())) }
                    td { (c.error.as_deref().unwrap_or("")) }
                }
            } }
        } }
    };
    Ok(layout(&me, Nav::Sync, "Sinkronisasi", content).into_response())
}

#[derive(Debug, Deserialize)]
pub struct StartForm {
    pub kind: String,
}

pub async fn start(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Form(f): Form<StartForm>,
) -> PageResult {
    let kind = SyncKind::parse(&f.kind).ok_or_else(|| {
        ApiError::bad_request(format!("Jenis sinkronisasi tidak dikenal: {}", f.kind))
    })?;
    let result = start_kind(&state, &me, &addr, kind).await;
    super::notice_or_error(
        "/sinkronisasi",
        result.map(|()| format!("Sinkronisasi \"{}\" dimulai.", kind_label(kind.as_str()))),
    )
}
