//! Prometheus metrics: requests by operation and verdict, denials by reason, latency.

use extcluster_core::policy::Operation;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use strum::VariantArray;

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Verdict {
    Allowed,
    Denied,
    Invalid,
}

impl Verdict {
    const ALL: [Verdict; 3] = [Verdict::Allowed, Verdict::Denied, Verdict::Invalid];
}

/// The request counter of every operation (and of bodies with no review in them, `UNKNOWN`) and
/// verdict, looked up once: counting a review takes no lock and hashes nothing. Every series is
/// there, at 0, from the start.
pub struct RequestCounters(Vec<[Counter; 3]>);

impl RequestCounters {
    fn new(family: &Family<RequestLabels, Counter>) -> Self {
        let operations = Operation::VARIANTS.iter().map(|o| o.as_str());
        let rows = operations.chain(["UNKNOWN"]).map(|operation| {
            Verdict::ALL.map(|verdict| {
                family
                    .get_or_create(&RequestLabels { operation, verdict })
                    .clone()
            })
        });
        Self(rows.collect())
    }

    /// Counts one answer; `operation` is `None` for a body with no review in it.
    pub fn inc(&self, operation: Option<Operation>, verdict: Verdict) {
        let row = operation.map_or(Operation::VARIANTS.len(), |o| o as usize);
        self.0[row][verdict as usize].inc();
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub operation: &'static str,
    pub verdict: Verdict,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DenialLabels {
    pub reason: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub requests: RequestCounters,
    pub denials: Family<DenialLabels, Counter>,
    pub latency: Histogram,
    pub registrations: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub watch_restarts: Counter<u64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("extcluster_webhook");
        let requests = Family::<RequestLabels, Counter>::default();
        let denials = Family::<DenialLabels, Counter>::default();
        // From 50 µs: the API server's own first bucket is 5 ms, and we mean to stay far below it.
        let latency = Histogram::new([
            0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05,
        ]);
        let registrations = Gauge::default();
        let watch_restarts = Counter::default();
        registry.register("requests", "Admission reviews answered", requests.clone());
        registry.register(
            "denials",
            "Admission requests denied, by reason",
            denials.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to decide one admission review",
            latency.clone(),
        );
        registry.register(
            "registrations",
            "ExternalClusters in the webhook's index",
            registrations.clone(),
        );
        registry.register(
            "watch_errors",
            "Times the watch on ExternalClusters failed and was restarted",
            watch_restarts.clone(),
        );
        Self {
            registry,
            requests: RequestCounters::new(&requests),
            denials,
            latency,
            registrations,
            watch_restarts,
        }
    }
}

impl Metrics {
    pub fn render(&self) -> String {
        extcluster_serving::metrics_text(&self.registry)
    }
}
