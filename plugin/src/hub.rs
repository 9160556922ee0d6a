//! The hub: whatever kubectl would talk to (`--kubeconfig`, `--context`, `KUBECONFIG`,
//! `~/.kube/config`, else in-cluster).

use anyhow::{Result, anyhow, bail};
use clap::Args;
use extcluster_core::ExternalCluster;
use extcluster_core::api::{CRD_NAME, SYSTEM_NAMESPACE};
use extcluster_remote::failure::{Failure, chain};
use k8s_openapi::api::core::v1::Secret;
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Api, Client};
use std::path::PathBuf;

/// How to reach the hub, as kubectl's own flags.
#[derive(Debug, Clone, Default, Args)]
pub struct Global {
    /// Path to the hub's kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The hub kubeconfig context to use
    #[arg(long, global = true, value_name = "CONTEXT")]
    pub context: Option<String>,
    /// Act on the hub as this user (impersonation, as kubectl --as)
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Act on the hub in this group too (repeat for several; needs --as)
    #[arg(
        long = "as-group",
        global = true,
        value_name = "GROUP",
        requires = "as_user"
    )]
    pub as_groups: Vec<String>,
    /// How long to wait for each answer from the hub: 30s, 2m, or seconds as a bare number
    /// (0: the default bounds)
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_timeout)]
    pub request_timeout: Option<std::time::Duration>,
    /// How long an exec credential plugin (the hub's, or a kubeconfig's being registered or
    /// converted) may take to log in before the command gives up on it
    #[arg(long, global = true, value_name = "DURATION", default_value = "5m", value_parser = parse_timeout)]
    pub exec_timeout: std::time::Duration,
    /// How much to log to stderr, as kubectl's -v: 6 each request with its status and time, 7
    /// their headers too, credentials masked. Bodies are never logged (they carry credentials)
    #[arg(
        short = 'v',
        long = "v",
        global = true,
        value_name = "LEVEL",
        default_value_t = 0
    )]
    pub verbosity: u8,
}

/// A timeout as kubectl's --request-timeout takes one: a duration (`30s`, `1m`) or a bare number
/// of seconds.
fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    extcluster_core::duration::parse(s).map_err(|why| {
        format!(
            "{s:?} is not a timeout ({why}); write it as kubectl writes a request timeout: 30s, 2m, or 30"
        )
    })
}

pub struct Hub {
    pub client: Client,
    pub server: String,
    /// Whom the hub credentials act as, where they say (`user alice`, `serviceaccount ns/name`),
    /// or whom `--as` names: what a recorded change says was done by.
    pub acting_as: Option<String>,
    /// How to reach the hub with no credentials at all: what anyone on the network can read.
    pub anonymous: kube::Config,
}

impl Hub {
    pub async fn connect(global: &Global) -> Result<Self> {
        let mut acting_as = global.as_user.as_ref().map(|u| format!("user {u}"));
        let mut config = match read_kubeconfig(global)? {
            Some((kc, source)) => {
                refuse_loop(&kc, global.context.as_ref(), &source)?;
                if acting_as.is_none() {
                    let mut chosen = kc.clone();
                    if global.context.is_some() {
                        chosen.current_context.clone_from(&global.context);
                    }
                    acting_as = extcluster_remote::credentials::identity(&chosen);
                }
                config_from(kc, global.context.clone(), &source).await?
            }
            None => kube::Config::incluster().map_err(|_| {
                anyhow!(
                    "no hub configured: no kubeconfig at ~/.kube/config and not running in a cluster; pass --kubeconfig or set KUBECONFIG"
                )
            })?,
        };
        extcluster_remote::client::bound(&mut config);
        extcluster_remote::exec::log_in(&mut config, global.exec_timeout)
            .await
            .map_err(|e| anyhow!("cannot log in to the hub at {}: {e}", config.cluster_url))?;
        if let Some(user) = &global.as_user {
            config.auth_info.impersonate = Some(user.clone());
            config.auth_info.impersonate_groups =
                (!global.as_groups.is_empty()).then(|| global.as_groups.clone());
        }
        if let Some(limit) = global.request_timeout.filter(|d| !d.is_zero()) {
            config.connect_timeout = Some(limit);
            config.read_timeout = Some(limit);
            config.write_timeout = Some(limit);
        }
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_owned();
        let mut anonymous = config.clone();
        anonymous.auth_info = Default::default();
        let client = extcluster_remote::transport::client(config).map_err(|e| {
            anyhow!(
                "cannot set up a client for the hub at {server}: {}",
                e.failure()
            )
        })?;
        Ok(Self {
            client,
            server,
            acting_as,
            anonymous,
        })
    }

    pub fn clusters(&self) -> Api<ExternalCluster> {
        Api::all(self.client.clone())
    }

    /// The registration `name`, or an error saying it is not registered and how to see what is.
    pub async fn registration(&self, name: &str) -> anyhow::Result<ExternalCluster> {
        self.clusters()
            .get_opt(name)
            .await
            .map_err(|e| self.err(&format!("get ExternalCluster {name:?}"), &e))?
            .ok_or_else(|| not_found(name))
    }

    pub fn secrets(&self, namespace: &str) -> Api<Secret> {
        Api::namespaced(self.client.clone(), namespace)
    }

    pub fn system_secrets(&self) -> Api<Secret> {
        self.secrets(SYSTEM_NAMESPACE)
    }

    /// The one-line message for a failed hub call; `action` is what was being done ("list
    /// ExternalClusters").
    pub fn err(&self, action: &str, e: &kube::Error) -> anyhow::Error {
        if missing_api(e) {
            return anyhow!(
                "the hub at {} has no ExternalCluster API (CRD {CRD_NAME} is not installed); install it with `kubectl apply -f manifests/crd.yaml` (or `kubectl apply -k manifests/`)",
                self.server
            );
        }
        match Failure::of(e) {
            Failure::Transport(t) => anyhow!(
                "cannot reach the hub at {}: {t}; check --kubeconfig, --context or KUBECONFIG",
                self.server
            ),
            Failure::Status {
                code: 401, message, ..
            } => anyhow!(
                "the hub at {} refused the credentials (401 Unauthorized: {message}); log in to the hub again",
                self.server
            ),
            Failure::Status {
                code: 403, message, ..
            } if message.contains("admission webhook") => {
                anyhow!("the hub refused to {action}: {message}")
            }
            Failure::Status {
                code: 403, message, ..
            } => anyhow!(
                "the hub refused to {action}: {message}; ask the hub's administrator for that right"
            ),
            Failure::Status { message, .. } if message.contains("failed calling webhook") => {
                anyhow!(
                    "cannot {action}: the hub's admission webhook did not answer ({message}); check the extcluster-webhook Deployment and its /readyz: `kubectl -n {SYSTEM_NAMESPACE} get pods,endpoints -l app.kubernetes.io/name=extcluster-webhook`"
                )
            }
            Failure::Status {
                code: 404, message, ..
            } if action.starts_with("create") && message.contains("namespaces") => anyhow!(
                "cannot {action}: {message}; create it with `kubectl create namespace {SYSTEM_NAMESPACE}` (or install with `kubectl apply -k manifests/`)"
            ),
            other => anyhow!("cannot {action}: {other}"),
        }
    }
}

/// The error for a registration that does not exist, with how to see the ones that do.
pub fn not_found(name: &str) -> anyhow::Error {
    none_named(&[name])
}

/// The error for names no registration has (one or more), with how to see the ones there are.
pub fn none_named(names: &[&str]) -> anyhow::Error {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    let named = match quoted.as_slice() {
        [one] => format!("no external cluster named {one} is"),
        many => format!("no external clusters named {} are", many.join(", ")),
    };
    anyhow!("{named} registered on the hub; `kubectl extcluster list` shows the registered ones")
}

/// The hub's kubeconfig and where it was read from, as kubectl finds it; `None` means in-cluster.
fn read_kubeconfig(global: &Global) -> Result<Option<(Kubeconfig, String)>> {
    if let Some(path) = &global.kubeconfig {
        let kc = Kubeconfig::read_from(path).map_err(|e| {
            anyhow!(
                "cannot read the hub kubeconfig {}: {}; check --kubeconfig",
                path.display(),
                kubeconfig_reason(&e)
            )
        })?;
        return Ok(Some((kc, path.display().to_string())));
    }
    let kc = extcluster_remote::kubeconfig::from_environment()
        .map_err(|e| anyhow!("cannot read the hub kubeconfig: {e}"))?;
    match kc {
        Some(kc) => Ok(Some((kc, kubeconfig_source()))),
        None if global.context.is_some() => Err(anyhow!(
            "no hub kubeconfig to find --context in: ~/.kube/config does not exist; set KUBECONFIG or pass --kubeconfig"
        )),
        None => Ok(None),
    }
}

/// Refuses a hub kubeconfig whose chosen user is this very plugin's `credential` reading the same
/// kubeconfig again (no `--kubeconfig` in its args, no KUBECONFIG in its env): a consumer's
/// kubeconfig used as the hub's, where every run would start another.
fn refuse_loop(kc: &Kubeconfig, context: Option<&String>, source: &str) -> Result<()> {
    let context = context.or(kc.current_context.as_ref());
    let user = kc
        .contexts
        .iter()
        .find(|c| Some(&c.name) == context)
        .and_then(|c| c.context.as_ref()?.user.as_ref());
    let exec = kc
        .auth_infos
        .iter()
        .find(|a| Some(&a.name) == user)
        .and_then(|a| a.auth_info.as_ref()?.exec.as_ref());
    let Some(exec) = exec else { return Ok(()) };
    let command = exec.command.as_deref().map(std::path::Path::new);
    let base = command.and_then(|c| c.file_name()?.to_str()).unwrap_or("");
    let args: Vec<&str> = exec.args.iter().flatten().map(String::as_str).collect();
    let credential = match base {
        "kubectl-extcluster" => args.first() == Some(&"credential"),
        "kubectl" => args.get(..2) == Some(&["extcluster", "credential"][..]),
        _ => false,
    };
    let elsewhere = args.iter().any(|a| a.starts_with("--kubeconfig"))
        || exec
            .env
            .iter()
            .flatten()
            .any(|e| e.get("name").is_some_and(|n| n == "KUBECONFIG"));
    if credential && !elsewhere {
        bail!(
            "the hub kubeconfig {source} (context {}) gets its credentials from \
             `kubectl-extcluster credential` itself, so every run would start another: a \
             consumer's kubeconfig is not a hub kubeconfig; add `--kubeconfig HUB-KUBECONFIG` to \
             the exec args, or run with --kubeconfig pointing at the hub's own",
            context.map_or("none", String::as_str)
        );
    }
    Ok(())
}

/// The client configuration for `context` (or the current one) of the hub's kubeconfig.
async fn config_from(
    kc: Kubeconfig,
    context: Option<String>,
    source: &str,
) -> Result<kube::Config> {
    let contexts: Vec<String> = kc.contexts.iter().map(|c| c.name.clone()).collect();
    let options = KubeConfigOptions {
        context,
        ..Default::default()
    };
    kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| match e {
            KubeconfigError::LoadContext(name) => anyhow!(
                "context {name:?} is not in the hub kubeconfig {source}; available contexts: {}",
                if contexts.is_empty() { "(none)".to_owned() } else { contexts.join(", ") }
            ),
            KubeconfigError::CurrentContextNotSet if contexts.is_empty() => anyhow!(
                "the hub kubeconfig {source} has no contexts; point --kubeconfig or KUBECONFIG at the hub's kubeconfig"
            ),
            KubeconfigError::CurrentContextNotSet => anyhow!(
                "the hub kubeconfig {source} sets no current-context; pass --context with one of: {}",
                contexts.join(", ")
            ),
            other => anyhow!("the hub kubeconfig {source} is not usable: {}", chain(&other)),
        })
}

/// A 404 for the resource type itself rather than for one object: the CRD is missing.
pub fn missing_api(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) if s.code == 404 => {
            let named = s.details.as_ref().is_some_and(|d| !d.name.is_empty());
            !named && !s.message.contains("namespaces")
        }
        _ => false,
    }
}

fn kubeconfig_source() -> String {
    match std::env::var("KUBECONFIG") {
        Ok(v) if !v.is_empty() => v,
        _ => "~/.kube/config".into(),
    }
}

fn kubeconfig_reason(e: &KubeconfigError) -> String {
    match e {
        KubeconfigError::ReadConfig(io, _) if io.kind() == std::io::ErrorKind::NotFound => {
            "no such file".into()
        }
        KubeconfigError::ReadConfig(io, _) => io.to_string(),
        KubeconfigError::FindPath => "no home directory to find ~/.kube/config in".into(),
        _ => "it is not a valid kubeconfig".into(),
    }
}
