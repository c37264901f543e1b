//! Case-insensitive search that folds Cyrillic on both databases: SQLite's `lower()` folds ASCII only, so
//! the service writes a folded copy of each subscriber's name (`search_name`) and matches the folded
//! needle against it. Existing rows are folded here, in Rust, with the same function.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement, TryGetable};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The fold of search text: lower case (Unicode, so Cyrillic too) with `ё` read as `е`. Must equal
/// `partnergraph::domain::text::fold` (a test there checks it).
pub fn fold(s: &str) -> String {
    s.to_lowercase().replace('ё', "е")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("subscribers"))
                    .add_column(ColumnDef::new(Alias::new("search_name")).string().not_null().default(""))
                    .take(),
            )
            .await?;
        backfill(manager.get_connection()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Alias::new("subscribers")).drop_column(Alias::new("search_name")).take())
            .await
    }
}

/// Writes the folded name of every subscriber (the migration's data step, public for its test).
pub async fn backfill<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    {
        let backend = db.get_database_backend();
        let rows = db.query_all_raw(Statement::from_string(backend, "SELECT id, name FROM subscribers")).await?;
        for row in rows {
            let id: sea_orm_migration::sea_orm::prelude::Uuid =
                TryGetable::try_get_by(&row, "id").map_err(|e| DbErr::Custom(format!("{e:?}")))?;
            let name: String = TryGetable::try_get_by(&row, "name").map_err(|e| DbErr::Custom(format!("{e:?}")))?;
            let stmt = Query::update()
                .table(Alias::new("subscribers"))
                .value(Alias::new("search_name"), fold(&name))
                .and_where(Expr::col(Alias::new("id")).eq(id))
                .to_owned();
            db.execute(&stmt).await?;
        }
        Ok(())
    }
}
