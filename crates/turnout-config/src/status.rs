//! The `[status]` section: spec/status.md §5.11 in TOML. Durations are strings with a unit
//! (`"30s"`, `"5m"`, `"1h30m"`) or integers of milliseconds; every default is the spec's.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

pub use crate::duration::Recurrence;

/// `[status]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusConfig {
    /// `false`: no `/status` page or JSON, no alerts (statuses are still derived for routing).
    pub enabled: bool,
    pub name: String,
    /// Where the status page (`/status`) is reached from outside, e.g.
    /// `https://gw.acme.ai/status`: the page's `url`, incident shortlinks, links in alerts.
    pub public_url: Option<String>,
    /// Days of uptime history kept and shown.
    pub history_days: u32,
    pub health: StatusHealthConfig,
    pub incidents: IncidentsConfig,
    pub probes: ProbesConfig,
    pub maintenance: Vec<MaintenanceConfig>,
    pub alerts: AlertsConfig,
    pub slo: SloConfig,
}

impl Default for StatusConfig {
    fn default() -> Self {
        StatusConfig {
            enabled: true,
            name: "Turnout".to_owned(),
            public_url: None,
            history_days: 90,
            health: StatusHealthConfig::default(),
            incidents: IncidentsConfig::default(),
            probes: ProbesConfig::default(),
            maintenance: Vec::new(),
            alerts: AlertsConfig::default(),
            slo: SloConfig::default(),
        }
    }
}

/// A component status, as rules and incident settings name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusLevel {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

/// `[status.health]`: how live traffic becomes a status (§5.4).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusHealthConfig {
    #[serde(deserialize_with = "crate::duration::duration")]
    pub eval_interval: Duration,
    pub windows: HealthWindows,
    pub min_requests: MinRequests,
    pub thresholds: HealthThresholds,
    pub hysteresis: HysteresisConfig,
    /// §5.4: a major outage during maintenance is logged but not published unless this is set.
    pub publish_major_during_maintenance: bool,
}

impl Default for StatusHealthConfig {
    fn default() -> Self {
        StatusHealthConfig {
            eval_interval: Duration::from_secs(10),
            windows: HealthWindows::default(),
            min_requests: MinRequests::default(),
            thresholds: HealthThresholds::default(),
            hysteresis: HysteresisConfig::default(),
            publish_major_during_maintenance: false,
        }
    }
}

/// Passive windows; whole minutes (the health log counts per minute).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthWindows {
    #[serde(deserialize_with = "crate::duration::duration")]
    pub fast: Duration,
    #[serde(deserialize_with = "crate::duration::duration")]
    pub main: Duration,
    #[serde(deserialize_with = "crate::duration::duration")]
    pub latency: Duration,
}

impl Default for HealthWindows {
    fn default() -> Self {
        HealthWindows {
            fast: Duration::from_secs(120),
            main: Duration::from_secs(300),
            latency: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MinRequests {
    pub fast: u64,
    pub main: u64,
}

impl Default for MinRequests {
    fn default() -> Self {
        MinRequests { fast: 10, main: 20 }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthThresholds {
    pub major_error_ratio: f64,
    pub partial_error_ratio: f64,
    pub degraded_error_ratio: f64,
    pub degraded_429_ratio: f64,
    pub ttft_slo_ms: u64,
    pub ttft_baseline_factor: f64,
    pub tps_baseline_factor: f64,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        HealthThresholds {
            major_error_ratio: 0.50,
            partial_error_ratio: 0.05,
            degraded_error_ratio: 0.01,
            degraded_429_ratio: 0.05,
            ttft_slo_ms: 5_000,
            ttft_baseline_factor: 2.0,
            tps_baseline_factor: 0.5,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HysteresisConfig {
    pub worsen_evals_outage: u32,
    pub worsen_evals_degraded: u32,
    #[serde(deserialize_with = "crate::duration::duration")]
    pub recovery_period: Duration,
    pub flap_transitions: u32,
    #[serde(deserialize_with = "crate::duration::duration")]
    pub flap_window: Duration,
    /// A flapping component settles after this long without a raw change.
    #[serde(deserialize_with = "crate::duration::duration")]
    pub flap_quiet: Duration,
}

impl Default for HysteresisConfig {
    fn default() -> Self {
        HysteresisConfig {
            worsen_evals_outage: 2,
            worsen_evals_degraded: 3,
            recovery_period: Duration::from_secs(300),
            flap_transitions: 4,
            flap_window: Duration::from_secs(1_800),
            flap_quiet: Duration::from_secs(900),
        }
    }
}

/// `[status.incidents]` (§5.6).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentsConfig {
    pub auto_open: AutoOpenConfig,
    /// Off unless set: a component degraded this long opens a minor incident.
    #[serde(deserialize_with = "crate::duration::opt_duration")]
    pub open_on_degraded_after: Option<Duration>,
    #[serde(deserialize_with = "crate::duration::duration")]
    pub monitoring_to_resolved: Duration,
    #[serde(deserialize_with = "crate::duration::duration")]
    pub reopen_within: Duration,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        IncidentsConfig {
            auto_open: AutoOpenConfig::default(),
            open_on_degraded_after: None,
            monitoring_to_resolved: Duration::from_secs(600),
            reopen_within: Duration::from_secs(1_800),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutoOpenConfig {
    /// Statuses that open an incident (`partial_outage`, `major_outage`); empty = never.
    pub on: Vec<StatusLevel>,
    #[serde(deserialize_with = "crate::duration::duration")]
    pub after: Duration,
}

impl Default for AutoOpenConfig {
    fn default() -> Self {
        AutoOpenConfig {
            on: vec![StatusLevel::PartialOutage, StatusLevel::MajorOutage],
            after: Duration::from_secs(60),
        }
    }
}

impl AutoOpenConfig {
    /// The least severe status that opens an incident; `None` when auto-open is off.
    pub fn opens_at(&self) -> Option<StatusLevel> {
        self.on.iter().copied().min()
    }
}

/// `[status.probes]` (§5.5): read by the prober.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbesConfig {
    pub enabled: bool,
    #[serde(deserialize_with = "crate::duration::duration")]
    pub interval: Duration,
    /// Probe interval while the component's raw state is not operational.
    #[serde(deserialize_with = "crate::duration::duration")]
    pub suspect_interval: Duration,
    /// ± this share of the interval, so probes of many components do not line up.
    pub jitter: f64,
    pub adaptive_skip: AdaptiveSkipConfig,
    /// Consecutive failed probes for a major outage.
    pub failure_threshold: u32,
    /// Consecutive ok probes before a probe-only component may recover.
    pub success_threshold: u32,
    pub timeout: ProbeTimeoutConfig,
    /// A probe slower than this to its first token counts towards degraded.
    pub degraded_after_ms: u64,
    pub concurrency: ProbeConcurrencyConfig,
    /// Cost guard: past this many tokens a day on one provider, probes slow to every 5 min.
    pub max_daily_tokens_per_provider: u64,
}

impl Default for ProbesConfig {
    fn default() -> Self {
        ProbesConfig {
            enabled: true,
            interval: Duration::from_secs(30),
            suspect_interval: Duration::from_secs(10),
            jitter: 0.1,
            adaptive_skip: AdaptiveSkipConfig::default(),
            failure_threshold: 3,
            success_threshold: 2,
            timeout: ProbeTimeoutConfig::default(),
            degraded_after_ms: 8_000,
            concurrency: ProbeConcurrencyConfig::default(),
            max_daily_tokens_per_provider: 200_000,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveSkipConfig {
    /// Skip a due probe when live traffic had this many ok requests and no hard error in the
    /// last interval.
    pub min_ok_live_requests: u64,
    /// Never skip more than this many probes in a row.
    pub max_consecutive_skips: u32,
}

impl Default for AdaptiveSkipConfig {
    fn default() -> Self {
        AdaptiveSkipConfig {
            min_ok_live_requests: 5,
            max_consecutive_skips: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeTimeoutConfig {
    #[serde(deserialize_with = "crate::duration::duration")]
    pub ttft: Duration,
    #[serde(deserialize_with = "crate::duration::duration")]
    pub total: Duration,
}

impl Default for ProbeTimeoutConfig {
    fn default() -> Self {
        ProbeTimeoutConfig {
            ttft: Duration::from_secs(30),
            total: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConcurrencyConfig {
    pub global: u32,
    pub per_provider: u32,
}

impl Default for ProbeConcurrencyConfig {
    fn default() -> Self {
        ProbeConcurrencyConfig {
            global: 8,
            per_provider: 2,
        }
    }
}

/// `[[status.maintenance]]`: a one-off window (`start`, `end`) or a recurring one (`every`,
/// `duration`), over the components its `providers` and `models` select (none = the whole page).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceConfig {
    pub name: String,
    /// What users read on the page.
    pub body: Option<String>,
    /// Unix ms (RFC 3339 in the file).
    #[serde(default, deserialize_with = "crate::duration::opt_time")]
    pub start: Option<i64>,
    #[serde(default, deserialize_with = "crate::duration::opt_time")]
    pub end: Option<i64>,
    /// `"sun 02:00"`, `"daily 03:30"` (UTC).
    #[serde(default, deserialize_with = "crate::duration::opt_recurrence")]
    pub every: Option<Recurrence>,
    #[serde(default, deserialize_with = "crate::duration::opt_duration")]
    pub duration: Option<Duration>,
    /// Provider slugs: the provider's group and every model it serves.
    #[serde(default)]
    pub providers: Vec<String>,
    /// Model ids: the model on every provider that serves it.
    #[serde(default)]
    pub models: Vec<String>,
}

/// `[status.alerts]` (§5.7).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    pub channels: Vec<AlertChannelConfig>,
    pub rules: Vec<AlertRuleConfig>,
    /// One delivery attempt's limit (a receiver must answer 2xx within it).
    #[serde(deserialize_with = "crate::duration::duration")]
    pub timeout: Duration,
    /// Attempts per delivery, the first included; retried on 5xx, timeouts and network errors.
    pub max_attempts: u32,
    /// Wait before the first retry; doubles (± 20 % jitter) up to `backoff_max`.
    #[serde(deserialize_with = "crate::duration::duration")]
    pub backoff: Duration,
    #[serde(deserialize_with = "crate::duration::duration")]
    pub backoff_max: Duration,
    /// The same notification (rule, event, subject, status) is not sent twice within this.
    #[serde(deserialize_with = "crate::duration::duration")]
    pub dedup_window: Duration,
    /// Deliveries waiting beyond this many are dropped (and counted).
    pub queue_size: usize,
    /// Status alerts for components under maintenance are suppressed from this long before
    /// a window starts …
    #[serde(deserialize_with = "crate::duration::duration")]
    pub suppress_before_maintenance: Duration,
    /// … to this long after it ends.
    #[serde(deserialize_with = "crate::duration::duration")]
    pub suppress_after_maintenance: Duration,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            channels: Vec::new(),
            rules: Vec::new(),
            timeout: Duration::from_secs(10),
            max_attempts: 3,
            backoff: Duration::from_secs(5),
            backoff_max: Duration::from_secs(120),
            dedup_window: Duration::from_secs(600),
            queue_size: 1_024,
            suppress_before_maintenance: Duration::from_secs(300),
            suppress_after_maintenance: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// JSON POST signed with HMAC-SHA256.
    Webhook,
    /// A Slack-compatible incoming webhook (Mattermost, Rocket.Chat, Discord's `/slack`).
    Slack,
    /// SMTP.
    Email,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Email => "email",
        }
    }
}

/// `[[status.alerts.channels]]`. Which keys apply depends on `kind`: `url` (+ `secret`) for
/// webhook and slack, `smtp_url`, `from`, `to` for email.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertChannelConfig {
    pub id: String,
    pub kind: ChannelKind,
    /// May carry a token (Slack's URLs do): never shown.
    pub url: Option<SecretString>,
    /// HMAC-SHA256 key of webhook signatures.
    pub secret: Option<SecretString>,
    /// `smtp://host:port` (plain), `smtp://…?tls=required` (STARTTLS), `smtps://user:pass@host:465`.
    pub smtp_url: Option<SecretString>,
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
}

/// What a rule hears: the whole page, one provider's group, or one model on one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertScope {
    #[default]
    Page,
    Group,
    Component,
}

/// An SLO burn-rate alert's severity (§4.5): `page` is urgent, `ticket` can wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BurnSeverity {
    #[default]
    Ticket,
    Page,
}

impl BurnSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            BurnSeverity::Ticket => "ticket",
            BurnSeverity::Page => "page",
        }
    }
}

/// Every event an alert rule may name (§5.7).
pub const ALERT_EVENTS: [&str; 11] = [
    "component.status_changed",
    "group.status_changed",
    "page.status_changed",
    "incident.created",
    "incident.updated",
    "incident.resolved",
    "maintenance.scheduled",
    "maintenance.started",
    "maintenance.completed",
    "slo.burn_rate",
    "account.low_credit",
];

/// Whether an `events` entry (`incident.*`, `*`, or a name) matches `event`.
pub fn event_pattern_matches(pattern: &str, event: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event.starts_with(prefix),
        None => pattern == event,
    }
}

/// `[[status.alerts.rules]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleConfig {
    pub name: String,
    /// Channel ids.
    pub channels: Vec<String>,
    /// Event names or globs (`incident.*`).
    pub events: Vec<String>,
    #[serde(default)]
    pub scope: AlertScope,
    /// For `scope = "group"` and `"component"`: the provider slug.
    pub provider: Option<String>,
    /// For `scope = "component"`: the model id.
    pub model: Option<String>,
    /// Status and incident events below this are not sent.
    #[serde(default = "default_min_status")]
    pub min_status: StatusLevel,
    /// `slo.burn_rate` events below this are not sent.
    #[serde(default)]
    pub min_severity: BurnSeverity,
    /// Say so when the problem is over.
    #[serde(default = "yes")]
    pub send_on_resolved: bool,
    /// Repeat while the problem lasts (off unless set; at least 15 min).
    #[serde(default, deserialize_with = "crate::duration::opt_duration")]
    pub reminder_interval: Option<Duration>,
}

fn default_min_status() -> StatusLevel {
    StatusLevel::DegradedPerformance
}

fn yes() -> bool {
    true
}

/// `[status.slo]`: burn-rate alerting (§4.5, §5.7).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SloConfig {
    /// Share of counted requests that must succeed, e.g. 0.995.
    pub availability_target: f64,
    #[serde(deserialize_with = "crate::duration::duration")]
    pub period: Duration,
    /// Burn rates on fewer counted requests than this in the short window are noise.
    pub min_events_short_window: u64,
    pub policies: Vec<BurnPolicyConfig>,
}

impl Default for SloConfig {
    fn default() -> Self {
        let policy = |severity, long_h: u64, short_m: u64, burn| BurnPolicyConfig {
            severity,
            long: Duration::from_secs(long_h * 3_600),
            short: Duration::from_secs(short_m * 60),
            burn,
        };
        SloConfig {
            availability_target: 0.995,
            period: Duration::from_secs(30 * 86_400),
            min_events_short_window: 20,
            policies: vec![
                policy(BurnSeverity::Page, 1, 5, 14.4),
                policy(BurnSeverity::Page, 6, 30, 6.0),
                policy(BurnSeverity::Ticket, 72, 360, 1.0),
            ],
        }
    }
}

/// One multiwindow burn-rate rule: fires when both windows burn the error budget at least
/// `burn` times faster than the SLO allows.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnPolicyConfig {
    pub severity: BurnSeverity,
    #[serde(deserialize_with = "crate::duration::duration")]
    pub long: Duration,
    #[serde(deserialize_with = "crate::duration::duration")]
    pub short: Duration,
    pub burn: f64,
}

/// The longest SLO window the gateway keeps counts for.
pub const MAX_SLO_WINDOW: Duration = Duration::from_secs(7 * 86_400);
/// The shortest reminder interval (§5.7).
pub const MIN_REMINDER_INTERVAL: Duration = Duration::from_secs(15 * 60);
