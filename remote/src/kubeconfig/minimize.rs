//! A kubeconfig cut down to one self-contained context that the hub can store and use on its own:
//! the files it points to embedded, and a user the hub can authenticate as without running
//! anything.

use super::Error;
use super::file::single;
use super::resolve::{b64, read_referenced, resolve};
use kube::config::{AuthInfo, Kubeconfig};
use secrecy::{ExposeSecret, SecretString};
use std::path::Path;

/// A kubeconfig for one cluster, ready to store in a Secret.
#[derive(Debug, Clone)]
pub struct Minimized {
    /// The context it was taken from (and the only context it has).
    pub context: String,
    pub server: String,
    /// One cluster, one user, one context, nothing outside the file.
    pub kubeconfig: Kubeconfig,
}

impl Minimized {
    /// Whether its cluster is reached without checking the server's certificate.
    pub fn skips_tls_verify(&self) -> bool {
        self.kubeconfig
            .clusters
            .iter()
            .filter_map(|c| c.cluster.as_ref())
            .any(|c| c.insecure_skip_tls_verify == Some(true))
    }
}

/// Cuts `kc` down to one context; files it refers to are read and embedded.
pub fn minimize(kc: &Kubeconfig, path: &str, context: Option<&str>) -> Result<Minimized, Error> {
    let resolved = resolve(kc, path, context)?;
    let plugin = |how: String| Error::Plugin {
        path: path.to_owned(),
        context: resolved.context.clone(),
        user: resolved.user_name.clone(),
        how,
        hint: convert_hint(path, &resolved.context),
    };
    if let Some(exec) = &resolved.user.exec {
        let command = exec.command.as_deref().unwrap_or("?");
        let base = Path::new(command)
            .file_name()
            .map_or(command.to_owned(), |b| b.to_string_lossy().into_owned());
        return Err(plugin(format!("an exec plugin ({base})")));
    }
    if let Some(p) = &resolved.user.auth_provider {
        return Err(plugin(format!("the {:?} auth-provider", p.name)));
    }
    let user = embedded_user(&resolved.user, path)?;
    let has_cert = user.client_certificate_data.is_some() && user.client_key_data.is_some();
    let has_token = user
        .token
        .as_ref()
        .is_some_and(|t| !t.expose_secret().is_empty());
    if !has_cert && !has_token {
        return Err(Error::NoCredentials {
            path: path.to_owned(),
            context: resolved.context,
            user: resolved.user_name,
        });
    }
    let entry = resolved.with_user(resolved.user_name.clone(), user);
    Ok(Minimized {
        kubeconfig: single(&entry),
        context: resolved.context,
        server: resolved.server,
    })
}

/// The user with the files it refers to read into it. Its secret fields are kept, which is what
/// is wanted here: they go only into the Secret.
fn embedded_user(user: &AuthInfo, path: &str) -> Result<AuthInfo, Error> {
    let mut embedded = AuthInfo {
        client_certificate: None,
        client_key: None,
        token_file: None,
        ..user.clone()
    };
    if embedded.client_certificate_data.is_none()
        && let Some(file) = &user.client_certificate
    {
        let bytes = read_referenced(path, "client-certificate", file)?;
        embedded.client_certificate_data = Some(b64(&bytes));
    }
    if embedded.client_key_data.is_none()
        && let Some(file) = &user.client_key
    {
        let bytes = read_referenced(path, "client-key", file)?;
        embedded.client_key_data = Some(SecretString::from(b64(&bytes)));
    }
    if embedded.token.is_none()
        && let Some(file) = &user.token_file
    {
        let bytes = read_referenced(path, "token", file)?;
        let token = String::from_utf8_lossy(&bytes).trim().to_owned();
        embedded.token = Some(SecretString::from(token));
    }
    Ok(embedded)
}

/// The command that turns a plugin-authenticated context into a ServiceAccount-token kubeconfig.
pub fn convert_hint(path: &str, context: &str) -> String {
    let new = format!("{}-extcluster.kubeconfig", safe_file_stem(context));
    format!(
        "kubectl extcluster convert-kubeconfig --from-kubeconfig {} --from-context {} -o {}",
        shell_quote(path),
        shell_quote(context),
        shell_quote(&new)
    )
}

fn safe_file_stem(s: &str) -> String {
    let stem: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if stem.is_empty() {
        "cluster".into()
    } else {
        stem
    }
}

/// Quotes for a POSIX shell only when needed, so the hint can be pasted as it is.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
