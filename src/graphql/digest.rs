//! The weekly digest and the e-mail outbox: `weeklyDigest`, `notifications`, `runWeeklyDigest`.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::outbox_message;

use super::commerce_types::SubscriptionNode;
use super::context::{Conn, GqlResult, connection, page_args, resource_id, scope, state};
use super::enums::{NotificationKind, NotificationStatus};
use super::scalars::Date;
use super::types::Subscriber;
use crate::service::digest::{self, WeekStart};
use crate::service::outbox;

/// One partner's weekly digest: its clients' subscriptions ending soon and those created last week.
pub struct WeeklyDigest(digest::Digest);

#[Object]
impl WeeklyDigest {
    /// The partner the digest is for.
    async fn partner(&self, ctx: &Context<'_>) -> Subscriber {
        Subscriber::in_ctx(ctx, self.0.partner.clone())
    }
    /// The Monday the digest is sent.
    async fn week_start(&self) -> Date {
        Date(self.0.week_start.date())
    }
    /// Subscriptions of the partner's clients ending in [weekStart, weekStart + 14 days), not cancelled,
    /// soonest first (at most 500).
    async fn expiring(&self) -> Vec<SubscriptionNode> {
        self.0.expiring.iter().cloned().map(SubscriptionNode).collect()
    }
    /// Subscriptions of the partner's clients created in [weekStart − 7 days, weekStart), oldest first
    /// (at most 500).
    async fn created(&self) -> Vec<SubscriptionNode> {
        self.0.created.iter().cloned().map(SubscriptionNode).collect()
    }
}

/// An e-mail in the outbox. Sent at least once; a failed send is retried with a growing delay.
pub struct Notification(outbox_message::Model);

#[Object]
impl Notification {
    /// The message's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The recipient's address.
    async fn to(&self) -> &str {
        &self.0.to_email
    }
    /// The subject line.
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    /// What the e-mail is about.
    async fn kind(&self) -> NotificationKind {
        self.0.kind.into()
    }
    /// Pending, sent or cancelled.
    async fn status(&self) -> NotificationStatus {
        self.0.status.into()
    }
    /// Failed attempts so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// When it was queued.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the mail server accepted it.
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }
    /// Why the last attempt failed (the SMTP reply code or the kind of failure).
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
}

#[derive(Default)]
pub struct DigestQuery;

#[Object]
impl DigestQuery {
    /// A partner's weekly digest. `weekStart` must be a Monday. A partner's owners and service operators
    /// read their own partner's (`partnerId` may be left out); the vendor names any partner.
    async fn weekly_digest(
        &self,
        ctx: &Context<'_>,
        partner_id: Option<ID>,
        week_start: Date,
    ) -> GqlResult<WeeklyDigest> {
        let p = scope(ctx)?;
        let week = WeekStart::parse(week_start.0, state(ctx).config.rules.local)?;
        let partner = partner_id.as_ref().map(resource_id).transpose()?;
        Ok(WeeklyDigest(digest::read(state(ctx), p, partner, week).await?))
    }

    /// The e-mail outbox, oldest first (the vendor).
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<Notification>> {
        let p = scope(ctx)?;
        let args = page_args(ctx, first, after)?;
        let page = outbox::list(state(ctx), p, args).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, Notification))
    }
}

#[derive(Default)]
pub struct DigestMutation;

#[Object]
impl DigestMutation {
    /// Queues the week's digest e-mail to every service operator of every partner with anything to report
    /// (vendor owners and service operators). Idempotent per partner, week and operator: returns how many
    /// e-mails this call queued, 0 when they were queued before.
    async fn run_weekly_digest(&self, ctx: &Context<'_>, week_start: Date) -> GqlResult<i32> {
        let p = scope(ctx)?;
        p.require(p.is_vendor_staff(), "run the weekly digest")?;
        let queued = digest::run_weekly_digest(state(ctx), week_start.0).await?;
        Ok(i32::try_from(queued).unwrap_or(i32::MAX))
    }
}
