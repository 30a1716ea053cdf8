//! Cancellation accounting, control endpoints, shutdown on drop, many concurrent streams.

#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use turnout_mock::{Fault, MockConfig, MockServer, MockStats};

#[tokio::test]
async fn client_dropping_a_stream_midway_counts_cancelled() {
    let mock = MockServer::start(MockConfig {
        chunks: 50,
        chunk_delay_ms: 20,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let mut response = post(&mock, &chat_body(true)).await;
    let mut seen = String::new();
    while chunks(&seen).len() < 3 {
        let bytes = response.chunk().await.unwrap().unwrap();
        seen.push_str(std::str::from_utf8(&bytes).unwrap());
    }
    assert_eq!(mock.stats().open_streams, 1);
    drop(response);
    let stats = wait_stats(&mock, |s| s.cancelled == 1).await;
    assert_eq!(
        (
            stats.requests,
            stats.completed,
            stats.cancelled,
            stats.open_streams
        ),
        (1, 0, 1, 0)
    );
}

#[tokio::test]
async fn control_endpoints() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let base = format!("http://{}", mock.addr());
    let client = client();
    let response = client
        .post(format!("{base}/_mock/config"))
        .body(r#"{"name":"mock-remote","fault":{"type":"status","status":502}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(mock.config().name, "mock-remote");
    assert_eq!(post(&mock, &chat_body(false)).await.status(), 502);

    let stats: MockStats = client
        .get(format!("{base}/_mock/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((stats.requests, stats.completed), (1, 1));
    assert_eq!(stats.last_request, Some(chat_body(false)));

    let config: Value = client
        .get(format!("{base}/_mock/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        config["fault"],
        json!({"type":"status","status":502,"retry_after":null,"body":null})
    );

    let bad = client
        .post(format!("{base}/_mock/config"))
        .body(r#"{"latency":5}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let reset = client
        .post(format!("{base}/_mock/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204);
    assert_eq!(mock.stats(), MockStats::default());
    mock.reset_stats();
}

#[tokio::test]
async fn dropping_the_server_closes_open_connections() {
    let mock = MockServer::start(MockConfig {
        fault: Some(Fault::HangBeforeHeaders),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let url = format!("{}/chat/completions", mock.base_url());
    let pending = tokio::spawn(async move {
        client()
            .post(url)
            .timeout(Duration::from_secs(5))
            .json(&chat_body(false))
            .send()
            .await
    });
    let state = mock.state().clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while state.stats().requests == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let addr = mock.addr();
    drop(mock);
    let err = pending.await.unwrap().unwrap_err();
    assert!(
        !err.is_timeout(),
        "the connection must close, not time out: {err}"
    );
    // Nothing listens any more.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    let stats = state.stats();
    assert_eq!(stats.cancelled, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_streams() {
    let mock = MockServer::start(MockConfig {
        chunks: 20,
        chunk_delay_ms: 5,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let client = client();
    let url = format!("{}/chat/completions", mock.base_url());
    let mut tasks = Vec::new();
    for _ in 0..500 {
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let text = client
                .post(url)
                .json(&chat_body(true))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(text.ends_with("data: [DONE]\n\n"));
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stats = wait_stats(&mock, |s| s.completed == 500).await;
    assert_eq!(
        (
            stats.requests,
            stats.completed,
            stats.cancelled,
            stats.open_streams
        ),
        (500, 500, 0, 0)
    );
}

#[tokio::test]
async fn http2_prior_knowledge_works() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = client
        .post(format!("{}/chat/completions", mock.base_url()))
        .json(&chat_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert!(response.text().await.unwrap().ends_with("data: [DONE]\n\n"));
}
