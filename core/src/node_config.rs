//! What K3s and RKE2 record on each node about how it was started: the launch arguments
//! (`k3s.io/node-args`), the distribution's environment (`k3s.io/node-env`) and their hash
//! (`k3s.io/node-config-hash`), with every secret value replaced by `********` whatever the
//! node says: K3s masks them itself, but an older or modified one may not have.

use std::collections::BTreeMap;

/// How a masked value is shown (the string K3s itself writes).
pub const MASKED: &str = "********";

/// The distributions that record their configuration, by annotation prefix.
const PROGRAMS: [&str; 2] = ["k3s.io", "rke2.io"];

/// A node's recorded configuration, secrets masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// `k3s` or `rke2`.
    pub program: &'static str,
    /// The launch arguments, or why they could not be read.
    pub args: Result<Vec<String>, String>,
    /// The distribution's environment variables, sorted, or why they could not be read.
    pub env: Result<Vec<(String, String)>, String>,
    pub hash: Option<String>,
}

/// The configuration a node's annotations record, if it is a K3s or RKE2 node.
pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Option<NodeConfig> {
    PROGRAMS.into_iter().find_map(|domain| {
        let get = |what: &str| annotations.get(&format!("{domain}/node-{what}"));
        let (args, env) = (get("args"), get("env"));
        if args.is_none() && env.is_none() {
            return None;
        }
        Some(NodeConfig {
            program: domain.trim_end_matches(".io"),
            args: args.map_or(Ok(Vec::new()), |raw| read_args(raw)),
            env: env.map_or(Ok(Vec::new()), |raw| read_env(raw)),
            hash: get("config-hash").cloned(),
        })
    })
}

fn read_args(raw: &str) -> Result<Vec<String>, String> {
    let mut args: Vec<String> =
        serde_json::from_str(raw).map_err(|e| format!("not a JSON list of arguments ({e})"))?;
    let mut mask_next = false;
    for arg in &mut args {
        if std::mem::take(&mut mask_next) {
            *arg = MASKED.to_owned();
            continue;
        }
        match arg.split_once('=') {
            Some((flag, _)) if arg.starts_with('-') && secret_flag(flag) => {
                *arg = format!("{flag}={MASKED}");
            }
            None if secret_flag(arg) => mask_next = true,
            _ => {}
        }
    }
    Ok(args)
}

fn read_env(raw: &str) -> Result<Vec<(String, String)>, String> {
    let env: BTreeMap<String, String> =
        serde_json::from_str(raw).map_err(|e| format!("not a JSON object of variables ({e})"))?;
    Ok(env
        .into_iter()
        .map(|(k, v)| {
            let v = if secret_variable(&k) {
                MASKED.to_owned()
            } else {
                v
            };
            (k, v)
        })
        .collect())
}

/// The flags whose value K3s masks, and any other that names a secret.
fn secret_flag(flag: &str) -> bool {
    const MASKED_BY_K3S: [&str; 7] = [
        "--token",
        "-t",
        "--agent-token",
        "--datastore-endpoint",
        "--cluster-secret",
        "--etcd-s3-access-key",
        "--etcd-s3-secret-key",
    ];
    MASKED_BY_K3S.contains(&flag) || {
        let f = flag.to_ascii_lowercase();
        f.starts_with('-')
            && ["token", "secret", "password", "access-key", "private-key"]
                .iter()
                .any(|word| f.contains(word))
    }
}

/// The variables whose value K3s masks (`K3S_TOKEN`, `RKE2_DATASTORE_ENDPOINT`, AWS keys…), and
/// any other that names a secret.
fn secret_variable(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    n.ends_with("_DATASTORE_ENDPOINT")
        || ["TOKEN", "SECRET", "PASSWORD", "ACCESS_KEY", "PRIVATE_KEY"]
            .iter()
            .any(|word| n.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn secrets_are_masked_whether_or_not_the_node_masked_them() {
        let a = annotations(&[
            (
                "k3s.io/node-args",
                r#"["server","--token","K10abc::server:s3cret","--disable","traefik","-t","short","--etcd-s3-secret-key=AKIAxyz","--datastore-endpoint","postgres://u:pw@db/k3s","--node-label","tier=edge"]"#,
            ),
            (
                "k3s.io/node-env",
                r#"{"K3S_TOKEN":"K10abc::server:s3cret","K3S_NODE_NAME":"edge-1","AWS_SECRET_ACCESS_KEY":"wJalr","K3S_DATASTORE_ENDPOINT":"mysql://root:pw@tcp(db)/k3s"}"#,
            ),
            ("k3s.io/node-config-hash", "ABCDEF234567"),
        ]);
        let c = from_annotations(&a).expect("a K3s node");
        assert_eq!(c.program, "k3s");
        assert_eq!(
            c.args.unwrap(),
            [
                "server",
                "--token",
                MASKED,
                "--disable",
                "traefik",
                "-t",
                MASKED,
                "--etcd-s3-secret-key=********",
                "--datastore-endpoint",
                MASKED,
                "--node-label",
                "tier=edge"
            ]
        );
        let env = c.env.unwrap();
        assert_eq!(
            env,
            [
                ("AWS_SECRET_ACCESS_KEY".to_owned(), MASKED.to_owned()),
                ("K3S_DATASTORE_ENDPOINT".to_owned(), MASKED.to_owned()),
                ("K3S_NODE_NAME".to_owned(), "edge-1".to_owned()),
                ("K3S_TOKEN".to_owned(), MASKED.to_owned()),
            ]
        );
        assert_eq!(c.hash.as_deref(), Some("ABCDEF234567"));
    }

    #[test]
    fn rke2_nodes_too_and_other_nodes_not_at_all() {
        let rke2 = annotations(&[("rke2.io/node-env", r#"{"RKE2_TOKEN":"x"}"#)]);
        let c = from_annotations(&rke2).unwrap();
        assert_eq!(c.program, "rke2");
        assert_eq!(c.env.unwrap()[0].1, MASKED);
        assert_eq!(from_annotations(&annotations(&[("other", "x")])), None);
        let broken = annotations(&[("k3s.io/node-args", "not json")]);
        let error = from_annotations(&broken).unwrap().args.unwrap_err();
        assert!(error.contains("not a JSON list"), "{error}");
    }
}
