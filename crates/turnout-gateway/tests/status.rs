//! The status page: Statuspage-v2 JSON with the fixtures' key sets and HTTP caching, the HTML
//! page, and a failing provider driving its component (and the page) into an outage.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::Value;

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../../shared/fixtures/statuspage/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Breakers would stop attempts after a few failures, and backoff would slow the test down;
/// these tests want every failure seen, fast.
const NO_BREAKER: &str = "[routing]\nbreaker = { consecutive = 100000, min_requests = 100000 }\nretry = { initial_ms = 1, max_ms = 1 }\n";

async fn gateway(a: &str, b: &str) -> Gateway {
    let toml = format!(
        "{OPEN}{NO_BREAKER}[status]\nname = \"Acme AI\"\n{}{}{}",
        provider("a", "Alpha", a, ""),
        provider("b", "Beta", b, ""),
        model("acme/chat", &[("a", "m"), ("b", "m")]),
    );
    Gateway::start(&toml).await
}

#[tokio::test]
async fn summary_json_has_statuspages_shape_and_caching() {
    let (a, b) = (mock(fast()).await, mock(fast()).await);
    let gw = gateway(&a.base_url(), &b.base_url()).await;
    let resp = gw
        .http
        .get(gw.url("/status/api/v2/summary.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["cache-control"], "public, max-age=10");
    assert_eq!(h["content-type"], "application/json; charset=utf-8");
    let etag = h["etag"].to_str().unwrap().to_owned();
    let ours: Value = resp.json().await.unwrap();

    let theirs = fixture("discord_summary.json");
    assert_eq!(keys(&ours), keys(&theirs));
    assert_eq!(keys(&ours["page"]), keys(&theirs["page"]));
    assert_eq!(keys(&ours["status"]), keys(&theirs["status"]));
    let leaf = ours["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["group"] == false)
        .unwrap();
    assert_eq!(keys(leaf), keys(&theirs["components"][0]));
    assert_eq!(ours["status"]["indicator"], "none");
    assert_eq!(ours["status"]["description"], "All Systems Operational");
    assert_eq!(ours["page"]["name"], "Acme AI");

    // Groups per provider, leaves per endpoint, plus the gateway itself.
    let components = ours["components"].as_array().unwrap();
    let names: Vec<&str> = components
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Gateway API") && names.contains(&"Alpha") && names.contains(&"Beta"));
    let alpha = components.iter().find(|c| c["name"] == "Alpha").unwrap();
    assert_eq!(alpha["group"], true);
    assert_eq!(alpha["components"].as_array().unwrap().len(), 1);

    let again = gw
        .http
        .get(gw.url("/status/api/v2/summary.json"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    for path in [
        "status.json",
        "components.json",
        "incidents.json",
        "incidents/unresolved.json",
        "scheduled-maintenances.json",
        "scheduled-maintenances/upcoming.json",
        "scheduled-maintenances/active.json",
    ] {
        let resp = gw
            .http
            .get(gw.url(&format!("/status/api/v2/{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let v: Value = resp.json().await.unwrap();
        assert!(v["page"]["id"].is_string(), "{path}: {v}");
    }
}

#[tokio::test]
async fn a_failing_provider_becomes_a_major_outage_on_the_page() {
    let (a, b) = (mock(failing(503, None)).await, mock(fast()).await);
    let gw = gateway(&a.base_url(), &b.base_url()).await;
    // Open incidents at once rather than after the default minute.
    gw.state
        .status()
        .set_incident_settings(turnout_gateway::status::derive::IncidentSettings {
            open_after_ms: 0,
            ..Default::default()
        });
    for _ in 0..30 {
        let body = with(
            chat("acme/chat"),
            "provider",
            serde_json::json!({"order": ["a"], "allow_fallbacks": false}),
        );
        assert_eq!(gw.post_chat(&body).await.status(), 503);
    }
    // Two evaluations confirm a major outage (spec/status.md §5.4); the loop runs every 10 s,
    // the test drives it directly.
    for _ in 0..3 {
        gw.state
            .status()
            .evaluate(gw.state.health(), gw.state.probes());
    }
    let v: Value = gw
        .http
        .get(gw.url("/status/api/v2/summary.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let components = v["components"].as_array().unwrap();
    let alpha_leaf = components
        .iter()
        .find(|c| {
            c["description"]
                .as_str()
                .is_some_and(|d| d.contains("via Alpha"))
        })
        .unwrap();
    assert_eq!(alpha_leaf["status"], "major_outage", "{v}");
    let alpha = components.iter().find(|c| c["name"] == "Alpha").unwrap();
    assert_eq!(alpha["status"], "major_outage");
    let beta = components.iter().find(|c| c["name"] == "Beta").unwrap();
    assert_eq!(beta["status"], "operational");
    // One component of several in major outage is a "Partial System Outage" by the components
    // alone; the open incident's critical impact (its worst component) raises the page, as
    // Statuspage does (spec/status.md §1.4–1.5).
    assert_eq!(v["status"]["indicator"], "critical", "{}", v["status"]);
    assert_eq!(v["status"]["description"], "Major System Outage");

    // An incident opened for Alpha, listed as unresolved, with its affected component.
    let incidents = v["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{v}");
    let incident = &incidents[0];
    assert_eq!(incident["status"], "investigating");
    assert_eq!(incident["impact"], "critical", "{incident}");
    assert!(
        incident["name"].as_str().unwrap().starts_with("Alpha"),
        "{incident}"
    );
    assert_eq!(incident["components"][0]["id"], alpha_leaf["id"]);
    let update = &incident["incident_updates"][0];
    assert_eq!(
        update["affected_components"][0]["new_status"],
        "major_outage"
    );
    assert_eq!(update["deliver_notifications"], true);
    assert!(update["tweet_id"].is_null() && update["custom_tweet"].is_null());
    let theirs = fixture("discord_incidents.json");
    assert_eq!(
        keys(incident),
        keys(&theirs["incidents"][0]),
        "incident keys"
    );
    assert_eq!(
        keys(update),
        keys(&theirs["incidents"][0]["incident_updates"][0]),
        "update keys"
    );
    let unresolved: Value = gw
        .http
        .get(gw.url("/status/api/v2/incidents/unresolved.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unresolved["incidents"].as_array().unwrap().len(), 1);

    let html = gw.http.get(gw.url("/status")).send().await.unwrap();
    assert_eq!(html.status(), 200);
    assert!(
        html.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let text = html.text().await.unwrap();
    assert!(text.contains("Major System Outage"), "{text}");
    assert!(text.contains("Major outage") && text.contains("Operational"));
    assert!(
        text.contains("Investigating") && text.contains("We are investigating"),
        "{text}"
    );
    // Everything above is in the HTML itself; scripts only enhance, and none is inline.
    assert!(
        text.split("<script")
            .skip(1)
            .all(|tag| tag.trim_start().starts_with("defer src=")),
        "no inline script"
    );
}
