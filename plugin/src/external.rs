//! The external cluster's kubeconfig: read, checked, and cut down to one self-contained context
//! (the files it points to embedded) that the hub can store and use on its own.
//!
//! No message here ever quotes the file's contents: only paths and names.

use base64::Engine;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Map, Value, json};
use std::path::Path;

/// A kubeconfig for one cluster, ready to store in a Secret.
#[derive(Debug, Clone)]
pub struct External {
    /// The context it was taken from (and the only context it has).
    pub context: String,
    pub server: String,
    /// The minimized kubeconfig: one cluster, one user, one context, nothing outside the file.
    pub kubeconfig: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
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
    #[error("cannot read {what} file {file} that {path} refers to: {reason}")]
    Referenced {
        path: String,
        what: &'static str,
        file: String,
        reason: String,
    },
}

/// Reads `path` and keeps only `context` (or its current context).
#[cfg(test)]
pub fn load(path: &Path, context: Option<&str>) -> Result<External, ExternalError> {
    let kc = read(path)?;
    minimize(&kc, &path.display().to_string(), context)
}

/// Reads a kubeconfig file; relative paths in it are made relative to the file's folder.
pub fn read(path: &Path) -> Result<Kubeconfig, ExternalError> {
    let shown = path.display().to_string();
    // Read once ourselves for a clear message on a missing or unreadable file.
    std::fs::metadata(path).map_err(|e| ExternalError::Read {
        path: shown.clone(),
        reason: io_reason(&e),
    })?;
    Kubeconfig::read_from(path).map_err(|e| match e {
        kube::config::KubeconfigError::ReadConfig(io, _) => ExternalError::Read {
            path: shown.clone(),
            reason: io_reason(&io),
        },
        other => ExternalError::Parse {
            path: shown.clone(),
            reason: parse_reason(&other),
        },
    })
}

/// One context of a kubeconfig, resolved: its cluster made self-contained (CA embedded), its user
/// as the file has it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub context: String,
    pub cluster_name: String,
    pub server: String,
    /// The cluster entry: server, CA data (embedded) and the settings that change how it is
    /// reached.
    pub cluster: Map<String, Value>,
    /// The context's namespace, if it sets one.
    pub namespace: Option<String>,
    pub user_name: String,
    pub user: kube::config::AuthInfo,
}

impl Resolved {
    /// Whether the user logs in through a plugin (exec or auth-provider) rather than a token or a
    /// certificate the file holds.
    pub fn uses_plugin(&self) -> bool {
        self.user.exec.is_some() || self.user.auth_provider.is_some()
    }
}

/// The names of the contexts in `kc`, for messages.
pub fn context_names(kc: &Kubeconfig) -> String {
    let names: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

/// Finds `context` (or the current context) in `kc` and makes its cluster self-contained.
pub fn resolve(
    kc: &Kubeconfig,
    path: &str,
    context: Option<&str>,
) -> Result<Resolved, ExternalError> {
    let path_s = path.to_owned();
    let available = || context_names(kc);
    if kc.contexts.is_empty() {
        return Err(ExternalError::NoContexts { path: path_s });
    }
    let name = match context.or(kc.current_context.as_deref()) {
        Some(n) if !n.is_empty() => n.to_owned(),
        _ => {
            return Err(ExternalError::NoCurrentContext {
                path: path_s,
                available: available(),
            });
        }
    };
    let ctx = kc
        .contexts
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.context.clone())
        .ok_or_else(|| ExternalError::UnknownContext {
            path: path_s.clone(),
            context: name.clone(),
            available: available(),
        })?;

    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.clone())
        .ok_or_else(|| ExternalError::MissingCluster {
            path: path_s.clone(),
            context: name.clone(),
            cluster: ctx.cluster.clone(),
        })?;
    let server = cluster
        .server
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ExternalError::MissingServer {
            path: path_s.clone(),
            cluster: ctx.cluster.clone(),
        })?;
    if !server.starts_with("https://") {
        return Err(ExternalError::NotHttps {
            path: path_s,
            cluster: ctx.cluster.clone(),
            server,
        });
    }

    let user_name = ctx.user.clone().unwrap_or_default();
    let user = kc
        .auth_infos
        .iter()
        .find(|u| u.name == user_name)
        .map(|u| u.auth_info.clone().unwrap_or_default())
        .ok_or_else(|| ExternalError::MissingUser {
            path: path_s.clone(),
            context: name.clone(),
            user: user_name.clone(),
        })?;

    // The cluster: server, CA (embedded), and the few settings that change how it is reached.
    let cluster_value = serde_json::to_value(&cluster).unwrap_or(Value::Null);
    let mut c = Map::new();
    c.insert("server".into(), json!(server));
    for key in [
        "certificate-authority-data",
        "insecure-skip-tls-verify",
        "tls-server-name",
        "proxy-url",
        "disable-compression",
    ] {
        if let Some(v) = cluster_value.get(key).filter(|v| !v.is_null()) {
            c.insert(key.into(), v.clone());
        }
    }
    if !c.contains_key("certificate-authority-data")
        && let Some(file) = &cluster.certificate_authority
    {
        let bytes = read_referenced(path, "certificate-authority", file)?;
        c.insert("certificate-authority-data".into(), json!(b64(&bytes)));
    }
    Ok(Resolved {
        context: name,
        cluster_name: ctx.cluster.clone(),
        server,
        cluster: c,
        namespace: ctx.namespace.clone(),
        user_name,
        user,
    })
}

fn read_referenced(path: &str, what: &'static str, file: &str) -> Result<Vec<u8>, ExternalError> {
    std::fs::read(file).map_err(|e| ExternalError::Referenced {
        path: path.to_owned(),
        what,
        file: file.to_owned(),
        reason: io_reason(&e),
    })
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Cuts `kc` down to one context; files it refers to are read and embedded.
pub fn minimize(
    kc: &Kubeconfig,
    path: &str,
    context: Option<&str>,
) -> Result<External, ExternalError> {
    let Resolved {
        context: name,
        cluster_name,
        server,
        cluster: c,
        namespace,
        user_name,
        user,
    } = resolve(kc, path, context)?;
    let path_s = path.to_owned();
    let plugin = |how: String| ExternalError::Plugin {
        path: path_s.clone(),
        context: name.clone(),
        user: user_name.clone(),
        how,
        hint: convert_hint(path, &name),
    };
    if let Some(exec) = &user.exec {
        let command = exec.command.as_deref().unwrap_or("?");
        let base = Path::new(command)
            .file_name()
            .map_or(command.to_owned(), |b| b.to_string_lossy().into_owned());
        return Err(plugin(format!("an exec plugin ({base})")));
    }
    if let Some(p) = &user.auth_provider {
        return Err(plugin(format!("the {:?} auth-provider", p.name)));
    }
    let referenced = |what: &'static str, file: &str| read_referenced(path, what, file);

    // The user: its credentials, embedded. Serializing AuthInfo exposes its secret fields, which
    // is what is wanted here: they go only into the Secret.
    let user_value = serde_json::to_value(&user).unwrap_or(Value::Null);
    let mut u = Map::new();
    if let Value::Object(m) = &user_value {
        for (k, v) in m {
            if v.is_null() {
                continue;
            }
            match k.as_str() {
                "client-certificate" | "client-key" | "tokenFile" | "token-file" => {}
                _ => {
                    u.insert(k.clone(), v.clone());
                }
            }
        }
    }
    if !u.contains_key("client-certificate-data")
        && let Some(file) = &user.client_certificate
    {
        let bytes = referenced("client-certificate", file)?;
        u.insert("client-certificate-data".into(), json!(b64(&bytes)));
    }
    if !u.contains_key("client-key-data")
        && let Some(file) = &user.client_key
    {
        let bytes = referenced("client-key", file)?;
        u.insert("client-key-data".into(), json!(b64(&bytes)));
    }
    if !u.contains_key("token")
        && let Some(file) = &user.token_file
    {
        let bytes = referenced("token", file)?;
        let token = String::from_utf8_lossy(&bytes).trim().to_owned();
        u.insert("token".into(), json!(token));
    }
    let has_cert = u.contains_key("client-certificate-data") && u.contains_key("client-key-data");
    let has_token = u
        .get("token")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    if !has_cert && !has_token {
        return Err(ExternalError::NoCredentials {
            path: path_s,
            context: name,
            user: user_name,
        });
    }

    let mut context_value = json!({"cluster": cluster_name, "user": user_name});
    if let Some(ns) = &namespace {
        context_value["namespace"] = json!(ns);
    }
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": c}],
        "users": [{"name": user_name, "user": u}],
        "contexts": [{"name": name, "context": context_value}],
        "current-context": name,
    });
    Ok(External {
        context: name,
        server,
        kubeconfig,
    })
}

/// The command that turns a plugin-authenticated context into a ServiceAccount-token kubeconfig.
pub fn convert_hint(path: &str, context: &str) -> String {
    let new = format!("{}-extcluster.kubeconfig", safe_file_stem(context));
    format!(
        "kubectl extcluster convert-kubeconfig --from-kubeconfig {} --from-context {} -o {}",
        shell_quote(path),
        shell_quote(context),
        shell_quote(&new)
    )
}

fn safe_file_stem(s: &str) -> String {
    let stem: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if stem.is_empty() {
        "cluster".into()
    } else {
        stem
    }
}

/// Quotes for a POSIX shell only when needed, so the hint can be pasted as it is.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
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
    let text = crate::errors::chain(e);
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

/// A client configuration for a minimized kubeconfig, failing fast on an unreachable server.
pub async fn client_config(kubeconfig: &Value) -> Result<kube::Config, String> {
    let kc: Kubeconfig = serde_json::from_value(kubeconfig.clone())
        .map_err(|e| format!("the stored kubeconfig does not decode: {e}"))?;
    let mut config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| crate::errors::chain(&e))?;
    config.connect_timeout = Some(std::time::Duration::from_secs(5));
    config.read_timeout = Some(std::time::Duration::from_secs(20));
    config.default_retry = false;
    Ok(config)
}

/// Reads a stored (already minimized) kubeconfig back from a Secret's text.
pub fn parse_stored(text: &str) -> Result<Value, String> {
    let kc = Kubeconfig::from_yaml(text).map_err(|e| parse_reason(&e))?;
    serde_json::to_value(&kc).map_err(|e| e.to_string())
}

/// The YAML stored in the Secret.
pub fn to_yaml(kubeconfig: &Value) -> anyhow::Result<String> {
    crate::output::yaml(kubeconfig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

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
        let kc = &ext.kubeconfig;
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
        let text = to_yaml(kc).unwrap();
        assert!(!text.contains("tok-b"), "the other user is dropped");
        assert!(
            !text.contains(dir.path().to_str().unwrap()),
            "no paths left"
        );
        // It reads back as the same kubeconfig.
        assert_eq!(&parse_stored(&text).unwrap()["current-context"], "ctx-a");

        // The current context by default; inline data kept as it is.
        let ext = load(&path, None).unwrap();
        assert_eq!(ext.context, "ctx-b");
        let cluster = &ext.kubeconfig["clusters"][0]["cluster"];
        assert_eq!(cluster["certificate-authority-data"], "Yg==");
        assert_eq!(ext.kubeconfig["users"][0]["user"]["token"], "tok-b");
    }

    #[test]
    fn clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = load(&dir.path().join("nope"), None).unwrap_err();
        assert!(matches!(missing, ExternalError::Read { .. }), "{missing}");
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
