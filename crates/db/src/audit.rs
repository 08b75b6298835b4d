//! The append-only, hash-chained audit trail (the chain rules live in
//! `companion_domain::audit`). Appends are serialised by the lock on the single `audit_head`
//! row, taken first in the transaction, so ids and links stay gap-free under concurrency and
//! across instances.

use companion_domain::audit::{AuditEntry, AuditRecord, ChainBreak, ChainVerifier};
use serde::{Deserialize, Serialize};
use sqlx::QueryBuilder;

use crate::{Database, Result, on_backend};

/// Filters for browsing the trail.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditQuery {
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `.` (e.g. `user.`).
    pub action: Option<String>,
    pub target_id: Option<String>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    pub page: u32,
    pub per_page: u32,
}

const COLUMNS: &str =
    "id, at, actor_id, actor, action, target_kind, target_id, source, details, prev_hash, hash";

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    at: chrono::DateTime<chrono::Utc>,
    actor_id: Option<i64>,
    actor: String,
    action: String,
    target_kind: Option<String>,
    target_id: Option<String>,
    source: String,
    details: String,
    prev_hash: String,
    hash: String,
}

impl From<Row> for AuditEntry {
    fn from(r: Row) -> Self {
        AuditEntry {
            id: r.id,
            at: r.at,
            actor_id: r.actor_id,
            actor: r.actor,
            action: r.action,
            target_kind: r.target_kind,
            target_id: r.target_id,
            source: r.source,
            details: r.details,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

macro_rules! push_audit_filters {
    ($qb:expr, $q:expr) => {{
        let q = $q;
        $qb.push(" WHERE 1=1");
        if let Some(a) = q.actor.as_deref().filter(|s| !s.is_empty()) {
            $qb.push(" AND actor = ").push_bind(a.to_string());
        }
        if let Some(a) = q.action.as_deref().filter(|s| !s.is_empty()) {
            if a.ends_with('.') {
                $qb.push(" AND action LIKE ")
                    .push_bind(format!("{}%", a.replace(['%', '_', '\\'], "")));
            } else {
                $qb.push(" AND action = ").push_bind(a.to_string());
            }
        }
        if let Some(t) = q.target_id.as_deref().filter(|s| !s.is_empty()) {
            $qb.push(" AND target_id = ").push_bind(t.to_string());
        }
        if let Some(from) = q.from {
            $qb.push(" AND at >= ").push_bind(from);
        }
        if let Some(to) = q.to {
            $qb.push(" AND at < ").push_bind(to);
        }
    }};
}

impl Database {
    /// Seals `record` into the chain and returns the stored entry.
    pub async fn append_audit(&self, record: &AuditRecord) -> Result<AuditEntry> {
        let details = record.details.to_string();
        Ok(on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            // The no-op update takes the head's row lock (SQLite: the write lock) before reading.
            sqlx::query("UPDATE audit_head SET last_id = last_id WHERE singleton = 1")
                .execute(&mut *tx)
                .await?;
            let (last_id, last_hash): (i64, String) =
                sqlx::query_as("SELECT last_id, last_hash FROM audit_head WHERE singleton = 1")
                    .fetch_one(&mut *tx)
                    .await?;
            let mut entry = AuditEntry {
                id: last_id + 1,
                at: crate::now(),
                actor_id: record.actor_id,
                actor: record.actor.clone(),
                action: record.action.clone(),
                target_kind: record.target_kind.clone(),
                target_id: record.target_id.clone(),
                source: record.source.clone(),
                details: details.clone(),
                prev_hash: last_hash,
                hash: String::new(),
            };
            entry.hash = entry.computed_hash();
            sqlx::query(&format!(
                "INSERT INTO audit_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ))
            .bind(entry.id)
            .bind(entry.at)
            .bind(entry.actor_id)
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(&entry.target_kind)
            .bind(&entry.target_id)
            .bind(&entry.source)
            .bind(&entry.details)
            .bind(&entry.prev_hash)
            .bind(&entry.hash)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE audit_head SET last_id = $1, last_hash = $2 WHERE singleton = 1")
                .bind(entry.id)
                .bind(&entry.hash)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            entry
        }))
    }

    /// One page of entries (newest first) and the number of matches.
    pub async fn list_audit(&self, q: &AuditQuery) -> Result<(Vec<AuditEntry>, i64)> {
        let per_page = q.per_page.clamp(1, 500) as i64;
        let offset = (q.page.max(1) as i64 - 1) * per_page;
        let (rows, total): (Vec<Row>, i64) = on_backend!(self, pool => {
            let mut count = QueryBuilder::<DB>::new("SELECT COUNT(*) FROM audit_log");
            push_audit_filters!(count, q);
            let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
            let mut qb = QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM audit_log"));
            push_audit_filters!(qb, q);
            qb.push(" ORDER BY id DESC LIMIT ").push_bind(per_page).push(" OFFSET ").push_bind(offset);
            (qb.build_query_as().fetch_all(pool).await?, total)
        });
        Ok((rows.into_iter().map(AuditEntry::from).collect(), total))
    }

    /// Failed logins per username since `since` (most first), with their distinct addresses.
    pub async fn login_failures_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<companion_domain::security::LoginFailures>> {
        let rows: Vec<(Option<String>, i64, i64)> = on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT target_id, COUNT(*), COUNT(DISTINCT source) FROM audit_log \
                 WHERE action = 'auth.login_failed' AND at >= $1 \
                 GROUP BY target_id ORDER BY COUNT(*) DESC, target_id LIMIT 50",
            )
            .bind(since)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(u, failures, addresses)| companion_domain::security::LoginFailures {
                    username: u.unwrap_or_default(),
                    failures,
                    addresses,
                },
            )
            .collect())
    }

    /// Failed logins since `since` for usernames of existing, enabled accounts (others cannot be
    /// taken over, so they are left to the dashboard), with how many of them fell on or after
    /// `today` — the WhatsApp alert's office day. Unlike the dashboard's top 50, no flood of
    /// made-up usernames can push a real account out of this list.
    pub async fn account_login_failures_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        today: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(companion_domain::security::LoginFailures, i64)>> {
        let rows: Vec<(String, i64, i64, i64)> = on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT a.target_id, COUNT(*), COUNT(DISTINCT a.source), \
                 COALESCE(SUM(CASE WHEN a.at >= $2 THEN 1 ELSE 0 END), 0) \
                 FROM audit_log a JOIN users u ON u.username = a.target_id \
                 WHERE a.action = 'auth.login_failed' AND a.at >= $1 AND u.disabled = FALSE \
                 GROUP BY a.target_id ORDER BY a.target_id",
            )
            .bind(since)
            .bind(today)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(username, failures, addresses, today)| {
                (
                    companion_domain::security::LoginFailures {
                        username,
                        failures,
                        addresses,
                    },
                    today,
                )
            })
            .collect())
    }

    /// Entries since `since` that gave an account the official or admin role, newest first.
    pub async fn privileged_grants_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(AuditEntry, companion_domain::Role)>> {
        let rows: Vec<Row> = on_backend!(self, pool => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM audit_log WHERE action IN ('user.create', 'user.update') \
                 AND at >= $1 ORDER BY id DESC LIMIT 500"
            ))
            .bind(since)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(AuditEntry::from)
            .filter_map(|e| {
                let details = serde_json::from_str(&e.details).ok()?;
                let role = companion_domain::security::privileged_grant(&e.action, &details)?;
                Some((e, role))
            })
            .collect())
    }

    /// Walks the whole chain in id order. `Ok(Err(break))` names the first broken entry.
    pub async fn verify_audit(&self) -> Result<std::result::Result<u64, ChainBreak>> {
        let mut verifier = ChainVerifier::default();
        let mut after = 0i64;
        loop {
            let rows: Vec<Row> = on_backend!(self, pool => {
                sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM audit_log WHERE id > $1 ORDER BY id LIMIT 2000"
                ))
                .bind(after)
                .fetch_all(pool)
                .await?
            });
            let Some(last) = rows.last() else { break };
            after = last.id;
            for r in rows {
                if let Err(e) = verifier.push(&AuditEntry::from(r)) {
                    return Ok(Err(e));
                }
            }
        }
        let head: Option<(i64, String)> = on_backend!(self, pool => {
            sqlx::query_as("SELECT last_id, last_hash FROM audit_head WHERE singleton = 1")
                .fetch_optional(pool)
                .await?
        });
        // A head at 0 means nothing was ever logged.
        let head = head.filter(|(id, _)| *id > 0);
        Ok(verifier.finish(head))
    }
}
