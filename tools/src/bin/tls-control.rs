//! `tls-control`: the servers `make bench` measures the webhook against, each with the webhook's
//! certificate on the webhook's runtime configuration, so that a ratio from one run says what
//! the webhook itself costs.
//!
//! - `empty`: the webhook's own TLS listener (`tls_server`) and an axum route that answers every
//!   POST with an empty 200: the webhook minus deciding.
//! - `kube-core`: the same listener, and per review the work of kube-rs's admission example:
//!   decode an `AdmissionReview<DynamicObject>` with kube-core, refuse an object labelled
//!   `illegal`, answer with `AdmissionResponse::into_review`. (The example itself is not on
//!   crates.io, and this machine reaches package registries only.)
//! - `bare`: a bare `tokio-rustls` accept loop with the same server configuration and a fixed
//!   HTTP/1.1 answer written by hand: what a handshake costs with nothing around it.
//!
//! Usage: `tls-control MODE 127.0.0.1:PORT CERT KEY`

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use extcluster_webhook::serving_cert::CertStore;
use extcluster_webhook::tls_server::serve_tls;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const USAGE: &str = "usage: tls-control empty|kube-core|bare 127.0.0.1:PORT CERT KEY";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, listen, cert, key] = args.as_slice() else {
        bail!(USAGE);
    };
    // The route behind the webhook's listener, or none for the bare accept loop.
    let app = match mode.as_str() {
        "empty" => Some(Router::new().route("/validate", post(empty))),
        "kube-core" => Some(Router::new().route("/validate", post(kube_core))),
        "bare" => None,
        other => bail!("unknown mode {other:?}; {USAGE}"),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = CertStore::load(Path::new(cert), Path::new(key), provider)
        .context("loading the certificate")?;
    let tls = certs.server_config();
    let listen = listen.clone();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = TcpListener::bind(&listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            match app {
                Some(app) => {
                    serve_tls(listener, tls, app, std::future::pending(), Duration::ZERO).await;
                    Ok(())
                }
                None => bare(listener, TlsAcceptor::from(tls)).await,
            }
        })
}

async fn empty() {}

async fn kube_core(body: Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    let review: AdmissionReview<DynamicObject> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let request: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(r) => r,
        Err(e) => return (http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let mut response = AdmissionResponse::from(&request);
    let illegal = request
        .object
        .as_ref()
        .and_then(|o| o.metadata.labels.as_ref())
        .is_some_and(|l| l.contains_key("illegal"));
    if illegal {
        response = response.deny("the object carries the label illegal");
    }
    axum::Json(response.into_review()).into_response()
}

const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";

async fn bare(listener: TcpListener, acceptor: TlsAcceptor) -> Result<()> {
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            if let Ok(mut tls) = acceptor.accept(tcp).await {
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(true) = read_request(&mut tls, &mut buf).await {
                    if tls.write_all(ANSWER).await.is_err() {
                        break;
                    }
                }
            }
        });
    }
}

/// Reads one request (headers, then `content-length` bytes of body); false at the end of the
/// connection.
async fn read_request(
    io: &mut (impl AsyncReadExt + Unpin),
    buf: &mut [u8],
) -> std::io::Result<bool> {
    let mut filled = 0;
    loop {
        if let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            let wanted = end + 4 + content_length(&buf[..end]);
            if wanted > buf.len() {
                return Ok(false);
            }
            while filled < wanted {
                let n = io.read(&mut buf[filled..]).await?;
                if n == 0 {
                    return Ok(false);
                }
                filled += n;
            }
            return Ok(true);
        }
        if filled == buf.len() {
            return Ok(false);
        }
        let n = io.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(false);
        }
        filled += n;
    }
}

fn content_length(headers: &[u8]) -> usize {
    String::from_utf8_lossy(headers)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}
