use super::super::ComponentStatus::*;
use super::*;

const S: u64 = 1_000;
const MIN: u64 = 60 * S;

fn tr(from: ComponentStatus, to: ComponentStatus, at_ms: u64) -> Transition {
    Transition {
        from,
        to,
        at_ms,
        reason: String::new(),
    }
}

fn tracker() -> IncidentTracker {
    IncidentTracker::new(IncidentSettings::default())
}

fn kinds(ds: &[Decision]) -> Vec<(DecisionKind, IncidentStatus, Impact)> {
    ds.iter().map(|d| (d.kind, d.status, d.impact)).collect()
}

/// Ticks every 10 s over `[from, to)`.
fn run(t: &mut IncidentTracker, from: u64, to: u64) -> Vec<Decision> {
    (from..to)
        .step_by(10_000)
        .flat_map(|now| t.tick(now))
        .collect()
}

fn change(component: &str, old: ComponentStatus, new: ComponentStatus) -> ComponentChange {
    ComponentChange {
        component: component.into(),
        old_status: old,
        new_status: new,
    }
}

#[test]
fn an_outage_opens_an_incident_after_sixty_seconds() {
    let mut t = tracker();
    assert!(
        t.on_transition(
            "openai/gpt-4o",
            "openai",
            &tr(Operational, PartialOutage, 0)
        )
        .is_empty()
    );
    assert!(run(&mut t, 0, 60 * S).is_empty());
    let d = t.tick(60 * S);
    assert_eq!(
        kinds(&d),
        [(
            DecisionKind::Open,
            IncidentStatus::Investigating,
            Impact::Major
        )]
    );
    assert_eq!(d[0].dedup_key, "openai");
    assert_eq!(
        d[0].changes,
        [change("openai/gpt-4o", Operational, PartialOutage)]
    );
    assert_eq!(t.unresolved_impacts(), [Impact::Major]);
}

#[test]
fn a_short_outage_opens_nothing() {
    let mut t = tracker();
    t.on_transition("m", "p", &tr(Operational, MajorOutage, 0));
    assert!(run(&mut t, 0, 50 * S).is_empty());
    t.on_transition("m", "p", &tr(MajorOutage, Operational, 50 * S));
    assert!(run(&mut t, 50 * S, 10 * MIN).is_empty());
    assert!(t.incidents().is_empty());
}

#[test]
fn the_sixty_seconds_count_across_partial_and_major() {
    let mut t = tracker();
    t.on_transition("m", "p", &tr(Operational, PartialOutage, 0));
    t.on_transition("m", "p", &tr(PartialOutage, MajorOutage, 30 * S));
    let d = t.tick(60 * S);
    assert_eq!(
        kinds(&d),
        [(
            DecisionKind::Open,
            IncidentStatus::Investigating,
            Impact::Critical
        )]
    );
}

#[test]
fn degraded_opens_nothing_by_default() {
    let mut t = tracker();
    t.on_transition("m", "p", &tr(Operational, DegradedPerformance, 0));
    assert!(run(&mut t, 0, 60 * MIN).is_empty());
}

#[test]
fn degraded_opens_a_minor_incident_when_configured() {
    let mut t = IncidentTracker::new(IncidentSettings {
        open_on_degraded_after_ms: Some(10 * MIN),
        ..IncidentSettings::default()
    });
    t.on_transition("m", "p", &tr(Operational, DegradedPerformance, 0));
    assert!(run(&mut t, 0, 10 * MIN).is_empty());
    let d = t.tick(10 * MIN);
    assert_eq!(
        kinds(&d),
        [(
            DecisionKind::Open,
            IncidentStatus::Investigating,
            Impact::Minor
        )]
    );
}

#[test]
fn maintenance_opens_nothing() {
    let mut t = tracker();
    t.on_transition("m", "p", &tr(Operational, UnderMaintenance, 0));
    assert!(run(&mut t, 0, 30 * MIN).is_empty());
}

#[test]
fn lifecycle_open_merge_monitoring_resolve_reopen() {
    // §5.12 item 4.
    let mut t = tracker();
    t.on_transition(
        "openai/gpt-4o",
        "openai",
        &tr(Operational, PartialOutage, 0),
    );
    let open = t.tick(60 * S);
    let id = open[0].incident;

    // A second model of the same provider joins the same incident and raises its impact.
    t.on_transition(
        "openai/gpt-4o-mini",
        "openai",
        &tr(Operational, MajorOutage, 70 * S),
    );
    assert!(run(&mut t, 70 * S, 130 * S).is_empty());
    let merged = t.tick(130 * S);
    assert_eq!(
        kinds(&merged),
        [(
            DecisionKind::Update,
            IncidentStatus::Investigating,
            Impact::Critical
        )]
    );
    assert_eq!(merged[0].incident, id);
    assert_eq!(
        merged[0].changes,
        [change("openai/gpt-4o-mini", Operational, MajorOutage)]
    );
    assert_eq!(t.incidents().len(), 1);

    // One recovers: an update; both recovered: monitoring.
    let d = t.on_transition(
        "openai/gpt-4o",
        "openai",
        &tr(PartialOutage, Operational, 10 * MIN),
    );
    assert_eq!(
        kinds(&d),
        [(
            DecisionKind::Update,
            IncidentStatus::Investigating,
            Impact::Critical
        )]
    );
    assert_eq!(
        d[0].changes,
        [change("openai/gpt-4o", PartialOutage, Operational)]
    );
    let d = t.on_transition(
        "openai/gpt-4o-mini",
        "openai",
        &tr(MajorOutage, Operational, 12 * MIN),
    );
    assert_eq!(
        kinds(&d),
        [(
            DecisionKind::Monitoring,
            IncidentStatus::Monitoring,
            Impact::Critical
        )]
    );
    assert_eq!(
        DecisionKind::Monitoring.default_body(),
        Some("Error rates have returned to normal. We are monitoring.")
    );

    // Resolved after 10 min of monitoring.
    assert!(run(&mut t, 12 * MIN, 22 * MIN).is_empty());
    let d = t.tick(22 * MIN);
    assert_eq!(
        kinds(&d),
        [(
            DecisionKind::Resolve,
            IncidentStatus::Resolved,
            Impact::Critical
        )]
    );
    assert!(t.unresolved_impacts().is_empty());

    // A relapse 20 min later reopens the same id once it has held for 60 s.
    t.on_transition(
        "openai/gpt-4o",
        "openai",
        &tr(Operational, MajorOutage, 42 * MIN),
    );
    assert!(t.tick(42 * MIN + 50 * S).is_empty());
    let d = t.tick(43 * MIN);
    assert_eq!(
        kinds(&d),
        [(
            DecisionKind::Reopen,
            IncidentStatus::Investigating,
            Impact::Critical
        )]
    );
    assert_eq!(d[0].incident, id);
}

#[test]
fn a_relapse_while_monitoring_returns_to_investigating() {
    let mut t = tracker();
    t.on_transition("m", "p", &tr(Operational, MajorOutage, 0));
    t.tick(60 * S);
    t.on_transition("m", "p", &tr(MajorOutage, Operational, 5 * MIN));
    assert!(run(&mut t, 5 * MIN, 12 * MIN).is_empty());
    let d = t.on_transition("m", "p", &tr(Operational, DegradedPerformance, 12 * MIN));
    assert_eq!(
        kinds(&d),
        [(
            DecisionKind::Update,
            IncidentStatus::Investigating,
            Impact::Critical
        )]
    );
    // The resolve clock restarts from the next calm moment.
    let d = t.on_transition("m", "p", &tr(DegradedPerformance, Operational, 14 * MIN));
    assert_eq!(d[0].kind, DecisionKind::Monitoring);
    assert!(run(&mut t, 14 * MIN, 24 * MIN).is_empty());
    assert_eq!(t.tick(24 * MIN)[0].kind, DecisionKind::Resolve);
}

#[test]
fn a_relapse_after_the_reopen_window_opens_a_new_incident() {
    let mut t = tracker();
    t.on_transition("m", "p", &tr(Operational, MajorOutage, 0));
    let first = t.tick(60 * S)[0].incident;
    t.on_transition("m", "p", &tr(MajorOutage, Operational, 2 * MIN));
    assert_eq!(t.tick(12 * MIN)[0].kind, DecisionKind::Resolve);
    run(&mut t, 12 * MIN, 43 * MIN);
    t.on_transition("m", "p", &tr(Operational, MajorOutage, 43 * MIN));
    let d = t.tick(44 * MIN);
    assert_eq!(d[0].kind, DecisionKind::Open);
    assert_ne!(d[0].incident, first);
}

#[test]
fn other_providers_get_their_own_incident() {
    let mut t = tracker();
    t.on_transition("a/x", "a", &tr(Operational, MajorOutage, 0));
    t.on_transition("b/y", "b", &tr(Operational, PartialOutage, 0));
    let d = t.tick(60 * S);
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|d| d.kind == DecisionKind::Open));
    assert_ne!(d[0].incident, d[1].incident);
}

#[test]
fn impact_is_never_lowered_by_a_partial_recovery() {
    let mut t = tracker();
    t.on_transition("m", "p", &tr(Operational, MajorOutage, 0));
    t.tick(60 * S);
    let d = t.on_transition("m", "p", &tr(MajorOutage, PartialOutage, 2 * MIN));
    assert_eq!(
        kinds(&d),
        [(
            DecisionKind::Update,
            IncidentStatus::Investigating,
            Impact::Critical
        )]
    );
}

#[test]
fn humans_win_over_status_changes() {
    let mut t = tracker();
    t.on_transition("m", "p", &tr(Operational, MajorOutage, 0));
    let id = t.tick(60 * S)[0].incident;
    t.operator_update(id, Some(IncidentStatus::Identified), 2 * MIN);
    // Component changes are still appended, but the status stays the operator's.
    let d = t.on_transition("m", "p", &tr(MajorOutage, Operational, 3 * MIN));
    assert_eq!(
        kinds(&d),
        [(
            DecisionKind::Update,
            IncidentStatus::Identified,
            Impact::Critical
        )]
    );
    assert!(run(&mut t, 3 * MIN, 60 * MIN).is_empty());
    assert_eq!(t.incidents()[0].status, IncidentStatus::Identified);
}

#[test]
fn humans_can_hand_resolution_back() {
    let mut t = tracker();
    t.on_transition("m", "p", &tr(Operational, MajorOutage, 0));
    let id = t.tick(60 * S)[0].incident;
    t.operator_update(id, None, 2 * MIN);
    t.set_auto_resolve(id, true);
    t.on_transition("m", "p", &tr(MajorOutage, Operational, 3 * MIN));
    assert!(run(&mut t, 3 * MIN, 13 * MIN).is_empty());
    let d = t.tick(13 * MIN);
    assert_eq!(
        kinds(&d),
        [(
            DecisionKind::Resolve,
            IncidentStatus::Resolved,
            Impact::Critical
        )]
    );
}

#[test]
fn an_operator_resolved_incident_is_not_reopened() {
    let mut t = tracker();
    t.on_transition("m", "p", &tr(Operational, MajorOutage, 0));
    let id = t.tick(60 * S)[0].incident;
    t.on_transition("m", "p", &tr(MajorOutage, Operational, 2 * MIN));
    t.operator_update(id, Some(IncidentStatus::Resolved), 3 * MIN);
    t.on_transition("m", "p", &tr(Operational, MajorOutage, 5 * MIN));
    let d = t.tick(6 * MIN);
    assert_eq!(d[0].kind, DecisionKind::Open);
    assert_ne!(d[0].incident, id);
}

#[test]
fn maintenance_counts_as_calm_for_monitoring() {
    let mut t = tracker();
    t.on_transition("m", "p", &tr(Operational, MajorOutage, 0));
    t.tick(60 * S);
    let d = t.on_transition("m", "p", &tr(MajorOutage, UnderMaintenance, 2 * MIN));
    assert_eq!(d[0].kind, DecisionKind::Monitoring);
}

#[test]
fn statuses_serialize_as_statuspage_strings() {
    assert_eq!(
        serde_json::to_string(&[
            IncidentStatus::Investigating,
            IncidentStatus::Identified,
            IncidentStatus::Monitoring,
            IncidentStatus::Resolved,
            IncidentStatus::Postmortem,
        ])
        .unwrap(),
        r#"["investigating","identified","monitoring","resolved","postmortem"]"#
    );
}

#[test]
fn auto_open_on_major_only_or_never() {
    let mut major_only = IncidentTracker::new(IncidentSettings {
        open_at: Some(MajorOutage),
        ..IncidentSettings::default()
    });
    major_only.on_transition("m", "p", &tr(Operational, PartialOutage, 0));
    assert!(
        run(&mut major_only, 0, 10 * MIN).is_empty(),
        "partial opens nothing"
    );
    major_only.on_transition("m", "p", &tr(PartialOutage, MajorOutage, 10 * MIN));
    let opened = run(&mut major_only, 10 * MIN, 12 * MIN);
    assert_eq!(
        kinds(&opened),
        [(
            DecisionKind::Open,
            IncidentStatus::Investigating,
            Impact::Critical
        )]
    );

    let mut never = IncidentTracker::new(IncidentSettings {
        open_at: None,
        ..IncidentSettings::default()
    });
    never.on_transition("m", "p", &tr(Operational, MajorOutage, 0));
    assert!(run(&mut never, 0, 30 * MIN).is_empty());
}

#[test]
fn new_settings_keep_open_incidents() {
    let mut t = tracker();
    t.on_transition("m", "p", &tr(Operational, MajorOutage, 0));
    assert_eq!(run(&mut t, 0, 2 * MIN).len(), 1);
    t.set_settings(IncidentSettings {
        monitoring_to_resolved_ms: MIN,
        ..IncidentSettings::default()
    });
    assert_eq!(
        t.incidents().len(),
        1,
        "the open incident survives a reload"
    );
    t.on_transition("m", "p", &tr(MajorOutage, Operational, 3 * MIN));
    let d = run(&mut t, 3 * MIN, 5 * MIN);
    assert_eq!(
        kinds(&d),
        [(
            DecisionKind::Resolve,
            IncidentStatus::Resolved,
            Impact::Critical
        )],
        "resolved after the new 1-minute calm"
    );
}
