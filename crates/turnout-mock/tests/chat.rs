//! The normal path: OpenAI-shaped completions and streams, token counts, determinism.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use turnout_mock::{MockConfig, MockServer};

#[tokio::test]
async fn non_stream_completion_has_openai_shape() {
    let mock = MockServer::start(MockConfig {
        name: "mock-fast".into(),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let response = post(&mock, &chat_body(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let v: Value = response.json().await.unwrap();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(v["system_fingerprint"], "mock-fast");
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["refusal"], Value::Null);
    assert_eq!(choice["logprobs"], Value::Null);
    assert_eq!(choice["finish_reason"], "stop");
    let text = choice["message"]["content"].as_str().unwrap();
    assert_eq!(text.split(' ').count(), 8);
    // "Be brief." + "Hello there" = 20 chars → 5 prompt tokens; 8 words → 8 completion tokens.
    let usage = &v["usage"];
    assert_eq!(usage["prompt_tokens"], 5);
    assert_eq!(usage["completion_tokens"], 8);
    assert_eq!(usage["total_tokens"], 13);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 0);

    let stats = mock.stats();
    assert_eq!(
        (stats.requests, stats.completed, stats.cancelled),
        (1, 1, 0)
    );
    assert_eq!(stats.last_request, Some(chat_body(false)));
}

#[tokio::test]
async fn replies_are_deterministic_and_follow_the_last_user_message() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let text = |v: Value| {
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let a = text(post(&mock, &chat_body(false)).await.json().await.unwrap());
    let b = text(post(&mock, &chat_body(false)).await.json().await.unwrap());
    assert_eq!(a, b);
    let mut other = chat_body(false);
    other["messages"][1]["content"] = json!("Something else entirely");
    let c = text(post(&mock, &other).await.json().await.unwrap());
    assert_ne!(a, c);
    // The stream carries the same words.
    let streamed = post(&mock, &chat_body(true)).await.text().await.unwrap();
    assert_eq!(content(&chunks(&streamed)), a);
}

#[tokio::test]
async fn max_tokens_truncates_with_finish_reason_length() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let mut body = chat_body(false);
    body["max_tokens"] = json!(3);
    let v: Value = post(&mock, &body).await.json().await.unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 3);
    assert_eq!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .split(' ')
            .count(),
        3
    );

    let mut body = chat_body(true);
    body["max_completion_tokens"] = json!(2);
    let text = post(&mock, &body).await.text().await.unwrap();
    let chunks = chunks(&text);
    assert_eq!(chunks.len(), 1 + 2 + 1);
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn stream_without_usage_is_role_content_finish_done() {
    let mock = MockServer::start(MockConfig {
        chunks: 5,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let response = post(&mock, &chat_body(true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    let events = events(&text);
    assert_eq!(events.len(), 1 + 5 + 1 + 1);
    let chunks = chunks(&text);
    let id = chunks[0]["id"].as_str().unwrap();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], id);
        assert_eq!(c["model"], "gpt-4o-mini");
        assert!(
            c.get("usage").is_none(),
            "no usage field without include_usage: {c}"
        );
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    assert_eq!(chunks[0]["choices"][0]["finish_reason"], Value::Null);
    for c in &chunks[1..6] {
        assert!(c["choices"][0]["delta"]["content"].as_str().is_some());
        assert_eq!(c["choices"][0]["finish_reason"], Value::Null);
    }
    assert_eq!(chunks[6]["choices"][0]["delta"], json!({}));
    assert_eq!(chunks[6]["choices"][0]["finish_reason"], "stop");
    assert_eq!(content(&chunks).split(' ').count(), 5);
    let stats = wait_stats(&mock, |s| s.completed == 1).await;
    assert_eq!(
        (stats.requests, stats.completed, stats.open_streams),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn stream_with_include_usage_ends_with_usage_chunk() {
    let mock = MockServer::start(MockConfig {
        chunks: 4,
        chunk_delay_ms: 2,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let mut body = chat_body(true);
    body["stream_options"] = json!({"include_usage": true});
    let text = post(&mock, &body).await.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    let chunks = chunks(&text);
    assert_eq!(chunks.len(), 1 + 4 + 1 + 1);
    for c in &chunks[..6] {
        assert_eq!(c["usage"], Value::Null);
        assert_eq!(c["choices"].as_array().unwrap().len(), 1);
    }
    let last = &chunks[6];
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 5);
    assert_eq!(last["usage"]["completion_tokens"], 4);
    assert_eq!(last["usage"]["total_tokens"], 9);
}

#[tokio::test]
async fn fixed_reply_is_split_into_chunks() {
    let mock = MockServer::start(MockConfig {
        reply: Some("Hello from the mock provider".into()),
        chunks: 2,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let text = post(&mock, &chat_body(true)).await.text().await.unwrap();
    let chunks = chunks(&text);
    assert_eq!(chunks.len(), 1 + 2 + 1);
    assert_eq!(content(&chunks), "Hello from the mock provider");
    let v: Value = post(&mock, &chat_body(false)).await.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello from the mock provider"
    );
    assert_eq!(v["usage"]["completion_tokens"], 5);
}

#[tokio::test]
async fn latency_and_chunk_delay_are_honoured() {
    let mock = MockServer::start(MockConfig {
        latency_ms: 40,
        chunks: 5,
        chunk_delay_ms: 10,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let started = Instant::now();
    let response = post(&mock, &chat_body(true)).await;
    assert!(started.elapsed() >= Duration::from_millis(40));
    let text = response.text().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(40 + 5 * 10));
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn per_request_override_in_body_and_header() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let mut body = chat_body(true);
    body["mock"] = json!({"chunks": 3, "name": "mock-steered"});
    let text = post(&mock, &body).await.text().await.unwrap();
    let chunks = chunks(&text);
    assert_eq!(chunks.len(), 1 + 3 + 1);
    assert_eq!(chunks[0]["system_fingerprint"], "mock-steered");
    // What the mock received is visible, `mock` object included.
    assert_eq!(mock.stats().last_request, Some(body));

    let response = client()
        .post(format!("{}/chat/completions", mock.base_url()))
        .header(
            "x-mock",
            r#"{"fault":{"type":"status","status":429,"retry_after":7}}"#,
        )
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");

    // Body wins over header; the instance config is untouched afterwards.
    let mut body = chat_body(false);
    body["mock"] = json!({"reply": "from body"});
    let v: Value = client()
        .post(format!("{}/chat/completions", mock.base_url()))
        .header("x-mock", r#"{"reply":"from header","name":"h"}"#)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "from body");
    assert_eq!(v["system_fingerprint"], "h");
    let v: Value = post(&mock, &chat_body(false)).await.json().await.unwrap();
    assert_eq!(v["system_fingerprint"], "mock");

    // Bad overrides are the client's fault.
    let mut body = chat_body(false);
    body["mock"] = json!({"chunkz": 3});
    assert_eq!(post(&mock, &body).await.status(), 400);
    let response = client()
        .post(format!("{}/chat/completions", mock.base_url()))
        .header("x-mock", "{nope")
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn invalid_json_is_400_envelope() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let response = client()
        .post(format!("{}/chat/completions", mock.base_url()))
        .body("{\"model\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["message"].as_str().unwrap().contains("JSON"));
    let stats = mock.stats();
    assert_eq!((stats.requests, stats.completed), (1, 1));
    assert_eq!(stats.last_request, None);
}

#[tokio::test]
async fn require_key_answers_401_invalid_api_key() {
    let mock = MockServer::start(MockConfig {
        require_key: Some("sk-right".into()),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let url = format!("{}/chat/completions", mock.base_url());
    let wrong = client()
        .post(&url)
        .bearer_auth("sk-wrong")
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let v: Value = wrong.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key");
    let right = client()
        .post(&url)
        .bearer_auth("sk-right")
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
}

#[tokio::test]
async fn fail_rate_is_deterministic_flakiness() {
    let mock = MockServer::start(MockConfig {
        fail_rate: 1.0,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let response = post(&mock, &chat_body(false)).await;
    assert_eq!(response.status(), 503);
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["error"]["code"], "server_is_overloaded");

    mock.set_config(MockConfig {
        fail_rate: 0.5,
        ..MockConfig::default()
    });
    let client = client();
    let url = format!("{}/chat/completions", mock.base_url());
    let mut failures = 0;
    for _ in 0..100 {
        let response = client
            .post(&url)
            .json(&chat_body(false))
            .send()
            .await
            .unwrap();
        if response.status() == 503 {
            failures += 1;
        }
    }
    assert!((25..=75).contains(&failures), "{failures} failures of 100");
}

#[tokio::test]
async fn models_list() {
    let mock = MockServer::start(MockConfig {
        models: vec!["custom-model".into(), "gpt-4o".into()],
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let v: Value = client()
        .get(format!("{}/models", mock.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"gpt-4o-mini"));
    assert!(ids.contains(&"custom-model"));
    assert_eq!(ids.iter().filter(|id| **id == "gpt-4o").count(), 1);
    assert_eq!(v["data"][0]["object"], "model");
    assert_eq!(v["data"][0]["owned_by"], "mock");
    // Listing models is not a chat request.
    assert_eq!(mock.stats().requests, 0);
}

#[tokio::test]
async fn unknown_path_is_404_envelope() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let response = client()
        .get(format!("{}/nope", mock.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let v: Value = response.json().await.unwrap();
    assert!(v["error"]["message"].is_string());
}
