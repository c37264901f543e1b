//! Cursors: one built from another tenant's row is the same answer as one built from an unknown id.

use base64::Engine;
use serde_json::json;

use super::schema::{Field, Schema};
use super::world::{World, build_world, spawn_walk_app};
use crate::helpers::Account;

fn cursor(id: &uuid::Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// An id that names nothing but sorts where `id` does (the same time prefix, other random bits): a
/// cursor of it and of `id` must page the same, or the answer tells whether `id` exists.
fn unknown_beside(id: &str) -> uuid::Uuid {
    let mut bytes = *uuid::Uuid::parse_str(id).unwrap().as_bytes();
    bytes[8..].copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[8..]);
    uuid::Uuid::from_bytes(bytes)
}

/// The rows a connection of this node type might be paged after that are not the caller's (a partner's
/// or its client's).
fn foreign_rows(w: &World, node: &str, client_caller: bool) -> Vec<String> {
    let f = |k: &str| w.foreign[k].clone();
    match node {
        "Subscriber" => vec![w.q.subscriber_id.clone(), w.d.subscriber_id.clone()],
        "Invitation" => vec![f("D.invitation")],
        "AuditEntry" => vec![f("Q.auditEntry")],
        "Payment" => vec![f("D.payment")],
        // Q's invoice went to C: C's own, not P's. P's invoice to D is P's own, not C's.
        "Invoice" if client_caller => vec![w.p_invoice_to_d.clone()],
        "Invoice" => vec![f("Q.invoice")],
        "Commission" => vec![f("Q.commission")],
        "StopListEntry" => vec![f("Q.stopListEntry")],
        "PromoCode" => vec![f("Q.promoCode")],
        "Notification" => vec![f("notification")],
        "Task" => vec![f("Q.task")],
        "Membership" => vec![f("Q.membership"), f("D.membership")],
        "WebhookEndpoint" => vec![f("Q.webhookEndpoint")],
        "WebhookDelivery" => vec![f("Q.webhookDelivery")],
        "ApiKey" => vec![f("Q.apiKey")],
        // Q's book (P's rows come after them).
        "Contact" => vec![f("Q.contact")],
        "Company" => vec![f("Q.company")],
        "Deal" => vec![f("Q.deal")],
        other => panic!("a connection of {other}: add the foreign rows it could be paged after"),
    }
}

/// Every connection field: the root ones, and those of types a root field reaches by the caller's own id.
fn connections(schema: &Schema) -> Vec<(Option<&'static str>, Field)> {
    let mut out = Vec::new();
    let is_conn = |f: &Field| f.ty.named().ends_with("Connection");
    for f in schema.fields(&schema.query).iter().filter(|f| is_conn(f)) {
        out.push((None, f.clone()));
    }
    let mut hosts: Vec<&str> = schema
        .types
        .values()
        .filter(|t| t.kind == "OBJECT" && t.name != schema.query && !t.name.starts_with("__"))
        .filter(|t| t.fields.as_deref().unwrap_or_default().iter().any(is_conn))
        .map(|t| t.name.as_str())
        .collect();
    hosts.sort();
    for host in hosts {
        let path = match host {
            "Subscriber" => "subscriber(id: $own)",
            other => panic!("{other} has a connection field: say how the cursor test reaches one"),
        };
        for f in schema.fields(host).iter().filter(|f| is_conn(f)) {
            out.push((Some(path), f.clone()));
        }
    }
    out
}

#[tokio::test]
async fn a_cursor_from_another_tenants_row_pages_like_a_cursor_that_names_nothing() {
    let app = spawn_walk_app().await;
    let w = build_world(&app).await;
    let schema = Schema::load(&app).await;
    let conns = connections(&schema);
    // The fourteen of before the CRM, and its contacts, companies and deals.
    assert!(conns.len() >= 17, "{} connections", conns.len());

    let mut differences = Vec::new();
    let mut pages_with_rows = 0;
    let mut callers: Vec<(&str, &Account)> = w.p_roles.iter().map(|(l, a)| (*l, a)).collect();
    callers.push(("C.OWNER", &w.c));
    for (label, who) in callers {
        for (host, f) in &conns {
            let node = f.ty.named().trim_end_matches("Connection");
            let node_has_id = schema.fields(node).iter().any(|x| x.name == "id");
            let nodes = if node_has_id { "nodes { __typename id }" } else { "nodes { __typename }" };
            let page = format!(
                "{}(first: 5, after: $after) {{ totalCount pageInfo {{ hasNextPage endCursor }} edges {{ cursor }} {nodes} }}",
                f.name
            );
            let q = match host {
                None => format!("query($after: String) {{ {page} }}"),
                Some(path) => format!("query($after: String, $own: ID!) {{ {path} {{ {page} }} }}"),
            };
            for row in foreign_rows(&w, node, label.starts_with('C')) {
                let vars = |id: &uuid::Uuid| json!({ "after": cursor(id), "own": who.subscriber_id });
                let theirs = app.as_(&who.token, &q, vars(&uuid::Uuid::parse_str(&row).unwrap())).await;
                let nobodys = app.as_(&who.token, &q, vars(&unknown_beside(&row))).await;
                if theirs.0 != nobodys.0 {
                    differences.push(format!(
                        "{label} {}{} after {node} {row}: {}\n    after an unknown id beside it: {}",
                        host.map(|h| format!("{h}.")).unwrap_or_default(),
                        f.name,
                        theirs.0,
                        nobodys.0
                    ));
                }
                if theirs.0.pointer("/data").is_some_and(|d| d.to_string().contains("\"id\":")) {
                    pages_with_rows += 1;
                }
            }
        }
    }
    // Not only empty pages: the caller's own rows after the foreign one are there, the same both ways.
    assert!(pages_with_rows >= 10, "{pages_with_rows} pages with rows");
    assert!(differences.is_empty(), "{} cursor oracles:\n{}", differences.len(), differences.join("\n"));
}
