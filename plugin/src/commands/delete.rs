//! `delete NAME`: only Provisioned registrations; Imported ones are disconnected.

use crate::hub::{Global, Hub};
use crate::output::{resource_name, table};
use crate::registration::remove_secrets;
use anyhow::{Result, anyhow, bail};
use clap::Args;
use extcluster_core::policy::Policy;
use extcluster_core::{ExternalCluster, Operation, Registration};
use extcluster_remote::{probe, stored};
use kube::api::DeleteParams;

/// Delete a Provisioned registration (Imported ones can only be disconnected)
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  kubectl extcluster delete lab-01

  # The cluster still has nodes: they are listed, and it takes --yes
  kubectl extcluster delete lab-01 --yes")]
pub struct DeleteArgs {
    pub name: String,
    /// Delete it even though the cluster still has nodes (or cannot be asked)
    #[arg(long)]
    pub yes: bool,
}

pub async fn run(global: &Global, args: &DeleteArgs) -> Result<()> {
    let name = args.name.as_str();
    let hub = Hub::connect(global).await?;
    let cluster = hub.registration(name).await?;
    // The same rule the webhook applies to a raw `kubectl delete`.
    let old = Registration::from(&cluster);
    let none: &[Registration<'_>] = &[];
    Policy::default()
        .decide(Operation::Delete, None, Some(&old), none)
        .map_err(|denial| anyhow!("{denial}"))?;
    if !args.yes {
        refuse_while_attached(&hub, &cluster).await?;
    }
    hub.clusters()
        .delete(name, &DeleteParams::default())
        .await
        .map_err(|e| hub.err(&format!("delete ExternalCluster {name:?}"), &e))?;
    remove_secrets(&hub, name, &stored::secret_ref(&cluster)).await?;
    println!("{} deleted", resource_name(name));
    Ok(())
}

/// Lists the nodes the cluster still has and refuses without `--yes`: deleting the registration
/// leaves them running with nothing on the hub to show for them.
async fn refuse_while_attached(hub: &Hub, cluster: &ExternalCluster) -> Result<()> {
    let name = cluster.metadata.name.as_deref().unwrap_or_default();
    if cluster.spec.kubeconfig_secret_ref.is_none() {
        return Ok(());
    }
    let nodes = match stored::client(&hub.client, cluster).await {
        Ok(client) => probe::facts(&client)
            .await
            .map(|f| f.nodes)
            .map_err(|f| stored::explain(cluster, &f)),
        Err(why) => Err(why.to_string()),
    };
    let nodes = match nodes {
        Ok(nodes) if nodes.is_empty() => return Ok(()),
        Ok(nodes) => nodes,
        Err(why) => bail!(
            "cannot see whether {name:?} still has nodes ({why}); nothing was deleted: pass --yes to delete the registration anyway"
        ),
    };
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| vec![n.name.clone(), n.kubelet_version.clone(), n.ready.clone()])
        .collect();
    println!("{name} still has {} node(s):", nodes.len());
    print!("{}", table(&["NAME", "VERSION", "READY"], &rows));
    bail!(
        "{name:?} still has {} node(s), which keep running when the registration goes; nothing was deleted: pass --yes to delete it anyway",
        nodes.len()
    )
}
