//! The auditor's page: browse and filter the audit trail, and see whether the chain holds.

use axum::extract::State;
use axum::response::IntoResponse;
use maud::html;

use super::{Me, Nav, PageResult, layout, num};
use crate::Shared;
use crate::api::Query;
use crate::api::audit::AuditParams;

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
                tr {
                    td { (e.id) }
                    td { (state.office_time(e.at)) }
                    td { (e.actor) }
                    td { code { (e.action) } }
                    td { (e.target_kind.as_deref().unwrap_or("")) " " (e.target_id.as_deref().unwrap_or("")) }
                    td.hide-sm { (e.source) }
                    td.hide-sm { code { (e.details) } }
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
