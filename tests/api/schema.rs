//! `schema.graphql` at the repository root is the served schema; this fails when they drift.

#[test]
fn schema_graphql_matches_the_served_schema() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql at the root");
    let served = partnergraph::graphql::sdl();
    assert!(
        committed == served,
        "schema.graphql is out of date: run `cargo run -q -- schema > schema.graphql` and commit it"
    );
}

#[test]
fn the_schema_has_the_contracts_root_names() {
    let sdl = partnergraph::graphql::sdl();
    for name in [
        "type QueryRoot",
        "type MutationRoot",
        "enum Role",
        "enum SubscriberKind",
        "enum InvitationStatus",
        "enum BindingSource",
        "type SubscriberConnection",
        "scalar Date\n",
        "scalar Decimal\n",
        "type Subscription {",
        "enum PurchaseOrdinal",
        "enum CommissionStatus",
        "enum SubscriptionBasis",
        "enum ChurnReason",
        "type CommissionSummary",
    ] {
        assert!(sdl.contains(name), "missing {name}");
    }
}
