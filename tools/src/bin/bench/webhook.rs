//! The release webhook under measurement, pinned to CPU 0: starting it, its memory, its own
//! metrics, and the rows measured against it.

use crate::hub_load::HubPaused;
use crate::load_generators::OhaResult;
use crate::{Bench, Row, row};
use anyhow::{Context, Result};
use extcluster_tests::launch::Launch;
use extcluster_tests::process::Supervised;
use extcluster_tests::webhook::run_certs_command;
use extcluster_tests::{ControlPlane, Wait, free_port, http_get, procfs, repo_root};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub struct PinnedWebhook {
    pub port: u16,
    pub probe: u16,
    log: PathBuf,
    _process: Supervised,
}

impl PinnedWebhook {
    /// Starts `bin` on CPU 0 against `hub`, with a serving certificate made in `dir` by
    /// `extcluster-webhook certs`.
    pub fn start(bin: &Path, hub: &ControlPlane, dir: &Path) -> Result<Self> {
        let certs = dir.join("certs");
        run_certs_command(&Launch::Built, &certs)?;
        // Picked, not bound by the OS: the webhook does not report the port it bound, and the
        // bench runs alone, so nothing takes the port in between.
        let (port, probe) = (free_port()?, free_port()?);
        let args = [
            format!("--listen=127.0.0.1:{port}"),
            format!("--probe-listen=127.0.0.1:{probe}"),
            format!("--tls-cert-file={}", certs.join("tls.crt").display()),
            format!("--tls-key-file={}", certs.join("tls.key").display()),
            format!("--kubeconfig={}", hub.kubeconfig().display()),
            "--log-format=json".into(),
        ];
        let log = dir.join("webhook.log");
        let process = crate::spawn_on_measured_core(bin, &args, &log)?;
        Ok(Self {
            port,
            probe,
            log,
            _process: process,
        })
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/validate", self.port)
    }

    /// The webhook's own pid (taskset execs it, so its program name is the webhook's).
    pub fn pid(&self) -> Result<i32> {
        let flag = format!("--listen=127.0.0.1:{}", self.port);
        procfs::pid_of("extcluster-webhook", &flag)
            .with_context(|| format!("no extcluster-webhook process listens on {}", self.port))
    }

    /// The last `n` lines of its log, newest first.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(n).collect();
        tail.join("\n")
    }

    /// Waits until the webhook's index holds `n` registrations (seeding 10,000 takes a while).
    pub async fn wait_registrations(&self, n: usize) -> Result<()> {
        let want = format!("extcluster_webhook_registrations {n}");
        let mut last = String::new();
        Wait::up_to(
            Duration::from_secs(60),
            format!("the webhook to index {n} registrations"),
        )
        .until(async || {
            let (_, body) = http_get(self.probe, "/metrics").await.ok()?;
            if let Some(line) = body
                .lines()
                .find(|l| l.starts_with("extcluster_webhook_registrations "))
            {
                line.clone_into(&mut last);
            }
            (last == want).then_some(())
        })
        .await
        .with_context(|| format!("last: {last:?}"))
    }

    /// The bucket bounds under which 99% and 99.9% of the webhook's decisions fell, from its own
    /// latency histogram (decode, decide, encode: no network, no TLS).
    async fn decision_percentiles(&self) -> Result<(String, String)> {
        let (_, text) = http_get(self.probe, "/metrics").await?;
        let buckets: Vec<(String, f64)> = text
            .lines()
            .filter_map(|l| {
                l.strip_prefix("extcluster_webhook_request_duration_seconds_bucket{le=\"")
            })
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
}

fn fixture(file: &str) -> PathBuf {
    repo_root().join("webhook/tests/fixtures").join(file)
}

/// Resident memory once the webhook has settled after indexing.
pub async fn idle_rss(bench: &Bench, registrations: &str, target: &str) -> Result<Row> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(row(
        &format!("webhook RSS idle, {registrations}"),
        format!("{:.1} MB", rss_mb(bench.webhook.pid()?)?),
        target,
    ))
}

/// Requests per second at saturation (wrk, keep-alive) for each kind of review.
pub fn saturation(bench: &Bench) -> Result<Vec<Row>> {
    let (pid, url) = (bench.webhook.pid()?, bench.webhook.url());
    let mut rows = Vec::new();
    for (kind, file) in [
        ("create", "create.json"),
        ("update", "update.json"),
        ("delete", "delete-disconnected.json"),
    ] {
        let sampler = RssSampler::start(pid);
        let w = {
            let _paused = HubPaused::new(&bench.hub)?;
            bench.tools.wrk(&url, &fixture(file), bench.secs)?
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
    Ok(rows)
}

/// Latency at 10,000 reviews/s with 10 registrations, the machine's floor beside it, and the
/// webhook's own decision time; also returns that p99 for the comparison at 10,000 registrations.
pub async fn latency_at_fixed_rate(bench: &Bench) -> Result<(Vec<Row>, f64)> {
    let fixed_10 = creates_at_ten_thousand_per_second(bench)?;
    // The floor this machine allows: the same load on a handler that does nothing (plain HTTP).
    let control = {
        let _paused = HubPaused::new(&bench.hub)?;
        let healthz = format!("http://127.0.0.1:{}/healthz", bench.webhook.probe);
        bench.tools.oha_plain_rate(&healthz, 10_000, bench.secs)?
    };
    let (p99, p999) = bench.webhook.decision_percentiles().await?;
    let rows = vec![
        row(
            "webhook latency at 10,000 req/s, 10 registrations (p50/p99/p99.9)",
            fixed_10.latencies(),
            "p99 <= 1 ms",
        ),
        row(
            "  control: empty /healthz, plain HTTP, same load (p50/p99/p99.9)",
            control.latencies(),
            "(the machine's floor)",
        ),
        row(
            "  the webhook's own decision time (its histogram): p99 / p99.9",
            format!("<= {p99} / <= {p999}"),
            "",
        ),
    ];
    Ok((rows, fixed_10.p99))
}

/// Create reviews at a fixed 10,000 per second (oha), the hub paused meanwhile.
fn creates_at_ten_thousand_per_second(bench: &Bench) -> Result<OhaResult> {
    let _paused = HubPaused::new(&bench.hub)?;
    let url = bench.webhook.url();
    bench
        .tools
        .oha_rate(&url, &fixture("create.json"), 10_000, bench.secs)
}

/// Full TLS handshakes per second: a new connection for every review.
pub fn handshakes(bench: &Bench) -> Result<Row> {
    let hs = {
        let _paused = HubPaused::new(&bench.hub)?;
        let url = bench.webhook.url();
        bench
            .tools
            .oha_handshakes(&url, &fixture("create.json"), bench.secs.min(5))?
    };
    Ok(row(
        "full TLS handshakes per second (new connection each)",
        format!("{:.0} /s", hs.rps),
        ">= 5,000 /s",
    ))
}

/// Latency and memory at 10,000 registrations, and the p99 against `p99_at_10` registrations.
pub fn at_ten_thousand_registrations(bench: &Bench, p99_at_10: f64) -> Result<Vec<Row>> {
    let sampler = RssSampler::start(bench.webhook.pid()?);
    let fixed_10k = creates_at_ten_thousand_per_second(bench)?;
    let peak = sampler.stop();
    Ok(vec![
        row(
            "webhook latency at 10,000 req/s, 10,000 registrations",
            fixed_10k.latencies(),
            "p99 within 10% of 10 regs",
        ),
        row(
            "webhook RSS peak under load, 10,000 registrations",
            format!("{peak:.1} MB"),
            "<= 25 MB",
        ),
        row(
            "p99 ratio 10,000 / 10 registrations",
            format!("{:.2}", fixed_10k.p99 / p99_at_10),
            "<= 1.10",
        ),
    ])
}

fn rss_mb(pid: i32) -> Result<f64> {
    let kib = procfs::rss_kib(pid).with_context(|| format!("no VmRSS for pid {pid}"))?;
    Ok(kib as f64 / 1024.0)
}

/// The peak resident memory of a process, sampled every 100 ms on a thread of its own.
struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<f64>,
}

impl RssSampler {
    fn start(pid: i32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut peak = 0.0f64;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(rss_mb(pid).unwrap_or(0.0));
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        });
        Self { stop, handle }
    }

    fn stop(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(0.0)
    }
}
