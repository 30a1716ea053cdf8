//! `POST /api/v1/messages`: Anthropic Messages clients in front of every upstream kind —
//! translated to OpenAI-compatible mocks, passed through to the Anthropic mock — with the
//! chat pipeline's auth, credits, fallback and settlement, and Anthropic's error envelope.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use common::*;
use serde_json::{Value, json};
use turnout_mock::{Fault, MockConfig, MockServer};
use turnout_store::{NewKey, keys};

const KEY: &str = "sk-ant-mock";

fn anthropic_provider(slug: &str, name: &str, base_url: &str) -> String {
    format!(
        "[[providers]]\nslug = \"{slug}\"\nname = \"{name}\"\nkind = \"anthropic\"\nbase_url = \"{base_url}\"\napi_key = \"{KEY}\"\n"
    )
}

async fn post(gw: &Gateway, body: &Value) -> reqwest::Response {
    gw.http
        .post(gw.url("/api/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "fine-grained-tool-streaming-2025-05-14")
        .json(body)
        .send()
        .await
        .unwrap()
}

fn hello(model: &str) -> Value {
    json!({
        "model": model,
        "max_tokens": 100,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Hello there"}],
    })
}

fn streamed(mut body: Value) -> Value {
    body["stream"] = json!(true);
    body
}

/// One Anthropic event: its `event:` name, checked against its data's `type`.
fn events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter(|f| !f.is_empty() && !f.starts_with(':'))
        .map(|frame| {
            let (head, data) = frame.split_once('\n').expect("two lines");
            let name = head.strip_prefix("event: ").expect("event line");
            let v: Value =
                serde_json::from_str(data.strip_prefix("data: ").expect("data line")).unwrap();
            assert_eq!(v["type"], name, "{frame}");
            v
        })
        .collect()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

/// What an SDK's stream accumulates: the message of `message_start`, blocks and deltas
/// applied, stop reason and usage from `message_delta`.
fn accumulate(events: &[Value]) -> Value {
    let mut m = events[0]["message"].clone();
    let mut args: Vec<String> = Vec::new();
    for e in &events[1..] {
        match e["type"].as_str().unwrap() {
            "content_block_start" => {
                m["content"]
                    .as_array_mut()
                    .unwrap()
                    .push(e["content_block"].clone());
                args.push(String::new());
            }
            "content_block_delta" => {
                let i = e["index"].as_u64().unwrap() as usize;
                let d = &e["delta"];
                let b = &mut m["content"][i];
                let add = |b: &mut Value, k: &str, s: &Value| {
                    b[k] = json!(b[k].as_str().unwrap_or("").to_owned() + s.as_str().unwrap());
                };
                match d["type"].as_str().unwrap() {
                    "text_delta" => add(b, "text", &d["text"]),
                    "thinking_delta" => add(b, "thinking", &d["thinking"]),
                    "signature_delta" => add(b, "signature", &d["signature"]),
                    "input_json_delta" => args[i].push_str(d["partial_json"].as_str().unwrap()),
                    other => panic!("unknown delta {other}"),
                }
            }
            "message_delta" => {
                m["stop_reason"] = e["delta"]["stop_reason"].clone();
                for (k, v) in e["usage"].as_object().unwrap() {
                    m["usage"][k] = v.clone();
                }
            }
            _ => {}
        }
    }
    for (i, a) in args.iter().enumerate() {
        if m["content"][i]["type"] == "tool_use" && !a.is_empty() {
            m["content"][i]["input"] = serde_json::from_str(a).unwrap();
        }
    }
    m
}

async fn openai_gateway() -> (MockServer, Gateway) {
    let m = mock(fast()).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        provider("acme", "Acme", &m.base_url(), ""),
        model("acme/chat", &[("acme", "chat-up")])
    ))
    .await;
    (m, gw)
}

async fn claude_gateway() -> (MockServer, Gateway) {
    let m = mock(MockConfig {
        require_key: Some(KEY.into()),
        ..fast()
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

#[tokio::test]
async fn a_message_is_served_by_an_openai_compatible_upstream() {
    let (m, gw) = openai_gateway().await;
    let resp = post(&gw, &hello("acme/chat")).await;
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let out: Value = resp.json().await.unwrap();
    assert_eq!(out["id"], id.as_str());
    assert_eq!(out["type"], "message");
    assert_eq!(out["role"], "assistant");
    assert_eq!(out["model"], "acme/chat");
    assert_eq!(out["content"][0]["type"], "text");
    assert_eq!(
        out["content"][0]["text"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count(),
        5
    );
    assert_eq!(out["stop_reason"], "end_turn");
    assert_eq!(out["stop_sequence"], Value::Null);
    assert_eq!(out["usage"]["output_tokens"], 5);
    assert!(out["usage"]["input_tokens"].as_u64().unwrap() > 0);

    // The upstream got a chat request.
    let sent = m.stats().last_request.unwrap();
    assert_eq!(sent["model"], "chat-up");
    assert_eq!(sent["max_tokens"], 100);
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello there"}])
    );

    // `/v1/messages` is the same endpoint, for SDKs given the bare host.
    let resp = gw
        .http
        .post(gw.url("/v1/messages"))
        .json(&hello("acme/chat"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_stream_from_an_openai_compatible_upstream_is_anthropic_events() {
    let (_m, gw) = openai_gateway().await;
    let resp = post(&gw, &streamed(hello("acme/chat"))).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let id = resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let ev = events(&resp.text().await.unwrap());
    let t = types(&ev);
    assert_eq!(t[..2], ["message_start", "content_block_start"]);
    assert_eq!(
        t[t.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    assert!(
        t[2..t.len() - 3]
            .iter()
            .all(|t| *t == "content_block_delta")
    );
    let m = accumulate(&ev);
    assert_eq!(m["id"], id.as_str());
    assert_eq!(m["model"], "acme/chat");
    assert_eq!(
        m["content"][0]["text"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count(),
        5
    );
    assert_eq!(m["stop_reason"], "end_turn");
    assert_eq!(m["usage"]["output_tokens"], 5);
    assert!(m["usage"]["input_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn an_anthropic_upstream_gets_the_body_and_answers_as_it_came() {
    let (m, gw) = claude_gateway().await;
    let mut body = hello("anthropic/claude");
    body["provider"] = json!({"sort": "price"});
    body["metadata"] = json!({"user_id": "u-1"});
    let resp = post(&gw, &body).await;
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    // The mock's own message, relabelled with our model id.
    assert!(out["id"].as_str().unwrap().starts_with("msg_mock"), "{out}");
    assert_eq!(out["model"], "anthropic/claude");
    assert_eq!(out["usage"]["service_tier"], "standard");
    assert_eq!(out["usage"]["output_tokens"], 5);
    assert_eq!(out["stop_reason"], "end_turn");

    // The body went up unchanged but for the model and the routing field.
    let sent = m.stats().last_request.unwrap();
    let mut want = body.clone();
    want["model"] = json!("claude-up");
    want.as_object_mut().unwrap().remove("provider");
    assert_eq!(sent, want);
}

/// Replaces the `msg_…` id of the stream's `message_start` with a fixed one.
fn same_id(text: &str) -> String {
    let start = text.find("msg_mock").expect("an id");
    let id = &text[start..start + "msg_mock".len() + 16];
    text.replace(id, "msg_ID")
}

#[tokio::test]
async fn an_anthropic_stream_is_passed_through_byte_for_byte_but_the_model() {
    let (m, gw) = claude_gateway().await;
    let resp = post(&gw, &streamed(hello("anthropic/claude"))).await;
    assert_eq!(resp.status(), 200);
    let through = resp.text().await.unwrap();

    // The same request straight to the mock.
    let direct = gw
        .http
        .post(format!("{}/messages", m.base_url()))
        .header("x-api-key", KEY)
        .json(&streamed(json!({
            "model": "claude-up", "max_tokens": 100, "system": "Be brief.",
            "messages": [{"role": "user", "content": "Hello there"}]})))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(direct.contains("\"model\":\"claude-up\""));
    assert!(direct.contains("event: ping"));
    assert_eq!(
        same_id(&through),
        same_id(&direct).replace("\"model\":\"claude-up\"", "\"model\":\"anthropic/claude\"")
    );
    let m = accumulate(&events(&through));
    assert_eq!(m["usage"]["output_tokens"], 5);
}

fn weather_tool() -> Value {
    json!([{"name": "get_weather", "description": "Weather by city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
}

/// Turn 1 (streamed) calls the tool; turn 2 (not streamed) sends its result back under the
/// same id and gets the answer.
async fn tool_round_trip(gw: &Gateway, model: &str) {
    let mut messages = vec![json!({"role": "user", "content": "Weather in Paris?"})];
    let first = json!({"model": model, "max_tokens": 200, "tools": weather_tool(),
        "tool_choice": {"type": "any"}, "messages": messages, "stream": true});
    let resp = post(gw, &first).await;
    assert_eq!(resp.status(), 200);
    let turn = accumulate(&events(&resp.text().await.unwrap()));
    assert_eq!(turn["stop_reason"], "tool_use", "{turn}");
    let call = turn["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap()
        .clone();
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["input"], json!({"city": "mock"}));
    let id = call["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("toolu_"), "{id}");

    messages.push(json!({"role": "assistant", "content": turn["content"]}));
    messages.push(json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": id, "content": "18C and sunny"}]}));
    let resp = post(
        gw,
        &json!({"model": model, "max_tokens": 200, "tools": weather_tool(), "messages": messages}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    assert_eq!(out["stop_reason"], "end_turn", "{out}");
    assert_eq!(out["content"][0]["text"], "Tool result: 18C and sunny");
}

#[tokio::test]
async fn a_tool_round_trip_through_the_anthropic_upstream() {
    let (m, gw) = claude_gateway().await;
    tool_round_trip(&gw, "anthropic/claude").await;
    let sent = m.stats().last_request.unwrap();
    assert_eq!(sent["messages"][2]["content"][0]["type"], "tool_result");
}

/// An OpenAI-compatible upstream that calls tools: another gateway, serving chat from the
/// Anthropic mock. Both translations run, in both directions, on the way.
#[tokio::test]
async fn a_tool_round_trip_through_an_openai_compatible_upstream() {
    let (_m, inner) = claude_gateway().await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        provider("inner", "Inner", &inner.url("/api/v1"), ""),
        model("outer/tools", &[("inner", "anthropic/claude")])
    ))
    .await;
    tool_round_trip(&gw, "outer/tools").await;
}

#[tokio::test]
async fn signed_thinking_comes_back_on_the_next_turn() {
    let m = mock(MockConfig {
        require_key: Some(KEY.into()),
        ..fast()
    })
    .await;
    // Room for a thinking budget below `max_tokens`, as Anthropic requires.
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        anthropic_provider("anthropic", "Anthropic", &m.base_url()),
        model("anthropic/claude", &[("anthropic", "claude-up")]).replace(
            "max_completion_tokens = 1000",
            "max_completion_tokens = 4000"
        )
    ))
    .await;
    let first = json!({"model": "anthropic/claude", "max_tokens": 3000, "tools": weather_tool(),
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "Weather in Paris?"}]});
    let out: Value = post(&gw, &first).await.json().await.unwrap();
    assert_eq!(out["content"][0]["type"], "thinking", "{out}");
    assert!(
        out["content"][0]["signature"]
            .as_str()
            .unwrap()
            .starts_with("mock-signature-")
    );
    let id = out["content"][1]["id"].as_str().unwrap();
    let mut next = first.clone();
    next["messages"] = json!([first["messages"][0],
        {"role": "assistant", "content": out["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "18C"}]}]);
    assert_eq!(post(&gw, &next).await.status(), 200);
    // Without the signed block the upstream refuses the turn: the client's fault, a 400.
    next["messages"][1]["content"] = json!([out["content"][1]]);
    let body = expect_error(post(&gw, &next).await, 400, "invalid_request_error").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("thinking"),
        "{body}"
    );
}

#[tokio::test]
async fn a_failing_endpoint_falls_over_to_the_next_and_the_next_model() {
    let dead = mock(failing(503, None)).await;
    let broken = mock(failing(500, None)).await;
    let ant = mock(MockConfig {
        require_key: Some(KEY.into()),
        fault: Some(Fault::Status {
            status: 529,
            retry_after: None,
            body: None,
        }),
        ..fast()
    })
    .await;
    let ok = mock(fast()).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}{}{}{}{}{}",
        provider("dead", "Dead", &dead.base_url(), ""),
        provider("broken", "Broken", &broken.base_url(), ""),
        anthropic_provider("anthropic", "Anthropic", &ant.base_url()),
        provider("ok", "OK", &ok.base_url(), ""),
        model("acme/chat", &[("dead", "m"), ("ok", "m")]),
        model("acme/broken", &[("broken", "m")]),
        model("acme/claude", &[("anthropic", "claude-up"), ("ok", "m")]),
    ))
    .await;
    for stream in [false, true] {
        // Endpoints: the first answers 503, the second serves.
        let mut body = hello("acme/chat");
        body["provider"] = json!({"order": ["dead", "ok"]});
        body["stream"] = json!(stream);
        let resp = post(&gw, &body).await;
        assert_eq!(resp.status(), 200, "stream: {stream}");
        let m = if stream {
            accumulate(&events(&resp.text().await.unwrap()))
        } else {
            resp.json().await.unwrap()
        };
        assert_eq!(m["model"], "acme/chat");
        assert_eq!(m["stop_reason"], "end_turn");

        // Models: the first model's only endpoint answers 500, the fallback serves.
        let mut body = hello("acme/broken");
        body["fallbacks"] = json!([{"model": "acme/chat"}]);
        body["provider"] = json!({"order": ["ok"]});
        body["stream"] = json!(stream);
        let resp = post(&gw, &body).await;
        assert_eq!(resp.status(), 200, "stream: {stream}");
        let m = if stream {
            accumulate(&events(&resp.text().await.unwrap()))
        } else {
            resp.json().await.unwrap()
        };
        assert_eq!(m["model"], "acme/chat", "the model that served");

        // An overloaded Anthropic endpoint (passed through) falls over to a translated one.
        let mut body = hello("acme/claude");
        body["provider"] = json!({"order": ["anthropic", "ok"]});
        body["stream"] = json!(stream);
        let resp = post(&gw, &body).await;
        assert_eq!(resp.status(), 200, "stream: {stream}");
        let m = if stream {
            accumulate(&events(&resp.text().await.unwrap()))
        } else {
            resp.json().await.unwrap()
        };
        assert!(m["id"].as_str().unwrap().starts_with("gen-"), "{m}");
        assert_eq!(m["content"][0]["type"], "text");
    }
    assert!(dead.stats().requests >= 2 && ant.stats().requests >= 2);
}

async fn expect_error(resp: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    body
}

#[tokio::test]
async fn errors_come_in_anthropics_envelope() {
    let m = mock(fast()).await;
    let down = mock(failing(503, Some(3))).await;
    let gw = Gateway::start(&format!(
        "[auth]\nrequire_key = true\nkeys = [\"sk-static\"]\n{}{}{}{}",
        provider("acme", "Acme", &m.base_url(), ""),
        provider("down", "Down", &down.base_url(), ""),
        model("acme/chat", &[("acme", "chat-up")]),
        model("acme/down", &[("down", "m")]),
    ))
    .await;
    let send = |body: Value, key: Option<(&'static str, &'static str)>| {
        let mut req = gw.http.post(gw.url("/api/v1/messages")).json(&body);
        if let Some((h, v)) = key {
            req = req.header(h, v);
        }
        req.send()
    };
    let x_api_key = Some(("x-api-key", "sk-static"));

    // No key, a wrong key: 401.
    let body = expect_error(
        send(hello("acme/chat"), None).await.unwrap(),
        401,
        "authentication_error",
    )
    .await;
    assert_eq!(body["error"]["error_type"], "authentication");
    assert!(body["request_id"].as_str().unwrap().starts_with("gen-"));
    expect_error(
        send(hello("acme/chat"), Some(("x-api-key", "sk-wrong")))
            .await
            .unwrap(),
        401,
        "authentication_error",
    )
    .await;
    // Both ways Anthropic clients send a key work.
    assert_eq!(
        send(hello("acme/chat"), x_api_key).await.unwrap().status(),
        200
    );
    assert_eq!(
        send(
            hello("acme/chat"),
            Some(("authorization", "Bearer sk-static"))
        )
        .await
        .unwrap()
        .status(),
        200
    );

    // A request Anthropic would refuse: 400, naming the field.
    let mut bad = hello("acme/chat");
    bad.as_object_mut().unwrap().remove("max_tokens");
    let body = expect_error(
        send(bad, x_api_key).await.unwrap(),
        400,
        "invalid_request_error",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens")
    );
    let resp = gw
        .http
        .post(gw.url("/api/v1/messages"))
        .header("x-api-key", "sk-static")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(resp, 400, "invalid_request_error").await;

    // A model nobody serves: 404.
    let body = expect_error(
        send(hello("nobody/none"), x_api_key).await.unwrap(),
        404,
        "not_found_error",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nobody/none")
    );

    // Every endpoint overloaded: Anthropic's 529, with the upstream's Retry-After.
    let resp = send(hello("acme/down"), x_api_key).await.unwrap();
    assert_eq!(resp.headers()["retry-after"], "3");
    expect_error(resp, 529, "overloaded_error").await;
}

#[tokio::test]
async fn a_stream_that_fails_after_content_ends_in_an_error_event() {
    let (_o, openai) = openai_gateway().await;
    let (_a, claude) = claude_gateway().await;
    for (gw, model) in [(&openai, "acme/chat"), (&claude, "anthropic/claude")] {
        let mut body = streamed(hello(model));
        body["mock"] = json!({"fault": {"type": "drop_after_chunks", "after": 2}});
        let resp = post(gw, &body).await;
        assert_eq!(resp.status(), 200);
        let ev = events(&resp.text().await.unwrap());
        let t = types(&ev);
        assert_eq!(t[0], "message_start", "{model}");
        assert!(t.contains(&"content_block_delta"), "{model}");
        assert!(!t.contains(&"message_stop"), "{model}");
        let last = ev.last().unwrap();
        assert_eq!(last["type"], "error", "{model}");
        assert_eq!(last["error"]["type"], "api_error", "{model}");
        assert!(last["request_id"].as_str().unwrap().starts_with("gen-"));
    }
}

/// A gateway with accounts: a management key and an inference key on account `acme`.
async fn accounted(toml: &str) -> (Gateway, String, String) {
    let gw = Gateway::start(toml).await;
    let store = gw.state.accounts().store();
    let admin = keys::generate();
    store
        .create_key(
            &admin,
            &NewKey {
                account: "default".into(),
                name: "operator".into(),
                is_management: true,
                ..NewKey::default()
            },
        )
        .await
        .unwrap();
    let resp = gw
        .http
        .post(gw.url("/api/v1/keys"))
        .bearer_auth(&admin)
        .json(&json!({"name": "app", "account": "acme", "limit": 0.02}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let key = resp.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = gw
        .http
        .post(gw.url("/admin/credits"))
        .bearer_auth(&admin)
        .json(&json!({"account": "acme", "amount": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    (gw, admin, key)
}

/// Completion tokens at $0.001 each, prompts free: a reply of N words costs N × $0.001.
fn priced_model(id: &str, provider: &str, upstream: &str) -> String {
    format!(
        "[[models]]\nid = \"{id}\"\ncontext_length = 8192\n  [[models.endpoints]]\n  provider = \"{provider}\"\n  upstream_model = \"{upstream}\"\n  prompt_price = \"0\"\n  completion_price = \"0.001\"\n  max_completion_tokens = 100\n"
    )
}

#[tokio::test]
async fn a_streamed_message_is_billed_once_and_credits_are_enforced() {
    let oai = mock(fast()).await;
    let ant = mock(MockConfig {
        require_key: Some(KEY.into()),
        ..fast()
    })
    .await;
    let (gw, admin, key) = accounted(&format!(
        "[auth]\nrequire_key = true\n{}{}{}{}",
        provider("acme", "Acme", &oai.base_url(), ""),
        anthropic_provider("anthropic", "Anthropic", &ant.base_url()),
        priced_model("acme/chat", "acme", "chat-up"),
        priced_model("acme/claude", "anthropic", "claude-up"),
    ))
    .await;
    let send = |body: Value| {
        gw.http
            .post(gw.url("/api/v1/messages"))
            .header("x-api-key", &key)
            .json(&body)
            .send()
    };
    let five = |model: &str| {
        json!({"model": model, "max_tokens": 5, "stream": true,
            "messages": [{"role": "user", "content": "Hello there"}]})
    };
    let mut ids = Vec::new();
    for model in ["acme/chat", "acme/claude"] {
        let resp = send(five(model)).await.unwrap();
        assert_eq!(resp.status(), 200);
        ids.push(
            resp.headers()["x-generation-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        let m = accumulate(&events(&resp.text().await.unwrap()));
        assert_eq!(m["usage"]["output_tokens"], 5, "{model}");
    }
    gw.state.accounts().flush().await;
    for id in &ids {
        let g: Value = gw
            .http
            .get(gw.url(&format!("/api/v1/generation?id={id}")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(g["data"]["total_cost"], 0.005, "{g}");
        assert_eq!(g["data"]["streamed"], true);
        assert_eq!(g["data"]["tokens_completion"], 5);
    }
    let credits: Value = gw
        .http
        .get(gw.url("/api/v1/credits?account=acme"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(credits["data"]["total_usage"], 0.01, "billed once each");

    // The key's $0.02 limit has $0.01 left: a hold for 100 tokens ($0.1) is refused.
    let mut big = five("acme/chat");
    big["max_tokens"] = json!(100);
    let body = expect_error(send(big).await.unwrap(), 402, "billing_error").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("can only afford"),
        "{body}"
    );
    assert_eq!(oai.stats().requests + ant.stats().requests, 2);
}
