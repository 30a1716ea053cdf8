//! A small JSON writer for the shapes Turnout sends on every request. serde's derived
//! serializers cost several times more per response (measured with callgrind); these write
//! straight into the output buffer. Raw upstream values are copied as they came.

use serde_json::value::RawValue;

/// Writes `s` as a JSON string literal.
pub fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

pub fn uint(out: &mut Vec<u8>, n: u64) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(n).as_bytes());
}

pub fn raw_or_null(out: &mut Vec<u8>, raw: Option<&RawValue>) {
    match raw {
        Some(r) => out.extend_from_slice(r.get().as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
}

pub fn str_or_null(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Writes `{` … `}` with `"key":` prefixes and commas handled.
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Object<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    /// Continues an object whose `{` and first members are already in `out`.
    pub fn resume(out: &'a mut Vec<u8>) -> Self {
        Self { out, first: false }
    }

    /// Starts a member; the caller writes its value into the returned buffer. Keys are our
    /// own constants, plain ASCII that needs no escaping, so they are copied as they are.
    pub fn key(&mut self, key: &str) -> &mut Vec<u8> {
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        string(self.key(key), value);
        self
    }

    pub fn uint(&mut self, key: &str, value: u64) -> &mut Self {
        uint(self.key(key), value);
        self
    }

    pub fn raw(&mut self, key: &str, value: &[u8]) -> &mut Self {
        self.key(key).extend_from_slice(value);
        self
    }

    pub fn end(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_serde_json() {
        for s in [
            "plain",
            "quote \" and \\ slash",
            "ctl \u{1} \n \t \r",
            "ünïcødé ✓",
            "",
        ] {
            let mut out = Vec::new();
            string(&mut out, s);
            let back: String = serde_json::from_slice(&out).expect("valid JSON");
            assert_eq!(back, s);
            assert_eq!(out, serde_json::to_vec(s).expect("serde"), "{s:?}");
        }
    }

    #[test]
    fn objects_have_commas_in_the_right_places() {
        let mut out = Vec::new();
        let mut o = Object::new(&mut out);
        o.str("a", "x").uint("b", 7).raw("c", b"[1,2]");
        o.end();
        assert_eq!(out, br#"{"a":"x","b":7,"c":[1,2]}"#);
    }
}
