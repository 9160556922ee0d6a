//! `refresh NAME...|--all`: probe through the stored kubeconfig and record what was found. Every
//! result is recorded and printed; the exit is non-zero when a cluster is Unreachable or shows
//! another identity, as scripts need, or when the hub fails.

use crate::hub::{Global, Hub};
use crate::output::table;
use crate::registration::{self, derived_status, record_status};
use anyhow::{Result, bail};
use clap::Args;
use extcluster_core::{ExternalCluster, ExternalClusterStatus, Phase};
use extcluster_remote::observe::{Limits, observe};
use extcluster_remote::stored;

/// Probe clusters again and update their status (Running, Reconciling, Unreachable)
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  kubectl extcluster refresh prod-eu
  kubectl extcluster refresh --all")]
pub struct RefreshArgs {
    /// The registrations to refresh
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub names: Vec<String>,
    /// Refresh every registration
    #[arg(long)]
    pub all: bool,
}

pub async fn run(global: &Global, args: &RefreshArgs) -> Result<()> {
    let hub = Hub::connect(global).await?;
    let clusters = hub.clusters();
    let mut targets: Vec<ExternalCluster> = Vec::new();
    if args.all {
        targets = clusters
            .list(&Default::default())
            .await
            .map_err(|e| hub.err("list ExternalClusters", &e))?
            .items;
        targets.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    } else {
        for name in &args.names {
            targets.push(hub.registration(name).await?);
        }
    }
    let (live, leaving): (Vec<_>, Vec<_>) = targets.into_iter().partition(ExternalCluster::is_live);
    for c in &leaving {
        eprintln!(
            "skipping {:?}: it is being disconnected",
            c.metadata.name.as_deref().unwrap_or_default()
        );
    }
    if live.is_empty() {
        if leaving.is_empty() {
            eprintln!("No external clusters are registered on the hub.");
        }
        return Ok(());
    }

    // Look at all at once: a cluster that does not answer should not hold up the others. The
    // same look as the controller's, rights included.
    let looks = futures::future::join_all(live.iter().map(|c| async {
        let kubeconfig = stored::kubeconfig(&hub.client, c).await;
        observe(kubeconfig, c, true, Limits::default()).await
    }))
    .await;
    let mut rows = Vec::new();
    let mut hub_errors = Vec::new();
    let mut unhealthy = Vec::new();
    for (c, observation) in live.iter().zip(&looks) {
        let name = c.metadata.name.clone().unwrap_or_default();
        let old = c.status.as_ref();
        let new = derived_status(c, observation);
        if let Err(e) = record_status(&hub, &name, &new).await {
            hub_errors.push(format!(
                "{:#}",
                hub.err(&format!("update the status of {name:?}"), &e)
            ));
            continue;
        }
        if matches!(
            new.phase,
            Some(Phase::Unreachable | Phase::IdentityMismatch | Phase::CredentialsRejected)
        ) {
            unhealthy.push(format!("{name} ({})", registration::phase_text(&new)));
        }
        rows.push(row(name, old, &new, observation.outcome.is_ok()));
    }
    if !rows.is_empty() {
        print!(
            "{}",
            table(&["NAME", "PHASE", "VERSION", "NODES", "MESSAGE"], &rows)
        );
    }
    if !hub_errors.is_empty() {
        bail!("{}", hub_errors.join("; "));
    }
    // As a script needs it: a non-zero exit when a cluster is not reachable as registered.
    if !unhealthy.is_empty() {
        bail!(
            "{} of {} refreshed clusters are not healthy: {}; `kubectl extcluster describe NAME` says why",
            unhealthy.len(),
            rows.len(),
            unhealthy.join(", ")
        );
    }
    Ok(())
}

/// One line of the table: what the probe found, and a version change when there was one.
fn row(
    name: String,
    old: Option<&ExternalClusterStatus>,
    new: &ExternalClusterStatus,
    answered: bool,
) -> Vec<String> {
    let previous = old.and_then(|s| s.observed_version.clone());
    let note = match (&previous, &new.observed_version) {
        (Some(p), Some(n)) if p != n && answered => format!("version changed from {p} to {n}"),
        _ => new.message.clone().unwrap_or_default(),
    };
    vec![
        name,
        new.phase.map(|p| p.to_string()).unwrap_or_default(),
        new.observed_version
            .clone()
            .unwrap_or_else(|| "<none>".into()),
        new.node_count
            .map_or_else(|| "<none>".into(), |n| n.to_string()),
        note,
    ]
}
