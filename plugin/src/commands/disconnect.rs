//! `disconnect NAME`: remove a registration and its stored kubeconfig. The external cluster is
//! never contacted, so this works when it is gone.

use crate::cli::Global;
use crate::errors::Failure;
use crate::hub::Hub;
use crate::output::resource_name;
use anyhow::{Result, bail};
use extcluster_core::SecretKeyRef;
use extcluster_core::api::{DISCONNECT_ANNOTATION, MANAGER, REGISTRATION_LABEL, SYSTEM_NAMESPACE};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};

pub async fn run(global: &Global, name: &str, yes: bool) -> Result<()> {
    let hub = Hub::connect(global).await?;
    let clusters = hub.clusters();
    let cluster = clusters
        .get_opt(name)
        .await
        .map_err(|e| hub.err(&format!("get ExternalCluster {name:?}"), &e))?;
    let Some(cluster) = cluster else {
        let removed = remove_secrets(&hub, name, None).await?;
        let extra = if removed.is_empty() {
            String::new()
        } else {
            format!(" (removed leftover Secret {})", removed.join(", "))
        };
        println!(
            "{} is not registered; nothing to disconnect{extra}",
            resource_name(name)
        );
        return Ok(());
    };

    println!(
        "Disconnecting {name:?} ({}): the hub forgets it and deletes its stored kubeconfig; the cluster itself is left untouched.",
        cluster.spec.server
    );
    if !yes {
        confirm(name)?;
    }

    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    let mark = json!({"metadata": {"annotations": {DISCONNECT_ANNOTATION: "true"}}});
    clusters
        .patch(name, &params, &Patch::Merge(&mark))
        .await
        .map_err(|e| hub.err(&format!("mark {name:?} for disconnect"), &e))?;
    // Only informative, for anyone watching; the delete below is what matters.
    let _ = clusters
        .patch_status(
            name,
            &params,
            &Patch::Merge(json!({"status": {"phase": "Disconnecting"}})),
        )
        .await;
    match clusters.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(e) if Failure::of(&e).is_not_found() => {}
        Err(e) => return Err(hub.err(&format!("delete ExternalCluster {name:?}"), &e)),
    }
    let removed = remove_secrets(&hub, name, cluster.spec.kubeconfig_secret_ref.as_ref()).await?;
    let secrets = if removed.is_empty() {
        "no kubeconfig Secret was left".to_owned()
    } else {
        format!("Secret {} deleted", removed.join(", "))
    };
    println!("{} disconnected; {secrets}", resource_name(name));
    Ok(())
}

fn confirm(name: &str) -> Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "disconnect asks for confirmation and there is no terminal to ask on; pass --yes to disconnect {name:?}"
        );
    }
    print!("Disconnect {name:?}? [y/N]: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        bail!("disconnect of {name:?} cancelled; nothing was changed")
    }
}

/// Deletes the registration's kubeconfig Secret (by its reference) and any Secret labelled as
/// belonging to it; returns the ones deleted, as namespace/name.
pub async fn remove_secrets(
    hub: &Hub,
    name: &str,
    by_ref: Option<&SecretKeyRef>,
) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    if let Some(r) = by_ref {
        match hub
            .secrets(&r.namespace)
            .delete(&r.name, &DeleteParams::default())
            .await
        {
            Ok(_) => removed.push(format!("{}/{}", r.namespace, r.name)),
            Err(e) if Failure::of(&e).is_not_found() => {}
            Err(e) => return Err(hub.err(&format!("delete Secret {}/{}", r.namespace, r.name), &e)),
        }
    }
    let secrets = hub.system_secrets();
    let labelled = match secrets
        .list(&ListParams::default().labels(&format!("{REGISTRATION_LABEL}={name}")))
        .await
    {
        Ok(l) => l.items,
        // No system namespace: nothing there to remove.
        Err(e) if Failure::of(&e).is_not_found() => Vec::new(),
        Err(e) => return Err(hub.err("list kubeconfig Secrets", &e)),
    };
    for s in labelled {
        let secret = s.metadata.name.unwrap_or_default();
        match secrets.delete(&secret, &DeleteParams::default()).await {
            Ok(_) => removed.push(format!("{SYSTEM_NAMESPACE}/{secret}")),
            Err(e) if Failure::of(&e).is_not_found() => {}
            Err(e) => {
                return Err(hub.err(&format!("delete Secret {SYSTEM_NAMESPACE}/{secret}"), &e));
            }
        }
    }
    Ok(removed)
}
