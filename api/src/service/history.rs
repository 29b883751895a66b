//! The plan's history: every version of every mutable row, and reads of the plan as it
//! stood on a date.
//!
//! **Recording.** Every write that changes a row of a versioned table (regulators, orders,
//! findings, owners, systems, measures, reports) records an audit event naming it; the open
//! [`crate::service::write::Write`] notes the row, and before the transaction commits the
//! row as it then stands is copied into `<table>_history` ([`record`]), with the links of a
//! measure or report copied beside that version. Versions carry when the database learnt them
//! (`recorded_at`, `recorded_by`), the instant they stand for (`valid_from`: the recording
//! instant, or for imported facts the date their source gives, with `source` naming it) and
//! the audit event that recorded them. The tables are append-only (triggers on both
//! backends), created by migration `m20261201_000001_history`.
//!
//! **Reading as of a date.** A [`Tense`] (a day, and optionally the instant the database is
//! asked to have known it by) turns into one `WITH` clause whose common table expressions
//! carry the names of the live tables (`measure`, `finding`, `measure_finding`, ...) and hold
//! the versions standing at the end of that day; [`Reader`] is a connection that puts that
//! clause in front of every statement it runs. Every read of the store therefore runs as of
//! the day unchanged: the same scope conditions, loaders, rollups and report loads.
//!
//! A measure's status as of the day is derived from the dates its transitions carry (as known
//! at `knownAt`), so a completion recorded late counts from its date once it is known, and
//! not before it was recorded when `knownAt` says so; a deferral or cancellation counts from
//! the version that recorded it.
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use entity::*;
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, ExecResult, FromQueryResult,
    QueryResult, Statement,
};

use crate::error::{AppError, AppResult};

/// A versioned table: the entity name the audit log uses, the table, its columns, and the
/// link tables whose rows belong to its versions (link table, key column of the parent).
#[derive(Debug)]
pub struct Table {
    pub entity: &'static str,
    pub table: &'static str,
    pub columns: fn() -> Vec<String>,
    pub links: &'static [Link],
}

/// A link table whose rows belong to the versions of their parent.
#[derive(Debug)]
pub struct Link {
    pub table: &'static str,
    pub parent_key: &'static str,
    pub columns: fn() -> Vec<String>,
}

fn cols<C: sea_orm::ColumnTrait>() -> Vec<String> {
    C::iter().map(|c| sea_orm::Iden::to_string(&c)).collect()
}

const MEASURE_LINKS: &[Link] = &[
    Link {
        table: "measure_finding",
        parent_key: "measure_id",
        columns: cols::<measure_finding::Column>,
    },
    Link {
        table: "measure_system",
        parent_key: "measure_id",
        columns: cols::<measure_system::Column>,
    },
];

const REPORT_LINKS: &[Link] = &[Link {
    table: "report_measure",
    parent_key: "report_id",
    columns: cols::<report_measure::Column>,
}];

/// Every versioned table, parents before children.
pub const TABLES: &[Table] = &[
    Table {
        entity: "Regulator",
        table: "regulator",
        columns: cols::<regulator::Column>,
        links: &[],
    },
    Table {
        entity: "Order",
        table: "regulatory_order",
        columns: cols::<regulatory_order::Column>,
        links: &[],
    },
    Table {
        entity: "Finding",
        table: "finding",
        columns: cols::<finding::Column>,
        links: &[],
    },
    Table {
        entity: "Owner",
        table: "owner",
        columns: cols::<owner::Column>,
        links: &[],
    },
    Table {
        entity: "System",
        table: "system",
        columns: cols::<system::Column>,
        links: &[],
    },
    Table {
        entity: "Measure",
        table: "measure",
        columns: cols::<measure::Column>,
        links: MEASURE_LINKS,
    },
    Table {
        entity: "Report",
        table: "report",
        columns: cols::<report::Column>,
        links: REPORT_LINKS,
    },
    Table {
        entity: "ChangeRequest",
        table: "change_request",
        columns: cols::<change_request::Column>,
        links: &[],
    },
];

/// Columns added to a versioned table after rows existed, NOT NULL with a default that the
/// versions recorded before them hold: (table, column, default). Their audit events do not
/// name them.
pub const ADDED_WITH_DEFAULT: &[(&str, &str, i64)] = &[("measure", "grace_days", 0)];

/// The versioned table an audit entity name stands for.
pub fn table_of(entity: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.entity == entity)
}

/// How a version came to be: recorded live, or imported from a source standing for an
/// earlier instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provenance {
    Live,
    Imported {
        source: String,
        valid_from: DateTime<Utc>,
    },
}

/// A row to copy into its history table before the transaction ends.
#[derive(Clone, Debug)]
pub struct Touched {
    pub table: &'static Table,
    pub id: i64,
    /// The last audit event of this transaction that named the row, or the transaction's last
    /// event when the row changed under another entity's event.
    pub event: Option<i64>,
    pub provenance: Provenance,
}

/// Copies each touched row, as it stands now, into its history table, with its links.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    touched: &[Touched],
    actor: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let backend = conn.get_database_backend();
    for t in touched {
        let columns = (t.table.columns)();
        let (source, valid_from) = match &t.provenance {
            Provenance::Live => (None, now),
            Provenance::Imported { source, valid_from } => (Some(source.clone()), *valid_from),
        };
        let mut select = Query::select();
        for c in &columns {
            select.column(Alias::new(c.as_str()));
        }
        select
            .expr(Expr::val(now))
            .expr(Expr::val(actor))
            .expr(Expr::val(valid_from))
            .expr(Expr::val(source))
            .expr(Expr::val(t.event))
            .from(Alias::new(t.table.table))
            .and_where(Expr::col(Alias::new("id")).eq(t.id));
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new(format!("{}_history", t.table.table)))
            .columns(
                columns.iter().map(|c| Alias::new(c.as_str())).chain(
                    [
                        "recorded_at",
                        "recorded_by",
                        "valid_from",
                        "source",
                        "audit_event_id",
                    ]
                    .into_iter()
                    .map(Alias::new),
                ),
            )
            .select_from(select)
            .map_err(|e| AppError::from(anyhow::anyhow!("history insert: {e}")))?
            .returning_col(Alias::new("history_id"));
        let Some(row) = conn.query_one(backend.build(&insert)).await? else {
            continue;
        };
        let version: i64 = row.try_get("", "history_id")?;
        for link in t.table.links {
            let columns = (link.columns)();
            let mut select = Query::select();
            select.expr(Expr::val(version));
            for c in &columns {
                select.column(Alias::new(c.as_str()));
            }
            select
                .from(Alias::new(link.table))
                .and_where(Expr::col(Alias::new(link.parent_key)).eq(t.id));
            let mut insert = Query::insert();
            insert
                .into_table(Alias::new(format!("{}_history", link.table)))
                .columns(
                    std::iter::once(Alias::new(format!("{}_history_id", t.table.table)))
                        .chain(columns.iter().map(|c| Alias::new(c.as_str()))),
                )
                .select_from(select)
                .map_err(|e| AppError::from(anyhow::anyhow!("history insert: {e}")))?;
            conn.execute(backend.build(&insert)).await?;
        }
    }
    Ok(())
}

/// When a read stands: the end of `day`, as the database knew it at `known_at` (by default,
/// as known now).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tense {
    pub day: NaiveDate,
    pub known_at: Option<DateTime<Utc>>,
}

impl Tense {
    pub fn on(day: NaiveDate) -> Self {
        Self {
            day,
            known_at: None,
        }
    }

    /// The first instant after the day (UTC, the day `overdue` is judged on).
    pub fn end(&self) -> DateTime<Utc> {
        let next = self.day.checked_add_days(Days::new(1)).unwrap_or(self.day);
        next.and_time(NaiveTime::MIN).and_utc()
    }
}

fn instant(backend: DatabaseBackend, at: DateTime<Utc>) -> String {
    match backend {
        DatabaseBackend::Postgres => format!(
            "CAST('{}' AS TIMESTAMPTZ)",
            at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        ),
        // SQLite keeps instants as RFC 3339 text with `+00:00`, which sorts as time does.
        _ => format!(
            "'{}'",
            at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
        ),
    }
}

fn day(backend: DatabaseBackend, d: NaiveDate) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("CAST('{d}' AS DATE)"),
        _ => format!("'{d}'"),
    }
}

/// One common table expression: its name, the internal ones it reads, its text.
#[derive(Debug)]
struct Cte {
    name: String,
    needs: Vec<String>,
    sql: String,
}

/// The common table expressions that stand for the live tables as of a tense; a statement
/// gets those it names (and what they read), nothing else.
#[derive(Debug)]
pub struct Shadows(Vec<Cte>);

/// Whether `word` occurs in `sql` as a whole identifier (quoted or not).
fn names(sql: &str, word: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    sql.match_indices(word).any(|(i, _)| {
        let before = sql[..i].chars().next_back();
        let after = sql[i + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

impl Shadows {
    /// The clause's body (without `WITH`) for a statement, or `None` when it names no
    /// shadowed table.
    fn for_sql(&self, sql: &str) -> Option<String> {
        let mut wanted: std::collections::HashSet<&str> = self
            .0
            .iter()
            .filter(|c| !c.name.starts_with("remedy_") && names(sql, &c.name))
            .map(|c| c.name.as_str())
            .collect();
        if wanted.is_empty() {
            return None;
        }
        for c in &self.0 {
            if wanted.contains(c.name.as_str()) {
                wanted.extend(c.needs.iter().map(String::as_str));
            }
        }
        let chosen: Vec<&str> = self
            .0
            .iter()
            .filter(|c| wanted.contains(c.name.as_str()))
            .map(|c| c.sql.as_str())
            .collect();
        Some(chosen.join(", "))
    }

    /// Every expression (for tests and inspection).
    pub fn all(&self) -> String {
        self.0
            .iter()
            .map(|c| c.sql.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The common table expressions that stand for the live tables as of `tense`.
pub fn with_clause(backend: DatabaseBackend, tense: &Tense) -> Shadows {
    let end = instant(backend, tense.end());
    let d = day(backend, tense.day);
    let known = |col: &str| match tense.known_at {
        Some(k) => format!(" AND {col} <= {}", instant(backend, k)),
        None => String::new(),
    };
    // The live table inside its own shadow: SQLite would read the name as a circular
    // reference; PostgreSQL never lets a plain CTE see itself.
    let live = |t: &str| match backend {
        DatabaseBackend::Sqlite => format!("main.{t}"),
        _ => t.to_string(),
    };
    let inline = match backend {
        DatabaseBackend::Postgres => "NOT MATERIALIZED ",
        _ => "",
    };
    let mut ctes = Vec::new();
    // The version of each row standing at the end of the day (`v`), and for measures also the
    // latest version known (`k`), whose transition dates give the status.
    //
    // The pick is an anti-join ("no later version standing") rather than a window function:
    // PostgreSQL plans `ROW_NUMBER() … = 1` as a sort of the whole history table per
    // statement, which at 100,000 measures took longer than the request timeout; the
    // anti-join runs on the (id, valid_from) index.
    let versions = |t: &str, bounded: bool| {
        let valid = |a: &str| {
            if bounded {
                format!(" AND {a}.valid_from < {end}")
            } else {
                String::new()
            }
        };
        format!(
            "SELECT h.* FROM {t}_history h WHERE 1 = 1{}{} AND NOT EXISTS (SELECT 1 FROM \
             {t}_history n WHERE n.id = h.id{}{} AND (n.valid_from > h.valid_from OR \
             (n.valid_from = h.valid_from AND n.history_id > h.history_id)))",
            valid("h"),
            known("h.recorded_at"),
            valid("n"),
            known("n.recorded_at"),
        )
    };
    for t in TABLES {
        ctes.push(Cte {
            name: format!("remedy_{}_v", t.table),
            needs: vec![],
            sql: format!("remedy_{}_v AS ({})", t.table, versions(t.table, true)),
        });
        let columns = (t.columns)();
        let body = if t.table == "measure" {
            ctes.push(Cte {
                name: "remedy_measure_k".into(),
                needs: vec![],
                sql: format!("remedy_measure_k AS ({})", versions("measure", false)),
            });
            let list: Vec<String> = columns
                .iter()
                .map(|c| match c.as_str() {
                    "status" => format!(
                        "CASE WHEN k.completed_on IS NOT NULL AND k.completed_on <= {d} THEN \
                         (CASE WHEN k.status = 'VERIFIED' THEN 'VERIFIED' ELSE 'IMPLEMENTED' END) \
                         WHEN v.status IN ('DEFERRED', 'CANCELLED') THEN v.status \
                         WHEN k.started_on IS NOT NULL AND k.started_on <= {d} THEN 'IN_PROGRESS' \
                         WHEN k.completed_on IS NULL AND k.started_on IS NULL \
                         AND k.status = 'IN_PROGRESS' THEN 'IN_PROGRESS' \
                         ELSE 'PLANNED' END AS status"
                    ),
                    "started_on" | "completed_on" => {
                        format!("CASE WHEN k.{c} <= {d} THEN k.{c} END AS {c}")
                    }
                    c => format!("v.\"{c}\""),
                })
                .collect();
            format!(
                "SELECT {} FROM remedy_measure_v v JOIN remedy_measure_k k ON k.id = v.id",
                list.join(", ")
            )
        } else {
            let list: Vec<String> = columns.iter().map(|c| format!("v.\"{c}\"")).collect();
            format!("SELECT {} FROM remedy_{}_v v", list.join(", "), t.table)
        };
        let mut needs = vec![format!("remedy_{}_v", t.table)];
        if t.table == "measure" {
            needs.push("remedy_measure_k".into());
        }
        ctes.push(Cte {
            name: t.table.to_string(),
            needs,
            sql: format!("{} AS ({body})", t.table),
        });
        for l in t.links {
            let list: Vec<String> = (l.columns)().iter().map(|c| format!("l.\"{c}\"")).collect();
            ctes.push(Cte {
                name: l.table.to_string(),
                needs: vec![format!("remedy_{}_v", t.table)],
                sql: format!(
                    "{} AS (SELECT {} FROM {}_history l WHERE l.{}_history_id IN \
                     (SELECT history_id FROM remedy_{}_v))",
                    l.table,
                    list.join(", "),
                    l.table,
                    t.table,
                    t.table
                ),
            });
        }
    }
    // Append-only tables: what had happened by the end of the day, as known then.
    ctes.push(Cte {
        name: "evidence".into(),
        needs: vec![],
        sql: format!(
            "evidence AS {inline}(SELECT * FROM {} WHERE submitted_at < {end}{})",
            live("evidence"),
            known("created_at")
        ),
    });
    ctes.push(Cte {
        name: "occurrence".into(),
        needs: vec![],
        sql: format!(
            "occurrence AS {inline}(SELECT * FROM {} WHERE done_on <= {d}{})",
            live("occurrence"),
            known("created_at")
        ),
    });
    ctes.push(Cte {
        name: "evaluation".into(),
        needs: vec![],
        sql: format!(
            "evaluation AS {inline}(SELECT * FROM {} WHERE evaluated_at < {end}{})",
            live("evaluation"),
            known("created_at")
        ),
    });
    Shadows(ctes)
}

/// The statement behind the expressions it needs.
fn shadowed(with: &Shadows, mut stmt: Statement) -> Statement {
    if let Some(w) = with.for_sql(&stmt.sql) {
        stmt.sql = prefixed(&w, &stmt.sql);
    }
    stmt
}

/// Puts `with` in front of a statement: merged into its own `WITH` clause when it has one.
fn prefixed(with: &str, sql: &str) -> String {
    let trimmed = sql.trim_start();
    let head: String = trimmed
        .chars()
        .take(15)
        .collect::<String>()
        .to_ascii_uppercase();
    if head.starts_with("WITH RECURSIVE ") {
        format!("WITH RECURSIVE {with}, {}", &trimmed[15..])
    } else if head.starts_with("WITH ") {
        format!("WITH {with}, {}", &trimmed[5..])
    } else {
        format!("WITH {with} {trimmed}")
    }
}

fn read_only() -> DbErr {
    DbErr::Custom("remedy: a read as of a date cannot write".into())
}

/// Any connection (e.g. an open transaction) reading as of a [`Tense`]: what a write freezes
/// (a report's snapshot) is read exactly as a later read as of that tense reads it.
pub struct Within<'a, C> {
    conn: &'a C,
    with: Shadows,
}

pub fn within<C: ConnectionTrait>(conn: &C, tense: Tense) -> Within<'_, C> {
    Within {
        with: with_clause(conn.get_database_backend(), &tense),
        conn,
    }
}

#[async_trait::async_trait]
impl<C: ConnectionTrait + Sync> ConnectionTrait for Within<'_, C> {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.conn.get_database_backend()
    }

    async fn execute(&self, _stmt: Statement) -> Result<ExecResult, DbErr> {
        Err(read_only())
    }

    async fn execute_unprepared(&self, _sql: &str) -> Result<ExecResult, DbErr> {
        Err(read_only())
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.conn.query_one(shadowed(&self.with, stmt)).await
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.conn.query_all(shadowed(&self.with, stmt)).await
    }

    fn support_returning(&self) -> bool {
        self.conn.support_returning()
    }
}

/// Where reads go: the live tables, or (with a [`Tense`]) the plan as of a date, a
/// read-only connection that puts in front of every statement the expressions shadowing the
/// tables it names.
#[derive(Clone)]
pub struct Reader {
    db: DatabaseConnection,
    tense: Option<Tense>,
    with: Option<Arc<Shadows>>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("tense", &self.tense)
            .finish()
    }
}

impl Reader {
    pub fn new(db: &DatabaseConnection, tense: Option<Tense>) -> Self {
        let with = tense.map(|t| Arc::new(with_clause(db.get_database_backend(), &t)));
        Self {
            db: db.clone(),
            tense,
            with,
        }
    }

    pub fn tense(&self) -> Option<Tense> {
        self.tense
    }

    /// The live connection underneath (for writes such as the access trail).
    pub fn live(&self) -> &DatabaseConnection {
        &self.db
    }

    fn rewrite(&self, stmt: Statement) -> Statement {
        match &self.with {
            Some(w) => shadowed(w, stmt),
            None => stmt,
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Reader {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self.with {
            Some(_) => Err(read_only()),
            None => self.db.execute(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self.with {
            Some(_) => Err(read_only()),
            None => self.db.execute_unprepared(sql).await,
        }
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.db.query_one(self.rewrite(stmt)).await
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.db.query_all(self.rewrite(stmt)).await
    }

    fn support_returning(&self) -> bool {
        self.db.support_returning()
    }
}

/// ` AND …` conditions keeping the versions (`alias`) standing at `tense`; nothing for `None`.
fn standing(backend: DatabaseBackend, alias: &str, tense: Option<&Tense>) -> String {
    let mut out = String::new();
    if let Some(t) = tense {
        out.push_str(&format!(
            " AND {alias}.valid_from < {}",
            instant(backend, t.end())
        ));
        if let Some(k) = t.known_at {
            out.push_str(&format!(
                " AND {alias}.recorded_at <= {}",
                instant(backend, k)
            ));
        }
    }
    out
}

/// SQL for "the due date of row `id_expr` of `table` (`measure` or `report`) moved later at
/// least once" (some version's due date is after an earlier version's), counting the
/// versions standing at `tense` (every version when `None`): 1 or 0.
pub fn slipped_sql(
    backend: DatabaseBackend,
    table: &str,
    id_expr: &str,
    tense: Option<&Tense>,
) -> String {
    let bounds = ["a", "b"]
        .iter()
        .map(|alias| standing(backend, alias, tense))
        .collect::<String>();
    format!(
        "CASE WHEN EXISTS (SELECT 1 FROM {table}_history a JOIN {table}_history b \
         ON b.id = a.id AND (b.valid_from > a.valid_from OR (b.valid_from = a.valid_from \
         AND b.history_id > a.history_id)) WHERE a.id = {id_expr} AND b.due_on > a.due_on{bounds}) \
         THEN 1 ELSE 0 END"
    )
}

/// One move of a due date: from what to what, why, by whom, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DateChange {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub reason: Option<String>,
    pub by: String,
    /// The instant the change stands for (its recording, or its source's date if imported).
    pub at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// A row's due dates over its history: the first it had, and every move since.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DueHistory {
    pub original: Option<NaiveDate>,
    pub changes: Vec<DateChange>,
}

impl DueHistory {
    /// Moves to a later date (a slip), not counting a date first set or cleared.
    pub fn slips(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| matches!((c.from, c.to), (Some(f), Some(t)) if t > f))
            .count()
    }
}

#[derive(FromQueryResult)]
struct DueVersion {
    id: i64,
    due_on: Option<NaiveDate>,
    valid_from: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    recorded_by: String,
    audit_event_id: Option<i64>,
}

/// The due-date history of rows of `table` (`measure` or `report`) as it stood at `tense`
/// (everything known when `None`), each move with the reason its audit event gave. Reads the
/// history tables on `live` (never shadowed) in one statement per 5,000 rows.
pub async fn due_history(
    live: &DatabaseConnection,
    table: &str,
    ids: &[i64],
    tense: Option<&Tense>,
) -> AppResult<HashMap<i64, DueHistory>> {
    let backend = live.get_database_backend();
    let mut versions = Vec::new();
    for chunk in ids.chunks(5000) {
        let list = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT h.id, h.due_on, h.valid_from, h.recorded_at, h.recorded_by, h.audit_event_id \
             FROM {table}_history h WHERE h.id IN ({list}){} \
             ORDER BY h.id, h.valid_from, h.history_id",
            standing(backend, "h", tense)
        );
        versions.extend(
            DueVersion::find_by_statement(Statement::from_string(backend, sql))
                .all(live)
                .await?,
        );
    }
    let events: Vec<i64> = versions.iter().filter_map(|v| v.audit_event_id).collect();
    let reasons = reasons_of(live, &events).await?;
    let mut out: HashMap<i64, DueHistory> = HashMap::new();
    let mut last: HashMap<i64, Option<NaiveDate>> = HashMap::new();
    for v in versions {
        match last.insert(v.id, v.due_on) {
            None => {
                out.entry(v.id).or_default().original = v.due_on;
            }
            Some(prev) if prev != v.due_on => {
                out.entry(v.id).or_default().changes.push(DateChange {
                    from: prev,
                    to: v.due_on,
                    reason: v.audit_event_id.and_then(|e| reasons.get(&e).cloned()),
                    by: v.recorded_by,
                    at: v.valid_from,
                    recorded_at: v.recorded_at,
                });
            }
            Some(_) => {}
        }
    }
    Ok(out)
}

/// Who moved each measure to IMPLEMENTED in its current implementation cycle: the
/// `recorded_by` of its latest version whose status is IMPLEMENTED while the version before
/// it (in recording order) had another status or there was none. Measures never implemented
/// are absent.
///
/// The history, not the audit log, answers: a version is the row itself as its transaction
/// committed it, so every write that sets the status counts, whatever its action (a
/// transition, the demo's import of measures implemented before remedy knew them), where the
/// audit log says so only in the `_change` of "transition" events; and `history_id` is the
/// order the database learnt the versions in, whatever dates the transitions carry. A version
/// the history migration wrote for a row that existed before it names that migration, not a
/// person. Reads `measure_history` (never shadowed by a read as of a date) on `conn`, one
/// statement per 5,000 measures.
pub async fn implementers<C: ConnectionTrait>(
    conn: &C,
    ids: &[i64],
) -> AppResult<HashMap<i64, String>> {
    #[derive(FromQueryResult)]
    struct Entry {
        id: i64,
        recorded_by: String,
    }
    let backend = conn.get_database_backend();
    let mut out = HashMap::new();
    for chunk in ids.chunks(5000) {
        let list = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT e.id, e.recorded_by FROM (SELECT h.id, h.history_id, h.status, h.recorded_by, \
             LAG(h.status) OVER (PARTITION BY h.id ORDER BY h.history_id) AS before_status \
             FROM measure_history h WHERE h.id IN ({list})) e \
             WHERE e.status = 'IMPLEMENTED' \
             AND (e.before_status IS NULL OR e.before_status <> 'IMPLEMENTED') \
             ORDER BY e.id, e.history_id"
        );
        // The latest entry into IMPLEMENTED of each measure wins.
        for e in Entry::find_by_statement(Statement::from_string(backend, sql))
            .all(conn)
            .await?
        {
            out.insert(e.id, e.recorded_by);
        }
    }
    Ok(out)
}

/// The `reason` each audit event's change carries (`after._change.reason`).
async fn reasons_of(conn: &DatabaseConnection, events: &[i64]) -> AppResult<HashMap<i64, String>> {
    let mut out = HashMap::new();
    for chunk in events.chunks(5000) {
        let list = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!("SELECT id, after FROM audit_event WHERE id IN ({list})");
        #[derive(FromQueryResult)]
        struct Ev {
            id: i64,
            after: Option<String>,
        }
        for e in Ev::find_by_statement(Statement::from_string(conn.get_database_backend(), sql))
            .all(conn)
            .await?
        {
            let reason = e
                .after
                .and_then(|a| serde_json::from_str::<serde_json::Value>(&a).ok())
                .and_then(|v| {
                    let change = v.get("_change")?;
                    change
                        .get("dueChangeReason")
                        .or_else(|| change.get("reason"))
                        .and_then(|r| r.as_str().map(str::to_string))
                });
            if let Some(r) = reason {
                out.insert(e.id, r);
            }
        }
    }
    Ok(out)
}

/// One way the history disagrees with the audit log or the live tables, or a submitted
/// report its regeneration does not reproduce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discrepancy {
    /// What it concerns, e.g. `measure 12` or `report R-3`.
    pub subject: String,
    pub problem: String,
}

#[derive(FromQueryResult)]
struct EventRow {
    id: i64,
    entity: String,
    entity_id: String,
    after: Option<String>,
}

/// Rows of `table` (live, or versions with the history columns) as JSON objects keyed by
/// column, from one statement selecting `columns` plus `extra`.
async fn rows_as_json<C: ConnectionTrait>(
    conn: &C,
    table: &Table,
    from: &str,
    extra: &[&str],
) -> AppResult<Vec<(serde_json::Map<String, serde_json::Value>, Vec<Option<i64>>)>> {
    let columns = (table.columns)();
    let list: Vec<String> = columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .chain(extra.iter().map(|c| c.to_string()))
        .collect();
    let sql = format!("SELECT {} FROM {from}", list.join(", "));
    let rows = conn
        .query_all(Statement::from_string(conn.get_database_backend(), sql))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let json = row_json(table, &r)?;
        let mut ints = Vec::new();
        for e in extra {
            let name = e.rsplit(' ').next().unwrap_or(e);
            ints.push(r.try_get::<Option<i64>>("", name)?);
        }
        out.push((json, ints));
    }
    Ok(out)
}

/// A row of a versioned table as the audit log records it (the model's JSON).
fn row_json(
    table: &Table,
    r: &QueryResult,
) -> AppResult<serde_json::Map<String, serde_json::Value>> {
    fn obj<M: FromQueryResult + serde::Serialize>(
        r: &QueryResult,
    ) -> AppResult<serde_json::Map<String, serde_json::Value>> {
        let m = M::from_query_result(r, "")?;
        match serde_json::to_value(m) {
            Ok(serde_json::Value::Object(o)) => Ok(o),
            _ => Ok(serde_json::Map::new()),
        }
    }
    match table.table {
        "regulator" => obj::<regulator::Model>(r),
        "regulatory_order" => obj::<regulatory_order::Model>(r),
        "finding" => obj::<finding::Model>(r),
        "owner" => obj::<owner::Model>(r),
        "system" => obj::<system::Model>(r),
        "measure" => obj::<measure::Model>(r),
        "report" => obj::<report::Model>(r),
        "change_request" => obj::<change_request::Model>(r),
        other => Err(AppError::from(anyhow::anyhow!("no history for {other}"))),
    }
}

/// Replays the audit log against the history and the history against the live tables:
/// - every version an audit event recorded holds what that event says the row became;
/// - every audit event on a versioned row is covered by a version recorded with it or after
///   it (a write records one version per row, with the last event that named the row);
/// - every version names an event that exists, about that row (or recorded in the same
///   write, for a change made under another entity's event);
/// - the latest version of every live row is that row, links included;
/// - every submitted report, regenerated as of its date as known at its submission, gives
///   its frozen snapshot.
pub async fn verify(db: &DatabaseConnection) -> AppResult<Vec<Discrepancy>> {
    let backend = db.get_database_backend();
    let mut out = Vec::new();
    for t in TABLES {
        let subject = |id: &str| format!("{} {id}", t.table);
        // Versions with their events.
        let versions = rows_as_json(
            db,
            t,
            &format!("{}_history ORDER BY history_id", t.table),
            &["history_id", "audit_event_id"],
        )
        .await?;
        let events: Vec<i64> = versions.iter().filter_map(|(_, x)| x[1]).collect();
        let mut by_id: HashMap<i64, EventRow> = HashMap::new();
        for chunk in events.chunks(5000) {
            let list = chunk
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            for e in EventRow::find_by_statement(Statement::from_string(
                backend,
                format!(
                    "SELECT id, entity, entity_id, after FROM audit_event WHERE id IN ({list})"
                ),
            ))
            .all(db)
            .await?
            {
                by_id.insert(e.id, e);
            }
        }
        let mut latest: HashMap<String, (serde_json::Map<String, serde_json::Value>, i64)> =
            HashMap::new();
        for (row, x) in &versions {
            let id = row.get("id").map(|v| v.to_string()).unwrap_or_default();
            let history_id = x[0].unwrap_or_default();
            latest.insert(id.clone(), (row.clone(), history_id));
            let Some(event_id) = x[1] else { continue };
            let Some(e) = by_id.get(&event_id) else {
                out.push(Discrepancy {
                    subject: subject(&id),
                    problem: format!(
                        "version {history_id} names audit event {event_id}, which does not exist"
                    ),
                });
                continue;
            };
            if e.entity != t.entity || e.entity_id != id {
                if table_of(&e.entity).is_some() {
                    out.push(Discrepancy {
                        subject: subject(&id),
                        problem: format!(
                            "version {history_id} names audit event {event_id}, which is about {} {}",
                            e.entity, e.entity_id
                        ),
                    });
                }
                continue;
            }
            let after: serde_json::Value = e
                .after
                .as_deref()
                .and_then(|a| serde_json::from_str(a).ok())
                .unwrap_or(serde_json::Value::Null);
            // A column added after the event was recorded (e.g. `owner.account`) is absent
            // from its `after` and NULL in the versions of that time, or the value the
            // migration that added it gave every earlier row ([`ADDED_WITH_DEFAULT`]).
            let differs: Vec<&String> = row
                .iter()
                .filter(|(k, v)| match after.get(k.as_str()) {
                    Some(a) => a != *v,
                    None => {
                        let default = ADDED_WITH_DEFAULT
                            .iter()
                            .find(|(table, column, _)| *table == t.table && *column == k.as_str())
                            .map(|(_, _, d)| serde_json::Value::from(*d));
                        !(v.is_null() || default.as_ref() == Some(*v)) || after.is_null()
                    }
                })
                .map(|(k, _)| k)
                .collect();
            if !differs.is_empty() {
                out.push(Discrepancy {
                    subject: subject(&id),
                    problem: format!(
                        "version {history_id} differs from audit event {event_id} in {}",
                        differs
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        // Events not covered by a version recorded with them or later.
        #[derive(FromQueryResult)]
        struct Uncovered {
            id: i64,
            entity_id: String,
        }
        let sql = format!(
            "SELECT e.id, e.entity_id FROM audit_event e WHERE e.entity = '{}' AND NOT EXISTS \
             (SELECT 1 FROM {}_history h WHERE h.id = CAST(e.entity_id AS BIGINT) \
             AND (h.audit_event_id >= e.id OR (h.audit_event_id IS NULL AND h.recorded_at >= e.at))) \
             ORDER BY e.id",
            t.entity, t.table
        );
        for u in Uncovered::find_by_statement(Statement::from_string(backend, sql))
            .all(db)
            .await?
        {
            out.push(Discrepancy {
                subject: subject(&u.entity_id),
                problem: format!("audit event {} has no version in the history", u.id),
            });
        }
        // The live rows against their latest versions; the links of every row at once (two
        // statements per link table, however many rows).
        let mut links: Vec<(&Link, LinkSets, LinkSets)> = Vec::new();
        for l in t.links {
            let Some(other) = (l.columns)()
                .into_iter()
                .find(|c| c.ends_with("_id") && c != l.parent_key)
            else {
                continue;
            };
            let live_sql = format!(
                "SELECT {} AS p, {other} AS k FROM {} ORDER BY p, k",
                l.parent_key, l.table
            );
            let hist_sql = format!(
                "SELECT {t}_history_id AS p, {other} AS k FROM {l}_history WHERE {t}_history_id \
                 IN (SELECT MAX(history_id) FROM {t}_history GROUP BY id) ORDER BY p, k",
                t = t.table,
                l = l.table
            );
            links.push((
                l,
                link_sets(db, live_sql).await?,
                link_sets(db, hist_sql).await?,
            ));
        }
        let live = rows_as_json(db, t, &format!("{} ORDER BY id", t.table), &[]).await?;
        for (row, _) in live {
            let id = row.get("id").map(|v| v.to_string()).unwrap_or_default();
            match latest.get(&id) {
                None => out.push(Discrepancy {
                    subject: subject(&id),
                    problem: "the row has no version in the history".into(),
                }),
                Some((v, history_id)) if *v != row => out.push(Discrepancy {
                    subject: subject(&id),
                    problem: format!("the row differs from its latest version {history_id}"),
                }),
                Some((_, history_id)) => {
                    let row_id = row.get("id").and_then(serde_json::Value::as_i64);
                    for (l, live_sets, hist_sets) in &links {
                        let none = Vec::new();
                        let now = row_id.and_then(|r| live_sets.get(&r)).unwrap_or(&none);
                        let then = hist_sets.get(history_id).unwrap_or(&none);
                        if now != then {
                            out.push(Discrepancy {
                                subject: subject(&id),
                                problem: format!(
                                    "its {} differ from those of its latest version {history_id}",
                                    l.table
                                ),
                            });
                        }
                    }
                }
            }
        }
    }
    out.extend(verify_reports(db).await?);
    Ok(out)
}

/// Linked ids by parent (a row's id, or a version's history id), each list sorted.
type LinkSets = HashMap<i64, Vec<i64>>;

async fn link_sets(db: &DatabaseConnection, sql: String) -> AppResult<LinkSets> {
    let mut out = LinkSets::new();
    for r in db
        .query_all(Statement::from_string(db.get_database_backend(), sql))
        .await?
    {
        out.entry(r.try_get::<i64>("", "p")?)
            .or_default()
            .push(r.try_get::<i64>("", "k")?);
    }
    Ok(out)
}

#[derive(FromQueryResult)]
struct Submission {
    history_id: i64,
    code: String,
    submitted_on: Option<NaiveDate>,
    snapshot: Option<String>,
    recorded_at: DateTime<Utc>,
}

/// Every submitted report regenerated as of its date, as known at its submission.
async fn verify_reports(db: &DatabaseConnection) -> AppResult<Vec<Discrepancy>> {
    let backend = db.get_database_backend();
    // The first version of each report that carries a snapshot: its submission.
    let sql = "SELECT h.history_id, h.code, h.submitted_on, h.snapshot, h.recorded_at \
               FROM report_history h WHERE h.snapshot IS NOT NULL AND NOT EXISTS \
               (SELECT 1 FROM report_history p WHERE p.id = h.id AND p.snapshot IS NOT NULL \
               AND p.history_id < h.history_id) ORDER BY h.id";
    let mut out = Vec::new();
    for s in Submission::find_by_statement(Statement::from_string(backend, sql))
        .all(db)
        .await?
    {
        let (Some(on), Some(frozen)) = (s.submitted_on, s.snapshot) else {
            continue;
        };
        let tense = Tense {
            day: on,
            known_at: Some(s.recorded_at),
        };
        // The measures it linked when it was submitted.
        let linked: Vec<i64> = db
            .query_all(Statement::from_string(
                backend,
                format!(
                    "SELECT measure_id FROM report_measure_history WHERE report_history_id = {}",
                    s.history_id
                ),
            ))
            .await?
            .iter()
            .map(|r| r.try_get::<i64>("", "measure_id"))
            .collect::<Result<_, DbErr>>()?;
        let again =
            crate::service::plan::snapshot(&Reader::new(db, Some(tense)), linked, on).await?;
        if again != frozen {
            out.push(Discrepancy {
                subject: format!("report {}", s.code),
                problem: format!(
                    "regenerated as of {on} as known at {}, it differs from its frozen snapshot",
                    s.recorded_at.to_rfc3339()
                ),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_get_the_clause_in_front_or_merged() {
        assert_eq!(prefixed("a AS (x)", "SELECT 1"), "WITH a AS (x) SELECT 1");
        assert_eq!(
            prefixed("a AS (x)", "WITH b AS (y) SELECT 1"),
            "WITH a AS (x), b AS (y) SELECT 1"
        );
        assert_eq!(
            prefixed("a AS (x)", "with recursive b AS (y) SELECT 1"),
            "WITH RECURSIVE a AS (x), b AS (y) SELECT 1"
        );
    }

    #[test]
    fn a_statement_gets_the_expressions_it_names_and_what_they_read() {
        let t = Tense::on(NaiveDate::from_ymd_opt(2022, 11, 29).unwrap());
        let w = with_clause(DatabaseBackend::Postgres, &t);
        let got = w
            .for_sql(r#"SELECT "measure_finding"."measure_id" FROM "measure_finding""#)
            .unwrap();
        assert!(got.starts_with("remedy_measure_v AS"), "{got}");
        assert!(got.contains("measure_finding AS ("));
        assert!(!got.contains("remedy_measure_k"), "{got}");
        assert!(!got.contains("evidence AS"), "{got}");
        let got = w
            .for_sql(r#"SELECT 1 FROM "measure" JOIN evidence ON 1 = 1"#)
            .unwrap();
        assert!(got.contains("remedy_measure_k AS") && got.contains("evidence AS"));
        // Names inside other identifiers do not count.
        assert_eq!(w.for_sql("SELECT 1 FROM measure_history, api_token"), None);
        assert!(w.all().contains("report_measure AS"));
    }

    #[test]
    fn the_day_ends_at_midnight_utc() {
        let t = Tense::on(NaiveDate::from_ymd_opt(2022, 11, 29).unwrap());
        assert_eq!(t.end().to_rfc3339(), "2022-11-30T00:00:00+00:00");
    }
}
