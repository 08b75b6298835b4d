//! Verification statistics for staff: checks per day (valid vs not), by method, the top reasons
//! for checks that did not pass, by region and device; the latest checks; a CSV export. Client
//! addresses are never shown or exported.

use axum::extract::State;
use axum::response::IntoResponse;
use maud::html;

use super::{Me, Nav, PageResult, layout, num, svg};
use crate::charts::{self, Datum};
use crate::{ApiError, Shared};

/// The period the page and the dashboard count.
pub const DAYS: i64 = 30;

pub fn result_label(result: &str) -> &str {
    match result {
        "asli" => "ASLI",
        "dicabut" => "DICABUT",
        "kedaluwarsa" => "KEDALUWARSA",
        "tidak_dikenal" => "TIDAK DIKENAL",
        "tidak_asli" => "TIDAK ASLI",
        "tidak_dapat_dipastikan" => "TIDAK DAPAT DIPASTIKAN",
        other => other,
    }
}

/// The portal's device classes in the staff's words.
fn device_label(device: &str) -> &str {
    match device {
        "mobile" => "Ponsel",
        "desktop" => "Komputer",
        "other" => "Lainnya (aplikasi/otomatis)",
        other => other,
    }
}

/// A checks-per-day key `YYYY-MM-DD` as the chart's `DD-MM`.
fn day_month(day: &str) -> String {
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map(|d| d.format("%d-%m").to_string())
        .unwrap_or_else(|_| day.to_string())
}

fn method_label(method: &str) -> &str {
    match method {
        "qr" => "pindai QR",
        "code" => "kode",
        "upload" => "unggah PDF",
        other => other,
    }
}

async fn stats(state: &crate::AppState) -> Result<companion_db::VerificationStats, ApiError> {
    use chrono::Offset;
    let offset = chrono::Utc::now()
        .with_timezone(&state.office_tz)
        .offset()
        .fix()
        .local_minus_utc();
    let since = chrono::Utc::now() - chrono::Duration::days(DAYS);
    Ok(state.db.verification_stats(since, offset).await?)
}

/// (valid, expired, the rest) in the period, for the dashboard: an expired permit's genuine
/// letter is not a forgery, so it is not counted with them.
pub async fn totals(state: &crate::AppState) -> Result<(i64, i64, i64), ApiError> {
    let since = chrono::Utc::now() - chrono::Duration::days(DAYS);
    let counts = state.db.verification_counts(since).await?;
    let valid = counts.get("asli").copied().unwrap_or(0);
    let expired = counts.get("kedaluwarsa").copied().unwrap_or(0);
    Ok((
        valid,
        expired,
        counts.values().sum::<i64>() - valid - expired,
    ))
}

pub async fn page(State(state): State<Shared>, Me(me): Me) -> PageResult {
    let s = stats(&state).await?;
    let recent = state.db.recent_verifications(50).await?;
    // Per day: valid, expired and the rest (forged, unknown, revoked, undecided) apart.
    let mut days: Vec<(String, f64, f64, f64)> = Vec::new();
    for (day, result, n) in &s.per_day {
        if days.last().is_none_or(|(d, _, _, _)| d != day) {
            days.push((day.clone(), 0.0, 0.0, 0.0));
        }
        if let Some(last) = days.last_mut() {
            match result.as_str() {
                "asli" => last.1 += *n as f64,
                "kedaluwarsa" => last.3 += *n as f64,
                _ => last.2 += *n as f64,
            }
        }
    }
    let labels: Vec<String> = days.iter().map(|(d, _, _, _)| day_month(d)).collect();
    let expired: Vec<Datum> = labels
        .iter()
        .zip(&days)
        .map(|(l, d)| Datum {
            label: l,
            value: d.3,
        })
        .collect();
    let valid: Vec<Datum> = labels
        .iter()
        .zip(&days)
        .map(|(l, d)| Datum {
            label: l,
            value: d.1,
        })
        .collect();
    let invalid: Vec<Datum> = labels
        .iter()
        .zip(&days)
        .map(|(l, d)| Datum {
            label: l,
            value: d.2,
        })
        .collect();
    let total: i64 = s.by_device.iter().map(|(_, n)| n).sum();
    let device_labels: Vec<String> = s
        .by_device
        .iter()
        .map(|(d, _)| device_label(d).to_string())
        .collect();
    let devices: Vec<Datum> = device_labels
        .iter()
        .zip(&s.by_device)
        .map(|(l, (_, n))| Datum {
            label: l,
            value: *n as f64,
        })
        .collect();
    let content = html! {
        h1 { "Verifikasi dokumen" }
        p.muted { (num(total)) " pemeriksaan dalam " (DAYS) " hari terakhir. " a href="/verifikasi.csv" download { "Unduh CSV" } }
        section.card { h2 { "Sah per hari" } (svg(charts::column_chart("chart-verifications-valid", "Pemeriksaan ASLI per hari", &valid))) }
        section.card { h2 { "Kedaluwarsa per hari" }
            p.muted { "Surat asli yang masa berlakunya sudah lewat: bukan pemalsuan." }
            (svg(charts::column_chart("chart-verifications-expired", "Pemeriksaan KEDALUWARSA per hari", &expired))) }
        section.card { h2 { "Tidak sah per hari" }
            p.muted { "TIDAK ASLI, DICABUT, TIDAK DIKENAL dan TIDAK DAPAT DIPASTIKAN." }
            (svg(charts::column_chart("chart-verifications-invalid", "Pemeriksaan tidak sah per hari", &invalid))) }
        section.card { h2 { "Menurut cara" }
            div.table-wrap { table #by-method { thead { tr { th { "Cara" } th { "Hasil" } th { "Jumlah" } } }
                tbody { @for (m, r, n) in &s.by_method { tr { td { (method_label(m)) } td { (result_label(r)) } td { (num(*n)) } } } } } } }
        section.card { h2 { "Alasan terbanyak (tidak sah)" }
            @if s.top_reasons.is_empty() { p.muted { "Belum ada." } }
            ol #top-reasons { @for (r, n) in &s.top_reasons { li { (r) " — " (num(*n)) } } } }
        section.card { h2 { "Menurut wilayah" }
            p.muted { "Wilayah kasar diisi bila basis data GeoIP dikonfigurasi." }
            ul { @for (r, n) in &s.by_region { li { (r) " — " (num(*n)) } } } }
        section.card { h2 { "Menurut perangkat" } (svg(charts::donut_chart("chart-verifications-device", "Perangkat", &devices))) }
        section.card { h2 { "Pemeriksaan terbaru" }
            div.table-wrap { table #recent-verifications { thead { tr { th { "Waktu" } th { "Cara" } th { "Hasil" } th { "Jumlah" } th { "Kode" } th { "Alasan" } } }
                tbody { @for e in &recent { tr data-result=(e.result) {
                    td { (state.office_time(e.at)) } td { (method_label(&e.method)) } td { (result_label(&e.result)) } td { (num(e.checks)) }
                    td { @if let Some(v) = &e.verification_id { a href={ "/v/" (v) } { (v) } } }
                    td { (e.reason.as_deref().unwrap_or("")) } } } } } } }
    };
    Ok(layout(&me, Nav::Verifications, "Verifikasi dokumen", content).into_response())
}

/// `GET /verifikasi.csv`: the checks of the period (no client addresses).
pub async fn csv(State(state): State<Shared>) -> Result<axum::response::Response, ApiError> {
    let since = chrono::Utc::now() - chrono::Duration::days(DAYS);
    let rows = state.db.verifications_since(since).await?;
    let mut out = crate::csv_out::CsvOut::new("verifications");
    out.row([
        "waktu",
        "cara",
        "hasil",
        "jumlah",
        "kode_verifikasi",
        "alasan",
        "perangkat",
        "wilayah",
    ])?;
    for e in rows {
        out.row([
            state.office_time(e.at),
            e.method,
            e.result,
            e.checks.to_string(),
            e.verification_id.unwrap_or_default(),
            e.reason.unwrap_or_default(),
            e.device,
            e.region.unwrap_or_default(),
        ])?;
    }
    let body = out.finish()?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"verifikasi.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}
