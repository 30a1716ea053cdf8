//! Several instances behind a load balancer: one PostgreSQL ledger, one Redis. Rate limits,
//! balances and revocations hold across instances (DESIGN.md §5). Runs under CI; elsewhere
//! skips with a reason when PostgreSQL or Redis is unreachable.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

fn priced(base_url: &str) -> String {
    format!(
        "[auth]\nrequire_key = true\n{}[[models]]\nid = \"acme/chat\"\ncontext_length = 8192\n  [[models.endpoints]]\n  provider = \"acme\"\n  upstream_model = \"chat-1\"\n  prompt_price = \"0\"\n  completion_price = \"0.001\"\n  max_completion_tokens = 100\n",
        provider("acme", "Acme", base_url, ""),
    )
}

/// Two instances on a fresh PostgreSQL database and the local Redis.
async fn pair(mock_url: &str) -> Option<(Gateway, Gateway, String)> {
    let db = turnout_store::scratch::postgres().await?;
    let redis = redis().await?;
    let toml = priced(mock_url);
    let a = Gateway::start_shared(&toml, &db, Some(&redis)).await;
    let b = Gateway::start_shared(&toml, &db, Some(&redis)).await;
    let admin = db_key(&a, "default", "operator", true).await;
    Some((a, b, admin))
}

async fn create_key(gw: &Gateway, admin: &str, body: Value) -> (String, String) {
    let resp = gw
        .http
        .post(gw.url("/api/v1/keys"))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let v: Value = resp.json().await.unwrap();
    (
        v["key"].as_str().unwrap().to_owned(),
        v["data"]["hash"].as_str().unwrap().to_owned(),
    )
}

async fn chat(gw: &Gateway, key: &str) -> u16 {
    gw.http
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "acme/chat", "max_tokens": 5,
            "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_60_rpm_key_gets_60_requests_a_minute_across_two_instances() {
    let m = mock(fast()).await;
    let Some((a, b, admin)) = pair(&m.base_url()).await else {
        return;
    };
    let (key, _) = create_key(
        &a,
        &admin,
        json!({"name": "rpm", "account": "acme", "rate_limit": {"requests_per_minute": 60}}),
    )
    .await;
    let requests = (0..200).map(|i| {
        let (gw, key) = (if i % 2 == 0 { &a } else { &b }, &key);
        async move { chat(gw, key).await }
    });
    let statuses = futures_util::future::join_all(requests).await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!((58..=62).contains(&ok), "{ok} succeeded: {statuses:?}");
    assert_eq!(ok + limited, 200, "{statuses:?}");
}

#[tokio::test]
async fn credits_hold_across_instances_and_a_revocation_reaches_the_other_within_a_second() {
    const N: usize = 10;
    let m = mock(fast()).await;
    let Some((a, b, admin)) = pair(&m.base_url()).await else {
        return;
    };
    let (key, hash) = create_key(&a, &admin, json!({"name": "load", "account": "acme"})).await;
    let resp = a
        .http
        .post(a.url("/admin/credits"))
        .bearer_auth(&admin)
        .json(&json!({"account": "acme", "amount": 0.005 * N as f64}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Instance b learns of the credit through the ledger and applies it once, not twice.
    tokio::time::sleep(Duration::from_millis(700)).await;

    let requests = (0..10 * N).map(|i| {
        let (gw, key) = (if i % 2 == 0 { &a } else { &b }, &key);
        async move { chat(gw, key).await }
    });
    let statuses = futures_util::future::join_all(requests).await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(ok, N, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 402).count(), 9 * N);
    a.state.accounts().flush().await;
    b.state.accounts().flush().await;
    let (totals, _) = a.state.accounts().store().account_totals(0).await.unwrap();
    let acme = totals.iter().find(|t| t.account == "acme").unwrap();
    assert_eq!(
        acme.usage, acme.credits,
        "the generations cost exactly the credit"
    );

    let resp = a
        .http
        .patch(a.url(&format!("/api/v1/keys/{hash}")))
        .bearer_auth(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let revoked = Instant::now();
    while chat(&b, &key).await != 401 {
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "b still accepts the key"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
