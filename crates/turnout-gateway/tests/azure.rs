//! Azure OpenAI (`kind = "azure"`) behind `/api/v1/chat/completions`, against the mock's Azure
//! flavour: the deployment URL with `api-version` (and the v1 API), the `api-key` header, the
//! `prompt_filter_results` chunk that opens Azure's streams (not content: a stream cut right
//! after it still falls over), and content filtering as the client's fault.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use turnout_mock::{Fault, MockConfig, MockServer};

const KEY: &str = "azure-key";

fn azure_provider(base_url: &str, version: Option<&str>) -> String {
    let version = version.map_or(String::new(), |v| format!("api_version = \"{v}\"\n"));
    format!(
        "[[providers]]\nslug = \"azure\"\nname = \"Azure\"\nkind = \"azure\"\nbase_url = \"{base_url}\"\napi_key = \"{KEY}\"\n{version}"
    )
}

async fn azure_mock(cfg: MockConfig) -> MockServer {
    mock(MockConfig {
        require_key: Some(KEY.into()),
        ..cfg
    })
    .await
}

/// Azure first (`order`), a plain OpenAI-compatible mock as the fallback.
async fn azure_then_backup(cfg: MockConfig) -> (MockServer, MockServer, Gateway) {
    let (az, backup) = (azure_mock(cfg).await, mock(fast()).await);
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}{}",
        azure_provider(&az.azure_base_url(), Some("2024-10-21")),
        provider("backup", "Backup", &backup.base_url(), ""),
        model("acme/gpt", &[("azure", "gpt4o-prod"), ("backup", "gpt-4o")])
    ))
    .await;
    (az, backup, gw)
}

fn first_azure(body: Value) -> Value {
    ordered(body, &["azure", "backup"])
}

#[tokio::test]
async fn a_completion_goes_to_the_deployment_with_api_version_and_api_key() {
    let (az, backup, gw) = azure_then_backup(fast()).await;
    let resp = gw.post_chat(&first_azure(chat("acme/gpt"))).await;
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    assert_eq!(out["provider"], "Azure");
    assert_eq!(out["model"], "acme/gpt");
    assert_eq!(
        out["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .split(' ')
            .count(),
        5
    );
    assert!(
        out.get("prompt_filter_results").is_none(),
        "our shape, not Azure's"
    );
    assert_eq!(
        az.stats().last_path.as_deref(),
        Some("/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21")
    );
    assert_eq!(backup.stats().requests, 0);
}

#[tokio::test]
async fn a_stream_skips_the_prompt_filter_chunk() {
    let (_az, _backup, gw) = azure_then_backup(fast()).await;
    let mut body = first_azure(chat("acme/gpt"));
    body["stream"] = json!(true);
    let resp = gw.post_chat(&body).await;
    assert_eq!(resp.status(), 200);
    let lines = sse_lines(resp).await;
    assert_eq!(lines.last().unwrap(), "data: [DONE]");
    let chunks: Vec<Value> = lines.iter().filter_map(|l| data_json(l)).collect();
    assert!(
        chunks
            .iter()
            .all(|c| c.get("prompt_filter_results").is_none())
    );
    assert!(chunks.iter().all(|c| c["provider"] == "Azure"));
    // Every chunk but the final usage one has a choice: no empty first chunk reaches clients.
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c["choices"].as_array().unwrap().len() == 1)
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text.split(' ').count(), 5);
}

#[tokio::test]
async fn the_prompt_filter_chunk_is_not_a_first_token() {
    // Azure sends its filter chunk and the role chunk, then the connection drops: nothing was
    // generated, so the request falls over instead of failing mid-stream.
    let (az, backup, gw) = azure_then_backup(MockConfig {
        fault: Some(Fault::DropAfterChunks { after: 0 }),
        ..fast()
    })
    .await;
    let mut body = first_azure(chat("acme/gpt"));
    body["stream"] = json!(true);
    let resp = gw.post_chat(&body).await;
    assert_eq!(resp.status(), 200);
    let lines = sse_lines(resp).await;
    let chunks: Vec<Value> = lines.iter().filter_map(|l| data_json(l)).collect();
    assert!(
        chunks.iter().all(|c| c["provider"] == "Backup"),
        "{lines:?}"
    );
    assert!(chunks.iter().all(|c| c.get("error").is_none()));
    assert_eq!((az.stats().requests, backup.stats().requests), (1, 1));
}

#[tokio::test]
async fn a_filtered_prompt_is_the_clients_content_not_an_outage() {
    let (az, backup, gw) = azure_then_backup(MockConfig {
        fault: Some(Fault::ContentFilter),
        ..fast()
    })
    .await;
    let resp = gw.post_chat(&first_azure(chat("acme/gpt"))).await;
    assert_eq!(resp.status(), 400);
    let out: Value = resp.json().await.unwrap();
    assert_eq!(
        out["error"]["metadata"]["error_type"],
        "content_policy_violation"
    );
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("content management policy"),
        "{out}"
    );
    assert_eq!(az.stats().requests, 1);
    assert_eq!(
        backup.stats().requests,
        0,
        "another endpoint would refuse it too"
    );
}

#[tokio::test]
async fn a_wrong_key_or_rate_limit_falls_over() {
    let az = mock(MockConfig {
        require_key: Some("another-key".into()),
        ..fast()
    })
    .await;
    let backup = mock(fast()).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}{}",
        azure_provider(&az.azure_base_url(), Some("2024-10-21")),
        provider("backup", "Backup", &backup.base_url(), ""),
        model("acme/gpt", &[("azure", "gpt4o-prod"), ("backup", "gpt-4o")])
    ))
    .await;
    let resp = gw.post_chat(&first_azure(chat("acme/gpt"))).await;
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    assert_eq!(out["provider"], "Backup");

    az.set_config(MockConfig {
        require_key: Some(KEY.into()),
        ..failing(429, Some(7))
    });
    let mut body = first_azure(chat("acme/gpt"));
    body["provider"]["allow_fallbacks"] = json!(false);
    body["provider"]["order"] = json!(["azure"]);
    let resp = gw.post_chat(&body).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
}

#[tokio::test]
async fn the_v1_api_takes_the_model_in_the_body() {
    let az = azure_mock(fast()).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}",
        azure_provider(&az.azure_v1_base_url(), None),
        model("acme/gpt", &[("azure", "gpt-4.1-mini")])
    ))
    .await;
    let resp = gw.post_chat(&chat("acme/gpt")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        az.stats().last_path.as_deref(),
        Some("/openai/v1/chat/completions")
    );
    assert_eq!(az.stats().last_request.unwrap()["model"], "gpt-4.1-mini");
}
