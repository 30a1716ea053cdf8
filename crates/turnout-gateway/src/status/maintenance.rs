//! Maintenance windows without IO (spec/status.md §5.6 "Maintenance lifecycle"): one-off or
//! weekly/daily recurring, over the components a selector picks. Given the clock, a window says
//! which occurrence is in progress, which comes next and which ended last, in Statuspage's
//! `scheduled` → `in_progress` → `completed` terms.

use serde::Serialize;
use turnout_config::Recurrence;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;
/// 1970-01-01 was a Thursday: weekday 3 counting from Monday.
const EPOCH_WEEKDAY: i64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    Once { start_ms: u64, end_ms: u64 },
    Recurring { every: Recurrence, duration_ms: u64 },
}

/// One occurrence of a window: `[start_ms, end_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Occurrence {
    pub start_ms: u64,
    pub end_ms: u64,
}

impl Occurrence {
    pub fn phase(self, now_ms: u64) -> MaintenanceStatus {
        if now_ms < self.start_ms {
            MaintenanceStatus::Scheduled
        } else if now_ms < self.end_ms {
            MaintenanceStatus::InProgress
        } else {
            MaintenanceStatus::Completed
        }
    }

    /// Whether `now_ms` is inside the occurrence widened by `before_ms` and `after_ms`.
    pub fn covers(self, now_ms: u64, before_ms: u64, after_ms: u64) -> bool {
        now_ms >= self.start_ms.saturating_sub(before_ms)
            && now_ms < self.end_ms.saturating_add(after_ms)
    }
}

/// Statuspage v2 `scheduled_maintenance.status` (`verifying` is never set automatically).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceStatus {
    Scheduled,
    InProgress,
    Verifying,
    Completed,
}

impl MaintenanceStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            MaintenanceStatus::Scheduled => "scheduled",
            MaintenanceStatus::InProgress => "in_progress",
            MaintenanceStatus::Verifying => "verifying",
            MaintenanceStatus::Completed => "completed",
        }
    }
}

impl Schedule {
    /// Recurring starts are `offset + k × period` since the Unix epoch.
    fn recurrence(every: Recurrence) -> (i64, i64) {
        let minute = i64::from(every.minute_of_day) * MINUTE_MS;
        match every.weekday {
            None => (minute, DAY_MS),
            Some(day) => {
                let days = (i64::from(day) - EPOCH_WEEKDAY).rem_euclid(7);
                (days * DAY_MS + minute, 7 * DAY_MS)
            }
        }
    }

    fn occurrence_at(start: i64, duration_ms: u64) -> Option<Occurrence> {
        let start_ms = u64::try_from(start).ok()?;
        Some(Occurrence {
            start_ms,
            end_ms: start_ms.saturating_add(duration_ms),
        })
    }

    /// The latest occurrence that started at or before `now_ms` (it may have ended).
    pub fn latest_started(&self, now_ms: u64) -> Option<Occurrence> {
        match *self {
            Schedule::Once { start_ms, end_ms } => {
                (start_ms <= now_ms).then_some(Occurrence { start_ms, end_ms })
            }
            Schedule::Recurring { every, duration_ms } => {
                let (offset, period) = Schedule::recurrence(every);
                let now = i64::try_from(now_ms).ok()?;
                let k = (now - offset).div_euclid(period);
                Schedule::occurrence_at(offset + k * period, duration_ms)
            }
        }
    }

    /// The first occurrence that starts after `now_ms`.
    pub fn next_start(&self, now_ms: u64) -> Option<Occurrence> {
        match *self {
            Schedule::Once { start_ms, end_ms } => {
                (start_ms > now_ms).then_some(Occurrence { start_ms, end_ms })
            }
            Schedule::Recurring { every, duration_ms } => {
                let (offset, period) = Schedule::recurrence(every);
                let now = i64::try_from(now_ms).ok()?;
                let k = (now - offset).div_euclid(period) + 1;
                Schedule::occurrence_at(offset + k * period, duration_ms)
            }
        }
    }

    /// The occurrence to show now: the one in progress, else the next one; `None` for a
    /// one-off window that is over.
    pub fn current(&self, now_ms: u64) -> Option<Occurrence> {
        match self.latest_started(now_ms) {
            Some(o) if now_ms < o.end_ms => Some(o),
            _ => self.next_start(now_ms),
        }
    }

    /// The last occurrence that has ended.
    pub fn last_completed(&self, now_ms: u64) -> Option<Occurrence> {
        let latest = self.latest_started(now_ms)?;
        if now_ms >= latest.end_ms {
            return Some(latest);
        }
        match *self {
            Schedule::Once { .. } => None,
            Schedule::Recurring { every, duration_ms } => {
                let (_, period) = Schedule::recurrence(every);
                let start = i64::try_from(latest.start_ms).ok()? - period;
                Schedule::occurrence_at(start, duration_ms)
            }
        }
    }

    /// Whether an occurrence, widened by the margins, covers `now_ms` (alert suppression).
    pub fn covers(&self, now_ms: u64, before_ms: u64, after_ms: u64) -> bool {
        // The occurrence that may cover `now` with margins is the latest one started by
        // `now + before`, or the one before it (still inside its `after` margin).
        let Some(o) = self.latest_started(now_ms.saturating_add(before_ms)) else {
            return false;
        };
        o.covers(now_ms, before_ms, after_ms)
            || self
                .last_completed(o.start_ms)
                .is_some_and(|prev| prev.covers(now_ms, before_ms, after_ms))
    }
}

/// Which components a window covers. Empty = the whole page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// Provider slugs: the provider's group and every model it serves.
    pub providers: Vec<String>,
    /// Model ids: the model on every provider.
    pub models: Vec<String>,
    /// Component ids (leaf or group) as on the page.
    pub components: Vec<String>,
}

impl Selector {
    pub fn is_everything(&self) -> bool {
        self.providers.is_empty() && self.models.is_empty() && self.components.is_empty()
    }

    /// Whether the selector picks a component. `endpoint` is a leaf's `provider|model` key;
    /// `provider` a group's slug; `group_id` a leaf's group.
    pub fn picks(
        &self,
        id: &str,
        group_id: Option<&str>,
        endpoint: Option<&str>,
        provider: Option<&str>,
    ) -> bool {
        if self.is_everything() {
            return true;
        }
        if self.components.iter().any(|c| c == id) {
            return true;
        }
        if group_id.is_some_and(|g| self.components.iter().any(|c| c == g)) {
            return true;
        }
        if provider.is_some_and(|p| self.providers.iter().any(|s| s == p)) {
            return true;
        }
        let Some((slug, model)) = endpoint.and_then(|e| e.split_once('|')) else {
            return false;
        };
        self.providers.iter().any(|s| s == slug) || self.models.iter().any(|m| m == model)
    }
}

/// Where a window came from: the config file's windows are replaced on reload, the admin
/// API's stay until deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Config,
    Api,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintenance {
    /// 12 base-36 characters.
    pub id: String,
    pub name: String,
    /// What readers see on the page.
    pub body: String,
    pub schedule: Schedule,
    pub selector: Selector,
    pub origin: Origin,
    pub created_at_ms: u64,
}

impl Maintenance {
    /// The Statuspage id of one occurrence: the window's own id for a one-off window.
    pub fn occurrence_id(&self, o: Occurrence) -> String {
        match self.schedule {
            Schedule::Once { .. } => self.id.clone(),
            Schedule::Recurring { .. } => {
                super::board::component_id(&format!("{}|{}", self.id, o.start_ms))
            }
        }
    }

    /// The occurrences the page lists at `now_ms`, newest first: the current or next one, and
    /// the last completed one.
    pub fn listed(&self, now_ms: u64) -> Vec<Occurrence> {
        let mut out: Vec<Occurrence> = self
            .schedule
            .current(now_ms)
            .into_iter()
            .chain(self.schedule.last_completed(now_ms))
            .collect();
        out.dedup();
        out
    }

    /// Whether an occurrence is in progress at `now_ms`.
    pub fn active(&self, now_ms: u64) -> Option<Occurrence> {
        self.schedule
            .current(now_ms)
            .filter(|o| o.phase(now_ms) == MaintenanceStatus::InProgress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use turnout_config::{parse_recurrence, parse_rfc3339_ms};

    fn at(text: &str) -> u64 {
        parse_rfc3339_ms(text)
            .and_then(|ms| u64::try_from(ms).ok())
            .unwrap_or_default()
    }

    fn weekly(every: &str, duration_min: u64) -> Schedule {
        Schedule::Recurring {
            every: parse_recurrence(every).unwrap_or(Recurrence {
                weekday: None,
                minute_of_day: 0,
            }),
            duration_ms: duration_min * 60_000,
        }
    }

    #[test]
    fn a_one_off_window_goes_scheduled_in_progress_completed() {
        let s = Schedule::Once {
            start_ms: at("2026-03-01T02:00:00Z"),
            end_ms: at("2026-03-01T03:00:00Z"),
        };
        let before = at("2026-03-01T01:59:59Z");
        let during = at("2026-03-01T02:30:00Z");
        let after = at("2026-03-01T03:00:00Z");
        let o = s.current(before).map(|o| o.phase(before));
        assert_eq!(o, Some(MaintenanceStatus::Scheduled));
        assert_eq!(
            s.current(during).map(|o| o.phase(during)),
            Some(MaintenanceStatus::InProgress)
        );
        assert_eq!(s.current(after), None, "the end is exclusive");
        assert_eq!(
            s.last_completed(after).map(|o| o.phase(after)),
            Some(MaintenanceStatus::Completed)
        );
        assert_eq!(s.last_completed(during), None);
    }

    #[test]
    fn a_weekly_window_recurs_on_its_day_in_utc() {
        // 2026-03-01 is a Sunday.
        let s = weekly("sun 02:00", 60);
        let saturday = at("2026-02-28T12:00:00Z");
        assert_eq!(
            s.current(saturday),
            Some(Occurrence {
                start_ms: at("2026-03-01T02:00:00Z"),
                end_ms: at("2026-03-01T03:00:00Z"),
            })
        );
        assert_eq!(
            s.last_completed(saturday).map(|o| o.start_ms),
            Some(at("2026-02-22T02:00:00Z"))
        );
        let during = at("2026-03-01T02:59:59Z");
        assert_eq!(
            s.current(during).map(|o| o.phase(during)),
            Some(MaintenanceStatus::InProgress)
        );
        assert_eq!(
            s.last_completed(during).map(|o| o.start_ms),
            Some(at("2026-02-22T02:00:00Z")),
            "the previous week's is the last completed"
        );
        let after = at("2026-03-01T03:00:00Z");
        assert_eq!(
            s.current(after).map(|o| o.start_ms),
            Some(at("2026-03-08T02:00:00Z"))
        );
        // Every weekday lands on its own day.
        for (day, date) in [
            ("mon", "2026-03-02"),
            ("tue", "2026-03-03"),
            ("wed", "2026-03-04"),
            ("thu", "2026-03-05"),
            ("fri", "2026-03-06"),
            ("sat", "2026-03-07"),
        ] {
            let s = weekly(&format!("{day} 00:30"), 10);
            assert_eq!(
                s.current(at("2026-03-01T12:00:00Z")).map(|o| o.start_ms),
                Some(at(&format!("{date}T00:30:00Z"))),
                "{day}"
            );
        }
    }

    #[test]
    fn a_daily_window_recurs_every_day() {
        let s = weekly("daily 23:30", 60);
        let during = at("2026-03-02T00:10:00Z");
        assert_eq!(
            s.current(during),
            Some(Occurrence {
                start_ms: at("2026-03-01T23:30:00Z"),
                end_ms: at("2026-03-02T00:30:00Z"),
            }),
            "an occurrence may cross midnight"
        );
    }

    #[test]
    fn suppression_margins_widen_an_occurrence() {
        let s = weekly("sun 02:00", 60);
        let (before, after) = (5 * 60_000, 10 * 60_000);
        assert!(!s.covers(at("2026-03-01T01:54:59Z"), before, after));
        assert!(s.covers(at("2026-03-01T01:55:00Z"), before, after));
        assert!(s.covers(at("2026-03-01T03:09:59Z"), before, after));
        assert!(!s.covers(at("2026-03-01T03:10:00Z"), before, after));
        assert!(!s.covers(at("2026-03-01T03:00:00Z"), 0, 0));
    }

    #[test]
    fn selectors_pick_providers_models_and_ids() {
        let by_provider = Selector {
            providers: vec!["openai".into()],
            ..Selector::default()
        };
        assert!(by_provider.picks("leaf", Some("g"), Some("openai|openai/gpt"), None));
        assert!(by_provider.picks("g", None, None, Some("openai")));
        assert!(!by_provider.picks("leaf", Some("g2"), Some("azure|openai/gpt"), None));
        let by_model = Selector {
            models: vec!["openai/gpt".into()],
            ..Selector::default()
        };
        assert!(by_model.picks("leaf", Some("g2"), Some("azure|openai/gpt"), None));
        assert!(!by_model.picks("g2", None, None, Some("azure")));
        let by_group_id = Selector {
            components: vec!["g".into()],
            ..Selector::default()
        };
        assert!(by_group_id.picks("leaf", Some("g"), Some("x|y"), None));
        assert!(!by_group_id.picks("other", Some("h"), Some("x|z"), None));
        assert!(Selector::default().picks("gateway", None, None, None));
    }
}
