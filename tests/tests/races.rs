//! Races on a real hub: many registrations of one cluster at once end as exactly one, with one
//! webhook replica and with two.

use extcluster_tests::tcp_proxy::RoundRobinProxy;
use extcluster_tests::webhook::WebhookProcess;
use extcluster_tests::{ControlPlane, Wait, cluster_yaml, hub, kubectl};
use std::time::Duration;

/// Starts `n` `kubectl create`s of the same cluster under different names at once; returns how
/// many succeeded.
fn create_concurrently(hub: &ControlPlane, cluster_id: &str, n: usize) -> usize {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let kubeconfig = hub.kubeconfig();
            let yaml = cluster_yaml(
                &format!("{cluster_id}-{i:02}"),
                cluster_id,
                "v1.29.3-eks-adc7111",
                &[],
            );
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                kubectl::run(&kubeconfig, &["create", "-f", "-"], Some(&yaml)).ok()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok)
        .count()
}

fn registrations_of(hub: &ControlPlane, cluster_id: &str) -> Vec<String> {
    let out = hub
        .kubectl(&[
            "get",
            "extc",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.spec.clusterID}{\"\\n\"}{end}",
        ])
        .success();
    out.stdout
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(cluster_id))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}

/// Waits until exactly one registration of the cluster exists, and stays so for a second.
async fn settles_to_one(hub: &ControlPlane, cluster_id: &str) -> Vec<String> {
    let mut now = Vec::new();
    let settled = Wait::up_to(
        Duration::from_secs(20),
        format!("one registration of {cluster_id}"),
    )
    .every(Duration::from_millis(100))
    .until(async || {
        now = tokio::task::block_in_place(|| registrations_of(hub, cluster_id));
        if now.len() != 1 {
            return None;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let later = tokio::task::block_in_place(|| registrations_of(hub, cluster_id));
        (later == now).then_some(later)
    })
    .await;
    settled.unwrap_or_else(|timeout| panic!("{timeout}: still {} of them: {now:?}", now.len()))
}

#[tokio::test]
async fn twenty_raw_creates_one_replica_exactly_one_is_admitted() {
    let hub = hub::start().await.unwrap();
    let webhook = WebhookProcess::start(&hub, &[]).await.unwrap();
    webhook.register_and_wait(&hub).await.unwrap();
    let admitted = create_concurrently(&hub, "race-one", 20);
    assert_eq!(
        admitted,
        1,
        "one replica reserves the cluster at once:\n{}",
        webhook.log()
    );
    assert_eq!(registrations_of(&hub, "race-one").len(), 1);
}

// Multi-threaded: the proxy's tasks must run while the test waits on kubectl.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_raw_creates_two_replicas_end_as_exactly_one() {
    let hub = hub::start().await.unwrap();
    let first = WebhookProcess::start(&hub, &[]).await.unwrap();
    let second = first.replica(&hub).await.unwrap();
    let proxy = RoundRobinProxy::start(vec![first.port, second.port])
        .await
        .unwrap();
    first.register_url(&hub, proxy.port).unwrap();
    first.register_and_wait_url(&hub, proxy.port).await.unwrap();

    for round in 0..3 {
        let id = format!("race-two-{round}");
        let admitted = tokio::task::block_in_place(|| create_concurrently(&hub, &id, 20));
        assert!(
            (1..=2).contains(&admitted),
            "each replica admits at most one: {admitted}"
        );
        let left = settles_to_one(&hub, &id).await;
        eprintln!("round {round}: {admitted} admitted, kept {left:?}");
    }
    // Whatever happened, no registration is left half-removed.
    let marked = hub
        .kubectl(&[
            "get",
            "extc",
            "-o",
            "jsonpath={.items[*].metadata.annotations.extcluster\\.io/disconnect}",
        ])
        .success();
    assert!(
        marked.stdout.trim().is_empty(),
        "no marked-but-kept registrations: {}",
        marked.stdout
    );
}

/// Duplicates can also arrive around admission (the webhook was down with an Ignore policy, or
/// two replicas each admitted one): the webhook resolves them to the oldest, on its first sync and
/// on a later watch event alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_that_bypassed_admission_are_resolved_to_the_oldest() {
    let hub = hub::start().await.unwrap();
    let create = |name: &str| {
        hub.kubectl_stdin(
            &["create", "-f", "-"],
            &cluster_yaml(name, "dup-x", "v1.30.2", &[]),
        )
        .success()
    };
    create("dup-zz-oldest");
    // creationTimestamp has one-second resolution: make the first strictly older.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    create("dup-aa-newer");
    let webhook = WebhookProcess::start(&hub, &[]).await.unwrap();
    assert_eq!(
        settles_to_one(&hub, "dup-x").await,
        ["dup-zz-oldest"],
        "kept the oldest, not the first name"
    );

    // The webhook runs but is not registered for admission: a raw create slips past it.
    create("dup-late");
    assert_eq!(settles_to_one(&hub, "dup-x").await, ["dup-zz-oldest"]);
    let log = webhook.log();
    assert_eq!(
        log.matches("removed a duplicate registration").count(),
        2,
        "{log}"
    );
}

/// Twenty `kubectl extcluster register`s of one real cluster at once, on a hub whose garbage
/// collector runs: one registration and one kubeconfig Secret are left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_plugin_registrations_leave_one_registration_and_one_secret() {
    use extcluster_tests::plugin::extcluster;
    let hub = hub::start_with(
        extcluster_tests::Options::default()
            .name("hub")
            .controller_manager(),
    )
    .await
    .unwrap();
    let webhook = WebhookProcess::start(&hub, &[]).await.unwrap();
    webhook.register_and_wait(&hub).await.unwrap();
    let external = ControlPlane::start(
        extcluster_tests::Options::default()
            .name("eks")
            .version("v1.29.3-eks-adc7111"),
    )
    .await
    .unwrap();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(20));
    let outcomes: Vec<_> = (0..20)
        .map(|i| {
            let (hub_kc, ext_kc, barrier) =
                (hub.kubeconfig(), external.kubeconfig(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let ext = ext_kc.display().to_string();
                extcluster(
                    &hub_kc,
                    &["import", &format!("eks-{i:02}"), "--from-kubeconfig", &ext],
                )
            })
        })
        .collect();
    let outcomes: Vec<_> =
        tokio::task::block_in_place(|| outcomes.into_iter().map(|h| h.join().unwrap()).collect());
    let succeeded = outcomes.iter().filter(|o| o.ok()).count();
    assert_eq!(succeeded, 1, "exactly one registration succeeds");
    for refused in outcomes.iter().filter(|o| !o.ok()) {
        assert!(
            refused.stderr.contains("already registered") || refused.stderr.contains("re-import"),
            "a refusal says why: {}",
            refused.stderr
        );
    }
    let ids = tokio::task::block_in_place(|| {
        hub.kubectl(&["get", "extc", "-o", "jsonpath={.items[*].spec.clusterID}"])
            .success()
            .stdout
    });
    assert_eq!(ids.split_whitespace().count(), 1, "{ids}");
    let secrets = tokio::task::block_in_place(|| {
        hub.kubectl(&[
            "get",
            "secrets",
            "-n",
            "extcluster-system",
            "-l",
            "app.kubernetes.io/managed-by=kubectl-extcluster",
            "-o",
            "name",
        ])
        .success()
        .stdout
    });
    assert_eq!(
        secrets.lines().count(),
        1,
        "one kubeconfig Secret: {secrets}"
    );

    // The Secret belongs to its registration: removing the registration any way removes it.
    let name = outcomes
        .iter()
        .position(|o| o.ok())
        .map(|i| format!("eks-{i:02}"))
        .unwrap();
    tokio::task::block_in_place(|| {
        hub.kubectl(&["annotate", "extc", &name, "extcluster.io/disconnect=true"])
            .success();
        hub.kubectl(&["delete", "extc", &name]).success();
    });
    Wait::up_to(
        Duration::from_secs(30),
        "the garbage collector to remove the Secret of a raw-deleted registration",
    )
    .every(Duration::from_millis(100))
    .until(async || {
        let left = tokio::task::block_in_place(|| {
            hub.kubectl(&["get", "secrets", "-n", "extcluster-system", "-o", "name"])
                .success()
                .stdout
        });
        (!left.contains("kubeconfig")).then_some(())
    })
    .await
    .unwrap();
}
