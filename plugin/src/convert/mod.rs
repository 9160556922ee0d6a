//! What convert-kubeconfig does in a cluster, reached with the input kubeconfig's own login (see
//! [`crate::login`]): a ServiceAccount and its RBAC ([`provision`]), a token ([`token`]), and a
//! check that the token works ([`verify`]); and, for `disconnect --cleanup-remote`, their removal
//! ([`cleanup`]).
//!
//! Everything made here carries `app.kubernetes.io/managed-by=kubectl-extcluster` and the account
//! it is for, and is owned (ownerReferences) by the account's ClusterRoleBinding(s). Removing the
//! bindings is then one request, which the account's own credentials can still make, and the
//! cluster's garbage collector removes the account, its token Secret and its role after them.
//! Objects that were there before and are reused (a ServiceAccount someone else made) are never
//! labelled, owned or removed.
//!
//! No message here ever contains a token.

mod cleanup;
mod provision;
mod token;
mod verify;

pub use cleanup::{cleanup, cleanup_command};
pub use provision::read_only_rules;

use crate::login::Target;
use extcluster_core::Mode;
use extcluster_core::api::{MANAGED_BY_LABEL, MANAGER};
use extcluster_remote::Error;
use extcluster_remote::failure::Failure;
use extcluster_remote::kubeconfig::{Entry, file};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::wait::await_condition;
use kube::runtime::watcher;
use std::collections::BTreeMap;
use std::time::Duration;

/// Names the ServiceAccount an object was made for (with [`SA_NAMESPACE_LABEL`]).
pub const SA_LABEL: &str = "extcluster.io/service-account";
pub const SA_NAMESPACE_LABEL: &str = "extcluster.io/service-account-namespace";
/// The annotation that ties a token Secret to its account.
pub const SA_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
pub(crate) const SA_UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";
pub(crate) const TOKEN_SECRET_TYPE: &str = "kubernetes.io/service-account-token";
pub(crate) const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// How long the token controller gets to fill a token Secret.
pub const TOKEN_WAIT: Duration = Duration::from_secs(30);
/// The API server's shortest TokenRequest lifetime.
pub const MIN_BOUND_DURATION: Duration =
    Duration::from_secs(extcluster_core::federated::MIN_EXPIRATION_SECONDS.unsigned_abs());
/// How long the new credentials get to start working (the API server's caches catch up).
pub(crate) const CHECK_WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// The account convert-kubeconfig makes for this access level unless told otherwise: one per
    /// level, so a conversion at one level never touches the rights of tokens issued at the other.
    pub fn default_service_account(self) -> &'static str {
        match self {
            Access::Full => "extcluster-manager",
            Access::ReadOnly => "extcluster-reader",
        }
    }

    pub(crate) fn other(self) -> Self {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
            service_account: Access::for_mode(mode).default_service_account().into(),
            access: Access::for_mode(mode),
            token: TokenKind::Secret,
            duration: Duration::from_secs(8760 * 3600),
            rotate: false,
        }
    }

    /// Checks names and durations before anything is sent.
    pub fn check(&self) -> Result<(), Error> {
        for (flag, value) in [
            ("--namespace", &self.namespace),
            ("--service-account", &self.service_account),
        ] {
            if !dns_label(value) {
                return Err(Error::Refused(format!(
                    "{flag} {value:?} is not a valid name; use at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit"
                )));
            }
        }
        if self.token == TokenKind::Bound && self.duration < MIN_BOUND_DURATION {
            return Err(Error::Refused(format!(
                "--duration {} is shorter than the 10m the TokenRequest API allows; pass --duration 10m or longer",
                go_duration(self.duration)
            )));
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

    pub(crate) fn labels(&self) -> BTreeMap<String, String> {
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

pub(crate) fn selector(namespace: &str, service_account: &str) -> String {
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
pub(crate) fn ours(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .is_some_and(|v| v == MANAGER)
}

/// What one conversion produced.
pub struct Converted {
    /// The converted context, authenticating with the new token.
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
) -> Result<Converted, Error> {
    opts.check()?;
    check_namespace(target, &opts.namespace).await?;
    // Before anything is made: an account that issued credentials at the other level keeps it.
    provision::refuse_other_access(target, opts).await?;
    let account = provision::ensure_service_account(target, opts, say).await?;
    let owner = provision::ensure_rbac(target, opts, &account, say).await?;
    let (token, expires) = token::issue(target, opts, &account.uid, &owner, say).await?;

    let sa_name = opts.service_account.as_str();
    let entry = target.resolved.with_user(
        file::user_name(sa_name, &target.resolved.context),
        file::token_user(token),
    );
    verify::check_credentials(target, opts, &entry).await?;
    say(format!(
        "credentials checked: serviceaccount/{sa_name} in {} has {} access to {}",
        opts.namespace, opts.access, target.resolved.server
    ));
    Ok(Converted { entry, expires })
}

/// The namespace first: the clearest place to learn that the login or the address is wrong.
async fn check_namespace(target: &Target, ns: &str) -> Result<(), Error> {
    let namespaces: Api<Namespace> = Api::all(target.client.clone());
    match namespaces.get_opt(ns).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Error::Refused(format!(
            "namespace {ns:?} does not exist in the cluster at {}; create it or pass --namespace",
            target.resolved.server
        ))),
        // Reading namespaces may be denied to someone who may still make what is needed.
        Err(e) if Failure::of(&e).code() == Some(403) => Ok(()),
        Err(e) => Err(target.err(&format!("read namespace {ns}"), &e)),
    }
}

/// Waits, up to [`TOKEN_WAIT`], until `name` is gone. Past that the caller goes on: the request
/// that needs it gone says whether it still matters.
async fn wait_gone<K>(api: &Api<K>, name: &str) -> Result<(), kube::Error>
where
    K: Clone + std::fmt::Debug + Send + serde::de::DeserializeOwned + kube::Resource + 'static,
{
    let gone = await_condition(api.clone(), name, |object: Option<&K>| object.is_none());
    match tokio::time::timeout(TOKEN_WAIT, gone).await {
        Ok(Ok(_)) | Err(_) => Ok(()),
        Ok(Err(e)) => Err(wait_failure(e)),
    }
}

/// The request error under a failed wait, for the sentence that explains it.
fn wait_failure(e: kube::runtime::wait::Error) -> kube::Error {
    let kube::runtime::wait::Error::ProbeFailed(failed) = e;
    match failed {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => e,
        watcher::Error::WatchError(status) => kube::Error::Api(status),
        other => kube::Error::Service(Box::new(other)),
    }
}

fn post() -> PostParams {
    PostParams {
        dry_run: false,
        field_manager: Some(MANAGER.into()),
    }
}

/// Whole seconds the way Go prints durations, as kubectl users read them: `8760h0m0s`, `10m0s`,
/// `45s` (kube's `Duration` prints Rust's form, `31536000s`).
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::provision::{binding_for, same_binding};
    use super::token::secret_token;
    use super::*;
    use extcluster_remote::kubeconfig::file::token_of;
    use k8s_openapi::api::core::v1::Secret;

    /// Builds a token Secret's data in tests.
    fn filled(token: &str) -> Secret {
        Secret {
            data: Some(BTreeMap::from([(
                "token".to_owned(),
                k8s_openapi::ByteString(token.as_bytes().to_vec()),
            )])),
            ..Default::default()
        }
    }

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
        let kc: kube::config::Kubeconfig = serde_json::from_value(serde_json::json!({
            "current-context": "b",
            "contexts": [
                {"name": "a", "context": {"cluster": "c", "user": "ua"}},
                {"name": "b", "context": {"cluster": "c", "user": "ub"}}
            ],
            "users": [
                {"name": "ua", "user": {"token": "ta"}},
                {"name": "ub", "user": {"token": "tb"}}
            ]
        }))
        .unwrap();
        assert_eq!(token_of(&kc).as_deref(), Some("tb"));
        let none: kube::config::Kubeconfig =
            serde_json::from_value(serde_json::json!({"current-context": "x"})).unwrap();
        assert_eq!(token_of(&none), None);
        assert_eq!(secret_token(&filled("t")).as_deref(), Some("t"));
        assert_eq!(secret_token(&filled("")), None);
        assert_eq!(secret_token(&Secret::default()), None);
    }
}
