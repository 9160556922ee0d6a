//! One shared build step, `make build`, produces every binary that `make demo` and the tests run:
//! a binary that only an earlier build left in `target/` would pass here and fail on a new machine.

use extcluster_tests::bins::{WORKSPACE_BINS, as_a_user};
use extcluster_tests::repo_root;
use std::collections::BTreeSet;
use std::process::Command;

/// The executables `make build` produces, by file name, as cargo reports them, and the
/// artifacts it had to compile again (none, when `make test` built everything before the tests).
fn built_by_make_build() -> (BTreeSet<String>, Vec<String>) {
    let out = as_a_user(&mut Command::new("make"))
        .args(["-s", "--no-print-directory", "-C"])
        .arg(repo_root())
        .args(["build", "BUILD_FLAGS=--message-format=json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "make build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let artifacts: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .collect();
    let executables = artifacts
        .iter()
        .filter_map(|m| m["executable"].as_str())
        .filter_map(|p| {
            std::path::Path::new(p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .collect();
    let compiled = artifacts
        .iter()
        .filter(|m| m["fresh"] == false)
        .map(|m| m["package_id"].to_string())
        .collect();
    (executables, compiled)
}

/// The workspace binaries `hack/demo.sh` runs: `$target/debug/NAME`, and the plugin through
/// `kubectl extcluster`.
fn run_by_demo() -> BTreeSet<String> {
    let script = std::fs::read_to_string(repo_root().join("hack/demo.sh")).unwrap();
    let mut names: BTreeSet<String> = script
        .split("$target/debug/")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect();
    if script.contains("kubectl extcluster ") {
        names.insert("kubectl-extcluster".to_owned());
    }
    names
}

#[test]
fn make_build_produces_every_binary_the_demo_and_the_tests_run() {
    let (built, compiled) = built_by_make_build();
    // The suite's own build must leave nothing for `make build` to do: a rebuild here would
    // replace binaries other tests are running.
    assert!(
        compiled.is_empty(),
        "`make build` compiled again after the test build: {compiled:?}"
    );
    let demo = run_by_demo();
    assert!(
        demo.contains("sandbox") && demo.contains("kubectl-extcluster"),
        "reading hack/demo.sh found {demo:?}"
    );
    for name in demo
        .iter()
        .map(String::as_str)
        .chain(WORKSPACE_BINS.iter().copied())
    {
        assert!(
            built.contains(name),
            "{name} is run by the demo or the tests but `make build` does not produce it \
             (it produced {built:?})"
        );
    }
}
