//! `get NAME…`: registrations by name, as table rows or in another format.

use crate::hub::{Global, Hub};
use crate::output::{Printing, print_clusters};
use anyhow::Result;
use clap::Args;
use k8s_openapi::jiff::Timestamp;

/// Show registered clusters by name
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  kubectl extcluster get prod-eu
  kubectl extcluster get prod-eu prod-us -o wide
  kubectl extcluster get prod-eu -o yaml
  kubectl extcluster get prod-eu -o jsonpath='{.status.phase}'")]
pub struct GetArgs {
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    #[command(flatten)]
    pub printing: Printing,
}

pub async fn run(global: &Global, args: &GetArgs) -> Result<()> {
    let hub = Hub::connect(global).await?;
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in &args.names {
        match hub.clusters().get_opt(name).await {
            Ok(Some(c)) => found.push(c),
            Ok(None) => missing.push(name.as_str()),
            Err(e) => return Err(hub.err(&format!("get ExternalCluster {name:?}"), &e)),
        }
    }
    if !found.is_empty() {
        let single = args.names.len() == 1;
        print!(
            "{}",
            print_clusters(&found, &args.printing, single, Timestamp::now())?
        );
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(crate::hub::none_named(&missing))
    }
}
