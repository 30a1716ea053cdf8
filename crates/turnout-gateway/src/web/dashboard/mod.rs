//! The operator's dashboard at `/dashboard`: server-rendered pages (readable without
//! JavaScript, charts drawn by uPlot when it runs) over the account of the management key
//! that signed in. Sessions live in the database; every change is a POST carrying the
//! session's CSRF token from a page of this origin.

mod activity;
mod format;
mod keys;
pub mod layout;
mod overview;
mod playground;
mod providers;
mod session;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::state::AppState;

/// Where every dashboard request without a valid session is sent.
pub const SIGN_IN: &str = "/dashboard/sign-in";

/// Every dashboard route. Each call has its own sign-in throttle (one per served app).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(overview::page))
        .route(SIGN_IN, get(session::sign_in_page).post(session::sign_in))
        .route("/dashboard/sign-out", post(session::sign_out))
        .route("/dashboard/activity", get(activity::list))
        .route("/dashboard/activity/{id}", get(activity::detail))
        .route("/dashboard/providers", get(providers::page))
        .route("/dashboard/keys", get(keys::page).post(keys::create))
        .route(
            "/dashboard/keys/{hash}",
            get(keys::edit_page).post(keys::update),
        )
        .route("/dashboard/keys/{hash}/disable", post(keys::disable))
        .route("/dashboard/keys/{hash}/enable", post(keys::enable))
        .route("/dashboard/keys/{hash}/delete", post(keys::delete))
        .route("/dashboard/credits", post(keys::add_credits))
        .route("/dashboard/alert", post(keys::set_alert))
        .route(
            "/dashboard/playground",
            get(playground::page).post(playground::explain),
        )
        .layer(Extension(Arc::new(session::Throttle::default())))
}
