//! The release webhook under measurement, pinned to CPU 0: starting it, its memory, its own
//! metrics, and the rows measured against it.

use crate::controls::Control;
use crate::hub_load::HubPaused;
use crate::load_generators::{OhaResult, WrkResult};
use crate::reference::{PinnedReference, RELEASE};
use crate::{Bench, Row, ratio, row};
use anyhow::{Context, Result};
use extcluster_tests::launch::Launch;
use extcluster_tests::process::Supervised;
use extcluster_tests::webhook::run_certs_command;
use extcluster_tests::{ControlPlane, Wait, free_port, http_get, procfs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub struct PinnedWebhook {
    pub port: u16,
    pub probe: u16,
    /// Its serving certificate (`tls.crt`, `tls.key`), which the controls serve too.
    pub certs: PathBuf,
    /// Where its log and the controls' logs go.
    pub dir: PathBuf,
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
            certs,
            dir: dir.to_owned(),
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
            Duration::from_secs(60 + n as u64 / 500),
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

    /// Resident memory once it has settled, in MB.
    async fn idle_mb(&self) -> Result<f64> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_mb(self.pid()?)
    }

    /// Waits until `/readyz` answers 200: the initial list of the registry is in.
    pub async fn wait_ready(&self) -> Result<()> {
        Wait::up_to(Duration::from_secs(600), "the webhook to be ready")
            .every(Duration::from_millis(20))
            .until(async || {
                let (code, _) = http_get(self.probe, "/readyz").await.ok()?;
                (code == 200).then_some(())
            })
            .await
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

/// Resident memory once the webhook has settled after indexing, as a row and in MB.
pub async fn idle_rss(bench: &Bench, registrations: &str, target: &str) -> Result<(Row, f64)> {
    let mb = bench.webhook.idle_mb().await?;
    let row = row(
        &format!("webhook RSS idle, {registrations}"),
        format!("{mb:.1} MB"),
        target,
    );
    Ok((row, mb))
}

/// Requests per second at saturation (wrk, keep-alive) for each kind of review: the webhook,
/// kube-rs's admission example and the kube-core control, measured in turn, [`Bench::rounds`] each,
/// the median counting, so that the machine's drift falls on all three alike.
pub async fn saturation(bench: &Bench) -> Result<Vec<Row>> {
    let (pid, url) = (bench.webhook.pid()?, bench.webhook.url());
    let (certs, dir) = (&bench.webhook.certs, &bench.webhook.dir);
    let reference = match &bench.reference {
        Ok(bin) => Some(PinnedReference::start(bin, certs, dir).await?),
        Err(_) => None,
    };
    let control = bench.control(Control::KubeCore).await?;
    let mut rows = Vec::new();
    for (kind, body) in bench.reviews.iter() {
        let (mut ours, mut theirs, mut controlled) = (Vec::new(), Vec::new(), Vec::new());
        let sampler = RssSampler::start(pid);
        for _ in 0..bench.rounds() {
            ours.push(saturate(bench, &url, body)?);
            if let Some(reference) = &reference {
                theirs.push(saturate(bench, &reference.url(), body)?);
            }
            controlled.push(saturate(bench, &control.url(), body)?);
        }
        let peak = sampler.stop();
        let ours = median(ours);
        rows.extend(our_rows(kind, &ours));
        if kind == "CREATE" {
            rows.push(row(
                "webhook RSS peak under load",
                format!("{peak:.1} MB"),
                "<= 25 MB",
            ));
        }
        rows.extend(reference_rows(bench, kind, ours.rps, theirs));
        let control = median(controlled);
        rows.push(row(
            &format!("  control: kube-core typed review, same listener, {kind}"),
            format!("{:.0} req/s", control.rps),
            "",
        ));
        // With the reference measured, the control's ratio is the stricter one, reported only.
        let (value, target) = match &reference {
            Some(_) => (format!("{:.2}×", ours.rps / control.rps), "reported"),
            None => (
                ratio(ours.rps, control.rps, |r| r >= 2.0),
                ">= 2.00× (the reference was not built)",
            ),
        };
        rows.push(row(
            &format!("webhook ÷ kube-core control, {kind}"),
            value,
            target,
        ));
    }
    Ok(rows)
}

fn saturate(bench: &Bench, url: &str, body: &Path) -> Result<WrkResult> {
    let _paused = HubPaused::new(&bench.hub)?;
    bench.tools.wrk(url, body, bench.secs)
}

/// The run with the median rate.
fn median(mut runs: Vec<WrkResult>) -> WrkResult {
    runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    runs.swap_remove(runs.len() / 2)
}

fn our_rows(kind: &str, ours: &WrkResult) -> Vec<Row> {
    let mut rows = vec![
        row(
            &format!("webhook saturation, {kind} (TLS keep-alive, 1 core)"),
            format!("{:.0} req/s", ours.rps),
            ">= 50,000 req/s",
        ),
        row(
            &format!("  wrk p50 / p99 at saturation, {kind}"),
            format!("{} / {}", ours.p50, ours.p99),
            "",
        ),
    ];
    if ours.errors > 0 {
        rows.push(row(
            &format!("  errors, {kind}"),
            ours.errors.to_string(),
            "0",
        ));
    }
    rows
}

/// kube-rs's example's rate and ours over it; or why it was not measured.
fn reference_rows(bench: &Bench, kind: &str, ours: f64, theirs: Vec<WrkResult>) -> Vec<Row> {
    let what = format!("  kube-rs {RELEASE} admission example, built from source, {kind}");
    if let Err(why) = &bench.reference {
        return vec![row(&what, "not measured".into(), &format!("{why:#}"))];
    }
    let theirs = median(theirs);
    let mut rows = vec![
        row(&what, format!("{:.0} req/s", theirs.rps), ""),
        row(
            &format!("webhook ÷ kube-rs example, {kind}"),
            ratio(ours, theirs.rps, |r| r >= 2.0),
            ">= 2.00×",
        ),
    ];
    if theirs.errors > 0 {
        let errors = theirs.errors.to_string();
        rows.push(row(
            &format!("  kube-rs example errors, {kind}"),
            errors,
            "0",
        ));
    }
    rows
}

/// Latency at 10,000 reviews/s with 10 registrations, the same load on an empty handler behind
/// the same TLS listener, and the webhook's own decision time; also returns the p99 for the
/// comparison at more registrations.
pub async fn latency_at_fixed_rate(bench: &Bench) -> Result<(Vec<Row>, f64)> {
    // In turn, each percentile's median counting: a VM's stalls come and go.
    let empty = bench.control(Control::Empty).await?;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..bench.rounds() {
        ours.push(creates_at_ten_thousand_per_second(
            bench,
            &bench.webhook.url(),
        )?);
        theirs.push(creates_at_ten_thousand_per_second(bench, &empty.url())?);
    }
    drop(empty);
    let (fixed_10, control) = (OhaResult::median(&ours), OhaResult::median(&theirs));
    let (p99, p999) = bench.webhook.decision_percentiles().await?;
    let rows = vec![
        row(
            "webhook latency at 10,000 req/s, 10 registrations (p50/p99/p99.9)",
            fixed_10.latencies(),
            "",
        ),
        row(
            "  control: empty handler, same TLS listener, same load",
            control.latencies(),
            "",
        ),
        row(
            "p99 ÷ the empty handler's p99",
            ratio(fixed_10.p99, control.p99, |r| r <= 1.5),
            "<= 1.50×",
        ),
        row(
            "p99.9 ÷ the empty handler's p99.9",
            ratio(fixed_10.p999, control.p999, |r| r <= 2.0),
            "<= 2.00×",
        ),
        row(
            "  the webhook's own decision time (its histogram): p99 / p99.9",
            format!("<= {p99} / <= {p999}"),
            "",
        ),
    ];
    Ok((rows, fixed_10.p99))
}

/// Create reviews at a fixed 10,000 per second (oha) to `url`, the hub paused meanwhile.
fn creates_at_ten_thousand_per_second(bench: &Bench, url: &str) -> Result<OhaResult> {
    let _paused = HubPaused::new(&bench.hub)?;
    bench
        .tools
        .oha_rate(url, bench.reviews.create(), 10_000, bench.secs)
}

/// Full TLS handshakes per second (a new connection for every review), and the same on a bare
/// tokio-rustls accept loop with the same certificate.
pub async fn handshakes(bench: &Bench) -> Result<Vec<Row>> {
    let ours = handshakes_at(bench, &bench.webhook.url())?;
    let bare = bench.control(Control::Bare).await?;
    let theirs = handshakes_at(bench, &bare.url())?;
    Ok(vec![
        row(
            "full TLS handshakes per second (new connection each)",
            format!("{ours:.0} /s"),
            ">= 5,000 /s",
        ),
        row(
            "  control: bare tokio-rustls accept loop, same certificate",
            format!("{theirs:.0} /s"),
            "",
        ),
        row(
            "handshakes ÷ the bare accept loop's",
            ratio(ours, theirs, |r| r >= 0.9),
            ">= 0.90×",
        ),
    ])
}

fn handshakes_at(bench: &Bench, url: &str) -> Result<f64> {
    let _paused = HubPaused::new(&bench.hub)?;
    let hs = bench
        .tools
        .oha_handshakes(url, bench.reviews.create(), bench.secs.min(5))?;
    Ok(hs.rps)
}

/// Latency and memory with `count` registrations indexed, and the p99 against `p99_at_10`.
pub fn at_registrations(
    bench: &Bench,
    count: &str,
    p99_at_10: f64,
    rss_target: &str,
) -> Result<Vec<Row>> {
    let sampler = RssSampler::start(bench.webhook.pid()?);
    let fixed = creates_at_ten_thousand_per_second(bench, &bench.webhook.url())?;
    let peak = sampler.stop();
    Ok(vec![
        row(
            &format!("webhook latency at 10,000 req/s, {count} registrations"),
            fixed.latencies(),
            "",
        ),
        row(
            &format!("webhook RSS peak under load, {count} registrations"),
            format!("{peak:.1} MB"),
            rss_target,
        ),
        row(
            &format!("p99 with {count} registrations ÷ with 10"),
            ratio(fixed.p99, p99_at_10, |r| r <= 1.1),
            "<= 1.10×",
        ),
    ])
}

/// A second webhook started on a hub already holding `count` registrations: the time from its
/// start to ready (the initial list indexed), and its memory then.
pub async fn start_to_ready(bench: &Bench, count: &str) -> Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let started = std::time::Instant::now();
    let fresh = PinnedWebhook::start(&bench.bins.webhook, &bench.hub, dir.path())?;
    fresh.wait_ready().await?;
    let ready = started.elapsed().as_secs_f64();
    let mb = fresh.idle_mb().await?;
    Ok(vec![
        row(
            &format!("webhook start to ready, {count} registrations (initial list)"),
            format!("{ready:.2} s"),
            "",
        ),
        row(
            &format!("  its RSS when ready, {count} registrations"),
            format!("{mb:.1} MB"),
            "<= 60 MB",
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
