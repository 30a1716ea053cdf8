//! Routing through HTTP: preferences, explain, breakers and 429 cool-downs against mock
//! providers with injected faults.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use turnout_mock::{MockConfig, MockServer};

/// Two providers serving `x/chat`: "a" (the first mock) and "b" (the second).
async fn two(a: MockConfig, b: MockConfig) -> (MockServer, MockServer, Gateway) {
    let (ma, mb) = (mock(a).await, mock(b).await);
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}{}",
        provider("a", "Alpha", &ma.base_url(), ""),
        provider("b", "Beta", &mb.base_url(), ""),
        model("x/chat", &[("a", "m"), ("b", "m")])
    ))
    .await;
    (ma, mb, gw)
}

async fn json_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn only_and_ignore_choose_the_provider() {
    let (ma, mb, gw) = two(fast(), fast()).await;
    for _ in 0..5 {
        let (s, body) = json_of(
            gw.post_chat(&with(chat("x/chat"), "provider", json!({"only": ["BETA"]})))
                .await,
        )
        .await;
        assert_eq!((s, body["provider"].as_str()), (200, Some("Beta")));
        let (s, body) = json_of(
            gw.post_chat(&with(chat("x/chat"), "provider", json!({"ignore": ["b"]})))
                .await,
        )
        .await;
        assert_eq!((s, body["provider"].as_str()), (200, Some("Alpha")));
    }
    assert_eq!((ma.stats().requests, mb.stats().requests), (5, 5));
}

#[tokio::test]
async fn preferences_that_exclude_everything_are_404_with_reasons() {
    let (ma, mb, gw) = two(fast(), fast()).await;
    let body = with(
        chat("x/chat"),
        "provider",
        json!({"max_price": {"prompt": 0.01}}),
    );
    let (status, err) = json_of(gw.post_chat(&body).await).await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], 404);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("No endpoints found")
    );
    let excluded = err["error"]["metadata"]["excluded"].as_array().unwrap();
    assert_eq!(excluded.len(), 2);
    assert!(excluded.iter().all(|e| e["excluded_by"] == "max_price"));
    assert_eq!(ma.stats().requests + mb.stats().requests, 0);
}

#[tokio::test]
async fn explain_shows_the_plan_without_calling_anyone() {
    let (ma, mb, gw) = two(fast(), fast()).await;
    let body = with(
        chat("x/chat"),
        "provider",
        json!({"order": ["b"], "ignore": ["a"]}),
    );
    let resp = gw
        .http
        .post(gw.url("/api/v1/routing/explain"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, plan) = json_of(resp).await;
    assert_eq!(status, 200, "{plan}");
    let candidates = plan["data"]["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0]["rank"], 1);
    assert_eq!(candidates[0]["provider"], "Beta");
    assert_eq!(candidates[0]["model"], "x/chat");
    assert_eq!(candidates[0]["upstream_model"], "m");
    assert!(candidates[0]["why"].as_str().unwrap().contains("order"));
    let excluded = plan["data"]["excluded"].as_array().unwrap();
    assert_eq!(excluded[0]["provider"], "Alpha");
    assert!(excluded[0]["reason"].as_str().unwrap().contains("ignore"));
    assert_eq!(
        ma.stats().requests + mb.stats().requests,
        0,
        "explain calls no upstream"
    );
}

#[tokio::test]
async fn without_fallbacks_the_upstreams_own_error_comes_back() {
    let (_ma, mb, gw) = two(failing(429, Some(11)), fast()).await;
    let body = with(
        chat("x/chat"),
        "provider",
        json!({"order": ["a"], "allow_fallbacks": false}),
    );
    let resp = gw.post_chat(&body).await;
    assert_eq!(resp.headers()["retry-after"], "11");
    let (status, err) = json_of(resp).await;
    assert_eq!(status, 429);
    assert_eq!(
        err["error"]["metadata"]["error_type"],
        "rate_limit_exceeded"
    );
    assert_eq!(mb.stats().requests, 0, "no fallback to b");
}

#[tokio::test]
async fn a_breaker_opens_after_consecutive_failures_and_the_endpoint_is_skipped() {
    let (ma, mb, gw) = two(failing(503, None), fast()).await;
    let body = ordered(chat("x/chat"), &["a", "b"]);
    for _ in 0..8 {
        let (status, ok) = json_of(gw.post_chat(&body).await).await;
        assert_eq!(
            (status, ok["provider"].as_str()),
            (200, Some("Beta")),
            "every request still succeeds"
        );
    }
    // Five consecutive failures open the breaker; after that `a` is not called.
    assert_eq!(ma.stats().requests, 5);
    assert_eq!(mb.stats().requests, 8);

    let health: Value = gw
        .http
        .get(gw.url("/admin/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let a = health["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["provider"] == "a")
        .unwrap()
        .clone();
    assert_eq!(a["breaker"], "open");
    assert!(a["reopens_in_ms"].as_u64().unwrap() > 5_000);
    let metrics = gw
        .http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("turnout_breaker_state{")
                && l.contains(r#"provider="a""#)
                && l.ends_with(" 2")),
        "breaker gauge: {metrics}"
    );
}

#[tokio::test]
async fn a_429_with_retry_after_cools_the_endpoint_down() {
    let (ma, mb, gw) = two(failing(429, Some(30)), fast()).await;
    let body = ordered(chat("x/chat"), &["a", "b"]);
    for _ in 0..4 {
        let (status, _) = json_of(gw.post_chat(&body).await).await;
        assert_eq!(status, 200);
    }
    assert_eq!(ma.stats().requests, 1, "cooling down after its 429");
    assert_eq!(mb.stats().requests, 4);
}

#[tokio::test]
async fn when_every_endpoint_is_cooling_down_the_client_gets_503_with_retry_after() {
    let m = mock(failing(429, Some(30))).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        provider("a", "Alpha", &m.base_url(), ""),
        model("x/chat", &[("a", "m")])
    ))
    .await;
    let first = gw.post_chat(&chat("x/chat")).await;
    assert_eq!(first.status(), 429);
    let second = gw.post_chat(&chat("x/chat")).await;
    assert_eq!(second.status(), 503);
    let wait: u64 = second.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((28..=30).contains(&wait), "{wait}");
    let (_, err) = json_of(second).await;
    assert_eq!(
        err["error"]["metadata"]["error_type"],
        "provider_unavailable"
    );
    assert_eq!(m.stats().requests, 1, "no upstream call while cooling down");
}

#[tokio::test]
async fn default_routing_sends_most_traffic_to_the_cheapest_endpoint() {
    let (ma, mb) = (mock(fast()).await, mock(fast()).await);
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}[[models]]\nid = \"x/chat\"\n  [[models.endpoints]]\n  provider = \"a\"\n  prompt_price = \"0.000001\"\n  completion_price = \"0\"\n  [[models.endpoints]]\n  provider = \"b\"\n  prompt_price = \"0.000003\"\n  completion_price = \"0\"\n",
        provider("a", "Alpha", &ma.base_url(), ""),
        provider("b", "Beta", &mb.base_url(), ""),
    ))
    .await;
    for _ in 0..100 {
        assert_eq!(gw.post_chat(&chat("x/chat")).await.status(), 200);
    }
    // Weights 1 and 1/9: a gets 90% of first picks.
    let a = ma.stats().requests;
    assert!((80..=98).contains(&a), "a served {a} of 100");
    assert_eq!(a + mb.stats().requests, 100);
}

#[tokio::test]
async fn openrouter_metadata_lists_every_attempt_when_asked() {
    let (_ma, _mb, gw) = two(failing(503, None), fast()).await;
    let body = ordered(chat("x/chat"), &["a", "b"]);
    let plain: Value = gw.post_chat(&body).await.json().await.unwrap();
    assert!(
        plain.get("openrouter_metadata").is_none(),
        "only when asked"
    );

    let resp = gw
        .http
        .post(gw.url("/api/v1/chat/completions"))
        .header("X-OpenRouter-Metadata", "enabled")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, ok) = json_of(resp).await;
    assert_eq!(status, 200);
    let meta = &ok["openrouter_metadata"];
    assert_eq!(meta["requested"], "x/chat");
    assert_eq!(meta["strategy"], "fallback");
    assert_eq!(
        meta["attempts"],
        json!([
            {"provider": "Alpha", "model": "x/chat", "status": 503},
            {"provider": "Beta", "model": "x/chat", "status": 200}
        ])
    );
    assert_eq!(meta["endpoints"]["total"], 2);

    let stream = gw
        .http
        .post(gw.url("/api/v1/chat/completions"))
        .header("X-OpenRouter-Metadata", "enabled")
        .json(&with(body, "stream", json!(true)))
        .send()
        .await
        .unwrap();
    let events = sse_lines(stream).await;
    let last = events
        .iter()
        .filter_map(|e| data_json(e))
        .next_back()
        .unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(
        last["openrouter_metadata"]["attempts"][1]["provider"],
        "Beta"
    );
}
