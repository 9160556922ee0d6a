//! Feeds the registry index from a watch on ExternalClusters. A relist builds a fresh index and
//! swaps it in whole, so a decision never sees a half-read registry.

use crate::admission::Webhook;
use crate::duplicates;
use crate::registry::RegistryIndex;
use extcluster_core::ExternalCluster;
use extcluster_remote::hub;
use futures::StreamExt;
use kube::Api;
use kube::runtime::watcher::Event;
use std::sync::Arc;

/// `duplicates` hears of every cluster ID that the watch shows held by several live registrations.
pub(crate) async fn run(
    client: kube::Client,
    webhook: Arc<Webhook>,
    duplicates: duplicates::Sender,
) {
    let mut stream = std::pin::pin!(hub::watch(Api::<ExternalCluster>::all(client)));
    let mut fresh: Option<RegistryIndex> = None;
    while let Some(next) = stream.next().await {
        match next {
            Ok(event) => {
                webhook.registry.sync().mark_healthy();
                apply(&webhook, &duplicates, &mut fresh, event);
            }
            Err(e) => {
                webhook.metrics.watch_restarts.inc();
                webhook.registry.sync().mark_broken();
                tracing::warn!(error = %e, "watch on ExternalClusters failed; retrying");
            }
        }
    }
}

/// One event into the registry: a relist builds `fresh` and swaps it in whole at its end.
fn apply(
    webhook: &Webhook,
    duplicates: &duplicates::Sender,
    fresh: &mut Option<RegistryIndex>,
    event: Event<ExternalCluster>,
) {
    match event {
        Event::Init => *fresh = Some(RegistryIndex::default()),
        Event::InitApply(c) => {
            if let Some(f) = fresh.as_mut() {
                f.upsert_cluster(&c);
            }
        }
        Event::InitDone => {
            if let Some(f) = fresh.take() {
                let n = f.len();
                for id in f.duplicated_clusters() {
                    let _ = duplicates.send(id);
                }
                webhook.registry.replace(f);
                tracing::info!(registrations = n, "registry synced");
            }
            webhook.registry.sync().mark_synced();
        }
        Event::Apply(c) => {
            let id = &c.spec.cluster_id;
            let duplicated = webhook.registry.update(|i| {
                i.upsert_cluster(&c);
                i.duplicates(id).is_some()
            });
            if duplicated {
                let _ = duplicates.send(id.clone());
            }
        }
        Event::Delete(c) => {
            if let Some(name) = c.metadata.name.as_deref() {
                webhook.registry.update(|i| i.remove(name));
            }
        }
    }
}
