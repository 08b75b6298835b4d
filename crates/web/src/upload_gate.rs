//! Admission for the portal's PDF checks: a flood of large uploads must not take the server's
//! memory, nor keep a citizen's ordinary check from its verdict. Two budgets of bytes held
//! (ordinary files, and large ones, so large uploads only ever wait for each other) and a bound
//! on validations running at once. A request that cannot be admitted soon is told to try again.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// An upload up to this size counts as ordinary (a signed permit is a few hundred kilobytes).
pub const ORDINARY_UPLOAD: u64 = 4 * 1024 * 1024;

/// Permits are counted in KiB (a semaphore holds at most `u32::MAX >> 3` permits).
const UNIT: u64 = 1024;

pub struct UploadGate {
    ordinary: Arc<Semaphore>,
    ordinary_kib: u32,
    large: Arc<Semaphore>,
    large_kib: u32,
    checks: Arc<Semaphore>,
    wait: Duration,
}

/// What an admitted upload holds until its check has really finished (also when the visitor
/// was answered earlier because the check took too long).
pub struct Admission {
    _bytes: OwnedSemaphorePermit,
}

pub struct CheckSlot {
    _slot: OwnedSemaphorePermit,
}

/// The gate is full: the visitor is asked to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl UploadGate {
    /// `large_budget` bytes may be held by large uploads at once (at least one maximal upload),
    /// `checks` validations run at once, and a request waits at most `wait` for its turn.
    pub fn new(large_budget: u64, max_upload: u64, checks: usize, wait: Duration) -> Self {
        let kib = |b: u64| u32::try_from(b.div_ceil(UNIT)).unwrap_or(u32::MAX >> 4);
        let large_kib = kib(large_budget.max(max_upload));
        // Ordinary checks get room for a few at once whatever the large budget is.
        let ordinary_kib = kib(4 * ORDINARY_UPLOAD);
        Self {
            ordinary: Arc::new(Semaphore::new(ordinary_kib as usize)),
            ordinary_kib,
            large: Arc::new(Semaphore::new(large_kib as usize)),
            large_kib,
            checks: Arc::new(Semaphore::new(checks.max(1))),
            wait,
        }
    }

    /// Reserves room for an upload of `declared` bytes (the request's `Content-Length`; without
    /// one, the largest allowed upload).
    pub async fn admit(&self, declared: Option<u64>, max_upload: u64) -> Result<Admission, Busy> {
        let size = declared.unwrap_or(max_upload).min(max_upload).max(1);
        let (pool, cap) = if size <= ORDINARY_UPLOAD {
            (&self.ordinary, self.ordinary_kib)
        } else {
            (&self.large, self.large_kib)
        };
        let want = u32::try_from(size.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .min(cap);
        match tokio::time::timeout(self.wait, pool.clone().acquire_many_owned(want)).await {
            Ok(Ok(p)) => Ok(Admission { _bytes: p }),
            _ => Err(Busy),
        }
    }

    /// A turn to validate: at most `checks` run at once, the others queue for up to `wait`.
    pub async fn check_slot(&self) -> Result<CheckSlot, Busy> {
        match tokio::time::timeout(self.wait, self.checks.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(CheckSlot { _slot: p }),
            _ => Err(Busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1024 * 1024;

    #[tokio::test]
    async fn large_uploads_wait_for_each_other_not_for_ordinary_ones() {
        let gate = UploadGate::new(40 * MB, 20 * MB, 2, Duration::from_millis(50));
        let a = gate.admit(Some(19 * MB), 20 * MB).await.expect("first");
        let b = gate.admit(Some(19 * MB), 20 * MB).await.expect("second");
        assert_eq!(gate.admit(Some(19 * MB), 20 * MB).await.err(), Some(Busy));
        // Without a length, the maximum is reserved.
        assert_eq!(gate.admit(None, 20 * MB).await.err(), Some(Busy));
        // A citizen's ordinary permit still gets in.
        let small = gate.admit(Some(300 * 1024), 20 * MB).await;
        assert!(small.is_ok());
        drop(a);
        assert!(gate.admit(Some(19 * MB), 20 * MB).await.is_ok());
        drop(b);
    }

    #[tokio::test]
    async fn checks_at_once_are_bounded() {
        let gate = UploadGate::new(40 * MB, 20 * MB, 1, Duration::from_millis(50));
        let first = gate.check_slot().await.expect("slot");
        assert_eq!(gate.check_slot().await.err(), Some(Busy));
        drop(first);
        assert!(gate.check_slot().await.is_ok());
    }

    #[tokio::test]
    async fn a_budget_below_one_upload_still_admits_one() {
        let gate = UploadGate::new(MB, 20 * MB, 1, Duration::from_millis(50));
        assert!(gate.admit(Some(19 * MB), 20 * MB).await.is_ok());
    }
}
