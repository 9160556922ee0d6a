//! What the webhook and the controller share as long-running servers in a Pod: the signal that
//! starts a graceful shutdown, and their metrics in Prometheus's text format. Nothing here knows
//! Kubernetes.

use prometheus_client::registry::Registry;

/// Resolves on SIGTERM (the kubelet stopping the Pod) or Ctrl-C (a terminal).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// The registry's metrics in Prometheus's text exposition format.
pub fn metrics_text(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)
        .expect("encoding to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;

    #[test]
    fn a_counter_is_written_with_its_total() {
        let mut registry = prometheus_client::registry::Registry::with_prefix("x");
        let hits: Counter = Counter::default();
        registry.register("hits", "Hits", hits.clone());
        hits.inc();
        let text = super::metrics_text(&registry);
        assert!(text.contains("x_hits_total 1"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
