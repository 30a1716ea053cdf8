//! The Gemini upstream (`kind = "gemini"`) behind `/api/v1/chat/completions`, against the
//! mock's Gemini dialect: answers, streams with usage and cost, a tool-call round trip, thought
//! signatures across turns, failover from an overloaded endpoint, quota errors with
//! `RetryInfo`, and a rejected provider key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use turnout_mock::{Fault, MockConfig, MockServer};

const KEY: &str = "AIza-mock";

fn gemini_provider(slug: &str, name: &str, base_url: &str) -> String {
    format!(
        "[[providers]]\nslug = \"{slug}\"\nname = \"{name}\"\nkind = \"gemini\"\nbase_url = \"{base_url}\"\napi_key = \"{KEY}\"\n"
    )
}

async fn gemini_mock(cfg: MockConfig) -> MockServer {
    mock(MockConfig {
        require_key: Some(KEY.into()),
        ..cfg
    })
    .await
}

async fn gemini(cfg: MockConfig) -> (MockServer, Gateway) {
    let m = gemini_mock(cfg).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        gemini_provider("google", "Google AI Studio", &m.gemini_base_url()),
        model("google/gemini", &[("google", "gemini-up")])
    ))
    .await;
    (m, gw)
}

fn events(lines: &[String]) -> Vec<Value> {
    lines.iter().filter_map(|e| data_json(e)).collect()
}

#[tokio::test]
async fn a_completion_is_translated_both_ways() {
    let (m, gw) = gemini(fast()).await;
    let body = json!({
        "model": "google/gemini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello there"},
        ],
        "stop": "END",
        "temperature": 0.4,
        "max_tokens": 50,
        "provider": {"sort": "price"},
    });
    let resp = gw.post_chat(&body).await;
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    assert!(out["id"].as_str().unwrap().starts_with("gen-"));
    assert_eq!(out["model"], "google/gemini");
    assert_eq!(out["provider"], "Google AI Studio");
    assert_eq!(out["object"], "chat.completion");
    let choice = &out["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(
        choice["message"]["content"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count(),
        5
    );
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["native_finish_reason"], "STOP");
    assert_eq!(out["usage"]["prompt_tokens"], 5);
    assert_eq!(out["usage"]["completion_tokens"], 5);
    assert!(out["usage"]["cost"].as_f64().unwrap() > 0.0);

    let sent = m.stats().last_request.unwrap();
    assert_eq!(
        sent,
        json!({
            "contents": [{"role": "user", "parts": [{"text": "Hello there"}]}],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "generationConfig": {"temperature": 0.4, "maxOutputTokens": 50, "stopSequences": ["END"]},
        })
    );
}

#[tokio::test]
async fn a_stream_carries_our_identity_then_usage_with_cost_then_done() {
    let (_m, gw) = gemini(fast()).await;
    let body = json!({"model": "google/gemini", "stream": true, "reasoning": {"effort": "low"},
        "messages": [{"role": "user", "content": "Hello there"}]});
    let resp = gw.post_chat(&body).await;
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let lines = sse_lines(resp).await;
    assert_eq!(lines.last().unwrap(), "data: [DONE]");
    let chunks = events(&lines);
    for c in &chunks {
        assert_eq!(c["id"], id.as_str());
        assert_eq!(c["model"], "google/gemini");
        assert_eq!(c["provider"], "Google AI Studio");
    }
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text.split_whitespace().count(), 5);
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning"].as_str())
        .collect();
    assert_eq!(reasoning, "Mock thinking about the request.");
    let finish = &chunks[chunks.len() - 2]["choices"][0];
    assert_eq!(finish["finish_reason"], "stop");
    assert_eq!(finish["native_finish_reason"], "STOP");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    // 5 answer tokens + 5 thought tokens, the thoughts also reported as reasoning.
    assert_eq!(usage["usage"]["completion_tokens"], 10);
    assert_eq!(
        usage["usage"]["completion_tokens_details"]["reasoning_tokens"],
        5
    );
    assert_eq!(usage["usage"]["prompt_tokens"], 3);
    // 3 × 0.00000015 + 10 × 0.0000006
    assert_eq!(usage["usage"]["cost"].as_f64().unwrap(), 0.00000645);
}

/// Joins streamed tool-call fragments by index, as OpenAI SDKs do.
fn streamed_tool_calls(chunks: &[Value]) -> Vec<Value> {
    let mut calls: Vec<Value> = Vec::new();
    for c in chunks {
        for call in c["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = call["index"].as_u64().unwrap() as usize;
            if calls.len() <= i {
                calls.push(json!({"id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}));
            }
            let args = calls[i]["function"]["arguments"]
                .as_str()
                .unwrap()
                .to_owned()
                + call["function"]["arguments"].as_str().unwrap_or("");
            calls[i]["function"]["arguments"] = json!(args);
        }
    }
    calls
}

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

#[tokio::test]
async fn a_tool_call_round_trip_names_the_function_of_the_result() {
    let (m, gw) = gemini(fast()).await;
    let mut messages = vec![json!({"role": "user", "content": "Weather in Paris?"})];
    // Turn 1, streamed: the model calls the tool.
    let resp = gw
        .post_chat(
            &json!({"model": "google/gemini", "messages": messages, "tools": tools(),
            "tool_choice": "required", "stream": true}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let chunks = events(&sse_lines(resp).await);
    let calls = streamed_tool_calls(&chunks);
    assert_eq!(calls.len(), 1);
    let id = calls[0]["id"].as_str().unwrap().to_owned();
    assert!(!id.is_empty());
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "mock"}));
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "tool_calls"
    );
    assert_eq!(
        m.stats().last_request.unwrap()["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );

    // Turn 2, not streamed: the tool's result goes back; Gemini needs the function's name,
    // which only the earlier tool call with that id knows.
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": calls}));
    messages.push(json!({"role": "tool", "tool_call_id": id, "content": "18C and sunny"}));
    let resp = gw
        .post_chat(&json!({"model": "google/gemini", "messages": messages, "tools": tools()}))
        .await;
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    assert_eq!(
        out["choices"][0]["message"]["content"],
        "Tool result: 18C and sunny"
    );
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    let sent = m.stats().last_request.unwrap();
    assert_eq!(sent["contents"][1]["role"], "model");
    assert_eq!(
        sent["contents"][1]["parts"][0]["functionCall"],
        json!({"name": "get_weather", "args": {"city": "mock"}})
    );
    assert_eq!(
        sent["contents"][2]["parts"][0]["functionResponse"],
        json!({"name": "get_weather", "response": {"result": "18C and sunny"}})
    );
}

#[tokio::test]
async fn thought_signatures_come_back_on_the_next_turn() {
    let (m, gw) = gemini(fast()).await;
    let first = json!({"model": "google/gemini", "tools": tools(), "reasoning": {"max_tokens": 1024},
        "messages": [{"role": "user", "content": "Weather in Paris?"}]});
    let out: Value = gw.post_chat(&first).await.json().await.unwrap();
    let message = out["choices"][0]["message"].clone();
    assert_eq!(message["reasoning"], "Mock thinking about the request.");
    let id = message["tool_calls"][0]["id"].as_str().unwrap().to_owned();
    let signed = message["reasoning_details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["type"] == "reasoning.encrypted")
        .unwrap()
        .clone();
    assert_eq!(signed["id"], id.as_str());
    let sig = signed["data"].as_str().unwrap().to_owned();
    assert!(sig.starts_with("mock-signature-"));

    let next = |assistant: Value| {
        json!({"model": "google/gemini", "tools": tools(), "reasoning": {"max_tokens": 1024},
            "messages": [{"role": "user", "content": "Weather in Paris?"}, assistant,
                {"role": "tool", "tool_call_id": id, "content": "18C"}]})
    };
    // With the signature replayed on its call, the upstream accepts the turn.
    let resp = gw.post_chat(&next(message.clone())).await;
    assert_eq!(resp.status(), 200);
    let sent = m.stats().last_request.unwrap();
    let call = sent["contents"][1]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p.get("functionCall").is_some())
        .unwrap()
        .clone();
    assert_eq!(call["thoughtSignature"], sig.as_str());
    // Dropping it gets Gemini's 400: the client's request, not the provider, is at fault.
    let mut bare = message;
    bare.as_object_mut().unwrap().remove("reasoning_details");
    let resp = gw.post_chat(&next(bare)).await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("thought_signature"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unavailable_gemini_endpoint_falls_over_to_the_next() {
    let down = gemini_mock(failing(503, None)).await;
    let up = gemini_mock(fast()).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}{}",
        gemini_provider("down", "Gemini Down", &down.gemini_base_url()),
        gemini_provider("up", "Gemini Up", &up.gemini_base_url()),
        model(
            "google/gemini",
            &[("down", "gemini-up"), ("up", "gemini-up")]
        )
    ))
    .await;
    for stream in [false, true] {
        let body = ordered(
            with(chat("google/gemini"), "stream", json!(stream)),
            &["down", "up"],
        );
        let resp = gw.post_chat(&body).await;
        assert_eq!(resp.status(), 200, "stream: {stream}");
        let provider = if stream {
            events(&sse_lines(resp).await)[0]["provider"].clone()
        } else {
            resp.json::<Value>().await.unwrap()["provider"].clone()
        };
        assert_eq!(provider, "Gemini Up", "stream: {stream}");
    }
    assert_eq!(down.stats().requests, 2);
    assert_eq!(up.stats().requests, 2);
}

#[tokio::test]
async fn a_quota_error_is_a_429_with_its_retry_info_as_retry_after() {
    let (m, gw) = gemini(MockConfig {
        fault: Some(Fault::Status {
            status: 429,
            retry_after: Some(9),
            body: None,
        }),
        ..fast()
    })
    .await;
    let resp = gw.post_chat(&chat("google/gemini")).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "9");
    let err: Value = resp.json().await.unwrap();
    assert_eq!(
        err["error"]["metadata"]["error_type"],
        "rate_limit_exceeded"
    );
    assert_eq!(m.stats().requests, 1, "a 9 s wait is not retried");
    // The endpoint cools down for those 9 s: the next request does not reach it.
    let resp = gw
        .post_chat(&with(chat("google/gemini"), "stream", json!(true)))
        .await;
    assert_eq!(resp.status(), 503);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=9).contains(&wait), "{wait}");
    assert_eq!(m.stats().requests, 1);
}

#[tokio::test]
async fn a_rejected_provider_key_is_the_operators_problem() {
    // Google answers a made-up key with a 400, which must not reach the client as its fault.
    let m = mock(MockConfig {
        require_key: Some("another-key".into()),
        ..fast()
    })
    .await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        gemini_provider("google", "Google AI Studio", &m.gemini_base_url()),
        model("google/gemini", &[("google", "gemini-up")])
    ))
    .await;
    let resp = gw.post_chat(&chat("google/gemini")).await;
    assert_eq!(resp.status(), 502);
    let err: Value = resp.json().await.unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("misconfigured"),
        "{err}"
    );
    assert_eq!(
        err["error"]["metadata"]["error_type"],
        "provider_unavailable"
    );
}
