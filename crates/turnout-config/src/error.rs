//! What `load_*` hands back when a file is wrong: every problem, each with file:line:col and field.

use std::fmt;

/// One thing wrong with a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file name as given to the loader.
    pub file: String,
    /// 1-based line of the offending key or value, when known.
    pub line: Option<usize>,
    /// 1-based column (in characters) of the offending key or value, when known.
    pub column: Option<usize>,
    /// Dotted path of the field, e.g. `providers[1].timeouts.connect_ms`; empty when the problem
    /// is not about one field (unreadable file, TOML syntax).
    pub field: String,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    /// `FILE:LINE:COL: FIELD: MESSAGE`, leaving out the parts that are unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a configuration file (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Lines(&self.problems))]
pub struct ConfigErrors {
    /// In file order; problems without a line (a missing top-level key, an unreadable file)
    /// come first.
    pub problems: Vec<ConfigProblem>,
}

impl ConfigErrors {
    /// The problems, in file order.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }

    /// How many problems there are.
    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// Whether there are none (never the case for an error returned by a loader).
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigProblem;
    type IntoIter = std::vec::IntoIter<ConfigProblem>;

    fn into_iter(self) -> Self::IntoIter {
        self.problems.into_iter()
    }
}

/// One problem per line.
struct Lines<'a>(&'a [ConfigProblem]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(line: Option<usize>, column: Option<usize>, field: &str) -> ConfigProblem {
        ConfigProblem {
            file: "t.toml".to_owned(),
            line,
            column,
            field: field.to_owned(),
            message: "bad".to_owned(),
        }
    }

    #[test]
    fn display_omits_unknown_parts() {
        assert_eq!(
            problem(Some(3), Some(7), "a.b").to_string(),
            "t.toml:3:7: a.b: bad"
        );
        assert_eq!(
            problem(Some(3), None, "a.b").to_string(),
            "t.toml:3: a.b: bad"
        );
        assert_eq!(problem(None, None, "a.b").to_string(), "t.toml: a.b: bad");
        assert_eq!(problem(None, None, "").to_string(), "t.toml: bad");
        let errors = ConfigErrors {
            problems: vec![
                problem(Some(1), Some(1), "x"),
                problem(Some(2), Some(3), "y"),
            ],
        };
        assert_eq!(errors.to_string(), "t.toml:1:1: x: bad\nt.toml:2:3: y: bad");
    }
}
