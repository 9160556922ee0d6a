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

/// Every binary of this workspace that the tests and the sandbox run. `make build` (which `make
/// test` and `make demo` run first) builds them all; a test that runs one not listed here fails,
/// and `tests/tests/build_step.rs` fails when the build step stops producing one.
pub const WORKSPACE_BINS: &[&str] = &[
    "kubectl-extcluster",
    "extcluster-webhook",
    "extcluster-controller",
    "extcluster-controller-faults",
    "sandbox",
];

/// A binary of this workspace (one of [`WORKSPACE_BINS`]), built up front by `make build`. It is
/// never built here: a test would then measure, or time out on, a compiler run.
pub fn workspace_bin(name: &str) -> Result<PathBuf> {
    if !WORKSPACE_BINS.contains(&name) {
        bail!("{name} is not in bins::WORKSPACE_BINS, the binaries `make build` must produce");
    }
    let path = target_dir().join("debug").join(name);
    if !path.exists() {
        bail!(
            "{} does not exist: build every binary first with `make build` (`make test` does)",
            path.display()
        );
    }
    Ok(path)
}

/// Cargo's target folder for this workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join("target"))
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

/// Clears what cargo and nextest set for a test process (`CARGO_PKG_*`, `CARGO_MANIFEST_DIR`,
/// `OUT_DIR`, `NEXTEST_*`, the library path…), so a `make` or `cargo` run from a test sees the
/// environment a user's shell has. Left in, they change build scripts' inputs (ring's reads
/// `CARGO_PKG_NAME`) and cargo rebuilds half the tree. `CARGO_HOME` and `CARGO_TARGET_DIR` stay:
/// they are the user's own.
pub fn as_a_user(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let set_for_tests =
            (key.starts_with("CARGO") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR")
                || key.starts_with("NEXTEST")
                || key.starts_with("__NEXTEST")
                || key.starts_with("RUST_TEST")
                || ["OUT_DIR", "LD_LIBRARY_PATH", "MAKEFLAGS", "MAKELEVEL"].contains(&key.as_ref());
        if set_for_tests {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd
}
