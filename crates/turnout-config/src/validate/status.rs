//! Semantic checks of `[status]`: ranges, the order of thresholds, windows the health log can
//! answer, maintenance windows that make sense, and alert rules that name real channels,
//! providers and models.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::ExposeSecret;
use url::Url;

use super::Checker;
use crate::doc::FieldPath;
use crate::duration::format_duration;
use crate::status::{
    ALERT_EVENTS, AlertChannelConfig, AlertRuleConfig, AlertScope, AlertsConfig, ChannelKind,
    IncidentsConfig, MAX_SLO_WINDOW, MIN_REMINDER_INTERVAL, MaintenanceConfig, ProbesConfig,
    SloConfig, StatusHealthConfig, StatusLevel, event_pattern_matches,
};
use crate::types::Config;

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

impl Checker<'_, '_> {
    pub(super) fn status(&mut self, path: &FieldPath, config: &Config) {
        let status = &config.status;
        self.not_empty(&path.key("name"), Some(&status.name));
        if let Some(url) = &status.public_url {
            self.http_url(&path.key("public_url"), url);
        }
        if !(1..=400).contains(&status.history_days) {
            self.report(
                &path.key("history_days"),
                format!("must be between 1 and 400 (got {})", status.history_days),
            );
        }
        self.status_health(&path.key("health"), &status.health);
        self.status_incidents(&path.key("incidents"), &status.incidents);
        self.status_probes(&path.key("probes"), &status.probes);
        for (i, window) in status.maintenance.iter().enumerate() {
            self.maintenance(&path.key("maintenance").index(i), window, config);
        }
        self.alerts(&path.key("alerts"), &status.alerts, config);
        self.slo(&path.key("slo"), &status.slo);
    }

    fn duration_between(
        &mut self,
        path: &FieldPath,
        value: Duration,
        min: Duration,
        max: Duration,
    ) {
        if value < min || value > max {
            let message = if min.is_zero() {
                format!(
                    "must be at most {} (got {})",
                    format_duration(max),
                    format_duration(value)
                )
            } else {
                format!(
                    "must be between {} and {} (got {})",
                    format_duration(min),
                    format_duration(max),
                    format_duration(value)
                )
            };
            self.report(path, message);
        }
    }

    fn positive_duration(&mut self, path: &FieldPath, value: Duration) {
        if value.is_zero() {
            self.report(path, "must be longer than 0");
        }
    }

    fn ratio(&mut self, path: &FieldPath, value: f64) {
        if value.is_nan() || value <= 0.0 || value > 1.0 {
            self.report(
                path,
                format!("must be greater than 0 and at most 1 (got {value})"),
            );
        }
    }

    fn whole_minutes(&mut self, path: &FieldPath, value: Duration, max: Duration) {
        if !value.as_millis().is_multiple_of(MINUTE.as_millis()) {
            self.report(
                path,
                format!(
                    "must be whole minutes: health is counted per minute (got {})",
                    format_duration(value)
                ),
            );
        } else {
            self.duration_between(path, value, MINUTE, max);
        }
    }

    fn status_health(&mut self, path: &FieldPath, health: &StatusHealthConfig) {
        let eval = path.key("eval_interval");
        self.positive_duration(&eval, health.eval_interval);
        self.duration_between(&eval, health.eval_interval, Duration::ZERO, 10 * MINUTE);

        let windows = path.key("windows");
        self.whole_minutes(&windows.key("fast"), health.windows.fast, DAY);
        self.whole_minutes(&windows.key("main"), health.windows.main, DAY);
        // TTFT samples are kept 30 minutes.
        self.whole_minutes(&windows.key("latency"), health.windows.latency, 30 * MINUTE);
        if health.windows.main < health.windows.fast {
            self.report(
                &windows.key("main"),
                format!(
                    "must not be shorter than fast ({})",
                    format_duration(health.windows.fast)
                ),
            );
        }

        let min = path.key("min_requests");
        self.at_least_one(&min.key("fast"), health.min_requests.fast);
        self.at_least_one(&min.key("main"), health.min_requests.main);

        let t = &health.thresholds;
        let at = path.key("thresholds");
        self.ratio(&at.key("major_error_ratio"), t.major_error_ratio);
        self.ratio(&at.key("partial_error_ratio"), t.partial_error_ratio);
        self.ratio(&at.key("degraded_error_ratio"), t.degraded_error_ratio);
        self.ratio(&at.key("degraded_429_ratio"), t.degraded_429_ratio);
        if t.partial_error_ratio > t.major_error_ratio {
            self.report(
                &at.key("partial_error_ratio"),
                format!(
                    "must not exceed major_error_ratio ({})",
                    t.major_error_ratio
                ),
            );
        }
        if t.degraded_error_ratio > t.partial_error_ratio {
            self.report(
                &at.key("degraded_error_ratio"),
                format!(
                    "must not exceed partial_error_ratio ({})",
                    t.partial_error_ratio
                ),
            );
        }
        self.positive(&at.key("ttft_slo_ms"), Some(t.ttft_slo_ms));
        if t.ttft_baseline_factor.is_nan() || t.ttft_baseline_factor < 1.0 {
            self.report(
                &at.key("ttft_baseline_factor"),
                format!("must be at least 1 (got {})", t.ttft_baseline_factor),
            );
        }
        self.ratio(&at.key("tps_baseline_factor"), t.tps_baseline_factor);

        let h = &health.hysteresis;
        let at = path.key("hysteresis");
        self.at_least_one(
            &at.key("worsen_evals_outage"),
            u64::from(h.worsen_evals_outage),
        );
        self.at_least_one(
            &at.key("worsen_evals_degraded"),
            u64::from(h.worsen_evals_degraded),
        );
        if h.flap_transitions < 2 {
            self.report(
                &at.key("flap_transitions"),
                format!("must be at least 2 (got {})", h.flap_transitions),
            );
        }
        self.positive_duration(&at.key("flap_window"), h.flap_window);
        self.positive_duration(&at.key("flap_quiet"), h.flap_quiet);
    }

    fn status_incidents(&mut self, path: &FieldPath, incidents: &IncidentsConfig) {
        for (i, level) in incidents.auto_open.on.iter().enumerate() {
            if !matches!(level, StatusLevel::PartialOutage | StatusLevel::MajorOutage) {
                self.report(
                    &path.key("auto_open").key("on").index(i),
                    "incidents open on partial_outage or major_outage (see open_on_degraded_after for degraded)",
                );
            }
        }
        if let Some(after) = incidents.open_on_degraded_after {
            self.positive_duration(&path.key("open_on_degraded_after"), after);
        }
    }

    fn status_probes(&mut self, path: &FieldPath, probes: &ProbesConfig) {
        let interval = path.key("interval");
        self.duration_between(&interval, probes.interval, Duration::from_secs(1), DAY);
        let suspect = path.key("suspect_interval");
        self.duration_between(
            &suspect,
            probes.suspect_interval,
            Duration::from_secs(1),
            DAY,
        );
        if probes.suspect_interval > probes.interval {
            self.report(
                &suspect,
                format!(
                    "must not be longer than interval ({})",
                    format_duration(probes.interval)
                ),
            );
        }
        if !(0.0..=0.5).contains(&probes.jitter) {
            self.report(
                &path.key("jitter"),
                format!("must be between 0 and 0.5 (got {})", probes.jitter),
            );
        }
        self.at_least_one(
            &path.key("failure_threshold"),
            u64::from(probes.failure_threshold),
        );
        self.at_least_one(
            &path.key("success_threshold"),
            u64::from(probes.success_threshold),
        );
        let timeout = path.key("timeout");
        self.positive_duration(&timeout.key("ttft"), probes.timeout.ttft);
        if probes.timeout.total < probes.timeout.ttft {
            self.report(
                &timeout.key("total"),
                format!(
                    "must not be shorter than ttft ({})",
                    format_duration(probes.timeout.ttft)
                ),
            );
        }
        self.positive(
            &path.key("degraded_after_ms"),
            Some(probes.degraded_after_ms),
        );
        let concurrency = path.key("concurrency");
        self.at_least_one(
            &concurrency.key("global"),
            u64::from(probes.concurrency.global),
        );
        self.at_least_one(
            &concurrency.key("per_provider"),
            u64::from(probes.concurrency.per_provider),
        );
        if probes.concurrency.per_provider > probes.concurrency.global {
            self.report(
                &concurrency.key("per_provider"),
                format!("must not exceed global ({})", probes.concurrency.global),
            );
        }
        self.positive(
            &path.key("max_daily_tokens_per_provider"),
            Some(probes.max_daily_tokens_per_provider),
        );
    }

    /// `providers` and `models` name configured ones.
    fn selection(
        &mut self,
        path: &FieldPath,
        providers: &[String],
        models: &[String],
        config: &Config,
    ) {
        for (i, slug) in providers.iter().enumerate() {
            if config.provider(slug).is_none() {
                self.report(
                    &path.key("providers").index(i),
                    format!("unknown provider `{slug}`"),
                );
            }
        }
        for (i, id) in models.iter().enumerate() {
            if config.model(id).is_none_or(|m| m.is_wildcard()) {
                self.report(
                    &path.key("models").index(i),
                    format!("unknown model `{id}` (a configured, non-wildcard model id)"),
                );
            }
        }
    }

    fn maintenance(&mut self, path: &FieldPath, window: &MaintenanceConfig, config: &Config) {
        self.not_empty(&path.key("name"), Some(&window.name));
        let one_off = window.start.is_some() || window.end.is_some();
        let recurring = window.every.is_some() || window.duration.is_some();
        if one_off && recurring {
            let at = if window.every.is_some() {
                "every"
            } else {
                "duration"
            };
            self.report(
                &path.key(at),
                "a window is either one-off (start, end) or recurring (every, duration), not both",
            );
        } else if one_off {
            match (window.start, window.end) {
                (Some(start), Some(end)) if end <= start => {
                    self.report(&path.key("end"), "must be after start");
                }
                (Some(_), None) => self.report(&path.key("end"), "required with start"),
                (None, Some(_)) => self.report(&path.key("start"), "required with end"),
                _ => {}
            }
        } else if recurring {
            match (window.every, window.duration) {
                (Some(every), Some(duration)) => {
                    let period = every.period();
                    if duration.is_zero() || duration >= period {
                        self.report(
                            &path.key("duration"),
                            format!(
                                "must be longer than 0 and shorter than the recurrence ({})",
                                format_duration(period)
                            ),
                        );
                    }
                }
                (Some(_), None) => self.report(&path.key("duration"), "required with every"),
                (None, _) => self.report(&path.key("every"), "required with duration"),
            }
        } else {
            self.report(
                &path.key("start"),
                "a window needs start and end (RFC 3339), or every (\"sun 02:00\") and duration",
            );
        }
        self.selection(path, &window.providers, &window.models, config);
    }

    fn alerts(&mut self, path: &FieldPath, alerts: &AlertsConfig, config: &Config) {
        self.positive_duration(&path.key("timeout"), alerts.timeout);
        if !(1..=10).contains(&alerts.max_attempts) {
            self.report(
                &path.key("max_attempts"),
                format!("must be between 1 and 10 (got {})", alerts.max_attempts),
            );
        }
        self.positive_duration(&path.key("backoff"), alerts.backoff);
        if alerts.backoff_max < alerts.backoff {
            self.report(
                &path.key("backoff_max"),
                format!(
                    "must not be shorter than backoff ({})",
                    format_duration(alerts.backoff)
                ),
            );
        }
        if alerts.queue_size == 0 {
            self.report(&path.key("queue_size"), "must be at least 1");
        }
        let mut first_by_id: HashMap<&str, usize> = HashMap::new();
        for (i, channel) in alerts.channels.iter().enumerate() {
            let here = path.key("channels").index(i);
            let id = here.key("id");
            if channel.id.trim().is_empty() {
                self.report(&id, "must not be empty");
            } else if let Some(first) = first_by_id.get(channel.id.as_str()) {
                let line = self
                    .doc
                    .line_of(&path.key("channels").index(*first).key("id"));
                let message = match line {
                    Some(line) => format!(
                        "duplicate channel id `{}` (first defined at line {line})",
                        channel.id
                    ),
                    None => format!("duplicate channel id `{}`", channel.id),
                };
                self.report(&id, message);
            } else {
                first_by_id.insert(&channel.id, i);
            }
            if !self.is_tainted(&here.key("kind")) {
                self.channel(&here, channel);
            }
        }
        let mut channel_ids: Vec<&str> = Vec::new();
        for channel in &alerts.channels {
            if !channel_ids.contains(&channel.id.as_str()) {
                channel_ids.push(&channel.id);
            }
        }
        for (i, rule) in alerts.rules.iter().enumerate() {
            self.rule(&path.key("rules").index(i), rule, &channel_ids, config);
        }
    }

    fn secret_http_url(&mut self, path: &FieldPath, value: &str) {
        // Never echo the value: webhook URLs carry tokens.
        match Url::parse(value) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            Ok(url) => self.report(
                path,
                format!(
                    "must be an http:// or https:// URL (scheme is `{}`)",
                    url.scheme()
                ),
            ),
            Err(error) => self.report(path, format!("not a valid URL: {error}")),
        }
    }

    fn channel(&mut self, path: &FieldPath, channel: &AlertChannelConfig) {
        let kind = channel.kind.as_str();
        let not_for = format!("not used by {kind} channels");
        match channel.kind {
            ChannelKind::Webhook | ChannelKind::Slack => {
                match &channel.url {
                    Some(url) => self.secret_http_url(&path.key("url"), url.expose_secret()),
                    None => self.report(&path.key("url"), format!("required for a {kind} channel")),
                }
                if channel.kind == ChannelKind::Slack && channel.secret.is_some() {
                    self.report(&path.key("secret"), not_for.clone());
                }
                if let Some(secret) = &channel.secret
                    && secret.expose_secret().is_empty()
                {
                    self.report(&path.key("secret"), "must not be empty");
                }
                if channel.smtp_url.is_some() {
                    self.report(&path.key("smtp_url"), not_for.clone());
                }
                if channel.from.is_some() {
                    self.report(&path.key("from"), not_for.clone());
                }
                if !channel.to.is_empty() {
                    self.report(&path.key("to"), not_for.clone());
                }
            }
            ChannelKind::Email => {
                for (key, set) in [
                    ("url", channel.url.is_some()),
                    ("secret", channel.secret.is_some()),
                ] {
                    if set {
                        self.report(&path.key(key), not_for.clone());
                    }
                }
                match &channel.smtp_url {
                    Some(url) => self.smtp_url(&path.key("smtp_url"), url.expose_secret()),
                    None => self.report(&path.key("smtp_url"), "required for an email channel"),
                }
                match &channel.from {
                    Some(from) => self.mailbox(&path.key("from"), from),
                    None => self.report(&path.key("from"), "required for an email channel"),
                }
                if channel.to.is_empty() {
                    self.report(
                        &path.key("to"),
                        "an email channel needs at least one address",
                    );
                }
                for (i, to) in channel.to.iter().enumerate() {
                    self.mailbox(&path.key("to").index(i), to);
                }
            }
        }
    }

    fn smtp_url(&mut self, path: &FieldPath, value: &str) {
        // Never echo the value: it may hold a password.
        match Url::parse(value) {
            Ok(url) if !matches!(url.scheme(), "smtp" | "smtps") => self.report(
                path,
                format!(
                    "unsupported scheme `{}` (expected smtp://host:port or smtps://user:pass@host:465)",
                    url.scheme()
                ),
            ),
            Ok(url) if url.host_str().is_none_or(str::is_empty) => {
                self.report(path, "the URL has no host");
            }
            Ok(url) => {
                if let Some((_, tls)) = url.query_pairs().find(|(k, _)| k == "tls")
                    && !matches!(tls.as_ref(), "required" | "opportunistic")
                {
                    self.report(path, "tls must be `required` or `opportunistic`");
                }
            }
            Err(error) => self.report(path, format!("not a valid URL: {error}")),
        }
    }

    fn mailbox(&mut self, path: &FieldPath, value: &str) {
        let address = match (value.find('<'), value.rfind('>')) {
            (Some(open), Some(close)) if open < close => &value[open + 1..close],
            _ => value,
        };
        let ok = address.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && (host.contains('.') || host == "localhost")
        }) && !address.contains(char::is_whitespace);
        if !ok {
            let shown = self.doc.shown(path, value);
            self.report(
                path,
                format!("{shown} is not an email address (expected user@example.com or \"Name <user@example.com>\")"),
            );
        }
    }

    fn rule(
        &mut self,
        path: &FieldPath,
        rule: &AlertRuleConfig,
        channel_ids: &[&str],
        config: &Config,
    ) {
        self.not_empty(&path.key("name"), Some(&rule.name));
        if rule.channels.is_empty() {
            self.report(&path.key("channels"), "a rule needs at least one channel");
        }
        for (i, id) in rule.channels.iter().enumerate() {
            if !channel_ids.contains(&id.as_str()) {
                let message = if channel_ids.is_empty() {
                    format!("unknown channel `{id}` (no channels are defined)")
                } else {
                    format!(
                        "unknown channel `{id}` (defined: {})",
                        channel_ids.join(", ")
                    )
                };
                self.report(&path.key("channels").index(i), message);
            }
        }
        if rule.events.is_empty() {
            self.report(&path.key("events"), "a rule needs at least one event");
        }
        for (i, pattern) in rule.events.iter().enumerate() {
            let star_inside = pattern.trim_end_matches('*').contains('*');
            if star_inside
                || !ALERT_EVENTS
                    .iter()
                    .any(|e| event_pattern_matches(pattern, e))
            {
                self.report(
                    &path.key("events").index(i),
                    format!(
                        "unknown event `{pattern}` (expected one of {}, or a prefix with `*` such as `incident.*`)",
                        ALERT_EVENTS.join(", ")
                    ),
                );
            }
        }
        match rule.scope {
            AlertScope::Page => {
                for (key, set) in [
                    ("provider", rule.provider.is_some()),
                    ("model", rule.model.is_some()),
                ] {
                    if set {
                        self.report(
                            &path.key(key),
                            "only for scope = \"group\" or \"component\"",
                        );
                    }
                }
            }
            AlertScope::Group | AlertScope::Component => {
                let scope = if rule.scope == AlertScope::Group {
                    "group"
                } else {
                    "component"
                };
                match &rule.provider {
                    None => self.report(
                        &path.key("provider"),
                        format!("required for scope = \"{scope}\""),
                    ),
                    Some(slug) if config.provider(slug).is_none() => {
                        self.report(&path.key("provider"), format!("unknown provider `{slug}`"));
                    }
                    Some(_) => {}
                }
                match (&rule.model, rule.scope) {
                    (Some(_), AlertScope::Group) => self.report(
                        &path.key("model"),
                        "only for scope = \"component\" (a group is a whole provider)",
                    ),
                    (None, AlertScope::Component) => {
                        self.report(&path.key("model"), "required for scope = \"component\"")
                    }
                    (Some(id), _) => {
                        let served = config.model(id).filter(|m| !m.is_wildcard()).map(|m| {
                            rule.provider
                                .as_ref()
                                .is_none_or(|p| m.endpoints.iter().any(|e| &e.provider == p))
                        });
                        match served {
                            None => {
                                self.report(&path.key("model"), format!("unknown model `{id}`"))
                            }
                            Some(false) => self.report(
                                &path.key("model"),
                                format!(
                                    "`{id}` has no endpoint on provider `{}`",
                                    rule.provider.as_deref().unwrap_or_default()
                                ),
                            ),
                            Some(true) => {}
                        }
                    }
                    (None, _) => {}
                }
            }
        }
        if let Some(every) = rule.reminder_interval
            && every < MIN_REMINDER_INTERVAL
        {
            self.report(
                &path.key("reminder_interval"),
                format!(
                    "must be at least {} (got {})",
                    format_duration(MIN_REMINDER_INTERVAL),
                    format_duration(every)
                ),
            );
        }
    }

    fn slo(&mut self, path: &FieldPath, slo: &SloConfig) {
        let target = slo.availability_target;
        if target.is_nan() || target <= 0.0 || target >= 1.0 {
            self.report(
                &path.key("availability_target"),
                format!("must be between 0 and 1, exclusive (got {target}; e.g. 0.995)"),
            );
        }
        self.positive_duration(&path.key("period"), slo.period);
        for (i, policy) in slo.policies.iter().enumerate() {
            let here = path.key("policies").index(i);
            self.duration_between(&here.key("short"), policy.short, MINUTE, MAX_SLO_WINDOW);
            self.duration_between(&here.key("long"), policy.long, MINUTE, MAX_SLO_WINDOW);
            if policy.long <= policy.short {
                self.report(
                    &here.key("long"),
                    format!(
                        "must be longer than short ({})",
                        format_duration(policy.short)
                    ),
                );
            }
            if policy.burn.is_nan() || policy.burn <= 0.0 {
                self.report(
                    &here.key("burn"),
                    format!("must be greater than 0 (got {})", policy.burn),
                );
            }
        }
    }
}
