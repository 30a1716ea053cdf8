//! Injected faults, each as specified: status, hang, stall, drop, malformed, empty.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use turnout_mock::{Fault, MockConfig, MockServer};

#[allow(clippy::expect_used)]
async fn mock_with(fault: Fault) -> MockServer {
    MockServer::start(MockConfig {
        fault: Some(fault),
        ..MockConfig::default()
    })
    .await
    .expect("mock starts")
}

#[tokio::test]
async fn status_fault_with_retry_after_and_default_envelope() {
    let mock = mock_with(Fault::Status {
        status: 429,
        retry_after: Some(2),
        body: None,
    })
    .await;
    for stream in [false, true] {
        let response = post(&mock, &chat_body(stream)).await;
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "2");
        assert_eq!(response.headers()["content-type"], "application/json");
        let v: Value = response.json().await.unwrap();
        assert_eq!(v["error"]["code"], "rate_limit_exceeded");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("gpt-4o-mini")
        );
    }
    for (status, code) in [
        (401, json!("invalid_api_key")),
        (404, json!("model_not_found")),
        (500, Value::Null),
        (503, json!("server_is_overloaded")),
    ] {
        mock.set_config(MockConfig {
            fault: Some(Fault::Status {
                status,
                retry_after: None,
                body: None,
            }),
            ..MockConfig::default()
        });
        let response = post(&mock, &chat_body(false)).await;
        assert_eq!(response.status(), status);
        assert!(response.headers().get("retry-after").is_none());
        let v: Value = response.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{status}");
        assert!(v["error"]["type"].is_string());
    }
    let stats = mock.stats();
    assert_eq!((stats.requests, stats.completed), (6, 6));
}

#[tokio::test]
async fn status_fault_with_custom_body() {
    let mock = mock_with(Fault::Status {
        status: 500,
        retry_after: None,
        body: Some("upstream exploded".into()),
    })
    .await;
    let response = post(&mock, &chat_body(false)).await;
    assert_eq!(response.status(), 500);
    assert_eq!(response.text().await.unwrap(), "upstream exploded");
}

#[tokio::test]
async fn hang_before_headers_until_client_gives_up() {
    let mock = mock_with(Fault::HangBeforeHeaders).await;
    let started = Instant::now();
    let result = client()
        .post(format!("{}/chat/completions", mock.base_url()))
        .timeout(Duration::from_millis(150))
        .json(&chat_body(true))
        .send()
        .await;
    let err = result.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(150));
    let stats = wait_stats(&mock, |s| s.cancelled == 1).await;
    assert_eq!(
        (stats.requests, stats.completed, stats.cancelled),
        (1, 0, 1)
    );
}

#[tokio::test]
async fn latency_wait_abandoned_counts_as_cancelled() {
    let mock = MockServer::start(MockConfig {
        latency_ms: 10_000,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let result = client()
        .post(format!("{}/chat/completions", mock.base_url()))
        .timeout(Duration::from_millis(100))
        .json(&chat_body(false))
        .send()
        .await;
    assert!(result.unwrap_err().is_timeout());
    let stats = wait_stats(&mock, |s| s.cancelled == 1).await;
    assert_eq!((stats.completed, stats.cancelled), (0, 1));
}

#[tokio::test]
async fn stall_after_chunks_goes_silent_with_connection_open() {
    let mock = MockServer::start(MockConfig {
        fault: Some(Fault::StallAfterChunks { after: 2 }),
        chunk_delay_ms: 5,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let mut response = post(&mock, &chat_body(true)).await;
    assert_eq!(response.status(), 200);
    let (text, ended) = read_until_quiet(&mut response, Duration::from_millis(200)).await;
    assert!(!ended.unwrap(), "the stream must stay open");
    let chunks = chunks(&text);
    assert_eq!(chunks.len(), 1 + 2, "{text}");
    assert!(!text.contains("[DONE]"));
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null())
    );
    assert_eq!(mock.stats().open_streams, 1);
    drop(response);
    let stats = wait_stats(&mock, |s| s.cancelled == 1 && s.open_streams == 0).await;
    assert_eq!(
        (stats.completed, stats.cancelled, stats.open_streams),
        (0, 1, 0)
    );
}

#[tokio::test]
async fn stall_non_stream_sends_half_a_body() {
    let mock = mock_with(Fault::StallAfterChunks { after: 0 }).await;
    let mut response = post(&mock, &chat_body(false)).await;
    assert_eq!(response.status(), 200);
    let (text, ended) = read_until_quiet(&mut response, Duration::from_millis(200)).await;
    assert!(!ended.unwrap());
    assert!(text.starts_with("{\"id\":\"chatcmpl-"));
    assert!(serde_json::from_str::<Value>(&text).is_err());
}

#[tokio::test]
async fn drop_after_chunks_cuts_the_connection() {
    for delay in [0, 5] {
        let mock = MockServer::start(MockConfig {
            fault: Some(Fault::DropAfterChunks { after: 3 }),
            chunk_delay_ms: delay,
            ..MockConfig::default()
        })
        .await
        .unwrap();
        let mut response = post(&mock, &chat_body(true)).await;
        assert_eq!(response.status(), 200);
        let (text, ended) = read_until_quiet(&mut response, Duration::from_secs(2)).await;
        assert!(
            ended.is_err(),
            "the client must see an incomplete body (delay {delay})"
        );
        assert!(!text.contains("[DONE]"));
        let chunks = chunks(&text);
        assert_eq!(chunks.len(), 1 + 3, "delay {delay}: {text}");
        assert!(
            chunks
                .iter()
                .all(|c| c["choices"][0]["finish_reason"].is_null())
        );
        let stats = wait_stats(&mock, |s| s.completed == 1 && s.open_streams == 0).await;
        assert_eq!(
            (stats.completed, stats.cancelled, stats.open_streams),
            (1, 0, 0)
        );
    }
}

#[tokio::test]
async fn drop_non_stream_cuts_the_body() {
    let mock = mock_with(Fault::DropAfterChunks { after: 0 }).await;
    let response = post(&mock, &chat_body(false)).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.is_err());
}

#[tokio::test]
async fn malformed_json() {
    let mock = mock_with(Fault::MalformedJson).await;
    let response = post(&mock, &chat_body(false)).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.is_empty());
    assert!(serde_json::from_str::<Value>(&text).is_err());

    let response = post(&mock, &chat_body(true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    let events = events(&text);
    assert_eq!(events.len(), 2);
    assert!(serde_json::from_str::<Value>(&events[0]).is_err());
    assert_eq!(events[1], "[DONE]");
}

#[tokio::test]
async fn empty_body() {
    let mock = mock_with(Fault::EmptyBody).await;
    let response = post(&mock, &chat_body(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "");
    let response = post(&mock, &chat_body(true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "data: [DONE]\n\n");
}

#[tokio::test]
async fn override_clears_instance_fault() {
    let mock = mock_with(Fault::EmptyBody).await;
    let mut body = chat_body(false);
    body["mock"] = json!({"fault": null});
    let v: Value = post(&mock, &body).await.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
}
