//! The hub under the bench: seeding registrations, counting them, and keeping its processes off
//! the webhook's core (pinned to CPU 1, paused while a measurement runs).

use anyhow::{Result, bail};
use extcluster_tests::ControlPlane;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Creates registrations `bench-{from}` up to (not including) `bench-{to}`, 32 at a time.
pub async fn seed(hub: &ControlPlane, from: usize, to: usize) -> Result<()> {
    use extcluster_core::ExternalCluster;
    use futures_util::StreamExt;
    use kube::api::{Api, PostParams};
    let api: Api<ExternalCluster> = Api::all(hub.client().await?);
    let started = Instant::now();
    let results: Vec<Result<ExternalCluster, kube::Error>> = futures_util::stream::iter(from..to)
        .map(|i| {
            let api = api.clone();
            async move {
                let yaml = extcluster_tests::cluster_yaml(
                    &format!("bench-{i:05}"),
                    &format!("bench-id-{i:05}"),
                    "v1.29.3-eks-adc7111",
                    &[],
                );
                let obj: ExternalCluster =
                    serde_saphyr::from_str(&yaml).expect("the fixture parses");
                api.create(&PostParams::default(), &obj).await
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    if let Some(e) = results.into_iter().find_map(Result::err) {
        bail!("seeding registrations failed: {e}");
    }
    eprintln!(
        "seeded {} registrations in {:.1}s",
        to - from,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// How many ExternalClusters the hub holds.
pub async fn count(hub: &ControlPlane) -> Result<usize> {
    use extcluster_core::ExternalCluster;
    use kube::api::{Api, ListParams};
    let api: Api<ExternalCluster> = Api::all(hub.client().await?);
    let list = api.list_metadata(&ListParams::default()).await?;
    let names: Vec<String> = list
        .items
        .iter()
        .filter_map(|m| m.metadata.name.clone())
        .collect();
    let strays: Vec<&String> = names
        .iter()
        .filter(|n| {
            !n.strip_prefix("bench-")
                .is_some_and(|i| i.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    if !strays.is_empty() {
        eprintln!("registrations beyond the seeded ones: {strays:?}");
    }
    Ok(names.len())
}

/// Moves every process whose command line mentions `marker` (a control plane's folder), or the
/// process `/proc/PID` itself, with all its threads, to CPU 1.
pub fn pin_to_load_core(marker: &Path) -> Result<()> {
    let marker = marker.display().to_string();
    let pids: Vec<String> = match marker.strip_prefix("/proc/") {
        Some(pid) => vec![pid.to_owned()],
        None => processes_mentioning(&marker)?
            .iter()
            .map(i32::to_string)
            .collect(),
    };
    for pid in pids {
        let status = Command::new("taskset")
            .args(["-a", "-p", "-c", "1", &pid])
            .stdout(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            bail!("could not pin process {pid} to CPU 1");
        }
    }
    Ok(())
}

/// The hub's processes, paused for the length of a measurement: on a 2-core machine the hub
/// would otherwise share a core with the load generator, and its wake-ups would show as webhook
/// latency. Windows stay shorter than the webhook's --watch-grace, so its watch stays trusted.
pub struct HubPaused {
    pids: Vec<i32>,
}

impl HubPaused {
    pub fn new(hub: &ControlPlane) -> Result<Self> {
        let pids = processes_mentioning(&hub.dir().display().to_string())?;
        for pid in &pids {
            let pid = nix::unistd::Pid::from_raw(*pid);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP)?;
        }
        Ok(Self { pids })
    }
}

impl Drop for HubPaused {
    fn drop(&mut self) {
        for pid in &self.pids {
            let pid = nix::unistd::Pid::from_raw(*pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
        }
    }
}

/// The control-plane processes (etcd, kube-apiserver, kube-controller-manager) whose command
/// line mentions `marker`, a control plane's folder. Only those: the webhook's command line
/// names the hub's kubeconfig too, and must be left alone.
fn processes_mentioning(marker: &str) -> Result<Vec<i32>> {
    const CONTROL_PLANE: [&str; 3] = ["etcd", "kube-apiserver", "kube-controller-manager"];
    Ok(std::fs::read_dir("/proc")?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<i32>().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline);
            let program = cmdline.split('\0').next()?.rsplit('/').next()?;
            (CONTROL_PLANE.contains(&program) && cmdline.contains(marker)).then_some(pid)
        })
        .collect())
}
