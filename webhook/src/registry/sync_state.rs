//! Whether the index reflects the hub: synced once, and not out of touch for too long. The watch
//! marks it; readiness and the registry's answers read it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct SyncState {
    epoch: Instant,
    synced: AtomicBool,
    /// Milliseconds since `epoch` when the watch broke; 0 while it is healthy.
    broken_since: AtomicU64,
    stale_after: Duration,
}

impl SyncState {
    pub(super) fn new(stale_after: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            synced: AtomicBool::new(false),
            broken_since: AtomicU64::new(0),
            stale_after,
        }
    }

    pub fn mark_synced(&self) {
        self.synced.store(true, Ordering::Release);
        self.mark_healthy();
    }

    pub fn mark_healthy(&self) {
        self.broken_since.store(0, Ordering::Release);
    }

    pub fn mark_broken(&self) {
        let now = (self.epoch.elapsed().as_millis() as u64).max(1);
        let _ = self
            .broken_since
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Why the index cannot be trusted, if it cannot.
    pub fn unavailable(&self) -> Option<&'static str> {
        if !self.synced.load(Ordering::Acquire) {
            return Some("the webhook has not finished reading the registrations from the hub");
        }
        let since = self.broken_since.load(Ordering::Acquire);
        if since != 0 {
            let broken_for = self
                .epoch
                .elapsed()
                .saturating_sub(Duration::from_millis(since));
            if broken_for > self.stale_after {
                return Some("the webhook has lost its watch on the registrations");
            }
        }
        None
    }
}
