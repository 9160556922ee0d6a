//! Real Kubernetes control planes for tests: etcd, kube-apiserver and (on request)
//! kube-controller-manager, built from Debian's `kubernetes` source package by
//! `hack/kube-bins.sh`, run on loopback, stopped when the test ends, fails or panics.

pub mod bins;
pub mod control_plane;
pub mod hub;
pub mod kubectl;
pub mod process;

pub use control_plane::{ControlPlane, Options};
pub use kubectl::Output;

/// The repository's root, for manifests and scripts.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}
