//! Helpers shared by the mock's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use turnout_mock::{MockServer, MockStats};

pub fn client() -> reqwest::Client {
    // Already installed by another test: fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

pub fn chat_body(stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello there"}
        ]
    })
}

pub async fn post(mock: &MockServer, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/chat/completions", mock.base_url()))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The `data:` payloads of an SSE body, in order.
pub fn events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.strip_prefix("data: ").unwrap_or(e).to_owned())
        .collect()
}

/// The JSON chunks of an SSE body (all events but `[DONE]`).
pub fn chunks(body: &str) -> Vec<Value> {
    events(body)
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

/// Concatenated `delta.content` of the chunks.
pub fn content(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

/// Waits (at most 5 s) until the stats satisfy `done`; returns them.
pub async fn wait_stats(mock: &MockServer, done: impl Fn(&MockStats) -> bool) -> MockStats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = mock.stats();
        if done(&stats) || Instant::now() > deadline {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads body pieces until the body ends, fails, or stays silent for `quiet`.
/// Returns the text and how it ended: `Ok(true)` = ended, `Ok(false)` = went quiet, `Err` = failed.
pub async fn read_until_quiet(
    response: &mut reqwest::Response,
    quiet: Duration,
) -> (String, Result<bool, reqwest::Error>) {
    let mut text = String::new();
    loop {
        match tokio::time::timeout(quiet, response.chunk()).await {
            Err(_) => return (text, Ok(false)),
            Ok(Ok(None)) => return (text, Ok(true)),
            Ok(Ok(Some(bytes))) => text.push_str(std::str::from_utf8(&bytes).unwrap()),
            Ok(Err(e)) => return (text, Err(e)),
        }
    }
}
