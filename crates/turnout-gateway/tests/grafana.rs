//! The Grafana dashboard in `grafana/turnout-dashboard.json` is importable JSON, and every
//! metric its queries read is one the gateway exports on `/metrics` once it has served
//! traffic (a renamed metric would leave a panel silently empty).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use serde_json::Value;
use turnout_gateway::status::probe::ProbeSettings;

/// Metric names in a PromQL expression (ours all start with `turnout_` or `gen_ai_`), with a
/// histogram's `_bucket`/`_sum`/`_count` suffix taken off.
fn metrics_in(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|t| t.starts_with("turnout_") || t.starts_with("gen_ai_"))
        .map(|t| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| t.strip_suffix(s))
                .unwrap_or(t)
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn every_metric_the_dashboard_reads_is_exported() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../grafana/turnout-dashboard.json"
    );
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(dashboard["uid"], "turnout-gateway");
    let mut wanted = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has no query", panel["title"]);
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            let names = metrics_in(expr);
            assert!(!names.is_empty(), "no metric in {expr}");
            wanted.extend(names);
        }
    }

    let m = mock(fast()).await;
    let gw = Gateway::start_probing(
        &format!(
            "{OPEN}{}{}",
            provider("p", "P", &m.base_url(), ""),
            model("x/chat", &[("p", "m")])
        ),
        ProbeSettings {
            interval: Duration::from_millis(100),
            jitter: 0.0,
            ..ProbeSettings::default()
        },
    )
    .await;
    assert_eq!(gw.post_chat(&chat("x/chat")).await.status(), 200);
    let streamed = gw
        .post_chat(&with(chat("x/chat"), "stream", true.into()))
        .await;
    assert_eq!(streamed.status(), 200);
    let _ = streamed.text().await.unwrap();
    let probes = gw.state.probes().clone();
    eventually("a probe", || {
        probes.summary("p|x/chat").is_some_and(|s| s.total >= 1)
    })
    .await;
    gw.state.accounts().flush().await;

    let text = gw
        .http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported: BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .flat_map(metrics_in)
        .collect();
    let missing: Vec<&String> = wanted.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "the dashboard reads metrics /metrics lacks: {missing:?}"
    );
}
