//! Plain server-rendered pages in Bahasa Indonesia: the permit list with search and a permit's
//! detail. The full staff application (accounts, dashboard, charts) builds on these.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use companion_domain::PermitStatus;
use companion_domain::permits::PermitView;
use html_escape::encode_text as esc;

use crate::api::ListParams;
use crate::{ApiError, Shared};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f6f7f9}\
header{background:#0b4f6c;color:#fff;padding:.8rem 1rem}header a{color:#fff;text-decoration:none}\
main{padding:1rem;max-width:72rem;margin:auto}table{border-collapse:collapse;width:100%;background:#fff}\
th,td{padding:.4rem .5rem;border-bottom:1px solid #e3e5e8;text-align:left;font-size:.92rem}\
.cards{display:flex;flex-wrap:wrap;gap:.6rem;margin-bottom:1rem}.card{background:#fff;padding:.7rem 1rem;border-radius:.4rem;min-width:9rem}\
.card b{display:block;font-size:1.4rem}.flag{color:#a15c00;font-size:.8rem}form{margin:.8rem 0;display:flex;gap:.4rem;flex-wrap:wrap}\
input,select,button{padding:.4rem;font-size:1rem}@media(max-width:40rem){.hide-sm{display:none}}";

fn layout(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"id\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} — SICANTIK Companion</title><style>{STYLE}</style></head><body><header><a href=\"/\"><strong>SICANTIK Companion</strong></a> · DPMPTSP Kabupaten Karo</header><main>{body}</main></body></html>",
        esc(title)
    ))
}

fn status_label(s: PermitStatus) -> &'static str {
    match s {
        PermitStatus::Issued => "Terbit",
        PermitStatus::InProcess => "Dalam proses",
    }
}

fn flag_label(field: &str, problem: &str) -> String {
    let what = match field {
        "applicant_name" => "Nama pemohon",
        "permit_type_name" => "Jenis izin",
        "permit_number" => "Nomor izin",
        "expiry_date" => "Tanggal berlaku",
        "issue_date" => "Tanggal surat",
        "received_date" => "Tanggal terima berkas",
        other => other,
    };
    let why = if problem == "missing" {
        "kosong di SICANTIK".to_string()
    } else if let Some(v) = problem.strip_prefix("junk:") {
        format!("tidak wajar di SICANTIK (\"{v}\")")
    } else if let Some(v) = problem.strip_prefix("invalid:") {
        format!("tidak valid di SICANTIK (\"{v}\")")
    } else {
        problem.to_string()
    };
    format!("{what} {why}")
}

fn flags_html(p: &PermitView) -> String {
    p.flags
        .iter()
        .map(|(f, v)| format!("<div class=\"flag\">⚠ {}</div>", esc(&flag_label(f, v))))
        .collect()
}

fn opt(v: &Option<String>) -> String {
    v.as_deref()
        .map(|s| esc(s).into_owned())
        .unwrap_or_else(|| "—".into())
}

pub async fn home(
    State(state): State<Shared>,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, ApiError> {
    let query = params.to_query()?;
    let (permits, total) = state.db.list_permits(&query).await?;
    let counts = state.db.status_counts().await?;
    let runs = state.db.list_runs(5).await?;
    let mut body = format!(
        "<div class=\"cards\"><div class=\"card\">Izin terbit<b>{}</b></div><div class=\"card\">Dalam proses<b>{}</b></div><div class=\"card\">Hasil pencarian<b>{total}</b></div></div>",
        counts.issued, counts.in_process
    );
    body.push_str(&format!(
        "<form method=\"get\"><input name=\"q\" placeholder=\"Cari nama, nomor izin, no. pendaftaran\" value=\"{}\">\
         <select name=\"status\"><option value=\"\">Semua status</option><option value=\"issued\"{}>Terbit</option><option value=\"in_process\"{}>Dalam proses</option></select>\
         <button>Cari</button></form>",
        esc(params.q.as_deref().unwrap_or("")),
        if query.status == Some(PermitStatus::Issued) { " selected" } else { "" },
        if query.status == Some(PermitStatus::InProcess) { " selected" } else { "" },
    ));
    body.push_str("<table><thead><tr><th>No. pendaftaran</th><th>Pemohon</th><th class=\"hide-sm\">Jenis izin</th><th class=\"hide-sm\">Nomor izin</th><th>Status</th><th class=\"hide-sm\">Berlaku s.d.</th></tr></thead><tbody>");
    for p in &permits {
        body.push_str(&format!(
            "<tr><td><a href=\"/izin/{id}\">{id}</a></td><td>{}{}</td><td class=\"hide-sm\">{}</td><td class=\"hide-sm\">{}</td><td>{}</td><td class=\"hide-sm\">{}</td></tr>",
            opt(&p.applicant_name),
            flags_html(p),
            opt(&p.permit_type_name),
            opt(&p.permit_number),
            status_label(p.status),
            p.expiry_date.map(|d| d.format("%d-%m-%Y").to_string()).unwrap_or_else(|| "—".into()),
            id = esc(&p.pendaftaran_id),
        ));
    }
    body.push_str("</tbody></table>");
    if total > (query.page as i64) * (query.per_page as i64) {
        let mut next = format!("?page={}", query.page + 1);
        if let Some(q) = params.q.as_deref() {
            next.push_str(&format!("&q={}", esc(&q.replace(['&', '#', '?'], ""))));
        }
        if let Some(s) = query.status {
            next.push_str(&format!("&status={}", s.as_str()));
        }
        body.push_str(&format!(
            "<p><a href=\"{next}\">Halaman berikutnya →</a></p>"
        ));
    }
    body.push_str("<h2>Sinkronisasi terakhir</h2><table><thead><tr><th>Jenis</th><th>Mulai</th><th>Hasil</th><th>Diambil</th><th>Baru</th><th>Berubah</th><th>Dilewati</th><th>Galat</th></tr></thead><tbody>");
    for r in &runs {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.kind),
            state.office_time(r.started_at),
            esc(&r.outcome),
            r.fetched,
            r.inserted,
            r.updated,
            r.skipped_invalid,
            r.errors
        ));
    }
    body.push_str("</tbody></table>");
    Ok(layout("Daftar izin", &body))
}

pub async fn permit(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Html<String>), ApiError> {
    let Some(p) = state.db.get_permit(&id).await? else {
        return Ok((
            StatusCode::NOT_FOUND,
            layout("Tidak ditemukan", "<p>Izin tidak ditemukan.</p>"),
        ));
    };
    let history = state.db.status_history(&id).await?;
    let date = |d: Option<chrono::NaiveDate>| {
        d.map(|d| d.format("%d-%m-%Y").to_string())
            .unwrap_or_else(|| "—".into())
    };
    let expiry_note = match p.expiry_status.as_str() {
        "found" => String::new(),
        "unknown" => " (belum diperiksa ke SICANTIK)".into(),
        "not_registered" => " (SICANTIK tidak mengenali nomor izin ini)".into(),
        "no_expiry" => " (SICANTIK tidak mencantumkan tanggal berlaku)".into(),
        _ => " (pemeriksaan gagal, akan dicoba lagi)".into(),
    };
    let mut body = format!(
        "<h1>{}</h1>{}<table>\
         <tr><th>No. pendaftaran</th><td>{}</td></tr><tr><th>Pemohon</th><td>{}</td></tr><tr><th>Jenis izin</th><td>{}</td></tr>\
         <tr><th>Nomor izin</th><td>{}</td></tr><tr><th>Status</th><td>{}</td></tr><tr><th>Tanggal surat</th><td>{}</td></tr>\
         <tr><th>Berlaku s.d.</th><td>{}{}</td></tr><tr><th>Alamat</th><td>{}</td></tr><tr><th>Telepon</th><td>{}</td></tr>\
         <tr><th>Perusahaan</th><td>{}</td></tr></table>",
        opt(&p.applicant_name),
        flags_html(&p),
        esc(&p.pendaftaran_id),
        opt(&p.applicant_name),
        opt(&p.permit_type_name),
        opt(&p.permit_number),
        status_label(p.status),
        date(p.issue_date),
        date(p.expiry_date),
        expiry_note,
        opt(&p.applicant_address),
        opt(&p.applicant_phone),
        opt(&p.company_name),
    );
    body.push_str("<h2>Riwayat status</h2><ul>");
    for h in history {
        let from = h
            .from_status
            .as_deref()
            .and_then(PermitStatus::parse)
            .map(status_label)
            .unwrap_or("baru");
        let to = PermitStatus::parse(&h.to_status)
            .map(status_label)
            .unwrap_or("?");
        body.push_str(&format!(
            "<li>{} — {} → {}</li>",
            state.office_time(h.changed_at),
            from,
            to
        ));
    }
    body.push_str("</ul>");
    Ok((StatusCode::OK, layout("Detail izin", &body)))
}
