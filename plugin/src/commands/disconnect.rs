//! `disconnect NAME`: remove a registration and its stored kubeconfig. The external cluster is
//! not contacted, so this works when it is gone; with `--cleanup-remote` it is, first, while the
//! stored credentials still exist, to remove what convert-kubeconfig made there. Every step finds
//! what it removes by name, so it works with the operator role, and a retry finishes the job.

use crate::convert;
use crate::hub::{Global, Hub};
use crate::output::resource_name;
use crate::registration::{self, remove_secrets};
use anyhow::{Result, anyhow, bail};
use clap::Args;
use extcluster_core::Phase;
use extcluster_core::api::{DISCONNECT_ANNOTATION, MANAGER};
use extcluster_remote::failure::{Failure, Transport, is_not_found};
use extcluster_remote::kubeconfig::file::token_of;
use extcluster_remote::stored::{self, StoredError};
use extcluster_remote::{jwt, probe};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::config::Kubeconfig;
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};

/// Remove a registration and its stored kubeconfig; the cluster itself is left untouched unless --cleanup-remote
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  # Asks for confirmation on a terminal
  kubectl extcluster disconnect prod-eu

  # In scripts
  kubectl extcluster disconnect prod-eu --yes

  # Also remove the ServiceAccount that convert-kubeconfig (or register --convert) made there
  kubectl extcluster disconnect prod-eu --yes --cleanup-remote")]
pub struct DisconnectArgs {
    pub name: String,
    /// Do not ask for confirmation (required when there is no terminal)
    #[arg(short, long)]
    pub yes: bool,
    /// Also remove, through the stored kubeconfig, what convert-kubeconfig made in the cluster
    /// (its ServiceAccount, bindings, role and token Secret), and nothing else
    #[arg(long)]
    pub cleanup_remote: bool,
}

pub async fn run(global: &Global, args: &DisconnectArgs) -> Result<()> {
    let (name, cleanup_remote) = (args.name.as_str(), args.cleanup_remote);
    let hub = Hub::connect(global).await?;
    let clusters = hub.clusters();
    let cluster = clusters
        .get_opt(name)
        .await
        .map_err(|e| hub.err(&format!("get ExternalCluster {name:?}"), &e))?;
    let Some(cluster) = cluster else {
        return not_registered(&hub, name, cleanup_remote).await;
    };

    let plan = if cleanup_remote {
        "first what convert-kubeconfig made in the cluster is removed (and nothing else there), \
         then the hub forgets it and deletes its stored kubeconfig"
    } else {
        "the hub forgets it and deletes its stored kubeconfig; the cluster itself is left untouched"
    };
    println!("Disconnecting {name:?} ({}): {plan}.", cluster.spec.server);
    if !args.yes {
        confirm(name)?;
    }
    // What needs the stored credentials comes first: once the hub side is gone, so are they.
    if cleanup_remote && cluster.spec.federated.is_some() {
        println!("{}", federated_cleanup(name));
    } else if cleanup_remote {
        let stored = stored::kubeconfig(&hub.client, &cluster).await;
        cleanup(&cluster, stored).await?;
    }

    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    let mark = json!({"metadata": {"annotations": {DISCONNECT_ANNOTATION: "true"}}});
    clusters
        .patch(name, &params, &Patch::Merge(&mark))
        .await
        .map_err(|e| hub.err(&format!("mark {name:?} for disconnect"), &e))?;
    // Only informative, for anyone watching; the delete below is what matters.
    let mut status = cluster.status.clone().unwrap_or_default();
    status.phase = Some(Phase::Disconnecting);
    let _ = registration::record_status(&hub, name, &status).await;
    match clusters.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(hub.err(&format!("delete ExternalCluster {name:?}"), &e)),
    }
    let removed = remove_secrets(&hub, name, &stored::secret_ref(&cluster)).await?;
    let mut secrets = if removed.is_empty() {
        "no kubeconfig Secret was left".to_owned()
    } else {
        format!("Secret {} deleted", removed.join(", "))
    };
    if cluster.spec.federated.is_some() && crate::hub_identity::delete(&hub, name).await? {
        let (namespace, account) = extcluster_core::federated::service_account(name);
        secrets += &format!(
            "; hub identity serviceaccount {namespace}/{account} deleted (no token can be minted for it again)"
        );
    }
    if let Some(held) = held_by_finalizers(&hub, name).await? {
        bail!(
            "{name:?} is marked for disconnect and {secrets}, but the registration stays \
             Terminating: finalizer {held} holds it, and only what added it can remove it (the \
             webhook and the controller already treat it as gone)"
        );
    }
    println!("{} disconnected; {secrets}", resource_name(name));
    if let Some(held) = profile_held(&hub, name).await {
        println!("{held}");
    }
    Ok(())
}

/// What a consumer keeps of the registration's ClusterProfile: its finalizers hold the profile
/// until that consumer lets go. Only said when the profile can be read.
async fn profile_held(hub: &Hub, name: &str) -> Option<String> {
    use extcluster_core::inventory::v1alpha1::ClusterProfile;
    let namespace = extcluster_core::api::INVENTORY_NAMESPACE;
    let api = kube::Api::<ClusterProfile>::namespaced(hub.client.clone(), namespace);
    let profile = api.get_metadata_opt(name).await.ok()??;
    let labels = profile.metadata.labels.unwrap_or_default();
    if labels
        .get(extcluster_core::inventory::CLUSTER_MANAGER_LABEL)
        .map(String::as_str)
        != Some(MANAGER)
    {
        return None;
    }
    let finalizers = profile.metadata.finalizers.filter(|f| !f.is_empty())?;
    Some(format!(
        "ClusterProfile {namespace}/{name} stays until its consumer removes finalizer {} (the \
         controller deletes it once and then leaves it alone)",
        finalizers.join(", ")
    ))
}

/// The finalizers that keep a deleted registration from going, when it has not gone.
async fn held_by_finalizers(hub: &Hub, name: &str) -> Result<Option<String>> {
    let left = hub
        .clusters()
        .get_opt(name)
        .await
        .map_err(|e| hub.err(&format!("get ExternalCluster {name:?}"), &e))?;
    Ok(left
        .filter(|c| c.metadata.deletion_timestamp.is_some())
        .and_then(|c| c.metadata.finalizers)
        .filter(|f| !f.is_empty())
        .map(|f| f.join(", ")))
}

/// Nothing to disconnect; a Secret left from an earlier registration of that name is removed.
async fn not_registered(hub: &Hub, name: &str, cleanup_remote: bool) -> Result<()> {
    let removed = remove_secrets(hub, name, &stored::registered_secret_ref(name)).await?;
    let extra = if removed.is_empty() {
        String::new()
    } else {
        format!(" (removed leftover Secret {})", removed.join(", "))
    };
    let remote = if cleanup_remote {
        " (and no stored kubeconfig to reach the cluster with, so nothing was removed there)"
    } else {
        ""
    };
    println!(
        "{} is not registered; nothing to disconnect{extra}{remote}",
        resource_name(name)
    );
    Ok(())
}

/// What is left to remove on a federated registration's cluster: convert-kubeconfig made
/// nothing there, and the binding is not the hub's to remove with its own (read-only) identity.
fn federated_cleanup(name: &str) -> String {
    format!(
        "{name:?} is federated: convert-kubeconfig made nothing for it. On the cluster, with an \
         administrator's kubeconfig, remove clusterrolebinding {}{name} (and the OIDC trust in \
         its API server set-up, if nothing else uses it); the hub identity cannot mint tokens \
         once disconnected",
        extcluster_core::federated::BINDING_PREFIX
    )
}

/// Removes what convert-kubeconfig made for the account the stored token belongs to, before the
/// hub side is touched; a failure stops the disconnect with nothing changed on the hub, and says
/// how to go on.
async fn cleanup(
    cluster: &extcluster_core::ExternalCluster,
    kubeconfig: Result<Kubeconfig, StoredError>,
) -> Result<()> {
    let (name, server) = (
        cluster.metadata.name.clone().unwrap_or_default(),
        cluster.spec.server.as_str(),
    );
    let failed = |why: String| {
        anyhow!(
            "nothing was removed in the cluster and {name:?} is still registered: {why}; or \
             disconnect without --cleanup-remote and remove it in the cluster later"
        )
    };
    let kubeconfig = kubeconfig.map_err(|e| failed(e.to_string()))?;
    let Some(token) = token_of(&kubeconfig) else {
        println!(
            "The stored kubeconfig does not log in with a token, so convert-kubeconfig made nothing for it; nothing was removed in {server}"
        );
        return Ok(());
    };
    let Some((namespace, account)) = jwt::service_account(&token) else {
        println!(
            "The stored token is not a ServiceAccount token, so convert-kubeconfig made nothing for it; nothing was removed in {server}"
        );
        return Ok(());
    };
    let by_hand = convert::cleanup_command(&namespace, &account);
    let client = extcluster_remote::client::for_kubeconfig(&kubeconfig)
        .await
        .map_err(|f| {
            failed(format!(
                "{}; when it answers, run the disconnect again, or remove it with `{by_hand}`",
                stored::explain(cluster, &f)
            ))
        })?;
    let result = tokio::time::timeout(
        probe::PROBE_LIMIT,
        convert::cleanup(&client, &namespace, &account),
    )
    .await
    .unwrap_or(Err(Failure::Transport(Transport::Timeout)));
    match result {
        Ok(done) if done.deleted.is_empty() => {
            println!(
                "Found nothing that convert-kubeconfig made for serviceaccount/{account} in {namespace} at {server}; nothing was removed there"
            );
            Ok(())
        }
        Ok(done) => {
            let collected = if done.collected.is_empty() {
                String::new()
            } else {
                format!(
                    "; the cluster's garbage collector removes {} after it (they were owned by it)",
                    done.collected.join(", ")
                )
            };
            println!(
                "Removed from {server}: {}{collected}",
                done.deleted.join(", ")
            );
            Ok(())
        }
        Err(Failure::Status { code: 403, .. }) => Err(failed(format!(
            "the stored credentials of serviceaccount/{account} in {namespace} may not delete what convert-kubeconfig made (they are read-only); with an administrator's kubeconfig for {server}, run `{by_hand}`"
        ))),
        Err(f) => Err(failed(format!(
            "{}; when it answers, run the disconnect again, or remove it with `{by_hand}`",
            stored::explain(cluster, &f)
        ))),
    }
}

fn confirm(name: &str) -> Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "disconnect asks for confirmation and there is no terminal to ask on; pass --yes to disconnect {name:?}"
        );
    }
    print!("Disconnect {name:?}? [y/N]: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        bail!("disconnect of {name:?} cancelled; nothing was changed")
    }
}
