//! Kubeconfig files that are written: built from self-contained contexts, merged into an existing
//! file for `--in-place`, and written atomically with mode 0600 so a failure leaves the old file as
//! it was and no other user can read the token.
//!
//! `--in-place` reads and merges the user's file as plain data rather than as a
//! [`Kubeconfig`]: kube's types drop the fields of an exec section they do not model and add
//! `provideClusterInfo`, and the contexts that are not converted must come back as they were.

use super::Entry;
use kube::config::{AuthInfo, Kubeconfig};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The user entry name for a converted context: `<service-account>@<context>`.
pub fn user_name(service_account: &str, context: &str) -> String {
    format!("{service_account}@{context}")
}

/// A user that authenticates with `token` and nothing else.
pub fn token_user(token: String) -> AuthInfo {
    AuthInfo {
        token: Some(token.into()),
        ..Default::default()
    }
}

/// A new kubeconfig holding only `entries`; `current` becomes its current context.
pub fn build(entries: &[Entry], current: &str) -> Kubeconfig {
    let mut clusters: Vec<kube::config::NamedCluster> = Vec::new();
    for e in entries {
        if !clusters.iter().any(|c| c.name == e.cluster_name) {
            clusters.push(e.named_cluster());
        }
    }
    Kubeconfig {
        clusters,
        auth_infos: entries.iter().map(Entry::named_user).collect(),
        contexts: entries.iter().map(Entry::named_context).collect(),
        current_context: Some(current.to_owned()),
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        ..Default::default()
    }
}

/// One entry alone: what the hub stores for one registration.
pub fn single(entry: &Entry) -> Kubeconfig {
    build(std::slice::from_ref(entry), &entry.context)
}

/// The name of the user entry the current context of `kubeconfig` authenticates as.
pub fn current_user_name(kubeconfig: &Kubeconfig) -> Option<String> {
    let current = kubeconfig.current_context.as_deref()?;
    let context = kubeconfig.contexts.iter().find(|c| c.name == current)?;
    context.context.as_ref()?.user.clone()
}

/// The user the current context of `kubeconfig` authenticates as.
pub fn current_user(kubeconfig: &Kubeconfig) -> Option<&kube::config::AuthInfo> {
    let user = current_user_name(kubeconfig)?;
    let entry = kubeconfig.auth_infos.iter().find(|u| u.name == user)?;
    entry.auth_info.as_ref()
}

/// The cluster the current context of `kubeconfig` reaches.
pub fn current_cluster(kubeconfig: &Kubeconfig) -> Option<&kube::config::Cluster> {
    let current = kubeconfig.current_context.as_deref()?;
    let context = kubeconfig.contexts.iter().find(|c| c.name == current)?;
    let cluster = context.context.as_ref()?.cluster.as_str();
    let entry = kubeconfig.clusters.iter().find(|c| c.name == cluster)?;
    entry.cluster.as_ref()
}

/// The token the current context of `kubeconfig` authenticates with, if it is a token user.
pub fn token_of(kubeconfig: &Kubeconfig) -> Option<String> {
    use secrecy::ExposeSecret;
    let token = current_user(kubeconfig)?.token.as_ref()?;
    Some(token.expose_secret().to_owned())
}

fn json_of<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// `original` with each converted context pointed at its new token user. Everything else is kept
/// as it was: other contexts, clusters (the file's own CA references still work), preferences,
/// extensions. A user entry that no context uses any more is dropped.
pub fn merge(mut original: Value, entries: &[Entry]) -> Value {
    if !original.is_object() {
        original = json!({});
    }
    let doc = original.as_object_mut().expect("an object");
    let list = |doc: &mut Map<String, Value>, key: &str| -> Vec<Value> {
        match doc.remove(key) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        }
    };
    let mut contexts = list(doc, "contexts");
    let mut users = list(doc, "users");
    let mut replaced_users = Vec::new();
    for e in entries {
        match contexts.iter_mut().find(|c| c["name"] == json!(e.context)) {
            Some(c) => {
                if let Some(old) = c["context"]["user"].as_str() {
                    replaced_users.push(old.to_owned());
                }
                c["context"]["user"] = json!(e.user_name);
            }
            None => contexts.push(json_of(&e.named_context())),
        }
        let user = json_of(&e.named_user());
        match users.iter_mut().find(|u| u["name"] == json!(e.user_name)) {
            Some(u) => *u = user,
            None => users.push(user),
        }
    }
    let used: Vec<String> = contexts
        .iter()
        .filter_map(|c| c["context"]["user"].as_str().map(str::to_owned))
        .collect();
    users.retain(|u| {
        let name = u["name"].as_str().unwrap_or_default();
        !replaced_users.iter().any(|r| r == name) || used.iter().any(|n| n == name)
    });
    doc.insert("contexts".into(), Value::Array(contexts));
    doc.insert("users".into(), Value::Array(users));
    doc.entry("apiVersion").or_insert(json!("v1"));
    doc.entry("kind").or_insert(json!("Config"));
    original
}

/// Reads a kubeconfig as plain data, for `--in-place`: every field it has is kept.
pub fn read_value(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    serde_saphyr::from_str::<Value>(&text).map_err(|_| "it is not a valid kubeconfig".to_owned())
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, mode 0600, flushed
/// to disk, then renamed over `path`. When `path` is a symlink (as `~/.kube/config` often is) the
/// file it points to is replaced and the link kept. On any failure `path` is left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path)?,
        _ => path.to_path_buf(),
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // tempfile creates the file with mode 0600.
    let mut tmp = tempfile::Builder::new()
        .prefix(".kubeconfig-")
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| e.error)?;
    // The rename itself is durable once the folder is synced.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn entry(context: &str, cluster: &str) -> Entry {
        Entry {
            context: context.into(),
            cluster_name: cluster.into(),
            cluster: kube::config::Cluster {
                server: Some(format!("https://{cluster}:6443")),
                certificate_authority_data: Some("Q0E=".into()),
                ..Default::default()
            },
            namespace: Some("apps".into()),
            user_name: user_name("extcluster-manager", context),
            user: token_user(format!("token-{context}")),
        }
    }

    #[test]
    fn builds_one_context_per_conversion() {
        let typed = build(&[entry("a", "ca"), entry("b", "ca")], "b");
        let kc = json_of(&typed);
        assert_eq!(kc["current-context"], "b");
        assert_eq!(
            kc["clusters"].as_array().unwrap().len(),
            1,
            "shared cluster"
        );
        assert_eq!(kc["users"].as_array().unwrap().len(), 2);
        assert_eq!(kc["users"][0]["name"], "extcluster-manager@a");
        assert_eq!(kc["users"][0]["user"]["token"], "token-a");
        assert_eq!(kc["contexts"][1]["context"]["namespace"], "apps");
        assert_eq!(
            kc["clusters"][0]["cluster"]["certificate-authority-data"],
            "Q0E="
        );
        // It reads back as a kubeconfig kube understands.
        let text = crate::yaml::to_string(&typed).unwrap();
        let parsed = kube::config::Kubeconfig::from_yaml(&text).unwrap();
        assert_eq!(parsed.contexts.len(), 2);
        assert_eq!(
            single(&entry("x", "cx")).current_context.as_deref(),
            Some("x")
        );
        assert_eq!(token_of(&typed).as_deref(), Some("token-b"));
    }

    #[test]
    fn merge_keeps_everything_else() {
        let original = json!({
            "apiVersion": "v1", "kind": "Config",
            "preferences": {"colors": true},
            "clusters": [
                {"name": "ca", "cluster": {"server": "https://ca:6443", "certificate-authority": "/etc/ca.crt"}},
                {"name": "other", "cluster": {"server": "https://other"}}
            ],
            "users": [
                {"name": "sso", "user": {"exec": {"command": "aws"}}},
                {"name": "shared", "user": {"exec": {"command": "kubelogin"}}},
                {"name": "other-user", "user": {"token": "keep"}}
            ],
            "contexts": [
                {"name": "a", "context": {"cluster": "ca", "user": "sso"}},
                {"name": "b", "context": {"cluster": "ca", "user": "shared"}},
                {"name": "c", "context": {"cluster": "other", "user": "shared"}},
                {"name": "d", "context": {"cluster": "other", "user": "other-user"}}
            ],
            "current-context": "d"
        });
        let merged = merge(original, &[entry("a", "ca"), entry("b", "ca")]);
        assert_eq!(merged["current-context"], "d");
        assert_eq!(merged["preferences"]["colors"], true);
        assert_eq!(
            merged["clusters"][0]["cluster"]["certificate-authority"],
            "/etc/ca.crt"
        );
        let users: Vec<&str> = merged["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap())
            .collect();
        // "sso" is used by no context any more; "shared" still is (by c).
        assert_eq!(
            users,
            [
                "shared",
                "other-user",
                "extcluster-manager@a",
                "extcluster-manager@b"
            ]
        );
        assert_eq!(
            merged["contexts"][0]["context"]["user"],
            "extcluster-manager@a"
        );
        assert_eq!(merged["contexts"][0]["context"]["cluster"], "ca");
        assert_eq!(merged["contexts"][2]["context"]["user"], "shared");
        assert_eq!(merged["contexts"].as_array().unwrap().len(), 4);
        // Merging again changes nothing.
        let again = merge(merged.clone(), &[entry("a", "ca"), entry("b", "ca")]);
        assert_eq!(again, merged);
    }

    #[test]
    fn writes_atomically_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.kubeconfig");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");

        // Through a symlink: the target is replaced, the link kept.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        write_atomic(&link, b"via link").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "via link");

        // A failure (the target is a non-empty folder) leaves it as it was, and no temp file.
        let busy = dir.path().join("busy");
        std::fs::create_dir(&busy).unwrap();
        std::fs::write(busy.join("keep"), "x").unwrap();
        assert!(write_atomic(&busy, b"new").is_err());
        assert_eq!(std::fs::read_to_string(busy.join("keep")).unwrap(), "x");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
        // No folder to write in: an error, nothing created.
        assert!(write_atomic(&dir.path().join("missing/out"), b"x").is_err());
    }
}
