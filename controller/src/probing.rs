//! The leader's probing, on kube::runtime's `Controller`: a registration is reconciled when it or
//! its kubeconfig Secret changes and when its requeue (the cadence) comes due; the Controller
//! keeps one reconcile per registration at a time, `concurrency` at once, each in a task of its
//! own so a dead cluster holds nothing but its own slot.
//!
//! What the Controller cannot know is kept here, per registration: the failures in a row (the
//! backoff and the Unreachable threshold), when the rights were last checked, and the status this
//! replica last wrote. Its own status writes trigger reconciles too; one that finds nothing
//! changed and no probe due only requeues for the time already planned.

use crate::record::{self, Outcome, Written};
use crate::registrations::{Registrations, Triggers};
use crate::schedule::Cadence;
use crate::serve::ReplicaState;
use extcluster_core::{ExternalCluster, Phase};
use extcluster_remote::stored;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::{self, Action, Config, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// What every reconcile needs.
pub struct Context {
    pub registrations: Registrations,
    pub replica: Arc<ReplicaState>,
    pub cadence: Cadence,
    pub rights_interval: Duration,
    pub recorder: record::Recorder,
    pub concurrency: u16,
    pub memory: RegistrationMemory,
}

/// This replica's memory of the registrations, by name: empty when it starts leading.
#[derive(Default)]
pub struct RegistrationMemory(Mutex<HashMap<String, Remembered>>);

impl RegistrationMemory {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Remembered>> {
        self.0.lock().expect("the memory lock is never poisoned")
    }
}

/// A registration whose Secret is not in the store is given this long from its creation for the
/// Secret to arrive (the plugin writes the registration first) before it is reported missing.
const SECRET_SETTLES: Duration = Duration::from_secs(10);
/// How soon a registration is looked at again while its Secret may still arrive, or after a
/// status write refused because someone wrote the registration since it was read.
const SOON: Duration = Duration::from_secs(1);

/// What decides that a registration must be probed again now.
#[derive(Debug, Clone, PartialEq)]
struct Fingerprint {
    uid: String,
    generation: Option<i64>,
    secret_version: Option<String>,
}

/// This replica's memory of one registration.
#[derive(Debug)]
pub struct Remembered {
    fingerprint: Fingerprint,
    failures: u32,
    panics: u32,
    rights_checked: Option<Instant>,
    phase: Option<Phase>,
    written: Option<Written>,
    due: Instant,
}

/// What a reconcile does with a registration.
enum Turn {
    Probe(record::Probe),
    Wait(Duration),
}

/// A probe that panicked: caught, counted, and the registration requeued with backoff.
#[derive(Debug, thiserror::Error)]
#[error("the probe of {registration} panicked: {why}")]
pub struct Panicked {
    registration: String,
    why: String,
}

pub async fn run(ctx: Arc<Context>, triggers: Triggers) {
    let store = ctx.registrations.clusters.clone();
    // The Secrets' watch runs on its own, so their store fills whatever the Controller is doing;
    // each Secret that changes triggers the registrations that read it.
    let (users_tx, users_rx) = futures::channel::mpsc::unbounded();
    let users = store.clone();
    let _secrets = crate::registrations::owned(triggers.secrets.for_each(move |secret| {
        if let Ok(secret) = secret {
            for user in users_of(&users, &secret) {
                let _ = users_tx.unbounded_send(user);
            }
        }
        futures::future::ready(())
    }));
    Controller::for_stream(triggers.clusters, store)
        .reconcile_on(users_rx)
        .with_config(Config::default().concurrency(ctx.concurrency))
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|result| {
            if let Err(controller::Error::ObjectNotFound(gone)) = result {
                ctx.forget(&gone.name);
            }
            futures::future::ready(())
        })
        .await;
}

/// The registrations that read `secret` as their kubeconfig: the one whose registered Secret
/// it is (looked up by name), and any that name it in `spec.kubeconfigSecretRef`. Called for
/// every Secret a new leader lists, so it allocates nothing per registration.
fn users_of(clusters: &Store<ExternalCluster>, secret: &Secret) -> Vec<ObjectRef<ExternalCluster>> {
    let (namespace, name) = (secret.namespace().unwrap_or_default(), secret.name_any());
    let reads = |c: &ExternalCluster| {
        let at = stored::secret_ref(c);
        at.name == name && at.namespace == namespace
    };
    let registered = name
        .strip_suffix(stored::SECRET_SUFFIX)
        .and_then(|owner| clusters.get(&ObjectRef::new(owner)))
        .filter(|c| c.spec.kubeconfig_secret_ref.is_none() && reads(c));
    let named = clusters.state().into_iter().filter(|c| {
        c.spec
            .kubeconfig_secret_ref
            .as_ref()
            .is_some_and(|r| r.name == name && r.namespace == namespace)
    });
    registered
        .into_iter()
        .chain(named)
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect()
}

async fn reconcile(cluster: Arc<ExternalCluster>, ctx: Arc<Context>) -> Result<Action, Panicked> {
    if !ctx.registrations.wait_until_ready().await {
        return Ok(Action::requeue(SOON));
    }
    let name = cluster.name_any();
    if !cluster.is_live() {
        ctx.forget(&name);
        return Ok(Action::await_change());
    }
    let probe = match ctx.turn(&cluster, Instant::now()) {
        Turn::Wait(d) => return Ok(Action::requeue(d)),
        Turn::Probe(p) => p,
    };
    let outcome = std::panic::AssertUnwindSafe(record::probe_and_record(&ctx.recorder, probe))
        .catch_unwind()
        .await
        .map_err(|panic| Panicked {
            registration: name,
            why: panic_message(panic.as_ref()),
        })?;
    Ok(Action::requeue(ctx.finish(outcome)))
}

fn error_policy(cluster: Arc<ExternalCluster>, error: &Panicked, ctx: Arc<Context>) -> Action {
    tracing::error!(registration = %error.registration, error = %error, "probe panicked; probing it again later");
    ctx.replica.metrics.probe_panics.inc();
    let mut memory = ctx.memory.lock();
    let panics = memory.get_mut(&cluster.name_any()).map_or(1, |k| {
        k.panics += 1;
        k.panics
    });
    Action::requeue(
        ctx.cadence
            .next_after(ctx.cadence.unreachable_after + panics - 1),
    )
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

impl Context {
    /// Whether `cluster` is probed now, or when.
    fn turn(&self, cluster: &Arc<ExternalCluster>, now: Instant) -> Turn {
        let name = cluster.name_any();
        let at = stored::secret_ref(cluster);
        let secret = self.registrations.secret(&at.namespace, &at.name);
        if secret.is_none() && just_created(cluster) {
            return Turn::Wait(SOON);
        }
        let fingerprint = Fingerprint {
            uid: cluster.metadata.uid.clone().unwrap_or_default(),
            generation: cluster.metadata.generation,
            secret_version: secret.as_ref().and_then(|s| s.resource_version()),
        };
        let mut memory = self.memory.lock();
        let known = match memory.get_mut(&name) {
            Some(k) if k.fingerprint.uid == fingerprint.uid => k,
            _ => {
                let first = self.first_probe(cluster);
                memory.insert(
                    name.clone(),
                    Remembered::new(fingerprint.clone(), now + first),
                );
                memory.get_mut(&name).expect("just inserted")
            }
        };
        if known.fingerprint != fingerprint {
            known.fingerprint = fingerprint;
            known.due = now;
        }
        if known.due > now {
            return Turn::Wait(known.due - now);
        }
        Turn::Probe(record::Probe {
            cluster: with_own_write(cluster.clone(), &mut known.written),
            secret,
            failures: known.failures,
            check_rights: known
                .rights_checked
                .is_none_or(|at| at.elapsed() >= self.rights_interval),
        })
    }

    /// A registration already probed by some replica waits for its turn somewhere in the first
    /// interval, so a restart or a failover does not probe thousands of clusters at once.
    fn first_probe(&self, cluster: &ExternalCluster) -> Duration {
        let probed_before = cluster
            .status
            .as_ref()
            .is_some_and(|s| s.last_probe_time.is_some());
        if probed_before {
            self.cadence.first()
        } else {
            Duration::ZERO
        }
    }

    /// Records a probe's outcome; returns when to reconcile again.
    fn finish(&self, outcome: Outcome) -> Duration {
        let mut memory = self.memory.lock();
        let Some(k) = memory.get_mut(&outcome.name) else {
            return self.cadence.interval;
        };
        k.failures = outcome.failures;
        k.panics = 0;
        if outcome.rights_checked {
            k.rights_checked = Some(Instant::now());
        }
        self.replica.metrics.count_phase(k.phase, outcome.phase);
        k.phase = outcome.phase;
        if outcome.written.is_some() {
            k.written = outcome.written;
        }
        let next = if outcome.conflicted {
            SOON
        } else {
            self.cadence.next_after(k.failures)
        };
        k.due = Instant::now() + next;
        next
    }

    /// Drops what is kept of a registration that went, its metrics series included.
    fn forget(&self, name: &str) {
        let mut memory = self.memory.lock();
        if let Some(k) = memory.remove(name) {
            self.replica.metrics.count_phase(k.phase, None);
        }
        self.replica.metrics.record_expiry(name, None);
        self.recorder.tokens.forget(name);
    }
}

fn just_created(cluster: &ExternalCluster) -> bool {
    cluster
        .metadata
        .creation_timestamp
        .as_ref()
        .is_none_or(|t| {
            Timestamp::now().duration_since(t.0) < SECRET_SETTLES.try_into().unwrap_or_default()
        })
}

/// The registration as the probe should see it: the store's copy, or, while the store has not
/// caught up with this replica's last write, that copy with the status written.
fn with_own_write(
    cluster: Arc<ExternalCluster>,
    written: &mut Option<Written>,
) -> Arc<ExternalCluster> {
    match written {
        Some(w) if cluster.metadata.resource_version.as_ref() == Some(&w.read_at) => {
            let mut caught_up = (*cluster).clone();
            caught_up.status = Some(w.status.clone());
            caught_up.metadata.resource_version = Some(w.written_at.clone());
            Arc::new(caught_up)
        }
        Some(_) => {
            *written = None;
            cluster
        }
        None => cluster,
    }
}

impl Remembered {
    fn new(fingerprint: Fingerprint, due: Instant) -> Self {
        Self {
            fingerprint,
            failures: 0,
            panics: 0,
            rights_checked: None,
            phase: None,
            written: None,
            due,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use extcluster_core::ExternalClusterStatus;

    fn at_version(version: &str, phase: Phase) -> Arc<ExternalCluster> {
        let mut cluster: ExternalCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "extcluster.io/v1alpha1", "kind": "ExternalCluster",
            "metadata": {"name": "a", "resourceVersion": version},
            "spec": {"clusterID": "id", "server": "https://x", "mode": "Connect", "kubernetesVersion": "v1.30.1"}
        }))
        .unwrap();
        cluster.status = Some(ExternalClusterStatus {
            phase: Some(phase),
            ..ExternalClusterStatus::default()
        });
        Arc::new(cluster)
    }

    fn phase(c: &ExternalCluster) -> Option<Phase> {
        c.status.as_ref().and_then(|s| s.phase)
    }

    #[test]
    fn a_probe_reads_its_own_write_until_the_store_shows_a_newer_version() {
        let mut written = Some(Written {
            read_at: "5".into(),
            written_at: "7".into(),
            status: ExternalClusterStatus {
                phase: Some(Phase::Unreachable),
                ..ExternalClusterStatus::default()
            },
        });
        let lagging = with_own_write(at_version("5", Phase::Running), &mut written);
        assert_eq!(phase(&lagging), Some(Phase::Unreachable));
        assert_eq!(lagging.metadata.resource_version.as_deref(), Some("7"));
        assert!(written.is_some(), "kept while the store lags");
        let caught_up = with_own_write(at_version("8", Phase::Pending), &mut written);
        assert_eq!(
            phase(&caught_up),
            Some(Phase::Pending),
            "the store's, once newer"
        );
        assert!(written.is_none());
    }
}
