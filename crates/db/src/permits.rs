//! Permits: the sync's batched upsert (one transaction per page, with history, events and the
//! page's API calls) and the queries behind the pages and the API.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use companion_domain::permits::PermitView;
use companion_domain::{PagePlan, PermitStatus, StoredPermit};
use serde::{Deserialize, Serialize};
use sqlx::QueryBuilder;

use crate::sync_runs::{ApiCallRecord, SkippedRow, insert_api_calls, insert_skipped_rows};
use crate::{Backend, Database, DbError, Result, json_map, on_backend, to_json};

const UPSERT_PERMIT: &str = " ON CONFLICT (pendaftaran_id) DO UPDATE SET status = excluded.status, \
     applicant_name = excluded.applicant_name, permit_type_name = excluded.permit_type_name, \
     permit_number = excluded.permit_number, flags = excluded.flags, updated_at = excluded.updated_at";

/// Rows per multi-row statement: well under both engines' bind-parameter limits.
const CHUNK: usize = 500;

#[derive(sqlx::FromRow)]
struct StoredRow {
    pendaftaran_id: String,
    status: String,
    applicant_name: Option<String>,
    permit_type_name: Option<String>,
    permit_number: Option<String>,
    flags: String,
}

pub(crate) fn parse_status(raw: &str) -> Result<PermitStatus> {
    PermitStatus::parse(raw).ok_or_else(|| DbError::Corrupt {
        column: "permits.status",
        detail: raw.to_string(),
    })
}

impl TryFrom<StoredRow> for StoredPermit {
    type Error = DbError;
    fn try_from(r: StoredRow) -> Result<Self> {
        Ok(StoredPermit {
            status: parse_status(&r.status)?,
            flags: json_map("permits.flags", &r.flags)?,
            pendaftaran_id: r.pendaftaran_id,
            applicant_name: r.applicant_name,
            permit_type_name: r.permit_type_name,
            permit_number: r.permit_number,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ViewRow {
    pendaftaran_id: String,
    status: String,
    applicant_name: Option<String>,
    permit_type_name: Option<String>,
    permit_number: Option<String>,
    flags: String,
    expiry_date: Option<NaiveDate>,
    issue_date: Option<NaiveDate>,
    received_date: Option<NaiveDate>,
    applicant_address: Option<String>,
    applicant_phone: Option<String>,
    company_name: Option<String>,
    detail_flags: String,
    expiry_status: String,
    expiry_attempts: i64,
    expiry_checked_at: Option<DateTime<Utc>>,
    first_seen_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const VIEW_COLUMNS: &str = "pendaftaran_id, status, applicant_name, permit_type_name, permit_number, flags, \
     expiry_date, issue_date, received_date, applicant_address, applicant_phone, company_name, detail_flags, \
     expiry_status, expiry_attempts, expiry_checked_at, first_seen_at, updated_at";

impl TryFrom<ViewRow> for PermitView {
    type Error = DbError;
    fn try_from(r: ViewRow) -> Result<Self> {
        let mut flags = json_map("permits.flags", &r.flags)?;
        flags.extend(json_map("permits.detail_flags", &r.detail_flags)?);
        Ok(PermitView {
            status: parse_status(&r.status)?,
            flags,
            pendaftaran_id: r.pendaftaran_id,
            applicant_name: r.applicant_name,
            permit_type_name: r.permit_type_name,
            permit_number: r.permit_number,
            expiry_date: r.expiry_date,
            issue_date: r.issue_date,
            received_date: r.received_date,
            applicant_address: r.applicant_address,
            applicant_phone: r.applicant_phone,
            company_name: r.company_name,
            expiry_status: r.expiry_status,
            expiry_attempts: r.expiry_attempts,
            expiry_checked_at: r.expiry_checked_at,
            first_seen_at: r.first_seen_at,
            updated_at: r.updated_at,
        })
    }
}

/// Filters, sorting and paging for the permit list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PermitQuery {
    /// Matches applicant name, permit number or registration id (case-insensitive substring).
    pub q: Option<String>,
    pub status: Option<PermitStatus>,
    pub permit_type: Option<String>,
    /// Only permits whose expiry date lies between today and today + N days.
    pub expiring_within_days: Option<i64>,
    /// Letter date (tanggal surat) range, inclusive.
    pub issued_from: Option<NaiveDate>,
    pub issued_to: Option<NaiveDate>,
    pub today: Option<NaiveDate>,
    /// Only permits with (true) or without (false) a stored file.
    pub has_pdf: Option<bool>,
    pub sort: PermitSort,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermitSort {
    #[default]
    Newest,
    Expiry,
    Applicant,
    Id,
    /// Newest letter date first.
    Issued,
}

/// "Newest" by the permit's own dates: the letter date, else the received date, else the year
/// and month its registration id carries (…MMYYYY), as one YYYYMMDD number; then the id's
/// sequence. (After the first sync every permit has the same first-seen time, so that cannot
/// order them.) The same expressions are indexed by migration 0008, per backend.
const NEWEST_SQLITE: &str = " ORDER BY COALESCE(CAST(replace(issue_date, '-', '') AS INTEGER), \
     CAST(replace(received_date, '-', '') AS INTEGER), \
     CAST(substr(pendaftaran_id, length(pendaftaran_id) - 3, 4) AS INTEGER) * 10000 + \
     CAST(substr(pendaftaran_id, length(pendaftaran_id) - 5, 2) AS INTEGER) * 100) DESC, \
     substr(pendaftaran_id, 1, 5) DESC, pendaftaran_id DESC";
const NEWEST_POSTGRES: &str = " ORDER BY COALESCE(\
     CAST(EXTRACT(YEAR FROM issue_date) * 10000 + EXTRACT(MONTH FROM issue_date) * 100 + EXTRACT(DAY FROM issue_date) AS INTEGER), \
     CAST(EXTRACT(YEAR FROM received_date) * 10000 + EXTRACT(MONTH FROM received_date) * 100 + EXTRACT(DAY FROM received_date) AS INTEGER), \
     CAST(substr(pendaftaran_id, length(pendaftaran_id) - 3, 4) AS INTEGER) * 10000 + \
     CAST(substr(pendaftaran_id, length(pendaftaran_id) - 5, 2) AS INTEGER) * 100) DESC, \
     substr(pendaftaran_id, 1, 5) DESC, pendaftaran_id DESC";

impl PermitSort {
    fn order_by(self, postgres: bool) -> &'static str {
        match self {
            PermitSort::Newest if postgres => NEWEST_POSTGRES,
            PermitSort::Newest => NEWEST_SQLITE,
            PermitSort::Expiry => " ORDER BY expiry_date IS NULL, expiry_date ASC, pendaftaran_id",
            PermitSort::Applicant => {
                " ORDER BY applicant_name IS NULL, applicant_name ASC, pendaftaran_id"
            }
            PermitSort::Id => " ORDER BY pendaftaran_id",
            PermitSort::Issued => " ORDER BY issue_date IS NULL, issue_date DESC, pendaftaran_id",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusCounts {
    pub issued: i64,
    pub in_process: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub from_status: Option<String>,
    pub to_status: String,
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub kind: String,
    pub subject_id: String,
    pub payload: String,
    pub created_at: DateTime<Utc>,
}

/// Appends `WHERE …` for a [`PermitQuery`] to a builder (any backend).
macro_rules! push_permit_filters {
    ($qb:expr, $query:expr) => {{
        let query = $query;
        $qb.push(" WHERE 1=1");
        if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            let pattern = format!(
                "%{}%",
                q.to_lowercase()
                    .replace('\\', "")
                    .replace('%', "")
                    .replace('_', "")
            );
            $qb.push(" AND (LOWER(applicant_name) LIKE ")
                .push_bind(pattern.clone());
            $qb.push(" OR LOWER(permit_number) LIKE ")
                .push_bind(pattern.clone());
            $qb.push(" OR pendaftaran_id LIKE ")
                .push_bind(pattern)
                .push(")");
        }
        if let Some(status) = query.status {
            $qb.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(t) = query.permit_type.as_deref().filter(|t| !t.is_empty()) {
            $qb.push(" AND permit_type_name = ")
                .push_bind(t.to_string());
        }
        if let Some(days) = query.expiring_within_days {
            let today = query.today.unwrap_or_else(|| Utc::now().date_naive());
            $qb.push(" AND expiry_date >= ").push_bind(today);
            $qb.push(" AND expiry_date <= ")
                .push_bind(today + chrono::Duration::days(days.clamp(0, 36500)));
        }
        if let Some(from) = query.issued_from {
            $qb.push(" AND issue_date >= ").push_bind(from);
        }
        if let Some(to) = query.issued_to {
            $qb.push(" AND issue_date <= ").push_bind(to);
        }
        if let Some(has) = query.has_pdf {
            $qb.push(if has {
                " AND EXISTS"
            } else {
                " AND NOT EXISTS"
            });
            $qb.push(
                " (SELECT 1 FROM documents d WHERE d.pendaftaran_id = permits.pendaftaran_id)",
            );
        }
    }};
}

impl Database {
    /// Every registration id stored with `status` (the in-process list is short: this is how a
    /// poll finds the permits that left it).
    pub async fn permit_ids_with_status(&self, status: PermitStatus) -> Result<Vec<String>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_scalar("SELECT pendaftaran_id FROM permits WHERE status = $1 ORDER BY pendaftaran_id")
                .bind(status.as_str())
                .fetch_all(pool)
                .await?
        }))
    }

    /// The stored list fields of the given permits (missing ids are simply absent).
    pub async fn load_permits(&self, ids: &[String]) -> Result<HashMap<String, StoredPermit>> {
        const COLUMNS: &str = "p.pendaftaran_id, p.status, p.applicant_name, p.permit_type_name, p.permit_number, p.flags";
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let rows: Vec<StoredRow> = match &self.backend {
                Backend::Sqlite(pool) => {
                    let mut qb = QueryBuilder::<sqlx::Sqlite>::new(format!(
                        "SELECT {COLUMNS} FROM permits p WHERE p.pendaftaran_id IN ("
                    ));
                    let mut sep = qb.separated(", ");
                    for id in chunk {
                        sep.push_bind(id.as_str());
                    }
                    qb.push(")");
                    qb.build_query_as().fetch_all(pool).await?
                }
                // A join on an unnested array: PostgreSQL plans an `IN (…500 values…)` on a
                // table it has not analysed yet as a sequential scan, which made a first big
                // sync quadratic; the join is always index look-ups, and binds one parameter.
                Backend::Postgres(pool) => {
                    sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM unnest($1::text[]) AS wanted(id) \
                         JOIN permits p ON p.pendaftaran_id = wanted.id"
                    ))
                    .bind(chunk)
                    .fetch_all(pool)
                    .await?
                }
            };
            for r in rows {
                let p = StoredPermit::try_from(r)?;
                out.insert(p.pendaftaran_id.clone(), p);
            }
        }
        Ok(out)
    }

    /// Applies one page's plan, with the page's API calls and skipped rows, in one transaction.
    pub async fn apply_page(
        &self,
        plan: &PagePlan,
        run_id: Option<i64>,
        calls: &[ApiCallRecord],
        skipped: &[SkippedRow],
    ) -> Result<()> {
        let now = crate::now();
        let upserts: Vec<&StoredPermit> = plan.inserts.iter().chain(plan.updates.iter()).collect();
        let flags: Vec<String> = upserts.iter().map(|p| to_json(&p.flags)).collect();
        let payloads: Vec<String> = plan.events.iter().map(|e| to_json(&e.payload)).collect();
        match &self.backend {
            // SQLite: multi-row VALUES in chunks (its bind-parameter limit).
            Backend::Sqlite(pool) => {
                type DB = sqlx::Sqlite;
                let mut tx = pool.begin().await?;
                for (chunk, flag_chunk) in upserts.chunks(CHUNK).zip(flags.chunks(CHUNK)) {
                    let mut qb = QueryBuilder::<DB>::new(
                        "INSERT INTO permits (pendaftaran_id, status, applicant_name, permit_type_name, \
                         permit_number, flags, first_seen_at, updated_at) ",
                    );
                    qb.push_values(chunk.iter().zip(flag_chunk), |mut b, (p, f)| {
                        b.push_bind(p.pendaftaran_id.as_str())
                            .push_bind(p.status.as_str())
                            .push_bind(p.applicant_name.as_deref())
                            .push_bind(p.permit_type_name.as_deref())
                            .push_bind(p.permit_number.as_deref())
                            .push_bind(f.as_str())
                            .push_bind(now)
                            .push_bind(now);
                    });
                    qb.push(UPSERT_PERMIT);
                    qb.build().execute(&mut *tx).await?;
                }
                for chunk in plan.transitions.chunks(CHUNK) {
                    let mut qb = QueryBuilder::<DB>::new(
                        "INSERT INTO permit_status_history (pendaftaran_id, from_status, to_status, changed_at, sync_run_id) ",
                    );
                    qb.push_values(chunk, |mut b, t| {
                        b.push_bind(t.pendaftaran_id.as_str())
                            .push_bind(t.from.map(PermitStatus::as_str))
                            .push_bind(t.to.as_str())
                            .push_bind(now)
                            .push_bind(run_id);
                    });
                    qb.build().execute(&mut *tx).await?;
                }
                for (chunk, payload_chunk) in plan.events.chunks(CHUNK).zip(payloads.chunks(CHUNK))
                {
                    let mut qb = QueryBuilder::<DB>::new(
                        "INSERT INTO domain_events (kind, subject_id, payload, created_at) ",
                    );
                    qb.push_values(chunk.iter().zip(payload_chunk), |mut b, (e, payload)| {
                        b.push_bind(e.kind.as_str())
                            .push_bind(e.subject_id.as_str())
                            .push_bind(payload.as_str())
                            .push_bind(now);
                    });
                    qb.build().execute(&mut *tx).await?;
                }
                insert_api_calls!(DB, &mut *tx, run_id, calls);
                insert_skipped_rows!(DB, &mut *tx, run_id, skipped, now);
                tx.commit().await?;
            }
            // PostgreSQL: one statement per table over unnested column arrays. A VALUES list of
            // thousands of parameters costs PostgreSQL more to parse and plan than to insert.
            Backend::Postgres(pool) => {
                type DB = sqlx::Postgres;
                let mut tx = pool.begin().await?;
                if !upserts.is_empty() {
                    sqlx::query(&format!(
                        "INSERT INTO permits (pendaftaran_id, status, applicant_name, permit_type_name, \
                         permit_number, flags, first_seen_at, updated_at) \
                         SELECT id, st, an, tn, pn, fl, $7, $7 FROM unnest($1::text[], $2::text[], \
                         $3::text[], $4::text[], $5::text[], $6::text[]) AS t(id, st, an, tn, pn, fl) \
                         {UPSERT_PERMIT}"
                    ))
                    .bind(upserts.iter().map(|p| p.pendaftaran_id.as_str()).collect::<Vec<_>>())
                    .bind(upserts.iter().map(|p| p.status.as_str()).collect::<Vec<_>>())
                    .bind(upserts.iter().map(|p| p.applicant_name.as_deref()).collect::<Vec<_>>())
                    .bind(upserts.iter().map(|p| p.permit_type_name.as_deref()).collect::<Vec<_>>())
                    .bind(upserts.iter().map(|p| p.permit_number.as_deref()).collect::<Vec<_>>())
                    .bind(flags.iter().map(String::as_str).collect::<Vec<_>>())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                if !plan.transitions.is_empty() {
                    let t = &plan.transitions;
                    sqlx::query(
                        "INSERT INTO permit_status_history (pendaftaran_id, from_status, to_status, changed_at, sync_run_id) \
                         SELECT id, fr, tu, $4, $5 FROM unnest($1::text[], $2::text[], $3::text[]) AS t(id, fr, tu)",
                    )
                    .bind(t.iter().map(|t| t.pendaftaran_id.as_str()).collect::<Vec<_>>())
                    .bind(t.iter().map(|t| t.from.map(PermitStatus::as_str)).collect::<Vec<_>>())
                    .bind(t.iter().map(|t| t.to.as_str()).collect::<Vec<_>>())
                    .bind(now)
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await?;
                }
                if !plan.events.is_empty() {
                    let e = &plan.events;
                    sqlx::query(
                        "INSERT INTO domain_events (kind, subject_id, payload, created_at) \
                         SELECT k, s, p, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS t(k, s, p)",
                    )
                    .bind(e.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
                    .bind(e.iter().map(|e| e.subject_id.as_str()).collect::<Vec<_>>())
                    .bind(payloads.iter().map(String::as_str).collect::<Vec<_>>())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                insert_api_calls!(DB, &mut *tx, run_id, calls);
                insert_skipped_rows!(DB, &mut *tx, run_id, skipped, now);
                tx.commit().await?;
            }
        }
        Ok(())
    }

    pub async fn count_permits(&self, query: &PermitQuery) -> Result<i64> {
        let n: i64 = on_backend!(self, pool => {
            let mut qb = QueryBuilder::<DB>::new("SELECT COUNT(*) FROM permits");
            push_permit_filters!(qb, query);
            qb.build_query_scalar().fetch_one(pool).await?
        });
        Ok(n)
    }

    /// One page of permits matching `query`, and the total number of matches.
    pub async fn list_permits(&self, query: &PermitQuery) -> Result<(Vec<PermitView>, i64)> {
        let total = self.count_permits(query).await?;
        let per_page = query.per_page.clamp(1, 500) as i64;
        let offset = (query.page.max(1) as i64 - 1) * per_page;
        let postgres = matches!(self.backend, Backend::Postgres(_));
        let rows: Vec<ViewRow> = on_backend!(self, pool => {
            let mut qb = QueryBuilder::<DB>::new(format!("SELECT {VIEW_COLUMNS} FROM permits"));
            push_permit_filters!(qb, query);
            qb.push(query.sort.order_by(postgres));
            qb.push(" LIMIT ").push_bind(per_page).push(" OFFSET ").push_bind(offset);
            qb.build_query_as().fetch_all(pool).await?
        });
        let permits = rows
            .into_iter()
            .map(PermitView::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok((permits, total))
    }

    pub async fn get_permit(&self, id: &str) -> Result<Option<PermitView>> {
        let sql = format!("SELECT {VIEW_COLUMNS} FROM permits WHERE pendaftaran_id = $1");
        let row: Option<ViewRow> = on_backend!(self, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        row.map(PermitView::try_from).transpose()
    }

    pub async fn status_counts(&self) -> Result<StatusCounts> {
        let rows: Vec<(String, i64)> = on_backend!(self, pool => {
            sqlx::query_as("SELECT status, COUNT(*) FROM permits GROUP BY status").fetch_all(pool).await?
        });
        let mut counts = StatusCounts::default();
        for (status, n) in rows {
            match PermitStatus::parse(&status) {
                Some(PermitStatus::Issued) => counts.issued = n,
                Some(PermitStatus::InProcess) => counts.in_process = n,
                None => {}
            }
        }
        Ok(counts)
    }

    pub async fn status_history(&self, id: &str) -> Result<Vec<HistoryEntry>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT from_status, to_status, changed_at FROM permit_status_history \
                 WHERE pendaftaran_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Domain events after `after_id`, oldest first.
    pub async fn list_events(&self, after_id: i64, limit: i64) -> Result<Vec<EventRow>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT id, kind, subject_id, payload, created_at FROM domain_events \
                 WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }
}
