//! One active replica, elected through a `coordination.k8s.io/v1` Lease, with a deadline.
//!
//! Written here rather than taken from kube-lease-manager (kube::runtime has no elector): that
//! crate renews with patches that carry no `resourceVersion`, so a renewal held up in a frozen
//! connection and delivered later overwrote the next holder's Lease, and it tells a replica it
//! still leads for as long as a renewal call hangs. Here:
//! - every write is a replace (or create) conditioned on the `resourceVersion` last read, so a
//!   late renewal is refused once anyone else wrote the Lease;
//! - another holder's Lease counts as lapsed only when this replica has seen the same
//!   `resourceVersion` for a whole Lease duration (its own clock, as client-go's
//!   `tools/leaderelection` does; the duration is the Lease's `leaseDurationSeconds`, which the
//!   API documents as what candidates wait), or when its holder is empty (given up);
//! - the work runs only until `sent + duration - grace`, `sent` being when the last renewal that
//!   succeeded was sent: it stops then whether or not a call is still in flight, which is before
//!   any other replica can take the Lease (they wait at least `duration` from when they saw it);
//! - every call gives up after half the Lease duration;
//! - SIGTERM stops the work and gives the Lease up, so a rolling update hands over at once;
//! - work that ends or panics ends the process (the Deployment restarts it) rather than holding
//!   the Lease while doing nothing.

use crate::serve::ReplicaState;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub struct Election {
    pub api: Api<Lease>,
    pub name: String,
    pub identity: String,
    pub duration: Duration,
    /// Where this replica says whether it leads.
    pub replica: Arc<ReplicaState>,
}

/// Why the election ended.
#[derive(Debug, thiserror::Error)]
pub enum Ended {
    #[error("the work stopped while this replica led ({0}); exiting so that it is restarted")]
    WorkStopped(String),
}

/// The Lease as this replica last read it, and since when it has looked so.
#[derive(Debug, Clone)]
struct Observed {
    resource_version: String,
    holder: Option<String>,
    spec: LeaseSpec,
    since: Instant,
}

/// Whether this replica holds the Lease after one round.
enum Round {
    Holding,
    Following,
}

impl Election {
    /// How often the holder renews; a follower asks twice as often, so a Lease given up passes
    /// within an eighth of its duration.
    fn round_every(&self, leading: bool) -> Duration {
        if leading {
            self.duration / 4
        } else {
            self.duration / 8
        }
    }

    /// How long before the Lease could pass to another replica this one stops its work.
    fn grace(&self) -> Duration {
        self.duration / 4
    }

    fn call_timeout(&self) -> Duration {
        self.duration / 2
    }

    /// Runs `work` while this replica holds the Lease; returns once `shutdown` resolves (the Lease
    /// given up) or with an error when the work stops by itself.
    pub async fn run<F, Fut>(
        &self,
        work: F,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Ended>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        tokio::pin!(shutdown);
        let mut state = State::default();
        let stop = loop {
            let sent = Instant::now();
            let attempt =
                tokio::time::timeout(self.call_timeout(), self.round(state.observed.clone()));
            let result = match self.guarded(&mut state, &mut shutdown, attempt).await {
                Ok(result) => result,
                Err(stop) => break stop,
            };
            self.after_round(&mut state, result, sent, &work);
            let next = sent + self.round_every(self.replica.leading_until().is_some());
            let pause = tokio::time::sleep_until(next);
            if let Err(stop) = self.guarded(&mut state, &mut shutdown, pause).await {
                break stop;
            }
        };
        match stop {
            Stop::Shutdown => {
                self.give_up(&mut state).await;
                Ok(())
            }
            Stop::WorkEnded(why) => Err(Ended::WorkStopped(why)),
        }
    }

    /// Waits for `step` while enforcing the deadline (the work is stopped the moment it passes),
    /// and gives up on it when the work ends or shutdown comes.
    async fn guarded<T>(
        &self,
        state: &mut State,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
        step: impl Future<Output = T>,
    ) -> Result<T, Stop> {
        tokio::pin!(step);
        loop {
            let deadline = crate::clock::sleep_until(self.replica.leading_until());
            let work = async {
                match state.work.as_mut() {
                    Some(task) => task.await,
                    None => std::future::pending().await,
                }
            };
            let passed = tokio::select! {
                done = &mut step => return Ok(done),
                ended = work => return Err(Stop::WorkEnded(why_ended(ended))),
                () = shutdown.as_mut() => return Err(Stop::Shutdown),
                () = deadline => true,
            };
            if passed {
                tracing::warn!(
                    identity = %self.identity,
                    "the Lease was not renewed in time: stopping all work before another replica can take it"
                );
                self.step_down(state);
            }
        }
    }

    fn after_round<F, Fut>(
        &self,
        state: &mut State,
        result: Result<Result<(Round, Observed), kube::Error>, tokio::time::error::Elapsed>,
        sent: Instant,
        work: &F,
    ) where
        F: Fn() -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        match result {
            Ok(Ok((Round::Holding, observed))) => {
                state.observed = Some(observed);
                let until = sent + self.duration - self.grace();
                if until <= Instant::now() {
                    // Renewed, but too late to count: the next round renews again.
                    return;
                }
                self.replica.leading(until);
                if state.work.is_none() {
                    tracing::info!(identity = %self.identity, "leading: probing and publishing");
                    state.work = Some(tokio::spawn(work()));
                }
            }
            Ok(Ok((Round::Following, observed))) => {
                state.observed = Some(observed);
                if state.work.is_some() {
                    tracing::info!(identity = %self.identity, "another replica holds the Lease: no longer leading");
                }
                self.step_down(state);
                self.replica.follows();
            }
            Ok(Err(e)) => {
                let next = match &e {
                    kube::Error::Api(a) if a.code == 403 => {
                        "the controller's ServiceAccount needs get, create and update on leases \
                         in its namespace (manifests/controller.yaml)"
                    }
                    _ => "trying again at the next round",
                };
                tracing::warn!(error = %e, lease = %self.name, "cannot read or renew the Lease: {next}");
                if let kube::Error::Api(a) = &e
                    && a.code == 409
                {
                    // Someone wrote it since it was read: read it afresh next round.
                    state.observed = None;
                }
            }
            Err(_) => tracing::warn!(
                timeout = ?self.call_timeout(),
                "the Lease call did not return in time"
            ),
        }
    }

    fn step_down(&self, state: &mut State) {
        if let Some(task) = state.work.take() {
            task.abort();
        }
        self.replica.following();
    }

    /// One round: read the Lease; renew it if it is ours, take it if it lapsed or was given up.
    async fn round(&self, last: Option<Observed>) -> Result<(Round, Observed), kube::Error> {
        let now = Instant::now();
        let lease = match self.api.get_opt(&self.name).await? {
            Some(lease) => lease,
            None => return self.create().await,
        };
        let observed = Observed::of(&lease, last.as_ref(), now);
        let ours = observed.holder.as_deref() == Some(self.identity.as_str());
        if !ours && !observed.lapsed(now, self.duration) {
            return Ok((Round::Following, observed));
        }
        let mut spec = observed.spec.clone();
        let at = MicroTime(Timestamp::now());
        if !ours {
            spec.holder_identity = Some(self.identity.clone());
            spec.acquire_time = Some(at.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.renew_time = Some(at);
        spec.lease_duration_seconds = Some(self.duration_secs());
        let written = self.replace(lease.metadata, spec).await?;
        Ok((Round::Holding, Observed::of(&written, None, now)))
    }

    async fn create(&self) -> Result<(Round, Observed), kube::Error> {
        let at = MicroTime(Timestamp::now());
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(self.duration_secs()),
                acquire_time: Some(at.clone()),
                renew_time: Some(at),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        let made = self.api.create(&params(), &lease).await?;
        Ok((Round::Holding, Observed::of(&made, None, Instant::now())))
    }

    /// Writes `spec` over the Lease read as `metadata`: refused (409) if anyone wrote it since.
    async fn replace(&self, metadata: ObjectMeta, spec: LeaseSpec) -> Result<Lease, kube::Error> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: metadata.name,
                namespace: metadata.namespace,
                resource_version: metadata.resource_version,
                labels: metadata.labels,
                annotations: metadata.annotations,
                ..ObjectMeta::default()
            },
            spec: Some(spec),
        };
        self.api.replace(&self.name, &params(), &lease).await
    }

    /// Stops the work and hands the Lease back (holder cleared), so another replica takes it at
    /// its next round instead of waiting the Lease out.
    async fn give_up(&self, state: &mut State) {
        let held = self.replica.leading_until().is_some();
        self.step_down(state);
        if !held {
            return;
        }
        match tokio::time::timeout(self.call_timeout(), self.release()).await {
            Ok(Ok(true)) => tracing::info!(identity = %self.identity, "gave the Lease up"),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot give the Lease up; it runs out"),
            Err(_) => tracing::warn!("giving the Lease up did not return in time; it runs out"),
        }
    }

    async fn release(&self) -> Result<bool, kube::Error> {
        let Some(lease) = self.api.get_opt(&self.name).await? else {
            return Ok(false);
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(false);
        }
        // As client-go's release: no holder and no times; the duration and transitions stay.
        let released = LeaseSpec {
            lease_duration_seconds: spec.lease_duration_seconds,
            lease_transitions: spec.lease_transitions,
            ..LeaseSpec::default()
        };
        self.replace(lease.metadata, released).await.map(|_| true)
    }

    fn duration_secs(&self) -> i32 {
        i32::try_from(self.duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }
}

fn params() -> PostParams {
    PostParams {
        field_manager: Some(extcluster_remote::status::CONTROLLER_MANAGER.into()),
        ..PostParams::default()
    }
}

impl Observed {
    /// `lease` as read at `now`: seen since `last.since` if it has not changed since then.
    fn of(lease: &Lease, last: Option<&Observed>, now: Instant) -> Self {
        let resource_version = lease.metadata.resource_version.clone().unwrap_or_default();
        let since = match last {
            Some(l) if l.resource_version == resource_version => l.since,
            _ => now,
        };
        let spec = lease.spec.clone().unwrap_or_default();
        Self {
            resource_version,
            holder: spec.holder_identity.clone().filter(|h| !h.is_empty()),
            spec,
            since,
        }
    }

    /// Given up, or unchanged for a whole Lease duration as this replica's clock counts.
    fn lapsed(&self, now: Instant, ours: Duration) -> bool {
        let duration = self
            .spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(ours, Duration::from_secs);
        self.holder.is_none() || now.duration_since(self.since) >= duration
    }
}

/// What the election keeps between rounds (the deadline is `ReplicaState`'s, which every writer reads).
#[derive(Default)]
struct State {
    observed: Option<Observed>,
    work: Option<JoinHandle<()>>,
}

/// Why the election stops.
enum Stop {
    Shutdown,
    WorkEnded(String),
}

fn why_ended(ended: Result<(), tokio::task::JoinError>) -> String {
    match ended {
        Ok(()) => "it returned".to_owned(),
        Err(e) if e.is_panic() => "it panicked".to_owned(),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(rv: &str, holder: Option<&str>) -> Lease {
        Lease {
            metadata: ObjectMeta {
                resource_version: Some(rv.into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(Into::into),
                lease_duration_seconds: Some(4),
                ..LeaseSpec::default()
            }),
        }
    }

    #[test]
    fn another_holders_lease_lapses_only_after_a_whole_duration_unchanged() {
        let t0 = Instant::now();
        let ours = Duration::from_secs(4);
        let first = Observed::of(&lease("1", Some("b")), None, t0);
        assert!(!first.lapsed(t0 + Duration::from_secs(3), ours));
        let same = Observed::of(
            &lease("1", Some("b")),
            Some(&first),
            t0 + Duration::from_secs(3),
        );
        assert_eq!(same.since, t0, "unchanged: seen since the first read");
        assert!(same.lapsed(t0 + Duration::from_secs(4), ours));
        let renewed = Observed::of(
            &lease("2", Some("b")),
            Some(&same),
            t0 + Duration::from_secs(4),
        );
        assert!(!renewed.lapsed(t0 + Duration::from_secs(7), ours));
        let given_up = Observed::of(&lease("3", Some("")), Some(&renewed), t0);
        assert!(
            given_up.lapsed(t0, ours),
            "a cleared holder is free at once"
        );
    }
}
