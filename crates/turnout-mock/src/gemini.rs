//! The Gemini dialect of the mock: `POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse` (one whole `GenerateContentResponse` per `data:` event,
//! `\r\n`-terminated, no `[DONE]`), Google's error envelope, `x-goog-api-key` (or `?key=`), and
//! the fault injection every dialect honours (a flaky mock answers 503 `UNAVAILABLE` here, and
//! the wait of an injected 429 goes in `RetryInfo.retryDelay`, not in a header: Google sends
//! none).
//!
//! What it answers:
//! - when the request declares functions (and `toolConfig` mode is not `NONE`) and its last
//!   turn holds no `functionResponse`: one `functionCall` of the allowed function (else the
//!   first), with string properties of its schema filled with `"mock"`; `finishReason: "STOP"`
//!   (Gemini has no tool-specific reason);
//! - otherwise text, as the OpenAI route builds it (`reply`, or words seeded by the last user
//!   text), `MAX_TOKENS` when `maxOutputTokens` cuts it; after a `functionResponse`,
//!   "Tool result: <its result>" unless `reply` is set;
//! - with `generationConfig.thinkingConfig`: 5 thought tokens, a thought part when
//!   `includeThoughts`, and a `mock-signature-…` `thoughtSignature` on the function call (on the
//!   text otherwise; streamed, on a final empty text part, as Gemini 3 does). A later request
//!   with thinking that replays a model `functionCall` without that signature gets the 400
//!   Gemini sends, so signature round trips are checked.
//!
//! It also refuses what the real API refuses and a translator could get wrong: unknown fields
//! (top level and `generationConfig`), roles other than user/model, empty parts, and a
//! `functionResponse` naming a function the model turn before it did not call.
//!
//! Requests are read as a JSON tree: this route serves tests, not benchmarks.

use std::fmt::Write as _;

use axum::extract::{Path, Request, State};
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

/// Google's error envelope.
fn google_error(status: StatusCode, rpc: &str, message: &str, details: Vec<Value>) -> Response {
    let mut error = json!({"code": status.as_u16(), "message": message, "status": rpc});
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    json_response(status, Bytes::from(json!({ "error": error }).to_string()))
}

/// The error Gemini sends for `status` (spec/providers.md §B.5).
fn default_error(status: StatusCode, model: &str) -> Response {
    let not_found;
    let (rpc, message) = match status.as_u16() {
        400 => ("INVALID_ARGUMENT", "Request contains an invalid argument."),
        401 => (
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        ),
        403 => ("PERMISSION_DENIED", "The caller does not have permission"),
        404 => {
            not_found = format!(
                "models/{model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods."
            );
            ("NOT_FOUND", not_found.as_str())
        }
        429 => (
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        503 => (
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
        ),
        504 => (
            "DEADLINE_EXCEEDED",
            "Deadline expired before operation could complete.",
        ),
        s if s >= 500 => (
            "INTERNAL",
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
        ),
        _ => ("FAILED_PRECONDITION", "Request failed (mock fault)."),
    };
    google_error(status, rpc, message, Vec::new())
}

fn invalid(message: &str) -> Response {
    google_error(
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        message,
        Vec::new(),
    )
}

/// A non-stream body that is not JSON (cut mid-object).
const MALFORMED_BODY: &str = "{\"candidates\":[{\"content\":{\"parts\":[{\"te";
const MALFORMED_STREAM: &str =
    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"cut\r\n\r\n";
/// A stream that ends without any chunk (Gemini's streams have no end marker).
const EMPTY_STREAM: &str = "";

/// The Gemini dialect.
struct Gemini;

impl Dialect for Gemini {
    const MALFORMED_BODY: &'static str = MALFORMED_BODY;
    const MALFORMED_STREAM: &'static str = MALFORMED_STREAM;
    const EMPTY_STREAM: &'static str = EMPTY_STREAM;

    fn error(status: StatusCode, model: &str) -> Response {
        default_error(status, model)
    }

    /// What Google answers: a made-up key is a 400 `API_KEY_INVALID`, no key a 403
    /// (fixtures `real-capture__error_400_api_key_invalid.json`, `…_403_no_key.json`).
    fn key_rejected(parts: &Parts, key: &str, _model: &str) -> Option<Response> {
        match given_key(parts) {
            Some(given) if given == key => None,
            Some(_) => Some(google_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                vec![
                    json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"}}),
                    json!({"@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                        "locale": "en-US", "message": "API key not valid. Please pass a valid API key."}),
                ],
            )),
            None => Some(google_error(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                Vec::new(),
            )),
        }
    }

    fn overloaded(model: &str) -> Response {
        default_error(StatusCode::SERVICE_UNAVAILABLE, model)
    }

    /// The wait goes in `RetryInfo` (fixture `vercel-ai__google-429-retry-info.json`).
    fn status_fault(status: StatusCode, retry_after: Option<u64>, model: &str) -> Response {
        let Some(seconds) = retry_after else {
            return default_error(status, model);
        };
        let response = default_error(status, model);
        let (rpc, message) = match status.as_u16() {
            429 => (
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details.",
            ),
            503 => (
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
            ),
            _ => return response,
        };
        google_error(
            status,
            rpc,
            message,
            vec![
                json!({"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]}),
                json!({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": format!("{seconds}s")}),
            ],
        )
    }
}

fn given_key(parts: &Parts) -> Option<String> {
    let header = |h: &HeaderMap| {
        h.get("x-goog-api-key")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
    };
    header(&parts.headers).or_else(|| {
        parts.uri.query()?.split('&').find_map(|kv| {
            kv.strip_prefix("key=")
                .map(|k| k.to_owned())
                .filter(|k| !k.is_empty())
        })
    })
}

/// `POST …/models/{model}:{method}`: the path segment holds both.
pub(crate) async fn generate(
    State(state): State<MockState>,
    Path(action): Path<String>,
    request: Request,
) -> Response {
    let outcome = state.begin();
    let (parts, body) = request.into_parts();
    let Some((model, method)) = action.rsplit_once(':') else {
        outcome.complete();
        return default_error(StatusCode::NOT_FOUND, &action);
    };
    let streaming = match method {
        "generateContent" => false,
        "streamGenerateContent" => {
            // Without `alt=sse` Gemini streams one JSON array, which no client of ours reads.
            let sse = parts
                .uri
                .query()
                .is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"));
            if !sse {
                outcome.complete();
                return invalid("mock: streamGenerateContent is only served with ?alt=sse");
            }
            true
        }
        _ => {
            outcome.complete();
            return default_error(StatusCode::NOT_FOUND, model);
        }
    };
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(e) => {
            outcome.complete();
            return invalid(&format!("Could not read the request body: {e}"));
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
            return invalid("Invalid JSON payload received.");
        }
    };
    state.remember_request(body.clone());
    let body_override = req
        .as_object_mut()
        .and_then(|o| o.remove("mock"))
        .and_then(|m| serde_json::from_value::<MockOverride>(m).ok());
    let prepared = effective(&state, header, body_override);
    let config: &MockConfig = &prepared.config;
    let refused = validate(&req).err().map(|message| invalid(&message));
    let outcome =
        match before_answer::<Gemini>(config, &state, &parts, model, streaming, refused, outcome)
            .await
        {
            Ok(outcome) => outcome,
            Err(response) => return response,
        };
    let answer = answer(config, &req, model, state.next_id());
    if streaming {
        respond_stream(config, outcome, answer.stream())
    } else {
        respond_json(config, outcome, Bytes::from(answer.response().to_string()))
    }
}

const REQUEST_FIELDS: [&str; 7] = [
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
];

const GENERATION_FIELDS: [&str; 16] = [
    "temperature",
    "topP",
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "stopSequences",
    "presencePenalty",
    "frequencyPenalty",
    "seed",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "thinkingConfig",
    "responseLogprobs",
    "logprobs",
    "responseModalities",
];

const PART_DATA: [&str; 5] = [
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
];

fn unknown_name(path: &str, name: &str) -> String {
    format!(
        "Invalid JSON payload received. Unknown name \"{name}\" at '{path}': Cannot find field."
    )
}

/// What the real API rejects and a translator could get wrong.
fn validate(req: &Value) -> Result<(), String> {
    let top = req.as_object().ok_or("Invalid JSON payload received.")?;
    if let Some(k) = top.keys().find(|k| !REQUEST_FIELDS.contains(&k.as_str())) {
        return Err(unknown_name("", k));
    }
    if let Some(g) = req.get("generationConfig").and_then(Value::as_object)
        && let Some(k) = g.keys().find(|k| !GENERATION_FIELDS.contains(&k.as_str()))
    {
        return Err(unknown_name("generation_config", k));
    }
    let contents = req
        .get("contents")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or("* GenerateContentRequest.contents: contents is not specified")?;
    let thinking = req.pointer("/generationConfig/thinkingConfig").is_some();
    let mut previous_calls: Vec<&str> = Vec::new();
    for (i, c) in contents.iter().enumerate() {
        let role = c.get("role").and_then(Value::as_str).unwrap_or("");
        if role != "user" && role != "model" {
            return Err(format!(
                "Please use a valid role: user, model. (contents[{i}].role: \"{role}\")"
            ));
        }
        let parts = c
            .get("parts")
            .and_then(Value::as_array)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| format!("* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."))?;
        for (j, p) in parts.iter().enumerate() {
            let data = PART_DATA.iter().filter(|k| p.get(**k).is_some()).count();
            if data != 1 {
                return Err(format!(
                    "* GenerateContentRequest.contents[{i}].parts[{j}].data: required oneof field 'data' must have one initialized field"
                ));
            }
            if let Some(name) = p.pointer("/functionResponse/name").and_then(Value::as_str)
                && !previous_calls.contains(&name)
            {
                return Err(format!(
                    "* GenerateContentRequest.contents[{i}].parts[{j}].function_response.name: \"{name}\" answers no function call of the model turn before it"
                ));
            }
        }
        let calls: Vec<&Value> = parts
            .iter()
            .filter(|p| p.get("functionCall").is_some())
            .collect();
        if thinking && role == "model" {
            let signed = calls.first().is_none_or(|p| {
                p.get("thoughtSignature")
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.starts_with("mock-signature-"))
            });
            if !signed {
                let name = calls
                    .first()
                    .and_then(|p| p.pointer("/functionCall/name"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                return Err(format!(
                    "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:{name}` , position {i}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
                ));
            }
        }
        if role == "model" {
            previous_calls = calls
                .iter()
                .filter_map(|p| p.pointer("/functionCall/name").and_then(Value::as_str))
                .collect();
        }
    }
    Ok(())
}

/// The text of a content: its text parts, and function responses' `result` (else their
/// JSON).
fn text_of(content: &Value) -> String {
    let mut out = String::new();
    for p in content
        .get("parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if p.get("thought").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(t) = p.get("text").and_then(Value::as_str) {
            out.push_str(t);
        }
        if let Some(r) = p.pointer("/functionResponse/response") {
            match r.get("result").and_then(Value::as_str) {
                Some(s) => out.push_str(s),
                None => out.push_str(&r.to_string()),
            }
        }
    }
    out
}

struct Answer {
    id: u64,
    model: String,
    prompt_tokens: u64,
    thought: Option<String>,
    signature: Option<String>,
    text: Option<(String, Vec<usize>)>,
    call: Option<(String, Value)>,
    finish: &'static str,
    answer_tokens: u64,
    thought_tokens: Option<u64>,
}

fn answer(config: &MockConfig, req: &Value, model: &str, id: u64) -> Answer {
    let contents = req
        .get("contents")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut chars = req
        .get("systemInstruction")
        .map_or(0, |s| text_of(s).chars().count());
    for c in contents {
        chars += text_of(c).chars().count();
    }
    let last = contents.last();
    let last_text = last.map_or(String::new(), text_of);
    let after_function_response = last
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
        .is_some_and(|p| p.iter().any(|x| x.get("functionResponse").is_some()));
    let seed = last_text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let thinking = req.pointer("/generationConfig/thinkingConfig");
    let signature = thinking.map(|_| format!("mock-signature-{:016x}", mix(seed ^ id)));
    let thought = thinking
        .filter(|t| t.get("includeThoughts").and_then(Value::as_bool) == Some(true))
        .map(|_| "Mock thinking about the request.".to_owned());
    let thought_tokens = thinking.map(|_| 5);

    let declarations: Vec<&Value> = req
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("functionDeclarations").and_then(Value::as_array))
        .flatten()
        .collect();
    let calling = req.pointer("/toolConfig/functionCallingConfig");
    let mode = calling
        .and_then(|c| c.get("mode"))
        .and_then(Value::as_str)
        .unwrap_or("AUTO");
    let call = (mode != "NONE" && !after_function_response)
        .then(|| {
            let allowed = calling
                .and_then(|c| c.pointer("/allowedFunctionNames/0"))
                .and_then(Value::as_str);
            let f = declarations
                .iter()
                .find(|d| allowed.is_none() || d.get("name").and_then(Value::as_str) == allowed)?;
            let name = f.get("name").and_then(Value::as_str)?.to_owned();
            let schema = f
                .get("parametersJsonSchema")
                .or_else(|| f.get("parameters"));
            let mut args = serde_json::Map::new();
            if let Some(props) = schema
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object)
            {
                for (k, s) in props {
                    let v = match s.get("type").and_then(Value::as_str) {
                        Some("string" | "STRING") => json!("mock"),
                        Some("integer" | "number" | "INTEGER" | "NUMBER") => json!(1),
                        Some("boolean" | "BOOLEAN") => json!(true),
                        _ => Value::Null,
                    };
                    args.insert(k.clone(), v);
                }
            }
            Some((name, Value::Object(args)))
        })
        .flatten();
    let prompt_tokens = (chars as u64).div_ceil(4);
    let base = Answer {
        id,
        model: model.to_owned(),
        prompt_tokens,
        thought,
        signature,
        text: None,
        call: None,
        finish: "STOP",
        answer_tokens: 10,
        thought_tokens,
    };
    if let Some(call) = call {
        return Answer {
            call: Some(call),
            ..base
        };
    }
    let mut cfg = config.clone();
    if after_function_response && cfg.reply.is_none() {
        cfg.reply = Some(format!("Tool result: {last_text}"));
    }
    let max_tokens = req
        .pointer("/generationConfig/maxOutputTokens")
        .and_then(Value::as_u64);
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
        finish: if reply.finish_reason == "length" {
            "MAX_TOKENS"
        } else {
            "STOP"
        },
        answer_tokens: reply.completion_tokens,
        text: Some((reply.text, pieces)),
        ..base
    }
}

impl Answer {
    fn usage(&self, answer_tokens: u64) -> Value {
        let thoughts = self.thought_tokens.unwrap_or(0);
        let mut u = json!({"promptTokenCount": self.prompt_tokens,
            "candidatesTokenCount": answer_tokens,
            "totalTokenCount": self.prompt_tokens + answer_tokens + thoughts,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": self.prompt_tokens}]});
        if let Some(t) = self.thought_tokens {
            u["thoughtsTokenCount"] = json!(t);
        }
        u
    }

    fn chunk(&self, parts: Vec<Value>, finish: Option<&str>, answer_tokens: u64) -> Value {
        let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        if let Some(f) = finish {
            candidate["finishReason"] = json!(f);
        }
        json!({"candidates": [candidate], "usageMetadata": self.usage(answer_tokens),
            "modelVersion": self.model, "responseId": format!("mock{:016x}", self.id)})
    }

    fn thought_part(&self) -> Option<Value> {
        self.thought
            .as_ref()
            .map(|t| json!({"text": t, "thought": true}))
    }

    fn call_part(&self) -> Option<Value> {
        self.call.as_ref().map(|(name, args)| {
            let mut p = json!({"functionCall": {"name": name, "args": args}});
            if let Some(sig) = &self.signature {
                p["thoughtSignature"] = json!(sig);
            }
            p
        })
    }

    fn response(&self) -> Value {
        let mut parts: Vec<Value> = self.thought_part().into_iter().collect();
        if let Some((text, _)) = &self.text {
            let mut p = json!({ "text": text });
            if let Some(sig) = &self.signature {
                p["thoughtSignature"] = json!(sig);
            }
            parts.push(p);
        }
        parts.extend(self.call_part());
        self.chunk(parts, Some(self.finish), self.answer_tokens)
    }

    /// The chunk stream, cut into the slots [`crate::stream::frames`] paces: `[0]` empty
    /// (Gemini sends nothing before content), one slot per content chunk (thought, text
    /// pieces or the whole function call), then the finish chunk with the final usage.
    fn stream(&self) -> RenderedStream {
        let mut out = String::new();
        let mut ends = vec![0];
        let mut content = 0;
        let mut event = |out: &mut String, v: Value| {
            let _ = write!(out, "data: {v}\r\n\r\n");
            ends.push(out.len());
            content += 1;
        };
        if let Some(p) = self.thought_part() {
            event(&mut out, self.chunk(vec![p], None, 0));
        }
        if let Some((text, pieces)) = &self.text {
            let mut at = 0;
            for (n, len) in pieces.iter().enumerate() {
                let piece = text.get(at..at + len).unwrap_or("");
                at += len;
                event(
                    &mut out,
                    self.chunk(vec![json!({ "text": piece })], None, n as u64 + 1),
                );
            }
        }
        if let Some(p) = self.call_part() {
            event(&mut out, self.chunk(vec![p], None, self.answer_tokens));
        }
        let mut last = json!({"text": ""});
        if self.call.is_none()
            && let Some(sig) = &self.signature
        {
            last["thoughtSignature"] = json!(sig);
        }
        let finish = self.chunk(vec![last], Some(self.finish), self.answer_tokens);
        let _ = write!(out, "data: {finish}\r\n\r\n");
        ends.push(out.len());
        RenderedStream {
            buf: Bytes::from(out),
            ends,
            content,
        }
    }
}

/// `GET /v1beta/models`: Gemini's model list, as a provider check reads it.
pub async fn list_models(State(state): State<MockState>) -> Response {
    let models: Vec<Value> = crate::handlers::model_ids(&state)
        .iter()
        .map(|id| {
            json!({"name": format!("models/{id}"), "displayName": id,
                "supportedGenerationMethods": ["generateContent", "streamGenerateContent"]})
        })
        .collect();
    json_response(
        StatusCode::OK,
        Bytes::from(json!({ "models": models }).to_string()),
    )
}
