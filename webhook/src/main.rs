use anyhow::{Context, Result, bail};
use base64::Engine;
use clap::Parser;
use extcluster_core::policy::Policy;
use extcluster_webhook::certs::{Ca, Leaf};
use extcluster_webhook::cli::{Certs, Cli, Command, LogFormat, Serve};
use extcluster_webhook::state::Webhook;
use extcluster_webhook::tls::CertStore;
use extcluster_webhook::{resolver, routes, server, watch};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch as signal_watch;

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Certs(c)) => certs(&c),
        None => {
            init_logging(cli.serve.log_format);
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(serve(cli.serve))
        }
    }
}

fn init_logging(format: LogFormat) {
    // rustls warns on every handshake from a client that sends an IP address as SNI (clients
    // dialing https://127.0.0.1, say): per-connection noise, and work on the request path.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rustls=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

async fn serve(args: Serve) -> Result<()> {
    let (Some(cert), Some(key)) = (&args.tls_cert_file, &args.tls_key_file) else {
        bail!(
            "--tls-cert-file and --tls-key-file are required: the API server only calls webhooks over \
             TLS; make a pair with `extcluster-webhook certs --out-dir DIR` or let cert-manager issue one"
        );
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let _ = provider.clone().as_ref().clone().install_default();
    let certs = CertStore::load(cert, key, provider).context("loading the serving certificate")?;

    let client = hub_client(&args).await?;
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
    tokio::spawn(resolver::run(client, webhook.clone(), found));
    let probes = tokio::spawn(
        axum::serve(probe_listener, routes::probes(webhook.clone()))
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .into_future(),
    );
    let serving = tokio::spawn(server::serve_tls(
        listener,
        certs.server_config(),
        routes::webhook(webhook),
        stopped(stop_rx),
        args.shutdown_grace,
    ));

    shutdown_signal().await;
    tracing::info!("shutting down: no new connections, finishing requests in flight");
    let _ = stop_tx.send(true);
    let _ = serving.await;
    let _ = probes.await;
    Ok(())
}

async fn hub_client(args: &Serve) -> Result<kube::Client> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await?
        }
        None => kube::Config::infer().await.context(
            "no hub to watch: not running in a cluster, and no --kubeconfig or $KUBECONFIG",
        )?,
    };
    let mut config = config;
    config.read_timeout = Some(watch::READ_TIMEOUT);
    Ok(kube::Client::try_from(config)?)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn certs(args: &Certs) -> Result<()> {
    let service_dns = [
        args.service.clone(),
        format!("{}.{}", args.service, args.namespace),
        format!("{}.{}.svc", args.service, args.namespace),
        format!("{}.{}.svc.cluster.local", args.service, args.namespace),
    ];
    let ca = Ca::generate(&format!("{} CA", args.service))?;
    let serving = ca.issue(&Leaf {
        common_name: format!("{}.{}.svc", args.service, args.namespace),
        dns_names: service_dns
            .into_iter()
            .chain(args.dns.iter().cloned())
            .collect(),
        ips: args.ips.clone(),
        server: true,
        valid_days: args.days,
        ..Leaf::default()
    })?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    write_file(&args.out_dir.join("ca.crt"), &ca.pem().cert, 0o644)?;
    write_file(&args.out_dir.join("tls.crt"), &serving.cert, 0o644)?;
    write_file(&args.out_dir.join("tls.key"), &serving.key, 0o600)?;
    println!(
        "{}",
        base64::engine::general_purpose::STANDARD.encode(&ca.pem().cert)
    );
    Ok(())
}

fn write_file(path: &std::path::Path, text: &str, mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
