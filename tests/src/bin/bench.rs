//! `make bench`: the webhook and the plugin measured on this machine, printed as a table.
//!
//! The webhook (release build) is pinned to CPU 0; load generators (wrk from Debian, oha from
//! crates.io) run pinned to CPU 1. The registry comes from a real hub's watch.

use anyhow::{Context, Result, bail};
use extcluster_tests::process::Supervised;
use extcluster_tests::webhook::run_certs_command;
use extcluster_tests::{ControlPlane, free_port, http_get, hub, repo_root};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Row {
    what: String,
    value: String,
    target: String,
}

fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let rows = rt.block_on(run(quick))?;
    println!("\n{:<58} {:>18}   target", "measurement", "result");
    println!("{}", "-".repeat(96));
    for r in rows {
        println!("{:<58} {:>18}   {}", r.what, r.value, r.target);
    }
    Ok(())
}

async fn run(quick: bool) -> Result<Vec<Row>> {
    let secs = if quick { 3 } else { 10 };
    let tools = Tools::find()?;
    let bins = release_bins()?;

    let hub = hub::start().await?;
    // CPU 0 is the webhook's alone: the hub, the bench and the load generators use CPU 1.
    pin_to_load_core(hub.dir())?;
    pin_to_load_core(Path::new(&format!("/proc/{}", std::process::id())))?;
    seed(&hub, 0, 10).await?;
    let work = tempfile::tempdir()?;
    run_certs_command(&work.path().join("certs"))?;
    let port = free_port()?;
    let probe = free_port()?;
    let webhook = start_webhook(&bins.webhook, &hub, work.path(), port, probe)?;
    let log = work.path().join("webhook.log");
    let result = measure(&tools, &bins, &hub, port, probe, secs, quick).await;
    if result.is_err() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        eprintln!(
            "webhook log (last lines, newest first):\n{}",
            tail.join("\n")
        );
    }
    drop(webhook);
    result
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    tools: &Tools,
    bins: &Bins,
    hub: &ControlPlane,
    port: u16,
    probe: u16,
    secs: u64,
    quick: bool,
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    wait_registrations(probe, 10).await?;
    let pid = webhook_pid(port)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    rows.push(row(
        "webhook RSS idle, 10 registrations",
        format!("{:.1} MB", rss_mb(pid)?),
        "<= 12 MB",
    ));

    let url = format!("https://127.0.0.1:{port}/validate");
    let fixtures = repo_root().join("webhook/tests/fixtures");
    for (kind, file) in [
        ("create", "create.json"),
        ("update", "update.json"),
        ("delete", "delete-disconnected.json"),
    ] {
        let body = fixtures.join(file);
        let sampler = RssSampler::start(pid);
        let w = {
            let _paused = HubPaused::new(hub)?;
            tools.wrk(&url, &body, secs)?
        };
        let peak = sampler.stop();
        rows.push(row(
            &format!("webhook saturation, {kind} (TLS keep-alive, 1 core)"),
            format!("{:.0} req/s", w.rps),
            ">= 50,000 req/s",
        ));
        rows.push(row(
            &format!("  wrk p50 / p99 at saturation, {kind}"),
            format!("{} / {}", w.p50, w.p99),
            "",
        ));
        if w.errors > 0 {
            rows.push(row(&format!("  errors, {kind}"), w.errors.to_string(), "0"));
        }
        if kind == "create" {
            rows.push(row(
                "webhook RSS peak under load",
                format!("{peak:.1} MB"),
                "<= 25 MB",
            ));
        }
    }
    let body = fixtures.join("create.json");
    let fixed_10 = {
        let _paused = HubPaused::new(hub)?;
        tools.oha_rate(&url, &body, 10_000, secs)?
    };
    rows.push(row(
        "webhook latency at 10,000 req/s, 10 registrations (p50/p99/p99.9)",
        fixed_10.latencies(),
        "p99 <= 1 ms",
    ));
    // The floor this machine allows: the same load on a handler that does nothing (plain HTTP).
    let control = {
        let _paused = HubPaused::new(hub)?;
        tools.oha_plain_rate(&format!("http://127.0.0.1:{probe}/healthz"), 10_000, secs)?
    };
    rows.push(row(
        "  control: empty /healthz, plain HTTP, same load (p50/p99/p99.9)",
        control.latencies(),
        "(the machine's floor)",
    ));
    let (p99, p999) = decision_percentiles(probe).await?;
    rows.push(row(
        "  the webhook's own decision time (its histogram): p99 / p99.9",
        format!("<= {p99} / <= {p999}"),
        "",
    ));
    let hs = {
        let _paused = HubPaused::new(hub)?;
        tools.oha_handshakes(&url, &body, secs.min(5))?
    };
    rows.push(row(
        "full TLS handshakes per second (new connection each)",
        format!("{:.0} /s", hs.rps),
        ">= 5,000 /s",
    ));

    // The plugin, against the same hub with 1,000 registrations.
    seed(hub, 10, 1_000).await?;
    rows.extend(plugin_rows(bins, hub, quick).await?);

    seed(hub, 1_000, 10_000).await?;
    let on_hub = hub_count(hub).await?;
    wait_registrations(probe, on_hub).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    rows.push(row(
        "webhook RSS idle, 10,000 registrations",
        format!("{:.1} MB", rss_mb(pid)?),
        "<= 25 MB",
    ));
    let sampler = RssSampler::start(pid);
    let fixed_10k = {
        let _paused = HubPaused::new(hub)?;
        tools.oha_rate(&url, &body, 10_000, secs)?
    };
    let peak = sampler.stop();
    rows.push(row(
        "webhook latency at 10,000 req/s, 10,000 registrations",
        fixed_10k.latencies(),
        "p99 within 10% of 10 regs",
    ));
    rows.push(row(
        "webhook RSS peak under load, 10,000 registrations",
        format!("{peak:.1} MB"),
        "<= 25 MB",
    ));
    let ratio = fixed_10k.p99 / fixed_10.p99;
    rows.push(row(
        "p99 ratio 10,000 / 10 registrations",
        format!("{ratio:.2}"),
        "<= 1.10",
    ));
    Ok(rows)
}

fn row(what: &str, value: String, target: &str) -> Row {
    Row {
        what: what.to_owned(),
        value,
        target: target.to_owned(),
    }
}

struct Bins {
    webhook: PathBuf,
    plugin: PathBuf,
}

fn release_bins() -> Result<Bins> {
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "extcluster-webhook",
            "-p",
            "kubectl-extcluster",
        ])
        .current_dir(repo_root())
        .status()?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    Ok(Bins {
        webhook: target.join("release/extcluster-webhook"),
        plugin: target.join("release/kubectl-extcluster"),
    })
}

fn start_webhook(
    bin: &Path,
    hub: &ControlPlane,
    dir: &Path,
    port: u16,
    probe: u16,
) -> Result<Supervised> {
    let args: Vec<String> = vec![
        "-c".into(),
        "0".into(),
        bin.display().to_string(),
        format!("--listen=127.0.0.1:{port}"),
        format!("--probe-listen=127.0.0.1:{probe}"),
        format!("--tls-cert-file={}", dir.join("certs/tls.crt").display()),
        format!("--tls-key-file={}", dir.join("certs/tls.key").display()),
        format!("--kubeconfig={}", hub.kubeconfig().display()),
        "--log-format=json".into(),
    ];
    Supervised::spawn(
        "extcluster-webhook",
        Path::new("/usr/bin/taskset"),
        &args,
        &dir.join("webhook.log"),
    )
}

/// The webhook's pid: the process whose command line has `--listen=127.0.0.1:{port}`.
fn webhook_pid(port: u16) -> Result<u32> {
    let flag = format!("--listen=127.0.0.1:{port}");
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let mut args = cmdline.split(|b| *b == 0).map(String::from_utf8_lossy);
        let is_webhook = args
            .next()
            .is_some_and(|a| a.ends_with("extcluster-webhook"));
        if is_webhook && args.any(|a| a == flag) {
            return Ok(pid);
        }
    }
    bail!("no extcluster-webhook process listens on {port}")
}

fn rss_mb(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")?;
    Ok(kb / 1024.0)
}

struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<f64>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut peak = 0.0f64;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_mb(pid).unwrap_or(0.0));
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        });
        Self { stop, handle }
    }

    fn stop(self) -> f64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.join().unwrap_or(0.0)
    }
}

async fn seed(hub: &ControlPlane, from: usize, to: usize) -> Result<()> {
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

async fn wait_registrations(probe: u16, n: usize) -> Result<()> {
    let mut last = String::new();
    for _ in 0..1200 {
        if let Ok((_, body)) = http_get(probe, "/metrics").await {
            if let Some(line) = body
                .lines()
                .find(|l| l.starts_with("extcluster_webhook_registrations "))
            {
                last = line.to_owned();
            }
            if last == format!("extcluster_webhook_registrations {n}") {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the webhook never indexed {n} registrations (last: {last:?})")
}

struct Tools {
    wrk: PathBuf,
    oha: PathBuf,
}

struct WrkResult {
    rps: f64,
    p50: String,
    p99: String,
    errors: u64,
}

struct OhaResult {
    rps: f64,
    p50: f64,
    p99: f64,
    p999: f64,
}

impl OhaResult {
    fn latencies(&self) -> String {
        format!(
            "{:.2}/{:.2}/{:.2} ms",
            self.p50 * 1e3,
            self.p99 * 1e3,
            self.p999 * 1e3
        )
    }
}

impl Tools {
    fn find() -> Result<Self> {
        let wrk = which("wrk").context(
            "wrk is not installed (apt-get install wrk); run `make bench`, which installs it",
        )?;
        let cached = extcluster_tests::bins::tools_dir().join("bin/oha");
        let oha = which("oha")
            .or_else(|| cached.exists().then_some(cached))
            .context("oha is not installed; run `make bench`, which installs it")?;
        Ok(Self { wrk, oha })
    }

    fn wrk(&self, url: &str, body: &Path, secs: u64) -> Result<WrkResult> {
        let out = Command::new("taskset")
            .args(["-c", "1"])
            .arg(&self.wrk)
            .args(["-t1", "-c32", &format!("-d{secs}s"), "--latency", "-s"])
            .arg(repo_root().join("bench/post.lua"))
            .arg(url)
            .env("BODY_FILE", body)
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let field = |prefix: &str| -> Option<String> {
            text.lines()
                .find(|l| l.trim_start().starts_with(prefix))
                .and_then(|l| l.split_whitespace().nth(1))
                .map(str::to_owned)
        };
        let rps = field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("wrk said:\n{text}"))?;
        let non_2xx: u64 = text
            .lines()
            .find(|l| l.contains("Non-2xx"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let socket: u64 = text
            .lines()
            .find(|l| l.contains("Socket errors"))
            .map(|l| {
                l.split(|c: char| !c.is_ascii_digit())
                    .filter_map(|n| n.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0);
        Ok(WrkResult {
            rps,
            p50: field("50%").unwrap_or_default(),
            p99: field("99%").unwrap_or_default(),
            errors: non_2xx + socket,
        })
    }

    fn oha(&self, args: &[String]) -> Result<OhaResult> {
        let out = Command::new("taskset")
            .args(["-c", "1"])
            .arg(&self.oha)
            .args(args)
            .output()?;
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("oha said: {}", String::from_utf8_lossy(&out.stderr)))?;
        let pct = |k: &str| json["latencyPercentiles"][k].as_f64().unwrap_or(f64::NAN);
        let ok = json["statusCodeDistribution"]["200"].as_u64().unwrap_or(0);
        let total: u64 = json["statusCodeDistribution"]
            .as_object()
            .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
            .unwrap_or(0);
        // Requests cut off when the -z window closes are not failures of the server.
        let errors: u64 = json["errorDistribution"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !k.contains("deadline"))
                    .filter_map(|(_, v)| v.as_u64())
                    .sum()
            })
            .unwrap_or(0);
        if ok == 0 || ok != total || errors > 0 {
            bail!(
                "oha saw failures: {} {}",
                json["statusCodeDistribution"],
                json["errorDistribution"]
            );
        }
        Ok(OhaResult {
            rps: json["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
            p50: pct("p50"),
            p99: pct("p99"),
            p999: pct("p99.9"),
        })
    }

    fn common(url: &str, body: &Path, secs: u64) -> Vec<String> {
        vec![
            "--no-tui".into(),
            "--output-format".into(),
            "json".into(),
            "--insecure".into(),
            "-m".into(),
            "POST".into(),
            "-T".into(),
            "application/json".into(),
            "-D".into(),
            body.display().to_string(),
            "-z".into(),
            format!("{secs}s"),
            url.to_owned(),
        ]
    }

    fn oha_rate(&self, url: &str, body: &Path, rate: u32, secs: u64) -> Result<OhaResult> {
        let mut args = vec![
            "-c".into(),
            "16".into(),
            "-q".into(),
            rate.to_string(),
            "--latency-correction".into(),
        ];
        args.extend(Self::common(url, body, secs));
        self.oha(&args)
    }

    fn oha_plain_rate(&self, url: &str, rate: u32, secs: u64) -> Result<OhaResult> {
        let args: Vec<String> = vec![
            "-c".into(),
            "16".into(),
            "-q".into(),
            rate.to_string(),
            "--latency-correction".into(),
            "--no-tui".into(),
            "--output-format".into(),
            "json".into(),
            "-z".into(),
            format!("{secs}s"),
            url.to_owned(),
        ];
        self.oha(&args)
    }

    fn oha_handshakes(&self, url: &str, body: &Path, secs: u64) -> Result<OhaResult> {
        let mut args = vec!["-c".into(), "32".into(), "--disable-keepalive".into()];
        args.extend(Self::common(url, body, secs));
        self.oha(&args)
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

/// Cold start, `list` beside `kubectl get`, `register` end to end, API calls per command.
async fn plugin_rows(bins: &Bins, hub: &ControlPlane, quick: bool) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let runs = if quick { 20 } else { 100 };
    for args in [&["--help"][..], &["version"][..]] {
        let (mean, rss) = timed(&bins.plugin, args, runs)?;
        rows.push(row(
            &format!("plugin `{}`: wall time / max RSS", args.join(" ")),
            format!("{:.2} ms / {rss:.1} MB", mean * 1e3),
            "<= 5 ms, <= 10 MB",
        ));
    }

    let kubeconfig = hub.kubeconfig().display().to_string();
    let runs = if quick { 3 } else { 10 };
    let list_args = ["list", "--kubeconfig", &kubeconfig];
    let (plugin_list, _) = timed(&bins.plugin, &list_args, runs)?;
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
    timed(Path::new("kubectl"), &get_args, 1)?;
    let (kubectl_get, _) = timed(Path::new("kubectl"), &get_args, runs)?;
    rows.push(row(
        "list 1,000 registrations: plugin / kubectl get",
        format!("{:.0} / {:.0} ms", plugin_list * 1e3, kubectl_get * 1e3),
        "plugin <= 0.5x kubectl",
    ));
    rows.push(row(
        "  ratio plugin / kubectl",
        format!("{:.2}", plugin_list / kubectl_get),
        "<= 0.50",
    ));

    let client = hub.client().await?;
    let calls = |before: f64, after: f64| format!("{}", after - before);
    let before = request_count(&client).await?;
    timed(&bins.plugin, &list_args, 1)?;
    let after = request_count(&client).await?;
    rows.push(row(
        "hub API calls made by `list`",
        calls(before, after),
        "1 (no discovery)",
    ));
    let before = request_count(&client).await?;
    timed(Path::new("kubectl"), &get_args, 1)?;
    let after = request_count(&client).await?;
    rows.push(row(
        "hub API calls made by `kubectl get` (cache warm)",
        calls(before, after),
        "",
    ));

    let external = ControlPlane::start(
        extcluster_tests::Options::default()
            .name("bench-ext")
            .version("v1.29.3-eks-adc7111"),
    )
    .await?;
    pin_to_load_core(external.dir())?;
    let ext = external.kubeconfig().display().to_string();
    let (mut total, mut register_calls) = (0.0, 0.0);
    let n = if quick { 3 } else { 10 };
    for i in 0..n {
        let name = format!("bench-register-{i}");
        let before = request_count(&client).await?;
        let import = [
            "import",
            &name,
            "--from-kubeconfig",
            &ext,
            "--kubeconfig",
            &kubeconfig,
        ];
        let (t, _) = timed(&bins.plugin, &import, 1)?;
        let after = request_count(&client).await?;
        total += t;
        register_calls += after - before;
        timed(
            &bins.plugin,
            &["disconnect", &name, "--yes", "--kubeconfig", &kubeconfig],
            1,
        )?;
    }
    rows.push(row(
        "plugin `register` end to end on loopback (mean)",
        format!("{:.0} ms", total / n as f64 * 1e3),
        "<= 300 ms",
    ));
    rows.push(row(
        "  hub API calls per `register`",
        format!("{:.0}", register_calls / n as f64),
        "",
    ));
    Ok(rows)
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

/// How many ExternalClusters the hub holds.
async fn hub_count(hub: &ControlPlane) -> Result<usize> {
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
        .filter(|n| !n.starts_with("bench-0") && !n.starts_with("bench-1"))
        .collect();
    if !strays.is_empty() {
        eprintln!("registrations beyond the seeded ones: {strays:?}");
    }
    Ok(names.len())
}

/// Moves every process whose command line mentions `marker` (a control plane's folder), or the
/// process `/proc/PID` itself, with all its threads, to CPU 1.
fn pin_to_load_core(marker: &Path) -> Result<()> {
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
struct HubPaused {
    pids: Vec<i32>,
}

impl HubPaused {
    fn new(hub: &ControlPlane) -> Result<Self> {
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

/// The bucket bounds under which 99% and 99.9% of the webhook's decisions fell, from its own
/// latency histogram (decode, decide, encode: no network, no TLS).
async fn decision_percentiles(probe: u16) -> Result<(String, String)> {
    let (_, text) = http_get(probe, "/metrics").await?;
    let buckets: Vec<(String, f64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("extcluster_webhook_request_duration_seconds_bucket{le=\""))
        .filter_map(|l| {
            let (le, rest) = l.split_once("\"}")?;
            Some((le.to_owned(), rest.trim().parse().ok()?))
        })
        .collect();
    let total = buckets
        .last()
        .map(|(_, n)| *n)
        .context("no latency histogram")?;
    let bound = |q: f64| {
        buckets
            .iter()
            .find(|(_, n)| *n >= q * total)
            .map(|(le, _)| match le.parse::<f64>() {
                Ok(s) => format!("{:.0} µs", s * 1e6),
                Err(_) => le.clone(),
            })
            .unwrap_or_default()
    };
    Ok((bound(0.99), bound(0.999)))
}
