//! The plugin measured: cold start, `list` beside `kubectl get`, `register` end to end, and the
//! hub API calls each command makes.

use crate::{Bench, Row, hub_load, row};
use anyhow::{Result, bail};
use extcluster_tests::{ControlPlane, Options};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

pub async fn rows(bench: &Bench) -> Result<Vec<Row>> {
    let mut rows = cold_start(bench)?;
    let kubeconfig = bench.hub.kubeconfig().display().to_string();
    let list_args = ["list", "--kubeconfig", &kubeconfig];
    // kubectl as users run it: with its discovery cache warm (one run first fills it).
    let cache = tempfile::tempdir()?;
    let cache_dir = format!("--cache-dir={}", cache.path().display());
    let get_args = [
        "get",
        "externalclusters",
        "--kubeconfig",
        &kubeconfig,
        &cache_dir,
    ];
    rows.extend(list_beside_kubectl(bench, &list_args, &get_args)?);
    rows.extend(api_calls(bench, &list_args, &get_args).await?);
    rows.extend(register(bench, &kubeconfig).await?);
    Ok(rows)
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

fn list_beside_kubectl(bench: &Bench, list_args: &[&str], get_args: &[&str]) -> Result<Vec<Row>> {
    let runs = if bench.quick { 3 } else { 10 };
    let (plugin_list, _) = timed(&bench.bins.plugin, list_args, runs)?;
    timed(Path::new("kubectl"), get_args, 1)?;
    let (kubectl_get, _) = timed(Path::new("kubectl"), get_args, runs)?;
    Ok(vec![
        row(
            "list 1,000 registrations: plugin / kubectl get",
            format!("{:.0} / {:.0} ms", plugin_list * 1e3, kubectl_get * 1e3),
            "plugin <= 0.5x kubectl",
        ),
        row(
            "  ratio plugin / kubectl",
            format!("{:.2}", plugin_list / kubectl_get),
            "<= 0.50",
        ),
    ])
}

async fn api_calls(bench: &Bench, list_args: &[&str], get_args: &[&str]) -> Result<Vec<Row>> {
    let client = bench.hub.client().await?;
    let before = request_count(&client).await?;
    timed(&bench.bins.plugin, list_args, 1)?;
    let by_list = request_count(&client).await? - before;
    let before = request_count(&client).await?;
    timed(Path::new("kubectl"), get_args, 1)?;
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

/// `import` of a real external cluster and `disconnect` again, `n` times.
async fn register(bench: &Bench, kubeconfig: &str) -> Result<Vec<Row>> {
    let external = ControlPlane::start(
        Options::default()
            .name("bench-ext")
            .version("v1.29.3-eks-adc7111"),
    )
    .await?;
    hub_load::pin_to_load_core(external.dir())?;
    let client = bench.hub.client().await?;
    let ext = external.kubeconfig().display().to_string();
    let plugin = &bench.bins.plugin;
    let (mut total, mut calls) = (0.0, 0.0);
    let n = if bench.quick { 3 } else { 10 };
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
        let (t, _) = timed(plugin, &import, 1)?;
        calls += request_count(&client).await? - before;
        total += t;
        let disconnect = ["disconnect", &name, "--yes", "--kubeconfig", kubeconfig];
        timed(plugin, &disconnect, 1)?;
    }
    Ok(vec![
        row(
            "plugin `register` end to end on loopback (mean)",
            format!("{:.0} ms", total / n as f64 * 1e3),
            "<= 300 ms",
        ),
        row(
            "  hub API calls per `register`",
            format!("{:.0}", calls / n as f64),
            "",
        ),
    ])
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
