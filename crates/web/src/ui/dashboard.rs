//! The dashboard: totals and charts (server-rendered SVG, readable on a phone).

use axum::extract::State;
use axum::response::IntoResponse;
use maud::html;

use super::{Me, Nav, PageResult, expiry_status_label, layout, num, svg};
use crate::Shared;
use crate::charts::{self, Datum};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des",
];

/// `2026-03` → `Mar 26`.
fn month_label(ym: &str) -> String {
    let (y, m) = ym.split_once('-').unwrap_or((ym, "1"));
    let m: usize = m.parse().unwrap_or(1);
    format!(
        "{} {}",
        MONTHS[(m.clamp(1, 12)) - 1],
        y.get(2..).unwrap_or(y)
    )
}

pub async fn page(State(state): State<Shared>, Me(me): Me) -> PageResult {
    let d = state.dashboard().await?;
    let months: Vec<(String, f64)> = d
        .issued_per_month
        .iter()
        .map(|m| (month_label(&m.month), m.count as f64))
        .collect();
    let per_month: Vec<Datum> = months
        .iter()
        .map(|(l, v)| Datum {
            label: l,
            value: *v,
        })
        .collect();
    let top: Vec<Datum> = d
        .top_types
        .iter()
        .map(|t| Datum {
            label: &t.name,
            value: t.count as f64,
        })
        .collect();
    let share = [
        Datum {
            label: "Terbit",
            value: d.issued as f64,
        },
        Datum {
            label: "Dalam proses",
            value: d.in_process as f64,
        },
    ];
    let expiring = [
        Datum {
            label: "Sudah lewat",
            value: d.expiring.expired as f64,
        },
        Datum {
            label: "≤ 30 hari",
            value: d.expiring.within_30 as f64,
        },
        Datum {
            label: "≤ 60 hari",
            value: d.expiring.within_60 as f64,
        },
        Datum {
            label: "≤ 90 hari",
            value: d.expiring.within_90 as f64,
        },
    ];
    let expiry_status: Vec<Datum> = d
        .expiry_status
        .iter()
        .map(|(k, v)| Datum {
            label: expiry_status_label(k),
            value: *v as f64,
        })
        .collect();
    let unknown_expiry: i64 = d
        .expiry_status
        .iter()
        .filter(|(k, _)| k.as_str() != "found")
        .map(|(_, v)| *v)
        .sum();
    let integrity = state.db.latest_integrity_check().await?;
    let signing = state.db.signing_state_counts().await?;
    let signing_alarms = super::signing_jobs::alarms(&state).await?;
    let verified = super::verifications::totals(&state).await?;
    let whatsapp = super::messages::dashboard_section(&state).await?;
    let recent_runs = state.db.list_runs(crate::api::sync::STATUS_RUNS).await?;
    let sync = super::sync::completeness(&state, &recent_runs).await?;
    let security = security_section(&state, me.user.role).await?;
    let content = html! {
        h1 { "Dasbor" }
        (security)
        div.cards {
            a.card href="/izin?status=issued" { span { "Izin terbit" } b { (num(d.issued)) } }
            a.card href="/izin?status=in_process" { span { "Dalam proses" } b { (num(d.in_process)) } }
            a.card href="/jenis-izin" { span { "Jenis izin (di sini / SICANTIK)" }
                b { (num(d.permit_types_known)) " / " (d.sicantik_jumlah_perizinan.as_deref().unwrap_or("—")) } }
            a.card href="/izin?expiring_within_days=30&sort=expiry" { span { "Berakhir ≤ 30 hari" } b { (num(d.expiring.within_30)) } }
            div.card { span { "Tanggal berlaku tidak diketahui" } b { (num(unknown_expiry)) } }
            // One class attribute: maud's `.card` shorthand and a second `class` would be two.
            a #tasks-pdf href="/izin?status=issued&berkas=belum" class={ "card" @if d.waiting_for_pdf > 0 { " attention" } } {
                span { "PDF belum diunggah" } b { (num(d.waiting_for_pdf)) }
                small.muted { "izin terbit tanpa surat tersimpan" } }
        }
        div.grid {
            section.card.chart-card { h2 { "Izin terbit per bulan" } (svg(charts::column_chart("issued-per-month", "Izin terbit per bulan (12 bulan terakhir)", &per_month))) }
            section.card.chart-card { h2 { "Jenis izin terbanyak" } (svg(charts::bar_chart("top-types", "Sepuluh jenis izin dengan izin terbanyak", &top))) }
            section.card.chart-card { h2 { "Izin yang akan berakhir" } (svg(charts::bar_chart("expiring", "Izin terbit menurut sisa masa berlaku", &expiring))) }
            section.card.chart-card { h2 { "Status izin" } (svg(charts::donut_chart("status-share", "Izin terbit dan dalam proses", &share))) }
            section.card.chart-card { h2 { "Pemeriksaan tanggal berlaku" } (svg(charts::bar_chart("expiry-status", "Izin terbit menurut hasil pemeriksaan tanggal berlaku ke SICANTIK", &expiry_status))) }
            section.card #documents-state { h2 { "Dokumen" }
                p { (num(d.documents)) " berkas tersimpan · " a href="/dokumen" { "Kelola dokumen" } }
                (super::documents::integrity_summary(&state, integrity.as_ref())) }
            section.card #signing-state { h2 { "Tanda tangan elektronik" }
                p { a href="/tte#submitted" { (num(signing.get("submitted").copied().unwrap_or(0))) " menunggu persetujuan" } " · "
                    a href="/tte#stamped" { (num(signing.get("stamped").copied().unwrap_or(0))) " siap ditandatangani" } " · "
                    a href="/tte#published" { (num(signing.get("published").copied().unwrap_or(0))) " terbit bertanda tangan" } }
                @if let Some(svc) = &state.signing { (super::signing::certificate_note(&state, svc)) }
                (signing_alarms) }
            section.card #verification-totals { h2 { "Verifikasi dokumen" }
                p { (num(verified.0)) " pemeriksaan ASLI, " (num(verified.1)) " KEDALUWARSA, " (num(verified.2)) " tidak sah dalam "
                    (super::verifications::DAYS) " hari terakhir." }
                p { a href="/verifikasi" { "Statistik lengkap" } " · " a href="/periksa" { "Portal publik" } } }
            (sync)
            (whatsapp)
        }
    };
    Ok(layout(&me, Nav::Dashboard, "Dasbor", content).into_response())
}

/// For administrators and officials: usernames under attack and privileged roles granted
/// lately (read from the audit trail). Nothing when there is nothing to say.
async fn security_section(
    state: &crate::AppState,
    role: companion_domain::Role,
) -> Result<maud::Markup, crate::ApiError> {
    use companion_domain::Role;
    use companion_domain::security::{ATTACK_WINDOW_HOURS, GRANT_WINDOW_DAYS};
    if !matches!(role, Role::Admin | Role::Official) {
        return Ok(html! {});
    }
    let now = chrono::Utc::now();
    let attacked: Vec<_> = state
        .db
        .login_failures_since(now - chrono::Duration::hours(ATTACK_WINDOW_HOURS))
        .await?
        .into_iter()
        .filter(|f| f.under_attack())
        .collect();
    let grants = state
        .db
        .privileged_grants_since(now - chrono::Duration::days(GRANT_WINDOW_DAYS))
        .await?;
    if attacked.is_empty() && grants.is_empty() {
        return Ok(html! {});
    }
    // Grants name the account by id: shown by name.
    let users = state.db.list_users().await?;
    let account = |id: Option<&str>| {
        users
            .iter()
            .find(|u| Some(u.id.to_string().as_str()) == id)
            .map(|u| format!("{} ({})", u.display_name, u.username))
            .unwrap_or_else(|| id.unwrap_or("—").to_string())
    };
    Ok(html! {
        section.card.alarm #security-signals {
            h2 { "Peringatan keamanan" }
            @if !attacked.is_empty() {
                p { "Percobaan masuk yang gagal dalam " (ATTACK_WINDOW_HOURS) " jam terakhir — setiap alamat diperlambat, akun pemiliknya tetap dapat masuk dari alamatnya sendiri:" }
                ul {
                    @for f in &attacked {
                        li data-attacked=(f.username) { "Akun " b { (f.username) } ": " (num(f.failures)) " kali gagal dari " (num(f.addresses)) " alamat" }
                    }
                }
            }
            @if !grants.is_empty() {
                p { "Peran berwenang yang diberikan dalam " (GRANT_WINDOW_DAYS) " hari terakhir:" }
                ul {
                    @for (e, r) in &grants {
                        li data-grant=(e.target_id.as_deref().unwrap_or("")) {
                            (state.office_time(e.at)) " — " b { (e.actor) } " memberi peran " b { (r.label()) }
                            " kepada " (account(e.target_id.as_deref()))
                        }
                    }
                }
            }
            p.muted { a href="/audit" { "Lihat jejak audit" } }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn month_labels() {
        assert_eq!(super::month_label("2026-03"), "Mar 26");
        assert_eq!(super::month_label("2025-12"), "Des 25");
        assert_eq!(super::month_label("junk"), "Jan nk");
    }
}
