//! Notices: the outbox of events people should hear about, written in the transaction of the
//! change they tell of (a change request asked, decided or withdrawn, a deferral ended).
//! Append-only (by trigger, both backends); `dedup_key` is unique, so an event is noted once
//! however many replicas or sweeps see it. Delivery state belongs to the deliveries, not here.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000001_notices"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Notice {
    Table,
    Id,
    Kind,
    At,
    DedupKey,
    SubjectType,
    SubjectId,
    MeasureId,
    OrderIds,
    Summary,
    AuditEventId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Notice as N;
        let ts = |c: N| {
            ColumnDef::new(c)
                .timestamp_with_time_zone()
                .not_null()
                .to_owned()
        };
        manager
            .create_table(
                Table::create()
                    .table(N::Table)
                    .col(
                        ColumnDef::new(N::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    // The kinds grow with the features that note them; the code checks them.
                    .col(
                        ColumnDef::new(N::Kind)
                            .string_len(40)
                            .not_null()
                            .check(Expr::expr(Func::char_length(Expr::col(N::Kind))).gt(0)),
                    )
                    .col(ts(N::At))
                    .col(ColumnDef::new(N::DedupKey).string_len(200).not_null())
                    .col(ColumnDef::new(N::SubjectType).string_len(40).not_null())
                    .col(ColumnDef::new(N::SubjectId).big_integer().not_null())
                    .col(ColumnDef::new(N::MeasureId).big_integer().null())
                    .col(ColumnDef::new(N::OrderIds).text().not_null())
                    .col(ColumnDef::new(N::Summary).text().not_null())
                    .col(ColumnDef::new(N::AuditEventId).big_integer().null())
                    .col(ts(N::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_notice_dedup_key")
                    .table(N::Table)
                    .col(N::DedupKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        crate::m20261201_000001_history::append_only(manager.get_connection(), "notice").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Notice::Table).to_owned())
            .await
    }
}
