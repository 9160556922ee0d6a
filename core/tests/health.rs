//! The status a probe leads to: every phase, condition and event rule.

use extcluster_core::health::{
    self, Derived, FailureKind, Observation, ProbeError, Seen, Settings, Subject, changed, derive,
};
use extcluster_core::{ExternalClusterStatus, NodeSummary, Phase, VersionRange};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

const ID: &str = "11111111-2222-3333-4444-555555555555";

fn settings() -> Settings {
    Settings {
        unreachable_after: 3,
        expiry_warning: SignedDuration::from_hours(24 * 7),
        accepted_versions: VersionRange::default(),
        fresh_for: SignedDuration::from_secs(600),
        skew_settles_after: SignedDuration::from_mins(30),
    }
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}

fn seen(version: &str, cluster_id: &str, kubelets: &[&str]) -> Seen {
    Seen {
        git_version: version.into(),
        cluster_id: cluster_id.into(),
        node_count: kubelets.len() as u32,
        nodes: NodeSummary {
            ready: kubelets.len() as u32,
            kubelets: extcluster_core::health::kubelets(kubelets.iter().copied()),
            allocatable_cpu: Some("4".into()),
            allocatable_memory: Some("16Gi".into()),
            ..NodeSummary::default()
        },
    }
}

fn ok(s: Seen) -> Observation {
    Observation {
        outcome: Ok(s),
        missing_rights: None,
        credentials: Default::default(),
    }
}

fn failed(kind: FailureKind, message: &str) -> Observation {
    Observation {
        outcome: Err(ProbeError {
            kind,
            message: message.into(),
        }),
        missing_rights: None,
        credentials: Default::default(),
    }
}

fn step(old: Option<&ExternalClusterStatus>, o: &Observation, failures: u32, t: i64) -> Derived {
    derive(
        old,
        Subject {
            cluster_id: ID,
            generation: Some(1),
        },
        o,
        failures,
        &settings(),
        at(t),
    )
}

fn condition<'s>(s: &'s ExternalClusterStatus, type_: &str) -> (&'s str, &'s str) {
    let c = s
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} in {:?}", s.conditions));
    (c.status.as_str(), c.reason.as_str())
}

fn reasons(d: &Derived) -> Vec<(&'static str, bool)> {
    d.transitions
        .iter()
        .map(|t| (t.reason, t.warning))
        .collect()
}

#[test]
fn a_first_answer_is_running_with_every_condition_and_no_event() {
    let d = step(
        None,
        &ok(seen("v1.29.3-eks-adc7111", ID, &["v1.29.3-eks-adc7111"])),
        0,
        0,
    );
    assert_eq!(d.status.phase, Some(Phase::Running));
    assert_eq!(
        d.status.observed_version.as_deref(),
        Some("v1.29.3-eks-adc7111")
    );
    assert_eq!(d.status.node_count, Some(1));
    assert_eq!(condition(&d.status, "Ready").0, "True");
    assert_eq!(condition(&d.status, "IdentityVerified").0, "True");
    assert_eq!(condition(&d.status, "VersionSupported").0, "True");
    assert_eq!(condition(&d.status, "CredentialsValid").0, "True");
    assert_eq!(
        condition(&d.status, "CredentialsExpiring"),
        ("False", "NoExpiry")
    );
    assert!(d.transitions.is_empty(), "{:?}", d.transitions);
}

#[test]
fn unreachable_only_after_the_configured_failures_and_back_on_the_first_success() {
    let up = step(None, &ok(seen("v1.30.1", ID, &["v1.30.1"])), 0, 0).status;
    let refused = failed(FailureKind::Unreachable, "cannot reach https://x: refused");
    let one = step(Some(&up), &refused, 0, 60);
    assert_eq!(
        one.status.phase,
        Some(Phase::Running),
        "no flapping on one lost probe"
    );
    assert_eq!(
        one.status.message.as_deref(),
        Some("cannot reach https://x: refused")
    );
    assert_eq!(
        condition(&one.status, "Ready"),
        ("True", "ProbeFailing"),
        "still Ready, and saying the last probe got no answer"
    );
    assert!(one.transitions.is_empty());
    let two = step(Some(&one.status), &refused, 1, 120);
    assert_eq!(two.status.phase, Some(Phase::Running));
    assert!(two.transitions.is_empty());
    assert_eq!(
        condition(&two.status, "Ready"),
        condition(&one.status, "Ready"),
        "the same words for every failure below the threshold"
    );
    let three = step(Some(&two.status), &refused, 2, 180);
    assert_eq!(three.status.phase, Some(Phase::Unreachable));
    assert_eq!(condition(&three.status, "Ready"), ("False", "Unreachable"));
    assert_eq!(reasons(&three), [("Unreachable", true)]);
    assert!(three.transitions[0].message.contains("refused"));
    assert!(
        three.status.node_count.is_some(),
        "what it reported before is kept"
    );
    let four = step(Some(&three.status), &refused, 3, 240);
    assert!(
        four.transitions.is_empty(),
        "one event per transition, not per probe"
    );
    let back = step(
        Some(&four.status),
        &ok(seen("v1.30.1", ID, &["v1.30.1"])),
        4,
        300,
    );
    assert_eq!(back.status.phase, Some(Phase::Running));
    assert_eq!(back.status.message, None);
    assert_eq!(reasons(&back), [("Reachable", false)]);
    let answered_again = step(
        Some(&one.status),
        &ok(seen("v1.30.1", ID, &["v1.30.1"])),
        0,
        120,
    );
    assert_eq!(
        condition(&answered_again.status, "Ready"),
        ("True", "ProbeSucceeded")
    );
}

#[test]
fn never_probed_successfully_stays_pending_until_unreachable() {
    let refused = failed(FailureKind::Unreachable, "refused");
    let one = step(None, &refused, 0, 0);
    assert_eq!(one.status.phase, Some(Phase::Pending));
    let three = step(Some(&one.status), &refused, 2, 120);
    assert_eq!(three.status.phase, Some(Phase::Unreachable));
}

#[test]
fn another_clusters_identity_is_a_mismatch_naming_both_uids() {
    let d = step(None, &ok(seen("v1.30.1", "other-uid", &["v1.30.1"])), 0, 0);
    assert_eq!(d.status.phase, Some(Phase::IdentityMismatch));
    let (status, reason) = condition(&d.status, "IdentityVerified");
    assert_eq!((status, reason), ("False", "IdentityMismatch"));
    assert_eq!(reasons(&d), [("IdentityMismatch", true)]);
    for uid in [ID, "other-uid"] {
        assert!(
            d.transitions[0].message.contains(uid),
            "{}",
            d.transitions[0].message
        );
        assert!(d.status.message.as_deref().unwrap().contains(uid));
    }
    let fixed = step(
        Some(&d.status),
        &ok(seen("v1.30.1", ID, &["v1.30.1"])),
        0,
        60,
    );
    assert_eq!(fixed.status.phase, Some(Phase::Running));
    assert_eq!(reasons(&fixed), [("IdentityVerified", false)]);
}

#[test]
fn a_cluster_upgraded_out_of_range_is_flagged_not_removed() {
    let up = step(None, &ok(seen("v1.34.2", ID, &["v1.34.2"])), 0, 0).status;
    let d = step(
        Some(&up),
        &ok(seen("v1.35.0+k3s1", ID, &["v1.35.0+k3s1"])),
        0,
        60,
    );
    assert_eq!(
        condition(&d.status, "VersionSupported"),
        ("False", "VersionUnsupported")
    );
    assert_eq!(d.status.phase, Some(Phase::Running));
    assert_eq!(reasons(&d), [("VersionUnsupported", true)]);
    assert!(d.transitions[0].message.contains(">=1.19.0, <1.35.0"));
}

#[test]
fn refused_credentials_are_invalid_at_once_and_valid_again_when_accepted() {
    let up = step(None, &ok(seen("v1.30.1", ID, &["v1.30.1"])), 0, 0).status;
    let rejected = failed(
        FailureKind::Unauthorized,
        "https://x refused the stored credentials (401 Unauthorized)",
    );
    let d = step(Some(&up), &rejected, 0, 60);
    assert_eq!(
        condition(&d.status, "CredentialsValid"),
        ("False", "Unauthorized")
    );
    assert_eq!(reasons(&d), [("CredentialsRejected", true)]);
    let again = step(Some(&d.status), &rejected, 1, 120);
    assert!(again.transitions.is_empty());
    let again = step(Some(&again.status), &rejected, 2, 150);
    assert!(
        again.transitions.is_empty(),
        "one event, CredentialsRejected"
    );
    assert_eq!(again.status.phase, Some(Phase::CredentialsRejected));
    assert_eq!(
        condition(&again.status, "Ready"),
        ("False", "CredentialsRejected"),
        "a cluster that answers is not unreachable"
    );
    let ready = again.status.conditions.iter().find(|c| c.type_ == "Ready");
    assert!(ready.unwrap().message.contains("set-credentials"));
    let back = step(
        Some(&again.status),
        &ok(seen("v1.30.1", ID, &["v1.30.1"])),
        2,
        180,
    );
    assert_eq!(
        condition(&back.status, "CredentialsValid"),
        ("True", "Accepted")
    );
    assert_eq!(reasons(&back), [("CredentialsAccepted", false)]);
    assert_eq!(back.status.phase, Some(Phase::Running));
}

#[test]
fn lost_rights_stand_until_a_rights_check_finds_them_again() {
    let up = step(None, &ok(seen("v1.30.1", ID, &["v1.30.1"])), 0, 0).status;
    let mut lost = ok(seen("v1.30.1", ID, &["v1.30.1"]));
    lost.missing_rights = Some(vec!["create */*".into()]);
    let d = step(Some(&up), &lost, 0, 60);
    assert_eq!(
        condition(&d.status, "CredentialsValid"),
        ("False", "RightsMissing")
    );
    assert_eq!(reasons(&d), [("RightsMissing", true)]);
    let unchecked = step(
        Some(&d.status),
        &ok(seen("v1.30.1", ID, &["v1.30.1"])),
        0,
        120,
    );
    assert_eq!(condition(&unchecked.status, "CredentialsValid").0, "False");
    let mut regained = ok(seen("v1.30.1", ID, &["v1.30.1"]));
    regained.missing_rights = Some(vec![]);
    let back = step(Some(&unchecked.status), &regained, 0, 180);
    assert_eq!(condition(&back.status, "CredentialsValid").0, "True");
}

#[test]
fn credentials_inside_the_window_warn_once() {
    let mut o = ok(seen("v1.30.1", ID, &["v1.30.1"]));
    o.credentials.expires = Some(at(2 * 24 * 3600));
    let d = step(None, &o, 0, 0);
    assert_eq!(
        condition(&d.status, "CredentialsExpiring"),
        ("True", "ExpiresSoon")
    );
    assert_eq!(reasons(&d), [("CredentialsExpiring", true)]);
    let expires = d
        .status
        .credentials
        .as_ref()
        .unwrap()
        .expires_at
        .as_ref()
        .unwrap();
    assert_eq!(expires.0, at(2 * 24 * 3600));
    let again = step(Some(&d.status), &o, 0, 60);
    assert!(again.transitions.is_empty());
    let expired = step(Some(&again.status), &o, 0, 3 * 24 * 3600);
    assert_eq!(
        condition(&expired.status, "CredentialsExpiring"),
        ("True", "Expired")
    );

    o.credentials.expires = Some(at(30 * 24 * 3600));
    let far = step(None, &o, 0, 0);
    assert_eq!(
        condition(&far.status, "CredentialsExpiring"),
        ("False", "NotSoon")
    );
}

#[test]
fn reconciling_means_versions_moving_not_a_stable_skew() {
    let before = step(
        None,
        &ok(seen("v1.29.3", ID, &["v1.28.5", "v1.29.3"])),
        0,
        0,
    );
    assert_eq!(
        before.status.phase,
        Some(Phase::Running),
        "a skew seen once is stable"
    );
    let moving = step(
        Some(&before.status),
        &ok(seen("v1.29.3", ID, &["v1.29.3", "v1.29.3", "v1.30.0"])),
        0,
        60,
    );
    assert_eq!(moving.status.phase, Some(Phase::Reconciling));
    let message = moving.status.message.as_deref().unwrap();
    assert!(
        message.contains("1.29, 1.30 (v1.29.3 on 2 nodes, v1.30.0 on 1)"),
        "{message}"
    );
    let halfway = step(
        Some(&moving.status),
        &ok(seen("v1.29.3", ID, &["v1.29.3", "v1.30.0"])),
        0,
        120,
    );
    assert_eq!(
        halfway.status.phase,
        Some(Phase::Reconciling),
        "an upgrade that started is in progress until the nodes agree"
    );
    let done = step(
        Some(&halfway.status),
        &ok(seen("v1.30.0", ID, &["v1.30.0"])),
        0,
        180,
    );
    assert_eq!(
        done.status.phase,
        Some(Phase::Running),
        "one version is never an upgrade"
    );
}

#[test]
fn a_skew_nothing_moves_in_settles_and_autoscaling_is_no_upgrade() {
    let start = step(
        None,
        &ok(seen("v1.29.3", ID, &["v1.29.3", "v1.29.3"])),
        0,
        0,
    );
    let begun = step(
        Some(&start.status),
        &ok(seen("v1.29.3", ID, &["v1.29.3", "v1.30.0"])),
        0,
        60,
    );
    assert_eq!(begun.status.phase, Some(Phase::Reconciling));
    let moved_at = begun
        .status
        .nodes
        .as_ref()
        .unwrap()
        .kubelets_moved_at
        .clone();
    assert!(moved_at.is_some(), "the move is recorded");

    let scaled = step(
        Some(&begun.status),
        &ok(seen("v1.29.3", ID, &["v1.29.3", "v1.30.0", "v1.30.0"])),
        0,
        29 * 60,
    );
    assert_eq!(
        scaled.status.phase,
        Some(Phase::Reconciling),
        "still recent"
    );
    assert_eq!(
        scaled.status.nodes.as_ref().unwrap().kubelets_moved_at,
        moved_at,
        "a node joining on the newest version is no move"
    );

    let stalled = step(
        Some(&scaled.status),
        &ok(seen("v1.29.3", ID, &["v1.29.3", "v1.30.0", "v1.30.0"])),
        0,
        31 * 60 + 60,
    );
    assert_eq!(
        stalled.status.phase,
        Some(Phase::Running),
        "nodes that stay on two versions within the skew policy are not an upgrade forever"
    );
    assert_eq!(stalled.status.message, None);

    let resumed = step(
        Some(&stalled.status),
        &ok(seen(
            "v1.30.0",
            ID,
            &["v1.30.0", "v1.30.0", "v1.30.0", "v1.29.3"],
        )),
        0,
        40 * 60,
    );
    assert_eq!(
        resumed.status.phase,
        Some(Phase::Running),
        "a node joining on the newest version does not restart an upgrade"
    );
    let upgraded_one = step(
        Some(&resumed.status),
        &ok(seen(
            "v1.30.0",
            ID,
            &["v1.30.0", "v1.30.0", "v1.30.0", "v1.30.0", "v1.29.10"],
        )),
        0,
        41 * 60,
    );
    assert_eq!(
        upgraded_one.status.phase,
        Some(Phase::Reconciling),
        "a version that appears is a move"
    );
}

#[test]
fn only_a_change_beyond_the_probe_time_is_worth_a_write() {
    let first = step(None, &ok(seen("v1.30.1", ID, &["v1.30.1"])), 0, 0).status;
    assert!(changed(None, &first));
    let same = step(Some(&first), &ok(seen("v1.30.1", ID, &["v1.30.1"])), 0, 60).status;
    assert_ne!(same.last_probe_time, first.last_probe_time);
    assert!(!changed(Some(&first), &same));
    let more = step(
        Some(&same),
        &ok(seen("v1.30.1", ID, &["v1.30.1", "v1.30.1"])),
        0,
        120,
    )
    .status;
    assert!(changed(Some(&same), &more));
}

#[test]
fn a_status_not_confirmed_within_its_window_is_stale() {
    let d = step(None, &ok(seen("v1.30.1", ID, &["v1.30.1"])), 0, 0);
    assert_eq!(d.status.stale_after.as_ref().map(|t| t.0), Some(at(600)));
    assert!(!health::is_stale(&d.status, at(600)));
    assert!(health::is_stale(&d.status, at(601)));
    assert!(
        !health::is_stale(&ExternalClusterStatus::default(), at(10_000)),
        "never probed is Pending, not stale"
    );
    assert_eq!(
        health::fresh_for(SignedDuration::from_hours(2), SignedDuration::from_secs(60)),
        SignedDuration::from_secs(2 * 3600 + 180)
    );
}
