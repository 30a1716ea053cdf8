//! Status derivation without IO (spec/status.md §1.5, §5.4): the raw state of a leaf from its
//! signals, the published state behind hysteresis ([`Publisher`]), the provider group rollup
//! and the page indicator. The caller owns the clock and passes Unix milliseconds in.

mod incident;
mod publisher;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use incident::{
    ComponentChange, Decision, DecisionKind, IncidentId, IncidentSettings, IncidentStatus,
    IncidentTracker, IncidentView,
};
pub use publisher::{Publisher, StatusSource, Transition};

/// Statuspage v2 component status. `Ord` is severity; maintenance ranks below degraded, as
/// Statuspage orders it (§5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentStatus {
    /// Every status, least severe first.
    pub const ALL: [ComponentStatus; 5] = [
        ComponentStatus::Operational,
        ComponentStatus::UnderMaintenance,
        ComponentStatus::DegradedPerformance,
        ComponentStatus::PartialOutage,
        ComponentStatus::MajorOutage,
    ];

    /// The Statuspage wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "operational",
            ComponentStatus::UnderMaintenance => "under_maintenance",
            ComponentStatus::DegradedPerformance => "degraded_performance",
            ComponentStatus::PartialOutage => "partial_outage",
            ComponentStatus::MajorOutage => "major_outage",
        }
    }
}

impl fmt::Display for ComponentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Page-level `status.indicator`. `Ord` is how far it is raised: maintenance sits between none
/// and minor, so any outage colour wins over the blue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    None,
    Maintenance,
    Minor,
    Major,
    Critical,
}

impl Indicator {
    /// The Statuspage wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Indicator::None => "none",
            Indicator::Maintenance => "maintenance",
            Indicator::Minor => "minor",
            Indicator::Major => "major",
            Indicator::Critical => "critical",
        }
    }

    /// The top-level text Statuspage shows for an indicator when no component row picks a more
    /// specific one (used when an incident raised the indicator).
    pub const fn description(self) -> &'static str {
        match self {
            Indicator::None => "All Systems Operational",
            Indicator::Maintenance => "Service Under Maintenance",
            Indicator::Minor => "Minor Service Outage",
            Indicator::Major => "Partial System Outage",
            Indicator::Critical => "Major System Outage",
        }
    }
}

/// Incident (or maintenance) impact. No `Ord`: `Maintenance` is declared last on the wire but is
/// not the most severe; compare through [`Impact::indicator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    None,
    Minor,
    Major,
    Critical,
    Maintenance,
}

impl Impact {
    /// The page indicator this impact raises the page to.
    pub const fn indicator(self) -> Indicator {
        match self {
            Impact::None => Indicator::None,
            Impact::Minor => Indicator::Minor,
            Impact::Major => Indicator::Major,
            Impact::Critical => Indicator::Critical,
            Impact::Maintenance => Indicator::Maintenance,
        }
    }

    /// §1.4: an incident's impact is its worst affected component's.
    pub const fn of_worst(status: ComponentStatus) -> Impact {
        match status {
            ComponentStatus::MajorOutage => Impact::Critical,
            ComponentStatus::PartialOutage => Impact::Major,
            ComponentStatus::DegradedPerformance => Impact::Minor,
            ComponentStatus::Operational | ComponentStatus::UnderMaintenance => Impact::None,
        }
    }
}

/// Counted outcomes of live traffic in one window (§5.3). Client-caused outcomes are never
/// passed in: they are outside every denominator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub ok: u64,
    /// Hard errors, `bad_output` and `misconfigured` included.
    pub errors: u64,
    pub rate_limited: u64,
}

impl Counts {
    /// Counted requests: the denominator of every ratio and of the minimum-sample rule.
    pub fn total(&self) -> u64 {
        self.ok
            .saturating_add(self.errors)
            .saturating_add(self.rate_limited)
    }

    pub fn error_ratio(&self) -> f64 {
        ratio(self.errors, self.total())
    }

    pub fn rate_limited_ratio(&self) -> f64 {
        ratio(self.rate_limited, self.total())
    }
}

fn ratio(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 / total as f64
    }
}

/// One synthetic probe result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub at_ms: u64,
    pub ok: bool,
    pub ttft_ms: Option<u64>,
}

/// What the evaluator knows about one leaf component at evaluation time.
#[derive(Debug, Clone, PartialEq)]
pub struct Signals {
    pub w2: Counts,
    pub w5: Counts,
    pub w10_ttft_p95_ms: Option<f64>,
    /// How many ok requests the W10 TTFT p95 was computed from: a p95 of a handful of requests
    /// is one slow request, so the TTFT rule needs `min_requests_main` of them.
    pub w10_ttft_samples: u64,
    pub baseline_ttft_p95_ms: Option<f64>,
    pub w10_tps_p50: Option<f64>,
    pub w10_tps_samples: u64,
    pub baseline_tps_p50: Option<f64>,
    /// This replica's probes, most recent last.
    pub probes: Vec<Probe>,
    /// With several replicas: each replica's recent probes (most recent last), this one's
    /// included. Empty, or a single replica, disables the replica-majority rules.
    pub replica_probes: Vec<Vec<Probe>>,
    /// The model's TTFT objective, resolved by the caller (see [`Thresholds::ttft_slo_for`]).
    pub ttft_slo_ms: u64,
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            w2: Counts::default(),
            w5: Counts::default(),
            w10_ttft_p95_ms: None,
            w10_ttft_samples: 0,
            baseline_ttft_p95_ms: None,
            w10_tps_p50: None,
            w10_tps_samples: 0,
            baseline_tps_p50: None,
            probes: Vec::new(),
            replica_probes: Vec::new(),
            ttft_slo_ms: Thresholds::default().ttft_slo_ms,
        }
    }
}

/// Every number of §5.4 (names as in §5.11's `health` and `probes` sections; durations in ms).
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Minimum counted requests in W2 before a W2 rule may fire.
    pub min_requests_fast: u64,
    /// Minimum counted requests in W5 (and TTFT samples in W10) before those rules may fire.
    pub min_requests_main: u64,
    pub major_error_ratio: f64,
    pub partial_error_ratio: f64,
    pub degraded_error_ratio: f64,
    pub degraded_429_ratio: f64,
    pub ttft_slo_ms: u64,
    pub ttft_slo_ms_reasoning: u64,
    pub ttft_baseline_factor: f64,
    pub tps_baseline_factor: f64,
    pub tps_min_samples: u64,
    /// Consecutive failed probes for major (b).
    pub failure_threshold: usize,
    /// Partial (b): this many failures among the last `partial_probe_window` probes.
    pub partial_probe_failures: usize,
    pub partial_probe_window: usize,
    /// Consecutive ok probes a probe-only component needs before it may recover.
    pub success_threshold: u32,
    pub degraded_after_ms: u64,
    /// Degraded (e): this many consecutive probes slower than `degraded_after_ms`.
    pub degraded_after_probes: usize,
    /// Replica rules: a replica fails when its last this-many probe rounds all failed.
    pub replica_rounds: usize,
    pub worsen_evals_outage: u32,
    pub worsen_evals_degraded: u32,
    pub recovery_period_ms: u64,
    pub flap_transitions: usize,
    pub flap_window_ms: u64,
    /// A flapping component stops flapping after this long without a raw change.
    pub flap_quiet_ms: u64,
    /// §5.4 "an escalation to major during maintenance is logged but not published (configurable)".
    pub publish_major_during_maintenance: bool,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_requests_fast: 10,
            min_requests_main: 20,
            major_error_ratio: 0.50,
            partial_error_ratio: 0.05,
            degraded_error_ratio: 0.01,
            degraded_429_ratio: 0.05,
            ttft_slo_ms: 5_000,
            ttft_slo_ms_reasoning: 15_000,
            ttft_baseline_factor: 2.0,
            tps_baseline_factor: 0.5,
            tps_min_samples: 10,
            failure_threshold: 3,
            partial_probe_failures: 2,
            partial_probe_window: 3,
            success_threshold: 2,
            degraded_after_ms: 8_000,
            degraded_after_probes: 2,
            replica_rounds: 2,
            worsen_evals_outage: 2,
            worsen_evals_degraded: 3,
            recovery_period_ms: 5 * MINUTE_MS,
            flap_transitions: 4,
            flap_window_ms: 30 * MINUTE_MS,
            flap_quiet_ms: 15 * MINUTE_MS,
            publish_major_during_maintenance: false,
        }
    }
}

impl Thresholds {
    /// The default TTFT objective for a model (reasoning models think before the first token).
    pub fn ttft_slo_for(&self, reasoning_model: bool) -> u64 {
        if reasoning_model {
            self.ttft_slo_ms_reasoning
        } else {
            self.ttft_slo_ms
        }
    }
}

pub(crate) const MINUTE_MS: u64 = 60_000;

/// One row of the raw-state table of §5.4, in evaluation order (the first match wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// major (a): W2 error ratio.
    MajorErrorRatio,
    /// major (b): consecutive failed probes and no ok live request in W2.
    MajorProbeFailures,
    /// major (c): at least half of the replicas failing their last probe rounds.
    MajorReplicas,
    /// partial (a): W5 error ratio.
    PartialErrorRatio,
    /// partial (b): 2 of the last 3 probes failed.
    PartialProbes,
    /// partial (c): fewer than half of the replicas failing.
    PartialReplicas,
    /// degraded (a): W5 error ratio.
    DegradedErrorRatio,
    /// degraded (b): W10 TTFT p95 above the objective and twice the baseline.
    DegradedTtft,
    /// degraded (c): W10 throughput p50 below half the baseline.
    DegradedTps,
    /// degraded (d): W5 429 ratio.
    DegradedRateLimited,
    /// degraded (e): consecutive slow probes.
    DegradedProbeTtft,
}

impl Rule {
    pub const ALL: [Rule; 11] = [
        Rule::MajorErrorRatio,
        Rule::MajorProbeFailures,
        Rule::MajorReplicas,
        Rule::PartialErrorRatio,
        Rule::PartialProbes,
        Rule::PartialReplicas,
        Rule::DegradedErrorRatio,
        Rule::DegradedTtft,
        Rule::DegradedTps,
        Rule::DegradedRateLimited,
        Rule::DegradedProbeTtft,
    ];

    pub const fn status(self) -> ComponentStatus {
        match self {
            Rule::MajorErrorRatio | Rule::MajorProbeFailures | Rule::MajorReplicas => {
                ComponentStatus::MajorOutage
            }
            Rule::PartialErrorRatio | Rule::PartialProbes | Rule::PartialReplicas => {
                ComponentStatus::PartialOutage
            }
            Rule::DegradedErrorRatio
            | Rule::DegradedTtft
            | Rule::DegradedTps
            | Rule::DegradedRateLimited
            | Rule::DegradedProbeTtft => ComponentStatus::DegradedPerformance,
        }
    }

    /// The spec's name for the rule, stable for `status_transition.reason`.
    pub const fn code(self) -> &'static str {
        match self {
            Rule::MajorErrorRatio => "major_outage(a)",
            Rule::MajorProbeFailures => "major_outage(b)",
            Rule::MajorReplicas => "major_outage(c)",
            Rule::PartialErrorRatio => "partial_outage(a)",
            Rule::PartialProbes => "partial_outage(b)",
            Rule::PartialReplicas => "partial_outage(c)",
            Rule::DegradedErrorRatio => "degraded_performance(a)",
            Rule::DegradedTtft => "degraded_performance(b)",
            Rule::DegradedTps => "degraded_performance(c)",
            Rule::DegradedRateLimited => "degraded_performance(d)",
            Rule::DegradedProbeTtft => "degraded_performance(e)",
        }
    }

    /// Whether the rule fires on these signals; `Some` carries the values that made it fire.
    pub fn check(self, s: &Signals, t: &Thresholds) -> Option<String> {
        let fast = s.w2.total() >= t.min_requests_fast;
        let main = s.w5.total() >= t.min_requests_main;
        match self {
            Rule::MajorErrorRatio => (fast && s.w2.error_ratio() >= t.major_error_ratio)
                .then(|| window_detail("W2", "error", &s.w2, s.w2.errors)),
            Rule::MajorProbeFailures => {
                let n = t.failure_threshold.max(1);
                (trailing(&s.probes, |p| !p.ok) >= n && s.w2.ok == 0)
                    .then(|| format!("{n} consecutive failed probes and no ok live request in W2"))
            }
            Rule::MajorReplicas => replicas_failing(s, t)
                .filter(|&(failing, n)| 2 * failing >= n)
                .map(|(failing, n)| format!("probes failing on {failing} of {n} replicas")),
            Rule::PartialErrorRatio => (main && s.w5.error_ratio() >= t.partial_error_ratio)
                .then(|| window_detail("W5", "error", &s.w5, s.w5.errors)),
            Rule::PartialProbes => {
                let window = t.partial_probe_window;
                let recent = &s.probes[s.probes.len().saturating_sub(window)..];
                let failed = recent.iter().filter(|p| !p.ok).count();
                (failed >= t.partial_probe_failures.max(1))
                    .then(|| format!("{failed} of the last {} probes failed", recent.len()))
            }
            Rule::PartialReplicas => replicas_failing(s, t)
                .filter(|&(failing, n)| 2 * failing < n)
                .map(|(failing, n)| format!("probes failing on {failing} of {n} replicas")),
            Rule::DegradedErrorRatio => (main && s.w5.error_ratio() >= t.degraded_error_ratio)
                .then(|| window_detail("W5", "error", &s.w5, s.w5.errors)),
            Rule::DegradedTtft => {
                let p95 = s.w10_ttft_p95_ms?;
                if s.w10_ttft_samples < t.min_requests_main {
                    return None;
                }
                let baseline = s.baseline_ttft_p95_ms.unwrap_or(0.0) * t.ttft_baseline_factor;
                let limit = (s.ttft_slo_ms as f64).max(baseline);
                (p95 > limit).then(|| {
                    format!(
                        "W10 TTFT p95 {p95:.0} ms over {limit:.0} ms ({} samples)",
                        s.w10_ttft_samples
                    )
                })
            }
            Rule::DegradedTps => {
                let p50 = s.w10_tps_p50?;
                let baseline = s.baseline_tps_p50.filter(|b| *b > 0.0)?;
                let limit = baseline * t.tps_baseline_factor;
                (s.w10_tps_samples >= t.tps_min_samples && p50 < limit).then(|| {
                    format!(
                        "W10 throughput p50 {p50:.1} tok/s under {limit:.1} ({} samples)",
                        s.w10_tps_samples
                    )
                })
            }
            Rule::DegradedRateLimited => (main
                && s.w5.rate_limited_ratio() >= t.degraded_429_ratio)
                .then(|| window_detail("W5", "429", &s.w5, s.w5.rate_limited)),
            Rule::DegradedProbeTtft => {
                let n = t.degraded_after_probes.max(1);
                let slow = trailing(&s.probes, |p| {
                    p.ttft_ms.is_some_and(|ms| ms > t.degraded_after_ms)
                });
                (slow >= n).then(|| {
                    format!(
                        "{n} consecutive probes with TTFT over {} ms",
                        t.degraded_after_ms
                    )
                })
            }
        }
    }
}

fn window_detail(window: &str, what: &str, counts: &Counts, part: u64) -> String {
    format!(
        "{window} {what} ratio {:.1} % ({part} of {} requests)",
        ratio(part, counts.total()) * 100.0,
        counts.total()
    )
}

/// How many of the most recent probes satisfy `pred`, counting back until one does not.
fn trailing(probes: &[Probe], pred: impl Fn(&Probe) -> bool) -> usize {
    probes.iter().rev().take_while(|p| pred(p)).count()
}

/// `(failing replicas, replicas with probes)` when at least two replicas report and at least one
/// fails; a replica fails when all of its last `replica_rounds` probes failed.
fn replicas_failing(s: &Signals, t: &Thresholds) -> Option<(usize, usize)> {
    let rounds = t.replica_rounds.max(1);
    let reporting: Vec<&Vec<Probe>> = s.replica_probes.iter().filter(|r| !r.is_empty()).collect();
    if reporting.len() < 2 {
        return None;
    }
    let failing = reporting
        .iter()
        .filter(|r| trailing(r, |p| !p.ok) >= rounds)
        .count();
    (failing > 0).then_some((failing, reporting.len()))
}

/// The result of one evaluation of a leaf: its raw state and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// `None` = unknown: too little data to judge (published as the last known status).
    pub status: Option<ComponentStatus>,
    /// The first rule that fired; `None` when operational or unknown.
    pub rule: Option<Rule>,
    /// Human-readable values behind the verdict, for transition reasons.
    pub detail: String,
    /// No passive window had enough traffic: only probe rules could judge.
    pub probe_only: bool,
    /// Consecutive ok probes, most recent backwards.
    pub ok_probe_streak: u32,
}

/// Evaluates the raw-state table of §5.4 top-down; the first matching rule wins.
pub fn evaluate(s: &Signals, t: &Thresholds) -> Evaluation {
    let passive = s.w2.total() >= t.min_requests_fast
        || s.w5.total() >= t.min_requests_main
        || (s.w10_ttft_p95_ms.is_some() && s.w10_ttft_samples >= t.min_requests_main)
        || (s.w10_tps_p50.is_some() && s.w10_tps_samples >= t.tps_min_samples);
    let probed = !s.probes.is_empty() || s.replica_probes.iter().any(|r| !r.is_empty());
    let ok_probe_streak = u32::try_from(trailing(&s.probes, |p| p.ok)).unwrap_or(u32::MAX);
    let probe_only = !passive;
    if !passive && !probed {
        // A few requests under the minimum say nothing either way; calling that "operational"
        // would hide three failures out of three.
        return Evaluation {
            status: None,
            rule: None,
            detail: "no data".to_owned(),
            probe_only,
            ok_probe_streak,
        };
    }
    for rule in Rule::ALL {
        if let Some(detail) = rule.check(s, t) {
            return Evaluation {
                status: Some(rule.status()),
                rule: Some(rule),
                detail: format!("{}: {detail}", rule.code()),
                probe_only,
                ok_probe_streak,
            };
        }
    }
    Evaluation {
        status: Some(ComponentStatus::Operational),
        rule: None,
        detail: "no rule fired".to_owned(),
        probe_only,
        ok_probe_streak,
    }
}

/// The raw state of a leaf; `None` = no data ("unknown").
pub fn raw_status(s: &Signals, t: &Thresholds) -> Option<ComponentStatus> {
    evaluate(s, t).status
}

/// §5.4 group rollup over the children's *published* statuses.
pub fn rollup_group(children: &[ComponentStatus], provider_check_failed: bool) -> ComponentStatus {
    use ComponentStatus::*;
    // A provider check failing during a maintenance of every model is the maintenance itself,
    // not an outage to announce.
    if !children.is_empty() && children.iter().all(|c| *c == UnderMaintenance) {
        return UnderMaintenance;
    }
    let counted: Vec<ComponentStatus> = children
        .iter()
        .copied()
        .filter(|c| *c != UnderMaintenance)
        .collect();
    let majors = counted.iter().filter(|c| **c == MajorOutage).count();
    if provider_check_failed || (majors > 0 && 2 * majors >= counted.len()) {
        MajorOutage
    } else if majors > 0 || counted.contains(&PartialOutage) {
        PartialOutage
    } else if counted.contains(&DegradedPerformance) {
        DegradedPerformance
    } else {
        Operational
    }
}

/// §1.5 page indicator and text over the public leaf components, then raised by the impact of
/// unresolved public incidents (§5.4 "Page status").
pub fn page_indicator(
    leaves: &[ComponentStatus],
    unresolved_incident_impacts: &[Impact],
) -> (Indicator, &'static str) {
    use ComponentStatus::*;
    let all = |s: ComponentStatus| !leaves.is_empty() && leaves.iter().all(|c| *c == s);
    let any = |s: ComponentStatus| leaves.contains(&s);
    let (indicator, text) = if leaves.is_empty() {
        (Indicator::None, "All Systems Operational")
    } else if all(MajorOutage) {
        (Indicator::Critical, "Major System Outage")
    } else if any(MajorOutage) || all(PartialOutage) {
        (Indicator::Major, "Partial System Outage")
    } else if any(PartialOutage) {
        (Indicator::Minor, "Minor Service Outage")
    } else if all(DegradedPerformance) {
        (Indicator::Minor, "Degraded System Service")
    } else if any(DegradedPerformance) {
        (Indicator::Minor, "Partially Degraded Service")
    } else if any(UnderMaintenance) {
        (Indicator::Maintenance, "Service Under Maintenance")
    } else {
        (Indicator::None, "All Systems Operational")
    };
    let raised = unresolved_incident_impacts
        .iter()
        .map(|i| i.indicator())
        .max()
        .unwrap_or(Indicator::None);
    if raised > indicator {
        (raised, raised.description())
    } else {
        (indicator, text)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
