//! The hub's registrations and their kubeconfig Secrets, held in memory by watches that recover
//! from a lost hub by themselves. Every change wakes the probe loop and the publisher.

use crate::serve::Health;
use extcluster_core::ExternalCluster;
use extcluster_remote::hub;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use kube::{Api, Client};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::watch;

#[derive(Clone)]
pub struct Registrations {
    pub clusters: Store<ExternalCluster>,
    pub secrets: Store<Secret>,
    /// Marked on every change of either; each loop subscribes.
    pub changed: Arc<watch::Sender<()>>,
}

impl Registrations {
    /// Starts both watches; `health` turns synced once both have listed everything.
    pub fn watch(client: &Client, namespace: &str, health: Arc<Health>) -> Self {
        let changed = Arc::new(watch::Sender::new(()));
        let everything = watcher::Config::default();
        let clusters = reflect(
            Api::<ExternalCluster>::all(client.clone()),
            everything.clone(),
            &changed,
        );
        let secrets = reflect(
            Api::<Secret>::namespaced(client.clone(), namespace),
            everything,
            &changed,
        );
        let (c, s) = (clusters.clone(), secrets.clone());
        tokio::spawn(async move {
            if c.wait_until_ready().await.is_ok() && s.wait_until_ready().await.is_ok() {
                health.synced.store(true, Ordering::Relaxed);
            }
        });
        Self {
            clusters,
            secrets,
            changed,
        }
    }

    /// The Secret `namespace/name`, if the watch holds it (Secrets outside the controller's
    /// namespace are never read: its RBAC does not reach them).
    pub fn secret(&self, namespace: &str, name: &str) -> Option<Arc<Secret>> {
        self.secrets
            .get(&reflector::ObjectRef::new(name).within(namespace))
    }
}

/// What the controller never reads, dropped before an object is held: managed fields, and the
/// copy of the whole object `kubectl apply` leaves in an annotation (for a Secret, its data
/// again). Thousands of registrations are held at once.
fn slim<K: kube::Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
    if let Some(annotations) = object.meta_mut().annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// A store of what `api` and `config` select, kept by a watch; every change marks `changed`.
pub fn reflect<K: hub::Watched>(
    api: Api<K>,
    config: watcher::Config,
    changed: &Arc<watch::Sender<()>>,
) -> Store<K> {
    let (store, writer) = reflector::store();
    let changed = changed.clone();
    let stream = hub::watch_with(api, config)
        .modify(slim)
        .reflect(writer)
        .for_each(move |event| {
            if let Err(e) = &event {
                tracing::warn!(error = %e, kind = K::kind(&()).as_ref(), "watch of the hub failed; retrying");
            }
            changed.send_replace(());
            futures::future::ready(())
        });
    tokio::spawn(stream);
    store
}
