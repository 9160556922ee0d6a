//! Kubeconfigs of external clusters: read, one context resolved and cut down to what the hub can
//! store and use on its own, and the files convert-kubeconfig writes. Typed throughout
//! ([`kube::config::Kubeconfig`]); only `--in-place` reads a file as plain data (see [`file`]).
//!
//! No message here ever quotes a file's contents: only paths and names.

pub mod file;
mod minimize;
mod resolve;

pub use minimize::{Minimized, convert_hint, minimize, shell_quote};
pub use resolve::{Entry, Resolved, context_names, resolve};

use kube::config::Kubeconfig;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read kubeconfig {path}: {reason}; check the path given to --from-kubeconfig")]
    Read { path: String, reason: String },
    #[error(
        "{path} is not a valid kubeconfig ({reason}); give --from-kubeconfig a kubeconfig file with clusters, users and contexts"
    )]
    Parse { path: String, reason: String },
    #[error(
        "{path} has no contexts; give --from-kubeconfig a kubeconfig with at least one context"
    )]
    NoContexts { path: String },
    #[error("{path} sets no current-context; pass --from-context with one of: {available}")]
    NoCurrentContext { path: String, available: String },
    #[error("context {context:?} is not in {path}; available contexts: {available}")]
    UnknownContext {
        path: String,
        context: String,
        available: String,
    },
    #[error(
        "context {context:?} in {path} names cluster {cluster:?}, which {path} does not define; fix the kubeconfig"
    )]
    MissingCluster {
        path: String,
        context: String,
        cluster: String,
    },
    #[error("cluster {cluster:?} in {path} has no server URL; fix the kubeconfig")]
    MissingServer { path: String, cluster: String },
    #[error(
        "cluster {cluster:?} in {path} has server {server:?}, which is not https://; the hub only registers clusters it reaches over TLS"
    )]
    NotHttps {
        path: String,
        cluster: String,
        server: String,
    },
    #[error(
        "user {user:?} of context {context:?} in {path} authenticates with {how}, which the hub cannot run; make a kubeconfig with a ServiceAccount token with `{hint}`, then register from that file (or pass --convert to do both in one step)"
    )]
    Plugin {
        path: String,
        context: String,
        user: String,
        how: String,
        hint: String,
    },
    #[error(
        "user {user:?} of context {context:?} in {path} has no client certificate and no token; use a kubeconfig whose user has one"
    )]
    NoCredentials {
        path: String,
        context: String,
        user: String,
    },
    #[error(
        "context {context:?} in {path} names user {user:?}, which {path} does not define; fix the kubeconfig"
    )]
    MissingUser {
        path: String,
        context: String,
        user: String,
    },
    #[error(
        "KUBECONFIG={list}: {reason}; point KUBECONFIG at kubeconfig files, or pass --kubeconfig"
    )]
    Environment { list: String, reason: String },
    #[error("cannot read {what} file {file} that {path} refers to: {reason}")]
    Referenced {
        path: String,
        what: &'static str,
        file: String,
        reason: String,
    },
}

/// Reads a kubeconfig file; relative paths in it are made relative to the file's folder.
pub fn read(path: &Path) -> Result<Kubeconfig, Error> {
    let shown = path.display().to_string();
    // Read once ourselves for a clear message on a missing or unreadable file.
    std::fs::metadata(path).map_err(|e| Error::Read {
        path: shown.clone(),
        reason: io_reason(&e),
    })?;
    Kubeconfig::read_from(path).map_err(|e| match e {
        kube::config::KubeconfigError::ReadConfig(io, _) => Error::Read {
            path: shown.clone(),
            reason: io_reason(&io),
        },
        other => Error::Parse {
            path: shown.clone(),
            reason: parse_reason(&other),
        },
    })
}

/// The kubeconfig kubectl uses when given none: the files `KUBECONFIG` lists, merged (the first
/// to set a value wins), skipping the ones that do not exist as kubectl does; without
/// `KUBECONFIG`, `~/.kube/config`. `None` when there is no such file.
pub fn from_environment() -> Result<Option<Kubeconfig>, Error> {
    let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) else {
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        return match home.map(|h| h.join(".kube/config")).filter(|p| p.exists()) {
            Some(path) => read(&path).map(Some),
            None => Ok(None),
        };
    };
    let shown = list.to_string_lossy().into_owned();
    let existing: Vec<_> = std::env::split_paths(&list)
        .filter(|p| !p.as_os_str().is_empty() && p.exists())
        .collect();
    let mut merged: Option<Kubeconfig> = None;
    for path in &existing {
        let next = read(path)?;
        merged = Some(match merged {
            None => next,
            Some(kc) => kc.merge(next).map_err(|e| Error::Environment {
                list: shown.clone(),
                reason: parse_reason(&e),
            })?,
        });
    }
    match merged {
        Some(kc) => Ok(Some(kc)),
        None => Err(Error::Environment {
            list: shown,
            reason: "none of the files it lists exists".into(),
        }),
    }
}

/// Reads a stored (already minimized) kubeconfig back from a Secret's text; the error says why
/// it is not usable, without quoting it.
pub fn parse_stored(text: &str) -> Result<Kubeconfig, String> {
    Kubeconfig::from_yaml(text).map_err(|e| parse_reason(&e))
}

/// A kubeconfig as YAML, the way it is stored in a Secret or written to a file.
pub fn to_yaml(kubeconfig: &Kubeconfig) -> Result<String, crate::yaml::Error> {
    crate::yaml::to_string(kubeconfig)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "it is a directory".into(),
        _ => {
            // The OS message, without the raw error code noise.
            let s = e.to_string();
            s.split(" (os error").next().unwrap_or(&s).to_owned()
        }
    }
}

/// Why a kubeconfig did not parse, without quoting any of its text: YAML errors can carry a
/// snippet of the input, which may be a key or a token.
fn parse_reason(e: &kube::config::KubeconfigError) -> String {
    let text = crate::failure::chain(e);
    let number_after = |key: &str| {
        text.find(key).and_then(|i| {
            let digits: String = text[i + key.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            (!digits.is_empty()).then_some(digits)
        })
    };
    let what = "YAML that does not read as a kubeconfig";
    match (number_after("line "), number_after("column ")) {
        (Some(l), Some(c)) => format!("{what} at line {l}, column {c}"),
        (Some(l), None) => format!("{what} at line {l}"),
        _ => what.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use std::path::PathBuf;

    /// Reads `path` and keeps only `context` (or its current context).
    fn load(path: &Path, context: Option<&str>) -> Result<Minimized, Error> {
        let kc = read(path)?;
        minimize(&kc, &path.display().to_string(), context)
    }

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn two_contexts(user_a: &str) -> String {
        format!(
            r#"apiVersion: v1
kind: Config
clusters:
- name: a
  cluster:
    server: https://a.example.com:6443
    certificate-authority: ca.crt
- name: b
  cluster:
    server: https://b.example.com
    certificate-authority-data: Yg==
users:
- name: ua
  user:
{user_a}
- name: ub
  user:
    token: tok-b
contexts:
- name: ctx-a
  context: {{cluster: a, user: ua, namespace: apps}}
- name: ctx-b
  context: {{cluster: b, user: ub}}
current-context: ctx-b
"#
        )
    }

    #[test]
    fn keeps_one_context_and_embeds_files() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "ca.crt", CA);
        write(dir.path(), "client.crt", "CERT");
        write(dir.path(), "client.key", "KEY");
        write(dir.path(), "token", "  tok-from-file\n");
        let user =
            "    client-certificate: client.crt\n    client-key: client.key\n    tokenFile: token";
        let path = write(dir.path(), "config", &two_contexts(user));

        let ext = load(&path, Some("ctx-a")).unwrap();
        assert_eq!(ext.context, "ctx-a");
        assert_eq!(ext.server, "https://a.example.com:6443");
        let kc = &serde_json::to_value(&ext.kubeconfig).unwrap();
        assert_eq!(kc["current-context"], "ctx-a");
        assert_eq!(kc["contexts"].as_array().unwrap().len(), 1);
        assert_eq!(kc["clusters"].as_array().unwrap().len(), 1);
        assert_eq!(kc["users"].as_array().unwrap().len(), 1);
        assert_eq!(kc["contexts"][0]["context"]["namespace"], "apps");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let cluster = &kc["clusters"][0]["cluster"];
        // kube adds the trailing newline a PEM file would have; the CA already has one.
        assert_eq!(cluster["certificate-authority-data"], b64(CA));
        assert!(cluster.get("certificate-authority").is_none());
        let user = &kc["users"][0]["user"];
        assert_eq!(user["client-certificate-data"], b64("CERT"));
        assert_eq!(user["client-key-data"], b64("KEY"));
        assert_eq!(user["token"], "tok-from-file");
        for key in ["client-certificate", "client-key", "tokenFile"] {
            assert!(user.get(key).is_none(), "{key} left in {user}");
        }
        let text = to_yaml(&ext.kubeconfig).unwrap();
        assert!(!text.contains("tok-b"), "the other user is dropped");
        assert!(
            !text.contains(dir.path().to_str().unwrap()),
            "no paths left"
        );
        // It reads back as the same kubeconfig.
        assert_eq!(
            parse_stored(&text).unwrap().current_context.as_deref(),
            Some("ctx-a")
        );

        // The current context by default; inline data kept as it is.
        let ext = load(&path, None).unwrap();
        assert_eq!(ext.context, "ctx-b");
        let kc = serde_json::to_value(&ext.kubeconfig).unwrap();
        let cluster = &kc["clusters"][0]["cluster"];
        assert_eq!(cluster["certificate-authority-data"], "Yg==");
        assert_eq!(kc["users"][0]["user"]["token"], "tok-b");
    }

    #[test]
    fn clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = load(&dir.path().join("nope"), None).unwrap_err();
        assert!(matches!(missing, Error::Read { .. }), "{missing}");
        assert!(missing.to_string().contains("no such file"), "{missing}");

        write(dir.path(), "ca.crt", CA);
        let path = write(dir.path(), "config", &two_contexts("    token: t"));
        let unknown = load(&path, Some("ctx-z")).unwrap_err().to_string();
        assert!(unknown.contains("\"ctx-z\""), "{unknown}");
        assert!(unknown.contains("ctx-a, ctx-b"), "{unknown}");

        let exec = "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: /usr/local/bin/aws\n      args: [eks, get-token]";
        let path = write(dir.path(), "exec", &two_contexts(exec));
        let msg = load(&path, Some("ctx-a")).unwrap_err().to_string();
        assert!(msg.contains("exec plugin (aws)"), "{msg}");
        assert!(msg.contains("\"ua\""), "names the user: {msg}");
        let hint = format!(
            "kubectl extcluster convert-kubeconfig --from-kubeconfig {} --from-context ctx-a -o ctx-a-extcluster.kubeconfig",
            path.display()
        );
        assert!(msg.contains(&hint), "{msg}");

        let oidc =
            "    auth-provider:\n      name: oidc\n      config: {id-token: secret-id-token}";
        let path = write(dir.path(), "oidc", &two_contexts(oidc));
        let msg = load(&path, Some("ctx-a")).unwrap_err().to_string();
        assert!(msg.contains("\"oidc\" auth-provider"), "{msg}");
        assert!(!msg.contains("secret-id-token"), "{msg}");

        let path = write(dir.path(), "nocred", &two_contexts("    username: admin"));
        let msg = load(&path, Some("ctx-a")).unwrap_err().to_string();
        assert!(msg.contains("no client certificate and no token"), "{msg}");

        let path = write(dir.path(), "noca", &two_contexts("    token: t"));
        std::fs::remove_file(dir.path().join("ca.crt")).ok();
        let msg = load(&path, Some("ctx-a")).unwrap_err().to_string();
        assert!(msg.contains("certificate-authority file"), "{msg}");

        let http = two_contexts("    token: t").replace("https://b.example.com", "http://b");
        let path = write(dir.path(), "http", &http);
        let msg = load(&path, None).unwrap_err().to_string();
        assert!(msg.contains("not https://"), "{msg}");

        let path = write(
            dir.path(),
            "garbage",
            "clusters: [\n  secret-token-value: {\n",
        );
        let msg = load(&path, None).unwrap_err().to_string();
        assert!(msg.contains("not a valid kubeconfig"), "{msg}");
        assert!(
            !msg.contains("secret-token-value"),
            "quotes no content: {msg}"
        );

        let path = write(
            dir.path(),
            "nocurrent",
            &two_contexts("    token: t").replace("current-context: ctx-b\n", ""),
        );
        let msg = load(&path, None).unwrap_err().to_string();
        assert!(
            msg.contains("--from-context") && msg.contains("ctx-a, ctx-b"),
            "{msg}"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/tmp/a.kubeconfig"), "/tmp/a.kubeconfig");
        assert_eq!(shell_quote("my file"), "'my file'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(
            convert_hint("/x/kc", "arn:aws:eks:eu/prod"),
            "kubectl extcluster convert-kubeconfig --from-kubeconfig /x/kc --from-context arn:aws:eks:eu/prod -o arn-aws-eks-eu-prod-extcluster.kubeconfig"
        );
    }
}
