//! SLO burn-rate alerts (spec/status.md §4.5, §5.7), without IO: multiwindow, multi-burn-rate
//! over the request-based availability of each model component (ok ÷ (ok + hard errors);
//! rate limits and client errors never count). A policy fires when both its long and short
//! windows burn the error budget at least `burn` times as fast as the target allows, and the
//! short window holds enough requests to mean something.
//!
//! Windows up to a day are read from the health minute log; longer ones (the 3-day ticket
//! window) from hourly sums this tracker keeps of the minutes it has seen.

use std::collections::{HashMap, VecDeque};

use turnout_config::{BurnSeverity, SloConfig};

use crate::health::minutes::{Counts, KEPT};
use crate::status::events::BurnInfo;

/// One policy of `[status.slo] policies`, in minutes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub severity: BurnSeverity,
    pub long_minutes: u64,
    pub short_minutes: u64,
    pub burn: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    pub target: f64,
    pub policies: Vec<Policy>,
    pub min_events_short: u64,
}

impl From<&SloConfig> for Slo {
    fn from(c: &SloConfig) -> Slo {
        let minutes = |d: std::time::Duration| (d.as_secs() / 60).max(1);
        Slo {
            target: c.availability_target,
            policies: c
                .policies
                .iter()
                .map(|p| Policy {
                    severity: p.severity,
                    long_minutes: minutes(p.long),
                    short_minutes: minutes(p.short),
                    burn: p.burn,
                })
                .collect(),
            min_events_short: c.min_events_short_window,
        }
    }
}

/// Observed error ratio ÷ the error budget (1 − target); 0 without counted requests.
pub fn burn_rate(c: Counts, target: f64) -> f64 {
    let counted = c.counted();
    let budget = 1.0 - target;
    if counted == 0 || budget <= 0.0 {
        return 0.0;
    }
    (c.errors as f64 / counted as f64) / budget
}

/// Outcome counts of `span` minutes up to `minute` for one endpoint key.
pub trait Source {
    fn counts(&self, key: &str, minute: u64, span: u64) -> Counts;
}

impl<F: Fn(&str, u64, u64) -> Counts> Source for F {
    fn counts(&self, key: &str, minute: u64, span: u64) -> Counts {
        self(key, minute, span)
    }
}

fn add(a: Counts, b: Counts) -> Counts {
    Counts {
        ok: a.ok + b.ok,
        errors: a.errors + b.errors,
        rate_limited: a.rate_limited + b.rate_limited,
    }
}

#[derive(Debug, Default)]
struct Series {
    /// (Unix hour, counts of its minutes seen so far), oldest first.
    hours: VecDeque<(u64, Counts)>,
    /// The last minute added to `hours`.
    ingested_to: Option<u64>,
}

/// Burn-rate state of every component.
#[derive(Debug, Default)]
pub struct Tracker {
    series: HashMap<String, Series>,
    /// Which (component id, severity) is firing.
    firing: HashMap<(String, BurnSeverity), bool>,
}

/// A component the tracker follows: its id and its endpoint's health key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followed {
    pub component: String,
    pub key: String,
}

impl Tracker {
    /// Adds the completed minutes since the last call (at most a day back) to hourly sums,
    /// keeping as many hours as the longest window needs.
    fn ingest(&mut self, source: &impl Source, key: &str, now_minute: u64, keep_hours: u64) {
        let s = self.series.entry(key.to_owned()).or_default();
        let first = s
            .ingested_to
            .map_or(now_minute.saturating_sub(KEPT as u64), |m| m + 1)
            .max(now_minute.saturating_sub(KEPT as u64));
        for minute in first..now_minute {
            let c = source.counts(key, minute, 1);
            if c == Counts::default() {
                continue;
            }
            let hour = minute / 60;
            match s.hours.back_mut() {
                Some((h, sum)) if *h == hour => *sum = add(*sum, c),
                _ => s.hours.push_back((hour, c)),
            }
        }
        if now_minute > 0 {
            s.ingested_to = Some(now_minute - 1);
        }
        let oldest = (now_minute / 60).saturating_sub(keep_hours);
        while s.hours.front().is_some_and(|(h, _)| *h < oldest) {
            s.hours.pop_front();
        }
    }

    /// Counts of the last `span` minutes (the current one included).
    fn window(&self, source: &impl Source, key: &str, now_minute: u64, span: u64) -> Counts {
        if span <= KEPT as u64 {
            return source.counts(key, now_minute, span);
        }
        // Hour granularity is plenty for a window of days.
        let first_hour = now_minute.saturating_sub(span - 1) / 60;
        let past = self.series.get(key).map_or(Counts::default(), |s| {
            s.hours
                .iter()
                .filter(|(h, _)| *h >= first_hour)
                .fold(Counts::default(), |acc, (_, c)| add(acc, *c))
        });
        add(past, source.counts(key, now_minute, 1))
    }

    /// One round at `now_minute`: the burn-rate alerts that start or stop, per component and
    /// severity.
    pub fn evaluate(
        &mut self,
        slo: &Slo,
        followed: &[Followed],
        source: &impl Source,
        now_minute: u64,
    ) -> Vec<(String, BurnInfo)> {
        let longest = slo
            .policies
            .iter()
            .map(|p| p.long_minutes)
            .max()
            .unwrap_or(0);
        let keep_hours = longest.div_ceil(60) + 1;
        let mut out = Vec::new();
        for f in followed {
            if longest > KEPT as u64 {
                self.ingest(source, &f.key, now_minute, keep_hours);
            }
            for severity in [BurnSeverity::Page, BurnSeverity::Ticket] {
                let mut verdicts: Vec<(bool, BurnInfo)> = slo
                    .policies
                    .iter()
                    .filter(|p| p.severity == severity)
                    .map(|p| {
                        let long = self.window(source, &f.key, now_minute, p.long_minutes);
                        let short = self.window(source, &f.key, now_minute, p.short_minutes);
                        let (long_rate, short_rate) =
                            (burn_rate(long, slo.target), burn_rate(short, slo.target));
                        let fires = short.counted() >= slo.min_events_short
                            && long_rate >= p.burn
                            && short_rate >= p.burn;
                        let info = BurnInfo {
                            severity,
                            firing: fires,
                            availability_target: slo.target,
                            long_window_s: p.long_minutes * 60,
                            short_window_s: p.short_minutes * 60,
                            threshold: p.burn,
                            long_burn_rate: long_rate,
                            short_burn_rate: short_rate,
                            short_window_requests: short.counted(),
                        };
                        (fires, info)
                    })
                    .collect();
                if verdicts.is_empty() {
                    continue;
                }
                // The fastest-burning policy that fires explains the alert.
                verdicts.sort_by(|a, b| {
                    (b.0, b.1.threshold)
                        .partial_cmp(&(a.0, a.1.threshold))
                        .unwrap_or(std::cmp::Ordering::Equal)
                });
                let (fires, info) = verdicts.swap_remove(0);
                let key = (f.component.clone(), severity);
                let was = self.firing.get(&key).copied().unwrap_or(false);
                if fires != was {
                    self.firing.insert(key, fires);
                    out.push((f.component.clone(), info));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 29_400_000; // a Unix minute

    /// Per-minute counts of one endpoint `k`, and a source reading them.
    struct Series(HashMap<u64, Counts>);

    impl Series {
        /// `errors` and `ok` per minute over the `minutes` before (and including) `NOW`.
        fn steady(minutes: u64, ok: u64, errors: u64) -> Series {
            Series(
                (NOW + 1 - minutes..=NOW)
                    .map(|m| {
                        (
                            m,
                            Counts {
                                ok,
                                errors,
                                rate_limited: 0,
                            },
                        )
                    })
                    .collect(),
            )
        }

        fn set(&mut self, from: u64, to: u64, ok: u64, errors: u64) {
            for m in from..=to {
                self.0.insert(
                    m,
                    Counts {
                        ok,
                        errors,
                        rate_limited: 0,
                    },
                );
            }
        }

        fn source(&self) -> impl Fn(&str, u64, u64) -> Counts + '_ {
            move |_key: &str, minute: u64, span: u64| {
                (minute + 1 - span..=minute)
                    .filter_map(|m| self.0.get(&m))
                    .fold(Counts::default(), |acc, c| add(acc, *c))
            }
        }
    }

    fn followed() -> Vec<Followed> {
        vec![Followed {
            component: "c".into(),
            key: "k".into(),
        }]
    }

    fn slo() -> Slo {
        Slo::from(&SloConfig::default())
    }

    fn fired(out: &[(String, BurnInfo)]) -> Vec<(BurnSeverity, bool, f64)> {
        out.iter()
            .map(|(_, b)| (b.severity, b.firing, b.threshold))
            .collect()
    }

    /// The page-severity changes only: a burn fast enough to page also burns above the
    /// ticket's 1×, and the ticket fires alongside (as multiwindow alerting has it).
    fn pages(out: &[(String, BurnInfo)]) -> Vec<(BurnSeverity, bool, f64)> {
        fired(out)
            .into_iter()
            .filter(|f| f.0 == BurnSeverity::Page)
            .collect()
    }

    #[test]
    fn burn_rate_is_error_ratio_over_budget() {
        let c = |ok, errors| Counts {
            ok,
            errors,
            rate_limited: 7,
        };
        assert!((burn_rate(c(928, 72), 0.995) - 14.4).abs() < 1e-9);
        assert_eq!(burn_rate(c(0, 0), 0.995), 0.0);
        assert!((burn_rate(c(0, 10), 0.995) - 200.0).abs() < 1e-9);
    }

    #[test]
    fn the_fast_page_fires_just_above_14_4_times_the_budget() {
        // 99.5 %: the fast page needs more than 7.2 % errors over both 1 h and 5 min. Five
        // clean hours before keep the 6-hour policy under its 6× (3 %).
        let mut below = Series::steady(360, 1000, 0);
        below.set(NOW - 59, NOW, 929, 71); // 7.1 %
        let mut t = Tracker::default();
        let out = t.evaluate(&slo(), &followed(), &below.source(), NOW);
        assert!(pages(&out).is_empty(), "{out:?}");
        let mut above = Series::steady(360, 1000, 0);
        above.set(NOW - 59, NOW, 927, 73); // 7.3 %
        let out = t.evaluate(&slo(), &followed(), &above.source(), NOW);
        assert_eq!(pages(&out), [(BurnSeverity::Page, true, 14.4)]);
        let b = &out[0].1;
        assert_eq!((b.long_window_s, b.short_window_s), (3600, 300));
        assert!((b.long_burn_rate - 14.6).abs() < 1e-9);
        // The same state again is no news.
        assert!(
            t.evaluate(&slo(), &followed(), &above.source(), NOW)
                .is_empty()
        );
    }

    #[test]
    fn the_short_window_must_agree() {
        // An hour at 20 % errors that stopped 10 minutes ago: the long window still burns,
        // the short one does not — the alert resets fast.
        let mut s = Series::steady(360, 100, 0);
        s.set(NOW - 59, NOW - 10, 80, 20);
        let mut t = Tracker::default();
        assert!(pages(&t.evaluate(&slo(), &followed(), &s.source(), NOW)).is_empty());
        // A 5-minute spike alone is not enough either.
        let mut s = Series::steady(360, 100, 0);
        s.set(NOW - 4, NOW, 50, 50);
        let mut t = Tracker::default();
        assert!(pages(&t.evaluate(&slo(), &followed(), &s.source(), NOW)).is_empty());
    }

    #[test]
    fn the_slow_page_fires_above_6_times_over_6_hours() {
        // 4 % errors for 6 hours: under 14.4 × (7.2 %), over 6 × (3 %).
        let s = Series::steady(360, 96, 4);
        let mut t = Tracker::default();
        let out = t.evaluate(&slo(), &followed(), &s.source(), NOW);
        assert_eq!(pages(&out), [(BurnSeverity::Page, true, 6.0)]);
    }

    #[test]
    fn the_ticket_fires_on_a_three_day_burn() {
        // Two days at 1 % errors, then a clean day except its last 6 hours at 0.6 % (with ten
        // times the traffic): over three days 0.67 % (1.33 × the budget), over 6 h 0.6 %
        // (1.2 ×) — a ticket, no page. The 3-day window comes from the hourly sums of the
        // minutes the tracker has seen: the minute log keeps one day.
        let mut s = Series::steady(3 * 1440, 99, 1);
        s.set(NOW - 1439, NOW - 360, 100, 0);
        s.set(NOW - 359, NOW, 994, 6);
        let source = s.source();
        let mut t = Tracker::default();
        let mut events = Vec::new();
        for day in (0..3).rev() {
            events.extend(t.evaluate(&slo(), &followed(), &source, NOW - day * 1440));
        }
        let tickets: Vec<bool> = events
            .iter()
            .filter(|(_, b)| b.severity == BurnSeverity::Ticket)
            .map(|(_, b)| b.firing)
            .collect();
        assert_eq!(tickets, [true], "fired and still firing: {events:?}");
        assert!(
            events
                .iter()
                .all(|(_, b)| b.severity == BurnSeverity::Ticket)
        );

        // A tracker that has seen only the last day lacks the two bad days: 0.46 % over
        // what it knows of the 3 days, under the budget.
        let mut fresh = Tracker::default();
        assert!(fresh.evaluate(&slo(), &followed(), &source, NOW).is_empty());
    }

    #[test]
    fn tiny_traffic_never_fires() {
        // Every request failed, but the short window holds 10 of the 20 required.
        let mut s = Series::steady(60, 0, 0);
        s.set(NOW - 9, NOW - 9, 0, 5);
        s.set(NOW, NOW, 0, 10);
        let mut t = Tracker::default();
        assert!(t.evaluate(&slo(), &followed(), &s.source(), NOW).is_empty());
        s.set(NOW - 1, NOW - 1, 0, 10);
        let out = t.evaluate(&slo(), &followed(), &s.source(), NOW);
        assert_eq!(
            fired(&out).first().map(|f| (f.0, f.1)),
            Some((BurnSeverity::Page, true))
        );
    }

    #[test]
    fn a_burn_that_stops_resolves() {
        let s = Series::steady(60, 50, 50);
        let mut t = Tracker::default();
        let out = t.evaluate(&slo(), &followed(), &s.source(), NOW);
        assert!(
            out.iter()
                .any(|(_, b)| b.severity == BurnSeverity::Page && b.firing)
        );
        let calm = Series::steady(60, 100, 0);
        let out = t.evaluate(&slo(), &followed(), &calm.source(), NOW + 1);
        assert!(
            out.iter()
                .any(|(_, b)| b.severity == BurnSeverity::Page && !b.firing),
            "{out:?}"
        );
    }
}
