//! Step 3: the attempt loop, the one place that walks a plan. Each candidate is admitted by
//! its breaker, tried once, and its outcome recorded in health; a failure that may fall over
//! moves to the next endpoint, a client-fault failure skips to the next model. When every
//! candidate failed, retryable failures are retried on the same endpoint with backoff, within
//! that endpoint's retry budget. The loop ends in one error that lists every attempt.

use std::future::Future;
use std::time::{Duration, Instant};

use super::attempt::{self, AttemptError, AttemptSummary, BoundStream, Completed, FailureClass};
use crate::egress::ResponseIdentity;
use crate::error::ApiError;
use crate::health::{Health, Outcome};
use crate::ingress::parse::ChatInput;
use crate::otel::{AttemptSpan, RequestSpan};
use crate::routing::catalog::Target;
use crate::routing::plan::Plan;
use crate::telemetry::AttemptEvent;

/// Backoff for retrying the same endpoint (DESIGN.md §3 `[routing] retry`).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub multiplier: f64,
    pub jitter: f64,
    pub max: Duration,
    pub budget_ratio: f64,
    /// Rounds of retries after every candidate failed once.
    pub rounds: u32,
}

impl RetryPolicy {
    pub fn from_config(c: &turnout_config::RetryConfig) -> Self {
        Self {
            initial: Duration::from_millis(c.initial_ms),
            multiplier: c.multiplier,
            jitter: c.jitter,
            max: Duration::from_millis(c.max_ms),
            budget_ratio: c.budget_ratio,
            rounds: 2,
        }
    }

    /// Exponential with ±jitter, capped; never shorter than what the upstream asked for.
    pub fn delay(&self, round: u32, retry_after: Option<Duration>, unit_random: f64) -> Duration {
        let base = self.initial.as_secs_f64() * self.multiplier.powi(round as i32);
        let jittered = base * (1.0 + self.jitter * (2.0 * unit_random - 1.0));
        let backoff = Duration::from_secs_f64(jittered.clamp(0.0, self.max.as_secs_f64()));
        backoff.max(retry_after.unwrap_or_default())
    }

    /// Whether a failure is worth retrying on the same endpoint.
    fn may_retry(&self, e: &AttemptError) -> bool {
        let class_ok = matches!(
            e.class,
            FailureClass::Overloaded
                | FailureClass::ServerError
                | FailureClass::Connect
                | FailureClass::BadOutput
                | FailureClass::RateLimited
        );
        // An upstream asking for a longer wait is left to its cool-down.
        class_ok && e.retry_after.is_none_or(|w| w <= self.max)
    }
}

/// Runs one attempt and records its outcome (its span's too).
async fn try_once<T, Fut>(
    health: &Health,
    target: &Target,
    span: &AttemptSpan,
    attempt: Fut,
) -> Result<T, AttemptError>
where
    Fut: Future<Output = Result<T, AttemptError>>,
{
    let key = &target.endpoint.key;
    let started = Instant::now();
    let pending = PendingOutcome {
        health,
        key,
        settled: false,
    };
    let result = attempt.await;
    pending.settle();
    match &result {
        Ok(_) => {
            AttemptEvent::ok(target, started, span).emit();
            health.record(key, Outcome::Success, Instant::now());
        }
        Err(e) => {
            AttemptEvent::failed(e, started, span).emit();
            let outcome = Outcome::Failure {
                class: e.class,
                retry_after: e.retry_after,
            };
            health.record(key, outcome, Instant::now());
        }
    }
    result
}

/// A successful walk: the value, who served it, how long its attempt took, every attempt, and
/// the serving attempt's span (still open: it ends with what the attempt produced).
pub struct Served<T> {
    pub value: T,
    pub target: Target,
    pub elapsed: Duration,
    pub attempts: Vec<AttemptSummary>,
    pub span: AttemptSpan,
}

fn served<T>(
    value: T,
    target: &Target,
    started: Instant,
    failures: &[AttemptError],
    span: AttemptSpan,
) -> Served<T> {
    let mut attempts: Vec<AttemptSummary> = failures.iter().map(AttemptSummary::failed).collect();
    attempts.push(AttemptSummary::served(target));
    Served {
        value,
        target: target.clone(),
        elapsed: started.elapsed(),
        attempts,
        span,
    }
}

/// Walks the plan with `attempt` until one succeeds: each candidate once (failing over is
/// free), then, if all failed, retries of the same endpoints with backoff, paid from their
/// retry budgets. Each attempt gets a child span of `trace`; `attempt` is handed the
/// `traceparent` to send upstream (`None` when tracing is off).
async fn walk<T, F, Fut>(
    plan: &Plan,
    health: &Health,
    policy: &RetryPolicy,
    trace: &RequestSpan,
    mut attempt: F,
) -> Result<Served<T>, ApiError>
where
    F: FnMut(Target, Option<http::HeaderValue>) -> Fut,
    Fut: Future<Output = Result<T, AttemptError>>,
{
    let mut failures: Vec<AttemptError> = Vec::new();
    let mut retry: Vec<(&Target, Option<Duration>)> = Vec::new();
    let mut skipped = 0usize;
    let mut tries = 0u32;
    // After a context-length error, endpoints with no more context than the one that refused
    // cannot take the prompt either.
    let mut needs_context_over: Option<u64> = None;
    for group in &plan.groups {
        for candidate in group {
            let target = &candidate.target;
            if let (Some(min), Some(ctx)) = (needs_context_over, target.endpoint.context_length)
                && ctx <= min
            {
                continue;
            }
            if !health.admit(&target.endpoint.key, Instant::now()) {
                skipped += 1;
                continue;
            }
            tries += 1;
            let span = trace.attempt(target, tries, false);
            let started = Instant::now();
            let run = attempt(target.clone(), span.traceparent());
            match try_once(health, target, &span, run).await {
                Ok(value) => return Ok(served(value, target, started, &failures, span)),
                Err(e) => {
                    let next_model = !e.class.falls_over_to_next_endpoint();
                    if e.class
                        == (FailureClass::InvalidRequest {
                            context_length: true,
                        })
                        && let Some(ctx) = target.endpoint.context_length
                    {
                        needs_context_over = Some(needs_context_over.map_or(ctx, |m| m.max(ctx)));
                    }
                    if policy.may_retry(&e) {
                        retry.push((target, e.retry_after));
                    }
                    failures.push(e);
                    if next_model {
                        break;
                    }
                }
            }
        }
    }
    // A client waits for retries at most `max` in all, however many endpoints are retried.
    let mut slept = Duration::ZERO;
    for round in 0..policy.rounds {
        let mut again = Vec::new();
        for (target, retry_after) in retry {
            let wait = policy.delay(round, retry_after, rand::random::<f64>());
            if slept + wait > policy.max {
                continue;
            }
            slept += wait;
            tokio::time::sleep(wait).await;
            let key = &target.endpoint.key;
            if !health.admit_retry(key, Instant::now(), policy.budget_ratio) {
                continue;
            }
            tries += 1;
            let span = trace.attempt(target, tries, true);
            let started = Instant::now();
            let run = attempt(target.clone(), span.traceparent());
            match try_once(health, target, &span, run).await {
                Ok(value) => return Ok(served(value, target, started, &failures, span)),
                Err(e) => {
                    if policy.may_retry(&e) {
                        again.push((target, e.retry_after));
                    }
                    failures.push(e);
                }
            }
        }
        retry = again;
        if retry.is_empty() {
            break;
        }
    }
    if failures.is_empty() && skipped > 0 {
        // Breakers closed the door between planning and trying (a half-open trial was taken).
        return Err(ApiError::AllCoolingDown {
            model: plan
                .candidates()
                .next()
                .map(|c| c.target.model_id.clone())
                .unwrap_or_default(),
            retry_after: Duration::from_secs(1),
        });
    }
    Err(ApiError::Upstream { attempts: failures })
}

/// Frees a half-open breaker's trial slot if the attempt is dropped before it ends (the
/// client went away); otherwise the outcome is recorded by the loop.
struct PendingOutcome<'a> {
    health: &'a Health,
    key: &'a str,
    settled: bool,
}

impl PendingOutcome<'_> {
    fn settle(mut self) {
        self.settled = true;
    }
}

impl Drop for PendingOutcome<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.health.abandon(self.key);
        }
    }
}

pub async fn complete(
    plan: &Plan,
    input: &ChatInput,
    ident: &ResponseIdentity,
    health: &Health,
    policy: &RetryPolicy,
    trace: &RequestSpan,
) -> Result<Served<Completed>, ApiError> {
    let mut served = walk(plan, health, policy, trace, |t, traceparent| async move {
        attempt::complete(&t, input, ident, traceparent).await
    })
    .await?;
    if let Some(answered) = served.value.served_by.take() {
        // OpenRouter fell back to a later model itself: that model is what was served.
        if let Some(last) = served.attempts.last_mut() {
            *last = AttemptSummary::served(&answered);
        }
        served.target = answered;
    }
    let done = &served.value;
    served
        .span
        .finished(&served.target, &done.usage, done.finish_reason);
    let tps = served.value.usage.completion_tokens as f64 / served.elapsed.as_secs_f64().max(1e-3);
    let key = &served.target.endpoint.key;
    health.record_timing(key, served.elapsed, Some(tps), Instant::now());
    Ok(served)
}

pub async fn open_stream(
    plan: &Plan,
    input: &ChatInput,
    ident: &ResponseIdentity,
    health: &Health,
    policy: &RetryPolicy,
    trace: &RequestSpan,
) -> Result<BoundStream, ApiError> {
    // Throughput is recorded when the stream ends (egress); here, time to first token.
    let served = walk(plan, health, policy, trace, |t, traceparent| async move {
        attempt::open_stream(&t, input, ident, traceparent).await
    })
    .await?;
    // The serving attempt's span goes on with the stream and ends with it.
    served.span.first_token(served.elapsed);
    let key = &served.target.endpoint.key;
    health.record_timing(key, served.elapsed, None, Instant::now());
    let mut bound = served.value;
    bound.attempts = served.attempts;
    bound.span = served.span;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_jitters_and_honours_retry_after() {
        let p = RetryPolicy::from_config(&turnout_config::RetryConfig::default());
        assert_eq!(p.delay(0, None, 0.5), Duration::from_millis(250));
        assert_eq!(p.delay(1, None, 0.5), Duration::from_millis(500));
        assert_eq!(
            p.delay(10, None, 0.5),
            Duration::from_millis(4000),
            "capped"
        );
        assert_eq!(p.delay(0, None, 0.0), Duration::from_millis(200), "-20%");
        assert_eq!(p.delay(0, None, 1.0), Duration::from_millis(300), "+20%");
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(2)), 0.5),
            Duration::from_secs(2)
        );
    }
}
