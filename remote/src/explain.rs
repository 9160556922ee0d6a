//! The one sentence for a failed request to an external cluster: what was being done, what went
//! wrong, and what to do next, which depends on how the cluster was reached.

use crate::failure::{Failure, Transport};

/// A context of a kubeconfig file given on the command line, and the server it points at.
#[derive(Debug, Clone, Copy)]
pub struct FromFile<'a> {
    pub server: &'a str,
    pub context: &'a str,
    pub path: &'a str,
}

/// How a cluster was reached.
#[derive(Debug, Clone, Copy)]
pub enum Reach<'a> {
    /// Through the kubeconfig the hub stores for a registration.
    Stored { server: &'a str },
    /// As the hub's own identity for federated registration `registration`, which the cluster
    /// knows as `username`.
    Federated {
        server: &'a str,
        registration: &'a str,
        username: &'a str,
    },
    /// With the credentials a context of a kubeconfig file holds, to register them.
    Registering(FromFile<'a>),
    /// With a context's own login, as an administrator, to make a ServiceAccount there;
    /// `login_hint` says how that context logs in.
    Login {
        file: FromFile<'a>,
        login_hint: &'a str,
    },
}

/// The sentence for `failure` while `doing` something ("read the cluster") on a cluster reached
/// as `reach` says.
pub fn sentence(reach: Reach<'_>, doing: &str, failure: &Failure) -> String {
    match (reach, failure) {
        (Reach::Stored { server } | Reach::Federated { server, .. }, Failure::Transport(t)) => {
            format!("cannot reach {server}: {t}")
        }
        (Reach::Stored { server }, Failure::Status { code: 401, .. }) => {
            format!("{server} refused the stored credentials (401 Unauthorized)")
        }
        (
            Reach::Federated {
                server,
                registration,
                ..
            },
            Failure::Status { code: 401, .. },
        ) => format!(
            "{server} does not accept the hub's token (401 Unauthorized): it does not trust the \
             hub's issuer for this audience yet; set it up as `kubectl extcluster trust \
             {registration}` prints"
        ),
        (
            Reach::Federated {
                server,
                registration,
                username,
            },
            Failure::Status {
                code: 403, message, ..
            },
        ) => format!(
            "{server} knows the hub as {username}, who may not {doing} ({message}); apply the \
             ClusterRoleBinding `kubectl extcluster trust {registration}` prints, or run it with \
             --apply"
        ),
        (Reach::Stored { server } | Reach::Federated { server, .. }, other) => {
            format!("{server}: {other}")
        }
        (Reach::Registering(file), Failure::Transport(t)) => {
            unreachable(file, "the external cluster", "the cluster's own CA", t)
        }
        (Reach::Login { file, .. }, Failure::Transport(t)) => {
            unreachable(file, "the cluster", "the cluster's CA", t)
        }
        (Reach::Registering(file), Failure::Status { code: 401, .. }) => format!(
            "the external cluster at {} refused the credentials of context {:?} (401 Unauthorized); renew them in {}",
            file.server, file.context, file.path
        ),
        (Reach::Login { file, login_hint }, Failure::Status { code: 401, .. }) => format!(
            "the cluster at {} refused the credentials of context {:?} in {} (401 Unauthorized); log in again ({login_hint}) and retry",
            file.server, file.context, file.path
        ),
        (
            Reach::Registering(file),
            Failure::Status {
                code: 403, message, ..
            },
        ) => format!(
            "the credentials of context {:?} in {} may not {doing} on the external cluster ({message}); use credentials with the rights the mode needs",
            file.context, file.path
        ),
        (
            Reach::Login { file, .. },
            Failure::Status {
                code: 403, message, ..
            },
        ) => format!(
            "the credentials of context {:?} in {} may not {doing} on the cluster at {} ({message}); convert-kubeconfig needs a cluster administrator's login",
            file.context, file.path, file.server
        ),
        (Reach::Registering(file), other) => format!(
            "the external cluster at {} (context {:?}) failed when asked to {doing}: {other}",
            file.server, file.context
        ),
        (Reach::Login { file, .. }, other) => format!(
            "cannot {doing} on the cluster at {} (context {:?}): {other}",
            file.server, file.context
        ),
    }
}

/// No answer from the cluster a kubeconfig context points at: a CA to fix, or an address.
fn unreachable(file: FromFile<'_>, cluster: &str, ca: &str, t: &Transport) -> String {
    let FromFile {
        server,
        context,
        path,
    } = file;
    let next = match t {
        Transport::Untrusted(_) => {
            format!("put {ca} in certificate-authority-data of that context in {path}")
        }
        Transport::WrongName(_) => format!(
            "set tls-server-name of that context's cluster in {path} to a name the certificate is for, or use that name in its server URL"
        ),
        _ => format!("check that the cluster is running and that {path} has its address"),
    };
    format!("cannot reach {cluster} at {server} (context {context:?}): {t}; {next}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_follows_how_the_cluster_was_reached() {
        let refused = Failure::Transport(Transport::Refused);
        let stored = Reach::Stored {
            server: "https://x",
        };
        assert_eq!(
            sentence(stored, "read", &refused),
            "cannot reach https://x: the connection was refused"
        );
        let file = FromFile {
            server: "https://x",
            context: "c",
            path: "/k",
        };
        let registering = Reach::Registering(file);
        let untrusted = Failure::Transport(Transport::Untrusted("bad".into()));
        let msg = sentence(registering, "connect", &untrusted);
        assert!(msg.contains("the cluster's own CA"), "{msg}");
        let wrong_name = Failure::Transport(Transport::WrongName("NotValidForName".into()));
        let msg = sentence(registering, "connect", &wrong_name);
        assert!(msg.contains("tls-server-name"), "{msg}");
        assert!(!msg.contains("certificate-authority-data"), "{msg}");
        let forbidden = Failure::Status {
            code: 403,
            reason: "Forbidden".into(),
            message: "no".into(),
        };
        let login = Reach::Login {
            file,
            login_hint: "hint",
        };
        let msg = sentence(login, "create x", &forbidden);
        assert!(
            msg.contains("may not create x") && msg.contains("administrator"),
            "{msg}"
        );
        // The sentences the three places that wrote them before wrote, word for word.
        let unauthorized = Failure::Status {
            code: 401,
            reason: "Unauthorized".into(),
            message: "Unauthorized".into(),
        };
        for (reach, doing, failure, want) in [
            (
                stored,
                "read",
                &unauthorized,
                "https://x refused the stored credentials (401 Unauthorized)",
            ),
            (
                registering,
                "connect",
                &refused,
                "cannot reach the external cluster at https://x (context \"c\"): the connection was refused; check that the cluster is running and that /k has its address",
            ),
            (
                registering,
                "connect",
                &unauthorized,
                "the external cluster at https://x refused the credentials of context \"c\" (401 Unauthorized); renew them in /k",
            ),
            (
                login,
                "log in",
                &untrusted,
                "cannot reach the cluster at https://x (context \"c\"): the server's certificate is not trusted by the kubeconfig's certificate authority (bad); put the cluster's CA in certificate-authority-data of that context in /k",
            ),
            (
                login,
                "read namespaces",
                &unauthorized,
                "the cluster at https://x refused the credentials of context \"c\" in /k (401 Unauthorized); log in again (hint) and retry",
            ),
        ] {
            assert_eq!(sentence(reach, doing, failure), want);
        }
    }
}
