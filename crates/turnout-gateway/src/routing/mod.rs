//! Step 2: from a model id and preferences to an ordered list of endpoints.

pub mod catalog;
pub mod plan;
pub mod preferences;
pub mod sticky;
