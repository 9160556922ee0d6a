//! SIG-Multicluster's ClusterProfile (`multicluster.x-k8s.io`, KEP-4322), as
//! `kubernetes-sigs/cluster-inventory-api` defines it, and the profile a registration publishes.
//!
//! v1alpha1 is the only version upstream defines. These types map its fields (names, JSON names,
//! list-map keys) and are checked against the CRD we ship, which is upstream's as published
//! (`manifests/cluster-profile/crd.yaml`); nothing here generates a CRD.

use crate::api::{ExternalCluster, MANAGER};
use crate::capability;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, OwnerReference, Time};
use kube::{CustomResource, Resource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const GROUP: &str = "multicluster.x-k8s.io";
pub const CRD_NAME: &str = "clusterprofiles.multicluster.x-k8s.io";
/// Names the cluster manager a ClusterProfile belongs to; its value is `spec.clusterManager.name`.
pub const CLUSTER_MANAGER_LABEL: &str = "x-k8s.io/cluster-manager";
pub const CONTROL_PLANE_HEALTHY: &str = "ControlPlaneHealthy";
pub const JOINED: &str = "Joined";
/// The access provider consumers configure to run `kubectl-extcluster credential`.
pub const ACCESS_PROVIDER: &str = MANAGER;
/// The cluster extension client-go hands an exec plugin (with `provideClusterInfo`).
pub const EXEC_EXTENSION: &str = "client.authentication.k8s.io/exec";
/// The property that carries the cluster ID (KEP-2149's well-known name, as about-api and
/// Karmada use it). OCM's older `id.k8s.io` names a ClusterClaim on its own objects; no
/// ClusterProfile consumer reads it, so it is not written twice.
pub const CLUSTER_ID_PROPERTY: &str = "cluster.clusterset.k8s.io";
/// A property's value is at most this long (the API's limit); longer ones are not published.
pub const PROPERTY_VALUE_MAX: usize = 1024;

pub mod v1alpha1 {
    use super::*;

    /// ClusterProfile represents a single cluster in a multi-cluster deployment.
    #[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
    #[kube(
        group = "multicluster.x-k8s.io",
        version = "v1alpha1",
        kind = "ClusterProfile",
        plural = "clusterprofiles",
        namespaced,
        status = "ClusterProfileStatus"
    )]
    #[serde(rename_all = "camelCase")]
    pub struct ClusterProfileSpec {
        /// DisplayName defines a human-readable name of the ClusterProfile
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub display_name: String,
        /// ClusterManager defines which cluster manager owns this ClusterProfile resource
        pub cluster_manager: ClusterManager,
    }

    #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ClusterProfileStatus {
        /// Conditions contains the different condition statuses for this cluster.
        #[serde(default)]
        #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
        pub conditions: Vec<Condition>,
        /// Version defines the version information of the cluster.
        #[serde(default)]
        pub version: ClusterVersion,
        /// Properties defines cluster characteristics through a list of Property objects.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
        pub properties: Vec<Property>,
        /// Deprecated: Use AccessProviders instead.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
        pub credential_providers: Vec<AccessProvider>,
        /// AccessProviders is a list of cluster access providers that can provide access
        /// information for clusters.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
        pub access_providers: Vec<AccessProvider>,
    }

    /// AccessProvider defines how to access the cluster.
    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
    pub struct AccessProvider {
        pub name: String,
        /// Optional upstream: another manager's provider may have none.
        #[serde(default)]
        pub cluster: Cluster,
    }

    /// A kubeconfig's cluster entry (client-go's `clientcmd/api/v1.Cluster`).
    #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
    #[serde(rename_all = "kebab-case")]
    pub struct Cluster {
        /// Server is the address of the kubernetes cluster (https://hostname:port).
        pub server: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tls_server_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub insecure_skip_tls_verify: Option<bool>,
        /// CertificateAuthority is the path to a cert file for the certificate authority.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub certificate_authority: Option<String>,
        /// PEM-encoded certificate authority certificates, base64-encoded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(extend("format" = "byte"))]
        pub certificate_authority_data: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[serde(rename = "proxy-url")]
        pub proxy_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub disable_compression: Option<bool>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub extensions: Vec<NamedExtension>,
    }
}

/// ClusterManager defines which cluster manager owns this ClusterProfile resource. Immutable.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct ClusterManager {
    /// Name defines the name of the cluster manager; a valid label value.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
}

/// ClusterVersion represents version information about the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ClusterVersion {
    /// Kubernetes is the kubernetes version of the cluster.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kubernetes: String,
}

/// A property of a cluster: a name/value pair and when it was last observed on the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Property {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[schemars(length(min = 1, max = 1024))]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_observed_time: Option<Time>,
}

/// NamedExtension associates a name with provider-specific configuration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct NamedExtension {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[schemars(schema_with = "preserved_object")]
    pub extension: serde_json::Value,
}

fn preserved_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

/// How a consumer reaches the cluster, as the stored kubeconfig says: everything but the
/// credentials.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint {
    pub server: String,
    pub certificate_authority_data: Option<String>,
    pub tls_server_name: Option<String>,
    pub proxy_url: Option<String>,
    pub insecure_skip_tls_verify: bool,
}

/// Where and how the hub publishes its ClusterProfiles.
#[derive(Debug, Clone, Copy)]
pub struct Inventory<'a> {
    pub namespace: &'a str,
    /// Also write the deprecated `status.credentialProviders`, for consumers built on
    /// cluster-inventory-api before `accessProviders` (v0.1.0).
    pub credential_providers: bool,
}

/// The ClusterProfile a live registration publishes, owned by the registration so the hub's
/// garbage collector removes it with the registration.
pub fn profile(
    cluster: &ExternalCluster,
    inventory: Inventory<'_>,
    endpoint: &Endpoint,
) -> v1alpha1::ClusterProfile {
    use v1alpha1::{AccessProvider, ClusterProfile, ClusterProfileSpec, ClusterProfileStatus};
    let name = cluster.metadata.name.clone().unwrap_or_default();
    let labels = BTreeMap::from([(CLUSTER_MANAGER_LABEL.to_owned(), MANAGER.to_owned())]);
    let mut object = ClusterProfile::new(
        &name,
        ClusterProfileSpec {
            display_name: cluster.spec.display_name.clone().unwrap_or_default(),
            cluster_manager: ClusterManager {
                name: MANAGER.into(),
            },
        },
    );
    object.metadata.namespace = Some(inventory.namespace.into());
    object.metadata.labels = Some(labels);
    object.metadata.owner_references = owner(cluster).map(|o| vec![o]);
    let access = vec![AccessProvider {
        name: ACCESS_PROVIDER.into(),
        cluster: access_cluster(&name, endpoint),
    }];
    object.status = Some(ClusterProfileStatus {
        conditions: conditions(cluster),
        version: ClusterVersion {
            kubernetes: observed_version(cluster),
        },
        properties: properties(cluster),
        credential_providers: if inventory.credential_providers {
            access.clone()
        } else {
            Vec::new()
        },
        access_providers: access,
    });
    object
}

/// The registration as the controlling owner of what is published for it.
pub fn owner(cluster: &ExternalCluster) -> Option<OwnerReference> {
    let mut owner = cluster.controller_owner_ref(&())?;
    owner.block_owner_deletion = None;
    Some(owner)
}

fn access_cluster(name: &str, endpoint: &Endpoint) -> v1alpha1::Cluster {
    v1alpha1::Cluster {
        server: endpoint.server.clone(),
        tls_server_name: endpoint.tls_server_name.clone(),
        insecure_skip_tls_verify: endpoint.insecure_skip_tls_verify.then_some(true),
        certificate_authority: None,
        certificate_authority_data: endpoint.certificate_authority_data.clone(),
        proxy_url: endpoint.proxy_url.clone(),
        disable_compression: None,
        extensions: vec![NamedExtension {
            name: EXEC_EXTENSION.into(),
            extension: serde_json::json!({ "registration": name }),
        }],
    }
}

fn observed_version(cluster: &ExternalCluster) -> String {
    cluster
        .status
        .as_ref()
        .and_then(|s| s.observed_version.clone())
        .unwrap_or_else(|| cluster.spec.kubernetes_version.clone())
}

/// `ControlPlaneHealthy` follows the registration's Ready condition, transition time included,
/// so the profile changes only when the registration's health does. It is True only while the
/// API server answered the last probe (upstream's meaning, which multicluster-runtime connects
/// on): Unknown while Ready holds through failures below `--unreachable-after`, and False while
/// the identity is refuted (the cluster answering is another one). `Joined` holds while the
/// registration exists.
fn conditions(cluster: &ExternalCluster) -> Vec<Condition> {
    let registered = cluster
        .metadata
        .creation_timestamp
        .clone()
        .unwrap_or(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
    let status = cluster.status.as_ref();
    let ready = crate::health::identity_refuted(status).or_else(|| {
        status?
            .conditions
            .iter()
            .find(|c| c.type_ == crate::health::condition::READY)
    });
    let healthy = match ready {
        Some(r) if r.reason == crate::health::PROBE_FAILING => Condition {
            type_: CONTROL_PLANE_HEALTHY.into(),
            status: "Unknown".into(),
            reason: "ProbeFailed".into(),
            message: r.message.clone(),
            last_transition_time: status
                .and_then(|s| s.last_probe_time.clone())
                .unwrap_or_else(|| r.last_transition_time.clone()),
            observed_generation: None,
        },
        Some(r) => Condition {
            type_: CONTROL_PLANE_HEALTHY.into(),
            status: r.status.clone(),
            reason: r.reason.clone(),
            message: r.message.clone(),
            last_transition_time: r.last_transition_time.clone(),
            observed_generation: None,
        },
        None => Condition {
            type_: CONTROL_PLANE_HEALTHY.into(),
            status: "Unknown".into(),
            reason: "NotProbedYet".into(),
            message: "the controller has not probed the cluster yet".into(),
            last_transition_time: registered.clone(),
            observed_generation: None,
        },
    };
    let joined = Condition {
        type_: JOINED.into(),
        status: "True".into(),
        reason: "Registered".into(),
        message: format!(
            "registered with the hub ({}, {})",
            cluster.spec.mode, cluster.spec.provider
        ),
        last_transition_time: registered,
        observed_generation: None,
    };
    vec![healthy, joined]
}

/// Whether the condition list says the control plane is healthy (`ControlPlaneHealthy=True`).
pub fn healthy(status: Option<&v1alpha1::ClusterProfileStatus>) -> bool {
    status.is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == CONTROL_PLANE_HEALTHY && c.status == "True")
    })
}

/// Why consumers built on cluster-inventory-api's `pkg/access` cannot verify the published
/// server, if they cannot: they take its `server`, CA data and proxy only, so a kubeconfig that
/// verifies under another name (`tls-server-name`) or not at all (`insecure-skip-tls-verify`)
/// does not carry over.
pub fn unverifiable_by_consumers(endpoint: &Endpoint) -> Option<String> {
    let host = url_host(&endpoint.server);
    if let Some(name) = endpoint.tls_server_name.as_deref().filter(|n| *n != host) {
        return Some(format!(
            "published, but consumers built on cluster-inventory-api's pkg/access (Kueue, \
             multicluster-runtime, Argo CD's integration) ignore tls-server-name: they check the \
             certificate for {host:?}, not {name:?}, and fail unless it also names {host:?}; \
             give the hub a kubeconfig whose server URL uses a name the certificate covers \
             (`kubectl extcluster set-credentials NAME --from-kubeconfig FILE`)"
        ));
    }
    (endpoint.insecure_skip_tls_verify && endpoint.certificate_authority_data.is_none()).then(
        || {
            "published, but consumers built on cluster-inventory-api's pkg/access ignore \
         insecure-skip-tls-verify and have no CA to verify the server with; give the hub a \
         kubeconfig with the cluster's certificate-authority-data (`kubectl extcluster \
         set-credentials`)"
                .to_owned()
        },
    )
}

/// The host of a server URL, without port or IPv6 brackets.
fn url_host(server: &str) -> &str {
    let rest = server.split_once("://").map_or(server, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    }
}

/// The cluster ID, then mode, provider, regions, zones, instance
/// types and declared capabilities under this project's domain. Each carries the time of the probe that last
/// confirmed the registration's status, which moves only when the status is written.
fn properties(cluster: &ExternalCluster) -> Vec<Property> {
    let status = cluster.status.as_ref();
    let observed = status
        .and_then(|s| s.last_probe_time.clone())
        .or_else(|| cluster.metadata.creation_timestamp.clone());
    let nodes = status.and_then(|s| s.nodes.as_ref());
    // An ID the cluster behind the kubeconfig does not carry is not vouched for.
    let mut pairs: Vec<(String, String)> = Vec::new();
    if crate::health::identity_refuted(status).is_none() {
        pairs.push((CLUSTER_ID_PROPERTY.into(), cluster.spec.cluster_id.clone()));
    }
    pairs.push(("extcluster.io/mode".into(), cluster.spec.mode.to_string()));
    pairs.push((
        "extcluster.io/provider".into(),
        cluster.spec.provider.to_string(),
    ));
    if let Some(nodes) = nodes {
        for (name, values) in [
            ("region", &nodes.regions),
            ("zones", &nodes.zones),
            ("instance-types", &nodes.instance_types),
        ] {
            if !values.is_empty() {
                pairs.push((format!("extcluster.io/{name}"), values.join(",")));
            }
        }
    }
    for d in capability::declared(cluster.metadata.annotations.iter().flatten()) {
        pairs.push((d.capability.key(), d.value.to_owned()));
    }
    pairs.sort();
    pairs.dedup_by(|a, b| a.0 == b.0);
    pairs
        .into_iter()
        .filter(|(_, value)| !value.is_empty() && value.len() <= PROPERTY_VALUE_MAX)
        .map(|(name, value)| Property {
            name,
            value,
            last_observed_time: observed.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ExternalClusterSpec, ExternalClusterStatus, Mode, NodeSummary, Provider};
    use k8s_openapi::jiff::Timestamp;

    const INV: Inventory<'static> = Inventory {
        namespace: "inv",
        credential_providers: false,
    };

    fn cluster() -> ExternalCluster {
        let mut c = ExternalCluster::new(
            "prod-eu",
            ExternalClusterSpec {
                mode: Mode::Import,
                origin: Default::default(),
                provider: Provider::EKS,
                cluster_id: "6f1c2b9e-0d4a-4c1e-9a57-1f0e2d3c4b5a".into(),
                server: "https://prod-eu.example.com:6443".into(),
                kubernetes_version: "v1.30.2".into(),
                kubeconfig_secret_ref: None,
                display_name: Some("Production EU".into()),
                federated: None,
            },
        );
        c.metadata.uid = Some("uid-1".into());
        c.metadata.creation_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        c.metadata.annotations = Some(BTreeMap::from([
            ("capabilities.cattle.io/pspEnabled".into(), "false".into()),
            ("unrelated".into(), "x".into()),
        ]));
        c
    }

    #[test]
    fn a_fresh_registration_is_joined_and_not_yet_known_healthy() {
        let p = profile(&cluster(), INV, &Endpoint::default());
        let labels = p.metadata.labels.clone().unwrap();
        assert_eq!(labels[CLUSTER_MANAGER_LABEL], MANAGER);
        assert_eq!(
            labels.len(),
            1,
            "no label upstream does not define: {labels:?}"
        );
        assert_eq!(p.spec.display_name, "Production EU");
        let owner = &p.metadata.owner_references.clone().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("ExternalCluster", Some(true))
        );
        let status = p.status.unwrap();
        let by_type = |t: &str| {
            status
                .conditions
                .iter()
                .find(|c| c.type_ == t)
                .unwrap()
                .clone()
        };
        assert_eq!(by_type(CONTROL_PLANE_HEALTHY).status, "Unknown");
        assert_eq!(by_type(JOINED).status, "True");
        assert_eq!(status.version.kubernetes, "v1.30.2");
        let names: Vec<&str> = status.properties.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "capabilities.extcluster.io/pspEnabled",
                "cluster.clusterset.k8s.io",
                "extcluster.io/mode",
                "extcluster.io/provider",
            ]
        );
        assert!(
            status.credential_providers.is_empty(),
            "one copy unless asked"
        );
        let both = Inventory {
            credential_providers: true,
            ..INV
        };
        let legacy = profile(&cluster(), both, &Endpoint::default())
            .status
            .unwrap();
        assert_eq!(legacy.access_providers, legacy.credential_providers);
        assert_eq!(
            status.access_providers[0].cluster.extensions[0].extension["registration"],
            "prod-eu"
        );
    }

    #[test]
    fn health_version_and_topology_follow_the_registration_status() {
        let mut c = cluster();
        let probed = Time(Timestamp::from_second(1_800_000_000).unwrap());
        let mut status = ExternalClusterStatus {
            observed_version: Some("v1.31.0".into()),
            last_probe_time: Some(probed.clone()),
            nodes: Some(NodeSummary {
                regions: vec!["eu-west-1".into()],
                zones: vec!["eu-west-1a".into(), "eu-west-1b".into()],
                ..NodeSummary::default()
            }),
            ..ExternalClusterStatus::default()
        };
        let ready = (crate::health::condition::READY, "False", "Unreachable");
        set(&mut status, ready, probed.clone());
        c.status = Some(status);
        let s = profile(&c, INV, &Endpoint::default()).status.unwrap();
        let healthy = &s.conditions[0];
        assert_eq!(
            (healthy.status.as_str(), healthy.reason.as_str()),
            ("False", "Unreachable")
        );
        assert_eq!(s.version.kubernetes, "v1.31.0");
        let zones = s
            .properties
            .iter()
            .find(|p| p.name == "extcluster.io/zones")
            .unwrap();
        assert_eq!(zones.value, "eu-west-1a,eu-west-1b");
        assert_eq!(zones.last_observed_time, Some(probed));
    }

    /// Sets the condition (type, status, reason) as of `at`.
    fn set(
        status: &mut ExternalClusterStatus,
        (type_, state, reason): (&str, &str, &str),
        at: Time,
    ) {
        let condition = Condition {
            type_: type_.into(),
            status: state.into(),
            reason: reason.into(),
            message: format!("{reason} (test)"),
            last_transition_time: at,
            observed_generation: None,
        };
        crate::health::set_condition(&mut status.conditions, condition);
    }

    #[test]
    fn a_refuted_identity_is_unhealthy_and_publishes_no_cluster_id() {
        let mut c = cluster();
        let mut status = ExternalClusterStatus::default();
        for (type_, state, reason) in [
            (crate::health::condition::READY, "True", "ProbeSucceeded"),
            (
                crate::health::condition::IDENTITY_VERIFIED,
                "False",
                "IdentityMismatch",
            ),
        ] {
            set(
                &mut status,
                (type_, state, reason),
                Time(Timestamp::UNIX_EPOCH),
            );
        }
        c.status = Some(status);
        let s = profile(&c, INV, &Endpoint::default()).status.unwrap();
        let healthy = &s.conditions[0];
        assert_eq!(
            (healthy.status.as_str(), healthy.reason.as_str()),
            ("False", "IdentityMismatch")
        );
        let names: Vec<&str> = s.properties.iter().map(|p| p.name.as_str()).collect();
        assert!(!names.contains(&CLUSTER_ID_PROPERTY), "{names:?}");
    }

    #[test]
    fn healthy_only_while_the_last_probe_answered() {
        let mut c = cluster();
        let probed = Time(Timestamp::from_second(1_800_000_000).unwrap());
        let mut status = ExternalClusterStatus {
            last_probe_time: Some(probed.clone()),
            ..ExternalClusterStatus::default()
        };
        let ready = (crate::health::condition::READY, "True", "ProbeSucceeded");
        set(&mut status, ready, Time(Timestamp::UNIX_EPOCH));
        c.status = Some(status.clone());
        assert!(healthy(
            profile(&c, INV, &Endpoint::default()).status.as_ref()
        ));
        let failing = (
            crate::health::condition::READY,
            "True",
            crate::health::PROBE_FAILING,
        );
        set(&mut status, failing, Time(Timestamp::UNIX_EPOCH));
        c.status = Some(status);
        let s = profile(&c, INV, &Endpoint::default()).status.unwrap();
        assert!(!healthy(Some(&s)));
        let condition = &s.conditions[0];
        assert_eq!(
            (condition.status.as_str(), condition.reason.as_str()),
            ("Unknown", "ProbeFailed")
        );
        assert_eq!(condition.last_transition_time, probed);
    }

    #[test]
    fn consumers_that_ignore_the_server_name_are_told_about() {
        let mut endpoint = Endpoint {
            server: "https://10.0.0.1:6443".into(),
            certificate_authority_data: Some("Q0E=".into()),
            ..Endpoint::default()
        };
        assert_eq!(unverifiable_by_consumers(&endpoint), None);
        endpoint.tls_server_name = Some("10.0.0.1".into());
        assert_eq!(unverifiable_by_consumers(&endpoint), None, "the same host");
        endpoint.tls_server_name = Some("api.internal".into());
        let why = unverifiable_by_consumers(&endpoint).unwrap();
        assert!(
            why.contains("\"10.0.0.1\"") && why.contains("api.internal"),
            "{why}"
        );
        endpoint.server = "https://[fd00::1]:6443/path".into();
        endpoint.tls_server_name = Some("fd00::1".into());
        assert_eq!(unverifiable_by_consumers(&endpoint), None, "IPv6 host");
        endpoint.tls_server_name = None;
        endpoint.insecure_skip_tls_verify = true;
        assert_eq!(
            unverifiable_by_consumers(&endpoint),
            None,
            "the CA still verifies"
        );
        endpoint.certificate_authority_data = None;
        assert!(
            unverifiable_by_consumers(&endpoint)
                .unwrap()
                .contains("insecure-skip-tls-verify")
        );
    }

    /// Every field our types write or read is one upstream's CRD defines, under the same JSON
    /// name; nothing we require is optional upstream; list-maps have upstream's keys.
    #[test]
    fn the_types_match_the_vendored_upstream_crd() {
        use kube::CustomResourceExt;
        let text = include_str!("../../manifests/cluster-profile/crd.yaml");
        let crd: serde_json::Value = serde_saphyr::from_str(text).unwrap();
        let versions = crd["spec"]["versions"].as_array().unwrap();
        let served: Vec<&str> = versions.iter().filter_map(|v| v["name"].as_str()).collect();
        assert_eq!(served, ["v1alpha1"], "upstream defines v1alpha1 only");
        let theirs = &versions[0]["schema"]["openAPIV3Schema"];
        let ours = serde_json::to_value(v1alpha1::ClusterProfile::crd()).unwrap();
        let ours = &ours["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        for part in ["spec", "status"] {
            same_shape(&ours["properties"][part], &theirs["properties"][part], part);
        }
    }

    fn same_shape(ours: &serde_json::Value, theirs: &serde_json::Value, at: &str) {
        let names = |v: &serde_json::Value, key: &str| -> Vec<String> {
            v[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        };
        for required in names(ours, "required") {
            assert!(
                names(theirs, "required").contains(&required),
                "{at}.{required}: required by us, optional upstream"
            );
        }
        if ours.get("x-kubernetes-list-map-keys").is_some() {
            assert_eq!(
                ours["x-kubernetes-list-map-keys"], theirs["x-kubernetes-list-map-keys"],
                "{at}"
            );
        }
        if let Some(items) = ours.get("items") {
            same_shape(items, &theirs["items"], &format!("{at}[]"));
        }
        for (name, field) in ours["properties"].as_object().into_iter().flatten() {
            let upstream = &theirs["properties"][name];
            assert!(upstream.is_object(), "{at}.{name}: not in upstream's CRD");
            same_shape(field, upstream, &format!("{at}.{name}"));
        }
    }
}
