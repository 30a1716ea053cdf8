//! The status page's admin API (management keys only), under `/admin/status/`:
//! maintenance windows, operator updates and take-over of incidents, manual component
//! overrides, and a test notification per alert channel.
//!
//! | method | path | |
//! |---|---|---|
//! | GET, POST | `/admin/status/maintenances` | list (config file's and API's); create |
//! | DELETE | `/admin/status/maintenances/{id}` | delete one made through the API |
//! | GET | `/admin/status/incidents` | incidents, newest first, with `automated` |
//! | POST | `/admin/status/incidents/{id}/updates` | `{"status"?, "body"}`: an operator update |
//! | POST | `/admin/status/incidents/{id}/takeover` | `{"auto_resolve"?, "body"?}`: stop automation |
//! | GET | `/admin/status/overrides` | active overrides |
//! | PUT, DELETE | `/admin/status/components/{id}/override` | `{"status", "until"?}`; clear |
//! | POST | `/admin/status/channels/{id}/test` | send a test notification |

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use turnout_config::{format_duration, parse_duration, parse_recurrence, parse_rfc3339_ms};
use turnout_store::clock;

use crate::error::ApiError;
use crate::state::AppState;
use crate::status::alerts::TestError;
use crate::status::board::{
    IncidentControl, MaintenanceError, MaintenanceView, OperatorError, OverrideView, component_id,
};
use crate::status::derive::{ComponentStatus, IncidentStatus};
use crate::status::events::new_id;
use crate::status::maintenance::{Maintenance, Origin, Schedule, Selector};
use crate::web::accounts::management;

fn iso(ms: u64) -> String {
    clock::iso(i64::try_from(ms).unwrap_or(i64::MAX))
}

fn now_ms() -> u64 {
    u64::try_from(clock::now_ms()).unwrap_or_default()
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("Invalid body: {e}")))
}

impl From<MaintenanceError> for ApiError {
    fn from(e: MaintenanceError) -> Self {
        match e {
            MaintenanceError::NotFound(_) => ApiError::NotFound {
                message: e.to_string(),
            },
            MaintenanceError::FromConfig(_) | MaintenanceError::Invalid(_) => {
                ApiError::invalid(e.to_string())
            }
        }
    }
}

impl From<OperatorError> for ApiError {
    fn from(e: OperatorError) -> Self {
        match e {
            OperatorError::NoIncident(_) | OperatorError::NoComponent(_) => ApiError::NotFound {
                message: e.to_string(),
            },
            OperatorError::Invalid(_) => ApiError::invalid(e.to_string()),
        }
    }
}

fn schedule_json(s: &Schedule) -> Value {
    match *s {
        Schedule::Once { start_ms, end_ms } => json!({"start": iso(start_ms), "end": iso(end_ms)}),
        Schedule::Recurring { every, duration_ms } => {
            const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
            let day = every
                .weekday
                .and_then(|d| DAYS.get(usize::from(d)))
                .copied()
                .unwrap_or("daily");
            json!({
                "every": format!("{day} {:02}:{:02}", every.minute_of_day / 60, every.minute_of_day % 60),
                "duration": format_duration(Duration::from_millis(duration_ms)),
            })
        }
    }
}

fn maintenance_json(m: &Maintenance, views: &[MaintenanceView]) -> Value {
    let occurrences: Vec<Value> = views
        .iter()
        .filter(|v| v.window_id == m.id)
        .map(|v| {
            json!({
                "id": v.id,
                "status": v.status,
                "scheduled_for": iso(v.scheduled_for_ms),
                "scheduled_until": iso(v.scheduled_until_ms),
                "components": v.components,
            })
        })
        .collect();
    json!({
        "id": m.id,
        "name": m.name,
        "body": m.body,
        "origin": m.origin,
        "schedule": schedule_json(&m.schedule),
        "providers": m.selector.providers,
        "models": m.selector.models,
        "components": m.selector.components,
        "occurrences": occurrences,
    })
}

/// `GET /admin/status/maintenances`.
pub async fn list_maintenances(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    management(&state, &headers).await?;
    let board = state.status();
    let views = board.maintenance_views();
    let data: Vec<Value> = board
        .maintenance_windows()
        .iter()
        .map(|m| maintenance_json(m, &views))
        .collect();
    Ok(Json(json!({ "data": data })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMaintenance {
    name: String,
    body: Option<String>,
    start: Option<String>,
    end: Option<String>,
    every: Option<String>,
    duration: Option<String>,
    #[serde(default)]
    providers: Vec<String>,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    components: Vec<String>,
}

fn time_field(name: &str, value: &str) -> Result<u64, ApiError> {
    parse_rfc3339_ms(value)
        .and_then(|ms| u64::try_from(ms).ok())
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "{name}: `{value}` is not an RFC 3339 time such as 2026-03-01T02:00:00Z"
            ))
        })
}

fn schedule_of(b: &NewMaintenance, now: u64) -> Result<Schedule, ApiError> {
    match (&b.start, &b.end, &b.every, &b.duration) {
        (Some(start), Some(end), None, None) => {
            let (start_ms, end_ms) = (time_field("start", start)?, time_field("end", end)?);
            if end_ms <= start_ms {
                return Err(ApiError::invalid("end: must be after start"));
            }
            if end_ms <= now {
                return Err(ApiError::invalid("end: the window is already over"));
            }
            Ok(Schedule::Once { start_ms, end_ms })
        }
        (None, None, Some(every), Some(duration)) => {
            let every_parsed = parse_recurrence(every).ok_or_else(|| {
                ApiError::invalid(format!(
                    "every: `{every}` is not a day and UTC time such as \"sun 02:00\" or \"daily 03:30\""
                ))
            })?;
            let length = parse_duration(duration).ok_or_else(|| {
                ApiError::invalid(format!(
                    "duration: `{duration}` is not a duration such as \"30m\" or \"1h\""
                ))
            })?;
            if length.is_zero() || length >= every_parsed.period() {
                return Err(ApiError::invalid(
                    "duration: must be longer than 0 and shorter than the recurrence",
                ));
            }
            Ok(Schedule::Recurring {
                every: every_parsed,
                duration_ms: u64::try_from(length.as_millis()).unwrap_or(u64::MAX),
            })
        }
        _ => Err(ApiError::invalid(
            "a window needs start and end (RFC 3339), or every (\"sun 02:00\") and duration (\"1h\"), not both",
        )),
    }
}

/// A window from its request: the schedule checked against `now`, providers and models
/// against the running catalog.
fn maintenance_from(
    state: &AppState,
    b: NewMaintenance,
    id: String,
    created_at_ms: u64,
    now: u64,
) -> Result<Maintenance, ApiError> {
    if b.name.trim().is_empty() {
        return Err(ApiError::invalid("name: must not be empty"));
    }
    let schedule = schedule_of(&b, now)?;
    let runtime = state.runtime();
    for slug in &b.providers {
        if !runtime.catalog.providers().iter().any(|p| &p.slug == slug) {
            return Err(ApiError::invalid(format!(
                "providers: unknown provider `{slug}`"
            )));
        }
    }
    for model in &b.models {
        if !runtime.catalog.models().any(|m| &m.id == model) {
            return Err(ApiError::invalid(format!(
                "models: unknown model `{model}`"
            )));
        }
    }
    Ok(Maintenance {
        id,
        name: b.name.trim().to_owned(),
        body: b
            .body
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| "Scheduled maintenance.".to_owned()),
        schedule,
        selector: Selector {
            providers: b.providers,
            models: b.models,
            components: b.components,
        },
        origin: Origin::Api,
        created_at_ms,
    })
}

/// `POST /admin/status/maintenances`: a one-off (`start`, `end`) or recurring (`every`,
/// `duration`) window over `providers`, `models` and/or `components` (none: the whole page).
/// Kept in the database, so it outlives a restart.
pub async fn create_maintenance(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    management(&state, &headers).await?;
    let b: NewMaintenance = parse(&body)?;
    let now = now_ms();
    let id = component_id(&format!("api|{}", new_id()));
    let m = maintenance_from(&state, b, id, now, now)?;
    let board = state.status();
    board.add_maintenance(m.clone()).map_err(|e| match e {
        MaintenanceError::Invalid(why) => ApiError::invalid(format!("components: {why}")),
        other => other.into(),
    })?;
    let doc = String::from_utf8_lossy(&body);
    state
        .accounts()
        .store()
        .save_maintenance(&m.id, i64::try_from(now).unwrap_or(i64::MAX), &doc)
        .await?;
    // Show it at once rather than at the next evaluation.
    board.evaluate(state.health(), state.probes());
    let json = maintenance_json(&m, &board.maintenance_views());
    Ok((StatusCode::CREATED, Json(json!({ "data": json }))).into_response())
}

/// `DELETE /admin/status/maintenances/{id}`.
pub async fn delete_maintenance(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    management(&state, &headers).await?;
    let board = state.status();
    let removed = board.remove_maintenance(&id)?;
    state.accounts().store().delete_maintenance(&id).await?;
    board.evaluate(state.health(), state.probes());
    Ok(Json(json!({"data": {"id": removed.id, "deleted": true}})))
}

/// Puts back the windows earlier runs made through the admin API; one that is over, or names
/// a provider or model the configuration no longer has, is dropped.
pub async fn restore_maintenances(state: &AppState) {
    let store = state.accounts().store();
    let kept = match store.maintenances().await {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(error = %e, "maintenance windows not read");
            return;
        }
    };
    let now = now_ms();
    for (id, created_at_ms, doc) in kept {
        let restored = serde_json::from_str::<NewMaintenance>(&doc)
            .map_err(|e| ApiError::invalid(e.to_string()))
            .and_then(|b| {
                maintenance_from(
                    state,
                    b,
                    id.clone(),
                    u64::try_from(created_at_ms).unwrap_or(0),
                    now,
                )
            });
        match restored {
            Ok(m) => state.status().restore_maintenance(m),
            Err(e) => {
                tracing::info!(maintenance = %id, reason = %e, "maintenance window dropped");
                let _ = store.delete_maintenance(&id).await;
            }
        }
    }
}

fn incident_json(c: &IncidentControl) -> Value {
    let i = &c.incident;
    let updates: Vec<Value> = i
        .updates
        .iter()
        .rev()
        .map(
            |u| json!({"id": u.id, "status": u.status, "body": u.body, "created_at": iso(u.at_ms)}),
        )
        .collect();
    json!({
        "id": i.id,
        "name": i.name,
        "status": i.status,
        "impact": i.impact,
        "automated": c.automated,
        "created_at": iso(i.created_at_ms),
        "updated_at": iso(i.updated_at_ms),
        "resolved_at": i.resolved_at_ms.map(iso),
        "components": i.components,
        "incident_updates": updates,
    })
}

/// `GET /admin/status/incidents`.
pub async fn list_incidents(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    management(&state, &headers).await?;
    let data: Vec<Value> = state
        .status()
        .incident_controls()
        .iter()
        .map(incident_json)
        .collect();
    Ok(Json(json!({ "data": data })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    status: Option<IncidentStatus>,
    body: String,
}

/// `POST /admin/status/incidents/{id}/updates`: `{"status": "identified", "body": "…"}`.
pub async fn post_incident_update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    management(&state, &headers).await?;
    let b: UpdateBody = parse(&body)?;
    let control = state
        .status()
        .post_incident_update(&id, b.status, &b.body)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"data": incident_json(&control)})),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TakeOver {
    #[serde(default)]
    auto_resolve: bool,
    body: Option<String>,
}

/// `POST /admin/status/incidents/{id}/takeover`: auto logic stops changing the incident's
/// status (with `auto_resolve: true` it may still resolve it); `body` posts an update too.
pub async fn take_over_incident(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    management(&state, &headers).await?;
    let b: TakeOver = if body.iter().all(u8::is_ascii_whitespace) {
        TakeOver::default()
    } else {
        parse(&body)?
    };
    let board = state.status();
    let mut control = board.take_over_incident(&id, b.auto_resolve)?;
    if let Some(text) = b.body.filter(|t| !t.trim().is_empty()) {
        control = board.post_incident_update(&id, None, &text)?;
    }
    Ok(Json(json!({"data": incident_json(&control)})))
}

fn overrides_json(list: &[OverrideView]) -> Value {
    let data: Vec<Value> = list
        .iter()
        .map(|o| {
            json!({
                "component": o.component,
                "name": o.name,
                "status": o.status,
                "until": o.until_ms.map(iso),
                "auto_status": o.auto_status,
            })
        })
        .collect();
    json!({ "data": data })
}

/// `GET /admin/status/overrides`.
pub async fn list_overrides(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    management(&state, &headers).await?;
    Ok(Json(overrides_json(&state.status().overrides())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideBody {
    status: ComponentStatus,
    /// RFC 3339; absent = until cleared.
    until: Option<String>,
}

/// `PUT /admin/status/components/{id}/override`: `{"status": "major_outage", "until": "…"}` on
/// a model's component or a provider group (every model of it).
pub async fn set_override(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    management(&state, &headers).await?;
    let b: OverrideBody = parse(&body)?;
    let until = b
        .until
        .as_deref()
        .map(|u| time_field("until", u))
        .transpose()?;
    let board = state.status();
    board.set_override(&id, b.status, until)?;
    // Groups roll up now rather than at the next evaluation.
    board.evaluate(state.health(), state.probes());
    Ok(Json(overrides_json(&board.overrides())))
}

/// `DELETE /admin/status/components/{id}/override`.
pub async fn clear_override(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    management(&state, &headers).await?;
    let board = state.status();
    board.clear_override(&id)?;
    board.evaluate(state.health(), state.probes());
    Ok(Json(overrides_json(&board.overrides())))
}

/// `POST /admin/status/channels/{id}/test`: one attempt now; `{"data": {"delivered": true}}`
/// or the reason it failed.
pub async fn test_channel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    management(&state, &headers).await?;
    match state.alerts().test_channel(&id, state.status()).await {
        Ok(()) => Ok(Json(json!({"data": {"channel": id, "delivered": true}}))),
        Err(TestError::NoChannel(_)) => Err(ApiError::NotFound {
            message: format!("no alert channel `{id}`"),
        }),
        Err(TestError::Failed(why)) => Ok(Json(
            json!({"data": {"channel": id, "delivered": false, "error": why}}),
        )),
    }
}
