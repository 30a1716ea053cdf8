//! What the translating adapters (Anthropic, Gemini) hand back in OpenAI terms: a rendered
//! non-streaming answer, and one step of a stream.

use serde_json::{Value, json};

use crate::chat::Usage;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// The request cannot be expressed for the provider: the client's fault (a 400).
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn invalid(msg: impl Into<String>) -> TranslateError {
    TranslateError::Invalid(msg.into())
}

/// One `tool_calls[]` entry of an assistant message, checked: an id, a function name and
/// arguments that are a JSON object (empty arguments are `{}`), as both Anthropic's
/// `tool_use` and Gemini's `functionCall` need them.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCallIn<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub arguments: Value,
}

/// The tool calls of assistant message `m` (the `i`th), or a 400 naming the bad field.
pub fn assistant_tool_calls(m: &Value, i: usize) -> Result<Vec<ToolCallIn<'_>>, TranslateError> {
    let Some(calls) = m.get("tool_calls").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    calls
        .iter()
        .enumerate()
        .map(|(j, call)| {
            let id = call.get("id").and_then(Value::as_str).ok_or_else(|| {
                invalid(format!("`messages[{i}].tool_calls[{j}].id` is required"))
            })?;
            let f = call.get("function").unwrap_or(&Value::Null);
            let name = f.get("name").and_then(Value::as_str).ok_or_else(|| {
                invalid(format!(
                    "`messages[{i}].tool_calls[{j}].function.name` is required"
                ))
            })?;
            let raw = f.get("arguments").and_then(Value::as_str).unwrap_or("");
            let arguments = if raw.trim().is_empty() {
                json!({})
            } else {
                match serde_json::from_str::<Value>(raw) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => {
                        return Err(invalid(format!(
                            "`messages[{i}].tool_calls[{j}].function.arguments` must be a JSON object"
                        )));
                    }
                }
            };
            Ok(ToolCallIn {
                id,
                name,
                arguments,
            })
        })
        .collect()
}

/// What a non-streaming answer becomes in OpenAI terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The `choices[0].message` object, as JSON text.
    pub message: String,
    pub finish_reason: Option<&'static str>,
    pub native_finish_reason: Option<String>,
    pub usage: Usage,
}

/// What one upstream event means for the OpenAI stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamStep {
    /// Nothing to send (ping, block stop, unknown events, …).
    Nothing,
    /// One chunk: `choices[0]` with this delta (JSON text) and finish reason.
    Delta(ChunkDelta),
    /// The upstream said the answer is complete (Anthropic's `message_stop`; a Gemini stream
    /// just ends).
    Stop,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChunkDelta {
    pub delta: String,
    pub finish_reason: Option<&'static str>,
    pub native_finish_reason: Option<String>,
    /// Carries generated output (text, reasoning, a tool call, a finish): binds the stream.
    pub content: bool,
    /// Characters generated, for usage estimates when the upstream reports none.
    pub chars: usize,
}
