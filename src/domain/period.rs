//! A paid period in whole calendar months: what a tariff offers, an invoice bills and a payment buys.

use std::fmt;

use super::InputError;

/// A paid period: 1 to 36 calendar months.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeriodMonths(u8);

impl PeriodMonths {
    /// The longest period a tariff may offer, so that a monthly price × months is bounded.
    pub const MAX: u32 = 36;
    pub const LONGEST: PeriodMonths = PeriodMonths(Self::MAX as u8);
    pub const MONTH: PeriodMonths = PeriodMonths(1);
    pub const YEAR: PeriodMonths = PeriodMonths(12);

    /// Months as stored (`INTEGER`).
    pub const fn get(self) -> i32 {
        self.0 as i32
    }

    /// The period for calendar arithmetic (end of month clamps).
    pub fn months(self) -> chrono::Months {
        chrono::Months::new(u32::from(self.0))
    }
}

impl TryFrom<i32> for PeriodMonths {
    type Error = InputError;

    /// Reason `OUT_OF_RANGE` outside 1..=36.
    fn try_from(months: i32) -> Result<Self, Self::Error> {
        match u8::try_from(months) {
            Ok(m) if (1..=Self::MAX).contains(&u32::from(m)) => Ok(PeriodMonths(m)),
            _ => Err(InputError::new("OUT_OF_RANGE", "1 to 36 months")),
        }
    }
}

/// The number of months: `12`.
impl fmt::Display for PeriodMonths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};

    #[test]
    fn one_to_thirty_six_months_are_periods() {
        for m in 1..=36 {
            assert_eq!(PeriodMonths::try_from(m).unwrap().get(), m);
        }
        assert_eq!(PeriodMonths::try_from(12).unwrap().to_string(), "12");
    }

    #[test]
    fn zero_negative_and_overlong_periods_are_refused() {
        for bad in [0, -1, -12, 37, 255, 256, 268, i32::MAX, i32::MIN] {
            let e = PeriodMonths::try_from(bad).unwrap_err();
            assert_eq!((e.reason, e.message.as_str()), ("OUT_OF_RANGE", "1 to 36 months"), "{bad}");
        }
    }

    #[test]
    fn a_period_counts_calendar_months_with_the_end_of_month_clamped() {
        let jan31 = Utc.from_utc_datetime(&NaiveDate::from_ymd_opt(2026, 1, 31).unwrap().and_hms_opt(0, 0, 0).unwrap());
        let one = PeriodMonths::try_from(1).unwrap();
        assert_eq!(jan31.checked_add_months(one.months()).unwrap().date_naive().to_string(), "2026-02-28");
        let three_years = PeriodMonths::try_from(36).unwrap();
        assert_eq!(jan31.checked_add_months(three_years.months()).unwrap().date_naive().to_string(), "2029-01-31");
    }
}
