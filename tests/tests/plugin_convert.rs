//! `kubectl extcluster convert-kubeconfig`, `register --convert`, `disconnect --cleanup-remote`,
//! `annotate` and `capabilities`, run by the real kubectl through its plugin discovery against
//! real control planes. The "SSO" login is an exec credential plugin: a script printing an
//! ExecCredential with a token the API server accepts for a cluster admin.

use base64::Engine;
use extcluster_core::ExternalCluster;
use extcluster_core::api::SYSTEM_NAMESPACE;
use extcluster_tests::control_plane::User;
use extcluster_tests::hub::registrations;
use extcluster_tests::path_str as path;
use extcluster_tests::plugin::{extcluster, final_error_line as one_line_error};
use extcluster_tests::{
    ControlPlane, Options, Output, Steps, Wait, assert_contains, cluster_yaml, hub, kubectl,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod, Secret, ServiceAccount};
use k8s_openapi::api::networking::v1::IngressClass;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SA: &str = "extcluster-manager";
const MANAGED: &str = "app.kubernetes.io/managed-by";

// ---------------------------------------------------------------------------------------------
// Fixtures.

async fn start_external(name: &str, controller_manager: bool) -> ControlPlane {
    let mut opts = Options::default().name(name);
    if controller_manager {
        opts = opts.controller_manager();
    }
    ControlPlane::start(opts).await.expect("external starts")
}

fn write_script(file: &Path, body: &str) {
    std::fs::write(file, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn exec_credential(token: &str, expiry: Option<&str>) -> String {
    let mut status = json!({"token": token});
    if let Some(e) = expiry {
        status["expirationTimestamp"] = json!(e);
    }
    json!({
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": status
    })
    .to_string()
}

/// A kubeconfig for `cp` whose user logs in with an exec plugin that hands out the SSO token,
/// as `aws eks get-token` or `kubelogin` would.
fn sso_kubeconfig(cp: &ControlPlane, dir: &Path) -> PathBuf {
    let script = dir.join(format!("{}-sso-login", cp.name()));
    write_script(
        &script,
        &format!(
            "cat <<'EOF'\n{}\nEOF\n",
            exec_credential(cp.sso_token(), None)
        ),
    );
    let kc = dir.join(format!("{}-sso.kubeconfig", cp.name()));
    cp.write_kubeconfig(
        &kc,
        &User::Exec {
            command: path(&script).to_owned(),
            args: vec![],
        },
    )
    .unwrap();
    kc
}

fn read_kubeconfig(file: &Path) -> Value {
    let text = std::fs::read_to_string(file).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

fn token_in(kc: &Value, context: &str) -> String {
    let ctx = kc["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == context)
        .unwrap_or_else(|| panic!("no context {context} in {kc}"));
    let user = ctx["context"]["user"].as_str().unwrap();
    let entry = kc["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == user)
        .unwrap();
    entry["user"]["token"].as_str().unwrap().to_owned()
}

fn mode_of(file: &Path) -> u32 {
    std::fs::metadata(file).unwrap().permissions().mode() & 0o777
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `kubectl --kubeconfig FILE get namespaces`, retried while the API server's caches catch up
/// with a new token, until it answers as `want_ok` says.
async fn namespaces_with(file: &Path, want_ok: bool) -> Output {
    let mut last = None;
    let settled = Wait::up_to(Duration::from_secs(45), "kubectl get namespaces to settle")
        .every(Duration::from_millis(250))
        .until(async || {
            let out = kubectl::run(file, &["get", "namespaces", "-o", "name"], None);
            if out.ok() == want_ok {
                return Some(out);
            }
            last = Some(out);
            None
        })
        .await;
    // Past the limit, the last answer goes back to the caller, whose assertion shows it.
    settled.unwrap_or_else(|_| last.expect("kubectl ran at least once"))
}

/// Waits until `kubectl auth can-i create configmaps` with `file` answers `want` (RBAC changes
/// reach the authorizer's cache after a moment).
async fn can_create_configmaps(file: &Path, want: &str) {
    let mut last = None;
    let answered = Wait::up_to(Duration::from_secs(30), format!("can-i to answer {want:?}"))
        .every(Duration::from_millis(250))
        .until(async || {
            let answer = kubectl::run(file, &["auth", "can-i", "create", "configmaps"], None);
            let done = answer.stdout.trim() == want;
            last = Some(answer);
            done.then_some(())
        })
        .await;
    if let Err(timeout) = answered {
        panic!("{timeout}: {last:?}");
    }
}

/// Waits until the hub's login script has paused a writer between its read and its write.
async fn wait_paused(state: &Path) {
    Wait::up_to(
        Duration::from_secs(60),
        "the first writer to pause before its write",
    )
    .until(async || state.join("paused").exists().then_some(()))
    .await
    .unwrap();
}

/// A kubeconfig for `cp` with a plain token user.
fn token_kubeconfig(cp: &ControlPlane, dir: &Path, file: &str, token: &str) -> PathBuf {
    let kc = dir.join(file);
    cp.write_kubeconfig(&kc, &User::Token(token.to_owned()))
        .unwrap();
    kc
}

async fn version_of<K>(api: &Api<K>, name: &str) -> Option<String>
where
    K: kube::Resource + Clone + k8s_openapi::serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name)
        .await
        .unwrap()
        .map(|o| o.meta().resource_version.clone().unwrap_or_default())
}

async fn wait_until_gone<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + k8s_openapi::serde::de::DeserializeOwned + std::fmt::Debug,
{
    Wait::up_to(Duration::from_secs(60), format!("{name} to be gone"))
        .every(Duration::from_millis(200))
        .until(async || api.get_opt(name).await.unwrap().is_none().then_some(()))
        .await
        .unwrap();
}

async fn annotations(hub: &ControlPlane, name: &str) -> std::collections::BTreeMap<String, String> {
    Api::<ExternalCluster>::all(hub.client().await.unwrap())
        .get(name)
        .await
        .unwrap()
        .metadata
        .annotations
        .unwrap_or_default()
}

fn key(cap: &str) -> String {
    format!("capabilities.extcluster.io/{cap}")
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn convert_from_exec_login_is_usable_idempotent_and_rotatable() {
    let (hub, ext) = tokio::join!(hub::start(), start_external("eks", true));
    let hub = hub.unwrap();
    let hk = hub.kubeconfig();
    let dir = tempfile::tempdir().unwrap();
    let sso = sso_kubeconfig(&ext, dir.path());
    let out_file = dir.path().join("eks-token.kubeconfig");
    let mut step = Steps::start("convert-kubeconfig from an exec login");

    let out = extcluster(
        &hk,
        &[
            "convert-kubeconfig",
            "--from-kubeconfig",
            path(&sso),
            "-o",
            path(&out_file),
        ],
    )
    .success();
    for want in [
        "serviceaccount/extcluster-manager created",
        "clusterrolebinding.rbac.authorization.k8s.io/extcluster-manager created",
        "secret/extcluster-manager-token created",
        "credentials checked",
    ] {
        assert_contains(&out.stderr, want);
    }
    assert_contains(&out.stdout, "mode 0600");
    assert_eq!(mode_of(&out_file), 0o600);

    step.next("the file: same server, CA embedded, a token user");
    // Same server, CA embedded, one context with a token user; the token is never printed.
    let kc = read_kubeconfig(&out_file);
    assert_eq!(kc["current-context"], "eks");
    assert_eq!(
        kc["clusters"][0]["cluster"]["server"],
        ext.server().as_str()
    );
    let ca = base64::engine::general_purpose::STANDARD.encode(ext.ca_pem());
    assert_eq!(
        kc["clusters"][0]["cluster"]["certificate-authority-data"],
        ca.as_str()
    );
    assert!(kc["users"][0]["user"].get("exec").is_none());
    let token = token_in(&kc, "eks");
    assert!(!out.stdout.contains(&token) && !out.stderr.contains(&token));
    let claims = jwt_claims(&token);
    assert_eq!(
        claims["kubernetes.io/serviceaccount/service-account.name"],
        SA
    );

    step.next("plain kubectl can use it");
    let ns = namespaces_with(&out_file, true).await.success();
    assert_contains(&ns.stdout, "namespace/kube-system");

    step.next("what it made in the cluster: labelled, owned by the binding");
    let client = ext.client().await.unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "kube-system");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
    let crbs: Api<ClusterRoleBinding> = Api::all(client.clone());
    let binding = crbs.get(SA).await.unwrap();
    assert_eq!(binding.role_ref.name, "cluster-admin");
    assert_eq!(
        binding.metadata.labels.as_ref().unwrap()[MANAGED],
        "kubectl-extcluster"
    );
    let binding_uid = binding.metadata.uid.clone().unwrap();
    let sa = sas.get(SA).await.unwrap();
    assert_eq!(
        sa.metadata.labels.as_ref().unwrap()[MANAGED],
        "kubectl-extcluster"
    );
    assert_eq!(
        sa.metadata.owner_references.as_ref().unwrap()[0].uid,
        binding_uid
    );
    let secret = secrets.get("extcluster-manager-token").await.unwrap();
    assert_eq!(
        secret.type_.as_deref(),
        Some("kubernetes.io/service-account-token")
    );
    assert_eq!(
        secret.metadata.owner_references.as_ref().unwrap()[0].uid,
        binding_uid
    );

    step.next("twice: nothing changes, not even the token");
    let before = (
        version_of(&sas, SA).await,
        version_of(&crbs, SA).await,
        version_of(&secrets, "extcluster-manager-token").await,
        std::fs::read_to_string(&out_file).unwrap(),
    );
    let again = extcluster(
        &hk,
        &[
            "convert-kubeconfig",
            "--from-kubeconfig",
            path(&sso),
            "-o",
            path(&out_file),
        ],
    )
    .success();
    assert_contains(&again.stderr, "serviceaccount/extcluster-manager unchanged");
    assert_contains(&again.stderr, "extcluster-manager unchanged");
    let after = (
        version_of(&sas, SA).await,
        version_of(&crbs, SA).await,
        version_of(&secrets, "extcluster-manager-token").await,
        std::fs::read_to_string(&out_file).unwrap(),
    );
    assert_eq!(before, after, "a second run changes nothing");

    step.next("register accepts the file");
    let reg = extcluster(
        &hk,
        &[
            "register",
            "eks",
            "--from-kubeconfig",
            path(&out_file),
            "--mode",
            "import",
        ],
    )
    .success();
    assert_contains(&reg.stdout, "registered (Import");

    step.next("--rotate: a new token works, the old one is refused");
    let old = token_kubeconfig(&ext, dir.path(), "old.kubeconfig", &token);
    let rotated_file = dir.path().join("rotated.kubeconfig");
    let rot = extcluster(
        &hk,
        &[
            "convert-kubeconfig",
            "--from-kubeconfig",
            path(&sso),
            "--rotate",
            "-o",
            path(&rotated_file),
        ],
    )
    .success();
    // A new Secret under a new name (a legacy token re-made under the same name can be the very
    // same token), the old one deleted.
    assert_contains(
        &rot.stderr,
        "secret/extcluster-manager-token → secret/extcluster-manager-token-",
    );
    let new_token = token_in(&read_kubeconfig(&rotated_file), "eks");
    assert_ne!(new_token, token);
    let listed = secrets.list(&Default::default()).await.unwrap().items;
    let names: Vec<String> = listed
        .iter()
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    assert!(
        !names.contains(&"extcluster-manager-token".to_owned()),
        "{names:?}"
    );
    let holder = listed.iter().filter(|s| {
        s.data
            .as_ref()
            .and_then(|d| d.get("token"))
            .is_some_and(|t| t.0 == new_token.as_bytes())
    });
    assert_eq!(holder.count(), 1, "the new token's Secret: {names:?}");
    namespaces_with(&rotated_file, true).await.success();
    let refused = namespaces_with(&old, false).await.failure();
    assert!(
        refused.stderr.contains("Unauthorized") || refused.stderr.contains("401"),
        "{}",
        refused.stderr
    );

    step.next("a failing login says so on one line");
    // A login that fails says so on one line, with the plugin's own last words (never stdout).
    let broken = dir.path().join("broken-login");
    write_script(
        &broken,
        "echo '{\"status\":{\"token\":\"leaked-if-printed\"}}'\necho 'token expired: run aws sso login' >&2\nexit 1\n",
    );
    let broken_kc = dir.path().join("broken.kubeconfig");
    ext.write_kubeconfig(
        &broken_kc,
        &User::Exec {
            command: path(&broken).to_owned(),
            args: vec![],
        },
    )
    .unwrap();
    let err = one_line_error(
        extcluster(
            &hk,
            &["convert-kubeconfig", "--from-kubeconfig", path(&broken_kc)],
        ),
        &["exec credential plugin broken-login", "run aws sso login"],
    );
    assert!(!err.contains("leaked-if-printed"), "{err}");
}

#[tokio::test]
async fn read_only_credentials_list_but_cannot_write_and_each_access_level_has_its_own_account() {
    let (hub, ext) = tokio::join!(hub::start(), start_external("gke", true));
    let hub = hub.unwrap();
    let hk = hub.kubeconfig();
    let dir = tempfile::tempdir().unwrap();
    let sso = sso_kubeconfig(&ext, dir.path());
    let ro = dir.path().join("ro.kubeconfig");

    let convert_read_only = |out: &str| {
        let args = [
            "convert-kubeconfig",
            "--from-kubeconfig",
            path(&sso),
            "--access",
            "read-only",
            "-o",
            out,
        ];
        extcluster(&hk, &args).success()
    };
    let out = convert_read_only(path(&ro));
    assert_contains(&out.stderr, "serviceaccount/extcluster-reader created");
    assert_contains(
        &out.stderr,
        "clusterrole.rbac.authorization.k8s.io/extcluster-reader-read-only created",
    );
    let client = ext.client().await.unwrap();
    let role: ClusterRole = Api::all(client.clone())
        .get("extcluster-reader-read-only")
        .await
        .unwrap();
    let rules = serde_json::to_value(role.rules.unwrap()).unwrap();
    assert_eq!(
        rules,
        json!([
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]},
            {"nonResourceURLs": ["*"], "verbs": ["get"]}
        ])
    );

    namespaces_with(&ro, true).await.success();
    // `-o -` is standard output, not a file named "-".
    let printed = convert_read_only("-");
    assert_contains(&printed.stdout, "kind: Config");
    assert!(!Path::new("-").exists(), "a file named - was written");
    let can = |args: &[&str]| {
        let mut all = vec!["auth", "can-i"];
        all.extend_from_slice(args);
        kubectl::run(&ro, &all, None).stdout.trim().to_owned()
    };
    assert_eq!(can(&["list", "pods", "--all-namespaces"]), "yes");
    assert_eq!(can(&["watch", "deployments.apps", "-A"]), "yes");
    assert_eq!(can(&["create", "configmaps", "-n", "default"]), "no");
    assert_eq!(can(&["delete", "namespaces"]), "no");
    assert_eq!(can(&["update", "nodes"]), "no");
    // And for real: a create and a delete are forbidden.
    let create = kubectl::run(&ro, &["create", "configmap", "x", "-n", "default"], None).failure();
    assert_contains(&create.stderr, "forbidden");
    let delete = kubectl::run(&ro, &["delete", "namespace", "default"], None).failure();
    assert_contains(&delete.stderr, "forbidden");
    kubectl::run(&ro, &["get", "clusterroles", "-o", "name"], None).success();

    // register accepts it for Connect, refuses it for Import.
    extcluster(&hk, &["connect", "gke", "--from-kubeconfig", path(&ro)]).success();
    // describe says whose credentials the hub holds.
    let described = extcluster(&hk, &["describe", "gke"]).success().stdout;
    assert_contains(&described, "serviceaccount kube-system/extcluster-reader");

    // Full access comes from another account: the read-only one keeps exactly its rights.
    let full = dir.path().join("full.kubeconfig");
    let out = extcluster(
        &hk,
        &[
            "convert-kubeconfig",
            "--from-kubeconfig",
            path(&sso),
            "-o",
            path(&full),
        ],
    )
    .success();
    assert_contains(&out.stderr, "serviceaccount/extcluster-manager created");
    assert!(!out.stderr.contains("deleted"), "{}", out.stderr);
    can_create_configmaps(&full, "yes").await;
    can_create_configmaps(&ro, "no").await;
    // Converting read-only again leaves the full account's token as it was (it used to lose
    // its binding), and the other way round.
    convert_read_only(path(&ro));
    can_create_configmaps(&full, "yes").await;
    can_create_configmaps(&ro, "no").await;
    // Naming the full account for read-only access is refused, and changes nothing.
    let refused = extcluster(
        &hk,
        &[
            "convert-kubeconfig",
            "--from-kubeconfig",
            path(&sso),
            "--access",
            "read-only",
            "--service-account",
            SA,
            "-o",
            path(&dir.path().join("never.kubeconfig")),
        ],
    );
    one_line_error(
        refused,
        &[
            "serviceaccount/extcluster-manager",
            "already has full access",
            "--service-account NAME",
            "extcluster-reader",
        ],
    );
    assert!(!dir.path().join("never.kubeconfig").exists());
    can_create_configmaps(&full, "yes").await;
    let crbs: Api<ClusterRoleBinding> = Api::all(client.clone());
    assert!(
        crbs.get_opt("extcluster-manager-read-only")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn bound_tokens_expire_after_the_duration_and_rotate_by_recreating_the_account() {
    // TokenRequest is served by the API server itself: no controller-manager needed.
    let (hub, ext) = tokio::join!(hub::start(), start_external("aks", false));
    let hub = hub.unwrap();
    let hk = hub.kubeconfig();
    let dir = tempfile::tempdir().unwrap();
    let sso = sso_kubeconfig(&ext, dir.path());

    // Durations are checked before anything is sent.
    one_line_error(
        extcluster(
            &hk,
            &[
                "convert-kubeconfig",
                "--from-kubeconfig",
                path(&sso),
                "--token",
                "bound",
                "--duration",
                "5m",
            ],
        ),
        &["5m0s", "10m"],
    );
    one_line_error(
        extcluster(
            &hk,
            &[
                "convert-kubeconfig",
                "--from-kubeconfig",
                path(&sso),
                "--duration",
                "1h",
            ],
        ),
        &["--token bound"],
    );
    one_line_error(
        extcluster(
            &hk,
            &[
                "convert-kubeconfig",
                "--from-kubeconfig",
                path(&sso),
                "--token",
                "bound",
                "--duration",
                "10days",
            ],
        ),
        &["not a duration", "8760h"],
    );
    let client = ext.client().await.unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "kube-system");
    assert!(sas.get_opt(SA).await.unwrap().is_none(), "nothing was made");

    // Without -o the kubeconfig goes to stdout, the progress to stderr.
    let out = extcluster(
        &hk,
        &[
            "convert-kubeconfig",
            "--from-kubeconfig",
            path(&sso),
            "--token",
            "bound",
            "--duration",
            "10m",
        ],
    )
    .success();
    let asked_at = now_secs();
    assert_contains(&out.stderr, "token requested");
    assert_contains(&out.stderr, "expires at");
    let kc: Value = serde_saphyr::from_str(&out.stdout).unwrap();
    let token = token_in(&kc, "aks");
    let exp = jwt_claims(&token)["exp"].as_i64().unwrap();
    assert!(
        (exp - (asked_at + 600)).abs() <= 60,
        "expires {}s from now, not ~600",
        exp - asked_at
    );
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
    assert!(
        secrets
            .get_opt("extcluster-manager-token")
            .await
            .unwrap()
            .is_none(),
        "a bound token needs no Secret"
    );
    let file = token_kubeconfig(&ext, dir.path(), "bound.kubeconfig", &token);
    namespaces_with(&file, true).await.success();

    // --rotate recreates the account: the earlier bound token stops working.
    let out = extcluster(
        &hk,
        &[
            "convert-kubeconfig",
            "--from-kubeconfig",
            path(&sso),
            "--token",
            "bound",
            "--duration",
            "1h",
            "--rotate",
            "-o",
            path(&dir.path().join("rotated.kubeconfig")),
        ],
    )
    .success();
    assert_contains(&out.stderr, "serviceaccount/extcluster-manager deleted");
    namespaces_with(&file, false).await.failure();
    namespaces_with(&dir.path().join("rotated.kubeconfig"), true)
        .await
        .success();

    // A token Secret needs the token controller, which this cluster does not run: after 30 s
    // the command says so, and writes nothing.
    let never = dir.path().join("never.kubeconfig");
    let started = Instant::now();
    one_line_error(
        extcluster(
            &hk,
            &[
                "convert-kubeconfig",
                "--from-kubeconfig",
                path(&sso),
                "-o",
                path(&never),
            ],
        ),
        &[
            "token controller",
            "kube-controller-manager",
            "within 30s",
            "--token bound",
        ],
    );
    assert!(started.elapsed() >= Duration::from_secs(30));
    assert!(!never.exists());
}

#[tokio::test]
async fn in_place_rewrites_atomically_and_keeps_the_other_contexts() {
    let ext = start_external("k3s", true).await;
    let dir = tempfile::tempdir().unwrap();
    let sso = sso_kubeconfig(&ext, dir.path());
    // A file with the SSO context, an admin context for the same cluster, and one for a cluster
    // elsewhere, plus preferences: everything but the converted contexts must survive.
    let mut kc = read_kubeconfig(&sso);
    let admin = read_kubeconfig(&ext.kubeconfig());
    let mut admin_user = admin["users"][0].clone();
    admin_user["name"] = json!("admin");
    kc["users"].as_array_mut().unwrap().push(admin_user);
    kc["contexts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "admin", "context": {"cluster": "k3s", "user": "admin"}}));
    kc["clusters"].as_array_mut().unwrap().push(
        json!({"name": "elsewhere", "cluster": {"server": "https://elsewhere.example.com:6443"}}),
    );
    kc["users"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "elsewhere-user", "user": {"token": "keep-me"}}));
    kc["contexts"].as_array_mut().unwrap().push(json!({"name": "elsewhere", "context": {"cluster": "elsewhere", "user": "elsewhere-user", "namespace": "apps"}}));
    kc["preferences"] = json!({"colors": true});
    let file = dir.path().join("config");
    std::fs::write(&file, serde_json::to_string_pretty(&kc).unwrap()).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let original = std::fs::read(&file).unwrap();
    let hk = ext.kubeconfig();

    // Failures leave the file exactly as it was.
    one_line_error(
        extcluster(
            &hk,
            &[
                "convert-kubeconfig",
                "--from-kubeconfig",
                path(&file),
                "--from-context",
                "nope",
                "--in-place",
            ],
        ),
        &["\"nope\"", "k3s, admin, elsewhere"],
    );
    one_line_error(
        extcluster(
            &hk,
            &[
                "convert-kubeconfig",
                "--from-kubeconfig",
                path(&file),
                "--namespace",
                "missing",
                "--in-place",
            ],
        ),
        &["namespace \"missing\" does not exist"],
    );
    assert_eq!(std::fs::read(&file).unwrap(), original);
    one_line_error(
        extcluster(
            &hk,
            &[
                "convert-kubeconfig",
                "--from-kubeconfig",
                path(&file),
                "--in-place",
                "-o",
                "x",
            ],
        ),
        &["--in-place"],
    );

    let out = extcluster(
        &hk,
        &[
            "convert-kubeconfig",
            "--from-kubeconfig",
            path(&file),
            "--from-context",
            "k3s",
            "--in-place",
        ],
    )
    .success();
    assert_contains(&out.stdout, "other contexts are unchanged");
    assert_eq!(mode_of(&file), 0o600);
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let merged = read_kubeconfig(&file);
    assert_eq!(merged["preferences"]["colors"], true);
    assert_eq!(merged["current-context"], "k3s");
    let contexts: Vec<&str> = merged["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(contexts, ["k3s", "admin", "elsewhere"]);
    assert_eq!(token_in(&merged, "elsewhere"), "keep-me");
    assert_eq!(merged["contexts"][2]["context"]["namespace"], "apps");
    let users: Vec<&str> = merged["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert!(
        !users.contains(&"k3s"),
        "the exec user no context uses is gone: {users:?}"
    );
    assert!(
        users.contains(&"admin") && users.contains(&"extcluster-manager@k3s"),
        "{users:?}"
    );
    // The converted context works with plain kubectl (the current context).
    namespaces_with(&file, true).await.success();
    let with_admin = kubectl::run(
        &file,
        &["--context", "admin", "get", "ns", "default", "-o", "name"],
        None,
    )
    .success();
    assert_eq!(with_admin.stdout.trim(), "namespace/default");

    // --all-contexts: every context converted; the one elsewhere cannot be reached, so nothing
    // is written.
    let before = std::fs::read(&file).unwrap();
    one_line_error(
        extcluster(
            &hk,
            &[
                "convert-kubeconfig",
                "--from-kubeconfig",
                path(&file),
                "--all-contexts",
                "--in-place",
            ],
        ),
        &["elsewhere.example.com"],
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[tokio::test]
async fn annotate_checks_values_needs_overwrite_and_removes() {
    let hub = hub::start().await.unwrap();
    let hk = hub.kubeconfig();
    hub.kubectl_stdin(
        &["apply", "-f", "-"],
        &cluster_yaml(
            "prod",
            "0b4e2a5c-0000-4000-8000-000000000001",
            "v1.29.3",
            &[("capabilities.cattle.io/nodePortRange", "30000-32767")],
        ),
    )
    .success();

    // capabilities: every one with its type and an example, like kubectl explain.
    let caps = extcluster(&hk, &["capabilities"]).success().stdout;
    for c in extcluster_core::Capability::ALL {
        assert_contains(&caps, &format!("{}\t<{}>", c.name(), c.expected_type()));
    }
    assert_contains(
        &caps,
        "Example: kubectl extcluster annotate NAME pspEnabled=true",
    );
    one_line_error(
        extcluster(&hk, &["capabilities", "gpu"]),
        &["unknown capability \"gpu\""],
    );

    // Every form: a name, our key, Rancher's key (written under ours).
    let out = extcluster(
        &hk,
        &[
            "annotate",
            "prod",
            "pspEnabled=false",
            "capabilities.extcluster.io/taintSupport=true",
            "capabilities.cattle.io/loadBalancerCapabilities={\"enabled\":true,\"provider\":\"ELB\"}",
        ],
    )
    .success();
    assert_contains(&out.stdout, "externalcluster.extcluster.io/prod annotated");
    let a = annotations(&hub, "prod").await;
    assert_eq!(a[&key("pspEnabled")], "false");
    assert_eq!(a[&key("taintSupport")], "true");
    assert_eq!(
        a[&key("loadBalancerCapabilities")],
        r#"{"enabled":true,"provider":"ELB"}"#
    );
    assert!(!a.contains_key("capabilities.cattle.io/loadBalancerCapabilities"));

    // Wrong types: refused before anything is sent, naming the expected type.
    for (arg, cap) in [
        ("pspEnabled=yes", extcluster_core::Capability::PspEnabled),
        (
            "nodePortRange=30000",
            extcluster_core::Capability::NodePortRange,
        ),
        (
            "ingressCapabilities={\"ingressProvider\":\"Nginx\"}",
            extcluster_core::Capability::IngressCapabilities,
        ),
    ] {
        one_line_error(
            extcluster(&hk, &["annotate", "prod", arg, "--overwrite"]),
            &[cap.name(), cap.expected_type(), "nothing was changed"],
        );
    }
    one_line_error(
        extcluster(&hk, &["annotate", "prod", "gpu=true"]),
        &["unknown capability \"gpu\"", "pspEnabled"],
    );
    assert_eq!(annotations(&hub, "prod").await, a);

    // A different value needs --overwrite; the same value is no change.
    one_line_error(
        extcluster(&hk, &["annotate", "prod", "pspEnabled=true"]),
        &["already \"false\"", "--overwrite"],
    );
    let same = extcluster(&hk, &["annotate", "prod", "pspEnabled=false"]).success();
    assert_contains(&same.stdout, "unchanged");
    // --dry-run goes through the hub but writes nothing.
    let dry = extcluster(
        &hk,
        &[
            "annotate",
            "prod",
            "pspEnabled=true",
            "--overwrite",
            "--dry-run",
        ],
    )
    .success();
    assert_contains(&dry.stdout, "dry run");
    assert_eq!(annotations(&hub, "prod").await[&key("pspEnabled")], "false");
    extcluster(&hk, &["annotate", "prod", "pspEnabled=true", "--overwrite"]).success();
    assert_eq!(annotations(&hub, "prod").await[&key("pspEnabled")], "true");

    // A Rancher key already there: changing it needs --overwrite, and moves it under ours.
    one_line_error(
        extcluster(&hk, &["annotate", "prod", "nodePortRange=30000-31000"]),
        &["already \"30000-32767\""],
    );
    extcluster(
        &hk,
        &[
            "annotate",
            "prod",
            "nodePortRange=30000-31000",
            "--overwrite",
        ],
    )
    .success();
    let a = annotations(&hub, "prod").await;
    assert_eq!(a[&key("nodePortRange")], "30000-31000");
    assert!(!a.contains_key("capabilities.cattle.io/nodePortRange"));

    // CAP- removes; removing what is not there is no change.
    let out = extcluster(
        &hk,
        &[
            "annotate",
            "prod",
            "taintSupport-",
            "capabilities.extcluster.io/pspEnabled-",
        ],
    )
    .success();
    assert_contains(&out.stdout, "taintSupport removed");
    let a = annotations(&hub, "prod").await;
    assert!(!a.contains_key(&key("taintSupport")) && !a.contains_key(&key("pspEnabled")));
    assert_eq!(a["created-by"], "test", "other annotations are untouched");
    let out = extcluster(&hk, &["annotate", "prod", "taintSupport-"]).success();
    assert_contains(&out.stdout, "was not set");

    one_line_error(
        extcluster(&hk, &["annotate", "prod"]),
        &["nothing to annotate"],
    );
    one_line_error(
        extcluster(&hk, &["annotate", "nope", "pspEnabled=true"]),
        &["\"nope\"", "kubectl extcluster list"],
    );
}

#[tokio::test]
async fn concurrent_annotators_cannot_silently_overwrite_each_other() {
    let hub = hub::start().await.unwrap();
    let hk = hub.kubeconfig();
    hub.kubectl_stdin(
        &["apply", "-f", "-"],
        &cluster_yaml(
            "prod",
            "0b4e2a5c-0000-4000-8000-000000000002",
            "v1.29.3",
            &[],
        ),
    )
    .success();
    let dir = tempfile::tempdir().unwrap();

    // Annotator A logs in to the hub through an exec plugin that hands out a token already
    // expired, so kube runs it again before every request. A first run counts the calls; in the
    // runs that matter the plugin stops at the last one, just before A's PATCH, until told to go
    // on: A reads, B writes, A writes.
    let login = dir.path().join("hub-login");
    let state = dir.path();
    write_script(
        &login,
        &format!(
            "n=$(cat {s}/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > {s}/count\n\
             at=$(cat {s}/pause-at 2>/dev/null || echo 0)\n\
             if [ $n -eq $at ] && [ ! -e {s}/resume ]; then touch {s}/paused; while [ ! -e {s}/resume ]; do sleep 0.05; done; fi\n\
             cat <<'EOF'\n{}\nEOF\n",
            exec_credential(hub.sso_token(), Some("2000-01-01T00:00:00Z")),
            s = path(state)
        ),
    );
    let slow_hub = dir.path().join("slow-hub.kubeconfig");
    hub.write_kubeconfig(
        &slow_hub,
        &User::Exec {
            command: path(&login).to_owned(),
            args: vec![],
        },
    )
    .unwrap();
    extcluster(
        &slow_hub,
        &["annotate", "prod", "nodePortRange=30000-32767"],
    )
    .success();
    let calls: u32 = std::fs::read_to_string(state.join("count"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(calls >= 2, "the plugin ran {calls} times");
    std::fs::write(state.join("pause-at"), calls.to_string()).unwrap();
    std::fs::remove_file(state.join("count")).unwrap();
    let a = {
        let slow_hub = slow_hub.clone();
        std::thread::spawn(move || {
            extcluster(&slow_hub, &["annotate", "prod", "taintSupport=false"])
        })
    };
    wait_paused(state).await;
    extcluster(&hk, &["annotate", "prod", "taintSupport=true"]).success();
    std::fs::write(state.join("resume"), "").unwrap();
    let a = a.join().unwrap();
    one_line_error(
        a,
        &["changed while this command ran", "nothing was changed"],
    );
    assert_eq!(
        annotations(&hub, "prod").await[&key("taintSupport")],
        "true",
        "B's value stands"
    );

    // The same with --overwrite: A read "true", B changes it meanwhile, A's test fails.
    std::fs::remove_file(state.join("count")).unwrap();
    std::fs::remove_file(state.join("paused")).unwrap();
    std::fs::remove_file(state.join("resume")).unwrap();
    let a = {
        let slow_hub = slow_hub.clone();
        std::thread::spawn(move || {
            extcluster(
                &slow_hub,
                &["annotate", "prod", "taintSupport=false", "--overwrite"],
            )
        })
    };
    wait_paused(state).await;
    extcluster(&hk, &["annotate", "prod", "taintSupport-"]).success();
    std::fs::write(state.join("resume"), "").unwrap();
    one_line_error(a.join().unwrap(), &["changed while this command ran"]);
    assert!(
        !annotations(&hub, "prod")
            .await
            .contains_key(&key("taintSupport"))
    );

    // Many at once on one capability: exactly one wins each round, the others say why.
    for round in 0..3 {
        let cap = ["pspEnabled", "nodePoolScalingSupported", "taintSupport"][round];
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let hk = hk.clone();
                let arg = format!("{cap}={}", i % 2 == 0);
                std::thread::spawn(move || extcluster(&hk, &["annotate", "prod", &arg]))
            })
            .collect();
        let outs: Vec<Output> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wins = outs.iter().filter(|o| o.ok()).count();
        // The winner's value, or the same value again ("unchanged"), may succeed; never two
        // different values.
        let a = annotations(&hub, "prod").await;
        let value = a[&key(cap)].clone();
        for o in &outs {
            if o.ok() {
                assert!(
                    o.stdout.contains(&format!("{cap}={value}")) || o.stdout.contains("unchanged"),
                    "a second writer won: {}",
                    o.stdout
                );
            } else {
                assert!(
                    o.stderr.contains("changed while this command ran")
                        || o.stderr.contains("--overwrite"),
                    "{}",
                    o.stderr
                );
            }
        }
        assert!(wins >= 1, "round {round}: nobody won");
    }
}

#[tokio::test]
async fn detect_reads_taints_ingress_classes_psp_cloud_and_flags() {
    let (hub, ext) = tokio::join!(hub::start(), start_external("eks", false));
    let hub = hub.unwrap();
    let hk = hub.kubeconfig();
    let client = ext.client().await.unwrap();
    extcluster(
        &hk,
        &[
            "register",
            "eks",
            "--from-kubeconfig",
            path(&ext.kubeconfig()),
            "--mode",
            "import",
        ],
    )
    .success();

    let mut step = Steps::start("--detect before anything is there: little to say, and why");
    let out = extcluster(&hk, &["annotate", "eks", "--detect", "--dry-run"]).success();
    let row = |text: &str, cap: &str| -> String {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(cap))
            .unwrap_or_else(|| panic!("no {cap} in:\n{text}"))
            .to_owned()
    };
    assert!(
        row(&out.stdout, "nodePortRange").contains("<unset>"),
        "{}",
        out.stdout
    );
    assert!(
        row(&out.stdout, "nodePortRange").contains("not visible"),
        "{}",
        out.stdout
    );
    assert!(
        row(&out.stdout, "taintSupport").contains("<unset>"),
        "{}",
        out.stdout
    );
    assert!(
        row(&out.stdout, "ingressCapabilities").contains("no IngressClass"),
        "{}",
        out.stdout
    );
    // kube-apiserver 1.20 serves policy/v1beta1 PodSecurityPolicy; served is not enforced.
    assert!(
        row(&out.stdout, "pspEnabled").contains("<unset>"),
        "{}",
        out.stdout
    );
    assert!(
        row(&out.stdout, "pspEnabled").contains(
            "serves podsecuritypolicies, which does not show whether the PodSecurityPolicy admission plugin enforces them"
        ),
        "{}",
        out.stdout
    );

    step.next(
        "taints, an IngressClass, a cloud provider and PodSecurityPolicy use put in the cluster",
    );
    // What the test puts in the cluster.
    let ic: IngressClass = serde_json::from_value(json!({
        "metadata": {"name": "nginx"},
        "spec": {"controller": "k8s.io/ingress-nginx"}
    }))
    .unwrap();
    Api::<IngressClass>::all(client.clone())
        .create(&PostParams::default(), &ic)
        .await
        .unwrap();
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "ip-10-0-0-1"},
        "spec": {
            "providerID": "aws:///eu-west-1a/i-0abc",
            "taints": [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]
        }
    }))
    .unwrap();
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await
        .unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "kube-system");
    if sas.get_opt("default").await.unwrap().is_none() {
        let sa: ServiceAccount =
            serde_json::from_value(json!({"metadata": {"name": "default"}})).unwrap();
        sas.create(&PostParams::default(), &sa).await.unwrap();
    }
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "kube-apiserver-cp-1", "labels": {"component": "kube-apiserver", "tier": "control-plane"}},
        "spec": {
            "automountServiceAccountToken": false,
            "containers": [{
                "name": "kube-apiserver",
                "image": "registry.k8s.io/kube-apiserver:v1.20.2",
                "command": ["kube-apiserver", "--secure-port=6443", "--service-node-port-range=30000-32000", "--enable-admission-plugins=NodeRestriction,PodSecurityPolicy"]
            }]
        }
    }))
    .unwrap();
    Api::<Pod>::namespaced(client.clone(), "kube-system")
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();

    step.next("--detect writes what it found, keeping what was declared");
    // Someone declared pspEnabled already, differently: detection keeps it without --overwrite.
    extcluster(&hk, &["annotate", "eks", "pspEnabled=false"]).success();
    let dry = extcluster(&hk, &["annotate", "eks", "--detect", "--dry-run"]).success();
    let text = &dry.stdout;
    assert!(row(text, "taintSupport").contains("true"), "{text}");
    assert!(
        row(text, "taintSupport").contains("dedicated=infra:NoSchedule"),
        "{text}"
    );
    assert!(
        row(text, "ingressCapabilities").contains(r#"[{"ingressProvider":"Nginx"}]"#),
        "{text}"
    );
    assert!(
        row(text, "ingressCapabilities")
            .contains("IngressClass nginx has controller k8s.io/ingress-nginx"),
        "{text}"
    );
    assert!(
        row(text, "loadBalancerCapabilities").contains(r#"{"enabled":true,"provider":"ELB"}"#),
        "{text}"
    );
    assert!(
        row(text, "loadBalancerCapabilities").contains("aws:///eu-west-1a/i-0abc"),
        "{text}"
    );
    assert!(row(text, "nodePortRange").contains("30000-32000"), "{text}");
    assert!(
        row(text, "nodePortRange").contains("kube-apiserver-cp-1"),
        "{text}"
    );
    assert!(
        row(text, "pspEnabled").contains("with the PodSecurityPolicy admission plugin"),
        "{text}"
    );
    assert_contains(text, "pspEnabled kept at false (detected true");
    assert_contains(text, "dry run");
    let a = annotations(&hub, "eks").await;
    assert!(
        !a.contains_key(&key("taintSupport")),
        "--dry-run wrote nothing"
    );

    extcluster(&hk, &["annotate", "eks", "--detect"]).success();
    let a = annotations(&hub, "eks").await;
    assert_eq!(a[&key("taintSupport")], "true");
    assert_eq!(
        a[&key("ingressCapabilities")],
        r#"[{"ingressProvider":"Nginx"}]"#
    );
    assert_eq!(
        a[&key("loadBalancerCapabilities")],
        r#"{"enabled":true,"provider":"ELB"}"#
    );
    assert_eq!(a[&key("nodePortRange")], "30000-32000");
    assert_eq!(a[&key("pspEnabled")], "false", "kept without --overwrite");
    assert!(!a.contains_key(&key("nodePoolScalingSupported")));

    let overwritten = extcluster(&hk, &["annotate", "eks", "--detect", "--overwrite"]).success();
    assert_eq!(annotations(&hub, "eks").await[&key("pspEnabled")], "true");
    assert!(
        !overwritten.stderr.contains("Warning"),
        "1.20 has PodSecurityPolicy: {}",
        overwritten.stderr
    );
    step.next("describe shows them");
    let text = extcluster(&hk, &["describe", "eks"]).success().stdout;
    assert_contains(&text, "taintSupport:");
}

#[tokio::test]
async fn register_convert_goes_from_sso_login_to_a_registration_in_one_command() {
    let (hub, ext) = tokio::join!(hub::start(), start_external("gke", true));
    let hub = hub.unwrap();
    let hk = hub.kubeconfig();
    let dir = tempfile::tempdir().unwrap();
    let sso = sso_kubeconfig(&ext, dir.path());
    let client = ext.client().await.unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "kube-system");

    // Without --convert: refused, saying how.
    one_line_error(
        extcluster(&hk, &["register", "gke", "--from-kubeconfig", path(&sso)]),
        &["exec plugin", "convert-kubeconfig", "--convert"],
    );
    // --dry-run with --convert makes nothing, anywhere.
    let dry = extcluster(
        &hk,
        &[
            "import",
            "gke",
            "--from-kubeconfig",
            path(&sso),
            "--convert",
            "--dry-run",
        ],
    )
    .success();
    assert_contains(
        &dry.stdout,
        "--convert: the cluster would get serviceaccount extcluster-manager",
    );
    assert!(sas.get_opt(SA).await.unwrap().is_none());
    assert!(registrations(&hub).await.is_empty());

    let out = extcluster(
        &hk,
        &[
            "import",
            "gke",
            "--from-kubeconfig",
            path(&sso),
            "--convert",
            "--service-account",
            "hub-eu",
        ],
    )
    .success();
    assert_contains(&out.stdout, "registered (Import");
    // The account asked for, one per hub; the default one is not made.
    assert_contains(&out.stderr, "serviceaccount/hub-eu created");
    assert!(sas.get_opt(SA).await.unwrap().is_none());
    assert_eq!(registrations(&hub).await, ["gke"]);
    let described = extcluster(&hk, &["describe", "gke"]).success().stdout;
    assert_contains(&described, "serviceaccount kube-system/hub-eu");
    // The hub stores a token kubeconfig, no plugin, and it works on its own.
    let secret: Secret = Api::namespaced(hub.client().await.unwrap(), SYSTEM_NAMESPACE)
        .get("gke-kubeconfig")
        .await
        .unwrap();
    let stored = String::from_utf8(secret.data.unwrap()["kubeconfig"].0.clone()).unwrap();
    assert!(!stored.contains("exec"), "{stored}");
    assert!(
        !stored.contains(ext.sso_token()),
        "the SSO token is not stored"
    );
    let stored_file = dir.path().join("stored.kubeconfig");
    std::fs::write(&stored_file, &stored).unwrap();
    namespaces_with(&stored_file, true).await.success();
    let list = extcluster(&hk, &["list"]).success().stdout;
    assert_contains(&list, "Running");
    assert!(
        !out.stdout
            .contains(&token_in(&read_kubeconfig(&stored_file), "gke"))
    );
}

#[tokio::test]
async fn disconnect_cleanup_remote_removes_exactly_what_convert_made() {
    let (hub, ext) = tokio::join!(hub::start(), start_external("rke", true));
    let hub = hub.unwrap();
    let mut ext = ext;
    let hk = hub.kubeconfig();
    let dir = tempfile::tempdir().unwrap();
    let sso = sso_kubeconfig(&ext, dir.path());
    let client = ext.client().await.unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "kube-system");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
    let crbs: Api<ClusterRoleBinding> = Api::all(client.clone());
    let roles: Api<ClusterRole> = Api::all(client.clone());

    // Objects that are not convert-kubeconfig's, some with look-alike names.
    let keep_sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "keep-me"}})).unwrap();
    sas.create(&PostParams::default(), &keep_sa).await.unwrap();
    let keep_crb: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "keep-me", "labels": {"extcluster.io/service-account": SA}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "keep-me", "namespace": "kube-system"}]
    }))
    .unwrap();
    crbs.create(&PostParams::default(), &keep_crb)
        .await
        .unwrap();
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "keep-me", "namespace": "kube-system"}}),
    )
    .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), "kube-system")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();

    extcluster(
        &hk,
        &[
            "import",
            "rke",
            "--from-kubeconfig",
            path(&sso),
            "--convert",
        ],
    )
    .success();
    assert!(sas.get_opt(SA).await.unwrap().is_some());
    let out = extcluster(&hk, &["disconnect", "rke", "--yes", "--cleanup-remote"]).success();
    assert_contains(&out.stdout, "disconnected");
    assert_contains(&out.stdout, "Removed from");
    assert_contains(&out.stdout, "clusterrolebinding/extcluster-manager");
    assert_contains(
        &out.stdout,
        "serviceaccount/extcluster-manager in kube-system",
    );
    assert_contains(
        &out.stdout,
        "secret/extcluster-manager-token in kube-system",
    );
    assert!(registrations(&hub).await.is_empty());
    assert!(crbs.get_opt(SA).await.unwrap().is_none());
    wait_until_gone(&sas, SA).await;
    wait_until_gone(&secrets, "extcluster-manager-token").await;
    // Everything else is still there.
    assert!(sas.get_opt("keep-me").await.unwrap().is_some());
    assert!(crbs.get_opt("keep-me").await.unwrap().is_some());
    assert!(
        Api::<ConfigMap>::namespaced(client.clone(), "kube-system")
            .get_opt("keep-me")
            .await
            .unwrap()
            .is_some()
    );
    assert!(crbs.get_opt("cluster-admin").await.unwrap().is_some());
    assert!(
        Api::<Namespace>::all(client.clone())
            .get_opt("kube-system")
            .await
            .unwrap()
            .is_some()
    );

    // Read-only credentials cannot remove themselves: nothing changes on the hub (the stored
    // credentials are still there to finish with), and the one command that unblocks it is given.
    extcluster(
        &hk,
        &[
            "connect",
            "rke",
            "--from-kubeconfig",
            path(&sso),
            "--convert",
        ],
    )
    .success();
    assert!(
        roles
            .get_opt("extcluster-reader-read-only")
            .await
            .unwrap()
            .is_some()
    );
    let err = one_line_error(
        extcluster(&hk, &["disconnect", "rke", "--yes", "--cleanup-remote"]),
        &[
            "still registered",
            "read-only",
            "kubectl delete clusterrolebinding -l",
            "without --cleanup-remote",
        ],
    );
    assert_eq!(registrations(&hub).await, ["rke"]);
    let command = err.split('`').nth(1).expect("a command in backquotes");
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    kubectl::run(&ext.kubeconfig(), &args, None).success();
    wait_until_gone(&sas, "extcluster-reader").await;
    wait_until_gone(&roles, "extcluster-reader-read-only").await;
    assert!(crbs.get_opt("keep-me").await.unwrap().is_some());
    // Removed there by hand, the disconnect of the hub side finishes the job.
    let out = extcluster(&hk, &["disconnect", "rke", "--yes"]).success();
    assert_contains(&out.stdout, "disconnected");
    assert!(registrations(&hub).await.is_empty());

    // An unreachable cluster: nothing changes on the hub, and it says how to go on; without
    // --cleanup-remote the disconnect needs nothing from the cluster.
    extcluster(
        &hk,
        &[
            "import",
            "rke",
            "--from-kubeconfig",
            path(&sso),
            "--convert",
        ],
    )
    .success();
    ext.stop_apiserver();
    one_line_error(
        extcluster(&hk, &["disconnect", "rke", "--yes", "--cleanup-remote"]),
        &[
            "still registered",
            "cannot reach",
            "kubectl delete clusterrolebinding -l",
        ],
    );
    assert_eq!(registrations(&hub).await, ["rke"]);
    extcluster(&hk, &["disconnect", "rke", "--yes"]).success();
    assert!(registrations(&hub).await.is_empty());
    let left: Vec<Secret> =
        Api::<Secret>::namespaced(hub.client().await.unwrap(), SYSTEM_NAMESPACE)
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|s| s.metadata.name.as_deref() == Some("rke-kubeconfig"))
            .collect();
    assert!(left.is_empty());
}
