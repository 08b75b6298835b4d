//! The signing metrics (`docs/metrics.md`): signing failures by reason and the officials' BSrE
//! certificate status as last seen.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::bsre::BsreError;
use crate::service::SigningError;

/// `companion_signing_failures_total{reason}`.
pub const FAILURES: &str = "companion_signing_failures_total";
/// `companion_bsre_user_status{official,status}`: 1 for the status last seen, 0 for an earlier.
pub const BSRE_USER_STATUS: &str = "companion_bsre_user_status";

/// Every `reason` label [`SigningError::reason`] gives (each exists from the start, at zero).
pub const FAILURE_REASONS: &[&str] = &[
    "bsre_certificate_not_usable",
    "bsre_client_credentials",
    "bsre_not_registered",
    "bsre_rejected",
    "bsre_unavailable",
    "bsre_unknown_outcome",
    "bsre_wrong_passphrase",
    "certificate_expired",
    "certificate_revoked",
    "conflict",
    "database",
    "document_store",
    "no_nik",
    "no_passphrase",
    "not_allowed",
    "not_found",
    "sign_error",
    "stamp_error",
];

impl SigningError {
    /// A stable, bounded label for the failure (`companion_signing_failures_total{reason}`).
    pub fn reason(&self) -> &'static str {
        match self {
            SigningError::Workflow(_) | SigningError::NotYourBatch => "not_allowed",
            // A refused approval (the seal would state an unknown or impossible date).
            SigningError::DatesUnknown(_) | SigningError::DatesInvalid(_) => "not_allowed",
            SigningError::NotFound | SigningError::NothingToSign => "not_found",
            SigningError::Conflict | SigningError::AlreadySubmitted => "conflict",
            SigningError::Import(_) => "document_store",
            SigningError::Stamp(_) => "stamp_error",
            SigningError::Sign(_) => "sign_error",
            SigningError::NoPassphrase => "no_passphrase",
            SigningError::CertificateExpired => "certificate_expired",
            SigningError::CertificateRevoked(_) => "certificate_revoked",
            SigningError::Db(_) => "database",
            SigningError::Bsre(b) => match b {
                BsreError::WrongPassphrase => "bsre_wrong_passphrase",
                BsreError::NotRegistered => "bsre_not_registered",
                BsreError::CertificateNotUsable(_) => "bsre_certificate_not_usable",
                BsreError::ClientCredentials => "bsre_client_credentials",
                BsreError::Unavailable(_) => "bsre_unavailable",
                BsreError::UnknownOutcome(_) => "bsre_unknown_outcome",
                BsreError::Rejected { .. } => "bsre_rejected",
                BsreError::NoNik => "no_nik",
            },
        }
    }
}

/// Puts every failure reason on the scrape at zero (so `increase()` sees the first one).
pub fn register() {
    for reason in FAILURE_REASONS {
        metrics::counter!(FAILURES, "reason" => *reason).absolute(0);
    }
}

/// One signing attempt (or a readiness check before one) failed.
pub fn record_failure(e: &SigningError) {
    metrics::counter!(FAILURES, "reason" => e.reason()).increment(1);
}

fn statuses() -> &'static Mutex<HashMap<String, String>> {
    static SEEN: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    SEEN.get_or_init(Default::default)
}

/// What a BSrE user-status check said about `official` (an account name, never the NIK), when
/// it said something about the certificate; an unreachable service changes nothing.
pub fn record_bsre_status(official: &str, answer: &Result<String, BsreError>) {
    let status = match answer {
        Ok(s) => s.trim().to_ascii_uppercase(),
        Err(BsreError::CertificateNotUsable(s)) => s.trim().to_ascii_uppercase(),
        Err(BsreError::NotRegistered) => "NOT_REGISTERED".into(),
        Err(_) => return,
    };
    // BSrE's status words are few and upper case; anything else is one bucket, not a new label.
    let status = if !status.is_empty()
        && status.len() <= 32
        && status.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
    {
        status
    } else {
        "OTHER".into()
    };
    let mut seen = statuses().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(before) = seen.insert(official.to_string(), status.clone())
        && before != status
    {
        metrics::gauge!(BSRE_USER_STATUS, "official" => official.to_string(), "status" => before)
            .set(0.0);
    }
    metrics::gauge!(BSRE_USER_STATUS, "official" => official.to_string(), "status" => status)
        .set(1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_registered_and_bounded() {
        let errors = [
            SigningError::NotFound,
            SigningError::Conflict,
            SigningError::AlreadySubmitted,
            SigningError::Stamp("x".into()),
            SigningError::Sign("x".into()),
            SigningError::NoPassphrase,
            SigningError::CertificateExpired,
            SigningError::CertificateRevoked("keyCompromise"),
            SigningError::NotYourBatch,
            SigningError::NothingToSign,
            SigningError::Bsre(BsreError::WrongPassphrase),
            SigningError::Bsre(BsreError::NotRegistered),
            SigningError::Bsre(BsreError::CertificateNotUsable("EXPIRED".into())),
            SigningError::Bsre(BsreError::ClientCredentials),
            SigningError::Bsre(BsreError::Unavailable("down".into())),
            SigningError::Bsre(BsreError::UnknownOutcome("timeout".into())),
            SigningError::Bsre(BsreError::Rejected {
                code: Some(2099),
                message: "x".into(),
            }),
            SigningError::Bsre(BsreError::NoNik),
        ];
        for e in &errors {
            assert!(FAILURE_REASONS.contains(&e.reason()), "{e:?}");
        }
        let mut sorted = FAILURE_REASONS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), FAILURE_REASONS.len(), "no reason twice");
    }

    #[test]
    fn a_bsre_status_replaces_the_one_before() {
        record_bsre_status("pejabat.uji", &Ok("ISSUE".into()));
        record_bsre_status(
            "pejabat.uji",
            &Err(BsreError::CertificateNotUsable("expired".into())),
        );
        record_bsre_status("pejabat.uji", &Err(BsreError::Unavailable("down".into())));
        record_bsre_status("pejabat.lain", &Ok("<script>".into()));
        let seen = statuses().lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(seen.get("pejabat.uji").map(String::as_str), Some("EXPIRED"));
        assert_eq!(seen.get("pejabat.lain").map(String::as_str), Some("OTHER"));
    }
}
