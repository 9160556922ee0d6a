//! Property-based tests: whatever a user, a tool or an attacker puts in a version, a capability
//! annotation or a registration, the parsers and the policy answer (a value or a clear error) and
//! never panic.

use extcluster_core::api::{CLUSTER_ID_LABEL, DISCONNECT_ANNOTATION};
use extcluster_core::capability::{self, Capability, CapabilityError};
use extcluster_core::policy::{Denial, Operation, Policy, Registration, Registry};
use extcluster_core::{
    ExternalCluster, ExternalClusterSpec, KubeVersion, Mode, Origin, Provider, RegistryUnavailable,
    SecretKeyRef, VersionRange,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use proptest::prelude::*;
use proptest::sample::select;
use std::collections::BTreeMap;
use strum::VariantArray;

/// Any text, control characters (newlines, NULs, escapes) included: `any::<String>()` leaves them
/// out.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(any::<char>(), 0..40).prop_map(String::from_iter),
        "[\\x00-\\x1f\\x7f a-z0-9\\n]{0,12}",
    ]
}

// ---------------------------------------------------------------------------------------------
// Versions

/// Numbers the parser reads: up to nine digits each.
fn part() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..40, 0u64..=999_999_999]
}

/// Anything a provider might append after the triple: `-eks-adc7111`, `+k3s1`, `-gke.1785003`,
/// or any text at all behind the `-`/`+`.
fn suffix() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[-+][a-zA-Z0-9.+-]{0,24}",
        ("[-+]", text()).prop_map(|(sep, rest)| format!("{sep}{rest}")),
    ]
}

fn version_like() -> impl Strategy<Value = String> {
    prop_oneof![
        text(),
        "[vV ]?[0-9]{0,12}(\\.[0-9]{0,12}){0,4}[-+. a-z0-9]{0,8}",
        "[ \t]*[vV]?[0-9.]{0,10}[^0-9.]{0,3}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn version_parser_never_panics(raw in version_like()) {
        match KubeVersion::parse(&raw) {
            Ok(v) => {
                // What parsed prints back as a plain triple that parses to itself.
                prop_assert_eq!(KubeVersion::parse(&v.to_string()), Ok(v));
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(!msg.is_empty());
                prop_assert!(!msg.contains('\n'), "one line: {:?}", msg);
            }
        }
    }

    #[test]
    fn range_parser_never_panics(raw in prop_oneof![
        text(),
        "[<>=~^, ]{0,4}[0-9.]{0,8}[-+a-z]{0,3}[, ]{0,2}[<>=~^ ]{0,3}[0-9.*x]{0,8}",
    ]) {
        match VersionRange::parse(&raw) {
            Ok(r) => {
                // Its normalized text reads back as the same range.
                let again = VersionRange::parse(r.as_str()).expect("normalized text parses");
                prop_assert_eq!(again.as_str(), r.as_str());
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// `v{a}.{b}.{c}` with any provider suffix reads as (a, b, c), and whether it is in a range
    /// depends on that triple alone: a `-eks-...` suffix is never a semver pre-release.
    #[test]
    fn suffixes_never_change_the_version_or_the_verdict(
        a in part(), b in part(), c in part(),
        prefix in select(vec!["v", "V", "", " v", "v"]),
        suffix in suffix(),
        low in (0u64..3, 0u64..40, 0u64..10),
        high in (0u64..3, 0u64..40, 0u64..10),
    ) {
        let raw = format!("{prefix}{a}.{b}.{c}{suffix}");
        let v = KubeVersion::parse(&raw);
        // Trailing whitespace in the suffix is trimmed away; nothing else changes the triple.
        prop_assert_eq!(v.clone(), Ok(KubeVersion::new(a, b, c)), "{:?}", raw);
        let v = v.unwrap();
        let plain = KubeVersion::parse(&format!("{a}.{b}.{c}")).unwrap();
        let range = VersionRange::parse(&format!(
            ">={}.{}.{}, <{}.{}.{}", low.0, low.1, low.2, high.0, high.1, high.2
        ))
        .unwrap();
        prop_assert_eq!(range.contains(v), range.contains(plain));
        // And the verdict is the plain ordering of triples.
        let t = (a, b, c);
        prop_assert_eq!(range.contains(v), (low..high).contains(&t), "{:?} in {}", raw, range);
        prop_assert_eq!(
            VersionRange::default().contains(v),
            ((1, 19, 0)..(1, 35, 0)).contains(&t)
        );
    }

    /// A missing patch counts as 0, suffix or not.
    #[test]
    fn missing_patch_is_zero(a in part(), b in part(), suffix in suffix()) {
        prop_assert_eq!(
            KubeVersion::parse(&format!("v{a}.{b}{suffix}")),
            Ok(KubeVersion::new(a, b, 0))
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Capabilities

/// Values of every shape the capabilities take, broken in every way, and plain noise.
fn capability_value() -> impl Strategy<Value = String> {
    prop_oneof![
        text(),
        select(vec!["true", "false", "True", "1", "", " true"]).prop_map(str::to_owned),
        (any::<i32>(), any::<i32>()).prop_map(|(a, b)| format!("{a}-{b}")),
        "[0-9 ]{0,7}-[0-9 ]{0,7}",
        json_text(),
        select(Capability::ALL.to_vec()).prop_map(|c| c.example().to_owned()),
    ]
}

/// JSON documents, mostly the shapes the list and object capabilities expect.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        text().prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(4, 24, 4, |inner| {
        let key = select(vec![
            "ingressProvider",
            "customDefaultBackend",
            "enabled",
            "provider",
            "protocolsSupported",
            "healthCheckSupported",
            "other",
        ]);
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(key.prop_map(str::to_owned), inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    value.prop_map(|v| v.to_string())
}

fn annotation_key() -> impl Strategy<Value = String> {
    let known: Vec<&'static str> = Capability::ALL.iter().map(|c| c.name()).collect();
    let name = prop_oneof![
        3 => select(known).prop_map(str::to_owned),
        1 => text(),
        1 => "[a-zA-Z]{1,20}",
    ];
    (key_prefix(), name).prop_map(|(p, n)| format!("{p}{n}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Every capability answers any value with Ok or an error that names it, on one line.
    #[test]
    fn capability_validation_never_panics(cap in select(Capability::ALL.to_vec()), value in capability_value()) {
        if let Err(e) = cap.validate(&value) {
            let names_it = matches!(&e, CapabilityError::Invalid { capability, .. } if *capability == cap);
            prop_assert!(names_it, "{:?}", e);
            let msg = e.to_string();
            prop_assert!(msg.contains(cap.name()), "{}", msg);
            prop_assert!(msg.contains(cap.expected_type()), "{}", msg);
            prop_assert!(!msg.contains('\n') && !msg.contains('\r'), "one line: {:?}", msg);
            // A pasted megabyte is not quoted back whole.
            prop_assert!(msg.len() < 1200, "{} bytes", msg.len());
        }
    }

    /// Any annotation: not a capability key (Ok), a capability with its verdict, or an unknown
    /// capability named in the error.
    #[test]
    fn annotation_validation_never_panics(key in annotation_key(), value in capability_value()) {
        let verdict = capability::validate_annotation(&key, &value);
        match capability::from_key(&key) {
            None => prop_assert!(verdict.is_ok()),
            Some(Ok(cap)) => prop_assert_eq!(verdict, cap.validate(&value)),
            Some(Err(CapabilityError::Unknown { name })) => {
                let e = verdict.expect_err("an unknown capability is an error");
                let msg = e.to_string();
                prop_assert!(msg.contains(&format!("{name:?}")), "{}", msg);
                prop_assert!(msg.contains("known capabilities are"), "{}", msg);
            }
            Some(Err(other)) => prop_assert!(false, "from_key gave {:?}", other),
        }
        // A bare name or any key resolves or names what it could not resolve.
        if let Err(e) = capability::from_name_or_key(&key) {
            let unknown = matches!(e, CapabilityError::Unknown { .. });
            prop_assert!(unknown, "{:?}", e);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The policy

/// Names the API server accepts (a DNS subdomain): it validates them before any webhook runs.
fn object_name() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?"
}

/// Fields the CRD only bounds by length: anything a client sends reaches the policy.
fn free_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(vec!["id-1", "id-2", "4c1b2f3e-9d1a-4f7e-8a61-2b7f0c9e5d11"]).prop_map(str::to_owned),
        1 => text(),
    ]
}

fn version_field() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0u64..3, 0u64..40, 0u64..10, suffix())
            .prop_map(|(a, b, c, s)| format!("v{a}.{b}.{c}{s}")),
        1 => version_like(),
    ]
}

/// Annotation keys the API server accepts (qualified names: it validates them before any webhook
/// runs), under every capability prefix and others.
fn qualified_annotation_key() -> impl Strategy<Value = String> {
    let known: Vec<&'static str> = Capability::ALL.iter().map(|c| c.name()).collect();
    let name = prop_oneof![
        3 => select(known).prop_map(str::to_owned),
        1 => "[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?",
    ];
    (key_prefix(), name).prop_map(|(p, n)| format!("{p}{n}"))
}

fn annotations() -> impl Strategy<Value = BTreeMap<String, String>> {
    let entry = prop_oneof![
        3 => (qualified_annotation_key(), capability_value()),
        1 => (
            Just(DISCONNECT_ANNOTATION.to_owned()),
            select(vec!["true", "false", "yes", ""]).prop_map(str::to_owned),
        ),
    ];
    proptest::collection::vec(entry, 0..5).prop_map(|v| v.into_iter().collect())
}

fn cluster() -> impl Strategy<Value = ExternalCluster> {
    (
        (object_name(), free_text(), version_field(), annotations()),
        (
            select(Mode::VARIANTS.to_vec()),
            select(Origin::VARIANTS.to_vec()),
            select(Provider::VARIANTS.to_vec()),
        ),
        (
            select(vec!["https://a.example.com:6443", "https://b.example.com"]),
            proptest::option::of(free_text()),
            any::<bool>(),
            proptest::option::of(text()),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (name, cluster_id, version, annotations),
                (mode, origin, provider),
                (server, label, deleting, display, with_secret),
            )| {
                let mut c = ExternalCluster::new(
                    &name,
                    ExternalClusterSpec {
                        mode,
                        origin,
                        provider,
                        cluster_id: cluster_id.clone(),
                        server: server.to_owned(),
                        kubernetes_version: version,
                        kubeconfig_secret_ref: with_secret.then(|| SecretKeyRef {
                            namespace: "extcluster-system".into(),
                            name: format!("{name}-kubeconfig"),
                            key: "kubeconfig".into(),
                        }),
                        display_name: display,
                        federated: None,
                    },
                );
                c.metadata.annotations = Some(annotations);
                c.metadata.labels =
                    label.map(|l| BTreeMap::from([(CLUSTER_ID_LABEL.to_owned(), l)]));
                if deleting {
                    c.metadata.deletion_timestamp = Some(Time(Default::default()));
                }
                c
            },
        )
}

/// A registry that cannot answer, as the webhook's is before its first sync.
struct Unavailable;

impl Registry for Unavailable {
    fn live_holder(&self, _: &str, _: &str) -> Result<Option<&str>, RegistryUnavailable> {
        Err(RegistryUnavailable("the registry is not synced"))
    }
}

fn check_denial(denial: &Denial) -> Result<(), TestCaseError> {
    let msg = denial.to_string();
    prop_assert!(!msg.trim().is_empty());
    prop_assert!(
        !msg.contains('\n') && !msg.contains('\r'),
        "a denial is one line, whatever the request held: {:?}",
        msg
    );
    prop_assert!(Denial::REASONS.contains(&denial.reason()));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Any operation on any pair of registrations, against any registry: a decision, never a
    /// panic, and every denial is one line.
    #[test]
    fn policy_never_panics_and_denials_are_one_line(
        op in select(vec![Operation::Create, Operation::Update, Operation::Delete, Operation::Connect]),
        new in proptest::option::of(cluster()),
        old in proptest::option::of(cluster()),
        live in proptest::collection::vec(cluster(), 0..4),
        range in prop_oneof![
            Just(VersionRange::default()),
            (0u64..2, 0u64..40).prop_map(|(a, b)| VersionRange::parse(&format!(">={a}.{b}")).unwrap()),
        ],
    ) {
        let policy = Policy::new(range);
        let new_r = new.as_ref().map(Registration::from);
        let old_r = old.as_ref().map(Registration::from);
        let live_r: Vec<Registration<'_>> = live.iter().map(Registration::from).collect();

        let synced = policy.decide(op, new_r.as_ref(), old_r.as_ref(), live_r.as_slice());
        let unsynced = policy.decide(op, new_r.as_ref(), old_r.as_ref(), &Unavailable);
        for d in [&synced, &unsynced] {
            if let Err(denial) = d {
                check_denial(denial)?;
            }
        }
        // The same question gets the same answer.
        prop_assert_eq!(
            &synced,
            &policy.decide(op, new_r.as_ref(), old_r.as_ref(), live_r.as_slice())
        );
        match op {
            Operation::Connect => prop_assert!(synced.is_ok()),
            // Deletes never depend on the registry.
            Operation::Delete => prop_assert_eq!(&synced, &unsynced),
            _ => {}
        }
        // An unsynced registry only ever adds a "retry" denial; it never allows more.
        if unsynced.is_ok() {
            prop_assert!(synced.is_ok(), "{:?}", synced);
        }
        if let Err(Denial::RegistryUnavailable { .. }) = &unsynced {
            let synced_unavailable = matches!(&synced, Err(Denial::RegistryUnavailable { .. }));
            prop_assert!(!synced_unavailable, "{:?}", synced);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Two registrations of one cluster ID, whatever the ID holds: the second is denied, naming
    /// the first, on one line.
    #[test]
    fn reimport_denial_is_one_line_for_any_cluster_id(
        id in text().prop_filter("the CRD requires an ID", |s| !s.is_empty()),
        first in object_name(),
        second in object_name(),
    ) {
        prop_assume!(first != second);
        let make = |name: &str| {
            ExternalCluster::new(
                name,
                ExternalClusterSpec {
                    mode: Mode::Import,
                    origin: Origin::Imported,
                    provider: Provider::Generic,
                    cluster_id: id.clone(),
                    server: "https://a.example.com:6443".into(),
                    kubernetes_version: "v1.30.0".into(),
                    kubeconfig_secret_ref: None,
                    display_name: None,
                    federated: None,
                },
            )
        };
        let (held, new) = (make(&first), make(&second));
        let live = [Registration::from(&held)];
        let denial = Policy::default()
            .decide(Operation::Create, Some(&Registration::from(&new)), None, live.as_slice())
            .expect_err("a second registration of one cluster is denied");
        prop_assert_eq!(denial.reason(), "reimport");
        let holder = format!("{first:?}");
        prop_assert!(denial.to_string().contains(&holder), "{}", denial);
        check_denial(&denial)?;
    }
}

/// Annotation-key prefixes: ours, Rancher's two, a neighbour of ours, a stranger's, none.
fn key_prefix() -> impl Strategy<Value = &'static str> {
    select(vec![
        capability::PREFIX,
        "capabilities.cattle.io/",
        "capabilities/",
        "extcluster.io/",
        "example.com/",
        "",
    ])
}
