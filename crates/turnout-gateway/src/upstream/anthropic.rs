//! Step 3: the Anthropic adapter (`kind = "anthropic"`): Chat Completions requests are
//! translated to Messages (`POST {base_url}/messages`), answers and event streams back to our
//! chat shapes, with the same identity, usage and cost as the OpenAI-compatible path. The
//! translation itself is pure and lives in `turnout_wire::anthropic`.
//!
//! A request that came in through `/messages` is not translated: its own body goes up with
//! only `model` changed, and the answer or event stream comes back byte for byte but for
//! `model`, while usage and finish are read from it as from a translated one (DESIGN.md §3).

use bytes::Bytes;
use http_body_util::Full;
use turnout_wire::anthropic::{
    self as wire, ErrorDetail, MessagesResponse, RequestOptions, StreamError, StreamState,
};

use turnout_wire::params::ParamSet;
use turnout_wire::translate::StreamStep;

use super::attempt::{AttemptError, Completed, FailureClass, classify_status, excerpt};
use super::openai::{StreamTranslator, Translated};
use crate::accounting::cost::{estimate_usage, usage_out};
use crate::egress::ResponseIdentity;
use crate::ingress::parse::ChatInput;
use crate::routing::catalog::Target;

/// Whether the request's `response_format` went up as the JSON tool (translated requests
/// only: a `/messages` client speaks Anthropic itself).
fn structured(input: &ChatInput) -> bool {
    input.native.is_none() && input.params_used.has_member("response_format")
}

/// Whether this endpoint gets the client's own Messages body (and answers it unchanged).
pub fn passes_through(target: &Target, input: &ChatInput) -> bool {
    target.endpoint.provider.kind == turnout_config::ProviderKind::Anthropic
        && input.native.is_some()
}

/// The upstream request for one endpoint. A request Anthropic cannot express (a tool call
/// whose arguments are not an object, an audio part, …) is the client's fault.
pub fn request(
    target: &Target,
    input: &ChatInput,
    stream: bool,
    dropped: ParamSet,
) -> Result<http::Request<Full<Bytes>>, AttemptError> {
    if let Some(native) = &input.native {
        let body = native.upstream_body(&target.upstream_model);
        let mut req = super::client::json_post(&target.endpoint.provider, body, stream);
        if let Some(beta) = &native.beta {
            req.headers_mut().insert("anthropic-beta", beta.clone());
        }
        return Ok(req);
    }
    let body = translated_body(target, input, stream, dropped).map_err(|detail| AttemptError {
        upstream_status: None,
        ..AttemptError::new(
            FailureClass::InvalidRequest {
                context_length: false,
            },
            target,
            detail,
        )
    })?;
    // `x-api-key`, `anthropic-version` and the configured extras are the provider's headers.
    Ok(super::client::json_post(
        &target.endpoint.provider,
        body,
        stream,
    ))
}

fn translated_body(
    target: &Target,
    input: &ChatInput,
    stream: bool,
    dropped: ParamSet,
) -> Result<Vec<u8>, String> {
    let body = super::translating::chat_body(input, dropped)?;
    let opts = RequestOptions {
        model: &target.upstream_model,
        default_max_tokens: target
            .endpoint
            .max_completion_tokens
            .unwrap_or(wire::DEFAULT_MAX_TOKENS),
        stream,
    };
    let req = wire::request_from_openai(&body, opts).map_err(|e| e.to_string())?;
    serde_json::to_vec(&req).map_err(|e| format!("request body: {e}"))
}

pub fn render_completion(
    body: &[u8],
    target: &Target,
    input: &ChatInput,
    ident: &ResponseIdentity,
) -> Result<Completed, AttemptError> {
    let bad = |detail: String| super::translating::bad_output(body, target, detail);
    let up: MessagesResponse = super::translating::parse_answer(body, target)?;
    if up.content.is_empty() && up.stop_reason.is_none() {
        return Err(bad("no content and no stop reason in the answer".to_owned()));
    }
    if input.native.is_some() {
        return passed_through(body, &up, target, input, bad);
    }
    let done = wire::structured_completion(&up, structured(input));
    let reported = up.usage.input_tokens.is_some() || up.usage.output_tokens.is_some();
    super::translating::completion(done, reported, target, input, ident)
}

/// The upstream's own answer to a `/messages` client, with our model id in it; usage and
/// cost are read from it as from a translated one.
fn passed_through(
    body: &[u8],
    up: &MessagesResponse,
    target: &Target,
    input: &ChatInput,
    bad: impl Fn(String) -> AttemptError,
) -> Result<Completed, AttemptError> {
    let text = std::str::from_utf8(body).map_err(|e| bad(format!("not UTF-8: {e}")))?;
    let usage = if up.usage.input_tokens.is_some() || up.usage.output_tokens.is_some() {
        up.usage.to_openai()
    } else {
        let done = wire::completion_from_response(up);
        let chars = serde_json::from_str::<turnout_wire::chat::DeltaView>(&done.message)
            .map_or(0, |v| v.text_chars());
        estimate_usage(input.prompt_chars, chars)
    };
    let finish = up.stop_reason.as_deref().map(wire::finish_reason);
    let cost = usage_out(&target.endpoint.pricing, &usage, finish).cost.0;
    let model = serde_json::to_vec(&target.model_id).unwrap_or_default();
    let body = turnout_wire::json::splice_object(text, &[("model", &model)], &[])
        .ok_or_else(|| bad("the answer is not a JSON object".to_owned()))?;
    Ok(Completed {
        body,
        usage,
        cost,
        finish_reason: finish,
        served_by: None,
    })
}

/// The per-stream state of an Anthropic event stream; chunks are framed by the shared
/// [`StreamTranslator`] so identity, usage and the final chunk work as for OpenAI. When the
/// client spoke Messages, the events themselves are passed on instead.
#[derive(Debug, Default)]
pub struct AnthropicStream {
    state: StreamState,
    passthrough: bool,
}

impl AnthropicStream {
    pub fn for_input(input: &ChatInput) -> Self {
        Self {
            state: StreamState::structured(structured(input)),
            passthrough: input.native.is_some(),
        }
    }

    pub fn translate(
        &mut self,
        t: &mut StreamTranslator,
        data: &str,
        target: &Target,
    ) -> Result<Translated, AttemptError> {
        if self.passthrough {
            return self.pass(t, data, target);
        }
        let step = self.state.on_event(data).map_err(|e| match e {
            StreamError::Malformed(detail) => super::translating::bad_output(
                data.as_bytes(),
                target,
                format!("malformed event: {detail}"),
            ),
            StreamError::Upstream(detail) => event_error(&detail, target),
        })?;
        // Usage is cumulative: the latest report is the one that counts.
        if let Some(u) = self.state.usage() {
            t.usage = Some(u);
        }
        super::translating::stream_step(t, step, target)
    }
}

impl AnthropicStream {
    /// One upstream event, noted for usage, content and finish, and sent on as it came but
    /// for `message_start`'s model (the `event:` line is its type, as Anthropic writes it).
    fn pass(
        &mut self,
        t: &mut StreamTranslator,
        data: &str,
        target: &Target,
    ) -> Result<Translated, AttemptError> {
        let step = self.state.on_event(data).map_err(|e| match e {
            StreamError::Malformed(detail) => super::translating::bad_output(
                data.as_bytes(),
                target,
                format!("malformed event: {detail}"),
            ),
            StreamError::Upstream(detail) => event_error(&detail, target),
        })?;
        if let Some(u) = self.state.usage() {
            t.usage = Some(u);
        }
        #[derive(serde::Deserialize)]
        struct Kind<'a> {
            #[serde(rename = "type", borrow)]
            kind: std::borrow::Cow<'a, str>,
        }
        let kind = serde_json::from_str::<Kind>(data)
            .map(|k| k.kind.into_owned())
            .unwrap_or_default();
        let relabeled = match kind.as_str() {
            "message_start" => relabel_start(data, &target.model_id),
            _ => None,
        };
        let data = relabeled.as_deref().unwrap_or(data.as_bytes());
        match step {
            StreamStep::Delta(d) => t.note(d.chars, d.content, d.finish_reason),
            // An answer that stops without saying why still ended.
            StreamStep::Stop if !t.finished() => t.note(0, true, Some("stop")),
            _ => {}
        }
        let mut frame = Vec::with_capacity(data.len() + kind.len() + 20);
        frame.extend_from_slice(b"event: ");
        frame.extend_from_slice(kind.as_bytes());
        frame.extend_from_slice(b"\ndata: ");
        frame.extend_from_slice(data);
        frame.extend_from_slice(b"\n\n");
        Ok(Translated::Chunk(Bytes::from(frame)))
    }
}

/// `message_start` with `message.model` set to ours.
fn relabel_start(data: &str, model: &str) -> Option<Vec<u8>> {
    let spans = turnout_wire::json::member_spans(data)?;
    let (_, message) = spans.iter().find(|(k, _)| k == "message")?;
    let model = serde_json::to_vec(model).ok()?;
    let inner =
        turnout_wire::json::splice_object(&data[message.clone()], &[("model", &model)], &[])?;
    let mut out = Vec::with_capacity(data.len() + model.len());
    out.extend_from_slice(&data.as_bytes()[..message.start]);
    out.extend_from_slice(&inner);
    out.extend_from_slice(&data.as_bytes()[message.end..]);
    Some(out)
}

/// An `error` event inside a 200 stream, classified as the HTTP error it stands for
/// (`overloaded_error` is a 529: overloaded, may fall over before content).
fn event_error(detail: &ErrorDetail, target: &Target) -> AttemptError {
    let status = detail.status();
    let envelope = serde_json::json!({"type": "error", "error": detail}).to_string();
    let (class, message) = classify_status(status, &envelope);
    AttemptError {
        upstream_status: Some(status),
        raw: Some(excerpt(&envelope, 2000).into()),
        ..AttemptError::new(class, target, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::catalog::test_target_of;
    use turnout_wire::sse::SseDecoder;

    fn ident() -> ResponseIdentity {
        ResponseIdentity {
            id: "gen-1-abcdefghijklmnopqrst".into(),
            created: 1,
        }
    }

    fn input(body: &str) -> ChatInput {
        crate::ingress::parse::parse_chat(body.as_bytes()).expect("input")
    }

    #[test]
    fn request_goes_to_messages_with_anthropic_headers() {
        let target = test_target_of("anthropic", "0", "0");
        let req = request(
            &target,
            &input(
                r#"{"model":"acme/chat","messages":[{"role":"user","content":"hi"}],"reasoning":{"max_tokens":1500},"provider":{"sort":"price"}}"#,
            ),
            true,
            ParamSet::EMPTY,
        )
        .expect("request");
        assert_eq!(req.uri(), "http://127.0.0.1:9/v1/messages");
        assert_eq!(req.headers()["x-api-key"], "sk-test");
        assert_eq!(req.headers()["anthropic-version"], "2023-06-01");
        assert!(req.headers().get("authorization").is_none());
        let sent = crate::upstream::client::sent_json(req);
        assert_eq!(sent["model"], "up");
        assert_eq!(sent["stream"], true);
        assert_eq!(sent["max_tokens"], 4096);
        assert_eq!(sent["thinking"]["budget_tokens"], 1500);
        assert!(sent.get("provider").is_none());
    }

    #[test]
    fn an_inexpressible_request_is_the_clients_fault() {
        let target = test_target_of("anthropic", "0", "0");
        let err = request(
            &target,
            &input(
                r#"{"model":"acme/chat","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}"#,
            ),
            false,
            ParamSet::EMPTY,
        )
        .expect_err("refused");
        assert!(matches!(err.class, FailureClass::InvalidRequest { .. }));
        assert_eq!(err.client_status(), 400);
    }

    #[test]
    fn a_completion_is_relabelled_and_priced_with_cache_tokens() {
        let target = test_target_of("anthropic", "0.000003", "0.000015");
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x",
            "content":[{"type":"text","text":"Hello!"}],"stop_reason":"end_turn","stop_sequence":null,
            "usage":{"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":20,"output_tokens":5}}"#;
        let done = render_completion(
            body,
            &target,
            &input(r#"{"model":"acme/chat","messages":[{"role":"user","content":"hi"}]}"#),
            &ident(),
        )
        .expect("renders");
        let out: serde_json::Value = serde_json::from_slice(&done.body).expect("json");
        assert_eq!(out["id"], "gen-1-abcdefghijklmnopqrst");
        assert_eq!(out["model"], "acme/chat");
        assert_eq!(out["provider"], "Acme AI");
        assert_eq!(out["choices"][0]["message"]["content"], "Hello!");
        assert_eq!(out["choices"][0]["finish_reason"], "stop");
        assert_eq!(out["choices"][0]["native_finish_reason"], "end_turn");
        assert_eq!(out["usage"]["prompt_tokens"], 130);
        assert_eq!(out["usage"]["prompt_tokens_details"]["cached_tokens"], 100);
        assert_eq!(
            out["usage"]["prompt_tokens_details"]["cache_write_tokens"],
            20
        );
        // 130 prompt tokens at the prompt price (cache prices default to it), 5 completion.
        assert_eq!(done.cost.to_string(), "0.000465");
    }

    #[test]
    fn a_malformed_completion_is_bad_output() {
        let target = test_target_of("anthropic", "0", "0");
        let i = input(r#"{"model":"acme/chat","messages":[{"role":"user","content":"hi"}]}"#);
        for body in [&b""[..], b"{\"content\":", b"{}"] {
            let err = render_completion(body, &target, &i, &ident()).expect_err("bad");
            assert_eq!(err.class, FailureClass::BadOutput);
        }
    }

    fn run(
        sse: &str,
    ) -> (
        StreamTranslator,
        Vec<serde_json::Value>,
        Result<bool, AttemptError>,
    ) {
        let target = test_target_of("anthropic", "0.000001", "0.000002");
        let mut t = StreamTranslator::new(ident(), 8);
        let mut a = AnthropicStream::default();
        let mut d = SseDecoder::new();
        d.push(sse.as_bytes());
        let mut chunks = Vec::new();
        while let Some(ev) = d.next_event().or_else(|| d.finish()) {
            match a.translate(&mut t, &ev.data, &target) {
                Ok(Translated::Chunk(b)) => {
                    let text = std::str::from_utf8(&b).expect("utf8");
                    let json = text
                        .strip_prefix("data: ")
                        .and_then(|s| s.strip_suffix("\n\n"))
                        .expect("frame");
                    chunks.push(serde_json::from_str(json).expect("json"));
                }
                Ok(Translated::Nothing) => {}
                Ok(Translated::Done) => return (t, chunks, Ok(true)),
                Err(e) => return (t, chunks, Err(e)),
            }
        }
        (t, chunks, Ok(false))
    }

    const TOOL_STREAM: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/anthropic/sse_tool_use_response.txt"
    );

    #[test]
    fn a_stream_is_framed_with_our_identity_and_keeps_usage_and_finish() {
        let (t, chunks, done) = run(&std::fs::read_to_string(TOOL_STREAM).expect("fixture"));
        assert!(done.expect("ok"));
        assert!(t.has_content() && t.finished());
        assert_eq!(t.finish_reason, Some("tool_calls"));
        for c in &chunks {
            assert_eq!(c["id"], "gen-1-abcdefghijklmnopqrst");
            assert_eq!(c["object"], "chat.completion.chunk");
            assert_eq!(c["model"], "acme/chat");
            assert_eq!(c["provider"], "Acme AI");
        }
        let last = chunks.last().expect("chunks");
        assert_eq!(last["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(last["choices"][0]["native_finish_reason"], "tool_use");
        let call = chunks
            .iter()
            .find_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["id"].as_str())
            .expect("a tool call id");
        assert!(call.starts_with("toolu_"));
        assert!(t.usage().completion_tokens > 0);
    }

    #[test]
    fn an_overloaded_event_before_content_may_fall_over() {
        let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[],\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n\
                   event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let (t, _, result) = run(sse);
        assert!(!t.has_content());
        let err = result.expect_err("error");
        assert_eq!(err.class, FailureClass::Overloaded);
        assert_eq!(err.upstream_status, Some(529));
        assert!(err.class.falls_over_to_next_endpoint());
    }
}
