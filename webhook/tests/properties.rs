//! Property-based tests of AdmissionReview decoding: whatever body reaches `POST /validate`
//! (noise, arbitrary JSON, a real review bent out of shape), [`Webhook::review`] answers HTTP 400
//! or a well-formed AdmissionReview carrying the request's uid, and never panics.

use extcluster_core::policy::Policy;
use extcluster_webhook::admission::Webhook;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

mod common;
use common::{CLUSTER_ID, fixture};

/// Two webhooks: one synced with `prod-eu` registered, one that has not synced yet.
fn webhooks() -> &'static [Arc<Webhook>; 2] {
    static W: OnceLock<[Arc<Webhook>; 2]> = OnceLock::new();
    W.get_or_init(|| {
        let synced = Arc::new(Webhook::new(Policy::default(), Duration::from_secs(15)));
        synced
            .registry
            .update(|i| i.upsert("prod-eu", CLUSTER_ID, true));
        synced.registry.sync().mark_synced();
        let unsynced = Arc::new(Webhook::new(Policy::default(), Duration::from_secs(15)));
        [synced, unsynced]
    })
}

/// Checks the answers of both webhooks to one body.
fn check_answer(body: &[u8], uid: Option<&str>) -> Result<(), TestCaseError> {
    for w in webhooks() {
        let reply = w.review(body);
        match reply.status.as_u16() {
            400 => {
                let text = std::str::from_utf8(&reply.body);
                prop_assert!(text.is_ok(), "a 400 says why in text");
                let text = text.unwrap();
                prop_assert!(!text.is_empty());
                prop_assert!(!text.contains('\n'), "one line: {:?}", text);
                // A 400 is for bodies with no review to answer.
                if let Some(uid) = uid {
                    let parsed: Option<Value> = serde_json::from_slice(body).ok();
                    let answerable = parsed.as_ref().is_some_and(|v| {
                        v["apiVersion"] == "admission.k8s.io/v1"
                            && v["kind"] == "AdmissionReview"
                            && v["request"]["uid"] == uid
                            && v["request"]["kind"]["kind"].is_string()
                            && matches!(
                                v["request"]["operation"].as_str(),
                                Some("CREATE" | "UPDATE" | "DELETE" | "CONNECT")
                            )
                            && request_fields_well_typed(&v["request"])
                    });
                    prop_assert!(!answerable, "answerable review got 400: {}", text);
                }
            }
            200 => {
                let v: Result<Value, _> = serde_json::from_slice(&reply.body);
                prop_assert!(v.is_ok(), "a 200 is JSON");
                let v = v.unwrap();
                prop_assert_eq!(&v["apiVersion"], "admission.k8s.io/v1");
                prop_assert_eq!(&v["kind"], "AdmissionReview");
                let r = &v["response"];
                let allowed = r["allowed"].as_bool();
                prop_assert!(allowed.is_some(), "{}", v);
                // The uid the API server matches the answer by, exactly as it was sent.
                // serde skips fields it does not read without checking their UTF-8; read the
                // body the same way (the uid itself was checked, or there would be no answer).
                let sent: Option<Value> =
                    serde_json::from_str::<Value>(&String::from_utf8_lossy(body))
                        .ok()
                        .map(|b| b["request"]["uid"].clone());
                prop_assert_eq!(Some(&r["uid"]), sent.as_ref(), "{}", v);
                if let Some(uid) = uid {
                    prop_assert_eq!(&r["uid"], uid);
                }
                if allowed == Some(false) {
                    let code = r["status"]["code"].as_u64();
                    prop_assert!(matches!(code, Some(400 | 403)), "{}", v);
                    let msg = r["status"]["message"].as_str().unwrap_or_default();
                    prop_assert!(!msg.is_empty(), "a denial says why: {}", v);
                } else {
                    prop_assert!(r.get("status").is_none(), "{}", v);
                }
            }
            other => prop_assert!(false, "HTTP {} for a review", other),
        }
    }
    Ok(())
}

/// The request fields the decoder reads, each of the type it expects (an optional field may be
/// left out, as the API server leaves out empty ones, but is never null).
fn request_fields_well_typed(r: &Value) -> bool {
    let optional = |v: &Value, key: &str, is: fn(&Value) -> bool| v.get(key).is_none_or(is);
    r["uid"].is_string()
        && r["kind"].is_object()
        && optional(&r["kind"], "group", Value::is_string)
        && optional(&r["kind"], "version", Value::is_string)
        && optional(r, "name", Value::is_string)
        && optional(r, "dryRun", Value::is_boolean)
}

/// Arbitrary JSON, nested up to a bounded depth.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Any text, control characters included.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
    ]
}

/// Keys the decoder looks for, and others.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(vec![
            "apiVersion", "kind", "request", "uid", "operation", "name", "object", "oldObject",
            "dryRun", "group", "version", "metadata", "spec", "mode", "origin", "provider",
            "clusterID", "server", "kubernetesVersion", "annotations", "labels",
            "deletionTimestamp", "kubeconfigSecretRef", "displayName",
        ])
        .prop_map(str::to_owned),
        1 => text(),
    ]
}

/// A JSON value that is usually what the field should hold, sometimes anything at all.
fn field(usual: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Value> {
    prop_oneof![12 => usual, 1 => json_value()].boxed()
}

fn str_of(values: &[&'static str]) -> BoxedStrategy<Value> {
    field(select(values.to_vec()).prop_map(Value::from))
}

/// An ExternalCluster-like object with every field likely right and each possibly wrong.
fn object() -> impl Strategy<Value = Value> {
    let annotations = proptest::collection::btree_map(
        prop_oneof![
            select(vec![
                "capabilities.extcluster.io/pspEnabled",
                "capabilities.extcluster.io/nodePortRange",
                "capabilities.cattle.io/taintSupport",
                "capabilities.extcluster.io/gpu",
                "extcluster.io/disconnect",
                "other.example.com/x",
            ])
            .prop_map(str::to_owned),
            text(),
        ],
        field(prop_oneof![
            select(vec!["true", "false", "30000-32767", "yes"]).prop_map(Value::from),
            text().prop_map(Value::from),
        ]),
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()));
    (
        (
            str_of(&["prod-eu", "prod-us", "lab"]),
            field(annotations),
            field(prop_oneof![
                Just(json!({"extcluster.io/cluster-id": CLUSTER_ID})),
                Just(json!({"extcluster.io/cluster-id": "other"})),
                Just(json!({})),
            ]),
            field(Just(Value::Null)),
        ),
        (
            str_of(&["Import", "Connect", "import"]),
            str_of(&["Imported", "Provisioned"]),
            str_of(&["EKS", "Generic", "GKE"]),
            field(prop_oneof![
                select(vec![CLUSTER_ID, "other-id"]).prop_map(Value::from),
                text().prop_map(Value::from),
            ]),
            str_of(&["https://a.example.com:6443"]),
            field(prop_oneof![
                select(vec!["v1.29.3-eks-adc7111", "v1.18.0", "v1.35.0", "banana"])
                    .prop_map(Value::from),
                text().prop_map(Value::from),
            ]),
        ),
        any::<u8>(),
    )
        .prop_map(
            |(
                (name, annotations, labels, deletion),
                (mode, origin, provider, id, server, version),
                drop,
            )| {
                let mut spec = json!({
                    "mode": mode, "origin": origin, "provider": provider, "clusterID": id,
                    "server": server, "kubernetesVersion": version,
                });
                let mut metadata = json!({
                    "name": name, "annotations": annotations, "labels": labels,
                    "deletionTimestamp": deletion,
                });
                // Sometimes a field is missing altogether.
                let spec_keys = [
                    "mode",
                    "origin",
                    "provider",
                    "clusterID",
                    "server",
                    "kubernetesVersion",
                ];
                if let Some(k) = spec_keys.get(usize::from(drop % 16)) {
                    spec.as_object_mut().unwrap().remove(*k);
                }
                let meta_keys = ["name", "annotations", "labels"];
                if let Some(k) = meta_keys.get(usize::from(drop / 16 % 8)) {
                    metadata.as_object_mut().unwrap().remove(*k);
                }
                json!({
                    "apiVersion": "extcluster.io/v1alpha1", "kind": "ExternalCluster",
                    "metadata": metadata, "spec": spec,
                })
            },
        )
}

/// A review shaped like the API server's, with any part possibly wrong.
fn review() -> impl Strategy<Value = (Value, Option<String>)> {
    (
        str_of(&["admission.k8s.io/v1"]),
        str_of(&["AdmissionReview"]),
        prop_oneof![
            3 => text().prop_map(Some),
            1 => Just(None),
        ],
        field(Just(
            json!({"group": "extcluster.io", "version": "v1alpha1", "kind": "ExternalCluster"}),
        )),
        str_of(&["CREATE", "UPDATE", "DELETE", "CONNECT"]),
        proptest::option::of(field(object())),
        proptest::option::of(field(object())),
        field(any::<bool>().prop_map(Value::from)),
        str_of(&["prod-eu", ""]),
    )
        .prop_map(
            |(api_version, kind, uid, gvk, operation, object, old_object, dry_run, name)| {
                let mut request =
                    json!({"kind": gvk, "operation": operation, "name": name, "dryRun": dry_run});
                if let Some(uid) = &uid {
                    request["uid"] = Value::from(uid.clone());
                }
                if let Some(o) = object {
                    request["object"] = o;
                }
                if let Some(o) = old_object {
                    request["oldObject"] = o;
                }
                (
                    json!({"apiVersion": api_version, "kind": kind, "request": request}),
                    uid,
                )
            },
        )
}

/// The create fixture with bytes changed, cut, or inserted.
fn mangled_fixture() -> impl Strategy<Value = Vec<u8>> {
    let base = fixture("create.json");
    let len = base.len();
    proptest::collection::vec((0..len, any::<u8>(), 0u8..3), 1..6).prop_map(move |edits| {
        let mut b = base.clone();
        for (at, byte, how) in edits {
            let at = at.min(b.len().saturating_sub(1));
            match how {
                0 => b[at] = byte,
                1 => b.truncate(at),
                _ => b.insert(at, byte),
            }
            if b.is_empty() {
                break;
            }
        }
        b
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_bytes_get_400_or_a_review(body in proptest::collection::vec(any::<u8>(), 0..4096)) {
        check_answer(&body, None)?;
    }

    #[test]
    fn arbitrary_json_gets_400_or_a_review(v in json_value()) {
        let body = serde_json::to_vec(&v).unwrap();
        check_answer(&body, None)?;
    }

    #[test]
    fn mangled_real_reviews_get_400_or_a_review(body in mangled_fixture()) {
        check_answer(&body, None)?;
    }

    /// Reviews close to what the API server sends: each is answered with its uid, and the
    /// answers that decide something say why when they deny.
    #[test]
    fn review_shaped_json_is_answered_with_its_uid((v, uid) in review()) {
        let body = serde_json::to_vec(&v).unwrap();
        check_answer(&body, uid.as_deref())?;
    }
}

/// The generators do reach the policy: some shaped reviews are allowed, some denied for each
/// kind of reason, not all turned away at decoding.
#[test]
fn shaped_reviews_reach_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut allowed, mut denied, mut bad) = (0, 0, 0);
    for _ in 0..2000 {
        let (v, _) = review().new_tree(&mut runner).unwrap().current();
        let reply = webhooks()[0].review(&serde_json::to_vec(&v).unwrap());
        if reply.status != 200 {
            bad += 1;
            continue;
        }
        let answer: Value = serde_json::from_slice(&reply.body).unwrap();
        if answer["response"]["allowed"] == true {
            allowed += 1;
        } else {
            denied += 1;
        }
    }
    eprintln!("allowed {allowed}, denied {denied}, 400 {bad}");
    assert!(
        allowed > 50 && denied > 50 && bad > 50,
        "allowed {allowed}, denied {denied}, 400 {bad}"
    );
}
