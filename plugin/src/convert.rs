//! What convert-kubeconfig does in a cluster, reached with the input kubeconfig's own login (see
//! [`crate::login`]): a ServiceAccount, its RBAC, a token, and a check that the token works; and,
//! for `disconnect --cleanup-remote`, their removal.
//!
//! Everything made here carries `app.kubernetes.io/managed-by=kubectl-extcluster` and the account
//! it is for, and is owned (ownerReferences) by the account's ClusterRoleBinding(s). Removing the
//! bindings is then one request, which the account's own credentials can still make, and the
//! cluster's garbage collector removes the account, its token Secret and its role after them.
//! Objects that were there before and are reused (a ServiceAccount someone else made) are never
//! labelled, owned or removed.
//!
//! No message here ever contains a token.

use crate::errors::Failure;
use crate::kubeconfig_file::{self, Entry};
use crate::login::Target;
use crate::probe;
use anyhow::{Result, anyhow, bail};
use extcluster_core::Mode;
use extcluster_core::api::{MANAGED_BY_LABEL, MANAGER};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Names the ServiceAccount an object was made for (with [`SA_NAMESPACE_LABEL`]).
pub const SA_LABEL: &str = "extcluster.io/service-account";
pub const SA_NAMESPACE_LABEL: &str = "extcluster.io/service-account-namespace";
/// The annotation that ties a token Secret to its account.
pub const SA_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
const SA_UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";
const TOKEN_SECRET_TYPE: &str = "kubernetes.io/service-account-token";
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// How long the token controller gets to fill a token Secret.
pub const TOKEN_WAIT: Duration = Duration::from_secs(30);
/// The API server's shortest TokenRequest lifetime.
pub const MIN_BOUND_DURATION: Duration = Duration::from_secs(600);
/// How long the new credentials get to start working (the API server's caches catch up).
const CHECK_WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Access {
    /// A ClusterRoleBinding to cluster-admin.
    Full,
    /// A ClusterRole with get, list, watch on everything (and get on non-resource URLs).
    ReadOnly,
}

impl Access {
    /// The registration mode these rights serve.
    pub fn mode(self) -> Mode {
        match self {
            Access::Full => Mode::Import,
            Access::ReadOnly => Mode::Connect,
        }
    }

    pub fn for_mode(mode: Mode) -> Self {
        match mode {
            Mode::Import => Access::Full,
            Mode::Connect => Access::ReadOnly,
        }
    }

    fn other(self) -> Self {
        match self {
            Access::Full => Access::ReadOnly,
            Access::ReadOnly => Access::Full,
        }
    }
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Access::Full => "full",
            Access::ReadOnly => "read-only",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenKind {
    /// A kubernetes.io/service-account-token Secret, filled by the token controller; lives until
    /// rotated.
    Secret,
    /// A token from the TokenRequest API, valid for --duration.
    Bound,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub namespace: String,
    pub service_account: String,
    pub access: Access,
    pub token: TokenKind,
    /// For bound tokens.
    pub duration: Duration,
    pub rotate: bool,
}

impl Options {
    /// The defaults `register --convert` uses.
    pub fn for_mode(mode: Mode) -> Self {
        Options {
            namespace: "kube-system".into(),
            service_account: "extcluster-manager".into(),
            access: Access::for_mode(mode),
            token: TokenKind::Secret,
            duration: Duration::from_secs(8760 * 3600),
            rotate: false,
        }
    }

    /// Checks names and durations before anything is sent.
    pub fn check(&self) -> Result<()> {
        for (flag, value) in [
            ("--namespace", &self.namespace),
            ("--service-account", &self.service_account),
        ] {
            if !dns_label(value) {
                bail!(
                    "{flag} {value:?} is not a valid name; use at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit"
                );
            }
        }
        if self.token == TokenKind::Bound && self.duration < MIN_BOUND_DURATION {
            bail!(
                "--duration {} is shorter than the 10m the TokenRequest API allows; pass --duration 10m or longer",
                crate::duration::format(self.duration)
            );
        }
        Ok(())
    }

    pub fn binding_name(&self, access: Access) -> String {
        match access {
            Access::Full => self.service_account.clone(),
            Access::ReadOnly => self.role_name(),
        }
    }

    pub fn role_name(&self) -> String {
        format!("{}-read-only", self.service_account)
    }

    pub fn secret_name(&self) -> String {
        format!("{}-token", self.service_account)
    }

    fn labels(&self) -> BTreeMap<String, String> {
        labels(&self.namespace, &self.service_account)
    }
}

fn labels(namespace: &str, service_account: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.to_owned(), MANAGER.to_owned()),
        (SA_LABEL.to_owned(), service_account.to_owned()),
        (SA_NAMESPACE_LABEL.to_owned(), namespace.to_owned()),
    ])
}

fn selector(namespace: &str, service_account: &str) -> String {
    format!(
        "{MANAGED_BY_LABEL}={MANAGER},{SA_LABEL}={service_account},{SA_NAMESPACE_LABEL}={namespace}"
    )
}

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Made by us: carries our managed-by label.
fn ours(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .is_some_and(|v| v == MANAGER)
}

/// What one conversion produced.
pub struct Converted {
    pub entry: Entry,
    /// When the token expires, for bound tokens.
    pub expires: Option<Timestamp>,
}

/// Makes (or reuses) the account, its RBAC and its token in `target`'s cluster, checks that the
/// token works, and returns the converted context. `say` gets one line per step, kubectl-style
/// (`serviceaccount/extcluster-manager created`).
pub async fn convert(
    target: &Target,
    opts: &Options,
    say: &mut dyn FnMut(String),
) -> Result<Converted> {
    opts.check()?;
    let client = &target.client;
    let ns = opts.namespace.as_str();
    let sa_name = opts.service_account.as_str();

    // The namespace first: the clearest place to learn that the login or the address is wrong.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    match namespaces.get_opt(ns).await {
        Ok(Some(_)) => {}
        Ok(None) => bail!(
            "namespace {ns:?} does not exist in the cluster at {}; create it or pass --namespace",
            target.resolved.server
        ),
        // Reading namespaces may be denied to someone who may still make what is needed.
        Err(e) if Failure::of(&e).code() == Some(403) => {}
        Err(e) => return Err(target.err(&format!("read namespace {ns}"), &e)),
    }

    let sa = ensure_service_account(target, opts, say).await?;

    // The role (read-only), then the binding, then ownership of what hangs on the binding.
    let role = match opts.access {
        Access::ReadOnly => Some(ensure_read_only_role(target, opts, say).await?),
        Access::Full => None,
    };
    let binding = ensure_binding(target, opts, opts.access, say).await?;
    let owner = owner_reference(&binding);
    if let Some(sa) = &sa.ours {
        let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
        add_owner(target, &api, sa, &owner).await?;
    }
    if let Some(role) = &role {
        add_owner(
            target,
            &Api::<ClusterRole>::all(client.clone()),
            role,
            &owner,
        )
        .await?;
    }

    let (token, expires) = match opts.token {
        TokenKind::Secret => {
            let secret = ensure_token_secret(target, opts, &sa.uid, &owner, say).await?;
            (secret, None)
        }
        TokenKind::Bound => {
            let (token, expires) = bound_token(target, opts).await?;
            say(format!(
                "token requested for serviceaccount/{sa_name} (valid {}, until {expires})",
                crate::duration::format(opts.duration)
            ));
            (token, Some(expires))
        }
    };

    // Only once the new binding owns everything: the other access level's binding goes, so the
    // account has exactly the rights asked for.
    remove_other_access(target, opts, say).await?;

    let entry = Entry {
        context: target.resolved.context.clone(),
        cluster_name: target.resolved.cluster_name.clone(),
        cluster: target.resolved.cluster.clone(),
        namespace: target.resolved.namespace.clone(),
        user_name: kubeconfig_file::user_name(sa_name, &target.resolved.context),
        token,
    };
    check_credentials(target, opts, &entry).await?;
    say(format!(
        "credentials checked: serviceaccount/{sa_name} in {ns} has {} access to {}",
        opts.access, target.resolved.server
    ));
    Ok(Converted { entry, expires })
}

struct Account {
    uid: String,
    /// The account as we made it; `None` when it was there before and is only reused.
    ours: Option<ServiceAccount>,
}

async fn ensure_service_account(
    target: &Target,
    opts: &Options,
    say: &mut dyn FnMut(String),
) -> Result<Account> {
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
            bail!(
                "--rotate with --token bound recreates serviceaccount {name} in {ns}, which kubectl-extcluster did not create; pass another --service-account"
            );
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

async fn wait_gone<K>(api: &Api<K>, name: &str) -> Result<(), kube::Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let start = Instant::now();
    while api.get_opt(name).await?.is_some() && start.elapsed() < TOKEN_WAIT {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn post() -> PostParams {
    PostParams {
        dry_run: false,
        field_manager: Some(MANAGER.into()),
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
) -> Result<ClusterRole> {
    let name = opts.role_name();
    let api: Api<ClusterRole> = Api::all(target.client.clone());
    let wanted = read_only_rules();
    match api
        .get_opt(&name)
        .await
        .map_err(|e| target.err(&format!("read clusterrole {name}"), &e))?
    {
        Some(role) if !ours(&role.metadata) => bail!(
            "clusterrole {name} already exists in the cluster at {} and was not made by kubectl-extcluster; pass another --service-account",
            target.resolved.server
        ),
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

fn binding_for(opts: &Options, access: Access) -> ClusterRoleBinding {
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

fn same_binding(a: &ClusterRoleBinding, b: &ClusterRoleBinding) -> bool {
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
) -> Result<ClusterRoleBinding> {
    let wanted = binding_for(opts, access);
    let name = opts.binding_name(access);
    let api: Api<ClusterRoleBinding> = Api::all(target.client.clone());
    let shown = format!("clusterrolebinding.rbac.authorization.k8s.io/{name}");
    let existing = api
        .get_opt(&name)
        .await
        .map_err(|e| target.err(&format!("read clusterrolebinding {name}"), &e))?;
    match existing {
        Some(b) if !ours(&b.metadata) => bail!(
            "clusterrolebinding {name} already exists in the cluster at {} and was not made by kubectl-extcluster; pass another --service-account",
            target.resolved.server
        ),
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
async fn add_owner<K>(
    target: &Target,
    api: &Api<K>,
    object: &K,
    owner: &OwnerReference,
) -> Result<()>
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

/// What became of the token Secret.
enum SecretFate {
    Reused,
    Filling,
    Created,
    Rotated,
    /// It was made for an earlier account of the same name (another UID).
    Stale,
}

/// The token of the account's token Secret: reused when it exists and is filled, made (and
/// waited for) otherwise; replaced with `--rotate`.
async fn ensure_token_secret(
    target: &Target,
    opts: &Options,
    sa_uid: &str,
    owner: &OwnerReference,
    say: &mut dyn FnMut(String),
) -> Result<String> {
    let (ns, name) = (opts.namespace.as_str(), opts.secret_name());
    let api: Api<Secret> = Api::namespaced(target.client.clone(), ns);
    let shown = format!("secret/{name}");
    let existing = api
        .get_opt(&name)
        .await
        .map_err(|e| target.err(&format!("read secret {name} in {ns}"), &e))?;
    let fate = match &existing {
        None => SecretFate::Created,
        Some(secret) => {
            if !ours(&secret.metadata) {
                bail!(
                    "secret {name} already exists in namespace {ns} of the cluster at {} and was not made by kubectl-extcluster; pass another --service-account",
                    target.resolved.server
                );
            }
            let annotations = secret.metadata.annotations.clone().unwrap_or_default();
            let for_this_account = secret.type_.as_deref() == Some(TOKEN_SECRET_TYPE)
                && annotations.get(SA_NAME_ANNOTATION).map(String::as_str)
                    == Some(opts.service_account.as_str())
                && annotations
                    .get(SA_UID_ANNOTATION)
                    .is_none_or(|uid| uid == sa_uid);
            let fate = match (opts.rotate, for_this_account, secret_token(secret)) {
                (true, _, _) => SecretFate::Rotated,
                (false, false, _) => SecretFate::Stale,
                (false, true, Some(_)) => SecretFate::Reused,
                (false, true, None) => SecretFate::Filling,
            };
            match fate {
                SecretFate::Rotated | SecretFate::Stale => {
                    api.delete(&name, &DeleteParams::default())
                        .await
                        .map_err(|e| target.err(&format!("delete secret {name} in {ns}"), &e))?;
                    wait_gone(&api, &name).await.map_err(|e| {
                        target.err(&format!("wait for secret {name} in {ns} to go"), &e)
                    })?;
                }
                _ => add_owner(target, &api, secret, owner).await?,
            }
            fate
        }
    };
    if matches!(
        fate,
        SecretFate::Created | SecretFate::Rotated | SecretFate::Stale
    ) {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.to_owned()),
                labels: Some(opts.labels()),
                annotations: Some(BTreeMap::from([(
                    SA_NAME_ANNOTATION.to_owned(),
                    opts.service_account.clone(),
                )])),
                owner_references: Some(vec![owner.clone()]),
                ..Default::default()
            },
            type_: Some(TOKEN_SECRET_TYPE.into()),
            ..Default::default()
        };
        api.create(&post(), &secret)
            .await
            .map_err(|e| target.err(&format!("create secret {name} in {ns}"), &e))?;
    }
    let token = wait_for_token(target, &api, ns, &name).await?;
    say(match fate {
        SecretFate::Reused => format!("{shown} unchanged (its token is reused)"),
        SecretFate::Filling => {
            format!("{shown} unchanged, token filled by the cluster's token controller")
        }
        SecretFate::Created => {
            format!("{shown} created, token filled by the cluster's token controller")
        }
        SecretFate::Rotated => format!(
            "{shown} replaced (--rotate: the previous token no longer works; give the new kubeconfig to whatever used the old one, a hub registration included)"
        ),
        SecretFate::Stale => {
            format!("{shown} replaced (it belonged to an earlier serviceaccount of the same name)")
        }
    });
    Ok(token)
}

fn secret_token(secret: &Secret) -> Option<String> {
    let bytes = secret.data.as_ref()?.get("token")?;
    let text = String::from_utf8(bytes.0.clone()).ok()?;
    (!text.is_empty()).then_some(text)
}

async fn wait_for_token(
    target: &Target,
    api: &Api<Secret>,
    ns: &str,
    name: &str,
) -> Result<String> {
    let start = Instant::now();
    loop {
        let secret = api
            .get_opt(name)
            .await
            .map_err(|e| target.err(&format!("read secret {name}"), &e))?;
        if let Some(token) = secret.as_ref().and_then(secret_token) {
            return Ok(token);
        }
        if start.elapsed() >= TOKEN_WAIT {
            bail!(
                "the token controller (part of kube-controller-manager) did not fill secret {name} in {ns} within {}s, so there is no token; check that kube-controller-manager runs in the cluster at {}, or pass --token bound",
                TOKEN_WAIT.as_secs(),
                target.resolved.server
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn bound_token(target: &Target, opts: &Options) -> Result<(String, Timestamp)> {
    let (ns, name) = (opts.namespace.as_str(), opts.service_account.as_str());
    let api: Api<ServiceAccount> = Api::namespaced(target.client.clone(), ns);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: Vec::new(),
            expiration_seconds: Some(opts.duration.as_secs().min(i64::MAX as u64) as i64),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = api
        .create_token_request(name, &post(), &request)
        .await
        .map_err(|e| {
            target.err(
                &format!("request a token for serviceaccount {name} in {ns}"),
                &e,
            )
        })?;
    let status = answer.status.ok_or_else(|| {
        anyhow!(
            "the cluster at {} answered the TokenRequest for serviceaccount {name} without a token",
            target.resolved.server
        )
    })?;
    Ok((status.token, status.expiration_timestamp.0))
}

/// Removes the binding (and role) of the other access level made for the same account.
async fn remove_other_access(
    target: &Target,
    opts: &Options,
    say: &mut dyn FnMut(String),
) -> Result<()> {
    let other = opts.access.other();
    let name = opts.binding_name(other);
    let api: Api<ClusterRoleBinding> = Api::all(target.client.clone());
    let existing = api
        .get_opt(&name)
        .await
        .map_err(|e| target.err(&format!("read clusterrolebinding {name}"), &e))?;
    if let Some(b) = existing
        && ours(&b.metadata)
        && same_binding(&b, &binding_for(opts, other))
    {
        api.delete(&name, &DeleteParams::default())
            .await
            .map_err(|e| target.err(&format!("delete clusterrolebinding {name}"), &e))?;
        say(format!(
            "clusterrolebinding.rbac.authorization.k8s.io/{name} deleted (serviceaccount/{} now has {} access only)",
            opts.service_account, opts.access
        ));
    }
    if other == Access::ReadOnly {
        let roles: Api<ClusterRole> = Api::all(target.client.clone());
        let role = opts.role_name();
        if let Some(r) = roles
            .get_opt(&role)
            .await
            .map_err(|e| target.err(&format!("read clusterrole {role}"), &e))?
            && ours(&r.metadata)
        {
            match roles.delete(&role, &DeleteParams::default()).await {
                Ok(_) => say(format!(
                    "clusterrole.rbac.authorization.k8s.io/{role} deleted"
                )),
                Err(e) if Failure::of(&e).is_not_found() => {}
                Err(e) => return Err(target.err(&format!("delete clusterrole {role}"), &e)),
            }
        }
    }
    Ok(())
}

/// Asks the cluster, with the new token, whether it has the rights `opts.access` promises. The
/// API server's caches may take a moment to see a new account, binding or Secret, so a refusal is
/// retried for a while before it counts.
async fn check_credentials(target: &Target, opts: &Options, entry: &Entry) -> Result<()> {
    let kubeconfig = kubeconfig_file::single(entry);
    let client = probe::client(&kubeconfig).await.map_err(|f| {
        anyhow!(
            "cannot set up a client with the new credentials for context {:?}: {f}",
            entry.context
        )
    })?;
    let start = Instant::now();
    let why = loop {
        let why = match probe::missing_rights(&client, opts.access.mode()).await {
            Ok(missing) if missing.is_empty() => return Ok(()),
            Ok(missing) => format!(
                "they lack {}",
                missing
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(Failure::Status { code: 401, .. }) => {
                "the cluster refuses them (401 Unauthorized)".to_owned()
            }
            Err(other) => format!("{other}"),
        };
        if start.elapsed() >= CHECK_WAIT {
            break why;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    bail!(
        "the new credentials for context {:?} do not work against {} after {}s: {why}; nothing was written, run the command again once the cluster has settled",
        entry.context,
        target.resolved.server,
        CHECK_WAIT.as_secs()
    )
}

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
    let secret = format!("{service_account}-token");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    if let Ok(Some(s)) = secrets.get_opt(&secret).await
        && owned(&s.metadata)
    {
        report
            .collected
            .push(format!("secret/{secret} in {namespace}"));
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

/// The token a stored kubeconfig authenticates with, if it is a plain token user.
pub fn token_of(kubeconfig: &serde_json::Value) -> Option<String> {
    let current = kubeconfig.get("current-context")?.as_str()?;
    let ctx = kubeconfig
        .get("contexts")?
        .as_array()?
        .iter()
        .find(|c| c["name"] == current)?;
    let user = ctx["context"]["user"].as_str()?;
    let entry = kubeconfig
        .get("users")?
        .as_array()?
        .iter()
        .find(|u| u["name"] == user)?;
    entry["user"]["token"].as_str().map(str::to_owned)
}

/// Builds a token Secret's data in tests.
#[cfg(test)]
fn filled(token: &str) -> Secret {
    Secret {
        data: Some(BTreeMap::from([(
            "token".to_owned(),
            k8s_openapi::ByteString(token.as_bytes().to_vec()),
        )])),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(access: Access) -> Options {
        Options {
            access,
            ..Options::for_mode(Mode::Import)
        }
    }

    #[test]
    fn names_and_labels() {
        let o = opts(Access::Full);
        assert_eq!(o.binding_name(Access::Full), "extcluster-manager");
        assert_eq!(
            o.binding_name(Access::ReadOnly),
            "extcluster-manager-read-only"
        );
        assert_eq!(o.role_name(), "extcluster-manager-read-only");
        assert_eq!(o.secret_name(), "extcluster-manager-token");
        assert_eq!(
            selector(&o.namespace, &o.service_account),
            "app.kubernetes.io/managed-by=kubectl-extcluster,extcluster.io/service-account=extcluster-manager,extcluster.io/service-account-namespace=kube-system"
        );
        assert_eq!(
            cleanup_command("kube-system", "extcluster-manager"),
            format!(
                "kubectl delete clusterrolebinding -l {}",
                selector(&o.namespace, &o.service_account)
            )
        );
        let full = binding_for(&o, Access::Full);
        assert_eq!(full.role_ref.name, "cluster-admin");
        let ro = binding_for(&o, Access::ReadOnly);
        assert_eq!(ro.role_ref.name, "extcluster-manager-read-only");
        assert!(same_binding(&full, &full.clone()));
        assert!(!same_binding(&full, &ro));
        assert!(ours(&full.metadata));
        assert_eq!(Access::for_mode(Mode::Connect), Access::ReadOnly);
        assert_eq!(Access::ReadOnly.mode(), Mode::Connect);
        assert_eq!(Access::ReadOnly.to_string(), "read-only");
    }

    #[test]
    fn read_only_means_read() {
        let rules = read_only_rules();
        for r in &rules {
            for v in &r.verbs {
                assert!(["get", "list", "watch"].contains(&v.as_str()), "{v}");
            }
        }
        assert_eq!(
            rules[1].non_resource_urls.as_deref(),
            Some(&["*".to_owned()][..])
        );
    }

    #[test]
    fn options_are_checked() {
        let mut o = opts(Access::Full);
        o.check().unwrap();
        o.service_account = "Bad_Name".into();
        assert!(
            o.check()
                .unwrap_err()
                .to_string()
                .contains("--service-account")
        );
        let mut o = opts(Access::Full);
        o.token = TokenKind::Bound;
        o.duration = Duration::from_secs(300);
        let msg = o.check().unwrap_err().to_string();
        assert!(msg.contains("5m0s") && msg.contains("10m"), "{msg}");
        o.duration = MIN_BOUND_DURATION;
        o.check().unwrap();
    }

    #[test]
    fn tokens_of_stored_kubeconfigs() {
        let kc = json!({
            "current-context": "b",
            "contexts": [
                {"name": "a", "context": {"cluster": "c", "user": "ua"}},
                {"name": "b", "context": {"cluster": "c", "user": "ub"}}
            ],
            "users": [
                {"name": "ua", "user": {"token": "ta"}},
                {"name": "ub", "user": {"token": "tb"}}
            ]
        });
        assert_eq!(token_of(&kc).as_deref(), Some("tb"));
        assert_eq!(token_of(&json!({"current-context": "x"})), None);
        assert_eq!(secret_token(&filled("t")).as_deref(), Some("t"));
        assert_eq!(secret_token(&filled("")), None);
        assert_eq!(secret_token(&Secret::default()), None);
    }
}
