//! OpenTelemetry traces, named and attributed by the GenAI semantic conventions: one SERVER
//! span per chat request (`chat {requested model}`) and one CLIENT child per upstream attempt
//! (`chat {upstream model}`), exported over OTLP/HTTP ([`pipeline`]).
//!
//! Everything the request path calls is here, and it is inert unless a pipeline was installed
//! at start (`[telemetry]`) in a build with the `otel` feature: a span handle is then an empty
//! `Option`, every method a branch on it, and nothing is allocated. The spans are made with the
//! OpenTelemetry API directly rather than through `tracing` spans: a streamed request's span
//! must outlive its handler (it ends with the stream), attributes must keep their types
//! (integers, arrays), and the log lines must not grow the GenAI fields.

use http::HeaderValue;

use crate::ingress::parse::ChatInput;
use crate::routing::catalog::Target;
use crate::upstream::attempt::AttemptError;

#[cfg(feature = "otel")]
mod pipeline;
#[cfg(feature = "otel")]
pub use pipeline::{Pipeline, TelemetryError, install};

/// `[telemetry]` in a build without the `otel` feature: said once at start, then ignored
/// (traces are an operator's aid; the gateway serves without them).
#[cfg(not(feature = "otel"))]
pub fn install(config: &turnout_config::TelemetryConfig) -> Result<Pipeline, TelemetryError> {
    let _ = config;
    tracing::warn!(
        "[telemetry] is configured, but this turnout was built without the `otel` feature: \
         no traces are exported"
    );
    Ok(Pipeline)
}

/// Stand-ins for a build without the `otel` feature, so callers need no `cfg`.
#[cfg(not(feature = "otel"))]
#[derive(Debug)]
pub struct Pipeline;

#[cfg(not(feature = "otel"))]
impl Pipeline {
    pub fn force_flush(&self) {}
    pub async fn shutdown(self) {}
}

#[cfg(not(feature = "otel"))]
#[derive(Debug, thiserror::Error)]
#[error("OpenTelemetry is not compiled in")]
pub struct TelemetryError;

/// Whether spans are being made (a pipeline is installed).
pub fn enabled() -> bool {
    #[cfg(feature = "otel")]
    {
        pipeline::tracer().is_some()
    }
    #[cfg(not(feature = "otel"))]
    {
        false
    }
}

/// The request's SERVER span. Cheap to clone (one `Arc` when on, nothing when off); the span
/// ends when [`RequestSpan::end`] is called or the last clone is dropped.
#[derive(Clone, Default)]
pub struct RequestSpan {
    #[cfg(feature = "otel")]
    cx: Option<opentelemetry::Context>,
}

/// One upstream attempt's CLIENT span, a child of the request's.
#[derive(Default)]
pub struct AttemptSpan {
    #[cfg(feature = "otel")]
    cx: Option<opentelemetry::Context>,
}

/// What a request's span records when the request ends (from [`crate::telemetry::RequestEvent`]).
pub struct RequestEnd<'a> {
    /// Our model id that served (`gen_ai.response.model`); empty when none did.
    pub model: &'a str,
    pub provider_slug: &'a str,
    pub status: u16,
    /// `ok`, an error kind, or `cancelled`.
    pub outcome: &'a str,
    pub ttft: Option<std::time::Duration>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: Option<rust_decimal::Decimal>,
    pub finish_reason: Option<&'a str>,
}

impl RequestSpan {
    /// Starts the span of a request that came in on `route`, the child of an incoming W3C
    /// `traceparent` when there is one. Named `chat` until the model is known.
    pub fn start(headers: &http::HeaderMap, route: &'static str, generation_id: &str) -> Self {
        #[cfg(feature = "otel")]
        {
            if let Some(tracer) = pipeline::tracer() {
                return RequestSpan {
                    cx: Some(pipeline::start_request(
                        tracer,
                        headers,
                        route,
                        generation_id,
                    )),
                };
            }
        }
        let _ = (headers, route, generation_id);
        RequestSpan::default()
    }

    /// The request as parsed: its name becomes `chat {model}`, with the request attributes.
    pub fn request(&self, input: &ChatInput) {
        #[cfg(feature = "otel")]
        if let Some(cx) = &self.cx {
            pipeline::request_attributes(cx, input);
        }
        let _ = input;
    }

    /// Who is asking: the account and the key's id (its SHA-256, never the key).
    pub fn principal(&self, account: &str, key_hash: Option<&str>) {
        #[cfg(feature = "otel")]
        if let Some(cx) = &self.cx {
            pipeline::principal(cx, account, key_hash);
        }
        let _ = (account, key_hash);
    }

    /// Records how the request ended and ends the span.
    pub fn end(&self, end: &RequestEnd<'_>) {
        #[cfg(feature = "otel")]
        if let Some(cx) = &self.cx {
            pipeline::end_request(cx, end);
        }
        let _ = end;
    }

    /// The span of upstream attempt `number` (from 1) on `target`; `retry` when it repeats an
    /// endpoint already tried.
    pub fn attempt(&self, target: &Target, number: u32, retry: bool) -> AttemptSpan {
        #[cfg(feature = "otel")]
        if let (Some(cx), Some(tracer)) = (&self.cx, pipeline::tracer()) {
            return AttemptSpan {
                cx: Some(pipeline::start_attempt(tracer, cx, target, number, retry)),
            };
        }
        let _ = (target, number, retry);
        AttemptSpan::default()
    }
}

impl AttemptSpan {
    /// The W3C `traceparent` that makes the upstream's spans children of this attempt.
    pub fn traceparent(&self) -> Option<HeaderValue> {
        #[cfg(feature = "otel")]
        if let Some(cx) = &self.cx {
            return pipeline::traceparent(cx);
        }
        None
    }

    /// The attempt answered (a stream: produced its first content).
    pub fn succeeded(&self) {
        #[cfg(feature = "otel")]
        if let Some(cx) = &self.cx {
            pipeline::attempt_ok(cx);
        }
    }

    /// A stream's first content came `after` the attempt started.
    pub fn first_token(&self, after: std::time::Duration) {
        #[cfg(feature = "otel")]
        if let Some(cx) = &self.cx {
            pipeline::first_token(cx, after);
        }
        let _ = after;
    }

    /// The attempt failed (before or, for a stream, after its first token); ends the span.
    pub fn failed(&self, error: &AttemptError) {
        #[cfg(feature = "otel")]
        if let Some(cx) = &self.cx {
            pipeline::attempt_failed(cx, error);
        }
        let _ = error;
    }

    /// What the served attempt produced; ends the span.
    pub fn finished(
        &self,
        target: &Target,
        usage: &turnout_wire::chat::Usage,
        finish_reason: Option<&str>,
    ) {
        #[cfg(feature = "otel")]
        if let Some(cx) = &self.cx {
            pipeline::attempt_finished(cx, target, usage, finish_reason);
        }
        let _ = (target, usage, finish_reason);
    }

    /// The client went away while this attempt streamed; ends the span.
    pub fn cancelled(&self) {
        #[cfg(feature = "otel")]
        if let Some(cx) = &self.cx {
            pipeline::attempt_cancelled(cx);
        }
    }
}
