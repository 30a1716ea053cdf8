//! `GET /models`, `/models/{author}/{slug}/endpoints` and `/providers`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;

async fn gateway() -> (turnout_mock::MockServer, Gateway) {
    let m = mock(fast()).await;
    let toml = format!(
        "{OPEN}{}{}{}[[models]]\nid = \"cheap/*\"\n  [[models.endpoints]]\n  provider = \"b\"\n  prompt_price = \"0\"\n  completion_price = \"0\"\n",
        provider("a", "Alpha", &m.base_url(), ""),
        provider("b", "Beta", &m.base_url(), ""),
        // Beta is cheaper: the model's listed price is its cheapest endpoint's.
        "[[models]]\nid = \"acme/chat\"\nname = \"Acme Chat\"\ncontext_length = 8192\n  [[models.endpoints]]\n  provider = \"a\"\n  prompt_price = \"0.000002\"\n  completion_price = \"0.000008\"\n  [[models.endpoints]]\n  provider = \"b\"\n  prompt_price = \"0.0000005\"\n  completion_price = \"0.0000015\"\n  cache_read_price = \"0.00000005\"\n  max_completion_tokens = 2048\n  quantization = \"fp8\"\n",
    );
    let gw = Gateway::start(&toml).await;
    (m, gw)
}

async fn get(gw: &Gateway, path: &str) -> (u16, Value) {
    let resp = gw.http.get(gw.url(path)).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn models_lists_concrete_models_at_their_cheapest_price() {
    let (_m, gw) = gateway().await;
    for base in ["/api/v1", "/v1"] {
        let (status, body) = get(&gw, &format!("{base}/models")).await;
        assert_eq!(status, 200);
        let data = body["data"].as_array().unwrap();
        assert_eq!(data.len(), 1, "wildcards are not listed");
        let m = &data[0];
        assert_eq!(m["id"], "acme/chat");
        assert_eq!(m["name"], "Acme Chat");
        assert_eq!(m["context_length"], 8192);
        assert_eq!(m["pricing"]["prompt"], "0.0000005");
        assert_eq!(m["pricing"]["completion"], "0.0000015");
        assert_eq!(m["pricing"]["input_cache_read"], "0.00000005");
        assert_eq!(m["top_provider"]["max_completion_tokens"], 2048);
        assert_eq!(m["links"]["details"], "/api/v1/models/acme/chat/endpoints");
        assert!(
            m["supported_parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == "tools")
        );
        assert_eq!(body["total_count"], 1);
    }
}

#[tokio::test]
async fn endpoints_lists_each_provider_with_null_health_until_there_is_data() {
    let (_m, gw) = gateway().await;
    let (status, body) = get(&gw, "/api/v1/models/acme/chat/endpoints").await;
    assert_eq!(status, 200);
    let eps = body["data"]["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 2);
    assert_eq!(eps[0]["provider_name"], "Alpha");
    assert_eq!(eps[0]["tag"], "a");
    assert_eq!(eps[0]["pricing"]["prompt"], "0.000002");
    assert_eq!(eps[1]["quantization"], "fp8");
    assert_eq!(eps[1]["supports_implicit_caching"], true);
    for e in eps {
        assert!(e["uptime_last_30m"].is_null());
        assert!(e["latency_last_30m"].is_null());
        assert!(e["throughput_last_30m"].is_null());
    }
    let (status, body) = get(&gw, "/api/v1/models/cheap/anything/endpoints").await;
    assert_eq!(status, 200, "wildcard ids resolve: {body}");
    assert_eq!(body["data"]["endpoints"][0]["model_id"], "cheap/anything");
    let (status, body) = get(&gw, "/api/v1/models/no/such/endpoints").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["message"], "Model no/such not found");
}

#[tokio::test]
async fn providers_lists_slugs_and_display_names() {
    let (_m, gw) = gateway().await;
    let (status, body) = get(&gw, "/api/v1/providers").await;
    assert_eq!(status, 200);
    let names: Vec<(&str, &str)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["slug"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    assert_eq!(names, vec![("a", "Alpha"), ("b", "Beta")]);
}

#[tokio::test]
async fn endpoints_show_uptime_latency_and_throughput_from_live_traffic() {
    let (_m, gw) = gateway().await;
    // 25 requests pinned to Alpha: even split across a minute boundary, one minute holds
    // ≥ 10 attempts, all fine.
    for _ in 0..25 {
        let body = with(chat("acme/chat"), "stream", serde_json::json!(true));
        let body = with(
            body,
            "provider",
            serde_json::json!({"order": ["a"], "allow_fallbacks": false}),
        );
        let resp = gw.post_chat(&body).await;
        assert_eq!(resp.status(), 200);
        let _ = resp.text().await.unwrap();
    }
    let (status, v) = get(&gw, "/api/v1/models/acme/chat/endpoints").await;
    assert_eq!(status, 200);
    let endpoints = v["data"]["endpoints"].as_array().unwrap();
    let alpha = endpoints
        .iter()
        .find(|e| e["provider_name"] == "Alpha")
        .unwrap();
    assert_eq!(alpha["uptime_last_5m"], 100.0, "{alpha}");
    assert_eq!(alpha["uptime_last_1d"], 100.0);
    let latency = &alpha["latency_last_30m"];
    assert!(latency["p50"].as_f64().unwrap() >= 0.0, "{latency}");
    assert!(latency["p99"].as_f64().unwrap() >= latency["p50"].as_f64().unwrap());
    // Beta saw no traffic: still null.
    let beta = endpoints
        .iter()
        .find(|e| e["provider_name"] == "Beta")
        .unwrap();
    assert!(beta["uptime_last_5m"].is_null() && beta["latency_last_30m"].is_null());
}
