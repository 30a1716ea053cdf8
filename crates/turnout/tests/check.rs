//! `turnout check` against mock APIs in each state users meet: the right class, advice and
//! exit code for healthy, slow, bad key, no credits, rate limited (with Retry-After), missing
//! model, overloaded, refused, hung and stalled.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use std::process::Command;

use common::BIN;
use serde_json::Value;
use turnout_mock::{Fault, MockConfig, MockServer};

struct Checked {
    code: i32,
    json: Value,
}

async fn check(base_url: String, extra: &[&str]) -> Checked {
    let mut args = vec![
        "check".to_owned(),
        base_url,
        "--json".into(),
        "--timeout".into(),
        "1".into(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .env_remove("OPENROUTER_API_KEY")
            .env_remove("OPENAI_API_KEY")
            .env_remove("TURNOUT_CHECK_API_KEY")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Checked {
        code: out.status.code().unwrap(),
        json,
    }
}

async fn mock_with(fault: Option<Fault>) -> MockServer {
    MockServer::start(MockConfig {
        fault,
        chunks: 3,
        ..MockConfig::default()
    })
    .await
    .unwrap()
}

fn status(status: u16, retry_after: Option<u64>, body: Option<&str>) -> Option<Fault> {
    Some(Fault::Status {
        status,
        retry_after,
        body: body.map(str::to_owned),
    })
}

#[tokio::test]
async fn a_working_api_is_healthy() {
    let m = mock_with(None).await;
    let c = check(m.base_url(), &[]).await;
    assert_eq!(c.code, 0, "{}", c.json);
    assert_eq!(c.json["class"], "healthy");
    assert_eq!(c.json["http_status"], 200);
    assert!(c.json["ttft_ms"].is_u64());
    assert!(
        c.json["model"].is_string(),
        "picks a listed model: {}",
        c.json
    );
}

#[tokio::test]
async fn a_slow_first_token_is_degraded() {
    let m = MockServer::start(MockConfig {
        latency_ms: 300,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let c = check(m.base_url(), &["--slow-ms", "100", "--model", "m"]).await;
    assert_eq!(
        (c.code, c.json["class"].as_str()),
        (3, Some("degraded")),
        "{}",
        c.json
    );
}

#[tokio::test]
async fn a_bad_key_is_auth_not_an_outage() {
    let m = MockServer::start(MockConfig {
        require_key: Some("sk-right".into()),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let c = check(m.base_url(), &["--api-key", "sk-wrong", "--model", "m"]).await;
    assert_eq!(
        (c.code, c.json["class"].as_str()),
        (4, Some("auth")),
        "{}",
        c.json
    );
    assert!(c.json["advice"].as_str().unwrap().contains("not an outage"));
    let ok = check(m.base_url(), &["--api-key", "sk-right", "--model", "m"]).await;
    assert_eq!(ok.code, 0, "{}", ok.json);
}

#[tokio::test]
async fn each_error_status_gets_its_class_and_exit_code() {
    let no_endpoints = r#"{"error":{"code":503,"message":"No endpoints found for m."}}"#;
    let cases: [(Option<Fault>, i32, &str); 5] = [
        (status(402, None, None), 5, "credits"),
        (status(404, None, None), 7, "model_unavailable"),
        (status(503, Some(3), None), 8, "outage"),
        (
            status(503, None, Some(no_endpoints)),
            7,
            "model_unavailable",
        ),
        (status(500, None, None), 8, "outage"),
    ];
    for (fault, code, class) in cases {
        let m = mock_with(fault.clone()).await;
        let c = check(m.base_url(), &["--model", "m"]).await;
        assert_eq!(
            (c.code, c.json["class"].as_str()),
            (code, Some(class)),
            "{fault:?}: {}",
            c.json
        );
    }
}

#[tokio::test]
async fn rate_limits_show_when_to_retry() {
    let m = mock_with(status(429, Some(7), None)).await;
    let c = check(m.base_url(), &["--model", "m"]).await;
    assert_eq!(
        (c.code, c.json["class"].as_str()),
        (6, Some("rate_limited")),
        "{}",
        c.json
    );
    assert!(
        c.json["advice"]
            .as_str()
            .unwrap()
            .contains("retry after 7 s"),
        "{}",
        c.json
    );
}

#[tokio::test]
async fn refused_hung_and_stalled_apis_are_outages() {
    let dead = turnout_mock::RefusingPort::new().unwrap();
    let refused = check(dead.base_url(), &["--model", "m"]).await;
    assert_eq!(
        (refused.code, refused.json["class"].as_str()),
        (8, Some("outage"))
    );

    let hung = mock_with(Some(Fault::HangBeforeHeaders)).await;
    let c = check(hung.base_url(), &["--model", "m"]).await;
    assert_eq!(
        (c.code, c.json["class"].as_str()),
        (8, Some("outage")),
        "{}",
        c.json
    );

    let stalled = mock_with(Some(Fault::StallAfterChunks { after: 1 })).await;
    let started = std::time::Instant::now();
    let c = check(stalled.base_url(), &["--model", "m"]).await;
    assert_eq!(
        (c.code, c.json["class"].as_str()),
        (8, Some("outage")),
        "{}",
        c.json
    );
    assert_eq!(c.json["http_status"], 200);
    assert!(
        c.json["ttft_ms"].is_u64(),
        "content came before the stall: {}",
        c.json
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn a_bad_url_is_a_usage_error() {
    let out = Command::new(BIN)
        .args(["check", "ftp://nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn the_human_report_says_what_was_seen() {
    let m = mock_with(status(429, Some(2), None)).await;
    let url = m.base_url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["check", &url, "--model", "m"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("models list: 200"), "{text}");
    assert!(text.contains("completion: 429"), "{text}");
    assert!(text.contains("Retry-After: 2"), "{text}");
    assert!(
        text.lines().last().unwrap().starts_with("rate_limited:"),
        "{text}"
    );
}

/// Serves `body` as JSON to every request (a stand-in for a provider's status page).
async fn static_json(body: String) -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn a_statuspage_summary_url_is_read_as_a_status_page() {
    let path = format!(
        "{}/../../../shared/fixtures/statuspage/discord_summary.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut summary: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    summary["status"]["indicator"] = "major".into();
    summary["status"]["description"] = "Partial System Outage".into();
    let (port, _server) = static_json(summary.to_string()).await;
    let c = check(format!("http://127.0.0.1:{port}/api/v2/summary.json"), &[]).await;
    assert_eq!(
        (c.code, c.json["class"].as_str()),
        (8, Some("outage")),
        "{}",
        c.json
    );
    assert_eq!(c.json["indicator"], "major");
    assert_eq!(
        c.json["components"].as_array().unwrap().len(),
        summary["components"].as_array().unwrap().len()
    );

    summary["status"]["indicator"] = "none".into();
    let (port, _server) = static_json(summary.to_string()).await;
    let c = check(format!("http://127.0.0.1:{port}/api/v2/summary.json"), &[]).await;
    assert_eq!((c.code, c.json["class"].as_str()), (0, Some("healthy")));

    // Not a status page at all: said plainly, as an outage of the page.
    let (port, _server) = static_json("{\"data\":[]}".into()).await;
    let c = check(format!("http://127.0.0.1:{port}/api/v2/summary.json"), &[]).await;
    assert_eq!(c.code, 8);
    assert!(
        c.json["error"]
            .as_str()
            .unwrap()
            .contains("not a Statuspage v2 summary"),
        "{}",
        c.json
    );
}

#[tokio::test]
async fn turnout_status_reads_a_running_turnouts_own_page() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::serve(dir.path(), &["--demo"]);
    let url = format!("http://127.0.0.1:{}", server.port);
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["status", "--url", &url, "--json"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{json}");
    assert_eq!(json["class"], "healthy");
    assert_eq!(json["page"], "Turnout");
    let names: Vec<&str> = json["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(names.contains(&"Gateway API"), "{names:?}");

    // Nothing listening: a usage-level failure (exit 2), not a verdict on providers.
    let gone = turnout_mock::RefusingPort::new().unwrap();
    let out = Command::new(BIN)
        .args([
            "status",
            "--url",
            &format!("http://127.0.0.1:{}", gone.port()),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach Turnout"));
}
