//! The hub side of a federated registration: the ServiceAccount in extcluster-system whose
//! tokens reach the cluster. Made before the registration (a token is needed to check the
//! cluster), owned by it once it exists (so the hub's garbage collector removes it with it), and
//! deleted by disconnect at once: no new token can be minted after that.
//!
//! Only an account labelled as this registration's is ever touched: a ServiceAccount of the same
//! name made by anyone else (the controller's own, say) is refused, never adopted.

use crate::hub::Hub;
use anyhow::{Result, bail};
use extcluster_core::ExternalCluster;
use extcluster_core::api::{MANAGED_BY_LABEL, MANAGER, REGISTRATION_LABEL};
use extcluster_core::federated::service_account;
use extcluster_remote::failure::is_not_found;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::collections::BTreeMap;

fn accounts(hub: &Hub) -> Api<ServiceAccount> {
    Api::namespaced(hub.client.clone(), service_account("").0)
}

fn is_ours(account: &ServiceAccount, name: &str) -> bool {
    let labels = account.metadata.labels.as_ref();
    labels
        .and_then(|l| l.get(REGISTRATION_LABEL))
        .map(String::as_str)
        == Some(name)
}

/// Makes registration `name`'s hub identity; refuses when an account of that name exists.
pub async fn create(hub: &Hub, name: &str) -> Result<()> {
    let (namespace, account) = service_account(name);
    let labels = BTreeMap::from([
        (REGISTRATION_LABEL.to_owned(), name.to_owned()),
        (MANAGED_BY_LABEL.to_owned(), MANAGER.to_owned()),
    ]);
    let new = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(account.to_owned()),
            labels: Some(labels),
            ..Default::default()
        },
        automount_service_account_token: Some(false),
        ..Default::default()
    };
    let params = PostParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    match accounts(hub).create(&params, &new).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => bail!(
            "serviceaccount {namespace}/{account} already exists on the hub and is not a hub \
             identity this command made; choose another registration name"
        ),
        Err(e) => Err(hub.err(
            &format!("create serviceaccount {namespace}/{account} (the hub identity)"),
            &e,
        )),
    }
}

/// Makes `cluster` the owner of its hub identity.
pub async fn own(hub: &Hub, cluster: &ExternalCluster) -> Result<()> {
    let name = cluster.metadata.name.as_deref().unwrap_or_default();
    let (namespace, account) = service_account(name);
    let owner = crate::registration::owner_reference(cluster);
    let patch = json!({"metadata": {"ownerReferences": [owner]}});
    accounts(hub)
        .patch(account, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| hub.err(&format!("own serviceaccount {namespace}/{account}"), &e))?;
    Ok(())
}

/// Deletes registration `name`'s hub identity; whether there was one to delete.
pub async fn delete(hub: &Hub, name: &str) -> Result<bool> {
    let (namespace, account) = service_account(name);
    let api = accounts(hub);
    let action = format!("delete serviceaccount {namespace}/{account} (the hub identity)");
    let found = api
        .get_opt(account)
        .await
        .map_err(|e| hub.err(&action, &e))?;
    if !found.is_some_and(|a| is_ours(&a, name)) {
        return Ok(false);
    }
    match api.delete(account, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(hub.err(&action, &e)),
    }
}
