//! The publisher's writes: what differs between a desired object and the one the watch holds,
//! and the requests that mend it. Objects this controller did not make are never taken over.

use super::desired;
use extcluster_core::api::ExportStatus;
use extcluster_core::inventory::{self, v1alpha1::ClusterProfile};
use extcluster_core::{ExportKind, ExternalCluster};
use extcluster_remote::failure::{Failure, is_not_found};
use extcluster_remote::status::{self, CONTROLLER_MANAGER};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use std::collections::BTreeMap;
use tokio::time::Instant;

/// One published object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub kind: ExportKind,
    pub namespace: String,
    pub name: String,
}

impl Target {
    pub fn new(kind: ExportKind, namespace: &str, name: &str) -> Self {
        Self {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

pub enum Op {
    CreateProfile(Target, Box<ClusterProfile>),
    /// Metadata and spec, then status, by server-side apply.
    ApplyProfile {
        target: Target,
        profile: Box<ClusterProfile>,
        status_only: bool,
    },
    CreateSecret(Target, Box<Secret>),
    ApplySecret(Target, Box<Secret>),
    Delete(Target),
    ExportsStatus {
        registration: String,
        exports: Vec<ExportStatus>,
    },
}

impl Op {
    /// The published object it writes; none for a registration's status.
    pub fn target(&self) -> Option<&Target> {
        match self {
            Op::CreateProfile(t, _)
            | Op::ApplyProfile { target: t, .. }
            | Op::CreateSecret(t, _)
            | Op::ApplySecret(t, _)
            | Op::Delete(t) => Some(t),
            Op::ExportsStatus { .. } => None,
        }
    }

    /// What it writes, for a log line.
    fn describe(&self) -> String {
        match (self, self.target()) {
            (_, Some(t)) => format!("{} {}/{}", t.kind, t.namespace, t.name),
            (Op::ExportsStatus { registration, .. }, None) => {
                format!("status.exports of ExternalCluster {registration}")
            }
            (_, None) => unreachable!("only a registration's status has no target"),
        }
    }
}

/// What a profile needs.
pub enum ProfileWrite {
    None,
    Now(Op),
    /// Only the status differs, and the rate guidance holds its update until then.
    HeldUntil(Instant),
}

/// What brings the observed profile (if any) to `desired`. `status_held` is when the rate
/// guidance next allows a status update of it; a profile that stops being healthy is not held
/// (consumers act on `ControlPlaneHealthy=True`, so it must not outlive the answers).
pub fn profile_op(
    target: Target,
    desired: ClusterProfile,
    observed: Option<&ClusterProfile>,
    status_held: Option<Instant>,
) -> ProfileWrite {
    let Some(observed) = observed else {
        return ProfileWrite::Now(Op::CreateProfile(target, Box::new(desired)));
    };
    let meta_same = contains(observed.labels(), desired.labels())
        && observed.meta().owner_references == desired.meta().owner_references
        && observed.spec == desired.spec;
    let status_same = observed.status == desired.status;
    if !status_same && tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(profile = %target.name, differs = ?status_differences(observed, &desired), "profile status differs");
    }
    let health_lost = inventory::healthy(observed.status.as_ref())
        && !inventory::healthy(desired.status.as_ref());
    match (meta_same, status_same) {
        (true, true) => ProfileWrite::None,
        (true, false) => match status_held {
            Some(at) if at > Instant::now() && !health_lost => ProfileWrite::HeldUntil(at),
            _ => ProfileWrite::Now(Op::ApplyProfile {
                target,
                profile: Box::new(desired),
                status_only: true,
            }),
        },
        (false, _) => ProfileWrite::Now(Op::ApplyProfile {
            target,
            profile: Box::new(desired),
            status_only: false,
        }),
    }
}

/// Why a profile being deleted is still there, when it is: the finalizers that hold it (a
/// consumer's, such as Argo CD's ClusterProfile integration).
pub fn held_by(observed: &ClusterProfile) -> Option<String> {
    observed.metadata.deletion_timestamp.as_ref()?;
    let at = format!(
        "ClusterProfile {}/{}",
        observed.namespace().unwrap_or_default(),
        observed.name_any()
    );
    Some(match observed.finalizers() {
        [] => format!("{at} is being deleted; it is published again once it is gone"),
        held => format!(
            "{at} is being deleted and waits for finalizer {}, which its consumer added; it is \
             published again once that consumer removes it",
            held.join(", ")
        ),
    })
}

/// The parts of a profile's status that differ, for a debug line.
fn status_differences(observed: &ClusterProfile, desired: &ClusterProfile) -> Vec<&'static str> {
    let (Some(o), Some(d)) = (&observed.status, &desired.status) else {
        return vec!["status"];
    };
    [
        ("conditions", o.conditions != d.conditions),
        ("version", o.version != d.version),
        ("properties", o.properties != d.properties),
        ("accessProviders", o.access_providers != d.access_providers),
        (
            "credentialProviders",
            o.credential_providers != d.credential_providers,
        ),
    ]
    .into_iter()
    .filter_map(|(part, differs)| differs.then_some(part))
    .collect()
}

/// What brings the observed Secret (if any, its data kept as a digest) to `desired`.
pub fn secret_op(target: Target, desired: Secret, observed: Option<&Secret>) -> Option<Op> {
    let Some(observed) = observed else {
        return Some(Op::CreateSecret(target, Box::new(desired)));
    };
    let same = observed.labels() == desired.labels()
        && contains(observed.annotations(), desired.annotations())
        && observed.metadata.owner_references == desired.metadata.owner_references
        && observed.type_ == desired.type_
        && observed
            .data
            .as_ref()
            .and_then(|d| d.get(desired::DATA_DIGEST_KEY))
            == Some(&desired::data_digest(desired.data.as_ref()));
    (!same).then(|| Op::ApplySecret(target, Box::new(desired)))
}

fn contains(have: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// What a write that went through touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrote {
    /// A profile's status: the next update of it waits for the rate guidance.
    ProfileStatus,
    Other,
}

/// What one write did.
pub struct Outcome {
    /// The object written, for a log line.
    pub what: String,
    pub target: Option<Target>,
    /// What it touched, or why it did not go through.
    pub result: Result<Wrote, String>,
}

/// Runs the writes, `writers` at once, each only while this replica may still write, and counts
/// each that lands.
pub async fn execute(
    client: &Client,
    ops: Vec<Op>,
    writers: usize,
    replica: &crate::serve::ReplicaState,
) -> Vec<Outcome> {
    futures::stream::iter(ops)
        .map(|op| async move {
            let (what, target) = (op.describe(), op.target().cloned());
            if !replica.may_write() {
                let why = "this replica no longer leads".to_owned();
                let result = Err(why);
                return Outcome {
                    what,
                    target,
                    result,
                };
            }
            let result = run(client, op).await;
            tracing::debug!(object = %what, ok = result.is_ok(), "published");
            // Counted as each write lands: a pass can take minutes (a fleet published at once),
            // and a count that moved only at its end would look like a burst after a quiet.
            if result.is_ok() {
                replica.metrics.hub_writes.inc();
            }
            Outcome {
                what,
                target,
                result,
            }
        })
        .buffer_unordered(writers)
        .collect()
        .await
}

fn apply() -> PatchParams {
    PatchParams::apply(CONTROLLER_MANAGER).force()
}

fn create() -> PostParams {
    PostParams {
        field_manager: Some(CONTROLLER_MANAGER.into()),
        ..PostParams::default()
    }
}

async fn run(client: &Client, op: Op) -> Result<Wrote, String> {
    match op {
        Op::CreateProfile(_, profile) => {
            let api = profiles(client, &profile);
            api.create(&create(), &profile)
                .await
                .map_err(|e| taken(e, "ClusterProfile", &profile.name_any()))?;
            apply_profile_status(&api, &profile)
                .await
                .map(|()| Wrote::ProfileStatus)
        }
        Op::ApplyProfile {
            profile,
            status_only,
            ..
        } => {
            let api = profiles(client, &profile);
            if !status_only {
                let mut body = (*profile).clone();
                body.status = None;
                api.patch(&profile.name_any(), &apply(), &Patch::Apply(&body))
                    .await
                    .map_err(|e| sentence(&e))?;
            }
            apply_profile_status(&api, &profile)
                .await
                .map(|()| Wrote::ProfileStatus)
        }
        Op::CreateSecret(target, secret) => {
            let api = Api::<Secret>::namespaced(client.clone(), &target.namespace);
            api.create(&create(), &secret)
                .await
                .map(|_| Wrote::Other)
                .map_err(|e| taken(e, "Secret", &target.name))
        }
        Op::ApplySecret(target, secret) => {
            let api = Api::<Secret>::namespaced(client.clone(), &target.namespace);
            api.patch(&target.name, &apply(), &Patch::Apply(&*secret))
                .await
                .map(|_| Wrote::Other)
                .map_err(|e| sentence(&e))
        }
        Op::Delete(target) => delete(client, &target).await.map(|()| Wrote::Other),
        Op::ExportsStatus {
            registration,
            exports,
        } => {
            let api = Api::<ExternalCluster>::all(client.clone());
            match status::apply_exports(&api, &registration, &exports).await {
                Ok(_) => Ok(Wrote::Other),
                Err(e) if is_not_found(&e) => Ok(Wrote::Other),
                Err(e) => Err(sentence(&e)),
            }
        }
    }
}

fn profiles(client: &Client, profile: &ClusterProfile) -> Api<ClusterProfile> {
    Api::namespaced(client.clone(), &profile.namespace().unwrap_or_default())
}

async fn apply_profile_status(
    api: &Api<ClusterProfile>,
    profile: &ClusterProfile,
) -> Result<(), String> {
    let body = json!({
        "apiVersion": ClusterProfile::api_version(&()),
        "kind": ClusterProfile::kind(&()),
        "status": profile.status,
    });
    api.patch_status(&profile.name_any(), &apply(), &Patch::Apply(&body))
        .await
        .map(drop)
        .map_err(|e| sentence(&e))
}

async fn delete(client: &Client, target: &Target) -> Result<(), String> {
    let result = match target.kind {
        ExportKind::ClusterProfile => {
            Api::<ClusterProfile>::namespaced(client.clone(), &target.namespace)
                .delete(&target.name, &DeleteParams::background())
                .await
                .map(drop)
        }
        ExportKind::ArgoCD | ExportKind::Flux => {
            Api::<Secret>::namespaced(client.clone(), &target.namespace)
                .delete(&target.name, &DeleteParams::background())
                .await
                .map(drop)
        }
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(sentence(&e)),
    }
}

/// A refused create: another owner's object under the name is worth its own sentence.
fn taken(e: kube::Error, kind: &str, name: &str) -> String {
    match &e {
        kube::Error::Api(a) if a.code == 409 => format!(
            "a {kind} named {name} already exists there and was not made by this controller; \
             remove or rename it"
        ),
        _ => sentence(&e),
    }
}

fn sentence(e: &kube::Error) -> String {
    match Failure::of(e) {
        f @ Failure::Status { code, .. } => format!("the hub refused the write ({code}): {f}"),
        f @ Failure::Transport(_) => format!("cannot reach the hub: {f}"),
        f => format!("the write failed: {f}"),
    }
}

/// Whether the hub serves ClusterProfile in v1alpha1.
pub async fn serves_profiles(client: &Client) -> Result<bool, kube::Error> {
    let version = format!("{}/v1alpha1", inventory::GROUP);
    match client.list_api_group_resources(&version).await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == "clusterprofiles")),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use extcluster_core::inventory::{Endpoint, Inventory, profile};
    use std::time::Duration;

    fn desired() -> ClusterProfile {
        let inventory = Inventory {
            namespace: "inv",
            credential_providers: false,
        };
        profile(
            &crate::publish::desired::tests::cluster(),
            inventory,
            &Endpoint::default(),
        )
    }

    fn target() -> Target {
        Target::new(ExportKind::ClusterProfile, "inv", "prod-eu")
    }

    #[test]
    fn only_what_differs_is_written_and_a_status_waits_for_the_rate_guidance() {
        assert!(matches!(
            profile_op(target(), desired(), None, None),
            ProfileWrite::Now(Op::CreateProfile(..))
        ));
        let mut observed = desired();
        observed
            .metadata
            .labels
            .get_or_insert_default()
            .insert("added-by".into(), "someone".into());
        assert!(matches!(
            profile_op(target(), desired(), Some(&observed), None),
            ProfileWrite::None
        ));
        observed.status.as_mut().unwrap().version.kubernetes = "v1.29.0".into();
        let held = Instant::now() + Duration::from_secs(20);
        assert!(
            matches!(profile_op(target(), desired(), Some(&observed), Some(held)), ProfileWrite::HeldUntil(at) if at == held)
        );
        assert!(matches!(
            profile_op(target(), desired(), Some(&observed), None),
            ProfileWrite::Now(Op::ApplyProfile {
                status_only: true,
                ..
            })
        ));
        observed.spec.display_name = "renamed".into();
        assert!(matches!(
            profile_op(target(), desired(), Some(&observed), Some(held)),
            ProfileWrite::Now(Op::ApplyProfile {
                status_only: false,
                ..
            })
        ));
    }

    #[test]
    fn losing_health_is_written_at_once_and_a_terminating_profile_says_who_holds_it() {
        let mut observed = desired();
        let healthy = &mut observed.status.as_mut().unwrap().conditions[0];
        assert_eq!(healthy.type_, inventory::CONTROL_PLANE_HEALTHY);
        healthy.status = "True".into();
        let held = Instant::now() + Duration::from_secs(20);
        assert!(matches!(
            profile_op(target(), desired(), Some(&observed), Some(held)),
            ProfileWrite::Now(Op::ApplyProfile {
                status_only: true,
                ..
            })
        ));
        assert!(matches!(
            profile_op(target(), observed.clone(), Some(&desired()), Some(held)),
            ProfileWrite::HeldUntil(_)
        ));
        assert_eq!(held_by(&observed), None);
        observed.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        observed.metadata.finalizers = Some(vec!["argoproj.io/cluster-profile-finalizer".into()]);
        let why = held_by(&observed).unwrap();
        assert!(
            why.contains("inv/prod-eu") && why.contains("argoproj.io/cluster-profile-finalizer"),
            "{why}"
        );
    }

    #[test]
    fn a_secret_is_rewritten_when_its_data_or_labels_move() {
        let target = Target::new(ExportKind::Flux, "ns", "extc-prod");
        let mut want = Secret::default();
        want.metadata.labels = Some(BTreeMap::from([("a".into(), "1".into())]));
        want.data = Some(BTreeMap::from([(
            "value".into(),
            k8s_openapi::ByteString(b"x".to_vec()),
        )]));
        assert!(matches!(
            secret_op(target.clone(), want.clone(), None),
            Some(Op::CreateSecret(..))
        ));
        // As the watch keeps them: the data as a digest.
        let watched = |s: &Secret| {
            let mut s = s.clone();
            desired::keep_digest(&mut s);
            s
        };
        assert!(secret_op(target.clone(), want.clone(), Some(&watched(&want))).is_none());
        assert!(
            secret_op(target.clone(), want.clone(), Some(&want)).is_some(),
            "an observed Secret is compared by its digest only"
        );
        let mut stale = want.clone();
        stale.data = Some(BTreeMap::from([(
            "value".into(),
            k8s_openapi::ByteString(b"old".to_vec()),
        )]));
        assert!(matches!(
            secret_op(target.clone(), want.clone(), Some(&watched(&stale))),
            Some(Op::ApplySecret(..))
        ));
        let mut relabelled = watched(&want);
        relabelled.metadata.labels = Some(BTreeMap::new());
        assert!(secret_op(target, want, Some(&relabelled)).is_some());
    }
}
