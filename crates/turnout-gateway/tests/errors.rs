//! Every failure is the OpenRouter envelope with the right status: client errors, auth, and
//! each row of the upstream failure table (DESIGN.md §4).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use turnout_mock::{Fault, MockConfig};

async fn envelope(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.expect("JSON error body");
    assert_eq!(body["error"]["code"], status, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    body
}

async fn gateway_over(
    cfg: MockConfig,
    auth: &str,
    extra: &str,
) -> (turnout_mock::MockServer, Gateway) {
    let m = mock(cfg).await;
    let gw = Gateway::start(&format!(
        "{auth}{}{}",
        provider("acme", "Acme AI", &m.base_url(), extra),
        model("acme/chat", &[("acme", "up")])
    ))
    .await;
    (m, gw)
}

#[tokio::test]
async fn client_errors_are_400_naming_the_problem() {
    let (m, gw) = gateway_over(fast(), OPEN, "").await;
    let cases: &[(&'static str, &str)] = &[
        (
            "{\"model\": \"acme/chat\",\n \"messages\": [",
            "line 2 column",
        ),
        (r#"{"model":"acme/chat"}"#, "`messages` is required"),
        (
            r#"{"model":"acme/chat","messages":[]}"#,
            "at least one message",
        ),
        (
            r#"{"model":"acme/chat","messages":[{"role":"user","content":"x"}],"temperature":2.5}"#,
            "`temperature`",
        ),
        (
            r#"{"model":"acme/chat","messages":[{"role":"user","content":"x"}],"top_p":"a lot"}"#,
            "`top_p`",
        ),
        (
            r#"{"model":"acme/chat","messages":[{"role":"user","content":"x"}],"max_tokens":-1}"#,
            "`max_tokens`",
        ),
        (r#""just a string""#, "JSON object"),
        ("", "Invalid JSON"),
    ];
    for (body, want) in cases {
        let resp = gw.post_raw("/api/v1/chat/completions", body).await;
        let err = envelope(resp, 400).await;
        let msg = err["error"]["message"].as_str().unwrap();
        assert!(msg.contains(want), "{body:?}: {msg}");
        assert_eq!(err["error"]["metadata"]["error_type"], "invalid_request");
    }
    assert_eq!(
        m.stats().requests,
        0,
        "invalid requests never reach a provider"
    );
}

#[tokio::test]
async fn unknown_model_is_400_with_openrouters_message() {
    let (_m, gw) = gateway_over(fast(), OPEN, "").await;
    let err = envelope(gw.post_chat(&chat("nobody/nothing")).await, 400).await;
    assert_eq!(
        err["error"]["message"],
        "nobody/nothing is not a valid model ID"
    );
    let err = envelope(
        gw.post_chat(&with(
            chat("acme/chat"),
            "models",
            json!(["acme/chat", "ghost/model"]),
        ))
        .await,
        400,
    )
    .await;
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ghost/model")
    );
}

#[tokio::test]
async fn keys_are_required_and_checked() {
    let (_m, gw) = gateway_over(fast(), "[auth]\nkeys = [\"sk-test-good\"]\n", "").await;
    let url = gw.url("/api/v1/chat/completions");
    let missing = gw
        .http
        .post(&url)
        .json(&chat("acme/chat"))
        .send()
        .await
        .unwrap();
    let err = envelope(missing, 401).await;
    assert_eq!(err["error"]["message"], "No auth credentials found");
    let wrong = gw
        .http
        .post(&url)
        .bearer_auth("sk-test-bad")
        .json(&chat("acme/chat"))
        .send()
        .await
        .unwrap();
    envelope(wrong, 401).await;
    let good = gw
        .http
        .post(&url)
        .bearer_auth("sk-test-good")
        .json(&chat("acme/chat"))
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 200);
}

#[tokio::test]
async fn routes_methods_and_sizes() {
    let (_m, gw) = gateway_over(
        fast(),
        &format!("{OPEN}[server]\nmax_body_bytes = 1000\n"),
        "",
    )
    .await;
    envelope(
        gw.http
            .get(gw.url("/api/v1/chat/completions"))
            .send()
            .await
            .unwrap(),
        405,
    )
    .await;
    envelope(
        gw.http
            .get(gw.url("/api/v1/nothing-here"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    envelope(
        gw.http
            .delete(gw.url("/api/v1/models"))
            .send()
            .await
            .unwrap(),
        405,
    )
    .await;
    let big =
        json!({"model": "acme/chat", "messages": [{"role": "user", "content": "x".repeat(2000)}]});
    let err = envelope(gw.post_chat(&big).await, 413).await;
    assert_eq!(err["error"]["metadata"]["error_type"], "payload_too_large");
}

/// Quick retries so the table runs fast: 1 try + 2 retries for retryable failures.
const QUICK_RETRY: &str = "[routing]\nretry = { initial_ms = 5, max_ms = 100 }\n";

/// One row of the failure table: what the upstream does → what the client gets, after how
/// many upstream attempts (retryable failures are retried on the same endpoint).
async fn row(fault: Fault, extra: &str, status: u16, error_type: &str, attempts: u64) -> Value {
    let (m, gw) = gateway_over(
        MockConfig {
            fault: Some(fault),
            ..fast()
        },
        &format!("{OPEN}{QUICK_RETRY}"),
        extra,
    )
    .await;
    let resp = gw.post_chat(&chat("acme/chat")).await;
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let mut body = envelope(resp, status).await;
    assert_eq!(
        body["error"]["metadata"]["error_type"], error_type,
        "{body}"
    );
    assert_eq!(body["error"]["metadata"]["provider_name"], "Acme AI");
    assert_eq!(
        body["error"]["metadata"]["previous_errors"]
            .as_array()
            .unwrap()
            .len() as u64,
        attempts
    );
    assert_eq!(m.stats().requests, attempts);
    body["retry_after"] = json!(retry_after);
    body
}

fn status(code: u16, retry_after: Option<u64>) -> Fault {
    Fault::Status {
        status: code,
        retry_after,
        body: None,
    }
}

#[tokio::test]
async fn upstream_failures_map_as_the_failure_table_says() {
    row(status(500, None), "", 502, "provider_unavailable", 3).await;
    row(status(502, None), "", 502, "provider_unavailable", 3).await;
    row(status(503, None), "", 503, "provider_overloaded", 3).await;
    row(status(529, None), "", 503, "provider_overloaded", 3).await;
    row(status(429, None), "", 429, "rate_limit_exceeded", 1).await;
    // A wait longer than the retry cap is not waited for: the client gets it.
    let b = row(status(503, Some(4)), "", 503, "provider_overloaded", 1).await;
    assert_eq!(b["retry_after"], "4");
    let b = row(status(429, Some(9)), "", 429, "rate_limit_exceeded", 1).await;
    assert_eq!(b["retry_after"], "9");
    // Timeouts already cost their deadline: not retried.
    row(status(408, None), "", 504, "timeout", 1).await;
    row(status(504, None), "", 504, "timeout", 1).await;
    row(status(524, None), "", 504, "timeout", 1).await;
    row(Fault::MalformedJson, "", 502, "provider_unavailable", 3).await;
    row(Fault::EmptyBody, "", 502, "provider_unavailable", 3).await;
    row(
        Fault::HangBeforeHeaders,
        "timeouts = { total_ms = 300 }",
        504,
        "timeout",
        1,
    )
    .await;
}

#[tokio::test]
async fn an_upstream_rejecting_our_key_is_the_operators_problem_not_the_clients() {
    for code in [401, 403] {
        let b = row(status(code, None), "", 502, "provider_unavailable", 1).await;
        let msg = b["error"]["message"].as_str().unwrap();
        assert!(msg.contains("misconfigured"), "{msg}");
    }
}

#[tokio::test]
async fn an_upstream_400_is_the_clients_error_and_does_not_fall_over() {
    let bad_request = Fault::Status {
        status: 400,
        retry_after: None,
        body: Some(r#"{"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error","code":"context_length_exceeded"}}"#.into()),
    };
    let first = mock(MockConfig {
        fault: Some(bad_request),
        ..fast()
    })
    .await;
    let second = mock(fast()).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}{}",
        provider("a", "A", &first.base_url(), ""),
        provider("b", "B", &second.base_url(), ""),
        model("x/chat", &[("a", "m"), ("b", "m")])
    ))
    .await;
    let err = envelope(
        gw.post_chat(&ordered(chat("x/chat"), &["a", "b"])).await,
        400,
    )
    .await;
    assert_eq!(
        err["error"]["metadata"]["error_type"],
        "context_length_exceeded"
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maximum context length")
    );
    assert_eq!(
        second.stats().requests,
        0,
        "a client-fault error does not try other endpoints"
    );
}

#[tokio::test]
async fn a_refused_connection_is_502_provider_unavailable() {
    let gone = turnout_mock::RefusingPort::new().unwrap();
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        provider("gone", "Gone", &gone.base_url(), ""),
        model("x/chat", &[("gone", "m")])
    ))
    .await;
    let err = envelope(gw.post_chat(&chat("x/chat")).await, 502).await;
    assert_eq!(
        err["error"]["metadata"]["error_type"],
        "provider_unavailable"
    );
}

#[tokio::test]
async fn when_everything_fails_the_most_informative_error_wins_and_all_are_listed() {
    let a = mock(failing(500, None)).await;
    let b = mock(failing(429, Some(9))).await;
    let c = mock(failing(503, None)).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{QUICK_RETRY}{}{}{}{}",
        provider("a", "A", &a.base_url(), ""),
        provider("b", "B", &b.base_url(), ""),
        provider("c", "C", &c.base_url(), ""),
        model("x/chat", &[("a", "m"), ("b", "m"), ("c", "m")])
    ))
    .await;
    let resp = gw
        .post_chat(&ordered(chat("x/chat"), &["a", "b", "c"]))
        .await;
    assert_eq!(resp.headers()["retry-after"], "9");
    let err = envelope(resp, 429).await;
    let previous = err["error"]["metadata"]["previous_errors"]
        .as_array()
        .unwrap();
    let codes: Vec<u64> = previous
        .iter()
        .map(|p| p["code"].as_u64().unwrap())
        .collect();
    // Each endpoint once, then the retryable ones again (the 429 asked for longer than the
    // retry cap, so it is not retried).
    assert_eq!(codes, vec![502, 429, 503, 502, 503, 502, 503]);
}

#[tokio::test]
async fn a_context_length_error_moves_to_a_fallback_model_with_more_context() {
    let too_long = Fault::Status {
        status: 400,
        retry_after: None,
        body: Some(r#"{"error":{"message":"This model's maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#.into()),
    };
    let small = mock(MockConfig {
        fault: Some(too_long),
        ..fast()
    })
    .await;
    let also_small = mock(fast()).await;
    let big = mock(fast()).await;
    let endpoint = |p: &str, ctx: u64| {
        format!(
            "  [[models.endpoints]]\n  provider = \"{p}\"\n  prompt_price = \"0\"\n  completion_price = \"0\"\n  context_length = {ctx}\n"
        )
    };
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}{}[[models]]\nid = \"a/small\"\n{}[[models]]\nid = \"b/other\"\n{}{}",
        provider("s", "Small", &small.base_url(), ""),
        provider("s2", "Also Small", &also_small.base_url(), ""),
        provider("l", "Large", &big.base_url(), ""),
        endpoint("s", 8192),
        endpoint("s2", 8192),
        endpoint("l", 128_000),
    ))
    .await;
    let body = ordered(
        with(chat("a/small"), "models", json!(["a/small", "b/other"])),
        &["s2", "l"],
    );
    let resp = gw.post_chat(&body).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["provider"], "Large");
    assert_eq!(v["model"], "b/other");
    assert_eq!(
        also_small.stats().requests,
        0,
        "an 8k endpoint cannot take what an 8k endpoint refused"
    );
}
