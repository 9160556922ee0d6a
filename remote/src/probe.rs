//! What an external cluster shows: version, identity, nodes, provider, recent warnings, and
//! whether the credentials used hold the rights a mode needs.

use crate::Error;
use crate::explain::{self, FromFile, Reach};
use crate::failure::{Failure, Transport};
use crate::words::one_line;
use extcluster_core::Mode;
use extcluster_core::facts::{Facts, NodeInfo};
use extcluster_core::provider::{self, NodeFacts, OPENSHIFT_NODE_LABEL};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Event, Namespace, Node};
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use std::time::Duration;

/// How long a whole probe may take, so a server that accepts and never answers cannot hang us.
pub const PROBE_LIMIT: Duration = Duration::from_secs(30);

/// Reads version, identity and nodes.
pub async fn facts(client: &Client) -> Result<Facts, Failure> {
    within(async {
        let info = client.apiserver_version().await?;
        let ns: Namespace = Api::all(client.clone()).get("kube-system").await?;
        let nodes = Api::<Node>::all(client.clone())
            .list(&ListParams::default())
            .await?;
        let nodes: Vec<NodeInfo> = nodes.items.iter().map(node_info).collect();
        let provider = provider::detect(
            &info.git_version,
            nodes.iter().map(|n| NodeFacts {
                provider_id: n.provider_id.as_deref(),
                openshift: n.openshift,
            }),
        );
        Ok(Facts {
            git_version: info.git_version,
            cluster_id: ns.metadata.uid.unwrap_or_default(),
            nodes,
            provider,
        })
    })
    .await
}

/// `fut` bounded by [`PROBE_LIMIT`].
pub async fn within<T>(
    fut: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(PROBE_LIMIT, fut).await {
        Ok(r) => r.map_err(|e| Failure::of(&e)),
        Err(_) => Err(Failure::Transport(Transport::Timeout)),
    }
}

pub fn node_info(n: &Node) -> NodeInfo {
    let labels = n.metadata.labels.clone().unwrap_or_default();
    let mut roles: Vec<String> = labels
        .keys()
        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(role) = labels.get("kubernetes.io/role")
        && !roles.contains(role)
    {
        roles.push(role.clone());
    }
    roles.sort();
    let topology =
        |key: &str, legacy: &str| labels.get(key).or_else(|| labels.get(legacy)).cloned();
    let status = n.status.clone().unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .map_or_else(|| "Unknown".to_owned(), |c| c.status.clone());
    let allocatable = |resource: &str| {
        status
            .allocatable
            .as_ref()
            .and_then(|a| a.get(resource))
            .map(|q| q.0.clone())
    };
    NodeInfo {
        allocatable_cpu: allocatable("cpu"),
        allocatable_memory: allocatable("memory"),
        name: n.metadata.name.clone().unwrap_or_default(),
        roles,
        kubelet_version: status
            .node_info
            .map(|i| i.kubelet_version)
            .unwrap_or_default(),
        ready,
        provider_id: n.spec.as_ref().and_then(|s| s.provider_id.clone()),
        openshift: labels.contains_key(OPENSHIFT_NODE_LABEL),
        region: topology(
            "topology.kubernetes.io/region",
            "failure-domain.beta.kubernetes.io/region",
        ),
        zone: topology(
            "topology.kubernetes.io/zone",
            "failure-domain.beta.kubernetes.io/zone",
        ),
        instance_type: topology(
            "node.kubernetes.io/instance-type",
            "beta.kubernetes.io/instance-type",
        ),
        config: n
            .metadata
            .annotations
            .as_ref()
            .and_then(extcluster_core::node_config::from_annotations),
    }
}

/// A right a mode needs, cluster-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Right {
    pub verb: &'static str,
}

impl std::fmt::Display for Right {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} */*", self.verb)
    }
}

/// Connect only reads; Import manages the cluster.
pub fn rights_for(mode: Mode) -> &'static [&'static str] {
    match mode {
        Mode::Connect => &["get", "list"],
        Mode::Import => &[
            "get", "list", "watch", "create", "update", "patch", "delete",
        ],
    }
}

/// The rights `mode` needs that the credentials lack, as the cluster itself answers
/// SelfSubjectAccessReviews for every resource in every API group.
pub async fn missing_rights(client: &Client, mode: Mode) -> Result<Vec<Right>, Failure> {
    within(async {
        let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
        let mut missing = Vec::new();
        for verb in rights_for(mode) {
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        verb: Some((*verb).to_owned()),
                        group: Some("*".into()),
                        resource: Some("*".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ..Default::default()
            };
            let answer = api.create(&PostParams::default(), &review).await?;
            if !answer.status.is_some_and(|s| s.allowed) {
                missing.push(Right { verb });
            }
        }
        Ok(missing)
    })
    .await
}

/// Refuses credentials, those of the context `file` names, that lack the rights `mode` needs,
/// listing them.
pub async fn require_rights(client: &Client, mode: Mode, file: FromFile<'_>) -> Result<(), Error> {
    let missing = missing_rights(client, mode).await.map_err(|f| {
        Error::Cluster(explain::sentence(
            Reach::Registering(file),
            "ask for its rights",
            &f,
        ))
    })?;
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing.iter().map(ToString::to_string).collect();
    let next = match mode {
        Mode::Connect => "grant it read access (get, list, watch on all resources)",
        Mode::Import => {
            "grant it full rights (for instance a ClusterRoleBinding to cluster-admin), or register with --mode connect"
        }
    };
    Err(Error::Refused(format!(
        "the credentials of context {:?} in {} lack rights that {mode} mode needs on the external cluster: {}; {next}",
        file.context,
        file.path,
        list.join(", ")
    )))
}

/// What one node uses now, as metrics.k8s.io reports it: cores and bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeUsage {
    pub name: String,
    pub cpu: Option<f64>,
    pub memory: Option<f64>,
}

/// Current usage per node from `metrics.k8s.io` (metrics-server), or `None` when the cluster does
/// not serve that API.
pub async fn node_usage(client: &Client) -> Result<Option<Vec<NodeUsage>>, Failure> {
    use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
    let gvk = GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "NodeMetrics");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "nodes");
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let listed = match within(api.list(&ListParams::default())).await {
        Ok(listed) => listed,
        Err(failure) if failure.is_not_found() => return Ok(None),
        Err(failure) => return Err(failure),
    };
    let usage = |o: &DynamicObject, resource: &str| {
        o.data
            .pointer(&format!("/usage/{resource}"))
            .and_then(|q| q.as_str())
            .and_then(extcluster_core::quantity::parse)
    };
    Ok(Some(
        listed
            .items
            .iter()
            .map(|o| NodeUsage {
                name: o.metadata.name.clone().unwrap_or_default(),
                cpu: usage(o, "cpu"),
                memory: usage(o, "memory"),
            })
            .collect(),
    ))
}

/// A recent Warning event, as describe shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub age_seconds: Option<i64>,
    pub object: String,
    pub reason: String,
    pub message: String,
}

/// The most recent Warning events, newest first.
pub async fn warnings(client: &Client, limit: usize) -> Result<Vec<Warning>, Failure> {
    within(async {
        let events = Api::<Event>::all(client.clone())
            .list(&ListParams::default().fields("type=Warning"))
            .await?;
        let now = k8s_openapi::jiff::Timestamp::now();
        let mut out: Vec<(Option<k8s_openapi::jiff::Timestamp>, Warning)> = events
            .items
            .into_iter()
            .map(|e| {
                let when = e
                    .last_timestamp
                    .map(|t| t.0)
                    .or_else(|| e.event_time.map(|t| t.0))
                    .or_else(|| e.metadata.creation_timestamp.map(|t| t.0));
                let o = &e.involved_object;
                let object = format!(
                    "{}/{}",
                    o.kind.clone().unwrap_or_default().to_lowercase(),
                    o.name.clone().unwrap_or_default()
                );
                let object = match &o.namespace {
                    Some(ns) if !ns.is_empty() => format!("{ns}/{object}"),
                    _ => object,
                };
                (
                    when,
                    Warning {
                        age_seconds: when.map(|w| now.duration_since(w).as_secs()),
                        object,
                        reason: e.reason.unwrap_or_default(),
                        message: one_line(&e.message.unwrap_or_default()),
                    },
                )
            })
            .collect();
        out.sort_by_key(|w| std::cmp::Reverse(w.0));
        Ok(out.into_iter().take(limit).map(|(_, w)| w).collect())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_nodes() {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": "n1", "labels": {
                "node-role.kubernetes.io/control-plane": "",
                "node-role.kubernetes.io/master": "",
                "node.openshift.io/os_id": "rhcos"
            }},
            "spec": {"providerID": "aws:///eu-west-1a/i-1"},
            "status": {
                "nodeInfo": {"kubeletVersion": "v1.29.3-eks-adc7111", "architecture": "", "bootID": "", "containerRuntimeVersion": "", "kernelVersion": "", "kubeProxyVersion": "", "machineID": "", "operatingSystem": "", "osImage": "", "systemUUID": ""},
                "conditions": [{"type": "Ready", "status": "True"}],
                "allocatable": {"cpu": "3920m", "memory": "15Gi"}
            }
        }))
        .unwrap();
        let info = node_info(&node);
        assert_eq!(info.roles, ["control-plane", "master"]);
        assert_eq!(info.kubelet_version, "v1.29.3-eks-adc7111");
        assert_eq!(info.ready, "True");
        assert_eq!(info.allocatable_cpu.as_deref(), Some("3920m"));
        assert_eq!(info.allocatable_memory.as_deref(), Some("15Gi"));
        assert!(info.openshift);
        assert_eq!(info.provider_id.as_deref(), Some("aws:///eu-west-1a/i-1"));
        let bare: Node = serde_json::from_value(json!({"metadata": {"name": "n2"}})).unwrap();
        let info = node_info(&bare);
        assert!(info.roles.is_empty());
        assert_eq!(info.ready, "Unknown");
    }

    #[test]
    fn rights_per_mode() {
        assert_eq!(rights_for(Mode::Connect), ["get", "list"]);
        assert!(rights_for(Mode::Import).contains(&"delete"));
        assert_eq!(Right { verb: "create" }.to_string(), "create */*");
    }
}
