//! Prices: decimal strings (`"0.00000015"`, exact, never through a float) or TOML numbers.

use std::fmt;

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Unexpected, Visitor};

/// Parses a decimal as written in a file: plain (`0.00000015`) or scientific (`1.5e-7`).
pub(crate) fn parse_decimal(text: &str) -> Option<Decimal> {
    let text = text.trim();
    Decimal::from_str_exact(text)
        .ok()
        .or_else(|| {
            text.contains(['e', 'E'])
                .then(|| Decimal::from_scientific(text).ok())
                .flatten()
        })
        // `-0` is zero, not a negative price.
        .map(|d| if d.is_zero() { Decimal::ZERO } else { d })
}

struct DecimalVisitor;

impl<'de> Visitor<'de> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal number, as a string such as \"0.0000015\" or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        parse_decimal(v).ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
        // `Display` of an f64 is the shortest text that reads back as the same float, i.e. what
        // the file said for any reasonable price; parse that rather than the binary value.
        if !v.is_finite() {
            return Err(E::invalid_value(Unexpected::Float(v), &self));
        }
        parse_decimal(&v.to_string()).ok_or_else(|| E::invalid_value(Unexpected::Float(v), &self))
    }
}

/// `#[serde(deserialize_with = "…")]` for a required price.
pub(crate) fn decimal<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    deserializer.deserialize_any(DecimalVisitor)
}

/// `#[serde(default, deserialize_with = "…")]` for an optional price.
pub(crate) fn opt_decimal<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Decimal>, D::Error> {
    decimal(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_exact() {
        let d = parse_decimal("0.00000015");
        assert_eq!(d.map(|d| d.to_string()), Some("0.00000015".to_owned()));
        assert_eq!(d.map(|d| d.scale()), Some(8));
        assert_eq!(
            parse_decimal("0.000000000000000000000000001").map(|d| d.to_string()),
            Some("0.000000000000000000000000001".to_owned())
        );
        assert_eq!(
            parse_decimal("1.5e-7").map(|d| d.to_string()),
            Some("0.00000015".to_owned())
        );
        assert_eq!(parse_decimal("-0"), Some(Decimal::ZERO));
        assert_eq!(parse_decimal("abc"), None);
        assert_eq!(parse_decimal(""), None);
    }
}
