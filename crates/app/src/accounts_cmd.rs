//! `user …` and `audit verify`: account administration and the audit chain check from the shell.

use std::io::Read;

use clap::{Args, Subcommand};
use companion_db::Database;
use companion_domain::accounts::{
    AccountError, generate_password, hash_new_password, new_api_token, normalize_username,
    secret_digest, token_hint,
};
use companion_domain::{AuditRecord, Role};

use crate::CliError;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create an account. Without --password-stdin a password is generated and printed once.
    Add {
        name: String,
        /// admin, staff, official or auditor; without it the least role, staff.
        #[arg(long, default_value = "staff")]
        role: String,
        /// Full name shown in the application.
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
    /// Disable an account: its sessions end and its API tokens stop working at once.
    Disable { name: String },
    /// Enable a disabled account.
    Enable { name: String },
    /// Set a new password (generated and printed unless --password-stdin).
    Password {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set the official's NIK (16 digits) for BSrE signing; `--clear` removes it.
    Nik {
        name: String,
        nik: Option<String>,
        #[arg(long)]
        clear: bool,
    },
    /// Set the user's WhatsApp number (any usual form; stored as E.164); `--clear` removes it.
    Phone {
        name: String,
        phone: Option<String>,
        #[arg(long)]
        clear: bool,
    },
    /// Create an API token for an account and print it once.
    Token {
        name: String,
        #[arg(long, default_value = "cli")]
        label: String,
    },
}

#[derive(Args)]
pub struct UserArgs {
    #[command(subcommand)]
    pub command: UserCommand,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain: exit 0 if intact, 1 naming the first edited or missing entry.
    Verify {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

fn cli_record(action: &str, target: String, details: serde_json::Value) -> AuditRecord {
    AuditRecord {
        actor_id: None,
        actor: "cli".into(),
        action: action.into(),
        target_kind: Some("user".into()),
        target_id: Some(target),
        source: "cli".into(),
        details,
    }
}

fn read_password(from_stdin: bool) -> Result<(String, bool), CliError> {
    if !from_stdin {
        return Ok((generate_password(), true));
    }
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| CliError::User(format!("cannot read the password from stdin: {e}")))?;
    // The policy is checked when the password is hashed.
    Ok((input.lines().next().unwrap_or("").to_string(), false))
}

/// Policy and Argon2id; a policy failure is the user's, a hashing failure ours.
fn hash(password: &str) -> Result<String, CliError> {
    hash_new_password(password).map_err(|e| match e {
        AccountError::Hash(_) => CliError::Internal(anyhow::anyhow!(e)),
        other => CliError::User(other.to_string()),
    })
}

async fn find(db: &Database, name: &str) -> Result<companion_db::User, CliError> {
    let name = normalize_username(name).map_err(|e| CliError::User(e.to_string()))?;
    db.get_user_by_name(&name)
        .await?
        .ok_or_else(|| CliError::User(format!("no account named {name:?}")))
}

/// Creates an account (used by `user add` and the demo); returns the account.
pub async fn add_user(
    db: &Database,
    name: &str,
    role: Role,
    display_name: Option<&str>,
    password: &str,
) -> Result<companion_db::User, CliError> {
    let username = normalize_username(name).map_err(|e| CliError::User(e.to_string()))?;
    let hash = hash(password)?;
    let user = db
        .create_user(&username, display_name.unwrap_or(&username), role, &hash)
        .await
        .map_err(|e| match e {
            companion_db::DbError::Duplicate(_) => {
                CliError::User(format!("an account named {username:?} already exists"))
            }
            other => other.into(),
        })?;
    db.append_audit(&cli_record(
        "user.create",
        user.id.to_string(),
        serde_json::json!({ "username": user.username, "role": role }),
    ))
    .await?;
    Ok(user)
}

pub async fn run_user(db: &Database, args: UserArgs) -> Result<(), CliError> {
    match args.command {
        UserCommand::Add {
            name,
            role,
            display_name,
            password_stdin,
        } => {
            let role = Role::parse(&role).ok_or_else(|| {
                CliError::User(format!(
                    "unknown role {role:?}: use admin, staff, official or auditor"
                ))
            })?;
            let (password, generated) = read_password(password_stdin)?;
            let user = add_user(db, &name, role, display_name.as_deref(), &password).await?;
            println!("created {} ({})", user.username, role.as_str());
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::List => {
            for u in db.list_users().await? {
                println!(
                    "{:<24} {:<9} {}{}",
                    u.username,
                    u.role.as_str(),
                    u.display_name,
                    if u.disabled { " (disabled)" } else { "" }
                );
            }
        }
        UserCommand::Disable { name } => set_disabled(db, &name, true).await?,
        UserCommand::Enable { name } => set_disabled(db, &name, false).await?,
        UserCommand::Password {
            name,
            password_stdin,
        } => {
            let user = find(db, &name).await?;
            let (password, generated) = read_password(password_stdin)?;
            db.set_password(user.id, &hash(&password)?, None).await?;
            db.append_audit(&cli_record(
                "user.password_reset",
                user.id.to_string(),
                serde_json::json!({}),
            ))
            .await?;
            println!(
                "password of {} changed; their sessions ended",
                user.username
            );
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::Nik { name, nik, clear } => {
            let user = find(db, &name).await?;
            let nik = match (nik, clear) {
                (Some(n), false) => {
                    let n = n.trim().to_string();
                    if n.len() != 16 || !n.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(CliError::User(format!("a NIK has 16 digits (got {:?})", n)));
                    }
                    Some(n)
                }
                (None, true) => None,
                _ => return Err(CliError::User("give a NIK or --clear".into())),
            };
            db.set_user_nik(&user.username, nik.as_deref()).await?;
            db.append_audit(&cli_record(
                "user.update",
                user.id.to_string(),
                serde_json::json!({ "nik_set": nik.is_some() }),
            ))
            .await?;
            println!(
                "{}: NIK {}",
                user.username,
                if nik.is_some() { "set" } else { "cleared" }
            );
        }
        UserCommand::Phone { name, phone, clear } => {
            let user = find(db, &name).await?;
            let phone = match (phone, clear) {
                (Some(p), false) => Some(
                    companion_notify::phone::normalize(&p)
                        .map_err(|e| CliError::User(e.to_string()))?,
                ),
                (None, true) => None,
                _ => return Err(CliError::User("give a phone number or --clear".into())),
            };
            db.set_user_phone(user.id, phone.as_deref()).await?;
            db.append_audit(&cli_record(
                "user.update",
                user.id.to_string(),
                serde_json::json!({ "phone_set": phone.is_some() }),
            ))
            .await?;
            println!(
                "{}: WhatsApp number {}",
                user.username,
                phone.as_deref().unwrap_or("cleared")
            );
        }
        UserCommand::Token { name, label } => {
            let user = find(db, &name).await?;
            let secret = new_api_token();
            let hint = token_hint(&secret);
            let token = db
                .create_api_token(user.id, &label, &secret_digest(&secret), &hint)
                .await?;
            db.append_audit(&AuditRecord {
                target_kind: Some("api_token".into()),
                ..cli_record(
                    "token.create",
                    token.id.to_string(),
                    serde_json::json!({ "label": label, "owner": user.username }),
                )
            })
            .await?;
            println!("{secret}");
        }
    }
    Ok(())
}

async fn set_disabled(db: &Database, name: &str, disabled: bool) -> Result<(), CliError> {
    let user = find(db, name).await?;
    db.set_user_disabled(user.id, disabled).await?;
    db.append_audit(&cli_record(
        "user.update",
        user.id.to_string(),
        serde_json::json!({ "disabled": disabled }),
    ))
    .await?;
    println!(
        "{} {}",
        user.username,
        if disabled { "disabled" } else { "enabled" }
    );
    Ok(())
}

pub async fn run_audit(db: &Database, args: AuditArgs) -> Result<(), CliError> {
    match args.command {
        AuditCommand::Verify { json } => match db.verify_audit().await? {
            Ok(n) => {
                if json {
                    println!("{}", serde_json::json!({ "ok": true, "entries": n }));
                } else {
                    println!("audit trail intact: {n} entries verified");
                }
                Ok(())
            }
            Err(broken) => {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({ "ok": false, "error": broken.to_string() })
                    );
                }
                Err(CliError::User(format!("audit trail BROKEN: {broken}")))
            }
        },
    }
}
