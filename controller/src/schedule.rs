//! How long until a registration is probed again: the jittered interval, and the backoff of
//! clusters that keep failing. The waiting itself is kube::runtime's scheduler (the probing
//! Controller's requeues).

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// How a registration's probes are spaced.
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    pub interval: Duration,
    pub unreachable_after: u32,
    pub max_backoff: Duration,
}

impl Cadence {
    /// The wait before the next probe after `failures` consecutive failures, ±10% so the
    /// registrations drift apart: the interval after a success; a quarter of it after a failure
    /// that is not yet enough for Unreachable, so a dead cluster shows within about one interval,
    /// not several; then doubling up to the cap, so a dead cluster costs ever less.
    pub fn next_after(&self, failures: u32) -> Duration {
        let base = if failures == 0 {
            self.interval
        } else if failures < self.unreachable_after {
            self.interval / 4
        } else {
            let doublings = (failures - self.unreachable_after + 1).min(16);
            self.interval
                .saturating_mul(1 << doublings)
                .min(self.max_backoff.max(self.interval))
        };
        jitter(base, 0.1)
    }

    /// The first probe of a registration already known when the controller starts: anywhere in
    /// the first interval, so a restart does not probe thousands of clusters at once.
    pub fn first(&self) -> Duration {
        self.interval.mul_f64(random_unit())
    }
}

/// `d` moved by up to `fraction` of itself either way.
fn jitter(d: Duration, fraction: f64) -> Duration {
    d.mul_f64(1.0 + fraction * (2.0 * random_unit() - 1.0))
}

/// A number in [0, 1): the standard library's randomly keyed hasher is random enough to spread
/// probes, and needs no dependency.
fn random_unit() -> f64 {
    let bits = RandomState::new().hash_one(0u8);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_clusters_back_off_up_to_the_cap() {
        let c = Cadence {
            interval: Duration::from_secs(60),
            unreachable_after: 3,
            max_backoff: Duration::from_secs(300),
        };
        let within = |d: Duration, secs: f64| {
            let s = d.as_secs_f64();
            assert!(s >= secs * 0.9 && s <= secs * 1.1, "{s} not about {secs}");
        };
        within(c.next_after(0), 60.0);
        within(c.next_after(1), 15.0);
        within(c.next_after(2), 15.0);
        within(c.next_after(3), 120.0);
        within(c.next_after(4), 240.0);
        within(c.next_after(5), 300.0);
        within(c.next_after(u32::MAX), 300.0);
        assert!(c.first() < c.interval);
    }
}
