//! The `otel` feature's half of [`super`]: the SDK's tracer provider with a batch span
//! processor and the OTLP/HTTP (protobuf) exporter, and the span-making functions the facade
//! calls. The exporter posts through the gateway's own hyper client (rustls with ring), so no
//! second HTTP stack or TLS provider comes in.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use http_body_util::{BodyExt, Full};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Array, Context, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, SpanData, SpanExporter,
};
use rust_decimal::prelude::ToPrimitive;
use secrecy::ExposeSecret;
use turnout_config::TelemetryConfig;

use super::RequestEnd;
use crate::ingress::parse::ChatInput;
use crate::routing::catalog::Target;
use crate::upstream::attempt::AttemptError;

/// Set once by [`install`]; its absence is the "off" switch every request checks.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

pub(super) fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get()
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(
        "[telemetry] has no otlp_endpoint, and neither OTEL_EXPORTER_OTLP_TRACES_ENDPOINT nor \
         OTEL_EXPORTER_OTLP_ENDPOINT is set"
    )]
    NoEndpoint,
    #[error("the OTLP exporter cannot be built: {0}")]
    Exporter(String),
    #[error("the OTLP exporter's HTTP client cannot be built: {0}")]
    Client(#[from] std::io::Error),
    #[error("OpenTelemetry export must be started inside the async runtime")]
    NoRuntime,
    #[error("OpenTelemetry export is already running in this process")]
    AlreadyInstalled,
}

/// The running export: flush it before the process ends ([`Pipeline::shutdown`]).
#[derive(Debug)]
pub struct Pipeline {
    provider: SdkTracerProvider,
}

impl Pipeline {
    /// Exports every span ended so far (waits for the export).
    pub async fn force_flush(&self) {
        let provider = self.provider.clone();
        let _ = tokio::task::spawn_blocking(move || provider.force_flush()).await;
    }

    /// Exports what is queued and stops the batch processor (at most 5 s). The SDK blocks its
    /// caller while the export thread posts through the runtime, so it waits off the workers.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let result = tokio::task::spawn_blocking(move || {
            provider.shutdown_with_timeout(Duration::from_secs(5))
        })
        .await;
        match result {
            Ok(Ok(())) => tracing::debug!("OpenTelemetry spans flushed"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "OpenTelemetry spans could not all be flushed")
            }
            Err(e) => tracing::warn!(error = %e, "OpenTelemetry shutdown did not finish"),
        }
    }
}

/// Starts exporting traces as `[telemetry]` says (the environment's `OTEL_*` variables fill
/// in what it leaves out). Once per process: spans are made through a process-wide tracer.
pub fn install(config: &TelemetryConfig) -> Result<Pipeline, TelemetryError> {
    let env = |name: &str| std::env::var(name).ok();
    let endpoint = config
        .traces_endpoint(env)
        .ok_or(TelemetryError::NoEndpoint)?;
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| TelemetryError::NoRuntime)?;
    let client = OtlpHttp {
        client: crate::upstream::client::build_otlp_client(config.export_timeout)?,
        runtime,
        timeout: config.export_timeout,
    };
    let headers: HashMap<String, String> = config
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
        .collect();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint.clone())
        .with_timeout(config.export_timeout)
        .with_headers(headers)
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let processor = BatchSpanProcessor::builder(LoggedExporter { inner: exporter }).build();
    let ratio = config.sample_ratio;
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(config.service_name(env))
                .build(),
        )
        .build();
    let scope = InstrumentationScope::builder("turnout")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    TRACER
        .set(provider.tracer_with_scope(scope))
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    // The host only: a URL may carry credentials.
    let collector = endpoint
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.host().to_owned()))
        .unwrap_or_default();
    tracing::info!(
        collector,
        sample_ratio = ratio,
        "OpenTelemetry traces are exported over OTLP/HTTP"
    );
    Ok(Pipeline { provider })
}

// ---------------------------------------------------------------------------------------------
// Spans.

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn string_array(value: &str) -> Value {
    Value::Array(Array::String(vec![StringValue::from(value.to_owned())]))
}

pub(super) fn start_request(
    tracer: &SdkTracer,
    headers: &HeaderMap,
    route: &'static str,
    generation_id: &str,
) -> Context {
    let parent = TraceContextPropagator::new().extract_with_context(
        &Context::new(),
        &opentelemetry_http::HeaderExtractor(headers),
    );
    let span = tracer
        .span_builder("chat")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("http.route", route),
            KeyValue::new("gen_ai.response.id", generation_id.to_owned()),
            KeyValue::new("turnout.generation_id", generation_id.to_owned()),
        ])
        .start_with_context(tracer, &parent);
    Context::new().with_span(span)
}

pub(super) fn request_attributes(cx: &Context, input: &ChatInput) {
    let span = cx.span();
    span.update_name(format!("chat {}", input.model));
    let mut attrs = vec![
        KeyValue::new("gen_ai.request.model", input.model.clone()),
        KeyValue::new("turnout.stream", input.stream),
    ];
    if let Some(m) = input.max_tokens {
        attrs.push(KeyValue::new("gen_ai.request.max_tokens", int(m)));
    }
    if let Some(t) = input.temperature {
        attrs.push(KeyValue::new("gen_ai.request.temperature", t));
    }
    if let Some(p) = input.top_p {
        attrs.push(KeyValue::new("gen_ai.request.top_p", p));
    }
    if let Some(s) = &input.session_id {
        attrs.push(KeyValue::new("gen_ai.conversation.id", s.clone()));
    }
    span.set_attributes(attrs);
}

pub(super) fn principal(cx: &Context, account: &str, key_hash: Option<&str>) {
    let span = cx.span();
    span.set_attribute(KeyValue::new("turnout.account", account.to_owned()));
    if let Some(hash) = key_hash {
        span.set_attribute(KeyValue::new("turnout.key.hash", hash.to_owned()));
    }
}

pub(super) fn end_request(cx: &Context, end: &RequestEnd<'_>) {
    let span = cx.span();
    let mut attrs = vec![
        KeyValue::new("http.response.status_code", i64::from(end.status)),
        KeyValue::new("turnout.outcome", end.outcome.to_owned()),
    ];
    if !end.provider_slug.is_empty() {
        attrs.push(KeyValue::new(
            "gen_ai.provider.name",
            end.provider_slug.to_owned(),
        ));
    }
    if !end.model.is_empty() {
        attrs.push(KeyValue::new("gen_ai.response.model", end.model.to_owned()));
        attrs.push(KeyValue::new(
            "gen_ai.usage.input_tokens",
            int(end.prompt_tokens),
        ));
        attrs.push(KeyValue::new(
            "gen_ai.usage.output_tokens",
            int(end.completion_tokens),
        ));
    }
    if let Some(cost) = end.cost.and_then(|c| c.to_f64()) {
        attrs.push(KeyValue::new("turnout.cost", cost));
    }
    if let Some(reason) = end.finish_reason {
        attrs.push(KeyValue::new(
            "gen_ai.response.finish_reasons",
            string_array(reason),
        ));
    }
    if let Some(ttft) = end.ttft {
        attrs.push(KeyValue::new(
            "turnout.time_to_first_token",
            ttft.as_secs_f64(),
        ));
    }
    if end.outcome != "ok" {
        attrs.push(KeyValue::new("error.type", end.outcome.to_owned()));
        span.set_status(Status::error(end.outcome.to_owned()));
    }
    span.set_attributes(attrs);
    span.end();
}

pub(super) fn start_attempt(
    tracer: &SdkTracer,
    parent: &Context,
    target: &Target,
    number: u32,
    retry: bool,
) -> Context {
    let uri = &target.endpoint.provider.chat_uri;
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let span = tracer
        .span_builder(format!("chat {}", target.upstream_model))
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new(
                "gen_ai.provider.name",
                target.endpoint.provider.slug.clone(),
            ),
            KeyValue::new("gen_ai.request.model", target.upstream_model.clone()),
            KeyValue::new("server.address", uri.host().unwrap_or_default().to_owned()),
            KeyValue::new("server.port", i64::from(port)),
            KeyValue::new("turnout.model", target.model_id.clone()),
            KeyValue::new("turnout.attempt", i64::from(number)),
            KeyValue::new("turnout.attempt.retry", retry),
        ])
        .start_with_context(tracer, parent);
    parent.with_span(span)
}

pub(super) fn traceparent(cx: &Context) -> Option<HeaderValue> {
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return None;
    }
    let value = format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    );
    HeaderValue::from_str(&value).ok()
}

pub(super) fn attempt_ok(cx: &Context) {
    cx.span()
        .set_attribute(KeyValue::new("turnout.attempt.outcome", "ok"));
}

pub(super) fn first_token(cx: &Context, after: Duration) {
    cx.span().set_attribute(KeyValue::new(
        "turnout.time_to_first_token",
        after.as_secs_f64(),
    ));
}

pub(super) fn attempt_failed(cx: &Context, e: &AttemptError) {
    let span = cx.span();
    let class = e.class.as_str();
    span.set_attribute(KeyValue::new("turnout.attempt.outcome", class));
    span.set_attribute(KeyValue::new("error.type", class));
    if let Some(status) = e.upstream_status {
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
    }
    span.set_status(Status::error(e.detail.to_string()));
    span.end();
}

pub(super) fn attempt_finished(
    cx: &Context,
    target: &Target,
    usage: &turnout_wire::chat::Usage,
    finish_reason: Option<&str>,
) {
    let span = cx.span();
    let mut attrs = vec![
        KeyValue::new("gen_ai.response.model", target.upstream_model.clone()),
        KeyValue::new("gen_ai.usage.input_tokens", int(usage.prompt_tokens)),
        KeyValue::new("gen_ai.usage.output_tokens", int(usage.completion_tokens)),
    ];
    if let Some(reason) = finish_reason {
        attrs.push(KeyValue::new(
            "gen_ai.response.finish_reasons",
            string_array(reason),
        ));
    }
    span.set_attributes(attrs);
    span.end();
}

pub(super) fn attempt_cancelled(cx: &Context) {
    let span = cx.span();
    span.set_attribute(KeyValue::new("turnout.attempt.outcome", "cancelled"));
    span.set_attribute(KeyValue::new("error.type", "cancelled"));
    span.end();
}

// ---------------------------------------------------------------------------------------------
// Export.

/// The OTLP exporter's HTTP client: the gateway's hyper client, driven on the gateway's
/// runtime. The SDK's batch processor exports from a thread of its own (blocking on the
/// export future), where hyper's connector has no reactor; the request is therefore spawned
/// onto the runtime and only its result awaited there.
#[derive(Debug)]
struct OtlpHttp {
    client: crate::upstream::client::HttpClient,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
}

/// What a collector may answer (a protobuf status, normally a few bytes).
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

type HttpResult = Result<http::Response<Bytes>, opentelemetry_http::HttpError>;

impl opentelemetry_http::HttpClient for OtlpHttp {
    // The trait is an `async_trait`; this is its expanded form.
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        request: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = HttpResult> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, Full::new(body));
        let (client, timeout) = (self.client.clone(), self.timeout);
        let task = self.runtime.spawn(async move {
            let exchange = async {
                let response = client.request(request).await?;
                let (parts, body) = response.into_parts();
                let body = http_body_util::Limited::new(body, MAX_RESPONSE_BYTES)
                    .collect()
                    .await?
                    .to_bytes();
                Ok::<_, opentelemetry_http::HttpError>(http::Response::from_parts(parts, body))
            };
            match tokio::time::timeout(timeout, exchange).await {
                Ok(result) => result,
                Err(_) => Err(format!("no answer within {} ms", timeout.as_millis()).into()),
            }
        });
        Box::pin(async move {
            let result = task.await.map_err(|e| -> opentelemetry_http::HttpError {
                format!("export task: {e}").into()
            })?;
            if let Err(e) = &result {
                // The OTLP exporter reports a transport failure without its cause.
                export_failed(&format!("cannot reach the collector: {e}"));
            }
            result
        })
    }
}

/// The OTLP exporter, with its failures logged here (at most one line a minute): the SDK's
/// own diagnostics are compiled out, and a collector that is down must not flood the log.
#[derive(Debug)]
struct LoggedExporter<E> {
    inner: E,
}

impl<E: SpanExporter> SpanExporter for LoggedExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        if let Err(e) = &result {
            export_failed(&format!("{spans} spans dropped: {e}"));
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

const EXPORT_LOG_EVERY: Duration = Duration::from_secs(60);

/// Logs an export failure unless one was logged in the last minute (those are counted).
fn export_failed(what: &str) {
    static LAST: Mutex<(Option<Instant>, u64)> = Mutex::new((None, 0));
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    if last
        .0
        .is_some_and(|at| now.duration_since(at) < EXPORT_LOG_EVERY)
    {
        last.1 += 1;
        return;
    }
    let suppressed = std::mem::take(&mut last.1);
    last.0 = Some(now);
    drop(last);
    tracing::warn!(
        suppressed,
        "OpenTelemetry export failed: {what} (further failures are logged once a minute)"
    );
}
