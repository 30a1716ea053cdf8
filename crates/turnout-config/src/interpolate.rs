//! `${VAR}` interpolation in every string value of the file, before it is typed. `$${` writes a
//! literal `${`. Variable names are `[A-Za-z_][A-Za-z0-9_]*`.

use std::borrow::Cow;

use toml::de::DeValue;

use crate::doc::{Doc, FieldPath, Node};
use crate::error::ConfigProblem;

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InterpolationError {
    Unset(String),
    BadName(String),
    Unterminated,
}

impl InterpolationError {
    fn message(&self) -> String {
        match self {
            Self::Unset(name) => format!("environment variable `{name}` is not set"),
            Self::BadName(name) => format!(
                "`${{{name}}}` is not a valid variable reference (names are letters, digits and \
                 `_`; write `$${{` for a literal `${{`)"
            ),
            Self::Unterminated => {
                "unterminated `${` (close it with `}`, or write `$${` for a literal `${`)"
                    .to_owned()
            }
        }
    }
}

/// Expands `${VAR}` references in `text` with `lookup`. Returns every error in the string.
pub(crate) fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<InterpolationError>> {
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                errors.push(InterpolationError::Unterminated);
                rest = "";
                break;
            };
            let name = &after[..end];
            rest = &after[end + 1..];
            if !is_valid_name(name) {
                errors.push(InterpolationError::BadName(name.to_owned()));
                continue;
            }
            match lookup(name) {
                Some(value) => out.push_str(&value),
                None => errors.push(InterpolationError::Unset(name.to_owned())),
            }
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Interpolates every string value in the document. Problems go to `problems`; each string that
/// failed is left as written and its path is returned (so later checks do not complain twice).
pub(crate) fn interpolate_doc(
    doc: &mut Doc<'_>,
    lookup: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigProblem>,
) -> Vec<FieldPath> {
    let mut changed = Vec::new();
    let mut failed = Vec::new();
    let mut root = std::mem::replace(
        &mut doc.root,
        Node::new(0..0, DeValue::Table(Default::default())),
    );
    walk(
        &mut root,
        &FieldPath::root(),
        lookup,
        &mut changed,
        &mut failed,
    );
    doc.root = root;
    for span in &changed {
        doc.mark_interpolated(span);
    }
    let mut tainted = Vec::new();
    for (path, span, errors) in failed {
        for error in errors {
            problems.push(doc.problem(&path, Some(span.clone()), error.message()));
        }
        tainted.push(path);
    }
    tainted
}

type Failed = (FieldPath, std::ops::Range<usize>, Vec<InterpolationError>);

fn walk(
    node: &mut Node<'_>,
    path: &FieldPath,
    lookup: &dyn Fn(&str) -> Option<String>,
    changed: &mut Vec<std::ops::Range<usize>>,
    failed: &mut Vec<Failed>,
) {
    let span = node.span();
    match node.get_mut() {
        DeValue::String(text) => {
            if !text.contains('$') {
                return;
            }
            match interpolate(text, lookup) {
                Ok(value) => {
                    if value != text.as_ref() {
                        *text = Cow::Owned(value);
                        changed.push(span);
                    }
                }
                Err(errors) => failed.push((path.clone(), span, errors)),
            }
        }
        DeValue::Table(table) => {
            for (key, value) in table.iter_mut() {
                walk(value, &path.key(key.get_ref()), lookup, changed, failed);
            }
        }
        DeValue::Array(array) => {
            for (index, value) in array.iter_mut().enumerate() {
                walk(value, &path.index(index), lookup, changed, failed);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_and_escapes() {
        assert_eq!(interpolate("x${A}y", &env), Ok("xalphay".to_owned()));
        assert_eq!(interpolate("${A}${A}", &env), Ok("alphaalpha".to_owned()));
        assert_eq!(interpolate("[${EMPTY}]", &env), Ok("[]".to_owned()));
        assert_eq!(interpolate("$${A}", &env), Ok("${A}".to_owned()));
        assert_eq!(interpolate("cost: $5 $", &env), Ok("cost: $5 $".to_owned()));
        assert_eq!(interpolate("no vars", &env), Ok("no vars".to_owned()));
    }

    #[test]
    fn reports_every_error_in_a_string() {
        assert_eq!(
            interpolate("${NOPE} ${A} ${9x} ${", &env),
            Err(vec![
                InterpolationError::Unset("NOPE".to_owned()),
                InterpolationError::BadName("9x".to_owned()),
                InterpolationError::Unterminated,
            ])
        );
        assert_eq!(
            interpolate("${}", &env),
            Err(vec![InterpolationError::BadName(String::new())])
        );
    }
}
