//! Feeds the registry index from a watch on ExternalClusters. A relist builds a fresh index and
//! swaps it in whole, so a decision never sees a half-read registry.

use crate::index::RegistryIndex;
use crate::resolver;
use crate::state::Webhook;
use extcluster_core::ExternalCluster;
use futures::StreamExt;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use std::sync::Arc;

/// `duplicates` hears of every cluster ID that the watch shows held by several live registrations.
pub async fn run(client: kube::Client, webhook: Arc<Webhook>, duplicates: resolver::Sender) {
    let api: Api<ExternalCluster> = Api::all(client);
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    let mut fresh: Option<RegistryIndex> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => {
                webhook.sync().mark_healthy();
                match event {
                    Event::Init => fresh = Some(RegistryIndex::default()),
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
                            webhook.replace_index(f);
                            tracing::info!(registrations = n, "registry synced");
                        }
                        webhook.sync().mark_synced();
                    }
                    Event::Apply(c) => {
                        let id = &c.spec.cluster_id;
                        let duplicated = webhook.update_index(|i| {
                            i.upsert_cluster(&c);
                            i.duplicates(id).is_some()
                        });
                        if duplicated {
                            let _ = duplicates.send(id.clone());
                        }
                    }
                    Event::Delete(c) => {
                        if let Some(name) = c.metadata.name.as_deref() {
                            webhook.update_index(|i| i.remove(name));
                        }
                    }
                }
            }
            Err(e) => {
                webhook.metrics.watch_restarts.inc();
                webhook.sync().mark_broken();
                tracing::warn!(error = %e, "watch on ExternalClusters failed; retrying");
            }
        }
    }
}
