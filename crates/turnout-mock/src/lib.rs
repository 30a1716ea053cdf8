//! Mock upstream providers (OpenAI, Anthropic and Gemini dialects) with fault injection: used
//! by tests, benchmarks and `serve --demo`. Stands in for step 3 (upstream) of the flow in DESIGN.md §1.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use turnout_mock::{Fault, MockConfig, MockServer};
//! let mock = MockServer::start(MockConfig { name: "mock-fast".into(), ..MockConfig::default() }).await?;
//! let base_url = mock.base_url(); // http://127.0.0.1:PORT/v1
//! mock.set_config(MockConfig {
//!     fault: Some(Fault::Status { status: 503, retry_after: Some(2), body: None }),
//!     ..MockConfig::default()
//! });
//! assert_eq!(mock.stats().requests, 0);
//! # let _ = base_url; Ok(()) }
//! ```
//!
//! HTTP surface (see [`router`]):
//! - `POST /v1/chat/completions`: OpenAI Chat Completions, non-streaming or SSE
//!   (`stream_options.include_usage` adds the `choices: []` usage chunk). One word of the reply
//!   is one completion token; `prompt_tokens` = ⌈characters of the message contents / 4⌉.
//! - `POST /v1/messages`: Anthropic Messages, non-streaming or SSE, with tool calls and
//!   signed thinking blocks; see the `anthropic` module for what it answers. Errors use
//!   Anthropic's envelope; `require_key` is checked against `x-api-key`; a flaky mock answers
//!   529 `overloaded_error`.
//! - `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`:
//!   Gemini, with function calls and thought signatures; see the `gemini` module. Errors use
//!   Google's envelope; `require_key` is checked against `x-goog-api-key` (or `?key=`); a
//!   flaky mock answers 503 `UNAVAILABLE`; a 429 fault's wait is in `RetryInfo`.
//! - `POST /openai/deployments/{deployment}/chat/completions?api-version=…` and
//!   `POST /openai/v1/chat/completions`: Azure OpenAI (the model is the deployment, or the
//!   body's on the v1 API). `require_key` is checked against `api-key`; the deployment API
//!   answers 404 without `api-version`; streams open with Azure's `choices: []` chunk of
//!   `prompt_filter_results`; the `content_filter` fault is Azure's 400 `content_filter`.
//! - `POST /api/v1/chat/completions`: OpenRouter. Answers name a `provider` (the first of
//!   the request's `provider.order`/`only`, else `MockInfra`) and report `usage.cost` ($1 per
//!   million prompt tokens, $2 per million completion tokens); streams start with
//!   `: OPENROUTER PROCESSING` and always end with usage; the model served is the first of
//!   `model`, then `models`, not in `unavailable_models` (none: 404 "No endpoints found");
//!   errors use OpenRouter's envelope (an upstream 429 or 502 with `metadata.raw` and
//!   `provider_name`).
//! - `GET /v1/models`: an OpenAI model list (also under `/openai`, `/openai/v1`, `/api/v1`).
//! - `GET /_mock/stats`, `GET|POST /_mock/config`, `POST /_mock/reset`: control from another
//!   process (benchmarks, e2e).
//!
//! A request can steer the mock for itself with a top-level `"mock"` object in its body (the
//! gateway passes unknown fields through) or an `x-mock` header, both holding the fields of
//! [`MockConfig`] to override (the body's win over the header's).

mod anthropic;
pub mod cli;
mod config;
mod dialect;
mod gemini;
mod handlers;
mod reply;
mod server;
mod state;
mod stream;

pub use config::{Fault, MockConfig, MockOverride};
pub use handlers::router;
pub use server::{MockServer, RefusingPort};
pub use state::{MockState, MockStats};
