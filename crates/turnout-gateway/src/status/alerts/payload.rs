//! What a notification looks like on each channel (spec/status.md §5.7): the native JSON of
//! webhooks, Slack's incoming-webhook shape (text fallback, a colour bar, Block Kit), and an
//! email with a plain-text and an HTML part threaded per incident.

use serde_json::{Value, json};

use super::rules::{Notification, Phase};
use crate::status::derive::{ComponentStatus, IncidentStatus};
use crate::status::events::{EventKind, StatusEvent, Target, impact_level, indicator_level};

/// The page a notification links to.
#[derive(Debug, Clone)]
pub struct Page {
    pub id: String,
    pub name: String,
    /// Where `/status` is (the configured public URL, else the path).
    pub url: String,
}

impl Page {
    pub fn link(&self, fragment: &str) -> String {
        if fragment.is_empty() {
            self.url.clone()
        } else {
            format!("{}#{fragment}", self.url)
        }
    }
}

fn iso(ms: u64) -> String {
    turnout_store::clock::iso(i64::try_from(ms).unwrap_or(i64::MAX))
}

fn words(s: ComponentStatus) -> &'static str {
    match s {
        ComponentStatus::Operational => "Operational",
        ComponentStatus::UnderMaintenance => "Under Maintenance",
        ComponentStatus::DegradedPerformance => "Degraded Performance",
        ComponentStatus::PartialOutage => "Partial Outage",
        ComponentStatus::MajorOutage => "Major Outage",
    }
}

fn incident_words(s: IncidentStatus) -> &'static str {
    match s {
        IncidentStatus::Investigating => "investigating",
        IncidentStatus::Identified => "identified",
        IncidentStatus::Monitoring => "monitoring",
        IncidentStatus::Resolved => "resolved",
        IncidentStatus::Postmortem => "postmortem",
    }
}

/// Slack's colours for each status (§5.7).
fn color(s: ComponentStatus) -> &'static str {
    match s {
        ComponentStatus::Operational => "#2EB67D",
        ComponentStatus::UnderMaintenance => "#3B82F6",
        ComponentStatus::DegradedPerformance => "#ECB22E",
        ComponentStatus::PartialOutage => "#F2952F",
        ComponentStatus::MajorOutage => "#E01E5A",
    }
}

fn emoji(s: ComponentStatus) -> &'static str {
    match s {
        ComponentStatus::Operational => ":large_green_circle:",
        ComponentStatus::UnderMaintenance => ":large_blue_circle:",
        ComponentStatus::DegradedPerformance => ":large_yellow_circle:",
        ComponentStatus::PartialOutage => ":large_orange_circle:",
        ComponentStatus::MajorOutage => ":red_circle:",
    }
}

/// `Alpha / acme/chat` for a model, the group's own name for a group.
fn target_name(t: &Target) -> String {
    match &t.group_name {
        Some(group) => format!("{group} / {}", t.name),
        None => t.name.clone(),
    }
}

/// The words every channel shows: a title, details, the status it is about (for colours),
/// and where to read more.
#[derive(Debug, Clone, PartialEq)]
pub struct Headline {
    pub title: String,
    pub details: String,
    pub status: ComponentStatus,
    pub link: String,
}

pub fn headline(n: &Notification, page: &Page) -> Headline {
    let e = &n.event;
    let subject = e.targets.first().map(target_name).unwrap_or_default();
    let (mut title, details, status, link) = match e.kind {
        EventKind::ComponentStatusChanged | EventKind::GroupStatusChanged => {
            let (old, new, reason) = e
                .change
                .as_ref()
                .map(|c| (c.old_status, c.new_status, c.reason.clone()))
                .unwrap_or((
                    ComponentStatus::Operational,
                    ComponentStatus::Operational,
                    String::new(),
                ));
            let title = if n.phase == Phase::Resolve {
                format!("{subject} recovered ({})", words(new))
            } else {
                format!("{subject} is in {}", words(new))
            };
            let mut details = format!("Was {}.", words(old));
            if !reason.is_empty() {
                details.push_str(&format!(" {reason}."));
            }
            (title, details, new, page.link(""))
        }
        EventKind::PageStatusChanged => {
            let (status, text) = e
                .page
                .as_ref()
                .map_or((ComponentStatus::Operational, String::new()), |p| {
                    (indicator_level(p.new_indicator), p.description.clone())
                });
            (
                format!("{}: {text}", page.name),
                String::new(),
                status,
                page.link(""),
            )
        }
        EventKind::IncidentCreated | EventKind::IncidentUpdated | EventKind::IncidentResolved => {
            let Some(i) = &e.incident else {
                return empty(page);
            };
            let title = match (e.kind, n.phase) {
                (EventKind::IncidentResolved, _) | (_, Phase::Resolve) => {
                    format!("Resolved: {}", i.name)
                }
                (EventKind::IncidentCreated, _) | (_, Phase::Open) => {
                    format!("Incident: {}", i.name)
                }
                _ => format!("Incident update ({}): {}", incident_words(i.status), i.name),
            };
            let status = if i.status == IncidentStatus::Resolved {
                ComponentStatus::Operational
            } else {
                impact_level(i.impact)
            };
            (
                title,
                i.body.clone(),
                status,
                page.link(&format!("incident-{}", i.id)),
            )
        }
        EventKind::MaintenanceScheduled
        | EventKind::MaintenanceStarted
        | EventKind::MaintenanceCompleted => {
            let Some(m) = &e.maintenance else {
                return empty(page);
            };
            let verb = match e.kind {
                EventKind::MaintenanceScheduled => "scheduled",
                EventKind::MaintenanceStarted => "started",
                _ => "completed",
            };
            let details = format!(
                "{} From {} to {}.",
                m.body,
                iso(m.scheduled_for_ms),
                iso(m.scheduled_until_ms)
            );
            let status = if e.kind == EventKind::MaintenanceCompleted {
                ComponentStatus::Operational
            } else {
                ComponentStatus::UnderMaintenance
            };
            (
                format!("Maintenance {verb}: {}", m.name),
                details,
                status,
                page.link(&format!("maintenance-{}", m.id)),
            )
        }
        EventKind::Test => (
            format!("Test notification from {}", page.name),
            "Alerts reach this channel.".to_owned(),
            ComponentStatus::Operational,
            page.link(""),
        ),
        EventKind::AccountLowCredit => {
            let Some(c) = &e.credit else {
                return empty(page);
            };
            if c.low {
                (
                    format!(
                        "Account {}: credit balance ${:.2} is below its ${:.2} alert",
                        c.account, c.balance_usd, c.threshold_usd
                    ),
                    "Requests are refused with 402 once the balance cannot cover them: add credits (turnout credits add, or the dashboard).".to_owned(),
                    ComponentStatus::DegradedPerformance,
                    page.link(""),
                )
            } else {
                (
                    format!(
                        "Account {}: credit balance back to ${:.2}",
                        c.account, c.balance_usd
                    ),
                    format!("At or above its ${:.2} alert again.", c.threshold_usd),
                    ComponentStatus::Operational,
                    page.link(""),
                )
            }
        }
        EventKind::SloBurnRate => {
            let Some(b) = &e.burn else {
                return empty(page);
            };
            let (title, status) = if b.firing {
                (
                    format!(
                        "{subject} is burning its error budget {:.1}× too fast ({})",
                        b.long_burn_rate,
                        b.severity.as_str()
                    ),
                    ComponentStatus::PartialOutage,
                )
            } else {
                (
                    format!("{subject}: error budget burn back to normal"),
                    ComponentStatus::Operational,
                )
            };
            let details = format!(
                "Burn rate {:.1}× over {} and {:.1}× over {} (alert at {}×, availability target {} %, {} requests in the short window).",
                b.long_burn_rate,
                span(b.long_window_s),
                b.short_burn_rate,
                span(b.short_window_s),
                b.threshold,
                b.availability_target * 100.0,
                b.short_window_requests
            );
            (title, details, status, page.link(""))
        }
    };
    if n.phase == Phase::Reminder {
        title = format!("Still: {title}");
    }
    Headline {
        title,
        details,
        status,
        link,
    }
}

fn empty(page: &Page) -> Headline {
    Headline {
        title: page.name.clone(),
        details: String::new(),
        status: ComponentStatus::Operational,
        link: page.link(""),
    }
}

fn span(seconds: u64) -> String {
    turnout_config::format_duration(std::time::Duration::from_secs(seconds))
}

fn target_json(t: &Target) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "group_id": t.group_id,
        "group_name": t.group_name,
        "provider": t.provider,
        "model": t.model,
    })
}

/// The generic webhook's body (`version` 1).
pub fn native(n: &Notification, page: &Page) -> Value {
    let e: &StatusEvent = &n.event;
    let component = e.change.as_ref().and_then(|c| {
        let t = e.targets.first()?;
        let mut v = target_json(t);
        if let Some(o) = v.as_object_mut() {
            o.insert("old_status".into(), json!(c.old_status));
            o.insert("new_status".into(), json!(c.new_status));
            o.insert("changed_at".into(), json!(iso(c.changed_at_ms)));
            o.insert("reason".into(), json!(c.reason));
        }
        Some(v)
    });
    let incident = e.incident.as_ref().map(|i| {
        json!({
            "id": i.id,
            "name": i.name,
            "status": i.status,
            "impact": i.impact,
            "body": i.body,
            "created_at": iso(i.created_at_ms),
            "url": page.link(&format!("incident-{}", i.id)),
        })
    });
    let maintenance = e.maintenance.as_ref().map(|m| {
        json!({
            "id": m.id,
            "name": m.name,
            "status": m.status,
            "body": m.body,
            "scheduled_for": iso(m.scheduled_for_ms),
            "scheduled_until": iso(m.scheduled_until_ms),
            "url": page.link(&format!("maintenance-{}", m.id)),
        })
    });
    let slo = e.burn.as_ref().map(|b| {
        json!({
            "severity": b.severity.as_str(),
            "firing": b.firing,
            "availability_target": b.availability_target,
            "long_window_s": b.long_window_s,
            "short_window_s": b.short_window_s,
            "burn_rate_threshold": b.threshold,
            "long_burn_rate": b.long_burn_rate,
            "short_burn_rate": b.short_burn_rate,
            "short_window_requests": b.short_window_requests,
        })
    });
    let credit = e.credit.as_ref().map(|c| {
        json!({
            "account": c.account,
            "balance_usd": c.balance_usd,
            "threshold_usd": c.threshold_usd,
            "low": c.low,
        })
    });
    let page_change = e.page.as_ref().map(|p| {
        json!({
            "old_indicator": p.old_indicator,
            "new_indicator": p.new_indicator,
            "description": p.description,
        })
    });
    json!({
        "version": 1,
        "event": e.kind.as_str(),
        "event_id": e.id,
        "phase": n.phase.as_str(),
        "occurred_at": iso(e.at_ms),
        "rules": n.rules,
        "page": {
            "id": page.id,
            "name": page.name,
            "url": page.url,
            "status_indicator": e.indicator,
            "status_description": e.description,
        },
        "component": component,
        "components": e.targets.iter().map(target_json).collect::<Vec<_>>(),
        "incident": incident,
        "maintenance": maintenance,
        "slo": slo,
        "credit": credit,
        "page_change": page_change,
    })
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped.
fn mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A Slack-compatible incoming-webhook body.
pub fn slack(n: &Notification, page: &Page) -> Value {
    let h = headline(n, page);
    let status = if n.phase == Phase::Resolve {
        ComponentStatus::Operational
    } else {
        h.status
    };
    let mut section = format!("*{}*", mrkdwn(&h.title));
    if !h.details.is_empty() {
        section.push('\n');
        section.push_str(&mrkdwn(&h.details));
    }
    let context = format!(
        "<{}|{}> · {} · {}",
        mrkdwn(&h.link),
        mrkdwn(&page.name),
        n.event.kind.as_str(),
        iso(n.event.at_ms)
    );
    json!({
        "text": format!("{} {}", emoji(status), h.title),
        "attachments": [{
            "color": color(status),
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": section}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
            ],
        }],
    })
}

/// An email, ready for any transport.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Without angle brackets.
    pub message_id: String,
    /// The incident's first message, so mail clients thread every update of it.
    pub in_reply_to: Option<String>,
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `domain` is the right-hand side of message ids (the sender's domain).
pub fn email(n: &Notification, page: &Page, domain: &str) -> Email {
    let h = headline(n, page);
    let label = match n.phase {
        Phase::Resolve => "Resolved".to_owned(),
        _ => words(h.status).to_owned(),
    };
    let subject = format!("[{}] {label} — {}", page.name, h.title);
    let event = &n.event;
    let thread = event
        .incident
        .as_ref()
        .map(|i| format!("incident-{}@{domain}", i.id));
    let (message_id, in_reply_to) = match (&thread, event.kind) {
        (Some(first), EventKind::IncidentCreated) if n.phase != Phase::Reminder => {
            (first.clone(), None)
        }
        (Some(first), _) => (
            format!("{}.{}@{domain}", event.id, n.phase.as_str()),
            Some(first.clone()),
        ),
        (None, _) => (format!("{}.{}@{domain}", event.id, n.phase.as_str()), None),
    };
    let mut text = format!("{}\n\n", h.title);
    if !h.details.is_empty() {
        text.push_str(&format!("{}\n\n", h.details));
    }
    text.push_str(&format!(
        "Page status: {}\nWhen: {}\nDetails: {}\nStatus page: {}\n",
        event.description,
        iso(event.at_ms),
        h.link,
        page.url
    ));
    let pill = if n.phase == Phase::Resolve {
        color(ComponentStatus::Operational)
    } else {
        color(h.status)
    };
    let html = format!(
        "<!doctype html><html><body style=\"font-family:system-ui,sans-serif\">\
         <p><span style=\"background:{pill};color:#fff;border-radius:9px;padding:2px 8px;font-weight:600\">{}</span></p>\
         <h2 style=\"font-size:18px\">{}</h2><p>{}</p>\
         <p>Page status: {}<br>When: {}</p>\
         <p><a href=\"{}\">Details</a> · <a href=\"{}\">{}</a></p></body></html>",
        html_escape(&label),
        html_escape(&h.title),
        html_escape(&h.details),
        html_escape(&event.description),
        html_escape(&iso(event.at_ms)),
        html_escape(&h.link),
        html_escape(&page.url),
        html_escape(&page.name),
    );
    Email {
        subject,
        text,
        html,
        message_id,
        in_reply_to,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::status::derive::{Impact, Indicator};
    use crate::status::events::{IncidentInfo, StatusChange};

    fn page() -> Page {
        Page {
            id: "p".into(),
            name: "Acme AI".into(),
            url: "https://status.acme.example/status".into(),
        }
    }

    fn major(phase: Phase) -> Notification {
        let mut e = StatusEvent::new(EventKind::ComponentStatusChanged, 1_700_000_000_000);
        e.targets = vec![Target {
            id: "c1".into(),
            name: "claude<sonnet>".into(),
            group_id: Some("g".into()),
            group_name: Some("Anthropic".into()),
            provider: Some("anthropic".into()),
            model: Some("claude<sonnet>".into()),
        }];
        e.change = Some(StatusChange {
            old_status: ComponentStatus::DegradedPerformance,
            new_status: if phase == Phase::Resolve {
                ComponentStatus::Operational
            } else {
                ComponentStatus::MajorOutage
            },
            changed_at_ms: 1_700_000_000_000,
            reason: "major_outage(a): W2 error ratio 70.0 % (61 of 87 requests)".into(),
        });
        e.indicator = Indicator::Major;
        e.description = "Partial System Outage".into();
        Notification {
            event: Arc::new(e),
            phase,
            channels: vec!["slack".into()],
            rules: vec!["outages".into()],
        }
    }

    #[test]
    fn slack_gets_text_a_colour_bar_and_blocks() {
        let v = slack(&major(Phase::Open), &page());
        assert_eq!(
            v["text"],
            ":red_circle: Anthropic / claude<sonnet> is in Major Outage"
        );
        let a = &v["attachments"][0];
        assert_eq!(a["color"], "#E01E5A");
        assert_eq!(a["blocks"][0]["type"], "section");
        assert_eq!(a["blocks"][0]["text"]["type"], "mrkdwn");
        let section = a["blocks"][0]["text"]["text"].as_str().unwrap_or_default();
        assert!(
            section.starts_with(
                "*Anthropic / claude&lt;sonnet&gt; is in Major Outage*\nWas Degraded Performance."
            ),
            "{section}"
        );
        assert!(section.contains("61 of 87 requests"));
        assert_eq!(a["blocks"][1]["type"], "context");
        let context = a["blocks"][1]["elements"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(
            context.starts_with("<https://status.acme.example/status|Acme AI>"),
            "{context}"
        );
        let resolved = slack(&major(Phase::Resolve), &page());
        assert_eq!(resolved["attachments"][0]["color"], "#2EB67D");
        assert!(
            resolved["text"]
                .as_str()
                .unwrap_or_default()
                .starts_with(":large_green_circle:")
        );
    }

    #[test]
    fn the_native_payload_carries_the_page_and_the_change() {
        let v = native(&major(Phase::Open), &page());
        assert_eq!(v["version"], 1);
        assert_eq!(v["event"], "component.status_changed");
        assert_eq!(v["phase"], "open");
        assert_eq!(v["page"]["status_indicator"], "major");
        assert_eq!(v["page"]["status_description"], "Partial System Outage");
        assert_eq!(v["component"]["old_status"], "degraded_performance");
        assert_eq!(v["component"]["new_status"], "major_outage");
        assert_eq!(v["component"]["provider"], "anthropic");
        assert_eq!(v["occurred_at"], "2023-11-14T22:13:20Z");
        assert!(v["incident"].is_null() && v["maintenance"].is_null() && v["slo"].is_null());
    }

    #[test]
    fn incident_emails_thread_on_the_first_message() {
        let incident = |kind, phase| {
            let mut e = StatusEvent::new(kind, 1_700_000_000_000);
            e.incident = Some(IncidentInfo {
                id: "inc9".into(),
                name: "Anthropic: major outage".into(),
                status: IncidentStatus::Investigating,
                impact: Impact::Critical,
                body: "We are investigating.".into(),
                created_at_ms: 0,
            });
            Notification {
                event: Arc::new(e),
                phase,
                channels: Vec::new(),
                rules: Vec::new(),
            }
        };
        let first = email(
            &incident(EventKind::IncidentCreated, Phase::Open),
            &page(),
            "acme.example",
        );
        assert_eq!(first.message_id, "incident-inc9@acme.example");
        assert_eq!(first.in_reply_to, None);
        assert_eq!(
            first.subject,
            "[Acme AI] Major Outage — Incident: Anthropic: major outage"
        );
        assert!(first.text.contains("We are investigating."));
        assert!(first.html.contains("#E01E5A"));
        let resolved = email(
            &incident(EventKind::IncidentResolved, Phase::Resolve),
            &page(),
            "acme.example",
        );
        assert_eq!(
            resolved.in_reply_to.as_deref(),
            Some("incident-inc9@acme.example")
        );
        assert_ne!(resolved.message_id, first.message_id);
        assert!(
            resolved
                .subject
                .starts_with("[Acme AI] Resolved — Resolved: "),
            "{}",
            resolved.subject
        );
        let escaped = email(&major(Phase::Open), &page(), "acme.example");
        assert!(
            escaped.html.contains("claude&lt;sonnet&gt;") && !escaped.html.contains("<sonnet>")
        );
    }
}
