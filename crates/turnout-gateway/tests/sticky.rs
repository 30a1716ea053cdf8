//! Sticky sessions: a conversation stays on the endpoint that last served it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};

async fn served_by(gw: &Gateway, body: &Value, session_header: Option<&str>) -> String {
    let mut req = gw.http.post(gw.url("/api/v1/chat/completions")).json(body);
    if let Some(s) = session_header {
        req = req.header("x-session-id", s);
    }
    let body: Value = req.send().await.unwrap().json().await.unwrap();
    body["provider"].as_str().unwrap().to_owned()
}

fn two_equal(a: &str, b: &str, cache_read: Option<&str>) -> String {
    let cache = cache_read.map_or(String::new(), |c| format!("  cache_read_price = \"{c}\"\n"));
    format!(
        "{OPEN}{}{}[[models]]\nid = \"x/chat\"\n  [[models.endpoints]]\n  provider = \"a\"\n  prompt_price = \"0.000001\"\n  completion_price = \"0.000001\"\n{cache}  [[models.endpoints]]\n  provider = \"b\"\n  prompt_price = \"0.000001\"\n  completion_price = \"0.000001\"\n{cache}",
        provider("a", "Alpha", a, ""),
        provider("b", "Beta", b, ""),
    )
}

#[tokio::test]
async fn an_explicit_session_sticks_to_its_endpoint() {
    let (ma, mb) = (mock(fast()).await, mock(fast()).await);
    let gw = Gateway::start(&two_equal(&ma.base_url(), &mb.base_url(), None)).await;
    for session in ["s-1", "s-2", "s-3", "s-4"] {
        let body = with(chat("x/chat"), "session_id", json!(session));
        let first = served_by(&gw, &body, None).await;
        for _ in 0..10 {
            assert_eq!(
                served_by(&gw, &body, None).await,
                first,
                "session {session}"
            );
        }
        // The header works the same way.
        let header_first = served_by(&gw, &chat("x/chat"), Some(session)).await;
        for _ in 0..5 {
            assert_eq!(
                served_by(&gw, &chat("x/chat"), Some(session)).await,
                header_first
            );
        }
    }
}

#[tokio::test]
async fn implicit_stickiness_only_where_cache_reads_are_cheaper() {
    let (ma, mb) = (mock(fast()).await, mock(fast()).await);
    let cached = Gateway::start(&two_equal(
        &ma.base_url(),
        &mb.base_url(),
        Some("0.0000001"),
    ))
    .await;
    let first = served_by(&cached, &chat("x/chat"), None).await;
    for _ in 0..10 {
        assert_eq!(served_by(&cached, &chat("x/chat"), None).await, first);
    }

    let plain = Gateway::start(&two_equal(&ma.base_url(), &mb.base_url(), None)).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..40 {
        seen.insert(served_by(&plain, &chat("x/chat"), None).await);
    }
    assert_eq!(
        seen.len(),
        2,
        "without cheaper cache reads the same conversation is load-balanced"
    );
}

#[tokio::test]
async fn an_explicit_order_overrides_stickiness() {
    let (ma, mb) = (mock(fast()).await, mock(fast()).await);
    let gw = Gateway::start(&two_equal(&ma.base_url(), &mb.base_url(), None)).await;
    let body = with(chat("x/chat"), "session_id", json!("s"));
    let first = served_by(&gw, &body, None).await;
    let other = if first == "Alpha" { "b" } else { "a" };
    let pinned = with(body, "provider", json!({"order": [other]}));
    assert_ne!(served_by(&gw, &pinned, None).await, first);
}
