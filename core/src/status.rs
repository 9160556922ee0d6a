//! What a probe of an external cluster saw, and the status that follows from it: phase, version,
//! nodes, the Ready condition. Pure: the probe itself is `extcluster_remote::probe`.

use crate::api::Provider;
use crate::version::KubeVersion;
use crate::{ExternalClusterStatus, Phase};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use std::collections::BTreeSet;

pub const READY: &str = "Ready";

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub roles: Vec<String>,
    pub kubelet_version: String,
    /// The Ready condition's status: True, False or Unknown.
    pub ready: String,
    pub provider_id: Option<String>,
    pub openshift: bool,
}

/// The distinct kubelet minor versions the nodes report, as `1.29`.
pub fn kubelet_minors(nodes: &[NodeInfo]) -> BTreeSet<(u64, u64)> {
    nodes
        .iter()
        .filter_map(|n| KubeVersion::parse(&n.kubelet_version).ok())
        .map(|v| (v.major, v.minor))
        .collect()
}

/// The status after a probe: Running when the cluster answered, Reconciling when its nodes run
/// different minor versions (an upgrade in progress), Unreachable with the error when it did
/// not. What an unreachable cluster reported before is kept.
pub fn after_probe(
    old: Option<&ExternalClusterStatus>,
    outcome: Result<&Facts, &str>,
    now: Timestamp,
    generation: Option<i64>,
) -> ExternalClusterStatus {
    let mut status = old.cloned().unwrap_or_default();
    status.last_probe_time = Some(Time(now));
    let (ready, reason, message) = match outcome {
        Ok(facts) => {
            let minors = kubelet_minors(&facts.nodes);
            status.observed_version = Some(facts.git_version.clone());
            status.node_count = Some(facts.nodes.len().try_into().unwrap_or(u32::MAX));
            if minors.len() > 1 {
                let list: Vec<String> = minors.iter().map(|(a, b)| format!("{a}.{b}")).collect();
                let why = format!(
                    "nodes report kubelet versions {}: an upgrade is in progress",
                    list.join(", ")
                );
                status.phase = Some(Phase::Reconciling);
                status.message = Some(why.clone());
                (true, "MixedNodeVersions", why)
            } else {
                status.phase = Some(Phase::Running);
                status.message = None;
                (
                    true,
                    "ProbeSucceeded",
                    format!(
                        "the API server answered: {}, {} nodes",
                        facts.git_version,
                        facts.nodes.len()
                    ),
                )
            }
        }
        Err(error) => {
            status.phase = Some(Phase::Unreachable);
            status.message = Some(error.to_owned());
            (false, "Unreachable", error.to_owned())
        }
    };
    set_condition(
        &mut status.conditions,
        Condition {
            type_: READY.into(),
            status: if ready { "True" } else { "False" }.into(),
            reason: reason.into(),
            message,
            last_transition_time: Time(now),
            observed_generation: generation,
        },
    );
    status
}

/// Replaces the condition of the same type, keeping its transition time when its status did not
/// change.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) {
    if let Some(old) = conditions.iter_mut().find(|c| c.type_ == new.type_) {
        if old.status == new.status {
            new.last_transition_time = old.last_transition_time.clone();
        }
        *old = new;
    } else {
        conditions.push(new);
    }
}

/// A merge patch for the status subresource that also clears what the new status leaves unset.
pub fn patch(status: &ExternalClusterStatus) -> Value {
    let mut body = serde_json::to_value(status).unwrap_or_else(|_| json!({}));
    if let Value::Object(m) = &mut body {
        for key in ["message", "phase", "observedVersion", "nodeCount"] {
            m.entry(key).or_insert(Value::Null);
        }
    }
    json!({ "status": body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(v: &str) -> NodeInfo {
        NodeInfo {
            name: "n".into(),
            roles: vec![],
            kubelet_version: v.into(),
            ready: "True".into(),
            provider_id: None,
            openshift: false,
        }
    }

    fn facts(versions: &[&str]) -> Facts {
        Facts {
            git_version: "v1.29.3-eks-adc7111".into(),
            cluster_id: "uid".into(),
            nodes: versions.iter().map(|v| node(v)).collect(),
            provider: Provider::EKS,
        }
    }

    #[test]
    fn phases() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let t1 = Timestamp::from_second(2_000).unwrap();
        let f = facts(&["v1.29.3-eks-adc7111", "v1.29.1-eks-1"]);
        let running = after_probe(None, Ok(&f), t0, Some(1));
        assert_eq!(running.phase, Some(Phase::Running));
        assert_eq!(running.node_count, Some(2));
        assert_eq!(
            running.observed_version.as_deref(),
            Some("v1.29.3-eks-adc7111")
        );
        assert_eq!(running.conditions[0].status, "True");

        let down = after_probe(Some(&running), Err("connection refused"), t1, Some(1));
        assert_eq!(down.phase, Some(Phase::Unreachable));
        assert_eq!(down.message.as_deref(), Some("connection refused"));
        assert_eq!(down.node_count, Some(2), "what it reported is kept");
        assert_eq!(down.conditions.len(), 1);
        assert_eq!(down.conditions[0].status, "False");
        assert_eq!(down.conditions[0].last_transition_time, Time(t1));

        let mixed = facts(&["v1.28.5", "v1.29.3"]);
        let upgrading = after_probe(Some(&down), Ok(&mixed), t1, None);
        assert_eq!(upgrading.phase, Some(Phase::Reconciling));
        assert!(upgrading.message.as_deref().unwrap().contains("1.28, 1.29"));

        let back = after_probe(Some(&upgrading), Ok(&f), t1, None);
        assert_eq!(back.phase, Some(Phase::Running));
        assert_eq!(back.message, None);
        let p = patch(&back);
        assert!(p["status"]["message"].is_null() && p["status"].get("message").is_some());
        assert_eq!(p["status"]["phase"], "Running");
    }

    #[test]
    fn condition_transition_time_kept_when_unchanged() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let t1 = Timestamp::from_second(5_000).unwrap();
        let f = facts(&["v1.29.3"]);
        let a = after_probe(None, Ok(&f), t0, None);
        let b = after_probe(Some(&a), Ok(&f), t1, None);
        assert_eq!(b.conditions[0].last_transition_time, Time(t0));
        assert_eq!(b.last_probe_time, Some(Time(t1)));
    }
}
