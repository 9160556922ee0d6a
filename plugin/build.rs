//! Records the git commit the plugin is built from, for `kubectl extcluster version`.
//!
//! It reruns when this checkout's HEAD moves: the HEAD file, the branch it names and
//! packed-refs, nothing wider. Watching all of `refs/heads` made every commit on any branch (a
//! worktree's too) rebuild the plugin, even in the middle of a test run.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn main() {
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    for name in ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()) {
        // A path that does not exist would rerun the script on every build.
        if let Some(path) = git(&["rev-parse", "--git-path", name])
            && std::path::Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_default();
    println!("cargo:rustc-env=EXTCLUSTER_GIT_COMMIT={commit}");
}
