//! Waiting on an optional time, and tasks that end with whoever started them.

use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Sleeps until `at`, or forever when there is none.
pub async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A spawned task aborted when this handle is dropped: work that a leader started ends when its
/// leadership does, instead of running on unseen.
pub struct Owned(JoinHandle<()>);

impl Owned {
    pub fn spawn(task: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        Self(tokio::spawn(task))
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.0.abort();
    }
}
