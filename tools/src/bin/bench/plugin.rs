//! The plugin measured: cold start, `list` beside `kubectl get`, `register` end to end, and the
//! hub API calls each command makes.

use crate::{Bench, Row, hub_load, ratio, row};
use anyhow::{Result, bail};
use extcluster_core::api::SYSTEM_NAMESPACE;
use extcluster_tests::{ControlPlane, Options};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

pub async fn rows(bench: &Bench) -> Result<Vec<Row>> {
    let mut rows = cold_start(bench)?;
    rows.extend(list_beside_kubectl(bench, "1,000", 0.5)?);
    rows.extend(api_calls(bench).await?);
    let kubeconfig = bench.hub.kubeconfig().display().to_string();
    rows.extend(register_and_describe(bench, &kubeconfig).await?);
    Ok(rows)
}

/// kubectl as users run it: with a discovery cache (warm after its first run).
struct Kubectl {
    kubeconfig: String,
    cache_dir: String,
}

impl Kubectl {
    fn new(kubeconfig: &str, cache: &Path) -> Self {
        Self {
            kubeconfig: format!("--kubeconfig={kubeconfig}"),
            cache_dir: format!("--cache-dir={}", cache.display()),
        }
    }

    fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = args.to_vec();
        all.extend([self.kubeconfig.as_str(), self.cache_dir.as_str()]);
        all
    }

    /// Wall time of one run; fails when kubectl does.
    fn run(&self, args: &[&str]) -> Result<f64> {
        Ok(timed(Path::new("kubectl"), &self.args(args), 1)?.0)
    }
}

/// Wall time and memory of commands that do not reach a cluster.
fn cold_start(bench: &Bench) -> Result<Vec<Row>> {
    let runs = if bench.quick { 20 } else { 100 };
    let mut rows = Vec::new();
    for args in [&["--help"][..], &["version"][..]] {
        let (mean, rss) = timed(&bench.bins.plugin, args, runs)?;
        rows.push(row(
            &format!("plugin `{}`: wall time / max RSS", args.join(" ")),
            format!("{:.2} ms / {rss:.1} MB", mean * 1e3),
            "<= 5 ms, <= 10 MB",
        ));
    }
    Ok(rows)
}

/// `list` beside `kubectl get externalclusters` with `count` registrations on the hub.
pub fn list_beside_kubectl(bench: &Bench, count: &str, target: f64) -> Result<Vec<Row>> {
    let runs = if bench.quick { 3 } else { 10 };
    let kubeconfig = bench.hub.kubeconfig().display().to_string();
    let cache = tempfile::tempdir()?;
    let kubectl = Kubectl::new(&kubeconfig, cache.path());
    let get = kubectl.args(&["get", "externalclusters"]);
    let (plugin_list, _) = timed(
        &bench.bins.plugin,
        &["list", "--kubeconfig", &kubeconfig],
        runs,
    )?;
    timed(Path::new("kubectl"), &get, 1)?;
    let (kubectl_get, _) = timed(Path::new("kubectl"), &get, runs)?;
    Ok(vec![
        row(
            &format!("list {count} registrations: plugin / kubectl get"),
            format!("{:.0} / {:.0} ms", plugin_list * 1e3, kubectl_get * 1e3),
            "",
        ),
        row(
            &format!("  list ÷ kubectl get, {count}"),
            ratio(plugin_list, kubectl_get, |r| r <= target),
            &format!("<= {target:.2}×"),
        ),
    ])
}

/// The hub API calls `list` makes, and `kubectl get` with its discovery cache warm.
async fn api_calls(bench: &Bench) -> Result<Vec<Row>> {
    let kubeconfig = bench.hub.kubeconfig().display().to_string();
    let cache = tempfile::tempdir()?;
    let kubectl = Kubectl::new(&kubeconfig, cache.path());
    kubectl.run(&["get", "externalclusters"])?;
    let client = bench.hub.client().await?;
    let before = request_count(&client).await?;
    timed(
        &bench.bins.plugin,
        &["list", "--kubeconfig", &kubeconfig],
        1,
    )?;
    let by_list = request_count(&client).await? - before;
    let before = request_count(&client).await?;
    kubectl.run(&["get", "externalclusters"])?;
    let by_kubectl = request_count(&client).await? - before;
    Ok(vec![
        row(
            "hub API calls made by `list`",
            by_list.to_string(),
            "1 (no discovery)",
        ),
        row(
            "hub API calls made by `kubectl get` (cache warm)",
            by_kubectl.to_string(),
            "",
        ),
    ])
}

/// `import` and `describe` of a real external cluster, `n` times each, beside the kubectl calls a
/// user would make for the same (`register_by_hand`, `describe_by_hand`).
async fn register_and_describe(bench: &Bench, kubeconfig: &str) -> Result<Vec<Row>> {
    let external = ControlPlane::start(
        Options::default()
            .name("bench-ext")
            .version("v1.29.3-eks-adc7111"),
    )
    .await?;
    hub_load::pin_to_load_core(external.dir())?;
    let client = bench.hub.client().await?;
    let ext = external.kubeconfig().display().to_string();
    let cache = tempfile::tempdir()?;
    let (hub_kubectl, ext_kubectl) = (
        Kubectl::new(kubeconfig, cache.path()),
        Kubectl::new(&ext, cache.path()),
    );
    let plugin = &bench.bins.plugin;
    let n = if bench.quick { 3 } else { 10 };
    let (mut register, mut describe, mut calls) = (0.0, 0.0, 0.0);
    let (mut register_kubectl, mut describe_kubectl) = (0.0, 0.0);
    // Warm kubectl's discovery cache for both servers.
    hub_kubectl.run(&["get", "externalclusters"])?;
    ext_kubectl.run(&["get", "nodes"])?;
    for i in 0..n {
        let name = format!("bench-register-{i}");
        let before = request_count(&client).await?;
        let import = [
            "import",
            &name,
            "--from-kubeconfig",
            &ext,
            "--kubeconfig",
            kubeconfig,
        ];
        register += timed(plugin, &import, 1)?.0;
        calls += request_count(&client).await? - before;
        describe += timed(plugin, &["describe", &name, "--kubeconfig", kubeconfig], 1)?.0;
        describe_kubectl += describe_by_hand(&hub_kubectl, &ext_kubectl, &name)?;
        timed(
            plugin,
            &["disconnect", &name, "--yes", "--kubeconfig", kubeconfig],
            1,
        )?;
        let by_hand = format!("bench-by-hand-{i}");
        register_kubectl += register_by_hand(&hub_kubectl, &ext_kubectl, &ext, &by_hand)?;
        delete_by_hand(&hub_kubectl, &by_hand)?;
    }
    let n = n as f64;
    let mut rows = vec![
        row(
            "plugin `register` end to end on loopback (mean)",
            format!("{:.0} ms", register / n * 1e3),
            "<= 300 ms",
        ),
        row(
            "  hub API calls per `register`",
            format!("{:.0}", calls / n),
            "",
        ),
    ];
    rows.extend(beside_by_hand(
        "register",
        register / n,
        register_kubectl / n,
        "4 kubectl calls to the cluster, 2 to the hub",
    ));
    rows.push(row(
        "plugin `describe` (mean)",
        format!("{:.0} ms", describe / n * 1e3),
        "",
    ));
    rows.extend(beside_by_hand(
        "describe",
        describe / n,
        describe_kubectl / n,
        "2 kubectl calls to the hub, 4 to the cluster",
    ));
    Ok(rows)
}

/// A command's mean time beside the kubectl calls that do the same by hand, and the ratio.
fn beside_by_hand(command: &str, ours: f64, by_hand: f64, calls: &str) -> Vec<Row> {
    vec![
        row(
            &format!("  the same by hand: {calls}"),
            format!("{:.0} ms", by_hand * 1e3),
            "",
        ),
        row(
            &format!("{command} ÷ kubectl by hand"),
            ratio(ours, by_hand, |r| r <= 0.5),
            "<= 0.50×",
        ),
    ]
}

/// What `import` does, by hand: the cluster's identity, version, rights and nodes, then the
/// kubeconfig Secret and the registration on the hub. Returns the wall time of the calls.
fn register_by_hand(hub: &Kubectl, ext: &Kubectl, ext_path: &str, name: &str) -> Result<f64> {
    let mut t = identity_and_version(ext)?;
    t += ext.run(&["auth", "can-i", "*", "*", "--all-namespaces"])?;
    t += ext.run(&["get", "nodes", "-o", "name"])?;
    let from_file = format!("--from-file=kubeconfig={ext_path}");
    let secret = [
        "create",
        "secret",
        "generic",
        &format!("{name}-kubeconfig"),
        "-n",
        SYSTEM_NAMESPACE,
        &from_file,
    ];
    t += hub.run(&secret)?;
    let manifest = tempfile::NamedTempFile::new()?;
    let yaml =
        extcluster_tests::cluster_yaml(name, &format!("{name}-id"), "v1.29.3-eks-adc7111", &[]);
    std::fs::write(manifest.path(), yaml)?;
    t += hub.run(&["create", "-f", &manifest.path().display().to_string()])?;
    Ok(t)
}

/// What `describe` shows, by hand: the registration and its Secret from the hub, then the
/// cluster's version, identity, nodes and warning events.
fn describe_by_hand(hub: &Kubectl, ext: &Kubectl, name: &str) -> Result<f64> {
    let mut t = hub.run(&["get", "externalcluster", name, "-o", "yaml"])?;
    let secret = format!("{name}-kubeconfig");
    t += hub.run(&[
        "get",
        "secret",
        &secret,
        "-n",
        SYSTEM_NAMESPACE,
        "-o",
        "jsonpath={.data.kubeconfig}",
    ])?;
    t += identity_and_version(ext)?;
    t += ext.run(&["get", "nodes", "-o", "wide"])?;
    t += ext.run(&["get", "events", "-A", "--field-selector", "type=Warning"])?;
    Ok(t)
}

/// The cluster's identity (the kube-system UID) and version, as both sequences ask for them.
fn identity_and_version(ext: &Kubectl) -> Result<f64> {
    let uid = [
        "get",
        "namespace",
        "kube-system",
        "-o",
        "jsonpath={.metadata.uid}",
    ];
    Ok(ext.run(&uid)? + ext.run(&["version", "-o", "json"])?)
}

/// Removes what `register_by_hand` made.
fn delete_by_hand(hub: &Kubectl, name: &str) -> Result<()> {
    hub.run(&["delete", "externalcluster", name])?;
    let secret = format!("{name}-kubeconfig");
    hub.run(&["delete", "secret", "-n", SYSTEM_NAMESPACE, &secret])?;
    Ok(())
}

/// Mean wall time (s) of `runs` runs, and the largest max RSS (MB), measured by GNU time.
fn timed(program: &Path, args: &[&str], runs: usize) -> Result<(f64, f64)> {
    let mut total = 0.0;
    let mut rss: f64 = 0.0;
    for _ in 0..runs {
        let started = Instant::now();
        let out = Command::new("/usr/bin/time")
            .args(["-f", "%M"])
            .arg(program)
            .args(args)
            .stdout(std::process::Stdio::null())
            .output()?;
        total += started.elapsed().as_secs_f64();
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            bail!("{} {} failed: {err}", program.display(), args.join(" "));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let kb: f64 = stderr
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0.0);
        rss = rss.max(kb / 1024.0);
    }
    Ok((total / runs as f64, rss))
}

/// Requests the hub's API server has served, from its own metrics (which do not count the
/// scrapes of /metrics themselves).
async fn request_count(client: &kube::Client) -> Result<f64> {
    let req = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(req).await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}
