//! The controls the webhook is measured against in the same run (`tls-control`): each on CPU 0
//! with the webhook's certificate, started when its measurement begins and stopped after.

use anyhow::{Context, Result};
use extcluster_tests::process::Supervised;
use extcluster_tests::{Wait, free_port};
use std::path::Path;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub enum Control {
    /// The webhook's TLS listener with a handler that answers an empty 200.
    Empty,
    /// The same listener doing kube-rs's admission example's work per review.
    KubeCore,
    /// A bare tokio-rustls accept loop.
    Bare,
}

impl Control {
    fn mode(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::KubeCore => "kube-core",
            Self::Bare => "bare",
        }
    }
}

pub struct PinnedControl {
    port: u16,
    _process: Supervised,
}

impl PinnedControl {
    /// Starts `control` on CPU 0 with the certificate in `certs`, and waits until it accepts.
    pub async fn start(bin: &Path, control: Control, certs: &Path, dir: &Path) -> Result<Self> {
        let port = free_port()?;
        let args = [
            control.mode().to_owned(),
            format!("127.0.0.1:{port}"),
            certs.join("tls.crt").display().to_string(),
            certs.join("tls.key").display().to_string(),
        ];
        let log = dir.join(format!("control-{}.log", control.mode()));
        let process = crate::spawn_on_measured_core(bin, &args, &log)?;
        Wait::up_to(
            Duration::from_secs(10),
            format!("tls-control {}", control.mode()),
        )
        .until(async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(drop)
        })
        .await
        .with_context(|| std::fs::read_to_string(&log).unwrap_or_default())?;
        Ok(Self {
            port,
            _process: process,
        })
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/validate", self.port)
    }
}
