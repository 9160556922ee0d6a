//! One context of a kubeconfig found, checked, and its cluster made self-contained.

use super::Error;
use base64::Engine;
use kube::config::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};

/// One context of a kubeconfig, resolved: its cluster made self-contained (CA embedded), its user
/// as the file has it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub context: String,
    pub cluster_name: String,
    pub server: String,
    /// The cluster entry: server, CA data (embedded) and the settings that change how it is
    /// reached.
    pub cluster: Cluster,
    /// The context's namespace, if it sets one.
    pub namespace: Option<String>,
    pub user_name: String,
    pub user: AuthInfo,
}

impl Resolved {
    /// Whether the user logs in through a plugin (exec or auth-provider) rather than a token or a
    /// certificate the file holds.
    pub fn uses_plugin(&self) -> bool {
        self.user.exec.is_some() || self.user.auth_provider.is_some()
    }

    /// This context, its cluster as resolved, authenticating as `user`.
    pub fn with_user(&self, user_name: String, user: AuthInfo) -> Entry {
        Entry {
            context: self.context.clone(),
            cluster_name: self.cluster_name.clone(),
            cluster: self.cluster.clone(),
            namespace: self.namespace.clone(),
            user_name,
            user,
        }
    }
}

/// One self-contained context of a kubeconfig that is written: what the hub stores for a
/// registration, or one context convert-kubeconfig made.
#[derive(Debug, Clone)]
pub struct Entry {
    pub context: String,
    pub cluster_name: String,
    /// The cluster entry, self-contained (CA data embedded).
    pub cluster: Cluster,
    pub namespace: Option<String>,
    pub user_name: String,
    pub user: AuthInfo,
}

impl Entry {
    pub fn named_cluster(&self) -> NamedCluster {
        NamedCluster {
            name: self.cluster_name.clone(),
            cluster: Some(self.cluster.clone()),
            ..Default::default()
        }
    }

    pub fn named_user(&self) -> NamedAuthInfo {
        NamedAuthInfo {
            name: self.user_name.clone(),
            auth_info: Some(self.user.clone()),
            ..Default::default()
        }
    }

    pub fn context_entry(&self) -> Context {
        Context {
            cluster: self.cluster_name.clone(),
            user: Some(self.user_name.clone()),
            namespace: self.namespace.clone(),
            ..Default::default()
        }
    }

    pub fn named_context(&self) -> NamedContext {
        NamedContext {
            name: self.context.clone(),
            context: Some(self.context_entry()),
            ..Default::default()
        }
    }
}

/// The names of the contexts in `kc`, for messages.
pub fn context_names(kc: &Kubeconfig) -> String {
    let names: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

/// Finds `context` (or the current context) in `kc` and makes its cluster self-contained.
pub fn resolve(kc: &Kubeconfig, path: &str, context: Option<&str>) -> Result<Resolved, Error> {
    let (name, ctx) = find_context(kc, path, context)?;
    let (cluster, server) = find_cluster(kc, path, &name, &ctx.cluster)?;
    let user_name = ctx.user.clone().unwrap_or_default();
    let user = kc
        .auth_infos
        .iter()
        .find(|u| u.name == user_name)
        .map(|u| u.auth_info.clone().unwrap_or_default())
        .ok_or_else(|| Error::MissingUser {
            path: path.to_owned(),
            context: name.clone(),
            user: user_name.clone(),
        })?;
    Ok(Resolved {
        cluster: self_contained(&cluster, &server, path)?,
        context: name,
        cluster_name: ctx.cluster,
        server,
        namespace: ctx.namespace,
        user_name,
        user,
    })
}

fn find_context(
    kc: &Kubeconfig,
    path: &str,
    context: Option<&str>,
) -> Result<(String, Context), Error> {
    if kc.contexts.is_empty() {
        return Err(Error::NoContexts {
            path: path.to_owned(),
        });
    }
    let name = match context.or(kc.current_context.as_deref()) {
        Some(n) if !n.is_empty() => n.to_owned(),
        _ => {
            return Err(Error::NoCurrentContext {
                path: path.to_owned(),
                available: context_names(kc),
            });
        }
    };
    let ctx = kc
        .contexts
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.context.clone())
        .ok_or_else(|| Error::UnknownContext {
            path: path.to_owned(),
            context: name.clone(),
            available: context_names(kc),
        })?;
    Ok((name, ctx))
}

/// The cluster `context` names, and its server, which must be https.
fn find_cluster(
    kc: &Kubeconfig,
    path: &str,
    context: &str,
    cluster_name: &str,
) -> Result<(Cluster, String), Error> {
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.clone())
        .ok_or_else(|| Error::MissingCluster {
            path: path.to_owned(),
            context: context.to_owned(),
            cluster: cluster_name.to_owned(),
        })?;
    let server = cluster
        .server
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| Error::MissingServer {
            path: path.to_owned(),
            cluster: cluster_name.to_owned(),
        })?;
    if !server.starts_with("https://") {
        return Err(Error::NotHttps {
            path: path.to_owned(),
            cluster: cluster_name.to_owned(),
            server,
        });
    }
    Ok((cluster, server))
}

/// The cluster: server, CA (embedded), and the few settings that change how it is reached.
fn self_contained(cluster: &Cluster, server: &str, path: &str) -> Result<Cluster, Error> {
    let mut kept = Cluster {
        server: Some(server.to_owned()),
        certificate_authority_data: cluster.certificate_authority_data.clone(),
        insecure_skip_tls_verify: cluster.insecure_skip_tls_verify,
        tls_server_name: cluster.tls_server_name.clone(),
        proxy_url: cluster.proxy_url.clone(),
        disable_compression: cluster.disable_compression,
        ..Default::default()
    };
    if kept.certificate_authority_data.is_none()
        && let Some(file) = &cluster.certificate_authority
    {
        let bytes = read_referenced(path, "certificate-authority", file)?;
        kept.certificate_authority_data = Some(b64(&bytes));
    }
    Ok(kept)
}

pub(super) fn read_referenced(
    path: &str,
    what: &'static str,
    file: &str,
) -> Result<Vec<u8>, Error> {
    std::fs::read(file).map_err(|e| Error::Referenced {
        path: path.to_owned(),
        what,
        file: file.to_owned(),
        reason: super::io_reason(&e),
    })
}

pub(super) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
