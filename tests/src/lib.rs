//! Real Kubernetes control planes for tests: etcd, kube-apiserver and (on request)
//! kube-controller-manager, built from Debian's `kubernetes` source package by
//! `hack/kube-bins.sh`, run on loopback, stopped when the test ends, fails or panics.

pub mod assert;
pub mod bins;
pub mod control_plane;
pub mod controller;
pub mod forward_proxy;
pub mod hub;
pub mod image;
pub mod kubectl;
pub mod launch;
pub mod pki;
pub mod plugin;
pub mod process;
pub mod procfs;
pub mod step;
pub mod tcp_proxy;
pub mod tls_client;
pub mod wait;
pub mod watch_events;
pub mod webhook;

pub use assert::assert_contains;
pub use control_plane::{ControlPlane, Options};
pub use kubectl::Output;
pub use step::Steps;
pub use wait::Wait;

/// The repository's root, for manifests and scripts.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// An ExternalCluster manifest for raw `kubectl` tests.
pub fn cluster_yaml(
    name: &str,
    cluster_id: &str,
    version: &str,
    annotations: &[(&str, &str)],
) -> String {
    let annotations: String = annotations
        .iter()
        .map(|(k, v)| {
            format!(
                "    {k}: {}\n",
                serde_json::to_string(v).expect("a string serializes")
            )
        })
        .collect();
    format!(
        "apiVersion: extcluster.io/v1alpha1\nkind: ExternalCluster\nmetadata:\n  name: {name}\n  annotations:\n{annotations}    created-by: test\nspec:\n  mode: Import\n  clusterID: {cluster_id}\n  server: https://{name}.example.com:6443\n  kubernetesVersion: {version:?}\n"
    )
}

/// A port free on loopback right now, for an address where nothing listens and for servers that
/// cannot tell which port they bound (another process may still take it before it is bound:
/// callers that bind later retry on "address already in use"). Servers of our own bind port 0.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub fn path_str(p: &std::path::Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// GET on a plain-HTTP port on loopback (the webhook's probe port): (status code, body). A
/// server that does not answer within 10 s (a stopped process: the kernel still accepts the
/// connection) is an error, not a hang.
pub async fn http_get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        http_get_unbounded(port, path),
    )
    .await
    .map_err(|_| anyhow::anyhow!("no answer on 127.0.0.1:{port}{path} within 10 s"))?
}

async fn http_get_unbounded(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await?;
    let mut text = String::new();
    s.read_to_string(&mut text).await?;
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no HTTP status in {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((code, body))
}

/// The row of a kubectl-style table whose first column is `name`, split at whitespace.
#[track_caller]
pub fn table_row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in:\n{table}"))
        .split_whitespace()
        .collect()
}
