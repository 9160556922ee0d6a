//! The account's token: from a token Secret the cluster's token controller fills (reused, made,
//! or replaced with `--rotate`), or a bound token from the TokenRequest API.

use super::{
    Options, SA_NAME_ANNOTATION, SA_UID_ANNOTATION, TOKEN_SECRET_TYPE, TOKEN_WAIT, TokenKind,
    go_duration, ours, post, wait_failure,
};
use crate::login::Target;
use extcluster_remote::Error;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::wait::await_condition;
use std::collections::BTreeMap;

/// The token `opts.token` asks for, and when it expires (bound tokens only).
pub(crate) async fn issue(
    target: &Target,
    opts: &Options,
    sa_uid: &str,
    owner: &OwnerReference,
    say: &mut dyn FnMut(String),
) -> Result<(String, Option<Timestamp>), Error> {
    match opts.token {
        TokenKind::Secret => {
            let token = ensure_token_secret(target, opts, sa_uid, owner, say).await?;
            Ok((token, None))
        }
        TokenKind::Bound => {
            let (token, expires) = bound_token(target, opts).await?;
            say(format!(
                "token requested for serviceaccount/{} (valid {}, until {expires})",
                opts.service_account,
                go_duration(opts.duration)
            ));
            Ok((token, Some(expires)))
        }
    }
}

/// What became of the token Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecretFate {
    Reused,
    Filling,
    Created,
    Rotated,
    /// It was made for an earlier account of the same name (another UID).
    Stale,
}

impl SecretFate {
    /// Whether the Secret is (re)made, after any old one is deleted.
    fn makes(self) -> bool {
        matches!(
            self,
            SecretFate::Created | SecretFate::Rotated | SecretFate::Stale
        )
    }

    fn line(self, shown: &str) -> String {
        match self {
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
            SecretFate::Stale => format!(
                "{shown} replaced (it belonged to an earlier serviceaccount of the same name)"
            ),
        }
    }
}

/// The token of the account's token Secret: reused when it exists and is filled, made (and
/// waited for) otherwise. `--rotate` makes a new Secret under a new name (a legacy token's claims
/// name its Secret and nothing else that changes, so one re-made under the same name carries the
/// very same token), waits for its token, and only then deletes the older ones: their tokens stop
/// working, and there is no moment without a working one.
async fn ensure_token_secret(
    target: &Target,
    opts: &Options,
    sa_uid: &str,
    owner: &OwnerReference,
    say: &mut dyn FnMut(String),
) -> Result<String, Error> {
    let (ns, base) = (opts.namespace.as_str(), opts.secret_name());
    let api: Api<Secret> = Api::namespaced(target.client.clone(), ns);
    let mut older = account_secrets(target, &api, opts).await?;
    let Some(current) = older.pop() else {
        let made = create_token_secret(target, &api, opts, owner, false).await?;
        let token = wait_for_token(target, &api, ns, &made).await?;
        say(SecretFate::Created.line(&format!("secret/{made}")));
        return Ok(token);
    };
    let name = current.metadata.name.clone().unwrap_or(base);
    let fate = fate_of(opts, &current, sa_uid);
    if !fate.makes() {
        super::provision::add_owner(target, &api, &current, owner).await?;
        let token = wait_for_token(target, &api, ns, &name).await?;
        say(fate.line(&format!("secret/{name}")));
        return Ok(token);
    }
    let made = create_token_secret(target, &api, opts, owner, true).await?;
    let token = wait_for_token(target, &api, ns, &made).await?;
    if secret_token(&current).is_some_and(|old| old == token) {
        return Err(Error::Cluster(format!(
            "the cluster at {} issued secret/{made} the same token as secret/{name}; nothing was revoked",
            target.resolved.server
        )));
    }
    older.push(current);
    for old in older.iter().filter_map(|s| s.metadata.name.as_deref()) {
        api.delete(old, &DeleteParams::default())
            .await
            .map_err(|e| target.err(&format!("delete secret {old} in {ns}"), &e))?;
    }
    say(fate.line(&format!("secret/{name} → secret/{made}")));
    Ok(token)
}

/// The account's token Secrets this tool made, oldest first; a Secret of the first name that
/// someone else made is refused.
async fn account_secrets(
    target: &Target,
    api: &Api<Secret>,
    opts: &Options,
) -> Result<Vec<Secret>, Error> {
    let (ns, name) = (opts.namespace.as_str(), opts.secret_name());
    if let Some(named) = api
        .get_opt(&name)
        .await
        .map_err(|e| target.err(&format!("read secret {name} in {ns}"), &e))?
        && !ours(&named.metadata)
    {
        return Err(Error::Refused(format!(
            "secret {name} already exists in namespace {ns} of the cluster at {} and was not made by kubectl-extcluster; pass another --service-account",
            target.resolved.server
        )));
    }
    let selector = super::selector(ns, &opts.service_account);
    let mut found = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| target.err(&format!("list secrets in {ns}"), &e))?
        .items;
    found.retain(|s| s.type_.as_deref() == Some(TOKEN_SECRET_TYPE) && ours(&s.metadata));
    found.sort_by(|a, b| {
        let at = |s: &Secret| s.metadata.creation_timestamp.as_ref().map(|t| t.0);
        (at(a), &a.metadata.name).cmp(&(at(b), &b.metadata.name))
    });
    Ok(found)
}

/// Makes a token Secret for the account: under its first name, or a new one (`NAME-xxxxx`) for a
/// rotation. Returns the name.
async fn create_token_secret(
    target: &Target,
    api: &Api<Secret>,
    opts: &Options,
    owner: &OwnerReference,
    fresh_name: bool,
) -> Result<String, Error> {
    let ns = opts.namespace.as_str();
    let mut secret = token_secret(opts, owner);
    if fresh_name {
        secret.metadata.generate_name = secret.metadata.name.take().map(|n| format!("{n}-"));
    }
    let made = api
        .create(&post(), &secret)
        .await
        .map_err(|e| target.err(&format!("create a token secret in {ns}"), &e))?;
    Ok(made.metadata.name.unwrap_or_default())
}

/// What happens to the account's newest token Secret.
fn fate_of(opts: &Options, secret: &Secret, sa_uid: &str) -> SecretFate {
    let annotations = secret.metadata.annotations.clone().unwrap_or_default();
    let for_this_account = secret.type_.as_deref() == Some(TOKEN_SECRET_TYPE)
        && annotations.get(SA_NAME_ANNOTATION).map(String::as_str)
            == Some(opts.service_account.as_str())
        && annotations
            .get(SA_UID_ANNOTATION)
            .is_none_or(|uid| uid == sa_uid);
    match (opts.rotate, for_this_account, secret_token(secret)) {
        (true, _, _) => SecretFate::Rotated,
        (false, false, _) => SecretFate::Stale,
        (false, true, Some(_)) => SecretFate::Reused,
        (false, true, None) => SecretFate::Filling,
    }
}

/// A token Secret for the account, for the token controller to fill.
fn token_secret(opts: &Options, owner: &OwnerReference) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(opts.secret_name()),
            namespace: Some(opts.namespace.clone()),
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
    }
}

pub(crate) fn secret_token(secret: &Secret) -> Option<String> {
    let bytes = secret.data.as_ref()?.get("token")?;
    let text = String::from_utf8(bytes.0.clone()).ok()?;
    (!text.is_empty()).then_some(text)
}

/// The token once the token controller has filled the Secret, for at most [`TOKEN_WAIT`].
async fn wait_for_token(
    target: &Target,
    api: &Api<Secret>,
    ns: &str,
    name: &str,
) -> Result<String, Error> {
    let filled = await_condition(api.clone(), name, |secret: Option<&Secret>| {
        secret.and_then(secret_token).is_some()
    });
    match tokio::time::timeout(TOKEN_WAIT, filled).await {
        Ok(Ok(secret)) => {
            if let Some(token) = secret.as_ref().and_then(secret_token) {
                return Ok(token);
            }
        }
        Ok(Err(e)) => return Err(target.err(&format!("read secret {name}"), &wait_failure(e))),
        Err(_) => {}
    }
    Err(Error::Cluster(format!(
        "the token controller (part of kube-controller-manager) did not fill secret {name} in {ns} within {}s, so there is no token; check that kube-controller-manager runs in the cluster at {}, or pass --token bound",
        TOKEN_WAIT.as_secs(),
        target.resolved.server
    )))
}

async fn bound_token(target: &Target, opts: &Options) -> Result<(String, Timestamp), Error> {
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
        Error::Cluster(format!(
            "the cluster at {} answered the TokenRequest for serviceaccount {name} without a token",
            target.resolved.server
        ))
    })?;
    Ok((status.token, status.expiration_timestamp.0))
}
