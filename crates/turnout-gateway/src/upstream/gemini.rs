//! Step 3: the Gemini adapter (`kind = "gemini"`): Chat Completions requests are translated to
//! `generateContent` (`POST {base_url}/models/{model}:generateContent`, streams
//! `:streamGenerateContent?alt=sse`), answers, chunk streams and Google's error envelope back
//! to our chat shapes and failure classes. The translation itself is pure and lives in
//! `turnout_wire::gemini`.

use bytes::Bytes;
use http_body_util::Full;
use turnout_wire::gemini::{
    self as wire, ErrorClass, GenerateContentResponse, GoogleError, StreamError, StreamState,
};

use turnout_wire::params::ParamSet;

use super::attempt::{AttemptError, Completed, FailureClass, excerpt};
use super::openai::{StreamTranslator, Translated};
use crate::egress::ResponseIdentity;
use crate::ingress::parse::ChatInput;
use crate::routing::catalog::Target;

/// The upstream request for one endpoint. A request Gemini cannot express (a tool call whose
/// arguments are not an object, a video part, …) is the client's fault.
pub fn request(
    target: &Target,
    input: &ChatInput,
    stream: bool,
    dropped: ParamSet,
) -> Result<http::Request<Full<Bytes>>, AttemptError> {
    let body = translated_body(target, input, dropped).map_err(|detail| {
        AttemptError::new(
            FailureClass::InvalidRequest {
                context_length: false,
            },
            target,
            detail,
        )
    })?;
    let uri = model_uri(target, stream)?;
    // `x-goog-api-key` and the configured extras are the provider's headers.
    let mut req = super::client::json_post(&target.endpoint.provider, body, stream);
    *req.uri_mut() = uri;
    Ok(req)
}

/// `{base_url}/models/{model}:generateContent`; the model may be configured with or without
/// Google's `models/` prefix.
fn model_uri(target: &Target, stream: bool) -> Result<http::Uri, AttemptError> {
    let model = target
        .upstream_model
        .strip_prefix("models/")
        .unwrap_or(&target.upstream_model);
    let action = if stream {
        "streamGenerateContent?alt=sse"
    } else {
        "generateContent"
    };
    let uri = format!("{}/{model}:{action}", target.endpoint.provider.chat_uri);
    uri.parse().map_err(|_| {
        AttemptError::new(
            FailureClass::Misconfigured,
            target,
            format!("upstream model `{model}` does not fit in a URL"),
        )
    })
}

fn translated_body(
    target: &Target,
    input: &ChatInput,
    dropped: ParamSet,
) -> Result<Vec<u8>, String> {
    let body = super::translating::chat_body(input, dropped)?;
    let translated = wire::request_from_openai(&body).map_err(|e| e.to_string())?;
    if !translated.warnings.is_empty() {
        tracing::warn!(
            provider = %target.endpoint.provider.slug,
            model = %target.model_id,
            dropped = translated.warnings.len(),
            warnings = ?translated.warnings,
            "parts of the request cannot be sent to Gemini and were left out"
        );
    }
    serde_json::to_vec(&translated.request).map_err(|e| format!("request body: {e}"))
}

pub fn render_completion(
    body: &[u8],
    target: &Target,
    input: &ChatInput,
    ident: &ResponseIdentity,
) -> Result<Completed, AttemptError> {
    let bad = |detail: String| super::translating::bad_output(body, target, detail);
    let up: GenerateContentResponse = super::translating::parse_answer(body, target)?;
    if let Some(e) = &up.error {
        return Err(google_error(e, e.code, target));
    }
    let blocked = up
        .prompt_feedback
        .as_ref()
        .is_some_and(|p| p.block_reason.is_some());
    let answered = up
        .candidates
        .first()
        .is_some_and(|c| c.content.is_some() || c.finish_reason.is_some());
    if !answered && !blocked {
        return Err(bad(
            "no candidate and no block reason in the answer".to_owned()
        ));
    }
    let done = wire::completion_from_response(&up);
    let reported = up.usage_metadata.is_some_and(|u| u.reported());
    super::translating::completion(done, reported, target, input, ident)
}

/// The per-stream state of a Gemini chunk stream; chunks are framed by the shared
/// [`StreamTranslator`]. The stream has no `[DONE]`: it is complete when the upstream closes
/// it after a finish reason.
#[derive(Debug, Default)]
pub struct GeminiStream {
    state: StreamState,
}

impl GeminiStream {
    pub fn translate(
        &mut self,
        t: &mut StreamTranslator,
        data: &str,
        target: &Target,
    ) -> Result<Translated, AttemptError> {
        let step = self.state.on_event(data).map_err(|e| match e {
            StreamError::Malformed(detail) => super::translating::bad_output(
                data.as_bytes(),
                target,
                format!("malformed chunk: {detail}"),
            ),
            StreamError::Upstream(e) => google_error(&e, e.code, target),
        })?;
        // Every chunk carries running counts: the latest is the one that counts.
        if let Some(u) = self.state.usage() {
            t.usage = Some(u);
        }
        super::translating::stream_step(t, step, target)
    }
}

fn class_of(c: ErrorClass) -> FailureClass {
    match c {
        ErrorClass::Misconfigured => FailureClass::Misconfigured,
        ErrorClass::RateLimited => FailureClass::RateLimited,
        ErrorClass::Overloaded => FailureClass::Overloaded,
        ErrorClass::ServerError => FailureClass::ServerError,
        ErrorClass::Timeout => FailureClass::Timeout,
        ErrorClass::InvalidRequest { context_length } => {
            FailureClass::InvalidRequest { context_length }
        }
    }
}

/// An error envelope (in a 200 body or inside a stream) as the HTTP error it stands for.
fn google_error(e: &GoogleError, status: u16, target: &Target) -> AttemptError {
    let status = Some(status)
        .filter(|s| (400..600).contains(s))
        .unwrap_or(502);
    let raw = serde_json::json!({ "error": e }).to_string();
    AttemptError {
        upstream_status: Some(status),
        raw: Some(excerpt(&raw, 2000).into()),
        retry_after: e.retry_delay(),
        ..AttemptError::new(class_of(e.classify(status)), target, e.message.clone())
    }
}

/// Reclassifies an HTTP error answer from Google's envelope, which the generic reading of
/// status and text gets wrong: an invalid key is a 400 (ours to fix, not the client's), and
/// the wait of a 429 is in `RetryInfo`, not in a `Retry-After` header.
pub fn refine_error(err: &mut AttemptError, body: &str) {
    let Some(e) = wire::parse_error(body) else {
        return;
    };
    let status = err.upstream_status.unwrap_or(e.code);
    err.class = class_of(e.classify(status));
    if !e.message.is_empty() {
        err.detail = e.message.as_str().into();
    }
    err.retry_after = err.retry_after.or_else(|| e.retry_delay());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::catalog::test_target_of;
    use turnout_wire::sse::SseDecoder;

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/gemini/"
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

    fn input(body: &str) -> ChatInput {
        crate::ingress::parse::parse_chat(body.as_bytes()).expect("input")
    }

    #[test]
    fn requests_go_to_the_models_path_with_the_google_key_header() {
        let target = test_target_of("gemini", "0", "0");
        let body = r#"{"model":"acme/chat","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}],"reasoning":{"max_tokens":1500},"max_tokens":100,"provider":{"sort":"price"}}"#;
        let req = request(&target, &input(body), false, ParamSet::EMPTY).expect("request");
        assert_eq!(req.uri(), "http://127.0.0.1:9/v1/models/up:generateContent");
        assert_eq!(req.headers()["x-goog-api-key"], "sk-test");
        assert!(req.headers().get("authorization").is_none());
        let sent = crate::upstream::client::sent_json(req);
        assert_eq!(sent["systemInstruction"]["parts"][0]["text"], "Be brief.");
        assert_eq!(sent["contents"][0]["role"], "user");
        assert_eq!(
            sent["generationConfig"]["thinkingConfig"]["thinkingBudget"],
            1500
        );
        assert_eq!(sent["generationConfig"]["maxOutputTokens"], 1600);
        assert!(sent.get("provider").is_none() && sent.get("model").is_none());

        let req = request(&target, &input(body), true, ParamSet::EMPTY).expect("request");
        assert_eq!(
            req.uri(),
            "http://127.0.0.1:9/v1/models/up:streamGenerateContent?alt=sse"
        );
        assert_eq!(req.headers()["accept"], "text/event-stream");
    }

    #[test]
    fn an_inexpressible_request_is_the_clients_fault() {
        let target = test_target_of("gemini", "0", "0");
        let err = request(
            &target,
            &input(
                r#"{"model":"acme/chat","messages":[{"role":"user","content":[{"type":"video_url","video_url":{}}]}]}"#,
            ),
            false,
            ParamSet::EMPTY,
        )
        .expect_err("refused");
        assert!(matches!(err.class, FailureClass::InvalidRequest { .. }));
        assert_eq!(err.client_status(), 400);
        assert!(err.client_message().contains("video_url"));
    }

    #[test]
    fn a_completion_is_relabelled_and_priced_with_thought_tokens() {
        let target = test_target_of("gemini", "0.000001", "0.00001");
        let done = render_completion(
            fixture("vercel-ai__google-reasoning.json").as_bytes(),
            &target,
            &input(r#"{"model":"acme/chat","messages":[{"role":"user","content":"hi"}]}"#),
            &ident(),
        )
        .expect("renders");
        let out: serde_json::Value = serde_json::from_slice(&done.body).expect("json");
        assert_eq!(out["id"], "gen-1-abcdefghijklmnopqrst");
        assert_eq!(out["model"], "acme/chat");
        assert_eq!(out["provider"], "Acme AI");
        assert_eq!(out["choices"][0]["finish_reason"], "stop");
        assert_eq!(out["choices"][0]["native_finish_reason"], "STOP");
        assert_eq!(out["usage"]["prompt_tokens"], 9);
        // 29 answer tokens + 282 thought tokens, both billed as completion.
        assert_eq!(out["usage"]["completion_tokens"], 311);
        assert_eq!(
            out["usage"]["completion_tokens_details"]["reasoning_tokens"],
            282
        );
        assert_eq!(done.cost.to_string(), "0.003119");
    }

    #[test]
    fn a_blocked_prompt_is_a_content_filter_answer_not_a_failure() {
        let target = test_target_of("gemini", "0", "0");
        let done = render_completion(
            fixture("vercel-ai__issue-19758-prompt-block.json").as_bytes(),
            &target,
            &input(r#"{"model":"acme/chat","messages":[{"role":"user","content":"hi"}]}"#),
            &ident(),
        )
        .expect("renders");
        assert_eq!(done.finish_reason, Some("content_filter"));
    }

    #[test]
    fn a_malformed_or_empty_completion_is_bad_output() {
        let target = test_target_of("gemini", "0", "0");
        let i = input(r#"{"model":"acme/chat","messages":[{"role":"user","content":"hi"}]}"#);
        for body in [
            &b""[..],
            b"{\"candidates\":",
            b"{}",
            b"{\"candidates\":[{}]}",
        ] {
            let err = render_completion(body, &target, &i, &ident()).expect_err("bad");
            assert_eq!(err.class, FailureClass::BadOutput, "{body:?}");
        }
    }

    fn run(
        sse: &str,
    ) -> (
        StreamTranslator,
        Vec<serde_json::Value>,
        Option<AttemptError>,
    ) {
        let target = test_target_of("gemini", "0.000001", "0.000002");
        let mut t = StreamTranslator::new(ident(), 8);
        let mut g = GeminiStream::default();
        let mut d = SseDecoder::new();
        d.push(sse.as_bytes());
        let mut chunks = Vec::new();
        while let Some(ev) = d.next_event().or_else(|| d.finish()) {
            match g.translate(&mut t, &ev.data, &target) {
                Ok(Translated::Chunk(b)) => {
                    let text = std::str::from_utf8(&b).expect("utf8");
                    let json = text
                        .strip_prefix("data: ")
                        .and_then(|s| s.strip_suffix("\n\n"))
                        .expect("frame");
                    chunks.push(serde_json::from_str(json).expect("json"));
                }
                Ok(_) => {}
                Err(e) => return (t, chunks, Some(e)),
            }
        }
        (t, chunks, None)
    }

    fn sse(name: &str) -> String {
        fixture(name)
            .lines()
            .map(|l| format!("data: {l}\r\n\r\n"))
            .collect()
    }

    #[test]
    fn a_stream_is_framed_with_our_identity_and_keeps_usage_and_finish() {
        let (t, chunks, err) = run(&sse("vercel-ai__google-tool-call.chunks.txt"));
        assert!(err.is_none());
        assert!(t.has_content() && t.finished());
        assert_eq!(t.finish_reason, Some("tool_calls"));
        for c in &chunks {
            assert_eq!(c["id"], "gen-1-abcdefghijklmnopqrst");
            assert_eq!(c["object"], "chat.completion.chunk");
            assert_eq!(c["model"], "acme/chat");
        }
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let call = &chunks[0]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "weather");
        assert!(
            call["id"]
                .as_str()
                .expect("id")
                .starts_with(wire::SYNTHETIC_ID_PREFIX)
        );
        let last = chunks.last().expect("chunks");
        assert_eq!(last["choices"][0]["native_finish_reason"], "STOP");
        // 29 prompt, 15 answer + 45 thought tokens.
        assert_eq!(t.usage().prompt_tokens, 29);
        assert_eq!(t.usage().completion_tokens, 60);
    }

    #[test]
    fn an_overloaded_chunk_before_content_may_fall_over() {
        let (t, _, err) = run(
            "data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded. Please try again later.\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n",
        );
        assert!(!t.has_content());
        let err = err.expect("an error");
        assert_eq!(err.class, FailureClass::Overloaded);
        assert_eq!(err.upstream_status, Some(503));
        assert!(err.class.falls_over_to_next_endpoint());
    }

    fn refined(status: u16, body: &str) -> AttemptError {
        let target = test_target_of("gemini", "0", "0");
        let (class, message) = super::super::attempt::classify_status(status, body);
        let mut err = AttemptError::new(class, &target, message);
        err.upstream_status = Some(status);
        refine_error(&mut err, body);
        err
    }

    #[test]
    fn an_invalid_key_is_the_operators_problem_not_a_bad_request() {
        let err = refined(
            400,
            &fixture("real-capture__error_400_api_key_invalid.json"),
        );
        assert_eq!(err.class, FailureClass::Misconfigured);
        assert_eq!(err.client_status(), 502);
        assert!(err.client_message().contains("misconfigured"));
        let err = refined(403, &fixture("real-capture__error_403_no_key.json"));
        assert_eq!(err.class, FailureClass::Misconfigured);
    }

    #[test]
    fn a_quota_error_waits_for_its_retry_info() {
        let err = refined(429, &fixture("vercel-ai__google-429-retry-info.json"));
        assert_eq!(err.class, FailureClass::RateLimited);
        assert_eq!(
            err.retry_after,
            Some(std::time::Duration::from_millis(34_400))
        );
        assert_eq!(
            &*err.detail,
            "You exceeded your current quota, please check your plan."
        );
        let err = refined(
            400,
            &fixture("vercel-ai__issue-8943-gemini-2.5-flash-error.json"),
        );
        assert_eq!(
            err.class,
            FailureClass::InvalidRequest {
                context_length: false
            }
        );
        assert_eq!(err.client_status(), 400);
        // Not Google's envelope (a proxy's page): the generic reading stays.
        assert_eq!(
            refined(502, "<html>Bad Gateway</html>").class,
            FailureClass::ServerError
        );
    }
}
