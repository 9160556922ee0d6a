//! `set-credentials NAME --from-kubeconfig FILE`: replaces the kubeconfig the hub stores for a
//! registration, once the new one is shown to reach the same cluster with the rights the
//! registration's mode needs. The way back from a rotated or expired token.

use crate::cli::{Global, SetCredentialsArgs};
use crate::commands::register::{
    SECRET_KEY, build_secret, check_rights, external_failure, owner_reference, secret_name,
};
use crate::hub::Hub;
use crate::output::resource_name;
use crate::{external, probe, status};
use anyhow::{Result, bail};
use extcluster_core::api::{MANAGER, SYSTEM_NAMESPACE};
use k8s_openapi::ByteString;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use std::collections::BTreeMap;

pub async fn run(global: &Global, args: &SetCredentialsArgs) -> Result<()> {
    let name = args.name.as_str();
    let hub = Hub::connect(global).await?;
    let cluster = hub.registration(name).await?;
    if !cluster.is_live() {
        bail!("{name:?} is being disconnected; register the cluster again instead");
    }

    // The new credentials, checked against the cluster before anything on the hub changes.
    let path = args.from_kubeconfig.display().to_string();
    let kc = external::read(&args.from_kubeconfig)?;
    let ext = external::minimize(&kc, &path, args.from_context.as_deref())?;
    let client = probe::client(&ext.kubeconfig)
        .await
        .map_err(|f| external_failure(&ext, &path, "connect", f))?;
    let facts = probe::facts(&client)
        .await
        .map_err(|f| external_failure(&ext, &path, "read the cluster", f))?;
    if facts.cluster_id != cluster.spec.cluster_id {
        bail!(
            "context {:?} in {path} reaches cluster {} at {}, but {name:?} is registered for cluster {}; use a kubeconfig for that cluster, or register this one under a name of its own",
            ext.context,
            facts.cluster_id,
            ext.server,
            cluster.spec.cluster_id
        );
    }
    check_rights(&client, cluster.spec.mode, &ext, &path).await?;

    // The stored Secret keeps its name, labels and owner; only its kubeconfig changes.
    let kubeconfig = external::to_yaml(&ext.kubeconfig)?.into_bytes();
    let (namespace, secret, key) = match &cluster.spec.kubeconfig_secret_ref {
        Some(r) => (r.namespace.clone(), r.name.clone(), r.key.clone()),
        None => (
            SYSTEM_NAMESPACE.to_owned(),
            secret_name(name),
            SECRET_KEY.to_owned(),
        ),
    };
    let secrets = hub.secrets(&namespace);
    let data = serde_json::json!({"data": {key.as_str(): ByteString(kubeconfig.clone())}});
    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    match secrets.patch(&secret, &params, &Patch::Merge(&data)).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => {
            // The registration lost its Secret: make it again, owned by the registration.
            let mut fresh = build_secret(name, &cluster.spec.cluster_id, Vec::new());
            fresh.metadata.name = Some(secret.clone());
            fresh.metadata.namespace = Some(namespace.clone());
            fresh.data = Some(BTreeMap::from([(key.clone(), ByteString(kubeconfig))]));
            fresh.metadata.owner_references = Some(vec![owner_reference(&cluster)]);
            secrets
                .create(
                    &PostParams {
                        field_manager: Some(MANAGER.into()),
                        ..Default::default()
                    },
                    &fresh,
                )
                .await
                .map_err(|e| hub.err(&format!("create Secret {namespace}/{secret}"), &e))?;
        }
        Err(e) => return Err(hub.err(&format!("update Secret {namespace}/{secret}"), &e)),
    }

    // What the new credentials just saw is the registration's status now.
    let new_status = status::after_probe(
        cluster.status.as_ref(),
        Ok(&facts),
        Timestamp::now(),
        cluster.metadata.generation,
    );
    hub.clusters()
        .patch_status(name, &params, &Patch::Merge(status::patch(&new_status)))
        .await
        .map_err(|e| hub.err(&format!("update the status of {name:?}"), &e))?;
    println!(
        "{} credentials replaced (context {:?} of {path}): {}, {}, {} nodes",
        resource_name(name),
        ext.context,
        new_status
            .phase
            .map_or_else(|| "Pending".to_owned(), |p| p.to_string()),
        facts.git_version,
        facts.nodes.len()
    );
    Ok(())
}
