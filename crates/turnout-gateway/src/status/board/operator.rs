//! What an operator does on the page (spec/status.md §5.6 "Humans win", §5.4 "Manual
//! override"): post an update to an incident, take an automatic incident over, pin a
//! component's status until a time or until cleared.

use super::events::{incident_event, status_events};
use super::{
    BoardState, Incident, IncidentUpdate, StatusBoard, apply_decisions, component_id, now_ms,
};
use crate::status::derive::{ComponentStatus, IncidentId, IncidentStatus, Transition};
use crate::status::events::EventKind;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OperatorError {
    #[error("no incident `{0}`")]
    NoIncident(String),
    #[error("no component `{0}`")]
    NoComponent(String),
    #[error("{0}")]
    Invalid(String),
}

/// An incident as the admin API shows it: the page's fields plus who drives it.
#[derive(Debug, Clone)]
pub struct IncidentControl {
    pub incident: Incident,
    /// Auto logic still changes its status.
    pub automated: bool,
}

/// A component's manual override, and what auto logic computes underneath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideView {
    pub component: String,
    pub name: String,
    pub status: ComponentStatus,
    /// `None` = until cleared.
    pub until_ms: Option<u64>,
    pub auto_status: ComponentStatus,
}

impl StatusBoard {
    fn control(&self, state: &BoardState, i: &Incident) -> IncidentControl {
        let human = state
            .tracker
            .incidents()
            .iter()
            .find(|v| v.id == IncidentId(i.key))
            .is_some_and(|v| v.human);
        IncidentControl {
            incident: i.clone(),
            automated: !human,
        }
    }

    /// The incidents with who drives them, newest first.
    pub fn incident_controls(&self) -> Vec<IncidentControl> {
        let state = self.lock();
        state
            .incidents
            .iter()
            .rev()
            .map(|i| self.control(&state, i))
            .collect()
    }

    /// Posts an operator update; from now on auto logic only appends component changes to
    /// this incident (and resolves it only when taken over with `auto_resolve`).
    pub fn post_incident_update(
        &self,
        id: &str,
        status: Option<IncidentStatus>,
        body: &str,
    ) -> Result<IncidentControl, OperatorError> {
        if body.trim().is_empty() {
            return Err(OperatorError::Invalid("an update needs a body".into()));
        }
        let now = now_ms();
        let mut state = self.lock();
        let Some(at) = state.incidents.iter().position(|i| i.id == id) else {
            return Err(OperatorError::NoIncident(id.to_owned()));
        };
        let key = state.incidents[at].key;
        state.tracker.operator_update(IncidentId(key), status, now);
        let incident = &mut state.incidents[at];
        let new_status = status.unwrap_or(incident.status);
        incident.status = new_status;
        incident.updated_at_ms = now;
        match new_status {
            IncidentStatus::Monitoring => {
                incident.monitoring_at_ms.get_or_insert(now);
            }
            IncidentStatus::Resolved | IncidentStatus::Postmortem => {
                incident.resolved_at_ms.get_or_insert(now);
            }
            IncidentStatus::Investigating | IncidentStatus::Identified => {
                incident.resolved_at_ms = None;
            }
        }
        let n = incident.updates.len();
        incident.updates.push(IncidentUpdate {
            id: component_id(&format!("{}|update|{n}", incident.id)),
            status: new_status,
            body: body.trim().to_owned(),
            at_ms: now,
            affected: Vec::new(),
        });
        let kind = if matches!(
            new_status,
            IncidentStatus::Resolved | IncidentStatus::Postmortem
        ) {
            EventKind::IncidentResolved
        } else {
            EventKind::IncidentUpdated
        };
        let incident = state.incidents[at].clone();
        let event = incident_event(kind, &incident, now, &state.components);
        let control = self.control(&state, &incident);
        drop(state);
        self.publish_and_send(now, vec![event]);
        Ok(control)
    }

    /// Takes an automatic incident over: auto logic stops changing its status. With
    /// `auto_resolve`, it may still resolve it after the calm period.
    pub fn take_over_incident(
        &self,
        id: &str,
        auto_resolve: bool,
    ) -> Result<IncidentControl, OperatorError> {
        let now = now_ms();
        let mut state = self.lock();
        let Some(incident) = state.incidents.iter().find(|i| i.id == id).cloned() else {
            return Err(OperatorError::NoIncident(id.to_owned()));
        };
        let key = IncidentId(incident.key);
        state.tracker.operator_update(key, None, now);
        state.tracker.set_auto_resolve(key, auto_resolve);
        let mut control = self.control(&state, &incident);
        // The tracker forgets incidents past their reopen window; those were never automated.
        control.automated = false;
        Ok(control)
    }

    /// The leaves an override on `id` pins: the leaf itself, or every leaf of a group.
    fn override_targets(state: &BoardState, id: &str) -> Result<Vec<String>, OperatorError> {
        let Some(c) = state.components.iter().find(|c| c.id == id) else {
            return Err(OperatorError::NoComponent(id.to_owned()));
        };
        if c.endpoint.is_some() {
            Ok(vec![c.id.clone()])
        } else if c.is_group() {
            Ok(c.children.clone())
        } else {
            Err(OperatorError::Invalid(format!(
                "`{}` has no derived status to override",
                c.name
            )))
        }
    }

    /// Applies published transitions of leaves the way an evaluation does: the component's
    /// status, the incident tracker, events; groups roll up at the next evaluation.
    fn apply_leaf_transitions(&self, state: &mut BoardState, changes: Vec<(String, Transition)>) {
        let mut decisions = Vec::new();
        for (id, t) in &changes {
            let Some(c) = state.components.iter_mut().find(|c| &c.id == id) else {
                continue;
            };
            tracing::info!(component = %c.name, from = ?t.from, to = ?t.to, reason = %t.reason,
                "status changed");
            c.status = t.to;
            c.updated_at_ms = t.at_ms;
            let group = c.group_id.clone().unwrap_or_else(|| c.id.clone());
            decisions.extend(state.tracker.on_transition(id, &group, t));
            state.transitions.push((id.clone(), t.clone()));
        }
        apply_decisions(
            &self.page_id,
            &state.components,
            &mut state.incidents,
            &decisions,
        );
        let mut events = status_events(&state.components, &changes, &[]);
        events.extend(super::events::incident_events(
            &state.incidents,
            &decisions,
            &state.components,
        ));
        self.send(events, now_ms());
    }

    /// Pins `status` on a leaf (or every leaf of a group) until `until_ms`, or until cleared.
    pub fn set_override(
        &self,
        id: &str,
        status: ComponentStatus,
        until_ms: Option<u64>,
    ) -> Result<Vec<OverrideView>, OperatorError> {
        let now = now_ms();
        if until_ms.is_some_and(|u| u <= now) {
            return Err(OperatorError::Invalid("`until` is in the past".into()));
        }
        let mut state = self.lock();
        let leaves = Self::override_targets(&state, id)?;
        let thresholds = self.settings.load().thresholds.clone();
        let mut changes = Vec::new();
        for leaf in &leaves {
            let current = state
                .components
                .iter()
                .find(|c| &c.id == leaf)
                .map_or(ComponentStatus::Operational, |c| c.status);
            let publisher = state
                .publishers
                .entry(leaf.clone())
                .or_insert_with(|| crate::status::derive::Publisher::new(current, &thresholds));
            if let Some(t) = publisher.set_override(status, until_ms, now) {
                changes.push((leaf.clone(), t));
            }
        }
        self.apply_leaf_transitions(&mut state, changes);
        drop(state);
        self.publish(now);
        Ok(self.overrides())
    }

    /// Clears the override of a leaf (or of every leaf of a group): auto logic decides again.
    pub fn clear_override(&self, id: &str) -> Result<Vec<OverrideView>, OperatorError> {
        let now = now_ms();
        let mut state = self.lock();
        let leaves = Self::override_targets(&state, id)?;
        let mut changes = Vec::new();
        for leaf in &leaves {
            if let Some(publisher) = state.publishers.get_mut(leaf)
                && let Some(t) = publisher.clear_override(now)
            {
                changes.push((leaf.clone(), t));
            }
        }
        self.apply_leaf_transitions(&mut state, changes);
        drop(state);
        self.publish(now);
        Ok(self.overrides())
    }

    /// Active overrides.
    pub fn overrides(&self) -> Vec<OverrideView> {
        let now = now_ms();
        let state = self.lock();
        state
            .components
            .iter()
            .filter_map(|c| {
                let p = state.publishers.get(&c.id)?;
                let (status, until_ms) = p.manual_override()?;
                if until_ms.is_some_and(|u| u <= now) {
                    return None;
                }
                Some(OverrideView {
                    component: c.id.clone(),
                    name: c.name.clone(),
                    status,
                    until_ms,
                    auto_status: p.auto_status(),
                })
            })
            .collect()
    }
}
