//! The leader's loop: every live registration probed on its cadence, at most `concurrency` at
//! once, each in a task of its own so a dead cluster holds nothing but its own slot.

use crate::registrations::Registrations;
use crate::schedule::{Cadence, Schedule};
use crate::serve::Health;
use crate::status::{self, Outcome, Writer, Written};
use extcluster_core::health::Settings;
use extcluster_core::{ExternalCluster, Phase};
use extcluster_remote::observe::Limits;
use extcluster_remote::stored;
use k8s_openapi::api::core::v1::Secret;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What the loop needs, shared with every probe task.
pub struct Context {
    pub registrations: Registrations,
    pub health: Arc<Health>,
    pub settings: Settings,
    pub cadence: Cadence,
    pub limits: Limits,
    pub rights_interval: Duration,
    pub writer: Writer,
    pub concurrency: usize,
}

/// What decides that a registration must be probed again now.
#[derive(Debug, Clone, PartialEq)]
struct Fingerprint {
    uid: String,
    generation: Option<i64>,
    secret_version: Option<String>,
}

/// The loop's memory of one registration.
#[derive(Debug)]
struct Known {
    fingerprint: Fingerprint,
    failures: u32,
    rights_checked: Option<Instant>,
    phase: Option<Phase>,
    /// What the last probe wrote, until the store shows a newer version than it was written over.
    written: Option<Written>,
    busy: bool,
    /// Changed while a probe was in flight: probe again as soon as it ends.
    again: bool,
}

/// Gathers changes for this long before reading the stores again, so a burst of watch events
/// (our own status writes among them) costs one pass.
const SYNC_EVERY: Duration = Duration::from_millis(200);

pub async fn run(ctx: Arc<Context>) {
    let mut known: HashMap<String, Known> = HashMap::new();
    let mut schedule = Schedule::default();
    let mut tasks: JoinSet<Outcome> = JoinSet::new();
    let permits = Arc::new(Semaphore::new(ctx.concurrency));
    let mut sync_at = Some(Instant::now());
    let mut changed = ctx.registrations.changed.subscribe();
    ctx.health.metrics.registrations.clear();
    loop {
        let now = Instant::now();
        if sync_at.is_some_and(|at| at <= now) {
            sync(&ctx, &mut known, &mut schedule, now);
            sync_at = None;
        }
        for name in schedule.take_due(now) {
            start(&ctx, &name, &mut known, &mut tasks, &permits);
        }
        let wake = [schedule.next(), sync_at].into_iter().flatten().min();
        tokio::select! {
            _ = changed.changed() => {
                sync_at.get_or_insert(Instant::now() + SYNC_EVERY);
            }
            Some(done) = tasks.join_next() => {
                if let Ok(outcome) = done {
                    finish(&ctx, outcome, &mut known, &mut schedule);
                }
            }
            _ = sleep_until(wake) => {}
        }
    }
}

pub(crate) async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Brings the loop's memory in line with the hub: new registrations are probed now (or spread
/// over the first interval when they already have a status), changed ones now, gone or
/// disconnecting ones forgotten.
fn sync(ctx: &Context, known: &mut HashMap<String, Known>, schedule: &mut Schedule, now: Instant) {
    let mut seen = std::collections::HashSet::new();
    for cluster in ctx.registrations.clusters.state() {
        let Some(name) = cluster.metadata.name.clone() else {
            continue;
        };
        if !cluster.is_live() {
            continue;
        }
        let fingerprint = fingerprint(ctx, &cluster);
        seen.insert(name.clone());
        match known.get_mut(&name) {
            None => {
                let probed_before = cluster
                    .status
                    .as_ref()
                    .is_some_and(|s| s.last_probe_time.is_some());
                let first = if probed_before {
                    ctx.cadence.first()
                } else {
                    Duration::ZERO
                };
                schedule.set(&name, now + first);
                known.insert(name, Known::new(fingerprint));
            }
            Some(k) if k.fingerprint != fingerprint => {
                if k.fingerprint.uid != fingerprint.uid {
                    *k = Known::new(fingerprint);
                } else {
                    k.fingerprint = fingerprint;
                }
                if k.busy {
                    k.again = true;
                } else {
                    schedule.set_no_later(&name, now);
                }
            }
            Some(_) => {}
        }
    }
    known.retain(|name, k| {
        let keep = seen.contains(name);
        if !keep {
            schedule.remove(name);
            ctx.health.metrics.count_phase(k.phase, None);
        }
        keep
    });
}

fn fingerprint(ctx: &Context, cluster: &ExternalCluster) -> Fingerprint {
    let at = stored::secret_ref(cluster);
    Fingerprint {
        uid: cluster.metadata.uid.clone().unwrap_or_default(),
        generation: cluster.metadata.generation,
        secret_version: ctx
            .registrations
            .secret(&at.namespace, &at.name)
            .and_then(|s| s.metadata.resource_version.clone()),
    }
}

fn start(
    ctx: &Arc<Context>,
    name: &str,
    known: &mut HashMap<String, Known>,
    tasks: &mut JoinSet<Outcome>,
    permits: &Arc<Semaphore>,
) {
    let Some(k) = known.get_mut(name) else { return };
    let Some(cluster) = ctx
        .registrations
        .clusters
        .get(&kube::runtime::reflector::ObjectRef::new(name))
    else {
        return;
    };
    let cluster = with_own_write(cluster, &mut k.written);
    let at = stored::secret_ref(&cluster);
    let secret: Option<Arc<Secret>> = ctx.registrations.secret(&at.namespace, &at.name);
    let check_rights = k
        .rights_checked
        .is_none_or(|at| at.elapsed() >= ctx.rights_interval);
    let failures = k.failures;
    k.busy = true;
    let (ctx, permits) = (ctx.clone(), permits.clone());
    tasks.spawn(async move {
        let _permit = permits
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        status::probe_and_record(&ctx, &cluster, secret.as_deref(), failures, check_rights).await
    });
}

/// The registration as the probe should see it: the store's copy, or, while the store has not
/// caught up with this controller's last write, that copy with the status written.
fn with_own_write(
    cluster: Arc<ExternalCluster>,
    written: &mut Option<Written>,
) -> Arc<ExternalCluster> {
    match written {
        Some(w) if cluster.metadata.resource_version.as_ref() == Some(&w.over) => {
            let mut caught_up = (*cluster).clone();
            caught_up.status = Some(w.status.clone());
            Arc::new(caught_up)
        }
        Some(_) => {
            *written = None;
            cluster
        }
        None => cluster,
    }
}

fn finish(
    ctx: &Context,
    outcome: Outcome,
    known: &mut HashMap<String, Known>,
    schedule: &mut Schedule,
) {
    let Some(k) = known.get_mut(&outcome.name) else {
        return;
    };
    k.busy = false;
    k.failures = outcome.failures;
    if outcome.rights_checked {
        k.rights_checked = Some(Instant::now());
    }
    ctx.health.metrics.count_phase(k.phase, outcome.phase);
    k.phase = outcome.phase;
    if outcome.written.is_some() {
        k.written = outcome.written;
    }
    let next = if std::mem::take(&mut k.again) {
        Duration::ZERO
    } else {
        ctx.cadence.next_after(k.failures)
    };
    schedule.set(&outcome.name, Instant::now() + next);
}

impl Known {
    fn new(fingerprint: Fingerprint) -> Self {
        Self {
            fingerprint,
            failures: 0,
            rights_checked: None,
            phase: None,
            written: None,
            busy: false,
            again: false,
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
            over: "5".into(),
            status: ExternalClusterStatus {
                phase: Some(Phase::Unreachable),
                ..ExternalClusterStatus::default()
            },
        });
        let lagging = with_own_write(at_version("5", Phase::Running), &mut written);
        assert_eq!(phase(&lagging), Some(Phase::Unreachable));
        assert!(written.is_some(), "kept while the store lags");
        let caught_up = with_own_write(at_version("6", Phase::Pending), &mut written);
        assert_eq!(
            phase(&caught_up),
            Some(Phase::Pending),
            "the store's, once newer"
        );
        assert!(written.is_none());
    }
}
