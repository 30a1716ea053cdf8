//! Status history (spec/status.md §5.2, §5.8 "Uptime % definition"): the board's published
//! transitions, incidents and live-traffic counts are written to the database every
//! [`FLUSH_EVERY`], and read back into per-day uptime bars for the last [`DAYS`] days.
//!
//! A day is covered when the gateway ran with the component in its catalog that day (each
//! flush marks every leaf's day, even with no traffic); uncovered days are "no data" and left
//! out of uptime. Within a covered day, time counts in the status that was published.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use turnout_store::{DayCounts, StatusTransition, Store, StoredIncident};

use super::board::{Incident, StatusBoard};
use super::derive::ComponentStatus;
use crate::health::Health;

/// Days of history on the page.
pub const DAYS: usize = 90;
/// How often history is written and the bars rebuilt: at most this much is lost to a crash.
pub const FLUSH_EVERY: Duration = Duration::from_secs(30);
/// History older than this is pruned.
const KEEP_DAYS: i64 = 400;
/// Incidents restored for the page on start.
const RESTORED_INCIDENTS: i64 = 50;
/// Statuspage's weighting of partial-outage time in time-based uptime; degraded time does not
/// count against uptime (§5.8).
const PARTIAL_WEIGHT: f64 = 0.3;

const DAY_MS: i64 = 86_400_000;

/// One day of one component.
#[derive(Debug, Clone, PartialEq)]
pub struct DayBar {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    /// The worst published status that lasted at least a minute; `None` for no data.
    pub worst: Option<ComponentStatus>,
    /// Milliseconds spent in each status, in [`ComponentStatus`] order.
    pub ms_by_status: [i64; 5],
    /// Time-based uptime, %.
    pub uptime_pct: Option<f64>,
    /// ok / (ok + hard errors) of live traffic, %.
    pub request_uptime_pct: Option<f64>,
    pub counts: DayCounts,
    /// Incidents that touched this component on this day.
    pub incidents: Vec<String>,
}

/// One component's history.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ComponentHistory {
    /// Oldest first, ending today.
    pub days: Vec<DayBar>,
    /// Time-based uptime over the covered days, %.
    pub uptime_pct: Option<f64>,
    /// Published transitions of the window (and the one it entered it with), oldest first.
    pub transitions: Vec<(i64, ComponentStatus)>,
    /// Covered days.
    pub covered: Vec<i64>,
}

#[derive(Debug, Default)]
pub struct HistoryView {
    pub components: HashMap<String, ComponentHistory>,
    pub built_at_ms: i64,
}

fn status_index(s: ComponentStatus) -> usize {
    match s {
        ComponentStatus::Operational => 0,
        ComponentStatus::UnderMaintenance => 1,
        ComponentStatus::DegradedPerformance => 2,
        ComponentStatus::PartialOutage => 3,
        ComponentStatus::MajorOutage => 4,
    }
}

const STATUSES: [ComponentStatus; 5] = [
    ComponentStatus::Operational,
    ComponentStatus::UnderMaintenance,
    ComponentStatus::DegradedPerformance,
    ComponentStatus::PartialOutage,
    ComponentStatus::MajorOutage,
];

pub fn status_word(s: ComponentStatus) -> &'static str {
    match s {
        ComponentStatus::Operational => "operational",
        ComponentStatus::UnderMaintenance => "under_maintenance",
        ComponentStatus::DegradedPerformance => "degraded_performance",
        ComponentStatus::PartialOutage => "partial_outage",
        ComponentStatus::MajorOutage => "major_outage",
    }
}

fn parse_status(word: &str) -> Option<ComponentStatus> {
    STATUSES.into_iter().find(|s| status_word(*s) == word)
}

/// Time-based uptime of a split of time by status, %; `None` when nothing counts.
pub fn time_uptime(ms_by_status: &[i64; 5]) -> Option<f64> {
    let counted: i64 = ms_by_status.iter().sum::<i64>() - ms_by_status[1];
    if counted <= 0 {
        return None;
    }
    let lost = ms_by_status[4] as f64 + PARTIAL_WEIGHT * ms_by_status[3] as f64;
    Some(100.0 * (1.0 - lost / counted as f64))
}

/// Milliseconds in each status between `from` and `to`, walking `transitions` (oldest first);
/// before the first transition a component is operational.
fn split(transitions: &[(i64, ComponentStatus)], from: i64, to: i64) -> [i64; 5] {
    let mut out = [0i64; 5];
    if to <= from {
        return out;
    }
    let mut status = transitions
        .iter()
        .take_while(|(at, _)| *at <= from)
        .last()
        .map_or(ComponentStatus::Operational, |(_, s)| *s);
    let mut cursor = from;
    for (at, next) in transitions.iter().filter(|(at, _)| *at > from && *at < to) {
        out[status_index(status)] += at - cursor;
        cursor = *at;
        status = *next;
    }
    out[status_index(status)] += to - cursor;
    out
}

/// Builds one component's bars for the `DAYS` days ending on `now_ms`'s day.
pub fn component_history(
    transitions: &[(i64, ComponentStatus)],
    counts: &HashMap<i64, DayCounts>,
    incidents: &[(&str, i64, i64)],
    now_ms: i64,
) -> ComponentHistory {
    let today = now_ms.div_euclid(DAY_MS);
    let mut total = [0i64; 5];
    let mut days = Vec::with_capacity(DAYS);
    let mut covered = Vec::new();
    for day in (today - DAYS as i64 + 1)..=today {
        let counted = counts.get(&day).copied();
        let Some(c) = counted else {
            days.push(DayBar {
                day,
                worst: None,
                ms_by_status: [0; 5],
                uptime_pct: None,
                request_uptime_pct: None,
                counts: DayCounts::default(),
                incidents: Vec::new(),
            });
            continue;
        };
        covered.push(day);
        let start = day * DAY_MS;
        let end = (start + DAY_MS).min(now_ms);
        let ms = split(transitions, start, end);
        for (t, m) in total.iter_mut().zip(ms) {
            *t += m;
        }
        // A blip under a minute does not colour a day, but today's bar shows what is
        // happening now, however recently it started.
        let current = (end == now_ms).then(|| {
            transitions
                .iter()
                .take_while(|(at, _)| *at <= now_ms)
                .last()
                .map_or(ComponentStatus::Operational, |(_, s)| *s)
        });
        let worst = STATUSES
            .into_iter()
            .filter(|s| ms[status_index(*s)] >= 60_000)
            .chain(current)
            .max()
            .or(Some(ComponentStatus::Operational));
        let hard = c.ok + c.errors;
        days.push(DayBar {
            day,
            worst,
            ms_by_status: ms,
            uptime_pct: time_uptime(&ms),
            request_uptime_pct: (hard > 0).then(|| 100.0 * c.ok as f64 / hard as f64),
            counts: c,
            incidents: incidents
                .iter()
                .filter(|(_, from, to)| *from < start + DAY_MS && *to >= start)
                .map(|(id, _, _)| (*id).to_owned())
                .collect(),
        });
    }
    ComponentHistory {
        uptime_pct: time_uptime(&total),
        days,
        transitions: transitions.to_vec(),
        covered,
    }
}

impl ComponentHistory {
    /// Time-based uptime over the last `window` before `now_ms`, counting covered days only.
    pub fn uptime_over(&self, window: Duration, now_ms: i64) -> Option<f64> {
        let from = now_ms - window.as_millis() as i64;
        let mut total = [0i64; 5];
        for day in &self.covered {
            let start = (day * DAY_MS).max(from);
            let end = ((day + 1) * DAY_MS).min(now_ms);
            for (t, m) in total.iter_mut().zip(split(&self.transitions, start, end)) {
                *t += m;
            }
        }
        time_uptime(&total)
    }
}

/// Writes the board's history and keeps the bars view.
#[derive(Debug)]
pub struct History {
    store: Store,
    view: ArcSwap<HistoryView>,
}

fn now_ms() -> i64 {
    turnout_store::clock::now_ms()
}

impl History {
    pub fn new(store: Store) -> History {
        History {
            store,
            view: ArcSwap::from_pointee(HistoryView::default()),
        }
    }

    pub fn view(&self) -> Arc<HistoryView> {
        self.view.load_full()
    }

    /// Restores the last published statuses and past incidents (in that order: an incident
    /// restored is a sign the statuses are too) and builds the first view.
    pub async fn start(&self, board: &StatusBoard) {
        let since = now_ms() - DAYS as i64 * DAY_MS;
        match self.store.transitions_since(since).await {
            Ok(transitions) => {
                // Oldest first: the last one per component wins.
                let last: HashMap<String, ComponentStatus> = transitions
                    .into_iter()
                    .filter_map(|t| Some((t.component_id, parse_status(&t.new_status)?)))
                    .collect();
                board.restore_statuses(&last);
            }
            Err(e) => tracing::warn!(error = %e, "cannot read past statuses"),
        }
        match self.store.recent_incidents(RESTORED_INCIDENTS).await {
            Ok(stored) => {
                let mut past: Vec<Incident> = stored
                    .iter()
                    .filter_map(|s| serde_json::from_str(&s.doc).ok())
                    .collect();
                past.reverse();
                board.restore_incidents(past);
            }
            Err(e) => tracing::warn!(error = %e, "cannot read past incidents"),
        }
        self.flush(board, None).await;
    }

    /// Writes what changed since the last flush, then rebuilds the view. `health` is `None`
    /// when only incidents and transitions should be written.
    pub async fn flush(&self, board: &StatusBoard, health: Option<&Health>) {
        let now = now_ms();
        let today = now.div_euclid(DAY_MS);
        let (transitions, incidents) = board.take_unsaved();
        let rows: Vec<StatusTransition> = transitions
            .iter()
            .map(|(component, t)| StatusTransition {
                component_id: component.clone(),
                at_ms: i64::try_from(t.at_ms).unwrap_or(i64::MAX),
                old_status: status_word(t.from).to_owned(),
                new_status: status_word(t.to).to_owned(),
                reason: t.reason.clone(),
            })
            .collect();
        let docs: Vec<StoredIncident> = incidents
            .iter()
            .filter_map(|i| {
                Some(StoredIncident {
                    id: i.id.clone(),
                    created_at_ms: i64::try_from(i.created_at_ms).ok()?,
                    updated_at_ms: i64::try_from(i.updated_at_ms).ok()?,
                    resolved_at_ms: i.resolved_at_ms.and_then(|m| i64::try_from(m).ok()),
                    doc: serde_json::to_string(i).ok()?,
                })
            })
            .collect();
        let written = async {
            self.store.record_transitions(&rows).await?;
            self.store.save_incidents(&docs).await
        }
        .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "status history not written; retrying at the next flush");
            board.return_unsaved(transitions, &incidents);
        }
        // Every leaf's day is marked covered, with whatever live traffic it saw.
        let leaf_of: HashMap<Arc<str>, String> = board.leaves().into_iter().collect();
        let mut by_component: HashMap<String, DayCounts> = leaf_of
            .values()
            .map(|id| (id.clone(), DayCounts::default()))
            .collect();
        if let Some(health) = health {
            for (key, c) in health.take_unsaved() {
                if let Some(id) = leaf_of.get(&key)
                    && let Some(d) = by_component.get_mut(id)
                {
                    d.ok += c.ok as i64;
                    d.errors += c.errors as i64;
                    d.rate_limited += c.rate_limited as i64;
                }
            }
        }
        let days: Vec<(String, i64, DayCounts)> = by_component
            .into_iter()
            .map(|(id, c)| (id, today, c))
            .collect();
        if let Err(e) = self.store.add_day_counts(&days).await {
            tracing::warn!(error = %e, "status day counts not written");
        }
        self.rebuild(board, now).await;
    }

    async fn rebuild(&self, board: &StatusBoard, now: i64) {
        let since_day = now.div_euclid(DAY_MS) - DAYS as i64 + 1;
        let (transitions, counts) = match tokio::try_join!(
            self.store.transitions_since(since_day * DAY_MS),
            self.store.day_counts_since(since_day)
        ) {
            Ok(both) => both,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read status history");
                return;
            }
        };
        let mut by_component: HashMap<String, Vec<(i64, ComponentStatus)>> = HashMap::new();
        for t in &transitions {
            if let Some(s) = parse_status(&t.new_status) {
                by_component
                    .entry(t.component_id.clone())
                    .or_default()
                    .push((t.at_ms, s));
            }
        }
        let mut day_counts: HashMap<String, HashMap<i64, DayCounts>> = HashMap::new();
        for (id, day, c) in counts {
            day_counts.entry(id).or_default().insert(day, c);
        }
        let incidents = board.incidents();
        let mut components = HashMap::new();
        for (_, id) in board.leaves() {
            let touching: Vec<(&str, i64, i64)> = incidents
                .iter()
                .filter(|i| i.components.contains(&id))
                .map(|i| {
                    (
                        i.id.as_str(),
                        i64::try_from(i.created_at_ms).unwrap_or(0),
                        i.resolved_at_ms
                            .and_then(|m| i64::try_from(m).ok())
                            .unwrap_or(now),
                    )
                })
                .collect();
            let history = component_history(
                by_component.get(&id).map_or(&[][..], Vec::as_slice),
                day_counts.get(&id).unwrap_or(&HashMap::new()),
                &touching,
                now,
            );
            components.insert(id, history);
        }
        self.view.store(Arc::new(HistoryView {
            components,
            built_at_ms: now,
        }));
    }

    pub async fn prune(&self) {
        let cut = now_ms() - KEEP_DAYS * DAY_MS;
        if let Err(e) = self.store.prune_status_history(cut).await {
            tracing::warn!(error = %e, "status history not pruned");
        }
    }
}

/// Flushes every [`FLUSH_EVERY`] while the board lives; prunes once an hour.
pub async fn run(history: Arc<History>, board: std::sync::Weak<StatusBoard>, health: Arc<Health>) {
    if let Some(b) = board.upgrade() {
        history.start(&b).await;
    }
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut flushes = 0u64;
    loop {
        tick.tick().await;
        let Some(board) = board.upgrade() else { return };
        history.flush(&board, Some(&health)).await;
        flushes += 1;
        if flushes % 120 == 1 {
            history.prune().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = DAY_MS;
    const MIN: i64 = 60_000;

    fn counts(days: &[i64]) -> HashMap<i64, DayCounts> {
        days.iter()
            .map(|d| {
                (
                    *d,
                    DayCounts {
                        ok: 99,
                        errors: 1,
                        rate_limited: 0,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_day_is_split_by_the_published_transitions() {
        let day = 20_000;
        let start = day * DAY;
        let t = [
            (start + 60 * MIN, ComponentStatus::MajorOutage),
            (start + 90 * MIN, ComponentStatus::PartialOutage),
            (start + 150 * MIN, ComponentStatus::Operational),
        ];
        let h = component_history(
            &t,
            &counts(&[day]),
            &[("inc1", start + 61 * MIN, start + 150 * MIN)],
            start + DAY - 1,
        );
        let bar = h.days.last().unwrap();
        assert_eq!(bar.day, day);
        assert_eq!(bar.ms_by_status[4], 30 * MIN);
        assert_eq!(bar.ms_by_status[3], 60 * MIN);
        assert_eq!(bar.worst, Some(ComponentStatus::MajorOutage));
        // 1 − (30 + 0.3 × 60) / 1440 minutes.
        let expected = 100.0 * (1.0 - 48.0 * MIN as f64 / (DAY - 1) as f64);
        assert!((bar.uptime_pct.unwrap() - expected).abs() < 1e-9);
        assert_eq!(bar.request_uptime_pct, Some(99.0));
        assert_eq!(bar.incidents, ["inc1"]);
    }

    #[test]
    fn days_without_data_are_grey_and_left_out_of_uptime() {
        let today = 20_100;
        let now = today * DAY + 12 * 60 * MIN;
        // Down for the whole of yesterday; the day before that was never covered.
        let t = [
            ((today - 1) * DAY, ComponentStatus::MajorOutage),
            (today * DAY, ComponentStatus::Operational),
        ];
        let h = component_history(&t, &counts(&[today - 1, today]), &[], now);
        assert_eq!(h.days.len(), DAYS);
        let grey = &h.days[DAYS - 3];
        assert_eq!((grey.worst, grey.uptime_pct), (None, None));
        assert_eq!(h.days[DAYS - 2].uptime_pct, Some(0.0));
        assert_eq!(h.days[DAYS - 1].uptime_pct, Some(100.0));
        // 24 h down, 12 h up: a third of the covered time was up.
        assert!((h.uptime_pct.unwrap() - 100.0 / 3.0).abs() < 1e-9);
        // The last 12 hours alone were all up.
        assert_eq!(
            h.uptime_over(Duration::from_secs(12 * 3600), now),
            Some(100.0)
        );
    }

    #[test]
    fn a_blip_shorter_than_a_minute_does_not_colour_the_day_and_maintenance_does_not_count() {
        let day = 20_200;
        let start = day * DAY;
        let t = [
            (start + MIN, ComponentStatus::MajorOutage),
            (start + MIN + 30_000, ComponentStatus::UnderMaintenance),
            (start + 11 * 60 * MIN, ComponentStatus::Operational),
        ];
        let h = component_history(&t, &counts(&[day]), &[], start + DAY - 1);
        let bar = h.days.last().unwrap();
        assert_eq!(bar.worst, Some(ComponentStatus::UnderMaintenance));
        // 30 s of major outage among 14 h of counted (non-maintenance) time.
        let maintenance = 11 * 60 * MIN - (MIN + 30_000);
        let counted = (DAY - 1 - maintenance) as f64;
        let expected = 100.0 * (1.0 - 30_000.0 / counted);
        assert!((bar.uptime_pct.unwrap() - expected).abs() < 1e-9);
    }
}
