//! Reading a Statuspage v2 `summary.json` — a provider's public status page (OpenAI,
//! Anthropic, OpenRouter…) or a running Turnout's own — and saying what it means:
//! `turnout check https://status.openai.com/api/v2/summary.json` and `turnout status`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use turnout_gateway::upstream::client::build_client;

use crate::check::Class;

/// What a page's indicator means for its users: `none` healthy, `minor` and `maintenance`
/// degraded, `major` and `critical` an outage.
pub fn class_of(indicator: &str) -> Class {
    match indicator {
        "none" => Class::Healthy,
        "minor" | "maintenance" => Class::Degraded,
        _ => Class::Outage,
    }
}

fn words(status: &str) -> String {
    status.replace('_', " ")
}

/// The page in a few lines for people: its state, the components that are not operational
/// (or all of them with `all`), unresolved incidents and maintenance in progress.
pub fn render(summary: &Value, all: bool) -> String {
    let mut out = String::new();
    let name = summary["page"]["name"].as_str().unwrap_or("status page");
    let description = summary["status"]["description"].as_str().unwrap_or("?");
    let indicator = summary["status"]["indicator"].as_str().unwrap_or("?");
    out.push_str(&format!("{name}: {description} (indicator {indicator})\n"));
    let components = summary["components"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let by_id = |id: &str| components.iter().find(|c| c["id"] == id);
    let mut shown = 0;
    for c in components.iter().filter(|c| c["group_id"].is_null()) {
        let status = c["status"].as_str().unwrap_or("?");
        let children: Vec<&Value> = c["components"]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| id.as_str().and_then(by_id))
                    .collect()
            })
            .unwrap_or_default();
        let troubled: Vec<&&Value> = children
            .iter()
            .filter(|x| all || x["status"] != "operational")
            .collect();
        if !all && status == "operational" && troubled.is_empty() {
            continue;
        }
        shown += 1;
        out.push_str(&format!(
            "  {:<40} {}\n",
            c["name"].as_str().unwrap_or("?"),
            words(status)
        ));
        for x in troubled {
            out.push_str(&format!(
                "    {:<38} {}\n",
                x["name"].as_str().unwrap_or("?"),
                words(x["status"].as_str().unwrap_or("?"))
            ));
        }
    }
    if !all && shown == 0 && !components.is_empty() {
        out.push_str(&format!(
            "  all {} components operational\n",
            components.len()
        ));
    }
    for i in summary["incidents"].as_array().into_iter().flatten() {
        let latest = i["incident_updates"][0]["body"].as_str().unwrap_or("");
        out.push_str(&format!(
            "  incident: {} [{}, impact {}] {}\n",
            i["name"].as_str().unwrap_or("?"),
            i["status"].as_str().unwrap_or("?"),
            i["impact"].as_str().unwrap_or("?"),
            latest
        ));
    }
    for m in summary["scheduled_maintenances"]
        .as_array()
        .into_iter()
        .flatten()
    {
        out.push_str(&format!(
            "  maintenance: {} [{}] {} → {}\n",
            m["name"].as_str().unwrap_or("?"),
            m["status"].as_str().unwrap_or("?"),
            m["scheduled_for"].as_str().unwrap_or("?"),
            m["scheduled_until"].as_str().unwrap_or("?"),
        ));
    }
    out
}

/// The page as one JSON object for scripts.
pub fn to_json(summary: &Value) -> Value {
    let indicator = summary["status"]["indicator"].as_str().unwrap_or("");
    let components: Vec<Value> = summary["components"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            serde_json::json!({
                "id": c["id"], "name": c["name"], "status": c["status"],
                "group": c["group"], "group_id": c["group_id"],
            })
        })
        .collect();
    let incidents: Vec<Value> = summary["incidents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| serde_json::json!({"name": i["name"], "status": i["status"], "impact": i["impact"]}))
        .collect();
    serde_json::json!({
        "class": class_of(indicator).as_str(),
        "page": summary["page"]["name"],
        "indicator": indicator,
        "description": summary["status"]["description"],
        "components": components,
        "incidents": incidents,
    })
}

/// Fetches a `summary.json`.
pub async fn fetch(url: &str, timeout: Duration) -> Result<Value, String> {
    let timeouts = turnout_config::ResolvedTimeouts {
        connect: timeout.min(Duration::from_secs(10)),
        first_token: timeout,
        idle: timeout,
        total: timeout,
    };
    let client = build_client(&timeouts).map_err(|e| format!("cannot set up TLS: {e}"))?;
    let uri: http::Uri = url.parse().map_err(|e| format!("bad URL {url:?}: {e}"))?;
    let mut req = http::Request::new(Full::new(Bytes::new()));
    *req.uri_mut() = uri;
    req.headers_mut().insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static(concat!("turnout/", env!("CARGO_PKG_VERSION"))),
    );
    let exchange = async {
        let resp = client.request(req).await.map_err(|e| {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if status != 200 {
            return Err(format!("HTTP {status} from {url}"));
        }
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| format!("{url} is not JSON: {e}"))?;
        if v["status"]["indicator"].is_string() && v["page"].is_object() {
            Ok(v)
        } else {
            Err(format!(
                "{url} is not a Statuspage v2 summary (no page and status.indicator)"
            ))
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("no answer from {url} within {} s", timeout.as_secs()))?
}

/// Whether `url` names a Statuspage summary rather than an OpenAI-compatible API.
pub fn is_summary_url(url: &str) -> bool {
    url.trim_end_matches('/').ends_with("/summary.json")
}

/// `turnout check <…/summary.json>`.
pub async fn check(url: &str, json: bool, timeout: Duration) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match fetch(url, timeout).await {
        Ok(summary) => {
            let class = class_of(summary["status"]["indicator"].as_str().unwrap_or(""));
            if json {
                let _ = writeln!(out, "{}", to_json(&summary));
            } else {
                let _ = write!(out, "{}", render(&summary, false));
            }
            ExitCode::from(class.exit_code())
        }
        Err(e) => {
            if json {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::json!({"class": Class::Outage.as_str(), "error": e})
                );
            } else {
                let _ = writeln!(out, "outage: the status page itself cannot be read: {e}");
            }
            ExitCode::from(Class::Outage.exit_code())
        }
    }
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The running Turnout's base URL (default: http://<[server] listen> from ./turnout.toml,
    /// else http://127.0.0.1:8080).
    #[arg(long)]
    url: Option<String>,
    /// Config file whose `[server] listen` names the server.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Show every component, not only those with a problem.
    #[arg(long)]
    all: bool,
    /// One JSON object: {"class","page","indicator","description","components","incidents"}.
    #[arg(long)]
    json: bool,
}

/// `turnout status`: a running Turnout's own components, from its status API.
pub async fn status(args: StatusArgs) -> ExitCode {
    let base = match args.url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => {
            let path = args
                .config
                .or_else(|| Some(std::path::PathBuf::from("turnout.toml")).filter(|p| p.exists()));
            let listen = match path {
                Some(p) => match turnout_config::load_file(&p) {
                    Ok(c) => c.server.listen,
                    Err(e) => {
                        eprintln!("turnout status: {e}");
                        return ExitCode::from(2);
                    }
                },
                None => "127.0.0.1:8080".to_owned(),
            };
            // A wildcard listen address is reached on loopback.
            let listen = listen
                .replace("0.0.0.0", "127.0.0.1")
                .replace("[::]", "[::1]");
            format!("http://{listen}")
        }
    };
    let url = format!("{base}/status/api/v2/summary.json");
    let mut out = std::io::stdout().lock();
    match fetch(&url, Duration::from_secs(10)).await {
        Ok(summary) => {
            let class = class_of(summary["status"]["indicator"].as_str().unwrap_or(""));
            if args.json {
                let _ = writeln!(out, "{}", to_json(&summary));
            } else {
                let _ = write!(out, "{}", render(&summary, args.all));
            }
            ExitCode::from(class.exit_code())
        }
        Err(e) => {
            eprintln!("turnout status: cannot reach Turnout at {base}: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../../../shared/fixtures/statuspage/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn indicators_map_to_check_classes() {
        assert_eq!(class_of("none"), Class::Healthy);
        assert_eq!(class_of("minor"), Class::Degraded);
        assert_eq!(class_of("maintenance"), Class::Degraded);
        assert_eq!(class_of("major"), Class::Outage);
        assert_eq!(class_of("critical"), Class::Outage);
    }

    #[test]
    fn a_real_summary_renders_its_state_and_troubled_components() {
        let summary = fixture("discord_summary.json");
        let text = render(&summary, false);
        let first = text.lines().next().unwrap();
        assert!(
            first.contains(summary["status"]["description"].as_str().unwrap()),
            "{text}"
        );
        let all = render(&summary, true);
        let n = summary["components"].as_array().unwrap().len();
        assert!(all.lines().count() > n / 2, "{all}");
        let json = to_json(&summary);
        assert_eq!(json["components"].as_array().unwrap().len(), n);
        assert!(is_summary_url(
            "https://status.openai.com/api/v2/summary.json"
        ));
        assert!(!is_summary_url("https://openrouter.ai/api/v1"));
    }
}
