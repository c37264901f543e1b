//! DataLoaders: every relation field loads through one per-request loader that batches the keys of a
//! whole level of the response into one query. Created per request (never schema-wide), so nothing
//! cached for one caller can reach another.

mod dispatch;
pub(super) mod page;
mod relations;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use entity::{
    api_key, commission_rule, invoice, membership, partner_profile, payment, program, subscriber, subscription, tariff,
    user,
};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

pub use self::dispatch::DispatchBatches;
use self::dispatch::Dispatcher;
pub(crate) use self::relations::grouped;
pub use self::relations::{
    BindingHistoryOf, CategoriesOf, ChurnOf, EntriesOfPayment, MemberCount, MembersPage, MembershipsOfUser, NeedsOf,
    PartnerStatusesOf, PoolMembersOf, PromoUses, RulesOf, StatusesOf,
};
use crate::error::AppError;

/// Loads rows by id, or by owner for one-to-many relations.
pub struct DbLoader {
    pub(super) db: DatabaseConnection,
    dispatcher: Arc<Dispatcher>,
}

pub type Loaders = DataLoader<DbLoader, HashMapCache>;

/// A loader for one request. Its cache lives as long as the request, so a row read twice in one
/// response (the same tariff under many subscriptions) is read once. Its batches start when the request
/// is waiting for them, without a delay ([`dispatch`]).
pub fn per_request(db: DatabaseConnection) -> Loaders {
    let dispatcher = Arc::new(Dispatcher::default());
    let spawner = dispatcher.clone();
    DataLoader::with_cache(DbLoader { db, dispatcher }, move |batch| spawner.spawn(batch), HashMapCache::default())
        .delay(Duration::ZERO)
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriberId(pub Uuid);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(pub Uuid);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TariffId(pub Uuid);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiKeyId(pub Uuid);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProgramId(pub Uuid);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaymentId(pub Uuid);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvoiceId(pub Uuid);
/// A commission rule, in force or not (`Commission.rule`, `CommissionQuote.rule`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleId(pub Uuid);
/// The subscriptions of a subscriber.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriptionsOf(pub Uuid);
/// The partner profile of a subscriber.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProfileOf(pub Uuid);
/// A user's membership in a subscriber, if any.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemberOf {
    pub user: Uuid,
    pub subscriber: Uuid,
}

pub(super) type LoadError = Arc<sea_orm::DbErr>;

pub(super) fn failed(e: sea_orm::DbErr) -> LoadError {
    Arc::new(e)
}

macro_rules! by_id {
    ($key:ident, $entity:ident) => {
        impl Loader<$key> for DbLoader {
            type Value = $entity::Model;
            type Error = LoadError;
            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, Self::Error> {
                let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
                let rows = $entity::Entity::find()
                    .filter($entity::Column::Id.is_in(ids))
                    .all(&self.db)
                    .await
                    .map_err(failed)?;
                Ok(rows.into_iter().map(|r| ($key(r.id), r)).collect())
            }
        }
    };
}

by_id!(SubscriberId, subscriber);
by_id!(UserId, user);
by_id!(TariffId, tariff);
by_id!(ProgramId, program);
by_id!(PaymentId, payment);
by_id!(InvoiceId, invoice);
by_id!(ApiKeyId, api_key);
by_id!(RuleId, commission_rule);

impl Loader<SubscriptionsOf> for DbLoader {
    type Value = Vec<subscription::Model>;
    type Error = LoadError;
    async fn load(&self, keys: &[SubscriptionsOf]) -> Result<HashMap<SubscriptionsOf, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = subscription::Entity::find()
            .filter(subscription::Column::SubscriberId.is_in(ids))
            .order_by_asc(subscription::Column::Id)
            .all(&self.db)
            .await
            .map_err(failed)?;
        let mut out: HashMap<SubscriptionsOf, Self::Value> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for r in rows {
            out.entry(SubscriptionsOf(r.subscriber_id)).or_default().push(r);
        }
        Ok(out)
    }
}

impl Loader<ProfileOf> for DbLoader {
    type Value = partner_profile::Model;
    type Error = LoadError;
    async fn load(&self, keys: &[ProfileOf]) -> Result<HashMap<ProfileOf, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = partner_profile::Entity::find()
            .filter(partner_profile::Column::SubscriberId.is_in(ids))
            .all(&self.db)
            .await
            .map_err(failed)?;
        Ok(rows.into_iter().map(|r| (ProfileOf(r.subscriber_id), r)).collect())
    }
}

impl Loader<MemberOf> for DbLoader {
    type Value = membership::Model;
    type Error = LoadError;
    async fn load(&self, keys: &[MemberOf]) -> Result<HashMap<MemberOf, Self::Value>, Self::Error> {
        let users: Vec<Uuid> = keys.iter().map(|k| k.user).collect();
        let subscribers: Vec<Uuid> = keys.iter().map(|k| k.subscriber).collect();
        let rows = membership::Entity::find()
            .filter(membership::Column::UserId.is_in(users))
            .filter(membership::Column::SubscriberId.is_in(subscribers))
            .all(&self.db)
            .await
            .map_err(failed)?;
        Ok(rows.into_iter().map(|m| (MemberOf { user: m.user_id, subscriber: m.subscriber_id }, m)).collect())
    }
}

pub(super) fn loaders<'a>(ctx: &Context<'a>) -> Result<&'a Loaders, AppError> {
    ctx.data::<Loaders>().map_err(|_| AppError::Internal("no loaders in the request".into()))
}

/// Loads one value through the request's loader; a row that must exist and does not is internal.
pub async fn one<K, V>(ctx: &Context<'_>, key: K) -> Result<Option<V>, AppError>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    DbLoader: Loader<K, Value = V, Error = LoadError>,
    V: Send + Sync + Clone + 'static,
{
    loaders(ctx)?.load_one(key).await.map_err(|e| AppError::Internal(Box::new(e)))
}

pub async fn required<K, V>(ctx: &Context<'_>, key: K) -> Result<V, AppError>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    DbLoader: Loader<K, Value = V, Error = LoadError>,
    V: Send + Sync + Clone + 'static,
{
    one(ctx, key).await?.ok_or_else(|| AppError::Internal("a referenced row is missing".into()))
}

/// Whether the selection asks for `path` under a connection's nodes (`nodes { … }` or `edges { node { … } }`).
pub(super) fn wants(ctx: &Context<'_>, path: &[&str]) -> bool {
    let la = ctx.look_ahead();
    let mut via_nodes = la.field("nodes");
    let mut via_edges = la.field("edges").field("node");
    for p in path {
        via_nodes = via_nodes.field(p);
        via_edges = via_edges.field(p);
    }
    via_nodes.exists() || via_edges.exists()
}

/// Loads, for a page of subscribers, the relations the selection asks for before the nodes resolve: the
/// serving partners, subscriptions and tariffs in one statement ([`page`]), the rest in one batch each.
/// The statement count of a page does not depend on its size or on timing.
pub async fn prime_subscribers(ctx: &Context<'_>, page: &[subscriber::Model]) -> Result<(), AppError> {
    let l = loaders(ctx)?;
    let err = |e: LoadError| AppError::Internal(Box::new(e));
    let want = page::Wanted {
        serving_partner: wants(ctx, &["servingPartner"]),
        subscriptions: wants(ctx, &["subscriptions"]),
        tariffs: wants(ctx, &["subscriptions", "tariff"]),
    };
    let ids: Vec<Uuid> = page.iter().map(|s| s.id).collect();
    let rel = page::load(&l.loader().db, &ids, want).await?;
    if wants(ctx, &["subscriptions", "tariff", "program"]) {
        l.load_many(rel.tariffs.values().map(|t| ProgramId(t.program_id))).await.map_err(err)?;
    }
    l.feed_many(rel.partners.into_iter().map(|(id, m)| (SubscriberId(id), m))).await;
    l.feed_many(rel.tariffs.into_iter().map(|(id, m)| (TariffId(id), m))).await;
    l.feed_many(rel.subscriptions.into_iter().map(|(id, m)| (SubscriptionsOf(id), m))).await;
    if wants(ctx, &["partnerProfile"]) {
        l.load_many(page.iter().map(|s| ProfileOf(s.id))).await.map_err(err)?;
    }
    Ok(())
}
