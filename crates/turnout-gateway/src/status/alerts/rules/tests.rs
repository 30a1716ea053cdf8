#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::status::derive::ComponentStatus::*;
use crate::status::derive::{Impact, IncidentStatus, Indicator};
use crate::status::events::{BurnInfo, IncidentInfo, PageChange, StatusChange, Target};

const MIN: u64 = 60_000;

fn rule(name: &str, events: &[&str], min: ComponentStatus) -> Rule {
    Rule {
        name: name.to_owned(),
        channels: vec![format!("{name}-channel")],
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        scope: AlertScope::Page,
        provider: None,
        model: None,
        min_status: min,
        min_severity: BurnSeverity::Ticket,
        send_on_resolved: true,
        reminder_ms: None,
    }
}

fn target(provider: &str, model: &str) -> Target {
    Target {
        id: format!("{provider}|{model}"),
        name: model.to_owned(),
        group_id: Some(provider.to_owned()),
        group_name: Some(provider.to_owned()),
        provider: Some(provider.to_owned()),
        model: Some(model.to_owned()),
    }
}

fn status(
    provider: &str,
    model: &str,
    from: ComponentStatus,
    to: ComponentStatus,
    at: u64,
) -> StatusEvent {
    let mut e = StatusEvent::new(EventKind::ComponentStatusChanged, at);
    e.targets = vec![target(provider, model)];
    e.change = Some(StatusChange {
        old_status: from,
        new_status: to,
        changed_at_ms: at,
        reason: String::new(),
    });
    e
}

fn incident(kind: EventKind, status: IncidentStatus, impact: Impact, at: u64) -> StatusEvent {
    let mut e = StatusEvent::new(kind, at);
    e.targets = vec![target("a", "m")];
    e.incident = Some(IncidentInfo {
        id: "inc1".into(),
        name: "Alpha: major outage".into(),
        status,
        impact,
        body: String::new(),
        created_at_ms: 0,
    });
    e
}

fn burn(severity: BurnSeverity, firing: bool, at: u64) -> StatusEvent {
    let mut e = StatusEvent::new(EventKind::SloBurnRate, at);
    e.targets = vec![target("a", "m")];
    e.burn = Some(BurnInfo {
        severity,
        firing,
        availability_target: 0.995,
        long_window_s: 3600,
        short_window_s: 300,
        threshold: 14.4,
        long_burn_rate: 20.0,
        short_burn_rate: 30.0,
        short_window_requests: 100,
    });
    e
}

fn phases(ns: &[Notification]) -> Vec<(Phase, Vec<String>)> {
    ns.iter().map(|n| (n.phase, n.channels.clone())).collect()
}

fn to(phase: Phase, channel: &str) -> Vec<(Phase, Vec<String>)> {
    vec![(phase, vec![channel.to_owned()])]
}

#[test]
fn a_status_alert_opens_updates_and_resolves_at_its_minimum() {
    let mut e = Engine::new(
        vec![rule("r", &["component.status_changed"], PartialOutage)],
        10 * MIN,
    );
    let mut at = 0;
    let mut step = |from, into| {
        at += MIN;
        phases(&e.on_event(status("a", "m", from, into, at), at, false))
    };
    assert!(
        step(Operational, DegradedPerformance).is_empty(),
        "below min_status"
    );
    assert_eq!(
        step(DegradedPerformance, PartialOutage),
        to(Phase::Open, "r-channel")
    );
    assert_eq!(
        step(PartialOutage, MajorOutage),
        to(Phase::Update, "r-channel")
    );
    assert_eq!(
        step(MajorOutage, DegradedPerformance),
        to(Phase::Resolve, "r-channel")
    );
    assert!(
        step(DegradedPerformance, Operational).is_empty(),
        "already resolved"
    );
}

#[test]
fn resolved_notices_can_be_turned_off() {
    let mut quiet = rule("r", &["*"], PartialOutage);
    quiet.send_on_resolved = false;
    let mut e = Engine::new(vec![quiet], 10 * MIN);
    assert_eq!(
        e.on_event(status("a", "m", Operational, MajorOutage, 0), 0, false)
            .len(),
        1
    );
    assert!(
        e.on_event(status("a", "m", MajorOutage, Operational, MIN), MIN, false)
            .is_empty()
    );
    // Nobody heard of the recovery: the same outage again within the dedup window is no news.
    assert!(
        e.on_event(
            status("a", "m", Operational, MajorOutage, 2 * MIN),
            2 * MIN,
            false
        )
        .is_empty()
    );
    e.on_event(
        status("a", "m", MajorOutage, Operational, 3 * MIN),
        3 * MIN,
        false,
    );
    assert_eq!(
        e.on_event(
            status("a", "m", Operational, MajorOutage, 11 * MIN),
            11 * MIN,
            false
        )
        .len(),
        1,
        "past it, a relapse opens the alert again"
    );
}

#[test]
fn scopes_pick_a_provider_or_one_model() {
    let mut group = rule("group", &["component.status_changed"], DegradedPerformance);
    group.scope = AlertScope::Group;
    group.provider = Some("a".into());
    let mut one = rule("one", &["component.status_changed"], DegradedPerformance);
    one.scope = AlertScope::Component;
    one.provider = Some("a".into());
    one.model = Some("m2".into());
    let page = rule("page", &["page.status_changed"], DegradedPerformance);
    let mut e = Engine::new(vec![group, one, page], 10 * MIN);
    let ns = e.on_event(status("a", "m", Operational, MajorOutage, 0), 0, false);
    assert_eq!(ns[0].rules, ["group"]);
    let ns = e.on_event(status("a", "m2", Operational, MajorOutage, 0), 0, false);
    assert_eq!(ns[0].rules, ["group", "one"]);
    assert!(
        e.on_event(status("b", "m2", Operational, MajorOutage, 0), 0, false)
            .is_empty()
    );
    let mut page_event = StatusEvent::new(EventKind::PageStatusChanged, 0);
    page_event.page = Some(PageChange {
        old_indicator: Indicator::None,
        new_indicator: Indicator::Major,
        description: "Partial System Outage".into(),
    });
    let ns = e.on_event(page_event, 0, false);
    assert_eq!(
        ns[0].rules,
        ["page"],
        "only a page-scoped rule hears the page"
    );
}

#[test]
fn identical_notifications_are_deduplicated_within_the_window() {
    let mut e = Engine::new(vec![rule("r", &["*"], PartialOutage)], 10 * MIN);
    assert_eq!(
        e.on_event(status("a", "m", Operational, MajorOutage, 0), 0, false)
            .len(),
        1
    );
    // The same change seen again (a second evaluation path, a replay): not sent twice.
    assert!(
        e.on_event(status("a", "m", Operational, MajorOutage, MIN), MIN, false)
            .is_empty()
    );
    assert!(
        e.on_event(
            status("a", "m", PartialOutage, MajorOutage, 9 * MIN),
            9 * MIN,
            false
        )
        .is_empty()
    );
    assert_eq!(
        e.on_event(
            status("a", "m", PartialOutage, MajorOutage, 11 * MIN),
            11 * MIN,
            false
        )
        .len(),
        1,
        "past the window"
    );
    // A resolution in between is a different notification: a relapse is sent.
    assert_eq!(
        e.on_event(
            status("a", "m", MajorOutage, Operational, 12 * MIN),
            12 * MIN,
            false
        )
        .len(),
        1
    );
    assert_eq!(
        e.on_event(
            status("a", "m", Operational, MajorOutage, 13 * MIN),
            13 * MIN,
            false
        )
        .len(),
        1
    );
}

#[test]
fn reminders_repeat_while_the_alert_lasts() {
    let mut r = rule("r", &["component.status_changed"], PartialOutage);
    r.reminder_ms = Some(15 * MIN);
    let mut e = Engine::new(vec![r], 10 * MIN);
    let never = |_: &StatusEvent| false;
    e.on_event(status("a", "m", Operational, MajorOutage, 0), 0, false);
    assert!(e.tick(14 * MIN, never).is_empty());
    let reminder = e.tick(15 * MIN, never);
    assert_eq!(phases(&reminder), to(Phase::Reminder, "r-channel"));
    assert_eq!(
        reminder[0].event.change.as_ref().map(|c| c.new_status),
        Some(MajorOutage)
    );
    assert!(e.tick(29 * MIN, never).is_empty());
    assert_eq!(e.tick(30 * MIN, never).len(), 1);
    e.on_event(
        status("a", "m", MajorOutage, Operational, 31 * MIN),
        31 * MIN,
        false,
    );
    assert!(
        e.tick(60 * MIN, never).is_empty(),
        "no reminders once resolved"
    );
}

#[test]
fn maintenance_holds_alerts_back_until_it_is_over() {
    let mut e = Engine::new(vec![rule("r", &["*"], PartialOutage)], 10 * MIN);
    assert!(
        e.on_event(status("a", "m", Operational, MajorOutage, 0), 0, true)
            .is_empty(),
        "suppressed"
    );
    assert!(e.tick(MIN, |_| true).is_empty(), "still in maintenance");
    let late = e.tick(2 * MIN, |_| false);
    assert_eq!(
        phases(&late),
        to(Phase::Open, "r-channel"),
        "still broken after it"
    );

    // Held back and then over before the maintenance ended: nothing at all.
    let mut e = Engine::new(vec![rule("r", &["*"], PartialOutage)], 10 * MIN);
    assert!(
        e.on_event(status("a", "m", Operational, MajorOutage, 0), 0, true)
            .is_empty()
    );
    assert!(
        e.on_event(status("a", "m", MajorOutage, Operational, MIN), MIN, true)
            .is_empty()
    );
    assert!(e.tick(2 * MIN, |_| false).is_empty());

    // Announced before the maintenance: its end is announced even during it.
    let mut e = Engine::new(vec![rule("r", &["*"], PartialOutage)], 10 * MIN);
    assert_eq!(
        e.on_event(status("a", "m", Operational, MajorOutage, 0), 0, false)
            .len(),
        1
    );
    let ns = e.on_event(
        status("a", "m", MajorOutage, UnderMaintenance, MIN),
        MIN,
        true,
    );
    assert_eq!(phases(&ns), to(Phase::Resolve, "r-channel"));
}

#[test]
fn an_incident_is_one_alert_from_creation_to_resolution() {
    let mut e = Engine::new(vec![rule("r", &["incident.*"], PartialOutage)], 10 * MIN);
    let created = e.on_event(
        incident(
            EventKind::IncidentCreated,
            IncidentStatus::Investigating,
            Impact::Critical,
            0,
        ),
        0,
        false,
    );
    assert_eq!(phases(&created), to(Phase::Open, "r-channel"));
    let monitoring = e.on_event(
        incident(
            EventKind::IncidentUpdated,
            IncidentStatus::Monitoring,
            Impact::Critical,
            MIN,
        ),
        MIN,
        false,
    );
    assert_eq!(phases(&monitoring), to(Phase::Update, "r-channel"));
    let resolved = e.on_event(
        incident(
            EventKind::IncidentResolved,
            IncidentStatus::Resolved,
            Impact::Critical,
            2 * MIN,
        ),
        2 * MIN,
        false,
    );
    assert_eq!(phases(&resolved), to(Phase::Resolve, "r-channel"));
    assert!(
        e.on_event(status("a", "m", Operational, MajorOutage, 0), 0, false)
            .is_empty(),
        "incident.* hears incidents only"
    );

    // A minor incident is below partial_outage: neither it nor its resolution is sent.
    let mut e = Engine::new(vec![rule("r", &["incident.*"], PartialOutage)], 10 * MIN);
    assert!(
        e.on_event(
            incident(
                EventKind::IncidentCreated,
                IncidentStatus::Investigating,
                Impact::Minor,
                0
            ),
            0,
            false
        )
        .is_empty()
    );
    assert!(
        e.on_event(
            incident(
                EventKind::IncidentResolved,
                IncidentStatus::Resolved,
                Impact::Minor,
                MIN
            ),
            MIN,
            false
        )
        .is_empty()
    );
}

#[test]
fn burn_rate_alerts_filter_on_severity() {
    let mut pager = rule("pager", &["slo.burn_rate"], DegradedPerformance);
    pager.min_severity = BurnSeverity::Page;
    let tickets = rule("tickets", &["slo.burn_rate"], DegradedPerformance);
    let mut e = Engine::new(vec![pager, tickets], 10 * MIN);
    let ns = e.on_event(burn(BurnSeverity::Ticket, true, 0), 0, false);
    assert_eq!(ns[0].rules, ["tickets"]);
    let ns = e.on_event(burn(BurnSeverity::Page, true, 0), 0, false);
    assert_eq!(ns[0].rules, ["pager", "tickets"]);
    let ns = e.on_event(burn(BurnSeverity::Page, false, MIN), MIN, false);
    assert_eq!(ns[0].phase, Phase::Resolve);
    assert_eq!(ns[0].rules, ["pager", "tickets"]);
}

#[test]
fn a_channel_hears_an_event_once() {
    let mut a = rule("a", &["*"], PartialOutage);
    let mut b = rule("b", &["component.*"], DegradedPerformance);
    a.channels = vec!["slack".into(), "mail".into()];
    b.channels = vec!["slack".into()];
    let mut e = Engine::new(vec![a, b], 10 * MIN);
    let ns = e.on_event(status("a", "m", Operational, MajorOutage, 0), 0, false);
    assert_eq!(
        phases(&ns),
        vec![(Phase::Open, vec!["slack".to_owned(), "mail".to_owned()])]
    );
    assert_eq!(ns[0].rules, ["a", "b"]);
}

#[test]
fn reloaded_rules_keep_their_open_alerts() {
    let r = rule("r", &["*"], PartialOutage);
    let mut e = Engine::new(
        vec![r.clone(), rule("gone", &["*"], PartialOutage)],
        10 * MIN,
    );
    e.on_event(status("a", "m", Operational, MajorOutage, 0), 0, false);
    e.set_rules(vec![r], 10 * MIN);
    let ns = e.on_event(status("a", "m", MajorOutage, Operational, MIN), MIN, false);
    assert_eq!(phases(&ns), to(Phase::Resolve, "r-channel"));
}
