//! The one way a client for an external cluster is made, with the one set of timeouts every
//! request to one is bounded by.

use crate::failure::{Failure, chain};
use crate::transport;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::time::Duration;

/// How long a TCP (and TLS) connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a response may stay silent. Longer than the waits for a cluster's controllers (a
/// token Secret filled, an object gone), which watch and hear nothing until it happens.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Bounds every request made with `config` by [`CONNECT_TIMEOUT`] and [`READ_TIMEOUT`].
pub fn bound(config: &mut kube::Config) {
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
}

/// A client for an external cluster: bounded, and failing at once rather than retrying a busy
/// server for minutes, so one cluster that does not answer cannot hold up a command.
pub fn build(config: kube::Config) -> Result<Client, transport::Error> {
    build_connecting_within(config, CONNECT_TIMEOUT)
}

/// As [`build`], with a connection bound of the caller's (the controller's flag).
pub fn build_connecting_within(
    mut config: kube::Config,
    connect: Duration,
) -> Result<Client, transport::Error> {
    bound(&mut config);
    config.connect_timeout = Some(connect);
    config.default_retry = false;
    transport::client(config)
}

/// A client for the current context of a self-contained kubeconfig, such as the one the hub
/// stores for a registration.
pub async fn for_kubeconfig(kubeconfig: &Kubeconfig) -> Result<Client, Failure> {
    for_kubeconfig_connecting_within(kubeconfig, CONNECT_TIMEOUT).await
}

/// As [`for_kubeconfig`], with a connection bound of the caller's.
pub async fn for_kubeconfig_connecting_within(
    kubeconfig: &Kubeconfig,
    connect: Duration,
) -> Result<Client, Failure> {
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &KubeConfigOptions::default())
            .await
            .map_err(|e| Failure::Other(chain(&e)))?;
    build_connecting_within(config, connect).map_err(|e| e.failure())
}
