//! Server-sent events: an incremental decoder for upstream streams and the encoder for ours.
//!
//! The decoder follows the WHATWG event-stream rules that matter for LLM APIs: lines end in
//! `\n`, `\r\n` or `\r`; `data:` lines of one event are joined with `\n`; a blank line
//! dispatches; lines starting with `:` are comments; one optional space after the colon is
//! dropped. It never allocates per byte and tolerates any split of the input.

use bytes::Bytes;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when present (Anthropic uses it; OpenAI does not).
    pub event: Option<String>,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed as complete lines.
    pos: usize,
    event: Option<String>,
    data: String,
    has_data: bool,
    /// The previous chunk ended in `\r`: a leading `\n` of the next chunk belongs to it.
    skip_lf: bool,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; call [`SseDecoder::next_event`] until it returns `None` afterwards.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 4096 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete event, if the buffered input holds one.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            if self.skip_lf && self.pos < self.buf.len() {
                if self.buf[self.pos] == b'\n' {
                    self.pos += 1;
                }
                self.skip_lf = false;
            }
            let start = self.pos;
            let end = find_eol(&self.buf[start..])?;
            let line_end = start + end;
            let mut next = line_end + 1;
            if self.buf[line_end] == b'\r' {
                match self.buf.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            self.pos = next;
            if self.process_line(start, line_end)
                && let Some(event) = self.dispatch()
            {
                return Some(event);
            }
        }
    }

    /// Ends the input: a final event without its blank line is still dispatched.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if let Some(event) = self.next_event() {
            return Some(event);
        }
        if self.pos < self.buf.len() {
            let (start, end) = (self.pos, self.buf.len());
            self.pos = end;
            if self.process_line(start, end)
                && let Some(event) = self.dispatch()
            {
                return Some(event);
            }
        }
        self.dispatch()
    }

    /// Applies the line `buf[start..end]`; true when it is blank (the event is complete).
    /// Works on the bytes in place: ':' is ASCII, so splitting before the lossy UTF-8
    /// conversion gives what converting the whole line first would, without a copy per line.
    fn process_line(&mut self, start: usize, end: usize) -> bool {
        let line = &self.buf[start..end];
        if line.is_empty() {
            return true;
        }
        if line[0] == b':' {
            return false;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                // `from_utf8` first: its ASCII fast path is several times quicker than the
                // lossy decoder, which only malformed input needs.
                match std::str::from_utf8(value) {
                    Ok(text) => self.data.push_str(text),
                    Err(_) => self.data.push_str(&String::from_utf8_lossy(value)),
                }
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
        false
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
        })
    }
}

/// Index of the first `\n` or `\r`, eight bytes at a time: data lines are long and this scan
/// runs over every byte of every upstream stream.
fn find_eol(bytes: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        if has_zero(x ^ (LO * u64::from(b'\n'))) | has_zero(x ^ (LO * u64::from(b'\r'))) != 0 {
            break;
        }
        offset += 8;
    }
    bytes[offset..]
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map(|i| offset + i)
}

/// `data: <payload>\n\n`.
pub fn encode_data(payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

pub const DONE: &[u8] = b"data: [DONE]\n\n";
pub const PROCESSING: &[u8] = b": OPENROUTER PROCESSING\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.push(c);
            while let Some(e) = d.next_event() {
                out.push(e);
            }
        }
        while let Some(e) = d.finish() {
            out.push(e);
        }
        out
    }

    fn data(s: &str) -> SseEvent {
        SseEvent {
            event: None,
            data: s.to_owned(),
        }
    }

    #[test]
    fn decodes_openai_style_events_and_skips_comments() {
        let got = decode_all(&[b": OPENROUTER PROCESSING\n\ndata: {\"a\":1}\n\ndata: [DONE]\n\n"]);
        assert_eq!(got, vec![data("{\"a\":1}"), data("[DONE]")]);
    }

    #[test]
    fn handles_crlf_cr_and_multiline_data() {
        let got = decode_all(&[b"event: x\r\ndata: one\r\ndata:two\r\r\ndata: three\r\n\r\n"]);
        assert_eq!(
            got,
            vec![
                SseEvent {
                    event: Some("x".into()),
                    data: "one\ntwo".into()
                },
                data("three")
            ]
        );
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let input: &[u8] = b"data: {\"x\":\"h\xc3\xa9\"}\r\n\r\n: c\n\nevent: e\ndata: a\ndata: b\n\ndata: [DONE]\n\n";
        let whole = decode_all(&[input]);
        for i in 0..input.len() {
            for j in i..input.len() {
                let got = decode_all(&[&input[..i], &input[i..j], &input[j..]]);
                assert_eq!(got, whole, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn a_final_event_without_blank_line_is_dispatched_on_finish() {
        assert_eq!(decode_all(&[b"data: tail"]), vec![data("tail")]);
        assert_eq!(decode_all(&[b"data: tail\r"]), vec![data("tail")]);
    }

    #[test]
    fn real_openai_fixture_decodes_to_json_chunks_then_done() {
        let fixture = include_bytes!(
            "../../../../shared/fixtures/openai/openai-python__stream_text_with_usage__test_parse_nothing.sse"
        );
        let events = decode_all(&[fixture]);
        let (last, chunks) = events.split_last().expect("events");
        assert_eq!(last.data, "[DONE]");
        for e in chunks {
            let v: serde_json::Value = serde_json::from_str(&e.data).expect("json chunk");
            assert_eq!(v["object"], "chat.completion.chunk");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_any_split_never_panic_and_agree(input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400), cut in 0usize..400) {
            let cut = cut.min(input.len());
            let whole = decode_all(&[&input]);
            let split = decode_all(&[&input[..cut], &input[cut..]]);
            proptest::prop_assert_eq!(whole, split);
        }

        #[test]
        fn find_eol_agrees_with_a_plain_scan(input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let plain = input.iter().position(|&b| b == b'\n' || b == b'\r');
            proptest::prop_assert_eq!(super::find_eol(&input), plain);
        }
    }
}
