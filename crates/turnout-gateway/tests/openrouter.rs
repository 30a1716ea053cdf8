//! OpenRouter as an upstream (`kind = "openrouter"`), against the mock's OpenRouter flavour:
//! the client's `provider` preferences go up unchanged, `models` as OpenRouter's ids when
//! OpenRouter is the last endpoint of the model, the provider it chose is reported, the
//! model it fell back to is billed as that model, its own charge is reported beside ours, and
//! its errors are classified for failover.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use turnout_mock::{MockConfig, MockServer};

const KEY: &str = "sk-or-v1-mock";

fn openrouter_provider(base_url: &str) -> String {
    format!(
        "[[providers]]\nslug = \"openrouter\"\nname = \"OpenRouter\"\nkind = \"openrouter\"\nbase_url = \"{base_url}\"\napi_key = \"{KEY}\"\nhttp_referer = \"https://turnout.example\"\nx_title = \"Turnout tests\"\n"
    )
}

async fn or_mock(cfg: MockConfig) -> MockServer {
    mock(MockConfig {
        require_key: Some(KEY.into()),
        ..cfg
    })
    .await
}

/// `acme/a`: a direct endpoint, then OpenRouter; `acme/b` only on OpenRouter (more
/// expensive).
async fn direct_and_openrouter(
    direct: MockConfig,
    or: MockConfig,
) -> (MockServer, MockServer, Gateway) {
    let (d, o) = (mock(direct).await, or_mock(or).await);
    let b = model("acme/b", &[("openrouter", "vendor/b")]).replace(
        "completion_price = \"0.0000006\"",
        "completion_price = \"0.000006\"",
    );
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}{}{b}",
        provider("direct", "Direct", &d.base_url(), ""),
        openrouter_provider(&o.openrouter_base_url()),
        model(
            "acme/a",
            &[("direct", "a-direct"), ("openrouter", "vendor/a")]
        ),
    ))
    .await;
    (d, o, gw)
}

fn body(order: &[&str]) -> Value {
    let mut b = chat("acme/a");
    b["models"] = json!(["acme/b"]);
    b["provider"] = json!({"order": order, "sort": "price"});
    b
}

#[tokio::test]
async fn the_clients_preferences_go_up_and_the_chosen_provider_comes_back() {
    let (d, o, gw) = direct_and_openrouter(fast(), fast()).await;
    let mut req = body(&["openrouter", "Anthropic"]);
    req["reasoning"] = json!({"effort": "low"});
    let resp = gw.post_chat(&req).await;
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    // The mock routes by the first of provider.order, as OpenRouter would.
    assert_eq!(out["provider"], "OpenRouter (openrouter)");
    assert_eq!(out["model"], "acme/a");
    let sent = o.stats().last_request.unwrap();
    assert_eq!(sent["model"], "vendor/a");
    assert_eq!(sent["provider"], req["provider"], "unchanged");
    assert_eq!(sent["reasoning"], json!({"effort": "low"}));
    assert_eq!(sent["usage"], json!({"include": true}));
    assert!(
        sent.get("models").is_none(),
        "Direct, a later endpoint of acme/a, comes first"
    );
    assert_eq!(d.stats().requests, 0);

    // Billed at our price (3 prompt + 5 completion tokens); OpenRouter's own charge beside it.
    assert_eq!(out["usage"]["cost"], json!(0.00000345));
    assert_eq!(
        out["usage"]["cost_details"]["upstream_inference_cost"],
        json!(0.000013)
    );
}

#[tokio::test]
async fn openrouter_may_fall_back_to_a_later_model_and_that_model_is_billed() {
    // The direct endpoint fails; OpenRouter has no endpoints for vendor/a and serves
    // vendor/b from `models`.
    let (d, o, gw) = direct_and_openrouter(
        failing(503, None),
        MockConfig {
            unavailable_models: vec!["vendor/a".into()],
            ..fast()
        },
    )
    .await;
    let resp = gw.post_chat(&body(&["direct", "openrouter"])).await;
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let out: Value = resp.json().await.unwrap();
    assert_eq!(out["model"], "acme/b");
    assert_eq!(out["provider"], "OpenRouter (direct)");
    let sent = o.stats().last_request.unwrap();
    assert_eq!(sent["model"], "vendor/a");
    assert_eq!(sent["models"], json!(["vendor/b"]));
    assert_eq!(
        o.stats().requests,
        1,
        "OpenRouter's own fallback saved a round trip"
    );
    assert_eq!(d.stats().requests, 1);
    // acme/b's completion price is ten times acme/a's.
    assert_eq!(out["usage"]["cost"], json!(0.00003045));

    // The generation record names the model that served.
    gw.state.accounts().flush().await;
    let generation = gw
        .state
        .accounts()
        .store()
        .generation(&id)
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(generation.model, "acme/b");

    // Streamed, the same: chunks say who served, the final usage is priced as acme/b.
    let mut req = body(&["direct", "openrouter"]);
    req["stream"] = json!(true);
    let lines = sse_lines(gw.post_chat(&req).await).await;
    let chunks: Vec<Value> = lines.iter().filter_map(|l| data_json(l)).collect();
    assert!(chunks.iter().all(|c| c["model"] == "acme/b"), "{lines:?}");
    assert!(
        chunks
            .iter()
            .all(|c| c["provider"] == "OpenRouter (direct)")
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["usage"]["cost"], json!(0.00003045));
    assert_eq!(
        last["usage"]["cost_details"]["upstream_inference_cost"],
        json!(0.000013)
    );
}

#[tokio::test]
async fn out_of_openrouter_credits_is_the_operators_problem() {
    let (d, o, gw) = direct_and_openrouter(fast(), failing(402, None)).await;
    let resp = gw.post_chat(&body(&["openrouter", "direct"])).await;
    assert_eq!(resp.status(), 200, "fell over to the direct endpoint");
    let out: Value = resp.json().await.unwrap();
    assert_eq!(out["provider"], "Direct");
    assert_eq!((o.stats().requests, d.stats().requests), (1, 1));

    let mut only = body(&["openrouter"]);
    only["provider"]["allow_fallbacks"] = json!(false);
    only["models"] = json!([]);
    let resp = gw.post_chat(&only).await;
    assert_eq!(resp.status(), 502);
    let out: Value = resp.json().await.unwrap();
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("misconfigured"),
        "{out}"
    );
}

#[tokio::test]
async fn rate_limits_and_missing_endpoints_fall_over() {
    let (d, o, gw) = direct_and_openrouter(fast(), failing(429, Some(9))).await;
    let mut only = body(&["openrouter"]);
    only["provider"]["allow_fallbacks"] = json!(false);
    only["models"] = json!([]);
    let resp = gw.post_chat(&only).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "9");
    let out: Value = resp.json().await.unwrap();
    let previous = &out["error"]["metadata"]["previous_errors"][0];
    assert_eq!(previous["provider"], "OpenRouter (MockInfra)", "{out}");

    o.set_config(MockConfig {
        require_key: Some(KEY.into()),
        unavailable_models: vec!["vendor/a".into(), "vendor/b".into()],
        ..fast()
    });
    d.reset_stats();
    let mut req = body(&["openrouter", "direct"]);
    req["models"] = json!([]);
    let resp = gw.post_chat(&req).await;
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    assert_eq!(
        out["provider"], "Direct",
        "no endpoints at OpenRouter: the next one serves"
    );
    assert_eq!(d.stats().requests, 1);
}
