//! `trust NAME`: what a cluster needs to trust a federated registration's hub identity, printed
//! (or its RBAC applied with `--apply`), before or after the registration exists.

use crate::hub::{Global, Hub};
use crate::login::Target;
use crate::trust_setup::{self, Trusting};
use anyhow::{Result, anyhow, bail};
use clap::Args;
use extcluster_core::federated::{
    DEFAULT_USERNAME_PREFIX, MIN_EXPIRATION_SECONDS, default_audience,
};
use extcluster_core::{Federated, Mode};
use std::path::PathBuf;

/// Print what a cluster needs to trust the hub's identity for a federated registration
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  # Before registering: the set-up for the cluster a kubeconfig reaches (its ID read with it)
  kubectl extcluster trust prod-eu --from-kubeconfig ~/eks.kubeconfig

  # After: the set-up of the registration, and its RBAC applied on the cluster
  kubectl extcluster trust prod-eu --apply --from-kubeconfig ~/admin.kubeconfig")]
pub struct TrustArgs {
    /// The registration's name on the hub (registered already, or to be)
    pub name: String,
    /// The cluster's API server URL, when it is not registered yet and no kubeconfig is given
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The tokens' audience, when it is not registered yet [default: extcluster.io/<the
    /// cluster's kube-system UID>, read through --from-kubeconfig]
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,
    /// What the cluster puts before the hub identity's name, when it is not registered yet
    #[arg(long, value_name = "PREFIX", default_value = DEFAULT_USERNAME_PREFIX)]
    pub username_prefix: String,
    /// The rights to bind, when it is not registered yet: connect (read-only) or import
    #[arg(long, value_name = "MODE", default_value = "connect", value_parser = |s: &str| s.parse::<Mode>())]
    pub mode: Mode,
    /// Apply the RBAC on the cluster through --from-kubeconfig (a cluster administrator's; used
    /// once, never stored); applying again changes nothing
    #[arg(long, requires = "from_kubeconfig")]
    pub apply: bool,
    /// A kubeconfig for the cluster: to read its ID and server, and with --apply to apply there
    #[arg(long, value_name = "FILE")]
    pub from_kubeconfig: Option<PathBuf>,
    /// The context in that kubeconfig (default: its current-context)
    #[arg(long, value_name = "CONTEXT", requires = "from_kubeconfig")]
    pub from_context: Option<String>,
}

pub async fn run(global: &Global, args: &TrustArgs) -> Result<()> {
    let hub = Hub::connect(global).await?;
    let target = match &args.from_kubeconfig {
        Some(path) => {
            let context = args.from_context.as_deref();
            Some(Target::from_file(path, context, global.exec_timeout).await?)
        }
        None => None,
    };
    let (server, federated, mode) = subject(&hub, args, target.as_ref()).await?;
    let subject = Trusting {
        name: &args.name,
        server: &server,
        federated: &federated,
        mode,
    };
    match (&target, args.apply) {
        (Some(target), true) => {
            for line in trust_setup::apply(&target.client, &args.name, &federated, mode).await? {
                println!("{line}");
            }
        }
        _ => print!(
            "{}",
            trust_setup::instructions(&subject, &trust_setup::issuer(&hub).await?)?
        ),
    }
    Ok(())
}

/// The server, the tokens and the rights: the registration's when it exists, else the flags'.
async fn subject(
    hub: &Hub,
    args: &TrustArgs,
    target: Option<&Target>,
) -> Result<(String, Federated, Mode)> {
    let name = &args.name;
    let existing = hub
        .clusters()
        .get_opt(name)
        .await
        .map_err(|e| hub.err(&format!("get ExternalCluster {name:?}"), &e))?;
    if let Some(cluster) = existing {
        let Some(federated) = cluster.spec.federated.clone() else {
            bail!(
                "{name:?} is registered with a stored credential, not federated: the cluster \
                 needs no trust in the hub; register it with --federated to hold no credential"
            );
        };
        return Ok((cluster.spec.server.clone(), federated, cluster.spec.mode));
    }
    let server = match (&args.server, target) {
        (Some(s), _) => s.clone(),
        (None, Some(t)) => t.resolved.server.clone(),
        (None, None) => bail!(
            "{name:?} is not registered; give the cluster's --server and --audience, or \
             --from-kubeconfig to read them from the cluster"
        ),
    };
    let audience = match (&args.audience, target) {
        (Some(a), _) => a.clone(),
        (None, Some(t)) => default_audience(&cluster_id(t).await?),
        (None, None) => bail!(
            "{name:?} is not registered, so its audience is not known; give --audience, or \
             --from-kubeconfig to read the cluster's ID (the default audience is \
             extcluster.io/<its kube-system UID>)"
        ),
    };
    let federated = Federated {
        audience,
        username_prefix: args.username_prefix.clone(),
        expiration_seconds: MIN_EXPIRATION_SECONDS,
    };
    Ok((server, federated, args.mode))
}

async fn cluster_id(target: &Target) -> Result<String> {
    let facts = extcluster_remote::probe::facts(&target.client)
        .await
        .map_err(|f| {
            anyhow!(
                "cannot read the cluster's ID at {}: {f}",
                target.resolved.server
            )
        })?;
    Ok(facts.cluster_id)
}
