//! The `[telemetry]` section: OpenTelemetry traces over OTLP/HTTP. Absent, nothing is traced.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// `[telemetry]`. Its presence is the switch: with it, every chat request is traced (one span,
/// plus one per upstream attempt) and the spans are exported to `{otlp_endpoint}/v1/traces`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// The collector's OTLP/HTTP base URL, e.g. `http://127.0.0.1:4318`; traces are posted to
    /// `{otlp_endpoint}/v1/traces`. Omitted: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is)
    /// or `OTEL_EXPORTER_OTLP_ENDPOINT` (plus `/v1/traces`) from the environment.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute. Omitted: `OTEL_SERVICE_NAME`, else `turnout`.
    pub service_name: Option<String>,
    /// The share of traces kept, 0 to 1; a sampled incoming `traceparent` is always followed.
    pub sample_ratio: f64,
    /// How long one export may take before it is abandoned (the spans are dropped).
    #[serde(deserialize_with = "crate::duration::duration")]
    pub export_timeout: Duration,
    /// Headers sent with every export (e.g. a collector's API key); `${ENV}`-interpolated,
    /// never logged.
    pub headers: BTreeMap<String, SecretString>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            service_name: None,
            sample_ratio: 1.0,
            export_timeout: Duration::from_secs(10),
            headers: BTreeMap::new(),
        }
    }
}

impl TelemetryConfig {
    /// Where traces are posted: the configured base URL plus `/v1/traces`, else the standard
    /// environment variables (looked up through `env`). `None` when neither names one.
    pub fn traces_endpoint(&self, env: impl Fn(&str) -> Option<String>) -> Option<String> {
        let base = |b: &str| format!("{}/v1/traces", b.trim_end_matches('/'));
        if let Some(configured) = &self.otlp_endpoint {
            return Some(base(configured));
        }
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT").map(|b| base(&b)))
    }

    /// `service_name`, else `OTEL_SERVICE_NAME`, else `turnout`.
    pub fn service_name(&self, env: impl Fn(&str) -> Option<String>) -> String {
        self.service_name
            .clone()
            .or_else(|| env("OTEL_SERVICE_NAME").filter(|v| !v.trim().is_empty()))
            .unwrap_or_else(|| "turnout".to_owned())
    }
}
