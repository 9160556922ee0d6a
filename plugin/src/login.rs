//! Reaching a cluster with a kubeconfig context's own login, whatever it is: a token, a
//! certificate, an exec plugin (`aws eks get-token`, `gke-gcloud-auth-plugin`, `kubelogin`) or an
//! auth-provider; and saying in one sentence what went wrong when that fails. A plugin's stdout
//! (where credentials are) is never quoted.

use extcluster_remote::Error;
use extcluster_remote::explain::{self, FromFile, Reach};
use extcluster_remote::failure::{Failure, chain};
use extcluster_remote::kubeconfig::Resolved;
use extcluster_remote::words::{command_base, io_words, last_words};
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::error::Error as StdError;

/// A context reached with its own login.
pub struct Target {
    pub resolved: Resolved,
    /// The kubeconfig file, for messages.
    pub path: String,
    pub client: Client,
}

impl Target {
    /// Context `context` (default: the current one) of the kubeconfig at `path`, logged in.
    pub async fn from_file(
        path: &std::path::Path,
        context: Option<&str>,
        exec_timeout: std::time::Duration,
    ) -> Result<Self, Error> {
        let shown = path.display().to_string();
        let kc = extcluster_remote::kubeconfig::read(path)?;
        let resolved = extcluster_remote::kubeconfig::resolve(&kc, &shown, context)?;
        Self::connect(&kc, &shown, resolved, exec_timeout).await
    }

    /// A client for `resolved.context` of `kc`, authenticating as the file says: token,
    /// certificate, exec plugin (run now) or auth-provider.
    /// An exec plugin gets `exec_timeout` to log in.
    pub async fn connect(
        kc: &Kubeconfig,
        path: &str,
        resolved: Resolved,
        exec_timeout: std::time::Duration,
    ) -> Result<Self, Error> {
        let options = KubeConfigOptions {
            context: Some(resolved.context.clone()),
            ..Default::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(kc.clone(), &options)
            .await
            .map_err(|e| {
                Error::Cluster(format!(
                    "context {:?} in {path} is not usable: {}",
                    resolved.context,
                    chain(&e)
                ))
            })?;
        extcluster_remote::exec::log_in(&mut config, exec_timeout)
            .await
            .map_err(|e| {
                Error::Cluster(format!(
                    "user {:?} of context {:?} in {path} cannot log in: {e}",
                    resolved.user_name, resolved.context
                ))
            })?;
        let client = extcluster_remote::client::build(config).map_err(|e| match e {
            extcluster_remote::transport::Error::Kube(e) => {
                remote_err(&resolved, path, "log in", &e)
            }
            other => Error::Cluster(format!(
                "context {:?} in {path} is not usable: {other}",
                resolved.context
            )),
        })?;
        Ok(Target {
            resolved,
            path: path.to_owned(),
            client,
        })
    }

    /// The one sentence for a failed call to this cluster: what was being done, and what to do.
    pub fn err(&self, action: &str, e: &kube::Error) -> Error {
        remote_err(&self.resolved, &self.path, action, e)
    }
}

/// The one sentence for a failed call to the cluster of `resolved`.
fn remote_err(resolved: &Resolved, path: &str, action: &str, e: &kube::Error) -> Error {
    if let Some(msg) = plugin_failure(resolved, path, e) {
        return Error::Cluster(msg);
    }
    let reach = Reach::Login {
        file: FromFile {
            server: &resolved.server,
            context: &resolved.context,
            path,
        },
        login_hint: &login_hint(resolved),
    };
    Error::Cluster(explain::sentence(reach, action, &Failure::of(e)))
}

fn login_hint(resolved: &Resolved) -> String {
    match (&resolved.user.exec, &resolved.user.auth_provider) {
        (Some(exec), _) => format!(
            "the exec plugin {} logs in for user {:?}",
            command_base(exec.command.as_deref().unwrap_or("?")),
            resolved.user_name
        ),
        (None, Some(p)) => format!(
            "user {:?} logs in through the {:?} auth-provider",
            resolved.user_name, p.name
        ),
        _ => format!(
            "user {:?} has credentials that the cluster no longer accepts",
            resolved.user_name
        ),
    }
}

/// An exec plugin that could not run or failed, in words; its output is never quoted except
/// the last line it wrote to stderr (stdout is where credentials are).
fn plugin_failure(resolved: &Resolved, path: &str, e: &kube::Error) -> Option<String> {
    let auth = find_auth_error(e)?;
    let (ctx, user) = (&resolved.context, &resolved.user_name);
    let command = resolved
        .user
        .exec
        .as_ref()
        .and_then(|x| x.command.clone())
        .unwrap_or_default();
    use kube::client::AuthError;
    Some(match auth {
        AuthError::AuthExecStart(io) => format!(
            "cannot run {command:?}, the exec credential plugin of user {user:?} (context {ctx:?}) in {path}: {}; install it or fix the command in {path}",
            io_words(io)
        ),
        AuthError::AuthExecRun { out, .. } => {
            let last = last_words(&out.stderr);
            format!(
                "the exec credential plugin {} of user {user:?} (context {ctx:?}) in {path} failed ({}){last}; log in with it again and retry",
                command_base(&command),
                out.status
            )
        }
        AuthError::AuthExecParse(_) | AuthError::ExecPluginFailed => format!(
            "the exec credential plugin {} of user {user:?} (context {ctx:?}) in {path} did not print an ExecCredential with a token; check that it is the right plugin for this kubeconfig",
            command_base(&command)
        ),
        other => format!(
            "user {user:?} of context {ctx:?} in {path} cannot log in: {}",
            chain(other)
        ),
    })
}

fn find_auth_error(e: &kube::Error) -> Option<&kube::client::AuthError> {
    if let kube::Error::Auth(a) = e {
        return Some(a);
    }
    let mut current: Option<&(dyn StdError + 'static)> = e.source();
    while let Some(c) = current {
        if let Some(a) = c.downcast_ref::<kube::client::AuthError>() {
            return Some(a);
        }
        current = c.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::client::AuthError;
    use std::os::unix::process::ExitStatusExt;

    fn resolved() -> Resolved {
        let user: kube::config::AuthInfo = serde_json::from_value(serde_json::json!({
            "exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "/usr/local/bin/aws", "args": ["eks", "get-token"]}
        }))
        .unwrap();
        Resolved {
            context: "prod".into(),
            cluster_name: "prod".into(),
            server: "https://prod.example.com".into(),
            cluster: kube::config::Cluster::default(),
            namespace: None,
            user_name: "sso".into(),
            user,
        }
    }

    #[test]
    fn plugin_failures_in_words_without_their_stdout() {
        let out = std::process::Output {
            status: std::process::ExitStatus::from_raw(256),
            stdout: br#"{"status":{"token":"secret-token"}}"#.to_vec(),
            stderr: b"some noise\nError: the SSO session has expired, run aws sso login\n\n"
                .to_vec(),
        };
        let e = kube::Error::Auth(AuthError::AuthExecRun {
            cmd: "aws".into(),
            out: Box::new(out),
        });
        let msg = remote_err(&resolved(), "/k", "log in", &e).to_string();
        assert!(
            msg.contains("exec credential plugin aws of user \"sso\""),
            "{msg}"
        );
        assert!(
            msg.contains("run aws sso login; log in with it again"),
            "{msg}"
        );
        assert!(
            !msg.contains("secret-token") && !msg.contains("some noise"),
            "{msg}"
        );

        let e = kube::Error::Auth(AuthError::AuthExecStart(std::io::Error::from(
            std::io::ErrorKind::NotFound,
        )));
        let msg = remote_err(&resolved(), "/k", "log in", &e).to_string();
        assert!(
            msg.contains("cannot run \"/usr/local/bin/aws\"") && msg.contains("no such command"),
            "{msg}"
        );
    }

    #[test]
    fn refusals_say_how_to_log_in_again() {
        let e = kube::Error::Api(Box::new(
            serde_json::from_value(serde_json::json!({
                "status": "Failure", "code": 401, "reason": "Unauthorized", "message": "Unauthorized"
            }))
            .unwrap(),
        ));
        let msg = remote_err(&resolved(), "/k", "read namespaces", &e).to_string();
        assert!(
            msg.contains("401 Unauthorized") && msg.contains("the exec plugin aws logs in"),
            "{msg}"
        );
        let e = kube::Error::Api(Box::new(
            serde_json::from_value(serde_json::json!({
                "status": "Failure", "code": 403, "reason": "Forbidden", "message": "no"
            }))
            .unwrap(),
        ));
        let msg = remote_err(&resolved(), "/k", "create clusterrolebinding x", &e).to_string();
        assert!(msg.contains("may not create clusterrolebinding x"), "{msg}");
    }
}
