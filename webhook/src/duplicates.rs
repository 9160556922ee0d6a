//! Removes registrations that duplicate a cluster and slipped past admission together.
//!
//! One replica cannot allow two registrations of a cluster (an allowed create is reserved at
//! once), but two replicas do not share memory: two creates arriving at the same moment, one at
//! each, can both pass. When the watch then shows several live registrations of one cluster,
//! every replica keeps the same one (the oldest by creation time, then name) and removes the
//! others the way `kubectl extcluster disconnect` does: mark them, then delete them. Their
//! kubeconfig Secrets go with them through their ownerReferences. Both replicas may act; the
//! second finds nothing left to do.

use crate::admission::Webhook;
use extcluster_core::ExternalCluster;
use extcluster_core::api::DISCONNECT_ANNOTATION;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Lets both replicas' writes reach the watch before deciding.
const SETTLE: Duration = Duration::from_millis(500);

/// Where the watch reports a cluster ID that several live registrations hold.
pub(crate) type Sender = mpsc::UnboundedSender<String>;

pub(crate) async fn run(
    client: kube::Client,
    webhook: Arc<Webhook>,
    mut rx: mpsc::UnboundedReceiver<String>,
) {
    let api: Api<ExternalCluster> = Api::all(client);
    while let Some(first) = rx.recv().await {
        tokio::time::sleep(SETTLE).await;
        let mut ids = vec![first];
        while let Ok(id) = rx.try_recv() {
            ids.push(id);
        }
        ids.sort();
        ids.dedup();
        for id in ids {
            let Some((keep, losers)) = webhook.registry.read(|i| i.duplicates(&id)) else {
                continue;
            };
            for name in losers {
                match remove(&api, &name).await {
                    Ok(()) => tracing::info!(
                        name,
                        kept = keep,
                        cluster_id = id,
                        "removed a duplicate registration of an already registered cluster"
                    ),
                    Err(e) => {
                        tracing::warn!(name, cluster_id = id, error = %e, "could not remove a duplicate registration")
                    }
                }
            }
        }
    }
}

async fn remove(api: &Api<ExternalCluster>, name: &str) -> Result<(), kube::Error> {
    let mark = serde_json::json!({"metadata": {"annotations": {DISCONNECT_ANNOTATION: "true"}}});
    let gone = extcluster_remote::failure::is_not_found;
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&mark))
        .await
    {
        Err(e) if gone(&e) => return Ok(()),
        other => other?,
    };
    match api.delete(name, &DeleteParams::background()).await {
        Err(e) if gone(&e) => Ok(()),
        other => other.map(drop),
    }
}
