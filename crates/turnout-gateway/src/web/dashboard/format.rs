//! How figures read on the dashboard: money exact to the nanodollar, UTC times, ages,
//! percentages and milliseconds, "—" where there is nothing to show.

use turnout_store::{Nanos, clock};

pub(super) const NONE: &str = "—";

/// `$10.00`, `$0.0000123`, `-$1.50`: exact, at least two decimals.
pub(super) fn usd(n: Nanos) -> String {
    let text = n.usd().abs().normalize().to_string();
    let padded = match text.split_once('.') {
        None => format!("{text}.00"),
        Some((_, frac)) if frac.len() < 2 => format!("{text}0"),
        Some(_) => text,
    };
    if n.0 < 0 {
        format!("-${padded}")
    } else {
        format!("${padded}")
    }
}

/// `2026-11-25 14:55:40 UTC`.
pub(super) fn time(ms: i64) -> String {
    let iso = clock::iso(ms - ms.rem_euclid(1000));
    format!("{} UTC", iso.trim_end_matches('Z').replacen('T', " ", 1))
}

/// `just now`, `42 s ago`, `5 min ago`, `3 h ago`, `2 days ago`.
pub(super) fn ago(ms: i64, now_ms: i64) -> String {
    let secs = (now_ms - ms).max(0) / 1000;
    match secs {
        0..=4 => "just now".to_owned(),
        5..=119 => format!("{secs} s ago"),
        120..=7199 => format!("{} min ago", secs / 60),
        7200..=172_799 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// A 0–1 ratio as `12.3 %`.
pub(super) fn pct(ratio: f64) -> String {
    format!("{:.1} %", ratio * 100.0)
}

pub(super) fn opt_pct(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| NONE.to_owned(), pct)
}

pub(super) fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| NONE.to_owned(), |v| format!("{v:.0} ms"))
}

/// Whole numbers with thin groups: `12 345`.
pub(super) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact_with_two_decimals_at_least() {
        assert_eq!(usd(Nanos(10_000_000_000)), "$10.00");
        assert_eq!(usd(Nanos(12_300)), "$0.0000123");
        assert_eq!(usd(Nanos(1_500_000_000)), "$1.50");
        assert_eq!(usd(Nanos(-1_500_000_000)), "-$1.50");
        assert_eq!(usd(Nanos::ZERO), "$0.00");
    }

    #[test]
    fn times_ages_and_numbers_read_plainly() {
        let at = clock::parse_iso("2026-11-25T14:55:40.5Z").expect("time");
        assert_eq!(time(at), "2026-11-25 14:55:40 UTC");
        assert_eq!(ago(at, at + 1_000), "just now");
        assert_eq!(ago(at, at + 42_000), "42 s ago");
        assert_eq!(ago(at, at + 300_000), "5 min ago");
        assert_eq!(ago(at, at + 3 * 3_600_000), "3 h ago");
        assert_eq!(ago(at, at + 3 * 86_400_000), "3 days ago");
        assert_eq!(pct(0.1234), "12.3 %");
        assert_eq!(ms(Some(12.4)), "12 ms");
        assert_eq!(ms(None), NONE);
        assert_eq!(count(1_234_567), "1\u{202f}234\u{202f}567");
        assert_eq!(count(999), "999");
    }
}
