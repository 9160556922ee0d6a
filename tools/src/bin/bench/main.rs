//! `make bench`: the webhook, the plugin and the controller measured on this machine, printed as
//! a table. `--only controller` measures the controller alone, `--only federated` what minting
//! tokens for federated registrations costs.
//!
//! The webhook (release build) is pinned to CPU 0; load generators (wrk from Debian, oha from
//! crates.io) run pinned to CPU 1. The registry comes from a real hub's watch.

mod controller;
mod controls;
mod federated;
mod hub_load;
mod instructions;
mod load_generators;
mod plugin;
mod reference;
mod release;
mod webhook;

use anyhow::Result;
use extcluster_tests::process::Supervised;
use extcluster_tests::{ControlPlane, bins, hub};
use load_generators::LoadGenerators;
use release::ReleaseBins;
use std::path::{Path, PathBuf};
use webhook::PinnedWebhook;

/// Starts `bin` with `args` pinned to CPU 0, the measured core. taskset execs it, so the process
/// keeps the binary's name (what `procfs::pid_of` looks for).
pub fn spawn_on_measured_core(bin: &Path, args: &[String], log: &Path) -> Result<Supervised> {
    let name = bin
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut pinned = vec!["-c".to_owned(), "0".to_owned(), bin.display().to_string()];
    pinned.extend_from_slice(args);
    Supervised::spawn(&name, Path::new("/usr/bin/taskset"), &pinned, log)
}

/// The review bodies measured, by kind, as the API server sends them: the webhook's test
/// fixtures (indented for people to read) without the whitespace between tokens, written once
/// under the target folder.
pub struct Reviews([(&'static str, PathBuf); 3]);

impl Reviews {
    fn write() -> Result<Self> {
        let written = |kind, file| -> Result<(&'static str, PathBuf)> {
            let fixture = extcluster_tests::repo_root()
                .join("webhook/tests/fixtures")
                .join(file);
            let pretty = std::fs::read(&fixture)?;
            let compact = compact_json(&pretty);
            let parsed = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).ok();
            if parsed(&compact).is_none() || parsed(&compact) != parsed(&pretty) {
                anyhow::bail!("{} is not the same JSON once compacted", fixture.display());
            }
            let body = bins::target_dir().join("bench/reviews").join(file);
            std::fs::create_dir_all(body.parent().unwrap_or(Path::new(".")))?;
            std::fs::write(&body, compact)?;
            Ok((kind, body))
        };
        Ok(Self([
            written("CREATE", "create.json")?,
            written("UPDATE", "update.json")?,
            written("DELETE", "delete-disconnected.json")?,
        ]))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Path)> {
        self.0.iter().map(|(kind, body)| (*kind, body.as_path()))
    }

    pub fn create(&self) -> &Path {
        &self.0[0].1
    }
}

/// `json` without whitespace outside its strings.
fn compact_json(json: &[u8]) -> Vec<u8> {
    let (mut out, mut in_string, mut escaped) = (Vec::with_capacity(json.len()), false, false);
    for &b in json {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !b.is_ascii_whitespace() {
            in_string = b == b'"';
            out.push(b);
        }
    }
    out
}

/// `ours ÷ theirs`, and whether that `holds`.
pub fn ratio(ours: f64, theirs: f64, holds: impl Fn(f64) -> bool) -> String {
    let r = ours / theirs;
    format!("{r:.2}× {}", if holds(r) { "✓" } else { "✗" })
}

/// One line of the printed table.
pub struct Row {
    what: String,
    value: String,
    target: String,
}

pub fn row(what: &str, value: String, target: &str) -> Row {
    Row {
        what: what.to_owned(),
        value,
        target: target.to_owned(),
    }
}

/// What every measurement runs against.
pub struct Bench {
    pub tools: LoadGenerators,
    pub bins: ReleaseBins,
    pub hub: ControlPlane,
    pub webhook: PinnedWebhook,
    /// Seconds of load per measurement.
    pub secs: u64,
    /// `--quick`: fewer runs, shorter windows; a smoke test of the bench itself.
    pub quick: bool,
    /// kube-rs's admission example, built from its source, or why it could not be.
    pub reference: Result<PathBuf>,
    pub reviews: Reviews,
}

impl Bench {
    /// How many times each server is measured in turn where a median counts.
    pub fn rounds(&self) -> usize {
        if self.quick { 1 } else { 3 }
    }

    /// A control on the measured core, with the webhook's certificate.
    pub async fn control(&self, control: controls::Control) -> Result<controls::PinnedControl> {
        controls::PinnedControl::start(
            &self.bins.tls_control,
            control,
            &self.webhook.certs,
            &self.webhook.dir,
        )
        .await
    }
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
    let bins = ReleaseBins::build()?;
    if std::env::args().any(|a| a == "controller") {
        return controller::rows(&bins.controller, quick).await;
    }
    if std::env::args().any(|a| a == "federated") {
        return federated::rows(quick).await;
    }
    let reference = reference::build();
    let reviews = Reviews::write()?;
    let counted = instructions::rows(&bins.review_cost, &reviews)?;
    let tools = LoadGenerators::find()?;
    let hub = hub::start().await?;
    // CPU 0 is the webhook's alone: the hub, the bench and the load generators use CPU 1.
    hub_load::pin_to_load_core(hub.dir())?;
    hub_load::pin_to_load_core(Path::new(&format!("/proc/{}", std::process::id())))?;
    hub_load::seed(&hub, 0, 10).await?;
    let work = tempfile::tempdir()?;
    let webhook = PinnedWebhook::start(&bins.webhook, &hub, work.path())?;
    let bench = Bench {
        tools,
        bins,
        hub,
        webhook,
        secs: if quick { 3 } else { 10 },
        quick,
        reference,
        reviews,
    };
    let result = measure(&bench).await;
    if result.is_err() {
        eprintln!(
            "webhook log (last lines, newest first):\n{}",
            bench.webhook.log_tail(20)
        );
    }
    let mut rows = counted;
    rows.extend(result?);
    let controller = bench.bins.controller.clone();
    drop(bench);
    rows.extend(controller::rows(&controller, quick).await?);
    rows.extend(federated::rows(quick).await?);
    Ok(rows)
}

/// Every measurement, in the order the table shows them.
async fn measure(bench: &Bench) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    bench.webhook.wait_registrations(10).await?;
    let (idle, rss_at_10) = webhook::idle_rss(bench, "10 registrations", "<= 12 MB").await?;
    rows.push(idle);
    rows.extend(webhook::saturation(bench).await?);
    let (latency_rows, p99_at_10) = webhook::latency_at_fixed_rate(bench).await?;
    rows.extend(latency_rows);
    rows.extend(webhook::handshakes(bench).await?);

    // The plugin, against the same hub with 1,000 registrations.
    hub_load::seed(&bench.hub, 10, 1_000).await?;
    rows.extend(plugin::rows(bench).await?);

    hub_load::seed(&bench.hub, 1_000, 10_000).await?;
    rows.extend(plugin::list_beside_kubectl(bench, "10,000", 0.3)?);
    let (at_10k, _) = at_scale(bench, 10_000, "10,000", p99_at_10, "<= 25 MB").await?;
    rows.extend(at_10k);

    let (big, label) = if bench.quick {
        (20_000, "20,000")
    } else {
        (100_000, "100,000")
    };
    hub_load::seed(&bench.hub, 10_000, big).await?;
    let (at_big, rss) = at_scale(bench, big, label, p99_at_10, "<= 60 MB").await?;
    rows.extend(at_big);
    rows.push(row(
        "webhook memory per registration",
        format!(
            "{:.0} bytes",
            (rss - rss_at_10) * 1024.0 * 1024.0 / (big - 10) as f64
        ),
        "",
    ));
    rows.extend(webhook::start_to_ready(bench, label).await?);
    Ok(rows)
}

/// The webhook with `count` registrations indexed: idle memory (also returned, in MB), and
/// latency against 10.
async fn at_scale(
    bench: &Bench,
    count: usize,
    label: &str,
    p99_at_10: f64,
    rss_target: &str,
) -> Result<(Vec<Row>, f64)> {
    let on_hub = hub_load::count(&bench.hub).await?;
    if on_hub != count {
        anyhow::bail!("the hub holds {on_hub} registrations, not the {count} seeded");
    }
    bench.webhook.wait_registrations(on_hub).await?;
    let (idle, rss) =
        webhook::idle_rss(bench, &format!("{label} registrations"), rss_target).await?;
    let mut rows = vec![idle];
    rows.extend(webhook::at_registrations(
        bench, label, p99_at_10, rss_target,
    )?);
    Ok((rows, rss))
}
