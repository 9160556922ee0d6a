//! `extcluster-controller` against a real hub and real external control planes, running as its
//! ServiceAccount with the RBAC of `manifests/controller.yaml`: registrations written with plain
//! kubectl get a status within seconds and keep it true as clusters die, come back, move to
//! another version, show another identity or carry credentials about to expire.

use extcluster_core::api::SYSTEM_NAMESPACE;
use extcluster_core::{ExternalCluster, ExternalClusterStatus, Phase};
use extcluster_tests::controller::{ControllerProcess, FAST};
use extcluster_tests::plugin::extcluster;
use extcluster_tests::{ControlPlane, Options, Wait, assert_contains, free_port, hub, path_str};
use k8s_openapi::api::core::v1::{Node, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a status may take to appear or change: a hang guard for a loaded machine.
const SETTLE: Duration = Duration::from_secs(90);

/// A hub and one external control plane, started together.
async fn hub_and_external(external: Options) -> (ControlPlane, ControlPlane) {
    let (hub, ext) = tokio::join!(hub::start(), ControlPlane::start(external));
    (hub.unwrap(), ext.unwrap())
}

/// A registration as GitOps writes one: an ExternalCluster and its kubeconfig Secret, applied
/// with kubectl, no plugin involved.
fn apply_registration(
    hub: &ControlPlane,
    name: &str,
    cluster_id: &str,
    server: &str,
    kubeconfig: &Path,
) {
    let kubeconfig = std::fs::read_to_string(kubeconfig).unwrap();
    let manifest = json!({
        "apiVersion": "v1", "kind": "List", "items": [
            {
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": format!("{name}-kubeconfig"), "namespace": SYSTEM_NAMESPACE},
                "stringData": {"kubeconfig": kubeconfig}
            },
            {
                "apiVersion": "extcluster.io/v1alpha1", "kind": "ExternalCluster",
                "metadata": {"name": name},
                "spec": {
                    "mode": "Connect", "clusterID": cluster_id, "server": server,
                    "kubernetesVersion": "v1.33.0"
                }
            }
        ]
    });
    let out = hub.kubectl_stdin(&["apply", "-f", "-"], &manifest.to_string());
    assert!(out.ok(), "kubectl apply: {}", out.stderr);
}

const PROBES: &str = "extcluster_controller_probe_duration_seconds_count";

/// Waits until `c` has made `n` more probes than now: the window in which a check that nothing
/// else happened means something (a stalled controller never gets through it).
async fn probes_made(c: &ControllerProcess, n: f64) {
    let before = c.metric(PROBES).await.unwrap_or(0.0);
    Wait::up_to(SETTLE, format!("{n} more probes by {}", c.identity))
        .every(Duration::from_millis(200))
        .until(async || (c.metric(PROBES).await.unwrap_or(0.0) >= before + n).then_some(()))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", c.log()));
}

/// Whether `c` holds a series for `registration` (its probes record one; forgetting removes it).
async fn has_series(c: &ControllerProcess, registration: &str) -> bool {
    let metrics = c.probe("/metrics").await.unwrap().1;
    let label = format!("registration=\"{registration}\"");
    metrics
        .lines()
        .any(|l| !l.starts_with('#') && l.contains(&label))
}

async fn status(hub: &ControlPlane, name: &str) -> Option<ExternalClusterStatus> {
    let api: Api<ExternalCluster> = Api::all(hub.client().await.unwrap());
    api.get(name).await.ok()?.status
}

/// Waits until the status of `name` satisfies `ok`, and returns it.
async fn wait_status(
    hub: &ControlPlane,
    name: &str,
    what: &str,
    ok: impl Fn(&ExternalClusterStatus) -> bool,
) -> ExternalClusterStatus {
    Wait::up_to(SETTLE, format!("{name}: {what}"))
        .every(Duration::from_millis(200))
        .until(async || status(hub, name).await.filter(|s| ok(s)))
        .await
        .unwrap_or_else(|e| panic!("{e}; status now:\n{}", status_yaml(hub, name)))
}

fn status_yaml(hub: &ControlPlane, name: &str) -> String {
    hub.kubectl(&["get", "externalcluster", name, "-o", "yaml"])
        .stdout
}

fn condition<'s>(s: &'s ExternalClusterStatus, type_: &str) -> (&'s str, &'s str, &'s str) {
    let c = s
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {s:#?}"));
    (c.status.as_str(), c.reason.as_str(), c.message.as_str())
}

/// The events recorded about registration `name` with `reason`.
async fn events(hub: &ControlPlane, name: &str, reason: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(hub.client().await.unwrap(), "kube-system");
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                && e.reason.as_deref() == Some(reason)
        })
        .collect()
}

/// How many times an event was recorded, counting kube's deduplicated repeats.
fn occurrences(events: &[Event]) -> i32 {
    events
        .iter()
        .map(|e| 1 + e.series.as_ref().map_or(0, |s| s.count.max(1) - 1))
        .sum()
}

async fn add_node(ext: &ControlPlane, name: &str, kubelet: &str) {
    let api: Api<Node> = Api::all(ext.client().await.unwrap());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    api.create(&PostParams::default(), &node).await.unwrap();
    let status = json!({"status": {
        "nodeInfo": {"kubeletVersion": kubelet, "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "", "kernelVersion": "", "kubeProxyVersion": "", "machineID": "", "operatingSystem": "linux", "osImage": "", "systemUUID": ""},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ready"}],
        "allocatable": {"cpu": "3920m", "memory": "15Gi"}
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_registration_applied_with_kubectl_is_kept_true_through_an_outage() {
    let (hub, mut ext) = hub_and_external(Options::default().name("prod")).await;
    add_node(&ext, "node-1", "v1.33.1").await;
    add_node(&ext, "node-2", "v1.33.1").await;
    let controller = ControllerProcess::start(&hub, "replica-a", FAST)
        .await
        .unwrap();

    let applied = Instant::now();
    let id = ext.kube_system_uid().await.unwrap();
    apply_registration(&hub, "prod", &id, &ext.server(), &ext.kubeconfig());
    let s = wait_status(&hub, "prod", "Running", |s| s.phase == Some(Phase::Running)).await;
    eprintln!(
        "a status {:.1} s after kubectl apply",
        applied.elapsed().as_secs_f64()
    );
    for type_ in [
        "Ready",
        "IdentityVerified",
        "VersionSupported",
        "CredentialsValid",
    ] {
        assert_eq!(condition(&s, type_).0, "True", "{type_}: {s:#?}");
    }
    assert_eq!(condition(&s, "CredentialsExpiring").0, "False");
    let nodes = s.nodes.clone().unwrap();
    assert_eq!((s.node_count, nodes.ready), (Some(2), 2));
    assert_eq!(nodes.kubelet_versions().collect::<Vec<_>>(), ["v1.33.1"]);
    assert_eq!(nodes.kubelets[0].nodes, 2);
    assert_eq!(nodes.allocatable_cpu.as_deref(), Some("7840m"));
    assert_eq!(nodes.allocatable_memory.as_deref(), Some("30Gi"));
    let expires = s.credentials.clone().unwrap().expires_at.unwrap().0;
    let in_a_year = Timestamp::now() + SignedDuration::from_hours(365 * 24);
    assert!(
        expires.duration_until(in_a_year).abs() < SignedDuration::from_hours(48),
        "{expires}"
    );
    let managed = hub
        .kubectl(&[
            "get",
            "externalcluster",
            "prod",
            "-o",
            "yaml",
            "--show-managed-fields",
        ])
        .stdout;
    assert_contains(&managed, "manager: extcluster-controller");

    // The external API server goes away: Unreachable after two failed probes, with the error,
    // and one Warning however many probes fail after.
    ext.stop_apiserver();
    let s = wait_status(&hub, "prod", "Unreachable", |s| {
        s.phase == Some(Phase::Unreachable)
    })
    .await;
    let message = s.message.clone().unwrap();
    assert!(
        message.contains("refused") && message.contains(&ext.server()),
        "{message}"
    );
    assert_eq!(condition(&s, "Ready").0, "False");
    assert_eq!(s.node_count, Some(2), "what it reported last is kept");
    let list = extcluster(&hub.kubeconfig(), &["list"]).success().stdout;
    assert_contains(&list, "Unreachable");
    let writes = controller
        .metric("extcluster_controller_hub_writes_total")
        .await
        .unwrap();
    probes_made(&controller, 3.0).await;
    assert_eq!(
        occurrences(&events(&hub, "prod", "Unreachable").await),
        1,
        "{}\n{}",
        hub.kubectl(&["get", "events", "-A", "-o", "yaml"]).stdout,
        controller.log()
    );
    assert_eq!(
        controller
            .metric("extcluster_controller_hub_writes_total")
            .await
            .unwrap(),
        writes,
        "failed probes that change nothing write nothing"
    );
    assert!(
        controller
            .metric("extcluster_controller_probe_failures_total{reason=\"Unreachable\"}")
            .await
            .unwrap()
            >= 2.0
    );

    // Back: Running on the first success, with a Normal event.
    ext.start_apiserver().await.unwrap();
    let s = wait_status(&hub, "prod", "Running again", |s| {
        s.phase == Some(Phase::Running)
    })
    .await;
    assert_eq!(s.message, None);
    assert_eq!(condition(&s, "Ready").0, "True");
    assert_eq!(occurrences(&events(&hub, "prod", "Reachable").await), 1);

    // Marked for disconnect: forgotten and no longer probed, while a witness still is.
    apply_registration(&hub, "witness", &id, &ext.server(), &ext.kubeconfig());
    let marked = hub.kubectl(&[
        "annotate",
        "externalcluster",
        "prod",
        "extcluster.io/disconnect=true",
    ]);
    assert!(marked.ok(), "{}", marked.stderr);
    probes_made(&controller, 4.0).await;
    assert!(has_series(&controller, "witness").await);
    assert!(
        !has_series(&controller, "prod").await,
        "a registration leaving is probed"
    );

    // Nothing it read from the kubeconfig reached its log.
    let kubeconfig = std::fs::read_to_string(ext.kubeconfig()).unwrap();
    let key = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("client-key-data: "))
        .unwrap();
    assert!(
        !controller.log().contains(key),
        "the client key is in the log"
    );
}

/// Sets a node's kubelet version, as a kubelet reports it after an upgrade.
async fn set_kubelet(ext: &ControlPlane, name: &str, kubelet: &str) {
    let api: Api<Node> = Api::all(ext.client().await.unwrap());
    let status = json!({"status": {"nodeInfo": {"kubeletVersion": kubelet}}});
    api.patch_status(name, &PatchParams::default(), &Patch::Strategic(status))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_node_upgrade_is_reconciling_and_a_skew_that_stays_settles_to_running() {
    let (hub, ext) = hub_and_external(Options::default().name("skew")).await;
    for name in ["node-1", "node-2", "node-3"] {
        add_node(&ext, name, "v1.33.1").await;
    }
    let flags = [FAST, &["--skew-settles-after", "6s"]].concat();
    let controller = ControllerProcess::start(&hub, "replica-a", &flags)
        .await
        .unwrap();
    let id = ext.kube_system_uid().await.unwrap();
    apply_registration(&hub, "skew", &id, &ext.server(), &ext.kubeconfig());
    wait_status(&hub, "skew", "Running", |s| s.phase == Some(Phase::Running)).await;

    set_kubelet(&ext, "node-1", "v1.34.0").await;
    let s = wait_status(&hub, "skew", "Reconciling", |s| {
        s.phase == Some(Phase::Reconciling)
    })
    .await;
    assert_contains(
        s.message.as_deref().unwrap(),
        "nodes are moving between kubelet versions 1.33, 1.34 (v1.33.1 on 2 nodes, v1.34.0 on 1): an upgrade is in progress",
    );
    assert!(s.nodes.unwrap().kubelets_moved_at.is_some());
    let describe = extcluster(&hub.kubeconfig(), &["describe", "skew"]).success();
    assert_contains(&describe.stdout, "kubelet v1.33.1 (2), v1.34.0 (1)");

    // The upgrade stops halfway: two minors within the skew policy, nothing moving.
    let s = wait_status(
        &hub,
        "skew",
        "Running again once nothing moved for 6s",
        |s| s.phase == Some(Phase::Running),
    )
    .await;
    assert_eq!(s.message, None, "{s:#?}");
    let versions: Vec<(String, u32)> = s
        .nodes
        .unwrap()
        .kubelets
        .into_iter()
        .map(|k| (k.version, k.nodes))
        .collect();
    assert_eq!(
        versions,
        [("v1.33.1".to_owned(), 2), ("v1.34.0".to_owned(), 1)]
    );

    // A node joining on the newest version is scaling, not an upgrade.
    add_node(&ext, "node-4", "v1.34.0").await;
    let s = wait_status(&hub, "skew", "four nodes", |s| s.node_count == Some(4)).await;
    assert_eq!(s.phase, Some(Phase::Running), "{s:#?}");

    // The upgrade resumes: another node moves.
    set_kubelet(&ext, "node-2", "v1.34.0").await;
    wait_status(&hub, "skew", "Reconciling again", |s| {
        s.phase == Some(Phase::Reconciling)
    })
    .await;
    // The request log the plugin's -v shows is not in the controller's default log: it would
    // be a line per request of every probe.
    let log = controller.log();
    assert!(!log.contains(&format!("GET {}", ext.server())), "{log}");
}

#[tokio::test]
async fn another_clusters_identity_expiring_credentials_and_an_upgrade_out_of_range_are_flagged() {
    let (hub, mut ext) = hub_and_external(Options::default().name("edge")).await;
    let controller = ControllerProcess::start(&hub, "replica-a", FAST)
        .await
        .unwrap();
    let id = ext.kube_system_uid().await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    // A registration whose clusterID is not the server's.
    let other = "0b5e2a61-0000-4000-8000-000000000001";
    apply_registration(&hub, "wrong", other, &ext.server(), &ext.kubeconfig());
    // Credentials whose client certificate expires in two days.
    let expiring = dir.path().join("expiring");
    ext.write_client_kubeconfig(
        &expiring,
        "admin",
        &["system:masters"],
        time::Duration::days(2),
    )
    .unwrap();
    apply_registration(&hub, "expiring", &id, &ext.server(), &expiring);

    let s = wait_status(&hub, "wrong", "IdentityMismatch", |s| {
        s.phase == Some(Phase::IdentityMismatch)
    })
    .await;
    let (verified, reason, message) = condition(&s, "IdentityVerified");
    assert_eq!((verified, reason), ("False", "IdentityMismatch"));
    assert!(
        message.contains(&id) && message.contains(other),
        "both UIDs: {message}"
    );
    let list = extcluster(&hub.kubeconfig(), &["list"]).success().stdout;
    assert_contains(&list, "IdentityMismatch");

    let s = wait_status(&hub, "expiring", "CredentialsExpiring", |s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "CredentialsExpiring" && c.status == "True")
    })
    .await;
    assert_eq!(s.phase, Some(Phase::Running), "expiring is not expired");
    let expires = s.credentials.unwrap().expires_at.unwrap().0;
    let until = Timestamp::now().duration_until(expires);
    assert!(
        until > SignedDuration::from_hours(47) && until <= SignedDuration::from_hours(48),
        "{until}"
    );
    let describe = extcluster(&hub.kubeconfig(), &["describe", "expiring"])
        .success()
        .stdout;
    assert_contains(&describe, "CredentialsExpiring");
    assert_contains(&describe, "Credentials Expire:");

    // The cluster is upgraded past the accepted range: flagged, kept.
    ext.restart_apiserver_reporting("v1.35.0").await.unwrap();
    let s = wait_status(&hub, "expiring", "VersionSupported=False", |s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "VersionSupported" && c.status == "False")
    })
    .await;
    assert_eq!(s.observed_version.as_deref(), Some("v1.35.0"));
    assert_contains(condition(&s, "VersionSupported").2, ">=1.19.0, <1.35.0");
    assert_eq!(
        s.phase,
        Some(Phase::Running),
        "it stays registered and probed"
    );

    // Several probes later, each problem was announced once.
    probes_made(&controller, 6.0).await;
    assert_eq!(
        occurrences(&events(&hub, "wrong", "IdentityMismatch").await),
        1
    );
    assert_eq!(
        occurrences(&events(&hub, "expiring", "CredentialsExpiring").await),
        1
    );
    assert_eq!(
        occurrences(&events(&hub, "expiring", "VersionUnsupported").await),
        1
    );
}

#[tokio::test]
async fn a_rotated_token_is_rejected_until_set_credentials_gives_the_hub_the_new_one() {
    let (hub, ext) = hub_and_external(Options::default().name("eks").controller_manager()).await;
    let hk = hub.kubeconfig();
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    let admin = ext.kubeconfig();
    let convert = |out: &Path, rotate: bool| {
        let mut args = vec![
            "convert-kubeconfig",
            "--from-kubeconfig",
            path_str(&admin),
            "-o",
            path_str(out),
        ];
        if rotate {
            args.push("--rotate");
        }
        extcluster(&hk, &args).success();
    };
    convert(&first, false);
    extcluster(
        &hk,
        &["import", "prod", "--from-kubeconfig", path_str(&first)],
    )
    .success();
    let controller = ControllerProcess::start(&hub, "replica-a", FAST)
        .await
        .unwrap();
    let s = wait_status(&hub, "prod", "the token accepted", |s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "CredentialsValid" && c.status == "True")
            && s.last_probe_time.is_some()
    })
    .await;
    assert_eq!(
        condition(&s, "CredentialsExpiring").1,
        "NoExpiry",
        "a legacy token Secret's token has no exp"
    );

    convert(&second, true);
    let s = wait_status(&hub, "prod", "CredentialsValid=False", |s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "CredentialsValid" && c.status == "False")
    })
    .await;
    let (_, reason, message) = condition(&s, "CredentialsValid");
    assert_eq!(reason, "Unauthorized");
    assert_contains(message, "401");
    let kubeconfig = std::fs::read_to_string(&first).unwrap();
    let token = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .unwrap();
    assert!(!message.contains(token) && !s.message.unwrap_or_default().contains(token));
    probes_made(&controller, 3.0).await;
    assert_eq!(
        occurrences(&events(&hub, "prod", "CredentialsRejected").await),
        1
    );
    let s = wait_status(&hub, "prod", "phase CredentialsRejected", |s| {
        s.phase == Some(Phase::CredentialsRejected)
    })
    .await;
    assert_eq!(condition(&s, "Ready").1, "CredentialsRejected", "{s:#?}");

    extcluster(
        &hk,
        &[
            "set-credentials",
            "prod",
            "--from-kubeconfig",
            path_str(&second),
        ],
    )
    .success();
    let s = wait_status(&hub, "prod", "CredentialsValid=True again", |s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "CredentialsValid" && c.status == "True")
    })
    .await;
    assert_eq!(s.phase, Some(Phase::Running));
    probes_made(&controller, 3.0).await;
    let s = status(&hub, "prod").await.unwrap();
    assert_eq!(
        condition(&s, "CredentialsValid").0,
        "True",
        "the controller agrees: {s:#?}"
    );
}

#[tokio::test]
async fn killing_the_leader_hands_over_within_the_lease_and_only_the_leader_probes() {
    let (hub, ext) = hub_and_external(Options::default().name("ext")).await;
    let id = ext.kube_system_uid().await.unwrap();
    apply_registration(&hub, "one", &id, &ext.server(), &ext.kubeconfig());
    let mut a = ControllerProcess::start(&hub, "replica-a", FAST)
        .await
        .unwrap();
    wait_status(&hub, "one", "Running", |s| s.phase == Some(Phase::Running)).await;
    let b = ControllerProcess::start(&hub, "replica-b", FAST)
        .await
        .unwrap();

    assert!(a.leads().await && !b.leads().await);
    probes_made(&a, 3.0).await;
    let probes = PROBES;
    assert_eq!(
        b.metric(probes).await.unwrap_or(0.0),
        0.0,
        "the follower probed"
    );

    let killed = Instant::now();
    a.kill();
    Wait::up_to(Duration::from_secs(60), "replica-b to lead")
        .every(Duration::from_millis(100))
        .until(async || b.leads().await.then_some(()))
        .await
        .unwrap();
    let handover = killed.elapsed();
    eprintln!(
        "handed over {:.1} s after the leader was killed (lease 4 s)",
        handover.as_secs_f64()
    );
    // The Lease must run out first; a generous bound beyond it guards against a hang only.
    assert!(handover < Duration::from_secs(30), "{handover:?}");
    let before = b.metric(probes).await.unwrap_or(0.0);
    Wait::up_to(SETTLE, "replica-b to probe")
        .until(async || (b.metric(probes).await.unwrap_or(0.0) > before).then_some(()))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_hub_restart_is_survived_and_new_registrations_are_probed_within_seconds() {
    let (mut hub, ext) = hub_and_external(Options::default().name("ext")).await;
    let id = ext.kube_system_uid().await.unwrap();
    let controller = ControllerProcess::start(&hub, "replica-a", FAST)
        .await
        .unwrap();
    apply_registration(&hub, "before", &id, &ext.server(), &ext.kubeconfig());
    wait_status(&hub, "before", "Running", |s| {
        s.phase == Some(Phase::Running)
    })
    .await;

    hub.stop_apiserver();
    tokio::time::sleep(Duration::from_secs(5)).await;
    hub.start_apiserver().await.unwrap();

    let applied = Instant::now();
    apply_registration(&hub, "after", &id, &ext.server(), &ext.kubeconfig());
    wait_status(&hub, "after", "Running", |s| {
        s.phase == Some(Phase::Running)
    })
    .await;
    eprintln!(
        "probed {:.1} s after kubectl apply, after a hub restart",
        applied.elapsed().as_secs_f64()
    );
    assert_eq!(controller.probe("/healthz").await.unwrap().0, 200);
}

#[tokio::test]
async fn hundreds_of_registrations_half_dead_keep_to_the_interval() {
    const LIVE: usize = 100;
    const DEAD: usize = 100;
    let (hub, ext) = hub_and_external(Options::default().name("ext")).await;
    let id = ext.kube_system_uid().await.unwrap();
    // Identity is not the point here: the live registrations share one real API server. The dead
    // ones name loopback ports where nothing listens.
    let live_kubeconfig = std::fs::read_to_string(ext.kubeconfig()).unwrap();
    let client = hub.client().await.unwrap();
    for i in 0..LIVE + DEAD {
        let (name, kubeconfig, server) = if i < LIVE {
            (
                format!("live-{i:03}"),
                live_kubeconfig.clone(),
                ext.server(),
            )
        } else {
            let server = format!("https://127.0.0.1:{}", free_port().unwrap());
            let kc = live_kubeconfig.replace(&ext.server(), &server);
            (format!("dead-{i:03}"), kc, server)
        };
        create_registration(&client, &name, &id, &server, &kubeconfig).await;
    }
    let controller = ControllerProcess::start(
        &hub,
        "replica-a",
        &[
            "--probe-interval=10s",
            "--unreachable-after=2",
            "--max-backoff=20s",
            "--connect-timeout=1s",
            "--probe-timeout=5s",
            "--heartbeat=1h",
        ],
    )
    .await
    .unwrap();
    let api: Api<ExternalCluster> = Api::all(client.clone());
    let settled = Wait::up_to(Duration::from_secs(180), "every registration to settle")
        .every(Duration::from_secs(1))
        .until(async || {
            let all = api.list(&ListParams::default()).await.ok()?.items;
            let phase = |c: &ExternalCluster| c.status.as_ref().and_then(|s| s.phase);
            let running = all
                .iter()
                .filter(|c| phase(c) == Some(Phase::Running))
                .count();
            let unreachable = all
                .iter()
                .filter(|c| phase(c) == Some(Phase::Unreachable))
                .count();
            (running == LIVE && unreachable == DEAD).then_some(())
        })
        .await;
    settled.unwrap();

    // Steady state: every live registration probed every interval, dead ones backed off, and no
    // hub write when nothing changes.
    let probes = async || {
        let all = controller
            .metric("extcluster_controller_probe_duration_seconds_count")
            .await
            .unwrap();
        let failed = controller
            .metric("extcluster_controller_probe_failures_total")
            .await
            .unwrap_or(0.0);
        (all - failed, failed)
    };
    let writes = controller
        .metric("extcluster_controller_hub_writes_total")
        .await
        .unwrap();
    let before = versions_and_messages(&api).await;
    let (ok0, failed0) = probes().await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let (ok1, failed1) = probes().await;
    eprintln!(
        "in 30 s: {} successful probes, {} failed",
        ok1 - ok0,
        failed1 - failed0
    );
    assert!(
        ok1 - ok0 >= (LIVE * 2) as f64,
        "live ones probed every 10 s: {}",
        ok1 - ok0
    );
    assert!(
        failed1 - failed0 <= (DEAD * 2) as f64,
        "dead ones backed off: {}",
        failed1 - failed0
    );
    let written = written_since(&before, &versions_and_messages(&api).await);
    let reasons = controller.probe("/metrics").await.unwrap().1;
    assert!(
        written.is_empty(),
        "no hub write when nothing changed, but these were written:\n{}\nfailures: {}",
        written.join("\n"),
        reasons
            .lines()
            .filter(|l| l.starts_with("extcluster_controller_probe_failures_total"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_eq!(
        controller
            .metric("extcluster_controller_hub_writes_total")
            .await
            .unwrap(),
        writes
    );
    let running = controller
        .metric("extcluster_controller_registrations{phase=\"Running\"}")
        .await;
    assert_eq!(running, Some(LIVE as f64));
}

/// Each registration's resource version and status message, by name.
type VersionsAndMessages = std::collections::BTreeMap<String, (String, Option<String>)>;

async fn versions_and_messages(api: &Api<ExternalCluster>) -> VersionsAndMessages {
    let all = api.list(&ListParams::default()).await.unwrap().items;
    all.into_iter()
        .map(|c| {
            let version = c.metadata.resource_version.unwrap_or_default();
            let message = c.status.and_then(|s| s.message);
            (c.metadata.name.unwrap_or_default(), (version, message))
        })
        .collect()
}

/// The registrations whose version moved from `before` to `after`, with their message then and
/// now.
fn written_since(before: &VersionsAndMessages, after: &VersionsAndMessages) -> Vec<String> {
    after
        .iter()
        .filter(|(name, (version, _))| before.get(*name).map(|b| &b.0) != Some(version))
        .map(|(name, (_, message))| {
            let then = before.get(name).and_then(|b| b.1.as_ref());
            format!("{name}: {then:?} -> {message:?}")
        })
        .collect()
}

async fn create_registration(
    client: &Client,
    name: &str,
    id: &str,
    server: &str,
    kubeconfig: &str,
) {
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": format!("{name}-kubeconfig"), "namespace": SYSTEM_NAMESPACE},
        "stringData": {"kubeconfig": kubeconfig}
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), SYSTEM_NAMESPACE)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let cluster: ExternalCluster = serde_json::from_value(json!({
        "apiVersion": "extcluster.io/v1alpha1", "kind": "ExternalCluster",
        "metadata": {"name": name},
        "spec": {"mode": "Connect", "clusterID": id, "server": server, "kubernetesVersion": "v1.33.0"}
    }))
    .unwrap();
    Api::<ExternalCluster>::all(client.clone())
        .create(&PostParams::default(), &cluster)
        .await
        .unwrap();
}
