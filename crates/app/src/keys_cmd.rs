//! `keys init`: the local signing material for the demo, the tests, or an office that signs with
//! its own certificate instead of BSrE — a CA, a signer certificate issued by it, and the office's
//! seal key for the QR codes. Private keys are written owner-only and never printed.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::CliError;

#[derive(Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a local CA, a signer certificate and the seal key (refuses to replace existing
    /// files unless --force).
    Init {
        /// Folder for the files (default: KEYS_DIR, `data/keys`).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The signer's name in the certificate.
        #[arg(long, default_value = "Kepala DPMPTSP Kabupaten Karo")]
        signer_name: String,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
}

/// The files the local signer reads (`open_signing`) and `keys init` writes.
pub const SIGNER_KEY: &str = "signer-key.pem";
pub const SIGNER_CHAIN: &str = "signer-chain.pem";
pub const SEAL_KEY: &str = "seal.key";

/// The files `keys init` writes, by name.
pub const FILES: [&str; 6] = [
    "ca.pem",
    "ca-key.pem",
    SIGNER_KEY,
    SIGNER_CHAIN,
    SEAL_KEY,
    "seal.pub",
];

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

pub fn run(keys_dir: &str, args: KeysArgs) -> Result<(), CliError> {
    let KeysCommand::Init {
        dir,
        signer_name,
        force,
    } = args.command;
    let dir = dir.unwrap_or_else(|| PathBuf::from(keys_dir));
    init(&dir, &signer_name, force)?;
    println!("signing material written to {}/", dir.display());
    println!("  ca.pem            local CA certificate (trust this to validate signatures)");
    println!("  ca-key.pem        local CA key (owner-only; keep offline in production)");
    println!("  signer-key.pem    signer key (owner-only)");
    println!("  signer-chain.pem  signer certificate \"{signer_name}\" and the CA, valid 2 years");
    println!("  seal.key          QR seal key (owner-only); seal.pub is its public half");
    Ok(())
}

/// Writes the files into `dir` (refusing to replace existing ones unless `force`).
pub fn init(dir: &Path, signer_name: &str, force: bool) -> Result<(), CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::User(format!("cannot create {}: {e}", dir.display())))?;
    let existing: Vec<&str> = FILES
        .iter()
        .copied()
        .filter(|f| dir.join(f).exists())
        .collect();
    if !existing.is_empty() && !force {
        return Err(CliError::User(format!(
            "{} already holds {}; pass --force to replace them",
            dir.display(),
            existing.join(", ")
        )));
    }
    let internal = |e: companion_pdf::keys::KeyError| CliError::Internal(e.into());
    let ca =
        companion_pdf::keys::new_ca("DPMPTSP Kabupaten Karo Local CA", 10).map_err(internal)?;
    let signer = companion_pdf::keys::issue_signer(&ca, signer_name, 2 * 365).map_err(internal)?;
    let seal = companion_domain::seal::new_seal_key();
    write(
        &dir.join("ca.pem"),
        ca.certs_pem().map_err(internal)?.as_bytes(),
        false,
    )?;
    write(
        &dir.join("ca-key.pem"),
        ca.key_pem().map_err(internal)?.as_bytes(),
        true,
    )?;
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
        &dir.join(SEAL_KEY),
        format!("{}\n", companion_domain::seal::seal_key_hex(&seal)).as_bytes(),
        true,
    )?;
    write(
        &dir.join("seal.pub"),
        format!("{}\n", companion_domain::seal::seal_public_hex(&seal)).as_bytes(),
        false,
    )?;
    Ok(())
}
