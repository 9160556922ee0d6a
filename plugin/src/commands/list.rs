//! `list` (`ls`) and `get NAME`.

use crate::cli::Global;
use crate::hub::Hub;
use crate::output::{Format, print_clusters};
use anyhow::{Result, anyhow};
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;

pub async fn list(global: &Global, format: Option<Format>) -> Result<()> {
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

pub async fn get(global: &Global, name: &str, format: Option<Format>) -> Result<()> {
    let hub = Hub::connect(global).await?;
    let cluster = hub.registration(name).await?;
    print!(
        "{}",
        print_clusters(&[cluster], format, true, Timestamp::now())?
    );
    Ok(())
}

pub fn not_found(name: &str) -> anyhow::Error {
    anyhow!(
        "no external cluster named {name:?} is registered on the hub; `kubectl extcluster list` shows the registered ones"
    )
}
