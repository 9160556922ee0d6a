//! What a ServiceAccount token says about itself, read from its JWT claims without verifying the
//! signature: which account it is for and when it expires. Used only to decide what to look at
//! in a cluster; the cluster itself decides whether the token is any good.

use base64::Engine;
use serde_json::Value;

/// The claims of a JWT, or `None` when the text is not one.
pub fn claims(token: &str) -> Option<Value> {
    let mut parts = token.trim().split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The ServiceAccount a Kubernetes-issued token is for, as (namespace, name): from the legacy
/// Secret-based claims or from a bound (TokenRequest) token's `kubernetes.io` claim.
pub fn service_account(token: &str) -> Option<(String, String)> {
    let c = claims(token)?;
    let legacy = (
        c.get("kubernetes.io/serviceaccount/namespace")
            .and_then(Value::as_str),
        c.get("kubernetes.io/serviceaccount/service-account.name")
            .and_then(Value::as_str),
    );
    if let (Some(ns), Some(name)) = legacy {
        return Some((ns.to_owned(), name.to_owned()));
    }
    let k = c.get("kubernetes.io")?;
    let ns = k.get("namespace")?.as_str()?;
    let name = k.get("serviceaccount")?.get("name")?.as_str()?;
    Some((ns.to_owned(), name.to_owned()))
}

/// When a JWT expires, by its `exp` claim; `None` when it is not a JWT or never expires.
pub fn expires_at(token: &str) -> Option<k8s_openapi::jiff::Timestamp> {
    let exp = claims(token)?.get("exp")?.as_i64()?;
    k8s_openapi::jiff::Timestamp::from_second(exp).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(claims: Value) -> String {
        let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.{}",
            enc(br#"{"alg":"RS256"}"#),
            enc(claims.to_string().as_bytes()),
            enc(b"sig")
        )
    }

    #[test]
    fn reads_service_account_tokens() {
        let legacy = token(json!({
            "iss": "kubernetes/serviceaccount",
            "kubernetes.io/serviceaccount/namespace": "kube-system",
            "kubernetes.io/serviceaccount/secret.name": "extcluster-manager-token",
            "kubernetes.io/serviceaccount/service-account.name": "extcluster-manager",
        }));
        assert_eq!(
            service_account(&legacy),
            Some(("kube-system".into(), "extcluster-manager".into()))
        );
        assert_eq!(claims(&legacy).unwrap().get("exp"), None);
        let bound = token(json!({
            "exp": 1_700_000_600,
            "kubernetes.io": {"namespace": "ops", "serviceaccount": {"name": "hub", "uid": "u"}},
        }));
        assert_eq!(service_account(&bound), Some(("ops".into(), "hub".into())));
        assert_eq!(claims(&bound).unwrap()["exp"], 1_700_000_600);
        assert_eq!(
            expires_at(&bound),
            k8s_openapi::jiff::Timestamp::from_second(1_700_000_600).ok()
        );
        assert_eq!(expires_at(&legacy), None);
    }

    #[test]
    fn other_tokens_are_none() {
        assert_eq!(claims("static-token"), None);
        assert_eq!(claims("a.b"), None);
        assert_eq!(claims("a.b.c.d"), None);
        assert_eq!(service_account(&token(json!({"sub": "someone"}))), None);
    }
}
