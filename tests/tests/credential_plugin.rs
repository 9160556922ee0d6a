//! `kubectl-extcluster credential` as a consumer uses it: a kubeconfig whose user is the exec
//! plugin, read by the real kubectl, reaching the external cluster with what the hub stores, and
//! only for a hub user whose RBAC may read that Secret.

use extcluster_tests::bins::workspace_bin;
use extcluster_tests::plugin::extcluster;
use extcluster_tests::{ControlPlane, Options, assert_contains, hub, kubectl, path_str, repo_root};
use std::path::Path;

fn consumer_kubeconfig(ext: &ControlPlane, hub_kubeconfig: &Path, by_extension: bool) -> String {
    extcluster_tests::plugin::consumer_kubeconfig(ext, hub_kubeconfig, "prod", by_extension)
}

#[tokio::test]
async fn a_consumer_reaches_the_cluster_through_the_credential_plugin_with_the_hubs_rbac_deciding()
{
    let (hub, ext) = tokio::join!(
        hub::start(),
        ControlPlane::start(Options::default().name("prod"))
    );
    let (hub, ext) = (hub.unwrap(), ext.unwrap());
    extcluster(
        &hub.kubeconfig(),
        &[
            "import",
            "prod",
            "--from-kubeconfig",
            path_str(&ext.kubeconfig()),
        ],
    )
    .success();
    let dir = tempfile::tempdir().unwrap();

    // By name, and by the cluster's exec extension: real kubectl, real API server.
    for by_extension in [false, true] {
        let consumer = dir.path().join(format!("consumer-{by_extension}"));
        std::fs::write(
            &consumer,
            consumer_kubeconfig(&ext, &hub.kubeconfig(), by_extension),
        )
        .unwrap();
        let out = kubectl::run(
            &consumer,
            &["get", "namespace", "kube-system", "-o", "name"],
            None,
        );
        assert!(
            out.ok(),
            "kubectl through the credential plugin: {}",
            out.stderr
        );
        assert_eq!(out.stdout.trim(), "namespace/kube-system");
        let can = kubectl::run(&consumer, &["auth", "can-i", "delete", "nodes"], None);
        assert_eq!(
            can.stdout.trim(),
            "yes",
            "the stored (admin) credentials: {}",
            can.stderr
        );
    }

    // A hub user who may read registrations but not their Secrets gets a refusal, no credential.
    let roles = repo_root().join("manifests/roles.yaml");
    assert!(hub.kubectl(&["apply", "-f", path_str(&roles)]).ok());
    assert!(
        hub.kubectl(&[
            "create",
            "clusterrolebinding",
            "viewer",
            "--clusterrole=extcluster-viewer",
            "--user=viewer"
        ])
        .ok()
    );
    let viewer = dir.path().join("viewer-hub");
    hub.write_client_kubeconfig(&viewer, "viewer", &[], time::Duration::days(1))
        .unwrap();
    let consumer = dir.path().join("consumer-viewer");
    std::fs::write(&consumer, consumer_kubeconfig(&ext, &viewer, false)).unwrap();
    let out = kubectl::run(&consumer, &["get", "namespace", "kube-system"], None);
    assert!(!out.ok());
    assert_contains(
        &out.stderr,
        "a credential needs get on that Secret on the hub",
    );
    assert_contains(&out.stderr, "forbidden");

    // Credentials for another server are refused, whatever the caller may read.
    let direct = std::process::Command::new(workspace_bin("kubectl-extcluster").unwrap())
        .args(["credential", "--kubeconfig", path_str(&hub.kubeconfig())])
        .env(
            "KUBERNETES_EXEC_INFO",
            r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false,"cluster":{"server":"https://127.0.0.1:1","config":{"registration":"prod"}}}}"#,
        )
        .output()
        .unwrap();
    assert!(!direct.status.success() && direct.stdout.is_empty());
    assert_contains(
        &String::from_utf8_lossy(&direct.stderr),
        "is registered for",
    );
}

/// A consumer kubeconfig that is also the plugin's hub kubeconfig (`KUBECONFIG=consumer
/// kubectl get ns`): each `credential` would start another through it. Real kubectl runs it; it
/// ends with an error that says so, and no plugin process is left.
#[tokio::test]
async fn a_hub_kubeconfig_that_leads_back_to_the_plugin_ends_at_once_with_the_reason() {
    let bin = workspace_bin("kubectl-extcluster").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (stderr, most) = kubectl_through_loop(dir.path(), &bin.display().to_string()).await;
    assert_contains(
        &stderr,
        "gets its credentials from `kubectl-extcluster credential` itself",
    );
    assert_contains(&stderr, "consumer.kubeconfig");
    assert!(
        !stderr.contains("cannot log in"),
        "a plugin was started: {stderr}"
    );
    assert!(most <= 1, "{most} plugin processes at once");
}

/// The same loop through a wrapper script the plugin cannot recognise: the depth it is started
/// at ends it.
#[tokio::test]
async fn a_loop_through_a_wrapper_ends_two_levels_deep() {
    let bin = workspace_bin("kubectl-extcluster").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("login-wrapper");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {} \"$@\"\n", bin.display()),
    )
    .unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&wrapper, mode).unwrap();
    let (stderr, most) = kubectl_through_loop(dir.path(), &wrapper.display().to_string()).await;
    assert_contains(
        &stderr,
        "a loop: kubectl-extcluster credential started by itself 2 levels",
    );
    assert!(most <= 3, "{most} plugin processes at once");
}

/// `KUBECONFIG=consumer kubectl get ns`, where the consumer's user runs `command credential
/// prod` with no hub kubeconfig of its own. Returns kubectl's stderr and the most plugin
/// processes seen at once; fails if it hangs or leaves a plugin process behind.
async fn kubectl_through_loop(dir: &Path, command: &str) -> (String, usize) {
    let consumer = dir.join("consumer.kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: prod\nclusters:\n- name: prod\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: prod\n  context: {{cluster: prod, user: prod}}\nusers:\n- name: prod\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {command}\n      args: [credential, prod]\n      interactiveMode: Never\n"
    );
    std::fs::write(&consumer, text).unwrap();
    let mut child = tokio::process::Command::new("kubectl")
        .args(["get", "ns", "--request-timeout=5s"])
        .env("KUBECONFIG", &consumer)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut most = 0;
    let finished = tokio::time::timeout(std::time::Duration::from_secs(120), async {
        loop {
            most = most.max(plugins_running(&consumer));
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("kubectl get ns hung: the plugin runs away");
    let out = child.wait_with_output().await.unwrap();
    assert!(!finished.success());
    assert_eq!(
        plugins_running(&consumer),
        0,
        "a plugin process left behind"
    );
    (String::from_utf8_lossy(&out.stderr).into_owned(), most)
}

/// `kubectl-extcluster credential` processes whose environment names `kubeconfig`.
fn plugins_running(kubeconfig: &Path) -> usize {
    let needle = format!("KUBECONFIG={}", kubeconfig.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let environ = std::fs::read(e.path().join("environ")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains("kubectl-extcluster")
                && String::from_utf8_lossy(&environ).contains(&needle)
        })
        .count()
}
