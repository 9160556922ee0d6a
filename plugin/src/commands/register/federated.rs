//! `register --federated`: the kubeconfig given is used once, to find the cluster (server, CA,
//! identity) and, with `--trust-apply`, to bind the hub identity there; nothing of its
//! credentials is stored. The hub gets the registration, a Secret with a kubeconfig that holds no
//! credential (so every reader finds the endpoint the one way it finds any registration's), and
//! a ServiceAccount whose minted tokens must pass the same checks as stored credentials before
//! anything else is written.

use super::{RegistrationArgs, described, hub_accepting};
use crate::hub::{Global, Hub};
use crate::login::Target;
use crate::output::resource_name;
use crate::registration;
use crate::{hub_identity, trust_setup};
use anyhow::{Result, anyhow, bail};
use clap::Args;
use extcluster_core::federated::{
    DEFAULT_USERNAME_PREFIX, MIN_EXPIRATION_SECONDS, default_audience,
};
use extcluster_core::{ExternalCluster, Federated, Mode};
use extcluster_remote::kubeconfig::{self, file};
use extcluster_remote::observe::{Limits, observe};
use extcluster_remote::{federated as mint, probe};

/// How the hub's tokens for a federated registration are made.
#[derive(Debug, Clone, Args)]
pub struct FederatedArgs {
    /// Store no credential: the cluster trusts the hub's ServiceAccount issuer (see `kubectl
    /// extcluster trust`) and every use mints a short-lived token of a hub ServiceAccount made
    /// for this registration
    #[arg(long, conflicts_with_all = ["convert", "service_account"])]
    pub federated: bool,
    /// With --federated: the tokens' audience, the client ID the cluster's OIDC set-up expects
    /// [default: extcluster.io/<the cluster's kube-system UID>]
    #[arg(long, value_name = "AUDIENCE", requires = "federated")]
    pub audience: Option<String>,
    /// With --federated: what the cluster puts before the hub identity's name
    #[arg(long, value_name = "PREFIX", default_value = DEFAULT_USERNAME_PREFIX)]
    pub username_prefix: String,
    /// With --federated: each token's lifetime (10m at least, TokenRequest's minimum)
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = lifetime)]
    pub token_lifetime: i64,
    /// With --federated: bind the hub identity on the cluster through the kubeconfig given (a
    /// cluster administrator's), as `kubectl extcluster trust NAME --apply` does
    #[arg(long, requires = "federated")]
    pub trust_apply: bool,
}

fn lifetime(s: &str) -> Result<i64, String> {
    let d = extcluster_core::duration::parse(s).map_err(|why| format!("{s:?}: {why}"))?;
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    if secs < MIN_EXPIRATION_SECONDS {
        return Err(format!(
            "{s:?} is shorter than 10m, which TokenRequest refuses; give 10m or more"
        ));
    }
    Ok(secs)
}

pub async fn register(global: &Global, args: &RegistrationArgs, mode: Mode) -> Result<()> {
    let name = args.name.as_str();
    let target = login(global, args).await?;
    let facts = probe::facts(&target.client)
        .await
        .map_err(|f| anyhow!("cannot read the cluster at {}: {f}", target.resolved.server))?;
    let f = &args.federated;
    let federated = Federated {
        audience: f
            .audience
            .clone()
            .unwrap_or_else(|| default_audience(&facts.cluster_id)),
        username_prefix: f.username_prefix.clone(),
        expiration_seconds: f.token_lifetime,
    };
    let mut described = described(args, mode, &facts, &target.resolved.server);
    described.federated = Some(federated.clone());
    let cluster = registration::build_cluster(name, &described, &facts);
    let public = file::single(
        &target
            .resolved
            .with_user(format!("hub@{name}"), Default::default()),
    );
    let secret = registration::build_secret(
        name,
        &facts.cluster_id,
        kubeconfig::to_yaml(&public)?.into(),
    );
    let Some(hub) = hub_accepting(global, args, &cluster, &secret).await? else {
        println!(
            "# --federated: the hub would get serviceaccount {name} in extcluster-system, whose tokens (audience {}) the cluster must accept",
            federated.audience
        );
        return Ok(());
    };
    if f.trust_apply {
        for line in trust_setup::apply(&target.client, name, &federated, mode).await? {
            eprintln!("  {line}");
        }
    }
    hub_identity::create(&hub, name).await?;
    if let Err(e) = verified(&hub, &cluster, &public, &facts.cluster_id).await {
        return Err(without_identity(&hub, name, e, true).await);
    }
    // create removes what it wrote when it fails, and says so.
    let status = match registration::create(&hub, &cluster, secret, &facts).await {
        Ok(status) => status,
        Err(e) => return Err(without_identity(&hub, name, e, false).await),
    };
    if let Err(e) = own(&hub, name).await {
        eprintln!("warning: {e:#}; disconnect still deletes it");
    }
    println!(
        "{} registered ({mode}, {}, federated): {}, {}, {} nodes",
        resource_name(name),
        cluster.spec.provider,
        registration::phase_text(&status),
        facts.git_version,
        facts.nodes.len()
    );
    Ok(())
}

async fn login(global: &Global, args: &RegistrationArgs) -> Result<Target> {
    let context = args.from_context.as_deref();
    let target = Target::from_file(&args.from_kubeconfig, context, global.exec_timeout).await?;
    let resolved = &target.resolved;
    registration::refuse_unverified_tls(
        resolved.cluster.insecure_skip_tls_verify == Some(true),
        args.insecure_skip_tls_verify,
        &resolved.context,
        &resolved.server,
        &target.path,
    )?;
    Ok(target)
}

/// A token minted for the new hub identity reaches the same cluster, with the rights needed:
/// one look as the controller takes it, so its refusals are the sentences the status would show.
async fn verified(
    hub: &Hub,
    cluster: &ExternalCluster,
    public: &kube::config::Kubeconfig,
    id: &str,
) -> Result<()> {
    let name = cluster.metadata.name.as_deref().unwrap_or_default();
    let federated = cluster
        .spec
        .federated
        .as_ref()
        .expect("a federated registration");
    let minted = mint::mint(&hub.client, name, federated).await?;
    let kubeconfig = Ok(mint::with_token(public.clone(), &minted));
    let looked = observe(kubeconfig, cluster, true, Limits::default()).await;
    let seen = looked.outcome.map_err(|e| anyhow!("{}", e.message))?;
    if seen.cluster_id != id {
        bail!(
            "the hub's token reached a cluster whose kube-system UID is {}, not {id}: {} is \
             not the cluster the kubeconfig reached",
            seen.cluster_id,
            cluster.spec.server
        );
    }
    let missing = looked.missing_rights.unwrap_or_default();
    if !missing.is_empty() {
        bail!(
            "the cluster knows the hub as {}, who lacks what {} needs ({}); apply the \
             ClusterRoleBinding `kubectl extcluster trust {name}` prints, or register with \
             --trust-apply",
            extcluster_core::federated::username(name, federated),
            cluster.spec.mode,
            missing.join(", ")
        );
    }
    Ok(())
}

async fn own(hub: &Hub, name: &str) -> Result<()> {
    let cluster = hub.registration(name).await?;
    hub_identity::own(hub, &cluster).await
}

/// `e`, once the hub identity made for the failed registration is gone again; `only_it`: it was
/// all that was written (else `e` already says what the rest of the rollback left).
async fn without_identity(hub: &Hub, name: &str, e: anyhow::Error, only_it: bool) -> anyhow::Error {
    match hub_identity::delete(hub, name).await {
        Ok(_) if only_it => anyhow!("{e:#}; nothing was left on the hub"),
        Ok(_) => e,
        Err(left) => anyhow!(
            "{e:#}; the hub identity serviceaccount extcluster-system/{name} is left: {left:#}"
        ),
    }
}
