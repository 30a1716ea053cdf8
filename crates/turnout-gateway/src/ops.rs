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

pub async fn metrics(State(state): State<AppState>) -> Response {
    telemetry::export_breakers(state.health());
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

/// `GET /admin/health`: each endpoint's breaker and cool-down, as routing sees them now.
pub async fn endpoint_health(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    state
        .runtime()
        .auth
        .authenticate(&headers, state.accounts())
        .await?;
    let now = std::time::Instant::now();
    let endpoints: Vec<serde_json::Value> = state
        .health()
        .snapshot(now)
        .into_iter()
        .map(|(key, breaker, cooling)| {
            let (provider, model) = key.split_once('|').unwrap_or((&key, ""));
            let reopens_in_ms = match breaker {
                crate::health::BreakerState::Open { until } => {
                    Some(until.saturating_duration_since(now).as_millis() as u64)
                }
                _ => None,
            };
            json!({
                "provider": provider,
                "model": model,
                "breaker": breaker.as_str(),
                "reopens_in_ms": reopens_in_ms,
                "cooling_down_ms": cooling.map(|d| d.as_millis() as u64),
            })
        })
        .collect();
    Ok(axum::Json(json!({ "data": endpoints })))
}
