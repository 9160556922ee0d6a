//! `set-credentials NAME --from-kubeconfig FILE`: replaces the kubeconfig the hub stores for a
//! registration, once the new one is shown to reach the same cluster with the rights the
//! registration's mode needs. The way back from a rotated or expired token.

use crate::hub::{Global, Hub};
use crate::output::resource_name;
use crate::registration::{self, external_client, failed, from_file};
use anyhow::{Result, bail};
use clap::Args;
use extcluster_remote::{kubeconfig, probe};
use std::path::PathBuf;

/// Replace the kubeconfig the hub stores for a registration (after rotating its token, say)
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  # The token was rotated: give the hub the new one
  kubectl extcluster convert-kubeconfig --from-kubeconfig ~/.kube/eks --rotate -o eks-token.kubeconfig
  kubectl extcluster set-credentials prod-eu --from-kubeconfig eks-token.kubeconfig

The new kubeconfig must reach the same cluster (its kube-system UID is the registration's cluster
ID) with the rights the registration's mode needs; otherwise nothing is changed.")]
pub struct SetCredentialsArgs {
    /// The registration
    pub name: String,
    /// The kubeconfig with the new credentials (client certificate or token)
    #[arg(long, value_name = "FILE")]
    pub from_kubeconfig: PathBuf,
    /// The context to use (default: the file's current-context)
    #[arg(long, value_name = "CONTEXT")]
    pub from_context: Option<String>,
    /// Store them even though the context's cluster sets insecure-skip-tls-verify: true (the
    /// hub then sends them to whatever answers at that address)
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
}

pub async fn run(global: &Global, args: &SetCredentialsArgs) -> Result<()> {
    let name = args.name.as_str();
    let hub = Hub::connect(global).await?;
    let cluster = hub.registration(name).await?;
    if !cluster.is_live() {
        bail!("{name:?} is being disconnected; register the cluster again instead");
    }

    // The new credentials, checked against the cluster before anything on the hub changes.
    let path = args.from_kubeconfig.display().to_string();
    let kc = kubeconfig::read(&args.from_kubeconfig)?;
    let minimized = kubeconfig::minimize(&kc, &path, args.from_context.as_deref())?;
    registration::refuse_unverified_tls(
        minimized.skips_tls_verify(),
        args.insecure_skip_tls_verify,
        &minimized.context,
        &minimized.server,
        &path,
    )?;
    let client = external_client(&minimized, &path).await?;
    let facts = probe::facts(&client)
        .await
        .map_err(|f| failed(from_file(&minimized, &path), "read the cluster", &f))?;
    if facts.cluster_id != cluster.spec.cluster_id {
        bail!(
            "context {:?} in {path} reaches cluster {} at {}, but {name:?} is registered for cluster {}; use a kubeconfig for that cluster, or register this one under a name of its own",
            minimized.context,
            facts.cluster_id,
            minimized.server,
            cluster.spec.cluster_id
        );
    }
    probe::require_rights(&client, cluster.spec.mode, from_file(&minimized, &path)).await?;

    let kubeconfig_yaml = kubeconfig::to_yaml(&minimized.kubeconfig)?;
    registration::store_kubeconfig(&hub, &cluster, kubeconfig_yaml.into_bytes()).await?;
    // What the new credentials just saw is the registration's status now.
    let credentials = extcluster_remote::credentials::facts(&minimized.kubeconfig);
    let new_status = registration::probed_status(&cluster, &facts, credentials);
    registration::record_status(&hub, name, &new_status)
        .await
        .map_err(|e| hub.err(&format!("update the status of {name:?}"), &e))?;
    println!(
        "{} credentials replaced (context {:?} of {path}): {}, {}, {} nodes",
        resource_name(name),
        minimized.context,
        registration::phase_text(&new_status),
        facts.git_version,
        facts.nodes.len()
    );
    Ok(())
}
