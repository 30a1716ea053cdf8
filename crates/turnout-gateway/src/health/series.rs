//! Performance series of one endpoint for the status page's charts (spec/status.md §5.8
//! `metrics.json`): 5-minute points for the last day and hourly points for the last 30 days
//! — time to first token p50/p95, tokens/s p50, error ratio, request count.
//!
//! Only the open bucket of each resolution keeps raw samples (a bounded reservoir); a bucket
//! that closes is reduced to its figures, so an endpoint costs about 20 KB however busy it is.
//! Series live in memory: a restart starts them again.

use std::collections::VecDeque;

/// A closed (or the open) bucket's figures.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    /// Unix seconds at the bucket's start.
    pub start: u64,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    pub tps_p50: Option<f64>,
    pub ok: u64,
    pub errors: u64,
}

impl Point {
    pub fn error_ratio(&self) -> Option<f64> {
        let n = self.ok + self.errors;
        (n > 0).then(|| self.errors as f64 / n as f64)
    }
}

/// Raw samples kept per open bucket and kind.
const RESERVOIR: usize = 256;

#[derive(Debug)]
struct Open {
    start: u64,
    ttft_ms: Vec<f64>,
    tps: Vec<f64>,
    /// Samples offered, for reservoir sampling.
    ttft_seen: u64,
    tps_seen: u64,
    ok: u64,
    errors: u64,
}

impl Open {
    fn new(start: u64) -> Open {
        Open {
            start,
            ttft_ms: Vec::new(),
            tps: Vec::new(),
            ttft_seen: 0,
            tps_seen: 0,
            ok: 0,
            errors: 0,
        }
    }

    fn point(&self) -> Point {
        let mut ttft = self.ttft_ms.clone();
        let mut tps = self.tps.clone();
        Point {
            start: self.start,
            ttft_p50_ms: percentile(&mut ttft, 50.0),
            ttft_p95_ms: percentile(&mut ttft, 95.0),
            tps_p50: percentile(&mut tps, 50.0),
            ok: self.ok,
            errors: self.errors,
        }
    }
}

fn percentile(values: &mut [f64], pct: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((pct / 100.0) * (values.len() as f64 - 1.0)).round() as usize;
    values.get(rank.min(values.len() - 1)).copied()
}

/// Keeps a uniform sample of at most [`RESERVOIR`] values (Vitter's algorithm R).
fn offer(samples: &mut Vec<f64>, seen: &mut u64, v: f64) {
    *seen += 1;
    if samples.len() < RESERVOIR {
        samples.push(v);
    } else {
        let j = rand::random_range(0..*seen);
        if let Some(slot) = samples.get_mut(j as usize) {
            *slot = v;
        }
    }
}

/// One resolution: an open bucket and the closed points before it.
#[derive(Debug)]
struct Resolution {
    width: u64,
    kept: usize,
    open: Option<Open>,
    closed: VecDeque<Point>,
}

impl Resolution {
    fn new(width: u64, kept: usize) -> Resolution {
        Resolution {
            width,
            kept,
            open: None,
            closed: VecDeque::new(),
        }
    }

    fn bucket(&mut self, now: u64) -> &mut Open {
        let start = now - now % self.width;
        if self.open.as_ref().is_some_and(|o| o.start != start)
            && let Some(done) = self.open.take()
        {
            if self.closed.len() == self.kept {
                self.closed.pop_front();
            }
            self.closed.push_back(done.point());
        }
        self.open.get_or_insert_with(|| Open::new(start))
    }

    /// Points whose bucket started at or after `since` (Unix seconds), oldest first, the open
    /// bucket included.
    fn points(&self, since: u64) -> Vec<Point> {
        self.closed
            .iter()
            .copied()
            .chain(self.open.as_ref().map(Open::point))
            .filter(|p| p.start >= since)
            .collect()
    }
}

#[derive(Debug)]
pub struct Series {
    five_minutes: Resolution,
    hours: Resolution,
}

impl Default for Series {
    fn default() -> Self {
        Series {
            five_minutes: Resolution::new(300, 288),
            hours: Resolution::new(3_600, 720),
        }
    }
}

/// Which points a chart asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Day,
    Week,
    Month,
}

impl Series {
    pub fn outcome(&mut self, now: u64, ok: bool) {
        for r in [&mut self.five_minutes, &mut self.hours] {
            let b = r.bucket(now);
            if ok {
                b.ok += 1;
            } else {
                b.errors += 1;
            }
        }
    }

    pub fn timing(&mut self, now: u64, ttft_ms: f64, tps: Option<f64>) {
        for r in [&mut self.five_minutes, &mut self.hours] {
            let b = r.bucket(now);
            offer(&mut b.ttft_ms, &mut b.ttft_seen, ttft_ms);
            if let Some(v) = tps {
                offer(&mut b.tps, &mut b.tps_seen, v);
            }
        }
    }

    /// 5-minute points for a day, hourly ones for 7 and 30 days.
    pub fn points(&self, range: Range, now: u64) -> Vec<Point> {
        match range {
            Range::Day => self.five_minutes.points(now.saturating_sub(86_400)),
            Range::Week => self.hours.points(now.saturating_sub(7 * 86_400)),
            Range::Month => self.hours.points(now.saturating_sub(30 * 86_400)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000; // a multiple of 3 600

    #[test]
    fn buckets_close_into_points_with_their_percentiles() {
        let mut s = Series::default();
        for i in 0..100 {
            s.outcome(T0 + 10, i % 10 != 0);
            s.timing(T0 + 10, f64::from(i), Some(50.0));
        }
        s.outcome(T0 + 310, true);
        let points = s.points(Range::Day, T0 + 320);
        assert_eq!(points.len(), 2);
        let first = points[0];
        assert_eq!(first.start, T0);
        assert_eq!((first.ok, first.errors), (90, 10));
        assert_eq!(first.error_ratio(), Some(0.1));
        assert_eq!(first.ttft_p50_ms, Some(50.0));
        assert_eq!(first.ttft_p95_ms, Some(94.0));
        assert_eq!(first.tps_p50, Some(50.0));
        assert_eq!(points[1].start, T0 + 300);
        assert_eq!(points[1].ttft_p50_ms, None);
        // The hourly series saw everything in one bucket.
        let hours = s.points(Range::Week, T0 + 320);
        assert_eq!(hours.len(), 1);
        assert_eq!(hours[0].ok, 91);
    }

    #[test]
    fn old_points_age_out_and_reservoirs_stay_bounded() {
        let mut s = Series::default();
        for step in 0..400u64 {
            let now = T0 + step * 300;
            for _ in 0..300 {
                s.timing(now, 10.0, None);
            }
        }
        let now = T0 + 399 * 300;
        let day = s.points(Range::Day, now);
        assert!(day.len() <= 289, "{}", day.len());
        assert!(day.iter().all(|p| p.start + 86_400 >= now));
        assert!(
            s.five_minutes
                .open
                .as_ref()
                .is_some_and(|o| o.ttft_ms.len() == RESERVOIR)
        );
    }
}
