//! `register`, `connect`, `import`: from an external kubeconfig to a Running registration, or
//! nothing at all. A federated registration (no credential stored) is in [`federated`].

mod federated;

use crate::convert::{self, Options};
use crate::dry_run::{DryRun, DryRunArg};
use crate::hub::{Global, Hub};
use crate::login::Target;
use crate::output::resource_name;
use crate::registration::{self, Described, check_name, external_client, failed, from_file};
use anyhow::{Result, anyhow, bail};
use clap::Args;
use extcluster_core::api::{MANAGER, SYSTEM_NAMESPACE};
use extcluster_core::exports::Export;
use extcluster_core::facts::Facts;
use extcluster_core::label::{self, DATACENTER_LABEL};
use extcluster_core::policy::Policy;
use extcluster_core::version::DEFAULT_ACCEPTED_VERSIONS;
use extcluster_core::{ExternalCluster, Mode, Operation, Provider, Registration, VersionRange};
use extcluster_remote::explain::FromFile;
use extcluster_remote::kubeconfig::{self, Minimized, file};
use extcluster_remote::probe;
use extcluster_remote::stored::secret_name;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::config::Kubeconfig;
use std::path::PathBuf;

/// Register an external cluster from its kubeconfig (read-only Connect mode by default)
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  # Read-only (Connect), from the kubeconfig's current context
  kubectl extcluster register prod-eu --from-kubeconfig ~/eks.kubeconfig

  # Full permission (Import), from a named context, showing what would be created
  kubectl extcluster register prod-eu --from-kubeconfig ~/all.kubeconfig --from-context eks-prod --mode import --dry-run

  # Also hand it to Argo CD and Flux (the hub's controller must export to them)
  kubectl extcluster register prod-eu --from-kubeconfig ~/eks.kubeconfig --mode import --export argocd --export flux")]
pub struct RegisterArgs {
    #[command(flatten)]
    pub registration: RegistrationArgs,
    /// connect (read-only) or import (full permission)
    #[arg(long, default_value = "connect", value_parser = parse_mode, value_name = "MODE")]
    pub mode: Mode,
}

/// Register an external cluster read-only (register --mode connect)
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  kubectl extcluster connect staging --from-kubeconfig ~/staging.kubeconfig --display-name 'Staging (GKE)'")]
pub struct ConnectArgs {
    #[command(flatten)]
    pub registration: RegistrationArgs,
}

/// Register an external cluster with full permission (register --mode import)
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  kubectl extcluster import prod-eu --from-kubeconfig ~/eks.kubeconfig --from-context eks-prod")]
pub struct ImportArgs {
    #[command(flatten)]
    pub registration: RegistrationArgs,
}

/// What register, connect and import share.
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
    /// The datacenter it belongs to, as a label value (such as aws-us-east-1): `list --datacenter`
    /// selects by it; change it later with kubectl label (extcluster.io/datacenter)
    #[arg(long, value_name = "NAME", value_parser = datacenter)]
    pub datacenter: Option<String>,
    /// A label for the registration, as kubectl label takes one; repeat for several
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = label_pair)]
    pub labels: Vec<(String, String)>,
    /// Also export it to a GitOps tool (argocd, flux), when the hub's controller exports there;
    /// repeat for both
    #[arg(long = "export", value_name = "TOOL", value_parser = extcluster_core::exports::parse_tool)]
    pub exports: Vec<Export>,
    /// Register even though the context's cluster sets insecure-skip-tls-verify: true (its
    /// credentials then go to whatever answers at that address)
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    #[command(flatten)]
    pub dry_run: DryRunArg,
    /// When the context logs in through a plugin (exec, OIDC), first make a ServiceAccount token
    /// for it in the cluster (as convert-kubeconfig does: full access for import, read-only for
    /// connect) and register with that
    #[arg(long)]
    pub convert: bool,
    #[command(flatten)]
    pub federated: federated::FederatedArgs,
    /// With --convert: the ServiceAccount to make (or reuse) in kube-system [default:
    /// extcluster-manager for import, extcluster-reader for connect]; one per hub keeps each
    /// hub's token its own
    #[arg(long, value_name = "NAME", requires = "convert")]
    pub service_account: Option<String>,
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

fn datacenter(s: &str) -> Result<String, String> {
    label::check_value(s)
        .map(|()| s.to_owned())
        .map_err(|e| e.to_string())
}

fn label_pair(s: &str) -> Result<(String, String), String> {
    label::parse_pair(s).map_err(|e| e.to_string())
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse::<Mode>()
}

/// What was learnt from the external cluster before the hub is asked.
struct Seen {
    context: String,
    server: String,
    facts: Facts,
    /// The kubeconfig to store; `None` with `--convert`, until the token is made.
    kubeconfig: Option<Kubeconfig>,
    /// The context's own login, kept to convert with.
    login: Option<Target>,
    /// A warning for after the registration: connect given credentials that can write.
    warning: Option<String>,
}

pub async fn run(global: &Global, args: &RegisterArgs) -> Result<()> {
    register(global, &args.registration, args.mode).await
}

pub async fn connect(global: &Global, args: &ConnectArgs) -> Result<()> {
    register(global, &args.registration, Mode::Connect).await
}

pub async fn import(global: &Global, args: &ImportArgs) -> Result<()> {
    register(global, &args.registration, Mode::Import).await
}

/// The registration as the command line describes it, with what the cluster at `server` showed.
fn described(args: &RegistrationArgs, mode: Mode, facts: &Facts, server: &str) -> Described {
    Described {
        mode,
        provider: match args.provider {
            ProviderChoice::Auto => facts.provider,
            ProviderChoice::Fixed(p) => p,
        },
        server: server.to_owned(),
        display_name: args.display_name.clone(),
        exports: args.exports.iter().copied().collect(),
        labels: args
            .labels
            .iter()
            .cloned()
            .chain(
                args.datacenter
                    .iter()
                    .map(|dc| (DATACENTER_LABEL.to_owned(), dc.clone())),
            )
            .collect(),
        federated: None,
    }
}

async fn register(global: &Global, args: &RegistrationArgs, mode: Mode) -> Result<()> {
    let name = args.name.as_str();
    check_name(name)?;
    if args.federated.federated {
        return federated::register(global, args, mode).await;
    }
    let path = args.from_kubeconfig.display().to_string();
    // The external cluster first: it is only read, and nothing is written before it answered.
    let seen = read_external(args, mode, &path, global.exec_timeout).await?;
    if seen.facts.cluster_id.is_empty() {
        bail!(
            "the external cluster at {} has no kube-system namespace UID to identify it by",
            seen.server
        );
    }
    let cluster = registration::build_cluster(
        name,
        &described(args, mode, &seen.facts, &seen.server),
        &seen.facts,
    );
    // With --convert the kubeconfig does not exist yet: the checks below run with an empty one.
    let kubeconfig_yaml = match &seen.kubeconfig {
        Some(kc) => kubeconfig::to_yaml(kc)?,
        None => String::new(),
    };
    let secret = registration::build_secret(name, &seen.facts.cluster_id, kubeconfig_yaml.into());

    let Some(hub) = hub_accepting(global, args, &cluster, &secret).await? else {
        if seen.login.is_some() {
            let o = convert_options(args, mode);
            println!(
                "# --convert: the cluster would get serviceaccount {} in {} with {} access and a token Secret, and the Secret above would hold a kubeconfig with that token",
                o.service_account, o.namespace, o.access
            );
        }
        return Ok(());
    };
    let secret = match &seen.login {
        Some(target) => {
            let options = convert_options(args, mode);
            converted_secret(name, &options, &seen, target, &path).await?
        }
        None => secret,
    };
    let new_status = registration::create(&hub, &cluster, secret, &seen.facts).await?;
    println!(
        "{} registered ({mode}, {}): {}, {}, {} nodes",
        resource_name(name),
        cluster.spec.provider,
        registration::phase_text(&new_status),
        seen.facts.git_version,
        seen.facts.nodes.len()
    );
    if let Some(warning) = &seen.warning {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

/// Reads the external cluster. With --convert and a plugin login, it is read with that login;
/// the ServiceAccount token is made only once the hub has said it would accept the registration.
async fn read_external(
    args: &RegistrationArgs,
    mode: Mode,
    path: &str,
    exec_timeout: std::time::Duration,
) -> Result<Seen> {
    let kc = kubeconfig::read(&args.from_kubeconfig)?;
    let resolved = kubeconfig::resolve(&kc, path, args.from_context.as_deref())?;
    registration::refuse_unverified_tls(
        resolved.cluster.insecure_skip_tls_verify == Some(true),
        args.insecure_skip_tls_verify,
        &resolved.context,
        &resolved.server,
        path,
    )?;
    if args.convert && resolved.uses_plugin() {
        let (context, server) = (resolved.context.clone(), resolved.server.clone());
        let target = Target::connect(&kc, path, resolved, exec_timeout).await?;
        let from = FromFile {
            server: &server,
            context: &context,
            path,
        };
        let facts = probe::facts(&target.client)
            .await
            .map_err(|f| failed(from, "read the cluster", &f))?;
        return Ok(Seen {
            context,
            server,
            facts,
            kubeconfig: None,
            login: Some(target),
            warning: None,
        });
    }
    if args.convert {
        eprintln!(
            "--convert: context {:?} does not log in through a plugin; registering with its credentials as they are",
            resolved.context
        );
    }
    let minimized = kubeconfig::minimize(&kc, path, args.from_context.as_deref())?;
    let client = external_client(&minimized, path).await?;
    probe::require_rights(&client, mode, from_file(&minimized, path)).await?;
    let warning = (mode == Mode::Connect && can_write_everything(&client).await).then(|| {
        format!(
            "connect is read-only, but the credentials of context {:?} can write to the whole \
             cluster, and the hub stores them as they are; for read-only ones run `kubectl \
             extcluster convert-kubeconfig --from-kubeconfig {path} --access read-only`",
            minimized.context
        )
    });
    let facts = probe::facts(&client)
        .await
        .map_err(|f| failed(from_file(&minimized, path), "read the cluster", &f))?;
    Ok(Seen {
        context: minimized.context,
        server: minimized.server,
        facts,
        kubeconfig: Some(minimized.kubeconfig),
        login: None,
        warning,
    })
}

/// What --convert makes in the cluster for `mode`: the access it needs, by the account asked for.
fn convert_options(args: &RegistrationArgs, mode: Mode) -> Options {
    let mut options = Options::for_mode(mode);
    if let Some(account) = &args.service_account {
        options.service_account.clone_from(account);
    }
    options
}

/// Whether the credentials hold every right Import needs (cluster-wide writes).
async fn can_write_everything(client: &kube::Client) -> bool {
    probe::missing_rights(client, Mode::Import)
        .await
        .is_ok_and(|missing| missing.is_empty())
}

/// The registration's Secret with a ServiceAccount token made through the context's own login,
/// once the token is shown to hold the rights `mode` needs.
async fn converted_secret(
    name: &str,
    options: &Options,
    seen: &Seen,
    target: &Target,
    path: &str,
) -> Result<Secret> {
    eprintln!("Converting context {:?} ({}):", seen.context, seen.server);
    let converted = convert::convert(target, options, &mut |line| eprintln!("  {line}")).await?;
    let minimized = Minimized {
        context: seen.context.clone(),
        server: seen.server.clone(),
        kubeconfig: file::single(&converted.entry),
    };
    let client = external_client(&minimized, path).await?;
    probe::require_rights(&client, options.access.mode(), from_file(&minimized, path)).await?;
    let kubeconfig_yaml = kubeconfig::to_yaml(&minimized.kubeconfig)?;
    Ok(registration::build_secret(
        name,
        &seen.facts.cluster_id,
        kubeconfig_yaml.into_bytes(),
    ))
}

/// The hub, once it would accept the registration; `None` on a dry run, after printing what
/// would be sent.
async fn hub_accepting(
    global: &Global,
    args: &RegistrationArgs,
    cluster: &ExternalCluster,
    secret: &Secret,
) -> Result<Option<Hub>> {
    let hub = Hub::connect(global).await?;
    let dry_run = args.dry_run.dry_run;
    check_with_hub(&hub, cluster, secret, &args.accepted_versions, dry_run).await?;
    if dry_run.is_dry() {
        print!("{}", registration::dry_run_text(cluster, secret)?);
        return Ok(None);
    }
    Ok(Some(hub))
}

/// The same rules the webhook enforces, locally, then the hub's own verdict on a dry run.
async fn check_with_hub(
    hub: &Hub,
    cluster: &ExternalCluster,
    secret: &Secret,
    accepted: &VersionRange,
    dry_run: DryRun,
) -> Result<()> {
    let name = cluster.metadata.name.as_deref().unwrap_or_default();
    let existing = hub
        .clusters()
        .list(&Default::default())
        .await
        .map_err(|e| hub.err("list ExternalClusters", &e))?;
    let registry: Vec<Registration<'_>> = existing.items.iter().map(Registration::from).collect();
    let candidate = Registration::from(cluster);
    Policy::new(accepted.clone())
        .decide(
            Operation::Create,
            Some(&candidate),
            None,
            registry.as_slice(),
        )
        .map_err(|denial| {
            anyhow!(
                "checked here against the hub's registrations with the rules its webhook enforces: {denial}"
            )
        })?;
    if existing
        .items
        .iter()
        .any(|c| c.metadata.name.as_deref() == Some(name))
    {
        bail!(
            "a registration named {name:?} already exists on the hub; choose another name, or run `kubectl extcluster disconnect {name}` first"
        );
    }
    if dry_run == DryRun::Client {
        return Ok(());
    }
    let dry = PostParams {
        dry_run: true,
        field_manager: Some(MANAGER.into()),
    };
    hub.clusters()
        .create(&dry, cluster)
        .await
        .map_err(|e| hub.err(&format!("create ExternalCluster {name:?}"), &e))?;
    hub.system_secrets()
        .create(&dry, secret)
        .await
        .map_err(|e| {
            hub.err(
                &format!("create Secret {SYSTEM_NAMESPACE}/{}", secret_name(name)),
                &e,
            )
        })?;
    Ok(())
}
