//! The validating admission webhook for `externalclusters.extcluster.io`: a thin server around
//! the policy in `extcluster-core`. It holds no rule of its own.
//!
//! Serving: [`serve`] wires the rest; [`tls_server`] is the TLS port, [`serving_cert`] its
//! certificate (both also serve the benchmark's controls), [`routes`] the HTTP routes.
//! Deciding: [`admission`] answers a review (decoded by `review`) with the policy. Registry:
//! [`registry`] is what the rules read, kept by `watch`; `duplicates` removes registrations that
//! slipped past admission together.

pub mod admission;
pub mod certs;
pub mod cli;
mod duplicates;
mod metrics;
pub mod registry;
mod review;
pub mod routes;
mod serve;
pub mod serving_cert;
pub mod tls_server;
mod watch;

pub use serve::serve;
