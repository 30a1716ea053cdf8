//! Passive health from live traffic: what each endpoint did recently, its circuit breaker, its
//! 429 cool-down, and time-to-first-token / throughput samples. Routing reads it through
//! [`HealthView`]; the attempt loop writes to it after every attempt.

mod breaker;
mod budget;
pub mod minutes;
pub mod series;
mod window;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub use breaker::{Breaker, BreakerState};
pub use budget::RetryBudget;
use turnout_config::BreakerConfig;

use self::minutes::{Counts, Mark, MinuteLog};
use crate::routing::plan::HealthView;
use crate::upstream::attempt::FailureClass;
use rustc_hash::FxHashMap;

/// A hard error this recent sends the endpoint to the back of the default order.
pub const RECENT_FAILURE: Duration = Duration::from_secs(30);
/// Latency and throughput are measured over this window (OpenRouter: rolling 5 minutes).
const SAMPLE_WINDOW: Duration = Duration::from_secs(300);
/// Samples are kept this long for the endpoint listing's `*_last_30m` figures.
const SAMPLE_KEEP: Duration = Duration::from_secs(1_800);
const MAX_SAMPLES: usize = 512;

/// How one attempt ended, as health sees it.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    Success,
    Failure {
        class: FailureClass,
        retry_after: Option<Duration>,
    },
}

impl FailureClass {
    /// A failure that says the endpoint is unhealthy (not the client's fault, not a rate limit).
    pub fn is_hard(self) -> bool {
        matches!(
            self,
            Self::Connect
                | Self::Timeout
                | Self::ServerError
                | Self::Overloaded
                | Self::BadOutput
                | Self::Misconfigured
        )
    }
}

#[derive(Debug, Default)]
struct Samples {
    /// (when, value), oldest first.
    values: VecDeque<(Instant, f64)>,
}

impl Samples {
    fn push(&mut self, now: Instant, v: f64) {
        if self.values.len() == MAX_SAMPLES {
            self.values.pop_front();
        }
        self.values.push_back((now, v));
    }

    fn percentile(&self, now: Instant, pct: f64) -> Option<f64> {
        self.percentiles(now, SAMPLE_WINDOW, &[pct])
            .and_then(|p| p.first().copied())
    }

    /// Percentiles (nearest rank) of the samples of the last `window`: at most the latest
    /// [`MAX_SAMPLES`], so on a busy endpoint the most recent part of it.
    fn percentiles(&self, now: Instant, window: Duration, pcts: &[f64]) -> Option<Vec<f64>> {
        let mut live: Vec<f64> = self
            .values
            .iter()
            .filter(|(t, _)| now.saturating_duration_since(*t) <= window)
            .map(|(_, v)| *v)
            .collect();
        if live.is_empty() {
            return None;
        }
        live.sort_by(f64::total_cmp);
        Some(
            pcts.iter()
                .map(|pct| {
                    let rank = ((pct / 100.0) * (live.len() as f64 - 1.0)).round() as usize;
                    live[rank.min(live.len() - 1)]
                })
                .collect(),
        )
    }

    fn count_within(&self, now: Instant, window: Duration) -> u64 {
        self.values
            .iter()
            .filter(|(t, _)| now.saturating_duration_since(*t) <= window)
            .count() as u64
    }
}

#[derive(Debug)]
struct EndpointHealth {
    last_hard_error: Option<Instant>,
    cool_until: Option<Instant>,
    breaker: Breaker,
    budget: RetryBudget,
    ttft: Samples,
    throughput: Samples,
    minutes: MinuteLog,
    /// Outcomes counted since the history writer last took them.
    unsaved: Counts,
    series: series::Series,
}

/// Percentiles as the endpoint listing shows them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p99: f64,
}

impl Percentiles {
    fn from(v: Option<Vec<f64>>) -> Option<Percentiles> {
        match v.as_deref() {
            Some(&[p50, p75, p90, p99]) => Some(Percentiles { p50, p75, p90, p99 }),
            _ => None,
        }
    }
}

/// What one endpoint's live traffic says right now: OpenRouter's listing figures and the
/// windows status derivation reads (spec/status.md §5.4).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointStats {
    pub uptime_5m: Option<f64>,
    pub uptime_30m: Option<f64>,
    pub uptime_1d: Option<f64>,
    /// Time to first token, ms, last 30 minutes.
    pub latency_30m: Option<Percentiles>,
    /// Tokens per second, last 30 minutes.
    pub throughput_30m: Option<Percentiles>,
    pub w2: Counts,
    pub w5: Counts,
    pub w10_ttft_p95_ms: Option<f64>,
    pub w10_ttft_samples: u64,
    pub w10_tps_p50: Option<f64>,
    pub w10_tps_samples: u64,
}

/// The passive windows status derivation reads (spec/status.md §5.4, `[status.health]
/// windows`): the "W2" and "W5" outcome windows in minutes, and the "W10" latency window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub fast_minutes: u64,
    pub main_minutes: u64,
    pub latency: Duration,
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            fast_minutes: 2,
            main_minutes: 5,
            latency: Duration::from_secs(600),
        }
    }
}

#[derive(Debug)]
pub struct Health {
    config: RwLock<BreakerConfig>,
    endpoints: RwLock<FxHashMap<Arc<str>, Arc<Mutex<EndpointHealth>>>>,
}

impl Health {
    pub fn new(config: BreakerConfig) -> Health {
        Health {
            config: RwLock::new(config),
            endpoints: RwLock::new(FxHashMap::default()),
        }
    }

    /// New breaker settings apply to breakers created from now on and to trips from now on.
    pub fn set_config(&self, config: BreakerConfig) {
        if let Ok(mut c) = self.config.write() {
            *c = config;
        }
    }

    fn entry(&self, key: &str) -> Arc<Mutex<EndpointHealth>> {
        if let Ok(map) = self.endpoints.read()
            && let Some(e) = map.get(key)
        {
            return e.clone();
        }
        let config = self.config.read().map(|c| c.clone()).unwrap_or_default();
        let mut map = match self.endpoints.write() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(Arc::from(key))
            .or_insert_with(|| {
                Arc::new(Mutex::new(EndpointHealth {
                    last_hard_error: None,
                    cool_until: None,
                    breaker: Breaker::new(config),
                    budget: RetryBudget::default(),
                    ttft: Samples::default(),
                    throughput: Samples::default(),
                    minutes: MinuteLog::default(),
                    unsaved: Counts::default(),
                    series: series::Series::default(),
                }))
            })
            .clone()
    }

    fn with<R>(&self, key: &str, f: impl FnOnce(&mut EndpointHealth) -> R) -> R {
        let entry = self.entry(key);
        let mut guard = match entry.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    fn peek<R>(&self, key: &str, f: impl FnOnce(&EndpointHealth) -> R) -> Option<R> {
        let map = self.endpoints.read().ok()?;
        let entry = map.get(key)?.clone();
        drop(map);
        let guard = match entry.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        Some(f(&guard))
    }

    /// Called just before a first attempt on an endpoint: false when it must not be tried now
    /// (cooling down after a 429, breaker open, or half-open with its trial in flight).
    pub fn admit(&self, key: &str, now: Instant) -> bool {
        self.with(key, |h| {
            if h.cool_until.is_some_and(|t| now < t) || !h.breaker.admit(now) {
                return false;
            }
            h.budget.on_primary(now);
            true
        })
    }

    /// Called before retrying the same endpoint: admitted as [`Health::admit`] and paid for
    /// from its retry budget (`ratio` of recent primary requests plus a small floor).
    pub fn admit_retry(&self, key: &str, now: Instant, ratio: f64) -> bool {
        self.with(key, |h| {
            if h.cool_until.is_some_and(|t| now < t) {
                return false;
            }
            // Check the breaker without taking a half-open trial, then pay, then take it.
            if h.breaker.blocked_until(now).is_some() || !h.budget.try_withdraw(now, ratio) {
                return false;
            }
            h.breaker.admit(now)
        })
    }

    /// An admitted attempt ended without an outcome (its request was dropped): free a
    /// half-open trial slot so the endpoint is not stuck waiting for it.
    pub fn abandon(&self, key: &str) {
        self.with(key, |h| h.breaker.release_trial());
    }

    pub fn record(&self, key: &str, outcome: Outcome, now: Instant) {
        let unix = unix_now();
        let minute = unix / 60;
        self.with(key, |h| match outcome {
            Outcome::Success => {
                h.series.outcome(unix, true);
                h.minutes.add(minute, Mark::Ok);
                h.unsaved.ok += 1;
                h.breaker.on_success(now);
            }
            Outcome::Failure { class, retry_after } => {
                if class.is_hard() {
                    h.series.outcome(unix, false);
                    h.minutes.add(minute, Mark::Error);
                    h.unsaved.errors += 1;
                    h.last_hard_error = Some(now);
                    h.breaker.on_failure(now);
                } else if class == FailureClass::RateLimited {
                    h.minutes.add(minute, Mark::RateLimited);
                    h.unsaved.rate_limited += 1;
                    // A 429 is not an outage: cool down for as long as the upstream asked.
                    let wait = retry_after.unwrap_or(Duration::from_secs(1));
                    h.cool_until = Some(now + wait);
                    h.breaker.release_trial();
                } else {
                    // The client's fault says nothing about the endpoint.
                    h.breaker.release_trial();
                }
            }
        });
    }

    /// A probe's verdict: a failed one marks the endpoint as recently failed (so routing tries
    /// it last), without touching the breaker or the live-traffic minutes, which describe
    /// what users saw.
    pub fn note_probe(&self, key: &str, ok: bool, now: Instant) {
        if !ok {
            self.with(key, |h| h.last_hard_error = Some(now));
        }
    }

    /// Every endpoint's outcomes since the last call (for the status history), reset to zero.
    pub fn take_unsaved(&self) -> Vec<(Arc<str>, Counts)> {
        let Ok(map) = self.endpoints.read() else {
            return Vec::new();
        };
        map.iter()
            .filter_map(|(k, e)| {
                let mut guard = match e.lock() {
                    Ok(g) => g,
                    Err(poisoned) => poisoned.into_inner(),
                };
                let taken = std::mem::take(&mut guard.unsaved);
                (taken != Counts::default()).then(|| (k.clone(), taken))
            })
            .collect()
    }

    /// Ok attempts and hard errors of the endpoint in the current minute.
    pub fn this_minute(&self, key: &str) -> Counts {
        self.minute_counts(key, minutes::now_minute(), 1)
            .unwrap_or_default()
    }

    pub fn record_timing(
        &self,
        key: &str,
        ttft: Duration,
        tokens_per_s: Option<f64>,
        now: Instant,
    ) {
        let unix = unix_now();
        self.with(key, |h| {
            h.ttft.push(now, ttft.as_secs_f64());
            let tps = tokens_per_s.filter(|v| v.is_finite() && *v > 0.0);
            if let Some(tps) = tps {
                h.throughput.push(now, tps);
            }
            h.series.timing(unix, ttft.as_secs_f64() * 1_000.0, tps);
        });
    }

    /// The endpoint's live-traffic figures; `None` before its first attempt.
    pub fn stats(&self, key: &str, now: Instant) -> Option<EndpointStats> {
        self.stats_in(key, now, Windows::default())
    }

    /// [`Health::stats`] with the status windows of `windows` (`w2`, `w5` and `w10_*` are
    /// then the fast, main and latency windows).
    pub fn stats_in(&self, key: &str, now: Instant, windows: Windows) -> Option<EndpointStats> {
        let minute = minutes::now_minute();
        let ten = windows.latency;
        self.peek(key, |h| EndpointStats {
            uptime_5m: h.minutes.uptime(minute, 5),
            uptime_30m: h.minutes.uptime(minute, 30),
            uptime_1d: h.minutes.uptime(minute, minutes::KEPT as u64),
            latency_30m: Percentiles::from(
                h.ttft
                    .percentiles(now, SAMPLE_KEEP, &[50.0, 75.0, 90.0, 99.0])
                    .map(|v| v.into_iter().map(|s| s * 1_000.0).collect()),
            ),
            throughput_30m: Percentiles::from(h.throughput.percentiles(
                now,
                SAMPLE_KEEP,
                &[50.0, 75.0, 90.0, 99.0],
            )),
            w2: h.minutes.window(minute, windows.fast_minutes),
            w5: h.minutes.window(minute, windows.main_minutes),
            w10_ttft_p95_ms: h
                .ttft
                .percentiles(now, ten, &[95.0])
                .and_then(|v| v.first().map(|s| s * 1_000.0)),
            w10_ttft_samples: h.ttft.count_within(now, ten),
            w10_tps_p50: h
                .throughput
                .percentiles(now, ten, &[50.0])
                .and_then(|v| v.first().copied()),
            w10_tps_samples: h.throughput.count_within(now, ten),
        })
    }

    /// The endpoint's chart points (empty before its first attempt).
    pub fn series(&self, key: &str, range: series::Range) -> Vec<series::Point> {
        let now = unix_now();
        self.peek(key, |h| h.series.points(range, now))
            .unwrap_or_default()
    }

    /// Outcome counts of the `span` minutes up to `minute` (a Unix minute of the last day);
    /// `None` before the endpoint's first attempt.
    pub fn minute_counts(&self, key: &str, minute: u64, span: u64) -> Option<Counts> {
        self.peek(key, |h| h.minutes.window(minute, span))
    }

    /// Every endpoint seen so far with its breaker state, for metrics and the admin API.
    pub fn snapshot(&self, now: Instant) -> Vec<(Arc<str>, BreakerState, Option<Duration>)> {
        let Ok(map) = self.endpoints.read() else {
            return Vec::new();
        };
        let mut out: Vec<_> = map
            .iter()
            .map(|(k, e)| {
                let guard = match e.lock() {
                    Ok(g) => g,
                    Err(poisoned) => poisoned.into_inner(),
                };
                let cooling = guard.cool_until.and_then(|t| t.checked_duration_since(now));
                (k.clone(), guard.breaker.state(now), cooling)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl HealthView for Health {
    fn recently_failed(&self, key: &str, now: Instant) -> bool {
        self.peek(key, |h| {
            h.last_hard_error
                .is_some_and(|t| now.saturating_duration_since(t) < RECENT_FAILURE)
        })
        .unwrap_or(false)
    }

    fn unavailable_until(&self, key: &str, now: Instant) -> Option<Instant> {
        self.peek(key, |h| {
            let cooling = h.cool_until.filter(|t| now < *t);
            let open = h.breaker.blocked_until(now);
            match (cooling, open) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            }
        })
        .flatten()
    }

    fn latency(&self, key: &str, percentile: f64) -> Option<f64> {
        self.peek(key, |h| h.ttft.percentile(Instant::now(), percentile))
            .flatten()
    }

    fn throughput(&self, key: &str, percentile: f64) -> Option<f64> {
        self.peek(key, |h| h.throughput.percentile(Instant::now(), percentile))
            .flatten()
    }
}
