//! Reaching external Kubernetes clusters: their kubeconfigs ([`kubeconfig`]), a context's own
//! login ([`login`]), the one client builder ([`client`]), what a cluster shows ([`probe`],
//! [`detect`]), conversion to a ServiceAccount token ([`convert`]), the kubeconfig the hub stores
//! for a registration ([`stored`]), a registration's status as each writer applies it
//! ([`status`]), and the one sentence for a failed request ([`explain`]).
//!
//! Used by the kubectl plugin, and by anything else that probes registered clusters through their
//! stored kubeconfigs. Depends on `extcluster-core` only; no message here quotes a credential.

pub mod client;
pub mod convert;
pub mod credentials;
pub mod detect;
pub mod exec;
pub mod explain;
pub mod failure;
pub mod http_log;
pub mod hub;
pub mod jwt;
pub mod kubeconfig;
pub mod login;
pub mod observe;
pub mod probe;
pub mod status;
pub mod stored;
pub mod transport;
pub mod words;
pub mod yaml;

/// Why reaching or changing an external cluster failed, as the one sentence a user reads.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig given is missing, unreadable or not usable.
    #[error(transparent)]
    Kubeconfig(#[from] kubeconfig::Error),
    /// A request to the cluster failed or was answered in a way that cannot be worked with.
    #[error("{0}")]
    Cluster(String),
    /// What was asked cannot be done as asked (a name, an object someone else made, missing
    /// rights); the sentence says what to do instead.
    #[error("{0}")]
    Refused(String),
}
