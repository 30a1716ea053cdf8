//! The Azure OpenAI and OpenRouter flavours of the OpenAI route: their paths, keys, stream
//! preambles, answers and error envelopes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use common::*;
use serde_json::{Value, json};
use turnout_mock::{Fault, MockConfig, MockServer};

async fn mock(config: MockConfig) -> MockServer {
    MockServer::start(config).await.expect("mock starts")
}

async fn send(url: String, headers: &[(&str, &str)], body: &Value) -> reqwest::Response {
    let mut req = client().post(url).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

fn keyed() -> MockConfig {
    MockConfig {
        require_key: Some("az-key".into()),
        chunks: 3,
        ..MockConfig::default()
    }
}

#[tokio::test]
async fn azure_deployments_need_api_version_and_the_api_key_header() {
    let m = mock(keyed()).await;
    let url = |q: &str| {
        format!(
            "{}/openai/deployments/my-gpt/chat/completions{q}",
            m.azure_base_url()
        )
    };
    let ok = send(
        url("?api-version=2024-10-21"),
        &[("api-key", "az-key")],
        &chat_body(false),
    )
    .await;
    assert_eq!(ok.status(), 200);
    let v: Value = ok.json().await.unwrap();
    assert_eq!(v["model"], "my-gpt", "the deployment is the model");
    assert!(v["prompt_filter_results"].is_array());
    assert_eq!(
        m.stats().last_path.as_deref(),
        Some("/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21")
    );

    let bearer = send(
        url("?api-version=2024-10-21"),
        &[("authorization", "Bearer az-key")],
        &chat_body(false),
    )
    .await;
    assert_eq!(bearer.status(), 401);
    let v: Value = bearer.json().await.unwrap();
    assert_eq!(v["error"]["code"], "401");

    let unversioned = send(url(""), &[("api-key", "az-key")], &chat_body(false)).await;
    assert_eq!(unversioned.status(), 404);
    let v: Value = unversioned.json().await.unwrap();
    assert_eq!(v["error"]["message"], "Resource not found");

    let v1 = send(
        format!("{}/chat/completions", m.azure_v1_base_url()),
        &[("api-key", "az-key")],
        &chat_body(false),
    )
    .await;
    assert_eq!(v1.status(), 200);
    let v: Value = v1.json().await.unwrap();
    assert_eq!(
        v["model"], "gpt-4o-mini",
        "the v1 API takes the body's model"
    );
}

#[tokio::test]
async fn an_azure_stream_opens_with_prompt_filter_results_and_no_choices() {
    let m = mock(keyed()).await;
    let res = send(
        format!(
            "{}/openai/deployments/d/chat/completions?api-version=2024-10-21",
            m.azure_base_url()
        ),
        &[("api-key", "az-key")],
        &chat_body(true),
    )
    .await;
    let body = res.text().await.unwrap();
    let chunks = chunks(&body);
    assert_eq!(chunks[0]["choices"], json!([]));
    assert!(chunks[0]["prompt_filter_results"][0]["content_filter_results"].is_object());
    assert_eq!(chunks[1]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(content(&chunks).split(' ').count(), 3);
    assert!(body.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn azure_refuses_filtered_prompts_with_its_content_filter_error() {
    let m = mock(MockConfig {
        fault: Some(Fault::ContentFilter),
        ..MockConfig::default()
    })
    .await;
    let res = send(
        format!(
            "{}/openai/deployments/d/chat/completions?api-version=2024-10-21",
            m.azure_base_url()
        ),
        &[],
        &chat_body(false),
    )
    .await;
    assert_eq!(res.status(), 400);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "content_filter");
    assert_eq!(
        v["error"]["innererror"]["code"],
        "ResponsibleAIPolicyViolation"
    );
    // The OpenAI route refuses in OpenAI's words.
    let v: Value = post(&m, &chat_body(false)).await.json().await.unwrap();
    assert_eq!(v["error"]["code"], "content_policy_violation");
}

#[tokio::test]
async fn openrouter_names_its_provider_reports_cost_and_falls_back_along_models() {
    let m = mock(MockConfig {
        unavailable_models: vec!["gpt-4o-mini".into()],
        chunks: 4,
        ..MockConfig::default()
    })
    .await;
    let url = format!("{}/chat/completions", m.openrouter_base_url());
    let mut body = chat_body(false);
    body["models"] = json!(["vendor/backup"]);
    body["provider"] = json!({"order": ["Anthropic"], "allow_fallbacks": false});
    let v: Value = send(url.clone(), &[], &body).await.json().await.unwrap();
    assert_eq!(v["model"], "vendor/backup", "gpt-4o-mini has no endpoints");
    assert_eq!(v["provider"], "Anthropic", "routed by provider.order");
    assert_eq!(
        v["usage"]["cost"],
        json!(0.000013),
        "5 prompt + 4 completion tokens"
    );
    assert_eq!(
        m.stats().last_request.unwrap()["provider"]["order"][0],
        "Anthropic"
    );

    body["stream"] = json!(true);
    let text = send(url.clone(), &[], &body).await.text().await.unwrap();
    assert!(text.starts_with(": OPENROUTER PROCESSING\n\n"), "{text}");
    let chunks = chunks(
        &text
            .split("\n\n")
            .filter(|e| !e.starts_with(':'))
            .collect::<Vec<_>>()
            .join("\n\n"),
    );
    assert!(chunks.iter().all(|c| c["provider"] == "Anthropic"));
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(
        last["usage"]["cost"],
        json!(0.000013),
        "usage without asking"
    );

    body["models"] = json!([]);
    let res = send(url, &[], &body).await;
    assert_eq!(res.status(), 404);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v["error"],
        json!({"code": 404, "message": "No endpoints found for gpt-4o-mini."})
    );
}

#[tokio::test]
async fn openrouter_errors_carry_the_upstream_provider() {
    let m = mock(MockConfig {
        fault: Some(Fault::Status {
            status: 429,
            retry_after: Some(3),
            body: None,
        }),
        ..MockConfig::default()
    })
    .await;
    let res = send(
        format!("{}/chat/completions", m.openrouter_base_url()),
        &[],
        &chat_body(false),
    )
    .await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "3");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], 429);
    assert_eq!(v["error"]["metadata"]["provider_name"], "MockInfra");
    assert!(
        v["error"]["metadata"]["raw"]
            .as_str()
            .unwrap()
            .contains("rate-limited upstream")
    );
}
