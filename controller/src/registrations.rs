//! The hub's registrations and their kubeconfig Secrets, watched while this replica leads. The
//! watches feed the stores that probing and publishing read, the probing Controller's triggers,
//! and a change signal the publisher waits on. A watch that breaks starts over by itself; the
//! store keeps its last full list until the new one has been read whole.

use extcluster_core::ExternalCluster;
use extcluster_remote::hub;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::utils::CancelableJoinHandle;
use kube::runtime::watcher;
use kube::{Api, Client};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Clone)]
pub struct Registrations {
    pub clusters: Store<ExternalCluster>,
    pub secrets: Store<Secret>,
    /// Marked on every change of either.
    pub changed: Arc<watch::Sender<()>>,
    /// True once both watches have listed everything.
    listed: Arc<watch::Sender<bool>>,
}

/// The objects each watch brought, for the probing Controller's triggers. Polling them is what
/// keeps the stores current.
pub struct Triggers {
    pub clusters: BoxStream<'static, Result<ExternalCluster, watcher::Error>>,
    pub secrets: BoxStream<'static, Result<Secret, watcher::Error>>,
}

impl Registrations {
    /// Every registration, and the Secrets in the controller's namespace (its RBAC reaches no
    /// others).
    pub fn watch(client: &Client, namespace: &str) -> (Self, Triggers) {
        let changed = Arc::new(watch::Sender::new(()));
        let everything = watcher::Config::default();
        let (clusters, cluster_triggers) = reflected(
            Api::all(client.clone()),
            everything.clone(),
            &changed,
            |_| {},
        );
        let (secrets, secret_triggers) = reflected(
            Api::namespaced(client.clone(), namespace),
            everything,
            &changed,
            |_| {},
        );
        let triggers = Triggers {
            clusters: cluster_triggers.boxed(),
            secrets: secret_triggers.boxed(),
        };
        let registrations = Self {
            clusters,
            secrets,
            changed,
            listed: Arc::new(watch::Sender::new(false)),
        };
        (registrations, triggers)
    }

    /// Marks the registrations listed once both watches have listed everything. kube's
    /// `Store::wait_until_ready` wakes only the last of several tasks waiting at once (a oneshot
    /// keeps one waker; the Controller's runner waits on the same store), so this one task waits
    /// on the stores, asking again every second, and everyone else waits on `listed`.
    pub async fn mark_listed(&self) -> bool {
        let listed = listed(&self.clusters).await && listed(&self.secrets).await;
        self.listed.send_replace(listed);
        listed
    }

    /// Waits until both watches have listed everything: before that, a registration or Secret
    /// that is missing may only be unseen yet.
    pub async fn wait_until_ready(&self) -> bool {
        self.listed.subscribe().wait_for(|l| *l).await.is_ok()
    }

    /// The Secret `namespace/name`, if the watch holds it.
    pub fn secret(&self, namespace: &str, name: &str) -> Option<Arc<Secret>> {
        self.secrets
            .get(&reflector::ObjectRef::new(name).within(namespace))
    }
}

/// Whether `store` has been listed, asked again every second until it has (or its watch ended).
pub async fn listed<K: hub::Watched>(store: &Store<K>) -> bool {
    loop {
        let asked = tokio::time::timeout(Duration::from_secs(1), store.wait_until_ready());
        if let Ok(answer) = asked.await {
            return answer.is_ok();
        }
    }
}

/// What the controller never reads, dropped before an object is held: managed fields, and the
/// copy of the whole object `kubectl apply` leaves in an annotation (for a Secret, its data
/// again). Thousands of registrations are held at once.
fn drop_unread_fields<K: kube::Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
    if let Some(annotations) = object.meta_mut().annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// A store of what `api` and `config` select, and the stream of objects that keeps it: the
/// caller polls the stream. Every change marks `changed`.
fn reflected<K: hub::Watched>(
    api: Api<K>,
    config: watcher::Config,
    changed: &Arc<watch::Sender<()>>,
    keep: fn(&mut K),
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
) {
    let (store, writer) = reflector::store();
    let changed = changed.clone();
    let stream = hub::watch_with(api, config)
        .modify(move |object| {
            drop_unread_fields(object);
            keep(object);
        })
        .reflect(writer)
        .inspect(move |event| {
            if let Err(e) = event {
                tracing::warn!(error = %e, kind = K::kind(&()).as_ref(), "watch of the hub failed; retrying");
            }
            changed.send_replace(());
        })
        .touched_objects();
    (store, stream)
}

/// A task of the leader's work, aborted when its handle is dropped (with the work, on losing the
/// Lease), instead of running on unseen.
pub fn owned(
    task: impl std::future::Future<Output = ()> + Send + 'static,
) -> CancelableJoinHandle<()> {
    CancelableJoinHandle::spawn(task, &tokio::runtime::Handle::current())
}

/// A store of what `api` and `config` select, each object cut down by `keep` to what its reader
/// compares, kept by a task that ends when the returned handle is dropped. Every change marks
/// `changed`.
pub fn reflect<K: hub::Watched>(
    api: Api<K>,
    config: watcher::Config,
    changed: &Arc<watch::Sender<()>>,
    keep: fn(&mut K),
) -> (Store<K>, CancelableJoinHandle<()>) {
    let (store, stream) = reflected(api, config, changed, keep);
    let task = owned(stream.for_each(|_| futures::future::ready(())));
    (store, task)
}
