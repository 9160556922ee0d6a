//! Capability detection (`annotate --detect`): what a cluster shows about its capabilities, read
//! through the hub's stored kubeconfig, and the values that follow from it, each with the reason.
//!
//! Reading ([`observe`]) is separate from deciding ([`propose`]), so every rule is tested without
//! a cluster.

use extcluster_core::Capability;
use extcluster_core::provider::cloud_load_balancer;
use extcluster_remote::failure::{Failure, is_not_found};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::networking::v1::IngressClass;
use kube::Client;
use kube::api::{Api, ListParams};
use serde_json::json;

/// What was read from the cluster; each part is its own result, so one refusal does not hide the
/// rest.
#[derive(Debug, Clone)]
pub struct CapabilitySignals {
    /// (name, controller) of every IngressClass.
    pub ingress_classes: Reading<Vec<(String, String)>>,
    pub nodes: Reading<Vec<NodeView>>,
    /// Whether discovery lists policy/v1beta1 podsecuritypolicies.
    pub psp_served: Reading<bool>,
    /// kube-apiserver Pods in kube-system (as kubeadm and similar run it).
    pub apiservers: Reading<Vec<ApiServerPod>>,
}

/// A kube-apiserver Pod and the flags detection reads from its command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiServerPod {
    pub name: String,
    /// `--service-node-port-range`, if set.
    pub node_port_range: Option<String>,
    /// `--enable-admission-plugins`, split at commas (empty when the flag is not set).
    pub admission_plugins: Vec<String>,
}

/// A value read, or why it could not be.
pub type Reading<T> = Result<T, String>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeView {
    pub name: String,
    /// `key=value:Effect`
    pub taints: Vec<String>,
    pub provider_id: Option<String>,
}

/// What detection proposes for one capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub capability: Capability,
    /// `None`: nothing can be said, leave it as it is.
    pub value: Option<String>,
    pub why: String,
}

fn reading<T>(r: Result<T, kube::Error>) -> Reading<T> {
    r.map_err(|e| match Failure::of(&e) {
        Failure::Status {
            code: 403, message, ..
        } => format!("the stored credentials may not read it ({message})"),
        other => other.to_string(),
    })
}

/// Reads what detection needs. Never fails as a whole.
pub async fn read_signals(client: &Client) -> CapabilitySignals {
    let ingress = Api::<IngressClass>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .map(|c| {
                    (
                        c.metadata.name.unwrap_or_default(),
                        c.spec.and_then(|s| s.controller).unwrap_or_default(),
                    )
                })
                .collect()
        });
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map(|l| l.items.iter().map(node_view).collect());
    let psp = match client.list_api_group_resources("policy/v1beta1").await {
        Ok(list) => Ok(list
            .resources
            .iter()
            .any(|r| r.name == "podsecuritypolicies")),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(e),
    };
    let apiservers = Api::<Pod>::namespaced(client.clone(), "kube-system")
        .list(&ListParams::default().labels("component=kube-apiserver"))
        .await
        .map(|l| {
            l.items
                .iter()
                .map(|p| {
                    let args: Vec<String> = p
                        .spec
                        .iter()
                        .flat_map(|s| &s.containers)
                        .flat_map(|c| c.command.iter().flatten().chain(c.args.iter().flatten()))
                        .cloned()
                        .collect();
                    ApiServerPod {
                        name: p.metadata.name.clone().unwrap_or_default(),
                        node_port_range: flag_value(&args, "--service-node-port-range"),
                        admission_plugins: flag_value(&args, "--enable-admission-plugins")
                            .iter()
                            .flat_map(|v| v.split(','))
                            .map(str::to_owned)
                            .collect(),
                    }
                })
                .collect()
        });
    CapabilitySignals {
        ingress_classes: reading(ingress),
        nodes: reading(nodes),
        psp_served: reading(psp),
        apiservers: reading(apiservers),
    }
}

fn node_view(n: &Node) -> NodeView {
    let spec = n.spec.clone().unwrap_or_default();
    NodeView {
        name: n.metadata.name.clone().unwrap_or_default(),
        taints: spec
            .taints
            .unwrap_or_default()
            .iter()
            .map(|t| match &t.value {
                Some(v) if !v.is_empty() => format!("{}={v}:{}", t.key, t.effect),
                _ => format!("{}:{}", t.key, t.effect),
            })
            .collect(),
        provider_id: spec.provider_id.filter(|p| !p.is_empty()),
    }
}

/// `--flag=value` or `--flag value` in a command line.
pub fn flag_value(args: &[String], flag: &str) -> Option<String> {
    let mut it = args.iter().flat_map(|a| a.split_whitespace());
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix(flag) {
            if let Some(v) = v.strip_prefix('=') {
                return Some(v.to_owned());
            }
            if v.is_empty() {
                return it.next().map(str::to_owned);
            }
        }
    }
    None
}

/// The ingress provider name for an IngressClass controller, as capability values spell it.
pub fn ingress_provider(controller: &str) -> String {
    match controller {
        "k8s.io/ingress-nginx" | "nginx.org/ingress-controller" => "Nginx".into(),
        "k8s.io/ingress-gce" | "networking.gke.io/ingress-gce" => "GCLB".into(),
        "ingress.k8s.aws/alb" => "ALB".into(),
        "azure/application-gateway" => "Azure Application Gateway".into(),
        "traefik.io/ingress-controller" => "Traefik".into(),
        "haproxy.org/ingress-controller" | "haproxy-ingress.github.io/controller" => {
            "HAProxy".into()
        }
        other => other.into(),
    }
}

/// The default `--service-node-port-range`.
pub const DEFAULT_NODE_PORT_RANGE: &str = "30000-32767";

/// What the observations say, for every capability in [`Capability::ALL`] order.
pub fn propose(o: &CapabilitySignals) -> Vec<Proposal> {
    Capability::ALL
        .into_iter()
        .map(|capability| {
            let (value, why) = match capability {
                Capability::IngressCapabilities => ingress(o),
                Capability::LoadBalancerCapabilities => load_balancer(o),
                Capability::NodePoolScalingSupported => (
                    None,
                    "not visible from inside a cluster (node pools belong to the cloud or the installer)"
                        .to_owned(),
                ),
                Capability::NodePortRange => node_port_range(o),
                Capability::PspEnabled => psp(o),
                Capability::TaintSupport => taints(o),
            };
            // What detection proposes passes the same check as what a person types.
            let value = value.filter(|v| capability.validate(v).is_ok());
            Proposal {
                capability,
                value,
                why,
            }
        })
        .collect()
}

fn cannot(what: &str, why: &str) -> (Option<String>, String) {
    (None, format!("cannot read {what}: {why}"))
}

fn ingress(o: &CapabilitySignals) -> (Option<String>, String) {
    let classes = match &o.ingress_classes {
        Ok(c) => c,
        Err(why) => return cannot("IngressClasses", why),
    };
    if classes.is_empty() {
        return (
            None,
            "no IngressClass exists (an ingress controller may still run without one)".into(),
        );
    }
    let mut providers: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    for (name, controller) in classes {
        let provider = ingress_provider(controller);
        seen.push(format!("IngressClass {name} has controller {controller}"));
        if !provider.trim().is_empty() && !providers.contains(&provider) {
            providers.push(provider);
        }
    }
    if providers.is_empty() {
        return (None, format!("{}, naming no provider", seen.join("; ")));
    }
    let list: Vec<_> = providers
        .iter()
        .map(|p| json!({"ingressProvider": p}))
        .collect();
    (Some(json!(list).to_string()), seen.join("; "))
}

fn load_balancer(o: &CapabilitySignals) -> (Option<String>, String) {
    let nodes = match &o.nodes {
        Ok(n) => n,
        Err(why) => return cannot("nodes", why),
    };
    let found = nodes.iter().find_map(|n| {
        let id = n.provider_id.as_deref()?;
        cloud_load_balancer(id).map(|lb| (n, id, lb))
    });
    match found {
        Some((n, id, lb)) => (
            Some(json!({"enabled": true, "provider": lb}).to_string()),
            format!(
                "node {} has providerID {id}, whose cloud provides {lb}",
                n.name
            ),
        ),
        None => (
            None,
            "no node has the providerID of a cloud whose load balancer is known (aws, gce, azure)"
                .into(),
        ),
    }
}

fn node_port_range(o: &CapabilitySignals) -> (Option<String>, String) {
    let pods = match &o.apiservers {
        Ok(p) => p,
        Err(why) => return cannot("the kube-apiserver Pods in kube-system", why),
    };
    if let Some((pod, range)) = pods
        .iter()
        .find_map(|p| Some((&p.name, p.node_port_range.as_ref()?)))
    {
        return (
            Some(range.clone()),
            format!(
                "Pod kube-system/{pod} runs kube-apiserver with --service-node-port-range={range}"
            ),
        );
    }
    match pods.first() {
        Some(pod) => (
            Some(DEFAULT_NODE_PORT_RANGE.into()),
            format!(
                "Pod kube-system/{} runs kube-apiserver without --service-node-port-range, so the default applies",
                pod.name
            ),
        ),
        None => (None, FLAGS_NOT_VISIBLE.into()),
    }
}

const FLAGS_NOT_VISIBLE: &str = "the API server's flags are not visible (no kube-apiserver Pod in kube-system, as on managed clusters)";

/// PodSecurityPolicy is enforced when its admission plugin is enabled, which needs the API served
/// too; the API being served alone (every cluster before 1.25 serves it) is not enough.
fn psp(o: &CapabilitySignals) -> (Option<String>, String) {
    match &o.psp_served {
        Ok(true) => {}
        Ok(false) => {
            return (
                Some("false".into()),
                "the API server does not serve PodSecurityPolicy (policy/v1beta1 podsecuritypolicies), so nothing enforces it"
                    .into(),
            );
        }
        Err(why) => return cannot("the policy/v1beta1 API", why),
    }
    let pods = match &o.apiservers {
        Ok(p) => p,
        Err(why) => return cannot("the kube-apiserver Pods in kube-system", why),
    };
    let Some(pod) = pods.first() else {
        return (
            None,
            format!(
                "the API server serves podsecuritypolicies, which does not show whether the PodSecurityPolicy admission plugin enforces them: {FLAGS_NOT_VISIBLE}"
            ),
        );
    };
    let enabled = pods
        .iter()
        .find(|p| p.admission_plugins.iter().any(|a| a == "PodSecurityPolicy"));
    match enabled {
        Some(p) => (
            Some("true".into()),
            format!(
                "Pod kube-system/{} runs kube-apiserver with the PodSecurityPolicy admission plugin in --enable-admission-plugins",
                p.name
            ),
        ),
        None => (
            Some("false".into()),
            format!(
                "the API server serves podsecuritypolicies, but Pod kube-system/{} runs kube-apiserver without the PodSecurityPolicy admission plugin, so nothing enforces them",
                pod.name
            ),
        ),
    }
}

fn taints(o: &CapabilitySignals) -> (Option<String>, String) {
    let nodes = match &o.nodes {
        Ok(n) => n,
        Err(why) => return cannot("nodes", why),
    };
    match nodes.iter().find(|n| !n.taints.is_empty()) {
        Some(n) => (
            Some("true".into()),
            format!("node {} has taint {}", n.name, n.taints.join(", ")),
        ),
        None => (
            None,
            format!(
                "none of the {} nodes has a taint, which does not show whether taints are supported",
                nodes.len()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, taints: &[&str], id: Option<&str>) -> NodeView {
        NodeView {
            name: name.into(),
            taints: taints.iter().map(|t| (*t).to_owned()).collect(),
            provider_id: id.map(str::to_owned),
        }
    }

    fn find(ps: &[Proposal], c: Capability) -> &Proposal {
        ps.iter().find(|p| p.capability == c).unwrap()
    }

    #[test]
    fn a_cloud_cluster_with_everything_visible() {
        let o = CapabilitySignals {
            ingress_classes: Ok(vec![
                ("nginx".into(), "k8s.io/ingress-nginx".into()),
                ("nginx-internal".into(), "k8s.io/ingress-nginx".into()),
                ("custom".into(), "example.com/mine".into()),
            ]),
            nodes: Ok(vec![
                node("a", &[], None),
                node(
                    "b",
                    &["dedicated=infra:NoSchedule"],
                    Some("aws:///eu-west-1a/i-0abc"),
                ),
            ]),
            psp_served: Ok(true),
            apiservers: Ok(vec![ApiServerPod {
                name: "kube-apiserver-cp1".into(),
                node_port_range: Some("30000-32000".into()),
                admission_plugins: vec!["NodeRestriction".into(), "PodSecurityPolicy".into()],
            }]),
        };
        let ps = propose(&o);
        assert_eq!(ps.len(), Capability::ALL.len());
        let ing = find(&ps, Capability::IngressCapabilities);
        assert_eq!(
            ing.value.as_deref(),
            Some(r#"[{"ingressProvider":"Nginx"},{"ingressProvider":"example.com/mine"}]"#)
        );
        assert!(
            ing.why
                .contains("IngressClass nginx has controller k8s.io/ingress-nginx")
        );
        let lb = find(&ps, Capability::LoadBalancerCapabilities);
        assert_eq!(
            lb.value.as_deref(),
            Some(r#"{"enabled":true,"provider":"ELB"}"#)
        );
        assert!(lb.why.contains("aws:///eu-west-1a/i-0abc"), "{}", lb.why);
        let t = find(&ps, Capability::TaintSupport);
        assert_eq!(t.value.as_deref(), Some("true"));
        assert!(t.why.contains("dedicated=infra:NoSchedule"));
        assert_eq!(
            find(&ps, Capability::PspEnabled).value.as_deref(),
            Some("true")
        );
        assert_eq!(
            find(&ps, Capability::NodePortRange).value.as_deref(),
            Some("30000-32000")
        );
        assert_eq!(find(&ps, Capability::NodePoolScalingSupported).value, None);
        for p in &ps {
            if let Some(v) = &p.value {
                p.capability.validate(v).unwrap();
            }
        }
    }

    #[test]
    fn a_bare_cluster_says_little_and_why() {
        let o = CapabilitySignals {
            ingress_classes: Ok(vec![]),
            nodes: Ok(vec![node("a", &[], Some("kind://docker/x/y"))]),
            psp_served: Ok(false),
            apiservers: Ok(vec![]),
        };
        let ps = propose(&o);
        assert_eq!(find(&ps, Capability::IngressCapabilities).value, None);
        assert_eq!(find(&ps, Capability::LoadBalancerCapabilities).value, None);
        assert_eq!(find(&ps, Capability::TaintSupport).value, None);
        assert_eq!(
            find(&ps, Capability::PspEnabled).value.as_deref(),
            Some("false")
        );
        let npr = find(&ps, Capability::NodePortRange);
        assert_eq!(npr.value, None);
        assert!(npr.why.contains("not visible"), "{}", npr.why);
        for p in &ps {
            assert!(!p.why.is_empty(), "{:?}", p.capability);
        }
    }

    #[test]
    fn refusals_are_reasons_not_values() {
        let denied =
            || Err::<Vec<NodeView>, _>("the stored credentials may not read it".to_owned());
        let o = CapabilitySignals {
            ingress_classes: Err("no".into()),
            nodes: denied(),
            psp_served: Err("no".into()),
            apiservers: Ok(vec![ApiServerPod {
                name: "kube-apiserver-x".into(),
                ..ApiServerPod::default()
            }]),
        };
        let ps = propose(&o);
        assert_eq!(find(&ps, Capability::TaintSupport).value, None);
        assert!(
            find(&ps, Capability::TaintSupport)
                .why
                .starts_with("cannot read nodes")
        );
        assert_eq!(find(&ps, Capability::PspEnabled).value, None);
        assert_eq!(
            find(&ps, Capability::NodePortRange).value.as_deref(),
            Some(DEFAULT_NODE_PORT_RANGE)
        );
    }

    #[test]
    fn psp_served_is_not_psp_enforced() {
        let with = |apiservers: Reading<Vec<ApiServerPod>>| {
            let o = CapabilitySignals {
                ingress_classes: Ok(vec![]),
                nodes: Ok(vec![]),
                psp_served: Ok(true),
                apiservers,
            };
            find(&propose(&o), Capability::PspEnabled).clone()
        };
        let managed = with(Ok(vec![]));
        assert_eq!(managed.value, None, "served, plugin unknown: nothing said");
        assert!(
            managed.why.contains("does not show whether"),
            "{}",
            managed.why
        );
        let off = with(Ok(vec![ApiServerPod {
            name: "kube-apiserver-cp1".into(),
            admission_plugins: vec!["NodeRestriction".into()],
            ..ApiServerPod::default()
        }]));
        assert_eq!(off.value.as_deref(), Some("false"));
        assert!(
            off.why
                .contains("without the PodSecurityPolicy admission plugin"),
            "{}",
            off.why
        );
        let unreadable = with(Err("the stored credentials may not read it".into()));
        assert_eq!(unreadable.value, None);
        assert!(
            unreadable
                .why
                .starts_with("cannot read the kube-apiserver Pods")
        );
    }

    #[test]
    fn flags_and_controllers() {
        let args: Vec<String> = [
            "kube-apiserver",
            "--secure-port=6443",
            "--service-node-port-range",
            "20000-22767",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            flag_value(&args, "--service-node-port-range").as_deref(),
            Some("20000-22767")
        );
        let args = vec!["--service-node-port-range=1-2".to_owned()];
        assert_eq!(
            flag_value(&args, "--service-node-port-range").as_deref(),
            Some("1-2")
        );
        assert_eq!(flag_value(&args, "--secure-port"), None);
        assert_eq!(ingress_provider("k8s.io/ingress-nginx"), "Nginx");
        assert_eq!(ingress_provider("networking.gke.io/ingress-gce"), "GCLB");
        assert_eq!(ingress_provider("example.com/x"), "example.com/x");
    }
}
