//! Retry budgets: retrying the same endpoint is allowed only while retries stay within a share
//! of its recent primary traffic (plus a small floor), so an outage never multiplies load.

use std::time::{Duration, Instant};

use super::window::Window;

/// Budgets look at the last 10 s of traffic.
pub const BUDGET_WINDOW: Duration = Duration::from_secs(10);
/// Retries always allowed per window, so a quiet endpoint can still be retried.
pub const BUDGET_FLOOR: usize = 3;

const PRIMARY: usize = 0;
const RETRY: usize = 1;

#[derive(Debug)]
pub struct RetryBudget {
    window: Window<2>,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            window: Window::new(BUDGET_WINDOW),
        }
    }
}

impl RetryBudget {
    pub fn on_primary(&mut self, now: Instant) {
        self.window.add(now, PRIMARY);
    }

    /// Takes one retry from the budget, if it has one.
    pub fn try_withdraw(&mut self, now: Instant, ratio: f64) -> bool {
        let [primaries, retries] = self.window.totals(now);
        let allowed = BUDGET_FLOOR as f64 + ratio * primaries as f64;
        if (retries as f64) < allowed.floor() {
            self.window.add(now, RETRY);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stay_within_the_ratio_plus_the_floor() {
        let t0 = Instant::now();
        let mut b = RetryBudget::default();
        for _ in 0..100 {
            b.on_primary(t0);
        }
        let granted = (0..100).filter(|_| b.try_withdraw(t0, 0.2)).count();
        assert_eq!(granted, BUDGET_FLOOR + 20);
    }

    #[test]
    fn a_quiet_endpoint_gets_the_floor_and_the_window_refills() {
        let t0 = Instant::now();
        let mut b = RetryBudget::default();
        let granted = (0..10).filter(|_| b.try_withdraw(t0, 0.2)).count();
        assert_eq!(granted, BUDGET_FLOOR);
        let later = t0 + BUDGET_WINDOW + Duration::from_secs(1);
        assert!(b.try_withdraw(later, 0.2));
    }
}
