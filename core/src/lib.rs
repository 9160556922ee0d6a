//! The ExternalCluster API and the admission policy, shared by `kubectl-extcluster` and
//! `extcluster-webhook`. Pure: no I/O, no clock, no API calls.

pub mod api;
pub mod capability;
pub mod duration;
pub mod exports;
pub mod facts;
pub mod federated;
pub mod health;
pub mod inventory;
pub mod label;
pub mod node_config;
pub mod policy;
pub mod provider;
pub mod quantity;
pub mod text;
pub mod upgrade;

pub mod version;

pub use api::{
    CredentialsStatus, ExportKind, ExportStatus, ExternalCluster, ExternalClusterSpec,
    ExternalClusterStatus, Federated, KubeletVersion, Mode, NodeSummary, Origin, Phase, Provider,
    SecretKeyRef,
};
pub use capability::{Capability, CapabilityError};
pub use policy::{
    Decision, Denial, Operation, Policy, Registration, Registry, RegistryUnavailable,
};
pub use version::{KubeVersion, VersionError, VersionRange};
