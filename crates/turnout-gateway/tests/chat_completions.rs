//! Non-streaming chat completions end to end through an OpenAI-compatible upstream.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn answers_in_openrouter_shape_with_our_id_model_provider_and_exact_cost() {
    let m = mock(fast()).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        provider("acme", "Acme AI", &m.base_url(), ""),
        model("acme/chat-1", &[("acme", "chat-1-upstream")])
    ))
    .await;

    let resp = gw.post_chat(&chat("acme/chat-1")).await;
    assert_eq!(resp.status(), 200);
    let header_id = resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let text = resp.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();

    let id = body["id"].as_str().unwrap();
    assert_eq!(id, header_id);
    let parts: Vec<&str> = id.splitn(3, '-').collect();
    assert_eq!(parts[0], "gen");
    assert!(parts[1].parse::<u64>().is_ok());
    assert_eq!(parts[2].len(), 20);
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["model"], "acme/chat-1",
        "our model id, not the upstream's"
    );
    assert_eq!(body["provider"], "Acme AI");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["choices"][0]["native_finish_reason"], "stop");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert!(
        !body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty()
    );

    let usage = &body["usage"];
    let prompt = usage["prompt_tokens"].as_u64().unwrap();
    let completion = usage["completion_tokens"].as_u64().unwrap();
    assert!(prompt > 0 && completion > 0);
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), prompt + completion);
    assert_eq!(usage["is_byok"], false);
    // Exact decimal: prompt × 0.00000015 + completion × 0.0000006, written without float noise.
    let want = rust_decimal::Decimal::from(prompt)
        * "0.00000015".parse::<rust_decimal::Decimal>().unwrap()
        + rust_decimal::Decimal::from(completion)
            * "0.0000006".parse::<rust_decimal::Decimal>().unwrap();
    let cost_text = format!("\"cost\":{}", want.normalize());
    assert!(text.contains(&cost_text), "{cost_text} in {text}");

    // The upstream saw its own model name.
    let sent = m.stats().last_request.unwrap();
    assert_eq!(sent["model"], "chat-1-upstream");
    assert_eq!(sent["stream"], false);
}

#[tokio::test]
async fn unknown_fields_pass_through_and_routing_fields_do_not() {
    let m = mock(fast()).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        provider("acme", "Acme", &m.base_url(), ""),
        model("acme/chat", &[("acme", "up")])
    ))
    .await;
    let body = json!({
        "model": "acme/chat",
        "messages": [{"role": "user", "content": "hi"}],
        "brand_new_openai_param": {"nested": [1, 2, {"deep": null}]},
        "temperature": 0.3,
        "provider": {"sort": "price"},
        "models": ["acme/chat"],
        "session_id": "s1",
    });
    assert_eq!(gw.post_chat(&body).await.status(), 200);
    let sent = m.stats().last_request.unwrap();
    assert_eq!(
        sent["brand_new_openai_param"],
        json!({"nested": [1, 2, {"deep": null}]})
    );
    assert_eq!(sent["temperature"], 0.3);
    for routing_only in ["provider", "models", "session_id"] {
        assert!(
            sent.get(routing_only).is_none(),
            "{routing_only} must not reach the upstream"
        );
    }
}

#[tokio::test]
async fn wildcard_models_forward_the_rest_of_the_id() {
    let m = mock(fast()).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}[[models]]\nid = \"ollama/*\"\n  [[models.endpoints]]\n  provider = \"ollama\"\n  prompt_price = \"0\"\n  completion_price = \"0\"\n",
        provider("ollama", "Ollama", &m.base_url(), ""),
    ))
    .await;
    let resp = gw.post_chat(&chat("ollama/llama3.2")).await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["model"], "ollama/llama3.2");
    assert_eq!(body["usage"]["cost"], json!(0));
    assert_eq!(m.stats().last_request.unwrap()["model"], "llama3.2");
}

#[tokio::test]
async fn the_v1_alias_and_any_content_type_work() {
    let m = mock(fast()).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        provider("acme", "Acme", &m.base_url(), ""),
        model("acme/chat", &[("acme", "up")])
    ))
    .await;
    // Like `curl -d`: form content type, JSON body.
    let resp = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"model":"acme/chat","messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn falls_over_to_the_next_endpoint_and_names_the_one_that_answered() {
    let broken = mock(failing(503, None)).await;
    let good = mock(fast()).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}{}",
        provider("down", "Down Inc", &broken.base_url(), ""),
        provider("up", "Up Inc", &good.base_url(), ""),
        model("x/chat", &[("down", "a"), ("up", "b")])
    ))
    .await;
    let resp = gw
        .post_chat(&ordered(chat("x/chat"), &["down", "up"]))
        .await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["provider"], "Up Inc");
    assert_eq!(broken.stats().requests, 1);
    assert_eq!(good.stats().requests, 1);
}

#[tokio::test]
async fn models_list_falls_back_to_the_next_model_and_bills_it() {
    let broken = mock(failing(500, None)).await;
    let good = mock(fast()).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}{}{}",
        provider("a", "A", &broken.base_url(), ""),
        provider("b", "B", &good.base_url(), ""),
        model("a/first", &[("a", "m1")]),
        model("b/second", &[("b", "m2")])
    ))
    .await;
    let body = with(chat("a/first"), "models", json!(["a/first", "b/second"]));
    let resp = gw.post_chat(&body).await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["model"], "b/second");
    assert_eq!(body["provider"], "B");
}

#[tokio::test]
async fn a_client_that_gives_up_cancels_the_upstream_request() {
    let m = mock(turnout_mock::MockConfig {
        latency_ms: 3000,
        ..fast()
    })
    .await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        provider("acme", "Acme", &m.base_url(), ""),
        model("acme/chat", &[("acme", "up")])
    ))
    .await;
    let result = gw
        .http
        .post(gw.url("/api/v1/chat/completions"))
        .timeout(std::time::Duration::from_millis(300))
        .json(&chat("acme/chat"))
        .send()
        .await;
    assert!(result.is_err(), "the client timed out");
    eventually("the upstream request is cancelled", || {
        m.stats().cancelled == 1
    })
    .await;
    assert_eq!(m.stats().completed, 0);
}
