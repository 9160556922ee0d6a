//! The release builds the bench measures (a debug build would measure the compiler's settings).

use anyhow::{Result, bail};
use extcluster_tests::{bins, repo_root};
use std::path::PathBuf;
use std::process::Command;

pub struct ReleaseBins {
    pub webhook: PathBuf,
    pub plugin: PathBuf,
    pub controller: PathBuf,
}

impl ReleaseBins {
    /// Builds the webhook, the plugin and the controller with `--release`; `make build` builds debug only.
    pub fn build() -> Result<Self> {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "-q"])
            .args(["-p", "extcluster-webhook", "-p", "kubectl-extcluster"])
            .args(["-p", "extcluster-controller"])
            .current_dir(repo_root())
            .status()?;
        if !status.success() {
            bail!("cargo build --release failed");
        }
        let release = bins::target_dir().join("release");
        Ok(Self {
            webhook: release.join("extcluster-webhook"),
            plugin: release.join("kubectl-extcluster"),
            controller: release.join("extcluster-controller"),
        })
    }
}
