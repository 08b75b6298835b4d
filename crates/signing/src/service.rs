//! The signing workflow service: every step goes through `companion_domain::workflow::transition`
//! and a conditional state update, and leaves an audit entry and a domain event. Approval is
//! followed at once by the QR stamp (a new document version); signing is followed at once by
//! publication. Signing runs as a durable job (`crate::batch`); the signer is the local
//! certificate or BSrE (`crate::signer::Signer`).

use std::sync::Arc;
use std::time::Duration;

use companion_db::{CaseChanges, Database, DbError, Document, SigningCase};
use companion_documents::{Actor, Documents, ImportError, ImportSource};
use companion_domain::Role;
use companion_domain::documents::DocumentKind;
use companion_domain::seal::{DateSource, Expiry, SealDates, SealedFacts, seal_url};
use companion_domain::workflow::{
    Action, Actor as WorkflowActor, DocState, WorkflowError, check_four_eyes, transition,
};
use companion_pdf::placement::Spot;
use companion_pdf::sign::{CmsSigner, SignatureInfo, prepare_signature_with_dss};
use companion_pdf::stamp::{FooterDrawn, Placement, Stamped, stamp_qr};

/// Shown to the official when the page had no free place for the QR stamp.
pub const STAMP_COVERS_CONTENT: &str = "Kode QR menutupi sebagian isi surat: halaman ini tidak memiliki ruang kosong di bagian bawah. Periksa pratinjau sebelum menandatangani; bila perlu, tolak dan minta surat dengan ruang untuk kode QR.";
use ed25519_dalek::SigningKey;

use crate::TsaClient;
use crate::bsre::{BsreAppearance, BsreError, BsreSignOptions};
use crate::passphrase::Passphrase;
use crate::signer::Signer;

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    #[error("not found")]
    NotFound,
    #[error("the document changed state meanwhile; reload and try again")]
    Conflict,
    #[error("the document already has a signing case")]
    AlreadySubmitted,
    #[error("document store: {0}")]
    Import(#[from] ImportError),
    #[error("stamping failed: {0}")]
    Stamp(String),
    /// The seal would state an unknown date: SICANTIK does not know it (asked at once) and the
    /// approving official has not entered or confirmed it.
    #[error("the permit's dates are unknown: {0:?}")]
    DatesUnknown(MissingDates),
    #[error("the entered dates are impossible: {0}")]
    DatesInvalid(&'static str),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error(transparent)]
    Bsre(#[from] BsreError),
    #[error("a passphrase is required")]
    NoPassphrase,
    #[error("the signer certificate has expired")]
    CertificateExpired,
    /// `keys revoke` revoked the local signer certificate (RFC 5280 reason name).
    #[error("the signer certificate was revoked ({0})")]
    CertificateRevoked(&'static str),
    #[error("the signing job is not yours")]
    NotYourBatch,
    #[error("nothing to sign: every selected document is already in a signing job or not ready")]
    NothingToSign,
    #[error("database: {0}")]
    Db(#[from] DbError),
}

impl SigningError {
    /// The message staff see.
    pub fn pesan(&self) -> String {
        match self {
            SigningError::Workflow(w) => w.pesan(),
            SigningError::NotFound => "Dokumen atau kasus penandatanganan tidak ditemukan.".into(),
            SigningError::Conflict => {
                "Status dokumen berubah sementara itu; muat ulang halaman lalu coba lagi.".into()
            }
            SigningError::AlreadySubmitted => "Dokumen ini sudah diajukan.".into(),
            SigningError::Import(e) => e.pesan(),
            SigningError::Stamp(detail) => format!("Kode QR tidak dapat dibubuhkan pada PDF ini ({detail}). Persetujuan tetap tercatat: bubuhkan ulang kode QR, atau kembalikan dokumen ke status menunggu persetujuan."),
            SigningError::DatesUnknown(m) => m.pesan(),
            SigningError::DatesInvalid(why) => format!("Tanggal yang diisi tidak mungkin: {why}."),
            SigningError::Sign(_) => "Penandatanganan gagal; coba lagi atau hubungi admin.".into(),
            SigningError::Bsre(b) => b.pesan(),
            SigningError::NoPassphrase => "Masukkan passphrase sertifikat elektronik Anda.".into(),
            SigningError::CertificateExpired => "Sertifikat penandatangan sudah berakhir; tanda tangan baru tidak akan sah. Hubungi admin.".into(),
            SigningError::CertificateRevoked(reason) => format!("Sertifikat penandatangan sudah dicabut (alasan: {reason}); tanda tangan baru tidak akan sah. Admin perlu membuat sertifikat baru (`keys upgrade`)."),
            SigningError::NotYourBatch => {
                "Pekerjaan tanda tangan ini milik pejabat lain; hanya dia yang dapat melanjutkannya.".into()
            }
            SigningError::NothingToSign => "Tidak ada dokumen yang dapat ditandatangani: semua yang dipilih sudah dalam antrean atau belum siap.".into(),
            SigningError::Db(_) => "Basis data sedang bermasalah; coba lagi nanti.".into(),
        }
    }
}

impl SigningError {
    /// The outcome is unknown: the document may have been signed elsewhere (BSrE) although no
    /// signed file came back. A person decides; nothing re-sends it on its own.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, SigningError::Bsre(b) if b.outcome_unknown())
    }

    /// A failure that is not about one document (passphrase, certificate, service, database):
    /// a batch stops instead of failing every document the same way.
    pub fn stops_batch(&self) -> bool {
        match self {
            SigningError::Bsre(b) => {
                !b.outcome_unknown() && !matches!(b, BsreError::Rejected { .. })
            }
            SigningError::NoPassphrase
            | SigningError::CertificateExpired
            | SigningError::CertificateRevoked(_)
            | SigningError::Db(_) => true,
            _ => false,
        }
    }
}

/// Which of the dates a seal states are unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingDates {
    pub issue: bool,
    pub expiry: bool,
}

impl MissingDates {
    pub fn pesan(&self) -> String {
        let what = match (self.issue, self.expiry) {
            (true, true) => "Tanggal terbit dan masa berlaku",
            (true, false) => "Tanggal terbit",
            _ => "Masa berlaku",
        };
        format!(
            "{what} izin ini belum diketahui (SICANTIK tidak memberikannya). Kode QR tidak boleh memuat tanggal kosong: isi tanggalnya, atau pilih \"tanpa masa berlaku\" bila izin ini memang tidak berakhir, lalu setujui lagi."
        )
    }
}

/// What the approving official enters for dates SICANTIK does not know (audited). Ignored for
/// a date SICANTIK knows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateConfirmation {
    pub issue_date: Option<chrono::NaiveDate>,
    pub expiry: Option<Expiry>,
}

/// Leases and alarms of the durable signing jobs.
#[derive(Debug, Clone, Copy)]
pub struct JobTimings {
    /// A worker renews its batch's lease this often ÷ 3; a running batch whose lease ran out lost
    /// its worker (`SIGNING_LEASE_SECONDS`, default 30).
    pub lease: Duration,
    /// A document signing longer than this raises the alarm (`SIGNING_STALL_SECONDS`, default 180).
    pub stall_after: Duration,
}

impl Default for JobTimings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            stall_after: Duration::from_secs(180),
        }
    }
}

/// Who acts: the account (for the audit trail) and its role (for the workflow).
#[derive(Debug, Clone)]
pub struct Participant {
    pub actor: Actor,
    pub role: Role,
    /// The name printed in the signature (officials).
    pub display_name: String,
}

#[derive(Clone)]
pub struct SigningConfig {
    /// `PUBLIC_BASE_URL`: the QR points to `<base>/v/<verification id>`.
    pub public_base_url: String,
    pub placement: Placement,
    pub location: String,
    /// `TSA_URL`; without it signatures are B-B.
    pub tsa: Option<TsaClient>,
    /// The visible signature box's role line (`SIGNATURE_ROLE`); `None` signs invisibly
    /// (`SIGNATURE_VISIBLE=false`).
    pub visible_role: Option<String>,
    /// The office's offset from UTC, for the signing time shown (`TZ_OFFICE`; WIB is +7 h).
    pub utc_offset: chrono::FixedOffset,
}

/// The service. Cheap to clone.
#[derive(Clone)]
pub struct SigningService {
    pub(crate) db: Database,
    pub(crate) documents: Documents,
    pub(crate) signer: Signer,
    seal: Arc<SigningKey>,
    pub(crate) config: SigningConfig,
    pub(crate) timings: JobTimings,
    /// `SIGNATURE_LEVEL` above B-T (issue 20): the DSS and document timestamp layers.
    pub(crate) long_term: Option<Arc<crate::ltv::LongTerm>>,
    /// Asked at approval for a permit whose dates are unknown (`cekperizinan`, rate-limited).
    sicantik: Option<companion_sicantik::SicantikClient>,
    /// How long before the last timestamp's TSA certificate ends its archive timestamp is
    /// renewed (`ARCHIVE_RENEWAL_MARGIN_DAYS`).
    pub(crate) archive_margin: chrono::Duration,
    /// The standard TTE footer stamped with the QR (`companion_domain::footer`).
    footer: Option<String>,
}

impl std::fmt::Debug for SigningService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningService")
            .field("signer", &self.signer)
            .field("timestamps", &self.config.tsa.is_some())
            .finish_non_exhaustive()
    }
}

fn new_verification_id() -> String {
    // 12 characters from an alphabet without look-alikes: 59 bits, not guessable.
    const ALPHABET: &[u8] = b"ACDEFGHJKLMNPQRTUVWXY346789";
    (0..12)
        .map(|_| ALPHABET[rand::random::<usize>() % ALPHABET.len()] as char)
        .collect()
}

impl SigningService {
    pub fn new(
        db: Database,
        documents: Documents,
        signer: impl Into<Signer>,
        seal: SigningKey,
        config: SigningConfig,
    ) -> Self {
        Self {
            db,
            documents,
            signer: signer.into(),
            seal: Arc::new(seal),
            config,
            timings: JobTimings::default(),
            long_term: None,
            sicantik: None,
            archive_margin: crate::archive::margin_days(crate::archive::DEFAULT_MARGIN_DAYS),
            footer: None,
        }
    }

    /// Renews archive timestamps `days` before the TSA certificate of a file's last timestamp
    /// ends.
    /// Stamps `footer` (the TTE footer's text) with every QR, where the page has room.
    pub fn with_footer(mut self, footer: Option<String>) -> Self {
        self.footer = footer;
        self
    }

    pub fn with_archive_margin_days(mut self, days: i64) -> Self {
        self.archive_margin = crate::archive::margin_days(days);
        self
    }

    /// Approval looks up a permit's unknown dates at SICANTIK through `client` (share the
    /// scheduler's client: one rate limit).
    pub fn with_sicantik(mut self, client: companion_sicantik::SicantikClient) -> Self {
        self.sicantik = Some(client);
        self
    }

    pub fn with_timings(mut self, timings: JobTimings) -> Self {
        self.timings = timings;
        self
    }

    /// Signs up to `long_term.level` (B-LT, B-LTA) instead of B-T.
    pub fn with_long_term(mut self, long_term: crate::ltv::LongTerm) -> Self {
        self.long_term = Some(Arc::new(long_term));
        self
    }

    pub fn timings(&self) -> JobTimings {
        self.timings
    }

    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The local signer certificate's subject and end of validity (shown to staff, warned
    /// about); `None` for BSrE, whose certificates are per official.
    pub fn signer_certificate(&self) -> Option<(String, chrono::DateTime<chrono::Utc>)> {
        match &self.signer {
            Signer::Local(id) => Some((
                id.certificate.tbs_certificate.subject.to_string(),
                id.not_after().into(),
            )),
            Signer::Bsre(_) => None,
        }
    }

    /// Whether timestamps are configured (B-T) or not (B-B).
    pub fn timestamps(&self) -> bool {
        self.config.tsa.is_some()
    }

    pub fn seal_public(&self) -> ed25519_dalek::VerifyingKey {
        self.seal.verifying_key()
    }

    pub(crate) async fn case(&self, id: i64) -> Result<SigningCase, SigningError> {
        self.db
            .get_signing_case(id)
            .await?
            .ok_or(SigningError::NotFound)
    }

    pub(crate) async fn document(&self, id: Option<i64>) -> Result<Document, SigningError> {
        let id = id.ok_or(SigningError::NotFound)?;
        self.db
            .get_document(id)
            .await?
            .ok_or(SigningError::NotFound)
    }

    /// Applies `action` to the case, with `changes`, recording the audit entry.
    pub(crate) async fn step(
        &self,
        case: &SigningCase,
        action: Action,
        who: WorkflowActor,
        audit_actor: &Actor,
        reason: Option<&str>,
        changes: CaseChanges,
    ) -> Result<SigningCase, SigningError> {
        let from = DocState::parse(&case.state).ok_or_else(|| DbError::Corrupt {
            column: "signing_cases.state",
            detail: case.state.clone(),
        })?;
        let to = transition(from, action, who, reason)?;
        if let WorkflowActor::User(_) = who {
            check_four_eyes(action, case.submitted_by.as_deref(), &audit_actor.name)?;
        }
        let moved = self
            .db
            .transition_signing_case(
                case.id,
                from.as_str(),
                to.as_str(),
                &changes,
                &case.pendaftaran_id,
                &serde_json::json!({"case_id": case.id, "from": from.as_str(), "action": action.as_str(), "reason": reason}),
            )
            .await?;
        if !moved {
            return Err(SigningError::Conflict);
        }
        self.db
            .append_audit(&audit_actor.record(
                &format!("document.{}", action.as_str()),
                Some(("permit", case.pendaftaran_id.clone())),
                serde_json::json!({"case_id": case.id, "from": from.as_str(), "to": to.as_str(), "reason": reason}),
            ))
            .await?;
        self.case(case.id).await
    }

    /// A step taken by a person on case `case_id`.
    async fn user_step(
        &self,
        case_id: i64,
        action: Action,
        who: &Participant,
        reason: Option<&str>,
        changes: CaseChanges,
    ) -> Result<SigningCase, SigningError> {
        let case = self.case(case_id).await?;
        self.step(
            &case,
            action,
            WorkflowActor::User(who.role),
            &who.actor,
            reason,
            changes,
        )
        .await
    }

    /// Staff submit an imported original for approval.
    pub async fn submit(
        &self,
        document_id: i64,
        who: &Participant,
    ) -> Result<SigningCase, SigningError> {
        let doc = self.document(Some(document_id)).await?;
        if doc.kind != DocumentKind::Original.as_str() {
            return Err(WorkflowError::Illegal {
                from: DocState::Stamped,
                action: Action::Submit,
            }
            .into());
        }
        transition(
            DocState::Imported,
            Action::Submit,
            WorkflowActor::User(who.role),
            None,
        )?;
        let case = self
            .db
            .create_signing_case(
                &doc.pendaftaran_id,
                doc.id,
                &new_verification_id(),
                DocState::Submitted.as_str(),
                &who.actor.name,
            )
            .await
            .map_err(|e| match e {
                DbError::Duplicate(_) => SigningError::AlreadySubmitted,
                other => other.into(),
            })?;
        self.db
            .append_audit(&who.actor.record(
                "document.submit",
                Some(("permit", doc.pendaftaran_id.clone())),
                serde_json::json!({"case_id": case.id, "document_id": doc.id}),
            ))
            .await?;
        Ok(case)
    }

    /// A rejected case goes back for approval (after staff fixed what was wrong).
    pub async fn resubmit(
        &self,
        case_id: i64,
        who: &Participant,
    ) -> Result<SigningCase, SigningError> {
        let changes = CaseChanges {
            submitted_by: Some(who.actor.name.clone()),
            ..Default::default()
        };
        self.user_step(case_id, Action::Submit, who, None, changes)
            .await
    }

    /// An official approves; the QR stamp follows at once. See [`SigningService::approve_with`].
    pub async fn approve(
        &self,
        case_id: i64,
        who: &Participant,
    ) -> Result<SigningCase, SigningError> {
        self.approve_with(case_id, who, DateConfirmation::default())
            .await
    }

    /// An official approves, with the dates they entered for what SICANTIK does not know; the
    /// QR stamp follows at once. The seal's dates are fixed here: a permit without issue or
    /// expiry date is looked up at SICANTIK first, and what is still unknown must be entered
    /// (or "no expiry" confirmed), else nothing changes ([`SigningError::DatesUnknown`]). A
    /// failed stamp leaves the case approved with its error shown ([`SigningService::restamp`],
    /// [`SigningService::return_to_submitted`]).
    pub async fn approve_with(
        &self,
        case_id: i64,
        who: &Participant,
        confirm: DateConfirmation,
    ) -> Result<SigningCase, SigningError> {
        let case = self.case(case_id).await?;
        // Refused steps are refused before SICANTIK is asked anything.
        let from = DocState::parse(&case.state).unwrap_or(DocState::Imported);
        transition(from, Action::Approve, WorkflowActor::User(who.role), None)?;
        check_four_eyes(
            Action::Approve,
            case.submitted_by.as_deref(),
            &who.actor.name,
        )?;
        let dates = self.seal_dates(&case, who, confirm).await?;
        let changes = CaseChanges {
            decided_by: Some(who.actor.name.clone()),
            sealed_dates: Some(
                serde_json::to_string(&dates).map_err(|e| SigningError::Stamp(e.to_string()))?,
            ),
            signing_error: Some(None),
            ..Default::default()
        };
        let approved = self
            .step(
                &case,
                Action::Approve,
                WorkflowActor::User(who.role),
                &who.actor,
                None,
                changes,
            )
            .await?;
        if let DateSource::Official { .. } = dates.source {
            self.db
                .append_audit(&who.actor.record(
                    "document.dates_confirmed",
                    Some(("permit", case.pendaftaran_id.clone())),
                    serde_json::json!({"case_id": case.id, "issue_date": dates.issue_date, "expiry": dates.expiry}),
                ))
                .await?;
        }
        self.stamp(&approved).await
    }

    /// The dates the seal will state: SICANTIK's (asked now when the permit lacks one), else
    /// what the official entered.
    async fn seal_dates(
        &self,
        case: &SigningCase,
        who: &Participant,
        confirm: DateConfirmation,
    ) -> Result<SealDates, SigningError> {
        let mut permit = self
            .db
            .get_permit(&case.pendaftaran_id)
            .await?
            .ok_or(SigningError::NotFound)?;
        if (permit.issue_date.is_none() || permit.expiry_date.is_none())
            && let (Some(client), Some(number)) = (&self.sicantik, permit.permit_number.clone())
        {
            {
                let task = companion_db::ExpiryTask {
                    pendaftaran_id: permit.pendaftaran_id.clone(),
                    permit_number: number,
                    expiry_attempts: permit.expiry_attempts,
                };
                let asked = tokio::time::timeout(
                    Duration::from_secs(20),
                    companion_sicantik::expiry::look_up_now(client, &self.db, task),
                )
                .await;
                match asked {
                    Ok(Ok(status)) => tracing::info!(
                        case = case.id,
                        status = status.as_str(),
                        "dates looked up at approval"
                    ),
                    Ok(Err(e)) => {
                        tracing::warn!(case = case.id, error = %e, "could not record the look-up at approval")
                    }
                    Err(_) => tracing::warn!(
                        case = case.id,
                        "SICANTIK did not answer the look-up at approval in time"
                    ),
                }
                if let Some(p) = self.db.get_permit(&case.pendaftaran_id).await? {
                    permit = p;
                }
            }
        }
        let from_sicantik = permit.issue_date.is_some() && permit.expiry_date.is_some();
        let issue = permit.issue_date.or(confirm.issue_date);
        let expiry = permit.expiry_date.map(Expiry::Until).or(confirm.expiry);
        let (Some(issue_date), Some(expiry)) = (issue, expiry) else {
            return Err(SigningError::DatesUnknown(MissingDates {
                issue: issue.is_none(),
                expiry: expiry.is_none(),
            }));
        };
        if let Expiry::Until(end) = expiry
            && end <= issue_date
        {
            return Err(SigningError::DatesInvalid(
                "masa berlaku harus berakhir sesudah tanggal terbit",
            ));
        }
        Ok(SealDates {
            issue_date,
            expiry,
            source: if from_sicantik {
                DateSource::Sicantik
            } else {
                DateSource::Official {
                    by: who.actor.name.clone(),
                }
            },
        })
    }

    /// An official has an approved case whose stamp failed stamped again.
    pub async fn restamp(
        &self,
        case_id: i64,
        who: &Participant,
    ) -> Result<SigningCase, SigningError> {
        let case = self.case(case_id).await?;
        if !WorkflowActor::User(who.role).may(Action::Approve) {
            return Err(WorkflowError::NotAllowed(Action::Stamp).into());
        }
        let from = DocState::parse(&case.state).unwrap_or(DocState::Imported);
        if from != DocState::Approved {
            return Err(WorkflowError::Illegal {
                from,
                action: Action::Stamp,
            }
            .into());
        }
        self.db
            .append_audit(&who.actor.record(
                "document.restamp",
                Some(("permit", case.pendaftaran_id.clone())),
                serde_json::json!({"case_id": case.id, "after_error": case.signing_error}),
            ))
            .await?;
        self.stamp(&case).await
    }

    /// An approved case (whose stamp failed) goes back to "waiting for approval", with a reason.
    pub async fn return_to_submitted(
        &self,
        case_id: i64,
        who: &Participant,
        reason: &str,
    ) -> Result<SigningCase, SigningError> {
        let changes = CaseChanges {
            reason: Some(reason.trim().to_string()),
            signing_error: Some(None),
            ..Default::default()
        };
        self.user_step(case_id, Action::Return, who, Some(reason), changes)
            .await
    }

    /// Stamps every case left approved but not stamped (a crash or restart between approval and
    /// stamping; called at server start). Returns (stamped, failed); failures stay on their case.
    pub async fn resume_stamping(&self) -> Result<(usize, usize), SigningError> {
        let cases = self
            .db
            .signing_cases_in(DocState::Approved.as_str(), 1000)
            .await?;
        let (mut stamped, mut failed) = (0, 0);
        for case in cases {
            match self.stamp(&case).await {
                Ok(_) => stamped += 1,
                // Another instance stamped it meanwhile.
                Err(SigningError::Conflict) => {}
                Err(e) => {
                    failed += 1;
                    tracing::warn!(case = case.id, error = %e, "an interrupted case could not be stamped");
                }
            }
        }
        Ok((stamped, failed))
    }

    pub async fn reject(
        &self,
        case_id: i64,
        who: &Participant,
        reason: &str,
    ) -> Result<SigningCase, SigningError> {
        let changes = CaseChanges {
            decided_by: Some(who.actor.name.clone()),
            reason: Some(reason.trim().to_string()),
            ..Default::default()
        };
        self.user_step(case_id, Action::Reject, who, Some(reason), changes)
            .await
    }

    /// The QR stamp (system step after approval): a new document version, then `stamped`.
    /// Also resumes an approved case whose stamping was interrupted. A failure is recorded on
    /// the case (it stays approved, the error shown) and returned.
    pub async fn stamp(&self, case: &SigningCase) -> Result<SigningCase, SigningError> {
        match self.stamp_inner(case).await {
            Ok(c) => Ok(c),
            Err(SigningError::Conflict) => Err(SigningError::Conflict),
            Err(e) => {
                crate::telemetry::record_failure(&e);
                tracing::warn!(case = case.id, error = %e, "stamping failed; the case stays approved");
                let _ = self.db.set_signing_error(case.id, Some(&e.pesan())).await;
                let _ = self
                    .db
                    .append_audit(&Actor::system("signing").record(
                        "document.stamp_failed",
                        Some(("permit", case.pendaftaran_id.clone())),
                        serde_json::json!({"case_id": case.id, "error": e.to_string()}),
                    ))
                    .await;
                Err(e)
            }
        }
    }

    async fn stamp_inner(&self, case: &SigningCase) -> Result<SigningCase, SigningError> {
        let original = self.document(Some(case.original_document_id)).await?;
        let permit = self
            .db
            .get_permit(&case.pendaftaran_id)
            .await?
            .ok_or(SigningError::NotFound)?;
        let dates: SealDates = match case.sealed_dates.as_deref() {
            Some(json) => serde_json::from_str(json).map_err(|_| DbError::Corrupt {
                column: "signing_cases.sealed_dates",
                detail: json.chars().take(200).collect(),
            })?,
            // Approved before the dates were fixed at approval: SICANTIK's, when both known.
            None => match (permit.issue_date, permit.expiry_date) {
                (Some(issue_date), Some(end)) => SealDates {
                    issue_date,
                    expiry: Expiry::Until(end),
                    source: DateSource::Sicantik,
                },
                (issue, end) => {
                    return Err(SigningError::DatesUnknown(MissingDates {
                        issue: issue.is_none(),
                        expiry: end.is_none(),
                    }));
                }
            },
        };
        // Never an empty fact in a seal.
        let filled = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        let (Some(number), Some(holder)) = (
            filled(&permit.permit_number),
            filled(&permit.applicant_name),
        ) else {
            return Err(SigningError::Stamp(
                "nomor izin atau nama pemegang kosong di data SICANTIK".into(),
            ));
        };
        let permit_type = filled(&permit.permit_type_name).unwrap_or_else(|| "—".into());
        let facts = SealedFacts::new(&number, &holder, &permit_type, &dates);
        let text = seal_url(
            &self.seal,
            &self.config.public_base_url,
            &case.verification_id,
            &facts,
        );
        let bytes = self
            .documents
            .storage()
            .get_bytes(&original.storage_key)
            .await
            .map_err(|e| SigningError::Import(ImportError::Storage(e)))?;
        let placement = self.config.placement.clone();
        let qr_text = text.clone();
        // The code under the QR, so the portal's check works by typing it too.
        let portal = self.config.public_base_url.trim_end_matches('/');
        let host = portal.split_once("://").map_or(portal, |(_, h)| h);
        let caption = format!(
            "Pindai untuk memeriksa keaslian dokumen\nKode verifikasi: {}\natau ketik kodenya di {host}/periksa",
            case.verification_id
        );
        let footer = self.footer.clone();
        let Stamped {
            pdf: stamped,
            spot,
            footer_drawn,
        } = tokio::task::spawn_blocking(move || {
            stamp_qr(&bytes, &text, &caption, footer.as_deref(), &placement)
        })
        .await
        .map_err(|e| SigningError::Stamp(e.to_string()))?
        .map_err(|e| SigningError::Stamp(e.to_string()))?;
        if self.footer.is_some() && footer_drawn != FooterDrawn::Whole {
            tracing::info!(
                case_id = case.id,
                ?footer_drawn,
                "TTE footer shortened or left out: no room on the page"
            );
        }
        let stamp_warning = match spot {
            Spot::Configured { .. } => None,
            Spot::Moved { x, y } => {
                tracing::info!(
                    case_id = case.id,
                    x,
                    y,
                    "QR stamp moved to free space on the page"
                );
                None
            }
            Spot::Covering { x, y } => {
                tracing::warn!(
                    case_id = case.id,
                    x,
                    y,
                    "QR stamp covers the letter's content: no free space on the page"
                );
                Some(STAMP_COVERS_CONTENT.to_string())
            }
        };
        let system = Actor::system("signing");
        let doc = self
            .documents
            .import(
                &case.pendaftaran_id,
                stamped.into(),
                original.original_name.as_deref(),
                DocumentKind::Stamped,
                ImportSource::Signing,
                &system,
            )
            .await?
            .document;
        self.step(
            case,
            Action::Stamp,
            WorkflowActor::System,
            &system,
            None,
            CaseChanges {
                stamped_document_id: Some(doc.id),
                qr_text: Some(qr_text),
                signing_error: Some(None),
                stamp_warning: Some(stamp_warning),
                ..Default::default()
            },
        )
        .await
    }

    /// An official signs one stamped case now (local signer, no passphrase): a signing job of
    /// one document, waited for. See [`SigningService::sign_now`].
    pub async fn sign(&self, case_id: i64, who: &Participant) -> Result<SigningCase, SigningError> {
        self.sign_now(case_id, who, None).await
    }

    /// Signs one case inside a job item (the caller holds the item in state `signing`). The
    /// case shows as signed only once its signed file is stored; publication follows at once. A
    /// failure is recorded on the case (it stays `stamped`) and returned.
    pub(crate) async fn sign_case(
        &self,
        case: &SigningCase,
        who: &Participant,
        passphrase: Option<&Passphrase>,
    ) -> Result<SigningCase, SigningError> {
        let from = DocState::parse(&case.state).unwrap_or(DocState::Imported);
        transition(from, Action::Sign, WorkflowActor::User(who.role), None)?;
        match self.sign_inner(case, who, passphrase).await {
            Ok(c) => Ok(c),
            Err(e) => {
                crate::telemetry::record_failure(&e);
                let _ = self.db.set_signing_error(case.id, Some(&e.pesan())).await;
                Err(e)
            }
        }
    }

    /// The signed bytes of `stamped` and whether they carry a timestamp.
    async fn signed_bytes(
        &self,
        bytes: Vec<u8>,
        case: &SigningCase,
        who: &Participant,
        passphrase: Option<&Passphrase>,
    ) -> Result<(Vec<u8>, bool), SigningError> {
        let time = chrono::Utc::now().with_timezone(&self.config.utc_offset);
        let visible = self
            .config
            .visible_role
            .as_deref()
            .map(companion_pdf::sign::VisibleSignature::bottom_right);
        match &self.signer {
            Signer::Local(identity) => {
                // Never a signature with a revoked certificate (checked per document: a
                // revocation during a batch stops it).
                crate::pki::refuse_revoked(&self.db, identity).await?;
                let info = SignatureInfo {
                    name: who.display_name.clone(),
                    reason: "Penerbitan surat izin".into(),
                    location: self.config.location.clone(),
                    time,
                    visible,
                };
                let identity = identity.clone();
                let chain = identity
                    .chain_der()
                    .map_err(|e| SigningError::Sign(e.to_string()))?;
                let (prepared, cms) = tokio::task::spawn_blocking(move || {
                    // The chain goes into the file's DSS (LTV), covered by the signature.
                    let prepared = prepare_signature_with_dss(&bytes, 1, &info, &chain)?;
                    let cms = identity.sign_digest(&prepared.digest)?;
                    Ok::<_, companion_pdf::sign::SignError>((prepared, cms))
                })
                .await
                .map_err(|e| SigningError::Sign(e.to_string()))?
                .map_err(|e| SigningError::Sign(e.to_string()))?;
                let (cms, timestamped) = match &self.config.tsa {
                    Some(tsa) => match tsa.timestamp(&cms).await {
                        Ok(with_token) => (with_token, true),
                        Err(e) => {
                            // Still valid without a timestamp (B-B); the case says so.
                            tracing::warn!(case = case.id, error = %e, "no timestamp: the signature is B-B");
                            (cms, false)
                        }
                    },
                    None => (cms, false),
                };
                let signed = prepared
                    .finish(&cms)
                    .map_err(|e| SigningError::Sign(e.to_string()))?;
                Ok((signed, timestamped))
            }
            Signer::Bsre(client) => {
                let passphrase = passphrase
                    .filter(|p| !p.is_empty())
                    .ok_or(SigningError::NoPassphrase)?;
                let user_id = who.actor.user_id.ok_or(BsreError::NoNik)?;
                let nik = self.db.user_nik(user_id).await?.ok_or(BsreError::NoNik)?;
                let options = BsreSignOptions {
                    visible: visible.map(|v| BsreAppearance {
                        page: 1,
                        rect: [
                            v.rect[0],
                            v.rect[1],
                            v.rect[2] - v.rect[0],
                            v.rect[3] - v.rect[1],
                        ],
                    }),
                    reason: "Penerbitan surat izin".into(),
                    location: self.config.location.clone(),
                    image_png: crate::specimen::qr_png(&format!(
                        "{}/v/{}",
                        self.config.public_base_url, case.verification_id
                    )),
                };
                let signed = client.sign(bytes, &nik, passphrase, &options).await?;
                // BSrE's signatures carry the BSSN timestamp (spec §5).
                Ok((signed, true))
            }
        }
    }

    async fn sign_inner(
        &self,
        case: &SigningCase,
        who: &Participant,
        passphrase: Option<&Passphrase>,
    ) -> Result<SigningCase, SigningError> {
        let stamped = self.document(case.stamped_document_id).await?;
        let bytes = self
            .documents
            .storage()
            .get_bytes(&stamped.storage_key)
            .await
            .map_err(|e| SigningError::Import(ImportError::Storage(e)))?;
        let (signed, timestamped) = self
            .signed_bytes(bytes.to_vec(), case, who, passphrase)
            .await?;
        let signed = self.long_term_layers(signed, timestamped, case.id).await;
        // The import checks the returned file like any other (a readable, unencrypted PDF).
        let doc = self
            .documents
            .import(
                &case.pendaftaran_id,
                signed.into(),
                stamped.original_name.as_deref(),
                DocumentKind::Signed,
                ImportSource::Signing,
                &who.actor,
            )
            .await?
            .document;
        self.complete_signing(case, who, doc.id, timestamped).await
    }

    /// The stored signed file `signed_document_id` becomes the case's: signed, then published.
    pub(crate) async fn complete_signing(
        &self,
        case: &SigningCase,
        who: &Participant,
        signed_document_id: i64,
        timestamped: bool,
    ) -> Result<SigningCase, SigningError> {
        let signed_case = self
            .step(
                case,
                Action::Sign,
                WorkflowActor::User(who.role),
                &who.actor,
                None,
                CaseChanges {
                    signed_document_id: Some(signed_document_id),
                    signer_name: Some(who.display_name.clone()),
                    timestamped: Some(timestamped),
                    signing_error: Some(None),
                    ..Default::default()
                },
            )
            .await?;
        metrics::counter!("companion_documents_signed_total").increment(1);
        let published = self
            .step(
                &signed_case,
                Action::Publish,
                WorkflowActor::System,
                &Actor::system("signing"),
                None,
                CaseChanges::default(),
            )
            .await?;
        // Its level and first archive renewal date, at once (the renewal job would find it too).
        if let Ok(doc) = self.document(Some(signed_document_id)).await
            && let Ok(bytes) = self.documents.storage().get_bytes(&doc.storage_key).await
        {
            self.schedule_archive(&published, &bytes).await;
        }
        Ok(published)
    }

    pub async fn revoke(
        &self,
        case_id: i64,
        who: &Participant,
        reason: &str,
    ) -> Result<SigningCase, SigningError> {
        let changes = CaseChanges {
            reason: Some(reason.trim().to_string()),
            revoked_by: Some(who.actor.name.clone()),
            ..Default::default()
        };
        let revoked = self
            .user_step(case_id, Action::Revoke, who, Some(reason), changes)
            .await?;
        // Every applicant link to the case's files ends with it (they are refused on use even
        // if this step did not run; marking them shows it to staff and in the trail).
        let links = self
            .db
            .revoke_links_of_case(revoked.id, &who.actor.name)
            .await?;
        if !links.is_empty() {
            self.db
                .append_audit(&who.actor.record(
                    "document.link_revoke",
                    Some(("permit", revoked.pendaftaran_id.clone())),
                    serde_json::json!({"case_id": revoked.id, "link_ids": links, "because": "document.revoke"}),
                ))
                .await?;
        }
        Ok(revoked)
    }
}
