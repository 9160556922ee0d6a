//! The local sandbox behind `make demo`: a real hub, three real external clusters and the
//! webhook enforcing, all on loopback.
//!
//!   sandbox up      [--dir .sandbox]   start everything in the background; returns when ready
//!   sandbox down    [--dir .sandbox]   stop everything it started
//!   sandbox outage  [--dir .sandbox]   stop eks-prod's API server (the cluster goes dark)
//!   sandbox recover [--dir .sandbox]   start it again
//!
//! `up` leaves in DIR: hub.kubeconfig, eks-prod.kubeconfig (reports v1.29.3-eks-adc7111, in
//! range), legacy.kubeconfig (reports v1.18.20, out of range), edge.kubeconfig (its API server
//! trusts the hub's ServiceAccount issuer, set up as `kubectl extcluster trust` prints),
//! sandbox.pid and sandbox.log.

use anyhow::{Context, Result, anyhow, bail};
use extcluster_tests::controller::ControllerProcess;
use extcluster_tests::webhook::WebhookProcess;
use extcluster_tests::{ControlPlane, Options, Wait, hub};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .map_or_else(|| PathBuf::from(".sandbox"), PathBuf::from);
    match args.first().map(String::as_str) {
        Some("up") => up(&dir),
        Some("down") => down(&dir),
        Some("serve") => serve(&dir),
        Some("outage") => signal(&dir, nix::sys::signal::Signal::SIGUSR1),
        Some("recover") => signal(&dir, nix::sys::signal::Signal::SIGUSR2),
        _ => bail!("usage: sandbox up|down|outage|recover [--dir DIR]"),
    }
}

/// Starts `sandbox serve` detached from this terminal and waits for it to be ready.
fn up(dir: &Path) -> Result<()> {
    if let Some(pid) = running(dir) {
        bail!("a sandbox is already running (pid {pid}); stop it with `make demo-down`");
    }
    std::fs::create_dir_all(dir)?;
    let _ = std::fs::remove_file(dir.join("ready"));
    let log = std::fs::File::create(dir.join("sandbox.log"))?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .arg("serve")
        .arg("--dir")
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("starting the sandbox")?;
    std::fs::write(dir.join("sandbox.pid"), child.id().to_string())?;
    let started = Instant::now();
    let log = dir.join("sandbox.log");
    Wait::up_to(
        Duration::from_secs(180),
        format!("the sandbox to be ready; see {}", log.display()),
    )
    .every(Duration::from_millis(200))
    .until_blocking(|| {
        if dir.join("ready").exists() {
            return Some(Ok(()));
        }
        running(dir).is_none().then(|| {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            Err(anyhow!("the sandbox stopped while starting:\n{log}"))
        })
    })??;
    eprintln!("sandbox ready in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

fn down(dir: &Path) -> Result<()> {
    let Some(pid) = running(dir) else {
        eprintln!("no sandbox is running in {}", dir.display());
        return Ok(());
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )?;
    let stopped = Wait::up_to(
        Duration::from_secs(30),
        format!("the sandbox (pid {pid}) to stop"),
    )
    .every(Duration::from_millis(100))
    .until_blocking(|| running(dir).is_none().then_some(()));
    // Its files go either way: a sandbox that outlives SIGTERM is reported, not left recorded.
    if let Err(e) = stopped {
        eprintln!("{e:#}");
    }
    for f in ["sandbox.pid", "ready"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    eprintln!("sandbox stopped");
    Ok(())
}

/// Asks the running sandbox to stop (USR1) or start (USR2) eks-prod's API server.
fn signal(dir: &Path, signal: nix::sys::signal::Signal) -> Result<()> {
    let Some(pid) = running(dir) else {
        bail!(
            "no sandbox is running in {}; start one with `make demo`",
            dir.display()
        );
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)?;
    Ok(())
}

/// The sandbox's pid, if it is still running.
fn running(dir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(dir.join("sandbox.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    });
    (alive && !zombie).then_some(pid)
}

/// Until SIGTERM (or Ctrl-C): SIGUSR1 stops eks-prod's API server, SIGUSR2 starts it again, so
/// the story can show an outage and the recovery.
async fn outages_until_stopped(eks: &mut ControlPlane, step: impl Fn(&str)) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let (mut outage, mut recover) = (
        signal(SignalKind::user_defined1())?,
        signal(SignalKind::user_defined2())?,
    );
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = outage.recv() => {
                eks.stop_apiserver();
                step("eks-prod's API server stopped");
            }
            _ = recover.recv() => {
                eks.start_apiserver().await?;
                step("eks-prod's API server started again");
            }
        }
    }
}

/// Holds every process until SIGTERM; dropping the fixtures stops them.
fn serve(dir: &Path) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let step = |s: &str| eprintln!("[sandbox] {s}");
        step("starting the hub (kube-apiserver + etcd + kube-controller-manager)");
        let hub = hub::start_with(Options::default().name("hub").controller_manager()).await?;
        step("starting external cluster eks-prod (reports v1.29.3-eks-adc7111)");
        let eks = ControlPlane::start(
            Options::default()
                .name("eks-prod")
                .version("v1.29.3-eks-adc7111"),
        )
        .await?;
        add_nodes(
            &eks,
            &[
                "ip-10-0-1-11.eu-west-1.compute.internal",
                "ip-10-0-2-12.eu-west-1.compute.internal",
                "ip-10-0-3-13.eu-west-1.compute.internal",
            ],
            "aws:///eu-west-1a/i-0",
        )
        .await?;
        step("starting external cluster legacy (reports v1.18.20)");
        let legacy =
            ControlPlane::start(Options::default().name("legacy").version("v1.18.20")).await?;
        add_nodes(&legacy, &["legacy-node-1"], "").await?;
        step("starting external cluster edge, its API server trusting the hub's own identity");
        let edge = federated_edge(&hub, dir).await?;
        step("starting extcluster-webhook and registering it with the hub");
        let webhook = WebhookProcess::start(&hub, &[]).await?;
        webhook.register_and_wait(&hub).await?;
        step("installing the ClusterProfile API (manifests/cluster-profile) on the hub");
        hub::apply_cluster_profile_crd(&hub);
        step("starting extcluster-controller (probes every 5 s; Unreachable after 2 failures)");
        let controller = ControllerProcess::start(
            &hub,
            "sandbox",
            &[
                "--probe-interval=5s",
                "--unreachable-after=2",
                "--max-backoff=10s",
                "--connect-timeout=2s",
            ],
        )
        .await?;

        std::fs::copy(hub.kubeconfig(), dir.join("hub.kubeconfig"))?;
        std::fs::copy(eks.kubeconfig(), dir.join("eks-prod.kubeconfig"))?;
        std::fs::copy(legacy.kubeconfig(), dir.join("legacy.kubeconfig"))?;
        std::fs::copy(edge.kubeconfig(), dir.join("edge.kubeconfig"))?;
        std::fs::write(
            dir.join("webhook.log.path"),
            webhook.log_path().display().to_string(),
        )?;
        std::fs::write(
            dir.join("controller.log.path"),
            controller.log_path().display().to_string(),
        )?;
        std::fs::write(dir.join("ready"), "")?;
        step("ready");
        let mut eks = eks;
        outages_until_stopped(&mut eks, step).await?;
        step("stopping");
        drop(controller);
        drop(webhook);
        drop((edge, legacy, eks, hub));
        Ok(())
    })
}

/// An external cluster whose API server trusts the hub's ServiceAccount issuer with the flags
/// `kubectl extcluster trust` prints (the hub's discovery opened to anonymous readers first).
async fn federated_edge(hub: &ControlPlane, dir: &Path) -> Result<ControlPlane> {
    let mut edge = ControlPlane::start(Options::default().name("edge")).await?;
    hub::open_issuer_discovery(hub);
    let edge_kubeconfig = edge.kubeconfig();
    let args = ["trust", "edge", "--from-kubeconfig"];
    let args = [&args[..], &[extcluster_tests::path_str(&edge_kubeconfig)]].concat();
    let printed = extcluster_tests::plugin::extcluster(&hub.kubeconfig(), &args);
    if !printed.ok() {
        bail!("kubectl extcluster trust edge: {}", printed.stderr);
    }
    let flags = extcluster_tests::plugin::trust_flags(&printed.stdout, &dir.join("hub-ca.crt"));
    edge.trust_issuer(&flags).await?;
    accepted(hub, &edge, &printed.stdout).await?;
    Ok(edge)
}

/// Waits until `edge` takes a token the hub mints for the audience `printed` names (its OIDC
/// authenticator starts in the background, polling the issuer every 10 s): the sandbox is not
/// ready before a federated registration could be.
async fn accepted(hub: &ControlPlane, edge: &ControlPlane, printed: &str) -> Result<()> {
    let audience = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("audience:"))
        .map(str::trim)
        .ok_or_else(|| anyhow!("trust printed no audience"))?;
    let namespace = extcluster_core::api::SYSTEM_NAMESPACE;
    let token = hub
        .service_account_token(namespace, "sandbox-trust-check", &[audience])
        .await?;
    let client = edge.bearer_client(Some(&token))?;
    let namespaces = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client);
    Wait::up_to(Duration::from_secs(120), "edge to accept the hub's tokens")
        .every(Duration::from_secs(1))
        .until(async || match namespaces.get("kube-system").await {
            Err(kube::Error::Api(e)) if e.code == 401 => None,
            _ => Some(()),
        })
        .await?;
    hub.kubectl(&[
        "delete",
        "serviceaccount",
        "sandbox-trust-check",
        "-n",
        namespace,
    ]);
    Ok(())
}

async fn add_nodes(cp: &ControlPlane, names: &[&str], provider_prefix: &str) -> Result<()> {
    use k8s_openapi::api::core::v1::Node;
    use kube::api::{Api, PostParams};
    let nodes: Api<Node> = Api::all(cp.client().await?);
    for (i, name) in names.iter().enumerate() {
        let mut node = serde_json::json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {},
        });
        if !provider_prefix.is_empty() {
            node["spec"]["providerID"] = format!("{provider_prefix}{i:016x}").into();
        }
        let created = nodes
            .create(&PostParams::default(), &serde_json::from_value(node)?)
            .await?;
        let status = serde_json::json!({"status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "sandbox node",
                            "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            "nodeInfo": {"kubeletVersion": cp_version(cp).await?, "kubeProxyVersion": "", "machineID": "", "systemUUID": "",
                         "bootID": "", "kernelVersion": "6.1.0", "osImage": "Bottlerocket", "containerRuntimeVersion": "containerd://1.7",
                         "operatingSystem": "linux", "architecture": "amd64"}
        }});
        nodes
            .patch_status(
                &created.metadata.name.unwrap_or_default(),
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&status),
            )
            .await?;
    }
    Ok(())
}

async fn cp_version(cp: &ControlPlane) -> Result<String> {
    Ok(cp.client().await?.apiserver_version().await?.git_version)
}
