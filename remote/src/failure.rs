//! What a failed API call means, in plain words: no answer (and why), an error status, or
//! something else. Nothing here ever prints a credential: kube errors carry none.

use crate::words::one_line;
use std::error::Error as StdError;

/// Why a request to an API server did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Refused,
    /// The server's certificate is not signed by the CA the kubeconfig trusts (or is for another
    /// name).
    Untrusted(String),
    /// The server's certificate is trusted but not for the name the client asked for.
    WrongName(String),
    Timeout,
    Dns(String),
    Other(String),
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Refused => f.write_str("the connection was refused"),
            Transport::Untrusted(why) => write!(
                f,
                "the server's certificate is not trusted by the kubeconfig's certificate authority ({why})"
            ),
            Transport::WrongName(why) => write!(
                f,
                "the server's certificate is not for the name in the server URL ({why})"
            ),
            Transport::Timeout => f.write_str("the server did not answer in time"),
            Transport::Dns(why) => write!(f, "the server's name does not resolve ({why})"),
            Transport::Other(why) => f.write_str(why),
        }
    }
}

/// What an API call's failure means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server could not be reached, or TLS failed.
    Transport(Transport),
    /// The server answered with an error status.
    Status {
        code: u16,
        reason: String,
        message: String,
    },
    /// Anything else (a bad kubeconfig, a response that did not decode).
    Other(String),
}

impl Failure {
    pub fn of(err: &kube::Error) -> Self {
        match err {
            kube::Error::Api(s) => Failure::Status {
                code: s.code,
                reason: s.reason.clone(),
                message: s.message.clone(),
            },
            kube::Error::HyperError(_) | kube::Error::Service(_) => {
                Failure::Transport(transport(err))
            }
            kube::Error::Auth(e) => Failure::Other(crate::exec::from_kube(e).map_or_else(
                || format!("authentication failed: {}", chain(e)),
                |plugin| plugin.to_string(),
            )),
            kube::Error::InferKubeconfig(e) => Failure::Other(chain(e)),
            kube::Error::RustlsTls(e) => Failure::Other(format!("TLS setup failed: {}", chain(e))),
            other => Failure::Other(chain(other)),
        }
    }

    pub fn code(&self) -> Option<u16> {
        match self {
            Failure::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }
}

/// Whether the API server answered 404: for a delete or a status write, the work is done.
pub fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transport(t) => t.fmt(f),
            Failure::Status {
                code: 401, message, ..
            } => write!(
                f,
                "the server refused the credentials (401 Unauthorized: {message})"
            ),
            Failure::Status { message, .. } if !message.is_empty() => f.write_str(message),
            Failure::Status { code, reason, .. } => {
                write!(f, "the server answered {code} {reason}")
            }
            Failure::Other(s) => f.write_str(s),
        }
    }
}

/// Classifies a transport failure by walking the error's causes. An untrusted certificate is the
/// most telling cause wherever it is in the chain; otherwise the outermost cause recognised wins.
pub fn transport(err: &(dyn StdError + 'static)) -> Transport {
    let mut deepest = err.to_string();
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    let mut found = None;
    while let Some(e) = current {
        match cause(e) {
            Some(untrusted @ Transport::Untrusted(_)) => found = Some(untrusted),
            Some(other) => found = found.or(Some(other)),
            None => {}
        }
        deepest = e.to_string();
        current = next_cause(e);
    }
    found.unwrap_or(Transport::Other(deepest))
}

/// The cause under `e`. An io::Error's `source()` skips the error it wraps, and the TLS error is
/// two io::Errors deep (hyper-rustls wraps tokio-rustls's, which wraps the rustls::Error), so an
/// io::Error is looked into instead.
fn next_cause<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match e
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        Some(inner) => Some(inner),
        None => e.source(),
    }
}

/// What one cause in a chain says, by its type.
fn cause(e: &(dyn StdError + 'static)) -> Option<Transport> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
        return match tls {
            rustls::Error::InvalidCertificate(NotValidForName | NotValidForNameContext { .. }) => {
                Some(Transport::WrongName(tls.to_string()))
            }
            rustls::Error::InvalidCertificate(_) => Some(Transport::Untrusted(tls.to_string())),
            _ => None,
        };
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        match io.kind() {
            std::io::ErrorKind::ConnectionRefused => return Some(Transport::Refused),
            std::io::ErrorKind::TimedOut => return Some(Transport::Timeout),
            _ => {}
        }
    }
    if e.downcast_ref::<tokio::time::error::Elapsed>().is_some()
        || e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
    {
        return Some(Transport::Timeout);
    }
    // hyper-util reports a failed name lookup as its private `ConnectError` ("dns error") around
    // the resolver's io::Error, whose kind is not one a stable program can match: only the text
    // says it was the name.
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    (lower.contains("dns error") || lower.contains("failed to lookup address"))
        .then_some(Transport::Dns(text))
}

/// An error and its causes on one line, without repeating a cause its parent already quoted.
pub fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut current = err.source();
    while let Some(e) = current {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        current = e.source();
    }
    one_line(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(&'static str, Box<dyn StdError + Send + Sync>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl StdError for Wrap {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.1)
        }
    }

    #[test]
    fn classifies_causes() {
        let refused = Wrap(
            "client error (Connect)",
            Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        );
        assert_eq!(transport(&refused), Transport::Refused);
        // As hyper-rustls reports it: an io::Error around tokio-rustls's io::Error around it.
        let tls = |problem: rustls::CertificateError| {
            Wrap(
                "client error (Connect)",
                Box::new(std::io::Error::other(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    rustls::Error::InvalidCertificate(problem),
                ))),
            )
        };
        let untrusted = tls(rustls::CertificateError::UnknownIssuer);
        assert!(matches!(transport(&untrusted), Transport::Untrusted(_)));
        let wrong_name = tls(rustls::CertificateError::NotValidForName);
        assert!(matches!(transport(&wrong_name), Transport::WrongName(_)));
        assert!(
            Transport::Untrusted("x".into())
                .to_string()
                .contains("not trusted")
        );
        let timeout = Wrap(
            "client error (Connect)",
            Box::new(std::io::Error::from(std::io::ErrorKind::TimedOut)),
        );
        assert_eq!(transport(&timeout), Transport::Timeout);
        let dns = Wrap("dns error", Box::new(std::io::Error::other("no such host")));
        assert!(matches!(transport(&dns), Transport::Dns(_)));
        let other = Wrap("boom", Box::new(std::io::Error::other("deep cause")));
        assert_eq!(transport(&other), Transport::Other("deep cause".into()));
        assert_eq!(chain(&other), "boom: deep cause");
    }
}
