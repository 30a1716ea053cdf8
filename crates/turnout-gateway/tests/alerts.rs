//! Alerts end to end, on loopback: a provider starts failing, its component reaches a major
//! outage within short test windows, an incident opens, and a local webhook receiver gets a
//! correctly signed payload (the first attempt answered 503 and retried), a Slack-shaped one,
//! and a local SMTP sink receives the email; the provider recovers and the resolved notices
//! arrive. And maintenance: covered components stay quiet while it is announced.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use turnout_gateway::status::alerts::sign;

const NO_BREAKER: &str = "[routing]\nbreaker = { consecutive = 100000, min_requests = 100000 }\nretry = { initial_ms = 1, max_ms = 1 }\n";
const SECRET: &str = "whsec-test-only";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    /// What the receiver answered.
    code: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Statuses to answer first on /hook, in order (then 200).
    script: Arc<Mutex<Vec<u16>>>,
}

async fn receive(
    State(r): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let path = uri.path().to_owned();
    let code = if path == "/hook" {
        let mut script = r.script.lock().unwrap();
        if script.is_empty() {
            200
        } else {
            script.remove(0)
        }
    } else {
        200
    };
    r.hits.lock().unwrap().push(Hit {
        path,
        code,
        headers,
        body,
    });
    StatusCode::from_u16(code).unwrap()
}

async fn receiver(script: &[u16]) -> (Receiver, String) {
    let r = Receiver {
        script: Arc::new(Mutex::new(script.to_vec())),
        ..Receiver::default()
    };
    let app = Router::new().fallback(receive).with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (r, base)
}

/// One mail the sink accepted: its recipients and its DATA.
#[derive(Debug, Clone)]
struct Mail {
    rcpt: Vec<String>,
    data: String,
}

/// Just enough SMTP (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) to accept mail.
async fn smtp_sink() -> (Arc<Mutex<Vec<Mail>>>, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let sink = mails.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ESMTP ready\r\n").await;
                let mut rcpt = Vec::new();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(buf) = data.as_mut() {
                        if line == "." {
                            sink.lock().unwrap().push(Mail {
                                rcpt: std::mem::take(&mut rcpt),
                                data: std::mem::take(buf),
                            });
                            data = None;
                            let _ = write.write_all(b"250 2.0.0 queued\r\n").await;
                        } else {
                            // Dot-stuffing: a leading "." was doubled by the client.
                            buf.push_str(line.strip_prefix('.').unwrap_or(&line));
                            buf.push('\n');
                        }
                        continue;
                    }
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "RCPT" => {
                            rcpt.push(
                                line[line.find(':').map_or(0, |i| i + 1)..]
                                    .trim()
                                    .to_owned(),
                            );
                            b"250 2.1.5 OK\r\n"
                        }
                        "MAIL" | "RSET" | "NOOP" => b"250 2.1.0 OK\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 End data with <CR><LF>.<CR><LF>\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 2.0.0 Bye\r\n").await;
                            return;
                        }
                        _ => b"502 5.5.2 not implemented\r\n",
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    (mails, port)
}

/// RFC 2047 `=?utf-8?b?…?=` words, as lettre writes non-ASCII subjects.
fn decode_words(header: &str) -> String {
    fn base64(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0);
        for c in text.bytes().filter(|c| *c != b'=') {
            let Some(v) = ALPHABET.iter().position(|a| *a == c) else {
                continue;
            };
            acc = (acc << 6) | v as u32;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }
    // Whitespace between two encoded words is not part of the text; elsewhere it is.
    let mut out = String::new();
    let mut previous_encoded = false;
    for word in header.split_whitespace() {
        let encoded = word.to_ascii_lowercase().starts_with("=?utf-8?b?") && word.ends_with("?=");
        let joined = encoded && previous_encoded;
        if !out.is_empty() && !joined {
            out.push(' ');
        }
        if encoded {
            out.push_str(&String::from_utf8_lossy(&base64(&word[10..word.len() - 2])));
        } else {
            out.push_str(word);
        }
        previous_encoded = encoded;
    }
    out
}

impl Mail {
    /// A header's value, unfolded and decoded.
    fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\n\n").next().unwrap_or_default();
        let mut unfolded: Vec<String> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = unfolded.last_mut() {
                    last.push(' ');
                    last.push_str(line.trim());
                }
            } else {
                unfolded.push(line.to_owned());
            }
        }
        unfolded.iter().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| decode_words(v.trim()))
        })
    }

    /// The body with quoted-printable soft line breaks joined.
    fn body(&self) -> String {
        self.data.replace("=\n", "")
    }
}

/// Waits (bounded) until `f` holds.
async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..300 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn config(mock: &str, hooks: &str, smtp: u16, rules: &str) -> String {
    format!(
        r#"{OPEN}{NO_BREAKER}{}{}
[status]
name = "Acme AI"
public_url = "https://status.acme.example/status"

[status.health]
eval_interval = "100ms"
thresholds = {{ major_error_ratio = 0.5, partial_error_ratio = 0.3, degraded_error_ratio = 0.25 }}
hysteresis = {{ recovery_period = "0s" }}

[status.incidents]
auto_open = {{ after = "0s" }}
monitoring_to_resolved = "300ms"

[status.alerts]
backoff = "50ms"
backoff_max = "200ms"
timeout = "2s"

[[status.alerts.channels]]
id = "hook"
kind = "webhook"
url = "{hooks}/hook"
secret = "{SECRET}"

[[status.alerts.channels]]
id = "slack"
kind = "slack"
url = "{hooks}/slack"

[[status.alerts.channels]]
id = "mail"
kind = "email"
smtp_url = "smtp://127.0.0.1:{smtp}"
from = "Acme Status <status@acme.example>"
to = ["oncall@acme.example"]

{rules}
"#,
        provider("a", "Alpha", mock, ""),
        model("acme/chat", &[("a", "m")]),
    )
}

const OUTAGE_RULE: &str = r#"[[status.alerts.rules]]
name = "outages"
channels = ["hook", "slack", "mail"]
events = ["component.status_changed", "incident.*"]
min_status = "partial_outage"
"#;

fn hits(r: &Receiver, path: &str) -> Vec<Hit> {
    r.hits
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h.path == path)
        .cloned()
        .collect()
}

/// The webhook payloads of this event that the receiver accepted.
fn delivered(r: &Receiver, event: &str) -> Vec<Value> {
    hits(r, "/hook")
        .iter()
        .filter(|h| h.code == 200)
        .map(Hit::json)
        .filter(|v| v["event"] == event)
        .collect()
}

#[tokio::test]
async fn an_outage_is_announced_on_every_channel_and_so_is_its_end() {
    let a = mock(fast()).await;
    let (hooks, base) = receiver(&[503]).await;
    let (mails, smtp) = smtp_sink().await;
    let gw = Gateway::start(&config(&a.base_url(), &base, smtp, OUTAGE_RULE)).await;

    a.set_config(failing(503, None));
    for _ in 0..20 {
        assert_eq!(gw.post_chat(&chat("acme/chat")).await.status(), 503);
    }

    // Webhook: the incident and the component's outage, signed.
    let created = until("incident.created on the webhook", || {
        delivered(&hooks, "incident.created").into_iter().next()
    })
    .await;
    assert_eq!(created["phase"], "open");
    assert_eq!(created["incident"]["status"], "investigating");
    assert_eq!(created["incident"]["impact"], "critical");
    assert!(
        created["incident"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://status.acme.example/status#incident-")
    );
    assert_eq!(created["page"]["name"], "Acme AI");
    assert_eq!(created["components"][0]["provider"], "a");
    assert_eq!(created["components"][0]["model"], "acme/chat");
    let outage = until("component.status_changed on the webhook", || {
        delivered(&hooks, "component.status_changed")
            .into_iter()
            .find(|v| v["component"]["new_status"] == "major_outage")
    })
    .await;
    assert_eq!(outage["component"]["old_status"], "operational");
    assert!(
        outage["component"]["reason"]
            .as_str()
            .unwrap()
            .contains("major_outage"),
        "{outage}"
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for hit in hits(&hooks, "/hook") {
        let t: u64 = hit.headers["x-turnout-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let signature = hit.headers["x-turnout-signature"].to_str().unwrap();
        assert!(signature.starts_with("sha256="));
        assert!(
            sign::verify(SECRET.as_bytes(), t, &hit.body, signature, now),
            "a valid signature over the raw body"
        );
        let mut tampered = hit.body.to_vec();
        tampered[0] = b' ';
        assert!(!sign::verify(
            SECRET.as_bytes(),
            t,
            &tampered,
            signature,
            now
        ));
        assert!(!sign::verify(b"wrong", t, &hit.body, signature, now));
        assert_eq!(hit.headers["content-type"], "application/json");
        let event = hit.json()["event"].as_str().unwrap().to_owned();
        assert_eq!(hit.headers["x-turnout-event"], event.as_str());
    }
    // The first delivery got a 503 and was retried under the same delivery id.
    let first = hits(&hooks, "/hook")[0].clone();
    assert_eq!(first.code, 503);
    let retry = until("the retry of the first delivery", || {
        hits(&hooks, "/hook")
            .into_iter()
            .skip(1)
            .find(|h| h.headers["x-turnout-delivery"] == first.headers["x-turnout-delivery"])
    })
    .await;
    assert_eq!(retry.code, 200);
    assert_eq!(retry.json()["event_id"], first.json()["event_id"]);

    // Slack: text fallback, a red bar, blocks.
    let slack = until("a Slack outage message", || {
        hits(&hooks, "/slack")
            .into_iter()
            .map(|h| h.json())
            .find(|v| {
                v["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("Major Outage"))
            })
    })
    .await;
    assert!(
        slack["text"].as_str().unwrap().starts_with(":red_circle:"),
        "{slack}"
    );
    assert_eq!(slack["attachments"][0]["color"], "#E01E5A");
    assert_eq!(slack["attachments"][0]["blocks"][0]["type"], "section");
    assert_eq!(slack["attachments"][0]["blocks"][1]["type"], "context");
    assert!(
        hits(&hooks, "/slack")[0]
            .headers
            .get("x-turnout-signature")
            .is_none()
    );

    // Email: to the on-call address, the incident's first message of a thread.
    let incident_mail = until("the incident email", || {
        mails
            .lock()
            .unwrap()
            .iter()
            .find(|m| m.header("Subject").is_some_and(|s| s.contains("Incident:")))
            .cloned()
    })
    .await;
    assert_eq!(incident_mail.rcpt, ["<oncall@acme.example>"]);
    let subject = incident_mail.header("Subject").unwrap();
    assert!(
        subject.starts_with("[Acme AI] Major Outage — Incident: Alpha"),
        "{subject}"
    );
    let incident_id = created["incident"]["id"].as_str().unwrap();
    assert_eq!(
        incident_mail.header("Message-ID").unwrap(),
        format!("<incident-{incident_id}@acme.example>")
    );
    assert!(
        incident_mail
            .header("From")
            .unwrap()
            .contains("status@acme.example")
    );
    assert!(
        incident_mail.body().contains("multipart/alternative")
            || incident_mail
                .header("Content-Type")
                .unwrap()
                .contains("multipart/alternative")
    );
    assert!(incident_mail.body().contains("text/html"));

    // The provider recovers: the component's alert resolves, the incident goes through
    // monitoring to resolved, and each channel hears it.
    a.set_config(fast());
    for _ in 0..200 {
        assert_eq!(gw.post_chat(&chat("acme/chat")).await.status(), 200);
    }
    let recovered = until("the component's resolved notice", || {
        delivered(&hooks, "component.status_changed")
            .into_iter()
            .find(|v| v["phase"] == "resolve")
    })
    .await;
    // Under partial_outage the alert is over; on its way back the component may pass
    // through degraded while successes dilute the window's errors.
    assert!(
        ["operational", "degraded_performance"]
            .contains(&recovered["component"]["new_status"].as_str().unwrap()),
        "{recovered}"
    );
    let monitoring = until("incident monitoring", || {
        delivered(&hooks, "incident.updated")
            .into_iter()
            .find(|v| v["incident"]["status"] == "monitoring")
    })
    .await;
    assert_eq!(monitoring["phase"], "update");
    let resolved = until("incident.resolved on the webhook", || {
        delivered(&hooks, "incident.resolved").into_iter().next()
    })
    .await;
    assert_eq!(resolved["phase"], "resolve");
    assert_eq!(resolved["incident"]["status"], "resolved");
    assert_eq!(resolved["incident"]["id"], incident_id);
    until("a green Slack message", || {
        hits(&hooks, "/slack")
            .into_iter()
            .map(|h| h.json())
            .find(|v| v["attachments"][0]["color"] == "#2EB67D")
    })
    .await;
    let resolved_mail = until("the resolved email", || {
        mails
            .lock()
            .unwrap()
            .iter()
            .find(|m| {
                m.header("Subject")
                    .is_some_and(|s| s.contains("Resolved — Resolved: Alpha"))
            })
            .cloned()
    })
    .await;
    assert_eq!(
        resolved_mail.header("In-Reply-To").unwrap(),
        format!("<incident-{incident_id}@acme.example>"),
        "threaded on the incident's first email"
    );

    let metrics = gw
        .http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("turnout_alert_deliveries_total"),
        "counted"
    );
}

#[tokio::test]
async fn maintenance_is_announced_and_keeps_covered_components_quiet() {
    let a = mock(fast()).await;
    let (hooks, base) = receiver(&[]).await;
    let (mails, smtp) = smtp_sink().await;
    let rules = format!(
        "{OUTAGE_RULE}\n[[status.alerts.rules]]\nname = \"maintenance\"\nchannels = [\"hook\"]\nevents = [\"maintenance.*\"]\n"
    );
    let gw = Gateway::start(&config(&a.base_url(), &base, smtp, &rules)).await;
    let key = management_key(&gw).await;
    let start = turnout_store::clock::iso(turnout_store::clock::now_ms() - 1_000);
    let end = turnout_store::clock::iso(turnout_store::clock::now_ms() + 3_600_000);
    let (code, _) = admin(
        &gw,
        Method::POST,
        "/admin/status/maintenances",
        &key,
        Some(json!({"name": "Alpha upgrade", "start": start, "end": end, "providers": ["a"]})),
    )
    .await;
    assert_eq!(code, 201);
    let started = until("maintenance.started", || {
        delivered(&hooks, "maintenance.started").into_iter().next()
    })
    .await;
    assert_eq!(started["maintenance"]["name"], "Alpha upgrade");
    assert_eq!(started["maintenance"]["status"], "in_progress");
    assert_eq!(delivered(&hooks, "maintenance.scheduled").len(), 1);

    a.set_config(failing(503, None));
    for _ in 0..20 {
        gw.post_chat(&chat("acme/chat")).await;
    }
    // Several evaluations and alert rounds pass; nothing about the failing component.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let events: Vec<String> = hits(&hooks, "/hook")
        .iter()
        .map(|h| h.json()["event"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        events.iter().all(|e| e.starts_with("maintenance.")),
        "{events:?}"
    );
    assert!(hits(&hooks, "/slack").is_empty());
    assert!(mails.lock().unwrap().is_empty());

    // The channel test reaches the receiver.
    let (code, tested) = admin(
        &gw,
        Method::POST,
        "/admin/status/channels/slack/test",
        &key,
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(tested["data"]["delivered"], true, "{tested}");
    assert!(
        hits(&hooks, "/slack")[0].json()["text"]
            .as_str()
            .unwrap()
            .contains("Test notification from Acme AI")
    );
    let (code, _) = admin(
        &gw,
        Method::POST,
        "/admin/status/channels/nope/test",
        &key,
        None,
    )
    .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn errors_that_burn_the_error_budget_page() {
    let a = mock(fast()).await;
    let (hooks, base) = receiver(&[]).await;
    let (_mails, smtp) = smtp_sink().await;
    let rules = "[[status.alerts.rules]]\nname = \"slo\"\nchannels = [\"hook\"]\nevents = [\"slo.burn_rate\"]\nmin_severity = \"page\"\n[status.slo]\navailability_target = 0.99\n";
    let gw = Gateway::start(&config(&a.base_url(), &base, smtp, rules)).await;
    a.set_config(failing(503, None));
    for _ in 0..30 {
        gw.post_chat(&chat("acme/chat")).await;
    }
    let page = until("a burn-rate page", || {
        delivered(&hooks, "slo.burn_rate").into_iter().next()
    })
    .await;
    assert_eq!(page["phase"], "open");
    assert_eq!(page["slo"]["severity"], "page");
    assert_eq!(page["slo"]["firing"], true);
    assert_eq!(page["slo"]["availability_target"], 0.99);
    assert_eq!(page["slo"]["burn_rate_threshold"], 14.4);
    assert_eq!(page["slo"]["long_window_s"], 3600);
    // Every counted request failed: 100 % errors against a 1 % budget.
    let burn = page["slo"]["long_burn_rate"].as_f64().unwrap();
    assert!((burn - 100.0).abs() < 1e-6, "{burn}");
    assert_eq!(page["components"][0]["model"], "acme/chat");
    // Only the page severity reaches this rule; the ticket that fires alongside does not.
    assert!(
        delivered(&hooks, "slo.burn_rate")
            .iter()
            .all(|v| v["slo"]["severity"] == "page")
    );
}

#[tokio::test]
async fn a_balance_under_its_alert_is_announced_until_credits_bring_it_back() {
    let a = mock(fast()).await;
    let (hooks, base) = receiver(&[]).await;
    let (_mails, smtp) = smtp_sink().await;
    let rules = "[[status.alerts.rules]]\nname = \"credit\"\nchannels = [\"hook\"]\nevents = [\"account.low_credit\"]\n";
    let gw = Gateway::start(&config(&a.base_url(), &base, smtp, rules)).await;
    let accounts = gw.state.accounts();
    let store = accounts.store();
    for account in ["acme", "free"] {
        store.ensure_account(account).await.unwrap();
        store
            .set_low_balance_alert(account, Some(turnout_store::Nanos::from_usd(5.into())))
            .await
            .unwrap();
    }
    // "free" never had credits: unmetered, nothing to warn about.
    store
        .add_credits("acme", turnout_store::Nanos::from_usd(1.into()), None)
        .await
        .unwrap();
    accounts.sync().await.unwrap();

    gw.state.check_low_credit().await;
    let low = until("a low-credit alert", || {
        delivered(&hooks, "account.low_credit").into_iter().next()
    })
    .await;
    assert_eq!(low["phase"], "open");
    assert_eq!(low["credit"]["account"], "acme");
    assert_eq!(low["credit"]["balance_usd"], 1.0);
    assert_eq!(low["credit"]["threshold_usd"], 5.0);
    assert_eq!(low["credit"]["low"], true);

    // Still low: no second message.
    gw.state.check_low_credit().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(delivered(&hooks, "account.low_credit").len(), 1);

    store
        .add_credits("acme", turnout_store::Nanos::from_usd(10.into()), None)
        .await
        .unwrap();
    accounts.sync().await.unwrap();
    gw.state.check_low_credit().await;
    let back = until("the resolved notice", || {
        delivered(&hooks, "account.low_credit")
            .into_iter()
            .find(|v| v["phase"] == "resolve")
    })
    .await;
    assert_eq!(back["credit"]["balance_usd"], 11.0);
    assert_eq!(back["credit"]["low"], false);
    assert!(
        delivered(&hooks, "account.low_credit")
            .iter()
            .all(|v| v["credit"]["account"] == "acme"),
        "an unmetered account is never warned about"
    );
}
