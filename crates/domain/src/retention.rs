//! How long each log keeps what it holds (the office's data-retention policy). The audit trail
//! is not a log in this sense: it is kept whole, so its hash chain stays verifiable.

use chrono::{DateTime, Duration, Utc};

/// Days each log keeps its entries; `None` keeps them for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionPolicy {
    /// The SICANTIK call log (`api_calls`): rows older than this are deleted.
    pub sicantik_calls_days: Option<u32>,
    /// WhatsApp messages: after this, a finished message keeps its event, state and times but
    /// loses its text, its parameters and all but the last digits of its number; receipts and
    /// settled `DAFTAR` requests are deleted.
    pub whatsapp_days: Option<u32>,
    /// The client address of a public check (the rest of the entry stays); always cleared,
    /// 0 days: at the next run.
    pub verification_address_days: u32,
}

impl RetentionPolicy {
    /// From configured day counts, where 0 (or less) means "keep" for the two logs and "at
    /// once" for client addresses (privacy first).
    pub fn from_days(sicantik_calls: i64, whatsapp: i64, verification_address: i64) -> Self {
        let days = |d: i64| u32::try_from(d).ok().filter(|d| *d > 0);
        Self {
            sicantik_calls_days: days(sicantik_calls),
            whatsapp_days: days(whatsapp),
            verification_address_days: u32::try_from(verification_address.max(0))
                .unwrap_or(u32::MAX),
        }
    }

    /// The moments before which each log's entries go, seen at `now`.
    pub fn cutoffs(&self, now: DateTime<Utc>) -> RetentionCutoffs {
        // A span too long for the calendar keeps everything.
        let before = |d: Option<u32>| {
            d.and_then(|d| Duration::try_days(i64::from(d)))
                .and_then(|d| now.checked_sub_signed(d))
        };
        RetentionCutoffs {
            sicantik_calls: before(self.sicantik_calls_days),
            whatsapp: before(self.whatsapp_days),
            verification_addresses: before(Some(self.verification_address_days)),
        }
    }
}

/// What a retention run removes: entries older than each moment (`None`: that log is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionCutoffs {
    pub sicantik_calls: Option<DateTime<Utc>>,
    pub whatsapp: Option<DateTime<Utc>>,
    pub verification_addresses: Option<DateTime<Utc>>,
}

/// What one run removed, for the log line, the metric and the audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionReport {
    pub sicantik_calls_deleted: u64,
    pub whatsapp_messages_redacted: u64,
    pub whatsapp_receipts_deleted: u64,
    pub daftar_requests_deleted: u64,
    pub verification_addresses_cleared: u64,
}

impl RetentionReport {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A phone number as kept after retention: its last three digits, the rest hidden (enough for
/// staff to tell two numbers apart in old statistics, not enough to reach the person).
pub fn masked_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let tail: String = digits[digits.len().saturating_sub(3)..].iter().collect();
    format!("***{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_keeps_for_ever() {
        let p = RetentionPolicy::from_days(0, -1, 30);
        assert_eq!(
            RetentionPolicy::from_days(1, 1, 0).verification_address_days,
            0
        );
        assert_eq!(p.sicantik_calls_days, None);
        assert_eq!(p.whatsapp_days, None);
        let now = Utc::now();
        let c = p.cutoffs(now);
        assert_eq!(c.sicantik_calls, None);
        assert_eq!(c.verification_addresses, Some(now - Duration::days(30)));
    }

    #[test]
    fn an_absurd_span_keeps_everything() {
        let p = RetentionPolicy::from_days(i64::MAX, 1, i64::MAX);
        let c = p.cutoffs(Utc::now());
        assert_eq!(c.sicantik_calls, None);
        assert_eq!(c.verification_addresses, None);
        assert!(c.whatsapp.is_some());
    }

    #[test]
    fn masks_all_but_the_last_digits() {
        assert_eq!(masked_phone("+6281234567890"), "***890");
        assert_eq!(masked_phone("12"), "***12");
        assert_eq!(masked_phone(""), "***");
    }
}
