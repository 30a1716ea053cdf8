//! Active probes (spec/status.md §5.5): a tiny streamed completion per endpoint on a timer, so
//! an endpoint that carries no live traffic — a backup in a fallback chain — has a known
//! health before it is needed; plus a cheap models-list check per provider that catches DNS,
//! TLS and credential breakage independently of any model.
//!
//! Probes go straight to one endpoint through the same adapters as user requests, but outside
//! ingress: they are never billed, never rate limited as a user, and never appear in
//! generation records. Their results feed status derivation ([`super::derive::Signals`]) and
//! routing (a failed probe marks the endpoint as recently failed, so it goes last).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rand::Rng;
use rustc_hash::FxHashMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::derive::{ComponentStatus, Probe};
use crate::egress::ResponseIdentity;
use crate::routing::catalog::{Provider, Target};
use crate::upstream::attempt::{FailureClass, Next, open_stream};

/// What a probe asks for: one short, deterministic answer. The `user` tag lets an upstream's
/// own analytics (and ours) tell probes from people.
const PROBE_BODY: &str = r#"{"model":"probe","stream":true,"max_tokens":4,"temperature":0,"user":"gateway-probe","messages":[{"role":"user","content":"Reply with the single word: OK"}]}"#;

/// Probe results kept per endpoint (the derivation rules look at the last few).
const KEPT_PROBES: usize = 20;

/// The probe schedule and its limits (names as in spec/status.md §5.11 `probes`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSettings {
    pub enabled: bool,
    pub interval: Duration,
    /// While an endpoint is not operational, or its last probe failed.
    pub suspect_interval: Duration,
    /// ± this fraction of the interval, so probes of many endpoints never line up.
    pub jitter: f64,
    /// A due probe is skipped when the endpoint served at least this many ok live requests
    /// and no hard error in the last minute: live traffic already proves it works.
    pub min_ok_live_requests: u64,
    /// ... but never more than this many times in a row, so probe data always exists.
    pub max_consecutive_skips: u32,
    pub ttft_timeout: Duration,
    pub total_timeout: Duration,
    pub global_concurrency: usize,
    pub per_provider_concurrency: usize,
    /// Tokens (prompt + completion) probes may spend per provider per UTC day; past it,
    /// probes fall back to [`ProbeSettings::over_budget_interval`].
    pub max_daily_tokens_per_provider: u64,
    pub over_budget_interval: Duration,
    /// The models-list check per provider.
    pub provider_interval: Duration,
    pub provider_timeout: Duration,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            enabled: true,
            interval: Duration::from_secs(30),
            suspect_interval: Duration::from_secs(10),
            jitter: 0.1,
            min_ok_live_requests: 5,
            max_consecutive_skips: 10,
            ttft_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(60),
            global_concurrency: 8,
            per_provider_concurrency: 2,
            max_daily_tokens_per_provider: 200_000,
            over_budget_interval: Duration::from_secs(300),
            provider_interval: Duration::from_secs(60),
            provider_timeout: Duration::from_secs(10),
        }
    }
}

impl ProbeSettings {
    /// `[status.probes]`; what the file does not set keeps the defaults above.
    pub fn from_config(c: &turnout_config::ProbesConfig) -> ProbeSettings {
        ProbeSettings {
            enabled: c.enabled,
            interval: c.interval,
            suspect_interval: c.suspect_interval,
            jitter: c.jitter,
            min_ok_live_requests: c.adaptive_skip.min_ok_live_requests,
            max_consecutive_skips: c.adaptive_skip.max_consecutive_skips,
            ttft_timeout: c.timeout.ttft,
            total_timeout: c.timeout.total,
            global_concurrency: c.concurrency.global as usize,
            per_provider_concurrency: c.concurrency.per_provider as usize,
            max_daily_tokens_per_provider: c.max_daily_tokens_per_provider,
            ..ProbeSettings::default()
        }
    }
}

/// One probe as it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRecord {
    pub at_ms: u64,
    pub ok: bool,
    /// The upstream's HTTP status when it answered with an error.
    pub http_status: Option<u16>,
    /// The failure class (`connect`, `timeout`, `server_error`, …) when it failed.
    pub error_class: Option<&'static str>,
    pub detail: Option<String>,
    pub ttft_ms: Option<u64>,
    pub total_ms: u64,
    pub output_tokens: u64,
    pub tokens_per_s: Option<f64>,
}

/// The last models-list check of one provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderCheck {
    pub at_ms: u64,
    pub ok: bool,
    pub http_status: Option<u16>,
    pub detail: Option<String>,
    pub total_ms: u64,
}

#[derive(Debug, Default)]
struct EndpointProbes {
    recent: VecDeque<ProbeRecord>,
    total: u64,
    ok: u64,
    skipped: u64,
}

/// What probes found, per endpoint key and per provider slug; read by status derivation and
/// the status API.
#[derive(Debug, Default)]
pub struct ProbeLog {
    endpoints: Mutex<FxHashMap<Arc<str>, EndpointProbes>>,
    providers: Mutex<HashMap<String, ProviderCheck>>,
}

/// One endpoint's probe figures for the status API.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointProbeSummary {
    pub total: u64,
    pub ok: u64,
    pub skipped: u64,
    pub last: Option<ProbeRecord>,
}

impl ProbeLog {
    fn lock_endpoints(&self) -> std::sync::MutexGuard<'_, FxHashMap<Arc<str>, EndpointProbes>> {
        self.endpoints.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_providers(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProviderCheck>> {
        self.providers.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(&self, key: &Arc<str>, record: ProbeRecord) {
        let mut map = self.lock_endpoints();
        let e = map.entry(key.clone()).or_default();
        e.total += 1;
        e.ok += u64::from(record.ok);
        if e.recent.len() == KEPT_PROBES {
            e.recent.pop_front();
        }
        e.recent.push_back(record);
    }

    fn skipped(&self, key: &Arc<str>) {
        self.lock_endpoints()
            .entry(key.clone())
            .or_default()
            .skipped += 1;
    }

    /// The endpoint's recent probes, oldest first, as status derivation reads them.
    pub fn recent(&self, key: &str) -> Vec<Probe> {
        self.lock_endpoints()
            .get(key)
            .map(|e| {
                e.recent
                    .iter()
                    .map(|r| Probe {
                        at_ms: r.at_ms,
                        ok: r.ok,
                        ttft_ms: r.ttft_ms,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn summary(&self, key: &str) -> Option<EndpointProbeSummary> {
        self.lock_endpoints()
            .get(key)
            .map(|e| EndpointProbeSummary {
                total: e.total,
                ok: e.ok,
                skipped: e.skipped,
                last: e.recent.back().cloned(),
            })
    }

    pub fn record_provider(&self, slug: &str, check: ProviderCheck) {
        self.lock_providers().insert(slug.to_owned(), check);
    }

    pub fn provider(&self, slug: &str) -> Option<ProviderCheck> {
        self.lock_providers().get(slug).cloned()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `base` ± `jitter` of itself.
fn jittered(base: Duration, jitter: f64) -> Duration {
    let jitter = jitter.clamp(0.0, 0.9);
    if jitter == 0.0 {
        return base;
    }
    let factor = rand::rng().random_range(1.0 - jitter..=1.0 + jitter);
    base.mul_f64(factor)
}

/// Probes one endpoint: a streamed completion, timed to its first token and to its end.
pub async fn probe_endpoint(target: &Target, settings: &ProbeSettings) -> ProbeRecord {
    let at_ms = now_ms();
    let started = Instant::now();
    let failed = |class: FailureClass, status: Option<u16>, detail: String| ProbeRecord {
        at_ms,
        ok: false,
        http_status: status,
        error_class: Some(class.as_str()),
        detail: Some(detail),
        ttft_ms: None,
        total_ms: started.elapsed().as_millis() as u64,
        output_tokens: 0,
        tokens_per_s: None,
    };
    let input = match crate::ingress::parse::parse_chat(PROBE_BODY.as_bytes()) {
        Ok(mut input) => {
            input.model = target.model_id.clone();
            input
        }
        Err(e) => return failed(FailureClass::BadOutput, None, format!("{e:?}")),
    };
    let ident = ResponseIdentity::new();
    let opened = tokio::time::timeout(
        settings.ttft_timeout,
        open_stream(target, &input, &ident, None),
    )
    .await;
    let mut bound = match opened {
        Ok(Ok(bound)) => bound,
        Ok(Err(e)) => return failed(e.class, e.upstream_status, e.detail.to_string()),
        Err(_) => {
            return failed(
                FailureClass::Timeout,
                None,
                "no first token within the probe deadline".to_owned(),
            );
        }
    };
    let ttft = started.elapsed();
    let rest = settings.total_timeout.saturating_sub(ttft);
    let drained = tokio::time::timeout(rest, async {
        loop {
            match bound.next().await {
                Next::Chunk(_) => {}
                Next::End => return Ok(()),
                Next::Failed(e) => return Err(e),
            }
        }
    })
    .await;
    match drained {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return failed(e.class, e.upstream_status, e.detail.to_string()),
        Err(_) => {
            return failed(
                FailureClass::Timeout,
                None,
                "the stream did not finish within the probe deadline".to_owned(),
            );
        }
    }
    let total = started.elapsed();
    let usage = bound.translator.usage();
    let generating = total.saturating_sub(ttft).as_secs_f64();
    ProbeRecord {
        at_ms,
        ok: true,
        http_status: None,
        error_class: None,
        detail: None,
        ttft_ms: Some(ttft.as_millis() as u64),
        total_ms: total.as_millis() as u64,
        output_tokens: usage.completion_tokens,
        tokens_per_s: (usage.completion_tokens > 1 && generating > 0.0)
            .then(|| usage.completion_tokens as f64 / generating),
    }
}

/// Tokens a probe spent, for the daily budget (the prompt is about a dozen tokens).
fn probe_tokens(record: &ProbeRecord) -> u64 {
    12 + record.output_tokens
}

/// The models-list check: `GET {base_url}/models` (Azure: the resource's
/// `/openai/models?api-version=…`) with the provider's credentials.
pub async fn check_provider(provider: &Provider, timeout: Duration) -> ProviderCheck {
    let at_ms = now_ms();
    let started = Instant::now();
    let uri = &provider.models_url;
    let mut req = http::Request::new(Full::new(Bytes::new()));
    let outcome = |ok: bool, status: Option<u16>, detail: Option<String>| ProviderCheck {
        at_ms,
        ok,
        http_status: status,
        detail,
        total_ms: started.elapsed().as_millis() as u64,
    };
    match uri.parse::<http::Uri>() {
        Ok(u) => *req.uri_mut() = u,
        Err(e) => return outcome(false, None, Some(format!("bad models URL {uri}: {e}"))),
    }
    for (name, value) in &provider.headers {
        req.headers_mut().insert(name.clone(), value.clone());
    }
    let exchange = async {
        let resp = provider.upstream.request(req).await?;
        let status = resp.status().as_u16();
        // Read (and bound) the body so the connection returns to the pool.
        let body = resp.into_body().collect().await.map(|b| b.to_bytes());
        Ok::<_, crate::upstream::client::SendError>((status, body.ok()))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok((status, body))) if (200..300).contains(&status) => {
            let listed = body
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some();
            if listed {
                outcome(true, Some(status), None)
            } else {
                outcome(
                    false,
                    Some(status),
                    Some("the models list is not JSON".into()),
                )
            }
        }
        Ok(Ok((status, _))) => {
            let detail = match status {
                401 | 403 => "the provider refuses our credentials (check api_key)".to_owned(),
                429 => "rate limited".to_owned(),
                _ => format!("HTTP {status}"),
            };
            outcome(false, Some(status), Some(detail))
        }
        Ok(Err(e)) => outcome(false, None, Some(e.to_string())),
        Err(_) => outcome(false, None, Some("no answer within the deadline".into())),
    }
}

/// Where the prober reads the running catalog, health and board from; `None` once the
/// gateway is gone (the prober then stops).
pub trait ProbeHost: Send + Sync + 'static {
    fn settings(&self) -> ProbeSettings;
    /// Every probe-able endpoint: (endpoint key, a target for it, provider slug).
    fn targets(&self) -> Vec<(Arc<str>, Target)>;
    fn providers(&self) -> Vec<Arc<Provider>>;
    /// Ok live requests and hard errors of the endpoint in the current minute.
    fn live(&self, key: &str) -> (u64, u64);
    fn published(&self, key: &str) -> Option<ComponentStatus>;
    fn on_probe(&self, key: &str, ok: bool);
    fn log(&self) -> &ProbeLog;
}

#[derive(Debug)]
struct Schedule {
    due: Instant,
    skips: u32,
    in_flight: bool,
    provider: String,
}

#[derive(Debug, Default)]
struct Budget {
    day: u64,
    spent: u64,
}

/// How often the scheduler looks for due probes.
const TICK: Duration = Duration::from_millis(250);

/// Runs probes until `host` is gone.
pub async fn run<H: ProbeHost>(host: std::sync::Weak<H>) {
    let mut schedules: FxHashMap<Arc<str>, Schedule> = FxHashMap::default();
    let mut provider_due: HashMap<String, Instant> = HashMap::new();
    let mut budgets: HashMap<String, Budget> = HashMap::new();
    let mut concurrency: Option<(usize, Arc<Semaphore>)> = None;
    let mut per_provider: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Arc<str>, ProbeRecord)>();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some((key, record)) = done_rx.recv() => {
                let Some(host) = host.upgrade() else { return };
                let settings = host.settings();
                finish(&*host, &settings, &mut schedules, &mut budgets, &key, record);
                continue;
            }
        }
        let Some(host) = host.upgrade() else { return };
        let settings = host.settings();
        if !settings.enabled {
            schedules.clear();
            continue;
        }
        let now = Instant::now();
        let global = match &concurrency {
            Some((n, sem)) if *n == settings.global_concurrency => sem.clone(),
            _ => {
                let sem = Arc::new(Semaphore::new(settings.global_concurrency.max(1)));
                concurrency = Some((settings.global_concurrency, sem.clone()));
                sem
            }
        };

        // Follow the catalog: new endpoints are staggered across one interval.
        let targets = host.targets();
        let live_keys: std::collections::HashSet<&Arc<str>> =
            targets.iter().map(|(k, _)| k).collect();
        schedules.retain(|k, _| live_keys.contains(k));
        for (key, target) in &targets {
            schedules.entry(key.clone()).or_insert_with(|| Schedule {
                due: now
                    + settings
                        .interval
                        .mul_f64(rand::rng().random_range(0.0..1.0)),
                skips: 0,
                in_flight: false,
                provider: target.endpoint.provider.slug.clone(),
            });
        }

        for (key, target) in targets {
            let Some(schedule) = schedules.get_mut(&key) else {
                continue;
            };
            if schedule.in_flight || schedule.due > now {
                continue;
            }
            let (ok_live, errors_live) = host.live(&key);
            if ok_live >= settings.min_ok_live_requests
                && errors_live == 0
                && schedule.skips < settings.max_consecutive_skips
            {
                schedule.skips += 1;
                schedule.due = now + jittered(settings.interval, settings.jitter);
                host.log().skipped(&key);
                continue;
            }
            let provider_sem = per_provider
                .entry(schedule.provider.clone())
                .or_insert_with(|| {
                    Arc::new(Semaphore::new(settings.per_provider_concurrency.max(1)))
                })
                .clone();
            let Some(permits) = acquire(&global, &provider_sem) else {
                // Full: try again on the next tick.
                continue;
            };
            schedule.skips = 0;
            schedule.in_flight = true;
            let tx = done_tx.clone();
            let probe_settings = settings.clone();
            tokio::spawn(async move {
                let record = probe_endpoint(&target, &probe_settings).await;
                drop(permits);
                let _ = tx.send((key, record));
            });
        }

        // The cheap provider-level check.
        for provider in host.providers() {
            let due = provider_due
                .entry(provider.slug.clone())
                .or_insert_with(|| {
                    now + settings
                        .provider_interval
                        .mul_f64(rand::rng().random_range(0.0..1.0))
                });
            if *due > now {
                continue;
            }
            *due = now + jittered(settings.provider_interval, settings.jitter);
            let weak = Arc::downgrade(&host);
            let timeout = settings.provider_timeout;
            tokio::spawn(async move {
                let check = check_provider(&provider, timeout).await;
                if !check.ok {
                    tracing::warn!(provider = %provider.slug, detail = ?check.detail,
                        "provider check failed");
                }
                metrics::counter!("turnout_provider_checks_total",
                    "provider" => provider.slug.clone(),
                    "outcome" => if check.ok { "ok" } else { "failed" })
                .increment(1);
                if let Some(host) = weak.upgrade() {
                    host.log().record_provider(&provider.slug, check);
                }
            });
        }
    }
}

fn acquire(
    global: &Arc<Semaphore>,
    provider: &Arc<Semaphore>,
) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
    let g = global.clone().try_acquire_owned().ok()?;
    let p = provider.clone().try_acquire_owned().ok()?;
    Some((g, p))
}

fn finish<H: ProbeHost>(
    host: &H,
    settings: &ProbeSettings,
    schedules: &mut FxHashMap<Arc<str>, Schedule>,
    budgets: &mut HashMap<String, Budget>,
    key: &Arc<str>,
    record: ProbeRecord,
) {
    let ok = record.ok;
    let rate_limited = record.http_status == Some(429);
    if !ok {
        tracing::info!(endpoint = %key, class = ?record.error_class, detail = ?record.detail,
            "probe failed");
    }
    metrics::counter!("turnout_probes_total",
        "endpoint" => key.to_string(),
        "outcome" => if ok { "ok" } else { "failed" })
    .increment(1);
    host.on_probe(key, ok);
    let tokens = probe_tokens(&record);
    host.log().record(key, record);
    let Some(schedule) = schedules.get_mut(key) else {
        return;
    };
    schedule.in_flight = false;
    let today = now_ms() / 86_400_000;
    let budget = budgets.entry(schedule.provider.clone()).or_default();
    if budget.day != today {
        *budget = Budget {
            day: today,
            spent: 0,
        };
    }
    budget.spent += tokens;
    let suspect = !ok
        || host
            .published(key)
            .is_some_and(|s| s != ComponentStatus::Operational);
    let mut interval = if suspect {
        settings.suspect_interval
    } else {
        settings.interval
    };
    if rate_limited {
        // The probe counts against the provider's limits too: back off.
        interval = settings.interval * 2;
    }
    if budget.spent >= settings.max_daily_tokens_per_provider {
        if budget.spent - tokens < settings.max_daily_tokens_per_provider {
            tracing::warn!(provider = %schedule.provider, spent = budget.spent,
                "probe token budget for today spent; probing every {:?}", settings.over_budget_interval);
        }
        interval = interval.max(settings.over_budget_interval);
    }
    schedule.due = Instant::now() + jittered(interval, settings.jitter);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_fraction() {
        let base = Duration::from_secs(30);
        for _ in 0..1_000 {
            let d = jittered(base, 0.1);
            assert!(
                d >= Duration::from_secs(27) && d <= Duration::from_secs(33),
                "{d:?}"
            );
        }
        assert_eq!(jittered(base, 0.0), base);
    }

    #[test]
    fn the_log_keeps_the_most_recent_probes_oldest_first() {
        let log = ProbeLog::default();
        let key: Arc<str> = Arc::from("p|m");
        for i in 0..(KEPT_PROBES as u64 + 5) {
            log.record(
                &key,
                ProbeRecord {
                    at_ms: i,
                    ok: i % 2 == 0,
                    http_status: None,
                    error_class: None,
                    detail: None,
                    ttft_ms: Some(i),
                    total_ms: i,
                    output_tokens: 1,
                    tokens_per_s: None,
                },
            );
        }
        let recent = log.recent("p|m");
        assert_eq!(recent.len(), KEPT_PROBES);
        assert_eq!(recent.first().map(|p| p.at_ms), Some(5));
        assert_eq!(recent.last().map(|p| p.at_ms), Some(KEPT_PROBES as u64 + 4));
        let summary = log.summary("p|m").unwrap_or_else(|| unreachable!());
        assert_eq!(summary.total, KEPT_PROBES as u64 + 5);
        assert_eq!(summary.ok, 13);
    }

    #[test]
    fn the_probe_body_parses_as_a_chat_request() {
        let input = crate::ingress::parse::parse_chat(PROBE_BODY.as_bytes());
        assert!(input.is_ok_and(|i| i.stream && i.max_tokens == Some(4)));
    }
}
