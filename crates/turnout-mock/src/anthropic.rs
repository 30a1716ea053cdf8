//! The Anthropic dialect of the mock: `POST /v1/messages`, non-streaming and SSE (with
//! `event:` lines, pings and cumulative `message_delta` usage), Anthropic's error envelope,
//! `x-api-key`, and the same fault injection as the OpenAI route (a flaky mock answers 529
//! `overloaded_error` here).
//!
//! What it answers:
//! - when the request offers `tools` (and `tool_choice` is not `none`) and its last turn holds
//!   no `tool_result`: one `tool_use` of the named tool (else the first), with string
//!   properties of its schema filled with `"mock"`; `stop_reason: "tool_use"`;
//! - otherwise text, as the OpenAI route builds it (`reply`, or words seeded by the last user
//!   text); after a `tool_result`, "Tool result: <its text>" unless `reply` is set;
//! - with `thinking` enabled, a thinking block with a `mock-signature-…` first. A later turn
//!   that replays an assistant `tool_use` without that signed thinking block gets the 400
//!   Anthropic sends, so signature round trips are checked.
//!
//! Requests are read as a JSON tree: this route serves tests, not benchmarks.

use std::fmt::Write as _;

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::config::{MockConfig, MockOverride};
use crate::dialect::{Dialect, before_answer, respond_json, respond_stream};
use crate::handlers::{effective, header_override, json_response};
use crate::reply::{RenderedStream, build_reply, mix};
use crate::state::MockState;

const MAX_BODY_BYTES: usize = 64 << 20;

/// Anthropic's error envelope.
pub(crate) fn anthropic_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": kind, "message": message},
        "request_id": "req_mock"});
    json_response(status, Bytes::from(body.to_string()))
}

/// The error Anthropic sends for `status` (spec/providers.md §A.5).
fn default_error(status: StatusCode) -> Response {
    let (kind, message) = match status.as_u16() {
        400 => ("invalid_request_error", "Invalid request (mock fault)."),
        401 => ("authentication_error", "invalid x-api-key"),
        402 => (
            "billing_error",
            "Your credit balance is too low (mock fault).",
        ),
        403 => (
            "permission_error",
            "Your API key does not have permission (mock fault).",
        ),
        404 => (
            "not_found_error",
            "The requested resource could not be found.",
        ),
        413 => (
            "request_too_large",
            "Request exceeds the maximum allowed size.",
        ),
        429 => (
            "rate_limit_error",
            "Number of request tokens has exceeded your rate limit (mock fault).",
        ),
        504 => ("timeout_error", "Request timed out (mock fault)."),
        529 | 503 => ("overloaded_error", "Overloaded"),
        s if s >= 500 => ("api_error", "Internal server error (mock fault)."),
        _ => ("invalid_request_error", "Request failed (mock fault)."),
    };
    anthropic_error(status, kind, message)
}

fn invalid(message: &str) -> Response {
    anthropic_error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

/// A non-stream body that is not JSON (cut mid-object).
const MALFORMED_BODY: &str =
    "{\"id\":\"msg_mock\",\"type\":\"message\",\"content\":[{\"type\":\"te";
const MALFORMED_STREAM: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_mo\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
/// A stream that ends without any content.
const EMPTY_STREAM: &str = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

pub(crate) async fn messages(State(state): State<MockState>, request: Request) -> Response {
    let outcome = state.begin();
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(e) => {
            outcome.complete();
            return anthropic_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                &format!("Could not read the request body: {e}"),
            );
        }
    };
    let header = match header_override(&parts.headers) {
        Ok(h) => h,
        Err(message) => {
            outcome.complete();
            return invalid(&message);
        }
    };
    let mut req: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            outcome.complete();
            return invalid("The request body is not valid JSON.");
        }
    };
    state.remember_request(body.clone());
    let body_override = req
        .as_object_mut()
        .and_then(|o| o.remove("mock"))
        .and_then(|m| serde_json::from_value::<MockOverride>(m).ok());
    let prepared = effective(&state, header, body_override);
    let config: &MockConfig = &prepared.config;
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("claude-mock")
        .to_owned();
    let streaming = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let refused = validate(&req).err().map(|message| invalid(&message));
    let outcome = match before_answer::<Anthropic>(
        config, &state, &parts, &model, streaming, refused, outcome,
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(response) => return response,
    };
    let answer = answer(config, &req, state.next_id());
    if streaming {
        respond_stream(config, outcome, answer.stream())
    } else {
        respond_json(config, outcome, Bytes::from(answer.message().to_string()))
    }
}

/// The Anthropic dialect: its envelope, `x-api-key`, 529 `overloaded_error` when flaky.
struct Anthropic;

impl Dialect for Anthropic {
    const MALFORMED_BODY: &'static str = MALFORMED_BODY;
    const MALFORMED_STREAM: &'static str = MALFORMED_STREAM;
    const EMPTY_STREAM: &'static str = EMPTY_STREAM;

    fn error(status: StatusCode, _model: &str) -> Response {
        default_error(status)
    }

    fn key_rejected(parts: &Parts, key: &str, _model: &str) -> Option<Response> {
        (!key_matches(&parts.headers, key)).then(|| default_error(StatusCode::UNAUTHORIZED))
    }

    fn overloaded(_model: &str) -> Response {
        default_error(StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE))
    }
}

fn key_matches(headers: &HeaderMap, key: &str) -> bool {
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| given.trim() == key)
}

/// What the real API rejects and a translator could get wrong.
fn validate(req: &Value) -> Result<(), String> {
    if !req.get("max_tokens").is_some_and(Value::is_u64) {
        return Err("max_tokens: Field required".to_owned());
    }
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("messages: Field required")?;
    let thinking = req.pointer("/thinking/type").and_then(Value::as_str) == Some("enabled");
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        if role != "user" && role != "assistant" {
            return Err(format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            ));
        }
        let blocks = m.get("content").and_then(Value::as_array);
        let has = |kind: &str| {
            blocks.is_some_and(|b| {
                b.iter()
                    .any(|x| x.get("type").and_then(Value::as_str) == Some(kind))
            })
        };
        if thinking && role == "assistant" && has("tool_use") {
            let signed = blocks.is_some_and(|b| {
                b.first().is_some_and(|x| {
                    x.get("type").and_then(Value::as_str) == Some("thinking")
                        && x.get("signature")
                            .and_then(Value::as_str)
                            .is_some_and(|s| s.starts_with("mock-signature-"))
                })
            });
            if !signed {
                return Err(format!(
                    "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` message must start with a thinking block."
                ));
            }
        }
    }
    Ok(())
}

/// The text of content that is a string or blocks (text blocks and tool results' text).
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| match b.get("type").and_then(Value::as_str) {
                Some("text") => b
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                Some("tool_result") => text_of(b.get("content").unwrap_or(&Value::Null)),
                _ => String::new(),
            })
            .collect(),
        _ => String::new(),
    }
}

struct Answer {
    id: u64,
    model: String,
    input_tokens: u64,
    thinking: Option<(String, String)>,
    text: Option<(String, Vec<usize>)>,
    tool: Option<(String, String, Value)>,
    stop_reason: &'static str,
    output_tokens: u64,
}

fn answer(config: &MockConfig, req: &Value, id: u64) -> Answer {
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut chars = req.get("system").map_or(0, |s| text_of(s).chars().count());
    for m in messages {
        chars += text_of(m.get("content").unwrap_or(&Value::Null))
            .chars()
            .count();
    }
    let last = messages.last();
    let last_user_text = last.map_or(String::new(), |m| {
        text_of(m.get("content").unwrap_or(&Value::Null))
    });
    let after_tool_result = last
        .and_then(|m| m.get("content"))
        .and_then(Value::as_array)
        .is_some_and(|b| {
            b.iter()
                .any(|x| x.get("type").and_then(Value::as_str) == Some("tool_result"))
        });
    let seed = last_user_text
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    let max_tokens = req.get("max_tokens").and_then(Value::as_u64);
    let thinking =
        (req.pointer("/thinking/type").and_then(Value::as_str) == Some("enabled")).then(|| {
            (
                "Mock thinking about the request.".to_owned(),
                format!("mock-signature-{:016x}", mix(seed)),
            )
        });

    let tools = req
        .get("tools")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty());
    let choice = req.pointer("/tool_choice/type").and_then(Value::as_str);
    let tool = tools
        .filter(|_| choice != Some("none") && !after_tool_result)
        .and_then(|tools| {
            let named = req.pointer("/tool_choice/name").and_then(Value::as_str);
            let tool = tools
                .iter()
                .find(|t| named.is_none() || t.get("name").and_then(Value::as_str) == named)?;
            let name = tool.get("name").and_then(Value::as_str)?.to_owned();
            let mut input = serde_json::Map::new();
            if let Some(props) = tool
                .pointer("/input_schema/properties")
                .and_then(Value::as_object)
            {
                for (k, schema) in props {
                    let v = match schema.get("type").and_then(Value::as_str) {
                        Some("string") => json!("mock"),
                        Some("integer" | "number") => json!(1),
                        Some("boolean") => json!(true),
                        _ => Value::Null,
                    };
                    input.insert(k.clone(), v);
                }
            }
            Some((
                format!("toolu_mock{:016x}", mix(id)),
                name,
                Value::Object(input),
            ))
        });

    let thinking_tokens = if thinking.is_some() { 5 } else { 0 };
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("claude-mock")
        .to_owned();
    let input_tokens = (chars as u64).div_ceil(4);
    if let Some(tool) = tool {
        return Answer {
            id,
            model,
            input_tokens,
            thinking,
            text: None,
            tool: Some(tool),
            stop_reason: "tool_use",
            output_tokens: thinking_tokens + 10,
        };
    }
    let mut cfg = config.clone();
    if after_tool_result && cfg.reply.is_none() {
        cfg.reply = Some(format!("Tool result: {last_user_text}"));
    }
    let reply = build_reply(&cfg, seed, max_tokens);
    let mut start = 0;
    let pieces = reply
        .chunk_ends
        .iter()
        .map(|&end| {
            let len = end - start;
            start = end;
            len
        })
        .collect();
    Answer {
        id,
        model,
        input_tokens,
        thinking,
        stop_reason: if reply.finish_reason == "length" {
            "max_tokens"
        } else {
            "end_turn"
        },
        output_tokens: thinking_tokens + reply.completion_tokens,
        text: Some((reply.text, pieces)),
        tool: None,
    }
}

impl Answer {
    fn msg_id(&self) -> String {
        format!("msg_mock{:016x}", self.id)
    }

    fn message(&self) -> Value {
        let mut content = Vec::new();
        if let Some((thinking, signature)) = &self.thinking {
            content.push(json!({"type": "thinking", "thinking": thinking, "signature": signature}));
        }
        if let Some((text, _)) = &self.text {
            content.push(json!({"type": "text", "text": text}));
        }
        if let Some((id, name, input)) = &self.tool {
            content.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
        }
        json!({
            "id": self.msg_id(), "type": "message", "role": "assistant", "model": self.model,
            "content": content, "stop_reason": self.stop_reason, "stop_sequence": null,
            "usage": {"input_tokens": self.input_tokens, "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0, "output_tokens": self.output_tokens,
                "service_tier": "standard"},
        })
    }

    /// The event stream, cut into the slots [`frames`] paces: `[0]` message_start and a ping,
    /// then one slot per content delta (a block's start glued in front of its first delta,
    /// its stop in front of what follows), then message_delta, then message_stop.
    fn stream(&self) -> RenderedStream {
        let mut s = SseWriter::default();
        let mut start = self.message();
        start["content"] = json!([]);
        start["stop_reason"] = Value::Null;
        start["usage"]["output_tokens"] = json!(1);
        s.event(&json!({"type": "message_start", "message": start}));
        s.event(&json!({"type": "ping"}));
        s.end_slot();
        let mut index = 0;
        if let Some((thinking, signature)) = &self.thinking {
            s.event(&json!({"type": "content_block_start", "index": index,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""}}));
            s.delta(
                index,
                json!({"type": "thinking_delta", "thinking": thinking}),
            );
            s.delta(
                index,
                json!({"type": "signature_delta", "signature": signature}),
            );
            s.event(&json!({"type": "content_block_stop", "index": index}));
            index += 1;
        }
        if let Some((text, pieces)) = &self.text {
            s.event(&json!({"type": "content_block_start", "index": index,
                "content_block": {"type": "text", "text": ""}}));
            let mut at = 0;
            for len in pieces {
                let piece = text.get(at..at + len).unwrap_or("");
                at += len;
                s.delta(index, json!({"type": "text_delta", "text": piece}));
            }
            s.event(&json!({"type": "content_block_stop", "index": index}));
            index += 1;
        }
        if let Some((id, name, input)) = &self.tool {
            s.event(&json!({"type": "content_block_start", "index": index,
                "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}));
            let args = input.to_string();
            let mid = args
                .char_indices()
                .nth(args.chars().count() / 2)
                .map_or(0, |(i, _)| i);
            s.delta(
                index,
                json!({"type": "input_json_delta", "partial_json": ""}),
            );
            s.delta(
                index,
                json!({"type": "input_json_delta", "partial_json": &args[..mid]}),
            );
            s.delta(
                index,
                json!({"type": "input_json_delta", "partial_json": &args[mid..]}),
            );
            s.event(&json!({"type": "content_block_stop", "index": index}));
        }
        s.event(&json!({"type": "message_delta",
            "delta": {"stop_reason": self.stop_reason, "stop_sequence": null},
            "usage": {"input_tokens": self.input_tokens, "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0, "output_tokens": self.output_tokens}}));
        s.end_slot();
        s.event(&json!({"type": "message_stop"}));
        s.end_slot();
        RenderedStream {
            buf: Bytes::from(s.out),
            ends: s.ends,
            content: s.content,
        }
    }
}

#[derive(Default)]
struct SseWriter {
    out: String,
    ends: Vec<usize>,
    content: usize,
}

impl SseWriter {
    fn event(&mut self, data: &Value) {
        let kind = data.get("type").and_then(Value::as_str).unwrap_or("");
        let _ = write!(self.out, "event: {kind}\ndata: {data}\n\n");
    }

    fn delta(&mut self, index: usize, delta: Value) {
        self.event(&json!({"type": "content_block_delta", "index": index, "delta": delta}));
        self.end_slot();
        self.content += 1;
    }

    fn end_slot(&mut self) {
        self.ends.push(self.out.len());
    }
}
