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

/// `kubectl extcluster convert-kubeconfig --from-kubeconfig FROM` with `extra` arguments.
fn convert_kubeconfig(hub: &Path, from: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["convert-kubeconfig", "--from-kubeconfig", path(from)];
    args.extend(extra);
    extcluster(hub, &args)
}

// ---------------------------------------------------------------------------------------------

/// The external cluster `eks` with an SSO login, and where convert-kubeconfig writes its file.
struct Converted {
    /// Kept running for the scenario.
    _hub: ControlPlane,
    ext: ControlPlane,
    /// The hub's admin kubeconfig.
    hk: PathBuf,
    dir: tempfile::TempDir,
    /// The SSO login's kubeconfig.
    sso: PathBuf,
    /// What convert-kubeconfig writes.
    out_file: PathBuf,
}

impl Converted {
    /// `convert-kubeconfig` from the SSO login, with `extra` arguments.
    fn convert(&self, extra: &[&str]) -> Output {
        convert_kubeconfig(&self.hk, &self.sso, extra)
    }
}

#[tokio::test]
async fn convert_from_exec_login_is_usable_idempotent_and_rotatable() {
    let (hub, ext) = tokio::join!(hub::start(), start_external("eks", true));
    let (hub, dir) = (hub.unwrap(), tempfile::tempdir().unwrap());
    let c = Converted {
        hk: hub.kubeconfig(),
        sso: sso_kubeconfig(&ext, dir.path()),
        out_file: dir.path().join("eks-token.kubeconfig"),
        _hub: hub,
        ext,
        dir,
    };
    let mut step = Steps::start("convert-kubeconfig from an exec login");
    let out = convert_makes_the_account_and_a_private_file(&c);
    step.next("the file: same server, CA embedded, a token user");
    let token = the_file_has_the_server_ca_and_a_token_user(&c, &out);
    step.check("plain kubectl can use it", async {
        let ns = namespaces_with(&c.out_file, true).await.success();
        assert_contains(&ns.stdout, "namespace/kube-system");
    })
    .await;
    step.check(
        "what it made in the cluster: labelled, owned by the binding",
        what_it_made_is_labelled_and_owned_by_the_binding(&c),
    )
    .await;
    step.check(
        "twice: nothing changes, not even the token",
        converting_again_changes_nothing(&c),
    )
    .await;
    step.next("register accepts the file");
    let file = path(&c.out_file);
    let reg = [
        "register",
        "eks",
        "--from-kubeconfig",
        file,
        "--mode",
        "import",
    ];
    let reg = extcluster(&c.hk, &reg).success();
    assert_contains(&reg.stdout, "registered (Import");
    step.next("--rotate: a new token in a new Secret, the old Secret deleted");
    let rotated = rotate_makes_a_new_secret_and_deletes_the_old(&c, &token).await;
    step.next("--rotate: the new token works, the old one is refused");
    let old = token_kubeconfig(&c.ext, c.dir.path(), "old.kubeconfig", &token);
    namespaces_with(&rotated, true).await.success();
    let refused = namespaces_with(&old, false).await.failure();
    assert!(
        refused.stderr.contains("Unauthorized") || refused.stderr.contains("401"),
        "{}",
        refused.stderr
    );
    step.check("a failing login says so on one line", async {
        a_failing_login_says_so_on_one_line(&c)
    })
    .await;
    step.finish();
}

fn convert_makes_the_account_and_a_private_file(c: &Converted) -> Output {
    let out = c.convert(&["-o", path(&c.out_file)]).success();
    for want in [
        "serviceaccount/extcluster-manager created",
        "clusterrolebinding.rbac.authorization.k8s.io/extcluster-manager created",
        "secret/extcluster-manager-token created",
        "credentials checked",
    ] {
        assert_contains(&out.stderr, want);
    }
    assert_contains(&out.stdout, "mode 0600");
    assert_eq!(mode_of(&c.out_file), 0o600);
    out
}

/// Same server, CA embedded, one context with a token user; the token is never printed. Returns
/// the token.
fn the_file_has_the_server_ca_and_a_token_user(c: &Converted, out: &Output) -> String {
    let kc = read_kubeconfig(&c.out_file);
    assert_eq!(kc["current-context"], "eks");
    assert_eq!(
        kc["clusters"][0]["cluster"]["server"],
        c.ext.server().as_str()
    );
    let ca = base64::engine::general_purpose::STANDARD.encode(c.ext.ca_pem());
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
    token
}

async fn what_it_made_is_labelled_and_owned_by_the_binding(c: &Converted) {
    let client = c.ext.client().await.unwrap();
    let crbs: Api<ClusterRoleBinding> = Api::all(client.clone());
    let binding = crbs.get(SA).await.unwrap();
    assert_eq!(binding.role_ref.name, "cluster-admin");
    assert_eq!(
        binding.metadata.labels.as_ref().unwrap()[MANAGED],
        "kubectl-extcluster"
    );
    let binding_uid = binding.metadata.uid.clone().unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "kube-system");
    let sa = sas.get(SA).await.unwrap();
    assert_eq!(
        sa.metadata.labels.as_ref().unwrap()[MANAGED],
        "kubectl-extcluster"
    );
    assert_eq!(
        sa.metadata.owner_references.as_ref().unwrap()[0].uid,
        binding_uid
    );
    let secrets: Api<Secret> = Api::namespaced(client, "kube-system");
    let secret = secrets.get("extcluster-manager-token").await.unwrap();
    assert_eq!(
        secret.type_.as_deref(),
        Some("kubernetes.io/service-account-token")
    );
    assert_eq!(
        secret.metadata.owner_references.as_ref().unwrap()[0].uid,
        binding_uid
    );
}

async fn converting_again_changes_nothing(c: &Converted) {
    let client = c.ext.client().await.unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "kube-system");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
    let crbs: Api<ClusterRoleBinding> = Api::all(client);
    let state = async || {
        (
            version_of(&sas, SA).await,
            version_of(&crbs, SA).await,
            version_of(&secrets, "extcluster-manager-token").await,
            std::fs::read_to_string(&c.out_file).unwrap(),
        )
    };
    let before = state().await;
    let again = c.convert(&["-o", path(&c.out_file)]).success();
    assert_contains(&again.stderr, "serviceaccount/extcluster-manager unchanged");
    assert_contains(&again.stderr, "extcluster-manager unchanged");
    assert_eq!(before, state().await, "a second run changes nothing");
}

/// A new Secret under a new name (a legacy token re-made under the same name can be the very
/// same token), the old one deleted. Returns the file with the new token.
async fn rotate_makes_a_new_secret_and_deletes_the_old(c: &Converted, token: &str) -> PathBuf {
    let rotated_file = c.dir.path().join("rotated.kubeconfig");
    let rot = c
        .convert(&["--rotate", "-o", path(&rotated_file)])
        .success();
    assert_contains(
        &rot.stderr,
        "secret/extcluster-manager-token → secret/extcluster-manager-token-",
    );
    let new_token = token_in(&read_kubeconfig(&rotated_file), "eks");
    assert_ne!(new_token, token);
    let secrets: Api<Secret> = Api::namespaced(c.ext.client().await.unwrap(), "kube-system");
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
    rotated_file
}

/// With the plugin's own last words (never its stdout).
fn a_failing_login_says_so_on_one_line(c: &Converted) {
    let broken = c.dir.path().join("broken-login");
    write_script(
        &broken,
        "echo '{\"status\":{\"token\":\"leaked-if-printed\"}}'\necho 'token expired: run aws sso login' >&2\nexit 1\n",
    );
    let broken_kc = c.dir.path().join("broken.kubeconfig");
    let login = User::Exec {
        command: path(&broken).to_owned(),
        args: vec![],
    };
    c.ext.write_kubeconfig(&broken_kc, &login).unwrap();
    let err = one_line_error(
        extcluster(
            &c.hk,
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
    let dir = tempfile::tempdir().unwrap();
    let sso = sso_kubeconfig(&ext, dir.path());
    let convert = |extra: &[&str]| convert_kubeconfig(&hub.kubeconfig(), &sso, extra);
    let sas: Api<ServiceAccount> = Api::namespaced(ext.client().await.unwrap(), "kube-system");
    let mut step = Steps::start("durations are checked before anything is sent");
    durations_are_checked_first(&convert);
    assert!(sas.get_opt(SA).await.unwrap().is_none(), "nothing was made");
    step.next("a bound token for 10m, to stdout, with no Secret");
    let out = convert(&["--token", "bound", "--duration", "10m"]).success();
    let token = a_bound_token_expires_after_its_duration(&ext, &out).await;
    let file = token_kubeconfig(&ext, dir.path(), "bound.kubeconfig", &token);
    namespaces_with(&file, true).await.success();
    step.next("--rotate recreates the account: the earlier bound token stops working");
    let rotated = dir.path().join("rotated.kubeconfig");
    let bound_1h = ["--token", "bound", "--duration", "1h"];
    let out = convert(&[&bound_1h[..], &["--rotate", "-o", path(&rotated)]].concat()).success();
    assert_contains(&out.stderr, "serviceaccount/extcluster-manager deleted");
    namespaces_with(&file, false).await.failure();
    namespaces_with(&rotated, true).await.success();
    // This cluster runs no token controller: after 30 s the command says so, and writes nothing.
    step.check("a token Secret needs the token controller", async {
        let never = dir.path().join("never.kubeconfig");
        let started = Instant::now();
        one_line_error(
            convert(&["-o", path(&never)]),
            &[
                "token controller",
                "kube-controller-manager",
                "within 30s",
                "--token bound",
            ],
        );
        assert!(started.elapsed() >= Duration::from_secs(30));
        assert!(!never.exists());
    })
    .await;
    step.finish();
}

fn durations_are_checked_first(convert: &impl Fn(&[&str]) -> Output) {
    one_line_error(
        convert(&["--token", "bound", "--duration", "5m"]),
        &["5m0s", "10m"],
    );
    one_line_error(convert(&["--duration", "1h"]), &["--token bound"]);
    one_line_error(
        convert(&["--token", "bound", "--duration", "10days"]),
        &["not a duration", "8760h"],
    );
}

/// Without -o the kubeconfig goes to stdout, the progress to stderr; the token expires about
/// ten minutes after it was asked for, and needs no Secret. Returns the token.
async fn a_bound_token_expires_after_its_duration(ext: &ControlPlane, out: &Output) -> String {
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
    let secrets: Api<Secret> = Api::namespaced(ext.client().await.unwrap(), "kube-system");
    assert!(
        secrets
            .get_opt("extcluster-manager-token")
            .await
            .unwrap()
            .is_none(),
        "a bound token needs no Secret"
    );
    token
}

/// A file with the SSO context, an admin context for the same cluster, and one for a cluster
/// elsewhere, plus preferences, mode 0644: everything but the converted contexts must survive.
fn kubeconfig_of_three_contexts(ext: &ControlPlane, dir: &Path) -> PathBuf {
    let mut kc = read_kubeconfig(&sso_kubeconfig(ext, dir));
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
    let file = dir.join("config");
    std::fs::write(&file, serde_json::to_string_pretty(&kc).unwrap()).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    file
}

/// `convert-kubeconfig --from-kubeconfig FILE` with `extra` arguments; no hub is needed.
fn convert_file(ext: &ControlPlane, file: &Path, extra: &[&str]) -> Output {
    convert_kubeconfig(&ext.kubeconfig(), file, extra)
}

#[tokio::test]
async fn in_place_rewrites_atomically_and_keeps_the_other_contexts() {
    let ext = start_external("k3s", true).await;
    let dir = tempfile::tempdir().unwrap();
    let file = kubeconfig_of_three_contexts(&ext, dir.path());
    let mut step = Steps::start("failures leave the file exactly as it was");
    failures_leave_the_file_as_it_was(&ext, &file);
    step.next("--in-place converts one context, atomically, 0600");
    let out = convert_file(&ext, &file, &["--from-context", "k3s", "--in-place"]).success();
    assert_contains(&out.stdout, "other contexts are unchanged");
    assert_eq!(mode_of(&file), 0o600);
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    step.check(
        "the other contexts, users and preferences are kept",
        async { the_rest_of_the_file_is_kept(&file) },
    )
    .await;
    step.check(
        "the converted context works with plain kubectl, and so does the admin one",
        async {
            namespaces_with(&file, true).await.success();
            let args = ["--context", "admin", "get", "ns", "default", "-o", "name"];
            let with_admin = kubectl::run(&file, &args, None).success();
            assert_eq!(with_admin.stdout.trim(), "namespace/default");
        },
    )
    .await;
    // The context elsewhere cannot be reached, so nothing is written.
    step.next("--all-contexts with one unreachable writes nothing");
    let before = std::fs::read(&file).unwrap();
    one_line_error(
        convert_file(&ext, &file, &["--all-contexts", "--in-place"]),
        &["elsewhere.example.com"],
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    step.finish();
}

fn failures_leave_the_file_as_it_was(ext: &ControlPlane, file: &Path) {
    let original = std::fs::read(file).unwrap();
    one_line_error(
        convert_file(ext, file, &["--from-context", "nope", "--in-place"]),
        &["\"nope\"", "k3s, admin, elsewhere"],
    );
    one_line_error(
        convert_file(ext, file, &["--namespace", "missing", "--in-place"]),
        &["namespace \"missing\" does not exist"],
    );
    assert_eq!(std::fs::read(file).unwrap(), original);
    one_line_error(
        convert_file(ext, file, &["--in-place", "-o", "x"]),
        &["--in-place"],
    );
}

fn the_rest_of_the_file_is_kept(file: &Path) {
    let merged = read_kubeconfig(file);
    assert_eq!(merged["preferences"]["colors"], true);
    assert_eq!(merged["current-context"], "k3s");
    let names = |list: &str| -> Vec<String> {
        let entries = merged[list].as_array().unwrap().iter();
        entries
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names("contexts"), ["k3s", "admin", "elsewhere"]);
    assert_eq!(token_in(&merged, "elsewhere"), "keep-me");
    assert_eq!(merged["contexts"][2]["context"]["namespace"], "apps");
    let users = names("users");
    assert!(
        !users.contains(&"k3s".to_owned()),
        "the exec user no context uses is gone: {users:?}"
    );
    assert!(
        users.contains(&"admin".to_owned()) && users.contains(&"extcluster-manager@k3s".to_owned()),
        "{users:?}"
    );
}

#[tokio::test]
async fn annotate_checks_values_needs_overwrite_and_removes() {
    let hub = hub::start().await.unwrap();
    let hk = hub.kubeconfig();
    let mut step = Steps::start("a registration with a Rancher capability key");
    let prod = cluster_yaml(
        "prod",
        "0b4e2a5c-0000-4000-8000-000000000001",
        "v1.29.3",
        &[("capabilities.cattle.io/nodePortRange", "30000-32767")],
    );
    hub.kubectl_stdin(&["apply", "-f", "-"], &prod).success();
    step.check(
        "capabilities: every one with its type and an example, like kubectl explain",
        async { capabilities_lists_each_with_its_type(&hk) },
    )
    .await;
    step.next("every form: a name, our key, Rancher's key (written under ours)");
    let a = every_form_of_key_is_written_under_ours(&hub).await;
    step.check(
        "wrong types are refused before anything is sent, naming the expected type",
        async {
            wrong_types_are_refused(&hk);
            assert_eq!(annotations(&hub, "prod").await, a);
        },
    )
    .await;
    step.next("a different value needs --overwrite; the same value is no change");
    a_different_value_needs_overwrite(&hub).await;
    step.next("a Rancher key already there: changing it needs --overwrite, and moves it");
    one_line_error(
        extcluster(&hk, &["annotate", "prod", "nodePortRange=30000-31000"]),
        &["already \"30000-32767\""],
    );
    let overwrite = [
        "annotate",
        "prod",
        "nodePortRange=30000-31000",
        "--overwrite",
    ];
    extcluster(&hk, &overwrite).success();
    let a = annotations(&hub, "prod").await;
    assert_eq!(a[&key("nodePortRange")], "30000-31000");
    assert!(!a.contains_key("capabilities.cattle.io/nodePortRange"));
    step.next("CAP- removes; removing what is not there is no change");
    a_trailing_dash_removes(&hub).await;
    step.check(
        "nothing to annotate, or no such registration: refused",
        async {
            let nothing = extcluster(&hk, &["annotate", "prod"]);
            one_line_error(nothing, &["nothing to annotate"]);
            one_line_error(
                extcluster(&hk, &["annotate", "nope", "pspEnabled=true"]),
                &["\"nope\"", "kubectl extcluster list"],
            );
        },
    )
    .await;
    step.finish();
}

fn capabilities_lists_each_with_its_type(hk: &Path) {
    let caps = extcluster(hk, &["capabilities"]).success().stdout;
    for c in extcluster_core::Capability::ALL {
        assert_contains(&caps, &format!("{}\t<{}>", c.name(), c.expected_type()));
    }
    assert_contains(
        &caps,
        "Example: kubectl extcluster annotate NAME pspEnabled=true",
    );
    one_line_error(
        extcluster(hk, &["capabilities", "gpu"]),
        &["unknown capability \"gpu\""],
    );
}

/// Returns the annotations written.
async fn every_form_of_key_is_written_under_ours(
    hub: &ControlPlane,
) -> std::collections::BTreeMap<String, String> {
    let out = extcluster(
        &hub.kubeconfig(),
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
    let a = annotations(hub, "prod").await;
    assert_eq!(a[&key("pspEnabled")], "false");
    assert_eq!(a[&key("taintSupport")], "true");
    assert_eq!(
        a[&key("loadBalancerCapabilities")],
        r#"{"enabled":true,"provider":"ELB"}"#
    );
    assert!(!a.contains_key("capabilities.cattle.io/loadBalancerCapabilities"));
    a
}

fn wrong_types_are_refused(hk: &Path) {
    use extcluster_core::Capability;
    for (arg, cap) in [
        ("pspEnabled=yes", Capability::PspEnabled),
        ("nodePortRange=30000", Capability::NodePortRange),
        (
            "ingressCapabilities={\"ingressProvider\":\"Nginx\"}",
            Capability::IngressCapabilities,
        ),
    ] {
        one_line_error(
            extcluster(hk, &["annotate", "prod", arg, "--overwrite"]),
            &[cap.name(), cap.expected_type(), "nothing was changed"],
        );
    }
    one_line_error(
        extcluster(hk, &["annotate", "prod", "gpu=true"]),
        &["unknown capability \"gpu\"", "pspEnabled"],
    );
}

/// pspEnabled is false: setting it to true needs --overwrite, and --dry-run writes nothing.
async fn a_different_value_needs_overwrite(hub: &ControlPlane) {
    let hk = hub.kubeconfig();
    one_line_error(
        extcluster(&hk, &["annotate", "prod", "pspEnabled=true"]),
        &["already \"false\"", "--overwrite"],
    );
    let same = extcluster(&hk, &["annotate", "prod", "pspEnabled=false"]).success();
    assert_contains(&same.stdout, "unchanged");
    // --dry-run goes through the hub but writes nothing.
    let overwrite = ["annotate", "prod", "pspEnabled=true", "--overwrite"];
    let dry = extcluster(&hk, &[&overwrite[..], &["--dry-run"]].concat()).success();
    assert_contains(&dry.stdout, "dry run");
    assert_eq!(annotations(hub, "prod").await[&key("pspEnabled")], "false");
    extcluster(&hk, &overwrite).success();
    assert_eq!(annotations(hub, "prod").await[&key("pspEnabled")], "true");
}

async fn a_trailing_dash_removes(hub: &ControlPlane) {
    let hk = hub.kubeconfig();
    let remove = [
        "annotate",
        "prod",
        "taintSupport-",
        "capabilities.extcluster.io/pspEnabled-",
    ];
    let out = extcluster(&hk, &remove).success();
    assert_contains(&out.stdout, "taintSupport removed");
    let a = annotations(hub, "prod").await;
    assert!(!a.contains_key(&key("taintSupport")) && !a.contains_key(&key("pspEnabled")));
    assert_eq!(a["created-by"], "test", "other annotations are untouched");
    let out = extcluster(&hk, &["annotate", "prod", "taintSupport-"]).success();
    assert_contains(&out.stdout, "was not set");
}

/// Annotator A, whose hub login pauses it between its read and its write until told to go on.
struct SlowAnnotator {
    /// A's hub kubeconfig, logging in through the pausing script.
    slow_hub: PathBuf,
    /// Where the script keeps its count of calls, and the pause and resume marks.
    state: tempfile::TempDir,
}

impl SlowAnnotator {
    /// A logs in to the hub through an exec plugin that hands out a token already expired, so
    /// kube runs it again before every request. A first run counts the calls; from then on the
    /// plugin stops at the last one, just before A's PATCH, until told to go on.
    fn new(hub: &ControlPlane) -> Self {
        let state = tempfile::tempdir().unwrap();
        let (s, login) = (path(state.path()), state.path().join("hub-login"));
        write_script(
            &login,
            &format!(
                "n=$(cat {s}/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > {s}/count\n\
                 at=$(cat {s}/pause-at 2>/dev/null || echo 0)\n\
                 if [ $n -eq $at ] && [ ! -e {s}/resume ]; then touch {s}/paused; while [ ! -e {s}/resume ]; do sleep 0.05; done; fi\n\
                 cat <<'EOF'\n{}\nEOF\n",
                exec_credential(hub.sso_token(), Some("2000-01-01T00:00:00Z")),
            ),
        );
        let slow_hub = state.path().join("slow-hub.kubeconfig");
        let user = User::Exec {
            command: path(&login).to_owned(),
            args: vec![],
        };
        hub.write_kubeconfig(&slow_hub, &user).unwrap();
        extcluster(
            &slow_hub,
            &["annotate", "prod", "nodePortRange=30000-32767"],
        )
        .success();
        let calls = std::fs::read_to_string(state.path().join("count")).unwrap();
        let calls: u32 = calls.trim().parse().unwrap();
        assert!(calls >= 2, "the plugin ran {calls} times");
        std::fs::write(state.path().join("pause-at"), calls.to_string()).unwrap();
        Self { slow_hub, state }
    }

    /// Runs `annotate prod ARGS` as A; while A is paused before its write, runs `meanwhile`;
    /// then lets A go on, and returns what A printed.
    async fn interrupted_by(&self, args: &[&str], meanwhile: impl FnOnce()) -> Output {
        for mark in ["count", "paused", "resume"] {
            let _ = std::fs::remove_file(self.state.path().join(mark));
        }
        let slow_hub = self.slow_hub.clone();
        let args: Vec<String> = ["annotate", "prod"]
            .iter()
            .chain(args)
            .map(|a| a.to_string())
            .collect();
        let a = std::thread::spawn(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            extcluster(&slow_hub, &args)
        });
        wait_paused(self.state.path()).await;
        meanwhile();
        std::fs::write(self.state.path().join("resume"), "").unwrap();
        a.join().unwrap()
    }
}

#[tokio::test]
async fn concurrent_annotators_cannot_silently_overwrite_each_other() {
    let hub = hub::start().await.unwrap();
    let hk = hub.kubeconfig();
    let prod = cluster_yaml(
        "prod",
        "0b4e2a5c-0000-4000-8000-000000000002",
        "v1.29.3",
        &[],
    );
    hub.kubectl_stdin(&["apply", "-f", "-"], &prod).success();
    let mut step = Steps::start("annotator A, paused between its read and its write");
    let slow = SlowAnnotator::new(&hub);
    step.next("A reads, B writes, A writes: A is refused, B's value stands");
    let out = slow
        .interrupted_by(&["taintSupport=false"], || {
            extcluster(&hk, &["annotate", "prod", "taintSupport=true"]).success();
        })
        .await;
    one_line_error(
        out,
        &["changed while this command ran", "nothing was changed"],
    );
    assert_eq!(
        annotations(&hub, "prod").await[&key("taintSupport")],
        "true",
        "B's value stands"
    );
    step.next("the same with --overwrite: A read \"true\", B changes it meanwhile, A fails");
    let out = slow
        .interrupted_by(&["taintSupport=false", "--overwrite"], || {
            extcluster(&hk, &["annotate", "prod", "taintSupport-"]).success();
        })
        .await;
    one_line_error(out, &["changed while this command ran"]);
    let a = annotations(&hub, "prod").await;
    assert!(!a.contains_key(&key("taintSupport")));
    step.next("many at once on one capability: exactly one wins each round");
    for (round, cap) in ["pspEnabled", "nodePoolScalingSupported", "taintSupport"]
        .into_iter()
        .enumerate()
    {
        one_wins_and_the_others_say_why(&hub, round, cap).await;
    }
    step.finish();
}

/// Six annotators set `cap` to true or false at once: the winner's value, or the same value
/// again ("unchanged"), may succeed; never two different values; the others say why.
async fn one_wins_and_the_others_say_why(hub: &ControlPlane, round: usize, cap: &str) {
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let hk = hub.kubeconfig();
            let arg = format!("{cap}={}", i % 2 == 0);
            std::thread::spawn(move || extcluster(&hk, &["annotate", "prod", &arg]))
        })
        .collect();
    let outs: Vec<Output> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let wins = outs.iter().filter(|o| o.ok()).count();
    let value = annotations(hub, "prod").await[&key(cap)].clone();
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

/// The row of `--detect`'s table for capability `cap`.
fn row(text: &str, cap: &str) -> String {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(cap))
        .unwrap_or_else(|| panic!("no {cap} in:\n{text}"))
        .to_owned()
}

/// Asserts that the row of `cap` in `text` says each of `wants`.
#[track_caller]
fn row_says(text: &str, cap: &str, wants: &[&str]) {
    let row = row(text, cap);
    for want in wants {
        assert!(row.contains(want), "{want:?} missing from {cap}:\n{text}");
    }
}

#[tokio::test]
async fn detect_reads_taints_ingress_classes_psp_cloud_and_flags() {
    let (hub, ext) = tokio::join!(hub::start(), start_external("eks", false));
    let hub = hub.unwrap();
    let (hk, ek) = (hub.kubeconfig(), ext.kubeconfig());
    let mut step = Steps::start("the cluster registered for import");
    let register = [
        "register",
        "eks",
        "--from-kubeconfig",
        path(&ek),
        "--mode",
        "import",
    ];
    extcluster(&hk, &register).success();
    step.check(
        "--detect before anything is there: little to say, and why",
        async {
            let out = extcluster(&hk, &["annotate", "eks", "--detect", "--dry-run"]).success();
            little_to_detect_in_an_empty_cluster(&out.stdout);
        },
    )
    .await;
    step.next(
        "taints, an IngressClass, a cloud provider and PodSecurityPolicy use put in the cluster",
    );
    taints_ingress_class_cloud_and_psp(&ext).await;
    // Someone declared pspEnabled already, differently: detection keeps it without --overwrite.
    step.next("pspEnabled declared by hand");
    extcluster(&hk, &["annotate", "eks", "pspEnabled=false"]).success();
    step.check(
        "--detect --dry-run shows each finding, keeps what was declared, writes nothing",
        async {
            let dry = extcluster(&hk, &["annotate", "eks", "--detect", "--dry-run"]).success();
            the_dry_run_shows_each_finding(&dry.stdout);
            let a = annotations(&hub, "eks").await;
            assert!(
                !a.contains_key(&key("taintSupport")),
                "--dry-run wrote nothing"
            );
        },
    )
    .await;
    step.next("--detect writes what it found, keeping what was declared");
    extcluster(&hk, &["annotate", "eks", "--detect"]).success();
    detected_values_are_written_declared_kept(&annotations(&hub, "eks").await);
    step.next("--detect --overwrite replaces what was declared");
    let overwritten = extcluster(&hk, &["annotate", "eks", "--detect", "--overwrite"]).success();
    assert_eq!(annotations(&hub, "eks").await[&key("pspEnabled")], "true");
    assert!(
        !overwritten.stderr.contains("Warning"),
        "1.20 has PodSecurityPolicy: {}",
        overwritten.stderr
    );
    step.check("describe shows them", async {
        let text = extcluster(&hk, &["describe", "eks"]).success().stdout;
        assert_contains(&text, "taintSupport:");
    })
    .await;
    step.finish();
}

fn little_to_detect_in_an_empty_cluster(text: &str) {
    row_says(text, "nodePortRange", &["<unset>", "not visible"]);
    row_says(text, "taintSupport", &["<unset>"]);
    row_says(text, "ingressCapabilities", &["no IngressClass"]);
    // kube-apiserver 1.20 serves policy/v1beta1 PodSecurityPolicy; served is not enforced.
    row_says(
        text,
        "pspEnabled",
        &[
            "<unset>",
            "serves podsecuritypolicies, which does not show whether the PodSecurityPolicy admission plugin enforces them",
        ],
    );
}

async fn taints_ingress_class_cloud_and_psp(ext: &ControlPlane) {
    let client = ext.client().await.unwrap();
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
    Api::<Pod>::namespaced(client, "kube-system")
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
}

fn the_dry_run_shows_each_finding(text: &str) {
    row_says(
        text,
        "taintSupport",
        &["true", "dedicated=infra:NoSchedule"],
    );
    row_says(
        text,
        "ingressCapabilities",
        &[
            r#"[{"ingressProvider":"Nginx"}]"#,
            "IngressClass nginx has controller k8s.io/ingress-nginx",
        ],
    );
    row_says(
        text,
        "loadBalancerCapabilities",
        &[
            r#"{"enabled":true,"provider":"ELB"}"#,
            "aws:///eu-west-1a/i-0abc",
        ],
    );
    row_says(
        text,
        "nodePortRange",
        &["30000-32000", "kube-apiserver-cp-1"],
    );
    row_says(
        text,
        "pspEnabled",
        &["with the PodSecurityPolicy admission plugin"],
    );
    assert_contains(text, "pspEnabled kept at false (detected true");
    assert_contains(text, "dry run");
}

fn detected_values_are_written_declared_kept(a: &std::collections::BTreeMap<String, String>) {
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

/// The external cluster `rke` with an SSO login, registered with `--convert` and disconnected in
/// turns.
struct Remote {
    hub: ControlPlane,
    ext: ControlPlane,
    /// The hub's admin kubeconfig.
    hk: PathBuf,
    /// The SSO login's kubeconfig.
    sso: PathBuf,
    /// A client of the external cluster.
    client: kube::Client,
    _dir: tempfile::TempDir,
}

impl Remote {
    /// `import` or `connect` with `--convert`.
    fn register_converted(&self, verb: &str) {
        let args = [
            verb,
            "rke",
            "--from-kubeconfig",
            path(&self.sso),
            "--convert",
        ];
        extcluster(&self.hk, &args).success();
    }

    fn kube_system<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), "kube-system")
    }

    fn cluster_wide<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope>,
        K::DynamicType: Default,
    {
        Api::all(self.client.clone())
    }
}

#[tokio::test]
async fn disconnect_cleanup_remote_removes_exactly_what_convert_made() {
    let (hub, ext) = tokio::join!(hub::start(), start_external("rke", true));
    let (hub, dir) = (hub.unwrap(), tempfile::tempdir().unwrap());
    let mut r = Remote {
        hk: hub.kubeconfig(),
        sso: sso_kubeconfig(&ext, dir.path()),
        client: ext.client().await.unwrap(),
        hub,
        ext,
        _dir: dir,
    };
    let mut step = Steps::start("objects that are not convert-kubeconfig's, some look-alikes");
    objects_not_made_by_convert(&r).await;
    step.next("import --convert, then disconnect --cleanup-remote removes what convert made");
    cleanup_remote_removes_what_convert_made(&r).await;
    step.check(
        "everything else is still there",
        everything_else_is_still_there(&r),
    )
    .await;
    step.next("read-only credentials cannot remove themselves: the registration stays");
    let err = read_only_credentials_cannot_remove_themselves(&r).await;
    step.next("the command the refusal gives unblocks it; disconnect then finishes the job");
    the_command_given_unblocks_the_disconnect(&r, &err).await;
    step.next("an unreachable cluster: the registration stays, saying how to go on");
    r.register_converted("import");
    r.ext.stop_apiserver();
    an_unreachable_cluster_keeps_the_registration(&r).await;
    step.finish();
}

/// Objects named `keep-me`, one a binding labelled like convert's.
async fn objects_not_made_by_convert(r: &Remote) {
    let keep_sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "keep-me"}})).unwrap();
    r.kube_system()
        .create(&PostParams::default(), &keep_sa)
        .await
        .unwrap();
    let keep_crb: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "keep-me", "labels": {"extcluster.io/service-account": SA}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "keep-me", "namespace": "kube-system"}]
    }))
    .unwrap();
    r.cluster_wide()
        .create(&PostParams::default(), &keep_crb)
        .await
        .unwrap();
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "keep-me", "namespace": "kube-system"}}),
    )
    .unwrap();
    r.kube_system()
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
}

async fn cleanup_remote_removes_what_convert_made(r: &Remote) {
    let sas: Api<ServiceAccount> = r.kube_system();
    let crbs: Api<ClusterRoleBinding> = r.cluster_wide();
    r.register_converted("import");
    assert!(sas.get_opt(SA).await.unwrap().is_some());
    let out = extcluster(&r.hk, &["disconnect", "rke", "--yes", "--cleanup-remote"]).success();
    for want in [
        "disconnected",
        "Removed from",
        "clusterrolebinding/extcluster-manager",
        "serviceaccount/extcluster-manager in kube-system",
        "secret/extcluster-manager-token in kube-system",
    ] {
        assert_contains(&out.stdout, want);
    }
    assert!(registrations(&r.hub).await.is_empty());
    assert!(crbs.get_opt(SA).await.unwrap().is_none());
    wait_until_gone(&sas, SA).await;
    wait_until_gone(&r.kube_system::<Secret>(), "extcluster-manager-token").await;
}

async fn everything_else_is_still_there(r: &Remote) {
    let crbs: Api<ClusterRoleBinding> = r.cluster_wide();
    let sas: Api<ServiceAccount> = r.kube_system();
    let cms: Api<ConfigMap> = r.kube_system();
    assert!(sas.get_opt("keep-me").await.unwrap().is_some());
    assert!(crbs.get_opt("keep-me").await.unwrap().is_some());
    assert!(cms.get_opt("keep-me").await.unwrap().is_some());
    assert!(crbs.get_opt("cluster-admin").await.unwrap().is_some());
    let namespaces: Api<Namespace> = r.cluster_wide();
    assert!(namespaces.get_opt("kube-system").await.unwrap().is_some());
}

/// Nothing changes on the hub (the stored credentials are still there to finish with), and the
/// one command that unblocks it is given: returns the error line.
async fn read_only_credentials_cannot_remove_themselves(r: &Remote) -> String {
    r.register_converted("connect");
    let roles: Api<ClusterRole> = r.cluster_wide();
    let read_only = roles.get_opt("extcluster-reader-read-only").await.unwrap();
    assert!(read_only.is_some());
    let err = one_line_error(
        extcluster(&r.hk, &["disconnect", "rke", "--yes", "--cleanup-remote"]),
        &[
            "still registered",
            "read-only",
            "kubectl delete clusterrolebinding -l",
            "without --cleanup-remote",
        ],
    );
    assert_eq!(registrations(&r.hub).await, ["rke"]);
    err
}

async fn the_command_given_unblocks_the_disconnect(r: &Remote, err: &str) {
    let command = err.split('`').nth(1).expect("a command in backquotes");
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    kubectl::run(&r.ext.kubeconfig(), &args, None).success();
    wait_until_gone(&r.kube_system::<ServiceAccount>(), "extcluster-reader").await;
    wait_until_gone(
        &r.cluster_wide::<ClusterRole>(),
        "extcluster-reader-read-only",
    )
    .await;
    let crbs: Api<ClusterRoleBinding> = r.cluster_wide();
    assert!(crbs.get_opt("keep-me").await.unwrap().is_some());
    // Removed there by hand, the disconnect of the hub side finishes the job.
    let out = extcluster(&r.hk, &["disconnect", "rke", "--yes"]).success();
    assert_contains(&out.stdout, "disconnected");
    assert!(registrations(&r.hub).await.is_empty());
}

/// Nothing changes on the hub, and it says how to go on; without --cleanup-remote the disconnect
/// needs nothing from the cluster, and leaves no stored kubeconfig.
async fn an_unreachable_cluster_keeps_the_registration(r: &Remote) {
    one_line_error(
        extcluster(&r.hk, &["disconnect", "rke", "--yes", "--cleanup-remote"]),
        &[
            "still registered",
            "cannot reach",
            "kubectl delete clusterrolebinding -l",
        ],
    );
    assert_eq!(registrations(&r.hub).await, ["rke"]);
    extcluster(&r.hk, &["disconnect", "rke", "--yes"]).success();
    assert!(registrations(&r.hub).await.is_empty());
    let left: Vec<Secret> =
        Api::<Secret>::namespaced(r.hub.client().await.unwrap(), SYSTEM_NAMESPACE)
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|s| s.metadata.name.as_deref() == Some("rke-kubeconfig"))
            .collect();
    assert!(left.is_empty());
}
