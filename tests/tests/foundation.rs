//! The API on a real hub, and real external control planes that report provider versions.

use extcluster_core::version::{KubeVersion, VersionRange};
use extcluster_tests::{ControlPlane, Options, Wait, assert_contains, repo_root};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::api::{Api, PostParams};
use serde_json::json;
use std::time::Duration;

const CLUSTER: &str = r#"
apiVersion: extcluster.io/v1alpha1
kind: ExternalCluster
metadata:
  name: prod-eu
  labels:
    extcluster.io/cluster-id: 4c1b2f3e-0000-4000-8000-000000000001
spec:
  mode: Import
  provider: EKS
  clusterID: 4c1b2f3e-0000-4000-8000-000000000001
  server: https://prod-eu.example.com:443
  kubernetesVersion: v1.29.3-eks-adc7111
  kubeconfigSecretRef: {namespace: extcluster-system, name: prod-eu-kubeconfig, key: kubeconfig}
"#;

fn crd_path() -> String {
    repo_root().join("manifests/crd.yaml").display().to_string()
}

#[tokio::test]
async fn crd_on_a_real_hub_create_read_list_delete() {
    let hub = ControlPlane::start(Options::default().name("hub"))
        .await
        .unwrap();
    hub.kubectl(&["apply", "-f", &crd_path()]).success();
    hub.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd/externalclusters.extcluster.io",
        "--timeout=30s",
    ])
    .success();

    hub.kubectl_stdin(&["create", "-f", "-"], CLUSTER).success();
    // Status is a subresource: the main resource ignores it, the subresource takes it.
    let status = json!({"status": {"phase": "Running", "observedVersion": "v1.29.3-eks-adc7111", "nodeCount": 3}});
    hub.kubectl(&[
        "patch",
        "extc",
        "prod-eu",
        "--subresource=status",
        "--type=merge",
        "-p",
        &status.to_string(),
    ])
    .success();

    let got = hub
        .kubectl(&["get", "externalcluster", "prod-eu", "-o", "json"])
        .success();
    let obj: serde_json::Value = serde_json::from_str(&got.stdout).unwrap();
    assert_eq!(
        obj["spec"]["origin"], "Imported",
        "origin defaults to Imported"
    );
    assert_eq!(
        obj["spec"]["clusterID"],
        "4c1b2f3e-0000-4000-8000-000000000001"
    );
    assert_eq!(obj["status"]["phase"], "Running");
    assert!(obj["metadata"]["namespace"].is_null(), "cluster-scoped");
    let typed: extcluster_core::ExternalCluster = serde_json::from_value(obj).unwrap();
    assert_eq!(typed.spec.provider, extcluster_core::Provider::EKS);

    let table = hub.kubectl(&["get", "extc"]).success().stdout;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME", "MODE", "PROVIDER", "VERSION", "PHASE", "NODES", "AGE"
        ],
        "{table}"
    );
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..6],
        [
            "prod-eu",
            "Import",
            "EKS",
            "v1.29.3-eks-adc7111",
            "Running",
            "3"
        ],
        "{table}"
    );
    let wide = hub.kubectl(&["get", "extc", "-o", "wide"]).success().stdout;
    assert!(
        wide.lines().next().unwrap().contains("SERVER") && wide.contains("CLUSTER-ID"),
        "{wide}"
    );
    assert_contains(&wide, "https://prod-eu.example.com:443");
    let selected = hub
        .kubectl(&[
            "get",
            "extc",
            "-l",
            "extcluster.io/cluster-id=4c1b2f3e-0000-4000-8000-000000000001",
            "-o",
            "name",
        ])
        .success()
        .stdout;
    assert_eq!(selected.trim(), "externalcluster.extcluster.io/prod-eu");

    // The schema refuses what the types forbid.
    let bad = CLUSTER
        .replace("mode: Import", "mode: Sideways")
        .replace("prod-eu\n", "bad\n");
    let out = hub.kubectl_stdin(&["create", "-f", "-"], &bad).failure();
    assert_contains(&out.stderr, "spec.mode");
    let http = CLUSTER
        .replace("https://prod-eu", "http://prod-eu")
        .replace("name: prod-eu\n", "name: plain\n");
    let out = hub.kubectl_stdin(&["create", "-f", "-"], &http).failure();
    assert_contains(&out.stderr, "spec.server");

    hub.kubectl(&["delete", "extc", "prod-eu"]).success();
    let after = hub.kubectl(&["get", "extc", "-o", "name"]).success().stdout;
    assert!(after.trim().is_empty(), "{after}");
}

#[test]
fn committed_crd_matches_the_types() {
    let committed = std::fs::read_to_string(crd_path()).unwrap();
    assert!(
        committed == extcluster_core::api::crd_yaml(),
        "manifests/crd.yaml is stale: run `cargo run -p extcluster-core --bin crdgen > manifests/crd.yaml`"
    );
}

#[tokio::test]
async fn external_control_plane_reports_a_provider_version() {
    let ext = ControlPlane::start(
        Options::default()
            .name("eks")
            .version("v1.29.3-eks-adc7111"),
    )
    .await
    .unwrap();
    let client = ext.client().await.unwrap();
    let info = client.apiserver_version().await.unwrap();
    assert_eq!(info.git_version, "v1.29.3-eks-adc7111");
    assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", "29"));
    // The policy reads what the real server reported.
    let v = KubeVersion::parse(&info.git_version).unwrap();
    assert!(VersionRange::default().contains(v));
    // The cluster has an identity: the kube-system namespace's UID.
    let ns: Namespace = Api::all(client).get("kube-system").await.unwrap();
    assert!(ns.metadata.uid.is_some_and(|u| u.len() == 36));
    // kubectl sees the same.
    let out = ext.kubectl(&["version", "-o", "json"]).success().stdout;
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["serverVersion"]["gitVersion"], "v1.29.3-eks-adc7111");
}

#[tokio::test]
async fn controller_manager_fills_service_account_token_secrets() {
    let ext = ControlPlane::start(Options::default().name("tokens").controller_manager())
        .await
        .unwrap();
    let client = ext.client().await.unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "kube-system");
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "probe"}})).unwrap();
    sas.create(&PostParams::default(), &sa).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(client, "kube-system");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "probe-token", "annotations": {"kubernetes.io/service-account.name": "probe"}},
        "type": "kubernetes.io/service-account-token"
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let filled = Wait::up_to(
        Duration::from_secs(30),
        "the token controller to fill the Secret",
    )
    .every(Duration::from_millis(100))
    .until(async || {
        let s = secrets.get("probe-token").await.unwrap();
        s.data
            .is_some_and(|d| d.get("token").is_some_and(|t| !t.0.is_empty()))
            .then_some(())
    })
    .await;
    if let Err(timeout) = filled {
        panic!("{timeout}:\n{}", ext.log_tail("controller-manager.log"));
    }
}
