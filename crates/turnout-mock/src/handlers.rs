//! The HTTP surface of a mock provider: OpenAI's chat completions and models list,
//! Anthropic's messages (see [`crate::anthropic`]), Gemini's generateContent (see
//! [`crate::gemini`]), plus `/_mock/*` control endpoints for out-of-process use. What happens
//! around each dialect's answer (faults, latency, keys) is in [`crate::dialect`].

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::json;

use crate::config::{MockConfig, MockOverride, Prepared};
use crate::dialect::{Dialect, before_answer, respond_json, respond_stream};
use crate::reply::{
    ChatRequest, EMPTY_STREAM, Extras, MALFORMED_BODY, MALFORMED_STREAM, Meta, build_reply,
    push_json_str, render_completion, render_stream,
};
use crate::state::MockState;

/// Largest request body accepted.
const MAX_BODY_BYTES: usize = 64 << 20;

/// Model ids always listed by `GET /v1/models`.
const BUILTIN_MODELS: [&str; 4] = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-nano", "mock-model"];

/// The mock's routes over `state`: `POST /v1/chat/completions`, `POST /v1/messages`
/// (Anthropic), `GET /v1/models` (also without the `/v1` prefix),
/// `POST /v1beta/models/{model}:generateContent|streamGenerateContent` (Gemini, also under
/// `/v1`), Azure OpenAI's `POST /openai/deployments/{deployment}/chat/completions` and
/// `POST /openai/v1/chat/completions`, OpenRouter's `POST /api/v1/chat/completions`,
/// `GET /_mock/stats`, `GET|POST /_mock/config`, `POST /_mock/reset`.
pub fn router(state: MockState) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(azure_deployment_chat),
        )
        .route("/openai/v1/chat/completions", post(azure_v1_chat))
        .route("/openai/models", get(models))
        .route("/openai/v1/models", get(models))
        .route("/api/v1/chat/completions", post(openrouter_chat))
        .route("/api/v1/models", get(models))
        .route("/v1/messages", post(crate::anthropic::messages))
        .route("/messages", post(crate::anthropic::messages))
        .route("/v1beta/models", get(crate::gemini::list_models))
        .route("/v1beta/models/{action}", post(crate::gemini::generate))
        .route("/v1/models/{action}", post(crate::gemini::generate))
        .route("/v1/models", get(models))
        .route("/models", get(models))
        .route("/_mock/stats", get(stats))
        .route("/_mock/config", get(get_config).post(set_config))
        .route("/_mock/reset", post(reset))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, JSON);
    response
}

/// An OpenAI error envelope `{"error":{"message","type","param","code"}}`.
fn openai_error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    json_response(status, Bytes::from(body.to_string()))
}

/// The error OpenAI sends for `status`, more or less verbatim (spec/providers.md §C.2).
fn default_error(status: StatusCode, model: &str) -> Response {
    match status.as_u16() {
        400 => openai_error(
            status,
            "Invalid request (mock fault).",
            "invalid_request_error",
            None,
        ),
        401 => openai_error(
            status,
            "Incorrect API key provided: sk-mock****. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        403 => openai_error(
            status,
            "You are not allowed to access this resource (mock fault).",
            "invalid_request_error",
            Some("permission_denied"),
        ),
        404 => openai_error(
            status,
            &format!("The model `{model}` does not exist or you do not have access to it."),
            "invalid_request_error",
            Some("model_not_found"),
        ),
        429 => openai_error(
            status,
            &format!(
                "Rate limit reached for {model} in organization org-mock on requests per min (RPM): Limit 1, Used 1, Requested 1. Please try again in 1s."
            ),
            "requests",
            Some("rate_limit_exceeded"),
        ),
        500 => openai_error(
            status,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
        503 => openai_error(
            status,
            "Model temporarily overloaded",
            "service_unavailable_error",
            Some("server_is_overloaded"),
        ),
        s if s >= 500 => openai_error(
            status,
            "The server had an error while processing your request (mock fault).",
            "server_error",
            None,
        ),
        _ => openai_error(
            status,
            "Request failed (mock fault).",
            "invalid_request_error",
            None,
        ),
    }
}

fn bad_request(message: &str) -> Response {
    openai_error(
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        None,
    )
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The behaviour for this request: the instance's, with the `x-mock` header and then the
/// body's `"mock"` object applied.
pub(crate) fn effective(
    state: &MockState,
    header: Option<MockOverride>,
    body: Option<MockOverride>,
) -> Arc<Prepared> {
    let base = state.inner.config.load_full();
    let over = match (header, body) {
        (None, None) => return base,
        (Some(one), None) | (None, Some(one)) => one,
        (Some(mut h), Some(b)) => {
            h.merge(b);
            h
        }
    };
    if over.is_empty() {
        return base;
    }
    Arc::new(Prepared::new(over.apply(&base.config)))
}

/// The `x-mock` header's override; `Err` holds the message of a 400.
pub(crate) fn header_override(headers: &HeaderMap) -> Result<Option<MockOverride>, String> {
    let Some(value) = headers.get("x-mock") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| "x-mock header: not valid text".to_owned())?;
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| format!("x-mock header: {e}"))
}

fn key_matches(headers: &HeaderMap, key: &str) -> bool {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| given.trim() == key)
}

/// Which OpenAI-compatible API a chat route imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    OpenAi,
    /// Azure OpenAI: the model from the deployment in the path (or, on the v1 API, the body).
    Azure,
    OpenRouter,
}

async fn chat(State(state): State<MockState>, request: Request) -> Response {
    serve_chat::<OpenAi>(state, request, Flavour::OpenAi, None).await
}

async fn azure_deployment_chat(
    State(state): State<MockState>,
    Path(deployment): Path<String>,
    request: Request,
) -> Response {
    serve_chat::<Azure>(state, request, Flavour::Azure, Some(deployment)).await
}

async fn azure_v1_chat(State(state): State<MockState>, request: Request) -> Response {
    serve_chat::<Azure>(state, request, Flavour::Azure, None).await
}

async fn openrouter_chat(State(state): State<MockState>, request: Request) -> Response {
    serve_chat::<OpenRouter>(state, request, Flavour::OpenRouter, None).await
}

/// Azure's content-filter results for a prompt that passed.
macro_rules! azure_prompt_filter_results {
    () => {
        "[{\"prompt_index\":0,\"content_filter_results\":{\"hate\":{\"filtered\":false,\"severity\":\"safe\"},\"self_harm\":{\"filtered\":false,\"severity\":\"safe\"},\"sexual\":{\"filtered\":false,\"severity\":\"safe\"},\"violence\":{\"filtered\":false,\"severity\":\"safe\"}}}]"
    };
}

/// Azure's first stream event: no choices, the prompt's content-filter results.
const AZURE_PROMPT_FILTER: &str = concat!(
    "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":",
    azure_prompt_filter_results!(),
    "}\n\n"
);

/// Azure's non-streamed answers carry the same results as a member.
const AZURE_PROMPT_FILTER_MEMBER: &str = concat!(
    ",\"prompt_filter_results\":",
    azure_prompt_filter_results!()
);

/// OpenRouter's keep-alive comment, sent while it picks a provider.
const OPENROUTER_PROCESSING: &str = ": OPENROUTER PROCESSING\n\n";

/// The provider an OpenRouter answer names: the first of the request's `provider.order` (or
/// `only`), as OpenRouter would route it, else a made-up one.
fn openrouter_provider(request: &ChatRequest<'_>) -> String {
    request
        .provider
        .as_ref()
        .and_then(|p| p.order.as_ref().or(p.only.as_ref()))
        .and_then(|names| names.first())
        .map_or_else(|| "MockInfra".to_owned(), |name| name.0.to_string())
}

/// The model an OpenRouter request is served with: the first of `model` and then `models`
/// that it has endpoints for.
fn openrouter_model<'r>(request: &'r ChatRequest<'_>, config: &MockConfig) -> Option<&'r str> {
    std::iter::once(request.model())
        .chain(request.models.iter().flatten().map(|m| m.0.as_ref()))
        .find(|m| !config.unavailable_models.iter().any(|u| u == m))
}

async fn serve_chat<D: Dialect>(
    state: MockState,
    request: Request,
    flavour: Flavour,
    deployment: Option<String>,
) -> Response {
    let outcome = state.begin();
    // Taking the request whole avoids the header-map clone of the `HeaderMap` extractor.
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(e) => {
            outcome.complete();
            return openai_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("Could not read the request body: {e}"),
                "invalid_request_error",
                None,
            );
        }
    };
    let header = match header_override(&parts.headers) {
        Ok(h) => h,
        Err(message) => {
            outcome.complete();
            return bad_request(&message);
        }
    };
    let mut request: ChatRequest<'_> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            outcome.complete();
            tracing::debug!(error = %e, "mock: invalid request body");
            return bad_request(&format!(
                "We could not parse the JSON body of your request. ({e})"
            ));
        }
    };
    state.remember_request(body.clone());
    if let Some(tp) = parts
        .headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        state.remember_traceparent(tp);
    }
    if flavour != Flavour::OpenAi {
        state.remember_path(&parts.uri);
    }
    let prepared = effective(&state, header, request.mock.take());
    let config: &MockConfig = &prepared.config;
    let streaming = request.stream.unwrap_or(false);
    // The deployment API needs its version; the model is the deployment.
    let azure_version = parts
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("api-version=")));
    let invalid = (deployment.is_some() && !azure_version)
        .then(|| Azure::error(StatusCode::NOT_FOUND, request.model()));
    let served = match flavour {
        Flavour::OpenRouter => openrouter_model(&request, config),
        _ => Some(deployment.as_deref().unwrap_or(request.model())),
    };
    let invalid = invalid.or_else(|| {
        served
            .is_none()
            .then(|| D::error(StatusCode::NOT_FOUND, request.model()))
    });
    let outcome = match before_answer::<D>(
        config,
        &state,
        &parts,
        request.model(),
        streaming,
        invalid,
        outcome,
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(response) => return response,
    };

    let reply = build_reply(config, request.seed(), request.max_tokens());
    let mut provider_member = String::new();
    let extras = match flavour {
        Flavour::OpenAi => Extras::default(),
        Flavour::Azure => Extras {
            completion_members: AZURE_PROMPT_FILTER_MEMBER,
            preamble: AZURE_PROMPT_FILTER,
            ..Extras::default()
        },
        Flavour::OpenRouter => {
            provider_member.push_str(",\"provider\":");
            push_json_str(&mut provider_member, &openrouter_provider(&request));
            Extras {
                members: &provider_member,
                preamble: OPENROUTER_PROCESSING,
                cost: true,
                ..Extras::default()
            }
        }
    };
    let meta = Meta {
        id: state.next_id(),
        created: now_secs(),
        model: served.unwrap_or(request.model()),
        fingerprint_json: &prepared.fingerprint_json,
        prompt_tokens: request.prompt_tokens(),
        extras,
    };
    if streaming {
        // OpenRouter always reports usage (with its cost) at the end of a stream.
        let usage = request.include_usage() || flavour == Flavour::OpenRouter;
        let rendered = render_stream(&meta, &reply, usage);
        respond_stream(config, outcome, rendered)
    } else {
        respond_json(config, outcome, render_completion(&meta, &reply))
    }
}

/// The OpenAI dialect: its error envelope, `Authorization: Bearer`, 503 when flaky.
struct OpenAi;

impl Dialect for OpenAi {
    const MALFORMED_BODY: &'static str = MALFORMED_BODY;
    const MALFORMED_STREAM: &'static str = MALFORMED_STREAM;
    const EMPTY_STREAM: &'static str = EMPTY_STREAM;

    fn error(status: StatusCode, model: &str) -> Response {
        default_error(status, model)
    }

    fn key_rejected(parts: &Parts, key: &str, model: &str) -> Option<Response> {
        (!key_matches(&parts.headers, key)).then(|| default_error(StatusCode::UNAUTHORIZED, model))
    }

    fn overloaded(model: &str) -> Response {
        default_error(StatusCode::SERVICE_UNAVAILABLE, model)
    }

    fn content_filtered(_model: &str) -> Response {
        openai_error(
            StatusCode::BAD_REQUEST,
            "Your request was rejected as a result of our safety system (mock fault).",
            "invalid_request_error",
            Some("content_policy_violation"),
        )
    }
}

/// Azure OpenAI's envelope: `{"error":{"code":"<string>","message":…}}`.
fn azure_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    json_response(status, Bytes::from(body.to_string()))
}

/// Azure OpenAI: OpenAI's API under its own paths, the key as `api-key`, its own error texts,
/// a content filter on prompts and answers.
struct Azure;

impl Dialect for Azure {
    const MALFORMED_BODY: &'static str = MALFORMED_BODY;
    const MALFORMED_STREAM: &'static str = MALFORMED_STREAM;
    const EMPTY_STREAM: &'static str = EMPTY_STREAM;

    fn error(status: StatusCode, model: &str) -> Response {
        match status.as_u16() {
            401 => azure_error(
                status,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
            ),
            404 => azure_error(status, "404", "Resource not found"),
            429 => azure_error(
                status,
                "429",
                "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 1 second.",
            ),
            503 => azure_error(
                status,
                "ServiceUnavailable",
                "The service is temporarily unable to process your request. Please try again later.",
            ),
            _ => default_error(status, model),
        }
    }

    fn key_rejected(parts: &Parts, key: &str, model: &str) -> Option<Response> {
        let given = parts.headers.get("api-key").and_then(|v| v.to_str().ok());
        (given.map(str::trim) != Some(key)).then(|| Self::error(StatusCode::UNAUTHORIZED, model))
    }

    fn overloaded(model: &str) -> Response {
        Self::error(StatusCode::SERVICE_UNAVAILABLE, model)
    }

    fn content_filtered(_model: &str) -> Response {
        let body = json!({"error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
            "type": null,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    "hate": {"filtered": false, "severity": "safe"},
                    "self_harm": {"filtered": false, "severity": "safe"},
                    "sexual": {"filtered": false, "severity": "safe"},
                    "violence": {"filtered": true, "severity": "high"}
                }
            }
        }});
        json_response(StatusCode::BAD_REQUEST, Bytes::from(body.to_string()))
    }
}

/// OpenRouter's envelope: `{"error":{"code":<status>,"message":…,"metadata"?},"user_id":…}`.
fn openrouter_error(
    status: StatusCode,
    message: &str,
    metadata: Option<serde_json::Value>,
) -> Response {
    let mut error = json!({"code": status.as_u16(), "message": message});
    if let Some(m) = metadata {
        error["metadata"] = m;
    }
    let body = json!({"error": error, "user_id": "user_mock"});
    json_response(status, Bytes::from(body.to_string()))
}

/// OpenRouter: OpenAI's API under `/api/v1`, with its own errors (an upstream's failure
/// carries `metadata.raw` and `provider_name`), provider names and costs in answers.
struct OpenRouter;

impl Dialect for OpenRouter {
    const MALFORMED_BODY: &'static str = MALFORMED_BODY;
    const MALFORMED_STREAM: &'static str = MALFORMED_STREAM;
    const EMPTY_STREAM: &'static str = EMPTY_STREAM;

    fn error(status: StatusCode, model: &str) -> Response {
        let upstream =
            |raw: String| Some(json!({"raw": raw, "provider_name": "MockInfra", "is_byok": false}));
        match status.as_u16() {
            400 => openrouter_error(status, "Invalid request parameters", None),
            401 => openrouter_error(status, "No auth credentials found", None),
            402 => openrouter_error(
                status,
                "Insufficient credits. Add more using https://openrouter.ai/credits",
                None,
            ),
            404 => openrouter_error(status, &format!("No endpoints found for {model}."), None),
            429 => openrouter_error(
                status,
                "Provider returned error",
                upstream(format!(
                    "{model} is temporarily rate-limited upstream. Please retry shortly."
                )),
            ),
            502 => openrouter_error(
                status,
                "Provider returned error",
                upstream("upstream connection error (mock fault)".to_owned()),
            ),
            503 => openrouter_error(status, "Service temporarily unavailable", None),
            s if s >= 500 => openrouter_error(status, "Internal Server Error", None),
            _ => openrouter_error(status, "Request failed (mock fault)", None),
        }
    }

    fn key_rejected(parts: &Parts, key: &str, model: &str) -> Option<Response> {
        (!key_matches(&parts.headers, key)).then(|| Self::error(StatusCode::UNAUTHORIZED, model))
    }

    fn overloaded(model: &str) -> Response {
        Self::error(StatusCode::SERVICE_UNAVAILABLE, model)
    }
}

pub(crate) fn sse_response(body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, EVENT_STREAM);
    headers.insert(CACHE_CONTROL, NO_CACHE);
    response
}

/// The models the mock lists: its built-in ids, then the configured ones, once each.
pub(crate) fn model_ids(state: &MockState) -> Vec<String> {
    let prepared = state.inner.config.load_full();
    let mut seen: Vec<String> =
        Vec::with_capacity(BUILTIN_MODELS.len() + prepared.config.models.len());
    for id in BUILTIN_MODELS
        .iter()
        .copied()
        .chain(prepared.config.models.iter().map(String::as_str))
    {
        if !seen.iter().any(|s| s == id) {
            seen.push(id.to_owned());
        }
    }
    seen
}

async fn models(State(state): State<MockState>) -> Response {
    let created = now_secs();
    let data: Vec<serde_json::Value> = model_ids(&state)
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": created, "owned_by": "mock"}))
        .collect();
    let body = json!({"object": "list", "data": data});
    json_response(StatusCode::OK, Bytes::from(body.to_string()))
}

async fn stats(State(state): State<MockState>) -> Response {
    axum::Json(state.stats()).into_response()
}

async fn get_config(State(state): State<MockState>) -> Response {
    axum::Json(state.config()).into_response()
}

async fn set_config(State(state): State<MockState>, body: Bytes) -> Response {
    match serde_json::from_slice::<MockConfig>(&body) {
        Ok(config) => {
            tracing::info!(name = %config.name, "mock: config replaced");
            state.set_config(config.clone());
            axum::Json(config).into_response()
        }
        Err(e) => bad_request(&format!("invalid mock config: {e}")),
    }
}

async fn reset(State(state): State<MockState>) -> StatusCode {
    state.reset_stats();
    StatusCode::NO_CONTENT
}

async fn not_found() -> Response {
    openai_error(
        StatusCode::NOT_FOUND,
        "Unknown path (mock provider).",
        "invalid_request_error",
        Some("unknown_url"),
    )
}
