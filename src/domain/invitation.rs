//! The life of an invitation: stored as pending, accepted, revoked or superseded; expiry follows from
//! the date, so reading it never depends on a background job.

use chrono::{DateTime, Utc};

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum InvitationStatus {
    /// Sent and still valid.
    Pending,
    /// Accepted: the membership exists.
    Accepted,
    /// Voided by an administrator.
    Revoked,
    /// Not accepted in time.
    Expired,
}

impl InvitationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "PENDING",
            InvitationStatus::Accepted => "ACCEPTED",
            InvitationStatus::Revoked => "REVOKED",
            InvitationStatus::Expired => "EXPIRED",
        }
    }

    /// The status at `now` of an invitation stored with `stored` status and expiring at `expires_at`.
    pub fn at(stored: &str, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> InvitationStatus {
        match stored {
            "ACCEPTED" => InvitationStatus::Accepted,
            "REVOKED" => InvitationStatus::Revoked,
            "PENDING" if expires_at > now => InvitationStatus::Pending,
            _ => InvitationStatus::Expired,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_pending_invitation_expires_at_its_date() {
        let now = Utc::now();
        assert_eq!(InvitationStatus::at("PENDING", now + Duration::seconds(1), now), InvitationStatus::Pending);
        assert_eq!(InvitationStatus::at("PENDING", now, now), InvitationStatus::Expired);
        assert_eq!(InvitationStatus::at("ACCEPTED", now - Duration::days(30), now), InvitationStatus::Accepted);
        assert_eq!(InvitationStatus::at("REVOKED", now + Duration::days(3), now), InvitationStatus::Revoked);
    }
}
