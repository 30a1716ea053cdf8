//! Incident automation without IO (§5.6): fed the published transitions of every leaf and the
//! clock, it decides when to open, merge, update, move to monitoring, resolve and reopen. The
//! caller persists incidents and renders the update bodies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ComponentStatus, Impact, MINUTE_MS, Transition};

/// Statuspage v2 `incident.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
    Postmortem,
}

/// §5.11 `incidents` settings, durations in ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentSettings {
    /// The least severe published status that opens an incident (`auto_open.on`); `None`
    /// turns auto-open off.
    pub open_at: Option<ComponentStatus>,
    /// A partial or major outage must be published this long before an incident opens.
    pub open_after_ms: u64,
    /// `open_on_degraded_after`: off by default.
    pub open_on_degraded_after_ms: Option<u64>,
    pub monitoring_to_resolved_ms: u64,
    pub reopen_within_ms: u64,
}

impl Default for IncidentSettings {
    fn default() -> Self {
        IncidentSettings {
            open_at: Some(ComponentStatus::PartialOutage),
            open_after_ms: 60_000,
            open_on_degraded_after_ms: None,
            monitoring_to_resolved_ms: 10 * MINUTE_MS,
            reopen_within_ms: 30 * MINUTE_MS,
        }
    }
}

/// The tracker's handle on an incident; the caller maps it to its stored id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IncidentId(pub u64);

/// One `affected_components` entry of an update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentChange {
    pub component: String,
    pub old_status: ComponentStatus,
    pub new_status: ComponentStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecisionKind {
    /// A new incident (`investigating`).
    Open,
    /// A component joined, changed status, or the impact changed.
    Update,
    /// Every affected component is operational again.
    Monitoring,
    Resolve,
    /// A relapse within the reopen window after resolution: the same incident, investigating.
    Reopen,
}

impl DecisionKind {
    /// The automatic update text where the spec gives one.
    pub const fn default_body(self) -> Option<&'static str> {
        match self {
            DecisionKind::Monitoring => {
                Some("Error rates have returned to normal. We are monitoring.")
            }
            DecisionKind::Resolve => Some("This incident has been resolved."),
            DecisionKind::Open | DecisionKind::Update | DecisionKind::Reopen => None,
        }
    }
}

/// What to write: one incident update, with the incident's state after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub incident: IncidentId,
    pub kind: DecisionKind,
    pub dedup_key: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub changes: Vec<ComponentChange>,
    pub at_ms: u64,
}

#[derive(Debug, Clone)]
struct Component {
    group: String,
    status: ComponentStatus,
    /// Since when it has been published at partial or worse, continuously.
    outage_since: Option<u64>,
    /// Since when it has been published at degraded or worse, continuously.
    degraded_since: Option<u64>,
}

#[derive(Debug, Clone)]
struct Incident {
    id: IncidentId,
    dedup_key: String,
    status: IncidentStatus,
    /// Worst affected status so far: impact is raised, never lowered.
    worst: ComponentStatus,
    /// Each affected component and the status the last update reported for it.
    reported: BTreeMap<String, ComponentStatus>,
    /// Since when every affected component is back to operational.
    calm_since: Option<u64>,
    resolved_at: Option<u64>,
    human: bool,
    auto_resolve: bool,
}

impl Incident {
    fn impact(&self) -> Impact {
        Impact::of_worst(self.worst)
    }

    fn unresolved(&self) -> bool {
        !matches!(
            self.status,
            IncidentStatus::Resolved | IncidentStatus::Postmortem
        )
    }

    fn decision(&self, kind: DecisionKind, changes: Vec<ComponentChange>, at_ms: u64) -> Decision {
        Decision {
            incident: self.id,
            kind,
            dedup_key: self.dedup_key.clone(),
            status: self.status,
            impact: self.impact(),
            changes,
            at_ms,
        }
    }
}

/// A view of one tracked incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentView {
    pub id: IncidentId,
    pub dedup_key: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub components: Vec<String>,
    pub human: bool,
}

/// Auto-opens and auto-resolves incidents per §5.6; dedup key = the component's group.
#[derive(Debug, Clone, Default)]
pub struct IncidentTracker {
    settings: IncidentSettings,
    next_id: u64,
    components: BTreeMap<String, Component>,
    incidents: Vec<Incident>,
}

/// Whether a published status is still a problem for an incident (maintenance is not).
fn failing(status: ComponentStatus) -> bool {
    status >= ComponentStatus::DegradedPerformance
}

impl IncidentTracker {
    pub fn new(settings: IncidentSettings) -> Self {
        IncidentTracker {
            settings,
            ..IncidentTracker::default()
        }
    }

    /// New rules from a reloaded config; open incidents and their clocks are kept.
    pub fn set_settings(&mut self, settings: IncidentSettings) {
        self.settings = settings;
    }

    /// Feeds one published transition of a leaf. Changes to components already in an
    /// unresolved incident are decided at once; opening waits for [`IncidentTracker::tick`].
    pub fn on_transition(&mut self, component: &str, group: &str, t: &Transition) -> Vec<Decision> {
        let now = t.at_ms;
        let open_at = self.settings.open_at;
        let c = self
            .components
            .entry(component.to_owned())
            .or_insert_with(|| Component {
                group: group.to_owned(),
                status: t.from,
                outage_since: None,
                degraded_since: None,
            });
        c.group = group.to_owned();
        c.status = t.to;
        c.outage_since = open_at
            .is_some_and(|at| t.to >= at && t.to >= ComponentStatus::PartialOutage)
            .then(|| c.outage_since.unwrap_or(now));
        c.degraded_since = failing(t.to).then(|| c.degraded_since.unwrap_or(now));

        let Some(i) = self
            .incidents
            .iter()
            .position(|i| i.unresolved() && i.reported.contains_key(component))
        else {
            return Vec::new();
        };
        let all_calm = self.incidents[i]
            .reported
            .keys()
            .all(|k| self.components.get(k).is_none_or(|c| !failing(c.status)));
        let incident = &mut self.incidents[i];
        let mut changes = Vec::new();
        if let Some(reported) = incident.reported.get_mut(component)
            && *reported != t.to
        {
            changes.push(ComponentChange {
                component: component.to_owned(),
                old_status: *reported,
                new_status: t.to,
            });
            *reported = t.to;
        }
        incident.worst = incident.worst.max(t.to);
        let mut kind = DecisionKind::Update;
        if all_calm {
            incident.calm_since.get_or_insert(now);
            if !incident.human && incident.status != IncidentStatus::Monitoring {
                incident.status = IncidentStatus::Monitoring;
                kind = DecisionKind::Monitoring;
            }
        } else {
            incident.calm_since = None;
            // A relapse while monitoring sends it back to investigating.
            if !incident.human && incident.status == IncidentStatus::Monitoring {
                incident.status = IncidentStatus::Investigating;
            }
        }
        if changes.is_empty() && kind == DecisionKind::Update {
            return Vec::new();
        }
        vec![incident.decision(kind, changes, now)]
    }

    /// Advances the clock: opens, merges and reopens incidents whose components have failed
    /// long enough, and resolves those calm long enough.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Decision> {
        let mut out = Vec::new();
        let due: Vec<(String, String, ComponentStatus)> = self
            .components
            .iter()
            .filter(|(_, c)| self.open_due(c, now_ms))
            .map(|(name, c)| (name.clone(), c.group.clone(), c.status))
            .collect();
        for (name, group, status) in due {
            if self
                .incidents
                .iter()
                .any(|i| i.unresolved() && i.reported.contains_key(&name))
            {
                continue;
            }
            out.push(self.open_or_join(&name, &group, status, now_ms));
        }

        let resolve_after = self.settings.monitoring_to_resolved_ms;
        for incident in self.incidents.iter_mut().filter(|i| i.unresolved()) {
            let calm_long_enough = incident
                .calm_since
                .is_some_and(|since| now_ms.saturating_sub(since) >= resolve_after);
            if calm_long_enough && (!incident.human || incident.auto_resolve) {
                incident.status = IncidentStatus::Resolved;
                incident.resolved_at = Some(now_ms);
                incident.calm_since = None;
                out.push(incident.decision(DecisionKind::Resolve, Vec::new(), now_ms));
            }
        }

        // Past the reopen window a resolved incident can never change again.
        let reopen_within = self.settings.reopen_within_ms;
        self.incidents.retain(|i| {
            i.resolved_at
                .is_none_or(|at| now_ms.saturating_sub(at) <= reopen_within)
        });
        out
    }

    fn open_due(&self, c: &Component, now_ms: u64) -> bool {
        let held = |since: Option<u64>, after: u64| {
            since.is_some_and(|s| now_ms.saturating_sub(s) >= after)
        };
        held(c.outage_since, self.settings.open_after_ms)
            || self
                .settings
                .open_on_degraded_after_ms
                .is_some_and(|after| held(c.degraded_since, after))
    }

    fn open_or_join(
        &mut self,
        name: &str,
        group: &str,
        status: ComponentStatus,
        now_ms: u64,
    ) -> Decision {
        let change = ComponentChange {
            component: name.to_owned(),
            old_status: ComponentStatus::Operational,
            new_status: status,
        };
        // Relapse of an affected component shortly after resolution: the same incident. One an
        // operator resolved stays theirs; the relapse gets a new incident.
        let reopen_within = self.settings.reopen_within_ms;
        if let Some(incident) = self.incidents.iter_mut().rev().find(|i| {
            !i.human
                && i.resolved_at
                    .is_some_and(|at| now_ms.saturating_sub(at) <= reopen_within)
                && i.reported.contains_key(name)
        }) {
            incident.status = IncidentStatus::Investigating;
            incident.resolved_at = None;
            incident.calm_since = None;
            incident.worst = incident.worst.max(status);
            incident.reported.insert(name.to_owned(), status);
            return incident.decision(DecisionKind::Reopen, vec![change], now_ms);
        }
        // Several models of one provider failing together are one incident.
        if let Some(incident) = self
            .incidents
            .iter_mut()
            .find(|i| i.unresolved() && i.dedup_key == group)
        {
            incident.worst = incident.worst.max(status);
            incident.reported.insert(name.to_owned(), status);
            incident.calm_since = None;
            if !incident.human {
                incident.status = IncidentStatus::Investigating;
            }
            return incident.decision(DecisionKind::Update, vec![change], now_ms);
        }
        self.next_id += 1;
        let incident = Incident {
            id: IncidentId(self.next_id),
            dedup_key: group.to_owned(),
            status: IncidentStatus::Investigating,
            worst: status,
            reported: BTreeMap::from([(name.to_owned(), status)]),
            calm_since: None,
            resolved_at: None,
            human: false,
            auto_resolve: false,
        };
        let decision = incident.decision(DecisionKind::Open, vec![change], now_ms);
        self.incidents.push(incident);
        decision
    }

    /// An operator posted an update (optionally setting a status): from now on auto logic only
    /// appends component changes, and resolves only if `auto_resolve` is set.
    pub fn operator_update(&mut self, id: IncidentId, status: Option<IncidentStatus>, now_ms: u64) {
        if let Some(incident) = self.incidents.iter_mut().find(|i| i.id == id) {
            incident.human = true;
            if let Some(status) = status {
                incident.status = status;
                incident.resolved_at = matches!(
                    status,
                    IncidentStatus::Resolved | IncidentStatus::Postmortem
                )
                .then_some(now_ms);
            }
        }
    }

    pub fn set_auto_resolve(&mut self, id: IncidentId, auto_resolve: bool) {
        if let Some(incident) = self.incidents.iter_mut().find(|i| i.id == id) {
            incident.auto_resolve = auto_resolve;
        }
    }

    /// Unresolved incidents and those still inside their reopen window.
    pub fn incidents(&self) -> Vec<IncidentView> {
        self.incidents
            .iter()
            .map(|i| IncidentView {
                id: i.id,
                dedup_key: i.dedup_key.clone(),
                status: i.status,
                impact: i.impact(),
                components: i.reported.keys().cloned().collect(),
                human: i.human,
            })
            .collect()
    }

    /// Impacts of unresolved incidents, for [`super::page_indicator`].
    pub fn unresolved_impacts(&self) -> Vec<Impact> {
        self.incidents
            .iter()
            .filter(|i| i.unresolved())
            .map(Incident::impact)
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
