//! What happened on the status page, as the alerts see it (spec/status.md §5.7): one event per
//! published change, carrying everything a notification needs so that rendering it never goes
//! back to the board.

use turnout_config::BurnSeverity;

use super::derive::{ComponentStatus, Impact, IncidentStatus, Indicator};
use super::maintenance::MaintenanceStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    ComponentStatusChanged,
    GroupStatusChanged,
    PageStatusChanged,
    IncidentCreated,
    IncidentUpdated,
    IncidentResolved,
    MaintenanceScheduled,
    MaintenanceStarted,
    MaintenanceCompleted,
    SloBurnRate,
    /// An account's credit balance fell below (or rose back above) its low-balance alert.
    AccountLowCredit,
    /// A test notification sent from the admin API; no rule hears it.
    Test,
}

impl EventKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::ComponentStatusChanged => "component.status_changed",
            EventKind::GroupStatusChanged => "group.status_changed",
            EventKind::PageStatusChanged => "page.status_changed",
            EventKind::IncidentCreated => "incident.created",
            EventKind::IncidentUpdated => "incident.updated",
            EventKind::IncidentResolved => "incident.resolved",
            EventKind::MaintenanceScheduled => "maintenance.scheduled",
            EventKind::MaintenanceStarted => "maintenance.started",
            EventKind::MaintenanceCompleted => "maintenance.completed",
            EventKind::SloBurnRate => "slo.burn_rate",
            EventKind::AccountLowCredit => "account.low_credit",
            EventKind::Test => "alert.test",
        }
    }
}

/// A component (leaf or group) an event is about, with what rules filter on.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub id: String,
    pub name: String,
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    /// Provider slug (a leaf's provider, or the group's); `None` for the Gateway API.
    pub provider: Option<String>,
    /// Model id of a leaf.
    pub model: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub old_status: ComponentStatus,
    pub new_status: ComponentStatus,
    pub changed_at_ms: u64,
    /// Why, as the publisher explained it (rule and window values).
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PageChange {
    pub old_indicator: Indicator,
    pub new_indicator: Indicator,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IncidentInfo {
    pub id: String,
    pub name: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    /// The newest update's text.
    pub body: String,
    pub created_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceInfo {
    pub id: String,
    pub name: String,
    pub status: MaintenanceStatus,
    pub body: String,
    pub scheduled_for_ms: u64,
    pub scheduled_until_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BurnInfo {
    pub severity: BurnSeverity,
    /// `false`: the burn rate fell back under every policy of this severity.
    pub firing: bool,
    pub availability_target: f64,
    pub long_window_s: u64,
    pub short_window_s: u64,
    pub threshold: f64,
    pub long_burn_rate: f64,
    pub short_burn_rate: f64,
    pub short_window_requests: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreditInfo {
    pub account: String,
    /// Credits less usage, USD.
    pub balance_usd: f64,
    /// The account's low-balance alert, USD.
    pub threshold_usd: f64,
    /// `false`: the balance is back at or above the alert.
    pub low: bool,
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusEvent {
    pub kind: EventKind,
    /// Unique per event (32 hex characters).
    pub id: String,
    pub at_ms: u64,
    /// What it is about: the components of a status change, an incident or a maintenance.
    pub targets: Vec<Target>,
    pub change: Option<StatusChange>,
    pub page: Option<PageChange>,
    pub incident: Option<IncidentInfo>,
    pub maintenance: Option<MaintenanceInfo>,
    pub burn: Option<BurnInfo>,
    pub credit: Option<CreditInfo>,
    /// The page's state when the event was made.
    pub indicator: Indicator,
    pub description: String,
}

impl StatusEvent {
    pub fn new(kind: EventKind, at_ms: u64) -> StatusEvent {
        StatusEvent {
            kind,
            id: new_id(),
            at_ms,
            targets: Vec::new(),
            change: None,
            page: None,
            incident: None,
            maintenance: None,
            burn: None,
            credit: None,
            indicator: Indicator::None,
            description: String::new(),
        }
    }

    /// The thing an alert about this event follows through its life: reminders, dedup and
    /// resolution are per subject.
    pub fn subject(&self) -> String {
        if let Some(i) = &self.incident {
            return format!("incident|{}", i.id);
        }
        if let Some(m) = &self.maintenance {
            return format!("maintenance|{}", m.id);
        }
        if let Some(c) = &self.credit {
            return format!("credit|{}", c.account);
        }
        let first = self.targets.first().map_or("page", |t| t.id.as_str());
        match &self.burn {
            Some(b) => format!("slo|{first}|{}", b.severity.as_str()),
            None => format!("status|{first}"),
        }
    }

    /// The state the event reports, for deduplication (`event.type + subject + new_status`).
    pub fn state(&self) -> String {
        if let Some(c) = &self.change {
            return c.new_status.as_str().to_owned();
        }
        if let Some(p) = &self.page {
            return p.new_indicator.as_str().to_owned();
        }
        if let Some(i) = &self.incident {
            return format!("{:?}", i.status).to_ascii_lowercase();
        }
        if let Some(m) = &self.maintenance {
            return m.status.as_str().to_owned();
        }
        if let Some(b) = &self.burn {
            return if b.firing { "firing" } else { "ok" }.to_owned();
        }
        if let Some(c) = &self.credit {
            return if c.low { "low" } else { "ok" }.to_owned();
        }
        String::new()
    }
}

/// A random id for events and deliveries.
pub fn new_id() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

/// The page indicator as a component status, so rules compare both with `min_status`.
pub fn indicator_level(i: Indicator) -> ComponentStatus {
    match i {
        Indicator::None => ComponentStatus::Operational,
        Indicator::Maintenance => ComponentStatus::UnderMaintenance,
        Indicator::Minor => ComponentStatus::DegradedPerformance,
        Indicator::Major => ComponentStatus::PartialOutage,
        Indicator::Critical => ComponentStatus::MajorOutage,
    }
}

/// An incident's impact as a component status (§1.4 backwards).
pub fn impact_level(i: Impact) -> ComponentStatus {
    match i {
        Impact::None | Impact::Maintenance => ComponentStatus::Operational,
        Impact::Minor => ComponentStatus::DegradedPerformance,
        Impact::Major => ComponentStatus::PartialOutage,
        Impact::Critical => ComponentStatus::MajorOutage,
    }
}
