//! Step 3: the attempt loop, the one place that walks a plan. Each candidate is admitted by
//! its breaker, tried once, and its outcome recorded in health; a failure that may fall over
//! moves to the next endpoint, a client-fault failure skips to the next model; the loop ends in
//! one error that lists every attempt.

use std::future::Future;
use std::time::{Duration, Instant};

use super::attempt::{self, AttemptError, BoundStream, Completed};
use crate::egress::ResponseIdentity;
use crate::error::ApiError;
use crate::health::{Health, Outcome};
use crate::ingress::parse::ChatInput;
use crate::routing::catalog::Target;
use crate::routing::plan::Plan;
use crate::telemetry::AttemptEvent;

/// Walks the plan with `attempt` until one succeeds.
async fn walk<T, F, Fut>(
    plan: &Plan,
    health: &Health,
    mut attempt: F,
) -> Result<(T, Target, Duration), ApiError>
where
    F: FnMut(Target) -> Fut,
    Fut: Future<Output = Result<T, AttemptError>>,
{
    let mut failures: Vec<AttemptError> = Vec::new();
    let mut skipped = 0usize;
    for group in &plan.groups {
        for candidate in group {
            let target = &candidate.target;
            let key = &target.endpoint.key;
            if !health.admit(key, Instant::now()) {
                skipped += 1;
                continue;
            }
            let started = Instant::now();
            let pending = PendingOutcome {
                health,
                key,
                settled: false,
            };
            let result = attempt(target.clone()).await;
            pending.settle();
            match result {
                Ok(value) => {
                    AttemptEvent::ok(target, started).emit();
                    health.record(key, Outcome::Success, Instant::now());
                    return Ok((value, target.clone(), started.elapsed()));
                }
                Err(e) => {
                    AttemptEvent::failed(&e, started).emit();
                    health.record(
                        key,
                        Outcome::Failure {
                            class: e.class,
                            retry_after: e.retry_after,
                        },
                        Instant::now(),
                    );
                    let next_model = !e.class.falls_over_to_next_endpoint();
                    failures.push(e);
                    if next_model {
                        break;
                    }
                }
            }
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
) -> Result<(Completed, Target), ApiError> {
    let (done, target, elapsed) = walk(plan, health, |t| async move {
        attempt::complete(&t, input, ident).await
    })
    .await?;
    let tps = done.usage.completion_tokens as f64 / elapsed.as_secs_f64().max(1e-3);
    health.record_timing(&target.endpoint.key, elapsed, Some(tps), Instant::now());
    Ok((done, target))
}

pub async fn open_stream(
    plan: &Plan,
    input: &ChatInput,
    ident: &ResponseIdentity,
    health: &Health,
) -> Result<BoundStream, ApiError> {
    // Throughput is recorded when the stream ends (egress); here, time to first token.
    let (bound, target, ttft) = walk(plan, health, |t| async move {
        attempt::open_stream(&t, input, ident).await
    })
    .await?;
    health.record_timing(&target.endpoint.key, ttft, None, Instant::now());
    Ok(bound)
}
