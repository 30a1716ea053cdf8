//! Streaming: chunk relabelling, final usage chunk, the 1 s commit rule with keep-alive
//! comments, in-band errors after content, and cancellation on client disconnect.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use serde_json::json;
use turnout_mock::{Fault, MockConfig};

fn stream_body(model: &str) -> serde_json::Value {
    with(chat(model), "stream", json!(true))
}

async fn one_provider(cfg: MockConfig, extra: &str) -> (turnout_mock::MockServer, Gateway) {
    let m = mock(cfg).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        provider("acme", "Acme AI", &m.base_url(), extra),
        model("acme/chat", &[("acme", "up-model")])
    ))
    .await;
    (m, gw)
}

#[tokio::test]
async fn chunks_carry_our_identity_and_end_with_usage_then_done() {
    let (m, gw) = one_provider(fast(), "").await;
    let resp = gw.post_chat(&stream_body("acme/chat")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let header_id = resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let events = sse_lines(resp).await;

    assert_eq!(events.last().unwrap(), "data: [DONE]");
    let chunks: Vec<serde_json::Value> = events.iter().filter_map(|e| data_json(e)).collect();
    assert!(chunks.len() >= 3);
    for c in &chunks {
        assert_eq!(c["id"], header_id.as_str());
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "acme/chat");
        assert_eq!(c["provider"], "Acme AI");
    }
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!text.is_empty());
    // The last choice chunk carries the finish reasons; then one usage chunk with no choices.
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert!(usage_chunk["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    assert!(usage_chunk["usage"]["cost"].as_f64().unwrap() > 0.0);
    let finish = &chunks[chunks.len() - 2]["choices"][0];
    assert_eq!(finish["finish_reason"], "stop");
    assert_eq!(finish["native_finish_reason"], "stop");

    // We asked the upstream for usage so streamed spend is never recorded as zero.
    let sent = m.stats().last_request.unwrap();
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(sent["model"], "up-model");
}

#[tokio::test]
async fn a_fast_failure_gets_a_real_status_not_a_stream() {
    let (_m, gw) = one_provider(failing(429, Some(7)), "").await;
    let resp = gw.post_chat(&stream_body("acme/chat")).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], 429);
    assert_eq!(
        body["error"]["metadata"]["error_type"],
        "rate_limit_exceeded"
    );
}

#[tokio::test]
async fn past_one_second_the_gateway_commits_and_sends_processing_comments() {
    let (_m, gw) = one_provider(
        MockConfig {
            latency_ms: 1400,
            ..fast()
        },
        "",
    )
    .await;
    let started = Instant::now();
    let resp = gw.post_chat(&stream_body("acme/chat")).await;
    let committed_after = started.elapsed();
    assert_eq!(resp.status(), 200);
    assert!(
        committed_after >= Duration::from_millis(950)
            && committed_after < Duration::from_millis(1350),
        "status committed after {committed_after:?}"
    );
    let events = sse_lines(resp).await;
    assert_eq!(events[0], ": OPENROUTER PROCESSING");
    assert!(data_json(&events[1]).is_some());
    assert_eq!(events.last().unwrap(), "data: [DONE]");
}

#[tokio::test]
async fn failure_after_the_commit_is_an_in_band_error_chunk() {
    // Never answers; first-token deadline 1.3 s, so the plan fails after the 1 s commit.
    let (_m, gw) = one_provider(
        MockConfig {
            fault: Some(Fault::HangBeforeHeaders),
            ..fast()
        },
        "timeouts = { first_token_ms = 1300 }",
    )
    .await;
    let resp = gw.post_chat(&stream_body("acme/chat")).await;
    assert_eq!(resp.status(), 200);
    let events = sse_lines(resp).await;
    assert_eq!(events[0], ": OPENROUTER PROCESSING");
    let err = data_json(&events[1]).expect("error chunk");
    assert_eq!(err["error"]["code"], 504);
    assert_eq!(err["error"]["metadata"]["error_type"], "timeout");
    assert_eq!(err["choices"][0]["finish_reason"], "error");
    assert_eq!(events[2], "data: [DONE]");
    assert_eq!(events.len(), 3);
}

#[tokio::test]
async fn upstream_dropping_after_content_ends_with_an_error_chunk_and_done() {
    let (_m, gw) = one_provider(
        MockConfig {
            fault: Some(Fault::DropAfterChunks { after: 2 }),
            ..fast()
        },
        "",
    )
    .await;
    let resp = gw.post_chat(&stream_body("acme/chat")).await;
    assert_eq!(resp.status(), 200);
    let events = sse_lines(resp).await;
    assert_eq!(events.last().unwrap(), "data: [DONE]");
    let chunks: Vec<serde_json::Value> = events.iter().filter_map(|e| data_json(e)).collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(
        !content.is_empty(),
        "content before the failure reached the client"
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "error");
    assert_eq!(last["error"]["code"], 502);
    assert_eq!(last["provider"], "Acme AI");
    assert_eq!(
        chunks.iter().filter(|c| c.get("error").is_some()).count(),
        1
    );
}

#[tokio::test]
async fn an_idle_stream_ends_with_an_error_chunk() {
    let (_m, gw) = one_provider(
        MockConfig {
            fault: Some(Fault::StallAfterChunks { after: 2 }),
            ..fast()
        },
        "timeouts = { idle_ms = 300 }",
    )
    .await;
    let resp = gw.post_chat(&stream_body("acme/chat")).await;
    let events = sse_lines(resp).await;
    let chunks: Vec<serde_json::Value> = events.iter().filter_map(|e| data_json(e)).collect();
    let last = chunks.last().unwrap();
    assert_eq!(last["error"]["metadata"]["error_type"], "timeout");
    assert_eq!(events.last().unwrap(), "data: [DONE]");
}

#[tokio::test]
async fn a_stream_falls_over_before_content_but_not_after() {
    let broken = mock(MockConfig {
        fault: Some(Fault::MalformedJson),
        ..fast()
    })
    .await;
    let good = mock(fast()).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}{}",
        provider("bad", "Bad", &broken.base_url(), ""),
        provider("good", "Good", &good.base_url(), ""),
        model("x/chat", &[("bad", "a"), ("good", "b")])
    ))
    .await;
    let resp = gw
        .post_chat(&ordered(stream_body("x/chat"), &["bad", "good"]))
        .await;
    assert_eq!(resp.status(), 200);
    let events = sse_lines(resp).await;
    let chunks: Vec<serde_json::Value> = events.iter().filter_map(|e| data_json(e)).collect();
    assert!(chunks.iter().all(|c| c["provider"] == "Good"));
    assert!(chunks.iter().all(|c| c.get("error").is_none()));
    assert_eq!(broken.stats().requests, 1);
}

#[tokio::test]
async fn a_client_disconnect_cancels_the_upstream_stream() {
    let (m, gw) = one_provider(
        MockConfig {
            chunks: 200,
            chunk_delay_ms: 20,
            ..fast()
        },
        "",
    )
    .await;
    let resp = gw.post_chat(&stream_body("acme/chat")).await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    // Read some content, then hang up.
    let first = body.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    eventually("the mock sees an open stream", || {
        m.stats().open_streams == 1
    })
    .await;
    drop(body);
    eventually("the upstream stream is cancelled", || {
        m.stats().cancelled == 1
    })
    .await;
    assert_eq!(m.stats().open_streams, 0);
    assert_eq!(m.stats().completed, 0);
}
