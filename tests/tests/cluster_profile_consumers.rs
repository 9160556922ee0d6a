//! ClusterProfiles as their consumers use them, on a real hub with the controller running as its
//! ServiceAccount: a client built exactly as cluster-inventory-api's `pkg/access` builds one (a
//! provider file, the profile's access provider) reaching the cluster with real kubectl, from a
//! kubeconfig and from a Pod's in-cluster environment; a consumer's finalizer on disconnect; what
//! such consumers cannot verify; upstream's CRD applied over itself.

use extcluster_tests::bins::workspace_bin;
use extcluster_tests::controller::{ControllerProcess, FAST};
use extcluster_tests::plugin::extcluster;
use extcluster_tests::watch_events::Watching;
use extcluster_tests::{ControlPlane, Options, Output, Wait, assert_contains, hub, kubectl};
use extcluster_tests::{path_str, repo_root};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A hang guard for a loaded machine.
const SETTLE: Duration = Duration::from_secs(90);
const INVENTORY: &str = "extcluster-inventory";
const PROFILES: &str = "clusterprofiles.v1alpha1.multicluster.x-k8s.io";
const EXEC_EXTENSION: &str = "client.authentication.k8s.io/exec";
const ARGOCD_FINALIZER: &str = "argoproj.io/cluster-profile-finalizer";

/// A hub publishing profiles, with the controller started with `extra` flags, and cluster `prod`
/// imported from `ext` (with `register_extra` arguments).
async fn publishing(
    extra: &[&str],
    register_extra: &[&str],
) -> (ControlPlane, ControlPlane, ControllerProcess) {
    let (hub, ext) = tokio::join!(
        hub::start(),
        ControlPlane::start(Options::default().name("prod"))
    );
    let (hub, ext) = (hub.unwrap(), ext.unwrap());
    hub::install_publishing(&hub);
    let flags: Vec<&str> = FAST.iter().chain(extra).copied().collect();
    let controller = ControllerProcess::start(&hub, "c1", &flags).await.unwrap();
    import(&hub, &ext.kubeconfig(), "prod", register_extra);
    (hub, ext, controller)
}

fn import(hub: &ControlPlane, from: &Path, name: &str, extra: &[&str]) {
    let args = [
        &["import", name, "--from-kubeconfig", path_str(from)],
        extra,
    ]
    .concat();
    extcluster(&hub.kubeconfig(), &args).success();
}

/// The profile `name` once `ok` holds of it.
async fn profile_when(
    hub: &ControlPlane,
    name: &str,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let get = ["get", PROFILES, name, "-n", INVENTORY, "-o", "json"];
    Wait::up_to(SETTLE, what)
        .every(Duration::from_millis(300))
        .until(async || {
            let v: Value = serde_json::from_str(&hub.kubectl(&get).stdout).ok()?;
            ok(&v).then_some(v)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}: {}", hub.kubectl(&get).stdout))
}

async fn profile_gone(hub: &ControlPlane, name: &str, what: &str) {
    Wait::up_to(SETTLE, what)
        .every(Duration::from_millis(300))
        .until(async || {
            let out = hub.kubectl(&["get", PROFILES, name, "-n", INVENTORY]);
            out.stderr.contains("NotFound").then_some(())
        })
        .await
        .unwrap();
}

fn healthy(profile: &Value) -> bool {
    condition(profile, "ControlPlaneHealthy").is_some_and(|c| c["status"] == "True")
}

fn condition<'v>(profile: &'v Value, type_: &str) -> Option<&'v Value> {
    profile["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// The provider file a consumer loads with `access.NewFromFile`: our plugin, asking the hub as
/// whatever its environment gives it (no `--kubeconfig`).
fn provider_file() -> Value {
    json!({"providers": [{"name": "kubectl-extcluster", "execConfig": {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": workspace_bin("kubectl-extcluster").unwrap(),
        "args": ["credential"],
        "interactiveMode": "Never",
        "provideClusterInfo": true
    }}]})
}

/// What `BuildConfigFromCP(profile)` builds, written as a kubeconfig for kubectl: the access
/// provider (`credentialProviders`, then `accessProviders` of the same name) matching the first
/// provider in the file; of its cluster only the server, CA data and proxy URL, and the exec
/// extension as the plugin's cluster config; the provider's exec config, never interactive.
fn pkg_access_kubeconfig(providers: &Value, profile: &Value) -> String {
    let mut access = BTreeMap::new();
    for list in ["credentialProviders", "accessProviders"] {
        for p in profile["status"][list].as_array().into_iter().flatten() {
            access.insert(p["name"].as_str().unwrap().to_owned(), p["cluster"].clone());
        }
    }
    let (provider, from) = providers["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| Some((p, access.get(p["name"].as_str()?)?)))
        .unwrap_or_else(|| panic!("no matching access provider in {profile:#}"));
    let mut cluster = json!({"server": from["server"]});
    for kept in ["certificate-authority-data", "proxy-url"] {
        if !from[kept].is_null() {
            cluster[kept] = from[kept].clone();
        }
    }
    let exec: Vec<&Value> = from["extensions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["name"] == EXEC_EXTENSION)
        .collect();
    cluster["extensions"] = json!(exec);
    let mut user = provider["execConfig"].clone();
    user["interactiveMode"] = json!("Never");
    json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "member",
        "clusters": [{"name": "member", "cluster": cluster}],
        "contexts": [{"name": "member", "context": {"cluster": "member", "user": "member"}}],
        "users": [{"name": "member", "user": {"exec": user}}]
    })
    .to_string()
}

/// A hub ServiceAccount `apps/NAME` and a fresh token of it (TokenRequest), as a Pod gets one.
fn service_account(hub: &ControlPlane, name: &str) -> String {
    let _ = hub.kubectl(&["create", "namespace", "apps"]);
    assert!(
        hub.kubectl(&["create", "serviceaccount", name, "-n", "apps"])
            .ok()
    );
    let path = format!("/api/v1/namespaces/apps/serviceaccounts/{name}/token");
    let request = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600}});
    let out = hub.kubectl_stdin(&["create", "--raw", &path, "-f", "-"], &request.to_string());
    assert!(out.ok(), "TokenRequest: {}", out.stderr);
    let answer: Value = serde_json::from_str(&out.stdout).unwrap();
    answer["status"]["token"].as_str().unwrap().to_owned()
}

/// kubectl with `consumer` as its kubeconfig, run as a process in a Pod on the hub runs: no
/// kubeconfig for the hub (no KUBECONFIG, an empty home), the hub's address in
/// KUBERNETES_SERVICE_HOST/PORT, and the ServiceAccount's token, CA and namespace mounted at
/// /var/run/secrets/kubernetes.io/serviceaccount, in a mount namespace of its own (the host's
/// /run is untouched).
fn in_pod(hub: &ControlPlane, token: &str, dir: &Path, consumer: &Path, args: &[&str]) -> Output {
    let mounted = dir.join(format!("sa-{}", &token[token.len() - 8..]));
    std::fs::create_dir_all(&mounted).unwrap();
    std::fs::write(mounted.join("token"), token).unwrap();
    std::fs::write(mounted.join("ca.crt"), hub.ca_pem()).unwrap();
    std::fs::write(mounted.join("namespace"), "apps").unwrap();
    let home = dir.join("empty-home");
    std::fs::create_dir_all(&home).unwrap();
    let script = r#"mount -t tmpfs tmpfs /run && d=/run/secrets/kubernetes.io/serviceaccount &&
        mkdir -p "$d" && cp "$MOUNTED"/* "$d"/ && exec kubectl --kubeconfig "$CONSUMER" "$@""#;
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--user",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        script,
        "sh",
    ])
    .args(args)
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap())
    .env("HOME", &home)
    .env("MOUNTED", &mounted)
    .env("CONSUMER", consumer)
    .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    .env("KUBERNETES_SERVICE_PORT", hub.port().to_string());
    kubectl::run_with(&mut cmd, None)
}

#[tokio::test]
async fn a_consumer_built_as_pkg_access_builds_one_reaches_the_cluster_from_a_kubeconfig_and_a_pod()
{
    let (hub, _ext, _controller) = publishing(&["--credential-providers"], &[]).await;
    let profile = profile_when(&hub, "prod", "a healthy profile", healthy).await;
    assert_eq!(
        profile["status"]["credentialProviders"], profile["status"]["accessProviders"],
        "--credential-providers writes the deprecated copy, the same"
    );
    let dir = tempfile::tempdir().unwrap();
    let consumer = dir.path().join("consumer");
    std::fs::write(&consumer, pkg_access_kubeconfig(&provider_file(), &profile)).unwrap();

    // From a workstation: the plugin asks the hub through the kubeconfig its environment names.
    let out = kubectl::run_with(
        Command::new("kubectl")
            .args([
                "--kubeconfig",
                path_str(&consumer),
                "get",
                "namespace",
                "kube-system",
                "-o",
                "name",
            ])
            .env("KUBECONFIG", hub.kubeconfig())
            // An empty home: no ~/.kube/config to fall back on, and kubectl's cache out of the
            // working tree.
            .env("HOME", dir.path()),
        None,
    )
    .success();
    assert_eq!(out.stdout.trim(), "namespace/kube-system");

    // From a Pod: the account needs what the README names (viewer, and get on the one Secret).
    hub::apply(&hub, "manifests/roles.yaml");
    let token = service_account(&hub, "consumer");
    let grants: [&[&str]; 3] = [
        &[
            "create",
            "clusterrolebinding",
            "consumer-viewer",
            "--clusterrole=extcluster-viewer",
            "--serviceaccount=apps:consumer",
        ],
        &[
            "create",
            "role",
            "reach-prod",
            "-n",
            "extcluster-system",
            "--verb=get",
            "--resource=secrets",
            "--resource-name=prod-kubeconfig",
        ],
        &[
            "create",
            "rolebinding",
            "reach-prod",
            "-n",
            "extcluster-system",
            "--role=reach-prod",
            "--serviceaccount=apps:consumer",
        ],
    ];
    for grant in grants {
        let out = hub.kubectl(grant);
        assert!(out.ok(), "{grant:?}: {}", out.stderr);
    }
    let reach = [
        "get",
        "namespace",
        "kube-system",
        "-o",
        "name",
        "--request-timeout=60s",
    ];
    let out = in_pod(&hub, &token, dir.path(), &consumer, &reach);
    assert!(out.ok(), "from a Pod: {}", out.stderr);
    assert_eq!(out.stdout.trim(), "namespace/kube-system");

    // Another Pod's account, which may read the inventory but not the stored Secret: refused,
    // in one sentence that says what is missing.
    let stranger = service_account(&hub, "stranger");
    let viewer = [
        "create",
        "clusterrolebinding",
        "stranger-viewer",
        "--clusterrole=extcluster-viewer",
        "--serviceaccount=apps:stranger",
    ];
    assert!(hub.kubectl(&viewer).ok());
    let out = in_pod(&hub, &stranger, dir.path(), &consumer, &reach);
    assert!(!out.ok(), "{}", out.stdout);
    assert_contains(
        &out.stderr,
        "a credential needs get on that Secret on the hub",
    );
    assert!(!out.stderr.contains(&stranger), "no token in what it says");
}

/// The events the watch saw of profile `name`, each as (type, has a deletionTimestamp).
fn events_of(watch: &Watching, name: &str) -> Vec<(String, bool)> {
    watch
        .events()
        .into_iter()
        .filter(|(_, o)| o["metadata"]["name"] == name)
        .map(|(kind, o)| (kind, !o["metadata"]["deletionTimestamp"].is_null()))
        .collect()
}

#[tokio::test]
async fn a_profile_a_consumer_holds_is_deleted_once_on_disconnect_and_goes_when_let_go() {
    let (hub, _ext, controller) = publishing(&[], &[]).await;
    profile_when(&hub, "prod", "a healthy profile", healthy).await;
    let dir = tempfile::tempdir().unwrap();
    let watch = Watching::start(&hub, dir.path(), &[PROFILES, "-n", INVENTORY]);
    // Argo CD's ClusterProfile integration holds each profile it syncs with its finalizer.
    let hold = json!({"metadata": {"finalizers": [ARGOCD_FINALIZER]}}).to_string();
    let patch = [
        "patch",
        PROFILES,
        "prod",
        "-n",
        INVENTORY,
        "--type=merge",
        "-p",
        &hold,
    ];
    assert!(hub.kubectl(&patch).ok());

    let out = extcluster(&hub.kubeconfig(), &["disconnect", "prod", "--yes"]).success();
    assert_contains(
        &out.stdout,
        &format!("stays until its consumer removes finalizer {ARGOCD_FINALIZER}"),
    );
    // Once the watch itself has shown the mark: what it shows later is what came after.
    let marked = Wait::up_to(SETTLE, "the watch showing the profile marked for deletion")
        .every(Duration::from_millis(300))
        .until(async || {
            let events = events_of(&watch, "prod");
            events
                .iter()
                .any(|(_, deleting)| *deleting)
                .then_some(events)
        })
        .await
        .unwrap();
    let passes = "extcluster_controller_publish_passes";
    let passes_before = controller.metric(passes).await.unwrap_or(0.0);

    // 15 s in which the publisher is at work (it publishes another registration) and leaves the
    // held profile alone.
    let other = extcluster_tests::cluster_yaml("other", "other-id", "v1.30.0", &[]);
    assert!(hub.kubectl_stdin(&["create", "-f", "-"], &other).ok());
    let waited = std::time::Instant::now();
    profile_when(
        &hub,
        "other",
        "another registration published meanwhile",
        |_| true,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(15).saturating_sub(waited.elapsed())).await;
    assert!(
        controller.metric(passes).await.unwrap_or(0.0) > passes_before,
        "the publisher made passes in the window"
    );
    assert_eq!(
        events_of(&watch, "prod"),
        marked,
        "no write to the held profile in 15 s"
    );
    assert_eq!(
        marked
            .iter()
            .filter(|(kind, deleting)| kind == "MODIFIED" && *deleting)
            .count(),
        1,
        "deleted once: {marked:?}"
    );

    // The consumer lets go: the profile goes, and nothing makes it again.
    let release = [
        "patch",
        PROFILES,
        "prod",
        "-n",
        INVENTORY,
        "--type=json",
        "-p",
        r#"[{"op": "remove", "path": "/metadata/finalizers"}]"#,
    ];
    assert!(hub.kubectl(&release).ok());
    profile_gone(&hub, "prod", "the profile gone once let go").await;
    assert!(hub.kubectl(&["delete", "extc", "other"]).ok());
    profile_gone(&hub, "other", "another pass: the other profile removed").await;
    let all = events_of(&watch, "prod");
    assert_eq!(
        all.iter().filter(|(kind, _)| kind == "ADDED").count(),
        1,
        "{all:?}"
    );
    assert_eq!(
        all.last().map(|(kind, _)| kind.as_str()),
        Some("DELETED"),
        "{all:?}"
    );
    assert!(
        !controller.log().contains("cannot publish"),
        "{}",
        controller.log()
    );
}

/// `ext`'s kubeconfig, verifying the server under another name the certificate has.
fn kubeconfig_with_server_name(
    ext: &ControlPlane,
    dir: &Path,
    server_name: &str,
) -> std::path::PathBuf {
    let view = ["config", "view", "--raw", "-o", "json"];
    let mut kc: Value = serde_json::from_str(
        &kubectl::run(&ext.kubeconfig(), &view, None)
            .success()
            .stdout,
    )
    .unwrap();
    for c in kc["clusters"].as_array_mut().unwrap() {
        c["cluster"]["tls-server-name"] = json!(server_name);
    }
    let path = dir.join("server-name.kubeconfig");
    std::fs::write(&path, kc.to_string()).unwrap();
    path
}

#[tokio::test]
async fn what_consumers_cannot_verify_is_said_and_health_needs_the_last_probe_answered() {
    let (hub, ext) = tokio::join!(
        hub::start(),
        ControlPlane::start(Options::default().name("named"))
    );
    let (hub, mut ext) = (hub.unwrap(), ext.unwrap());
    hub::install_publishing(&hub);
    // Far from Unreachable: what the profile shows after a failed probe is its own rule.
    let flags: Vec<&str> = FAST
        .iter()
        .map(|f| {
            if f.starts_with("--unreachable-after") {
                "--unreachable-after=1000"
            } else {
                f
            }
        })
        .collect();
    let _controller = ControllerProcess::start(&hub, "c1", &flags).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let named = kubeconfig_with_server_name(&ext, dir.path(), "localhost");
    import(&hub, &named, "named", &[]);
    profile_when(&hub, "named", "a healthy profile", healthy).await;

    let said = Wait::up_to(SETTLE, "status.exports on the server name")
        .every(Duration::from_millis(300))
        .until(async || {
            let out = hub.kubectl(&["get", "extc", "named", "-o", "json"]);
            let c: Value = serde_json::from_str(&out.stdout).ok()?;
            let profile = c["status"]["exports"]
                .as_array()?
                .iter()
                .find(|e| e["kind"] == "ClusterProfile")?
                .clone();
            (profile["message"].is_string() && profile["ready"] == true).then_some(profile)
        })
        .await
        .unwrap();
    let message = said["message"].as_str().unwrap();
    assert_contains(message, "ignore tls-server-name");
    assert_contains(message, "\"127.0.0.1\", not \"localhost\"");
    let described = extcluster(&hub.kubeconfig(), &["describe", "named"])
        .success()
        .stdout;
    assert_contains(&described, "ignore tls-server-name");

    // One probe without an answer: still Ready, but the profile no longer says healthy.
    ext.stop_apiserver();
    let unknown = profile_when(&hub, "named", "ControlPlaneHealthy Unknown", |p| {
        condition(p, "ControlPlaneHealthy").is_some_and(|c| c["status"] == "Unknown")
    })
    .await;
    assert_eq!(
        condition(&unknown, "ControlPlaneHealthy").unwrap()["reason"],
        "ProbeFailed"
    );
    let ready = hub.kubectl(&["get", "extc", "named", "-o",
        r#"jsonpath={.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}"#]);
    assert_eq!(ready.stdout, "True/ProbeFailing");
    ext.start_apiserver().await.unwrap();
    profile_when(&hub, "named", "healthy once it answers again", healthy).await;
}

/// On a hub that already has upstream's CRD (installed as upstream's README installs it),
/// applying ours is a no-op. The dry run is client-side apply's: an API server before 1.25 (ours
/// is 1.20) refuses a server-side apply of any schema with a CEL rule ("x-kubernetes-validations:
/// field not declared in schema"), which is why the README says `kubectl apply --validate=false`
/// there; the server-side dry run is checked where the API server knows CEL.
#[tokio::test]
async fn applying_our_component_over_upstreams_crd_changes_nothing() {
    let hub = hub::start().await.unwrap();
    let crd = repo_root().join("manifests/cluster-profile/crd.yaml");
    let out = hub.kubectl(&["apply", "--validate=false", "-f", path_str(&crd)]);
    assert!(out.ok(), "{}", out.stderr);
    let established = [
        "wait",
        "--for=condition=Established",
        "crd/clusterprofiles.multicluster.x-k8s.io",
    ];
    assert!(hub.kubectl(&established).ok());
    let before = hub.kubectl(&[
        "get",
        "crd",
        "clusterprofiles.multicluster.x-k8s.io",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    let diff = hub.kubectl(&["diff", "-f", path_str(&crd)]);
    assert_eq!(
        diff.code, 0,
        "the dry run shows a difference:\n{}\n{}",
        diff.stdout, diff.stderr
    );
    assert!(diff.stdout.is_empty(), "{}", diff.stdout);
    // kubectl says "configured" (its patch carries the CEL rule the API server dropped), and the
    // API server writes nothing.
    assert!(
        hub.kubectl(&["apply", "--validate=false", "-f", path_str(&crd)])
            .ok()
    );
    let after = hub.kubectl(&[
        "get",
        "crd",
        "clusterprofiles.multicluster.x-k8s.io",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    assert_eq!(before.stdout, after.stdout, "no write");
    let server_side = hub.kubectl(&[
        "apply",
        "--server-side",
        "--dry-run=server",
        "-f",
        path_str(&crd),
    ]);
    assert_contains(&server_side.stderr, "x-kubernetes-validations");
}
