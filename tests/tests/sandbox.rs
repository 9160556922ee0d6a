//! The README's "run it" command, as a user runs it: `make demo` (its own build step included)
//! starts the sandbox, tells the story with the plugin, leaves it running for play, and
//! `make demo-down` stops every process it started.

use extcluster_tests::bins::as_a_user;
use extcluster_tests::{assert_contains, repo_root};
use std::process::Command;

#[test]
fn make_demo_tells_the_whole_story_and_demo_down_stops_everything() {
    let dir = tempfile::tempdir().unwrap();
    let demo = |args: &[&str]| {
        as_a_user(&mut Command::new("make"))
            .args(["--no-print-directory", "-C"])
            .arg(repo_root())
            .args(args)
            .env("SANDBOX_DIR", dir.path())
            .output()
            .unwrap()
    };
    let out = demo(&["demo"]);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let stop = demo(&["demo-down"]);
    assert!(out.status.success(), "make demo failed:\n{text}");
    for expected in [
        "registered (Import, EKS): Running, v1.29.3-eks-adc7111, 3 nodes",
        "re-import of an active cluster",
        "outside the accepted range >=1.19.0, <1.35.0",
        "cannot be deleted from the hub",
        "capabilities.extcluster.io/pspEnabled",
        "the cluster itself is left untouched",
        "registered (Connect, Generic, federated): Running",
        "federated (hub identity extcluster-system/edge",
        "Stop everything: make demo-down",
    ] {
        assert_contains(&text, expected);
    }
    assert_eq!(
        text.matches("(refused, as it should be)").count(),
        4,
        "{text}"
    );
    assert!(!text.contains("should have been refused"), "{text}");
    assert!(
        dir.path().join("hub.kubeconfig").exists(),
        "a kubeconfig is left to keep playing"
    );

    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    assert!(!dir.path().join("sandbox.pid").exists());
    // Nothing the sandbox started is left: no process mentions its kubeconfigs or folder.
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let leftovers: Vec<String> = String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|l| l.contains("sandbox serve") && l.contains(&dir.path().display().to_string()))
        .map(str::to_owned)
        .collect();
    assert!(leftovers.is_empty(), "left running: {leftovers:?}");
}
