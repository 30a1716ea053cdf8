//! The status board: one component group per provider, one leaf per published endpoint
//! (provider × model) and the Gateway API itself; every 10 s each leaf's live-traffic
//! signals are turned into a raw status and published through its hysteresis
//! ([`super::derive`]), groups are rolled up, and the public snapshot is rebuilt.

mod config;
mod events;
mod maint;
mod operator;

pub use maint::{MaintenanceError, MaintenanceView};
pub use operator::{IncidentControl, OperatorError, OverrideView};

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

use super::derive::{
    ComponentStatus, Counts, Decision, DecisionKind, Impact, IncidentSettings, IncidentStatus,
    IncidentTracker, Publisher, Signals, Transition, page_indicator, raw_status, rollup_group,
};
use super::events::StatusEvent;
use super::maintenance::{Maintenance, MaintenanceStatus};
use super::page::Snapshot;
use super::probe::ProbeLog;
use super::settings::StatusSettings;
use crate::health::Health;
use crate::health::minutes::Counts as MinuteCounts;
use crate::routing::catalog::Catalog;

/// How often statuses are derived by default (spec/status.md §5.4; `[status.health]
/// eval_interval`).
pub const EVALUATE_EVERY: Duration = Duration::from_secs(10);

/// A Statuspage component (group or leaf) as the board keeps it.
#[derive(Debug, Clone)]
pub struct Component {
    /// 12 lowercase base-36 characters, stable for the same provider/endpoint.
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub position: i32,
    pub group_id: Option<String>,
    /// For groups: their leaves' ids.
    pub children: Vec<String>,
    /// The health key of a leaf's endpoint (`provider|model`); `None` for groups and the
    /// Gateway API component.
    pub endpoint: Option<Arc<str>>,
    pub status: ComponentStatus,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

impl Component {
    pub fn is_group(&self) -> bool {
        self.endpoint.is_none() && !self.children.is_empty()
    }
}

/// Statuspage-style id: 12 base-36 characters derived from `seed`.
pub fn component_id(seed: &str) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let digest = Sha256::digest(seed.as_bytes());
    digest
        .iter()
        .take(12)
        .map(|b| ALPHABET[usize::from(*b) % 36] as char)
        .collect()
}

#[derive(Debug)]
pub struct StatusBoard {
    pub page_id: String,
    pub page_name: String,
    /// `[status]` of the running config (thresholds, incident rules, windows, …).
    settings: ArcSwap<StatusSettings>,
    started_at_ms: u64,
    inner: Mutex<BoardState>,
    snapshot: ArcSwap<Snapshot>,
    /// Events for the alerts, oldest first ([`events`]).
    outbox: Mutex<VecDeque<StatusEvent>>,
    outbox_ready: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct BoardState {
    components: Vec<Component>,
    publishers: HashMap<String, Publisher>,
    transitions: Vec<(String, Transition)>,
    tracker: IncidentTracker,
    /// Opened automatically, newest last; past ones restored from the database on start.
    incidents: Vec<Incident>,
    /// Published transitions not yet written to the database.
    unsaved_transitions: Vec<(String, Transition)>,
    /// Keys of incidents changed since they were last written.
    unsaved_incidents: Vec<u64>,
    /// The config file's windows and the admin API's ([`maint`]).
    maintenance: Vec<Maintenance>,
    /// The last phase seen of each occurrence, to tell when one starts or completes.
    maintenance_phases: HashMap<String, MaintenanceStatus>,
}

/// An incident as the page shows it, built from the tracker's decisions.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Incident {
    pub key: u64,
    pub id: String,
    pub name: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    pub monitoring_at_ms: Option<u64>,
    pub resolved_at_ms: Option<u64>,
    /// Component ids affected so far.
    pub components: Vec<String>,
    /// Newest last.
    pub updates: Vec<IncidentUpdate>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct IncidentUpdate {
    pub id: String,
    pub status: IncidentStatus,
    pub body: String,
    pub at_ms: u64,
    /// (component id, name, old, new)
    pub affected: Vec<(String, String, ComponentStatus, ComponentStatus)>,
}

/// Kept incidents (resolved ones age out first).
const KEPT_INCIDENTS: usize = 50;

/// Transitions kept for the page (the incident engine will own history).
const KEPT_TRANSITIONS: usize = 200;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl StatusBoard {
    pub fn new(page_seed: &str, page_name: &str) -> StatusBoard {
        StatusBoard::with_incidents(page_seed, page_name, IncidentSettings::default())
    }

    pub fn with_incidents(
        page_seed: &str,
        page_name: &str,
        incidents: IncidentSettings,
    ) -> StatusBoard {
        let now = now_ms();
        let board = StatusBoard {
            page_id: component_id(&format!("page|{page_seed}")),
            page_name: page_name.to_owned(),
            settings: ArcSwap::from_pointee(StatusSettings {
                incidents: incidents.clone(),
                ..StatusSettings::default()
            }),
            started_at_ms: now,
            inner: Mutex::new(BoardState {
                tracker: IncidentTracker::new(incidents),
                ..BoardState::default()
            }),
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            outbox: Mutex::new(VecDeque::new()),
            outbox_ready: tokio::sync::Notify::new(),
        };
        board.publish(now);
        board
    }

    /// Replaces the incident rules (before incidents exist: open ones are forgotten).
    pub fn set_incident_settings(&self, settings: IncidentSettings) {
        let mut state = self.lock();
        state.tracker = IncidentTracker::new(settings);
        state.incidents.clear();
    }

    /// Incidents, newest last.
    pub fn incidents(&self) -> Vec<Incident> {
        self.lock().incidents.clone()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BoardState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rebuilds the component list from the catalog (on start and after a reload), keeping
    /// the status and history of components that remain.
    pub fn sync_catalog(&self, catalog: &Catalog) {
        let now = now_ms();
        let mut state = self.lock();
        let old: HashMap<String, Component> = state
            .components
            .drain(..)
            .map(|c| (c.id.clone(), c))
            .collect();
        let keep = |id: &str, fresh: Component| -> Component {
            match old.get(id) {
                Some(prev) => Component {
                    status: prev.status,
                    created_at_ms: prev.created_at_ms,
                    updated_at_ms: prev.updated_at_ms,
                    ..fresh
                },
                None => fresh,
            }
        };
        let mut components = Vec::new();
        let gateway_id = component_id(&format!("{}|gateway", self.page_id));
        components.push(keep(
            &gateway_id,
            Component {
                id: gateway_id.clone(),
                name: "Gateway API".to_owned(),
                description: Some("Turnout itself: authentication, routing, accounting".into()),
                position: 1,
                group_id: None,
                children: Vec::new(),
                endpoint: None,
                status: ComponentStatus::Operational,
                created_at_ms: self.started_at_ms,
                updated_at_ms: self.started_at_ms,
            },
        ));
        let mut position = 2;
        for provider in catalog.providers() {
            let group_id = component_id(&format!("{}|provider|{}", self.page_id, provider.slug));
            let group_at = components.len();
            components.push(Component {
                id: group_id.clone(),
                name: provider.name.clone(),
                description: None,
                position,
                group_id: None,
                children: Vec::new(),
                endpoint: None,
                status: ComponentStatus::Operational,
                created_at_ms: now,
                updated_at_ms: now,
            });
            position += 1;
            for model in catalog.models() {
                for endpoint in model
                    .endpoints
                    .iter()
                    .filter(|e| e.provider.slug == provider.slug)
                {
                    let id = component_id(&format!("{}|endpoint|{}", self.page_id, endpoint.key));
                    components[group_at].children.push(id.clone());
                    components.push(keep(
                        &id,
                        Component {
                            id: id.clone(),
                            name: model.name.clone(),
                            description: Some(format!("{} via {}", model.id, provider.name)),
                            position,
                            group_id: Some(group_id.clone()),
                            children: Vec::new(),
                            endpoint: Some(endpoint.key.clone()),
                            status: ComponentStatus::Operational,
                            created_at_ms: now,
                            updated_at_ms: now,
                        },
                    ));
                    position += 1;
                }
            }
            let group = components[group_at].clone();
            let id = group.id.clone();
            components[group_at] = keep(&id, group);
        }
        // A provider with no published endpoints is no group.
        components.retain(|c| c.endpoint.is_some() || !c.children.is_empty() || c.id == gateway_id);
        let thresholds = self.settings.load().thresholds.clone();
        for c in &components {
            if c.endpoint.is_some() {
                state
                    .publishers
                    .entry(c.id.clone())
                    .or_insert_with(|| Publisher::new(c.status, &thresholds));
            }
        }
        state.components = components;
        drop(state);
        self.publish(now);
    }

    /// One evaluation: signals → raw status → published status, for every leaf; then groups.
    pub fn evaluate(&self, health: &Health, probes: &ProbeLog) {
        let (now, instant) = (now_ms(), Instant::now());
        let settings = self.settings.load_full();
        let thresholds = &settings.thresholds;
        let mut state = self.lock();
        let (covered, mut changed) = self.maintenance_round(&mut state, now);
        let BoardState {
            components,
            publishers,
            transitions,
            tracker,
            incidents,
            unsaved_transitions,
            unsaved_incidents,
            ..
        } = &mut *state;
        let mut decisions: Vec<Decision> = Vec::new();
        let mut published: Vec<(String, Transition)> = Vec::new();
        for c in components.iter_mut() {
            let Some(key) = &c.endpoint else { continue };
            let stats = health
                .stats_in(key, instant, settings.windows)
                .unwrap_or_default();
            let signals = Signals {
                w2: counts(stats.w2),
                w5: counts(stats.w5),
                w10_ttft_p95_ms: stats.w10_ttft_p95_ms,
                w10_ttft_samples: stats.w10_ttft_samples,
                baseline_ttft_p95_ms: None,
                w10_tps_p50: stats.w10_tps_p50,
                w10_tps_samples: stats.w10_tps_samples,
                baseline_tps_p50: None,
                probes: probes.recent(key),
                replica_probes: Vec::new(),
                ttft_slo_ms: thresholds.ttft_slo_ms,
            };
            let raw = raw_status(&signals, thresholds);
            let publisher = publishers
                .entry(c.id.clone())
                .or_insert_with(|| Publisher::new(c.status, thresholds));
            let in_maintenance = covered.contains(&c.id);
            let mut changes: Vec<Transition> = Vec::new();
            if publisher.in_maintenance() != in_maintenance {
                changes.extend(publisher.set_maintenance(in_maintenance, now));
            }
            changes.extend(publisher.observe(raw, now));
            for t in changes {
                tracing::info!(component = %c.name, from = ?t.from, to = ?t.to, reason = %t.reason,
                    "status changed");
                c.status = t.to;
                c.updated_at_ms = now;
                let group = c.group_id.clone().unwrap_or_else(|| c.id.clone());
                decisions.extend(tracker.on_transition(&c.id, &group, &t));
                unsaved_transitions.push((c.id.clone(), t.clone()));
                published.push((c.id.clone(), t.clone()));
                transitions.push((c.id.clone(), t));
                changed = true;
            }
        }
        // Groups roll up their leaves.
        let leaf_status: HashMap<String, ComponentStatus> = components
            .iter()
            .filter(|c| c.endpoint.is_some())
            .map(|c| (c.id.clone(), c.status))
            .collect();
        let mut rolled_up: Vec<(String, Transition)> = Vec::new();
        for c in components.iter_mut().filter(|c| c.endpoint.is_none()) {
            let rolled = if c.children.is_empty() {
                // The Gateway API: only maintenance changes it here.
                maint::gateway_status(c.status, covered.contains(&c.id))
            } else {
                let children: Vec<ComponentStatus> = c
                    .children
                    .iter()
                    .filter_map(|id| leaf_status.get(id).copied())
                    .collect();
                rollup_group(&children, false)
            };
            if rolled != c.status {
                let t = Transition {
                    from: c.status,
                    to: rolled,
                    at_ms: now,
                    reason: "rollup of its components".to_owned(),
                };
                c.status = rolled;
                c.updated_at_ms = now;
                rolled_up.push((c.id.clone(), t));
                changed = true;
            }
        }
        decisions.extend(tracker.tick(now));
        if !decisions.is_empty() {
            apply_decisions(&self.page_id, components, incidents, &decisions);
            unsaved_incidents.extend(decisions.iter().map(|d| d.incident.0));
            changed = true;
        }
        let mut out = events::status_events(components, &published, &rolled_up);
        out.extend(events::incident_events(incidents, &decisions, components));
        if transitions.len() > KEPT_TRANSITIONS {
            let excess = transitions.len() - KEPT_TRANSITIONS;
            transitions.drain(..excess);
        }
        drop(state);
        if changed {
            self.publish_and_send(now, out);
        } else {
            self.send(out, now);
        }
    }

    /// Rebuilds the public snapshot (JSON bodies, ETags, the page's indicator).
    fn publish(&self, now: u64) {
        self.publish_and_send(now, Vec::new());
    }

    /// [`StatusBoard::publish`], then queues `events` (stamped with the new page state) and a
    /// `page.status_changed` when the indicator moved.
    fn publish_and_send(&self, now: u64, mut events: Vec<StatusEvent>) {
        let state = self.lock();
        let leaves: Vec<ComponentStatus> = state
            .components
            .iter()
            .filter(|c| !c.is_group())
            .map(|c| c.status)
            .collect();
        let impacts = state.tracker.unresolved_impacts();
        let (indicator, description) = page_indicator(&leaves, &impacts);
        let maintenances = maint::views(&state, now);
        let settings = self.settings.load();
        let snapshot = Snapshot::build(
            self,
            &settings,
            &state.components,
            &state.incidents,
            &maintenances,
            indicator,
            description,
            now,
        );
        drop(state);
        let previous = self.snapshot.swap(Arc::new(snapshot));
        if let Some(before) = previous.indicator
            && before != indicator
        {
            events.push(events::page_event(before, indicator, description, now));
        }
        self.send(events, now);
    }

    /// Transitions and incidents changed since the last call, for the history writer.
    pub fn take_unsaved(&self) -> (Vec<(String, Transition)>, Vec<Incident>) {
        let mut state = self.lock();
        let transitions = std::mem::take(&mut state.unsaved_transitions);
        let mut keys = std::mem::take(&mut state.unsaved_incidents);
        keys.sort_unstable();
        keys.dedup();
        let incidents = state
            .incidents
            .iter()
            .filter(|i| keys.binary_search(&i.key).is_ok())
            .cloned()
            .collect();
        (transitions, incidents)
    }

    /// Puts back what could not be written, to be tried again.
    pub fn return_unsaved(&self, transitions: Vec<(String, Transition)>, incidents: &[Incident]) {
        let mut state = self.lock();
        let mut back = transitions;
        back.append(&mut state.unsaved_transitions);
        state.unsaved_transitions = back;
        state
            .unsaved_incidents
            .extend(incidents.iter().map(|i| i.key));
    }

    /// Incidents of earlier runs, for the page's history (oldest first). They are past: their
    /// automation state died with the process that opened them.
    pub fn restore_incidents(&self, past: Vec<Incident>) {
        let now = now_ms();
        let mut state = self.lock();
        let known: std::collections::HashSet<String> =
            state.incidents.iter().map(|i| i.id.clone()).collect();
        let mut closed = Vec::new();
        let mut merged: Vec<Incident> = past
            .into_iter()
            .filter(|i| !known.contains(&i.id))
            .enumerate()
            .map(|(n, mut i)| {
                // The tracker numbers its incidents from 1 in every process: keys from the
                // top of the range never meet its.
                i.key = u64::MAX - n as u64;
                if i.resolved_at_ms.is_none() {
                    let n = i.updates.len();
                    i.updates.push(IncidentUpdate {
                        id: component_id(&format!("{}|update|{n}", i.id)),
                        status: IncidentStatus::Resolved,
                        body: "Closed when Turnout restarted; components resume their last status, and a new incident opens if the problem persists.".to_owned(),
                        at_ms: now,
                        affected: Vec::new(),
                    });
                    i.status = IncidentStatus::Resolved;
                    i.resolved_at_ms = Some(now);
                    i.updated_at_ms = now;
                    closed.push(i.key);
                }
                i
            })
            .collect();
        state.unsaved_incidents.extend(closed);
        let changed = !merged.is_empty();
        merged.append(&mut state.incidents);
        state.incidents = merged;
        drop(state);
        if changed {
            self.publish(now);
        }
    }

    /// Leaves resume the status they last published in an earlier run (maintenance aside: a
    /// window is re-derived from its schedule), so a restart during an outage neither hides it
    /// nor records a recovery that did not happen; recovery then follows the usual rules.
    pub fn restore_statuses(&self, last: &HashMap<String, ComponentStatus>) {
        let now = now_ms();
        let mut state = self.lock();
        let BoardState {
            components,
            publishers,
            tracker,
            incidents,
            unsaved_incidents,
            ..
        } = &mut *state;
        let mut decisions = Vec::new();
        let mut changed = false;
        for c in components.iter_mut().filter(|c| c.endpoint.is_some()) {
            let Some(&status) = last.get(&c.id) else {
                continue;
            };
            if status == c.status || status == ComponentStatus::UnderMaintenance {
                continue;
            }
            let resumed = Transition {
                from: c.status,
                to: status,
                at_ms: now,
                reason: "published before the restart".to_owned(),
            };
            c.status = status;
            c.updated_at_ms = now;
            changed = true;
            publishers.insert(
                c.id.clone(),
                Publisher::new(status, &self.settings.load().thresholds),
            );
            // The incident automation starts again from the resumed status, so an outage that
            // persists gets an incident (and its resolution) in this run.
            let group = c.group_id.clone().unwrap_or_else(|| c.id.clone());
            decisions.extend(tracker.on_transition(&c.id, &group, &resumed));
        }
        decisions.extend(tracker.tick(now));
        if !decisions.is_empty() {
            apply_decisions(&self.page_id, components, incidents, &decisions);
            unsaved_incidents.extend(decisions.iter().map(|d| d.incident.0));
            changed = true;
        }
        drop(state);
        // The snapshot (and its ETag) changes only when something did.
        if changed {
            self.publish(now);
        }
    }

    /// (endpoint key, leaf component id) of every leaf.
    pub fn leaves(&self) -> Vec<(Arc<str>, String)> {
        self.lock()
            .components
            .iter()
            .filter_map(|c| c.endpoint.clone().map(|k| (k, c.id.clone())))
            .collect()
    }

    /// The published status of the leaf for this endpoint key.
    pub fn endpoint_status(&self, key: &str) -> Option<ComponentStatus> {
        self.lock()
            .components
            .iter()
            .find(|c| c.endpoint.as_deref() == Some(key))
            .map(|c| c.status)
    }

    /// Components in page order, for the HTML page.
    pub fn components(&self) -> Vec<Component> {
        self.lock().components.clone()
    }
}

fn status_words(s: ComponentStatus) -> &'static str {
    match s {
        ComponentStatus::Operational => "operational",
        ComponentStatus::UnderMaintenance => "under maintenance",
        ComponentStatus::DegradedPerformance => "degraded performance",
        ComponentStatus::PartialOutage => "partial outage",
        ComponentStatus::MajorOutage => "major outage",
    }
}

/// Turns the tracker's decisions into the incidents and updates the page shows.
fn apply_decisions(
    page_id: &str,
    components: &[Component],
    incidents: &mut Vec<Incident>,
    decisions: &[Decision],
) {
    let name_of = |id: &str| {
        components
            .iter()
            .find(|c| c.id == id)
            .map_or_else(|| id.to_owned(), |c| c.name.clone())
    };
    let group_name = |key: &str| {
        components
            .iter()
            .find(|c| c.id == key)
            .map_or_else(|| key.to_owned(), |c| c.name.clone())
    };
    for d in decisions {
        let affected: Vec<(String, String, ComponentStatus, ComponentStatus)> = d
            .changes
            .iter()
            .map(|c| {
                (
                    c.component.clone(),
                    name_of(&c.component),
                    c.old_status,
                    c.new_status,
                )
            })
            .collect();
        let worst = affected
            .iter()
            .map(|a| a.3)
            .max()
            .unwrap_or(ComponentStatus::DegradedPerformance);
        let names: Vec<&str> = affected.iter().map(|a| a.1.as_str()).collect();
        let body = match d.kind.default_body() {
            Some(b) => b.to_owned(),
            None => match d.kind {
                DecisionKind::Reopen => format!("The problem is back: {}.", names.join(", ")),
                DecisionKind::Update => {
                    format!("{}: now {}.", names.join(", "), status_words(worst))
                }
                _ => format!(
                    "We are investigating {} on {}, detected from live traffic.",
                    status_words(worst),
                    names.join(", ")
                ),
            },
        };
        let key = d.incident.0;
        let index = match incidents.iter().position(|i| i.key == key) {
            Some(i) => i,
            None => {
                incidents.push(Incident {
                    key,
                    id: component_id(&format!("{page_id}|incident|{key}|{}", d.at_ms)),
                    name: format!("{}: {}", group_name(&d.dedup_key), status_words(worst)),
                    status: d.status,
                    impact: d.impact,
                    created_at_ms: d.at_ms,
                    updated_at_ms: d.at_ms,
                    monitoring_at_ms: None,
                    resolved_at_ms: None,
                    components: Vec::new(),
                    updates: Vec::new(),
                });
                incidents.len() - 1
            }
        };
        let incident = &mut incidents[index];
        incident.status = d.status;
        incident.impact = d.impact;
        incident.updated_at_ms = d.at_ms;
        match d.kind {
            DecisionKind::Monitoring => incident.monitoring_at_ms = Some(d.at_ms),
            DecisionKind::Resolve => incident.resolved_at_ms = Some(d.at_ms),
            DecisionKind::Reopen => incident.resolved_at_ms = None,
            DecisionKind::Open | DecisionKind::Update => {}
        }
        for a in &affected {
            if !incident.components.contains(&a.0) {
                incident.components.push(a.0.clone());
            }
        }
        let n = incident.updates.len();
        incident.updates.push(IncidentUpdate {
            id: component_id(&format!("{}|update|{n}", incident.id)),
            status: d.status,
            body,
            at_ms: d.at_ms,
            affected,
        });
    }
    // Keep the newest; resolved incidents go first.
    while incidents.len() > KEPT_INCIDENTS {
        let victim = incidents
            .iter()
            .position(|i| i.resolved_at_ms.is_some())
            .unwrap_or(0);
        incidents.remove(victim);
    }
}

fn counts(c: MinuteCounts) -> Counts {
    Counts {
        ok: c.ok,
        errors: c.errors,
        rate_limited: c.rate_limited,
    }
}

/// Evaluates every `eval_interval` ([`EVALUATE_EVERY`] by default) while the board lives.
pub async fn run(board: std::sync::Weak<StatusBoard>, health: Arc<Health>, probes: Arc<ProbeLog>) {
    loop {
        let Some(board) = board.upgrade() else { return };
        board.evaluate(&health, &probes);
        let every = board.eval_interval();
        drop(board);
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_statuspage_ids_and_are_stable() {
        let a = component_id("x|endpoint|openai|gpt");
        assert_eq!(a.len(), 12);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );
        assert_eq!(a, component_id("x|endpoint|openai|gpt"));
        assert_ne!(a, component_id("x|endpoint|openai|gpt-2"));
    }
}
