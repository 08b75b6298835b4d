//! Archive-timestamp renewal (issue 20 item 3): before the TSA certificate of a published
//! permit's last timestamp expires (`ARCHIVE_RENEWAL_MARGIN_DAYS` ahead) or its algorithm
//! weakens, the file gets fresh validation data for that timestamp and a new document timestamp
//! ([`crate::ltv::LongTerm::renew`]), stored as a new version that becomes the case's signed
//! file; a copy of the earlier version stays recognised as the same letter. The rule is
//! `companion_domain::archive::renewal`.
//!
//! Resumable and exactly once: each renewal is recorded in one transaction that also moves the
//! case to the new file, and a file can be renewed only once (`archive_renewals` is unique per
//! source file). A run killed after storing a renewed file but before recording it finds that
//! file on the next run (a signed version of the permit no case holds, which extends the
//! current file byte for byte) and records it instead of renewing again.

use chrono::{DateTime, Duration, Utc};
use companion_db::SigningCase;
use companion_db::archive::ArchiveSchedule;
use companion_documents::{Actor, ImportSource};
use companion_domain::DocumentKind;
use companion_domain::archive::{LastTimestamp, Renewal, SignatureLevel, renewal};
use companion_domain::workflow::DocState;
use companion_pdf::revocation::Evidence;
use companion_pdf::validate::signature_material;
use der::Encode;
use openssl::nid::Nid;
use openssl::pkey::Id;
use x509_cert::Certificate;

use crate::{SigningError, SigningService};

/// The level `pdf` reached: a document timestamp makes it B-LTA, validation data in a DSS
/// B-LT, a signature timestamp B-T.
pub fn level_of(pdf: &[u8]) -> SignatureLevel {
    let material = signature_material(pdf);
    if material.iter().any(|m| m.document_timestamp) {
        SignatureLevel::BLTA
    } else if !Evidence::from_dss(pdf).is_empty() {
        SignatureLevel::BLT
    } else if material.iter().any(|m| m.tsa.is_some()) {
        SignatureLevel::BT
    } else {
        SignatureLevel::BB
    }
}

fn not_after(c: &Certificate) -> Option<DateTime<Utc>> {
    let secs = c
        .tbs_certificate
        .validity
        .not_after
        .to_unix_duration()
        .as_secs();
    DateTime::from_timestamp(i64::try_from(secs).ok()?, 0)
}

/// SHA-1 or MD5 signatures, RSA keys below 2048 bits: no longer trusted to hold for years.
fn weak(c: &Certificate) -> bool {
    let Some(x) = c
        .to_der()
        .ok()
        .and_then(|d| openssl::x509::X509::from_der(&d).ok())
    else {
        return true;
    };
    let alg = x.signature_algorithm().object().nid();
    let weak_alg = [
        Nid::SHA1WITHRSAENCRYPTION,
        Nid::ECDSA_WITH_SHA1,
        Nid::DSAWITHSHA1,
        Nid::MD5WITHRSAENCRYPTION,
    ]
    .contains(&alg);
    let weak_key = x
        .public_key()
        .map(|k| k.id() == Id::RSA && k.bits() < 2048)
        .unwrap_or(true);
    weak_alg || weak_key
}

/// The file's newest timestamp — its last document timestamp, or the last signature's own
/// timestamp — with its TSA certificate's end; `None` when the last signature has none.
pub fn last_timestamp(pdf: &[u8]) -> Option<LastTimestamp> {
    let material = signature_material(pdf);
    let last = material.last()?;
    let tsa = if last.document_timestamp {
        last.signer.as_ref()?
    } else {
        last.tsa.as_ref()?
    };
    Some(LastTimestamp {
        tsa_not_after: not_after(tsa)?,
        document_timestamp: last.document_timestamp,
        weak: weak(tsa),
    })
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RenewalReport {
    pub checked: usize,
    pub renewed: usize,
    /// Renewed files an interrupted earlier run had stored, now recorded.
    pub resumed: usize,
    pub scheduled: usize,
    pub stopped: usize,
    pub failed: usize,
}

enum Outcome {
    Renewed,
    Resumed,
    Scheduled,
    Stopped,
    Failed,
}

impl SigningService {
    /// Looks at up to `limit` published cases that are due (or never checked) at `now`, and
    /// renews, schedules or stops each. A failure is kept on the case (`archive_error`, shown
    /// on the dashboard and `/tte`) and the case is tried again on the next run.
    pub async fn renew_archives(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<RenewalReport, SigningError> {
        let mut report = RenewalReport::default();
        for case in self.db.archive_candidates(now, limit).await? {
            report.checked += 1;
            let outcome = match self.renew_case(&case, now).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(case = case.id, error = %e, "archive renewal failed");
                    if let Some(doc) = case.signed_document_id {
                        self.db
                            .set_archive_schedule(
                                case.id,
                                doc,
                                &ArchiveSchedule {
                                    level: case.signature_level.clone(),
                                    due_at: case.archive_due_at,
                                    stopped: None,
                                    error: Some(e.pesan()),
                                },
                            )
                            .await?;
                    }
                    Outcome::Failed
                }
            };
            let (counter, label) = match outcome {
                Outcome::Renewed => (&mut report.renewed, "renewed"),
                Outcome::Resumed => (&mut report.resumed, "resumed"),
                Outcome::Scheduled => (&mut report.scheduled, "scheduled"),
                Outcome::Stopped => (&mut report.stopped, "stopped"),
                Outcome::Failed => (&mut report.failed, "failed"),
            };
            *counter += 1;
            metrics::counter!("companion_archive_renewals_total", "outcome" => label).increment(1);
        }
        Ok(report)
    }

    /// The schedule of a freshly signed file (after signing, so `/tte` shows its level at once).
    pub(crate) async fn schedule_archive(&self, case: &SigningCase, pdf: &[u8]) {
        let Some(doc) = case.signed_document_id else {
            return;
        };
        let schedule = self.schedule_for(case, pdf, Utc::now()).await;
        let result = match schedule {
            Ok((s, _)) => self.db.set_archive_schedule(case.id, doc, &s).await,
            Err(e) => {
                tracing::warn!(case = case.id, error = %e, "archive schedule not set");
                return;
            }
        };
        if let Err(e) = result {
            tracing::warn!(case = case.id, error = %e, "archive schedule not stored");
        }
    }

    /// What the rule says of `pdf` as `case`'s signed file: the schedule to store, and whether
    /// it must be renewed now.
    async fn schedule_for(
        &self,
        case: &SigningCase,
        pdf: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(ArchiveSchedule, bool), SigningError> {
        let state = DocState::parse(&case.state).ok_or(SigningError::Conflict)?;
        let expiry = self
            .db
            .get_permit(&case.pendaftaran_id)
            .await?
            .and_then(|p| p.expiry_date);
        let today = now.with_timezone(&self.config.utc_offset).date_naive();
        let mut s = ArchiveSchedule {
            level: Some(level_of(pdf).name().to_string()),
            ..Default::default()
        };
        let margin = self.archive_margin;
        let now_due = match renewal(state, expiry, today, last_timestamp(pdf), now, margin) {
            Renewal::Now => {
                s.due_at = Some(now);
                true
            }
            Renewal::DueAt(t) => {
                s.due_at = Some(t);
                false
            }
            Renewal::Stopped(stop) => {
                s.stopped = Some(stop.key().to_string());
                false
            }
        };
        Ok((s, now_due))
    }

    async fn renew_case(
        &self,
        case: &SigningCase,
        now: DateTime<Utc>,
    ) -> Result<Outcome, SigningError> {
        let current = self.document(case.signed_document_id).await?;
        let bytes = self.stored_bytes(&current.storage_key).await?;
        let (schedule, due) = self.schedule_for(case, &bytes, now).await?;
        if !due {
            let stopped = schedule.stopped.is_some();
            if !self
                .db
                .set_archive_schedule(case.id, current.id, &schedule)
                .await?
            {
                return Err(SigningError::Conflict);
            }
            return Ok(if stopped {
                Outcome::Stopped
            } else {
                Outcome::Scheduled
            });
        }
        // An interrupted earlier run's renewed file: record it instead of renewing again.
        if let Some((doc, renewed)) = self.unrecorded_renewal(case, current.id, &bytes).await? {
            self.record_renewal(case, current.id, doc, &renewed, now, true)
                .await?;
            return Ok(Outcome::Resumed);
        }
        let long_term = self.long_term.as_ref().ok_or_else(|| {
            SigningError::Sign("pembaruan cap waktu arsip tidak dikonfigurasi".into())
        })?;
        let mut pool: Vec<Certificate> = match &self.signer {
            crate::Signer::Local(id) => id.chain.clone(),
            crate::Signer::Bsre(_) => Vec::new(),
        };
        pool.extend(long_term.anchors.iter().cloned());
        let renewed = long_term
            .renew(&bytes, &pool)
            .await
            .map_err(SigningError::Sign)?;
        let actor = Actor::system("archive");
        let doc = self
            .documents
            .import(
                &case.pendaftaran_id,
                renewed.clone().into(),
                current.original_name.as_deref(),
                DocumentKind::Signed,
                ImportSource::Signing,
                &actor,
            )
            .await?
            .document;
        self.record_renewal(case, current.id, doc.id, &renewed, now, false)
            .await?;
        Ok(Outcome::Renewed)
    }

    async fn stored_bytes(&self, key: &str) -> Result<Vec<u8>, SigningError> {
        self.documents
            .storage()
            .get_bytes(key)
            .await
            .map(|b| b.to_vec())
            .map_err(|e| SigningError::Import(companion_documents::ImportError::Storage(e)))
    }

    /// A signed version of the permit stored after `current`, held by no case and renewed from
    /// nothing, that extends `current_bytes` (an incremental update of it with a newer
    /// document timestamp): what a run killed between storing and recording left.
    async fn unrecorded_renewal(
        &self,
        case: &SigningCase,
        current: i64,
        current_bytes: &[u8],
    ) -> Result<Option<(i64, Vec<u8>)>, SigningError> {
        let since = case.signed_at.unwrap_or(case.updated_at);
        for id in self
            .db
            .unclaimed_signed_documents(&case.pendaftaran_id, since)
            .await?
        {
            if id <= current {
                continue;
            }
            let Some(doc) = self.db.get_document(id).await? else {
                continue;
            };
            let bytes = self.stored_bytes(&doc.storage_key).await?;
            let extends = bytes.len() > current_bytes.len() && bytes.starts_with(current_bytes);
            let newer = signature_material(&bytes).len() > signature_material(current_bytes).len();
            if extends && newer && level_of(&bytes) == SignatureLevel::BLTA {
                return Ok(Some((id, bytes)));
            }
        }
        Ok(None)
    }

    async fn record_renewal(
        &self,
        case: &SigningCase,
        from: i64,
        to: i64,
        renewed: &[u8],
        now: DateTime<Utc>,
        resumed: bool,
    ) -> Result<(), SigningError> {
        let (mut next, again) = self.schedule_for(case, renewed, now).await?;
        if again {
            // The new timestamp's TSA certificate itself ends within the margin: renewing again
            // would not help. Looked at again tomorrow, and said plainly until then.
            next.due_at = Some(now + Duration::days(1));
            next.error = Some(
                "Sertifikat TSA cap waktu arsip yang baru berakhir dalam margin pembaruan; periksa layanan TSA."
                    .into(),
            );
        }
        if !self
            .db
            .record_archive_renewal(case.id, from, to, &next)
            .await?
        {
            return Err(SigningError::Conflict);
        }
        self.db
            .append_audit(&Actor::system("archive").record(
                "document.archive_renew",
                Some(("permit", case.pendaftaran_id.clone())),
                serde_json::json!({
                    "case_id": case.id,
                    "from_document_id": from,
                    "to_document_id": to,
                    "next_due_at": next.due_at,
                    "resumed": resumed,
                }),
            ))
            .await?;
        tracing::info!(
            case = case.id,
            from,
            to,
            resumed,
            "archive timestamp renewed"
        );
        Ok(())
    }
}

/// The default margin before a TSA certificate's end (`ARCHIVE_RENEWAL_MARGIN_DAYS`).
pub const DEFAULT_MARGIN_DAYS: i64 = 90;

pub fn margin_days(days: i64) -> Duration {
    Duration::days(days.max(1))
}
