//! Permit types (`jenisperizinanlist`) and SICANTIK's type count (`jumlahPerizinan`, the number of
//! permit *types*, not of permits; a cheap health check too).

use std::time::Instant;

use companion_db::types::TypeSyncCounts;
use companion_db::{Database, DbError, SkippedRow};
use companion_domain::{RunOutcome, SyncSummary};
use serde::{Deserialize, Serialize};

use crate::client::{Answer, SicantikClient};
use crate::rows::type_row;

/// Key under which the last `jumlahPerizinan` value is kept.
pub const UPSTREAM_TYPE_COUNT_KEY: &str = "sicantik.jumlah_perizinan";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TypesReport {
    pub run_id: i64,
    pub outcome: RunOutcome,
    pub counts: TypeSyncCounts,
    pub skipped_invalid: u64,
    pub upstream_type_count: Option<i64>,
}

pub async fn run_types_sync(
    client: &SicantikClient,
    db: &Database,
) -> Result<TypesReport, DbError> {
    let started = Instant::now();
    let run_id = db.start_run("types").await?;
    let mut calls = Vec::new();
    let mut summary = SyncSummary::default();
    let mut skipped = Vec::new();
    let mut counts = TypeSyncCounts::default();
    let mut problems = Vec::new();

    match client.get("jenisperizinanlist", &[], &mut calls).await {
        Ok(Answer::Rows(rows)) => {
            summary.fetched = rows.len() as u64;
            let mut types = Vec::with_capacity(rows.len());
            for raw in &rows {
                match type_row(raw) {
                    Ok(t) => types.push(t),
                    Err(reason) => skipped.push(SkippedRow {
                        endpoint: "jenisperizinanlist".into(),
                        reason,
                        raw: serde_json::to_string(raw).unwrap_or_default(),
                    }),
                }
            }
            counts = db.upsert_types(&types).await?;
        }
        Ok(Answer::NoData | Answer::NotRegistered) => {
            problems.push("jenisperizinanlist: no data".to_string())
        }
        Err(e) => problems.push(format!("jenisperizinanlist: {e}")),
    }

    let mut upstream_type_count = None;
    match client.get("jumlahPerizinan", &[], &mut calls).await {
        Ok(Answer::Rows(rows)) => {
            let value = rows
                .first()
                .and_then(|r| r.get("jumlahPerizinan"))
                .and_then(|v| v.as_deref());
            match value.and_then(|v| v.trim().parse::<i64>().ok()) {
                Some(n) => {
                    db.set_kv(UPSTREAM_TYPE_COUNT_KEY, &n.to_string()).await?;
                    upstream_type_count = Some(n);
                }
                None => problems.push(format!("jumlahPerizinan: unusable value {value:?}")),
            }
        }
        Ok(Answer::NoData | Answer::NotRegistered) => {
            problems.push("jumlahPerizinan: no data".to_string())
        }
        Err(e) => problems.push(format!("jumlahPerizinan: {e}")),
    }

    db.record_calls(Some(run_id), &calls, &skipped).await?;
    summary.inserted = counts.inserted;
    summary.updated = counts.updated;
    summary.unchanged = counts.unchanged;
    summary.skipped_invalid = skipped.len() as u64;
    summary.errors = problems.len() as u64;
    summary.duration_ms = started.elapsed().as_millis() as u64;
    let outcome = if problems.is_empty() {
        RunOutcome::Succeeded
    } else if summary.fetched > 0 {
        RunOutcome::Partial
    } else {
        RunOutcome::Failed
    };
    let message = (!problems.is_empty()).then(|| problems.join("; "));
    db.finish_run(run_id, &summary, outcome, message.as_deref(), None)
        .await?;
    Ok(TypesReport {
        run_id,
        outcome,
        counts,
        skipped_invalid: summary.skipped_invalid,
        upstream_type_count,
    })
}
