//! The admission handler: a review body in, an answer out, in three steps — decode (the wire,
//! [`review`](crate::review)), decide (the policy against the live registry), respond (log, count,
//! encode). No I/O: the registry is in memory, kept by the watch.

use crate::metrics::{DenialLabels, Metrics, Verdict};
use crate::registry::LiveRegistry;
use crate::review::{self, Asked, Decoded, Rejection};
use extcluster_core::policy::{
    self, Denial, Operation, Policy, RegistryUnavailable, decide_crd_delete,
};
use std::borrow::Cow;
use std::time::{Duration, Instant};

/// One webhook: the rules, the registry they read, and the metrics of both.
pub struct Webhook {
    policy: Policy,
    pub registry: LiveRegistry,
    pub metrics: Metrics,
}

/// An HTTP answer: status and body (JSON, or a sentence for an HTTP 400).
#[derive(Debug)]
pub struct Reply {
    pub status: http::StatusCode,
    pub body: Vec<u8>,
}

/// A review answered with `allowed: false`.
struct Refusal {
    verdict: Verdict,
    /// The metrics' name for it.
    reason: &'static str,
    code: u16,
    message: String,
}

impl From<Denial> for Refusal {
    fn from(denial: Denial) -> Self {
        Refusal {
            verdict: Verdict::Denied,
            reason: denial.reason(),
            code: 403,
            message: denial.to_string(),
        }
    }
}

/// What a review is answered with.
enum Answer {
    Allowed { warning: Option<String> },
    Refused(Refusal),
}

impl From<Result<(), Denial>> for Answer {
    fn from(decision: Result<(), Denial>) -> Self {
        match decision {
            Ok(()) => Answer::Allowed { warning: None },
            Err(denial) => Answer::Refused(denial.into()),
        }
    }
}

impl Webhook {
    pub fn new(policy: Policy, stale_after: Duration) -> Self {
        let metrics = Metrics::default();
        Self {
            policy,
            registry: LiveRegistry::new(stale_after, metrics.registrations.clone()),
            metrics,
        }
    }

    /// Answers one AdmissionReview body.
    pub fn review(&self, body: &[u8]) -> Reply {
        let start = Instant::now();
        let reply = self.answer(review::decode(body));
        self.metrics.latency.observe(start.elapsed().as_secs_f64());
        reply
    }

    fn answer(&self, decoded: Result<Decoded<'_>, Rejection<'_>>) -> Reply {
        match decoded {
            Ok(request) => {
                let answer = match self.decide(&request) {
                    Ok(()) => Answer::Allowed {
                        warning: request.new.as_ref().and_then(policy::warning),
                    },
                    Err(denial) => Answer::Refused(denial.into()),
                };
                self.respond(&request.asked, request.name(), answer)
            }
            Err(rejection) => self.rejected(rejection),
        }
    }

    /// Answers a review of a CustomResourceDefinition's deletion (the guard the configuration
    /// sends only ExternalClusters' CRD to): refused while imported registrations would go with it.
    pub fn review_crd_deletion(&self, body: &[u8]) -> Reply {
        let start = Instant::now();
        let reply = match review::decode_crd_deletion(body) {
            Ok(asked) => {
                let decision = if asked.operation == Operation::Delete {
                    let imported = self.registry.imported();
                    let names = imported
                        .as_ref()
                        .map(|names| names.iter().map(String::as_str).collect())
                        .map_err(|e| RegistryUnavailable(e.0));
                    decide_crd_delete(&asked.name, names)
                } else {
                    Ok(())
                };
                self.respond(&asked, &asked.name, decision.into())
            }
            Err(rejection) => self.rejected(rejection),
        };
        self.metrics.latency.observe(start.elapsed().as_secs_f64());
        reply
    }

    fn rejected(&self, rejection: Rejection<'_>) -> Reply {
        match rejection {
            Rejection::Invalid {
                asked,
                reason,
                message,
            } => {
                let refusal = Refusal {
                    verdict: Verdict::Invalid,
                    reason,
                    code: 400,
                    message,
                };
                self.respond(&asked, &asked.name, Answer::Refused(refusal))
            }
            Rejection::Malformed(message) => self.bad_request(message),
        }
    }

    fn decide(&self, request: &Decoded<'_>) -> Result<(), Denial> {
        let operation = request.asked.operation;
        let (new, old) = (request.new.as_ref(), request.old.as_ref());
        let reserve =
            new.filter(|new| operation == Operation::Create && !request.dry_run && new.is_live());
        self.registry.decide(reserve, |registry| {
            self.policy.decide(operation, new, old, registry)
        })
    }

    fn respond(&self, asked: &Asked<'_>, name: &str, answer: Answer) -> Reply {
        let (uid, operation) = (&*asked.uid, asked.operation.as_str());
        let verdict = match &answer {
            Answer::Allowed { .. } => Verdict::Allowed,
            Answer::Refused(r) => r.verdict,
        };
        self.metrics.requests.inc(Some(asked.operation), verdict);
        let refusal = match answer {
            Answer::Allowed { warning } => {
                tracing::debug!(
                    uid,
                    operation,
                    name,
                    warning = warning.as_deref(),
                    "allowed"
                );
                return Reply {
                    status: http::StatusCode::OK,
                    body: review::response(uid, None, warning.as_deref()),
                };
            }
            Answer::Refused(refusal) => refusal,
        };
        let Refusal {
            reason,
            code,
            message,
            ..
        } = refusal;
        tracing::info!(uid, operation, name, reason, message, "denied");
        self.metrics
            .denials
            .get_or_create(&DenialLabels { reason })
            .inc();
        Reply {
            status: http::StatusCode::OK,
            body: review::response(uid, Some((code, &message)), None),
        }
    }

    /// A body with no review to answer: HTTP 400, which the API server reports as a webhook failure.
    fn bad_request(&self, message: Cow<'static, str>) -> Reply {
        tracing::info!(
            reason = "bad_request",
            message = &*message,
            "refused a malformed review"
        );
        self.metrics.requests.inc(None, Verdict::Invalid);
        Reply {
            status: http::StatusCode::BAD_REQUEST,
            body: message.into_owned().into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass path and the careful path answer every fixture identically.
    #[test]
    fn both_decoding_paths_agree_on_every_fixture() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("fixtures") {
            let body = std::fs::read(entry.expect("an entry").path()).expect("a fixture");
            for synced in [false, true] {
                let (fast, careful) = (webhook(synced), webhook(synced));
                let a = fast.answer(review::decode(&body));
                let b = careful.answer(review::decode_carefully(&body));
                assert_eq!((a.status, &a.body), (b.status, &b.body));
            }
            seen += 1;
        }
        assert!(seen >= 15, "read {seen} fixtures");
    }

    fn webhook(synced: bool) -> Webhook {
        let w = Webhook::new(Policy::default(), Duration::from_secs(15));
        w.registry
            .update(|i| i.upsert("prod-eu", "4c1b2f3e-9d1a-4f7e-8a61-2b7f0c9e5d11", true));
        if synced {
            w.registry.sync().mark_synced();
        }
        w
    }
}
