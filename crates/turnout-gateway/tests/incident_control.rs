//! Operators on the status page: posting updates to an incident, taking an automatic incident
//! over (automation stops moving it), and pinning a component's status until a time or until
//! cleared — as incidents.json and components.json show them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use turnout_store::clock;

const NO_BREAKER: &str = "[routing]\nbreaker = { consecutive = 100000, min_requests = 100000 }\nretry = { initial_ms = 1, max_ms = 1 }\n";

/// Short test windows: an incident opens at once, recovery needs no calm period, and a
/// monitoring incident resolves at once — so only the operator's control keeps it open.
const FAST_STATUS: &str = "[status.health]\nthresholds = { major_error_ratio = 0.5, partial_error_ratio = 0.3, degraded_error_ratio = 0.25 }\nhysteresis = { recovery_period = \"0s\" }\n[status.incidents]\nauto_open = { after = \"0s\" }\nmonitoring_to_resolved = \"0s\"\n";

async fn get(gw: &Gateway, path: &str) -> Value {
    gw.http
        .get(gw.url(path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn evaluate(gw: &Gateway, times: usize) {
    for _ in 0..times {
        gw.state
            .status()
            .evaluate(gw.state.health(), gw.state.probes());
    }
}

fn only_alpha() -> Value {
    with(
        chat("acme/chat"),
        "provider",
        json!({"order": ["a"], "allow_fallbacks": false}),
    )
}

fn component<'a>(summary: &'a Value, description_has: &str) -> &'a Value {
    summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["name"] == description_has
                || c["description"]
                    .as_str()
                    .is_some_and(|d| d.contains(description_has))
        })
        .unwrap()
}

#[tokio::test]
async fn a_taken_over_incident_moves_only_when_the_operator_says() {
    let (a, b) = (mock(failing(503, None)).await, mock(fast()).await);
    let gw = Gateway::start(&format!(
        "{OPEN}{NO_BREAKER}{}{}{}{FAST_STATUS}",
        provider("a", "Alpha", &a.base_url(), ""),
        provider("b", "Beta", &b.base_url(), ""),
        model("acme/chat", &[("a", "m"), ("b", "m")]),
    ))
    .await;
    let key = management_key(&gw).await;
    for _ in 0..20 {
        assert_eq!(gw.post_chat(&only_alpha()).await.status(), 503);
    }
    evaluate(&gw, 3);
    let (code, list) = admin(&gw, Method::GET, "/admin/status/incidents", &key, None).await;
    assert_eq!(code, 200);
    let incident = &list["data"][0];
    assert_eq!(incident["automated"], true, "{list}");
    let id = incident["id"].as_str().unwrap().to_owned();

    let (code, taken) = admin(
        &gw,
        Method::POST,
        &format!("/admin/status/incidents/{id}/takeover"),
        &key,
        Some(json!({"body": "We are looking into Alpha."})),
    )
    .await;
    assert_eq!(code, 200, "{taken}");
    assert_eq!(taken["data"]["automated"], false);
    assert_eq!(
        taken["data"]["incident_updates"][0]["body"],
        "We are looking into Alpha."
    );

    // Alpha recovers. Automatically the incident would go to monitoring and resolve at
    // once (monitoring_to_resolved = 0s); taken over, it stays as the operator left it.
    a.set_config(fast());
    for _ in 0..200 {
        assert_eq!(gw.post_chat(&only_alpha()).await.status(), 200);
    }
    evaluate(&gw, 3);
    let incidents = get(&gw, "/status/api/v2/incidents.json").await;
    let shown = &incidents["incidents"][0];
    assert_eq!(
        component(&get(&gw, "/status/api/v2/summary.json").await, "via Alpha")["status"],
        "operational"
    );
    assert_eq!(shown["status"], "investigating", "{shown}");
    assert!(shown["resolved_at"].is_null());
    assert_eq!(
        shown["incident_updates"][0]["affected_components"][0]["new_status"], "operational",
        "component changes are still appended"
    );

    let (code, updated) = admin(
        &gw,
        Method::POST,
        &format!("/admin/status/incidents/{id}/updates"),
        &key,
        Some(json!({"status": "monitoring", "body": "A fix is deployed; watching."})),
    )
    .await;
    assert_eq!(code, 201, "{updated}");
    evaluate(&gw, 2);
    let unresolved = get(&gw, "/status/api/v2/incidents/unresolved.json").await;
    let shown = &unresolved["incidents"][0];
    assert_eq!(shown["status"], "monitoring", "{unresolved}");
    assert!(shown["monitoring_at"].is_string());
    assert_eq!(
        shown["incident_updates"][0]["body"],
        "A fix is deployed; watching."
    );
    assert_eq!(shown["incident_updates"][0]["status"], "monitoring");

    let (code, _) = admin(
        &gw,
        Method::POST,
        &format!("/admin/status/incidents/{id}/updates"),
        &key,
        Some(json!({"status": "resolved", "body": "Resolved."})),
    )
    .await;
    assert_eq!(code, 201);
    let unresolved = get(&gw, "/status/api/v2/incidents/unresolved.json").await;
    assert!(unresolved["incidents"].as_array().unwrap().is_empty());
    let all = get(&gw, "/status/api/v2/incidents.json").await;
    assert_eq!(all["incidents"][0]["status"], "resolved");
    assert!(all["incidents"][0]["resolved_at"].is_string());
    let summary = get(&gw, "/status/api/v2/summary.json").await;
    assert_eq!(
        summary["status"]["indicator"], "none",
        "{}",
        summary["status"]
    );

    for (path, body, code) in [
        (
            "/admin/status/incidents/nope/updates",
            json!({"body": "x"}),
            404,
        ),
        (
            &*format!("/admin/status/incidents/{id}/updates"),
            json!({"body": " "}),
            400,
        ),
        (
            &*format!("/admin/status/incidents/{id}/updates"),
            json!({"status": "fixed", "body": "x"}),
            400,
        ),
    ] {
        let (got, err) = admin(&gw, Method::POST, path, &key, Some(body)).await;
        assert_eq!(got, code, "{path}: {err}");
    }
}

#[tokio::test]
async fn an_automatic_incident_resolves_by_itself_when_taken_over_with_auto_resolve() {
    let a = mock(failing(503, None)).await;
    let gw = Gateway::start(&format!(
        "{OPEN}{NO_BREAKER}{}{}{FAST_STATUS}",
        provider("a", "Alpha", &a.base_url(), ""),
        model("acme/chat", &[("a", "m")]),
    ))
    .await;
    let key = management_key(&gw).await;
    for _ in 0..20 {
        gw.post_chat(&chat("acme/chat")).await;
    }
    evaluate(&gw, 3);
    let id = get(&gw, "/status/api/v2/incidents.json").await["incidents"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, _) = admin(
        &gw,
        Method::POST,
        &format!("/admin/status/incidents/{id}/takeover"),
        &key,
        Some(json!({"auto_resolve": true})),
    )
    .await;
    assert_eq!(code, 200);
    a.set_config(fast());
    for _ in 0..200 {
        gw.post_chat(&chat("acme/chat")).await;
    }
    evaluate(&gw, 3);
    let all = get(&gw, "/status/api/v2/incidents.json").await;
    assert_eq!(all["incidents"][0]["status"], "resolved", "{all}");
}

#[tokio::test]
async fn overrides_pin_a_status_until_a_time_or_until_cleared() {
    let (a, b) = (mock(fast()).await, mock(fast()).await);
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}{}",
        provider("a", "Alpha", &a.base_url(), ""),
        provider("b", "Beta", &b.base_url(), ""),
        model("acme/chat", &[("a", "m"), ("b", "m")]),
    ))
    .await;
    let key = management_key(&gw).await;
    let summary = get(&gw, "/status/api/v2/summary.json").await;
    let beta_leaf = component(&summary, "via Beta")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let alpha_group = component(&summary, "Alpha")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gateway_api = component(&summary, "Gateway API")["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (code, set) = admin(
        &gw,
        Method::PUT,
        &format!("/admin/status/components/{beta_leaf}/override"),
        &key,
        Some(json!({"status": "degraded_performance", "until": clock::iso(clock::now_ms() + 3_600_000)})),
    )
    .await;
    assert_eq!(code, 200, "{set}");
    assert_eq!(set["data"][0]["status"], "degraded_performance");
    assert_eq!(set["data"][0]["auto_status"], "operational");
    // A group override pins every model of the provider.
    let (code, _) = admin(
        &gw,
        Method::PUT,
        &format!("/admin/status/components/{alpha_group}/override"),
        &key,
        Some(json!({"status": "major_outage"})),
    )
    .await;
    assert_eq!(code, 200);
    let components = get(&gw, "/status/api/v2/components.json").await;
    assert_eq!(
        component(&components, "via Beta")["status"],
        "degraded_performance"
    );
    assert_eq!(
        component(&components, "Beta")["status"],
        "degraded_performance"
    );
    assert_eq!(
        component(&components, "via Alpha")["status"],
        "major_outage"
    );
    assert_eq!(component(&components, "Alpha")["status"], "major_outage");
    // Traffic keeps being fine: the override holds through evaluations.
    gw.post_chat(&chat("acme/chat")).await;
    evaluate(&gw, 2);
    let components = get(&gw, "/status/api/v2/components.json").await;
    assert_eq!(
        component(&components, "via Alpha")["status"],
        "major_outage"
    );
    let (_, list) = admin(&gw, Method::GET, "/admin/status/overrides", &key, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");

    let (code, _) = admin(
        &gw,
        Method::DELETE,
        &format!("/admin/status/components/{alpha_group}/override"),
        &key,
        None,
    )
    .await;
    assert_eq!(code, 200);
    let components = get(&gw, "/status/api/v2/components.json").await;
    assert_eq!(component(&components, "Alpha")["status"], "operational");

    // An override until a time ends by itself.
    let (code, _) = admin(
        &gw,
        Method::PUT,
        &format!("/admin/status/components/{beta_leaf}/override"),
        &key,
        Some(json!({"status": "partial_outage", "until": clock::iso(clock::now_ms() + 300)})),
    )
    .await;
    assert_eq!(code, 200);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    evaluate(&gw, 1);
    let components = get(&gw, "/status/api/v2/components.json").await;
    assert_eq!(component(&components, "via Beta")["status"], "operational");

    for (id, body, code) in [
        (
            beta_leaf.as_str(),
            json!({"status": "major_outage", "until": clock::iso(clock::now_ms() - 1000)}),
            400,
        ),
        (gateway_api.as_str(), json!({"status": "major_outage"}), 400),
        ("nope", json!({"status": "major_outage"}), 404),
        (beta_leaf.as_str(), json!({"status": "on_fire"}), 400),
    ] {
        let (got, err) = admin(
            &gw,
            Method::PUT,
            &format!("/admin/status/components/{id}/override"),
            &key,
            Some(body),
        )
        .await;
        assert_eq!(got, code, "{id}: {err}");
    }
}
