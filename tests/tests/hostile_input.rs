//! Hostile kubeconfigs for `kubectl extcluster`, run through kubectl's plugin discovery: missing
//! fields, unknown auth types, bad base64, paths to files that do not exist, a directory, an empty
//! file, 20 MB files, binary noise. Each gives one `error: ...` line and a non-zero exit, never a
//! panic, and quotes nothing of what the file holds.

use extcluster_tests::Output;
use extcluster_tests::plugin::extcluster;
use extcluster_tests::{b64, path_str as path};
use std::path::{Path, PathBuf};

/// Planted in every credential-like field and comment: it must never be printed.
const MARKER: &str = "s3cr3t-MARKER-7f41c2";

/// A kubeconfig for https://127.0.0.1:1 (nothing listens there) with `user` as its user body.
fn kubeconfig(cluster: &str, user: &str) -> String {
    format!(
        "# {MARKER} in a comment\napiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n{cluster}users:\n- name: u\n  user:\n{user}contexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
    )
}

const SERVER: &str = "    server: https://127.0.0.1:1\n";

fn token() -> String {
    format!("    token: {MARKER}-token\n")
}

/// Checks one failed run: exit non-zero (not a panic's 101), one `error: ` line on stderr,
/// nothing on stdout, no panic, none of the file's secrets.
#[track_caller]
fn refused(case: &str, out: &Output, wants: &[&str]) {
    let err = out.stderr.trim_end();
    assert!(
        !out.ok(),
        "{case}: should fail:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    assert_ne!(out.code, 101, "{case}: a panic's exit code:\n{err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{case}: panicked:\n{err}"
    );
    assert_eq!(err.lines().count(), 1, "{case}: one line:\n{err}");
    assert!(err.starts_with("error: "), "{case}: {err}");
    assert!(out.stdout.is_empty(), "{case}: stdout:\n{}", out.stdout);
    assert!(
        !err.contains(MARKER) && !err.contains(&b64(MARKER)),
        "{case}: the file's content is echoed:\n{err}"
    );
    assert!(err.len() < 1000, "{case}: {} bytes of error", err.len());
    for want in wants {
        assert!(err.contains(want), "{case}: {want:?} missing from:\n{err}");
    }
}

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// The files, each with what its error must say.
fn hostile_files(dir: &Path) -> Vec<(&'static str, PathBuf, Vec<&'static str>)> {
    let d = dir;
    let ca_ok = format!(
        "{SERVER}    certificate-authority-data: {}\n",
        b64("not a PEM")
    );
    let cases: Vec<(&'static str, PathBuf, Vec<&'static str>)> = vec![
        (
            "missing file",
            d.join("nope.kubeconfig"),
            vec!["no such file"],
        ),
        ("a directory", d.join("a-directory"), vec!["directory"]),
        ("an empty file", write(d, "empty", ""), vec!["no contexts"]),
        (
            "only apiVersion and kind",
            write(
                d,
                "bare",
                format!("# {MARKER}\napiVersion: v1\nkind: Config\n"),
            ),
            vec!["no contexts"],
        ),
        (
            "a context naming a missing cluster",
            write(
                d,
                "no-cluster",
                kubeconfig(SERVER, &token()).replace("cluster: c, user", "cluster: gone, user"),
            ),
            vec!["\"gone\"", "does not define"],
        ),
        (
            "a cluster without a server",
            write(
                d,
                "no-server",
                kubeconfig("    insecure-skip-tls-verify: true\n", &token()),
            ),
            vec!["no server"],
        ),
        (
            "a context naming a missing user",
            write(
                d,
                "no-user",
                kubeconfig(SERVER, &token()).replace("user: u}", "user: ghost}"),
            ),
            vec!["\"ghost\"", "does not define"],
        ),
        (
            "no current-context",
            write(
                d,
                "no-current",
                kubeconfig(SERVER, &token()).replace("current-context: x\n", ""),
            ),
            vec!["--from-context"],
        ),
        (
            "a plain-HTTP server",
            write(
                d,
                "http",
                kubeconfig("    server: http://127.0.0.1:1\n", &token()),
            ),
            vec!["not https://"],
        ),
        (
            "an unknown auth-provider",
            write(
                d,
                "auth-provider",
                kubeconfig(
                    SERVER,
                    &format!(
                        "    auth-provider:\n      name: weird-sso\n      config: {{id-token: {MARKER}, refresh-token: {MARKER}}}\n"
                    ),
                ),
            ),
            vec!["auth-provider"],
        ),
        (
            "an exec plugin",
            write(
                d,
                "exec",
                kubeconfig(
                    SERVER,
                    &format!(
                        "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: /opt/weird-auth\n      args: [--secret, {MARKER}]\n      env: [{{name: SECRET, value: {MARKER}}}]\n"
                    ),
                ),
            ),
            vec!["exec plugin"],
        ),
        (
            "basic auth only",
            write(
                d,
                "basic",
                kubeconfig(
                    SERVER,
                    &format!("    username: admin\n    password: {MARKER}\n"),
                ),
            ),
            vec!["no client certificate and no token"],
        ),
        (
            "an unknown kind of credential",
            write(
                d,
                "unknown-auth",
                kubeconfig(SERVER, &format!("    quantum-auth: {{key: {MARKER}}}\n")),
            ),
            vec!["no client certificate and no token"],
        ),
        (
            "bad base64 in certificate-authority-data",
            write(
                d,
                "bad-ca-b64",
                kubeconfig(
                    &format!("{SERVER}    certificate-authority-data: \"!!{MARKER}$$\"\n"),
                    &token(),
                ),
            ),
            vec!["base64"],
        ),
        (
            "bad base64 in client-key-data",
            write(
                d,
                "bad-key-b64",
                kubeconfig(
                    &ca_ok,
                    &format!(
                        "    client-certificate-data: {}\n    client-key-data: \"%%{MARKER}%%\"\n",
                        b64("cert")
                    ),
                ),
            ),
            vec!["base64"],
        ),
        (
            "bad base64 in client-certificate-data",
            write(
                d,
                "bad-cert-b64",
                kubeconfig(
                    &ca_ok,
                    &format!(
                        "    client-certificate-data: \"%%{MARKER}%%\"\n    client-key-data: {}\n",
                        b64(MARKER)
                    ),
                ),
            ),
            vec!["base64"],
        ),
        (
            "client-key-data that is no key",
            write(
                d,
                "not-a-key",
                kubeconfig(
                    SERVER,
                    &format!(
                        "    client-certificate-data: {}\n    client-key-data: {}\n",
                        b64(MARKER),
                        b64(MARKER)
                    ),
                ),
            ),
            vec!["key"],
        ),
        (
            "a certificate-authority file that does not exist",
            write(
                d,
                "ca-missing",
                kubeconfig(
                    &format!("{SERVER}    certificate-authority: /nonexistent/ca.crt\n"),
                    &token(),
                ),
            ),
            vec!["/nonexistent/ca.crt", "no such file"],
        ),
        (
            "a client-key file that does not exist",
            write(
                d,
                "key-missing",
                kubeconfig(
                    SERVER,
                    "    client-certificate: /nonexistent/c.crt\n    client-key: /nonexistent/c.key\n",
                ),
            ),
            vec!["/nonexistent/", "no such file"],
        ),
        (
            "a token file that does not exist",
            write(
                d,
                "token-missing",
                kubeconfig(SERVER, "    tokenFile: /nonexistent/token\n"),
            ),
            vec!["/nonexistent/token", "no such file"],
        ),
        (
            "a directory as certificate-authority",
            write(
                d,
                "ca-directory",
                kubeconfig(
                    &format!("{SERVER}    certificate-authority: {}\n", d.display()),
                    &token(),
                ),
            ),
            vec!["directory"],
        ),
        (
            "wrong types",
            write(
                d,
                "wrong-types",
                format!("apiVersion: v1\nkind: Config\nclusters: \"{MARKER}\"\nusers: 7\n"),
            ),
            vec!["not a valid kubeconfig"],
        ),
        (
            "YAML cut short",
            write(d, "truncated", &kubeconfig(SERVER, &token())[..120]),
            vec![],
        ),
        (
            "binary noise",
            write(d, "noise", {
                let mut b: Vec<u8> = (0..4096u32)
                    .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                    .collect();
                b.extend_from_slice(MARKER.as_bytes());
                b
            }),
            vec![],
        ),
        (
            "20 MB of one scalar",
            write(
                d,
                "huge-scalar",
                MARKER.repeat(20 * 1024 * 1024 / MARKER.len()),
            ),
            vec!["not a valid kubeconfig"],
        ),
        (
            "20 MB of comments around a real kubeconfig",
            write(
                d,
                "huge-comments",
                format!(
                    "{}{}",
                    kubeconfig(SERVER, &token()),
                    format!("# {MARKER} padding padding padding padding\n")
                        .repeat(20 * 1024 * 1024 / 64)
                ),
            ),
            vec!["refused"],
        ),
        (
            "a 20 MB token",
            write(
                d,
                "huge-token",
                kubeconfig(
                    SERVER,
                    &format!("    token: {MARKER}{}\n", "t".repeat(20 * 1024 * 1024)),
                ),
            ),
            vec![],
        ),
    ];
    std::fs::create_dir(d.join("a-directory")).unwrap();
    cases
}

/// A hub kubeconfig that is fine (nothing listens behind it): the external one is read first.
fn hub_kubeconfig(dir: &Path) -> PathBuf {
    write(
        dir,
        "hub.kubeconfig",
        kubeconfig(
            "    server: https://127.0.0.1:1\n",
            "    token: hub-token\n",
        ),
    )
}

#[test]
fn hostile_external_kubeconfigs_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_kubeconfig(dir.path());
    for (case, file, wants) in hostile_files(dir.path()) {
        let started = std::time::Instant::now();
        let out = extcluster(
            &hub,
            &["register", "edge", "--from-kubeconfig", path(&file)],
        );
        eprintln!(
            "{case} ({:.1?}): {}",
            started.elapsed(),
            out.stderr.trim_end()
        );
        refused(case, &out, &wants);
        // A hang guard only (a 20 MB input must not parse for minutes): the binary is built
        // before any test runs, so this times the command alone.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "{case} took {:?}",
            started.elapsed()
        );
    }
}

/// The same files as the hub's kubeconfig (`--kubeconfig`).
#[test]
fn hostile_hub_kubeconfigs_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    for (case, file, _) in hostile_files(dir.path()) {
        for args in [&["list"][..], &["describe", "edge"]] {
            let out = extcluster(&file, args);
            eprintln!("hub {case}, {}: {}", args[0], out.stderr.trim_end());
            refused(&format!("hub {case}, {}", args[0]), &out, &[]);
        }
    }
}
