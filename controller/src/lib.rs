//! `extcluster-controller`: keeps every ExternalCluster's status true and publishes the registry.
//! Two replicas run; the one holding the Lease watches, probes and publishes, and only until its
//! Lease could pass to the other.

mod clock;
mod flags;
mod lease;
mod metrics;
mod probing;
mod publish;
mod record;
mod registrations;
mod schedule;
mod serve;
mod tokens;

use anyhow::Context as _;
use clap::Parser;
use extcluster_core::health::{self, Settings};
use extcluster_remote::observe::Limits;
use flags::Flags;
use k8s_openapi::jiff::SignedDuration;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The whole program, for the binaries: flags from the command line, then elect, work, serve.
pub async fn run() -> anyhow::Result<()> {
    let flags = Flags::parse();
    init_logging(&flags.log_format);
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("a TLS crypto provider was installed twice"))?;
    let client = extcluster_remote::hub::client(flags.kubeconfig.as_deref()).await?;
    let identity = flags.identity.clone().unwrap_or_else(default_identity);
    let replica = Arc::new(serve::ReplicaState::default());
    let served = tokio::spawn(serve::serve(flags.probe_listen, replica.clone()));
    let election = lease::Election {
        api: kube::Api::namespaced(client.clone(), &flags.namespace),
        name: flags.lease_name.clone(),
        identity: identity.clone(),
        duration: flags.lease_duration,
        replica: replica.clone(),
    };
    let work = Arc::new(Work {
        flags,
        client,
        identity,
        replica,
    });
    let lead = move || work.clone().run();
    tokio::select! {
        ended = election.run(lead, extcluster_serving::shutdown_signal()) => {
            ended?;
            tracing::info!("shut down");
            Ok(())
        }
        served = served => served?.context("the probe endpoints stopped"),
    }
}

/// What the leader does: watch the registrations, probe them, publish them. Everything it
/// starts ends when it is dropped (the Lease lost or given up).
struct Work {
    flags: Flags,
    client: kube::Client,
    identity: String,
    replica: Arc<serve::ReplicaState>,
}

impl Work {
    async fn run(self: Arc<Self>) {
        let (registrations, triggers) =
            registrations::Registrations::watch(&self.client, &self.flags.namespace);
        let publisher = Arc::new(self.publisher(&registrations));
        let ctx = Arc::new(self.context(registrations.clone()));
        let synced = async {
            if registrations.mark_listed().await {
                self.replica.synced.store(true, Ordering::Relaxed);
            }
        };
        tokio::join!(probing::run(ctx, triggers), publish::run(publisher), synced);
    }

    fn context(&self, registrations: registrations::Registrations) -> probing::Context {
        let flags = &self.flags;
        probing::Context {
            registrations,
            replica: self.replica.clone(),
            cadence: schedule::Cadence {
                interval: flags.probe_interval,
                unreachable_after: flags.unreachable_after,
                max_backoff: flags.max_backoff,
            },
            rights_interval: flags.rights_interval,
            recorder: record::Recorder {
                limits: Limits {
                    connect: flags.connect_timeout,
                    whole: flags.probe_timeout,
                },
                settings: Settings {
                    unreachable_after: flags.unreachable_after,
                    expiry_warning: signed(flags.expiry_warning),
                    accepted_versions: flags.accepted_versions.clone(),
                    fresh_for: health::fresh_for(
                        signed(flags.heartbeat),
                        signed(flags.probe_interval),
                    ),
                    skew_settles_after: signed(flags.skew_settles_after),
                },
                writer: record::Writer {
                    instance: self.identity.clone(),
                    client: self.client.clone(),
                    heartbeat: signed(flags.heartbeat),
                    replica: self.replica.clone(),
                },
                tokens: tokens::Tokens::new(
                    self.client.clone(),
                    self.replica.metrics.tokens_minted.clone(),
                ),
            },
            concurrency: u16::try_from(flags.concurrency).unwrap_or(u16::MAX),
            memory: probing::RegistrationMemory::default(),
        }
    }

    fn publisher(&self, registrations: &registrations::Registrations) -> publish::Publisher {
        use extcluster_core::exports::Export;
        let flags = &self.flags;
        let namespace = |tool: &Export| match tool {
            Export::Argocd => flags.argocd_namespace.clone(),
            Export::Flux => flags.flux_namespace.clone(),
        };
        publish::Publisher {
            client: self.client.clone(),
            registrations: registrations.clone(),
            inventory_namespace: flags.inventory_namespace.clone(),
            credential_providers: flags.credential_providers,
            targets: flags.exports.iter().map(|t| (*t, namespace(t))).collect(),
            replica: self.replica.clone(),
        }
    }
}

fn signed(d: std::time::Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

/// The Pod's name (the hostname in a Pod), else this host's name and process ID.
fn default_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "extcluster-controller".into());
    format!("{host}-{}", std::process::id())
}

/// kube's client logs an ERROR for every refused connection: a dead cluster's probes would flood
/// the log. Their failures are in the status, the events and the metrics instead.
const DEFAULT_LOG_FILTER: &str = "info,kube_client::client::builder=off";

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| DEFAULT_LOG_FILTER.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
