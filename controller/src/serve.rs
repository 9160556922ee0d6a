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
pub struct Health {
    /// This replica has read the Lease: it knows whether it leads.
    role_known: AtomicBool,
    /// While leading: the registrations and their kubeconfig Secrets have been listed.
    pub synced: AtomicBool,
    pub metrics: Metrics,
    /// Writes to the hub are allowed until then: the Lease's deadline, checked by every writer
    /// right before it sends, so work that runs on after the deadline (a process resumed from
    /// SIGSTOP, a task not yet aborted) writes nothing.
    writes_until: Mutex<Option<Instant>>,
}

impl Health {
    pub fn role_known(&self) {
        self.role_known.store(true, Ordering::Relaxed);
    }

    pub fn lead_until(&self, deadline: Instant) {
        *self.writes_until.lock().expect("never poisoned") = Some(deadline);
    }

    /// Whether this replica may write to the hub now.
    pub fn may_write(&self) -> bool {
        self.writes_until
            .lock()
            .expect("never poisoned")
            .is_some_and(|d| Instant::now() < d)
    }

    /// Not leading (any more): no writes, nothing listed, and the leader's gauges read 0.
    pub fn stepped_down(&self) {
        *self.writes_until.lock().expect("never poisoned") = None;
        self.synced.store(false, Ordering::Relaxed);
        self.metrics.clear_leader_gauges();
    }

    /// Ready: a follower once it knows it follows; the leader once it has listed everything.
    fn ready(&self) -> bool {
        let leading = self.metrics.leader.get() == 1;
        self.role_known.load(Ordering::Relaxed) && (!leading || self.synced.load(Ordering::Relaxed))
    }
}

pub async fn serve(addr: SocketAddr, health: Arc<Health>) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(health);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    // The bound address, so a port of 0 (tests, the sandbox) says where it landed.
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
    axum::serve(listener, app).await?;
    Ok(())
}

async fn readyz(State(h): State<Arc<Health>>) -> (StatusCode, &'static str) {
    if h.ready() {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the Lease or, while leading, the registrations have not been read yet",
        )
    }
}

async fn metrics(State(h): State<Arc<Health>>) -> String {
    h.metrics.encode()
}
