//! The relations of a page of subscribers in one statement: each page row joined with its serving
//! partner, its subscriptions and their tariffs, as the selection asks, read into the request's loaders
//! before the nodes resolve. A page then costs two statements (the page, its relations), whatever its
//! size; the resolvers find every row in the loaders' cache and do not query.
//!
//! The page statement already applied the caller's reach: this one only follows the page's own ids, the
//! way the loaders it fills do (what a node shows of them is still decided by its projection).

use std::collections::HashMap;

use entity::{subscriber, subscription, tariff};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Order, Query as SqlQuery, SelectStatement};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult, IdenStatic, Iterable, QueryResult,
};
use uuid::Uuid;

/// Which relations of the page rows the selection asks for.
#[derive(Clone, Copy)]
pub struct Wanted {
    pub serving_partner: bool,
    pub subscriptions: bool,
    /// Only with `subscriptions`.
    pub tariffs: bool,
}

/// What one statement read for a page.
#[derive(Default)]
pub struct PageRelations {
    pub partners: HashMap<Uuid, subscriber::Model>,
    /// Every page row's subscriptions, ordered by id (an empty list for a row without any).
    pub subscriptions: HashMap<Uuid, Vec<subscription::Model>>,
    pub tariffs: HashMap<Uuid, tariff::Model>,
}

const PAGE: &str = "pg_page";
const PARTNER: &str = "pg_partner";
const SUB: &str = "pg_sub";
const TARIFF: &str = "pg_tariff";
/// Column prefixes: each joined table's columns come back as `<prefix><column>`.
const P: &str = "p_";
const S: &str = "s_";
const T: &str = "t_";

/// Selects every column of `E` from the table aliased `table`, named `<prefix><column>`.
fn columns<E: EntityTrait>(q: &mut SelectStatement, table: &'static str, prefix: &str) {
    for c in E::Column::iter() {
        q.expr_as(Expr::col((Alias::new(table), c)), Alias::new(format!("{prefix}{}", c.as_str())));
    }
}

/// Reads the wanted relations of the subscribers `ids` in one statement.
pub async fn load(db: &DatabaseConnection, ids: &[Uuid], want: Wanted) -> Result<PageRelations, DbErr> {
    let mut out = PageRelations::default();
    if ids.is_empty() || !(want.serving_partner || want.subscriptions) {
        return Ok(out);
    }
    let page = Alias::new(PAGE);
    let mut q = SqlQuery::select();
    q.expr_as(Expr::col((page.clone(), subscriber::Column::Id)), Alias::new("page_id"))
        .from_as(subscriber::Entity, page.clone())
        .and_where(Expr::col((page.clone(), subscriber::Column::Id)).is_in(ids.iter().copied()))
        .order_by((page.clone(), subscriber::Column::Id), Order::Asc);
    if want.serving_partner {
        columns::<subscriber::Entity>(&mut q, PARTNER, P);
        q.join_as(
            JoinType::LeftJoin,
            subscriber::Entity,
            Alias::new(PARTNER),
            Expr::col((Alias::new(PARTNER), subscriber::Column::Id))
                .equals((page.clone(), subscriber::Column::ServingPartnerId)),
        );
    }
    if want.subscriptions {
        columns::<subscription::Entity>(&mut q, SUB, S);
        q.join_as(
            JoinType::LeftJoin,
            subscription::Entity,
            Alias::new(SUB),
            Expr::col((Alias::new(SUB), subscription::Column::SubscriberId))
                .equals((page.clone(), subscriber::Column::Id)),
        )
        .order_by((Alias::new(SUB), subscription::Column::Id), Order::Asc);
        if want.tariffs {
            columns::<tariff::Entity>(&mut q, TARIFF, T);
            q.join_as(
                JoinType::LeftJoin,
                tariff::Entity,
                Alias::new(TARIFF),
                Expr::col((Alias::new(TARIFF), tariff::Column::Id))
                    .equals((Alias::new(SUB), subscription::Column::TariffId)),
            );
        }
    }
    let rows = db.query_all_raw(db.get_database_backend().build(&q)).await?;
    if want.subscriptions {
        out.subscriptions = ids.iter().map(|id| (*id, Vec::new())).collect();
    }
    for row in &rows {
        read_row(row, want, &mut out)?;
    }
    Ok(out)
}

fn read_row(row: &QueryResult, want: Wanted, out: &mut PageRelations) -> Result<(), DbErr> {
    if want.serving_partner
        && let Some(p) = Option::<subscriber::Model>::from_query_result(row, P)?
    {
        out.partners.entry(p.id).or_insert(p);
    }
    if want.subscriptions
        && let Some(s) = Option::<subscription::Model>::from_query_result(row, S)?
    {
        if want.tariffs
            && let Some(t) = Option::<tariff::Model>::from_query_result(row, T)?
        {
            out.tariffs.entry(t.id).or_insert(t);
        }
        out.subscriptions.entry(s.subscriber_id).or_default().push(s);
    }
    Ok(())
}
