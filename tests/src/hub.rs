//! A hub: a control plane with the ExternalCluster CRD installed and the system namespace made.

use crate::{ControlPlane, Options, repo_root};
use anyhow::{Result, bail};

pub async fn start() -> Result<ControlPlane> {
    start_with(Options::default().name("hub")).await
}

/// A hub and an external control plane named `name`, started together.
pub async fn and_external(name: &str) -> Result<(ControlPlane, ControlPlane)> {
    let (hub, ext) = tokio::join!(start(), ControlPlane::start(Options::default().name(name)));
    Ok((hub?, ext?))
}

pub async fn start_with(opts: Options) -> Result<ControlPlane> {
    let hub = ControlPlane::start(opts).await?;
    install_crd(&hub)?;
    Ok(hub)
}

pub fn install_crd(hub: &ControlPlane) -> Result<()> {
    let crd = repo_root().join("manifests/crd.yaml");
    for args in [
        vec!["apply", "-f", crd.to_str().unwrap_or_default()],
        vec![
            "wait",
            "--for=condition=Established",
            "crd/externalclusters.extcluster.io",
            "--timeout=30s",
        ],
        vec![
            "create",
            "namespace",
            extcluster_core::api::SYSTEM_NAMESPACE,
        ],
    ] {
        let out = hub.kubectl(&args);
        if !out.ok() {
            bail!("kubectl {} failed: {}", args.join(" "), out.stderr);
        }
    }
    Ok(())
}

/// The names of the ExternalClusters the hub holds, sorted.
pub async fn registrations(hub: &ControlPlane) -> Vec<String> {
    use extcluster_core::ExternalCluster;
    use kube::api::{Api, ListParams};
    let api: Api<ExternalCluster> = Api::all(hub.client().await.expect("a hub client"));
    let mut names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .expect("listing ExternalClusters")
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    names.sort();
    names
}

/// A hub kubeconfig for user `operator` with exactly the operator role of manifests/roles.yaml
/// (cluster-wide, and in the system namespace for the kubeconfig Secrets).
pub fn operator_kubeconfig(hub: &ControlPlane, dir: &std::path::Path) -> std::path::PathBuf {
    use extcluster_core::api::SYSTEM_NAMESPACE;
    let roles = repo_root().join("manifests/roles.yaml");
    let roles = roles.to_str().unwrap_or_default();
    hub.kubectl(&["apply", "-f", roles]).success();
    let cluster_wide = [
        "create",
        "clusterrolebinding",
        "operator",
        "--clusterrole=extcluster-operator",
        "--user=operator",
    ];
    hub.kubectl(&cluster_wide).success();
    let secrets = [
        "create",
        "rolebinding",
        "operator",
        "-n",
        SYSTEM_NAMESPACE,
        "--role=extcluster-operator",
        "--user=operator",
    ];
    hub.kubectl(&secrets).success();
    let kubeconfig = dir.join("operator-hub");
    hub.write_client_kubeconfig(&kubeconfig, "operator", &[], time::Duration::days(1))
        .expect("an operator kubeconfig");
    kubeconfig
}

/// `kubectl apply -f` of a file of this repository, which must succeed.
pub fn apply(hub: &ControlPlane, manifest: &str) {
    let path = repo_root().join(manifest);
    let out = hub.kubectl(&["apply", "-f", crate::path_str(&path)]);
    assert!(out.ok(), "kubectl apply -f {manifest}: {}", out.stderr);
}

/// Upstream's ClusterProfile CRD, as a user applies it to an API server before 1.25: without
/// client-side validation, which does not know its CEL rule (the API server drops the rule).
pub fn apply_cluster_profile_crd(hub: &ControlPlane) {
    let path = repo_root().join("manifests/cluster-profile/crd.yaml");
    let out = hub.kubectl(&["apply", "--validate=false", "-f", crate::path_str(&path)]);
    assert!(
        out.ok(),
        "kubectl apply the ClusterProfile CRD: {}",
        out.stderr
    );
}

/// The hub set up for the controller to publish: the namespaces, the ClusterProfile API
/// (established), the Argo CD and Flux namespaces and the controller's rights there.
pub fn install_publishing(hub: &ControlPlane) {
    for ns in ["argocd", "flux-system"] {
        assert!(hub.kubectl(&["create", "namespace", ns]).ok());
    }
    apply(hub, "manifests/namespace.yaml");
    apply_cluster_profile_crd(hub);
    let established = [
        "wait",
        "--for=condition=Established",
        "crd/clusterprofiles.multicluster.x-k8s.io",
    ];
    assert!(hub.kubectl(&established).ok());
    apply(hub, "manifests/export-argocd/rbac.yaml");
    apply(hub, "manifests/export-flux/rbac.yaml");
}

/// The opt-in manifest that lets anyone read the hub's ServiceAccount issuer discovery documents.
pub const ISSUER_DISCOVERY: &str = "manifests/issuer-discovery/clusterrolebinding.yaml";

/// Opens the hub's issuer discovery documents to anonymous readers, as a hub admin does for
/// federated trust: external clusters fetch them without credentials.
pub fn open_issuer_discovery(hub: &ControlPlane) {
    apply(hub, ISSUER_DISCOVERY);
}
