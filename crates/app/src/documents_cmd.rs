//! `documents import FILE… [--permit ID]`, `documents check [--json]` and `documents inbox`:
//! the documents capability from the shell, through the same service the web uses.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use companion_documents::{Actor, Documents, ImportSource, InboxOutcome};
use companion_domain::documents::{DocumentKind, inbox_name_candidates};

use crate::CliError;

#[derive(Args)]
pub struct DocumentsArgs {
    #[command(subcommand)]
    pub command: DocumentsCommand,
}

#[derive(Subcommand)]
pub enum DocumentsCommand {
    /// Import PDFs. Each file goes to --permit, or to the permit its name names (registration
    /// id, or permit number with `-` for `/`). Exit 1 if any file is refused.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Registration id (pendaftaran_id) of the permit all files belong to.
        #[arg(long)]
        permit: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Check every stored document against its row (object present, SHA-256 matches) and list
    /// objects without a row. Exit 1 when problems are found.
    Check {
        #[arg(long)]
        json: bool,
    },
    /// Scan the inbox folder once.
    Inbox {
        #[arg(long)]
        json: bool,
    },
}

fn internal(e: impl std::error::Error + Send + Sync + 'static) -> CliError {
    CliError::Internal(anyhow::Error::new(e))
}

pub async fn run(docs: &Documents, args: DocumentsArgs) -> Result<(), CliError> {
    match args.command {
        DocumentsCommand::Import {
            files,
            permit,
            json,
        } => import(docs, files, permit, json).await,
        DocumentsCommand::Check { json } => {
            let check = docs.check_integrity().await.map_err(internal)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&check).map_err(internal)?
                );
            } else {
                println!(
                    "documents {} · objects {} · missing {} · mismatched {} · orphaned {}",
                    check.documents, check.objects, check.missing, check.mismatched, check.orphaned
                );
                for p in &check.problems {
                    println!("  {:<10} {}  {}", p.kind, p.key, p.detail);
                }
                if let Some(e) = &check.error {
                    println!("  error: {e}");
                }
            }
            if check.is_clean() {
                Ok(())
            } else {
                Err(CliError::User("the integrity check found problems".into()))
            }
        }
        DocumentsCommand::Inbox { json } => {
            if docs.inbox_dir().is_none() {
                return Err(CliError::User(
                    "INBOX_DIR is empty: the inbox is off".into(),
                ));
            }
            let report = docs.scan_inbox().await.map_err(internal)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).map_err(internal)?
                );
            } else {
                for f in &report.files {
                    match f {
                        InboxOutcome::Imported {
                            file,
                            pendaftaran_id,
                            version,
                            ..
                        } => {
                            println!("imported  {file} → {pendaftaran_id} v{version}")
                        }
                        InboxOutcome::Duplicate {
                            file,
                            pendaftaran_id,
                            ..
                        } => {
                            println!("duplicate {file} (already stored for {pendaftaran_id})")
                        }
                        InboxOutcome::Held { file, message, .. } => {
                            println!("held      {file}: {message}")
                        }
                    }
                }
                println!("{} file(s) processed", report.files.len());
            }
            Ok(())
        }
    }
}

async fn import(
    docs: &Documents,
    files: Vec<PathBuf>,
    permit: Option<String>,
    json: bool,
) -> Result<(), CliError> {
    let actor = Actor::system("cli");
    let actor = Actor {
        name: "cli".into(),
        ..actor
    };
    let mut refused = 0;
    let mut results = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let target = match &permit {
            Some(p) => Some(p.clone()),
            None => docs
                .db()
                .find_permit_for_import(&inbox_name_candidates(&name))
                .await?
                .map(|p| p.pendaftaran_id),
        };
        let outcome = match (target, std::fs::read(&path)) {
            (_, Err(e)) => Err((
                "unreadable".to_string(),
                format!("cannot read {}: {e}", path.display()),
            )),
            (None, _) => Err((
                "unmatched".to_string(),
                "no permit matches the file name; pass --permit".to_string(),
            )),
            (Some(id), Ok(bytes)) => match docs
                .import(
                    &id,
                    bytes.into(),
                    Some(&name),
                    DocumentKind::Original,
                    ImportSource::Cli,
                    &actor,
                )
                .await
            {
                Ok(i) => Ok(i),
                Err(e) if e.is_user_error() => Err((e.code().to_string(), e.to_string())),
                Err(e) => return Err(internal(e)),
            },
        };
        match &outcome {
            Ok(i) if !json => println!(
                "{}  {} {} v{} ({})",
                path.display(),
                if i.already_stored {
                    "already stored as"
                } else {
                    "stored as"
                },
                i.document.pendaftaran_id,
                i.document.version,
                i.document.storage_key
            ),
            Err((code, msg)) => {
                refused += 1;
                if !json {
                    eprintln!("{}  refused ({code}): {msg}", path.display());
                }
            }
            _ => {}
        }
        results.push(match outcome {
            Ok(i) => serde_json::json!({"file": path, "outcome": if i.already_stored {"duplicate"} else {"stored"}, "document": i.document}),
            Err((code, msg)) => serde_json::json!({"file": path, "outcome": "refused", "code": code, "message": msg}),
        });
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&results).map_err(internal)?
        );
    }
    if refused > 0 {
        Err(CliError::User(format!("{refused} file(s) refused")))
    } else {
        Ok(())
    }
}
