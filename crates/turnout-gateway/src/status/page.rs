//! The public status page: Statuspage-v2-compatible JSON (spec/status.md §5.8) served from an
//! in-memory snapshot rebuilt on every change, with CORS, caching and a strong ETag; and the
//! server-rendered HTML page, which needs no JavaScript.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::board::{Component, Incident, MaintenanceView, StatusBoard};
use super::derive::{ComponentStatus, Impact, IncidentStatus, Indicator};
use super::maintenance::MaintenanceStatus;
use super::settings::StatusSettings;
use crate::state::AppState;
use crate::web::html::{PALETTE, escape};

/// One JSON body with its strong ETag.
#[derive(Debug, Default, Clone)]
pub struct Body {
    pub bytes: Bytes,
    pub etag: String,
}

impl Body {
    fn of(v: &Value) -> Body {
        let bytes = Bytes::from(serde_json::to_vec(v).unwrap_or_default());
        let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&bytes)[..12]));
        Body { bytes, etag }
    }
}

#[derive(Debug, Default)]
pub struct Snapshot {
    pub indicator: Option<Indicator>,
    pub description: String,
    pub summary: Body,
    pub status: Body,
    pub components: Body,
    pub incidents: Body,
    pub unresolved: Body,
    pub maintenances: Body,
    pub upcoming: Body,
    pub active: Body,
}

fn iso(ms: u64) -> String {
    turnout_store::clock::iso(i64::try_from(ms).unwrap_or(i64::MAX))
}

fn component_json(c: &Component, page_id: &str) -> Value {
    let mut v = json!({
        "id": c.id,
        "name": c.name,
        "status": c.status,
        "created_at": iso(c.created_at_ms),
        "updated_at": iso(c.updated_at_ms),
        "position": c.position,
        "description": c.description,
        "showcase": false,
        "start_date": null,
        "group_id": c.group_id,
        "page_id": page_id,
        "group": c.is_group(),
        "only_show_if_degraded": false,
    });
    if c.is_group()
        && let Some(o) = v.as_object_mut()
    {
        o.insert("components".into(), json!(c.children));
    }
    v
}

fn incident_json(
    i: &Incident,
    components: &[Component],
    page_id: &str,
    settings: &StatusSettings,
) -> Value {
    let updates: Vec<Value> = i
        .updates
        .iter()
        .rev()
        .map(|u| {
            let affected: Vec<Value> = u
                .affected
                .iter()
                .map(|(code, name, old, new)| {
                    json!({"code": code, "name": name, "old_status": old, "new_status": new})
                })
                .collect();
            json!({
                "id": u.id,
                "status": u.status,
                "body": u.body,
                "incident_id": i.id,
                "created_at": iso(u.at_ms),
                "updated_at": iso(u.at_ms),
                "display_at": iso(u.at_ms),
                "affected_components": affected,
                "deliver_notifications": true,
                "custom_tweet": null,
                "tweet_id": null,
            })
        })
        .collect();
    let affected: Vec<Value> = components
        .iter()
        .filter(|c| i.components.contains(&c.id))
        .map(|c| component_json(c, page_id))
        .collect();
    json!({
        "id": i.id,
        "name": i.name,
        "status": i.status,
        "created_at": iso(i.created_at_ms),
        "updated_at": iso(i.updated_at_ms),
        "monitoring_at": i.monitoring_at_ms.map(iso),
        "resolved_at": i.resolved_at_ms.map(iso),
        "impact": i.impact,
        "shortlink": settings.link(&format!("incident-{}", i.id)),
        "started_at": iso(i.created_at_ms),
        "page_id": page_id,
        "incident_updates": updates,
        "components": affected,
    })
}

/// A Statuspage `scheduled_maintenance`: an incident's shape plus `scheduled_for` and
/// `scheduled_until`, its updates following the occurrence's phases (newest first).
fn maintenance_json(
    m: &MaintenanceView,
    components: &[Component],
    page_id: &str,
    settings: &StatusSettings,
) -> Value {
    let mut phases = vec![(
        MaintenanceStatus::Scheduled,
        m.body.clone(),
        m.created_at_ms,
    )];
    if matches!(
        m.status,
        MaintenanceStatus::InProgress | MaintenanceStatus::Completed
    ) {
        phases.push((
            MaintenanceStatus::InProgress,
            "Scheduled maintenance is currently in progress.".to_owned(),
            m.scheduled_for_ms,
        ));
    }
    if m.status == MaintenanceStatus::Completed {
        phases.push((
            MaintenanceStatus::Completed,
            "The scheduled maintenance has been completed.".to_owned(),
            m.scheduled_until_ms,
        ));
    }
    let updates: Vec<Value> = phases
        .iter()
        .enumerate()
        .rev()
        .map(|(n, (status, body, at))| {
            json!({
                "id": super::board::component_id(&format!("{}|update|{n}", m.id)),
                "status": status,
                "body": body,
                "incident_id": m.id,
                "created_at": iso(*at),
                "updated_at": iso(*at),
                "display_at": iso(*at),
                "affected_components": null,
                "deliver_notifications": true,
                "custom_tweet": null,
                "tweet_id": null,
            })
        })
        .collect();
    let affected: Vec<Value> = components
        .iter()
        .filter(|c| m.components.contains(&c.id))
        .map(|c| component_json(c, page_id))
        .collect();
    let updated_at = phases.last().map_or(m.created_at_ms, |p| p.2);
    json!({
        "id": m.id,
        "name": m.name,
        "status": m.status,
        "created_at": iso(m.created_at_ms),
        "updated_at": iso(updated_at),
        "monitoring_at": null,
        "resolved_at": (m.status == MaintenanceStatus::Completed).then(|| iso(m.scheduled_until_ms)),
        "impact": Impact::Maintenance,
        "shortlink": settings.link(&format!("maintenance-{}", m.id)),
        "started_at": iso(m.scheduled_for_ms),
        "page_id": page_id,
        "incident_updates": updates,
        "components": affected,
        "scheduled_for": iso(m.scheduled_for_ms),
        "scheduled_until": iso(m.scheduled_until_ms),
    })
}

impl Snapshot {
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        board: &StatusBoard,
        settings: &StatusSettings,
        components: &[Component],
        incidents: &[Incident],
        maintenances: &[MaintenanceView],
        indicator: Indicator,
        description: &str,
        now_ms: u64,
    ) -> Snapshot {
        let page = json!({
            "id": board.page_id,
            "name": board.page_name,
            "url": settings.link(""),
            "time_zone": "Etc/UTC",
            "updated_at": iso(now_ms),
        });
        let status = json!({"indicator": indicator, "description": description});
        let list: Vec<Value> = components
            .iter()
            .map(|c| component_json(c, &board.page_id))
            .collect();
        // Newest first, as Statuspage lists them.
        let all: Vec<Value> = incidents
            .iter()
            .rev()
            .map(|i| incident_json(i, components, &board.page_id, settings))
            .collect();
        let unresolved: Vec<Value> = incidents
            .iter()
            .rev()
            .filter(|i| {
                !matches!(
                    i.status,
                    IncidentStatus::Resolved | IncidentStatus::Postmortem
                )
            })
            .map(|i| incident_json(i, components, &board.page_id, settings))
            .collect();
        let in_status = |wanted: &[MaintenanceStatus]| -> Vec<Value> {
            maintenances
                .iter()
                .filter(|m| wanted.contains(&m.status))
                .map(|m| maintenance_json(m, components, &board.page_id, settings))
                .collect()
        };
        let upcoming = in_status(&[MaintenanceStatus::Scheduled]);
        let active = in_status(&[MaintenanceStatus::InProgress, MaintenanceStatus::Verifying]);
        let every_maintenance: Vec<Value> = maintenances
            .iter()
            .map(|m| maintenance_json(m, components, &board.page_id, settings))
            .collect();
        // summary.json: "any upcoming or in-progress scheduled maintenances".
        let current = in_status(&[
            MaintenanceStatus::InProgress,
            MaintenanceStatus::Verifying,
            MaintenanceStatus::Scheduled,
        ]);
        let summary = json!({
            "page": page,
            "components": list,
            "incidents": unresolved,
            "scheduled_maintenances": current,
            "status": status,
        });
        Snapshot {
            indicator: Some(indicator),
            description: description.to_owned(),
            summary: Body::of(&summary),
            status: Body::of(&json!({"page": page, "status": status})),
            components: Body::of(&json!({"page": page, "components": list})),
            incidents: Body::of(&json!({"page": page, "incidents": all})),
            unresolved: Body::of(&json!({"page": page, "incidents": unresolved})),
            maintenances: Body::of(
                &json!({"page": page, "scheduled_maintenances": every_maintenance}),
            ),
            upcoming: Body::of(&json!({"page": page, "scheduled_maintenances": upcoming})),
            active: Body::of(&json!({"page": page, "scheduled_maintenances": active})),
        }
    }
}

fn serve_json(body: &Body, headers: &HeaderMap) -> Response {
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == body.etag));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, body.bytes.clone()).into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=10"),
    );
    if let Ok(v) = HeaderValue::from_str(&body.etag) {
        h.insert(header::ETAG, v);
    }
    response
}

/// `[status] enabled = false`: the page is not there.
fn disabled(state: &AppState) -> Option<Response> {
    (!state.status().settings().enabled).then(|| {
        crate::error::ApiError::RouteNotFound {
            path: "/status".to_owned(),
        }
        .into_response()
    })
}

macro_rules! json_route {
    ($name:ident, $field:ident) => {
        pub async fn $name(State(state): State<AppState>, headers: HeaderMap) -> Response {
            if let Some(off) = disabled(&state) {
                return off;
            }
            serve_json(&state.status().snapshot().$field, &headers)
        }
    };
}

json_route!(summary, summary);
json_route!(status, status);
json_route!(components, components);
json_route!(incidents, incidents);
json_route!(unresolved_incidents, unresolved);
json_route!(maintenances, maintenances);
json_route!(upcoming_maintenances, upcoming);
json_route!(active_maintenances, active);

/// `2026-03-01 02:00`.
fn utc_minute(ms: u64) -> String {
    let iso = iso(ms);
    iso.get(..16).unwrap_or(&iso).replace('T', " ")
}

pub(crate) fn label(s: ComponentStatus) -> &'static str {
    match s {
        ComponentStatus::Operational => "Operational",
        ComponentStatus::UnderMaintenance => "Under maintenance",
        ComponentStatus::DegradedPerformance => "Degraded performance",
        ComponentStatus::PartialOutage => "Partial outage",
        ComponentStatus::MajorOutage => "Major outage",
    }
}

pub(crate) fn css_class(s: ComponentStatus) -> &'static str {
    match s {
        ComponentStatus::Operational => "ok",
        ComponentStatus::UnderMaintenance => "maint",
        ComponentStatus::DegradedPerformance => "degraded",
        ComponentStatus::PartialOutage => "partial",
        ComponentStatus::MajorOutage => "major",
    }
}

fn indicator_class(i: Option<Indicator>) -> &'static str {
    match i {
        Some(Indicator::Critical) => "major",
        Some(Indicator::Major) => "partial",
        Some(Indicator::Minor) => "degraded",
        Some(Indicator::Maintenance) => "maint",
        _ => "ok",
    }
}

const STYLE: &str = "
main{max-width:760px;margin:0 auto;padding:24px 16px}
h1{font-size:1.4rem;margin:0 0 16px}
.banner{padding:14px 18px;border-radius:8px;color:#fff;font-weight:600;margin-bottom:24px}
.banner.ok{background:var(--ok)}.banner.degraded{background:var(--degraded)}
.banner.partial{background:var(--partial)}.banner.major{background:var(--major)}
.banner.maint{background:var(--maint)}
section{border:1px solid var(--line);border-radius:8px;margin-bottom:16px}
.row{display:flex;justify-content:space-between;gap:12px;padding:10px 16px;border-top:1px solid var(--line)}
.row:first-child{border-top:0}.group{font-weight:600}
.child{padding-left:32px}.desc{color:var(--muted);font-size:.85rem}
footer{color:var(--muted);font-size:.85rem;margin-top:24px}
.bars{padding:0 16px 10px 32px}.bars svg{width:100%;height:28px;display:block}
.bars rect.ok{fill:var(--ok)}.bars rect.degraded{fill:var(--degraded)}
.bars rect.partial{fill:var(--partial)}.bars rect.major{fill:var(--major)}
.bars rect.maint{fill:var(--maint)}.bars rect.nodata{fill:var(--line)}
.span{display:flex;justify-content:space-between;color:var(--muted);font-size:.75rem}
.perf{padding:0 16px 10px 32px;font-size:.85rem}.perf summary{cursor:pointer;color:var(--muted)}
.ranges{margin:6px 0}.ranges button{font:inherit;background:none;color:var(--fg);border:1px solid var(--line);border-radius:4px;padding:2px 8px}
.ranges button[aria-pressed=true]{border-color:var(--link)}
.u-legend,.u-title{color:var(--fg)}
";

/// The 90-day uptime bar of one component: one rectangle per day, coloured by the day's worst
/// status, each with a text tooltip (date, status, uptime) so colour is never the only signal.
fn uptime_bars(out: &mut String, h: &super::history::ComponentHistory) {
    let n = h.days.len().max(1);
    out.push_str(&format!(
        "<div class=\"bars\"><svg viewBox=\"0 0 {} 28\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{}\">",
        n * 4,
        escape(&match h.uptime_pct {
            Some(u) => format!("{n}-day uptime {u:.2} %"),
            None => format!("{n}-day uptime: no data yet"),
        })
    ));
    for (i, d) in h.days.iter().enumerate() {
        let day = turnout_store::clock::iso(d.day * 86_400_000);
        let day = day.get(..10).unwrap_or(&day).to_owned();
        let (class, what) = match d.worst {
            None => ("nodata", "no data".to_owned()),
            Some(s) => (
                css_class(s),
                format!(
                    "{}{}",
                    label(s),
                    d.uptime_pct
                        .map(|u| format!(", uptime {u:.2} %"))
                        .unwrap_or_default()
                ),
            ),
        };
        out.push_str(&format!(
            "<rect class=\"{class}\" x=\"{}\" y=\"0\" width=\"3\" height=\"28\"><title>{day}: {}</title></rect>",
            i * 4,
            escape(&what)
        ));
    }
    out.push_str(&format!(
        "</svg><div class=\"span\"><span>{n} days ago</span><span>{}</span><span>Today</span></div></div>",
        match h.uptime_pct {
            Some(u) => format!("{u:.2} % uptime"),
            None => "no data yet".to_owned(),
        }
    ));
}

/// `GET /status`: the page, rendered on the server; status always spelled out in text.
pub async fn html(State(state): State<AppState>) -> Response {
    if let Some(off) = disabled(&state) {
        return off;
    }
    let board = state.status();
    let snapshot = board.snapshot();
    let components = board.components();
    let mut out = String::with_capacity(4096);
    out.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
    // Without JavaScript the page reloads itself; with it, status.js refreshes in place.
    out.push_str("<noscript><meta http-equiv=\"refresh\" content=\"30\"></noscript>");
    out.push_str(&format!(
        "<link rel=\"stylesheet\" href=\"{}\"><script defer src=\"{}\"></script><script defer src=\"{}\"></script>",
        super::assets::path("uplot", "css"),
        super::assets::path("uplot", "js"),
        super::assets::path("status", "js"),
    ));
    out.push_str(&format!(
        "<title>{} status</title><style>{PALETTE}{STYLE}</style></head><body><main>",
        escape(&board.page_name)
    ));
    out.push_str(&format!("<h1>{} status</h1>", escape(&board.page_name)));
    out.push_str(&format!(
        "<div class=\"banner {}\" role=\"status\">{}</div>",
        indicator_class(snapshot.indicator),
        escape(&snapshot.description)
    ));
    let history = state.history().view();
    let row = |out: &mut String, c: &Component, class: &str| {
        out.push_str(&format!(
            "<div class=\"row {class}\" data-id=\"{}\"><div><div>{}</div>{}</div><div class=\"st {}\">{}</div></div>",
            escape(&c.id),
            escape(&c.name),
            c.description
                .as_deref()
                .map(|d| format!("<div class=\"desc\">{}</div>", escape(d)))
                .unwrap_or_default(),
            css_class(c.status),
            label(c.status)
        ));
        if let Some(h) = history.components.get(&c.id) {
            uptime_bars(out, h);
        }
        if c.endpoint.is_some() {
            out.push_str(&format!(
                "<details class=\"perf\" data-component=\"{}\"><summary>Performance</summary>\
<div class=\"ranges\"><button type=\"button\" data-range=\"24h\" aria-pressed=\"true\">24 h</button>\
<button type=\"button\" data-range=\"7d\" aria-pressed=\"false\">7 days</button>\
<button type=\"button\" data-range=\"30d\" aria-pressed=\"false\">30 days</button></div>\
<div class=\"charts\"><noscript>Charts need JavaScript; the figures are in \
<a href=\"/status/api/ext/metrics.json?component={}\">metrics.json</a>.</noscript></div></details>",
                escape(&c.id),
                escape(&c.id)
            ));
        }
    };
    for i in board.incidents().iter().rev().filter(|i| {
        !matches!(
            i.status,
            IncidentStatus::Resolved | IncidentStatus::Postmortem
        )
    }) {
        let latest = i
            .updates
            .last()
            .map(|u| u.body.as_str())
            .unwrap_or_default();
        out.push_str(&format!(
            "<section id=\"incident-{}\"><div class=\"row group\"><div>{}</div><div class=\"st major\">{}</div></div><div class=\"row\"><div>{}</div></div></section>",
            escape(&i.id),
            escape(&i.name),
            match i.status {
                IncidentStatus::Investigating => "Investigating",
                IncidentStatus::Identified => "Identified",
                IncidentStatus::Monitoring => "Monitoring",
                IncidentStatus::Resolved => "Resolved",
                IncidentStatus::Postmortem => "Postmortem",
            },
            escape(latest)
        ));
    }
    // Maintenance in progress first, then upcoming; times in UTC (no JavaScript to localise).
    let mut maintenances = board.maintenance_views();
    maintenances.retain(|m| m.status != MaintenanceStatus::Completed);
    maintenances.sort_by_key(|m| {
        (
            m.status != MaintenanceStatus::InProgress,
            m.scheduled_for_ms,
        )
    });
    for m in &maintenances {
        let when = if m.status == MaintenanceStatus::InProgress {
            "In progress"
        } else {
            "Scheduled"
        };
        out.push_str(&format!(
            "<section id=\"maintenance-{}\"><div class=\"row group\"><div>{}</div><div class=\"st maint\">{when}</div></div><div class=\"row\"><div>{} – {} UTC<div class=\"desc\">{}</div></div></div></section>",
            escape(&m.id),
            escape(&m.name),
            escape(&utc_minute(m.scheduled_for_ms)),
            escape(&utc_minute(m.scheduled_until_ms)),
            escape(&m.body),
        ));
    }
    for c in components.iter().filter(|c| c.group_id.is_none()) {
        out.push_str("<section>");
        row(&mut out, c, if c.is_group() { "group" } else { "" });
        for child in components
            .iter()
            .filter(|x| x.group_id.as_deref() == Some(c.id.as_str()))
        {
            row(&mut out, child, "child");
        }
        out.push_str("</section>");
    }
    out.push_str(
        "<footer>Live from this gateway's traffic and probes. JSON: <a href=\"/status/api/v2/summary.json\">summary.json</a> (Statuspage v2) · <a href=\"/status/history.atom\">Atom feed</a> · <a href=\"/status/badge.svg\">badge</a>.</footer>",
    );
    out.push_str("</main></body></html>");
    // Scripts only from this origin (no inline script); styles may be inline (the page's own
    // and uPlot's element styles).
    crate::web::html::page(
        StatusCode::OK,
        out,
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    )
}
