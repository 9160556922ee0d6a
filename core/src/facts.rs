//! What a probe of an external cluster saw: version, identity, nodes. Pure: the probe itself is
//! `extcluster_remote::probe`; what the status becomes is [`crate::health`].

use crate::api::{NodeSummary, Provider};
use crate::health::{Seen, kubelets};
use crate::quantity;

/// What one probe found.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub git_version: String,
    /// UID of `kube-system`: the cluster's identity.
    pub cluster_id: String,
    pub nodes: Vec<NodeInfo>,
    /// What the version and nodes say; `--provider` may override it.
    pub provider: Provider,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeInfo {
    pub name: String,
    pub roles: Vec<String>,
    pub kubelet_version: String,
    /// The Ready condition's status: True, False or Unknown.
    pub ready: String,
    pub provider_id: Option<String>,
    pub openshift: bool,
    /// `status.allocatable`'s cpu and memory, as the kubelet reports them.
    pub allocatable_cpu: Option<String>,
    pub allocatable_memory: Option<String>,
    /// `topology.kubernetes.io/region` and `zone` (or their `failure-domain.beta` forms).
    pub region: Option<String>,
    pub zone: Option<String>,
    /// `node.kubernetes.io/instance-type` (or its `beta.kubernetes.io` form).
    pub instance_type: Option<String>,
    /// How K3s or RKE2 started the node, secrets masked; `None` on other nodes.
    pub config: Option<crate::node_config::NodeConfig>,
}

impl Facts {
    /// The summary the status records.
    pub fn seen(&self) -> Seen {
        Seen {
            git_version: self.git_version.clone(),
            cluster_id: self.cluster_id.clone(),
            node_count: self.nodes.len().try_into().unwrap_or(u32::MAX),
            nodes: summarize(&self.nodes),
        }
    }
}

/// Ready count, kubelet versions with their node counts, and total allocatable CPU and memory. A total is left
/// out when no node reports it.
pub fn summarize(nodes: &[NodeInfo]) -> NodeSummary {
    let total = |quantity: fn(&NodeInfo) -> Option<&String>| {
        let values: Vec<f64> = nodes
            .iter()
            .filter_map(|n| quantity(n).and_then(|q| quantity::parse(q)))
            .collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>())
    };
    NodeSummary {
        ready: nodes
            .iter()
            .filter(|n| n.ready == "True")
            .count()
            .try_into()
            .unwrap_or(u32::MAX),
        kubelets: kubelets(nodes.iter().map(|n| n.kubelet_version.as_str())),
        allocatable_cpu: total(|n| n.allocatable_cpu.as_ref()).map(quantity::cpu),
        allocatable_memory: total(|n| n.allocatable_memory.as_ref()).map(quantity::memory),
        regions: distinct(nodes.iter().filter_map(|n| n.region.as_deref())),
        zones: distinct(nodes.iter().filter_map(|n| n.zone.as_deref())),
        instance_types: distinct(nodes.iter().filter_map(|n| n.instance_type.as_deref())),
        kubelets_moved_at: None,
    }
}

fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<String> {
    let set: std::collections::BTreeSet<&str> = values.collect();
    set.into_iter().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(version: &str, ready: &str, cpu: &str, memory: &str) -> NodeInfo {
        NodeInfo {
            region: Some("eu-west-1".into()),
            zone: Some(format!("eu-west-1{}", &ready[..1].to_lowercase())),
            instance_type: Some(if cpu == "4" { "m5.xlarge" } else { "m5.large" }.into()),
            kubelet_version: version.into(),
            ready: ready.into(),
            allocatable_cpu: Some(cpu.into()),
            allocatable_memory: Some(memory.into()),
            ..NodeInfo::default()
        }
    }

    #[test]
    fn nodes_summed_as_the_status_records_them() {
        let nodes = [
            node("v1.30.2", "True", "3900m", "16Gi"),
            node("v1.29.6", "False", "4", "16384Mi"),
            node("v1.30.2", "True", "2", "8Gi"),
        ];
        let s = summarize(&nodes);
        assert_eq!(s.ready, 2);
        let counted: Vec<(&str, u32)> = s
            .kubelets
            .iter()
            .map(|k| (k.version.as_str(), k.nodes))
            .collect();
        assert_eq!(counted, [("v1.29.6", 1), ("v1.30.2", 2)]);
        assert_eq!(s.allocatable_cpu.as_deref(), Some("9900m"));
        assert_eq!(s.allocatable_memory.as_deref(), Some("40Gi"));
        assert_eq!(s.regions, ["eu-west-1"]);
        assert_eq!(s.zones, ["eu-west-1f", "eu-west-1t"]);
        assert_eq!(s.instance_types, ["m5.large", "m5.xlarge"]);
        let bare = summarize(&[NodeInfo::default()]);
        assert_eq!((bare.ready, bare.allocatable_cpu), (0, None));
        assert!(bare.kubelets.is_empty());
    }
}
