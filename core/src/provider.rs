//! Which provider runs a cluster, told from what it reports: its `gitVersion` suffix and its
//! nodes' `providerID`s and labels.

use crate::api::Provider;

/// What a node says about where it runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeFacts<'a> {
    pub provider_id: Option<&'a str>,
    /// The node carries OpenShift's `node.openshift.io/os_id` label.
    pub openshift: bool,
}

pub const OPENSHIFT_NODE_LABEL: &str = "node.openshift.io/os_id";

/// Version suffixes are the strongest sign (they name the distribution); node provider IDs name
/// the cloud, which is enough for the managed offerings.
pub fn detect<'a>(git_version: &str, nodes: impl IntoIterator<Item = NodeFacts<'a>>) -> Provider {
    let v = git_version.to_ascii_lowercase();
    if v.contains("-eks-") {
        return Provider::EKS;
    }
    if v.contains("-gke.") {
        return Provider::GKE;
    }
    if v.contains("+k3s") {
        return Provider::K3s;
    }
    if v.contains("+rke2") {
        return Provider::RKE2;
    }
    let mut by_cloud = None;
    for node in nodes {
        if node.openshift {
            return Provider::OpenShift;
        }
        let id = node.provider_id.unwrap_or_default();
        let guess = if id.starts_with("k3s://") {
            Some(Provider::K3s)
        } else if id.starts_with("rke2://") {
            Some(Provider::RKE2)
        } else if id.starts_with("aws://") || id.starts_with("eks://") {
            Some(Provider::EKS)
        } else if id.starts_with("gce://") {
            Some(Provider::GKE)
        } else if id.starts_with("azure://") {
            Some(Provider::AKS)
        } else {
            None
        };
        by_cloud = by_cloud.or(guess);
    }
    by_cloud.unwrap_or(Provider::Generic)
}

/// The load balancer a recognised cloud provides, for capability detection.
pub fn cloud_load_balancer(provider_id: &str) -> Option<&'static str> {
    if provider_id.starts_with("aws://") {
        Some("ELB")
    } else if provider_id.starts_with("gce://") {
        Some("GCLB")
    } else if provider_id.starts_with("azure://") {
        Some("Azure L4 LB")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str) -> NodeFacts<'_> {
        NodeFacts {
            provider_id: Some(id),
            openshift: false,
        }
    }

    #[test]
    fn from_version_suffix() {
        assert_eq!(detect("v1.29.3-eks-adc7111", []), Provider::EKS);
        assert_eq!(detect("v1.32.3-gke.1785003", []), Provider::GKE);
        assert_eq!(detect("v1.28.5+k3s1", []), Provider::K3s);
        assert_eq!(detect("v1.31.4+rke2r1", []), Provider::RKE2);
        assert_eq!(detect("v1.30.1", []), Provider::Generic);
    }

    #[test]
    fn from_nodes() {
        let aks = "azure:///subscriptions/x/resourceGroups/mc_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks/virtualMachines/0";
        assert_eq!(detect("v1.29.2", [node(aks)]), Provider::AKS);
        assert_eq!(
            detect("v1.29.2", [node("aws:///eu-west-1a/i-0abc")]),
            Provider::EKS
        );
        assert_eq!(
            detect("v1.29.2", [node("gce://proj/europe-west1-b/gke-node")]),
            Provider::GKE
        );
        assert_eq!(
            detect("v1.29.2", [node("kind://docker/kind/kind-control-plane")]),
            Provider::Generic
        );
        let os = NodeFacts {
            provider_id: Some("aws:///x"),
            openshift: true,
        };
        assert_eq!(
            detect("v1.28.10+a2c84a5", [node("aws:///y"), os]),
            Provider::OpenShift
        );
    }

    #[test]
    fn load_balancers() {
        assert_eq!(cloud_load_balancer("aws:///eu-west-1a/i-1"), Some("ELB"));
        assert_eq!(cloud_load_balancer("gce://p/z/n"), Some("GCLB"));
        assert_eq!(cloud_load_balancer("azure:///sub"), Some("Azure L4 LB"));
        assert_eq!(cloud_load_balancer("k3s://n"), None);
    }
}
