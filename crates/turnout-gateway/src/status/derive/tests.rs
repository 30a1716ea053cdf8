use super::ComponentStatus::*;
use super::*;
use proptest::prelude::*;

fn counts(ok: u64, errors: u64, rate_limited: u64) -> Counts {
    Counts {
        ok,
        errors,
        rate_limited,
    }
}

fn probes(results: &[bool]) -> Vec<Probe> {
    results
        .iter()
        .enumerate()
        .map(|(i, &ok)| Probe {
            at_ms: i as u64 * 30_000,
            ok,
            ttft_ms: ok.then_some(400),
        })
        .collect()
}

fn slow_probes(ttfts: &[u64]) -> Vec<Probe> {
    ttfts
        .iter()
        .enumerate()
        .map(|(i, &ms)| Probe {
            at_ms: i as u64 * 30_000,
            ok: true,
            ttft_ms: Some(ms),
        })
        .collect()
}

/// Busy, healthy traffic in every window.
fn healthy() -> Signals {
    Signals {
        w2: counts(100, 0, 0),
        w5: counts(250, 0, 0),
        ..Signals::default()
    }
}

fn eval(s: &Signals) -> Evaluation {
    evaluate(s, &Thresholds::default())
}

fn raw(s: &Signals) -> Option<ComponentStatus> {
    raw_status(s, &Thresholds::default())
}

fn rule(s: &Signals) -> Option<Rule> {
    eval(s).rule
}

// ---- serde: the Statuspage vocabulary ------------------------------------------------------

#[test]
fn statuses_serialize_as_statuspage_strings() {
    let json = serde_json::to_string(&ComponentStatus::ALL).unwrap();
    assert_eq!(
        json,
        r#"["operational","under_maintenance","degraded_performance","partial_outage","major_outage"]"#
    );
    for s in ComponentStatus::ALL {
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        let back: ComponentStatus = serde_json::from_str(&format!("\"{}\"", s.as_str())).unwrap();
        assert_eq!(back, s);
    }
    let indicators = [
        Indicator::None,
        Indicator::Maintenance,
        Indicator::Minor,
        Indicator::Major,
        Indicator::Critical,
    ];
    assert_eq!(
        serde_json::to_string(&indicators).unwrap(),
        r#"["none","maintenance","minor","major","critical"]"#
    );
    for i in indicators {
        assert_eq!(
            serde_json::to_string(&i).unwrap(),
            format!("\"{}\"", i.as_str())
        );
    }
    assert_eq!(
        serde_json::to_string(&[
            Impact::None,
            Impact::Minor,
            Impact::Major,
            Impact::Critical,
            Impact::Maintenance
        ])
        .unwrap(),
        r#"["none","minor","major","critical","maintenance"]"#
    );
}

#[test]
fn severity_order_puts_maintenance_between_operational_and_degraded() {
    assert!(Operational < UnderMaintenance);
    assert!(UnderMaintenance < DegradedPerformance);
    assert!(DegradedPerformance < PartialOutage);
    assert!(PartialOutage < MajorOutage);
    assert!(Indicator::None < Indicator::Maintenance);
    assert!(Indicator::Maintenance < Indicator::Minor);
    assert!(Indicator::Major < Indicator::Critical);
}

#[test]
fn incident_impact_is_the_worst_affected_component() {
    assert_eq!(Impact::of_worst(MajorOutage), Impact::Critical);
    assert_eq!(Impact::of_worst(PartialOutage), Impact::Major);
    assert_eq!(Impact::of_worst(DegradedPerformance), Impact::Minor);
    assert_eq!(Impact::of_worst(Operational), Impact::None);
    assert_eq!(Impact::of_worst(UnderMaintenance), Impact::None);
}

#[test]
fn defaults_are_the_spec_numbers() {
    let t = Thresholds::default();
    assert_eq!((t.min_requests_fast, t.min_requests_main), (10, 20));
    assert_eq!(
        (
            t.major_error_ratio,
            t.partial_error_ratio,
            t.degraded_error_ratio,
            t.degraded_429_ratio
        ),
        (0.50, 0.05, 0.01, 0.05)
    );
    assert_eq!(
        (t.ttft_slo_for(false), t.ttft_slo_for(true)),
        (5_000, 15_000)
    );
    assert_eq!((t.ttft_baseline_factor, t.tps_baseline_factor), (2.0, 0.5));
    assert_eq!((t.failure_threshold, t.success_threshold), (3, 2));
    assert_eq!(t.degraded_after_ms, 8_000);
    assert_eq!((t.worsen_evals_outage, t.worsen_evals_degraded), (2, 3));
    assert_eq!(t.recovery_period_ms, 300_000);
    assert_eq!(
        (t.flap_transitions, t.flap_window_ms, t.flap_quiet_ms),
        (4, 1_800_000, 900_000)
    );
}

// ---- raw state: each rule ------------------------------------------------------------------

#[test]
fn healthy_traffic_is_operational() {
    let e = eval(&healthy());
    assert_eq!(e.status, Some(Operational));
    assert_eq!(e.rule, None);
    assert!(!e.probe_only);
}

#[test]
fn no_data_is_unknown() {
    assert_eq!(raw(&Signals::default()), None);
}

#[test]
fn traffic_below_both_minimums_without_probes_is_unknown() {
    let s = Signals {
        w2: counts(0, 9, 0),
        w5: counts(0, 19, 0),
        ..Signals::default()
    };
    let e = eval(&s);
    assert_eq!(e.status, None);
    assert!(e.probe_only);
}

#[test]
fn major_a_w2_error_ratio_at_half() {
    let s = Signals {
        w2: counts(5, 5, 0),
        w5: counts(200, 5, 0),
        ..Signals::default()
    };
    assert_eq!(rule(&s), Some(Rule::MajorErrorRatio));
    assert_eq!(raw(&s), Some(MajorOutage));
    let below = Signals {
        w2: counts(6, 4, 0),
        ..s
    };
    assert_ne!(rule(&below), Some(Rule::MajorErrorRatio));
}

#[test]
fn major_a_needs_ten_counted_requests_in_w2() {
    // 9 failures out of 9: the W2 rule may not fire, and W5 below 20 blocks the W5 rules too.
    let s = Signals {
        w2: counts(0, 9, 0),
        w5: counts(0, 9, 0),
        probes: probes(&[true, true]),
        ..Signals::default()
    };
    assert_eq!(raw(&s), Some(Operational));
    assert!(eval(&s).probe_only);
}

#[test]
fn below_minimums_only_probe_rules_apply() {
    let s = Signals {
        w2: counts(0, 9, 0),
        w5: counts(0, 19, 0),
        probes: probes(&[true, false, false]),
        ..Signals::default()
    };
    assert_eq!(rule(&s), Some(Rule::PartialProbes));
}

#[test]
fn major_b_three_failed_probes_and_no_ok_live_request() {
    let s = Signals {
        probes: probes(&[true, false, false, false]),
        ..Signals::default()
    };
    assert_eq!(rule(&s), Some(Rule::MajorProbeFailures));
    let two = Signals {
        probes: probes(&[true, true, false, false]),
        ..Signals::default()
    };
    assert_eq!(rule(&two), Some(Rule::PartialProbes));
}

#[test]
fn major_b_is_vetoed_by_an_ok_live_request_in_w2() {
    let s = Signals {
        w2: counts(1, 0, 0),
        probes: probes(&[false, false, false]),
        ..Signals::default()
    };
    assert_eq!(rule(&s), Some(Rule::PartialProbes));
}

#[test]
fn major_c_half_of_the_replicas_failing_two_rounds() {
    let s = Signals {
        replica_probes: vec![probes(&[true, false, false]), probes(&[true, true, true])],
        ..Signals::default()
    };
    assert_eq!(rule(&s), Some(Rule::MajorReplicas));
    // One failed round is not enough for a replica to count.
    let one_round = Signals {
        replica_probes: vec![probes(&[true, true, false]), probes(&[true, true, true])],
        ..Signals::default()
    };
    assert_eq!(raw(&one_round), Some(Operational));
}

#[test]
fn partial_c_fewer_than_half_of_the_replicas_failing() {
    let s = Signals {
        replica_probes: vec![
            probes(&[false, false]),
            probes(&[true, true]),
            probes(&[true, true]),
        ],
        ..Signals::default()
    };
    assert_eq!(rule(&s), Some(Rule::PartialReplicas));
}

#[test]
fn replica_rules_need_two_reporting_replicas() {
    let s = Signals {
        replica_probes: vec![probes(&[false, false]), vec![]],
        ..Signals::default()
    };
    assert_eq!(raw(&s), Some(Operational));
}

#[test]
fn partial_a_w5_error_ratio_at_five_percent() {
    let s = Signals {
        w2: counts(100, 0, 0),
        w5: counts(95, 5, 0),
        ..Signals::default()
    };
    assert_eq!(rule(&s), Some(Rule::PartialErrorRatio));
    let below = Signals {
        w5: counts(96, 4, 0),
        ..s
    };
    assert_eq!(rule(&below), Some(Rule::DegradedErrorRatio));
}

#[test]
fn w5_rules_need_twenty_counted_requests() {
    let s = Signals {
        w2: counts(5, 0, 0),
        w5: counts(14, 5, 0),
        ..Signals::default()
    };
    assert_eq!(raw(&s), None);
    let enough = Signals {
        w5: counts(15, 5, 0),
        ..s
    };
    assert_eq!(rule(&enough), Some(Rule::PartialErrorRatio));
}

#[test]
fn partial_b_two_of_the_last_three_probes() {
    let s = Signals {
        probes: probes(&[false, true, false]),
        ..healthy()
    };
    assert_eq!(rule(&s), Some(Rule::PartialProbes));
    let old = Signals {
        probes: probes(&[false, false, true, true, false]),
        ..healthy()
    };
    assert_eq!(raw(&old), Some(Operational));
}

#[test]
fn degraded_a_w5_error_ratio_at_one_percent() {
    let s = Signals {
        w2: counts(100, 0, 0),
        w5: counts(99, 1, 0),
        ..Signals::default()
    };
    assert_eq!(rule(&s), Some(Rule::DegradedErrorRatio));
    let below = Signals {
        w5: counts(199, 1, 0),
        ..s
    };
    assert_eq!(raw(&below), Some(Operational));
}

#[test]
fn degraded_b_ttft_over_the_objective() {
    let s = Signals {
        w10_ttft_p95_ms: Some(5_001.0),
        w10_ttft_samples: 20,
        ..healthy()
    };
    assert_eq!(rule(&s), Some(Rule::DegradedTtft));
    let at = Signals {
        w10_ttft_p95_ms: Some(5_000.0),
        ..s.clone()
    };
    assert_eq!(raw(&at), Some(Operational));
    let reasoning = Signals {
        ttft_slo_ms: Thresholds::default().ttft_slo_for(true),
        ..s.clone()
    };
    assert_eq!(raw(&reasoning), Some(Operational));
}

#[test]
fn degraded_b_ttft_over_twice_the_baseline() {
    // A model whose normal p95 is 4 s is not degraded at 6 s: the limit is max(5 s, 2 × 4 s).
    let s = Signals {
        w10_ttft_p95_ms: Some(6_000.0),
        w10_ttft_samples: 50,
        baseline_ttft_p95_ms: Some(4_000.0),
        ..healthy()
    };
    assert_eq!(raw(&s), Some(Operational));
    let worse = Signals {
        w10_ttft_p95_ms: Some(8_001.0),
        ..s
    };
    assert_eq!(rule(&worse), Some(Rule::DegradedTtft));
}

#[test]
fn degraded_b_needs_enough_ttft_samples() {
    let s = Signals {
        w10_ttft_p95_ms: Some(20_000.0),
        w10_ttft_samples: 19,
        ..healthy()
    };
    assert_eq!(raw(&s), Some(Operational));
}

#[test]
fn degraded_c_throughput_under_half_the_baseline() {
    let s = Signals {
        w10_tps_p50: Some(24.9),
        w10_tps_samples: 10,
        baseline_tps_p50: Some(50.0),
        ..healthy()
    };
    assert_eq!(rule(&s), Some(Rule::DegradedTps));
    let at_half = Signals {
        w10_tps_p50: Some(25.0),
        ..s.clone()
    };
    assert_eq!(raw(&at_half), Some(Operational));
    let few = Signals {
        w10_tps_samples: 9,
        ..s.clone()
    };
    assert_eq!(raw(&few), Some(Operational));
    let no_baseline = Signals {
        baseline_tps_p50: None,
        ..s
    };
    assert_eq!(raw(&no_baseline), Some(Operational));
}

#[test]
fn degraded_d_w5_429_ratio_at_five_percent() {
    let s = Signals {
        w2: counts(100, 0, 0),
        w5: counts(95, 0, 5),
        ..Signals::default()
    };
    assert_eq!(rule(&s), Some(Rule::DegradedRateLimited));
    let below = Signals {
        w5: counts(96, 0, 4),
        ..s
    };
    assert_eq!(raw(&below), Some(Operational));
}

#[test]
fn rate_limits_alone_are_never_an_outage() {
    let s = Signals {
        w2: counts(0, 0, 500),
        w5: counts(0, 0, 1_000),
        ..Signals::default()
    };
    assert_eq!(raw(&s), Some(DegradedPerformance));
}

#[test]
fn rate_limits_count_in_the_error_denominator() {
    // 5 hard errors among 100 rate-limited requests: 5 %, not 100 %.
    let s = Signals {
        w2: counts(0, 5, 95),
        w5: counts(0, 5, 95),
        ..Signals::default()
    };
    assert_eq!(rule(&s), Some(Rule::PartialErrorRatio));
}

#[test]
fn degraded_e_two_consecutive_slow_probes() {
    let s = Signals {
        probes: slow_probes(&[300, 8_001, 9_000]),
        ..Signals::default()
    };
    assert_eq!(rule(&s), Some(Rule::DegradedProbeTtft));
    let one = Signals {
        probes: slow_probes(&[8_001, 9_000, 300]),
        ..Signals::default()
    };
    assert_eq!(raw(&one), Some(Operational));
    let at = Signals {
        probes: slow_probes(&[8_000, 8_000]),
        ..Signals::default()
    };
    assert_eq!(raw(&at), Some(Operational));
}

#[test]
fn first_matching_row_wins() {
    let s = Signals {
        w2: counts(10, 10, 0),
        w5: counts(80, 20, 10),
        w10_ttft_p95_ms: Some(20_000.0),
        w10_ttft_samples: 80,
        probes: probes(&[false, false]),
        ..Signals::default()
    };
    assert_eq!(rule(&s), Some(Rule::MajorErrorRatio));
}

#[test]
fn evaluation_reports_probe_only_and_ok_streak() {
    let s = Signals {
        w2: counts(1, 0, 0),
        w5: counts(3, 0, 0),
        probes: probes(&[false, true, true]),
        ..Signals::default()
    };
    let e = eval(&s);
    assert!(e.probe_only);
    assert_eq!(e.ok_probe_streak, 2);
    assert!(!eval(&healthy()).probe_only);
}

#[test]
fn evaluation_detail_names_the_rule_and_values() {
    let s = Signals {
        w2: counts(4, 6, 0),
        ..Signals::default()
    };
    let e = eval(&s);
    assert_eq!(
        e.detail,
        "major_outage(a): W2 error ratio 60.0 % (6 of 10 requests)"
    );
}

#[test]
fn every_rule_maps_to_its_row() {
    for r in Rule::ALL {
        assert!(r.code().starts_with(r.status().as_str()), "{r:?}");
    }
}

// ---- group rollup ---------------------------------------------------------------------------

#[test]
fn rollup_rows() {
    let cases: &[(&[ComponentStatus], bool, ComponentStatus)] = &[
        (&[], false, Operational),
        (&[Operational, Operational], false, Operational),
        (&[MajorOutage, Operational], false, MajorOutage), // 50 % major
        (
            &[MajorOutage, Operational, Operational],
            false,
            PartialOutage,
        ), // any major
        (&[PartialOutage, Operational], false, PartialOutage),
        (
            &[DegradedPerformance, Operational],
            false,
            DegradedPerformance,
        ),
        (&[Operational, Operational], true, MajorOutage), // provider probe failed
        (&[], true, MajorOutage),
        (
            &[UnderMaintenance, UnderMaintenance],
            false,
            UnderMaintenance,
        ),
        (
            &[UnderMaintenance, UnderMaintenance],
            true,
            UnderMaintenance,
        ),
        // maintenance children are ignored: one major among one counted child is 100 %
        (
            &[UnderMaintenance, UnderMaintenance, MajorOutage],
            false,
            MajorOutage,
        ),
        (&[UnderMaintenance, Operational], false, Operational),
        (
            &[UnderMaintenance, DegradedPerformance],
            false,
            DegradedPerformance,
        ),
    ];
    for (children, provider_failed, want) in cases {
        assert_eq!(
            rollup_group(children, *provider_failed),
            *want,
            "{children:?} provider_failed={provider_failed}"
        );
    }
}

// ---- page indicator (§1.5) -------------------------------------------------------------------

fn page(leaves: &[ComponentStatus]) -> (Indicator, &'static str) {
    page_indicator(leaves, &[])
}

#[test]
fn page_with_no_components_is_operational() {
    assert_eq!(page(&[]), (Indicator::None, "All Systems Operational"));
}

#[test]
fn page_with_one_component_follows_it() {
    assert_eq!(
        page(&[Operational]),
        (Indicator::None, "All Systems Operational")
    );
    assert_eq!(
        page(&[MajorOutage]),
        (Indicator::Critical, "Major System Outage")
    );
    assert_eq!(
        page(&[PartialOutage]),
        (Indicator::Major, "Partial System Outage")
    );
    assert_eq!(
        page(&[DegradedPerformance]),
        (Indicator::Minor, "Degraded System Service")
    );
    assert_eq!(
        page(&[UnderMaintenance]),
        (Indicator::Maintenance, "Service Under Maintenance")
    );
}

#[test]
fn page_all_major_is_critical() {
    assert_eq!(
        page(&[MajorOutage, MajorOutage]),
        (Indicator::Critical, "Major System Outage")
    );
}

#[test]
fn page_one_major_among_several_is_partial_system_outage() {
    assert_eq!(
        page(&[MajorOutage, Operational, Operational]),
        (Indicator::Major, "Partial System Outage")
    );
}

#[test]
fn page_all_partial_is_partial_system_outage() {
    assert_eq!(
        page(&[PartialOutage, PartialOutage]),
        (Indicator::Major, "Partial System Outage")
    );
}

#[test]
fn page_some_partial_is_minor_service_outage() {
    assert_eq!(
        page(&[PartialOutage, Operational, DegradedPerformance]),
        (Indicator::Minor, "Minor Service Outage")
    );
}

#[test]
fn page_all_degraded_is_degraded_system_service() {
    assert_eq!(
        page(&[DegradedPerformance, DegradedPerformance]),
        (Indicator::Minor, "Degraded System Service")
    );
}

#[test]
fn page_some_degraded_is_partially_degraded_service() {
    assert_eq!(
        page(&[DegradedPerformance, Operational, UnderMaintenance]),
        (Indicator::Minor, "Partially Degraded Service")
    );
}

#[test]
fn page_some_maintenance_is_service_under_maintenance() {
    assert_eq!(
        page(&[UnderMaintenance, Operational]),
        (Indicator::Maintenance, "Service Under Maintenance")
    );
}

#[test]
fn page_all_operational() {
    assert_eq!(
        page(&[Operational, Operational]),
        (Indicator::None, "All Systems Operational")
    );
}

#[test]
fn unresolved_incident_raises_the_indicator() {
    assert_eq!(
        page_indicator(&[Operational, Operational], &[Impact::Minor]),
        (Indicator::Minor, "Minor Service Outage")
    );
    assert_eq!(
        page_indicator(&[], &[Impact::Critical, Impact::Minor]),
        (Indicator::Critical, "Major System Outage")
    );
    assert_eq!(
        page_indicator(&[DegradedPerformance], &[Impact::Major]),
        (Indicator::Major, "Partial System Outage")
    );
    assert_eq!(
        page_indicator(&[Operational], &[Impact::Maintenance]),
        (Indicator::Maintenance, "Service Under Maintenance")
    );
}

#[test]
fn incident_never_lowers_the_indicator_or_its_text() {
    assert_eq!(
        page_indicator(
            &[DegradedPerformance, DegradedPerformance],
            &[Impact::Minor, Impact::None]
        ),
        (Indicator::Minor, "Degraded System Service")
    );
    assert_eq!(
        page_indicator(&[MajorOutage], &[Impact::Maintenance, Impact::Major]),
        (Indicator::Critical, "Major System Outage")
    );
}

// ---- properties -----------------------------------------------------------------------------

fn any_status() -> impl Strategy<Value = ComponentStatus> {
    prop::sample::select(ComponentStatus::ALL.to_vec())
}

fn any_impact() -> impl Strategy<Value = Impact> {
    prop::sample::select(vec![
        Impact::None,
        Impact::Minor,
        Impact::Major,
        Impact::Critical,
        Impact::Maintenance,
    ])
}

proptest! {
    #[test]
    fn rollup_of_all_operational_is_operational(n in 0usize..20) {
        prop_assert_eq!(rollup_group(&vec![Operational; n], false), Operational);
    }

    #[test]
    fn rollup_is_never_better_than_its_best_case(children in prop::collection::vec(any_status(), 0..12)) {
        let rolled = rollup_group(&children, false);
        let worst_counted = children.iter().copied().filter(|c| *c != UnderMaintenance).max();
        if let Some(worst) = worst_counted {
            // A group shows at least its worst child's severity, capped at partial unless
            // half of its counted children are down.
            prop_assert!(rolled >= worst.min(PartialOutage));
            prop_assert!(rolled <= worst);
        }
    }

    #[test]
    fn page_indicator_is_at_least_every_incident(
        leaves in prop::collection::vec(any_status(), 0..8),
        impacts in prop::collection::vec(any_impact(), 0..4),
    ) {
        let (with, _) = page_indicator(&leaves, &impacts);
        let (without, _) = page_indicator(&leaves, &[]);
        prop_assert!(with >= without);
        for i in impacts {
            prop_assert!(with >= i.indicator());
        }
    }

    #[test]
    fn ratios_are_within_bounds(ok in 0u64..1_000, errors in 0u64..1_000, limited in 0u64..1_000) {
        let c = counts(ok, errors, limited);
        prop_assert!((0.0..=1.0).contains(&c.error_ratio()));
        prop_assert!((0.0..=1.0).contains(&c.rate_limited_ratio()));
    }

    #[test]
    fn rate_limits_never_make_an_outage(ok in 0u64..500, limited in 0u64..500) {
        let s = Signals {
            w2: counts(ok, 0, limited),
            w5: counts(ok * 2, 0, limited * 2),
            ..Signals::default()
        };
        prop_assert!(raw(&s).is_none_or(|r| r <= DegradedPerformance));
    }
}
