//! Table-driven tests of every admission rule.

use extcluster_core::api::{CLUSTER_ID_LABEL, DISCONNECT_ANNOTATION};
use extcluster_core::policy::{Decision, Denial, Operation, Policy, Registration, warning};
use extcluster_core::version::VersionRange;
use serde_json::{Value, json};

fn cluster(name: &str, id: &str, version: &str) -> Value {
    json!({
        "apiVersion": "extcluster.io/v1alpha1",
        "kind": "ExternalCluster",
        "metadata": {"name": name, "annotations": {}, "labels": {}},
        "spec": {
            "mode": "Import",
            "origin": "Imported",
            "provider": "Generic",
            "clusterID": id,
            "server": "https://10.0.0.1:6443",
            "kubernetesVersion": version,
            "kubeconfigSecretRef": {"namespace": "extcluster-system", "name": format!("{name}-kubeconfig"), "key": "kubeconfig"}
        }
    })
}

fn with(mut v: Value, path: &[&str], value: Value) -> Value {
    let mut cur = &mut v;
    for p in &path[..path.len() - 1] {
        cur = cur.get_mut(*p).unwrap();
    }
    cur[path[path.len() - 1]] = value;
    v
}

fn annotate(v: Value, key: &str, value: &str) -> Value {
    with(v, &["metadata", "annotations", key], json!(value))
}

fn decide(op: Operation, new: Option<&Value>, old: Option<&Value>, live: &[Value]) -> Decision {
    let text = |v: &Value| serde_json::to_string(v).unwrap();
    let (new, old) = (new.map(text), old.map(text));
    let live: Vec<String> = live.iter().map(text).collect();
    let (new, old) = (new.as_deref().map(parse), old.as_deref().map(parse));
    let live: Vec<Registration> = live.iter().map(|s| parse(s)).collect();
    Policy::default().decide(op, new.as_ref(), old.as_ref(), live.as_slice())
}

fn parse(s: &str) -> Registration<'_> {
    serde_json::from_str(s).unwrap()
}

fn denied(d: Decision, reason: &str, mentions: &[&str]) {
    let denial = d.expect_err("expected a denial");
    assert_eq!(denial.reason(), reason, "{denial}");
    let msg = denial.to_string();
    for m in mentions {
        assert!(msg.contains(m), "{msg:?} should mention {m:?}");
    }
    assert!(!msg.contains('\n'), "one sentence: {msg:?}");
}

#[test]
fn create_version_range_edges_and_provider_forms() {
    let allowed = [
        "v1.19.0",
        "1.19",
        "v1.19.0-eks-adc7111",
        "v1.29.3-eks-adc7111",
        "v1.32.3-gke.1785003",
        "v1.28.5+k3s1",
        "v1.31.4+rke2r1",
        "v1.28.10+a2c84a5",
        "v1.22.5-tke.24",
        "1.28.8-r0",
        "v1.34.99",
        "v1.34.1-gke.100",
    ];
    for v in allowed {
        assert_eq!(
            decide(Operation::Create, Some(&cluster("a", "id-1", v)), None, &[]),
            Ok(()),
            "{v}"
        );
    }
    let out = [
        "v1.18.20",
        "v1.18.20-eks-1",
        "1.18",
        "v1.35.0",
        "v1.35.0-gke.1",
        "v1.35",
        "v2.1.0",
        "v0.9.0+k3s1",
    ];
    for v in out {
        // Too old: upgrade the cluster. Too new: the hub has to catch up, not the cluster.
        let newer = ["v1.35", "v2.1"].iter().any(|p| v.starts_with(p));
        let advice = if newer {
            "newer than the hub supports yet"
        } else {
            "upgrade the cluster"
        };
        denied(
            decide(Operation::Create, Some(&cluster("a", "id-1", v)), None, &[]),
            "version_out_of_range",
            &[v, ">=1.19.0, <1.35.0", "\"a\"", advice],
        );
        if newer {
            let d = decide(Operation::Create, Some(&cluster("a", "id-1", v)), None, &[]);
            assert!(!d.unwrap_err().to_string().contains("upgrade the cluster"));
        }
    }
    for v in ["banana", "v1", "1.x.3", ""] {
        denied(
            decide(Operation::Create, Some(&cluster("a", "id-1", v)), None, &[]),
            "version_unreadable",
            &["spec.kubernetesVersion"],
        );
    }
}

#[test]
fn range_is_configurable() {
    let policy = Policy::new(VersionRange::parse(">=1.30.0").unwrap());
    let (old, new) = (
        cluster("a", "x", "v1.29.9-eks-1").to_string(),
        cluster("a", "x", "v1.30.0-eks-1").to_string(),
    );
    let old: Registration = serde_json::from_str(&old).unwrap();
    let new: Registration = serde_json::from_str(&new).unwrap();
    assert!(
        policy
            .decide(Operation::Create, Some(&old), None, &[] as &[Registration])
            .is_err()
    );
    assert!(
        policy
            .decide(Operation::Create, Some(&new), None, &[] as &[Registration])
            .is_ok()
    );
}

#[test]
fn reimport_of_an_active_cluster_is_denied_naming_the_holder() {
    let first = cluster("prod-a", "uid-1", "v1.29.3");
    let second = cluster("prod-b", "uid-1", "v1.29.3");
    denied(
        decide(
            Operation::Create,
            Some(&second),
            None,
            std::slice::from_ref(&first),
        ),
        "reimport",
        &[
            "re-import of an active cluster",
            "\"prod-a\"",
            "uid-1",
            "kubectl extcluster disconnect prod-a",
        ],
    );
    // Another cluster is fine.
    assert_eq!(
        decide(
            Operation::Create,
            Some(&cluster("c", "uid-2", "v1.29.3")),
            None,
            std::slice::from_ref(&first)
        ),
        Ok(())
    );
    // A disconnected or deleting holder does not count.
    let disconnected = annotate(first.clone(), DISCONNECT_ANNOTATION, "true");
    assert_eq!(
        decide(Operation::Create, Some(&second), None, &[disconnected]),
        Ok(())
    );
    let deleting = with(
        first.clone(),
        &["metadata", "deletionTimestamp"],
        json!("2026-01-01T00:00:00Z"),
    );
    assert_eq!(
        decide(Operation::Create, Some(&second), None, &[deleting]),
        Ok(())
    );
    // "false" is not a disconnect.
    let not_really = annotate(first.clone(), DISCONNECT_ANNOTATION, "false");
    assert!(decide(Operation::Create, Some(&second), None, &[not_really]).is_err());
    // The registration itself (same name) is not its own duplicate.
    assert_eq!(
        decide(
            Operation::Create,
            Some(&first),
            None,
            std::slice::from_ref(&first)
        ),
        Ok(())
    );
}

#[test]
fn reviving_a_disconnected_registration_checks_for_reimport() {
    let live = cluster("prod-b", "uid-1", "v1.29.3");
    let old = annotate(
        cluster("prod-a", "uid-1", "v1.29.3"),
        DISCONNECT_ANNOTATION,
        "true",
    );
    let revived = annotate(old.clone(), DISCONNECT_ANNOTATION, "false");
    denied(
        decide(
            Operation::Update,
            Some(&revived),
            Some(&old),
            &[live.clone(), old.clone()],
        ),
        "reimport",
        &["prod-b"],
    );
    assert_eq!(
        decide(
            Operation::Update,
            Some(&revived),
            Some(&old),
            std::slice::from_ref(&old)
        ),
        Ok(())
    );
}

#[test]
fn delete_of_imported_needs_disconnect_intent() {
    let imported = cluster("prod", "uid-1", "v1.29.3");
    denied(
        decide(Operation::Delete, None, Some(&imported), &[]),
        "delete_imported",
        &["kubectl extcluster disconnect prod", "left untouched"],
    );
    let marked = annotate(imported.clone(), DISCONNECT_ANNOTATION, "true");
    assert_eq!(decide(Operation::Delete, None, Some(&marked), &[]), Ok(()));
    let provisioned = with(imported.clone(), &["spec", "origin"], json!("Provisioned"));
    assert_eq!(
        decide(Operation::Delete, None, Some(&provisioned), &[]),
        Ok(())
    );
    // A Connect registration that is imported is protected the same way.
    let connect = with(imported, &["spec", "mode"], json!("Connect"));
    assert!(decide(Operation::Delete, None, Some(&connect), &[]).is_err());
}

#[test]
fn capability_annotations_are_checked_on_create_and_update() {
    let base = cluster("prod", "uid-1", "v1.29.3");
    let good = [
        ("capabilities.extcluster.io/pspEnabled", "true"),
        (
            "capabilities.extcluster.io/ingressCapabilities",
            r#"[{"ingressProvider":"Nginx"}]"#,
        ),
        (
            "capabilities.extcluster.io/loadBalancerCapabilities",
            r#"{"enabled":true,"provider":"ELB"}"#,
        ),
        ("capabilities.extcluster.io/nodePortRange", "30000-32767"),
        (
            "capabilities.extcluster.io/nodePoolScalingSupported",
            "false",
        ),
        ("capabilities.extcluster.io/taintSupport", "true"),
        ("capabilities.cattle.io/pspEnabled", "false"),
        ("unrelated.example.com/whatever", "anything at all"),
    ];
    let mut all = base.clone();
    for (k, v) in good {
        all = annotate(all, k, v);
    }
    assert_eq!(decide(Operation::Create, Some(&all), None, &[]), Ok(()));
    assert_eq!(
        decide(Operation::Update, Some(&all), Some(&base), &[]),
        Ok(())
    );

    let bad = [
        ("capabilities.extcluster.io/pspEnabled", "yes", "a boolean"),
        (
            "capabilities.extcluster.io/nodePortRange",
            "32767-30000",
            "LOW-HIGH",
        ),
        (
            "capabilities.extcluster.io/ingressCapabilities",
            r#"{"ingressProvider":"Nginx"}"#,
            "JSON list",
        ),
        ("capabilities.cattle.io/taintSupport", "1", "a boolean"),
        (
            "capabilities.extcluster.io/gpu",
            "true",
            "known capabilities are",
        ),
    ];
    for (k, v, expect) in bad {
        let obj = annotate(base.clone(), k, v);
        denied(
            decide(Operation::Create, Some(&obj), None, &[]),
            "invalid_capability",
            &[k, expect],
        );
        denied(
            decide(Operation::Update, Some(&obj), Some(&base), &[]),
            "invalid_capability",
            &[k, expect],
        );
    }
}

#[test]
fn unchanged_invalid_annotations_do_not_block_disconnect() {
    let legacy = annotate(
        cluster("prod", "uid-1", "v1.18.0"),
        "capabilities.extcluster.io/pspEnabled",
        "yes",
    );
    let marked = annotate(legacy.clone(), DISCONNECT_ANNOTATION, "true");
    assert_eq!(
        decide(Operation::Update, Some(&marked), Some(&legacy), &[]),
        Ok(())
    );
}

#[test]
fn identity_fields_are_immutable() {
    let old = cluster("prod", "uid-1", "v1.29.3");
    for (path, value, field) in [
        (&["spec", "clusterID"][..], json!("uid-2"), "spec.clusterID"),
        (
            &["spec", "server"][..],
            json!("https://elsewhere:6443"),
            "spec.server",
        ),
        (&["spec", "origin"][..], json!("Provisioned"), "spec.origin"),
    ] {
        let new = with(old.clone(), path, value);
        denied(
            decide(Operation::Update, Some(&new), Some(&old), &[]),
            "immutable_field",
            &[field, "\"prod\""],
        );
    }
}

#[test]
fn connect_registrations_are_read_only_but_for_mode() {
    let old = with(
        cluster("view", "uid-1", "v1.29.3"),
        &["spec", "mode"],
        json!("Connect"),
    );
    for (path, value, field) in [
        (&["spec", "provider"][..], json!("EKS"), "spec.provider"),
        (
            &["spec", "kubernetesVersion"][..],
            json!("v1.30.0"),
            "spec.kubernetesVersion",
        ),
        (
            &["spec", "displayName"][..],
            json!("renamed"),
            "spec.displayName",
        ),
        (
            &["spec", "kubeconfigSecretRef", "name"][..],
            json!("other"),
            "spec.kubeconfigSecretRef",
        ),
    ] {
        let new = with(old.clone(), path, value);
        denied(
            decide(Operation::Update, Some(&new), Some(&old), &[]),
            "connect_read_only",
            &[field, "Import"],
        );
    }
    let promoted = with(old.clone(), &["spec", "mode"], json!("Import"));
    assert_eq!(
        decide(Operation::Update, Some(&promoted), Some(&old), &[]),
        Ok(())
    );
    assert_eq!(
        decide(Operation::Update, Some(&old), Some(&promoted), &[]),
        Ok(())
    );
    // Once imported, the spec may change (within the other rules).
    let edited = with(
        promoted.clone(),
        &["spec", "displayName"],
        json!("Production"),
    );
    assert_eq!(
        decide(Operation::Update, Some(&edited), Some(&promoted), &[]),
        Ok(())
    );
    // Annotations and status are not spec: a Connect registration can be annotated.
    let annotated = annotate(
        old.clone(),
        "capabilities.extcluster.io/taintSupport",
        "true",
    );
    assert_eq!(
        decide(Operation::Update, Some(&annotated), Some(&old), &[]),
        Ok(())
    );
}

#[test]
fn version_is_checked_on_update_only_when_it_changes() {
    let old = cluster("prod", "uid-1", "v1.18.0");
    let relabelled = annotate(
        old.clone(),
        "capabilities.extcluster.io/taintSupport",
        "true",
    );
    assert_eq!(
        decide(Operation::Update, Some(&relabelled), Some(&old), &[]),
        Ok(())
    );
    let in_range = with(
        old.clone(),
        &["spec", "kubernetesVersion"],
        json!("v1.30.1"),
    );
    assert_eq!(
        decide(Operation::Update, Some(&in_range), Some(&old), &[]),
        Ok(())
    );
    let too_new = with(
        in_range.clone(),
        &["spec", "kubernetesVersion"],
        json!("v1.35.0-eks-1"),
    );
    denied(
        decide(Operation::Update, Some(&too_new), Some(&in_range), &[]),
        "version_out_of_range",
        &["v1.35.0-eks-1"],
    );
}

#[test]
fn cluster_id_label_must_match() {
    let c = with(
        cluster("prod", "uid-1", "v1.29.3"),
        &["metadata", "labels", CLUSTER_ID_LABEL],
        json!("uid-9"),
    );
    denied(
        decide(Operation::Create, Some(&c), None, &[]),
        "label_mismatch",
        &[CLUSTER_ID_LABEL, "uid-9"],
    );
    let ok = with(c, &["metadata", "labels", CLUSTER_ID_LABEL], json!("uid-1"));
    assert_eq!(decide(Operation::Create, Some(&ok), None, &[]), Ok(()));
}

#[test]
fn missing_objects_are_denied_not_panicked() {
    denied(
        decide(Operation::Create, None, None, &[]),
        "missing_object",
        &["CREATE"],
    );
    denied(
        decide(
            Operation::Update,
            Some(&cluster("a", "b", "v1.29.0")),
            None,
            &[],
        ),
        "missing_object",
        &["UPDATE"],
    );
    denied(
        decide(Operation::Delete, None, None, &[]),
        "missing_object",
        &["DELETE"],
    );
    assert_eq!(decide(Operation::Connect, None, None, &[]), Ok(()));
}

#[test]
fn an_untrusted_registry_denies_what_needs_it() {
    use extcluster_core::policy::{Registry, RegistryUnavailable};
    struct Unsynced;
    impl Registry for Unsynced {
        fn live_holder(&self, _: &str, _: &str) -> Result<Option<&str>, RegistryUnavailable> {
            Err(RegistryUnavailable(
                "the webhook has not finished reading the registrations",
            ))
        }
    }
    let text = cluster("prod", "uid-1", "v1.29.3").to_string();
    let c = parse(&text);
    let d = Policy::default().decide(Operation::Create, Some(&c), None, &Unsynced);
    denied(
        d,
        "registry_unavailable",
        &["\"prod\"", "not finished", "retry"],
    );
    // Rules that do not need the registry still decide.
    let old = annotate(
        cluster("prod", "uid-1", "v1.29.3"),
        DISCONNECT_ANNOTATION,
        "true",
    )
    .to_string();
    let old = parse(&old);
    assert_eq!(
        Policy::default().decide(Operation::Delete, None, Some(&old), &Unsynced),
        Ok(())
    );
}

#[test]
fn every_reason_is_listed_for_metrics() {
    let samples = [
        decide(
            Operation::Create,
            Some(&cluster("a", "b", "v1.0.0")),
            None,
            &[],
        ),
        decide(
            Operation::Delete,
            None,
            Some(&cluster("a", "b", "v1.29.0")),
            &[],
        ),
    ];
    for s in samples {
        assert!(Denial::REASONS.contains(&s.unwrap_err().reason()));
    }
}

#[test]
fn the_view_matches_the_api_type() {
    use extcluster_core::ExternalCluster;
    let mut full = annotate(
        cluster("prod", "uid-1", "v1.29.3-eks-1"),
        DISCONNECT_ANNOTATION,
        "true",
    );
    full = annotate(full, "capabilities.extcluster.io/pspEnabled", "true");
    full = annotate(
        full,
        "kubectl.kubernetes.io/last-applied-configuration",
        "{}",
    );
    full = with(
        full,
        &["metadata", "labels", CLUSTER_ID_LABEL],
        json!("uid-1"),
    );
    full = with(full, &["spec", "displayName"], json!("Prod"));
    let typed: ExternalCluster = serde_json::from_value(full.clone()).unwrap();
    let text = serde_json::to_string(&full).unwrap();
    let decoded: Registration = serde_json::from_str(&text).unwrap();
    assert_eq!(Registration::from(&typed), decoded);
    assert!(decoded.disconnect_requested());
    assert_eq!(
        decoded.metadata.annotations.iter().count(),
        2,
        "irrelevant annotations are skipped"
    );
    // Every field the API type serializes is one the view reads.
    let spec_keys: Vec<String> = serde_json::to_value(&typed.spec)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for k in spec_keys {
        assert!(
            [
                "mode",
                "origin",
                "provider",
                "clusterID",
                "server",
                "kubernetesVersion",
                "kubeconfigSecretRef",
                "displayName"
            ]
            .contains(&k.as_str()),
            "view lacks {k}"
        );
    }
}

#[test]
fn export_annotations_name_known_tools_only() {
    let key = extcluster_core::exports::ANNOTATION;
    let base = cluster("a", "id-a", "v1.30.0");
    for ok in ["argocd", "flux", "argocd,flux", " flux , argocd ", ""] {
        let c = annotate(base.clone(), key, ok);
        assert_eq!(
            decide(Operation::Create, Some(&c), None, &[]),
            Ok(()),
            "{ok:?}"
        );
    }
    let bad = annotate(base.clone(), key, "argocd,rancher");
    denied(
        decide(Operation::Create, Some(&bad), None, &[]),
        "invalid_exports",
        &[key, "\"rancher\"", "argocd, flux", "--export"],
    );
    let ok = annotate(base, key, "flux");
    denied(
        decide(Operation::Update, Some(&bad), Some(&ok), &[]),
        "invalid_exports",
        &["\"rancher\""],
    );
    // Left as it was, an old unreadable value does not block other changes.
    let relabelled = with(bad.clone(), &["spec", "mode"], json!("Import"));
    assert_eq!(
        decide(Operation::Update, Some(&relabelled), Some(&bad), &[]),
        Ok(())
    );
}

#[test]
fn the_crd_goes_only_when_no_imported_registration_would_go_with_it() {
    use extcluster_core::policy::{RegistryUnavailable, decide_crd_delete};
    let crd = extcluster_core::api::CRD_NAME;
    assert_eq!(decide_crd_delete(crd, Ok(vec![])), Ok(()));
    assert_eq!(
        decide_crd_delete("other.example.com", Ok(vec!["a"])),
        Ok(())
    );
    denied(
        decide_crd_delete(crd, Ok(vec!["a", "b", "c", "d", "e"])),
        "registrations_remain",
        &[
            "5 imported registrations",
            "a, b, c and 2 more",
            "disconnect",
            "extcluster.io/guard-",
        ],
    );
    denied(
        decide_crd_delete(crd, Ok(vec!["prod"])),
        "registrations_remain",
        &["1 imported registration (prod)"],
    );
    denied(
        decide_crd_delete(
            crd,
            Err(RegistryUnavailable("the watch has not listed yet")),
        ),
        "registrations_uncounted",
        &["retry"],
    );
}

#[test]
fn psp_declared_on_a_cluster_without_it_is_a_warning_not_a_denial() {
    let warn = |version: &str, annotations: &[(&str, &str)]| {
        let mut c = cluster("edge", "cluster-a", version);
        for (k, v) in annotations {
            c = annotate(c, k, v);
        }
        assert_eq!(decide(Operation::Create, Some(&c), None, &[]), Ok(()));
        let text = serde_json::to_string(&c).unwrap();
        warning(&parse(&text))
    };
    let ours = "capabilities.extcluster.io/pspEnabled";
    let said = warn("v1.30.0", &[(ours, "true")]).expect("a warning");
    assert_eq!(
        said,
        "edge says pspEnabled=true, but Kubernetes v1.30.0 has no PodSecurityPolicy (removed in 1.25): set it to false"
    );
    assert!(said.len() <= 120, "one short line: {}", said.len());
    assert_eq!(
        warn("v1.24.17", &[(ours, "true")]),
        None,
        "1.24 still has it"
    );
    assert_eq!(warn("v1.25.0", &[(ours, "false")]), None);
    assert_eq!(warn("v1.25.0", &[]), None);
    assert!(
        warn(
            "v1.25.0-eks-1",
            &[("capabilities.cattle.io/pspEnabled", "true")]
        )
        .is_some()
    );
    assert_eq!(
        warn(
            "v1.29.3",
            &[
                (ours, "false"),
                ("capabilities.cattle.io/pspEnabled", "true")
            ]
        ),
        None,
        "our key overrides Rancher's"
    );
}
