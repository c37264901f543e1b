//! The life of an invitation: stored as pending, accepted, revoked or expired; expiry follows from the date,
//! so reading it never depends on a background job.

use chrono::{DateTime, Utc};

pub use entity::enums::InvitationStatus;

/// The status at `now` of an invitation stored with `stored` status and expiring at `expires_at`.
pub fn status_at(stored: InvitationStatus, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> InvitationStatus {
    match stored {
        InvitationStatus::Pending if expires_at > now => InvitationStatus::Pending,
        InvitationStatus::Pending => InvitationStatus::Expired,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_pending_invitation_expires_at_its_date() {
        use InvitationStatus::*;
        let now = Utc::now();
        assert_eq!(status_at(Pending, now + Duration::seconds(1), now), Pending);
        assert_eq!(status_at(Pending, now, now), Expired);
        assert_eq!(status_at(Accepted, now - Duration::days(30), now), Accepted);
        assert_eq!(status_at(Revoked, now + Duration::days(3), now), Revoked);
        assert_eq!(status_at(Expired, now + Duration::days(3), now), Expired);
    }
}
