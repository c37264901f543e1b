//! Subscribers, partner profiles, users, memberships, invitations, binding history, login failures and the
//! audit log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Subscribers {
    Table,
    Id,
    Kind,
    Name,
    Inn,
    Kpp,
    Email,
    Phone,
    Address,
    ContactPerson,
    ServingPartnerId,
    BindingSource,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PartnerProfiles {
    Table,
    SubscriberId,
    ReferralCode,
    ServiceDeskConnected,
    HasConsultants,
    HasCustomizationSpecialists,
    ContractUntil,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Name,
    PasswordHash,
    Active,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    Id,
    UserId,
    SubscriberId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Invitations {
    Table,
    Id,
    SubscriberId,
    Email,
    Role,
    TokenHash,
    Status,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    SentCount,
    AcceptedAt,
}

#[derive(DeriveIden)]
enum BindingChanges {
    Table,
    Id,
    ClientId,
    FromPartnerId,
    ToPartnerId,
    Source,
    At,
    ActorUserId,
}

#[derive(DeriveIden)]
enum LoginFailures {
    Table,
    Id,
    Email,
    At,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    ActorUserId,
    Role,
    SubscriberId,
    Operation,
    TargetId,
    Outcome,
    RequestId,
}

fn id_pk<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().primary_key().take()
}

fn uuid_ref<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().take()
}

fn uuid_opt<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).uuid().null().take()
}

fn text<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).string().not_null().take()
}

fn text_opt<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).string().null().take()
}

fn time<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().not_null().take()
}

fn time_opt<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().null().take()
}

fn flag<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).boolean().not_null().default(false).take()
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create().name(name).from(from.0, from.1).to(to.0, to.1).on_delete(ForeignKeyAction::Restrict).take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Subscribers::Table)
                    .col(id_pk(Subscribers::Id))
                    .col(text(Subscribers::Kind))
                    .col(text(Subscribers::Name))
                    .col(text_opt(Subscribers::Inn))
                    .col(text_opt(Subscribers::Kpp))
                    .col(text_opt(Subscribers::Email))
                    .col(text_opt(Subscribers::Phone))
                    .col(text_opt(Subscribers::Address))
                    .col(text_opt(Subscribers::ContactPerson))
                    .col(uuid_opt(Subscribers::ServingPartnerId))
                    .col(text_opt(Subscribers::BindingSource))
                    .col(time(Subscribers::CreatedAt))
                    .col(time(Subscribers::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_subscribers_serving_partner",
                        (Subscribers::Table, Subscribers::ServingPartnerId),
                        (Subscribers::Table, Subscribers::Id),
                    ))
                    .check(Expr::col(Subscribers::Kind).is_in(["CLIENT", "PARTNER", "VENDOR"]))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PartnerProfiles::Table)
                    .col(id_pk(PartnerProfiles::SubscriberId))
                    .col(text(PartnerProfiles::ReferralCode))
                    .col(flag(PartnerProfiles::ServiceDeskConnected))
                    .col(flag(PartnerProfiles::HasConsultants))
                    .col(flag(PartnerProfiles::HasCustomizationSpecialists))
                    .col(ColumnDef::new(PartnerProfiles::ContractUntil).date().null())
                    .foreign_key(&mut fk(
                        "fk_partner_profiles_subscriber",
                        (PartnerProfiles::Table, PartnerProfiles::SubscriberId),
                        (Subscribers::Table, Subscribers::Id),
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(id_pk(Users::Id))
                    .col(text(Users::Email))
                    .col(text(Users::Name))
                    .col(text(Users::PasswordHash))
                    .col(ColumnDef::new(Users::Active).boolean().not_null().default(true))
                    .col(time(Users::CreatedAt))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(id_pk(Memberships::Id))
                    .col(uuid_ref(Memberships::UserId))
                    .col(uuid_ref(Memberships::SubscriberId))
                    .col(text(Memberships::Role))
                    .col(time(Memberships::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_memberships_user",
                        (Memberships::Table, Memberships::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_memberships_subscriber",
                        (Memberships::Table, Memberships::SubscriberId),
                        (Subscribers::Table, Subscribers::Id),
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Invitations::Table)
                    .col(id_pk(Invitations::Id))
                    .col(uuid_ref(Invitations::SubscriberId))
                    .col(text(Invitations::Email))
                    .col(text(Invitations::Role))
                    .col(text(Invitations::TokenHash))
                    .col(text(Invitations::Status))
                    .col(uuid_opt(Invitations::CreatedBy))
                    .col(time(Invitations::CreatedAt))
                    .col(time(Invitations::ExpiresAt))
                    .col(ColumnDef::new(Invitations::SentCount).integer().not_null().default(1))
                    .col(time_opt(Invitations::AcceptedAt))
                    .foreign_key(&mut fk(
                        "fk_invitations_subscriber",
                        (Invitations::Table, Invitations::SubscriberId),
                        (Subscribers::Table, Subscribers::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_invitations_created_by",
                        (Invitations::Table, Invitations::CreatedBy),
                        (Users::Table, Users::Id),
                    ))
                    .check(Expr::col(Invitations::Status).is_in(["PENDING", "ACCEPTED", "REVOKED", "EXPIRED"]))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BindingChanges::Table)
                    .col(id_pk(BindingChanges::Id))
                    .col(uuid_ref(BindingChanges::ClientId))
                    .col(uuid_opt(BindingChanges::FromPartnerId))
                    .col(uuid_opt(BindingChanges::ToPartnerId))
                    .col(text(BindingChanges::Source))
                    .col(time(BindingChanges::At))
                    .col(uuid_opt(BindingChanges::ActorUserId))
                    .foreign_key(&mut fk(
                        "fk_binding_changes_client",
                        (BindingChanges::Table, BindingChanges::ClientId),
                        (Subscribers::Table, Subscribers::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_binding_changes_from",
                        (BindingChanges::Table, BindingChanges::FromPartnerId),
                        (Subscribers::Table, Subscribers::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_binding_changes_to",
                        (BindingChanges::Table, BindingChanges::ToPartnerId),
                        (Subscribers::Table, Subscribers::Id),
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LoginFailures::Table)
                    .col(id_pk(LoginFailures::Id))
                    .col(text(LoginFailures::Email))
                    .col(time(LoginFailures::At))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(id_pk(AuditLog::Id))
                    .col(time(AuditLog::At))
                    .col(uuid_opt(AuditLog::ActorUserId))
                    .col(text_opt(AuditLog::Role))
                    .col(uuid_opt(AuditLog::SubscriberId))
                    .col(text(AuditLog::Operation))
                    .col(uuid_opt(AuditLog::TargetId))
                    .col(text(AuditLog::Outcome))
                    .col(text_opt(AuditLog::RequestId))
                    .take(),
            )
            .await?;

        // Invariants that concurrent requests must not be able to break, as indexes. Partial unique
        // indexes have the same syntax on SQLite and PostgreSQL.
        let db = manager.get_connection();
        for sql in [
            "CREATE UNIQUE INDEX ux_users_email ON users (email)",
            "CREATE UNIQUE INDEX ux_memberships_user_subscriber ON memberships (user_id, subscriber_id)",
            "CREATE INDEX ix_memberships_subscriber ON memberships (subscriber_id)",
            "CREATE UNIQUE INDEX ux_subscribers_one_vendor ON subscribers (kind) WHERE kind = 'VENDOR'",
            "CREATE INDEX ix_subscribers_serving_partner ON subscribers (serving_partner_id)",
            "CREATE INDEX ix_subscribers_kind ON subscribers (kind, id)",
            "CREATE UNIQUE INDEX ux_subscribers_inn ON subscribers (kind, inn, COALESCE(kpp, '')) WHERE inn IS NOT NULL",
            "CREATE UNIQUE INDEX ux_partner_profiles_referral_code ON partner_profiles (referral_code)",
            "CREATE UNIQUE INDEX ux_invitations_token_hash ON invitations (token_hash)",
            "CREATE UNIQUE INDEX ux_invitations_one_pending ON invitations (subscriber_id, email) WHERE status = 'PENDING'",
            "CREATE INDEX ix_binding_changes_client ON binding_changes (client_id, at)",
            "CREATE INDEX ix_login_failures_email ON login_failures (email, at)",
            "CREATE INDEX ix_audit_log_subscriber ON audit_log (subscriber_id, id)",
        ] {
            db.execute_unprepared(sql).await?;
        }

        // The audit log is append-only: the database itself refuses updates and deletes.
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                db.execute_unprepared(
                    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log \
                     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log \
                     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
                )
                .await?;
            }
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log \
                     FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
                )
                .await?;
            }
            _ => {}
        }
        Ok(())
    }
}
