//! A real forward proxy on loopback (`proxy.py`, Python's standard library): HTTP CONNECT (plain
//! or over TLS) or SOCKS5, with or without a user and password, logging each tunnel it carries.

use crate::process::Supervised;
use crate::wait::Wait;
use anyhow::{Result, anyhow};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SCRIPT: &str = include_str!("proxy.py");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol<'a> {
    Connect,
    /// CONNECT over TLS, serving this certificate and key (PEM files).
    ConnectTls {
        cert: &'a Path,
        key: &'a Path,
    },
    Socks5,
}

pub struct ForwardProxy {
    pub port: u16,
    dir: tempfile::TempDir,
    _process: Supervised,
}

impl ForwardProxy {
    /// Starts a proxy that asks for `credentials` (`USER:PASSWORD`) when given.
    pub async fn start(protocol: Protocol<'_>, credentials: Option<&str>) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("extc-proxy-").tempdir()?;
        let mode = match protocol {
            Protocol::Connect => "connect",
            Protocol::ConnectTls { .. } => "https",
            Protocol::Socks5 => "socks5",
        };
        let mut args = vec!["-c".to_owned(), SCRIPT.to_owned(), mode.to_owned()];
        args.push(credentials.unwrap_or_default().to_owned());
        if let Protocol::ConnectTls { cert, key } = protocol {
            args.extend([cert, key].map(|p| p.display().to_string()));
        }
        let log = dir.path().join("proxy.log");
        let process = Supervised::spawn("proxy.py", Path::new("python3"), &args, &log)?;
        let port = Wait::up_to(Duration::from_secs(30), "the proxy to listen")
            .until(async || {
                let text = std::fs::read_to_string(&log).ok()?;
                text.lines()
                    .find_map(|l| l.strip_prefix("listening "))
                    .and_then(|p| p.trim().parse().ok())
            })
            .await
            .map_err(|timeout| anyhow!("{timeout}"))?;
        Ok(Self {
            port,
            dir,
            _process: process,
        })
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("proxy.log")
    }

    /// The destinations (`HOST:PORT`) of the tunnels it has carried, in order.
    pub fn tunnels(&self) -> Vec<String> {
        self.logged("tunnel ")
    }

    /// What it turned away, one reason per attempt.
    pub fn refusals(&self) -> Vec<String> {
        self.logged("refused ")
    }

    fn logged(&self, prefix: &str) -> Vec<String> {
        std::fs::read_to_string(self.log_path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .map(str::to_owned)
            .collect()
    }
}
