//! Parameter support per endpoint: a request parameter an endpoint cannot honour (not in its
//! `supported_parameters`, or not expressible by its adapter) is dropped from the upstream
//! request and counted, unless `provider.require_parameters` is set: then the endpoint is left
//! out of the plan, and the explanation says why.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use turnout_mock::MockServer;

/// `narrow` (OpenAI-compatible, lists only `temperature` and `max_tokens`), `claude`
/// (Anthropic's adapter) and `wide` (OpenAI-compatible, everything), all serving `acme/m`.
async fn three() -> (MockServer, MockServer, MockServer, Gateway) {
    let (narrow, claude, wide) = (mock(fast()).await, mock(fast()).await, mock(fast()).await);
    let toml = format!(
        "{OPEN}{}{}{}{}",
        provider("narrow", "Narrow", &narrow.base_url(), ""),
        provider(
            "claude",
            "Claude",
            &claude.base_url(),
            "kind = \"anthropic\"\napi_key = \"k\""
        )
        .replacen("kind = \"openai\"\n", "", 1),
        provider("wide", "Wide", &wide.base_url(), ""),
        model("acme/m", &[("narrow", "up"), ("claude", "up"), ("wide", "up")]).replacen(
            "  upstream_model = \"up\"\n",
            "  upstream_model = \"up\"\n  supported_parameters = [\"temperature\", \"max_tokens\"]\n",
            1
        ),
    );
    let gw = Gateway::start(&toml).await;
    (narrow, claude, wide, gw)
}

fn asking(order: &[&str], require: bool) -> Value {
    let mut body = chat("acme/m");
    body["seed"] = json!(42);
    body["frequency_penalty"] = json!(0.5);
    body["temperature"] = json!(0.3);
    body["provider"] = json!({"order": order, "require_parameters": require});
    body
}

async fn metrics(gw: &Gateway) -> String {
    gw.http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_parameter_the_endpoint_cannot_honour_never_reaches_it() {
    let (narrow, claude, _wide, gw) = three().await;
    let resp = gw.post_chat(&asking(&["narrow"], false)).await;
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    assert_eq!(out["provider"], "Narrow");
    let sent = narrow.stats().last_request.unwrap();
    assert_eq!(sent["temperature"], 0.3, "a listed parameter goes up");
    assert!(sent.get("seed").is_none(), "{sent}");
    assert!(sent.get("frequency_penalty").is_none(), "{sent}");

    // The same rule for a translating adapter: Anthropic has no seed or penalties.
    let resp = gw.post_chat(&asking(&["claude"], false)).await;
    assert_eq!(resp.status(), 200);
    let sent = claude.stats().last_request.unwrap();
    assert_eq!(sent["temperature"], 0.3);
    assert!(sent.get("seed").is_none() && sent.get("frequency_penalty").is_none());

    let text = metrics(&gw).await;
    for (provider, parameter) in [
        ("narrow", "seed"),
        ("narrow", "frequency_penalty"),
        ("claude", "seed"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("turnout_dropped_parameters_total")
                    && l.contains(&format!("provider=\"{provider}\""))
                    && l.contains(&format!("parameter=\"{parameter}\""))),
            "{provider}/{parameter} not counted:\n{text}"
        );
    }
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("turnout_dropped_parameters_total")
                && l.contains("parameter=\"temperature\"")),
        "a supported parameter is never counted as dropped"
    );
}

#[tokio::test]
async fn require_parameters_skips_endpoints_that_cannot_honour_them() {
    let (narrow, claude, wide, gw) = three().await;
    let resp = gw
        .post_chat(&asking(&["narrow", "claude", "wide"], true))
        .await;
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    assert_eq!(out["provider"], "Wide");
    assert_eq!((narrow.stats().requests, claude.stats().requests), (0, 0));
    let sent = wide.stats().last_request.unwrap();
    assert_eq!(
        (sent["seed"].clone(), sent["frequency_penalty"].clone()),
        (json!(42), json!(0.5))
    );

    let explained: Value = gw
        .http
        .post(gw.url("/api/v1/routing/explain"))
        .json(&asking(&["narrow", "claude", "wide"], true))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let candidates: Vec<&str> = explained["data"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["provider"].as_str().unwrap())
        .collect();
    assert_eq!(candidates, ["Wide"]);
    let excluded = explained["data"]["excluded"].as_array().unwrap();
    let why = |name: &str| {
        excluded
            .iter()
            .find(|e| e["provider"] == name)
            .unwrap_or_else(|| panic!("{name} not excluded: {excluded:?}"))
    };
    assert_eq!(why("Narrow")["excluded_by"], "require_parameters");
    assert!(
        why("Narrow")["reason"]
            .as_str()
            .unwrap()
            .ends_with("`frequency_penalty`, `seed` not in the endpoint's supported_parameters"),
        "{excluded:?}"
    );
    assert!(
        why("Claude")["reason"]
            .as_str()
            .unwrap()
            .ends_with("kind = \"anthropic\" cannot express `frequency_penalty`, `seed`"),
        "{excluded:?}"
    );
}

#[tokio::test]
async fn when_no_endpoint_honours_every_parameter_the_client_gets_404_with_reasons() {
    let (narrow, claude, _wide, gw) = three().await;
    let mut body = asking(&["narrow"], true);
    body["provider"]["only"] = json!(["narrow", "claude"]);
    let resp = gw.post_chat(&body).await;
    assert_eq!(resp.status(), 404);
    let out: Value = resp.json().await.unwrap();
    let by: Vec<&str> = out["error"]["metadata"]["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["excluded_by"].as_str().unwrap())
        .collect();
    assert_eq!(
        by,
        [
            "require_parameters",
            "require_parameters",
            "allowed_providers"
        ]
    );
    assert_eq!((narrow.stats().requests, claude.stats().requests), (0, 0));
}
