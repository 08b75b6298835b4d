//! The permit list (search, filters, sorting, paging, CSV), a permit's page and the permit types.

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use maud::{Markup, html};

use super::{Me, Nav, PageResult, date, expiry_note, flags, layout, num, opt, status_label};
use crate::api::Query;
use crate::api::permits::{ListParams, csv_body, csv_response};
use crate::{ApiError, Shared};

/// The current filters as a query string, with some keys replaced.
fn link(p: &ListParams, changes: &[(&str, &str)]) -> String {
    let mut v = serde_json::to_value(p).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        for (k, val) in changes {
            obj.insert((*k).into(), serde_json::Value::String((*val).into()));
        }
    }
    let pairs: Vec<(String, String)> = v
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| {
                    v.as_str()
                        .filter(|s| !s.is_empty())
                        .map(|s| (k.clone(), s.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(&k, &v);
    }
    format!("?{}", ser.finish())
}

fn sort_header(p: &ListParams, key: &str, label: &str, class: Option<&str>) -> Markup {
    let active = p.sort.as_deref().unwrap_or("newest") == key;
    html! {
        th class=[class] { a href=(link(p, &[("sort", key), ("page", "1")])) class=[active.then_some("sorted")] { (label) @if active { " ▾" } } }
    }
}

pub async fn list(
    State(state): State<Shared>,
    Me(me): Me,
    Query(params): Query<ListParams>,
) -> PageResult {
    let query = params.to_query(state.office_today())?;
    let (permits, total) = state.db.list_permits(&query).await?;
    let types = state.type_names().await?;
    let pages = ((total + query.per_page as i64 - 1) / query.per_page as i64).max(1);
    let sel = |v: &Option<String>, want: &str| v.as_deref() == Some(want);
    let content = html! {
        h1 { "Daftar izin" }
        form.filters method="get" action="/izin" {
            input name="q" type="search" placeholder="Nama pemohon, nomor izin, no. pendaftaran" value=[params.q.as_deref()] aria-label="Cari";
            select name="status" aria-label="Status" {
                option value="" { "Semua status" }
                option value="issued" selected[sel(&params.status, "issued")] { "Terbit" }
                option value="in_process" selected[sel(&params.status, "in_process")] { "Dalam proses" }
            }
            select name="type" aria-label="Jenis izin" {
                option value="" { "Semua jenis izin" }
                @for t in &types {
                    option value=(t) selected[params.permit_type.as_deref() == Some(t.as_str())] { (t) }
                }
            }
            select name="berkas" aria-label="Berkas PDF" {
                option value="" { "Semua berkas" }
                option value="belum" selected[sel(&params.berkas, "belum")] { "PDF belum diunggah" }
                option value="ada" selected[sel(&params.berkas, "ada")] { "PDF sudah ada" }
            }
            label.inline { "Berakhir dalam"
                input name="expiring_within_days" type="number" min="0" max="3650" inputmode="numeric" value=[params.expiring_within_days.as_deref()] placeholder="hari";
                " hari" }
            label.inline { "Tgl. surat dari" input name="issued_from" type="date" value=[params.issued_from.as_deref()]; }
            label.inline { "s.d." input name="issued_to" type="date" value=[params.issued_to.as_deref()]; }
            input type="hidden" name="sort" value=[params.sort.as_deref()];
            button.primary type="submit" { "Cari" }
            a.button href="/izin" { "Atur ulang" }
            a.button href={ "/izin.csv" (link(&params, &[("page", "")])) } download { "Unduh CSV" }
        }
        p.muted { (num(total)) " izin ditemukan · halaman " (query.page) " dari " (num(pages)) }
        div.table-wrap {
            table.permits {
                thead { tr {
                    (sort_header(&params, "id", "No. pendaftaran", None))
                    (sort_header(&params, "applicant", "Pemohon", None))
                    th.hide-sm { "Jenis izin" }
                    th.hide-sm { "Nomor izin" }
                    th { "Status" }
                    (sort_header(&params, "issued", "Tgl. surat", Some("hide-sm")))
                    (sort_header(&params, "expiry", "Berlaku s.d.", None))
                } }
                tbody {
                    @for p in &permits {
                        tr {
                            td { a href={ "/izin/" (url::form_urlencoded::byte_serialize(p.pendaftaran_id.as_bytes()).collect::<String>()) } { (p.pendaftaran_id) } }
                            td { (opt(&p.applicant_name)) (flags(p)) }
                            td.hide-sm { (opt(&p.permit_type_name)) }
                            td.hide-sm { (opt(&p.permit_number)) }
                            td { span class={ "status " (p.status.as_str()) } { (status_label(p.status)) } }
                            td.hide-sm { (date(p.issue_date)) }
                            td { (date(p.expiry_date)) }
                        }
                    }
                    @if permits.is_empty() { tr { td colspan="7" { "Tidak ada izin yang cocok." } } }
                }
            }
        }
        nav.pager aria-label="Halaman" {
            @if query.page > 1 {
                a.button href=(link(&params, &[("page", &(query.page - 1).to_string())])) rel="prev" { "← Sebelumnya" }
            }
            @if (query.page as i64) < pages {
                a.button href=(link(&params, &[("page", &(query.page + 1).to_string())])) rel="next" { "Berikutnya →" }
            }
        }
    };
    Ok(layout(&me, Nav::Permits, "Daftar izin", content).into_response())
}

pub async fn csv(
    State(state): State<Shared>,
    Query(params): Query<ListParams>,
) -> Result<axum::response::Response, ApiError> {
    Ok(csv_response(csv_body(&state, &params).await?))
}

pub async fn detail(
    State(state): State<Shared>,
    Me(me): Me,
    Path(id): Path<String>,
    Query(n): Query<super::account::Notice>,
) -> PageResult {
    let Some(p) = state.db.get_permit(&id).await? else {
        return Err(ApiError::not_found("Izin tidak ditemukan.").into());
    };
    // One read of the permit's files serves both sections.
    let files = state.db.documents_for_permit(&p.pendaftaran_id).await?;
    let documents = super::documents::permit_section(
        &state,
        &me,
        &p.pendaftaran_id,
        p.status == companion_domain::PermitStatus::Issued,
        &files,
    );
    let signing = super::signing::permit_section(&state, &me, &p.pendaftaran_id, &files).await?;
    let history = state.db.status_history(&id).await?;
    let whatsapp = super::messages::permit_whatsapp(&state, &me, &p).await?;
    let note = expiry_note(&p.expiry_status);
    // The action a role came for comes first: the official's approval and signing, the staff's
    // upload and submission (with the consent the applicant's message needs).
    let official = me.may(companion_domain::Permission::DecideDocuments);
    let content = html! {
        p { a href="/izin" { "← Daftar izin" } }
        h1 { (opt(&p.applicant_name)) }
        (super::notice(n.pesan.as_deref()))
        (flags(&p))
        @if official { (signing) (documents) } @else { (whatsapp.prompt) (documents) (signing) }
        section.card #ringkasan {
            dl.facts {
                dt { "No. pendaftaran" } dd { (p.pendaftaran_id) }
                dt { "Pemohon" } dd { (opt(&p.applicant_name)) }
                dt { "Jenis izin" } dd { (opt(&p.permit_type_name)) }
                dt { "Nomor izin" } dd { (opt(&p.permit_number)) }
                dt { "Status" } dd { (status_label(p.status)) }
                dt { "Tanggal surat" } dd { (date(p.issue_date)) }
                dt { "Berlaku s.d." } dd { (date(p.expiry_date)) @if !note.is_empty() { " " span.muted { "(" (note) ")" } } }
                dt { "Perusahaan" } dd { (opt(&p.company_name)) }
                dt { "Alamat" } dd { (opt(&p.applicant_address)) }
                dt { "Telepon" } dd { (opt(&p.applicant_phone)) }
                dt { "Pertama terlihat" } dd { (state.office_time(p.first_seen_at)) }
            }
        }
        section.card {
            h2 { "Riwayat status" }
            ol.timeline {
                @for h in &history {
                    li {
                        time { (state.office_time(h.changed_at)) } " — "
                        (h.from_status.as_deref().and_then(companion_domain::PermitStatus::parse).map(status_label).unwrap_or("baru"))
                        " → "
                        (companion_domain::PermitStatus::parse(&h.to_status).map(status_label).unwrap_or("?"))
                    }
                }
            }
        }
        (whatsapp.section)
    };
    Ok(layout(&me, Nav::Permits, "Detail izin", content).into_response())
}

pub async fn types(State(state): State<Shared>, Me(me): Me) -> PageResult {
    let types = state.db.types_with_counts().await?;
    let upstream = state.db.get_kv("sicantik.jumlah_perizinan").await?;
    let content = html! {
        h1 { "Jenis izin" }
        p {
            "Dikenal di sini: " strong { (num(types.len() as i64)) }
            " · Menurut SICANTIK (jumlahPerizinan): "
            strong { @match &upstream { Some((v, _)) => (v), None => "belum diambil" } }
        }
        div.table-wrap { table.types {
            thead { tr { th { "Jenis izin" } th.hide-sm { "Kelompok" } th.hide-sm { "Lama layanan (hari)" } th.num { "Jumlah izin" } } }
            tbody {
                @for t in &types {
                    tr {
                        td { a href={ "/izin" (link(&ListParams { permit_type: Some(t.name.clone()), ..Default::default() }, &[])) } { (t.name) }
                             @if t.id.is_none() { " " span.flag { "(tidak ada di daftar jenis SICANTIK)" } } }
                        td.hide-sm { (opt(&t.group_name)) }
                        td.hide-sm { (t.service_days.map(|d| d.to_string()).unwrap_or_else(|| "—".into())) }
                        td.num { (num(t.permits)) }
                    }
                }
            }
        } }
    };
    Ok(layout(&me, Nav::Types, "Jenis izin", content).into_response())
}
