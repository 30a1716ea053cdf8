//! `[status]` as the status machinery uses it: the derive thresholds, incident rules, health
//! windows and evaluation interval, maintenance windows and alerting, built once per config
//! load and swapped in on reload.

use std::time::Duration;

use turnout_config::{
    AlertsConfig, MaintenanceConfig, SloConfig, StatusConfig, StatusLevel, format_duration,
};

use super::derive::{ComponentStatus, IncidentSettings, Thresholds};
use super::maintenance::{Maintenance, Origin, Schedule, Selector};
use crate::health::Windows;

#[derive(Debug, Clone)]
pub struct StatusSettings {
    pub enabled: bool,
    pub name: String,
    /// Where `/status` is reached from outside (no trailing slash).
    pub public_url: Option<String>,
    pub eval_interval: Duration,
    pub windows: Windows,
    pub thresholds: Thresholds,
    pub incidents: IncidentSettings,
    /// The config file's windows.
    pub maintenance: Vec<Maintenance>,
    pub alerts: AlertsConfig,
    pub slo: SloConfig,
}

impl Default for StatusSettings {
    fn default() -> Self {
        StatusSettings::from_config(&StatusConfig::default())
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub fn component_status(level: StatusLevel) -> ComponentStatus {
    match level {
        StatusLevel::Operational => ComponentStatus::Operational,
        StatusLevel::UnderMaintenance => ComponentStatus::UnderMaintenance,
        StatusLevel::DegradedPerformance => ComponentStatus::DegradedPerformance,
        StatusLevel::PartialOutage => ComponentStatus::PartialOutage,
        StatusLevel::MajorOutage => ComponentStatus::MajorOutage,
    }
}

impl StatusSettings {
    pub fn from_config(c: &StatusConfig) -> StatusSettings {
        let h = &c.health;
        let t = &h.thresholds;
        let hy = &h.hysteresis;
        let defaults = Thresholds::default();
        let thresholds = Thresholds {
            min_requests_fast: h.min_requests.fast,
            min_requests_main: h.min_requests.main,
            major_error_ratio: t.major_error_ratio,
            partial_error_ratio: t.partial_error_ratio,
            degraded_error_ratio: t.degraded_error_ratio,
            degraded_429_ratio: t.degraded_429_ratio,
            ttft_slo_ms: t.ttft_slo_ms,
            // Reasoning models keep three times the objective until the catalog tells them apart.
            ttft_slo_ms_reasoning: t.ttft_slo_ms.saturating_mul(3),
            ttft_baseline_factor: t.ttft_baseline_factor,
            tps_baseline_factor: t.tps_baseline_factor,
            failure_threshold: usize::try_from(c.probes.failure_threshold)
                .unwrap_or(defaults.failure_threshold),
            success_threshold: c.probes.success_threshold,
            degraded_after_ms: c.probes.degraded_after_ms,
            worsen_evals_outage: hy.worsen_evals_outage,
            worsen_evals_degraded: hy.worsen_evals_degraded,
            recovery_period_ms: ms(hy.recovery_period),
            flap_transitions: usize::try_from(hy.flap_transitions)
                .unwrap_or(defaults.flap_transitions),
            flap_window_ms: ms(hy.flap_window),
            flap_quiet_ms: ms(hy.flap_quiet),
            publish_major_during_maintenance: h.publish_major_during_maintenance,
            ..defaults
        };
        let i = &c.incidents;
        let incidents = IncidentSettings {
            open_at: i.auto_open.opens_at().map(component_status),
            open_after_ms: ms(i.auto_open.after),
            open_on_degraded_after_ms: i.open_on_degraded_after.map(ms),
            monitoring_to_resolved_ms: ms(i.monitoring_to_resolved),
            reopen_within_ms: ms(i.reopen_within),
        };
        let minutes = |d: Duration| (d.as_secs() / 60).max(1);
        StatusSettings {
            enabled: c.enabled,
            name: c.name.clone(),
            public_url: c
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_owned()),
            eval_interval: h.eval_interval,
            windows: Windows {
                fast_minutes: minutes(h.windows.fast),
                main_minutes: minutes(h.windows.main),
                latency: h.windows.latency,
            },
            thresholds,
            incidents,
            maintenance: c
                .maintenance
                .iter()
                .enumerate()
                .filter_map(|(i, m)| from_config(i, m))
                .collect(),
            alerts: c.alerts.clone(),
            slo: c.slo.clone(),
        }
    }

    /// A link to the page, or to a place on it.
    pub fn link(&self, fragment: &str) -> String {
        let base = self.public_url.as_deref().unwrap_or("/status");
        if fragment.is_empty() {
            base.to_owned()
        } else {
            format!("{base}#{fragment}")
        }
    }
}

fn from_config(index: usize, m: &MaintenanceConfig) -> Option<Maintenance> {
    let schedule = match (m.start, m.end, m.every, m.duration) {
        (Some(start), Some(end), None, None) => Schedule::Once {
            start_ms: u64::try_from(start).ok()?,
            end_ms: u64::try_from(end).ok()?,
        },
        (None, None, Some(every), Some(duration)) => Schedule::Recurring {
            every,
            duration_ms: ms(duration),
        },
        // The loader refuses anything else.
        _ => return None,
    };
    // Stable across reloads while the window is the same, so its state is kept.
    let seed = format!(
        "config|{index}|{}|{schedule:?}|{:?}|{:?}",
        m.name, m.providers, m.models
    );
    Some(Maintenance {
        id: super::board::component_id(&seed),
        name: m.name.clone(),
        body: m.body.clone().unwrap_or_else(|| match &schedule {
            Schedule::Once { .. } => "Scheduled maintenance.".to_owned(),
            Schedule::Recurring { duration_ms, .. } => format!(
                "Recurring maintenance ({}).",
                format_duration(Duration::from_millis(*duration_ms))
            ),
        }),
        schedule,
        selector: Selector {
            providers: m.providers.clone(),
            models: m.models.clone(),
            components: Vec::new(),
        },
        origin: Origin::Config,
        created_at_ms: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_equal_the_derive_defaults() {
        let s = StatusSettings::default();
        assert_eq!(
            Thresholds {
                ttft_slo_ms_reasoning: Thresholds::default().ttft_slo_ms_reasoning,
                ..s.thresholds
            },
            Thresholds::default()
        );
        assert_eq!(s.incidents, IncidentSettings::default());
        assert_eq!(s.windows, Windows::default());
        assert_eq!(s.eval_interval, Duration::from_secs(10));
    }
}
