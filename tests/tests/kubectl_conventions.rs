//! `list` and `get` print what kubectl prints for the same flags (-o jsonpath, -o
//! custom-columns, --no-headers, --sort-by, -l, several names): real kubectl, on the same hub,
//! is the control.

use extcluster_tests::control_plane::User;
use extcluster_tests::plugin::{extcluster, one_line_error};
use extcluster_tests::webhook::create;
use extcluster_tests::{ControlPlane, Options, assert_contains, cluster_yaml, hub, path_str};
use std::path::Path;

/// Three registrations written with kubectl (no webhook), two of them labelled env=prod.
async fn hub_with_three() -> ControlPlane {
    let hub = hub::start().await.unwrap();
    for (name, id, version) in [
        ("b-eu", "id-b", "v1.29.3"),
        ("a-us", "id-a", "v1.31.0"),
        ("c-ap", "id-c", "v1.20.1"),
    ] {
        let out = create(&hub, &cluster_yaml(name, id, version, &[]));
        assert!(out.ok(), "{}", out.stderr);
    }
    for name in ["a-us", "c-ap"] {
        let out = hub.kubectl(&["label", "externalcluster", name, "env=prod"]);
        assert!(out.ok(), "{}", out.stderr);
    }
    hub
}

#[track_caller]
fn same_as_kubectl(hub: &ControlPlane, hk: &Path, ours: &[&str], kubectl: &[&str]) -> String {
    let mine = extcluster(hk, ours).success().stdout;
    let theirs = hub.kubectl(kubectl);
    assert!(theirs.ok(), "kubectl {kubectl:?}: {}", theirs.stderr);
    assert_eq!(mine, theirs.stdout, "ours: {ours:?}, kubectl: {kubectl:?}");
    mine
}

#[tokio::test]
async fn list_and_get_print_what_kubectl_prints_for_the_same_flags() {
    let hub = hub_with_three().await;
    let hk = hub.kubeconfig();
    let names = "jsonpath={.items[*].metadata.name}";
    let out = same_as_kubectl(
        &hub,
        &hk,
        &["list", "-o", names],
        &["get", "extc", "-o", names],
    );
    assert_eq!(out, "a-us b-eu c-ap");

    let range =
        r#"jsonpath={range .items[*]}{.metadata.name}{"\t"}{.spec.kubernetesVersion}{"\n"}{end}"#;
    same_as_kubectl(
        &hub,
        &hk,
        &["list", "-o", range],
        &["get", "extc", "-o", range],
    );
    let one = "jsonpath={.spec.clusterID}";
    let out = same_as_kubectl(
        &hub,
        &hk,
        &["get", "b-eu", "-o", one],
        &["get", "extc", "b-eu", "-o", one],
    );
    assert_eq!(out, "id-b");

    let columns = "custom-columns=NAME:.metadata.name,VERSION:.spec.kubernetesVersion,ENV:.metadata.labels.env";
    let out = same_as_kubectl(
        &hub,
        &hk,
        &["list", "-o", columns],
        &["get", "extc", "-o", columns],
    );
    assert!(out.contains("<none>"), "{out}");
    same_as_kubectl(
        &hub,
        &hk,
        &["list", "-o", columns, "--no-headers"],
        &["get", "extc", "-o", columns, "--no-headers"],
    );

    let sort = "{.spec.kubernetesVersion}";
    let out = same_as_kubectl(
        &hub,
        &hk,
        &["list", "--sort-by", sort, "-o", "name"],
        &["get", "extc", "--sort-by", sort, "-o", "name"],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "externalcluster.extcluster.io/c-ap",
            "externalcluster.extcluster.io/b-eu",
            "externalcluster.extcluster.io/a-us"
        ]
    );
    let out = same_as_kubectl(
        &hub,
        &hk,
        &["list", "-l", "env=prod", "-o", "name"],
        &["get", "extc", "-l", "env=prod", "-o", "name"],
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    let out = extcluster(&hk, &["list", "-l", "env=prod", "--no-headers"])
        .success()
        .stdout;
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(!out.contains("NAME"), "{out}");

    // Several names; a missing one is reported after the ones found, with a failing exit.
    same_as_kubectl(
        &hub,
        &hk,
        &["get", "c-ap", "a-us", "-o", "name"],
        &["get", "extc", "c-ap", "a-us", "-o", "name"],
    );
    let out = extcluster(&hk, &["get", "a-us", "nope", "-o", "name"]);
    assert_eq!(out.stdout, "externalcluster.extcluster.io/a-us\n");
    one_line_error(&out, &["\"nope\"", "kubectl extcluster list"]);
    one_line_error(
        extcluster(&hk, &["list", "-o", "jsonpath={.items["]),
        &["jsonpath"],
    );
}

#[tokio::test]
async fn impersonation_and_the_request_timeout_work_as_in_kubectl() {
    let hub = hub::start().await.unwrap();
    let hk = hub.kubeconfig();
    // --as a user with no rights: refused as that user, as kubectl is.
    let theirs = hub.kubectl(&["get", "extc", "--as", "nobody"]);
    assert!(
        !theirs.ok() && theirs.stderr.contains("\"nobody\""),
        "{}",
        theirs.stderr
    );
    one_line_error(
        extcluster(&hk, &["list", "--as", "nobody"]),
        &["forbidden", "\"nobody\""],
    );
    let out = extcluster(
        &hk,
        &["list", "--as", "someone", "--as-group", "system:masters"],
    );
    assert!(out.ok(), "{}", out.stderr);

    // A hub that takes the connection and never answers: --request-timeout bounds the wait
    // below the default bound (10 s to connect).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let text = std::fs::read_to_string(&hk)
        .unwrap()
        .replace(&hub.server(), &format!("https://127.0.0.1:{port}"));
    let dir = tempfile::tempdir().unwrap();
    let silent_kc = dir.path().join("silent.kubeconfig");
    std::fs::write(&silent_kc, text).unwrap();
    let started = std::time::Instant::now();
    let out = extcluster(&silent_kc, &["list", "--request-timeout", "1s"]);
    let took = started.elapsed();
    one_line_error(&out, &["did not answer in time"]);
    assert!(took < std::time::Duration::from_secs(9), "{took:?}");
    one_line_error(
        extcluster(&hk, &["list", "--request-timeout", "soon"]),
        &["request timeout"],
    );
}

#[tokio::test]
async fn list_watch_prints_each_change_as_it_happens() {
    use std::io::BufRead;
    let hub = hub_with_three().await;
    let mut child = std::process::Command::new("kubectl")
        .args([
            "extcluster",
            "list",
            "-w",
            "-o",
            "custom-columns=NAME:.metadata.name,ENV:.metadata.labels.env",
            "--kubeconfig",
        ])
        .arg(hub.kubeconfig())
        .env("PATH", extcluster_tests::plugin::plugin_path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    // A hang guard only: each line is expected within moments.
    let next = || {
        rx.recv_timeout(std::time::Duration::from_secs(60))
            .expect("a line from list -w")
    };
    let listed: Vec<String> = (0..4).map(|_| next()).collect();
    assert!(listed[0].starts_with("NAME"), "{listed:?}");
    assert!(listed[1].starts_with("a-us"), "{listed:?}");

    let out = hub.kubectl(&["label", "externalcluster", "b-eu", "env=staging"]);
    assert!(out.ok(), "{}", out.stderr);
    let changed = next();
    assert!(
        changed.starts_with("b-eu") && changed.ends_with("staging"),
        "{changed:?}"
    );
    let out = create(&hub, &cluster_yaml("d-new", "id-d", "v1.30.0", &[]));
    assert!(out.ok(), "{}", out.stderr);
    let added = next();
    assert!(added.starts_with("d-new"), "{added:?}");
    assert!(!added.contains("NAME"), "no header again: {added:?}");
    child.kill().unwrap();
    let _ = child.wait();
}

#[tokio::test]
async fn verbose_levels_log_requests_and_headers_and_never_a_credential() {
    let (hub, ext) = hub::and_external("ext").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Token kubeconfigs, hub and external: a token is what a log could leak.
    let hk = dir.path().join("hub-token");
    hub.write_kubeconfig(&hk, &User::Token(hub.sso_token().to_owned()))
        .unwrap();
    let ek = dir.path().join("ext-token");
    ext.write_kubeconfig(&ek, &User::Token(ext.sso_token().to_owned()))
        .unwrap();
    let never = |out: &extcluster_tests::Output| {
        for token in [hub.sso_token(), ext.sso_token()] {
            assert!(
                !out.stderr.contains(token) && !out.stdout.contains(token),
                "a token was logged:\n{}",
                out.stderr
            );
        }
    };

    let quiet = extcluster(&hk, &["list"]).success();
    assert_eq!(
        quiet.stderr, "No external clusters are registered on the hub.\n",
        "nothing logged without -v"
    );

    let six = extcluster(&hk, &["list", "-v=6"]).success();
    let request = format!(
        "GET {}/apis/extcluster.io/v1alpha1/externalclusters",
        hub.server()
    );
    assert_contains(&six.stderr, &request);
    assert_contains(&six.stderr, "200 OK in ");
    assert!(!six.stderr.contains("header"), "{}", six.stderr);
    never(&six);

    let seven = extcluster(&hk, &["list", "--v", "7"]).success();
    assert_contains(
        &seven.stderr,
        "request header authorization: Bearer <masked>",
    );
    never(&seven);

    // The most a user can ask for, on the command that sends the most credentials: the
    // external cluster's token goes into a Secret on the hub.
    let nine = extcluster(
        &hk,
        &[
            "register",
            "ext",
            "--from-kubeconfig",
            extcluster_tests::path_str(&ek),
            "-v",
            "9",
        ],
    )
    .success();
    assert_contains(&nine.stderr, &format!("GET {}/version", ext.server()));
    assert_contains(&nine.stderr, "/api/v1/namespaces/extcluster-system/secrets");
    assert_contains(&nine.stderr, "201 Created");
    never(&nine);
}

#[tokio::test]
async fn datacenters_and_labels_given_at_registration_select_in_list() {
    let (hub, (east, west)) = tokio::join!(hub::start(), async {
        tokio::join!(
            ControlPlane::start(Options::default().name("east")),
            ControlPlane::start(Options::default().name("west"))
        )
    });
    let (hub, east, west) = (hub.unwrap(), east.unwrap(), west.unwrap());
    let hk = hub.kubeconfig();
    let connect = |name: &str, kubeconfig: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["connect", name, "--from-kubeconfig", path_str(kubeconfig)];
        args.extend(extra);
        extcluster(&hk, &args)
    };

    // Bad labels are refused before anything is read or written.
    let spaced = connect("east", &east.kubeconfig(), &["--datacenter", "AWS US-East"]);
    one_line_error(&spaced, &["\"AWS US-East\"", "aws-us-east-1"]);
    let forged = ["--label", "extcluster.io/cluster-id=forged"];
    one_line_error(
        connect("east", &east.kubeconfig(), &forged),
        &["extcluster.io/", "--datacenter"],
    );
    assert!(hub::registrations(&hub).await.is_empty());

    let payments = ["--datacenter", "aws-us-east-1", "--label", "team=payments"];
    connect("east", &east.kubeconfig(), &payments).success();
    connect(
        "west",
        &west.kubeconfig(),
        &["--datacenter", "gcp-europe-west1"],
    )
    .success();
    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["list", "-o", "name"];
        all.extend(args);
        extcluster(&hk, &all)
            .success()
            .stdout
            .lines()
            .map(|l| l.rsplit('/').next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&["--datacenter", "aws-us-east-1"]), ["east"]);
    assert_eq!(names(&["--datacenter", "gcp-europe-west1"]), ["west"]);
    assert_eq!(names(&["-l", "team=payments"]), ["east"]);
    assert!(names(&["-l", "team=payments", "--datacenter", "gcp-europe-west1"]).is_empty());
    let none = extcluster(&hk, &["list", "--datacenter", "azure-westeurope"]).success();
    assert_contains(&none.stderr, "extcluster.io/datacenter=azure-westeurope");

    // Moved later, the kubectl way.
    hub.kubectl(&[
        "label",
        "externalcluster",
        "west",
        "extcluster.io/datacenter=aws-us-east-1",
        "--overwrite",
    ])
    .success();
    assert_eq!(names(&["--datacenter", "aws-us-east-1"]), ["east", "west"]);
}
