//! Signing (TTE) in the staff application: a permit's cases with the steps the caller's role may
//! take, the queues page (waiting for approval, ready to sign, recent), and the form targets.
//! Every step goes through `SigningService`, which applies the workflow rules.

use axum::Form;
use axum::extract::State;
use axum::response::IntoResponse;
use companion_db::SigningCase;
use companion_domain::Permission;
use companion_domain::seal::Expiry;
use companion_domain::workflow::DocState;
use companion_signing::{BsreError, DateConfirmation, Participant, SigningError, SigningService};
use maud::{Markup, html};
use serde::Deserialize;

use super::account::Notice;
use super::{Client, Me, Nav, PageResult, layout, notice, notice_or_error};
use crate::api::{Path, Query};
use crate::auth::{ClientAddr, Principal};
use crate::{ApiError, AppState, Shared};

/// The signing service, or a 503 when the server runs without one.
pub fn service(state: &AppState) -> Result<&SigningService, ApiError> {
    state.signing.as_ref().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "signing_unavailable",
            "Penandatanganan belum dikonfigurasi di server ini (jalankan `keys init`).",
        )
    })
}

pub fn participant(me: &Principal, client: &ClientAddr) -> Participant {
    Participant {
        actor: crate::api::documents::actor(me, client),
        role: me.user.role,
        display_name: me.user.display_name.clone(),
    }
}

pub fn signing_error(e: SigningError) -> ApiError {
    use axum::http::StatusCode;
    if let SigningError::Workflow(w @ companion_domain::workflow::WorkflowError::OwnSubmission(_)) =
        &e
    {
        return ApiError::new(StatusCode::FORBIDDEN, w.code(), e.pesan());
    }
    let status = match &e {
        SigningError::Workflow(companion_domain::workflow::WorkflowError::NotAllowed(_)) => {
            StatusCode::FORBIDDEN
        }
        SigningError::Workflow(companion_domain::workflow::WorkflowError::ReasonRequired) => {
            StatusCode::BAD_REQUEST
        }
        SigningError::Workflow(_) | SigningError::Conflict | SigningError::AlreadySubmitted => {
            StatusCode::CONFLICT
        }
        SigningError::NotFound => StatusCode::NOT_FOUND,
        SigningError::NotYourBatch => StatusCode::FORBIDDEN,
        SigningError::NoPassphrase => StatusCode::BAD_REQUEST,
        SigningError::DatesUnknown(_) => {
            return ApiError::new(StatusCode::CONFLICT, "dates_unknown", e.pesan());
        }
        SigningError::DatesInvalid(_) => {
            return ApiError::new(StatusCode::BAD_REQUEST, "dates_invalid", e.pesan());
        }
        // The approval stands; the case shows the error and the ways forward.
        SigningError::Stamp(_) => {
            tracing::warn!(error = %e, "stamping failed");
            return ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "stamp_failed", e.pesan());
        }
        SigningError::NothingToSign
        | SigningError::CertificateExpired
        | SigningError::CertificateRevoked(_) => StatusCode::CONFLICT,
        SigningError::Bsre(
            BsreError::Unavailable(_) | BsreError::UnknownOutcome(_) | BsreError::ClientCredentials,
        ) => {
            tracing::warn!(error = %e, "BSrE call failed");
            StatusCode::BAD_GATEWAY
        }
        SigningError::Bsre(_) => StatusCode::UNPROCESSABLE_ENTITY,
        SigningError::Import(i) if i.is_user_error() => StatusCode::UNPROCESSABLE_ENTITY,
        other => {
            tracing::error!(error = %other, "signing step failed");
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    ApiError::new(status, "signing", e.pesan())
}

/// The reason recorded with a step (rejection, revocation), if any.
fn reason_of(details: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(details)
        .ok()?
        .get("reason")?
        .as_str()
        .filter(|r| !r.is_empty())
        .map(str::to_string)
}

/// The timeline's wording for an audit action.
fn step_label(action: &str) -> &str {
    match action {
        "document.import" => "berkas diunggah",
        "document.submit" => "diajukan untuk persetujuan",
        "document.approve" => "disetujui",
        "document.reject" => "ditolak",
        "document.stamp" => "kode QR dibubuhkan",
        "document.stamp_failed" => "kode QR gagal dibubuhkan",
        "document.restamp" => "kode QR diminta dibubuhkan ulang",
        "document.return" => "dikembalikan ke menunggu persetujuan",
        "document.dates_confirmed" => "tanggal izin diisi/dikonfirmasi pejabat",
        "document.import_override" => "berkas bertanda kantor tetap dipakai (dengan catatan)",
        "document.sign" => "ditandatangani",
        "document.publish" => "diterbitkan",
        "document.revoke" => "dicabut",
        "document.link_create" => "tautan untuk pemohon dibuat",
        "document.link_revoke" => "tautan untuk pemohon dicabut",
        other => other,
    }
}

fn state_label(s: &str) -> &'static str {
    DocState::parse(s).map(|s| s.label()).unwrap_or("?")
}

/// Which of the seal's dates the permit lacks (SICANTIK did not give them yet).
#[derive(Debug, Clone, Copy, Default)]
pub struct DatesLacking {
    pub issue: bool,
    pub expiry: bool,
}

/// One case with the buttons the caller may use.
fn case_row(state: &AppState, me: &Principal, c: &SigningCase, lacking: DatesLacking) -> Markup {
    let decide = me.may(Permission::DecideDocuments);
    let manage = me.may(Permission::ManageDocuments);
    let st = DocState::parse(&c.state);
    html! {
        tr data-case-state=(c.state) {
            td { (state_label(&c.state))
                @if let Some(r) = &c.reason { br; span.muted { "Alasan: " (r) } }
                @if let Some(e) = &c.signing_error { br; span.danger { "Gagal: " (e) } }
                @if let Some(w) = &c.stamp_warning { br; span.danger data-stamp-warning { "Perhatian: " (w) } } }
            td { code { (c.verification_id) }
                @if let Some(q) = &c.qr_text { br; a href=(portal_path(q)) data-verification-link=(c.verification_id) { "Halaman verifikasi" } } }
            td { @if let Some(n) = &c.signer_name { (n) br; }
                @if let Some(t) = c.signed_at { span.muted { (state.office_time(t)) } br;
                    @if c.timestamped { span.ok { "dengan cap waktu (PAdES B-T)" } } @else { span.muted { "tanpa cap waktu (PAdES B-B)" } } } }
            td.actions {
                @if let Some(id) = c.signed_document_id { a href={ "/berkas/" (id) } { "Berkas bertanda tangan" } " " }
                @if decide && st == Some(DocState::Submitted) {
                    // Four eyes by person (the service refuses it too): no buttons for one's own.
                    @if companion_domain::workflow::check_four_eyes(companion_domain::workflow::Action::Approve, c.submitted_by.as_deref(), &me.user.username).is_ok() {
                        (approve_form(me, c.id, lacking))
                        (step_form(me, c.id, "tolak", "Tolak", true))
                    } @else {
                        span.muted data-own-submission { "Anda yang mengajukan; pejabat lain yang memutuskan." }
                    }
                }
                @if decide && st == Some(DocState::Approved) {
                    // Never stranded: stamp again, or back to waiting for approval.
                    @if c.signing_error.is_none() { span.muted data-stamping { "Kode QR sedang dibubuhkan…" } br; }
                    (step_form(me, c.id, "bubuhkan-ulang", "Bubuhkan ulang kode QR", false))
                    (step_form(me, c.id, "kembalikan", "Kembalikan ke menunggu persetujuan", true))
                }
                @if decide && st == Some(DocState::Stamped) { @if let Some(svc) = &state.signing { (sign_form(me, svc, c.id)) } }
                @if decide && matches!(st, Some(DocState::Signed | DocState::Published)) { (step_form(me, c.id, "cabut", "Cabut", true)) }
                @if manage && st == Some(DocState::Rejected) { (step_form(me, c.id, "ajukan-ulang", "Ajukan ulang", false)) }
            }
        }
    }
}

/// The portal page a QR text opens, on this server (the QR names the public address).
fn portal_path(qr_text: &str) -> String {
    qr_text
        .find("/v/")
        .map(|i| qr_text[i..].to_string())
        .unwrap_or_else(|| "/periksa".into())
}

fn step_form(me: &Principal, case_id: i64, step: &str, label: &str, reason: bool) -> Markup {
    html! {
        form.inline method="post" action={ "/tte/" (case_id) "/" (step) } {
            input type="hidden" name="csrf" value=(me.csrf());
            @if reason { input name="alasan" type="text" required placeholder="Alasan" aria-label="Alasan"; }
            button type="submit" data-step=(step) { (label) }
        }
    }
}

/// The approval form; for a permit SICANTIK gave no dates for (asked again on approval), the
/// fields the official fills or confirms — a seal never states an empty date.
fn approve_form(me: &Principal, case_id: i64, lacking: DatesLacking) -> Markup {
    html! {
        form.inline.approve method="post" action={ "/tte/" (case_id) "/setujui" } {
            input type="hidden" name="csrf" value=(me.csrf());
            @if lacking.issue || lacking.expiry {
                fieldset.dates data-dates-lacking {
                    legend { "Tanggal untuk kode QR" }
                    p.muted { "SICANTIK belum memberi tanggal ini; saat Anda menyetujui, SICANTIK ditanya sekali lagi. Bila tetap tidak ada, tanggal yang Anda isi di sini yang dimuat dalam segel (dicatat dalam jejak audit)." }
                    @if lacking.issue {
                        label { "Tanggal terbit " input type="date" name="tanggal_terbit"; }
                    }
                    @if lacking.expiry {
                        label { input type="radio" name="masa_berlaku" value="sampai" checked; " Berlaku sampai " input type="date" name="berlaku_sampai"; }
                        label { input type="radio" name="masa_berlaku" value="tanpa"; " Tanpa masa berlaku (izin ini tidak berakhir)" }
                    }
                }
            }
            button type="submit" data-step="setujui" { "Setujui" }
        }
    }
}

fn sign_form(me: &Principal, svc: &SigningService, case_id: i64) -> Markup {
    html! {
        form.inline method="post" action={ "/tte/" (case_id) "/tandatangani" } {
            input type="hidden" name="csrf" value=(me.csrf());
            (super::signing_jobs::passphrase_field(svc))
            button type="submit" data-step="tandatangani" { "Tandatangani" }
        }
    }
}

fn cases_table(
    state: &AppState,
    me: &Principal,
    cases: &[SigningCase],
    lacking: DatesLacking,
) -> Markup {
    html! {
        div.table-wrap { table.cases {
            thead { tr { th { "Status" } th { "ID verifikasi" } th { "Penandatangan" } th { "" } } }
            tbody { @for c in cases { (case_row(state, me, c, lacking)) } }
        } }
    }
}

/// The "Tanda tangan elektronik" section of a permit's page.
pub async fn permit_section(
    state: &AppState,
    me: &Principal,
    pendaftaran_id: &str,
    docs: &[companion_db::Document],
) -> Result<Markup, ApiError> {
    let cases = state.db.signing_cases_for_permit(pendaftaran_id).await?;
    let originals: Vec<_> = docs
        .iter()
        .filter(|d| d.kind == "original" && !cases.iter().any(|c| c.original_document_id == d.id))
        .collect();
    let may_submit = me.may(Permission::ManageDocuments) && state.signing.is_some();
    let lacking = match state.db.get_permit(pendaftaran_id).await? {
        Some(p) => DatesLacking {
            issue: p.issue_date.is_none(),
            expiry: p.expiry_date.is_none(),
        },
        None => DatesLacking::default(),
    };
    // The document's timeline: every import and workflow step on this permit, newest first.
    let (timeline, _) = state
        .db
        .list_audit(&companion_db::AuditQuery {
            target_id: Some(pendaftaran_id.to_string()),
            action: Some("document.".into()),
            page: 1,
            per_page: 50,
            ..Default::default()
        })
        .await?;
    Ok(html! {
        section.card #tanda-tangan {
            h2 { "Tanda tangan elektronik" }
            @if state.signing.is_none() { p.muted { "Penandatanganan belum dikonfigurasi di server ini." } }
            @if cases.is_empty() { p.muted { "Belum ada dokumen yang diajukan untuk ditandatangani." } }
            @else { (cases_table(state, me, &cases, lacking)) }
            @if may_submit { @for d in &originals {
                form.inline method="post" action={ "/berkas/" (d.id) "/ajukan" } {
                    input type="hidden" name="csrf" value=(me.csrf());
                    button type="submit" data-step="ajukan" { "Ajukan v" (d.version) " untuk persetujuan" }
                }
            } }
            @if !timeline.is_empty() {
                h3 { "Riwayat dokumen" }
                ol.timeline #document-timeline {
                    @for e in &timeline {
                        li data-action=(e.action) {
                            time { (state.office_time(e.at)) } " — " (step_label(&e.action)) " oleh " (e.actor)
                            @if let Some(r) = reason_of(&e.details) { " (" (r) ")" }
                        }
                    }
                }
            }
        }
    })
}

/// The signer certificate's validity, with a warning from 30 days before it ends, and whether
/// signatures get a timestamp.
pub fn certificate_note(state: &AppState, svc: &SigningService) -> Markup {
    let Some((subject, not_after)) = svc.signer_certificate() else {
        return html! {
            p.muted #signer-certificate { "Penandatangan: " (svc.signer().label()) ". Status sertifikat pejabat diperiksa di BSrE sebelum setiap penandatanganan; passphrase diminta setiap kali dan tidak disimpan." }
        };
    };
    let days_left = (not_after - chrono::Utc::now()).num_days();
    html! {
        @if days_left < 0 {
            p.notice.warn #signer-certificate data-days-left=(days_left) { "Sertifikat penandatangan (" (subject) ") sudah berakhir pada " (state.office_time(not_after)) "; tanda tangan baru tidak akan sah." }
        } @else if days_left < 30 {
            p.notice.warn #signer-certificate data-days-left=(days_left) { "Sertifikat penandatangan (" (subject) ") berakhir dalam " (days_left) " hari (" (state.office_time(not_after)) "). Perbarui sebelum tanggal itu." }
        } @else {
            p.muted #signer-certificate data-days-left=(days_left) { "Sertifikat penandatangan: " (subject) ", berlaku s.d. " (state.office_time(not_after)) "." }
        }
        @if !svc.timestamps() { p.muted { "TSA_URL belum diisi: tanda tangan tanpa cap waktu (PAdES B-B)." } }
    }
}

/// Queues: waiting for approval, ready to sign, rejected, recently published.
pub async fn queues(
    State(state): State<Shared>,
    Me(me): Me,
    Query(n): Query<Notice>,
) -> PageResult {
    let counts = state.db.signing_state_counts().await?;
    let alarms = super::signing_jobs::alarms(&state).await?;
    let batches = state.db.recent_signing_batches(10).await?;
    let decide = me.may(Permission::DecideDocuments);
    let mut sections = Vec::new();
    for (st, title) in [
        (DocState::Submitted, "Menunggu persetujuan"),
        // Approved but not stamped: a failed or interrupted stamp, with its ways forward.
        (DocState::Approved, "Disetujui, kode QR belum dibubuhkan"),
        (DocState::Stamped, "Siap ditandatangani"),
        (DocState::Rejected, "Ditolak"),
        (DocState::Published, "Terbit (bertanda tangan)"),
    ] {
        let cases = state.db.signing_cases_in(st.as_str(), 50).await?;
        sections.push((st, title, cases));
    }
    // The batch rows name applicant and permit type, and mark expired permits (the
    // confirmation counts them).
    let today = chrono::Utc::now()
        .with_timezone(&state.office_tz)
        .date_naive();
    let mut permits = std::collections::HashMap::new();
    for (st, _, cases) in &sections {
        if *st != DocState::Stamped {
            continue;
        }
        for c in cases {
            if let Some(p) = state.db.get_permit(&c.pendaftaran_id).await? {
                permits.insert(c.pendaftaran_id.clone(), p);
            }
        }
    }
    let content = html! {
        h1 { "Tanda tangan elektronik" }
        (notice(n.pesan.as_deref()))
        @if state.signing.is_none() { p.notice.warn { "Penandatanganan belum dikonfigurasi di server ini (jalankan `keys init`)." } }
        @if let Some(svc) = &state.signing { (certificate_note(&state, svc)) }
        (alarms)
        div.tiles {
            @for (st, title, _) in &sections {
                a.tile href={ "#" (st.as_str()) } { span.big data-count=(st.as_str()) { (counts.get(st.as_str()).copied().unwrap_or(0)) } span { (title) } }
            }
        }
        @for (st, title, cases) in &sections {
            section.card id=(st.as_str()) {
                h2 { (title) }
                @if cases.is_empty() { p.muted { "Tidak ada." } } @else {
                    @let selectable = decide && *st == DocState::Stamped;
                    @let table = html! { div.table-wrap { table.cases {
                        @let published = *st == DocState::Published;
                        @let batch = *st == DocState::Stamped;
                        thead { tr { @if selectable { th { "Pilih" } } th { "Izin" } @if batch { th { "Pemohon" } th { "Jenis izin" } th { "Berlaku sampai" } } th { "Status" } th { "ID verifikasi" } th { "Penandatangan" } @if published { th { "Tingkat" } th { "Cap waktu arsip" } } th { "" } } }
                        tbody { @for c in cases {
                            @let permit = permits.get(&c.pendaftaran_id);
                            @let expiry = permit.and_then(|p| p.expiry_date);
                            @let expired = expiry.is_some_and(|e| e < today);
                            tr data-expired=[expired.then_some("1")] {
                            @if selectable { td { input type="checkbox" name="kasus" value=(c.id) data-expired=[expired.then_some("1")] aria-label={ "Pilih " (c.pendaftaran_id) }; } }
                            td { a href={ "/izin/" (c.pendaftaran_id) "#tanda-tangan" } { (c.pendaftaran_id) } }
                            @if batch {
                                td { (permit.and_then(|p| p.applicant_name.as_deref()).unwrap_or("—")) }
                                td { (permit.and_then(|p| p.permit_type_name.as_deref()).unwrap_or("—")) }
                                td { @match expiry { Some(e) => { (e.format("%d-%m-%Y")) @if expired { " " span.danger { "(sudah lewat)" } } }, None => { "—" } } }
                            }
                            td { (state_label(&c.state))
                                @if let Some(e) = &c.signing_error { br; span.danger { "Gagal: " (e) } }
                                @if let Some(w) = &c.stamp_warning { br; span.danger data-stamp-warning { "Perhatian: " (w) } } }
                            td { code { (c.verification_id) } }
                            td { (c.signer_name.as_deref().unwrap_or("—")) }
                            @if published { (archive_cells(&state, c)) }
                            td { a href={ "/izin/" (c.pendaftaran_id) "#tanda-tangan" } { "Buka" } }
                        } } }
                    } } };
                    @if let (true, Some(svc)) = (selectable, &state.signing) { (super::signing_jobs::ready_form(&me, svc, table)) } @else { (table) }
                }
            }
        }
        (super::signing_jobs::batches_table(&batches))
    };
    Ok(layout(&me, Nav::Signing, "Tanda tangan elektronik", content).into_response())
}

/// A published case's PAdES level and its next archive renewal (or why there is none), for `/tte`.
fn archive_cells(state: &crate::AppState, c: &companion_db::SigningCase) -> Markup {
    use companion_domain::archive::{SignatureLevel, Stop};
    let level = c.signature_level.as_deref().and_then(SignatureLevel::parse);
    html! {
        td data-level=(level.map(|l| l.name()).unwrap_or("")) { (level.map(|l| l.name()).unwrap_or("belum diperiksa")) }
        td.archive {
            @if let Some(s) = c.archive_stopped.as_deref().and_then(Stop::parse) { (s.label()) }
            @else if let Some(t) = c.archive_due_at { "diperbarui paling lambat " (t.with_timezone(&state.office_tz).format("%d-%m-%Y")) }
            @else { "belum dijadwalkan" }
            @if let Some(e) = &c.archive_error { br; span.danger { "Gagal: " (e) } }
        }
    }
}

pub async fn submit(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path(document_id): Path<i64>,
) -> PageResult {
    let result = async {
        service(&state)?
            .submit(document_id, &participant(&me, &client))
            .await
            .map_err(signing_error)
    }
    .await;
    match result {
        Ok(case) => notice_or_error(
            &format!("/izin/{}", case.pendaftaran_id),
            Ok("Dokumen diajukan untuk persetujuan.".into()),
        ),
        Err(e) => notice_or_error("/tte", Err(e)),
    }
}

#[derive(Debug, Deserialize)]
pub struct StepForm {
    pub alasan: Option<String>,
    /// Approval of a permit without dates: `YYYY-MM-DD`.
    pub tanggal_terbit: Option<String>,
    /// `sampai` (with `berlaku_sampai`) or `tanpa` (no end of validity).
    pub masa_berlaku: Option<String>,
    pub berlaku_sampai: Option<String>,
    /// BSrE only; handed to the signing job, never stored.
    pub passphrase: Option<String>,
}

/// The dates an official entered on the approval form, typed (empty fields: not entered).
fn date_confirmation(f: &StepForm) -> Result<DateConfirmation, ApiError> {
    let date = |v: &Option<String>, what: &str| -> Result<Option<chrono::NaiveDate>, ApiError> {
        match v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("{what} tidak dapat dibaca: {v}."))),
        }
    };
    let issue_date = date(&f.tanggal_terbit, "Tanggal terbit")?;
    let expiry = match f.masa_berlaku.as_deref() {
        Some("tanpa") => Some(Expiry::None),
        Some("sampai") | None => {
            date(&f.berlaku_sampai, "Tanggal berlaku sampai")?.map(Expiry::Until)
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Pilihan masa berlaku tidak dikenal: {other}."
            )));
        }
    };
    Ok(DateConfirmation { issue_date, expiry })
}

pub async fn step(
    State(state): State<Shared>,
    Me(me): Me,
    Client(client): Client,
    Path((case_id, step)): Path<(i64, String)>,
    Form(f): Form<StepForm>,
) -> PageResult {
    let who = participant(&me, &client);
    let reason = f.alasan.clone().unwrap_or_default();
    let result = async {
        let svc = service(&state)?;
        let case = match step.as_str() {
            "setujui" => {
                let confirm = date_confirmation(&f)?;
                svc.approve_with(case_id, &who, confirm).await
            }
            "bubuhkan-ulang" => svc.restamp(case_id, &who).await,
            "kembalikan" => svc.return_to_submitted(case_id, &who, &reason).await,
            "tolak" => svc.reject(case_id, &who, &reason).await,
            "tandatangani" => {
                svc.sign_now(
                    case_id,
                    &who,
                    super::signing_jobs::passphrase_of(f.passphrase),
                )
                .await
            }
            "cabut" => svc.revoke(case_id, &who, &reason).await,
            "ajukan-ulang" => svc.resubmit(case_id, &who).await,
            _ => return Err(ApiError::not_found("Langkah tidak dikenal.")),
        }
        .map_err(signing_error)?;
        state.workflow_changed().await;
        Ok(case)
    }
    .await;
    let back = match &result {
        Ok(c) => format!("/izin/{}", c.pendaftaran_id),
        Err(_) => match state.db.get_signing_case(case_id).await {
            Ok(Some(c)) => format!("/izin/{}", c.pendaftaran_id),
            _ => "/tte".into(),
        },
    };
    notice_or_error(
        &back,
        result.map(|c| format!("Status dokumen sekarang: {}.", state_label(&c.state))),
    )
}
