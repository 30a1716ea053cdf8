//! UTC calendar windows for key limits (`limit_reset`) and usage reports, and the ISO-8601
//! times of OpenRouter's shapes. Times are Unix milliseconds throughout.

use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime, Time};

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// How often a key's spending limit starts over, at 00:00 UTC (weeks start on Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitReset {
    Daily,
    Weekly,
    Monthly,
}

impl LimitReset {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitReset::Daily => "daily",
            LimitReset::Weekly => "weekly",
            LimitReset::Monthly => "monthly",
        }
    }

    pub fn parse(s: &str) -> Option<LimitReset> {
        match s {
            "daily" => Some(LimitReset::Daily),
            "weekly" => Some(LimitReset::Weekly),
            "monthly" => Some(LimitReset::Monthly),
            _ => None,
        }
    }

    /// Start of the window containing `at_ms`.
    pub fn window_start(self, at_ms: i64) -> i64 {
        let date = utc(at_ms).date();
        let start = match self {
            LimitReset::Daily => date,
            LimitReset::Weekly => {
                date - Duration::days(i64::from(date.weekday().number_days_from_monday()))
            }
            LimitReset::Monthly => date.replace_day(1).unwrap_or(date),
        };
        midnight_ms(start)
    }
}

fn utc(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn midnight_ms(date: Date) -> i64 {
    let t = date.with_time(Time::MIDNIGHT).assume_utc();
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// `2026-11-25T14:55:40.123Z`.
pub fn iso(ms: i64) -> String {
    utc(ms).format(&Rfc3339).unwrap_or_default()
}

/// `YYYY-MM-DD` of the UTC day containing `ms`.
pub fn day(ms: i64) -> String {
    let d = utc(ms).date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Parses RFC 3339 (`2027-12-31T23:59:59Z`) into Unix milliseconds.
pub fn parse_iso(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_start_at_utc_midnight_monday_and_first_of_month() {
        // Wednesday 2026-11-25T14:55:40.5Z.
        let at = parse_iso("2026-11-25T14:55:40.5Z").expect("parse");
        assert_eq!(
            iso(LimitReset::Daily.window_start(at)),
            "2026-11-25T00:00:00Z"
        );
        assert_eq!(
            iso(LimitReset::Weekly.window_start(at)),
            "2026-11-23T00:00:00Z"
        );
        assert_eq!(
            iso(LimitReset::Monthly.window_start(at)),
            "2026-11-01T00:00:00Z"
        );
        let monday = parse_iso("2026-11-23T00:00:00Z").expect("parse");
        assert_eq!(LimitReset::Weekly.window_start(monday), monday);
        assert_eq!(day(at), "2026-11-25");
        assert_eq!(iso(at), "2026-11-25T14:55:40.5Z");
        assert_eq!(parse_iso("2027-12-31"), None);
    }
}
