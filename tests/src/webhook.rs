//! `extcluster-webhook` as a local process, registered with a hub by URL, as in the sandbox.

use crate::launch::Launch;
use crate::process::Supervised;
use crate::wait::Wait;
use crate::{ControlPlane, free_port};
use anyhow::{Result, anyhow, bail};
use base64::Engine;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct WebhookProcess {
    pub port: u16,
    pub probe_port: u16,
    pub dir: tempfile::TempDir,
    /// The CA PEM(s) the hub trusts for this webhook.
    pub ca: String,
    process: Option<Supervised>,
    args: Vec<String>,
    /// Extra environment for the process (`RUST_LOG`, say).
    env: Vec<(String, String)>,
    launch: Launch,
    reads_hub: HubKubeconfig,
}

/// How the webhook is told where the hub is.
#[derive(Debug, Clone, Default)]
pub enum HubKubeconfig {
    /// `--kubeconfig` with the hub's admin kubeconfig.
    #[default]
    Admin,
    /// `--kubeconfig` with this file.
    File(PathBuf),
    /// No `--kubeconfig`: what its environment (`KUBECONFIG`) says.
    Environment,
}

impl WebhookProcess {
    /// Starts the webhook against `hub` with a fresh CA and serving certificate for 127.0.0.1,
    /// and waits until it is ready (its registry synced).
    pub async fn start(hub: &ControlPlane, extra: &[&str]) -> Result<Self> {
        Self::start_with_env(hub, extra, &[]).await
    }

    /// [`WebhookProcess::start`] with extra environment variables, kept across restarts.
    pub async fn start_with_env(
        hub: &ControlPlane,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        Self::start_launched(hub, Launch::Built, extra, env).await
    }

    /// [`WebhookProcess::start_with_env`], the binary run as `launch` says (from an image, say).
    pub async fn start_launched(
        hub: &ControlPlane,
        launch: Launch,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        Self::start_full(hub, launch, HubKubeconfig::Admin, extra, env).await
    }

    /// [`WebhookProcess::start_with_env`], told where the hub is as `reads_hub` says.
    pub async fn start_reading_hub(
        hub: &ControlPlane,
        reads_hub: HubKubeconfig,
        env: &[(&str, &str)],
    ) -> Result<Self> {
        Self::start_full(hub, Launch::Built, reads_hub, &[], env).await
    }

    async fn start_full(
        hub: &ControlPlane,
        launch: Launch,
        reads_hub: HubKubeconfig,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let (dir, ca) = certificates(&launch)?;
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut w = Self::unstarted(dir, ca, env, launch);
        w.reads_hub = reads_hub;
        w.start_on_free_ports(hub, extra).await?;
        Ok(w)
    }

    fn unstarted(
        dir: tempfile::TempDir,
        ca: String,
        env: Vec<(String, String)>,
        launch: Launch,
    ) -> Self {
        WebhookProcess {
            port: 0,
            probe_port: 0,
            dir,
            ca,
            process: None,
            args: Vec::new(),
            env,
            launch,
            reads_hub: HubKubeconfig::Admin,
        }
    }

    /// A second replica: same certificate files and hub, its own ports.
    pub async fn replica(&self, hub: &ControlPlane) -> Result<WebhookProcess> {
        let dir = tempfile::Builder::new()
            .prefix("extc-webhook-replica-")
            .tempdir()?;
        for f in ["tls.crt", "tls.key"] {
            std::os::unix::fs::symlink(self.dir.path().join(f), dir.path().join(f))?;
        }
        let mut w = Self::unstarted(dir, self.ca.clone(), Vec::new(), Launch::Built);
        w.start_on_free_ports(hub, &[]).await?;
        Ok(w)
    }

    /// Free ports can be taken by a parallel test before the webhook binds them: try again. Port 0
    /// would avoid that, but the webhook reports the address it was given, not the one it bound,
    /// so the harness could not learn where it listens.
    async fn start_on_free_ports(&mut self, hub: &ControlPlane, extra: &[&str]) -> Result<()> {
        let kubeconfig = self
            .hub_kubeconfig(hub)?
            .map(|k| format!("--kubeconfig={k}"));
        let file = |name: &str| self.launch.path_arg(&self.dir.path().join(name));
        let (cert, key) = (file("tls.crt")?, file("tls.key")?);
        let mut attempt = 0;
        loop {
            (self.port, self.probe_port) = (free_port()?, free_port()?);
            self.args = vec![
                format!("--listen=127.0.0.1:{}", self.port),
                format!("--probe-listen=127.0.0.1:{}", self.probe_port),
                format!("--tls-cert-file={cert}"),
                format!("--tls-key-file={key}"),
            ];
            self.args.extend(kubeconfig.clone());
            self.args.extend(extra.iter().map(|s| (*s).to_owned()));
            match self.restart().await {
                Err(e) if attempt < 4 && e.to_string().contains("Address already in use") => {
                    attempt += 1
                }
                other => return other,
            }
        }
    }

    /// The hub's kubeconfig where the process can read it.
    fn hub_kubeconfig(&self, hub: &ControlPlane) -> Result<Option<String>> {
        let kubeconfig = match &self.reads_hub {
            HubKubeconfig::Admin => hub.kubeconfig(),
            HubKubeconfig::File(path) => path.clone(),
            HubKubeconfig::Environment => return Ok(None),
        };
        if let Launch::Built = self.launch {
            return self.launch.path_arg(&kubeconfig).map(Some);
        }
        let copy = self.dir.path().join("hub.kubeconfig");
        std::fs::copy(kubeconfig, &copy)?;
        self.launch.hand_over(&copy)?;
        self.launch.path_arg(&copy).map(Some)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("webhook.log")
    }

    /// Everything the process has logged, across restarts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }

    /// (Re)starts the process with the same flags and waits for /readyz.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop();
        self.process = Some(self.launch.spawn(
            "extcluster-webhook",
            &self.args,
            &self.env,
            &self.log_path(),
        )?);
        // A hang guard, generous for a loaded machine; how fast it is ready is `make bench`'s.
        self.wait_ready(Duration::from_secs(60)).await
    }

    pub async fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let ready = Wait::up_to(limit, "extcluster-webhook to be ready")
            .until(async || {
                if self
                    .probe("/readyz")
                    .await
                    .is_ok_and(|(code, _)| code == 200)
                {
                    return Some(Ok(()));
                }
                let alive = self.process.as_mut().is_some_and(Supervised::alive);
                (!alive).then(|| Err(anyhow!("extcluster-webhook exited:\n{}", self.log())))
            })
            .await;
        ready
            .map_err(|timeout| anyhow!("{timeout}:\n{}", self.log()))
            .flatten()
    }

    /// GET on the plain probe port: (status code, body).
    pub async fn probe(&self, path: &str) -> Result<(u16, String)> {
        crate::http_get(self.probe_port, path).await
    }

    /// A metric's value from /metrics (the first sample whose line starts with `prefix`).
    pub async fn metric(&self, prefix: &str) -> Option<f64> {
        let (_, body) = self.probe("/metrics").await.ok()?;
        body.lines()
            .find(|l| l.starts_with(prefix))?
            .rsplit(' ')
            .next()?
            .parse()
            .ok()
    }

    /// Waits until the webhook's index holds `n` registrations (the watch has caught up).
    pub async fn wait_registrations(&self, n: usize) -> Result<()> {
        let indexed = async || {
            let count = self.metric("extcluster_webhook_registrations ").await;
            (count == Some(n as f64)).then_some(())
        };
        Wait::up_to(
            Duration::from_secs(20),
            format!("the webhook to index {n} registrations"),
        )
        .every(Duration::from_millis(25))
        .until(indexed)
        .await
    }

    /// Registers this webhook with the hub by URL, as the sandbox does.
    pub fn register(&self, hub: &ControlPlane) -> Result<()> {
        self.register_url(hub, self.port)
    }

    /// Registers the webhook with the hub at `https://127.0.0.1:{port}` (a proxy in front, say).
    pub fn register_url(&self, hub: &ControlPlane, port: u16) -> Result<()> {
        let config = webhook_configuration(&format!("https://127.0.0.1:{port}"), &self.ca);
        let out = hub.kubectl_stdin(&["apply", "-f", "-"], &config);
        if !out.ok() {
            bail!("registering the webhook failed: {}", out.stderr);
        }
        Ok(())
    }

    /// Registers and waits until the API server actually calls the webhook (its configuration
    /// informer takes a moment): a server-side dry run of an out-of-range cluster gets denied.
    pub async fn register_and_wait(&self, hub: &ControlPlane) -> Result<()> {
        self.register_and_wait_url(hub, self.port).await
    }

    pub async fn register_and_wait_url(&self, hub: &ControlPlane, port: u16) -> Result<()> {
        self.register_url(hub, port)?;
        let probe = crate::cluster_yaml("webhook-probe", "probe-id", "v1.0.0", &[]);
        let called = async || {
            let out = hub.kubectl_stdin(&["create", "--dry-run=server", "-f", "-"], &probe);
            (!out.ok() && out.stderr.contains("denied the request")).then_some(())
        };
        Wait::up_to(Duration::from_secs(60), "the hub to call the webhook")
            .every(Duration::from_millis(100))
            .until(called)
            .await
            .map_err(|timeout| anyhow!("{timeout}:\n{}", self.log()))
    }

    /// The webhook process's own pid (not its watchdog's), while it runs.
    pub fn pid(&self) -> Option<i32> {
        crate::procfs::pid_of(
            "extcluster-webhook",
            &format!("--listen=127.0.0.1:{}", self.port),
        )
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("tls.crt")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for WebhookProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `extcluster-webhook certs` into `dir` for 127.0.0.1; returns the CA PEM, after checking
/// the printed caBundle is that CA.
pub fn run_certs_command(launch: &Launch, dir: &Path) -> Result<String> {
    let args = [
        "certs",
        "--ip",
        "127.0.0.1",
        "--dns",
        "localhost",
        "--out-dir",
    ];
    let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    args.push(launch.path_arg(dir)?);
    let out = launch.output("extcluster-webhook", &args)?;
    if !out.status.success() {
        bail!(
            "extcluster-webhook certs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ca = std::fs::read_to_string(dir.join("ca.crt"))?;
    let bundle =
        base64::engine::general_purpose::STANDARD.decode(String::from_utf8(out.stdout)?.trim())?;
    if bundle != ca.as_bytes() {
        bail!("the printed caBundle is not ca.crt");
    }
    Ok(ca)
}

/// A folder with a fresh CA and serving certificate for 127.0.0.1, laid out like a mounted
/// Secret (tls.crt -> ..data/tls.crt, ..data -> a versioned folder); returns it and the CA PEM.
fn certificates(launch: &Launch) -> Result<(tempfile::TempDir, String)> {
    let dir = launch.tempdir("extc-webhook-")?;
    let ca = run_certs_command(launch, &dir.path().join("certs-1"))?;
    symlink_swap(&dir.path().join("..data"), Path::new("certs-1"))?;
    for f in ["tls.crt", "tls.key"] {
        std::os::unix::fs::symlink(Path::new("..data").join(f), dir.path().join(f))?;
    }
    Ok((dir, ca))
}

/// Points `link` at `target` atomically, as the kubelet does when a Secret volume changes.
pub fn symlink_swap(link: &Path, target: &Path) -> Result<()> {
    let tmp = link.with_file_name("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link)?;
    Ok(())
}

/// CA rotation in the order an operator does it: make the new pair, have the hub trust both CAs,
/// then swap the files under the running webhook as a Secret volume update does.
impl WebhookProcess {
    /// Makes `certs-{generation}` and adds its CA to what the hub trusts; returns the new CA.
    pub fn prepare_rotation(&mut self, hub: &ControlPlane, generation: u32) -> Result<String> {
        let new_ca = run_certs_command(
            &self.launch,
            &self.dir.path().join(format!("certs-{generation}")),
        )?;
        self.ca = format!("{}{new_ca}", self.ca);
        self.register(hub)?;
        Ok(new_ca)
    }

    pub fn swap_certificates(&self, generation: u32) -> Result<()> {
        symlink_swap(
            &self.dir.path().join("..data"),
            Path::new(&format!("certs-{generation}")),
        )
    }
}

/// The ValidatingWebhookConfiguration of manifests/webhook.yaml, pointed at a URL.
/// manifests/webhook.yaml's configuration, each webhook called at `base` (`https://host:port`)
/// instead of through the Service, with `ca_pem` as its caBundle.
pub fn webhook_configuration(base: &str, ca_pem: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let manifest = std::fs::read_to_string(crate::repo_root().join("manifests/webhook.yaml"))
        .expect("manifests/webhook.yaml");
    let mut config: serde_json::Value =
        serde_saphyr::from_str(&manifest).expect("manifests/webhook.yaml is YAML");
    for hook in config["webhooks"].as_array_mut().expect("webhooks") {
        let path = hook["clientConfig"]["service"]["path"]
            .as_str()
            .expect("a service path")
            .to_owned();
        hook["clientConfig"] = serde_json::json!({"url": format!("{base}{path}"), "caBundle": ca});
    }
    config.to_string()
}

/// `kubectl create -f -` of `yaml` on `hub`.
pub fn create(hub: &ControlPlane, yaml: &str) -> crate::Output {
    hub.kubectl_stdin(&["create", "-f", "-"], yaml)
}

/// Asserts that the webhook denied the request, with a message mentioning each of `mentions`.
#[track_caller]
pub fn assert_denied(out: &crate::Output, mentions: &[&str]) {
    assert!(!out.ok(), "should be denied:\n{}", out.stdout);
    for m in std::iter::once(&"denied the request").chain(mentions) {
        crate::assert_contains(&out.stderr, m);
    }
}
