//! Per-minute outcome counts of one endpoint over the last day, in UTC minutes: what status
//! derivation (windows of 2, 5 and 10 minutes) and OpenRouter's `uptime_last_*` figures read.
//! Client-caused failures are never counted here (spec/status.md §5.3).

/// Minutes kept: one day, for `uptime_last_1d`.
pub const KEPT: usize = 1_440;

/// Outcomes counted in one minute (or summed over a window).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub ok: u64,
    /// Hard errors: refused, timeouts, 5xx, bad output, misconfiguration.
    pub errors: u64,
    /// Upstream 429s: a degraded signal, never an outage on their own.
    pub rate_limited: u64,
}

impl Counts {
    /// Attempts that say whether the endpoint works (rate limits aside).
    pub fn counted(&self) -> u64 {
        self.ok + self.errors
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Unix minute this slot holds; a slot from an older lap of the ring is stale.
    minute: u64,
    ok: u32,
    errors: u32,
    rate_limited: u32,
}

#[derive(Debug)]
pub struct MinuteLog {
    ring: Box<[Slot]>,
}

impl Default for MinuteLog {
    fn default() -> Self {
        MinuteLog {
            ring: vec![Slot::default(); KEPT].into_boxed_slice(),
        }
    }
}

/// What an outcome counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Ok,
    Error,
    RateLimited,
}

impl MinuteLog {
    fn slot(&mut self, minute: u64) -> &mut Slot {
        let i = (minute % KEPT as u64) as usize;
        let slot = &mut self.ring[i];
        if slot.minute != minute {
            *slot = Slot {
                minute,
                ..Slot::default()
            };
        }
        slot
    }

    pub fn add(&mut self, minute: u64, mark: Mark) {
        let slot = self.slot(minute);
        match mark {
            Mark::Ok => slot.ok = slot.ok.saturating_add(1),
            Mark::Error => slot.errors = slot.errors.saturating_add(1),
            Mark::RateLimited => slot.rate_limited = slot.rate_limited.saturating_add(1),
        }
    }

    fn minutes(&self, now_minute: u64, span: u64) -> impl Iterator<Item = &Slot> {
        let span = span.min(KEPT as u64);
        let first = now_minute.saturating_sub(span.saturating_sub(1));
        self.ring
            .iter()
            .filter(move |s| s.minute >= first && s.minute <= now_minute && s.minute > 0)
    }

    /// Sum over the last `span` minutes, the current one included.
    pub fn window(&self, now_minute: u64, span: u64) -> Counts {
        self.minutes(now_minute, span)
            .fold(Counts::default(), |acc, s| Counts {
                ok: acc.ok + u64::from(s.ok),
                errors: acc.errors + u64::from(s.errors),
                rate_limited: acc.rate_limited + u64::from(s.rate_limited),
            })
    }

    /// OpenRouter's uptime: the share (in %) of minutes in which at least 80% of attempts
    /// succeeded, among minutes with at least 10 attempts (rate limits excluded); `None`
    /// when no minute qualifies.
    pub fn uptime(&self, now_minute: u64, span: u64) -> Option<f64> {
        let (mut qualifying, mut good) = (0u64, 0u64);
        for s in self.minutes(now_minute, span) {
            let counted = u64::from(s.ok) + u64::from(s.errors);
            if counted >= 10 {
                qualifying += 1;
                if u64::from(s.ok) * 5 >= counted * 4 {
                    good += 1;
                }
            }
        }
        (qualifying > 0).then(|| good as f64 * 100.0 / qualifying as f64)
    }
}

/// The current Unix minute.
pub fn now_minute() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 29_400_000; // some Unix minute

    fn log_with(minutes: &[(u64, u64, u64)]) -> MinuteLog {
        let mut log = MinuteLog::default();
        for &(m, ok, err) in minutes {
            for _ in 0..ok {
                log.add(m, Mark::Ok);
            }
            for _ in 0..err {
                log.add(m, Mark::Error);
            }
        }
        log
    }

    #[test]
    fn windows_sum_the_last_minutes_only() {
        let mut log = log_with(&[(T - 5, 7, 0), (T - 1, 3, 1), (T, 2, 2)]);
        log.add(T, Mark::RateLimited);
        assert_eq!(
            log.window(T, 2),
            Counts {
                ok: 5,
                errors: 3,
                rate_limited: 1
            }
        );
        assert_eq!(log.window(T, 5).ok, 5, "T-5 is outside a 5-minute window");
        assert_eq!(log.window(T, 6).ok, 12);
        assert_eq!(log.window(T + 10, 5), Counts::default());
    }

    #[test]
    fn a_slot_from_the_previous_day_is_not_counted() {
        let mut log = log_with(&[(T - KEPT as u64, 50, 0)]);
        assert_eq!(log.window(T, KEPT as u64), Counts::default());
        log.add(T, Mark::Ok);
        assert_eq!(
            log.window(T, 1).ok,
            1,
            "the stale slot was reset, not added to"
        );
    }

    #[test]
    fn uptime_follows_openrouters_definition() {
        // 10 attempts, 8 ok: a good minute. 10 attempts, 7 ok: a bad one. 9 attempts: ignored.
        let log = log_with(&[(T - 2, 8, 2), (T - 1, 7, 3), (T, 0, 9)]);
        assert_eq!(log.uptime(T, 5), Some(50.0));
        assert_eq!(log.uptime(T, 1), None, "no minute with 10 attempts");
        assert_eq!(log_with(&[(T, 10, 0)]).uptime(T, 30), Some(100.0));
    }
}
