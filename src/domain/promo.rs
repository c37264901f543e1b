//! Promo codes [004]: bonus codes (extra users or storage for 6 or 12 months, once per client, one bonus
//! per client ever) and personal discount codes (5 / 10 / 15 % when paying for 3 / 6 / 12 months).

pub use entity::enums::{BonusType, PromoKind};

use super::money::percent_of;

/// How long a bonus may last.
pub const BONUS_MONTHS: [u32; 2] = [6, 12];

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
}
