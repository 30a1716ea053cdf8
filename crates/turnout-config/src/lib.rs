//! Configuration: load (TOML + `${ENV}`), validate, and explain every problem with file:line and field.
//!
//! [`load_file`] / [`load_str`] parse the file into a span-preserving tree, interpolate `${VAR}`
//! in every string value (`$${` is a literal `${`), type it with serde while collecting every
//! error, then run the semantic checks. Nothing is returned unless the whole file is right; the
//! error lists every problem as `FILE:LINE:COL: FIELD: MESSAGE`.

mod doc;
mod duration;
mod error;
mod interpolate;
mod price;
mod status;
mod strict;
mod telemetry;
mod typed;
mod types;
mod validate;

use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub use duration::{format_duration, parse_duration, parse_recurrence, parse_rfc3339_ms};
pub use error::{ConfigErrors, ConfigProblem};
pub use status::*;
pub use telemetry::TelemetryConfig;
pub use types::*;
pub use validate::is_azure_v1;

use doc::{Doc, FieldPath};

/// Reads and validates the configuration file at `path`, interpolating from the process
/// environment. An unreadable file is one problem naming the file.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(source) => load_str(&source, &file),
        Err(error) => Err(ConfigErrors {
            problems: vec![ConfigProblem {
                file,
                line: None,
                column: None,
                field: String::new(),
                message: format!("cannot read the configuration file: {error}"),
            }],
        }),
    }
}

/// Validates configuration text (`file_name` is only used in messages), interpolating from the
/// process environment.
pub fn load_str(source: &str, file_name: &str) -> Result<Config, ConfigErrors> {
    load_str_with_env(source, file_name, |name| std::env::var(name).ok())
}

/// [`load_str`] with `${VAR}` looked up through `env` instead of the process environment
/// (for tests, and for callers that build their own environment).
pub fn load_str_with_env(
    source: &str,
    file_name: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let (table, syntax_errors) = DeTable::parse_recoverable(source);
    let root = Spanned::new(table.span(), DeValue::Table(table.into_inner()));
    let mut doc = Doc::new(file_name, source, root);
    let mut problems = Vec::new();
    if !syntax_errors.is_empty() {
        // The tree after a syntax error is a guess; report the syntax and stop there.
        for error in &syntax_errors {
            problems.push(doc.problem(&FieldPath::root(), error.span(), error.message()));
        }
        return Err(finish(problems));
    }
    let mut tainted = interpolate::interpolate_doc(&mut doc, &env, &mut problems);
    let config = typed::type_config(&doc, &mut problems, &mut tainted);
    if let Some(config) = &config {
        validate::validate(config, &doc, &tainted, &mut problems);
    }
    match config {
        Some(config) if problems.is_empty() => Ok(config),
        _ => {
            if problems.is_empty() {
                problems.push(doc.problem(
                    &FieldPath::root(),
                    None,
                    "the configuration could not be read",
                ));
            }
            Err(finish(problems))
        }
    }
}

/// Problems in file order (those without a line first), each once.
fn finish(mut problems: Vec<ConfigProblem>) -> ConfigErrors {
    problems.sort_by_key(|p| (p.line, p.column));
    problems.dedup();
    ConfigErrors { problems }
}

#[cfg(test)]
mod tests;
