//! Secrets and least privilege on real control planes: no credential in any output or log of a
//! full run, TLS 1.2+ only on the webhook port, and a viewer who can see clusters but never their
//! kubeconfigs.

use base64::Engine;
use extcluster_core::api::SYSTEM_NAMESPACE;
use extcluster_tests::control_plane::User;
use extcluster_tests::plugin::{extcluster, one_line_error};
use extcluster_tests::webhook::WebhookProcess;
use extcluster_tests::{
    ControlPlane, Options, Output, Steps, assert_contains, cluster_yaml, hub, repo_root,
};
use extcluster_tests::{b64, path_str as path};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const EKS: &str = "v1.29.3-eks-adc7111";

/// The values of `key:` lines in a kubeconfig (base64 blobs such as `client-key-data`).
fn kubeconfig_values(kubeconfig: &Path, key: &str) -> Vec<String> {
    std::fs::read_to_string(kubeconfig)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// What must never be printed or logged for a kubeconfig: its client key (base64 and PEM, and
/// every line of the PEM body), its CA and certificate blobs, its token.
fn secrets_of(label: &str, kubeconfig: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for key in ["client-key-data"] {
        for blob in kubeconfig_values(kubeconfig, key) {
            let pem = String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(&blob)
                    .unwrap(),
            )
            .unwrap();
            for (i, line) in pem
                .lines()
                .filter(|l| !l.starts_with("-----") && l.len() >= 32)
                .enumerate()
            {
                out.push((
                    format!("{label}: line {i} of the client key PEM"),
                    line.to_owned(),
                ));
            }
            out.push((format!("{label}: client key PEM"), pem));
            out.push((format!("{label}: {key}"), blob));
        }
    }
    for key in ["certificate-authority-data", "client-certificate-data"] {
        for blob in kubeconfig_values(kubeconfig, key) {
            out.push((format!("{label}: {key}"), blob));
        }
    }
    for token in kubeconfig_values(kubeconfig, "token") {
        out.push((format!("{label}: base64 of the token"), b64(&token)));
        out.push((format!("{label}: token"), token));
    }
    out
}

// ---------------------------------------------------------------------------------------------

/// A full run of the plugin against a hub guarded by the webhook (logging at debug), with
/// token and client-certificate kubeconfigs, through every command and the usual failures:
/// no token, key, or kubeconfig blob appears in any stdout, stderr or webhook log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_in_any_output_or_log_of_a_full_run() {
    let (hub, ext, eks) = tokio::join!(
        hub::start(),
        ControlPlane::start(Options::default().name("onprem")),
        ControlPlane::start(Options::default().name("eks").version(EKS)),
    );
    let (hub, mut ext, eks) = (hub.unwrap(), ext.unwrap(), eks.unwrap());
    // A webhook stricter than the plugin's default range, so one registration is denied by the
    // webhook itself (the plugin's local check lets it through).
    let webhook = WebhookProcess::start_with_env(
        &hub,
        &["--accepted-versions=>=1.19.0, <1.29.0"],
        &[("RUST_LOG", "debug")],
    )
    .await
    .unwrap();
    webhook.register_and_wait(&hub).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kcs = Kubeconfigs::write(dir.path(), &hub, &ext);
    let secrets = every_secret(&kcs, &hub, &ext, &eks);
    let (hk, mut t) = (hub.kubeconfig(), Transcript::default());

    let mut step = Steps::start("a token registration's whole life");
    let mut oks = the_life_of_a_token_registration(&mut t, &hk, &kcs);
    step.next("the usual failures");
    let failures = the_usual_failures(&mut t, &hk, &kcs, &eks.kubeconfig(), &mut oks);
    step.next("the external cluster goes away: refresh and describe say so");
    ext.stop_apiserver();
    let unreachable = t.run(&hk, &["refresh", "onprem"]);
    oks.push(t.run(&hk, &["describe", "onprem"]));
    ext.start_apiserver().await.unwrap();
    oks.push(t.run(&hk, &["disconnect", "onprem", "--yes"]));
    step.next("a client-certificate registration: the same life");
    let cert = [
        "import",
        "onprem-cert",
        "--from-kubeconfig",
        path(&kcs.cert_kc),
    ];
    oks.push(t.run(&hk, &cert));
    oks.push(t.run(&hk, &["describe", "onprem-cert"]));
    oks.push(t.run(&hk, &["refresh", "onprem-cert"]));
    oks.push(t.run(&hk, &["disconnect", "onprem-cert", "--yes"]));
    step.check("each command succeeded or failed as it should", async {
        each_succeeded_or_failed_as_it_should(&t, &oks, &failures, unreachable)
    })
    .await;

    step.next("raw kubectl meets the webhook");
    let raw = hub.kubectl_stdin(
        &["create", "-f", "-"],
        &cluster_yaml("raw", "raw-id", "v1.10.0", &[]),
    );
    let log = webhook.log();
    step.check(
        "raw kubectl is denied; the webhook logs at debug level",
        async {
            assert_contains(&raw.stderr, "denied the request");
            assert!(
                log.contains("DEBUG"),
                "the webhook logged at debug level:\n{log}"
            );
            assert_contains(&log, "denied");
        },
    )
    .await;
    t.outputs.push(("kubectl create".into(), raw));
    step.next("no secret in any output or in the webhook's log");
    assert_no_secret_in(t.outputs, log, &secrets);
    step.finish();
}

/// What a run printed: each command with its output.
#[derive(Default)]
struct Transcript {
    outputs: Vec<(String, Output)>,
}

impl Transcript {
    /// Runs `kubectl extcluster ARGS` against the hub of `hub_kc`; returns where its output is.
    fn run(&mut self, hub_kc: &Path, args: &[&str]) -> usize {
        let out = tokio::task::block_in_place(|| extcluster(hub_kc, args));
        let what = format!("kubectl extcluster {}", args.join(" "));
        self.outputs.push((what, out));
        self.outputs.len() - 1
    }
}

/// Registered with a token kubeconfig, shown every way, refreshed; and a hub reached with a
/// token. Returns where the outputs are, every one of a command that must succeed.
fn the_life_of_a_token_registration(
    t: &mut Transcript,
    hk: &Path,
    kcs: &Kubeconfigs,
) -> Vec<usize> {
    let import = ["import", "onprem", "--from-kubeconfig", path(&kcs.token_kc)];
    let dry_run = [
        "register",
        "onprem",
        "--from-kubeconfig",
        path(&kcs.token_kc),
    ];
    let mut oks = vec![
        t.run(
            hk,
            &[&dry_run[..], &["--mode", "import", "--dry-run"]].concat(),
        ),
        t.run(hk, &import),
    ];
    for args in [
        &["list"][..],
        &["list", "-o", "wide"],
        &["list", "-o", "yaml"],
        &["list", "-o", "json"],
        &["get", "onprem", "-o", "yaml"],
        &["describe", "onprem"],
        &["refresh", "onprem"],
        &["refresh", "--all"],
    ] {
        oks.push(t.run(hk, args));
    }
    oks.push(t.run(&kcs.hub_token_kc, &["list"]));
    oks
}

/// The usual failures of a run, by where their outputs are.
struct Failures {
    reimport: usize,
    wrong_ca: usize,
    down: usize,
    denied: usize,
    denied_dry: usize,
    bad_hub: usize,
}

/// The usual failures, and one dry run that passes (added to `oks`).
fn the_usual_failures(
    t: &mut Transcript,
    hk: &Path,
    kcs: &Kubeconfigs,
    eks_kc: &Path,
    oks: &mut Vec<usize>,
) -> Failures {
    fn import<'a>(name: &'a str, from: &'a Path) -> [&'a str; 4] {
        ["import", name, "--from-kubeconfig", path(from)]
    }
    let reimport = t.run(hk, &import("onprem-again", &kcs.cert_kc));
    let wrong_ca = t.run(hk, &import("onprem-ca", &kcs.wrong_ca_kc));
    let down = t.run(hk, &import("onprem-down", &kcs.down_kc));
    let denied = t.run(hk, &import("eks", eks_kc));
    // The same, dry: checked here it passes (the plugin's range is wider than this webhook's);
    // sent to the hub as a server-side dry run, the webhook refuses it.
    oks.push(t.run(
        hk,
        &[&import("eks", eks_kc)[..], &["--dry-run=client"]].concat(),
    ));
    let denied_dry = t.run(
        hk,
        &[&import("eks", eks_kc)[..], &["--dry-run=server"]].concat(),
    );
    let bad_hub = t.run(&kcs.hub_bad_token_kc, &["list"]);
    Failures {
        reimport,
        wrong_ca,
        down,
        denied,
        denied_dry,
        bad_hub,
    }
}

fn each_succeeded_or_failed_as_it_should(
    t: &Transcript,
    oks: &[usize],
    failures: &Failures,
    unreachable: usize,
) {
    let out = |i: usize| &t.outputs[i].1;
    for i in oks {
        let (what, out) = &t.outputs[*i];
        assert!(out.ok(), "{what} failed:\n{}\n{}", out.stdout, out.stderr);
    }
    one_line_error(out(failures.reimport), &["re-import"]);
    one_line_error(out(failures.wrong_ca), &["not trusted"]);
    one_line_error(out(failures.down), &["refused"]);
    one_line_error(out(unreachable), &["not healthy", "onprem (Unreachable)"]);
    let denial = one_line_error(
        out(failures.denied),
        &[
            "outside the accepted range",
            "<1.29.0",
            "denied the request",
        ],
    );
    one_line_error(
        out(failures.denied_dry),
        &["outside the accepted range", "denied the request"],
    );
    // A policy denial, not a missing right: no RBAC advice.
    assert!(!denial.contains("for that right"), "{denial}");
    one_line_error(out(failures.bad_hub), &["401"]);
}

/// The kubeconfigs of a full run: the external cluster by token and by client certificate, one
/// with the wrong CA, one for a server that is down, and the hub by good and by wrong token.
struct Kubeconfigs {
    token_kc: PathBuf,
    cert_kc: PathBuf,
    wrong_ca_kc: PathBuf,
    down_kc: PathBuf,
    hub_token_kc: PathBuf,
    hub_bad_token_kc: PathBuf,
    hub_wrong_token: String,
}

impl Kubeconfigs {
    fn write(dir: &Path, hub: &ControlPlane, ext: &ControlPlane) -> Self {
        let kc = |name: &str| dir.join(name);
        let token_kc = kc("onprem-token.kubeconfig");
        ext.write_kubeconfig(&token_kc, &User::Token(ext.sso_token().to_owned()))
            .unwrap();
        let cert_kc = ext.kubeconfig();
        let good = std::fs::read_to_string(&token_kc).unwrap();
        let wrong_ca_kc = kc("wrong-ca.kubeconfig");
        std::fs::write(
            &wrong_ca_kc,
            good.replace(&b64(ext.ca_pem()), &b64(hub.ca_pem())),
        )
        .unwrap();
        let down_kc = kc("down.kubeconfig");
        std::fs::write(
            &down_kc,
            good.replace(
                &ext.server(),
                &format!(
                    "https://127.0.0.1:{}",
                    extcluster_tests::free_port().unwrap()
                ),
            ),
        )
        .unwrap();
        let hub_token_kc = kc("hub-token.kubeconfig");
        hub.write_kubeconfig(&hub_token_kc, &User::Token(hub.sso_token().to_owned()))
            .unwrap();
        let hub_wrong_token = format!("wrong-{}", extcluster_tests::control_plane::random_token());
        let hub_bad_token_kc = kc("hub-bad-token.kubeconfig");
        hub.write_kubeconfig(&hub_bad_token_kc, &User::Token(hub_wrong_token.clone()))
            .unwrap();

        Self {
            token_kc,
            cert_kc,
            wrong_ca_kc,
            down_kc,
            hub_token_kc,
            hub_bad_token_kc,
            hub_wrong_token,
        }
    }
}

/// Every credential of the run, named, in every form it could leak in.
fn every_secret(
    kcs: &Kubeconfigs,
    hub: &ControlPlane,
    ext: &ControlPlane,
    eks: &ControlPlane,
) -> Vec<(String, String)> {
    let mut secrets = Vec::new();
    secrets.extend(secrets_of("onprem token kubeconfig", &kcs.token_kc));
    secrets.extend(secrets_of("onprem admin kubeconfig", &kcs.cert_kc));
    secrets.extend(secrets_of("eks admin kubeconfig", &eks.kubeconfig()));
    secrets.extend(secrets_of("hub admin kubeconfig", &hub.kubeconfig()));
    secrets.extend(secrets_of("hub token kubeconfig", &kcs.hub_token_kc));
    secrets.extend(secrets_of(
        "hub wrong-token kubeconfig",
        &kcs.hub_bad_token_kc,
    ));
    for (what, token) in [
        ("onprem token", ext.sso_token()),
        ("hub token", hub.sso_token()),
        ("wrong hub token", kcs.hub_wrong_token.as_str()),
    ] {
        secrets.push((what.to_owned(), token.to_owned()));
        secrets.push((format!("base64 of the {what}"), b64(token)));
    }
    assert!(secrets.len() > 20, "{}", secrets.len());
    secrets
}

/// No secret appears in any output, nor in the webhook's log.
fn assert_no_secret_in(outputs: Vec<(String, Output)>, log: String, secrets: &[(String, String)]) {
    let mut texts: Vec<(String, String)> = outputs
        .into_iter()
        .flat_map(|(what, out)| {
            [
                (format!("stdout of {what}"), out.stdout),
                (format!("stderr of {what}"), out.stderr),
            ]
        })
        .collect();
    let log_lines = log.lines().count();
    texts.push(("the webhook's log".into(), log));
    let total: usize = texts.iter().map(|(_, t)| t.len()).sum();
    eprintln!(
        "checked {} outputs and {log_lines} webhook log lines ({total} bytes) for {} secrets",
        texts.len() - 1,
        secrets.len()
    );
    for (where_, text) in &texts {
        for (what, secret) in secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{what} appears in the {where_}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// `openssl s_client` to 127.0.0.1:`port` with one protocol version allowed (and the client's own
/// security level lowered so it can offer TLS 1.0/1.1 at all): the negotiated protocol, or `None`
/// when the handshake failed.
fn handshake(port: u16, version_flag: &str, ca: &Path) -> (Option<String>, String) {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .arg(version_flag)
        .args(["-cipher", "DEFAULT@SECLEVEL=0", "-CAfile"])
        .arg(ca)
        .arg("-verify_return_error")
        .stdin(Stdio::null())
        .output()
        .expect("openssl is installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let real_cipher = text.lines().any(|l| {
        l.contains("Cipher is ") && !l.contains("(NONE)") && !l.trim_end().ends_with("Cipher is")
    });
    // The session block names the protocol; a TLS 1.3 client that quits at once may not print it
    // (it comes with the session ticket), and then the cipher's own version says it.
    let protocol = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Protocol  :"))
        .or_else(|| {
            text.lines()
                .find_map(|l| l.strip_prefix("New, ")?.split(',').next())
                .filter(|v| *v == "TLSv1.3")
        })
        .map(|p| p.trim().to_owned());
    let negotiated = (out.status.success() && real_cipher)
        .then_some(protocol)
        .flatten();
    (negotiated, text)
}

/// Serves `openssl s_server` allowing only `version_flag`, to show the client can speak it.
struct OpensslServer {
    child: std::process::Child,
    port: u16,
}

impl OpensslServer {
    /// Listens on a port the OS picks: openssl prints it (`ACCEPT 127.0.0.1:PORT`) once it
    /// listens.
    fn start(version_flag: &str, dir: &Path) -> Self {
        use std::io::BufRead;
        let mut child = Command::new("openssl")
            .args(["s_server", "-accept", "127.0.0.1:0"])
            .arg(version_flag)
            .args(["-cipher", "DEFAULT@SECLEVEL=0", "-cert"])
            .arg(dir.join("tls.crt"))
            .arg("-key")
            .arg(dir.join("tls.key"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl is installed");
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("piped")).lines();
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("ACCEPT ")?.rsplit(':').next()?.parse().ok())
            .expect("openssl s_server says where it listens");
        // It reports every connection on stdout too: read on, or a full pipe would stall it.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, port }
    }
}

impl Drop for OpensslServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The webhook port speaks TLS 1.3 and 1.2, and refuses TLS 1.1 and 1.0, which the same client
/// does negotiate with a server that allows them.
#[tokio::test]
async fn the_webhook_accepts_tls_1_2_and_1_3_only() {
    let hub = hub::start().await.unwrap();
    let webhook = WebhookProcess::start(&hub, &[]).await.unwrap();
    let ca = webhook.dir().join("ca-bundle.pem");
    std::fs::write(&ca, &webhook.ca).unwrap();

    for (flag, want) in [("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")] {
        let (got, text) = handshake(webhook.port, flag, &ca);
        assert_eq!(got.as_deref(), Some(want), "{flag}:\n{text}");
    }
    for (flag, old) in [("-tls1_1", "TLSv1.1"), ("-tls1", "TLSv1")] {
        // The control: this client negotiates the old version where it is allowed...
        let server = OpensslServer::start(flag, webhook.dir());
        let (got, text) = handshake(server.port, flag, &ca);
        drop(server);
        assert_eq!(got.as_deref(), Some(old), "control {flag}:\n{text}");
        // ...and the webhook refuses it.
        let (got, text) = handshake(webhook.port, flag, &ca);
        assert_eq!(got, None, "the webhook negotiated {flag}:\n{text}");
        eprintln!(
            "{flag} refused: {}",
            text.lines()
                .find(|l| l.contains("alert") || l.contains("error"))
                .unwrap_or("(no alert line)")
        );
    }
    // And still serves after the refused handshakes.
    let (got, text) = handshake(webhook.port, "-tls1_3", &ca);
    assert_eq!(
        got.as_deref(),
        Some("TLSv1.3"),
        "after the refusals:\n{text}"
    );
}

// ---------------------------------------------------------------------------------------------

/// A ServiceAccount bound to `extcluster-viewer` from manifests/roles.yaml, with a token from the
/// TokenRequest API, and a kubeconfig for the hub with that token.
async fn viewer_kubeconfig(hub: &ControlPlane, dir: &Path) -> PathBuf {
    let roles = repo_root().join("manifests/roles.yaml");
    hub.kubectl(&["apply", "-f", path(&roles)]).success();
    let client = hub.client().await.unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "vera"}})).unwrap();
    sas.create(&PostParams::default(), &sa).await.unwrap();
    hub.kubectl(&[
        "create",
        "clusterrolebinding",
        "vera-views-clusters",
        "--clusterrole=extcluster-viewer",
        "--serviceaccount=default:vera",
    ])
    .success();
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))
            .unwrap();
    let token = sas
        .create_token_request("vera", &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .expect("a token")
        .token;
    let kc = dir.join("viewer.kubeconfig");
    hub.write_kubeconfig(&kc, &User::Token(token)).unwrap();
    kc
}

/// A viewer for real: with the token of a ServiceAccount bound to `extcluster-viewer`, `kubectl
/// extcluster list`, `get` and `describe` work (describe without its live part, saying why), the
/// kubeconfig Secret is Forbidden, and every write is refused with one clear line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_clusters_but_never_their_kubeconfigs() {
    let (hub, ext) = tokio::join!(
        hub::start(),
        ControlPlane::start(Options::default().name("onprem"))
    );
    let (hub, ext) = (hub.unwrap(), ext.unwrap());
    let hk = hub.kubeconfig();
    let dir = tempfile::tempdir().unwrap();
    tokio::task::block_in_place(|| {
        extcluster(
            &hk,
            &[
                "import",
                "prod",
                "--from-kubeconfig",
                path(&ext.kubeconfig()),
            ],
        )
        .success()
    });
    let viewer = viewer_kubeconfig(&hub, dir.path()).await;
    let as_viewer = |args: &[&str]| tokio::task::block_in_place(|| extcluster(&viewer, args));
    let kubectl_as_viewer = |args: &[&str]| {
        tokio::task::block_in_place(|| extcluster_tests::kubectl::run(&viewer, args, None))
    };

    let list = as_viewer(&["list"]).success().stdout;
    assert!(
        list.lines()
            .any(|l| l.starts_with("prod ") && l.contains("Running")),
        "{list}"
    );
    let got = as_viewer(&["get", "prod", "-o", "json"]).success().stdout;
    let got: serde_json::Value = serde_json::from_str(&got).unwrap();
    assert_eq!(
        got["spec"]["kubeconfigSecretRef"]["name"],
        "prod-kubeconfig"
    );

    // The kubeconfig Secret: Forbidden, by name and by list.
    let secret = kubectl_as_viewer(&["get", "secret", "-n", SYSTEM_NAMESPACE, "prod-kubeconfig"]);
    assert!(!secret.ok(), "a viewer read the kubeconfig Secret");
    assert!(
        secret.stderr.contains("Forbidden") || secret.stderr.contains("forbidden"),
        "{}",
        secret.stderr
    );
    assert!(!secret.stdout.contains("kubeconfig:"), "{}", secret.stdout);
    let list_secrets = kubectl_as_viewer(&["get", "secrets", "-n", SYSTEM_NAMESPACE]);
    assert!(
        !list_secrets.ok() && list_secrets.stderr.contains("forbidden"),
        "{}",
        list_secrets.stderr
    );

    // describe: the record, and a clear word on the live part it may not read.
    let describe = as_viewer(&["describe", "prod"]);
    assert!(
        describe.ok(),
        "describe fails hard for a viewer:\n{}\n{}",
        describe.stdout,
        describe.stderr
    );
    let text = describe.stdout;
    for want in [
        "Name:         prod",
        "Cluster ID:",
        "Phase:               Running",
    ] {
        assert_contains(&text, want);
    }
    let live = text
        .lines()
        .find(|l| l.starts_with("Live details:"))
        .unwrap_or_else(|| panic!("no word on the live part:\n{text}"));
    assert!(
        live.contains("unavailable")
            && live.contains("prod-kubeconfig")
            && live.contains("forbidden"),
        "{live}"
    );
    assert!(!text.contains("Nodes (live"), "{text}");
    eprintln!("describe as a viewer: {live}");

    // Writes: one clear line each, and nothing changes.
    let out = as_viewer(&["refresh", "prod"]);
    one_line_error(&out, &["forbidden", "ask the hub's administrator"]);
    eprintln!("refresh as a viewer: {}", out.stderr.trim());
    let out = as_viewer(&["disconnect", "prod", "--yes"]);
    one_line_error(&out, &["forbidden", "ask the hub's administrator"]);
    eprintln!("disconnect as a viewer: {}", out.stderr.trim());
    // Another cluster (the hub itself will do), so the refusal is the hub's RBAC, not re-import.
    let out = as_viewer(&["import", "self", "--from-kubeconfig", path(&hk)]);
    one_line_error(&out, &["forbidden", "ask the hub's administrator"]);
    eprintln!("import as a viewer: {}", out.stderr.trim());
    let names = hub.kubectl(&["get", "extc", "-o", "name"]).success().stdout;
    assert_eq!(names.trim(), "externalcluster.extcluster.io/prod");
    hub.kubectl(&["get", "secret", "-n", SYSTEM_NAMESPACE, "prod-kubeconfig"])
        .success();
}

#[tokio::test]
async fn connect_refuses_unverified_tls_unless_asked_and_warns_of_write_capable_credentials() {
    let (hub, ext) = tokio::join!(
        hub::start(),
        ControlPlane::start(Options::default().name("lax"))
    );
    let (hub, ext) = (hub.unwrap(), ext.unwrap());
    let hk = hub.kubeconfig();
    let dir = tempfile::tempdir().unwrap();
    let admin = std::fs::read_to_string(ext.kubeconfig()).unwrap();
    let lax: String = admin
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("certificate-authority-data:") {
                "    insecure-skip-tls-verify: true".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(lax.contains("insecure-skip-tls-verify: true"), "{lax}");
    let lax_kc = dir.path().join("lax.kubeconfig");
    std::fs::write(&lax_kc, lax).unwrap();

    one_line_error(
        extcluster(&hk, &["connect", "lax", "--from-kubeconfig", path(&lax_kc)]),
        &[
            "insecure-skip-tls-verify: true",
            "--insecure-skip-tls-verify",
            "nothing was changed",
        ],
    );
    assert!(extcluster_tests::hub::registrations(&hub).await.is_empty());

    let out = extcluster(
        &hk,
        &[
            "connect",
            "lax",
            "--from-kubeconfig",
            path(&lax_kc),
            "--insecure-skip-tls-verify",
        ],
    )
    .success();
    assert_contains(&out.stderr, "can write to the whole cluster");
    assert_contains(&out.stderr, "--access read-only");
    let described = extcluster(&hk, &["describe", "lax"]).success().stdout;
    assert_contains(&described, "Credentials Of:");
    assert!(
        !described.contains("<not said by the credentials>"),
        "{described}"
    );

    // Replacing the credentials is held to the same rule.
    let replace = |extra: &[&str]| {
        let mut args = vec!["set-credentials", "lax", "--from-kubeconfig", path(&lax_kc)];
        args.extend_from_slice(extra);
        extcluster(&hk, &args)
    };
    one_line_error(
        replace(&[]),
        &["insecure-skip-tls-verify: true", "nothing was changed"],
    );
    let out = replace(&["--insecure-skip-tls-verify"]).success();
    assert_contains(&out.stdout, "credentials replaced");
}
