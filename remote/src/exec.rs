//! A kubeconfig's exec credential plugin, run here within a bound before the client is made: one
//! that hangs (waiting for a browser, a prompt, a network) ends the command with a sentence
//! naming it, where kubectl (and kube, which runs it inside a request) would wait forever.

use crate::words::{command_base, io_words, last_words};
use kube::config::{ExecConfig, ExecInteractiveMode};
use secrecy::SecretString;
use std::process::Stdio;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "the exec credential plugin {command} did not finish within {limit:?}; it may be waiting for a login that cannot happen here: run it yourself to log in, or give it longer with --exec-timeout"
    )]
    Hung { command: String, limit: Duration },
    #[error(
        "cannot run the exec credential plugin {command}: {why}; install it or fix the command in the kubeconfig"
    )]
    Start { command: String, why: String },
    #[error(
        "the exec credential plugin {command} failed ({status}){last}; log in with it again and retry"
    )]
    Failed {
        command: String,
        status: String,
        last: String,
    },
    #[error(
        "the exec credential plugin {command} did not print an ExecCredential with a token or a client certificate; check that it is the right plugin for this kubeconfig"
    )]
    NoCredential { command: String },
}

/// Set on every exec plugin started here: how many `kubectl-extcluster` processes deep it runs.
/// A hub kubeconfig whose credentials come from `kubectl-extcluster credential` itself would
/// otherwise start one process after another without end.
pub const DEPTH_ENV: &str = "EXTCLUSTER_EXEC_DEPTH";

/// How many `kubectl-extcluster` processes started this one, each as an exec plugin.
pub fn depth() -> u32 {
    std::env::var(DEPTH_ENV)
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}

/// What a plugin kube ran (to renew expiring credentials) failed with, in the same words; never
/// its standard output, which may hold a token (kube's own message quotes it whole). `None` for
/// failures that are not the plugin's.
pub fn from_kube(e: &kube::client::AuthError) -> Option<Error> {
    use kube::client::AuthError;
    // kube names the command by its Debug form: `"/usr/bin/aws" "eks" …`.
    let named = |cmd: &str| {
        let first = cmd.split_whitespace().next().unwrap_or_default();
        command_base(first.trim_matches('"'))
    };
    const UNNAMED: &str = "named in the kubeconfig";
    Some(match e {
        AuthError::AuthExecStart(io) => Error::Start {
            command: UNNAMED.into(),
            why: io_words(io),
        },
        AuthError::AuthExecRun { cmd, out } => Error::Failed {
            command: named(cmd),
            status: out.status.to_string(),
            last: last_words(&out.stderr),
        },
        AuthError::AuthExecParse(_) | AuthError::ExecPluginFailed => Error::NoCredential {
            command: UNNAMED.into(),
        },
        _ => return None,
    })
}

/// Runs the exec plugin of `config` (if it has one) within `limit` and puts what it printed in
/// its place.
pub async fn log_in(config: &mut kube::Config, limit: Duration) -> Result<(), Error> {
    let Some(exec) = config.auth_info.exec.clone() else {
        return Ok(());
    };
    let command = exec.command.clone().unwrap_or_default();
    let shown = command_base(&command);
    let child = spawn(&exec).map_err(|e| Error::Start {
        command: shown.clone(),
        why: io_words(&e),
    })?;
    let output = match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(output) => output.map_err(|e| Error::Start {
            command: shown.clone(),
            why: io_words(&e),
        })?,
        Err(_) => {
            return Err(Error::Hung {
                command: shown,
                limit,
            });
        }
    };
    if !output.status.success() {
        return Err(Error::Failed {
            command: shown,
            status: output.status.to_string(),
            last: last_words(&output.stderr),
        });
    }
    let credential: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|_| Error::NoCredential {
            command: shown.clone(),
        })?;
    let status = &credential["status"];
    let field = |name: &str| status[name].as_str().map(str::to_owned);
    let (token, cert, key) = (
        field("token"),
        field("clientCertificateData"),
        field("clientKeyData"),
    );
    if token.is_none() && (cert.is_none() || key.is_none()) {
        return Err(Error::NoCredential { command: shown });
    }
    // Credentials that expire stay the plugin's to renew, as client-go renews them (kube runs it
    // again, and before its first request); the bound above covered the login, where plugins
    // hang. The others stand in the configuration for the plugin.
    if !status["expirationTimestamp"].is_null() {
        return Ok(());
    }
    let auth = &mut config.auth_info;
    match (token, cert, key) {
        (Some(token), _, _) => auth.token = Some(SecretString::from(token)),
        (None, Some(cert), Some(key)) => {
            auth.client_certificate_data = Some(cert);
            auth.client_key_data = Some(SecretString::from(key));
        }
        _ => {}
    }
    auth.exec = None;
    Ok(())
}

/// The plugin started as client-go starts it: its args and env, and KUBERNETES_EXEC_INFO.
/// Dropped unfinished (on a timeout), the plugin is killed.
fn spawn(exec: &ExecConfig) -> std::io::Result<tokio::process::Child> {
    let mut cmd = tokio::process::Command::new(exec.command.as_deref().unwrap_or_default());
    cmd.args(exec.args.iter().flatten());
    for pair in exec.env.iter().flatten() {
        if let (Some(name), Some(value)) = (pair.get("name"), pair.get("value")) {
            cmd.env(name, value);
        }
    }
    for name in exec.drop_env.iter().flatten() {
        cmd.env_remove(name);
    }
    let interactive = exec.interactive_mode != Some(ExecInteractiveMode::Never);
    let mut spec = serde_json::json!({"interactive": interactive});
    if let (true, Some(cluster)) = (exec.provide_cluster_info, &exec.cluster) {
        spec["cluster"] = serde_json::to_value(cluster).unwrap_or_default();
    }
    let info = serde_json::json!({
        "apiVersion": exec.api_version,
        "kind": "ExecCredential",
        "spec": spec,
    });
    cmd.env(DEPTH_ENV, (depth() + 1).to_string())
        .env("KUBERNETES_EXEC_INFO", info.to_string())
        .stdin(if interactive {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd.spawn()
}
