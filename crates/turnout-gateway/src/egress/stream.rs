//! Step 4: SSE to the client. The HTTP status waits up to 1 s for the plan to produce content,
//! so fast failures still get a real error status; past that we commit 200, send
//! `: OPENROUTER PROCESSING` (again after every 10 s of silence) and keep failing over until
//! content arrives. Failures after the commit become one in-band error chunk, then `[DONE]`.
//!
//! On the Messages skin every frame is re-framed as Anthropic events on its way out
//! ([`StreamEncoder`]); keep-alive comments are valid there too.
//!
//! Nothing here is spawned: the upstream request lives inside the response body, so a client
//! that disconnects drops it and the upstream connection closes at once.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use turnout_wire::anthropic::ingress::StreamEncoder;
use turnout_wire::chat::{ChatChunk, ChunkChoice, UsageOut};
use turnout_wire::error::ErrorBody;
use turnout_wire::sse::{DONE, PROCESSING, encode_data};

use super::ResponseIdentity;
use crate::accounting::cost::usage_out;
use crate::accounting::{Billing, Outcome};
use crate::error::ApiError;
use crate::health::Health;
use crate::otel::RequestSpan;
use crate::routing::catalog::Target;
use crate::routing::plan::Plan;
use crate::telemetry::{InFlightStream, RequestEvent};
use crate::upstream::attempt::{AttemptError, AttemptSummary, BoundStream, Next};

pub const COMMIT_AFTER: Duration = Duration::from_secs(1);
pub const KEEPALIVE_EVERY: Duration = Duration::from_secs(10);

pub type PlanFuture = Pin<Box<dyn Future<Output = Result<BoundStream, ApiError>> + Send>>;

/// Runs the plan for up to [`COMMIT_AFTER`], then answers: an error status if it failed by
/// then, otherwise a 200 stream (re-framed by `skin` when one is given).
#[allow(clippy::too_many_arguments)]
pub async fn respond(
    mut plan: PlanFuture,
    ident: ResponseIdentity,
    requested_model: String,
    started: Instant,
    health: Arc<Health>,
    metadata: Option<Arc<Plan>>,
    billing: Billing,
    skin: Option<StreamEncoder>,
    trace: RequestSpan,
) -> Result<Response, ApiError> {
    let phase = match tokio::time::timeout(COMMIT_AFTER, &mut plan).await {
        Ok(Ok(bound)) => Phase::Streaming(Box::new(bound)),
        Ok(Err(e)) => return Err(e),
        Err(_) => Phase::Waiting {
            plan,
            announce: true,
        },
    };
    let state = StreamState {
        phase,
        skin,
        metadata,
        requested: requested_model.clone(),
        ident: ident.clone(),
        record: Record {
            id: ident.id.clone(),
            model: requested_model,
            provider: String::new(),
            provider_slug: String::new(),
            started,
            ttft: None,
            outcome: None,
            tokens: (0, 0),
            cost: None,
            endpoint: None,
            health,
            billing: Some(billing),
            served: None,
            trace,
            _in_flight: InFlightStream::start(),
        },
    };
    let body = futures_util::stream::unfold(state, |mut s| async move {
        s.step().await.map(|b| (Ok::<Bytes, Infallible>(b), s))
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if let Ok(v) = HeaderValue::from_str(&ident.id) {
        h.insert("x-generation-id", v);
    }
    Ok(response)
}

enum Phase {
    Waiting { plan: PlanFuture, announce: bool },
    Streaming(Box<BoundStream>),
    Finishing(VecDeque<Bytes>),
    Done,
}

struct StreamState {
    phase: Phase,
    skin: Option<StreamEncoder>,
    /// Set when the client asked for `openrouter_metadata` (sent on the final usage chunk).
    metadata: Option<Arc<Plan>>,
    requested: String,
    ident: ResponseIdentity,
    record: Record,
}

impl StreamState {
    /// The next frame for the client, in its skin.
    async fn step(&mut self) -> Option<Bytes> {
        loop {
            let frame = self.next_frame().await?;
            let Some(encoder) = &mut self.skin else {
                return Some(frame);
            };
            let out = encoder.encode(&frame);
            if !out.is_empty() {
                return Some(Bytes::from(out));
            }
        }
    }

    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            match &mut self.phase {
                Phase::Waiting { plan, announce } => {
                    if *announce {
                        *announce = false;
                        return Some(Bytes::from_static(PROCESSING));
                    }
                    tokio::select! {
                        result = plan => match result {
                            Ok(bound) => self.phase = Phase::Streaming(Box::new(bound)),
                            Err(e) => {
                                let chunk = plan_error_chunk(&self.ident, &self.record.model, &e);
                                self.record.outcome = Some(e.kind());
                                self.phase = finishing([chunk, Bytes::from_static(DONE)]);
                            }
                        },
                        () = tokio::time::sleep(KEEPALIVE_EVERY) => {
                            return Some(Bytes::from_static(PROCESSING));
                        }
                    }
                }
                Phase::Streaming(bound) => {
                    if self.record.ttft.is_none() {
                        self.record.ttft = Some(self.record.started.elapsed());
                        self.record.provider = bound.target.endpoint.provider.name.clone();
                        self.record.provider_slug = bound.target.endpoint.provider.slug.clone();
                        self.record.model = bound.target.model_id.clone();
                        self.record.endpoint = Some(bound.target.endpoint.key.clone());
                    }
                    match bound.next().await {
                        Next::Chunk(b) => return Some(b),
                        Next::End => {
                            let meta = self.metadata.as_ref().map(|plan| {
                                super::openrouter_metadata(
                                    &self.requested,
                                    plan,
                                    &bound.attempts,
                                    &bound.target,
                                )
                            });
                            let usage = record_usage(&mut self.record, bound);
                            if let Some(s) = &self.record.served {
                                bound.span.finished(&s.target, &s.usage, s.finish_reason);
                            }
                            let chunk = final_usage_chunk(bound, usage, meta);
                            self.record.outcome = Some("ok");
                            self.phase = finishing([chunk, Bytes::from_static(DONE)]);
                        }
                        Next::Failed(e) => {
                            bound.span.failed(&e);
                            let chunk = attempt_error_chunk(bound, &e);
                            record_usage(&mut self.record, bound);
                            self.record.outcome = Some(e.class.as_str());
                            self.phase = finishing([chunk, Bytes::from_static(DONE)]);
                        }
                    }
                }
                Phase::Finishing(queue) => match queue.pop_front() {
                    Some(b) => return Some(b),
                    None => self.phase = Phase::Done,
                },
                Phase::Done => return None,
            }
        }
    }
}

/// Usage and cost of a finished stream, computed once: logged with the request and sent
/// in the final chunk.
fn record_usage(record: &mut Record, bound: &BoundStream) -> UsageOut {
    let t = &bound.translator;
    let usage = t.usage();
    record.tokens = (usage.prompt_tokens, usage.completion_tokens);
    let out = usage_out(&bound.target.endpoint.pricing, &usage, t.finish_reason);
    record.cost = Some(out.cost.0);
    record.served = Some(Served {
        target: bound.target.clone(),
        usage,
        finish_reason: t.finish_reason,
        attempts: bound.attempts.clone(),
    });
    out
}

/// A client that goes away mid-stream is billed for what was generated (DESIGN.md §4).
impl Drop for StreamState {
    fn drop(&mut self) {
        if self.record.outcome.is_none()
            && let Phase::Streaming(bound) = &self.phase
        {
            record_usage(&mut self.record, bound);
            bound.span.cancelled();
        }
    }
}

/// The plan failed after the commit: report it in-band under the last model tried.
fn plan_error_chunk(ident: &ResponseIdentity, requested_model: &str, e: &ApiError) -> Bytes {
    let (model, provider) = match e {
        ApiError::Upstream { attempts } => attempts
            .last()
            .map(|a| (&*a.model, &*a.provider))
            .unwrap_or((requested_model, "")),
        _ => (requested_model, ""),
    };
    error_chunk(ident, model, provider, e.body())
}

fn finishing<const N: usize>(items: [Bytes; N]) -> Phase {
    Phase::Finishing(items.into_iter().collect())
}

/// The last data chunk: `choices: []` and the usage with its cost.
fn final_usage_chunk(
    bound: &BoundStream,
    usage: UsageOut,
    metadata: Option<serde_json::Value>,
) -> Bytes {
    let t = &bound.translator;
    let chunk = ChatChunk {
        id: &t.ident().id,
        object: "chat.completion.chunk",
        created: t.ident().created,
        model: &bound.target.model_id,
        provider: t.provider_name(&bound.target),
        choices: Vec::new(),
        system_fingerprint: None,
        service_tier: None,
        usage: Some(usage),
        error: None,
    };
    let mut json = chunk.to_json();
    if let Some(meta) = metadata {
        super::append_member(&mut json, "openrouter_metadata", &meta);
    }
    encode_data(&json)
}

fn attempt_error_chunk(bound: &BoundStream, e: &AttemptError) -> Bytes {
    let error = ApiError::Upstream {
        attempts: vec![e.clone()],
    };
    let t = &bound.translator;
    error_chunk(
        t.ident(),
        &bound.target.model_id,
        t.provider_name(&bound.target),
        error.body(),
    )
}

/// Spec §4: one chunk with a top-level `error` and `finish_reason: "error"`.
fn error_chunk(ident: &ResponseIdentity, model: &str, provider: &str, error: ErrorBody) -> Bytes {
    let delta = serde_json::value::RawValue::from_string(r#"{"content":""}"#.to_owned()).ok();
    let chunk = ChatChunk {
        id: &ident.id,
        object: "chat.completion.chunk",
        created: ident.created,
        model,
        provider,
        choices: vec![ChunkChoice {
            index: 0,
            delta: delta.as_deref(),
            finish_reason: Some("error"),
            native_finish_reason: None,
            logprobs: None,
        }],
        system_fingerprint: None,
        service_tier: None,
        usage: None,
        error: Some(error),
    };
    encode_data(&chunk.to_json())
}

/// What one stream did, logged and counted when the stream ends or is dropped.
struct Record {
    id: Arc<str>,
    model: String,
    provider: String,
    provider_slug: String,
    started: Instant,
    ttft: Option<Duration>,
    /// `None` until the stream ends: a drop before that is a client cancellation.
    outcome: Option<&'static str>,
    tokens: (u64, u64),
    cost: Option<rust_decimal::Decimal>,
    /// The serving endpoint's health key, once bound.
    endpoint: Option<Arc<str>>,
    health: Arc<Health>,
    /// Settled when the record is: the hold is released if nothing was served.
    billing: Option<Billing>,
    served: Option<Served>,
    /// The request's span: it ends here, with the stream, not with the handler.
    trace: RequestSpan,
    _in_flight: InFlightStream,
}

/// What the serving endpoint produced, for settlement.
struct Served {
    target: Target,
    usage: turnout_wire::chat::Usage,
    finish_reason: Option<&'static str>,
    attempts: Vec<AttemptSummary>,
}

impl Drop for Record {
    fn drop(&mut self) {
        // Generation speed after the first token, for throughput sorts and stats.
        if let (Some(key), Some(ttft), Some("ok")) = (&self.endpoint, self.ttft, self.outcome) {
            let generating = self.started.elapsed().saturating_sub(ttft).as_secs_f64();
            if self.tokens.1 > 0 && generating > 0.0 {
                let now = Instant::now();
                self.health
                    .record_timing(key, ttft, Some(self.tokens.1 as f64 / generating), now);
            }
        }
        RequestEvent {
            id: &self.id,
            model: &self.model,
            provider: &self.provider,
            provider_slug: &self.provider_slug,
            stream: true,
            status: 200,
            outcome: self.outcome.unwrap_or("cancelled"),
            duration: self.started.elapsed(),
            ttft: self.ttft,
            prompt_tokens: self.tokens.0,
            completion_tokens: self.tokens.1,
            cost: self.cost,
            finish_reason: self.served.as_ref().and_then(|s| s.finish_reason),
            trace: &self.trace,
        }
        .emit();
        if let (Some(billing), Some(served)) = (self.billing.take(), &self.served) {
            billing.settle_detached(&Outcome {
                id: &self.id,
                target: &served.target,
                usage: &served.usage,
                cost: self.cost.unwrap_or_default(),
                finish_reason: served.finish_reason,
                streamed: true,
                cancelled: self.outcome.is_none(),
                latency: self.ttft.unwrap_or_default(),
                generation_time: self.ttft.map(|t| self.started.elapsed().saturating_sub(t)),
                attempts: &served.attempts,
            });
        }
    }
}
