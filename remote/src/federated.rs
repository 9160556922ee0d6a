//! Reaching a federated registration: tokens of the hub's own ServiceAccount for it, minted with
//! TokenRequest (the caller's hub credentials decide whether it may) and never written anywhere.

use crate::failure::Failure;
use extcluster_core::Federated;
use extcluster_core::federated::service_account;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::config::Kubeconfig;
use kube::{Api, Client};
use secrecy::{ExposeSecret, SecretString};

/// A token minted for a registration's hub identity, and when it stops working.
#[derive(Clone)]
pub struct Minted {
    pub token: SecretString,
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Minted {{ expires_at: {} }}", self.expires_at)
    }
}

/// Why no token could be minted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MintError {
    #[error(
        "the hub identity {namespace}/{name} of federated registration {name:?} is missing on \
         the hub; disconnect it and register it again with --federated"
    )]
    Missing { namespace: String, name: String },
    #[error(
        "may not mint tokens for the hub identity {namespace}/{name} ({message}); that needs \
         create on serviceaccounts/token for it on the hub, as the Role extcluster-access grants \
         when bound for this registration"
    )]
    Forbidden {
        namespace: String,
        name: String,
        message: String,
    },
    #[error("cannot mint a token for the hub identity {namespace}/{name}: {failure}")]
    Hub {
        namespace: String,
        name: String,
        failure: Failure,
    },
}

/// Mints a token for registration `name`'s hub identity, as `federated` says, with `hub`.
pub async fn mint(hub: &Client, name: &str, federated: &Federated) -> Result<Minted, MintError> {
    let (namespace, account) = service_account(name);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![federated.audience.clone()],
            expiration_seconds: Some(federated.expiration_seconds),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = Api::<ServiceAccount>::namespaced(hub.clone(), namespace)
        .create_token_request(account, &PostParams::default(), &request)
        .await
        .map_err(|e| refused(namespace, account, &e))?;
    let status = answer.status.ok_or_else(|| MintError::Hub {
        namespace: namespace.into(),
        name: account.into(),
        failure: Failure::Other("the hub answered a TokenRequest without a token".into()),
    })?;
    Ok(Minted {
        token: status.token.into(),
        expires_at: status.expiration_timestamp.0,
    })
}

fn refused(namespace: &str, name: &str, e: &kube::Error) -> MintError {
    let (namespace, name) = (namespace.to_owned(), name.to_owned());
    match Failure::of(e) {
        Failure::Status { code: 404, .. } => MintError::Missing { namespace, name },
        Failure::Status {
            code: 403, message, ..
        } => MintError::Forbidden {
            namespace,
            name,
            message,
        },
        failure => MintError::Hub {
            namespace,
            name,
            failure,
        },
    }
}

/// `kubeconfig` (the stored one, which holds no credential) authenticating with `minted`.
pub fn with_token(mut kubeconfig: Kubeconfig, minted: &Minted) -> Kubeconfig {
    let current = crate::kubeconfig::file::current_user_name(&kubeconfig);
    for named in &mut kubeconfig.auth_infos {
        if current.as_deref().is_none_or(|c| c == named.name) {
            named.auth_info = Some(crate::kubeconfig::file::token_user(
                minted.token.expose_secret().to_owned(),
            ));
        }
    }
    kubeconfig
}
