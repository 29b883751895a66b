//! Approvals: `change_request`, a request to defer or cancel a measure or move its due date
//! later, decided by a second person with `plan:approve`; versioned like the plan
//! (`change_request_history`, append-only), so requests, decisions and expiries are in the
//! history as well as the audit log.
//!
//! At most one request per measure is pending (a partial unique index). A MOVE_DUE request
//! carries the due date asked for; only a DEFER request may carry an end date.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000001_approvals"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ChangeRequest {
    Table,
    Id,
    MeasureId,
    Kind,
    Reason,
    ProposedDueOn,
    DeferUntil,
    Status,
    RequestedBy,
    RequestedAt,
    DecidedBy,
    DecidedAt,
    DecisionComment,
    PreviousStatus,
    ExpiredAt,
    Version,
    ArchivedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Measure {
    Table,
    Id,
}

const KINDS: &[&str] = &["DEFER", "CANCEL", "MOVE_DUE"];
const STATUSES: &[&str] = &["PENDING", "APPROVED", "REJECTED", "WITHDRAWN", "EXPIRED"];
const MEASURE_STATUSES: &[&str] = &[
    "PLANNED",
    "IN_PROGRESS",
    "IMPLEMENTED",
    "VERIFIED",
    "DEFERRED",
    "CANCELLED",
];

fn one_of(col: ChangeRequest, values: &[&str]) -> SimpleExpr {
    Expr::col(col).is_in(values.iter().map(|v| (*v).to_owned()))
}

fn ts(col: ChangeRequest, null: bool) -> ColumnDef {
    let mut c = ColumnDef::new(col);
    c.timestamp_with_time_zone();
    if null {
        c.null();
    } else {
        c.not_null();
    }
    c
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ChangeRequest as C;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .col(
                        ColumnDef::new(C::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(C::MeasureId).big_integer().not_null())
                    .col(
                        ColumnDef::new(C::Kind)
                            .string_len(40)
                            .not_null()
                            .check(one_of(C::Kind, KINDS)),
                    )
                    .col(
                        ColumnDef::new(C::Reason)
                            .text()
                            .not_null()
                            .check(Expr::expr(Func::char_length(Expr::col(C::Reason))).gt(0)),
                    )
                    .col(ColumnDef::new(C::ProposedDueOn).date().null())
                    .col(ColumnDef::new(C::DeferUntil).date().null())
                    .col(
                        ColumnDef::new(C::Status)
                            .string_len(40)
                            .not_null()
                            .check(one_of(C::Status, STATUSES)),
                    )
                    .col(ColumnDef::new(C::RequestedBy).string_len(200).not_null())
                    .col(ts(C::RequestedAt, false))
                    .col(ColumnDef::new(C::DecidedBy).string_len(200).null())
                    .col(ts(C::DecidedAt, true))
                    .col(ColumnDef::new(C::DecisionComment).text().null())
                    .col(
                        ColumnDef::new(C::PreviousStatus)
                            .string_len(40)
                            .null()
                            .check(one_of(C::PreviousStatus, MEASURE_STATUSES)),
                    )
                    .col(ts(C::ExpiredAt, true))
                    .col(
                        ColumnDef::new(C::Version)
                            .integer()
                            .not_null()
                            .default(1)
                            .check(Expr::col(C::Version).gte(1)),
                    )
                    .col(ts(C::ArchivedAt, true))
                    .col(ts(C::CreatedAt, false))
                    .col(ts(C::UpdatedAt, false))
                    // A due-date move names its date; only a deferral has an end.
                    .check(
                        Expr::col(C::Kind)
                            .eq("MOVE_DUE")
                            .and(Expr::col(C::ProposedDueOn).is_not_null())
                            .or(Expr::col(C::Kind)
                                .ne("MOVE_DUE")
                                .and(Expr::col(C::ProposedDueOn).is_null())),
                    )
                    .check(
                        Expr::col(C::DeferUntil)
                            .is_null()
                            .or(Expr::col(C::Kind).eq("DEFER")),
                    )
                    // A decision names who made it and when.
                    .check(
                        Expr::col(C::Status)
                            .is_in(["PENDING", "WITHDRAWN"])
                            .or(Expr::col(C::DecidedBy)
                                .is_not_null()
                                .and(Expr::col(C::DecidedAt).is_not_null())),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_change_request_measure")
                            .from(C::Table, C::MeasureId)
                            .to(Measure::Table, Measure::Id)
                            .on_delete(ForeignKeyAction::Restrict)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_change_request_measure")
                    .table(C::Table)
                    .col(C::MeasureId)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // Both backends support partial indexes; sea-query's builder does not write one.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX ux_change_request_pending ON change_request (measure_id) \
             WHERE status = 'PENDING'",
        )
        .await?;
        crate::m20261201_000001_history::add_versioned(db, "change_request").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new("change_request_history"))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ChangeRequest::Table).to_owned())
            .await
    }
}
