//! Step 1: per-key rate limits in process. At most N requests (or tokens) in any rolling 60 s
//! window, no burst beyond N (DESIGN.md §4): an exact sliding log, not a token bucket.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use turnout_store::RateLimit;

pub const WINDOW_MS: i64 = 60_000;

#[derive(Debug, Default)]
pub struct RateLimiter {
    keys: Mutex<HashMap<String, KeyLog>>,
}

#[derive(Debug, Default)]
struct KeyLog {
    /// Admission times, oldest first; never longer than the request limit.
    requests: VecDeque<i64>,
    /// (time, tokens) of settled requests in the window.
    tokens: VecDeque<(i64, u64)>,
    token_sum: u64,
}

impl KeyLog {
    fn expire(&mut self, now_ms: i64) {
        let horizon = now_ms - WINDOW_MS;
        while self.requests.front().is_some_and(|t| *t <= horizon) {
            self.requests.pop_front();
        }
        while let Some((t, n)) = self.tokens.front().copied() {
            if t > horizon {
                break;
            }
            self.tokens.pop_front();
            self.token_sum -= n;
        }
    }
}

/// A refused request: what the `X-RateLimit-*` headers and `Retry-After` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub limit: u64,
    /// Epoch milliseconds when the next slot frees.
    pub reset_ms: i64,
    pub retry_after_ms: i64,
    /// `requests` or `tokens`.
    pub unit: &'static str,
}

impl RateLimiter {
    /// Admits one request for `key` now, or says when it may come back.
    pub fn admit(&self, key: &str, limit: RateLimit, now_ms: i64) -> Result<(), Limited> {
        if limit.requests_per_minute.is_none() && limit.tokens_per_minute.is_none() {
            return Ok(());
        }
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let log = keys.entry(key.to_owned()).or_default();
        log.expire(now_ms);
        if let Some(tpm) = limit.tokens_per_minute
            && log.token_sum >= tpm
        {
            // The window frees enough tokens when the oldest entries expire.
            let mut sum = log.token_sum;
            let mut reset = now_ms + WINDOW_MS;
            for (t, n) in &log.tokens {
                sum -= n;
                if sum < tpm {
                    reset = t + WINDOW_MS;
                    break;
                }
            }
            return Err(Limited {
                limit: tpm,
                reset_ms: reset,
                retry_after_ms: reset - now_ms,
                unit: "tokens",
            });
        }
        if let Some(rpm) = limit.requests_per_minute {
            let rpm = rpm as usize;
            if log.requests.len() >= rpm {
                let oldest = log.requests[log.requests.len() - rpm];
                let reset = oldest + WINDOW_MS;
                return Err(Limited {
                    limit: rpm as u64,
                    reset_ms: reset,
                    retry_after_ms: reset - now_ms,
                    unit: "requests",
                });
            }
            log.requests.push_back(now_ms);
        }
        Ok(())
    }

    /// Counts a finished request's tokens against the key's tokens-per-minute.
    pub fn record_tokens(&self, key: &str, tokens: u64, now_ms: i64) {
        if tokens == 0 {
            return;
        }
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(log) = keys.get_mut(key) {
            log.expire(now_ms);
            log.tokens.push_back((now_ms, tokens));
            log.token_sum += tokens;
        }
    }

    /// Forgets keys idle for a whole window (bounded memory).
    pub fn sweep(&self, now_ms: i64) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.retain(|_, log| {
            log.expire(now_ms);
            !log.requests.is_empty() || !log.tokens.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpm(n: u32) -> RateLimit {
        RateLimit {
            requests_per_minute: Some(n),
            tokens_per_minute: None,
        }
    }

    #[test]
    fn at_most_n_in_any_rolling_minute() {
        let limiter = RateLimiter::default();
        let t0 = 1_000_000;
        for i in 0..3 {
            limiter
                .admit("k", rpm(3), t0 + i * 10_000)
                .expect("within limit");
        }
        let refused = limiter.admit("k", rpm(3), t0 + 30_000).expect_err("fourth");
        assert_eq!(refused.limit, 3);
        assert_eq!(refused.reset_ms, t0 + 60_000);
        assert_eq!(refused.retry_after_ms, 30_000);
        // The first slot frees exactly one window after it was taken; no burst beyond N.
        assert!(limiter.admit("k", rpm(3), t0 + 59_999).is_err());
        limiter.admit("k", rpm(3), t0 + 60_000).expect("slot freed");
        assert!(limiter.admit("k", rpm(3), t0 + 60_001).is_err());
        // Other keys are independent; unlimited keys are never refused.
        limiter.admit("other", rpm(3), t0).expect("own window");
        for _ in 0..100 {
            limiter
                .admit("free", RateLimit::default(), t0)
                .expect("unlimited");
        }
    }

    #[test]
    fn tokens_per_minute_counts_settled_tokens() {
        let limiter = RateLimiter::default();
        let limit = RateLimit {
            requests_per_minute: None,
            tokens_per_minute: Some(1_000),
        };
        let t0 = 5_000_000;
        limiter.admit("k", limit, t0).expect("empty window");
        limiter.record_tokens("k", 600, t0);
        limiter.admit("k", limit, t0 + 1).expect("600 < 1000");
        limiter.record_tokens("k", 600, t0 + 1_000);
        let refused = limiter
            .admit("k", limit, t0 + 2_000)
            .expect_err("1200 ≥ 1000");
        assert_eq!(refused.unit, "tokens");
        assert_eq!(refused.reset_ms, t0 + 60_000);
        limiter
            .admit("k", limit, t0 + 60_000)
            .expect("first 600 expired");
        limiter.sweep(t0 + 200_000);
        assert!(limiter.keys.lock().expect("lock").is_empty());
    }
}
