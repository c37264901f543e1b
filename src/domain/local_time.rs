//! The service's local time: calendar days and weeks (the Monday digest, contract end dates, lead-pool
//! windows) begin at midnight in one configured time zone (`PARTNERGRAPH_TIMEZONE`, default
//! `Europe/Moscow`), not in UTC. Instants stay UTC everywhere else.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// A time zone by its IANA name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime(Tz);

impl LocalTime {
    /// An IANA zone name (`Europe/Moscow`, `Asia/Yekaterinburg`, `UTC`); anything else is refused.
    pub fn parse(name: &str) -> Result<Self, String> {
        name.trim().parse::<Tz>().map(LocalTime).map_err(|_| {
            format!("PARTNERGRAPH_TIMEZONE: unknown time zone {name:?} (an IANA name such as Europe/Moscow)")
        })
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The local calendar day of an instant.
    pub fn date(self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.0).date_naive()
    }

    /// The instant a local day begins (its first existing minute, should a clock change skip midnight).
    pub fn day_start(self, day: NaiveDate) -> DateTime<Utc> {
        let mut t = day.and_time(NaiveTime::MIN);
        for _ in 0..24 * 4 {
            if let Some(at) = self.0.from_local_datetime(&t).earliest() {
                return at.with_timezone(&Utc);
            }
            t += Duration::minutes(15);
        }
        day.and_time(NaiveTime::MIN).and_utc()
    }

    /// The instant a local day ends: the start of the next one.
    pub fn day_end(self, day: NaiveDate) -> DateTime<Utc> {
        self.day_start(day.succ_opt().unwrap_or(day))
    }

    /// The local Monday of the week an instant falls in.
    pub fn monday_of(self, at: DateTime<Utc>) -> NaiveDate {
        let day = self.date(at);
        day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
    }

    /// Whether an instant falls on a local Monday.
    pub fn is_monday(self, at: DateTime<Utc>) -> bool {
        self.date(at).weekday() == Weekday::Mon
    }
}

impl Default for LocalTime {
    fn default() -> Self {
        LocalTime(chrono_tz::Europe::Moscow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn moscow_days_begin_at_21_00_utc_the_evening_before() {
        let msk = LocalTime::parse("Europe/Moscow").unwrap();
        assert_eq!(msk.day_start(day("2026-11-30")), utc("2026-11-29T21:00:00Z"));
        assert_eq!(msk.day_end(day("2026-11-30")), utc("2026-11-30T21:00:00Z"));
        // Sunday 22:30 UTC is already Monday in Moscow.
        assert_eq!(msk.date(utc("2026-11-29T22:30:00Z")), day("2026-11-30"));
        assert!(msk.is_monday(utc("2026-11-29T22:30:00Z")));
        assert!(!msk.is_monday(utc("2026-11-30T21:00:00Z")));
        assert_eq!(msk.monday_of(utc("2026-11-29T20:59:59Z")), day("2026-11-23"));
        assert_eq!(msk.monday_of(utc("2026-11-29T21:00:00Z")), day("2026-11-30"));
    }

    #[test]
    fn a_day_skipped_at_midnight_begins_at_its_first_minute() {
        // America/Havana moved its clocks from 00:00 to 01:00 on 2026-03-08.
        let havana = LocalTime::parse("America/Havana").unwrap();
        assert_eq!(havana.day_start(day("2026-03-08")), utc("2026-03-08T05:00:00Z"));
        assert_eq!(LocalTime::parse("UTC").unwrap().day_start(day("2026-03-08")), utc("2026-03-08T00:00:00Z"));
    }

    #[test]
    fn an_unknown_zone_is_refused_with_its_name() {
        let err = LocalTime::parse("Mars/Olympus").unwrap_err();
        assert!(err.contains("PARTNERGRAPH_TIMEZONE") && err.contains("Mars/Olympus"), "{err}");
        assert_eq!(LocalTime::default().name(), "Europe/Moscow");
    }
}
