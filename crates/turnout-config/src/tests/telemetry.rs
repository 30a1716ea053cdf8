//! `[telemetry]`: off when absent, its defaults, the endpoint and service name falling back to
//! the standard `OTEL_*` variables, and each bad value reported with its line and field.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::{BASE, load, only};
use crate::*;

/// BASE has 12 lines: what is appended starts on line 13.
fn with_telemetry(section: &str) -> String {
    format!("{BASE}{section}")
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn absent_means_off() {
    assert!(load(BASE).expect("valid").telemetry.is_none());
}

#[test]
fn every_key_and_the_defaults() {
    let config = load(&with_telemetry(
        r#"[telemetry]
otlp_endpoint = "http://127.0.0.1:4318/"
service_name = "gateway-eu"
sample_ratio = 0.25
export_timeout = "3s"
headers = { authorization = "Bearer ${TURNOUT_CFG_TEST_API_KEY}" }
"#,
    ))
    .expect("valid");
    let t = config.telemetry.expect("[telemetry]");
    assert_eq!(
        t.traces_endpoint(no_env).as_deref(),
        Some("http://127.0.0.1:4318/v1/traces"),
        "one slash between the base and /v1/traces"
    );
    assert_eq!(t.service_name(no_env), "gateway-eu");
    assert_eq!(t.sample_ratio, 0.25);
    assert_eq!(t.export_timeout, Duration::from_secs(3));
    assert_eq!(
        t.headers["authorization"].expose_secret(),
        "Bearer tk-static-1"
    );
    let debug = format!("{:?}", t.headers);
    assert!(!debug.contains("tk-static-1"), "{debug}");

    let t = load(&with_telemetry("[telemetry]\n"))
        .expect("valid")
        .telemetry
        .expect("an empty section is still the switch");
    assert_eq!(t.sample_ratio, 1.0);
    assert_eq!(t.export_timeout, Duration::from_secs(10));
    assert_eq!(t.service_name(no_env), "turnout");
    assert_eq!(t.traces_endpoint(no_env), None);
}

#[test]
fn the_standard_environment_fills_in_what_the_file_leaves_out() {
    let t = TelemetryConfig::default();
    let base = |name: &str| {
        (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://collector:4318".to_owned())
    };
    assert_eq!(
        t.traces_endpoint(base).as_deref(),
        Some("http://collector:4318/v1/traces")
    );
    let both = |name: &str| match name {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4318".to_owned()),
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" => Some("http://traces:9999/custom".to_owned()),
        "OTEL_SERVICE_NAME" => Some("from-env".to_owned()),
        _ => None,
    };
    assert_eq!(
        t.traces_endpoint(both).as_deref(),
        Some("http://traces:9999/custom"),
        "the per-signal variable is used as is"
    );
    assert_eq!(t.service_name(both), "from-env");
    let configured = TelemetryConfig {
        otlp_endpoint: Some("https://otlp.example".to_owned()),
        service_name: Some("mine".to_owned()),
        ..TelemetryConfig::default()
    };
    assert_eq!(
        configured.traces_endpoint(both).as_deref(),
        Some("https://otlp.example/v1/traces"),
        "the file wins"
    );
    assert_eq!(configured.service_name(both), "mine");
}

#[test]
fn bad_values_name_their_line_and_field() {
    let cases: &[(&str, usize, &str, &str)] = &[
        (
            "[telemetry]\notlp_endpoint = \"grpc://127.0.0.1:4317\"\n",
            14,
            "telemetry.otlp_endpoint",
            "must be an http:// or https:// URL",
        ),
        (
            "[telemetry]\notlp_endpoint = \"not a url\"\n",
            14,
            "telemetry.otlp_endpoint",
            "is not a valid URL",
        ),
        (
            "[telemetry]\notlp_endpoint = \"http://c:4318/?x=1\"\n",
            14,
            "telemetry.otlp_endpoint",
            "without query or fragment",
        ),
        (
            "[telemetry]\nsample_ratio = 1.5\n",
            14,
            "telemetry.sample_ratio",
            "must be between 0 and 1",
        ),
        (
            "[telemetry]\nsample_ratio = \"all\"\n",
            14,
            "telemetry.sample_ratio",
            "",
        ),
        (
            "[telemetry]\nexport_timeout = \"0s\"\n",
            14,
            "telemetry.export_timeout",
            "must be longer than 0",
        ),
        (
            "[telemetry]\nservice_name = \" \"\n",
            14,
            "telemetry.service_name",
            "must not be empty",
        ),
        (
            "[telemetry]\nheaders = { \"bad header\" = \"x\" }\n",
            14,
            "telemetry.headers.\"bad header\"",
            "not a valid HTTP header name",
        ),
        (
            "[telemetry]\nendpoint = \"http://127.0.0.1:4318\"\n",
            14,
            "telemetry.endpoint",
            "unknown",
        ),
    ];
    for (section, line, field, message) in cases {
        let (got_line, got_field, got_message) = only(&with_telemetry(section));
        assert_eq!(
            (got_line, got_field.as_str()),
            (Some(*line), *field),
            "{section}: {got_message}"
        );
        assert!(
            got_message.contains(message),
            "{section}: {got_message:?} should say {message:?}"
        );
    }
}
