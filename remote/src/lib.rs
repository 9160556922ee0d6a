//! Reaching Kubernetes clusters, what the plugin, the controller and the webhook share: kubeconfigs
//! ([`kubeconfig`]), the one client builder ([`client`]) and the hub's client and watch ([`hub`]),
//! what a cluster shows ([`probe`]), the kubeconfig the hub stores for a registration
//! ([`stored`]) and one probe through it ([`observe`]), a registration's status as each writer
//! applies it ([`status`]), and the one sentence for a failed request ([`failure`], [`explain`]).
//!
//! What only the plugin does with a user's own kubeconfig (logging in with it, detecting
//! capabilities, converting it to a ServiceAccount token) lives in the plugin. Depends on
//! `extcluster-core` only; no message here quotes a credential.

pub mod client;
pub mod credentials;
pub mod exec;
pub mod explain;
pub mod failure;
pub mod federated;
pub mod http_log;
pub mod hub;
pub mod jwt;
pub mod kubeconfig;
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
