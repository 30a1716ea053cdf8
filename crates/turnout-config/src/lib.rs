//! Configuration: load (TOML + `${ENV}`), validate, and explain every problem with file:line and field.

mod types;

pub use types::*;
