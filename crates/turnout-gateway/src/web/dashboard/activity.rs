//! Activity: the account's recent generations, filterable by model, provider and key (a GET
//! form, so a filtered view is a link), and one generation's detail with every attempt of
//! its plan.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use turnout_store::{Generation, GenerationFilter, KeyRecord, clock};

use super::format::{self, NONE};
use super::layout::{self, Col, Frame, Nav, TABLE_END, option, table};
use super::session::Session;
use crate::error::DashboardError;
use crate::state::AppState;
use crate::web::accounts::account_generation;
use crate::web::html::escape;

const PAGE: u32 = 100;
/// Keys listed in the filter (and named in the table without another query).
const KEYS_LISTED: u32 = 1_000;

#[derive(Debug, Default, Deserialize)]
pub(super) struct Filters {
    #[serde(default)]
    model: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    key: String,
    /// `<created_at_ms>:<id>` of the last row of the previous page.
    #[serde(default)]
    before: String,
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

impl Filters {
    fn to_store(&self) -> GenerationFilter {
        GenerationFilter {
            model: non_empty(&self.model),
            provider_slug: non_empty(&self.provider),
            key_hash: non_empty(&self.key),
            before: self.before.split_once(':').and_then(|(ms, id)| {
                ms.parse::<i64>()
                    .ok()
                    .filter(|_| !id.is_empty())
                    .map(|ms| (ms, id.to_owned()))
            }),
        }
    }

    fn query(&self, before: Option<String>) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("model", &self.model),
            ("provider", &self.provider),
            ("key", &self.key),
        ] {
            if !value.trim().is_empty() {
                q.append_pair(name, value.trim());
            }
        }
        if let Some(b) = before {
            q.append_pair("before", &b);
        }
        q.finish()
    }
}

/// Names of the keys that made `rows`: live keys from the account's list, others (deleted)
/// looked up once each; a hash no key has is a static key from the config file.
async fn key_names(
    state: &AppState,
    listed: &[KeyRecord],
    rows: &[Generation],
) -> Result<HashMap<String, String>, DashboardError> {
    let mut names: HashMap<String, String> = listed
        .iter()
        .map(|k| (k.hash.clone(), k.name.clone()))
        .collect();
    for hash in rows.iter().filter_map(|g| g.key_hash.as_deref()) {
        if names.contains_key(hash) {
            continue;
        }
        let name = match state.accounts().store().key(hash).await? {
            Some(k) => format!("{} (deleted)", k.name),
            None => format!("static key {}…", hash.get(..8).unwrap_or(hash)),
        };
        names.insert(hash.to_owned(), name);
    }
    Ok(names)
}

fn key_name(names: &HashMap<String, String>, g: &Generation) -> String {
    g.key_hash
        .as_deref()
        .and_then(|h| names.get(h))
        .cloned()
        .unwrap_or_else(|| "no key".to_owned())
}

/// How a generation ended, in words (and the class that colours them).
fn outcome(g: &Generation) -> (&'static str, String) {
    let failed = g.attempts.iter().filter(|a| a.status != 200).count();
    let after = match failed {
        0 => String::new(),
        1 => " after 1 failed attempt".to_owned(),
        n => format!(" after {n} failed attempts"),
    };
    if g.cancelled {
        ("degraded", format!("Cancelled by the client{after}"))
    } else if g.finish_reason.as_deref() == Some("error") {
        ("major", format!("Error after content{after}"))
    } else {
        (
            "ok",
            format!(
                "Completed ({}){after}",
                g.finish_reason.as_deref().unwrap_or("no finish reason")
            ),
        )
    }
}

/// A stream's latency is its time to first token; its whole time adds the generation.
fn total_ms(g: &Generation) -> Option<u64> {
    let first = g.latency_ms?;
    Some(if g.streamed {
        first + g.generation_time_ms.unwrap_or(0)
    } else {
        first
    })
}

fn opt_ms(v: Option<u64>) -> String {
    format::ms(v.map(|v| v as f64))
}

/// `GET /dashboard/activity?model=&provider=&key=&before=`.
pub(super) async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(filters): Query<Filters>,
) -> Result<Response, DashboardError> {
    let store = state.accounts().store();
    let rows = store
        .find_generations(&session.account, &filters.to_store(), PAGE)
        .await?;
    let keys = store
        .list_keys(Some(&session.account), true, 0, KEYS_LISTED)
        .await?;
    let names = key_names(&state, &keys, &rows).await?;
    let runtime = state.runtime();
    let catalog = &runtime.catalog;
    let now = clock::now_ms();

    let mut out = String::with_capacity(32 * 1024);
    out.push_str(
        "<form method=\"get\" action=\"/dashboard/activity\" aria-label=\"Filter\"><div class=\"fields\">\
<label>Model<input name=\"model\" list=\"models\" spellcheck=\"false\" value=\"",
    );
    out.push_str(&escape(filters.model.trim()));
    out.push_str("\"></label><datalist id=\"models\">");
    for m in catalog.models() {
        out.push_str(&format!("<option value=\"{}\">", escape(&m.id)));
    }
    out.push_str("</datalist><label>Provider<select name=\"provider\"><option value=\"\">Any provider</option>");
    for p in catalog.providers() {
        out.push_str(&option(&p.slug, &p.name, filters.provider.trim() == p.slug));
    }
    out.push_str(
        "</select></label><label>Key<select name=\"key\"><option value=\"\">Any key</option>",
    );
    for k in &keys {
        let label = format!("{} ({})", k.name, k.label);
        out.push_str(&option(&k.hash, &label, filters.key.trim() == k.hash));
    }
    out.push_str(
        "</select></label><div><button type=\"submit\">Filter</button> \
<a href=\"/dashboard/activity\">Clear</a></div></div></form>",
    );

    if rows.is_empty() {
        out.push_str("<p class=\"notice\">No generations match. Requests appear here a moment after they finish.</p>");
    } else {
        out.push_str(&table(
            " id=\"generations\"",
            &[
                Col::Text("Time (UTC)"),
                Col::Text("Key"),
                Col::Text("Model"),
                Col::Text("Provider"),
                Col::Text("Status"),
                Col::Num("Tokens in → out"),
                Col::Num("Cost"),
                Col::Num("Latency"),
                Col::Num("TTFT"),
                Col::Text("Generation"),
            ],
        ));
        for g in &rows {
            let (class, words) = outcome(g);
            out.push_str(&format!(
                "<tr data-id=\"{id}\"><td class=\"nowrap\"><span title=\"{ago}\">{time}</span></td><td>{key}</td>\
<td>{model}</td><td class=\"provider\">{provider}</td><td><span class=\"st {class}\">{words}</span></td>\
<td class=\"num\">{tin} → {tout}</td><td class=\"num cost\">{cost}</td><td class=\"num\">{latency}</td>\
<td class=\"num\">{ttft}</td><td><a class=\"mono\" href=\"/dashboard/activity/{id}\">{id}</a></td></tr>",
                id = escape(&g.id),
                ago = format::ago(g.created_at_ms, now),
                time = format::time(g.created_at_ms),
                key = escape(&key_name(&names, g)),
                model = escape(&g.model),
                provider = escape(&g.provider_name),
                words = escape(&words),
                tin = format::count(g.tokens_prompt),
                tout = format::count(g.tokens_completion),
                cost = format::usd(g.cost),
                latency = opt_ms(total_ms(g)),
                ttft = opt_ms(g.latency_ms),
            ));
        }
        out.push_str(TABLE_END);
        if rows.len() == PAGE as usize
            && let Some(last) = rows.last()
        {
            out.push_str(&format!(
                "<p><a href=\"/dashboard/activity?{}\" rel=\"next\">Older generations →</a></p>",
                escape(&filters.query(Some(format!("{}:{}", last.created_at_ms, last.id))))
            ));
        }
    }
    Ok(layout::page(
        Frame {
            title: "Activity",
            nav: Nav::Activity,
            session: &session,
            charts: false,
        },
        &out,
    ))
}

/// An attempt's HTTP status in words.
fn attempt_words(status: u16) -> &'static str {
    match status {
        200 => "Served",
        400 | 422 => "Refused the request as invalid",
        401 | 403 => "Refused our provider key (misconfigured)",
        404 => "Model not found upstream (misconfigured)",
        408 | 504 | 524 => "Timed out",
        429 => "Rate limited",
        500 | 502 => "Provider error",
        503 | 529 => "Overloaded",
        _ => "Failed",
    }
}

/// `GET /dashboard/activity/{id}`: one generation of this account.
pub(super) async fn detail(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, DashboardError> {
    let store = state.accounts().store();
    let g = account_generation(&state, &session.account, &id).await?;
    let keys = store
        .list_keys(Some(&session.account), true, 0, KEYS_LISTED)
        .await?;
    let names = key_names(&state, &keys, std::slice::from_ref(&g)).await?;
    let (class, words) = outcome(&g);
    let opt = |v: &Option<String>| v.as_deref().map_or_else(|| NONE.to_owned(), escape);
    let mut out = String::with_capacity(8192);
    out.push_str(&format!(
        "<p><a href=\"/dashboard/activity\">← Activity</a></p><p class=\"mono\">{}</p>\
<p>Status: <span class=\"st {class}\">{}</span></p><div class=\"scroll\"><table class=\"kv\"><tbody>",
        escape(&g.id),
        escape(&words)
    ));
    let rows: Vec<(&str, String)> = vec![
        ("Time", format::time(g.created_at_ms)),
        ("Key", escape(&key_name(&names, &g))),
        ("Model", escape(&g.model)),
        (
            "Provider",
            format!(
                "{} (<code>{}</code>)",
                escape(&g.provider_name),
                escape(&g.provider_slug)
            ),
        ),
        ("Upstream model", escape(&g.upstream_model)),
        ("Upstream id", opt(&g.upstream_id)),
        ("Streamed", if g.streamed { "yes" } else { "no" }.to_owned()),
        ("Finish reason", opt(&g.finish_reason)),
        ("Prompt tokens", format::count(g.tokens_prompt)),
        ("Completion tokens", format::count(g.tokens_completion)),
        ("Cached prompt tokens", format::count(g.tokens_cached)),
        ("Reasoning tokens", format::count(g.tokens_reasoning)),
        ("Cost", format::usd(g.cost)),
        ("Latency (whole request)", opt_ms(total_ms(&g))),
        ("Time to first token", opt_ms(g.latency_ms)),
        ("Generation time", opt_ms(g.generation_time_ms)),
        ("Session id", opt(&g.session_id)),
        ("App", opt(&g.app_title)),
        ("HTTP referer", opt(&g.http_referer)),
        ("User agent", opt(&g.user_agent)),
    ];
    for (name, value) in rows {
        out.push_str(&format!(
            "<tr><th scope=\"row\">{name}</th><td>{value}</td></tr>"
        ));
    }
    out.push_str(TABLE_END);
    out.push_str("<h2>Attempts of the plan</h2>");
    out.push_str(&table(
        " id=\"attempts\"",
        &[
            Col::Num("#"),
            Col::Text("Provider"),
            Col::Text("Model"),
            Col::Num("HTTP status"),
            Col::Text("Outcome"),
        ],
    ));
    for (i, a) in g.attempts.iter().enumerate() {
        let class = if a.status == 200 { "ok" } else { "major" };
        out.push_str(&format!(
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
<td><span class=\"st {class}\">{}</span></td></tr>",
            i + 1,
            escape(&a.provider_name),
            escape(&a.model),
            a.status,
            attempt_words(a.status)
        ));
    }
    out.push_str(TABLE_END);
    out.push_str(&format!(
        "<p class=\"muted\">The same record as \
<code>GET /api/v1/generation?id={}</code> (its <code>provider_responses</code>).</p>",
        escape(&g.id)
    ));
    Ok(layout::page(
        Frame {
            title: "Generation",
            nav: Nav::Activity,
            session: &session,
            charts: false,
        },
        &out,
    ))
}
