//! What a registration publishes, derived from the registration and its stored kubeconfig alone:
//! its ClusterProfile, and the Argo CD and Flux Secrets it asks for. Pure.

use extcluster_core::ExternalCluster;
use extcluster_core::api::{MANAGED_BY_LABEL, MANAGER};
use extcluster_core::exports::Export;
use extcluster_core::inventory::{self, Endpoint};
use extcluster_remote::kubeconfig::{self, Resolved, file};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::config::Kubeconfig;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Marks a Secret this controller exports; its value names the tool (`argocd`, `flux`).
pub const EXPORT_LABEL: &str = "extcluster.io/export";
/// Names the registration an exported object stands for (a label value cannot hold every name).
pub const REGISTRATION_ANNOTATION: &str = "extcluster.io/registration";
/// Argo CD reads Secrets with this label as clusters.
pub const ARGOCD_SECRET_TYPE: (&str, &str) = ("argocd.argoproj.io/secret-type", "cluster");
/// The key of the kubeconfig Flux's `spec.kubeConfig.secretRef` reads when it names none.
pub const FLUX_KEY: &str = "value";
/// The one key of an exported Secret as the publisher's watch keeps it: a digest of its data.
/// The publisher compares the data and never reads it, and at 5,000 registrations the 10,000
/// copies of kubeconfigs and tokens would be most of its memory.
pub const DATA_DIGEST_KEY: &str = "extcluster.io/data-digest";

/// A digest of a Secret's data (keys and values), stable within this process.
pub fn data_digest(data: Option<&BTreeMap<String, ByteString>>) -> ByteString {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    for (key, value) in data.into_iter().flatten() {
        key.hash(&mut hasher);
        value.0.hash(&mut hasher);
    }
    ByteString(hasher.finish().to_be_bytes().to_vec())
}

/// An exported Secret as the watch keeps it: its data replaced by [`data_digest`] of it.
pub fn keep_digest(secret: &mut Secret) {
    let digest = data_digest(secret.data.as_ref());
    secret.data = Some(BTreeMap::from([(DATA_DIGEST_KEY.to_owned(), digest)]));
    secret.string_data = None;
}

/// Why the stored kubeconfig cannot be handed to another tool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unexportable {
    #[error("its stored kubeconfig is unusable ({0})")]
    Unusable(String),
    #[error(
        "its stored kubeconfig logs in through a plugin, which {tool} cannot run; make a token \
         kubeconfig with `kubectl extcluster convert-kubeconfig --from-kubeconfig FILE -o \
         token.kubeconfig`, then give it to the hub with `kubectl extcluster set-credentials \
         {name} --from-kubeconfig token.kubeconfig`"
    )]
    Plugin { tool: &'static str, name: String },
    #[error(
        "it is federated: the hub stores no credential to hand {tool}, and {tool} cannot mint \
         the hub's tokens itself; reach it through its ClusterProfile, or register it with a \
         stored credential to export it to {tool}"
    )]
    Federated { tool: &'static str },
}

/// How consumers reach the cluster: the stored kubeconfig's cluster entry, without credentials.
pub fn endpoint(cluster: &ExternalCluster, stored: Option<&Kubeconfig>) -> Endpoint {
    let entry = stored.and_then(|kc| kubeconfig::resolve(kc, "the stored kubeconfig", None).ok());
    let Some(entry) = entry else {
        return Endpoint {
            server: cluster.spec.server.clone(),
            ..Endpoint::default()
        };
    };
    let c = &entry.cluster;
    Endpoint {
        server: entry.server.clone(),
        certificate_authority_data: c.certificate_authority_data.clone(),
        tls_server_name: c.tls_server_name.clone(),
        proxy_url: c.proxy_url.clone(),
        insecure_skip_tls_verify: c.insecure_skip_tls_verify.unwrap_or(false),
    }
}

/// The name of the Secret exported for registration `name`: `extc-NAME`, cut to the 253
/// characters a name may have, with a hash of the whole name when cut.
pub fn secret_name(name: &str) -> String {
    let full = format!("extc-{name}");
    if full.len() <= 253 {
        return full;
    }
    let mut hasher = fnv::FnvHasher::default();
    std::hash::Hasher::write(&mut hasher, name.as_bytes());
    let hash = std::hash::Hasher::finish(&hasher);
    format!(
        "{}-{hash:016x}",
        full[..253 - 17].trim_end_matches(['-', '.'])
    )
}

/// The Secret exported to `tool` for `cluster`, in `namespace`.
pub fn secret(
    tool: Export,
    cluster: &ExternalCluster,
    stored: &Kubeconfig,
    namespace: &str,
) -> Result<Secret, Unexportable> {
    if cluster.spec.federated.is_some() {
        let tool = match tool {
            Export::Argocd => "Argo CD",
            Export::Flux => "Flux",
        };
        return Err(Unexportable::Federated { tool });
    }
    let entry = kubeconfig::resolve(stored, "the stored kubeconfig", None)
        .map_err(|e| Unexportable::Unusable(e.to_string()))?;
    let name = cluster.metadata.name.clone().unwrap_or_default();
    let (mut labels, data) = match tool {
        Export::Argocd => {
            let mut labels = cluster.metadata.labels.clone().unwrap_or_default();
            labels.insert(ARGOCD_SECRET_TYPE.0.into(), ARGOCD_SECRET_TYPE.1.into());
            (labels, argocd_data(&name, &entry)?)
        }
        Export::Flux => (BTreeMap::new(), flux_data(&name, &entry)?),
    };
    labels.insert(MANAGED_BY_LABEL.into(), MANAGER.into());
    labels.insert(EXPORT_LABEL.into(), tool.to_string());
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(&name)),
            namespace: Some(namespace.into()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(REGISTRATION_ANNOTATION.into(), name)])),
            owner_references: inventory::owner(cluster).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Secret::default()
    })
}

/// Argo CD's declarative cluster Secret: `name`, `server` and `config` (bearer token or TLS
/// client certificate, CA data, server name, proxy).
fn argocd_data(name: &str, entry: &Resolved) -> Result<BTreeMap<String, ByteString>, Unexportable> {
    let user = &entry.user;
    let c = &entry.cluster;
    let mut tls = json!({ "insecure": c.insecure_skip_tls_verify.unwrap_or(false) });
    let mut config = serde_json::Map::new();
    if let Some(token) = &user.token {
        config.insert("bearerToken".into(), json!(token.expose_secret()));
    } else if let (Some(cert), Some(key)) = (&user.client_certificate_data, &user.client_key_data) {
        tls["certData"] = json!(cert);
        tls["keyData"] = json!(key.expose_secret());
    } else {
        return Err(Unexportable::Plugin {
            tool: "Argo CD",
            name: name.to_owned(),
        });
    }
    if let Some(ca) = &c.certificate_authority_data {
        tls["caData"] = json!(ca);
    }
    if let Some(server_name) = &c.tls_server_name {
        tls["serverName"] = json!(server_name);
    }
    config.insert("tlsClientConfig".into(), tls);
    if let Some(proxy) = &c.proxy_url {
        config.insert("proxyUrl".into(), json!(proxy));
    }
    Ok(BTreeMap::from([
        ("name".into(), bytes(name)),
        ("server".into(), bytes(&entry.server)),
        ("config".into(), bytes(&Value::Object(config).to_string())),
    ]))
}

/// A kubeconfig of the one context, under the key Flux reads by default.
fn flux_data(name: &str, entry: &Resolved) -> Result<BTreeMap<String, ByteString>, Unexportable> {
    if entry.uses_plugin() {
        return Err(Unexportable::Plugin {
            tool: "Flux",
            name: name.to_owned(),
        });
    }
    let one = file::single(&entry.with_user(entry.user_name.clone(), entry.user.clone()));
    let yaml = kubeconfig::to_yaml(&one).map_err(|e| Unexportable::Unusable(e.to_string()))?;
    Ok(BTreeMap::from([(FLUX_KEY.into(), bytes(&yaml))]))
}

fn bytes(s: &str) -> ByteString {
    ByteString(s.as_bytes().to_vec())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use extcluster_core::{ExternalClusterSpec, Mode};

    /// An Imported registration `prod-eu` with a label, as the hub holds one.
    pub(crate) fn cluster() -> ExternalCluster {
        let mut c = ExternalCluster::new(
            "prod-eu",
            ExternalClusterSpec {
                mode: Mode::Import,
                origin: Default::default(),
                provider: Default::default(),
                cluster_id: "id".into(),
                server: "https://a:6443".into(),
                kubernetes_version: "v1.30.0".into(),
                kubeconfig_secret_ref: None,
                display_name: None,
                federated: None,
            },
        );
        c.metadata.uid = Some("u".into());
        c.metadata.labels = Some(BTreeMap::from([("env".into(), "prod".into())]));
        c
    }

    fn stored(user: Value) -> Kubeconfig {
        serde_json::from_value(json!({
            "current-context": "c",
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
            "clusters": [{"name": "k", "cluster": {
                "server": "https://a:6443", "certificate-authority-data": "Q0E=",
                "tls-server-name": "api.a", "proxy-url": "socks5://127.0.0.1:1080"}}],
            "users": [{"name": "u", "user": user}]
        }))
        .unwrap()
    }

    fn text(s: &Secret, key: &str) -> String {
        String::from_utf8(s.data.as_ref().unwrap()[key].0.clone()).unwrap()
    }

    #[test]
    fn argocd_gets_its_documented_cluster_secret() {
        let s = secret(
            Export::Argocd,
            &cluster(),
            &stored(json!({"token": "t0k"})),
            "argocd",
        )
        .unwrap();
        let labels = s.metadata.labels.clone().unwrap();
        assert_eq!(labels["argocd.argoproj.io/secret-type"], "cluster");
        assert_eq!(labels["env"], "prod", "registration labels are copied");
        assert_eq!(s.metadata.name.as_deref(), Some("extc-prod-eu"));
        assert_eq!(
            (text(&s, "name"), text(&s, "server")),
            ("prod-eu".into(), "https://a:6443".into())
        );
        let config: Value = serde_json::from_str(&text(&s, "config")).unwrap();
        assert_eq!(config["bearerToken"], "t0k");
        assert_eq!(config["tlsClientConfig"]["caData"], "Q0E=");
        assert_eq!(config["tlsClientConfig"]["serverName"], "api.a");
        assert_eq!(config["tlsClientConfig"]["insecure"], false);
        assert_eq!(config["proxyUrl"], "socks5://127.0.0.1:1080");
        let certs = secret(
            Export::Argocd,
            &cluster(),
            &stored(json!({"client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZ"})),
            "argocd",
        )
        .unwrap();
        let config: Value = serde_json::from_str(&text(&certs, "config")).unwrap();
        assert_eq!(config["tlsClientConfig"]["certData"], "Q0VSVA==");
        assert!(config.get("bearerToken").is_none());
    }

    #[test]
    fn flux_gets_one_context_under_value() {
        let s = secret(
            Export::Flux,
            &cluster(),
            &stored(json!({"token": "t0k"})),
            "flux-system",
        )
        .unwrap();
        let kc = Kubeconfig::from_yaml(&text(&s, FLUX_KEY)).unwrap();
        assert_eq!(file::token_of(&kc).as_deref(), Some("t0k"));
        assert_eq!(kc.clusters.len(), 1);
        assert!(!s.metadata.labels.unwrap().contains_key("env"));
    }

    #[test]
    fn a_plugin_user_cannot_be_exported() {
        let exec = stored(
            json!({"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1"}}),
        );
        for tool in [Export::Argocd, Export::Flux] {
            let e = secret(tool, &cluster(), &exec, "ns")
                .unwrap_err()
                .to_string();
            assert!(e.contains("set-credentials"), "{e}");
        }
    }

    #[test]
    fn a_federated_registration_is_not_exported_even_with_no_user_at_all() {
        let mut federated = cluster();
        federated.spec.federated = Some(extcluster_core::Federated {
            audience: "extcluster.io/uid".into(),
            username_prefix: "extcluster:".into(),
            expiration_seconds: 600,
        });
        let no_user = stored(json!({}));
        for (tool, name) in [(Export::Argocd, "Argo CD"), (Export::Flux, "Flux")] {
            let e = secret(tool, &federated, &no_user, "ns")
                .unwrap_err()
                .to_string();
            assert!(e.contains("federated") && e.contains(name), "{e}");
            assert!(e.contains("ClusterProfile"), "{e}");
        }
    }

    #[test]
    fn long_names_are_cut_and_kept_apart() {
        let (a, b) = ("a".repeat(253), format!("{}b", "a".repeat(252)));
        let (na, nb) = (secret_name(&a), secret_name(&b));
        assert!(na.len() <= 253 && nb.len() <= 253);
        assert_ne!(na, nb);
    }
}
