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

/// A hostile file, named for the messages, and what its error must say.
type Case = (&'static str, PathBuf, Vec<&'static str>);

/// A family of hostile files, written into the directory it is given.
type Family = fn(&Path) -> Vec<Case>;

fn missing_or_empty(d: &Path) -> Vec<Case> {
    std::fs::create_dir(d.join("a-directory")).unwrap();
    vec![
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
    ]
}

fn broken_references(d: &Path) -> Vec<Case> {
    let with_token = kubeconfig(SERVER, &token());
    vec![
        (
            "a context naming a missing cluster",
            write(
                d,
                "no-cluster",
                with_token.replace("cluster: c, user", "cluster: gone, user"),
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
            write(d, "no-user", with_token.replace("user: u}", "user: ghost}")),
            vec!["\"ghost\"", "does not define"],
        ),
        (
            "no current-context",
            write(
                d,
                "no-current",
                with_token.replace("current-context: x\n", ""),
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
    ]
}

fn unusable_logins(d: &Path) -> Vec<Case> {
    let user = |name: &str, body: String| write(d, name, kubeconfig(SERVER, &body));
    vec![
        (
            "an unknown auth-provider",
            user(
                "auth-provider",
                format!(
                    "    auth-provider:\n      name: weird-sso\n      config: {{id-token: {MARKER}, refresh-token: {MARKER}}}\n"
                ),
            ),
            vec!["auth-provider"],
        ),
        (
            "an exec plugin",
            user(
                "exec",
                format!(
                    "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: /opt/weird-auth\n      args: [--secret, {MARKER}]\n      env: [{{name: SECRET, value: {MARKER}}}]\n"
                ),
            ),
            vec!["exec plugin"],
        ),
        (
            "basic auth only",
            user(
                "basic",
                format!("    username: admin\n    password: {MARKER}\n"),
            ),
            vec!["no client certificate and no token"],
        ),
        (
            "an unknown kind of credential",
            user(
                "unknown-auth",
                format!("    quantum-auth: {{key: {MARKER}}}\n"),
            ),
            vec!["no client certificate and no token"],
        ),
    ]
}

fn bad_encodings(d: &Path) -> Vec<Case> {
    let ca_ok = format!(
        "{SERVER}    certificate-authority-data: {}\n",
        b64("not a PEM")
    );
    let client = |name: &str, cert: String, key: String| {
        let user = format!("    client-certificate-data: {cert}\n    client-key-data: {key}\n");
        write(d, name, kubeconfig(&ca_ok, &user))
    };
    vec![
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
            client("bad-key-b64", b64("cert"), format!("\"%%{MARKER}%%\"")),
            vec!["base64"],
        ),
        (
            "bad base64 in client-certificate-data",
            client("bad-cert-b64", format!("\"%%{MARKER}%%\""), b64(MARKER)),
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
    ]
}

fn missing_referenced_files(d: &Path) -> Vec<Case> {
    vec![
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
    ]
}

fn not_yaml_kubeconfigs(d: &Path) -> Vec<Case> {
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .chain(MARKER.bytes())
        .collect();
    vec![
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
        ("binary noise", write(d, "noise", noise), vec![]),
    ]
}

/// The size of the huge files: they must not parse for minutes, nor be quoted.
const MB_20: usize = 20 * 1024 * 1024;

fn huge_scalar(d: &Path) -> Vec<Case> {
    vec![(
        "20 MB of one scalar",
        write(d, "huge-scalar", MARKER.repeat(MB_20 / MARKER.len())),
        vec!["not a valid kubeconfig"],
    )]
}

fn huge_comments(d: &Path) -> Vec<Case> {
    let padding = format!("# {MARKER} padding padding padding padding\n").repeat(MB_20 / 64);
    vec![(
        "20 MB of comments around a real kubeconfig",
        write(
            d,
            "huge-comments",
            format!("{}{padding}", kubeconfig(SERVER, &token())),
        ),
        vec!["refused"],
    )]
}

fn huge_token(d: &Path) -> Vec<Case> {
    let token = format!("    token: {MARKER}{}\n", "t".repeat(MB_20));
    vec![(
        "a 20 MB token",
        write(d, "huge-token", kubeconfig(SERVER, &token)),
        vec![],
    )]
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

/// Each file of `family` as the external cluster's kubeconfig (`--from-kubeconfig`).
fn refused_as_external(family: Family) {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_kubeconfig(dir.path());
    for (case, file, wants) in family(dir.path()) {
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

/// Each file of `family` as the hub's kubeconfig (`--kubeconfig`).
fn refused_as_hub(family: Family) {
    let dir = tempfile::tempdir().unwrap();
    for (case, file, _) in family(dir.path()) {
        for args in [&["list"][..], &["describe", "edge"]] {
            let out = extcluster(&file, args);
            eprintln!("hub {case}, {}: {}", args[0], out.stderr.trim_end());
            refused(&format!("hub {case}, {}", args[0]), &out, &[]);
        }
    }
}

#[test]
fn missing_or_empty_external_kubeconfigs_are_one_clear_line() {
    refused_as_external(missing_or_empty);
}

#[test]
fn missing_or_empty_hub_kubeconfigs_are_one_clear_line() {
    refused_as_hub(missing_or_empty);
}

#[test]
fn external_kubeconfigs_with_broken_references_are_one_clear_line() {
    refused_as_external(broken_references);
}

#[test]
fn hub_kubeconfigs_with_broken_references_are_one_clear_line() {
    refused_as_hub(broken_references);
}

#[test]
fn external_kubeconfigs_with_unusable_logins_are_one_clear_line() {
    refused_as_external(unusable_logins);
}

#[test]
fn hub_kubeconfigs_with_unusable_logins_are_one_clear_line() {
    refused_as_hub(unusable_logins);
}

#[test]
fn external_kubeconfigs_with_bad_encodings_are_one_clear_line() {
    refused_as_external(bad_encodings);
}

#[test]
fn hub_kubeconfigs_with_bad_encodings_are_one_clear_line() {
    refused_as_hub(bad_encodings);
}

#[test]
fn external_kubeconfigs_naming_missing_files_are_one_clear_line() {
    refused_as_external(missing_referenced_files);
}

#[test]
fn hub_kubeconfigs_naming_missing_files_are_one_clear_line() {
    refused_as_hub(missing_referenced_files);
}

#[test]
fn external_kubeconfigs_that_are_not_yaml_kubeconfigs_are_one_clear_line() {
    refused_as_external(not_yaml_kubeconfigs);
}

#[test]
fn hub_kubeconfigs_that_are_not_yaml_kubeconfigs_are_one_clear_line() {
    refused_as_hub(not_yaml_kubeconfigs);
}

// The 20 MB files take longest: one test each, named to be started first.

#[test]
fn external_kubeconfig_of_one_20_mb_scalar_is_one_clear_line() {
    refused_as_external(huge_scalar);
}

#[test]
fn hub_kubeconfig_of_one_20_mb_scalar_is_one_clear_line() {
    refused_as_hub(huge_scalar);
}

#[test]
fn external_kubeconfig_in_20_mb_of_comments_is_one_clear_line() {
    refused_as_external(huge_comments);
}

#[test]
fn hub_kubeconfig_in_20_mb_of_comments_is_one_clear_line() {
    refused_as_hub(huge_comments);
}

#[test]
fn external_kubeconfig_with_a_20_mb_token_is_one_clear_line() {
    refused_as_external(huge_token);
}

#[test]
fn hub_kubeconfig_with_a_20_mb_token_is_one_clear_line() {
    refused_as_hub(huge_token);
}
