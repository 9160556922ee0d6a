//! `list` (`ls`): the registrations, as a table or in another format.

use crate::hub::{Global, Hub};
use crate::output::{Format, Printing, print_clusters};
use anyhow::Result;
use clap::Args;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;

/// List the registered clusters
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  kubectl extcluster list
  kubectl extcluster ls -o wide
  kubectl extcluster list -l env=prod --sort-by '{.status.nodeCount}'
  kubectl extcluster list -o custom-columns=NAME:.metadata.name,PHASE:.status.phase --no-headers
  kubectl extcluster list -o jsonpath='{range .items[*]}{.metadata.name}{\"\\n\"}{end}'")]
pub struct ListArgs {
    #[command(flatten)]
    pub printing: Printing,
    /// Only registrations whose labels match (as kubectl's -l: env=prod,tier!=db)
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
}

pub async fn run(global: &Global, args: &ListArgs) -> Result<()> {
    let hub = Hub::connect(global).await?;
    // From the API server's watch cache, as informers read, rather than a quorum read of etcd:
    // three times faster with many registrations, at the price of a view that may be a few
    // milliseconds behind the last write.
    let mut params = ListParams::default().match_any();
    if let Some(selector) = &args.selector {
        params = params.labels(selector);
    }
    let mut items = hub
        .clusters()
        .list(&params)
        .await
        .map_err(|e| hub.err("list ExternalClusters", &e))?
        .items;
    items.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let table = matches!(args.printing.output, None | Some(Format::Wide));
    if items.is_empty() && table {
        match &args.selector {
            Some(s) => eprintln!("No external clusters on the hub match {s:?}."),
            None => eprintln!("No external clusters are registered on the hub."),
        }
        return Ok(());
    }
    print!(
        "{}",
        print_clusters(&items, &args.printing, false, Timestamp::now())?
    );
    Ok(())
}
