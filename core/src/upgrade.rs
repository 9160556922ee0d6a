//! Upgrading an imported K3s or RKE2 cluster the way Rancher does: through the cluster's own
//! system-upgrade-controller, with two `upgrade.cattle.io/v1` Plans: one for the server
//! (control-plane) nodes, one for the agents that waits for it. Pure: which upgrades are allowed,
//! and the Plans; applying them is the plugin's.

use crate::api::{MANAGER, Mode, Provider};
use crate::version::{KubeVersion, VersionRange};
use serde_json::{Value, json};

/// The Plan API's group and version, and the namespace system-upgrade-controller runs in.
pub const PLAN_GROUP: &str = "upgrade.cattle.io";
pub const PLAN_VERSION: &str = "v1";
pub const PLAN_NAMESPACE: &str = "system-upgrade";
/// The label K3s and RKE2 put on server nodes.
pub const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";

/// Why an upgrade is refused, each with what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "{name:?} is registered read-only (Connect); upgrading changes the cluster: move it to import first with `kubectl extcluster set-mode {name} import`"
    )]
    ReadOnly { name: String },
    #[error(
        "{name:?} is a {provider} cluster; upgrade drives K3s and RKE2 clusters through their system-upgrade-controller: upgrade it with its provider's tools"
    )]
    NotK3sOrRke2 { name: String, provider: Provider },
    #[error(
        "{target:?} is not a {distribution} release; name one as {distribution} tags them, such as v1.30.4+{suffix}1"
    )]
    NotARelease {
        target: String,
        distribution: &'static str,
        suffix: &'static str,
    },
    #[error("{name:?} already runs {current}; nothing to upgrade")]
    AlreadyThere { name: String, current: String },
    #[error(
        "{target} is older than the {current} {name:?} runs; Kubernetes clusters are not downgraded in place: restore from a backup instead"
    )]
    Downgrade {
        name: String,
        current: String,
        target: String,
    },
    #[error(
        "{target} skips minor versions from {current}; Kubernetes upgrades one minor at a time: upgrade to {current_major}.{next_minor} first"
    )]
    Skips {
        current: String,
        target: String,
        current_major: u64,
        next_minor: u64,
    },
    #[error(
        "{target} is outside the versions the hub accepts ({range}); the hub would flag the cluster afterwards: choose a version within the range"
    )]
    OutOfRange { target: String, range: String },
    #[error("{0}")]
    Unreadable(String),
}

/// An upgrade asked for: the registration and where it should go.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub name: &'a str,
    pub mode: Mode,
    pub provider: Provider,
    /// The version the cluster runs now.
    pub current: &'a str,
    pub target: &'a str,
}

/// How the nodes move: how many at once of each kind, and whether agents are drained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub server_concurrency: u32,
    pub worker_concurrency: u32,
    pub drain: bool,
}

/// Whether `request` may go ahead, by the same version rule admission uses; the distribution
/// that carries it out when it may.
pub fn check(request: &Request<'_>, accepted: &VersionRange) -> Result<Distribution, Refusal> {
    let name = request.name.to_owned();
    if request.mode == Mode::Connect {
        return Err(Refusal::ReadOnly { name });
    }
    let distribution = distribution_of(request.name, request.provider)?;
    let suffix = format!("+{}", distribution.suffix);
    if !request.target.contains(&suffix) {
        return Err(Refusal::NotARelease {
            target: request.target.to_owned(),
            distribution: distribution.name,
            suffix: distribution.suffix,
        });
    }
    let parse = |v: &str| KubeVersion::parse(v).map_err(|e| Refusal::Unreadable(e.to_string()));
    let (current, target) = (parse(request.current)?, parse(request.target)?);
    let (current_text, target_text) = (request.current.to_owned(), request.target.to_owned());
    if target == current && request.target.trim() == request.current.trim() {
        return Err(Refusal::AlreadyThere {
            name,
            current: current_text,
        });
    }
    if target < current {
        return Err(Refusal::Downgrade {
            name,
            current: current_text,
            target: target_text,
        });
    }
    if target.major != current.major || target.minor > current.minor + 1 {
        return Err(Refusal::Skips {
            current: current_text,
            target: target_text,
            current_major: current.major,
            next_minor: current.minor + 1,
        });
    }
    if !accepted.contains(target) {
        return Err(Refusal::OutOfRange {
            target: target_text,
            range: accepted.to_string(),
        });
    }
    Ok(distribution)
}

/// The distribution of a K3s or RKE2 registration; refused for any other provider.
pub fn distribution_of(name: &str, provider: Provider) -> Result<Distribution, Refusal> {
    distribution(provider).ok_or(Refusal::NotK3sOrRke2 {
        name: name.to_owned(),
        provider,
    })
}

/// A distribution system-upgrade-controller upgrades.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Distribution {
    /// `k3s` or `rke2`: the Plans' names start with it.
    pub name: &'static str,
    /// What its release tags carry after `+` (`v1.30.4+k3s1`).
    pub suffix: &'static str,
    /// The image that upgrades a node to a release (tagged by it).
    pub image: &'static str,
}

pub fn distribution(provider: Provider) -> Option<Distribution> {
    match provider {
        Provider::K3s => Some(Distribution {
            name: "k3s",
            suffix: "k3s",
            image: "rancher/k3s-upgrade",
        }),
        Provider::RKE2 => Some(Distribution {
            name: "rke2",
            suffix: "rke2r",
            image: "rancher/rke2-upgrade",
        }),
        _ => None,
    }
}

/// The Plans' names: servers first, then agents.
pub fn plan_names(d: Distribution) -> [String; 2] {
    [format!("{}-server", d.name), format!("{}-agent", d.name)]
}

/// The two Plans: servers `pace.server_concurrency` at a time, cordoned; then agents
/// `pace.worker_concurrency` at a time, cordoned or drained, once the servers are done.
pub fn plans(d: Distribution, target: &str, pace: Pace) -> [Value; 2] {
    let [server_name, agent_name] = plan_names(d);
    let plan = |name: &str, spec: Value| {
        json!({
            "apiVersion": format!("{PLAN_GROUP}/{PLAN_VERSION}"),
            "kind": "Plan",
            "metadata": {
                "name": name,
                "namespace": PLAN_NAMESPACE,
                "labels": {"app.kubernetes.io/managed-by": MANAGER},
            },
            "spec": spec,
        })
    };
    let server = plan(
        &server_name,
        json!({
            "concurrency": pace.server_concurrency,
            "cordon": true,
            "nodeSelector": {"matchExpressions": [
                {"key": CONTROL_PLANE_LABEL, "operator": "In", "values": ["true"]}
            ]},
            "serviceAccountName": PLAN_NAMESPACE,
            "upgrade": {"image": d.image},
            "version": target,
        }),
    );
    let mut agent_spec = json!({
        "concurrency": pace.worker_concurrency,
        "nodeSelector": {"matchExpressions": [
            {"key": CONTROL_PLANE_LABEL, "operator": "DoesNotExist"}
        ]},
        "prepare": {"image": d.image, "args": ["prepare", server_name]},
        "serviceAccountName": PLAN_NAMESPACE,
        "upgrade": {"image": d.image},
        "version": target,
    });
    if pace.drain {
        agent_spec["drain"] = json!({"force": true, "skipWaitForDeleteTimeout": 60});
    } else {
        agent_spec["cordon"] = json!(true);
    }
    [server, plan(&agent_name, agent_spec)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask<'a>(mode: Mode, provider: Provider, current: &'a str, target: &'a str) -> Request<'a> {
        Request {
            name: "edge",
            mode,
            provider,
            current,
            target,
        }
    }

    #[test]
    fn every_refusal_says_what_to_do() {
        let range = VersionRange::default();
        let refused = |r: Request<'_>| check(&r, &range).unwrap_err().to_string();
        let k3s = |current, target| ask(Mode::Import, Provider::K3s, current, target);
        assert!(
            refused(ask(
                Mode::Connect,
                Provider::K3s,
                "v1.29.3+k3s1",
                "v1.30.4+k3s1"
            ))
            .contains("set-mode edge import")
        );
        assert!(
            refused(ask(Mode::Import, Provider::EKS, "v1.29.3", "v1.30.4")).contains("EKS cluster")
        );
        assert!(refused(k3s("v1.29.3+k3s1", "v1.30.4")).contains("such as v1.30.4+k3s1"));
        assert!(refused(k3s("v1.29.3+k3s1", "v1.28.9+k3s1")).contains("not downgraded"));
        assert!(refused(k3s("v1.29.3+k3s1", "v1.31.0+k3s1")).contains("upgrade to 1.30 first"));
        assert!(refused(k3s("v1.29.3+k3s1", "v1.29.3+k3s1")).contains("already runs"));
        assert!(
            refused(k3s("v1.34.1+k3s1", "v1.35.0+k3s1"))
                .contains("outside the versions the hub accepts")
        );
        assert!(check(&k3s("v1.29.3+k3s1", "v1.30.4+k3s1"), &range).is_ok());
        assert!(
            check(&k3s("v1.29.3+k3s1", "v1.29.3+k3s2"), &range).is_ok(),
            "a new K3s revision"
        );
        let rke2 = ask(
            Mode::Import,
            Provider::RKE2,
            "v1.29.3+rke2r1",
            "v1.30.4+rke2r1",
        );
        assert_eq!(check(&rke2, &range).map(|d| d.name), Ok("rke2"));
    }

    #[test]
    fn servers_then_agents_at_their_own_pace() {
        let d = distribution(Provider::RKE2).unwrap();
        let pace = Pace {
            server_concurrency: 1,
            worker_concurrency: 3,
            drain: true,
        };
        let [server, agent] = plans(d, "v1.30.4+rke2r1", pace);
        assert_eq!(server["metadata"]["name"], "rke2-server");
        assert_eq!(server["spec"]["concurrency"], 1);
        assert_eq!(server["spec"]["upgrade"]["image"], "rancher/rke2-upgrade");
        assert_eq!(
            server["spec"]["nodeSelector"]["matchExpressions"][0]["operator"],
            "In"
        );
        assert_eq!(agent["spec"]["concurrency"], 3);
        assert_eq!(
            agent["spec"]["prepare"]["args"],
            json!(["prepare", "rke2-server"])
        );
        assert_eq!(agent["spec"]["drain"]["force"], true);
        assert!(agent["spec"].get("cordon").is_none());
        assert_eq!(agent["spec"]["version"], "v1.30.4+rke2r1");
    }
}
