//! Public read-only API pages served by the gateway, and the operator's dashboard.

pub mod accounts;
pub mod catalog;
pub mod dashboard;
pub mod html;
pub mod status_admin;
