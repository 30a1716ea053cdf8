//! Side loop after status (DESIGN.md §1): alerts. A background task takes the board's events
//! as they happen, turns them into notifications by the configured rules ([`rules`]), adds
//! SLO burn-rate alerts computed from the health minute counts ([`slo`]), holds back what
//! maintenance covers, and hands deliveries to a bounded queue ([`deliver`]) — never on the
//! request path.

pub mod credit;
pub mod deliver;
pub mod payload;
pub mod rules;
pub mod sign;
pub mod slo;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use turnout_config::{AlertChannelConfig, ChannelKind};

use self::deliver::{Content, Failure, Job, Queue, RetryPolicy};
use self::payload::Page;
use self::rules::{Engine, Notification, Phase, Rule};
use super::board::StatusBoard;
use super::events::{EventKind, StatusEvent, new_id};
use super::settings::StatusSettings;
use crate::health::Health;
use crate::upstream::client::build_webhook_client;

/// How often the task looks for reminders and a new minute of SLO data when no event wakes it.
const TICK: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Config {
    enabled: bool,
    channels: HashMap<String, AlertChannelConfig>,
    policy: RetryPolicy,
    slo: slo::Slo,
    queue_size: usize,
}

impl Config {
    fn of(s: &StatusSettings) -> Config {
        Config {
            enabled: s.enabled,
            channels: s
                .alerts
                .channels
                .iter()
                .map(|c| (c.id.clone(), c.clone()))
                .collect(),
            policy: RetryPolicy {
                timeout: s.alerts.timeout,
                max_attempts: s.alerts.max_attempts,
                backoff: s.alerts.backoff,
                backoff_max: s.alerts.backoff_max,
            },
            slo: slo::Slo::from(&s.slo),
            queue_size: s.alerts.queue_size,
        }
    }
}

fn rules_of(s: &StatusSettings) -> (Vec<Rule>, u64) {
    (
        s.alerts.rules.iter().map(Rule::from).collect(),
        u64::try_from(s.alerts.dedup_window.as_millis()).unwrap_or(u64::MAX),
    )
}

#[derive(Debug, Default)]
struct State {
    engine: Engine,
    slo: slo::Tracker,
    /// The minute the SLO engine last ran.
    slo_minute: Option<u64>,
}

#[derive(Debug)]
pub struct Alerts {
    config: ArcSwap<Config>,
    state: Mutex<State>,
    /// Started with the task (it needs the runtime); `None` inside when no HTTP client could
    /// be built.
    queue: OnceLock<Option<Queue>>,
}

/// Why a channel test could not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TestError {
    #[error("no alert channel `{0}`")]
    NoChannel(String),
    #[error("{0}")]
    Failed(String),
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The right-hand side of message ids: the sender's domain.
fn mail_domain(from: &str) -> String {
    from.rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>').trim().to_owned())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "turnout.invalid".to_owned())
}

impl Alerts {
    pub fn new(settings: &StatusSettings) -> Alerts {
        let (rules, dedup) = rules_of(settings);
        Alerts {
            config: ArcSwap::from_pointee(Config::of(settings)),
            state: Mutex::new(State {
                engine: Engine::new(rules, dedup),
                ..State::default()
            }),
            queue: OnceLock::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// New channels and rules from a reloaded config; open alerts of rules that keep their
    /// name stay open. The queue keeps its size until restart.
    pub fn apply(&self, settings: &StatusSettings) {
        let (rules, dedup) = rules_of(settings);
        self.lock().engine.set_rules(rules, dedup);
        self.config.store(Arc::new(Config::of(settings)));
    }

    fn queue(&self) -> Option<&Queue> {
        self.queue
            .get_or_init(|| match build_webhook_client(Duration::from_secs(10)) {
                Ok(http) => Some(Queue::start(self.config.load().queue_size, http)),
                Err(e) => {
                    tracing::error!(error = %e, "alerts disabled: no HTTP client");
                    None
                }
            })
            .as_ref()
    }

    fn page(board: &StatusBoard) -> Page {
        let settings = board.settings();
        Page {
            id: board.page_id.clone(),
            name: settings.name.clone(),
            url: settings.link(""),
        }
    }

    /// Whether maintenance holds back alerts about this event: every component it is about is
    /// covered. Maintenance announcements and the page's own changes are never held.
    fn suppressed(board: &StatusBoard, e: &StatusEvent, now: u64) -> bool {
        let held_kind = !matches!(
            e.kind,
            EventKind::PageStatusChanged
                | EventKind::MaintenanceScheduled
                | EventKind::MaintenanceStarted
                | EventKind::MaintenanceCompleted
                | EventKind::Test
        );
        held_kind
            && !e.targets.is_empty()
            && e.targets
                .iter()
                .all(|t| board.maintenance_suppresses(&t.id, now))
    }

    /// SLO burn-rate events, when a rule listens to them: once a minute, and at once when a
    /// component's status changed (when a burn is most likely to start or stop).
    fn burn_events(
        &self,
        state: &mut State,
        board: &StatusBoard,
        health: &Health,
        now: u64,
        status_changed: bool,
    ) -> Vec<StatusEvent> {
        let minute = now / 60_000;
        if (state.slo_minute == Some(minute) && !status_changed)
            || !state.engine.listens_to(EventKind::SloBurnRate)
        {
            return Vec::new();
        }
        state.slo_minute = Some(minute);
        let targets = board.leaf_targets();
        let followed: Vec<slo::Followed> = targets
            .iter()
            .map(|(key, t)| slo::Followed {
                component: t.id.clone(),
                key: key.clone(),
            })
            .collect();
        let source =
            |key: &str, m: u64, span: u64| health.minute_counts(key, m, span).unwrap_or_default();
        let config = self.config.load();
        state
            .slo
            .evaluate(&config.slo, &followed, &source, minute)
            .into_iter()
            .filter_map(|(component, burn)| {
                let (_, target) = targets.iter().find(|(_, t)| t.id == component)?;
                tracing::info!(component = %target.name, severity = burn.severity.as_str(),
                    firing = burn.firing, long_burn_rate = burn.long_burn_rate,
                    short_burn_rate = burn.short_burn_rate, "SLO burn rate");
                let mut e = StatusEvent::new(EventKind::SloBurnRate, now);
                e.targets = vec![target.clone()];
                e.burn = Some(burn);
                let snapshot = board.snapshot();
                e.indicator = snapshot.indicator.unwrap_or(super::derive::Indicator::None);
                e.description = snapshot.description.clone();
                Some(e)
            })
            .collect()
    }

    /// One round: the board's new events, this minute's burn rates, reminders; then the
    /// deliveries are queued.
    pub fn round(&self, board: &StatusBoard, health: &Health, now: u64) {
        let events = board.drain_events();
        if !self.config.load().enabled {
            return;
        }
        let mut notifications = Vec::new();
        {
            let mut state = self.lock();
            let status_changed = events
                .iter()
                .any(|e| e.kind == EventKind::ComponentStatusChanged);
            let burns = self.burn_events(&mut state, board, health, now, status_changed);
            for e in events.into_iter().chain(burns) {
                let held = Self::suppressed(board, &e, now);
                notifications.extend(state.engine.on_event(e, now, held));
            }
            notifications.extend(state.engine.tick(now, |e| Self::suppressed(board, e, now)));
        }
        for n in &notifications {
            self.dispatch(n, board);
        }
    }

    fn job(&self, n: &Notification, page: &Page, channel: &AlertChannelConfig) -> Option<Job> {
        let config = self.config.load();
        let content = match channel.kind {
            ChannelKind::Webhook | ChannelKind::Slack => {
                let body = if channel.kind == ChannelKind::Webhook {
                    payload::native(n, page)
                } else {
                    payload::slack(n, page)
                };
                Content::Http {
                    url: channel.url.clone()?,
                    body: Bytes::from(serde_json::to_vec(&body).ok()?),
                    secret: channel.secret.clone(),
                }
            }
            ChannelKind::Email => {
                let from = channel.from.clone()?;
                Content::Email {
                    smtp_url: channel.smtp_url.clone()?,
                    email: payload::email(n, page, &mail_domain(&from)),
                    from,
                    to: channel.to.clone(),
                }
            }
        };
        Some(Job {
            delivery_id: new_id(),
            event: n.event.kind.as_str(),
            channel: channel.id.clone(),
            kind: channel.kind,
            content,
            policy: config.policy,
        })
    }

    fn dispatch(&self, n: &Notification, board: &StatusBoard) {
        let page = Self::page(board);
        let config = self.config.load();
        tracing::info!(event = n.event.kind.as_str(), phase = n.phase.as_str(),
            rules = ?n.rules, channels = ?n.channels, "alert");
        let Some(queue) = self.queue() else { return };
        for id in &n.channels {
            let Some(channel) = config.channels.get(id) else {
                continue;
            };
            if let Some(job) = self.job(n, &page, channel) {
                queue.push(job);
            }
        }
    }

    /// Sends a test notification to one channel now (one attempt) and says how it went.
    pub async fn test_channel(&self, id: &str, board: &StatusBoard) -> Result<(), TestError> {
        let config = self.config.load_full();
        let channel = config
            .channels
            .get(id)
            .ok_or_else(|| TestError::NoChannel(id.to_owned()))?;
        let n = Notification {
            event: Arc::new(StatusEvent::new(EventKind::Test, now_ms())),
            phase: Phase::Info,
            channels: vec![id.to_owned()],
            rules: Vec::new(),
        };
        let job = self
            .job(&n, &Self::page(board), channel)
            .ok_or_else(|| TestError::Failed("the channel is incomplete".into()))?;
        let http = build_webhook_client(Duration::from_secs(10))
            .map_err(|e| TestError::Failed(format!("no HTTP client: {e}")))?;
        deliver::attempt(&http, &job).await.map_err(|f| match f {
            Failure::Retryable(t) | Failure::Permanent(t) => TestError::Failed(t),
        })
    }
}

/// The alert task: wakes on new events (or every second for reminders and SLO minutes)
/// while the board lives.
pub async fn run(alerts: Arc<Alerts>, board: Weak<StatusBoard>, health: Arc<Health>) {
    alerts.queue();
    loop {
        let Some(b) = board.upgrade() else { return };
        tokio::select! {
            () = b.events_ready() => {}
            () = tokio::time::sleep(TICK) => {}
        }
        alerts.round(&b, &health, now_ms());
    }
}
