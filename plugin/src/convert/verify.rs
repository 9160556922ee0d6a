//! The check that the new credentials work before anything is written.

use super::{CHECK_WAIT, Options};
use crate::login::Target;
use extcluster_remote::Error;
use extcluster_remote::failure::Failure;
use extcluster_remote::kubeconfig::{Entry, file};
use extcluster_remote::probe;
use std::time::{Duration, Instant};

/// Asks the cluster, with the new token, whether it has the rights `opts.access` promises. The
/// API server's caches may take a moment to see a new account, binding or Secret, so a refusal is
/// retried for a while before it counts. (A loop of questions rather than a wait on an object:
/// the answer is a SelfSubjectAccessReview, which cannot be watched.)
pub(crate) async fn check_credentials(
    target: &Target,
    opts: &Options,
    entry: &Entry,
) -> Result<(), Error> {
    let client = extcluster_remote::client::for_kubeconfig(&file::single(entry))
        .await
        .map_err(|f| {
            Error::Cluster(format!(
                "cannot set up a client with the new credentials for context {:?}: {f}",
                entry.context
            ))
        })?;
    let start = Instant::now();
    let why = loop {
        let why = match probe::missing_rights(&client, opts.access.mode()).await {
            Ok(missing) if missing.is_empty() => return Ok(()),
            Ok(missing) => format!(
                "they lack {}",
                missing
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(Failure::Status { code: 401, .. }) => {
                "the cluster refuses them (401 Unauthorized)".to_owned()
            }
            Err(other) => format!("{other}"),
        };
        if start.elapsed() >= CHECK_WAIT {
            break why;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    Err(Error::Cluster(format!(
        "the new credentials for context {:?} do not work against {} after {}s: {why}; nothing was written, run the command again once the cluster has settled",
        entry.context,
        target.resolved.server,
        CHECK_WAIT.as_secs()
    )))
}
