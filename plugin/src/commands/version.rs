//! `version`.

use anyhow::Result;
use clap::Args;

/// Print the plugin's version
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  kubectl extcluster version")]
pub struct VersionArgs {}

pub fn text() -> String {
    let version = env!("CARGO_PKG_VERSION");
    match option_env!("EXTCLUSTER_GIT_COMMIT") {
        Some(commit) if !commit.is_empty() => {
            format!("kubectl-extcluster {version} (commit {commit})")
        }
        _ => format!("kubectl-extcluster {version}"),
    }
}

pub fn run(_: &VersionArgs) -> Result<()> {
    println!("{}", text());
    Ok(())
}
