//! What the credentials a kubeconfig holds say of themselves: when they stop working (a JWT's
//! `exp`, a client certificate's `notAfter`; the earlier wins) and whom they authenticate as (a
//! ServiceAccount token's account, a JWT's subject, a certificate's common name). Read without
//! verifying anything: the cluster decides whether they are any good.

use crate::jwt;
use base64::Engine;
use extcluster_core::health::CredentialFacts;
use k8s_openapi::jiff::Timestamp;
use kube::config::Kubeconfig;
use secrecy::ExposeSecret;

/// Expiry and identity of the credentials of the kubeconfig's current context.
pub fn facts(kubeconfig: &Kubeconfig) -> CredentialFacts {
    CredentialFacts {
        expires: expiry(kubeconfig),
        identity: identity(kubeconfig),
        proxy: proxy(kubeconfig),
    }
}

/// The proxy-url of the kubeconfig's current cluster, without any user or password.
pub fn proxy(kubeconfig: &Kubeconfig) -> Option<String> {
    let cluster = crate::kubeconfig::file::current_cluster(kubeconfig)?;
    let url = cluster.proxy_url.as_deref()?;
    Some(match url.parse::<http::Uri>() {
        Ok(uri) => crate::transport::redact_userinfo(&uri),
        Err(_) => "<not a URL>".to_owned(),
    })
}

/// Whom the credentials authenticate as; `None` when they do not say (a static token, a plugin).
pub fn identity(kubeconfig: &Kubeconfig) -> Option<String> {
    let auth = crate::kubeconfig::file::current_user(kubeconfig)?;
    if let Some(token) = auth.token.as_ref().map(|t| t.expose_secret()) {
        if let Some((namespace, name)) = jwt::service_account(token) {
            return Some(format!("serviceaccount {namespace}/{name}"));
        }
        let subject = jwt::claims(token)?;
        return subject["sub"].as_str().map(|s| format!("user {s}"));
    }
    let certificate = auth.client_certificate_data.as_deref()?;
    certificate_subject(certificate).map(|cn| format!("user {cn}"))
}

/// When the credentials of the kubeconfig's current context expire; `None` when they carry no
/// expiry (a legacy ServiceAccount token, a static token, an exec plugin).
pub fn expiry(kubeconfig: &Kubeconfig) -> Option<Timestamp> {
    let auth = crate::kubeconfig::file::current_user(kubeconfig)?;
    let token = auth
        .token
        .as_ref()
        .and_then(|t| jwt::expires_at(t.expose_secret()));
    let certificate = auth
        .client_certificate_data
        .as_deref()
        .and_then(certificate_not_after);
    [token, certificate].into_iter().flatten().min()
}

/// The `notAfter` of the first certificate in base64-encoded PEM (a kubeconfig's
/// `client-certificate-data`).
fn certificate_not_after(data: &str) -> Option<Timestamp> {
    let pem = pem_of(data)?;
    let cert = pem.parse_x509().ok()?;
    Timestamp::from_second(cert.validity().not_after.timestamp()).ok()
}

/// The common name of that certificate's subject: the user Kubernetes sees.
fn certificate_subject(data: &str) -> Option<String> {
    let pem = pem_of(data)?;
    let cert = pem.parse_x509().ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

fn pem_of(data: &str) -> Option<x509_parser::pem::Pem> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .ok()?;
    x509_parser::pem::parse_x509_pem(&bytes)
        .ok()
        .map(|(_, pem)| pem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kubeconfig(user: serde_json::Value) -> Kubeconfig {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1"}}],
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
            "users": [{"name": "u", "user": user}]
        }))
        .unwrap()
    }

    fn token_expiring_at(exp: i64) -> String {
        let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let claims = json!({"exp": exp, "sub": "system:serviceaccount:x:y"}).to_string();
        format!(
            "{}.{}.sig",
            enc(br#"{"alg":"RS256"}"#),
            enc(claims.as_bytes())
        )
    }

    fn certificate_expiring_at(not_after: i64) -> String {
        let mut params = rcgen::CertificateParams::new(vec!["user".into()]).unwrap();
        params.not_after = time::OffsetDateTime::from_unix_timestamp(not_after).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        base64::engine::general_purpose::STANDARD.encode(pem)
    }

    #[test]
    fn a_tokens_exp_and_a_certificates_not_after_the_earlier_wins() {
        let token = token_expiring_at(2_000_000_000);
        let k = kubeconfig(json!({"token": token}));
        assert_eq!(expiry(&k), Timestamp::from_second(2_000_000_000).ok());

        let cert = certificate_expiring_at(1_900_000_000);
        let k = kubeconfig(json!({"client-certificate-data": cert, "client-key-data": "eA=="}));
        assert_eq!(expiry(&k), Timestamp::from_second(1_900_000_000).ok());

        let k = kubeconfig(json!({"token": token, "client-certificate-data": cert}));
        assert_eq!(expiry(&k), Timestamp::from_second(1_900_000_000).ok());
    }

    #[test]
    fn identities_of_a_service_account_token_a_jwt_and_a_certificate() {
        let sa = token_expiring_at(2_000_000_000);
        let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let legacy = format!(
            "{}.{}.sig",
            enc(b"{}"),
            enc(br#"{"kubernetes.io/serviceaccount/namespace":"kube-system","kubernetes.io/serviceaccount/service-account.name":"extcluster-manager"}"#)
        );
        assert_eq!(
            identity(&kubeconfig(json!({"token": legacy}))).as_deref(),
            Some("serviceaccount kube-system/extcluster-manager")
        );
        assert_eq!(
            identity(&kubeconfig(json!({"token": sa}))).as_deref(),
            Some("user system:serviceaccount:x:y")
        );
        let cert = certificate_expiring_at(1_900_000_000);
        let k = kubeconfig(json!({"client-certificate-data": cert, "client-key-data": "eA=="}));
        assert_eq!(identity(&k).as_deref(), Some("user rcgen self signed cert"));
        assert_eq!(identity(&kubeconfig(json!({"token": "static"}))), None);
    }

    #[test]
    fn credentials_without_an_expiry_have_none() {
        assert_eq!(expiry(&kubeconfig(json!({"token": "static-token"}))), None);
        assert_eq!(
            expiry(&kubeconfig(
                json!({"client-certificate-data": "bm90IGEgY2VydA=="})
            )),
            None
        );
        assert_eq!(
            expiry(&kubeconfig(
                json!({"exec": {"command": "x", "apiVersion": "client.authentication.k8s.io/v1"}})
            )),
            None
        );
    }
}
