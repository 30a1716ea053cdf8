//! Public read-only API pages served by the gateway.

pub mod accounts;
pub mod catalog;
pub mod status_admin;
