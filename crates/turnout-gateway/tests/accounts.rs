//! Accounts: keys, credits with holds (402), key limits, rate limits (429), generation records
//! and settlement of streams — through the HTTP API, as an operator and their users see it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use turnout_mock::MockConfig;
use turnout_store::{NewKey, keys};

/// One endpoint where a request costs exactly its completion tokens × $0.001 (no prompt
/// price), so a hold for `max_tokens` equals the cost of a reply of that many words.
fn priced(base_url: &str) -> String {
    format!(
        "{}{}[[models]]\nid = \"acme/chat\"\ncontext_length = 8192\n  [[models.endpoints]]\n  provider = \"acme\"\n  upstream_model = \"chat-1\"\n  prompt_price = \"0\"\n  completion_price = \"0.001\"\n  max_completion_tokens = 100\n",
        "[auth]\nrequire_key = true\n",
        provider("acme", "Acme", base_url, ""),
    )
}

/// A management key on the `default` account, made the way `turnout keys create
/// --management` makes it.
async fn bootstrap(gw: &Gateway) -> String {
    db_key(gw, "default", "operator", true).await
}

async fn call(
    gw: &Gateway,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = gw.http.request(method, gw.url(path)).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn chat_as(gw: &Gateway, key: &str, body: &Value) -> reqwest::Response {
    gw.http
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn five_words(stream: bool) -> Value {
    json!({
        "model": "acme/chat",
        "messages": [{"role": "user", "content": "Hello there"}],
        "max_tokens": 5,
        "stream": stream,
    })
}

async fn new_key(gw: &Gateway, admin: &str, body: Value) -> (String, String) {
    let (status, created) =
        call(gw, reqwest::Method::POST, "/api/v1/keys", admin, Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let secret = created["key"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("sk-tn-v1-"));
    assert_eq!(created["data"]["hash"], keys::hash(&secret));
    (secret, created["data"]["hash"].as_str().unwrap().to_owned())
}

async fn add_credits(gw: &Gateway, admin: &str, account: &str, amount: f64) {
    let (status, body) = call(
        gw,
        reqwest::Method::POST,
        "/admin/credits",
        admin,
        Some(json!({"account": account, "amount": amount})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn generation(gw: &Gateway, key: &str, id: &str) -> Value {
    gw.state.accounts().flush().await;
    let (status, body) = call(
        gw,
        reqwest::Method::GET,
        &format!("/api/v1/generation?id={id}"),
        key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

#[tokio::test]
async fn management_keys_create_keys_that_work_until_disabled_or_deleted() {
    let m = mock(fast()).await;
    let gw = Gateway::start(&priced(&m.base_url())).await;
    let admin = bootstrap(&gw).await;

    // A management key cannot do inference, an inference key cannot manage.
    let resp = chat_as(&gw, &admin, &five_words(false)).await;
    assert_eq!(resp.status(), 403);
    let (secret, hash) = new_key(
        &gw,
        &admin,
        json!({"name": "ci", "account": "acme", "limit": 1.5, "limit_reset": "monthly"}),
    )
    .await;
    let (status, _) = call(&gw, reqwest::Method::GET, "/api/v1/keys", &secret, None).await;
    assert_eq!(status, 403);

    let resp = chat_as(&gw, &secret, &five_words(false)).await;
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["usage"]["cost"], 0.005);

    let (status, me) = call(&gw, reqwest::Method::GET, "/api/v1/key", &secret, None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["data"]["usage"], 0.005);
    assert_eq!(me["data"]["limit"], 1.5);
    assert_eq!(me["data"]["limit_remaining"], 1.495);
    assert_eq!(me["data"]["limit_reset"], "monthly");
    assert_eq!(me["data"]["is_management_key"], false);
    assert_eq!(me["data"]["is_free_tier"], true);

    let g = generation(&gw, &secret, &id).await;
    assert_eq!(g["id"], id);
    assert_eq!(g["model"], "acme/chat");
    assert_eq!(g["provider_name"], "Acme");
    assert_eq!(g["total_cost"], 0.005);
    assert_eq!(g["tokens_completion"], 5);
    assert_eq!(g["streamed"], false);
    assert_eq!(g["provider_responses"][0]["status"], 200);
    // Another account's generation is not found, even by id.
    let (status, _) = call(
        &gw,
        reqwest::Method::GET,
        &format!("/api/v1/generation?id={id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 404);

    let (status, listed) = call(&gw, reqwest::Method::GET, "/api/v1/keys", &admin, None).await;
    assert_eq!(status, 200);
    let listed = listed["data"].as_array().unwrap();
    assert!(listed.iter().any(|k| k["hash"] == hash.as_str()));
    assert!(
        !listed.iter().any(|k| k.to_string().contains(&secret)),
        "a listing never shows a secret"
    );

    let (status, patched) = call(
        &gw,
        reqwest::Method::PATCH,
        &format!("/api/v1/keys/{hash}"),
        &admin,
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["data"]["disabled"], true);
    let resp = chat_as(&gw, &secret, &five_words(false)).await;
    assert_eq!(resp.status(), 401);

    let (status, _) = call(
        &gw,
        reqwest::Method::DELETE,
        &format!("/api/v1/keys/{hash}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let resp = chat_as(&gw, &secret, &five_words(false)).await;
    assert_eq!(resp.status(), 401);
    let (status, _) = call(
        &gw,
        reqwest::Method::GET,
        &format!("/api/v1/keys/{hash}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

/// An account with credit for exactly N requests gets exactly N of 10×N concurrent ones;
/// the rest get 402 and the balance ends at exactly zero.
async fn exactly_the_affordable_requests_succeed(database_url: &str) {
    const N: usize = 10;
    let m = mock(fast()).await;
    let gw = Gateway::start_with_db(&priced(&m.base_url()), database_url).await;
    let admin = bootstrap(&gw).await;
    let (secret, _) = new_key(&gw, &admin, json!({"name": "load", "account": "acme"})).await;
    add_credits(&gw, &admin, "acme", 0.005 * N as f64).await;

    let requests = (0..10 * N).map(|i| {
        let (gw, secret) = (&gw, &secret);
        async move {
            let resp = chat_as(gw, secret, &five_words(i % 2 == 0)).await;
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap();
            (status, body)
        }
    });
    let results = futures_util::future::join_all(requests).await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let refused: Vec<_> = results.iter().filter(|(s, _)| *s == 402).collect();
    assert_eq!(ok, N, "{results:?}");
    assert_eq!(refused.len(), 9 * N);
    assert!(
        refused[0].1.contains("Insufficient credits") || refused[0].1.contains("can only afford"),
        "{}",
        refused[0].1
    );

    gw.state.accounts().flush().await;
    let (_, credits) = call(
        &gw,
        reqwest::Method::GET,
        "/api/v1/credits?account=acme",
        &admin,
        None,
    )
    .await;
    assert_eq!(credits["data"]["total_credits"], 0.05);
    assert_eq!(credits["data"]["total_usage"], 0.05, "{credits}");
    // The database agrees with memory: balance = credits − Σ generation costs.
    let (totals, _) = gw.state.accounts().store().account_totals(0).await.unwrap();
    let acme = totals.iter().find(|t| t.account == "acme").unwrap();
    assert_eq!(acme.credits, acme.usage);
    let generations = gw
        .state
        .accounts()
        .store()
        .recent_generations("acme", 1000)
        .await
        .unwrap();
    assert_eq!(generations.len(), N);
    let sum: i64 = generations.iter().map(|g| g.cost.0).sum();
    assert_eq!(turnout_store::Nanos(sum), acme.usage);
}

#[tokio::test]
async fn credit_holds_admit_exactly_what_the_balance_affords_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exactly_the_affordable_requests_succeed(&turnout_store::scratch::sqlite(dir.path())).await;
}

#[tokio::test]
async fn credit_holds_admit_exactly_what_the_balance_affords_on_postgres() {
    if let Some(url) = turnout_store::scratch::postgres().await {
        exactly_the_affordable_requests_succeed(&url).await;
    }
}

#[tokio::test]
async fn a_request_that_cannot_be_afforded_is_told_how_many_tokens_it_can() {
    let m = mock(fast()).await;
    let gw = Gateway::start(&priced(&m.base_url())).await;
    let admin = bootstrap(&gw).await;
    let (secret, _) = new_key(&gw, &admin, json!({"name": "k", "account": "acme"})).await;
    add_credits(&gw, &admin, "acme", 0.02).await;
    // Without max_tokens the hold is the endpoint's 100 tokens = $0.1.
    let resp = chat_as(&gw, &secret, &chat("acme/chat")).await;
    assert_eq!(resp.status(), 402);
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("You requested up to 100 tokens, but can only afford 20"),
        "{message}"
    );
    assert_eq!(body["error"]["code"], 402);
    assert_eq!(body["error"]["metadata"]["error_type"], "payment_required");
    // A failed request costs nothing: the balance is intact for an affordable one.
    let resp = chat_as(&gw, &secret, &five_words(false)).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_key_limit_caps_spend_independently_of_the_balance() {
    let m = mock(fast()).await;
    let gw = Gateway::start(&priced(&m.base_url())).await;
    let admin = bootstrap(&gw).await;
    let (secret, _) = new_key(
        &gw,
        &admin,
        json!({"name": "capped", "account": "acme", "limit": 0.01, "limit_reset": "daily"}),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(
            chat_as(&gw, &secret, &five_words(false)).await.status(),
            200
        );
    }
    let resp = chat_as(&gw, &secret, &five_words(false)).await;
    assert_eq!(resp.status(), 402);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["metadata"]["limit_source"], "key_limit");
}

#[tokio::test]
async fn a_keys_rate_limit_answers_429_with_rate_limit_headers() {
    let m = mock(fast()).await;
    let gw = Gateway::start(&priced(&m.base_url())).await;
    let admin = bootstrap(&gw).await;
    let (secret, _) = new_key(
        &gw,
        &admin,
        json!({"name": "slow", "account": "acme", "rate_limit": {"requests_per_minute": 3}}),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(
            chat_as(&gw, &secret, &five_words(false)).await.status(),
            200
        );
    }
    let resp = chat_as(&gw, &secret, &five_words(false)).await;
    assert_eq!(resp.status(), 429);
    let h = resp.headers();
    assert_eq!(h["x-ratelimit-limit"], "3");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    let reset: i64 = h["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
    let now = turnout_store::clock::now_ms();
    assert!(reset > now && reset <= now + 60_000, "{reset} vs {now}");
    let wait: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    assert_eq!(
        m.stats().requests,
        3,
        "a limited request never reaches the provider"
    );
}

#[tokio::test]
async fn allowed_models_restrict_what_a_key_can_call() {
    let m = mock(fast()).await;
    let gw = Gateway::start(&priced(&m.base_url())).await;
    let admin = bootstrap(&gw).await;
    let (secret, _) = new_key(
        &gw,
        &admin,
        json!({"name": "narrow", "account": "acme", "allowed_models": ["other/*"]}),
    )
    .await;
    let resp = chat_as(&gw, &secret, &five_words(false)).await;
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("acme/chat")
    );
}

#[tokio::test]
async fn a_streamed_request_costs_what_the_same_non_streamed_one_does() {
    let m = mock(fast()).await;
    let gw = Gateway::start(&priced(&m.base_url())).await;
    let admin = bootstrap(&gw).await;
    let (secret, _) = new_key(&gw, &admin, json!({"name": "s", "account": "acme"})).await;
    add_credits(&gw, &admin, "acme", 1.0).await;

    let plain = chat_as(&gw, &secret, &five_words(false)).await;
    let plain_id = plain.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let streamed = chat_as(&gw, &secret, &five_words(true)).await;
    let streamed_id = streamed.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let events = sse_lines(streamed).await;
    let usage_chunk = events
        .iter()
        .filter_map(|e| data_json(e))
        .next_back()
        .unwrap();
    assert_eq!(usage_chunk["usage"]["cost"], 0.005);

    let (a, b) = (
        generation(&gw, &secret, &plain_id).await,
        generation(&gw, &secret, &streamed_id).await,
    );
    assert_eq!(a["total_cost"], b["total_cost"]);
    assert_eq!(b["streamed"], true);
    assert_eq!(b["cancelled"], false);
    let (_, credits) = call(
        &gw,
        reqwest::Method::GET,
        "/api/v1/credits?account=acme",
        &admin,
        None,
    )
    .await;
    assert_eq!(credits["data"]["total_usage"], 0.01);
}

#[tokio::test]
async fn a_client_that_disconnects_is_billed_only_for_what_was_generated() {
    // 20 words, one every 50 ms: the client leaves after the first few.
    let m = mock(MockConfig {
        chunks: 20,
        chunk_delay_ms: 50,
        ..fast()
    })
    .await;
    let gw = Gateway::start(&priced(&m.base_url())).await;
    let admin = bootstrap(&gw).await;
    let (secret, _) = new_key(&gw, &admin, json!({"name": "c", "account": "acme"})).await;
    add_credits(&gw, &admin, "acme", 1.0).await;

    let mut body = five_words(true);
    body["max_tokens"] = json!(20);
    let mut resp = chat_as(&gw, &secret, &body).await;
    let id = resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut seen = 0;
    while seen < 3 {
        let chunk = resp.chunk().await.unwrap().unwrap();
        seen += String::from_utf8_lossy(&chunk)
            .matches("\"content\"")
            .count();
    }
    drop(resp);
    eventually("the mock sees the cancellation", || {
        m.stats().cancelled == 1
    })
    .await;

    let mut g = Value::Null;
    for _ in 0..50 {
        gw.state.accounts().flush().await;
        if let Ok(Some(found)) = gw.state.accounts().store().generation(&id).await {
            g = json!({"cancelled": found.cancelled, "tokens": found.tokens_completion, "cost": found.cost.0});
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(g["cancelled"], true, "{g}");
    let tokens = g["tokens"].as_u64().unwrap();
    assert!((1..20).contains(&tokens), "billed {tokens} tokens of 20");
    let (_, credits) = call(
        &gw,
        reqwest::Method::GET,
        "/api/v1/credits?account=acme",
        &admin,
        None,
    )
    .await;
    let usage = credits["data"]["total_usage"].as_f64().unwrap();
    assert!(
        usage > 0.0 && usage < 0.02,
        "charged {usage} for a cancelled stream"
    );
}

#[tokio::test]
async fn a_key_revoked_by_another_process_stops_working_within_a_second() {
    let m = mock(fast()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = turnout_store::scratch::sqlite(dir.path());
    let gw = Gateway::start_with_db(&priced(&m.base_url()), &url).await;
    let admin = bootstrap(&gw).await;
    let (secret, hash) = new_key(&gw, &admin, json!({"name": "r", "account": "acme"})).await;
    assert_eq!(
        chat_as(&gw, &secret, &five_words(false)).await.status(),
        200
    );

    // `turnout keys revoke` from another process: same database, no call to this gateway.
    let other = turnout_store::Store::open(&url).await.unwrap();
    assert!(other.delete_key(&hash).await.unwrap());
    let revoked = std::time::Instant::now();
    loop {
        let status = chat_as(&gw, &secret, &five_words(false)).await.status();
        if status == 401 {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_millis(1_000),
            "still accepted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Credits added from another process count within a second too.
    other
        .add_credits("acme", turnout_store::Nanos(0), None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert!(gw.state.accounts().bank().account("acme").metered);
}

#[tokio::test]
async fn activity_shows_each_providers_share() {
    let (a, b) = (mock(fast()).await, mock(fast()).await);
    let toml = format!(
        "[auth]\nrequire_key = true\n{}{}{}",
        provider("a", "Alpha", &a.base_url(), ""),
        provider("b", "Beta", &b.base_url(), ""),
        model("acme/chat", &[("a", "m"), ("b", "m")]),
    );
    let gw = Gateway::start(&toml).await;
    let admin = bootstrap(&gw).await;
    let (secret, _) = new_key(&gw, &admin, json!({"name": "k"})).await;
    for i in 0..4 {
        let order = if i < 3 { ["a", "b"] } else { ["b", "a"] };
        let resp = chat_as(&gw, &secret, &ordered(chat("acme/chat"), &order)).await;
        assert_eq!(resp.status(), 200);
    }
    gw.state.accounts().flush().await;
    let (status, activity) =
        call(&gw, reqwest::Method::GET, "/api/v1/activity", &admin, None).await;
    assert_eq!(status, 200, "{activity}");
    let providers = activity["providers"].as_array().unwrap();
    let alpha = providers
        .iter()
        .find(|p| p["provider_name"] == "Alpha")
        .unwrap();
    assert_eq!(alpha["requests"], 3);
    assert_eq!(alpha["request_share"], 0.75);
    let rows = activity["data"].as_array().unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| r["requests"].as_u64().unwrap())
            .sum::<u64>(),
        4
    );
}

#[tokio::test]
async fn a_key_made_elsewhere_shows_its_limit_before_its_first_use() {
    let m = mock(fast()).await;
    let gw = Gateway::start(&priced(&m.base_url())).await;
    let admin = bootstrap(&gw).await;
    // As `turnout keys create --limit 2 --limit-reset weekly` would, with no request since.
    let store = gw.state.accounts().store();
    store.ensure_account("acme").await.unwrap();
    let k = store
        .create_key(
            &keys::generate(),
            &NewKey {
                account: "acme".into(),
                name: "cli".into(),
                limit: Some(turnout_store::Nanos(2_000_000_000)),
                limit_reset: Some(turnout_store::LimitReset::Weekly),
                ..NewKey::default()
            },
        )
        .await
        .unwrap();
    let (status, v) = call(
        &gw,
        reqwest::Method::GET,
        &format!("/api/v1/keys/{}", k.hash),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["limit"], 2.0);
    assert_eq!(v["data"]["limit_remaining"], 2.0);
    assert_eq!(v["data"]["limit_reset"], "weekly");
}
