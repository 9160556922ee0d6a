//! `extcluster-controller` as a local process against a hub, running as its ServiceAccount with
//! exactly the RBAC of `manifests/controller.yaml`: a test sees what the least privilege allows.

use crate::launch::Launch;
use crate::process::Supervised;
use crate::wait::Wait;
use crate::{ControlPlane, repo_root};
use anyhow::{Result, anyhow, bail};
use extcluster_core::api::SYSTEM_NAMESPACE;
use std::path::PathBuf;
use std::time::Duration;

/// The user the hub sees: the controller's ServiceAccount, by the name RBAC binds.
pub const SERVICE_ACCOUNT: &str = "extcluster-controller";

/// Fast rounds so a test sees several; the defaults are a minute and three failures.
pub const FAST: &[&str] = &[
    "--probe-interval=2s",
    "--unreachable-after=2",
    "--max-backoff=4s",
    "--connect-timeout=1s",
    "--probe-timeout=5s",
    "--heartbeat=1h",
    "--lease-duration=4s",
];

/// How a replica runs, beyond its flags.
#[derive(Clone, Default)]
pub struct Setup {
    /// Where the binary runs from (`target/debug`, or an image).
    pub launch: Launch,
    /// Reach the hub through `127.0.0.1:PORT` (a proxy of the test's own) instead of directly.
    pub through: Option<u16>,
    /// Run the test-only build `extcluster-controller-faults`, whose probe panics on a
    /// registration annotated `extcluster.io/test-panic`.
    pub faulty: bool,
}

pub struct ControllerProcess {
    pub identity: String,
    /// The workspace binary it runs.
    binary: &'static str,
    dir: tempfile::TempDir,
    args: Vec<String>,
    process: Option<Supervised>,
    /// Where /healthz, /readyz and /metrics are, once it has said so.
    probe_port: Option<u16>,
    launch: Launch,
}

/// Applies the namespaces and the controller's manifests to `hub` (its RBAC; the Deployment stays
/// unscheduled) and
/// writes a kubeconfig for its ServiceAccount.
pub fn grant(hub: &ControlPlane, kubeconfig: &std::path::Path) -> Result<()> {
    // The namespaces first, as kustomize orders them: the RBAC reaches into each.
    for manifest in ["manifests/namespace.yaml", "manifests/controller.yaml"] {
        let path = repo_root().join(manifest);
        let out = hub.kubectl(&["apply", "-f", crate::path_str(&path)]);
        if !out.ok() {
            bail!("applying {manifest} failed: {}", out.stderr);
        }
    }
    let user = format!("system:serviceaccount:{SYSTEM_NAMESPACE}:{SERVICE_ACCOUNT}");
    let groups = [
        "system:serviceaccounts",
        &format!("system:serviceaccounts:{SYSTEM_NAMESPACE}"),
        "system:authenticated",
    ];
    hub.write_client_kubeconfig(kubeconfig, &user, &groups, time::Duration::days(1))
}

impl ControllerProcess {
    /// Starts a replica named `identity` against `hub` with `extra` flags, and waits until it is
    /// ready (both watches have listed).
    pub async fn start(hub: &ControlPlane, identity: &str, extra: &[&str]) -> Result<Self> {
        Self::start_as(hub, identity, extra, Setup::default()).await
    }

    /// [`ControllerProcess::start`], run as `setup` says.
    pub async fn start_as(
        hub: &ControlPlane,
        identity: &str,
        extra: &[&str],
        setup: Setup,
    ) -> Result<Self> {
        let Setup {
            launch,
            through,
            faulty,
        } = setup;
        let dir = launch.tempdir("extc-controller-")?;
        let kubeconfig = dir.path().join("kubeconfig");
        grant(hub, &kubeconfig)?;
        if let Some(port) = through {
            let text = std::fs::read_to_string(&kubeconfig)?;
            let proxied = format!("https://127.0.0.1:{port}");
            std::fs::write(&kubeconfig, text.replace(&hub.server(), &proxied))?;
        }
        launch.hand_over(&kubeconfig)?;
        let mut args = vec![
            format!("--kubeconfig={}", launch.path_arg(&kubeconfig)?),
            "--probe-listen=127.0.0.1:0".to_owned(),
            format!("--identity={identity}"),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let mut c = Self {
            identity: identity.to_owned(),
            binary: if faulty {
                "extcluster-controller-faults"
            } else {
                "extcluster-controller"
            },
            dir,
            args,
            process: None,
            probe_port: None,
            launch,
        };
        c.restart().await?;
        Ok(c)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("controller.log")
    }

    /// Everything the process has logged, across restarts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// (Re)starts the process with the same flags and waits for /readyz.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop();
        // The log is kept across restarts; only what this run says about its port counts.
        let skip = self.log().len();
        self.process = Some(
            self.launch
                .spawn(self.binary, &self.args, &[], &self.log_path())?,
        );
        // Hang guards, generous for a loaded machine.
        let port = Wait::up_to(
            Duration::from_secs(60),
            "the controller to say where it serves",
        )
        .until(async || {
            if let Some(port) = bound_port(&self.log()[skip..]) {
                return Some(Ok(port));
            }
            let alive = self.process.as_mut().is_some_and(Supervised::alive);
            (!alive).then(|| Err(anyhow!("extcluster-controller exited:\n{}", self.log())))
        })
        .await
        .map_err(|timeout| anyhow!("{timeout}:\n{}", self.log()))??;
        self.probe_port = Some(port);
        let ready = Wait::up_to(Duration::from_secs(60), "the controller to be ready")
            .until(async || {
                self.probe("/readyz")
                    .await
                    .is_ok_and(|(code, _)| code == 200)
                    .then_some(())
            })
            .await;
        ready.map_err(|timeout| anyhow!("{timeout}:\n{}", self.log()))
    }

    /// TERM, as a rolling update would.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }

    /// KILL, as a node failure would: the Lease is not given up, it runs out.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }

    /// GET on the probe port: (status code, body).
    pub async fn probe(&self, path: &str) -> Result<(u16, String)> {
        let port = self
            .probe_port
            .ok_or_else(|| anyhow!("the controller has not said where it serves"))?;
        crate::http_get(port, path).await
    }

    /// The sum of a metric's samples whose line starts with `prefix` (a name, or a name and the
    /// start of its labels); `None` when there is none.
    pub async fn metric(&self, prefix: &str) -> Option<f64> {
        let (_, body) = self.probe("/metrics").await.ok()?;
        let values: Vec<f64> = body
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }

    /// SIGSTOP / SIGCONT, as a host freezing and thawing the process.
    pub fn pause(&self) {
        if let Some(p) = &self.process {
            p.pause();
        }
    }

    pub fn resume(&self) {
        if let Some(p) = &self.process {
            p.resume();
        }
    }

    /// Whether this replica says it leads.
    pub async fn leads(&self) -> bool {
        self.metric("extcluster_controller_leader ").await == Some(1.0)
    }
}

/// The port from the controller's "serving /healthz, /readyz and /metrics addr=127.0.0.1:PORT".
fn bound_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains("serving /healthz"))?;
    let addr = line.split("addr=").nth(1)?.split_whitespace().next()?;
    addr.rsplit(':').next()?.parse().ok()
}
