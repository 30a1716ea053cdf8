//! Step 2: the plan: the ordered candidates for one request and, for every endpoint left out,
//! why. Pure: the catalog, the request's preferences, a view of live health and a random
//! source go in; no IO happens here, so every rule is unit-tested.
//!
//! Order of operations, per OpenRouter's documented semantics (spec §2.3, §6):
//! 1. hard filters: `only`/`ignore`, service tier (admitted by `:nitro`/`:floor`),
//!    `data_collection`, `zdr`, `quantizations`, `max_price`, `require_parameters`, output
//!    length; then endpoints whose breaker is open or that are cooling down;
//! 2. ordering: `order` (then the rest unless `allow_fallbacks: false`), else `sort` (or the
//!    variant's), else the default: among endpoints without a hard error in the last 30 s, the
//!    first pick is random weighted by 1/price², the rest follow by price, the recently failed last;
//! 3. soft preferences (`preferred_max_latency`, `preferred_min_throughput`) move endpoints
//!    that miss them to the end.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use rand::Rng;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

use super::catalog::{Catalog, Target, Variant};
use super::preferences::{Partition, Percentiles, Preferences, Sort, SortBy, provider_matches};
use crate::error::ApiError;
use turnout_config::{DataCollection, ProviderKind, Tier};
use turnout_wire::params::ParamSet;

/// What routing knows about an endpoint's recent behaviour.
pub trait HealthView {
    /// A hard error in live traffic within the last 30 s: such endpoints go last.
    fn recently_failed(&self, key: &str, now: Instant) -> bool;
    /// When an open breaker or a 429 cool-down ends, if the endpoint is not usable now.
    fn unavailable_until(&self, key: &str, now: Instant) -> Option<Instant>;
    /// Time to first token at a percentile (0–100), in seconds, from recent traffic.
    fn latency(&self, key: &str, percentile: f64) -> Option<f64>;
    /// Generated tokens per second at a percentile, from recent traffic.
    fn throughput(&self, key: &str, percentile: f64) -> Option<f64>;
}

/// No health data: every endpoint looks fine and unmeasured.
#[derive(Debug, Default)]
pub struct NoHealth;

impl HealthView for NoHealth {
    fn recently_failed(&self, _: &str, _: Instant) -> bool {
        false
    }
    fn unavailable_until(&self, _: &str, _: Instant) -> Option<Instant> {
        None
    }
    fn latency(&self, _: &str, _: f64) -> Option<f64> {
        None
    }
    fn throughput(&self, _: &str, _: f64) -> Option<f64> {
        None
    }
}

/// What the router needs to know about a request.
#[derive(Debug, Clone, Default)]
pub struct RouteRequest {
    /// The model, then each fallback model, in order.
    pub models: Vec<String>,
    pub preferences: Preferences,
    /// Request parameters that endpoints may or may not support (`tools`, `temperature`, …).
    pub params_used: ParamSet,
    /// Requested output length, when given.
    pub max_tokens: Option<u64>,
    /// The endpoint this conversation last used (sticky session), if any.
    pub sticky_endpoint: Option<std::sync::Arc<str>>,
}

#[derive(Debug, Clone)]
pub struct Candidate {
    pub target: Target,
    /// Why it is here, at this rank (static text on the common path: no allocation).
    pub why: Cow<'static, str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Exclusion {
    pub provider: String,
    pub model: String,
    /// OpenRouter's `excluded_by` vocabulary where one applies (`max_price`, …).
    pub by: &'static str,
    pub reason: String,
}

impl Exclusion {
    pub fn to_json(&self) -> Value {
        json!({"provider": self.provider, "model": self.model, "excluded_by": self.by, "reason": self.reason})
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// One group per model in `models` order (or a single group with `partition: "none"`).
    pub groups: Vec<Vec<Candidate>>,
    pub excluded: Vec<Exclusion>,
}

impl Plan {
    pub fn candidates(&self) -> impl Iterator<Item = &Candidate> {
        self.groups.iter().flatten()
    }

    pub fn build(
        catalog: &Catalog,
        req: &RouteRequest,
        health: &dyn HealthView,
        now: Instant,
        rng: &mut impl Rng,
    ) -> Result<Plan, ApiError> {
        let prefs = &req.preferences;
        let mut groups = Vec::with_capacity(req.models.len());
        let mut excluded = Vec::new();
        let mut cooling: Option<Instant> = None;
        let mut sort_everything: Option<Sort> = None;

        for id in &req.models {
            let resolved = catalog
                .resolve(id)
                .ok_or_else(|| ApiError::UnknownModel { model: id.clone() })?;
            let variant_sort = resolved.variant.map(|v| Sort {
                by: match v {
                    Variant::Nitro => SortBy::Throughput,
                    Variant::Floor => SortBy::Price,
                },
                partition: Partition::Model,
            });
            let sort = prefs.sort.or(variant_sort);
            if matches!(
                sort,
                Some(Sort {
                    partition: Partition::None,
                    ..
                })
            ) {
                sort_everything = sort;
            }
            let mut kept = Vec::new();
            for t in resolved.targets {
                if let Some(ex) = filter(&t, req, resolved.variant) {
                    excluded.push(ex);
                } else if let Some(until) = health.unavailable_until(&t.endpoint.key, now) {
                    cooling = Some(cooling.map_or(until, |c| c.min(until)));
                    excluded.push(exclusion(
                        &t,
                        "breaker",
                        format!(
                            "breaker open or cooling down for another {} ms",
                            until.saturating_duration_since(now).as_millis()
                        ),
                    ));
                } else {
                    kept.push(t);
                }
            }
            let mut ranked = order(kept, prefs, sort, health, now, rng);
            if let Some(sticky) = &req.sticky_endpoint
                && prefs.is_load_balanced()
                && sort.is_none()
                && groups.is_empty()
                && !health.recently_failed(sticky, now)
                && let Some(i) = ranked
                    .iter()
                    .position(|c| *c.target.endpoint.key == **sticky)
            {
                let mut c = ranked.remove(i);
                c.why = Cow::Borrowed("sticky session: served this conversation last");
                ranked.insert(0, c);
            }
            groups.push(ranked);
        }

        if let Some(sort) = sort_everything {
            let all: Vec<Target> = groups.drain(..).flatten().map(|c| c.target).collect();
            groups.push(order(all, prefs, Some(sort), health, now, rng));
        }
        groups.retain(|g| !g.is_empty());
        if sort_everything.is_none() && groups.len() > 1 {
            openrouter_fallbacks(&mut groups);
        }
        if groups.is_empty() {
            let model = req.models.first().cloned().unwrap_or_default();
            // Some endpoint would have served but is unavailable right now: that is an outage
            // (503 with the earliest reopening), not a preference mismatch (404).
            if let Some(until) = cooling {
                return Err(ApiError::AllCoolingDown {
                    model,
                    retry_after: until
                        .saturating_duration_since(now)
                        .max(Duration::from_secs(1)),
                });
            }
            return Err(ApiError::NoEndpoints {
                model,
                excluded: excluded.iter().map(Exclusion::to_json).collect(),
            });
        }
        Ok(Plan { groups, excluded })
    }
}

fn exclusion(t: &Target, by: &'static str, reason: String) -> Exclusion {
    Exclusion {
        provider: t.endpoint.provider.name.clone(),
        model: t.model_id.clone(),
        by,
        reason,
    }
}

/// Per million tokens, as `max_price` is given.
fn per_million(per_token: Decimal) -> Decimal {
    per_token * Decimal::from(1_000_000)
}

/// The hard filters, in the order a user would look for them.
fn filter(t: &Target, req: &RouteRequest, variant: Option<Variant>) -> Option<Exclusion> {
    let prefs = &req.preferences;
    let e = &t.endpoint;
    let p = &e.provider;
    let names = |list: &[String]| list.iter().any(|r| provider_matches(r, &p.slug, &p.name));
    if !prefs.only.is_empty() && !names(&prefs.only) {
        return Some(exclusion(
            t,
            "allowed_providers",
            "not in provider.only".into(),
        ));
    }
    if names(&prefs.ignore) {
        return Some(exclusion(
            t,
            "allowed_providers",
            "in provider.ignore".into(),
        ));
    }
    match (e.tier, variant) {
        (Some(Tier::Priority), v) if v != Some(Variant::Nitro) => {
            return Some(exclusion(
                t,
                "service_tier",
                "priority-tier endpoint; use the :nitro variant".into(),
            ));
        }
        (Some(Tier::Flex), v) if v != Some(Variant::Floor) => {
            return Some(exclusion(
                t,
                "service_tier",
                "flex-tier endpoint; use the :floor variant".into(),
            ));
        }
        _ => {}
    }
    if prefs.deny_data_collection && p.data_collection == DataCollection::Allow {
        return Some(exclusion(
            t,
            "data_policy:training",
            "provider may store or train on data (data_collection: deny)".into(),
        ));
    }
    if prefs.zdr && !e.zdr {
        return Some(exclusion(
            t,
            "data_policy:zdr",
            "not a zero-data-retention endpoint".into(),
        ));
    }
    if !prefs.quantizations.is_empty() {
        let q = e.quantization.as_deref().unwrap_or("unknown");
        if !prefs
            .quantizations
            .iter()
            .any(|w| w.eq_ignore_ascii_case(q))
        {
            return Some(exclusion(
                t,
                "quantization",
                format!("quantization {q} not in provider.quantizations"),
            ));
        }
    }
    let caps = [
        (
            "prompt",
            prefs.max_price.prompt,
            per_million(e.pricing.prompt),
        ),
        (
            "completion",
            prefs.max_price.completion,
            per_million(e.pricing.completion),
        ),
        (
            "request",
            prefs.max_price.request,
            e.pricing.request.unwrap_or_default(),
        ),
    ];
    for (what, cap, price) in caps {
        if let Some(cap) = cap
            && price > cap
        {
            return Some(exclusion(
                t,
                "max_price",
                format!(
                    "{what} price {} exceeds max_price.{what} {}",
                    price.normalize(),
                    cap.normalize()
                ),
            ));
        }
    }
    if req.preferences.require_parameters {
        let missing = req.params_used.without(e.supported);
        if !missing.is_empty() {
            return Some(exclusion(t, "require_parameters", unsupported(t, missing)));
        }
    }
    if let (Some(wanted), Some(max)) = (req.max_tokens, e.max_completion_tokens)
        && wanted > max
    {
        return Some(exclusion(
            t,
            "context_length",
            format!("max_tokens {wanted} exceeds the endpoint's max_completion_tokens {max}"),
        ));
    }
    None
}

/// Why an endpoint cannot honour `missing`: its adapter cannot express them, or its
/// configured `supported_parameters` leave them out.
fn unsupported(t: &Target, missing: ParamSet) -> String {
    let adapter = super::catalog::adapter_parameters(t.endpoint.provider.kind);
    let list = |set: ParamSet| {
        set.names()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let untranslatable = missing.without(adapter);
    let unlisted = missing.intersection(adapter);
    let mut parts = Vec::with_capacity(2);
    if !untranslatable.is_empty() {
        let kind = format!("{:?}", t.endpoint.provider.kind).to_lowercase();
        parts.push(format!(
            "kind = \"{kind}\" cannot express {}",
            list(untranslatable)
        ));
    }
    if !unlisted.is_empty() {
        parts.push(format!(
            "{} not in the endpoint's supported_parameters",
            list(unlisted)
        ));
    }
    format!(
        "does not support every parameter of the request (require_parameters): {}",
        parts.join("; ")
    )
}

/// Gives each OpenRouter endpoint that is the last candidate of its model the request's later
/// models on the same provider, which OpenRouter may then fall back to by itself (`models`).
/// Only the last: Turnout's other endpoints of a model come before any later model.
fn openrouter_fallbacks(groups: &mut [Vec<Candidate>]) {
    for i in 0..groups.len() {
        let Some(last) = groups[i].last() else {
            continue;
        };
        let provider = &last.target.endpoint.provider;
        if provider.kind != ProviderKind::Openrouter {
            continue;
        }
        let later: Vec<Target> = groups[i + 1..]
            .iter()
            .filter_map(|g| {
                g.iter()
                    .find(|c| std::sync::Arc::ptr_eq(&c.target.endpoint.provider, provider))
            })
            .map(|c| Target {
                fallbacks: None,
                ..c.target.clone()
            })
            .collect();
        if later.is_empty() {
            continue;
        }
        let names: Vec<&str> = later.iter().map(|t| t.model_id.as_str()).collect();
        let why = format!(
            "; OpenRouter may fall back to {} itself (models)",
            names.join(", ")
        );
        if let Some(c) = groups[i].last_mut() {
            c.why = format!("{}{why}", c.why).into();
            c.target.fallbacks = Some(later.into());
        }
    }
}

fn blended_price(t: &Target) -> Decimal {
    t.endpoint.pricing.prompt + t.endpoint.pricing.completion
}

/// Orders one group's endpoints (all of them passed the filters).
fn order(
    targets: Vec<Target>,
    prefs: &Preferences,
    sort: Option<Sort>,
    health: &dyn HealthView,
    now: Instant,
    rng: &mut impl Rng,
) -> Vec<Candidate> {
    let mut ranked: Vec<Candidate> = if !prefs.order.is_empty() {
        let mut chosen: Vec<Candidate> = Vec::new();
        let mut rest = targets;
        for (i, reference) in prefs.order.iter().enumerate() {
            let (hits, others): (Vec<Target>, Vec<Target>) = rest.into_iter().partition(|t| {
                provider_matches(
                    reference,
                    &t.endpoint.provider.slug,
                    &t.endpoint.provider.name,
                )
            });
            rest = others;
            chosen.extend(hits.into_iter().map(|t| Candidate {
                target: t,
                why: format!("provider.order[{i}] = {reference:?}").into(),
            }));
        }
        if prefs.allow_fallbacks {
            chosen.extend(
                default_order(rest, health, now, rng)
                    .into_iter()
                    .map(|mut c| {
                        c.why = format!("fallback after provider.order: {}", c.why).into();
                        c
                    }),
            );
        }
        chosen
    } else if let Some(sort) = sort {
        let mut sorted = sort_by(targets, sort.by, health);
        if !prefs.allow_fallbacks {
            sorted.truncate(1);
        }
        sorted
    } else {
        let mut ranked = default_order(targets, health, now, rng);
        if !prefs.allow_fallbacks {
            ranked.truncate(1);
        }
        ranked
    };
    demote_soft_misses(&mut ranked, prefs, health);
    ranked
}

fn sort_by(mut targets: Vec<Target>, by: SortBy, health: &dyn HealthView) -> Vec<Candidate> {
    match by {
        SortBy::Price => {
            targets.sort_by_key(blended_price);
            targets
                .into_iter()
                .map(|t| {
                    let why = format!("sorted by price ({}/token)", blended_price(&t).normalize());
                    Candidate {
                        target: t,
                        why: why.into(),
                    }
                })
                .collect()
        }
        SortBy::Throughput | SortBy::Latency => {
            let metric = |t: &Target| match by {
                // Higher throughput first: sort by its negation. Unmeasured endpoints last.
                SortBy::Throughput => health.throughput(&t.endpoint.key, 50.0).map(|v| -v),
                _ => health.latency(&t.endpoint.key, 50.0),
            };
            let mut keyed: Vec<(Option<f64>, Target)> =
                targets.into_iter().map(|t| (metric(&t), t)).collect();
            keyed.sort_by(|(a, _), (b, _)| match (a, b) {
                (Some(a), Some(b)) => a.total_cmp(b),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            });
            keyed
                .into_iter()
                .map(|(m, t)| {
                    let why: Cow<'static, str> = match (by, m) {
                        (SortBy::Throughput, Some(v)) => {
                            format!("sorted by throughput (p50 {:.1} tokens/s)", -v).into()
                        }
                        (_, Some(v)) => format!(
                            "sorted by latency (p50 {:.0} ms to first token)",
                            v * 1000.0
                        )
                        .into(),
                        _ => Cow::Borrowed("not measured yet: after measured endpoints"),
                    };
                    Candidate { target: t, why }
                })
                .collect()
        }
    }
}

/// OpenRouter's classic rule: stable endpoints first, the first pick random weighted by
/// 1/price², the remaining by price; endpoints with a recent hard error last.
fn default_order(
    targets: Vec<Target>,
    health: &dyn HealthView,
    now: Instant,
    rng: &mut impl Rng,
) -> Vec<Candidate> {
    let (mut stable, mut shaky): (Vec<Target>, Vec<Target>) = targets
        .into_iter()
        .partition(|t| !health.recently_failed(&t.endpoint.key, now));
    stable.sort_by_key(blended_price);
    shaky.sort_by_key(blended_price);
    let mut out = Vec::with_capacity(stable.len() + shaky.len());
    if !stable.is_empty() {
        let pick = weighted_pick(&stable, rng);
        let first = stable.remove(pick);
        out.push(Candidate {
            target: first,
            why: Cow::Borrowed("load-balanced pick, weighted by 1/price²"),
        });
    }
    out.extend(stable.into_iter().map(|t| Candidate {
        target: t,
        why: Cow::Borrowed("fallback, by price"),
    }));
    out.extend(shaky.into_iter().map(|t| Candidate {
        target: t,
        why: Cow::Borrowed("hard error in the last 30 s: tried last"),
    }));
    out
}

/// Index into `sorted` (cheapest first) drawn with weight 1/price². Free endpoints win outright.
fn weighted_pick(sorted: &[Target], rng: &mut impl Rng) -> usize {
    let weights: Vec<f64> = sorted
        .iter()
        .map(|t| {
            let price = blended_price(t).to_f64().unwrap_or(0.0);
            if price <= 0.0 {
                f64::INFINITY
            } else {
                1.0 / (price * price)
            }
        })
        .collect();
    if weights[0].is_infinite() {
        let free = weights.iter().take_while(|w| w.is_infinite()).count();
        return rng.random_range(0..free);
    }
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    sorted.len() - 1
}

fn misses(p: &Percentiles, value: impl Fn(f64) -> Option<f64>, higher_is_better: bool) -> bool {
    [(50.0, p.p50), (75.0, p.p75), (90.0, p.p90), (99.0, p.p99)]
        .into_iter()
        .filter_map(|(pct, cutoff)| Some((value(pct)?, cutoff?)))
        .any(|(v, cutoff)| {
            if higher_is_better {
                v < cutoff
            } else {
                v > cutoff
            }
        })
}

/// Soft preferences never exclude: endpoints measured to miss them move to the end.
fn demote_soft_misses(ranked: &mut Vec<Candidate>, prefs: &Preferences, health: &dyn HealthView) {
    if prefs.preferred_max_latency.is_none() && prefs.preferred_min_throughput.is_none() {
        return;
    }
    let (keep, mut late): (Vec<Candidate>, Vec<Candidate>) = ranked.drain(..).partition(|c| {
        let key = &c.target.endpoint.key;
        let slow = prefs
            .preferred_max_latency
            .as_ref()
            .is_some_and(|p| misses(p, |pct| health.latency(key, pct), false));
        let thin = prefs
            .preferred_min_throughput
            .as_ref()
            .is_some_and(|p| misses(p, |pct| health.throughput(key, pct), true));
        !(slow || thin)
    });
    for c in &mut late {
        c.why = format!(
            "{}; misses a preferred latency/throughput: moved to the end",
            c.why
        )
        .into();
    }
    ranked.extend(keep);
    ranked.extend(late);
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::routing::preferences::MaxPrice;

    const CATALOG: &str = r#"
[[providers]]
slug = "cheap"
name = "Cheap Inc"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
[[providers]]
slug = "mid"
name = "Mid AI"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
data_collection = "deny"
[[providers]]
slug = "dear"
name = "Dear Corp"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
data_collection = "deny"
[[providers]]
slug = "fast/priority"
name = "Fast Priority"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"

[[models]]
id = "a/m"
  [[models.endpoints]]
  provider = "cheap"
  prompt_price = "0.000001"
  completion_price = "0"
  quantization = "fp8"
  supported_parameters = ["temperature"]
  max_completion_tokens = 1000
  [[models.endpoints]]
  provider = "mid"
  prompt_price = "0.000002"
  completion_price = "0"
  quantization = "bf16"
  zdr = true
  [[models.endpoints]]
  provider = "dear"
  prompt_price = "0.000003"
  completion_price = "0"
  [[models.endpoints]]
  provider = "fast/priority"
  prompt_price = "0.00001"
  completion_price = "0"
  tier = "priority"

[[models]]
id = "b/m"
  [[models.endpoints]]
  provider = "dear"
  prompt_price = "0.0000005"
  completion_price = "0"
"#;

    fn catalog() -> &'static Catalog {
        static CATALOG_ONCE: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        CATALOG_ONCE.get_or_init(|| {
            Catalog::build(&turnout_config::load_str(CATALOG, "t.toml").expect("config"))
                .expect("catalog")
        })
    }

    #[derive(Default)]
    struct FakeHealth {
        failed: HashSet<String>,
        cooling: HashMap<String, Duration>,
        latency: HashMap<String, f64>,
        throughput: HashMap<String, f64>,
    }

    impl HealthView for FakeHealth {
        fn recently_failed(&self, key: &str, _: Instant) -> bool {
            self.failed.contains(key)
        }
        fn unavailable_until(&self, key: &str, now: Instant) -> Option<Instant> {
            self.cooling.get(key).map(|d| now + *d)
        }
        fn latency(&self, key: &str, _: f64) -> Option<f64> {
            self.latency.get(key).copied()
        }
        fn throughput(&self, key: &str, _: f64) -> Option<f64> {
            self.throughput.get(key).copied()
        }
    }

    fn req(models: &[&str], prefs: Preferences) -> RouteRequest {
        RouteRequest {
            models: models.iter().map(|m| (*m).to_owned()).collect(),
            preferences: prefs,
            ..RouteRequest::default()
        }
    }

    fn plan_with(r: &RouteRequest, h: &dyn HealthView, seed: u64) -> Result<Plan, ApiError> {
        Plan::build(
            catalog(),
            r,
            h,
            Instant::now(),
            &mut StdRng::seed_from_u64(seed),
        )
    }

    fn slugs(p: &Plan) -> Vec<String> {
        p.candidates()
            .map(|c| c.target.endpoint.provider.slug.clone())
            .collect()
    }

    fn excluded_by(p: &Plan) -> Vec<(String, &'static str)> {
        p.excluded
            .iter()
            .map(|e| (e.provider.clone(), e.by))
            .collect()
    }

    #[test]
    fn default_order_picks_by_inverse_square_price_and_keeps_the_rest_by_price() {
        let r = req(&["a/m"], Preferences::default());
        let mut firsts: HashMap<String, usize> = HashMap::new();
        for seed in 0..2000 {
            let p = plan_with(&r, &NoHealth, seed).expect("plan");
            let s = slugs(&p);
            assert_eq!(s.len(), 3, "priority tier is not admitted without :nitro");
            let rest: Vec<&String> = s[1..].iter().collect();
            let mut sorted = rest.clone();
            sorted.sort_by_key(|x| ["cheap", "mid", "dear"].iter().position(|y| y == x));
            assert_eq!(rest, sorted, "fallbacks follow by price");
            *firsts.entry(s[0].clone()).or_default() += 1;
        }
        // Weights 1, 1/4, 1/9: cheap ≈ 73%, mid ≈ 18%, dear ≈ 8%.
        let share = |k: &str| firsts.get(k).copied().unwrap_or(0) as f64 / 2000.0;
        assert!((share("cheap") - 0.735).abs() < 0.05, "{firsts:?}");
        assert!((share("mid") - 0.184).abs() < 0.05, "{firsts:?}");
        assert!((share("dear") - 0.082).abs() < 0.04, "{firsts:?}");
    }

    #[test]
    fn recently_failed_endpoints_go_last_and_cooling_ones_are_left_out() {
        let health = FakeHealth {
            failed: HashSet::from(["cheap|a/m".to_owned()]),
            cooling: HashMap::from([("mid|a/m".to_owned(), Duration::from_secs(5))]),
            ..FakeHealth::default()
        };
        let p = plan_with(&req(&["a/m"], Preferences::default()), &health, 1).expect("plan");
        assert_eq!(slugs(&p), vec!["dear", "cheap"]);
        assert!(excluded_by(&p).contains(&("Mid AI".to_owned(), "breaker")));
    }

    #[test]
    fn all_cooling_down_is_503_with_the_earliest_reopening() {
        let health = FakeHealth {
            cooling: HashMap::from([
                ("cheap|a/m".to_owned(), Duration::from_secs(7)),
                ("mid|a/m".to_owned(), Duration::from_secs(3)),
                ("dear|a/m".to_owned(), Duration::from_secs(9)),
            ]),
            ..FakeHealth::default()
        };
        match plan_with(&req(&["a/m"], Preferences::default()), &health, 1) {
            Err(ApiError::AllCoolingDown { retry_after, .. }) => {
                assert_eq!(retry_after.as_secs(), 3)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn order_comes_first_then_the_rest_unless_fallbacks_are_off() {
        let prefs = Preferences {
            order: vec!["Dear Corp".into(), "mid".into()],
            ..Preferences::default()
        };
        let p = plan_with(&req(&["a/m"], prefs.clone()), &NoHealth, 3).expect("plan");
        assert_eq!(slugs(&p), vec!["dear", "mid", "cheap"]);
        let strict = Preferences {
            allow_fallbacks: false,
            ..prefs
        };
        let p = plan_with(&req(&["a/m"], strict), &NoHealth, 3).expect("plan");
        assert_eq!(slugs(&p), vec!["dear", "mid"]);
    }

    #[test]
    fn allow_fallbacks_false_alone_keeps_only_the_primary() {
        let prefs = Preferences {
            allow_fallbacks: false,
            ..Preferences::default()
        };
        let p = plan_with(&req(&["a/m"], prefs), &NoHealth, 3).expect("plan");
        assert_eq!(p.candidates().count(), 1);
    }

    #[test]
    fn only_and_ignore_match_slugs_and_names_case_insensitively() {
        let prefs = Preferences {
            only: vec!["CHEAP".into(), "Dear Corp".into()],
            ignore: vec!["dear".into()],
            ..Preferences::default()
        };
        let p = plan_with(&req(&["a/m"], prefs), &NoHealth, 3).expect("plan");
        assert_eq!(slugs(&p), vec!["cheap"]);
        assert_eq!(
            excluded_by(&p),
            vec![
                ("Mid AI".into(), "allowed_providers"),
                ("Dear Corp".into(), "allowed_providers"),
                ("Fast Priority".into(), "allowed_providers")
            ]
        );
    }

    #[test]
    fn hard_filters_exclude_with_their_reason() {
        let cases: Vec<(Preferences, Vec<&str>, &str)> = vec![
            (
                Preferences {
                    max_price: MaxPrice {
                        prompt: Some("2".parse().expect("d")),
                        ..MaxPrice::default()
                    },
                    ..Preferences::default()
                },
                vec!["cheap", "mid"],
                "max_price",
            ),
            (
                Preferences {
                    zdr: true,
                    ..Preferences::default()
                },
                vec!["mid"],
                "data_policy:zdr",
            ),
            (
                Preferences {
                    deny_data_collection: true,
                    ..Preferences::default()
                },
                vec!["dear", "mid"],
                "data_policy:training",
            ),
            (
                Preferences {
                    quantizations: vec!["FP8".into()],
                    ..Preferences::default()
                },
                vec!["cheap"],
                "quantization",
            ),
        ];
        for (prefs, want, by) in cases {
            let p = plan_with(&req(&["a/m"], prefs.clone()), &NoHealth, 5).expect("plan");
            let mut got = slugs(&p);
            got.sort();
            assert_eq!(got, want, "{prefs:?}");
            assert!(
                p.excluded.iter().any(|e| e.by == by),
                "{by}: {:?}",
                p.excluded
            );
        }
    }

    #[test]
    fn require_parameters_and_output_length() {
        let mut r = req(
            &["a/m"],
            Preferences {
                require_parameters: true,
                ..Preferences::default()
            },
        );
        r.params_used = ParamSet::of(["tools"]);
        let p = plan_with(&r, &NoHealth, 5).expect("plan");
        assert!(
            !slugs(&p).contains(&"cheap".to_owned()),
            "cheap declares no tools"
        );
        r.preferences.require_parameters = false;
        let p = plan_with(&r, &NoHealth, 5).expect("plan");
        assert!(
            slugs(&p).contains(&"cheap".to_owned()),
            "without require_parameters it is kept"
        );
        r.max_tokens = Some(5000);
        let p = plan_with(&r, &NoHealth, 5).expect("plan");
        assert!(excluded_by(&p).contains(&("Cheap Inc".into(), "context_length")));
    }

    fn own_catalog(toml: &str) -> Catalog {
        Catalog::build(&turnout_config::load_str(toml, "t.toml").expect("config")).expect("catalog")
    }

    const KINDS: &str = r#"
[[providers]]
slug = "direct"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
[[providers]]
slug = "claude"
kind = "anthropic"
base_url = "http://127.0.0.1:9/v1"
[[providers]]
slug = "narrow"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
[[providers]]
slug = "or"
name = "OpenRouter"
kind = "openrouter"
base_url = "http://127.0.0.1:9/api/v1"

[[models]]
id = "a/m"
  [[models.endpoints]]
  provider = "direct"
  prompt_price = "0.000001"
  completion_price = "0"
  [[models.endpoints]]
  provider = "claude"
  prompt_price = "0.000001"
  completion_price = "0"
  [[models.endpoints]]
  provider = "narrow"
  prompt_price = "0.000001"
  completion_price = "0"
  supported_parameters = ["temperature", "tools"]
  [[models.endpoints]]
  provider = "or"
  upstream_model = "vendor/a"
  prompt_price = "0.000001"
  completion_price = "0"
[[models]]
id = "b/m"
  [[models.endpoints]]
  provider = "or"
  upstream_model = "vendor/b"
  prompt_price = "0.000001"
  completion_price = "0"
[[models]]
id = "c/m"
  [[models.endpoints]]
  provider = "direct"
  prompt_price = "0.000001"
  completion_price = "0"
"#;

    #[test]
    fn require_parameters_knows_what_each_adapter_can_express() {
        let catalog = own_catalog(KINDS);
        let mut r = req(
            &["a/m"],
            Preferences {
                require_parameters: true,
                ..Preferences::default()
            },
        );
        r.params_used = ParamSet::of(["seed", "temperature"]);
        let p = Plan::build(
            &catalog,
            &r,
            &NoHealth,
            Instant::now(),
            &mut StdRng::seed_from_u64(1),
        )
        .expect("plan");
        let mut kept = slugs(&p);
        kept.sort();
        assert_eq!(kept, ["direct", "or"]);
        let reason = |slug: &str| {
            p.excluded
                .iter()
                .find(|e| e.provider == slug)
                .map(|e| (e.by, e.reason.clone()))
                .expect("excluded")
        };
        let (by, why) = reason("claude");
        assert_eq!(by, "require_parameters");
        assert!(
            why.ends_with("kind = \"anthropic\" cannot express `seed`"),
            "{why}"
        );
        let (_, why) = reason("narrow");
        assert!(
            why.ends_with("`seed` not in the endpoint's supported_parameters"),
            "{why}"
        );
        // Without require_parameters every endpoint stays (the parameter is dropped instead).
        r.preferences.require_parameters = false;
        let p = Plan::build(
            &catalog,
            &r,
            &NoHealth,
            Instant::now(),
            &mut StdRng::seed_from_u64(1),
        )
        .expect("plan");
        assert_eq!(p.candidates().count(), 4);
    }

    #[test]
    fn an_openrouter_endpoint_last_of_its_model_may_fall_back_to_later_models() {
        let catalog = own_catalog(KINDS);
        let plan = |order: &[&str]| {
            let prefs = Preferences {
                order: order.iter().map(|s| (*s).to_owned()).collect(),
                only: vec!["direct".into(), "or".into()],
                ..Preferences::default()
            };
            let r = req(&["a/m", "b/m", "c/m"], prefs);
            Plan::build(
                &catalog,
                &r,
                &NoHealth,
                Instant::now(),
                &mut StdRng::seed_from_u64(1),
            )
            .expect("plan")
        };
        let p = plan(&["direct", "or"]);
        let last = p.groups[0].last().expect("candidate");
        assert_eq!(last.target.endpoint.provider.slug, "or");
        let fallbacks: Vec<&str> = last
            .target
            .fallbacks
            .iter()
            .flat_map(|f| f.iter().map(|t| t.upstream_model.as_str()))
            .collect();
        assert_eq!(fallbacks, ["vendor/b"], "c/m has no OpenRouter endpoint");
        assert!(
            last.why.contains("OpenRouter may fall back to b/m"),
            "{}",
            last.why
        );
        assert!(
            p.groups[1][0].target.fallbacks.is_none(),
            "no later model on it"
        );
        // Tried before the direct endpoint of the same model, it must not jump to b/m.
        let p = plan(&["or", "direct"]);
        assert!(p.candidates().all(|c| c.target.fallbacks.is_none()));
    }

    #[test]
    fn excluding_everything_is_404_listing_why() {
        let prefs = Preferences {
            only: vec!["nobody".into()],
            ..Preferences::default()
        };
        match plan_with(&req(&["a/m"], prefs), &NoHealth, 1) {
            Err(e @ ApiError::NoEndpoints { .. }) => {
                assert_eq!(e.status().as_u16(), 404);
                let body = serde_json::to_value(e.body()).expect("json");
                assert_eq!(
                    body["metadata"]["excluded"].as_array().expect("list").len(),
                    4
                );
                assert_eq!(
                    body["metadata"]["excluded"][0]["excluded_by"],
                    "allowed_providers"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sorts_and_variants() {
        let health = FakeHealth {
            throughput: HashMap::from([
                ("mid|a/m".into(), 90.0),
                ("dear|a/m".into(), 40.0),
                ("fast/priority|a/m".into(), 300.0),
            ]),
            latency: HashMap::from([("dear|a/m".into(), 0.2), ("cheap|a/m".into(), 0.9)]),
            ..FakeHealth::default()
        };
        let by = |by| Preferences {
            sort: Some(Sort {
                by,
                partition: Partition::Model,
            }),
            ..Preferences::default()
        };
        let p = plan_with(&req(&["a/m"], by(SortBy::Price)), &health, 1).expect("plan");
        assert_eq!(slugs(&p), vec!["cheap", "mid", "dear"]);
        let p = plan_with(&req(&["a/m"], by(SortBy::Throughput)), &health, 1).expect("plan");
        assert_eq!(slugs(&p), vec!["mid", "dear", "cheap"], "unmeasured last");
        let p = plan_with(&req(&["a/m"], by(SortBy::Latency)), &health, 1).expect("plan");
        assert_eq!(slugs(&p), vec!["dear", "cheap", "mid"]);
        // :nitro sorts by throughput and admits the priority tier; :floor sorts by price.
        let p = plan_with(&req(&["a/m:nitro"], Preferences::default()), &health, 1).expect("plan");
        assert_eq!(slugs(&p), vec!["fast/priority", "mid", "dear", "cheap"]);
        assert_eq!(p.candidates().next().expect("c").target.model_id, "a/m");
        let p = plan_with(&req(&["a/m:floor"], Preferences::default()), &health, 1).expect("plan");
        assert_eq!(slugs(&p), vec!["cheap", "mid", "dear"]);
    }

    #[test]
    fn models_keep_their_order_unless_partition_is_none() {
        let price = |partition| Preferences {
            sort: Some(Sort {
                by: SortBy::Price,
                partition,
            }),
            ..Preferences::default()
        };
        let p =
            plan_with(&req(&["a/m", "b/m"], price(Partition::Model)), &NoHealth, 1).expect("plan");
        let models: Vec<&str> = p.candidates().map(|c| c.target.model_id.as_str()).collect();
        assert_eq!(models, vec!["a/m", "a/m", "a/m", "b/m"]);
        let p =
            plan_with(&req(&["a/m", "b/m"], price(Partition::None)), &NoHealth, 1).expect("plan");
        let first = p.candidates().next().expect("c");
        assert_eq!(
            (
                first.target.model_id.as_str(),
                first.target.endpoint.provider.slug.as_str()
            ),
            ("b/m", "dear")
        );
    }

    #[test]
    fn soft_preferences_move_misses_to_the_end() {
        let health = FakeHealth {
            latency: HashMap::from([("cheap|a/m".into(), 5.0), ("mid|a/m".into(), 0.5)]),
            throughput: HashMap::from([("dear|a/m".into(), 10.0)]),
            ..FakeHealth::default()
        };
        let prefs = Preferences {
            sort: Some(Sort {
                by: SortBy::Price,
                partition: Partition::Model,
            }),
            preferred_max_latency: Some(Percentiles {
                p50: Some(2.0),
                ..Percentiles::default()
            }),
            preferred_min_throughput: Some(Percentiles {
                p50: Some(20.0),
                ..Percentiles::default()
            }),
            ..Preferences::default()
        };
        let p = plan_with(&req(&["a/m"], prefs), &health, 1).expect("plan");
        assert_eq!(slugs(&p), vec!["mid", "cheap", "dear"]);
    }

    #[test]
    fn unknown_models_are_400() {
        assert!(matches!(
            plan_with(
                &req(&["a/m", "zz/top"], Preferences::default()),
                &NoHealth,
                1
            ),
            Err(ApiError::UnknownModel { .. })
        ));
    }
}
