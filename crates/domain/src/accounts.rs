//! Staff accounts: roles, what each role may do, password hashing and secret tokens.
//!
//! Access is decided here, once: the web layer asks `role.may(permission)` and never compares
//! role names itself.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The four roles of the office.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    Default,
    PartialOrd,
    Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages accounts and configuration; can do everything staff can.
    Admin,
    /// Prepares documents, runs syncs. The least role: every default for a new account.
    #[default]
    Staff,
    /// Pejabat: approves and signs.
    Official,
    /// Reads everything, changes nothing.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Staff, Role::Official, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Staff => "staff",
            Role::Official => "official",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The name shown to staff.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Administrator",
            Role::Staff => "Petugas",
            Role::Official => "Pejabat",
            Role::Auditor => "Auditor",
        }
    }

    /// The one place that says which role may do what.
    pub fn may(self, permission: Permission) -> bool {
        use Permission::*;
        match permission {
            ViewPermits | ManageOwnAccount => true,
            RunSync => matches!(self, Role::Admin | Role::Staff),
            ViewAudit => matches!(self, Role::Admin | Role::Auditor),
            ManageUsers => self == Role::Admin,
            ManageDocuments => matches!(self, Role::Admin | Role::Staff),
            DecideDocuments => self == Role::Official,
            WorkflowSteps => matches!(self, Role::Admin | Role::Staff | Role::Official),
            ManageNotifications => matches!(self, Role::Admin | Role::Staff),
        }
    }
}

/// Something a signed-in user may or may not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read permits, permit types, sync status, dashboard.
    ViewPermits,
    /// Change one's own password, create and revoke one's own API tokens, log out.
    ManageOwnAccount,
    /// Start a SICANTIK sync by hand.
    RunSync,
    /// Read the audit trail.
    ViewAudit,
    /// Create, disable and change accounts.
    ManageUsers,
    /// Import PDFs, assign inbox files, create and revoke applicant links, run integrity checks.
    /// (Reading documents comes with `ViewPermits`.)
    ManageDocuments,
    /// Approve, reject, sign and revoke documents (officials). The workflow checks each step.
    DecideDocuments,
    /// Take steps in the signing workflow at all (the workflow then decides which steps).
    WorkflowSteps,
    /// WhatsApp: edit templates, contacts and consent, retry or cancel messages, renewals.
    ManageNotifications,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccountError {
    #[error("the username must be 3–32 characters: lowercase letters, digits, '.', '_' or '-'")]
    BadUsername,
    #[error("the password must be at least {MIN_PASSWORD_LEN} characters")]
    PasswordTooShort,
    #[error("the password must be at most 1024 characters")]
    PasswordTooLong,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

pub const MIN_PASSWORD_LEN: usize = 10;

/// Usernames are case-folded and kept to a safe alphabet so they read the same everywhere.
pub fn normalize_username(name: &str) -> Result<String, AccountError> {
    let name = name.trim().to_lowercase();
    let ok = (3..=32).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(name)
    } else {
        Err(AccountError::BadUsername)
    }
}

pub fn check_password_policy(password: &str) -> Result<(), AccountError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        Err(AccountError::PasswordTooShort)
    } else if n > 1024 {
        Err(AccountError::PasswordTooLong)
    } else {
        Ok(())
    }
}

/// Argon2id with the OWASP-recommended minimum (19 MiB, 2 passes, 1 lane).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (`$argon2id$v=19$…`).
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AccountError::Hash(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// Every password that is set goes through here: the policy, then Argon2id.
pub fn hash_new_password(password: &str) -> Result<String, AccountError> {
    check_password_policy(password)?;
    hash_password(password)
}

/// Checks a password against a stored PHC string; a malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a real password, for checking a password against when the user does not exist, so
/// that a wrong username takes as long as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not-a-real-password-0").unwrap_or_default())
}

/// 256 random bits, URL-safe: session ids, CSRF tokens, API tokens, generated passwords.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A password a person can type: 16 characters from an alphabet without look-alikes.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// API tokens are shown once as `sct_<secret>`; only their SHA-256 is stored, so a stolen
/// database does not yield usable tokens (the secret has 256 bits: no slow hash needed).
pub const API_TOKEN_PREFIX: &str = "sct_";

pub fn new_api_token() -> String {
    format!("{API_TOKEN_PREFIX}{}", random_secret())
}

/// The last four characters of a token, shown to tell tokens apart.
pub fn token_hint(token: &str) -> String {
    let n = token.chars().count();
    token.chars().skip(n.saturating_sub(4)).collect()
}

/// The stored form of a session id or API token.
pub fn secret_digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_per_role() {
        use Permission::*;
        assert!(Role::Admin.may(ManageUsers));
        assert!(!Role::Staff.may(ManageUsers));
        assert!(Role::Staff.may(RunSync));
        assert!(!Role::Official.may(RunSync));
        assert!(!Role::Auditor.may(RunSync));
        assert!(Role::Auditor.may(ViewAudit));
        assert!(!Role::Staff.may(ViewAudit));
        for r in Role::ALL {
            assert!(r.may(ViewPermits));
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn password_hash_round_trip() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("x", "not a phc string"));
        assert_ne!(h, hash_password("correct horse battery").expect("hash"));
    }

    #[test]
    fn usernames_and_passwords() {
        assert_eq!(normalize_username(" Budi.S "), Ok("budi.s".into()));
        assert_eq!(normalize_username("ab"), Err(AccountError::BadUsername));
        assert_eq!(normalize_username("a b c"), Err(AccountError::BadUsername));
        assert_eq!(
            normalize_username("<script>"),
            Err(AccountError::BadUsername)
        );
        assert_eq!(
            check_password_policy("short"),
            Err(AccountError::PasswordTooShort)
        );
        assert!(check_password_policy(&generate_password()).is_ok());
    }

    #[test]
    fn tokens_are_random_and_digested() {
        let a = new_api_token();
        assert!(a.starts_with(API_TOKEN_PREFIX));
        assert_ne!(a, new_api_token());
        assert_eq!(secret_digest(&a).len(), 64);
        assert_eq!(secret_digest(&a), secret_digest(&a));
        assert_eq!(token_hint("sct_abcdef"), "cdef");
        assert_eq!(token_hint("ab"), "ab");
        assert_eq!(
            hash_new_password("short"),
            Err(AccountError::PasswordTooShort)
        );
        assert!(hash_new_password("long-enough-1").is_ok_and(|h| h.starts_with("$argon2id$")));
    }
}
