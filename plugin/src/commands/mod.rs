//! One module per command.

pub mod annotate;
pub mod capabilities;
pub mod completion;
pub mod convert_kubeconfig;
pub mod delete;
pub mod describe;
pub mod disconnect;
pub mod list;
pub mod refresh;
pub mod register;
pub mod set_credentials;
pub mod version;

use crate::cli::{Cli, Command};
use anyhow::Result;
use extcluster_core::Mode;

pub async fn run(cli: Cli) -> Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Register(a) => register::run(g, &a.registration, a.mode).await,
        Command::Connect(a) => register::run(g, &a, Mode::Connect).await,
        Command::Import(a) => register::run(g, &a, Mode::Import).await,
        Command::List(a) => list::list(g, a.output).await,
        Command::Get(a) => list::get(g, &a.name, a.output).await,
        Command::Describe(a) => describe::run(g, &a.name).await,
        Command::Refresh(a) => refresh::run(g, &a.names, a.all).await,
        Command::Disconnect(a) => disconnect::run(g, &a.name, a.yes, a.cleanup_remote).await,
        Command::ConvertKubeconfig(a) => convert_kubeconfig::run(&a).await,
        Command::Annotate(a) => annotate::run(g, &a).await,
        Command::Capabilities(a) => capabilities::run(a.capability.as_deref()),
        Command::SetCredentials(a) => set_credentials::run(g, &a).await,
        Command::Delete(a) => delete::run(g, &a.name).await,
        Command::Version => version::run(),
        Command::Completion(a) => completion::run(a.shell),
    }
}
