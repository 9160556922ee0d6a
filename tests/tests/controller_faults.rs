//! The controller at the moments that matter, on real control planes, its replicas run as the
//! Deployment runs them: restarts (TERM, KILL, at once again) under a thousand registrations with
//! everything published, a leader whose connection to the hub freezes, a leader frozen by
//! SIGSTOP, a rolling update's SIGTERM, a probe that panics, and a registration whose Secret
//! comes after it. Every "nothing happened" is paired with proof the controller was at work.

use extcluster_core::api::SYSTEM_NAMESPACE;
use extcluster_core::{ExportKind, ExternalCluster, Phase};
use extcluster_tests::controller::{ControllerProcess, FAST, Setup};
use extcluster_tests::tcp_proxy::FreezableProxy;
use extcluster_tests::watch_events::Watching;
use extcluster_tests::{ControlPlane, Wait, free_port, hub};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const INVENTORY: &str = "extcluster-inventory";
/// A hang guard, generous for a loaded 2-core machine.
const SETTLE: Duration = Duration::from_secs(180);
const PROBES: &str = "extcluster_controller_probe_duration_seconds_count";
const WRITES: &str = "extcluster_controller_hub_writes";

/// A registration and its kubeconfig Secret, as GitOps writes them, exported to Argo CD and Flux.
fn registration(name: &str, cluster_id: &str, server: &str, kubeconfig: &str) -> (Secret, Value) {
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": format!("{name}-kubeconfig"), "namespace": SYSTEM_NAMESPACE},
        "stringData": {"kubeconfig": kubeconfig}
    }))
    .unwrap();
    let cluster = json!({
        "apiVersion": "extcluster.io/v1alpha1", "kind": "ExternalCluster",
        "metadata": {"name": name, "annotations": {"extcluster.io/exports": "argocd,flux"}},
        "spec": {"mode": "Connect", "clusterID": cluster_id, "server": server,
                 "kubernetesVersion": "v1.33.0"}
    });
    (secret, cluster)
}

/// Writes `registrations` to the hub, 16 at a time.
async fn create_all(hub: &ControlPlane, registrations: Vec<(Secret, Value)>) {
    let client = hub.client().await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let clusters: Api<ExternalCluster> = Api::all(client);
    futures::stream::iter(registrations)
        .for_each_concurrent(16, |(secret, cluster)| {
            let (secrets, clusters) = (secrets.clone(), clusters.clone());
            async move {
                secrets
                    .create(&PostParams::default(), &secret)
                    .await
                    .unwrap();
                let cluster: ExternalCluster = serde_json::from_value(cluster).unwrap();
                clusters
                    .create(&PostParams::default(), &cluster)
                    .await
                    .unwrap();
            }
        })
        .await;
}

/// How many of the objects `what` selects are whole: a ClusterProfile once its status carries
/// the access provider's CA data (it is created first, its status written next), a Secret with
/// its data.
async fn whole(hub: &ControlPlane, what: &[&str]) -> usize {
    let mut args = vec!["get", "-o", "json"];
    args.extend(what);
    let list: Value = serde_json::from_str(&hub.kubectl(&args).stdout).unwrap_or_default();
    list["items"]
        .as_array()
        .map_or(0, |items| items.iter().filter(|o| is_whole(o)).count())
}

fn is_whole(object: &Value) -> bool {
    if object["kind"] == "ClusterProfile" {
        profile_ca(object).is_some_and(|ca| !ca.is_empty())
    } else {
        object["data"].is_object()
    }
}

/// The CA data of a ClusterProfile's first access provider, as consumers read it.
fn profile_ca(profile: &Value) -> Option<&str> {
    profile["status"]["accessProviders"]
        .as_array()?
        .first()?["cluster"]["certificate-authority-data"]
        .as_str()
}

async fn metric(c: &ControllerProcess, name: &str) -> f64 {
    c.metric(name).await.unwrap_or(0.0)
}

/// Waits until this incarnation of `c` leads, has probed and has made a publishing pass.
async fn at_work(c: &ControllerProcess) {
    Wait::up_to(SETTLE, format!("{} to lead, probe and publish", c.identity))
        .every(Duration::from_millis(100))
        .until(async || {
            let probed = metric(c, PROBES).await >= 1.0;
            let published = metric(c, "extcluster_controller_publish_passes").await >= 1.0;
            (c.leads().await && probed && published).then_some(())
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", c.log()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_restarts_under_a_thousand_registrations_never_delete_or_degrade_what_is_published()
{
    const DEAD: usize = 1000;
    const REAL: usize = 4;
    let (hub, ext) = hub::and_external("ext").await.unwrap();
    hub::install_publishing(&hub);
    let uid = ext.kube_system_uid().await.unwrap();
    let kubeconfig = std::fs::read_to_string(ext.kubeconfig()).unwrap();
    let dead = format!("https://127.0.0.1:{}", free_port().unwrap());
    let mut all: Vec<_> = (0..REAL)
        .map(|i| registration(&format!("real-{i}"), &uid, &ext.server(), &kubeconfig))
        .collect();
    let dead_kubeconfig = kubeconfig.replace(&ext.server(), &dead);
    all.extend((0..DEAD).map(|i| {
        registration(
            &format!("dead-{i:04}"),
            &format!("dead-{i}"),
            &dead,
            &dead_kubeconfig,
        )
    }));
    create_all(&hub, all).await;

    let flags = [
        "--probe-interval=10s",
        "--unreachable-after=2",
        "--max-backoff=20s",
        "--connect-timeout=1s",
        "--lease-duration=4s",
        "--export=argocd",
        "--export=flux",
    ];
    let mut c = ControllerProcess::start(&hub, "c1", &flags).await.unwrap();
    let total = REAL + DEAD;
    let kinds: [&[&str]; 3] = [
        &["secrets", "-n", "argocd"],
        &["secrets", "-n", "flux-system"],
        &["clusterprofiles.multicluster.x-k8s.io", "-n", INVENTORY],
    ];
    for kind in kinds {
        Wait::up_to(SETTLE, format!("{total} {kind:?} published whole"))
            .every(Duration::from_secs(1))
            .until(async || (whole(&hub, kind).await >= total).then_some(()))
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let watches: Vec<Watching> = kinds
        .iter()
        .map(|k| Watching::start(&hub, dir.path(), k))
        .collect();

    for round in 0..20 {
        match round % 3 {
            0 => c.restart().await.unwrap(),
            1 => {
                c.kill();
                c.restart().await.unwrap();
            }
            _ => {
                c.kill();
                tokio::time::sleep(Duration::from_millis(300)).await;
                c.restart().await.unwrap();
            }
        }
        at_work(&c).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    judge_events(&watches, total);
}

/// No DELETED event; every profile carries CA data; every Argo CD / Flux Secret keeps the
/// credential it was first published with.
fn judge_events(watches: &[Watching], total: usize) {
    let mut first_data: BTreeMap<String, Value> = BTreeMap::new();
    for w in watches {
        let events = w.events();
        eprintln!("{}: {} events", w.file.display(), events.len());
        assert!(
            events.len() >= total,
            "{} saw {} events, fewer than the {total} objects listed",
            w.file.display(),
            events.len()
        );
        for (kind, object) in events {
            let name = format!(
                "{}/{}",
                object["metadata"]["namespace"].as_str().unwrap_or(""),
                object["metadata"]["name"].as_str().unwrap_or("")
            );
            assert_ne!(kind, "DELETED", "{name} was deleted");
            if object["kind"] == "ClusterProfile" {
                assert!(is_whole(&object), "{name} without CA data: {object:#}");
            } else {
                let data = object["data"].clone();
                let first = first_data
                    .entry(name.clone())
                    .or_insert_with(|| data.clone());
                assert_eq!(*first, data, "{name} was written with another credential");
            }
        }
    }
    assert_eq!(
        first_data.len(),
        2 * total,
        "the Argo CD and Flux Secrets judged for their credential"
    );
}

fn through(port: u16) -> Setup {
    Setup {
        through: Some(port),
        ..Setup::default()
    }
}

fn faulty() -> Setup {
    Setup {
        faulty: true,
        ..Setup::default()
    }
}

/// Two replicas, A reaching the hub through a proxy that the test freezes.
struct Pair {
    hub: ControlPlane,
    _ext: ControlPlane,
    proxy: FreezableProxy,
    a: ControllerProcess,
    b: ControllerProcess,
}

async fn pair() -> Pair {
    let (hub, ext) = hub::and_external("ext").await.unwrap();
    let uid = ext.kube_system_uid().await.unwrap();
    let kubeconfig = std::fs::read_to_string(ext.kubeconfig()).unwrap();
    let regs = (0..3)
        .map(|i| registration(&format!("one-{i}"), &uid, &ext.server(), &kubeconfig))
        .collect();
    create_all(&hub, regs).await;
    let proxy = FreezableProxy::start(hub.port()).await.unwrap();
    let a = ControllerProcess::start_as(&hub, "replica-a", FAST, through(proxy.port))
        .await
        .unwrap();
    at_work_probing(&a).await;
    let b = ControllerProcess::start(&hub, "replica-b", FAST)
        .await
        .unwrap();
    assert!(!b.leads().await, "two leaders");
    Pair {
        hub,
        _ext: ext,
        proxy,
        a,
        b,
    }
}

async fn at_work_probing(c: &ControllerProcess) {
    let before = metric(c, PROBES).await;
    Wait::up_to(SETTLE, format!("{} to lead and probe", c.identity))
        .every(Duration::from_millis(100))
        .until(async || (c.leads().await && metric(c, PROBES).await > before).then_some(()))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", c.log()));
}

fn lease_holder(hub: &ControlPlane) -> String {
    hub.kubectl(&[
        "get",
        "lease",
        "extcluster-controller",
        "-n",
        SYSTEM_NAMESPACE,
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ])
    .stdout
}

/// Samples both replicas' leader gauges every 100 ms until `b` leads; fails if both ever do.
/// Returns when `a` stopped and when `b` started, from `since`.
async fn handover(a: &ControllerProcess, b: &ControllerProcess, since: Instant) -> (f64, f64) {
    let mut a_stopped = None;
    let deadline = since + SETTLE;
    while Instant::now() < deadline {
        let (a_leads, b_leads) = (a.leads().await, b.leads().await);
        assert!(!(a_leads && b_leads), "both replicas lead at once");
        if !a_leads {
            a_stopped.get_or_insert_with(|| since.elapsed().as_secs_f64());
        }
        if b_leads {
            let a_stopped = a_stopped.expect("b leads while a was never seen stopped");
            return (a_stopped, since.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never led:\n{}", b.identity, b.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_hub_connection_freezes_stops_in_time_and_never_takes_the_lease_back() {
    let Pair {
        hub, proxy, a, b, ..
    } = pair().await;
    let frozen = Instant::now();
    proxy.freeze();
    let (a_stopped, b_started) = handover(&a, &b, frozen).await;
    eprintln!("frozen: a stopped after {a_stopped:.1} s, b led after {b_started:.1} s (Lease 4 s)");
    let writes_when_stopped = metric(&a, WRITES).await;
    let probes_when_stopped = metric(&a, PROBES).await;
    at_work_probing(&b).await;
    tokio::time::sleep(Duration::from_secs(30) - frozen.elapsed().min(Duration::from_secs(30)))
        .await;
    proxy.thaw();
    // B keeps working and keeps the Lease; A neither leads nor writes.
    let b_probes = metric(&b, PROBES).await;
    let watch_until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < watch_until {
        assert!(!a.leads().await, "the thawed replica leads again");
        assert!(
            b.leads().await,
            "the new leader lost the Lease after the thaw"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(lease_holder(&hub), "replica-b");
    assert!(
        metric(&b, PROBES).await > b_probes,
        "b did not probe in the window"
    );
    assert_eq!(
        metric(&a, WRITES).await,
        writes_when_stopped,
        "a wrote after it stopped"
    );
    assert_eq!(
        metric(&a, PROBES).await,
        probes_when_stopped,
        "a probed after it stopped"
    );
    assert!(a.log().contains("stopping all work"), "{}", a.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_frozen_by_sigstop_writes_nothing_when_it_wakes() {
    let Pair { hub, a, b, .. } = pair().await;
    let stopped = Instant::now();
    a.pause();
    // A stopped process answers nothing, its metrics included: only B is asked.
    Wait::up_to(SETTLE, "b to lead")
        .every(Duration::from_millis(100))
        .until(async || b.leads().await.then_some(()))
        .await
        .unwrap();
    let b_started = stopped.elapsed().as_secs_f64();
    eprintln!("SIGSTOP: b led after {b_started:.1} s (Lease 4 s)");
    assert!(b_started >= 2.0, "b led before a's Lease could lapse");
    at_work_probing(&b).await;
    a.resume();
    let writes = metric(&a, WRITES).await;
    let b_probes = metric(&b, PROBES).await;
    let watch_until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < watch_until {
        assert!(b.leads().await, "b lost the Lease when a woke");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!a.leads().await);
    assert_eq!(metric(&a, WRITES).await, writes, "a wrote after waking");
    assert!(
        metric(&b, PROBES).await > b_probes,
        "b did not probe in the window"
    );
    assert_eq!(lease_holder(&hub), "replica-b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_gives_the_lease_up_and_the_follower_leads_at_once() {
    let Pair { hub, mut a, b, .. } = pair().await;
    let terminated = Instant::now();
    a.stop();
    let stopped = terminated.elapsed();
    let (_, b_started) = handover(&a, &b, terminated).await;
    eprintln!("SIGTERM: a exited after {stopped:.2?}, b led {b_started:.2} s after the signal");
    assert!(a.log().contains("gave the Lease up"), "{}", a.log());
    // The Lease (4 s) was not waited out: the follower asks every half second.
    assert!(b_started < 2.0, "b led {b_started:.2} s after SIGTERM");
    at_work_probing(&b).await;
    assert_eq!(lease_holder(&hub), "replica-b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_that_panics_is_probed_again_and_the_others_go_on() {
    let (hub, ext) = hub::and_external("ext").await.unwrap();
    let uid = ext.kube_system_uid().await.unwrap();
    let kubeconfig = std::fs::read_to_string(ext.kubeconfig()).unwrap();
    let regs = ["fine", "panics"]
        .iter()
        .map(|n| registration(n, &uid, &ext.server(), &kubeconfig))
        .collect();
    create_all(&hub, regs).await;
    let clusters: Api<ExternalCluster> = Api::all(hub.client().await.unwrap());
    let mark = json!({"metadata": {"annotations": {"extcluster.io/test-panic": "yes"}}});
    clusters
        .patch("panics", &PatchParams::default(), &Patch::Merge(&mark))
        .await
        .unwrap();
    let c = ControllerProcess::start_as(&hub, "c1", FAST, faulty())
        .await
        .unwrap();
    Wait::up_to(SETTLE, "the probe to panic twice")
        .every(Duration::from_millis(200))
        .until(async || {
            (metric(&c, "extcluster_controller_probe_panics").await >= 2.0).then_some(())
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", c.log()));
    assert!(c.log().contains("registration=panics"), "{}", c.log());
    assert!(c.leads().await, "the panic took the controller down");
    let phase = |name: &'static str| {
        let clusters = clusters.clone();
        async move { clusters.get(name).await.ok()?.status?.phase }
    };
    Wait::up_to(SETTLE, "the other registration to be probed")
        .every(Duration::from_millis(200))
        .until(async || (phase("fine").await == Some(Phase::Running)).then_some(()))
        .await
        .unwrap();
    let unmark = json!({"metadata": {"annotations": {"extcluster.io/test-panic": null}}});
    clusters
        .patch("panics", &PatchParams::default(), &Patch::Merge(&unmark))
        .await
        .unwrap();
    Wait::up_to(SETTLE, "the once-panicking registration to be probed")
        .every(Duration::from_millis(200))
        .until(async || (phase("panics").await == Some(Phase::Running)).then_some(()))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_that_comes_after_its_registration_is_waited_for_not_reported_missing() {
    let (hub, ext) = hub::and_external("ext").await.unwrap();
    let c = ControllerProcess::start(&hub, "c1", FAST).await.unwrap();
    let uid = ext.kube_system_uid().await.unwrap();
    let kubeconfig = std::fs::read_to_string(ext.kubeconfig()).unwrap();
    let (secret, cluster) = registration("late", &uid, &ext.server(), &kubeconfig);
    let dir = tempfile::tempdir().unwrap();
    let watch = Watching::start(&hub, dir.path(), &["externalclusters", "late"]);
    let client = hub.client().await.unwrap();
    let clusters: Api<ExternalCluster> = Api::all(client.clone());
    let cluster: ExternalCluster = serde_json::from_value(cluster).unwrap();
    clusters
        .create(&PostParams::default(), &cluster)
        .await
        .unwrap();
    // What the plugin writes at registration (server-side apply, as the plugin), then its
    // Secret a few seconds later.
    let status = json!({
        "apiVersion": "extcluster.io/v1alpha1", "kind": "ExternalCluster",
        "metadata": {"name": "late"},
        "status": {
            "phase": "Running", "message": "registered by the plugin",
            "conditions": [{"type": "Ready", "status": "True", "reason": "Registered",
                "message": "registered", "lastTransitionTime": "2026-01-01T00:00:00Z"}]
        }
    });
    let as_plugin = PatchParams::apply("kubectl-extcluster").force();
    clusters
        .patch_status("late", &as_plugin, &Patch::Apply(&status))
        .await
        .unwrap();
    let probes_before = metric(&c, PROBES).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(metric(&c, "extcluster_controller_leader").await == 1.0);
    Api::<Secret>::namespaced(client, SYSTEM_NAMESPACE)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    Wait::up_to(SETTLE, "late to be probed")
        .every(Duration::from_millis(200))
        .until(async || {
            let s = clusters.get("late").await.ok()?.status?;
            (s.last_probe_time.is_some() && s.phase == Some(Phase::Running)).then_some(())
        })
        .await
        .unwrap();
    assert!(metric(&c, PROBES).await > probes_before, "no probe ran");
    let probed = clusters.get("late").await.unwrap();
    let status = probed.status.clone().unwrap();
    assert_eq!(
        status.message, None,
        "the plugin's message outlived the probe"
    );
    assert_eq!(
        status
            .conditions
            .iter()
            .filter(|c| c.type_ == "Ready")
            .count(),
        1
    );
    assert_status_owned_by_the_probe(&probed);
    for (_, object) in watch.events() {
        let message = object["status"]["message"].as_str().unwrap_or("");
        assert!(!message.contains("Secret"), "reported missing: {object:#}");
        assert_ne!(object["status"]["phase"], "Pending", "{object:#}");
    }
}

/// Every status field the probe derived is the controller's now, entry by entry for the
/// conditions (a list-map keyed by type). The plugin still co-owns what both wrote alike (the
/// phase, Ready's status), as apply has it, but none of what the probe wrote differently.
fn assert_status_owned_by_the_probe(cluster: &ExternalCluster) {
    // 1.20 API servers record no `subresource`: status entries are the ones under `f:status`.
    let managed = cluster.metadata.managed_fields.clone().unwrap_or_default();
    let on_status = |manager: &str| {
        managed
            .iter()
            .filter(|m| m.manager.as_deref() == Some(manager))
            .map(|m| serde_json::to_string(&m.fields_v1).unwrap())
            .filter(|fields| fields.contains("f:status"))
            .collect::<String>()
    };
    let probe = on_status("extcluster-controller");
    for field in [
        "f:phase",
        r#"k:{\"type\":\"Ready\"}"#,
        r#"k:{\"type\":\"IdentityVerified\"}"#,
    ] {
        assert!(
            probe.contains(field),
            "{field} not the probe's: {managed:#?}"
        );
    }
    let plugin = on_status("kubectl-extcluster");
    for field in ["f:message", "f:reason"] {
        assert!(
            !plugin.contains(field),
            "{field} still the plugin's: {managed:#?}"
        );
    }
}

fn exported(hub: &ControlPlane, namespace: &str) -> usize {
    let out = hub.kubectl(&[
        "get",
        "secrets",
        "-n",
        namespace,
        "-l",
        "extcluster.io/export",
    ]);
    out.stdout.lines().skip(1).count()
}

async fn until_exported(hub: &ControlPlane, count: usize, what: &str) {
    Wait::up_to(SETTLE, format!("{count} exported Secrets each: {what}"))
        .every(Duration::from_millis(300))
        .until(async || {
            let each = ["argocd", "flux-system"].map(|ns| exported(hub, ns));
            (each == [count, count]).then_some(())
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_follow_what_registrations_ask_and_another_clusters_identity_is_never_vouched_for()
{
    let (hub, ext) = hub::and_external("ext").await.unwrap();
    hub::install_publishing(&hub);
    let kubeconfig = std::fs::read_to_string(ext.kubeconfig()).unwrap();
    let uid = ext.kube_system_uid().await.unwrap();
    let mut all: Vec<_> = (0..14)
        .map(|i| registration(&format!("r-{i:02}"), &uid, &ext.server(), &kubeconfig))
        .collect();
    // Its kubeconfig reaches `ext`, whose kube-system UID is not the one it claims.
    all.push(registration("liar", "not-ext", &ext.server(), &kubeconfig));
    create_all(&hub, all).await;
    let mut flags = FAST.to_vec();
    flags.extend(["--export=argocd", "--export=flux"]);
    let c = ControllerProcess::start(&hub, "c1", &flags).await.unwrap();
    until_exported(&hub, 14, "all but the liar").await;

    let clusters: Api<ExternalCluster> = Api::all(hub.client().await.unwrap());
    let liar = Wait::up_to(SETTLE, "the liar's exports to say why")
        .every(Duration::from_millis(300))
        .until(async || {
            let s = clusters.get("liar").await.ok()?.status?;
            let refused = s
                .exports
                .iter()
                .filter(|e| e.kind != ExportKind::ClusterProfile);
            let said = refused
                .filter(|e| {
                    !e.ready
                        && e.message
                            .as_ref()
                            .is_some_and(|m| m.contains("another cluster"))
                })
                .count();
            (said == 2).then_some(s)
        })
        .await
        .unwrap();
    assert_eq!(liar.phase, Some(Phase::IdentityMismatch));
    // The API's rate guidance holds a profile's status updates 30 s apart.
    let profile = Wait::up_to(SETTLE, "the liar's profile to say it is not healthy")
        .every(Duration::from_millis(500))
        .until(async || {
            let args = [
                "get",
                "clusterprofiles.multicluster.x-k8s.io",
                "-n",
                INVENTORY,
                "liar",
            ];
            let mut args = args.to_vec();
            args.extend(["-o", "json"]);
            let profile: Value = serde_json::from_str(&hub.kubectl(&args).stdout).ok()?;
            let healthy = &profile["status"]["conditions"][0];
            (healthy["status"] == "False" && healthy["reason"] == "IdentityMismatch")
                .then_some(profile)
        })
        .await
        .unwrap();
    assert!(
        !profile["status"]["properties"]
            .to_string()
            .contains("not-ext"),
        "{profile:#}"
    );

    // Twelve registrations stop asking: most of what is published goes, and goes at once, since
    // the watch shows each registration asking no more.
    for i in 0..12 {
        let name = format!("r-{i:02}");
        assert!(
            hub.kubectl(&[
                "annotate",
                "externalcluster",
                &name,
                "extcluster.io/exports-"
            ])
            .ok()
        );
    }
    until_exported(&hub, 2, "twelve no longer asked for").await;
    // Twelve registrations deleted with nothing to collect what they owned: most of the profiles
    // are strays of registrations the watch no longer shows, deleted once the API server confirms.
    // One request (a delete of the collection), so the publisher sees them go in one pass even
    // on a loaded machine, as after a restore or a mistaken `kubectl delete -l`.
    for i in 0..12 {
        let name = format!("r-{i:02}");
        assert!(
            hub.kubectl(&["label", "externalcluster", &name, "batch=gone"])
                .ok()
        );
    }
    clusters
        .delete_collection(
            &kube::api::DeleteParams::default(),
            &kube::api::ListParams::default().labels("batch=gone"),
        )
        .await
        .unwrap();
    Wait::up_to(SETTLE, "the deleted registrations' profiles to go")
        .every(Duration::from_millis(300))
        .until(async || {
            let out = hub.kubectl(&[
                "get",
                "clusterprofiles.multicluster.x-k8s.io",
                "-n",
                INVENTORY,
                "--no-headers",
            ]);
            (out.stdout.lines().count() == 3).then_some(())
        })
        .await
        .unwrap();
    assert!(
        c.log()
            .contains("the API server was asked which registrations are gone"),
        "{}",
        c.log()
    );
    assert_eq!(
        c.metric("extcluster_controller_publish_deletes_held").await,
        Some(0.0),
        "a delete held, or no such metric"
    );
}
