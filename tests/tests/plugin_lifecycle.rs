//! `kubectl extcluster`, run by the real kubectl through its plugin discovery, against a real hub
//! and real external control planes: register, list, get, describe, refresh, disconnect, and
//! every refusal and error a user meets on the way.

use extcluster_core::ExternalCluster;
use extcluster_core::api::SYSTEM_NAMESPACE;
use extcluster_tests::control_plane::User;
use extcluster_tests::hub::registrations;
use extcluster_tests::plugin::{extcluster, one_line_error, plugin_path};
use extcluster_tests::{ControlPlane, Options, Steps, assert_contains, hub, kubectl};
use extcluster_tests::{b64, path_str as path, table_row};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Secret, ServiceAccount};
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const EKS: &str = "v1.29.3-eks-adc7111";

const PROVISIONED: &str = r#"
apiVersion: extcluster.io/v1alpha1
kind: ExternalCluster
metadata:
  name: lab-01
spec:
  mode: Import
  origin: Provisioned
  clusterID: 9d7e0c4a-0000-4000-8000-00000000lab1
  server: https://lab-01.example.com:6443
  kubernetesVersion: v1.30.2
"#;

// ---------------------------------------------------------------------------------------------
// Running the plugin the way a user does: `kubectl extcluster ...`, found on PATH by kubectl.

// ---------------------------------------------------------------------------------------------
// The external cluster's objects, made through its API like any client would.

async fn start_external(name: &str, version: Option<&str>) -> ControlPlane {
    let mut opts = Options::default().name(name);
    if let Some(v) = version {
        opts = opts.version(v);
    }
    ControlPlane::start(opts).await.expect("external starts")
}

/// A node as an EKS kubelet registers it: role, topology and instance-type labels (the legacy
/// `beta.kubernetes.io` form on names ending in 2), 2 CPUs and 8Gi allocatable.
fn node_json(name: &str, kubelet: &str, roles: &[&str]) -> Value {
    let instance_type = if name.ends_with('2') {
        ("beta.kubernetes.io/instance-type", "m5.xlarge")
    } else {
        ("node.kubernetes.io/instance-type", "m5.large")
    };
    let labels: serde_json::Map<String, Value> = roles
        .iter()
        .map(|r| (format!("node-role.kubernetes.io/{r}"), json!("")))
        .chain([
            ("kubernetes.io/hostname".to_owned(), json!(name)),
            (
                "topology.kubernetes.io/region".to_owned(),
                json!("eu-west-1"),
            ),
            (
                "topology.kubernetes.io/zone".to_owned(),
                json!("eu-west-1a"),
            ),
            (instance_type.0.to_owned(), json!(instance_type.1)),
        ])
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"providerID": format!("aws:///eu-west-1a/i-{name}")},
        "status": {
            "nodeInfo": {
                "kubeletVersion": kubelet, "kubeProxyVersion": kubelet,
                "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "containerd://1.7.11",
                "kernelVersion": "6.1.0", "machineID": "", "operatingSystem": "linux",
                "osImage": "Amazon Linux 2", "systemUUID": ""
            },
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": "2025-01-01T00:00:00Z", "lastTransitionTime": "2025-01-01T00:00:00Z"
            }],
            "allocatable": {"cpu": "2", "memory": "8Gi"}
        }
    })
}

async fn add_nodes(client: &Client, nodes: &[(&str, &str, &[&str])]) {
    let api: Api<Node> = Api::all(client.clone());
    for (name, kubelet, roles) in nodes {
        let body = node_json(name, kubelet, roles);
        let node: Node = serde_json::from_value(body.clone()).unwrap();
        api.create(&PostParams::default(), &node).await.unwrap();
        // Status is the kubelet's to set; set it the way the kubelet does.
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": body["status"]})),
        )
        .await
        .unwrap();
    }
}

async fn add_event(client: &Client, name: &str, type_: &str, reason: &str, message: &str) {
    let event: Event = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
        "reason": reason, "message": message, "type": type_, "count": 1,
        "source": {"component": "kubelet"}
    }))
    .unwrap();
    Api::<Event>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &event)
        .await
        .unwrap();
}

async fn set_kubelet_version(client: &Client, node: &str, version: &str) {
    let api: Api<Node> = Api::all(client.clone());
    api.patch_status(
        node,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"nodeInfo": {"kubeletVersion": version}}})),
    )
    .await
    .unwrap();
}

/// A token for a ServiceAccount bound to a ClusterRole with `rules`, from the TokenRequest API.
async fn service_account_token(client: &Client, name: &str, rules: Value) -> String {
    let ns = "default";
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    sas.create(&PostParams::default(), &sa).await.unwrap();
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name}, "rules": rules
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]
    });
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(client.clone());
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(role).unwrap(),
        )
        .await
        .unwrap();
    let bindings: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(client.clone());
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(binding).unwrap(),
        )
        .await
        .unwrap();
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))
            .unwrap();
    sas.create_token_request(name, &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .expect("a token")
        .token
}

/// Namespaces and ConfigMaps of a cluster, to show that nothing in it changed.
async fn inventory(client: &Client) -> Vec<String> {
    let mut out: Vec<String> = Api::<Namespace>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| format!("ns/{}", n.metadata.name.unwrap()))
        .collect();
    out.extend(
        Api::<ConfigMap>::all(client.clone())
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|c| {
                format!(
                    "cm/{}/{}",
                    c.metadata.namespace.unwrap(),
                    c.metadata.name.unwrap()
                )
            }),
    );
    out.extend(
        Api::<Node>::all(client.clone())
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|n| format!("node/{}", n.metadata.name.unwrap())),
    );
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------------
// What the hub holds.

async fn system_secrets(hub: &ControlPlane) -> Vec<String> {
    let api: Api<Secret> = Api::namespaced(hub.client().await.unwrap(), SYSTEM_NAMESPACE);
    let mut names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .filter(|n| !n.starts_with("default-token-"))
        .collect();
    names.sort();
    names
}

async fn get_cluster(hub: &ControlPlane, name: &str) -> ExternalCluster {
    Api::<ExternalCluster>::all(hub.client().await.unwrap())
        .get(name)
        .await
        .unwrap()
}

async fn kube_system_uid(ext: &ControlPlane) -> String {
    Api::<Namespace>::all(ext.client().await.unwrap())
        .get("kube-system")
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap()
}

fn temp_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn register_then_list_get_and_describe_show_the_real_cluster() {
    let (hub, ext) = tokio::join!(hub::start(), start_external("eks", Some(EKS)));
    let hub = hub.unwrap();
    let client = ext.client().await.unwrap();
    add_nodes(
        &client,
        &[
            ("ip-10-0-0-1", EKS, &["control-plane"]),
            ("ip-10-0-0-2", EKS, &["worker"]),
            ("ip-10-0-0-3", EKS, &[]),
        ],
    )
    .await;
    add_event(
        &client,
        "web.1",
        "Warning",
        "BackOff",
        "Back-off restarting failed container",
    )
    .await;
    add_event(
        &client,
        "web.2",
        "Normal",
        "Pulled",
        "Container image pulled",
    )
    .await;
    let uid = kube_system_uid(&ext).await;

    let admin_key = std::fs::read_to_string(ext.kubeconfig()).unwrap();
    let key_line = admin_key
        .lines()
        .find(|l| l.contains("client-key-data"))
        .unwrap();
    let key_b64 = key_line.split_whitespace().last().unwrap();
    let r = Registration {
        hub: &hub,
        hk: hub.kubeconfig(),
        ext: &ext,
        uid,
        key_b64: key_b64.to_owned(),
    };
    let mut step = Steps::start("--dry-run checks everything and writes nothing");
    dry_run_writes_nothing(&r).await;
    step.next("register");
    register_eks_prod(&r);
    step.next("list shows the real version and node count");
    list_shows_the_real_cluster(&r);
    step.next("get shows the object as the hub stores it");
    get_shows_the_stored_object(&r);
    step.next("the stored kubeconfig is self-contained and works");
    stored_kubeconfig_works_on_its_own(&r).await;
    step.next("describe reads nodes and warnings live");
    describe_reads_nodes_and_warnings_live(&r);
    step.next("describe shows what the nodes use where metrics.k8s.io is served");
    describe_shows_usage_where_metrics_are_served(&r);
    step.next("the same cluster or the same name again is refused");
    the_same_cluster_or_name_again_is_refused(&r).await;
}

/// A registration of the external cluster `eks-prod` on a hub, and what a test checks it by.
struct Registration<'a> {
    hub: &'a ControlPlane,
    hk: PathBuf,
    ext: &'a ControlPlane,
    /// The external cluster's kube-system UID: its cluster ID.
    uid: String,
    /// The admin kubeconfig's client key, which no output may show.
    key_b64: String,
}

async fn dry_run_writes_nothing(r: &Registration<'_>) {
    // --dry-run checks everything, shows the objects, and writes nothing.
    let dry = extcluster(
        &r.hk,
        &[
            "register",
            "eks-prod",
            "--from-kubeconfig",
            path(&r.ext.kubeconfig()),
            "--mode",
            "import",
            "--dry-run",
        ],
    )
    .success();
    assert_contains(&dry.stdout, "kind: ExternalCluster");
    assert_contains(&dry.stdout, &format!("clusterID: {}", r.uid));
    assert_contains(&dry.stdout, "not shown");
    assert!(
        !dry.stdout.contains(r.key_b64.as_str()),
        "the key is never printed"
    );
    assert!(registrations(r.hub).await.is_empty());
    assert!(system_secrets(r.hub).await.is_empty());
}

fn register_eks_prod(r: &Registration<'_>) {
    let out = extcluster(
        &r.hk,
        &[
            "register",
            "eks-prod",
            "--from-kubeconfig",
            path(&r.ext.kubeconfig()),
            "--mode",
            "import",
            "--display-name",
            "Production (EU)",
        ],
    )
    .success();
    assert_contains(&out.stdout, "registered");
    assert!(!out.stdout.contains(r.key_b64.as_str()) && !out.stderr.contains(r.key_b64.as_str()));
}

fn list_shows_the_real_cluster(r: &Registration<'_>) {
    // list: the external's real version and node count, Running.
    let list = extcluster(&r.hk, &["list"]).success().stdout;
    let header: Vec<&str> = list.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME", "MODE", "PROVIDER", "VERSION", "PHASE", "NODES", "AGE"
        ]
    );
    let row = table_row(&list, "eks-prod");
    assert_eq!(
        &row[..6],
        ["eks-prod", "Import", "EKS", EKS, "Running", "3"],
        "{list}"
    );
    assert!(row[6].ends_with('s'), "an age like 3s: {list}");
    let ls = extcluster(&r.hk, &["ls", "-o", "wide"]).success().stdout;
    let wide = table_row(&ls, "eks-prod");
    assert_eq!(
        &wide[7..],
        [
            r.ext.server().as_str(),
            r.uid.as_str(),
            "eu-west-1",
            "m5.large,m5.xlarge"
        ],
        "{ls}"
    );
    let names = extcluster(&r.hk, &["list", "-o", "name"]).success().stdout;
    assert_eq!(names.trim(), "externalcluster.extcluster.io/eks-prod");
}

fn get_shows_the_stored_object(r: &Registration<'_>) {
    // get: the object as the hub stores it.
    let json_out = extcluster(&r.hk, &["get", "eks-prod", "-o", "json"])
        .success()
        .stdout;
    let obj: Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(obj["kind"], "ExternalCluster");
    assert_eq!(obj["spec"]["clusterID"], r.uid.as_str());
    assert_eq!(obj["spec"]["origin"], "Imported");
    assert_eq!(obj["spec"]["mode"], "Import");
    assert_eq!(obj["spec"]["server"], r.ext.server().as_str());
    assert_eq!(obj["spec"]["kubernetesVersion"], EKS);
    assert_eq!(obj["spec"]["displayName"], "Production (EU)");
    assert_eq!(
        obj["metadata"]["labels"]["extcluster.io/cluster-id"],
        r.uid.as_str()
    );
    assert_eq!(obj["status"]["phase"], "Running");
    assert_eq!(obj["status"]["observedVersion"], EKS);
    assert_eq!(obj["status"]["nodeCount"], 3);
    assert!(obj["status"]["lastProbeTime"].is_string());
    assert_eq!(obj["status"]["conditions"][0]["type"], "Ready");
    assert_eq!(obj["status"]["conditions"][0]["status"], "True");
    let yaml_out = extcluster(&r.hk, &["get", "eks-prod", "-o", "yaml"])
        .success()
        .stdout;
    assert_contains(&yaml_out, "kind: ExternalCluster");
    let table = extcluster(&r.hk, &["get", "eks-prod"]).success().stdout;
    assert_eq!(table_row(&table, "eks-prod")[4], "Running");
}

async fn stored_kubeconfig_works_on_its_own(r: &Registration<'_>) {
    // The stored kubeconfig: one self-contained context, labelled with its registration.
    let secret: Secret = Api::namespaced(r.hub.client().await.unwrap(), SYSTEM_NAMESPACE)
        .get("eks-prod-kubeconfig")
        .await
        .unwrap();
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    let labels = secret.metadata.labels.clone().unwrap();
    assert_eq!(labels["extcluster.io/registration"], "eks-prod");
    assert_eq!(labels["extcluster.io/cluster-id"], r.uid);
    assert_eq!(labels["app.kubernetes.io/managed-by"], "kubectl-extcluster");
    let stored = String::from_utf8(secret.data.unwrap()["kubeconfig"].0.clone()).unwrap();
    let kc = kube::config::Kubeconfig::from_yaml(&stored).unwrap();
    assert_eq!(kc.contexts.len(), 1);
    assert_eq!(kc.clusters.len(), 1);
    assert_eq!(kc.auth_infos.len(), 1);
    assert_eq!(kc.current_context.as_deref(), Some("eks"));
    // It works on its own: plain kubectl reaches the external cluster with it.
    let stored_path = r.hub.dir().join("stored.kubeconfig");
    std::fs::write(&stored_path, &stored).unwrap();
    let nodes = kubectl::run(&stored_path, &["get", "nodes", "-o", "name"], None).success();
    assert_eq!(nodes.stdout.lines().count(), 3, "{}", nodes.stdout);
}

fn describe_reads_nodes_and_warnings_live(r: &Registration<'_>) {
    // describe: the record, its capabilities, and the nodes and warnings read live.
    r.hub
        .kubectl(&[
            "annotate",
            "extc",
            "eks-prod",
            "capabilities.extcluster.io/taintSupport=true",
        ])
        .success();
    let text = extcluster(&r.hk, &["describe", "eks-prod"])
        .success()
        .stdout;
    for want in [
        "Name:         eks-prod",
        "Display Name: Production (EU)",
        r.uid.as_str(),
        "Kubeconfig Secret:   extcluster-system/eks-prod-kubeconfig (key kubeconfig)",
        "Nodes (live, 3):",
        "Warning Events (live",
    ] {
        assert_contains(&text, want);
    }
    let node_a = table_row(&text, "ip-10-0-0-1");
    assert_eq!(
        node_a,
        [
            "ip-10-0-0-1",
            "control-plane",
            EKS,
            "True",
            "m5.large",
            "eu-west-1a",
            "2",
            "8Gi"
        ],
        "{text}"
    );
    assert_eq!(table_row(&text, "ip-10-0-0-2")[4], "m5.xlarge", "{text}");
    let node_c = table_row(&text, "ip-10-0-0-3");
    assert_eq!(node_c[1], "<none>", "{text}");
    for want in [
        "Regions:             eu-west-1\n",
        "Zones:               eu-west-1a\n",
        "Instance Types:      m5.large, m5.xlarge\n",
        "Usage: not shown: the cluster does not serve metrics.k8s.io (metrics-server provides it)",
    ] {
        assert_contains(&text, want);
    }
    assert_contains(&text, "taintSupport:");
    let warning = text
        .lines()
        .find(|l| l.contains("BackOff"))
        .unwrap_or_else(|| panic!("no warning event:\n{text}"));
    assert!(
        warning.contains("default/pod/web") && warning.contains("Back-off restarting"),
        "{warning}"
    );
    assert!(!text.contains("Pulled"), "only warnings:\n{text}");
}

/// metrics.k8s.io served by the external API server itself (a CustomResourceDefinition of
/// metrics-server's NodeMetrics shape, in its group and version), with the usage metrics-server
/// reports, in its units.
const NODE_METRICS: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: nodes.metrics.k8s.io
  annotations:
    api-approved.kubernetes.io: "unapproved, metrics-server's NodeMetrics for a test"
spec:
  group: metrics.k8s.io
  scope: Cluster
  names: {plural: nodes, singular: node, kind: NodeMetrics, listKind: NodeMetricsList}
  versions:
  - name: v1beta1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

fn describe_shows_usage_where_metrics_are_served(r: &Registration<'_>) {
    r.ext
        .kubectl_stdin(&["apply", "-f", "-"], NODE_METRICS)
        .success();
    r.ext
        .kubectl(&[
            "wait",
            "--for=condition=Established",
            "crd/nodes.metrics.k8s.io",
            "--timeout=60s",
        ])
        .success();
    let usage = |name: &str, cpu: &str, memory: &str| {
        format!(
            "apiVersion: metrics.k8s.io/v1beta1\nkind: NodeMetrics\nmetadata: {{name: {name}}}\ntimestamp: \"2025-01-01T00:00:00Z\"\nwindow: 20s\nusage: {{cpu: {cpu}, memory: {memory}}}\n"
        )
    };
    for (name, cpu, memory) in [
        ("ip-10-0-0-1", "500000000n", "2097152Ki"),
        ("ip-10-0-0-2", "\"1\"", "3Gi"),
    ] {
        r.ext
            .kubectl_stdin(&["apply", "-f", "-"], &usage(name, cpu, memory))
            .success();
    }
    let text = extcluster(&r.hk, &["describe", "eks-prod"])
        .success()
        .stdout;
    assert_contains(&text, "CPU USED");
    assert_eq!(
        &table_row(&text, "ip-10-0-0-1")[8..],
        ["500m", "(25%)", "2Gi", "(25%)"],
        "{text}"
    );
    assert_eq!(
        &table_row(&text, "ip-10-0-0-3")[8..],
        ["<unknown>", "<unknown>"],
        "no metrics for that node: {text}"
    );
    assert_contains(
        &text,
        "Usage: 1500m (25%) of 6 CPU, 5Gi (21%) of 24Gi memory",
    );
}

async fn the_same_cluster_or_name_again_is_refused(r: &Registration<'_>) {
    // The same cluster again under another name: refused, naming the existing registration,
    // and nothing is left behind.
    let err = one_line_error(
        extcluster(
            &r.hk,
            &[
                "connect",
                "eks-again",
                "--from-kubeconfig",
                path(&r.ext.kubeconfig()),
            ],
        ),
        &["\"eks-prod\"", "re-import", "disconnect eks-prod"],
    );
    assert!(!err.contains(r.key_b64.as_str()));
    assert_eq!(registrations(r.hub).await, ["eks-prod"]);
    assert_eq!(system_secrets(r.hub).await, ["eks-prod-kubeconfig"]);

    // The same name again: refused before anything is written.
    one_line_error(
        extcluster(
            &r.hk,
            &[
                "register",
                "eks-prod",
                "--from-kubeconfig",
                path(&r.ext.kubeconfig()),
            ],
        ),
        &["eks-prod"],
    );
    assert_eq!(registrations(r.hub).await, ["eks-prod"]);
}

#[tokio::test]
async fn refresh_tracks_unreachable_running_and_upgrades() {
    let (hub, ext) = tokio::join!(hub::start(), start_external("eks", Some(EKS)));
    let (hub, mut ext) = (hub.unwrap(), ext);
    let hk = hub.kubeconfig();
    let client = ext.client().await.unwrap();
    add_nodes(
        &client,
        &[
            ("node-1", "v1.29.3-eks-adc7111", &["control-plane"]),
            ("node-2", "v1.29.3-eks-adc7111", &[]),
        ],
    )
    .await;
    extcluster(
        &hk,
        &[
            "register",
            "prod",
            "--from-kubeconfig",
            path(&ext.kubeconfig()),
        ],
    )
    .success();
    let first = get_cluster(&hub, "prod").await;
    assert_eq!(
        first.spec.mode,
        extcluster_core::Mode::Connect,
        "the default"
    );

    // A node upgrade in progress: mixed kubelet minors.
    set_kubelet_version(&client, "node-2", "v1.30.1-eks-1").await;
    let out = extcluster(&hk, &["refresh", "prod"]).success().stdout;
    assert_eq!(table_row(&out, "prod")[1], "Reconciling", "{out}");
    let c = get_cluster(&hub, "prod").await;
    let status = c.status.unwrap();
    assert_eq!(status.phase, Some(extcluster_core::Phase::Reconciling));
    assert!(
        status.message.unwrap().contains("1.29, 1.30"),
        "says which versions"
    );
    set_kubelet_version(&client, "node-2", "v1.29.3-eks-adc7111").await;

    // The external control plane goes away: refresh succeeds, the cluster is Unreachable.
    ext.stop_apiserver();
    let refreshed = extcluster(&hk, &["refresh", "--all"]).failure();
    assert_contains(
        &refreshed.stderr,
        "1 of 1 refreshed clusters are not healthy: prod (Unreachable)",
    );
    let out = refreshed.stdout;
    let row = table_row(&out, "prod");
    assert_eq!(row[1], "Unreachable", "{out}");
    let c = get_cluster(&hub, "prod").await;
    let status = c.status.unwrap();
    assert_eq!(status.phase, Some(extcluster_core::Phase::Unreachable));
    let message = status.message.unwrap();
    assert!(
        message.contains("refused") && message.contains(&ext.server()),
        "{message}"
    );
    assert_eq!(status.node_count, Some(2), "the last known count is kept");
    let ready = &status.conditions[0];
    assert_eq!(
        (ready.type_.as_str(), ready.status.as_str()),
        ("Ready", "False")
    );
    let list = extcluster(&hk, &["list"]).success().stdout;
    assert_eq!(table_row(&list, "prod")[4], "Unreachable", "{list}");
    // describe still works, from the hub's record, and says why the live part is missing.
    let text = extcluster(&hk, &["describe", "prod"]).success().stdout;
    assert!(
        text.contains("Live details: unavailable") && text.contains("refused"),
        "{text}"
    );
    assert_contains(&text, "Phase:               Unreachable");

    // Back again: Running, and the condition flips back.
    ext.start_apiserver().await.unwrap();
    let out = extcluster(&hk, &["refresh", "prod"]).success().stdout;
    assert_eq!(table_row(&out, "prod")[1], "Running", "{out}");
    let c = get_cluster(&hub, "prod").await;
    let status = c.status.unwrap();
    assert_eq!(status.phase, Some(extcluster_core::Phase::Running));
    assert_eq!(status.message, None, "the old error is cleared");
    assert_eq!(status.conditions[0].status, "True");
    assert_eq!(status.observed_version.as_deref(), Some(EKS));

    // Unknown names are an error; nothing else changes.
    one_line_error(
        extcluster(&hk, &["refresh", "nope"]),
        &["\"nope\"", "kubectl extcluster list"],
    );
}

#[tokio::test]
async fn disconnect_removes_the_registration_and_leaves_the_cluster_untouched() {
    let (hub, ext) = tokio::join!(hub::start(), start_external("onprem", None));
    let (hub, mut ext) = (hub.unwrap(), ext);
    let hk = hub.kubeconfig();
    let client = ext.client().await.unwrap();
    add_nodes(&client, &[("worker-1", "v1.20.2", &["worker"])]).await;
    ext.kubectl(&["create", "namespace", "team-a"]).success();
    ext.kubectl(&[
        "create",
        "configmap",
        "settings",
        "-n",
        "team-a",
        "--from-literal=a=b",
    ])
    .success();
    let before = inventory(&client).await;
    assert!(before.contains(&"cm/team-a/settings".to_owned()));

    extcluster(
        &hk,
        &[
            "import",
            "onprem",
            "--from-kubeconfig",
            path(&ext.kubeconfig()),
        ],
    )
    .success();
    assert_eq!(
        get_cluster(&hub, "onprem").await.spec.mode,
        extcluster_core::Mode::Import
    );

    // delete refuses an imported registration and points at disconnect.
    one_line_error(
        extcluster(&hk, &["delete", "onprem"]),
        &[
            "imported",
            "kubectl extcluster disconnect onprem",
            "untouched",
        ],
    );
    // A Provisioned registration is the hub's own: delete removes it.
    hub.kubectl_stdin(&["create", "-f", "-"], PROVISIONED)
        .success();
    let out = extcluster(&hk, &["delete", "lab-01"]).success();
    assert_contains(&out.stdout, "lab-01 deleted");
    assert_eq!(registrations(&hub).await, ["onprem"]);
    // One whose cluster still has nodes: they are listed, and it takes --yes.
    let kubeconfig = std::fs::read_to_string(ext.kubeconfig()).unwrap();
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "lab-02-kubeconfig", "namespace": SYSTEM_NAMESPACE},
        "stringData": {"kubeconfig": kubeconfig}
    }))
    .unwrap();
    Api::<Secret>::namespaced(hub.client().await.unwrap(), SYSTEM_NAMESPACE)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let attached = PROVISIONED.replace("lab-01", "lab-02")
        + "  kubeconfigSecretRef: {namespace: extcluster-system, name: lab-02-kubeconfig, key: kubeconfig}\n";
    hub.kubectl_stdin(&["create", "-f", "-"], &attached)
        .success();
    let out = extcluster(&hk, &["delete", "lab-02"]);
    assert_contains(&out.stdout, "lab-02 still has 1 node(s):");
    assert_contains(&out.stdout, "worker-1");
    one_line_error(out, &["keep running", "--yes"]);
    assert_eq!(registrations(&hub).await, ["lab-02", "onprem"]);
    let out = extcluster(&hk, &["delete", "lab-02", "--yes"]).success();
    assert_contains(&out.stdout, "lab-02 deleted");
    assert_eq!(registrations(&hub).await, ["onprem"]);

    // Without a terminal and without --yes, disconnect asks for --yes and changes nothing.
    let out = extcluster(&hk, &["disconnect", "onprem"]);
    assert_contains(&out.stdout, "left untouched");
    one_line_error(out, &["--yes"]);
    assert_eq!(registrations(&hub).await, ["onprem"]);
    assert_eq!(system_secrets(&hub).await, ["onprem-kubeconfig"]);

    // A stray Secret labelled with the registration goes too.
    let stray: Secret = serde_json::from_value(json!({
        "metadata": {"name": "onprem-old-kubeconfig", "namespace": SYSTEM_NAMESPACE,
                     "labels": {"extcluster.io/registration": "onprem"}},
        "stringData": {"kubeconfig": "x"}
    }))
    .unwrap();
    Api::<Secret>::namespaced(hub.client().await.unwrap(), SYSTEM_NAMESPACE)
        .create(&PostParams::default(), &stray)
        .await
        .unwrap();

    // The external cluster is down: disconnect never needs it.
    ext.stop_apiserver();
    let out = extcluster(&hk, &["disconnect", "onprem", "--yes"]).success();
    assert_contains(&out.stdout, "left untouched");
    assert_contains(&out.stdout, "disconnected");
    assert!(registrations(&hub).await.is_empty());
    assert!(system_secrets(&hub).await.is_empty());

    // Idempotent.
    let again = extcluster(&hk, &["disconnect", "onprem", "--yes"]).success();
    assert_contains(&again.stdout, "not registered");
    let list = extcluster(&hk, &["list"]).success();
    assert!(list.stdout.is_empty(), "{}", list.stdout);

    // The cluster has every namespace and object it had.
    ext.start_apiserver().await.unwrap();
    let client = ext.client().await.unwrap();
    assert_eq!(inventory(&client).await, before);
}

#[tokio::test]
async fn versions_outside_the_accepted_range_are_refused_and_leave_nothing() {
    let (hub, old, new) = tokio::join!(
        hub::start(),
        start_external("old", Some("v1.18.20")),
        start_external("new", Some("v1.35.0")),
    );
    let hub = hub.unwrap();
    let hk = hub.kubeconfig();
    for (ext, version) in [(&old, "v1.18.20"), (&new, "v1.35.0")] {
        let name = ext.name().to_owned();
        one_line_error(
            extcluster(
                &hk,
                &[
                    "register",
                    &name,
                    "--from-kubeconfig",
                    path(&ext.kubeconfig()),
                ],
            ),
            &[
                &format!("\"{name}\""),
                version,
                "outside the accepted range",
                ">=1.19.0, <1.35.0",
            ],
        );
        // --dry-run gives the same verdict.
        one_line_error(
            extcluster(
                &hk,
                &[
                    "register",
                    &name,
                    "--from-kubeconfig",
                    path(&ext.kubeconfig()),
                    "--dry-run",
                ],
            ),
            &["outside the accepted range"],
        );
    }
    // A hub whose webhook accepts more: the local check follows --accepted-versions.
    let out = extcluster(
        &hk,
        &[
            "register",
            "new",
            "--from-kubeconfig",
            path(&new.kubeconfig()),
            "--accepted-versions",
            ">=1.19.0, <1.36.0",
            "--dry-run",
        ],
    )
    .success();
    assert_contains(&out.stdout, "kubernetesVersion: v1.35.0");
    assert!(registrations(&hub).await.is_empty());
    assert!(system_secrets(&hub).await.is_empty());
}

#[tokio::test]
async fn credentials_exec_plugins_are_refused_and_rights_are_checked() {
    let (hub, ext) = tokio::join!(hub::start(), start_external("gke", None));
    let hub = hub.unwrap();
    let hk = hub.kubeconfig();
    let dir = tempfile::tempdir().unwrap();

    // An exec credential plugin (here one that would even work): refused, with the command that
    // makes the kubeconfig usable.
    let exec_kc = temp_file(dir.path(), "exec.kubeconfig");
    ext.write_kubeconfig(
        &exec_kc,
        &User::Exec {
            command: "/usr/bin/gke-gcloud-auth-plugin".into(),
            args: vec![],
        },
    )
    .unwrap();
    let hint = format!(
        "kubectl extcluster convert-kubeconfig --from-kubeconfig {} --from-context gke -o",
        exec_kc.display()
    );
    one_line_error(
        extcluster(
            &hk,
            &["register", "gke", "--from-kubeconfig", path(&exec_kc)],
        ),
        &["exec plugin", "\"gke\"", &hint],
    );

    // A ServiceAccount token that can only read: enough for connect, not for import, and the
    // missing rights are listed.
    let client = ext.client().await.unwrap();
    let token = service_account_token(
        &client,
        "reader",
        json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]),
    )
    .await;
    let sa_kc = temp_file(dir.path(), "sa.kubeconfig");
    ext.write_kubeconfig(&sa_kc, &User::Token(token.clone()))
        .unwrap();
    let err = one_line_error(
        extcluster(
            &hk,
            &[
                "register",
                "gke",
                "--from-kubeconfig",
                path(&sa_kc),
                "--mode",
                "import",
            ],
        ),
        &[
            "lack rights that Import mode needs",
            "create */*",
            "update */*",
            "patch */*",
            "delete */*",
            "--mode connect",
        ],
    );
    assert!(!err.contains("get */*"), "get is granted: {err}");
    assert!(!err.contains(&token), "the token is never printed");
    assert!(registrations(&hub).await.is_empty());

    // A token that cannot even read nodes: connect is refused too.
    let nobody = service_account_token(&client, "nobody", json!([])).await;
    let nobody_kc = temp_file(dir.path(), "nobody.kubeconfig");
    ext.write_kubeconfig(&nobody_kc, &User::Token(nobody))
        .unwrap();
    one_line_error(
        extcluster(
            &hk,
            &["connect", "gke", "--from-kubeconfig", path(&nobody_kc)],
        ),
        &["lack rights that Connect mode needs", "get */*", "list */*"],
    );

    let out = extcluster(
        &hk,
        &[
            "connect",
            "gke",
            "--from-kubeconfig",
            path(&sa_kc),
            "--provider",
            "gke",
        ],
    )
    .success();
    assert!(!out.stdout.contains(&token) && !out.stderr.contains(&token));
    let list = extcluster(&hk, &["list"]).success().stdout;
    let row = table_row(&list, "gke");
    assert_eq!(&row[1..3], ["Connect", "GKE"], "{list}");
    assert_eq!(row[4], "Running", "{list}");
    // The token itself is what the hub stores.
    let secret: Secret = Api::namespaced(hub.client().await.unwrap(), SYSTEM_NAMESPACE)
        .get("gke-kubeconfig")
        .await
        .unwrap();
    let stored = String::from_utf8(secret.data.unwrap()["kubeconfig"].0.clone()).unwrap();
    assert!(stored.contains(&token));
}

#[tokio::test]
async fn external_kubeconfig_errors_are_one_clear_line() {
    let (hub, ext) = tokio::join!(hub::start(), start_external("edge", None));
    let hub = hub.unwrap();
    let hk = hub.kubeconfig();
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(ext.kubeconfig()).unwrap();

    // Missing file.
    let missing = dir.path().join("missing.kubeconfig");
    one_line_error(
        extcluster(
            &hk,
            &["register", "edge", "--from-kubeconfig", path(&missing)],
        ),
        &[path(&missing), "no such file", "--from-kubeconfig"],
    );

    // Unknown context: the available ones are listed.
    one_line_error(
        extcluster(
            &hk,
            &[
                "register",
                "edge",
                "--from-kubeconfig",
                path(&ext.kubeconfig()),
                "--from-context",
                "prod",
            ],
        ),
        &["context \"prod\"", "available contexts: edge"],
    );

    // Unreachable server: nothing listens on that port.
    let port = extcluster_tests::free_port().unwrap();
    let down = dir.path().join("down.kubeconfig");
    let down_server = format!("https://127.0.0.1:{port}");
    std::fs::write(&down, good.replace(&ext.server(), &down_server)).unwrap();
    let started = std::time::Instant::now();
    one_line_error(
        extcluster(&hk, &["register", "edge", "--from-kubeconfig", path(&down)]),
        &["cannot reach", &down_server, "refused"],
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "a refused connection must not hang"
    );

    // Wrong CA: the server's certificate is not trusted.
    let wrong_ca = dir.path().join("wrong-ca.kubeconfig");
    std::fs::write(
        &wrong_ca,
        good.replace(&b64(ext.ca_pem()), &b64(hub.ca_pem())),
    )
    .unwrap();
    one_line_error(
        extcluster(
            &hk,
            &["register", "edge", "--from-kubeconfig", path(&wrong_ca)],
        ),
        &["certificate is not trusted", &ext.server()],
    );

    // Not a kubeconfig at all; its content is never echoed.
    let garbage = dir.path().join("garbage");
    std::fs::write(
        &garbage,
        "users: [ {name: x, user: {token: hunter2-secret\n",
    )
    .unwrap();
    let err = one_line_error(
        extcluster(
            &hk,
            &["register", "edge", "--from-kubeconfig", path(&garbage)],
        ),
        &["not a valid kubeconfig"],
    );
    assert!(!err.contains("hunter2"), "{err}");

    assert!(registrations(&hub).await.is_empty());
    assert!(system_secrets(&hub).await.is_empty());
}

#[tokio::test]
async fn hub_errors_and_a_failed_registration_is_rolled_back() {
    let (hub, ext) = tokio::join!(hub::start(), start_external("lab", None));
    let hub = hub.unwrap();
    let hk = hub.kubeconfig();
    let dir = tempfile::tempdir().unwrap();

    // A hub without the CRD (the external cluster itself will do): how to install it.
    for args in [
        vec![
            "register",
            "lab",
            "--from-kubeconfig",
            path(&ext.kubeconfig()),
        ],
        vec!["list"],
        vec!["get", "lab"],
    ] {
        one_line_error(
            extcluster(&ext.kubeconfig(), &args),
            &[
                "no ExternalCluster API",
                "kubectl apply -f manifests/crd.yaml",
                "kubectl apply -k manifests/",
            ],
        );
    }

    // An unknown hub context.
    let mut cmd = Command::new("kubectl");
    cmd.args([
        "extcluster",
        "list",
        "--kubeconfig",
        path(&hk),
        "--context",
        "elsewhere",
    ])
    .env("PATH", plugin_path());
    one_line_error(
        kubectl::run_with(&mut cmd, None),
        &["\"elsewhere\"", "available contexts: hub"],
    );
    // KUBECONFIG is honoured like kubectl does.
    let mut cmd = Command::new("kubectl");
    cmd.args(["extcluster", "list"])
        .env("PATH", plugin_path())
        .env("KUBECONFIG", &hk);
    let out = kubectl::run_with(&mut cmd, None).success();
    assert_contains(&out.stderr, "No external clusters");

    // Unknown registrations.
    for cmd in ["get", "describe", "delete"] {
        one_line_error(
            extcluster(&hk, &[cmd, "ghost"]),
            &["\"ghost\"", "kubectl extcluster list"],
        );
    }

    // A hub user who may write ExternalClusters and Secrets but not their status: the
    // registration fails after the Secret and the ExternalCluster were written, and both are
    // removed again.
    let hub_client = hub.client().await.unwrap();
    let token = service_account_token(
        &hub_client,
        "half-rights",
        json!([
            {"apiGroups": ["extcluster.io"], "resources": ["externalclusters"],
             "verbs": ["get", "list", "create", "patch", "delete"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create", "delete"]}
        ]),
    )
    .await;
    let limited = dir.path().join("limited-hub.kubeconfig");
    hub.write_kubeconfig(&limited, &User::Token(token)).unwrap();
    one_line_error(
        extcluster(
            &limited,
            &[
                "register",
                "lab",
                "--from-kubeconfig",
                path(&ext.kubeconfig()),
            ],
        ),
        &["status", "nothing was left on the hub"],
    );
    assert!(registrations(&hub).await.is_empty());
    assert!(system_secrets(&hub).await.is_empty());

    // The same registration with full rights works.
    extcluster(
        &hk,
        &[
            "register",
            "lab",
            "--from-kubeconfig",
            path(&ext.kubeconfig()),
        ],
    )
    .success();
    assert_eq!(registrations(&hub).await, ["lab"]);
}

#[test]
fn help_version_and_completion_through_kubectl() {
    let run = |args: &[&str]| {
        let mut cmd = Command::new("kubectl");
        cmd.arg("extcluster").args(args).env("PATH", plugin_path());
        kubectl::run_with(&mut cmd, None)
    };
    let help = run(&["--help"]).success().stdout;
    for cmd in [
        "register",
        "connect",
        "import",
        "list",
        "get",
        "describe",
        "refresh",
        "disconnect",
        "delete",
        "version",
        "completion",
    ] {
        assert_contains(&help, cmd);
        let sub = run(&[cmd, "--help"]).success().stdout;
        assert!(
            sub.contains("Examples:") && sub.contains("kubectl extcluster "),
            "{cmd} --help has no example:\n{sub}"
        );
    }
    let version = run(&["version"]).success().stdout;
    assert!(
        version.starts_with(&format!("kubectl-extcluster {}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let script = run(&["completion", shell]).success().stdout;
        assert!(
            script.contains("kubectl-extcluster") && script.contains("disconnect"),
            "{shell}"
        );
    }
    // Command-line mistakes are one line too, pointing at the right --help.
    one_line_error(run(&["completion", "tcsh"]), &["'tcsh'", "bash"]);
    let out = run(&["register", "prod"]);
    assert_eq!(out.code, 2);
    one_line_error(
        out,
        &[
            "--from-kubeconfig",
            "see `kubectl extcluster register --help`",
        ],
    );
}

#[test]
fn a_closed_pipe_ends_the_plugin_quietly_as_kubectl() {
    // `kubectl extcluster capabilities | head -0`: the reader is gone before the first write
    // (closed before the process starts, so no write can slip into the pipe's buffer first).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = Command::new(extcluster_tests::bins::workspace_bin("kubectl-extcluster").unwrap())
        .arg("capabilities")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(out.status.code(), Some(141));
}

/// An Imported registration and its kubeconfig Secret, as GitOps applies them.
fn apply_registration(hub: &ControlPlane, name: &str, ext: &ControlPlane, finalizer: Option<&str>) {
    let kubeconfig = std::fs::read_to_string(ext.kubeconfig()).unwrap();
    let mut cluster = json!({
        "apiVersion": "extcluster.io/v1alpha1", "kind": "ExternalCluster",
        "metadata": {"name": name},
        "spec": {"mode": "Import", "clusterID": format!("id-{}", name.len()), "server": ext.server(),
                 "kubernetesVersion": "v1.30.0"}
    });
    if let Some(f) = finalizer {
        cluster["metadata"]["finalizers"] = json!([f]);
    }
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": format!("{name}-kubeconfig"), "namespace": SYSTEM_NAMESPACE},
        "stringData": {"kubeconfig": kubeconfig}
    });
    let list = json!({"apiVersion": "v1", "kind": "List", "items": [secret, cluster]});
    hub.kubectl_stdin(&["apply", "-f", "-"], &list.to_string())
        .success();
}

#[tokio::test]
async fn disconnect_as_an_operator_finishes_for_any_name_and_names_a_foreign_finalizer() {
    let (hub, ext) = tokio::join!(hub::start(), start_external("ops", None));
    let hub = hub.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let op = hub::operator_kubeconfig(&hub, dir.path());

    // Registered and disconnected by an operator, who may not list Secrets.
    extcluster(
        &op,
        &[
            "import",
            "ops",
            "--from-kubeconfig",
            path(&ext.kubeconfig()),
        ],
    )
    .success();
    let out = extcluster(&op, &["disconnect", "ops", "--yes"]).success();
    assert_contains(
        &out.stdout,
        "Secret extcluster-system/ops-kubeconfig deleted",
    );
    assert!(registrations(&hub).await.is_empty());
    assert!(system_secrets(&hub).await.is_empty());

    // A name of 100 characters (valid for the registration, no label value).
    let long = format!("gitops-{}", "a".repeat(93));
    apply_registration(&hub, &long, &ext, None);
    extcluster(&op, &["disconnect", &long, "--yes"]).success();
    assert!(registrations(&hub).await.is_empty());
    assert!(system_secrets(&hub).await.is_empty());

    // A finalizer someone else put there: reported as what holds it, not as disconnected.
    apply_registration(&hub, "held", &ext, Some("example.com/hold"));
    let err = one_line_error(
        extcluster(&op, &["disconnect", "held", "--yes"]),
        &["Terminating", "example.com/hold", "held-kubeconfig deleted"],
    );
    assert!(!err.contains("disconnected;"), "{err}");
    assert!(system_secrets(&hub).await.is_empty());
    hub.kubectl(&[
        "patch",
        "extc",
        "held",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ])
    .success();
    let again = extcluster(&op, &["disconnect", "held", "--yes"]).success();
    assert_contains(&again.stdout, "not registered");
    assert!(registrations(&hub).await.is_empty());
}

#[tokio::test]
async fn describe_shows_how_k3s_started_each_node_with_secrets_masked() {
    let (hub, ext) = tokio::join!(hub::start(), start_external("edge", None));
    let hub = hub.unwrap();
    // A K3s server node as K3s records how it started; an older or modified K3s that did not
    // mask the token, the datastore password or the AWS key.
    let node = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "edge-1",
            "labels": {"node-role.kubernetes.io/control-plane": "true", "node.kubernetes.io/instance-type": "k3s"},
            "annotations": {
                "k3s.io/node-args": r#"["server","--token","K10abc::server:s3cret-token","--disable","traefik","--datastore-endpoint=postgres://k3s:db-pa55@db/k3s"]"#,
                "k3s.io/node-env": r#"{"K3S_NODE_NAME":"edge-1","K3S_TOKEN":"K10abc::server:s3cret-token","AWS_SECRET_ACCESS_KEY":"wJalrXUtnFEMI"}"#,
                "k3s.io/node-config-hash": "OJ3SK2E4TAJZ6Z5UD2PB4XQX"
            }
        }
    });
    ext.kubectl_stdin(&["create", "-f", "-"], &node.to_string())
        .success();
    let hk = hub.kubeconfig();
    extcluster(
        &hk,
        &[
            "connect",
            "edge",
            "--from-kubeconfig",
            path(&ext.kubeconfig()),
        ],
    )
    .success();
    let out = extcluster(&hk, &["describe", "edge"]).success();
    for want in [
        "Node Configuration (live, as k3s records it; secrets shown as ********):",
        "  edge-1 (config hash OJ3SK2E4TAJZ6Z5UD2PB4XQX):",
        "    Arguments:    server --token ******** --disable traefik --datastore-endpoint=********",
        "    Environment:  AWS_SECRET_ACCESS_KEY=******** K3S_NODE_NAME=edge-1 K3S_TOKEN=********",
    ] {
        assert_contains(&out.stdout, want);
    }
    for secret in ["s3cret-token", "db-pa55", "wJalrXUtnFEMI"] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "{secret} shown:\n{}",
            out.stdout
        );
    }
}
