//! extcluster-webhook as a local process, registered by URL with a real kube-apiserver; every rule
//! exercised with plain kubectl.

use extcluster_tests::plugin::extcluster;
use extcluster_tests::tls_client;
use extcluster_tests::webhook::{WebhookProcess, assert_denied, create};
use extcluster_tests::{ControlPlane, Wait, assert_contains, bins, cluster_yaml, free_port, hub};
use std::time::Duration;

async fn guarded_hub() -> (ControlPlane, WebhookProcess) {
    let hub = hub::start().await.unwrap();
    let webhook = WebhookProcess::start(&hub, &[]).await.unwrap();
    webhook.register_and_wait(&hub).await.unwrap();
    (hub, webhook)
}

#[tokio::test]
async fn version_range_is_enforced_on_both_sides_of_the_edges() {
    let (hub, webhook) = guarded_hub().await;
    for (i, v) in [
        "v1.18.20-eks-1",
        "v1.18.99+k3s1",
        "v1.35.0-gke.100",
        "v1.35.0",
        "2.0.0",
    ]
    .iter()
    .enumerate()
    {
        let out = create(
            &hub,
            &cluster_yaml(&format!("out-{i}"), &format!("out-id-{i}"), v, &[]),
        );
        assert_denied(&out, &[v, ">=1.19.0, <1.35.0"]);
    }
    for (i, v) in [
        "v1.19.0-eks-adc7111",
        "v1.19.0",
        "v1.34.7+k3s1",
        "v1.34.99-gke.1",
        "1.28.8-r0",
        "v1.31.4+rke2r1",
    ]
    .iter()
    .enumerate()
    {
        create(
            &hub,
            &cluster_yaml(&format!("in-{i}"), &format!("in-id-{i}"), v, &[]),
        )
        .success();
    }
    let listed = hub.kubectl(&["get", "extc", "-o", "name"]).success().stdout;
    assert_eq!(
        listed.lines().count(),
        6,
        "only the in-range ones exist:\n{listed}"
    );
    assert!(
        webhook.log().contains("version_out_of_range"),
        "denials are logged"
    );
}

#[tokio::test]
async fn reimport_denied_until_the_first_is_disconnected_and_imported_delete_needs_disconnect() {
    let (hub, webhook) = guarded_hub().await;
    create(
        &hub,
        &cluster_yaml("prod-a", "cluster-x", "v1.29.3-eks-adc7111", &[]),
    )
    .success();
    webhook.wait_registrations(1).await.unwrap();
    let out = create(
        &hub,
        &cluster_yaml("prod-b", "cluster-x", "v1.29.3-eks-adc7111", &[]),
    );
    assert_denied(
        &out,
        &["re-import of an active cluster", "\"prod-a\"", "cluster-x"],
    );

    // Delete of an imported registration is refused, with the way out.
    let out = hub.kubectl(&["delete", "extc", "prod-a"]);
    assert_denied(
        &out,
        &["kubectl extcluster disconnect prod-a", "left untouched"],
    );

    // Marking it for disconnect frees the cluster ID for another registration...
    hub.kubectl(&[
        "annotate",
        "extc",
        "prod-a",
        "extcluster.io/disconnect=true",
    ])
    .success();
    let prod_b = cluster_yaml("prod-b", "cluster-x", "v1.29.3-eks-adc7111", &[]);
    let allowed = Wait::up_to(
        Duration::from_secs(30),
        "prod-b to be allowed after disconnecting prod-a",
    )
    .until(async || create(&hub, &prod_b).ok().then_some(()))
    .await;
    if let Err(timeout) = allowed {
        panic!("{timeout}:\n{}", webhook.log());
    }
    // ...and lets the delete through.
    hub.kubectl(&["delete", "extc", "prod-a"]).success();
    // A Provisioned registration may be deleted outright.
    let provisioned = cluster_yaml("made-here", "cluster-p", "v1.30.1", &[])
        .replace("mode: Import", "mode: Import\n  origin: Provisioned");
    create(&hub, &provisioned).success();
    hub.kubectl(&["delete", "extc", "made-here"]).success();
    // Identity is immutable.
    let out = hub.kubectl(&[
        "patch",
        "extc",
        "prod-b",
        "--type=merge",
        "-p",
        r#"{"spec":{"server":"https://elsewhere:6443"}}"#,
    ]);
    assert_denied(&out, &["spec.server"]);
}

#[tokio::test]
async fn capability_annotations_are_checked_on_create_and_update() {
    let (hub, _webhook) = guarded_hub().await;
    let out = create(
        &hub,
        &cluster_yaml(
            "caps",
            "cluster-c",
            "v1.30.0",
            &[("capabilities.extcluster.io/nodePortRange", "32767-30000")],
        ),
    );
    assert_denied(
        &out,
        &["capabilities.extcluster.io/nodePortRange", "LOW-HIGH"],
    );
    let valid = [
        (
            "capabilities.extcluster.io/ingressCapabilities",
            r#"[{"ingressProvider":"Nginx"}]"#,
        ),
        (
            "capabilities.extcluster.io/loadBalancerCapabilities",
            r#"{"enabled":true,"provider":"ELB"}"#,
        ),
        ("capabilities.extcluster.io/nodePortRange", "30000-32767"),
    ];
    create(&hub, &cluster_yaml("caps", "cluster-c", "v1.30.0", &valid)).success();
    let out = hub.kubectl(&[
        "annotate",
        "extc",
        "caps",
        "capabilities.extcluster.io/pspEnabled=yes",
    ]);
    assert_denied(&out, &["pspEnabled", "a boolean"]);
    let out = hub.kubectl(&[
        "annotate",
        "extc",
        "caps",
        "capabilities.cattle.io/taintSupport=1",
    ]);
    assert_denied(&out, &["taintSupport"]);
    let out = hub.kubectl(&[
        "annotate",
        "extc",
        "caps",
        "capabilities.extcluster.io/gpus=true",
    ]);
    assert_denied(&out, &["unknown capability", "ingressCapabilities"]);
    // Allowed, but a cluster on 1.25 or later has no PodSecurityPolicy: a warning, as kubectl
    // shows the webhook's warnings.
    let warned = hub
        .kubectl(&[
            "annotate",
            "extc",
            "caps",
            "capabilities.extcluster.io/pspEnabled=true",
            "capabilities.extcluster.io/taintSupport=false",
        ])
        .success();
    assert_contains(
        &warned.stderr,
        "Warning: caps says pspEnabled=true, but Kubernetes v1.30.0 has no PodSecurityPolicy (removed in 1.25): set it to false",
    );
    // The plugin says the same, as kubectl does.
    extcluster(&hub.kubeconfig(), &["annotate", "caps", "pspEnabled-"]).success();
    let plugin = extcluster(&hub.kubeconfig(), &["annotate", "caps", "pspEnabled=true"]).success();
    assert_contains(
        &plugin.stderr,
        "Warning: caps says pspEnabled=true, but Kubernetes v1.30.0 has no PodSecurityPolicy",
    );
    let older = cluster_yaml(
        "caps-old",
        "cluster-o",
        "v1.24.9",
        &[("capabilities.extcluster.io/pspEnabled", "true")],
    );
    let quiet = create(&hub, &older).success();
    assert!(!quiet.stderr.contains("Warning"), "{}", quiet.stderr);
    // The exports annotation is checked the same way: known tools only.
    let out = hub.kubectl(&[
        "annotate",
        "extc",
        "caps",
        "extcluster.io/exports=argocd,fleet",
    ]);
    assert_denied(
        &out,
        &["extcluster.io/exports", "\"fleet\"", "argocd, flux"],
    );
    hub.kubectl(&[
        "annotate",
        "extc",
        "caps",
        "extcluster.io/exports=flux,argocd",
    ])
    .success();
}

#[tokio::test]
async fn rotated_certificates_are_served_without_a_failed_request() {
    let (hub, mut webhook) = guarded_hub().await;
    let review =
        std::fs::read(extcluster_tests::repo_root().join("webhook/tests/fixtures/create.json"))
            .unwrap();
    let first_ca = webhook.ca.clone();
    let second_ca = webhook.prepare_rotation(&hub, 2).unwrap();
    let connector = tls_client::connector(&format!("{first_ca}{second_ca}")).unwrap();

    // Requests keep flowing (direct, a new connection each, and through the API server) while the
    // Secret-volume-style symlink swap happens halfway.
    let port = webhook.port;
    let direct = tokio::spawn(async move {
        let mut served = Vec::new();
        for _ in 0..150 {
            let reply = tls_client::post(&connector, port, "/validate", review.clone())
                .await
                .expect("no failed request");
            assert_eq!(reply.status, 200);
            served.push(fingerprint(&reply.served));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        served
    });
    let kubeconfig = hub.kubeconfig();
    let through_hub = std::thread::spawn(move || {
        (0..15)
            .map(|i| {
                let yaml = cluster_yaml(&format!("rot-{i}"), &format!("rot-{i}"), "v1.30.0", &[]);
                extcluster_tests::kubectl::run(
                    &kubeconfig,
                    &["create", "--dry-run=server", "-f", "-"],
                    Some(&yaml),
                )
            })
            .filter(|o| !o.ok())
            .map(|o| o.stderr)
            .collect::<Vec<_>>()
    });
    tokio::time::sleep(Duration::from_millis(1200)).await;
    webhook.swap_certificates(2).unwrap();

    let served = direct.await.unwrap();
    let failures = through_hub.join().unwrap();
    assert!(
        failures.is_empty(),
        "requests through the hub failed: {failures:?}"
    );
    assert_ne!(
        served[0],
        served[served.len() - 1],
        "the served certificate changed"
    );
    let switches = served.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(
        switches, 1,
        "once swapped, every new connection gets the new certificate"
    );
    assert_contains(&webhook.log(), "serving a new certificate");
    // The API server still reaches it with the new certificate.
    let out = create(&hub, &cluster_yaml("after", "after-id", "v1.10.0", &[]));
    assert_denied(&out, &["v1.10.0"]);
}

#[tokio::test]
async fn refuses_to_start_without_a_certificate_and_never_serves_plain_http() {
    let bin = bins::workspace_bin("extcluster-webhook").unwrap();
    let out = std::process::Command::new(&bin)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--tls-cert-file and --tls-key-file are required") && err.contains("certs"),
        "{err}"
    );
    let out = std::process::Command::new(&bin)
        .args([
            "--tls-cert-file",
            "/nonexistent/tls.crt",
            "--tls-key-file",
            "/nonexistent/tls.key",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_contains(
        &String::from_utf8_lossy(&out.stderr),
        "/nonexistent/tls.crt",
    );

    let hub = hub::start().await.unwrap();
    let webhook = WebhookProcess::start(&hub, &[]).await.unwrap();
    // Plain HTTP to the TLS port gets no HTTP answer.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", webhook.port))
        .await
        .unwrap();
    s.write_all(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(
        !String::from_utf8_lossy(&buf).contains("HTTP/1.1"),
        "plain HTTP must not be served"
    );
}

#[tokio::test]
async fn sigterm_finishes_and_exits_zero() {
    let hub = hub::start().await.unwrap();
    let webhook = WebhookProcess::start(&hub, &[]).await.unwrap();
    // A second instance on other ports, run directly so its exit status can be read.
    let bin = bins::workspace_bin("extcluster-webhook").unwrap();
    let dir = webhook.dir();
    // Picked: the webhook does not report the port it bound (see WebhookProcess).
    let (port, probe) = (free_port().unwrap(), free_port().unwrap());
    let mut child = std::process::Command::new(bin)
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg(format!("--probe-listen=127.0.0.1:{probe}"))
        .arg(format!("--tls-cert-file={}", dir.join("tls.crt").display()))
        .arg(format!("--tls-key-file={}", dir.join("tls.key").display()))
        .arg(format!("--kubeconfig={}", hub.kubeconfig().display()))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let connector = tls_client::connector(&webhook.ca).unwrap();
    let review = std::fs::read(
        extcluster_tests::repo_root().join("webhook/tests/fixtures/delete-imported.json"),
    )
    .unwrap();
    Wait::up_to(Duration::from_secs(20), "the second instance to serve")
        .until(async || {
            let reply = tls_client::post(&connector, port, "/validate", review.clone()).await;
            reply.is_ok_and(|r| r.status == 200).then_some(())
        })
        .await
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = Wait::up_to(Duration::from_secs(12), "the webhook to exit after SIGTERM")
        .every(Duration::from_millis(20))
        .until(async || child.try_wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "stopped listening"
    );
}

fn fingerprint(der: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    der.hash(&mut h);
    h.finish()
}

/// The index follows the hub exactly through churn: registrations of one cluster created,
/// marked, deleted and created again, by the plugin and by raw kubectl.
#[tokio::test]
async fn the_index_follows_the_hub_through_churn() {
    use extcluster_tests::plugin::extcluster;
    let hub = hub::start().await.unwrap();
    let webhook = WebhookProcess::start(&hub, &[]).await.unwrap();
    let external = ControlPlane::start(
        extcluster_tests::Options::default()
            .name("churn")
            .version("v1.29.3-eks-adc7111"),
    )
    .await
    .unwrap();
    let ext = external.kubeconfig().display().to_string();
    for i in 0..4 {
        let name = format!("churn-{i}");
        extcluster(
            &hub.kubeconfig(),
            &["import", &name, "--from-kubeconfig", &ext],
        )
        .success();
        extcluster(&hub.kubeconfig(), &["disconnect", &name, "--yes"]).success();
        create(
            &hub,
            &cluster_yaml(&format!("raw-{i}"), "raw-id", "v1.30.0", &[]),
        )
        .success();
        hub.kubectl(&[
            "annotate",
            "extc",
            &format!("raw-{i}"),
            "extcluster.io/disconnect=true",
        ])
        .success();
        hub.kubectl(&["delete", "extc", &format!("raw-{i}")])
            .success();
    }
    create(&hub, &cluster_yaml("stays", "stays-id", "v1.30.0", &[])).success();
    let on_hub = hub
        .kubectl(&["get", "extc", "-o", "name"])
        .success()
        .stdout
        .lines()
        .count();
    assert_eq!(on_hub, 1);
    if let Err(e) = webhook.wait_registrations(on_hub).await {
        let indexed = webhook.metric("extcluster_webhook_registrations ").await;
        panic!("{e}: the index says {indexed:?}\n{}", webhook.log());
    }
}

#[tokio::test]
async fn deleting_the_crd_is_refused_while_imported_registrations_would_go_with_it() {
    let (hub, _webhook) = guarded_hub().await;
    for (name, id) in [("prod-eu", "cluster-eu"), ("prod-us", "cluster-us")] {
        create(&hub, &cluster_yaml(name, id, "v1.30.0", &[])).success();
    }
    let delete_crd = [
        "delete",
        "crd",
        "externalclusters.extcluster.io",
        "--wait=false",
    ];
    let out = hub.kubectl(&delete_crd);
    assert_denied(
        &out,
        &[
            "2 imported registrations (prod-eu, prod-us)",
            "kubectl extcluster disconnect NAME",
        ],
    );
    // One marked for disconnect no longer counts; the other still holds the CRD.
    hub.kubectl(&[
        "annotate",
        "extc",
        "prod-eu",
        "extcluster.io/disconnect=true",
    ])
    .success();
    let out = Wait::up_to(
        Duration::from_secs(30),
        "the index to see the disconnect mark",
    )
    .until_blocking(|| {
        let out = hub.kubectl(&delete_crd);
        out.stderr
            .contains("1 imported registration (prod-us)")
            .then_some(out)
    })
    .unwrap();
    assert_denied(&out, &["extcluster.io/guard-"]);
    assert!(
        hub.kubectl(&["get", "extc", "prod-us"]).ok(),
        "nothing was deleted"
    );
    // The documented override: without the guard label, the CRD goes, and its registrations.
    hub.kubectl(&[
        "label",
        "crd",
        "externalclusters.extcluster.io",
        "extcluster.io/guard-",
    ])
    .success();
    hub.kubectl(&delete_crd).success();
}
