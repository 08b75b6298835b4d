//! `verify FILE.pdf [--json]`: a signed PDF validated against the configured trust anchors and,
//! when this installation's database is there, judged with its record as the portal judges it
//! (`companion_domain::verdict`: KEDALUWARSA, DICABUT); `verify --qr PAYLOAD`: the QR's seal
//! checked with the office's public seal key. Exit 0 only for ASLI (or a valid seal), 1
//! otherwise, with the reason.

use std::path::{Path, PathBuf};

use companion_domain::verdict::{Proof, Record, Verdict, verdict};
use companion_domain::workflow::DocState;
use companion_pdf::validate::{Check, Outcome, Policy, Report, validate_with_evidence};
use x509_cert::Certificate;

use crate::CliError;
use crate::config::Settings;

/// The trust anchors: the local CA (`KEYS_DIR/ca.pem`), every PEM in `KEYS_DIR/trusted/` (the
/// demo puts its simulators' roots there) and the bundle at `TRUST_ANCHORS` (e.g. BSrE's root).
pub fn trust_anchors(settings: &Settings) -> Result<Vec<Certificate>, CliError> {
    let keys = Path::new(&settings.keys_dir);
    let mut files: Vec<PathBuf> = vec![keys.join("ca.pem")];
    if let Ok(entries) = std::fs::read_dir(keys.join("trusted")) {
        let mut more: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pem"))
            .collect();
        more.sort();
        files.extend(more);
    }
    let configured = settings.trust_anchors.trim();
    if !configured.is_empty() {
        if !Path::new(configured).exists() {
            return Err(CliError::User(format!(
                "TRUST_ANCHORS names {configured}, which does not exist"
            )));
        }
        files.push(PathBuf::from(configured));
    }
    let mut anchors = Vec::new();
    for file in files.iter().filter(|f| f.exists()) {
        let pem = std::fs::read(file)
            .map_err(|e| CliError::User(format!("cannot read {}: {e}", file.display())))?;
        let certs = Certificate::load_pem_chain(&pem).map_err(|e| {
            CliError::User(format!("{} holds no PEM certificates: {e}", file.display()))
        })?;
        anchors.extend(certs);
    }
    Ok(anchors)
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "passed",
        Outcome::Failed => "failed",
        Outcome::Indeterminate => "indeterminate",
    }
}

fn check_json(c: &Check) -> serde_json::Value {
    serde_json::json!({"outcome": outcome_name(c.outcome), "detail": c.detail})
}

pub fn report_json(r: &Report) -> serde_json::Value {
    serde_json::json!({
        "outcome": outcome_name(r.outcome),
        "verdict": r.outcome.word(),
        "reason": r.reason,
        "sha256": r.sha256,
        "decisive_signature": r.decisive,
        "foreign_signer": r.foreign_signer,
        "signatures": r.signatures.iter().map(|s| serde_json::json!({
            "office": s.office,
            "document_timestamp": s.document_timestamp,
            "signer": s.signer,
            "signer_name": s.signer_common_name,
            "issuer": s.issuer,
            "certificate_valid_from": s.certificate_valid_from,
            "certificate_valid_to": s.certificate_valid_to,
            "claimed_time": s.claimed_time,
            "timestamp_time": s.timestamp_time,
            "checks": {
                "integrity": check_json(&s.integrity),
                "coverage": check_json(&s.coverage),
                "chain": check_json(&s.chain),
                "timestamp": check_json(&s.timestamp),
                "revocation": check_json(&s.revocation),
            },
        })).collect::<Vec<_>>(),
    })
}

fn mark(c: &Check) -> &'static str {
    match c.outcome {
        Outcome::Passed => "[ok]   ",
        Outcome::Failed => "[GAGAL]",
        Outcome::Indeterminate => "[?]    ",
    }
}

/// What this installation knows beside the file: the certificates this office signs with and,
/// when a database is there (`verify` never creates one), its records of issued documents.
pub struct Records {
    /// Those recorded from the signed files in the database and store, plus the local signer's
    /// certificate in `KEYS_DIR`. `None` when neither exists: then the report cannot tell the
    /// office's signatures from others' and says which trusted signer signed.
    pub office: Option<Vec<Certificate>>,
    db: Option<companion_db::Database>,
}

pub async fn records(settings: &Settings) -> Records {
    let mut certs = Vec::new();
    let chain = Path::new(&settings.keys_dir).join(crate::keys_cmd::SIGNER_CHAIN);
    let local = std::fs::read(&chain)
        .ok()
        .and_then(|pem| Certificate::load_pem_chain(&pem).ok())
        .and_then(|c| c.into_iter().next());
    certs.extend(local);
    let url = settings.database_url.trim();
    let sqlite_file = url
        .strip_prefix("sqlite://")
        .map(|p| p.split('?').next().unwrap_or(p));
    let database_exists = match sqlite_file {
        Some(path) => Path::new(path).exists(),
        None => !url.is_empty(),
    };
    let mut known = false;
    let mut database = None;
    if database_exists
        && let Ok(db) = companion_db::Database::connect(url).await
        && db.migrate().await.is_ok()
        && let Ok(docs) = crate::server::open_documents(settings, &db).await
        && let Ok(recorded) = companion_documents::office::refresh(&docs).await
    {
        known = true;
        database = Some(db);
        for c in recorded {
            if !certs.contains(&c) {
                certs.push(c);
            }
        }
    }
    Records {
        office: (known || !certs.is_empty()).then_some(certs),
        db: database,
    }
}

/// The office's verdict for the file, as the portal gives it: its record (when the database
/// holds one with these bytes) joined with what the signatures prove.
async fn office_verdict(
    settings: &Settings,
    records: &Records,
    report: &Report,
) -> (Verdict, Option<companion_db::IssuedDocument>) {
    let issued = match &records.db {
        Some(db) => db.issued_document(&report.sha256).await.ok().flatten(),
        None => None,
    };
    let record = issued
        .as_ref()
        .and_then(|i| DocState::parse(&i.case.state).map(|s| Record::of_case(s, i.expiry)))
        .unwrap_or(Record::None);
    let proof = match report.outcome {
        Outcome::Passed => Proof::Holds,
        Outcome::Failed => Proof::Broken,
        Outcome::Indeterminate => Proof::Unknown,
    };
    let today = chrono::Utc::now()
        .with_timezone(&settings.office_tz().unwrap_or(chrono_tz::Asia::Jakarta))
        .date_naive();
    (verdict(record, proof, today), issued)
}

pub async fn run(
    settings: &Settings,
    file: Option<PathBuf>,
    json: bool,
    qr: Option<String>,
) -> Result<(), CliError> {
    if let Some(payload) = qr {
        return verify_qr(settings, &payload, json);
    }
    let Some(file) = file else {
        return Err(CliError::User(
            "give a PDF to verify, or --qr '<the QR's text>'".into(),
        ));
    };
    let bytes = std::fs::read(&file)
        .map_err(|e| CliError::User(format!("cannot read {}: {e}", file.display())))?;
    let anchors = trust_anchors(settings)?;
    let records = records(settings).await;
    // Revocation data the file does not carry, as the portal gets it: this office's own CAs'
    // CRLs (only with its database, which holds the revocations), then online for trusted
    // chains when that still leaves the answer open.
    let sources = companion_signing::revocation::VerificationSources {
        own: match &records.db {
            Some(db) => {
                companion_signing::pki::PkiService::open(Path::new(&settings.keys_dir), db.clone())
                    .ok()
                    .flatten()
                    .map(std::sync::Arc::new)
            }
            None => None,
        },
        fetcher: settings.revocation_fetcher().ok(),
    };
    let now = chrono::Utc::now();
    let policy = Policy {
        signer_anchors: &anchors,
        tsa_anchors: &anchors,
        office: records.office.as_deref(),
    };
    let mut evidence = sources.own().await;
    // The same validator and policy as the portal's upload and QR pages.
    let mut report = validate_with_evidence(&bytes, &policy, now, &evidence);
    if report.outcome == Outcome::Indeterminate {
        let online = sources.online(&bytes, &anchors, now).await;
        if !online.is_empty() {
            evidence.extend(&online);
            report = validate_with_evidence(&bytes, &policy, now, &evidence);
        }
    }
    let (verdict, issued) = office_verdict(settings, &records, &report).await;
    if let Some(db) = records.db {
        db.close().await;
    }
    if json {
        let mut out = report_json(&report);
        out["verdict"] = verdict.word().into();
        out["record"] = match &issued {
            Some(i) => serde_json::json!({
                "verification_id": i.case.verification_id,
                "pendaftaran_id": i.case.pendaftaran_id,
                "state": i.case.state,
                "expiry_date": i.expiry,
            }),
            None => serde_json::Value::Null,
        };
        println!("{out}");
    } else {
        let reason = match (&issued, verdict) {
            (Some(i), Verdict::Dicabut) => format!(
                "dokumen ini telah DICABUT oleh kantor{}",
                i.case
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
            (Some(i), Verdict::Kedaluwarsa) => format!(
                "dokumen ini asli, tetapi masa berlakunya telah habis pada {}",
                i.expiry
                    .map(|d| d.format("%d-%m-%Y").to_string())
                    .unwrap_or_default()
            ),
            _ => report.reason.clone(),
        };
        println!("{}: {reason}", verdict.word());
        if let Some(i) = &issued {
            println!(
                "Catatan kantor: kode verifikasi {}, pendaftaran {}",
                i.case.verification_id, i.case.pendaftaran_id
            );
        }
        println!("SHA-256 {}", report.sha256);
        for (i, s) in report.signatures.iter().enumerate() {
            println!(
                "Tanda tangan {}: {}",
                i + 1,
                s.signer.as_deref().unwrap_or("(tanpa sertifikat)")
            );
            for (label, c) in [
                ("keutuhan", &s.integrity),
                ("cakupan", &s.coverage),
                ("rantai sertifikat", &s.chain),
                ("cap waktu", &s.timestamp),
                ("pencabutan", &s.revocation),
            ] {
                println!("  {} {label}: {}", mark(c), c.detail);
            }
        }
    }
    if verdict.vouches() {
        Ok(())
    } else {
        Err(CliError::User(format!(
            "the document is not valid as it stands ({})",
            verdict.word()
        )))
    }
}

fn verify_qr(settings: &Settings, payload: &str, json: bool) -> Result<(), CliError> {
    let path = Path::new(&settings.keys_dir).join("seal.pub");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        CliError::User(format!(
            "the office's public seal key {} cannot be read: {e}",
            path.display()
        ))
    })?;
    let key = companion_domain::seal::seal_public_from_hex(&text)
        .ok_or_else(|| CliError::User(format!("{} is not a seal public key", path.display())))?;
    match companion_domain::seal::verify_seal(&key, payload.trim()) {
        Ok((verification_id, facts)) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"valid": true, "verification_id": verification_id, "facts": {
                        "permit_number": facts.permit_number, "holder": facts.holder,
                        "permit_type": facts.permit_type, "issue_date": facts.issue_date,
                        "expiry_date": facts.expiry_date,
                    }})
                );
            } else {
                println!(
                    "SEGEL SAH: diterbitkan oleh kantor ini (ID verifikasi {verification_id})."
                );
                println!("  Nomor izin:   {}", facts.permit_number);
                println!("  Pemegang:     {}", facts.holder);
                println!("  Jenis izin:   {}", facts.permit_type);
                println!("  Terbit:       {}", facts.issue_date);
                println!("  Berlaku s.d.: {}", facts.expiry_date);
            }
            Ok(())
        }
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"valid": false, "reason": format!("{e:?}")})
                );
            } else {
                println!(
                    "SEGEL TIDAK SAH: isi kode QR ini tidak diterbitkan oleh kantor ini atau telah diubah."
                );
            }
            Err(CliError::User("the seal is not valid".into()))
        }
    }
}
