//! `/skm`: the office's Survei Kepuasan Masyarakat report (docs/skm.md) — IKM and grade for a
//! month, a semester or a year, in total and per permit type; the NRR of each element with a
//! chart; answers, invitations and the response rate; the comments; `/skm.csv` and the printable
//! `/skm/cetak`. Answers are anonymous: nothing here names an applicant.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::Datelike;
use companion_domain::survey::{ELEMENT_LIST, Grade, Index, Period, Tally, decimal_comma};
use maud::{Markup, html};

use super::{Me, Nav, PageResult, bare, layout, num, svg};
use crate::charts::{self, Datum};
use crate::{ApiError, AppState, Shared};

#[derive(Debug, Default, serde::Deserialize)]
pub struct PeriodParams {
    /// `bulan` (default), `semester` or `tahun`.
    periode: Option<String>,
    tahun: Option<i32>,
    bulan: Option<u32>,
    semester: Option<u32>,
}

impl PeriodParams {
    fn period(&self, state: &AppState) -> Period {
        let today = chrono::Utc::now()
            .with_timezone(&state.office_tz)
            .date_naive();
        let year = self
            .tahun
            .filter(|y| (2000..=2100).contains(y))
            .unwrap_or(today.year());
        match self.periode.as_deref() {
            Some("tahun") => Period::Year { year },
            Some("semester") => {
                let half = self
                    .semester
                    .filter(|h| (1..=2).contains(h))
                    .unwrap_or(if today.month() <= 6 { 1 } else { 2 });
                Period::Semester { year, half }
            }
            _ => {
                let month = self
                    .bulan
                    .filter(|m| (1..=12).contains(m))
                    .unwrap_or(today.month());
                Period::Month { year, month }
            }
        }
    }
}

fn query_of(p: Period) -> String {
    match p {
        Period::Month { year, month } => format!("periode=bulan&tahun={year}&bulan={month}"),
        Period::Semester { year, half } => format!("periode=semester&tahun={year}&semester={half}"),
        Period::Year { year } => format!("periode=tahun&tahun={year}"),
    }
}

/// Everything a report shows.
struct Report {
    period: Period,
    total: Tally,
    index: Option<Index>,
    per_type: Vec<(String, Tally)>,
    invitations: i64,
    comments: Vec<companion_db::surveys::SurveyComment>,
}

async fn report(state: &AppState, period: Period) -> Result<Report, ApiError> {
    let Some((from, to)) = period.range() else {
        return Err(ApiError::bad_request("periode tidak dikenal"));
    };
    let (total, per_type) = state.db.survey_tallies(from, to).await?;
    let invitations = state.db.survey_invitations_between(from, to).await?;
    let comments = state.db.survey_comments(from, to, 200).await?;
    Ok(Report {
        period,
        index: total.index(),
        total,
        per_type,
        invitations,
        comments,
    })
}

fn rate(r: &Report) -> String {
    if r.invitations <= 0 {
        return "—".into();
    }
    let pct = r.total.respondents as f64 * 100.0 / r.invitations as f64;
    format!("{} %", decimal_comma(pct, 1))
}

fn ikm_of(i: &Option<Index>) -> (String, String) {
    match i {
        Some(i) => (
            i.ikm_text(),
            format!("{} ({})", i.grade, i.grade.label(false)),
        ),
        None => ("—".into(), "belum ada jawaban".into()),
    }
}

fn element_table(r: &Report) -> Markup {
    html! {
        div.table-wrap { table #skm-elements {
            thead { tr { th { "Unsur" } th { "Nama unsur" } th.num { "Jumlah nilai" } th.num { "NRR" } th.num { "NRR × 1/9" } } }
            tbody {
                @for (k, e) in ELEMENT_LIST.iter().enumerate() {
                    tr data-element=(e.code) {
                        td { (e.code) } td { (e.name_id) }
                        td.num { (num(i64::try_from(r.total.sums[k]).unwrap_or(i64::MAX))) }
                        td.num { @if let Some(i) = &r.index { (decimal_comma(i.nrr[k], 2)) } @else { "—" } }
                        td.num { @if let Some(i) = &r.index { (decimal_comma(i.nrr[k] / 9.0, 3)) } @else { "—" } }
                    }
                }
            }
            tfoot { tr {
                td colspan="3" { "Nilai persepsi (rata-rata NRR) · IKM = × 25" }
                td.num { @if let Some(i) = &r.index { (decimal_comma(i.mean_nrr(), 2)) } @else { "—" } }
                td.num { (ikm_of(&r.index).0) }
            } }
        } }
    }
}

fn type_table(r: &Report) -> Markup {
    html! {
        @if r.per_type.is_empty() { p.muted { "Belum ada jawaban dalam periode ini." } }
        @else {
            div.table-wrap { table #skm-types {
                thead { tr { th { "Jenis izin" } th.num { "Responden" } th.num { "IKM" } th { "Mutu" } } }
                tbody { @for (name, t) in &r.per_type {
                    @let i = t.index();
                    tr { td { (name) } td.num { (t.respondents) } td.num { (ikm_of(&i).0) } td { (ikm_of(&i).1) } }
                } }
            } }
        }
    }
}

fn grade_table() -> Markup {
    html! {
        table.grades { thead { tr { th { "Nilai IKM" } th { "Mutu" } th { "Kinerja" } } }
            tbody { @for g in [Grade::A, Grade::B, Grade::C, Grade::D] { tr { td { (g.interval()) } td { (g.letter()) } td { (g.label(false)) } } } } }
    }
}

fn period_form(p: Period) -> Markup {
    let (kind, year, month, half) = match p {
        Period::Month { year, month } => ("bulan", year, month, 1),
        Period::Semester { year, half } => ("semester", year, 1, half),
        Period::Year { year } => ("tahun", year, 1, 1),
    };
    html! {
        form.inline method="get" action="/skm" {
            select name="periode" aria-label="Periode" {
                option value="bulan" selected[kind == "bulan"] { "Bulan" }
                option value="semester" selected[kind == "semester"] { "Semester" }
                option value="tahun" selected[kind == "tahun"] { "Tahun" }
            }
            input type="number" name="tahun" value=(year) min="2000" max="2100" aria-label="Tahun";
            select name="bulan" aria-label="Bulan" { @for m in 1..=12u32 { option value=(m) selected[m == month] { (Period::Month { year, month: m }.label(false).split(' ').next().unwrap_or("")) } } }
            select name="semester" aria-label="Semester" { option value="1" selected[half == 1] { "I (Jan–Jun)" } option value="2" selected[half == 2] { "II (Jul–Des)" } }
            button type="submit" { "Tampilkan" }
        }
    }
}

/// `GET /skm`.
pub async fn page(
    State(state): State<Shared>,
    Me(me): Me,
    Query(q): Query<PeriodParams>,
) -> PageResult {
    let r = report(&state, q.period(&state)).await?;
    let labels: Vec<String> = ELEMENT_LIST
        .iter()
        .map(|e| format!("{} {}", e.code, e.name_id))
        .collect();
    let data: Vec<Datum> = labels
        .iter()
        .enumerate()
        .map(|(k, l)| Datum {
            label: l,
            value: r
                .index
                .as_ref()
                .map_or(0.0, |i| (i.nrr[k] * 100.0).round() / 100.0),
        })
        .collect();
    let (ikm, grade) = ikm_of(&r.index);
    let q = query_of(r.period);
    let content = html! {
        h1 { "Survei Kepuasan Masyarakat" }
        p.muted { "PermenPANRB No. 14 Tahun 2017 — sembilan unsur, skala 1–4. Jawaban anonim. "
            a href={ "/skm.csv?" (q) } download { "Unduh CSV" } " · " a href={ "/skm/cetak?" (q) } { "Laporan cetak" } " · " a #skm-pdf href={ "/skm.pdf?" (q) } download { "Unduh PDF" } }
        (period_form(r.period))
        section.card #skm-summary data-ikm=(ikm) data-grade=(r.index.as_ref().map_or("", |i| i.grade.letter())) {
            h2 { "IKM " (r.period.label(false)) }
            p.big-number { (ikm) }
            p { "Mutu pelayanan: " strong { (grade) } }
            p { (num(i64::try_from(r.total.respondents).unwrap_or(i64::MAX))) " responden · " (num(r.invitations)) " undangan · tingkat respons " (rate(&r)) }
        }
        section.card { h2 { "NRR per unsur" } (svg(charts::bar_chart("chart-skm-nrr", "Nilai rata-rata (NRR) per unsur, skala 1–4", &data))) (element_table(&r)) }
        section.card { h2 { "Per jenis izin" } (type_table(&r)) }
        section.card { h2 { "Saran dan pengaduan" }
            @if r.comments.is_empty() { p.muted { "Tidak ada komentar dalam periode ini." } }
            ul #skm-comments { @for c in &r.comments { li { span.muted { (c.answered_on.format("%d-%m-%Y")) " · " (c.permit_type_name.as_deref().unwrap_or("—")) } br; (c.comment) } } } }
        section.card { h2 { "Mutu pelayanan" } (grade_table()) }
    };
    Ok(layout(&me, Nav::Skm, "Survei Kepuasan Masyarakat", content).into_response())
}

/// `GET /skm.csv`: the report's table — one row per element, then the totals, then one row per
/// permit type.
pub async fn csv(
    State(state): State<Shared>,
    Query(q): Query<PeriodParams>,
) -> Result<Response, ApiError> {
    let r = report(&state, q.period(&state)).await?;
    let mut out = crate::csv_out::CsvOut::new("skm");
    let period = r.period.label(false);
    out.row([
        "periode",
        "bagian",
        "unsur",
        "nama",
        "responden",
        "jumlah_nilai",
        "nrr",
        "ikm",
        "mutu",
    ])?;
    let n = r.total.respondents.to_string();
    for (k, e) in ELEMENT_LIST.iter().enumerate() {
        out.row([
            period.clone(),
            "unsur".into(),
            e.code.into(),
            e.name_id.into(),
            n.clone(),
            r.total.sums[k].to_string(),
            r.index
                .as_ref()
                .map(|i| decimal_comma(i.nrr[k], 2))
                .unwrap_or_default(),
            String::new(),
            String::new(),
        ])?;
    }
    out.row([
        period.clone(),
        "total".into(),
        String::new(),
        "IKM".into(),
        n,
        r.total.sums.iter().sum::<u64>().to_string(),
        r.index
            .as_ref()
            .map(|i| decimal_comma(i.mean_nrr(), 2))
            .unwrap_or_default(),
        r.index.as_ref().map(|i| i.ikm_text()).unwrap_or_default(),
        r.index
            .as_ref()
            .map(|i| i.grade.letter().to_string())
            .unwrap_or_default(),
    ])?;
    for (name, t) in &r.per_type {
        let i = t.index();
        out.row([
            period.clone(),
            "jenis_izin".into(),
            String::new(),
            name.clone(),
            t.respondents.to_string(),
            t.sums.iter().sum::<u64>().to_string(),
            i.as_ref()
                .map(|i| decimal_comma(i.mean_nrr(), 2))
                .unwrap_or_default(),
            i.as_ref().map(|i| i.ikm_text()).unwrap_or_default(),
            i.as_ref()
                .map(|i| i.grade.letter().to_string())
                .unwrap_or_default(),
        ])?;
    }
    out.row([
        period,
        "undangan".into(),
        String::new(),
        "tingkat respons".into(),
        r.invitations.to_string(),
        String::new(),
        String::new(),
        rate(&r),
        String::new(),
    ])?;
    let body = out.finish()?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"skm.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

/// `GET /skm/cetak`: the report as one printable page (print it, or save it as PDF).
pub async fn print(State(state): State<Shared>, Query(q): Query<PeriodParams>) -> PageResult {
    let r = report(&state, q.period(&state)).await?;
    let (ikm, grade) = ikm_of(&r.index);
    let content = html! {
        article.card.print-report #skm-report {
            h1 { "Laporan Survei Kepuasan Masyarakat" }
            p { "DPMPTSP Kabupaten Karo · Periode: " strong { (r.period.label(false)) } }
            p { "Dasar: Peraturan Menteri PANRB No. 14 Tahun 2017. Jumlah responden: " (r.total.respondents)
                " · undangan: " (r.invitations) " · tingkat respons: " (rate(&r)) }
            h2 { "Nilai per unsur" }
            (element_table(&r))
            h2 { "Indeks Kepuasan Masyarakat" }
            p { "IKM = rata-rata NRR × 25 = " strong { (ikm) } " · mutu pelayanan " strong { (grade) } }
            (grade_table())
            h2 { "Per jenis izin" }
            (type_table(&r))
            h2 { "Saran dan pengaduan" }
            @if r.comments.is_empty() { p { "Tidak ada." } }
            ol { @for c in &r.comments { li { (c.comment) } } }
            p.muted { "Dicetak " (state.office_time(chrono::Utc::now())) " dari SICANTIK Companion. Gunakan \"Cetak\" di peramban (Ctrl+P) untuk mencetak atau menyimpan sebagai PDF." }
        }
    };
    Ok(bare("Laporan SKM", content).into_response())
}

/// `GET /skm.pdf`: the same report as a PDF made by the server (`companion_pdf::report`), in the
/// order of the regulation's report: the elements with their sums and NRR, the IKM and grade,
/// per permit type, the comments.
pub async fn pdf(
    State(state): State<Shared>,
    Query(q): Query<PeriodParams>,
) -> Result<Response, ApiError> {
    use companion_pdf::report::Style;
    let r = report(&state, q.period(&state)).await?;
    let (ikm, grade) = ikm_of(&r.index);
    let period = r.period.label(false);
    let mut lines: Vec<(Style, String)> = vec![
        (Style::Title, "LAPORAN SURVEI KEPUASAN MASYARAKAT".into()),
        (Style::Body, format!("Periode: {period}")),
        (
            Style::Body,
            "Dasar: Peraturan Menteri PANRB No. 14 Tahun 2017 (sembilan unsur, skala 1-4).".into(),
        ),
        (
            Style::Body,
            format!(
                "Jumlah responden: {} - undangan: {} - tingkat respons: {}",
                r.total.respondents,
                r.invitations,
                rate(&r)
            ),
        ),
        (Style::Heading, "Nilai per unsur".into()),
        (Style::Columns, "Unsur\tJumlah nilai / NRR".into()),
    ];
    for (k, e) in ELEMENT_LIST.iter().enumerate() {
        let nrr = r
            .index
            .as_ref()
            .map_or_else(|| "-".to_string(), |i| decimal_comma(i.nrr[k], 2));
        lines.push((
            Style::Columns,
            format!("{} {}\t{} / NRR {nrr}", e.code, e.name_id, r.total.sums[k]),
        ));
    }
    let mean = r
        .index
        .as_ref()
        .map_or_else(|| "-".to_string(), |i| decimal_comma(i.mean_nrr(), 2));
    lines.extend([
        (Style::Heading, "Indeks Kepuasan Masyarakat".into()),
        (Style::Body, format!("Rata-rata NRR: {mean}")),
        (Style::Body, format!("IKM = rata-rata NRR x 25 = {ikm}")),
        (Style::Body, format!("Mutu pelayanan: {grade}")),
        (Style::Heading, "Mutu pelayanan menurut nilai IKM".into()),
    ]);
    for g in [Grade::A, Grade::B, Grade::C, Grade::D] {
        lines.push((
            Style::Columns,
            format!("{}\t{} ({})", g.interval(), g.letter(), g.label(false)),
        ));
    }
    lines.push((Style::Heading, "Per jenis izin".into()));
    if r.per_type.is_empty() {
        lines.push((Style::Body, "Belum ada jawaban dalam periode ini.".into()));
    }
    for (name, t) in &r.per_type {
        let (i, g) = ikm_of(&t.index());
        lines.push((
            Style::Columns,
            format!("{name}\t{} responden - IKM {i} - {g}", t.respondents),
        ));
    }
    lines.push((Style::Heading, "Saran dan pengaduan".into()));
    if r.comments.is_empty() {
        lines.push((Style::Body, "Tidak ada.".into()));
    }
    for (n, c) in r.comments.iter().enumerate() {
        lines.push((Style::Body, format!("{}. {}", n + 1, c.comment)));
    }
    lines.push((
        Style::Small,
        format!(
            "Dibuat {} oleh SICANTIK Companion. Jawaban anonim: laporan ini tidak memuat nama, nomor atau permohonan responden.",
            state.office_time(chrono::Utc::now())
        ),
    ));
    let bytes =
        tokio::task::spawn_blocking(move || companion_pdf::report::render("Laporan SKM", &lines))
            .await
            .map_err(|_| ApiError::internal())?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/pdf"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"laporan-skm.pdf\"",
            ),
        ],
        bytes,
    )
        .into_response())
}
