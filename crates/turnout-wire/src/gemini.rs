//! Google Gemini `generateContent` on the wire (spec/providers.md §B, mapping §D.3–D.4), no
//! IO: the request, response, stream chunk and error shapes, and the translations from an
//! OpenAI Chat Completions request and back to OpenAI message, usage and chunk deltas.
//!
//! Translation reads the OpenAI request as a `serde_json::Value` tree, as the Anthropic one
//! does: this path is taken once per request to a Gemini endpoint.
//!
//! Two things Gemini does not give back and OpenAI clients need are made up here:
//! - tool-call ids: the Developer API usually sends none, so one is derived from the call
//!   (name, arguments, position), which makes a stream and a non-stream of the same answer
//!   agree; a later `tool` message finds its function name through the assistant tool call
//!   with that id;
//! - thought signatures travel in `reasoning_details` (format `google-gemini-v1`): a
//!   signature on a function call is a `reasoning.encrypted` entry whose `id` is the tool
//!   call's, one on text is such an entry without `id`, one on a thought part rides on its
//!   `reasoning.text` entry. The next request puts each back on the part it came on.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::chat::{CompletionTokensDetails, PromptTokensDetails, Usage};
pub use crate::translate::{ChunkDelta, Completion, StreamStep};

/// `format` of the `reasoning_details` entries we produce, as OpenRouter names Gemini's.
pub const REASONING_FORMAT: &str = "google-gemini-v1";

/// Prefix of the tool-call ids we make up. Ids Gemini sent itself are sent back to it; ours
/// are not (spec §D.5.4: send `id` only when the call carried one).
pub const SYNTHETIC_ID_PREFIX: &str = "call_gm_";

/// Thinking budgets for `reasoning.effort`, the ones Google's own OpenAI-compatible endpoint
/// uses (low 1024, medium 8192, high 24576), extended at both ends.
fn effort_budget(effort: &str) -> Option<u64> {
    Some(match effort {
        "minimal" => 512,
        "low" => 1024,
        "medium" => 8192,
        "high" => 24_576,
        "xhigh" | "max" => 32_768,
        _ => return None,
    })
}

// ---- Request ----

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    pub contents: Vec<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
}

/// A turn (`role` "user" or "model"), or the system instruction (no role).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Content {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub parts: Vec<Part>,
}

/// A part: exactly one data field is set. Kinds this module does not model (executable
/// code, …) read as a part with none of them and are skipped.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Blob>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
}

impl Part {
    pub fn text(text: impl Into<String>) -> Part {
        Part {
            text: Some(text.into()),
            ..Part::default()
        }
    }

    fn is_thought(&self) -> bool {
        self.thought == Some(true)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    pub mime_type: String,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    pub file_uri: String,
}

/// `functionCall`. Whole calls have `name` and `args`; with streamed arguments (Vertex,
/// spec §B.4) a call opens with `name` and `willContinue`, grows by `partialArgs` and ends
/// with an empty object.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_args: Option<Vec<PartialArg>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub will_continue: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartialArg {
    #[serde(default)]
    pub json_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bool_value: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_value: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub response: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    pub function_declarations: Vec<FunctionDeclaration>,
}

/// Parameters go as `parametersJsonSchema` (full JSON Schema): `parameters` takes only an
/// OpenAPI subset and refuses what OpenAI schemas routinely hold (`additionalProperties`,
/// `$ref`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters_json_schema: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    pub function_calling_config: FunctionCallingConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    /// `AUTO`, `ANY` or `NONE`.
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_function_names: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    /// A full JSON Schema (`responseSchema` takes only an OpenAPI subset; see
    /// [`FunctionDeclaration`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ThinkingConfig>,
}

impl GenerationConfig {
    fn is_empty(&self) -> bool {
        *self == GenerationConfig::default()
    }
}

/// `thinkingBudget` only: some models refuse it together with `thinkingLevel` (spec §B.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
}

// ---- Response ----

/// A whole answer, and each chunk of a stream (which carries only the new parts).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_feedback: Option<PromptFeedback>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// A failure after the stream started (spec §B.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<GoogleError>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

/// Set when the prompt itself was blocked; the answer then has no candidates.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_reason_message: Option<String>,
}

/// `usageMetadata`. In a stream every chunk carries running counts (some only
/// `trafficType`), so each field is optional and the latest known value wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_token_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates_token_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_token_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thoughts_token_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_content_token_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_prompt_token_count: Option<u64>,
}

impl UsageMetadata {
    pub fn merge(&mut self, later: &UsageMetadata) {
        self.prompt_token_count = later.prompt_token_count.or(self.prompt_token_count);
        self.candidates_token_count = later.candidates_token_count.or(self.candidates_token_count);
        self.total_token_count = later.total_token_count.or(self.total_token_count);
        self.thoughts_token_count = later.thoughts_token_count.or(self.thoughts_token_count);
        self.cached_content_token_count = later
            .cached_content_token_count
            .or(self.cached_content_token_count);
        self.tool_use_prompt_token_count = later
            .tool_use_prompt_token_count
            .or(self.tool_use_prompt_token_count);
    }

    /// Whether any token count is known (not just `trafficType`).
    pub fn reported(&self) -> bool {
        self.prompt_token_count.is_some()
            || self.candidates_token_count.is_some()
            || self.thoughts_token_count.is_some()
    }

    /// OpenAI usage: `candidatesTokenCount` excludes thoughts, which are billed as output,
    /// so completion = candidates + thoughts; cached tokens are part of the prompt
    /// (spec §B.3, §D.4).
    pub fn to_openai(&self) -> Usage {
        let prompt =
            self.prompt_token_count.unwrap_or(0) + self.tool_use_prompt_token_count.unwrap_or(0);
        let thoughts = self.thoughts_token_count;
        let completion = self.candidates_token_count.unwrap_or(0) + thoughts.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(self.cached_content_token_count.unwrap_or(0)),
                cache_write_tokens: None,
                audio_tokens: None,
            }),
            completion_tokens_details: thoughts.map(|t| CompletionTokensDetails {
                reasoning_tokens: Some(t),
                ..CompletionTokensDetails::default()
            }),
            cost: None,
        }
    }
}

// ---- Errors ----

/// Google's error object: `{"error":{"code","message","status","details"}}` (spec §B.5).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GoogleError {
    /// The HTTP status it goes with.
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub message: String,
    /// The google.rpc code name: `INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, `UNAVAILABLE`, …
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Value>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: GoogleError,
}

/// Reads an error body: the envelope, or the envelope inside an array as some proxies send
/// it (spec §B.5).
pub fn parse_error(body: &str) -> Option<GoogleError> {
    // Checked first: serde would also read a struct from a sequence, field by position.
    if body.trim_start().starts_with('[') {
        return serde_json::from_str::<Vec<ErrorEnvelope>>(body)
            .ok()?
            .into_iter()
            .next()
            .map(|e| e.error);
    }
    serde_json::from_str::<ErrorEnvelope>(body)
        .ok()
        .map(|e| e.error)
}

/// What a Gemini error means for the gateway (mirrors its failure classes, DESIGN.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Our key (invalid: a 400 with `API_KEY_INVALID`; missing or not allowed: 403), our
    /// project (region, billing) or the configured model name: the operator's problem.
    Misconfigured,
    RateLimited,
    Overloaded,
    ServerError,
    Timeout,
    /// The client's request: not retried on another endpoint of the same model.
    InvalidRequest {
        context_length: bool,
    },
}

impl GoogleError {
    /// `reason` of the `ErrorInfo` detail (`API_KEY_INVALID`, …).
    pub fn reason(&self) -> Option<&str> {
        self.details.iter().find_map(|d| {
            d.get("@type")
                .and_then(Value::as_str)
                .filter(|t| t.ends_with("google.rpc.ErrorInfo"))?;
            d.get("reason").and_then(Value::as_str)
        })
    }

    /// `retryDelay` of the `RetryInfo` detail ("34.4s"): Gemini's `Retry-After`.
    pub fn retry_delay(&self) -> Option<Duration> {
        self.details.iter().find_map(|d| {
            d.get("@type")
                .and_then(Value::as_str)
                .filter(|t| t.ends_with("google.rpc.RetryInfo"))?;
            parse_duration(d.get("retryDelay")?)
        })
    }

    /// The class of this error, answered with HTTP `status` (for errors inside a stream,
    /// the envelope's own `code`).
    pub fn classify(&self, status: u16) -> ErrorClass {
        if self.reason() == Some("API_KEY_INVALID") {
            return ErrorClass::Misconfigured;
        }
        match self.status.as_str() {
            "PERMISSION_DENIED" | "UNAUTHENTICATED" | "NOT_FOUND" | "FAILED_PRECONDITION" => {
                ErrorClass::Misconfigured
            }
            "RESOURCE_EXHAUSTED" => ErrorClass::RateLimited,
            "UNAVAILABLE" => ErrorClass::Overloaded,
            "DEADLINE_EXCEEDED" => ErrorClass::Timeout,
            "INTERNAL" | "UNKNOWN" | "DATA_LOSS" => ErrorClass::ServerError,
            "INVALID_ARGUMENT" | "OUT_OF_RANGE" => ErrorClass::InvalidRequest {
                context_length: self.is_context_length(),
            },
            _ => match status {
                401..=404 => ErrorClass::Misconfigured,
                429 => ErrorClass::RateLimited,
                503 | 529 => ErrorClass::Overloaded,
                408 | 504 => ErrorClass::Timeout,
                500..=599 => ErrorClass::ServerError,
                _ => ErrorClass::InvalidRequest {
                    context_length: self.is_context_length(),
                },
            },
        }
    }

    /// "The input token count (1200000) exceeds the maximum number of tokens allowed
    /// (1048576)."
    fn is_context_length(&self) -> bool {
        let m = self.message.to_ascii_lowercase();
        m.contains("exceeds the maximum number of tokens") || m.contains("input token count")
    }
}

/// A protobuf `Duration` in JSON: seconds with an `s` suffix ("34.4s", "1s").
fn parse_duration(v: &Value) -> Option<Duration> {
    let secs: f64 = v.as_str()?.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

// ---- OpenAI request → Gemini ----

pub use crate::translate::TranslateError;
use crate::translate::{ToolChoiceIn, assistant_tool_calls, function_tools, invalid, tool_choice};

/// A translated request, and what had to be left out of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    pub request: GenerateContentRequest,
    /// One entry per part dropped (an image URL whose type cannot be told, …).
    pub warnings: Vec<String>,
}

/// The request parameters ([`crate::params::PARAMETERS`]) that [`request_from_openai`]
/// carries over. The others (`logit_bias`, `logprobs`, `parallel_tool_calls`, `n`, …) are not
/// sent: routing drops them, or skips Gemini endpoints when the client sets
/// `provider.require_parameters`.
pub const SUPPORTED_PARAMETERS: &[&str] = &[
    "tools",
    "tool_choice",
    "response_format",
    "temperature",
    "top_p",
    "top_k",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "stop",
    "max_tokens",
    "reasoning",
    "reasoning_effort",
];

/// Translates an OpenAI/OpenRouter Chat Completions body (spec §D.3). The model and
/// streaming are in the URL, not the body. OpenAI parameters Gemini has no equivalent for
/// (see [`SUPPORTED_PARAMETERS`]) are left out.
pub fn request_from_openai(body: &Map<String, Value>) -> Result<Translated, TranslateError> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("`messages` must be an array"))?;
    let mut warnings = Vec::new();
    let (system_instruction, contents) = translate_messages(messages, &mut warnings)?;
    let (tools, tool_config) = translate_tools(body)?;
    let generation_config = Some(generation_config(body)?).filter(|g| !g.is_empty());
    Ok(Translated {
        request: GenerateContentRequest {
            contents,
            system_instruction,
            tools,
            tool_config,
            generation_config,
        },
        warnings,
    })
}

fn positive(v: Option<&Value>) -> Option<u64> {
    v.and_then(Value::as_u64).filter(|n| *n > 0)
}

fn generation_config(body: &Map<String, Value>) -> Result<GenerationConfig, TranslateError> {
    let f64_of = |k: &str| body.get(k).and_then(Value::as_f64);
    let mut max_output_tokens =
        positive(body.get("max_completion_tokens")).or_else(|| positive(body.get("max_tokens")));
    let thinking_config = thinking_config(body);
    // Thoughts count inside `maxOutputTokens`; the client's `max_tokens` bounds the answer,
    // so a budget that would eat all of it is added on top (as for Anthropic).
    if let (Some(max), Some(budget)) = (
        max_output_tokens,
        thinking_config.as_ref().and_then(|t| t.thinking_budget),
    ) && budget >= max
    {
        max_output_tokens = Some(max + budget);
    }
    let stop_sequences = match body.get("stop") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let (response_mime_type, response_json_schema) = match body.get("response_format") {
        None | Some(Value::Null) => (None, None),
        Some(f) => match f.get("type").and_then(Value::as_str) {
            Some("text") => (None, None),
            Some("json_object") => (Some("application/json".to_owned()), None),
            Some("json_schema") => {
                let schema = f
                    .pointer("/json_schema/schema")
                    .filter(|s| s.is_object())
                    .ok_or_else(|| {
                        invalid("`response_format.json_schema.schema` must be an object")
                    })?;
                (Some("application/json".to_owned()), Some(schema.clone()))
            }
            _ => {
                return Err(invalid(
                    "`response_format.type` must be \"text\", \"json_object\" or \"json_schema\"",
                ));
            }
        },
    };
    Ok(GenerationConfig {
        temperature: f64_of("temperature"),
        top_p: f64_of("top_p"),
        top_k: body.get("top_k").and_then(Value::as_u64),
        max_output_tokens,
        stop_sequences: Some(stop_sequences).filter(|s| !s.is_empty()),
        presence_penalty: f64_of("presence_penalty"),
        frequency_penalty: f64_of("frequency_penalty"),
        seed: body.get("seed").and_then(Value::as_i64),
        response_mime_type,
        response_json_schema,
        thinking_config,
    })
}

/// OpenRouter's `reasoning` (`max_tokens`, `effort`, `enabled`, `exclude`) or OpenAI's
/// `reasoning_effort`. Turned on without a budget, the model picks one (dynamic thinking).
fn thinking_config(body: &Map<String, Value>) -> Option<ThinkingConfig> {
    let reasoning = body.get("reasoning").filter(|r| r.is_object());
    if reasoning
        .and_then(|r| r.get("enabled"))
        .and_then(Value::as_bool)
        == Some(false)
    {
        return None;
    }
    let effort = reasoning
        .and_then(|r| r.get("effort"))
        .or_else(|| body.get("reasoning_effort"))
        .and_then(Value::as_str);
    let thinking_budget = match (
        positive(reasoning.and_then(|r| r.get("max_tokens"))),
        effort,
    ) {
        (Some(budget), _) => Some(budget),
        // "none" and efforts we do not know leave the model's default alone.
        (None, Some(e)) => Some(effort_budget(e)?),
        (None, None) if reasoning.is_some() => None,
        (None, None) => return None,
    };
    let exclude = reasoning
        .and_then(|r| r.get("exclude"))
        .and_then(Value::as_bool)
        == Some(true);
    Some(ThinkingConfig {
        thinking_budget,
        include_thoughts: Some(!exclude),
    })
}

fn translate_tools(
    body: &Map<String, Value>,
) -> Result<(Option<Vec<Tool>>, Option<ToolConfig>), TranslateError> {
    let tools = function_tools(body, "Gemini")?.map(|list| {
        vec![Tool {
            function_declarations: list
                .into_iter()
                .map(|f| FunctionDeclaration {
                    name: f.name.to_owned(),
                    description: f.description.map(str::to_owned),
                    parameters_json_schema: f.parameters.cloned(),
                })
                .collect(),
        }]
    });
    let config = |mode: &str, names: Option<Vec<String>>| ToolConfig {
        function_calling_config: FunctionCallingConfig {
            mode: mode.to_owned(),
            allowed_function_names: names,
        },
    };
    let choice = tool_choice(body)?.map(|c| match c {
        ToolChoiceIn::Auto => config("AUTO", None),
        ToolChoiceIn::None => config("NONE", None),
        ToolChoiceIn::Required => config("ANY", None),
        ToolChoiceIn::Named(name) => config("ANY", Some(vec![name.to_owned()])),
    });
    // A toolConfig without tools means nothing to Gemini.
    let choice = choice.filter(|_| tools.is_some());
    Ok((tools, choice))
}

/// System and developer messages go to `systemInstruction` wherever they stand; the rest
/// become user/model turns, consecutive same-role turns merged (Gemini wants them
/// alternating around function calls, spec §D.5.3).
fn translate_messages(
    messages: &[Value],
    warnings: &mut Vec<String>,
) -> Result<(Option<Content>, Vec<Content>), TranslateError> {
    let mut system: Vec<Part> = Vec::new();
    let mut out: Vec<Content> = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let content = m.get("content").unwrap_or(&Value::Null);
        let (role, parts) = match role {
            "system" | "developer" => {
                system.extend(user_parts(content, i, true, warnings)?);
                continue;
            }
            "user" => ("user", user_parts(content, i, false, warnings)?),
            "assistant" => ("model", model_parts(m, i)?),
            "tool" => {
                let id = m
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("`messages[{i}].tool_call_id` is required")))?;
                let name = called_name(&messages[..i], id)
                    .or_else(|| m.get("name").and_then(Value::as_str))
                    .ok_or_else(|| {
                        invalid(format!(
                            "`messages[{i}].tool_call_id` \"{id}\" matches no tool call of an earlier assistant message (Gemini needs the function's name)"
                        ))
                    })?;
                let part = function_response(name, Some(id), content, i)?;
                ("user", vec![part])
            }
            // The legacy `function` role names its function itself.
            "function" => {
                let name = m
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("`messages[{i}].name` is required")))?;
                ("user", vec![function_response(name, None, content, i)?])
            }
            other => {
                return Err(invalid(format!(
                    "`messages[{i}].role` \"{other}\" cannot be sent to Gemini"
                )));
            }
        };
        if parts.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
            _ => out.push(Content {
                role: Some(role.to_owned()),
                parts,
            }),
        }
    }
    // Function responses open the user turn that answers the calls.
    for c in &mut out {
        if c.role.as_deref() == Some("user") {
            c.parts.sort_by_key(|p| p.function_response.is_none());
        }
    }
    let system = (!system.is_empty()).then_some(Content {
        role: None,
        parts: system,
    });
    Ok((system, out))
}

/// The function name of the tool call `id` in the latest assistant message that made it.
fn called_name<'a>(earlier: &'a [Value], id: &str) -> Option<&'a str> {
    earlier.iter().rev().find_map(|m| {
        m.get("tool_calls")?
            .as_array()?
            .iter()
            .find(|c| c.get("id").and_then(Value::as_str) == Some(id))?
            .pointer("/function/name")?
            .as_str()
    })
}

/// A `functionResponse` part: Gemini wants an object, so the tool's text goes in
/// `{"result": …}`.
fn function_response(
    name: &str,
    id: Option<&str>,
    content: &Value,
    i: usize,
) -> Result<Part, TranslateError> {
    let text = match content {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            let mut text = String::new();
            for (j, p) in parts.iter().enumerate() {
                match p.get("type").and_then(Value::as_str).unwrap_or("text") {
                    "text" | "input_text" => {
                        text.push_str(p.get("text").and_then(Value::as_str).unwrap_or(""));
                    }
                    other => {
                        return Err(invalid(format!(
                            "`messages[{i}].content[{j}]`: tool results with parts of type \"{other}\" cannot be sent to Gemini"
                        )));
                    }
                }
            }
            text
        }
        _ => {
            return Err(invalid(format!(
                "`messages[{i}].content` must be a string or an array"
            )));
        }
    };
    Ok(Part {
        function_response: Some(FunctionResponse {
            id: id.filter(|id| !is_synthetic(id)).map(str::to_owned),
            name: name.to_owned(),
            response: json!({ "result": text }),
        }),
        ..Part::default()
    })
}

fn is_synthetic(id: &str) -> bool {
    id.starts_with(SYNTHETIC_ID_PREFIX)
}

/// Parts of a user (or system) content: a string or an array of parts.
fn user_parts(
    content: &Value,
    i: usize,
    text_only: bool,
    warnings: &mut Vec<String>,
) -> Result<Vec<Part>, TranslateError> {
    let parts = match content {
        Value::Null => return Ok(Vec::new()),
        // Gemini refuses empty text parts.
        Value::String(s) if s.is_empty() => return Ok(Vec::new()),
        Value::String(s) => return Ok(vec![Part::text(s.clone())]),
        Value::Array(parts) => parts,
        _ => {
            return Err(invalid(format!(
                "`messages[{i}].content` must be a string or an array"
            )));
        }
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let kind = p.get("type").and_then(Value::as_str).unwrap_or("text");
        let at = || format!("`messages[{i}].content[{j}]`");
        match kind {
            "text" | "input_text" => {
                let text = p.get("text").and_then(Value::as_str).unwrap_or("");
                if !text.is_empty() {
                    out.push(Part::text(text));
                }
            }
            "image_url" if !text_only => {
                let url = p
                    .get("image_url")
                    .and_then(|u| u.get("url").or(Some(u)))
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("{}.image_url.url is required", at())))?;
                match media_part(url) {
                    Some(part) => out.push(part),
                    None => warnings.push(format!(
                        "{}: image URL dropped, its type cannot be told from it (send a data: URL)",
                        at()
                    )),
                }
            }
            "input_audio" if !text_only => {
                let audio = p.get("input_audio").unwrap_or(&Value::Null);
                let data = audio.get("data").and_then(Value::as_str);
                let format = audio.get("format").and_then(Value::as_str);
                let (Some(data), Some(format)) = (data, format) else {
                    return Err(invalid(format!(
                        "{}.input_audio needs `data` and `format`",
                        at()
                    )));
                };
                out.push(Part {
                    inline_data: Some(Blob {
                        mime_type: format!("audio/{format}"),
                        data: data.to_owned(),
                    }),
                    ..Part::default()
                });
            }
            "file" if !text_only => {
                let file = p.get("file").unwrap_or(&Value::Null);
                let part = file
                    .get("file_data")
                    .and_then(Value::as_str)
                    .and_then(media_part)
                    .ok_or_else(|| {
                        invalid(format!("{}.file.file_data must be a base64 data URL", at()))
                    })?;
                out.push(part);
            }
            other => {
                return Err(invalid(format!(
                    "{}: parts of type \"{other}\" cannot be sent to Gemini",
                    at()
                )));
            }
        }
    }
    Ok(out)
}

/// A `data:` URL inline; a URL Gemini can fetch itself (Files API, Cloud Storage, YouTube)
/// or an http(s) URL whose type shows in its path as `fileData`; `None` for the rest.
fn media_part(url: &str) -> Option<Part> {
    if let Some((mime_type, data)) = parse_data_url(url) {
        return Some(Part {
            inline_data: Some(Blob {
                mime_type: mime_type.to_owned(),
                data: data.to_owned(),
            }),
            ..Part::default()
        });
    }
    let google_hosted = url.starts_with("gs://")
        || url.starts_with("https://generativelanguage.googleapis.com/")
        || url.starts_with("https://www.youtube.com/")
        || url.starts_with("https://youtu.be/");
    let http = url.starts_with("https://") || url.starts_with("http://");
    let mime_type = guess_mime(url);
    let fetchable = google_hosted || (http && mime_type.is_some());
    if !fetchable {
        return None;
    }
    Some(Part {
        file_data: Some(FileData {
            mime_type: mime_type.map(str::to_owned),
            file_uri: url.to_owned(),
        }),
        ..Part::default()
    })
}

/// The media type a URL's path extension names, for the kinds Gemini reads.
fn guess_mime(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let file = path.rsplit('/').next().unwrap_or(path);
    let ext = file.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        _ => return None,
    })
}

/// `data:<media type>;base64,<data>` → (media type, data).
fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type, data))
}

/// A model turn: replayed thoughts first, then text, then function calls, each carrying the
/// thought signature it came with.
fn model_parts(m: &Value, i: usize) -> Result<Vec<Part>, TranslateError> {
    let replay = m
        .get("reasoning_details")
        .and_then(Value::as_array)
        .map(|d| Replay::from_details(d))
        .unwrap_or_default();
    let mut out = replay.thoughts;
    // Text only: nothing is dropped, so there are no warnings to keep.
    out.extend(user_parts(
        m.get("content").unwrap_or(&Value::Null),
        i,
        true,
        &mut Vec::new(),
    )?);
    for call in assistant_tool_calls(m, i)? {
        let (id, name, args) = (call.id, call.name, call.arguments);
        out.push(Part {
            function_call: Some(FunctionCall {
                id: (!is_synthetic(id)).then(|| id.to_owned()),
                name: Some(name.to_owned()),
                args: Some(args),
                ..FunctionCall::default()
            }),
            thought_signature: replay
                .by_call
                .iter()
                .find(|(call, _)| call == id)
                .map(|(_, sig)| sig.clone()),
            ..Part::default()
        });
    }
    // Signatures that came on text go back on the text (the last text part: a streamed answer
    // sends them on a trailing empty part, which is the same text once joined).
    let mut loose = replay.on_text.into_iter();
    if let Some(sig) = loose.next() {
        match out
            .iter_mut()
            .rev()
            .find(|p| p.text.is_some() && !p.is_thought() && p.function_call.is_none())
        {
            Some(p) => p.thought_signature = Some(sig),
            None => out.push(Part {
                thought_signature: Some(sig),
                ..Part::text("")
            }),
        }
    }
    for sig in loose {
        out.push(Part {
            thought_signature: Some(sig),
            ..Part::text("")
        });
    }
    Ok(out)
}

/// The signatures of an earlier answer, from its `reasoning_details` (ours only: another
/// provider's signatures mean nothing to Gemini).
#[derive(Debug, Default)]
struct Replay {
    /// Signed thought parts, in order.
    thoughts: Vec<Part>,
    /// (tool call id, signature).
    by_call: Vec<(String, String)>,
    /// Signatures that came on text.
    on_text: Vec<String>,
}

impl Replay {
    fn from_details(details: &[Value]) -> Replay {
        let mut out = Replay::default();
        // Streamed thought text arrives as fragments sharing an `index`: join them first.
        let mut thoughts: Vec<(Option<u64>, String, String)> = Vec::new();
        for d in details {
            if d.get("format").and_then(Value::as_str) != Some(REASONING_FORMAT) {
                continue;
            }
            let str_of = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("");
            match d.get("type").and_then(Value::as_str) {
                Some("reasoning.text") => {
                    let index = d.get("index").and_then(Value::as_u64);
                    match thoughts
                        .iter_mut()
                        .find(|(i, _, _)| index.is_some() && *i == index)
                    {
                        Some((_, text, sig)) => {
                            text.push_str(str_of("text"));
                            sig.push_str(str_of("signature"));
                        }
                        None => thoughts.push((
                            index,
                            str_of("text").to_owned(),
                            str_of("signature").to_owned(),
                        )),
                    }
                }
                Some("reasoning.encrypted") if !str_of("data").is_empty() => {
                    let data = str_of("data").to_owned();
                    match d.get("id").and_then(Value::as_str) {
                        Some(id) => out.by_call.push((id.to_owned(), data)),
                        None => out.on_text.push(data),
                    }
                }
                _ => {}
            }
        }
        // Unsigned thoughts need not go back: Gemini keeps no state for them.
        out.thoughts = thoughts
            .into_iter()
            .filter(|(_, _, sig)| !sig.is_empty())
            .map(|(_, text, sig)| Part {
                thought: Some(true),
                thought_signature: Some(sig),
                ..Part::text(text)
            })
            .collect();
        out
    }
}

// ---- Gemini answer → OpenAI ----

/// `finishReason` → OpenAI `finish_reason` (spec §D.4). Gemini reports `STOP` after
/// function calls too, so `tool_calls` says whether the answer holds any.
pub fn finish_reason(native: &str, tool_calls: bool) -> &'static str {
    match native {
        "STOP" if tool_calls => "tool_calls",
        "MAX_TOKENS" => "length",
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => "content_filter",
        // STOP, and the rest (OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL, …), whose native
        // value stays visible in `native_finish_reason`.
        _ => "stop",
    }
}

/// A tool-call id for a call Gemini gave none: the same for the same call at the same
/// position, so a stream and a non-stream of one answer agree.
pub fn tool_call_id(name: &str, args: &Value, ordinal: u32) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    };
    feed(name.as_bytes());
    feed(&[0xff]);
    feed(args.to_string().as_bytes());
    feed(&[0xff]);
    feed(&ordinal.to_le_bytes());
    format!("{SYNTHETIC_ID_PREFIX}{h:016x}")
}

/// One finished function call.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    ordinal: u32,
    id: String,
    name: String,
    arguments: String,
}

/// A call whose arguments are still streaming in (`partialArgs`).
#[derive(Debug, Default)]
struct PendingCall {
    id: Option<String>,
    name: String,
    args: Value,
    signature: Option<String>,
}

/// What a run of parts adds to the answer.
#[derive(Debug, Default)]
struct Output {
    content: Option<String>,
    reasoning: Option<String>,
    details: Vec<Value>,
    calls: Vec<Call>,
}

impl Output {
    fn is_empty(&self) -> bool {
        self.content.is_none()
            && self.reasoning.is_none()
            && self.details.is_empty()
            && self.calls.is_empty()
    }

    fn chars(&self) -> usize {
        let text = |s: &Option<String>| s.as_deref().map_or(0, |s| s.chars().count());
        text(&self.content)
            + text(&self.reasoning)
            + self
                .calls
                .iter()
                .map(|c| c.name.chars().count() + c.arguments.chars().count())
                .sum::<usize>()
    }

    /// A `reasoning.text` entry; fragments of one thought run that meet in the same output
    /// are joined.
    fn push_thought(&mut self, text: &str, signature: Option<&str>, index: u32) {
        if let Some(last) = self.details.last_mut()
            && last["type"] == "reasoning.text"
            && last["index"] == index
        {
            if let Some(Value::String(t)) = last.get_mut("text") {
                t.push_str(text);
            }
            if let Some(sig) = signature {
                last["signature"] = json!(sig);
            }
            return;
        }
        let mut d = json!({"type": "reasoning.text", "text": text,
            "format": REASONING_FORMAT, "index": index});
        if let Some(sig) = signature {
            d["signature"] = json!(sig);
        }
        self.details.push(d);
    }
}

/// Reads parts in order, numbering tool calls and reasoning details across a whole answer
/// (for a stream, across its chunks).
#[derive(Debug, Default)]
struct PartReader {
    tool_calls: u32,
    details: u32,
    /// The `reasoning_details` index of the thought run in progress.
    thought: Option<u32>,
    pending: Option<PendingCall>,
}

impl PartReader {
    fn next_detail(&mut self) -> u32 {
        let d = self.details;
        self.details += 1;
        d
    }

    fn read(&mut self, part: &Part, out: &mut Output) {
        let signature = part.thought_signature.as_deref().filter(|s| !s.is_empty());
        if let Some(call) = &part.function_call {
            self.thought = None;
            self.read_call(call, signature, out);
            return;
        }
        if part.is_thought() {
            let text = part.text.as_deref().unwrap_or("");
            if text.is_empty() && signature.is_none() {
                return;
            }
            let index = match self.thought {
                Some(i) => i,
                None => {
                    let i = self.next_detail();
                    self.thought = Some(i);
                    i
                }
            };
            out.reasoning.get_or_insert_with(String::new).push_str(text);
            out.push_thought(text, signature, index);
            return;
        }
        self.thought = None;
        if let Some(text) = part.text.as_deref().filter(|t| !t.is_empty()) {
            out.content.get_or_insert_with(String::new).push_str(text);
        }
        if let Some(sig) = signature {
            let index = self.next_detail();
            out.details
                .push(json!({"type": "reasoning.encrypted", "data": sig,
                "format": REASONING_FORMAT, "index": index}));
        }
    }

    fn read_call(&mut self, call: &FunctionCall, signature: Option<&str>, out: &mut Output) {
        let opens = call.name.is_some() && call.args.is_none() && call.will_continue == Some(true);
        if opens {
            self.finish_pending(out);
            self.pending = Some(PendingCall {
                id: call.id.clone(),
                name: call.name.clone().unwrap_or_default(),
                args: json!({}),
                signature: signature.map(str::to_owned),
            });
            return;
        }
        if let Some(p) = &mut self.pending {
            for arg in call.partial_args.iter().flatten() {
                apply_partial_arg(&mut p.args, arg);
            }
            if p.signature.is_none() {
                p.signature = signature.map(str::to_owned);
            }
            if call.will_continue != Some(true) {
                self.finish_pending(out);
            }
            return;
        }
        let Some(name) = &call.name else {
            return;
        };
        let args = call.args.clone().unwrap_or_else(|| json!({}));
        self.emit(call.id.clone(), name.clone(), &args, signature, out);
    }

    fn finish_pending(&mut self, out: &mut Output) {
        if let Some(p) = self.pending.take() {
            self.emit(p.id, p.name, &p.args, p.signature.as_deref(), out);
        }
    }

    fn emit(
        &mut self,
        id: Option<String>,
        name: String,
        args: &Value,
        signature: Option<&str>,
        out: &mut Output,
    ) {
        let ordinal = self.tool_calls;
        self.tool_calls += 1;
        let id = id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| tool_call_id(&name, args, ordinal));
        if let Some(sig) = signature {
            let index = self.next_detail();
            out.details
                .push(json!({"type": "reasoning.encrypted", "data": sig, "id": id,
                "format": REASONING_FORMAT, "index": index}));
        }
        out.calls.push(Call {
            ordinal,
            id,
            name,
            arguments: args.to_string(),
        });
    }
}

/// Sets one streamed argument (`$.a.b`, `$.list[0]`, `$['a b']`) in `args`; string values of
/// one path arrive in pieces and are joined.
fn apply_partial_arg(args: &mut Value, arg: &PartialArg) {
    let Some(path) = parse_json_path(&arg.json_path) else {
        return;
    };
    let mut at = args;
    for seg in &path {
        at = match seg {
            PathSeg::Key(k) => {
                if !at.is_object() {
                    *at = json!({});
                }
                match at {
                    Value::Object(map) => map.entry(k.clone()).or_insert(Value::Null),
                    _ => return,
                }
            }
            PathSeg::Index(i) => {
                if !at.is_array() {
                    *at = json!([]);
                }
                match at {
                    Value::Array(items) => {
                        if items.len() <= *i {
                            items.resize(*i + 1, Value::Null);
                        }
                        &mut items[*i]
                    }
                    _ => return,
                }
            }
        };
    }
    if let Some(s) = &arg.string_value {
        match at {
            Value::String(existing) => existing.push_str(s),
            _ => *at = json!(s),
        }
    } else if let Some(n) = &arg.number_value {
        *at = n.clone();
    } else if let Some(b) = arg.bool_value {
        *at = json!(b);
    } else if arg.null_value.is_some() {
        *at = Value::Null;
    }
}

enum PathSeg {
    Key(String),
    Index(usize),
}

fn parse_json_path(path: &str) -> Option<Vec<PathSeg>> {
    let mut rest = path.strip_prefix('$')?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            out.push(PathSeg::Key(r[..end].to_owned()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            let quoted = inner
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
            out.push(match quoted {
                Some(key) => PathSeg::Key(key.to_owned()),
                None => PathSeg::Index(inner.parse().ok()?),
            });
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

#[derive(Debug, Serialize)]
struct OutToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutFunction<'a>,
}

#[derive(Debug, Serialize)]
struct OutFunction<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Debug, Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: Option<&'a str>,
    refusal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<&'a str>,
    #[serde(skip_serializing_if = "no_values")]
    reasoning_details: &'a [Value],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<OutToolCall<'a>>,
}

fn no_values(v: &&[Value]) -> bool {
    v.is_empty()
}

/// The finish of an answer (or chunk): the candidate's `finishReason`, else the prompt's
/// `blockReason` when the prompt was blocked (no candidates: a `content_filter` answer).
fn finish_of(r: &GenerateContentResponse, tool_calls: bool) -> Option<(&'static str, String)> {
    match r.candidates.first() {
        Some(c) => c
            .finish_reason
            .as_ref()
            .map(|f| (finish_reason(f, tool_calls), f.clone())),
        None => r
            .prompt_feedback
            .as_ref()
            .and_then(|p| p.block_reason.clone())
            .map(|b| ("content_filter", b)),
    }
}

pub fn completion_from_response(r: &GenerateContentResponse) -> Completion {
    let mut reader = PartReader::default();
    let mut out = Output::default();
    for part in candidate_parts(r) {
        reader.read(part, &mut out);
    }
    reader.finish_pending(&mut out);
    let message = OutMessage {
        role: "assistant",
        content: out.content.as_deref(),
        refusal: None,
        reasoning: out.reasoning.as_deref(),
        reasoning_details: &out.details,
        tool_calls: out
            .calls
            .iter()
            .map(|c| OutToolCall {
                id: &c.id,
                kind: "function",
                function: OutFunction {
                    name: &c.name,
                    arguments: &c.arguments,
                },
            })
            .collect(),
    };
    let finish = finish_of(r, !out.calls.is_empty());
    Completion {
        // Plain strings and `Value`s always serialize.
        message: serde_json::to_string(&message).unwrap_or_default(),
        finish_reason: finish.as_ref().map(|(f, _)| *f),
        native_finish_reason: finish.map(|(_, n)| n),
        usage: r.usage_metadata.unwrap_or_default().to_openai(),
    }
}

fn candidate_parts(r: &GenerateContentResponse) -> &[Part] {
    r.candidates
        .first()
        .and_then(|c| c.content.as_ref())
        .map_or(&[][..], |c| c.parts.as_slice())
}

// ---- Gemini stream → OpenAI chunk deltas ----

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StreamError {
    #[error("malformed chunk: {0}")]
    Malformed(String),
    /// An `error` object in place of a chunk (it can arrive after HTTP 200).
    #[error("{} {}: {}", .0.code, .0.status, .0.message)]
    Upstream(GoogleError),
}

/// Turns Gemini stream chunks (`?alt=sse`: one whole `GenerateContentResponse` per `data:`,
/// no `[DONE]`) into OpenAI chunk deltas, one chunk at a time.
#[derive(Debug, Default)]
pub struct StreamState {
    reader: PartReader,
    started: bool,
    usage: UsageMetadata,
    pub finish_reason: Option<String>,
}

impl StreamState {
    pub fn new() -> Self {
        Self::default()
    }

    /// The usage reported so far (running counts; the last chunk's are final).
    pub fn usage(&self) -> Option<Usage> {
        self.usage.reported().then(|| self.usage.to_openai())
    }

    pub fn on_event(&mut self, data: &str) -> Result<StreamStep, StreamError> {
        let chunk: GenerateContentResponse =
            serde_json::from_str(data).map_err(|e| StreamError::Malformed(e.to_string()))?;
        if let Some(e) = chunk.error {
            return Err(StreamError::Upstream(e));
        }
        if let Some(u) = &chunk.usage_metadata {
            self.usage.merge(u);
        }
        let mut out = Output::default();
        for part in candidate_parts(&chunk) {
            self.reader.read(part, &mut out);
        }
        // The answer ends here: a call whose arguments were still streaming is complete.
        if finish_of(&chunk, false).is_some() {
            self.reader.finish_pending(&mut out);
        }
        let finish = finish_of(&chunk, self.reader.tool_calls > 0);
        if out.is_empty() && finish.is_none() {
            return Ok(StreamStep::Nothing);
        }
        let mut delta = Map::new();
        if !self.started {
            self.started = true;
            delta.insert("role".to_owned(), json!("assistant"));
        }
        let chars = out.chars();
        if let Some(text) = out.content {
            delta.insert("content".to_owned(), json!(text));
        }
        if let Some(text) = out.reasoning {
            delta.insert("reasoning".to_owned(), json!(text));
        }
        if !out.details.is_empty() {
            delta.insert("reasoning_details".to_owned(), Value::Array(out.details));
        }
        if !out.calls.is_empty() {
            let calls: Vec<Value> = out
                .calls
                .into_iter()
                .map(|c| {
                    json!({"index": c.ordinal, "id": c.id, "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments}})
                })
                .collect();
            delta.insert("tool_calls".to_owned(), Value::Array(calls));
        }
        if let Some((_, native)) = &finish {
            self.finish_reason = Some(native.clone());
        }
        Ok(StreamStep::Delta(ChunkDelta {
            delta: Value::Object(delta).to_string(),
            finish_reason: finish.as_ref().map(|(f, _)| *f),
            native_finish_reason: finish.map(|(_, n)| n),
            content: true,
            chars,
        }))
    }
}

#[cfg(test)]
mod tests;
