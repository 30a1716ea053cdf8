//! The binary as users run it: `config check`, a bad config refusing to start, and
//! `serve --demo` answering offline.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::BIN;

fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("turnout-cli-{name}-{}.toml", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

const BAD: &str = r#"[server]
listen = "127.0.0.1:8080"
colour = "blue"

[[providers]]
slug = "acme"
kind = "openai"
base_url = "not a url"

[[models]]
id = "acme/chat"
  [[models.endpoints]]
  provider = "ghost"
  prompt_price = "-1"
  completion_price = "0"
"#;

#[test]
fn config_check_reports_every_problem_with_file_line_and_field() {
    let path = temp_file("bad", BAD);
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    for (line, field) in [
        (3, "colour"),
        (8, "base_url"),
        (13, "provider"),
        (14, "prompt_price"),
    ] {
        let located = format!("{file}:{line}:");
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&located) && l.contains(field)),
            "no problem reported at {located} naming {field}:\n{stderr}"
        );
    }
    let _ = std::fs::remove_file(path);
}

#[test]
fn config_check_accepts_a_good_file() {
    let path = temp_file(
        "good",
        "[[providers]]\nslug = \"a\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n[[models]]\nid = \"a/b\"\n  [[models.endpoints]]\n  provider = \"a\"\n  prompt_price = \"0.000001\"\n  completion_price = \"0.000002\"\n",
    );
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_bad_config_never_starts_a_server() {
    let path = temp_file("refuse", BAD);
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3:", path.display())),
        "{stderr}"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn serve_demo_answers_offline_and_stops_on_sigterm() {
    let mut child = Command::new(BIN)
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The demo prints a hint on stdout once it listens.
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let started = Instant::now();
    // The hint names the address the OS picked: `curl -s http://127.0.0.1:<port>/api/v1/…`.
    let mut port = None;
    while started.elapsed() < Duration::from_secs(20) {
        match lines.next() {
            Some(Ok(line)) if line.contains("curl") => {
                port = line
                    .split("http://127.0.0.1:")
                    .nth(1)
                    .and_then(|rest| rest.split('/').next())
                    .and_then(|p| p.parse::<u16>().ok());
                break;
            }
            Some(_) => {}
            None => break,
        }
    }
    let port = port.expect("the demo did not come up");

    turnout_gateway::upstream::client::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body: serde_json::Value = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/api/v1/chat/completions"))
            .body(r#"{"model":"demo/fast","messages":[{"role":"user","content":"Hello"}]}"#)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(body["model"], "demo/fast");
    assert_eq!(body["provider"], "Fast Mock");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit after SIGTERM: {status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn config_for(mock_url: &str, model_id: &str) -> String {
    format!(
        "[auth]\nrequire_key = false\n[[providers]]\nslug = \"m\"\nkind = \"openai\"\nbase_url = \"{mock_url}\"\n\
         [[models]]\nid = \"{model_id}\"\n  [[models.endpoints]]\n  provider = \"m\"\n  prompt_price = \"0\"\n  completion_price = \"0\"\n"
    )
}

async fn wait_ready(port: u16) {
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/ready"))
            .send()
            .await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gateway on {port} never became ready");
}

async fn status_of(port: u16, model: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/chat/completions"))
        .json(&serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn serve_reads_turnout_toml_and_reloads_it_on_sighup() {
    turnout_gateway::upstream::client::install_crypto_provider();
    let mock = turnout_mock::MockServer::start(turnout_mock::MockConfig::default())
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("turnout-cli-hup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("turnout.toml"),
        config_for(&mock.base_url(), "m/before"),
    )
    .unwrap();
    let server = common::serve(&dir, &[]);
    let port = server.port;
    wait_ready(port).await;
    assert_eq!(status_of(port, "m/before").await, 200);

    std::fs::write(
        dir.join("turnout.toml"),
        config_for(&mock.base_url(), "m/after"),
    )
    .unwrap();
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut reloaded = false;
    for _ in 0..100 {
        if status_of(port, "m/after").await == 200 {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reloaded, "SIGHUP did not load the new file");
    assert_eq!(status_of(port, "m/before").await, 400);

    // A broken file is rejected and the running config kept.
    std::fs::write(dir.join("turnout.toml"), "[[models]]\nid = 3\n").unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status_of(port, "m/after").await, 200);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

fn run_ok(args: &[&str], dir: &std::path::Path) -> String {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "turnout {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn keys_and_credits_commands_work_next_to_a_running_server() {
    turnout_gateway::upstream::client::install_crypto_provider();
    let mock = turnout_mock::MockServer::start(turnout_mock::MockConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&mock.base_url(), "m/chat").replace(
        "require_key = false",
        "require_key = true\n[storage]\ndatabase_url = \"sqlite://accounts.db\"",
    );
    std::fs::write(dir.path().join("turnout.toml"), config).unwrap();

    run_ok(&["migrate"], dir.path());
    let created = run_ok(
        &["keys", "create", "--name", "ops", "--management"],
        dir.path(),
    );
    let admin = created.lines().last().unwrap().to_owned();
    assert!(admin.starts_with("sk-tn-v1-"), "{created}");
    let created = run_ok(
        &[
            "keys",
            "create",
            "--name",
            "app",
            "--account",
            "acme",
            "--rpm",
            "100",
        ],
        dir.path(),
    );
    let user = created.lines().last().unwrap().to_owned();
    let listed = run_ok(&["keys", "list"], dir.path());
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        !listed.contains(&admin[12..]),
        "a listing never shows a secret"
    );
    let shown = run_ok(&["credits", "add", "--account", "acme", "2.5"], dir.path());
    assert!(shown.contains("acme") && shown.contains("2.5"), "{shown}");

    let server = common::serve(dir.path(), &[]);
    let port = server.port;
    wait_ready(port).await;
    let http = reqwest::Client::new();
    let credits: serde_json::Value = http
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/credits?account=acme"
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(credits["data"]["total_credits"], 2.5);

    let chat = |key: String| {
        let http = http.clone();
        async move {
            http.post(format!("http://127.0.0.1:{port}/api/v1/chat/completions"))
                .bearer_auth(key)
                .json(&serde_json::json!({"model": "m/chat", "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(chat(user.clone()).await, 200);
    // Credits added and keys revoked by the CLI reach the running server within a second.
    run_ok(&["credits", "add", "--account", "acme", "1"], dir.path());
    let hash = turnout_store::keys::hash(&user);
    run_ok(&["keys", "revoke", &hash], dir.path());
    let revoked = Instant::now();
    while chat(user.clone()).await != 401 {
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "revoked key still accepted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let credits: serde_json::Value = http
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/credits?account=acme"
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(credits["data"]["total_credits"], 3.5);
}
