//! The HTTP listener: health, status and metrics, in OPA's forms where OPA
//! has one, plus the reload triggers.
//!
//! - `GET /health`: 200 `{}` once the service is serving.
//! - `GET /health?bundles`: 200 `{}` only when every bundle has activated at
//!   least once; 500 otherwise, as OPA answers.
//! - `GET /v1/status`: each bundle's active revision and last failure, and
//!   each source's last sync.
//! - `GET /metrics`: Prometheus text format.
//! - `POST /v1/reload[/{source}]` and `POST /v1/webhooks/{source}`: see
//!   [`reload`].

mod reload;

use std::{collections::HashMap, sync::Arc};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;

use crate::{metrics::Metrics, registry::Registry, source::Reloader};

/// What the HTTP handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The active policies.
    pub registry: Arc<Registry>,
    /// The sources, for reload triggers and their status.
    pub reloader: Option<Arc<Reloader>>,
    /// Exported on `/metrics`.
    pub metrics: Arc<Metrics>,
    /// SHA-256 of the admin bearer token; `None` turns manual reload off.
    pub admin_token_sha256: Option<[u8; 32]>,
}

/// The router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/status", get(status))
        .route("/metrics", get(metrics))
        .route("/v1/reload", post(reload::reload_all))
        .route("/v1/reload/{source}", post(reload::reload_one))
        .route("/v1/webhooks/{source}", post(reload::webhook))
        .with_state(state)
}

async fn health(
    State(state): State<ApiState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let wants_bundles = params.contains_key("bundles") || params.contains_key("bundle");
    if wants_bundles && !state.registry.status().all_activated() {
        let body = json!({"error": "one or more bundles are not activated"});
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
    }
    (StatusCode::OK, Json(json!({}))).into_response()
}

async fn status(State(state): State<ApiState>) -> Response {
    let mut result = serde_json::to_value(state.registry.status()).unwrap_or_default();
    if let (Some(reloader), Some(object)) = (&state.reloader, result.as_object_mut()) {
        object.insert("sources".to_owned(), json!(reloader.status()));
    }
    Json(json!({ "result": result })).into_response()
}

async fn metrics(State(state): State<ApiState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
