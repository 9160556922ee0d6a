//! The registry published where other tools look for clusters, on a real hub with the controller
//! running as its ServiceAccount: a ClusterProfile per registration (used the way a consumer uses
//! one: real kubectl with the credential plugin), and
//! the Argo CD and Flux Secrets, checked against their documented formats and used with kubectl.
//! No Argo CD or Flux runs here.

use extcluster_tests::bins::workspace_bin;
use extcluster_tests::controller::{ControllerProcess, FAST};
use extcluster_tests::plugin::extcluster;
use extcluster_tests::{
    ControlPlane, Options, Steps, Wait, assert_contains, b64, hub, kubectl, path_str,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A hang guard for a loaded machine.
const SETTLE: Duration = Duration::from_secs(90);
const INVENTORY: &str = "extcluster-inventory";

/// `kubectl get ... -o json`, once it succeeds and `ok` holds.
async fn wait_json(
    hub: &ControlPlane,
    args: &[&str],
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["-o", "json"]);
    Wait::up_to(SETTLE, what)
        .every(Duration::from_millis(300))
        .until(async || {
            let out = hub.kubectl(&full);
            let v: Value = serde_json::from_str(&out.stdout).ok()?;
            ok(&v).then_some(v)
        })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{e}: kubectl {} says:\n{}",
                full.join(" "),
                hub.kubectl(&full).stdout
            )
        })
}

/// Waits until `kubectl get` finds nothing.
async fn wait_gone(hub: &ControlPlane, args: &[&str], what: &str) {
    Wait::up_to(SETTLE, what)
        .every(Duration::from_millis(300))
        .until(async || {
            let out = hub.kubectl(args);
            (!out.ok() && out.stderr.contains("NotFound")).then_some(())
        })
        .await
        .unwrap();
}

fn condition<'v>(profile: &'v Value, type_: &str) -> &'v Value {
    profile["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} condition: {profile:#}"))
}

fn property<'v>(profile: &'v Value, name: &str) -> &'v str {
    profile["status"]["properties"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .and_then(|p| p["value"].as_str())
        .unwrap_or_else(|| panic!("no property {name}: {profile:#}"))
}

fn secret_text(secret: &Value, key: &str) -> String {
    use base64::Engine;
    let data = secret["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no key {key}: {secret:#}"));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
    )
    .unwrap()
}

/// What a ClusterProfile consumer writes: the provider's cluster entry as the kubeconfig's
/// cluster, and the credential plugin (asking the hub through `hub_kubeconfig`) as its user.
fn consumer_kubeconfig(provider_cluster: &Value, hub_kubeconfig: &Path) -> String {
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "member",
        "clusters": [{"name": "member", "cluster": provider_cluster}],
        "contexts": [{"name": "member", "context": {"cluster": "member", "user": "member"}}],
        "users": [{"name": "member", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": workspace_bin("kubectl-extcluster").unwrap(),
            "args": ["credential", "--kubeconfig", hub_kubeconfig],
            "interactiveMode": "Never",
            "provideClusterInfo": true
        }}}]
    });
    kubeconfig.to_string()
}

/// A kubeconfig made from an Argo CD cluster Secret's `server` and `config`, as Argo CD reads them.
fn argocd_kubeconfig(server: &str, config: &Value) -> String {
    let tls = &config["tlsClientConfig"];
    let mut user = json!({});
    if let Some(token) = config["bearerToken"].as_str() {
        user["token"] = json!(token);
    } else {
        user["client-certificate-data"] = tls["certData"].clone();
        user["client-key-data"] = tls["keyData"].clone();
    }
    json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "argocd",
        "clusters": [{"name": "argocd", "cluster": {"server": server, "certificate-authority-data": tls["caData"]}}],
        "contexts": [{"name": "argocd", "context": {"cluster": "argocd", "user": "argocd"}}],
        "users": [{"name": "argocd", "user": user}]
    })
    .to_string()
}

fn reaches_kube_system(kubeconfig: &Path, how: &str) {
    let out = kubectl::run(
        kubeconfig,
        &["get", "namespace", "kube-system", "-o", "name"],
        None,
    );
    assert!(out.ok(), "kubectl {how}: {}", out.stderr);
    assert_eq!(out.stdout.trim(), "namespace/kube-system");
}

/// A hub kubeconfig for `user`, bound to ClusterRole `role` cluster-wide.
fn person(
    hub: &ControlPlane,
    dir: &tempfile::TempDir,
    user: &str,
    role: &str,
) -> std::path::PathBuf {
    let bind = [
        "create",
        "clusterrolebinding",
        user,
        &format!("--clusterrole={role}"),
        &format!("--user={user}"),
    ];
    assert!(hub.kubectl(&bind).ok());
    let path = dir.path().join(format!("{user}-hub"));
    hub.write_client_kubeconfig(&path, user, &[], time::Duration::days(1))
        .unwrap();
    path
}

async fn labelled_node(ext: &ControlPlane) {
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {
        "topology.kubernetes.io/region": "eu-west-1",
        "topology.kubernetes.io/zone": "eu-west-1a"
    }}});
    let out = ext.kubectl_stdin(&["create", "-f", "-"], &node.to_string());
    assert!(out.ok(), "{}", out.stderr);
}

/// `kubectl get` of the registration's ClusterProfile.
const GET_PROFILE: [&str; 5] = [
    "get",
    "clusterprofiles.v1alpha1.multicluster.x-k8s.io",
    "prod",
    "-n",
    INVENTORY,
];
const GET_ARGOCD: [&str; 5] = ["get", "secret", "extc-prod", "-n", "argocd"];
const GET_FLUX: [&str; 5] = ["get", "secret", "extc-prod", "-n", "flux-system"];

/// The external cluster `prod` imported on a hub that publishes to the inventory, Argo CD and Flux.
struct Published {
    hub: ControlPlane,
    ext: ControlPlane,
    controller: ControllerProcess,
    /// The hub's admin kubeconfig.
    hk: PathBuf,
    dir: tempfile::TempDir,
    /// The registration's cluster ID.
    uid: String,
}

async fn import_prod_exported_to_argocd_and_flux() -> Published {
    let (hub, ext) = tokio::join!(
        hub::start(),
        ControlPlane::start(Options::default().name("prod"))
    );
    let (hub, ext) = (hub.unwrap(), ext.unwrap());
    hub::install_publishing(&hub);
    let flags: Vec<&str> = FAST
        .iter()
        .copied()
        .chain(["--export=argocd", "--export=flux"])
        .collect();
    let controller = ControllerProcess::start(&hub, "c1", &flags).await.unwrap();
    labelled_node(&ext).await;
    let (hk, ek) = (hub.kubeconfig(), ext.kubeconfig());
    let import = [
        "import",
        "prod",
        "--from-kubeconfig",
        path_str(&ek),
        "--display-name",
        "Production",
        "--export",
        "argocd",
        "--export",
        "flux",
    ];
    extcluster(&hk, &import).success();
    let uid = hub
        .kubectl(&["get", "extc", "prod", "-o", "jsonpath={.spec.clusterID}"])
        .stdout;
    let dir = tempfile::tempdir().unwrap();
    Published {
        hub,
        ext,
        controller,
        hk,
        dir,
        uid,
    }
}

fn control_plane_healthy(status: &'static str) -> impl Fn(&Value) -> bool {
    move |p| {
        p["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "ControlPlaneHealthy" && c["status"] == status)
        })
    }
}

#[tokio::test]
async fn a_registration_is_published_to_the_inventory_argocd_and_flux_and_unpublished_with_it() {
    let mut p = import_prod_exported_to_argocd_and_flux().await;
    let mut step = Steps::start("the ClusterProfile, once the controller has probed the cluster");
    let profile = wait_json(
        &p.hub,
        &GET_PROFILE,
        "a healthy ClusterProfile",
        control_plane_healthy("True"),
    )
    .await;
    step.check(
        "the ClusterProfile names its manager, the cluster's version and properties",
        async { profile_names_manager_version_and_properties(&p, &profile) },
    )
    .await;
    step.check(
        "the ClusterProfile gives access to the cluster but holds no credential",
        async { profile_gives_access_without_credential(&p, &profile) },
    )
    .await;
    step.check(
        "a least-privileged consumer reaches the cluster through the ClusterProfile",
        a_consumer_reaches_the_cluster(&p),
    )
    .await;
    step.check(
        "Argo CD's cluster Secret is as documented, and its credentials work",
        argocd_secret_is_documented_and_works(&p),
    )
    .await;
    step.check("Flux's kubeconfig Secret works", flux_secret_works(&p))
        .await;
    step.check(
        "the registration says where it is published; describe shows it",
        exports_are_recorded_and_described(&p),
    )
    .await;
    step.check(
        "settled, the published objects stay as they are while probes go on",
        no_churn_once_settled(&p),
    )
    .await;
    step.next("new credentials on the hub: the Argo CD Secret follows, and still works");
    argocd_secret_follows_new_credentials(&p).await;
    step.next("no longer asking for Flux: its Secret goes, the others stay");
    dropping_flux_removes_only_its_secret(&p).await;
    step.next("the cluster goes down: the profile says so");
    p.ext.stop_apiserver();
    let down = wait_json(
        &p.hub,
        &GET_PROFILE,
        "ControlPlaneHealthy=False",
        control_plane_healthy("False"),
    )
    .await;
    assert_eq!(condition(&down, "Joined")["status"], "True");
    step.next("disconnected: everything published for it is gone");
    disconnect_unpublishes_everything(&p).await;
    step.finish();
}

fn profile_names_manager_version_and_properties(p: &Published, profile: &Value) {
    assert_eq!(
        profile["metadata"]["labels"]["x-k8s.io/cluster-manager"],
        "kubectl-extcluster"
    );
    assert!(
        profile["metadata"]["labels"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("multicluster.x-k8s.io/")),
        "a label upstream does not define: {profile:#}"
    );
    assert_eq!(
        profile["spec"]["clusterManager"]["name"],
        "kubectl-extcluster"
    );
    assert_eq!(profile["spec"]["displayName"], "Production");
    let observed = p
        .hub
        .kubectl(&[
            "get",
            "extc",
            "prod",
            "-o",
            "jsonpath={.status.observedVersion}",
        ])
        .stdout;
    assert!(observed.starts_with('v'), "{observed:?}");
    assert_eq!(
        profile["status"]["version"]["kubernetes"],
        observed.as_str()
    );
    assert_eq!(condition(profile, "Joined")["status"], "True");
    assert_eq!(property(profile, "cluster.clusterset.k8s.io"), p.uid);
    assert!(
        !profile.to_string().contains("\"id.k8s.io\""),
        "the cluster ID once, under KEP-2149's name"
    );
    assert_eq!(property(profile, "extcluster.io/mode"), "Import");
    assert_eq!(property(profile, "extcluster.io/region"), "eu-west-1");
    assert_eq!(property(profile, "extcluster.io/zones"), "eu-west-1a");
}

fn profile_gives_access_without_credential(p: &Published, profile: &Value) {
    let provider = &profile["status"]["accessProviders"][0];
    assert_eq!(provider["name"], "kubectl-extcluster");
    assert_eq!(provider["cluster"]["server"], p.ext.server().as_str());
    assert_eq!(
        provider["cluster"]["certificate-authority-data"],
        b64(p.ext.ca_pem()).as_str()
    );
    assert!(
        profile["status"]["credentialProviders"].is_null(),
        "the deprecated copy only with --credential-providers"
    );
    assert!(
        !profile.to_string().contains("token"),
        "no credential in a ClusterProfile"
    );
}

/// A consumer, as the least-privileged hub users: reads the profile with kubectl, writes the
/// provider's cluster entry and the credential plugin into a kubeconfig, and uses it. A hub user
/// who may read the inventory but not the stored Secret gets a refusal.
async fn a_consumer_reaches_the_cluster(p: &Published) {
    let (hub, dir) = (&p.hub, &p.dir);
    hub::apply(hub, "manifests/roles.yaml");
    let viewer = person(hub, dir, "viewer", "extcluster-viewer");
    let operator = person(hub, dir, "operator", "extcluster-operator");
    let bind = [
        "create",
        "rolebinding",
        "operator",
        "-n",
        "extcluster-system",
        "--role=extcluster-operator",
        "--user=operator",
    ];
    assert!(hub.kubectl(&bind).ok());
    let read = kubectl::run(&viewer, &[&GET_PROFILE[..], &["-o", "json"]].concat(), None).success();
    let read: Value = serde_json::from_str(&read.stdout).unwrap();
    let cluster = read["status"]["accessProviders"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "kubectl-extcluster"))
        .map(|p| p["cluster"].clone())
        .expect("the kubectl-extcluster access provider");
    let consumer = dir.path().join("consumer");
    std::fs::write(&consumer, consumer_kubeconfig(&cluster, &operator)).unwrap();
    reaches_kube_system(
        &consumer,
        "through the ClusterProfile and the credential plugin",
    );
    let refused = dir.path().join("refused");
    std::fs::write(&refused, consumer_kubeconfig(&cluster, &viewer)).unwrap();
    let out = kubectl::run(&refused, &["get", "namespace", "kube-system"], None);
    assert!(!out.ok());
    assert_contains(
        &out.stderr,
        "a credential needs get on that Secret on the hub",
    );
}

/// Argo CD's cluster Secret, as its declarative setup documents it.
async fn argocd_secret_is_documented_and_works(p: &Published) {
    let argocd = wait_json(&p.hub, &GET_ARGOCD, "the Argo CD Secret", |_| true).await;
    assert_eq!(
        argocd["metadata"]["labels"]["argocd.argoproj.io/secret-type"],
        "cluster"
    );
    assert_eq!(
        argocd["metadata"]["labels"]["extcluster.io/cluster-id"],
        p.uid.as_str(),
        "labels copied"
    );
    assert_eq!(
        argocd["metadata"]["ownerReferences"][0]["kind"],
        "ExternalCluster"
    );
    assert_eq!(secret_text(&argocd, "name"), "prod");
    assert_eq!(secret_text(&argocd, "server"), p.ext.server());
    let config: Value = serde_json::from_str(&secret_text(&argocd, "config")).unwrap();
    assert_eq!(
        config["tlsClientConfig"]["caData"],
        b64(p.ext.ca_pem()).as_str()
    );
    assert_eq!(config["tlsClientConfig"]["insecure"], false);
    let from_argocd = p.dir.path().join("argocd");
    std::fs::write(&from_argocd, argocd_kubeconfig(&p.ext.server(), &config)).unwrap();
    reaches_kube_system(&from_argocd, "with the Argo CD Secret's credentials");
}

/// Flux's kubeconfig Secret, under the key spec.kubeConfig.secretRef reads by default.
async fn flux_secret_works(p: &Published) {
    let flux = wait_json(&p.hub, &GET_FLUX, "the Flux Secret", |_| true).await;
    let from_flux = p.dir.path().join("flux");
    std::fs::write(&from_flux, secret_text(&flux, "value")).unwrap();
    reaches_kube_system(&from_flux, "with the Flux Secret's kubeconfig");
}

async fn exports_are_recorded_and_described(p: &Published) {
    let exports = wait_json(
        &p.hub,
        &["get", "extc", "prod"],
        "three ready exports",
        |c| {
            c["status"]["exports"]
                .as_array()
                .is_some_and(|e| e.len() == 3 && e.iter().all(|e| e["ready"] == true))
        },
    )
    .await;
    assert_eq!(
        exports["status"]["exports"][1]["namespace"], "argocd",
        "{exports:#}"
    );
    let described = extcluster(&p.hk, &["describe", "prod"]).success().stdout;
    assert_contains(&described, "Exports (asked: argocd,flux):");
    assert_contains(&described, "argocd/extc-prod");
}

/// Probes run every 2 s here: four rounds without a write, while the controller is shown to
/// probe and publish in that window (a stalled one would write nothing too).
async fn no_churn_once_settled(p: &Published) {
    let version = |args: &[&str]| {
        let mut full = args.to_vec();
        full.extend(["-o", "jsonpath={.metadata.resourceVersion}"]);
        p.hub.kubectl(&full).stdout
    };
    const PROBES: &str = "extcluster_controller_probe_duration_seconds_count";
    const PASSES: &str = "extcluster_controller_publish_passes_total";
    let active = async || {
        let c = &p.controller;
        (
            c.metric(PROBES).await.unwrap_or(0.0),
            c.metric(PASSES).await.unwrap_or(0.0),
        )
    };
    let before = (version(&GET_PROFILE), version(&GET_ARGOCD));
    let (probes, passes) = active().await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (probes_after, passes_after) = active().await;
    assert!(
        probes_after >= probes + 2.0 && passes_after > passes,
        "the controller was not at work in the window: probes {probes} -> {probes_after}, \
         publish passes {passes} -> {passes_after}"
    );
    assert_eq!(
        (version(&GET_PROFILE), version(&GET_ARGOCD)),
        before,
        "no churn"
    );
}

/// New credentials on the hub (set-credentials): the Argo CD Secret follows, and still works.
async fn argocd_secret_follows_new_credentials(p: &Published) {
    let argocd = wait_json(&p.hub, &GET_ARGOCD, "the Argo CD Secret", |_| true).await;
    let old_config = secret_text(&argocd, "config");
    let rotated = p.dir.path().join("rotated");
    p.ext
        .write_client_kubeconfig(
            &rotated,
            "rotated-admin",
            &["system:masters"],
            time::Duration::days(1),
        )
        .unwrap();
    let set = [
        "set-credentials",
        "prod",
        "--from-kubeconfig",
        path_str(&rotated),
    ];
    extcluster(&p.hk, &set).success();
    let renewed = wait_json(&p.hub, &GET_ARGOCD, "the Argo CD Secret renewed", |s| {
        s["data"]["config"].is_string() && secret_text(s, "config") != old_config
    })
    .await;
    let config: Value = serde_json::from_str(&secret_text(&renewed, "config")).unwrap();
    let from_argocd = p.dir.path().join("argocd-renewed");
    std::fs::write(&from_argocd, argocd_kubeconfig(&p.ext.server(), &config)).unwrap();
    reaches_kube_system(
        &from_argocd,
        "with the renewed Argo CD Secret's credentials",
    );
}

async fn dropping_flux_removes_only_its_secret(p: &Published) {
    extcluster(&p.hk, &["annotate", "prod", "--export", "argocd"]).success();
    wait_gone(&p.hub, &GET_FLUX, "the Flux Secret removed").await;
    assert!(p.hub.kubectl(&GET_ARGOCD).ok());
}

async fn disconnect_unpublishes_everything(p: &Published) {
    extcluster(&p.hk, &["disconnect", "prod", "--yes"]).success();
    wait_gone(&p.hub, &GET_PROFILE, "the ClusterProfile removed").await;
    wait_gone(&p.hub, &GET_ARGOCD, "the Argo CD Secret removed").await;
    let log = p.controller.log();
    assert!(!log.contains("cannot publish"), "{log}");
}

#[tokio::test]
async fn a_hub_that_has_not_opted_in_publishes_nothing_and_says_why() {
    let (hub, ext) = tokio::join!(
        hub::start(),
        ControlPlane::start(Options::default().name("dev"))
    );
    let (hub, ext) = (hub.unwrap(), ext.unwrap());
    let controller = ControllerProcess::start(&hub, "c1", FAST).await.unwrap();
    let hk = hub.kubeconfig();
    let ek = ext.kubeconfig();
    let import = [
        "import",
        "dev",
        "--from-kubeconfig",
        path_str(&ek),
        "--export",
        "argocd",
    ];
    extcluster(&hk, &import).success();
    let c = wait_json(
        &hub,
        &["get", "extc", "dev"],
        "the export recorded as not enabled",
        |c| c["status"]["exports"][0]["kind"] == "ArgoCD",
    )
    .await;
    let export = &c["status"]["exports"][0];
    assert_eq!(export["ready"], false);
    assert_contains(export["message"].as_str().unwrap(), "--export argocd");
    assert_contains(
        export["message"].as_str().unwrap(),
        "manifests/export-argocd",
    );
    assert_eq!(
        c["status"]["exports"].as_array().unwrap().len(),
        1,
        "no ClusterProfile without the API"
    );
    assert!(export.get("namespace").is_none(), "{export:#}");
    assert_contains(&controller.log(), "does not serve ClusterProfile");
    assert!(
        !controller.log().contains("cannot publish"),
        "{}",
        controller.log()
    );

    // Unknown tools are refused before anything is sent (the webhook's refusal is webhook_e2e's).
    let bad = extcluster(&hk, &["annotate", "dev", "--export", "rancher"]).failure();
    assert_contains(&bad.stderr, "use argocd or flux");
}
