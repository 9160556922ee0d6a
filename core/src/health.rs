//! What a registration's status becomes after a probe: phase, conditions and the transitions
//! worth an event. Pure: the caller brings what the probe saw, the clock and the settings, so
//! `kubectl extcluster refresh` and the controller derive status with the same rules.

use crate::api::{CredentialsStatus, ExternalClusterStatus, KubeletVersion, NodeSummary, Phase};
use crate::version::{KubeVersion, VersionRange};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::BTreeSet;

/// The condition types a registration carries.
pub mod condition {
    pub const READY: &str = "Ready";
    pub const IDENTITY_VERIFIED: &str = "IdentityVerified";
    pub const VERSION_SUPPORTED: &str = "VersionSupported";
    pub const CREDENTIALS_VALID: &str = "CredentialsValid";
    pub const CREDENTIALS_EXPIRING: &str = "CredentialsExpiring";
}
use condition::*;

/// Ready's reason while it stays True through failed probes below `--unreachable-after`: the
/// cluster answered before, but not the last probe.
pub const PROBE_FAILING: &str = "ProbeFailing";

/// What a successful probe saw of the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub git_version: String,
    /// UID of `kube-system`.
    pub cluster_id: String,
    pub node_count: u32,
    pub nodes: NodeSummary,
}

/// Why a probe failed, in one sentence, and what kind of failure it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeError {
    pub kind: FailureKind,
    pub message: String,
}

/// The kinds of failure the status and the metrics tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
pub enum FailureKind {
    /// No connection: refused, no route, a TLS failure.
    Unreachable,
    /// The cluster did not answer in time.
    Timeout,
    /// The cluster answered 401: it no longer accepts the stored credentials.
    Unauthorized,
    /// The cluster answered with another error.
    ServerError,
    /// The hub holds no usable kubeconfig for the registration.
    Kubeconfig,
}

/// Everything one probe round learnt.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub outcome: Result<Seen, ProbeError>,
    /// The rights the registration's mode needs that the credentials lack; `None` when they
    /// were not checked this round (the last answer stands).
    pub missing_rights: Option<Vec<String>>,
    /// What the stored credentials say of themselves.
    pub credentials: CredentialFacts,
}

/// What credentials say of themselves, read without asking anyone: when they stop working and
/// whom they authenticate as.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CredentialFacts {
    pub expires: Option<Timestamp>,
    /// `serviceaccount NAMESPACE/NAME`, or `user NAME`.
    pub identity: Option<String>,
    /// The proxy the cluster is reached through, without any user or password.
    pub proxy: Option<String>,
}

/// The rules' settings: the controller's flags, or `refresh`'s fixed ones.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Consecutive failed probes before a registration turns `Unreachable`.
    pub unreachable_after: u32,
    /// How long before expiry credentials count as expiring.
    pub expiry_warning: SignedDuration,
    pub accepted_versions: VersionRange,
    /// How long a status holds without being written again: the heartbeat plus a few intervals.
    pub fresh_for: SignedDuration,
    /// Nodes on several kubelet versions that none moved between for this long are a stable
    /// skew (within the version-skew policy), not an upgrade in progress.
    pub skew_settles_after: SignedDuration,
}

/// The controller's default probe interval and heartbeat.
pub const DEFAULT_INTERVAL: SignedDuration = SignedDuration::from_secs(60);
pub const DEFAULT_HEARTBEAT: SignedDuration = SignedDuration::from_hours(2);
/// How long nodes may stay put on several kubelet versions before that counts as settled.
pub const DEFAULT_SKEW_SETTLES_AFTER: SignedDuration = SignedDuration::from_mins(30);
/// Missed probes, beyond the heartbeat, before a status counts as stale.
pub const STALE_AFTER_INTERVALS: i32 = 3;

/// How long a status written now holds: the next heartbeat, plus three intervals' grace.
pub fn fresh_for(heartbeat: SignedDuration, interval: SignedDuration) -> SignedDuration {
    heartbeat.saturating_add(interval.saturating_mul(STALE_AFTER_INTERVALS))
}

/// Whether `status` is past its `staleAfter`.
pub fn is_stale(status: &ExternalClusterStatus, now: Timestamp) -> bool {
    status.stale_after.as_ref().is_some_and(|t| now > t.0)
}

impl Settings {
    /// The controller's defaults (`--unreachable-after 3`, `--expiry-warning 168h`, the webhook's
    /// default range).
    pub fn defaults() -> Self {
        Self {
            unreachable_after: 3,
            expiry_warning: SignedDuration::from_hours(7 * 24),
            accepted_versions: VersionRange::default(),
            fresh_for: fresh_for(DEFAULT_HEARTBEAT, DEFAULT_INTERVAL),
            skew_settles_after: DEFAULT_SKEW_SETTLES_AFTER,
        }
    }

    /// For a probe a person asked for (`refresh`, `register`): one failure is already the answer.
    pub fn on_request() -> Self {
        Self {
            unreachable_after: 1,
            ..Self::defaults()
        }
    }
}

/// What the registration is known as, besides its status.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub cluster_id: &'a str,
    pub generation: Option<i64>,
}

/// An event a transition is worth: Warning for what needs a person, Normal for a recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

/// The status after a probe, and the transitions it made.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub status: ExternalClusterStatus,
    pub transitions: Vec<Transition>,
}

/// Derives the status after one probe. `failures` counts the consecutive failed probes before
/// this one; the caller keeps it (it is the controller's memory, not the hub's).
pub fn derive(
    old: Option<&ExternalClusterStatus>,
    subject: Subject<'_>,
    observation: &Observation,
    failures: u32,
    settings: &Settings,
    now: Timestamp,
) -> Derived {
    let never_probed = ExternalClusterStatus::default();
    let old = old.unwrap_or(&never_probed);
    let mut next = Next {
        old,
        status: old.clone(),
        subject,
        now,
        transitions: Vec::new(),
    };
    next.status.last_probe_time = Some(Time(now));
    next.status.stale_after = now.checked_add(settings.fresh_for).ok().map(Time);
    match &observation.outcome {
        Ok(seen) => next.answered(seen, settings),
        Err(error) => next.failed(error, failures + 1, settings),
    }
    if let Some(missing) = &observation.missing_rights {
        next.rights(missing);
    }
    next.credentials(&observation.credentials, settings.expiry_warning);
    next.phase_transitions();
    Derived {
        status: next.status,
        transitions: next.transitions,
    }
}

struct Next<'a> {
    old: &'a ExternalClusterStatus,
    status: ExternalClusterStatus,
    subject: Subject<'a>,
    now: Timestamp,
    transitions: Vec<Transition>,
}

impl Next<'_> {
    fn answered(&mut self, seen: &Seen, settings: &Settings) {
        let mut nodes = seen.nodes.clone();
        nodes.kubelets_moved_at = self.kubelets_moved_at(&nodes.kubelets);
        let upgrading = nodes.kubelets.len() > 1
            && nodes
                .kubelets_moved_at
                .as_ref()
                .is_some_and(|at| self.now.duration_since(at.0) < settings.skew_settles_after);
        self.status.observed_version = Some(seen.git_version.clone());
        self.status.node_count = Some(seen.node_count);
        self.status.message = None;

        let same_cluster = seen.cluster_id == self.subject.cluster_id;
        let phase = if !same_cluster {
            self.status.message = Some(identity_message(self.subject.cluster_id, seen));
            Phase::IdentityMismatch
        } else if upgrading {
            self.status.message = Some(format!(
                "nodes are moving between kubelet versions {} ({}): an upgrade is in progress",
                minors(&nodes.kubelets),
                on_nodes(&nodes.kubelets)
            ));
            Phase::Reconciling
        } else {
            Phase::Running
        };
        self.status.nodes = Some(nodes);
        self.status.phase = Some(phase);
        self.set(
            READY,
            true,
            "ProbeSucceeded",
            format!(
                "the API server answered: {}, {} nodes ({} ready)",
                seen.git_version, seen.node_count, seen.nodes.ready
            ),
        );
        self.identity(same_cluster, seen);
        self.version(&seen.git_version, &settings.accepted_versions);
        // Missing rights stand until the next rights check says otherwise; valid credentials
        // keep the message of the check that found them so (a changed message is a hub write).
        let valid = condition_status(&self.old.conditions, CREDENTIALS_VALID) == Some("True");
        if !valid && self.old_reason(CREDENTIALS_VALID) != RIGHTS_MISSING {
            self.set(
                CREDENTIALS_VALID,
                true,
                "Accepted",
                "the cluster accepts the stored credentials".into(),
            );
        }
    }

    fn failed(&mut self, error: &ProbeError, failures: u32, settings: &Settings) {
        self.status.message = Some(error.message.clone());
        if error.kind == FailureKind::Unauthorized {
            self.set(
                CREDENTIALS_VALID,
                false,
                UNAUTHORIZED,
                error.message.clone(),
            );
        }
        if failures >= settings.unreachable_after && error.kind == FailureKind::Unauthorized {
            self.status.phase = Some(Phase::CredentialsRejected);
            self.set(
                READY,
                false,
                CREDENTIALS_REJECTED,
                format!(
                    "the cluster answers but refused the stored credentials {} or more times in                      a row ({}); give the hub credentials it accepts with `kubectl extcluster \
                     set-credentials`",
                    settings.unreachable_after, error.message
                ),
            );
        } else if failures >= settings.unreachable_after {
            self.status.phase = Some(Phase::Unreachable);
            self.set(
                READY,
                false,
                "Unreachable",
                // The count is the threshold, not the running total: a status that changes at
                // every failed probe would be a hub write per probe of every dead cluster.
                format!(
                    "{} or more probes in a row failed; the last: {}",
                    settings.unreachable_after, error.message
                ),
            );
        } else if condition_status(&self.old.conditions, READY) == Some("True") {
            // Still Ready (one failure is not an outage), but no longer answering: what reads
            // "the last probe answered" must be able to tell.
            self.set(
                READY,
                true,
                PROBE_FAILING,
                format!(
                    "the last probe failed ({}); {} in a row make it Unreachable",
                    error.message, settings.unreachable_after
                ),
            );
        } else if self.status.phase.is_none() {
            self.status.phase = Some(Phase::Pending);
        }
    }

    fn identity(&mut self, same_cluster: bool, seen: &Seen) {
        if same_cluster {
            self.set(
                IDENTITY_VERIFIED,
                true,
                "Matches",
                format!("kube-system UID is {}, as registered", seen.cluster_id),
            );
        } else {
            let message = identity_message(self.subject.cluster_id, seen);
            self.set(IDENTITY_VERIFIED, false, "IdentityMismatch", message);
        }
    }

    fn version(&mut self, git_version: &str, accepted: &VersionRange) {
        match KubeVersion::parse(git_version) {
            Ok(v) if accepted.contains(v) => self.set(
                VERSION_SUPPORTED,
                true,
                "InRange",
                format!("{git_version} is within {}", accepted.as_str()),
            ),
            Ok(_) => self.set(
                VERSION_SUPPORTED,
                false,
                "VersionUnsupported",
                format!(
                    "the cluster now runs {git_version}, outside the accepted range {}; it stays \
                     registered",
                    accepted.as_str()
                ),
            ),
            Err(e) => self.set(VERSION_SUPPORTED, false, "VersionUnreadable", e.to_string()),
        }
    }

    fn rights(&mut self, missing: &[String]) {
        if missing.is_empty() {
            self.set(
                CREDENTIALS_VALID,
                true,
                "Accepted",
                "the credentials hold the rights the mode needs".into(),
            );
        } else {
            self.set(
                CREDENTIALS_VALID,
                false,
                RIGHTS_MISSING,
                format!("the credentials lack {}", missing.join(", ")),
            );
        }
    }

    fn credentials(&mut self, facts: &CredentialFacts, warning: SignedDuration) {
        let expires = facts.expires;
        self.status.credentials = (expires.is_some()
            || facts.identity.is_some()
            || facts.proxy.is_some())
        .then(|| CredentialsStatus {
            expires_at: expires.map(Time),
            identity: facts.identity.clone(),
            proxy: facts.proxy.clone(),
        });
        match expires {
            Some(at) if at <= self.now => self.set(
                CREDENTIALS_EXPIRING,
                true,
                "Expired",
                format!("the stored credentials expired at {at}; give the hub new ones with `kubectl extcluster set-credentials`"),
            ),
            Some(at) if self.now.saturating_add(warning).is_ok_and(|w| at <= w) => self.set(
                CREDENTIALS_EXPIRING,
                true,
                "ExpiresSoon",
                format!("the stored credentials expire at {at}; give the hub new ones with `kubectl extcluster set-credentials`"),
            ),
            Some(at) => self.set(
                CREDENTIALS_EXPIRING,
                false,
                "NotSoon",
                format!("the stored credentials expire at {at}"),
            ),
            None => self.set(
                CREDENTIALS_EXPIRING,
                false,
                "NoExpiry",
                "the stored credentials carry no expiry".into(),
            ),
        }
    }

    /// Events for the phase: a Warning on becoming Unreachable, a Normal on coming back.
    fn phase_transitions(&mut self) {
        let (old, new) = (self.old.phase, self.status.phase);
        if old == new {
            return;
        }
        match new {
            Some(Phase::Unreachable) => self.ready_event(true, "Unreachable"),
            Some(Phase::Running | Phase::Reconciling) if old == Some(Phase::Unreachable) => {
                self.ready_event(false, "Reachable")
            }
            _ => {}
        }
    }

    /// Sets a condition; a change of its status is a transition worth an event.
    fn set(&mut self, type_: &'static str, ok: bool, reason: &str, message: String) {
        let status = if ok { "True" } else { "False" };
        let before = condition_status(&self.old.conditions, type_);
        set_condition(
            &mut self.status.conditions,
            Condition {
                type_: type_.into(),
                status: status.into(),
                reason: reason.into(),
                message: message.clone(),
                last_transition_time: Time(self.now),
                observed_generation: self.subject.generation,
            },
        );
        if before == Some(status) {
            return;
        }
        // A problem is worth an event when it appears; a good state only as a recovery, so a new
        // registration does not announce every condition.
        if let Some((warning, reason)) = event_for(type_, ok, reason)
            && (warning || before.is_some())
        {
            self.transitions.push(Transition {
                warning,
                reason,
                message,
            });
        }
    }

    /// An event for a phase change, saying what the Ready condition says.
    fn ready_event(&mut self, warning: bool, reason: &'static str) {
        let message = self
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == READY)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        self.transitions.push(Transition {
            warning,
            reason,
            message,
        });
    }

    fn old_reason(&self, type_: &str) -> &str {
        self.old
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map_or("", |c| c.reason.as_str())
    }
}

const UNAUTHORIZED: &str = "Unauthorized";
const CREDENTIALS_REJECTED: &str = "CredentialsRejected";
const RIGHTS_MISSING: &str = "RightsMissing";

/// The event a condition's change is worth, if any: (warning, reason). Ready's events follow
/// the phase instead (it changes only after several failures).
fn event_for(type_: &str, ok: bool, reason: &str) -> Option<(bool, &'static str)> {
    match (type_, ok) {
        (IDENTITY_VERIFIED, false) => Some((true, "IdentityMismatch")),
        (IDENTITY_VERIFIED, true) => Some((false, "IdentityVerified")),
        (VERSION_SUPPORTED, false) => Some((true, "VersionUnsupported")),
        (VERSION_SUPPORTED, true) => Some((false, "VersionSupported")),
        (CREDENTIALS_VALID, false) if reason == UNAUTHORIZED => Some((true, CREDENTIALS_REJECTED)),
        (CREDENTIALS_VALID, false) => Some((true, RIGHTS_MISSING)),
        (CREDENTIALS_VALID, true) => Some((false, "CredentialsAccepted")),
        (CREDENTIALS_EXPIRING, true) => Some((true, "CredentialsExpiring")),
        _ => None,
    }
}

impl Next<'_> {
    /// When nodes last moved between kubelet versions: now, if they moved since the last probe.
    /// A skew seen at the first probe has not moved: it is how the cluster was found.
    fn kubelets_moved_at(&self, now_running: &[KubeletVersion]) -> Option<Time> {
        let old = self.old.nodes.as_ref()?;
        if moved(&old.kubelets, now_running) {
            Some(Time(self.now))
        } else {
            old.kubelets_moved_at.clone()
        }
    }
}

/// Nodes moved between kubelet versions when a version appeared or went, or fewer nodes run a
/// version older than the newest. Nodes joining or leaving alone (autoscaling) are no move.
fn moved(before: &[KubeletVersion], after: &[KubeletVersion]) -> bool {
    let versions = |k: &[KubeletVersion]| k.iter().map(|k| k.version.clone()).collect::<Vec<_>>();
    versions(before) != versions(after) || behind_newest(after) < behind_newest(before)
}

/// How many nodes run a kubelet older than the newest one running.
fn behind_newest(kubelets: &[KubeletVersion]) -> u32 {
    let parsed: Vec<(Option<KubeVersion>, u32)> = kubelets
        .iter()
        .map(|k| (KubeVersion::parse(&k.version).ok(), k.nodes))
        .collect();
    let newest = parsed.iter().filter_map(|(v, _)| *v).max();
    parsed
        .iter()
        .filter(|(v, _)| v.is_some() && *v != newest)
        .map(|(_, n)| n)
        .sum()
}

/// The distinct minor versions among kubelet versions, as `1.29, 1.30`.
fn minors(kubelets: &[KubeletVersion]) -> String {
    let minors: BTreeSet<(u64, u64)> = kubelets
        .iter()
        .filter_map(|k| KubeVersion::parse(&k.version).ok())
        .map(|v| (v.major, v.minor))
        .collect();
    let list: Vec<String> = minors.iter().map(|(a, b)| format!("{a}.{b}")).collect();
    list.join(", ")
}

/// Kubelet versions with their nodes, as `v1.29.3 on 2 nodes, v1.30.0 on 1`.
fn on_nodes(kubelets: &[KubeletVersion]) -> String {
    let mut words = Vec::with_capacity(kubelets.len());
    for (i, k) in kubelets.iter().enumerate() {
        let unit = match (i, k.nodes) {
            (0, 1) => " node",
            (0, _) => " nodes",
            _ => "",
        };
        words.push(format!("{} on {}{unit}", k.version, k.nodes));
    }
    words.join(", ")
}

fn identity_message(registered: &str, seen: &Seen) -> String {
    format!(
        "the server answers as cluster {} (its kube-system UID), but this registration is for \
         cluster {registered}: its kubeconfig reaches another cluster",
        seen.cluster_id
    )
}

/// The `IdentityVerified` condition when it is False: the stored kubeconfig reaches another
/// cluster than the one registered, so nothing published may vouch for the registration.
pub fn identity_refuted(status: Option<&ExternalClusterStatus>) -> Option<&Condition> {
    status?
        .conditions
        .iter()
        .find(|c| c.type_ == IDENTITY_VERIFIED && c.status == "False")
}

fn condition_status<'c>(conditions: &'c [Condition], type_: &str) -> Option<&'c str> {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.as_str())
}

/// Replaces the condition of the same type, keeping its transition time when its status did not
/// change.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) {
    if let Some(old) = conditions.iter_mut().find(|c| c.type_ == new.type_) {
        if old.status == new.status {
            new.last_transition_time = old.last_transition_time.clone();
        }
        *old = new;
    } else {
        conditions.push(new);
    }
}

/// The kubelet versions, sorted, each with the nodes that run it, as the status records them.
pub fn kubelets<'v>(versions: impl IntoIterator<Item = &'v str>) -> Vec<KubeletVersion> {
    let mut counted = std::collections::BTreeMap::<&str, u32>::new();
    for version in versions.into_iter().filter(|v| !v.is_empty()) {
        *counted.entry(version).or_default() += 1;
    }
    counted
        .into_iter()
        .map(|(version, nodes)| KubeletVersion {
            version: version.to_owned(),
            nodes,
        })
        .collect()
}

/// Whether a status differs from another in anything but the probe time: what decides a hub
/// write.
pub fn changed(old: Option<&ExternalClusterStatus>, new: &ExternalClusterStatus) -> bool {
    let Some(old) = old else { return true };
    let mut new = new.clone();
    new.last_probe_time.clone_from(&old.last_probe_time);
    new.stale_after.clone_from(&old.stale_after);
    *old != new
}
