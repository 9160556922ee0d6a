//! The leader's publisher: every live registration appears where other tools look for clusters —
//! a ClusterProfile in the inventory namespace when the hub serves that API, and the Argo CD and
//! Flux Secrets its `extcluster.io/exports` annotation asks for when this hub exports to them.
//!
//! Level-triggered: each pass derives what should exist from the registrations and their stored
//! kubeconfigs, compares it with what the watches hold, and writes only the difference. What a
//! registration goes with is deleted here at once, and by the garbage collector anyway (each
//! object is owned by its registration).
//!
//! Consumers delete what we delete (Argo CD drops a cluster whose Secret goes, and an
//! ApplicationSet the Applications it generated for it), so nothing is deleted on what the
//! watches have not shown yet: no pass runs before every watch has listed, and a pass that would
//! delete, for registrations the watch does not show, more than [`MASS_DELETE`] objects and more
//! than half of what is published deletes only those whose registration the API server itself,
//! asked afresh, no longer holds live. Nothing vouches for a registration whose identity is
//! refuted: its exports are removed and its ClusterProfile says it is not healthy.

pub mod desired;
mod write;

use crate::registrations::{Registrations, reflect};
use desired::EXPORT_LABEL;
use extcluster_core::api::ExportStatus;
use extcluster_core::exports::{self, Export as Tool};
use extcluster_core::health;
use extcluster_core::inventory::{self, v1alpha1::ClusterProfile};
use extcluster_core::{ExportKind, ExternalCluster};
use extcluster_remote::stored;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::utils::CancelableJoinHandle;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use write::{Op, Target};

/// The API's rate guidance: no more than one status update per ClusterProfile per 30 s.
const PROFILE_STATUS_EVERY: Duration = Duration::from_secs(30);
/// A failed write is tried again after this long.
const RETRY_AFTER: Duration = Duration::from_secs(10);
/// How often a hub without the ClusterProfile API is asked again whether it serves it now.
const DISCOVER_EVERY: Duration = Duration::from_secs(60);
/// Changes gathered for this long cost one pass.
const SETTLE: Duration = Duration::from_secs(1);
/// Writes in flight at once.
const WRITERS: usize = 8;
/// More deletes than this in one pass (and more than half of what is published) are checked
/// against the API server before any is made.
const MASS_DELETE: usize = 10;

pub struct Publisher {
    pub client: Client,
    pub registrations: Registrations,
    pub inventory_namespace: String,
    /// Whether profiles carry the deprecated `credentialProviders` too.
    pub credential_providers: bool,
    /// The tools this hub exports to, and the namespace of each.
    pub targets: BTreeMap<Tool, String>,
    pub replica: Arc<crate::serve::ReplicaState>,
}

/// What the watches hold of the published objects; the watches end with it.
struct Published {
    profiles: Option<(Store<ClusterProfile>, CancelableJoinHandle<()>)>,
    secrets: BTreeMap<Tool, (Store<Secret>, CancelableJoinHandle<()>)>,
    changed: Arc<watch::Sender<()>>,
}

/// The publisher's history between passes.
#[derive(Default)]
struct WriteHistory {
    /// The last failed write of each object, as the sentence `status.exports` shows.
    errors: HashMap<Target, String>,
    profile_status_written: HashMap<String, Instant>,
}

pub async fn run(p: Arc<Publisher>) {
    let mut published = Published::watch(&p);
    let mut changed = published.changed.subscribe();
    let mut registrations_changed = p.registrations.changed.subscribe();
    let mut history = WriteHistory::default();
    let mut discover_at = Instant::now();
    let mut pass_at = Some(Instant::now());
    loop {
        let now = Instant::now();
        if published.profiles.is_none() && discover_at <= now {
            published.profiles = published.discover_profiles(&p).await;
            discover_at = now + DISCOVER_EVERY;
        }
        if pass_at.is_some_and(|at| at <= now)
            && p.registrations.wait_until_ready().await
            && published.ready().await
        {
            pass_at = pass(&p, &published, &mut history).await;
        }
        let discover = published.profiles.is_none().then_some(discover_at);
        let wake = [pass_at, discover].into_iter().flatten().min();
        tokio::select! {
            _ = changed.changed() => { pass_at.get_or_insert(Instant::now() + SETTLE); }
            _ = registrations_changed.changed() => { pass_at.get_or_insert(Instant::now() + SETTLE); }
            _ = crate::clock::sleep_until(wake) => {}
        }
    }
}

impl Published {
    fn watch(p: &Publisher) -> Self {
        let changed = Arc::new(watch::Sender::new(()));
        let secrets = p
            .targets
            .iter()
            .map(|(tool, namespace)| {
                let api = Api::<Secret>::namespaced(p.client.clone(), namespace);
                let selected = watcher::Config::default().labels(&format!("{EXPORT_LABEL}={tool}"));
                (
                    *tool,
                    reflect(api, selected, &changed, desired::keep_digest),
                )
            })
            .collect();
        Self {
            profiles: None,
            secrets,
            changed,
        }
    }

    /// A watch of our ClusterProfiles, once the hub serves v1alpha1 of the API.
    async fn discover_profiles(
        &self,
        p: &Publisher,
    ) -> Option<(Store<ClusterProfile>, CancelableJoinHandle<()>)> {
        match write::serves_profiles(&p.client).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(
                    "the hub does not serve ClusterProfile (multicluster.x-k8s.io/v1alpha1): no \
                     profiles are published until it does; apply manifests/cluster-profile to \
                     install the API"
                );
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot ask the hub whether it serves ClusterProfile");
                return None;
            }
        }
        let api = Api::<ClusterProfile>::namespaced(p.client.clone(), &p.inventory_namespace);
        let ours = watcher::Config::default().labels(&format!(
            "{}={}",
            inventory::CLUSTER_MANAGER_LABEL,
            extcluster_core::api::MANAGER
        ));
        tracing::info!(namespace = %p.inventory_namespace, "publishing ClusterProfiles");
        Some(reflect(api, ours, &self.changed, |_| {}))
    }

    /// Whether every watch has listed what it selects: before that, a missing object may only be
    /// unseen yet. The publisher is the one task that waits on these stores.
    async fn ready(&self) -> bool {
        let profiles = match &self.profiles {
            Some((s, _)) => crate::registrations::listed(s).await,
            None => true,
        };
        let mut secrets = true;
        for (s, _) in self.secrets.values() {
            secrets &= crate::registrations::listed(s).await;
        }
        profiles && secrets
    }
}

/// One pass: the writes that bring the published objects in line, done; returns when to pass
/// again without a change (a retry, or a status update held back by the rate guidance).
async fn pass(p: &Publisher, published: &Published, history: &mut WriteHistory) -> Option<Instant> {
    let mut plan = Plan::default();
    let clusters = p.registrations.clusters.state();
    for cluster in clusters.iter().filter(|c| c.is_live()) {
        plan.registration(p, published, history, cluster);
    }
    let strays = plan.strays(published);
    plan.delete(p, strays).await;
    let outcomes = write::execute(
        &p.client,
        std::mem::take(&mut plan.ops),
        WRITERS,
        &p.replica,
    )
    .await;
    let now = Instant::now();
    for write::Outcome {
        what,
        target,
        result,
    } in outcomes
    {
        match result {
            Ok(wrote) => {
                if let Some(target) = target {
                    history.errors.remove(&target);
                    if wrote == write::Wrote::ProfileStatus {
                        history.profile_status_written.insert(target.name, now);
                    }
                }
            }
            Err(why) => {
                tracing::warn!(object = %what, error = %why, "cannot publish");
                if let Some(target) = target {
                    history.errors.insert(target, why);
                }
                plan.pass_again_at(now + RETRY_AFTER);
            }
        }
    }
    history
        .profile_status_written
        .retain(|_, at| at.elapsed() < PROFILE_STATUS_EVERY);
    p.replica.metrics.publish_passes.inc();
    plan.next_pass
}

/// One registration as its exports are planned: its stored kubeconfig (or why it is unusable),
/// and where its writes start in the plan.
#[derive(Clone, Copy)]
struct RegistrationExports<'a> {
    cluster: &'a ExternalCluster,
    kubeconfig: Result<&'a kube::config::Kubeconfig, &'a String>,
    planned: usize,
}

/// The writes one pass decides on.
#[derive(Default)]
struct Plan {
    ops: Vec<Op>,
    /// Every object that should exist.
    wanted: HashSet<Target>,
    /// The live registrations this pass planned for: what they no longer want was decided on
    /// what the watch showed of them, not on their absence from it.
    seen: HashSet<String>,
    next_pass: Option<Instant>,
}

/// What is published and not wanted, each with the registration it stands for, out of how many
/// published objects.
struct Strays {
    unwanted: Vec<(Target, Option<String>)>,
    published: usize,
}

/// The names of the live registrations, read from the API server now (not from a watch).
async fn live_registrations(client: &Client) -> Result<HashSet<String>, kube::Error> {
    let api = Api::<ExternalCluster>::all(client.clone());
    let list = api.list_metadata(&kube::api::ListParams::default()).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|c| {
            c.metadata.deletion_timestamp.is_none()
                && !extcluster_core::api::disconnect_requested(c.metadata.annotations.as_ref())
        })
        .filter_map(|c| c.metadata.name)
        .collect())
}

impl Plan {
    fn registration(
        &mut self,
        p: &Publisher,
        published: &Published,
        history: &WriteHistory,
        cluster: &ExternalCluster,
    ) {
        let name = cluster.name_any();
        self.seen.insert(name.clone());
        let at = stored::secret_ref(cluster);
        let kubeconfig = stored::from_secret(
            p.registrations.secret(&at.namespace, &at.name).as_deref(),
            &at,
        );
        let kubeconfig = kubeconfig.as_ref().map_err(ToString::to_string);
        let planned = self.ops.len();
        let mut statuses = Vec::new();
        if let Some((profiles, _)) = &published.profiles {
            let endpoint = desired::endpoint(cluster, kubeconfig.as_ref().ok().copied());
            let inventory = inventory::Inventory {
                namespace: &p.inventory_namespace,
                credential_providers: p.credential_providers,
            };
            let profile = inventory::profile(cluster, inventory, &endpoint);
            let target = Target::new(ExportKind::ClusterProfile, &p.inventory_namespace, &name);
            let observed = profiles.get(&ObjectRef::new(&name).within(&p.inventory_namespace));
            let held = history
                .profile_status_written
                .get(&name)
                .map(|at| *at + PROFILE_STATUS_EVERY);
            // A profile being deleted is left to whoever holds it: no write makes it live again.
            let terminating = observed.as_deref().and_then(write::held_by);
            if terminating.is_none() {
                match write::profile_op(target.clone(), profile, observed.as_deref(), held) {
                    write::ProfileWrite::None => {}
                    write::ProfileWrite::Now(op) => self.ops.push(op),
                    write::ProfileWrite::HeldUntil(at) => self.pass_again_at(at),
                }
            }
            let mut status = self.status_of(&target, planned, history, terminating);
            if status.message.is_none() {
                status.message = inventory::unverifiable_by_consumers(&endpoint);
            }
            statuses.push(status);
            self.wanted.insert(target);
        }
        for tool in exports::requested(cluster.metadata.annotations.as_ref()) {
            let at = RegistrationExports {
                cluster,
                kubeconfig: kubeconfig.as_ref().map(|k| *k),
                planned,
            };
            statuses.push(self.export(p, published, history, &at, tool));
        }
        let busy = self.ops.len() > planned;
        let failing = statuses.iter().any(|s| s.message.is_some());
        let current = cluster
            .status
            .as_ref()
            .map(|s| s.exports.as_slice())
            .unwrap_or_default();
        if current != statuses.as_slice() && (!busy || failing) {
            self.ops.push(Op::ExportsStatus {
                registration: name,
                exports: statuses,
            });
        }
    }

    fn export(
        &mut self,
        p: &Publisher,
        published: &Published,
        history: &WriteHistory,
        of: &RegistrationExports<'_>,
        tool: Tool,
    ) -> ExportStatus {
        let RegistrationExports {
            cluster,
            kubeconfig,
            planned,
        } = *of;
        let kind = ExportKind::from(tool);
        let name = desired::secret_name(&cluster.name_any());
        let (Some(namespace), Some((store, _))) =
            (p.targets.get(&tool), published.secrets.get(&tool))
        else {
            return ExportStatus {
                kind,
                namespace: None,
                name,
                ready: false,
                message: Some(format!(
                    "this hub does not export to {kind}: its controller runs without \
                     --export {tool} (add the kustomize component manifests/export-{tool})"
                )),
            };
        };
        if let Some(refuted) = health::identity_refuted(cluster.status.as_ref()) {
            return ExportStatus {
                kind,
                namespace: Some(namespace.clone()),
                name,
                ready: false,
                message: Some(format!(
                    "not exported while the stored kubeconfig reaches another cluster ({}); \
                     give the hub the registered cluster's kubeconfig with `kubectl extcluster \
                     set-credentials`",
                    refuted.message
                )),
            };
        }
        let target = Target::new(kind, namespace, &name);
        self.wanted.insert(target.clone());
        let kubeconfig = match kubeconfig {
            Ok(k) => k,
            Err(why) => return self.status_of(&target, planned, history, Some(why.clone())),
        };
        match desired::secret(tool, cluster, kubeconfig, namespace) {
            Ok(secret) => {
                let observed = store.get(&ObjectRef::new(&name).within(namespace));
                if let Some(op) = write::secret_op(target.clone(), secret, observed.as_deref()) {
                    self.ops.push(op);
                }
                self.status_of(&target, planned, history, None)
            }
            Err(why) => self.status_of(&target, planned, history, Some(why.to_string())),
        }
    }

    /// What `status.exports` says of one object: ready unless a write is pending or failed.
    /// Only this registration's writes, `self.ops[planned..]`, can be for it.
    fn status_of(
        &self,
        target: &Target,
        planned: usize,
        history: &WriteHistory,
        problem: Option<String>,
    ) -> ExportStatus {
        let pending = self.ops[planned..]
            .iter()
            .any(|op| op.target() == Some(target));
        let message = problem.or_else(|| history.errors.get(target).cloned());
        ExportStatus {
            kind: target.kind,
            namespace: Some(target.namespace.clone()),
            name: target.name.clone(),
            ready: message.is_none() && !pending,
            message,
        }
    }

    /// Plans to delete what is published but no longer wanted: a registration gone,
    /// disconnecting, or no longer asking for an export. Each stray is kept with the
    /// registration it stands for (a profile's name; a Secret's annotation).
    fn strays(&self, published: &Published) -> Strays {
        let profiles = published
            .profiles
            .iter()
            .flat_map(|(s, _)| s.state())
            .map(|o| {
                let kind = ExportKind::ClusterProfile;
                let target = Target::new(kind, &o.namespace().unwrap_or_default(), &o.name_any());
                (
                    target,
                    Some(o.name_any()),
                    o.metadata.deletion_timestamp.is_some(),
                )
            });
        let secrets = published.secrets.iter().flat_map(|(tool, (s, _))| {
            let kind = ExportKind::from(*tool);
            s.state().into_iter().map(move |o| {
                let target = Target::new(kind, &o.namespace().unwrap_or_default(), &o.name_any());
                let registration = o
                    .annotations()
                    .get(desired::REGISTRATION_ANNOTATION)
                    .cloned();
                (
                    target,
                    registration,
                    o.metadata.deletion_timestamp.is_some(),
                )
            })
        });
        let mut strays = Strays {
            unwanted: Vec::new(),
            published: 0,
        };
        for (target, registration, deleting) in profiles.chain(secrets) {
            // What is already being deleted was deleted once: asking again only writes again.
            if deleting {
                continue;
            }
            strays.published += 1;
            if !self.wanted.contains(&target) {
                strays.unwanted.push((target, registration));
            }
        }
        strays
    }

    /// Adds the deletes to the plan. What a registration the watch shows no longer wants (an
    /// export it stopped asking for, an identity refuted) goes at once. What stands for a
    /// registration the watch does not show goes too, except past [`MASS_DELETE`] and half of
    /// what is published: then only those whose registration a fresh list from the API server
    /// shows gone or not live, and the rest wait for a later pass.
    async fn delete(&mut self, p: &Publisher, strays: Strays) {
        let Strays {
            unwanted,
            published,
        } = strays;
        let (decided, unwanted): (Vec<_>, Vec<_>) = unwanted
            .into_iter()
            .partition(|(_, r)| r.as_ref().is_some_and(|r| self.seen.contains(r)));
        self.ops
            .extend(decided.into_iter().map(|(t, _)| Op::Delete(t)));
        let mass = unwanted.len() > MASS_DELETE && unwanted.len() * 2 > published;
        let confirmed: Vec<Target> = if mass {
            let live = live_registrations(&p.client).await;
            let (gone, held): (Vec<_>, Vec<_>) = unwanted.into_iter().partition(|(_, r)| {
                live.as_ref()
                    .is_ok_and(|live| r.as_ref().is_some_and(|r| !live.contains(r)))
            });
            if held.is_empty() {
                tracing::info!(
                    confirmed = gone.len(),
                    published,
                    "a pass would delete most of what is published: the API server was asked \
                     which registrations are gone"
                );
            } else {
                tracing::warn!(
                    held = held.len(),
                    confirmed = gone.len(),
                    published,
                    again_in = ?RETRY_AFTER,
                    error = live.err().map(|e| e.to_string()),
                    "a pass would delete most of what is published, for registrations the API \
                     server still holds (or could not be asked about): holding those deletes and asking \
                     again (again_in)"
                );
                p.replica.metrics.deletes_held.inc_by(held.len() as u64);
                self.pass_again_at(Instant::now() + RETRY_AFTER);
            }
            gone.into_iter().map(|(t, _)| t).collect()
        } else {
            unwanted.into_iter().map(|(t, _)| t).collect()
        };
        self.ops.extend(confirmed.into_iter().map(Op::Delete));
    }

    fn pass_again_at(&mut self, at: Instant) {
        self.next_pass = Some(self.next_pass.map_or(at, |a| a.min(at)));
    }
}
