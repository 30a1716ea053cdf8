//! Status history that outlives the process: an outage leaves a coloured day on the 90-day
//! bar, an incident in the feed and in the badges; after a restart on the same database the
//! bar and the past incident are still there.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use common::*;
use serde_json::Value;

const NO_BREAKER: &str = "[routing]\nbreaker = { consecutive = 100000, min_requests = 100000 }\nretry = { initial_ms = 1, max_ms = 1 }\n";

fn config(a: &str, b: &str) -> String {
    format!(
        "{OPEN}{NO_BREAKER}[status]\nname = \"Acme AI\"\n{}{}{}",
        provider("a", "Alpha", a, ""),
        provider("b", "Beta", b, ""),
        model("acme/chat", &[("a", "m"), ("b", "m")]),
    )
}

async fn get(gw: &Gateway, path: &str) -> reqwest::Response {
    gw.http.get(gw.url(path)).send().await.unwrap()
}

async fn json(gw: &Gateway, path: &str) -> Value {
    let resp = get(gw, path).await;
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.unwrap()
}

async fn leaf_id(gw: &Gateway, via: &str) -> String {
    let v = json(gw, "/status/api/v2/components.json").await;
    v["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["description"].as_str().is_some_and(|d| d.ends_with(via)))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_outage_is_kept_in_bars_badges_and_the_feed_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("status.db").display());
    let (a, b) = (mock(failing(503, None)).await, mock(fast()).await);
    let gw = Gateway::start_with_db(&config(&a.base_url(), &b.base_url()), &db).await;
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
    for _ in 0..3 {
        gw.state
            .status()
            .evaluate(gw.state.health(), gw.state.probes());
    }
    gw.state.flush_history().await;
    let alpha = leaf_id(&gw, "via Alpha").await;
    let beta = leaf_id(&gw, "via Beta").await;

    // Today's bar is red for Alpha, with its traffic and incident; Beta's day is green.
    let uptime = json(
        &gw,
        &format!("/status/api/ext/uptime.json?component={alpha}"),
    )
    .await;
    let days = uptime["days"].as_array().unwrap();
    assert_eq!(days.len(), 90);
    let today = days.last().unwrap();
    assert_eq!(today["worst_status"], "major_outage", "{today}");
    assert_eq!(today["request_uptime_pct"], 0.0);
    // Every attempt counts, retries included.
    assert!(
        today["requests"]["errors"].as_u64().unwrap() >= 30,
        "{today}"
    );
    assert_eq!(today["incidents"].as_array().unwrap().len(), 1, "{today}");
    assert!(days[0]["worst_status"].is_null(), "no data 89 days ago");
    let beta_days = json(
        &gw,
        &format!("/status/api/ext/uptime.json?component={beta}&days=7"),
    )
    .await;
    assert_eq!(beta_days["days"].as_array().unwrap().len(), 7);
    assert_eq!(beta_days["days"][6]["worst_status"], "operational");
    assert_eq!(beta_days["uptime_pct"], 100.0);

    // Unknown components and ranges are clear errors.
    assert_eq!(
        get(&gw, "/status/api/ext/uptime.json?component=nope")
            .await
            .status(),
        404
    );
    assert_eq!(get(&gw, "/status/api/ext/uptime.json").await.status(), 400);
    assert_eq!(
        get(
            &gw,
            &format!("/status/components/{alpha}/uptime/1y/badge.svg")
        )
        .await
        .status(),
        400
    );

    // Badges say it in words.
    let resp = get(&gw, &format!("/status/components/{alpha}/badge.svg")).await;
    assert_eq!(resp.headers()["content-type"], "image/svg+xml");
    let svg = resp.text().await.unwrap();
    assert!(
        svg.contains("major outage") && svg.starts_with("<svg"),
        "{svg}"
    );
    let shields = json(&gw, &format!("/status/components/{beta}/badge.shields")).await;
    assert_eq!(shields["schemaVersion"], 1);
    assert_eq!(shields["message"], "operational");
    assert_eq!(shields["color"], "brightgreen");
    let svg = get(
        &gw,
        &format!("/status/components/{beta}/uptime/24h/badge.svg"),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(svg.contains("uptime 24h") && svg.contains("100%"), "{svg}");
    let page = get(&gw, "/status/badge.svg").await.text().await.unwrap();
    assert!(
        page.contains("Acme AI") && page.contains("major system outage"),
        "{page}"
    );

    // The feed has the incident's opening update.
    let resp = get(&gw, "/status/history.atom").await;
    assert_eq!(
        resp.headers()["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let feed = resp.text().await.unwrap();
    assert_eq!(feed.matches("<entry>").count(), 1, "{feed}");
    assert!(
        feed.contains("Alpha: major outage: Investigating"),
        "{feed}"
    );

    // The HTML page draws the bar with a text tooltip per day.
    let html = get(&gw, "/status").await.text().await.unwrap();
    assert!(
        html.contains("<rect class=\"major\""),
        "no red day on the page"
    );
    assert!(
        html.contains("Major outage, uptime"),
        "tooltips spell the day out"
    );
    assert_eq!(html.matches("<svg").count(), 2, "one bar per endpoint");

    let incident_id = json(&gw, "/status/api/v2/incidents.json").await["incidents"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    gw.shutdown().await;

    // Restart on the same database: the bar and the incident are history now.
    let gw = Gateway::start_with_db(&config(&a.base_url(), &b.base_url()), &db).await;
    let mut found = Value::Null;
    for _ in 0..100 {
        let v = json(&gw, "/status/api/v2/incidents.json").await;
        if let Some(i) = v["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == incident_id.as_str())
        {
            found = i.clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(found["status"], "resolved", "{found}");
    assert!(
        found["incident_updates"][0]["body"]
            .as_str()
            .unwrap()
            .contains("restarted"),
        "{found}"
    );
    let unresolved = json(&gw, "/status/api/v2/incidents/unresolved.json").await;
    assert_eq!(unresolved["incidents"].as_array().unwrap().len(), 0);
    // Alpha resumes its outage: a restart neither hides it nor invents a recovery.
    let components = json(&gw, "/status/api/v2/components.json").await;
    let resumed = components["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == alpha.as_str())
        .unwrap()
        .clone();
    assert_eq!(resumed["status"], "major_outage", "{resumed}");
    gw.state.flush_history().await;
    let uptime = json(
        &gw,
        &format!("/status/api/ext/uptime.json?component={alpha}"),
    )
    .await;
    assert_eq!(
        uptime["days"].as_array().unwrap().last().unwrap()["worst_status"],
        "major_outage",
        "today's outage survived the restart"
    );
}

#[tokio::test]
async fn charts_read_live_series_and_assets_are_cached_forever() {
    let (a, b) = (mock(fast()).await, mock(fast()).await);
    let gw = Gateway::start(&config(&a.base_url(), &b.base_url())).await;
    for _ in 0..6 {
        let body = with(
            with(chat("acme/chat"), "stream", true.into()),
            "provider",
            serde_json::json!({"order": ["a"], "allow_fallbacks": false}),
        );
        let resp = gw.post_chat(&body).await;
        assert_eq!(resp.status(), 200);
        let _ = resp.text().await.unwrap();
    }
    let alpha = leaf_id(&gw, "via Alpha").await;
    let m = json(
        &gw,
        &format!("/status/api/ext/metrics.json?component={alpha}&range=24h"),
    )
    .await;
    let ts = m["ts"].as_array().unwrap();
    assert!(!ts.is_empty() && ts.len() <= 2, "{m}");
    for column in [
        "ttft_p50_ms",
        "ttft_p95_ms",
        "tps_p50",
        "error_ratio",
        "req_count",
    ] {
        assert_eq!(m[column].as_array().unwrap().len(), ts.len(), "{column}");
    }
    let requests: u64 = m["req_count"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(requests, 6);
    assert!(
        m["ttft_p50_ms"]
            .as_array()
            .unwrap()
            .iter()
            .any(Value::is_number),
        "{m}"
    );
    let beta = leaf_id(&gw, "via Beta").await;
    let idle = json(
        &gw,
        &format!("/status/api/ext/metrics.json?component={beta}&range=7d"),
    )
    .await;
    assert_eq!(
        idle["ts"].as_array().unwrap().len(),
        0,
        "Beta served nothing"
    );
    assert_eq!(
        get(
            &gw,
            &format!("/status/api/ext/metrics.json?component={alpha}&range=1y")
        )
        .await
        .status(),
        400
    );

    // The page names its scripts by content hash; they are served with immutable caching.
    let html = get(&gw, "/status").await.text().await.unwrap();
    let src = html
        .split("src=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .find(|s| s.contains("/status/assets/uplot."))
        .unwrap()
        .to_owned();
    let resp = get(&gw, &src).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(resp.text().await.unwrap().contains("uPlot"));
    assert_eq!(
        get(&gw, "/status/assets/uplot-LICENSE.txt").await.status(),
        200
    );
    assert_eq!(get(&gw, "/status/assets/nope.js").await.status(), 404);
}
