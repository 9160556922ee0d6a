//! `list` (`ls`): the registrations, as a table or in another format.

use crate::hub::{Global, Hub};
use crate::output::{Format, Printing, print_clusters};
use anyhow::{Result, bail};
use clap::Args;
use extcluster_core::label::DATACENTER_LABEL;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, WatchEvent, WatchParams};

/// List the registered clusters
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  kubectl extcluster list
  kubectl extcluster ls -o wide
  kubectl extcluster list -w
  kubectl extcluster list -l env=prod --sort-by '{.status.nodeCount}'
  kubectl extcluster list -o custom-columns=NAME:.metadata.name,PHASE:.status.phase --no-headers
  kubectl extcluster list -o jsonpath='{range .items[*]}{.metadata.name}{\"\\n\"}{end}'")]
pub struct ListArgs {
    #[command(flatten)]
    pub printing: Printing,
    /// Only registrations whose labels match (as kubectl's -l: env=prod,tier!=db)
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Only registrations in this datacenter (their extcluster.io/datacenter label)
    #[arg(long, value_name = "NAME")]
    pub datacenter: Option<String>,
    /// After listing, print each registration again as it changes (its phase as the controller
    /// records it, say), until interrupted
    #[arg(short = 'w', long)]
    pub watch: bool,
}

impl ListArgs {
    /// The label selector `-l` and `--datacenter` make together.
    fn selector(&self) -> Option<String> {
        let datacenter = self
            .datacenter
            .as_ref()
            .map(|dc| format!("{DATACENTER_LABEL}={dc}"));
        let parts: Vec<&str> = self
            .selector
            .iter()
            .chain(&datacenter)
            .map(String::as_str)
            .collect();
        (!parts.is_empty()).then(|| parts.join(","))
    }
}

pub async fn run(global: &Global, args: &ListArgs) -> Result<()> {
    let hub = Hub::connect(global).await?;
    // From the API server's watch cache, as informers read, rather than a quorum read of etcd:
    // three times faster with many registrations, at the price of a view that may be a few
    // milliseconds behind the last write.
    let mut params = ListParams::default().match_any();
    let selector = args.selector();
    if let Some(selector) = &selector {
        params = params.labels(selector);
    }
    let listed = hub
        .clusters()
        .list(&params)
        .await
        .map_err(|e| hub.err("list ExternalClusters", &e))?;
    let version = listed.metadata.resource_version.clone().unwrap_or_default();
    let mut items = listed.items;
    items.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let table = matches!(args.printing.output, None | Some(Format::Wide));
    if items.is_empty() && table {
        match &selector {
            Some(s) => eprintln!("No external clusters on the hub match {s:?}."),
            None => eprintln!("No external clusters are registered on the hub."),
        }
    } else {
        print!(
            "{}",
            print_clusters(&items, &args.printing, false, Timestamp::now())?
        );
    }
    if args.watch {
        watch(&hub, args, version).await?;
    }
    Ok(())
}

/// Prints each change after `version`, one registration at a time (tables without a header, as
/// kubectl -w prints them), picking the watch up again where the hub closed it.
async fn watch(hub: &Hub, args: &ListArgs, mut version: String) -> Result<()> {
    use futures::StreamExt;
    use std::io::Write as _;
    let mut params = WatchParams::default();
    if let Some(selector) = &args.selector() {
        params = params.labels(selector);
    }
    let printing = Printing {
        no_headers: true,
        ..args.printing.clone()
    };
    loop {
        let stream = hub
            .clusters()
            .watch(&params, &version)
            .await
            .map_err(|e| hub.err("watch ExternalClusters", &e))?;
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            let cluster = match event.map_err(|e| hub.err("watch ExternalClusters", &e))? {
                WatchEvent::Added(c) | WatchEvent::Modified(c) | WatchEvent::Deleted(c) => c,
                WatchEvent::Bookmark(b) => {
                    version = b.metadata.resource_version;
                    continue;
                }
                WatchEvent::Error(e) if e.code == 410 => {
                    bail!(
                        "the hub no longer has the changes since the list ({}); run the command again",
                        e.message
                    )
                }
                WatchEvent::Error(e) => bail!("the hub ended the watch: {}", e.message),
            };
            version = cluster.metadata.resource_version.clone().unwrap_or(version);
            print!(
                "{}",
                print_clusters(&[cluster], &printing, true, Timestamp::now())?
            );
            // A closed pipe shows at the next print, which ends the process quietly.
            let _ = std::io::stdout().flush();
        }
    }
}
