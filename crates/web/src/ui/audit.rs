//! The auditor's page: browse and filter the audit trail, and see whether the chain holds.

use axum::extract::State;
use axum::response::IntoResponse;
use maud::html;

use super::{Me, Nav, PageResult, layout, num};
use crate::Shared;
use crate::api::Query;
use crate::api::audit::AuditParams;

/// An audit action in the staff's words (the code stays in the page's `data-action` and the
/// filter, so the trail can still be searched by it).
pub fn action_label(action: &str) -> &str {
    match action {
        "auth.login" => "Masuk",
        "auth.login_failed" => "Gagal masuk",
        "auth.logout" => "Keluar",
        "user.create" => "Akun dibuat",
        "user.update" => "Akun diubah",
        "user.password_change" => "Kata sandi diganti",
        "user.password_reset" => "Kata sandi diatur ulang",
        "user.phone" => "Nomor WhatsApp akun diubah",
        "token.create" => "Token API dibuat",
        "token.revoke" => "Token API dicabut",
        "token.der" => "Token API dipakai",
        "sync.start" => "Sinkronisasi dimulai",
        "sync.left_unfound" => "Izin tidak ditemukan lagi di SICANTIK",
        "permit.created" => "Izin baru dari SICANTIK",
        "permit.status_changed" => "Status izin berubah",
        "document.import" => "Berkas diunggah",
        "document.import_override" => "Berkas bertanda diunggah dengan catatan",
        "document.submit" => "Diajukan untuk persetujuan",
        "document.approve" => "Disetujui",
        "document.reject" => "Ditolak",
        "document.stamp" => "Kode QR dibubuhkan",
        "document.restamp" => "Kode QR dibubuhkan ulang",
        "document.stamp_failed" => "Pembubuhan kode QR gagal",
        "document.dates_confirmed" => "Tanggal surat dipastikan",
        "document.sign" => "Ditandatangani",
        "document.publish" => "Diterbitkan",
        "document.revoke" | "document.revoked" => "Dicabut",
        "document.link_create" => "Tautan pemohon dibuat",
        "document.link_revoke" => "Tautan pemohon dicabut",
        "document.unknown" => "Berkas tak dikenal",
        "inbox.discard" => "Berkas kotak masuk dibuang",
        "signing.batch_start" => "Tanda tangan massal dimulai",
        "signing.batch_resume" => "Tanda tangan massal dilanjutkan",
        "signing.batch_cancel" => "Tanda tangan massal dibatalkan",
        "signing.batch_interrupted" => "Tanda tangan massal terhenti",
        "signing.item_retry" => "Tanda tangan satu berkas diulang",
        "retention.apply" => "Data lama dihapus (retensi)",
        "whatsapp.retry" => "Pesan WhatsApp dikirim ulang",
        "whatsapp.cancel" => "Pesan WhatsApp dibatalkan",
        "whatsapp.template_save" => "Templat pesan disimpan",
        "whatsapp.templates_refresh" => "Templat penyedia diperbarui",
        "whatsapp.contact_set" => "Nomor pemohon dicatat",
        "whatsapp.contacts_import" => "Kontak diimpor",
        "whatsapp.contact_opt_out" => "Kontak berhenti berlangganan",
        "whatsapp.daftar_confirmed" => "Permintaan DAFTAR disetujui",
        "whatsapp.daftar_rejected" => "Permintaan DAFTAR ditolak",
        "whatsapp.inbound" => "Pesan masuk",
        "whatsapp.outbound" => "Pesan keluar",
        "whatsapp.interaction" => "Tanggapan pemohon",
        "whatsapp.renewal_confirm" => "Perpanjangan dipastikan",
        "whatsapp.renewal_reject" => "Perpanjangan ditolak",
        "whatsapp.signature_notice" => "Pemberitahuan tanda tangan",
        "whatsapp.test_message" => "Pesan uji",
        other => other,
    }
}

/// What a record is about, in Bahasa Indonesia.
fn target_label(kind: &str) -> &str {
    match kind {
        "permit" => "Izin",
        "document" => "Berkas",
        "user" => "Akun",
        "signing_case" => "Kasus TTE",
        "signing_batch" => "Tanda tangan massal",
        "wa_message" => "Pesan",
        "wa_template" => "Templat",
        "sync_run" => "Sinkronisasi",
        "token" => "Token",
        other => other,
    }
}

/// A record's details (a JSON object) as "key: value" lines; anything else as it is.
fn detail_lines(details: &str) -> Vec<String> {
    match serde_json::from_str::<serde_json::Value>(details) {
        Ok(serde_json::Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}: {s}"),
                serde_json::Value::Bool(true) => format!("{k}: ya"),
                serde_json::Value::Bool(false) => format!("{k}: tidak"),
                serde_json::Value::Null => format!("{k}: —"),
                other => format!("{k}: {other}"),
            })
            .collect(),
        Ok(serde_json::Value::Null) => Vec::new(),
        _ if details.trim().is_empty() || details.trim() == "{}" => Vec::new(),
        _ => vec![details.to_string()],
    }
}

pub async fn page(
    State(state): State<Shared>,
    Me(me): Me,
    Query(p): Query<AuditParams>,
) -> PageResult {
    let q = p.to_query(state.office_tz)?;
    let (entries, total) = state.db.list_audit(&q).await?;
    let chain = state
        .audit_chain_cache
        .get_or_load(crate::FIGURES_TTL, state.db.verify_audit())
        .await?;
    let pages = ((total + q.per_page as i64 - 1) / q.per_page as i64).max(1);
    // Names instead of usernames (the username stays in the title, for the filter).
    let names: std::collections::HashMap<String, String> = state
        .db
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.username, u.display_name))
        .collect();
    let page_link = |page: u32| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("actor", &p.actor),
            ("action", &p.action),
            ("target_id", &p.target_id),
            ("from", &p.from),
            ("to", &p.to),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                ser.append_pair(k, v);
            }
        }
        ser.append_pair("page", &page.to_string());
        format!("?{}", ser.finish())
    };
    let content = html! {
        h1 { "Jejak audit" }
        @match &chain {
            Ok(n) => div.notice.ok { "Rantai hash utuh: " (num(*n as i64)) " catatan diperiksa, tidak ada yang diubah atau dihapus (diperiksa ulang paling lama tiap 30 detik)." },
            Err(e) => div.error role="alert" { "Rantai hash RUSAK: " (e.to_string()) },
        }
        form.filters method="get" action="/audit" {
            input name="actor" placeholder="Pengguna" value=[p.actor.as_deref()] aria-label="Pengguna";
            input name="action" placeholder="Tindakan (mis. auth. atau user.create)" value=[p.action.as_deref()] aria-label="Tindakan";
            input name="target_id" placeholder="ID data" value=[p.target_id.as_deref()] aria-label="ID data";
            label.inline { "Dari" input name="from" type="date" value=[p.from.as_deref()]; }
            label.inline { "s.d." input name="to" type="date" value=[p.to.as_deref()]; }
            button.primary type="submit" { "Saring" }
            a.button href="/audit" { "Atur ulang" }
        }
        p.muted { (num(total)) " catatan" }
        div.table-wrap { table.audit {
            thead { tr { th { "#" } th { "Waktu" } th { "Pengguna" } th { "Tindakan" } th { "Data" } th.hide-sm { "Dari" } th.hide-sm { "Rincian" } } }
            tbody { @for e in &entries {
                tr data-action=(e.action) {
                    td { (e.id) }
                    td { (state.office_time(e.at)) " WIB" }
                    td title=(e.actor) { (names.get(&e.actor).map(String::as_str).unwrap_or(&e.actor)) }
                    td { (action_label(&e.action)) }
                    td { (e.target_kind.as_deref().map(target_label).unwrap_or("")) " " (e.target_id.as_deref().unwrap_or("")) }
                    td.hide-sm { (e.source) }
                    td.hide-sm {
                        @let lines = detail_lines(&e.details);
                        @if !lines.is_empty() { ul.details { @for l in &lines { li { (l) } } } }
                    }
                }
            } }
        } }
        nav.pager {
            @if q.page > 1 { a.button href=(page_link(q.page - 1)) { "← Sebelumnya" } }
            @if (q.page as i64) < pages { a.button href=(page_link(q.page + 1)) { "Berikutnya →" } }
        }
    };
    Ok(layout(&me, Nav::Audit, "Jejak audit", content).into_response())
}
