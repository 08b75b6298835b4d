//! Renewal links: which permit renews which. A link is obvious when the new permit is newer
//! (issued later) and has the same holder and permit type as the one it renews; anything else
//! (an older permit, another holder or type, an unknown date) is kept only when a person confirms
//! it with a reason.

use crate::permits::PermitView;

/// The state of a renewal link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RenewalState {
    /// Found by holder and type; waits for staff.
    Suggested,
    /// Confirmed or set by staff: reminders for the old permit stop, the applicant is told.
    Confirmed,
    /// A suggestion staff dropped (not suggested again).
    Rejected,
}

impl RenewalState {
    pub fn as_str(self) -> &'static str {
        match self {
            RenewalState::Suggested => "suggested",
            RenewalState::Confirmed => "confirmed",
            RenewalState::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RenewalState::Suggested,
            RenewalState::Confirmed,
            RenewalState::Rejected,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// Why a link is not an obvious renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewalDoubt {
    /// The new permit is not issued after the old one.
    NotNewer,
    /// One of the issue dates is unknown.
    DateUnknown,
    OtherHolder,
    OtherType,
}

impl RenewalDoubt {
    /// For the staff's form (Bahasa Indonesia).
    pub fn pesan(self) -> &'static str {
        match self {
            RenewalDoubt::NotNewer => "izin baru tidak terbit setelah izin lama",
            RenewalDoubt::DateUnknown => "tanggal terbit salah satu izin tidak diketahui",
            RenewalDoubt::OtherHolder => "nama pemegang izin berbeda",
            RenewalDoubt::OtherType => "jenis izin berbeda",
        }
    }
}

/// Names compared without case and spaces (as the suggestion query does).
fn same_text(a: Option<&str>, b: Option<&str>) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect()
    };
    match (a, b) {
        (Some(a), Some(b)) => !norm(a).is_empty() && norm(a) == norm(b),
        _ => false,
    }
}

/// What keeps `new` renewing `old` from being obvious (empty: an ordinary renewal).
pub fn renewal_doubts(new: &PermitView, old: &PermitView) -> Vec<RenewalDoubt> {
    let mut out = Vec::new();
    match (new.issue_date, old.issue_date) {
        (Some(n), Some(o)) if n > o => {}
        (Some(_), Some(_)) => out.push(RenewalDoubt::NotNewer),
        _ => out.push(RenewalDoubt::DateUnknown),
    }
    if !same_text(new.applicant_name.as_deref(), old.applicant_name.as_deref()) {
        out.push(RenewalDoubt::OtherHolder);
    }
    if !same_text(
        new.permit_type_name.as_deref(),
        old.permit_type_name.as_deref(),
    ) {
        out.push(RenewalDoubt::OtherType);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permits::{DataFlags, PermitStatus};
    use chrono::NaiveDate;

    fn permit(id: &str, holder: &str, kind: &str, issued: Option<(i32, u32, u32)>) -> PermitView {
        PermitView {
            pendaftaran_id: id.into(),
            status: PermitStatus::Issued,
            applicant_name: Some(holder.into()),
            permit_type_name: Some(kind.into()),
            permit_number: None,
            flags: DataFlags::new(),
            expiry_date: None,
            issue_date: issued.and_then(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d)),
            received_date: None,
            applicant_address: None,
            applicant_phone: None,
            company_name: None,
            expiry_status: String::new(),
            expiry_attempts: 0,
            expiry_checked_at: None,
            first_seen_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_renewal_is_newer_and_of_the_same_holder_and_type() {
        let old = permit("A", "Budi Ginting", "Izin Usaha", Some((2022, 3, 1)));
        let new = permit("B", "BUDI  GINTING", "izin usaha", Some((2025, 3, 1)));
        assert!(renewal_doubts(&new, &old).is_empty());
        // A 2022 permit as the "renewal" of a 2025 one.
        assert_eq!(renewal_doubts(&old, &new), vec![RenewalDoubt::NotNewer]);
        let other = permit("C", "Rina", "Izin Reklame", None);
        assert_eq!(
            renewal_doubts(&other, &old),
            vec![
                RenewalDoubt::DateUnknown,
                RenewalDoubt::OtherHolder,
                RenewalDoubt::OtherType
            ]
        );
        assert_eq!(
            RenewalState::parse("confirmed"),
            Some(RenewalState::Confirmed)
        );
    }
}
