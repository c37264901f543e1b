//! The partner's calls [001, 000]: which tasks exist, when each is due, and what to talk about.

use chrono::{DateTime, Duration, Utc};

pub use entity::enums::{TaskKind, TaskStatus};

/// A trial as the task rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Trial {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// When a welcome call is due: within a day of registration or assignment.
pub fn welcome_call_due(at: DateTime<Utc>) -> DateTime<Utc> {
    at + Duration::days(1)
}

/// The check-in is done between day 10 and day 14 of the trial: it appears on day 10, due on day 14
/// (or at the trial's end, if the trial is shorter).
pub fn check_in(t: Trial) -> (DateTime<Utc>, DateTime<Utc>) {
    let opens = t.starts_at + Duration::days(10);
    (opens, (t.starts_at + Duration::days(14)).min(t.ends_at))
}

/// The trial-ending call is due 7 days before the end; it appears three days ahead of that.
pub fn trial_ending(t: Trial) -> (DateTime<Utc>, DateTime<Utc>) {
    let due = (t.ends_at - Duration::days(7)).max(t.starts_at);
    (due - Duration::days(3), due)
}

/// The churn-reason call is due three days after a trial ended without a payment.
pub fn churn_reason_due(t: Trial) -> DateTime<Utc> {
    t.ends_at + Duration::days(3)
}

/// What to talk about on each call, from the partner manager guide [001].
pub fn topics(kind: TaskKind) -> &'static [&'static str] {
    match kind {
        TaskKind::WelcomeCall => &[
            "Introduce yourself and get to know the client",
            "Check that the client activated the invitation; if not, find out why and resend it",
            "Questions about starting work in the service",
            "Introduction to the applications",
            "Connecting users",
            "First impression: is everything clear?",
            "Needs assessment: line of business, processes to automate, previous software and exchange, remote users, internet, customisation, concurrent users, who starts when",
        ],
        TaskKind::TrialCheckIn => &[
            "Check that the client is working in the application",
            "Present the commercial offer",
            "Work processes and the specialists the client needs",
            "Tell the client the trial ends soon",
        ],
        TaskKind::TrialEnding => {
            &["Overall impressions and further plans", "Renewing access: a paid subscription", "Remaining questions"]
        }
        TaskKind::ChurnReason => {
            &["Ask why the client did not continue after the trial", "Record the churn reason in the client card"]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn due_dates_follow_the_trial() {
        let start = Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap();
        let t = Trial { starts_at: start, ends_at: start + Duration::days(30) };
        assert_eq!(welcome_call_due(start), start + Duration::days(1));
        assert_eq!(check_in(t), (start + Duration::days(10), start + Duration::days(14)));
        assert_eq!(trial_ending(t), (start + Duration::days(20), start + Duration::days(23)));
        assert_eq!(churn_reason_due(t), start + Duration::days(33));
        // A 12-day trial: the check-in is due at its end.
        let short = Trial { starts_at: start, ends_at: start + Duration::days(12) };
        assert_eq!(check_in(short).1, start + Duration::days(12));
    }

    #[test]
    fn every_kind_has_topics() {
        for kind in TaskKind::ALL {
            assert!(!topics(*kind).is_empty());
        }
    }
}
