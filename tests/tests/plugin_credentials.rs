//! `kubectl extcluster set-credentials`: the way back from a rotated or expired token. The new
//! kubeconfig must reach the same cluster with the rights the registration's mode needs;
//! otherwise nothing changes.

use extcluster_core::api::SYSTEM_NAMESPACE;
use extcluster_tests::control_plane::User;
use extcluster_tests::path_str as path;
use extcluster_tests::plugin::{extcluster, one_line_error};
use extcluster_tests::{ControlPlane, Options, Steps, Wait, assert_contains, hub};
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

#[tokio::test]
async fn a_rotated_token_is_given_back_to_the_hub_and_nothing_else_is_accepted() {
    let hub = hub::start().await.unwrap();
    let hk = hub.kubeconfig();
    let ext = ControlPlane::start(
        Options::default()
            .name("eks")
            .version(EKS)
            .controller_manager(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (
        dir.path().join("first.kubeconfig"),
        dir.path().join("second.kubeconfig"),
    );

    let mut step = Steps::start("a ServiceAccount token kubeconfig, registered");
    let admin = ext.kubeconfig();
    extcluster(
        &hk,
        &[
            "convert-kubeconfig",
            "--from-kubeconfig",
            path(&admin),
            "-o",
            path(&first),
        ],
    )
    .success();
    extcluster(&hk, &["import", "prod", "--from-kubeconfig", path(&first)]).success();
    let before = stored_kubeconfig(&hub, "prod");

    step.next("the token is rotated: refresh says the hub's copy stopped working");
    extcluster(
        &hk,
        &[
            "convert-kubeconfig",
            "--from-kubeconfig",
            path(&admin),
            "--rotate",
            "-o",
            path(&second),
        ],
    )
    .success();
    // The API server caches a token it accepted for about ten seconds: poll for the refusal.
    let started = std::time::Instant::now();
    let mut last = String::new();
    let refused = Wait::up_to(
        Duration::from_secs(30),
        "the hub to refuse the rotated token",
    )
    .every(Duration::from_millis(500))
    .until(async || {
        let refreshed = extcluster(&hk, &["refresh", "prod"]);
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

    step.next("what set-credentials refuses, changing nothing");
    // Refused, and nothing changed: a kubeconfig for another cluster...
    let other = ControlPlane::start(Options::default().name("other"))
        .await
        .unwrap();
    let err = one_line_error(
        extcluster(
            &hk,
            &[
                "set-credentials",
                "prod",
                "--from-kubeconfig",
                path(&other.kubeconfig()),
            ],
        ),
        &["registered for cluster", "reaches cluster"],
    );
    assert_contains(&err, "register this one under a name of its own");
    // ...credentials without the rights import needs (a token with no rights at all)...
    let nobody = dir.path().join("nobody.kubeconfig");
    ext.write_kubeconfig(&nobody, &User::Token("not-a-real-token".into()))
        .unwrap();
    one_line_error(
        extcluster(
            &hk,
            &[
                "set-credentials",
                "prod",
                "--from-kubeconfig",
                path(&nobody),
            ],
        ),
        &["refused the credentials", "401"],
    );
    // ...a login through a plugin, which the hub could not use...
    let exec = dir.path().join("exec.kubeconfig");
    ext.write_kubeconfig(
        &exec,
        &User::Exec {
            command: "aws".into(),
            args: vec!["eks".into(), "get-token".into()],
        },
    )
    .unwrap();
    one_line_error(
        extcluster(
            &hk,
            &["set-credentials", "prod", "--from-kubeconfig", path(&exec)],
        ),
        &["convert-kubeconfig"],
    );
    // ...and a registration that does not exist.
    one_line_error(
        extcluster(
            &hk,
            &[
                "set-credentials",
                "nope",
                "--from-kubeconfig",
                path(&second),
            ],
        ),
        &["no external cluster named \"nope\""],
    );
    assert_eq!(
        stored_kubeconfig(&hub, "prod"),
        before,
        "a refusal changes nothing"
    );

    step.next("the new token is accepted, stored, and the registration runs again");
    let out = extcluster(
        &hk,
        &[
            "set-credentials",
            "prod",
            "--from-kubeconfig",
            path(&second),
        ],
    )
    .success();
    assert!(
        out.stdout.contains("credentials replaced") && out.stdout.contains("Running"),
        "{}",
        out.stdout
    );
    assert_ne!(stored_kubeconfig(&hub, "prod"), before);
    let refreshed = extcluster(&hk, &["refresh", "prod"]).success();
    assert_contains(&refreshed.stdout, "Running");
    let secret_text = format!("{}{}", out.stdout, out.stderr);
    let token = std::fs::read_to_string(&second).unwrap();
    let token = token
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .unwrap();
    assert!(!secret_text.contains(token), "the token is never printed");
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
