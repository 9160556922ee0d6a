//! `disconnect --cleanup-remote`: what convert-kubeconfig made for an account, removed through
//! its bindings.

use super::{ours, selector};
use extcluster_remote::failure::Failure;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Client, ResourceExt};

/// What `disconnect --cleanup-remote` did in the cluster.
#[derive(Debug, Default)]
pub struct Cleanup {
    /// The bindings deleted.
    pub deleted: Vec<String>,
    /// What the garbage collector removes after them (it was owned by the bindings).
    pub collected: Vec<String>,
}

/// Removes what convert-kubeconfig made for `namespace/service_account`: its labelled bindings,
/// in one request, and through them (garbage collection) the account, token Secret and role they
/// own. Objects without our label are never touched.
pub async fn cleanup(
    client: &Client,
    namespace: &str,
    service_account: &str,
) -> Result<Cleanup, Failure> {
    let sel = selector(namespace, service_account);
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    let found = bindings
        .list(&ListParams::default().labels(&sel))
        .await
        .map_err(|e| Failure::of(&e))?
        .items;
    let mut report = Cleanup::default();
    if found.is_empty() {
        return Ok(report);
    }
    let uids: Vec<String> = found
        .iter()
        .filter_map(|b| b.metadata.uid.clone())
        .collect();
    let owned = |meta: &ObjectMeta| {
        ours(meta)
            && meta
                .owner_references
                .iter()
                .flatten()
                .any(|r| uids.contains(&r.uid))
    };
    // What will follow the bindings, read while the credentials still work (best effort).
    let sa_api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    if let Ok(Some(sa)) = sa_api.get_opt(service_account).await
        && owned(&sa.metadata)
    {
        report
            .collected
            .push(format!("serviceaccount/{service_account} in {namespace}"));
    }
    // The account's token Secrets: one, or a newer one under another name after `--rotate`.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    if let Ok(list) = secrets.list(&ListParams::default().labels(&sel)).await {
        for s in list.items.iter().filter(|s| owned(&s.metadata)) {
            let name = s.name_any();
            report
                .collected
                .push(format!("secret/{name} in {namespace}"));
        }
    }
    let role = format!("{service_account}-read-only");
    let roles: Api<ClusterRole> = Api::all(client.clone());
    if let Ok(Some(r)) = roles.get_opt(&role).await
        && owned(&r.metadata)
    {
        report.collected.push(format!("clusterrole/{role}"));
    }
    bindings
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&sel),
        )
        .await
        .map_err(|e| Failure::of(&e))?;
    report.deleted = found
        .iter()
        .map(|b| format!("clusterrolebinding/{}", b.name_any()))
        .collect();
    Ok(report)
}

/// The one kubectl command that removes what convert-kubeconfig made for an account, for when
/// the plugin cannot (read-only credentials, an unreachable cluster).
pub fn cleanup_command(namespace: &str, service_account: &str) -> String {
    format!(
        "kubectl delete clusterrolebinding -l {}",
        selector(namespace, service_account)
    )
}
