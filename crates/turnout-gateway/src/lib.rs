//! The gateway pipeline: ingress → routing → upstream → egress → accounting (DESIGN.md §1).

pub mod accounting;
pub mod egress;
pub mod error;
pub mod health;
pub mod ingress;
pub mod ops;
pub mod routing;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod upstream;
pub mod web;

use axum::Router;
use axum::routing::{get, post};

use web::accounts;

pub use state::{AppState, Runtime};

/// The whole HTTP surface. `/v1/...` mirrors `/api/v1/...` so OpenAI SDKs work with either
/// base URL.
pub fn app(state: AppState) -> Router {
    let _ = telemetry::prometheus();
    let api = Router::new()
        .route("/chat/completions", post(ingress::chat_completions))
        .route("/models", get(web::catalog::list_models))
        .route(
            "/models/{author}/{slug}/endpoints",
            get(web::catalog::list_endpoints),
        )
        .route("/providers", get(web::catalog::list_providers))
        .route("/routing/explain", post(ingress::routing_explain))
        .route("/key", get(accounts::current_key))
        .route("/auth/key", get(accounts::current_key))
        .route("/keys", get(accounts::list_keys).post(accounts::create_key))
        .route(
            "/keys/{hash}",
            get(accounts::get_key)
                .patch(accounts::update_key)
                .delete(accounts::delete_key),
        )
        .route("/credits", get(accounts::credits))
        .route("/generation", get(accounts::generation))
        .route("/activity", get(accounts::activity));
    Router::new()
        .nest("/api/v1", api.clone())
        .nest("/v1", api)
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/admin/health", get(ops::endpoint_health))
        .route("/admin/credits", post(accounts::add_credits))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .with_state(state)
}
