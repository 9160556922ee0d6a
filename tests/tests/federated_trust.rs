//! Federated trust on real API servers (kube-apiserver 1.20): an external cluster trusts the hub's
//! ServiceAccount issuer as an OIDC provider, so a hub ServiceAccount token minted by TokenRequest
//! for the external cluster's client id (`extcluster.io/<its kube-system UID>`) authenticates
//! there, under a prefixed user name, and nothing else of the hub's or its own is taken for it.

use extcluster_tests::{ControlPlane, Options, Steps, Wait, hub};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ListParams};
use serde_json::Value;
use std::time::{Duration, Instant};

const NS: &str = "extcluster-system";
const ACCOUNT: &str = "prod";
const PREFIX: &str = "extcluster:";

#[tokio::test]
async fn an_external_cluster_trusts_the_hubs_service_account_tokens() {
    let mut steps = Steps::start("a hub and an external cluster");
    // No CRD: trust is between the API servers alone.
    let (hub, ext) = tokio::join!(start("hub"), start("ext"));
    let (hub, mut ext) = (hub.unwrap(), ext.unwrap());

    steps.next("the hub's issuer discovery, opened to anonymous readers");
    let algs = discovery_opens(&hub).await;

    steps.next("a hub token for the external cluster's client id");
    let audience = format!("extcluster.io/{}", ext.kube_system_uid().await.unwrap());
    let token = hub
        .service_account_token(NS, ACCOUNT, &[&audience])
        .await
        .unwrap();

    steps.next("the external cluster trusts the hub's issuer");
    let restarted = Instant::now();
    ext.trust_issuer(&oidc_flags(&hub, &audience, &algs))
        .await
        .unwrap();
    let ready = restarted.elapsed();
    let user = format!("{PREFIX}system:serviceaccount:{NS}:{ACCOUNT}");
    // `view` is empty here: kube-controller-manager aggregates it, and none runs. Its rules are
    // those of system:aggregate-to-view.
    let view = "--clusterrole=system:aggregate-to-view";
    let binding = format!("--user={user}");
    ext.kubectl(&["create", "clusterrolebinding", "hub-prod", view, &binding])
        .success();
    let accepted = first_acceptance(&ext, &token).await;
    eprintln!(
        "the hub token was accepted {accepted:?} after the API server was ready ({:?} after \
         the restart began)",
        ready + accepted
    );

    steps.next("what view allows and what it does not, as the prefixed user");
    let as_hub = ext.bearer_client(Some(&token)).unwrap();
    Api::<Namespace>::all(as_hub.clone())
        .list(&ListParams::default())
        .await
        .expect("view lists namespaces");
    let refused = status(secrets(&as_hub).await);
    assert_eq!(refused.0, 403, "{refused:?}");
    assert!(
        refused.1.contains(&format!("User \"{user}\"")),
        "{refused:?}"
    );

    steps.next("a hub token for another audience");
    let other = hub
        .service_account_token(NS, ACCOUNT, &["extcluster.io/another-cluster"])
        .await
        .unwrap();
    let as_other = ext.bearer_client(Some(&other)).unwrap();
    assert_eq!(status(secrets(&as_other).await).0, 401);

    steps.next("the external cluster's own account of the same name");
    own_account_is_not_the_hubs(&ext, &audience).await;

    steps.next("the trust stays across a restart");
    ext.start_apiserver().await.unwrap();
    let again = first_acceptance(&ext, &token).await;
    eprintln!("after a plain restart, the hub token was accepted {again:?} after ready");
}

async fn start(name: &str) -> anyhow::Result<ControlPlane> {
    ControlPlane::start(Options::default().name(name)).await
}

/// Checks that anonymous readers are refused the hub's discovery documents, opens them, and
/// checks what they say; returns the signing algorithms the hub's keys use.
async fn discovery_opens(hub: &ControlPlane) -> Vec<String> {
    let anonymous = hub.bearer_client(None).unwrap();
    let config = "/.well-known/openid-configuration";
    let closed = status(get(&anonymous, config).await);
    assert_eq!(closed.0, 403, "before the binding: {closed:?}");

    hub::open_issuer_discovery(hub);
    // The RBAC authorizer sees the new binding through its informer, a moment later.
    let doc = Wait::up_to(Duration::from_secs(30), "anonymous discovery to be allowed")
        .every(Duration::from_millis(100))
        .until(async || get(&anonymous, config).await.ok())
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let jwks_uri = format!("{}/openid/v1/jwks", hub.issuer());
    assert_eq!(doc["issuer"], hub.issuer().as_str(), "{doc}");
    assert_eq!(doc["jwks_uri"], jwks_uri.as_str(), "{doc}");

    let keys = get(&anonymous, "/openid/v1/jwks").await.unwrap();
    let keys: Value = serde_json::from_str(&keys).unwrap();
    assert!(
        keys["keys"].as_array().is_some_and(|k| !k.is_empty()),
        "{keys}"
    );
    let algs = doc["id_token_signing_alg_values_supported"].as_array();
    algs.unwrap_or_else(|| panic!("no signing algorithms in {doc}"))
        .iter()
        .map(|a| a.as_str().expect("an algorithm name").to_owned())
        .collect()
}

/// The flags an admin adds to the external cluster's kube-apiserver to trust the hub's issuer.
fn oidc_flags(hub: &ControlPlane, audience: &str, algs: &[String]) -> Vec<String> {
    vec![
        format!("--oidc-issuer-url={}", hub.issuer()),
        format!("--oidc-client-id={audience}"),
        "--oidc-username-claim=sub".to_owned(),
        format!("--oidc-username-prefix={PREFIX}"),
        format!("--oidc-ca-file={}", hub.ca_file().display()),
        // What the hub's discovery lists: the harness's keys are ECDSA (ES256), and without
        // this flag 1.20 takes RS256 only ("id token signed with unsupported algorithm").
        format!("--oidc-signing-algs={}", algs.join(",")),
    ]
}

/// Waits until `ext` takes the hub `token` (its OIDC authenticator fetches the hub's discovery
/// documents in the background after the API server starts); how long that took.
async fn first_acceptance(ext: &ControlPlane, token: &str) -> Duration {
    let client = ext.bearer_client(Some(token)).unwrap();
    let start = Instant::now();
    let accepted = Wait::up_to(Duration::from_secs(180), "the hub token to be accepted")
        .every(Duration::from_millis(250))
        .until(async || match status(secrets(&client).await) {
            (401, _) => None,
            other => Some(other),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}:\n{}", ext.log_tail("apiserver.log")));
    assert_eq!(
        accepted.0, 403,
        "authenticated, but not allowed secrets: {accepted:?}"
    );
    start.elapsed()
}

/// A ServiceAccount of the external cluster itself, named like the hub's: a token of it for the
/// hub's client id is refused, and its ordinary token is its own, unprefixed user.
async fn own_account_is_not_the_hubs(ext: &ControlPlane, audience: &str) {
    let for_audience = ext
        .service_account_token(NS, ACCOUNT, &[audience])
        .await
        .unwrap();
    let as_it = ext.bearer_client(Some(&for_audience)).unwrap();
    assert_eq!(status(secrets(&as_it).await).0, 401);

    let own = ext.service_account_token(NS, ACCOUNT, &[]).await.unwrap();
    let as_own = ext.bearer_client(Some(&own)).unwrap();
    let refused = status(secrets(&as_own).await);
    let user = format!("User \"system:serviceaccount:{NS}:{ACCOUNT}\"");
    assert_eq!(refused.0, 403, "{refused:?}");
    assert!(refused.1.contains(&user), "{refused:?}");
}

/// Lists the Secrets of kube-system, which `view` does not allow.
async fn secrets(client: &kube::Client) -> kube::Result<()> {
    let api = Api::<Secret>::namespaced(client.clone(), "kube-system");
    api.list(&ListParams::default()).await.map(drop)
}

async fn get(client: &kube::Client, path: &str) -> kube::Result<String> {
    let request = http::Request::get(path).body(Vec::new()).unwrap();
    client.request_text(request).await
}

/// The HTTP status of a request's outcome and the API server's message.
fn status<T>(result: kube::Result<T>) -> (u16, String) {
    match result {
        Ok(_) => (200, String::new()),
        Err(kube::Error::Api(s)) => (s.code, s.message.clone()),
        Err(e) => panic!("not an answer of the API server: {e}"),
    }
}
