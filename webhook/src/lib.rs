//! The validating admission webhook for `externalclusters.extcluster.io`: a thin server around
//! the policy in `extcluster-core`. It holds no rule of its own.

pub mod certs;
pub mod cli;
pub mod index;
pub mod metrics;
pub mod resolver;
pub mod review;
pub mod routes;
pub mod server;
pub mod state;
pub mod tls;
pub mod watch;
