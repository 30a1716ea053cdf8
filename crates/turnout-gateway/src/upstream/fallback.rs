//! Step 3: the attempt loop. Walks the plan in order; a failure that may fall over moves to the
//! next endpoint, a client-fault failure skips to the next model; the loop ends in one error
//! that lists every attempt. (Retries of the same endpoint, budgets and breakers come with the
//! routing issue and live here too.)

use std::time::Instant;

use super::attempt::{self, AttemptError, BoundStream, Completed};
use crate::egress::ResponseIdentity;
use crate::error::ApiError;
use crate::ingress::parse::ChatInput;
use crate::routing::catalog::Target;
use crate::routing::plan::Plan;
use crate::telemetry::AttemptEvent;

pub async fn complete(
    plan: &Plan,
    input: &ChatInput,
    ident: &ResponseIdentity,
) -> Result<(Completed, Target), ApiError> {
    let mut failures: Vec<AttemptError> = Vec::new();
    for group in &plan.groups {
        for target in group {
            let started = Instant::now();
            match attempt::complete(target, input, ident).await {
                Ok(done) => {
                    AttemptEvent::ok(target, started).emit();
                    return Ok((done, target.clone()));
                }
                Err(e) => {
                    AttemptEvent::failed(&e, started).emit();
                    let next_model = !e.class.falls_over_to_next_endpoint();
                    failures.push(e);
                    if next_model {
                        break;
                    }
                }
            }
        }
    }
    Err(ApiError::Upstream { attempts: failures })
}

pub async fn open_stream(
    plan: &Plan,
    input: &ChatInput,
    ident: &ResponseIdentity,
) -> Result<BoundStream, ApiError> {
    let mut failures: Vec<AttemptError> = Vec::new();
    for group in &plan.groups {
        for target in group {
            let started = Instant::now();
            match attempt::open_stream(target, input, ident).await {
                Ok(bound) => {
                    AttemptEvent::ok(target, started).emit();
                    return Ok(bound);
                }
                Err(e) => {
                    AttemptEvent::failed(&e, started).emit();
                    let next_model = !e.class.falls_over_to_next_endpoint();
                    failures.push(e);
                    if next_model {
                        break;
                    }
                }
            }
        }
    }
    Err(ApiError::Upstream { attempts: failures })
}
