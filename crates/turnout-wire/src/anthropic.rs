//! Anthropic Messages on the wire (spec/providers.md §A, mapping §D.1–D.2), no IO: the request,
//! response and stream event shapes, and the translations from an OpenAI Chat Completions
//! request and back to OpenAI message, usage and chunk deltas.
//!
//! Translation works on `serde_json::Value`: this path is taken once per request to an
//! Anthropic endpoint, and a tree keeps the many optional shapes of OpenAI messages readable.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::chat::{CompletionTokensDetails, PromptTokensDetails, Usage};
pub use crate::translate::{ChunkDelta, Completion, StreamStep};

pub mod ingress;

/// The `anthropic-version` header value every request carries (spec §0.2: the safe pin).
pub const API_VERSION: &str = "2023-06-01";

/// `format` of the `reasoning_details` entries we produce, as OpenRouter names Claude's.
pub const REASONING_FORMAT: &str = "anthropic-claude-v1";

/// Default completion budget when neither the request nor the endpoint sets one: Anthropic
/// requires `max_tokens`.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// Anthropic refuses a thinking budget below this.
pub const MIN_THINKING_BUDGET: u64 = 1024;

// ---- Request ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagesRequest {
    pub model: String,
    pub max_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<System>,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Thinking>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// `system`: a plain string, or text blocks when one of them carries `cache_control`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum System {
    Text(String),
    Blocks(Vec<Block>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Block>,
}

/// A content block, in requests and responses. Block types this module does not model
/// (server tools, citations, …) read as [`Block::Other`] and are skipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Image {
        source: ImageSource,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Document {
        source: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    ToolResult {
        tool_use_id: String,
        content: ToolResultContent,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        is_error: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Thinking {
        thinking: String,
        #[serde(default)]
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    Base64 { media_type: String, data: String },
    Url { url: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolResultContent {
    Text(String),
    Blocks(Vec<Block>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub input_schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    Auto {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    Any {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    Tool {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Thinking {
    Enabled { budget_tokens: u64 },
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub user_id: String,
}

// ---- Response ----

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MessagesResponse {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub content: Vec<Block>,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub stop_sequence: Option<String>,
    #[serde(default)]
    pub usage: AnthropicUsage,
}

/// `usage` as Anthropic reports it. Every field is optional because `message_delta` sends
/// only what changed (newer captures repeat all of them: spec §0.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AnthropicUsage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens_details: Option<OutputTokensDetails>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OutputTokensDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// `message_delta` usage is cumulative: what it carries replaces what `message_start` said.
    pub fn merge(&mut self, later: &AnthropicUsage) {
        self.input_tokens = later.input_tokens.or(self.input_tokens);
        self.output_tokens = later.output_tokens.or(self.output_tokens);
        self.cache_creation_input_tokens = later
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = later
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
        self.output_tokens_details = later.output_tokens_details.or(self.output_tokens_details);
    }

    /// OpenAI usage: Anthropic's `input_tokens` excludes cached tokens, so the prompt is
    /// input + cache read + cache write (spec §D.2).
    pub fn to_openai(&self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let write = self.cache_creation_input_tokens.unwrap_or(0);
        let prompt = self.input_tokens.unwrap_or(0) + read + write;
        let completion = self.output_tokens.unwrap_or(0);
        let thinking = self.output_tokens_details.and_then(|d| d.thinking_tokens);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(read),
                cache_write_tokens: Some(write),
                audio_tokens: None,
            }),
            completion_tokens_details: thinking.map(|t| CompletionTokensDetails {
                reasoning_tokens: Some(t),
                ..CompletionTokensDetails::default()
            }),
            cost: None,
        }
    }
}

/// The error envelope, in HTTP bodies (`{"type":"error","error":{…}}`) and `error` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub message: String,
}

impl ErrorDetail {
    /// The HTTP status Anthropic pairs with this error type (spec §A.5), for errors that
    /// arrive inside a 200 stream.
    pub fn status(&self) -> u16 {
        match self.kind.as_str() {
            "invalid_request_error" => 400,
            "authentication_error" => 401,
            "billing_error" => 402,
            "permission_error" => 403,
            "not_found_error" => 404,
            "request_too_large" => 413,
            "rate_limit_error" => 429,
            "timeout_error" => 504,
            "overloaded_error" => 529,
            _ => 500,
        }
    }
}

// ---- Stream events ----

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    MessageStart {
        message: MessagesResponse,
    },
    ContentBlockStart {
        index: usize,
        content_block: Block,
    },
    ContentBlockDelta {
        index: usize,
        delta: BlockDelta,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        #[serde(default)]
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: Option<AnthropicUsage>,
    },
    MessageStop,
    Ping,
    Error {
        error: ErrorDetail,
    },
    /// The docs say to ignore event types one does not know.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        #[serde(default)]
        partial_json: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    SignatureDelta {
        signature: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct MessageDeltaBody {
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub stop_sequence: Option<String>,
}

// ---- OpenAI request → Anthropic ----

pub use crate::translate::TranslateError;
use crate::translate::{ToolChoiceIn, assistant_tool_calls, function_tools, invalid, tool_choice};

/// What the translation needs besides the request body.
#[derive(Debug, Clone, Copy)]
pub struct RequestOptions<'a> {
    pub model: &'a str,
    /// `max_tokens` when the request sets none (the endpoint's `max_completion_tokens`).
    pub default_max_tokens: u64,
    pub stream: bool,
}

/// The request parameters ([`crate::params::PARAMETERS`]) that [`request_from_openai`]
/// carries over. The others have no Anthropic equivalent (`seed`, penalties, `logit_bias`,
/// `logprobs`, `n`, …): routing drops them, or skips Anthropic endpoints when the client sets
/// `provider.require_parameters`.
pub const SUPPORTED_PARAMETERS: &[&str] = &[
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "max_tokens",
    "reasoning",
    "reasoning_effort",
    "response_format",
];

/// The tool a structured-output request is answered through: Anthropic has no JSON mode, so
/// `response_format` becomes a tool whose input schema is the requested schema, and the call
/// the model makes to it comes back as the answer's content (spec/providers.md, D.1).
pub const JSON_TOOL: &str = "json_response";

/// The schema `response_format` asks for: `json_schema`'s schema, or any object for
/// `json_object`; `None` for text.
fn structured_schema(body: &Map<String, Value>) -> Result<Option<Value>, TranslateError> {
    let Some(format) = body.get("response_format").filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "object"}))),
        Some("json_schema") => match format.pointer("/json_schema/schema") {
            Some(schema @ Value::Object(_)) => Ok(Some(schema.clone())),
            _ => Err(invalid(
                "`response_format.json_schema.schema` must be a JSON Schema object",
            )),
        },
        _ => Err(invalid(
            "`response_format.type` must be \"text\", \"json_object\" or \"json_schema\"",
        )),
    }
}

/// Translates an OpenAI/OpenRouter Chat Completions body (spec §D.1). OpenAI parameters
/// Anthropic has no equivalent for (see [`SUPPORTED_PARAMETERS`]) are left out.
pub fn request_from_openai(
    body: &Map<String, Value>,
    opts: RequestOptions<'_>,
) -> Result<MessagesRequest, TranslateError> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("`messages` must be an array"))?;
    let (system, messages) = translate_messages(messages)?;

    let mut max_tokens = positive(body.get("max_completion_tokens"))
        .or_else(|| positive(body.get("max_tokens")))
        .unwrap_or(opts.default_max_tokens);
    let thinking = match thinking_budget(body, max_tokens) {
        Some(budget) => {
            // Anthropic counts thinking inside `max_tokens` and wants the budget below it;
            // the client's `max_tokens` bounds the answer, so the budget is added on top.
            if budget >= max_tokens {
                max_tokens += budget;
            }
            Some(Thinking::Enabled {
                budget_tokens: budget,
            })
        }
        None => None,
    };

    let (mut tools, mut tool_choice) = translate_tools(body)?;
    if let Some(schema) = structured_schema(body)? {
        let description = body
            .get("response_format")
            .and_then(|f| f.pointer("/json_schema/description"))
            .and_then(Value::as_str)
            .unwrap_or("Give your answer by calling this tool: its input is the answer.");
        let client_tools = tools.as_ref().is_some_and(|t| !t.is_empty());
        tools.get_or_insert_with(Vec::new).push(Tool {
            name: JSON_TOOL.to_owned(),
            description: Some(description.to_owned()),
            input_schema: schema,
            cache_control: None,
        });
        tool_choice = match tool_choice {
            // Extended thinking refuses a forced tool: the model is asked, not forced.
            _ if thinking.is_some() => Some(ToolChoice::Auto {
                disable_parallel_tool_use: None,
            }),
            // The client's own tools stay callable; otherwise the answer must be the JSON.
            Some(ToolChoice::Tool {
                name,
                disable_parallel_tool_use,
            }) => Some(ToolChoice::Tool {
                name,
                disable_parallel_tool_use,
            }),
            _ if client_tools => Some(ToolChoice::Any {
                disable_parallel_tool_use: None,
            }),
            _ => Some(ToolChoice::Tool {
                name: JSON_TOOL.to_owned(),
                disable_parallel_tool_use: Some(true),
            }),
        };
    }
    let stop_sequences = match body.get("stop") {
        Some(Value::String(s)) => Some(vec![s.clone()]),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
    .filter(|v: &Vec<String>| !v.is_empty());
    // OpenAI's range is 0–2, Anthropic's 0–1: clamp rather than fail a request that another
    // endpoint of the same model would have served.
    let temperature = body
        .get("temperature")
        .and_then(Value::as_f64)
        .map(|t| t.clamp(0.0, 1.0));
    let metadata = body
        .get("user")
        .or_else(|| body.get("safety_identifier"))
        .and_then(Value::as_str)
        .map(|u| Metadata {
            user_id: u.to_owned(),
        });
    Ok(MessagesRequest {
        model: opts.model.to_owned(),
        max_tokens,
        system,
        messages,
        tools,
        tool_choice,
        thinking,
        temperature,
        top_p: body.get("top_p").and_then(Value::as_f64),
        top_k: body.get("top_k").and_then(Value::as_u64),
        stop_sequences,
        stream: opts.stream.then_some(true),
        metadata,
    })
}

fn positive(v: Option<&Value>) -> Option<u64> {
    v.and_then(Value::as_u64).filter(|n| *n > 0)
}

/// The thinking budget asked for by OpenRouter's `reasoning` (`max_tokens` or `effort`) or
/// OpenAI's `reasoning_effort`. Efforts take OpenRouter's shares of `max_tokens`.
fn thinking_budget(body: &Map<String, Value>, max_tokens: u64) -> Option<u64> {
    let reasoning = body.get("reasoning").and_then(Value::as_object);
    if let Some(r) = reasoning {
        if r.get("enabled").and_then(Value::as_bool) == Some(false) {
            return None;
        }
        if let Some(budget) = positive(r.get("max_tokens")) {
            return Some(budget.max(MIN_THINKING_BUDGET));
        }
    }
    let effort = reasoning
        .and_then(|r| r.get("effort"))
        .or_else(|| body.get("reasoning_effort"))
        .and_then(Value::as_str);
    let share = match effort {
        Some("xhigh") => 0.95,
        Some("high") => 0.8,
        Some("medium") => 0.5,
        Some("low") => 0.2,
        Some("minimal") => 0.1,
        Some(_) => return None,
        // `reasoning: {}` or `{"enabled": true}` turns it on at the default effort.
        None if reasoning.is_some() => 0.5,
        None => return None,
    };
    let budget = (max_tokens as f64 * share) as u64;
    Some(budget.clamp(MIN_THINKING_BUDGET, 128_000))
}

fn translate_tools(
    body: &Map<String, Value>,
) -> Result<(Option<Vec<Tool>>, Option<ToolChoice>), TranslateError> {
    let tools = function_tools(body, "Anthropic")?.map(|list| {
        list.into_iter()
            .map(|f| Tool {
                name: f.name.to_owned(),
                description: f.description.map(str::to_owned),
                input_schema: f
                    .parameters
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                cache_control: f.cache_control.cloned(),
            })
            .collect::<Vec<_>>()
    });
    let no_parallel =
        (body.get("parallel_tool_calls").and_then(Value::as_bool) == Some(false)).then_some(true);
    let choice = tool_choice(body)?.map(|c| match c {
        ToolChoiceIn::Auto => ToolChoice::Auto {
            disable_parallel_tool_use: no_parallel,
        },
        ToolChoiceIn::Required => ToolChoice::Any {
            disable_parallel_tool_use: no_parallel,
        },
        ToolChoiceIn::None => ToolChoice::None,
        ToolChoiceIn::Named(name) => ToolChoice::Tool {
            name: name.to_owned(),
            disable_parallel_tool_use: no_parallel,
        },
    });
    // `parallel_tool_calls: false` needs a tool_choice object to live on.
    let choice = match choice {
        None if no_parallel.is_some() && tools.is_some() => Some(ToolChoice::Auto {
            disable_parallel_tool_use: no_parallel,
        }),
        c => c,
    };
    // Without tools Anthropic rejects a tool_choice.
    let choice = choice.filter(|_| tools.is_some());
    Ok((tools, choice))
}

/// System and developer messages go to `system` wherever they stand (Anthropic has no
/// system turn); the rest become user/assistant turns, consecutive same-role turns merged.
fn translate_messages(
    messages: &[Value],
) -> Result<(Option<System>, Vec<Message>), TranslateError> {
    let mut system: Vec<Block> = Vec::new();
    let mut out: Vec<Message> = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let content = m.get("content").unwrap_or(&Value::Null);
        let (role, blocks) = match role {
            "system" | "developer" => {
                system.extend(user_blocks(content, i, true)?);
                continue;
            }
            "user" => (Role::User, user_blocks(content, i, false)?),
            "assistant" => (Role::Assistant, assistant_blocks(m, i)?),
            "tool" => {
                let id = m
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("`messages[{i}].tool_call_id` is required")))?;
                let result = match content {
                    Value::String(s) => ToolResultContent::Text(s.clone()),
                    Value::Null => ToolResultContent::Text(String::new()),
                    other => ToolResultContent::Blocks(user_blocks(other, i, false)?),
                };
                (
                    Role::User,
                    vec![Block::ToolResult {
                        tool_use_id: id.to_owned(),
                        content: result,
                        is_error: None,
                        cache_control: m.get("cache_control").cloned(),
                    }],
                )
            }
            other => {
                return Err(invalid(format!(
                    "`messages[{i}].role` \"{other}\" cannot be sent to Anthropic"
                )));
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => out.push(Message {
                role,
                content: blocks,
            }),
        }
    }
    // A tool_result must open the user turn that answers the tool_use (spec §D.5.2).
    for m in &mut out {
        if m.role == Role::User {
            m.content
                .sort_by_key(|b| !matches!(b, Block::ToolResult { .. }));
        }
    }
    let system = if system.is_empty() {
        None
    } else if system.iter().any(|b| {
        matches!(
            b,
            Block::Text {
                cache_control: Some(_),
                ..
            }
        )
    }) {
        Some(System::Blocks(system))
    } else {
        let texts: Vec<&str> = system
            .iter()
            .filter_map(|b| match b {
                Block::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        Some(System::Text(texts.join("\n\n")))
    };
    Ok((system, out))
}

/// Blocks of a user (or system) content: a string or an array of parts.
fn user_blocks(content: &Value, i: usize, text_only: bool) -> Result<Vec<Block>, TranslateError> {
    let parts = match content {
        Value::Null => return Ok(Vec::new()),
        Value::String(s) if s.is_empty() => return Ok(Vec::new()),
        Value::String(s) => {
            return Ok(vec![Block::Text {
                text: s.clone(),
                cache_control: None,
            }]);
        }
        Value::Array(parts) => parts,
        _ => {
            return Err(invalid(format!(
                "`messages[{i}].content` must be a string or an array"
            )));
        }
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let cache_control = p.get("cache_control").cloned();
        let kind = p.get("type").and_then(Value::as_str).unwrap_or("text");
        match kind {
            "text" | "input_text" => {
                let text = p.get("text").and_then(Value::as_str).unwrap_or("");
                // Anthropic rejects empty text blocks.
                if !text.is_empty() {
                    out.push(Block::Text {
                        text: text.to_owned(),
                        cache_control,
                    });
                }
            }
            "image_url" if !text_only => {
                let url = p
                    .get("image_url")
                    .and_then(|u| u.get("url").or(Some(u)))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        invalid(format!(
                            "`messages[{i}].content[{j}].image_url.url` is required"
                        ))
                    })?;
                let source = match parse_data_url(url) {
                    Some((media_type, data)) => ImageSource::Base64 {
                        media_type: media_type.to_owned(),
                        data: data.to_owned(),
                    },
                    None => ImageSource::Url {
                        url: url.to_owned(),
                    },
                };
                out.push(Block::Image {
                    source,
                    cache_control,
                });
            }
            "file" if !text_only => {
                let data = p
                    .get("file")
                    .and_then(|f| f.get("file_data"))
                    .and_then(Value::as_str)
                    .and_then(parse_data_url)
                    .ok_or_else(|| {
                        invalid(format!(
                            "`messages[{i}].content[{j}].file.file_data` must be a base64 data URL"
                        ))
                    })?;
                out.push(Block::Document {
                    source: json!({"type": "base64", "media_type": data.0, "data": data.1}),
                    cache_control,
                });
            }
            other => {
                return Err(invalid(format!(
                    "`messages[{i}].content[{j}]`: parts of type \"{other}\" cannot be sent to Anthropic"
                )));
            }
        }
    }
    Ok(out)
}

/// `data:<media type>;base64,<data>` → (media type, data).
fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type, data))
}

/// An assistant turn: earlier thinking first (it must be replayed before the tool_use it
/// led to), then text, then tool calls.
fn assistant_blocks(m: &Value, i: usize) -> Result<Vec<Block>, TranslateError> {
    let mut out = Vec::new();
    if let Some(details) = m.get("reasoning_details").and_then(Value::as_array) {
        out.extend(thinking_blocks(details));
    }
    out.extend(user_blocks(
        m.get("content").unwrap_or(&Value::Null),
        i,
        true,
    )?);
    for call in assistant_tool_calls(m, i)? {
        out.push(Block::ToolUse {
            id: call.id.to_owned(),
            name: call.name.to_owned(),
            input: call.arguments,
            cache_control: None,
        });
    }
    Ok(out)
}

/// `reasoning_details` of an earlier answer back into thinking blocks. Streamed details
/// arrive as fragments sharing an `index`; they are joined first. Text without a signature
/// cannot be replayed (Anthropic would reject it) and is dropped, never turned into text.
fn thinking_blocks(details: &[Value]) -> Vec<Block> {
    let mut merged: Vec<(Option<u64>, Block)> = Vec::new();
    for d in details {
        let index = d.get("index").and_then(Value::as_u64);
        let kind = d.get("type").and_then(Value::as_str).unwrap_or("");
        let str_of = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("");
        let existing = index.and_then(|ix| merged.iter_mut().find(|(i, _)| *i == Some(ix)));
        match (kind, existing) {
            (
                "reasoning.text",
                Some((
                    _,
                    Block::Thinking {
                        thinking,
                        signature,
                    },
                )),
            ) => {
                thinking.push_str(str_of("text"));
                signature.push_str(str_of("signature"));
            }
            ("reasoning.text", _) => merged.push((
                index,
                Block::Thinking {
                    thinking: str_of("text").to_owned(),
                    signature: str_of("signature").to_owned(),
                },
            )),
            ("reasoning.encrypted", _) => merged.push((
                index,
                Block::RedactedThinking {
                    data: str_of("data").to_owned(),
                },
            )),
            _ => {}
        }
    }
    merged
        .into_iter()
        .map(|(_, b)| b)
        .filter(|b| match b {
            Block::Thinking { signature, .. } => !signature.is_empty(),
            Block::RedactedThinking { data } => !data.is_empty(),
            _ => false,
        })
        .collect()
}

// ---- Anthropic response → OpenAI ----

/// `stop_reason` → OpenAI `finish_reason` (spec §D.2).
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn (lossy: the client has to resend).
        _ => "stop",
    }
}

/// One `reasoning_details` entry as OpenRouter shapes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ReasoningDetail {
    #[serde(rename = "reasoning.text")]
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
        format: String,
        index: u32,
    },
    #[serde(rename = "reasoning.encrypted")]
    Encrypted {
        data: String,
        format: String,
        index: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct OutToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutFunction,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct OutFunction {
    name: String,
    arguments: String,
}

#[derive(Debug, Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: Option<String>,
    refusal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    reasoning_details: Vec<ReasoningDetail>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<OutToolCall<'a>>,
}

pub fn completion_from_response(r: &MessagesResponse) -> Completion {
    structured_completion(r, false)
}

/// [`completion_from_response`] for a request whose `response_format` went up as
/// [`JSON_TOOL`] (`structured`): the call to it is the answer's content, not a tool call.
pub fn structured_completion(r: &MessagesResponse, structured: bool) -> Completion {
    let mut text: Option<String> = None;
    let mut json_answer: Option<String> = None;
    let mut reasoning: Option<String> = None;
    let mut details = Vec::new();
    let mut calls = Vec::new();
    for b in &r.content {
        match b {
            Block::Text { text: t, .. } => text.get_or_insert_with(String::new).push_str(t),
            Block::Thinking {
                thinking,
                signature,
            } => {
                reasoning.get_or_insert_with(String::new).push_str(thinking);
                details.push(ReasoningDetail::Text {
                    text: thinking.clone(),
                    signature: Some(signature.clone()).filter(|s| !s.is_empty()),
                    format: REASONING_FORMAT.to_owned(),
                    index: details.len() as u32,
                });
            }
            Block::RedactedThinking { data } => details.push(ReasoningDetail::Encrypted {
                data: data.clone(),
                format: REASONING_FORMAT.to_owned(),
                index: details.len() as u32,
            }),
            Block::ToolUse { name, input, .. } if structured && name == JSON_TOOL => {
                json_answer = Some(input.to_string());
            }
            Block::ToolUse {
                id, name, input, ..
            } => calls.push(OutToolCall {
                id,
                kind: "function",
                function: OutFunction {
                    name: name.clone(),
                    arguments: input.to_string(),
                },
            }),
            _ => {}
        }
    }
    // The JSON is the whole answer: text the model wrote around the call would make it
    // unparseable.
    let answered = json_answer.is_some();
    let message = OutMessage {
        role: "assistant",
        content: json_answer.or(text),
        refusal: None,
        reasoning,
        reasoning_details: details,
        tool_calls: calls,
    };
    let finish = match r.stop_reason.as_deref() {
        Some("tool_use") if answered && calls_empty(&message) => Some("stop"),
        other => other.map(finish_reason),
    };
    Completion {
        // Plain strings and `Value`s always serialize.
        message: serde_json::to_string(&message).unwrap_or_default(),
        finish_reason: finish,
        native_finish_reason: r.stop_reason.clone(),
        usage: r.usage.to_openai(),
    }
}

fn calls_empty(m: &OutMessage<'_>) -> bool {
    m.tool_calls.is_empty()
}

// ---- Anthropic stream → OpenAI chunk deltas ----

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("malformed event: {0}")]
    Malformed(String),
    /// An `error` event (it can arrive after HTTP 200).
    #[error("{}: {}", .0.kind, .0.message)]
    Upstream(ErrorDetail),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Text,
    /// The tool-call ordinal (OpenAI's `index`), and whether argument text was sent.
    ToolUse {
        ordinal: u32,
        sent_args: bool,
    },
    /// The `reasoning_details` index.
    Thinking {
        detail: u32,
    },
    /// The call to [`JSON_TOOL`]: its argument fragments are the answer's content.
    Json {
        sent: bool,
    },
    Other,
}

/// Turns Anthropic stream events into OpenAI chunk deltas, one event at a time.
#[derive(Debug, Default)]
pub struct StreamState {
    /// Anthropic block index → what it is.
    blocks: Vec<(usize, BlockKind)>,
    tool_calls: u32,
    reasoning_details: u32,
    usage: AnthropicUsage,
    usage_seen: bool,
    pub stop_reason: Option<String>,
    pub stopped: bool,
    /// The request's `response_format` went up as [`JSON_TOOL`].
    structured: bool,
}

impl StreamState {
    pub fn new() -> Self {
        Self::default()
    }

    /// For a request whose `response_format` went up as [`JSON_TOOL`] (when `structured`).
    pub fn structured(structured: bool) -> Self {
        Self {
            structured,
            ..Self::default()
        }
    }

    /// The usage reported so far (final after `message_delta`), in OpenAI terms.
    pub fn usage(&self) -> Option<Usage> {
        self.usage_seen.then(|| self.usage.to_openai())
    }

    fn kind(&mut self, index: usize) -> Option<&mut BlockKind> {
        self.blocks
            .iter_mut()
            .find(|(i, _)| *i == index)
            .map(|(_, k)| k)
    }

    /// One event's `data` (the JSON carries the event type, so the `event:` line is not
    /// needed).
    pub fn on_event(&mut self, data: &str) -> Result<StreamStep, StreamError> {
        let event: StreamEvent =
            serde_json::from_str(data).map_err(|e| StreamError::Malformed(e.to_string()))?;
        Ok(match event {
            StreamEvent::MessageStart { message } => {
                self.usage.merge(&message.usage);
                self.usage_seen |= message.usage != AnthropicUsage::default();
                delta(json!({"role": "assistant", "content": ""}), false, 0)
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => self.block_start(index, content_block),
            StreamEvent::ContentBlockDelta { index, delta: d } => self.block_delta(index, d),
            StreamEvent::ContentBlockStop { index } => match self.kind(index) {
                Some(BlockKind::Json { sent: false }) => delta(json!({"content": "{}"}), true, 2),
                // No argument fragment at all means no arguments: say `{}` so clients that
                // parse the joined string get an object.
                Some(BlockKind::ToolUse {
                    ordinal,
                    sent_args: false,
                }) => {
                    let ordinal = *ordinal;
                    delta(
                        json!({"tool_calls": [{"index": ordinal, "function": {"arguments": "{}"}}]}),
                        true,
                        2,
                    )
                }
                _ => StreamStep::Nothing,
            },
            StreamEvent::MessageDelta { delta: d, usage } => {
                if let Some(u) = usage {
                    self.usage.merge(&u);
                    self.usage_seen = true;
                }
                match d.stop_reason {
                    Some(reason) => {
                        let answered = self
                            .blocks
                            .iter()
                            .any(|(_, k)| matches!(k, BlockKind::Json { .. }));
                        let finish = if reason == "tool_use" && answered && self.tool_calls == 0 {
                            "stop"
                        } else {
                            finish_reason(&reason)
                        };
                        self.stop_reason = Some(reason.clone());
                        StreamStep::Delta(ChunkDelta {
                            delta: "{}".to_owned(),
                            finish_reason: Some(finish),
                            native_finish_reason: Some(reason),
                            content: true,
                            chars: 0,
                        })
                    }
                    None => StreamStep::Nothing,
                }
            }
            StreamEvent::MessageStop => {
                self.stopped = true;
                StreamStep::Stop
            }
            StreamEvent::Ping | StreamEvent::Unknown => StreamStep::Nothing,
            StreamEvent::Error { error } => return Err(StreamError::Upstream(error)),
        })
    }

    fn block_start(&mut self, index: usize, block: Block) -> StreamStep {
        let (kind, step) = match block {
            Block::Text { text, .. } => {
                let chars = text.chars().count();
                let step = if text.is_empty() {
                    StreamStep::Nothing
                } else {
                    delta(json!({"content": text}), true, chars)
                };
                (BlockKind::Text, step)
            }
            Block::ToolUse { name, .. } if self.structured && name == JSON_TOOL => {
                (BlockKind::Json { sent: false }, StreamStep::Nothing)
            }
            Block::ToolUse { id, name, .. } => {
                let ordinal = self.tool_calls;
                self.tool_calls += 1;
                let chars = name.chars().count();
                (
                    BlockKind::ToolUse {
                        ordinal,
                        sent_args: false,
                    },
                    delta(
                        json!({"tool_calls": [{"index": ordinal, "id": id, "type": "function",
                            "function": {"name": name, "arguments": ""}}]}),
                        true,
                        chars,
                    ),
                )
            }
            Block::Thinking { thinking, .. } => {
                let detail = self.next_detail();
                let step = if thinking.is_empty() {
                    StreamStep::Nothing
                } else {
                    reasoning_delta(&thinking, detail)
                };
                (BlockKind::Thinking { detail }, step)
            }
            Block::RedactedThinking { data } => {
                let detail = self.next_detail();
                (
                    BlockKind::Other,
                    delta(
                        json!({"reasoning_details": [{"type": "reasoning.encrypted", "data": data,
                            "format": REASONING_FORMAT, "index": detail}]}),
                        true,
                        0,
                    ),
                )
            }
            _ => (BlockKind::Other, StreamStep::Nothing),
        };
        self.blocks.retain(|(i, _)| *i != index);
        self.blocks.push((index, kind));
        step
    }

    fn next_detail(&mut self) -> u32 {
        let d = self.reasoning_details;
        self.reasoning_details += 1;
        d
    }

    fn block_delta(&mut self, index: usize, d: BlockDelta) -> StreamStep {
        let kind = self.kind(index).copied();
        match (d, kind) {
            (BlockDelta::TextDelta { text }, _) if !text.is_empty() => {
                let chars = text.chars().count();
                delta(json!({"content": text}), true, chars)
            }
            (
                BlockDelta::InputJsonDelta { partial_json },
                Some(BlockKind::ToolUse { ordinal, .. }),
            ) if !partial_json.is_empty() => {
                if let Some(BlockKind::ToolUse { sent_args, .. }) = self.kind(index) {
                    *sent_args = true;
                }
                let chars = partial_json.chars().count();
                delta(
                    json!({"tool_calls": [{"index": ordinal, "function": {"arguments": partial_json}}]}),
                    true,
                    chars,
                )
            }
            (BlockDelta::InputJsonDelta { partial_json }, Some(BlockKind::Json { .. }))
                if !partial_json.is_empty() =>
            {
                if let Some(BlockKind::Json { sent }) = self.kind(index) {
                    *sent = true;
                }
                let chars = partial_json.chars().count();
                delta(json!({"content": partial_json}), true, chars)
            }
            (BlockDelta::ThinkingDelta { thinking }, Some(BlockKind::Thinking { detail }))
                if !thinking.is_empty() =>
            {
                reasoning_delta(&thinking, detail)
            }
            (BlockDelta::SignatureDelta { signature }, Some(BlockKind::Thinking { detail })) => {
                delta(
                    json!({"reasoning_details": [{"type": "reasoning.text", "text": "",
                        "signature": signature, "format": REASONING_FORMAT, "index": detail}]}),
                    true,
                    0,
                )
            }
            _ => StreamStep::Nothing,
        }
    }
}

fn delta(v: Value, content: bool, chars: usize) -> StreamStep {
    StreamStep::Delta(ChunkDelta {
        delta: v.to_string(),
        finish_reason: None,
        native_finish_reason: None,
        content,
        chars,
    })
}

fn reasoning_delta(text: &str, detail: u32) -> StreamStep {
    delta(
        json!({"reasoning": text, "reasoning_details": [{"type": "reasoning.text", "text": text,
            "format": REASONING_FORMAT, "index": detail}]}),
        true,
        text.chars().count(),
    )
}

#[cfg(test)]
mod tests;
