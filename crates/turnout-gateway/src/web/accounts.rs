//! OpenRouter's account endpoints: `/key`, `/keys`, `/credits`, `/generation`, `/activity`
//! (spec §8), plus `POST /admin/credits`. Management keys administer every account; any key
//! reads itself and its own account's generations.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use turnout_store::{
    ActivityRow, Generation, KeyPatch, KeyRecord, LimitReset, Nanos, NewKey, RateLimit, clock, keys,
};

use crate::accounting::bank::{AccountBook, KeySpend};
use crate::error::ApiError;
use crate::ingress::auth::Principal;
use crate::state::AppState;

async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let p = state
        .runtime()
        .auth
        .authenticate(headers, state.accounts())
        .await?;
    if p.key_hash.is_none() {
        // An open gateway lets anonymous traffic through, but "who am I" needs a key.
        return Err(ApiError::MissingKey);
    }
    Ok(p)
}

pub(crate) async fn management(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    let p = caller(state, headers).await?;
    if !p.is_management() {
        return Err(ApiError::Forbidden {
            message: "Only management keys can perform this operation".to_owned(),
        });
    }
    Ok(p)
}

fn usd(n: Nanos) -> Value {
    json!(n.as_f64())
}

fn opt_usd(n: Option<Nanos>) -> Value {
    n.map_or(Value::Null, usd)
}

/// The key object of `/keys` (and, with more fields, of `/key`).
/// Limit and spend members shared by `/key` and the `/keys` objects (no BYOK here: its
/// figures are 0). What remains is the limit less the spend of its reset window.
fn with_spend(
    mut v: Value,
    limit: Option<Nanos>,
    reset: Option<LimitReset>,
    spend: &KeySpend,
) -> Value {
    let remaining = limit_remaining(limit, reset, spend);
    if let Some(o) = v.as_object_mut() {
        for (name, value) in [
            ("limit", opt_usd(limit)),
            ("limit_remaining", opt_usd(remaining)),
            ("limit_reset", json!(reset.map(LimitReset::as_str))),
            ("include_byok_in_limit", json!(false)),
            ("usage", usd(spend.usage.total)),
            ("usage_daily", usd(spend.usage.daily)),
            ("usage_weekly", usd(spend.usage.weekly)),
            ("usage_monthly", usd(spend.usage.monthly)),
            ("byok_usage", json!(0)),
            ("byok_usage_daily", json!(0)),
            ("byok_usage_weekly", json!(0)),
            ("byok_usage_monthly", json!(0)),
        ] {
            o.insert(name.to_owned(), value);
        }
    }
    v
}

/// What a key's limit leaves: the limit less the spend of its reset window (all time without
/// a reset); `None` without a limit.
pub(crate) fn limit_remaining(
    limit: Option<Nanos>,
    reset: Option<LimitReset>,
    spend: &KeySpend,
) -> Option<Nanos> {
    let u = &spend.usage;
    let spent = match reset {
        Some(LimitReset::Daily) => u.daily,
        Some(LimitReset::Weekly) => u.weekly,
        Some(LimitReset::Monthly) => u.monthly,
        None => u.total,
    };
    limit.map(|l| (l - spent).max(Nanos::ZERO))
}

fn key_json(k: &KeyRecord, spend: &KeySpend) -> Value {
    let v = json!({
        "hash": k.hash,
        "name": k.name,
        "label": k.label,
        "disabled": k.disabled,
        "created_at": clock::iso(k.created_at_ms),
        "updated_at": k.updated_at_ms.map(clock::iso),
        "expires_at": k.expires_at_ms.map(clock::iso),
        "creator_user_id": null,
        "external_user": null,
        "last_used_at": null,
        // Accounts play the part of OpenRouter's workspaces.
        "workspace_id": k.account,
        "account": k.account,
        "is_management_key": k.is_management,
        "allowed_models": k.allowed_models,
        "rate_limit": {
            "requests_per_minute": k.rate_limit.requests_per_minute,
            "tokens_per_minute": k.rate_limit.tokens_per_minute,
        },
    });
    with_spend(v, k.limit, k.limit_reset, spend)
}

/// `GET /api/v1/key` (and the legacy `/auth/key`): the calling key.
pub async fn current_key(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let p = caller(&state, &headers).await?;
    let accounts = state.accounts();
    let account = accounts.account_book(&p.account).await?;
    let hash = p.key_hash.as_deref().unwrap_or_default();
    let spend = accounts.key_spend(hash, p.key.as_deref()).await?;
    let (label, limit_reset, expires_at, is_management) = match &p.key {
        Some(k) => (
            k.label.clone(),
            k.limit_reset,
            k.expires_at_ms.map(clock::iso),
            k.is_management,
        ),
        None => (
            "static key from the config file".to_owned(),
            None,
            None,
            false,
        ),
    };
    let limit = p.key.as_ref().and_then(|k| k.limit);
    let data = json!({
        "label": label,
        "is_free_tier": !account.metered,
        "is_management_key": is_management,
        "is_provisioning_key": is_management,
        "creator_user_id": null,
        "expires_at": expires_at,
        "rate_limit": {
            "requests": -1,
            "interval": "1m",
            "note": "This field is deprecated and safe to ignore; see the key's rate_limit in /keys.",
        },
        "allowed_data_regions": ["global"],
        "budgets": [],
        "effective_budget": null,
        // No per-day cap on free models here; -1 as in the deprecated rate_limit.
        "free_model_daily_requests": {"limit": -1, "remaining": -1, "used": 0},
        "organization_id": null,
        "workspace_id": p.account,
        "account": p.account,
    });
    Ok(Json(
        json!({ "data": with_spend(data, limit, limit_reset, &spend) }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    include_disabled: Option<String>,
    #[serde(default)]
    offset: Option<u32>,
    #[serde(default)]
    account: Option<String>,
}

const PAGE: u32 = 100;

/// `GET /api/v1/keys`: live keys, every account's unless `?account=` narrows it.
pub async fn list_keys(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    management(&state, &headers).await?;
    let include_disabled = q.include_disabled.as_deref() == Some("true");
    let keys = state
        .accounts()
        .store()
        .list_keys(
            q.account.as_deref(),
            include_disabled,
            q.offset.unwrap_or(0),
            PAGE,
        )
        .await?;
    let mut data: Vec<Value> = Vec::with_capacity(keys.len());
    for k in &keys {
        let spend = state.accounts().key_spend(&k.hash, Some(k)).await?;
        data.push(key_json(k, &spend));
    }
    Ok(Json(json!({ "data": data })))
}

/// Body of `POST /keys` and `PATCH /keys/{hash}`. `Option<Option<_>>` tells an absent field
/// (leave it) from `null` (clear it).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    limit: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    limit_reset: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    expires_at: Option<Option<String>>,
    disabled: Option<bool>,
    // Accepted for OpenRouter compatibility; there is no BYOK or workspace here.
    #[serde(default, rename = "include_byok_in_limit")]
    _include_byok_in_limit: Option<serde::de::IgnoredAny>,
    account: Option<String>,
    #[serde(default)]
    is_management_key: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    allowed_models: Option<Option<Vec<String>>>,
    rate_limit: Option<RateLimit>,
    #[serde(default, rename = "creator_user_id")]
    _creator_user_id: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "workspace_id")]
    _workspace_id: Option<serde::de::IgnoredAny>,
}

fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn parse_body(bytes: &[u8]) -> Result<KeyBody, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("Invalid key body: {e}")))
}

pub(crate) fn parse_limit(limit: Option<f64>) -> Result<Option<Nanos>, ApiError> {
    match limit {
        None => Ok(None),
        Some(l) if l.is_finite() && l >= 0.0 => {
            let d = rust_decimal::Decimal::from_f64_retain(l)
                .ok_or_else(|| ApiError::invalid("limit: not a valid amount"))?;
            Ok(Some(Nanos::from_usd(d)))
        }
        Some(_) => Err(ApiError::invalid(
            "limit: must be a non-negative number of USD",
        )),
    }
}

pub(crate) fn parse_reset(r: Option<String>) -> Result<Option<LimitReset>, ApiError> {
    r.map(|s| {
        LimitReset::parse(&s).ok_or_else(|| {
            ApiError::invalid(format!(
                "limit_reset: expected daily, weekly, monthly or null, got {s:?}"
            ))
        })
    })
    .transpose()
}

pub(crate) fn parse_expiry(e: Option<String>) -> Result<Option<i64>, ApiError> {
    e.map(|s| {
        clock::parse_iso(&s).ok_or_else(|| {
            ApiError::invalid(format!(
                "expires_at: expected an ISO 8601 UTC time like 2027-12-31T23:59:59Z, got {s:?}"
            ))
        })
    })
    .transpose()
}

/// `POST /api/v1/keys`: 201 with the key object and the secret, shown this once.
pub async fn create_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let p = management(&state, &headers).await?;
    let b = parse_body(&body)?;
    let name = b
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("name: required"))?;
    let new = NewKey {
        account: b.account.unwrap_or(p.account),
        name,
        is_management: b.is_management_key.unwrap_or(false),
        limit: parse_limit(b.limit.flatten())?,
        limit_reset: parse_reset(b.limit_reset.flatten())?,
        expires_at_ms: parse_expiry(b.expires_at.flatten())?,
        allowed_models: b.allowed_models.flatten(),
        rate_limit: b.rate_limit.unwrap_or_default(),
    };
    let (record, secret) = issue_key(&state, &new).await?;
    let json = key_json(&record, &KeySpend::default());
    Ok((
        StatusCode::CREATED,
        Json(json!({ "data": json, "key": secret })),
    )
        .into_response())
}

/// Stores a new key (creating its account) and makes it usable here at once; returns it
/// with its secret, which exists nowhere else.
pub(crate) async fn issue_key(
    state: &AppState,
    new: &NewKey,
) -> Result<(KeyRecord, String), ApiError> {
    let store = state.accounts().store();
    store.ensure_account(&new.account).await?;
    let secret = keys::generate();
    let record = store.create_key(&secret, new).await?;
    state.accounts().apply_key_change(record.clone());
    Ok((record, secret))
}

/// Applies a change to a live key; here at once, on other instances within 1 s.
pub(crate) async fn change_key(
    state: &AppState,
    hash: &str,
    patch: &KeyPatch,
) -> Result<KeyRecord, ApiError> {
    let accounts = state.accounts();
    let k = accounts
        .store()
        .update_key(hash, patch)
        .await?
        .ok_or_else(|| no_such_key(hash))?;
    accounts.apply_key_change(k.clone());
    Ok(k)
}

/// Deletes a live key; it stops working here at once, elsewhere within 1 s.
pub(crate) async fn remove_key(state: &AppState, hash: &str) -> Result<(), ApiError> {
    let accounts = state.accounts();
    if !accounts.store().delete_key(hash).await? {
        return Err(no_such_key(hash));
    }
    if let Some(k) = accounts.store().key(hash).await? {
        accounts.apply_key_change(k);
    }
    Ok(())
}

fn no_such_key(hash: &str) -> ApiError {
    ApiError::NotFound {
        message: format!("No API key with hash {hash}"),
    }
}

async fn live_key(state: &AppState, hash: &str) -> Result<KeyRecord, ApiError> {
    state
        .accounts()
        .store()
        .key(hash)
        .await?
        .filter(|k| k.deleted_at_ms.is_none())
        .ok_or_else(|| no_such_key(hash))
}

/// `GET /api/v1/keys/{hash}`.
pub async fn get_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> Result<Json<Value>, ApiError> {
    management(&state, &headers).await?;
    let k = live_key(&state, &hash).await?;
    let spend = state.accounts().key_spend(&k.hash, Some(&k)).await?;
    Ok(Json(json!({ "data": key_json(&k, &spend) })))
}

/// `PATCH /api/v1/keys/{hash}`: takes effect here at once, on other instances within 1 s.
pub async fn update_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(hash): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    management(&state, &headers).await?;
    let b = parse_body(&body)?;
    if b.account.is_some() || b.is_management_key.is_some() {
        return Err(ApiError::invalid(
            "account and is_management_key cannot be changed; create a new key",
        ));
    }
    let patch = KeyPatch {
        name: b.name,
        disabled: b.disabled,
        limit: b.limit.map(parse_limit).transpose()?,
        limit_reset: b.limit_reset.map(parse_reset).transpose()?,
        expires_at_ms: b.expires_at.map(parse_expiry).transpose()?,
        allowed_models: b.allowed_models,
        rate_limit: b.rate_limit,
    };
    let k = change_key(&state, &hash, &patch).await?;
    let spend = state.accounts().key_spend(&k.hash, Some(&k)).await?;
    Ok(Json(json!({ "data": key_json(&k, &spend) })))
}

/// `DELETE /api/v1/keys/{hash}`.
pub async fn delete_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> Result<Json<Value>, ApiError> {
    management(&state, &headers).await?;
    remove_key(&state, &hash).await?;
    Ok(Json(json!({ "deleted": true })))
}

#[derive(Debug, Deserialize)]
pub struct AccountQuery {
    account: Option<String>,
    date: Option<String>,
    api_key_hash: Option<String>,
}

/// `GET /api/v1/credits`: the management key's account, or `?account=`.
pub async fn credits(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AccountQuery>,
) -> Result<Json<Value>, ApiError> {
    let p = management(&state, &headers).await?;
    let account = q.account.unwrap_or(p.account);
    let book = state.accounts().account_book(&account).await?;
    Ok(Json(json!({"data": {
        "total_credits": usd(book.credits),
        "total_usage": usd(book.usage),
        "account": account,
        "metered": book.metered,
    }})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditBody {
    account: String,
    amount: f64,
    note: Option<String>,
}

/// `POST /admin/credits` `{"account","amount"}`: appends credits to the ledger (creating the
/// account); the balance counts them at once.
pub async fn add_credits(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    management(&state, &headers).await?;
    let b: CreditBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("Invalid credits body: {e}")))?;
    let amount = parse_limit(Some(b.amount))?.unwrap_or_default();
    let (seq, book) = credit(&state, &b.account, amount, b.note.as_deref()).await?;
    Ok(Json(json!({"data": {
        "account": b.account,
        "ledger_seq": seq,
        "total_credits": usd(book.credits),
        "total_usage": usd(book.usage),
    }})))
}

/// Appends credits to the ledger (creating the account) and returns the ledger sequence
/// number and the balance that counts them.
pub(crate) async fn credit(
    state: &AppState,
    account: &str,
    amount: Nanos,
    note: Option<&str>,
) -> Result<(i64, AccountBook), ApiError> {
    let accounts = state.accounts();
    accounts.store().ensure_account(account).await?;
    let seq = accounts.store().add_credits(account, amount, note).await?;
    accounts.sync().await?;
    Ok((seq, accounts.account_book(account).await?))
}

#[derive(Debug, Deserialize)]
pub struct GenerationQuery {
    id: Option<String>,
}

/// `GET /api/v1/generation?id=gen-…`: only the caller's own account's generations. Written
/// by the batched writer, so it can 404 for a few milliseconds after the response.
pub async fn generation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<GenerationQuery>,
) -> Result<Json<Value>, ApiError> {
    let p = caller(&state, &headers).await?;
    let id =
        q.id.filter(|i| !i.is_empty())
            .ok_or_else(|| ApiError::invalid("id: required (the gen-… id of a response)"))?;
    let g = account_generation(&state, &p.account, &id).await?;
    Ok(Json(json!({ "data": generation_json(&g) })))
}

/// One of `account`'s generations: another account's is as unknown as a missing one.
pub(crate) async fn account_generation(
    state: &AppState,
    account: &str,
    id: &str,
) -> Result<Generation, ApiError> {
    state
        .accounts()
        .store()
        .generation(id)
        .await?
        .filter(|g| g.account == account)
        .ok_or_else(|| ApiError::NotFound {
            message: format!("Generation {id} not found"),
        })
}

fn generation_json(g: &Generation) -> Value {
    let responses: Vec<Value> = g
        .attempts
        .iter()
        .map(|a| {
            json!({
                "status": a.status,
                "provider_name": a.provider_name,
                "model_permaslug": a.model,
                "is_byok": false,
            })
        })
        .collect();
    let mut out = json!({
        "id": g.id,
        "upstream_id": g.upstream_id,
        "total_cost": usd(g.cost),
        "usage": usd(g.cost),
        "upstream_inference_cost": null,
        "cache_discount": null,
        "created_at": clock::iso(g.created_at_ms),
        "model": g.model,
        "app_id": null,
        "streamed": g.streamed,
        "cancelled": g.cancelled,
        "provider_name": g.provider_name,
        "latency": g.latency_ms,
        "moderation_latency": null,
        "generation_time": g.generation_time_ms,
        "finish_reason": g.finish_reason,
        "native_finish_reason": g.native_finish_reason,
        "service_tier": null,
        "tokens_prompt": g.tokens_prompt,
        "tokens_completion": g.tokens_completion,
        "native_tokens_prompt": g.tokens_prompt,
        "native_tokens_completion": g.tokens_completion,
        "native_tokens_completion_images": 0,
        "native_tokens_reasoning": g.tokens_reasoning,
        "native_tokens_cached": g.tokens_cached,
    });
    let counts = json!({
        "num_media_prompt": null,
        "num_input_audio_prompt": null,
        "num_media_completion": null,
        "num_search_results": null,
        "num_fetches": null,
        "web_search_engine": null,
        "origin": g.http_referer.clone().unwrap_or_default(),
        "is_byok": false,
        "external_user": null,
        "api_type": "completions",
        "preset_id": null,
        "router": null,
        "provider_responses": responses,
        "user_agent": g.user_agent,
        "http_referer": g.http_referer,
        "data_region": "global",
        "workspace_id": null,
        "session_id": g.session_id,
        "app_title": g.app_title,
        "upstream_model": g.upstream_model,
        "provider_slug": g.provider_slug,
    });
    if let (Some(out), Value::Object(counts)) = (out.as_object_mut(), counts) {
        out.extend(counts);
    }
    out
}

/// `GET /api/v1/activity`: the last 30 UTC days per day, model and provider, and each
/// provider's share of requests and spend (how concentrated the traffic is).
pub async fn activity(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AccountQuery>,
) -> Result<Json<Value>, ApiError> {
    let p = management(&state, &headers).await?;
    let account = q.account.unwrap_or(p.account);
    let mut rows = activity_rows(&state, &account, q.api_key_hash.as_deref()).await?;
    if let Some(date) = &q.date {
        rows.retain(|r| &r.date == date);
    }
    let providers: Vec<Value> = provider_shares(&rows)
        .iter()
        .map(|p| {
            json!({
                "provider_name": p.provider_name,
                "requests": p.requests,
                "usage": usd(p.usage),
                "request_share": p.request_share,
                "usage_share": p.usage_share,
            })
        })
        .collect();
    let data: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "date": r.date,
                "model": r.model,
                "model_permaslug": r.model,
                "endpoint_id": format!("{}|{}", r.provider_name, r.model),
                "provider_name": r.provider_name,
                "usage": usd(r.usage),
                "byok_usage_inference": 0,
                "requests": r.requests,
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "reasoning_tokens": r.reasoning_tokens,
                "cached_tokens": r.cached_tokens,
                "workspace_id": account,
            })
        })
        .collect();
    Ok(Json(json!({ "data": data, "providers": providers })))
}

/// The account's activity over the last 30 UTC days (today included), by day × model ×
/// provider.
pub(crate) async fn activity_rows(
    state: &AppState,
    account: &str,
    key_hash: Option<&str>,
) -> Result<Vec<ActivityRow>, ApiError> {
    let since = LimitReset::Daily.window_start(clock::now_ms()) - 29 * 86_400_000;
    Ok(state
        .accounts()
        .store()
        .activity(account, since, key_hash)
        .await?)
}

/// One provider's part of an account's traffic: how concentrated it is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProviderShare {
    pub provider_name: String,
    pub requests: u64,
    pub usage: Nanos,
    /// Of all requests / all spend, 0–1, rounded to 4 decimals.
    pub request_share: f64,
    pub usage_share: f64,
}

/// Each provider's requests and spend in `rows`, and its share of each, by provider name.
pub(crate) fn provider_shares(rows: &[ActivityRow]) -> Vec<ProviderShare> {
    let mut by_provider: BTreeMap<&str, (u64, Nanos)> = BTreeMap::new();
    for r in rows {
        let e = by_provider.entry(&r.provider_name).or_default();
        e.0 += r.requests;
        e.1 += r.usage;
    }
    let (all_requests, all_usage) = by_provider
        .values()
        .fold((0u64, Nanos::ZERO), |(n, u), (rn, ru)| (n + rn, u + *ru));
    let share = |part: f64, whole: f64| {
        if whole > 0.0 {
            (part / whole * 10_000.0).round() / 10_000.0
        } else {
            0.0
        }
    };
    by_provider
        .into_iter()
        .map(|(name, (requests, usage))| ProviderShare {
            provider_name: name.to_owned(),
            requests,
            usage,
            request_share: share(requests as f64, all_requests as f64),
            usage_share: share(usage.0 as f64, all_usage.0 as f64),
        })
        .collect()
}
