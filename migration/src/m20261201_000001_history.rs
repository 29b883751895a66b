//! The plan's history: one append-only version table per mutable table.
//!
//! `<table>_history` holds every column of `<table>` (same names, same types, no keys or
//! constraints of the live table) plus:
//! - `history_id`: the version's own id, in recording order;
//! - `recorded_at`, `recorded_by`: when the database learnt this version and from whom;
//! - `valid_from`: the instant the version stands for (the recording instant, except for
//!   imported facts, which stand for the date their source gives);
//! - `source`: for an imported version, the source it was imported from;
//! - `audit_event_id`: the audit event that recorded the change (null for the versions this
//!   migration writes for rows that existed before it).
//!
//! Links belong to the version of their parent: `measure_finding_history` and
//! `measure_system_history` hold the links of one `measure_history` version,
//! `report_measure_history` those of one `report_history` version (linking or unlinking
//! always writes a new version of the parent).
//!
//! The columns are copied from the live table as the database describes it (PostgreSQL
//! `LIKE`, SQLite `PRAGMA table_info`), so a version reads back exactly as a live row does.
//! Every history table is append-only, by trigger, on both backends.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000001_history"
    }
}

/// Versioned tables: (table, key column).
pub const VERSIONED: &[&str] = &[
    "regulator",
    "regulatory_order",
    "finding",
    "owner",
    "system",
    "measure",
    "report",
];

/// Link tables: (table, parent table, parent key column in the link).
pub const LINKS: &[(&str, &str, &str)] = &[
    ("measure_finding", "measure", "measure_id"),
    ("measure_system", "measure", "measure_id"),
    ("report_measure", "report", "report_id"),
];

const BACKFILL_BY: &str = "migration:m20261201_000001_history";

/// Column names of a live table, in table order.
pub(crate) async fn columns<C: ConnectionTrait>(db: &C, table: &str) -> Result<Vec<String>, DbErr> {
    let rows = match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            db.query_all(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT column_name AS name FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 \
                 ORDER BY ordinal_position",
                [table.into()],
            ))
            .await?
        }
        _ => {
            db.query_all(Statement::from_string(
                DatabaseBackend::Sqlite,
                format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
            ))
            .await?
        }
    };
    rows.iter()
        .map(|r| r.try_get::<String>("", "name"))
        .collect()
}

/// `CREATE TABLE <table>_history` with the live table's columns and the history columns;
/// `parent` names the parent version column of a link table.
async fn create_history<C: ConnectionTrait>(
    db: &C,
    table: &str,
    parent: Option<&str>,
) -> Result<(), DbErr> {
    let h = format!("{table}_history");
    let parent_col = parent
        .map(|p| format!("{p}_history_id BIGINT NOT NULL, "))
        .unwrap_or_default();
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let extra = if parent.is_some() {
                String::new()
            } else {
                ", recorded_at TIMESTAMPTZ NOT NULL, recorded_by TEXT NOT NULL, \
                 valid_from TIMESTAMPTZ NOT NULL, source TEXT NULL, audit_event_id BIGINT NULL"
                    .to_string()
            };
            db.execute_unprepared(&format!(
                "CREATE TABLE {h} (history_id BIGSERIAL PRIMARY KEY, {parent_col}\
                 LIKE {table}{extra})"
            ))
            .await?;
        }
        _ => {
            let rows = db
                .query_all(Statement::from_string(
                    DatabaseBackend::Sqlite,
                    format!(
                        "SELECT name, type, \"notnull\" AS nn FROM pragma_table_info('{table}') \
                         ORDER BY cid"
                    ),
                ))
                .await?;
            let mut defs = Vec::new();
            for r in rows {
                let name: String = r.try_get("", "name")?;
                let ty: String = r.try_get("", "type")?;
                let nn: i32 = r.try_get("", "nn")?;
                let null = if nn != 0 { " NOT NULL" } else { "" };
                defs.push(format!("\"{name}\" {ty}{null}"));
            }
            let extra = if parent.is_some() {
                String::new()
            } else {
                ", recorded_at timestamp_with_timezone_text NOT NULL, recorded_by text NOT NULL, \
                 valid_from timestamp_with_timezone_text NOT NULL, source text NULL, \
                 audit_event_id bigint NULL"
                    .to_string()
            };
            db.execute_unprepared(&format!(
                "CREATE TABLE {h} (history_id integer PRIMARY KEY AUTOINCREMENT, {parent_col}{}{extra})",
                defs.join(", ")
            ))
            .await?;
        }
    }
    Ok(())
}

/// Makes `{h}` append-only (updates, deletes and truncation refused by trigger).
pub(crate) async fn append_only<C: ConnectionTrait>(db: &C, h: &str) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            db.execute_unprepared(&format!(
                "CREATE TRIGGER trg_{h}_append_only BEFORE UPDATE OR DELETE ON {h} \
                 FOR EACH ROW EXECUTE FUNCTION remedy_append_only()"
            ))
            .await?;
            db.execute_unprepared(&format!(
                "CREATE TRIGGER trg_{h}_no_truncate BEFORE TRUNCATE ON {h} \
                 FOR EACH STATEMENT EXECUTE FUNCTION remedy_append_only()"
            ))
            .await?;
        }
        _ => {
            for op in ["UPDATE", "DELETE"] {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER trg_{h}_no_{} BEFORE {op} ON {h} \
                     BEGIN SELECT RAISE(ABORT, 'remedy: {h} is append-only'); END",
                    op.to_lowercase()
                ))
                .await?;
            }
        }
    }
    Ok(())
}

/// The history of a versioned table created after this migration (and still empty): its
/// `<table>_history` with the same columns, indexes and append-only triggers as the others.
pub(crate) async fn add_versioned<C: ConnectionTrait>(db: &C, table: &str) -> Result<(), DbErr> {
    create_history(db, table, None).await?;
    db.execute_unprepared(&format!(
        "CREATE INDEX ix_{table}_history_row ON {table}_history (id, valid_from, history_id)"
    ))
    .await?;
    db.execute_unprepared(&format!(
        "CREATE INDEX ix_{table}_history_recorded ON {table}_history (recorded_at)"
    ))
    .await?;
    append_only(db, &format!("{table}_history")).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        if backend == DatabaseBackend::MySql {
            return Err(DbErr::Migration("MySQL is not supported".into()));
        }
        let now = match backend {
            DatabaseBackend::Postgres => "now()".to_string(),
            _ => "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')".to_string(),
        };
        for t in VERSIONED {
            create_history(db, t, None).await?;
            // Rows that exist already: one version each, as they stand, valid from their
            // last update, recorded now by this migration.
            let cols = columns(db, t).await?;
            let list = cols
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ");
            db.execute_unprepared(&format!(
                "INSERT INTO {t}_history ({list}, recorded_at, recorded_by, valid_from, source, \
                 audit_event_id) SELECT {list}, {now}, '{BACKFILL_BY}', updated_at, NULL, NULL \
                 FROM {t} ORDER BY id"
            ))
            .await?;
            db.execute_unprepared(&format!(
                "CREATE INDEX ix_{t}_history_row ON {t}_history (id, valid_from, history_id)"
            ))
            .await?;
            db.execute_unprepared(&format!(
                "CREATE INDEX ix_{t}_history_recorded ON {t}_history (recorded_at)"
            ))
            .await?;
        }
        for (t, parent, key) in LINKS {
            create_history(db, t, Some(parent)).await?;
            let cols = columns(db, t).await?;
            let list = cols
                .iter()
                .map(|c| format!("l.\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let plain = cols
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ");
            db.execute_unprepared(&format!(
                "INSERT INTO {t}_history ({parent}_history_id, {plain}) \
                 SELECT p.history_id, {list} FROM {t} l JOIN {parent}_history p ON p.id = l.{key}"
            ))
            .await?;
            db.execute_unprepared(&format!(
                "CREATE INDEX ix_{t}_history_parent ON {t}_history ({parent}_history_id)"
            ))
            .await?;
        }
        let all: Vec<String> = VERSIONED
            .iter()
            .map(|t| String::from(*t))
            .chain(LINKS.iter().map(|(t, _, _)| String::from(*t)))
            .map(|t| format!("{t}_history"))
            .collect();
        for h in &all {
            append_only(db, h).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (t, _, _) in LINKS {
            manager
                .drop_table(
                    Table::drop()
                        .table(Alias::new(format!("{t}_history")))
                        .to_owned(),
                )
                .await?;
        }
        for t in VERSIONED {
            manager
                .drop_table(
                    Table::drop()
                        .table(Alias::new(format!("{t}_history")))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
