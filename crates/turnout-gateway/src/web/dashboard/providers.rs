//! Providers: how concentrated the account's traffic is (each provider's share of requests
//! and spend over the last 30 days, as `/api/v1/activity`'s `providers[]`), each provider's
//! health (status-page component, live error rate, breakers, credential check), and each
//! model's fallback chain with when every endpoint last served or was probed.

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use rust_decimal::Decimal;
use turnout_store::clock;

use super::format::{self, NONE};
use super::layout::{self, Col, Frame, Nav, TABLE_END, table};
use super::session::Session;
use crate::error::DashboardError;
use crate::health::BreakerState;
use crate::health::series::Range;
use crate::state::AppState;
use crate::status::page::{css_class, label};
use crate::web::accounts::{activity_rows, provider_shares};
use crate::web::html::escape;

/// Above this share of requests, one provider carries most of the traffic.
const CONCENTRATED: f64 = 0.8;

fn breaker_words(state: BreakerState, now: Instant) -> (&'static str, String) {
    match state {
        BreakerState::Closed => ("ok", "Closed (passing traffic)".to_owned()),
        BreakerState::Open { until } => (
            "major",
            format!(
                "Open: no traffic for {} s more",
                until.saturating_duration_since(now).as_secs().max(1)
            ),
        ),
        BreakerState::HalfOpen { .. } => ("degraded", "Half-open: one trial request".to_owned()),
    }
}

/// USD per million tokens, as providers list prices.
fn per_million(price: Decimal) -> String {
    format!("${}", (price * Decimal::from(1_000_000)).normalize())
}

/// `GET /dashboard/providers`.
pub(super) async fn page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, DashboardError> {
    let now_ms = clock::now_ms();
    let now = Instant::now();
    let runtime = state.runtime();
    let catalog = &runtime.catalog;
    let health = state.health();
    let board = state.status();
    let probes = state.probes();
    let breakers: HashMap<String, BreakerState> = health
        .snapshot(now)
        .into_iter()
        .map(|(key, st, _)| (key.to_string(), st))
        .collect();

    let mut out = String::with_capacity(32 * 1024);
    let shares = provider_shares(&activity_rows(&state, &session.account, None).await?);
    out.push_str("<h2>Concentration, last 30 days</h2>");
    for s in shares.iter().filter(|s| s.request_share > CONCENTRATED) {
        out.push_str(&format!(
            "<p class=\"notice warn\" role=\"alert\" id=\"concentration-warning\"><strong>Warning:</strong> \
{} carried {} of this account's requests in the last 30 days. If it fails, almost all traffic \
depends on its fallbacks: check below that they served or were probed recently.</p>",
            escape(&s.provider_name),
            format::pct(s.request_share)
        ));
    }
    if shares.is_empty() {
        out.push_str("<p class=\"notice\">No requests in the last 30 days.</p>");
    } else {
        out.push_str(&table(
            " id=\"concentration\"",
            &[
                Col::Text("Provider"),
                Col::Num("Requests"),
                Col::Num("Share of requests"),
                Col::Num("Spend"),
                Col::Num("Share of spend"),
            ],
        ));
        for s in &shares {
            out.push_str(&format!(
                "<tr data-provider=\"{name}\" data-requests=\"{}\" data-request-share=\"{}\" \
data-usage-share=\"{}\"><th scope=\"row\">{name}</th><td class=\"num\">{}</td><td class=\"num\">{}</td>\
<td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                s.requests,
                s.request_share,
                s.usage_share,
                format::count(s.requests),
                format::pct(s.request_share),
                format::usd(s.usage),
                format::pct(s.usage_share),
                name = escape(&s.provider_name),
            ));
        }
        out.push_str(TABLE_END);
        out.push_str("<p class=\"muted\">The same figures as <code>GET /api/v1/activity</code> (<code>providers[]</code>): this account's generation records of the last 30 UTC days.</p>");
    }

    let components = board.components();
    out.push_str("<h2>Provider health</h2>");
    out.push_str(&table(
        " id=\"provider-health\"",
        &[
            Col::Text("Provider"),
            Col::Text("Status page"),
            Col::Num("Error rate, 24 h"),
            Col::Text("Breakers"),
            Col::Text("Credentials check"),
        ],
    ));
    for p in catalog.providers() {
        let prefix = format!("{}|", p.slug);
        let keys: Vec<&String> = breakers.keys().filter(|k| k.starts_with(&prefix)).collect();
        let (mut ok, mut errors) = (0u64, 0u64);
        for key in &keys {
            for point in health.series(key, Range::Day) {
                ok += point.ok;
                errors += point.errors;
            }
        }
        let error_rate = (ok + errors > 0).then(|| errors as f64 / (ok + errors) as f64);
        let group_status = components
            .iter()
            .find(|c| {
                c.endpoint
                    .as_deref()
                    .is_some_and(|k| k.starts_with(&prefix))
            })
            .and_then(|leaf| leaf.group_id.as_deref())
            .and_then(|gid| components.iter().find(|c| c.id == gid))
            .map(|g| g.status);
        let status = match group_status {
            Some(s) => format!("<span class=\"st {}\">{}</span>", css_class(s), label(s)),
            None => format!("<span class=\"muted\">{NONE}</span>"),
        };
        let not_closed: Vec<String> = keys
            .iter()
            .filter_map(|k| {
                let st = breakers.get(*k)?;
                (*st != BreakerState::Closed).then(|| {
                    let model = k.strip_prefix(&prefix).unwrap_or(k);
                    format!("{} on {}", st.as_str().replace('_', "-"), escape(model))
                })
            })
            .collect();
        let breaker = if keys.is_empty() {
            "<span class=\"muted\">No traffic yet</span>".to_owned()
        } else if not_closed.is_empty() {
            match keys.len() {
                1 => "<span class=\"st ok\">Closed on its endpoint with traffic</span>".to_owned(),
                n => {
                    format!("<span class=\"st ok\">Closed on all {n} endpoints with traffic</span>")
                }
            }
        } else {
            format!("<span class=\"st major\">{}</span>", not_closed.join(", "))
        };
        let check = match probes.provider(&p.slug) {
            Some(c) => format!(
                "<span class=\"st {}\">{}</span> {}{}",
                if c.ok { "ok" } else { "major" },
                if c.ok {
                    "Models list answered"
                } else {
                    "Failed"
                },
                format::ago(i64::try_from(c.at_ms).unwrap_or(0), now_ms),
                c.detail
                    .as_deref()
                    .filter(|_| !c.ok)
                    .map(|d| format!(": {}", escape(d)))
                    .unwrap_or_default()
            ),
            None => "<span class=\"muted\">Not checked yet</span>".to_owned(),
        };
        out.push_str(&format!(
            "<tr data-provider=\"{slug}\"><th scope=\"row\">{name} <code>{slug}</code></th><td>{status}</td>\
<td class=\"num\">{}</td><td>{breaker}</td><td>{check}</td></tr>",
            format::opt_pct(error_rate),
            slug = escape(&p.slug),
            name = escape(&p.name),
        ));
    }
    out.push_str(TABLE_END);
    out.push_str(
        "<p class=\"muted\">Error rate: hard errors among attempts of \
live traffic (every account) in the last 24 hours, kept in memory since the gateway started; \
429s and client errors do not count.</p>",
    );

    out.push_str("<h2>Fallback chains</h2><p class=\"muted\">Each model's endpoints in their configured order: when one fails the next serves. A backup that has not served or been probed lately may not work when it is needed.</p>");
    let store = state.accounts().store();
    for model in catalog.models() {
        out.push_str(&format!(
            "<h3>{} <code>{}</code></h3>",
            escape(&model.name),
            escape(&model.id)
        ));
        out.push_str(&table(
            &format!(" class=\"chain\" data-model=\"{}\"", escape(&model.id)),
            &[
                Col::Num("#"),
                Col::Text("Provider"),
                Col::Text("Upstream model"),
                Col::Num("Price in / out per 1M"),
                Col::Text("Status page"),
                Col::Text("Breaker"),
                Col::Text("Last served"),
                Col::Text("Last probe"),
            ],
        ));
        for (i, e) in model.endpoints.iter().enumerate() {
            let status = match board.endpoint_status(&e.key) {
                Some(s) => format!("<span class=\"st {}\">{}</span>", css_class(s), label(s)),
                None => NONE.to_owned(),
            };
            let (class, breaker) = match breakers.get(&*e.key) {
                Some(st) => breaker_words(*st, now),
                None => ("ok", "Closed (no traffic yet)".to_owned()),
            };
            let served = match store.last_served(&e.provider.slug, &model.id).await? {
                Some(at) => format!(
                    "<span title=\"{}\">{}</span>",
                    format::time(at),
                    format::ago(at, now_ms)
                ),
                None => "Never".to_owned(),
            };
            let probed = match probes.summary(&e.key).and_then(|s| s.last) {
                Some(r) => {
                    let at = i64::try_from(r.at_ms).unwrap_or(0);
                    format!(
                        "<span class=\"st {}\">{}</span> <span title=\"{}\">{}</span>",
                        if r.ok { "ok" } else { "major" },
                        if r.ok {
                            "OK".to_owned()
                        } else {
                            format!(
                                "Failed{}",
                                r.error_class.map(|c| format!(" ({c})")).unwrap_or_default()
                            )
                        },
                        format::time(at),
                        format::ago(at, now_ms)
                    )
                }
                None if !runtime.probes.enabled => "Probes are off".to_owned(),
                None => "Not probed yet".to_owned(),
            };
            out.push_str(&format!(
                "<tr><td class=\"num\">{}</td><td>{}</td><td><code>{}</code></td><td class=\"num\">{} / {}</td>\
<td>{status}</td><td><span class=\"st {class}\">{}</span></td><td class=\"served\">{served}</td><td>{probed}</td></tr>",
                i + 1,
                escape(&e.provider.name),
                escape(e.upstream_model.as_deref().unwrap_or(&model.id)),
                per_million(e.pricing.prompt),
                per_million(e.pricing.completion),
                escape(&breaker),
            ));
        }
        out.push_str(TABLE_END);
    }
    Ok(layout::page(
        Frame {
            title: "Providers",
            nav: Nav::Providers,
            session: &session,
            charts: false,
        },
        &out,
    ))
}
