//! The Gemini dialect: generateContent and its SSE stream, function calls, thought signatures,
//! Google's error envelope, keys and the shared faults.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use turnout_mock::{Fault, MockConfig, MockServer};

async fn mock(config: MockConfig) -> MockServer {
    MockServer::start(config).await.expect("mock starts")
}

fn five() -> MockConfig {
    MockConfig {
        chunks: 5,
        ..MockConfig::default()
    }
}

async fn generate(mock: &MockServer, body: &Value, stream: bool) -> reqwest::Response {
    let url = if stream {
        format!(
            "{}/models/gemini-mock:streamGenerateContent?alt=sse",
            mock.gemini_base_url()
        )
    } else {
        format!(
            "{}/models/gemini-mock:generateContent",
            mock.gemini_base_url()
        )
    };
    client().post(url).json(body).send().await.unwrap()
}

fn hello() -> Value {
    json!({"systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Hello there"}]}]})
}

/// The chunks of a Gemini SSE body (`data: …\r\n\r\n`, no end marker).
fn gemini_chunks(body: &str) -> Vec<Value> {
    assert!(!body.contains("[DONE]"));
    body.split("\r\n\r\n")
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").expect("data line")).unwrap())
        .collect()
}

fn text_of(chunks: &[Value]) -> String {
    chunks
        .iter()
        .flat_map(|c| {
            c["candidates"][0]["content"]["parts"]
                .as_array()
                .unwrap()
                .clone()
        })
        .filter(|p| p["thought"] != true)
        .filter_map(|p| p["text"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_completion_and_its_stream_say_the_same() {
    let m = mock(five()).await;
    let resp = generate(&m, &hello(), false).await;
    assert_eq!(resp.status(), 200);
    let whole: Value = resp.json().await.unwrap();
    let c = &whole["candidates"][0];
    assert_eq!(c["finishReason"], "STOP");
    assert_eq!(c["content"]["role"], "model");
    assert_eq!(whole["modelVersion"], "gemini-mock");
    assert!(whole["responseId"].is_string());
    let usage = &whole["usageMetadata"];
    assert_eq!(usage["candidatesTokenCount"], 5);
    // "Be brief." + "Hello there": 20 characters, 5 tokens.
    assert_eq!(usage["promptTokenCount"], 5);
    assert_eq!(usage["totalTokenCount"], 10);

    let resp = generate(&m, &hello(), true).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let chunks = gemini_chunks(&resp.text().await.unwrap());
    assert_eq!(chunks.len(), 5 + 1, "five pieces, then the finish");
    assert_eq!(text_of(&chunks), c["content"]["parts"][0]["text"]);
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"], *usage);
    assert!(
        chunks[..5]
            .iter()
            .all(|c| c["candidates"][0]["finishReason"].is_null())
    );
}

fn weather_tools() -> Value {
    json!([{"functionDeclarations": [
        {"name": "now"},
        {"name": "get_weather", "parametersJsonSchema": {"type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}},
    ]}])
}

#[tokio::test]
async fn declared_functions_are_called_and_their_results_answered() {
    let m = mock(five()).await;
    let mut body = hello();
    body["tools"] = weather_tools();
    body["toolConfig"] =
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}});
    let out: Value = generate(&m, &body, false).await.json().await.unwrap();
    let part = &out["candidates"][0]["content"]["parts"][0];
    assert_eq!(
        part["functionCall"],
        json!({"name": "get_weather", "args": {"city": "mock", "days": 1}})
    );
    assert_eq!(out["candidates"][0]["finishReason"], "STOP");
    assert!(part.get("thoughtSignature").is_none(), "no thinking asked");

    // Mode NONE: text.
    body["toolConfig"] = json!({"functionCallingConfig": {"mode": "NONE"}});
    let out: Value = generate(&m, &body, false).await.json().await.unwrap();
    assert!(out["candidates"][0]["content"]["parts"][0]["text"].is_string());

    // The result comes back: the answer quotes it.
    body["toolConfig"] = json!({"functionCallingConfig": {"mode": "AUTO"}});
    body["contents"] = json!([
        {"role": "user", "parts": [{"text": "Weather?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "18C"}}}]},
    ]);
    let out: Value = generate(&m, &body, false).await.json().await.unwrap();
    assert_eq!(
        out["candidates"][0]["content"]["parts"][0]["text"],
        "Tool result: 18C"
    );
    // A response naming a function that was not called is refused.
    body["contents"][2]["parts"][0]["functionResponse"]["name"] = json!("now");
    let resp = generate(&m, &body, false).await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn thinking_signs_calls_and_refuses_a_replay_without_the_signature() {
    let m = mock(five()).await;
    let mut body = hello();
    body["tools"] = weather_tools();
    body["generationConfig"] = json!({"thinkingConfig": {"includeThoughts": true}});
    for stream in [false, true] {
        let resp = generate(&m, &body, stream).await;
        let parts: Vec<Value> = if stream {
            gemini_chunks(&resp.text().await.unwrap())
                .iter()
                .flat_map(|c| {
                    c["candidates"][0]["content"]["parts"]
                        .as_array()
                        .unwrap()
                        .clone()
                })
                .collect()
        } else {
            let out: Value = resp.json().await.unwrap();
            assert_eq!(out["usageMetadata"]["thoughtsTokenCount"], 5);
            out["candidates"][0]["content"]["parts"]
                .as_array()
                .unwrap()
                .clone()
        };
        assert_eq!(parts[0]["thought"], true, "stream: {stream}");
        let call = parts
            .iter()
            .find(|p| p.get("functionCall").is_some())
            .unwrap();
        assert!(
            call["thoughtSignature"]
                .as_str()
                .unwrap()
                .starts_with("mock-signature-")
        );
    }
    let replay = |signature: Option<&str>| {
        let mut call = json!({"functionCall": {"name": "now", "args": {}}});
        if let Some(s) = signature {
            call["thoughtSignature"] = json!(s);
        }
        let mut b = body.clone();
        b["contents"] = json!([
            {"role": "user", "parts": [{"text": "Time?"}]},
            {"role": "model", "parts": [call]},
            {"role": "user", "parts": [{"functionResponse": {"name": "now", "response": {"result": "noon"}}}]},
        ]);
        b
    };
    let resp = generate(&m, &replay(None), false).await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["status"], "INVALID_ARGUMENT");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("thought_signature")
    );
    let resp = generate(&m, &replay(Some("mock-signature-0123")), false).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_text_answer_with_thinking_signs_the_last_streamed_part() {
    let m = mock(five()).await;
    let mut body = hello();
    body["generationConfig"] = json!({"thinkingConfig": {"thinkingBudget": 1024}});
    let chunks = gemini_chunks(&generate(&m, &body, true).await.text().await.unwrap());
    let last = &chunks.last().unwrap()["candidates"][0]["content"]["parts"][0];
    assert_eq!(last["text"], "");
    assert!(last["thoughtSignature"].is_string());
    assert!(
        chunks
            .iter()
            .all(|c| c["candidates"][0]["content"]["parts"][0]["thought"].is_null()),
        "no thoughts without includeThoughts"
    );
}

#[tokio::test]
async fn keys_are_checked_as_google_does() {
    let m = mock(MockConfig {
        require_key: Some("AIza-mock".into()),
        ..five()
    })
    .await;
    let url = format!("{}/models/g:generateContent", m.gemini_base_url());
    let resp = client().post(&url).json(&hello()).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["status"], "PERMISSION_DENIED");
    let resp = client()
        .post(&url)
        .header("x-goog-api-key", "wrong")
        .json(&hello())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["details"][0]["reason"], "API_KEY_INVALID");
    for (url, key) in [
        (url.clone(), Some("AIza-mock")),
        (format!("{url}?key=AIza-mock"), None),
    ] {
        let mut req = client().post(url).json(&hello());
        if let Some(k) = key {
            req = req.header("x-goog-api-key", k);
        }
        assert_eq!(req.send().await.unwrap().status(), 200);
    }
}

#[tokio::test]
async fn faults_use_googles_envelope_and_retry_info() {
    let m = mock(MockConfig {
        fault: Some(Fault::Status {
            status: 429,
            retry_after: Some(7),
            body: None,
        }),
        ..five()
    })
    .await;
    let resp = generate(&m, &hello(), true).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_none());
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(err["error"]["details"][1]["retryDelay"], "7s");

    for (cfg, status, rpc) in [
        (
            MockConfig {
                fault: Some(Fault::Status {
                    status: 503,
                    retry_after: None,
                    body: None,
                }),
                ..five()
            },
            503,
            "UNAVAILABLE",
        ),
        (
            MockConfig {
                fail_rate: 1.0,
                ..five()
            },
            503,
            "UNAVAILABLE",
        ),
        (
            MockConfig {
                fault: Some(Fault::Status {
                    status: 500,
                    retry_after: None,
                    body: None,
                }),
                ..five()
            },
            500,
            "INTERNAL",
        ),
    ] {
        m.set_config(cfg);
        let resp = generate(&m, &hello(), false).await;
        assert_eq!(resp.status(), status);
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["status"], rpc);
        assert_eq!(err["error"]["code"], status);
    }
}

#[tokio::test]
async fn a_dropped_stream_ends_after_its_content_chunks_without_a_finish() {
    let m = mock(MockConfig {
        fault: Some(Fault::DropAfterChunks { after: 2 }),
        ..five()
    })
    .await;
    let mut resp = generate(&m, &hello(), true).await;
    assert_eq!(resp.status(), 200);
    let (text, ended) = read_until_quiet(&mut resp, Duration::from_secs(2)).await;
    assert!(ended.is_err(), "the client sees an incomplete body");
    let chunks = gemini_chunks(&text);
    assert_eq!(chunks.len(), 2);
    assert!(
        chunks
            .iter()
            .all(|c| c["candidates"][0]["finishReason"].is_null())
    );

    m.set_config(MockConfig {
        fault: Some(Fault::EmptyBody),
        ..five()
    });
    let resp = generate(&m, &hello(), true).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "");
}

#[tokio::test]
async fn what_gemini_refuses_the_mock_refuses() {
    let m = mock(five()).await;
    let mut body = hello();
    body["generationConfig"] = json!({"max_tokens": 5});
    let resp = generate(&m, &body, false).await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unknown name \"max_tokens\"")
    );
    for bad in [
        json!({"contents": []}),
        json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}),
        json!({"contents": [{"role": "user", "parts": []}]}),
        json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "model": "g"}),
    ] {
        assert_eq!(generate(&m, &bad, false).await.status(), 400, "{bad}");
    }
    let url = format!("{}/models/g:streamGenerateContent", m.gemini_base_url());
    let resp = client().post(url).json(&hello()).send().await.unwrap();
    assert_eq!(resp.status(), 400, "streams are served with ?alt=sse only");
    // The stable `/v1` path works too.
    let url = format!("http://{}/v1/models/g:generateContent", m.addr());
    let resp = client().post(url).json(&hello()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}
