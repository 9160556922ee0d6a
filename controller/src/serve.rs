//! `/healthz`, `/readyz` and `/metrics` on plain HTTP, for the kubelet and Prometheus.

use crate::metrics::Metrics;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the probe endpoints read.
#[derive(Default)]
pub struct Health {
    /// The registrations and their kubeconfig Secrets have been read once.
    pub synced: AtomicBool,
    pub metrics: Metrics,
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
    if h.synced.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the registrations have not been read yet",
        )
    }
}

async fn metrics(State(h): State<Arc<Health>>) -> String {
    h.metrics.encode()
}
