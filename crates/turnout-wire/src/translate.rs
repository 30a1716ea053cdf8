//! What the translating adapters (Anthropic, Gemini) hand back in OpenAI terms: a rendered
//! non-streaming answer, and one step of a stream.

use serde_json::{Map, Value, json};

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

/// One function tool of the request's `tools`, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FunctionToolIn<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    /// The JSON Schema of its arguments, when it is an object.
    pub parameters: Option<&'a Value>,
    /// Anthropic's prompt-caching mark, on the tool or on its function.
    pub cache_control: Option<&'a Value>,
}

/// The request's function tools (`None` when it offers none); any other kind of tool is a
/// 400 naming `provider`, which has no equivalent.
pub fn function_tools<'a>(
    body: &'a Map<String, Value>,
    provider: &str,
) -> Result<Option<Vec<FunctionToolIn<'a>>>, TranslateError> {
    let Some(Value::Array(list)) = body.get("tools") else {
        return Ok(None);
    };
    if list.is_empty() {
        return Ok(None);
    }
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            if t.get("type").and_then(Value::as_str) != Some("function") {
                return Err(invalid(format!(
                    "`tools[{i}]`: only function tools can be sent to {provider}"
                )));
            }
            let f = t
                .get("function")
                .ok_or_else(|| invalid(format!("`tools[{i}].function` is required")))?;
            let name = f
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("`tools[{i}].function.name` is required")))?;
            Ok(FunctionToolIn {
                name,
                description: f.get("description").and_then(Value::as_str),
                parameters: f.get("parameters").filter(|p| p.is_object()),
                cache_control: t.get("cache_control").or_else(|| f.get("cache_control")),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The request's `tool_choice`, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolChoiceIn<'a> {
    Auto,
    None,
    /// `required` (or Anthropic's word, `any`): some tool must be called.
    Required,
    Named(&'a str),
}

pub fn tool_choice(body: &Map<String, Value>) -> Result<Option<ToolChoiceIn<'_>>, TranslateError> {
    match body.get("tool_choice") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Ok(Some(ToolChoiceIn::Auto)),
            "none" => Ok(Some(ToolChoiceIn::None)),
            "required" | "any" => Ok(Some(ToolChoiceIn::Required)),
            other => Err(invalid(format!(
                "`tool_choice` must be \"auto\", \"none\", \"required\" or a function, got \"{other}\""
            ))),
        },
        Some(v) => v
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .map(|name| Some(ToolChoiceIn::Named(name)))
            .ok_or_else(|| invalid("`tool_choice.function.name` is required")),
    }
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
