//! The kubeconfig the hub stores for a registration, and reaching the registered cluster through
//! it. Every error is a sentence fit for the registration's `status.message`.

use crate::explain::{self, Reach};
use crate::failure::Failure;
use crate::federated::{self, MintError};
use crate::kubeconfig;
use extcluster_core::api::SYSTEM_NAMESPACE;
use extcluster_core::{ExternalCluster, SecretKeyRef};
use k8s_openapi::api::core::v1::Secret;
use kube::config::Kubeconfig;
use kube::{Api, Client, ResourceExt};

/// The key of the kubeconfig in the Secret registration makes.
pub const SECRET_KEY: &str = "kubeconfig";

/// What the name of the Secret registration makes ends with, after the registration's name.
pub const SECRET_SUFFIX: &str = "-kubeconfig";

/// The name of the Secret registration makes for registration `name`.
pub fn secret_name(name: &str) -> String {
    format!("{name}{SECRET_SUFFIX}")
}

/// Where the kubeconfig of `cluster` is: its reference, or where registration puts it.
pub fn secret_ref(cluster: &ExternalCluster) -> SecretKeyRef {
    cluster
        .spec
        .kubeconfig_secret_ref
        .clone()
        .unwrap_or_else(|| {
            registered_secret_ref(cluster.metadata.name.as_deref().unwrap_or_default())
        })
}

/// Where registration puts the kubeconfig of registration `name`.
pub fn registered_secret_ref(name: &str) -> SecretKeyRef {
    SecretKeyRef {
        namespace: SYSTEM_NAMESPACE.to_owned(),
        name: secret_name(name),
        key: SECRET_KEY.to_owned(),
    }
}

/// Why a registered cluster could not be reached through its stored kubeconfig.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoredError {
    #[error("cannot read the kubeconfig Secret {namespace}/{secret} on the hub: {failure}")]
    HubRead {
        namespace: String,
        secret: String,
        failure: Failure,
    },
    #[error(
        "the kubeconfig Secret {namespace}/{secret} is missing on the hub; give the hub the \
         cluster's kubeconfig with `kubectl extcluster set-credentials`"
    )]
    Missing { namespace: String, secret: String },
    #[error(
        "the kubeconfig Secret {namespace}/{secret} has no key {key:?}; put the kubeconfig under \
         that key, or give the hub one with `kubectl extcluster set-credentials`"
    )]
    NoKey {
        namespace: String,
        secret: String,
        key: String,
    },
    #[error(
        "the kubeconfig in Secret {namespace}/{secret} is not text; replace it with \
         `kubectl extcluster set-credentials`"
    )]
    NotText { namespace: String, secret: String },
    #[error(
        "the kubeconfig in Secret {namespace}/{secret} is not usable: {why}; replace it with \
         `kubectl extcluster set-credentials`"
    )]
    Unusable {
        namespace: String,
        secret: String,
        why: String,
    },
    /// No token for a federated registration's hub identity.
    #[error(transparent)]
    Mint(#[from] MintError),
    /// The cluster itself did not answer as asked: the sentence from [`explain`].
    #[error("{0}")]
    Cluster(String),
}

/// The kubeconfig to reach a registered cluster with, read with `hub`: the one the hub stores,
/// and for a federated registration a token minted now for its hub identity.
pub async fn kubeconfig(
    hub: &Client,
    cluster: &ExternalCluster,
) -> Result<Kubeconfig, StoredError> {
    let stored = stored_kubeconfig(hub, cluster).await?;
    match extcluster_core::federated::of(cluster) {
        Some(federated) => {
            let minted = federated::mint(hub, &cluster.name_any(), federated).await?;
            Ok(federated::with_token(stored, &minted))
        }
        None => Ok(stored),
    }
}

/// The kubeconfig the hub stores for a registered cluster, as it is.
async fn stored_kubeconfig(
    hub: &Client,
    cluster: &ExternalCluster,
) -> Result<Kubeconfig, StoredError> {
    let at = secret_ref(cluster);
    let found = Api::<Secret>::namespaced(hub.clone(), &at.namespace)
        .get_opt(&at.name)
        .await
        .map_err(|e| StoredError::HubRead {
            namespace: at.namespace.clone(),
            secret: at.name.clone(),
            failure: Failure::of(&e),
        })?;
    from_secret(found.as_ref(), &at)
}

/// The kubeconfig under `at.key` in `secret`, the Secret found at `at` (`None`: there is none).
pub fn from_secret(secret: Option<&Secret>, at: &SecretKeyRef) -> Result<Kubeconfig, StoredError> {
    let (namespace, secret_name) = (at.namespace.clone(), at.name.clone());
    let secret = secret.ok_or_else(|| StoredError::Missing {
        namespace: namespace.clone(),
        secret: secret_name.clone(),
    })?;
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&at.key))
        .ok_or_else(|| StoredError::NoKey {
            namespace: namespace.clone(),
            secret: secret_name.clone(),
            key: at.key.clone(),
        })?;
    let text = std::str::from_utf8(&bytes.0).map_err(|_| StoredError::NotText {
        namespace: namespace.clone(),
        secret: secret_name.clone(),
    })?;
    kubeconfig::parse_stored(text).map_err(|why| StoredError::Unusable {
        namespace,
        secret: secret_name,
        why,
    })
}

/// The sentence for a failed request to registered cluster `cluster`.
pub fn explain(cluster: &ExternalCluster, f: &Failure) -> String {
    let server = cluster.spec.server.as_str();
    let Some(federated) = extcluster_core::federated::of(cluster) else {
        return explain::sentence(Reach::Stored { server }, "reach it", f);
    };
    let registration = cluster.metadata.name.as_deref().unwrap_or_default();
    let username = extcluster_core::federated::username(registration, federated);
    let reach = Reach::Federated {
        server,
        registration,
        username: &username,
    };
    explain::sentence(reach, "reach it", f)
}

/// A client for a registered cluster, through its stored kubeconfig.
pub async fn client(hub: &Client, cluster: &ExternalCluster) -> Result<Client, StoredError> {
    let kubeconfig = kubeconfig(hub, cluster).await?;
    crate::client::for_kubeconfig(&kubeconfig)
        .await
        .map_err(|f| StoredError::Cluster(explain(cluster, &f)))
}
