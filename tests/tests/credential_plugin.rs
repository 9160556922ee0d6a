//! `kubectl-extcluster credential` as a consumer uses it: a kubeconfig whose user is the exec
//! plugin, read by the real kubectl, reaching the external cluster with what the hub stores, and
//! only for a hub user whose RBAC may read that Secret.

use extcluster_tests::bins::workspace_bin;
use extcluster_tests::plugin::extcluster;
use extcluster_tests::{
    ControlPlane, Options, assert_contains, b64, hub, kubectl, path_str, repo_root,
};
use std::path::Path;

/// A consumer's kubeconfig: the external cluster's endpoint and CA, and the credential plugin as
/// its user, asking the hub through `hub_kubeconfig`.
fn consumer_kubeconfig(ext: &ControlPlane, hub_kubeconfig: &Path, by_extension: bool) -> String {
    let bin = workspace_bin("kubectl-extcluster").unwrap();
    let (name_arg, extension) = if by_extension {
        (
            String::new(),
            "    extensions:\n    - name: client.authentication.k8s.io/exec\n      extension:\n        registration: prod\n".to_owned(),
        )
    } else {
        ("      - prod\n".to_owned(), String::new())
    };
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: prod\nclusters:\n- name: prod\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n{extension}contexts:\n- name: prod\n  context: {{cluster: prod, user: prod}}\nusers:\n- name: prod\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {bin}\n      args:\n      - credential\n{name_arg}      - --kubeconfig\n      - {hub}\n      interactiveMode: Never\n      provideClusterInfo: true\n",
        server = ext.server(),
        ca = b64(ext.ca_pem()),
        bin = bin.display(),
        hub = hub_kubeconfig.display(),
    )
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
