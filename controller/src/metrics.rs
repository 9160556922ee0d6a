//! Prometheus metrics: registrations by phase, probe durations and failures, credential expiry,
//! hub writes, leadership.

use extcluster_core::Phase;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicI64, AtomicU64};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RegistrationLabels {
    pub registration: String,
}

pub struct Metrics {
    registry: Registry,
    pub registrations: Family<PhaseLabels, Gauge>,
    pub probe_duration: Histogram,
    pub probe_failures: Family<ReasonLabels, Counter>,
    pub credentials_expiry: Family<RegistrationLabels, Gauge<i64, AtomicI64>>,
    pub hub_writes: Counter<u64, AtomicU64>,
    pub events: Family<ReasonLabels, Counter>,
    pub leader: Gauge<i64, AtomicI64>,
    pub probe_panics: Counter<u64, AtomicU64>,
    pub deletes_held: Counter<u64, AtomicU64>,
    pub publish_passes: Counter<u64, AtomicU64>,
    pub tokens_minted: Counter<u64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("extcluster_controller");
        let m = Self {
            registrations: Family::default(),
            probe_duration: Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1., 5., 15.]),
            probe_failures: Family::default(),
            credentials_expiry: Family::default(),
            hub_writes: Counter::default(),
            events: Family::default(),
            leader: Gauge::default(),
            probe_panics: Counter::default(),
            deletes_held: Counter::default(),
            publish_passes: Counter::default(),
            tokens_minted: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "registrations",
            "Registrations by the phase of their status",
            m.registrations.clone(),
        );
        registry.register(
            "probe_duration_seconds",
            "Time one probe of an external cluster took",
            m.probe_duration.clone(),
        );
        registry.register(
            "probe_failures",
            "Failed probes, by reason",
            m.probe_failures.clone(),
        );
        registry.register(
            "credentials_expiry_timestamp_seconds",
            "When a registration's stored credentials expire (Unix time)",
            m.credentials_expiry.clone(),
        );
        registry.register(
            "hub_writes",
            "Status patches written to the hub",
            m.hub_writes.clone(),
        );
        registry.register(
            "events",
            "Events recorded on registrations, by reason",
            m.events.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the Lease and probes",
            m.leader.clone(),
        );
        registry.register(
            "probe_panics",
            "Probes that panicked (each registration is probed again, with backoff)",
            m.probe_panics.clone(),
        );
        registry.register(
            "publish_deletes_held",
            "Deletes of published objects held back because the API server still holds their \
             registration live",
            m.deletes_held.clone(),
        );
        registry.register(
            "publish_passes",
            "Passes of the publisher (each compares everything published with what should be)",
            m.publish_passes.clone(),
        );
        registry.register(
            "tokens_minted",
            "Tokens minted for federated registrations' hub identities (one per registration \
             per two thirds of its token lifetime)",
            m.tokens_minted.clone(),
        );
        Self { registry, ..m }
    }
}

impl Metrics {
    pub fn encode(&self) -> String {
        extcluster_serving::metrics_text(&self.registry)
    }
}

impl Metrics {
    /// What only a leader reports, zeroed when it stops leading: a follower exporting its last
    /// counts would be counted twice (or for clusters it no longer watches).
    pub fn clear_leader_gauges(&self) {
        self.leader.set(0);
        self.registrations.clear();
        self.credentials_expiry.clear();
    }

    pub fn count_failure(&self, e: &extcluster_core::health::ProbeError) {
        self.probe_failures
            .get_or_create(&ReasonLabels {
                reason: e.kind.into(),
            })
            .inc();
    }

    pub fn count_event(&self, reason: &'static str) {
        self.events.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// Moves one registration from one phase's count to another's.
    pub fn count_phase(&self, old: Option<Phase>, new: Option<Phase>) {
        if old == new {
            return;
        }
        if let Some(phase) = old {
            self.registrations
                .get_or_create(&PhaseLabels {
                    phase: phase.into(),
                })
                .dec();
        }
        if let Some(phase) = new {
            self.registrations
                .get_or_create(&PhaseLabels {
                    phase: phase.into(),
                })
                .inc();
        }
    }

    pub fn record_expiry(&self, registration: &str, at: Option<k8s_openapi::jiff::Timestamp>) {
        let labels = RegistrationLabels {
            registration: registration.to_owned(),
        };
        match at {
            Some(at) => {
                self.credentials_expiry
                    .get_or_create(&labels)
                    .set(at.as_second());
            }
            None => {
                self.credentials_expiry.remove(&labels);
            }
        }
    }
}
