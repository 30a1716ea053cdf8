//! Step 1: requests enter: authenticate, read and validate the body, then hand over to routing.

pub mod auth;
pub mod messages;
pub mod parse;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt;
use tracing::Instrument;
use turnout_config::ProviderKind;
use turnout_wire::anthropic::ingress::StreamEncoder;

use crate::accounting::{Billing, Outcome, RequestContext};
use crate::egress::{self, ResponseIdentity, stream};
use crate::error::ApiError;
use crate::otel::RequestSpan;
use crate::routing::plan::Plan;
use crate::routing::sticky::{SessionKey, SessionKind, StickyTable};
use crate::state::{AppState, Runtime};
use crate::telemetry::RequestEvent;
use crate::upstream::fallback;

/// Which API a request came in through: it decides how the body is read and how answers and
/// errors are written; everything between (auth, limits, holds, routing, failover, settlement)
/// is the same pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skin {
    /// OpenAI Chat Completions in the OpenRouter dialect.
    Chat,
    /// Anthropic Messages.
    Messages,
}

/// `POST /api/v1/chat/completions` (and `/v1/chat/completions`).
pub async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(&state, &headers, body, Skin::Chat).await
}

/// `POST /api/v1/messages` (and `/v1/messages`): Anthropic SDKs pointed at `…/api`.
pub async fn messages(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    serve(&state, &headers, body, Skin::Messages).await
}

async fn serve(state: &AppState, headers: &HeaderMap, body: Body, skin: Skin) -> Response {
    let started = Instant::now();
    let ident = ResponseIdentity::new();
    let span = match skin {
        Skin::Chat => tracing::info_span!("chat", generation_id = %ident.id),
        Skin::Messages => tracing::info_span!("messages", generation_id = %ident.id),
    };
    let route = match skin {
        Skin::Chat => "/api/v1/chat/completions",
        Skin::Messages => "/api/v1/messages",
    };
    // The OpenTelemetry span (inert when tracing is off); a stream takes it along and ends it.
    let trace = RequestSpan::start(headers, route, &ident.id);
    let result = handle(state, headers, body, started, ident.clone(), skin, &trace)
        .instrument(span.clone())
        .await;
    match result {
        Ok(response) => response,
        Err(e) => {
            let _enter = span.enter();
            let status = match skin {
                Skin::Chat => e.status(),
                Skin::Messages => e.anthropic_status(),
            };
            RequestEvent {
                id: &ident.id,
                model: "",
                provider: "",
                provider_slug: "",
                stream: false,
                status: status.as_u16(),
                outcome: e.kind(),
                duration: started.elapsed(),
                ttft: None,
                prompt_tokens: 0,
                completion_tokens: 0,
                cost: None,
                finish_reason: None,
                trace: &trace,
            }
            .emit();
            match skin {
                Skin::Chat => e.into_response(),
                Skin::Messages => e.into_anthropic_response(Some(&ident.id)),
            }
        }
    }
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    started: Instant,
    ident: ResponseIdentity,
    skin: Skin,
    trace: &RequestSpan,
) -> Result<Response, ApiError> {
    // One configuration snapshot for the whole request, even if a reload lands meanwhile.
    let runtime = state.runtime();
    let accounts = state.accounts();
    let principal = runtime.auth.authenticate(headers, accounts).await?;
    trace.principal(&principal.account, principal.key_hash.as_deref());
    if principal.is_management() {
        return Err(ApiError::Forbidden {
            message: "Management keys cannot be used for inference; create an inference key \
                      with POST /api/v1/keys"
                .to_owned(),
        });
    }
    if let Some(key) = &principal.key {
        accounts.check_rate(key, &ident.id).await?;
    }
    let (input, plan, session) =
        admit_and_plan(state, &runtime, &principal, headers, body, skin, trace).await?;
    let hold = accounts
        .hold(
            &principal,
            &ident.id,
            &plan,
            input.prompt_chars,
            hold_tokens(&input),
        )
        .await?;
    let billing = Billing {
        accounts: accounts.clone(),
        hold,
        context: RequestContext {
            session_id: input.session_id.clone(),
            http_referer: header_text(headers, "http-referer"),
            app_title: header_text(headers, "x-openrouter-title")
                .or_else(|| header_text(headers, "x-title")),
            user_agent: header_text(headers, "user-agent"),
            account: principal.account,
            key_hash: principal.key_hash,
        },
    };
    let (input, plan) = (Arc::new(input), Arc::new(plan));
    // Stickiness never overrides an explicit provider order.
    let session = session.filter(|_| input.preferences.order.is_empty());
    let policy = Arc::new(fallback::RetryPolicy::from_config(&runtime.routing.retry));
    let health = state.health().clone();

    if input.stream {
        let requested = input.model.clone();
        let future = {
            let (plan, input, ident, health, policy) = (
                plan.clone(),
                input.clone(),
                ident.clone(),
                health.clone(),
                policy.clone(),
            );
            let sticky = state.sticky().clone();
            // The plan may outlive this handler (inside the response body): keep its span.
            let span = tracing::Span::current();
            let trace = trace.clone();
            Box::pin(
                async move {
                    let bound =
                        fallback::open_stream(&plan, &input, &ident, &health, &policy, &trace)
                            .await?;
                    if let Some(s) = session {
                        s.bind(&sticky, &bound.target);
                    }
                    Ok(bound)
                }
                .instrument(span),
            )
        };
        let metadata = egress::wants_metadata(headers).then(|| plan.clone());
        let skin = match skin {
            Skin::Chat => None,
            // `message_start` announces the prompt estimate the hold used; the reported
            // count follows in `message_delta`.
            Skin::Messages => Some(StreamEncoder::new(input.prompt_chars.div_ceil(3) as u64)),
        };
        return stream::respond(
            future,
            ident,
            requested,
            started,
            state.health().clone(),
            metadata,
            billing,
            skin,
            trace.clone(),
        )
        .await;
    }

    let served = fallback::complete(&plan, &input, &ident, &health, &policy, trace).await?;
    let (mut done, target) = (served.value, served.target);
    if let Some(s) = session {
        s.bind(state.sticky(), &target);
    }
    if skin == Skin::Messages {
        // An Anthropic endpoint's answer was passed through; any other is translated.
        if !crate::upstream::anthropic::passes_through(&target, &input) {
            done.body = messages::message_body(&done.body, &input)?;
        }
    } else if egress::wants_metadata(headers) {
        let meta = egress::openrouter_metadata(&input.model, &plan, &served.attempts, &target);
        egress::append_member(&mut done.body, "openrouter_metadata", &meta);
    }
    billing
        .settle(&Outcome {
            id: &ident.id,
            target: &target,
            usage: &done.usage,
            cost: done.cost,
            finish_reason: done.finish_reason,
            streamed: false,
            cancelled: false,
            latency: started.elapsed(),
            generation_time: Some(served.elapsed),
            attempts: &served.attempts,
        })
        .await;
    RequestEvent {
        id: &ident.id,
        model: &target.model_id,
        provider: &target.endpoint.provider.name,
        provider_slug: &target.endpoint.provider.slug,
        stream: false,
        status: 200,
        outcome: "ok",
        duration: started.elapsed(),
        ttft: Some(started.elapsed()),
        prompt_tokens: done.usage.prompt_tokens,
        completion_tokens: done.usage.completion_tokens,
        cost: Some(done.cost),
        finish_reason: done.finish_reason,
        trace,
    }
    .emit();
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        done.body,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&ident.id) {
        response.headers_mut().insert("x-generation-id", v);
    }
    Ok(response)
}

/// The completion tokens a hold must cover: `max_tokens`, raised by a `reasoning.max_tokens`
/// budget at least as large (adapters that count thinking inside `max_tokens` add the budget
/// on top of the answer's).
fn hold_tokens(input: &parse::ChatInput) -> Option<u64> {
    let budget = input
        .reasoning
        .as_deref()
        .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok())
        .and_then(|r| r.get("max_tokens").and_then(serde_json::Value::as_u64));
    match (input.max_tokens, budget) {
        (Some(m), Some(b)) if b >= m => Some(m.saturating_add(b)),
        (m, _) => m,
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(512).collect())
}

/// Reads and validates the body, checks the key may use the models asked for, and plans the
/// route.
async fn admit_and_plan(
    state: &AppState,
    runtime: &Runtime,
    principal: &auth::Principal,
    headers: &HeaderMap,
    body: Body,
    skin: Skin,
    trace: &RequestSpan,
) -> Result<(parse::ChatInput, Plan, Option<Session>), ApiError> {
    let bytes = read_body(body, runtime.max_body_bytes).await?;
    let input = match skin {
        Skin::Chat => parse::parse_chat(&bytes)?,
        Skin::Messages => messages::parse_messages(&bytes, headers)?,
    };
    trace.request(&input);
    if let Some(allowed) = principal
        .key
        .as_ref()
        .and_then(|k| k.allowed_models.as_ref())
        && let Some(refused) = std::iter::once(&input.model)
            .chain(&input.models)
            .find(|m| !allowed.iter().any(|g| auth::glob_match(g, m)))
    {
        return Err(ApiError::Forbidden {
            message: format!("This API key is not allowed to use the model {refused}"),
        });
    }
    let session = Session::of(principal, &input, headers);
    let mut route = input.route_request();
    route.sticky_endpoint = session.and_then(|s| state.sticky().get(s.key, Instant::now()));
    let mut plan = Plan::build(
        &runtime.catalog,
        &route,
        state.health().as_ref(),
        Instant::now(),
        &mut rand::rng(),
    )?;
    if let Some(what) = input
        .native
        .as_ref()
        .and_then(|n| n.inexpressible.as_deref())
    {
        // Only the original body can carry it: Anthropic endpoints alone may serve.
        for group in &mut plan.groups {
            group.retain(|c| c.target.endpoint.provider.kind == ProviderKind::Anthropic);
        }
        if plan.candidates().next().is_none() {
            return Err(ApiError::invalid(format!(
                "{what} can only be sent to an Anthropic endpoint, and {} has none",
                input.model
            )));
        }
    }
    Ok((input, plan, session))
}

/// The conversation a request belongs to, for sticky routing.
#[derive(Debug, Clone, Copy)]
struct Session {
    key: SessionKey,
    kind: SessionKind,
}

impl Session {
    /// `session_id` (body) wins over `x-session-id` (header); without either, the
    /// conversation's own hash.
    fn of(
        principal: &auth::Principal,
        input: &parse::ChatInput,
        headers: &HeaderMap,
    ) -> Option<Self> {
        let explicit = input.session_id.clone().or_else(|| {
            headers
                .get("x-session-id")
                .and_then(|v| v.to_str().ok())
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty() && s.len() <= 256)
        });
        let (conversation, kind) = match explicit {
            Some(id) => (id, SessionKind::Explicit),
            None => (input.conversation.clone()?, SessionKind::Implicit),
        };
        Some(Session {
            key: SessionKey::new(&principal.account, &input.model, &conversation),
            kind,
        })
    }

    /// Remembers who served, where stickiness pays: always for explicit sessions, for
    /// implicit ones only where cache reads are cheaper than prompts.
    fn bind(self, sticky: &StickyTable, target: &crate::routing::catalog::Target) {
        let pricing = &target.endpoint.pricing;
        let caching_pays = pricing.cache_read.is_some_and(|r| r < pricing.prompt);
        if self.kind == SessionKind::Explicit || caching_pays {
            sticky.bind(self.key, target.endpoint.key.clone(), Instant::now());
        }
    }
}

/// `POST /api/v1/routing/explain`: the plan a chat request would get right now, and why each
/// endpoint is in, out, or where it ranks. No upstream is called.
pub async fn routing_explain(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let principal = state
        .runtime()
        .auth
        .authenticate(&headers, state.accounts())
        .await?;
    Ok(axum::Json(
        explain(&state, &principal, &headers, body).await?,
    ))
}

/// The `{"data": {"candidates", "excluded"}}` answer of routing/explain for `principal`
/// (also the dashboard's routing playground).
pub(crate) async fn explain(
    state: &AppState,
    principal: &auth::Principal,
    headers: &HeaderMap,
    body: Body,
) -> Result<serde_json::Value, ApiError> {
    let runtime = state.runtime();
    let (_, plan, _) = admit_and_plan(
        state,
        &runtime,
        principal,
        headers,
        body,
        Skin::Chat,
        &RequestSpan::default(),
    )
    .await?;
    let candidates: Vec<serde_json::Value> = plan
        .candidates()
        .enumerate()
        .map(|(i, c)| {
            serde_json::json!({
                "rank": i + 1,
                "provider": c.target.endpoint.provider.name,
                "provider_slug": c.target.endpoint.provider.slug,
                "model": c.target.model_id,
                "upstream_model": c.target.upstream_model,
                "why": c.why,
            })
        })
        .collect();
    let excluded: Vec<serde_json::Value> = plan
        .excluded
        .iter()
        .map(crate::routing::plan::Exclusion::to_json)
        .collect();
    Ok(serde_json::json!({"data": {"candidates": candidates, "excluded": excluded}}))
}

/// Reads the whole body, whatever its `Content-Type` (so `curl -d` works), up to the limit.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::PayloadTooLarge { limit })
        }
        Err(e) => Err(ApiError::invalid(format!(
            "Could not read the request body: {e}"
        ))),
    }
}
