//! Upstream connections: plain-HTTP providers keep their connections alive across requests and
//! streams, an upstream that closes an idle connection costs nothing but a new connection, and
//! a request that is cancelled half-way does not hand its connection to the next one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use turnout_mock::MockConfig;

async fn one_provider(cfg: MockConfig) -> (turnout_mock::MockServer, Gateway) {
    let m = mock(cfg).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        provider("acme", "Acme AI", &m.base_url(), ""),
        model("acme/chat", &[("acme", "up-model")])
    ))
    .await;
    (m, gw)
}

#[tokio::test]
async fn sequential_requests_and_streams_share_one_upstream_connection() {
    let (m, gw) = one_provider(fast()).await;
    for i in 0..10 {
        let body = if i % 2 == 0 {
            chat("acme/chat")
        } else {
            with(chat("acme/chat"), "stream", json!(true))
        };
        let resp = gw.post_chat(&body).await;
        assert_eq!(resp.status(), 200);
        // Read to the end: a stream's `[DONE]`, a completion's whole body.
        let text = resp.text().await.unwrap();
        assert!(!text.is_empty());
    }
    let stats = m.stats();
    assert_eq!(stats.requests, 10);
    assert_eq!(stats.completed, 10);
    assert_eq!(
        stats.connections, 1,
        "every request after the first reuses the kept-alive connection"
    );
}

#[tokio::test]
async fn concurrent_requests_open_connections_that_later_requests_reuse() {
    let (m, gw) = one_provider(MockConfig {
        latency_ms: 50,
        ..fast()
    })
    .await;
    let burst = |n: usize| {
        let gw = &gw;
        futures_util::future::join_all((0..n).map(move |_| async move {
            let resp = gw.post_chat(&chat("acme/chat")).await;
            assert_eq!(resp.status(), 200);
            resp.text().await.unwrap();
        }))
    };
    burst(8).await;
    let opened = m.stats().connections;
    assert!((1..=8).contains(&opened), "opened {opened}");
    burst(8).await;
    assert_eq!(
        m.stats().connections,
        opened,
        "the second burst finds the first one's connections idle"
    );
}

#[tokio::test]
async fn a_stream_cancelled_half_way_closes_its_connection_and_the_next_request_opens_another() {
    let (m, gw) = one_provider(MockConfig {
        chunks: 50,
        chunk_delay_ms: 20,
        ..fast()
    })
    .await;
    let resp = gw
        .post_chat(&with(chat("acme/chat"), "stream", json!(true)))
        .await;
    assert_eq!(resp.status(), 200);
    drop(resp);
    eventually("the upstream stream is cancelled", || {
        m.stats().cancelled == 1
    })
    .await;
    let resp = gw.post_chat(&chat("acme/chat")).await;
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap();
    assert_eq!(m.stats().connections, 2);
}

/// An upstream that answers one request per connection and then closes it (as servers do
/// when their keep-alive timeout passes): counts the connections it accepted.
async fn one_shot_upstream() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut read = 0;
                // Headers, then the Content-Length body.
                loop {
                    let Ok(n) = socket.read(&mut buf[read..]).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    read += n;
                    let text = String::from_utf8_lossy(&buf[..read]).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if read >= end + 4 + length {
                            break;
                        }
                    }
                }
                let body = r#"{"id":"up-1","object":"chat.completion","created":1,"model":"up-model","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
                // Keep-alive was implied; close anyway a moment later.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (format!("http://{addr}/v1"), accepted)
}

#[tokio::test]
async fn an_upstream_that_closed_an_idle_connection_costs_only_a_new_connection() {
    let (base_url, accepted) = one_shot_upstream().await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        provider("acme", "Acme AI", &base_url, ""),
        model("acme/chat", &[("acme", "up-model")])
    ))
    .await;
    for _ in 0..3 {
        let resp = gw.post_chat(&chat("acme/chat")).await;
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], "hi");
        // Past the upstream's close: the pooled connection is dead by the next request.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}
