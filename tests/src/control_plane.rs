//! One real Kubernetes control plane on loopback, with its own CA and data.

use crate::bins;
use crate::free_port;
use crate::kubectl::{self, Output};
use crate::pki::{self, Ca, Pem};
use crate::process::Supervised;
use crate::wait::Wait;
use anyhow::{Context, Result, anyhow};
use base64::Engine;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The gitVersion the API server reports (e.g. `v1.29.3-eks-adc7111`); the build's own if unset.
    pub version: Option<String>,
    /// Run kube-controller-manager too (ServiceAccount token Secrets, namespaces, garbage collection).
    pub controller_manager: bool,
    /// The name used for the kubeconfig's cluster, user and context.
    pub name: Option<String>,
}

impl Options {
    pub fn version(mut self, v: &str) -> Self {
        self.version = Some(v.to_owned());
        self
    }
    pub fn controller_manager(mut self) -> Self {
        self.controller_manager = true;
        self
    }
    pub fn name(mut self, n: &str) -> Self {
        self.name = Some(n.to_owned());
        self
    }
}

/// How a kubeconfig's user authenticates.
#[derive(Debug, Clone)]
pub enum User {
    ClientCert(Pem),
    Token(String),
    /// An exec credential plugin: `command args...` printing an ExecCredential.
    Exec {
        command: String,
        args: Vec<String>,
    },
}

pub struct ControlPlane {
    name: String,
    dir: tempfile::TempDir,
    port: u16,
    ca: Pem,
    admin: Pem,
    sso_token: String,
    apiserver_bin: PathBuf,
    apiserver_args: Vec<String>,
    // Field order is drop order: controller-manager, API server, then etcd.
    controller_manager: Option<Supervised>,
    apiserver: Option<Supervised>,
    etcd: Supervised,
}

pub const SSO_USER: &str = "sso-admin";

impl ControlPlane {
    /// Starts a control plane. Ports are picked free but may be taken by a parallel test before
    /// the server binds them; then it starts over with new ones. They cannot be left to the OS
    /// (port 0): kube-apiserver reads `--secure-port=0` as "serve no HTTPS", and etcd must be
    /// told the client URL it advertises before it binds.
    pub async fn start(opts: Options) -> Result<Self> {
        let mut attempt = 0;
        loop {
            match Self::start_once(&opts).await {
                Err(e) if attempt < 4 && format!("{e:#}").contains("address already in use") => {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn start_once(opts: &Options) -> Result<Self> {
        let name = opts.name.clone().unwrap_or_else(|| "cluster".to_owned());
        let apiserver_bin = bins::apiserver(opts.version.as_deref())?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("extc-{name}-"))
            .tempdir()?;
        let d = dir.path();

        let credentials = write_credentials(d, &name)?;
        let (etcd_client, etcd_peer, port) = (free_port()?, free_port()?, free_port()?);
        let etcd = start_etcd(d, etcd_client, etcd_peer)?;
        let apiserver_args = apiserver_args(d, etcd_client, port);

        let mut cp = ControlPlane {
            name,
            port,
            ca: credentials.ca,
            admin: credentials.admin,
            sso_token: credentials.sso_token,
            apiserver_bin,
            apiserver_args,
            controller_manager: None,
            apiserver: None,
            etcd,
            dir,
        };
        cp.write_kubeconfig(&cp.kubeconfig(), &User::ClientCert(cp.admin.clone()))?;
        cp.start_apiserver().await?;
        if opts.controller_manager {
            cp.start_controller_manager()?;
        }
        Ok(cp)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn server(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The port the API server listens on (behind [`ControlPlane::server`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// This cluster's identity as registrations record it: the UID of `kube-system`.
    pub async fn kube_system_uid(&self) -> Result<String> {
        use k8s_openapi::api::core::v1::Namespace;
        let ns: Namespace = kube::Api::all(self.client().await?)
            .get("kube-system")
            .await?;
        ns.metadata
            .uid
            .ok_or_else(|| anyhow::anyhow!("kube-system has no UID"))
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca.cert
    }

    /// The file of the CA that signed this API server's serving certificate (and its client
    /// certificates): what `--oidc-ca-file` names on a cluster that trusts this one's issuer.
    pub fn ca_file(&self) -> PathBuf {
        self.dir().join("ca.crt")
    }

    /// The issuer of this cluster's ServiceAccount tokens: its own URL, where it serves
    /// `/.well-known/openid-configuration` and `/openid/v1/jwks`.
    pub fn issuer(&self) -> String {
        self.server()
    }

    /// A kubeconfig at `path` for `user` in `groups`, by a client certificate that expires in
    /// `valid_for`.
    pub fn write_client_kubeconfig(
        &self,
        path: &Path,
        user: &str,
        groups: &[&str],
        valid_for: time::Duration,
    ) -> Result<()> {
        let cert = crate::pki::client_from(&self.ca, user, groups, valid_for)?;
        self.write_kubeconfig(path, &User::ClientCert(cert))
    }

    /// A kubeconfig at `path` whose user has the certificate the classic openssl recipe makes
    /// (X.509 v1), as `user` in `group`.
    pub fn write_openssl_recipe_kubeconfig(
        &self,
        path: &Path,
        user: &str,
        group: &str,
    ) -> Result<()> {
        let cert = crate::pki::openssl_recipe_client(&self.ca, user, group)?;
        self.write_kubeconfig(path, &User::ClientCert(cert))
    }

    /// A token this API server accepts for a cluster-admin user, as an SSO plugin would hand out.
    pub fn sso_token(&self) -> &str {
        &self.sso_token
    }

    /// The admin kubeconfig (client certificate in `system:masters`).
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir().join("admin.kubeconfig")
    }

    pub async fn client(&self) -> Result<kube::Client> {
        client_for(&self.kubeconfig()).await
    }

    /// A client that trusts this cluster's CA and presents the bearer `token`, or no credentials
    /// at all (anonymous) for `None`.
    pub fn bearer_client(&self, token: Option<&str>) -> Result<kube::Client> {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        let mut config = kube::Config::new(self.server().parse()?);
        let ca = CertificateDer::from_pem_slice(self.ca.cert.as_bytes())?;
        config.root_cert = Some(vec![ca.to_vec()]);
        config.auth_info.token = token.map(|t| t.to_owned().into());
        Ok(kube::Client::try_from(config)?)
    }

    /// A token for ServiceAccount `namespace/name` (made, with its namespace, if missing) by
    /// TokenRequest, for `audiences` (none: the API server's `--api-audiences`), valid for 600 s,
    /// the least TokenRequest grants.
    pub async fn service_account_token(
        &self,
        namespace: &str,
        name: &str,
        audiences: &[&str],
    ) -> Result<String> {
        use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
        use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
        use kube::api::{Api, PostParams};
        let client = self.client().await?;
        let pp = PostParams::default();
        let meta = |name: &str| kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        };
        let ns = Namespace {
            metadata: meta(namespace),
            ..Default::default()
        };
        let sa = ServiceAccount {
            metadata: meta(name),
            ..Default::default()
        };
        let accounts = Api::<ServiceAccount>::namespaced(client.clone(), namespace);
        let made = [
            Api::<Namespace>::all(client)
                .create(&pp, &ns)
                .await
                .map(drop),
            accounts.create(&pp, &sa).await.map(drop),
        ];
        for result in made {
            match result {
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                other => other.with_context(|| format!("making {namespace}/{name}"))?,
            }
        }
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
                expiration_seconds: Some(600),
                ..Default::default()
            },
            ..Default::default()
        };
        let minted = accounts.create_token_request(name, &pp, &request).await?;
        minted
            .status
            .map(|s| s.token)
            .ok_or_else(|| anyhow!("TokenRequest for {namespace}/{name} returned no token"))
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        kubectl::run(&self.kubeconfig(), args, None)
    }

    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        kubectl::run(&self.kubeconfig(), args, Some(stdin))
    }

    /// Writes a kubeconfig for this cluster with the given user; cluster, user and context are all
    /// named after the control plane.
    pub fn write_kubeconfig(&self, path: &Path, user: &User) -> Result<()> {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let user_yaml = match user {
            User::ClientCert(pem) => format!(
                "    client-certificate-data: {}\n    client-key-data: {}\n",
                b64(&pem.cert),
                b64(&pem.key)
            ),
            User::Token(t) => format!("    token: {t}\n"),
            User::Exec { command, args } => {
                let args: String = args.iter().map(|a| format!("      - {a:?}\n")).collect();
                format!(
                    "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: {command:?}\n      args:\n{args}      interactiveMode: Never\n"
                )
            }
        };
        let n = &self.name;
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {n}\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: {n}\n  user:\n{user_yaml}contexts:\n- name: {n}\n  context:\n    cluster: {n}\n    user: {n}\ncurrent-context: {n}\n",
            server = self.server(),
            ca = b64(&self.ca.cert),
        );
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// Stops the API server (etcd keeps the data): the cluster becomes unreachable.
    pub fn stop_apiserver(&mut self) {
        if let Some(mut s) = self.apiserver.take() {
            s.stop();
        }
    }

    /// Restarts the API server as a binary that reports `version` (an upgrade, as the cluster's
    /// clients see it).
    pub async fn restart_apiserver_reporting(&mut self, version: &str) -> Result<()> {
        self.apiserver_bin = bins::apiserver(Some(version))?;
        self.start_apiserver().await
    }

    /// Makes this API server trust an OIDC issuer (another cluster's ServiceAccount issuer, for
    /// federated trust): restarts it with `flags` (`--oidc-issuer-url=...`, `--oidc-client-id=...`
    /// and the like, exactly as printed for an admin), which replace any earlier `--oidc-*` flags
    /// and stay across later restarts. The OIDC authenticator starts in the background: tokens
    /// of the issuer are refused for a while after this returns.
    pub async fn trust_issuer(&mut self, flags: &[String]) -> Result<()> {
        if let Some(other) = flags.iter().find(|f| !f.starts_with("--oidc-")) {
            return Err(anyhow!("not an --oidc-* flag of kube-apiserver: {other}"));
        }
        self.apiserver_args.retain(|a| !a.starts_with("--oidc-"));
        self.apiserver_args.extend(flags.iter().cloned());
        self.start_apiserver().await
    }

    /// Starts the API server (again) on the same port and waits until it is ready.
    pub async fn start_apiserver(&mut self) -> Result<()> {
        self.stop_apiserver();
        let log = self.dir().join("apiserver.log");
        self.apiserver = Some(Supervised::spawn(
            "kube-apiserver",
            &self.apiserver_bin,
            &self.apiserver_args,
            &log,
        )?);
        // A hang guard: on a loaded 2-core machine the RBAC bootstrap alone has taken over 60 s.
        self.wait_ready(Duration::from_secs(120)).await
    }

    fn start_controller_manager(&mut self) -> Result<()> {
        let p = |f: &str| self.dir().join(f).display().to_string();
        let args = strings(&[
            &format!("--kubeconfig={}", self.kubeconfig().display()),
            "--controllers=serviceaccount-token,serviceaccount,namespace,garbagecollector",
            &format!("--service-account-private-key-file={}", p("sa.key")),
            &format!("--root-ca-file={}", p("ca.crt")),
            "--leader-elect=false",
            "--port=0",
            "--secure-port=0",
            "--use-service-account-credentials=false",
            "--v=0",
        ]);
        let bin = bins::controller_manager()?;
        self.controller_manager = Some(Supervised::spawn(
            "kube-controller-manager",
            &bin,
            &args,
            &self.dir().join("controller-manager.log"),
        )?);
        Ok(())
    }

    async fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let client = self.client().await?;
        let ready = Wait::up_to(limit, "kube-apiserver to be ready")
            .every(Duration::from_millis(100))
            .until(async || {
                let ready = client
                    .request_text(http_get("/readyz"))
                    .await
                    .is_ok_and(|body| body.trim() == "ok");
                if ready {
                    return Some(Ok(()));
                }
                if !self.apiserver.as_mut().is_some_and(Supervised::alive) {
                    let log = self.log_tail("apiserver.log");
                    return Some(Err(anyhow!("kube-apiserver exited while starting:\n{log}")));
                }
                if !self.etcd.alive() {
                    let log = self.log_tail("etcd.log");
                    return Some(Err(anyhow!("etcd exited while starting:\n{log}")));
                }
                None
            })
            .await;
        ready
            .map_err(|timeout| anyhow!("{timeout}:\n{}", self.log_tail("apiserver.log")))
            .flatten()
    }

    pub fn log_tail(&self, file: &str) -> String {
        let text = std::fs::read_to_string(self.dir().join(file)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// What a control plane's clients authenticate with, besides the files the servers read.
struct Credentials {
    ca: Pem,
    admin: Pem,
    sso_token: String,
}

/// Writes the control plane's PKI and static tokens into `d`.
fn write_credentials(d: &Path, name: &str) -> Result<Credentials> {
    let ca = Ca::generate(&format!("{name}-ca"))?;
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let serving = ca.serving(
        "kube-apiserver",
        &["localhost", "kubernetes.default.svc"],
        &[loopback],
    )?;
    let admin = ca.client("admin", &["system:masters"])?;
    let sso_token = random_token();
    write(d, "ca.crt", &ca.pem().cert)?;
    write(d, "apiserver.crt", &serving.cert)?;
    write(d, "apiserver.key", &serving.key)?;
    let (sa_key, sa_pub) = pki::key_pair_pem()?;
    write(d, "sa.key", &sa_key)?;
    write(d, "sa.pub", &sa_pub)?;
    // A static token standing in for what an SSO or cloud exec plugin would hand out.
    write(
        d,
        "tokens.csv",
        &format!("{sso_token},{SSO_USER},{SSO_USER},system:masters\n"),
    )?;
    Ok(Credentials {
        ca: ca.pem().clone(),
        admin,
        sso_token,
    })
}

fn start_etcd(d: &Path, etcd_client: u16, etcd_peer: u16) -> Result<Supervised> {
    Supervised::spawn(
        "etcd",
        &bins::etcd()?,
        &strings(&[
            "--name=default",
            &format!("--data-dir={}", d.join("etcd").display()),
            &format!("--listen-client-urls=http://127.0.0.1:{etcd_client}"),
            &format!("--advertise-client-urls=http://127.0.0.1:{etcd_client}"),
            &format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"),
            &format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"),
            &format!("--initial-cluster=default=http://127.0.0.1:{etcd_peer}"),
            "--logger=zap",
            "--log-level=warn",
        ]),
        &d.join("etcd.log"),
    )
}

fn apiserver_args(d: &Path, etcd_client: u16, port: u16) -> Vec<String> {
    let p = |f: &str| d.join(f).display().to_string();
    strings(&[
        &format!("--etcd-servers=http://127.0.0.1:{etcd_client}"),
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        &format!("--secure-port={port}"),
        "--insecure-port=0",
        &format!("--cert-dir={}", p("certs")),
        &format!("--tls-cert-file={}", p("apiserver.crt")),
        &format!("--tls-private-key-file={}", p("apiserver.key")),
        &format!("--client-ca-file={}", p("ca.crt")),
        "--authorization-mode=RBAC",
        &format!("--service-account-key-file={}", p("sa.pub")),
        &format!("--service-account-signing-key-file={}", p("sa.key")),
        // The issuer is this server's own URL, where it serves its discovery documents: another
        // API server can trust it as an OIDC provider (`trust_issuer`). The keys' URL is named
        // too: unset, it is derived from the advertised address and port, not from the issuer.
        &format!("--service-account-issuer=https://127.0.0.1:{port}"),
        &format!("--service-account-jwks-uri=https://127.0.0.1:{port}/openid/v1/jwks"),
        // The default audience of requested tokens, as in a real cluster.
        "--api-audiences=https://kubernetes.default.svc",
        &format!("--token-auth-file={}", p("tokens.csv")),
        "--service-cluster-ip-range=10.96.0.0/16",
        "--endpoint-reconciler-type=none",
        "--enable-priority-and-fairness=false",
        "--profiling=false",
        "--v=0",
    ])
}

pub async fn client_for(kubeconfig: &Path) -> Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await?;
    Ok(kube::Client::try_from(config)?)
}

fn http_get(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path)
        .body(Vec::new())
        .expect("a valid request")
}

fn write(dir: &Path, file: &str, text: &str) -> Result<()> {
    std::fs::write(dir.join(file), text).with_context(|| format!("writing {file}"))
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
