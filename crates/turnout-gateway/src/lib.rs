//! The gateway pipeline: ingress → routing → upstream → egress → accounting (DESIGN.md §1).

pub mod accounting;
pub mod egress;
pub mod error;
pub mod health;
pub mod ingress;
pub mod ops;
pub mod otel;
pub mod routing;
pub mod server;
pub mod state;
pub mod status;
pub mod telemetry;
pub mod upstream;
pub mod web;

use axum::Router;
use axum::routing::{get, post};

use web::{accounts, status_admin};

pub use state::{AppState, Runtime};

/// The status page's admin API (`web::status_admin`).
fn status_admin_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/status/maintenances",
            get(status_admin::list_maintenances).post(status_admin::create_maintenance),
        )
        .route(
            "/admin/status/maintenances/{id}",
            axum::routing::delete(status_admin::delete_maintenance),
        )
        .route("/admin/status/incidents", get(status_admin::list_incidents))
        .route(
            "/admin/status/incidents/{id}/updates",
            post(status_admin::post_incident_update),
        )
        .route(
            "/admin/status/incidents/{id}/takeover",
            post(status_admin::take_over_incident),
        )
        .route("/admin/status/overrides", get(status_admin::list_overrides))
        .route(
            "/admin/status/components/{id}/override",
            axum::routing::put(status_admin::set_override).delete(status_admin::clear_override),
        )
        .route(
            "/admin/status/channels/{id}/test",
            post(status_admin::test_channel),
        )
}

/// The whole HTTP surface. `/v1/...` mirrors `/api/v1/...` so OpenAI SDKs work with either
/// base URL.
pub fn app(state: AppState) -> Router {
    let _ = telemetry::prometheus();
    let mut router = Router::new();
    // Full paths under both prefixes rather than `nest`, which rebuilds every request's URI.
    for prefix in ["/api/v1", "/v1"] {
        let at = |path: &str| format!("{prefix}{path}");
        router = router
            .route(&at("/chat/completions"), post(ingress::chat_completions))
            .route(&at("/messages"), post(ingress::messages))
            .route(&at("/models"), get(web::catalog::list_models))
            .route(
                &at("/models/{author}/{slug}/endpoints"),
                get(web::catalog::list_endpoints),
            )
            .route(&at("/providers"), get(web::catalog::list_providers))
            .route(&at("/routing/explain"), post(ingress::routing_explain))
            .route(&at("/key"), get(accounts::current_key))
            .route(&at("/auth/key"), get(accounts::current_key))
            .route(
                &at("/keys"),
                get(accounts::list_keys).post(accounts::create_key),
            )
            .route(
                &at("/keys/{hash}"),
                get(accounts::get_key)
                    .patch(accounts::update_key)
                    .delete(accounts::delete_key),
            )
            .route(&at("/credits"), get(accounts::credits))
            .route(&at("/generation"), get(accounts::generation))
            .route(&at("/activity"), get(accounts::activity));
    }
    router
        .route("/status", get(status::page::html))
        .route("/status/api/v2/summary.json", get(status::page::summary))
        .route("/status/api/v2/status.json", get(status::page::status))
        .route(
            "/status/api/v2/components.json",
            get(status::page::components),
        )
        .route(
            "/status/api/v2/incidents.json",
            get(status::page::incidents),
        )
        .route(
            "/status/api/v2/incidents/unresolved.json",
            get(status::page::unresolved_incidents),
        )
        .route(
            "/status/api/v2/scheduled-maintenances.json",
            get(status::page::maintenances),
        )
        .route(
            "/status/api/v2/scheduled-maintenances/upcoming.json",
            get(status::page::upcoming_maintenances),
        )
        .route(
            "/status/api/v2/scheduled-maintenances/active.json",
            get(status::page::active_maintenances),
        )
        .route("/status/api/ext/uptime.json", get(status::extras::uptime))
        .route("/status/api/ext/metrics.json", get(status::extras::metrics))
        .route("/status/assets/{name}", get(status::assets::serve))
        .route(
            "/status/api/ext/endpoints.json",
            get(status::extras::endpoints),
        )
        .route("/status/history.atom", get(status::extras::atom))
        .route("/status/badge.svg", get(status::extras::page_badge))
        .route(
            "/status/components/{id}/badge.svg",
            get(status::extras::component_badge),
        )
        .route(
            "/status/components/{id}/badge.shields",
            get(status::extras::component_shields),
        )
        .route(
            "/status/components/{id}/uptime/{range}/badge.svg",
            get(status::extras::uptime_badge),
        )
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/admin/health", get(ops::endpoint_health))
        .route("/admin/credits", post(accounts::add_credits))
        .merge(status_admin_routes())
        // The operator's dashboard: every /dashboard route, with its own sign-in throttle.
        .merge(web::dashboard::routes())
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .with_state(state)
}
