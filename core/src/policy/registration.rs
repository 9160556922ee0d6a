//! The rules' view of an ExternalCluster: the fields they read, borrowed from wherever the
//! object was decoded. The webhook deserializes it straight from a request body (no copy of a
//! string without escapes); the plugin borrows it from an owned [`ExternalCluster`].

use crate::api::{
    DISCONNECT_ANNOTATION, ExternalCluster, ExternalClusterSpec, Federated, Mode, Origin, Provider,
    SecretKeyRef,
};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Registration<'a> {
    #[serde(borrow, default)]
    pub metadata: Metadata<'a>,
    #[serde(borrow)]
    pub spec: Spec<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata<'a> {
    #[serde(borrow, default)]
    pub name: Cow<'a, str>,
    #[serde(default, deserialize_with = "is_present")]
    pub deletion_timestamp: bool,
    /// Only capability and extcluster.io annotations are kept.
    #[serde(borrow, default)]
    pub annotations: Relevant<'a>,
    /// Only extcluster.io labels are kept.
    #[serde(borrow, default)]
    pub labels: Relevant<'a>,
}

/// [`ExternalClusterSpec`], field for field, borrowed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec<'a> {
    pub mode: Mode,
    #[serde(default)]
    pub origin: Origin,
    #[serde(default)]
    pub provider: Provider,
    #[serde(rename = "clusterID", borrow)]
    pub cluster_id: Cow<'a, str>,
    #[serde(borrow)]
    pub server: Cow<'a, str>,
    #[serde(borrow)]
    pub kubernetes_version: Cow<'a, str>,
    #[serde(borrow, default)]
    pub kubeconfig_secret_ref: Option<SecretRef<'a>>,
    #[serde(borrow, default, deserialize_with = "optional_str")]
    pub display_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub federated: Option<FederatedView<'a>>,
}

/// [`Federated`], borrowed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FederatedView<'a> {
    #[serde(borrow)]
    pub audience: Cow<'a, str>,
    #[serde(borrow, default)]
    pub username_prefix: Cow<'a, str>,
    pub expiration_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SecretRef<'a> {
    #[serde(borrow)]
    pub namespace: Cow<'a, str>,
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(borrow)]
    pub key: Cow<'a, str>,
}

impl Registration<'_> {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    pub fn disconnect_requested(&self) -> bool {
        self.metadata.annotations.get(DISCONNECT_ANNOTATION) == Some("true")
    }

    /// Live: neither being deleted nor marked for disconnect.
    pub fn is_live(&self) -> bool {
        !self.metadata.deletion_timestamp && !self.disconnect_requested()
    }
}

impl<'a> From<&'a ExternalCluster> for Registration<'a> {
    fn from(c: &'a ExternalCluster) -> Self {
        Registration {
            metadata: Metadata {
                name: Cow::Borrowed(c.metadata.name.as_deref().unwrap_or_default()),
                deletion_timestamp: c.metadata.deletion_timestamp.is_some(),
                annotations: Relevant::from_map(c.metadata.annotations.as_ref()),
                labels: Relevant::from_map(c.metadata.labels.as_ref()),
            },
            spec: Spec::from(&c.spec),
        }
    }
}

impl<'a> From<&'a ExternalClusterSpec> for Spec<'a> {
    /// Destructured without `..`: a field added to the API type does not compile until it is
    /// added to the view, and then not until `rules::SpecChanges` says whether it may change.
    fn from(spec: &'a ExternalClusterSpec) -> Self {
        let ExternalClusterSpec {
            mode,
            origin,
            provider,
            cluster_id,
            server,
            kubernetes_version,
            kubeconfig_secret_ref,
            display_name,
            federated,
        } = spec;
        Spec {
            mode: *mode,
            origin: *origin,
            provider: *provider,
            cluster_id: Cow::Borrowed(cluster_id),
            server: Cow::Borrowed(server),
            kubernetes_version: Cow::Borrowed(kubernetes_version),
            kubeconfig_secret_ref: kubeconfig_secret_ref.as_ref().map(SecretRef::from),
            display_name: display_name.as_deref().map(Cow::Borrowed),
            federated: federated.as_ref().map(FederatedView::from),
        }
    }
}

impl<'a> From<&'a Federated> for FederatedView<'a> {
    fn from(f: &'a Federated) -> Self {
        let Federated {
            audience,
            username_prefix,
            expiration_seconds,
        } = f;
        FederatedView {
            audience: Cow::Borrowed(audience),
            username_prefix: Cow::Borrowed(username_prefix),
            expiration_seconds: *expiration_seconds,
        }
    }
}

impl<'a> From<&'a SecretKeyRef> for SecretRef<'a> {
    fn from(r: &'a SecretKeyRef) -> Self {
        let SecretKeyRef {
            namespace,
            name,
            key,
        } = r;
        SecretRef {
            namespace: Cow::Borrowed(namespace),
            name: Cow::Borrowed(name),
            key: Cow::Borrowed(key),
        }
    }
}

/// The entries of a label or annotation map that the rules read; the rest are skipped unparsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Relevant<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Relevant<'a> {
    fn is_relevant(key: &str) -> bool {
        key.starts_with("extcluster.io/") || key.starts_with("capabilities")
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| &**v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    pub fn from_map(map: Option<&'a BTreeMap<String, String>>) -> Self {
        Relevant(
            map.into_iter()
                .flatten()
                .filter(|(k, _)| Self::is_relevant(k))
                .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
                .collect(),
        )
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Relevant<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Relevant<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of strings")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Relevant::default())
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Self::Value, M::Error> {
                let mut out = Vec::new();
                while let Some(Borrowed(k)) = m.next_key::<Borrowed<'a>>()? {
                    if Relevant::is_relevant(&k) {
                        let Borrowed(v) = m.next_value()?;
                        out.push((k, v));
                    } else {
                        m.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(Relevant(out))
            }
        }
        d.deserialize_any(Visit(std::marker::PhantomData))
    }
}

/// A string that borrows from the input when it has no escapes.
struct Borrowed<'a>(Cow<'a, str>);
impl<'de: 'a, 'a> Deserialize<'de> for Borrowed<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Inner<'a>(#[serde(borrow)] Cow<'a, str>);
        Inner::deserialize(d).map(|Inner(s)| Borrowed(s))
    }
}

/// An optional string that borrows from the input when it has no escapes (serde borrows only a
/// `Cow` that is a field's whole type, and copies one inside an `Option`).
pub fn optional_str<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    Option::<Borrowed<'a>>::deserialize(d).map(|o| o.map(|Borrowed(s)| s))
}

fn is_present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Option::<serde::de::IgnoredAny>::deserialize(d).map(|o| o.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(display_name: &str) -> String {
        format!(
            r#"{{"metadata":{{"name":"a"}},"spec":{{"mode":"Connect","clusterID":"u","server":"s",
            "kubernetesVersion":"v1.29.0","displayName":{display_name}}}}}"#
        )
    }

    #[test]
    fn an_optional_string_borrows_unless_escaped() {
        let plain = spec_with(r#""Production EU""#);
        let r: Registration = serde_json::from_str(&plain).unwrap();
        assert!(matches!(
            r.spec.display_name,
            Some(Cow::Borrowed("Production EU"))
        ));

        let escaped = spec_with(r#""Production \"EU\"""#);
        let r: Registration = serde_json::from_str(&escaped).unwrap();
        assert_eq!(r.spec.display_name.as_deref(), Some(r#"Production "EU""#));

        let absent = spec_with("null");
        let r: Registration = serde_json::from_str(&absent).unwrap();
        assert_eq!(r.spec.display_name, None);
    }
}
