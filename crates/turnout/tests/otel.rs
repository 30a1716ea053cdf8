//! `turnout serve` with `[telemetry]`: spans reach a local OTLP/HTTP receiver, and the ones
//! still queued when SIGTERM arrives are flushed before the process exits.

#![cfg(feature = "otel")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;
#[path = "../../turnout-gateway/tests/common/otlp.rs"]
mod otlp;

use std::process::Command;
use std::time::{Duration, Instant};

use otlp::{CLIENT, Collector, SERVER, str_attr};

#[test]
fn serve_exports_spans_and_flushes_them_on_sigterm() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (collector, collector_addr) = rt.block_on(Collector::start());
    let upstream = rt
        .block_on(turnout_mock::MockServer::start(turnout_mock::MockConfig {
            name: "mock".into(),
            ..turnout_mock::MockConfig::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("turnout.toml"),
        format!(
            "[auth]\nrequire_key = false\n\
             [[providers]]\nslug = \"mock\"\nkind = \"openai\"\nbase_url = \"{}\"\n\
             [[models]]\nid = \"x/chat\"\n  [[models.endpoints]]\n  provider = \"mock\"\n  upstream_model = \"m\"\n  prompt_price = \"0\"\n  completion_price = \"0\"\n\
             [telemetry]\notlp_endpoint = \"http://{collector_addr}\"\nservice_name = \"turnout-bin\"\n",
            upstream.base_url()
        ),
    )
    .unwrap();
    // Batches would wait a minute: only the shutdown flush can deliver this request's spans.
    let mut served =
        common::serve_with_env(dir.path(), &[], &[("OTEL_BSP_SCHEDULE_DELAY", "60000")]);

    turnout_gateway::upstream::client::install_crypto_provider();
    let generation_id = rt.block_on(async {
        let resp = reqwest::Client::new()
            .post(format!(
                "http://127.0.0.1:{}/api/v1/chat/completions",
                served.port
            ))
            .body(r#"{"model":"x/chat","messages":[{"role":"user","content":"Hello"}]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.headers()["x-generation-id"]
            .to_str()
            .unwrap()
            .to_owned()
    });
    assert!(collector.spans().is_empty(), "exported before the flush");

    let status = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    loop {
        if let Some(status) = served.child.try_wait().unwrap() {
            assert!(status.success(), "exit after SIGTERM: {status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let spans = collector.spans();
    let server = spans
        .iter()
        .find(|r| str_attr(&r.span, "turnout.generation_id") == Some(generation_id.as_str()))
        .unwrap_or_else(|| panic!("the request's span was not flushed: {spans:#?}"));
    assert_eq!(server.service.as_deref(), Some("turnout-bin"));
    assert_eq!(server.span.kind, SERVER);
    assert_eq!(server.span.name, "chat x/chat");
    let attempt = spans
        .iter()
        .find(|r| r.span.parent_span_id == server.span.span_id)
        .expect("the attempt's span");
    assert_eq!(attempt.span.kind, CLIENT);
    assert_eq!(attempt.span.name, "chat m");
    assert_eq!(attempt.span.trace_id, server.span.trace_id);
    drop(rt);
}
