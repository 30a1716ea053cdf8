//! Test harness: mock providers and a gateway on loopback ports chosen by the OS.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods
)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use turnout_gateway::status::probe::ProbeSettings;
use turnout_gateway::{AppState, Runtime, server};
use turnout_mock::{MockConfig, MockServer};

pub struct Gateway {
    pub addr: SocketAddr,
    pub state: AppState,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Gateway {
    /// A gateway whose accounts live in an in-memory SQLite database.
    pub async fn start(toml: &str) -> Gateway {
        Gateway::start_with_db(toml, "sqlite::memory:").await
    }

    pub async fn start_with_db(toml: &str, database_url: &str) -> Gateway {
        Gateway::start_shared(toml, database_url, None).await
    }

    /// One of several instances sharing a database and, when given, Redis.
    pub async fn start_shared(toml: &str, database_url: &str, redis_url: Option<&str>) -> Gateway {
        Gateway::start_tuned(toml, database_url, redis_url, |_| {}).await
    }

    /// A gateway that probes its endpoints with `probes` (other gateways never probe, so mock
    /// request counts are the test's own).
    pub async fn start_probing(toml: &str, probes: ProbeSettings) -> Gateway {
        Gateway::start_tuned(toml, "sqlite::memory:", None, move |rt| rt.probes = probes).await
    }

    pub async fn start_tuned(
        toml: &str,
        database_url: &str,
        redis_url: Option<&str>,
        tune: impl FnOnce(&mut Runtime),
    ) -> Gateway {
        let config = turnout_config::load_str(toml, "test.toml").expect("test config is valid");
        let accounts = turnout_gateway::accounting::Accounts::open_shared(database_url, redis_url)
            .await
            .expect("accounts database");
        let mut runtime = Runtime::build(&config).expect("runtime");
        runtime.probes.enabled = false;
        tune(&mut runtime);
        let state = AppState::new(runtime, accounts);
        let listener = server::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(
            listener,
            state.clone(),
            async move {
                let _ = rx.await;
            },
            Duration::from_secs(5),
        ));
        Gateway {
            addr,
            state,
            http: reqwest::Client::new(),
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn post_chat(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url("/api/v1/chat/completions"))
            .json(body)
            .send()
            .await
            .expect("gateway answers")
    }

    pub async fn post_raw(&self, path: &str, body: &'static str) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .body(body)
            .send()
            .await
            .expect("gateway answers")
    }

    /// Stops accepting, drains, and waits for the server to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The local Redis, or `None` (with the reason) when it is unreachable outside CI.
pub async fn redis() -> Option<String> {
    let addr = "127.0.0.1:6379";
    match tokio::net::TcpStream::connect(addr).await {
        Ok(_) => Some(format!("redis://{addr}")),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but Redis at {addr} is unreachable: {e}"
            );
            eprintln!("skipping: Redis at {addr} is unreachable ({e})");
            None
        }
    }
}

/// A key of `account` made as `turnout keys create` makes it (the account must exist);
/// returns its secret.
pub async fn db_key(gw: &Gateway, account: &str, name: &str, management: bool) -> String {
    let secret = turnout_store::keys::generate();
    gw.state
        .accounts()
        .store()
        .create_key(
            &secret,
            &turnout_store::NewKey {
                account: account.into(),
                name: name.into(),
                is_management: management,
                ..turnout_store::NewKey::default()
            },
        )
        .await
        .unwrap();
    secret
}

/// Changes the key of `secret` in the database and, at once, in the gateway's key cache.
pub async fn patch_key(gw: &Gateway, secret: &str, patch: turnout_store::KeyPatch) {
    let accounts = gw.state.accounts();
    let k = accounts
        .store()
        .update_key(&turnout_store::keys::hash(secret), &patch)
        .await
        .unwrap()
        .expect("a live key");
    accounts.apply_key_change(k);
}

pub async fn mock(config: MockConfig) -> MockServer {
    MockServer::start(config).await.expect("mock starts")
}

pub fn fast() -> MockConfig {
    MockConfig {
        name: "mock".into(),
        chunks: 5,
        ..MockConfig::default()
    }
}

/// A mock that answers every request with `status` (and `Retry-After` when given).
pub fn failing(status: u16, retry_after: Option<u64>) -> MockConfig {
    MockConfig {
        fault: Some(turnout_mock::Fault::Status {
            status,
            retry_after,
            body: None,
        }),
        ..fast()
    }
}

/// A provider block for a mock.
pub fn provider(slug: &str, name: &str, base_url: &str, extra: &str) -> String {
    format!(
        "[[providers]]\nslug = \"{slug}\"\nname = \"{name}\"\nkind = \"openai\"\nbase_url = \"{base_url}\"\n{extra}\n"
    )
}

/// A model block with endpoints `(provider slug, upstream model)`.
pub fn model(id: &str, endpoints: &[(&str, &str)]) -> String {
    let mut s = format!("[[models]]\nid = \"{id}\"\ncontext_length = 8192\n");
    for (p, up) in endpoints {
        s.push_str(&format!(
            "  [[models.endpoints]]\n  provider = \"{p}\"\n  upstream_model = \"{up}\"\n  prompt_price = \"0.00000015\"\n  completion_price = \"0.0000006\"\n  max_completion_tokens = 1000\n"
        ));
    }
    s
}

pub const OPEN: &str = "[auth]\nrequire_key = false\n";

pub fn chat(model: &str) -> Value {
    serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": "Hello there"}],
    })
}

/// Pins the provider order (the default order is a price-weighted random pick).
pub fn ordered(body: Value, providers: &[&str]) -> Value {
    with(body, "provider", serde_json::json!({ "order": providers }))
}

pub fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

/// Reads an SSE body into its lines of `data:` payloads and comments, in order.
pub async fn sse_lines(resp: reqwest::Response) -> Vec<String> {
    let text = resp.text().await.expect("body");
    text.split("\n\n")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub fn data_json(event: &str) -> Option<Value> {
    let payload = event.strip_prefix("data: ")?;
    if payload == "[DONE]" {
        return None;
    }
    Some(serde_json::from_str(payload).expect("chunk is JSON"))
}

/// Waits (bounded) until `f` holds.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// A management key on the `default` account, made the way `turnout keys create
/// --management` makes it.
pub async fn management_key(gw: &Gateway) -> String {
    let secret = turnout_store::keys::generate();
    gw.state
        .accounts()
        .store()
        .create_key(
            &secret,
            &turnout_store::NewKey {
                account: "default".into(),
                name: "operator".into(),
                is_management: true,
                ..turnout_store::NewKey::default()
            },
        )
        .await
        .expect("management key");
    secret
}

/// A management-key call: `(status, JSON body)`.
pub async fn admin(
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
    let resp = req.send().await.expect("gateway answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}
