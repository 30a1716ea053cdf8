//! Every kind of broken primary, with a healthy secondary: clients always succeed when the
//! failure comes before the first content chunk, streaming or not, and the broken endpoint is
//! tried only as often as breakers and cool-downs allow.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use turnout_mock::{Fault, MockConfig};

enum Primary {
    Dead,
    Mock(MockConfig),
}

async fn scenario(name: &str, primary: Primary, extra: &str, max_primary_hits: u64) {
    let broken = match &primary {
        Primary::Mock(cfg) => Some(mock(cfg.clone()).await),
        Primary::Dead => None,
    };
    let dead = turnout_mock::RefusingPort::new().unwrap();
    let primary_url = broken.as_ref().map_or(dead.base_url(), |m| m.base_url());
    let good = mock(fast()).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}{}",
        provider("bad", "Bad", &primary_url, extra),
        provider("good", "Good", &good.base_url(), ""),
        model("x/chat", &[("bad", "m"), ("good", "m")])
    ))
    .await;
    let mut served = std::collections::BTreeMap::<String, u32>::new();
    for i in 0..20 {
        let stream = i % 2 == 1;
        let body = with(
            ordered(chat("x/chat"), &["bad", "good"]),
            "stream",
            json!(stream),
        );
        let resp = gw.post_chat(&body).await;
        assert_eq!(resp.status(), 200, "{name}: request {i}");
        let provider = if stream {
            let events = sse_lines(resp).await;
            let chunks: Vec<Value> = events.iter().filter_map(|e| data_json(e)).collect();
            assert!(
                chunks.iter().all(|c| c.get("error").is_none()),
                "{name}: {events:?}"
            );
            assert_eq!(events.last().unwrap(), "data: [DONE]");
            chunks[0]["provider"].as_str().unwrap().to_owned()
        } else {
            let v: Value = resp.json().await.unwrap();
            v["provider"].as_str().unwrap().to_owned()
        };
        *served.entry(provider).or_default() += 1;
    }
    let primary_hits = broken.as_ref().map_or(0, |m| m.stats().requests);
    assert!(
        primary_hits <= max_primary_hits,
        "{name}: the broken primary was called {primary_hits} times (served: {served:?})"
    );
}

fn fault(f: Fault) -> Primary {
    Primary::Mock(MockConfig {
        fault: Some(f),
        ..fast()
    })
}

#[tokio::test]
async fn a_dead_provider_is_skipped_after_its_breaker_opens() {
    scenario("dead", Primary::Dead, "", 0).await;
}

#[tokio::test]
async fn an_overloaded_provider_costs_at_most_five_attempts() {
    scenario("503", Primary::Mock(failing(503, None)), "", 5).await;
}

#[tokio::test]
async fn a_rate_limited_provider_is_called_once_then_cools_down() {
    scenario("429", Primary::Mock(failing(429, Some(60))), "", 1).await;
}

#[tokio::test]
async fn a_provider_that_hangs_before_the_first_token_is_abandoned() {
    scenario(
        "hang",
        fault(Fault::HangBeforeHeaders),
        "timeouts = { first_token_ms = 200, total_ms = 200 }",
        5,
    )
    .await;
}

#[tokio::test]
async fn malformed_and_empty_answers_fall_over() {
    scenario("malformed", fault(Fault::MalformedJson), "", 5).await;
    scenario("empty", fault(Fault::EmptyBody), "", 5).await;
}

#[tokio::test]
async fn a_flaky_provider_never_fails_a_client() {
    // 30% of its answers are 503s: every client request still succeeds.
    scenario(
        "flaky",
        Primary::Mock(MockConfig {
            fail_rate: 0.3,
            ..fast()
        }),
        "",
        20,
    )
    .await;
}
