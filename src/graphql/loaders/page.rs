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
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryResult};
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

/// A model read back by position from a joined row. The columns are selected from the same list the
/// model is read in, so the two cannot drift apart; reading by position spares a name lookup (and
/// SeaORM's `format!` of a prefixed name) for every column of every row — a fifth of a page's server
/// time when read by name.
trait Positional: Sized {
    type Entity: EntityTrait;
    /// The columns in the order `read` takes them; the first is the primary key.
    const COLUMNS: &'static [<Self::Entity as EntityTrait>::Column];
    /// The model from the row's columns `at..at + COLUMNS.len()`.
    fn read(row: &QueryResult, at: usize) -> Result<Self, DbErr>;
}

/// Implements `Positional` for `$entity::Model` from `field: Column` pairs (every field of the model:
/// the struct literal does not compile without one); fields are read in the order written.
macro_rules! positional {
    ($entity:ident { $($field:ident: $col:ident),+ $(,)? }) => {
        impl Positional for $entity::Model {
            type Entity = $entity::Entity;
            const COLUMNS: &'static [$entity::Column] = &[$($entity::Column::$col),+];
            fn read(row: &QueryResult, at: usize) -> Result<Self, DbErr> {
                let mut i = at;
                let mut next = || {
                    i += 1;
                    i - 1
                };
                Ok($entity::Model { $($field: row.try_get_by_index(next())?),+ })
            }
        }
    };
}

positional!(subscriber {
    id: Id,
    kind: Kind,
    name: Name,
    inn: Inn,
    kpp: Kpp,
    email: Email,
    phone: Phone,
    address: Address,
    contact_person: ContactPerson,
    serving_partner_id: ServingPartnerId,
    binding_source: BindingSource,
    support_partner_id: SupportPartnerId,
    created_at: CreatedAt,
    updated_at: UpdatedAt,
    search_name: SearchName,
});

positional!(subscription {
    id: Id,
    subscriber_id: SubscriberId,
    tariff_id: TariffId,
    basis: Basis,
    starts_at: StartsAt,
    ends_at: EndsAt,
    cancelled_at: CancelledAt,
    churn_reason: ChurnReason,
    churn_comment: ChurnComment,
    created_at: CreatedAt,
});

positional!(tariff {
    id: Id,
    code: Code,
    name: Name,
    program_id: ProgramId,
    category: Category,
    monthly_price_minor: MonthlyPriceMinor,
    periods: Periods,
    max_databases: MaxDatabases,
    max_users: MaxUsers,
    max_sessions: MaxSessions,
    trial_days: TrialDays,
    partner_only: PartnerOnly,
    archived: Archived,
    created_at: CreatedAt,
});

/// Selects `M`'s columns from the table aliased `table`; the position of the first.
fn columns<M: Positional>(q: &mut SelectStatement, table: &'static str, width: &mut usize) -> usize {
    let at = *width;
    for c in M::COLUMNS {
        q.expr(Expr::col((Alias::new(table), *c)));
    }
    *width += M::COLUMNS.len();
    at
}

/// Where each joined model's columns start in a row (`None`: not selected).
#[derive(Clone, Copy, Default)]
struct Layout {
    partner: Option<usize>,
    subscription: Option<usize>,
    tariff: Option<usize>,
}

/// Reads the wanted relations of the subscribers `ids` in one statement.
pub async fn load(db: &DatabaseConnection, ids: &[Uuid], want: Wanted) -> Result<PageRelations, DbErr> {
    let mut out = PageRelations::default();
    if ids.is_empty() || !(want.serving_partner || want.subscriptions) {
        return Ok(out);
    }
    let page = Alias::new(PAGE);
    let mut q = SqlQuery::select();
    let mut width = 1;
    q.expr(Expr::col((page.clone(), subscriber::Column::Id)))
        .from_as(subscriber::Entity, page.clone())
        .and_where(Expr::col((page.clone(), subscriber::Column::Id)).is_in(ids.iter().copied()))
        .order_by((page.clone(), subscriber::Column::Id), Order::Asc);
    let at = join(&mut q, want, &mut width);
    let rows = db.query_all_raw(db.get_database_backend().build(&q)).await?;
    if want.subscriptions {
        out.subscriptions = ids.iter().map(|id| (*id, Vec::new())).collect();
    }
    for row in &rows {
        read_row(row, at, &mut out)?;
    }
    Ok(out)
}

/// A page read with its relations in one statement: the rows, whether more follow, what they relate to.
pub struct JoinedPage {
    pub items: Vec<subscriber::Model>,
    pub has_next: bool,
    pub relations: PageRelations,
}

/// Reads the page `page` selects (at most `first + 1` subscribers in id order, as
/// `service::page_statement` builds it) joined with its wanted relations, in one statement.
pub async fn load_page(
    db: &DatabaseConnection,
    page: SelectStatement,
    first: u64,
    want: Wanted,
) -> Result<JoinedPage, DbErr> {
    let alias = Alias::new(PAGE);
    let mut q = SqlQuery::select();
    let mut width = 0;
    columns::<subscriber::Model>(&mut q, PAGE, &mut width);
    q.from_subquery(page, alias.clone()).order_by((alias, subscriber::Column::Id), Order::Asc);
    let at = join(&mut q, want, &mut width);
    let rows = db.query_all_raw(limits_inline(db.get_database_backend().build(&q))).await?;
    let mut out = JoinedPage { items: Vec::new(), has_next: false, relations: PageRelations::default() };
    for row in &rows {
        let id: Uuid = row.try_get_by_index(0)?;
        if out.items.last().is_none_or(|m| m.id != id) {
            if out.items.len() as u64 == first {
                // The extra row: more follow; its relations are not needed.
                out.has_next = true;
                break;
            }
            out.items.push(subscriber::Model::read(row, 0)?);
            if want.subscriptions {
                out.relations.subscriptions.insert(id, Vec::new());
            }
        }
        read_row(row, at, &mut out.relations)?;
    }
    Ok(out)
}

/// The statement with its `LIMIT`s written as numbers instead of bound values (sea-query binds them).
/// PostgreSQL plans a prepared statement anew on every run while a generic plan (one with a bound
/// `LIMIT`, costed as if it read a tenth of the table) looks dearer than a custom one: with the page size
/// in the text, the generic plan costs what the custom one does and is kept, and the statement is no
/// longer planned per request (0.44 ms of a page's 1.0 ms in the database, measured). Only the page
/// sizes are written inline (the statement's only unsigned integers, from `PageArgs::first`); every
/// caller-given value stays bound.
fn limits_inline(mut statement: sea_orm::Statement) -> sea_orm::Statement {
    use sea_orm::sea_query::{Value, Values};
    let Some(Values(values)) = statement.values.take() else {
        return statement;
    };
    let numbered = statement.db_backend == sea_orm::DbBackend::Postgres;
    let mut sql = String::with_capacity(statement.sql.len());
    let mut kept = Vec::with_capacity(values.len());
    let mut rest = statement.sql.as_str();
    let mut index = 0;
    // Placeholders in order: `$1`, `$2`, … (PostgreSQL) or `?` (SQLite); sea-query writes no value into
    // the text, and no identifier here holds either character.
    while let Some(at) = rest.find(if numbered { '$' } else { '?' }) {
        sql.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if numbered {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            rest = &rest[digits..];
        }
        match values.get(index) {
            Some(Value::BigUnsigned(Some(n))) => sql.push_str(&n.to_string()),
            Some(v) => {
                kept.push(v.clone());
                if numbered {
                    sql.push_str(&format!("${}", kept.len()));
                } else {
                    sql.push('?');
                }
            }
            None => {
                // More placeholders than values: leave the statement as it was built.
                statement.values = Some(Values(values));
                return statement;
            }
        }
        index += 1;
    }
    sql.push_str(rest);
    statement.sql = sql;
    statement.values = Some(Values(kept));
    statement
}

/// Joins the wanted relations to the page aliased `PAGE` and selects their columns after the `width`
/// selected so far; where each starts.
fn join(q: &mut SelectStatement, want: Wanted, width: &mut usize) -> Layout {
    let page = Alias::new(PAGE);
    let mut at = Layout::default();
    if want.serving_partner {
        at.partner = Some(columns::<subscriber::Model>(q, PARTNER, width));
        q.join_as(
            JoinType::LeftJoin,
            subscriber::Entity,
            Alias::new(PARTNER),
            Expr::col((Alias::new(PARTNER), subscriber::Column::Id))
                .equals((page.clone(), subscriber::Column::ServingPartnerId)),
        );
    }
    if want.subscriptions {
        at.subscription = Some(columns::<subscription::Model>(q, SUB, width));
        q.join_as(
            JoinType::LeftJoin,
            subscription::Entity,
            Alias::new(SUB),
            Expr::col((Alias::new(SUB), subscription::Column::SubscriberId))
                .equals((page.clone(), subscriber::Column::Id)),
        )
        .order_by((Alias::new(SUB), subscription::Column::Id), Order::Asc);
        if want.tariffs {
            at.tariff = Some(columns::<tariff::Model>(q, TARIFF, width));
            q.join_as(
                JoinType::LeftJoin,
                tariff::Entity,
                Alias::new(TARIFF),
                Expr::col((Alias::new(TARIFF), tariff::Column::Id))
                    .equals((Alias::new(SUB), subscription::Column::TariffId)),
            );
        }
    }
    at
}

/// Reads one joined row: the partner and the tariff only the first time their id comes by.
fn read_row(row: &QueryResult, at: Layout, out: &mut PageRelations) -> Result<(), DbErr> {
    if let Some(p) = at.partner
        && let Some(id) = row.try_get_by_index::<Option<Uuid>>(p)?
        && !out.partners.contains_key(&id)
    {
        out.partners.insert(id, subscriber::Model::read(row, p)?);
    }
    if let Some(s) = at.subscription
        && row.try_get_by_index::<Option<Uuid>>(s)?.is_some()
    {
        let sub = subscription::Model::read(row, s)?;
        if let Some(t) = at.tariff
            && let Some(id) = row.try_get_by_index::<Option<Uuid>>(t)?
            && !out.tariffs.contains_key(&id)
        {
            out.tariffs.insert(id, tariff::Model::read(row, t)?);
        }
        out.subscriptions.entry(sub.subscriber_id).or_default().push(sub);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{Value, Values};
    use sea_orm::{DbBackend, Statement};

    use super::limits_inline;

    #[test]
    fn page_sizes_are_written_inline_and_every_other_value_stays_bound() {
        let values = || {
            vec![
                Value::String(Some("CLIENT".into())),
                Value::BigUnsigned(Some(51)),
                Value::String(Some("$1 ? 'x'".into())),
                Value::BigUnsigned(Some(11)),
            ]
        };
        let pg = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT * FROM (SELECT a FROM t WHERE k = $1 LIMIT $2) UNION (SELECT a FROM t WHERE s = $3 LIMIT $4)",
            values(),
        );
        let pg = limits_inline(pg);
        assert_eq!(
            pg.sql,
            "SELECT * FROM (SELECT a FROM t WHERE k = $1 LIMIT 51) UNION (SELECT a FROM t WHERE s = $2 LIMIT 11)"
        );
        assert_eq!(pg.values, Some(Values(vec![values()[0].clone(), values()[2].clone()])));
        let lite = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT * FROM (SELECT a FROM t WHERE k = ? LIMIT ?) UNION (SELECT a FROM t WHERE s = ? LIMIT ?)",
            values(),
        );
        let lite = limits_inline(lite);
        assert_eq!(
            lite.sql,
            "SELECT * FROM (SELECT a FROM t WHERE k = ? LIMIT 51) UNION (SELECT a FROM t WHERE s = ? LIMIT 11)"
        );
        assert_eq!(lite.values.map(|v| v.0.len()), Some(2));
    }
}
