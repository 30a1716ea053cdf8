//! Step 3: the OpenAI-compatible adapter (`kind = "openai"`): OpenAI, Mistral, Groq, Together,
//! vLLM, Ollama, llama.cpp, OpenRouter itself. Requests pass through with our routing fields
//! removed; replies are re-labelled with our id, model, provider and cost.

use std::borrow::Cow;

use bytes::Bytes;
use secrecy::ExposeSecret;
use serde_json::value::RawValue;
use turnout_wire::chat::{
    ChatChunk, ChatResult, ChunkChoice, DeltaView, ResultChoice, UpstreamChunk, UpstreamCompletion,
    Usage, normalize_finish_reason,
};
use turnout_wire::sse::encode_data;

use super::attempt::{AttemptError, Completed, FailureClass, classify_status, excerpt};
use crate::accounting::cost::{estimate_usage, usage_out};
use crate::egress::ResponseIdentity;
use crate::ingress::parse::ChatInput;
use crate::routing::catalog::Target;

pub fn request(target: &Target, input: &ChatInput, stream: bool) -> reqwest::RequestBuilder {
    let provider = &target.endpoint.provider;
    let url = format!("{}/chat/completions", provider.base_url);
    let mut req = provider
        .client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(input.upstream_body(&target.upstream_model, stream));
    if stream {
        req = req.header(reqwest::header::ACCEPT, "text/event-stream");
    }
    if let Some(key) = &provider.api_key {
        req = req.bearer_auth(key.expose_secret());
    }
    for (name, value) in &provider.headers {
        req = req.header(name.as_str(), value.expose_secret());
    }
    req
}

pub fn render_completion(
    body: &[u8],
    target: &Target,
    input: &ChatInput,
    ident: &ResponseIdentity,
) -> Result<Completed, AttemptError> {
    let bad = |detail: String| AttemptError {
        raw: Some(excerpt(&String::from_utf8_lossy(body), 500).into()),
        ..AttemptError::new(FailureClass::BadOutput, target, detail)
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(bad("empty body".to_owned()));
    }
    let up: UpstreamCompletion =
        serde_json::from_slice(body).map_err(|e| bad(format!("malformed JSON: {e}")))?;
    if up.choices.is_empty() {
        return Err(bad("no choices in the answer".to_owned()));
    }
    let mut finish = None;
    let mut completion_chars = 0;
    let mut choices = Vec::with_capacity(up.choices.len());
    for c in &up.choices {
        let message = c
            .message
            .ok_or_else(|| bad(format!("choice {} has no message", c.index)))?;
        let native = c
            .native_finish_reason
            .as_ref()
            .or(c.finish_reason.as_ref())
            .map(|s| Cow::Borrowed(s.as_ref()));
        let normalized = c.finish_reason.as_deref().map(normalize_finish_reason);
        if c.index == 0 || finish.is_none() {
            finish = normalized;
        }
        if let Ok(view) = serde_json::from_str::<DeltaView>(message.get()) {
            completion_chars += view.text_chars();
        }
        choices.push(ResultChoice {
            index: c.index,
            logprobs: c.logprobs,
            finish_reason: normalized,
            native_finish_reason: native,
            message,
        });
    }
    let usage = up
        .usage
        .clone()
        .unwrap_or_else(|| estimate_usage(input.prompt_chars, completion_chars));
    let usage_json = usage_out(&target.endpoint.pricing, &usage, finish);
    let cost = usage_json.cost.0;
    let result = ChatResult {
        id: &ident.id,
        provider: &target.endpoint.provider.name,
        model: &target.model_id,
        object: "chat.completion",
        created: ident.created,
        choices,
        system_fingerprint: up.system_fingerprint,
        service_tier: up.service_tier,
        usage: usage_json,
    };
    let body = serde_json::to_vec(&result).map_err(|e| bad(format!("cannot re-encode: {e}")))?;
    Ok(Completed {
        body,
        usage,
        cost,
        finish_reason: finish,
    })
}

pub enum Translated {
    Chunk(Bytes),
    Nothing,
    Done,
}

/// Re-labels an upstream chat stream chunk by chunk and keeps what the final usage chunk needs.
#[derive(Debug)]
pub struct StreamTranslator {
    ident: ResponseIdentity,
    prompt_chars: usize,
    pub usage: Option<Usage>,
    pub finish_reason: Option<&'static str>,
    pub completion_chars: usize,
    has_content: bool,
    finish_seen: bool,
}

impl StreamTranslator {
    pub fn new(ident: ResponseIdentity, prompt_chars: usize) -> Self {
        Self {
            ident,
            prompt_chars,
            usage: None,
            finish_reason: None,
            completion_chars: 0,
            has_content: false,
            finish_seen: false,
        }
    }

    /// True once a chunk carried text, a tool call or a finish reason.
    pub fn has_content(&self) -> bool {
        self.has_content
    }

    pub fn finished(&self) -> bool {
        self.finish_seen
    }

    /// Usage as reported, or estimated from what was generated (never silently zero).
    pub fn usage(&self) -> Usage {
        self.usage
            .clone()
            .unwrap_or_else(|| estimate_usage(self.prompt_chars, self.completion_chars))
    }

    pub fn ident(&self) -> &ResponseIdentity {
        &self.ident
    }

    pub fn translate(&mut self, data: &str, target: &Target) -> Result<Translated, AttemptError> {
        if data.trim() == "[DONE]" {
            return Ok(Translated::Done);
        }
        let chunk: UpstreamChunk = serde_json::from_str(data).map_err(|e| AttemptError {
            raw: Some(excerpt(data, 500).into()),
            ..AttemptError::new(
                FailureClass::BadOutput,
                target,
                format!("malformed chunk: {e}"),
            )
        })?;
        if let Some(err) = chunk.error {
            return Err(in_band_error(err, target));
        }
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.clone());
        }
        if chunk.choices.is_empty() {
            return Ok(Translated::Nothing);
        }
        let mut choices = Vec::with_capacity(chunk.choices.len());
        for c in &chunk.choices {
            let delta = c.delta;
            if let Some(view) = delta.and_then(|d| serde_json::from_str::<DeltaView>(d.get()).ok())
            {
                let chars = view.text_chars();
                self.completion_chars += chars;
                if chars > 0 {
                    self.has_content = true;
                }
            }
            let normalized = c.finish_reason.as_deref().map(normalize_finish_reason);
            if normalized.is_some() {
                self.has_content = true;
                self.finish_seen = true;
                if c.index == 0 || self.finish_reason.is_none() {
                    self.finish_reason = normalized;
                }
            }
            choices.push(ChunkChoice {
                index: c.index,
                delta,
                finish_reason: normalized,
                native_finish_reason: c
                    .native_finish_reason
                    .as_ref()
                    .or(c.finish_reason.as_ref())
                    .map(|s| Cow::Borrowed(s.as_ref())),
                logprobs: c.logprobs,
            });
        }
        let out = ChatChunk {
            id: &self.ident.id,
            object: "chat.completion.chunk",
            created: self.ident.created,
            model: &target.model_id,
            provider: &target.endpoint.provider.name,
            choices,
            system_fingerprint: chunk.system_fingerprint,
            service_tier: chunk.service_tier,
            usage: None,
            error: None,
        };
        let json = serde_json::to_vec(&out).map_err(|e| {
            AttemptError::new(
                FailureClass::BadOutput,
                target,
                format!("cannot re-encode chunk: {e}"),
            )
        })?;
        Ok(Translated::Chunk(encode_data(&json)))
    }
}

/// An `error` object inside a stream chunk (`{"code":…,"message":…}`).
fn in_band_error(err: &RawValue, target: &Target) -> AttemptError {
    let v: serde_json::Value = serde_json::from_str(err.get()).unwrap_or_default();
    let status = v
        .get("code")
        .and_then(serde_json::Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .unwrap_or(502);
    let wrapped = format!("{{\"error\":{}}}", err.get());
    let (class, message) = classify_status(status, &wrapped);
    AttemptError {
        upstream_status: Some(status),
        raw: Some(excerpt(err.get(), 2000).into()),
        ..AttemptError::new(class, target, message)
    }
}
