//! Accounting costs, measured (run by `bench/run.sh`, or `cargo bench -p turnout-gateway
//! --bench accounts`):
//! - writer throughput: generation records/s through the batched writer into SQLite (file,
//!   WAL) — DESIGN.md target ≥ 20,000/s;
//! - the request path's accounting work: authenticate a database key from the cache, take a
//!   hold, settle it (ns per request, single thread).
//!
//! Prints one JSON object per line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use turnout_gateway::accounting::Accounts;
use turnout_gateway::accounting::writer::Writer;
use turnout_store::{AttemptRecord, Generation, Nanos, Store, clock};

fn record(i: usize) -> Generation {
    Generation {
        id: format!("gen-bench-{i:012}"),
        account: "default".into(),
        key_hash: Some("f".repeat(64)),
        created_at_ms: clock::now_ms(),
        model: "bench/chat".into(),
        provider_name: "Bench".into(),
        provider_slug: "bench".into(),
        upstream_model: "chat".into(),
        upstream_id: None,
        streamed: i.is_multiple_of(2),
        cancelled: false,
        finish_reason: Some("stop".into()),
        native_finish_reason: None,
        tokens_prompt: 12,
        tokens_completion: 20,
        tokens_cached: 0,
        tokens_reasoning: 0,
        cost: Nanos(13_800),
        latency_ms: Some(3),
        generation_time_ms: Some(2),
        session_id: None,
        http_referer: None,
        app_title: None,
        user_agent: Some("oha".into()),
        attempts: vec![AttemptRecord {
            provider_name: "Bench".into(),
            model: "bench/chat".into(),
            status: 200,
        }],
    }
}

#[tokio::main]
async fn main() {
    let records: usize = std::env::var("BENCH_WRITER_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let url = turnout_store::scratch::sqlite(dir.path());
    let store = Store::open(&url).await.unwrap();
    store.ensure_account("default").await.unwrap();
    let writer = Writer::start(store.clone());
    let started = Instant::now();
    for i in 0..records {
        writer.submit(record(i)).await;
    }
    writer.flush().await;
    let secs = started.elapsed().as_secs_f64();
    let (totals, _) = store.account_totals(0).await.unwrap();
    let usage = totals
        .iter()
        .find(|t| t.account == "default")
        .unwrap()
        .usage;
    assert_eq!(
        usage,
        Nanos(13_800 * records as i64),
        "every record charged once"
    );
    println!(
        "{{\"bench\":\"writer\",\"backend\":\"sqlite\",\"records\":{records},\"seconds\":{secs:.3},\"records_per_s\":{:.0}}}",
        records as f64 / secs
    );

    // The hot path's accounting: cached key lookup, hold, settle (no database on this path).
    let accounts = Accounts::open(&url).await.unwrap();
    let secret = turnout_store::keys::generate();
    let key = accounts
        .store()
        .create_key(
            &secret,
            &turnout_store::NewKey {
                account: "default".into(),
                name: "bench".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let bank = accounts.bank().clone();
    let n = 1_000_000;
    let hash = turnout_store::keys::hash(&secret);
    accounts.key(&hash).await.unwrap();
    let started = Instant::now();
    for _ in 0..n {
        let hash = turnout_store::keys::hash(&secret);
        let k = accounts.key(&hash).await.unwrap().unwrap();
        let hold = bank
            .hold(&k.account, Some(&key.hash), Nanos(20_000), clock::now_ms())
            .unwrap();
        hold.settle(Nanos(13_800), clock::now_ms());
    }
    let per = started.elapsed().as_nanos() as f64 / n as f64;
    println!("{{\"bench\":\"auth_hold_settle\",\"ns_per_request\":{per:.0}}}");
}
