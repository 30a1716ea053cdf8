//! The other direction, for the `/messages` ingress (spec/openrouter-api.md §1.1, §5.6): an
//! Anthropic Messages request becomes a Chat Completions request, routed and served like any
//! other, and the chat answer — complete or streamed — goes back as an Anthropic Message or
//! event stream.
//!
//! Chat is the gateway's inner language, so every upstream kind can serve a Messages client;
//! where an Anthropic endpoint serves, the gateway passes the original body through instead
//! (DESIGN.md §3) and only the error and usage paths come through here.

use serde_json::{Map, Value, json};

use super::{REASONING_FORMAT, TranslateError, invalid};
use crate::error::ErrorType;

/// A Messages request in chat terms.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The Chat Completions body (OpenRouter dialect), routing fields included.
    pub body: Map<String, Value>,
    /// The first part of the request that chat cannot express (a server tool, a
    /// `web_search_tool_result` block, …), left out of `body`: only an Anthropic endpoint,
    /// given the original body, can serve such a request.
    pub inexpressible: Option<String>,
}

/// Members OpenRouter adds to every skin for routing; they go to the chat body unchanged.
const ROUTING: &[&str] = &[
    "models",
    "provider",
    "route",
    "session_id",
    "plugins",
    "transforms",
    "usage",
    "debug",
    "trace",
    "reasoning",
    "user",
];

/// Anthropic-only members that change nothing a chat upstream could do differently: dropped.
const DROPPED: &[&str] = &[
    "context_management",
    "service_tier",
    "inference_geo",
    "speed",
    "cache_control",
];

/// Anthropic-only members chat has no way to carry.
const ANTHROPIC_ONLY: &[&str] = &["container", "mcp_servers"];

/// Translates a Messages request body (spec/providers.md §A.2; mapping §D.1 read backwards).
/// Values are checked with Anthropic's ranges and named by their Anthropic field.
pub fn chat_from_messages(body: &Map<String, Value>) -> Result<ChatRequest, TranslateError> {
    let mut out = Map::new();
    let mut lost: Option<String> = None;
    let mut note = |what: String| {
        lost.get_or_insert(what);
    };

    match body.get("model") {
        Some(Value::String(m)) => {
            out.insert("model".into(), Value::String(m.clone()));
        }
        None | Some(Value::Null) => {}
        Some(_) => return Err(invalid("`model` must be a string")),
    }
    match body.get("max_tokens") {
        Some(v) if v.as_u64().is_some_and(|n| n >= 1) => {
            out.insert("max_tokens".into(), v.clone());
        }
        None | Some(Value::Null) => return Err(invalid("`max_tokens` is required")),
        Some(v) => {
            return Err(invalid(format!(
                "`max_tokens` must be an integer of at least 1, got {v}"
            )));
        }
    }

    let mut messages = Vec::new();
    if let Some(system) = body.get("system")
        && let Some(m) = system_message(system)?
    {
        messages.push(m);
    }
    let turns = match body.get("messages") {
        Some(Value::Array(turns)) if !turns.is_empty() => turns,
        Some(Value::Array(_)) => {
            return Err(invalid("`messages` must contain at least one message"));
        }
        None | Some(Value::Null) => return Err(invalid("`messages` is required")),
        Some(_) => return Err(invalid("`messages` must be an array of messages")),
    };
    for (i, turn) in turns.iter().enumerate() {
        translate_turn(turn, i, &mut messages, &mut note)?;
    }
    out.insert("messages".into(), Value::Array(messages));

    for (name, lo, hi) in [("temperature", 0.0, 1.0), ("top_p", 0.0, 1.0)] {
        match body.get(name) {
            None | Some(Value::Null) => {}
            Some(v) => match v.as_f64() {
                Some(x) if (lo..=hi).contains(&x) => {
                    out.insert(name.into(), v.clone());
                }
                _ => {
                    return Err(invalid(format!(
                        "`{name}` must be a number in [{lo}, {hi}], got {v}"
                    )));
                }
            },
        }
    }
    match body.get("top_k") {
        None | Some(Value::Null) => {}
        Some(v) if v.is_u64() => {
            out.insert("top_k".into(), v.clone());
        }
        Some(v) => {
            return Err(invalid(format!(
                "`top_k` must be a non-negative integer, got {v}"
            )));
        }
    }
    match body.get("stop_sequences") {
        None | Some(Value::Null) => {}
        Some(Value::Array(seqs)) if seqs.iter().all(Value::is_string) => {
            if !seqs.is_empty() {
                out.insert("stop".into(), Value::Array(seqs.clone()));
            }
        }
        Some(_) => return Err(invalid("`stop_sequences` must be an array of strings")),
    }
    match body.get("stream") {
        None | Some(Value::Null) => {}
        Some(v @ Value::Bool(_)) => {
            out.insert("stream".into(), v.clone());
        }
        Some(_) => return Err(invalid("`stream` must be a boolean")),
    }
    if let Some(user) = body
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
    {
        out.insert("user".into(), Value::String(user.to_owned()));
    }
    if let Some(reasoning) = reasoning_of(body.get("thinking"))? {
        out.insert("reasoning".into(), reasoning);
    }
    translate_tools(body, &mut out, &mut note)?;
    if let Some(format) = output_format(body) {
        out.insert("response_format".into(), format);
    }

    match body.get("fallbacks") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            if body.get("models").is_some_and(|m| !m.is_null()) {
                return Err(invalid("`fallbacks` cannot be combined with `models`"));
            }
            if list.len() > 3 {
                return Err(invalid("`fallbacks` takes at most 3 models"));
            }
            let mut models = Vec::new();
            if let Some(m) = out.get("model") {
                models.push(m.clone());
            }
            for (i, f) in list.iter().enumerate() {
                let m = f
                    .get("model")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("`fallbacks[{i}].model` must be a string")))?;
                models.push(Value::String(m.to_owned()));
            }
            out.insert("models".into(), Value::Array(models));
        }
        Some(_) => return Err(invalid("`fallbacks` must be an array of {\"model\": …}")),
    }

    for (key, value) in body {
        let known = matches!(
            key.as_str(),
            "model"
                | "max_tokens"
                | "system"
                | "messages"
                | "temperature"
                | "top_p"
                | "top_k"
                | "stop_sequences"
                | "stream"
                | "metadata"
                | "thinking"
                | "tools"
                | "tool_choice"
                | "output_format"
                | "output_config"
                | "fallbacks"
        );
        if known || DROPPED.contains(&key.as_str()) {
            continue;
        }
        if ANTHROPIC_ONLY.contains(&key.as_str()) {
            if !value.is_null() {
                note(format!("`{key}`"));
            }
            continue;
        }
        // Routing fields, and anything newer than this gateway: passed on as chat passes
        // unknown fields on, unless the translation already set them.
        if ROUTING.contains(&key.as_str()) || !out.contains_key(key) {
            out.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    Ok(ChatRequest {
        body: out,
        inexpressible: lost,
    })
}

/// `system`: a string, or text blocks (kept as parts when one carries `cache_control`).
fn system_message(system: &Value) -> Result<Option<Value>, TranslateError> {
    match system {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(json!({"role": "system", "content": s}))),
        Value::Array(blocks) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (j, b) in blocks.iter().enumerate() {
                let text = b
                    .get("text")
                    .and_then(Value::as_str)
                    .filter(|_| b.get("type").and_then(Value::as_str).unwrap_or("text") == "text")
                    .ok_or_else(|| invalid(format!("`system[{j}]` must be a text block")))?;
                parts.push(text_part(text, b.get("cache_control")));
            }
            if parts.is_empty() {
                return Ok(None);
            }
            let cached = parts.iter().any(|p| p.get("cache_control").is_some());
            let content = if cached {
                Value::Array(parts)
            } else {
                // The chat → Anthropic direction joins system messages the same way.
                let texts: Vec<&str> = parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect();
                Value::String(texts.join("\n\n"))
            };
            Ok(Some(json!({"role": "system", "content": content})))
        }
        _ => Err(invalid(
            "`system` must be a string or an array of text blocks",
        )),
    }
}

fn text_part(text: &str, cache_control: Option<&Value>) -> Value {
    let mut part = json!({"type": "text", "text": text});
    if let Some(c) = cache_control.filter(|c| !c.is_null()) {
        part["cache_control"] = c.clone();
    }
    part
}

/// Parts as chat content: a lone uncached text part is a plain string, which every
/// OpenAI-compatible server takes.
fn content_of(mut parts: Vec<Value>) -> Value {
    if parts.len() == 1
        && parts[0].get("type").and_then(Value::as_str) == Some("text")
        && parts[0].get("cache_control").is_none()
        && let Some(Value::String(text)) = parts[0].get_mut("text").map(Value::take)
    {
        return Value::String(text);
    }
    Value::Array(parts)
}

/// One Anthropic turn as chat messages: a user turn's `tool_result` blocks become `tool`
/// messages (first, as they answer the previous turn), the rest one user message; an
/// assistant turn becomes one assistant message with its thinking in `reasoning_details`.
fn translate_turn(
    turn: &Value,
    i: usize,
    out: &mut Vec<Value>,
    note: &mut impl FnMut(String),
) -> Result<(), TranslateError> {
    let role = match turn.get("role").and_then(Value::as_str) {
        Some(r @ ("user" | "assistant")) => r,
        Some(other) => {
            return Err(invalid(format!(
                "`messages[{i}].role` must be \"user\" or \"assistant\", got \"{other}\""
            )));
        }
        None => {
            return Err(invalid(format!(
                "`messages[{i}]` must be an object with a `role`"
            )));
        }
    };
    let blocks = match turn.get("content") {
        Some(Value::String(s)) => {
            out.push(json!({"role": role, "content": s}));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        _ => {
            return Err(invalid(format!(
                "`messages[{i}].content` must be a string or an array of content blocks"
            )));
        }
    };
    if role == "user" {
        let mut parts = Vec::new();
        for (j, b) in blocks.iter().enumerate() {
            let at = || format!("messages[{i}].content[{j}]");
            match block_type(b) {
                "tool_result" => {
                    let id = b
                        .get("tool_use_id")
                        .and_then(Value::as_str)
                        .ok_or_else(|| invalid(format!("`{}.tool_use_id` is required", at())))?;
                    let content = match b.get("content") {
                        None | Some(Value::Null) => Value::String(String::new()),
                        Some(Value::String(s)) => Value::String(s.clone()),
                        Some(Value::Array(inner)) => {
                            let mut inner_parts = Vec::with_capacity(inner.len());
                            for (k, ib) in inner.iter().enumerate() {
                                let where_ = format!("{}.content[{k}]", at());
                                if let Some(p) = user_part(ib, &where_, note)? {
                                    inner_parts.push(p);
                                }
                            }
                            content_of(inner_parts)
                        }
                        Some(_) => {
                            return Err(invalid(format!(
                                "`{}.content` must be a string or an array of blocks",
                                at()
                            )));
                        }
                    };
                    let mut m = json!({"role": "tool", "tool_call_id": id, "content": content});
                    if let Some(c) = b.get("cache_control").filter(|c| !c.is_null()) {
                        m["cache_control"] = c.clone();
                    }
                    out.push(m);
                }
                _ => {
                    if let Some(p) = user_part(b, &at(), note)? {
                        parts.push(p);
                    }
                }
            }
        }
        if !parts.is_empty() {
            out.push(json!({"role": "user", "content": content_of(parts)}));
        }
        return Ok(());
    }

    let mut parts = Vec::new();
    let mut reasoning = String::new();
    let mut details = Vec::new();
    let mut calls = Vec::new();
    for (j, b) in blocks.iter().enumerate() {
        let at = || format!("messages[{i}].content[{j}]");
        match block_type(b) {
            "text" => {
                let text = b.get("text").and_then(Value::as_str).unwrap_or("");
                if !text.is_empty() {
                    parts.push(text_part(text, b.get("cache_control")));
                }
            }
            "thinking" => {
                let text = b.get("thinking").and_then(Value::as_str).unwrap_or("");
                reasoning.push_str(text);
                let mut d = json!({"type": "reasoning.text", "text": text,
                    "format": REASONING_FORMAT, "index": details.len()});
                if let Some(sig) = b.get("signature").and_then(Value::as_str) {
                    d["signature"] = Value::String(sig.to_owned());
                }
                details.push(d);
            }
            "redacted_thinking" => {
                let data = b.get("data").and_then(Value::as_str).unwrap_or("");
                details.push(json!({"type": "reasoning.encrypted", "data": data,
                    "format": REASONING_FORMAT, "index": details.len()}));
            }
            "tool_use" => {
                let id = b
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("`{}.id` is required", at())))?;
                let name = b
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("`{}.name` is required", at())))?;
                let input = match b.get("input") {
                    None | Some(Value::Null) => "{}".to_owned(),
                    Some(v) => v.to_string(),
                };
                calls.push(json!({"id": id, "type": "function",
                    "function": {"name": name, "arguments": input}}));
            }
            other => note(format!("`{}` blocks of type \"{other}\"", at())),
        }
    }
    let mut m = json!({"role": "assistant", "content": Value::Null});
    if !parts.is_empty() {
        m["content"] = content_of(parts);
    }
    if !reasoning.is_empty() {
        m["reasoning"] = Value::String(reasoning);
    }
    if !details.is_empty() {
        m["reasoning_details"] = Value::Array(details);
    }
    if !calls.is_empty() {
        m["tool_calls"] = Value::Array(calls);
    }
    out.push(m);
    Ok(())
}

fn block_type(b: &Value) -> &str {
    b.get("type").and_then(Value::as_str).unwrap_or("")
}

/// A user content block as a chat content part (`None` for one that carries nothing).
fn user_part(
    b: &Value,
    at: &str,
    note: &mut impl FnMut(String),
) -> Result<Option<Value>, TranslateError> {
    let cache_control = b.get("cache_control").filter(|c| !c.is_null());
    let with_cache = |mut part: Value| {
        if let Some(c) = cache_control {
            part["cache_control"] = c.clone();
        }
        part
    };
    Ok(match block_type(b) {
        "text" => {
            let text = b.get("text").and_then(Value::as_str).unwrap_or("");
            (!text.is_empty()).then(|| text_part(text, cache_control))
        }
        "image" => {
            let source = b.get("source").unwrap_or(&Value::Null);
            match source.get("type").and_then(Value::as_str) {
                Some("base64") => {
                    let media = source.get("media_type").and_then(Value::as_str);
                    let data = source.get("data").and_then(Value::as_str);
                    let (Some(media), Some(data)) = (media, data) else {
                        return Err(invalid(format!(
                            "`{at}.source` needs `media_type` and `data`"
                        )));
                    };
                    Some(with_cache(json!({"type": "image_url",
                        "image_url": {"url": format!("data:{media};base64,{data}")}})))
                }
                Some("url") => {
                    let url = source
                        .get("url")
                        .and_then(Value::as_str)
                        .ok_or_else(|| invalid(format!("`{at}.source.url` is required")))?;
                    Some(with_cache(
                        json!({"type": "image_url", "image_url": {"url": url}}),
                    ))
                }
                other => {
                    note(format!(
                        "`{at}` images with a source of type {}",
                        other.unwrap_or("(none)")
                    ));
                    None
                }
            }
        }
        "document" => {
            let source = b.get("source").unwrap_or(&Value::Null);
            match source.get("type").and_then(Value::as_str) {
                Some("base64") => {
                    let media = source
                        .get("media_type")
                        .and_then(Value::as_str)
                        .unwrap_or("application/pdf");
                    let data = source.get("data").and_then(Value::as_str).unwrap_or("");
                    let mut file = json!({"file_data": format!("data:{media};base64,{data}")});
                    if let Some(title) = b.get("title").and_then(Value::as_str) {
                        file["filename"] = Value::String(title.to_owned());
                    }
                    Some(with_cache(json!({"type": "file", "file": file})))
                }
                Some("text") => {
                    let data = source.get("data").and_then(Value::as_str).unwrap_or("");
                    (!data.is_empty()).then(|| text_part(data, cache_control))
                }
                other => {
                    note(format!(
                        "`{at}` documents with a source of type {}",
                        other.unwrap_or("(none)")
                    ));
                    None
                }
            }
        }
        other => {
            note(format!("`{at}` blocks of type \"{other}\""));
            None
        }
    })
}

/// `thinking` → OpenRouter's `reasoning` (the budget as `max_tokens`).
fn reasoning_of(thinking: Option<&Value>) -> Result<Option<Value>, TranslateError> {
    let Some(t) = thinking.filter(|t| !t.is_null()) else {
        return Ok(None);
    };
    match t.get("type").and_then(Value::as_str) {
        Some("enabled") => {
            let budget = t
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .ok_or_else(|| invalid("`thinking.budget_tokens` must be a positive integer"))?;
            Ok(Some(json!({"max_tokens": budget})))
        }
        Some("disabled") => Ok(Some(json!({"enabled": false}))),
        // The model decides how much to think: OpenRouter's default effort.
        Some("adaptive") => Ok(Some(json!({"enabled": true}))),
        _ => Err(invalid(
            "`thinking.type` must be \"enabled\", \"disabled\" or \"adaptive\"",
        )),
    }
}

fn translate_tools(
    body: &Map<String, Value>,
    out: &mut Map<String, Value>,
    note: &mut impl FnMut(String),
) -> Result<(), TranslateError> {
    let mut tools = Vec::new();
    match body.get("tools") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, t) in list.iter().enumerate() {
                match t.get("type").and_then(Value::as_str) {
                    None | Some("custom") => {}
                    Some(kind) => {
                        // Server tools and Anthropic-defined client tools (bash, editor, …).
                        note(format!("`tools[{i}]` of type \"{kind}\""));
                        continue;
                    }
                }
                let name = t
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("`tools[{i}].name` is required")))?;
                let mut function = json!({"name": name});
                if let Some(d) = t.get("description").and_then(Value::as_str) {
                    function["description"] = Value::String(d.to_owned());
                }
                function["parameters"] = match t.get("input_schema") {
                    Some(s @ Value::Object(_)) => s.clone(),
                    _ => json!({"type": "object", "properties": {}}),
                };
                let mut tool = json!({"type": "function", "function": function});
                if let Some(c) = t.get("cache_control").filter(|c| !c.is_null()) {
                    tool["cache_control"] = c.clone();
                }
                tools.push(tool);
            }
        }
        Some(_) => return Err(invalid("`tools` must be an array")),
    }
    let choice = body.get("tool_choice").filter(|c| !c.is_null());
    if let Some(c) = choice {
        if c.get("disable_parallel_tool_use").and_then(Value::as_bool) == Some(true) {
            out.insert("parallel_tool_calls".into(), Value::Bool(false));
        }
        let mapped = match c.get("type").and_then(Value::as_str) {
            Some("auto") => json!("auto"),
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => {
                let name = c
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("`tool_choice.name` is required"))?;
                json!({"type": "function", "function": {"name": name}})
            }
            _ => {
                return Err(invalid(
                    "`tool_choice.type` must be \"auto\", \"any\", \"tool\" or \"none\"",
                ));
            }
        };
        if !tools.is_empty() {
            out.insert("tool_choice".into(), mapped);
        }
    }
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
    }
    Ok(())
}

/// Structured output (`output_config.format` or the older `output_format`) → OpenAI's
/// `response_format`.
fn output_format(body: &Map<String, Value>) -> Option<Value> {
    let format = body
        .get("output_config")
        .and_then(|c| c.get("format"))
        .or_else(|| body.get("output_format"))
        .filter(|f| f.get("type").and_then(Value::as_str) == Some("json_schema"))?;
    let schema = format.get("schema")?.clone();
    Some(json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}))
}

// ---- Chat answers → Anthropic ----

/// The Anthropic stop reasons (spec §A.3); an upstream's own is kept when it is one of them.
const STOP_REASONS: &[&str] = &[
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
];

/// `finish_reason` (with the upstream's native reason, when known) → `stop_reason`.
pub fn stop_reason(finish_reason: Option<&str>, native: Option<&str>) -> &'static str {
    if let Some(n) = native.and_then(|n| STOP_REASONS.iter().find(|r| **r == n)) {
        return n;
    }
    match finish_reason {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// The stop sequence that ended the answer, when the upstream says which: vLLM and others
/// put the matched string in the choice's `stop_reason`.
fn matched_stop(choice: &Value, stop_sequences: &[String]) -> Option<String> {
    let said = choice.get("stop_reason").and_then(Value::as_str)?;
    stop_sequences
        .iter()
        .find(|s| *s == said)
        .map(ToOwned::to_owned)
}

/// Chat usage → Anthropic usage: `input_tokens` excludes cache reads and writes (§D.2).
pub fn usage_of(usage: &Value) -> Value {
    let n = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    let prompt = n(usage.get("prompt_tokens"));
    let details = usage.get("prompt_tokens_details");
    let read = n(details.and_then(|d| d.get("cached_tokens")));
    let write = n(details.and_then(|d| d.get("cache_write_tokens")));
    json!({
        "input_tokens": prompt.saturating_sub(read).saturating_sub(write),
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
        "output_tokens": n(usage.get("completion_tokens")),
    })
}

/// A chat completion (ours: `id`, `model`, one choice, `usage`) as an Anthropic Message.
pub fn message_from_completion(completion: &Value, stop_sequences: &[String]) -> Value {
    let choice = completion
        .get("choices")
        .and_then(|c| c.get(0))
        .unwrap_or(&Value::Null);
    let message = choice.get("message").unwrap_or(&Value::Null);
    let mut content = Vec::new();
    let details = message
        .get("reasoning_details")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty());
    match details {
        Some(details) => content.extend(thinking_from_details(details)),
        None => {
            let reasoning = message
                .get("reasoning")
                .or_else(|| message.get("reasoning_content"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if !reasoning.is_empty() {
                content.push(json!({"type": "thinking", "thinking": reasoning, "signature": ""}));
            }
        }
    }
    let text = message
        .get("content")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .or_else(|| message.get("refusal").and_then(Value::as_str));
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        content.push(json!({"type": "text", "text": text}));
    }
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let f = call.get("function").unwrap_or(&Value::Null);
        let args = f.get("arguments").and_then(Value::as_str).unwrap_or("");
        content.push(json!({
            "type": "tool_use",
            "id": call.get("id").and_then(Value::as_str).unwrap_or(""),
            "name": f.get("name").and_then(Value::as_str).unwrap_or(""),
            "input": tool_input(args),
        }));
    }
    let finish = choice.get("finish_reason").and_then(Value::as_str);
    let native = choice.get("native_finish_reason").and_then(Value::as_str);
    let matched = matched_stop(choice, stop_sequences);
    let reason = if matched.is_some() {
        "stop_sequence"
    } else {
        stop_reason(finish, native)
    };
    json!({
        "id": completion.get("id").cloned().unwrap_or(Value::Null),
        "type": "message",
        "role": "assistant",
        "model": completion.get("model").cloned().unwrap_or(Value::Null),
        "content": content,
        "stop_reason": reason,
        "stop_sequence": matched,
        "usage": usage_of(completion.get("usage").unwrap_or(&Value::Null)),
    })
}

/// Tool-call arguments as the object `tool_use.input` must be; arguments cut short or not
/// an object are kept, as text, rather than lost.
fn tool_input(args: &str) -> Value {
    if args.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(args) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({"_arguments": args}),
    }
}

/// `reasoning_details` → thinking / redacted_thinking blocks, fragments sharing an `index`
/// joined (streams split text and signature).
fn thinking_from_details(details: &[Value]) -> Vec<Value> {
    let mut blocks: Vec<(Option<u64>, Value)> = Vec::new();
    for d in details {
        let index = d.get("index").and_then(Value::as_u64);
        let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        match d.get("type").and_then(Value::as_str) {
            Some("reasoning.text") => {
                let existing = index.and_then(|ix| {
                    blocks
                        .iter_mut()
                        .find(|(i, b)| *i == Some(ix) && b["type"] == "thinking")
                });
                match existing {
                    Some((_, b)) => {
                        let joined = b["thinking"].as_str().unwrap_or("").to_owned() + &s("text");
                        let sig = b["signature"].as_str().unwrap_or("").to_owned() + &s("signature");
                        b["thinking"] = Value::String(joined);
                        b["signature"] = Value::String(sig);
                    }
                    None => blocks.push((
                        index,
                        json!({"type": "thinking", "thinking": s("text"), "signature": s("signature")}),
                    )),
                }
            }
            Some("reasoning.summary") => blocks.push((
                index,
                json!({"type": "thinking", "thinking": s("summary"), "signature": ""}),
            )),
            Some("reasoning.encrypted") => {
                blocks.push((
                    index,
                    json!({"type": "redacted_thinking", "data": s("data")}),
                ));
            }
            _ => {}
        }
    }
    blocks.into_iter().map(|(_, b)| b).collect()
}

/// An error as Anthropic's envelope: `{"type":"error","error":{"type","message"},…}`, with
/// OpenRouter's `error_type` kept inside and the generation id as `request_id`.
pub fn error_body(kind: ErrorType, message: &str, request_id: Option<&str>) -> Value {
    json!({
        "type": "error",
        "error": {"type": kind.anthropic(), "message": message, "error_type": kind.as_str()},
        "request_id": request_id,
    })
}

// ---- Chat stream → Anthropic events ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    /// The `reasoning_details` index it came from (a new index opens a new block).
    Thinking(Option<u64>),
    /// The chat tool-call index.
    Tool(u64),
}

/// Re-frames our chat SSE stream (`data: {chunk}` frames, comments, `[DONE]`) as Anthropic
/// events, one frame at a time: `message_start` before the first chunk, a content block per
/// run of text, thinking or one tool call, `message_delta` with the stop reason and usage
/// from the final usage chunk, then `message_stop`. An error chunk becomes an `error` event.
///
/// Frames that already are Anthropic events (`event: …`, from an Anthropic upstream passed
/// through) go out untouched, and our own closing usage chunk and `[DONE]` are then dropped:
/// the upstream sent its own `message_delta` and `message_stop`.
#[derive(Debug, Default)]
pub struct StreamEncoder {
    started: bool,
    native: bool,
    ended: bool,
    /// Index of the next content block.
    next: usize,
    /// The open block, with its index.
    open: Option<(usize, Open)>,
    /// Chat tool-call index → block index, for argument fragments.
    tools: Vec<(u64, usize)>,
    finish: Option<String>,
    native_finish: Option<String>,
    /// `input_tokens` announced in `message_start`, before the upstream has reported any.
    input_estimate: u64,
}

impl StreamEncoder {
    /// `input_estimate` goes in `message_start`; the reported count follows in `message_delta`.
    pub fn new(input_estimate: u64) -> Self {
        Self {
            input_estimate,
            ..Self::default()
        }
    }

    /// True once the stream has been closed (by `message_stop` or an `error` event).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The Anthropic bytes for one of our frames (empty when it maps to nothing).
    pub fn encode(&mut self, frame: &[u8]) -> Vec<u8> {
        if frame.starts_with(b"event:") {
            self.native = true;
            self.started = true;
            return frame.to_vec();
        }
        let Some(data) = frame.strip_prefix(b"data: ") else {
            // Comments (`: OPENROUTER PROCESSING`) keep the connection alive in any dialect.
            return frame.to_vec();
        };
        let data = data.trim_ascii_end();
        if data == b"[DONE]" || self.ended {
            return Vec::new();
        }
        let Ok(chunk) = serde_json::from_slice::<Value>(data) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            self.ended = true;
            let kind = error
                .pointer("/metadata/error_type")
                .and_then(Value::as_str)
                .and_then(ErrorType::parse)
                .unwrap_or_else(|| {
                    ErrorType::for_status(
                        error
                            .get("code")
                            .and_then(Value::as_u64)
                            .and_then(|c| u16::try_from(c).ok())
                            .unwrap_or(500),
                    )
                });
            let message = error.get("message").and_then(Value::as_str).unwrap_or("");
            event(
                &mut out,
                &error_body(kind, message, chunk.get("id").and_then(Value::as_str)),
            );
            return out;
        }
        if self.native {
            // Our closing chunk after a passed-through stream: the upstream closed it already.
            return out;
        }
        if !self.started {
            self.started = true;
            event(
                &mut out,
                &json!({"type": "message_start", "message": {
                    "id": chunk.get("id").cloned().unwrap_or(Value::Null),
                    "type": "message", "role": "assistant",
                    "model": chunk.get("model").cloned().unwrap_or(Value::Null),
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": self.input_estimate, "output_tokens": 0}}}),
            );
        }
        if let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) {
            if let Some(delta) = choice.get("delta") {
                self.delta(&mut out, delta);
            }
            if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish = Some(f.to_owned());
                self.native_finish = choice
                    .get("native_finish_reason")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
        }
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.close(&mut out);
            let reason = stop_reason(self.finish.as_deref(), self.native_finish.as_deref());
            event(
                &mut out,
                &json!({"type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": null},
                    "usage": usage_of(usage)}),
            );
            event(&mut out, &json!({"type": "message_stop"}));
            self.ended = true;
        }
        out
    }

    fn delta(&mut self, out: &mut Vec<u8>, delta: &Value) {
        let details = delta
            .get("reasoning_details")
            .and_then(Value::as_array)
            .filter(|d| !d.is_empty());
        match details {
            Some(details) => {
                for d in details {
                    self.detail(out, d);
                }
            }
            None => {
                let reasoning = delta
                    .get("reasoning")
                    .or_else(|| delta.get("reasoning_content"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !reasoning.is_empty() {
                    self.thinking(out, None, reasoning, None);
                }
            }
        }
        for key in ["content", "refusal"] {
            if let Some(text) = delta
                .get(key)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                let index = self.ensure(out, Open::Text);
                block_delta(out, index, json!({"type": "text_delta", "text": text}));
            }
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let n = call.get("index").and_then(Value::as_u64).unwrap_or(0);
            let f = call.get("function").unwrap_or(&Value::Null);
            let index = match self.tools.iter().find(|(t, _)| *t == n) {
                Some((_, index)) => *index,
                None => {
                    self.close(out);
                    let index = self.start(
                        out,
                        Open::Tool(n),
                        json!({"type": "tool_use",
                            "id": call.get("id").and_then(Value::as_str).unwrap_or(""),
                            "name": f.get("name").and_then(Value::as_str).unwrap_or(""),
                            "input": {}}),
                    );
                    self.tools.push((n, index));
                    index
                }
            };
            if let Some(args) = f
                .get("arguments")
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
            {
                block_delta(
                    out,
                    index,
                    json!({"type": "input_json_delta", "partial_json": args}),
                );
            }
        }
    }

    fn detail(&mut self, out: &mut Vec<u8>, d: &Value) {
        let index = d.get("index").and_then(Value::as_u64);
        let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("");
        match d.get("type").and_then(Value::as_str) {
            Some("reasoning.text") => {
                let sig = Some(s("signature")).filter(|s| !s.is_empty());
                self.thinking(out, index, s("text"), sig);
            }
            Some("reasoning.summary") => self.thinking(out, index, s("summary"), None),
            Some("reasoning.encrypted") => {
                self.close(out);
                let i = self.start(
                    out,
                    Open::Thinking(index),
                    json!({"type": "redacted_thinking", "data": s("data")}),
                );
                stop_block(out, i);
                self.open = None;
            }
            _ => {}
        }
    }

    fn thinking(&mut self, out: &mut Vec<u8>, detail: Option<u64>, text: &str, sig: Option<&str>) {
        let index = self.ensure(out, Open::Thinking(detail));
        if !text.is_empty() {
            block_delta(
                out,
                index,
                json!({"type": "thinking_delta", "thinking": text}),
            );
        }
        if let Some(sig) = sig {
            block_delta(
                out,
                index,
                json!({"type": "signature_delta", "signature": sig}),
            );
        }
    }

    /// The index of an open block of this kind, opening one (and closing another) if needed.
    fn ensure(&mut self, out: &mut Vec<u8>, kind: Open) -> usize {
        match self.open {
            Some((index, open)) if open == kind => index,
            // A detail without an index continues whatever thinking block is open.
            Some((index, Open::Thinking(_))) if kind == Open::Thinking(None) => index,
            _ => {
                self.close(out);
                let block = match kind {
                    Open::Text => json!({"type": "text", "text": ""}),
                    _ => json!({"type": "thinking", "thinking": "", "signature": ""}),
                };
                self.start(out, kind, block)
            }
        }
    }

    fn start(&mut self, out: &mut Vec<u8>, kind: Open, block: Value) -> usize {
        let index = self.next;
        self.next += 1;
        event(
            out,
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
        self.open = Some((index, kind));
        index
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if let Some((index, _)) = self.open.take() {
            stop_block(out, index);
        }
    }
}

fn block_delta(out: &mut Vec<u8>, index: usize, delta: Value) {
    event(
        out,
        &json!({"type": "content_block_delta", "index": index, "delta": delta}),
    );
}

fn stop_block(out: &mut Vec<u8>, index: usize) {
    event(out, &json!({"type": "content_block_stop", "index": index}));
}

/// `event: <type>\ndata: <json>\n\n`, as Anthropic frames every event.
fn event(out: &mut Vec<u8>, data: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(
        data.get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .as_bytes(),
    );
    out.extend_from_slice(b"\ndata: ");
    // A `Value` always serializes.
    out.extend_from_slice(&serde_json::to_vec(data).unwrap_or_default());
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests;
