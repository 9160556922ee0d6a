//! The command line, as `kubectl extcluster --help` shows it.

use crate::convert::{Access, TokenKind};
use crate::duration::GoDuration;
use crate::output::Format;
use clap::{Args, Parser, Subcommand, ValueEnum};
use extcluster_core::version::DEFAULT_ACCEPTED_VERSIONS;
use extcluster_core::{Mode, Provider, VersionRange};
use std::path::PathBuf;

const ABOUT: &str = "Register Kubernetes clusters you did not create on a hub cluster, and list, \
describe, annotate, refresh and disconnect them. The hub is whatever kubectl talks to \
(--kubeconfig, --context, KUBECONFIG). The external clusters themselves are changed only by \
convert-kubeconfig (and register --convert), which make a ServiceAccount for the hub, and by \
disconnect --cleanup-remote, which removes it.";

const EXAMPLES: &str = "Examples:
  # Register a cluster read-only from its kubeconfig, then look at it
  kubectl extcluster register prod-eu --from-kubeconfig ~/eks.kubeconfig
  kubectl extcluster list
  kubectl extcluster describe prod-eu

  # From an SSO (exec plugin) kubeconfig to a registration in one step
  kubectl extcluster register prod-eu --from-kubeconfig ~/eks.kubeconfig --convert

  # Declare what it can do
  kubectl extcluster annotate prod-eu --detect --dry-run

  # Remove the registration (the cluster itself is left untouched)
  kubectl extcluster disconnect prod-eu --yes";

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-extcluster",
    bin_name = "kubectl extcluster",
    version,
    about = ABOUT,
    after_help = EXAMPLES,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// How to reach the hub, as kubectl's own flags.
#[derive(Debug, Clone, Default, Args)]
pub struct Global {
    /// Path to the hub's kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The hub kubeconfig context to use
    #[arg(long, global = true, value_name = "CONTEXT")]
    pub context: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register an external cluster from its kubeconfig (read-only Connect mode by default)
    #[command(after_help = "Examples:
  # Read-only (Connect), from the kubeconfig's current context
  kubectl extcluster register prod-eu --from-kubeconfig ~/eks.kubeconfig

  # Full permission (Import), from a named context, showing what would be created
  kubectl extcluster register prod-eu --from-kubeconfig ~/all.kubeconfig --from-context eks-prod --mode import --dry-run")]
    Register(RegisterArgs),
    /// Register an external cluster read-only (register --mode connect)
    #[command(after_help = "Examples:
  kubectl extcluster connect staging --from-kubeconfig ~/staging.kubeconfig --display-name 'Staging (GKE)'")]
    Connect(RegistrationArgs),
    /// Register an external cluster with full permission (register --mode import)
    #[command(after_help = "Examples:
  kubectl extcluster import prod-eu --from-kubeconfig ~/eks.kubeconfig --from-context eks-prod")]
    Import(RegistrationArgs),
    /// List the registered clusters
    #[command(
        visible_alias = "ls",
        after_help = "Examples:
  kubectl extcluster list
  kubectl extcluster ls -o wide
  kubectl extcluster list -o name"
    )]
    List(ListArgs),
    /// Show one registered cluster
    #[command(after_help = "Examples:
  kubectl extcluster get prod-eu
  kubectl extcluster get prod-eu -o yaml")]
    Get(GetArgs),
    /// Show a registration in detail, with the cluster's nodes and warnings read live
    #[command(after_help = "Examples:
  kubectl extcluster describe prod-eu")]
    Describe(NameArg),
    /// Probe clusters again and update their status (Running, Reconciling, Unreachable)
    #[command(after_help = "Examples:
  kubectl extcluster refresh prod-eu
  kubectl extcluster refresh --all")]
    Refresh(RefreshArgs),
    /// Remove a registration and its stored kubeconfig; the cluster itself is left untouched unless --cleanup-remote
    #[command(after_help = "Examples:
  # Asks for confirmation on a terminal
  kubectl extcluster disconnect prod-eu

  # In scripts
  kubectl extcluster disconnect prod-eu --yes

  # Also remove the ServiceAccount that convert-kubeconfig (or register --convert) made there
  kubectl extcluster disconnect prod-eu --yes --cleanup-remote")]
    Disconnect(DisconnectArgs),
    /// Replace the kubeconfig the hub stores for a registration (after rotating its token, say)
    #[command(after_help = "Examples:
  # The token was rotated: give the hub the new one
  kubectl extcluster convert-kubeconfig --from-kubeconfig ~/.kube/eks --rotate -o eks-token.kubeconfig
  kubectl extcluster set-credentials prod-eu --from-kubeconfig eks-token.kubeconfig

The new kubeconfig must reach the same cluster (its kube-system UID is the registration's cluster
ID) with the rights the registration's mode needs; otherwise nothing is changed.")]
    SetCredentials(SetCredentialsArgs),
    /// Make a kubeconfig with a ServiceAccount token from one that logs in through a plugin (exec, OIDC)
    #[command(after_help = "Examples:
  # A token kubeconfig for the current context, full access, to a new file
  kubectl extcluster convert-kubeconfig --from-kubeconfig ~/.kube/eks -o eks-token.kubeconfig

  # Read-only, with a token that expires in 30 days
  kubectl extcluster convert-kubeconfig --from-kubeconfig ~/.kube/eks --from-context prod \\
      --access read-only --token bound --duration 720h -o prod-ro.kubeconfig

  # Every context of a file, rewritten in place (other contexts are kept)
  kubectl extcluster convert-kubeconfig --from-kubeconfig ~/.kube/gke --all-contexts --in-place

  # Replace a leaked token: the old one stops working
  kubectl extcluster convert-kubeconfig --from-kubeconfig ~/.kube/eks --rotate -o eks-token.kubeconfig")]
    ConvertKubeconfig(ConvertArgs),
    /// Set or remove capability annotations of a registration, or detect them from the cluster
    #[command(after_help = "Examples:
  # Declare capabilities (by name, or by full key; Rancher's keys are accepted too)
  kubectl extcluster annotate prod-eu pspEnabled=false taintSupport=true
  kubectl extcluster annotate prod-eu capabilities.cattle.io/nodePortRange=30000-32767

  # Change a value that is set already, and remove one
  kubectl extcluster annotate prod-eu pspEnabled=true --overwrite
  kubectl extcluster annotate prod-eu nodePortRange-

  # See what the cluster itself shows, then write it
  kubectl extcluster annotate prod-eu --detect --dry-run
  kubectl extcluster annotate prod-eu --detect")]
    Annotate(AnnotateArgs),
    /// List the capability annotations: type, meaning and an example of each
    #[command(after_help = "Examples:
  kubectl extcluster capabilities
  kubectl extcluster capabilities ingressCapabilities")]
    Capabilities(CapabilitiesArgs),
    /// Delete a Provisioned registration (Imported ones can only be disconnected)
    #[command(after_help = "Examples:
  kubectl extcluster delete lab-01")]
    Delete(NameArg),
    /// Print the plugin's version
    #[command(after_help = "Examples:
  kubectl extcluster version")]
    Version,
    /// Print a shell completion script
    #[command(after_help = "Examples:
  kubectl extcluster completion bash > /etc/bash_completion.d/kubectl-extcluster
  kubectl extcluster completion zsh > \"${fpath[1]}/_kubectl-extcluster\"
  kubectl extcluster completion fish > ~/.config/fish/completions/kubectl-extcluster.fish")]
    Completion(CompletionArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RegistrationArgs {
    /// The registration's name on the hub (lowercase letters, digits, '-')
    pub name: String,
    /// The external cluster's kubeconfig
    #[arg(long, value_name = "FILE")]
    pub from_kubeconfig: PathBuf,
    /// The context in that kubeconfig (default: its current-context)
    #[arg(long, value_name = "CONTEXT")]
    pub from_context: Option<String>,
    /// The provider: auto (detected from the version and nodes), Generic, EKS, GKE, AKS, K3s, RKE2 or OpenShift
    #[arg(long, default_value = "auto", value_parser = parse_provider, value_name = "PROVIDER")]
    pub provider: ProviderChoice,
    /// A human-friendly name, shown by describe
    #[arg(long, value_name = "TEXT")]
    pub display_name: Option<String>,
    /// Check everything and print what would be created, writing nothing
    #[arg(long)]
    pub dry_run: bool,
    /// When the context logs in through a plugin (exec, OIDC), first make a ServiceAccount token
    /// for it in the cluster (as convert-kubeconfig does: full access for import, read-only for
    /// connect) and register with that
    #[arg(long)]
    pub convert: bool,
    /// The Kubernetes versions the hub accepts, checked here before anything is sent; set it to
    /// the hub webhook's --accepted-versions when that differs from the default
    #[arg(
        long,
        env = "EXTCLUSTER_ACCEPTED_VERSIONS",
        default_value = DEFAULT_ACCEPTED_VERSIONS,
        value_name = "RANGE"
    )]
    pub accepted_versions: VersionRange,
}

#[derive(Debug, Clone, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub registration: RegistrationArgs,
    /// connect (read-only) or import (full permission)
    #[arg(long, default_value = "connect", value_parser = parse_mode, value_name = "MODE")]
    pub mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderChoice {
    Auto,
    Fixed(Provider),
}

fn parse_provider(s: &str) -> Result<ProviderChoice, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(ProviderChoice::Auto);
    }
    s.parse::<Provider>()
        .map(ProviderChoice::Fixed)
        .map_err(|e| format!("{e}, or auto"))
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse::<Mode>()
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Output format: wide, json, yaml or name
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<Format>,
}

#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    pub name: String,
    /// Output format: wide, json, yaml or name
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<Format>,
}

#[derive(Debug, Clone, Args)]
pub struct NameArg {
    pub name: String,
}

#[derive(Debug, Clone, Args)]
pub struct RefreshArgs {
    /// The registrations to refresh
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub names: Vec<String>,
    /// Refresh every registration
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SetCredentialsArgs {
    /// The registration
    pub name: String,
    /// The kubeconfig with the new credentials (client certificate or token)
    #[arg(long, value_name = "FILE")]
    pub from_kubeconfig: PathBuf,
    /// The context to use (default: the file's current-context)
    #[arg(long, value_name = "CONTEXT")]
    pub from_context: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct DisconnectArgs {
    pub name: String,
    /// Do not ask for confirmation (required when there is no terminal)
    #[arg(short, long)]
    pub yes: bool,
    /// Also remove, through the stored kubeconfig, what convert-kubeconfig made in the cluster
    /// (its ServiceAccount, bindings, role and token Secret), and nothing else
    #[arg(long)]
    pub cleanup_remote: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ConvertArgs {
    /// The kubeconfig to convert (its users may log in with exec plugins or OIDC)
    #[arg(long, value_name = "FILE")]
    pub from_kubeconfig: PathBuf,
    /// The context to convert (default: the file's current-context)
    #[arg(long, value_name = "CONTEXT", conflicts_with = "all_contexts")]
    pub from_context: Option<String>,
    /// Convert every context in the file
    #[arg(long)]
    pub all_contexts: bool,
    /// The namespace of the ServiceAccount
    #[arg(long, default_value = "kube-system", value_name = "NAMESPACE")]
    pub namespace: String,
    /// The ServiceAccount to make (or reuse)
    #[arg(long, default_value = "extcluster-manager", value_name = "NAME")]
    pub service_account: String,
    /// full (a binding to cluster-admin) or read-only (get, list, watch on everything)
    #[arg(long, value_enum, default_value = "full", value_name = "ACCESS")]
    pub access: Access,
    /// secret (a token Secret, lives until rotated) or bound (a TokenRequest token valid for --duration)
    #[arg(long, value_enum, default_value = "secret", value_name = "KIND")]
    pub token: TokenKind,
    /// How long a bound token is valid, as kubectl writes durations [default: 8760h]
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<GoDuration>,
    /// Write the new kubeconfig to FILE (mode 0600, atomically) instead of stdout
    #[arg(short, long, value_name = "FILE", conflicts_with = "in_place")]
    pub output: Option<PathBuf>,
    /// Rewrite --from-kubeconfig itself: converted contexts use the token, the rest is kept
    #[arg(long)]
    pub in_place: bool,
    /// Replace the token, so a leaked one stops working
    #[arg(long)]
    pub rotate: bool,
}

#[derive(Debug, Clone, Args)]
pub struct AnnotateArgs {
    /// The registration to annotate
    pub name: String,
    /// CAP=VALUE to set, CAP- to remove; CAP is a name (pspEnabled) or a full key
    #[arg(value_name = "CAP=VALUE|CAP-")]
    pub changes: Vec<String>,
    /// Change capabilities that already have a different value
    #[arg(long)]
    pub overwrite: bool,
    /// Read the cluster (through the stored kubeconfig) and propose values, with the reasons
    #[arg(long)]
    pub detect: bool,
    /// Check with the hub (and its webhook) without writing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CapabilitiesArgs {
    /// Show only this capability (a name or a full key)
    #[arg(value_name = "CAPABILITY")]
    pub capability: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    #[arg(value_enum)]
    pub shell: Shell,
}

/// A command-line mistake on one line, with where to look next: clap's own message is several
/// lines (usage, tips), which is more than a mistyped flag deserves.
pub fn usage_error_line(rendered: &str) -> String {
    let (message, rest) = rendered.split_once("\nUsage:").unwrap_or((rendered, ""));
    let message: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .map(|l| l.strip_prefix("tip:").map_or(l, str::trim_start))
        .collect();
    let mut joined = String::new();
    for part in message {
        if !joined.is_empty() {
            joined.push_str(if joined.ends_with(':') { " " } else { "; " });
        }
        joined.push_str(part);
    }
    let mut line = crate::errors::one_line(&joined);
    if !line.starts_with("error:") {
        line = format!("error: {line}");
    }
    let command: Vec<&str> = rest
        .split_whitespace()
        .take_while(|w| !w.starts_with(['[', '<', '-']))
        .collect();
    if !command.is_empty() {
        line.push_str(&format!("; see `{} --help`", command.join(" ")));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn usage_errors_are_one_line() {
        let err = Cli::try_parse_from(["kubectl-extcluster", "register", "x"]).unwrap_err();
        let line = usage_error_line(&err.render().to_string());
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.starts_with("error: "), "{line}");
        assert!(line.contains("provided: --from-kubeconfig"), "{line}");
        assert!(
            line.ends_with("see `kubectl extcluster register --help`"),
            "{line}"
        );
        let err = Cli::try_parse_from(["kubectl-extcluster", "ls", "--foo"]).unwrap_err();
        let line = usage_error_line(&err.render().to_string());
        assert!(line.contains("'--foo'") && !line.contains("tip:"), "{line}");
        let err = Cli::try_parse_from(["kubectl-extcluster", "lst"]).unwrap_err();
        let line = usage_error_line(&err.render().to_string());
        assert!(
            line.contains("'ls'") && !line.contains("For more"),
            "{line}"
        );
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_an_example() {
        let cmd = Cli::command();
        for sub in cmd.get_subcommands() {
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                help.contains("kubectl extcluster"),
                "{} has no example",
                sub.get_name()
            );
        }
    }

    #[test]
    fn parses_like_kubectl() {
        let cli = Cli::try_parse_from([
            "kubectl-extcluster",
            "register",
            "prod",
            "--from-kubeconfig",
            "/k",
            "--mode",
            "Import",
            "--provider",
            "eks",
            "--kubeconfig",
            "/hub",
        ])
        .unwrap();
        assert_eq!(cli.global.kubeconfig, Some(PathBuf::from("/hub")));
        match cli.command {
            Command::Register(r) => {
                assert_eq!(r.mode, Mode::Import);
                assert_eq!(
                    r.registration.provider,
                    ProviderChoice::Fixed(Provider::EKS)
                );
            }
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["kubectl-extcluster", "ls", "-o", "wide"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::List(ListArgs {
                output: Some(Format::Wide)
            })
        ));
        assert!(Cli::try_parse_from(["kubectl-extcluster", "refresh"]).is_err());
        assert!(Cli::try_parse_from(["kubectl-extcluster", "refresh", "a", "--all"]).is_err());
        let bad = Cli::try_parse_from([
            "kubectl-extcluster",
            "register",
            "x",
            "--from-kubeconfig",
            "k",
            "--provider",
            "nope",
        ])
        .unwrap_err()
        .to_string();
        assert!(bad.contains("EKS"), "{bad}");
    }
}
