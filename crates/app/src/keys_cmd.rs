//! `keys`: the local signing material for the demo, the tests, or an office that signs with its
//! own certificate instead of BSrE — a PKI shaped like a real one (root CA → issuing CA → signer
//! certificate, a delegated OCSP responder, CRLs and OCSP served by the product at
//! `PUBLIC_BASE_URL/pki/...`), the office's seal key for the QR codes, and revocation of the
//! signer certificate. Private keys are written owner-only and never printed.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use companion_pdf::pki::{self, LeafKind, PkiUrls, files};

use crate::CliError;
use crate::config::Settings;

#[derive(Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a root CA, an issuing CA, the signer certificate, the OCSP responder certificate
    /// and the seal key (refuses to replace existing files unless --force; with --force the old
    /// files are moved to retired/ and the old root stays trusted).
    Init {
        /// Folder for the files (default: KEYS_DIR, `data/keys`).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The signer's name in the certificate.
        #[arg(long, default_value = "Kepala DPMPTSP Kabupaten Karo")]
        signer_name: String,
        /// Replace existing files (the old ones are archived, not deleted).
        #[arg(long)]
        force: bool,
    },
    /// Bring a folder from before the layered PKI (one CA that issued the signer directly) to
    /// it: keeps the root and the seal key, adds an issuing CA, an OCSP responder and a new
    /// signer certificate with revocation pointers; the old signer is archived and stays valid.
    Upgrade {
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The new signer certificate's name (default: the old one's).
        #[arg(long)]
        signer_name: Option<String>,
    },
    /// Revoke the local signer certificate: the CRL lists it, OCSP answers revoked, and the
    /// local signer refuses to sign with it. Final; audited.
    Revoke {
        #[arg(long)]
        dir: Option<PathBuf>,
        /// RFC 5280 reason: unspecified, keyCompromise, cACompromise, affiliationChanged,
        /// superseded, cessationOfOperation, privilegeWithdrawn, aACompromise.
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
    /// The signer certificate, its chain and whether it is revoked.
    Status {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// The files the local signer reads (`open_signing`) and `keys init` writes.
pub const SIGNER_KEY: &str = files::SIGNER_KEY;
pub const SIGNER_CHAIN: &str = files::SIGNER_CHAIN;
pub const SEAL_KEY: &str = "seal.key";

/// The files `keys init` writes, by name.
pub const FILES: [&str; 11] = [
    files::ROOT_CERT,
    files::ROOT_KEY,
    files::ISSUING_CERT,
    files::ISSUING_KEY,
    files::OCSP_KEY,
    files::OCSP_CHAIN,
    files::ISSUED,
    SIGNER_KEY,
    SIGNER_CHAIN,
    SEAL_KEY,
    "seal.pub",
];

/// Validity: root 20 years, issuing CA 10, signer 2, OCSP responder 2 (the CA answers itself
/// once the responder certificate has expired).
const ROOT_YEARS: u64 = 20;
const ISSUING_YEARS: u64 = 10;
const SIGNER_DAYS: u64 = 2 * 365;
const RESPONDER_DAYS: u64 = 2 * 365;

fn write(path: &Path, contents: &[u8], private: bool) -> Result<(), CliError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(contents))
        .map_err(|e| CliError::User(format!("cannot write {}: {e}", path.display())))
}

fn internal(e: impl std::error::Error + Send + Sync + 'static) -> CliError {
    CliError::Internal(e.into())
}

fn read(dir: &Path, f: &str) -> Result<String, CliError> {
    std::fs::read_to_string(dir.join(f))
        .map_err(|e| CliError::User(format!("cannot read {}: {e}", dir.join(f).display())))
}

pub async fn run(settings: &Settings, args: KeysArgs) -> Result<(), CliError> {
    let folder = |dir: Option<PathBuf>| dir.unwrap_or_else(|| PathBuf::from(&settings.keys_dir));
    match args.command {
        KeysCommand::Init {
            dir,
            signer_name,
            force,
        } => {
            let dir = folder(dir);
            let retired = init(&dir, &signer_name, &settings.public_base_url, force)?;
            println!("signing material written to {}/", dir.display());
            if let Some(r) = retired {
                println!(
                    "  the previous files are in {}/ (their root stays trusted in trusted/)",
                    r.display()
                );
            }
            print_layout(&signer_name, &settings.public_base_url);
            Ok(())
        }
        KeysCommand::Upgrade { dir, signer_name } => {
            let dir = folder(dir);
            let (name, retired) = upgrade(&dir, signer_name.as_deref(), &settings.public_base_url)?;
            println!(
                "{} upgraded: same root, new issuing CA and signer certificate \"{name}\"",
                dir.display()
            );
            println!(
                "  the previous signer's files are in {}/; documents it signed stay valid",
                retired.display()
            );
            print_layout(&name, &settings.public_base_url);
            Ok(())
        }
        KeysCommand::Revoke { dir, reason } => {
            let dir = folder(dir);
            let reason = pki::parse_reason(&reason).ok_or_else(|| {
                CliError::User(format!(
                    "unknown reason {reason:?}; one of: {}",
                    pki::REASONS
                        .iter()
                        .map(|r| pki::reason_name(*r))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            let db = crate::server::open_database(settings).await?;
            let result = revoke(&db, &dir, reason).await;
            db.close().await;
            result
        }
        KeysCommand::Status { dir } => {
            let dir = folder(dir);
            let db = crate::server::open_database(settings).await?;
            let result = status(&db, &dir).await;
            db.close().await;
            result
        }
    }
}

fn print_layout(signer_name: &str, base: &str) {
    let urls = PkiUrls::new(base);
    println!("  ca.pem               root CA certificate (trust this to validate signatures)");
    println!("  ca-key.pem           root CA key (owner-only)");
    println!("  issuing-ca.pem       issuing CA certificate; issuing-ca-key.pem its key");
    println!("  signer-key.pem       signer key (owner-only)");
    println!(
        "  signer-chain.pem     signer certificate \"{signer_name}\", issuing CA and root, valid 2 years"
    );
    println!("  ocsp-chain.pem       OCSP responder certificate; ocsp-key.pem its key");
    println!("  issued.pem           every certificate these CAs issued");
    println!("  seal.key             QR seal key (owner-only); seal.pub is its public half");
    println!(
        "the certificates name {} and {} (served by this product: PUBLIC_BASE_URL must stay reachable there)",
        urls.crl(pki::ISSUING_NAME),
        urls.ocsp()
    );
}

/// A UTC stamp for archive folder names.
fn stamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}

/// Moves `names` (those present) from `dir` into `dir/retired/<stamp>/`.
fn archive(dir: &Path, names: &[&str]) -> Result<PathBuf, CliError> {
    let to = dir.join("retired").join(stamp());
    std::fs::create_dir_all(&to)
        .map_err(|e| CliError::User(format!("cannot create {}: {e}", to.display())))?;
    for name in names {
        let from = dir.join(name);
        if from.exists() {
            std::fs::rename(&from, to.join(name)).map_err(|e| {
                CliError::User(format!("cannot move {} aside: {e}", from.display()))
            })?;
        }
    }
    Ok(to)
}

fn pem_of(ids: &[&companion_pdf::keys::SigningIdentity]) -> Result<String, CliError> {
    use x509_cert::der::EncodePem;
    let mut out = String::new();
    for id in ids {
        out.push_str(
            &id.certificate
                .to_pem(x509_cert::der::pem::LineEnding::LF)
                .map_err(internal)?,
        );
    }
    Ok(out)
}

/// Writes the files into `dir`. Existing material is refused unless `force`; with `force` it is
/// archived in `retired/<stamp>/` (returned) and its root copied into `trusted/`, so documents
/// signed with it keep validating.
pub fn init(
    dir: &Path,
    signer_name: &str,
    base_url: &str,
    force: bool,
) -> Result<Option<PathBuf>, CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::User(format!("cannot create {}: {e}", dir.display())))?;
    let existing: Vec<&str> = FILES
        .iter()
        .copied()
        .filter(|f| dir.join(f).exists())
        .collect();
    if !existing.is_empty() && !force {
        return Err(CliError::User(format!(
            "{} already holds {}; `keys upgrade` keeps the root and adds the issuing CA, or pass --force to start anew (the old files are archived)",
            dir.display(),
            existing.join(", ")
        )));
    }
    let urls = PkiUrls::new(base_url);
    let root = pki::new_root("DPMPTSP Kabupaten Karo Root CA", ROOT_YEARS).map_err(internal)?;
    let issuing = pki::issue_ca(
        &root,
        pki::ROOT_NAME,
        "DPMPTSP Kabupaten Karo Issuing CA",
        ISSUING_YEARS,
        Some(0),
        &urls,
    )
    .map_err(internal)?;
    let (signer, responder) = leaves(&issuing, signer_name, &urls)?;
    let retired = if existing.is_empty() {
        None
    } else {
        let old_root = std::fs::read_to_string(dir.join(files::ROOT_CERT)).ok();
        let to = archive(dir, &FILES)?;
        if let Some(old_root) = old_root {
            let trusted = dir.join("trusted");
            std::fs::create_dir_all(&trusted)
                .map_err(|e| CliError::User(format!("cannot create {}: {e}", trusted.display())))?;
            let name = format!(
                "retired-{}-ca.pem",
                to.file_name().and_then(|n| n.to_str()).unwrap_or("old")
            );
            write(&trusted.join(name), old_root.as_bytes(), false)?;
        }
        Some(to)
    };
    write(
        &dir.join(files::ROOT_CERT),
        root.certs_pem().map_err(internal)?.as_bytes(),
        false,
    )?;
    write(
        &dir.join(files::ROOT_KEY),
        root.key_pem().map_err(internal)?.as_bytes(),
        true,
    )?;
    write(
        &dir.join(files::ISSUING_CERT),
        pem_of(&[&issuing])?.as_bytes(),
        false,
    )?;
    write(
        &dir.join(files::ISSUING_KEY),
        issuing.key_pem().map_err(internal)?.as_bytes(),
        true,
    )?;
    write_leaves(dir, &signer, &responder, &[&issuing], "")?;
    let seal = companion_domain::seal::new_seal_key();
    write(
        &dir.join(SEAL_KEY),
        format!("{}\n", companion_domain::seal::seal_key_hex(&seal)).as_bytes(),
        true,
    )?;
    write(
        &dir.join("seal.pub"),
        format!("{}\n", companion_domain::seal::seal_public_hex(&seal)).as_bytes(),
        false,
    )?;
    Ok(retired)
}

type Identity = companion_pdf::keys::SigningIdentity;

fn leaves(
    issuing: &Identity,
    signer_name: &str,
    urls: &PkiUrls,
) -> Result<(Identity, Identity), CliError> {
    let signer = pki::issue_leaf(
        issuing,
        signer_name,
        SIGNER_DAYS,
        LeafKind::Signer,
        Some((urls, pki::ISSUING_NAME)),
    )
    .map_err(internal)?;
    let responder = pki::issue_leaf(
        issuing,
        "DPMPTSP Kabupaten Karo OCSP Responder",
        RESPONDER_DAYS,
        LeafKind::OcspResponder,
        None,
    )
    .map_err(internal)?;
    Ok((signer, responder))
}

/// The signer's and responder's files, and `issued.pem` = `earlier` (PEM) + the CA(s) + both.
fn write_leaves(
    dir: &Path,
    signer: &Identity,
    responder: &Identity,
    cas: &[&Identity],
    earlier: &str,
) -> Result<(), CliError> {
    write(
        &dir.join(SIGNER_KEY),
        signer.key_pem().map_err(internal)?.as_bytes(),
        true,
    )?;
    write(
        &dir.join(SIGNER_CHAIN),
        signer.certs_pem().map_err(internal)?.as_bytes(),
        false,
    )?;
    write(
        &dir.join(files::OCSP_KEY),
        responder.key_pem().map_err(internal)?.as_bytes(),
        true,
    )?;
    write(
        &dir.join(files::OCSP_CHAIN),
        responder.certs_pem().map_err(internal)?.as_bytes(),
        false,
    )?;
    let mut issued = earlier.to_string();
    let mut all: Vec<&Identity> = cas.to_vec();
    all.extend([signer, responder]);
    issued.push_str(&pem_of(&all)?);
    write(&dir.join(files::ISSUED), issued.as_bytes(), false)
}

/// `keys upgrade`: see [`KeysCommand::Upgrade`]. Returns the new signer's name and the archive.
pub fn upgrade(
    dir: &Path,
    signer_name: Option<&str>,
    base_url: &str,
) -> Result<(String, PathBuf), CliError> {
    if dir.join(files::ISSUING_CERT).exists() {
        return Err(CliError::User(format!(
            "{} already has an issuing CA: nothing to upgrade",
            dir.display()
        )));
    }
    let root = Identity::from_pem(&read(dir, files::ROOT_KEY)?, &read(dir, files::ROOT_CERT)?)
        .map_err(|e| {
            CliError::User(format!(
                "the root CA in {} cannot be read: {e}",
                dir.display()
            ))
        })?;
    let old_chain = read(dir, SIGNER_CHAIN)?;
    let old = Identity::from_pem(&read(dir, SIGNER_KEY)?, &old_chain).map_err(|e| {
        CliError::User(format!(
            "the signer in {} cannot be read: {e}",
            dir.display()
        ))
    })?;
    let name = match signer_name {
        Some(n) => n.to_string(),
        None => {
            common_name(&old.certificate).unwrap_or_else(|| "Kepala DPMPTSP Kabupaten Karo".into())
        }
    };
    let urls = PkiUrls::new(base_url);
    let issuing = pki::issue_ca(
        &root,
        pki::ROOT_NAME,
        "DPMPTSP Kabupaten Karo Issuing CA",
        ISSUING_YEARS,
        Some(0),
        &urls,
    )
    .map_err(internal)?;
    let (signer, responder) = leaves(&issuing, &name, &urls)?;
    // The old signer stays a certificate the root issued (OCSP: good until revoked).
    let mut earlier = std::fs::read_to_string(dir.join(files::ISSUED)).unwrap_or_default();
    earlier.push_str(&pem_of(&[&old])?);
    let retired = archive(
        dir,
        &[SIGNER_KEY, SIGNER_CHAIN, files::OCSP_KEY, files::OCSP_CHAIN],
    )?;
    write(
        &dir.join(files::ISSUING_CERT),
        pem_of(&[&issuing])?.as_bytes(),
        false,
    )?;
    write(
        &dir.join(files::ISSUING_KEY),
        issuing.key_pem().map_err(internal)?.as_bytes(),
        true,
    )?;
    write_leaves(dir, &signer, &responder, &[&issuing], &earlier)?;
    Ok((name, retired))
}

fn common_name(cert: &x509_cert::Certificate) -> Option<String> {
    let subject = cert.tbs_certificate.subject.to_string();
    subject
        .split(',')
        .find_map(|part| part.trim().strip_prefix("CN="))
        .map(str::to_string)
}

fn signer_identity(dir: &Path) -> Result<Identity, CliError> {
    Identity::from_pem(&read(dir, SIGNER_KEY)?, &read(dir, SIGNER_CHAIN)?).map_err(|e| {
        CliError::User(format!(
            "the signer in {} cannot be read: {e}",
            dir.display()
        ))
    })
}

async fn revoke(
    db: &companion_db::Database,
    dir: &Path,
    reason: pki::CrlReason,
) -> Result<(), CliError> {
    let signer = signer_identity(dir)?;
    let Some(issuer) = signer.chain.first() else {
        return Err(CliError::User(
            "signer-chain.pem holds no issuer: the certificate cannot be revoked here".into(),
        ));
    };
    let serial = hex::encode(pki::serial_of(&signer.certificate));
    let subject = signer.certificate.tbs_certificate.subject.to_string();
    let fresh = companion_signing::pki::revoke(db, &signer.certificate, issuer, reason, "cli")
        .await
        .map_err(internal)?;
    if !fresh {
        let known = companion_signing::pki::revocation_of(db, &signer)
            .await
            .map_err(internal)?;
        println!(
            "the signer certificate {subject} (serial {serial}) was already revoked{}",
            known
                .map(|k| format!(
                    " on {} ({})",
                    k.revoked_at.to_rfc3339(),
                    pki::reason_name(k.reason)
                ))
                .unwrap_or_default()
        );
        return Ok(());
    }
    db.append_audit(&companion_domain::audit::AuditRecord {
        actor_id: None,
        actor: "cli".into(),
        action: "keys.revoke".into(),
        target_kind: Some("certificate".into()),
        target_id: Some(serial.clone()),
        source: "cli".into(),
        details: serde_json::json!({
            "subject": subject,
            "issuer": issuer.tbs_certificate.subject.to_string(),
            "reason": pki::reason_name(reason),
        }),
    })
    .await?;
    println!(
        "revoked the signer certificate {subject} (serial {serial}), reason {}",
        pki::reason_name(reason)
    );
    println!("  the CRL and OCSP answers say so now; the local signer refuses to sign with it");
    println!(
        "  next: `keys upgrade` or `keys init --force` for a new certificate, then restart the server"
    );
    Ok(())
}

async fn status(db: &companion_db::Database, dir: &Path) -> Result<(), CliError> {
    let signer = signer_identity(dir)?;
    let c = &signer.certificate.tbs_certificate;
    println!("signer:   {}", c.subject);
    println!(
        "serial:   {}",
        hex::encode(pki::serial_of(&signer.certificate))
    );
    println!("issuer:   {}", c.issuer);
    println!(
        "valid:    {} – {}",
        c.validity.not_before, c.validity.not_after
    );
    println!(
        "layout:   {}",
        if dir.join(files::ISSUING_CERT).exists() {
            "root → issuing CA → signer (CRL and OCSP served at /pki/)"
        } else {
            "one CA → signer (from before the layered PKI; `keys upgrade` adds the issuing CA)"
        }
    );
    match companion_signing::pki::revocation_of(db, &signer)
        .await
        .map_err(internal)?
    {
        Some(r) => println!(
            "status:   REVOKED on {} ({}) by {}",
            r.revoked_at.to_rfc3339(),
            pki::reason_name(r.reason),
            r.revoked_by
        ),
        None => println!("status:   not revoked"),
    }
    Ok(())
}
