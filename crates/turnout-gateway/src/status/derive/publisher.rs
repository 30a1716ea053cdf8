//! The published status of one leaf: hysteresis, flap guard, maintenance and manual override
//! stacked over the raw state (§5.4). Fed one evaluation every 10 s.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{ComponentStatus, Evaluation, MINUTE_MS, Thresholds};

/// A change of the published status; the caller stores it (`status_transition`) and alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub from: ComponentStatus,
    pub to: ComponentStatus,
    pub at_ms: u64,
    pub reason: String,
}

/// Who decides the published status right now (`component.status_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusSource {
    Auto,
    Manual,
    Maintenance,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Override {
    status: ComponentStatus,
    until_ms: Option<u64>,
}

/// The worsening levels, least severe first, with their confirmation streaks kept in step.
const LEVELS: [ComponentStatus; 3] = [
    ComponentStatus::DegradedPerformance,
    ComponentStatus::PartialOutage,
    ComponentStatus::MajorOutage,
];

/// One per leaf component. Layers, from the bottom: hysteresis turns raw into the *auto*
/// status; the flap guard may hold the worst recent auto status; maintenance shows
/// `under_maintenance`; a manual override pins anything. Lower layers keep computing underneath.
#[derive(Debug, Clone)]
pub struct Publisher {
    t: Thresholds,
    auto: ComponentStatus,
    /// Consecutive evaluations with raw at or above each of [`LEVELS`]: worsening to a level
    /// needs the raw state to *hold* there, whether it sat exactly on it or above.
    streaks: [u32; 3],
    recovery_since_ms: Option<u64>,
    last_raw: Option<ComponentStatus>,
    last_raw_change_ms: u64,
    /// When the auto status changed, for the flap guard's count.
    auto_changes: VecDeque<u64>,
    /// `(since_ms, status)` segments of the auto status, for "worst of the last 30 min".
    history: VecDeque<(u64, ComponentStatus)>,
    flapping: bool,
    manual: Option<Override>,
    maintenance: bool,
    published: ComponentStatus,
}

impl Publisher {
    /// Starts from a known published status (the last one stored, or `operational`). A stored
    /// `under_maintenance` resumes as an active maintenance over an operational auto status.
    pub fn new(initial: ComponentStatus, t: &Thresholds) -> Self {
        let maintenance = initial == ComponentStatus::UnderMaintenance;
        let auto = if maintenance {
            ComponentStatus::Operational
        } else {
            initial
        };
        Publisher {
            t: t.clone(),
            auto,
            streaks: [0; 3],
            recovery_since_ms: None,
            last_raw: None,
            last_raw_change_ms: 0,
            auto_changes: VecDeque::new(),
            history: VecDeque::from([(0, auto)]),
            flapping: false,
            manual: None,
            maintenance,
            published: initial,
        }
    }

    /// Feeds one raw state judged on live traffic. Returns `Some` when the published status changes.
    pub fn observe(&mut self, raw: Option<ComponentStatus>, now_ms: u64) -> Option<Transition> {
        self.step(raw, true, "", now_ms)
    }

    /// Feeds one [`Evaluation`]: like [`Publisher::observe`], and a probe-only component also
    /// needs `success_threshold` consecutive ok probes before it may recover.
    pub fn observe_evaluation(&mut self, e: &Evaluation, now_ms: u64) -> Option<Transition> {
        let may_recover = !e.probe_only || e.ok_probe_streak >= self.t.success_threshold;
        self.step(e.status, may_recover, &e.detail, now_ms)
    }

    /// New thresholds from a reloaded config; the state built so far (streaks, recovery clock,
    /// flap history) is kept.
    pub fn set_thresholds(&mut self, t: &Thresholds) {
        self.t = t.clone();
    }

    /// What the page shows.
    pub fn published(&self) -> ComponentStatus {
        self.published
    }

    /// What auto logic computes under any override, maintenance or flap guard (admin API).
    pub fn auto_status(&self) -> ComponentStatus {
        self.auto
    }

    /// The last known raw state (`None` until one was observed).
    pub fn last_raw(&self) -> Option<ComponentStatus> {
        self.last_raw
    }

    pub fn flapping(&self) -> bool {
        self.flapping
    }

    pub fn in_maintenance(&self) -> bool {
        self.maintenance
    }

    /// The pinned status and its end (`None` = until cleared), when an override is active.
    pub fn manual_override(&self) -> Option<(ComponentStatus, Option<u64>)> {
        self.manual.map(|o| (o.status, o.until_ms))
    }

    pub fn source(&self) -> StatusSource {
        if self.manual.is_some() {
            StatusSource::Manual
        } else if self.maintenance {
            StatusSource::Maintenance
        } else {
            StatusSource::Auto
        }
    }

    /// Pins `status` until `until_ms` (exclusive) or until cleared. An end already past pins nothing.
    pub fn set_override(
        &mut self,
        status: ComponentStatus,
        until_ms: Option<u64>,
        now_ms: u64,
    ) -> Option<Transition> {
        self.manual = match until_ms {
            Some(until) if until <= now_ms => None,
            _ => Some(Override { status, until_ms }),
        };
        let reason = match until_ms {
            Some(until) => format!("manual override to {status} until {until}"),
            None => format!("manual override to {status} until cleared"),
        };
        self.publish(now_ms, reason)
    }

    pub fn clear_override(&mut self, now_ms: u64) -> Option<Transition> {
        self.expire_override(now_ms);
        let had = self.manual.take().is_some();
        let reason = if had {
            "manual override cleared"
        } else {
            "manual override expired"
        };
        self.publish(now_ms, reason.to_owned())
    }

    pub fn set_maintenance(&mut self, active: bool, now_ms: u64) -> Option<Transition> {
        let mut reason = self.expire_override(now_ms);
        self.maintenance = active;
        push_reason(
            &mut reason,
            if active {
                "maintenance started"
            } else {
                "maintenance ended"
            },
        );
        self.publish(now_ms, reason)
    }

    fn step(
        &mut self,
        raw: Option<ComponentStatus>,
        may_recover: bool,
        detail: &str,
        now_ms: u64,
    ) -> Option<Transition> {
        let mut reason = self.expire_override(now_ms);
        // Unknown is "last known": it neither confirms, resets nor advances anything.
        if let Some(raw) = raw {
            // Maintenance is a display state, never a health verdict.
            let raw = if raw == ComponentStatus::UnderMaintenance {
                ComponentStatus::Operational
            } else {
                raw
            };
            if self.last_raw != Some(raw) {
                self.last_raw = Some(raw);
                self.last_raw_change_ms = now_ms;
            }
            if let Some((to, why)) = self.hysteresis(raw, may_recover, now_ms) {
                self.auto = to;
                self.auto_changes.push_back(now_ms);
                self.history.push_back((now_ms, to));
                push_reason(&mut reason, &why);
                push_reason(&mut reason, detail);
            }
        }
        self.flap_guard(now_ms, &mut reason);
        self.publish(now_ms, reason)
    }

    /// The auto status after one more raw evaluation, with the reason, when it changes.
    fn hysteresis(
        &mut self,
        raw: ComponentStatus,
        may_recover: bool,
        now_ms: u64,
    ) -> Option<(ComponentStatus, String)> {
        for (streak, level) in self.streaks.iter_mut().zip(LEVELS) {
            *streak = if raw >= level {
                streak.saturating_add(1)
            } else {
                0
            };
        }
        let current = self.auto;
        if raw > current {
            self.recovery_since_ms = None;
            return self
                .streaks
                .iter()
                .zip(LEVELS)
                .rev()
                .find(|&(&streak, level)| level > current && streak >= self.worsen_evals(level))
                .map(|(&streak, level)| (level, format!("raw {level} held {streak} evaluations")));
        }
        if raw == current {
            self.recovery_since_ms = None;
            return None;
        }
        let since = *self.recovery_since_ms.get_or_insert(now_ms);
        let better_for = now_ms.saturating_sub(since);
        if better_for < self.t.recovery_period_ms || !may_recover {
            return None;
        }
        self.recovery_since_ms = None;
        Some((
            raw,
            format!("raw better than {current} for {} s", better_for / 1_000),
        ))
    }

    fn worsen_evals(&self, level: ComponentStatus) -> u32 {
        if level == ComponentStatus::DegradedPerformance {
            self.t.worsen_evals_degraded
        } else {
            self.t.worsen_evals_outage
        }
    }

    fn flap_guard(&mut self, now_ms: u64, reason: &mut String) {
        let window_start = now_ms.saturating_sub(self.t.flap_window_ms);
        while self
            .auto_changes
            .front()
            .is_some_and(|&at| at < window_start)
        {
            self.auto_changes.pop_front();
        }
        // A segment that ended before the window cannot be the worst "seen in the last 30 min".
        while self.history.len() > 1
            && self
                .history
                .get(1)
                .is_some_and(|&(at, _)| at <= window_start)
        {
            self.history.pop_front();
        }
        if self.flapping {
            if now_ms.saturating_sub(self.last_raw_change_ms) >= self.t.flap_quiet_ms {
                self.flapping = false;
                // Otherwise the transitions that started the flapping would restart it at once.
                self.auto_changes.clear();
                push_reason(
                    reason,
                    &format!(
                        "flapping ended: no raw change for {} min",
                        self.t.flap_quiet_ms / MINUTE_MS
                    ),
                );
            }
        } else if self.auto_changes.len() >= self.t.flap_transitions.max(1) {
            self.flapping = true;
            push_reason(
                reason,
                &format!(
                    "flapping: {} transitions in {} min, holding the worst status",
                    self.auto_changes.len(),
                    self.t.flap_window_ms / MINUTE_MS
                ),
            );
        }
    }

    /// Drops an override whose time is up; returns the reason to report.
    fn expire_override(&mut self, now_ms: u64) -> String {
        match self.manual {
            Some(Override {
                until_ms: Some(until),
                ..
            }) if until <= now_ms => {
                self.manual = None;
                "manual override expired".to_owned()
            }
            _ => String::new(),
        }
    }

    fn display(&self) -> ComponentStatus {
        if let Some(o) = self.manual {
            return o.status;
        }
        if self.maintenance {
            return if self.t.publish_major_during_maintenance
                && self.auto == ComponentStatus::MajorOutage
            {
                ComponentStatus::MajorOutage
            } else {
                ComponentStatus::UnderMaintenance
            };
        }
        if self.flapping {
            // `history` is pruned to the flap window on every evaluation.
            return self
                .history
                .iter()
                .map(|&(_, s)| s)
                .max()
                .unwrap_or(self.auto)
                .max(self.auto);
        }
        self.auto
    }

    fn publish(&mut self, now_ms: u64, reason: String) -> Option<Transition> {
        let to = self.display();
        if to == self.published {
            return None;
        }
        let from = std::mem::replace(&mut self.published, to);
        let reason = if reason.is_empty() {
            // Nothing happened this evaluation: the worst status aged out of the flap window.
            format!(
                "flapping: worst status of the last {} min is now {to}",
                self.t.flap_window_ms / MINUTE_MS
            )
        } else {
            reason
        };
        Some(Transition {
            from,
            to,
            at_ms: now_ms,
            reason,
        })
    }
}

fn push_reason(reason: &mut String, part: &str) {
    if part.is_empty() {
        return;
    }
    if !reason.is_empty() {
        reason.push_str("; ");
    }
    reason.push_str(part);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
