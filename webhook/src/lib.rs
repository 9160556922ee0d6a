//! The validating admission webhook for `externalclusters.extcluster.io`: a thin server around
//! the policy in `extcluster-core`.

pub mod certs;
