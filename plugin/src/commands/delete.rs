//! `delete NAME`: only Provisioned registrations; Imported ones are disconnected.

use crate::hub::{Global, Hub};
use crate::output::resource_name;
use crate::registration::remove_secrets;
use anyhow::{Result, anyhow};
use clap::Args;
use extcluster_core::policy::Policy;
use extcluster_core::{Operation, Registration};
use extcluster_remote::stored;
use kube::api::DeleteParams;

/// Delete a Provisioned registration (Imported ones can only be disconnected)
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  kubectl extcluster delete lab-01")]
pub struct DeleteArgs {
    pub name: String,
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
    hub.clusters()
        .delete(name, &DeleteParams::default())
        .await
        .map_err(|e| hub.err(&format!("delete ExternalCluster {name:?}"), &e))?;
    remove_secrets(&hub, name, &stored::secret_ref(&cluster)).await?;
    println!("{} deleted", resource_name(name));
    Ok(())
}
