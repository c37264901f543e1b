//! Column and key builders shared by the migrations, by column name. Portable between SQLite and
//! PostgreSQL: sea-query picks the UUID and timestamp types per backend.

use sea_orm_migration::prelude::*;

pub fn pk() -> ColumnDef {
    ColumnDef::new(Alias::new("id")).uuid().not_null().primary_key().take()
}

pub fn uuid(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).uuid().not_null().take()
}

pub fn uuid_opt(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).uuid().null().take()
}

pub fn text(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).string().not_null().take()
}

pub fn text_opt(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).string().null().take()
}

pub fn int(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).integer().not_null().take()
}

pub fn int_opt(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).integer().null().take()
}

pub fn big(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).big_integer().not_null().take()
}

pub fn flag(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).boolean().not_null().default(false).take()
}

pub fn time(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).timestamp_with_time_zone().not_null().take()
}

pub fn time_opt(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).timestamp_with_time_zone().null().take()
}

/// A foreign key from `table.col` to `to.id`; rows that are referenced cannot be deleted.
pub fn fk(name: &str, table: &str, col: &str, to: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(Alias::new(table), Alias::new(col))
        .to(Alias::new(to), Alias::new("id"))
        .on_delete(ForeignKeyAction::Restrict)
        .take()
}

pub fn date(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).date().not_null().take()
}

pub fn date_opt(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).date().null().take()
}

pub fn flag_opt(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).boolean().null().take()
}
