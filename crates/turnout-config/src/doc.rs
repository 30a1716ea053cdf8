//! The parsed file as a span-preserving tree: field paths, lookups by path and by span, and
//! turning a span into line:column. Every later stage reports through [`Doc::problem`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use crate::error::ConfigProblem;

/// A node of the tree: a value with its byte span in the source.
pub(crate) type Node<'i> = Spanned<DeValue<'i>>;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A dotted field path such as `providers[1].timeouts.connect_ms`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(Vec<Seg>);

impl FieldPath {
    pub(crate) fn root() -> Self {
        Self(Vec::new())
    }

    pub(crate) fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_owned()));
        Self(segs)
    }

    pub(crate) fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        Self(segs)
    }

    /// This path followed by `rest`.
    pub(crate) fn join(&self, rest: &FieldPath) -> Self {
        let mut segs = self.0.clone();
        segs.extend(rest.0.iter().cloned());
        Self(segs)
    }

    pub(crate) fn segs(&self) -> &[Seg] {
        &self.0
    }

    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn parent(&self) -> Option<Self> {
        let (_, rest) = self.0.split_last()?;
        Some(Self(rest.to_vec()))
    }

    pub(crate) fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Seg::Key(key)) => Some(key),
            _ => None,
        }
    }

    /// Whether `prefix` is this path or one of its ancestors.
    pub(crate) fn starts_with(&self, prefix: &FieldPath) -> bool {
        self.0.starts_with(&prefix.0)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(index) => write!(f, "[{index}]")?,
                Seg::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare {
                        f.write_str(key)?;
                    } else {
                        write!(f, "{key:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether a span hit a key or its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hit {
    Key,
    Value,
}

/// The value at `path`, if there is one.
pub(crate) fn get<'a, 'i>(root: &'a Node<'i>, path: &FieldPath) -> Option<&'a Node<'i>> {
    let mut node = root;
    for seg in path.segs() {
        node = match (seg, node.get_ref()) {
            (Seg::Key(key), DeValue::Table(table)) => table.get(key.as_str())?,
            (Seg::Index(index), DeValue::Array(array)) => array.get(*index)?,
            _ => return None,
        };
    }
    Some(node)
}

/// The value at `path`, mutably.
pub(crate) fn get_mut<'a, 'i>(
    root: &'a mut Node<'i>,
    path: &FieldPath,
) -> Option<&'a mut Node<'i>> {
    let mut node = root;
    for seg in path.segs() {
        node = match (seg, node.get_mut()) {
            (Seg::Key(key), DeValue::Table(table)) => table.get_mut(key.as_str())?,
            (Seg::Index(index), DeValue::Array(array)) => array.get_mut(*index)?,
            _ => return None,
        };
    }
    Some(node)
}

/// Removes the key at `path` (whose last step must be a key). Returns whether it was there.
pub(crate) fn remove(root: &mut Node<'_>, path: &FieldPath) -> bool {
    let (Some(parent), Some(key)) = (path.parent(), path.last_key()) else {
        return false;
    };
    match get_mut(root, &parent).map(Spanned::get_mut) {
        Some(DeValue::Table(table)) => table.remove(key).is_some(),
        _ => false,
    }
}

/// Puts `value` at `path`: replaces the root or an array element, or inserts/replaces a table
/// key (a new key gets the value's span).
pub(crate) fn set<'i>(root: &mut Node<'i>, path: &FieldPath, value: Node<'i>) -> bool {
    let Some(parent) = path.parent() else {
        *root = value;
        return true;
    };
    let Some(node) = get_mut(root, &parent) else {
        return false;
    };
    match (path.segs().last(), node.get_mut()) {
        (Some(Seg::Key(key)), DeValue::Table(table)) => {
            let span = value.span();
            table.insert(Spanned::new(span, Cow::Owned(key.clone())), value);
            true
        }
        (Some(Seg::Index(index)), DeValue::Array(array)) => match array.get_mut(*index) {
            Some(slot) => {
                *slot = value;
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// What kind of node an error is about, when the message tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Any,
    Table,
    Array,
}

impl Want {
    fn accepts(self, value: &DeValue<'_>) -> bool {
        match self {
            Want::Any => true,
            Want::Table => matches!(value, DeValue::Table(_)),
            Want::Array => matches!(value, DeValue::Array(_)),
        }
    }
}

/// The key or value whose span is exactly `span` (the root included), else the deepest one whose
/// span contains it. Several nodes can share a span (an array of tables and its first element,
/// an implicit table and its key): then `prefer` and `want` decide, and the deepest wins a tie.
pub(crate) fn find(
    root: &Node<'_>,
    span: &Range<usize>,
    prefer: Hit,
    want: Want,
) -> Option<(FieldPath, Hit)> {
    if root.span() == *span {
        return Some((FieldPath::root(), Hit::Value));
    }
    let mut matches = Matches {
        span,
        exact: Vec::new(),
        containing: None,
    };
    walk_find(root, &FieldPath::root(), 0, &mut matches);
    let best = matches.exact.into_iter().max_by_key(|m| {
        let kind_ok = m.hit == Hit::Value && want.accepts(m.value);
        (m.hit == prefer, kind_ok, m.depth)
    });
    if let Some(best) = best {
        return Some((best.path, best.hit));
    }
    matches.containing.map(|m| (m.path, m.hit))
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer.start < outer.end
}

struct Match<'a, 'i> {
    path: FieldPath,
    hit: Hit,
    value: &'a DeValue<'i>,
    depth: usize,
}

/// What [`find`] collects: exact matches, and the deepest node containing the span.
struct Matches<'s, 'a, 'i> {
    span: &'s Range<usize>,
    exact: Vec<Match<'a, 'i>>,
    containing: Option<Match<'a, 'i>>,
}

impl<'a, 'i> Matches<'_, 'a, 'i> {
    fn consider(&mut self, found: Match<'a, 'i>, node_span: Range<usize>) {
        if node_span == *self.span {
            self.exact.push(found);
        } else if contains(&node_span, self.span)
            && self
                .containing
                .as_ref()
                .is_none_or(|best| found.depth > best.depth)
        {
            self.containing = Some(found);
        }
    }
}

fn walk_find<'a, 'i>(
    node: &'a Node<'i>,
    path: &FieldPath,
    depth: usize,
    matches: &mut Matches<'_, 'a, 'i>,
) {
    let depth = depth + 1;
    match node.get_ref() {
        DeValue::Table(table) => {
            for (key, value) in table {
                let path = path.key(key.get_ref());
                let value_ref = value.get_ref();
                let at = |hit| Match {
                    path: path.clone(),
                    hit,
                    value: value_ref,
                    depth,
                };
                matches.consider(at(Hit::Key), key.span());
                matches.consider(at(Hit::Value), value.span());
                walk_find(value, &path, depth, matches);
            }
        }
        DeValue::Array(array) => {
            for (index, value) in array.iter().enumerate() {
                let path = path.index(index);
                let found = Match {
                    path: path.clone(),
                    hit: Hit::Value,
                    value: value.get_ref(),
                    depth,
                };
                matches.consider(found, value.span());
                walk_find(value, &path, depth, matches);
            }
        }
        _ => {}
    }
}

/// The parsed file: its source (for line:column), its tree after `${ENV}` interpolation, and
/// which string values came from the environment (so their text never reaches a message).
pub(crate) struct Doc<'i> {
    pub(crate) file: &'i str,
    pub(crate) source: &'i str,
    pub(crate) root: Node<'i>,
    line_starts: Vec<usize>,
    /// Span start of an interpolated string → its text as written in the file.
    interpolated: HashMap<usize, &'i str>,
}

impl<'i> Doc<'i> {
    pub(crate) fn new(file: &'i str, source: &'i str, root: Node<'i>) -> Self {
        let line_starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            file,
            source,
            root,
            line_starts,
            interpolated: HashMap::new(),
        }
    }

    pub(crate) fn mark_interpolated(&mut self, span: &Range<usize>) {
        if let Some(raw) = self.source.get(span.clone()) {
            self.interpolated.insert(span.start, raw);
        }
    }

    /// The text as written in the file when the value at `span` came from the environment.
    pub(crate) fn raw_if_interpolated(&self, span: &Range<usize>) -> Option<&'i str> {
        self.interpolated.get(&span.start).copied()
    }

    /// 1-based line and column (in characters) of a byte offset; `None` past the end.
    pub(crate) fn line_col(&self, offset: usize) -> Option<(usize, usize)> {
        if offset > self.source.len() {
            return None;
        }
        let line = self.line_starts.partition_point(|start| *start <= offset);
        let start = self.line_starts.get(line.checked_sub(1)?).copied()?;
        let column = self
            .source
            .get(start..offset)
            .map_or(offset - start, |text| text.chars().count());
        Some((line, column + 1))
    }

    /// A problem located at `span` (no line when `span` is `None` or outside the file).
    pub(crate) fn problem(
        &self,
        field: &FieldPath,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> ConfigProblem {
        let position = span.and_then(|span| self.line_col(span.start));
        ConfigProblem {
            file: self.file.to_owned(),
            line: position.map(|(line, _)| line),
            column: position.map(|(_, column)| column),
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// Where to point for `path`: its value, else (when it is absent, e.g. a missing key) the
    /// nearest enclosing table or array that is in the file. `None` for the file as a whole.
    pub(crate) fn locate(&self, path: &FieldPath) -> Option<Range<usize>> {
        let mut path = path.clone();
        loop {
            if path.is_root() {
                return None;
            }
            if let Some(node) = get(&self.root, &path) {
                return Some(node.span());
            }
            path = path.parent()?;
        }
    }

    /// A problem about the field at `path`, located with [`Doc::locate`].
    pub(crate) fn problem_at(&self, path: &FieldPath, message: impl Into<String>) -> ConfigProblem {
        self.problem(path, self.locate(path), message)
    }

    /// Line of the field at `path`, for messages such as "first defined at line N".
    pub(crate) fn line_of(&self, path: &FieldPath) -> Option<usize> {
        self.locate(path)
            .and_then(|span| self.line_col(span.start))
            .map(|(line, _)| line)
    }

    /// `value` for a message, or the file's own text (`"${VAR}"`) when the value at `path` came
    /// from the environment.
    pub(crate) fn shown(&self, path: &FieldPath, value: &str) -> String {
        match self
            .locate(path)
            .and_then(|span| self.raw_if_interpolated(&span))
        {
            Some(raw) => raw.to_owned(),
            None => format!("`{value}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_display_dotted_with_indices() {
        let path = FieldPath::root()
            .key("providers")
            .index(1)
            .key("timeouts")
            .key("connect_ms");
        assert_eq!(path.to_string(), "providers[1].timeouts.connect_ms");
        let header = FieldPath::root().key("headers").key("X Odd.Name");
        assert_eq!(header.to_string(), "headers.\"X Odd.Name\"");
    }

    #[test]
    fn line_col_counts_characters() {
        let source = "a = 1\nbé = \"x\"\n";
        let doc = Doc::new(
            "f",
            source,
            Spanned::new(0..0, DeValue::Table(Default::default())),
        );
        assert_eq!(doc.line_col(0), Some((1, 1)));
        assert_eq!(doc.line_col(6), Some((2, 1)));
        let quote = source.find('"').unwrap_or_default();
        assert_eq!(doc.line_col(quote), Some((2, 6)));
        assert_eq!(doc.line_col(source.len()), Some((3, 1)));
        assert_eq!(doc.line_col(source.len() + 1), None);
    }
}
