//! `version`.

use anyhow::Result;

pub fn text() -> String {
    let version = env!("CARGO_PKG_VERSION");
    match option_env!("EXTCLUSTER_GIT_COMMIT") {
        Some(commit) if !commit.is_empty() => {
            format!("kubectl-extcluster {version} (commit {commit})")
        }
        _ => format!("kubectl-extcluster {version}"),
    }
}

pub fn run() -> Result<()> {
    println!("{}", text());
    Ok(())
}
