//! `[status]` in TOML takes effect: the same failing traffic gets a different verdict under
//! different thresholds and hysteresis, incident rules come from the file, a SIGHUP-style
//! reload applies new thresholds to components already tracked, and `enabled = false` hides
//! the page.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use common::*;
use serde_json::Value;
use turnout_gateway::server;

const NO_BREAKER: &str = "[routing]\nbreaker = { consecutive = 100000, min_requests = 100000 }\nretry = { initial_ms = 1, max_ms = 1 }\n";

fn config(base_url: &str, status: &str) -> String {
    format!(
        "{OPEN}{NO_BREAKER}{}{}{status}",
        provider("a", "Alpha", base_url, ""),
        model("acme/chat", &[("a", "m")]),
    )
}

/// Sends `n` requests that all fail upstream with 503.
async fn fail(gw: &Gateway, n: usize) {
    for _ in 0..n {
        assert_eq!(gw.post_chat(&chat("acme/chat")).await.status(), 503);
    }
}

async fn summary(gw: &Gateway) -> Value {
    gw.http
        .get(gw.url("/status/api/v2/summary.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The status of the one model component.
async fn leaf_status(gw: &Gateway) -> String {
    let v = summary(gw).await;
    v["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["group_id"].is_string())
        .map(|c| c["status"].as_str().unwrap().to_owned())
        .unwrap()
}

fn evaluate(gw: &Gateway, times: usize) {
    for _ in 0..times {
        gw.state
            .status()
            .evaluate(gw.state.health(), gw.state.probes());
    }
}

#[tokio::test]
async fn minimum_samples_from_toml_change_the_verdict() {
    let m = mock(failing(503, None)).await;
    let default = Gateway::start(&config(&m.base_url(), "")).await;
    let strict = Gateway::start(&config(
        &m.base_url(),
        "[status.health]\nmin_requests = { fast = 100, main = 100 }\n",
    ))
    .await;
    fail(&default, 20).await;
    fail(&strict, 20).await;
    evaluate(&default, 3);
    evaluate(&strict, 3);
    assert_eq!(leaf_status(&default).await, "major_outage");
    assert_eq!(
        leaf_status(&strict).await,
        "operational",
        "20 requests are too few to judge under min_requests = 100"
    );
}

#[tokio::test]
async fn error_ratio_thresholds_from_toml_change_the_verdict() {
    // 10 failures and 10 successes on one endpoint: 50 % errors, a major outage by default
    // (≥ 50 %), a partial outage (≥ 5 %) with major_error_ratio = 0.9. The failures are the
    // upstream rejecting our key (a hard error that is never retried), so the counts are exact.
    let m = mock(fast()).await;
    let default = Gateway::start(&config(&m.base_url(), "")).await;
    let relaxed = Gateway::start(&config(
        &m.base_url(),
        "[status.health]\nthresholds = { major_error_ratio = 0.9 }\n",
    ))
    .await;
    let rejected = with(
        chat("acme/chat"),
        "mock",
        serde_json::json!({"fault": {"type": "status", "status": 401}}),
    );
    for gw in [&default, &relaxed] {
        for _ in 0..10 {
            assert_eq!(gw.post_chat(&rejected).await.status(), 502);
            assert_eq!(gw.post_chat(&chat("acme/chat")).await.status(), 200);
        }
        evaluate(gw, 3);
    }
    assert_eq!(leaf_status(&default).await, "major_outage");
    assert_eq!(leaf_status(&relaxed).await, "partial_outage");
}

#[tokio::test]
async fn worsening_confirmation_from_toml() {
    let m = mock(failing(503, None)).await;
    let quick = Gateway::start(&config(
        &m.base_url(),
        "[status.health]\nhysteresis = { worsen_evals_outage = 1 }\n",
    ))
    .await;
    let default = Gateway::start(&config(&m.base_url(), "")).await;
    fail(&quick, 20).await;
    fail(&default, 20).await;
    evaluate(&quick, 1);
    evaluate(&default, 1);
    assert_eq!(leaf_status(&quick).await, "major_outage");
    assert_eq!(
        leaf_status(&default).await,
        "operational",
        "by default a major outage needs 2 evaluations"
    );
}

#[tokio::test]
async fn incidents_open_as_the_file_says() {
    let m = mock(failing(503, None)).await;
    let gw = Gateway::start(&config(
        &m.base_url(),
        "[status.incidents]\nauto_open = { after = \"0s\" }\n",
    ))
    .await;
    fail(&gw, 20).await;
    evaluate(&gw, 3);
    let v = summary(&gw).await;
    assert_eq!(
        v["incidents"].as_array().unwrap().len(),
        1,
        "opened at once: {v}"
    );

    let never = Gateway::start(&config(
        &m.base_url(),
        "[status.incidents]\nauto_open = { on = [], after = \"0s\" }\n",
    ))
    .await;
    fail(&never, 20).await;
    evaluate(&never, 3);
    let v = summary(&never).await;
    assert_eq!(leaf_status(&never).await, "major_outage");
    assert!(v["incidents"].as_array().unwrap().is_empty(), "{v}");
}

#[tokio::test]
async fn reload_applies_new_thresholds_to_tracked_components() {
    let m = mock(failing(503, None)).await;
    let slow = config(
        &m.base_url(),
        "[status.health]\nhysteresis = { worsen_evals_outage = 10, worsen_evals_degraded = 10 }\n",
    );
    let path =
        std::env::temp_dir().join(format!("turnout-status-reload-{}.toml", std::process::id()));
    std::fs::write(&path, &slow).unwrap();
    let gw = Gateway::start(&slow).await;
    fail(&gw, 20).await;
    evaluate(&gw, 3);
    assert_eq!(leaf_status(&gw).await, "operational", "3 of 10 evaluations");

    std::fs::write(
        &path,
        config(
            &m.base_url(),
            "[status.health]\nhysteresis = { worsen_evals_outage = 4 }\n",
        ),
    )
    .unwrap();
    assert!(server::reload(&gw.state, &path));
    evaluate(&gw, 1);
    assert_eq!(
        leaf_status(&gw).await,
        "major_outage",
        "the 4th evaluation confirms under the reloaded threshold"
    );

    std::fs::write(
        &path,
        config(
            &m.base_url(),
            "[status.health]\nthresholds = { major_error_ratio = 2.0 }\n",
        ),
    )
    .unwrap();
    assert!(
        !server::reload(&gw.state, &path),
        "a bad threshold is rejected"
    );
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn a_disabled_page_is_not_served() {
    let m = mock(fast()).await;
    let gw = Gateway::start(&config(&m.base_url(), "[status]\nenabled = false\n")).await;
    for path in ["/status", "/status/api/v2/summary.json"] {
        let resp = gw.http.get(gw.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
    let named = Gateway::start(&config(
        &m.base_url(),
        "[status]\nname = \"Acme\"\npublic_url = \"https://gw.acme.example/status/\"\n",
    ))
    .await;
    let v = summary(&named).await;
    assert_eq!(v["page"]["name"], "Acme");
    assert_eq!(v["page"]["url"], "https://gw.acme.example/status");
}
