//! Waiting for something to happen, with one deadline style for the harness, the tests and the
//! tools: check every so often until the check yields a value or the time limit passes, then fail
//! naming what was awaited. Limits are hang guards, not speed targets (those live in `make bench`).

use anyhow::{Result, bail};
use std::time::{Duration, Instant};

/// What is awaited, for how long at most, and how often it is checked.
#[derive(Debug, Clone)]
pub struct Wait {
    what: String,
    limit: Duration,
    every: Duration,
}

impl Wait {
    /// Waits at most `limit` for `what` (a phrase: "the webhook to be ready"), checking every 50 ms.
    pub fn up_to(limit: Duration, what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            limit,
            every: Duration::from_millis(50),
        }
    }

    /// Checks every `every` instead.
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    /// Runs `check` until it yields `Some`; an error once `limit` has passed without one.
    pub async fn until<T>(self, mut check: impl AsyncFnMut() -> Option<T>) -> Result<T> {
        let start = Instant::now();
        loop {
            if let Some(done) = check().await {
                return Ok(done);
            }
            self.give_up_after(start)?;
            tokio::time::sleep(self.every).await;
        }
    }

    /// [`Wait::until`] for code without an async runtime (a thread, a plain `#[test]`).
    pub fn until_blocking<T>(self, mut check: impl FnMut() -> Option<T>) -> Result<T> {
        let start = Instant::now();
        loop {
            if let Some(done) = check() {
                return Ok(done);
            }
            self.give_up_after(start)?;
            std::thread::sleep(self.every);
        }
    }

    fn give_up_after(&self, start: Instant) -> Result<()> {
        if start.elapsed() >= self.limit {
            bail!("timed out after {:?} waiting for {}", self.limit, self.what);
        }
        Ok(())
    }
}
