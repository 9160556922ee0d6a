//! HTTP routes: `POST /validate` and `POST /validate-crd` on the TLS port; `/healthz`, `/readyz`,
//! `/metrics` on the plain probe port.

use crate::admission::Webhook;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;

/// The API server never sends more than this (its own request limit is 3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

pub fn webhook(state: Arc<Webhook>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/validate-crd", post(validate_crd))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

pub fn probes(state: Arc<Webhook>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn validate(State(webhook): State<Arc<Webhook>>, body: Bytes) -> Response {
    reply(webhook.review(&body))
}

/// Deletions of the ExternalCluster CRD (the configuration selects it by its guard label).
async fn validate_crd(State(webhook): State<Arc<Webhook>>, body: Bytes) -> Response {
    reply(webhook.review_crd_deletion(&body))
}

fn reply(reply: crate::admission::Reply) -> Response {
    let content_type = if reply.status.is_success() {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    (
        reply.status,
        [(header::CONTENT_TYPE, content_type)],
        reply.body,
    )
        .into_response()
}

async fn readyz(State(webhook): State<Arc<Webhook>>) -> Response {
    match webhook.registry.sync().unavailable() {
        None => (StatusCode::OK, "ok").into_response(),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, why).into_response(),
    }
}

async fn metrics(State(webhook): State<Arc<Webhook>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        webhook.metrics.render(),
    )
        .into_response()
}
