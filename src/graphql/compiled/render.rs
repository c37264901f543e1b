//! Writing a plan's answer as JSON, straight from the rows: each leaf as its resolver shows it (the same
//! projection helpers, enum names and scalar conversions), keys in the selection's order.

use async_graphql::{ScalarType, Value};
use chrono::{DateTime, Utc};
use entity::{subscriber, subscription, tariff};
use uuid::Uuid;

use super::plan::{
    ConnectionField, Fields, Key, NodeField, PageInfoField, SubscriberLeaf, SubscriptionField, SubscriptionLeaf,
    TariffLeaf, ViewerField,
};
use crate::auth::{Actor, Principal, Projection, Scope};
use crate::graphql::context::encode_cursor;
use crate::graphql::enums::{BindingSource, ChurnReason, Role, SubscriberKind, SubscriptionBasis, SubscriptionStatus};
use crate::graphql::loaders::page::PageRelations;
use crate::graphql::scalars::Decimal;
use crate::graphql::types::Subscriber;
use crate::service::{Page, billing, tariffs};

/// A JSON text being written.
pub struct Out(Vec<u8>);

impl Out {
    pub fn new() -> Self {
        Out(Vec::with_capacity(4096))
    }

    pub fn raw(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    /// `"key":`, after a comma unless it opens the object.
    pub fn key(&mut self, i: usize, key: &Key) {
        if i > 0 {
            self.0.push(b',');
        }
        self.raw(&key.0);
    }

    pub fn str(&mut self, s: &str) {
        // Writing a `str` into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut self.0, s);
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.raw("null"),
        }
    }

    fn value(&mut self, v: &Value) {
        let _ = serde_json::to_writer(&mut self.0, v);
    }

    fn enumerated<T: async_graphql::EnumType>(&mut self, v: T) {
        self.value(&async_graphql::resolver_utils::enum_value(v));
    }

    fn id(&mut self, id: Uuid) {
        self.0.push(b'"');
        let mut buf = Uuid::encode_buffer();
        self.raw(id.hyphenated().encode_lower(&mut buf));
        self.0.push(b'"');
    }

    fn time(&mut self, t: DateTime<Utc>) {
        self.value(&t.to_value());
    }

    fn int(&mut self, n: i64) {
        self.raw(&n.to_string());
    }

    fn opt_int(&mut self, n: Option<i32>) {
        match n {
            Some(n) => self.int(n.into()),
            None => self.raw("null"),
        }
    }

    fn bool(&mut self, b: bool) {
        self.raw(if b { "true" } else { "false" });
    }

    /// An object: each field after its key, in the selection's order.
    fn object<F>(
        &mut self,
        fields: &Fields<F>,
        mut each: impl FnMut(&mut Self, &F) -> Result<(), Missing>,
    ) -> Result<(), Missing> {
        self.raw("{");
        for (i, (key, field)) in fields.iter().enumerate() {
            self.key(i, key);
            each(self, field)?;
        }
        self.raw("}");
        Ok(())
    }

    /// A list: each item, separated by commas.
    fn list<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        mut each: impl FnMut(&mut Self, T) -> Result<(), Missing>,
    ) -> Result<(), Missing> {
        self.raw("[");
        for (n, item) in items.into_iter().enumerate() {
            if n > 0 {
                self.raw(",");
            }
            each(self, item)?;
        }
        self.raw("]");
        Ok(())
    }

    pub fn into_string(self) -> String {
        // Only `str`s and serde_json's output were written.
        String::from_utf8(self.0).unwrap_or_default()
    }
}

/// `me { … }` from the principal alone, as `AccountQuery::me` builds its `Viewer`.
pub fn viewer(out: &mut Out, p: &Principal, fields: &Fields<ViewerField>) -> Result<(), Missing> {
    out.object(fields, |out, field| {
        match field {
            ViewerField::Typename => out.str("Viewer"),
            ViewerField::Id => out.str(
                &match p.actor {
                    Actor::User { membership_id, .. } => membership_id,
                    Actor::Key { id, .. } => id,
                }
                .to_string(),
            ),
            ViewerField::Role => out.enumerated(Role::from(p.role)),
        }
        Ok(())
    })
}

/// What a subscribers page writes from: the page, its relations, the caller and the time.
pub struct PageData<'a> {
    pub page: &'a Page<subscriber::Model>,
    pub relations: &'a PageRelations,
    pub after_given: bool,
    pub scope: Scope<'a>,
    pub now: DateTime<Utc>,
}

/// A row the relations statement should have read and did not: the general path reports it.
pub struct Missing;

/// `subscribers(…) { … }`: the connection, as `context::connection` builds it.
pub fn connection(out: &mut Out, d: &PageData<'_>, fields: &Fields<ConnectionField>) -> Result<(), Missing> {
    out.object(fields, |out, field| {
        match field {
            ConnectionField::Typename => out.str("SubscriberConnection"),
            ConnectionField::TotalCount => out.int(i64::try_from(d.page.total).unwrap_or(i64::MAX)),
            ConnectionField::PageInfo(f) => page_info(out, d, f)?,
            ConnectionField::Nodes(f) => out.list(&d.page.items, |out, model| node(out, d, model, f))?,
        }
        Ok(())
    })
}

fn page_info(out: &mut Out, d: &PageData<'_>, fields: &Fields<PageInfoField>) -> Result<(), Missing> {
    let cursor = |m: Option<&subscriber::Model>| m.map(|m| encode_cursor(m.id));
    out.object(fields, |out, field| {
        match field {
            PageInfoField::Typename => out.str("PageInfo"),
            PageInfoField::HasPreviousPage => out.bool(d.after_given),
            PageInfoField::HasNextPage => out.bool(d.page.has_next),
            PageInfoField::StartCursor => out.opt_str(cursor(d.page.items.first()).as_deref()),
            PageInfoField::EndCursor => out.opt_str(cursor(d.page.items.last()).as_deref()),
        }
        Ok(())
    })
}

fn node(out: &mut Out, d: &PageData<'_>, m: &subscriber::Model, fields: &Fields<NodeField>) -> Result<(), Missing> {
    let seen = d.scope.projection(m);
    out.object(fields, |out, field| {
        match field {
            NodeField::Leaf(leaf) => subscriber_leaf(out, m, seen, *leaf),
            NodeField::ServingPartner(f) => match m.serving_partner_id.filter(|_| seen.card()) {
                None => out.raw("null"),
                Some(id) => {
                    let partner = d.relations.partners.get(&id).ok_or(Missing)?;
                    let partner_seen = Subscriber::related(seen, d.scope.projection(partner));
                    out.object(f, |out, leaf| {
                        subscriber_leaf(out, partner, partner_seen, *leaf);
                        Ok(())
                    })?;
                }
            },
            NodeField::Subscriptions(f) => {
                let subs = if Subscriber::shows_work(seen, true) {
                    d.relations.subscriptions.get(&m.id).ok_or(Missing)?.as_slice()
                } else {
                    &[]
                };
                out.list(subs, |out, sub| subscription(out, d, sub, f))?;
            }
        }
        Ok(())
    })
}

/// A subscriber's leaf as `Subscriber`'s resolver shows it to a caller that sees it as `seen`.
fn subscriber_leaf(out: &mut Out, m: &subscriber::Model, seen: Projection, leaf: SubscriberLeaf) {
    use SubscriberLeaf as L;
    let (card, contacts) = (seen.card(), seen.contacts());
    match leaf {
        L::Typename => out.str("Subscriber"),
        L::Id => out.id(m.id),
        L::Kind => out.enumerated(SubscriberKind::from(m.kind)),
        L::Name => out.str(&m.name),
        L::Inn => out.opt_str(shown(&m.inn, card)),
        L::Kpp => out.opt_str(shown(&m.kpp, card)),
        L::Email => out.opt_str(shown(&m.email, contacts)),
        L::Phone => out.opt_str(shown(&m.phone, contacts)),
        L::Address => out.opt_str(shown(&m.address, contacts)),
        L::ContactPerson => out.opt_str(shown(&m.contact_person, card)),
        L::CreatedAt => out.time(m.created_at),
        L::UpdatedAt => out.time(Subscriber::shown_updated_at(seen, m)),
        L::BindingSource => match m.binding_source.filter(|_| card) {
            Some(b) => out.enumerated(BindingSource::from(b)),
            None => out.raw("null"),
        },
    }
}

/// A card or contact field: shown only when the caller sees that much.
fn shown(v: &Option<String>, visible: bool) -> Option<&str> {
    v.as_deref().filter(|_| visible)
}

fn subscription(
    out: &mut Out,
    d: &PageData<'_>,
    s: &subscription::Model,
    fields: &Fields<SubscriptionField>,
) -> Result<(), Missing> {
    use SubscriptionLeaf as L;
    out.object(fields, |out, field| {
        match field {
            SubscriptionField::Tariff(f) => tariff(out, d.relations.tariffs.get(&s.tariff_id).ok_or(Missing)?, f)?,
            SubscriptionField::Leaf(leaf) => match leaf {
                L::Typename => out.str("Subscription"),
                L::Id => out.id(s.id),
                L::Status => out.enumerated(SubscriptionStatus::from(billing::status(s, d.now))),
                L::Basis => out.enumerated(SubscriptionBasis::from(s.basis)),
                L::StartsAt => out.time(s.starts_at),
                L::EndsAt => out.time(s.ends_at),
                L::CancelledAt => match s.cancelled_at {
                    Some(t) => out.time(t),
                    None => out.raw("null"),
                },
                L::ChurnReason => match s.churn_reason {
                    Some(r) => out.enumerated(ChurnReason::from(r)),
                    None => out.raw("null"),
                },
                L::ChurnComment => out.opt_str(s.churn_comment.as_deref()),
            },
        }
        Ok(())
    })
}

fn tariff(out: &mut Out, t: &tariff::Model, fields: &Fields<TariffLeaf>) -> Result<(), Missing> {
    use TariffLeaf as L;
    out.object(fields, |out, leaf| {
        match leaf {
            L::Typename => out.str("Tariff"),
            L::Id => out.id(t.id),
            L::Code => out.str(&t.code),
            L::Name => out.str(&t.name),
            L::Category => out.str(&t.category),
            L::MonthlyPrice => out.str(&Decimal::money(t.monthly_price_minor).0),
            L::Periods => out.list(tariffs::periods_of(t), |out, p| {
                out.int(p.into());
                Ok(())
            })?,
            L::MaxDatabases => out.opt_int(t.max_databases),
            L::MaxUsers => out.opt_int(t.max_users),
            L::MaxSessions => out.opt_int(t.max_sessions),
            L::TrialDays => out.int(t.trial_days.into()),
            L::PartnerOnly => out.bool(t.partner_only),
            L::Archived => out.bool(t.archived),
        }
        Ok(())
    })
}
