//! The admission policy: one function that takes an operation, the new and old registration and a
//! read-only view of the live registrations, and allows or denies with one plain sentence.
//!
//! It reads a borrowed view of an ExternalCluster ([`Registration`]) rather than the owned API
//! type, so the webhook can decode straight from the request body the few fields the rules read.

use crate::api::{
    CLUSTER_ID_LABEL, DISCONNECT_ANNOTATION, ExternalCluster, Mode, Origin, Provider,
};
use crate::capability::{self, CapabilityError};
use crate::version::{KubeVersion, VersionError, VersionRange};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// The fields of an ExternalCluster the rules read, borrowed from wherever it was decoded.
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
    #[serde(borrow, default)]
    pub display_name: Option<Cow<'a, str>>,
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

    pub fn from_map(map: Option<&'a std::collections::BTreeMap<String, String>>) -> Self {
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

fn is_present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Option::<serde::de::IgnoredAny>::deserialize(d).map(|o| o.is_some())
}

impl<'a> From<&'a ExternalCluster> for Registration<'a> {
    fn from(c: &'a ExternalCluster) -> Self {
        let s = &c.spec;
        Registration {
            metadata: Metadata {
                name: Cow::Borrowed(c.metadata.name.as_deref().unwrap_or_default()),
                deletion_timestamp: c.metadata.deletion_timestamp.is_some(),
                annotations: Relevant::from_map(c.metadata.annotations.as_ref()),
                labels: Relevant::from_map(c.metadata.labels.as_ref()),
            },
            spec: Spec {
                mode: s.mode,
                origin: s.origin,
                provider: s.provider,
                cluster_id: Cow::Borrowed(&s.cluster_id),
                server: Cow::Borrowed(&s.server),
                kubernetes_version: Cow::Borrowed(&s.kubernetes_version),
                kubeconfig_secret_ref: s.kubeconfig_secret_ref.as_ref().map(|r| SecretRef {
                    namespace: Cow::Borrowed(&r.namespace),
                    name: Cow::Borrowed(&r.name),
                    key: Cow::Borrowed(&r.key),
                }),
                display_name: s.display_name.as_deref().map(Cow::Borrowed),
            },
        }
    }
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

/// The registrations the hub holds, as far as the rules need them.
pub trait Registry {
    /// The name of a live registration other than `name` that holds `cluster_id`; an error when
    /// the registry cannot be trusted to know (not yet synced, or out of touch with the hub).
    fn live_holder(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> Result<Option<&str>, RegistryUnavailable>;
}

/// Why the registry cannot answer, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryUnavailable(pub &'static str);

impl Registry for [Registration<'_>] {
    fn live_holder(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> Result<Option<&str>, RegistryUnavailable> {
        Ok(self
            .iter()
            .find(|r| r.is_live() && r.spec.cluster_id == cluster_id && r.name() != name)
            .map(Registration::name))
    }
}

impl<R: Registry + ?Sized> Registry for &R {
    fn live_holder(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> Result<Option<&str>, RegistryUnavailable> {
        (**self).live_holder(cluster_id, name)
    }
}

/// Why a request is denied. `Display` is the sentence the user reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    VersionOutOfRange {
        name: String,
        version: String,
        range: String,
    },
    VersionUnreadable {
        name: String,
        error: VersionError,
    },
    ReImport {
        name: String,
        cluster_id: String,
        existing: String,
    },
    DeleteImported {
        name: String,
    },
    Capability {
        name: String,
        key: String,
        error: CapabilityError,
    },
    Immutable {
        name: String,
        field: &'static str,
    },
    ConnectReadOnly {
        name: String,
        field: &'static str,
    },
    LabelMismatch {
        name: String,
        label: String,
    },
    RegistryUnavailable {
        name: String,
        why: &'static str,
    },
    MissingObject {
        operation: Operation,
    },
}

impl Denial {
    /// A short, stable name for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Denial::VersionOutOfRange { .. } => "version_out_of_range",
            Denial::VersionUnreadable { .. } => "version_unreadable",
            Denial::ReImport { .. } => "reimport",
            Denial::DeleteImported { .. } => "delete_imported",
            Denial::Capability { .. } => "invalid_capability",
            Denial::Immutable { .. } => "immutable_field",
            Denial::ConnectReadOnly { .. } => "connect_read_only",
            Denial::LabelMismatch { .. } => "label_mismatch",
            Denial::MissingObject { .. } => "missing_object",
            Denial::RegistryUnavailable { .. } => "registry_unavailable",
        }
    }

    pub const REASONS: [&'static str; 10] = [
        "version_out_of_range",
        "version_unreadable",
        "reimport",
        "delete_imported",
        "invalid_capability",
        "immutable_field",
        "connect_read_only",
        "label_mismatch",
        "missing_object",
        "registry_unavailable",
    ];
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::VersionOutOfRange {
                name,
                version,
                range,
            } => write!(
                f,
                "cluster {name:?} runs Kubernetes {version}, which is outside the accepted range \
                 {range}; upgrade the cluster, or ask the hub's administrator to change the \
                 webhook's --accepted-versions"
            ),
            Denial::VersionUnreadable { name, error } => write!(
                f,
                "cluster {name:?} has an unreadable spec.kubernetesVersion: {error}; set it to the \
                 gitVersion the cluster's /version reports"
            ),
            Denial::ReImport {
                name,
                cluster_id,
                existing,
            } => write!(
                f,
                "re-import of an active cluster: cluster {cluster_id} is already registered as \
                 {existing:?}, so {name:?} cannot register it again; use {existing:?}, or run \
                 `kubectl extcluster disconnect {existing}` first"
            ),
            Denial::DeleteImported { name } => write!(
                f,
                "{name:?} is an imported cluster and cannot be deleted from the hub; run \
                 `kubectl extcluster disconnect {name}` to remove the registration (the cluster \
                 itself is left untouched)"
            ),
            Denial::Capability { name, key, error } => {
                write!(f, "annotation {key} on {name:?} is invalid: {error}")
            }
            Denial::Immutable { name, field } => write!(
                f,
                "{field} of {name:?} cannot be changed; to point the hub at another cluster, \
                 disconnect {name:?} and register the cluster again"
            ),
            Denial::ConnectReadOnly { name, field } => write!(
                f,
                "{name:?} is connected read-only, so its spec cannot change ({field} did); set \
                 spec.mode to Import first, or register the cluster again"
            ),
            Denial::LabelMismatch { name, label } => write!(
                f,
                "label {CLUSTER_ID_LABEL}={label:?} on {name:?} does not match its spec.clusterID; \
                 remove the label or set it to spec.clusterID"
            ),
            Denial::RegistryUnavailable { name, why } => write!(
                f,
                "cannot check whether the cluster behind {name:?} is already registered: {why}; \
                 retry in a few seconds"
            ),
            Denial::MissingObject { operation } => write!(
                f,
                "the {} request carries no ExternalCluster to check; this is a bug in the caller",
                operation.as_str()
            ),
        }
    }
}

impl std::error::Error for Denial {}

pub type Decision = Result<(), Denial>;

/// The rules, with the one setting they have.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub accepted_versions: VersionRange,
}

impl Policy {
    pub fn new(accepted_versions: VersionRange) -> Self {
        Self { accepted_versions }
    }

    /// Decides a request. `new` is the object for CREATE and UPDATE, `old` for UPDATE and DELETE.
    pub fn decide(
        &self,
        operation: Operation,
        new: Option<&Registration<'_>>,
        old: Option<&Registration<'_>>,
        registry: &(impl Registry + ?Sized),
    ) -> Decision {
        match (operation, new, old) {
            (Operation::Create, Some(new), _) => self.decide_create(new, registry),
            (Operation::Update, Some(new), Some(old)) => self.decide_update(new, old, registry),
            (Operation::Delete, _, Some(old)) => decide_delete(old),
            (Operation::Connect, _, _) => Ok(()),
            (operation, _, _) => Err(Denial::MissingObject { operation }),
        }
    }

    fn decide_create(
        &self,
        new: &Registration<'_>,
        registry: &(impl Registry + ?Sized),
    ) -> Decision {
        self.check_version(new)?;
        check_label(new)?;
        check_not_reimport(new, registry)?;
        check_capabilities(new, None)
    }

    fn decide_update(
        &self,
        new: &Registration<'_>,
        old: &Registration<'_>,
        registry: &(impl Registry + ?Sized),
    ) -> Decision {
        let name = || new.name().to_owned();
        let (n, o) = (&new.spec, &old.spec);
        for (field, changed) in [
            ("spec.clusterID", n.cluster_id != o.cluster_id),
            ("spec.server", n.server != o.server),
            ("spec.origin", n.origin != o.origin),
        ] {
            if changed {
                return Err(Denial::Immutable {
                    name: name(),
                    field,
                });
            }
        }
        if o.mode == Mode::Connect && n.mode == Mode::Connect {
            for (field, changed) in [
                ("spec.provider", n.provider != o.provider),
                (
                    "spec.kubernetesVersion",
                    n.kubernetes_version != o.kubernetes_version,
                ),
                (
                    "spec.kubeconfigSecretRef",
                    n.kubeconfig_secret_ref != o.kubeconfig_secret_ref,
                ),
                ("spec.displayName", n.display_name != o.display_name),
            ] {
                if changed {
                    return Err(Denial::ConnectReadOnly {
                        name: name(),
                        field,
                    });
                }
            }
        }
        if n.kubernetes_version != o.kubernetes_version {
            self.check_version(new)?;
        }
        if new.metadata.labels.get(CLUSTER_ID_LABEL) != old.metadata.labels.get(CLUSTER_ID_LABEL) {
            check_label(new)?;
        }
        // Bringing a disconnected registration back to life is a registration like any other.
        if new.is_live() && !old.is_live() {
            check_not_reimport(new, registry)?;
        }
        check_capabilities(new, Some(old))
    }

    fn check_version(&self, r: &Registration<'_>) -> Decision {
        let raw = &r.spec.kubernetes_version;
        let version = KubeVersion::parse(raw).map_err(|error| Denial::VersionUnreadable {
            name: r.name().to_owned(),
            error,
        })?;
        if self.accepted_versions.contains(version) {
            Ok(())
        } else {
            Err(Denial::VersionOutOfRange {
                name: r.name().to_owned(),
                version: raw.trim().escape_debug().to_string(),
                range: self.accepted_versions.to_string(),
            })
        }
    }
}

fn decide_delete(old: &Registration<'_>) -> Decision {
    if old.spec.origin == Origin::Imported && !old.disconnect_requested() {
        return Err(Denial::DeleteImported {
            name: old.name().to_owned(),
        });
    }
    Ok(())
}

fn check_not_reimport(r: &Registration<'_>, registry: &(impl Registry + ?Sized)) -> Decision {
    match registry.live_holder(&r.spec.cluster_id, r.name()) {
        Ok(Some(existing)) => Err(Denial::ReImport {
            name: r.name().to_owned(),
            cluster_id: r.spec.cluster_id.escape_debug().to_string(),
            existing: existing.to_owned(),
        }),
        Ok(None) => Ok(()),
        Err(RegistryUnavailable(why)) => Err(Denial::RegistryUnavailable {
            name: r.name().to_owned(),
            why,
        }),
    }
}

fn check_label(r: &Registration<'_>) -> Decision {
    match r.metadata.labels.get(CLUSTER_ID_LABEL) {
        Some(label) if label != r.spec.cluster_id => Err(Denial::LabelMismatch {
            name: r.name().to_owned(),
            label: label.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Capability annotations must be well-formed; on update only the ones that changed are checked,
/// so a registration that predates the webhook can still be disconnected.
fn check_capabilities(new: &Registration<'_>, old: Option<&Registration<'_>>) -> Decision {
    for (key, value) in new.metadata.annotations.iter() {
        if old.is_some_and(|o| o.metadata.annotations.get(key) == Some(value)) {
            continue;
        }
        capability::validate_annotation(key, value).map_err(|error| Denial::Capability {
            name: new.name().to_owned(),
            key: key.to_owned(),
            error,
        })?;
    }
    Ok(())
}
