//! OpenTelemetry traces, checked against a local OTLP/HTTP receiver: span names and kinds,
//! the SERVER span of a request with one CLIENT child per upstream attempt (failed-over ones
//! included), GenAI attributes, a streamed request's span ending with its stream, and W3C
//! `traceparent` honoured coming in and sent upstream.
//!
//! The tracer is process-wide, so this binary installs one pipeline, on one runtime that
//! every test runs on, and tells its requests apart by generation id.

#![cfg(feature = "otel")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;
#[path = "common/otlp.rs"]
mod otlp;

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use opentelemetry_proto::tonic::trace::v1::Span;
use otlp::*;
use serde_json::{Value, json};
use turnout_gateway::otel::Pipeline;
use turnout_mock::MockConfig;

struct World {
    rt: tokio::runtime::Runtime,
    collector: Collector,
    pipeline: Pipeline,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (collector, pipeline) = rt.block_on(async {
            let (collector, addr) = Collector::start().await;
            let mut config = turnout_config::TelemetryConfig {
                otlp_endpoint: Some(format!("http://{addr}")),
                service_name: Some("turnout-under-test".into()),
                ..Default::default()
            };
            config.headers.insert(
                "authorization".into(),
                secrecy::SecretString::from("Bearer collector-token"),
            );
            let pipeline = turnout_gateway::otel::install(&config).unwrap();
            (collector, pipeline)
        });
        assert!(turnout_gateway::otel::enabled());
        World {
            rt,
            collector,
            pipeline,
        }
    })
}

fn run<F: Future>(f: F) -> F::Output {
    world().rt.block_on(f)
}

/// The SERVER span of the request `generation_id` and its children, oldest first.
async fn trace_of(generation_id: &str) -> (Span, Vec<Span>) {
    let w = world();
    for _ in 0..100 {
        w.pipeline.force_flush().await;
        let spans = w.collector.spans();
        if let Some(server) = spans
            .iter()
            .find(|r| str_attr(&r.span, "turnout.generation_id") == Some(generation_id))
        {
            assert_eq!(server.service.as_deref(), Some("turnout-under-test"));
            let mut children: Vec<Span> = spans
                .iter()
                .filter(|r| r.span.parent_span_id == server.span.span_id)
                .map(|r| r.span.clone())
                .collect();
            children.sort_by_key(|s| s.start_time_unix_nano);
            return (server.span.clone(), children);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no server span for {generation_id} reached the collector");
}

fn generation_id(resp: &reqwest::Response) -> String {
    resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn status_code(span: &Span) -> i32 {
    span.status.as_ref().map_or(0, |s| s.code)
}

/// Children sit inside their parent, in its trace.
fn assert_children_of(parent: &Span, children: &[Span]) {
    for c in children {
        assert_eq!(c.trace_id, parent.trace_id, "{}", c.name);
        assert_eq!(c.parent_span_id, parent.span_id, "{}", c.name);
        assert_eq!(c.kind, CLIENT, "{}", c.name);
        assert!(c.start_time_unix_nano >= parent.start_time_unix_nano);
        assert!(c.end_time_unix_nano <= parent.end_time_unix_nano);
    }
}

#[test]
fn a_failed_over_request_is_one_server_span_with_a_client_span_per_attempt() {
    run(async {
        let bad = mock(failing(500, None)).await;
        let good = mock(fast()).await;
        let gw = Gateway::start(&format!(
            "{OPEN}{}{}{}",
            provider("bad", "Bad", &bad.base_url(), ""),
            provider("good", "Good", &good.base_url(), ""),
            model("x/chat", &[("bad", "m-bad"), ("good", "m-good")])
        ))
        .await;
        let mut body = ordered(chat("x/chat"), &["bad", "good"]);
        body["max_tokens"] = json!(64);
        body["temperature"] = json!(0.25);
        body["top_p"] = json!(0.5);
        let resp = gw.post_chat(&body).await;
        assert_eq!(resp.status(), 200);
        let id = generation_id(&resp);
        let answer: Value = resp.json().await.unwrap();

        let (server, children) = trace_of(&id).await;
        assert_eq!(server.name, "chat x/chat");
        assert_eq!(server.kind, SERVER);
        assert_eq!(server.parent_span_id, Vec::<u8>::new(), "a root span");
        assert_eq!(str_attr(&server, "gen_ai.operation.name"), Some("chat"));
        assert_eq!(str_attr(&server, "gen_ai.request.model"), Some("x/chat"));
        assert_eq!(str_attr(&server, "gen_ai.response.model"), Some("x/chat"));
        assert_eq!(str_attr(&server, "gen_ai.response.id"), Some(id.as_str()));
        assert_eq!(str_attr(&server, "gen_ai.provider.name"), Some("good"));
        assert_eq!(int_attr(&server, "gen_ai.request.max_tokens"), Some(64));
        assert_eq!(f64_attr(&server, "gen_ai.request.temperature"), Some(0.25));
        assert_eq!(f64_attr(&server, "gen_ai.request.top_p"), Some(0.5));
        assert_eq!(bool_attr(&server, "turnout.stream"), Some(false));
        assert_eq!(
            int_attr(&server, "gen_ai.usage.input_tokens"),
            answer["usage"]["prompt_tokens"].as_i64()
        );
        assert_eq!(
            int_attr(&server, "gen_ai.usage.output_tokens"),
            answer["usage"]["completion_tokens"].as_i64()
        );
        assert!(int_attr(&server, "gen_ai.usage.output_tokens").unwrap() > 0);
        assert_eq!(
            f64_attr(&server, "turnout.cost"),
            answer["usage"]["cost"].as_f64()
        );
        assert_eq!(
            strings_attr(&server, "gen_ai.response.finish_reasons"),
            Some(vec!["stop".to_owned()])
        );
        assert_eq!(int_attr(&server, "http.response.status_code"), Some(200));
        assert_eq!(
            str_attr(&server, "http.route"),
            Some("/api/v1/chat/completions")
        );
        assert_eq!(str_attr(&server, "turnout.account"), Some("default"));
        assert_eq!(str_attr(&server, "error.type"), None);
        assert_ne!(status_code(&server), STATUS_ERROR);

        assert_eq!(children.len(), 2, "one CLIENT span per attempt");
        assert_children_of(&server, &children);
        let (failed, served) = (&children[0], &children[1]);
        assert_eq!(failed.name, "chat m-bad");
        assert_eq!(str_attr(failed, "gen_ai.provider.name"), Some("bad"));
        assert_eq!(str_attr(failed, "gen_ai.request.model"), Some("m-bad"));
        assert_eq!(str_attr(failed, "error.type"), Some("server_error"));
        assert_eq!(int_attr(failed, "http.response.status_code"), Some(500));
        assert_eq!(int_attr(failed, "turnout.attempt"), Some(1));
        assert_eq!(status_code(failed), STATUS_ERROR);
        assert_eq!(str_attr(failed, "server.address"), Some("127.0.0.1"));
        assert_eq!(
            int_attr(failed, "server.port"),
            Some(i64::from(bad.addr().port()))
        );

        assert_eq!(served.name, "chat m-good");
        assert_eq!(str_attr(served, "gen_ai.provider.name"), Some("good"));
        assert_eq!(str_attr(served, "gen_ai.response.model"), Some("m-good"));
        assert_eq!(str_attr(served, "turnout.model"), Some("x/chat"));
        assert_eq!(str_attr(served, "turnout.attempt.outcome"), Some("ok"));
        assert_eq!(int_attr(served, "turnout.attempt"), Some(2));
        assert_eq!(str_attr(served, "error.type"), None);
        assert_eq!(
            int_attr(served, "gen_ai.usage.output_tokens"),
            answer["usage"]["completion_tokens"].as_i64()
        );
        assert_eq!(
            int_attr(served, "server.port"),
            Some(i64::from(good.addr().port()))
        );
        assert!(failed.end_time_unix_nano <= served.start_time_unix_nano);

        // The exporter spoke OTLP/HTTP protobuf with the configured headers.
        let exports = world().collector.exports.lock().unwrap().clone();
        assert!(!exports.is_empty());
        for export in exports {
            assert_eq!(export.content_type, "application/x-protobuf");
            assert_eq!(
                export.authorization.as_deref(),
                Some("Bearer collector-token")
            );
        }
    });
}

#[test]
fn an_incoming_traceparent_is_the_parent_and_the_upstream_gets_the_attempts() {
    run(async {
        let good = mock(fast()).await;
        let gw = Gateway::start(&format!(
            "{OPEN}{}{}",
            provider("good", "Good", &good.base_url(), ""),
            model("x/chat", &[("good", "m")])
        ))
        .await;
        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let parent_id = "00f067aa0ba902b7";
        let resp = gw
            .http
            .post(gw.url("/api/v1/chat/completions"))
            .header("traceparent", format!("00-{trace_id}-{parent_id}-01"))
            .json(&chat("x/chat"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let id = generation_id(&resp);
        let (server, children) = trace_of(&id).await;
        assert_eq!(hex_id(&server.trace_id), trace_id);
        assert_eq!(hex_id(&server.parent_span_id), parent_id);
        assert_eq!(children.len(), 1);
        assert_children_of(&server, &children);
        // The upstream was told the attempt's span is its parent.
        assert_eq!(
            good.stats().last_traceparent,
            Some(format!("00-{trace_id}-{}-01", hex_id(&children[0].span_id)))
        );
    });
}

#[test]
fn a_streamed_request_span_ends_with_the_stream_not_the_handler() {
    run(async {
        let limited = mock(failing(429, None)).await;
        let slow = mock(MockConfig {
            chunks: 5,
            chunk_delay_ms: 100,
            ..fast()
        })
        .await;
        let gw = Gateway::start(&format!(
            "{OPEN}{}{}{}",
            provider("limited", "Limited", &limited.base_url(), ""),
            provider("slow", "Slow", &slow.base_url(), ""),
            model("x/chat", &[("limited", "m-limited"), ("slow", "m-slow")])
        ))
        .await;
        let body = with(
            ordered(chat("x/chat"), &["limited", "slow"]),
            "stream",
            json!(true),
        );
        let resp = gw.post_chat(&body).await;
        // The handler has returned: headers are here, the chunks are still to come.
        let headers_at = now_nanos();
        assert_eq!(resp.status(), 200);
        let id = generation_id(&resp);
        let events = sse_lines(resp).await;
        let done_at = now_nanos();
        let usage = events
            .iter()
            .filter_map(|e| data_json(e))
            .find_map(|c| c.get("usage").filter(|u| !u.is_null()).cloned())
            .expect("a usage chunk");

        let (server, children) = trace_of(&id).await;
        assert_eq!(server.name, "chat x/chat");
        assert_eq!(bool_attr(&server, "turnout.stream"), Some(true));
        // At least four more 100 ms chunks came after the headers.
        assert!(
            server.end_time_unix_nano >= headers_at + 300_000_000,
            "the span ended {} ms after the handler returned",
            (server.end_time_unix_nano as i64 - headers_at as i64) / 1_000_000
        );
        assert!(server.end_time_unix_nano <= done_at + 1_000_000_000);
        assert_eq!(
            int_attr(&server, "gen_ai.usage.input_tokens"),
            usage["prompt_tokens"].as_i64()
        );
        assert_eq!(
            int_attr(&server, "gen_ai.usage.output_tokens"),
            usage["completion_tokens"].as_i64()
        );
        assert!(f64_attr(&server, "turnout.time_to_first_token").is_some());
        assert_eq!(str_attr(&server, "gen_ai.provider.name"), Some("slow"));

        assert_eq!(children.len(), 2);
        assert_children_of(&server, &children);
        assert_eq!(children[0].name, "chat m-limited");
        assert_eq!(str_attr(&children[0], "error.type"), Some("rate_limited"));
        assert_eq!(
            int_attr(&children[0], "http.response.status_code"),
            Some(429)
        );
        let served = &children[1];
        assert_eq!(served.name, "chat m-slow");
        // The serving attempt covers the stream too, and says when its first token came.
        assert!(served.end_time_unix_nano >= headers_at + 300_000_000);
        assert!(f64_attr(served, "turnout.time_to_first_token").is_some());
        assert_eq!(
            int_attr(served, "gen_ai.usage.output_tokens"),
            usage["completion_tokens"].as_i64()
        );
        assert_eq!(
            strings_attr(served, "gen_ai.response.finish_reasons"),
            Some(vec!["stop".to_owned()])
        );
    });
}

#[test]
fn failures_and_the_messages_api_are_traced_too() {
    run(async {
        let bad = mock(failing(503, None)).await;
        let good = mock(fast()).await;
        let gw = Gateway::start(&format!(
            "{OPEN}{}{}{}{}",
            provider("bad", "Bad", &bad.base_url(), ""),
            provider("good", "Good", &good.base_url(), ""),
            model("x/down", &[("bad", "m")]),
            model("x/chat", &[("good", "m")])
        ))
        .await;
        // Everything fails: the SERVER span carries the error the client got.
        let resp = gw.post_chat(&chat("x/down")).await;
        let status = resp.status().as_u16();
        assert!(status >= 500, "{status}");
        let id = generation_id_of_error(resp).await;
        let (server, children) = trace_of(&id).await;
        assert_eq!(
            int_attr(&server, "http.response.status_code"),
            Some(i64::from(status))
        );
        assert_eq!(str_attr(&server, "error.type"), Some("overloaded"));
        assert_eq!(status_code(&server), STATUS_ERROR);
        assert!(!children.is_empty());
        assert_children_of(&server, &children);
        assert!(
            children
                .iter()
                .all(|c| str_attr(c, "error.type") == Some("overloaded"))
        );

        // Anthropic Messages in, the same spans.
        let resp = gw
            .http
            .post(gw.url("/api/v1/messages"))
            .json(&json!({
                "model": "x/chat",
                "max_tokens": 32,
                "messages": [{"role": "user", "content": "Hello there"}],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let answer: Value = resp.json().await.unwrap();
        let id = answer["id"].as_str().unwrap().to_owned();
        let (server, children) = trace_of(&id).await;
        assert_eq!(server.name, "chat x/chat");
        assert_eq!(str_attr(&server, "http.route"), Some("/api/v1/messages"));
        assert_eq!(int_attr(&server, "gen_ai.request.max_tokens"), Some(32));
        assert_eq!(children.len(), 1);
        assert_children_of(&server, &children);
    });
}

/// Error answers carry no `x-generation-id`: the span is found by its (only) error instead.
async fn generation_id_of_error(resp: reqwest::Response) -> String {
    if let Some(v) = resp.headers().get("x-generation-id") {
        return v.to_str().unwrap().to_owned();
    }
    let w = world();
    w.pipeline.force_flush().await;
    let spans = w.collector.spans();
    spans
        .iter()
        .filter(|r| {
            r.span.kind == SERVER && str_attr(&r.span, "gen_ai.request.model") == Some("x/down")
        })
        .filter_map(|r| str_attr(&r.span, "turnout.generation_id"))
        .next()
        .expect("the failed request's span")
        .to_owned()
}
