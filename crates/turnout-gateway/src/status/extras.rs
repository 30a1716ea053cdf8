//! Status extensions beyond Statuspage v2, on their own paths so strict v2 parsers are not
//! affected (spec/status.md §5.8): per-day uptime, OpenRouter-style endpoint figures with
//! probe results, SVG and shields.io badges, and an Atom feed of incident updates.

use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::board::Component;
use super::derive::{ComponentStatus, IncidentStatus, Indicator};
use super::history::{DAYS, status_word};
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::catalog::percentiles;
use crate::web::html::escape;

const DAY_MS: i64 = 86_400_000;

fn iso(ms: i64) -> String {
    turnout_store::clock::iso(ms)
}

fn date(day: i64) -> String {
    let iso = iso(day * DAY_MS);
    iso.get(..10).unwrap_or(&iso).to_owned()
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn with_type(body: impl IntoResponse, content_type: &'static str, max_age: bool) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if max_age {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60"),
        );
    }
    r
}

fn find(state: &AppState, id: &str) -> Result<Component, ApiError> {
    state
        .status()
        .components()
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| ApiError::NotFound {
            message: format!("No status component with id {id:?}"),
        })
}

#[derive(Debug, Deserialize)]
pub struct UptimeQuery {
    component: Option<String>,
    days: Option<usize>,
}

/// `GET /status/api/ext/uptime.json?component=<id>&days=90`
pub async fn uptime(
    State(state): State<AppState>,
    Query(q): Query<UptimeQuery>,
) -> Result<Response, ApiError> {
    let id = q
        .component
        .ok_or_else(|| ApiError::invalid("`component` (a component id) is required"))?;
    let component = find(&state, &id)?;
    let days = q.days.unwrap_or(DAYS).clamp(1, DAYS);
    let view = state.history().view();
    let history = view
        .components
        .get(&component.id)
        .cloned()
        .unwrap_or_default();
    let bars: Vec<Value> = history
        .days
        .iter()
        .skip(history.days.len().saturating_sub(days))
        .map(|d| {
            let secs: serde_json::Map<String, Value> = [
                ComponentStatus::Operational,
                ComponentStatus::UnderMaintenance,
                ComponentStatus::DegradedPerformance,
                ComponentStatus::PartialOutage,
                ComponentStatus::MajorOutage,
            ]
            .iter()
            .zip(d.ms_by_status)
            .map(|(s, ms)| (status_word(*s).to_owned(), json!(ms / 1_000)))
            .collect();
            json!({
                "date": date(d.day),
                "uptime_pct": d.uptime_pct.map(round2),
                "request_uptime_pct": d.request_uptime_pct.map(round2),
                "worst_status": d.worst.map(status_word),
                "secs_by_status": secs,
                "requests": {"ok": d.counts.ok, "errors": d.counts.errors, "rate_limited": d.counts.rate_limited},
                "incidents": d.incidents,
            })
        })
        .collect();
    let body = json!({
        "component_id": component.id,
        "name": component.name,
        "uptime_pct": history.uptime_pct.map(round2),
        "days": bars,
    });
    Ok(with_type(
        axum::Json(body),
        "application/json; charset=utf-8",
        true,
    ))
}

#[derive(Debug, Deserialize)]
pub struct MetricsQuery {
    component: Option<String>,
    range: Option<String>,
}

/// `GET /status/api/ext/metrics.json?component=<id>&range=24h|7d|30d`: columns as uPlot
/// takes them (equal-length arrays, `null` where a bucket had no sample); 5-minute points for
/// 24 h, hourly ones for 7 and 30 days.
pub async fn metrics(
    State(state): State<AppState>,
    Query(q): Query<MetricsQuery>,
) -> Result<Response, ApiError> {
    use crate::health::series::Range;
    let id = q
        .component
        .ok_or_else(|| ApiError::invalid("`component` (a component id) is required"))?;
    let component = find(&state, &id)?;
    let range_name = q.range.unwrap_or_else(|| "24h".to_owned());
    let range = match range_name.as_str() {
        "24h" => Range::Day,
        "7d" => Range::Week,
        "30d" => Range::Month,
        other => {
            return Err(ApiError::invalid(format!(
                "unknown range {other:?}: use 24h, 7d or 30d"
            )));
        }
    };
    let points = component
        .endpoint
        .as_deref()
        .map(|key| state.health().series(key, range))
        .unwrap_or_default();
    let round = |v: Option<f64>| v.map(|x| (x * 10.0).round() / 10.0);
    let body = json!({
        "component_id": component.id,
        "range": range_name,
        "ts": points.iter().map(|p| p.start).collect::<Vec<_>>(),
        "ttft_p50_ms": points.iter().map(|p| round(p.ttft_p50_ms)).collect::<Vec<_>>(),
        "ttft_p95_ms": points.iter().map(|p| round(p.ttft_p95_ms)).collect::<Vec<_>>(),
        "tps_p50": points.iter().map(|p| round(p.tps_p50)).collect::<Vec<_>>(),
        "error_ratio": points.iter().map(|p| p.error_ratio().map(|r| (r * 10_000.0).round() / 10_000.0)).collect::<Vec<_>>(),
        "req_count": points.iter().map(|p| p.ok + p.errors).collect::<Vec<_>>(),
    });
    Ok(with_type(
        axum::Json(body),
        "application/json; charset=utf-8",
        false,
    ))
}

/// `GET /status/api/ext/endpoints.json`: each leaf's live figures (OpenRouter's definitions)
/// and what its probes found.
pub async fn endpoints(State(state): State<AppState>) -> Response {
    let now = Instant::now();
    let health = state.health();
    let probes = state.probes();
    let runtime = state.runtime();
    let list: Vec<Value> = state
        .status()
        .components()
        .iter()
        .filter_map(|c| {
            let key = c.endpoint.as_deref()?;
            let stats = health.stats(key, now);
            let probe = probes.summary(key);
            let (provider, model) = key.split_once('|').unwrap_or((key, ""));
            let check = runtime
                .catalog
                .providers()
                .iter()
                .any(|p| p.slug == provider)
                .then(|| probes.provider(provider))
                .flatten();
            Some(json!({
                "component_id": c.id,
                "name": c.name,
                "provider": provider,
                "model": model,
                "status": c.status,
                "uptime_last_5m": stats.as_ref().and_then(|s| s.uptime_5m),
                "uptime_last_30m": stats.as_ref().and_then(|s| s.uptime_30m),
                "uptime_last_1d": stats.as_ref().and_then(|s| s.uptime_1d),
                "latency_last_30m": percentiles(stats.as_ref().and_then(|s| s.latency_30m)),
                "throughput_last_30m": percentiles(stats.as_ref().and_then(|s| s.throughput_30m)),
                "probes": probe.map(|p| json!({
                    "total": p.total,
                    "ok": p.ok,
                    "skipped": p.skipped,
                    "last": p.last.map(|l| json!({
                        "at": iso(i64::try_from(l.at_ms).unwrap_or(0)),
                        "ok": l.ok,
                        "http_status": l.http_status,
                        "error_class": l.error_class,
                        "detail": l.detail,
                        "ttft_ms": l.ttft_ms,
                        "total_ms": l.total_ms,
                        "tokens_per_s": l.tokens_per_s.map(round2),
                    })),
                })),
                "provider_check": check.map(|p| json!({
                    "at": iso(i64::try_from(p.at_ms).unwrap_or(0)),
                    "ok": p.ok,
                    "http_status": p.http_status,
                    "detail": p.detail,
                })),
            }))
        })
        .collect();
    with_type(
        axum::Json(json!({ "data": list })),
        "application/json; charset=utf-8",
        false,
    )
}

/// A flat two-part badge, shields.io style; status spelled out in the text.
fn badge(label: &str, message: &str, colour: &str) -> Response {
    // Verdana 11px averages about 6.5 px a character.
    let width = |s: &str| (s.chars().count() as u32 * 13).div_ceil(2) + 12;
    let (lw, mw) = (width(label), width(message));
    let total = lw + mw;
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total}\" height=\"20\" role=\"img\" aria-label=\"{l}: {m}\">\
<title>{l}: {m}</title>\
<rect width=\"{lw}\" height=\"20\" fill=\"#555\"/><rect x=\"{lw}\" width=\"{mw}\" height=\"20\" fill=\"{colour}\"/>\
<g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\">\
<text x=\"{lx}\" y=\"14\">{l}</text><text x=\"{mx}\" y=\"14\">{m}</text></g></svg>",
        l = escape(label),
        m = escape(message),
        lx = lw / 2,
        mx = lw + mw / 2,
    );
    with_type(svg, "image/svg+xml", true)
}

fn status_colour(s: ComponentStatus) -> (&'static str, &'static str) {
    match s {
        ComponentStatus::Operational => ("#1f8a4c", "brightgreen"),
        ComponentStatus::UnderMaintenance => ("#1e63c4", "blue"),
        ComponentStatus::DegradedPerformance => ("#b58105", "yellow"),
        ComponentStatus::PartialOutage => ("#c8570a", "orange"),
        ComponentStatus::MajorOutage => ("#c62828", "red"),
    }
}

fn words(s: ComponentStatus) -> &'static str {
    match s {
        ComponentStatus::Operational => "operational",
        ComponentStatus::UnderMaintenance => "under maintenance",
        ComponentStatus::DegradedPerformance => "degraded performance",
        ComponentStatus::PartialOutage => "partial outage",
        ComponentStatus::MajorOutage => "major outage",
    }
}

/// `GET /status/badge.svg`: the page's overall state.
pub async fn page_badge(State(state): State<AppState>) -> Response {
    let snapshot = state.status().snapshot();
    let colour = match snapshot.indicator {
        Some(Indicator::Critical) => "#c62828",
        Some(Indicator::Major) => "#c8570a",
        Some(Indicator::Minor) => "#b58105",
        Some(Indicator::Maintenance) => "#1e63c4",
        _ => "#1f8a4c",
    };
    badge(
        &state.status().page_name,
        &snapshot.description.to_lowercase(),
        colour,
    )
}

/// `GET /status/components/{id}/badge.svg`
pub async fn component_badge(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let c = find(&state, &id)?;
    Ok(badge(&c.name, words(c.status), status_colour(c.status).0))
}

/// `GET /status/components/{id}/badge.shields`: a shields.io endpoint badge.
pub async fn component_shields(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let c = find(&state, &id)?;
    let body = json!({
        "schemaVersion": 1,
        "label": c.name,
        "message": words(c.status),
        "color": status_colour(c.status).1,
    });
    Ok(with_type(
        axum::Json(body),
        "application/json; charset=utf-8",
        true,
    ))
}

/// `GET /status/components/{id}/uptime/{24h|7d|30d|90d}/badge.svg`
pub async fn uptime_badge(
    State(state): State<AppState>,
    Path((id, range)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let c = find(&state, &id)?;
    let window = match range.as_str() {
        "24h" => Duration::from_secs(86_400),
        "7d" => Duration::from_secs(7 * 86_400),
        "30d" => Duration::from_secs(30 * 86_400),
        "90d" => Duration::from_secs(90 * 86_400),
        other => {
            return Err(ApiError::invalid(format!(
                "unknown uptime range {other:?}: use 24h, 7d, 30d or 90d"
            )));
        }
    };
    let view = state.history().view();
    let uptime = view
        .components
        .get(&c.id)
        .and_then(|h| h.uptime_over(window, turnout_store::clock::now_ms()));
    let (message, colour) = match uptime {
        None => ("no data".to_owned(), "#9f9f9f"),
        Some(u) => (
            format!("{}%", round2(u)),
            if u >= 99.9 {
                "#1f8a4c"
            } else if u >= 99.0 {
                "#b58105"
            } else if u >= 95.0 {
                "#c8570a"
            } else {
                "#c62828"
            },
        ),
    };
    Ok(badge(&format!("uptime {range}"), &message, colour))
}

fn incident_word(s: IncidentStatus) -> &'static str {
    match s {
        IncidentStatus::Investigating => "Investigating",
        IncidentStatus::Identified => "Identified",
        IncidentStatus::Monitoring => "Monitoring",
        IncidentStatus::Resolved => "Resolved",
        IncidentStatus::Postmortem => "Postmortem",
    }
}

/// `GET /status/history.atom`: one entry per incident update, newest first.
pub async fn atom(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let board = state.status();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let base = format!("http://{host}/status");
    let mut entries: Vec<(u64, String)> = Vec::new();
    for i in board.incidents() {
        for u in &i.updates {
            entries.push((
                u.at_ms,
                format!(
                    "<entry><id>tag:turnout,{page}:incident/{iid}/update/{uid}</id>\
<title>{name}: {status}</title><updated>{at}</updated>\
<link rel=\"alternate\" href=\"{base}#incident-{iid}\"/>\
<content type=\"text\">{body}</content></entry>",
                    page = escape(&board.page_id),
                    iid = escape(&i.id),
                    uid = escape(&u.id),
                    name = escape(&i.name),
                    status = incident_word(u.status),
                    at = iso(i64::try_from(u.at_ms).unwrap_or(0)),
                    body = escape(&u.body),
                ),
            ));
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    entries.truncate(50);
    let updated = entries.first().map_or_else(
        || iso(turnout_store::clock::now_ms()),
        |e| iso(i64::try_from(e.0).unwrap_or(0)),
    );
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
<feed xmlns=\"http://www.w3.org/2005/Atom\"><id>tag:turnout,{page}:history</id>\
<title>{name} status history</title><updated>{updated}</updated><author><name>{name}</name></author>\
<link rel=\"alternate\" href=\"{base}\"/><link rel=\"self\" href=\"{base}/history.atom\"/>",
        page = escape(&board.page_id),
        name = escape(&board.page_name),
    );
    for (_, e) in entries {
        out.push_str(&e);
    }
    out.push_str("</feed>");
    with_type(out, "application/atom+xml; charset=utf-8", true)
}
