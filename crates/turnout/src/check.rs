//! `turnout check BASE_URL`: is that OpenAI-compatible API (OpenRouter, a Turnout, OpenAI,
//! vLLM…) down, or is it us? Lists its models, streams a tiny completion, and explains the
//! result in the classes of DESIGN.md §3 with their exit codes.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use turnout_gateway::upstream::client::{HttpClient, build_client};
use turnout_wire::sse::SseDecoder;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Base URL as an OpenAI SDK takes it, e.g. https://openrouter.ai/api/v1 or http://host/v1.
    base_url: String,
    /// API key (else $TURNOUT_CHECK_API_KEY, $OPENROUTER_API_KEY or $OPENAI_API_KEY).
    #[arg(long)]
    api_key: Option<String>,
    /// Model to try (default: the first one the API lists).
    #[arg(long)]
    model: Option<String>,
    /// Check again every SECONDS, printing each result, until interrupted.
    #[arg(long, value_name = "SECONDS")]
    watch: Option<u64>,
    /// One JSON object per check: {"class","http_status","latency_ms","ttft_ms","model","advice"}.
    #[arg(long)]
    json: bool,
    /// Longest wait for an answer or the first token; a stream silent this long (at most 10 s)
    /// after starting counts as stalled.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
    /// A first token slower than this is `degraded`.
    #[arg(long, value_name = "MS", default_value_t = 5_000)]
    slow_ms: u64,
}

/// What the API's state means for its users, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Healthy,
    Degraded,
    Auth,
    Credits,
    RateLimited,
    ModelUnavailable,
    Outage,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Healthy => "healthy",
            Class::Degraded => "degraded",
            Class::Auth => "auth",
            Class::Credits => "credits",
            Class::RateLimited => "rate_limited",
            Class::ModelUnavailable => "model_unavailable",
            Class::Outage => "outage",
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            Class::Healthy => 0,
            Class::Degraded => 3,
            Class::Auth => 4,
            Class::Credits => 5,
            Class::RateLimited => 6,
            Class::ModelUnavailable => 7,
            Class::Outage => 8,
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Report {
    pub class: Class,
    pub http_status: Option<u16>,
    pub latency_ms: Option<u64>,
    pub ttft_ms: Option<u64>,
    pub model: Option<String>,
    pub advice: String,
    /// What was observed, line by line, for people.
    pub steps: Vec<String>,
}

/// Classifies a completion that did not return 200, from its status and body. `models_ok`:
/// the same API answered its models list, so a 404 or a "no endpoints" 503 is about this
/// model, not the API (DESIGN.md §3: ask twice).
pub fn classify_error(status: u16, body: &str, models_ok: bool) -> Class {
    match status {
        401 | 403 => Class::Auth,
        402 => Class::Credits,
        429 => Class::RateLimited,
        400 | 404 | 422 if models_ok => Class::ModelUnavailable,
        503 if models_ok && names_no_endpoint(body) => Class::ModelUnavailable,
        _ => Class::Outage,
    }
}

/// Whether an error body says no provider or endpoint can serve (the model's problem).
fn names_no_endpoint(body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    [
        "no endpoints",
        "no endpoint",
        "no provider",
        "no available provider",
        "no allowed providers",
        "no available endpoint",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| body.chars().take(200).collect())
}

fn advice(class: Class, retry_after: Option<&str>) -> String {
    match class {
        Class::Healthy => "The API answers and completes.".to_owned(),
        Class::Degraded => "The API works but is slow or intermittent.".to_owned(),
        Class::Auth => {
            "The key is missing, invalid or not allowed here: fix the key; this is not an outage."
                .to_owned()
        }
        Class::Credits => "Out of credits (402): add credits or raise the key's limit.".to_owned(),
        Class::RateLimited => match retry_after {
            Some(s) => format!("Rate limited (429): retry after {s} s, or slow down."),
            None => "Rate limited (429): slow down and retry.".to_owned(),
        },
        Class::ModelUnavailable => {
            "The API is up but this model cannot be served now: try a fallback model.".to_owned()
        }
        Class::Outage => {
            "The API is down or failing (5xx, refused, timed out or stalled).".to_owned()
        }
    }
}

struct Target {
    base: String,
    key: Option<String>,
    timeout: Duration,
    stall: Duration,
    slow: Duration,
}

impl Target {
    fn request(&self, method: http::Method, path: &str, body: Bytes) -> http::Request<Full<Bytes>> {
        let mut req = http::Request::new(Full::new(body));
        *req.method_mut() = method;
        if let Ok(uri) = format!("{}{path}", self.base).parse() {
            *req.uri_mut() = uri;
        }
        let h = req.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        h.insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static(concat!("turnout-check/", env!("CARGO_PKG_VERSION"))),
        );
        if let Some(key) = &self.key
            && let Ok(v) = http::HeaderValue::from_str(&format!("Bearer {key}"))
        {
            h.insert(http::header::AUTHORIZATION, v);
        }
        req
    }
}

/// Lists the models: `Ok((status, first model id, count))` or the transport failure.
async fn models(client: &HttpClient, t: &Target) -> Result<(u16, Option<String>, usize), String> {
    let req = t.request(http::Method::GET, "/models", Bytes::new());
    let resp = tokio::time::timeout(t.timeout, client.request(req))
        .await
        .map_err(|_| format!("no answer within {} s", t.timeout.as_secs()))?
        .map_err(|e| describe(&e))?;
    let status = resp.status().as_u16();
    let body = tokio::time::timeout(t.timeout, resp.into_body().collect())
        .await
        .map_err(|_| "the models list never finished".to_owned())?
        .map_err(|e| e.to_string())?
        .to_bytes();
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let list = parsed
        .as_ref()
        .and_then(|v| v.get("data"))
        .and_then(Value::as_array);
    let first = list
        .and_then(|l| l.first())
        .and_then(|m| m.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((status, first, list.map_or(0, Vec::len)))
}

fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// One full check.
async fn probe(client: &HttpClient, t: &Target, model: Option<&str>) -> Report {
    let mut steps = Vec::new();
    let started = Instant::now();
    let listed = models(client, t).await;
    let models_ms = started.elapsed().as_millis() as u64;
    let (models_ok, first_model) = match &listed {
        Ok((status, first, count)) => {
            steps.push(format!(
                "models list: {status} in {models_ms} ms ({count} models)"
            ));
            if matches!(status, 401 | 403) && model.is_none() {
                return Report {
                    class: Class::Auth,
                    http_status: Some(*status),
                    latency_ms: Some(models_ms),
                    ttft_ms: None,
                    model: None,
                    advice: advice(Class::Auth, None),
                    steps,
                };
            }
            (*status == 200, first.clone())
        }
        Err(e) => {
            steps.push(format!("models list: failed: {e}"));
            (false, None)
        }
    };
    let Some(model) = model.map(str::to_owned).or(first_model) else {
        let class = if listed.is_err() {
            Class::Outage
        } else {
            Class::ModelUnavailable
        };
        return Report {
            class,
            http_status: listed.as_ref().ok().map(|l| l.0),
            latency_ms: Some(models_ms),
            ttft_ms: None,
            model: None,
            advice: if class == Class::Outage {
                advice(class, None)
            } else {
                "The API lists no models: pass --model.".to_owned()
            },
            steps,
        };
    };
    let mut report = complete(client, t, &model, models_ok, &mut steps).await;
    report.steps = steps;
    report.model = Some(model);
    report
}

async fn complete(
    client: &HttpClient,
    t: &Target,
    model: &str,
    models_ok: bool,
    steps: &mut Vec<String>,
) -> Report {
    let body = serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": "Reply with the single word OK."}],
        "max_tokens": 16,
        "stream": true,
    });
    let req = t.request(
        http::Method::POST,
        "/chat/completions",
        Bytes::from(body.to_string()),
    );
    let started = Instant::now();
    let report =
        |class: Class, status: Option<u16>, ttft: Option<Duration>, advice: String| Report {
            class,
            http_status: status,
            latency_ms: Some(started.elapsed().as_millis() as u64),
            ttft_ms: ttft.map(|d| d.as_millis() as u64),
            model: None,
            advice,
            steps: Vec::new(),
        };
    let resp = match tokio::time::timeout(t.timeout, client.request(req)).await {
        Err(_) => {
            steps.push(format!(
                "completion: no answer within {} s",
                t.timeout.as_secs()
            ));
            return report(Class::Outage, None, None, advice(Class::Outage, None));
        }
        Ok(Err(e)) => {
            steps.push(format!("completion: failed: {}", describe(&e)));
            return report(Class::Outage, None, None, advice(Class::Outage, None));
        }
        Ok(Ok(r)) => r,
    };
    let status = resp.status().as_u16();
    if status != 200 {
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match tokio::time::timeout(t.timeout, resp.into_body().collect()).await {
            Ok(Ok(b)) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
            _ => String::new(),
        };
        let class = classify_error(status, &body, models_ok);
        steps.push(format!(
            "completion: {status} in {} ms: {}{}",
            started.elapsed().as_millis(),
            error_message(&body),
            retry_after
                .as_deref()
                .map(|s| format!(" (Retry-After: {s})"))
                .unwrap_or_default()
        ));
        return report(
            class,
            Some(status),
            None,
            advice(class, retry_after.as_deref()),
        );
    }

    // 200: read the stream to its end, watching for the first token and for stalls.
    let mut body = resp.into_body();
    let mut decoder = SseDecoder::new();
    let mut ttft = None;
    let (mut done, mut finished, mut in_band_error) = (false, false, None::<String>);
    let mut text = String::new();
    loop {
        let wait = if ttft.is_some() { t.stall } else { t.timeout };
        let frame = match tokio::time::timeout(wait, body.frame()).await {
            Err(_) => {
                let what = if ttft.is_some() {
                    format!(
                        "stream stalled: nothing for {} s after the first token",
                        wait.as_secs()
                    )
                } else {
                    format!("no first token within {} s", wait.as_secs())
                };
                steps.push(format!("completion: 200, {what}"));
                return report(Class::Outage, Some(200), ttft, advice(Class::Outage, None));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                steps.push(format!("completion: 200, stream broke: {e}"));
                return report(Class::Outage, Some(200), ttft, advice(Class::Outage, None));
            }
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        decoder.push(&data);
        while let Some(event) = decoder.next_event() {
            if event.data.trim() == "[DONE]" {
                done = true;
                continue;
            }
            let Ok(chunk) = serde_json::from_str::<Value>(&event.data) else {
                continue;
            };
            if let Some(e) = chunk.get("error") {
                in_band_error = Some(
                    e.get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("error")
                        .to_owned(),
                );
            }
            for choice in chunk
                .get("choices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let delta = choice.get("delta");
                let piece = delta
                    .and_then(|d| d.get("content").or_else(|| d.get("reasoning")))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !piece.is_empty() {
                    ttft.get_or_insert_with(|| started.elapsed());
                    text.push_str(piece);
                }
                if choice
                    .get("finish_reason")
                    .is_some_and(|f| !f.is_null() && f != "error")
                {
                    finished = true;
                }
            }
        }
    }
    let total = started.elapsed();
    if let Some(message) = in_band_error {
        steps.push(format!(
            "completion: 200, then an error in the stream: {message}"
        ));
        return report(Class::Outage, Some(200), ttft, advice(Class::Outage, None));
    }
    if !done && !finished {
        steps.push("completion: 200, but the stream ended without finishing".to_owned());
        return report(Class::Outage, Some(200), ttft, advice(Class::Outage, None));
    }
    steps.push(format!(
        "completion: 200, first token {}, total {} ms{}",
        ttft.map_or("never".to_owned(), |d| format!("{} ms", d.as_millis())),
        total.as_millis(),
        if text.is_empty() {
            String::new()
        } else {
            format!(": {:?}", text.chars().take(40).collect::<String>())
        }
    ));
    let slow = ttft.unwrap_or(total) > t.slow;
    let class = if slow {
        Class::Degraded
    } else {
        Class::Healthy
    };
    let advice = if slow {
        format!(
            "The API works but is slow: first token after {} ms (threshold {} ms).",
            ttft.unwrap_or(total).as_millis(),
            t.slow.as_millis()
        )
    } else {
        advice(class, None)
    };
    report(class, Some(200), ttft, advice)
}

fn print(report: &Report, base: &str, json: bool) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if json {
        let line = serde_json::json!({
            "class": report.class.as_str(),
            "http_status": report.http_status,
            "latency_ms": report.latency_ms,
            "ttft_ms": report.ttft_ms,
            "model": report.model,
            "advice": report.advice,
        });
        let _ = writeln!(out, "{line}");
    } else {
        let _ = writeln!(
            out,
            "{base}{}",
            report
                .model
                .as_deref()
                .map(|m| format!("  model {m}"))
                .unwrap_or_default()
        );
        for step in &report.steps {
            let _ = writeln!(out, "  {step}");
        }
        let _ = writeln!(out, "{}: {}", report.class.as_str(), report.advice);
    }
    let _ = out.flush();
}

pub async fn run(args: CheckArgs) -> ExitCode {
    let base = args.base_url.trim_end_matches('/').to_owned();
    if crate::statuspage::is_summary_url(&base) {
        return crate::statuspage::check(
            &base,
            args.json,
            Duration::from_secs(args.timeout.max(1)),
        )
        .await;
    }
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        eprintln!("turnout check: BASE_URL must start with http:// or https://, got {base:?}");
        return ExitCode::from(2);
    }
    let key = args.api_key.clone().or_else(|| {
        [
            "TURNOUT_CHECK_API_KEY",
            "OPENROUTER_API_KEY",
            "OPENAI_API_KEY",
        ]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|k| !k.is_empty()))
    });
    let timeout = Duration::from_secs(args.timeout.max(1));
    let target = Target {
        base: base.clone(),
        key,
        timeout,
        stall: timeout.min(Duration::from_secs(10)),
        slow: Duration::from_millis(args.slow_ms),
    };
    let timeouts = turnout_config::ResolvedTimeouts {
        connect: timeout.min(Duration::from_secs(10)),
        first_token: timeout,
        idle: target.stall,
        total: timeout,
    };
    let client = match build_client(&timeouts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("turnout check: cannot set up TLS: {e}");
            return ExitCode::from(2);
        }
    };
    loop {
        let report = probe(&client, &target, args.model.as_deref()).await;
        print(&report, &base, args.json);
        match args.watch {
            None => return ExitCode::from(report.class.exit_code()),
            Some(every) => {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(every.max(1))) => {}
                    _ = tokio::signal::ctrl_c() => return ExitCode::from(report.class.exit_code()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_classes_users_act_on() {
        assert_eq!(classify_error(401, "", true), Class::Auth);
        assert_eq!(classify_error(403, "", false), Class::Auth);
        assert_eq!(classify_error(402, "", true), Class::Credits);
        assert_eq!(classify_error(429, "", true), Class::RateLimited);
        assert_eq!(classify_error(404, "", true), Class::ModelUnavailable);
        assert_eq!(classify_error(404, "", false), Class::Outage);
        let no_endpoints = r#"{"error":{"code":503,"message":"No endpoints found for acme/x."}}"#;
        assert_eq!(
            classify_error(503, no_endpoints, true),
            Class::ModelUnavailable
        );
        assert_eq!(classify_error(503, no_endpoints, false), Class::Outage);
        assert_eq!(
            classify_error(503, r#"{"error":{"message":"overloaded"}}"#, true),
            Class::Outage
        );
        assert_eq!(classify_error(500, "", true), Class::Outage);
        assert_eq!(classify_error(524, "", true), Class::Outage);
    }

    #[test]
    fn exit_codes_are_the_documented_ones() {
        let codes: Vec<u8> = [
            Class::Healthy,
            Class::Degraded,
            Class::Auth,
            Class::Credits,
            Class::RateLimited,
            Class::ModelUnavailable,
            Class::Outage,
        ]
        .iter()
        .map(|c| c.exit_code())
        .collect();
        assert_eq!(codes, [0, 3, 4, 5, 6, 7, 8]);
    }
}
