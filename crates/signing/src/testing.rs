//! Test support shared by this crate's tests and the binary's: an issued permit, and its letter
//! carried to "ready to sign" through the real service (import, submit, approve, QR stamp).

use companion_db::{Database, DbError, SigningCase};
use companion_documents::{Documents, ImportSource};
use companion_domain::documents::DocumentKind;

use crate::{Participant, SigningError, SigningService};

/// Inserts an issued permit (registration id `id`, permit number `number`) valid to 2031.
pub async fn insert_issued_permit(db: &Database, id: &str, number: &str) -> Result<(), DbError> {
    companion_db::testing::execute_raw(
        db,
        &format!(
            "INSERT INTO permits (pendaftaran_id, status, applicant_name, permit_type_name, permit_number, \
             issue_date, expiry_date, first_seen_at, updated_at) VALUES ('{id}', 'issued', 'Rasmita br Ginting', \
             'Izin Usaha', '{number}', '2026-01-05', '2031-01-05', '2026-01-05T00:00:00Z', '2026-01-05T00:00:00Z')"
        ),
    )
    .await
    .map(|_| ())
}

/// A new permit whose printed letter is imported by `staff`, submitted and approved by
/// `official`: the case, stamped and ready to sign.
pub async fn ready_to_sign(
    service: &SigningService,
    docs: &Documents,
    staff: &Participant,
    official: &Participant,
    id: &str,
    number: &str,
) -> Result<SigningCase, SigningError> {
    insert_issued_permit(docs.db(), id, number).await?;
    let mut letter = companion_pdf::letter::PermitLetter::example();
    letter.registration_id = id.to_string();
    letter.permit_number = number.to_string();
    let original = docs
        .import(
            id,
            companion_pdf::letter::render(&letter, 0).into(),
            Some("surat.pdf"),
            DocumentKind::Original,
            ImportSource::Upload,
            &staff.actor,
        )
        .await?
        .document;
    let case = service.submit(original.id, staff).await?;
    service.approve(case.id, official).await
}
