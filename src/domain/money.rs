//! Exact money: integer minor units (kopecks), parsed from and shown as decimal strings with two places.
//! No floating point anywhere. Rates are [`BasisPoints`](super::rate::BasisPoints).

use std::fmt;

use super::InputError;
use super::period::PeriodMonths;
use super::rate::BasisPoints;

/// The largest amount accepted: what an `i64` of kopecks holds.
pub const MAX_MINOR: i64 = i64::MAX;

/// An amount of money in minor units (kopecks). Parsed from caller input it is never negative; an amount
/// read back from the ledger may be (a reversal). Arithmetic is checked: an overflow is `None`, never a
/// wrap or a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    /// Parses a non-negative decimal amount with at most two decimals ("25000", "25000.5", "25000.50").
    /// Reasons: `NEGATIVE_AMOUNT`, `INVALID_AMOUNT`, `TOO_PRECISE`, `AMOUNT_TOO_LARGE`.
    pub fn parse(raw: &str) -> Result<Money, InputError> {
        let s = raw.trim();
        if s.starts_with('-') {
            return Err(InputError::new("NEGATIVE_AMOUNT", "must not be negative"));
        }
        let (int, frac) = parse_decimal(s, 2).map_err(|e| match e {
            DecimalError::Format => InputError::new("INVALID_AMOUNT", "must be a decimal number like \"25000.00\""),
            DecimalError::Precision => InputError::new("TOO_PRECISE", "at most two decimal places"),
        })?;
        int.checked_mul(100)
            .and_then(|v| v.checked_add(frac))
            .filter(|v| *v <= MAX_MINOR as i128 && *v >= 0)
            .map(|v| Money(v as i64))
            .ok_or_else(|| InputError::new("AMOUNT_TOO_LARGE", "too large"))
    }

    /// An amount as stored (minor units); the database keeps `BIGINT` kopecks.
    pub const fn from_minor(minor: i64) -> Money {
        Money(minor)
    }

    /// Minor units, for the database.
    pub const fn minor(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    /// A monthly price over a whole period.
    pub fn checked_times(self, months: PeriodMonths) -> Option<Money> {
        self.0.checked_mul(i64::from(months.get())).map(Money)
    }

    /// `rate` of this amount, rounded half up to a whole kopeck (never more than the amount in size).
    pub fn share(self, rate: BasisPoints) -> Money {
        Money(percent_of(self.0, rate.get()))
    }

    /// This amount less `rate` of it.
    pub fn less(self, rate: BasisPoints) -> Money {
        Money(self.0 - percent_of(self.0, rate.get()))
    }
}

impl TryFrom<&str> for Money {
    type Error = InputError;

    fn try_from(raw: &str) -> Result<Self, Self::Error> {
        Money::parse(raw)
    }
}

/// Two decimal places: `2500000` kopecks show as `25000.00`, `-5` as `-0.05`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_minor(self.0))
    }
}

pub(super) enum DecimalError {
    Format,
    Precision,
}

/// Splits "123.45" into (123, 45) scaled to `places` decimals. ASCII digits only, one optional point.
pub(super) fn parse_decimal(s: &str, places: u32) -> Result<(i128, i128), DecimalError> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() || int.len() > 30 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecimalError::Format);
    }
    if s.contains('.') && frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecimalError::Format);
    }
    if frac.len() > places as usize {
        return Err(DecimalError::Precision);
    }
    let int: i128 = int.parse().map_err(|_| DecimalError::Format)?;
    let mut f: i128 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| DecimalError::Format)? };
    for _ in frac.len()..places as usize {
        f *= 10;
    }
    Ok((int, f))
}

/// Formats minor units as a decimal string with two places: 2500000 → "25000.00", -5 → "-0.05".
pub fn format_minor(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Formats basis points as a percentage with two places: 2500 → "25.00".
pub fn format_percent(bp: i32) -> String {
    format_minor(bp as i64)
}

/// `rate_bp` basis points of `base` minor units, rounded half up to a whole kopeck.
pub fn percent_of(base: i64, rate_bp: i32) -> i64 {
    let product = base as i128 * rate_bp as i128;
    let rounded = if product >= 0 { (product + 5_000) / 10_000 } else { -((-product + 5_000) / 10_000) };
    rounded as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reason(raw: &str) -> &'static str {
        Money::parse(raw).unwrap_err().reason
    }

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(Money::parse("25000.00").unwrap().minor(), 2_500_000);
        assert_eq!(Money::parse("10.5").unwrap().minor(), 1050);
        assert_eq!(Money::parse("0").unwrap(), Money::ZERO);
        assert_eq!(Money::parse(" 7.01 ").unwrap().minor(), 701);
        assert_eq!(Money::parse("0000000000000000000000000001.00").unwrap().minor(), 100);
        assert_eq!(Money::try_from("92233720368547758.07").unwrap().minor(), i64::MAX);
    }

    #[test]
    fn bad_amounts_have_reasons() {
        assert_eq!(reason("-1"), "NEGATIVE_AMOUNT");
        assert_eq!(reason("-0.00"), "NEGATIVE_AMOUNT");
        assert_eq!(reason("1.005"), "TOO_PRECISE");
        assert_eq!(reason("0.001"), "TOO_PRECISE");
        assert_eq!(reason("92233720368547758.08"), "AMOUNT_TOO_LARGE");
        assert_eq!(reason("99999999999999999999999"), "AMOUNT_TOO_LARGE");
        assert_eq!(reason(&"9".repeat(30)), "AMOUNT_TOO_LARGE");
        for bad in ["", "abc", "1e5", "1.", ".5", "1,5", "+1", "1.2.3", " ", "NaN", "inf", "١٢", "0x10", "1 000"] {
            assert_eq!(reason(bad), "INVALID_AMOUNT", "{bad:?}");
        }
    }

    #[test]
    fn cyrillic_nul_and_overlong_strings_are_not_amounts() {
        for bad in ["сто", "10.5р", "1\0", "\u{0}", "12\u{0}.00", "１２", &"1".repeat(31), "10.0\u{0}"] {
            assert_eq!(reason(bad), "INVALID_AMOUNT", "{bad:?}");
        }
        // A dot followed by digits in another script is not a fraction.
        assert_eq!(reason("1.٥"), "INVALID_AMOUNT");
    }

    #[test]
    fn the_messages_callers_read_are_unchanged() {
        assert_eq!(Money::parse("x").unwrap_err().message, "must be a decimal number like \"25000.00\"");
        assert_eq!(Money::parse("-1").unwrap_err().message, "must not be negative");
        assert_eq!(Money::parse("1.001").unwrap_err().message, "at most two decimal places");
        assert_eq!(Money::parse("1e30").unwrap_err().message, "must be a decimal number like \"25000.00\"");
        assert_eq!(Money::parse(&"9".repeat(25)).unwrap_err().message, "too large");
    }

    #[test]
    fn formatting_has_two_places() {
        assert_eq!(Money::from_minor(2_500_000).to_string(), "25000.00");
        assert_eq!(Money::from_minor(5).to_string(), "0.05");
        assert_eq!(Money::from_minor(-2_500_000).to_string(), "-25000.00");
        assert_eq!(Money::from_minor(i64::MIN).to_string(), "-92233720368547758.08");
        assert_eq!(format_minor(i64::MAX), "92233720368547758.07");
        assert_eq!(format_percent(2500), "25.00");
    }

    #[test]
    fn arithmetic_is_checked() {
        let max = Money::from_minor(i64::MAX);
        let one = Money::from_minor(1);
        assert_eq!(max.checked_add(one), None);
        assert_eq!(Money::from_minor(i64::MIN).checked_sub(one), None);
        assert_eq!(one.checked_sub(Money::from_minor(2)), Some(Money::from_minor(-1)));
        assert_eq!(one.checked_add(one), Some(Money::from_minor(2)));
        let year = PeriodMonths::try_from(12).unwrap();
        assert_eq!(Money::from_minor(100_000).checked_times(year), Some(Money::from_minor(1_200_000)));
        assert_eq!(max.checked_times(year), None);
        assert_eq!(Money::from_minor(i64::MAX / 12).checked_times(year).map(Money::minor), Some(i64::MAX / 12 * 12));
    }

    #[test]
    fn rounding_is_half_up_to_a_kopeck() {
        // 10 % of 0.05 = 0.005 → 0.01; 10 % of 0.04 = 0.004 → 0.00.
        assert_eq!(percent_of(5, 1000), 1);
        assert_eq!(percent_of(4, 1000), 0);
        // 25 % of 100000.00 = 25000.00.
        assert_eq!(percent_of(10_000_000, 2500), 2_500_000);
        // 33.33 % of 0.15 = 0.049995 → 0.05.
        assert_eq!(percent_of(15, 3333), 5);
        assert_eq!(percent_of(i64::MAX, 10_000), i64::MAX);
        let quarter = BasisPoints::try_from(2500).unwrap();
        assert_eq!(Money::from_minor(10_000_000).share(quarter), Money::from_minor(2_500_000));
        assert_eq!(Money::from_minor(10_000_000).less(quarter), Money::from_minor(7_500_000));
        assert_eq!(Money::from_minor(i64::MAX).less(BasisPoints::try_from(10_000).unwrap()), Money::ZERO);
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(minor in 0i64..=i64::MAX) {
            prop_assert_eq!(Money::parse(&Money::from_minor(minor).to_string()).unwrap().minor(), minor);
        }

        #[test]
        fn a_share_never_exceeds_the_base_and_is_within_half_a_kopeck(base in 0i64..1_000_000_000_000, bp in 0i32..=10_000) {
            let share = percent_of(base, bp);
            prop_assert!(share <= base);
            let exact = base as i128 * bp as i128;
            prop_assert!((share as i128 * 10_000 - exact).abs() <= 5_000);
        }

        #[test]
        fn less_a_rate_stays_between_zero_and_the_amount(base in 0i64..=i64::MAX, bp in 0i32..=10_000) {
            let left = Money::from_minor(base).less(BasisPoints::try_from(bp).unwrap());
            prop_assert!(left >= Money::ZERO && left.minor() <= base);
        }

        #[test]
        fn the_parser_never_panics(s in ".{0,40}") {
            let _ = Money::parse(&s);
        }
    }
}
