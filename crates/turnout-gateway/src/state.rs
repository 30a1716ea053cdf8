//! Shared state: the running configuration, swapped atomically on reload.

use std::sync::Arc;

use arc_swap::ArcSwap;
use turnout_config::{Config, RoutingConfig};

use crate::accounting::Accounts;
use crate::health::Health;
use crate::routing::sticky::StickyTable;
use crate::status::alerts::Alerts;
use crate::status::board::StatusBoard;
use crate::status::derive::ComponentStatus;
use crate::status::history::History;
use crate::status::probe::{ProbeHost, ProbeLog, ProbeSettings};
use crate::status::settings::StatusSettings;

use crate::ingress::auth::Authenticator;
use crate::routing::catalog::{Catalog, CatalogError};

/// Everything built from one configuration file. Requests take a snapshot (an `Arc`) and use
/// it to the end, so a reload never changes a request half-way.
#[derive(Debug)]
pub struct Runtime {
    pub catalog: Catalog,
    pub auth: Authenticator,
    pub max_body_bytes: usize,
    pub routing: RoutingConfig,
    /// Unix seconds when this configuration was loaded (the `created` of listed models).
    pub loaded_at: u64,
    /// The status page's name (`[status] name`, default "Turnout").
    pub status_name: String,
    /// `[status]`: thresholds, incident rules, maintenance, alerts.
    pub status: Arc<StatusSettings>,
    /// `[status.probes]`.
    pub probes: ProbeSettings,
}

impl Runtime {
    pub fn build(config: &Config) -> Result<Runtime, CatalogError> {
        Ok(Runtime {
            catalog: Catalog::build(config)?,
            auth: Authenticator::from_config(&config.auth),
            max_body_bytes: config.server.max_body_bytes,
            routing: config.routing.clone(),
            status_name: config.status.name.clone(),
            status: Arc::new(StatusSettings::from_config(&config.status)),
            probes: ProbeSettings::from_config(&config.status.probes),
            loaded_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        })
    }
}

#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    runtime: ArcSwap<Runtime>,
    /// Outlives reloads: endpoints keep their history when the config changes.
    health: Arc<Health>,
    sticky: Arc<StickyTable>,
    accounts: Arc<Accounts>,
    status: Arc<StatusBoard>,
    probes: Arc<ProbeLog>,
    history: Arc<History>,
    alerts: Arc<Alerts>,
    credit_watch: Arc<tokio::sync::Mutex<crate::status::alerts::credit::CreditWatch>>,
}

impl AppState {
    pub fn new(runtime: Runtime, accounts: Arc<Accounts>) -> Self {
        let health = Arc::new(Health::new(runtime.routing.breaker.clone()));
        let status = Arc::new(StatusBoard::new("turnout", &runtime.status_name));
        status.sync_catalog(&runtime.catalog);
        status.apply_settings((*runtime.status).clone());
        let alerts = Arc::new(Alerts::new(&runtime.status));
        let probes = Arc::new(ProbeLog::default());
        let history = Arc::new(History::new(accounts.store().clone()));
        let inner = Arc::new(Inner {
            runtime: ArcSwap::from_pointee(runtime),
            health: health.clone(),
            sticky: Arc::new(StickyTable::default()),
            accounts,
            status: status.clone(),
            probes: probes.clone(),
            history: history.clone(),
            alerts: alerts.clone(),
            credit_watch: Arc::default(),
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(crate::status::history::run(
                history,
                Arc::downgrade(&status),
                health.clone(),
            ));
            rt.spawn(crate::status::board::run(
                Arc::downgrade(&status),
                health.clone(),
                probes,
            ));
            rt.spawn(crate::status::alerts::run(
                alerts,
                Arc::downgrade(&status),
                health,
            ));
            rt.spawn(crate::status::probe::run(Arc::downgrade(&inner)));
            let restoring = Self {
                inner: inner.clone(),
            };
            rt.spawn(async move {
                crate::web::status_admin::restore_maintenances(&restoring).await;
            });
            rt.spawn(crate::status::alerts::credit::run(
                inner.credit_watch.clone(),
                Arc::downgrade(&inner.status),
                inner.accounts.clone(),
            ));
        }
        Self { inner }
    }

    pub fn history(&self) -> &Arc<History> {
        &self.inner.history
    }

    /// Writes the status history now (on a graceful stop, and in tests).
    pub async fn flush_history(&self) {
        self.inner
            .history
            .flush(&self.inner.status, Some(&self.inner.health))
            .await;
    }

    /// Compares balances with their low-balance alerts now (the background check runs every
    /// 30 s) and queues the events for the alert rules.
    pub async fn check_low_credit(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let events = self
            .inner
            .credit_watch
            .lock()
            .await
            .check(&self.inner.accounts, now)
            .await;
        self.inner.status.send(events, now);
    }

    pub fn probes(&self) -> &Arc<ProbeLog> {
        &self.inner.probes
    }

    pub fn health(&self) -> &Arc<Health> {
        &self.inner.health
    }

    pub fn sticky(&self) -> &Arc<StickyTable> {
        &self.inner.sticky
    }

    pub fn status(&self) -> &Arc<StatusBoard> {
        &self.inner.status
    }

    pub fn alerts(&self) -> &Arc<Alerts> {
        &self.inner.alerts
    }

    pub fn accounts(&self) -> &Arc<Accounts> {
        &self.inner.accounts
    }

    pub fn runtime(&self) -> Arc<Runtime> {
        self.inner.runtime.load_full()
    }

    /// Replaces the running configuration; requests in flight keep the one they started with.
    pub fn swap(&self, runtime: Runtime) {
        self.inner
            .health
            .set_config(runtime.routing.breaker.clone());
        self.inner.status.sync_catalog(&runtime.catalog);
        self.inner.status.apply_settings((*runtime.status).clone());
        self.inner.alerts.apply(&runtime.status);
        self.inner.runtime.store(Arc::new(runtime));
    }
}

impl ProbeHost for Inner {
    fn settings(&self) -> ProbeSettings {
        self.runtime.load().probes.clone()
    }

    fn targets(&self) -> Vec<(Arc<str>, crate::routing::catalog::Target)> {
        let runtime = self.runtime.load();
        let mut out = Vec::new();
        for model in runtime.catalog.models() {
            for endpoint in &model.endpoints {
                // A wildcard entry has no model of its own to ask for.
                let Some(upstream_model) = &endpoint.upstream_model else {
                    continue;
                };
                out.push((
                    endpoint.key.clone(),
                    crate::routing::catalog::Target {
                        model_id: model.id.clone(),
                        upstream_model: upstream_model.clone(),
                        endpoint: endpoint.clone(),
                        fallbacks: None,
                    },
                ));
            }
        }
        out
    }

    fn providers(&self) -> Vec<Arc<crate::routing::catalog::Provider>> {
        self.runtime.load().catalog.providers().to_vec()
    }

    fn live(&self, key: &str) -> (u64, u64) {
        let c = self.health.this_minute(key);
        (c.ok, c.errors)
    }

    fn published(&self, key: &str) -> Option<ComponentStatus> {
        self.status.endpoint_status(key)
    }

    fn on_probe(&self, key: &str, ok: bool) {
        self.health.note_probe(key, ok, std::time::Instant::now());
    }

    fn log(&self) -> &ProbeLog {
        &self.probes
    }
}
