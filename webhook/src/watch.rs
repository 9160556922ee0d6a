//! Feeds the registry index from a watch on ExternalClusters. A relist builds a fresh index and
//! swaps it in whole, so a decision never sees a half-read registry.

use crate::admission::Webhook;
use crate::duplicates;
use crate::registry::RegistryIndex;
use backon::ExponentialBuilder;
use extcluster_core::ExternalCluster;
use futures::StreamExt;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, ExponentialBackoff};
use std::sync::Arc;
use std::time::Duration;

/// The API server ends each watch after this long and the watcher starts the next one from where
/// it was, so a quiet watch never runs into the client's read timeout.
const WATCH_TIMEOUT_SECS: u32 = 30;
/// Every request to the hub gives up after this long without a byte: a request stuck on an API
/// server that is still starting must not hold the watch (kube's default is to wait forever).
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(45);

/// Retries soon and keeps retrying, at most every few seconds: while the watch is lost the
/// webhook refuses registrations, so it should be back as soon as the hub is (about a second
/// after). This is the exponential backoff kube's `DefaultBackoff` wraps, with tighter bounds:
/// the default (client-go's) starts at 0.8 s and grows to 30 s.
fn retry() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(4))
        .with_factor(2.0)
        .without_max_times()
        .into()
}

/// While the watch is broken, retries come at least every 4 s; this long with no answer at all
/// means a request is stuck (seen against an API server that was still starting: the webhook
/// never became ready again), so the watch is started over with fresh requests.
const STALLED: Duration = Duration::from_secs(20);

type Events = futures::stream::BoxStream<'static, Result<Event<ExternalCluster>, watcher::Error>>;

fn watch(api: &Api<ExternalCluster>) -> Events {
    let config = watcher::Config::default().timeout(WATCH_TIMEOUT_SECS);
    watcher::watcher(api.clone(), config)
        .backoff(retry())
        .boxed()
}

/// `duplicates` hears of every cluster ID that the watch shows held by several live registrations.
pub(crate) async fn run(
    client: kube::Client,
    webhook: Arc<Webhook>,
    duplicates: duplicates::Sender,
) {
    let api: Api<ExternalCluster> = Api::all(client);
    let mut stream = watch(&api);
    let mut fresh: Option<RegistryIndex> = None;
    let mut broken = false;
    loop {
        let next = if broken {
            match tokio::time::timeout(STALLED, stream.next()).await {
                Ok(next) => next,
                Err(_) => {
                    tracing::warn!("no answer from the hub for {STALLED:?}; watching anew");
                    stream = watch(&api);
                    continue;
                }
            }
        } else {
            stream.next().await
        };
        match next {
            None => return,
            Some(Ok(event)) => {
                broken = false;
                webhook.registry.sync().mark_healthy();
                apply(&webhook, &duplicates, &mut fresh, event);
            }
            Some(Err(e)) => {
                broken = true;
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

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::utils::Backoff;

    #[test]
    fn retries_soon_never_gives_up_and_starts_over_after_success() {
        let mut r = retry();
        let waits: Vec<u128> = r.by_ref().take(8).map(|d| d.as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 4000, 4000, 4000]);
        r.reset();
        assert_eq!(r.next(), Some(Duration::from_millis(250)));
        assert!(READ_TIMEOUT > Duration::from_secs(u64::from(WATCH_TIMEOUT_SECS)));
    }
}
