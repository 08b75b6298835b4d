//! Long-term validity of signed permits (issue 20): the PAdES level a file reached, and the rule
//! of the archive-timestamp renewal — when a published permit's last timestamp must be covered
//! by a new document timestamp, and when renewal stops. No I/O: the signing service reads the
//! file and the record, this decides.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::workflow::DocState;

/// The PAdES baseline level of a signed file (ETSI EN 319 142-1), lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SignatureLevel {
    /// A signature without a trusted timestamp.
    BB,
    /// With the signature timestamp (RFC 3161).
    BT,
    /// Plus a Document Security Store with the validation data.
    BLT,
    /// Plus a document timestamp over all of it.
    BLTA,
}

impl SignatureLevel {
    pub const ALL: [SignatureLevel; 4] = [Self::BB, Self::BT, Self::BLT, Self::BLTA];

    /// `B-B`, `B-T`, `B-LT` or `B-LTA` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_uppercase();
        Self::ALL.into_iter().find(|l| l.name() == s)
    }

    /// The level a signing configuration may ask for (`SIGNATURE_LEVEL`): B-B is never asked.
    pub fn parse_configured(s: &str) -> Option<Self> {
        Self::parse(s).filter(|l| *l != Self::BB)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::BB => "B-B",
            Self::BT => "B-T",
            Self::BLT => "B-LT",
            Self::BLTA => "B-LTA",
        }
    }

    /// What it means, for the public and staff.
    pub fn label(self) -> &'static str {
        match self {
            Self::BB => "PAdES B-B (tanpa cap waktu)",
            Self::BT => "PAdES B-T (dengan cap waktu)",
            Self::BLT => "PAdES B-LT (mendukung LTV)",
            Self::BLTA => "PAdES B-LTA (mendukung LTV, dengan cap waktu arsip)",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Self::BB => "PAdES B-B (no timestamp)",
            Self::BT => "PAdES B-T (timestamped)",
            Self::BLT => "PAdES B-LT (long-term validation data)",
            Self::BLTA => "PAdES B-LTA (long-term validation data, archive timestamp)",
        }
    }

    /// "Tanda tangan mendukung LTV", as the national verifier words it.
    pub fn supports_ltv(self) -> bool {
        self >= Self::BLT
    }
}

/// The newest timestamp a file carries, which every earlier part relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastTimestamp {
    /// When the certificate of the TSA that made it expires.
    pub tsa_not_after: DateTime<Utc>,
    /// A document timestamp (`/DocTimeStamp`), or the signature's own timestamp.
    pub document_timestamp: bool,
    /// Made with an algorithm or key no longer strong enough (SHA-1, RSA below 2048 bits).
    pub weak: bool,
}

/// Why a permit's archive timestamps are no longer renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The office revoked the letter: its record answers DICABUT whatever the file proves.
    Revoked,
    /// The permit's validity ended: it reads KEDALUWARSA; its file stays provable until its last
    /// timestamp's TSA certificate expires, and nothing is added after that.
    Expired,
}

impl Stop {
    pub fn key(self) -> &'static str {
        match self {
            Stop::Revoked => "revoked",
            Stop::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Stop::Revoked, Stop::Expired]
            .into_iter()
            .find(|x| x.key() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Stop::Revoked => "tidak diperbarui lagi (dicabut)",
            Stop::Expired => "tidak diperbarui lagi (masa berlaku izin habis)",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Stop::Revoked => "no longer renewed (revoked)",
            Stop::Expired => "no longer renewed (the permit's validity ended)",
        }
    }
}

/// What the renewal does with one permit now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Add fresh validation data for the last timestamp and a new document timestamp now.
    Now,
    /// Nothing yet; look again at this time.
    DueAt(DateTime<Utc>),
    Stopped(Stop),
}

/// The renewal rule. `margin` is how long before the last timestamp's TSA certificate expires
/// the new document timestamp is added (`ARCHIVE_RENEWAL_MARGIN_DAYS`). A file without any
/// timestamp is timestamped at once (its signing time is otherwise never proven). Revoked
/// letters and permits whose validity ended (`expiry` before `today`, office time) stop.
pub fn renewal(
    state: DocState,
    expiry: Option<NaiveDate>,
    today: NaiveDate,
    last: Option<LastTimestamp>,
    now: DateTime<Utc>,
    margin: Duration,
) -> Renewal {
    if state == DocState::Revoked {
        return Renewal::Stopped(Stop::Revoked);
    }
    if expiry.is_some_and(|e| e < today) {
        return Renewal::Stopped(Stop::Expired);
    }
    let Some(last) = last else {
        return Renewal::Now;
    };
    if last.weak {
        return Renewal::Now;
    }
    let due = last.tsa_not_after - margin;
    if now >= due {
        Renewal::Now
    } else {
        Renewal::DueAt(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
            .single()
            .expect("date")
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    fn ts(not_after: DateTime<Utc>) -> Option<LastTimestamp> {
        Some(LastTimestamp {
            tsa_not_after: not_after,
            document_timestamp: true,
            weak: false,
        })
    }

    #[test]
    fn levels_parse_and_order() {
        for l in SignatureLevel::ALL {
            assert_eq!(SignatureLevel::parse(l.name()), Some(l));
        }
        assert_eq!(SignatureLevel::parse("b-lta"), Some(SignatureLevel::BLTA));
        assert_eq!(SignatureLevel::parse_configured("B-B"), None);
        assert!(SignatureLevel::BLT.supports_ltv() && !SignatureLevel::BT.supports_ltv());
        assert!(SignatureLevel::BB < SignatureLevel::BLTA);
    }

    #[test]
    fn renewal_before_the_tsa_certificate_ends() {
        let margin = Duration::days(90);
        let end = at(2030, 6, 1);
        let today = day(2026, 12, 1);
        let now = at(2026, 12, 1);
        let p = DocState::Published;
        assert_eq!(
            renewal(p, None, today, ts(end), now, margin),
            Renewal::DueAt(end - margin)
        );
        assert_eq!(
            renewal(p, None, today, ts(end), end - margin, margin),
            Renewal::Now
        );
        assert_eq!(
            renewal(p, None, today, ts(end), end + Duration::days(1), margin),
            Renewal::Now
        );
        // No timestamp at all, or a weak one: now.
        assert_eq!(renewal(p, None, today, None, now, margin), Renewal::Now);
        let weak = LastTimestamp {
            weak: true,
            ..ts(end).expect("ts")
        };
        assert_eq!(
            renewal(p, None, today, Some(weak), now, margin),
            Renewal::Now
        );
    }

    #[test]
    fn revoked_and_expired_permits_stop() {
        let margin = Duration::days(90);
        let today = day(2026, 12, 1);
        let now = at(2026, 12, 1);
        let end = at(2030, 1, 1);
        assert_eq!(
            renewal(DocState::Revoked, None, today, ts(end), now, margin),
            Renewal::Stopped(Stop::Revoked)
        );
        assert_eq!(
            renewal(
                DocState::Published,
                Some(day(2026, 11, 30)),
                today,
                ts(end),
                now,
                margin
            ),
            Renewal::Stopped(Stop::Expired)
        );
        // Valid through today: still renewed.
        assert_eq!(
            renewal(DocState::Published, Some(today), today, None, now, margin),
            Renewal::Now
        );
        for s in [Stop::Revoked, Stop::Expired] {
            assert_eq!(Stop::parse(s.key()), Some(s));
        }
    }
}
