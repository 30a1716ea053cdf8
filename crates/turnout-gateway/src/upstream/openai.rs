//! Step 3: the OpenAI-compatible adapter (`kind = "openai"`): OpenAI, Mistral, Groq, Together,
//! vLLM, Ollama, llama.cpp. Requests pass through with our routing fields removed; replies are
//! re-labelled with our id, model, provider and cost. Azure (`kind = "azure"`) is this adapter
//! with the deployment in the URL and an `api-key` header (both from the catalog); OpenRouter
//! (`kind = "openrouter"`) adds its own members and answers (see `openrouter`).

use std::borrow::Cow;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::value::RawValue;
use turnout_config::ProviderKind;
use turnout_wire::chat::{
    ChatChunk, ChatResult, ChunkChoice, DeltaView, ResultChoice, UpstreamChunk, UpstreamCompletion,
    Usage, chunk_head, normalize_finish_reason,
};
use turnout_wire::params::ParamSet;

use super::attempt::{AttemptError, Completed, FailureClass, classify_status, excerpt};
use crate::accounting::cost::{estimate_usage, usage_out};
use crate::egress::ResponseIdentity;
use crate::ingress::parse::ChatInput;
use crate::routing::catalog::Target;

/// The upstream request, without the `dropped` parameters.
pub fn request(
    target: &Target,
    input: &ChatInput,
    stream: bool,
    dropped: ParamSet,
) -> Result<http::Request<Full<Bytes>>, AttemptError> {
    let provider = &target.endpoint.provider;
    let body = if provider.kind == ProviderKind::Openrouter {
        input.upstream_body_with(&target.upstream_model, stream, dropped, |out| {
            super::openrouter::extend_body(out, target, input);
        })
    } else {
        input.upstream_body(&target.upstream_model, stream, dropped)
    };
    let mut req = super::client::json_post(provider, body, stream);
    if provider.azure_deployments.is_some() {
        *req.uri_mut() = target.chat_uri().ok_or_else(|| {
            AttemptError::new(
                FailureClass::Misconfigured,
                target,
                format!(
                    "Azure deployment `{}` does not fit in a URL",
                    target.upstream_model
                ),
            )
        })?;
    }
    Ok(req)
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
    // One UTF-8 check, then the `str` reader (no check per string and raw value); invalid
    // UTF-8 keeps the slice reader's own error.
    let parsed = match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str::<UpstreamCompletion>(text),
        Err(_) => serde_json::from_slice::<UpstreamCompletion>(body),
    };
    let up = parsed.map_err(|e| bad(format!("malformed JSON: {e}")))?;
    if up.choices.is_empty() {
        return Err(bad("no choices in the answer".to_owned()));
    }
    let (served, label) = match target.endpoint.provider.kind {
        ProviderKind::Openrouter => {
            super::openrouter::served_by(target, up.model.as_deref(), up.provider.as_deref())
        }
        _ => (target, None),
    };
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
        // Generated text is only measured when the upstream reports no usage.
        if up.usage.is_none()
            && let Ok(view) = serde_json::from_str::<DeltaView>(message.get())
        {
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
    let usage_json = usage_out(&served.endpoint.pricing, &usage, finish);
    let cost = usage_json.cost.0;
    let result = ChatResult {
        id: &ident.id,
        provider: label.as_deref().unwrap_or(&served.endpoint.provider.name),
        model: &served.model_id,
        object: "chat.completion",
        created: ident.created,
        choices,
        system_fingerprint: up.system_fingerprint,
        service_tier: up.service_tier,
        usage: usage_json,
    };
    let body = result.to_json();
    Ok(Completed {
        body,
        usage,
        cost,
        finish_reason: finish,
        served_by: (!std::ptr::eq(served, target)).then(|| served.clone()),
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
    /// `data: ` and the chunk members that are the same for the whole stream, with the model
    /// and provider they were written for.
    head: Option<ChunkHead>,
    /// Our `provider` for this stream when not the endpoint's provider's name (OpenRouter's
    /// choice of provider in it).
    pub provider_label: Option<Box<str>>,
}

#[derive(Debug)]
struct ChunkHead {
    model: Box<str>,
    provider: Box<str>,
    bytes: Vec<u8>,
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
            head: None,
            provider_label: None,
        }
    }

    /// The `provider` our chunks name.
    pub fn provider_name<'a>(&'a self, target: &'a Target) -> &'a str {
        self.provider_label
            .as_deref()
            .unwrap_or(&target.endpoint.provider.name)
    }

    /// The frame start of every chunk for `target`, written once per stream.
    fn ensure_head(&mut self, target: &Target) {
        // Fields, not `provider_name`: `head` is written while the label is borrowed.
        let model = &target.model_id;
        let provider = self
            .provider_label
            .as_deref()
            .unwrap_or(&target.endpoint.provider.name);
        let fresh = self
            .head
            .as_ref()
            .is_none_or(|h| *h.model != **model || &*h.provider != provider);
        if fresh {
            let mut bytes = b"data: ".to_vec();
            chunk_head(
                &mut bytes,
                &self.ident.id,
                CHUNK_OBJECT,
                self.ident.created,
                model,
                provider,
            );
            self.head = Some(ChunkHead {
                model: model.as_str().into(),
                provider: provider.into(),
                bytes,
            });
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

    /// Notes what an event passed on in the upstream's own dialect carried, as
    /// [`StreamTranslator::frame_delta`] does for the chunks it frames.
    pub(super) fn note(
        &mut self,
        chars: usize,
        content: bool,
        finish_reason: Option<&'static str>,
    ) {
        self.completion_chars += chars;
        self.has_content |= content;
        if finish_reason.is_some() {
            self.finish_seen = true;
            self.finish_reason = finish_reason;
        }
    }

    /// Frames one chunk with a single choice made by another adapter from its own dialect,
    /// and notes what it carried, as [`StreamTranslator::translate`] does for OpenAI chunks.
    pub(super) fn frame_delta(
        &mut self,
        target: &Target,
        delta: &RawValue,
        chars: usize,
        content: bool,
        finish_reason: Option<&'static str>,
        native_finish_reason: Option<&str>,
    ) -> Bytes {
        self.note(chars, content, finish_reason);
        self.ensure_head(target);
        let out = ChatChunk {
            id: &self.ident.id,
            object: CHUNK_OBJECT,
            created: self.ident.created,
            model: &target.model_id,
            provider: self.provider_name(target),
            choices: vec![ChunkChoice {
                index: 0,
                delta: Some(delta),
                finish_reason,
                native_finish_reason: native_finish_reason.map(Cow::Borrowed),
                logprobs: None,
            }],
            system_fingerprint: None,
            service_tier: None,
            usage: None,
            error: None,
        };
        let head = self.head.as_ref().map_or(&[][..], |h| &h.bytes);
        let mut frame = Vec::with_capacity(head.len() + delta.get().len() + 96);
        frame.extend_from_slice(head);
        out.write_rest(&mut frame);
        frame.extend_from_slice(b"\n\n");
        Bytes::from(frame)
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
        self.ensure_head(target);
        let out = ChatChunk {
            id: &self.ident.id,
            object: CHUNK_OBJECT,
            created: self.ident.created,
            model: &target.model_id,
            provider: self.provider_name(target),
            choices,
            system_fingerprint: chunk.system_fingerprint,
            service_tier: chunk.service_tier,
            usage: None,
            error: None,
        };
        // `data: {head…,rest}\n\n` in one buffer: the same bytes as `encode_data(to_json())`.
        let head = self.head.as_ref().map_or(&[][..], |h| &h.bytes);
        let mut frame = Vec::with_capacity(head.len() + data.len() + 64);
        frame.extend_from_slice(head);
        out.write_rest(&mut frame);
        frame.extend_from_slice(b"\n\n");
        Ok(Translated::Chunk(Bytes::from(frame)))
    }
}

const CHUNK_OBJECT: &str = "chat.completion.chunk";

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
    let mut error = AttemptError {
        upstream_status: Some(status),
        raw: Some(excerpt(err.get(), 2000).into()),
        ..AttemptError::new(class, target, message)
    };
    if target.endpoint.provider.kind == ProviderKind::Openrouter {
        super::openrouter::refine_error(&mut error, &wrapped);
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::catalog::test_target;
    use turnout_wire::sse::SseDecoder;

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/openai/"
    );

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{FIXTURES}{name}")).expect("fixture")
    }

    fn ident() -> ResponseIdentity {
        ResponseIdentity {
            id: "gen-1-abcdefghijklmnopqrst".into(),
            created: 1,
        }
    }

    /// Runs a whole upstream SSE body through the translator.
    fn translate_sse(body: &str) -> (StreamTranslator, Vec<serde_json::Value>, bool) {
        let target = test_target("0.000001", "0.000002");
        let mut t = StreamTranslator::new(ident(), 10);
        let mut d = SseDecoder::new();
        d.push(body.as_bytes());
        let mut out = Vec::new();
        let mut done = false;
        while let Some(ev) = d.next_event().or_else(|| d.finish()) {
            match t.translate(&ev.data, &target).expect("translates") {
                Translated::Chunk(b) => {
                    let text = std::str::from_utf8(&b).expect("utf8");
                    let json = text
                        .strip_prefix("data: ")
                        .and_then(|s| s.strip_suffix("\n\n"))
                        .expect("sse frame");
                    out.push(serde_json::from_str(json).expect("json"));
                }
                Translated::Nothing => {}
                Translated::Done => done = true,
            }
        }
        (t, out, done)
    }

    #[test]
    fn tool_call_streams_keep_every_fragment() {
        let body = fixture(
            "openai-python__stream_parallel_tool_calls__test_parse_multiple_pydantic_tools.sse",
        );
        let (t, chunks, done) = translate_sse(&body);
        assert!(done && t.has_content() && t.finished());
        assert_eq!(t.finish_reason, Some("tool_calls"));
        // Upstream argument fragments, concatenated per tool index, survive byte for byte.
        let collect = |chunks: &[serde_json::Value]| {
            let mut args: std::collections::BTreeMap<u64, String> = Default::default();
            for c in chunks {
                for call in c["choices"][0]["delta"]["tool_calls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let i = call["index"].as_u64().expect("index");
                    args.entry(i)
                        .or_default()
                        .push_str(call["function"]["arguments"].as_str().unwrap_or(""));
                }
            }
            args
        };
        let upstream: Vec<serde_json::Value> = body
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).expect("fixture json"))
            .collect();
        assert_eq!(collect(&chunks), collect(&upstream));
        assert!(collect(&chunks).len() >= 2);
        for c in &chunks {
            assert_eq!(c["id"], "gen-1-abcdefghijklmnopqrst");
            assert_eq!(c["model"], "acme/chat");
            assert_eq!(c["provider"], "Acme AI");
        }
    }

    #[test]
    fn length_finish_and_usage_are_captured() {
        let (t, chunks, _) = translate_sse(&fixture(
            "openai-python__stream_finish_length_usage__test_parse_max_tokens_reached.sse",
        ));
        assert_eq!(t.finish_reason, Some("length"));
        let last = chunks.last().expect("chunks");
        assert_eq!(last["choices"][0]["finish_reason"], "length");
        assert_eq!(last["choices"][0]["native_finish_reason"], "length");
        let usage = t.usage();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (79, 1));
    }

    #[test]
    fn refusals_count_as_content() {
        let (t, chunks, _) = translate_sse(&fixture(
            "openai-python__stream_refusal__test_parse_pydantic_model_refusal.sse",
        ));
        assert!(t.has_content());
        let refusal: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["refusal"].as_str())
            .collect();
        assert!(refusal.starts_with("I'm sorry"), "{refusal}");
    }

    #[test]
    fn a_stream_without_usage_is_estimated_not_zero() {
        let body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello world!\"}}]}\n\n\
                    data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
        let (t, _, _) = translate_sse(body);
        let u = t.usage();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (4, 3));
    }

    #[test]
    fn chunks_are_framed_byte_for_byte() {
        let target = test_target("0", "0");
        let mut t = StreamTranslator::new(ident(), 0);
        let data = r#"{"id":"x","object":"chat.completion.chunk","created":9,"model":"m","choices":[{"index":0,"delta":{"content":"a\"b"},"logprobs":null,"finish_reason":null}],"system_fingerprint":"fp"}"#;
        for _ in 0..2 {
            let Ok(Translated::Chunk(b)) = t.translate(data, &target) else {
                panic!("a chunk");
            };
            assert_eq!(
                std::str::from_utf8(&b).expect("utf8"),
                "data: {\"id\":\"gen-1-abcdefghijklmnopqrst\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"acme/chat\",\"provider\":\"Acme AI\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\\\"b\"},\"finish_reason\":null,\"native_finish_reason\":null,\"logprobs\":null}],\"system_fingerprint\":\"fp\"}\n\n"
            );
        }
    }

    #[test]
    fn an_in_band_error_chunk_is_classified() {
        let target = test_target("0", "0");
        let mut t = StreamTranslator::new(ident(), 0);
        let err = t
            .translate(r#"{"error":{"code":429,"message":"slow down"}}"#, &target)
            .err()
            .expect("error");
        assert_eq!(err.class, FailureClass::RateLimited);
        let err = t.translate("not json", &target).err().expect("error");
        assert_eq!(err.class, FailureClass::BadOutput);
    }

    #[test]
    fn a_real_completion_is_relabelled_and_priced() {
        let target = test_target("0.0000001", "0.0000004");
        let input = crate::ingress::parse::parse_chat(
            br#"{"model":"acme/chat","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .expect("input");
        let body = fixture("vercel-ai__openai-text.json");
        let done = render_completion(body.as_bytes(), &target, &input, &ident()).expect("renders");
        let out: serde_json::Value = serde_json::from_slice(&done.body).expect("json");
        let up: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(out["id"], "gen-1-abcdefghijklmnopqrst");
        assert_eq!(out["model"], "acme/chat");
        assert_eq!(out["provider"], "Acme AI");
        assert_eq!(
            out["choices"][0]["message"], up["choices"][0]["message"],
            "message kept as is"
        );
        assert_eq!(out["usage"]["prompt_tokens"], up["usage"]["prompt_tokens"]);
        assert_eq!(
            done.usage.completion_tokens,
            up["usage"]["completion_tokens"].as_u64().expect("n")
        );
        assert!(done.cost > rust_decimal::Decimal::ZERO);
    }

    use crate::upstream::client::sent_json as sent;

    #[test]
    fn azure_requests_name_the_deployment_and_send_api_key() {
        let target = crate::routing::catalog::test_target_of("azure", "0", "0");
        let input = crate::ingress::parse::parse_chat(
            br#"{"model":"acme/chat","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .expect("input");
        let req = request(&target, &input, true, ParamSet::EMPTY).expect("request");
        assert_eq!(
            req.uri(),
            "http://127.0.0.1:9/v1/openai/deployments/up/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(req.headers()["api-key"], "sk-test");
        assert!(req.headers().get("authorization").is_none());
        assert_eq!(sent(req)["stream"], true);
    }

    #[test]
    fn azure_filter_results_are_not_content_and_a_filtered_answer_is_content_filter() {
        // Azure's stream: a first chunk with no choices and the prompt's filter results,
        // then chunks carrying `content_filter_results` per choice.
        let body = "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{\"hate\":{\"filtered\":false,\"severity\":\"safe\"}}}]}\n\n";
        let (t, chunks, _) = translate_sse(body);
        assert!(!t.has_content() && chunks.is_empty(), "{chunks:?}");
        let body = concat!(
            "data: {\"choices\":[{\"content_filter_results\":{},\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null,\"index\":0}],\"created\":1,\"id\":\"c\",\"model\":\"gpt-4o\",\"object\":\"chat.completion.chunk\"}\n\n",
            "data: {\"choices\":[{\"content_filter_results\":{\"violence\":{\"filtered\":true,\"severity\":\"high\"}},\"delta\":{},\"finish_reason\":\"content_filter\",\"index\":0}],\"created\":1,\"id\":\"c\",\"model\":\"gpt-4o\",\"object\":\"chat.completion.chunk\"}\n\n",
            "data: [DONE]\n\n",
        );
        let (t, chunks, done) = translate_sse(body);
        assert!(done && t.finished());
        assert_eq!(t.finish_reason, Some("content_filter"));
        assert_eq!(
            chunks.last().expect("chunk")["choices"][0]["native_finish_reason"],
            "content_filter"
        );
        // A prompt Azure refuses is the client's content, not an outage.
        let refused = r#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"violence":{"filtered":true,"severity":"high"}}}}}"#;
        let (class, message) = classify_status(400, refused);
        assert_eq!(class, FailureClass::ContentPolicy);
        assert!(
            message.starts_with("The response was filtered"),
            "{message}"
        );
        assert!(!class.falls_over_to_next_endpoint());
    }

    #[test]
    fn openrouter_requests_carry_the_clients_routing_and_ask_for_usage() {
        let mut target = crate::routing::catalog::test_target_of("openrouter", "0", "0");
        let mut later = target.clone();
        later.model_id = "acme/other".into();
        later.upstream_model = "other/up".into();
        target.fallbacks = Some(vec![later].into());
        let input = crate::ingress::parse::parse_chat(
            br#"{"model":"acme/chat","models":["acme/other"],"messages":[{"role":"user","content":"hi"}],"provider":{"order":["anthropic"],"allow_fallbacks":false},"reasoning":{"effort":"low"},"seed":3}"#,
        )
        .expect("input");
        let req = request(&target, &input, false, ParamSet::of(["seed"])).expect("request");
        assert_eq!(req.uri(), "http://127.0.0.1:9/v1/chat/completions");
        assert_eq!(req.headers()["authorization"], "Bearer sk-test");
        let body = sent(req);
        assert_eq!(
            body["provider"],
            serde_json::json!({"order":["anthropic"],"allow_fallbacks":false})
        );
        assert_eq!(body["models"], serde_json::json!(["other/up"]));
        assert_eq!(body["usage"], serde_json::json!({"include": true}));
        assert_eq!(body["reasoning"], serde_json::json!({"effort": "low"}));
        assert!(body.get("seed").is_none(), "dropped");
        // An OpenAI-compatible upstream gets none of it.
        let plain = crate::routing::catalog::test_target_of("openai", "0", "0");
        let body = sent(request(&plain, &input, false, ParamSet::EMPTY).expect("request"));
        assert!(body.get("provider").is_none() && body.get("models").is_none());
        assert!(body.get("usage").is_none() && body.get("reasoning").is_none());
        assert_eq!(body["seed"], 3);
    }

    #[test]
    fn an_openrouter_answer_reports_its_provider_model_and_charge() {
        let mut target =
            crate::routing::catalog::test_target_of("openrouter", "0.000001", "0.000002");
        let mut later = target.clone();
        later.model_id = "acme/other".into();
        later.upstream_model = "other/up".into();
        target.fallbacks = Some(vec![later].into());
        let input = crate::ingress::parse::parse_chat(
            br#"{"model":"acme/chat","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .expect("input");
        let body = br#"{"id":"gen-1","provider":"Anthropic","model":"other/up","object":"chat.completion","created":1,"choices":[{"index":0,"finish_reason":"stop","native_finish_reason":"end_turn","message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"cost":0.0123}}"#;
        let done = render_completion(body, &target, &input, &ident()).expect("renders");
        let out: serde_json::Value = serde_json::from_slice(&done.body).expect("json");
        assert_eq!(out["provider"], "Acme AI (Anthropic)");
        assert_eq!(
            out["model"], "acme/other",
            "the model OpenRouter fell back to"
        );
        assert_eq!(
            done.served_by.as_ref().map(|t| t.model_id.as_str()),
            Some("acme/other")
        );
        // Billed at our prices; what OpenRouter charged is reported beside it.
        assert_eq!(out["usage"]["cost"], serde_json::json!(0.00002));
        assert_eq!(
            out["usage"]["cost_details"]["upstream_inference_cost"],
            serde_json::json!(0.0123)
        );
    }

    #[test]
    fn real_openai_error_bodies_classify_as_the_table_says() {
        let read = |n: &str| fixture(n);
        let (c, m) = classify_status(
            401,
            &read("real-capture__error_401_invalid_api_key.FROM_PY_REPR.json"),
        );
        assert_eq!(c, FailureClass::Misconfigured);
        assert!(m.starts_with("Incorrect API key"));
        assert_eq!(
            classify_status(
                429,
                &read("real-capture__error_429_rate_limit_tpm.FROM_PY_REPR.json")
            )
            .0,
            FailureClass::RateLimited
        );
        assert_eq!(
            classify_status(
                500,
                &read("real-capture__error_500_server_error.FROM_PY_REPR.json")
            )
            .0,
            FailureClass::ServerError
        );
        assert_eq!(
            classify_status(
                400,
                &read("vercel-ai__reasoning-model-legacy-parameter-error.json")
            )
            .0,
            FailureClass::InvalidRequest {
                context_length: false
            }
        );
    }
}
