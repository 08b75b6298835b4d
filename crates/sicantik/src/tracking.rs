//! Public application tracking (`/lacak`, issue 24): SICANTIK's step chain (`permohonan2`,
//! spec §3.6) through the same polite client as the sync, a cache per permit with the last good
//! answer and its time, and the whole view the page shows — SICANTIK's steps, the status history
//! the sync keeps and the companion's own steps. The rules of who may see it (the last four
//! phone digits, the same answer for a wrong number and wrong digits, attempts per number) are
//! here, not in the web handler.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use companion_db::{AuditQuery, Database, DbError};
use companion_domain::PermitStatus;
use companion_domain::tracking::{self, SicantikStep, positions};
use companion_domain::workflow::DocState;

use crate::client::{Answer, ApiError, CallPolicy, SicantikClient};
use crate::wire::RawRow;

/// Settings of the tracking look-up.
#[derive(Debug, Clone)]
pub struct TrackingConfig {
    /// The whole SICANTIK look-up, rate-limit wait and retries included: a person is waiting.
    pub budget: Duration,
    /// Per request.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub retries: usize,
    /// A cached answer younger than this is shown without asking SICANTIK again.
    pub fresh_for: Duration,
    /// Wrong digits (or unknown numbers) per registration number within `attempt_window`.
    pub max_failures: u32,
    pub attempt_window: Duration,
}

impl Default for TrackingConfig {
    fn default() -> Self {
        Self {
            budget: Duration::from_secs(8),
            timeout: Duration::from_secs(5),
            retries: 1,
            fresh_for: Duration::from_secs(60),
            max_failures: 10,
            attempt_window: Duration::from_secs(3600),
        }
    }
}

/// Where SICANTIK's part of the page comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SicantikPart {
    /// SICANTIK answered now (or within `fresh_for`).
    Live {
        steps: Vec<SicantikStep>,
        fetched_at: DateTime<Utc>,
    },
    /// SICANTIK did not answer (down, junk): the last good answer, with its time.
    Cached {
        steps: Vec<SicantikStep>,
        fetched_at: DateTime<Utc>,
    },
    /// SICANTIK did not answer and never did for this permit.
    Unavailable,
    /// SICANTIK has no tracking rows for it (its "Tidak ada data..").
    NoSteps,
}

/// One of the companion's own steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompanionStepKind {
    PdfReceived,
    Approved,
    Signed,
    Published,
    Revoked,
}

impl CompanionStepKind {
    /// The order they normally follow (revocation is shown only when it happened).
    pub const FLOW: [CompanionStepKind; 4] = [
        CompanionStepKind::PdfReceived,
        CompanionStepKind::Approved,
        CompanionStepKind::Signed,
        CompanionStepKind::Published,
    ];

    fn of_action(action: &str) -> Option<Self> {
        match action {
            "document.import" => Some(Self::PdfReceived),
            "document.approve" => Some(Self::Approved),
            "document.sign" => Some(Self::Signed),
            "document.publish" => Some(Self::Published),
            "document.revoke" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// A companion step with its time, or still to come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanionStep {
    pub kind: CompanionStepKind,
    pub at: Option<DateTime<Utc>>,
}

/// Everything `/lacak` shows for one permit — nothing beyond the receipt: no name, address,
/// phone or NIK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingView {
    pub pendaftaran_id: String,
    pub permit_type: Option<String>,
    pub sicantik: SicantikPart,
    /// The status changes the sync saw (in process → issued), oldest first.
    pub history: Vec<(PermitStatus, DateTime<Utc>)>,
    pub received_date: Option<NaiveDate>,
    pub issue_date: Option<NaiveDate>,
    /// Done ones with their time, then the ones still to come (`at` = None).
    pub companion: Vec<CompanionStep>,
    /// The verification id of the published signed letter (download `/v/<id>/unduh`).
    pub published: Option<String>,
    pub revoked: bool,
}

/// The outcome of a look-up by number and digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Box<TrackingView>),
    /// Unknown number, wrong digits, no phone on record, or not a number at all: one answer,
    /// so the page does not tell which numbers exist. `sicantik_down` depends only on SICANTIK.
    NotFound {
        sicantik_down: bool,
    },
    /// Too many failed attempts for this number (counted alike for known and unknown numbers).
    TooManyAttempts,
}

#[derive(Debug, thiserror::Error)]
pub enum TrackingError {
    #[error("database: {0}")]
    Db(#[from] DbError),
}

/// SICANTIK's chain as read from `permohonan2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub permit_type: Option<String>,
    pub phone_last4: Option<String>,
    pub steps: Vec<SicantikStep>,
}

/// Why an answer was not believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error("rows about another registration ({0})")]
    OtherPermit(String),
    #[error("a row without a step name")]
    NoStepName,
    #[error("the look-up took longer than {0:?}")]
    Budget(Duration),
}

/// Field names a deployment may use for a step's date (the spec's row has none).
const DATE_FIELDS: [&str; 6] = [
    "d_entry",
    "d_status",
    "tgl_status",
    "tanggal",
    "d_perubahan",
    "waktu",
];

fn step_date(row: &RawRow) -> Option<NaiveDate> {
    DATE_FIELDS.iter().find_map(|f| {
        let v = row.get(*f)?.as_deref()?;
        companion_domain::permits::parse_upstream_date(v.get(..10).unwrap_or(v))
    })
}

/// Reads `permohonan2` rows: every row must be about `id` (when it names one) and carry a step
/// name; the current step is the row marked `current` (1, "1" or true).
pub fn parse_chain(id: &str, rows: &[RawRow]) -> Result<Option<Chain>, ChainError> {
    if rows.is_empty() {
        return Ok(None);
    }
    let field = |row: &RawRow, k: &str| {
        row.get(k)
            .and_then(|v| v.as_deref())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let mut names = Vec::with_capacity(rows.len());
    let mut flags = Vec::with_capacity(rows.len());
    let mut dates = Vec::with_capacity(rows.len());
    let mut permit_type = None;
    let mut phone = None;
    for row in rows {
        if let Some(other) = field(row, "pendaftaran_id").filter(|v| v != id) {
            return Err(ChainError::OtherPermit(other));
        }
        names.push(field(row, "n_sts_permohonan").ok_or(ChainError::NoStepName)?);
        flags.push(tracking::is_current_flag(
            row.get("current").and_then(|v| v.as_deref()),
        ));
        dates.push(step_date(row));
        permit_type = permit_type.or_else(|| field(row, "n_perizinan"));
        phone = phone.or_else(|| field(row, "telp_pemohon").and_then(|p| tracking::last_four(&p)));
    }
    let steps = names
        .into_iter()
        .zip(positions(&flags))
        .zip(dates)
        .map(|((name, position), date)| SicantikStep {
            name,
            position,
            date,
        })
        .collect();
    Ok(Some(Chain {
        permit_type,
        phone_last4: phone,
        steps,
    }))
}

/// The tracking service. Cheap to share (`Arc`).
pub struct Tracker {
    client: SicantikClient,
    db: Database,
    config: TrackingConfig,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// What asking SICANTIK gave.
enum Asked {
    Chain(Chain, DateTime<Utc>),
    NoSteps,
    Failed,
}

impl Tracker {
    pub fn new(client: SicantikClient, db: Database, config: TrackingConfig) -> Self {
        Self {
            client,
            db,
            config,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Asks `permohonan2` once within the budget. The id must already be digits only.
    pub async fn fetch(&self, id: &str) -> Result<Option<Chain>, ChainError> {
        let policy = CallPolicy {
            max_retries: Some(self.config.retries),
            max_delay: Some(Duration::from_secs(2)),
            timeout: Some(self.config.timeout),
        };
        let mut log = Vec::new();
        let params = [("pendaftaran", id.to_string())];
        let call = self
            .client
            .get_with("permohonan2", &params, &mut log, &policy);
        let answer = tokio::time::timeout(self.config.budget, call).await;
        if let Err(e) = self.db.record_calls(None, &log, &[]).await {
            tracing::warn!(error = %e, "could not record the tracking call");
        }
        match answer {
            Err(_) => Err(ChainError::Budget(self.config.budget)),
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(Answer::Rows(rows))) => parse_chain(id, &rows),
            Ok(Ok(Answer::NoData)) => Ok(None),
            Ok(Ok(Answer::NotRegistered)) => Err(ApiError::Refused("not registered".into()).into()),
        }
    }

    async fn ask(
        &self,
        id: &str,
    ) -> Result<(Asked, Option<companion_db::tracking::TrackingCache>), TrackingError> {
        let cached = self.db.tracking_cache(id).await?;
        if let Some(c) = &cached {
            let age = (Utc::now() - c.fetched_at).to_std().unwrap_or_default();
            if age < self.config.fresh_for {
                let chain = Chain {
                    permit_type: c.permit_type_name.clone(),
                    phone_last4: c.phone_last4.clone(),
                    steps: c.steps.clone(),
                };
                return Ok((Asked::Chain(chain, c.fetched_at), cached));
            }
        }
        let asked = match self.fetch(id).await {
            Ok(Some(chain)) => {
                let now = companion_db::now();
                self.db
                    .save_tracking(
                        id,
                        chain.permit_type.as_deref(),
                        chain.phone_last4.as_deref(),
                        &chain.steps,
                        now,
                        tracking::collected(&chain.steps),
                    )
                    .await?;
                metrics::counter!("companion_tracking_lookups_total", "source" => "live")
                    .increment(1);
                Asked::Chain(chain, now)
            }
            Ok(None) => {
                metrics::counter!("companion_tracking_lookups_total", "source" => "no_steps")
                    .increment(1);
                Asked::NoSteps
            }
            Err(e) => {
                tracing::warn!(error = %e, "SICANTIK tracking look-up failed; showing the last known state");
                metrics::counter!("companion_tracking_lookups_total", "source" => if cached.is_some() { "cached" } else { "unavailable" }).increment(1);
                Asked::Failed
            }
        };
        Ok((asked, cached))
    }

    /// The view of a permit whose right to see was proven (a valid signed link): `None` when
    /// neither SICANTIK nor the companion knows it.
    pub async fn view(&self, id: &str) -> Result<Option<TrackingView>, TrackingError> {
        let Some(id) = tracking::registration_id(id) else {
            return Ok(None);
        };
        let (asked, cached) = self.ask(&id).await?;
        self.compose(&id, asked, cached).await
    }

    /// A look-up by registration number and the last four digits of the phone SICANTIK holds.
    pub async fn lookup(&self, number: &str, digits: &str) -> Result<Lookup, TrackingError> {
        let Some(id) = tracking::registration_id(number) else {
            // Never sent to SICANTIK; the same answer as any unknown number.
            return Ok(Lookup::NotFound {
                sicantik_down: false,
            });
        };
        if self.failures_for(&id) >= self.config.max_failures {
            return Ok(Lookup::TooManyAttempts);
        }
        let (asked, cached) = self.ask(&id).await?;
        let sicantik_down = matches!(asked, Asked::Failed);
        let permit = self.db.get_permit(&id).await?;
        // The phone SICANTIK holds: its tracking answer now, else the last one, else the one
        // the sync's expiry look-up (`cekperizinan`) stored.
        let stored = match &asked {
            Asked::Chain(c, _) => c.phone_last4.clone(),
            _ => None,
        }
        .or_else(|| cached.as_ref().and_then(|c| c.phone_last4.clone()))
        .or_else(|| {
            permit
                .as_ref()
                .and_then(|p| p.applicant_phone.as_deref())
                .and_then(tracking::last_four)
        });
        let matches = stored
            .as_deref()
            .is_some_and(|s| tracking::digits_match(digits, s));
        if !matches {
            self.record_failure(&id);
            return Ok(Lookup::NotFound { sicantik_down });
        }
        match self.compose(&id, asked, cached).await? {
            Some(view) => Ok(Lookup::Found(Box::new(view))),
            None => Ok(Lookup::NotFound { sicantik_down }),
        }
    }

    async fn compose(
        &self,
        id: &str,
        asked: Asked,
        cached: Option<companion_db::tracking::TrackingCache>,
    ) -> Result<Option<TrackingView>, TrackingError> {
        let permit = self.db.get_permit(id).await?;
        let (sicantik, chain_type) = match asked {
            // An empty chain stored by the collection check: SICANTIK had no steps.
            Asked::Chain(c, _) if c.steps.is_empty() => (SicantikPart::NoSteps, c.permit_type),
            Asked::Chain(c, at) => (
                SicantikPart::Live {
                    steps: c.steps,
                    fetched_at: at,
                },
                c.permit_type,
            ),
            Asked::NoSteps => (SicantikPart::NoSteps, None),
            Asked::Failed => match cached {
                Some(c) if !c.steps.is_empty() => (
                    SicantikPart::Cached {
                        steps: c.steps,
                        fetched_at: c.fetched_at,
                    },
                    c.permit_type_name,
                ),
                _ => (SicantikPart::Unavailable, None),
            },
        };
        let known_upstream = matches!(
            sicantik,
            SicantikPart::Live { .. } | SicantikPart::Cached { .. }
        );
        if permit.is_none() && !known_upstream {
            return Ok(None);
        }
        let history = self
            .db
            .status_history(id)
            .await?
            .into_iter()
            .filter_map(|h| PermitStatus::parse(&h.to_status).map(|s| (s, h.changed_at)))
            .collect();
        let (entries, _) = self
            .db
            .list_audit(&AuditQuery {
                target_id: Some(id.to_string()),
                action: Some("document.".into()),
                page: 1,
                per_page: 200,
                ..Default::default()
            })
            .await?;
        let mut done: Vec<CompanionStep> = Vec::new();
        let mut entries = entries;
        entries.sort_by_key(|e| (e.at, e.id));
        for e in &entries {
            let Some(kind) = CompanionStepKind::of_action(&e.action) else {
                continue;
            };
            // The first time each step happened (a re-import does not move "PDF received").
            if !done.iter().any(|d| d.kind == kind) {
                done.push(CompanionStep {
                    kind,
                    at: Some(e.at),
                });
            }
        }
        let cases = self.db.signing_cases_for_permit(id).await?;
        let state = |s: &str| DocState::parse(s);
        let revoked = cases
            .iter()
            .any(|c| state(&c.state) == Some(DocState::Revoked));
        let published = cases
            .iter()
            .find(|c| state(&c.state) == Some(DocState::Published))
            .map(|c| c.verification_id.clone());
        let mut companion: Vec<CompanionStep> = CompanionStepKind::FLOW
            .iter()
            .map(|k| {
                done.iter()
                    .find(|d| d.kind == *k)
                    .cloned()
                    .unwrap_or(CompanionStep { kind: *k, at: None })
            })
            .collect();
        if revoked {
            companion.extend(
                done.iter()
                    .filter(|d| d.kind == CompanionStepKind::Revoked)
                    .cloned(),
            );
        }
        let permit_type =
            chain_type.or_else(|| permit.as_ref().and_then(|p| p.permit_type_name.clone()));
        Ok(Some(TrackingView {
            pendaftaran_id: id.to_string(),
            permit_type,
            sicantik,
            history,
            received_date: permit.as_ref().and_then(|p| p.received_date),
            issue_date: permit.as_ref().and_then(|p| p.issue_date),
            companion,
            published: published.filter(|_| !revoked),
            revoked,
        }))
    }

    /// Asks SICANTIK about up to `limit` issued permits whose collection is not known yet (see
    /// `Database::tracking_collection_due`), each at most once a day; returns how many were
    /// found collected. The survey invites their applicants next.
    pub async fn refresh_collections(&self, limit: i64) -> Result<u64, TrackingError> {
        let day_ago = Utc::now() - chrono::Duration::hours(24);
        let mut collected = 0;
        for id in self.db.tracking_collection_due(day_ago, limit).await? {
            let Some(id) = tracking::registration_id(&id) else {
                continue;
            };
            match self.fetch(&id).await {
                Ok(Some(chain)) => {
                    let done = tracking::collected(&chain.steps);
                    self.db
                        .save_tracking(
                            &id,
                            chain.permit_type.as_deref(),
                            chain.phone_last4.as_deref(),
                            &chain.steps,
                            companion_db::now(),
                            done,
                        )
                        .await?;
                    collected += u64::from(done);
                }
                // No chain: asked again tomorrow (an empty chain is stored to remember the day).
                Ok(None) => {
                    self.db
                        .save_tracking(&id, None, None, &[], companion_db::now(), false)
                        .await?;
                }
                // SICANTIK down: the next run asks again.
                Err(e) => {
                    tracing::debug!(error = %e, "collection look-up failed");
                    break;
                }
            }
        }
        Ok(collected)
    }

    fn failures_for(&self, id: &str) -> u32 {
        let Ok(mut map) = self.failures.lock() else {
            return 0;
        };
        match map.get(id) {
            Some((n, since)) if since.elapsed() < self.config.attempt_window => *n,
            Some(_) => {
                map.remove(id);
                0
            }
            None => 0,
        }
    }

    fn record_failure(&self, id: &str) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() > 100_000 {
            let window = self.config.attempt_window;
            map.retain(|_, (_, since)| since.elapsed() < window);
        }
        let entry = map.entry(id.to_string()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.config.attempt_window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Payload, parse_body};
    use companion_domain::tracking::StepPosition;

    fn rows(body: &str) -> Vec<RawRow> {
        match parse_body(body) {
            Ok(Payload::Rows(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn current_as_number_string_or_xml() {
        let id = "0142307703072025";
        for body in [
            format!(
                r#"[{{"pendaftaran_id":"{id}","n_sts_permohonan":"Pendaftaran","telp_pemohon":"0812 3456 7890","n_perizinan":"IZIN REKLAME"}},{{"pendaftaran_id":"{id}","n_sts_permohonan":"Verifikasi","current":1}},{{"pendaftaran_id":"{id}","n_sts_permohonan":"Selesai"}}]"#
            ),
            format!(
                r#"[{{"pendaftaran_id":"{id}","n_sts_permohonan":"Pendaftaran","telp_pemohon":"0812 3456 7890","n_perizinan":"IZIN REKLAME"}},{{"pendaftaran_id":"{id}","n_sts_permohonan":"Verifikasi","current":"1"}},{{"pendaftaran_id":"{id}","n_sts_permohonan":"Selesai","current":"0"}}]"#
            ),
            format!(
                "<xml><item><pendaftaran_id>{id}</pendaftaran_id><n_sts_permohonan>Pendaftaran</n_sts_permohonan><telp_pemohon>0812 3456 7890</telp_pemohon><n_perizinan>IZIN REKLAME</n_perizinan></item><item><pendaftaran_id>{id}</pendaftaran_id><n_sts_permohonan>Verifikasi</n_sts_permohonan><current>1</current></item><item><pendaftaran_id>{id}</pendaftaran_id><n_sts_permohonan>Selesai</n_sts_permohonan><current/></item></xml>"
            ),
        ] {
            let chain = parse_chain(id, &rows(&body)).unwrap().unwrap();
            let pos: Vec<_> = chain.steps.iter().map(|s| s.position).collect();
            assert_eq!(
                pos,
                vec![
                    StepPosition::Done,
                    StepPosition::Current,
                    StepPosition::Upcoming
                ],
                "{body}"
            );
            assert_eq!(chain.phone_last4.as_deref(), Some("7890"));
            assert_eq!(chain.permit_type.as_deref(), Some("IZIN REKLAME"));
        }
    }

    #[test]
    fn current_first_and_dates_when_given() {
        let id = "1";
        let body = r#"[{"n_sts_permohonan":"Verifikasi","current":true,"d_entry":"2025-10-02 10:11:12"},{"n_sts_permohonan":"Selesai"}]"#;
        let chain = parse_chain(id, &rows(body)).unwrap().unwrap();
        assert_eq!(chain.steps[0].position, StepPosition::Current);
        assert_eq!(chain.steps[1].position, StepPosition::Upcoming);
        assert_eq!(chain.steps[0].date, NaiveDate::from_ymd_opt(2025, 10, 2));
    }

    #[test]
    fn junk_is_not_believed() {
        let body = r#"[{"pendaftaran_id":"999","n_sts_permohonan":"X","current":"1"}]"#;
        assert_eq!(
            parse_chain("1", &rows(body)),
            Err(ChainError::OtherPermit("999".into()))
        );
        let body = r#"[{"pendaftaran_id":"1","current":"1"}]"#;
        assert_eq!(parse_chain("1", &rows(body)), Err(ChainError::NoStepName));
        assert_eq!(parse_chain("1", &[]), Ok(None));
    }
}
