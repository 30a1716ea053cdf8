//! The board under a new `[status]`: thresholds reach every publisher, incident rules the
//! tracker, the config file's maintenance windows replace the previous file's, all without
//! losing published statuses, open incidents or windows made through the admin API.

use std::sync::Arc;
use std::time::Duration;

use super::{StatusBoard, now_ms};
use crate::status::maintenance::Origin;
use crate::status::settings::StatusSettings;

impl StatusBoard {
    /// Applies `[status]` (at start and on every reload).
    pub fn apply_settings(&self, settings: StatusSettings) {
        let now = now_ms();
        let mut state = self.lock();
        for publisher in state.publishers.values_mut() {
            publisher.set_thresholds(&settings.thresholds);
        }
        state.tracker.set_settings(settings.incidents.clone());
        state.maintenance.retain(|m| m.origin == Origin::Api);
        state
            .maintenance
            .extend(settings.maintenance.iter().cloned());
        drop(state);
        self.settings.store(Arc::new(settings));
        self.publish(now);
    }

    /// The settings in force.
    pub fn settings(&self) -> Arc<StatusSettings> {
        self.settings.load_full()
    }

    /// How long the evaluation loop waits between two rounds.
    pub fn eval_interval(&self) -> Duration {
        self.settings.load().eval_interval
    }
}
