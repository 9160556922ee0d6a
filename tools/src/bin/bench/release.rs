//! The release builds the bench measures (a debug build would measure the compiler's settings).

use anyhow::{Result, bail};
use extcluster_tests::{bins, repo_root};
use std::path::PathBuf;
use std::process::Command;

pub struct ReleaseBins {
    pub webhook: PathBuf,
    pub plugin: PathBuf,
    pub controller: PathBuf,
    /// One review body answered in process (`review-cost`), for callgrind.
    pub review_cost: PathBuf,
    /// The servers the webhook is compared with (`tls-control`).
    pub tls_control: PathBuf,
}

impl ReleaseBins {
    /// Builds the webhook, the plugin, the controller, `review-cost` and `tls-control` with
    /// `--release`; `make build` builds debug only.
    pub fn build() -> Result<Self> {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "-q"])
            .args(["-p", "extcluster-webhook", "-p", "kubectl-extcluster"])
            .args(["-p", "extcluster-controller", "-p", "extcluster-tools"])
            // `--bin` limits every package named, so each binary is named.
            .args(["--bin", "extcluster-webhook", "--bin", "kubectl-extcluster"])
            .args(["--bin", "extcluster-controller", "--bin", "review-cost"])
            .args(["--bin", "tls-control"])
            .current_dir(repo_root())
            .status()?;
        if !status.success() {
            bail!("cargo build --release failed");
        }
        let release = bins::target_dir().join("release");
        for bin in [
            "extcluster-webhook",
            "kubectl-extcluster",
            "extcluster-controller",
        ] {
            if !release.join(bin).exists() {
                bail!("cargo build --release made no {bin}");
            }
        }
        Ok(Self {
            webhook: release.join("extcluster-webhook"),
            plugin: release.join("kubectl-extcluster"),
            controller: release.join("extcluster-controller"),
            review_cost: release.join("review-cost"),
            tls_control: release.join("tls-control"),
        })
    }
}
