//! What a request needs: the policy, the registry index and whether it can be trusted, metrics.
//! [`Webhook::review`] turns a request body into an answer without any I/O.

use crate::index::RegistryIndex;
use crate::metrics::{DenialLabels, Metrics, RequestLabels, Verdict};
use crate::review::{self, Request, Review};
use extcluster_core::api::GROUP;
use extcluster_core::policy::{Operation, Policy, Registration, Registry, RegistryUnavailable};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Webhook {
    policy: Policy,
    index: RwLock<RegistryIndex>,
    sync: SyncState,
    pub metrics: Metrics,
}

/// An HTTP answer: status and JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: http::StatusCode,
    pub body: Vec<u8>,
}

impl Webhook {
    pub fn new(policy: Policy, stale_after: Duration) -> Self {
        Self {
            policy,
            index: RwLock::default(),
            sync: SyncState::new(stale_after),
            metrics: Metrics::default(),
        }
    }

    pub fn review(&self, body: &[u8]) -> Reply {
        let start = Instant::now();
        let reply = self.decide(body);
        self.metrics.latency.observe(start.elapsed().as_secs_f64());
        reply
    }

    fn decide(&self, body: &[u8]) -> Reply {
        // One pass, objects decoded straight into the rules' view: every well-formed review.
        // Anything else takes the careful path, which says precisely what is wrong.
        match serde_json::from_slice::<Review<Registration>>(body) {
            Ok(review) => match self.envelope(&review) {
                Ok(req) => self.judge(req, req.object.as_ref(), req.old_object.as_ref()),
                Err(reply) => reply,
            },
            Err(_) => self.decide_carefully(body),
        }
    }

    /// Reads the review one step at a time: the envelope, then each object.
    fn decide_carefully(&self, body: &[u8]) -> Reply {
        let review: Review = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return self.bad_request(&format!("the body is not an AdmissionReview: {e}"));
            }
        };
        let req = match self.envelope(&review) {
            Ok(req) => req,
            Err(reply) => return reply,
        };
        let objects = review::registration(req.object, "object")
            .and_then(|new| Ok((new, review::registration(req.old_object, "oldObject")?)));
        match objects {
            Ok((new, old)) => self.judge(req, new.as_ref(), old.as_ref()),
            Err(msg) => self.refuse(
                &req.uid,
                req.operation,
                &req.name,
                Verdict::Invalid,
                "unreadable_object",
                400,
                &msg,
            ),
        }
    }

    /// The review's request, if the review is one this webhook answers.
    fn envelope<'r, O>(&self, review: &'r Review<'_, O>) -> Result<&'r Request<'r, O>, Reply> {
        if review.api_version.as_deref() != Some(review::API_VERSION)
            || review.kind.as_deref() != Some(review::KIND)
        {
            return Err(self.bad_request(&format!(
                "expected an {} {}, got apiVersion {:?} kind {:?}; set admissionReviewVersions: [v1]",
                review::API_VERSION,
                review::KIND,
                review.api_version.as_deref().unwrap_or(""),
                review.kind.as_deref().unwrap_or(""),
            )));
        }
        let Some(req) = review.request.as_ref() else {
            return Err(self.bad_request("the AdmissionReview has no request"));
        };
        if req.kind.group != GROUP || req.kind.kind != "ExternalCluster" {
            let msg = format!(
                "this webhook reviews only {GROUP} ExternalClusters, not {}/{} {}; check the \
                 ValidatingWebhookConfiguration's rules",
                req.kind.group, req.kind.version, req.kind.kind
            );
            return Err(self.refuse(
                &req.uid,
                req.operation,
                &req.name,
                Verdict::Invalid,
                "wrong_kind",
                400,
                &msg,
            ));
        }
        Ok(req)
    }

    /// Decides a well-formed request about an ExternalCluster.
    fn judge<O>(
        &self,
        req: &Request<'_, O>,
        new: Option<&Registration<'_>>,
        old: Option<&Registration<'_>>,
    ) -> Reply {
        let op = req.operation;
        let name = new.or(old).map_or(&*req.name, |r| r.name());
        let unavailable = self.sync.unavailable();
        let decision = match (op, new) {
            // Decide and reserve under one write lock, so two creates of one cluster cannot both
            // pass between the decision and the reservation.
            (Operation::Create, Some(new)) if !req.dry_run && new.is_live() => {
                let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
                let view = IndexView {
                    index: &index,
                    unavailable,
                };
                let decision = self.policy.decide(op, Some(new), old, &view);
                if decision.is_ok() {
                    index.reserve(new.name(), &new.spec.cluster_id, Instant::now());
                    self.metrics.registrations.set(index.len() as i64);
                }
                decision
            }
            _ => {
                let index = self.index.read().unwrap_or_else(|e| e.into_inner());
                let view = IndexView {
                    index: &index,
                    unavailable,
                };
                self.policy.decide(op, new, old, &view)
            }
        };
        match decision {
            Ok(()) => {
                tracing::debug!(uid = %req.uid, operation = op.as_str(), name, "allowed");
                self.metrics
                    .requests
                    .get_or_create(&RequestLabels {
                        operation: op.as_str(),
                        verdict: Verdict::Allowed,
                    })
                    .inc();
                Reply {
                    status: http::StatusCode::OK,
                    body: review::response(&req.uid, None),
                }
            }
            Err(denial) => {
                let msg = denial.to_string();
                self.refuse(
                    &req.uid,
                    op,
                    name,
                    Verdict::Denied,
                    denial.reason(),
                    403,
                    &msg,
                )
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn refuse(
        &self,
        uid: &str,
        op: Operation,
        name: &str,
        verdict: Verdict,
        reason: &'static str,
        code: u16,
        message: &str,
    ) -> Reply {
        tracing::info!(
            uid,
            operation = op.as_str(),
            name,
            reason,
            message,
            "denied"
        );
        self.metrics
            .requests
            .get_or_create(&RequestLabels {
                operation: op.as_str(),
                verdict,
            })
            .inc();
        self.metrics
            .denials
            .get_or_create(&DenialLabels { reason })
            .inc();
        Reply {
            status: http::StatusCode::OK,
            body: review::response(uid, Some((code, message))),
        }
    }

    /// A body with no review to answer: HTTP 400, which the API server reports as a webhook failure.
    fn bad_request(&self, message: &str) -> Reply {
        tracing::info!(
            reason = "bad_request",
            message,
            "refused a malformed review"
        );
        self.metrics
            .requests
            .get_or_create(&RequestLabels {
                operation: "UNKNOWN",
                verdict: Verdict::Invalid,
            })
            .inc();
        Reply {
            status: http::StatusCode::BAD_REQUEST,
            body: message.as_bytes().to_vec(),
        }
    }

    pub fn read_index<T>(&self, f: impl FnOnce(&RegistryIndex) -> T) -> T {
        f(&self.index.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Applies `f` to the index (the watch feeds it through here).
    pub fn update_index<T>(&self, f: impl FnOnce(&mut RegistryIndex) -> T) -> T {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        let out = f(&mut index);
        index.drop_lapsed(Instant::now());
        self.metrics.registrations.set(index.len() as i64);
        out
    }

    /// Swaps in a relisted index, keeping reservations the relist may predate.
    pub fn replace_index(&self, mut fresh: RegistryIndex) {
        self.update_index(|index| {
            index.carry_reservations_into(&mut fresh, Instant::now());
            *index = fresh;
        });
    }

    pub fn sync(&self) -> &SyncState {
        &self.sync
    }

    pub fn ready(&self) -> bool {
        self.sync.unavailable().is_none()
    }
}

struct IndexView<'a> {
    index: &'a RegistryIndex,
    unavailable: Option<&'static str>,
}

impl Registry for IndexView<'_> {
    fn live_holder(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> Result<Option<&str>, RegistryUnavailable> {
        match self.unavailable {
            Some(why) => Err(RegistryUnavailable(why)),
            None => self.index.live_holder(cluster_id, name),
        }
    }
}

/// Whether the index reflects the hub: synced once, and not out of touch for too long.
pub struct SyncState {
    epoch: Instant,
    synced: AtomicBool,
    /// Milliseconds since `epoch` when the watch broke; 0 while it is healthy.
    broken_since: AtomicU64,
    stale_after: Duration,
}

impl SyncState {
    fn new(stale_after: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            synced: AtomicBool::new(false),
            broken_since: AtomicU64::new(0),
            stale_after,
        }
    }

    pub fn mark_synced(&self) {
        self.synced.store(true, Ordering::Release);
        self.mark_healthy();
    }

    pub fn mark_healthy(&self) {
        self.broken_since.store(0, Ordering::Release);
    }

    pub fn mark_broken(&self) {
        let now = (self.epoch.elapsed().as_millis() as u64).max(1);
        let _ = self
            .broken_since
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Why the index cannot be trusted, if it cannot.
    pub fn unavailable(&self) -> Option<&'static str> {
        if !self.synced.load(Ordering::Acquire) {
            return Some("the webhook has not finished reading the registrations from the hub");
        }
        let since = self.broken_since.load(Ordering::Acquire);
        if since != 0 {
            let broken_for = self
                .epoch
                .elapsed()
                .saturating_sub(Duration::from_millis(since));
            if broken_for > self.stale_after {
                return Some("the webhook has lost its watch on the registrations");
            }
        }
        None
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
                let a = fast.decide(&body);
                let b = careful.decide_carefully(&body);
                assert_eq!((a.status, &a.body), (b.status, &b.body));
            }
            seen += 1;
        }
        assert!(seen >= 15, "read {seen} fixtures");
    }

    fn webhook(synced: bool) -> Webhook {
        let w = Webhook::new(Policy::default(), Duration::from_secs(15));
        w.update_index(|i| i.upsert("prod-eu", "4c1b2f3e-9d1a-4f7e-8a61-2b7f0c9e5d11", true));
        if synced {
            w.sync().mark_synced();
        }
        w
    }
}
