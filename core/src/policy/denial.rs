//! Why a request is denied, in the sentence the user reads.

use super::operation::Operation;
use crate::api::{CLUSTER_ID_LABEL, CRD_NAME, GUARD_LABEL};
use crate::capability::CapabilityError;
use crate::exports::ExportsError;
use crate::version::VersionError;
use std::fmt;

/// Why a request is denied. `Display` is the sentence the user reads; the variant's name in
/// snake_case (or the one given) is its [`reason`](Denial::reason), for metrics.
#[derive(Debug, Clone, PartialEq, Eq, strum::IntoStaticStr, strum::VariantNames)]
#[strum(serialize_all = "snake_case")]
pub enum Denial {
    VersionOutOfRange {
        name: String,
        version: String,
        range: String,
        /// Newer than the range allows (else older).
        too_new: bool,
    },
    VersionUnreadable {
        name: String,
        error: VersionError,
    },
    #[strum(serialize = "reimport")]
    ReImport {
        name: String,
        cluster_id: String,
        existing: String,
    },
    DeleteImported {
        name: String,
    },
    #[strum(serialize = "invalid_capability")]
    Capability {
        name: String,
        key: String,
        error: CapabilityError,
    },
    #[strum(serialize = "invalid_exports")]
    Exports {
        name: String,
        error: ExportsError,
    },
    #[strum(serialize = "immutable_field")]
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
    /// Deleting the CRD would take these imported registrations, and their kubeconfigs, along.
    RegistrationsRemain {
        count: usize,
        first: Vec<String>,
    },
    /// The registry is not known well enough to say whether the CRD may go.
    RegistrationsUncounted {
        why: &'static str,
    },
}

impl Denial {
    /// A short, stable name for metrics.
    pub fn reason(&self) -> &'static str {
        self.into()
    }

    /// Every [`reason`](Self::reason).
    pub const REASONS: &'static [&'static str] = <Self as strum::VariantNames>::VARIANTS;
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::VersionOutOfRange {
                name,
                version,
                range,
                too_new,
            } => out_of_range(f, name, version, range, *too_new),
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
            Denial::Exports { name, error } => write!(
                f,
                "annotation {} on {name:?} is invalid: {error}; set it with `kubectl extcluster \
                 annotate {name} --export argocd --export flux`",
                crate::exports::ANNOTATION
            ),
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
            Denial::RegistrationsRemain { count, first } => registrations_remain(f, *count, first),
            Denial::RegistrationsUncounted { why } => write!(
                f,
                "cannot count the imported registrations that deleting CRD {CRD_NAME} would \
                 delete: {why}; retry in a few seconds"
            ),
            Denial::MissingObject { operation } => write!(
                f,
                "the {} request carries no ExternalCluster to check; this is a bug in the caller",
                operation.as_str()
            ),
        }
    }
}

fn out_of_range(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    version: &str,
    range: &impl fmt::Display,
    too_new: bool,
) -> fmt::Result {
    let why = if too_new {
        "newer than the hub supports yet; ask the hub's administrator whether the webhook's \
         --accepted-versions can include it"
    } else {
        "older than the hub supports; upgrade the cluster, or ask the hub's administrator to \
         change the webhook's --accepted-versions"
    };
    write!(
        f,
        "cluster {name:?} runs Kubernetes {version}, which is outside the accepted range \
         {range}: {why}"
    )
}

fn registrations_remain(f: &mut fmt::Formatter<'_>, count: usize, first: &[String]) -> fmt::Result {
    let more = count.saturating_sub(first.len());
    let listed = if more > 0 {
        format!("{} and {more} more", first.join(", "))
    } else {
        first.join(", ")
    };
    write!(
        f,
        "deleting CRD {CRD_NAME} would delete {count} imported registration{} ({listed}) and, \
         through the garbage collector, their stored kubeconfigs; disconnect each first \
         (`kubectl extcluster disconnect NAME`), or, to delete them all anyway, remove the guard \
         first: `kubectl label crd {CRD_NAME} {GUARD_LABEL}-`",
        if count == 1 { "" } else { "s" }
    )
}

impl std::error::Error for Denial {}

#[cfg(test)]
mod tests {
    use super::Denial;

    /// Metrics label denials with these; dashboards and alerts read them.
    #[test]
    fn reasons_keep_their_names() {
        let mut reasons = Denial::REASONS.to_vec();
        reasons.sort_unstable();
        assert_eq!(
            reasons,
            [
                "connect_read_only",
                "delete_imported",
                "immutable_field",
                "invalid_capability",
                "invalid_exports",
                "label_mismatch",
                "missing_object",
                "registrations_remain",
                "registrations_uncounted",
                "registry_unavailable",
                "reimport",
                "version_out_of_range",
                "version_unreadable",
            ]
        );
        let d = Denial::Immutable {
            name: "a".into(),
            field: "spec.server",
        };
        assert_eq!(d.reason(), "immutable_field");
    }
}
