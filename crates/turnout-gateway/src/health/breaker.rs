//! A circuit breaker per endpoint: closed → open (on a failure ratio over a minimum number of
//! requests in a window, or on consecutive failures) → half-open after a cool-down that grows
//! with repeated trips, letting exactly one trial through → closed on its success.

use std::time::{Duration, Instant};

use turnout_config::BreakerConfig;

use super::window::Window;

const OK: usize = 0;
const FAILED: usize = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open { until: Instant },
    HalfOpen { trial_in_flight: bool },
}

impl BreakerState {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open { .. } => "open",
            Self::HalfOpen { .. } => "half_open",
        }
    }
}

#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: BreakerState,
    /// Outcomes in the window while closed.
    window: Window<2>,
    consecutive_failures: u64,
    /// Trips since the breaker last closed; each one doubles the cool-down.
    trips: u32,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Breaker {
        Breaker {
            config: config.clone(),
            state: BreakerState::Closed,
            window: Window::new(Duration::from_secs(config.window_s)),
            consecutive_failures: 0,
            trips: 0,
        }
    }

    /// The state, with an expired open period already turned half-open.
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.state {
            BreakerState::Open { until } if now >= until => BreakerState::HalfOpen {
                trial_in_flight: false,
            },
            s => s,
        }
    }

    /// When the endpoint becomes usable again, if it is not usable now.
    pub fn blocked_until(&self, now: Instant) -> Option<Instant> {
        match self.state(now) {
            BreakerState::Closed
            | BreakerState::HalfOpen {
                trial_in_flight: false,
            } => None,
            BreakerState::Open { until } => Some(until),
            // The trial decides; until then, look again shortly.
            BreakerState::HalfOpen {
                trial_in_flight: true,
            } => Some(now + Duration::from_secs(1)),
        }
    }

    /// Asks to send one request. In half-open only the first asker gets through.
    pub fn admit(&mut self, now: Instant) -> bool {
        self.state = self.state(now);
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open { .. } => false,
            BreakerState::HalfOpen { trial_in_flight } => {
                if trial_in_flight {
                    false
                } else {
                    self.state = BreakerState::HalfOpen {
                        trial_in_flight: true,
                    };
                    true
                }
            }
        }
    }

    /// The trial ended without saying anything about health (client error, rate limit).
    pub fn release_trial(&mut self) {
        if let BreakerState::HalfOpen { .. } = self.state {
            self.state = BreakerState::HalfOpen {
                trial_in_flight: false,
            };
        }
    }

    pub fn on_success(&mut self, now: Instant) {
        match self.state(now) {
            BreakerState::HalfOpen { .. } => self.close(),
            BreakerState::Open { .. } => {}
            BreakerState::Closed => {
                self.consecutive_failures = 0;
                self.window.add(now, OK);
            }
        }
    }

    pub fn on_failure(&mut self, now: Instant) {
        match self.state(now) {
            BreakerState::HalfOpen { .. } => self.trip(now),
            BreakerState::Open { .. } => {}
            BreakerState::Closed => {
                self.consecutive_failures += 1;
                self.window.add(now, FAILED);
                let [ok, failed] = self.window.totals(now);
                let total = ok + failed;
                let ratio_trips = total >= self.config.min_requests
                    && (failed as f64) >= self.config.failure_ratio * (total as f64);
                if ratio_trips || self.consecutive_failures >= self.config.consecutive {
                    self.trip(now);
                }
            }
        }
    }

    fn trip(&mut self, now: Instant) {
        let base = self.config.cooldown_s.max(1);
        let cooldown = base
            .saturating_mul(1u64 << self.trips.min(20))
            .min(self.config.max_cooldown_s.max(base));
        self.trips = self.trips.saturating_add(1);
        self.state = BreakerState::Open {
            until: now + Duration::from_secs(cooldown),
        };
        self.window.clear();
        self.consecutive_failures = 0;
    }

    fn close(&mut self) {
        self.state = BreakerState::Closed;
        self.trips = 0;
        self.window.clear();
        self.consecutive_failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        // The documented defaults: 50% over ≥ 10 in 30 s, or 5 in a row; 10 s doubling to 300 s.
        BreakerConfig::default()
    }

    #[test]
    fn opens_after_consecutive_failures_and_lets_one_trial_through_after_cooldown() {
        let t0 = Instant::now();
        let mut b = Breaker::new(config());
        for i in 0..4 {
            b.on_failure(t0 + Duration::from_millis(i));
            assert_eq!(b.state(t0), BreakerState::Closed);
        }
        b.on_failure(t0);
        assert!(matches!(b.state(t0), BreakerState::Open { .. }));
        assert!(!b.admit(t0 + Duration::from_secs(9)));
        let later = t0 + Duration::from_secs(10);
        assert!(b.admit(later), "one trial after the cool-down");
        assert!(!b.admit(later), "only one");
        b.on_success(later);
        assert_eq!(b.state(later), BreakerState::Closed);
        assert!(b.admit(later));
    }

    #[test]
    fn opens_on_failure_ratio_over_min_requests() {
        let t0 = Instant::now();
        let mut b = Breaker::new(config());
        // Alternating: never 5 in a row, but 50% over 10 requests.
        for i in 0..10 {
            if i % 2 == 0 {
                b.on_success(t0);
            } else {
                b.on_failure(t0);
            }
        }
        assert!(matches!(b.state(t0), BreakerState::Open { .. }));
    }

    #[test]
    fn old_outcomes_leave_the_window() {
        let t0 = Instant::now();
        let mut b = Breaker::new(config());
        for _ in 0..4 {
            b.on_failure(t0);
            b.on_success(t0);
        }
        // 40 s later the old failures no longer count.
        let later = t0 + Duration::from_secs(40);
        b.on_failure(later);
        b.on_success(later);
        assert_eq!(b.state(later), BreakerState::Closed);
    }

    #[test]
    fn cooldown_doubles_on_repeated_trips_up_to_the_cap() {
        let t0 = Instant::now();
        let mut b = Breaker::new(config());
        let mut now = t0;
        let mut cooldowns = Vec::new();
        for _ in 0..7 {
            while !matches!(b.state(now), BreakerState::Open { .. }) {
                assert!(b.admit(now));
                b.on_failure(now);
            }
            let BreakerState::Open { until } = b.state(now) else {
                unreachable!()
            };
            cooldowns.push((until - now).as_secs());
            now = until;
        }
        assert_eq!(cooldowns, vec![10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn a_trial_that_says_nothing_frees_the_slot() {
        let t0 = Instant::now();
        let mut b = Breaker::new(config());
        for _ in 0..5 {
            b.on_failure(t0);
        }
        let later = t0 + Duration::from_secs(10);
        assert!(b.admit(later));
        b.release_trial();
        assert!(b.admit(later));
    }
}
