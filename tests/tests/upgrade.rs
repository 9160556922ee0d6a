//! `kubectl extcluster upgrade` on real control planes: a K3s cluster's nodes as K3s registers
//! them (its role labels, its kubelet versions), and system-upgrade-controller's Plan API served
//! by the external API server from a CustomResourceDefinition written from the controller's
//! published `upgrade.cattle.io/v1` Plan type. No node is upgraded here: no controller carries the
//! Plans out, so progress is set on the Plan and the nodes the way the controller sets it.

use extcluster_tests::plugin::{extcluster, one_line_error};
use extcluster_tests::{ControlPlane, Output, Steps, assert_contains, hub, path_str, table_row};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::path::PathBuf;

/// system-upgrade-controller's Plan API: namespaced, v1, with a status subresource.
const PLAN_API: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: plans.upgrade.cattle.io}
spec:
  group: upgrade.cattle.io
  scope: Namespaced
  names: {plural: plans, singular: plan, kind: Plan, listKind: PlanList}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [concurrency, serviceAccountName, upgrade]
            properties:
              concurrency: {type: integer, format: int64}
              cordon: {type: boolean}
              drain: {type: object, x-kubernetes-preserve-unknown-fields: true}
              nodeSelector: {type: object, x-kubernetes-preserve-unknown-fields: true}
              prepare: {type: object, x-kubernetes-preserve-unknown-fields: true}
              serviceAccountName: {type: string}
              upgrade: {type: object, x-kubernetes-preserve-unknown-fields: true}
              version: {type: string}
              channel: {type: string}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: v1
kind: Namespace
metadata: {name: system-upgrade}
"#;

const FROM: &str = "v1.20.2+k3s1";
const TO: &str = "v1.21.14+k3s1";

/// A node as K3s registers it: servers carry the control-plane and master roles as `true`.
async fn k3s_node(ext: &ControlPlane, name: &str, server: bool) {
    let api: Api<Node> = Api::all(ext.client().await.unwrap());
    let mut labels =
        json!({"kubernetes.io/hostname": name, "node.kubernetes.io/instance-type": "k3s"});
    if server {
        labels["node-role.kubernetes.io/control-plane"] = json!("true");
        labels["node-role.kubernetes.io/master"] = json!("true");
    }
    let node: Node =
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
    api.create(&PostParams::default(), &node).await.unwrap();
    set_kubelet(&api, name, FROM).await;
}

async fn set_kubelet(api: &Api<Node>, name: &str, version: &str) {
    let status = json!({"status": {"nodeInfo": {
        "kubeletVersion": version, "kubeProxyVersion": version, "architecture": "amd64", "bootID": "",
        "containerRuntimeVersion": "containerd://1.7.11-k3s2", "kernelVersion": "6.1.0", "machineID": "",
        "operatingSystem": "linux", "osImage": "K3s", "systemUUID": ""
    }}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
}

fn plan(ext: &ControlPlane, name: &str) -> Value {
    let out = ext
        .kubectl(&["get", "plan", "-n", "system-upgrade", name, "-o", "json"])
        .success();
    serde_json::from_str(&out.stdout).unwrap()
}

/// The K3s cluster `edge`, connected by an operator.
struct Edge {
    ext: ControlPlane,
    /// The operator's hub kubeconfig.
    op: PathBuf,
    _hub: ControlPlane,
    _dir: tempfile::TempDir,
}

impl Edge {
    /// `kubectl extcluster upgrade edge` with `extra` arguments, as the operator.
    fn upgrade(&self, extra: &[&str]) -> Output {
        let mut args = vec!["upgrade", "edge"];
        args.extend(extra);
        extcluster(&self.op, &args)
    }
}

#[tokio::test]
async fn servers_then_agents_through_plans_and_every_refusal_first() {
    let (hub, ext) = hub::and_external("edge").await.unwrap();
    k3s_node(&ext, "server-1", true).await;
    k3s_node(&ext, "agent-1", false).await;
    k3s_node(&ext, "agent-2", false).await;
    let dir = tempfile::tempdir().unwrap();
    let e = Edge {
        op: hub::operator_kubeconfig(&hub, dir.path()),
        ext,
        _hub: hub,
        _dir: dir,
    };
    let ek = e.ext.kubeconfig();
    let connect = ["connect", "edge", "--from-kubeconfig", path_str(&ek)];
    extcluster(&e.op, &[&connect[..], &["--provider", "K3s"]].concat()).success();

    let mut step = Steps::start("refused while read-only");
    one_line_error(
        e.upgrade(&["--to", TO]),
        &["read-only", "set-mode edge import"],
    );
    extcluster(&e.op, &["set-mode", "edge", "import"]).success();
    step.check("refused for each version that is not a next step", async {
        refused_for_versions_that_are_not_a_next_step(&e)
    })
    .await;
    step.check(
        "refused without system-upgrade-controller, saying how to install it",
        async {
            let wants = [
                "system-upgrade-controller",
                "crd.yaml",
                "nothing was changed",
            ];
            one_line_error(e.upgrade(&["--to", TO]), &wants);
        },
    )
    .await;
    step.next("with the Plan API: a dry run writes nothing, then the two Plans");
    dry_runs_write_nothing_then_two_plans(&e);
    step.check(
        "servers first, one at a time, cordoned; then agents, drained",
        async { the_plans_take_servers_then_agents(&e.ext) },
    )
    .await;
    step.next("--status follows each node as the controller moves it");
    status_follows_each_node(&e).await;
    step.check("describe shows each node's upgrade", async {
        describe_shows_the_upgrade(&e)
    })
    .await;
    step.finish();
}

fn refused_for_versions_that_are_not_a_next_step(e: &Edge) {
    for (to, says) in [
        ("v1.21.14", "such as v1.30.4+k3s1"),
        ("v1.19.16+k3s1", "not downgraded"),
        ("v1.22.17+k3s1", "one minor at a time"),
    ] {
        one_line_error(e.upgrade(&["--to", to]), &[says, "nothing was changed"]);
    }
    one_line_error(
        e.upgrade(&["--to", TO, "--accepted-versions", ">=1.19.0, <1.21.0"]),
        &["outside the versions the hub accepts"],
    );
}

fn dry_runs_write_nothing_then_two_plans(e: &Edge) {
    e.ext
        .kubectl_stdin(&["apply", "-f", "-"], PLAN_API)
        .success();
    e.ext
        .kubectl(&[
            "wait",
            "--for=condition=Established",
            "crd/plans.upgrade.cattle.io",
            "--timeout=60s",
        ])
        .success();
    let upgrade = ["--to", TO, "--worker-concurrency", "2"];
    for dry in ["--dry-run", "--dry-run=server"] {
        let out = e.upgrade(&[&upgrade[..], &[dry]].concat()).success();
        assert_contains(&out.stdout, "dry run)");
    }
    let none = e
        .ext
        .kubectl(&["get", "plans", "-n", "system-upgrade", "-o", "name"])
        .success();
    assert_eq!(none.stdout, "", "dry runs wrote nothing");
    let out = e.upgrade(&[&upgrade[..], &["--drain"]].concat()).success();
    assert_contains(
        &out.stdout,
        &format!(
            "plan system-upgrade/k3s-agent: {TO} on agent nodes once the servers are done, 2 at a time, drained"
        ),
    );
}

fn the_plans_take_servers_then_agents(ext: &ControlPlane) {
    let server = plan(ext, "k3s-server");
    assert_eq!(server["spec"]["version"], TO);
    assert_eq!(server["spec"]["concurrency"], 1);
    assert_eq!(server["spec"]["cordon"], true);
    assert_eq!(server["spec"]["upgrade"]["image"], "rancher/k3s-upgrade");
    assert_eq!(
        server["spec"]["nodeSelector"]["matchExpressions"],
        json!([{"key": "node-role.kubernetes.io/control-plane", "operator": "In", "values": ["true"]}])
    );
    let agent = plan(ext, "k3s-agent");
    assert_eq!(agent["spec"]["concurrency"], 2);
    assert_eq!(agent["spec"]["drain"]["force"], true);
    assert_eq!(
        agent["spec"]["prepare"]["args"],
        json!(["prepare", "k3s-server"])
    );
    assert_eq!(
        agent["spec"]["nodeSelector"]["matchExpressions"],
        json!([{"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"}])
    );
}

/// Waiting, then upgrading (the Plan's status names the node), then upgraded (its kubelet
/// reports the new version), while the agents wait.
async fn status_follows_each_node(e: &Edge) {
    let status = e.upgrade(&["--status"]).success().stdout;
    assert_eq!(
        table_row(&status, "server-1"),
        ["server-1", "k3s-server", TO, FROM, "waiting"]
    );
    assert_eq!(
        table_row(&status, "agent-2"),
        ["agent-2", "k3s-agent", TO, FROM, "waiting"]
    );
    let applying = json!({"status": {"applying": ["server-1"]}}).to_string();
    e.ext
        .kubectl(&[
            "patch",
            "plan",
            "k3s-server",
            "-n",
            "system-upgrade",
            "--subresource=status",
            "--type=merge",
            "-p",
            &applying,
        ])
        .success();
    let status = e.upgrade(&["--status"]).success().stdout;
    assert_eq!(table_row(&status, "server-1")[4], "upgrading", "{status}");
    let nodes: Api<Node> = Api::all(e.ext.client().await.unwrap());
    set_kubelet(&nodes, "server-1", TO).await;
    let status = e.upgrade(&["--status"]).success().stdout;
    assert_eq!(table_row(&status, "server-1")[4], "upgraded", "{status}");
    assert_eq!(table_row(&status, "agent-1")[4], "waiting", "{status}");
}

fn describe_shows_the_upgrade(e: &Edge) {
    let describe = extcluster(&e.op, &["describe", "edge"]).success().stdout;
    assert_contains(
        &describe,
        "Upgrade (live, system-upgrade-controller Plans):",
    );
    let upgrade_rows: Vec<&str> = describe
        .lines()
        .filter(|l| l.trim_start().starts_with("server-1") && l.contains("k3s-server"))
        .collect();
    assert_eq!(upgrade_rows.len(), 1, "{describe}");
    assert!(
        upgrade_rows[0].trim_end().ends_with("upgraded"),
        "{describe}"
    );
}
