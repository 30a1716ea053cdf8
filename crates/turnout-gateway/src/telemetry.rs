//! One struct per event, emitting both the log line and the metric so they cannot drift.
//! Metric names follow the OpenTelemetry GenAI conventions where one exists.

use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::otel::{AttemptSpan, RequestEnd, RequestSpan};
use crate::routing::catalog::Target;
use crate::upstream::attempt::AttemptError;
use rustc_hash::FxHashMap;

pub const REQUESTS: &str = "turnout_requests_total";
pub const REQUEST_DURATION: &str = "turnout_request_duration_seconds";
pub const ATTEMPTS: &str = "turnout_upstream_attempts_total";
pub const ATTEMPT_DURATION: &str = "turnout_upstream_attempt_duration_seconds";
pub const TTFT: &str = "gen_ai_server_time_to_first_token_seconds";
pub const TOKENS: &str = "gen_ai_client_token_usage_total";
pub const STREAMS_IN_FLIGHT: &str = "turnout_streams_in_flight";
pub const BREAKER_STATE: &str = "turnout_breaker_state";
pub const DROPPED_PARAMETERS: &str = "turnout_dropped_parameters_total";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder once; later calls reuse it.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let latency = [
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &latency)
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            // Histogram samples are held until upkeep folds them into buckets: without it,
            // memory grows with every request between scrapes.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(std::time::Duration::from_secs(1));
                        upkeep.run_upkeep();
                    }
                })
                .ok()?;
            Some(handle)
        })
        .as_ref()
}

/// Metric handles of the success path of one (provider, model), resolved once: looking a
/// labelled metric up in the registry allocates and hashes, which is measurable per request.
struct OkHandles {
    requests: [Counter; 2],
    duration: [Histogram; 2],
    ttft: Histogram,
    tokens_in: Counter,
    tokens_out: Counter,
    attempts: Counter,
    attempt_duration: Histogram,
}

/// provider → model → handles; two levels so a lookup borrows `&str`s and allocates nothing.
type HandleMap = FxHashMap<Box<str>, FxHashMap<Box<str>, Arc<OkHandles>>>;

fn ok_handles(provider: &str, model: &str) -> Arc<OkHandles> {
    static CACHE: OnceLock<RwLock<HandleMap>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Ok(map) = cache.read()
        && let Some(h) = map.get(provider).and_then(|models| models.get(model))
    {
        return h.clone();
    }
    let (p, m) = (provider.to_owned(), model.to_owned());
    let request_labels = |stream: &'static str| {
        [
            ("model", m.clone()),
            ("provider", p.clone()),
            ("stream", stream.to_owned()),
            ("outcome", "ok".to_owned()),
        ]
    };
    let attempt_labels = [
        ("provider", p.clone()),
        ("model", m.clone()),
        ("outcome", "ok".to_owned()),
    ];
    let handles = Arc::new(OkHandles {
        requests: [
            counter!(REQUESTS, &request_labels("false")),
            counter!(REQUESTS, &request_labels("true")),
        ],
        duration: [
            histogram!(REQUEST_DURATION, &request_labels("false")),
            histogram!(REQUEST_DURATION, &request_labels("true")),
        ],
        ttft: histogram!(TTFT, "provider" => p.clone(), "model" => m.clone()),
        tokens_in: counter!(TOKENS, "provider" => p.clone(), "model" => m.clone(), "token_type" => "input"),
        tokens_out: counter!(TOKENS, "provider" => p.clone(), "model" => m.clone(), "token_type" => "output"),
        attempts: counter!(ATTEMPTS, &attempt_labels),
        attempt_duration: histogram!(ATTEMPT_DURATION, &attempt_labels),
    });
    if let Ok(mut map) = cache.write() {
        map.entry(provider.into())
            .or_default()
            .insert(model.into(), handles.clone());
    }
    handles
}

/// One upstream try: its log line, its metrics, and its outcome on its span (a failed
/// attempt's span ends here; a served one's goes on with what it produces).
pub struct AttemptEvent<'a> {
    provider: &'a str,
    model: &'a str,
    outcome: &'static str,
    duration: Duration,
    error: Option<&'a AttemptError>,
    span: &'a AttemptSpan,
}

impl<'a> AttemptEvent<'a> {
    pub fn ok(target: &'a Target, started: Instant, span: &'a AttemptSpan) -> Self {
        Self {
            provider: &target.endpoint.provider.slug,
            model: &target.model_id,
            outcome: "ok",
            duration: started.elapsed(),
            error: None,
            span,
        }
    }

    pub fn failed(error: &'a AttemptError, started: Instant, span: &'a AttemptSpan) -> Self {
        Self {
            provider: &error.provider_slug,
            model: &error.model,
            outcome: error.class.as_str(),
            duration: started.elapsed(),
            error: Some(error),
            span,
        }
    }

    pub fn emit(self) {
        match self.error {
            None => self.span.succeeded(),
            Some(e) => self.span.failed(e),
        }
        if self.error.is_none() {
            let h = ok_handles(self.provider, self.model);
            h.attempts.increment(1);
            h.attempt_duration.record(self.duration.as_secs_f64());
        } else {
            let labels = [
                ("provider", self.provider.to_owned()),
                ("model", self.model.to_owned()),
                ("outcome", self.outcome.to_owned()),
            ];
            counter!(ATTEMPTS, &labels).increment(1);
            histogram!(ATTEMPT_DURATION, &labels).record(self.duration.as_secs_f64());
        }
        match self.error {
            None => tracing::debug!(
                provider = self.provider,
                model = self.model,
                ms = self.duration.as_millis() as u64,
                "upstream attempt ok"
            ),
            Some(e) => tracing::warn!(
                provider = self.provider,
                model = self.model,
                outcome = self.outcome,
                status = e.upstream_status,
                ms = self.duration.as_millis() as u64,
                detail = %e.detail,
                "upstream attempt failed"
            ),
        }
    }
}

/// Request parameters left out of an upstream request because the endpoint cannot honour
/// them (the client did not set `provider.require_parameters`).
pub struct DroppedParameters<'a> {
    /// Slug, as other metrics label providers.
    pub provider: &'a str,
    pub model: &'a str,
    pub dropped: turnout_wire::params::ParamSet,
}

impl DroppedParameters<'_> {
    pub fn emit(self) {
        for parameter in self.dropped.names() {
            counter!(DROPPED_PARAMETERS, "provider" => self.provider.to_owned(), "parameter" => parameter)
                .increment(1);
        }
        tracing::debug!(
            provider = self.provider,
            model = self.model,
            dropped = ?self.dropped.names().collect::<Vec<_>>(),
            "request parameters the endpoint cannot honour were left out"
        );
    }
}

/// One client request, at its end: its log line, its metrics, and the end of its span.
pub struct RequestEvent<'a> {
    pub id: &'a str,
    pub model: &'a str,
    /// Display name, for the log line.
    pub provider: &'a str,
    /// Slug, for metric labels (as attempts use).
    pub provider_slug: &'a str,
    pub stream: bool,
    pub status: u16,
    /// `ok`, an error kind, or `cancelled`.
    pub outcome: &'a str,
    pub duration: Duration,
    pub ttft: Option<Duration>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: Option<rust_decimal::Decimal>,
    pub finish_reason: Option<&'a str>,
    pub trace: &'a RequestSpan,
}

impl RequestEvent<'_> {
    pub fn emit(self) {
        self.trace.end(&RequestEnd {
            model: self.model,
            provider_slug: self.provider_slug,
            status: self.status,
            outcome: self.outcome,
            ttft: self.ttft,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cost: self.cost,
            finish_reason: self.finish_reason,
        });
        if self.outcome == "ok" {
            let h = ok_handles(self.provider_slug, self.model);
            let i = usize::from(self.stream);
            h.requests[i].increment(1);
            h.duration[i].record(self.duration.as_secs_f64());
            if let Some(ttft) = self.ttft {
                h.ttft.record(ttft.as_secs_f64());
            }
            h.tokens_in.increment(self.prompt_tokens);
            h.tokens_out.increment(self.completion_tokens);
        } else {
            let stream = if self.stream { "true" } else { "false" };
            let labels = [
                ("model", self.model.to_owned()),
                ("provider", self.provider_slug.to_owned()),
                ("stream", stream.to_owned()),
                ("outcome", self.outcome.to_owned()),
            ];
            counter!(REQUESTS, &labels).increment(1);
            histogram!(REQUEST_DURATION, &labels).record(self.duration.as_secs_f64());
            if self.prompt_tokens + self.completion_tokens > 0 {
                let (p, m) = (self.provider_slug.to_owned(), self.model.to_owned());
                counter!(TOKENS, "provider" => p.clone(), "model" => m.clone(), "token_type" => "input")
                    .increment(self.prompt_tokens);
                counter!(TOKENS, "provider" => p, "model" => m, "token_type" => "output")
                    .increment(self.completion_tokens);
            }
        }
        tracing::info!(
            generation_id = self.id,
            model = self.model,
            provider = self.provider,
            stream = self.stream,
            status = self.status,
            outcome = self.outcome,
            ms = self.duration.as_millis() as u64,
            ttft_ms = self.ttft.map(|t| t.as_millis() as u64),
            prompt_tokens = self.prompt_tokens,
            completion_tokens = self.completion_tokens,
            // The same text as `normalize().to_string()`, without `core::fmt`.
            cost = self
                .cost
                .map(|c| turnout_wire::chat::DecimalNumber(c).to_plain()),
            "request"
        );
    }
}

/// Counts a live stream for as long as it exists.
pub struct InFlightStream;

impl InFlightStream {
    pub fn start() -> Self {
        gauge!(STREAMS_IN_FLIGHT).increment(1.0);
        Self
    }
}

impl Drop for InFlightStream {
    fn drop(&mut self) {
        gauge!(STREAMS_IN_FLIGHT).decrement(1.0);
    }
}

/// Publishes each endpoint's breaker as a gauge (0 closed, 1 half-open, 2 open) just before a
/// scrape, so the metric is never stale.
pub fn export_breakers(health: &crate::health::Health) {
    for (key, state, _) in health.snapshot(Instant::now()) {
        let (provider, model) = key.split_once('|').unwrap_or((&key, ""));
        let value = match state {
            crate::health::BreakerState::Closed => 0.0,
            crate::health::BreakerState::HalfOpen { .. } => 1.0,
            crate::health::BreakerState::Open { .. } => 2.0,
        };
        gauge!(BREAKER_STATE, "provider" => provider.to_owned(), "model" => model.to_owned())
            .set(value);
    }
}
