//! Rates in basis points (1 % = 100): commission rates, discounts, lead pool weights. Shown as a
//! percentage with two places.

use std::fmt;

use super::InputError;
use super::money::{DecimalError, format_percent, parse_decimal};

/// A rate between 0 % and 100 % in hundredths of a percent (0..=10000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BasisPoints(u16);

impl BasisPoints {
    pub const MAX: i32 = 10_000;
    pub const ZERO: BasisPoints = BasisPoints(0);

    /// Parses a percentage between 0 and 100 with at most two decimals ("25", "12.5", "15.00").
    /// Reasons: `INVALID_PERCENT`, `TOO_PRECISE`, `OUT_OF_RANGE`.
    pub fn parse(raw: &str) -> Result<BasisPoints, InputError> {
        let (int, frac) = parse_decimal(raw.trim(), 2).map_err(|e| match e {
            DecimalError::Format => InputError::new("INVALID_PERCENT", "must be a decimal number like \"25.00\""),
            DecimalError::Precision => InputError::new("TOO_PRECISE", "at most two decimal places"),
        })?;
        let bp = int.saturating_mul(100).saturating_add(frac);
        i32::try_from(bp).map_err(|_| out_of_range()).and_then(BasisPoints::try_from)
    }

    /// The rate as stored (`INTEGER` basis points).
    pub const fn get(self) -> i32 {
        self.0 as i32
    }
}

fn out_of_range() -> InputError {
    InputError::new("OUT_OF_RANGE", "must be between 0 and 100")
}

impl TryFrom<i32> for BasisPoints {
    type Error = InputError;

    fn try_from(bp: i32) -> Result<Self, Self::Error> {
        if (0..=Self::MAX).contains(&bp) { Ok(BasisPoints(bp as u16)) } else { Err(out_of_range()) }
    }
}

impl TryFrom<&str> for BasisPoints {
    type Error = InputError;

    fn try_from(raw: &str) -> Result<Self, Self::Error> {
        BasisPoints::parse(raw)
    }
}

/// A percentage with two places: 2500 basis points show as `25.00`.
impl fmt::Display for BasisPoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_percent(self.get()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reason(raw: &str) -> &'static str {
        BasisPoints::parse(raw).unwrap_err().reason
    }

    #[test]
    fn percents_are_basis_points() {
        assert_eq!(BasisPoints::parse("25").unwrap().get(), 2500);
        assert_eq!(BasisPoints::parse("12.5").unwrap().get(), 1250);
        assert_eq!(BasisPoints::parse(" 0.01 ").unwrap().get(), 1);
        assert_eq!(BasisPoints::parse("0").unwrap(), BasisPoints::ZERO);
        assert_eq!(BasisPoints::try_from("100.00").unwrap().get(), 10_000);
    }

    #[test]
    fn the_bounds_are_zero_and_a_hundred_percent() {
        assert_eq!(reason("100.01"), "OUT_OF_RANGE");
        assert_eq!(reason("101"), "OUT_OF_RANGE");
        assert_eq!(reason(&"9".repeat(30)), "OUT_OF_RANGE");
        assert_eq!(BasisPoints::parse("100.01").unwrap_err().message, "must be between 0 and 100");
        assert_eq!(BasisPoints::try_from(10_000).unwrap().get(), 10_000);
        assert_eq!(BasisPoints::try_from(0).unwrap().get(), 0);
        assert_eq!(BasisPoints::try_from(10_001).unwrap_err().reason, "OUT_OF_RANGE");
        assert_eq!(BasisPoints::try_from(-1).unwrap_err().reason, "OUT_OF_RANGE");
        assert_eq!(BasisPoints::try_from(i32::MIN).unwrap_err().reason, "OUT_OF_RANGE");
    }

    #[test]
    fn bad_percents_have_reasons() {
        // A minus sign is not a digit: today's reason for a negative percent is INVALID_PERCENT.
        assert_eq!(reason("-1"), "INVALID_PERCENT");
        assert_eq!(reason("12.345"), "TOO_PRECISE");
        assert_eq!(BasisPoints::parse("1.001").unwrap_err().message, "at most two decimal places");
        for bad in ["", "abc", "25%", "1e2", ".5", "5.", "+5", "двадцать", "2\0", "\0", "２５", "NaN"] {
            assert_eq!(reason(bad), "INVALID_PERCENT", "{bad:?}");
        }
        assert_eq!(BasisPoints::parse("x").unwrap_err().message, "must be a decimal number like \"25.00\"");
    }

    #[test]
    fn display_has_two_places() {
        assert_eq!(BasisPoints::try_from(2500).unwrap().to_string(), "25.00");
        assert_eq!(BasisPoints::try_from(5).unwrap().to_string(), "0.05");
        assert_eq!(BasisPoints::try_from(10_000).unwrap().to_string(), "100.00");
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(bp in 0i32..=10_000) {
            let rate = BasisPoints::try_from(bp).unwrap();
            prop_assert_eq!(BasisPoints::parse(&rate.to_string()).unwrap(), rate);
        }

        #[test]
        fn the_parser_never_panics(s in ".{0,40}") {
            let _ = BasisPoints::parse(&s);
        }
    }
}
