//! The HTTP listener: health and status, in OPA's forms where OPA has one.
//!
//! - `GET /health`: 200 `{}` once the service is serving.
//! - `GET /health?bundles`: 200 `{}` only when every bundle has activated at
//!   least once; 500 otherwise, as OPA answers.
//! - `GET /v1/status`: each bundle's active revision and last failure.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

use crate::registry::Registry;

/// The router, sharing the registry with the gRPC service.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/status", get(status))
        .with_state(registry)
}

async fn health(
    State(registry): State<Arc<Registry>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let wants_bundles = params.contains_key("bundles") || params.contains_key("bundle");
    if wants_bundles && !registry.status().all_activated() {
        let body = json!({"error": "one or more bundles are not activated"});
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
    }
    (StatusCode::OK, Json(json!({}))).into_response()
}

async fn status(State(registry): State<Arc<Registry>>) -> Response {
    Json(json!({ "result": registry.status() })).into_response()
}
