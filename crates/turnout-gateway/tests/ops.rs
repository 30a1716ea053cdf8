//! Operations: health, readiness, metrics, atomic reload, and draining streams on shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;
use turnout_gateway::server;

#[tokio::test]
async fn health_ready_and_metrics() {
    let m = mock(fast()).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        provider("acme", "Acme", &m.base_url(), ""),
        model("acme/chat", &[("acme", "up")])
    ))
    .await;
    assert_eq!(
        gw.http
            .get(gw.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        gw.http.get(gw.url("/ready")).send().await.unwrap().status(),
        200
    );
    assert_eq!(gw.post_chat(&chat("acme/chat")).await.status(), 200);
    let stream = gw
        .post_chat(&with(chat("acme/chat"), "stream", json!(true)))
        .await;
    sse_lines(stream).await;
    let text = gw
        .http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "turnout_requests_total",
        "turnout_request_duration_seconds_bucket",
        "turnout_upstream_attempts_total",
        "gen_ai_server_time_to_first_token_seconds_bucket",
        "gen_ai_client_token_usage_total",
        "turnout_streams_in_flight",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    assert!(text.contains(r#"model="acme/chat""#));
}

fn temp_config(name: &str, contents: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("turnout-{name}-{}.toml", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

#[tokio::test]
async fn reload_swaps_the_config_atomically_and_rejects_a_bad_file() {
    let m = mock(fast()).await;
    let first = format!(
        "{OPEN}{}{}",
        provider("acme", "Acme", &m.base_url(), ""),
        model("acme/old", &[("acme", "up")])
    );
    let path = temp_config("reload", &first);
    let gw = Gateway::start(&first).await;
    assert_eq!(gw.post_chat(&chat("acme/old")).await.status(), 200);

    let second = format!(
        "{OPEN}{}{}",
        provider("acme", "Acme", &m.base_url(), ""),
        model("acme/new", &[("acme", "up")])
    );
    std::fs::write(&path, second).unwrap();
    assert!(server::reload(&gw.state, &path));
    assert_eq!(gw.post_chat(&chat("acme/new")).await.status(), 200);
    assert_eq!(gw.post_chat(&chat("acme/old")).await.status(), 400);

    std::fs::write(&path, "[[providers]]\nslug = 1\n").unwrap();
    assert!(!server::reload(&gw.state, &path), "a bad file is rejected");
    assert_eq!(
        gw.post_chat(&chat("acme/new")).await.status(),
        200,
        "the running config is kept"
    );
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn shutdown_drains_a_stream_in_flight() {
    let m = mock(turnout_mock::MockConfig {
        chunks: 30,
        chunk_delay_ms: 20,
        ..fast()
    })
    .await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        provider("acme", "Acme", &m.base_url(), ""),
        model("acme/chat", &[("acme", "up")])
    ))
    .await;
    let resp = gw
        .post_chat(&with(chat("acme/chat"), "stream", json!(true)))
        .await;
    assert_eq!(resp.status(), 200);
    let reader = tokio::spawn(sse_lines(resp));
    gw.shutdown().await;
    let events = reader.await.unwrap();
    assert_eq!(events.last().map(String::as_str), Some("data: [DONE]"));
    assert_eq!(m.stats().completed, 1);
}
