//! The controller, release build, pinned to CPU 0, probing registrations on a hub of its own:
//! half of them name one real external API server (identity is not the point here, so they share
//! it), half name loopback ports where nothing listens. Everything else runs on CPU 1. The hub
//! serves ClusterProfiles and every registration is exported to Argo CD and Flux, so the
//! publisher's work is in every row.

use crate::{Row, hub_load, row};
use anyhow::{Context, Result, bail};
use extcluster_core::ExternalCluster;
use extcluster_core::api::SYSTEM_NAMESPACE;
use extcluster_tests::process::Supervised;
use extcluster_tests::{ControlPlane, Options, Wait, free_port, http_get, hub, procfs};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, PostParams};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const INTERVAL_SECS: u64 = 60;

struct PinnedController {
    probe: u16,
    pid: i32,
    _process: Supervised,
}

impl PinnedController {
    fn start(bin: &Path, hub: &ControlPlane, dir: &Path) -> Result<Self> {
        let kubeconfig = dir.join("controller.kubeconfig");
        extcluster_tests::controller::grant(hub, &kubeconfig)?;
        let probe = free_port()?;
        let args = [
            format!("--kubeconfig={}", kubeconfig.display()),
            format!("--probe-listen=127.0.0.1:{probe}"),
            format!("--probe-interval={INTERVAL_SECS}s"),
            "--identity=bench".into(),
            "--log-format=json".into(),
            "--export=argocd".into(),
            "--export=flux".into(),
        ];
        let process = crate::spawn_on_measured_core(bin, &args, &dir.join("controller.log"))?;
        let flag = format!("--probe-listen=127.0.0.1:{probe}");
        let pid = Wait::up_to(Duration::from_secs(30), "the controller's pid")
            .until_blocking(|| procfs::pid_of("extcluster-controller", &flag))?;
        Ok(Self {
            probe,
            pid,
            _process: process,
        })
    }

    /// The sum of a metric's samples. A busy controller can be slow to answer /metrics: it is
    /// asked again rather than read as 0 (a 0 would look like a counter that stopped).
    async fn metric(&self, name: &str) -> Result<f64> {
        let body = Wait::up_to(Duration::from_secs(60), "the controller's /metrics")
            .every(Duration::from_millis(200))
            .until(async || http_get(self.probe, "/metrics").await.ok().map(|(_, b)| b))
            .await?;
        Ok(body
            .lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    async fn probes(&self) -> Result<f64> {
        self.metric("extcluster_controller_probe_duration_seconds_count")
            .await
    }
}

/// Registrations `ctl-{from}` to `ctl-{to}`: even ones live, odd ones dead.
async fn seed(hub: &ControlPlane, ext: &ControlPlane, from: usize, to: usize) -> Result<()> {
    let client = hub.client().await?;
    let ns: Namespace = Api::all(ext.client().await?).get("kube-system").await?;
    let id = ns.metadata.uid.unwrap_or_default();
    let live = std::fs::read_to_string(ext.kubeconfig())?;
    let results: Vec<Result<()>> = futures_util::stream::iter(from..to)
        .map(|i| {
            let (client, id, live) = (client.clone(), id.clone(), live.clone());
            async move {
                let name = format!("ctl-{i:05}");
                let server = if i % 2 == 0 {
                    ext.server()
                } else {
                    format!("https://127.0.0.1:{}", free_port()?)
                };
                let kubeconfig = live.replace(&ext.server(), &server);
                let secret: Secret = serde_json::from_value(json!({
                    "metadata": {"name": format!("{name}-kubeconfig"), "namespace": SYSTEM_NAMESPACE},
                    "stringData": {"kubeconfig": kubeconfig}
                }))?;
                Api::<Secret>::namespaced(client.clone(), SYSTEM_NAMESPACE)
                    .create(&PostParams::default(), &secret)
                    .await?;
                let cluster: ExternalCluster = serde_json::from_value(json!({
                    "apiVersion": "extcluster.io/v1alpha1", "kind": "ExternalCluster",
                    "metadata": {"name": name,
                                 "annotations": {"extcluster.io/exports": "argocd,flux"}},
                    "spec": {"mode": "Connect", "clusterID": id, "server": server,
                             "kubernetesVersion": "v1.33.0"}
                }))?;
                Api::<ExternalCluster>::all(client)
                    .create(&PostParams::default(), &cluster)
                    .await?;
                Ok(())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(())
}

/// Waits until the controller has made `n` probes in all; returns how long that took.
async fn wait_probes(c: &PinnedController, n: f64, limit: Duration) -> Result<Duration> {
    let started = Instant::now();
    Wait::up_to(limit, format!("{n} probes"))
        .every(Duration::from_millis(200))
        .until(async || (c.probes().await.ok()? >= n).then_some(()))
        .await?;
    Ok(started.elapsed())
}

pub async fn rows(bin: &Path, quick: bool) -> Result<Vec<Row>> {
    let (small, large) = if quick { (200, 1_000) } else { (1_000, 5_000) };
    let window = Duration::from_secs(if quick { 20 } else { INTERVAL_SECS });
    let (hub, ext) = tokio::join!(
        hub::start(),
        ControlPlane::start(Options::default().name("ext"))
    );
    let (hub, ext) = (hub?, ext?);
    hub::install_publishing(&hub);
    for dir in [hub.dir(), ext.dir()] {
        hub_load::pin_to_load_core(dir)?;
    }
    let work = tempfile::tempdir()?;
    seed(&hub, &ext, 0, small).await?;
    let c = PinnedController::start(bin, &hub, work.path())?;
    let round = wait_probes(&c, small as f64, Duration::from_secs(300))
        .await
        .context("the first round")?;
    let mut rows = vec![row(
        &format!("controller: first round, {small} registrations, half dead"),
        format!("{:.1} s", round.as_secs_f64()),
        "<= 60 s (the interval)",
    )];
    // Past the first failures, so the dead ones are backed off as they are in steady state.
    tokio::time::sleep(Duration::from_secs(INTERVAL_SECS / 2)).await;
    rows.push(rss_row(&c, small)?);

    let seeding = Instant::now();
    seed(&hub, &ext, small, large).await?;
    wait_probes(&c, large as f64, Duration::from_secs(300)).await?;
    tokio::time::sleep(Duration::from_secs(INTERVAL_SECS + 10)).await;
    let last_write = settled(&c).await.context("publishing to settle")?;
    rows.push(row(
        &format!(
            "publisher: {} more registrations created to all published and settled",
            large - small
        ),
        format!("{:.0} s", (last_write - seeding).as_secs_f64()),
        "",
    ));
    let (cpu0, probes0, writes0) = (cpu(&c)?, c.probes().await?, writes(&c).await?);
    tokio::time::sleep(window).await;
    let (cpu1, probes1, writes1) = (cpu(&c)?, c.probes().await?, writes(&c).await?);
    let (cpu, probes, minutes) = (cpu1 - cpu0, probes1 - probes0, window.as_secs_f64() / 60.0);
    if probes < 1.0 {
        bail!("no probes in the steady-state window");
    }
    rows.extend([
        row(
            "controller: CPU per probe (steady state, half dead)",
            format!("{:.0} µs", cpu / probes * 1e6),
            "",
        ),
        row(
            "controller: probes per second per core",
            format!("{:.0}", probes / cpu.max(1e-9)),
            "",
        ),
        row(
            &format!("controller: CPU at {large} registrations every 60 s"),
            format!("{:.3} core", cpu / window.as_secs_f64()),
            "<= 0.3 core",
        ),
        row(
            "controller: hub writes / min / 100 unchanged registrations, published",
            format!(
                "{:.2}",
                (writes1 - writes0) / minutes / (large as f64 / 100.0)
            ),
            "<= 1",
        ),
        rss_row(&c, large)?,
    ]);
    rows.push(publish_pass_row(&c, &hub, large).await?);
    Ok(rows)
}

/// The CPU of one publishing pass: a window in which ten registrations change two seconds apart
/// (a pass each: a pass follows a second after the last change), less an equal window without
/// changes, over the passes made.
async fn publish_pass_row(c: &PinnedController, hub: &ControlPlane, n: usize) -> Result<Row> {
    const CHANGES: usize = 10;
    let gap = Duration::from_secs(2);
    let quiet = cpu(c)?;
    tokio::time::sleep(gap * CHANGES as u32).await;
    let baseline = cpu(c)? - quiet;
    let (before, passes_before) = (cpu(c)?, passes(c).await?);
    for i in 0..CHANGES {
        let name = format!("ctl-{:05}", i * 2);
        let label = format!("bench={i}");
        let out = hub.kubectl(&["label", "externalcluster", &name, &label, "--overwrite"]);
        if !out.ok() {
            bail!("kubectl label {name}: {}", out.stderr);
        }
        tokio::time::sleep(gap).await;
    }
    let busy = cpu(c)? - before;
    let made = passes(c).await? - passes_before;
    if made < 1.0 {
        bail!("no publishing pass while registrations changed");
    }
    Ok(row(
        &format!("publisher: CPU per pass at {n} registrations ({made:.0} passes)"),
        format!("{:.0} ms", (busy - baseline).max(0.0) / made * 1e3),
        "",
    ))
}

async fn passes(c: &PinnedController) -> Result<f64> {
    c.metric("extcluster_controller_publish_passes").await
}

/// Waits until the hub writes stop for 40 s, longer than a profile's held status update waits
/// (30 s), so everything is published and every held update made; returns when the last one was
/// seen.
async fn settled(c: &PinnedController) -> Result<Instant> {
    let quiet = Duration::from_secs(40);
    let mut last = (writes(c).await?, Instant::now());
    Wait::up_to(Duration::from_secs(900), "the hub writes to stop")
        .every(Duration::from_secs(1))
        .until(async || {
            let now = writes(c).await.ok()?;
            if now != last.0 {
                last = (now, Instant::now());
            }
            (last.1.elapsed() >= quiet).then_some(())
        })
        .await?;
    Ok(last.1)
}

fn cpu(c: &PinnedController) -> Result<f64> {
    procfs::cpu_seconds(c.pid).context("the controller's CPU time")
}

async fn writes(c: &PinnedController) -> Result<f64> {
    c.metric("extcluster_controller_hub_writes_total").await
}

fn rss_row(c: &PinnedController, registrations: usize) -> Result<Row> {
    let kib = procfs::rss_kib(c.pid).context("the controller's RSS")?;
    Ok(row(
        &format!("controller: RSS at {registrations} registrations"),
        format!("{:.1} MB", kib as f64 / 1024.0),
        "<= 100 MB at 5,000",
    ))
}
