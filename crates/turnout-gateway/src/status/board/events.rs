//! Events for the alerts, built from what one evaluation (or one operator action) changed, and
//! the bounded outbox the alert task drains.

use super::{Component, Decision, DecisionKind, Incident, StatusBoard, Transition};
use crate::status::derive::Indicator;
use crate::status::events::{
    EventKind, IncidentInfo, MaintenanceInfo, PageChange, StatusChange, StatusEvent, Target,
};

/// Events kept for a consumer that is behind (or absent); the oldest go first.
const OUTBOX_LIMIT: usize = 4_096;

/// A group's provider slug, from its leaves' `provider|model` keys.
fn group_provider(group: &Component, components: &[Component]) -> Option<String> {
    group.children.iter().find_map(|child| {
        components
            .iter()
            .find(|c| &c.id == child)
            .and_then(|c| c.endpoint.as_deref())
            .and_then(|key| key.split_once('|'))
            .map(|(slug, _)| slug.to_owned())
    })
}

/// What rules and payloads need to know about one component.
pub(crate) fn target(c: &Component, components: &[Component]) -> Target {
    let group = c
        .group_id
        .as_deref()
        .and_then(|g| components.iter().find(|x| x.id == g));
    let (provider, model) = match c.endpoint.as_deref().and_then(|k| k.split_once('|')) {
        Some((slug, model)) => (Some(slug.to_owned()), Some(model.to_owned())),
        None if c.is_group() => (group_provider(c, components), None),
        None => (None, None),
    };
    Target {
        id: c.id.clone(),
        name: c.name.clone(),
        group_id: c.group_id.clone(),
        group_name: group.map(|g| g.name.clone()),
        provider,
        model,
    }
}

fn change_event(kind: EventKind, c: &Component, t: &Transition, all: &[Component]) -> StatusEvent {
    let mut e = StatusEvent::new(kind, t.at_ms);
    e.targets = vec![target(c, all)];
    e.change = Some(StatusChange {
        old_status: t.from,
        new_status: t.to,
        changed_at_ms: t.at_ms,
        reason: t.reason.clone(),
    });
    e
}

/// `component.status_changed` for leaves (and the Gateway API), `group.status_changed` for
/// provider groups.
pub(super) fn status_events(
    components: &[Component],
    leaves: &[(String, Transition)],
    rolled_up: &[(String, Transition)],
) -> Vec<StatusEvent> {
    let find = |id: &str| components.iter().find(|c| c.id == id);
    let mut out = Vec::new();
    for (id, t) in leaves.iter().chain(rolled_up) {
        let Some(c) = find(id) else { continue };
        let kind = if c.is_group() {
            EventKind::GroupStatusChanged
        } else {
            EventKind::ComponentStatusChanged
        };
        out.push(change_event(kind, c, t, components));
    }
    out
}

pub(crate) fn incident_info(i: &Incident) -> IncidentInfo {
    IncidentInfo {
        id: i.id.clone(),
        name: i.name.clone(),
        status: i.status,
        impact: i.impact,
        body: i.updates.last().map(|u| u.body.clone()).unwrap_or_default(),
        created_at_ms: i.created_at_ms,
    }
}

pub(crate) fn incident_event(
    kind: EventKind,
    i: &Incident,
    at_ms: u64,
    components: &[Component],
) -> StatusEvent {
    let mut e = StatusEvent::new(kind, at_ms);
    e.targets = components
        .iter()
        .filter(|c| i.components.contains(&c.id))
        .map(|c| target(c, components))
        .collect();
    e.incident = Some(incident_info(i));
    e
}

/// One event per incident the decisions touched, for its last decision of the round.
pub(super) fn incident_events(
    incidents: &[Incident],
    decisions: &[Decision],
    components: &[Component],
) -> Vec<StatusEvent> {
    let mut out: Vec<StatusEvent> = Vec::new();
    for d in decisions {
        let Some(i) = incidents.iter().find(|i| i.key == d.incident.0) else {
            continue;
        };
        let kind = match d.kind {
            DecisionKind::Open => EventKind::IncidentCreated,
            DecisionKind::Resolve => EventKind::IncidentResolved,
            DecisionKind::Update | DecisionKind::Monitoring | DecisionKind::Reopen => {
                EventKind::IncidentUpdated
            }
        };
        let mut e = incident_event(kind, i, d.at_ms, components);
        // The incident as it was after this decision, not after the round.
        if let Some(info) = &mut e.incident {
            info.status = d.status;
            info.impact = d.impact;
            if let Some(u) = i
                .updates
                .iter()
                .rev()
                .find(|u| u.at_ms == d.at_ms && u.status == d.status)
            {
                info.body = u.body.clone();
            }
        }
        out.push(e);
    }
    out
}

pub(super) fn page_event(
    before: Indicator,
    after: Indicator,
    description: &str,
    now: u64,
) -> StatusEvent {
    let mut e = StatusEvent::new(EventKind::PageStatusChanged, now);
    e.page = Some(PageChange {
        old_indicator: before,
        new_indicator: after,
        description: description.to_owned(),
    });
    e
}

pub(crate) fn maintenance_event(
    kind: EventKind,
    info: MaintenanceInfo,
    targets: Vec<Target>,
    now: u64,
) -> StatusEvent {
    let mut e = StatusEvent::new(kind, now);
    e.targets = targets;
    e.maintenance = Some(info);
    e
}

impl StatusBoard {
    /// Queues events for the alerts, stamped with the page's state.
    pub(crate) fn send(&self, mut events: Vec<StatusEvent>, _now: u64) {
        if events.is_empty() {
            return;
        }
        let snapshot = self.snapshot.load();
        for e in &mut events {
            e.indicator = snapshot.indicator.unwrap_or(Indicator::None);
            e.description = snapshot.description.clone();
        }
        let mut outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        outbox.extend(events);
        let excess = outbox.len().saturating_sub(OUTBOX_LIMIT);
        if excess > 0 {
            outbox.drain(..excess);
            tracing::warn!(
                dropped = excess,
                "status events dropped: nothing is draining them"
            );
        }
        drop(outbox);
        self.outbox_ready.notify_one();
    }

    /// Every model component with its health key, as alert targets (the SLO engine's list).
    pub fn leaf_targets(&self) -> Vec<(String, Target)> {
        let state = self.lock();
        state
            .components
            .iter()
            .filter_map(|c| {
                let key = c.endpoint.as_deref()?;
                Some((key.to_owned(), target(c, &state.components)))
            })
            .collect()
    }

    /// Takes every queued event, oldest first.
    pub fn drain_events(&self) -> Vec<StatusEvent> {
        let mut outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        outbox.drain(..).collect()
    }

    /// Resolves when events may be waiting (a permit is kept if nobody was waiting).
    pub async fn events_ready(&self) {
        self.outbox_ready.notified().await;
    }
}
