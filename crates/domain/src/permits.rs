//! Permits as the companion stores them, and the validated shape of an upstream list row.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Where a permit stands in SICANTIK. A permit only moves forward: once issued, seeing it again in
/// the in-process list (rows shift while paging) does not move it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PermitStatus {
    InProcess,
    Issued,
}

impl PermitStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PermitStatus::InProcess => "in_process",
            PermitStatus::Issued => "issued",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "in_process" => Some(PermitStatus::InProcess),
            "issued" => Some(PermitStatus::Issued),
            _ => None,
        }
    }

    /// Rank used to refuse backward moves.
    fn rank(self) -> u8 {
        match self {
            PermitStatus::InProcess => 0,
            PermitStatus::Issued => 1,
        }
    }

    /// The status to keep when `incoming` is observed for a permit currently `self`.
    pub fn advance(self, incoming: PermitStatus) -> PermitStatus {
        if incoming.rank() > self.rank() {
            incoming
        } else {
            self
        }
    }
}

/// Data-quality flags for a person to look at: field name → problem code (e.g. `missing`,
/// `invalid:2024-02-30`). A flagged field is kept empty rather than filled with a guess.
pub type DataFlags = BTreeMap<String, String>;

/// One list row after validation: it has a usable registration id; every other field may be absent
/// (and is then flagged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingPermit {
    pub pendaftaran_id: String,
    pub status: PermitStatus,
    pub applicant_name: Option<String>,
    pub permit_type_name: Option<String>,
    pub permit_number: Option<String>,
    pub flags: DataFlags,
}

/// The list-derived part of a stored permit, which the sync compares and updates. Fields filled by
/// the expiry workaround live beside it in the database and are never touched by the list sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPermit {
    pub pendaftaran_id: String,
    pub status: PermitStatus,
    pub applicant_name: Option<String>,
    pub permit_type_name: Option<String>,
    pub permit_number: Option<String>,
    pub flags: DataFlags,
}

/// A permit with everything the companion knows, for pages and the API.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PermitView {
    pub pendaftaran_id: String,
    pub status: PermitStatus,
    pub applicant_name: Option<String>,
    pub permit_type_name: Option<String>,
    pub permit_number: Option<String>,
    pub flags: DataFlags,
    pub expiry_date: Option<NaiveDate>,
    pub issue_date: Option<NaiveDate>,
    pub received_date: Option<NaiveDate>,
    pub applicant_address: Option<String>,
    pub applicant_phone: Option<String>,
    pub company_name: Option<String>,
    pub expiry_status: String,
    pub expiry_attempts: i64,
    pub expiry_checked_at: Option<DateTime<Utc>>,
    pub first_seen_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Parses a SICANTIK date (`YYYY-MM-DD`). `0000-00-00`, `2024-02-30` and anything else that is not
/// a real calendar date give `None`.
pub fn parse_upstream_date(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_never_moves_backwards() {
        assert_eq!(
            PermitStatus::InProcess.advance(PermitStatus::Issued),
            PermitStatus::Issued
        );
        assert_eq!(
            PermitStatus::Issued.advance(PermitStatus::InProcess),
            PermitStatus::Issued
        );
        assert_eq!(PermitStatus::parse("issued"), Some(PermitStatus::Issued));
        assert_eq!(PermitStatus::parse("bogus"), None);
    }

    #[test]
    fn impossible_dates_are_missing() {
        assert_eq!(parse_upstream_date("0000-00-00"), None);
        assert_eq!(parse_upstream_date("2024-02-30"), None);
        assert_eq!(parse_upstream_date(""), None);
        assert_eq!(
            parse_upstream_date("2024-02-29"),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
    }
}
