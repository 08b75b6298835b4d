//! The expiry workaround's retry policy. SICANTIK's `cekperizinan` misses many permits for good
//! (it inner-joins company data), so a miss is retried with a growing delay instead of nightly.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// What the last expiry look-up of a permit found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryStatus {
    /// Never looked up.
    Unknown,
    /// An expiry date was found.
    Found,
    /// SICANTIK knows the permit but gives no (valid) expiry date.
    NoExpiry,
    /// Neither `cekperizinan` nor `cekperizinanizin` knows the number.
    NotRegistered,
    /// The look-up failed (timeout, 5xx, malformed answer) after retries.
    Error,
}

impl ExpiryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryStatus::Unknown => "unknown",
            ExpiryStatus::Found => "found",
            ExpiryStatus::NoExpiry => "no_expiry",
            ExpiryStatus::NotRegistered => "not_registered",
            ExpiryStatus::Error => "error",
        }
    }
}

/// Delay policy for look-ups that did not yield an expiry date.
#[derive(Debug, Clone, Copy)]
pub struct ExpiryRetryPolicy {
    /// Delay after the first miss; doubled on each further miss.
    pub base: Duration,
    /// Longest delay between two look-ups of the same permit.
    pub cap: Duration,
}

impl Default for ExpiryRetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::days(1),
            cap: Duration::days(60),
        }
    }
}

impl ExpiryRetryPolicy {
    /// When to ask again after a failed look-up (timeout, error page, an answer about no
    /// permit): soon — 15 minutes, doubling, at most a day — since it says nothing about the
    /// permit.
    pub fn after_failure(&self, now: DateTime<Utc>, attempts: i64) -> DateTime<Utc> {
        let exp = (attempts.max(1) - 1).min(10) as u32;
        let delay = Duration::minutes(15)
            .checked_mul(2i32.saturating_pow(exp))
            .unwrap_or(Duration::days(1))
            .min(Duration::days(1))
            .min(self.cap);
        now + delay
    }

    /// When to ask again after `attempts` consecutive misses (attempts ≥ 1).
    pub fn next_attempt(&self, now: DateTime<Utc>, attempts: i64) -> DateTime<Utc> {
        let exp = (attempts.max(1) - 1).min(20) as u32;
        let delay = self
            .base
            .checked_mul(2i32.saturating_pow(exp))
            .unwrap_or(self.cap)
            .min(self.cap);
        now + delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misses_back_off_exponentially_up_to_the_cap() {
        let p = ExpiryRetryPolicy::default();
        let now = Utc::now();
        assert_eq!(p.next_attempt(now, 1) - now, Duration::days(1));
        assert_eq!(p.next_attempt(now, 2) - now, Duration::days(2));
        assert_eq!(p.next_attempt(now, 4) - now, Duration::days(8));
        assert_eq!(p.next_attempt(now, 30) - now, Duration::days(60));
    }

    #[test]
    fn failures_are_asked_again_soon() {
        let p = ExpiryRetryPolicy::default();
        let now = Utc::now();
        assert_eq!(p.after_failure(now, 1) - now, Duration::minutes(15));
        assert_eq!(p.after_failure(now, 3) - now, Duration::hours(1));
        assert_eq!(p.after_failure(now, 12) - now, Duration::days(1));
    }
}
