//! WhatsApp notifications: contacts and consent, the outbox (claimed with leases, rate-limited
//! cluster-wide), receipts, templates and renewals. Every function takes `now` from the caller,
//! so the dispatcher and the reminders run on an injected clock in tests.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::{Database, Result, on_backend};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Contact {
    /// E.164 (`+62…`).
    pub phone: String,
    pub name: Option<String>,
    pub opted_in_at: Option<DateTime<Utc>>,
    /// `loket` (signed form at the counter), `daftar` (the owner sent DAFTAR), `csv`, `user`…
    pub opt_in_source: Option<String>,
    pub opted_out_at: Option<DateTime<Utc>>,
    pub blacklisted: bool,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub language: String,
    pub updated_at: DateTime<Utc>,
}

impl Contact {
    /// Consent as of now: opted in, not opted out since, not blacklisted.
    pub fn may_receive(&self) -> bool {
        !self.blacklisted
            && match (self.opted_in_at, self.opted_out_at) {
                (Some(i), Some(o)) => i > o,
                (Some(_), None) => true,
                _ => false,
            }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ConsentEntry {
    pub id: i64,
    pub phone: String,
    pub action: String,
    pub source: String,
    pub actor: Option<String>,
    pub at: DateTime<Utc>,
}

/// A `DAFTAR <id>` from a number that is not the permit's own, waiting for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DaftarRequest {
    pub id: i64,
    pub pendaftaran_id: String,
    /// The sender (E.164).
    pub phone: String,
    /// `pending`, `confirmed` or `rejected`.
    pub state: String,
    pub requested_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The permit's applicant and SICANTIK's number for it (free text), for the person deciding.
    pub applicant_name: Option<String>,
    pub applicant_phone: Option<String>,
}

/// A message to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub dedup_key: String,
    pub event: String,
    pub subject_id: Option<String>,
    pub audience: String,
    pub phone: String,
    pub language: String,
    pub template: String,
    /// JSON object of the template's variables.
    pub parameters: String,
    pub body: String,
    /// `queued`, or `skipped` (kept for the record: no consent, opted out…).
    pub state: String,
    pub failure_detail: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct WaMessage {
    pub id: i64,
    pub dedup_key: String,
    pub event: String,
    pub subject_id: Option<String>,
    pub audience: String,
    pub phone: String,
    pub language: String,
    pub template: String,
    pub parameters: String,
    pub body: String,
    /// queued | sending | sent | delivered | read | failed | cancelled | skipped
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub provider: Option<String>,
    pub provider_id: Option<String>,
    pub failure_kind: Option<String>,
    pub failure_code: Option<String>,
    pub failure_detail: Option<String>,
    pub created_at: DateTime<Utc>,
    pub attempted_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// A dispatcher's claim: who, until when, how many, within which rate limits (0 = none).
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub owner: &'a str,
    pub provider: &'a str,
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub limit: i64,
    pub per_minute: i64,
    pub per_day: i64,
    /// The start of the office's calendar day (`TZ_OFFICE`) that `per_day` counts.
    pub day_start: DateTime<Utc>,
}

/// Filters of the staff's message log.
#[derive(Debug, Clone, Default)]
pub struct MessageQuery {
    pub state: Option<String>,
    pub event: Option<String>,
    pub phone: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// A receipt from a provider's webhook, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub provider_id: String,
    /// Our message id, when the provider echoed our reference.
    pub message_id: Option<i64>,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    pub at: DateTime<Utc>,
    pub failure_kind: Option<String>,
    pub failure_code: Option<String>,
    pub failure_detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MessageDay {
    pub day: String,
    pub event: String,
    pub state: String,
    pub messages: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TemplateOverride {
    pub event: String,
    pub language: String,
    pub body: String,
    pub provider_template: Option<String>,
    pub updated_by: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Renewal {
    pub renewal_id: String,
    pub renews_id: String,
    /// `suggested` or `confirmed`.
    pub state: String,
    pub decided_by: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// Why a person linked permits that are not obviously a renewal (older, another holder or
    /// type); `None` for the ordinary case.
    pub reason: Option<String>,
}

/// A signing case waiting for someone to act, with the time it entered its state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WaitingCase {
    pub id: i64,
    pub pendaftaran_id: String,
    /// A `companion_domain::workflow::DocState`.
    pub state: String,
    pub submitted_by: Option<String>,
    /// The official who approved it (for documents waiting for signature).
    pub decided_by: Option<String>,
    /// When it entered the state it waits in: submitted (waiting for approval) or approved
    /// (waiting for signature). A failed signing attempt does not move it.
    pub since: DateTime<Utc>,
}

/// An issued permit's imported letter, for "permit ready" on import.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ImportedLetter {
    pub pendaftaran_id: String,
    pub document_id: i64,
    pub imported_at: DateTime<Utc>,
}

/// A permit whose expiry reminders may be due.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ExpiringPermit {
    pub pendaftaran_id: String,
    pub permit_number: Option<String>,
    pub applicant_name: Option<String>,
    pub permit_type_name: Option<String>,
    pub expiry_date: NaiveDate,
    /// The staff's number for the permit, else SICANTIK's free text.
    pub phone: Option<String>,
    /// A confirmed renewal exists.
    pub renewed: bool,
}

/// Inserts `NewMessage`s in a transaction, ignoring duplicates by `dedup_key`; the number new.
macro_rules! insert_messages {
    ($tx:ident, $db:ty, $messages:expr) => {{
        let mut inserted = 0u64;
        for chunk in $messages.chunks(500) {
            if chunk.is_empty() {
                continue;
            }
            let now = $crate::now();
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "INSERT INTO wa_messages (dedup_key, event, subject_id, audience, phone, language, template, \
                 parameters, body, state, failure_detail, next_attempt_at, created_at, updated_at) ",
            );
            qb.push_values(chunk, |mut row, m| {
                row.push_bind(m.dedup_key.clone())
                    .push_bind(m.event.clone())
                    .push_bind(m.subject_id.clone())
                    .push_bind(m.audience.clone())
                    .push_bind(m.phone.clone())
                    .push_bind(m.language.clone())
                    .push_bind(m.template.clone())
                    .push_bind(m.parameters.clone())
                    .push_bind(m.body.clone())
                    .push_bind(m.state.clone())
                    .push_bind(m.failure_detail.clone())
                    .push_bind(m.next_attempt_at)
                    // Created when first due: the caller's clock, not this process's.
                    .push_bind(m.next_attempt_at)
                    .push_bind(now);
            });
            qb.push(" ON CONFLICT (dedup_key) DO NOTHING");
            inserted += qb.build().execute(&mut *$tx).await?.rows_affected();
        }
        inserted
    }};
}

const MESSAGE_COLUMNS: &str = "id, dedup_key, event, subject_id, audience, phone, language, template, \
     parameters, body, state, attempts, next_attempt_at, lease_owner, lease_until, provider, provider_id, \
     failure_kind, failure_code, failure_detail, created_at, attempted_at, sent_at, delivered_at, read_at, \
     failed_at, updated_at";

/// The receipt states in the order a message moves through them (`failed` is handled apart).
fn status_rank(state: &str) -> i32 {
    match state {
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        _ => 0,
    }
}

impl Database {
    // --- contacts and consent ------------------------------------------------------------

    pub async fn contact(&self, phone: &str) -> Result<Option<Contact>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(
                "SELECT phone, name, opted_in_at, opt_in_source, opted_out_at, blacklisted, last_inbound_at, \
                 language, updated_at FROM wa_contacts WHERE phone = $1",
            )
            .bind(phone)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Creates the contact if new; a given name or language replaces the stored one.
    pub async fn upsert_contact(
        &self,
        phone: &str,
        name: Option<&str>,
        language: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_backend!(self, pool => {
            sqlx::query(
                "INSERT INTO wa_contacts (phone, name, language, updated_at) VALUES ($1, $2, COALESCE($3, 'id'), $4) \
                 ON CONFLICT (phone) DO UPDATE SET name = COALESCE(excluded.name, wa_contacts.name), \
                 language = COALESCE($3, wa_contacts.language), updated_at = excluded.updated_at",
            )
            .bind(phone)
            .bind(name)
            .bind(language)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Records a consent change (`opt_in`, `opt_out`, `blacklist`, `unblacklist`) and its source.
    pub async fn record_consent(
        &self,
        phone: &str,
        action: &str,
        source: &str,
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO wa_contacts (phone, language, updated_at) VALUES ($1, 'id', $2) \
                 ON CONFLICT (phone) DO NOTHING",
            )
            .bind(phone)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let set = match action {
                "opt_in" => "opted_in_at = $2, opt_in_source = $3",
                "opt_out" => "opted_out_at = $2",
                "blacklist" => "blacklisted = TRUE",
                _ => "blacklisted = FALSE",
            };
            let update = format!("UPDATE wa_contacts SET {set}, updated_at = $2 WHERE phone = $1");
            let mut q = sqlx::query(&update).bind(phone).bind(now);
            if action == "opt_in" {
                q = q.bind(source);
            }
            q.execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO wa_consent_log (phone, action, source, actor, at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(phone)
            .bind(action)
            .bind(source)
            .bind(actor)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn consent_log(&self, phone: &str) -> Result<Vec<ConsentEntry>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(
                "SELECT id, phone, action, source, actor, at FROM wa_consent_log WHERE phone = $1 ORDER BY id",
            )
            .bind(phone)
            .fetch_all(pool)
            .await?)
        })
    }

    /// The owner wrote to us: the provider's 24-hour window is open from `at`.
    pub async fn mark_inbound(&self, phone: &str, at: DateTime<Utc>) -> Result<()> {
        on_backend!(self, pool => {
            sqlx::query(
                "INSERT INTO wa_contacts (phone, language, last_inbound_at, updated_at) VALUES ($1, 'id', $2, $2) \
                 ON CONFLICT (phone) DO UPDATE SET last_inbound_at = excluded.last_inbound_at, updated_at = excluded.updated_at",
            )
            .bind(phone)
            .bind(at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn list_contacts(&self, search: Option<&str>, limit: i64) -> Result<Vec<Contact>> {
        let like = format!("%{}%", search.unwrap_or("").trim());
        on_backend!(self, pool => {
            Ok(sqlx::query_as(
                "SELECT phone, name, opted_in_at, opt_in_source, opted_out_at, blacklisted, last_inbound_at, \
                 language, updated_at FROM wa_contacts WHERE phone LIKE $1 OR COALESCE(name, '') LIKE $1 \
                 ORDER BY updated_at DESC LIMIT $2",
            )
            .bind(like)
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Sets the applicant's number for a permit (staff form, CSV import, or a DAFTAR message).
    pub async fn set_permit_contact(
        &self,
        pendaftaran_id: &str,
        phone: &str,
        source: &str,
        by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_backend!(self, pool => {
            sqlx::query(
                "INSERT INTO permit_contacts (pendaftaran_id, phone, source, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (pendaftaran_id) DO UPDATE SET phone = excluded.phone, \
                 source = excluded.source, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            )
            .bind(pendaftaran_id)
            .bind(phone)
            .bind(source)
            .bind(by)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The number recorded for a permit in the companion itself (staff form, CSV import, a
    /// DAFTAR message) and its source; `None` when only SICANTIK's number is known.
    pub async fn permit_contact(&self, pendaftaran_id: &str) -> Result<Option<(String, String)>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(
                "SELECT phone, source FROM permit_contacts WHERE pendaftaran_id = $1",
            )
            .bind(pendaftaran_id)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Holds a `DAFTAR` for a person to decide (asking again makes a decided one pending again).
    pub async fn add_daftar_request(
        &self,
        pendaftaran_id: &str,
        phone: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_backend!(self, pool => {
            sqlx::query(
                "INSERT INTO wa_daftar_requests (pendaftaran_id, phone, state, requested_at) \
                 VALUES ($1, $2, 'pending', $3) ON CONFLICT (pendaftaran_id, phone) DO UPDATE SET \
                 state = 'pending', requested_at = excluded.requested_at, decided_by = NULL, decided_at = NULL",
            )
            .bind(pendaftaran_id)
            .bind(phone)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    const DAFTAR_COLUMNS: &str = "r.id, r.pendaftaran_id, r.phone, r.state, r.requested_at, r.decided_by, \
         r.decided_at, p.applicant_name, p.applicant_phone \
         FROM wa_daftar_requests r LEFT JOIN permits p ON p.pendaftaran_id = r.pendaftaran_id";

    /// Requests in `state` (`pending`…), oldest first.
    pub async fn daftar_requests(&self, state: &str, limit: i64) -> Result<Vec<DaftarRequest>> {
        let sql = format!(
            "SELECT {} WHERE r.state = $1 ORDER BY r.requested_at, r.id LIMIT $2",
            Self::DAFTAR_COLUMNS
        );
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&sql).bind(state).bind(limit).fetch_all(pool).await?)
        })
    }

    /// A person's decision on a pending request (`confirmed` or `rejected`); `None` when it is
    /// not pending (decided meanwhile, or unknown).
    pub async fn decide_daftar_request(
        &self,
        id: i64,
        state: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DaftarRequest>> {
        let n = on_backend!(self, pool => {
            sqlx::query(
                "UPDATE wa_daftar_requests SET state = $2, decided_by = $3, decided_at = $4 \
                 WHERE id = $1 AND state = 'pending'",
            )
            .bind(id)
            .bind(state)
            .bind(by)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if n != 1 {
            return Ok(None);
        }
        let sql = format!("SELECT {} WHERE r.id = $1", Self::DAFTAR_COLUMNS);
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?)
        })
    }

    /// The applicant's number as staff set it, else SICANTIK's free text (not normalised).
    pub async fn permit_phone(&self, pendaftaran_id: &str) -> Result<Option<(String, String)>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(
                "SELECT COALESCE(c.phone, p.applicant_phone) AS phone, \
                 CASE WHEN c.phone IS NOT NULL THEN c.source ELSE 'sicantik' END AS source \
                 FROM permits p LEFT JOIN permit_contacts c ON c.pendaftaran_id = p.pendaftaran_id \
                 WHERE p.pendaftaran_id = $1 AND COALESCE(c.phone, p.applicant_phone) IS NOT NULL",
            )
            .bind(pendaftaran_id)
            .fetch_optional(pool)
            .await?)
        })
    }

    pub async fn set_user_phone(&self, user_id: i64, phone: Option<&str>) -> Result<bool> {
        let n = on_backend!(self, pool => {
            sqlx::query("UPDATE users SET phone = $2 WHERE id = $1")
                .bind(user_id)
                .bind(phone)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// Enabled users of `role` with a number: (username, display name, phone).
    pub async fn users_with_phone(&self, role: &str) -> Result<Vec<(String, String, String)>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(
                "SELECT username, display_name, phone FROM users \
                 WHERE role = $1 AND phone IS NOT NULL AND disabled = FALSE ORDER BY username",
            )
            .bind(role)
            .fetch_all(pool)
            .await?)
        })
    }

    /// A user's display name and number by username (enabled users with a number only).
    pub async fn user_phone(&self, username: &str) -> Result<Option<(String, String)>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(
                "SELECT display_name, phone FROM users \
                 WHERE username = $1 AND disabled = FALSE AND phone IS NOT NULL",
            )
            .bind(username)
            .fetch_optional(pool)
            .await?)
        })
    }

    // --- the planner's position in the domain events --------------------------------------

    pub async fn planner_position(&self) -> Result<i64> {
        on_backend!(self, pool => {
            Ok(sqlx::query_scalar("SELECT last_event_id FROM wa_planner WHERE id = 1")
                .fetch_one(pool)
                .await?)
        })
    }

    /// Enqueues `messages` and moves the planner from `from` to `to` in one transaction; false
    /// (and nothing written) when another instance moved it first.
    pub async fn commit_plan(&self, from: i64, to: i64, messages: &[NewMessage]) -> Result<bool> {
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let moved = sqlx::query("UPDATE wa_planner SET last_event_id = $2 WHERE id = 1 AND last_event_id = $1")
                .bind(from)
                .bind(to)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if moved != 1 {
                return Ok(false);
            }
            insert_messages!(tx, DB, messages);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Enqueues messages outside the event stream (reminders, digests); duplicates by
    /// `dedup_key` are ignored. Returns how many were new.
    pub async fn enqueue_messages(&self, messages: &[NewMessage]) -> Result<u64> {
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = insert_messages!(tx, DB, messages);
            tx.commit().await?;
            Ok(n)
        })
    }

    // --- the dispatcher ---------------------------------------------------------------------

    /// Claims up to `limit` due messages for `owner` until `lease_until`, within the rate limits
    /// (`per_minute`, `per_day`; 0 = no limit) counted over every instance's attempts. One claim
    /// at a time cluster-wide (the planner row is locked first), so two instances never take the
    /// same message nor together exceed a limit.
    pub async fn claim_messages(&self, claim: &Claim<'_>) -> Result<Vec<WaMessage>> {
        let Claim {
            owner,
            provider,
            now,
            lease_until,
            limit,
            per_minute,
            per_day,
            day_start,
        } = *claim;
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            // Takes the write lock (SQLite) / the row lock (PostgreSQL) before reading counts.
            sqlx::query("UPDATE wa_planner SET last_event_id = last_event_id WHERE id = 1")
                .execute(&mut *tx)
                .await?;
            let mut allowance = limit;
            // Per minute: the last 60 seconds; per day: the office's calendar day so far.
            for (from, max) in [(now - chrono::Duration::minutes(1), per_minute), (day_start - chrono::Duration::microseconds(1), per_day)] {
                if max > 0 {
                    let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM wa_messages WHERE attempted_at > $1")
                        .bind(from)
                        .fetch_one(&mut *tx)
                        .await?;
                    allowance = allowance.min(max - used);
                }
            }
            if allowance <= 0 {
                return Ok(Vec::new());
            }
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM wa_messages WHERE state = 'queued' AND next_attempt_at <= $1 \
                 ORDER BY next_attempt_at, id LIMIT $2",
            )
            .bind(now)
            .bind(allowance)
            .fetch_all(&mut *tx)
            .await?;
            let mut claimed = Vec::with_capacity(ids.len());
            for id in ids {
                let m: Option<WaMessage> = sqlx::query_as(&format!(
                    "UPDATE wa_messages SET state = 'sending', lease_owner = $2, lease_until = $3, \
                     attempts = attempts + 1, attempted_at = $4, provider = $5, updated_at = $4 \
                     WHERE id = $1 AND state = 'queued' RETURNING {MESSAGE_COLUMNS}"
                ))
                .bind(id)
                .bind(owner)
                .bind(lease_until)
                .bind(now)
                .bind(provider)
                .fetch_optional(&mut *tx)
                .await?;
                claimed.extend(m);
            }
            tx.commit().await?;
            Ok(claimed)
        })
    }

    /// The provider took the message.
    pub async fn message_sent(
        &self,
        id: i64,
        owner: &str,
        provider_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = on_backend!(self, pool => {
            sqlx::query(
                "UPDATE wa_messages SET state = 'sent', provider_id = $3, sent_at = $4, updated_at = $4, \
                 lease_owner = NULL, lease_until = NULL, failure_kind = NULL, failure_code = NULL, failure_detail = NULL \
                 WHERE id = $1 AND state = 'sending' AND lease_owner = $2",
            )
            .bind(id)
            .bind(owner)
            .bind(provider_id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        // Receipts that overtook our own record of the send.
        let early: Vec<(String, DateTime<Utc>)> = on_backend!(self, pool => {
            sqlx::query_as("SELECT status, at FROM wa_receipts WHERE provider_id = $1")
                .bind(provider_id)
                .fetch_all(pool)
                .await?
        });
        for (status, at) in early {
            self.apply_status(id, &status, at, None, None, None).await?;
        }
        Ok(n == 1)
    }

    /// A failed attempt: back to the queue at `retry_at`, or failed for good when `None`.
    #[allow(clippy::too_many_arguments)]
    pub async fn message_failed(
        &self,
        id: i64,
        owner: Option<&str>,
        kind: &str,
        code: Option<&str>,
        detail: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = on_backend!(self, pool => {
            sqlx::query(
                "UPDATE wa_messages SET state = CASE WHEN $6 IS NULL THEN 'failed' ELSE 'queued' END, \
                 next_attempt_at = COALESCE($6, next_attempt_at), failed_at = CASE WHEN $6 IS NULL THEN $7 ELSE failed_at END, \
                 failure_kind = $3, failure_code = $4, failure_detail = $5, lease_owner = NULL, lease_until = NULL, \
                 updated_at = $7 WHERE id = $1 AND state = 'sending' AND ($2 IS NULL OR lease_owner = $2)",
            )
            .bind(id)
            .bind(owner)
            .bind(kind)
            .bind(code)
            .bind(detail)
            .bind(retry_at)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Not sent now, nor counted as an attempt: back to the queue at `at` (quiet hours), or
    /// `skipped` with the reason (consent withdrawn since it was queued) when `at` is `None`.
    pub async fn message_deferred(
        &self,
        id: i64,
        owner: &str,
        at: Option<DateTime<Utc>>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = on_backend!(self, pool => {
            sqlx::query(
                "UPDATE wa_messages SET state = CASE WHEN $3 IS NULL THEN 'skipped' ELSE 'queued' END, \
                 next_attempt_at = COALESCE($3, next_attempt_at), attempts = attempts - 1, attempted_at = NULL, \
                 failure_detail = $4, lease_owner = NULL, lease_until = NULL, updated_at = $5 \
                 WHERE id = $1 AND state = 'sending' AND lease_owner = $2",
            )
            .bind(id)
            .bind(owner)
            .bind(at)
            .bind(reason)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// The provider may or may not have taken the message (a timeout): it stays `sending` with
    /// an expired lease, so reconciliation settles it — never a blind resend.
    pub async fn message_uncertain(
        &self,
        id: i64,
        owner: &str,
        kind: &str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = on_backend!(self, pool => {
            sqlx::query(
                "UPDATE wa_messages SET lease_until = $4, failure_kind = $3, failure_detail = $5, updated_at = $4 \
                 WHERE id = $1 AND state = 'sending' AND lease_owner = $2",
            )
            .bind(id)
            .bind(owner)
            .bind(kind)
            .bind(now)
            .bind(detail)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Whether a confirmed renewal of `pendaftaran_id` exists.
    pub async fn is_renewed(&self, pendaftaran_id: &str) -> Result<bool> {
        on_backend!(self, pool => {
            Ok(sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM permit_renewals WHERE renews_id = $1 AND state = 'confirmed')",
            )
            .bind(pendaftaran_id)
            .fetch_one(pool)
            .await?)
        })
    }

    /// Renews the leases of messages `owner` is still sending.
    pub async fn renew_message_leases(
        &self,
        owner: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<u64> {
        on_backend!(self, pool => {
            Ok(sqlx::query("UPDATE wa_messages SET lease_until = $2 WHERE state = 'sending' AND lease_owner = $1")
                .bind(owner)
                .bind(lease_until)
                .execute(pool)
                .await?
                .rows_affected())
        })
    }

    /// Messages whose sender died mid-send (lease expired): their outcome is unknown.
    pub async fn orphaned_messages(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<WaMessage>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM wa_messages WHERE state = 'sending' AND lease_until < $1 \
                 ORDER BY id LIMIT $2"
            ))
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Takes an orphaned message over (`sending`, expired lease) for reconciliation.
    pub async fn adopt_message(
        &self,
        id: i64,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool> {
        let n = on_backend!(self, pool => {
            sqlx::query(
                "UPDATE wa_messages SET lease_owner = $2, lease_until = $4, updated_at = $3 \
                 WHERE id = $1 AND state = 'sending' AND lease_until < $3",
            )
            .bind(id)
            .bind(owner)
            .bind(now)
            .bind(lease_until)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Back to the queue without counting an attempt (the provider confirmed it never took it).
    pub async fn requeue_message(&self, id: i64, owner: &str, now: DateTime<Utc>) -> Result<bool> {
        let n = on_backend!(self, pool => {
            sqlx::query(
                "UPDATE wa_messages SET state = 'queued', attempts = attempts - 1, attempted_at = NULL, \
                 next_attempt_at = $3, lease_owner = NULL, lease_until = NULL, updated_at = $3 \
                 WHERE id = $1 AND state = 'sending' AND lease_owner = $2",
            )
            .bind(id)
            .bind(owner)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Applies a receipt. Idempotent and monotone: a message keeps its highest state (sent <
    /// delivered < read); `failed` only replaces `sending`/`sent`. Returns the message id it
    /// matched, if any; receipts for unknown ids are kept for when the send is recorded.
    pub async fn apply_receipt(&self, r: &Receipt) -> Result<Option<i64>> {
        on_backend!(self, pool => {
            sqlx::query(
                "INSERT INTO wa_receipts (provider_id, status, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(&r.provider_id)
            .bind(&r.status)
            .bind(r.at)
            .execute(pool)
            .await?;
        });
        let by_provider: Option<i64> = on_backend!(self, pool => {
            sqlx::query_scalar("SELECT id FROM wa_messages WHERE provider_id = $1 ORDER BY id LIMIT 1")
                .bind(&r.provider_id)
                .fetch_optional(pool)
                .await?
        });
        let id = match (by_provider, r.message_id) {
            (Some(id), _) => id,
            (None, Some(id)) => {
                // Our reference came back: the send happened even if we never recorded it
                // (the process died between the provider's answer and our write).
                let n = on_backend!(self, pool => {
                    sqlx::query(
                        "UPDATE wa_messages SET provider_id = $2, state = CASE WHEN state = 'sending' THEN 'sent' ELSE state END, \
                         sent_at = COALESCE(sent_at, $3), lease_owner = NULL, lease_until = NULL, updated_at = $3 \
                         WHERE id = $1 AND provider_id IS NULL AND state IN ('sending', 'queued', 'failed')",
                    )
                    .bind(id)
                    .bind(&r.provider_id)
                    .bind(r.at)
                    .execute(pool)
                    .await?
                    .rows_affected()
                });
                if n == 0 {
                    return Ok(None);
                }
                id
            }
            (None, None) => return Ok(None),
        };
        self.apply_status(
            id,
            &r.status,
            r.at,
            r.failure_kind.as_deref(),
            r.failure_code.as_deref(),
            r.failure_detail.as_deref(),
        )
        .await?;
        Ok(Some(id))
    }

    async fn apply_status(
        &self,
        id: i64,
        status: &str,
        at: DateTime<Utc>,
        kind: Option<&str>,
        code: Option<&str>,
        detail: Option<&str>,
    ) -> Result<()> {
        let now = crate::now();
        if status == "failed" {
            on_backend!(self, pool => {
                sqlx::query(
                    "UPDATE wa_messages SET state = 'failed', failed_at = $2, failure_kind = COALESCE($3, failure_kind), \
                     failure_code = COALESCE($4, failure_code), failure_detail = COALESCE($5, failure_detail), \
                     lease_owner = NULL, lease_until = NULL, updated_at = $6 WHERE id = $1 AND state IN ('sending', 'sent')",
                )
                .bind(id)
                .bind(at)
                .bind(kind)
                .bind(code)
                .bind(detail)
                .bind(now)
                .execute(pool)
                .await?;
            });
            return Ok(());
        }
        let rank = status_rank(status);
        if rank == 0 {
            return Ok(());
        }
        let column = match status {
            "sent" => "sent_at",
            "delivered" => "delivered_at",
            _ => "read_at",
        };
        // Only forward: the stored state's rank must be lower than the receipt's.
        on_backend!(self, pool => {
            sqlx::query(&format!(
                "UPDATE wa_messages SET {column} = COALESCE({column}, $3), \
                 state = CASE WHEN (CASE state WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ELSE 0 END) < $4 \
                   AND state IN ('sending', 'sent', 'delivered') THEN $2 ELSE state END, \
                 lease_owner = CASE WHEN state = 'sending' THEN NULL ELSE lease_owner END, \
                 updated_at = $5 WHERE id = $1 AND state IN ('sending', 'sent', 'delivered', 'read')"
            ))
            .bind(id)
            .bind(status)
            .bind(at)
            .bind(rank)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn message_exists(&self, dedup_key: &str) -> Result<bool> {
        on_backend!(self, pool => {
            Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM wa_messages WHERE dedup_key = $1)")
                .bind(dedup_key)
                .fetch_one(pool)
                .await?)
        })
    }

    pub async fn message(&self, id: i64) -> Result<Option<WaMessage>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!("SELECT {MESSAGE_COLUMNS} FROM wa_messages WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?)
        })
    }

    pub async fn list_messages(&self, q: &MessageQuery) -> Result<Vec<WaMessage>> {
        on_backend!(self, pool => {
            let mut qb = sqlx::QueryBuilder::<DB>::new(format!("SELECT {MESSAGE_COLUMNS} FROM wa_messages WHERE 1 = 1"));
            if let Some(s) = &q.state {
                qb.push(" AND state = ").push_bind(s.clone());
            }
            if let Some(e) = &q.event {
                qb.push(" AND event = ").push_bind(e.clone());
            }
            if let Some(p) = &q.phone {
                qb.push(" AND phone LIKE ").push_bind(format!("%{p}%"));
            }
            qb.push(" ORDER BY id DESC LIMIT ").push_bind(q.limit.clamp(1, 1000));
            qb.push(" OFFSET ").push_bind(q.offset.max(0));
            Ok(qb.build_query_as().fetch_all(pool).await?)
        })
    }

    /// A permit's messages (any audience), newest first: the permit page's WhatsApp section.
    pub async fn messages_for_subject(
        &self,
        subject_id: &str,
        limit: i64,
    ) -> Result<Vec<WaMessage>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM wa_messages WHERE subject_id = $1 ORDER BY id DESC LIMIT $2"
            ))
            .bind(subject_id)
            .bind(limit.clamp(1, 1000))
            .fetch_all(pool)
            .await?)
        })
    }

    /// Counts by state (for the dashboard and `/metrics`).
    pub async fn message_counts(&self) -> Result<Vec<(String, i64)>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as("SELECT state, COUNT(*) FROM wa_messages GROUP BY state ORDER BY state")
                .fetch_all(pool)
                .await?)
        })
    }

    /// Messages per day of creation, event and state since `since`; `day` names the calendar
    /// day a creation time falls on (the office's, `TZ_OFFICE`). Counted per UTC hour in the
    /// database and folded into days here, so any whole-hour offset is exact.
    pub async fn message_days(
        &self,
        since: DateTime<Utc>,
        day: impl Fn(DateTime<Utc>) -> NaiveDate,
    ) -> Result<Vec<MessageDay>> {
        let hours: Vec<(String, String, String, i64)> = on_backend!(self, pool => {
            let hour = match <DB as sqlx::Database>::NAME {
                "SQLite" => "substr(created_at, 1, 13)",
                _ => "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24')",
            };
            sqlx::query_as(&format!(
                "SELECT {hour} AS hour, event, state, COUNT(*) AS messages FROM wa_messages \
                 WHERE created_at >= $1 GROUP BY 1, 2, 3"
            ))
            .bind(since)
            .fetch_all(pool)
            .await?
        });
        let mut days: std::collections::BTreeMap<(String, String, String), i64> =
            std::collections::BTreeMap::new();
        for (hour, event, state, n) in hours {
            let Ok(at) =
                chrono::NaiveDateTime::parse_from_str(&format!("{hour}:00"), "%Y-%m-%dT%H:%M")
            else {
                continue;
            };
            let d = day(at.and_utc()).format("%Y-%m-%d").to_string();
            *days.entry((d, event, state)).or_default() += n;
        }
        Ok(days
            .into_iter()
            .map(|((day, event, state), messages)| MessageDay {
                day,
                event,
                state,
                messages,
            })
            .collect())
    }

    /// Staff's retry of a failed (or cancelled, skipped) message: queued again now.
    pub async fn retry_message(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let n = on_backend!(self, pool => {
            sqlx::query(
                "UPDATE wa_messages SET state = 'queued', next_attempt_at = $2, attempts = 0, updated_at = $2 \
                 WHERE id = $1 AND state IN ('failed', 'cancelled', 'skipped')",
            )
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Staff's cancel of a message not yet handed to the provider.
    pub async fn cancel_message(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let n = on_backend!(self, pool => {
            sqlx::query("UPDATE wa_messages SET state = 'cancelled', updated_at = $2 WHERE id = $1 AND state = 'queued'")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    // --- templates ----------------------------------------------------------------------------

    pub async fn template_overrides(&self) -> Result<Vec<TemplateOverride>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(
                "SELECT event, language, body, provider_template, updated_by, updated_at FROM wa_templates ORDER BY event, language",
            )
            .fetch_all(pool)
            .await?)
        })
    }

    pub async fn save_template(
        &self,
        event: &str,
        language: &str,
        body: &str,
        provider_template: Option<&str>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_backend!(self, pool => {
            sqlx::query(
                "INSERT INTO wa_templates (event, language, body, provider_template, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event, language) DO UPDATE SET body = excluded.body, \
                 provider_template = excluded.provider_template, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            )
            .bind(event)
            .bind(language)
            .bind(body)
            .bind(provider_template)
            .bind(by)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    // --- reminders and renewals -----------------------------------------------------------

    /// Issued permits expiring between `from` and `to` (inclusive), with their number and
    /// whether a confirmed renewal exists.
    pub async fn expiring_permits(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<ExpiringPermit>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(
                "SELECT p.pendaftaran_id, p.permit_number, p.applicant_name, p.permit_type_name, p.expiry_date, \
                 COALESCE(c.phone, p.applicant_phone) AS phone, \
                 EXISTS (SELECT 1 FROM permit_renewals r WHERE r.renews_id = p.pendaftaran_id AND r.state = 'confirmed') AS renewed \
                 FROM permits p LEFT JOIN permit_contacts c ON c.pendaftaran_id = p.pendaftaran_id \
                 WHERE p.status = 'issued' AND p.expiry_date IS NOT NULL AND p.expiry_date >= $1 AND p.expiry_date <= $2 \
                 ORDER BY p.expiry_date, p.pendaftaran_id",
            )
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Suggests renewals: a newer issued permit of the same type and holder (names compared
    /// without case and spaces) than one expiring or expired. Existing links are kept.
    pub async fn suggest_renewals(&self, now: DateTime<Utc>) -> Result<u64> {
        on_backend!(self, pool => {
            Ok(sqlx::query(
                "INSERT INTO permit_renewals (renewal_id, renews_id, state, updated_at) \
                 SELECT n.pendaftaran_id, (SELECT o.pendaftaran_id FROM permits o \
                    WHERE o.pendaftaran_id <> n.pendaftaran_id AND o.status = 'issued' \
                    AND o.permit_type_name = n.permit_type_name \
                    AND lower(replace(o.applicant_name, ' ', '')) = lower(replace(n.applicant_name, ' ', '')) \
                    AND o.issue_date < n.issue_date ORDER BY o.issue_date DESC LIMIT 1), 'suggested', $1 \
                 FROM permits n WHERE n.status = 'issued' AND n.issue_date IS NOT NULL AND n.applicant_name IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM permit_renewals r WHERE r.renewal_id = n.pendaftaran_id) \
                 AND EXISTS (SELECT 1 FROM permits o WHERE o.pendaftaran_id <> n.pendaftaran_id AND o.status = 'issued' \
                    AND o.permit_type_name = n.permit_type_name \
                    AND lower(replace(o.applicant_name, ' ', '')) = lower(replace(n.applicant_name, ' ', '')) \
                    AND o.issue_date < n.issue_date \
                    AND NOT EXISTS (SELECT 1 FROM permit_renewals r2 WHERE r2.renews_id = o.pendaftaran_id)) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected())
        })
    }

    /// Staff confirm a suggested link, or set one: `renewal_id` renews `renews_id`.
    /// `reason`: why a person links permits that are not obviously a renewal (see
    /// `companion_domain::renewals`).
    pub async fn confirm_renewal(
        &self,
        renewal_id: &str,
        renews_id: &str,
        by: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_backend!(self, pool => {
            sqlx::query(
                "INSERT INTO permit_renewals (renewal_id, renews_id, state, decided_by, updated_at, reason) \
                 VALUES ($1, $2, 'confirmed', $3, $4, $5) ON CONFLICT (renewal_id) DO UPDATE SET renews_id = excluded.renews_id, \
                 state = 'confirmed', decided_by = excluded.decided_by, updated_at = excluded.updated_at, reason = excluded.reason",
            )
            .bind(renewal_id)
            .bind(renews_id)
            .bind(by)
            .bind(now)
            .bind(reason)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Staff reject a suggestion (it is removed; it will not be suggested again while the
    /// rejected row stays).
    pub async fn reject_renewal(
        &self,
        renewal_id: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = on_backend!(self, pool => {
            sqlx::query(
                "UPDATE permit_renewals SET state = 'rejected', decided_by = $2, updated_at = $3 \
                 WHERE renewal_id = $1 AND state = 'suggested'",
            )
            .bind(renewal_id)
            .bind(by)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    pub async fn list_renewals(&self, state: Option<&str>) -> Result<Vec<Renewal>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(
                "SELECT renewal_id, renews_id, state, decided_by, updated_at, reason FROM permit_renewals \
                 WHERE $1 IS NULL OR state = $1 ORDER BY updated_at DESC LIMIT 500",
            )
            .bind(state)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Signing cases waiting for a person since `cutoff` or earlier: submitted ones (for approval)
    /// since their submission, approved and stamped ones (for signature) since their approval —
    /// the document's own waiting time, which a failed signing attempt does not restart.
    pub async fn cases_waiting(&self, cutoff: DateTime<Utc>) -> Result<Vec<WaitingCase>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(
                "SELECT id, pendaftaran_id, state, submitted_by, decided_by, since FROM ( \
                   SELECT id, pendaftaran_id, state, submitted_by, decided_by, \
                   CASE WHEN state = 'submitted' THEN COALESCE(submitted_at, updated_at) \
                        ELSE COALESCE(decided_at, updated_at) END AS since \
                   FROM signing_cases WHERE state IN ('submitted', 'approved', 'stamped')) w \
                 WHERE since <= $1 ORDER BY id",
            )
            .bind(cutoff)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Issued permits whose latest original letter was imported at or after `since` and that
    /// have no "permit ready" message yet: (permit, document, imported at), oldest first.
    pub async fn imported_letters_unannounced(
        &self,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ImportedLetter>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_as(
                "SELECT d.pendaftaran_id, d.id AS document_id, d.created_at AS imported_at FROM documents d \
                 JOIN permits p ON p.pendaftaran_id = d.pendaftaran_id \
                 WHERE p.status = 'issued' AND d.kind = 'original' AND d.created_at >= $1 \
                 AND d.id = (SELECT MAX(d2.id) FROM documents d2 WHERE d2.pendaftaran_id = d.pendaftaran_id AND d2.kind = 'original') \
                 AND NOT EXISTS (SELECT 1 FROM wa_messages m WHERE m.subject_id = d.pendaftaran_id AND m.event = 'permit_ready') \
                 ORDER BY d.id LIMIT $2",
            )
            .bind(since)
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Who imported a permit's latest document (the staff concerned when no one submitted it for
    /// signing).
    pub async fn latest_document_importer(&self, pendaftaran_id: &str) -> Result<Option<String>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_scalar(
                "SELECT created_by FROM documents WHERE pendaftaran_id = $1 ORDER BY id DESC LIMIT 1",
            )
            .bind(pendaftaran_id)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Queued digests of other days than `today_subject` are superseded by today's: they are
    /// skipped with the reason (a stale count is worse than none). Returns how many.
    pub async fn supersede_digests(
        &self,
        today_subject: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        on_backend!(self, pool => {
            Ok(sqlx::query(
                "UPDATE wa_messages SET state = 'skipped', failure_detail = $2, updated_at = $3 \
                 WHERE event = 'awaiting_signature' AND state = 'queued' AND subject_id LIKE 'digest:%' AND subject_id <> $1",
            )
            .bind(today_subject)
            .bind(reason)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected())
        })
    }
}
