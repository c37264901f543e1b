//! Case-insensitive search folds Cyrillic as well as Latin letters on both databases (SQLite's `lower()`
//! folds ASCII only), and reads `ё` as `е`.

use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

const SEARCH: &str = "query($s: String) { subscribers(search: $s, first: 50) { nodes { name } } }";

async fn names(app: &TestApp, search: &str) -> Vec<String> {
    let r = app.as_(&app.vendor, SEARCH, json!({ "s": search })).await;
    let mut v: Vec<String> = r.ok()["subscribers"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

async fn import(app: &TestApp, name: &str) {
    app.as_(&app.vendor, "mutation($n: String!) { importClient(input: {name: $n}) { id } }", json!({ "n": name }))
        .await
        .ok();
}

#[tokio::test]
async fn search_finds_cyrillic_names_whatever_their_case_and_reads_yo_as_ye() {
    let app = spawn_app().await;
    for name in ["ООО Ромашка", "ООО «Берёзка»", "ИП Ёлкин", "Acme Ltd", "100% Sale_Co"] {
        import(&app, name).await;
    }
    for needle in ["ромашка", "РОМАШКА", "ооо ромАШка", "Ромаш"] {
        assert_eq!(names(&app, needle).await, ["ООО Ромашка"], "{needle}");
    }
    for needle in ["берёзка", "березка", "БЕРЕЗК", "БЕРЁЗКА"] {
        assert_eq!(names(&app, needle).await, ["ООО «Берёзка»"], "{needle}");
    }
    assert_eq!(names(&app, "елкин").await, ["ИП Ёлкин"]);
    assert_eq!(names(&app, "ooo").await, Vec::<String>::new(), "Latin o is not Cyrillic о");
    assert_eq!(names(&app, "ооо").await, ["ООО «Берёзка»", "ООО Ромашка"]);
    assert_eq!(names(&app, "ACME").await, ["Acme Ltd"]);
    // LIKE's wildcards are literal in a search.
    assert_eq!(names(&app, "%").await, ["100% Sale_Co"]);
    assert_eq!(names(&app, "e_c").await, ["100% Sale_Co"]);
    assert_eq!(names(&app, "l_c").await, Vec::<String>::new());
}

#[tokio::test]
async fn a_renamed_subscriber_is_found_by_its_new_name_only() {
    let app = spawn_app().await;
    let r = app.as_(&app.vendor, "mutation { importClient(input: {name: \"ООО Старое\"}) { id } }", json!({})).await;
    let id = r.ok()["importClient"]["id"].as_str().unwrap().to_owned();
    app.as_(
        &app.vendor,
        "mutation($id: ID!) { updateSubscriber(id: $id, input: {name: \"ООО Новое\"}) { id } }",
        json!({ "id": id }),
    )
    .await
    .ok();
    assert_eq!(names(&app, "НОВОЕ").await, ["ООО Новое"]);
    assert!(names(&app, "старое").await.is_empty());
}

#[tokio::test]
async fn the_migration_folds_names_already_in_the_database() {
    let app = spawn_app().await;
    import(&app, "ООО Ёж").await;
    // As a database from before the fold (the column added empty), then the migration's data step.
    let db = &app.state.db;
    db.execute_unprepared("UPDATE subscribers SET search_name = ''").await.unwrap();
    assert!(names(&app, "ЕЖ").await.is_empty());
    migration::m20261201_000005_search_folding::backfill(db).await.expect("backfill");
    let folded = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT search_name FROM subscribers WHERE name = 'ООО Ёж'",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(folded.try_get::<String>("", "search_name").unwrap(), "ооо еж");
    assert_eq!(names(&app, "ЕЖ").await, ["ООО Ёж"]);
}

#[test]
fn the_migration_folds_exactly_as_the_service_does() {
    for s in ["ООО «Берёзка»", "ЁЛКА", "Straße", "İstanbul", "ǅ", "ΣΑΣ", ""] {
        assert_eq!(migration::m20261201_000005_search_folding::fold(s), partnergraph::domain::text::fold(s), "{s}");
    }
}
