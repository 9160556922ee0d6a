//! The `externalclusters.extcluster.io/v1alpha1` API: a cluster the hub did not create.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use strum::VariantNames;

pub const GROUP: &str = "extcluster.io";
pub const VERSION: &str = "v1alpha1";
pub const PLURAL: &str = "externalclusters";
pub const CRD_NAME: &str = "externalclusters.extcluster.io";
/// Where kubeconfig Secrets and the webhook live.
pub const SYSTEM_NAMESPACE: &str = "extcluster-system";
/// Where the controller publishes ClusterProfiles by default.
pub const INVENTORY_NAMESPACE: &str = "extcluster-inventory";
/// Set to `"true"` before deleting an imported registration: the intent to disconnect.
pub const DISCONNECT_ANNOTATION: &str = "extcluster.io/disconnect";
/// The last change of mode: from, to, when and by whom (`set-mode` writes it with the change).
pub const MODE_CHANGED_ANNOTATION: &str = "extcluster.io/mode-changed";
/// Carries `spec.clusterID`, so registrations of one cluster can be selected.
pub const CLUSTER_ID_LABEL: &str = "extcluster.io/cluster-id";
/// Names the registration a kubeconfig Secret belongs to.
pub const REGISTRATION_LABEL: &str = "extcluster.io/registration";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// On the CRD: its deletion goes through the webhook, which refuses it while imported
/// registrations would go with it. Removing the label is the documented override.
pub const GUARD_LABEL: &str = "extcluster.io/guard";
pub const GUARD_VALUE: &str = "registrations";
pub const MANAGER: &str = "kubectl-extcluster";

/// What the hub knows of an external cluster: how it reaches it, who made it, what it is.
/// The kind is cluster-scoped: a cluster belongs to the hub, not to a namespace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "extcluster.io",
    version = "v1alpha1",
    kind = "ExternalCluster",
    plural = "externalclusters",
    shortname = "extc",
    category = "all-clusters",
    status = "ExternalClusterStatus",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".spec.provider"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.observedVersion"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Nodes","type":"integer","jsonPath":".status.nodeCount"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Server","type":"string","jsonPath":".spec.server","priority":1}"#,
    printcolumn = r#"{"name":"Cluster-ID","type":"string","jsonPath":".spec.clusterID","priority":1}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ExternalClusterSpec {
    /// Connect: read-only, the hub only views the cluster. Import: full permission.
    pub mode: Mode,
    /// Imported clusters were made elsewhere and are never destroyed from the hub.
    #[serde(default)]
    pub origin: Origin,
    #[serde(default)]
    pub provider: Provider,
    /// UID of the cluster's `kube-system` namespace: its identity. Immutable.
    #[serde(rename = "clusterID")]
    #[schemars(length(min = 1, max = 63))]
    pub cluster_id: String,
    /// The cluster's API server URL. Immutable.
    #[schemars(regex(pattern = r"^https://"))]
    pub server: String,
    /// The `gitVersion` the cluster reported when it was registered, e.g. `v1.29.3-eks-adc7111`.
    #[schemars(length(min = 1))]
    pub kubernetes_version: String,
    /// The Secret holding the kubeconfig the hub uses to reach the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig_secret_ref: Option<SecretKeyRef>,
    /// A human-friendly name, shown by `describe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Set when the cluster trusts the hub's own identity: no credential is stored, and each use
    /// mints a short-lived token of the hub ServiceAccount `extcluster-system/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated: Option<Federated>,
}

/// How the hub's tokens for a federated registration are minted, and how the cluster knows them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Federated {
    /// The audience of each token: the client ID the cluster's OIDC authenticator expects.
    #[schemars(length(min = 1))]
    pub audience: String,
    /// What the cluster puts before the token's subject to make the username it authorizes.
    pub username_prefix: String,
    /// Each token's lifetime in seconds; TokenRequest's minimum is 600.
    #[schemars(range(min = 600))]
    pub expiration_seconds: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretKeyRef {
    pub namespace: String,
    pub name: String,
    pub key: String,
}

/// An enum whose names are its variants' names, each written once: they print as declared, parse
/// case-insensitively (as people type them on a command line) and are listed in `VARIANTS`.
macro_rules! named_enum {
    ($(#[$attr:meta])* pub enum $name:ident { $($variants:tt)* }) => {
        $(#[$attr])*
        #[derive(strum::Display, strum::EnumString, strum::IntoStaticStr, strum::VariantArray, strum::VariantNames)]
        #[strum(ascii_case_insensitive, parse_err_ty = String, parse_err_fn = not_one_of::<Self>)]
        pub enum $name { $($variants)* }
    };
}

fn not_one_of<T: VariantNames>(s: &str) -> String {
    format!("{s:?} is not one of {}", T::VARIANTS.join(", "))
}

named_enum! {
    #[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
    pub enum Mode {
        Connect,
        Import,
    }
}

named_enum! {
    #[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
    pub enum Origin {
        #[default]
        Imported,
        Provisioned,
    }
}

named_enum! {
    #[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
    pub enum Provider {
        #[default]
        Generic,
        EKS,
        GKE,
        AKS,
        K3s,
        RKE2,
        OpenShift,
    }
}

named_enum! {
    #[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
    pub enum Phase {
        Pending,
        Running,
        Reconciling,
        Unreachable,
        /// The kubeconfig reaches a cluster whose `kube-system` UID is not `spec.clusterID`: worse
        /// than unreachable, since whatever uses the registration acts on the wrong cluster.
        IdentityMismatch,
        /// The cluster answers but refuses the stored credentials: not Unreachable, since the
        /// network is fine and the remedy is on the hub's side (`set-credentials`).
        CredentialsRejected,
        Disconnecting,
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalClusterStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "phase_schema")]
    pub phase: Option<Phase>,
    /// The `gitVersion` the cluster reported at the last probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_count: Option<u32>,
    /// Readiness, kubelet versions and capacity of the nodes at the last probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<NodeSummary>,
    /// What the stored credentials say of themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// Past this time the status is stale: whoever keeps it (the controller) has not confirmed it
    /// since. An unchanged status is written only every heartbeat, so `lastProbeTime` alone cannot
    /// tell a quiet cluster from a stopped controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_after: Option<Time>,
    /// Why the last probe failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// One entry per `type`, each owned by whoever last applied it (server-side apply).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Where the controller publishes the registration for other tools: its ClusterProfile, and
    /// the Argo CD and Flux Secrets the `extcluster.io/exports` annotation asks for.
    /// One entry per `kind`, kept by the publisher (field manager `extcluster-publisher`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["kind"]))]
    pub exports: Vec<ExportStatus>,
}

/// One place a registration is published.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportStatus {
    #[schemars(schema_with = "export_kind_schema")]
    pub kind: ExportKind,
    /// Unset when the object has no place yet (the hub does not export to that tool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// The object is in place and current.
    pub ready: bool,
    /// Why it is not, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

named_enum! {
    #[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
    pub enum ExportKind {
        ClusterProfile,
        ArgoCD,
        Flux,
    }
}

impl From<crate::exports::Export> for ExportKind {
    fn from(tool: crate::exports::Export) -> Self {
        match tool {
            crate::exports::Export::Argocd => ExportKind::ArgoCD,
            crate::exports::Export::Flux => ExportKind::Flux,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSummary {
    /// Nodes whose Ready condition is True.
    pub ready: u32,
    /// The kubelet versions the nodes report, sorted, each with how many nodes run it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kubelets: Vec<KubeletVersion>,
    /// When nodes last moved between kubelet versions: a version appeared or went, or fewer
    /// nodes ran an older one. An upgrade is in progress while that is recent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelets_moved_at: Option<Time>,
    /// Total allocatable CPU, as a Kubernetes quantity (`12`, `11500m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocatable_cpu: Option<String>,
    /// Total allocatable memory, as a Kubernetes quantity (`48Gi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocatable_memory: Option<String>,
    /// The distinct regions and zones the nodes' topology labels name, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    /// The distinct instance types the nodes' `node.kubernetes.io/instance-type` labels name
    /// (or the legacy `beta.kubernetes.io/instance-type`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance_types: Vec<String>,
}

/// One kubelet version and the nodes that run it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubeletVersion {
    pub version: String,
    pub nodes: u32,
}

impl NodeSummary {
    /// The distinct kubelet versions, sorted.
    pub fn kubelet_versions(&self) -> impl Iterator<Item = &str> {
        self.kubelets.iter().map(|k| k.version.as_str())
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsStatus {
    /// When the stored credentials stop working: a token's `exp`, a client certificate's
    /// `notAfter`, whichever comes first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    /// Whom they authenticate as in the cluster: `serviceaccount NAMESPACE/NAME` or `user NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The proxy they reach the cluster through (the kubeconfig's proxy-url, without any user or
    /// password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
}

/// schemars lists `null` among an optional enum's values, which the API server refuses.
fn phase_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "enum": Phase::VARIANTS})
}

fn export_kind_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "enum": ExportKind::VARIANTS})
}

impl ExternalCluster {
    /// Live: neither being deleted nor marked for disconnect.
    pub fn is_live(&self) -> bool {
        self.metadata.deletion_timestamp.is_none()
            && !disconnect_requested(self.metadata.annotations.as_ref())
    }
}

pub fn disconnect_requested(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> bool {
    annotations
        .and_then(|a| a.get(DISCONNECT_ANNOTATION))
        .is_some_and(|v| v == "true")
}

/// A Kubernetes label value: at most 63 characters, alphanumerics with `-`, `_` and `.` inside.
pub fn is_label_value(value: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    value.is_empty()
        || (value.len() <= 63
            && edge(value.chars().next())
            && edge(value.chars().last())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
}

/// The CRD as YAML, exactly as committed in `manifests/crd.yaml`.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    let mut crd = ExternalCluster::crd();
    crd.metadata.labels = Some(std::collections::BTreeMap::from([(
        GUARD_LABEL.to_owned(),
        GUARD_VALUE.to_owned(),
    )]));
    let body = serde_saphyr::to_string(&crd).expect("the CRD serializes");
    format!(
        "# Generated from core/src/api.rs by `cargo run -p extcluster-core --bin crdgen`; do not edit.\n---\n{body}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_case_insensitively_and_print_as_declared() {
        assert_eq!("eks".parse::<Provider>(), Ok(Provider::EKS));
        assert_eq!("OpenShift".parse::<Provider>(), Ok(Provider::OpenShift));
        assert_eq!(Provider::K3s.to_string(), "K3s");
        assert_eq!(
            "view".parse::<Mode>(),
            Err("\"view\" is not one of Connect, Import".to_owned())
        );
        assert_eq!(Phase::VARIANTS.len(), 7);
    }

    #[test]
    fn label_values() {
        assert!(is_label_value("6f1c2b9e-0d4a"));
        assert!(!is_label_value("-a"));
        assert!(!is_label_value(&"a".repeat(64)));
        assert!(!is_label_value("a/b"));
    }
}
