//! `/healthz`, `/readyz` and `/metrics` on plain HTTP, for the kubelet and Prometheus.

use crate::metrics::Metrics;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::time::Instant;

/// What the probe endpoints read.
#[derive(Default)]
pub struct ReplicaState {
    /// This replica has read the Lease: it knows whether it leads.
    role_known: AtomicBool,
    /// While leading: the registrations and their kubeconfig Secrets have been listed.
    pub synced: AtomicBool,
    pub metrics: Metrics,
    /// While leading, the Lease's deadline: work and writes are allowed until then. Every writer
    /// checks it right before it sends, so work that runs on after the deadline (a process
    /// resumed from SIGSTOP, a task not yet aborted) writes nothing.
    leading_until: Mutex<Option<Instant>>,
}

impl ReplicaState {
    /// Leading until `deadline` (a renewal succeeded).
    pub fn leading(&self, deadline: Instant) {
        *self.leading_until.lock().expect("never poisoned") = Some(deadline);
        self.metrics.leader.set(1);
        self.role_known.store(true, Ordering::Relaxed);
    }

    /// Not leading (any more): no writes, nothing listed, and the leader's gauges read 0.
    pub fn following(&self) {
        *self.leading_until.lock().expect("never poisoned") = None;
        self.synced.store(false, Ordering::Relaxed);
        self.metrics.clear_leader_gauges();
    }

    /// Following, as a Lease just read says.
    pub fn follows(&self) {
        self.following();
        self.role_known.store(true, Ordering::Relaxed);
    }

    pub fn leading_until(&self) -> Option<Instant> {
        *self.leading_until.lock().expect("never poisoned")
    }

    /// Whether this replica may write to the hub now.
    pub fn may_write(&self) -> bool {
        self.leading_until().is_some_and(|d| Instant::now() < d)
    }

    /// Ready: a follower once it knows it follows; the leader once it has listed everything.
    fn ready(&self) -> bool {
        let leading = self.leading_until().is_some();
        self.role_known.load(Ordering::Relaxed) && (!leading || self.synced.load(Ordering::Relaxed))
    }
}

pub async fn serve(addr: SocketAddr, replica: Arc<ReplicaState>) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(replica);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    // The bound address, so a port of 0 (tests, the sandbox) says where it landed.
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
    axum::serve(listener, app).await?;
    Ok(())
}

async fn readyz(State(h): State<Arc<ReplicaState>>) -> (StatusCode, &'static str) {
    if h.ready() {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the Lease or, while leading, the registrations have not been read yet",
        )
    }
}

async fn metrics(State(h): State<Arc<ReplicaState>>) -> String {
    h.metrics.encode()
}
