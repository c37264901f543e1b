//! The one-to-many relations of programs, partners, clients, users, promo codes, lead pools and
//! payments: one query per level of the response, whatever the number of parent rows. Each loads what
//! the service function it replaces loaded for one parent, in the same order; who may ask is decided
//! by the resolver before it asks.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use entity::{
    binding_change, churn_record, commission, commission_rule, lead_pool_member, membership, needs_assessment,
    partner_status, program_category, program_status, promo_redemption,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{DbLoader, LoadError, failed};

/// Groups rows by their owner: every key present (empty when it has none), rows in query order.
pub(crate) fn grouped<K: Copy + Eq + std::hash::Hash, M>(
    keys: &[K],
    pairs: impl IntoIterator<Item = (K, M)>,
) -> HashMap<K, Vec<M>> {
    let mut out: HashMap<K, Vec<M>> = keys.iter().map(|k| (*k, Vec::new())).collect();
    for (k, m) in pairs {
        out.entry(k).or_default().push(m);
    }
    out
}

/// A program's partner statuses, lowest first (`Program.statuses`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusesOf(pub Uuid);
/// A program's product categories in their order (`Program.categories`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CategoriesOf(pub Uuid);
/// A program's commission rules in force (`Program.rules`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RulesOf(pub Uuid);
/// A partner's status in each program (`PartnerProfile.statuses`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartnerStatusesOf(pub Uuid);
/// A client's changes of serving partner, oldest first (`Subscriber.bindingHistory`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BindingHistoryOf(pub Uuid);
/// A client's needs assessment (`Subscriber.needsAssessment`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeedsOf(pub Uuid);
/// A client's churn records, oldest first (`Subscriber.churnReasons`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChurnOf(pub Uuid);
/// A user's memberships, oldest first (`Viewer.memberships`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MembershipsOfUser(pub Uuid);
/// How many clients used a promo code (`PromoCode.uses`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PromoUses(pub Uuid);
/// A lead pool's members by rank (`LeadPool.members`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolMembersOf(pub Uuid);
/// A payment's ledger entries, all of them (`partner: None`, the vendor) or one partner's
/// (`Payment.commissions`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntriesOfPayment {
    pub payment: Uuid,
    pub partner: Option<Uuid>,
}

/// A one-to-many relation: the rows whose `$owner` column holds one of the keys, in `$order`.
macro_rules! many {
    ($key:ident, $entity:ident, $owner:ident, $field:ident, [$($order:ident),+]) => {
        impl Loader<$key> for DbLoader {
            type Value = Vec<$entity::Model>;
            type Error = LoadError;
            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, Self::Error> {
                let rows = $entity::Entity::find()
                    .filter($entity::Column::$owner.is_in(keys.iter().map(|k| k.0)))
                    $(.order_by_asc($entity::Column::$order))+
                    .all(&self.db)
                    .await
                    .map_err(failed)?;
                Ok(grouped(keys, rows.into_iter().map(|r| ($key(r.$field), r))))
            }
        }
    };
}

many!(PartnerStatusesOf, partner_status, PartnerId, partner_id, [Id]);
many!(BindingHistoryOf, binding_change, ClientId, client_id, [At, Id]);
many!(ChurnOf, churn_record, ClientId, client_id, [At, Id]);
many!(MembershipsOfUser, membership, UserId, user_id, [CreatedAt, Id]);
many!(PoolMembersOf, lead_pool_member, PoolId, pool_id, [Rank]);

impl Loader<StatusesOf> for DbLoader {
    type Value = Vec<String>;
    type Error = LoadError;
    async fn load(&self, keys: &[StatusesOf]) -> Result<HashMap<StatusesOf, Self::Value>, Self::Error> {
        let rows = program_status::Entity::find()
            .filter(program_status::Column::ProgramId.is_in(keys.iter().map(|k| k.0)))
            .order_by_asc(program_status::Column::Rank)
            .all(&self.db)
            .await
            .map_err(failed)?;
        Ok(grouped(keys, rows.into_iter().map(|r| (StatusesOf(r.program_id), r.code))))
    }
}

impl Loader<CategoriesOf> for DbLoader {
    type Value = Vec<String>;
    type Error = LoadError;
    async fn load(&self, keys: &[CategoriesOf]) -> Result<HashMap<CategoriesOf, Self::Value>, Self::Error> {
        let rows = program_category::Entity::find()
            .filter(program_category::Column::ProgramId.is_in(keys.iter().map(|k| k.0)))
            .order_by_asc(program_category::Column::Position)
            .all(&self.db)
            .await
            .map_err(failed)?;
        Ok(grouped(keys, rows.into_iter().map(|r| (CategoriesOf(r.program_id), r.code))))
    }
}

impl Loader<RulesOf> for DbLoader {
    type Value = Vec<commission_rule::Model>;
    type Error = LoadError;
    async fn load(&self, keys: &[RulesOf]) -> Result<HashMap<RulesOf, Self::Value>, Self::Error> {
        // Replaced and deleted rules stay in the table for the ledger's history; these are in force.
        let rows = commission_rule::Entity::find()
            .filter(commission_rule::Column::ProgramId.is_in(keys.iter().map(|k| k.0)))
            .filter(commission_rule::Column::DeletedAt.is_null())
            .order_by_asc(commission_rule::Column::Id)
            .all(&self.db)
            .await
            .map_err(failed)?;
        Ok(grouped(keys, rows.into_iter().map(|r| (RulesOf(r.program_id), r))))
    }
}

impl Loader<NeedsOf> for DbLoader {
    type Value = needs_assessment::Model;
    type Error = LoadError;
    async fn load(&self, keys: &[NeedsOf]) -> Result<HashMap<NeedsOf, Self::Value>, Self::Error> {
        let rows = needs_assessment::Entity::find()
            .filter(needs_assessment::Column::ClientId.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await
            .map_err(failed)?;
        Ok(rows.into_iter().map(|r| (NeedsOf(r.client_id), r)).collect())
    }
}

impl Loader<PromoUses> for DbLoader {
    type Value = i64;
    type Error = LoadError;
    async fn load(&self, keys: &[PromoUses]) -> Result<HashMap<PromoUses, Self::Value>, Self::Error> {
        let counts: Vec<(Uuid, i64)> = promo_redemption::Entity::find()
            .select_only()
            .column(promo_redemption::Column::PromoId)
            .column_as(promo_redemption::Column::Id.count(), "uses")
            .filter(promo_redemption::Column::PromoId.is_in(keys.iter().map(|k| k.0)))
            .group_by(promo_redemption::Column::PromoId)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(failed)?;
        let mut out: HashMap<PromoUses, i64> = keys.iter().map(|k| (*k, 0)).collect();
        out.extend(counts.into_iter().map(|(promo, n)| (PromoUses(promo), n)));
        Ok(out)
    }
}

impl Loader<EntriesOfPayment> for DbLoader {
    type Value = Vec<commission::Model>;
    type Error = LoadError;
    async fn load(&self, keys: &[EntriesOfPayment]) -> Result<HashMap<EntriesOfPayment, Self::Value>, Self::Error> {
        let mut q =
            commission::Entity::find().filter(commission::Column::PaymentId.is_in(keys.iter().map(|k| k.payment)));
        let partners: Option<Vec<Uuid>> = keys.iter().map(|k| k.partner).collect();
        if let Some(partners) = partners {
            q = q.filter(commission::Column::PartnerId.is_in(partners));
        }
        let rows = q.order_by_asc(commission::Column::Id).all(&self.db).await.map_err(failed)?;
        // A key with a partner gets that partner's entries only, whatever else the batch read.
        let mut out: HashMap<EntriesOfPayment, Self::Value> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for r in rows {
            for key in [
                EntriesOfPayment { payment: r.payment_id, partner: None },
                EntriesOfPayment { payment: r.payment_id, partner: Some(r.partner_id) },
            ] {
                if let Some(v) = out.get_mut(&key) {
                    v.push(r.clone());
                }
            }
        }
        Ok(out)
    }
}

/// One page of a subscriber's members (`Subscriber.members`): at most `first` after `after`, by id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MembersPage {
    pub subscriber: Uuid,
    pub first: u64,
    pub after: Option<Uuid>,
}

/// How many members a subscriber has (`Subscriber.members { totalCount }`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemberCount(pub Uuid);

impl Loader<MembersPage> for DbLoader {
    /// The page's rows, with one more when more follow (as `Page::from_overfetch` takes them).
    type Value = Vec<membership::Model>;
    type Error = LoadError;
    async fn load(&self, keys: &[MembersPage]) -> Result<HashMap<MembersPage, Self::Value>, Self::Error> {
        // The siblings of one field share its arguments, so this is one statement per field: the first
        // `first + 1` rows of each subscriber, numbered per subscriber by a window.
        let mut shapes: Vec<(u64, Option<Uuid>)> = keys.iter().map(|k| (k.first, k.after)).collect();
        shapes.sort();
        shapes.dedup();
        let mut out = HashMap::new();
        for (first, after) in shapes {
            let of: Vec<Uuid> =
                keys.iter().filter(|k| (k.first, k.after) == (first, after)).map(|k| k.subscriber).collect();
            let rows = first_rows_of(&self.db, &of, first + 1, after).await.map_err(failed)?;
            let keyed = rows.into_iter().map(|m| (MembersPage { subscriber: m.subscriber_id, first, after }, m));
            let page_keys: Vec<MembersPage> =
                of.iter().map(|&subscriber| MembersPage { subscriber, first, after }).collect();
            out.extend(grouped(&page_keys, keyed));
        }
        Ok(out)
    }
}

/// The first `n` memberships (by id, after `after`) of each subscriber.
async fn first_rows_of(
    db: &sea_orm::DatabaseConnection,
    subscribers: &[Uuid],
    n: u64,
    after: Option<Uuid>,
) -> Result<Vec<membership::Model>, sea_orm::DbErr> {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query, WindowStatement};
    use sea_orm::{FromQueryResult, QueryTrait};

    let mut numbered = membership::Entity::find().filter(membership::Column::SubscriberId.is_in(subscribers.to_vec()));
    if let Some(after) = after {
        numbered = numbered.filter(membership::Column::Id.gt(after));
    }
    let mut numbered = numbered.into_query();
    numbered.expr_window_as(
        Expr::cust("ROW_NUMBER()"),
        WindowStatement::partition_by(membership::Column::SubscriberId)
            .order_by(membership::Column::Id, Order::Asc)
            .to_owned(),
        Alias::new("row_in_page"),
    );
    let page = Query::select()
        .column(sea_orm::sea_query::Asterisk)
        .from_subquery(numbered, Alias::new("numbered"))
        .and_where(Expr::col(Alias::new("row_in_page")).lte(n))
        .order_by(membership::Column::SubscriberId, Order::Asc)
        .order_by(membership::Column::Id, Order::Asc)
        .to_owned();
    let statement = db.get_database_backend().build(&page);
    membership::Model::find_by_statement(statement).all(db).await
}

impl Loader<MemberCount> for DbLoader {
    type Value = u64;
    type Error = LoadError;
    async fn load(&self, keys: &[MemberCount]) -> Result<HashMap<MemberCount, Self::Value>, Self::Error> {
        let counts: Vec<(Uuid, i64)> = membership::Entity::find()
            .select_only()
            .column(membership::Column::SubscriberId)
            .column_as(membership::Column::Id.count(), "members")
            .filter(membership::Column::SubscriberId.is_in(keys.iter().map(|k| k.0)))
            .group_by(membership::Column::SubscriberId)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(failed)?;
        let mut out: HashMap<MemberCount, u64> = keys.iter().map(|k| (*k, 0)).collect();
        out.extend(counts.into_iter().map(|(s, n)| (MemberCount(s), n.max(0) as u64)));
        Ok(out)
    }
}
