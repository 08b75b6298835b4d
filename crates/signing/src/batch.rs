//! Signing as a durable job. An official picks cases (one, many, or all ready) and types the
//! passphrase once; a background worker signs them one by one, each item moving queued →
//! signing → signed | failed | attention. The passphrase lives only in the worker's memory.
//!
//! Crash safety: the worker renews its batch's lease; a running batch whose lease ran out lost
//! its worker. Recovery then settles each item caught in `signing`:
//! - the case is already signed, or its signed file was stored but not yet recorded → adopt it;
//! - the local signer was used → back to the queue (nothing left the process);
//! - BSrE was used → `attention`: the request may have reached BSrE, so a person decides.
//!
//! and pauses the batch until its official resumes it with the passphrase again.

use std::time::Duration;

use companion_db::{BatchItem, SigningBatch, SigningCase};
use companion_documents::Actor;
use companion_domain::Role;
use companion_domain::workflow::{Action, Actor as WorkflowActor, DocState, transition};
use tokio::task::JoinHandle;

use crate::bsre::BsreError;
use crate::passphrase::Passphrase;
use crate::service::{Participant, SigningError, SigningService};
use crate::signer::Signer;

/// The errors of a worker's run, per case (the items carry the same reasons as text).
pub type BatchErrors = Vec<(i64, SigningError)>;

const INTERRUPTED_NOTE: &str = "Proses penandatanganan terhenti (server berhenti atau dimulai ulang). Masukkan passphrase untuk melanjutkan.";
const UNKNOWN_AFTER_CRASH: &str = "Proses berhenti saat permintaan ke BSrE mungkin sudah terkirim; hasilnya tidak diketahui. Periksa, lalu pilih \"Tandatangani ulang\" bila dokumen belum bertanda tangan.";

fn lease_until(lease: Duration) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30))
}

fn already_signed(case: &SigningCase) -> bool {
    matches!(
        DocState::parse(&case.state),
        Some(DocState::Signed | DocState::Published | DocState::Revoked)
    )
}

impl SigningService {
    /// Checks before any job starts: the role, and the signer's readiness (a valid local
    /// certificate; for BSrE a passphrase, the official's NIK and a usable user status).
    pub async fn check_ready(
        &self,
        who: &Participant,
        passphrase: Option<&Passphrase>,
    ) -> Result<(), SigningError> {
        transition(
            DocState::Stamped,
            Action::Sign,
            WorkflowActor::User(who.role),
            None,
        )?;
        let ready = self.signer_ready(who, passphrase).await;
        if let Err(e) = &ready {
            crate::telemetry::record_failure(e);
        }
        ready
    }

    async fn signer_ready(
        &self,
        who: &Participant,
        passphrase: Option<&Passphrase>,
    ) -> Result<(), SigningError> {
        match &self.signer {
            Signer::Local(identity) => {
                if identity.not_after() < std::time::SystemTime::now() {
                    return Err(SigningError::CertificateExpired);
                }
                crate::pki::refuse_revoked(self.db(), identity).await?;
            }
            Signer::Bsre(client) => {
                if passphrase.is_none_or(|p| p.is_empty()) {
                    return Err(SigningError::NoPassphrase);
                }
                let user_id = who.actor.user_id.ok_or(BsreError::NoNik)?;
                let nik = self.db().user_nik(user_id).await?.ok_or(BsreError::NoNik)?;
                // What BsreClient::ensure_usable checks, with the answer kept for the metric.
                let status = client.user_status(&nik).await;
                crate::telemetry::record_bsre_status(&who.actor.name, &status);
                let status = status?;
                if !status.eq_ignore_ascii_case("ISSUE") {
                    return Err(BsreError::CertificateNotUsable(status).into());
                }
            }
        }
        Ok(())
    }

    /// Starts a background job signing `case_ids` (in that order). Cases already in another
    /// unfinished job are left out.
    pub async fn start_batch(
        &self,
        case_ids: &[i64],
        who: &Participant,
        passphrase: Option<Passphrase>,
    ) -> Result<(SigningBatch, JoinHandle<BatchErrors>), SigningError> {
        self.check_ready(who, passphrase.as_ref()).await?;
        // Only cases that exist and are ready to sign; the rest are left out.
        let mut ready = Vec::with_capacity(case_ids.len());
        for id in case_ids {
            if let Some(case) = self.db().get_signing_case(*id).await?
                && DocState::parse(&case.state) == Some(DocState::Stamped)
                && !ready.contains(id)
            {
                ready.push(*id);
            }
        }
        let batch = self
            .db()
            .create_signing_batch(
                who.actor.user_id,
                &who.actor.name,
                &ready,
                lease_until(self.timings.lease),
            )
            .await?
            .ok_or(SigningError::NothingToSign)?;
        self.audit_batch(
            &who.actor,
            "signing.batch_start",
            batch.id,
            serde_json::json!({"documents": batch.total}),
        )
        .await?;
        let handle = self.spawn_worker(batch.id, who.clone(), passphrase);
        Ok((batch, handle))
    }

    /// Every stamped case, oldest first ("tandatangani semua yang siap").
    pub async fn ready_case_ids(&self, limit: i64) -> Result<Vec<i64>, SigningError> {
        Ok(self
            .db()
            .signing_cases_in(DocState::Stamped.as_str(), limit)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect())
    }

    /// The batch's official resumes a paused batch with the passphrase again.
    pub async fn resume_batch(
        &self,
        batch_id: i64,
        who: &Participant,
        passphrase: Option<Passphrase>,
    ) -> Result<(SigningBatch, JoinHandle<BatchErrors>), SigningError> {
        let batch = self.batch(batch_id).await?;
        if batch.official != who.actor.name {
            return Err(SigningError::NotYourBatch);
        }
        self.check_ready(who, passphrase.as_ref()).await?;
        if !self
            .db()
            .move_signing_batch(
                batch_id,
                "paused",
                "running",
                None,
                Some(lease_until(self.timings.lease)),
            )
            .await?
        {
            return Err(SigningError::Conflict);
        }
        self.audit_batch(
            &who.actor,
            "signing.batch_resume",
            batch_id,
            serde_json::json!({}),
        )
        .await?;
        let handle = self.spawn_worker(batch_id, who.clone(), passphrase);
        Ok((self.batch(batch_id).await?, handle))
    }

    /// Ends a paused batch: its queued documents go back to "ready to sign" (items `failed` with
    /// the reason "dibatalkan"); items needing attention stay for a person to settle.
    pub async fn cancel_batch(
        &self,
        batch_id: i64,
        who: &Participant,
    ) -> Result<SigningBatch, SigningError> {
        let batch = self.batch(batch_id).await?;
        if batch.official != who.actor.name && who.role != Role::Admin {
            return Err(SigningError::NotYourBatch);
        }
        if !self
            .db()
            .move_signing_batch(batch_id, "paused", "finished", batch.note.as_deref(), None)
            .await?
        {
            return Err(SigningError::Conflict);
        }
        for item in self.db().signing_batch_items(batch_id).await? {
            if item.state == "queued" {
                self.db()
                    .move_batch_item(
                        item.id,
                        "queued",
                        "failed",
                        Some(&format!("Dibatalkan oleh {}.", who.actor.name)),
                    )
                    .await?;
            }
        }
        self.audit_batch(
            &who.actor,
            "signing.batch_cancel",
            batch_id,
            serde_json::json!({}),
        )
        .await?;
        self.batch(batch_id).await
    }

    /// An official settles an item whose outcome was unknown by queueing it again, after checking
    /// that BSrE did not sign it. If its batch had ended it pauses, waiting for the passphrase.
    pub async fn retry_item(
        &self,
        item_id: i64,
        who: &Participant,
    ) -> Result<BatchItem, SigningError> {
        transition(
            DocState::Stamped,
            Action::Sign,
            WorkflowActor::User(who.role),
            None,
        )?;
        let item = self
            .db()
            .get_batch_item(item_id)
            .await?
            .ok_or(SigningError::NotFound)?;
        if !self
            .db()
            .move_batch_item(item_id, "attention", "queued", None)
            .await?
        {
            return Err(SigningError::Conflict);
        }
        self.db()
            .move_signing_batch(
                item.batch_id,
                "finished",
                "paused",
                Some("Dokumen dimasukkan lagi ke antrean; masukkan passphrase untuk melanjutkan."),
                None,
            )
            .await?;
        self.db()
            .append_audit(&who.actor.record(
                "signing.item_retry",
                Some(("permit", item.pendaftaran_id.clone())),
                serde_json::json!({"batch_id": item.batch_id, "item_id": item_id, "case_id": item.case_id, "previous_error": item.error}),
            ))
            .await?;
        self.db()
            .get_batch_item(item_id)
            .await?
            .ok_or(SigningError::NotFound)
    }

    /// An audit entry about a job (`details` gains the job's id).
    async fn audit_batch(
        &self,
        actor: &Actor,
        action: &str,
        batch_id: i64,
        mut details: serde_json::Value,
    ) -> Result<(), SigningError> {
        details["batch_id"] = batch_id.into();
        self.db()
            .append_audit(&actor.record(
                action,
                Some(("signing_batch", batch_id.to_string())),
                details,
            ))
            .await?;
        Ok(())
    }

    pub async fn batch(&self, batch_id: i64) -> Result<SigningBatch, SigningError> {
        self.db()
            .get_signing_batch(batch_id)
            .await?
            .ok_or(SigningError::NotFound)
    }

    /// Signs one case now: a job of one document, waited for. Refuses at once what the
    /// workflow refuses (role, state).
    pub async fn sign_now(
        &self,
        case_id: i64,
        who: &Participant,
        passphrase: Option<Passphrase>,
    ) -> Result<SigningCase, SigningError> {
        let case = self.case(case_id).await?;
        let from = DocState::parse(&case.state).unwrap_or(DocState::Imported);
        transition(from, Action::Sign, WorkflowActor::User(who.role), None)?;
        let (batch, handle) = self.start_batch(&[case_id], who, passphrase).await?;
        let errors = handle
            .await
            .map_err(|e| SigningError::Sign(format!("the signing job stopped: {e}")))?;
        if self.batch(batch.id).await?.state == "paused" {
            // A job of one that stopped (wrong passphrase, service down) is over: free the case.
            self.cancel_batch(batch.id, who).await?;
        }
        if let Some((_, e)) = errors.into_iter().next() {
            return Err(e);
        }
        let items = self.db().signing_batch_items(batch.id).await?;
        match items.first() {
            Some(item) if item.state == "signed" => self.case(case_id).await,
            Some(item) => Err(SigningError::Sign(
                item.error.clone().unwrap_or_else(|| item.state.clone()),
            )),
            None => Err(SigningError::NotFound),
        }
    }

    fn spawn_worker(
        &self,
        batch_id: i64,
        who: Participant,
        passphrase: Option<Passphrase>,
    ) -> JoinHandle<BatchErrors> {
        let service = self.clone();
        tokio::spawn(async move {
            let heartbeat = service.spawn_heartbeat(batch_id);
            let errors = service
                .run_batch(batch_id, &who, passphrase.as_ref())
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(batch = batch_id, error = %e, "signing job stopped");
                    vec![(0, e)]
                });
            heartbeat.abort();
            errors
        })
    }

    /// Renews the lease every third of it while the batch runs.
    fn spawn_heartbeat(&self, batch_id: i64) -> JoinHandle<()> {
        let db = self.db().clone();
        let lease = self.timings.lease;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                match db.renew_signing_batch(batch_id, lease_until(lease)).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => tracing::warn!(batch = batch_id, error = %e, "lease renewal failed"),
                }
            }
        })
    }

    async fn run_batch(
        &self,
        batch_id: i64,
        who: &Participant,
        passphrase: Option<&Passphrase>,
    ) -> Result<BatchErrors, SigningError> {
        let mut errors = Vec::new();
        loop {
            if self.batch(batch_id).await?.state != "running" {
                return Ok(errors);
            }
            let Some(item) = self.db().claim_batch_item(batch_id).await? else {
                self.db()
                    .move_signing_batch(batch_id, "running", "finished", None, None)
                    .await?;
                tracing::info!(batch = batch_id, "signing job finished");
                return Ok(errors);
            };
            let case = self.case(item.case_id).await?;
            if already_signed(&case) {
                self.publish_if_signed(&case).await?;
                self.db()
                    .move_batch_item(item.id, "signing", "signed", None)
                    .await?;
                continue;
            }
            match self.sign_case(&case, who, passphrase).await {
                Ok(_) => {
                    self.db()
                        .move_batch_item(item.id, "signing", "signed", None)
                        .await?;
                }
                Err(e) if e.outcome_unknown() => {
                    tracing::warn!(batch = batch_id, case = case.id, error = %e, "signing outcome unknown");
                    self.db()
                        .move_batch_item(item.id, "signing", "attention", Some(&e.pesan()))
                        .await?;
                    errors.push((case.id, e));
                }
                Err(e) if e.stops_batch() => {
                    // Not this document's fault: it goes back to the queue and the batch waits.
                    tracing::warn!(batch = batch_id, case = case.id, error = %e, "signing job paused");
                    self.db()
                        .move_batch_item(item.id, "signing", "queued", None)
                        .await?;
                    self.db()
                        .move_signing_batch(batch_id, "running", "paused", Some(&e.pesan()), None)
                        .await?;
                    errors.push((case.id, e));
                    return Ok(errors);
                }
                Err(e) => {
                    tracing::warn!(batch = batch_id, case = case.id, error = %e, "document not signed");
                    self.db()
                        .move_batch_item(item.id, "signing", "failed", Some(&e.pesan()))
                        .await?;
                    errors.push((case.id, e));
                }
            }
        }
    }

    /// Settles the jobs whose worker died (lease run out): see the module notes. Run at start-up
    /// and periodically; returns how many batches it paused.
    pub async fn recover_batches(&self) -> Result<usize, SigningError> {
        let orphaned = self
            .db()
            .orphaned_signing_batches(chrono::Utc::now())
            .await?;
        for batch_id in &orphaned {
            let batch = self.batch(*batch_id).await?;
            for item in self.db().signing_batch_items(*batch_id).await? {
                if item.state == "signing" {
                    self.recover_item(&batch, &item).await?;
                }
            }
            if self
                .db()
                .move_signing_batch(*batch_id, "running", "paused", Some(INTERRUPTED_NOTE), None)
                .await?
            {
                self.audit_batch(
                    &Actor::system("signing"),
                    "signing.batch_interrupted",
                    *batch_id,
                    serde_json::json!({}),
                )
                .await?;
                tracing::warn!(
                    batch = batch_id,
                    "a signing job lost its worker; paused until its official resumes it"
                );
            }
        }
        Ok(orphaned.len())
    }

    async fn recover_item(
        &self,
        batch: &SigningBatch,
        item: &BatchItem,
    ) -> Result<(), SigningError> {
        let case = self.case(item.case_id).await?;
        if already_signed(&case) {
            self.publish_if_signed(&case).await?;
            self.db()
                .move_batch_item(item.id, "signing", "signed", None)
                .await?;
            return Ok(());
        }
        let since = item.started_at.unwrap_or(batch.created_at);
        let stored = self
            .db()
            .unclaimed_signed_documents(&case.pendaftaran_id, since)
            .await?;
        if let Some(&document_id) = stored.first() {
            // The signed file was stored just before the worker died: adopt it, never re-sign.
            let who = self.batch_official(batch).await?;
            let timestamped = !self.signer.is_local() || self.config.tsa.is_some();
            self.complete_signing(&case, &who, document_id, timestamped)
                .await?;
            self.db()
                .move_batch_item(item.id, "signing", "signed", None)
                .await?;
        } else if self.signer.is_local() {
            self.db()
                .move_batch_item(item.id, "signing", "queued", None)
                .await?;
        } else {
            self.db()
                .move_batch_item(item.id, "signing", "attention", Some(UNKNOWN_AFTER_CRASH))
                .await?;
        }
        Ok(())
    }

    /// A case left `signed` (the process died between signing and publication) is published.
    async fn publish_if_signed(&self, case: &SigningCase) -> Result<(), SigningError> {
        if DocState::parse(&case.state) == Some(DocState::Signed) {
            self.step(
                case,
                Action::Publish,
                WorkflowActor::System,
                &Actor::system("signing"),
                None,
                companion_db::CaseChanges::default(),
            )
            .await?;
        }
        Ok(())
    }

    async fn batch_official(&self, batch: &SigningBatch) -> Result<Participant, SigningError> {
        let user = match batch.official_user_id {
            Some(id) => self.db().get_user(id).await?,
            None => None,
        };
        Ok(Participant {
            actor: Actor {
                user_id: batch.official_user_id,
                name: batch.official.clone(),
                source: "recovery".into(),
            },
            role: user.as_ref().map(|u| u.role).unwrap_or(Role::Official),
            display_name: user
                .map(|u| u.display_name)
                .unwrap_or_else(|| batch.official.clone()),
        })
    }

    /// For BSrE: every official with a NIK and their certificate's user status (`ISSUE` is
    /// usable), checked at start-up so an expired certificate shows before anyone tries to sign.
    pub async fn bsre_user_statuses(
        &self,
    ) -> Result<Vec<(String, Result<String, BsreError>)>, SigningError> {
        let Signer::Bsre(client) = &self.signer else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for user in self.db().list_users().await? {
            if user.role != Role::Official || user.disabled {
                continue;
            }
            if let Some(nik) = self.db().user_nik(user.id).await? {
                let status = client.user_status(&nik).await;
                crate::telemetry::record_bsre_status(&user.username, &status);
                out.push((user.username.clone(), status));
            }
        }
        Ok(out)
    }

    /// Items signing for longer than the stall limit: the alarm on the dashboard and `/tte`.
    pub async fn stalled_items(&self) -> Result<Vec<BatchItem>, SigningError> {
        let limit = chrono::Utc::now()
            - chrono::Duration::from_std(self.timings.stall_after)
                .unwrap_or(chrono::Duration::minutes(3));
        Ok(self
            .db()
            .batch_items_in("signing", 100)
            .await?
            .into_iter()
            .filter(|i| i.started_at.is_some_and(|t| t < limit))
            .collect())
    }
}
