//! `delete NAME`: only Provisioned registrations; Imported ones are disconnected.

use crate::cli::Global;
use crate::commands::disconnect::remove_secrets;
use crate::hub::Hub;
use crate::output::resource_name;
use anyhow::{Result, anyhow};
use extcluster_core::policy::Policy;
use extcluster_core::{Operation, Registration};
use kube::api::DeleteParams;

pub async fn run(global: &Global, name: &str) -> Result<()> {
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
    remove_secrets(&hub, name, cluster.spec.kubeconfig_secret_ref.as_ref()).await?;
    println!("{} deleted", resource_name(name));
    Ok(())
}
