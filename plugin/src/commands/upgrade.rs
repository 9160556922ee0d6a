//! `upgrade NAME --to VERSION`: upgrades an imported K3s or RKE2 cluster through its own
//! system-upgrade-controller, as Rancher does: a Plan for the server nodes and one for the agents
//! that waits for it (`extcluster_core::upgrade`). `--status` shows where each node is.

use crate::dry_run::{DryRun, DryRunArg};
use crate::hub::{Global, Hub};
use crate::output::{escape_controls, table};
use anyhow::{Result, anyhow, bail};
use clap::Args;
use extcluster_core::api::MANAGER;
use extcluster_core::upgrade::{
    self, CONTROL_PLANE_LABEL, Distribution, PLAN_GROUP, PLAN_NAMESPACE, PLAN_VERSION, Pace,
    Request,
};
use extcluster_core::version::DEFAULT_ACCEPTED_VERSIONS;
use extcluster_core::{ExternalCluster, VersionRange};
use extcluster_remote::failure::{Failure, is_not_found};
use extcluster_remote::stored;
use k8s_openapi::api::core::v1::Node;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};

/// Upgrade an imported K3s or RKE2 cluster through its system-upgrade-controller
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  # Servers one at a time, then agents two at a time, drained
  kubectl extcluster upgrade edge --to v1.30.4+k3s1 --worker-concurrency 2 --drain

  # See the Plans without creating them, then follow the nodes
  kubectl extcluster upgrade edge --to v1.30.4+k3s1 --dry-run
  kubectl extcluster upgrade edge --status

The cluster needs system-upgrade-controller (github.com/rancher/system-upgrade-controller).
Upgrades go one minor version at a time, never down, and stay within the versions the hub
accepts.")]
pub struct UpgradeArgs {
    /// The registration (Import mode, provider K3s or RKE2)
    pub name: String,
    /// The release to upgrade to, as the distribution tags it (v1.30.4+k3s1, v1.30.4+rke2r1)
    #[arg(long, value_name = "VERSION", required_unless_present = "status")]
    pub to: Option<String>,
    /// How many server (control-plane) nodes upgrade at once
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub server_concurrency: u32,
    /// How many agent (worker) nodes upgrade at once, after the servers
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub worker_concurrency: u32,
    /// Drain agents before upgrading them (otherwise they are cordoned only)
    #[arg(long)]
    pub drain: bool,
    /// Show the Plans' progress, node by node, instead of starting an upgrade
    #[arg(long, conflicts_with_all = ["to", "drain"])]
    pub status: bool,
    /// The Kubernetes versions the hub accepts (as register's flag of the same name)
    #[arg(long, env = "EXTCLUSTER_ACCEPTED_VERSIONS", default_value = DEFAULT_ACCEPTED_VERSIONS, value_name = "RANGE")]
    pub accepted_versions: VersionRange,
    #[command(flatten)]
    pub dry_run: DryRunArg,
}

pub async fn run(global: &Global, args: &UpgradeArgs) -> Result<()> {
    let hub = Hub::connect(global).await?;
    let cluster = hub.registration(&args.name).await?;
    let current = cluster
        .status
        .as_ref()
        .and_then(|s| s.observed_version.clone())
        .unwrap_or_else(|| cluster.spec.kubernetes_version.clone());
    if args.status {
        let distribution = upgrade::distribution_of(&args.name, cluster.spec.provider)?;
        let client = external(&hub, &cluster).await?;
        return status(&client, distribution).await;
    }
    let target = args.to.as_deref().unwrap_or_default();
    let distribution = upgrade::check(
        &request(&cluster, &current, target),
        &args.accepted_versions,
    )
    .map_err(|refusal| anyhow!("{refusal}; nothing was changed"))?;
    let client = external(&hub, &cluster).await?;
    require_plan_api(&client, &cluster).await?;
    let pace = Pace {
        server_concurrency: args.server_concurrency,
        worker_concurrency: args.worker_concurrency,
        drain: args.drain,
    };
    let dry_run = args.dry_run.dry_run;
    let plans = upgrade::plans(distribution, target, pace);
    if dry_run != DryRun::Client {
        apply(&client, &plans, dry_run == DryRun::Server).await?;
    }
    let agents = if args.drain { "drained" } else { "cordoned" };
    let dry = dry_run.suffix();
    let [server, agent] = upgrade::plan_names(distribution);
    println!(
        "plan {PLAN_NAMESPACE}/{server}{dry}: {target} on server nodes, {} at a time, cordoned",
        pace.server_concurrency
    );
    println!(
        "plan {PLAN_NAMESPACE}/{agent}{dry}: {target} on agent nodes once the servers are done, {} at a time, {agents}",
        pace.worker_concurrency
    );
    if dry_run == DryRun::None {
        println!(
            "follow it with `kubectl extcluster upgrade {} --status`",
            args.name
        );
    }
    Ok(())
}

fn request<'a>(cluster: &'a ExternalCluster, current: &'a str, target: &'a str) -> Request<'a> {
    Request {
        name: cluster.metadata.name.as_deref().unwrap_or_default(),
        mode: cluster.spec.mode,
        provider: cluster.spec.provider,
        current,
        target,
    }
}

async fn external(hub: &Hub, cluster: &ExternalCluster) -> Result<Client> {
    let name = cluster.metadata.name.as_deref().unwrap_or_default();
    stored::client(&hub.client, cluster).await.map_err(|why| {
        anyhow!("cannot use the credentials stored for {name:?}: {why}; nothing was changed")
    })
}

fn plan_api(client: &Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(PLAN_GROUP, PLAN_VERSION, "Plan");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "plans");
    Api::namespaced_with(client.clone(), PLAN_NAMESPACE, &resource)
}

/// Refuses a cluster without system-upgrade-controller's Plan API, saying how to install it.
async fn require_plan_api(client: &Client, cluster: &ExternalCluster) -> Result<()> {
    let server = &cluster.spec.server;
    match client
        .list_api_group_resources(&format!("{PLAN_GROUP}/{PLAN_VERSION}"))
        .await
    {
        Ok(list) if list.resources.iter().any(|r| r.name == "plans") => Ok(()),
        Ok(_) => bail!(missing_controller(server)),
        Err(e) if is_not_found(&e) => bail!(missing_controller(server)),
        Err(e) => bail!(
            "cannot ask {server} whether it serves Plans: {}; nothing was changed",
            stored::explain(cluster, &Failure::of(&e))
        ),
    }
}

fn missing_controller(server: &str) -> String {
    format!(
        "the cluster at {server} does not serve {PLAN_GROUP}/{PLAN_VERSION} Plans, so it has no system-upgrade-controller to carry out an upgrade; install it (kubectl apply -f https://github.com/rancher/system-upgrade-controller/releases/latest/download/crd.yaml -f https://github.com/rancher/system-upgrade-controller/releases/latest/download/system-upgrade-controller.yaml) and run the command again; nothing was changed"
    )
}

/// Server-side applies the Plans, so running the command again with other values updates them.
async fn apply(client: &Client, plans: &[serde_json::Value], dry_run: bool) -> Result<()> {
    let api = plan_api(client);
    let params = PatchParams {
        dry_run,
        force: true,
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    for plan in plans {
        let name = plan["metadata"]["name"].as_str().unwrap_or_default();
        api.patch(name, &params, &Patch::Apply(plan))
            .await
            .map_err(|e| {
                anyhow!(
                    "cannot write Plan {PLAN_NAMESPACE}/{name}: {}; run the command again once that is fixed (it updates what is there)",
                    Failure::of(&e)
                )
            })?;
    }
    Ok(())
}

/// Each node with the Plan that upgrades it and where it is: upgraded (its kubelet runs the
/// Plan's version), upgrading (the controller is applying the Plan to it), or waiting.
async fn status(client: &Client, d: Distribution) -> Result<()> {
    match progress(client, d).await? {
        Some(table) => print!("{table}"),
        None => println!("No upgrade Plans of ours in {PLAN_NAMESPACE}: no upgrade was started."),
    }
    Ok(())
}

/// The table of nodes and where each is in the upgrade; `None` when no upgrade was started.
pub async fn progress(client: &Client, d: Distribution) -> Result<Option<String>> {
    let api = plan_api(client);
    let [server_name, agent_name] = upgrade::plan_names(d);
    let read = |e: kube::Error| anyhow!("cannot read the upgrade Plans: {}", Failure::of(&e));
    let server = api.get_opt(&server_name).await.map_err(read)?;
    let agent = api.get_opt(&agent_name).await.map_err(read)?;
    if server.is_none() && agent.is_none() {
        return Ok(None);
    }
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| anyhow!("cannot read the nodes: {}", Failure::of(&e)))?;
    let mut rows = Vec::new();
    for node in &nodes.items {
        let is_server = node
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(CONTROL_PLANE_LABEL))
            .is_some_and(|v| v == "true");
        let (plan, name) = if is_server {
            (&server, &server_name)
        } else {
            (&agent, &agent_name)
        };
        rows.push(node_row(node, plan.as_ref(), name));
    }
    // What the cluster says is shown on a terminal: no control characters.
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| escape_controls(c).into_owned()).collect())
        .collect();
    Ok(Some(table(
        &["NODE", "PLAN", "TARGET", "KUBELET", "STATE"],
        &rows,
    )))
}

fn node_row(node: &Node, plan: Option<&DynamicObject>, plan_name: &str) -> Vec<String> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let kubelet = node
        .status
        .as_ref()
        .and_then(|s| s.node_info.as_ref())
        .map(|i| i.kubelet_version.clone())
        .unwrap_or_default();
    let Some(plan) = plan else {
        return vec![
            name,
            "<none>".into(),
            "<none>".into(),
            kubelet,
            "no plan".into(),
        ];
    };
    let target = plan.data["spec"]["version"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let applying = plan.data["status"]["applying"]
        .as_array()
        .is_some_and(|a| a.iter().any(|n| n.as_str() == Some(&name)));
    let state = if kubelet == target {
        "upgraded"
    } else if applying {
        "upgrading"
    } else {
        "waiting"
    };
    vec![
        name,
        plan_name.to_owned(),
        target,
        kubelet,
        state.to_owned(),
    ]
}
