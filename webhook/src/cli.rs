//! Command-line flags; each has an environment-variable twin.

use clap::{Args, Parser, Subcommand, ValueEnum};
use extcluster_core::version::{DEFAULT_ACCEPTED_VERSIONS, VersionRange};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "extcluster-webhook",
    version,
    about = "Validating admission webhook for externalclusters.extcluster.io",
    args_conflicts_with_subcommands = true,
    after_help = "Example:\n  extcluster-webhook --tls-cert-file tls.crt --tls-key-file tls.key\n  extcluster-webhook certs --service extcluster-webhook --namespace extcluster-system --out-dir ./tls"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: Serve,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a CA and a serving certificate, and print the caBundle (installs without cert-manager).
    Certs(Certs),
}

#[derive(Debug, Args)]
pub struct Serve {
    /// Where to serve the webhook over TLS.
    #[arg(long, env = "EXTCLUSTER_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// PEM certificate (chain) to serve; re-read when it changes.
    #[arg(long, env = "EXTCLUSTER_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of the certificate.
    #[arg(long, env = "EXTCLUSTER_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// How often to look for a rotated certificate.
    #[arg(long, env = "EXTCLUSTER_TLS_RELOAD_INTERVAL", default_value = "1s", value_parser = duration)]
    pub tls_reload_interval: std::time::Duration,
    /// Plain-HTTP probes and metrics: /healthz, /readyz, /metrics.
    #[arg(long, env = "EXTCLUSTER_PROBE_LISTEN", default_value = "0.0.0.0:8080")]
    pub probe_listen: SocketAddr,
    /// Kubernetes versions a registered cluster may run, as a semver range.
    #[arg(long, env = "EXTCLUSTER_ACCEPTED_VERSIONS", default_value = DEFAULT_ACCEPTED_VERSIONS)]
    pub accepted_versions: VersionRange,
    /// Kubeconfig for the hub; otherwise in-cluster config or $KUBECONFIG.
    #[arg(long, env = "EXTCLUSTER_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    #[arg(
        long,
        env = "EXTCLUSTER_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// How long the watch may be lost before the webhook stops trusting its registry (unready,
    /// and registrations are refused until it is back).
    #[arg(long, env = "EXTCLUSTER_WATCH_GRACE", default_value = "15s", value_parser = duration)]
    pub watch_grace: std::time::Duration,
    /// On SIGTERM, how long requests in flight may take to finish.
    #[arg(long, env = "EXTCLUSTER_SHUTDOWN_GRACE", default_value = "10s", value_parser = duration)]
    pub shutdown_grace: std::time::Duration,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct Certs {
    /// The webhook's Service name.
    #[arg(long, default_value = "extcluster-webhook")]
    pub service: String,
    #[arg(long, default_value = extcluster_core::api::SYSTEM_NAMESPACE)]
    pub namespace: String,
    /// Where to write ca.crt, tls.crt and tls.key.
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Extra IP addresses for the certificate (for a webhook reached by URL, e.g. 127.0.0.1).
    #[arg(long = "ip")]
    pub ips: Vec<IpAddr>,
    /// Extra DNS names for the certificate.
    #[arg(long = "dns")]
    pub dns: Vec<String>,
    /// Validity of the serving certificate, in days.
    #[arg(long, default_value_t = 365)]
    pub days: i64,
}

/// A Go duration, as Kubernetes writes them (`500ms`, `15s`, `1m30s`); a bare number is
/// seconds, as these flags have always taken it.
fn duration(s: &str) -> Result<std::time::Duration, String> {
    if let Ok(secs) = s.trim().parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    extcluster_core::duration::parse(s)
        .map_err(|why| format!("{s:?} is not a duration like 500ms, 10s or 1m30s: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn serve(args: &[&str]) -> Result<Serve, clap::Error> {
        Cli::try_parse_from(std::iter::once("extcluster-webhook").chain(args.iter().copied()))
            .map(|cli| cli.serve)
    }

    #[test]
    fn durations_are_go_durations() {
        let s = serve(&["--watch-grace", "1m30s", "--shutdown-grace=250ms"]).unwrap();
        assert_eq!(s.watch_grace, Duration::from_secs(90));
        assert_eq!(s.shutdown_grace, Duration::from_millis(250));
        assert_eq!(s.tls_reload_interval, Duration::from_secs(1), "the default");
        assert_eq!(duration("15").unwrap(), Duration::from_secs(15));
        assert_eq!(duration("1.5h").unwrap(), Duration::from_secs(5400));
        for bad in ["", "-5s", "10x", "s", "ten seconds"] {
            assert!(serve(&["--watch-grace", bad]).is_err(), "{bad:?}");
        }
    }
}
