//! Running the plugin the way a user does: `kubectl extcluster ...`, found on PATH by the real
//! kubectl's plugin discovery.

use crate::bins;
use crate::kubectl::{self, Output};
use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

/// PATH with the built plugin's folder first.
pub fn plugin_path() -> OsString {
    let bin = bins::workspace_bin("kubectl-extcluster").expect("the plugin builds");
    let mut dirs = vec![bin.parent().expect("a directory").to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("a valid PATH")
}

/// `kubectl extcluster ARGS --kubeconfig HUB`, with no standard input (not a terminal).
pub fn extcluster(hub: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("kubectl");
    cmd.arg("extcluster")
        .args(args)
        .arg("--kubeconfig")
        .arg(hub)
        .env("PATH", plugin_path())
        .env_remove("KUBECONFIG");
    kubectl::run_with(&mut cmd, None)
}

/// `kubectl extcluster ARGS` with `env` and no `--kubeconfig`: the hub is what `env` says.
pub fn extcluster_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("kubectl");
    cmd.arg("extcluster")
        .args(args)
        .env("PATH", plugin_path())
        .env_remove("KUBECONFIG")
        .envs(env.iter().copied());
    kubectl::run_with(&mut cmd, None)
}

/// Asserts a failure that says one thing, on one line of stderr starting `error: `, mentioning
/// every one of `wants`; returns that line.
#[track_caller]
pub fn one_line_error(out: impl std::borrow::Borrow<Output>, wants: &[&str]) -> String {
    let out = out.borrow();
    let line = final_error_line(out, wants);
    let err = out.stderr.trim_end();
    assert_eq!(err.lines().count(), 1, "one line:\n{err}");
    line
}

/// Like [`one_line_error`] for commands that report progress on stderr before failing: only the
/// last line must be the error.
#[track_caller]
pub fn final_error_line(out: impl std::borrow::Borrow<Output>, wants: &[&str]) -> String {
    let out = out.borrow();
    assert!(
        !out.ok(),
        "should have failed:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    let err = out.stderr.trim_end();
    let last = err.lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("error: "), "{err}");
    for want in wants {
        assert!(last.contains(want), "{want:?} missing from:\n{err}");
    }
    last
}

/// A consumer's kubeconfig for registration `registration` of `ext`: the cluster's endpoint and
/// CA, and the credential plugin as its user, asking the hub through `hub_kubeconfig`, by name
/// or (`by_extension`) through the cluster's exec extension.
pub fn consumer_kubeconfig(
    ext: &crate::ControlPlane,
    hub_kubeconfig: &Path,
    registration: &str,
    by_extension: bool,
) -> String {
    let bin = bins::workspace_bin("kubectl-extcluster").expect("the plugin builds");
    let (name_arg, extension) = if by_extension {
        (
            String::new(),
            format!(
                "    extensions:\n    - name: client.authentication.k8s.io/exec\n      extension:\n        registration: {registration}\n"
            ),
        )
    } else {
        (format!("      - {registration}\n"), String::new())
    };
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: {registration}\nclusters:\n- name: {registration}\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n{extension}contexts:\n- name: {registration}\n  context: {{cluster: {registration}, user: {registration}}}\nusers:\n- name: {registration}\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {bin}\n      args:\n      - credential\n{name_arg}      - --kubeconfig\n      - {hub}\n      interactiveMode: Never\n      provideClusterInfo: true\n",
        server = ext.server(),
        ca = crate::b64(ext.ca_pem()),
        bin = bin.display(),
        hub = hub_kubeconfig.display(),
    )
}

/// The `--oidc-*` flags `kubectl extcluster trust` printed (`printed`), with the hub's CA it
/// printed written to `ca_file` and named by `--oidc-ca-file`: what an admin gives a
/// self-managed kube-apiserver.
pub fn trust_flags(printed: &str, ca_file: &Path) -> Vec<String> {
    let ca: String = printed
        .lines()
        .skip_while(|l| *l != "The hub's CA:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        ca.contains("-----END CERTIFICATE-----"),
        "no CA in:\n{printed}"
    );
    std::fs::write(ca_file, ca).expect("writing the hub's CA");
    let mut flags: Vec<String> = printed
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("--oidc-") && !l.starts_with("--oidc-ca-file"))
        .map(str::to_owned)
        .collect();
    flags.push(format!("--oidc-ca-file={}", ca_file.display()));
    flags
}
