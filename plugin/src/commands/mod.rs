//! One module per command: its arguments, help and examples, and what it does.

pub mod annotate;
pub mod capabilities;
pub mod completion;
pub mod convert_kubeconfig;
pub mod credential;
pub mod delete;
pub mod describe;
pub mod disconnect;
pub mod get;
pub mod list;
pub mod refresh;
pub mod register;
pub mod set_credentials;
pub mod set_mode;
pub mod trust;
pub mod upgrade;
pub mod version;

use crate::hub::Global;
use anyhow::Result;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Command {
    Register(register::RegisterArgs),
    Connect(register::ConnectArgs),
    Import(register::ImportArgs),
    #[command(visible_alias = "ls")]
    List(list::ListArgs),
    Get(get::GetArgs),
    Describe(describe::DescribeArgs),
    Refresh(refresh::RefreshArgs),
    Disconnect(disconnect::DisconnectArgs),
    SetCredentials(set_credentials::SetCredentialsArgs),
    SetMode(set_mode::SetModeArgs),
    Upgrade(upgrade::UpgradeArgs),
    ConvertKubeconfig(convert_kubeconfig::ConvertArgs),
    Credential(credential::CredentialArgs),
    Trust(trust::TrustArgs),
    Annotate(annotate::AnnotateArgs),
    Capabilities(capabilities::CapabilitiesArgs),
    Delete(delete::DeleteArgs),
    Version(version::VersionArgs),
    Completion(completion::CompletionArgs),
}

pub async fn run(global: &Global, command: Command) -> Result<()> {
    let g = global;
    match command {
        Command::Register(a) => register::run(g, &a).await,
        Command::Connect(a) => register::connect(g, &a).await,
        Command::Import(a) => register::import(g, &a).await,
        Command::List(a) => list::run(g, &a).await,
        Command::Get(a) => get::run(g, &a).await,
        Command::Describe(a) => describe::run(g, &a).await,
        Command::Refresh(a) => refresh::run(g, &a).await,
        Command::Disconnect(a) => disconnect::run(g, &a).await,
        Command::ConvertKubeconfig(a) => convert_kubeconfig::run(g, &a).await,
        Command::Credential(a) => credential::run(g, &a).await,
        Command::Trust(a) => trust::run(g, &a).await,
        Command::Annotate(a) => annotate::run(g, &a).await,
        Command::Capabilities(a) => capabilities::run(&a),
        Command::SetCredentials(a) => set_credentials::run(g, &a).await,
        Command::SetMode(a) => set_mode::run(g, &a).await,
        Command::Upgrade(a) => upgrade::run(g, &a).await,
        Command::Delete(a) => delete::run(g, &a).await,
        Command::Version(a) => version::run(&a),
        Command::Completion(a) => completion::run(&a),
    }
}
