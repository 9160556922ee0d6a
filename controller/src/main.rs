//! `extcluster-controller`: keeps every ExternalCluster's status true. Two replicas run; the one
//! holding the Lease probes every live registration through its stored kubeconfig.

mod flags;
mod leader;
mod metrics;
mod probing;
mod publish;
mod registrations;
mod schedule;
mod serve;
mod status;

use anyhow::Context as _;
use clap::Parser;
use extcluster_core::health::{self, Settings};
use extcluster_remote::observe::Limits;
use flags::Flags;
use k8s_openapi::jiff::SignedDuration;
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    init_logging(&flags.log_format);
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("a TLS crypto provider was installed twice"))?;
    let client = extcluster_remote::hub::client(flags.kubeconfig.as_deref()).await?;
    let identity = flags.identity.clone().unwrap_or_else(default_identity);
    let health = Arc::new(serve::Health::default());
    let registrations =
        registrations::Registrations::watch(&client, &flags.namespace, health.clone());
    let publisher = Arc::new(publisher(&flags, client.clone(), &registrations, &health));
    let ctx = Arc::new(context(
        &flags,
        client.clone(),
        &identity,
        registrations,
        &health,
    ));

    let served = tokio::spawn(serve::serve(flags.probe_listen, health.clone()));
    let election = leader::Election {
        client,
        lease_name: flags.lease_name.clone(),
        namespace: flags.namespace.clone(),
        identity,
        duration: flags.lease_duration,
        health,
    };
    tokio::select! {
        never = election.run(move || {
            let (ctx, publisher) = (ctx.clone(), publisher.clone());
            async move {
                tokio::join!(probing::run(ctx), publish::run(publisher));
            }
        }) => match never {},
        served = served => served?.context("the probe endpoints stopped"),
        _ = shutdown() => {
            tracing::info!("shutting down");
            Ok(())
        }
    }
}

fn context(
    flags: &Flags,
    client: kube::Client,
    identity: &str,
    registrations: registrations::Registrations,
    health: &Arc<serve::Health>,
) -> probing::Context {
    probing::Context {
        registrations,
        health: health.clone(),
        settings: Settings {
            unreachable_after: flags.unreachable_after,
            expiry_warning: signed(flags.expiry_warning),
            accepted_versions: flags.accepted_versions.clone(),
            fresh_for: health::fresh_for(signed(flags.heartbeat), signed(flags.probe_interval)),
            skew_settles_after: signed(flags.skew_settles_after),
        },
        cadence: schedule::Cadence {
            interval: flags.probe_interval,
            unreachable_after: flags.unreachable_after,
            max_backoff: flags.max_backoff,
        },
        limits: Limits {
            connect: flags.connect_timeout,
            whole: flags.probe_timeout,
        },
        rights_interval: flags.rights_interval,
        writer: status::Writer {
            instance: identity.to_owned(),
            client,
            heartbeat: signed(flags.heartbeat),
        },
        concurrency: flags.concurrency as usize,
    }
}

fn publisher(
    flags: &Flags,
    client: kube::Client,
    registrations: &registrations::Registrations,
    health: &Arc<serve::Health>,
) -> publish::Publisher {
    use extcluster_core::exports::Export;
    let namespace = |tool: &Export| match tool {
        Export::Argocd => flags.argocd_namespace.clone(),
        Export::Flux => flags.flux_namespace.clone(),
    };
    publish::Publisher {
        client,
        registrations: registrations.clone(),
        inventory_namespace: flags.inventory_namespace.clone(),
        targets: flags.exports.iter().map(|t| (*t, namespace(t))).collect(),
        health: health.clone(),
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
const DEFAULT_LOG_FILTER: &str = "info,kube_lease_manager=warn,kube_client::client::builder=off";

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

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
