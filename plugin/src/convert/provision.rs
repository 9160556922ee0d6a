//! The ServiceAccount and its RBAC: made, reused or replaced, and owned by the account's
//! binding so that removing the binding removes the rest.

use super::{Access, Options, RBAC_GROUP, TokenKind, ours, post, wait_gone};
use crate::login::Target;
use extcluster_remote::Error;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

/// The role (read-only), then the binding, then ownership of what hangs on the binding; returns
/// the owner reference to the binding.
pub(crate) async fn ensure_rbac(
    target: &Target,
    opts: &Options,
    account: &Account,
    say: &mut dyn FnMut(String),
) -> Result<OwnerReference, Error> {
    let role = match opts.access {
        Access::ReadOnly => Some(ensure_read_only_role(target, opts, say).await?),
        Access::Full => None,
    };
    let binding = ensure_binding(target, opts, opts.access, say).await?;
    let owner = owner_reference(&binding);
    if let Some(sa) = &account.ours {
        let api: Api<ServiceAccount> = Api::namespaced(target.client.clone(), &opts.namespace);
        add_owner(target, &api, sa, &owner).await?;
    }
    if let Some(role) = &role {
        let api: Api<ClusterRole> = Api::all(target.client.clone());
        add_owner(target, &api, role, &owner).await?;
    }
    Ok(owner)
}

pub(crate) struct Account {
    pub(crate) uid: String,
    /// The account as we made it; `None` when it was there before and is only reused.
    pub(crate) ours: Option<ServiceAccount>,
}

pub(crate) async fn ensure_service_account(
    target: &Target,
    opts: &Options,
    say: &mut dyn FnMut(String),
) -> Result<Account, Error> {
    let (ns, name) = (opts.namespace.as_str(), opts.service_account.as_str());
    let api: Api<ServiceAccount> = Api::namespaced(target.client.clone(), ns);
    let mut existing = api
        .get_opt(name)
        .await
        .map_err(|e| target.err(&format!("read serviceaccount {name} in {ns}"), &e))?;
    if let Some(sa) = &existing
        && opts.rotate
        && opts.token == TokenKind::Bound
    {
        // A bound token cannot be revoked on its own: the account it names must go.
        if !ours(&sa.metadata) {
            return Err(Error::Refused(format!(
                "--rotate with --token bound recreates serviceaccount {name} in {ns}, which kubectl-extcluster did not create; pass another --service-account"
            )));
        }
        api.delete(name, &DeleteParams::default())
            .await
            .map_err(|e| target.err(&format!("delete serviceaccount {name} in {ns}"), &e))?;
        wait_gone(&api, name).await.map_err(|e| {
            target.err(&format!("wait for serviceaccount {name} in {ns} to go"), &e)
        })?;
        existing = None;
        say(format!(
            "serviceaccount/{name} deleted (--rotate: every token issued for it stops working)"
        ));
    }
    match existing {
        Some(sa) => {
            let uid = sa.metadata.uid.clone().unwrap_or_default();
            if ours(&sa.metadata) {
                say(format!("serviceaccount/{name} unchanged"));
                Ok(Account {
                    uid,
                    ours: Some(sa),
                })
            } else {
                say(format!(
                    "serviceaccount/{name} reused (it was not made by kubectl-extcluster and is never removed by it)"
                ));
                Ok(Account { uid, ours: None })
            }
        }
        None => {
            let sa = ServiceAccount {
                metadata: ObjectMeta {
                    name: Some(name.to_owned()),
                    namespace: Some(ns.to_owned()),
                    labels: Some(opts.labels()),
                    ..Default::default()
                },
                ..Default::default()
            };
            let made = api
                .create(&post(), &sa)
                .await
                .map_err(|e| target.err(&format!("create serviceaccount {name} in {ns}"), &e))?;
            say(format!("serviceaccount/{name} created"));
            Ok(Account {
                uid: made.metadata.uid.clone().unwrap_or_default(),
                ours: Some(made),
            })
        }
    }
}

pub fn read_only_rules() -> Vec<PolicyRule> {
    vec![
        PolicyRule {
            api_groups: Some(vec!["*".into()]),
            resources: Some(vec!["*".into()]),
            verbs: vec!["get".into(), "list".into(), "watch".into()],
            ..Default::default()
        },
        PolicyRule {
            non_resource_urls: Some(vec!["*".into()]),
            verbs: vec!["get".into()],
            ..Default::default()
        },
    ]
}

async fn ensure_read_only_role(
    target: &Target,
    opts: &Options,
    say: &mut dyn FnMut(String),
) -> Result<ClusterRole, Error> {
    let name = opts.role_name();
    let api: Api<ClusterRole> = Api::all(target.client.clone());
    let wanted = read_only_rules();
    match api
        .get_opt(&name)
        .await
        .map_err(|e| target.err(&format!("read clusterrole {name}"), &e))?
    {
        Some(role) if !ours(&role.metadata) => Err(Error::Refused(format!(
            "clusterrole {name} already exists in the cluster at {} and was not made by kubectl-extcluster; pass another --service-account",
            target.resolved.server
        ))),
        Some(role) if role.rules.as_deref() == Some(wanted.as_slice()) => {
            say(format!(
                "clusterrole.rbac.authorization.k8s.io/{name} unchanged"
            ));
            Ok(role)
        }
        Some(_) => {
            let patched = api
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"rules": wanted})),
                )
                .await
                .map_err(|e| target.err(&format!("update clusterrole {name}"), &e))?;
            say(format!(
                "clusterrole.rbac.authorization.k8s.io/{name} configured"
            ));
            Ok(patched)
        }
        None => {
            let role = ClusterRole {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    labels: Some(opts.labels()),
                    ..Default::default()
                },
                rules: Some(wanted),
                ..Default::default()
            };
            let made = api
                .create(&post(), &role)
                .await
                .map_err(|e| target.err(&format!("create clusterrole {name}"), &e))?;
            say(format!(
                "clusterrole.rbac.authorization.k8s.io/{name} created"
            ));
            Ok(made)
        }
    }
}

pub(crate) fn binding_for(opts: &Options, access: Access) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(opts.binding_name(access)),
            labels: Some(opts.labels()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: RBAC_GROUP.into(),
            kind: "ClusterRole".into(),
            name: match access {
                Access::Full => "cluster-admin".into(),
                Access::ReadOnly => opts.role_name(),
            },
        },
        subjects: Some(vec![Subject {
            api_group: None,
            kind: "ServiceAccount".into(),
            name: opts.service_account.clone(),
            namespace: Some(opts.namespace.clone()),
        }]),
    }
}

pub(crate) fn same_binding(a: &ClusterRoleBinding, b: &ClusterRoleBinding) -> bool {
    let subjects = |x: &ClusterRoleBinding| -> Vec<(String, String, Option<String>)> {
        x.subjects
            .iter()
            .flatten()
            .map(|s| (s.kind.clone(), s.name.clone(), s.namespace.clone()))
            .collect()
    };
    a.role_ref == b.role_ref && subjects(a) == subjects(b)
}

async fn ensure_binding(
    target: &Target,
    opts: &Options,
    access: Access,
    say: &mut dyn FnMut(String),
) -> Result<ClusterRoleBinding, Error> {
    let wanted = binding_for(opts, access);
    let name = opts.binding_name(access);
    let api: Api<ClusterRoleBinding> = Api::all(target.client.clone());
    let shown = format!("clusterrolebinding.rbac.authorization.k8s.io/{name}");
    let existing = api
        .get_opt(&name)
        .await
        .map_err(|e| target.err(&format!("read clusterrolebinding {name}"), &e))?;
    match existing {
        Some(b) if !ours(&b.metadata) => Err(Error::Refused(format!(
            "clusterrolebinding {name} already exists in the cluster at {} and was not made by kubectl-extcluster; pass another --service-account",
            target.resolved.server
        ))),
        Some(b) if same_binding(&b, &wanted) => {
            say(format!("{shown} unchanged"));
            Ok(b)
        }
        Some(_) => {
            // roleRef cannot change in place.
            api.delete(&name, &DeleteParams::default())
                .await
                .map_err(|e| target.err(&format!("replace clusterrolebinding {name}"), &e))?;
            let made = api
                .create(&post(), &wanted)
                .await
                .map_err(|e| target.err(&format!("create clusterrolebinding {name}"), &e))?;
            say(format!("{shown} replaced"));
            Ok(made)
        }
        None => {
            let made = api
                .create(&post(), &wanted)
                .await
                .map_err(|e| target.err(&format!("create clusterrolebinding {name}"), &e))?;
            say(format!("{shown} created"));
            Ok(made)
        }
    }
}

fn owner_reference(binding: &ClusterRoleBinding) -> OwnerReference {
    OwnerReference {
        api_version: ClusterRoleBinding::api_version(&()).into_owned(),
        kind: ClusterRoleBinding::kind(&()).into_owned(),
        name: binding.name_any(),
        uid: binding.metadata.uid.clone().unwrap_or_default(),
        controller: None,
        block_owner_deletion: None,
    }
}

/// Adds `owner` to the object's ownerReferences unless it is there already.
pub(crate) async fn add_owner<K>(
    target: &Target,
    api: &Api<K>,
    object: &K,
    owner: &OwnerReference,
) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let meta = object.meta();
    let mut refs = meta.owner_references.clone().unwrap_or_default();
    if refs.iter().any(|r| r.uid == owner.uid) {
        return Ok(());
    }
    refs.push(owner.clone());
    let name = meta.name.clone().unwrap_or_default();
    let kind = K::kind(&()).to_lowercase();
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"ownerReferences": refs}})),
    )
    .await
    .map_err(|e| target.err(&format!("update {kind} {name}"), &e))?;
    Ok(())
}

/// Refuses to give an account the other access level than the one its binding grants: tokens it
/// issued before would silently gain or lose rights.
pub(crate) async fn refuse_other_access(target: &Target, opts: &Options) -> Result<(), Error> {
    let other = opts.access.other();
    let name = opts.binding_name(other);
    let api: Api<ClusterRoleBinding> = Api::all(target.client.clone());
    let existing = api
        .get_opt(&name)
        .await
        .map_err(|e| target.err(&format!("read clusterrolebinding {name}"), &e))?;
    match existing {
        Some(b) if ours(&b.metadata) && same_binding(&b, &binding_for(opts, other)) => {
            Err(Error::Refused(format!(
                "serviceaccount/{} in {} already has {other} access, and the tokens it issued rely \
                 on that; giving it {} access would change their rights too. Use another account: \
                 `kubectl extcluster convert-kubeconfig --service-account NAME` (the default for {} \
                 access is {})",
                opts.service_account,
                opts.namespace,
                opts.access,
                opts.access,
                opts.access.default_service_account()
            )))
        }
        _ => Ok(()),
    }
}
