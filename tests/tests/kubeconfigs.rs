//! Kubeconfigs kubectl accepts work for every client of ours (the plugin's, for the hub and for
//! an external cluster; the webhook's; the stored one the hub probes with): X.509 v1 client
//! certificates, `proxy-url` through real HTTP CONNECT and SOCKS5 proxies, and a `KUBECONFIG`
//! list with a file that does not exist. Each is checked against kubectl first, as the control.

use extcluster_tests::forward_proxy::{ForwardProxy, Protocol};
use extcluster_tests::kubectl::{Output, run_with};
use extcluster_tests::plugin::{extcluster, extcluster_env, one_line_error};
use extcluster_tests::webhook::{HubKubeconfig, WebhookProcess};
use extcluster_tests::{assert_contains, hub, path_str};
use std::path::Path;

/// Plain kubectl with `args` and `env` (and no KUBECONFIG of the test's).
fn kubectl(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new("kubectl");
    cmd.args(args)
        .env_remove("KUBECONFIG")
        .envs(env.iter().copied());
    run_with(&mut cmd, None)
}

/// kubectl, given only `kubeconfig`, can read a namespace: the control for each case.
fn kubectl_accepts(kubeconfig: &Path) {
    let out = kubectl(
        &[
            "--kubeconfig",
            path_str(kubeconfig),
            "get",
            "namespace",
            "kube-system",
        ],
        &[],
    );
    assert!(
        out.ok(),
        "kubectl refuses {}: {}",
        kubeconfig.display(),
        out.stderr
    );
}

#[tokio::test]
async fn x509_v1_client_certificates_work_like_they_do_for_kubectl() {
    let (hub, ext) = hub::and_external("legacy").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ext_v1 = dir.path().join("legacy.kubeconfig");
    ext.write_openssl_recipe_kubeconfig(&ext_v1, "alice", "system:masters")
        .unwrap();
    let hub_v1 = dir.path().join("hub.kubeconfig");
    hub.write_openssl_recipe_kubeconfig(&hub_v1, "bob", "system:masters")
        .unwrap();
    kubectl_accepts(&ext_v1);
    kubectl_accepts(&hub_v1);

    // The webhook reads the hub with one, and the hub calls it.
    let webhook = WebhookProcess::start_reading_hub(&hub, HubKubeconfig::File(hub_v1.clone()), &[])
        .await
        .unwrap();
    webhook.register_and_wait(&hub).await.unwrap();

    // The plugin: the hub with one, the external cluster with another; stored and probed.
    let out = extcluster(
        &hub_v1,
        &["import", "legacy", "--from-kubeconfig", path_str(&ext_v1)],
    );
    assert_contains(&out.success().stdout, "registered (Import");
    let out = extcluster(&hub_v1, &["refresh", "legacy"]).success();
    assert_contains(&out.stdout, "Running");
    let described = extcluster(&hub_v1, &["describe", "legacy"])
        .success()
        .stdout;
    assert_contains(&described, "user alice");
}

/// `kubeconfig` with `proxy-url: url` added to its cluster.
fn with_proxy(kubeconfig: &Path, url: &str, out: &Path) {
    let text = std::fs::read_to_string(kubeconfig).unwrap();
    let proxied: String = text
        .lines()
        .flat_map(|l| {
            let mut lines = vec![l.to_owned()];
            if l.trim_start().starts_with("server:") {
                lines.push(format!("    proxy-url: {url}"));
            }
            lines
        })
        .map(|l| l + "\n")
        .collect();
    assert!(proxied.contains("proxy-url:"), "{proxied}");
    std::fs::write(out, proxied).unwrap();
}

#[tokio::test]
async fn proxy_url_goes_through_real_connect_and_socks5_proxies_with_credentials() {
    let (hub, ext) = hub::and_external("private").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let password = "pa:ss@word";
    let credentials = format!("alice:{password}");
    let in_url = "alice:pa%3Ass%40word";
    let (connect, socks) = tokio::join!(
        ForwardProxy::start(Protocol::Connect, Some(&credentials)),
        ForwardProxy::start(Protocol::Socks5, Some(&credentials))
    );
    let (connect, socks) = (connect.unwrap(), socks.unwrap());
    let ext_address = ext
        .server()
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned();
    let hub_address = hub
        .server()
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned();

    let via_http = dir.path().join("via-http.kubeconfig");
    with_proxy(
        &ext.kubeconfig(),
        &format!("http://{in_url}@127.0.0.1:{}", connect.port),
        &via_http,
    );
    let via_socks = dir.path().join("via-socks.kubeconfig");
    with_proxy(
        &ext.kubeconfig(),
        &format!("socks5://{in_url}@127.0.0.1:{}", socks.port),
        &via_socks,
    );
    let hub_via_socks = dir.path().join("hub-via-socks.kubeconfig");
    with_proxy(
        &hub.kubeconfig(),
        &format!("socks5://{in_url}@127.0.0.1:{}", socks.port),
        &hub_via_socks,
    );
    kubectl_accepts(&via_http);
    kubectl_accepts(&via_socks);
    let kubectl_tunnels = (connect.tunnels().len(), socks.tunnels().len());

    // Registered through the CONNECT proxy, the hub itself reached through the SOCKS5 one.
    let out = extcluster(
        &hub_via_socks,
        &[
            "import",
            "private",
            "--from-kubeconfig",
            path_str(&via_http),
        ],
    );
    assert_contains(&out.success().stdout, "registered (Import");
    assert!(
        connect.tunnels().len() > kubectl_tunnels.0,
        "{:?}",
        connect.tunnels()
    );
    assert!(
        connect.tunnels().iter().all(|t| *t == ext_address),
        "{:?}",
        connect.tunnels()
    );
    assert!(socks.tunnels()[kubectl_tunnels.1..].contains(&hub_address));
    let described = extcluster(&hub.kubeconfig(), &["describe", "private"])
        .success()
        .stdout;
    assert_contains(
        &described,
        &format!("Through Proxy:       http://127.0.0.1:{}\n", connect.port),
    );
    assert!(!described.contains("word"), "{described}");

    // Moved to the SOCKS5 proxy; the stored kubeconfig is probed through it.
    let out = extcluster(
        &hub.kubeconfig(),
        &[
            "set-credentials",
            "private",
            "--from-kubeconfig",
            path_str(&via_socks),
        ],
    );
    assert_contains(&out.success().stdout, "credentials replaced");
    let before = socks.tunnels().len();
    extcluster(&hub.kubeconfig(), &["refresh", "private"]).success();
    assert!(
        socks.tunnels()[before..].contains(&ext_address),
        "{:?}",
        socks.tunnels()
    );

    // A wrong password: the proxy says no, the error says where, and never the password.
    let wrong = dir.path().join("wrong.kubeconfig");
    with_proxy(
        &ext.kubeconfig(),
        &format!("http://alice:nope-{}@127.0.0.1:{}", "x", connect.port),
        &wrong,
    );
    let out = extcluster(
        &hub.kubeconfig(),
        &[
            "connect",
            "other",
            "--from-kubeconfig",
            path_str(&wrong),
            "--dry-run",
        ],
    );
    one_line_error(&out, &[]);
    assert!(!out.stderr.contains("nope-x"), "{}", out.stderr);
    assert_eq!(connect.refusals(), ["credentials"]);
}

#[tokio::test]
async fn proxy_url_over_https_is_verified_like_the_cluster_as_kubectl_does() {
    let (hub, ext) = hub::and_external("behind-tls").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // As Go's transport does, the proxy's certificate is checked with the kubeconfig's TLS
    // settings: here it is the external API server's own, signed by the cluster's CA.
    let serving = |cp: &extcluster_tests::ControlPlane| {
        (
            cp.dir().join("apiserver.crt"),
            cp.dir().join("apiserver.key"),
        )
    };
    let (ext_cert, ext_key) = serving(&ext);
    let (hub_cert, hub_key) = serving(&hub);
    let ext_proxy = ForwardProxy::start(
        Protocol::ConnectTls {
            cert: &ext_cert,
            key: &ext_key,
        },
        Some("bob:s3cret"),
    );
    let hub_proxy = ForwardProxy::start(
        Protocol::ConnectTls {
            cert: &hub_cert,
            key: &hub_key,
        },
        None,
    );
    let (ext_proxy, hub_proxy) = tokio::join!(ext_proxy, hub_proxy);
    let (ext_proxy, hub_proxy) = (ext_proxy.unwrap(), hub_proxy.unwrap());
    let ext_address = ext.server().trim_start_matches("https://").to_owned();

    let via_https = dir.path().join("via-https.kubeconfig");
    with_proxy(
        &ext.kubeconfig(),
        &format!("https://bob:s3cret@127.0.0.1:{}", ext_proxy.port),
        &via_https,
    );
    kubectl_accepts(&via_https);
    let by_kubectl = ext_proxy.tunnels().len();
    assert!(by_kubectl > 0, "kubectl went through the proxy");

    let out = extcluster(
        &hub.kubeconfig(),
        &[
            "connect",
            "behind-tls",
            "--from-kubeconfig",
            path_str(&via_https),
        ],
    );
    assert_contains(&out.success().stdout, "registered (Connect");
    let ours = &ext_proxy.tunnels()[by_kubectl..];
    assert!(
        !ours.is_empty() && ours.iter().all(|t| *t == ext_address),
        "{ours:?}"
    );
    let described = extcluster(&hub.kubeconfig(), &["describe", "behind-tls"])
        .success()
        .stdout;
    assert_contains(
        &described,
        &format!(
            "Through Proxy:       https://127.0.0.1:{}\n",
            ext_proxy.port
        ),
    );
    assert!(!described.contains("s3cret"), "{described}");

    // A proxy whose certificate the kubeconfig's CA did not sign: refused, as kubectl refuses it,
    // before any tunnel is made.
    let untrusted = dir.path().join("untrusted.kubeconfig");
    with_proxy(
        &ext.kubeconfig(),
        &format!("https://127.0.0.1:{}", hub_proxy.port),
        &untrusted,
    );
    let theirs = kubectl(
        &[
            "--kubeconfig",
            path_str(&untrusted),
            "get",
            "--raw",
            "/version",
        ],
        &[],
    );
    assert!(!theirs.ok(), "kubectl refuses it too");
    let out = extcluster(
        &hub.kubeconfig(),
        &[
            "connect",
            "other",
            "--from-kubeconfig",
            path_str(&untrusted),
            "--dry-run",
        ],
    );
    one_line_error(&out, &["certificate"]);
    assert!(hub_proxy.tunnels().is_empty(), "{:?}", hub_proxy.tunnels());
}

#[tokio::test]
async fn a_kubeconfig_list_with_a_missing_file_works_as_it_does_for_kubectl() {
    let hub = hub::start().await.unwrap();
    let list = format!("/nonexistent/kubeconfig:{}", path_str(&hub.kubeconfig()));
    let env = [("KUBECONFIG", list.as_str())];
    let out = kubectl(&["get", "namespace", "kube-system"], &env);
    assert!(out.ok(), "{}", out.stderr);
    let out = extcluster_env(&["list"], &env);
    assert!(out.ok(), "{}", out.stderr);

    // The webhook, given the same list and no --kubeconfig, watches that hub and is called.
    let webhook = WebhookProcess::start_reading_hub(&hub, HubKubeconfig::Environment, &env)
        .await
        .unwrap();
    webhook.register_and_wait(&hub).await.unwrap();

    // None of them exists: one sentence naming the variable.
    let missing = [("KUBECONFIG", "/nonexistent/a:/nonexistent/b")];
    let out = extcluster_env(&["list"], &missing);
    one_line_error(
        &out,
        &[
            "KUBECONFIG=/nonexistent/a:/nonexistent/b",
            "none of the files",
        ],
    );
}

#[tokio::test]
async fn an_exec_plugin_that_hangs_is_given_up_on_with_its_name() {
    use extcluster_tests::control_plane::User;
    let hub = hub::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hanging = dir.path().join("hanging.kubeconfig");
    let user = User::Exec {
        command: "sleep".into(),
        args: vec!["600".into()],
    };
    hub.write_kubeconfig(&hanging, &user).unwrap();
    // The hub's own login.
    let started = std::time::Instant::now();
    let out = extcluster(&hanging, &["list", "--exec-timeout", "1s"]);
    one_line_error(
        &out,
        &["sleep", "did not finish within 1s", "--exec-timeout"],
    );
    // A hang guard: without the bound this would not return at all.
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    // A kubeconfig being registered with --convert.
    let out = extcluster(
        &hub.kubeconfig(),
        &[
            "import",
            "hanging",
            "--from-kubeconfig",
            path_str(&hanging),
            "--convert",
            "--exec-timeout",
            "1s",
        ],
    );
    extcluster_tests::plugin::final_error_line(&out, &["sleep", "did not finish within 1s"]);
    assert!(extcluster_tests::hub::registrations(&hub).await.is_empty());
}
