//! Reaching a registered cluster through the kubeconfig the hub stores for it.

use crate::commands::register::{SECRET_KEY, secret_name};
use crate::errors::{Failure, Transport};
use crate::hub::Hub;
use crate::probe;
use extcluster_core::ExternalCluster;
use extcluster_core::api::SYSTEM_NAMESPACE;
use kube::Client;

/// A client for a registered cluster; the error is a sentence fit for `status.message`.
pub async fn client(hub: &Hub, cluster: &ExternalCluster) -> Result<Client, String> {
    let kubeconfig = kubeconfig(hub, cluster).await?;
    probe::client(&kubeconfig)
        .await
        .map_err(|f| explain(&cluster.spec.server, &f))
}

/// The kubeconfig the hub stores for a registered cluster.
pub async fn kubeconfig(hub: &Hub, cluster: &ExternalCluster) -> Result<serde_json::Value, String> {
    let name = cluster.metadata.name.clone().unwrap_or_default();
    let (namespace, secret, key) = match &cluster.spec.kubeconfig_secret_ref {
        Some(r) => (r.namespace.clone(), r.name.clone(), r.key.clone()),
        None => (
            SYSTEM_NAMESPACE.to_owned(),
            secret_name(&name),
            SECRET_KEY.to_owned(),
        ),
    };
    let found = hub
        .secrets(&namespace)
        .get_opt(&secret)
        .await
        .map_err(|e| {
            format!(
                "cannot read the kubeconfig Secret {namespace}/{secret} on the hub: {}",
                Failure::of(&e)
            )
        })?
        .ok_or_else(|| {
            format!("the kubeconfig Secret {namespace}/{secret} is missing on the hub")
        })?;
    let bytes = found
        .data
        .and_then(|mut d| d.remove(&key))
        .ok_or_else(|| format!("the kubeconfig Secret {namespace}/{secret} has no key {key:?}"))?;
    let text = String::from_utf8(bytes.0)
        .map_err(|_| format!("the kubeconfig in Secret {namespace}/{secret} is not text"))?;
    crate::external::parse_stored(&text).map_err(|why| {
        format!("the kubeconfig in Secret {namespace}/{secret} is not usable: {why}")
    })
}

/// Why a registered cluster did not answer, in one sentence.
pub fn explain(server: &str, f: &Failure) -> String {
    match f {
        Failure::Transport(Transport::Refused) => {
            format!("cannot reach {server}: the connection was refused")
        }
        Failure::Transport(t) => format!("cannot reach {server}: {t}"),
        Failure::Status { code: 401, .. } => {
            format!("{server} refused the stored credentials (401 Unauthorized)")
        }
        other => format!("{server}: {other}"),
    }
}

/// Probes a registered cluster through its stored kubeconfig.
pub async fn facts(hub: &Hub, cluster: &ExternalCluster) -> Result<probe::Facts, String> {
    let client = client(hub, cluster).await?;
    probe::facts(&client)
        .await
        .map_err(|f| explain(&cluster.spec.server, &f))
}
