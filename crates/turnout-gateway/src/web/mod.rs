//! Public read-only API pages served by the gateway.

pub mod catalog;
