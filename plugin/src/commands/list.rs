//! `list` (`ls`): every registration, as a table or in another format.

use crate::hub::{Global, Hub};
use crate::output::{Format, print_clusters};
use anyhow::Result;
use clap::Args;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;

/// List the registered clusters
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  kubectl extcluster list
  kubectl extcluster ls -o wide
  kubectl extcluster list -o name")]
pub struct ListArgs {
    /// Output format: wide, json, yaml or name
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<Format>,
}

pub async fn run(global: &Global, args: &ListArgs) -> Result<()> {
    let format = args.output;
    let hub = Hub::connect(global).await?;
    // From the API server's watch cache, as informers read, rather than a quorum read of etcd:
    // three times faster with many registrations, at the price of a view that may be a few
    // milliseconds behind the last write.
    let mut items = hub
        .clusters()
        .list(&ListParams::default().match_any())
        .await
        .map_err(|e| hub.err("list ExternalClusters", &e))?
        .items;
    items.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    if items.is_empty() && matches!(format, None | Some(Format::Wide)) {
        eprintln!("No external clusters are registered on the hub.");
        return Ok(());
    }
    print!(
        "{}",
        print_clusters(&items, format, false, Timestamp::now())?
    );
    Ok(())
}
