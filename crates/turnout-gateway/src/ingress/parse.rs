//! Step 1: parse and validate a Chat Completions body in the OpenRouter dialect.
//!
//! The body is read once as raw members. Fields routing needs are typed and checked one by
//! one (so errors name the field); everything else is kept as raw text and forwarded to
//! OpenAI-compatible upstreams untouched, so new OpenAI parameters work without a release.

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use turnout_wire::chat::{MessageView, RawObject};
use turnout_wire::params::{ParamSet, param_of};

use crate::error::ApiError;
use crate::routing::plan::RouteRequest;
use crate::routing::preferences::{Partition, Preferences};

/// Members that are OpenRouter's routing vocabulary (or that we set ourselves): never forwarded.
const NOT_FORWARDED: &[&str] = &[
    "model",
    "models",
    "route",
    "provider",
    "plugins",
    "transforms",
    "session_id",
    "trace",
    "debug",
    "usage",
    "stream",
    "stream_options",
    "reasoning",
    "include_reasoning",
];

/// Of [`NOT_FORWARDED`], what OpenRouter itself understands: an OpenRouter upstream gets the
/// client's values (its `provider` preferences then apply among OpenRouter's providers).
/// `models` goes up too, rewritten to OpenRouter's ids (see `routing::plan`).
const FOR_OPENROUTER: &[&str] = &[
    "provider",
    "route",
    "plugins",
    "transforms",
    "session_id",
    "trace",
    "debug",
    "reasoning",
    "include_reasoning",
];

/// A validated chat request, owned, ready to route.
#[derive(Debug, Clone)]
pub struct ChatInput {
    pub model: String,
    /// Fallback models after `model`, in order.
    pub models: Vec<String>,
    pub stream: bool,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<u64>,
    /// Sampling settings as sent, for traces (`gen_ai.request.temperature`, `…top_p`).
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    /// Characters of message text, for estimates.
    pub prompt_chars: usize,
    pub session_id: Option<String>,
    /// Identifies the conversation for implicit sticky routing: a hash of the first system
    /// (or developer) message and the first other message.
    pub conversation: Option<String>,
    pub preferences: Preferences,
    /// Which parameters ([`turnout_wire::params::PARAMETERS`]) the request uses (non-null;
    /// `n` only above 1).
    pub params_used: ParamSet,
    /// The forwarded members as JSON text without braces (`"k":v,"k2":v2`), or empty.
    pub forward: Vec<u8>,
    /// The members of [`FOR_OPENROUTER`] the client sent, in the same form, or empty.
    pub openrouter: Vec<u8>,
    /// OpenRouter's `reasoning` object as sent (not forwarded to OpenAI-compatible
    /// upstreams; adapters that translate, like Anthropic's, read it).
    pub reasoning: Option<String>,
    /// The original body of a request that came in through `/messages`: Anthropic endpoints
    /// get it passed through instead of a translation.
    pub native: Option<std::sync::Arc<super::messages::NativeMessages>>,
}

impl ChatInput {
    /// What routing needs from this request.
    pub fn route_request(&self) -> RouteRequest {
        RouteRequest {
            models: std::iter::once(self.model.clone())
                .chain(self.models.iter().cloned())
                .collect(),
            preferences: self.preferences.clone(),
            params_used: self.params_used,
            max_tokens: self.max_tokens,
            sticky_endpoint: None,
        }
    }

    /// The upstream body for one endpoint, without the `dropped` parameters (those the
    /// endpoint cannot honour).
    pub fn upstream_body(&self, upstream_model: &str, stream: bool, dropped: ParamSet) -> Vec<u8> {
        self.upstream_body_with(upstream_model, stream, dropped, |_| {})
    }

    /// [`ChatInput::upstream_body`] with members an adapter adds (`extra` writes them, each
    /// after a comma).
    pub fn upstream_body_with(
        &self,
        upstream_model: &str,
        stream: bool,
        dropped: ParamSet,
        extra: impl FnOnce(&mut Vec<u8>),
    ) -> Vec<u8> {
        let body = self.full_body(upstream_model, stream, extra);
        if dropped.is_empty() {
            return body;
        }
        let cut: Vec<&str> = dropped
            .names()
            .chain(
                dropped
                    .has_member("max_tokens")
                    .then_some("max_completion_tokens"),
            )
            .collect();
        // The body was built from the client's members, so it is an object.
        std::str::from_utf8(&body)
            .ok()
            .and_then(|text| turnout_wire::json::splice_object(text, &[], &cut))
            .unwrap_or(body)
    }

    fn full_body(
        &self,
        upstream_model: &str,
        stream: bool,
        extra: impl FnOnce(&mut Vec<u8>),
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.forward.len() + upstream_model.len() + 80);
        out.extend_from_slice(b"{\"model\":");
        // A String always serializes.
        out.extend_from_slice(&serde_json::to_vec(upstream_model).unwrap_or_default());
        if stream {
            out.extend_from_slice(b",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
        } else {
            out.extend_from_slice(b",\"stream\":false");
        }
        if !self.forward.is_empty() {
            out.push(b',');
            out.extend_from_slice(&self.forward);
        }
        extra(&mut out);
        out.push(b'}');
        out
    }
}

fn field<T: DeserializeOwned>(name: &str, raw: &RawValue, expected: &str) -> Result<T, ApiError> {
    serde_json::from_str(raw.get())
        .map_err(|_| ApiError::invalid(format!("`{name}` must be {expected}, got {}", short(raw))))
}

fn short(raw: &RawValue) -> String {
    let s = raw.get();
    if s.chars().count() > 40 {
        let cut: String = s.chars().take(40).collect();
        format!("{cut}…")
    } else {
        s.to_owned()
    }
}

fn number_in(
    name: &str,
    raw: &RawValue,
    lo: f64,
    hi: f64,
    lo_open: bool,
) -> Result<Option<f64>, ApiError> {
    let v: Option<f64> = field(name, raw, "a number")?;
    if let Some(v) = v {
        let low_ok = if lo_open { v > lo } else { v >= lo };
        if !low_ok || v > hi || !v.is_finite() {
            let open = if lo_open { "(" } else { "[" };
            return Err(ApiError::invalid(format!(
                "`{name}` must be in {open}{lo}, {hi}], got {v}"
            )));
        }
    }
    Ok(v)
}

fn integer_at_least(name: &str, raw: &RawValue, min: i64) -> Result<Option<i64>, ApiError> {
    let v: Option<i64> = field(name, raw, "an integer")?;
    if let Some(v) = v
        && v < min
    {
        return Err(ApiError::invalid(format!(
            "`{name}` must be at least {min}, got {v}"
        )));
    }
    Ok(v)
}

pub fn parse_chat(body: &[u8]) -> Result<ChatInput, ApiError> {
    // One UTF-8 check of the whole body, then serde_json's `str` reader, which skips the
    // check per string and per raw value; invalid UTF-8 keeps the slice reader's own error.
    let parsed = match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str::<RawObject>(text),
        Err(_) => serde_json::from_slice::<RawObject>(body),
    };
    let obj: RawObject = parsed.map_err(|e| {
        if e.is_data() {
            ApiError::invalid("Request body must be a JSON object")
        } else {
            ApiError::invalid(format!(
                "Invalid JSON in request body at line {} column {}: {}",
                e.line(),
                e.column(),
                strip_position(&e.to_string())
            ))
        }
    })?;

    let mut model = None;
    let mut models = Vec::new();
    let mut stream = false;
    let mut max_tokens = None;
    let mut max_completion_tokens = None;
    let (mut temperature, mut top_p) = (None, None);
    let mut session_id = None;
    let mut prompt_chars = None;
    let mut conversation = None;
    let mut preferences = Preferences::default();
    let mut route_partition = None;
    let mut params_used = ParamSet::EMPTY;
    let mut reasoning = None;

    for (key, raw) in &obj.members {
        if let Some(bit) = param_of(key)
            && raw.get() != "null"
            && key != "n"
        {
            params_used.insert(bit);
        }
        match key.as_ref() {
            "model" => model = field::<Option<String>>("model", raw, "a string")?,
            "models" => {
                models = field::<Option<Vec<String>>>("models", raw, "an array of strings")?
                    .unwrap_or_default()
            }
            "messages" => {
                let (chars, conv) = check_messages(raw)?;
                prompt_chars = Some(chars);
                conversation = conv;
            }
            "stream" => {
                stream = field::<Option<bool>>("stream", raw, "a boolean")?.unwrap_or(false)
            }
            "temperature" => temperature = number_in("temperature", raw, 0.0, 2.0, false)?,
            "top_p" => top_p = number_in("top_p", raw, 0.0, 1.0, true)?,
            "frequency_penalty" => {
                number_in("frequency_penalty", raw, -2.0, 2.0, false)?;
            }
            "presence_penalty" => {
                number_in("presence_penalty", raw, -2.0, 2.0, false)?;
            }
            "repetition_penalty" => {
                number_in("repetition_penalty", raw, 0.0, 2.0, true)?;
            }
            "min_p" => {
                number_in("min_p", raw, 0.0, 1.0, false)?;
            }
            "top_a" => {
                number_in("top_a", raw, 0.0, 1.0, false)?;
            }
            "max_tokens" => max_tokens = integer_at_least("max_tokens", raw, 1)?,
            "max_completion_tokens" => {
                max_completion_tokens = integer_at_least("max_completion_tokens", raw, 1)?
            }
            "top_k" => {
                integer_at_least("top_k", raw, 0)?;
            }
            "n" => {
                // One choice is what every upstream gives: only more is a parameter to honour.
                if integer_at_least("n", raw, 1)?.is_some_and(|n| n > 1)
                    && let Some(bit) = param_of("n")
                {
                    params_used.insert(bit);
                }
            }
            "seed" => {
                field::<Option<i64>>("seed", raw, "an integer")?;
            }
            "top_logprobs" => {
                if let Some(v) = integer_at_least("top_logprobs", raw, 0)?
                    && v > 20
                {
                    return Err(ApiError::invalid(format!(
                        "`top_logprobs` must be at most 20, got {v}"
                    )));
                }
            }
            "logprobs" => {
                field::<Option<bool>>("logprobs", raw, "a boolean")?;
            }
            "stop" => check_stop(raw)?,
            "tools" => {
                field::<Option<Vec<serde_json::Value>>>("tools", raw, "an array")?;
            }
            "provider" => preferences = Preferences::parse(Some(raw))?,
            "reasoning" if raw.get() != "null" => reasoning = Some(raw.get().to_owned()),
            "route" => {
                route_partition =
                    match field::<Option<String>>("route", raw, "a string")?.as_deref() {
                        None => None,
                        // Deprecated aliases of provider.sort.partition.
                        Some("fallback") => Some(Partition::Model),
                        Some("sort") => Some(Partition::None),
                        Some(other) => {
                            return Err(ApiError::invalid(format!(
                                "`route` must be \"fallback\" or \"sort\", got \"{other}\""
                            )));
                        }
                    }
            }
            "session_id" => {
                let s: Option<String> = field("session_id", raw, "a string")?;
                if let Some(s) = &s
                    && s.chars().count() > 256
                {
                    return Err(ApiError::invalid(
                        "`session_id` must be at most 256 characters",
                    ));
                }
                session_id = s;
            }
            _ => {}
        }
    }

    let prompt_chars = prompt_chars.ok_or_else(|| ApiError::invalid("`messages` is required"))?;
    let model = match model {
        Some(m) if !m.trim().is_empty() => m,
        _ => match models.first() {
            // With only `models`, the first one is the primary.
            Some(first) => first.clone(),
            None => return Err(ApiError::invalid("`model` is required")),
        },
    };
    // `models` after the primary, without repeating it.
    let models = models.into_iter().filter(|m| *m != model).collect();

    let mut forward = Vec::with_capacity(body.len());
    let mut openrouter = Vec::new();
    for (key, raw) in &obj.members {
        let out = if !NOT_FORWARDED.contains(&key.as_ref()) {
            &mut forward
        } else if FOR_OPENROUTER.contains(&key.as_ref()) && raw.get() != "null" {
            &mut openrouter
        } else {
            continue;
        };
        if !out.is_empty() {
            out.push(b',');
        }
        turnout_wire::json::string(out, key);
        out.push(b':');
        out.extend_from_slice(raw.get().as_bytes());
    }

    if let (Some(partition), Some(sort)) = (route_partition, preferences.sort.as_mut()) {
        sort.partition = partition;
    }
    let max_tokens = max_completion_tokens.or(max_tokens).map(|v| v as u64);
    Ok(ChatInput {
        model,
        models,
        stream,
        max_tokens,
        temperature,
        top_p,
        prompt_chars,
        session_id,
        conversation,
        preferences,
        params_used,
        forward,
        openrouter,
        reasoning,
        native: None,
    })
}

fn strip_position(msg: &str) -> &str {
    msg.rsplit_once(" at line ").map_or(msg, |(m, _)| m)
}

const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// Checks the message list; returns its text length in characters and the conversation hash.
fn check_messages(raw: &RawValue) -> Result<(usize, Option<String>), ApiError> {
    let items: Vec<&RawValue> = serde_json::from_str(raw.get())
        .map_err(|_| ApiError::invalid("`messages` must be an array of messages"))?;
    if items.is_empty() {
        return Err(ApiError::invalid(
            "`messages` must contain at least one message",
        ));
    }
    let mut chars = 0;
    let mut first_system: Option<&str> = None;
    let mut first_other: Option<&str> = None;
    for (i, item) in items.iter().enumerate() {
        let msg: MessageView = serde_json::from_str(item.get()).map_err(|e| {
            ApiError::invalid(format!(
                "`messages[{i}]` must be an object with a string `role`: {}",
                strip_position(&e.to_string())
            ))
        })?;
        if !ROLES.contains(&msg.role.as_ref()) {
            return Err(ApiError::invalid(format!(
                "`messages[{i}].role` must be one of {}, got \"{}\"",
                ROLES.join(", "),
                msg.role
            )));
        }
        if let Some(content) = msg.content {
            match msg.role.as_ref() {
                "system" | "developer" => {
                    first_system.get_or_insert(content.get());
                }
                _ => {
                    first_other.get_or_insert(content.get());
                }
            }
            chars += content_chars(content).ok_or_else(|| {
                ApiError::invalid(format!(
                    "`messages[{i}].content` must be a string, an array of content parts, or null"
                ))
            })?;
        }
    }
    let conversation = first_other.map(|other| {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        (first_system.unwrap_or(""), other).hash(&mut h);
        // `{:016x}` without `core::fmt`.
        let hash = h.finish();
        (0..16)
            .rev()
            .map(|i| char::from(b"0123456789abcdef"[((hash >> (i * 4)) & 0xf) as usize]))
            .collect::<String>()
    });
    Ok((chars, conversation))
}

fn content_chars(content: &RawValue) -> Option<usize> {
    #[derive(serde::Deserialize)]
    struct Part<'a> {
        #[serde(default, borrow)]
        text: Option<std::borrow::Cow<'a, str>>,
    }
    // Dispatch on the first byte: serde's untagged enums buffer the whole value first.
    let text = content.get().trim_start();
    match text.as_bytes().first()? {
        b'"' => serde_json::from_str::<std::borrow::Cow<str>>(text)
            .ok()
            .map(|s| s.chars().count()),
        b'[' => serde_json::from_str::<Vec<Part>>(text).ok().map(|parts| {
            parts
                .iter()
                .filter_map(|p| p.text.as_ref())
                .map(|t| t.chars().count())
                .sum()
        }),
        b'n' if text.trim_end() == "null" => Some(0),
        _ => None,
    }
}

fn check_stop(raw: &RawValue) -> Result<(), ApiError> {
    let expected = "a string or an array of strings";
    match serde_json::from_str::<serde_json::Value>(raw.get()) {
        Ok(serde_json::Value::Null | serde_json::Value::String(_)) => Ok(()),
        Ok(serde_json::Value::Array(items)) if items.iter().all(serde_json::Value::is_string) => {
            if items.len() > 4 {
                Err(ApiError::invalid("`stop` takes at most 4 sequences"))
            } else {
                Ok(())
            }
        }
        _ => Err(ApiError::invalid(format!(
            "`stop` must be {expected}, got {}",
            short(raw)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(err: ApiError) -> String {
        err.to_string()
    }

    #[test]
    fn forwards_unknown_fields_untouched_and_drops_routing_fields() {
        let body = br#"{"model":"a/b","messages":[{"role":"user","content":"hi"}],"future_param":{"x":[1,{"y":null}]},"provider":{"sort":"price"},"temperature":0.5}"#;
        let input = parse_chat(body).expect("valid");
        let up: serde_json::Value =
            serde_json::from_slice(&input.upstream_body("gpt-x", true, ParamSet::EMPTY))
                .expect("json");
        assert_eq!(up["model"], "gpt-x");
        assert_eq!(up["future_param"], serde_json::json!({"x":[1,{"y":null}]}));
        assert_eq!(up["temperature"], 0.5);
        assert_eq!(up["stream_options"]["include_usage"], true);
        assert!(up.get("provider").is_none());
        assert_eq!(input.prompt_chars, 2);
    }

    #[test]
    fn parameters_used_are_noted_and_dropped_ones_cut_from_the_body() {
        let body = br#"{"model":"a/b","messages":[{"role":"user","content":"hi"}],"seed":7,"n":1,"max_completion_tokens":9,"temperature":null,"logit_bias":{"1":2},"provider":{"only":["x"]},"reasoning":{"effort":"low"}}"#;
        let input = parse_chat(body).expect("valid");
        assert_eq!(
            input.params_used.names().collect::<Vec<_>>(),
            ["logit_bias", "seed", "max_tokens", "reasoning"],
            "null values and n = 1 are not uses"
        );
        let dropped = ParamSet::of(["seed", "max_tokens", "logit_bias"]);
        let up = String::from_utf8(input.upstream_body("up", false, dropped)).expect("utf8");
        let keys: Vec<String> = turnout_wire::json::member_spans(&up)
            .expect("object")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["model", "stream", "messages", "n", "temperature"]);
        let openrouter = format!("{{{}}}", String::from_utf8_lossy(&input.openrouter));
        let openrouter: serde_json::Value = serde_json::from_str(&openrouter).expect("json");
        assert_eq!(
            openrouter,
            serde_json::json!({"provider":{"only":["x"]},"reasoning":{"effort":"low"}})
        );
        let many =
            parse_chat(br#"{"model":"a/b","messages":[{"role":"user","content":"hi"}],"n":3}"#)
                .expect("valid");
        assert_eq!(many.params_used.names().collect::<Vec<_>>(), ["n"]);
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let m = msg(parse_chat(b"{\n  \"model\": \"a/b\",\n  \"messages\": [}\n").unwrap_err());
        assert!(m.contains("line 3 column"), "{m}");
    }

    #[test]
    fn rejects_bad_values_naming_the_field() {
        let cases: &[(&str, &str)] = &[
            (r#"{"model":"a/b"}"#, "`messages` is required"),
            (r#"{"model":"a/b","messages":[]}"#, "at least one message"),
            (
                r#"{"model":"a/b","messages":"hi"}"#,
                "`messages` must be an array",
            ),
            (
                r#"{"model":"a/b","messages":[{"content":"x"}]}"#,
                "`messages[0]`",
            ),
            (
                r#"{"model":"a/b","messages":[{"role":"robot","content":"x"}]}"#,
                "messages[0].role",
            ),
            (
                r#"{"model":"a/b","messages":[{"role":"user","content":5}]}"#,
                "messages[0].content",
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}]}"#,
                "`model` is required",
            ),
            (
                r#"{"model":"a/b","messages":[{"role":"user","content":"x"}],"temperature":3}"#,
                "`temperature` must be in [0, 2]",
            ),
            (
                r#"{"model":"a/b","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#,
                "`temperature` must be a number",
            ),
            (
                r#"{"model":"a/b","messages":[{"role":"user","content":"x"}],"top_p":0}"#,
                "`top_p` must be in (0, 1]",
            ),
            (
                r#"{"model":"a/b","messages":[{"role":"user","content":"x"}],"max_tokens":0}"#,
                "`max_tokens` must be at least 1",
            ),
            (
                r#"{"model":"a/b","messages":[{"role":"user","content":"x"}],"max_tokens":1.5}"#,
                "`max_tokens` must be an integer",
            ),
            (
                r#"{"model":"a/b","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#,
                "`stream` must be a boolean",
            ),
            (
                r#"{"model":"a/b","messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]}"#,
                "at most 4",
            ),
            (r#"[1,2]"#, "must be a JSON object"),
        ];
        for (body, want) in cases {
            let got = msg(parse_chat(body.as_bytes()).expect_err(body));
            assert!(got.contains(want), "{body}: got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn models_list_supplies_primary_and_fallbacks() {
        let input = parse_chat(
            br#"{"models":["a/b","c/d"],"messages":[{"role":"user","content":[{"type":"text","text":"hey"}]}],"max_tokens":7}"#,
        )
        .expect("valid");
        assert_eq!(input.model, "a/b");
        assert_eq!(input.models, vec!["c/d".to_owned()]);
        assert_eq!(input.max_tokens, Some(7));
        assert_eq!(input.prompt_chars, 3);
    }

    #[test]
    fn nulls_are_accepted_for_nullable_fields() {
        parse_chat(br#"{"model":"a/b","messages":[{"role":"assistant","content":null}],"temperature":null,"max_tokens":null,"stop":null}"#)
            .expect("nulls are fine");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = parse_chat(&body);
        }

        #[test]
        fn arbitrary_json_values_in_known_fields_never_panic(
            key in proptest::sample::select(vec!["model", "models", "messages", "stream", "temperature", "top_p", "max_tokens", "stop", "provider", "session_id", "top_logprobs", "n"]),
            value in proptest::sample::select(vec!["null", "true", "-1", "1e309", "0.5", "\"x\"", "[]", "{}", "[1,\"a\",null]", "{\"role\":\"user\"}", "[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]"]),
        ) {
            let body = format!(r#"{{"model":"a/b","messages":[{{"role":"user","content":"x"}}],"{key}":{value}}}"#);
            let _ = parse_chat(body.as_bytes());
        }
    }
}
