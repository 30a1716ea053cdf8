//! Maintenance on the board: which components an active window covers (they publish
//! `under_maintenance`), when an occurrence starts or completes (events), the windows the
//! admin API adds and removes, and the Statuspage `scheduled_maintenance` views of the page.

use std::collections::{HashMap, HashSet};

use super::events::{maintenance_event, target};
use super::{BoardState, Component, StatusBoard, now_ms};
use crate::status::derive::ComponentStatus;
use crate::status::events::{EventKind, MaintenanceInfo};
use crate::status::maintenance::{Maintenance, MaintenanceStatus, Occurrence, Origin};

/// One occurrence of a window as the page lists it (`scheduled_maintenance`).
#[derive(Debug, Clone)]
pub struct MaintenanceView {
    /// The occurrence's id.
    pub id: String,
    /// The window's id (what the admin API deletes).
    pub window_id: String,
    pub name: String,
    pub body: String,
    pub status: MaintenanceStatus,
    pub scheduled_for_ms: u64,
    pub scheduled_until_ms: u64,
    pub created_at_ms: u64,
    /// Component ids covered.
    pub components: Vec<String>,
    pub origin: Origin,
}

/// Why the admin API cannot remove a window.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MaintenanceError {
    #[error("no maintenance window `{0}`")]
    NotFound(String),
    #[error("maintenance window `{0}` is defined in the config file; remove it there")]
    FromConfig(String),
    #[error("{0}")]
    Invalid(String),
}

fn provider_of_group(group: &Component, components: &[Component]) -> Option<String> {
    target(group, components).provider
}

/// The components a window covers, groups included.
fn covered_by(m: &Maintenance, components: &[Component]) -> Vec<String> {
    components
        .iter()
        .filter(|c| {
            let provider = if c.is_group() {
                provider_of_group(c, components)
            } else {
                None
            };
            m.selector.picks(
                &c.id,
                c.group_id.as_deref(),
                c.endpoint.as_deref(),
                provider.as_deref(),
            )
        })
        .map(|c| c.id.clone())
        .collect()
}

/// The Gateway API's status: maintenance, or back from it.
pub(super) fn gateway_status(current: ComponentStatus, covered: bool) -> ComponentStatus {
    match (covered, current) {
        (true, _) => ComponentStatus::UnderMaintenance,
        (false, ComponentStatus::UnderMaintenance) => ComponentStatus::Operational,
        (false, other) => other,
    }
}

fn info(m: &Maintenance, o: Occurrence, status: MaintenanceStatus) -> MaintenanceInfo {
    MaintenanceInfo {
        id: m.occurrence_id(o),
        name: m.name.clone(),
        status,
        body: m.body.clone(),
        scheduled_for_ms: o.start_ms,
        scheduled_until_ms: o.end_ms,
    }
}

/// The occurrences listed now, with their ids and phases.
fn listed(
    maintenance: &[Maintenance],
    now: u64,
) -> Vec<(usize, Occurrence, String, MaintenanceStatus)> {
    maintenance
        .iter()
        .enumerate()
        .flat_map(|(i, m)| {
            m.listed(now)
                .into_iter()
                .map(move |o| (i, o, m.occurrence_id(o), o.phase(now)))
        })
        .collect()
}

/// The page's maintenance list, newest first (at most 50, as Statuspage).
pub(super) fn views(state: &BoardState, now: u64) -> Vec<MaintenanceView> {
    let mut out: Vec<MaintenanceView> = listed(&state.maintenance, now)
        .into_iter()
        .map(|(i, o, id, status)| {
            let m = &state.maintenance[i];
            MaintenanceView {
                id,
                window_id: m.id.clone(),
                name: m.name.clone(),
                body: m.body.clone(),
                status,
                scheduled_for_ms: o.start_ms,
                scheduled_until_ms: o.end_ms,
                created_at_ms: if m.created_at_ms == 0 {
                    o.start_ms
                } else {
                    m.created_at_ms.min(o.start_ms)
                },
                components: covered_by(m, &state.components),
                origin: m.origin,
            }
        })
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.scheduled_for_ms));
    out.truncate(50);
    out
}

impl StatusBoard {
    /// One evaluation's maintenance: the components covered right now, and whether an
    /// occurrence started or completed (its event is queued).
    pub(super) fn maintenance_round(
        &self,
        state: &mut BoardState,
        now: u64,
    ) -> (HashSet<String>, bool) {
        let mut covered = HashSet::new();
        for m in &state.maintenance {
            if m.active(now).is_some() {
                covered.extend(covered_by(m, &state.components));
            }
        }
        let mut events = Vec::new();
        let mut phases = HashMap::new();
        for (i, o, id, phase) in listed(&state.maintenance, now) {
            let m = &state.maintenance[i];
            let before = state.maintenance_phases.get(&id).copied();
            let kind = match (before, phase) {
                (Some(MaintenanceStatus::Scheduled), MaintenanceStatus::InProgress) => {
                    Some(EventKind::MaintenanceStarted)
                }
                (Some(b), MaintenanceStatus::Completed) if b != MaintenanceStatus::Completed => {
                    Some(EventKind::MaintenanceCompleted)
                }
                _ => None,
            };
            if let Some(kind) = kind {
                tracing::info!(maintenance = %m.name, event = kind.as_str(), "maintenance");
                let targets = covered_by(m, &state.components)
                    .iter()
                    .filter_map(|id| state.components.iter().find(|c| &c.id == id))
                    .map(|c| target(c, &state.components))
                    .collect();
                events.push(maintenance_event(kind, info(m, o, phase), targets, now));
            }
            phases.insert(id, phase);
        }
        // Occurrences the page no longer lists are forgotten.
        state.maintenance_phases = phases;
        let changed = !events.is_empty();
        self.send(events, now);
        (covered, changed)
    }

    /// Every window, the config file's first.
    pub fn maintenance_windows(&self) -> Vec<Maintenance> {
        let mut all = self.lock().maintenance.clone();
        all.sort_by_key(|m| m.origin == Origin::Api);
        all
    }

    /// The page's maintenance list (as `scheduled-maintenances.json` has it), newest first.
    pub fn maintenance_views(&self) -> Vec<MaintenanceView> {
        views(&self.lock(), now_ms())
    }

    /// Adds a window made through the admin API; its occurrence counts as scheduled, so the
    /// next evaluation announces its start. Component ids must exist.
    pub fn add_maintenance(&self, m: Maintenance) -> Result<(), MaintenanceError> {
        let now = now_ms();
        let mut state = self.lock();
        for id in &m.selector.components {
            if !state.components.iter().any(|c| &c.id == id) {
                return Err(MaintenanceError::Invalid(format!(
                    "unknown component `{id}`"
                )));
            }
        }
        let occurrence = m.schedule.current(now);
        if let Some(o) = occurrence {
            state
                .maintenance_phases
                .insert(m.occurrence_id(o), MaintenanceStatus::Scheduled);
        }
        let targets = covered_by(&m, &state.components)
            .iter()
            .filter_map(|id| state.components.iter().find(|c| &c.id == id))
            .map(|c| target(c, &state.components))
            .collect();
        let event = occurrence.map(|o| {
            maintenance_event(
                EventKind::MaintenanceScheduled,
                info(&m, o, MaintenanceStatus::Scheduled),
                targets,
                now,
            )
        });
        state.maintenance.push(m);
        drop(state);
        self.send(event.into_iter().collect(), now);
        self.publish(now);
        Ok(())
    }

    /// Puts back a window an earlier run made through the admin API, without announcing it
    /// again (its phase is picked up silently at the next evaluation).
    pub fn restore_maintenance(&self, m: Maintenance) {
        let now = now_ms();
        let mut state = self.lock();
        if state.maintenance.iter().any(|w| w.id == m.id) {
            return;
        }
        state.maintenance.push(m);
        drop(state);
        self.publish(now);
    }

    /// Removes an admin-API window (the config file's stay until the file changes). Its
    /// components return to their computed status at the next evaluation.
    pub fn remove_maintenance(&self, id: &str) -> Result<Maintenance, MaintenanceError> {
        let now = now_ms();
        let mut state = self.lock();
        let Some(at) = state.maintenance.iter().position(|m| m.id == id) else {
            return Err(MaintenanceError::NotFound(id.to_owned()));
        };
        if state.maintenance[at].origin == Origin::Config {
            return Err(MaintenanceError::FromConfig(id.to_owned()));
        }
        let removed = state.maintenance.remove(at);
        drop(state);
        self.publish(now);
        Ok(removed)
    }

    /// Whether alerts about this component are held back by maintenance at `now_ms`: an
    /// occurrence covers it, widened by the configured margins.
    pub fn maintenance_suppresses(&self, component_id: &str, now_ms: u64) -> bool {
        let settings = self.settings.load();
        let before = u64::try_from(settings.alerts.suppress_before_maintenance.as_millis())
            .unwrap_or(u64::MAX);
        let after = u64::try_from(settings.alerts.suppress_after_maintenance.as_millis())
            .unwrap_or(u64::MAX);
        let state = self.lock();
        state.maintenance.iter().any(|m| {
            m.schedule.covers(now_ms, before, after)
                && covered_by(m, &state.components)
                    .iter()
                    .any(|c| c == component_id)
        })
    }
}
