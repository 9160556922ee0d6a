//! Where the Kubernetes binaries are: built once per machine by `hack/kube-bins.sh`.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

fn run_script(args: &[&str]) -> Result<PathBuf> {
    let script = crate::repo_root().join("hack/kube-bins.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed ({})",
            script.display(),
            args.join(" "),
            out.status
        );
    }
    let path = String::from_utf8(out.stdout)?.trim().to_owned();
    Ok(PathBuf::from(path))
}

/// The folder holding kube-apiserver and kube-controller-manager.
pub fn dir() -> Result<PathBuf> {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    if let Some(d) = DIR.get() {
        return Ok(d.clone());
    }
    let d = run_script(&["base"])?;
    Ok(DIR.get_or_init(|| d).clone())
}

/// A kube-apiserver that reports `version` as its gitVersion; the stock one for `None`.
pub fn apiserver(version: Option<&str>) -> Result<PathBuf> {
    match version {
        None => Ok(dir()?.join("kube-apiserver")),
        Some(v) => run_script(&["apiserver", v]),
    }
}

pub fn controller_manager() -> Result<PathBuf> {
    Ok(dir()?.join("kube-controller-manager"))
}

/// etcd from Debian's etcd-server (the build script installs it).
pub fn etcd() -> Result<PathBuf> {
    dir()?;
    for p in ["/usr/bin/etcd", "/usr/local/bin/etcd"] {
        if std::path::Path::new(p).exists() {
            return Ok(PathBuf::from(p));
        }
    }
    bail!("etcd is not installed; run hack/kube-bins.sh deps")
}

/// A binary of this workspace (`kubectl-extcluster`, `extcluster-webhook`), built if missing.
/// `cargo nextest run --workspace` and `cargo test --workspace` build them before tests run.
pub fn workspace_bin(name: &str) -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join("target"));
    let path = target.join("debug").join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--bin", name])
            .current_dir(crate::repo_root())
            .status()?;
        if !status.success() {
            bail!("cargo build --bin {name} failed");
        }
    }
    Ok(path)
}

/// Where tools the benchmarks install live (oha from crates.io).
pub fn tools_dir() -> PathBuf {
    let cache = std::env::var_os("EXTCLUSTER_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
                })
                .join("extcluster")
        });
    cache.join("tools")
}
