//! Error codes the server assigns by matching async-graphql's English messages, each provoked through
//! the real router: an upgrade of async-graphql that rewords one of them fails here instead of silently
//! turning a coded limit into `GRAPHQL_VALIDATION_FAILED` (or an input mistake into a masked internal
//! error). The input-coercion messages (`Expected input type "…"`, `Failed to parse "…"`,
//! `Variable … is not defined.`) are pinned in `coercion.rs`.

use serde_json::json;

use crate::helpers::spawn_app_with;

#[tokio::test]
async fn async_graphqls_depth_limit_message_is_answered_as_max_depth_limit() {
    // The preflight's depth leaves introspection out, so only async-graphql's own limit (32, the
    // backstop) sees this: __schema, types, 30 × ofType, name = 33 fields deep.
    let app = spawn_app_with(|c| c.limits.max_nesting = 128).await;
    let deep = format!("{{ __schema {{ types {{ {} name {} }} }} }}", "ofType { ".repeat(30), "} ".repeat(30));
    let r = app.as_(&app.vendor, &deep, json!({})).await;
    r.err("MAX_DEPTH_LIMIT");
    assert_eq!(r.0["errors"][0]["message"], "Query is nested too deep.", "{}", r.0);
    // One level less runs.
    let fine = format!("{{ __schema {{ types {{ {} name {} }} }} }}", "ofType { ".repeat(29), "} ".repeat(29));
    app.as_(&app.vendor, &fine, json!({})).await.ok();
}

#[tokio::test]
async fn async_graphqls_complexity_limit_message_is_answered_as_max_complexity_limit() {
    let app = spawn_app_with(|c| c.limits.max_complexity = 50).await;
    let r = app.as_(&app.vendor, "{ subscribers(first: 100) { nodes { id name } } }", json!({})).await;
    r.err("MAX_COMPLEXITY_LIMIT");
    assert_eq!(r.0["errors"][0]["message"], "Query is too complex.", "{}", r.0);
}
