//! Promo codes [004]: bonus codes (extra users or storage for 6 or 12 months, once per client, one bonus
//! per client ever) and personal discount codes (5 / 10 / 15 % when paying for 3 / 6 / 12 months).

pub use entity::enums::{BonusType, PromoKind};

use super::money::percent_of;
use super::{BasisPoints, InputError};

/// How long a bonus may last.
pub const BONUS_MONTHS: [u32; 2] = [6, 12];

/// The largest fixed discount a partner may give a client: 50 %.
pub const MAX_FIXED_DISCOUNT_BP: i32 = 5000;

/// How long a bonus lasts: 6 or 12 months.
pub fn bonus_months(months: i32) -> Result<u32, InputError> {
    u32::try_from(months).ok().filter(|m| BONUS_MONTHS.contains(m)).ok_or_else(no_bonus_months)
}

/// The refusal of a bonus code without a valid duration.
pub fn no_bonus_months() -> InputError {
    InputError::new("OUT_OF_RANGE", "a bonus lasts 6 or 12 months")
}

/// A discount code's fixed rate: 0.01 % to 50 %.
pub fn fixed_discount(rate: BasisPoints) -> Result<BasisPoints, InputError> {
    if (1..=MAX_FIXED_DISCOUNT_BP).contains(&rate.get()) {
        Ok(rate)
    } else {
        Err(InputError::new("OUT_OF_RANGE", "0.01 to 50.00"))
    }
}

/// The discount of a personal code by the period paid for, when the code does not fix its own.
pub fn discount_for_period(months: i32) -> Option<i32> {
    match months {
        3 => Some(500),
        6 => Some(1000),
        12 => Some(1500),
        _ => None,
    }
}

/// `amount` less `discount_bp`, the discount rounded half up to a kopeck.
pub fn discounted(amount: i64, discount_bp: i32) -> i64 {
    amount - percent_of(amount, discount_bp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_table_gives_5_10_15_percent() {
        assert_eq!(discount_for_period(3), Some(500));
        assert_eq!(discount_for_period(6), Some(1000));
        assert_eq!(discount_for_period(12), Some(1500));
        assert_eq!(discount_for_period(1), None);
        assert_eq!(discounted(1_200_000, 1500), 1_020_000);
        assert_eq!(discounted(999, 500), 949);
    }

    #[test]
    fn a_bonus_lasts_six_or_twelve_months() {
        assert_eq!(bonus_months(6), Ok(6));
        assert_eq!(bonus_months(12), Ok(12));
        for bad in [0, 1, 3, 7, 24, -6, -12, i32::MIN, i32::MAX] {
            assert_eq!(bonus_months(bad), Err(no_bonus_months()), "{bad}");
        }
    }

    #[test]
    fn a_fixed_discount_is_a_hundredth_of_a_percent_to_half() {
        let bp = |v| BasisPoints::try_from(v).unwrap();
        assert_eq!(fixed_discount(bp(1)), Ok(bp(1)));
        assert_eq!(fixed_discount(bp(5000)), Ok(bp(5000)));
        for bad in [0, 5001, 10_000] {
            assert_eq!(fixed_discount(bp(bad)).unwrap_err().message, "0.01 to 50.00", "{bad}");
        }
    }
}
