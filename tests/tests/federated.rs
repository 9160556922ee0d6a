//! Federated registrations on real control planes: the external kube-apiserver trusts the hub's
//! ServiceAccount issuer with exactly the `--oidc-*` flags `kubectl extcluster trust` printed,
//! the hub stores no credential, and everything that reaches the cluster mints a token of the
//! registration's hub identity. One scenario (two control planes, one restart of the external
//! API server), in named steps.

use extcluster_core::api::SYSTEM_NAMESPACE;
use extcluster_tests::controller::{ControllerProcess, FAST};
use extcluster_tests::plugin::{consumer_kubeconfig, extcluster, final_error_line, trust_flags};
use extcluster_tests::step::Steps;
use extcluster_tests::{ControlPlane, Output, Wait, assert_contains, hub, kubectl, path_str};
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Scenario {
    hub: ControlPlane,
    ext: ControlPlane,
    operator: PathBuf,
    dir: tempfile::TempDir,
}

impl Scenario {
    fn register(&self, extra: &[&str]) -> Output {
        let ext = self.ext.kubeconfig();
        let mut args = vec!["register", "prod", "--federated", "--from-kubeconfig"];
        args.push(path_str(&ext));
        args.extend(extra);
        extcluster(&self.operator, &args)
    }

    /// Nothing of a refused registration is on the hub: no registration, Secret or account.
    fn nothing_left(&self) {
        for (kind, ns) in [
            ("externalcluster/prod", None),
            ("secret/prod-kubeconfig", Some(SYSTEM_NAMESPACE)),
            ("serviceaccount/prod", Some(SYSTEM_NAMESPACE)),
        ] {
            let mut args = vec!["get", kind];
            if let Some(ns) = ns {
                args.extend(["-n", ns]);
            }
            let out = self.hub.kubectl(&args);
            assert!(!out.ok(), "{kind} left after a refusal:\n{}", out.stdout);
        }
    }
}

async fn scenario() -> Scenario {
    let (hub, ext) = hub::and_external("prod").await.unwrap();
    hub::open_issuer_discovery(&hub);
    let dir = tempfile::tempdir().unwrap();
    let operator = hub::operator_kubeconfig(&hub, dir.path());
    Scenario {
        hub,
        ext,
        operator,
        dir,
    }
}

/// `trust` before registering: what it prints, and the flags and CA it gives the API server.
async fn printed_trust(s: &Scenario) -> Vec<String> {
    let ext = s.ext.kubeconfig();
    let args = ["trust", "prod", "--from-kubeconfig", path_str(&ext)];
    let out = extcluster(&s.operator, &args).success().stdout;
    let id = s.ext.kube_system_uid().await.unwrap();
    assert_contains(&out, &format!("audience:  extcluster.io/{id}"));
    assert_contains(
        &out,
        "username:  extcluster:system:serviceaccount:extcluster-system:prod",
    );
    assert_contains(&out, "readable without credentials (checked from here)");
    assert_contains(&out, "kind: AuthenticationConfiguration");
    assert_contains(&out, "aws eks associate-identity-provider-config");
    let flags = trust_flags(&out, &s.dir.path().join("hub-ca.crt"));
    assert_eq!(flags.len(), 6, "{out}");
    flags
}

/// The refusals, each naming the missing step, each leaving nothing on the hub; then the
/// registration, once the cluster's OIDC authenticator has started.
async fn refusals_then_registration(s: &mut Scenario, flags: &[String]) {
    let untrusted = s.register(&[]);
    final_error_line(&untrusted, &["401", "kubectl extcluster trust prod"]);
    s.nothing_left();
    s.ext.trust_issuer(flags).await.unwrap();
    let waited = std::time::Instant::now();
    let unbound = Wait::up_to(Duration::from_secs(120), "the OIDC authenticator to accept")
        .every(Duration::from_secs(2))
        .until(async || {
            let out = s.register(&[]);
            (!out.stderr.contains("401")).then_some(out)
        })
        .await
        .unwrap();
    eprintln!(
        "the hub's tokens accepted {:.1} s after the restart",
        waited.elapsed().as_secs_f64()
    );
    final_error_line(
        &unbound,
        &[
            "extcluster:system:serviceaccount:extcluster-system:prod",
            "ClusterRoleBinding",
        ],
    );
    s.nothing_left();
    let out = s.register(&["--trust-apply"]).success();
    assert_contains(
        &out.stdout,
        "registered (Connect, Generic, federated): Running",
    );
}

/// The Secret holds the endpoint and nothing that authenticates.
fn no_credential_stored(s: &Scenario) {
    let secret = s.hub.kubectl(&[
        "get",
        "secret",
        "prod-kubeconfig",
        "-n",
        SYSTEM_NAMESPACE,
        "-o",
        "jsonpath={.data.kubeconfig}",
    ]);
    let bytes = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        secret.success().stdout.trim(),
    )
    .unwrap();
    let text = String::from_utf8(bytes).unwrap();
    for forbidden in [
        "token",
        "client-key",
        "client-certificate",
        "password",
        "exec",
        "eyJ",
    ] {
        assert!(
            !text.contains(forbidden),
            "{forbidden} in the stored kubeconfig:\n{text}"
        );
    }
    assert_contains(&text, "certificate-authority-data");
    assert_contains(&text, &s.ext.server());
    let owner = s.hub.kubectl(&[
        "get",
        "serviceaccount",
        "prod",
        "-n",
        SYSTEM_NAMESPACE,
        "-o",
        "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}",
    ]);
    assert_eq!(owner.success().stdout, "ExternalCluster/prod");
}

/// describe and refresh mint their own tokens; describe says how access is held.
async fn plugin_commands_reach_it(s: &Scenario) {
    let id = s.ext.kube_system_uid().await.unwrap();
    let described = extcluster(&s.operator, &["describe", "prod"])
        .success()
        .stdout;
    assert_contains(
        &described,
        &format!(
            "federated (hub identity extcluster-system/prod, audience extcluster.io/{id}, tokens 10m)"
        ),
    );
    assert_contains(
        &described,
        "user extcluster:system:serviceaccount:extcluster-system:prod",
    );
    let status = s
        .hub
        .kubectl(&["get", "externalcluster", "prod", "-o", "yaml"])
        .success();
    let events = s
        .hub
        .kubectl(&["get", "events", "-A", "-o", "yaml"])
        .success();
    for (what, text) in [("status", &status.stdout), ("events", &events.stdout)] {
        assert!(!text.contains("eyJ"), "a token in the {what}:\n{text}");
    }
    let refreshed = extcluster(&s.operator, &["refresh", "prod", "-v", "9"]).success();
    assert_contains(&refreshed.stdout, "Running");
    assert!(
        !refreshed.stderr.contains("eyJ"),
        "a token at -v 9:\n{}",
        refreshed.stderr
    );
}

/// A consumer bound to the registration's access Role reaches the cluster through the credential
/// plugin; a viewer without it is refused with a sentence; no Secret is involved.
fn consumers(s: &Scenario) -> (PathBuf, PathBuf) {
    let role =
        std::fs::read_to_string(extcluster_tests::repo_root().join("manifests/access/role.yaml"))
            .unwrap()
            .replace("REGISTRATION", "prod");
    s.hub.kubectl_stdin(&["apply", "-f", "-"], &role).success();
    s.hub
        .kubectl(&[
            "apply",
            "-f",
            path_str(&extcluster_tests::repo_root().join("manifests/roles.yaml")),
        ])
        .success();
    let bind = |user: &str, access: bool| {
        s.hub
            .kubectl(&[
                "create",
                "clusterrolebinding",
                &format!("{user}-viewer"),
                "--clusterrole=extcluster-viewer",
                &format!("--user={user}"),
            ])
            .success();
        if access {
            s.hub
                .kubectl(&[
                    "create",
                    "rolebinding",
                    &format!("{user}-access"),
                    "-n",
                    SYSTEM_NAMESPACE,
                    "--role=extcluster-access-prod",
                    &format!("--user={user}"),
                ])
                .success();
        }
        let path = s.dir.path().join(format!("{user}-hub"));
        s.hub
            .write_client_kubeconfig(&path, user, &[], time::Duration::days(1))
            .unwrap();
        let consumer = s.dir.path().join(format!("{user}-consumer"));
        std::fs::write(&consumer, consumer_kubeconfig(&s.ext, &path, "prod", false)).unwrap();
        consumer
    };
    let (allowed, refused) = (bind("app", true), bind("stranger", false));
    let out = kubectl::run(
        &allowed,
        &["get", "namespace", "kube-system", "-o", "name"],
        None,
    );
    assert!(out.ok(), "through the credential plugin: {}", out.stderr);
    let out = kubectl::run(&refused, &["get", "namespace", "kube-system"], None);
    assert!(!out.ok());
    assert_contains(&out.stderr, "extcluster-access");
    assert!(!out.stderr.contains("eyJ"), "{}", out.stderr);
    (allowed, refused)
}

/// A token of the same hub identity for another audience (another cluster's) is refused.
async fn another_audience_is_refused(s: &Scenario) {
    let token = s
        .hub
        .service_account_token(SYSTEM_NAMESPACE, "prod", &["extcluster.io/another"])
        .await
        .unwrap();
    let client = s.ext.bearer_client(Some(&token)).unwrap();
    let err = client.apiserver_version().await.map(drop).and(
        kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
            .get("kube-system")
            .await
            .map(drop),
    );
    assert!(
        matches!(err, Err(kube::Error::Api(ref e)) if e.code == 401),
        "{err:?}"
    );
}

/// The controller (its own RBAC) probes the registration with tokens it mints.
async fn the_controller_probes_it(s: &Scenario) {
    let controller = ControllerProcess::start(&s.hub, "replica-a", FAST)
        .await
        .unwrap();
    const PROBES: &str = "extcluster_controller_probe_duration_seconds_count";
    Wait::up_to(Duration::from_secs(60), "three probes by the controller")
        .every(Duration::from_millis(500))
        .until(async || (controller.metric(PROBES).await? >= 3.0).then_some(()))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", controller.log()));
    let failures = controller
        .metric("extcluster_controller_probe_failures_total")
        .await;
    assert_eq!(failures.unwrap_or(0.0), 0.0, "{}", controller.log());
    let mints = controller.log().matches("eyJ").count();
    assert_eq!(mints, 0, "a token in the controller's log");
    let ready = s
        .hub
        .kubectl(&[
            "get",
            "externalcluster",
            "prod",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"CredentialsExpiring\")].status}",
        ])
        .stdout;
    assert_eq!(
        ready, "False",
        "minted tokens never make the registration's credentials expire"
    );
}

/// Disconnect deletes the hub identity: the consumer's next credential call is refused.
fn disconnect_revokes(s: &Scenario, allowed: &Path) {
    let out = extcluster(&s.operator, &["disconnect", "prod", "--yes"]).success();
    assert_contains(
        &out.stdout,
        "hub identity serviceaccount extcluster-system/prod deleted",
    );
    assert!(
        !s.hub
            .kubectl(&["get", "serviceaccount", "prod", "-n", SYSTEM_NAMESPACE])
            .ok()
    );
    let out = kubectl::run(allowed, &["get", "namespace", "kube-system"], None);
    assert!(!out.ok(), "still reached after disconnect:\n{}", out.stdout);
    assert!(!out.stderr.contains("eyJ"));
}

#[tokio::test]
async fn a_federated_registration_stores_no_credential_and_every_reader_mints_one() {
    let mut s = scenario().await;
    let mut step = Steps::start("trust printed before registering");
    let flags = printed_trust(&s).await;
    step.next("refused while untrusted and unbound, then registered");
    refusals_then_registration(&mut s, &flags).await;
    step.next("no credential stored");
    no_credential_stored(&s);
    step.next("describe and refresh");
    plugin_commands_reach_it(&s).await;
    step.next("trust --apply again changes nothing");
    let ext = s.ext.kubeconfig();
    let again = extcluster(
        &s.operator,
        &[
            "trust",
            "prod",
            "--apply",
            "--from-kubeconfig",
            path_str(&ext),
        ],
    )
    .success();
    assert_contains(
        &again.stdout,
        "clusterrolebinding.rbac.authorization.k8s.io/extcluster-hub:prod applied",
    );
    step.next("another audience refused");
    another_audience_is_refused(&s).await;
    step.next("consumers through the credential plugin");
    let (allowed, _) = consumers(&s);
    step.next("the controller probes it");
    the_controller_probes_it(&s).await;
    step.next("disconnect revokes");
    disconnect_revokes(&s, &allowed);
}

/// Registered (with its RBAC applied) once the cluster's OIDC authenticator has started.
async fn registered_once_trusted(s: &Scenario) {
    Wait::up_to(Duration::from_secs(120), "the OIDC authenticator to accept")
        .every(Duration::from_secs(2))
        .until(async || s.register(&["--trust-apply"]).ok().then_some(()))
        .await
        .unwrap();
}

/// What the credential plugin hands a consumer: the token and when it expires.
fn consumer_token(s: &Scenario) -> (String, k8s_openapi::jiff::Timestamp) {
    let hub = s.dir.path().join("app-hub");
    let out = extcluster(&hub, &["credential", "prod"]).success().stdout;
    let credential: serde_json::Value = serde_json::from_str(&out).unwrap();
    let status = &credential["status"];
    let expires = status["expirationTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (status["token"].as_str().unwrap().to_owned(), expires)
}

async fn answer_code(s: &Scenario, token: &str) -> u16 {
    let client = s.ext.bearer_client(Some(token)).unwrap();
    let api = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client);
    match api.get("kube-system").await {
        Ok(_) => 200,
        Err(kube::Error::Api(e)) => e.code,
        Err(e) => panic!("{e}"),
    }
}

/// TokenRequest's least lifetime (10 minutes) waited out: the consumer's token is refused after
/// it, the plugin hands out a new one, and the controller, probing every 2 s throughout, renews
/// its own before it expires and never fails a probe.
#[tokio::test]
async fn a_minted_token_is_refused_after_its_lifetime_and_the_controller_renews_its_own() {
    let mut s = scenario().await;
    let flags = printed_trust(&s).await;
    s.ext.trust_issuer(&flags).await.unwrap();
    registered_once_trusted(&s).await;
    let (allowed, _) = consumers(&s);
    let controller = ControllerProcess::start(&s.hub, "replica-a", FAST)
        .await
        .unwrap();
    let (token, expires) = consumer_token(&s);
    assert_eq!(answer_code(&s, &token).await, 200);
    let lifetime = expires.duration_since(k8s_openapi::jiff::Timestamp::now());
    assert!(lifetime.as_secs() <= 600, "{lifetime:?}");
    tokio::time::sleep(Duration::try_from(lifetime).unwrap() + Duration::from_secs(5)).await;
    assert_eq!(
        answer_code(&s, &token).await,
        401,
        "a token past its lifetime"
    );
    let out = kubectl::run(
        &allowed,
        &["get", "namespace", "kube-system", "-o", "name"],
        None,
    );
    assert!(out.ok(), "a new token from the plugin: {}", out.stderr);
    const PROBES: &str = "extcluster_controller_probe_duration_seconds_count";
    let probes = controller.metric(PROBES).await.unwrap();
    let failures = controller
        .metric("extcluster_controller_probe_failures_total")
        .await;
    let minted = controller
        .metric("extcluster_controller_tokens_minted_total")
        .await
        .unwrap();
    eprintln!("in 10 min: {probes} probes, {minted} tokens minted");
    assert!(
        probes >= 100.0,
        "the controller probed throughout: {probes}"
    );
    assert_eq!(failures.unwrap_or(0.0), 0.0, "{}", controller.log());
    assert!(
        (2.0..=3.0).contains(&minted),
        "renewed once or twice, not per probe: {minted}"
    );
}
