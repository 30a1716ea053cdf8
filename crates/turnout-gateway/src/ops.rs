//! Operations: liveness, readiness, Prometheus metrics, and JSON answers for unknown routes.

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry;

pub async fn health() -> Response {
    (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
}

/// Ready once a configuration is loaded and has at least one model to serve.
pub async fn ready(State(state): State<AppState>) -> Response {
    let rt = state.runtime();
    if rt.catalog.models().next().is_some() || !rt.catalog.providers().is_empty() {
        (StatusCode::OK, axum::Json(json!({"status": "ready"}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "no models configured"})),
        )
            .into_response()
    }
}

pub async fn metrics() -> Response {
    match telemetry::prometheus() {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => ApiError::Internal {
            detail: "metrics recorder unavailable".to_owned(),
        }
        .into_response(),
    }
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::RouteNotFound {
        path: uri.path().to_owned(),
    }
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}
