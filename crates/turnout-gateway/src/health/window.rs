//! Counts over a sliding window, in one-second buckets: memory stays bounded by the window's
//! length in seconds, however many requests pass.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Window<const N: usize> {
    span: Duration,
    origin: Instant,
    /// (second since origin, counts), oldest first.
    buckets: VecDeque<(u64, [u32; N])>,
}

impl<const N: usize> Window<N> {
    pub fn new(span: Duration) -> Self {
        Self {
            span,
            origin: Instant::now(),
            buckets: VecDeque::new(),
        }
    }

    fn second(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_secs()
    }

    fn trim(&mut self, now: Instant) {
        let now_s = self.second(now);
        let keep = self.span.as_secs().max(1);
        while self
            .buckets
            .front()
            .is_some_and(|(s, _)| now_s.saturating_sub(*s) >= keep)
        {
            self.buckets.pop_front();
        }
    }

    pub fn add(&mut self, now: Instant, slot: usize) {
        self.trim(now);
        let s = self.second(now);
        match self.buckets.back_mut() {
            Some((last, counts)) if *last == s => counts[slot] = counts[slot].saturating_add(1),
            _ => {
                let mut counts = [0; N];
                counts[slot] = 1;
                self.buckets.push_back((s, counts));
            }
        }
    }

    /// Totals per slot over the window ending at `now`.
    pub fn totals(&mut self, now: Instant) -> [u64; N] {
        self.trim(now);
        let mut out = [0u64; N];
        for (_, counts) in &self.buckets {
            for (o, c) in out.iter_mut().zip(counts) {
                *o += u64::from(*c);
            }
        }
        out
    }

    pub fn clear(&mut self) {
        self.buckets.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_expire_with_the_window_and_memory_stays_bounded() {
        let mut w: Window<2> = Window::new(Duration::from_secs(10));
        let t0 = w.origin;
        for i in 0..100_000u64 {
            w.add(t0 + Duration::from_millis(i / 10), (i % 2) as usize);
        }
        assert!(w.buckets.len() <= 10);
        let late = t0 + Duration::from_secs(10_000);
        assert_eq!(w.totals(late), [0, 0]);
        w.add(late, 1);
        assert_eq!(w.totals(late), [0, 1]);
    }
}
