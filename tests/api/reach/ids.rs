//! Ids: another tenant's is the same answer as one that names nothing.

use std::collections::BTreeMap;

use serde_json::json;

use super::schema::{Field, Schema, TypeRef};
use super::world::{World, build_world, spawn_walk_app};
use crate::helpers::{Account, Gql, PASSWORD, inn};

/// Where an id goes in a call: an argument, or a field of an input-object argument.
#[derive(Clone, Debug)]
struct Slot {
    arg: String,
    field: Option<String>,
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            None => write!(f, "{}", self.arg),
            Some(field) => write!(f, "{}.{field}", self.arg),
        }
    }
}

fn id_slots(schema: &Schema, f: &Field) -> Vec<Slot> {
    let mut out = Vec::new();
    for a in &f.args {
        let named = a.ty.named();
        if named == "ID" {
            out.push(Slot { arg: a.name.clone(), field: None });
        } else if schema.ty(named).kind == "INPUT_OBJECT" {
            for i in schema.ty(named).input_fields.as_deref().unwrap_or_default() {
                if i.ty.named() == "ID" {
                    out.push(Slot { arg: a.name.clone(), field: Some(i.name.clone()) });
                }
            }
        }
    }
    out
}

/// Fills the arguments of a call: known values for what is required, the id under test in its slot.
struct Filler<'a> {
    schema: &'a Schema,
    w: &'a World,
    caller: &'a Account,
}

impl Filler<'_> {
    fn value(&self, name: &str, ty: &TypeRef) -> String {
        let w = self.w;
        let named = ty.named();
        let one = match named {
            "ID" => json!(match name {
                "tariffId" => w.tariff.clone(),
                "clientId" | "subscriberId" => w.c.subscriber_id.clone(),
                "partnerId" => w.p.subscriber_id.clone(),
                "poolId" => w.pool.clone(),
                _ => uuid::Uuid::now_v7().to_string(),
            })
            .to_string(),
            "String" => json!(match name {
                "email" => self.caller.email.clone(),
                "password" => PASSWORD.to_owned(),
                "programCode" => "1C-FRESH".to_owned(),
                "quarter" => w.quarter.clone(),
                "status" => "CSK".to_owned(),
                "inn" => inn(700),
                "externalId" => "oracle-external-id".to_owned(),
                _ => "Oracle".to_owned(),
            })
            .to_string(),
            "Int" => match name {
                "months" => "3",
                "size" => "10",
                _ => "1",
            }
            .to_owned(),
            "Decimal" => "\"100.00\"".to_owned(),
            "Boolean" => "false".to_owned(),
            "Date" => json!(w.monday).to_string(),
            "DateTime" => "\"2026-01-05T10:00:00Z\"".to_owned(),
            _ => {
                let t = self.schema.ty(named);
                match t.kind.as_str() {
                    "ENUM" => match (named, name) {
                        ("Role", _) => "USER".to_owned(),
                        ("BindingSource", _) => "PARTNER_INVOICE".to_owned(),
                        ("SubscriptionBasis", _) => "ITS_PROF".to_owned(),
                        ("PromoKind", _) => "DISCOUNT".to_owned(),
                        _ => t.enum_values.as_ref().unwrap()[0].name.clone(),
                    },
                    "INPUT_OBJECT" => self.object(named, None, ""),
                    other => panic!("no value for {name}: {other} {named}"),
                }
            }
        };
        if ty.is_list() { format!("[{one}]") } else { one }
    }

    /// An input object with its required fields, and `tested` in field `slot` when given.
    fn object(&self, type_name: &str, slot: Option<&str>, tested: &str) -> String {
        let mut parts = Vec::new();
        for f in self.schema.ty(type_name).input_fields.as_deref().unwrap_or_default() {
            if Some(f.name.as_str()) == slot {
                parts.push(format!("{}: {tested}", f.name));
            } else if f.needed() || creates_with(type_name, &f.name) {
                parts.push(format!("{}: {}", f.name, self.value(&f.name, &f.ty)));
            }
        }
        format!("{{ {} }}", parts.join(", "))
    }

    /// The call of root field `f` with `id` in `slot`.
    fn call(&self, kind: &str, f: &Field, slot: &Slot, id: &str) -> String {
        let mut args = Vec::new();
        for a in &f.args {
            let tested = json!(id).to_string();
            if a.name == slot.arg {
                match &slot.field {
                    None => {
                        let v = if a.ty.is_list() { format!("[{tested}]") } else { tested };
                        args.push(format!("{}: {v}", a.name));
                    }
                    Some(field) => {
                        args.push(format!("{}: {}", a.name, self.object(a.ty.named(), Some(field), &tested)))
                    }
                }
            } else if a.needed() {
                args.push(format!("{}: {}", a.name, self.value(&a.name, &a.ty)));
            }
        }
        let named = f.ty.named();
        let sel = if self.schema.is_leaf(named) {
            String::new()
        } else if self.schema.fields(named).iter().any(|x| x.name == "totalCount") {
            "{ __typename totalCount }".to_owned()
        } else {
            "{ __typename }".to_owned()
        };
        let args = if args.is_empty() { String::new() } else { format!("({})", args.join(", ")) };
        format!("{kind} {{ {}{args} {sel} }}", f.name)
    }
}

/// The field an upsert needs to create a row (optional, as an update by `id` or `externalId` does
/// without): given, so that an id elsewhere in the input (`companyIds`, `clientId`…) is looked up rather
/// than the input refused for the missing name first.
fn creates_with(input: &str, field: &str) -> bool {
    matches!((input, field), ("ContactInput" | "CompanyInput", "name") | ("DealInput", "title"))
}

/// A client named on its behalf (docs/rules.md §1–2, docs/api.md "Reach"): a partner invoices it, gives it a personal
/// discount code or a support code, whoever serves it. These calls succeed with another partner's
/// client; what they show of it is checked below instead.
fn names_a_client_on_its_behalf(op: &str, slot: &Slot) -> bool {
    matches!(
        (op, slot.arg.as_str(), slot.field.as_deref()),
        ("createInvoice", "input", Some("clientId"))
            | ("createPromoCode", "input", Some("clientId"))
            | ("issueSupportCode", "clientId", None)
    )
}

/// The answer with the tested id taken out (a message may repeat the id it was given).
fn normalised(r: &Gql, id: &str) -> String {
    r.0.to_string().replace(id, "<id>")
}

/// Foreign ids by whose they are.
type Ids = Vec<(&'static str, String)>;

#[tokio::test]
async fn another_tenants_id_in_any_argument_is_the_same_answer_as_an_id_that_names_nothing() {
    let app = spawn_walk_app().await;
    let w = build_world(&app).await;
    let schema = Schema::load(&app).await;

    let mut foreign: Ids = w.foreign.iter().map(|(k, v)| (*k, v.clone())).collect();
    foreign.push(("Q", w.q.subscriber_id.clone()));
    foreign.push(("D", w.d.subscriber_id.clone()));
    let mut callers: Vec<(&str, &Account, Ids)> = Vec::new();
    for (label, who) in &w.p_roles {
        let mut ids = foreign.clone();
        if !matches!(*label, "P.OWNER" | "P.SO") {
            // The partner's clients (and its support line's) are outside its administrators' and users'
            // reach. (Its owner and operators see E's card: for them an operation on E is refused.)
            ids.push(("C", w.c.subscriber_id.clone()));
            ids.push(("E", w.e.subscriber_id.clone()));
        }
        callers.push((label, who, ids));
    }
    let mut for_client = foreign.clone();
    for_client.push(("P", w.p.subscriber_id.clone()));
    for_client.push(("E", w.e.subscriber_id.clone()));
    callers.push(("C.OWNER", &w.c, for_client));

    let mut differences = Vec::new();
    let mut compared = 0;
    let mut slots_seen = 0;
    // Each id argument of each operation: whether one caller at least had the id looked at.
    let mut looked_at: BTreeMap<(String, String), bool> = BTreeMap::new();
    for (label, who, ids) in &callers {
        let filler = Filler { schema: &schema, w: &w, caller: who };
        for (kind, root) in [("query", &schema.query), ("mutation", &schema.mutation)] {
            for f in schema.fields(root) {
                for slot in id_slots(&schema, f) {
                    slots_seen += 1;
                    // The answer to an id that names nothing, once per argument (it does not depend on
                    // which unknown id it is), and the answer to each of another tenant's ids.
                    let random = uuid::Uuid::now_v7().to_string();
                    let nobodys = app.as_(&who.token, &filler.call(kind, f, &slot, &random), json!({})).await;
                    let expected = normalised(&nobodys, &random);
                    // The id was looked at (not refused before): the unknown one is not found, or refused
                    // as that very input, or answered with data.
                    let reached = nobodys.code() == Some("NOT_FOUND")
                        || nobodys.field() == Some(slot.field.as_deref().unwrap_or(&slot.arg))
                        || nobodys.0.get("errors").is_none();
                    *looked_at.entry((f.name.clone(), slot.to_string())).or_default() |= reached;
                    for (what, id) in ids {
                        let is_client = matches!(*what, "C" | "D" | "E");
                        if is_client && names_a_client_on_its_behalf(&f.name, &slot) {
                            continue;
                        }
                        let theirs = app.as_(&who.token, &filler.call(kind, f, &slot, id), json!({})).await;
                        compared += 1;
                        if normalised(&theirs, id) != expected {
                            differences.push(format!(
                                "{label} {}({slot}) with {what}'s id: {}\n    with an unknown id: {}",
                                f.name, theirs.0, nobodys.0
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(slots_seen > 40 * callers.len(), "the schema has id arguments: {slots_seen} seen");
    assert!(compared > 1000, "{compared} pairs compared");
    // Not a comparison of refusals only: every id argument of an operation one of the callers may call
    // (by the permission matrix) had the id looked at, by a caller that may. The others are the vendor's
    // own operations (payments, commission approval, stop-list decisions…), refused to every caller here
    // before any id is read, which compare FORBIDDEN with FORBIDDEN.
    let labels: Vec<&str> = callers.iter().map(|(l, _, _)| *l).collect();
    let (reached, unreached): (Vec<_>, Vec<_>) = looked_at.iter().partition(|(_, r)| **r);
    let vacuous: Vec<String> = unreached
        .iter()
        .filter(|((op, _), _)| crate::permissions::may_call(op, &labels))
        .map(|((op, slot), _)| format!("{op}({slot})"))
        .collect();
    assert!(
        vacuous.is_empty(),
        "id arguments never looked at, though the operation is callable ({} of {} were): {vacuous:?}",
        reached.len(),
        looked_at.len()
    );
    assert!(differences.is_empty(), "{} oracles:\n{}", differences.len(), differences.join("\n"));
}
