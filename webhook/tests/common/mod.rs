//! What the webhook's integration tests share: the JSON fixtures and the cluster they describe.

/// The cluster ID of `prod-eu`, the ExternalCluster in the fixtures.
pub const CLUSTER_ID: &str = "4c1b2f3e-9d1a-4f7e-8a61-2b7f0c9e5d11";

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}
