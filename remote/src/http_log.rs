//! Every request of ours, logged as kubectl logs them at `-v=6` and above: the request line,
//! status and time under [`REQUESTS`]; the headers under [`HEADERS`], with credentials masked.
//! Bodies are never logged: they carry kubeconfigs, tokens and Secrets.
//!
//! At debug level, so only a subscriber that asks for these targets sees them (the plugin's `-v`),
//! never a default `info` filter such as the controller's, which would log every probe; with no
//! subscriber interested, a request costs one `enabled!` check.

use futures::future::{BoxFuture, Either};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use std::borrow::Cow;
use std::fmt::Display;
use std::task::{Context, Poll};
use std::time::Instant;

/// The tracing target of the one line per request (`GET https://… 200 OK in 5 ms`).
pub const REQUESTS: &str = "extcluster_requests";
/// The tracing target of request and response headers.
pub const HEADERS: &str = "extcluster_headers";

/// Wraps a service so each request is logged.
#[derive(Debug, Clone, Copy, Default)]
pub struct Layer;

impl<S> tower::Layer<S> for Layer {
    type Service = Logged<S>;
    fn layer(&self, inner: S) -> Logged<S> {
        Logged(inner)
    }
}

#[derive(Debug, Clone)]
pub struct Logged<S>(S);

impl<S, In, Out> tower::Service<Request<In>> for Logged<S>
where
    S: tower::Service<Request<In>, Response = Response<Out>>,
    S::Future: Send + 'static,
    S::Error: Display,
{
    type Response = S::Response;
    type Error = S::Error;
    /// The inner future as it is when nothing logs (no allocation on the controller's probes);
    /// boxed with the timing around it when something does.
    type Future = Either<S::Future, BoxFuture<'static, Result<Response<Out>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<In>) -> Self::Future {
        if !tracing::enabled!(target: REQUESTS, tracing::Level::DEBUG) {
            return Either::Left(self.0.call(request));
        }
        let line = format!("{} {}", request.method(), request.uri());
        log_headers("request", request.headers());
        let started = Instant::now();
        let answer = self.0.call(request);
        Either::Right(Box::pin(async move {
            let answer = answer.await;
            let ms = started.elapsed().as_millis();
            match &answer {
                Ok(response) => {
                    tracing::debug!(target: REQUESTS, "{line} {} in {ms} ms", response.status());
                    log_headers("response", response.headers());
                }
                Err(e) => tracing::debug!(target: REQUESTS, "{line} failed in {ms} ms: {e}"),
            }
            answer
        }))
    }
}

fn log_headers(which: &str, headers: &HeaderMap) {
    if !tracing::enabled!(target: HEADERS, tracing::Level::DEBUG) {
        return;
    }
    for (name, value) in headers {
        tracing::debug!(target: HEADERS, "{which} header {name}: {}", shown(name, value));
    }
}

/// A header's value as it may be logged: the scheme of a credential, never the credential.
pub fn shown<'v>(name: &HeaderName, value: &'v HeaderValue) -> Cow<'v, str> {
    let text = String::from_utf8_lossy(value.as_bytes());
    let secret = [
        http::header::AUTHORIZATION,
        http::header::PROXY_AUTHORIZATION,
    ]
    .contains(name);
    if secret {
        return match text.split_once(' ') {
            Some((scheme, _)) => Cow::Owned(format!("{scheme} <masked>")),
            None => Cow::Borrowed("<masked>"),
        };
    }
    if name == http::header::COOKIE || name == http::header::SET_COOKIE {
        return Cow::Borrowed("<masked>");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_headers_are_masked_and_the_rest_shown() {
        let header = |name: HeaderName, value: &str| {
            shown(&name, &HeaderValue::from_str(value).unwrap()).into_owned()
        };
        assert_eq!(
            header(http::header::AUTHORIZATION, "Bearer eyJhbGciOi.secret"),
            "Bearer <masked>"
        );
        assert_eq!(
            header(http::header::PROXY_AUTHORIZATION, "Basic dXNlcjpwYXNz"),
            "Basic <masked>"
        );
        assert_eq!(header(http::header::AUTHORIZATION, "opaque"), "<masked>");
        assert_eq!(header(http::header::COOKIE, "session=abc"), "<masked>");
        assert_eq!(
            header(HeaderName::from_static("impersonate-user"), "alice"),
            "alice"
        );
    }
}
