//! Maintenance windows through the admin API and the config file: covered components show
//! `under_maintenance` (and no incident opens while they fail), Statuspage's
//! scheduled-maintenances endpoints list them in its shape, deleting a window returns the
//! components to their computed status, and only management keys may touch windows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use std::collections::BTreeSet;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use turnout_store::clock;

const NO_BREAKER: &str = "[routing]\nbreaker = { consecutive = 100000, min_requests = 100000 }\nretry = { initial_ms = 1, max_ms = 1 }\n";

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

fn at(offset_ms: i64) -> String {
    clock::iso(clock::now_ms() + offset_ms)
}

const HOUR: i64 = 3_600_000;

/// A weekly recurrence that is not in progress today: three days from now, 02:00 UTC.
fn in_three_days_at_two() -> String {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    // 1970-01-01 was a Thursday.
    let today = (clock::now_ms() / 86_400_000 + 3) % 7;
    format!("{} 02:00", DAYS[((today + 3) % 7) as usize])
}

async fn gateway(a: &str, b: &str, status: &str) -> Gateway {
    let toml = format!(
        "{OPEN}{NO_BREAKER}{}{}{}[status.incidents]\nauto_open = {{ after = \"0s\" }}\n{status}",
        provider("a", "Alpha", a, ""),
        provider("b", "Beta", b, ""),
        model("acme/chat", &[("a", "m"), ("b", "m")]),
    );
    Gateway::start(&toml).await
}

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

fn by_name<'a>(components: &'a Value, name: &str) -> &'a Value {
    components
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name || c["description"].as_str().is_some_and(|d| d.contains(name)))
        .unwrap()
}

#[tokio::test]
async fn a_window_puts_its_components_under_maintenance_and_is_listed_like_statuspage() {
    let (a, b) = (mock(failing(503, None)).await, mock(fast()).await);
    let gw = gateway(&a.base_url(), &b.base_url(), "").await;
    let key = management_key(&gw).await;

    let (status, created) = admin(
        &gw,
        Method::POST,
        "/admin/status/maintenances",
        &key,
        Some(json!({
            "name": "Alpha upgrade",
            "body": "Alpha is being upgraded.",
            "start": at(-60_000),
            "end": at(HOUR),
            "providers": ["a"],
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let window_id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["data"]["origin"], "api");
    assert_eq!(created["data"]["occurrences"][0]["status"], "in_progress");

    let (status, _) = admin(
        &gw,
        Method::POST,
        "/admin/status/maintenances",
        &key,
        Some(json!({"name": "Next week", "every": in_three_days_at_two(), "duration": "1h", "models": ["acme/chat"]})),
    )
    .await;
    assert_eq!(status, 201);

    // Alpha fails throughout: under maintenance it stays blue and opens no incident.
    for _ in 0..20 {
        let body = with(
            chat("acme/chat"),
            "provider",
            json!({"order": ["a"], "allow_fallbacks": false}),
        );
        assert_eq!(gw.post_chat(&body).await.status(), 503);
    }
    for _ in 0..3 {
        gw.state
            .status()
            .evaluate(gw.state.health(), gw.state.probes());
    }
    let summary = get(&gw, "/status/api/v2/summary.json").await;
    let components = &summary["components"];
    assert_eq!(
        by_name(components, "via Alpha")["status"],
        "under_maintenance"
    );
    assert_eq!(
        by_name(components, "Alpha")["status"],
        "under_maintenance",
        "the group"
    );
    assert_eq!(by_name(components, "via Beta")["status"], "operational");
    assert_eq!(by_name(components, "Gateway API")["status"], "operational");
    assert_eq!(
        summary["status"]["indicator"], "maintenance",
        "{}",
        summary["status"]
    );
    assert_eq!(
        summary["status"]["description"],
        "Service Under Maintenance"
    );
    assert!(
        summary["incidents"].as_array().unwrap().is_empty(),
        "{summary}"
    );
    assert_eq!(
        summary["scheduled_maintenances"].as_array().unwrap().len(),
        2,
        "in progress and upcoming"
    );

    let active = get(&gw, "/status/api/v2/scheduled-maintenances/active.json").await;
    let list = active["scheduled_maintenances"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{active}");
    let m = &list[0];
    assert_eq!(m["id"], window_id);
    assert_eq!(m["status"], "in_progress");
    assert_eq!(m["impact"], "maintenance");
    assert_eq!(m["name"], "Alpha upgrade");
    // An incident's keys plus scheduled_for / scheduled_until, as Statuspage has them.
    let mut expected = keys(&fixture("discord_incidents.json")["incidents"][0]);
    expected.extend(["scheduled_for".to_owned(), "scheduled_until".to_owned()]);
    assert_eq!(keys(m), expected);
    let update_keys =
        keys(&fixture("discord_incidents.json")["incidents"][0]["incident_updates"][0]);
    let updates = m["incident_updates"].as_array().unwrap();
    assert_eq!(
        updates
            .iter()
            .map(|u| u["status"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["in_progress", "scheduled"],
        "newest first"
    );
    assert_eq!(keys(&updates[0]), update_keys);
    assert_eq!(updates[1]["body"], "Alpha is being upgraded.");
    let covered: Vec<&str> = m["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(covered.contains(&"Alpha"), "{covered:?}");
    assert!(!covered.contains(&"Beta"), "{covered:?}");
    assert!(m["scheduled_for"].is_string() && m["scheduled_until"].is_string());

    let upcoming = get(&gw, "/status/api/v2/scheduled-maintenances/upcoming.json").await;
    let list = upcoming["scheduled_maintenances"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{upcoming}");
    assert_eq!(list[0]["name"], "Next week");
    assert_eq!(list[0]["status"], "scheduled");
    assert_eq!(list[0]["incident_updates"].as_array().unwrap().len(), 1);
    let all = get(&gw, "/status/api/v2/scheduled-maintenances.json").await;
    assert!(
        all["scheduled_maintenances"].as_array().unwrap().len() >= 3,
        "in progress, next and last week's completed occurrence: {all}"
    );
    assert!(
        all["scheduled_maintenances"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["status"] == "completed" && m["resolved_at"].is_string())
    );

    let html = gw
        .http
        .get(gw.url("/status"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Alpha upgrade") && html.contains("In progress"),
        "{html}"
    );
    assert!(html.contains("Under maintenance"));

    // Ending the window: Alpha goes back to what its traffic says (it has been failing).
    let (status, deleted) = admin(
        &gw,
        Method::DELETE,
        &format!("/admin/status/maintenances/{window_id}"),
        &key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{deleted}");
    let summary = get(&gw, "/status/api/v2/summary.json").await;
    assert_eq!(
        by_name(&summary["components"], "via Alpha")["status"],
        "major_outage"
    );
    let active = get(&gw, "/status/api/v2/scheduled-maintenances/active.json").await;
    assert!(
        active["scheduled_maintenances"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    gw.state
        .status()
        .evaluate(gw.state.health(), gw.state.probes());
    let summary = get(&gw, "/status/api/v2/summary.json").await;
    assert_eq!(
        summary["incidents"].as_array().unwrap().len(),
        1,
        "out of maintenance, the outage opens an incident: {summary}"
    );
}

#[tokio::test]
async fn config_windows_are_listed_and_only_the_file_removes_them() {
    let (a, b) = (mock(fast()).await, mock(fast()).await);
    let status = format!(
        "[[status.maintenance]]\nname = \"Nightly\"\nevery = \"daily 03:00\"\nduration = \"30m\"\nproviders = [\"b\"]\n[[status.maintenance]]\nname = \"Everything\"\nstart = \"{}\"\nend = \"{}\"\n",
        at(-60_000),
        at(HOUR)
    );
    let gw = gateway(&a.base_url(), &b.base_url(), &status).await;
    let key = management_key(&gw).await;
    gw.state
        .status()
        .evaluate(gw.state.health(), gw.state.probes());
    let (code, list) = admin(&gw, Method::GET, "/admin/status/maintenances", &key, None).await;
    assert_eq!(code, 200);
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{list}");
    assert_eq!(data[0]["origin"], "config");
    assert_eq!(data[0]["schedule"]["every"], "daily 03:00");
    assert_eq!(data[0]["schedule"]["duration"], "30m");

    // A window without providers or models covers the whole page, the Gateway API too.
    let summary = get(&gw, "/status/api/v2/summary.json").await;
    for c in summary["components"].as_array().unwrap() {
        assert_eq!(c["status"], "under_maintenance", "{c}");
    }
    let id = data[1]["id"].as_str().unwrap();
    let (code, err) = admin(
        &gw,
        Method::DELETE,
        &format!("/admin/status/maintenances/{id}"),
        &key,
        None,
    )
    .await;
    assert_eq!(code, 400, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("config file")
    );
    let (code, _) = admin(
        &gw,
        Method::DELETE,
        "/admin/status/maintenances/nope",
        &key,
        None,
    )
    .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn windows_need_a_management_key_and_a_valid_body() {
    let (a, b) = (mock(fast()).await, mock(fast()).await);
    let gw = gateway(&a.base_url(), &b.base_url(), "").await;
    let anonymous = gw
        .http
        .get(gw.url("/admin/status/maintenances"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let key = management_key(&gw).await;
    let (_, created) = admin(
        &gw,
        Method::POST,
        "/api/v1/keys",
        &key,
        Some(json!({"name": "app"})),
    )
    .await;
    let app_key = created["key"].as_str().unwrap();
    let (code, _) = admin(
        &gw,
        Method::GET,
        "/admin/status/maintenances",
        app_key,
        None,
    )
    .await;
    assert_eq!(code, 403, "an inference key cannot manage the page");

    for (body, says) in [
        (
            json!({"name": "x", "start": "tomorrow", "end": at(HOUR)}),
            "start:",
        ),
        (
            json!({"name": "x", "start": at(HOUR), "end": at(0)}),
            "end: must be after start",
        ),
        (
            json!({"name": "x", "start": at(-2 * HOUR), "end": at(-HOUR)}),
            "already over",
        ),
        (
            json!({"name": "x", "every": "someday", "duration": "1h"}),
            "every:",
        ),
        (
            json!({"name": "x", "every": "sun 02:00", "duration": "8d"}),
            "duration:",
        ),
        (
            json!({"name": "x", "start": at(0), "end": at(HOUR), "every": "sun 02:00", "duration": "1h"}),
            "not both",
        ),
        (
            json!({"name": "x", "start": at(0), "end": at(HOUR), "providers": ["nope"]}),
            "unknown provider `nope`",
        ),
        (
            json!({"name": "x", "start": at(0), "end": at(HOUR), "components": ["nope"]}),
            "unknown component `nope`",
        ),
        (
            json!({"name": "x", "start": at(0), "end": at(HOUR), "color": "red"}),
            "unknown field `color`",
        ),
    ] {
        let (code, err) = admin(
            &gw,
            Method::POST,
            "/admin/status/maintenances",
            &key,
            Some(body.clone()),
        )
        .await;
        assert_eq!(code, 400, "{body}: {err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
}

#[tokio::test]
async fn windows_made_through_the_api_survive_a_restart_and_deleted_ones_stay_gone() {
    let (a, b) = (mock(fast()).await, mock(fast()).await);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("maint.db").display());
    let toml = format!(
        "{OPEN}{NO_BREAKER}{}{}{}",
        provider("a", "Alpha", &a.base_url(), ""),
        provider("b", "Beta", &b.base_url(), ""),
        model("acme/chat", &[("a", "m"), ("b", "m")]),
    );
    let gw = Gateway::start_with_db(&toml, &db).await;
    let key = management_key(&gw).await;
    let mut ids = Vec::new();
    for (name, body) in [
        (
            "now",
            json!({"name": "Alpha upgrade", "start": at(-60_000), "end": at(HOUR), "providers": ["a"]}),
        ),
        (
            "weekly",
            json!({"name": "Weekly restart", "every": in_three_days_at_two(), "duration": "1h", "models": ["acme/chat"]}),
        ),
    ] {
        let (status, created) = admin(
            &gw,
            Method::POST,
            "/admin/status/maintenances",
            &key,
            Some(body),
        )
        .await;
        assert_eq!(status, 201, "{name}: {created}");
        ids.push(created["data"]["id"].as_str().unwrap().to_owned());
    }
    let (status, _) = admin(
        &gw,
        Method::DELETE,
        &format!("/admin/status/maintenances/{}", ids[1]),
        &key,
        None,
    )
    .await;
    assert_eq!(status, 200);
    gw.shutdown().await;

    let gw = Gateway::start_with_db(&toml, &db).await;
    let mut listed = Vec::new();
    for _ in 0..100 {
        let (code, list) = admin(&gw, Method::GET, "/admin/status/maintenances", &key, None).await;
        assert_eq!(code, 200);
        listed = list["data"].as_array().unwrap().clone();
        if !listed.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let names: Vec<&str> = listed.iter().filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(names, ["Alpha upgrade"], "the deleted window stays gone");
    assert_eq!(
        listed[0]["id"],
        ids[0].as_str(),
        "same id after the restart"
    );
    assert_eq!(listed[0]["origin"], "api");
    gw.state
        .status()
        .evaluate(gw.state.health(), gw.state.probes());
    let active = get(&gw, "/status/api/v2/scheduled-maintenances/active.json").await;
    assert_eq!(
        active["scheduled_maintenances"][0]["name"], "Alpha upgrade",
        "{active}"
    );
}
