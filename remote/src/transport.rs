//! The connection stack under every kube `Client` of ours (external clusters and the hub): kube's
//! own layers (base URI, authentication, impersonation headers) over a connector built here, so
//! that everything a kubeconfig may say that kubectl accepts works:
//!
//! - a client certificate is handed to rustls through a resolver instead of its builder, which
//!   parses the certificate with webpki and so refuses X.509 v1 certificates (what `openssl x509
//!   -req` makes without `-extfile`). rustls needs only the key to sign and the certificate's
//!   bytes to send; the API server checks the certificate, as it does for kubectl;
//! - `proxy-url` with `http`, `https` or `socks5` (user and password included);
//! - the connect, read and write bounds of the `kube::Config`;
//! - each request logged when asked for (`-v`), credentials masked ([`crate::http_log`]).

use crate::failure::Failure;
use base64::Engine;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::TokioExecutor;
use kube::client::{Body, ConfigExt};
use kube::{Client, Config};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use secrecy::ExposeSecret;
use std::sync::Arc;
use tower::{BoxError, ServiceBuilder};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Kube(#[from] kube::Error),
    #[error("the client certificate could not be read: {0}")]
    Certificate(String),
    #[error("the client key could not be used: {0}")]
    Key(String),
    #[error("proxy-url {url} uses {scheme:?}; use http, https or socks5")]
    ProxyScheme { url: String, scheme: String },
    #[error("tls-server-name {0:?} is not a valid server name")]
    ServerName(String),
}

impl Error {
    /// What went wrong, as the one sentence per failure says it.
    pub fn failure(&self) -> Failure {
        match self {
            Error::Kube(e) => Failure::of(e),
            other => Failure::Other(other.to_string()),
        }
    }
}

/// A client for `config`, as kube's `Client::try_from` makes one but for the connector.
pub fn client(config: Config) -> Result<Client, Error> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let Some(proxy) = config.proxy_url.clone() else {
        return over(http, config);
    };
    let userinfo = proxy
        .authority()
        .and_then(|a| a.as_str().rsplit_once('@'))
        .map(|(userinfo, _)| percent_decode(userinfo));
    match proxy.scheme_str() {
        Some("http") => over(with_basic_auth(Tunnel::new(proxy, http), userinfo), config),
        Some("https") => {
            let to_proxy = https(&config, http)?;
            over(
                with_basic_auth(Tunnel::new(proxy, to_proxy), userinfo),
                config,
            )
        }
        Some("socks5" | "socks5h") => {
            let mut socks = SocksV5::new(proxy, http).local_dns(false);
            if let Some((user, password)) = userinfo.as_deref().and_then(|u| u.split_once(':')) {
                socks = socks.with_auth(user.to_owned(), password.to_owned());
            }
            over(socks, config)
        }
        other => Err(Error::ProxyScheme {
            url: redact_userinfo(&proxy),
            scheme: other.unwrap_or_default().to_owned(),
        }),
    }
}

/// kube's layers over TLS over `connector`, within the config's bounds.
fn over<C>(connector: C, config: Config) -> Result<Client, Error>
where
    C: tower::Service<http::Uri> + Clone + Send + Sync + 'static,
    C::Response: Connection + hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    let mut connector = TimeoutConnector::new(https(&config, connector)?);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let http_client: hyper_util::client::legacy::Client<_, Body> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .layer(crate::http_log::Layer)
        .service(http_client);
    Ok(Client::new(service, config.default_namespace.clone()))
}

/// TLS over `connector`: kube's roots and verification, the identity through a resolver.
fn https<C>(config: &Config, connector: C) -> Result<HttpsConnector<C>, Error> {
    let identity = identity(config)?;
    let mut without_identity = config.clone();
    without_identity.auth_info.client_certificate = None;
    without_identity.auth_info.client_certificate_data = None;
    without_identity.auth_info.client_key = None;
    without_identity.auth_info.client_key_data = None;
    let mut tls = without_identity.rustls_client_config()?;
    if let Some(identity) = identity {
        tls.client_auth_cert_resolver = identity;
    }
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let builder = match &config.tls_server_name {
        Some(name) => builder.with_server_name_resolver(FixedServerNameResolver::new(
            name.clone()
                .try_into()
                .map_err(|_| Error::ServerName(name.clone()))?,
        )),
        None => builder,
    };
    Ok(builder.enable_http1().wrap_connector(connector))
}

/// The kubeconfig's client certificate and key, as rustls sends and uses them.
fn identity(config: &Config) -> Result<Option<Arc<dyn ResolvesClientCert>>, Error> {
    let auth = &config.auth_info;
    let cert_pem = match (&auth.client_certificate_data, &auth.client_certificate) {
        (Some(data), _) => decode(data).map_err(Error::Certificate)?,
        (None, Some(path)) => {
            std::fs::read(path).map_err(|e| Error::Certificate(format!("reading {path}: {e}")))?
        }
        (None, None) => return Ok(None),
    };
    let key_pem = match (&auth.client_key_data, &auth.client_key) {
        (Some(data), _) => decode(data.expose_secret()).map_err(Error::Key)?,
        (None, Some(path)) => {
            std::fs::read(path).map_err(|e| Error::Key(format!("reading {path}: {e}")))?
        }
        (None, None) => {
            return Err(Error::Key(
                "the kubeconfig has a client certificate but no client key".into(),
            ));
        }
    };
    // The key first, as kube read them: a file without one says so before anything else.
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        Error::Key(format!(
            "{e} (use a PKCS#8, PKCS#1 RSA or SEC1 EC key in PEM)"
        ))
    })?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Certificate(e.to_string()))?;
    if chain.is_empty() {
        return Err(Error::Certificate("no PEM CERTIFICATE block".into()));
    }
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| Error::Key(e.to_string()))?;
    // Sent whatever the server asks for, as client-go sends it.
    Ok(Some(Arc::new(SingleCertAndKey::from(CertifiedKey::new(
        chain, signing,
    )))))
}

/// `*-data` fields hold base64 of PEM; some tools put the PEM itself there.
fn decode(data: &str) -> Result<Vec<u8>, String> {
    let trimmed = data.trim();
    if trimmed.starts_with("-----BEGIN") {
        return Ok(trimmed.as_bytes().to_vec());
    }
    base64::engine::general_purpose::STANDARD
        .decode(trimmed)
        .map_err(|e| format!("not base64: {e}"))
}

fn with_basic_auth<C>(tunnel: Tunnel<C>, userinfo: Option<String>) -> Tunnel<C> {
    let Some(userinfo) = userinfo else {
        return tunnel;
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(userinfo);
    match http::HeaderValue::from_str(&format!("Basic {encoded}")) {
        Ok(mut header) => {
            header.set_sensitive(true);
            tunnel.with_auth(header)
        }
        Err(_) => tunnel,
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The proxy's address for messages: any user and password left out.
pub fn redact_userinfo(uri: &http::Uri) -> String {
    let text = uri.to_string();
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) if authority.as_str().contains('@') => {
            let host = authority.as_str().rsplit_once('@').map_or("", |(_, h)| h);
            format!("{scheme}://{host}{}", uri.path().trim_end_matches('/'))
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_addresses_in_messages_leave_out_the_password() {
        let uri: http::Uri = "http://alice:s3cr%40t@proxy.corp:3128".parse().unwrap();
        assert_eq!(redact_userinfo(&uri), "http://proxy.corp:3128");
        let plain: http::Uri = "socks5://10.0.0.1:1080".parse().unwrap();
        assert_eq!(redact_userinfo(&plain), "socks5://10.0.0.1:1080/");
    }

    #[test]
    fn data_fields_take_base64_or_pem() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----";
        let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
        assert_eq!(decode(&b64).unwrap(), pem.as_bytes());
        assert_eq!(decode(pem).unwrap(), pem.as_bytes());
        assert!(decode("%%%").is_err());
    }
}
