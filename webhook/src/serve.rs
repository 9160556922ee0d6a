//! The `serve` command: loads the serving certificate, reaches the hub, starts the watch, the
//! duplicate remover, the probe port and the TLS port, and stops them gracefully on SIGTERM.

use crate::admission::Webhook;
use crate::cli::Serve;
use crate::serving_cert::CertStore;
use crate::{duplicates, routes, tls_server, watch};
use anyhow::{Context, Result, bail};
use extcluster_core::policy::Policy;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch as signal_watch;

pub async fn serve(args: Serve) -> Result<()> {
    let (Some(cert), Some(key)) = (&args.tls_cert_file, &args.tls_key_file) else {
        bail!(
            "--tls-cert-file and --tls-key-file are required: the API server only calls webhooks over \
             TLS; make a pair with `extcluster-webhook certs --out-dir DIR` or let cert-manager issue one"
        );
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let _ = provider.clone().as_ref().clone().install_default();
    let certs = CertStore::load(cert, key, provider).context("loading the serving certificate")?;

    let client = extcluster_remote::hub::client(args.kubeconfig.as_deref()).await?;
    let webhook = Arc::new(Webhook::new(
        Policy::new(args.accepted_versions.clone()),
        args.watch_grace,
    ));

    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let probe_listener = TcpListener::bind(args.probe_listen)
        .await
        .with_context(|| format!("listening on {}", args.probe_listen))?;
    tracing::info!(
        listen = %args.listen,
        probes = %args.probe_listen,
        accepted_versions = %args.accepted_versions,
        "serving"
    );

    let (stop_tx, stop_rx) = signal_watch::channel(false);
    let stopped = |mut rx: signal_watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    tokio::spawn(certs.clone().keep_fresh(args.tls_reload_interval));
    let (duplicates, found) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(watch::run(client.clone(), webhook.clone(), duplicates));
    tokio::spawn(duplicates::run(client, webhook.clone(), found));
    let probes = tokio::spawn(
        axum::serve(probe_listener, routes::probes(webhook.clone()))
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .into_future(),
    );
    let serving = tokio::spawn(tls_server::serve_tls(
        listener,
        certs.server_config(),
        routes::webhook(webhook),
        stopped(stop_rx),
        args.shutdown_grace,
    ));

    extcluster_serving::shutdown_signal().await;
    tracing::info!("shutting down: no new connections, finishing requests in flight");
    let _ = stop_tx.send(true);
    let _ = serving.await;
    let _ = probes.await;
    Ok(())
}
