//! Text log fields as tracing-subscriber writes them (`message key="text" n=1`), without
//! `Debug`-escaping every string character by character: a string that needs no escaping —
//! nearly all of them — is written as it is, between quotes. The per-request log line carries
//! a dozen fields; the default formatter's per-character escaping was most of its cost.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::Writer;

/// `FormatFields` for the text log format.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastFields;

pub struct FastVisitor<'a> {
    writer: Writer<'a>,
    is_empty: bool,
    result: fmt::Result,
}

impl<'a> MakeVisitor<Writer<'a>> for FastFields {
    type Visitor = FastVisitor<'a>;

    fn make_visitor(&self, writer: Writer<'a>) -> Self::Visitor {
        FastVisitor {
            writer,
            is_empty: true,
            result: Ok(()),
        }
    }
}

/// Writes through, escaping the characters terminals act on, as the default formatter does
/// for messages (so a logged text cannot drive the operator's terminal).
struct Sanitizing<'w, 'a>(&'w mut Writer<'a>);

impl fmt::Write for Sanitizing<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let risky = |c: char| {
            matches!(
                c,
                '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}'
            )
        };
        if !s.chars().any(risky) {
            return self.0.write_str(s);
        }
        for c in s.chars() {
            match c {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                '\u{80}'..='\u{9f}' => write!(self.0, "\\u{{{:x}}}", c as u32)?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// Whether `s` is written the same quoted by `{:?}` as between plain quotes.
fn plain(s: &str) -> bool {
    s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b != 0x7f)
}

impl FastVisitor<'_> {
    fn pad(&mut self) -> fmt::Result {
        if self.is_empty {
            self.is_empty = false;
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }

    fn key(&mut self, field: &Field) -> fmt::Result {
        self.pad()?;
        let name = field.name();
        self.writer
            .write_str(name.strip_prefix("r#").unwrap_or(name))?;
        self.writer.write_char('=')
    }
}

impl Visit for FastVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        self.result = if field.name() == "message" {
            self.pad()
                .and_then(|()| Sanitizing(&mut self.writer).write_str(value))
        } else if plain(value) {
            self.key(field).and_then(|()| {
                self.writer.write_char('"')?;
                self.writer.write_str(value)?;
                self.writer.write_char('"')
            })
        } else {
            self.key(field)
                .and_then(|()| write!(self.writer, "{value:?}"))
        };
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.result.is_err() {
            return;
        }
        self.result = self
            .key(field)
            .and_then(|()| write!(self.writer, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.result.is_err() {
            return;
        }
        self.result = self
            .key(field)
            .and_then(|()| write!(self.writer, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.result.is_err() {
            return;
        }
        self.result = self
            .key(field)
            .and_then(|()| self.writer.write_str(if value { "true" } else { "false" }));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        self.result = if field.name() == "message" {
            self.pad()
                .and_then(|()| write!(Sanitizing(&mut self.writer), "{value:?}"))
        } else {
            self.key(field)
                .and_then(|()| write!(self.writer, "{value:?}"))
        };
    }
}

impl VisitOutput<fmt::Result> for FastVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for FastVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tracing_subscriber::fmt::format::DefaultFields;

    /// Formats one event's fields with `F`.
    fn line<F>(fields: F, emit: impl FnOnce()) -> String
    where
        F: for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static,
    {
        #[derive(Clone, Default)]
        struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .without_time()
            .with_target(false)
            .with_level(false)
            .fmt_fields(fields)
            .with_writer(move || buf.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn writes_what_the_default_formatter_writes() {
        let emit = || {
            let span = tracing::info_span!("chat", generation_id = %"gen-1-abc");
            let _g = span.enter();
            tracing::info!(
                model = "openai/gpt-4o",
                provider = "Bench \"Mock\"",
                note = "tab\there",
                stream = false,
                status = 200u16,
                delta = -3i64,
                ttft_ms = Some(12u64),
                cost = None::<String>,
                r#type = "x",
                "request"
            );
            tracing::warn!("plain message");
            tracing::warn!("escaped\u{1b}[31m \u{85}message {}", "\u{7}x");
            tracing::warn!(message = "as a field\u{1b}", n = 1);
        };
        let ours = line(FastFields, emit);
        let theirs = line(DefaultFields::new(), emit);
        assert_eq!(ours, theirs);
        assert!(
            ours.contains(r#"model="openai/gpt-4o" provider="Bench \"Mock\"""#),
            "{ours}"
        );
    }
}
