//! The hub's registrations and their kubeconfig Secrets, held in memory by watches that recover
//! from a lost hub by themselves. Every change wakes the probe loop.

use crate::serve::Health;
use extcluster_core::ExternalCluster;
use extcluster_remote::hub;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::{Api, Client};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::Notify;

#[derive(Clone)]
pub struct Registrations {
    pub clusters: Store<ExternalCluster>,
    pub secrets: Store<Secret>,
    /// Notified on every change of either.
    pub changed: Arc<Notify>,
}

impl Registrations {
    /// Starts both watches; `health` turns synced once both have listed everything.
    pub fn watch(client: &Client, namespace: &str, health: Arc<Health>) -> Self {
        let changed = Arc::new(Notify::new());
        let clusters = reflect(Api::<ExternalCluster>::all(client.clone()), &changed);
        let secrets = reflect(
            Api::<Secret>::namespaced(client.clone(), namespace),
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

fn reflect<K: hub::Watched>(api: Api<K>, changed: &Arc<Notify>) -> Store<K> {
    let (store, writer) = reflector::store();
    let changed = changed.clone();
    let stream = hub::watch(api)
        .modify(slim)
        .reflect(writer)
        .for_each(move |event| {
            if let Err(e) = &event {
                tracing::warn!(error = %e, kind = K::kind(&()).as_ref(), "watch of the hub failed; retrying");
            }
            changed.notify_one();
            futures::future::ready(())
        });
    tokio::spawn(stream);
    store
}
