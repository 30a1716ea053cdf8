//! `GET /models`, `GET /models/{author}/{slug}/endpoints`, `GET /providers` in OpenRouter's
//! schemas. Prices are USD per token as decimal strings.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use turnout_wire::params::ParamSet;

use crate::error::ApiError;
use crate::health::EndpointStats;
use crate::routing::catalog::{Endpoint, Model, Target};
use crate::state::AppState;

/// What an OpenAI-compatible endpoint accepts when the config does not narrow it.
const DEFAULT_PARAMETERS: &[&str] = &[
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "response_format",
    "structured_outputs",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
];

fn price(d: Decimal) -> String {
    d.normalize().to_string()
}

fn pricing(e: &Endpoint) -> Value {
    let p = &e.pricing;
    let mut v = json!({
        "prompt": price(p.prompt),
        "completion": price(p.completion),
        "request": price(p.request.unwrap_or_default()),
        "image": "0",
        "web_search": "0",
        "internal_reasoning": "0",
    });
    if let Some(read) = p.cache_read {
        v["input_cache_read"] = Value::from(price(read));
    }
    if let Some(write) = p.cache_write {
        v["input_cache_write"] = Value::from(price(write));
    }
    v
}

/// What an endpoint honours: its configured list within what its adapter can send; for an
/// OpenAI-compatible endpoint with no list (everything is forwarded), the common parameters.
fn supported_parameters(e: &Endpoint) -> Vec<&'static str> {
    if e.supported == ParamSet::ALL && !e.parameters_configured {
        return DEFAULT_PARAMETERS.to_vec();
    }
    e.supported.names().collect()
}

fn architecture(m: &Model) -> Value {
    let modality = format!("{}->text", m.input_modalities.join("+"));
    json!({
        "modality": modality,
        "input_modalities": m.input_modalities,
        "output_modalities": ["text"],
        "tokenizer": "Other",
        "instruct_type": null,
    })
}

fn model_json(m: &Model, id: &str, created: u64) -> Value {
    let cheapest = m.cheapest();
    let mut params: Vec<&str> = m
        .endpoints
        .iter()
        .flat_map(|e| supported_parameters(e))
        .collect();
    params.sort();
    params.dedup();
    json!({
        "id": id,
        "canonical_slug": id,
        "hugging_face_id": null,
        "name": m.name,
        "created": created,
        "description": m.description,
        "context_length": m.context_length(),
        "architecture": architecture(m),
        "pricing": cheapest.map_or_else(|| json!({"prompt": "0", "completion": "0"}), |e| pricing(e)),
        "top_provider": {
            "context_length": cheapest.and_then(|e| e.context_length).or(m.context_length),
            "max_completion_tokens": cheapest.and_then(|e| e.max_completion_tokens),
            "is_moderated": false,
        },
        "per_request_limits": null,
        "supported_parameters": params,
        "default_parameters": null,
        "supported_voices": null,
        "links": { "details": format!("/api/v1/models/{id}/endpoints") },
    })
}

pub async fn list_models(State(state): State<AppState>) -> Json<Value> {
    let rt = state.runtime();
    let data: Vec<Value> = rt
        .catalog
        .models()
        .map(|m| model_json(m, &m.id, rt.loaded_at))
        .collect();
    let total = data.len();
    Json(json!({ "data": data, "total_count": total, "links": { "next": null } }))
}

pub(crate) fn percentiles(p: Option<crate::health::Percentiles>) -> Value {
    p.map_or(Value::Null, |p| {
        let round = |v: f64| (v * 10.0).round() / 10.0;
        json!({"p50": round(p.p50), "p75": round(p.p75), "p90": round(p.p90), "p99": round(p.p99)})
    })
}

fn endpoint_json(m: &Model, t: &Target, stats: Option<&EndpointStats>) -> Value {
    let e = &t.endpoint;
    let context = e.context_length.or(m.context_length);
    let tool_choice = supported_parameters(e).contains(&"tool_choice");
    json!({
        "name": format!("{} | {}", e.provider.name, t.model_id),
        "model_id": t.model_id,
        "model_name": m.name,
        "context_length": context,
        "pricing": pricing(e),
        "provider_name": e.provider.name,
        "tag": e.provider.slug,
        "quantization": e.quantization,
        "max_completion_tokens": e.max_completion_tokens,
        "max_prompt_tokens": null,
        "supported_parameters": supported_parameters(e),
        "status": 0,
        // From live traffic (DESIGN.md §3's definitions); null where there is not enough yet,
        // as OpenRouter does for endpoints without traffic.
        "uptime_last_5m": stats.and_then(|s| s.uptime_5m),
        "uptime_last_30m": stats.and_then(|s| s.uptime_30m),
        "uptime_last_1d": stats.and_then(|s| s.uptime_1d),
        "latency_last_30m": percentiles(stats.and_then(|s| s.latency_30m)),
        "throughput_last_30m": percentiles(stats.and_then(|s| s.throughput_30m)),
        "supports_implicit_caching": e.pricing.cache_read.is_some_and(|r| r < e.pricing.prompt),
        "supports_tool_choice": {
            "auto": tool_choice, "none": tool_choice, "required": tool_choice, "function": tool_choice,
        },
        "service_tier": e.tier.map(|t| match t {
            turnout_config::Tier::Standard => "standard",
            turnout_config::Tier::Priority => "priority",
            turnout_config::Tier::Flex => "flex",
        }),
        "native_tools": {},
        "supports_diarization": false,
    })
}

pub async fn list_endpoints(
    State(state): State<AppState>,
    Path((author, slug)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id = format!("{author}/{slug}");
    let rt = state.runtime();
    let targets = rt
        .catalog
        .resolve(&id)
        .ok_or_else(|| ApiError::ModelNotFound { model: id.clone() })?
        .targets;
    let model: Arc<Model> = match rt.catalog.get(&id) {
        Some(m) => m.clone(),
        None => {
            // A wildcard entry: describe the concrete id the caller asked for.
            let Some(first) = targets.first() else {
                return Err(ApiError::ModelNotFound { model: id });
            };
            Arc::new(Model {
                id: id.clone(),
                name: id.clone(),
                description: String::new(),
                context_length: first.endpoint.context_length,
                input_modalities: vec!["text".to_owned()],
                endpoints: targets.iter().map(|t| t.endpoint.clone()).collect(),
            })
        }
    };
    let now = std::time::Instant::now();
    let endpoints: Vec<Value> = targets
        .iter()
        .map(|t| {
            endpoint_json(
                &model,
                t,
                state.health().stats(&t.endpoint.key, now).as_ref(),
            )
        })
        .collect();
    Ok(Json(json!({
        "data": {
            "id": id,
            "name": model.name,
            "created": rt.loaded_at,
            "description": model.description,
            "architecture": architecture(&model),
            "endpoints": endpoints,
        }
    })))
}

pub async fn list_providers(State(state): State<AppState>) -> Json<Value> {
    let rt = state.runtime();
    let data: Vec<Value> = rt
        .catalog
        .providers()
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "slug": p.slug,
                "privacy_policy_url": null,
                "terms_of_service_url": null,
                "status_page_url": null,
                "headquarters": null,
                "datacenters": null,
            })
        })
        .collect();
    Json(json!({ "data": data }))
}
