//! Reaching the hub from a process that runs for days (the webhook, the controller): the client,
//! bounded so no request can hang, and the watch that recovers from an API server restart by
//! itself.

use backon::ExponentialBuilder;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use kube::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, ExponentialBackoff};
use std::path::Path;
use std::time::Duration;

/// The API server ends each watch after this long and the watcher starts the next one from where
/// it was, so a quiet watch never runs into the client's read timeout.
pub const WATCH_TIMEOUT_SECS: u32 = 30;
/// Every request to the hub gives up after this long without a byte: a request stuck on an API
/// server that is still starting must not hold the watch (kube's default is to wait forever).
pub const READ_TIMEOUT: Duration = Duration::from_secs(45);
/// While a watch is broken, retries come at least every 4 s; this long with no answer at all
/// means a request is stuck (seen against an API server that was still starting: the webhook
/// never became ready again), so the watch is started over with fresh requests.
pub const STALLED: Duration = Duration::from_secs(20);

/// Why the hub cannot be reached at all.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("cannot read the hub's kubeconfig {path}: {why}")]
    Kubeconfig { path: String, why: String },
    #[error("no hub to watch: not running in a cluster, and no --kubeconfig or $KUBECONFIG ({0})")]
    NotInCluster(String),
    #[error("{0}")]
    Environment(String),
    #[error("cannot make a client for the hub: {0}")]
    Client(String),
}

/// A client for the hub: from `kubeconfig`, else in-cluster or `$KUBECONFIG`.
pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client, HubError> {
    use crate::failure::chain;
    let mut config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|e| HubError::Kubeconfig {
                path: path.display().to_string(),
                why: chain(&e),
            })?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|e| HubError::Kubeconfig {
                    path: path.display().to_string(),
                    why: chain(&e),
                })?
        }
        None => match crate::kubeconfig::from_environment() {
            Ok(Some(kc)) => kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|e| HubError::Kubeconfig {
                    path: std::env::var("KUBECONFIG").unwrap_or_else(|_| "~/.kube/config".into()),
                    why: chain(&e),
                })?,
            Ok(None) => kube::Config::incluster().map_err(|e| HubError::NotInCluster(chain(&e)))?,
            Err(e) => return Err(HubError::Environment(e.to_string())),
        },
    };
    config.read_timeout = Some(READ_TIMEOUT);
    // The watch retries with its own backoff. kube's client-level retry of 503s sat underneath
    // it: against an API server that was still starting, a retried request hung with nothing
    // logged and the webhook never became ready again. A 503 now reaches the watch, which logs it
    // and retries within 4 s.
    config.default_retry = false;
    crate::transport::client(config).map_err(|e| HubError::Client(e.failure().to_string()))
}

/// Retries soon and keeps retrying, at most every few seconds: while a watch is lost, the webhook
/// refuses registrations and the controller hears of no change, so it should be back as soon as
/// the hub is (about a second after). This is the exponential backoff kube's `DefaultBackoff`
/// wraps, with tighter bounds: the default (client-go's) starts at 0.8 s and grows to 30 s.
pub fn retry() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(4))
        .with_factor(2.0)
        .without_max_times()
        .into()
}

/// What [`watch`] can watch (and a reflector hold): a typed Kubernetes object.
pub trait Watched:
    kube::Resource<DynamicType = ()>
    + Clone
    + std::fmt::Debug
    + serde::de::DeserializeOwned
    + Send
    + Sync
    + 'static
{
}

impl<K> Watched for K where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static
{
}

/// A watch of `api` that never ends: errors are items (the caller logs them and counts them), it
/// retries with [`retry`], and it starts over when broken and silent for [`STALLED`].
pub fn watch<K: Watched>(
    api: Api<K>,
) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send {
    watch_with(api, watcher::Config::default())
}

/// [`watch`] of what `config` selects (a label selector, say).
pub fn watch_with<K: Watched>(
    api: Api<K>,
    config: watcher::Config,
) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send {
    let config = config.timeout(WATCH_TIMEOUT_SECS);
    let start = move || -> BoxStream<'static, Result<Event<K>, watcher::Error>> {
        watcher::watcher(api.clone(), config.clone())
            .backoff(retry())
            .boxed()
    };
    let first = start();
    futures::stream::unfold(
        (first, false, start),
        |(mut stream, mut broken, start)| async move {
            loop {
                let next = if broken {
                    match tokio::time::timeout(STALLED, stream.next()).await {
                        Ok(next) => next,
                        Err(_) => {
                            tracing::warn!(kind = %K::kind(&()),
                            "no answer from the hub for {STALLED:?}; watching anew");
                            stream = start();
                            continue;
                        }
                    }
                } else {
                    stream.next().await
                };
                let item = next?;
                broken = item.is_err();
                return Some((item, (stream, broken, start)));
            }
        },
    )
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
        assert!(
            STALLED > Duration::from_secs(4),
            "longer than the longest retry"
        );
    }
}
