//! The reference the webhook's throughput is judged against: kube-rs's own admission example
//! (`examples/admission_controller.rs` at a pinned release), cloned and built from its source by
//! the bench (none of its code is in this repository) and run as shipped, on the measured core,
//! with the webhook's certificate.
//!
//! The source comes from `$KUBE_RS_GIT` (default: GitHub), so a machine that cannot reach GitHub
//! can name a mirror. Where neither is reachable the bench says why and measures the control only.

use anyhow::{Context, Result, bail};
use extcluster_tests::process::Supervised;
use extcluster_tests::{Wait, bins};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The kube-rs release whose example is measured.
pub const RELEASE: &str = "4.2.0";
const UPSTREAM: &str = "https://github.com/kube-rs/kube";
/// The example listens on `$ADMISSION_PRIVATE_IP:8443`; the port is not its user's to choose.
const PORT: u16 = 8443;

/// Clones the release once, builds the example (cargo makes that a no-op after the first run),
/// and returns the binary.
pub fn build() -> Result<PathBuf> {
    let checkout = bins::tools_dir().join(format!("src/kube-rs-{RELEASE}"));
    if !checkout.join("Cargo.toml").exists() {
        clone(&checkout)?;
    }
    eprintln!("building kube-rs {RELEASE}'s admission example (the first time: several minutes)");
    let target = checkout.join("target");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-q", "-p", "kube-examples"])
        .args(["--example", "admission_controller"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&checkout)
        .status()?;
    if !status.success() {
        bail!(
            "cargo build of the example in {} failed (its errors are above); delete that folder \
             to clone it afresh, or set KUBE_RS_GIT to another copy of kube-rs",
            checkout.display()
        );
    }
    Ok(target.join("release/examples/admission_controller"))
}

/// Clones into a sibling folder first, so a failed clone leaves nothing a later run mistakes
/// for a checkout.
fn clone(checkout: &Path) -> Result<()> {
    let from = std::env::var("KUBE_RS_GIT").unwrap_or_else(|_| UPSTREAM.to_owned());
    let partial = checkout.with_file_name(format!("kube-rs-{RELEASE}.partial"));
    let _ = std::fs::remove_dir_all(&partial);
    let out = Command::new("timeout")
        .args([
            "300",
            "git",
            "clone",
            "-q",
            "--depth=1",
            "--branch",
            RELEASE,
        ])
        .arg(&from)
        .arg(&partial)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .context("running git")?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&partial);
        bail!(
            "git clone {from} failed ({}); set KUBE_RS_GIT to a reachable copy of kube-rs",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    std::fs::rename(&partial, checkout)?;
    Ok(())
}

/// The example, running.
pub struct PinnedReference {
    _process: Supervised,
}

impl PinnedReference {
    /// Starts `bin` on CPU 0 serving the certificate in `certs` (it reads
    /// `admission-controller-tls.{crt,key}` from its working folder), and waits until it accepts.
    /// `RUST_LOG=warn` turns off its one INFO line per review: the webhook logs no allowed review.
    pub async fn start(bin: &Path, certs: &Path, dir: &Path) -> Result<Self> {
        if std::net::TcpListener::bind(("127.0.0.1", PORT)).is_err() {
            bail!("port {PORT}, where the kube-rs example always listens, is taken; free it");
        }
        let run = dir.join("kube-rs-example");
        std::fs::create_dir_all(&run)?;
        for ext in ["crt", "key"] {
            let to = run.join(format!("admission-controller-tls.{ext}"));
            std::fs::copy(certs.join(format!("tls.{ext}")), to)?;
        }
        let args = [
            "-c".to_owned(),
            "0".to_owned(),
            "/usr/bin/env".to_owned(),
            format!("--chdir={}", run.display()),
            "ADMISSION_PRIVATE_IP=127.0.0.1".to_owned(),
            "RUST_LOG=warn".to_owned(),
            bin.display().to_string(),
        ];
        let log = dir.join("kube-rs-example.log");
        let process = Supervised::spawn(
            "admission_controller",
            Path::new("/usr/bin/taskset"),
            &args,
            &log,
        )?;
        Wait::up_to(Duration::from_secs(10), "the kube-rs example to listen")
            .until(async || {
                let up = tokio::net::TcpStream::connect(("127.0.0.1", PORT)).await;
                up.ok().map(drop)
            })
            .await
            .with_context(|| std::fs::read_to_string(&log).unwrap_or_default())?;
        Ok(Self { _process: process })
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{PORT}/mutate")
    }
}
