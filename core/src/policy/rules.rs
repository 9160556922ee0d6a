//! The rules: what each operation may do to a registration.

use super::denial::Denial;
use super::operation::Operation;
use super::registration::{Registration, Spec};
use super::registry::{Registry, RegistryUnavailable};
use crate::api::{CLUSTER_ID_LABEL, CRD_NAME, Mode, Origin};
use crate::version::{KubeVersion, VersionRange};
use crate::{capability, exports};

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
        check_annotations(new, None)
    }

    fn decide_update(
        &self,
        new: &Registration<'_>,
        old: &Registration<'_>,
        registry: &(impl Registry + ?Sized),
    ) -> Decision {
        let name = || new.name().to_owned();
        let (n, o) = (&new.spec, &old.spec);
        let changes = SpecChanges::between(n, o);
        if let Some(field) = first_changed(&changes.identity) {
            return Err(Denial::Immutable {
                name: name(),
                field,
            });
        }
        if o.mode == Mode::Connect
            && n.mode == Mode::Connect
            && let Some(field) = first_changed(&changes.read_only_while_connected)
        {
            return Err(Denial::ConnectReadOnly {
                name: name(),
                field,
            });
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
        check_annotations(new, Some(old))
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
                too_new: self.accepted_versions.is_too_new(version),
            })
        }
    }
}

/// The first Kubernetes version without PodSecurityPolicy.
const PSP_REMOVED: KubeVersion = KubeVersion::new(1, 25, 0);

/// What admission allows but warns about: a declaration the cluster's version makes untrue.
/// Kept short: the API server shows a warning as one line, and truncates long ones.
pub fn warning(r: &Registration<'_>) -> Option<String> {
    // Only the keys that can set pspEnabled go on to `declared`, which ranks them.
    let annotations = r.metadata.annotations.iter();
    let psp_keys = annotations.filter(|(k, _)| k.ends_with("/pspEnabled"));
    let psp = capability::declared(psp_keys)
        .into_iter()
        .find(|d| d.capability == capability::Capability::PspEnabled)?;
    let version = KubeVersion::parse(&r.spec.kubernetes_version).ok()?;
    (version >= PSP_REMOVED && psp.value == "true").then(|| {
        format!(
            "{} says pspEnabled=true, but Kubernetes {} has no PodSecurityPolicy (removed in 1.25): set it to false",
            r.name(),
            r.spec.kubernetes_version.trim()
        )
    })
}

/// Which spec fields an update changed, grouped by the rule that governs them. The new spec is
/// destructured without `..`: a field added to [`Spec`] does not compile until it is placed here.
struct SpecChanges {
    /// Never change: they say which cluster this is and how it came to be.
    identity: [(&'static str, bool); 3],
    /// Do not change while the registration stays Connect (read-only).
    read_only_while_connected: [(&'static str, bool); 5],
}

impl SpecChanges {
    fn between(new: &Spec<'_>, old: &Spec<'_>) -> Self {
        let Spec {
            // Free to change: it is what selects the read-only rule.
            mode: _,
            origin,
            provider,
            cluster_id,
            server,
            kubernetes_version,
            kubeconfig_secret_ref,
            display_name,
            federated,
        } = new;
        SpecChanges {
            identity: [
                ("spec.clusterID", *cluster_id != old.cluster_id),
                ("spec.server", *server != old.server),
                ("spec.origin", *origin != old.origin),
            ],
            read_only_while_connected: [
                ("spec.provider", *provider != old.provider),
                (
                    "spec.kubernetesVersion",
                    *kubernetes_version != old.kubernetes_version,
                ),
                (
                    "spec.kubeconfigSecretRef",
                    *kubeconfig_secret_ref != old.kubeconfig_secret_ref,
                ),
                ("spec.displayName", *display_name != old.display_name),
                ("spec.federated", *federated != old.federated),
            ],
        }
    }
}

/// Whether CRD `crd` may be deleted while `imported` (the live, Imported registrations, sorted)
/// exist: not ours, or none would go with it. An error: the registry is not known.
pub fn decide_crd_delete(crd: &str, imported: Result<Vec<&str>, RegistryUnavailable>) -> Decision {
    if crd != CRD_NAME {
        return Ok(());
    }
    match imported {
        Ok(names) if names.is_empty() => Ok(()),
        Ok(names) => Err(Denial::RegistrationsRemain {
            count: names.len(),
            first: names.iter().take(3).map(|n| (*n).to_owned()).collect(),
        }),
        Err(RegistryUnavailable(why)) => Err(Denial::RegistrationsUncounted { why }),
    }
}

fn first_changed(fields: &[(&'static str, bool)]) -> Option<&'static str> {
    fields
        .iter()
        .find(|(_, changed)| *changed)
        .map(|(field, _)| *field)
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

/// Capability and export annotations must be well-formed; on update only the ones that changed
/// are checked, so a registration that predates the webhook can still be disconnected.
fn check_annotations(new: &Registration<'_>, old: Option<&Registration<'_>>) -> Decision {
    for (key, value) in new.metadata.annotations.iter() {
        if old.is_some_and(|o| o.metadata.annotations.get(key) == Some(value)) {
            continue;
        }
        if key == exports::ANNOTATION {
            exports::parse(value).map_err(|error| Denial::Exports {
                name: new.name().to_owned(),
                error,
            })?;
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
