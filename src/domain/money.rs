//! Exact money: integer minor units (kopecks) and rates in basis points (1 % = 100), parsed from and shown
//! as decimal strings with two places. No floating point anywhere.

use super::InputError;

/// The largest amount accepted: what an `i64` of kopecks holds.
pub const MAX_MINOR: i64 = i64::MAX;

/// Parses a non-negative decimal amount with at most two decimals ("25000", "25000.5", "25000.50") into
/// minor units.
pub fn parse_money(raw: &str) -> Result<i64, InputError> {
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
        .map(|v| v as i64)
        .ok_or_else(|| InputError::new("AMOUNT_TOO_LARGE", "too large"))
}

/// Parses a percentage between 0 and 100 with at most two decimals ("25", "12.5", "15.00") into basis points.
pub fn parse_percent(raw: &str) -> Result<i32, InputError> {
    let s = raw.trim();
    let (int, frac) = parse_decimal(s, 2).map_err(|e| match e {
        DecimalError::Format => InputError::new("INVALID_PERCENT", "must be a decimal number like \"25.00\""),
        DecimalError::Precision => InputError::new("TOO_PRECISE", "at most two decimal places"),
    })?;
    let bp = int.saturating_mul(100).saturating_add(frac);
    if !(0..=10_000).contains(&bp) {
        return Err(InputError::new("OUT_OF_RANGE", "must be between 0 and 100"));
    }
    Ok(bp as i32)
}

enum DecimalError {
    Format,
    Precision,
}

/// Splits "123.45" into (123, 45) scaled to `places` decimals. Digits only, one optional point.
fn parse_decimal(s: &str, places: u32) -> Result<(i128, i128), DecimalError> {
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

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(parse_money("25000.00").unwrap(), 2_500_000);
        assert_eq!(parse_money("10.5").unwrap(), 1050);
        assert_eq!(parse_money("0").unwrap(), 0);
        assert_eq!(parse_money("92233720368547758.07").unwrap(), i64::MAX);
    }

    #[test]
    fn bad_amounts_have_reasons() {
        assert_eq!(parse_money("-1").unwrap_err().reason, "NEGATIVE_AMOUNT");
        assert_eq!(parse_money("1.005").unwrap_err().reason, "TOO_PRECISE");
        assert_eq!(parse_money("92233720368547758.08").unwrap_err().reason, "AMOUNT_TOO_LARGE");
        assert_eq!(parse_money("99999999999999999999999").unwrap_err().reason, "AMOUNT_TOO_LARGE");
        for bad in ["", "abc", "1e5", "1.", ".5", "1,5", "+1", "1.2.3", " ", "NaN", "١٢"] {
            assert_eq!(parse_money(bad).unwrap_err().reason, "INVALID_AMOUNT", "{bad}");
        }
    }

    #[test]
    fn percents_are_basis_points() {
        assert_eq!(parse_percent("25").unwrap(), 2500);
        assert_eq!(parse_percent("12.5").unwrap(), 1250);
        assert_eq!(parse_percent("100.00").unwrap(), 10_000);
        assert_eq!(parse_percent("100.01").unwrap_err().reason, "OUT_OF_RANGE");
        assert_eq!(parse_percent("-1").unwrap_err().reason, "INVALID_PERCENT");
    }

    #[test]
    fn formatting_has_two_places() {
        assert_eq!(format_minor(2_500_000), "25000.00");
        assert_eq!(format_minor(5), "0.05");
        assert_eq!(format_minor(-2_500_000), "-25000.00");
        assert_eq!(format_minor(i64::MIN), "-92233720368547758.08");
        assert_eq!(format_percent(2500), "25.00");
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
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(minor in 0i64..=i64::MAX) {
            prop_assert_eq!(parse_money(&format_minor(minor)).unwrap(), minor);
        }

        #[test]
        fn a_share_never_exceeds_the_base_and_is_within_half_a_kopeck(base in 0i64..1_000_000_000_000, bp in 0i32..=10_000) {
            let share = percent_of(base, bp);
            prop_assert!(share <= base);
            let exact = base as i128 * bp as i128;
            prop_assert!((share as i128 * 10_000 - exact).abs() <= 5_000);
        }

        #[test]
        fn parsers_never_panic(s in ".{0,40}") {
            let _ = parse_money(&s);
            let _ = parse_percent(&s);
        }
    }
}
