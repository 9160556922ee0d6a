//! The images `make image` builds (`make test` builds them before the tests): each holds one
//! statically linked binary and nothing else, runs as a non-root user, carries the OCI labels,
//! is referenced by digest in the release rendering, and works: unpacked as a container runtime
//! unpacks it and run from its root filesystem as its user, the webhook enforces admission for a
//! real hub and the controller keeps a real registration's status.

use extcluster_core::ExternalCluster;
use extcluster_tests::controller::{ControllerProcess, FAST, Setup};
use extcluster_tests::image::Unpacked;
use extcluster_tests::launch::Launch;
use extcluster_tests::plugin::extcluster;
use extcluster_tests::webhook::{WebhookProcess, assert_denied};
use extcluster_tests::{ControlPlane, Options, Wait, bins, hub, path_str};
use kube::Api;
use std::sync::Arc;
use std::time::Duration;

const IMAGES: [&str; 2] = ["extcluster-webhook", "extcluster-controller"];
const REGISTRY: &str = "ghcr.io/extcluster";
/// The roots for clusters whose kubeconfig names no CA.
const ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

fn unpacked(name: &str) -> Arc<Unpacked> {
    Arc::new(Unpacked::new(name).unwrap())
}

/// The uid a running process has, from /proc.
fn uid_of(pid: i32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn each_image_is_one_static_binary_run_as_non_root_with_labels_and_is_installed_by_digest() {
    let out_dir = bins::target_dir().join("image");
    let digests = std::fs::read_to_string(out_dir.join("digests.txt")).unwrap();
    let install = std::fs::read_to_string(out_dir.join("install.yaml")).unwrap();
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    for name in IMAGES {
        let image = unpacked(name);
        let entrypoint = format!("/{name}");
        // The binary and the CA roots, nothing else: no shell, no libc, no loader; it runs, so
        // it needs none.
        assert_eq!(
            image.files().unwrap(),
            [
                "/etc",
                "/etc/ssl",
                "/etc/ssl/certs",
                ROOTS,
                entrypoint.as_str()
            ]
        );
        let roots = std::fs::read_to_string(image.rootfs().join(&ROOTS[1..])).unwrap();
        assert!(roots.contains("-----BEGIN CERTIFICATE-----"));
        assert_eq!(image.process_args(), [entrypoint]);
        let (uid, gid) = image.user();
        assert!(uid != 0 && gid != 0, "{name} runs as {uid}:{gid}");
        let help = Launch::Image(image.clone())
            .output(name, &["--help".to_owned()])
            .unwrap();
        assert!(help.status.success(), "{name} --help: {help:?}");

        let label = |key: &str| {
            image
                .labels
                .get(&format!("org.opencontainers.image.{key}"))
                .cloned()
                .unwrap_or_else(|| panic!("{name} has no {key} label: {:?}", image.labels))
        };
        assert_eq!(label("title"), name);
        assert_eq!(label("version"), version);
        assert_eq!(label("licenses"), "Apache-2.0");
        assert!(label("source").starts_with("https://github.com/"));
        assert!(!label("description").is_empty());
        let revision = label("revision");
        assert!(
            revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit()),
            "{revision}"
        );

        // What `make image` printed is the archive's digest, and the install runs exactly it.
        assert!(image.digest.starts_with("sha256:"), "{}", image.digest);
        let by_digest = format!("{REGISTRY}/{name}@{}", image.digest);
        assert!(digests.lines().any(|l| l == by_digest), "{digests}");
        assert!(
            install.contains(&format!("image: {by_digest}\n")),
            "install.yaml does not run {by_digest}"
        );
    }
    assert!(
        !install.contains(&format!(":{version}\n")),
        "install.yaml still names an image by tag"
    );
}

#[tokio::test]
async fn the_images_run_from_their_root_filesystems_against_a_real_hub() {
    let (hub, ext) = tokio::join!(hub::start(), ControlPlane::start(Options::default()));
    let (hub, mut ext) = (hub.unwrap(), ext.unwrap());
    let hk = hub.kubeconfig();

    // The webhook: its own certificates made by the image, the hub calls it, it refuses.
    let launch = Launch::Image(unpacked("extcluster-webhook"));
    let webhook = WebhookProcess::start_launched(&hub, launch, &[], &[])
        .await
        .unwrap();
    assert_eq!(uid_of(webhook.pid().unwrap()), 65532);
    webhook.register_and_wait(&hub).await.unwrap();
    let refused = extcluster_tests::webhook::create(
        &hub,
        &extcluster_tests::cluster_yaml("old", "old-id", "v1.18.20", &[]),
    );
    assert_denied(&refused, &["v1.18.20"]);
    let ext_kc = ext.kubeconfig();
    extcluster(
        &hk,
        &["import", "ext", "--from-kubeconfig", path_str(&ext_kc)],
    )
    .success();

    // The controller: it reaches the hub and the external cluster, and records what changed.
    let launch = Launch::Image(unpacked("extcluster-controller"));
    let controller = ControllerProcess::start_as(
        &hub,
        "image",
        FAST,
        Setup {
            launch,
            ..Setup::default()
        },
    )
    .await
    .unwrap();
    ext.restart_apiserver_reporting("v1.29.3-eks-adc7111")
        .await
        .unwrap();
    let api: Api<ExternalCluster> = Api::all(hub.client().await.unwrap());
    let observed = async || {
        let cluster = api.get("ext").await.ok()?;
        let version = cluster.status?.observed_version?;
        (version == "v1.29.3-eks-adc7111").then_some(())
    };
    Wait::up_to(
        Duration::from_secs(90),
        "the controller to see the new version",
    )
    .until(observed)
    .await
    .unwrap_or_else(|timeout| panic!("{timeout}:\n{}", controller.log()));
}
