//! Deal protection arithmetic: a lock runs for calendar months from approval (or from its current expiry
//! when extended), with the end of month clamping (30 Nov + 3 months = 28/29 Feb).

use chrono::{DateTime, Months, Utc};

use super::InputError;

pub const LOCK_MONTHS: u32 = 3;

/// An extension of an active lock: 1 to 24 calendar months.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockExtension(u32);

impl LockExtension {
    pub const MAX: u32 = 24;

    pub const fn months(self) -> u32 {
        self.0
    }
}

impl TryFrom<i32> for LockExtension {
    type Error = InputError;

    /// Reason `OUT_OF_RANGE` outside 1..=24.
    fn try_from(months: i32) -> Result<Self, Self::Error> {
        match u32::try_from(months) {
            Ok(m) if (1..=Self::MAX).contains(&m) => Ok(LockExtension(m)),
            _ => Err(InputError::new("OUT_OF_RANGE", "1 to 24")),
        }
    }
}

pub use entity::enums::StopListStatus;

/// 1C:Fresh services that need set-up, support or customisation: only a `CSK` partner enables them for
/// its clients [003].
pub fn needs_csk(program_code: &str, category: &str) -> bool {
    program_code == "1C-FRESH" && matches!(category, "EXCHANGE" | "AUTONOMOUS_WORKPLACE" | "CUSTOM_REPORTS")
}

/// The stop-list categories: sales in these need the partner's active lock on the client.
pub const LOCKED_CATEGORIES: [&str; 3] = ["SAAS_CORPORATE", "ONPREM_SERVER", "ONPREM_USER"];

pub fn is_locked_category(category: &str) -> bool {
    LOCKED_CATEGORIES.contains(&category)
}

pub fn lock_end(from: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    from.checked_add_months(Months::new(months)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Where a stop-list entry stands at `now`: an approved lock past its end is expired.
pub fn status_at(stored: StopListStatus, expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> StopListStatus {
    match stored {
        StopListStatus::Approved if expires_at.is_some_and(|e| e > now) => StopListStatus::Approved,
        StopListStatus::Approved => StopListStatus::Expired,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).unwrap()
    }

    #[test]
    fn three_calendar_months_with_end_of_month_clamping() {
        assert_eq!(lock_end(at(2025, 11, 30), 3), at(2026, 2, 28));
        assert_eq!(lock_end(at(2023, 11, 30), 3), at(2024, 2, 29));
        assert_eq!(lock_end(at(2025, 1, 15), 3), at(2025, 4, 15));
        assert_eq!(lock_end(at(2025, 8, 31), 3), at(2025, 11, 30));
        assert_eq!(lock_end(at(2025, 12, 31), 2), at(2026, 2, 28));
    }

    #[test]
    fn a_lock_extends_by_one_to_twenty_four_months() {
        assert_eq!(LockExtension::try_from(1).unwrap().months(), 1);
        assert_eq!(LockExtension::try_from(24).unwrap().months(), 24);
        for bad in [0, -1, 25, i32::MAX, i32::MIN] {
            let e = LockExtension::try_from(bad).unwrap_err();
            assert_eq!((e.reason, e.message.as_str()), ("OUT_OF_RANGE", "1 to 24"), "{bad}");
        }
    }

    #[test]
    fn an_approved_lock_expires_by_date() {
        let now = at(2026, 1, 1);
        use StopListStatus::*;
        assert_eq!(status_at(Approved, Some(at(2026, 1, 2)), now), Approved);
        assert_eq!(status_at(Approved, Some(now), now), Expired);
        assert_eq!(status_at(Approved, None, now), Expired);
        assert_eq!(status_at(Expired, Some(at(2026, 1, 2)), now), Expired);
        assert_eq!(status_at(Requested, None, now), Requested);
        assert_eq!(status_at(Rejected, None, now), Rejected);
    }

    #[test]
    fn franchisee_limits_cover_the_three_services_of_1c_fresh() {
        assert!(
            needs_csk("1C-FRESH", "EXCHANGE")
                && needs_csk("1C-FRESH", "AUTONOMOUS_WORKPLACE")
                && needs_csk("1C-FRESH", "CUSTOM_REPORTS")
        );
        assert!(!needs_csk("1C-FRESH", "ITSAAS") && !needs_csk("1C-CONNECT", "EXCHANGE"));
    }

    #[test]
    fn the_locked_categories_are_the_corporate_and_on_premise_ones() {
        assert!(
            is_locked_category("SAAS_CORPORATE")
                && is_locked_category("ONPREM_SERVER")
                && is_locked_category("ONPREM_USER")
        );
        assert!(!is_locked_category("ITS_BUNDLED") && !is_locked_category("DEVELOPER_SERVICES"));
    }
}
