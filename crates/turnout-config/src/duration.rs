//! Values of the `[status]` section that serde has no words for: durations (`"30s"`, `"5m"`,
//! `"1h30m"`, or an integer of milliseconds like the `*_ms` keys elsewhere), RFC 3339 times,
//! and the weekly recurrence of a maintenance window (`"sun 02:00"`, `"daily 03:30"`).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Unexpected, Visitor};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Parses `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"3d"` and sums of them (`"1h30m"`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_ms: u64 = match rest[..unit_len].trim() {
            "ms" => 1,
            "s" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(Duration::from_millis(number.checked_mul(unit_ms)?))?;
    }
    Some(total)
}

/// A duration as a config file would say it (`"1h30m"`, `"250ms"`), for messages and docs.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    if rest > 0 {
        out.push_str(&format!("{rest}ms"));
    }
    out
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"30s\", \"5m\" or \"1h\", or a number of milliseconds")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_millis(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_millis)
            .map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }
}

/// `#[serde(deserialize_with = "…")]` for a duration.
pub(crate) fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

/// `#[serde(default, deserialize_with = "…")]` for an optional duration.
pub(crate) fn opt_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    duration(deserializer).map(Some)
}

/// Parses an RFC 3339 time (`2026-03-01T02:00:00Z`) into Unix milliseconds.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text.trim(), &Rfc3339)
        .ok()
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok())
}

struct TimeVisitor;

impl Visitor<'_> for TimeVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The backquoted example doubles as the placeholder the loader types the rest with.
        f.write_str("an RFC 3339 time such as `2026-03-01T02:00:00Z`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        parse_rfc3339_ms(v).ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
    }
}

/// `#[serde(default, deserialize_with = "…")]` for an optional RFC 3339 time, as Unix ms.
pub(crate) fn opt_time<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    deserializer.deserialize_str(TimeVisitor).map(Some)
}

/// When a recurring maintenance window starts: every day, or one day of the week, at a UTC
/// time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recurrence {
    /// `None` = every day; `Some(0)` = Monday … `Some(6)` = Sunday.
    pub weekday: Option<u8>,
    /// Minutes after 00:00 UTC.
    pub minute_of_day: u32,
}

impl Recurrence {
    /// The period between two starts.
    pub fn period(self) -> Duration {
        match self.weekday {
            None => Duration::from_secs(86_400),
            Some(_) => Duration::from_secs(7 * 86_400),
        }
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Parses `"sun 02:00"`, `"Sunday 02:00"`, `"daily 03:30"` (UTC).
pub fn parse_recurrence(text: &str) -> Option<Recurrence> {
    let mut words = text.split_whitespace();
    let day = words.next()?.to_ascii_lowercase();
    let clock = words.next()?;
    if words.next().is_some() {
        return None;
    }
    let weekday = if day == "daily" {
        None
    } else {
        let short = day.get(..3)?;
        let index = DAYS.iter().position(|d| *d == short)?;
        // "sun", "sunday" — but not "sunny".
        let full = [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ][index];
        if day != short && day != full {
            return None;
        }
        Some(u8::try_from(index).ok()?)
    };
    let (h, m) = clock.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 {
        return None;
    }
    Some(Recurrence {
        weekday,
        minute_of_day: h * 60 + m,
    })
}

struct RecurrenceVisitor;

impl Visitor<'_> for RecurrenceVisitor {
    type Value = Recurrence;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a day and UTC time such as `sun 02:00` or `daily 03:30`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Recurrence, E> {
        parse_recurrence(v).ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
    }
}

/// `#[serde(default, deserialize_with = "…")]` for an optional recurrence.
pub(crate) fn opt_recurrence<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Recurrence>, D::Error> {
    deserializer.deserialize_str(RecurrenceVisitor).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("3d"), Some(Duration::from_secs(3 * 86_400)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        for bad in ["", "5", "s", "5x", "-5s", "1.5h", "5 m m"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        for d in ["1d2h3m4s5ms", "30s", "0s", "10m"] {
            assert_eq!(
                parse_duration(d).map(format_duration).as_deref(),
                Some(d),
                "{d}"
            );
        }
    }

    #[test]
    fn times() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01Z"), Some(1_000));
        assert_eq!(
            parse_rfc3339_ms("2026-03-01T02:00:00+01:00"),
            parse_rfc3339_ms("2026-03-01T01:00:00Z")
        );
        assert_eq!(parse_rfc3339_ms("2026-03-01 02:00"), None);
    }

    #[test]
    fn recurrences() {
        assert_eq!(
            parse_recurrence("sun 02:00"),
            Some(Recurrence {
                weekday: Some(6),
                minute_of_day: 120
            })
        );
        assert_eq!(
            parse_recurrence("Monday 23:59").map(|r| (r.weekday, r.minute_of_day)),
            Some((Some(0), 23 * 60 + 59))
        );
        assert_eq!(
            parse_recurrence("daily 3:30").map(|r| (r.weekday, r.minute_of_day)),
            Some((None, 210))
        );
        for bad in [
            "sun",
            "sunny 02:00",
            "sun 24:00",
            "sun 02:60",
            "sun 2",
            "x 02:00",
        ] {
            assert_eq!(parse_recurrence(bad), None, "{bad}");
        }
    }
}
