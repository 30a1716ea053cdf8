//! Money at rest: integer nanodollars (1e-9 USD), so sums on either backend are exact.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// Nanodollars per dollar.
const SCALE: i64 = 1_000_000_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nanos(pub i64);

impl Nanos {
    pub const ZERO: Nanos = Nanos(0);

    /// Rounds half away from zero to the nanodollar; saturates far beyond any real balance.
    pub fn from_usd(usd: Decimal) -> Nanos {
        let saturated = if usd.is_sign_negative() {
            i64::MIN
        } else {
            i64::MAX
        };
        let scaled = usd
            .checked_mul(Decimal::from(SCALE))
            .map(|d| d.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero));
        Nanos(scaled.and_then(|d| d.to_i64()).unwrap_or(saturated))
    }

    pub fn usd(self) -> Decimal {
        Decimal::from(self.0) / Decimal::from(SCALE)
    }

    /// For JSON numbers in OpenRouter's shapes (`total_credits`, `usage`, …).
    pub fn as_f64(self) -> f64 {
        self.usd().to_f64().unwrap_or(0.0)
    }
}

impl std::ops::Add for Nanos {
    type Output = Nanos;
    fn add(self, rhs: Nanos) -> Nanos {
        Nanos(self.0.saturating_add(rhs.0))
    }
}

impl std::ops::Sub for Nanos {
    type Output = Nanos;
    fn sub(self, rhs: Nanos) -> Nanos {
        Nanos(self.0.saturating_sub(rhs.0))
    }
}

impl std::ops::AddAssign for Nanos {
    fn add_assign(&mut self, rhs: Nanos) {
        *self = *self + rhs;
    }
}

impl std::ops::SubAssign for Nanos {
    fn sub_assign(&mut self, rhs: Nanos) {
        *self = *self - rhs;
    }
}

impl std::iter::Sum for Nanos {
    fn sum<I: Iterator<Item = Nanos>>(iter: I) -> Nanos {
        iter.fold(Nanos::ZERO, |a, b| a + b)
    }
}

impl std::fmt::Display for Nanos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.usd().normalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn converts_exactly_and_rounds_half_away() {
        let d = |s: &str| Decimal::from_str(s).expect("decimal");
        assert_eq!(Nanos::from_usd(d("0.00000015")), Nanos(150));
        assert_eq!(Nanos::from_usd(d("12.5")), Nanos(12_500_000_000));
        assert_eq!(Nanos::from_usd(d("0.0000000005")), Nanos(1));
        assert_eq!(Nanos::from_usd(d("0.0000000004")), Nanos(0));
        assert_eq!(Nanos(1_500_000_000).usd(), d("1.5"));
        assert_eq!(Nanos(150).to_string(), "0.00000015");
        assert_eq!(Nanos::from_usd(Decimal::MAX), Nanos(i64::MAX));
        assert_eq!(Nanos::from_usd(d("-1e20")), Nanos(i64::MIN));
    }
}
