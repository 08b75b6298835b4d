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

/// The documents service and a local signing service on `db`, the folder store at `objects` and
/// the files `keys init` wrote into `keys` — what a server with that configuration would use.
pub async fn local_services(
    db: &Database,
    objects: &std::path::Path,
    keys: &std::path::Path,
) -> Result<(Documents, SigningService), Box<dyn std::error::Error>> {
    let storage = companion_storage::Storage::from_url(&format!("file://{}", objects.display()))?;
    let docs = Documents::new(
        db.clone(),
        storage,
        companion_documents::DocumentsConfig::default(),
    )
    .await?;
    let read = |f: &str| std::fs::read_to_string(keys.join(f));
    let identity = companion_pdf::keys::SigningIdentity::from_pem(
        &read("signer-key.pem")?,
        &read("signer-chain.pem")?,
    )?;
    let seal = companion_domain::seal::seal_key_from_hex(&read("seal.key")?)
        .ok_or("seal.key is not a seal key")?;
    let service = SigningService::new(
        db.clone(),
        docs.clone(),
        identity,
        seal,
        crate::SigningConfig {
            public_base_url: "http://127.0.0.1".into(),
            placement: companion_pdf::stamp::Placement::default(),
            location: "Kabanjahe".into(),
            tsa: None,
            visible_role: None,
            utc_offset: chrono::FixedOffset::east_opt(7 * 3600).ok_or("offset")?,
        },
    );
    Ok((docs, service))
}
