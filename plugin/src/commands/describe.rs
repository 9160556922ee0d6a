//! `describe NAME`: the registration as the hub records it, and the cluster as it is now, read
//! live through the stored kubeconfig when it answers.

use crate::hub::{Global, Hub};
use crate::output::{age, escape_controls, escape_controls_in, human_duration, table};
use anyhow::Result;
use clap::Args;
use extcluster_core::capability::{PREFIX, declared};
use extcluster_core::facts::NodeInfo;
use extcluster_core::health::is_stale;
use extcluster_core::node_config::{MASKED, NodeConfig};
use extcluster_core::quantity;
use extcluster_core::{ExternalCluster, ExternalClusterStatus, NodeSummary};
use extcluster_remote::probe::{self, NodeUsage, Warning};
use extcluster_remote::stored;
use extcluster_remote::words::one_line;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::fmt::Write as _;

/// Show a registration in detail, with the cluster's nodes and warnings read live
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  kubectl extcluster describe prod-eu")]
pub struct DescribeArgs {
    pub name: String,
}

/// What describe read from the cluster itself.
#[derive(Debug, Clone)]
pub struct Live {
    pub nodes: Vec<NodeInfo>,
    /// Current use per node (metrics.k8s.io); `None` when the cluster does not serve it.
    pub usage: Result<Option<Vec<NodeUsage>>, String>,
    /// Warning events, or why they could not be read.
    pub warnings: Result<Vec<Warning>, String>,
    /// Where a K3s or RKE2 upgrade is, node by node (`upgrade --status`); `Ok(None)` when none
    /// was started or the cluster is neither.
    pub upgrade: Result<Option<String>, String>,
}

const WARNINGS_SHOWN: usize = 10;

pub async fn run(global: &Global, args: &DescribeArgs) -> Result<()> {
    let hub = Hub::connect(global).await?;
    let cluster = hub.registration(&args.name).await?;
    let live = live(&hub, &cluster).await;
    print!("{}", render(&cluster, &live, Timestamp::now()));
    Ok(())
}

async fn live(hub: &Hub, cluster: &ExternalCluster) -> Result<Live, String> {
    let client = stored::client(&hub.client, cluster)
        .await
        .map_err(|e| e.to_string())?;
    let facts = probe::facts(&client)
        .await
        .map_err(|f| stored::explain(cluster, &f))?;
    let warnings = probe::warnings(&client, WARNINGS_SHOWN)
        .await
        .map_err(|f| f.to_string());
    let usage = probe::node_usage(&client).await.map_err(|f| f.to_string());
    let upgrade = match extcluster_core::upgrade::distribution(cluster.spec.provider) {
        Some(d) => super::upgrade::progress(&client, d)
            .await
            .map_err(|e| e.to_string()),
        None => Ok(None),
    };
    Ok(Live {
        nodes: facts.nodes,
        usage,
        warnings,
        upgrade,
    })
}

fn none_if_empty(s: &str) -> &str {
    if s.is_empty() { "<none>" } else { s }
}

fn time_and_age(t: Option<&Timestamp>, now: Timestamp) -> String {
    match t {
        Some(t) => format!("{t} ({} ago)", age(Some(t), now)),
        None => "<none>".into(),
    }
}

fn map_lines(
    out: &mut String,
    key: &str,
    map: Option<&std::collections::BTreeMap<String, String>>,
) {
    let entries: Vec<String> = map
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != "kubectl.kubernetes.io/last-applied-configuration")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if entries.is_empty() {
        let _ = writeln!(out, "{key:<14}<none>");
    }
    for (i, e) in entries.iter().enumerate() {
        let label = if i == 0 { key } else { "" };
        let _ = writeln!(out, "{label:<14}{e}");
    }
}

fn indent(block: &str, by: &str) -> String {
    block.lines().map(|l| format!("{by}{l}\n")).collect()
}

/// The whole description. Pure, so it can be tested without a cluster.
pub fn render(c: &ExternalCluster, live: &Result<Live, String>, now: Timestamp) -> String {
    let escaped = serde_json::to_value(c)
        .ok()
        .map(|v| escape_controls_in(&v))
        .and_then(|v| serde_json::from_value::<ExternalCluster>(v).ok());
    let c = escaped.as_ref().unwrap_or(c);
    let mut out = String::new();
    recorded(&mut out, c, now);
    let st = c.status.clone().unwrap_or_default();
    status(&mut out, &st, now);
    conditions(&mut out, &st, now);
    capabilities(&mut out, c);
    exports(&mut out, c, &st);
    match live {
        Ok(live) => {
            nodes(&mut out, &live.nodes, &live.usage);
            node_configs(&mut out, &live.nodes);
            upgrade(&mut out, &live.upgrade);
            warnings(&mut out, &live.warnings);
        }
        Err(why) => {
            let _ = writeln!(out, "Live details: unavailable: {why}");
        }
    }
    out
}

/// Name, labels, annotations, creation, and the spec.
fn recorded(out: &mut String, c: &ExternalCluster, now: Timestamp) {
    let m = &c.metadata;
    let s = &c.spec;
    let _ = writeln!(
        out,
        "{:<14}{}",
        "Name:",
        m.name.as_deref().unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "{:<14}{}",
        "Display Name:",
        s.display_name.as_deref().unwrap_or("<none>")
    );
    map_lines(out, "Labels:", m.labels.as_ref());
    map_lines(out, "Annotations:", m.annotations.as_ref());
    let _ = writeln!(
        out,
        "{:<14}{}",
        "Created:",
        time_and_age(m.creation_timestamp.as_ref().map(|t| &t.0), now)
    );

    let _ = writeln!(out, "Spec:");
    let secret = s.kubeconfig_secret_ref.as_ref().map_or_else(
        || "<none>".to_owned(),
        |r| format!("{}/{} (key {})", r.namespace, r.name, r.key),
    );
    for (k, v) in [
        ("Mode:", s.mode.to_string()),
        ("Origin:", s.origin.to_string()),
        ("Provider:", s.provider.to_string()),
        ("Cluster ID:", s.cluster_id.clone()),
        ("Server:", s.server.clone()),
        ("Kubernetes Version:", s.kubernetes_version.clone()),
        ("Kubeconfig Secret:", secret),
        (
            "Credentials:",
            credentials_text(m.name.as_deref().unwrap_or_default(), s),
        ),
    ] {
        let _ = writeln!(out, "  {k:<21}{v}");
    }
}

/// How the hub holds access: a credential in the Secret, or minted tokens of its own identity.
fn credentials_text(name: &str, s: &extcluster_core::ExternalClusterSpec) -> String {
    let Some(f) = &s.federated else {
        return "stored (in the kubeconfig Secret)".to_owned();
    };
    let (namespace, account) = extcluster_core::federated::service_account(name);
    format!(
        "federated (hub identity {namespace}/{account}, audience {}, tokens {}m)",
        f.audience,
        f.expiration_seconds / 60
    )
}

fn status(out: &mut String, st: &ExternalClusterStatus, now: Timestamp) {
    let _ = writeln!(out, "Status:");
    for (k, v) in [
        (
            "Phase:",
            st.phase.map_or("<none>".into(), |p| p.to_string()),
        ),
        (
            "Observed Version:",
            st.observed_version
                .clone()
                .unwrap_or_else(|| "<none>".into()),
        ),
        ("Nodes:", nodes_text(st)),
        ("Regions:", listed(st, |n| &n.regions)),
        ("Zones:", listed(st, |n| &n.zones)),
        ("Instance Types:", listed(st, |n| &n.instance_types)),
        (
            "Credentials Of:",
            st.credentials
                .as_ref()
                .and_then(|c| c.identity.clone())
                .unwrap_or_else(|| "<not said by the credentials>".into()),
        ),
        (
            "Through Proxy:",
            st.credentials
                .as_ref()
                .and_then(|c| c.proxy.clone())
                .unwrap_or_else(|| "<none>".into()),
        ),
        (
            "Credentials Expire:",
            time_until(
                st.credentials.as_ref().and_then(|c| c.expires_at.as_ref()),
                now,
            ),
        ),
        (
            "Last Probe:",
            time_and_age(st.last_probe_time.as_ref().map(|t| &t.0), now),
        ),
        (
            "Stale After:",
            match &st.stale_after {
                Some(t) if is_stale(st, now) => {
                    format!("{} (stale: no probe has confirmed this status since)", t.0)
                }
                Some(t) => t.0.to_string(),
                None => "<none>".into(),
            },
        ),
        (
            "Message:",
            none_if_empty(st.message.as_deref().unwrap_or_default()).to_owned(),
        ),
    ] {
        let _ = writeln!(out, "  {k:<21}{v}");
    }
}

/// `3 (2 ready), kubelet v1.30.1, allocatable 12 CPU, 48Gi memory`; several kubelet versions
/// each with their nodes: `kubelet v1.29.3 (2), v1.30.1 (1)`.
fn nodes_text(st: &ExternalClusterStatus) -> String {
    let Some(count) = st.node_count else {
        return "<none>".into();
    };
    let Some(n) = &st.nodes else {
        return count.to_string();
    };
    let mut text = format!("{count} ({} ready)", n.ready);
    match n.kubelets.as_slice() {
        [] => {}
        [one] => {
            let _ = write!(text, ", kubelet {}", one.version);
        }
        several => {
            let each: Vec<String> = several
                .iter()
                .map(|k| format!("{} ({})", k.version, k.nodes))
                .collect();
            let _ = write!(text, ", kubelet {}", each.join(", "));
        }
    }
    if let (Some(cpu), Some(memory)) = (&n.allocatable_cpu, &n.allocatable_memory) {
        let _ = write!(text, ", allocatable {cpu} CPU, {memory} memory");
    }
    text
}

/// What the nodes' labels name (regions, zones, instance types), or `<none>`.
fn listed(st: &ExternalClusterStatus, field: fn(&NodeSummary) -> &Vec<String>) -> String {
    match st.nodes.as_ref().map(field) {
        Some(values) if !values.is_empty() => values.join(", "),
        _ => "<none>".into(),
    }
}

/// A time to come, with how long until it (or how long ago it passed).
fn time_until(t: Option<&Time>, now: Timestamp) -> String {
    match t {
        Some(t) if t.0 > now => format!("{} (in {})", t.0, human_duration(t.0.duration_since(now))),
        Some(t) => format!("{} (passed {} ago)", t.0, age(Some(&t.0), now)),
        None => "<none>".into(),
    }
}

fn conditions(out: &mut String, st: &ExternalClusterStatus, now: Timestamp) {
    let _ = writeln!(out, "Conditions:");
    if st.conditions.is_empty() {
        let _ = writeln!(out, "  <none>");
        return;
    }
    let rows: Vec<Vec<String>> = st
        .conditions
        .iter()
        .map(|c| {
            vec![
                c.type_.clone(),
                c.status.clone(),
                none_if_empty(&c.reason).to_owned(),
                age(Some(&c.last_transition_time.0), now),
                one_line(&c.message),
            ]
        })
        .collect();
    out.push_str(&indent(
        &table(&["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"], &rows),
        "  ",
    ));
}

fn capabilities(out: &mut String, c: &ExternalCluster) {
    let _ = writeln!(out, "Capabilities:");
    let caps = declared(c.metadata.annotations.iter().flatten());
    if caps.is_empty() {
        let _ = writeln!(out, "  <none>");
    }
    for d in caps {
        let mut notes: Vec<String> = Vec::new();
        if !d.key.starts_with(PREFIX) {
            notes.push(format!("from {}", d.key));
        }
        notes.extend(
            d.overridden
                .iter()
                .map(|(k, v)| format!("overrides {k}={v}")),
        );
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("   ({})", notes.join("; "))
        };
        let _ = writeln!(
            out,
            "  {:<25}{}{notes}",
            format!("{}:", d.capability),
            d.value
        );
    }
}

/// Where the controller publishes it, as it last recorded, and what the annotation asks for.
fn exports(out: &mut String, c: &ExternalCluster, st: &ExternalClusterStatus) {
    let asked = extcluster_core::exports::requested(c.metadata.annotations.as_ref());
    let asked = if asked.is_empty() {
        "none".to_owned()
    } else {
        extcluster_core::exports::format(&asked)
    };
    let _ = writeln!(out, "Exports (asked: {asked}):");
    if st.exports.is_empty() {
        let _ = writeln!(out, "  <none recorded by the controller>");
    }
    let rows: Vec<Vec<String>> = st
        .exports
        .iter()
        .map(|e| {
            let at = match &e.namespace {
                Some(ns) => format!("{ns}/{}", e.name),
                None => e.name.clone(),
            };
            let state = match (&e.message, e.ready) {
                (Some(why), _) => format!("not ready: {}", one_line(why)),
                (None, true) => "ready".to_owned(),
                (None, false) => "pending".to_owned(),
            };
            vec![e.kind.to_string(), at, state]
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&indent(&table(&["KIND", "OBJECT", "STATE"], &rows), "  "));
    }
}

fn nodes(out: &mut String, nodes: &[NodeInfo], usage: &Result<Option<Vec<NodeUsage>>, String>) {
    let _ = writeln!(out, "Nodes (live, {}):", nodes.len());
    if nodes.is_empty() {
        let _ = writeln!(out, "  <none>");
        return;
    }
    let used = usage.as_ref().ok().and_then(Option::as_ref);
    let mut header = vec![
        "NAME",
        "ROLES",
        "VERSION",
        "READY",
        "INSTANCE-TYPE",
        "ZONE",
        "CPU",
        "MEMORY",
    ];
    if used.is_some() {
        header.extend(["CPU USED", "MEMORY USED"]);
    }
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            let mut row = vec![
                n.name.clone(),
                if n.roles.is_empty() {
                    "<none>".into()
                } else {
                    n.roles.join(",")
                },
                none_if_empty(&n.kubelet_version).to_owned(),
                n.ready.clone(),
                n.instance_type.clone().unwrap_or_else(|| "<none>".into()),
                n.zone.clone().unwrap_or_else(|| "<none>".into()),
                shown(quantity_of(n.allocatable_cpu.as_deref()), quantity::cpu),
                shown(
                    quantity_of(n.allocatable_memory.as_deref()),
                    quantity::memory,
                ),
            ];
            if let Some(used) = used {
                let u = used.iter().find(|u| u.name == n.name);
                row.push(share(
                    u.and_then(|u| u.cpu),
                    quantity_of(n.allocatable_cpu.as_deref()),
                    quantity::cpu,
                ));
                row.push(share(
                    u.and_then(|u| u.memory),
                    quantity_of(n.allocatable_memory.as_deref()),
                    in_mebibytes,
                ));
            }
            row
        })
        .collect();
    out.push_str(&indent(&table(&header, &rows), "  "));
    let _ = writeln!(out, "  {}", usage_line(nodes, usage));
}

/// Memory in use, to the mebibyte: usage is never a whole gibibyte, and bytes are unreadable.
fn in_mebibytes(bytes: f64) -> String {
    const MI: f64 = 1024.0 * 1024.0;
    quantity::memory((bytes / MI).round() * MI)
}

/// The upgrade in progress, as `upgrade --status` shows it.
fn upgrade(out: &mut String, upgrade: &Result<Option<String>, String>) {
    match upgrade {
        Ok(None) => {}
        Ok(Some(table)) => {
            let _ = writeln!(out, "Upgrade (live, system-upgrade-controller Plans):");
            out.push_str(&indent(table, "  "));
        }
        Err(why) => {
            let _ = writeln!(out, "Upgrade (live): unavailable: {why}");
        }
    }
}

/// How K3s or RKE2 started each node, as the nodes record it, secrets masked.
fn node_configs(out: &mut String, nodes: &[NodeInfo]) {
    let configured: Vec<(&str, &NodeConfig)> = nodes
        .iter()
        .filter_map(|n| Some((n.name.as_str(), n.config.as_ref()?)))
        .collect();
    let Some((_, first)) = configured.first() else {
        return;
    };
    let _ = writeln!(
        out,
        "Node Configuration (live, as {} records it; secrets shown as {MASKED}):",
        first.program
    );
    for (name, config) in configured {
        let hash = config.hash.as_deref().unwrap_or("<none>");
        let _ = writeln!(
            out,
            "  {} (config hash {}):",
            escape_controls(name),
            escape_controls(hash)
        );
        let args = match &config.args {
            Ok(args) if args.is_empty() => "<none>".to_owned(),
            Ok(args) => args.join(" "),
            Err(why) => format!("unreadable: {why}"),
        };
        let env = match &config.env {
            Ok(env) if env.is_empty() => "<none>".to_owned(),
            Ok(env) => env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            Err(why) => format!("unreadable: {why}"),
        };
        let _ = writeln!(out, "    Arguments:    {}", escape_controls(&args));
        let _ = writeln!(out, "    Environment:  {}", escape_controls(&env));
    }
}

fn quantity_of(raw: Option<&str>) -> Option<f64> {
    raw.and_then(quantity::parse)
}

fn shown(value: Option<f64>, format: fn(f64) -> String) -> String {
    value.map_or_else(|| "<unknown>".into(), format)
}

/// `250m (6%)`: what is used, and its share of what is allocatable.
fn share(used: Option<f64>, of: Option<f64>, format: fn(f64) -> String) -> String {
    match (used, of) {
        (Some(u), Some(of)) if of > 0.0 => format!("{} ({:.0}%)", format(u), u / of * 100.0),
        (Some(u), _) => format(u),
        (None, _) => "<unknown>".into(),
    }
}

/// The cluster's total use, or why there is none to show.
fn usage_line(nodes: &[NodeInfo], usage: &Result<Option<Vec<NodeUsage>>, String>) -> String {
    let used = match usage {
        Ok(Some(used)) => used,
        Ok(None) => {
            return "Usage: not shown: the cluster does not serve metrics.k8s.io (metrics-server provides it)".into();
        }
        Err(why) => return format!("Usage: unavailable: {why}"),
    };
    // Allocatable totals as the status records them: one summing, in core.
    let allocatable = extcluster_core::facts::summarize(nodes);
    let sum = |of: fn(&NodeUsage) -> Option<f64>| -> Option<f64> {
        let values: Vec<f64> = used.iter().filter_map(of).collect();
        (!values.is_empty()).then(|| values.iter().sum())
    };
    let cpu = (
        sum(|u| u.cpu),
        quantity_of(allocatable.allocatable_cpu.as_deref()),
    );
    let memory = (
        sum(|u| u.memory),
        quantity_of(allocatable.allocatable_memory.as_deref()),
    );
    format!(
        "Usage: {} of {} CPU, {} of {} memory",
        share(cpu.0, cpu.1, quantity::cpu),
        shown(cpu.1, quantity::cpu),
        share(memory.0, memory.1, in_mebibytes),
        shown(memory.1, quantity::memory),
    )
}

fn warnings(out: &mut String, warnings: &Result<Vec<Warning>, String>) {
    let _ = writeln!(out, "Warning Events (live, most recent first):");
    match warnings {
        Ok(w) if w.is_empty() => {
            let _ = writeln!(out, "  <none>");
        }
        Ok(w) => {
            let rows: Vec<Vec<String>> = w
                .iter()
                .map(|e| {
                    vec![
                        e.age_seconds.map_or("<unknown>".into(), |s| {
                            human_duration(SignedDuration::from_secs(s))
                        }),
                        escape_controls(&e.object).into_owned(),
                        escape_controls(none_if_empty(&e.reason)).into_owned(),
                        escape_controls(&e.message).into_owned(),
                    ]
                })
                .collect();
            out.push_str(&indent(
                &table(&["AGE", "OBJECT", "REASON", "MESSAGE"], &rows),
                "  ",
            ));
        }
        Err(why) => {
            let _ = writeln!(out, "  unavailable: {why}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster() -> ExternalCluster {
        serde_json::from_value(json!({
            "apiVersion": "extcluster.io/v1alpha1",
            "kind": "ExternalCluster",
            "metadata": {
                "name": "prod",
                "creationTimestamp": "2025-01-01T00:00:00Z",
                "annotations": {"capabilities.extcluster.io/pspEnabled": "false"},
                "labels": {"extcluster.io/cluster-id": "uid-1"}
            },
            "spec": {
                "mode": "Import", "origin": "Imported", "provider": "EKS", "clusterID": "uid-1",
                "server": "https://x", "kubernetesVersion": "v1.29.3-eks-adc7111",
                "kubeconfigSecretRef": {"namespace": "extcluster-system", "name": "prod-kubeconfig", "key": "kubeconfig"}
            },
            "status": {"phase": "Running", "nodeCount": 2, "conditions": [
                {"type": "Ready", "status": "True", "reason": "ProbeSucceeded", "message": "ok",
                 "lastTransitionTime": "2025-01-01T00:00:00Z"}
            ]}
        }))
        .unwrap()
    }

    #[test]
    fn describes_live_and_recorded() {
        let now: Timestamp = "2025-01-01T00:05:00Z".parse().unwrap();
        let live = Ok(Live {
            nodes: vec![NodeInfo {
                name: "node-a".into(),
                roles: vec!["control-plane".into()],
                kubelet_version: "v1.29.3".into(),
                ready: "True".into(),
                allocatable_cpu: Some("4".into()),
                allocatable_memory: Some("16Gi".into()),
                ..NodeInfo::default()
            }],
            usage: Ok(Some(vec![NodeUsage {
                name: "node-a".into(),
                cpu: Some(1.0),
                memory: Some(1.5 * 1024.0 * 1024.0 * 1024.0 + 12345.0),
            }])),
            upgrade: Ok(None),
            warnings: Ok(vec![Warning {
                age_seconds: Some(30),
                object: "default/pod/web".into(),
                reason: "BackOff".into(),
                message: "restarting".into(),
            }]),
        });
        let text = render(&cluster(), &live, now);
        for want in [
            "Name:         prod",
            "Provider:            EKS",
            "extcluster-system/prod-kubeconfig (key kubeconfig)",
            "Phase:               Running",
            "Ready   True",
            "pspEnabled:",
            "Nodes (live, 1):",
            "node-a   control-plane   v1.29.3   True    <none>          <none>   4     16Gi     1 (25%)    1536Mi (9%)",
            "Usage: 1 (25%) of 4 CPU, 1536Mi (9%) of 16Gi memory",
            "BackOff",
            "2025-01-01T00:00:00Z (5m ago)",
        ] {
            assert!(text.contains(want), "{want:?} missing:\n{text}");
        }
        let down = render(&cluster(), &Err("connection refused".into()), now);
        assert!(
            down.contains("Live details: unavailable: connection refused"),
            "{down}"
        );
        assert!(!down.contains("Nodes (live"), "{down}");
    }

    #[test]
    fn text_from_the_registration_or_the_cluster_cannot_fake_lines_or_drive_the_terminal() {
        let now: Timestamp = "2025-01-01T00:05:00Z".parse().unwrap();
        let mut c = cluster();
        c.spec.display_name = Some("prod\nPhase:               Unreachable\x1b]0;pwned\x07".into());
        c.metadata
            .annotations
            .get_or_insert_default()
            .insert("note".into(), "a\rb".into());
        let live = Ok(Live {
            nodes: Vec::new(),
            usage: Ok(None),
            upgrade: Ok(None),
            warnings: Ok(vec![Warning {
                age_seconds: Some(1),
                object: "default/pod/x".into(),
                reason: "Bad".into(),
                message: "line\nPhase: Fake\x1b[2J".into(),
            }]),
        });
        let text = render(&c, &live, now);
        let phases: Vec<&str> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("Phase:"))
            .collect();
        assert_eq!(phases, ["  Phase:               Running"], "{text}");
        assert!(
            !text.chars().any(|ch| ch.is_control() && ch != '\n'),
            "{text:?}"
        );
        assert!(text.contains(r"prod\nPhase:"), "{text}");
        assert!(text.contains(r"\u{1b}]0;pwned\u{7}"), "{text}");
        assert!(text.contains(r"a\rb"), "{text}");
    }

    #[test]
    fn one_value_per_capability_with_the_key_it_came_from() {
        let now: Timestamp = "2025-01-01T00:05:00Z".parse().unwrap();
        let mut c = cluster();
        let annotations = c.metadata.annotations.get_or_insert_default();
        annotations.insert("capabilities.cattle.io/pspEnabled".into(), "true".into());
        annotations.insert("capabilities.cattle.io/taintSupport".into(), "true".into());
        let text = render(&c, &Err("down".into()), now);
        let caps: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != "Capabilities:")
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .collect();
        assert_eq!(
            caps,
            [
                "  pspEnabled:              false   (overrides capabilities.cattle.io/pspEnabled=true)",
                "  taintSupport:            true   (from capabilities.cattle.io/taintSupport)",
            ],
            "{text}"
        );
    }
}
