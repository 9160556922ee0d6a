//! The controller's flags, each with its `EXTCLUSTER_…` environment twin.

use clap::Parser;
use extcluster_core::VersionRange;
use extcluster_core::version::DEFAULT_ACCEPTED_VERSIONS;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "extcluster-controller",
    version,
    about = "Keeps every ExternalCluster's status true: probes each registered cluster through its \
             stored kubeconfig on an interval and records health, identity, version drift and \
             expiring credentials"
)]
pub struct Flags {
    /// The hub's kubeconfig; in a Pod, the in-cluster ServiceAccount when unset.
    #[arg(long, env = "EXTCLUSTER_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// How often each registration is probed (a Go duration); each registration's turn is
    /// spread over the interval.
    #[arg(long, env = "EXTCLUSTER_PROBE_INTERVAL", default_value = "60s", value_parser = go_duration)]
    pub probe_interval: Duration,

    /// Consecutive failed probes before a registration turns Unreachable.
    #[arg(long, env = "EXTCLUSTER_UNREACHABLE_AFTER", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub unreachable_after: u32,

    /// Credentials that expire within this long raise CredentialsExpiring (a Go duration).
    #[arg(long, env = "EXTCLUSTER_EXPIRY_WARNING", default_value = "168h", value_parser = go_duration)]
    pub expiry_warning: Duration,

    /// The Kubernetes versions the hub accepts, as the webhook's flag of the same name.
    #[arg(long, env = "EXTCLUSTER_ACCEPTED_VERSIONS", default_value = DEFAULT_ACCEPTED_VERSIONS,
          value_parser = accepted_versions)]
    pub accepted_versions: VersionRange,

    /// Nodes on several kubelet versions that none moved between for this long are a stable
    /// skew, `Running`, not an upgrade in progress (`Reconciling`) (a Go duration).
    #[arg(long, env = "EXTCLUSTER_SKEW_SETTLES_AFTER", default_value = "30m", value_parser = go_duration)]
    pub skew_settles_after: Duration,

    /// Where /healthz, /readyz and /metrics are served.
    #[arg(long, env = "EXTCLUSTER_PROBE_LISTEN", default_value = "0.0.0.0:8080")]
    pub probe_listen: SocketAddr,

    /// Probes in flight at once.
    #[arg(long, env = "EXTCLUSTER_CONCURRENCY", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,

    /// How long a connection to an external cluster may take to open (a Go duration).
    #[arg(long, env = "EXTCLUSTER_CONNECT_TIMEOUT", default_value = "5s", value_parser = go_duration)]
    pub connect_timeout: Duration,

    /// How long one whole probe may take (a Go duration).
    #[arg(long, env = "EXTCLUSTER_PROBE_TIMEOUT", default_value = "15s", value_parser = go_duration)]
    pub probe_timeout: Duration,

    /// How often the credentials' rights are checked with SelfSubjectAccessReviews.
    #[arg(long, env = "EXTCLUSTER_RIGHTS_INTERVAL", default_value = "10m", value_parser = go_duration)]
    pub rights_interval: Duration,

    /// A status that did not change is still written this often (a Go duration). Every write
    /// sets `status.staleAfter` to the heartbeat plus three intervals ahead, so a stopped
    /// controller shows; a longer heartbeat is fewer hub writes.
    #[arg(long, env = "EXTCLUSTER_HEARTBEAT", default_value = "2h", value_parser = go_duration)]
    pub heartbeat: Duration,

    /// The longest wait between probes of a cluster that keeps failing.
    #[arg(long, env = "EXTCLUSTER_MAX_BACKOFF", default_value = "5m", value_parser = go_duration)]
    pub max_backoff: Duration,

    /// The Lease that elects the one active replica, in the controller's namespace.
    #[arg(
        long,
        env = "EXTCLUSTER_LEASE_NAME",
        default_value = "extcluster-controller"
    )]
    pub lease_name: String,

    /// The namespace of the Lease.
    #[arg(long, env = "EXTCLUSTER_NAMESPACE", default_value = extcluster_core::api::SYSTEM_NAMESPACE)]
    pub namespace: String,

    /// How long a Lease holds without renewal (a Go duration).
    #[arg(long, env = "EXTCLUSTER_LEASE_DURATION", default_value = "15s", value_parser = go_duration)]
    pub lease_duration: Duration,

    /// This replica's name in the Lease; the Pod's name in a Deployment.
    #[arg(long, env = "EXTCLUSTER_IDENTITY")]
    pub identity: Option<String>,

    /// Where ClusterProfiles are published (when the hub serves the API).
    #[arg(long, env = "EXTCLUSTER_INVENTORY_NAMESPACE", default_value = extcluster_core::api::INVENTORY_NAMESPACE)]
    pub inventory_namespace: String,

    /// Also write each ClusterProfile's deprecated status.credentialProviders (a copy of
    /// status.accessProviders), for consumers built on cluster-inventory-api before v0.1.0.
    #[arg(long, env = "EXTCLUSTER_CREDENTIAL_PROVIDERS")]
    pub credential_providers: bool,

    /// A tool this hub exports registrations to, when their extcluster.io/exports annotation
    /// asks: argocd, flux (repeat the flag, or separate with commas).
    #[arg(long = "export", env = "EXTCLUSTER_EXPORTS", value_delimiter = ',', value_parser = extcluster_core::exports::parse_tool)]
    pub exports: Vec<extcluster_core::exports::Export>,

    /// Where Argo CD reads its cluster Secrets.
    #[arg(long, env = "EXTCLUSTER_ARGOCD_NAMESPACE", default_value = "argocd")]
    pub argocd_namespace: String,

    /// Where the Flux kubeconfig Secrets go.
    #[arg(long, env = "EXTCLUSTER_FLUX_NAMESPACE", default_value = "flux-system")]
    pub flux_namespace: String,

    /// Log format.
    #[arg(long, env = "EXTCLUSTER_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

/// A positive Go duration (`90s`, `1m30s`, `168h`), as Kubernetes writes them.
pub fn go_duration(raw: &str) -> Result<Duration, String> {
    match extcluster_core::duration::parse(raw) {
        Ok(d) if d.is_zero() => Err(format!("{raw:?} is zero; give a positive duration")),
        Ok(d) => Ok(d),
        Err(why) => Err(format!(
            "{raw:?} is not a duration: {why}; write it as Kubernetes does, e.g. 90s, 1m30s, 168h"
        )),
    }
}

fn accepted_versions(raw: &str) -> Result<VersionRange, String> {
    VersionRange::parse(raw).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_as_kubernetes_writes_them() {
        assert_eq!(go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(go_duration("168h"), Ok(Duration::from_secs(168 * 3600)));
        assert!(go_duration("0s").unwrap_err().contains("zero"));
        assert!(go_duration("soon").unwrap_err().contains("e.g. 90s"));
    }

    #[test]
    fn defaults_match_the_documented_interface() {
        let f = Flags::try_parse_from(["extcluster-controller"]).unwrap();
        assert_eq!(f.probe_interval, Duration::from_secs(60));
        assert_eq!(f.unreachable_after, 3);
        assert_eq!(f.expiry_warning, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(f.accepted_versions.as_str(), ">=1.19.0, <1.35.0");
        assert!(Flags::try_parse_from(["x", "--unreachable-after", "0"]).is_err());
    }
}
