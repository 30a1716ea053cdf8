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

/// The members of a JSON object as `(key, byte range of the value)` in `text`, in order, or
/// `None` when `text` is not an object.
pub fn member_spans(text: &str) -> Option<Vec<(String, std::ops::Range<usize>)>> {
    let obj: crate::chat::RawObject<'_> = serde_json::from_str(text).ok()?;
    let base = text.as_ptr() as usize;
    obj.members
        .iter()
        .map(|(k, raw)| {
            // Borrowed raw values are slices of `text`: their offset is their position.
            let start = (raw.get().as_ptr() as usize).checked_sub(base)?;
            Some((k.to_string(), start..start + raw.get().len()))
        })
        .collect()
}

/// `text` (a JSON object) with the values of the `replace` members swapped and the `remove`
/// members cut out; every other byte, whitespace included, is kept. A replaced member that is
/// missing is added first.
pub fn splice_object(text: &str, replace: &[(&str, &[u8])], remove: &[&str]) -> Option<Vec<u8>> {
    let members = member_spans(text)?;
    let open = text.find('{')?;
    let mut out = Vec::with_capacity(text.len() + 64);
    out.extend_from_slice(&text.as_bytes()[..=open]);
    let mut wrote = false;
    for (key, value) in replace {
        if !members.iter().any(|(k, _)| k == key) {
            string(&mut out, key);
            out.push(b':');
            out.extend_from_slice(value);
            wrote = true;
            if !members.is_empty() {
                out.push(b',');
            }
        }
    }
    // Each member's segment runs from the end of the previous value (its comma and
    // whitespace included) to the end of its own value.
    let mut seg_start = open + 1;
    let mut kept_any = false;
    for (key, value) in &members {
        let segment = seg_start..value.end;
        seg_start = value.end;
        if remove.contains(&key.as_str()) {
            continue;
        }
        let mut from = segment.start;
        if !kept_any && from != open + 1 {
            // The first kept member after removed ones: drop the comma that preceded it.
            from += text[from..value.start].find(',')? + 1;
        }
        kept_any = true;
        match replace.iter().find(|(k, _)| k == key) {
            Some((_, new)) => {
                out.extend_from_slice(&text.as_bytes()[from..value.start]);
                out.extend_from_slice(new);
            }
            None => out.extend_from_slice(&text.as_bytes()[from..value.end]),
        }
    }
    if wrote && !kept_any && !members.is_empty() {
        // Every original member was removed: no comma after the added ones.
        out.pop();
    }
    out.extend_from_slice(&text.as_bytes()[seg_start..]);
    Some(out)
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
    fn splicing_keeps_every_other_byte() {
        let text = "{ \"model\" : \"a\",\n  \"provider\": {\"x\": [1, 2]},\n  \"messages\":[ ] , \"k\\\"q\": 1 }";
        let out = splice_object(text, &[("model", b"\"up\"")], &["provider"]).expect("object");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "{ \"model\" : \"up\",\n  \"messages\":[ ] , \"k\\\"q\": 1 }"
        );
        // The first member removed, a missing one added.
        let out = splice_object("{\"a\":1, \"b\":2}", &[("m", b"3")], &["a"]).expect("object");
        assert_eq!(out, b"{\"m\":3, \"b\":2}");
        let out = splice_object("{\"a\":1}", &[("m", b"3")], &["a"]).expect("object");
        assert_eq!(out, b"{\"m\":3}");
        let out = splice_object("{}", &[("m", b"3")], &[]).expect("object");
        assert_eq!(out, b"{\"m\":3}");
        for text in [
            "{\"a\":1,\"b\":{\"c\":2},\"d\":[3]}",
            "{ }",
            "{\"a\":\"\\u00e9\"}",
        ] {
            for remove in [&["a"][..], &["b"], &["d"], &["a", "b", "d"], &[]] {
                let out = splice_object(text, &[], remove).expect("object");
                let v: serde_json::Value = serde_json::from_slice(&out).expect("still JSON");
                let mut want: serde_json::Value = serde_json::from_str(text).expect("json");
                for r in remove {
                    want.as_object_mut().expect("object").remove(*r);
                }
                assert_eq!(v, want, "{text} minus {remove:?}");
            }
        }
        assert!(splice_object("[1]", &[], &[]).is_none());
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
