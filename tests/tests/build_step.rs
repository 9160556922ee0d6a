//! One shared build step, `make build`, produces every binary that `make demo` and the tests run:
//! a binary that only an earlier build left in `target/` would pass here and fail on a new machine.

use extcluster_tests::bins::WORKSPACE_BINS;
use extcluster_tests::repo_root;
use std::collections::BTreeSet;
use std::process::Command;

/// The executables `make build` produces, by file name, as cargo reports them.
fn built_by_make_build() -> BTreeSet<String> {
    let out = Command::new("make")
        .args(["-s", "--no-print-directory", "-C"])
        .arg(repo_root())
        .args(["build", "BUILD_FLAGS=--message-format=json"])
        .env_remove("MAKEFLAGS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "make build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| m["executable"].as_str().map(str::to_owned))
        .filter_map(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .collect()
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
    let built = built_by_make_build();
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
