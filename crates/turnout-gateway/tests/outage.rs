//! A total outage must not become a retry storm: two providers serving one model both answer
//! 503 while clients send 20 requests per second for 30 s. Budgets and breakers together must
//! keep the upstream requests at most 1.3 per client request (naive retrying gives 3-4×).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_total_outage_costs_at_most_1_3_upstream_requests_per_client_request() {
    let down = || failing(503, None);
    let (a, b) = (mock(down()).await, mock(down()).await);
    let gw = Gateway::start(&format!(
        "{OPEN}{}{}{}",
        provider("a", "A", &a.base_url(), ""),
        provider("b", "B", &b.base_url(), ""),
        model("x/chat", &[("a", "m"), ("b", "m")])
    ))
    .await;

    let rate = 20;
    let seconds = 30;
    let total = rate * seconds;
    let started = Instant::now();
    let mut interval = tokio::time::interval(Duration::from_millis(1000 / rate));
    let mut tasks = Vec::with_capacity(total as usize);
    for _ in 0..total {
        interval.tick().await;
        let http = gw.http.clone();
        let url = gw.url("/api/v1/chat/completions");
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let resp = http.post(url).json(&chat("x/chat")).send().await.unwrap();
            (resp.status().as_u16(), t.elapsed())
        }));
    }
    let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
    let mut slow = 0;
    for t in tasks {
        let (status, took) = t.await.unwrap();
        *statuses.entry(status).or_default() += 1;
        if took > Duration::from_secs(5) {
            slow += 1;
        }
    }
    let upstream = a.stats().requests + b.stats().requests;
    let ratio = upstream as f64 / total as f64;
    eprintln!(
        "outage: {total} client requests in {:?}, {upstream} upstream requests ({ratio:.3} per request), statuses {statuses:?}",
        started.elapsed()
    );
    assert!(
        ratio <= 1.3,
        "{upstream} upstream requests for {total} client requests"
    );
    assert_eq!(
        statuses.get(&503).copied().unwrap_or(0),
        total,
        "every client gets a 503: {statuses:?}"
    );
    assert_eq!(slow, 0, "no client waits more than 5 s");
}
