//! Reminders that reach people: webhook endpoints, their deliveries and every attempt, the
//! notices already fanned out, e-mail digests, and each owner's language.
//!
//! Deliveries and digests are work queues (mutable: status, attempts, lease); the attempts are
//! an append-only log. Endpoints are configuration, audited on every change.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000001_notify"
    }
}

#[derive(DeriveIden)]
enum Owner {
    Table,
    Language,
}

#[derive(DeriveIden)]
enum OwnerHistory {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum WebhookEndpoint {
    Table,
    Id,
    Url,
    Description,
    EventTypes,
    OrderIds,
    Secret,
    PreviousSecret,
    PreviousSecretExpiresAt,
    Enabled,
    Version,
    ArchivedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum WebhookDelivery {
    Table,
    Id,
    EndpointId,
    NoticeId,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastStatusCode,
    LastError,
    DeliveredAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum WebhookAttempt {
    Table,
    Id,
    DeliveryId,
    At,
    StatusCode,
    Error,
    DurationMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum NoticeDispatch {
    Table,
    NoticeId,
    At,
}

#[derive(DeriveIden, Clone, Copy)]
enum Notice {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Digest {
    Table,
    Id,
    Kind,
    Recipient,
    Language,
    Day,
    OwnerId,
    Subject,
    BodyText,
    BodyHtml,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastError,
    SentAt,
    CreatedAt,
}

fn id<T: IntoIden>(c: T) -> ColumnDef {
    ColumnDef::new(c)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn ts<T: IntoIden>(c: T) -> ColumnDef {
    ColumnDef::new(c)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn ts_null<T: IntoIden>(c: T) -> ColumnDef {
    ColumnDef::new(c)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

fn status<T: IntoIden + Copy + 'static>(c: T) -> ColumnDef {
    ColumnDef::new(c)
        .string_len(40)
        .not_null()
        .check(Expr::col(c).is_in(["PENDING", "DELIVERED", "DEAD"]))
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Owner::Table.into_iden(), OwnerHistory::Table.into_iden()] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(
                            ColumnDef::new(Owner::Language)
                                .string_len(40)
                                .null()
                                .check(Expr::col(Owner::Language).is_in(["JA", "EN"])),
                        )
                        .to_owned(),
                )
                .await?;
        }

        use WebhookEndpoint as E;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    .col(id(E::Id))
                    .col(
                        ColumnDef::new(E::Url)
                            .string_len(2048)
                            .not_null()
                            .check(Expr::expr(Func::char_length(Expr::col(E::Url))).gt(0)),
                    )
                    .col(ColumnDef::new(E::Description).text().null())
                    .col(ColumnDef::new(E::EventTypes).text().not_null())
                    .col(ColumnDef::new(E::OrderIds).text().null())
                    .col(ColumnDef::new(E::Secret).string_len(200).not_null())
                    .col(ColumnDef::new(E::PreviousSecret).string_len(200).null())
                    .col(ts_null(E::PreviousSecretExpiresAt))
                    .col(ColumnDef::new(E::Enabled).boolean().not_null())
                    .col(ColumnDef::new(E::Version).integer().not_null())
                    .col(ts_null(E::ArchivedAt))
                    .col(ts(E::CreatedAt))
                    .col(ts(E::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        use WebhookDelivery as D;
        manager
            .create_table(
                Table::create()
                    .table(D::Table)
                    .col(id(D::Id))
                    .col(ColumnDef::new(D::EndpointId).big_integer().not_null())
                    .col(ColumnDef::new(D::NoticeId).big_integer().not_null())
                    .col(status(D::Status))
                    .col(
                        ColumnDef::new(D::Attempts)
                            .integer()
                            .not_null()
                            .check(Expr::col(D::Attempts).gte(0)),
                    )
                    .col(ts_null(D::NextAttemptAt))
                    .col(ts_null(D::LeaseUntil))
                    .col(ColumnDef::new(D::LastStatusCode).integer().null())
                    .col(ColumnDef::new(D::LastError).text().null())
                    .col(ts_null(D::DeliveredAt))
                    .col(ts(D::CreatedAt))
                    .col(ts(D::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(D::Table, D::EndpointId)
                            .to(E::Table, E::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(D::Table, D::NoticeId)
                            .to(Notice::Table, Notice::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_webhook_delivery_endpoint_notice")
                    .table(D::Table)
                    .col(D::EndpointId)
                    .col(D::NoticeId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_delivery_due")
                    .table(D::Table)
                    .col(D::Status)
                    .col(D::NextAttemptAt)
                    .to_owned(),
            )
            .await?;

        use WebhookAttempt as A;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(id(A::Id))
                    .col(ColumnDef::new(A::DeliveryId).big_integer().not_null())
                    .col(ts(A::At))
                    .col(ColumnDef::new(A::StatusCode).integer().null())
                    .col(ColumnDef::new(A::Error).text().null())
                    .col(ColumnDef::new(A::DurationMs).integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(A::Table, A::DeliveryId)
                            .to(D::Table, D::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_attempt_delivery")
                    .table(A::Table)
                    .col(A::DeliveryId)
                    .to_owned(),
            )
            .await?;
        crate::m20261201_000001_history::append_only(manager.get_connection(), "webhook_attempt")
            .await?;

        use NoticeDispatch as N;
        manager
            .create_table(
                Table::create()
                    .table(N::Table)
                    .col(
                        ColumnDef::new(N::NoticeId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ts(N::At))
                    .foreign_key(
                        ForeignKey::create()
                            .from(N::Table, N::NoticeId)
                            .to(Notice::Table, Notice::Id),
                    )
                    .to_owned(),
            )
            .await?;

        use Digest as G;
        manager
            .create_table(
                Table::create()
                    .table(G::Table)
                    .col(id(G::Id))
                    .col(
                        ColumnDef::new(G::Kind)
                            .string_len(40)
                            .not_null()
                            .check(Expr::col(G::Kind).is_in(["DAILY", "WEEKLY"])),
                    )
                    .col(ColumnDef::new(G::Recipient).string_len(320).not_null())
                    .col(
                        ColumnDef::new(G::Language)
                            .string_len(40)
                            .not_null()
                            .check(Expr::col(G::Language).is_in(["JA", "EN"])),
                    )
                    .col(ColumnDef::new(G::Day).date().not_null())
                    .col(ColumnDef::new(G::OwnerId).big_integer().null())
                    .col(ColumnDef::new(G::Subject).text().not_null())
                    .col(ColumnDef::new(G::BodyText).text().not_null())
                    .col(ColumnDef::new(G::BodyHtml).text().not_null())
                    .col(status(G::Status))
                    .col(ColumnDef::new(G::Attempts).integer().not_null())
                    .col(ts_null(G::NextAttemptAt))
                    .col(ts_null(G::LeaseUntil))
                    .col(ColumnDef::new(G::LastError).text().null())
                    .col(ts_null(G::SentAt))
                    .col(ts(G::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_digest_kind_recipient_day")
                    .table(G::Table)
                    .col(G::Kind)
                    .col(G::Recipient)
                    .col(G::Day)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Digest::Table.into_iden(),
            NoticeDispatch::Table.into_iden(),
            WebhookAttempt::Table.into_iden(),
            WebhookDelivery::Table.into_iden(),
            WebhookEndpoint::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        for table in [Owner::Table.into_iden(), OwnerHistory::Table.into_iden()] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Owner::Language)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
