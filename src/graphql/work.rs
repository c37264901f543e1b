//! The partner's work with clients: `tasks`, `notActivatedInvitations`, `supportedClients`,
//! `partnerDirectory`, `completeTask`, `recordChurnReason`, `saveNeedsAssessment`, `issueSupportCode`,
//! `activateSupportCode`, `endSupportLine`.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entity::{churn_record, needs_assessment, task};

use super::context::{Conn, GqlResult, audit_target, connection, input_id, page_args, resource_id, scope, state};
use super::enums::{ChurnReason, TaskKind, TaskStatus};
use super::scalars::Date;
use super::types::{Invitation, Subscriber};
use crate::domain::tasks::topics;
use crate::service::client_work::{self, Needs};
use crate::service::{invitations, support, tasks};

/// A call the partner is to make to a client.
pub struct Task(pub task::Model);

#[Object]
impl Task {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn kind(&self) -> TaskKind {
        self.0.kind.into()
    }
    async fn client(&self, ctx: &Context<'_>) -> GqlResult<Subscriber> {
        Subscriber::load(ctx, self.0.client_id).await
    }
    /// When the call is due.
    async fn due_at(&self) -> DateTime<Utc> {
        self.0.due_at
    }
    async fn status(&self) -> TaskStatus {
        self.0.status.into()
    }
    /// What to talk about, from the partner manager guide.
    async fn topics(&self) -> Vec<&'static str> {
        topics(self.0.kind).to_vec()
    }
    /// The note left when the task was done.
    async fn outcome(&self) -> Option<&str> {
        self.0.outcome.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }
}

/// The answers of the needs assessment on a client card.
pub struct NeedsAssessment(pub needs_assessment::Model);

#[Object]
impl NeedsAssessment {
    /// What the company does.
    async fn line_of_business(&self) -> Option<&str> {
        self.0.line_of_business.as_deref()
    }
    /// A company being set up (true) or already registered (false).
    async fn new_company(&self) -> Option<bool> {
        self.0.new_company
    }
    /// Which processes to automate, what is missing now.
    async fn processes_to_automate(&self) -> Option<&str> {
        self.0.processes_to_automate.as_deref()
    }
    /// How accounting was kept before, which programs.
    async fn previous_software(&self) -> Option<&str> {
        self.0.previous_software.as_deref()
    }
    /// An exchange with other programs is needed.
    async fn needs_exchange(&self) -> Option<bool> {
        self.0.needs_exchange
    }
    async fn has_remote_users(&self) -> Option<bool> {
        self.0.has_remote_users
    }
    async fn stable_internet(&self) -> Option<bool> {
        self.0.stable_internet
    }
    /// Standard configurations will not do: customisation is needed.
    async fn needs_customization(&self) -> Option<bool> {
        self.0.needs_customization
    }
    /// Users working at the same time.
    async fn concurrent_users(&self) -> Option<i32> {
        self.0.concurrent_users
    }
    /// Who will work in the program.
    async fn who_will_work(&self) -> Option<&str> {
        self.0.who_will_work.as_deref()
    }
    /// When they plan to start.
    async fn planned_start(&self) -> Option<Date> {
        self.0.planned_start.map(Date)
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Why a client left.
pub struct ChurnRecord(pub churn_record::Model);

#[Object]
impl ChurnRecord {
    async fn reason(&self) -> ChurnReason {
        self.0.reason.into()
    }
    async fn comment(&self) -> Option<&str> {
        self.0.comment.as_deref()
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
}

#[derive(Default)]
pub struct WorkQuery;

#[Object]
impl WorkQuery {
    /// The partner's tasks by due date (a partner's owner and operators; the vendor sees all).
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        status: Option<TaskStatus>,
        client_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<Task>> {
        let p = scope(ctx)?;
        let client = client_id.as_ref().map(resource_id).transpose()?;
        let args = page_args(ctx, first, after)?;
        let page = tasks::list(state(ctx), p, status.map(Into::into), client, args).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, Task))
    }

    /// Invitations of the partner's clients not accepted yet, oldest first (see `ageDays`), so the
    /// partner can call the client and resend.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn not_activated_invitations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<Invitation>> {
        let p = scope(ctx)?;
        let args = page_args(ctx, first, after)?;
        let page = invitations::not_activated(state(ctx), p, args).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, Invitation))
    }

    /// Clients whose support line the caller's partner is (by an activated support code).
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn supported_clients(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<Subscriber>> {
        let p = scope(ctx)?;
        let args = page_args(ctx, first, after)?;
        let page = support::supported_clients(state(ctx), p, args).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, |m| Subscriber::in_ctx(ctx, m)))
    }

    /// Public: partners with at least 10 paying clients, by name. Without a token only `id`, `name`,
    /// `email`, `phone` and `address` can be read.
    async fn partner_directory(&self, ctx: &Context<'_>) -> GqlResult<Vec<Subscriber>> {
        Ok(support::directory(state(ctx)).await?.into_iter().map(|m| Subscriber::in_directory(ctx, m)).collect())
    }
}

/// The needs assessment's answers; saving replaces all of them (omitted answers become empty).
#[derive(InputObject, Default)]
pub struct NeedsAssessmentInput {
    pub line_of_business: Option<String>,
    pub new_company: Option<bool>,
    pub processes_to_automate: Option<String>,
    pub previous_software: Option<String>,
    pub needs_exchange: Option<bool>,
    pub has_remote_users: Option<bool>,
    pub stable_internet: Option<bool>,
    pub needs_customization: Option<bool>,
    pub concurrent_users: Option<i32>,
    pub who_will_work: Option<String>,
    pub planned_start: Option<Date>,
}

#[derive(Default)]
pub struct WorkMutation;

#[Object]
impl WorkMutation {
    /// Completes an open task of the caller's partner with an outcome note.
    async fn complete_task(&self, ctx: &Context<'_>, id: ID, outcome: String) -> GqlResult<Task> {
        let p = scope(ctx)?;
        let t = tasks::complete(state(ctx), p, resource_id(&id)?, &outcome).await?;
        audit_target(ctx, t.id);
        Ok(Task(t))
    }

    /// Records why a client left after its trial (its serving partner or vendor staff); open
    /// churn-reason tasks for the client are done with it.
    async fn record_churn_reason(
        &self,
        ctx: &Context<'_>,
        client_id: ID,
        reason: ChurnReason,
        comment: Option<String>,
    ) -> GqlResult<Subscriber> {
        let p = scope(ctx)?;
        let s = client_work::record_churn(state(ctx), p, resource_id(&client_id)?, reason.into(), comment).await?;
        audit_target(ctx, s.id);
        Ok(Subscriber::in_ctx(ctx, s))
    }

    /// Saves the client's needs assessment (its serving partner, its own owner or admin, vendor staff).
    async fn save_needs_assessment(
        &self,
        ctx: &Context<'_>,
        client_id: ID,
        input: NeedsAssessmentInput,
    ) -> GqlResult<Subscriber> {
        let p = scope(ctx)?;
        let needs = Needs {
            line_of_business: input.line_of_business,
            new_company: input.new_company,
            processes_to_automate: input.processes_to_automate,
            previous_software: input.previous_software,
            needs_exchange: input.needs_exchange,
            has_remote_users: input.has_remote_users,
            stable_internet: input.stable_internet,
            needs_customization: input.needs_customization,
            concurrent_users: input.concurrent_users,
            who_will_work: input.who_will_work,
            planned_start: input.planned_start.map(|d| d.0),
        };
        let s = client_work::save_needs(state(ctx), p, resource_id(&client_id)?, needs).await?;
        audit_target(ctx, s.id);
        Ok(Subscriber::in_ctx(ctx, s))
    }

    /// Issues a support code (a partner's owner or operator), for one client or for the first client
    /// that activates it. The code is shown once; it expires after 7 days.
    async fn issue_support_code(&self, ctx: &Context<'_>, client_id: Option<ID>) -> GqlResult<String> {
        let p = scope(ctx)?;
        let client = client_id.as_ref().map(|c| input_id(c, "clientId")).transpose()?;
        Ok(support::issue(state(ctx), p, client).await?)
    }

    /// Activates a support code (a client's admin or owner): the code's partner becomes the client's
    /// support line.
    async fn activate_support_code(&self, ctx: &Context<'_>, code: String) -> GqlResult<Subscriber> {
        let p = scope(ctx)?;
        let s = support::activate(state(ctx), p, &code).await?;
        audit_target(ctx, s.id);
        Ok(Subscriber::in_ctx(ctx, s))
    }

    /// Switches the client back (a client's admin or owner): no partner is its support line any more.
    async fn end_support_line(&self, ctx: &Context<'_>) -> GqlResult<Subscriber> {
        let p = scope(ctx)?;
        let s = support::end(state(ctx), p).await?;
        audit_target(ctx, s.id);
        Ok(Subscriber::in_ctx(ctx, s))
    }
}
