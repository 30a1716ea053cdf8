//! Chat Completions in the OpenRouter dialect: the request as raw members (so unknown fields
//! pass through untouched), borrowed views of OpenAI-compatible upstream replies, and the
//! `ChatResult` / chunk shapes Turnout sends back.

use std::borrow::Cow;
use std::fmt;

use rust_decimal::Decimal;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use crate::error::ErrorBody;
use crate::json;

/// A JSON object kept as its members' raw text, in order. Parsing it validates the JSON once;
/// each member is then read (or forwarded) without re-scanning the rest.
#[derive(Debug, Default)]
pub struct RawObject<'a> {
    pub members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> RawObject<'a> {
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        // Last wins, as with serde_json's own maps.
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
    }
}

struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjVisitor;
        impl<'de> Visitor<'de> for ObjVisitor {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((Key(k), v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    members.push((k, v));
                }
                Ok(RawObject { members })
            }
        }
        d.deserialize_map(ObjVisitor)
    }
}

/// One request message, as much as routing and validation need.
#[derive(Debug, Deserialize)]
pub struct MessageView<'a> {
    pub role: Cow<'a, str>,
    #[serde(default, borrow)]
    pub content: Option<&'a RawValue>,
}

/// Token usage as upstreams report it and as we return it (plus cost fields on the way out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// What the upstream charged for the request, when it says (OpenRouter's `usage.cost`,
    /// USD): what the operator paid, not what the client is billed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "upstream_cost"
    )]
    pub cost: Option<Decimal>,
}

/// A cost sent as a JSON number (or a decimal string), read without a binary round trip:
/// a float's shortest text is the decimal the upstream wrote.
fn upstream_cost<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    struct CostVisitor;
    impl Visitor<'_> for CostVisitor {
        type Value = Option<Decimal>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a cost in USD")
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(v.to_string().parse().ok())
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Decimal::from(v)))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Decimal::from(v)))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.parse().ok())
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(CostVisitor)
}

impl Usage {
    pub fn cached_tokens(&self) -> u64 {
        self.prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0)
    }
    pub fn cache_write_tokens(&self) -> u64 {
        self.prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cache_write_tokens)
            .unwrap_or(0)
    }
    pub fn reasoning_tokens(&self) -> u64 {
        self.completion_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_prediction_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_prediction_tokens: Option<u64>,
}

/// An exact decimal written as a JSON number (no float round trip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecimalNumber(pub Decimal);

impl DecimalNumber {
    /// Plain decimal notation without trailing zeros (`0.00000735`, `12`, `-0.5`), written
    /// from the mantissa directly: `Display` through `core::fmt` is measurably slower.
    pub fn to_plain(&self) -> String {
        let mut out = Vec::with_capacity(24);
        self.write_json(&mut out);
        // Only ASCII digits, '-' and '.' were written.
        String::from_utf8(out).unwrap_or_default()
    }

    pub fn write_json(&self, out: &mut Vec<u8>) {
        let scale = self.0.scale() as usize;
        let mantissa = self.0.mantissa();
        let mut buf = itoa::Buffer::new();
        let digits = buf.format(mantissa.unsigned_abs()).as_bytes();
        // Integer and fraction digits; the integer part is "0" when every digit is fractional.
        let (int, frac): (&[u8], &[u8]) = if digits.len() > scale {
            digits.split_at(digits.len() - scale)
        } else {
            (b"0", digits)
        };
        let zeros = scale.saturating_sub(digits.len());
        let frac_end = frac.iter().rposition(|&d| d != b'0').map_or(0, |i| i + 1);
        let frac = &frac[..frac_end];
        let is_zero = int == b"0" && frac.is_empty();
        if mantissa < 0 && !is_zero {
            out.push(b'-');
        }
        out.extend_from_slice(int);
        if !frac.is_empty() {
            out.push(b'.');
            out.extend(std::iter::repeat_n(b'0', zeros));
            out.extend_from_slice(frac);
        }
    }
}

#[derive(Debug, Clone)]
pub struct CostDetails {
    /// What the upstream charged, when it reported it (an OpenRouter upstream's
    /// `usage.cost`); null otherwise.
    pub upstream_inference_cost: Option<DecimalNumber>,
    pub upstream_inference_prompt_cost: DecimalNumber,
    pub upstream_inference_completions_cost: DecimalNumber,
}

/// `usage` as Turnout returns it.
#[derive(Debug, Clone)]
pub struct UsageOut {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub cost: DecimalNumber,
    pub is_byok: bool,
    pub prompt_tokens_details: PromptTokensDetails,
    pub completion_tokens_details: CompletionTokensDetails,
    pub cost_details: CostDetails,
}

// ---- Upstream (OpenAI-compatible) replies, borrowed from the response bytes. ----

#[derive(Debug, Deserialize)]
pub struct UpstreamCompletion<'a> {
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
    /// The model that answered (OpenRouter names the one its `models` fallback used).
    #[serde(default, borrow)]
    pub model: Option<Cow<'a, str>>,
    /// Who served, when the upstream is itself a router (OpenRouter's display name).
    #[serde(default, borrow)]
    pub provider: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub choices: Vec<UpstreamChoice<'a>>,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default, borrow)]
    pub system_fingerprint: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub service_tier: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
pub struct UpstreamChoice<'a> {
    #[serde(default)]
    pub index: u32,
    #[serde(default, borrow)]
    pub message: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub finish_reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub native_finish_reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub logprobs: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
pub struct UpstreamChunk<'a> {
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub model: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub provider: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub choices: Vec<UpstreamChunkChoice<'a>>,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default, borrow)]
    pub system_fingerprint: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub service_tier: Option<&'a RawValue>,
    /// Some OpenAI-compatible servers report failures in-band.
    #[serde(default, borrow)]
    pub error: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
pub struct UpstreamChunkChoice<'a> {
    #[serde(default)]
    pub index: u32,
    #[serde(default, borrow)]
    pub delta: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub finish_reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub native_finish_reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub logprobs: Option<&'a RawValue>,
}

/// What of a delta counts as content (the stream binds to its provider on the first one).
#[derive(Debug, Default, Deserialize)]
pub struct DeltaView<'a> {
    #[serde(default, borrow)]
    pub content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub reasoning: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub tool_calls: Option<&'a RawValue>,
}

impl DeltaView<'_> {
    /// Characters of generated text in this delta (for usage estimates).
    pub fn text_chars(&self) -> usize {
        [
            &self.content,
            &self.reasoning,
            &self.reasoning_content,
            &self.refusal,
        ]
        .into_iter()
        .flatten()
        .map(|s| s.chars().count())
        .sum::<usize>()
            + self.tool_calls.map_or(0, |t| t.get().len())
    }

    pub fn has_content(&self) -> bool {
        self.text_chars() > 0
    }
}

/// Maps an upstream finish reason to OpenRouter's normalized set.
pub fn normalize_finish_reason(native: &str) -> &'static str {
    match native {
        "length" | "max_tokens" | "MAX_TOKENS" | "model_length" => "length",
        "tool_calls" | "function_call" | "tool_use" => "tool_calls",
        "content_filter" | "SAFETY" | "RECITATION" | "refusal" => "content_filter",
        "error" => "error",
        _ => "stop",
    }
}

// ---- What Turnout sends back. ----

#[derive(Debug)]
pub struct ChatResult<'a> {
    pub id: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub choices: Vec<ResultChoice<'a>>,
    pub system_fingerprint: Option<&'a RawValue>,
    pub service_tier: Option<&'a RawValue>,
    pub usage: UsageOut,
}

#[derive(Debug)]
pub struct ResultChoice<'a> {
    pub index: u32,
    pub logprobs: Option<&'a RawValue>,
    pub finish_reason: Option<&'static str>,
    pub native_finish_reason: Option<Cow<'a, str>>,
    pub message: &'a RawValue,
}

#[derive(Debug)]
pub struct ChatChunk<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub provider: &'a str,
    pub choices: Vec<ChunkChoice<'a>>,
    pub system_fingerprint: Option<&'a RawValue>,
    pub service_tier: Option<&'a RawValue>,
    pub usage: Option<UsageOut>,
    pub error: Option<ErrorBody>,
}

#[derive(Debug)]
pub struct ChunkChoice<'a> {
    pub index: u32,
    /// Absent upstream deltas are sent as `{}` (the field is required).
    pub delta: Option<&'a RawValue>,
    pub finish_reason: Option<&'static str>,
    pub native_finish_reason: Option<Cow<'a, str>>,
    pub logprobs: Option<&'a RawValue>,
}

fn details_json(out: &mut Vec<u8>, fields: &[(&str, Option<u64>)]) {
    let mut o = json::Object::new(out);
    for (k, v) in fields {
        if let Some(v) = v {
            o.uint(k, *v);
        }
    }
    o.end();
}

impl UsageOut {
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = json::Object::new(out);
        o.uint("prompt_tokens", self.prompt_tokens)
            .uint("completion_tokens", self.completion_tokens)
            .uint("total_tokens", self.total_tokens);
        self.cost.write_json(o.key("cost"));
        o.raw("is_byok", if self.is_byok { b"true" } else { b"false" });
        let p = &self.prompt_tokens_details;
        details_json(
            o.key("prompt_tokens_details"),
            &[
                ("cached_tokens", p.cached_tokens),
                ("cache_write_tokens", p.cache_write_tokens),
                ("audio_tokens", p.audio_tokens),
            ],
        );
        let c = &self.completion_tokens_details;
        details_json(
            o.key("completion_tokens_details"),
            &[
                ("reasoning_tokens", c.reasoning_tokens),
                ("audio_tokens", c.audio_tokens),
                ("accepted_prediction_tokens", c.accepted_prediction_tokens),
                ("rejected_prediction_tokens", c.rejected_prediction_tokens),
            ],
        );
        let d = &self.cost_details;
        let mut cd = json::Object::new(o.key("cost_details"));
        match &d.upstream_inference_cost {
            Some(c) => c.write_json(cd.key("upstream_inference_cost")),
            None => {
                cd.raw("upstream_inference_cost", b"null");
            }
        }
        d.upstream_inference_prompt_cost
            .write_json(cd.key("upstream_inference_prompt_cost"));
        d.upstream_inference_completions_cost
            .write_json(cd.key("upstream_inference_completions_cost"));
        cd.end();
        o.end();
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(400);
        self.write_json(&mut out);
        out
    }
}

impl ChatResult<'_> {
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            512 + self
                .choices
                .iter()
                .map(|c| c.message.get().len())
                .sum::<usize>(),
        );
        let mut o = json::Object::new(&mut out);
        o.str("id", self.id)
            .str("provider", self.provider)
            .str("model", self.model)
            .str("object", self.object)
            .uint("created", self.created);
        let list = o.key("choices");
        list.push(b'[');
        for (i, c) in self.choices.iter().enumerate() {
            if i > 0 {
                list.push(b',');
            }
            let mut co = json::Object::new(list);
            co.uint("index", u64::from(c.index));
            json::raw_or_null(co.key("logprobs"), c.logprobs);
            json::str_or_null(co.key("finish_reason"), c.finish_reason);
            json::str_or_null(
                co.key("native_finish_reason"),
                c.native_finish_reason.as_deref(),
            );
            co.raw("message", c.message.get().as_bytes());
            co.end();
        }
        list.push(b']');
        json::raw_or_null(o.key("system_fingerprint"), self.system_fingerprint);
        if let Some(tier) = self.service_tier {
            o.raw("service_tier", tier.get().as_bytes());
        }
        self.usage.write_json(o.key("usage"));
        o.end();
        out
    }
}

/// The members every chunk of one stream starts with (`{"id":…` up to `"provider":…`), left
/// open: a stream writes them once and copies them in front of each chunk's
/// [`ChatChunk::write_rest`].
pub fn chunk_head(
    out: &mut Vec<u8>,
    id: &str,
    object: &str,
    created: u64,
    model: &str,
    provider: &str,
) {
    let mut o = json::Object::new(out);
    o.str("id", id)
        .str("object", object)
        .uint("created", created)
        .str("model", model)
        .str("provider", provider);
}

impl ChatChunk<'_> {
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        chunk_head(
            &mut out,
            self.id,
            self.object,
            self.created,
            self.model,
            self.provider,
        );
        self.write_rest(&mut out);
        out
    }

    /// The members after [`chunk_head`] (which must already be in `out`), and the closing brace.
    pub fn write_rest(&self, out: &mut Vec<u8>) {
        let mut o = json::Object::resume(out);
        let list = o.key("choices");
        list.push(b'[');
        for (i, c) in self.choices.iter().enumerate() {
            if i > 0 {
                list.push(b',');
            }
            let mut co = json::Object::new(list);
            co.uint("index", u64::from(c.index));
            co.raw(
                "delta",
                c.delta.map_or(b"{}".as_slice(), |d| d.get().as_bytes()),
            );
            json::str_or_null(co.key("finish_reason"), c.finish_reason);
            json::str_or_null(
                co.key("native_finish_reason"),
                c.native_finish_reason.as_deref(),
            );
            json::raw_or_null(co.key("logprobs"), c.logprobs);
            co.end();
        }
        list.push(b']');
        if let Some(fp) = self.system_fingerprint {
            o.raw("system_fingerprint", fp.get().as_bytes());
        }
        if let Some(tier) = self.service_tier {
            o.raw("service_tier", tier.get().as_bytes());
        }
        if let Some(usage) = &self.usage {
            usage.write_json(o.key("usage"));
        }
        if let Some(error) = &self.error {
            // Rare (once per failed stream): serde is fine here.
            let key = o.key("error");
            if serde_json::to_writer(&mut *key, error).is_err() {
                key.extend_from_slice(b"null");
            }
        }
        o.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_object_keeps_members_and_escaped_keys() {
        let body = br#"{"model":"a/b","we\"ird":{"x":[1,2]},"messages":[]}"#;
        let obj: RawObject = serde_json::from_slice(body).expect("parse");
        let keys: Vec<&str> = obj.members.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["model", "we\"ird", "messages"]);
        assert_eq!(obj.get("we\"ird").map(|v| v.get()), Some(r#"{"x":[1,2]}"#));
        let orig: serde_json::Value = serde_json::from_slice(body).expect("valid");
        for (k, v) in &obj.members {
            let member: serde_json::Value = serde_json::from_str(v.get()).expect("valid");
            assert_eq!(member, orig[k.as_ref()], "{k}");
        }
    }

    #[test]
    fn decimal_numbers_are_written_exactly() {
        let d: Decimal = "0.00000735".parse().expect("decimal");
        let mut out = Vec::new();
        DecimalNumber(d).write_json(&mut out);
        assert_eq!(out, b"0.00000735");
        let z: Decimal = "0.000".parse().expect("decimal");
        assert_eq!(DecimalNumber(z).to_plain(), "0");
    }

    #[test]
    fn plain_decimal_formatting_matches_normalized_display() {
        for text in [
            "0",
            "0.000",
            "1",
            "10",
            "100.500",
            "-0.25",
            "0.00000735",
            "123456789.000000001",
            "-0",
        ] {
            let d: Decimal = text.parse().expect("decimal");
            assert_eq!(
                DecimalNumber(d).to_plain(),
                d.normalize().to_string(),
                "{text}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn plain_decimals_match_display_for_any_mantissa_and_scale(
            m in -(1i128 << 95)..(1i128 << 95),
            small in -100_000i128..100_000,
            scale in 0u32..=28,
        ) {
            for m in [m, small] {
                let d = Decimal::from_i128_with_scale(m, scale);
                proptest::prop_assert_eq!(DecimalNumber(d).to_plain(), d.normalize().to_string());
            }
        }
    }

    #[test]
    fn an_upstream_cost_is_read_exactly() {
        let u: Usage = serde_json::from_str(
            r#"{"prompt_tokens":9,"completion_tokens":10,"total_tokens":19,"cost":0.00000735}"#,
        )
        .expect("usage");
        assert_eq!(u.cost, Some("0.00000735".parse().expect("decimal")));
        let u: Usage = serde_json::from_str(r#"{"cost":null}"#).expect("usage");
        assert_eq!(u.cost, None);
        let u: Usage = serde_json::from_str(r#"{"prompt_tokens":1}"#).expect("usage");
        assert_eq!(u.cost, None);
    }

    #[test]
    fn finish_reasons_normalize() {
        assert_eq!(normalize_finish_reason("stop"), "stop");
        assert_eq!(normalize_finish_reason("function_call"), "tool_calls");
        assert_eq!(normalize_finish_reason("length"), "length");
        assert_eq!(normalize_finish_reason("content_filter"), "content_filter");
    }

    #[test]
    fn role_only_delta_is_not_content() {
        let d: DeltaView = serde_json::from_str(r#"{"role":"assistant","content":""}"#).expect("d");
        assert!(!d.has_content());
        let d: DeltaView = serde_json::from_str(r#"{"content":"hi"}"#).expect("d");
        assert!(d.has_content());
    }
}
