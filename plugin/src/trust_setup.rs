//! What a cluster needs to trust a federated registration's hub identity, and the hub-side
//! facts it rests on: the hub's issuer (read from its discovery document), whether that document
//! is readable without credentials, the username the cluster will see, the API server
//! settings for each way clusters are run, and the RBAC for that username, which can be applied
//! through a kubeconfig given once.

use crate::convert::{RBAC_GROUP, read_only_rules};
use crate::hub::Hub;
use anyhow::{Result, anyhow};
use extcluster_core::federated::{BINDING_PREFIX, username};
use extcluster_core::{Federated, Mode};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use std::collections::BTreeMap;

/// The read-only ClusterRole a Connect registration's hub identity is bound to.
pub const READER_ROLE: &str = "extcluster-hub-reader";
const DISCOVERY: &str = "/.well-known/openid-configuration";

/// The hub's issuer as its discovery document names it, and whether anyone may read it.
pub struct Issuer {
    pub url: String,
    pub jwks_uri: String,
    /// The algorithms the hub signs tokens with; an OIDC authenticator accepts RS256 only
    /// unless told otherwise.
    pub signing_algs: Vec<String>,
    /// `None`: readable without credentials; else why not.
    pub anonymous_refusal: Option<String>,
    /// The CA that verifies the hub's serving certificate, PEM, when the kubeconfig names one.
    pub ca_pem: Option<String>,
}

/// Reads the hub's issuer as a cluster would, without credentials; with the caller's when that
/// is refused, to say what is missing.
pub async fn issuer(hub: &Hub) -> Result<Issuer> {
    let anonymous = extcluster_remote::transport::client(hub.anonymous.clone()).map_err(|e| {
        anyhow!(
            "cannot set up an anonymous client for the hub: {}",
            e.failure()
        )
    })?;
    let (document, anonymous_refusal) = match get_json(&anonymous, DISCOVERY).await {
        Ok(document) => (document, None),
        Err(refusal) => {
            let document = get_json(&hub.client, DISCOVERY).await.map_err(|why| {
                anyhow!(
                    "cannot read the hub's issuer discovery document ({DISCOVERY}) without \
                     credentials ({refusal}) nor with yours ({why}); a federated registration \
                     needs it readable by anyone: on the hub, bind \
                     system:service-account-issuer-discovery to system:unauthenticated \
                     (manifests/issuer-discovery)"
                )
            })?;
            (document, Some(refusal))
        }
    };
    let field = |k: &str| document[k].as_str().unwrap_or_default().to_owned();
    Ok(Issuer {
        url: field("issuer"),
        jwks_uri: field("jwks_uri"),
        signing_algs: document["id_token_signing_alg_values_supported"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
        anonymous_refusal,
        ca_pem: hub.anonymous.root_cert.as_ref().map(|certs| pem(certs)),
    })
}

async fn get_json(client: &Client, path: &str) -> Result<serde_json::Value, String> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    client
        .request::<serde_json::Value>(request)
        .await
        .map_err(|e| extcluster_remote::failure::Failure::of(&e).to_string())
}

fn pem(certs: &[Vec<u8>]) -> String {
    use base64::Engine;
    let mut out = String::new();
    for der in certs {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

/// The ClusterRoleBinding (and, for Connect, the read-only ClusterRole) that gives registration
/// `name`'s hub identity the rights `mode` needs on the cluster.
pub fn rbac(
    name: &str,
    federated: &Federated,
    mode: Mode,
) -> (Option<ClusterRole>, ClusterRoleBinding) {
    let labels = BTreeMap::from([(
        extcluster_core::api::MANAGED_BY_LABEL.to_owned(),
        extcluster_core::api::MANAGER.to_owned(),
    )]);
    let meta = |n: &str| ObjectMeta {
        name: Some(n.to_owned()),
        labels: Some(labels.clone()),
        ..Default::default()
    };
    let (role, role_name) = match mode {
        Mode::Connect => {
            let role = ClusterRole {
                metadata: meta(READER_ROLE),
                rules: Some(read_only_rules()),
                ..Default::default()
            };
            (Some(role), READER_ROLE)
        }
        Mode::Import => (None, "cluster-admin"),
    };
    let binding = ClusterRoleBinding {
        metadata: meta(&format!("{BINDING_PREFIX}{name}")),
        role_ref: RoleRef {
            api_group: RBAC_GROUP.into(),
            kind: "ClusterRole".into(),
            name: role_name.into(),
        },
        subjects: Some(vec![Subject {
            api_group: Some(RBAC_GROUP.into()),
            kind: "User".into(),
            name: username(name, federated),
            ..Default::default()
        }]),
    };
    (role, binding)
}

/// Applies [`rbac`] on the cluster `client` reaches (server-side apply: the same again changes
/// nothing); says what it did, a line per object.
pub async fn apply(
    client: &Client,
    name: &str,
    federated: &Federated,
    mode: Mode,
) -> Result<Vec<String>> {
    let params = PatchParams::apply(extcluster_core::api::MANAGER).force();
    let (role, binding) = rbac(name, federated, mode);
    let mut done = Vec::new();
    if let Some(role) = role {
        let api = Api::<ClusterRole>::all(client.clone());
        api.patch(READER_ROLE, &params, &Patch::Apply(&role))
            .await
            .map_err(|e| applying("clusterrole", READER_ROLE, &e))?;
        done.push(format!(
            "clusterrole.rbac.authorization.k8s.io/{READER_ROLE} applied"
        ));
    }
    let binding_name = binding.metadata.name.clone().unwrap_or_default();
    Api::<ClusterRoleBinding>::all(client.clone())
        .patch(&binding_name, &params, &Patch::Apply(&binding))
        .await
        .map_err(|e| applying("clusterrolebinding", &binding_name, &e))?;
    done.push(format!(
        "clusterrolebinding.rbac.authorization.k8s.io/{binding_name} applied"
    ));
    Ok(done)
}

fn applying(kind: &str, name: &str, e: &kube::Error) -> anyhow::Error {
    anyhow!(
        "cannot apply {kind} {name} on the cluster: {}; the kubeconfig given must be a cluster \
         administrator's",
        extcluster_remote::failure::Failure::of(e)
    )
}

/// Where a cluster's trust set-up is for: the registration, the cluster, how tokens are minted.
pub struct Trusting<'a> {
    pub name: &'a str,
    pub server: &'a str,
    pub federated: &'a Federated,
    pub mode: Mode,
}

/// The set-up, printed: what the hub presents, then each way of making a cluster trust it.
pub fn instructions(s: &Trusting<'_>, issuer: &Issuer) -> Result<String> {
    let user = username(s.name, s.federated);
    let (aud, prefix, url) = (
        &s.federated.audience,
        &s.federated.username_prefix,
        &issuer.url,
    );
    let discovery = match &issuer.anonymous_refusal {
        None => "readable without credentials (checked from here)".to_owned(),
        Some(why) => format!(
            "NOT readable without credentials ({why}); on the hub, bind \
             system:service-account-issuer-discovery to system:unauthenticated (manifests/issuer-discovery)"
        ),
    };
    let mut out = format!(
        "Trust set-up for federated registration {name:?} ({server}):\n\
         \n  issuer:    {url}\n  audience:  {aud}\n  username:  {user}\n  discovery: {discovery}\n  \
         The cluster's API server fetches {jwks} itself: the hub must be reachable from it (not checked from here).\n",
        name = s.name,
        server = s.server,
        jwks = issuer.jwks_uri,
    );
    out += &format!(
        "\nSelf-managed API servers (kube-apiserver flags):\n  --oidc-issuer-url={url}\n  \
         --oidc-client-id={aud}\n  --oidc-username-claim=sub\n  --oidc-username-prefix={prefix}\n"
    );
    if !issuer.signing_algs.is_empty() {
        out += &format!("  --oidc-signing-algs={}\n", issuer.signing_algs.join(","));
    }
    if issuer.ca_pem.is_some() {
        out += "  --oidc-ca-file=FILE   (FILE holding the hub's CA, below)\n";
    }
    out += &authentication_configuration(s, issuer)?;
    out += &format!(
        "\nEKS (the issuer must be reachable from the internet with a publicly trusted certificate):\n  \
         aws eks associate-identity-provider-config --cluster-name CLUSTER --oidc \
         identityProviderConfigName=extcluster-hub,issuerUrl={url},clientId={aud},usernameClaim=sub,usernamePrefix={prefix}\n"
    );
    if let Some(ca) = &issuer.ca_pem {
        out += &format!("\nThe hub's CA:\n{ca}");
    }
    out += &format!(
        "\nRBAC on the cluster (kubectl apply -f -, or `kubectl extcluster trust {} --apply \
         --from-kubeconfig FILE`):\n{}",
        s.name,
        rbac_yaml(s)?
    );
    Ok(out)
}

fn authentication_configuration(s: &Trusting<'_>, issuer: &Issuer) -> Result<String> {
    let mut jwt = serde_json::json!({
        "issuer": {"url": issuer.url, "audiences": [s.federated.audience]},
        "claimMappings": {"username": {"claim": "sub", "prefix": s.federated.username_prefix}},
    });
    if let Some(ca) = &issuer.ca_pem {
        jwt["issuer"]["certificateAuthority"] = ca.clone().into();
    }
    let config = serde_json::json!({
        "apiVersion": "apiserver.config.k8s.io/v1beta1",
        "kind": "AuthenticationConfiguration",
        "jwt": [jwt],
    });
    Ok(format!(
        "\nKubernetes 1.30+ (kube-apiserver --authentication-config FILE, FILE holding):\n{}",
        extcluster_remote::yaml::to_string(&config)?
    ))
}

fn rbac_yaml(s: &Trusting<'_>) -> Result<String> {
    let (role, binding) = rbac(s.name, s.federated, s.mode);
    let mut out = String::new();
    if let Some(role) = role {
        out += &typed_yaml(&role)?;
    }
    out += &typed_yaml(&binding)?;
    Ok(out)
}

fn typed_yaml<T: serde::Serialize + k8s_openapi::Resource>(object: &T) -> Result<String> {
    let mut value = serde_json::to_value(object)?;
    value["apiVersion"] = T::API_VERSION.into();
    value["kind"] = T::KIND.into();
    Ok(format!(
        "---\n{}",
        extcluster_remote::yaml::to_string(&value)?
    ))
}
