//! The Anthropic upstream (`kind = "anthropic"`) behind `/api/v1/chat/completions`, against
//! the mock's Anthropic dialect: answers, streams, tool calls and thinking across turns, and
//! failover from an overloaded Anthropic endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use turnout_mock::{MockConfig, MockServer};

const KEY: &str = "sk-ant-mock";

fn anthropic_provider(slug: &str, name: &str, base_url: &str) -> String {
    format!(
        "[[providers]]\nslug = \"{slug}\"\nname = \"{name}\"\nkind = \"anthropic\"\nbase_url = \"{base_url}\"\napi_key = \"{KEY}\"\n"
    )
}

async fn claude(cfg: MockConfig) -> (MockServer, Gateway) {
    let m = mock(MockConfig {
        require_key: Some(KEY.into()),
        ..cfg
    })
    .await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        anthropic_provider("anthropic", "Anthropic", &m.base_url()),
        model("anthropic/claude", &[("anthropic", "claude-up")])
    ))
    .await;
    (m, gw)
}

fn events(lines: &[String]) -> Vec<Value> {
    lines.iter().filter_map(|e| data_json(e)).collect()
}

#[tokio::test]
async fn a_completion_is_translated_both_ways() {
    let (m, gw) = claude(fast()).await;
    let body = json!({
        "model": "anthropic/claude",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello there"},
        ],
        "stop": "END",
        "provider": {"sort": "price"},
    });
    let resp = gw.post_chat(&body).await;
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    assert!(out["id"].as_str().unwrap().starts_with("gen-"));
    assert_eq!(out["model"], "anthropic/claude");
    assert_eq!(out["provider"], "Anthropic");
    assert_eq!(out["object"], "chat.completion");
    let choice = &out["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(!choice["message"]["content"].as_str().unwrap().is_empty());
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["native_finish_reason"], "end_turn");
    assert!(out["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(out["usage"]["completion_tokens"], 5);
    assert!(out["usage"]["cost"].as_f64().unwrap() > 0.0);

    let sent = m.stats().last_request.unwrap();
    assert_eq!(sent["model"], "claude-up");
    assert_eq!(sent["system"], "Be brief.");
    assert_eq!(
        sent["max_tokens"], 1000,
        "the endpoint's max_completion_tokens"
    );
    assert_eq!(sent["stop_sequences"], json!(["END"]));
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "Hello there"}]}])
    );
    assert!(sent.get("provider").is_none() && sent.get("stream").is_none());
}

#[tokio::test]
async fn a_stream_carries_our_identity_then_usage_with_cost_then_done() {
    let (_m, gw) = claude(fast()).await;
    let resp = gw
        .post_chat(&with(chat("anthropic/claude"), "stream", json!(true)))
        .await;
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
        assert_eq!(c["model"], "anthropic/claude");
        assert_eq!(c["provider"], "Anthropic");
    }
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text.split_whitespace().count(), 5);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 5);
    assert!(usage["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(usage["usage"]["cost"].as_f64().unwrap() > 0.0);
    let finish = &chunks[chunks.len() - 2]["choices"][0];
    assert_eq!(finish["finish_reason"], "stop");
    assert_eq!(finish["native_finish_reason"], "end_turn");
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
async fn a_tool_call_round_trip_keeps_ids() {
    let (m, gw) = claude(fast()).await;
    let mut messages = vec![json!({"role": "user", "content": "Weather in Paris?"})];
    // Turn 1, streamed: the model calls the tool.
    let resp = gw
        .post_chat(
            &json!({"model": "anthropic/claude", "messages": messages, "tools": tools(),
            "tool_choice": "required", "stream": true}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let chunks = events(&sse_lines(resp).await);
    let calls = streamed_tool_calls(&chunks);
    assert_eq!(calls.len(), 1);
    let id = calls[0]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("toolu_"));
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "mock"}));
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "tool_calls"
    );
    assert_eq!(
        m.stats().last_request.unwrap()["tool_choice"],
        json!({"type": "any"})
    );

    // Turn 2, not streamed: the tool's result goes back under the same id.
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": calls}));
    messages.push(json!({"role": "tool", "tool_call_id": id, "content": "18C and sunny"}));
    let resp = gw
        .post_chat(&json!({"model": "anthropic/claude", "messages": messages, "tools": tools()}))
        .await;
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    assert_eq!(
        out["choices"][0]["message"]["content"],
        "Tool result: 18C and sunny"
    );
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    let sent = m.stats().last_request.unwrap();
    assert_eq!(sent["messages"][1]["content"][0]["type"], "tool_use");
    assert_eq!(sent["messages"][1]["content"][0]["id"], id.as_str());
    assert_eq!(
        sent["messages"][1]["content"][0]["input"],
        json!({"city": "mock"})
    );
    assert_eq!(sent["messages"][2]["content"][0]["type"], "tool_result");
    assert_eq!(
        sent["messages"][2]["content"][0]["tool_use_id"],
        id.as_str()
    );
}

#[tokio::test]
async fn thinking_signatures_come_back_on_the_next_turn() {
    let (_m, gw) = claude(fast()).await;
    let first = json!({"model": "anthropic/claude", "tools": tools(), "reasoning": {"max_tokens": 1024},
        "messages": [{"role": "user", "content": "Weather in Paris?"}]});
    let out: Value = gw.post_chat(&first).await.json().await.unwrap();
    let message = out["choices"][0]["message"].clone();
    assert!(
        message["reasoning"]
            .as_str()
            .unwrap()
            .starts_with("Mock thinking")
    );
    let sig = message["reasoning_details"][0]["signature"]
        .as_str()
        .unwrap();
    assert!(sig.starts_with("mock-signature-"));
    let id = message["tool_calls"][0]["id"].as_str().unwrap().to_owned();

    let next = |assistant: Value| {
        json!({"model": "anthropic/claude", "tools": tools(), "reasoning": {"max_tokens": 1024},
            "messages": [{"role": "user", "content": "Weather in Paris?"}, assistant,
                {"role": "tool", "tool_call_id": id, "content": "18C"}]})
    };
    // With the signed thinking replayed, the upstream accepts the turn.
    let resp = gw.post_chat(&next(message.clone())).await;
    assert_eq!(resp.status(), 200);
    // Dropping it gets Anthropic's 400: the client's request, not the provider, is at fault.
    let mut bare = message;
    bare.as_object_mut().unwrap().remove("reasoning_details");
    let resp = gw.post_chat(&next(bare)).await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("thinking"),
        "{err}"
    );
}

#[tokio::test]
async fn an_overloaded_anthropic_endpoint_falls_over_to_openai() {
    let ant = mock(failing(529, None)).await;
    let oai = mock(fast()).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}{}",
        anthropic_provider("anthropic", "Anthropic", &ant.base_url()),
        provider("openai", "OpenAI", &oai.base_url(), ""),
        model(
            "anthropic/claude",
            &[("anthropic", "claude-up"), ("openai", "gpt-up")]
        )
    ))
    .await;
    for stream in [false, true] {
        let body = ordered(
            with(chat("anthropic/claude"), "stream", json!(stream)),
            &["anthropic", "openai"],
        );
        let resp = gw.post_chat(&body).await;
        assert_eq!(resp.status(), 200, "stream: {stream}");
        let provider = if stream {
            events(&sse_lines(resp).await)[0]["provider"].clone()
        } else {
            resp.json::<Value>().await.unwrap()["provider"].clone()
        };
        assert_eq!(provider, "OpenAI", "stream: {stream}");
    }
    assert_eq!(ant.stats().requests, 2);
    assert_eq!(oai.stats().requests, 2);
}

#[tokio::test]
async fn a_rejected_provider_key_is_the_operators_problem() {
    let m = mock(MockConfig {
        require_key: Some("another-key".into()),
        ..fast()
    })
    .await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        anthropic_provider("anthropic", "Anthropic", &m.base_url()),
        model("anthropic/claude", &[("anthropic", "claude-up")])
    ))
    .await;
    let resp = gw.post_chat(&chat("anthropic/claude")).await;
    assert_eq!(resp.status(), 502);
    let err: Value = resp.json().await.unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("misconfigured"),
        "{err}"
    );
}

#[tokio::test]
async fn structured_output_comes_back_as_json_content() {
    let (m, gw) = claude(fast()).await;
    let format = json!({"type": "json_schema", "json_schema": {"name": "person", "strict": true,
        "schema": {"type": "object", "properties": {"name": {"type": "string"}},
                   "required": ["name"], "additionalProperties": false}}});
    let body = with(chat("anthropic/claude"), "response_format", format.clone());
    let resp = gw.post_chat(&body).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let choice = &v["choices"][0];
    let answer: Value =
        serde_json::from_str(choice["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(answer, json!({"name": "mock"}), "{v}");
    assert!(choice["message"]["tool_calls"].is_null(), "{v}");
    assert_eq!(choice["finish_reason"], "stop");
    // Upstream it was a forced call of the JSON tool with the requested schema.
    let sent = m.stats().last_request.unwrap();
    assert_eq!(sent["tool_choice"]["type"], "tool");
    assert_eq!(
        sent["tools"][0]["input_schema"],
        format["json_schema"]["schema"]
    );

    let streamed = with(body, "stream", true.into());
    let lines = sse_lines(gw.post_chat(&streamed).await).await;
    let chunks = events(&lines);
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    let answer: Value = serde_json::from_str(&content).unwrap();
    assert_eq!(answer, json!({"name": "mock"}));
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"][0]["delta"]["tool_calls"].is_null())
    );
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop")
    );
}
