//! `[status]`: every key of spec/status.md §5.11 in TOML, its defaults, and each kind of
//! problem (unknown key, wrong type, bad value) reported with its line and field.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::{BASE, load, located, only, problems};
use crate::*;

/// BASE has 12 lines: what is appended starts on line 13.
fn with_status(status: &str) -> String {
    format!("{BASE}{status}")
}

const FULL_STATUS: &str = r#"[status]
enabled = true
name = "Acme AI Gateway"
public_url = "https://gw.acme.ai/status"
history_days = 30

[status.health]
eval_interval = "5s"
windows = { fast = "1m", main = "3m", latency = "10m" }
min_requests = { fast = 5, main = 8 }
thresholds = { major_error_ratio = 0.6, partial_error_ratio = 0.1, degraded_error_ratio = 0.02, degraded_429_ratio = 0.1, ttft_slo_ms = 7000, ttft_baseline_factor = 3.0, tps_baseline_factor = 0.4 }
hysteresis = { worsen_evals_outage = 1, worsen_evals_degraded = 2, recovery_period = "2m", flap_transitions = 6, flap_window = "1h", flap_quiet = 600000 }
publish_major_during_maintenance = true

[status.incidents]
auto_open = { on = ["major_outage"], after = "90s" }
open_on_degraded_after = "15m"
monitoring_to_resolved = "5m"
reopen_within = "1h"

[status.probes]
interval = "1m"
suspect_interval = "15s"
jitter = 0.2
adaptive_skip = { min_ok_live_requests = 3, max_consecutive_skips = 4 }
failure_threshold = 4
success_threshold = 3
timeout = { ttft = "20s", total = "45s" }
degraded_after_ms = 9000
concurrency = { global = 4, per_provider = 1 }
max_daily_tokens_per_provider = 50000

[[status.maintenance]]
name = "Database upgrade"
body = "Writes may be slow."
start = "2026-03-01T02:00:00Z"
end = "2026-03-01T03:00:00Z"
providers = ["openai"]

[[status.maintenance]]
name = "Weekly restart"
every = "sun 02:00"
duration = "30m"
models = ["openai/gpt-4o-mini"]

[status.alerts]
max_attempts = 5
backoff = "1s"
backoff_max = "30s"
timeout = "3s"

[[status.alerts.channels]]
id = "ops-hook"
kind = "webhook"
url = "https://ops.example/hooks/status"
secret = "${TURNOUT_CFG_TEST_API_KEY}"

[[status.alerts.channels]]
id = "ops-slack"
kind = "slack"
url = "https://hooks.slack.example/services/T/B/X"

[[status.alerts.channels]]
id = "oncall-mail"
kind = "email"
smtp_url = "smtps://user:pass@smtp.example:465"
from = "Status <status@acme.ai>"
to = ["oncall@acme.ai"]

[[status.alerts.rules]]
name = "outages"
channels = ["ops-slack", "ops-hook"]
events = ["component.status_changed", "incident.*"]
min_status = "partial_outage"
reminder_interval = "1h"

[[status.alerts.rules]]
name = "gpt-mini"
channels = ["oncall-mail"]
events = ["*"]
scope = "component"
provider = "openai"
model = "openai/gpt-4o-mini"
send_on_resolved = false

[[status.alerts.rules]]
name = "slo"
channels = ["oncall-mail"]
events = ["slo.burn_rate"]
scope = "group"
provider = "openai"
min_severity = "page"

[status.slo]
availability_target = 0.999
period = "7d"
min_events_short_window = 50
policies = [{ severity = "page", long = "1h", short = "5m", burn = 16.8 }]
"#;

#[test]
fn every_status_key_loads() {
    let config = match load(&with_status(FULL_STATUS)) {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    let s = &config.status;
    assert!(s.enabled);
    assert_eq!(s.name, "Acme AI Gateway");
    assert_eq!(s.public_url.as_deref(), Some("https://gw.acme.ai/status"));
    assert_eq!(s.history_days, 30);

    let h = &s.health;
    assert_eq!(h.eval_interval, Duration::from_secs(5));
    assert_eq!(h.windows.fast, Duration::from_secs(60));
    assert_eq!(h.windows.main, Duration::from_secs(180));
    assert_eq!(h.min_requests.fast, 5);
    assert_eq!(h.thresholds.major_error_ratio, 0.6);
    assert_eq!(h.thresholds.ttft_slo_ms, 7000);
    assert_eq!(h.hysteresis.recovery_period, Duration::from_secs(120));
    assert_eq!(
        h.hysteresis.flap_quiet,
        Duration::from_secs(600),
        "an integer is milliseconds"
    );
    assert!(h.publish_major_during_maintenance);

    let i = &s.incidents;
    assert_eq!(i.auto_open.opens_at(), Some(StatusLevel::MajorOutage));
    assert_eq!(i.auto_open.after, Duration::from_secs(90));
    assert_eq!(i.open_on_degraded_after, Some(Duration::from_secs(900)));
    assert_eq!(i.reopen_within, Duration::from_secs(3600));

    let p = &s.probes;
    assert_eq!(p.interval, Duration::from_secs(60));
    assert_eq!(p.suspect_interval, Duration::from_secs(15));
    assert_eq!(p.adaptive_skip.max_consecutive_skips, 4);
    assert_eq!(p.timeout.total, Duration::from_secs(45));
    assert_eq!(p.concurrency.per_provider, 1);
    assert_eq!(p.max_daily_tokens_per_provider, 50_000);

    assert_eq!(s.maintenance.len(), 2);
    let once = &s.maintenance[0];
    assert_eq!(
        once.start,
        Some(parse_rfc3339_ms("2026-03-01T02:00:00Z").unwrap_or_default())
    );
    assert_eq!(once.providers, ["openai"]);
    let weekly = &s.maintenance[1];
    assert_eq!(
        weekly.every,
        Some(Recurrence {
            weekday: Some(6),
            minute_of_day: 120
        })
    );
    assert_eq!(weekly.duration, Some(Duration::from_secs(1800)));

    let a = &s.alerts;
    assert_eq!(a.max_attempts, 5);
    assert_eq!(a.channels.len(), 3);
    assert_eq!(a.channels[0].kind, ChannelKind::Webhook);
    assert_eq!(
        a.channels[0].secret.as_ref().map(|s| s.expose_secret()),
        Some("tk-static-1")
    );
    assert_eq!(a.channels[2].to, ["oncall@acme.ai"]);
    assert_eq!(a.rules[0].min_status, StatusLevel::PartialOutage);
    assert_eq!(a.rules[0].scope, AlertScope::Page);
    assert!(a.rules[0].send_on_resolved, "on by default");
    assert_eq!(a.rules[1].scope, AlertScope::Component);
    assert!(!a.rules[1].send_on_resolved);
    assert_eq!(a.rules[2].min_severity, BurnSeverity::Page);

    assert_eq!(s.slo.availability_target, 0.999);
    assert_eq!(s.slo.policies.len(), 1);
    assert_eq!(s.slo.policies[0].burn, 16.8);
}

#[test]
fn defaults_are_the_specs() {
    let config = load(BASE).map_err(|e| e.to_string());
    let Ok(config) = config else {
        panic!("{config:?}")
    };
    let s = config.status;
    assert!(s.enabled);
    assert_eq!(s.history_days, 90);
    assert_eq!(s.health.eval_interval, Duration::from_secs(10));
    assert_eq!(s.health.windows.fast, Duration::from_secs(120));
    assert_eq!(s.health.windows.main, Duration::from_secs(300));
    assert_eq!(s.health.min_requests.main, 20);
    assert_eq!(s.health.thresholds.partial_error_ratio, 0.05);
    assert_eq!(s.health.hysteresis.worsen_evals_degraded, 3);
    assert_eq!(
        s.incidents.auto_open.opens_at(),
        Some(StatusLevel::PartialOutage)
    );
    assert_eq!(s.incidents.monitoring_to_resolved, Duration::from_secs(600));
    assert_eq!(s.probes.interval, Duration::from_secs(30));
    assert_eq!(s.probes.suspect_interval, Duration::from_secs(10));
    assert_eq!(s.probes.jitter, 0.1);
    assert_eq!(s.probes.adaptive_skip.min_ok_live_requests, 5);
    assert_eq!(s.probes.timeout.ttft, Duration::from_secs(30));
    assert_eq!(s.probes.concurrency.global, 8);
    assert_eq!(s.probes.max_daily_tokens_per_provider, 200_000);
    assert_eq!(s.alerts.max_attempts, 3);
    assert_eq!(s.slo.availability_target, 0.995);
    let burns: Vec<(BurnSeverity, u64, u64, f64)> = s
        .slo
        .policies
        .iter()
        .map(|p| {
            (
                p.severity,
                p.long.as_secs() / 60,
                p.short.as_secs() / 60,
                p.burn,
            )
        })
        .collect();
    assert_eq!(
        burns,
        [
            (BurnSeverity::Page, 60, 5, 14.4),
            (BurnSeverity::Page, 360, 30, 6.0),
            (BurnSeverity::Ticket, 4320, 360, 1.0)
        ]
    );
}

#[test]
fn unknown_status_keys_are_named_with_their_line() {
    let source = with_status(
        "[status]\nnam = \"x\"\n[status.health]\nthresholds = { major = 0.5 }\n[[status.alerts.channels]]\nid = \"x\"\nkind = \"slack\"\nurl = \"https://h.example/x\"\nheaders = 1\n",
    );
    assert_eq!(
        located(&source),
        [
            (Some(14), "status.nam".to_owned()),
            (Some(16), "status.health.thresholds.major".to_owned()),
            (Some(21), "status.alerts.channels[0].headers".to_owned()),
        ]
    );
}

#[test]
fn wrong_types_in_status() {
    let source = with_status(
        "[status]\nenabled = \"yes\"\n[status.health]\neval_interval = true\nwindows = { fast = \"2x\" }\n[status.incidents]\nauto_open = { on = [\"broken\"] }\n[[status.maintenance]]\nname = \"m\"\nstart = \"tomorrow\"\nend = 5\n[[status.alerts.rules]]\nname = \"r\"\nchannels = []\nevents = [\"slo.burn_rate\"]\nmin_severity = \"urgent\"\n",
    );
    let all = problems(&source);
    let at: Vec<(Option<usize>, &str)> = all
        .iter()
        .map(|(line, field, _)| (*line, field.as_str()))
        .collect();
    assert_eq!(
        at,
        [
            (Some(14), "status.enabled"),
            (Some(16), "status.health.eval_interval"),
            (Some(17), "status.health.windows.fast"),
            (Some(19), "status.incidents.auto_open.on[0]"),
            (Some(22), "status.maintenance[0].start"),
            (Some(23), "status.maintenance[0].end"),
            (Some(26), "status.alerts.rules[0].channels"),
            (Some(28), "status.alerts.rules[0].min_severity"),
        ],
        "{all:#?}"
    );
    let message = |field: &str| {
        all.iter()
            .find(|(_, f, _)| f == field)
            .map(|(_, _, m)| m.clone())
            .unwrap_or_default()
    };
    assert!(
        message("status.health.windows.fast").contains("a duration such as \"30s\""),
        "{all:#?}"
    );
    assert!(message("status.maintenance[0].start").contains("RFC 3339"));
    assert!(message("status.incidents.auto_open.on[0]").contains("partial_outage"));
    assert!(message("status.alerts.rules[0].min_severity").contains("`page`"));
}

#[test]
fn health_values_out_of_range() {
    let source = with_status(
        "[status.health]\nwindows = { fast = \"90s\", main = \"1m\", latency = \"1h\" }\nmin_requests = { fast = 0 }\nthresholds = { major_error_ratio = 0.2, partial_error_ratio = 0.3, degraded_429_ratio = 1.5 }\nhysteresis = { worsen_evals_outage = 0, flap_transitions = 1 }\n",
    );
    assert_eq!(
        located(&source),
        [
            (Some(14), "status.health.windows.fast".to_owned()),
            (Some(14), "status.health.windows.main".to_owned()),
            (Some(14), "status.health.windows.latency".to_owned()),
            (Some(15), "status.health.min_requests.fast".to_owned()),
            (
                Some(16),
                "status.health.thresholds.partial_error_ratio".to_owned()
            ),
            (
                Some(16),
                "status.health.thresholds.degraded_429_ratio".to_owned()
            ),
            (
                Some(17),
                "status.health.hysteresis.worsen_evals_outage".to_owned()
            ),
            (
                Some(17),
                "status.health.hysteresis.flap_transitions".to_owned()
            ),
        ]
    );
    let (_, _, message) = only(&with_status(
        "[status.health]\nwindows = { fast = \"90s\" }\n",
    ));
    assert_eq!(
        message,
        "must be whole minutes: health is counted per minute (got 1m30s)"
    );
}

#[test]
fn probe_values_out_of_range() {
    let source = with_status(
        "[status.probes]\ninterval = \"10s\"\nsuspect_interval = \"20s\"\njitter = 0.9\ntimeout = { ttft = \"30s\", total = \"10s\" }\nconcurrency = { global = 1, per_provider = 2 }\n",
    );
    assert_eq!(
        located(&source),
        [
            (Some(15), "status.probes.suspect_interval".to_owned()),
            (Some(16), "status.probes.jitter".to_owned()),
            (Some(17), "status.probes.timeout.total".to_owned()),
            (
                Some(18),
                "status.probes.concurrency.per_provider".to_owned()
            ),
        ]
    );
}

#[test]
fn maintenance_windows_must_make_sense() {
    let source = with_status(concat!(
        "[[status.maintenance]]\nname = \"backwards\"\nstart = \"2026-03-01T03:00:00Z\"\nend = \"2026-03-01T02:00:00Z\"\n",
        "[[status.maintenance]]\nname = \"both\"\nstart = \"2026-03-01T03:00:00Z\"\nend = \"2026-03-01T04:00:00Z\"\nevery = \"sun 02:00\"\n",
        "[[status.maintenance]]\nname = \"too long\"\nevery = \"daily 02:00\"\nduration = \"1d\"\n",
        "[[status.maintenance]]\nname = \"when?\"\nproviders = [\"nope\"]\nmodels = [\"acme/unknown\"]\n",
        "[[status.maintenance]]\nname = \"half\"\nevery = \"mon 01:00\"\n",
    ));
    let all = problems(&source);
    let at: Vec<(Option<usize>, &str, &str)> = all
        .iter()
        .map(|(line, field, message)| (*line, field.as_str(), message.as_str()))
        .collect();
    assert_eq!(
        at,
        [
            (Some(16), "status.maintenance[0].end", "must be after start"),
            (
                Some(21),
                "status.maintenance[1].every",
                "a window is either one-off (start, end) or recurring (every, duration), not both"
            ),
            (
                Some(25),
                "status.maintenance[2].duration",
                "must be longer than 0 and shorter than the recurrence (1d)"
            ),
            // No time at all: the window's own line.
            (
                Some(26),
                "status.maintenance[3].start",
                "a window needs start and end (RFC 3339), or every (\"sun 02:00\") and duration"
            ),
            (
                Some(28),
                "status.maintenance[3].providers[0]",
                "unknown provider `nope`"
            ),
            (
                Some(29),
                "status.maintenance[3].models[0]",
                "unknown model `acme/unknown` (a configured, non-wildcard model id)"
            ),
            (
                Some(30),
                "status.maintenance[4].duration",
                "required with every"
            ),
        ]
    );
}

#[test]
fn alert_channels_and_rules_must_fit_together() {
    let source = with_status(concat!(
        "[[status.alerts.channels]]\nid = \"hook\"\nkind = \"webhook\"\nurl = \"ftp://x.example/\"\nto = [\"a@b.example\"]\n",
        "[[status.alerts.channels]]\nid = \"hook\"\nkind = \"email\"\nsmtp_url = \"http://mail.example\"\nfrom = \"nobody\"\n",
        "[[status.alerts.channels]]\nid = \"chat\"\nkind = \"pager\"\n",
        "[[status.alerts.rules]]\nname = \"r\"\nchannels = [\"hook\", \"nope\"]\nevents = [\"incident.*\", \"incident.exploded\", \"inc*ident\"]\nscope = \"group\"\nmodel = \"openai/gpt-4o-mini\"\nreminder_interval = \"5m\"\n",
        "[[status.alerts.rules]]\nname = \"c\"\nchannels = [\"hook\"]\nevents = [\"*\"]\nscope = \"component\"\nprovider = \"openai\"\nmodel = \"acme/other\"\n",
    ));
    let all = problems(&source);
    let at: Vec<(Option<usize>, &str, &str)> = all
        .iter()
        .map(|(line, field, message)| (*line, field.as_str(), message.as_str()))
        .collect();
    assert_eq!(
        at,
        [
            (
                Some(16),
                "status.alerts.channels[0].url",
                "must be an http:// or https:// URL (scheme is `ftp`)"
            ),
            (
                Some(17),
                "status.alerts.channels[0].to",
                "not used by webhook channels"
            ),
            (
                Some(18),
                "status.alerts.channels[1].to",
                "an email channel needs at least one address"
            ),
            (
                Some(19),
                "status.alerts.channels[1].id",
                "duplicate channel id `hook` (first defined at line 14)"
            ),
            (
                Some(21),
                "status.alerts.channels[1].smtp_url",
                "unsupported scheme `http` (expected smtp://host:port or smtps://user:pass@host:465)"
            ),
            (
                Some(22),
                "status.alerts.channels[1].from",
                "`nobody` is not an email address (expected user@example.com or \"Name <user@example.com>\")"
            ),
            (
                Some(25),
                "status.alerts.channels[2].kind",
                "unknown value `pager`, expected one of `webhook`, `slack`, `email`"
            ),
            (
                Some(26),
                "status.alerts.rules[0].provider",
                "required for scope = \"group\""
            ),
            (
                Some(28),
                "status.alerts.rules[0].channels[1]",
                "unknown channel `nope` (defined: hook, chat)"
            ),
            (
                Some(29),
                "status.alerts.rules[0].events[1]",
                "unknown event `incident.exploded` (expected one of component.status_changed, group.status_changed, page.status_changed, incident.created, incident.updated, incident.resolved, maintenance.scheduled, maintenance.started, maintenance.completed, slo.burn_rate, account.low_credit, or a prefix with `*` such as `incident.*`)"
            ),
            (
                Some(29),
                "status.alerts.rules[0].events[2]",
                "unknown event `inc*ident` (expected one of component.status_changed, group.status_changed, page.status_changed, incident.created, incident.updated, incident.resolved, maintenance.scheduled, maintenance.started, maintenance.completed, slo.burn_rate, account.low_credit, or a prefix with `*` such as `incident.*`)"
            ),
            (
                Some(31),
                "status.alerts.rules[0].model",
                "only for scope = \"component\" (a group is a whole provider)"
            ),
            (
                Some(32),
                "status.alerts.rules[0].reminder_interval",
                "must be at least 15m (got 5m)"
            ),
            (
                Some(39),
                "status.alerts.rules[1].model",
                "unknown model `acme/other`"
            ),
        ]
    );
}

#[test]
fn channel_secrets_stay_out_of_messages() {
    // The URL from the environment is wrong, but its text (a token) must not be echoed.
    let source = with_status(
        "[[status.alerts.channels]]\nid = \"slack\"\nkind = \"slack\"\nurl = \"${TURNOUT_CFG_TEST_OPENAI_KEY}\"\n[[status.alerts.channels]]\nid = \"mail\"\nkind = \"email\"\nsmtp_url = \"smtps://user:hunter2@\"\nfrom = \"a@b.example\"\nto = [\"c@d.example\"]\n",
    );
    let all = problems(&source);
    assert_eq!(all.len(), 2, "{all:#?}");
    for (_, _, message) in &all {
        assert!(!message.contains("sk-test-openai"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
}

#[test]
fn slo_values_out_of_range() {
    let source = with_status(
        "[status.slo]\navailability_target = 1.0\npolicies = [{ severity = \"page\", long = \"5m\", short = \"1h\", burn = 0 }, { severity = \"ticket\", long = \"30d\", short = \"1d\", burn = 1 }]\n",
    );
    assert_eq!(
        located(&source),
        [
            (Some(14), "status.slo.availability_target".to_owned()),
            (Some(15), "status.slo.policies[0].long".to_owned()),
            (Some(15), "status.slo.policies[0].burn".to_owned()),
            (Some(15), "status.slo.policies[1].long".to_owned()),
        ]
    );
}

#[test]
fn public_url_and_name() {
    assert_eq!(
        located(&with_status(
            "[status]\nname = \" \"\npublic_url = \"status.acme.ai\"\n"
        )),
        [
            (Some(14), "status.name".to_owned()),
            (Some(15), "status.public_url".to_owned()),
        ]
    );
}
