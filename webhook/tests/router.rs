//! The webhook's router driven with AdmissionReview JSON fixtures: every rule, every kind of bad
//! input. No network, no API server: the registry index is filled by hand.

use axum::body::Body;
use extcluster_core::policy::Policy;
use extcluster_webhook::admission::Webhook;
use extcluster_webhook::routes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const UID: &str = "705ab4f5-6393-11e8-b7cc-42010a800002";
mod common;
use common::{CLUSTER_ID, fixture};

/// A webhook whose registry holds `prod-eu`, live, and is synced.
fn webhook() -> Arc<Webhook> {
    let w = Arc::new(Webhook::new(Policy::default(), Duration::from_secs(15)));
    w.registry.update(|i| i.upsert("prod-eu", CLUSTER_ID, true));
    w.registry.sync().mark_synced();
    w
}

async fn post(w: &Arc<Webhook>, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let req = Request::post("/validate")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let res = routes::webhook(w.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    (
        status,
        res.into_body().collect().await.unwrap().to_bytes().to_vec(),
    )
}

/// Posts a fixture and returns the review's `response`.
async fn review(w: &Arc<Webhook>, name: &str) -> Value {
    let (status, body) = post(w, fixture(name)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{name}: {}",
        String::from_utf8_lossy(&body)
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    assert_eq!(
        v["response"]["uid"], UID,
        "the answer carries the request's uid"
    );
    v["response"].clone()
}

async fn allowed(w: &Arc<Webhook>, name: &str) {
    let r = review(w, name).await;
    assert_eq!(r["allowed"], true, "{name}: {r}");
    assert!(r.get("status").is_none(), "{name}: {r}");
}

async fn denied(w: &Arc<Webhook>, name: &str, code: u16, mentions: &[&str]) -> String {
    let r = review(w, name).await;
    assert_eq!(r["allowed"], false, "{name}: {r}");
    assert_eq!(r["status"]["code"], code, "{name}: {r}");
    let msg = r["status"]["message"].as_str().unwrap().to_owned();
    for m in mentions {
        assert!(msg.contains(m), "{name}: {msg:?} should mention {m:?}");
    }
    msg
}

#[tokio::test]
async fn allows_what_the_rules_allow() {
    let w = webhook();
    // prod-eu itself is in the registry: creating it is not a re-import of itself.
    allowed(&w, "create.json").await;
    allowed(&w, "update.json").await;
    allowed(&w, "delete-disconnected.json").await;
}

#[tokio::test]
async fn denies_out_of_range_versions_with_version_and_range() {
    let w = webhook();
    denied(
        &w,
        "create-too-old.json",
        403,
        &["v1.18.20-eks-1", ">=1.19.0, <1.35.0"],
    )
    .await;
    denied(
        &w,
        "create-too-new.json",
        403,
        &["v1.35.0-gke.100", ">=1.19.0, <1.35.0"],
    )
    .await;
    denied(&w, "create-unreadable-version.json", 403, &["\"latest\""]).await;
}

#[tokio::test]
async fn the_range_is_configurable() {
    let w = Arc::new(Webhook::new(
        Policy::new(">=1.30.0".parse().unwrap()),
        Duration::from_secs(15),
    ));
    w.registry.sync().mark_synced();
    denied(&w, "create.json", 403, &["v1.29.3-eks-adc7111", ">=1.30.0"]).await;
}

#[tokio::test]
async fn denies_reimport_naming_the_existing_registration() {
    let w = webhook();
    denied(
        &w,
        "create-duplicate.json",
        403,
        &["re-import of an active cluster", "\"prod-eu\"", CLUSTER_ID],
    )
    .await;
    // Once the holder is disconnected, the same cluster may be registered again.
    w.registry
        .update(|i| i.upsert("prod-eu", CLUSTER_ID, false));
    allowed(&w, "create-duplicate.json").await;
}

#[tokio::test]
async fn denies_registration_until_the_registry_is_synced() {
    let w = Arc::new(Webhook::new(Policy::default(), Duration::from_secs(15)));
    denied(&w, "create.json", 403, &["not finished reading", "retry"]).await;
    // Rules that need no registry still answer.
    denied(
        &w,
        "delete-imported.json",
        403,
        &["kubectl extcluster disconnect prod-eu"],
    )
    .await;
    w.registry.sync().mark_synced();
    allowed(&w, "create.json").await;
}

#[tokio::test]
async fn denies_delete_of_imported_with_the_disconnect_hint() {
    let w = webhook();
    denied(
        &w,
        "delete-imported.json",
        403,
        &["kubectl extcluster disconnect prod-eu", "left untouched"],
    )
    .await;
}

#[tokio::test]
async fn denies_invalid_capabilities_on_create_and_update() {
    let w = webhook();
    denied(
        &w,
        "create-bad-capability.json",
        403,
        &["nodePortRange", "LOW-HIGH"],
    )
    .await;
    denied(
        &w,
        "create-unknown-capability.json",
        403,
        &["\"gpu\"", "pspEnabled", "taintSupport"],
    )
    .await;
    denied(
        &w,
        "update-bad-capability.json",
        403,
        &["pspEnabled", "a boolean"],
    )
    .await;
}

#[tokio::test]
async fn denies_identity_changes() {
    let w = webhook();
    denied(&w, "update-server.json", 403, &["spec.server"]).await;
}

#[tokio::test]
async fn refuses_objects_that_are_not_external_clusters() {
    let w = webhook();
    denied(
        &w,
        "wrong-kind.json",
        400,
        &["only extcluster.io ExternalClusters", "Pod"],
    )
    .await;
    denied(
        &w,
        "object-without-spec.json",
        400,
        &["not a readable ExternalCluster", "spec"],
    )
    .await;
    denied(
        &w,
        "object-wrong-type.json",
        400,
        &["not a readable ExternalCluster"],
    )
    .await;
}

#[tokio::test]
async fn answers_malformed_bodies_with_400() {
    let w = webhook();
    for (name, mention) in [
        ("not-json.txt", "not an AdmissionReview"),
        ("wrong-api-version.json", "admission.k8s.io/v1beta1"),
        ("no-request.json", "no request"),
    ] {
        let (status, body) = post(&w, fixture(name)).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {text}");
        assert!(text.contains(mention), "{name}: {text}");
    }
    for body in [
        &b""[..],
        b"null",
        b"[]",
        b"{}",
        b"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{}}",
    ] {
        let (status, _) = post(&w, body.to_vec()).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // Truncated: every prefix of a real review is refused, never a panic.
    let full = fixture("create.json");
    for cut in (0..full.len()).step_by(97) {
        let (status, _) = post(&w, full[..cut].to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "prefix of {cut} bytes");
    }
    // Deeply nested JSON hits serde_json's recursion limit, not the stack.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (status, _) = post(&w, deep.into_bytes()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn refuses_bodies_over_3_mib() {
    let w = webhook();
    let mut review: Value = serde_json::from_slice(&fixture("create.json")).unwrap();
    review["request"]["object"]["metadata"]["annotations"]["padding"] =
        Value::String("x".repeat(3 * 1024 * 1024));
    let (status, _) = post(&w, serde_json::to_vec(&review).unwrap()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Just under the limit is read.
    review["request"]["object"]["metadata"]["annotations"]["padding"] =
        Value::String("x".repeat(3 * 1024 * 1024 - 8 * 1024));
    let (status, _) = post(&w, serde_json::to_vec(&review).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_requests_denials_and_latency() {
    let w = webhook();
    allowed(&w, "create.json").await;
    denied(&w, "delete-imported.json", 403, &[]).await;
    denied(&w, "create-too-old.json", 403, &[]).await;
    let text = w.metrics.render();
    for line in [
        "extcluster_webhook_requests_total{operation=\"CREATE\",verdict=\"Allowed\"} 1",
        "extcluster_webhook_requests_total{operation=\"DELETE\",verdict=\"Denied\"} 1",
        "extcluster_webhook_denials_total{reason=\"delete_imported\"} 1",
        "extcluster_webhook_denials_total{reason=\"version_out_of_range\"} 1",
        "extcluster_webhook_request_duration_seconds_count 3",
        "extcluster_webhook_registrations 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[tokio::test]
async fn probes_report_readiness_from_the_sync_state() {
    // The grace a broken watch gets: long enough that no pause of a loaded machine between the
    // break and the next request outlasts it.
    let grace = Duration::from_secs(3);
    let w = Arc::new(Webhook::new(Policy::default(), grace));
    let get = |path: &'static str| {
        let w = w.clone();
        async move {
            let res = routes::probes(w)
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            res.status()
        }
    };
    assert_eq!(get("/healthz").await, StatusCode::OK);
    assert_eq!(
        get("/readyz").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "not synced yet"
    );
    w.registry.sync().mark_synced();
    assert_eq!(get("/readyz").await, StatusCode::OK);
    w.registry.sync().mark_broken();
    assert_eq!(
        get("/readyz").await,
        StatusCode::OK,
        "a short break is tolerated"
    );
    tokio::time::sleep(grace + Duration::from_millis(500)).await;
    assert_eq!(
        get("/readyz").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "a long one is not"
    );
    w.registry.sync().mark_healthy();
    assert_eq!(get("/readyz").await, StatusCode::OK);
    assert_eq!(get("/metrics").await, StatusCode::OK);
}

#[tokio::test]
async fn an_allowed_create_reserves_its_cluster_before_the_watch_sees_it() {
    let w = Arc::new(Webhook::new(Policy::default(), Duration::from_secs(15)));
    w.registry.sync().mark_synced();
    // A dry run reserves nothing.
    let mut dry: Value = serde_json::from_slice(&fixture("create-duplicate.json")).unwrap();
    dry["request"]["dryRun"] = Value::Bool(true);
    let (status, body) = post(&w, serde_json::to_vec(&dry).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["response"]["allowed"],
        true
    );
    allowed(&w, "create.json").await;
    // The same cluster under another name, a moment later, with no watch event in between.
    denied(
        &w,
        "create-duplicate.json",
        403,
        &["re-import of an active cluster", "\"prod-eu\""],
    )
    .await;
}

#[tokio::test]
async fn a_reservation_never_confirmed_is_forgotten() {
    let w = Arc::new(Webhook::new(Policy::default(), Duration::from_secs(15)));
    w.registry.sync().mark_synced();
    for _ in 0..100 {
        allowed(&w, "create.json").await;
    }
    assert!(
        w.metrics
            .render()
            .contains("extcluster_webhook_registrations 1\n"),
        "one reservation, however often"
    );
    // The watch never delivers prod-eu (the create failed after admission): once the reservation
    // lapses, the next update of the index forgets it.
    w.registry.update(|i| {
        i.drop_lapsed(std::time::Instant::now() + extcluster_webhook::registry::RESERVATION_TTL * 2)
    });
    w.registry.update(|_| ());
    assert!(
        w.metrics
            .render()
            .contains("extcluster_webhook_registrations 0\n"),
        "{}",
        w.metrics.render()
    );
}
