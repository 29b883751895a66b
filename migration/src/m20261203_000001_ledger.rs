//! The ledger of recurring measures: an explicit schedule and skipped periods.
//!
//! - `measure.anchor_on`: the date a recurring measure's schedule counts from (required for
//!   recurring measures by the application; rows that exist already get their start date,
//!   else their completion date, else the earliest issue date of the orders they answer,
//!   else their creation date);
//! - `measure.grace_days` (default 0, never negative): days after a period's end before it is
//!   due;
//! - `occurrence.evidence_id`: the evidence of that execution, if any (a foreign key on
//!   PostgreSQL; on SQLite checked by the application);
//! - `period_skip`: a period of a recurring measure that is not owed (with the due date it
//!   had, so dashboards count skips of periods come due in SQL), with its reason, who
//!   approved it and the audit event that recorded it; one per measure and period;
//!   append-only (by trigger on both backends: a skip is never edited or withdrawn).
//!
//! `measure_history` gets the two new columns: versions recorded before this migration hold
//! no anchor (NULL) and no grace (0, as every measure then had; `history::verify` knows that
//! an event recorded before the column existed stands for that default), and every existing
//! measure
//! gets one version as it stands after the backfill, recorded by this migration (audit event
//! NULL, like the versions the history migration wrote), so that each live row equals its
//! latest version.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::m20261201_000001_history::columns;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000001_ledger"
    }
}

const BACKFILL_BY: &str = "migration:m20261203_000001_ledger";

#[derive(DeriveIden)]
enum Measure {
    Table,
    Id,
    AnchorOn,
    GraceDays,
}

#[derive(DeriveIden)]
enum MeasureHistory {
    Table,
}

#[derive(DeriveIden)]
enum PeriodSkip {
    Table,
    Id,
    MeasureId,
    Period,
    DueOn,
    Reason,
    SkippedBy,
    SkippedAt,
    AuditEventId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        if backend == DatabaseBackend::MySql {
            return Err(DbErr::Migration("MySQL is not supported".into()));
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Measure::Table)
                    .add_column(ColumnDef::new(Measure::AnchorOn).date().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Measure::Table)
                    .add_column(
                        ColumnDef::new(Measure::GraceDays)
                            .integer()
                            .not_null()
                            .default(0)
                            .check(Expr::col(Measure::GraceDays).gte(0)),
                    )
                    .to_owned(),
            )
            .await?;
        for c in [
            ColumnDef::new(Measure::AnchorOn).date().null().to_owned(),
            ColumnDef::new(Measure::GraceDays)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(MeasureHistory::Table)
                        .add_column(c)
                        .to_owned(),
                )
                .await?;
        }
        // PostgreSQL enforces the reference; SQLite could not drop such a column again (on
        // `down`), so there the application's check (same measure, existing evidence) stands.
        db.execute_unprepared(match backend {
            DatabaseBackend::Postgres => {
                "ALTER TABLE occurrence ADD COLUMN evidence_id BIGINT NULL REFERENCES evidence (id)"
            }
            _ => "ALTER TABLE occurrence ADD COLUMN evidence_id BIGINT NULL",
        })
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(PeriodSkip::Table)
                    .col(
                        ColumnDef::new(PeriodSkip::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(PeriodSkip::MeasureId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PeriodSkip::Period)
                            .string_len(200)
                            .not_null()
                            .check(
                                Expr::expr(Func::char_length(Expr::col(PeriodSkip::Period))).gt(0),
                            ),
                    )
                    .col(ColumnDef::new(PeriodSkip::DueOn).date().not_null())
                    .col(
                        ColumnDef::new(PeriodSkip::Reason).text().not_null().check(
                            Expr::expr(Func::char_length(Expr::col(PeriodSkip::Reason))).gt(0),
                        ),
                    )
                    .col(ColumnDef::new(PeriodSkip::SkippedBy).text().not_null())
                    .col(
                        ColumnDef::new(PeriodSkip::SkippedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PeriodSkip::AuditEventId)
                            .big_integer()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_period_skip_measure")
                            .from(PeriodSkip::Table, PeriodSkip::MeasureId)
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
                    .name("ux_period_skip_measure_period")
                    .table(PeriodSkip::Table)
                    .col(PeriodSkip::MeasureId)
                    .col(PeriodSkip::Period)
                    .unique()
                    .to_owned(),
            )
            .await?;
        crate::m20261201_000001_history::append_only(db, "period_skip").await?;
        // Existing recurring measures: the schedule counts from what they carried.
        db.execute_unprepared(
            "UPDATE measure SET anchor_on = COALESCE(started_on, completed_on, \
             (SELECT MIN(o.issued_on) FROM measure_finding mf JOIN finding f ON f.id = \
             mf.finding_id JOIN regulatory_order o ON o.id = f.order_id WHERE mf.measure_id = \
             measure.id), CAST(created_at AS DATE)) WHERE recurrence <> 'NONE'",
        )
        .await?;
        // One version of every measure as it now stands, with its links.
        let now = match backend {
            DatabaseBackend::Postgres => "now()".to_string(),
            _ => "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')".to_string(),
        };
        let list = columns(db, "measure")
            .await?
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        db.execute_unprepared(&format!(
            "INSERT INTO measure_history ({list}, recorded_at, recorded_by, valid_from, source, \
             audit_event_id) SELECT {list}, {now}, '{BACKFILL_BY}', {now}, NULL, NULL \
             FROM measure ORDER BY id"
        ))
        .await?;
        for link in ["measure_finding", "measure_system"] {
            let cols = columns(db, link).await?;
            let plain = cols
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let prefixed = cols
                .iter()
                .map(|c| format!("l.\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ");
            db.execute_unprepared(&format!(
                "INSERT INTO {link}_history (measure_history_id, {plain}) \
                 SELECT p.history_id, {prefixed} FROM {link} l JOIN measure_history p \
                 ON p.id = l.measure_id WHERE p.recorded_by = '{BACKFILL_BY}'"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE period_skip").await?;
        db.execute_unprepared("ALTER TABLE occurrence DROP COLUMN evidence_id")
            .await?;
        for table in [
            Measure::Table.into_iden(),
            MeasureHistory::Table.into_iden(),
        ] {
            for col in [
                Measure::AnchorOn.into_iden(),
                Measure::GraceDays.into_iden(),
            ] {
                manager
                    .alter_table(
                        Table::alter()
                            .table(table.clone())
                            .drop_column(col)
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}
