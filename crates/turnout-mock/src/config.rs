//! Mock behaviour: what a mock provider answers, and per-request overrides of it.

use serde::{Deserialize, Deserializer, Serialize};

/// How a mock provider behaves. Every field is optional in JSON (missing fields take the
/// [`Default`] values); unknown fields are rejected so typos in tests fail loudly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockConfig {
    /// Shown as the replies' `system_fingerprint` (e.g. `"mock-fast"`).
    pub name: String,
    /// Delay before the response headers, in milliseconds.
    pub latency_ms: u64,
    /// Number of content chunks in a stream (default 8). The generated reply has this many
    /// words; a fixed `reply` is split into at most this many chunks at word boundaries.
    pub chunks: usize,
    /// Delay before each content chunk of a stream, in milliseconds.
    pub chunk_delay_ms: u64,
    /// Probability in `[0, 1]` of answering 503 (a flaky provider). Deterministic sequence.
    pub fail_rate: f64,
    /// A fault to inject instead of (part of) the normal answer.
    pub fault: Option<Fault>,
    /// A fixed reply text; default: deterministic words derived from the last user message.
    pub reply: Option<String>,
    /// When set, requests must carry `Authorization: Bearer <require_key>` (`x-api-key` on
    /// the Anthropic route, `x-goog-api-key` on Gemini's) or get the dialect's refusal (401;
    /// Gemini: 400 `API_KEY_INVALID`, 403 without a key).
    pub require_key: Option<String>,
    /// Extra model ids listed by `GET /v1/models` (after the built-in ones).
    pub models: Vec<String>,
    /// On the OpenRouter route: models it has no endpoints for. A request falls back along
    /// its `models` to the first one not listed, or gets OpenRouter's 404 "No endpoints
    /// found".
    pub unavailable_models: Vec<String>,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            name: "mock".to_owned(),
            latency_ms: 0,
            chunks: 8,
            chunk_delay_ms: 0,
            fail_rate: 0.0,
            fault: None,
            reply: None,
            require_key: None,
            models: Vec::new(),
            unavailable_models: Vec::new(),
        }
    }
}

/// An injected failure. JSON: `{"type":"status","status":503,"retry_after":2}`,
/// `{"type":"hang_before_headers"}`, `{"type":"stall_after_chunks","after":2}`, …
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Answer with this status (and `Retry-After` when given; on the Gemini route the wait
    /// goes in the body's `RetryInfo` instead, as Google sends it). `body` defaults to the
    /// dialect's error envelope matching the status.
    Status {
        status: u16,
        #[serde(default)]
        retry_after: Option<u64>,
        #[serde(default)]
        body: Option<String>,
    },
    /// Accept the request and never answer (until the client goes away).
    HangBeforeHeaders,
    /// Send `after` content chunks, then go silent forever with the connection open.
    /// Non-streaming: 200 headers and half of the JSON body, then silence.
    StallAfterChunks { after: usize },
    /// Send `after` content chunks, then close the connection abruptly (no finish chunk, no
    /// `[DONE]`). Non-streaming: 200 headers and half of the JSON body, then the cut.
    DropAfterChunks { after: usize },
    /// 200 with a body (non-stream) or a `data:` event (stream) that is not JSON.
    MalformedJson,
    /// 200 with an empty body (non-stream); a stream with only `data: [DONE]`.
    EmptyBody,
    /// The provider's refusal of the prompt's content (Azure: 400 `content_filter`; OpenAI:
    /// 400 `content_policy_violation`).
    ContentFilter,
}

/// Per-request override of [`MockConfig`]: the same fields, each optional. Sent as a
/// top-level `"mock"` object in the request body or as JSON in the `x-mock` header.
/// For `fault`, `reply` and `require_key`, an explicit `null` clears the instance's value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockOverride {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunks: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_delay_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_rate: Option<f64>,
    #[serde(
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub fault: Option<Option<Fault>>,
    #[serde(
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub reply: Option<Option<String>>,
    #[serde(
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub require_key: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable_models: Option<Vec<String>>,
}

/// Present-but-null becomes `Some(None)`; absent stays `None` (through `#[serde(default)]`).
fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl MockOverride {
    /// Whether this override changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == MockOverride::default()
    }

    /// Fields set in `other` win over fields set in `self`.
    pub fn merge(&mut self, other: MockOverride) {
        macro_rules! take {
            ($($field:ident),*) => {$(
                if other.$field.is_some() {
                    self.$field = other.$field;
                }
            )*};
        }
        take!(
            name,
            latency_ms,
            chunks,
            chunk_delay_ms,
            fail_rate,
            fault,
            reply,
            require_key,
            models,
            unavailable_models
        );
    }

    /// `config` with this override applied.
    pub fn apply(&self, config: &MockConfig) -> MockConfig {
        let mut out = config.clone();
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(value) = &self.$field {
                    out.$field = value.clone();
                }
            )*};
        }
        set!(
            name,
            latency_ms,
            chunks,
            chunk_delay_ms,
            fail_rate,
            fault,
            reply,
            require_key,
            models,
            unavailable_models
        );
        out
    }
}

/// A config with what every request needs precomputed (the escaped fingerprint).
#[derive(Debug)]
pub(crate) struct Prepared {
    pub config: MockConfig,
    /// `system_fingerprint` as a JSON string literal, quotes included.
    pub fingerprint_json: String,
}

impl Prepared {
    pub fn new(config: MockConfig) -> Prepared {
        let mut fingerprint_json = String::with_capacity(config.name.len() + 2);
        crate::reply::push_json_str(&mut fingerprint_json, &config.name);
        Prepared {
            config,
            fingerprint_json,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_all_optional() {
        let c: MockConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, MockConfig::default());
        assert_eq!(c.chunks, 8);
        let c: MockConfig = serde_json::from_str(
            r#"{"name":"mock-fast","latency_ms":5,"fault":{"type":"status","status":503,"retry_after":2,"body":"x"}}"#,
        )
        .unwrap();
        assert_eq!(c.name, "mock-fast");
        assert_eq!(
            c.fault,
            Some(Fault::Status {
                status: 503,
                retry_after: Some(2),
                body: Some("x".into())
            })
        );
        assert!(serde_json::from_str::<MockConfig>(r#"{"nmae":"x"}"#).is_err());
    }

    #[test]
    fn fault_tags() {
        for (json, fault) in [
            (
                r#"{"type":"hang_before_headers"}"#,
                Fault::HangBeforeHeaders,
            ),
            (
                r#"{"type":"stall_after_chunks","after":2}"#,
                Fault::StallAfterChunks { after: 2 },
            ),
            (
                r#"{"type":"drop_after_chunks","after":0}"#,
                Fault::DropAfterChunks { after: 0 },
            ),
            (r#"{"type":"malformed_json"}"#, Fault::MalformedJson),
            (r#"{"type":"empty_body"}"#, Fault::EmptyBody),
            (
                r#"{"type":"status","status":429}"#,
                Fault::Status {
                    status: 429,
                    retry_after: None,
                    body: None,
                },
            ),
        ] {
            assert_eq!(
                serde_json::from_str::<Fault>(json).unwrap(),
                fault,
                "{json}"
            );
            let back = serde_json::to_string(&fault).unwrap();
            assert_eq!(serde_json::from_str::<Fault>(&back).unwrap(), fault);
        }
        assert!(serde_json::from_str::<Fault>(r#"{"type":"explode"}"#).is_err());
    }

    #[test]
    fn override_null_clears_and_absent_keeps() {
        let base = MockConfig {
            fault: Some(Fault::EmptyBody),
            reply: Some("hi".into()),
            ..MockConfig::default()
        };
        let o: MockOverride = serde_json::from_str(r#"{"fault":null,"chunks":3}"#).unwrap();
        let c = o.apply(&base);
        assert_eq!(c.fault, None);
        assert_eq!(c.reply.as_deref(), Some("hi"));
        assert_eq!(c.chunks, 3);
        assert!(MockOverride::default().is_empty());
        assert!(!o.is_empty());

        let mut a: MockOverride = serde_json::from_str(r#"{"chunks":1,"name":"a"}"#).unwrap();
        a.merge(serde_json::from_str(r#"{"chunks":2}"#).unwrap());
        assert_eq!(a.chunks, Some(2));
        assert_eq!(a.name.as_deref(), Some("a"));
    }
}
