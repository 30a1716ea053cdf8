//! Typing the tree into [`Config`] with serde, collecting *every* error rather than the first.
//!
//! serde stops at the first error, so this runs it in a loop over a working copy of the tree:
//! each error is reported (its span gives the field path and line), then neutralised and the
//! copy typed again. An unknown key is removed. A bad value is replaced by a placeholder of a
//! type that serde accepts there, found by trying a few (string, integer, table, …, plus the
//! words an "expected one of" message lists); a missing key gets such a placeholder too.
//! Placeholders carry spans past the end of the file, so errors inside them are recognised as
//! ours and never reported. The schema stays in the serde derives of `types.rs`; the only
//! knowledge here is that `providers` and `models` are the long arrays, whose elements are typed
//! one by one so that a file with many errors costs no more than linear time.

use std::collections::VecDeque;
use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeArray, DeFloat, DeInteger, DeTable, DeValue, ValueDeserializer};

use crate::doc::{Doc, FieldPath, Hit, Node, Want, find, get, remove, set};
use crate::error::ConfigProblem;
use crate::strict::Strict;
use crate::types::{Config, ModelConfig, ProviderConfig};

/// How deep placeholders may nest (a placeholder table needing a placeholder key, …).
const MAX_FIX_DEPTH: usize = 8;
/// An upper bound on serde runs for one file, so a pathological file cannot spin.
const MAX_ATTEMPTS: usize = 20_000;

/// Types `doc` into a [`Config`]. Every serde problem goes to `problems`; the path of every
/// field whose value was wrong or missing goes to `tainted`, so the semantic checks do not
/// complain about placeholders. `None` when the file could not be typed even with placeholders
/// (its problems are reported all the same).
pub(crate) fn type_config(
    doc: &Doc<'_>,
    problems: &mut Vec<ConfigProblem>,
    tainted: &mut Vec<FieldPath>,
) -> Option<Config> {
    let mut typer = Typer {
        doc,
        problems,
        tainted,
        ctx: Ctx {
            next_sentinel: doc.source.len() + 1,
            attempts_left: MAX_ATTEMPTS,
        },
    };
    let mut shell = doc.root.clone();
    let providers = take_array(&mut shell, "providers");
    let models = take_array(&mut shell, "models");
    let config: Option<Config> = typer.collect(shell, &FieldPath::root());
    let providers: Option<Vec<ProviderConfig>> = typer.collect_each(providers, "providers");
    let models: Option<Vec<ModelConfig>> = typer.collect_each(models, "models");
    let mut config = config?;
    config.providers = providers?;
    config.models = models?;
    Some(config)
}

/// Swaps the array at the top-level `key` for an empty one and returns its elements; `None`
/// (and the tree untouched) when there is no such array.
fn take_array<'i>(root: &mut Node<'i>, key: &str) -> Option<Vec<Node<'i>>> {
    let DeValue::Table(table) = root.get_mut() else {
        return None;
    };
    let DeValue::Array(array) = table.get_mut(key)?.get_mut() else {
        return None;
    };
    Some(
        std::mem::replace(array, DeArray::new())
            .into_iter()
            .collect(),
    )
}

struct Typer<'a, 'i> {
    doc: &'a Doc<'i>,
    problems: &'a mut Vec<ConfigProblem>,
    tainted: &'a mut Vec<FieldPath>,
    ctx: Ctx,
}

impl<'i> Typer<'_, 'i> {
    /// Types each element of a top-level array taken out by [`take_array`]. `Some(empty)` when
    /// there was no array (the shell then holds whatever was there and reports it).
    fn collect_each<T: DeserializeOwned>(
        &mut self,
        elements: Option<Vec<Node<'i>>>,
        key: &str,
    ) -> Option<Vec<T>> {
        let Some(elements) = elements else {
            return Some(Vec::new());
        };
        let base = FieldPath::root().key(key);
        let typed: Vec<Option<T>> = elements
            .into_iter()
            .enumerate()
            .map(|(i, element)| self.collect(element, &base.index(i)))
            .collect();
        typed.into_iter().collect()
    }

    /// Types `tree`, which sits at `at` in the file, reporting every problem (see the module
    /// docs).
    fn collect<T: DeserializeOwned>(&mut self, mut work: Node<'i>, at: &FieldPath) -> Option<T> {
        let first_sentinel = self.doc.source.len() + 1;
        let mut previous: Option<toml::de::Error> = None;
        loop {
            let error = match self.ctx.attempt::<T>(&work)? {
                Ok(value) => return Some(value),
                Err(error) => error,
            };
            if previous.as_ref() == Some(&error) {
                // The last fix did not take: stop rather than report the same thing again.
                return None;
            }
            let Some(span) = error.span() else {
                let problem = self.doc.problem(at, None, humanize(error.message()));
                self.problems.push(problem);
                return None;
            };
            if span.start >= first_sentinel {
                // An accepted placeholder failing later: nothing in the file to point at.
                return None;
            }
            let kind = classify(error.message());
            let (prefer, want) = match kind {
                Kind::Unknown => (Hit::Key, Want::Any),
                Kind::Missing(_) => (Hit::Value, Want::Table),
                Kind::Other => (Hit::Value, want_of(error.message())),
            };
            let Some((local, hit)) = find(&work, &span, prefer, want) else {
                let problem = self.doc.problem(at, Some(span), humanize(error.message()));
                self.problems.push(problem);
                return None;
            };
            let path = at.join(&local);
            let message = redact(self.doc, &path, &span, humanize(error.message()));
            let fixed = match kind {
                Kind::Unknown => {
                    self.problems
                        .push(self.doc.problem(&path, Some(span), message));
                    remove(&mut work, &local)
                }
                Kind::Missing(name) => {
                    let field = path.key(name);
                    // A key missing at the top level has no line to point at.
                    let line = (!path.is_root()).then_some(span);
                    self.problems.push(self.doc.problem(&field, line, message));
                    self.tainted.push(field);
                    fix::<T>(&mut self.ctx, &mut work, &local.key(name), None, 0)
                }
                Kind::Other => {
                    self.problems
                        .push(self.doc.problem(&path, Some(span), message));
                    self.tainted.push(path);
                    match hit {
                        Hit::Key => remove(&mut work, &local),
                        Hit::Value => fix::<T>(&mut self.ctx, &mut work, &local, Some(&error), 0),
                    }
                }
            };
            if !fixed {
                return None;
            }
            previous = Some(error);
        }
    }
}

struct Ctx {
    next_sentinel: usize,
    attempts_left: usize,
}

impl Ctx {
    /// A fresh span past the end of the file, for a placeholder.
    fn sentinel(&mut self) -> Range<usize> {
        let start = self.next_sentinel;
        self.next_sentinel += 1;
        start..start + 1
    }

    /// One serde run over a copy of `tree`; `None` once the attempt budget is spent.
    fn attempt<T: DeserializeOwned>(
        &mut self,
        tree: &Node<'_>,
    ) -> Option<Result<T, toml::de::Error>> {
        self.attempts_left = self.attempts_left.checked_sub(1)?;
        Some(T::deserialize(Strict(ValueDeserializer::from(
            tree.clone(),
        ))))
    }
}

/// What serde said, as far as neutralising goes.
enum Kind<'m> {
    Unknown,
    Missing(&'m str),
    Other,
}

fn classify(message: &str) -> Kind<'_> {
    if message.starts_with("unknown field `") {
        Kind::Unknown
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        Kind::Missing(rest.split('`').next().unwrap_or(rest))
    } else {
        Kind::Other
    }
}

/// Which node a type error is about, when nodes share a span: "invalid type: sequence, …" is
/// about an array (of tables) rather than its first element.
fn want_of(message: &str) -> Want {
    if message.starts_with("invalid type: sequence") {
        Want::Array
    } else if message.starts_with("invalid type: map") {
        Want::Table
    } else {
        Want::Any
    }
}

fn placeholders() -> VecDeque<DeValue<'static>> {
    VecDeque::from([
        DeValue::String("".into()),
        DeValue::Integer(DeInteger::default()),
        DeValue::Boolean(false),
        DeValue::Table(DeTable::new()),
        DeValue::Array(DeArray::new()),
        DeValue::Float(DeFloat::default()),
    ])
}

/// Puts at `path` a placeholder that serde accepts there (see the module docs). `original` is
/// the error being fixed, when replacing a value: seeing it again means the placeholder did not
/// help. On success `tree` holds the fix; on failure it is untouched.
fn fix<T: DeserializeOwned>(
    ctx: &mut Ctx,
    tree: &mut Node<'_>,
    path: &FieldPath,
    original: Option<&toml::de::Error>,
    depth: usize,
) -> bool {
    if depth > MAX_FIX_DEPTH {
        return false;
    }
    let mut queue = placeholders();
    let mut words_tried: Vec<String> = Vec::new();
    while let Some(value) = queue.pop_front() {
        let first_sentinel = ctx.next_sentinel;
        let own_span = ctx.sentinel();
        let mut trial = tree.clone();
        if !set(&mut trial, path, Spanned::new(own_span.clone(), value)) {
            return false;
        }
        loop {
            let error = match ctx.attempt::<T>(&trial) {
                None => return false,
                Some(Ok(_)) => {
                    *tree = trial;
                    return true;
                }
                Some(Err(error)) => error,
            };
            if original == Some(&error) {
                break;
            }
            let Some(span) = error.span() else {
                break;
            };
            if span.start < first_sentinel {
                // The next error is elsewhere in the file: this placeholder passed.
                *tree = trial;
                return true;
            }
            // The error is inside this placeholder: complete a placeholder table, or learn the
            // accepted words from the message and move on to the next placeholder.
            if let Kind::Missing(name) = classify(error.message()) {
                if let Some((table, Hit::Value)) = find(&trial, &span, Hit::Value, Want::Table)
                    && fix::<T>(ctx, &mut trial, &table.key(name), None, depth + 1)
                {
                    continue;
                }
            } else if span == own_span {
                for word in expected_words(error.message()) {
                    if !words_tried.contains(&word) {
                        queue.push_back(DeValue::String(word.clone().into()));
                        words_tried.push(word);
                    }
                }
            }
            break;
        }
    }
    false
}

/// The backquoted words after "expected" (`unknown variant ``, expected one of `a`, `b``).
fn expected_words(message: &str) -> Vec<String> {
    let Some(at) = message.find("expected") else {
        return Vec::new();
    };
    message[at..]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// serde's wording, in the words of a config file.
pub(crate) fn humanize(message: &str) -> String {
    let mut text = if let Some(rest) = message.strip_prefix("unknown field ") {
        format!("unknown key {rest}")
    } else if message.starts_with("missing field ") {
        "required key is missing".to_owned()
    } else if let Some(rest) = message.strip_prefix("invalid type: ") {
        format!("wrong type: found {rest}")
    } else if let Some(rest) = message.strip_prefix("unknown variant ") {
        format!("unknown value {rest}")
    } else if message == "wanted string or table" {
        // toml's words for a non-string where one of a fixed set of strings belongs.
        "wrong type: expected a string".to_owned()
    } else {
        message.to_owned()
    };
    if let Some(at) = text.find(", expected struct ") {
        text.truncate(at);
        text.push_str(", expected a table");
    }
    for (from, to) in [
        (", expected u64", ", expected a non-negative integer"),
        (", expected usize", ", expected a non-negative integer"),
        (", expected u32", ", expected a non-negative integer"),
        (", expected f64", ", expected a number"),
        (", expected a sequence", ", expected an array"),
        (", expected a map", ", expected a table"),
    ] {
        if let Some(stem) = text.strip_suffix(from) {
            text = format!("{stem}{to}");
        }
    }
    text
}

/// Keeps a value that came from the environment out of a message: serde quotes the offending
/// string, so put the file's own text (`"${VAR}"`) in its place.
fn redact(doc: &Doc<'_>, path: &FieldPath, span: &Range<usize>, message: String) -> String {
    let Some(raw) = doc.raw_if_interpolated(span) else {
        return message;
    };
    let Some(DeValue::String(value)) = get(&doc.root, path).map(Spanned::get_ref) else {
        return message;
    };
    if value.is_empty() {
        return message;
    }
    message
        .replace(&format!("{value:?}"), raw)
        .replace(value.as_ref(), raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_after_expected() {
        assert_eq!(
            expected_words("unknown variant ``, expected one of `openai`, `azure`"),
            vec!["openai".to_owned(), "azure".to_owned()]
        );
        assert_eq!(
            expected_words("unknown variant `x`, expected `allow` or `deny`"),
            vec!["allow".to_owned(), "deny".to_owned()]
        );
        assert!(expected_words("invalid type: string \"\", expected u64").is_empty());
    }

    #[test]
    fn messages_read_as_config_words() {
        assert_eq!(
            humanize("invalid type: string \"x\", expected u64"),
            "wrong type: found string \"x\", expected a non-negative integer"
        );
        assert_eq!(
            humanize("invalid type: integer `1`, expected struct ProviderConfig"),
            "wrong type: found integer `1`, expected a table"
        );
        assert_eq!(
            humanize("unknown field `bogus`, expected `a` or `b`"),
            "unknown key `bogus`, expected `a` or `b`"
        );
        assert_eq!(humanize("missing field `kind`"), "required key is missing");
    }
}
