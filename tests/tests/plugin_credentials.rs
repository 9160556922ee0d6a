//! `kubectl extcluster set-credentials`: the way back from a rotated or expired token. The new
//! kubeconfig must reach the same cluster with the rights the registration's mode needs;
//! otherwise nothing changes.

use extcluster_core::api::SYSTEM_NAMESPACE;
use extcluster_tests::control_plane::User;
use extcluster_tests::path_str as path;
use extcluster_tests::plugin::{extcluster, one_line_error};
use extcluster_tests::{ControlPlane, Options, Output, Steps, Wait, assert_contains, hub};
use std::path::{Path, PathBuf};
use std::time::Duration;

const EKS: &str = "v1.29.3-eks-adc7111";

fn stored_kubeconfig(hub: &ControlPlane, name: &str) -> String {
    hub.kubectl(&[
        "get",
        "secret",
        "-n",
        SYSTEM_NAMESPACE,
        &format!("{name}-kubeconfig"),
        "-o",
        "jsonpath={.data.kubeconfig}",
    ])
    .success()
    .stdout
}

/// The external cluster `prod`, registered with a ServiceAccount token kubeconfig.
struct Registered {
    hub: ControlPlane,
    ext: ControlPlane,
    /// Another cluster, whose kubeconfig set-credentials must refuse.
    other: ControlPlane,
    /// The hub's admin kubeconfig.
    hk: PathBuf,
    dir: tempfile::TempDir,
    /// The first token's kubeconfig, registered; and the second, after rotation.
    first: PathBuf,
    second: PathBuf,
}

impl Registered {
    /// `convert-kubeconfig` from the cluster's admin kubeconfig, with `extra` arguments.
    fn convert(&self, extra: &[&str]) {
        let admin = self.ext.kubeconfig();
        let mut args = vec!["convert-kubeconfig", "--from-kubeconfig", path(&admin)];
        args.extend(extra);
        extcluster(&self.hk, &args).success();
    }

    fn set_credentials(&self, name: &str, from: &Path) -> Output {
        let args = ["set-credentials", name, "--from-kubeconfig", path(from)];
        extcluster(&self.hk, &args)
    }
}

#[tokio::test]
async fn a_rotated_token_is_given_back_to_the_hub_and_nothing_else_is_accepted() {
    let eks = Options::default()
        .name("eks")
        .version(EKS)
        .controller_manager();
    let (hub, ext, other) = tokio::join!(
        hub::start(),
        ControlPlane::start(eks),
        ControlPlane::start(Options::default().name("other")),
    );
    let (hub, dir) = (hub.unwrap(), tempfile::tempdir().unwrap());
    let r = Registered {
        hk: hub.kubeconfig(),
        first: dir.path().join("first.kubeconfig"),
        second: dir.path().join("second.kubeconfig"),
        hub,
        ext: ext.unwrap(),
        other: other.unwrap(),
        dir,
    };
    let mut step = Steps::start("a ServiceAccount token kubeconfig, registered");
    r.convert(&["-o", path(&r.first)]);
    let import = ["import", "prod", "--from-kubeconfig", path(&r.first)];
    extcluster(&r.hk, &import).success();
    let before = stored_kubeconfig(&r.hub, "prod");
    step.next("the token is rotated: refresh says the hub's copy stopped working");
    r.convert(&["--rotate", "-o", path(&r.second)]);
    refresh_says_the_token_is_refused(&r.hk).await;
    step.check("a kubeconfig for another cluster is refused", async {
        another_cluster_is_refused(&r)
    })
    .await;
    step.check(
        "credentials the hub cannot use, or no such registration: refused",
        async { unusable_credentials_are_refused(&r) },
    )
    .await;
    step.check("a refusal changes nothing", async {
        let after = stored_kubeconfig(&r.hub, "prod");
        assert_eq!(after, before, "a refusal changes nothing");
    })
    .await;
    step.next("the new token is accepted, stored, and the registration runs again");
    the_new_token_is_accepted(&r, &before);
    step.finish();
}

/// The API server caches a token it accepted for about ten seconds: polls for the refusal.
async fn refresh_says_the_token_is_refused(hk: &Path) {
    let started = std::time::Instant::now();
    let mut last = String::new();
    let refused = Wait::up_to(
        Duration::from_secs(30),
        "the hub to refuse the rotated token",
    )
    .every(Duration::from_millis(500))
    .until(async || {
        let refreshed = extcluster(hk, &["refresh", "prod"]);
        last = refreshed.stdout.clone();
        if last.contains("CredentialsRejected") {
            refreshed.failure();
        }
        (last.contains("CredentialsRejected") && last.contains("401")).then_some(())
    })
    .await;
    if let Err(timeout) = refused {
        panic!("{timeout}: the old token still works:\n{last}");
    }
    eprintln!(
        "the rotated token was refused after {:?}",
        started.elapsed()
    );
}

fn another_cluster_is_refused(r: &Registered) {
    let err = one_line_error(
        r.set_credentials("prod", &r.other.kubeconfig()),
        &["registered for cluster", "reaches cluster"],
    );
    assert_contains(&err, "register this one under a name of its own");
}

/// Credentials without the rights import needs (a token with no rights at all), a login through
/// a plugin (which the hub could not use), and a registration that does not exist.
fn unusable_credentials_are_refused(r: &Registered) {
    let nobody = r.dir.path().join("nobody.kubeconfig");
    r.ext
        .write_kubeconfig(&nobody, &User::Token("not-a-real-token".into()))
        .unwrap();
    one_line_error(
        r.set_credentials("prod", &nobody),
        &["refused the credentials", "401"],
    );
    let exec = r.dir.path().join("exec.kubeconfig");
    let login = User::Exec {
        command: "aws".into(),
        args: vec!["eks".into(), "get-token".into()],
    };
    r.ext.write_kubeconfig(&exec, &login).unwrap();
    one_line_error(r.set_credentials("prod", &exec), &["convert-kubeconfig"]);
    one_line_error(
        r.set_credentials("nope", &r.second),
        &["no external cluster named \"nope\""],
    );
}

/// Stored in place of `before`, never printed; refresh finds the cluster running.
fn the_new_token_is_accepted(r: &Registered, before: &str) {
    let out = r.set_credentials("prod", &r.second).success();
    assert!(
        out.stdout.contains("credentials replaced") && out.stdout.contains("Running"),
        "{}",
        out.stdout
    );
    assert_ne!(stored_kubeconfig(&r.hub, "prod"), before);
    let refreshed = extcluster(&r.hk, &["refresh", "prod"]).success();
    assert_contains(&refreshed.stdout, "Running");
    let printed = format!("{}{}", out.stdout, out.stderr);
    let second = std::fs::read_to_string(&r.second).unwrap();
    let token = second
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .unwrap();
    assert!(!printed.contains(token), "the token is never printed");
}

/// Read access to everything, as a read-only team has it.
const READ_ALL: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: read-all}
rules:
- {apiGroups: ["*"], resources: ["*"], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: reader-reads-all}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: read-all}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: reader}
"#;

#[tokio::test]
async fn set_mode_moves_to_import_only_with_credentials_that_can_write_and_records_who() {
    let (hub, ext) = hub::and_external("staging").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let operator = hub::operator_kubeconfig(&hub, dir.path());
    ext.kubectl_stdin(&["apply", "-f", "-"], READ_ALL).success();
    let reader = dir.path().join("reader");
    ext.write_client_kubeconfig(&reader, "reader", &[], time::Duration::days(1))
        .unwrap();
    let mode = || {
        hub.kubectl(&["get", "extc", "staging", "-o", "jsonpath={.spec.mode}"])
            .success()
            .stdout
    };
    extcluster(
        &operator,
        &["connect", "staging", "--from-kubeconfig", path(&reader)],
    )
    .success();

    let mut step = Steps::start("read-only credentials cannot be moved to import");
    one_line_error(
        extcluster(&operator, &["set-mode", "staging", "import"]),
        &[
            "lack rights that Import mode needs",
            "convert-kubeconfig",
            "set-credentials staging",
        ],
    );
    assert_eq!(mode(), "Connect", "nothing was changed");

    step.next("with full-access credentials stored, the dry run writes nothing, then it moves");
    extcluster(
        &operator,
        &[
            "set-credentials",
            "staging",
            "--from-kubeconfig",
            path(&ext.kubeconfig()),
        ],
    )
    .success();
    for dry in ["--dry-run", "--dry-run=server"] {
        let out = extcluster(&operator, &["set-mode", "staging", "import", dry]).success();
        assert_contains(&out.stdout, "mode Import (was Connect)");
        assert_contains(&out.stdout, "dry run)");
        assert_eq!(mode(), "Connect", "{dry} wrote nothing");
    }
    let out = extcluster(&operator, &["set-mode", "staging", "import"]).success();
    assert_eq!(
        out.stdout,
        "externalcluster.extcluster.io/staging mode Import (was Connect)\n"
    );
    assert_eq!(mode(), "Import");
    let record = hub
        .kubectl(&[
            "get",
            "extc",
            "staging",
            "-o",
            "jsonpath={.metadata.annotations.extcluster\\.io/mode-changed}",
        ])
        .success()
        .stdout;
    assert!(
        record.starts_with("Connect to Import at 20") && record.ends_with(" by user operator"),
        "{record}"
    );
    let again = extcluster(&operator, &["set-mode", "staging", "import"]).success();
    assert_contains(&again.stdout, "unchanged: already Import");

    step.next("back to read-only: allowed, with a warning that the credentials can still write");
    let back = extcluster(&operator, &["set-mode", "staging", "connect"]).success();
    assert_contains(&back.stderr, "can still write to the whole cluster");
    assert_eq!(mode(), "Connect");
}
