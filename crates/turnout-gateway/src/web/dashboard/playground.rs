//! The routing playground: paste a chat request, see the plan `POST /api/v1/routing/explain`
//! gives it right now — candidates in order and why, endpoints excluded and why. No upstream
//! is called and nothing is billed.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::layout::{self, Col, Frame, Nav, TABLE_END, table};
use super::session::{Posted, Session};
use crate::error::{ApiError, DashboardError};
use crate::ingress;
use crate::state::AppState;
use crate::web::html::escape;

#[derive(Debug, Deserialize)]
pub(super) struct PlaygroundForm {
    #[serde(default)]
    request: String,
}

fn example(state: &AppState) -> String {
    let runtime = state.runtime();
    let model = runtime
        .catalog
        .models()
        .next()
        .map_or_else(|| "openai/gpt-4o-mini".to_owned(), |m| m.id.clone());
    let body = serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": "Hello"}],
        "provider": {"sort": "price"},
    });
    serde_json::to_string_pretty(&body).unwrap_or_default()
}

fn text(v: &Value, field: &str) -> String {
    match v.get(field) {
        Some(Value::String(s)) => escape(s),
        Some(Value::Null) | None => String::new(),
        Some(other) => escape(&other.to_string()),
    }
}

fn excluded_table(out: &mut String, excluded: &[Value]) {
    out.push_str(&format!("<h2>Excluded ({})</h2>", excluded.len()));
    if excluded.is_empty() {
        out.push_str("<p class=\"muted\">No endpoint was excluded.</p>");
        return;
    }
    out.push_str(&table(
        " id=\"excluded\"",
        &[
            Col::Text("Provider"),
            Col::Text("Model"),
            Col::Text("Excluded by"),
            Col::Text("Reason"),
        ],
    ));
    for e in excluded {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            text(e, "provider"),
            text(e, "model"),
            text(e, "excluded_by"),
            text(e, "reason")
        ));
    }
    out.push_str(TABLE_END);
}

fn render(session: &Session, status: StatusCode, request: &str, result: &str) -> Response {
    let out = format!(
        "<p>Paste a chat completion request (the body you would POST to \
<code>/api/v1/chat/completions</code>) to see the plan it would get now: the same answer as \
<code>POST /api/v1/routing/explain</code>. No provider is called.</p>\
<form method=\"post\" action=\"/dashboard/playground\">{}<label for=\"request\">Request (JSON)</label>\
<textarea id=\"request\" name=\"request\" spellcheck=\"false\" required>{}</textarea>\
<p><button type=\"submit\">Explain the plan</button></p></form>{result}",
        session.csrf_field(),
        escape(request)
    );
    layout::page_with_status(
        status,
        Frame {
            title: "Routing playground",
            nav: Nav::Playground,
            session,
            charts: false,
        },
        &out,
    )
}

/// `GET /dashboard/playground`: the form with an example request.
pub(super) async fn page(State(state): State<AppState>, session: Session) -> Response {
    render(&session, StatusCode::OK, &example(&state), "")
}

/// `POST /dashboard/playground`: the plan of the posted request, as tables.
pub(super) async fn explain(
    State(state): State<AppState>,
    posted: Posted<PlaygroundForm>,
) -> Result<Response, DashboardError> {
    let Posted { session, form } = posted;
    let principal = session.principal();
    let answer = ingress::explain(
        &state,
        &principal,
        &HeaderMap::new(),
        Body::from(form.request.clone()),
    )
    .await;
    let mut out = String::with_capacity(8192);
    let status = match answer {
        Ok(plan) => {
            let data = &plan["data"];
            let empty = Vec::new();
            let candidates = data["candidates"].as_array().unwrap_or(&empty);
            out.push_str(&format!(
                "<h2>Candidates, in order ({})</h2>",
                candidates.len()
            ));
            out.push_str(&table(
                " id=\"candidates\"",
                &[
                    Col::Num("Rank"),
                    Col::Text("Provider"),
                    Col::Text("Model"),
                    Col::Text("Upstream model"),
                    Col::Text("Why"),
                ],
            ));
            for c in candidates {
                out.push_str(&format!(
                    "<tr><td class=\"num\">{}</td><td>{} <code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                    text(c, "rank"),
                    text(c, "provider"),
                    text(c, "provider_slug"),
                    text(c, "model"),
                    text(c, "upstream_model"),
                    text(c, "why")
                ));
            }
            out.push_str(TABLE_END);
            excluded_table(
                &mut out,
                data["excluded"].as_array().map_or(&[][..], Vec::as_slice),
            );
            StatusCode::OK
        }
        Err(ApiError::NoEndpoints { model, excluded }) => {
            out.push_str(&format!(
                "<p class=\"notice bad\" role=\"alert\">No endpoint of {} matches this request \
(the gateway would answer 404): every one is excluded.</p>",
                escape(&model)
            ));
            excluded_table(&mut out, &excluded);
            StatusCode::OK
        }
        Err(e @ ApiError::Internal { .. }) => return Err(e.into()),
        Err(e) => {
            out.push_str(&format!(
                "<p class=\"notice bad\" role=\"alert\">The gateway would refuse this request \
({}): {}</p>",
                e.status().as_u16(),
                escape(&e.to_string())
            ));
            StatusCode::BAD_REQUEST
        }
    };
    Ok(render(&session, status, &form.request, &out))
}
