//! `kill -9` under load: after a restart the restarted server's balance is the ledger's
//! (credits − Σ recorded generations: each generation is its own charge, keyed by its id, so
//! none can count twice), no hold survives, and every generation whose response reached its
//! client before the last group-commit window is on record.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BIN, serve};

fn run_ok(args: &[&str], dir: &std::path::Path) -> String {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn wait_ready(port: u16) {
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/ready")).await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("gateway on {port} never became ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_nothing_beyond_the_commit_window() {
    turnout_gateway::upstream::client::install_crypto_provider();
    let mock = turnout_mock::MockServer::start(turnout_mock::MockConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("turnout.toml"),
        format!(
            "[storage]\ndatabase_url = \"sqlite://crash.db\"\n\
             [[providers]]\nslug = \"m\"\nkind = \"openai\"\nbase_url = \"{}\"\n\
             [[models]]\nid = \"m/chat\"\n  [[models.endpoints]]\n  provider = \"m\"\n  \
             prompt_price = \"0.000001\"\n  completion_price = \"0.000002\"\n  max_completion_tokens = 50\n",
            mock.base_url()
        ),
    )
    .unwrap();
    let key = run_ok(
        &["keys", "create", "--name", "load", "--account", "acme"],
        dir.path(),
    )
    .lines()
    .last()
    .unwrap()
    .to_owned();
    run_ok(&["credits", "add", "--account", "acme", "1000"], dir.path());

    let mut server = serve(dir.path(), &[]);
    let port = server.port;
    wait_ready(port).await;

    // (generation id, when its response body was complete)
    let served: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let http = reqwest::Client::new();
    let clients: Vec<_> = (0..16)
        .map(|i| {
            let (served, stop, http, key) =
                (served.clone(), stop.clone(), http.clone(), key.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let resp = http
                        .post(format!("http://127.0.0.1:{port}/api/v1/chat/completions"))
                        .bearer_auth(&key)
                        .json(&serde_json::json!({
                            "model": "m/chat",
                            "stream": i % 2 == 0,
                            "messages": [{"role": "user", "content": "count to ten"}],
                        }))
                        .send()
                        .await;
                    let Ok(resp) = resp else { continue };
                    if resp.status() != 200 {
                        continue;
                    }
                    let id = resp.headers()["x-generation-id"]
                        .to_str()
                        .unwrap()
                        .to_owned();
                    // A stream counts as delivered only when it reached [DONE].
                    if let Ok(body) = resp.text().await
                        && (i % 2 == 1 || body.contains("[DONE]"))
                    {
                        served.lock().unwrap().push((id, Instant::now()));
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let killed_at = Instant::now();
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    let served = std::mem::take(&mut *served.lock().unwrap());
    assert!(
        served.len() > 100,
        "only {} requests served before the kill",
        served.len()
    );

    // Restart on the same database: recovery is just loading the ledger.
    let server = serve(dir.path(), &[]);
    let port = server.port;
    wait_ready(port).await;
    let store = turnout_store::Store::open(&format!(
        "sqlite://{}",
        dir.path().join("crash.db").display()
    ))
    .await
    .unwrap();
    let (totals, _) = store.account_totals(0).await.unwrap();
    let acme = totals.iter().find(|t| t.account == "acme").unwrap();
    let generations = store.recent_generations("acme", 1_000_000).await.unwrap();
    let charged: i64 = generations.iter().map(|g| g.cost.0).sum();
    assert_eq!(
        acme.usage.0, charged,
        "ledger charges = Σ generation costs (none twice)"
    );
    assert_eq!(acme.credits, turnout_store::Nanos::from_usd(1000.into()));

    let recorded: std::collections::HashSet<&str> =
        generations.iter().map(|g| g.id.as_str()).collect();
    let lost: Vec<&(String, Instant)> = served
        .iter()
        .filter(|(id, _)| !recorded.contains(id.as_str()))
        .collect();
    eprintln!(
        "crash test: {} responses delivered before kill -9, {} generation records on disk, {} lost",
        served.len(),
        generations.len(),
        lost.len()
    );
    for (id, at) in &lost {
        let before_kill = killed_at.saturating_duration_since(*at);
        assert!(
            before_kill < Duration::from_millis(250),
            "{id} was delivered {before_kill:?} before the kill and is not on record"
        );
    }

    // The restarted server's book is the ledger's, with no hold left over: a request for
    // exactly the remaining balance is admitted.
    let remaining = acme.credits.0 - charged;
    assert_eq!(acme.usage.0, charged);
    let resp = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"model": "m/chat", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(remaining > 0);
    drop(server);
}
