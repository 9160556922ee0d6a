//! One look at a registered cluster through its stored kubeconfig, as the status rules in
//! `extcluster_core::health` take it: what it answered (or why it did not), the rights its mode
//! needs that the credentials lack, and when the credentials expire. `kubectl extcluster refresh`
//! and the controller both look this way.

use crate::failure::{Failure, Transport};
use crate::stored::{self, StoredError};
use crate::{client, credentials, probe};
use extcluster_core::ExternalCluster;
use extcluster_core::health::{CredentialFacts, FailureKind, Observation, ProbeError};
use kube::config::Kubeconfig;
use std::time::Duration;

/// How long a look may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Opening a connection (and TLS).
    pub connect: Duration,
    /// The whole look, every request included.
    pub whole: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connect: client::CONNECT_TIMEOUT,
            whole: probe::PROBE_LIMIT,
        }
    }
}

/// Looks at `cluster` through `kubeconfig` (what the hub stores for it, or why that is not
/// usable), checking the credentials' rights too when `check_rights`.
pub async fn observe(
    kubeconfig: Result<Kubeconfig, StoredError>,
    cluster: &ExternalCluster,
    check_rights: bool,
    limits: Limits,
) -> Observation {
    let kubeconfig = match kubeconfig {
        Ok(k) => k,
        Err(e) => return unusable(e.to_string(), CredentialFacts::default()),
    };
    let credentials = credential_facts(&kubeconfig, cluster);
    let client = match client::for_kubeconfig_connecting_within(&kubeconfig, limits.connect).await {
        Ok(c) => c,
        Err(why) => {
            let why = format!("the stored kubeconfig is not usable: {why}");
            return unusable(why, credentials);
        }
    };
    let looked = tokio::time::timeout(limits.whole, async {
        let facts = probe::facts(&client).await?;
        let missing = if check_rights {
            let missing = probe::missing_rights(&client, cluster.spec.mode).await?;
            Some(missing.iter().map(ToString::to_string).collect())
        } else {
            None
        };
        Ok::<_, Failure>((facts, missing))
    })
    .await
    .unwrap_or(Err(Failure::Transport(Transport::Timeout)));
    match looked {
        Ok((facts, missing_rights)) => Observation {
            outcome: Ok(facts.seen()),
            missing_rights,
            credentials,
        },
        Err(f) => Observation {
            outcome: Err(ProbeError {
                kind: kind(&f),
                message: stored::explain(cluster, &f),
            }),
            missing_rights: None,
            credentials,
        },
    }
}

/// What the credentials say of themselves; a federated registration's are minted per use, so
/// they never expire as far as the registration goes, and name the hub identity.
pub fn credential_facts(kubeconfig: &Kubeconfig, cluster: &ExternalCluster) -> CredentialFacts {
    let Some(federated) = extcluster_core::federated::of(cluster) else {
        return credentials::facts(kubeconfig);
    };
    let name = cluster.metadata.name.as_deref().unwrap_or_default();
    CredentialFacts {
        expires: None,
        identity: Some(format!(
            "user {}",
            extcluster_core::federated::username(name, federated)
        )),
        proxy: credentials::proxy(kubeconfig),
    }
}

fn unusable(message: String, credentials: CredentialFacts) -> Observation {
    Observation {
        outcome: Err(ProbeError {
            kind: FailureKind::Kubeconfig,
            message,
        }),
        missing_rights: None,
        credentials,
    }
}

/// The kind of failure the status and the metrics tell apart.
pub fn kind(f: &Failure) -> FailureKind {
    match f {
        Failure::Transport(Transport::Timeout) => FailureKind::Timeout,
        Failure::Transport(_) => FailureKind::Unreachable,
        Failure::Status { code: 401, .. } => FailureKind::Unauthorized,
        Failure::Status { .. } | Failure::Other(_) => FailureKind::ServerError,
    }
}
