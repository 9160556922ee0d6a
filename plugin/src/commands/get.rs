//! `get NAME`: one registration, as a table row or in another format.

use crate::hub::{Global, Hub};
use crate::output::{Format, print_clusters};
use anyhow::Result;
use clap::Args;
use k8s_openapi::jiff::Timestamp;

/// Show one registered cluster
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  kubectl extcluster get prod-eu
  kubectl extcluster get prod-eu -o yaml")]
pub struct GetArgs {
    pub name: String,
    /// Output format: wide, json, yaml or name
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<Format>,
}

pub async fn run(global: &Global, args: &GetArgs) -> Result<()> {
    let hub = Hub::connect(global).await?;
    let cluster = hub.registration(&args.name).await?;
    print!(
        "{}",
        print_clusters(&[cluster], args.output, true, Timestamp::now())?
    );
    Ok(())
}
