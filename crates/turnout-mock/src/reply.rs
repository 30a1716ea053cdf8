//! What the mock reads from a chat request (cheaply: no JSON tree, strings borrowed from the
//! body) and how it renders OpenAI `chat.completion` objects and `chat.completion.chunk` events.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::config::{MockConfig, MockOverride};

/// The fields of an OpenAI chat request the mock needs; everything else is skipped unparsed.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatRequest<'a> {
    #[serde(borrow, default)]
    pub model: Option<CowStr<'a>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
    #[serde(default)]
    pub messages: Option<MessagesInfo>,
    #[serde(default)]
    pub mock: Option<MockOverride>,
    /// OpenRouter's fallback models (read on its route only).
    #[serde(borrow, default)]
    pub models: Option<Vec<CowStr<'a>>>,
    /// OpenRouter's provider preferences (read on its route only).
    #[serde(borrow, default)]
    pub provider: Option<ProviderPrefs<'a>>,
}

/// Of OpenRouter's `provider` preferences, what names a provider.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ProviderPrefs<'a> {
    #[serde(borrow, default)]
    pub order: Option<Vec<CowStr<'a>>>,
    #[serde(borrow, default)]
    pub only: Option<Vec<CowStr<'a>>>,
}

impl ChatRequest<'_> {
    pub fn model(&self) -> &str {
        self.model.as_ref().map_or("mock-model", |m| &m.0)
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    /// `max_completion_tokens`, else `max_tokens`.
    pub fn max_tokens(&self) -> Option<u64> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    pub fn prompt_tokens(&self) -> u64 {
        self.messages.map_or(0, |m| m.chars.div_ceil(4))
    }

    /// Seed for the generated reply: a hash of the last user message's text.
    pub fn seed(&self) -> u64 {
        self.messages.map_or(FNV_OFFSET, |m| m.last_user)
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// A string borrowed from the body when it has no escapes.
#[derive(Debug)]
pub(crate) struct CowStr<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// Totals over `messages`, computed while parsing (no per-message allocation).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MessagesInfo {
    /// Characters in all message contents (strings and text parts).
    pub chars: u64,
    /// Hash of the last user message's text.
    pub last_user: u64,
}

impl<'de> Deserialize<'de> for MessagesInfo {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MessagesInfo;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of messages")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut info = MessagesInfo {
                    chars: 0,
                    last_user: FNV_OFFSET,
                };
                while let Some(message) = seq.next_element::<MessageInfo<'de>>()? {
                    info.chars += message.content.chars;
                    if message.role.as_ref().is_some_and(|r| r.0 == "user") {
                        info.last_user = message.content.hash;
                    }
                }
                Ok(info)
            }
        }
        deserializer.deserialize_seq(V)
    }
}

#[derive(Debug, Deserialize)]
struct MessageInfo<'a> {
    #[serde(borrow, default)]
    role: Option<CowStr<'a>>,
    #[serde(default)]
    content: TextInfo,
}

/// Length and hash of a message content: a string, an array of parts (`{"type":"text",
/// "text":…}`; other parts count nothing), or null.
#[derive(Debug, Clone, Copy)]
struct TextInfo {
    chars: u64,
    hash: u64,
}

impl Default for TextInfo {
    fn default() -> Self {
        TextInfo {
            chars: 0,
            hash: FNV_OFFSET,
        }
    }
}

impl<'de> Deserialize<'de> for TextInfo {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TextInfo;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, an array of content parts or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TextInfo {
                    chars: v.chars().count() as u64,
                    hash: fnv1a(FNV_OFFSET, v.as_bytes()),
                })
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(TextInfo::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(TextInfo::default())
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                TextInfo::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut total = TextInfo::default();
                while let Some(part) = seq.next_element::<TextInfo>()? {
                    total.chars += part.chars;
                    total.hash = mix(total.hash ^ part.hash);
                }
                Ok(total)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut text = TextInfo::default();
                while let Some(key) = map.next_key::<CowStr<'de>>()? {
                    if key.0 == "text" {
                        text = map.next_value::<TextInfo>()?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(text)
            }
        }
        deserializer.deserialize_any(V)
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// SplitMix64's finaliser: a bijection on u64 that scatters bits well.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const VOCABULARY: [&str; 64] = [
    "the",
    "switch",
    "moves",
    "a",
    "train",
    "onto",
    "another",
    "track",
    "requests",
    "keep",
    "moving",
    "when",
    "provider",
    "fails",
    "gateway",
    "route",
    "signal",
    "station",
    "platform",
    "express",
    "local",
    "freight",
    "rails",
    "junction",
    "turnout",
    "points",
    "lever",
    "yard",
    "depot",
    "engine",
    "carriage",
    "ticket",
    "schedule",
    "arrival",
    "departure",
    "timely",
    "steady",
    "quick",
    "quiet",
    "bright",
    "north",
    "south",
    "east",
    "west",
    "mock",
    "reply",
    "token",
    "stream",
    "chunk",
    "model",
    "answer",
    "simple",
    "useful",
    "fast",
    "slow",
    "safe",
    "always",
    "often",
    "here",
    "there",
    "now",
    "then",
    "again",
    "done",
];

/// The reply content, split into stream chunks.
#[derive(Debug)]
pub(crate) struct Reply {
    pub text: String,
    /// End offsets in `text` of each content chunk; the chunks tile `text`.
    pub chunk_ends: Vec<usize>,
    pub completion_tokens: u64,
    pub finish_reason: &'static str,
}

/// The reply for a request: `config.reply` split into at most `config.chunks` chunks at word
/// boundaries, or `config.chunks` words picked deterministically from `seed`; cut to
/// `max_tokens` words (then `finish_reason` is `"length"`). A word is one completion token.
pub(crate) fn build_reply(config: &MockConfig, seed: u64, max_tokens: Option<u64>) -> Reply {
    let limit = |words: usize| {
        max_tokens.map_or(words, |m| {
            words.min(usize::try_from(m).unwrap_or(usize::MAX))
        })
    };
    match &config.reply {
        Some(fixed) => {
            let ends = word_ends(fixed);
            let kept = limit(ends.len());
            let text_end = kept.checked_sub(1).and_then(|i| ends.get(i)).copied();
            let text = fixed.get(..text_end.unwrap_or(0)).unwrap_or("").to_owned();
            let groups = config.chunks.max(1).min(kept);
            let chunk_ends = (1..=groups)
                .filter_map(|g| ends.get(g * kept / groups - 1).copied())
                .collect();
            Reply {
                text,
                chunk_ends,
                completion_tokens: kept as u64,
                finish_reason: if kept < ends.len() { "length" } else { "stop" },
            }
        }
        None => {
            let kept = limit(config.chunks);
            let mut text = String::with_capacity(kept * 8);
            let mut chunk_ends = Vec::with_capacity(kept);
            let mut state = seed;
            for i in 0..kept {
                state = mix(state);
                if i > 0 {
                    text.push(' ');
                }
                let word = VOCABULARY
                    .get((state % VOCABULARY.len() as u64) as usize)
                    .copied()
                    .unwrap_or("mock");
                text.push_str(word);
                chunk_ends.push(text.len());
            }
            Reply {
                text,
                chunk_ends,
                completion_tokens: kept as u64,
                finish_reason: if kept < config.chunks {
                    "length"
                } else {
                    "stop"
                },
            }
        }
    }
}

/// End offsets of the words of `s`; a word carries the whitespace before it, and the last word
/// the whitespace after it.
fn word_ends(s: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut in_word = false;
    for (i, c) in s.char_indices() {
        let ws = c.is_whitespace();
        if ws && in_word {
            ends.push(i);
        }
        in_word = !ws;
    }
    if in_word {
        ends.push(s.len());
    } else if let Some(last) = ends.last_mut() {
        *last = s.len();
    }
    ends
}

/// What every rendered object shares.
pub(crate) struct Meta<'a> {
    pub id: u64,
    pub created: u64,
    pub model: &'a str,
    pub fingerprint_json: &'a str,
    pub prompt_tokens: u64,
    pub extras: Extras<'a>,
}

/// What an OpenAI-compatible API other than OpenAI's adds to the same objects.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Extras<'a> {
    /// Members (each after a comma) of every completion and chunk: OpenRouter's `provider`.
    pub members: &'a str,
    /// Members (each after a comma) of a non-streamed completion only: Azure's
    /// `prompt_filter_results`.
    pub completion_members: &'a str,
    /// SSE text before the first chunk: Azure's prompt-filter chunk, OpenRouter's keep-alive.
    pub preamble: &'a str,
    /// Whether usage says what the request cost (OpenRouter's `usage.cost`).
    pub cost: bool,
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // `i` is an ASCII byte, hence a char boundary.
        out.push_str(s.get(start..i).unwrap_or(""));
        if escaped.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escaped);
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or(""));
    out.push('"');
}

fn push_usage(out: &mut String, prompt: u64, completion: u64, cost: bool) {
    let _ = write!(
        out,
        "{{\"prompt_tokens\":{prompt},\"completion_tokens\":{completion},\"total_tokens\":{},\
         \"prompt_tokens_details\":{{\"cached_tokens\":0,\"audio_tokens\":0}},\
         \"completion_tokens_details\":{{\"reasoning_tokens\":0,\"audio_tokens\":0,\
         \"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}",
        prompt + completion
    );
    if cost {
        out.push_str(",\"cost\":");
        push_cost(out, prompt, completion);
    }
    out.push('}');
}

/// What a mock request costs upstream: $1 per million prompt tokens, $2 per million
/// completion tokens, written as an exact decimal (nanodollars).
fn push_cost(out: &mut String, prompt: u64, completion: u64) {
    let nanos = prompt * 1_000 + completion * 2_000;
    let _ = write!(
        out,
        "{}.{:09}",
        nanos / 1_000_000_000,
        nanos % 1_000_000_000
    );
}

fn push_id(out: &mut String, id: u64) {
    let _ = write!(out, "\"chatcmpl-mock{id:016x}\"");
}

/// A `chat.completion` object.
pub(crate) fn render_completion(meta: &Meta<'_>, reply: &Reply) -> Bytes {
    let mut out = String::with_capacity(560 + reply.text.len() + meta.model.len());
    out.push_str("{\"id\":");
    push_id(&mut out, meta.id);
    let _ = write!(
        out,
        ",\"object\":\"chat.completion\",\"created\":{},\"model\":",
        meta.created
    );
    push_json_str(&mut out, meta.model);
    out.push_str(meta.extras.members);
    out.push_str(",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    push_json_str(&mut out, &reply.text);
    out.push_str(",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"");
    out.push_str(reply.finish_reason);
    out.push_str("\"}],\"usage\":");
    push_usage(
        &mut out,
        meta.prompt_tokens,
        reply.completion_tokens,
        meta.extras.cost,
    );
    out.push_str(",\"service_tier\":\"default\",\"system_fingerprint\":");
    out.push_str(meta.fingerprint_json);
    out.push_str(meta.extras.completion_members);
    out.push('}');
    Bytes::from(out)
}

/// A whole SSE stream rendered into one buffer, with the end offset of each event:
/// `[0]` role chunk, `[1..=content]` content chunks, then the finish chunk, the usage chunk
/// (only with `include_usage`) and `data: [DONE]`.
pub(crate) struct RenderedStream {
    pub buf: Bytes,
    pub ends: Vec<usize>,
    pub content: usize,
}

pub(crate) fn render_stream(meta: &Meta<'_>, reply: &Reply, include_usage: bool) -> RenderedStream {
    let mut head = String::with_capacity(160 + meta.model.len());
    head.push_str("data: {\"id\":");
    push_id(&mut head, meta.id);
    let _ = write!(
        head,
        ",\"object\":\"chat.completion.chunk\",\"created\":{},\"model\":",
        meta.created
    );
    push_json_str(&mut head, meta.model);
    head.push_str(meta.extras.members);
    head.push_str(",\"service_tier\":\"default\",\"system_fingerprint\":");
    head.push_str(meta.fingerprint_json);
    head.push_str(",\"choices\":[");
    let tail = if include_usage {
        "],\"usage\":null}\n\n"
    } else {
        "]}\n\n"
    };

    let n = reply.chunk_ends.len();
    let per_event = head.len() + tail.len() + 80;
    let mut out = String::with_capacity(per_event * (n + 3) + reply.text.len() * 2 + 320);
    let mut ends = Vec::with_capacity(n + 4);

    // Part of the first event: what precedes the content.
    out.push_str(meta.extras.preamble);
    out.push_str(&head);
    out.push_str(
        "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\
         \"logprobs\":null,\"finish_reason\":null}",
    );
    out.push_str(tail);
    ends.push(out.len());

    let mut start = 0;
    for &end in &reply.chunk_ends {
        out.push_str(&head);
        out.push_str("{\"index\":0,\"delta\":{\"content\":");
        push_json_str(&mut out, reply.text.get(start..end).unwrap_or(""));
        out.push_str("},\"logprobs\":null,\"finish_reason\":null}");
        out.push_str(tail);
        ends.push(out.len());
        start = end;
    }

    out.push_str(&head);
    out.push_str("{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"");
    out.push_str(reply.finish_reason);
    out.push_str("\"}");
    out.push_str(tail);
    ends.push(out.len());

    if include_usage {
        out.push_str(&head);
        out.push_str("],\"usage\":");
        push_usage(
            &mut out,
            meta.prompt_tokens,
            reply.completion_tokens,
            meta.extras.cost,
        );
        out.push_str("}\n\n");
        ends.push(out.len());
    }

    out.push_str("data: [DONE]\n\n");
    ends.push(out.len());

    RenderedStream {
        buf: Bytes::from(out),
        ends,
        content: n,
    }
}

/// A non-stream body that is not JSON (cut mid-object).
pub(crate) const MALFORMED_BODY: &str = "{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assist";

/// A stream whose first event is not JSON, then `[DONE]`.
pub(crate) const MALFORMED_STREAM: &str = "data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"mal\n\ndata: [DONE]\n\n";

/// The stream of an empty answer.
pub(crate) const EMPTY_STREAM: &str = "data: [DONE]\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> ChatRequest<'_> {
        serde_json::from_str(body).unwrap()
    }

    #[test]
    fn reads_what_it_needs() {
        let r = parse(
            r#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},
                "messages":[{"role":"system","content":"Be brief."},
                            {"role":"user","content":[{"type":"text","text":"Hi \"you\""},{"type":"image_url","image_url":{"url":"x"}}]}],
                "tools":[{"type":"function"}],"max_tokens":null,"temperature":0.2}"#,
        );
        assert_eq!(r.model(), "gpt-4o");
        assert!(matches!(
            r.model.as_ref().map(|m| &m.0),
            Some(Cow::Borrowed(_))
        ));
        assert_eq!(r.stream, Some(true));
        assert!(r.include_usage());
        assert_eq!(r.max_tokens(), None);
        // "Be brief." = 9 chars, "Hi \"you\"" = 8 chars → 17 → 5 tokens.
        assert_eq!(r.prompt_tokens(), 5);
    }

    #[test]
    fn seed_follows_last_user_message() {
        let a = parse(
            r#"{"messages":[{"role":"user","content":"one"},{"role":"assistant","content":"x"}]}"#,
        );
        let b = parse(r#"{"messages":[{"content":"one","role":"user"}]}"#);
        let c = parse(r#"{"messages":[{"role":"user","content":"two"}]}"#);
        assert_eq!(a.seed(), b.seed());
        assert_ne!(a.seed(), c.seed());
        assert!(serde_json::from_str::<ChatRequest<'_>>(r#"{"messages":3}"#).is_err());
        assert!(serde_json::from_str::<ChatRequest<'_>>(r#"{"model":"x"} x"#).is_err());
    }

    #[test]
    fn generated_reply_has_chunks_words() {
        let config = MockConfig::default();
        let r = build_reply(&config, 1, None);
        assert_eq!(r.chunk_ends.len(), 8);
        assert_eq!(r.text.split(' ').count(), 8);
        assert_eq!(r.completion_tokens, 8);
        assert_eq!(r.finish_reason, "stop");
        let again = build_reply(&config, 1, None);
        assert_eq!(r.text, again.text);
        let cut = build_reply(&config, 1, Some(3));
        assert_eq!(cut.chunk_ends.len(), 3);
        assert_eq!(cut.finish_reason, "length");
        assert!(r.text.starts_with(&cut.text));
    }

    #[test]
    fn fixed_reply_is_grouped_by_words() {
        let config = MockConfig {
            reply: Some("Hello there, how are you?".into()),
            chunks: 2,
            ..MockConfig::default()
        };
        let r = build_reply(&config, 0, None);
        assert_eq!(r.text, "Hello there, how are you?");
        assert_eq!(r.completion_tokens, 5);
        assert_eq!(r.chunk_ends, vec![12, 25]);
        let cut = build_reply(&config, 0, Some(2));
        assert_eq!(cut.text, "Hello there,");
        assert_eq!(cut.finish_reason, "length");
        assert_eq!(cut.chunk_ends, vec![5, 12]);
        let one = MockConfig {
            reply: Some(String::new()),
            ..MockConfig::default()
        };
        let r = build_reply(&one, 0, None);
        assert_eq!((r.text.as_str(), r.chunk_ends.len()), ("", 0));
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        push_json_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
        assert_eq!(
            serde_json::from_str::<String>(&s).unwrap(),
            "a\"b\\c\nd\u{1}é"
        );
    }

    #[test]
    fn rendered_objects_are_valid_json() {
        let meta = Meta {
            id: 7,
            created: 1,
            model: "m\"x",
            fingerprint_json: "\"mock\"",
            prompt_tokens: 3,
            extras: Extras::default(),
        };
        let config = MockConfig {
            reply: Some("a \"quoted\"\nline".into()),
            ..MockConfig::default()
        };
        let reply = build_reply(&config, 0, None);
        let v: serde_json::Value =
            serde_json::from_slice(&render_completion(&meta, &reply)).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "a \"quoted\"\nline");
        assert_eq!(v["usage"]["total_tokens"], 6);
        assert_eq!(v["model"], "m\"x");

        let s = render_stream(&meta, &reply, true);
        assert_eq!(s.ends.len(), 1 + s.content + 3);
        assert_eq!(*s.ends.last().unwrap(), s.buf.len());
        let text = std::str::from_utf8(&s.buf).unwrap();
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), s.ends.len());
        for e in &events[..events.len() - 1] {
            let v: serde_json::Value =
                serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(v["object"], "chat.completion.chunk");
        }
    }
}
