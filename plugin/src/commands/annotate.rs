//! `annotate NAME CAP=VALUE ... [CAP-]`: declare what a registered cluster can do, checked with
//! the same core code the webhook uses, written as a JSON Patch that tests every previous value
//! (or its absence), so two people annotating at once cannot silently overwrite each other.

use crate::detect::{self, Proposal};
use crate::dry_run::{DryRun, DryRunArg};
use crate::hub::{Global, Hub, not_found};
use crate::output::{resource_name, table};
use anyhow::{Result, anyhow, bail};
use clap::Args;
use extcluster_core::ExternalCluster;
use extcluster_core::api::MANAGER;
use extcluster_core::capability::{self, Capability};
use extcluster_core::exports::{self, Export};
use extcluster_core::policy::{self, Registration};
use extcluster_remote::failure::is_not_found;
use extcluster_remote::stored;
use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation, RemoveOperation, ReplaceOperation, TestOperation};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Set or remove capability annotations of a registration, or detect them from the cluster
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  # Declare capabilities (by name, or by full key; Rancher's keys are accepted too)
  kubectl extcluster annotate prod-eu pspEnabled=false taintSupport=true
  kubectl extcluster annotate prod-eu capabilities.cattle.io/nodePortRange=30000-32767

  # Change a value that is set already, and remove one
  kubectl extcluster annotate prod-eu pspEnabled=true --overwrite
  kubectl extcluster annotate prod-eu nodePortRange-

  # See what the cluster itself shows, then write it
  kubectl extcluster annotate prod-eu --detect --dry-run
  kubectl extcluster annotate prod-eu --detect

  # Export it to Argo CD and Flux (the whole list: it replaces what is set), or to neither
  kubectl extcluster annotate prod-eu --export argocd --export flux
  kubectl extcluster annotate prod-eu --no-export")]
pub struct AnnotateArgs {
    /// The registration to annotate
    pub name: String,
    /// CAP=VALUE to set, CAP- to remove; CAP is a name (pspEnabled) or a full key
    #[arg(value_name = "CAP=VALUE|CAP-")]
    pub changes: Vec<String>,
    /// Change capabilities that already have a different value
    #[arg(long)]
    pub overwrite: bool,
    /// Read the cluster (through the stored kubeconfig) and propose values, with the reasons
    #[arg(long)]
    pub detect: bool,
    /// Export it to this GitOps tool (argocd, flux), when the hub's controller exports there;
    /// repeat for both. The list replaces the one set
    #[arg(long = "export", value_name = "TOOL", value_parser = exports::parse_tool)]
    pub exports: Vec<Export>,
    /// Export it to no GitOps tool (its ClusterProfile stays)
    #[arg(long, conflicts_with = "exports")]
    pub no_export: bool,
    #[command(flatten)]
    pub dry_run: DryRunArg,
}

/// One requested change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Set(Capability, String),
    Remove(Capability),
}

impl Change {
    pub fn capability(&self) -> Capability {
        match self {
            Change::Set(c, _) | Change::Remove(c) => *c,
        }
    }
}

/// Where a change came from: typed by the user, or proposed by `--detect` (which never replaces a
/// different value without `--overwrite`, and then skips it rather than failing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Given,
    Detected,
}

/// Reads `CAP=VALUE` and `CAP-`; every value is checked against its capability's type.
pub fn parse_changes(args: &[String]) -> Result<Vec<Change>> {
    let mut out: Vec<Change> = Vec::new();
    for arg in args {
        let change = if let Some((key, value)) = arg.split_once('=') {
            let cap = capability::from_name_or_key(key).map_err(|e| anyhow!("{e}"))?;
            cap.validate(value).map_err(|e| {
                anyhow!(
                    "{e}; nothing was changed (`kubectl extcluster capabilities {}` shows an example)",
                    cap.name()
                )
            })?;
            Change::Set(cap, value.to_owned())
        } else if let Some(key) = arg.strip_suffix('-') {
            Change::Remove(capability::from_name_or_key(key).map_err(|e| anyhow!("{e}"))?)
        } else {
            bail!(
                "{arg:?} is neither CAP=VALUE nor CAP-; for example pspEnabled=true sets a capability and pspEnabled- removes it"
            );
        };
        if out.iter().any(|c| c.capability() == change.capability()) {
            bail!(
                "capability {} is given more than once; give it once",
                change.capability()
            );
        }
        out.push(change);
    }
    Ok(out)
}

/// The keys that carry `cap` on an object now (ours first, then foreign ones), with their values.
pub fn current(annotations: &BTreeMap<String, String>, cap: Capability) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = annotations
        .iter()
        .filter(|(k, _)| matches!(capability::from_key(k), Some(Ok(c)) if c == cap))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let ours = cap.key();
    found.sort_by_key(|(k, _)| *k != ours);
    found
}

/// What a plan does to one capability, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Set {
        from: Option<String>,
        to: String,
    },
    Removed {
        was: String,
    },
    Unchanged,
    NotSet,
    /// A detected value that differs from the one there; kept without `--overwrite`.
    Kept {
        value: String,
        detected: String,
    },
}

#[derive(Debug, Default)]
pub struct Plan {
    pub ops: Vec<PatchOperation>,
    pub outcomes: Vec<(Capability, Outcome)>,
}

impl Plan {
    /// Adds what makes the exports annotation name exactly `wanted` (none: removed), testing the
    /// value read first; returns the summary.
    pub fn exports(
        &mut self,
        annotations: Option<&BTreeMap<String, String>>,
        wanted: &BTreeSet<Export>,
    ) -> String {
        let key = exports::ANNOTATION;
        let now = annotations.and_then(|a| a.get(key));
        let value = exports::format(wanted);
        let map_added = self.ops.iter().any(|op| {
            matches!(op, PatchOperation::Add(a) if a.path == PointerBuf::from_tokens(["metadata", "annotations"]))
        });
        let mut planner = Planner {
            ops: std::mem::take(&mut self.ops),
            needs_map: annotations.is_none() && !map_added,
            overwrite: true,
            name: "",
        };
        let shown = |v: &str| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.to_owned()
            }
        };
        let summary = match now {
            Some(was) if *was == value => format!("exports unchanged ({})", shown(&value)),
            Some(was) if wanted.is_empty() => {
                planner.test_all(&[(key.to_owned(), was.clone())]);
                planner.ops.push(PatchOperation::Remove(RemoveOperation {
                    path: pointer(key),
                }));
                format!("exports none (was {was})")
            }
            Some(was) => {
                planner.replace(&[(key.to_owned(), was.clone())], key, &value);
                format!("exports {value} (was {was})")
            }
            None if wanted.is_empty() => "exports none (unchanged)".to_owned(),
            None => {
                planner.add_absent(key, &value);
                format!("exports {value} (added)")
            }
        };
        self.ops = planner.ops;
        summary
    }
}

fn pointer(key: &str) -> PointerBuf {
    PointerBuf::from_tokens(["metadata", "annotations", key])
}

/// The JSON Patch for `changes` against `annotations` (`None`: the object has none). Every key
/// touched is first tested for the value it had (or for being absent), so the patch fails as a
/// whole if anyone changed it meanwhile.
pub fn plan(
    annotations: Option<&BTreeMap<String, String>>,
    changes: &[(Change, Source)],
    overwrite: bool,
    name: &str,
) -> Result<Plan> {
    let empty = BTreeMap::new();
    let map = annotations.unwrap_or(&empty);
    let mut planner = Planner {
        ops: Vec::new(),
        needs_map: annotations.is_none(),
        overwrite,
        name,
    };
    let mut outcomes = Vec::new();
    for (change, source) in changes {
        let cap = change.capability();
        let now = current(map, cap);
        let outcome = match change {
            Change::Set(_, value) => planner.set(cap, &now, value, *source)?,
            Change::Remove(_) => planner.remove(&now),
        };
        outcomes.push((cap, outcome));
    }
    Ok(Plan {
        ops: planner.ops,
        outcomes,
    })
}

/// The operations of a plan, as they are added.
struct Planner<'a> {
    ops: Vec<PatchOperation>,
    /// The object has no annotations: the first addition tests that, then makes the map.
    needs_map: bool,
    overwrite: bool,
    name: &'a str,
}

impl Planner<'_> {
    fn set(
        &mut self,
        cap: Capability,
        now: &[(String, String)],
        value: &str,
        source: Source,
    ) -> Result<Outcome> {
        let ours = cap.key();
        let shown = now.first().map(|(_, v)| v.clone());
        let differs = now.iter().any(|(_, v)| v != value);
        let only_ours = now.len() == 1 && now[0].0 == ours;
        if !differs && only_ours {
            return Ok(Outcome::Unchanged);
        }
        if differs && !self.overwrite {
            let old = shown.unwrap_or_default();
            if source == Source::Detected {
                return Ok(Outcome::Kept {
                    value: old,
                    detected: value.to_owned(),
                });
            }
            let name = self.name;
            bail!(
                "capability {cap} of {name:?} is already {old:?}; pass --overwrite to change it to {value:?} (nothing was changed)"
            );
        }
        if now.is_empty() {
            self.add_absent(&ours, value);
        } else {
            self.replace(now, &ours, value);
        }
        Ok(Outcome::Set {
            from: shown,
            to: value.to_owned(),
        })
    }

    fn add_absent(&mut self, key: &str, value: &str) {
        if self.needs_map {
            self.ops.push(PatchOperation::Test(TestOperation {
                path: PointerBuf::from_tokens(["metadata", "annotations"]),
                value: Value::Null,
            }));
            self.ops.push(PatchOperation::Add(AddOperation {
                path: PointerBuf::from_tokens(["metadata", "annotations"]),
                value: json!({}),
            }));
            self.needs_map = false;
        }
        // A test for null passes only while the key is absent.
        self.ops.push(PatchOperation::Test(TestOperation {
            path: pointer(key),
            value: Value::Null,
        }));
        self.ops.push(PatchOperation::Add(AddOperation {
            path: pointer(key),
            value: json!(value),
        }));
    }

    fn replace(&mut self, now: &[(String, String)], ours: &str, value: &str) {
        self.test_all(now);
        let mut has_ours = false;
        for (k, _) in now {
            if k == ours {
                has_ours = true;
                self.ops.push(PatchOperation::Replace(ReplaceOperation {
                    path: pointer(k),
                    value: json!(value),
                }));
            } else {
                // Rancher's key: written under ours from now on.
                self.ops
                    .push(PatchOperation::Remove(RemoveOperation { path: pointer(k) }));
            }
        }
        if !has_ours {
            self.ops.push(PatchOperation::Add(AddOperation {
                path: pointer(ours),
                value: json!(value),
            }));
        }
    }

    fn remove(&mut self, now: &[(String, String)]) -> Outcome {
        let Some((_, was)) = now.first() else {
            return Outcome::NotSet;
        };
        self.test_all(now);
        for (k, _) in now {
            self.ops
                .push(PatchOperation::Remove(RemoveOperation { path: pointer(k) }));
        }
        Outcome::Removed { was: was.clone() }
    }

    fn test_all(&mut self, now: &[(String, String)]) {
        for (k, v) in now {
            self.ops.push(PatchOperation::Test(TestOperation {
                path: pointer(k),
                value: json!(v),
            }));
        }
    }
}

fn describe(cap: Capability, o: &Outcome) -> String {
    match o {
        Outcome::Set { from: None, to } => format!("{cap}={to} (added)"),
        Outcome::Set { from: Some(f), to } => format!("{cap}={to} (was {f})"),
        Outcome::Removed { was } => format!("{cap} removed (was {was})"),
        Outcome::Unchanged => format!("{cap} unchanged"),
        Outcome::NotSet => format!("{cap} was not set"),
        Outcome::Kept { value, detected } => {
            format!("{cap} kept at {value} (detected {detected}; pass --overwrite to replace it)")
        }
    }
}

/// A JSON Patch whose `test` failed: the object changed since it was read. The API server
/// answers 422 Invalid; depending on its version with a generic message and no causes, or with the
/// JSON Patch error ("testing value ... failed") in the message or a cause. A 422 from schema
/// validation names the fields in its causes, and is not a conflict.
pub(crate) fn is_conflict(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) if s.code == 409 => true,
        kube::Error::Api(s) if s.code == 422 => {
            let causes: Vec<&str> = s
                .details
                .iter()
                .flat_map(|d| &d.causes)
                .map(|c| c.message.as_str())
                .collect();
            causes.is_empty()
                || std::iter::once(s.message.as_str())
                    .chain(causes)
                    .any(|m| m.to_ascii_lowercase().contains("test"))
        }
        _ => false,
    }
}

pub async fn run(global: &Global, args: &AnnotateArgs) -> Result<()> {
    let name = args.name.as_str();
    let given = parse_changes(&args.changes)?;
    let exports = (!args.exports.is_empty() || args.no_export)
        .then(|| args.exports.iter().copied().collect::<BTreeSet<Export>>());
    if given.is_empty() && !args.detect && exports.is_none() {
        bail!(
            "nothing to annotate; give CAP=VALUE or CAP- (e.g. pspEnabled=true), --detect to read them from the cluster, or --export TOOL"
        );
    }
    let hub = Hub::connect(global).await?;
    let clusters = hub.clusters();
    let cluster = hub.registration(name).await?;

    let mut changes: Vec<(Change, Source)> =
        given.into_iter().map(|c| (c, Source::Given)).collect();
    if args.detect {
        add_detected(&hub, &cluster, &mut changes).await?;
    }

    let mut plan = plan(
        cluster.metadata.annotations.as_ref(),
        &changes,
        args.overwrite,
        name,
    )?;
    let mut summary: Vec<String> = plan.outcomes.iter().map(|(c, o)| describe(*c, o)).collect();
    if let Some(wanted) = &exports {
        summary.push(plan.exports(cluster.metadata.annotations.as_ref(), wanted));
    }
    let summary = if summary.is_empty() {
        "nothing detected to write".to_owned()
    } else {
        summary.join(", ")
    };
    let dry_run = args.dry_run.dry_run;
    let dry = dry_run.suffix();
    if dry_run == DryRun::Client && !plan.ops.is_empty() {
        println!("{} annotated{dry}: {summary}", resource_name(name));
        return Ok(());
    }
    if plan.ops.is_empty() {
        println!("{} unchanged{dry}: {summary}", resource_name(name));
        return Ok(());
    }
    let params = PatchParams {
        dry_run: dry_run == DryRun::Server,
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    let patch: Patch<()> = Patch::Json(json_patch::Patch(plan.ops));
    match clusters.patch(name, &params, &patch).await {
        // As kubectl shows the warnings the hub's webhook returns.
        Ok(patched) => {
            if let Some(warning) = policy::warning(&Registration::from(&patched)) {
                eprintln!("Warning: {warning}");
            }
        }
        Err(e) if is_conflict(&e) => bail!(
            "the capabilities of {name:?} changed while this command ran (someone else annotated it, so the hub refused the patch's test of the values read before); nothing was changed: look at them with `kubectl extcluster describe {name}` and run the command again"
        ),
        Err(e) if is_not_found(&e) => return Err(not_found(name)),
        Err(e) => return Err(hub.err(&format!("annotate ExternalCluster {name:?}"), &e)),
    }
    println!("{} annotated{dry}: {summary}", resource_name(name));
    Ok(())
}

/// Reads the cluster through its stored kubeconfig, prints what detection found, and adds each
/// detected value that no given change already names.
async fn add_detected(
    hub: &Hub,
    cluster: &ExternalCluster,
    changes: &mut Vec<(Change, Source)>,
) -> Result<()> {
    let name = cluster.metadata.name.as_deref().unwrap_or_default();
    let client = stored::client(&hub.client, cluster).await.map_err(|why| {
        anyhow!("cannot read {name:?} to detect its capabilities: {why}; nothing was changed")
    })?;
    let proposals = detect::propose(&detect::read_signals(&client).await);
    print!(
        "{}",
        detection_table(name, &cluster.spec.server, &proposals)
    );
    for p in proposals {
        if changes.iter().any(|(c, _)| c.capability() == p.capability) {
            continue;
        }
        if let Some(v) = p.value {
            changes.push((Change::Set(p.capability, v), Source::Detected));
        }
    }
    Ok(())
}

fn detection_table(name: &str, server: &str, proposals: &[Proposal]) -> String {
    let rows: Vec<Vec<String>> = proposals
        .iter()
        .map(|p| {
            vec![
                p.capability.name().to_owned(),
                p.value.clone().unwrap_or_else(|| "<unset>".into()),
                p.why.clone(),
            ]
        })
        .collect();
    format!(
        "Detected on {name} ({server}):\n{}",
        table(&["CAPABILITY", "DETECTED", "WHY"], &rows)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    fn given(c: Vec<Change>) -> Vec<(Change, Source)> {
        c.into_iter().map(|c| (c, Source::Given)).collect()
    }

    fn patch_json(p: &Plan) -> Value {
        serde_json::to_value(json_patch::Patch(p.ops.clone())).unwrap()
    }

    fn api_error(status: Value) -> kube::Error {
        kube::Error::Api(Box::new(serde_json::from_value(status).unwrap()))
    }

    #[test]
    fn failed_tests_are_conflicts_and_schema_errors_are_not() {
        // kube-apiserver 1.20: 422 with a generic message and no causes.
        assert!(is_conflict(&api_error(json!({
            "status": "Failure", "reason": "Invalid", "code": 422, "details": {},
            "message": "the server rejected our request due to an error in our request"
        }))));
        assert!(is_conflict(&api_error(json!({
            "status": "Failure", "reason": "Invalid", "code": 422,
            "message": "the server rejected our request due to an error in our request",
            "details": {"causes": [{"reason": "UnexpectedServerResponse", "message": "testing value /metadata/annotations/x failed: test failed"}]}
        }))));
        assert!(!is_conflict(&api_error(json!({
            "status": "Failure", "reason": "Invalid", "code": 422,
            "message": "ExternalCluster.extcluster.io \"x\" is invalid: spec.server: Invalid value",
            "details": {"causes": [{"reason": "FieldValueInvalid", "message": "Invalid value", "field": "spec.server"}]}
        }))));
        assert!(!is_conflict(&api_error(json!({
            "status": "Failure", "reason": "Forbidden", "code": 403, "message": "denied"
        }))));
    }

    #[test]
    fn every_form_of_a_capability() {
        let changes = parse_changes(&strings(&[
            "pspEnabled=true",
            "capabilities.extcluster.io/taintSupport=false",
            "capabilities.cattle.io/nodePortRange=30000-32767",
            r#"ingressCapabilities=[{"ingressProvider":"Nginx"}]"#,
            "loadBalancerCapabilities-",
        ]))
        .unwrap();
        assert_eq!(
            changes,
            [
                Change::Set(Capability::PspEnabled, "true".into()),
                Change::Set(Capability::TaintSupport, "false".into()),
                Change::Set(Capability::NodePortRange, "30000-32767".into()),
                Change::Set(
                    Capability::IngressCapabilities,
                    r#"[{"ingressProvider":"Nginx"}]"#.into()
                ),
                Change::Remove(Capability::LoadBalancerCapabilities),
            ]
        );
    }

    #[test]
    fn refusals_name_what_is_expected() {
        let err = parse_changes(&strings(&["pspEnabled=yes"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(Capability::PspEnabled.expected_type()),
            "{err}"
        );
        assert!(err.contains("nothing was changed"), "{err}");
        let err = parse_changes(&strings(&["gpu=true"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown capability \"gpu\""), "{err}");
        let err = parse_changes(&strings(&["pspEnabled"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("neither CAP=VALUE nor CAP-"), "{err}");
        let err = parse_changes(&strings(&[
            "pspEnabled=true",
            "capabilities.cattle.io/pspEnabled-",
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("more than once"), "{err}");
    }

    #[test]
    fn adding_tests_for_absence_and_escapes_the_key() {
        let changes = given(vec![Change::Set(Capability::PspEnabled, "true".into())]);
        let p = plan(None, &changes, false, "c").unwrap();
        assert_eq!(
            patch_json(&p),
            json!([
                {"op": "test", "path": "/metadata/annotations", "value": null},
                {"op": "add", "path": "/metadata/annotations", "value": {}},
                {"op": "test", "path": "/metadata/annotations/capabilities.extcluster.io~1pspEnabled", "value": null},
                {"op": "add", "path": "/metadata/annotations/capabilities.extcluster.io~1pspEnabled", "value": "true"},
            ])
        );
        let some = BTreeMap::from([("other".to_owned(), "x".to_owned())]);
        let p = plan(Some(&some), &changes, false, "c").unwrap();
        assert_eq!(patch_json(&p).as_array().unwrap().len(), 2);
    }

    #[test]
    fn changing_needs_overwrite_and_tests_the_old_value() {
        let now = BTreeMap::from([(
            "capabilities.extcluster.io/pspEnabled".to_owned(),
            "false".to_owned(),
        )]);
        let changes = given(vec![Change::Set(Capability::PspEnabled, "true".into())]);
        let err = plan(Some(&now), &changes, false, "prod")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("already \"false\"") && err.contains("--overwrite"),
            "{err}"
        );
        let p = plan(Some(&now), &changes, true, "prod").unwrap();
        let key = "/metadata/annotations/capabilities.extcluster.io~1pspEnabled";
        assert_eq!(
            patch_json(&p),
            json!([
                {"op": "test", "path": key, "value": "false"},
                {"op": "replace", "path": key, "value": "true"},
            ])
        );
        // The same value again: nothing to send.
        let same = given(vec![Change::Set(Capability::PspEnabled, "false".into())]);
        let p = plan(Some(&now), &same, false, "prod").unwrap();
        assert!(p.ops.is_empty());
        assert_eq!(p.outcomes, [(Capability::PspEnabled, Outcome::Unchanged)]);
        // A detected value never fails: it is kept.
        let detected = vec![(
            Change::Set(Capability::PspEnabled, "true".into()),
            Source::Detected,
        )];
        let p = plan(Some(&now), &detected, false, "prod").unwrap();
        assert!(p.ops.is_empty());
        assert!(matches!(p.outcomes[0].1, Outcome::Kept { .. }));
    }

    #[test]
    fn rancher_keys_move_under_ours_and_removal_takes_both() {
        let now = BTreeMap::from([
            (
                "capabilities.cattle.io/taintSupport".to_owned(),
                "true".to_owned(),
            ),
            ("unrelated".to_owned(), "x".to_owned()),
        ]);
        let set = given(vec![Change::Set(Capability::TaintSupport, "true".into())]);
        let p = plan(Some(&now), &set, false, "c").unwrap();
        assert_eq!(
            patch_json(&p),
            json!([
                {"op": "test", "path": "/metadata/annotations/capabilities.cattle.io~1taintSupport", "value": "true"},
                {"op": "remove", "path": "/metadata/annotations/capabilities.cattle.io~1taintSupport"},
                {"op": "add", "path": "/metadata/annotations/capabilities.extcluster.io~1taintSupport", "value": "true"},
            ])
        );
        let remove = given(vec![Change::Remove(Capability::TaintSupport)]);
        let p = plan(Some(&now), &remove, false, "c").unwrap();
        assert_eq!(p.ops.len(), 2);
        let p = plan(Some(&BTreeMap::new()), &remove, false, "c").unwrap();
        assert!(p.ops.is_empty());
        assert_eq!(p.outcomes, [(Capability::TaintSupport, Outcome::NotSet)]);
    }

    #[test]
    fn exports_are_set_replaced_and_removed_testing_what_was_read() {
        let both = BTreeSet::from([Export::Argocd, Export::Flux]);
        let json = |p: &Plan| serde_json::to_string(&p.ops).unwrap();
        let mut p = Plan::default();
        assert_eq!(p.exports(None, &both), "exports argocd,flux (added)");
        let ops = json(&p);
        assert!(
            ops.contains(r#""op":"add","path":"/metadata/annotations","value":{}"#),
            "{ops}"
        );
        assert!(
            ops.contains(
                r#""path":"/metadata/annotations/extcluster.io~1exports","value":"argocd,flux""#
            ),
            "{ops}"
        );
        let now = BTreeMap::from([(exports::ANNOTATION.to_owned(), "flux".to_owned())]);
        let mut p = Plan::default();
        assert_eq!(
            p.exports(Some(&now), &both),
            "exports argocd,flux (was flux)"
        );
        assert!(json(&p).contains(
            r#""op":"test","path":"/metadata/annotations/extcluster.io~1exports","value":"flux""#
        ));
        let mut p = Plan::default();
        assert_eq!(
            p.exports(Some(&now), &BTreeSet::new()),
            "exports none (was flux)"
        );
        assert!(json(&p).contains(r#""op":"remove""#));
        let mut p = Plan::default();
        assert_eq!(
            p.exports(Some(&now), &BTreeSet::from([Export::Flux])),
            "exports unchanged (flux)"
        );
        assert!(p.ops.is_empty());
    }
}
