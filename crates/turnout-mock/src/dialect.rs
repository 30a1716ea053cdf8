//! What every dialect of the mock (OpenAI, Anthropic, Gemini) does around its answer, in one
//! place: the instance's behaviour before an answer is built (hang, latency, key, flakiness,
//! the faults that replace the answer) and the delivery of the answer with the faults that cut
//! it short. A dialect says only how its errors and broken bodies look.

use std::time::Duration;

use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;

use crate::config::{Fault, MockConfig};
use crate::handlers::{json_response, sse_response};
use crate::reply::RenderedStream;
use crate::state::Outcome;
use crate::stream::{End, Paced, frames};

/// How one provider's API spells failures.
pub(crate) trait Dialect {
    /// A 200 body that is not JSON (cut mid-object).
    const MALFORMED_BODY: &'static str;
    /// A 200 stream whose events are not JSON.
    const MALFORMED_STREAM: &'static str;
    /// A 200 stream that ends without any content.
    const EMPTY_STREAM: &'static str;

    /// The provider's error answer for `status`.
    fn error(status: StatusCode, model: &str) -> Response;

    /// `None` when the request carries `key` where this provider reads it, else the
    /// provider's answer to a missing or wrong key.
    fn key_rejected(parts: &Parts, key: &str, model: &str) -> Option<Response>;

    /// What a flaky instance answers instead (an overloaded provider).
    fn overloaded(model: &str) -> Response;

    /// The provider's refusal of the prompt's content; by default its plain 400.
    fn content_filtered(model: &str) -> Response {
        Self::error(StatusCode::BAD_REQUEST, model)
    }

    /// An injected `status` fault without a custom body. Most providers send the wait of a
    /// 429 or 503 as `Retry-After`.
    fn status_fault(status: StatusCode, retry_after: Option<u64>, model: &str) -> Response {
        with_retry_after(Self::error(status, model), retry_after)
    }
}

fn with_retry_after(mut response: Response, retry_after: Option<u64>) -> Response {
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// Applies the instance's behaviour to a request before its answer is built, in the order a
/// provider would: hang, latency, key, flakiness, then the dialect's own refusal of the
/// request (`invalid`), then the faults that replace the answer. `Err` is the response to
/// send instead of the answer (the request is then counted as completed).
pub(crate) async fn before_answer<D: Dialect>(
    config: &MockConfig,
    state: &crate::state::MockState,
    parts: &Parts,
    model: &str,
    streaming: bool,
    invalid: Option<Response>,
    outcome: Outcome,
) -> Result<Outcome, Response> {
    if matches!(config.fault, Some(Fault::HangBeforeHeaders)) {
        // Never answers; dropping this future (the client left) counts a cancellation.
        std::future::pending::<()>().await;
    }
    if config.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(config.latency_ms)).await;
    }
    let refusal = config
        .require_key
        .as_deref()
        .and_then(|key| D::key_rejected(parts, key, model))
        .or_else(|| {
            (config.fail_rate > 0.0 && state.draw() < config.fail_rate)
                .then(|| D::overloaded(model))
        })
        .or(invalid);
    if let Some(response) = refusal {
        outcome.complete();
        return Err(response);
    }
    let replaced = match &config.fault {
        Some(Fault::Status {
            status,
            retry_after,
            body,
        }) => {
            let code = StatusCode::from_u16(*status).unwrap_or_else(|_| {
                tracing::warn!(status, "mock: invalid fault status, answering 500");
                StatusCode::INTERNAL_SERVER_ERROR
            });
            Some(match body {
                Some(text) => {
                    with_retry_after(json_response(code, Bytes::from(text.clone())), *retry_after)
                }
                None => D::status_fault(code, *retry_after, model),
            })
        }
        Some(Fault::MalformedJson) if streaming => {
            Some(sse_response(Body::from(D::MALFORMED_STREAM)))
        }
        Some(Fault::MalformedJson) => Some(json_response(
            StatusCode::OK,
            Bytes::from_static(D::MALFORMED_BODY.as_bytes()),
        )),
        Some(Fault::EmptyBody) if streaming => Some(sse_response(Body::from(D::EMPTY_STREAM))),
        Some(Fault::EmptyBody) => Some(json_response(StatusCode::OK, Bytes::new())),
        Some(Fault::ContentFilter) => Some(D::content_filtered(model)),
        _ => None,
    };
    match replaced {
        Some(response) => {
            outcome.complete();
            Err(response)
        }
        None => Ok(outcome),
    }
}

/// The fault that cuts an answer short, and after how many content chunks.
fn cut(config: &MockConfig) -> Option<(End, usize)> {
    match config.fault {
        Some(Fault::StallAfterChunks { after }) => Some((End::Stall, after)),
        Some(Fault::DropAfterChunks { after }) => Some((End::Drop, after)),
        _ => None,
    }
}

/// A non-streaming answer; a cutting fault sends half of the body, then silence or a cut
/// connection.
pub(crate) fn respond_json(config: &MockConfig, outcome: Outcome, body: Bytes) -> Response {
    let Some((end, _)) = cut(config) else {
        outcome.complete();
        return json_response(StatusCode::OK, body);
    };
    let half = body.slice(..body.len() / 2);
    let paced = Paced::new(vec![half], Duration::ZERO, end, outcome);
    let mut response = Response::new(Body::from_stream(paced));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A rendered stream (its first slot is what precedes the content: a role chunk, a
/// `message_start`, or nothing), paced by `chunk_delay_ms`; a cutting fault ends it after
/// `after` content events.
pub(crate) fn respond_stream(
    config: &MockConfig,
    outcome: Outcome,
    rendered: RenderedStream,
) -> Response {
    let delay = Duration::from_millis(config.chunk_delay_ms);
    let (end, upto) = match cut(config) {
        Some((end, after)) => (end, 1 + after.min(rendered.content)),
        None => (End::Finish, rendered.ends.len()),
    };
    if end == End::Finish && delay.is_zero() {
        outcome.complete();
        return sse_response(Body::from(rendered.buf));
    }
    let frames = frames(&rendered, upto, !delay.is_zero());
    sse_response(Body::from_stream(Paced::new(frames, delay, end, outcome)))
}
