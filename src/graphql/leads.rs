//! Lead distribution: `partnerRanking`, `leadPool`, `unboundClients`, `publishLeadPool`,
//! `setLeadPoolMember`.

use async_graphql::{Context, ID, InputObject, Object};
use entity::{lead_pool, lead_pool_member};

use super::commerce_types::Program;
use super::context::{
    Conn, GqlResult, audit_target, connection, input_id, page_args, resource_id, scope, state, viewer,
};
use super::loaders::{self, PoolMembersOf, ProgramId};
use super::scalars::{Date, Decimal};
use super::types::Subscriber;
use crate::service::leads::{self, MemberChange, NewPool, RankingPage, RankingRow as Row};

/// A partner's line in a quarter's ranking.
pub struct RankingRow(Row);

#[Object]
impl RankingRow {
    /// 1 is best: by net, then new contracts, then name.
    async fn rank(&self) -> i32 {
        self.0.rank
    }
    /// The partner: outside the caller's reach, its id and name only.
    async fn partner(&self, ctx: &Context<'_>) -> Subscriber {
        Subscriber::in_ctx(ctx, self.0.partner.clone())
    }
    /// Clients whose first paid ITSaaS contract started in the quarter.
    async fn new_contracts(&self) -> i64 {
        self.0.new_contracts
    }
    /// Clients counted new earlier whose last paid ITSaaS contract ended in the quarter unrenewed.
    async fn churned(&self) -> i64 {
        self.0.churned
    }
    /// New contracts minus churned.
    async fn net(&self) -> i64 {
        self.0.new_contracts - self.0.churned
    }
}

/// The partners self-registered clients are distributed to, for a validity window.
pub struct LeadPool(pub lead_pool::Model);

#[Object]
impl LeadPool {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn program(&self, ctx: &Context<'_>) -> GqlResult<Program> {
        Ok(Program(loaders::required(ctx, ProgramId(self.0.program_id)).await?))
    }
    /// The quarter whose ranking the pool was chosen from, e.g. `2026-Q3`.
    async fn quarter(&self) -> &str {
        &self.0.quarter
    }
    /// First day the pool serves.
    async fn valid_from(&self) -> Date {
        Date(self.0.valid_from)
    }
    /// Last day the pool serves (a later overlapping pool ends it the day before it starts).
    async fn valid_until(&self) -> Date {
        Date(self.0.valid_until)
    }
    /// Members by rank.
    async fn members(&self, ctx: &Context<'_>) -> GqlResult<Vec<LeadPoolMember>> {
        Ok(loaders::required(ctx, PoolMembersOf(self.0.id)).await?.into_iter().map(LeadPoolMember).collect())
    }
}

/// A partner in a lead pool, with its share and the leads it got.
pub struct LeadPoolMember(pub lead_pool_member::Model);

#[Object]
impl LeadPoolMember {
    async fn partner(&self, ctx: &Context<'_>) -> GqlResult<Subscriber> {
        Subscriber::load(ctx, self.0.partner_id).await
    }
    /// Position in the pool, 1 to its size.
    async fn rank(&self) -> i32 {
        self.0.rank
    }
    /// Share of leads: 1.00 is equal, 2.00 doubles it, 0.00 gets none.
    async fn weight(&self) -> Decimal {
        Decimal::percent(self.0.weight_bp)
    }
    /// Excluded members get no leads.
    async fn excluded(&self) -> bool {
        self.0.excluded
    }
    /// Why the vendor last changed the weight or exclusion (the vendor's own note: null for partners).
    async fn reason(&self, ctx: &Context<'_>) -> Option<&str> {
        self.0.reason.as_deref().filter(|_| viewer(ctx).is_some_and(|s| s.is_vendor()))
    }
    /// Leads assigned since the pool started.
    async fn assigned(&self) -> i32 {
        self.0.assigned
    }
}

#[derive(Default)]
pub struct LeadQuery;

#[Object]
impl LeadQuery {
    /// The quarter's ranking of partners by net new ITSaaS contracts (partners and the vendor);
    /// `quarter` like `2026-Q3`. One page of it in rank order: at most `first` lines (default 100, at
    /// most 500) from rank `fromRank` on (default 1); the next page starts at the last line's rank + 1.
    /// With `partnerId`, only that partner's line (none when it is not ranked); a partner asks for its own.
    #[graphql(
        complexity = "first.map_or(leads::DEFAULT_RANKING_PAGE, |f| u64::try_from(f).unwrap_or(0).min(leads::MAX_RANKING_PAGE)) as usize * child_complexity"
    )]
    async fn partner_ranking(
        &self,
        ctx: &Context<'_>,
        program_code: String,
        quarter: String,
        first: Option<i32>,
        from_rank: Option<i32>,
        partner_id: Option<ID>,
    ) -> GqlResult<Vec<RankingRow>> {
        let p = scope(ctx)?;
        let partner = partner_id.as_ref().map(|id| input_id(id, "partnerId")).transpose()?;
        let page = RankingPage::new(first, from_rank, partner)?;
        Ok(leads::ranking(state(ctx), p, &program_code, &quarter, page).await?.into_iter().map(RankingRow).collect())
    }

    /// The program's lead pool valid today, or null.
    async fn lead_pool(&self, ctx: &Context<'_>, program_code: String) -> GqlResult<Option<LeadPool>> {
        let p = scope(ctx)?;
        Ok(leads::current_pool(state(ctx), p, &program_code).await?.map(LeadPool))
    }

    /// Clients no partner serves (self-registered while no pool was valid), for the vendor (every role).
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn unbound_clients(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<Subscriber>> {
        let p = scope(ctx)?;
        let args = page_args(ctx, first, after)?;
        let page = leads::unbound_clients(state(ctx), p, args).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, |m| Subscriber::in_ctx(ctx, m)))
    }
}

/// A lead pool to publish from a quarter's ranking.
#[derive(InputObject)]
pub struct LeadPoolInput {
    pub program_code: String,
    /// The ranking's quarter, e.g. `2026-Q4`.
    pub quarter: String,
    pub valid_from: Date,
    pub valid_until: Date,
    /// How many of the best eligible partners (default 10, at most 50).
    #[graphql(default = 10)]
    pub size: i32,
}

#[derive(Default)]
pub struct LeadMutation;

#[Object]
impl LeadMutation {
    /// Publishes a lead pool (vendor staff): the best `size` partners of the quarter's ranking that hold
    /// the program's minimum lead status and are on the service desk with consultants and
    /// customisation specialists. An overlapping valid pool ends the day before this one starts.
    async fn publish_lead_pool(&self, ctx: &Context<'_>, input: LeadPoolInput) -> GqlResult<LeadPool> {
        let p = scope(ctx)?;
        let pool = leads::publish_pool(
            state(ctx),
            p,
            NewPool {
                program_code: input.program_code,
                quarter: input.quarter,
                valid_from: input.valid_from.0,
                valid_until: input.valid_until.0,
                size: u32::try_from(input.size).unwrap_or(0),
            },
        )
        .await?;
        audit_target(ctx, pool.id);
        Ok(LeadPool(pool))
    }

    /// Changes a pool member's share or excludes it (vendor staff), with the reason, which is kept.
    async fn set_lead_pool_member(
        &self,
        ctx: &Context<'_>,
        pool_id: ID,
        partner_id: ID,
        weight: Option<Decimal>,
        excluded: Option<bool>,
        reason: String,
    ) -> GqlResult<LeadPoolMember> {
        let p = scope(ctx)?;
        let pool = resource_id(&pool_id)?;
        let partner = input_id(&partner_id, "partnerId")?;
        let weight = weight.map(|w| w.to_rate("weight")).transpose()?;
        let m = leads::set_member(state(ctx), p, pool, partner, MemberChange { weight, excluded, reason }).await?;
        audit_target(ctx, m.id);
        Ok(LeadPoolMember(m))
    }
}
