//! Active probes: a backup endpoint that carries no live traffic is probed, its failure shows
//! on the status page and sends it to the back of the routing order before any user needs it;
//! busy endpoints are not probed; provider credentials are checked on their own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use turnout_gateway::status::probe::ProbeSettings;

fn quick() -> ProbeSettings {
    ProbeSettings {
        interval: Duration::from_millis(150),
        suspect_interval: Duration::from_millis(100),
        jitter: 0.0,
        provider_interval: Duration::from_millis(150),
        ..ProbeSettings::default()
    }
}

async fn component_status(gw: &Gateway, description: &str) -> String {
    let v: Value = gw
        .http
        .get(gw.url("/status/api/v2/components.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["description"] == description)
        .unwrap_or_else(|| panic!("no component {description}: {v}"))["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_idle_failing_backup_is_found_by_probes_and_routed_around() {
    let broken = mock(failing(500, None)).await;
    let good = mock(fast()).await;
    // The broken provider is first in the model's order: without probes, the first user
    // request would pay for discovering it.
    let gw = Gateway::start_probing(
        &format!(
            "{OPEN}{}{}{}",
            provider("bad", "Bad", &broken.base_url(), ""),
            provider("good", "Good", &good.base_url(), ""),
            model("x/chat", &[("bad", "m"), ("good", "m")])
        ),
        quick(),
    )
    .await;

    let probes = gw.state.probes().clone();
    eventually("three failed probes of the broken endpoint", || {
        probes
            .summary("bad|x/chat")
            .is_some_and(|s| s.total - s.ok >= 3)
    })
    .await;
    eventually("an ok probe of the good endpoint", || {
        probes.summary("good|x/chat").is_some_and(|s| s.ok >= 1)
    })
    .await;
    let last = probes.summary("bad|x/chat").unwrap().last.unwrap();
    assert!(!last.ok);
    assert_eq!(last.http_status, Some(500));
    assert_eq!(last.error_class, Some("server_error"));
    let ok = probes.summary("good|x/chat").unwrap().last.unwrap();
    assert!(
        ok.ok && ok.ttft_ms.is_some() && ok.output_tokens >= 1,
        "{ok:?}"
    );

    // The probe is a short, tagged, streamed request.
    let sent = good.stats().last_request.unwrap();
    assert_eq!(sent["user"], "gateway-probe");
    assert_eq!(sent["max_tokens"], 4);
    assert_eq!(sent["stream"], true);

    // Status derivation reads the probes: consecutive failures with no live success make a
    // major outage once confirmed (two evaluations), while the good endpoint stays up.
    for _ in 0..2 {
        gw.state
            .status()
            .evaluate(gw.state.health(), gw.state.probes());
    }
    assert_eq!(
        component_status(&gw, "x/chat via Bad").await,
        "major_outage"
    );
    assert_eq!(
        component_status(&gw, "x/chat via Good").await,
        "operational"
    );

    // Stop probing, then a user request: it goes to the good endpoint first, and the broken
    // one never sees it.
    let runtime = gw.state.runtime();
    let config = turnout_config::load_str(
        &format!(
            "{OPEN}{}{}{}",
            provider("bad", "Bad", &broken.base_url(), ""),
            provider("good", "Good", &good.base_url(), ""),
            model("x/chat", &[("bad", "m"), ("good", "m")])
        ),
        "test.toml",
    )
    .unwrap();
    let mut quiet = turnout_gateway::Runtime::build(&config).unwrap();
    quiet.probes.enabled = false;
    drop(runtime);
    gw.state.swap(quiet);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let before = broken.stats().requests;
    let resp = gw.post_chat(&chat("x/chat")).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["provider"], "Good");
    assert_eq!(
        broken.stats().requests,
        before,
        "the request went to the endpoint probes found broken"
    );
}

#[tokio::test]
async fn probes_are_never_billed_or_recorded_as_generations() {
    let good = mock(fast()).await;
    let gw = Gateway::start_probing(
        &format!(
            "{OPEN}{}{}",
            provider("good", "Good", &good.base_url(), ""),
            model("x/chat", &[("good", "m")])
        ),
        quick(),
    )
    .await;
    let probes = gw.state.probes().clone();
    eventually("two ok probes", || {
        probes.summary("good|x/chat").is_some_and(|s| s.ok >= 2)
    })
    .await;
    // One user request next to them: it is the only generation on record.
    let resp = gw.post_chat(&chat("x/chat")).await;
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    gw.state.accounts().flush().await;
    let store = gw.state.accounts().store();
    let recorded = store.recent_generations("default", 100).await.unwrap();
    let ids: Vec<&str> = recorded.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, [id.as_str()], "probes left generation records");
}

#[tokio::test]
async fn live_traffic_makes_probes_unnecessary() {
    let good = mock(fast()).await;
    let gw = Gateway::start_probing(
        &format!(
            "{OPEN}{}{}",
            provider("good", "Good", &good.base_url(), ""),
            model("x/chat", &[("good", "m")])
        ),
        ProbeSettings {
            max_consecutive_skips: 1_000,
            ..quick()
        },
    )
    .await;
    // Wait for the first probe so the schedule is running, then keep the endpoint busy.
    let probes = gw.state.probes().clone();
    eventually("a first probe", || {
        probes.summary("good|x/chat").is_some_and(|s| s.total >= 1)
    })
    .await;
    for _ in 0..8 {
        assert_eq!(gw.post_chat(&chat("x/chat")).await.status(), 200);
    }
    let probed = probes.summary("good|x/chat").unwrap().total;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let after = probes.summary("good|x/chat").unwrap();
    assert!(
        after.skipped >= 2,
        "due probes were skipped while live traffic proves health: {after:?}"
    );
    assert!(
        after.total <= probed + 1,
        "probes kept running beside live traffic: {probed} → {}",
        after.total
    );
}

#[tokio::test]
async fn each_providers_credentials_and_reachability_are_checked() {
    let good = mock(fast()).await;
    let gone = turnout_mock::RefusingPort::new().unwrap();
    let gemini = format!(
        "[[providers]]\nslug = \"gm\"\nkind = \"gemini\"\nbase_url = \"{}\"\napi_key = \"k\"\n",
        good.gemini_base_url()
    );
    let gw = Gateway::start_probing(
        &format!(
            "{OPEN}{}{}{}{}",
            provider("good", "Good", &good.base_url(), ""),
            provider("gone", "Gone", &gone.base_url(), ""),
            gemini,
            model("x/chat", &[("good", "m"), ("gone", "m"), ("gm", "m")])
        ),
        quick(),
    )
    .await;
    let probes = gw.state.probes().clone();
    eventually("every provider checked", || {
        ["good", "gone", "gm"]
            .iter()
            .all(|p| probes.provider(p).is_some())
    })
    .await;
    let ok = probes.provider("good").unwrap();
    assert!(ok.ok && ok.http_status == Some(200), "{ok:?}");
    // Gemini lists its models at `{base}/models` too, with its key header.
    let gm = gw.state.probes().provider("gm").unwrap();
    assert!(gm.ok, "{gm:?}");
    let down = probes.provider("gone").unwrap();
    assert!(!down.ok, "{down:?}");
    assert!(
        down.detail
            .as_deref()
            .unwrap()
            .contains("connection failed"),
        "{down:?}"
    );
}

#[test]
fn probe_settings_come_from_the_status_probes_section() {
    let toml = format!(
        "{OPEN}[status.probes]\ninterval = \"45s\"\nsuspect_interval = \"5s\"\njitter = 0\n\
         adaptive_skip = {{ min_ok_live_requests = 7, max_consecutive_skips = 3 }}\n\
         concurrency = {{ global = 4, per_provider = 1 }}\nmax_daily_tokens_per_provider = 1000\n{}{}",
        provider("good", "Good", "http://127.0.0.1:9/v1", ""),
        model("x/chat", &[("good", "m")])
    );
    let config = turnout_config::load_str(&toml, "probes.toml").unwrap();
    let p = turnout_gateway::Runtime::build(&config).unwrap().probes;
    assert_eq!(p.interval, Duration::from_secs(45));
    assert_eq!(p.suspect_interval, Duration::from_secs(5));
    assert_eq!(p.jitter, 0.0);
    assert_eq!((p.min_ok_live_requests, p.max_consecutive_skips), (7, 3));
    assert_eq!((p.global_concurrency, p.per_provider_concurrency), (4, 1));
    assert_eq!(p.max_daily_tokens_per_provider, 1000);
    assert!(p.enabled);
    let off = turnout_config::load_str(
        &toml.replace("[status.probes]\n", "[status.probes]\nenabled = false\n"),
        "probes.toml",
    )
    .unwrap();
    assert!(
        !turnout_gateway::Runtime::build(&off)
            .unwrap()
            .probes
            .enabled
    );
}
