//! `extcluster-webhook`: serves the webhook, or makes its certificates.

use anyhow::{Context, Result};
use base64::Engine;
use clap::Parser;
use extcluster_webhook::certs::{Ca, Leaf};
use extcluster_webhook::cli::{Certs, Cli, Command, LogFormat};

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Certs(c)) => certs(&c),
        None => {
            init_logging(cli.serve.log_format);
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(extcluster_webhook::serve(cli.serve))
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
        valid_days: args.days,
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

/// Written whole or not at all, with its mode from the start. remote has the plugin's writer of
/// the same kind, but the webhook depends on core alone, and core does no I/O: these lines are
/// cheaper than a dependency on a crate for reaching clusters.
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
