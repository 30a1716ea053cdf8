//! Step 3: one try against one endpoint, and the classification of its outcome (DESIGN.md §4).
//! Every outcome is classified here, once; the class drives fallback, health and the client's
//! error alike.

use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::HeaderMap;
use http_body_util::{BodyExt, BodyStream};
use turnout_config::ProviderKind;
use turnout_wire::error::ErrorType;
use turnout_wire::sse::SseDecoder;

use super::anthropic::{self, AnthropicStream};
use super::client::{SendError, UpstreamBody};
use super::gemini::{self, GeminiStream};
use super::openai::{self, StreamTranslator, Translated};
use super::openrouter::{self, OpenRouterStream};
use crate::egress::ResponseIdentity;
use crate::ingress::parse::ChatInput;
use crate::routing::catalog::Target;
use turnout_wire::params::ParamSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Refused, reset, DNS or TLS failure.
    Connect,
    /// No first token / no answer in time, or upstream 408/504/524.
    Timeout,
    /// Upstream 500/502 (and other 5xx not listed elsewhere).
    ServerError,
    /// Upstream 503/529, overloaded.
    Overloaded,
    /// Upstream 429.
    RateLimited,
    /// 200 with a malformed or empty body, or a stream cut short.
    BadOutput,
    /// The upstream rejected our credentials (401/403) or does not know the configured model.
    Misconfigured,
    /// The upstream says the request is invalid (400/422): the client's fault.
    InvalidRequest { context_length: bool },
    /// The upstream refused the content.
    ContentPolicy,
}

impl FailureClass {
    /// May the plan move on to another endpoint of the same model?
    pub fn falls_over_to_next_endpoint(self) -> bool {
        !matches!(self, Self::InvalidRequest { .. } | Self::ContentPolicy)
    }

    /// Ranking for the error the client gets when everything failed (DESIGN.md §4).
    pub fn informativeness(self) -> u8 {
        match self {
            Self::InvalidRequest { .. } | Self::ContentPolicy => 5,
            Self::RateLimited => 4,
            Self::Overloaded => 3,
            Self::Timeout => 2,
            Self::Connect | Self::ServerError | Self::BadOutput | Self::Misconfigured => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::ServerError => "server_error",
            Self::Overloaded => "overloaded",
            Self::RateLimited => "rate_limited",
            Self::BadOutput => "bad_output",
            Self::Misconfigured => "misconfigured",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::ContentPolicy => "content_policy",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{provider} ({model}): {}: {detail}", class.as_str())]
pub struct AttemptError {
    pub class: FailureClass,
    /// Display name of the provider.
    pub provider: Box<str>,
    pub provider_slug: Box<str>,
    /// Our model id.
    pub model: Box<str>,
    pub upstream_status: Option<u16>,
    /// What happened, for logs and for client-fault messages.
    pub detail: Box<str>,
    /// Excerpt of the upstream's body, when it sent one.
    pub raw: Option<Box<str>>,
    pub retry_after: Option<Duration>,
}

impl AttemptError {
    pub fn new(class: FailureClass, target: &Target, detail: impl Into<String>) -> Self {
        Self {
            class,
            provider: target.endpoint.provider.name.as_str().into(),
            provider_slug: target.endpoint.provider.slug.as_str().into(),
            model: target.model_id.as_str().into(),
            upstream_status: None,
            detail: detail.into().into_boxed_str(),
            raw: None,
            retry_after: None,
        }
    }

    pub fn client_status(&self) -> u16 {
        match self.class {
            FailureClass::Connect
            | FailureClass::ServerError
            | FailureClass::BadOutput
            | FailureClass::Misconfigured => 502,
            FailureClass::Timeout => 504,
            FailureClass::Overloaded => 503,
            FailureClass::RateLimited => 429,
            FailureClass::InvalidRequest { context_length } => match self.upstream_status {
                Some(422) if !context_length => 422,
                _ => 400,
            },
            FailureClass::ContentPolicy => match self.upstream_status {
                Some(403) => 403,
                _ => 400,
            },
        }
    }

    pub fn error_type(&self) -> ErrorType {
        match self.class {
            FailureClass::Connect
            | FailureClass::ServerError
            | FailureClass::BadOutput
            | FailureClass::Misconfigured => ErrorType::ProviderUnavailable,
            FailureClass::Timeout => ErrorType::Timeout,
            FailureClass::Overloaded => ErrorType::ProviderOverloaded,
            FailureClass::RateLimited => ErrorType::RateLimitExceeded,
            FailureClass::InvalidRequest {
                context_length: true,
            } => ErrorType::ContextLengthExceeded,
            FailureClass::InvalidRequest { .. } => ErrorType::InvalidRequest,
            FailureClass::ContentPolicy => ErrorType::ContentPolicyViolation,
        }
    }

    /// The message the client reads. Upstream 5xx texts are not shown (they are in `raw`).
    pub fn client_message(&self) -> String {
        let p = &self.provider;
        match self.class {
            FailureClass::Connect => format!("Provider {p} is unavailable: {}", self.detail),
            FailureClass::Timeout => format!("Provider {p} timed out: {}", self.detail),
            FailureClass::ServerError => format!("Provider {p} returned an error"),
            FailureClass::Overloaded => format!("Provider {p} is overloaded"),
            FailureClass::RateLimited => format!("Provider {p} is rate limited"),
            FailureClass::BadOutput => {
                format!("Provider {p} returned an invalid response: {}", self.detail)
            }
            FailureClass::Misconfigured => format!(
                "Provider {p} is misconfigured on this gateway ({}); the operator has to fix it",
                self.detail
            ),
            FailureClass::InvalidRequest { .. } | FailureClass::ContentPolicy => {
                self.detail.to_string()
            }
        }
    }
}

/// Classifies an upstream HTTP error answer from its status and body (OpenAI error envelope).
pub fn classify_status(status: u16, body: &str) -> (FailureClass, String) {
    let message = upstream_error_message(body).unwrap_or_else(|| excerpt(body, 300));
    let lower = body.to_ascii_lowercase();
    let class = match status {
        401 | 403 => {
            if status == 403 && (lower.contains("content_policy") || lower.contains("moderation")) {
                FailureClass::ContentPolicy
            } else {
                FailureClass::Misconfigured
            }
        }
        // The upstream does not know the model name we were configured to send.
        404 => FailureClass::Misconfigured,
        // Our account with the provider is out of credit: the operator's problem.
        402 => FailureClass::Misconfigured,
        408 | 504 | 524 => FailureClass::Timeout,
        429 => FailureClass::RateLimited,
        503 | 529 => FailureClass::Overloaded,
        500..=599 => {
            if lower.contains("overloaded") {
                FailureClass::Overloaded
            } else {
                FailureClass::ServerError
            }
        }
        _ => {
            if lower.contains("content_policy") || lower.contains("content_filter") {
                FailureClass::ContentPolicy
            } else {
                let context_length = lower.contains("context_length")
                    || lower.contains("context length")
                    // Anthropic: "prompt is too long: 210000 tokens > 200000 maximum".
                    || lower.contains("prompt is too long")
                    || lower.contains("maximum context");
                FailureClass::InvalidRequest { context_length }
            }
        }
    };
    (class, message)
}

fn upstream_error_message(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let e = v.get("error")?;
    match e {
        serde_json::Value::String(s) => Some(s.clone()),
        _ => e.get("message")?.as_str().map(str::to_owned),
    }
}

pub fn excerpt(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// `Retry-After` in seconds or as an HTTP date, or `retry-after-ms`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let v = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = httpdate_to_unix(v)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(when.saturating_sub(now)))
}

/// Parses the IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`), the only one servers send.
fn httpdate_to_unix(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: u64 = parts[1].parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == parts[2])? as u64 + 1;
    let year: u64 = parts[3].parse().ok()?;
    let hms: Vec<u64> = parts[4]
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if hms.len() != 3 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

fn transport_error(target: &Target, e: &SendError) -> AttemptError {
    AttemptError::new(FailureClass::Connect, target, e.to_string())
}

/// The upstream request in the provider's dialect, without the parameters the endpoint
/// cannot honour (with `provider.require_parameters` such endpoints are not planned at all).
/// With tracing on, it carries the attempt span's `traceparent`.
fn upstream_request(
    target: &Target,
    input: &ChatInput,
    stream: bool,
    traceparent: Option<http::HeaderValue>,
) -> Result<http::Request<http_body_util::Full<Bytes>>, AttemptError> {
    let dropped = dropped_parameters(target, input);
    let mut request = match target.endpoint.provider.kind {
        ProviderKind::Anthropic => anthropic::request(target, input, stream, dropped),
        ProviderKind::Gemini => gemini::request(target, input, stream, dropped),
        ProviderKind::Openai | ProviderKind::Azure | ProviderKind::Openrouter => {
            openai::request(target, input, stream, dropped)
        }
    }?;
    if let Some(value) = traceparent {
        request
            .headers_mut()
            .insert(http::HeaderName::from_static("traceparent"), value);
    }
    Ok(request)
}

/// What of the request this endpoint cannot honour, counted and logged.
fn dropped_parameters(target: &Target, input: &ChatInput) -> ParamSet {
    // A Messages body passed through to Anthropic carries only what Anthropic takes.
    if anthropic::passes_through(target, input) {
        return ParamSet::EMPTY;
    }
    let dropped = input.params_used.without(target.endpoint.supported);
    if !dropped.is_empty() {
        crate::telemetry::DroppedParameters {
            provider: &target.endpoint.provider.slug,
            model: &target.model_id,
            dropped,
        }
        .emit();
    }
    dropped
}

/// Sends one request through the provider's pool.
async fn send(
    target: &Target,
    req: http::Request<http_body_util::Full<Bytes>>,
) -> Result<http::Response<UpstreamBody>, AttemptError> {
    target
        .endpoint
        .provider
        .upstream
        .request(req)
        .await
        .map_err(|e| transport_error(target, &e))
}

/// Reads an error answer (bounded) and classifies it.
async fn error_from_response(target: &Target, resp: http::Response<UpstreamBody>) -> AttemptError {
    let status = resp.status().as_u16();
    let wait = retry_after(resp.headers());
    let limited = http_body_util::Limited::new(resp.into_body(), 64 * 1024);
    let body = tokio::time::timeout(Duration::from_secs(5), limited.collect())
        .await
        .ok()
        .and_then(Result::ok)
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body[..body.len().min(16 * 1024)]).into_owned();
    let (class, message) = classify_status(status, &text);
    let mut err = AttemptError::new(class, target, message);
    err.upstream_status = Some(status);
    err.raw = (!text.is_empty()).then(|| excerpt(&text, 2000).into());
    err.retry_after = wait;
    match target.endpoint.provider.kind {
        ProviderKind::Gemini => gemini::refine_error(&mut err, &text),
        ProviderKind::Openrouter => openrouter::refine_error(&mut err, &text),
        _ => {}
    }
    err
}

/// A successful non-streaming answer, already rendered in our shape.
#[derive(Debug)]
pub struct Completed {
    pub body: Vec<u8>,
    pub usage: turnout_wire::chat::Usage,
    pub cost: rust_decimal::Decimal,
    pub finish_reason: Option<&'static str>,
    /// The target that answered when not the one tried: OpenRouter served one of the
    /// request's later models itself (`models`).
    pub served_by: Option<Target>,
}

pub async fn complete(
    target: &Target,
    input: &ChatInput,
    ident: &ResponseIdentity,
    traceparent: Option<http::HeaderValue>,
) -> Result<Completed, AttemptError> {
    let total = target.endpoint.timeouts.total;
    // One deadline for the whole exchange: a non-streaming answer has no first token to time.
    let exchange = async {
        let resp = send(target, upstream_request(target, input, false, traceparent)?).await?;
        if !resp.status().is_success() {
            return Err(error_from_response(target, resp).await);
        }
        match resp.into_body().collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) => Err(AttemptError::new(
                FailureClass::BadOutput,
                target,
                format!("body cut short: {e}"),
            )),
        }
    };
    let body = tokio::time::timeout(total, exchange).await.map_err(|_| {
        AttemptError::new(
            FailureClass::Timeout,
            target,
            "no answer within the total deadline",
        )
    })??;
    match target.endpoint.provider.kind {
        ProviderKind::Anthropic => anthropic::render_completion(&body, target, input, ident),
        ProviderKind::Gemini => gemini::render_completion(&body, target, input, ident),
        ProviderKind::Openai | ProviderKind::Azure | ProviderKind::Openrouter => {
            openai::render_completion(&body, target, input, ident)
        }
    }
}

pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, hyper::Error>> + Send>>;

/// The data frames of a response body as a stream of bytes.
fn byte_stream(body: UpstreamBody) -> ByteStream {
    Box::pin(BodyStream::new(body).filter_map(|frame| async move {
        match frame {
            Ok(f) => f.into_data().ok().map(Ok),
            Err(e) => Some(Err(e)),
        }
    }))
}

/// An upstream stream that has produced its first content chunk: from here on it is bound to
/// its provider and nothing falls over.
pub struct BoundStream {
    pub target: Target,
    body: ByteStream,
    decoder: SseDecoder,
    pub translator: StreamTranslator,
    /// The upstream's event dialect, when it is not OpenAI's.
    dialect: Dialect,
    /// Our chunks translated while waiting for content, not yet sent.
    pub ready: Vec<Bytes>,
    total_deadline: Instant,
    idle: Duration,
    /// The idle/total deadline timer, armed lazily: registering a timer per chunk was a
    /// timer-wheel insert and removal for every chunk of every stream. It is left running
    /// while data flows and, when it fires early, re-armed for the deadline of the current
    /// wait; so it is touched about once per idle period, not once per chunk.
    timer: Pin<Box<tokio::time::Sleep>>,
    finished: bool,
    /// Every attempt of the plan up to and including this one.
    pub attempts: Vec<AttemptSummary>,
    /// This attempt's span, open until the stream ends.
    pub span: crate::otel::AttemptSpan,
}

/// How upstream events become our chunks.
enum Dialect {
    OpenAi,
    /// OpenAI's chunks, which also say who serves.
    OpenRouter(OpenRouterStream),
    Anthropic(AnthropicStream),
    Gemini(GeminiStream),
}

/// One attempt, as `openrouter_metadata.attempts[]` and generation records report it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AttemptSummary {
    pub provider: String,
    pub model: String,
    /// 200 for the one that served, else the status the failure maps to.
    pub status: u16,
}

impl AttemptSummary {
    pub fn served(target: &Target) -> Self {
        Self {
            provider: target.endpoint.provider.name.clone(),
            model: target.model_id.clone(),
            status: 200,
        }
    }

    pub fn failed(e: &AttemptError) -> Self {
        Self {
            provider: e.provider.to_string(),
            model: e.model.to_string(),
            status: e.upstream_status.unwrap_or_else(|| e.client_status()),
        }
    }
}

/// What the bound stream yields next.
pub enum Next {
    Chunk(Bytes),
    /// The upstream finished cleanly.
    End,
    Failed(AttemptError),
}

impl BoundStream {
    pub async fn next(&mut self) -> Next {
        loop {
            if !self.ready.is_empty() {
                return Next::Chunk(self.ready.remove(0));
            }
            if self.finished {
                return Next::End;
            }
            match self.pull().await {
                Ok(()) => {}
                Err(e) => return Next::Failed(e),
            }
        }
    }

    fn translate(&mut self, data: &str) -> Result<Translated, AttemptError> {
        match &mut self.dialect {
            Dialect::OpenAi => self.translator.translate(data, &self.target),
            Dialect::OpenRouter(o) => o.translate(&mut self.translator, data, &mut self.target),
            Dialect::Anthropic(a) => a.translate(&mut self.translator, data, &self.target),
            Dialect::Gemini(g) => g.translate(&mut self.translator, data, &self.target),
        }
    }

    /// Reads until at least one translated chunk is ready or the stream ends.
    async fn pull(&mut self) -> Result<(), AttemptError> {
        while let Some(event) = self.decoder.next_event() {
            match self.translate(&event.data)? {
                Translated::Chunk(b) => {
                    self.ready.push(b);
                    return Ok(());
                }
                Translated::Nothing => {}
                Translated::Done => {
                    self.finished = true;
                    return Ok(());
                }
            }
        }
        let now = Instant::now();
        if now >= self.total_deadline {
            return Err(AttemptError::new(
                FailureClass::Timeout,
                &self.target,
                "stream exceeded the total deadline",
            ));
        }
        let wait = self.idle.min(self.total_deadline - now);
        let deadline = now + wait;
        if self.timer.deadline() > deadline.into() {
            self.timer.as_mut().reset(deadline.into());
        }
        let next = loop {
            tokio::select! {
                biased;
                next = self.body.next() => break Some(next),
                () = &mut self.timer => {
                    if Instant::now() >= deadline {
                        break None;
                    }
                    self.timer.as_mut().reset(deadline.into());
                }
            }
        };
        match next {
            None => Err(AttemptError::new(
                FailureClass::Timeout,
                &self.target,
                format!("no chunk for {} ms", wait.as_millis()),
            )),
            Some(Some(Ok(bytes))) => {
                self.decoder.push(&bytes);
                Ok(())
            }
            Some(Some(Err(e))) => Err(AttemptError::new(
                FailureClass::BadOutput,
                &self.target,
                format!("stream cut short: {e}"),
            )),
            Some(None) => {
                if let Some(event) = self.decoder.finish()
                    && let Translated::Chunk(b) = self.translate(&event.data)?
                {
                    self.ready.push(b);
                }
                if self.translator.finished() {
                    // Some servers close after the finish chunk without `[DONE]`.
                    self.finished = true;
                    Ok(())
                } else {
                    Err(AttemptError::new(
                        FailureClass::BadOutput,
                        &self.target,
                        "stream ended before it finished",
                    ))
                }
            }
        }
    }
}

/// Opens a stream and waits, under the first-token deadline, for its first content chunk.
pub async fn open_stream(
    target: &Target,
    input: &ChatInput,
    ident: &ResponseIdentity,
    traceparent: Option<http::HeaderValue>,
) -> Result<BoundStream, AttemptError> {
    let t = &target.endpoint.timeouts;
    let started = Instant::now();
    let first_token_deadline = started + t.first_token.min(t.total);
    let request = upstream_request(target, input, true, traceparent)?;
    let resp = tokio::time::timeout(t.first_token.min(t.total), send(target, request))
        .await
        .map_err(|_| {
            AttemptError::new(
                FailureClass::Timeout,
                target,
                "no first token within the first-token deadline",
            )
        })??;
    if !resp.status().is_success() {
        return Err(error_from_response(target, resp).await);
    }
    let mut bound = BoundStream {
        target: target.clone(),
        body: byte_stream(resp.into_body()),
        decoder: SseDecoder::new(),
        translator: StreamTranslator::new(ident.clone(), input.prompt_chars),
        dialect: match target.endpoint.provider.kind {
            ProviderKind::Anthropic => Dialect::Anthropic(AnthropicStream::for_input(input)),
            ProviderKind::Gemini => Dialect::Gemini(GeminiStream::default()),
            ProviderKind::Openrouter => Dialect::OpenRouter(OpenRouterStream::default()),
            ProviderKind::Openai | ProviderKind::Azure => Dialect::OpenAi,
        },
        ready: Vec::new(),
        total_deadline: started + t.total,
        // Until content arrives the first-token deadline is the one that counts.
        idle: t.first_token,
        timer: Box::pin(tokio::time::sleep_until(first_token_deadline.into())),
        finished: false,
        attempts: Vec::new(),
        span: crate::otel::AttemptSpan::default(),
    };
    while !bound.translator.has_content() {
        let now = Instant::now();
        if now >= first_token_deadline {
            return Err(AttemptError::new(
                FailureClass::Timeout,
                target,
                "no first token within the first-token deadline",
            ));
        }
        bound.idle = first_token_deadline - now;
        bound.pull().await.map_err(|mut e| {
            if e.class == FailureClass::Timeout {
                e.detail = "no first token within the first-token deadline".into();
            }
            e
        })?;
        if bound.finished && !bound.translator.has_content() {
            return Err(AttemptError::new(
                FailureClass::BadOutput,
                target,
                "stream ended without content",
            ));
        }
    }
    bound.idle = t.idle;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_failure_table() {
        let cases: &[(u16, &str, FailureClass)] = &[
            (500, "", FailureClass::ServerError),
            (502, "bad gateway", FailureClass::ServerError),
            (503, "", FailureClass::Overloaded),
            (
                529,
                r#"{"type":"error","error":{"type":"overloaded_error"}}"#,
                FailureClass::Overloaded,
            ),
            (429, "", FailureClass::RateLimited),
            (408, "", FailureClass::Timeout),
            (504, "", FailureClass::Timeout),
            (524, "", FailureClass::Timeout),
            (
                401,
                r#"{"error":{"message":"Incorrect API key","code":"invalid_api_key"}}"#,
                FailureClass::Misconfigured,
            ),
            (403, "", FailureClass::Misconfigured),
            (
                404,
                r#"{"error":{"message":"model not found"}}"#,
                FailureClass::Misconfigured,
            ),
            (
                400,
                r#"{"error":{"message":"This model's maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#,
                FailureClass::InvalidRequest {
                    context_length: true,
                },
            ),
            (
                400,
                r#"{"error":{"message":"bad param"}}"#,
                FailureClass::InvalidRequest {
                    context_length: false,
                },
            ),
            (
                400,
                r#"{"error":{"code":"content_policy_violation","message":"no"}}"#,
                FailureClass::ContentPolicy,
            ),
        ];
        for (status, body, want) in cases {
            assert_eq!(classify_status(*status, body).0, *want, "{status} {body}");
        }
        assert_eq!(
            classify_status(400, r#"{"error":{"message":"bad param"}}"#).1,
            "bad param"
        );
    }

    #[test]
    fn reads_retry_after_in_all_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "7".parse().expect("hv"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after-ms", "1500".parse().expect("hv"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().expect("hv"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        assert_eq!(
            httpdate_to_unix("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
    }
}
