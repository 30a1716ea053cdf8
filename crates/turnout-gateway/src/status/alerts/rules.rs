//! Which notifications an event makes (spec/status.md §5.7), without IO: rules filter on event
//! type, scope and minimum status or severity; each (rule, subject) is an alert that opens,
//! updates, gets reminders while it lasts, and resolves. Identical notifications are
//! deduplicated; maintenance holds alerts back until it is over. The caller owns the clock.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use turnout_config::{AlertRuleConfig, AlertScope, BurnSeverity, event_pattern_matches};

use crate::status::derive::ComponentStatus;
use crate::status::events::{EventKind, StatusEvent, impact_level, indicator_level};
use crate::status::settings::component_status;

/// What a notification says about its alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// The problem starts (for this rule).
    Open,
    /// It changes while it lasts.
    Update,
    /// It is over.
    Resolve,
    /// It still lasts.
    Reminder,
    /// Neither (maintenance announcements).
    Info,
}

impl Phase {
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Open => "open",
            Phase::Update => "update",
            Phase::Resolve => "resolve",
            Phase::Reminder => "reminder",
            Phase::Info => "info",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub channels: Vec<String>,
    pub events: Vec<String>,
    pub scope: AlertScope,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub min_status: ComponentStatus,
    pub min_severity: BurnSeverity,
    pub send_on_resolved: bool,
    pub reminder_ms: Option<u64>,
}

impl From<&AlertRuleConfig> for Rule {
    fn from(r: &AlertRuleConfig) -> Rule {
        Rule {
            name: r.name.clone(),
            channels: r.channels.clone(),
            events: r.events.clone(),
            scope: r.scope,
            provider: r.provider.clone(),
            model: r.model.clone(),
            min_status: component_status(r.min_status),
            min_severity: r.min_severity,
            send_on_resolved: r.send_on_resolved,
            reminder_ms: r
                .reminder_interval
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

impl Rule {
    fn hears(&self, e: &StatusEvent) -> bool {
        if !self
            .events
            .iter()
            .any(|p| event_pattern_matches(p, e.kind.as_str()))
        {
            return false;
        }
        match self.scope {
            AlertScope::Page => true,
            AlertScope::Group => e
                .targets
                .iter()
                .any(|t| t.provider.is_some() && t.provider == self.provider),
            AlertScope::Component => e.targets.iter().any(|t| {
                t.provider.is_some()
                    && t.provider == self.provider
                    && t.model.is_some()
                    && t.model == self.model
            }),
        }
    }

    /// What this event means for this rule's alert on its subject.
    fn phase(&self, e: &StatusEvent, open: bool) -> Option<Phase> {
        let change = |old: ComponentStatus, new: ComponentStatus| match (
            old >= self.min_status || open,
            new >= self.min_status,
        ) {
            (false, true) => Some(Phase::Open),
            (true, true) => Some(if open { Phase::Update } else { Phase::Open }),
            (true, false) if open => Some(Phase::Resolve),
            _ => None,
        };
        match e.kind {
            EventKind::ComponentStatusChanged | EventKind::GroupStatusChanged => {
                let c = e.change.as_ref()?;
                change(c.old_status, c.new_status)
            }
            EventKind::PageStatusChanged => {
                let p = e.page.as_ref()?;
                change(
                    indicator_level(p.old_indicator),
                    indicator_level(p.new_indicator),
                )
            }
            EventKind::IncidentCreated | EventKind::IncidentUpdated => {
                let level = impact_level(e.incident.as_ref()?.impact);
                if open {
                    Some(Phase::Update)
                } else {
                    (level >= self.min_status).then_some(Phase::Open)
                }
            }
            EventKind::IncidentResolved => open.then_some(Phase::Resolve),
            EventKind::MaintenanceScheduled
            | EventKind::MaintenanceStarted
            | EventKind::MaintenanceCompleted => Some(Phase::Info),
            EventKind::Test => None,
            // An account is no component: only `min_status` does not apply; the balance says it.
            EventKind::AccountLowCredit => {
                let c = e.credit.as_ref()?;
                match (c.low, open) {
                    (true, false) => Some(Phase::Open),
                    (true, true) => Some(Phase::Update),
                    (false, true) => Some(Phase::Resolve),
                    (false, false) => None,
                }
            }
            EventKind::SloBurnRate => {
                let b = e.burn.as_ref()?;
                if !b.firing {
                    open.then_some(Phase::Resolve)
                } else if b.severity < self.min_severity {
                    None
                } else if open {
                    Some(Phase::Update)
                } else {
                    Some(Phase::Open)
                }
            }
        }
    }
}

/// What to send: one event (or reminder of it), to these channels, for these rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub event: Arc<StatusEvent>,
    pub phase: Phase,
    pub channels: Vec<String>,
    pub rules: Vec<String>,
}

#[derive(Debug, Clone)]
struct OpenAlert {
    /// The latest event of the alert (what a reminder repeats).
    event: Arc<StatusEvent>,
    /// `None` while maintenance held it back: it is sent as an opening once that is over.
    last_sent_ms: Option<u64>,
}

type Key = (String, String);

/// The alert state of every (rule, subject).
#[derive(Debug, Default)]
pub struct Engine {
    rules: Vec<Rule>,
    dedup_ms: u64,
    open: HashMap<Key, OpenAlert>,
    /// What was last sent per (rule, subject) and when, for deduplication.
    last: HashMap<Key, (String, u64)>,
}

impl Engine {
    pub fn new(rules: Vec<Rule>, dedup_ms: u64) -> Engine {
        Engine {
            rules,
            dedup_ms,
            ..Engine::default()
        }
    }

    /// New rules from a reloaded config; alerts of rules that keep their name stay open.
    pub fn set_rules(&mut self, rules: Vec<Rule>, dedup_ms: u64) {
        let names: BTreeSet<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        self.open
            .retain(|(rule, _), _| names.contains(rule.as_str()));
        self.last
            .retain(|(rule, _), _| names.contains(rule.as_str()));
        self.rules = rules;
        self.dedup_ms = dedup_ms;
    }

    /// Whether any rule listens to this kind of event (the SLO engine runs only then).
    pub fn listens_to(&self, kind: EventKind) -> bool {
        self.rules.iter().any(|r| {
            r.events
                .iter()
                .any(|p| event_pattern_matches(p, kind.as_str()))
        })
    }

    /// The notifications one event makes. `suppressed` says whether maintenance holds back
    /// alerts about the event's components right now.
    pub fn on_event(
        &mut self,
        event: StatusEvent,
        now_ms: u64,
        suppressed: bool,
    ) -> Vec<Notification> {
        let event = Arc::new(event);
        let subject = event.subject();
        let dedup_state = format!("{}|{}", event.kind.as_str(), event.state());
        let mut out: Vec<(Phase, &Rule)> = Vec::new();
        for rule in &self.rules {
            if !rule.hears(&event) {
                continue;
            }
            let key = (rule.name.clone(), subject.clone());
            let open = self.open.get(&key).cloned();
            let Some(phase) = rule.phase(&event, open.is_some()) else {
                continue;
            };
            let sent_before = open.as_ref().is_some_and(|o| o.last_sent_ms.is_some());
            let send = match phase {
                Phase::Open | Phase::Update => {
                    self.open.insert(
                        key.clone(),
                        OpenAlert {
                            event: event.clone(),
                            last_sent_ms: if suppressed {
                                open.and_then(|o| o.last_sent_ms)
                            } else {
                                Some(now_ms)
                            },
                        },
                    );
                    !suppressed
                }
                Phase::Resolve => {
                    self.open.remove(&key);
                    // Closing what was announced is never noise, maintenance or not.
                    sent_before && rule.send_on_resolved
                }
                Phase::Info | Phase::Reminder => true,
            };
            if !send {
                continue;
            }
            if let Some((state, at)) = self.last.get(&key)
                && *state == dedup_state
                && now_ms.saturating_sub(*at) < self.dedup_ms
            {
                continue;
            }
            self.last.insert(key, (dedup_state.clone(), now_ms));
            // An update to an alert held back by maintenance is its first notification.
            let phase = if phase == Phase::Update && !sent_before {
                Phase::Open
            } else {
                phase
            };
            out.push((phase, rule));
        }
        group(event, out)
    }

    /// Reminders of alerts that last, and openings maintenance held back that may go now.
    /// `suppressed` says, per event, whether maintenance still holds it back.
    pub fn tick(
        &mut self,
        now_ms: u64,
        suppressed: impl Fn(&StatusEvent) -> bool,
    ) -> Vec<Notification> {
        let mut out = Vec::new();
        for rule in &self.rules {
            for ((name, _), alert) in self.open.iter_mut() {
                if name != &rule.name || suppressed(&alert.event) {
                    continue;
                }
                let phase = match (alert.last_sent_ms, rule.reminder_ms) {
                    (None, _) => Phase::Open,
                    (Some(last), Some(every)) if now_ms.saturating_sub(last) >= every => {
                        Phase::Reminder
                    }
                    _ => continue,
                };
                alert.last_sent_ms = Some(now_ms);
                out.push(Notification {
                    event: alert.event.clone(),
                    phase,
                    channels: rule.channels.clone(),
                    rules: vec![rule.name.clone()],
                });
            }
        }
        out
    }
}

/// One notification per phase, to the union of the rules' channels (a channel hears an event
/// once even when several rules route it there).
fn group(event: Arc<StatusEvent>, decided: Vec<(Phase, &Rule)>) -> Vec<Notification> {
    let mut by_phase: Vec<Notification> = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for (phase, rule) in decided {
        let at = match by_phase.iter().position(|n| n.phase == phase) {
            Some(i) => i,
            None => {
                by_phase.push(Notification {
                    event: event.clone(),
                    phase,
                    channels: Vec::new(),
                    rules: Vec::new(),
                });
                by_phase.len() - 1
            }
        };
        let n = &mut by_phase[at];
        n.rules.push(rule.name.clone());
        for c in &rule.channels {
            if seen.insert(c) {
                n.channels.push(c.clone());
            }
        }
    }
    by_phase.retain(|n| !n.channels.is_empty());
    by_phase
}

#[cfg(test)]
mod tests;
