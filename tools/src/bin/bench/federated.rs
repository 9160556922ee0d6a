//! Federated registrations: what minting costs. A hub and an external cluster whose API server
//! trusts the hub's ServiceAccount issuer; a TokenRequest for a registration's hub identity
//! timed, and one look at the cluster as the controller takes it (`remote::observe`) timed with
//! a cached minted token, minting each time, and with a stored ServiceAccount token.

use crate::{Row, row};
use anyhow::{Result, anyhow};
use extcluster_core::api::SYSTEM_NAMESPACE;
use extcluster_core::federated::{DEFAULT_USERNAME_PREFIX, MIN_EXPIRATION_SECONDS, username};
use extcluster_core::{ExternalCluster, ExternalClusterSpec, Federated, Mode};
use extcluster_remote::federated::{mint, with_token};
use extcluster_remote::kubeconfig::file::token_user;
use extcluster_remote::observe::{Limits, observe};
use extcluster_tests::{ControlPlane, Options, Wait, hub};
use std::time::{Duration, Instant};

const NAME: &str = "edge";

pub async fn rows(quick: bool) -> Result<Vec<Row>> {
    let runs = if quick { 20 } else { 200 };
    let (hub, ext) = tokio::join!(
        hub::start(),
        ControlPlane::start(Options::default().name(NAME))
    );
    let (hub, mut ext) = (hub?, ext?);
    let cluster = trusted(&hub, &mut ext).await?;
    let federated = cluster
        .spec
        .federated
        .clone()
        .unwrap_or_else(|| unreachable!());
    let client = hub.client().await?;
    let minting = timed(runs, async || {
        mint(&client, NAME, &federated)
            .await
            .map(drop)
            .map_err(|e| anyhow!("{e}"))
    })
    .await?;
    let public = public_kubeconfig(&ext)?;
    let minted = mint(&client, NAME, &federated).await?;
    let cached = timed(runs, async || {
        looked(&cluster, with_token(public.clone(), &minted)).await
    })
    .await?;
    let each = timed(runs, async || {
        let fresh = mint(&client, NAME, &federated).await?;
        looked(&cluster, with_token(public.clone(), &fresh)).await
    })
    .await?;
    let stored = stored_token_kubeconfig(&ext).await?;
    let mut plain = cluster.clone();
    plain.spec.federated = None;
    let with_stored = timed(runs, async || looked(&plain, stored.clone()).await).await?;
    Ok(vec![
        row(
            "federated: TokenRequest for a hub identity (median)",
            ms(minting),
            "",
        ),
        row(
            "federated: one probe, cached minted token (median)",
            ms(cached),
            "≈ stored token",
        ),
        row(
            "federated: one probe, stored ServiceAccount token (median)",
            ms(with_stored),
            "",
        ),
        row(
            "federated: one probe, minting each time (median)",
            ms(each),
            "not done: cached",
        ),
        row(
            "federated: probes per second, one at a time, cached",
            format!("{:.0}", 1.0 / cached.as_secs_f64()),
            "",
        ),
    ])
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The median of `runs` runs of `f`.
async fn timed(runs: usize, f: impl AsyncFn() -> Result<()>) -> Result<Duration> {
    let mut took = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        f().await?;
        took.push(started.elapsed());
    }
    took.sort();
    Ok(took[took.len() / 2])
}

async fn looked(cluster: &ExternalCluster, kubeconfig: kube::config::Kubeconfig) -> Result<()> {
    let seen = observe(Ok(kubeconfig), cluster, false, Limits::default()).await;
    seen.outcome.map(drop).map_err(|e| anyhow!("{}", e.message))
}

/// `ext` trusting `hub`'s issuer for a registration's hub identity with cluster-admin; the
/// registration, in memory.
async fn trusted(hub: &ControlPlane, ext: &mut ControlPlane) -> Result<ExternalCluster> {
    hub::open_issuer_discovery(hub);
    let id = ext.kube_system_uid().await?;
    let federated = Federated {
        audience: extcluster_core::federated::default_audience(&id),
        username_prefix: DEFAULT_USERNAME_PREFIX.into(),
        expiration_seconds: MIN_EXPIRATION_SECONDS,
    };
    let flags = [
        format!("--oidc-issuer-url={}", hub.issuer()),
        format!("--oidc-client-id={}", federated.audience),
        "--oidc-username-claim=sub".into(),
        format!("--oidc-username-prefix={DEFAULT_USERNAME_PREFIX}"),
        "--oidc-signing-algs=ES256,RS256".into(),
        format!("--oidc-ca-file={}", hub.ca_file().display()),
    ];
    ext.trust_issuer(&flags).await?;
    let user = format!("--user={}", username(NAME, &federated));
    ext.kubectl(&[
        "create",
        "clusterrolebinding",
        "hub-edge",
        "--clusterrole=cluster-admin",
        &user,
    ])
    .success();
    hub.service_account_token(SYSTEM_NAMESPACE, NAME, &[&federated.audience])
        .await?;
    let mut cluster = ExternalCluster::new(NAME, spec(ext, &id));
    cluster.spec.federated = Some(federated.clone());
    let client = hub.client().await?;
    let public = public_kubeconfig(ext)?;
    Wait::up_to(
        Duration::from_secs(120),
        "the cluster to accept the hub's tokens",
    )
    .every(Duration::from_secs(1))
    .until(async || {
        let minted = mint(&client, NAME, &federated).await.ok()?;
        looked(&cluster, with_token(public.clone(), &minted))
            .await
            .ok()
    })
    .await?;
    Ok(cluster)
}

fn spec(ext: &ControlPlane, id: &str) -> ExternalClusterSpec {
    ExternalClusterSpec {
        mode: Mode::Import,
        origin: Default::default(),
        provider: Default::default(),
        cluster_id: id.to_owned(),
        server: ext.server(),
        kubernetes_version: "v1.20.2".into(),
        kubeconfig_secret_ref: None,
        display_name: None,
        federated: None,
    }
}

/// The cluster's endpoint and CA, no credential: what the hub stores for a federated one.
fn public_kubeconfig(ext: &ControlPlane) -> Result<kube::config::Kubeconfig> {
    let mut kc = kube::config::Kubeconfig::read_from(ext.kubeconfig())?;
    for user in &mut kc.auth_infos {
        user.auth_info = Some(Default::default());
    }
    Ok(kc)
}

/// A kubeconfig with a ServiceAccount token of the cluster's own, cluster-admin.
async fn stored_token_kubeconfig(ext: &ControlPlane) -> Result<kube::config::Kubeconfig> {
    let token = ext
        .service_account_token("kube-system", "bench", &[])
        .await?;
    let user = "--serviceaccount=kube-system:bench";
    ext.kubectl(&[
        "create",
        "clusterrolebinding",
        "bench",
        "--clusterrole=cluster-admin",
        user,
    ])
    .success();
    let mut kc = public_kubeconfig(ext)?;
    for named in &mut kc.auth_infos {
        named.auth_info = Some(token_user(token.clone()));
    }
    Ok(kc)
}
