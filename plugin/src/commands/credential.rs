//! `credential [NAME]`: a client-go credential exec plugin. It prints an `ExecCredential` with the
//! token, or client certificate and key, that the hub stores for a registration, read with the
//! caller's own hub credentials: the hub's RBAC on the kubeconfig Secret decides who may. For a
//! federated registration it mints a token for the registration's hub identity instead, and no
//! Secret is read: who may create serviceaccounts/token for that account may have one.

use crate::hub::{Global, Hub};
use anyhow::{Result, anyhow, bail};
use base64::Engine;
use clap::Args;
use extcluster_remote::kubeconfig::file;
use extcluster_remote::stored;
use kube::config::Kubeconfig;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// Print the stored credentials of a registration as an ExecCredential (for a kubeconfig's exec)
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  # What client-go runs: prints the ExecCredential for prod-eu, read from the hub
  kubectl extcluster credential prod-eu --kubeconfig ~/.kube/hub

A consumer's kubeconfig names it as its user's credential plugin:

  users:
  - name: prod-eu
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1
        command: kubectl-extcluster
        args: [credential, prod-eu, --kubeconfig, /path/to/hub.kubeconfig]
        interactiveMode: Never
        provideClusterInfo: true

With provideClusterInfo, the name may instead come from the cluster's exec extension:

  clusters:
  - name: prod-eu
    cluster:
      server: https://prod-eu.example.com:6443
      extensions:
      - name: client.authentication.k8s.io/exec
        extension: {registration: prod-eu}")]
pub struct CredentialArgs {
    /// The registration whose credentials to print (default: from KUBERNETES_EXEC_INFO)
    pub name: Option<String>,
}

/// What client-go tells an exec plugin (`KUBERNETES_EXEC_INFO`), as far as it matters here.
#[derive(Debug)]
struct ExecInfo {
    api_version: String,
    server: Option<String>,
    registration: Option<String>,
}

const DEFAULT_API_VERSION: &str = "client.authentication.k8s.io/v1";

/// How deep `credential` may be started by `kubectl-extcluster` itself: once is a hub reached
/// through another registration; twice is a loop.
const MAX_DEPTH: u32 = 1;

pub async fn run(global: &Global, args: &CredentialArgs) -> Result<()> {
    let depth = extcluster_remote::exec::depth();
    if depth > MAX_DEPTH {
        bail!(
            "a loop: kubectl-extcluster credential started by itself {depth} levels deep; give \
             it the hub's own kubeconfig with --kubeconfig in the exec args"
        );
    }
    let info = exec_info(std::env::var("KUBERNETES_EXEC_INFO").ok().as_deref())?;
    let name = args
        .name
        .clone()
        .or(info.registration.clone())
        .ok_or_else(|| {
            anyhow!(
                "which registration? pass its name (`kubectl-extcluster credential NAME`), or set \
             `registration` in the cluster's client.authentication.k8s.io/exec extension with \
             provideClusterInfo: true"
            )
        })?;
    let hub = Hub::connect(global).await?;
    let cluster = hub.registration(&name).await?;
    if let Some(server) = &info.server
        && server.trim_end_matches('/') != cluster.spec.server.trim_end_matches('/')
    {
        bail!(
            "the kubeconfig asks for credentials for {server}, but {name:?} is registered for \
             {}; point its cluster at that server, or name the registration for {server}",
            cluster.spec.server
        );
    }
    if let Some(federated) = &cluster.spec.federated {
        let minted = extcluster_remote::federated::mint(&hub.client, &name, federated).await?;
        let status = json!({
            "token": minted.token.expose_secret(),
            "expirationTimestamp": minted.expires_at.to_string(),
        });
        println!(
            "{}",
            json!({"apiVersion": info.api_version, "kind": "ExecCredential", "status": status})
        );
        return Ok(());
    }
    let kubeconfig = stored::kubeconfig(&hub.client, &cluster)
        .await
        .map_err(|e| anyhow!("{e}; a credential needs get on that Secret on the hub"))?;
    let credential = exec_credential(&kubeconfig, &info.api_version).map_err(|why| {
        anyhow!(
            "the hub's kubeconfig for {name:?} cannot be handed out: {why}; give the hub a \
                 token or client-certificate kubeconfig with `kubectl extcluster set-credentials \
                 {name} --from-kubeconfig FILE`"
        )
    })?;
    println!("{credential}");
    Ok(())
}

fn exec_info(raw: Option<&str>) -> Result<ExecInfo> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(ExecInfo {
            api_version: DEFAULT_API_VERSION.into(),
            server: None,
            registration: None,
        });
    };
    let v: Value = serde_json::from_str(raw)
        .map_err(|e| anyhow!("KUBERNETES_EXEC_INFO is not JSON ({e}); it is client-go's to set"))?;
    let cluster = &v["spec"]["cluster"];
    Ok(ExecInfo {
        api_version: v["apiVersion"]
            .as_str()
            .unwrap_or(DEFAULT_API_VERSION)
            .to_owned(),
        server: cluster["server"].as_str().map(str::to_owned),
        registration: cluster["config"]["registration"]
            .as_str()
            .map(str::to_owned),
    })
}

/// The ExecCredential for the current context's user: its token, else its client certificate.
fn exec_credential(kubeconfig: &Kubeconfig, api_version: &str) -> Result<Value> {
    let user = file::current_user(kubeconfig).ok_or_else(|| anyhow!("it names no user"))?;
    let mut status = if let Some(token) = &user.token {
        json!({ "token": token.expose_secret() })
    } else if let (Some(cert), Some(key)) = (&user.client_certificate_data, &user.client_key_data) {
        json!({
            "clientCertificateData": pem(cert)?,
            "clientKeyData": pem(key.expose_secret())?,
        })
    } else {
        bail!("it holds neither a token nor a client certificate and key");
    };
    if let Some(at) = extcluster_remote::credentials::expiry(kubeconfig) {
        status["expirationTimestamp"] = json!(at.to_string());
    }
    Ok(json!({"apiVersion": api_version, "kind": "ExecCredential", "status": status}))
}

/// A kubeconfig's `*-data` field (base64 of PEM) as the PEM text an ExecCredential carries.
fn pem(data: &str) -> Result<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| anyhow!("its client certificate data is not base64"))?;
    String::from_utf8(bytes).map_err(|_| anyhow!("its client certificate data is not PEM text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_client_go_provides() {
        let info = exec_info(Some(
            r#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential",
                "spec":{"cluster":{"server":"https://a:6443","config":{"registration":"prod"}}}}"#,
        ))
        .unwrap();
        assert_eq!(info.api_version, "client.authentication.k8s.io/v1beta1");
        assert_eq!(info.server.as_deref(), Some("https://a:6443"));
        assert_eq!(info.registration.as_deref(), Some("prod"));
        let none = exec_info(None).unwrap();
        assert_eq!(
            (none.api_version.as_str(), none.registration),
            (DEFAULT_API_VERSION, None)
        );
        assert!(
            exec_info(Some("{"))
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
    }

    #[test]
    fn a_token_or_a_certificate_never_anything_else() {
        let kubeconfig = |user: Value| -> Kubeconfig {
            serde_json::from_value(json!({
                "current-context": "c",
                "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
                "clusters": [{"name": "k", "cluster": {"server": "https://a:6443"}}],
                "users": [{"name": "u", "user": user}]
            }))
            .unwrap()
        };
        let v = exec_credential(&kubeconfig(json!({"token": "t0k"})), DEFAULT_API_VERSION).unwrap();
        assert_eq!(v["status"]["token"], "t0k");
        assert_eq!(v["kind"], "ExecCredential");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let cert = kubeconfig(
            json!({"client-certificate-data": b64("CERT"), "client-key-data": b64("KEY")}),
        );
        let v = exec_credential(&cert, DEFAULT_API_VERSION).unwrap();
        assert_eq!(
            (
                v["status"]["clientCertificateData"].as_str(),
                v["status"]["clientKeyData"].as_str()
            ),
            (Some("CERT"), Some("KEY"))
        );
        let exec = kubeconfig(
            json!({"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1"}}),
        );
        assert!(exec_credential(&exec, DEFAULT_API_VERSION).is_err());
    }
}
