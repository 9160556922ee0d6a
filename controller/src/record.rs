//! One registration's turn: probe it, derive its status with core's rules, write the status to
//! the hub only when something besides the probe time changed (or the heartbeat is due), and
//! record an event for each transition.

use extcluster_core::health::{self, Settings, Subject, Transition};
use extcluster_core::{ExternalCluster, Phase};
use extcluster_remote::failure::is_not_found;
use extcluster_remote::observe::{Limits, observe};
use extcluster_remote::status::{self, CONTROLLER_MANAGER};
use extcluster_remote::stored;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use kube::{Client, Resource};
use std::sync::Arc;
use std::time::Instant;

/// Where events about registrations (cluster-scoped) are recorded. `kube-system`, not `default`:
/// API servers before 1.22 accept events about cluster-scoped objects only there, and the
/// accepted range starts at 1.19. Events are written only on transitions, so they need no series.
pub const EVENT_NAMESPACE: &str = "kube-system";

/// What a probe task reports back to the loop.
#[derive(Debug)]
pub struct Outcome {
    pub name: String,
    /// Consecutive failed probes, this one included.
    pub failures: u32,
    pub rights_checked: bool,
    pub phase: Option<Phase>,
    /// The status this probe wrote, if it wrote one.
    pub written: Option<Written>,
    /// The write was refused: someone wrote the registration after the probe read it.
    pub conflicted: bool,
}

/// One probe to make: the registration as read, its kubeconfig Secret, and what the replica
/// remembers of it.
pub struct Probe {
    pub cluster: Arc<ExternalCluster>,
    pub secret: Option<Arc<Secret>>,
    pub failures: u32,
    pub check_rights: bool,
}

/// What a status write did.
enum Wrote {
    At(String),
    Nothing,
    Conflict,
}

/// A status the controller wrote, until the hub's watch brings it back: a probe that starts
/// before then reads it here rather than the older copy in the store, so a slow watch costs no
/// second write and no repeated event.
#[derive(Debug)]
pub struct Written {
    /// The resource version the write was made over: the store still holding it has not seen
    /// the write (nor anyone's later one).
    pub read_at: String,
    /// The resource version the write made.
    pub written_at: String,
    pub status: extcluster_core::ExternalClusterStatus,
}

/// What a registration's turn needs: how long a look may take, the rules that judge what it saw,
/// and where the result is written.
pub struct Recorder {
    pub limits: Limits,
    pub settings: Settings,
    pub writer: Writer,
    /// Federated registrations' tokens.
    pub tokens: crate::tokens::Tokens,
}

/// Writes status and events to the hub.
pub struct Writer {
    pub client: Client,
    /// This replica's name, as the events' reporting instance.
    pub instance: String,
    /// A status unchanged for this long is written anyway, so staleness shows.
    pub heartbeat: SignedDuration,
    /// Whether this replica may still write (its Lease's deadline).
    pub replica: Arc<crate::serve::ReplicaState>,
}

pub async fn probe_and_record(recorder: &Recorder, probe: Probe) -> Outcome {
    let Probe {
        cluster,
        secret,
        failures,
        check_rights,
    } = probe;
    #[cfg(feature = "fault-injection")]
    fault_injection::panic_if_asked(&cluster);
    let cluster = cluster.as_ref();
    let name = cluster.metadata.name.clone().unwrap_or_default();
    let observation = recorder
        .look(cluster, secret.as_deref(), check_rights)
        .await;
    let Recorder {
        settings, writer, ..
    } = recorder;
    let metrics = &writer.replica.metrics;
    let now = Timestamp::now();
    let subject = Subject {
        cluster_id: &cluster.spec.cluster_id,
        generation: cluster.metadata.generation,
    };
    let old = cluster.status.as_ref();
    let derived = health::derive(old, subject, &observation, failures, settings, now);
    let read_at = cluster
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    let mut wrote = Wrote::Nothing;
    if health::changed(old, &derived.status) || writer.heartbeat_due(old, now) {
        wrote = writer
            .write(&name, &read_at, &derived.status, metrics)
            .await;
    }
    if matches!(wrote, Wrote::Conflict) {
        // Someone else's write is newer than what the probe read: probe again with it.
        return Outcome {
            name,
            failures,
            rights_checked: false,
            phase: old.and_then(|s| s.phase),
            written: None,
            conflicted: true,
        };
    }
    for transition in &derived.transitions {
        writer.event(cluster, transition, metrics).await;
    }
    Outcome {
        name,
        failures: if observation.outcome.is_ok() {
            0
        } else {
            failures + 1
        },
        rights_checked: check_rights && observation.outcome.is_ok(),
        phase: derived.status.phase,
        written: match wrote {
            Wrote::At(written_at) => Some(Written {
                read_at,
                written_at,
                status: derived.status,
            }),
            _ => None,
        },
        conflicted: false,
    }
}

impl Recorder {
    /// One look at the cluster through its stored kubeconfig, timed and counted.
    async fn look(
        &self,
        cluster: &ExternalCluster,
        secret: Option<&Secret>,
        check_rights: bool,
    ) -> health::Observation {
        let name = cluster.metadata.name.as_deref().unwrap_or_default();
        let started = Instant::now();
        let kubeconfig = match stored::from_secret(secret, &stored::secret_ref(cluster)) {
            Ok(stored) => self.tokens.kubeconfig(cluster, stored).await,
            Err(e) => Err(e),
        };
        let observation = observe(kubeconfig, cluster, check_rights, self.limits).await;
        let metrics = &self.writer.replica.metrics;
        metrics
            .probe_duration
            .observe(started.elapsed().as_secs_f64());
        if let Err(e) = &observation.outcome {
            metrics.count_failure(e);
        }
        metrics.record_expiry(name, observation.credentials.expires);
        observation
    }
}

impl Writer {
    fn heartbeat_due(
        &self,
        old: Option<&extcluster_core::ExternalClusterStatus>,
        now: Timestamp,
    ) -> bool {
        old.and_then(|s| s.last_probe_time.as_ref())
            .is_none_or(|t| now.duration_since(t.0) >= self.heartbeat)
    }

    /// Writes the probe's fields, only over the version the probe read: a write by anyone since
    /// (the plugin, the publisher, another replica) is never overwritten with an older view.
    async fn write(
        &self,
        name: &str,
        read_at: &str,
        new: &extcluster_core::ExternalClusterStatus,
        metrics: &crate::metrics::Metrics,
    ) -> Wrote {
        if !self.replica.may_write() {
            return Wrote::Nothing;
        }
        let api: Api<ExternalCluster> = Api::all(self.client.clone());
        match status::apply_probed(&api, name, CONTROLLER_MANAGER, Some(read_at), new).await {
            Ok(written) => {
                metrics.hub_writes.inc();
                tracing::debug!(registration = name, phase = ?new.phase, status_message = ?new.message, "status written");
                Wrote::At(written.metadata.resource_version.unwrap_or_default())
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Wrote::Conflict,
            Err(e) if is_not_found(&e) => Wrote::Nothing,
            Err(e) => {
                tracing::warn!(registration = name, error = %e, "cannot write the status");
                Wrote::Nothing
            }
        }
    }

    async fn event(
        &self,
        cluster: &ExternalCluster,
        t: &Transition,
        metrics: &crate::metrics::Metrics,
    ) {
        let now = Timestamp::now();
        let name = cluster.metadata.name.clone().unwrap_or_default();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{name}.{:x}", now.as_nanosecond())),
                namespace: Some(EVENT_NAMESPACE.into()),
                ..ObjectMeta::default()
            },
            type_: Some(if t.warning { "Warning" } else { "Normal" }.into()),
            reason: Some(t.reason.into()),
            note: Some(t.message.chars().take(1000).collect()),
            action: Some("Probe".into()),
            event_time: Some(MicroTime(now)),
            regarding: Some(cluster.object_ref(&())),
            reporting_controller: Some(CONTROLLER_MANAGER.into()),
            reporting_instance: Some(self.instance.clone()),
            ..Event::default()
        };
        if !self.replica.may_write() {
            return;
        }
        let events: Api<Event> = Api::namespaced(self.client.clone(), EVENT_NAMESPACE);
        match events.create(&PostParams::default(), &event).await {
            Ok(_) => metrics.count_event(t.reason),
            Err(e) => tracing::warn!(reason = t.reason, error = %e, "cannot record an event"),
        }
    }
}

/// A fault the tests inject, compiled only into the test build (`--features fault-injection`):
/// a registration annotated `extcluster.io/test-panic` makes its probe panic.
#[cfg(feature = "fault-injection")]
mod fault_injection {
    pub fn panic_if_asked(cluster: &extcluster_core::ExternalCluster) {
        let asked = cluster
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("extcluster.io/test-panic"));
        assert!(!asked, "the test asked this probe to panic");
    }
}
