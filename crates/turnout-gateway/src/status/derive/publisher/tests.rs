use super::super::ComponentStatus::*;
use super::*;
use proptest::prelude::*;

const S: u64 = 1_000;
const MIN: u64 = 60 * S;
const EVAL: u64 = 10 * S;

fn publisher(initial: ComponentStatus) -> Publisher {
    Publisher::new(initial, &Thresholds::default())
}

/// Feeds `raw` every 10 s over `[from, to)` and returns the transitions.
fn hold(p: &mut Publisher, raw: ComponentStatus, from: u64, to: u64) -> Vec<Transition> {
    (from..to)
        .step_by(EVAL as usize)
        .filter_map(|now| p.observe(Some(raw), now))
        .collect()
}

fn probe_eval(status: ComponentStatus, ok_probe_streak: u32) -> Evaluation {
    Evaluation {
        status: Some(status),
        rule: None,
        detail: String::new(),
        probe_only: true,
        ok_probe_streak,
    }
}

fn moves(ts: &[Transition]) -> Vec<(ComponentStatus, ComponentStatus, u64)> {
    ts.iter().map(|t| (t.from, t.to, t.at_ms)).collect()
}

// ---- worsening -------------------------------------------------------------------------------

#[test]
fn one_bad_evaluation_changes_nothing() {
    let mut p = publisher(Operational);
    assert_eq!(p.observe(Some(MajorOutage), 0), None);
    assert_eq!(p.observe(Some(Operational), 10 * S), None);
    assert_eq!(p.observe(Some(MajorOutage), 20 * S), None);
    assert_eq!(p.published(), Operational);
}

#[test]
fn major_is_published_on_the_second_evaluation() {
    let mut p = publisher(Operational);
    let ts = hold(&mut p, MajorOutage, 0, 30 * S);
    assert_eq!(moves(&ts), [(Operational, MajorOutage, 10 * S)]);
    assert!(
        ts[0].reason.contains("held 2 evaluations"),
        "{}",
        ts[0].reason
    );
}

#[test]
fn partial_is_published_on_the_second_evaluation() {
    let mut p = publisher(Operational);
    let ts = hold(&mut p, PartialOutage, 0, 30 * S);
    assert_eq!(moves(&ts), [(Operational, PartialOutage, 10 * S)]);
}

#[test]
fn degraded_is_published_on_the_third_evaluation() {
    let mut p = publisher(Operational);
    let ts = hold(&mut p, DegradedPerformance, 0, 40 * S);
    assert_eq!(moves(&ts), [(Operational, DegradedPerformance, 20 * S)]);
}

#[test]
fn worsening_confirms_the_level_the_raw_state_held() {
    // partial then major: it has been at least partial for two evaluations, major for one.
    let mut p = publisher(Operational);
    assert_eq!(p.observe(Some(PartialOutage), 0), None);
    let t = p.observe(Some(MajorOutage), 10 * S).unwrap();
    assert_eq!((t.from, t.to), (Operational, PartialOutage));
    let t = p.observe(Some(MajorOutage), 20 * S).unwrap();
    assert_eq!((t.from, t.to), (PartialOutage, MajorOutage));
}

#[test]
fn degraded_evaluations_count_toward_degraded_under_a_worse_raw() {
    let mut p = publisher(Operational);
    assert_eq!(p.observe(Some(DegradedPerformance), 0), None);
    assert_eq!(p.observe(Some(DegradedPerformance), 10 * S), None);
    let t = p.observe(Some(PartialOutage), 20 * S).unwrap();
    assert_eq!(t.to, DegradedPerformance);
    let t = p.observe(Some(PartialOutage), 30 * S).unwrap();
    assert_eq!(t.to, PartialOutage);
}

#[test]
fn a_better_evaluation_breaks_the_confirmation() {
    let mut p = publisher(Operational);
    assert_eq!(p.observe(Some(DegradedPerformance), 0), None);
    assert_eq!(p.observe(Some(DegradedPerformance), 10 * S), None);
    assert_eq!(p.observe(Some(Operational), 20 * S), None);
    assert_eq!(p.observe(Some(DegradedPerformance), 30 * S), None);
    assert_eq!(p.observe(Some(DegradedPerformance), 40 * S), None);
    assert!(p.observe(Some(DegradedPerformance), 50 * S).is_some());
}

#[test]
fn worsening_from_degraded_to_major() {
    let mut p = publisher(DegradedPerformance);
    let ts = hold(&mut p, MajorOutage, 0, 30 * S);
    assert_eq!(moves(&ts), [(DegradedPerformance, MajorOutage, 10 * S)]);
}

#[test]
fn unknown_neither_confirms_nor_resets() {
    let mut p = publisher(Operational);
    assert_eq!(p.observe(Some(MajorOutage), 0), None);
    assert_eq!(p.observe(None, 10 * S), None);
    assert!(p.observe(Some(MajorOutage), 20 * S).is_some());
    // …and it keeps the last known status however long it lasts.
    for now in (30..3_600).step_by(10) {
        assert_eq!(p.observe(None, now * S), None);
    }
    assert_eq!(p.published(), MajorOutage);
}

// ---- recovery --------------------------------------------------------------------------------

#[test]
fn recovery_waits_five_minutes_of_better_evaluations() {
    let mut p = publisher(MajorOutage);
    assert!(hold(&mut p, Operational, 0, 5 * MIN).is_empty());
    let t = p.observe(Some(Operational), 5 * MIN).unwrap();
    assert_eq!((t.from, t.to), (MajorOutage, Operational));
    assert!(
        t.reason.contains("better than major_outage for 300 s"),
        "{}",
        t.reason
    );
}

#[test]
fn relapse_during_recovery_resets_the_clock() {
    // §5.12: recovery after 4 min then relapse → stays major, and the recovery clock resets.
    let mut p = publisher(MajorOutage);
    assert!(hold(&mut p, Operational, 0, 4 * MIN).is_empty());
    assert_eq!(p.observe(Some(MajorOutage), 4 * MIN), None);
    assert!(hold(&mut p, Operational, 4 * MIN + EVAL, 9 * MIN + EVAL).is_empty());
    assert_eq!(p.published(), MajorOutage);
    let t = p.observe(Some(Operational), 9 * MIN + EVAL).unwrap();
    assert_eq!(t.to, Operational);
}

#[test]
fn an_evaluation_at_the_published_level_also_resets_the_clock() {
    let mut p = publisher(PartialOutage);
    assert!(hold(&mut p, Operational, 0, 4 * MIN).is_empty());
    assert_eq!(p.observe(Some(PartialOutage), 4 * MIN), None);
    assert!(hold(&mut p, DegradedPerformance, 4 * MIN + EVAL, 9 * MIN + EVAL).is_empty());
    assert_eq!(p.published(), PartialOutage);
}

#[test]
fn recovery_drops_straight_to_the_raw_state() {
    let mut p = publisher(MajorOutage);
    let ts = hold(&mut p, Operational, 0, 6 * MIN);
    assert_eq!(moves(&ts), [(MajorOutage, Operational, 5 * MIN)]);

    let mut p = publisher(MajorOutage);
    let ts = hold(&mut p, DegradedPerformance, 0, 6 * MIN);
    assert_eq!(moves(&ts), [(MajorOutage, DegradedPerformance, 5 * MIN)]);
}

#[test]
fn recovery_counts_any_better_state_and_lands_on_the_current_one() {
    let mut p = publisher(MajorOutage);
    assert!(hold(&mut p, PartialOutage, 0, 3 * MIN).is_empty());
    let ts = hold(&mut p, Operational, 3 * MIN, 6 * MIN);
    assert_eq!(moves(&ts), [(MajorOutage, Operational, 5 * MIN)]);
}

#[test]
fn probe_only_recovery_needs_two_consecutive_ok_probes() {
    let mut p = publisher(MajorOutage);
    for now in (0..10 * MIN).step_by(EVAL as usize) {
        // Raw looks operational (1 failure in the last 3 probes) but only one ok probe in a row.
        assert_eq!(p.observe_evaluation(&probe_eval(Operational, 1), now), None);
    }
    let t = p
        .observe_evaluation(&probe_eval(Operational, 2), 10 * MIN)
        .unwrap();
    assert_eq!((t.from, t.to), (MajorOutage, Operational));
}

#[test]
fn live_traffic_recovery_does_not_wait_for_probes() {
    let mut p = publisher(MajorOutage);
    let e = Evaluation {
        probe_only: false,
        ..probe_eval(Operational, 0)
    };
    let ts: Vec<_> = (0..6 * MIN)
        .step_by(EVAL as usize)
        .filter_map(|now| p.observe_evaluation(&e, now))
        .collect();
    assert_eq!(moves(&ts), [(MajorOutage, Operational, 5 * MIN)]);
}

#[test]
fn transition_reason_carries_the_evaluation_detail() {
    let mut p = publisher(Operational);
    let e = Evaluation {
        detail: "major_outage(a): W2 error ratio 60.0 % (6 of 10 requests)".into(),
        probe_only: false,
        ..probe_eval(MajorOutage, 0)
    };
    assert_eq!(p.observe_evaluation(&e, 0), None);
    let t = p.observe_evaluation(&e, 10 * S).unwrap();
    assert_eq!(
        t.reason,
        "raw major_outage held 2 evaluations; major_outage(a): W2 error ratio 60.0 % (6 of 10 requests)"
    );
}

// ---- flap guard ------------------------------------------------------------------------------

/// op → major (10 s) → op (320 s) → major (340 s) → op (650 s): four auto transitions.
fn flap_four_times(p: &mut Publisher) -> Vec<Transition> {
    let mut ts = hold(p, MajorOutage, 0, 20 * S);
    ts.extend(hold(p, Operational, 20 * S, 330 * S));
    ts.extend(hold(p, MajorOutage, 330 * S, 350 * S));
    ts.extend(hold(p, Operational, 350 * S, 660 * S));
    ts
}

#[test]
fn four_transitions_in_thirty_minutes_start_flapping() {
    let mut p = publisher(Operational);
    let ts = flap_four_times(&mut p);
    // The fourth transition (major → op at 650 s) is the one the guard holds back.
    assert_eq!(
        moves(&ts),
        [
            (Operational, MajorOutage, 10 * S),
            (MajorOutage, Operational, 320 * S),
            (Operational, MajorOutage, 340 * S),
        ]
    );
    assert!(p.flapping());
    assert_eq!(p.published(), MajorOutage);
    assert_eq!(p.auto_status(), Operational);
}

#[test]
fn three_transitions_are_not_flapping() {
    let mut p = publisher(Operational);
    hold(&mut p, MajorOutage, 0, 20 * S);
    hold(&mut p, Operational, 20 * S, 330 * S);
    hold(&mut p, MajorOutage, 330 * S, 350 * S);
    assert!(!p.flapping());
}

#[test]
fn transitions_spread_over_more_than_thirty_minutes_are_not_flapping() {
    let mut p = publisher(Operational);
    let mut now = 0;
    for _ in 0..3 {
        hold(&mut p, MajorOutage, now, now + 20 * S);
        hold(&mut p, Operational, now + 20 * S, now + 16 * MIN);
        now += 16 * MIN;
        assert!(!p.flapping());
    }
}

#[test]
fn five_transitions_in_thirty_minutes_are_flapping() {
    let mut p = publisher(Operational);
    flap_four_times(&mut p);
    hold(&mut p, PartialOutage, 660 * S, 680 * S);
    assert!(p.flapping());
    assert_eq!(p.published(), MajorOutage);
}

#[test]
fn flapping_ends_after_fifteen_minutes_without_a_raw_change() {
    let mut p = publisher(Operational);
    flap_four_times(&mut p);
    // Raw has been operational since 350 s; quiet for 15 min at 1250 s.
    let ts = hold(&mut p, Operational, 660 * S, 1_300 * S);
    assert_eq!(moves(&ts), [(MajorOutage, Operational, 1_250 * S)]);
    assert!(ts[0].reason.contains("flapping ended"), "{}", ts[0].reason);
    assert!(!p.flapping());
}

#[test]
fn a_raw_change_restarts_the_quiet_period() {
    let mut p = publisher(Operational);
    flap_four_times(&mut p);
    hold(&mut p, Operational, 660 * S, 1_000 * S);
    // A single degraded blip: not confirmed, but it is a raw change.
    assert_eq!(p.observe(Some(DegradedPerformance), 1_000 * S), None);
    assert!(hold(&mut p, Operational, 1_010 * S, 1_900 * S).is_empty());
    assert!(p.flapping());
    let t = p.observe(Some(Operational), 1_910 * S).unwrap();
    assert_eq!((t.to, t.at_ms), (Operational, 1_910 * S));
}

#[test]
fn flapping_holds_the_worst_of_the_last_thirty_minutes_only() {
    let mut p = publisher(Operational);
    flap_four_times(&mut p);
    // Raw keeps flickering (never confirmed), so flapping never ends; the major segment ended at
    // 650 s and leaves the window at 650 s + 30 min.
    let mut ts = Vec::new();
    for (i, now) in (660 * S..2_500 * S).step_by(EVAL as usize).enumerate() {
        let raw = if i % 2 == 0 {
            DegradedPerformance
        } else {
            Operational
        };
        ts.extend(p.observe(Some(raw), now));
    }
    assert_eq!(moves(&ts), [(MajorOutage, Operational, 2_450 * S)]);
    assert!(ts[0].reason.contains("worst status"), "{}", ts[0].reason);
    assert!(p.flapping());
}

#[test]
fn flapping_still_publishes_a_confirmed_worsening() {
    let mut p = publisher(Operational);
    hold(&mut p, PartialOutage, 0, 20 * S);
    hold(&mut p, Operational, 20 * S, 330 * S);
    hold(&mut p, PartialOutage, 330 * S, 350 * S);
    hold(&mut p, Operational, 350 * S, 660 * S);
    assert!(p.flapping());
    assert_eq!(p.published(), PartialOutage);
    assert_eq!(p.observe(Some(MajorOutage), 660 * S), None);
    let t = p.observe(Some(MajorOutage), 670 * S).unwrap();
    assert_eq!((t.from, t.to), (PartialOutage, MajorOutage));
}

// ---- manual override -------------------------------------------------------------------------

#[test]
fn override_until_a_time() {
    let mut p = publisher(Operational);
    let t = p.set_override(MajorOutage, Some(2 * MIN), 0).unwrap();
    assert_eq!((t.from, t.to), (Operational, MajorOutage));
    assert_eq!(p.source(), StatusSource::Manual);
    assert_eq!(p.manual_override(), Some((MajorOutage, Some(2 * MIN))));
    let ts = hold(&mut p, Operational, 10 * S, 3 * MIN);
    assert_eq!(moves(&ts), [(MajorOutage, Operational, 2 * MIN)]);
    assert_eq!(ts[0].reason, "manual override expired");
    assert_eq!(p.source(), StatusSource::Auto);
}

#[test]
fn override_until_cleared() {
    let mut p = publisher(Operational);
    p.set_override(DegradedPerformance, None, 0).unwrap();
    assert!(hold(&mut p, MajorOutage, 10 * S, 60 * MIN).is_empty());
    // Auto logic kept computing under the pin.
    assert_eq!(p.auto_status(), MajorOutage);
    let t = p.clear_override(60 * MIN).unwrap();
    assert_eq!((t.from, t.to), (DegradedPerformance, MajorOutage));
    assert_eq!(t.reason, "manual override cleared");
    assert_eq!(p.clear_override(61 * MIN), None);
}

#[test]
fn override_pins_even_operational() {
    let mut p = publisher(MajorOutage);
    let t = p.set_override(Operational, None, 0).unwrap();
    assert_eq!(t.to, Operational);
    assert!(hold(&mut p, MajorOutage, 0, 10 * MIN).is_empty());
}

#[test]
fn override_already_past_pins_nothing() {
    let mut p = publisher(Operational);
    assert_eq!(p.set_override(MajorOutage, Some(5 * S), 10 * S), None);
    assert_eq!(p.source(), StatusSource::Auto);
}

#[test]
fn override_wins_over_maintenance() {
    let mut p = publisher(Operational);
    p.set_maintenance(true, 0).unwrap();
    let t = p.set_override(PartialOutage, None, 10 * S).unwrap();
    assert_eq!((t.from, t.to), (UnderMaintenance, PartialOutage));
    let t = p.clear_override(20 * S).unwrap();
    assert_eq!(t.to, UnderMaintenance);
}

// ---- maintenance -----------------------------------------------------------------------------

#[test]
fn maintenance_shows_under_maintenance_and_hides_escalation() {
    let mut p = publisher(Operational);
    let t = p.set_maintenance(true, 0).unwrap();
    assert_eq!((t.from, t.to), (Operational, UnderMaintenance));
    assert_eq!(t.reason, "maintenance started");
    assert_eq!(p.source(), StatusSource::Maintenance);
    assert!(hold(&mut p, MajorOutage, 10 * S, 10 * MIN).is_empty());
    assert_eq!(p.auto_status(), MajorOutage);
    let t = p.set_maintenance(false, 10 * MIN).unwrap();
    assert_eq!((t.from, t.to), (UnderMaintenance, MajorOutage));
    assert_eq!(t.reason, "maintenance ended");
}

#[test]
fn maintenance_returns_to_the_computed_status() {
    let mut p = publisher(Operational);
    p.set_maintenance(true, 0).unwrap();
    hold(&mut p, Operational, 10 * S, 10 * MIN);
    let t = p.set_maintenance(false, 10 * MIN).unwrap();
    assert_eq!(t.to, Operational);
}

#[test]
fn major_during_maintenance_can_be_published_when_configured() {
    let t = Thresholds {
        publish_major_during_maintenance: true,
        ..Thresholds::default()
    };
    let mut p = Publisher::new(Operational, &t);
    p.set_maintenance(true, 0).unwrap();
    let ts = hold(&mut p, PartialOutage, 10 * S, MIN);
    assert!(ts.is_empty());
    let ts = hold(&mut p, MajorOutage, MIN, 2 * MIN);
    assert_eq!(moves(&ts), [(UnderMaintenance, MajorOutage, 70 * S)]);
}

#[test]
fn stored_maintenance_resumes_as_maintenance() {
    let mut p = publisher(UnderMaintenance);
    assert!(p.in_maintenance());
    assert_eq!(p.published(), UnderMaintenance);
    assert_eq!(p.auto_status(), Operational);
    assert_eq!(p.set_maintenance(false, 0).unwrap().to, Operational);
}

#[test]
fn raw_maintenance_is_read_as_operational() {
    let mut p = publisher(MajorOutage);
    let ts = hold(&mut p, UnderMaintenance, 0, 6 * MIN);
    assert_eq!(moves(&ts), [(MajorOutage, Operational, 5 * MIN)]);
}

// ---- properties ------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Observe(Option<ComponentStatus>),
    Probe(ComponentStatus, u32),
    Override(ComponentStatus, Option<u64>),
    Clear,
    Maintenance(bool),
}

fn any_status() -> impl Strategy<Value = ComponentStatus> {
    prop::sample::select(ComponentStatus::ALL.to_vec())
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => prop::option::weighted(0.9, any_status()).prop_map(Op::Observe),
        2 => (any_status(), 0u32..4).prop_map(|(s, n)| Op::Probe(s, n)),
        1 => (any_status(), prop::option::of(0u64..20 * MIN)).prop_map(|(s, u)| Op::Override(s, u)),
        1 => Just(Op::Clear),
        1 => any::<bool>().prop_map(Op::Maintenance),
    ]
}

proptest! {
    #[test]
    fn published_changes_only_with_a_transition(
        initial in any_status(),
        ops in prop::collection::vec((any_op(), 0u64..120 * S), 1..300),
    ) {
        let mut p = publisher(initial);
        prop_assert_eq!(p.published(), initial);
        let mut now = 0;
        for (op, gap) in ops {
            now += gap;
            let before = p.published();
            let t = match op {
                Op::Observe(raw) => p.observe(raw, now),
                Op::Probe(s, n) => p.observe_evaluation(&probe_eval(s, n), now),
                Op::Override(s, until) => p.set_override(s, until.map(|u| now + u), now),
                Op::Clear => p.clear_override(now),
                Op::Maintenance(on) => p.set_maintenance(on, now),
            };
            match t {
                Some(t) => {
                    prop_assert_eq!(t.from, before);
                    prop_assert_eq!(t.to, p.published());
                    prop_assert_ne!(t.from, t.to);
                    prop_assert_eq!(t.at_ms, now);
                    prop_assert!(!t.reason.is_empty());
                }
                None => prop_assert_eq!(p.published(), before),
            }
        }
    }

    #[test]
    fn a_steady_raw_state_is_published_within_the_recovery_period(
        initial in any_status(),
        raw in any_status(),
    ) {
        let mut p = publisher(initial);
        p.set_maintenance(false, 0);
        hold(&mut p, raw, 0, 5 * MIN + EVAL);
        let want = if raw == UnderMaintenance { Operational } else { raw };
        prop_assert_eq!(p.published(), want);
        prop_assert!(!p.flapping());
    }
}
